"""In-shop garment photos: the garment's mask, given or found by the garment matte.

Used by both chains (the seed warp warps this mask along with the garment; the geometric warp
takes the garment's landmarks from it) and by the research export (its cloth masks):

    mask = garment_mask(garment_bgr)                 # uint8 0/255, garment size (models.garment_matte)
    mask = garment_mask(garment_bgr, given_mask)     # the dataset's cloth mask, thresholded
    mask = garment_mask(garment_bgr, find_faces=…)   # also refuse a garment worn by a person
"""
from __future__ import annotations

import cv2
import numpy as np

from models.contract import BadInputError
from models.garment_matte import FaceFinder, GarmentMatte, garment_matte
from models.masks import fill_holes, largest_component

# A garment smaller than this fraction of the image is no garment (noise, a tag, an empty photo).
MIN_GARMENT_FRACTION = 0.03


def garment_photo_matte(garment_bgr: np.ndarray, given_mask: np.ndarray | None = None,
                        name: str = "garment", find_faces: FaceFinder | None = None) -> GarmentMatte:
    """The garment's matte (alpha, mask, confidence), image size.

    With `given_mask` (e.g. the dataset's JPEG cloth mask, any size) the mask is that,
    thresholded at 128 (confidence 1); otherwise the garment matte's (a backdrop model from the
    border, step edges and a minimum cut: white garments on white backdrops hold; scenes and
    non-garments are refused, and with `find_faces` a garment worn by a person too).
    BadInputError names the photo."""
    h, w = garment_bgr.shape[:2]
    if given_mask is not None:
        given = given_mask if given_mask.ndim == 2 else cv2.cvtColor(given_mask, cv2.COLOR_BGR2GRAY)
        if given.shape != (h, w):
            given = cv2.resize(given, (w, h), interpolation=cv2.INTER_LINEAR)
        mask = largest_component(fill_holes(np.where(given >= 128, 255, 0).astype(np.uint8)))
        matte = GarmentMatte(alpha=mask.astype(np.float32) / 255, mask=mask, confidence=1.0)
    else:
        matte = garment_matte(garment_bgr, name, find_faces)
    if cv2.countNonZero(matte.mask) < MIN_GARMENT_FRACTION * h * w:
        raise BadInputError(f"{name}: no garment found on the background")
    return matte


def garment_mask(garment_bgr: np.ndarray, given_mask: np.ndarray | None = None,
                 name: str = "garment", find_faces: FaceFinder | None = None) -> np.ndarray:
    """uint8 0/255 mask of the garment, same size as the image (`garment_photo_matte`'s)."""
    return garment_photo_matte(garment_bgr, given_mask, name, find_faces).mask
