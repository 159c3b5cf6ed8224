"""Paste a try-on back into the customer's photo (not in the OpenCV sample, which only shows the
256×192 result: a batch renderer has to return the customer's photo)."""
from __future__ import annotations

import cv2
import numpy as np


def paste_back(photo_bgr: np.ndarray, crop_box: tuple[int, int, int, int], tryon_rgb01: np.ndarray) -> np.ndarray:
    """Photo-size BGR uint8 copy of `photo_bgr` with `tryon_rgb01` (h,w,3 RGB float in [0,1],
    any size, normally 256×192 or the working crop's own size) resized into `crop_box` =
    (x0, y0, x1, y1).

    The box may reach past the photo's edges (a person-centred crop padded from the photo's own
    border, models/framing.py): only its part inside the photo is pasted; the padding is dropped.
    Upscaling (256×192 → e.g. 1024×768) uses INTER_CUBIC: sharper than bilinear and, unlike
    LANCZOS4, cheap; its overshoot is removed by the clip to [0,1]. Downscaling uses INTER_AREA.
    The edge of the box is a hard seam: the TOM output is a whole new crop, not a masked region.
    """
    x0, y0, x1, y1 = map(int, crop_box)
    box_w, box_h = x1 - x0, y1 - y0
    ph, pw = photo_bgr.shape[:2]
    out = photo_bgr.copy()
    # the part of the box inside the photo
    ix0, iy0, ix1, iy1 = max(x0, 0), max(y0, 0), min(x1, pw), min(y1, ph)
    if ix1 <= ix0 or iy1 <= iy0:
        return out
    h, w = tryon_rgb01.shape[:2]
    tryon = np.asarray(tryon_rgb01, np.float32)
    if (h, w) != (box_h, box_w):
        interp = cv2.INTER_CUBIC if box_w * box_h > w * h else cv2.INTER_AREA
        tryon = cv2.resize(tryon, (box_w, box_h), interpolation=interp)
    # in place on one temporary (the same values as clip(rint(x·255)); fewer full-size allocations)
    patch = np.multiply(tryon[iy0 - y0:iy1 - y0, ix0 - x0:ix1 - x0], np.float32(255.0))
    np.rint(patch, out=patch)
    patch = np.clip(patch, 0, 255, out=patch).astype(np.uint8)
    out[iy0:iy1, ix0:ix1] = cv2.cvtColor(patch, cv2.COLOR_RGB2BGR)
    return out
