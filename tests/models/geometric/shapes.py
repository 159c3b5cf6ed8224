"""Drawn test inputs the geometric tests share: a T-shirt whose landmarks are known and a person
standing straight (not a test module: no tests here)."""
from __future__ import annotations

import cv2
import numpy as np

from models.contract import Person

BACKGROUND = (244, 244, 246)
# A short-sleeved T-shirt in a 300×400 photo (x, y), viewer's left first.
TSHIRT = {
    "neck_left": (125, 40), "neck_centre": (150, 62), "neck_right": (175, 40),
    "shoulder_right": (215, 52), "sleeve_right_outer": (272, 118), "sleeve_right_inner": (248, 140),
    "armpit_right": (212, 112), "hem_right": (214, 340), "hem_left": (86, 340),
    "armpit_left": (88, 112), "sleeve_left_inner": (52, 140), "sleeve_left_outer": (28, 118),
    "shoulder_left": (85, 52),
}
OUTLINE = ["neck_left", "neck_centre", "neck_right", "shoulder_right", "sleeve_right_outer",
           "sleeve_right_inner", "armpit_right", "hem_right", "hem_left", "armpit_left",
           "sleeve_left_inner", "sleeve_left_outer", "shoulder_left"]


def draw(points: dict, outline: list[str], colour=(40, 60, 190), size=(400, 300)) -> tuple[np.ndarray, np.ndarray]:
    image = np.full((*size, 3), BACKGROUND, np.uint8)
    truth = np.zeros(size, np.uint8)
    poly = np.array([points[k] for k in outline], np.int32)
    cv2.fillPoly(image, [poly], colour)
    cv2.fillPoly(truth, [poly], 255)
    return image, truth


# A person standing straight in the 192×256 grid, arms down and a little out.
KEYPOINTS = np.zeros((18, 3), np.float32)
for _i, (_x, _y) in {0: (96, 40), 1: (96, 70), 2: (66, 72), 3: (58, 115), 4: (54, 155), 5: (126, 72),
                     6: (134, 115), 7: (138, 155), 8: (78, 160), 11: (114, 160)}.items():
    KEYPOINTS[_i] = (_x, _y, 1)


def person(h=512, w=384, keypoints=KEYPOINTS) -> Person:
    return Person(photo=np.full((h, w, 3), 200, np.uint8), crop_box=(0, 0, w, h),
                  keypoints=keypoints.copy(), parse=np.zeros((256, 192), np.uint8))
