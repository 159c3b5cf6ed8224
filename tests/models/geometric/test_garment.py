"""Garment mask (models.garment_photo) and landmarks: a drawn T-shirt whose points are known,
and the dataset's garments."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from models.contract import BadInputError
from models.garment_photo import garment_mask
from models.geometric.garment import PART_BODY, PART_LEFT_SLEEVE, PART_RIGHT_SLEEVE, garment_landmarks
from tests.models.geometric.shapes import BACKGROUND, OUTLINE, TSHIRT, draw

def iou(a, b):
    return np.logical_and(a, b).sum() / np.logical_or(a, b).sum()


def test_mask_from_light_background_matches_drawn_shirt():
    image, truth = draw(TSHIRT, OUTLINE)
    mask = garment_mask(image)
    assert mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 255}
    assert iou(mask > 0, truth > 0) > 0.97


def test_given_mask_is_thresholded_at_128_and_resized():
    image, truth = draw(TSHIRT, OUTLINE)
    soft = (truth // 2 + 1)  # 128 inside, 1 outside
    mask = garment_mask(image, cv2.resize(soft, (150, 200), interpolation=cv2.INTER_NEAREST))
    assert mask.shape == truth.shape
    assert iou(mask > 0, truth > 0) > 0.95


def test_white_print_inside_the_garment_is_kept():
    image, truth = draw(TSHIRT, OUTLINE)
    cv2.circle(image, (150, 200), 30, BACKGROUND, -1)  # a logo the colour of the background
    assert iou(garment_mask(image) > 0, truth > 0) > 0.97


def test_empty_photo_is_refused():
    with pytest.raises(BadInputError, match="no garment found"):
        garment_mask(np.full((400, 300, 3), BACKGROUND, np.uint8), name="garments/empty.jpg")


def test_tshirt_landmarks_recovered():
    image, truth = draw(TSHIRT, OUTLINE)
    marks = garment_landmarks(garment_mask(image))
    tol = 10
    for name in ("armpit_left", "armpit_right", "hem_left", "hem_right", "neck_left", "neck_right"):
        assert np.linalg.norm(getattr(marks, name) - TSHIRT[name]) < tol, name
    for name in ("shoulder_left", "shoulder_right"):
        assert np.linalg.norm(getattr(marks, name) - TSHIRT[name]) < 2 * tol, name
    assert marks.sleeve_kind == "short"
    for side in ("left", "right"):
        sleeve = marks.sleeves[side]
        cuff = (np.array(TSHIRT[f"sleeve_{side}_outer"]) + TSHIRT[f"sleeve_{side}_inner"]) / 2
        assert np.linalg.norm(sleeve.end_centre - cuff) < 2 * tol, side
        # the outer corner is the one on the shoulder's side (higher on a drawn T-shirt)
        assert sleeve.end_outer[1] < sleeve.end_inner[1]
    # parts: sleeves beyond the armpits, body between them
    # (points inside the drawn sleeves: (40, 130) lies on the outline, which the matte follows exactly)
    assert marks.parts[128, 45] == PART_LEFT_SLEEVE and marks.parts[128, 255] == PART_RIGHT_SLEEVE
    assert marks.parts[250, 150] == PART_BODY


def test_tank_top_has_no_sleeves():
    tank = {"a": (110, 40), "b": (130, 40), "c": (150, 80), "d": (170, 40), "e": (190, 40),
            "f": (212, 130), "g": (214, 340), "h": (86, 340), "i": (88, 130)}
    image, _ = draw(tank, list(tank))
    marks = garment_landmarks(garment_mask(image))
    assert marks.sleeve_kind == "none" and not marks.sleeves
    assert abs(marks.armpit_left[1] - 130) < 20 and abs(marks.armpit_right[1] - 130) < 20


def test_dataset_garments(tryon_data):
    kinds = {}
    for path in sorted((tryon_data / "garments").glob("*.jpg")):
        image = cv2.imread(str(path))
        given = cv2.imread(str(tryon_data / "cloth_mask" / path.name), cv2.IMREAD_GRAYSCALE)
        for mask in (garment_mask(image), garment_mask(image, given)):
            marks = garment_landmarks(mask)
            h = image.shape[0]
            # upright garment: neck above armpits above hem
            assert marks.neck_left[1] < marks.armpit_left[1] < marks.hem_left[1], path.name
            assert marks.hem_right[1] > 0.6 * h, path.name
        kinds[path.stem] = marks.sleeve_kind
    assert kinds["00006_00"] == "long"
    assert kinds["003491_1"] == "short"
    assert kinds["002447_1"] == "none"  # sleeveless keyhole top


def test_long_sleeves_lying_against_the_body():
    """Sleeves touching the body all the way down and hanging past the hem (no gap to find
    the armpit by): still long sleeves, the body between them."""
    shirt = {"nl": (130, 40), "nc": (150, 55), "nr": (170, 40), "sr": (205, 48), "or": (235, 120),
             "cr": (240, 380), "ir": (205, 380), "hr": (205, 330), "hl": (95, 330), "il": (95, 380),
             "cl": (60, 380), "ol": (65, 120), "sl": (95, 48)}
    image, _ = draw(shirt, list(shirt))
    marks = garment_landmarks(garment_mask(image))
    assert marks.sleeve_kind == "long" and set(marks.sleeves) == {"left", "right"}
    assert abs(marks.armpit_left[0] - 95) < 8 and abs(marks.armpit_right[0] - 205) < 8
    assert marks.parts[360, 75] == PART_LEFT_SLEEVE and marks.parts[360, 222] == PART_RIGHT_SLEEVE
    assert marks.parts[250, 150] == PART_BODY
