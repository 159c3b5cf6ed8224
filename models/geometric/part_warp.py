"""What both garment warps share (`warp.py` for tops and dresses, `lower.py` for trousers and
skirts): how a worn garment relates to its flat photo, a part laid on the person, and the
remap maps sampled on a coarse grid."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# A flat garment shows half its girth; worn, its frontal width is less (it wraps round the
# body's depth). Its shoulder points (the body's side lines at the armholes) are scaled to the
# person's shoulder joints (FLAT_SHOULDER_HALF), which puts a fitted body about at the
# person's width: the frontal width is taken as 0.9 of the flat one (a wrapped ellipse would
# say 0.78, the shoulder convention 1.0; the paired cases do not tell them apart).
FLAT_TO_FRONT = 0.9
MAX_LOOSENESS = 1.4     # a loose garment stands off the body by at most 40 % of its width
MAX_MAGNIFICATION = 1.25  # a size of the garment photo is used while the person's pixels are at most this much larger


def grid_maps(window: tuple[int, int, int, int], step: int, fn, shaped: bool = False):
    """cv2.remap maps of a window (x0, y0, x1, y1) from `fn(xy (M,2)) → garment (M,2)` (or (M,3):
    x, y and a weight for the part's alpha) evaluated every `step` px (at the coarse cells'
    centres) and resized: (map_x, map_y, weight or None). `shaped`: fn also takes the grid's
    (rows, columns)."""
    x0, y0, x1, y1 = window
    w, h = x1 - x0, y1 - y0
    gw, gh = max(2, -(-w // step)), max(2, -(-h // step))
    xs = x0 + (np.arange(gw) + 0.5) * w / gw - 0.5
    ys = y0 + (np.arange(gh) + 0.5) * h / gh - 0.5
    gx, gy = np.meshgrid(xs, ys)
    xy = np.stack([gx.ravel(), gy.ravel()], 1)
    g = fn(xy, (gh, gw)) if shaped else fn(xy)
    g = g.reshape(gh, gw, g.shape[1]).astype(np.float32)
    dense = cv2.resize(g, (w, h), interpolation=cv2.INTER_LINEAR)
    return dense[..., 0], dense[..., 1], (dense[..., 2] if g.shape[2] > 2 else None)


@dataclass
class WarpedPart:
    """One garment part on the person: colour (not premultiplied) and alpha over `window`,
    uint8 (0-255) as remapped from the garment photo, or float32 in [0, 1]."""

    part: int
    window: tuple[int, int, int, int]   # x0, y0, x1, y1
    rgb: np.ndarray     # (h, w, 3)
    alpha: np.ndarray   # (h, w)

    def float_rgb(self) -> np.ndarray:
        return self.rgb if self.rgb.dtype == np.float32 else np.multiply(self.rgb, 1 / 255, dtype=np.float32)

    def float_alpha(self) -> np.ndarray:
        return self.alpha if self.alpha.dtype == np.float32 else np.multiply(self.alpha, 1 / 255, dtype=np.float32)
