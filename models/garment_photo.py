"""In-shop garment photos: the garment's mask, given or found on the light background.

Used by both chains (the seed warp warps this mask along with the garment; the geometric warp
takes the garment's landmarks from it). In-shop photos (VITON / VITON-HD style) show one
upright garment, front view, on a plain light background:

    mask = garment_mask(garment_bgr)                 # uint8 0/255, garment size
    mask = garment_mask(garment_bgr, given_mask)     # the dataset's cloth mask, thresholded
"""
from __future__ import annotations

import cv2
import numpy as np

from models.contract import BadInputError
from models.masks import fill_holes, largest_component

# Background ≠ garment where a pixel differs from the estimated background colour by more than
# this (max over B,G,R) — in-shop backgrounds are flat within a few levels, JPEG noise included.
BACKGROUND_TOLERANCE = 18
# A garment smaller than this fraction of the image is no garment (noise, a tag, an empty photo).
MIN_GARMENT_FRACTION = 0.03



def garment_mask(garment_bgr: np.ndarray, given_mask: np.ndarray | None = None,
                 name: str = "garment") -> np.ndarray:
    """uint8 0/255 mask of the garment, same size as the image.

    With `given_mask` (e.g. the dataset's JPEG cloth mask, any size) it is thresholded at 128;
    otherwise the garment is what differs from the light background (colour estimated on the
    image border), closed, hole-filled and reduced to its largest component.
    """
    h, w = garment_bgr.shape[:2]
    if given_mask is not None:
        given = given_mask if given_mask.ndim == 2 else cv2.cvtColor(given_mask, cv2.COLOR_BGR2GRAY)
        if given.shape != (h, w):
            given = cv2.resize(given, (w, h), interpolation=cv2.INTER_LINEAR)
        mask = np.where(given >= 128, 255, 0).astype(np.uint8)
    else:
        mask = _foreground_from_background(garment_bgr)
    mask = largest_component(fill_holes(mask))
    if cv2.countNonZero(mask) < MIN_GARMENT_FRACTION * h * w:
        raise BadInputError(f"{name}: no garment found on the background")
    return mask


def _foreground_from_background(image_bgr: np.ndarray) -> np.ndarray:
    h, w = image_bgr.shape[:2]
    border = max(2, min(h, w) // 64)
    edge = np.concatenate([image_bgr[:border].reshape(-1, 3), image_bgr[-border:].reshape(-1, 3),
                           image_bgr[:, :border].reshape(-1, 3), image_bgr[:, -border:].reshape(-1, 3)])
    background = np.median(edge, axis=0)
    # Blur first so JPEG ringing and fabric texture do not speckle the threshold.
    smooth = cv2.GaussianBlur(image_bgr, (0, 0), max(1.0, min(h, w) / 400))
    diff = np.abs(smooth.astype(np.int16) - background.astype(np.int16)).max(axis=2)
    mask = np.where(diff > BACKGROUND_TOLERANCE, 255, 0).astype(np.uint8)
    # Closing bridges thin light seams (white prints, lace) that touch the garment's outline.
    k = max(3, (min(h, w) // 100) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel)
    return cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel)
