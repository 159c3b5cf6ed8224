"""PIL's BILINEAR resize (which antialiases when downscaling), emulated in numpy.

CP-VTON blurs the body silhouette with `PIL.Image.resize((w//16, h//16), BILINEAR)`; cv2's
INTER_LINEAR only blends the 2×2 nearest pixels and differs from it by up to 175 grey levels
on silhouettes. This ports PIL's `precompute_coeffs` as OpenCV's virtual_try_on.py
(`BilinearFilter`) does: triangle filter whose support is stretched by in/out, weights
normalised to 1, a horizontal then a vertical pass, each rounded to uint8 (PIL keeps an 8-bit
intermediate too).

Differences from the sample's BilinearFilter, both deliberate:
* NumPy ≥1.24 fix: the sample builds `np.array` over rows of different length (ragged at the
  borders), which raises ValueError on current numpy. Here each output pixel's taps go
  straight into a dense (out, in) weight matrix, so no ragged array exists.
* Each pass is one matrix product instead of a Python loop per pixel (float64 accumulation;
  the sample sums float32 products). Results agree with Pillow to ≤1 grey level.
"""
from __future__ import annotations

import functools

import numpy as np


@functools.lru_cache(maxsize=64)
def _weights(in_size: int, out_size: int) -> np.ndarray:
    """(out_size, in_size) float64 matrix of PIL's normalised bilinear taps."""
    scale = in_size / out_size
    filterscale = max(1.0, scale)   # upscaling keeps the plain 2-tap triangle
    support = 1.0 * filterscale     # bilinear filter support is 1, stretched when shrinking
    weights = np.zeros((out_size, in_size))
    for i in range(out_size):
        # +0.5 before int(): PIL's truncation-as-rounding of the window bounds.
        centre = (i + 0.5) * scale
        lo = max(int(centre - support + 0.5), 0)
        hi = min(int(centre + support + 0.5), in_size)
        t = (np.arange(lo, hi) - centre + 0.5) / filterscale
        taps = np.where(np.abs(t) < 1.0, 1.0 - np.abs(t), 0.0).astype(np.float32)  # PIL: float taps
        total = taps.sum()
        weights[i, lo:hi] = taps / total if total != 0 else taps
    return weights


def pil_bilinear_resize(img_u8: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a uint8 image (H,W) or (H,W,C) to size=(w, h) like PIL's Image.resize(BILINEAR)."""
    img = np.asarray(img_u8)
    if img.dtype != np.uint8:
        raise ValueError(f"expected uint8, got {img.dtype}")
    out_w, out_h = size
    h, w = img.shape[:2]
    horiz = _weights(w, out_w)
    vert = _weights(h, out_h)
    # Horizontal pass: contract the width axis; round to 8 bits like PIL's intermediate image.
    tmp = np.tensordot(img.astype(np.float64), horiz, axes=([1], [1]))  # (H, [C,] out_w)
    if img.ndim == 3:
        tmp = tmp.transpose(0, 2, 1)
    tmp = np.clip(np.round(tmp), 0, 255)
    out = np.tensordot(vert, tmp, axes=([1], [0]))                      # (out_h, out_w[, C])
    return np.clip(np.round(out), 0, 255).astype(np.uint8)
