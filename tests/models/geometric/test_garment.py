"""Garment mask (models.garment_photo) and landmarks: a drawn T-shirt whose points are known,
and the dataset's garments."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from models.contract import BadInputError
from models.garment_photo import garment_mask
from models.geometric.garment import (PART_BACK, PART_BODY, PART_LEFT_SLEEVE, PART_RIGHT_SLEEVE, analyse_garment,
                                      garment_landmarks)
from tests.models.geometric.shapes import BACKGROUND, OUTLINE, TSHIRT, draw, drawn_shirt

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


def test_sleeve_edges_are_traced_on_the_outline():
    """A sleeve's outer edge runs from the shoulder point to the outer cuff corner, its inner
    edge from the armpit to the inner cuff corner, both on the drawn sleeve's outline."""
    image, _ = draw(TSHIRT, OUTLINE)
    marks = garment_landmarks(garment_mask(image))
    for side in ("left", "right"):
        sleeve = marks.sleeves[side]
        np.testing.assert_allclose(sleeve.outer[0], TSHIRT[f"shoulder_{side}"], atol=10)
        np.testing.assert_allclose(sleeve.outer[-1], TSHIRT[f"sleeve_{side}_outer"], atol=12)
        np.testing.assert_allclose(sleeve.inner[1], TSHIRT[f"armpit_{side}"], atol=10)
        np.testing.assert_allclose(sleeve.inner[-1], TSHIRT[f"sleeve_{side}_inner"], atol=12)


def test_body_profile_is_the_body_without_sleeves():
    """The profile's half-widths below the armpits are the body's own (the drawn shirt's sides
    at x = 86 and 214 about the axis at 150)."""
    image, _ = draw(TSHIRT, OUTLINE)
    marks = garment_landmarks(garment_mask(image))
    assert abs(marks.axis_x - 150) <= 2
    left, right = marks.half_widths(np.array([200.0, 300.0]))
    np.testing.assert_allclose(left, 64, atol=4) and np.testing.assert_allclose(right, 64, atol=4)


def test_inside_of_the_back_is_found_where_the_photo_shows_it():
    """A shirt whose neck opening shows a darker inside of the back above a U-shaped front
    neckline: that region becomes PART_BACK; the same shirt without it has none."""
    image, truth = draw(TSHIRT, OUTLINE)
    plain = garment_landmarks(truth, image=image)
    assert not (plain.parts == PART_BACK).any()
    shirt = image.copy()
    # fill the neck opening (the drawn outline's V between the collar corners) as the inside of
    # the back: a darker shade of the shirt, up to a flat back collar at y = 40
    opening = np.array([(125, 40), (150, 62), (175, 40)], np.int32)
    cv2.fillPoly(shirt, [opening], (15, 20, 60))
    mask = truth.copy()
    cv2.fillPoly(mask, [opening], 255)
    marks = garment_landmarks(mask, image=shirt)
    back = marks.parts == PART_BACK
    assert back.any()
    assert back[45, 150] and not back[100, 150]


def test_one_sided_drape_mirrors_the_armpit_and_lowers_the_confidence():
    """A tie hanging from one side hides that side's armpit: it is put level with the other,
    and the confidence says the outline was not fully understood."""
    image, _ = draw(TSHIRT, OUTLINE)
    cv2.rectangle(image, (214, 150), (250, 330), (40, 60, 190), -1)   # a wide tie down the right side
    marks = garment_landmarks(garment_mask(image))
    assert abs(marks.armpit_right[1] - marks.armpit_left[1]) < 20
    assert marks.confidence < 1 and marks.notes


def test_shapes_that_are_no_garment_are_refused():
    for shape in ((400, 40), (40, 400)):     # a bar: far too wide or too tall for a garment
        image = np.full((600, 600, 3), BACKGROUND, np.uint8)
        cv2.rectangle(image, (100, 100), (100 + shape[0], 100 + shape[1]), (30, 30, 30), -1)
        with pytest.raises(BadInputError, match="not an upright garment"):
            analyse_garment(image, None, "garments/bar.jpg")


def test_the_analysis_carries_the_mattes_confidence():
    """A dark shirt on white is sure; a near-white one on white less so (the QA reads it); a
    given cloth mask is taken as sure."""
    dark = analyse_garment(drawn_shirt(colour=(40, 60, 190)), None, "dark.jpg").confidence
    white = analyse_garment(drawn_shirt(colour=(238, 238, 240)), None, "white.jpg").confidence
    assert dark > 0.9 and white < dark
    image = drawn_shirt(colour=(238, 238, 240))
    assert analyse_garment(image, garment_mask(drawn_shirt(colour=(40, 60, 190))), "given.jpg").confidence == 1.0


def test_analysis_colour_has_no_background_fringe():
    """The analysis' colour just inside the outline is the garment's, not a mix with the
    light background (what a soft edge would otherwise show as a halo)."""
    image, truth = draw(TSHIRT, OUTLINE, colour=(40, 60, 190))
    image = cv2.GaussianBlur(image, (0, 0), 1.5)     # a photo's soft edge: background mixed in
    a = analyse_garment(image, truth)
    edge = (truth > 0) & (cv2.erode(truth, np.ones((3, 3), np.uint8)) == 0)
    rgb = a.rgb[edge]
    assert np.abs(rgb - np.array([190, 60, 40]) / 255).max(axis=1).mean() < 0.12
    assert 0 < a.alpha[edge].mean() < 1


def test_sleeveless_strappy_and_hanging_shapes_never_crash(tryon_data):
    """Every dataset garment analyses (the sleeveless dress once allocated 24 GiB)."""
    for path in sorted((tryon_data / "garments").glob("*.jpg")):
        image = cv2.imread(str(path))
        a = analyse_garment(image, None, path.name)
        assert a.marks.parts.shape == image.shape[:2] and 0 <= a.marks.confidence <= 1
