"""Mask helpers shared by the stages: windows, components, holes, morphology on (h, w) masks.

Masks are bool arrays unless a function says otherwise (`largest_component` and `fill_holes`
also take uint8 0/255 masks and return the same kind).
"""
from __future__ import annotations

import cv2
import numpy as np


def mask_window(mask: np.ndarray, margin: int = 0) -> tuple[slice, slice] | None:
    """Rows and columns of `mask`'s True pixels, widened by `margin` and clipped to the image;
    None if it has none. (cv2.boundingRect: no index arrays of the whole image.)"""
    x, y, w, h = cv2.boundingRect(mask.astype(np.uint8))
    if w == 0:
        return None
    return (slice(max(0, y - margin), min(mask.shape[0], y + h + margin)),
            slice(max(0, x - margin), min(mask.shape[1], x + w + margin)))


def polygon_mask(shape: tuple[int, int], points) -> np.ndarray:
    """Bool mask of a filled polygon (points (x, y), rounded to pixels)."""
    out = np.zeros(shape, np.uint8)
    cv2.fillPoly(out, [np.round(np.asarray(points)).astype(np.int32)], 1)
    return out.astype(bool)


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 8-connected component of a uint8 0/255 mask, as 0/255 (the mask itself if it
    has none)."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if n <= 1:
        return mask
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return np.where(labels == biggest, 255, 0).astype(np.uint8)


def components_touching(mask: np.ndarray, seed: np.ndarray) -> np.ndarray:
    """The 8-connected components of `mask` that overlap `seed`."""
    n, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    if n <= 1:
        return np.zeros_like(mask, bool)
    hit = np.unique(labels[seed & mask])
    hit = hit[hit > 0]
    return np.isin(labels, hit)


def drop_small(mask: np.ndarray, min_area: float) -> np.ndarray:
    """`mask` without its 8-connected components smaller than `min_area` pixels."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    keep = np.zeros(n, bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= min_area
    return keep[labels]


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """Fill enclosed holes: background not 4-connected to the image border (eyes and mouth
    inside a face, a white logo inside a garment). Same kind as `mask` (bool or uint8 0/255)."""
    flood = np.pad((mask > 0).astype(np.uint8), 1)
    cv2.floodFill(flood, None, (0, 0), 1)
    holes = flood[1:-1, 1:-1] == 0
    if mask.dtype == bool:
        return mask | holes
    return np.where(holes, np.uint8(255), mask)


def _disc(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2)


def erode(mask: np.ndarray, radius: int) -> np.ndarray:
    """Erosion by a disc of `radius` pixels."""
    return cv2.erode(mask.astype(np.uint8), _disc(radius)) > 0


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Dilation by a disc of `radius` pixels."""
    return cv2.dilate(mask.astype(np.uint8), _disc(radius)) > 0


WIDE = 24   # px: from this radius on, a dilation by a disc is made by a distance transform


def dilate_wide(mask: np.ndarray, radius: int) -> np.ndarray:
    """Dilation by a disc of `radius` pixels, for radii where cv2.dilate is slow (its time grows
    with the disc's radius: 0.7 s at 127 px on a 1024-px crop): beyond WIDE, the pixels within
    radius + ½ of the mask by the Euclidean distance transform (about 20 ms at any radius) — a
    superset of `dilate`'s digital ellipse by at most one pixel along its outline. Bool out."""
    if radius <= WIDE:
        return dilate(mask, radius)
    outside = (np.asarray(mask) == 0).astype(np.uint8)
    return cv2.distanceTransform(outside, cv2.DIST_L2, cv2.DIST_MASK_PRECISE) <= radius + 0.5


def thin_part(region: np.ndarray, max_half_width: float) -> np.ndarray:
    """`region` without its parts thicker than 2·max_half_width: a morphological opening with a
    disc of that radius finds them (they are widened by a pixel so no seam is left). The opening
    is done with Euclidean distance transforms, in time linear in the pixels: cv2.morphologyEx
    with a disc that large took a quarter of a pair's time on 1024-px photos."""
    radius = int(round(max_half_width))
    if radius < 1 or not region.any():
        return region
    # Only around the region (an opening never leaves it); the margin keeps the border exact.
    pad = radius + 2
    rows, cols = mask_window(region, pad)
    (y0, y1), (x0, x1) = (rows.start, rows.stop), (cols.start, cols.stop)
    h, w = region.shape
    # Beyond the image's own edges the region continues (cv2.erode's default border); the other
    # sides get one row of background.
    top, bottom, left, right = (pad if y0 == 0 else 1, pad if y1 == h else 1,
                                pad if x0 == 0 else 1, pad if x1 == w else 1)
    window = cv2.copyMakeBorder(region[y0:y1, x0:x1].astype(np.uint8), top, bottom, left, right,
                                cv2.BORDER_CONSTANT, value=0)
    inside = (slice(top, top + y1 - y0), slice(left, left + x1 - x0))
    beyond = np.ones(window.shape, bool)
    beyond[inside] = False
    for edge, band in ((y0 == 0, np.s_[:top]), (y1 == h, np.s_[-bottom:]),
                       (x0 == 0, np.s_[:, :left]), (x1 == w, np.s_[:, -right:])):
        if edge:
            window[band] = 1
    # erosion: farther than `radius` from the outside; dilation back: within `radius` of that
    eroded = cv2.distanceTransform(window, cv2.DIST_L2, cv2.DIST_MASK_PRECISE) > radius
    eroded[beyond] = False
    thick = cv2.distanceTransform((~eroded).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE) <= radius
    thick = cv2.dilate(thick.astype(np.uint8), np.ones((3, 3), np.uint8))[inside] > 0
    out = region.copy()
    out[y0:y1, x0:x1] &= ~thick
    return out
