"""Bilinear sampling of images at a normalised grid (the sample's `_bilinear_sampler`)."""
from __future__ import annotations

import numpy as np


def bilinear_sample(img: np.ndarray, grid: np.ndarray, scale_offset: int = 2) -> np.ndarray:
    """Sample img (N,C,H,W) at grid (N,H',W',2) of (x, y) in [−1,1] → (N,C,H',W') float32.

    u = 0.5(x+1)·(W − scale_offset), v = 0.5(y+1)·(H − scale_offset). The four weights use the
    UNCLIPPED coordinates; the corner indices are then clipped to the image, which acts like
    border padding (weights of a corner outside the image land on the edge pixel).

    scale_offset=2 copies OpenCV's virtual_try_on.py, whose identity grid maps output pixel
    (H−1, W−1) to source (H−2, W−2) (it rescales with `max_x − 1` = W−2). scale_offset=1 is
    CP-VTON's grid_sample (align_corners=True, padding 'border'): identity is exact.
    """
    img = np.asarray(img, dtype=np.float32)
    grid = np.asarray(grid)
    n, c, h, w = img.shape
    if grid.ndim != 4 or grid.shape[0] != n or grid.shape[3] != 2:
        raise ValueError(f"grid shape {grid.shape} does not fit images {img.shape}")
    x = 0.5 * (grid[..., 0].astype(np.float64) + 1.0) * (w - scale_offset)
    y = 0.5 * (grid[..., 1].astype(np.float64) + 1.0) * (h - scale_offset)
    x0 = np.floor(x).astype(np.int64)
    y0 = np.floor(y).astype(np.int64)
    x1, y1 = x0 + 1, y0 + 1
    wa = (x1 - x) * (y1 - y)
    wb = (x1 - x) * (y - y0)
    wc = (x - x0) * (y1 - y)
    wd = (x - x0) * (y - y0)
    x0, x1 = np.clip(x0, 0, w - 1), np.clip(x1, 0, w - 1)
    y0, y1 = np.clip(y0, 0, h - 1), np.clip(y1, 0, h - 1)

    batch = np.arange(n)[:, None, None]
    flat = img.transpose(0, 2, 3, 1)  # (N,H,W,C): gather pixels, then back to channels-first

    def corner(yy, xx):
        return flat[batch, yy, xx]     # (N,H',W',C)

    out = (wa[..., None] * corner(y0, x0) + wb[..., None] * corner(y1, x0)
           + wc[..., None] * corner(y0, x1) + wd[..., None] * corner(y1, x1))
    return out.transpose(0, 3, 1, 2).astype(np.float32)
