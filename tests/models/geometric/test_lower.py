"""Lower garments and dresses in the geometric chain (models/geometric/lower.py, the per-category
layers in layers.py, the dress's free skirt in warp.py) on drawn garments and a drawn full-body
person: the garment's waistband, crotch and legs; the old trousers removed, the top's hem,
arms and shoes in front; the garment laid on the hips and legs, not on the head."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from models.contract import BadInputError
from models.geometric.compositor import GeometricCompositor
from models.geometric.layers import CATEGORY_REPLACES, build_layers
from models.geometric.lower import lower_shape
from models.geometric.warp import LandmarkWarp
from scripts.demo_inputs import dress, garment, trousers
from tests.models.geometric.shapes import PANTS_RGB, TOP_RGB, drawn_full_body

HW = (512, 384)


def labels_at(person, *labels) -> np.ndarray:
    return np.isin(cv2.resize(person.parse, (HW[1], HW[0]), interpolation=cv2.INTER_NEAREST), labels)


def mask_of(image: np.ndarray) -> np.ndarray:
    return np.where(image.min(axis=2) < 245, 255, 0).astype(np.uint8)


def test_trousers_have_a_waistband_a_crotch_and_two_legs():
    image = trousers()
    shape = lower_shape(mask_of(image), "trousers", image)
    # drawn at row 200; found where the gap opens to GAP_MIN_PX clear pixels (anti-aliased edges)
    assert 195 <= shape.crotch_y <= 260
    assert shape.waist_half == pytest.approx(70, abs=3)          # 122 → 262
    assert shape.top_y == pytest.approx(30, abs=2) and shape.bottom_y == pytest.approx(486, abs=2)
    row = 400
    left, _ = shape.leg("left", row)
    right, _ = shape.leg("right", row)
    assert left < shape.axis_x < right and shape.confidence == 1.0
    assert shape.gap is not None and shape.gap[row, int(shape.axis_x)]   # the backdrop between the legs


def test_the_backdrop_between_the_legs_is_a_gap_even_where_the_matte_filled_it():
    image = trousers()
    filled = mask_of(image)
    filled[200:486, 170:215] = 255           # a matte that took the gap for a hole in a print
    assert lower_shape(filled, "trousers").crotch_y is None         # the mask alone: one piece
    assert 195 <= lower_shape(filled, "trousers", image).crotch_y <= 260


def test_a_skirt_is_one_piece_and_a_top_given_as_lower_is_doubted():
    skirt = np.full((512, 384, 3), 255, np.uint8)
    cv2.fillPoly(skirt, [np.array([(130, 40), (254, 40), (320, 400), (64, 400)], np.int32)], (40, 40, 160))
    shape = lower_shape(mask_of(skirt), "skirt", skirt)
    assert shape.crotch_y is None and shape.confidence == 1.0
    tee = garment("solid")
    doubted = lower_shape(mask_of(tee), "tee", tee)
    assert doubted.confidence < 0.7 and doubted.notes


def test_no_garment_is_refused_with_its_name():
    with pytest.raises(BadInputError, match="empty: no lower garment found"):
        lower_shape(np.zeros((100, 80), np.uint8), "empty")


def test_lower_layers_remove_the_trousers_and_keep_the_top_arms_and_shoes_in_front():
    p = drawn_full_body()
    layers = build_layers(p, "lower", HW)
    pants = labels_at(p, 9)
    inside = cv2.erode(pants.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    blue = np.array(PANTS_RGB) / 255
    assert np.linalg.norm(layers.base[inside] - blue, axis=1).min() > 0.25        # no trouser blue left
    top = cv2.erode(labels_at(p, 5).astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    assert np.linalg.norm(np.median(layers.base[top], axis=0) - np.array(TOP_RGB) / 255) < 0.1   # the top stays
    assert layers.front[top].min() > 0.9                                           # ... in front (its hem)
    shoes = cv2.erode(labels_at(p, 18, 19).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    assert layers.front[shoes].mean() > 0.9 and layers.front[shoes].min() > 0.8
    arms = cv2.erode(labels_at(p, 14, 15).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    assert layers.arms_front[arms].mean() > 0.9
    assert set(layers.legs.lines) == {"left", "right"} and layers.legs.crotch_seen


def test_dress_layers_remove_the_top_and_the_trousers():
    p = drawn_full_body()
    layers = build_layers(p, "dress", HW)
    for label, colour in ((5, TOP_RGB), (9, PANTS_RGB)):
        region = cv2.erode(labels_at(p, label).astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
        assert np.linalg.norm(layers.base[region] - np.array(colour) / 255, axis=1).min() > 0.25, label
    top = cv2.erode(labels_at(p, 5).astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    assert layers.front[top].max() < 0.1
    assert set(CATEGORY_REPLACES) == {"upper", "lower", "dress"}


def _render(person, garment_bgr, category):
    warped = LandmarkWarp().warp(person, [garment_bgr], category=category)
    image = GeometricCompositor().render(person, warped, category=category)[0]
    return warped, image


@pytest.mark.parametrize("hips", [0.8, 1.25])   # narrow or wide hips alike: nothing reads the person's sex
def test_trousers_are_laid_on_the_hips_and_legs(hips):
    p = drawn_full_body(hips=hips)
    warped, image = _render(p, trousers(), "lower")
    footprint = warped.masks[0] > 0.5
    pants = labels_at(p, 9)
    covered = (footprint & pants).sum() / pants.sum()      # the old (skinny) trousers are covered ...
    assert covered > 0.8, covered
    below_top = footprint & ~labels_at(p, 5)
    rows = np.nonzero(below_top.any(axis=1))[0]             # ... from the top's hem to the shoes
    assert rows.min() <= p.keypoints[8, 1] * HW[0] / 256 and rows.max() >= p.keypoints[10, 1] * HW[0] / 256
    assert not footprint[labels_at(p, 13, 2, 10)].any()                    # never on the head or neck
    assert warped.measures[0]["landmark_confidence"] == 1.0
    assert "outside_zone" in warped.measures[0] and warped.measures[0]["outside_zone"] < 0.01
    assert image.shape == (*HW, 3)


def test_a_dress_covers_the_torso_and_hangs_below_the_hips():
    p = drawn_full_body()
    warped, _ = _render(p, dress(), "dress")
    footprint = warped.masks[0] > 0.5
    torso = labels_at(p, 5)
    assert (footprint & torso).sum() > 0.8 * torso.sum()
    fit_rows = np.nonzero(footprint.any(axis=1))[0]
    hip_row = p.keypoints[8, 1] * HW[0] / 256
    assert fit_rows.max() > hip_row + 0.3 * (hip_row - p.keypoints[1, 1] * HW[0] / 256)   # a skirt, not a top
    # this drawn dress's long straps rise beside the head (the top's placement of straps): the
    # QA verdict must say so rather than pass it
    from models.qa import verdict
    if footprint[labels_at(p, 13, 2)].any():
        assert any("cannot be worn" in r for r in verdict(warped.measures[0]).reasons)


# --- invented legs: where a shorter garment uncovers what the trousers hid -----------------------
def _leg_rows(p, side_index):
    """Rows of the drawn person's shin (knee → ankle, margins off) and the column range of one leg."""
    knee, ankle = p.keypoints[9 + 3 * side_index, 1] * HW[0] / 256, p.keypoints[10 + 3 * side_index, 1] * HW[0] / 256
    rows = np.arange(int(knee) + 6, int(ankle) - 6)
    cols = np.s_[:HW[1] // 2] if side_index == 0 else np.s_[HW[1] // 2:]
    return rows, cols


def test_invented_legs_have_smooth_tapered_outlines():
    """The legs drawn under removed trousers: their outline moves smoothly row by row (no
    stair steps or scallops: sub-pixel, anti-aliased) and they taper thigh → knee → ankle."""
    from models.geometric.layers import leg_limbs, limbs_alpha
    p = drawn_full_body()
    layers = build_layers(p, "dress", HW)
    alpha, _ = limbs_alpha(leg_limbs(layers.legs), HW)
    assert 0 < ((alpha > 0.02) & (alpha < 0.98)).sum() and set(np.unique(alpha)) - {0.0, 1.0}   # anti-aliased
    for side in (0, 1):
        rows, cols = _leg_rows(p, side)
        a = alpha[rows][:, cols]
        width = a.sum(axis=1)                              # sub-pixel width per row
        left = np.argmax(a > 0, axis=1) + (1 - a[np.arange(len(rows)), np.argmax(a > 0, axis=1)])
        assert np.abs(np.diff(width, 2)).max() < 0.3, np.abs(np.diff(width, 2)).max()
        assert np.abs(np.diff(left, 2)).max() < 0.6, np.abs(np.diff(left, 2)).max()
        # thigh wider than the knee, the calf (a third down the shin) wider than the ankle
        hip, knee = p.keypoints[8 + 3 * side, 1] * HW[0] / 256, p.keypoints[9 + 3 * side, 1] * HW[0] / 256
        w_at = lambda y: alpha[int(y)][cols].sum()        # noqa: E731
        ankle = p.keypoints[10 + 3 * side, 1] * HW[0] / 256
        assert w_at(hip + 0.3 * (knee - hip)) > w_at(knee) > w_at(ankle - 2)
        assert w_at(knee + 0.3 * (ankle - knee)) > w_at(ankle - 2) + 2


def test_invented_legs_are_textured_and_round_not_flat():
    """The skin drawn where the trousers were varies along the leg (texture) and is darker at
    the leg's sides than in its middle (a cylinder in the photo's light)."""
    from models.geometric.layers import leg_limbs, limbs_alpha
    p = drawn_full_body()
    layers = build_layers(p, "dress", HW)
    alpha, u = limbs_alpha(leg_limbs(layers.legs), HW)
    lum = layers.base @ np.array([0.299, 0.587, 0.114], np.float32)
    for side in (0, 1):
        rows, cols = _leg_rows(p, side)
        mask = np.zeros(HW, bool)
        mask[rows, cols] = True
        mask &= alpha > 0.99
        middle, sides = mask & (u < 0.3), mask & (u > 0.7)
        assert lum[middle].mean() > lum[sides].mean() + 0.02
        centre_line = lum[mask & (u < 0.15)]
        assert centre_line.std() > 0.005                    # not one flat colour along the leg


def test_invented_legs_showing_are_measured_for_dresses_and_flagged_when_most_of_the_legs():
    from models.qa import verdict
    p = drawn_full_body()
    warped, _ = _render(p, dress(), "dress")
    shown = warped.measures[0]["invented_legs"]
    assert 0.0 < shown < 1.0                                # the skirt covers the thighs, not the shins
    # the trousers hid the whole legs: left uncovered, most of the legs the customer sees are
    # drawn, and the verdict says so
    layers = build_layers(p, "dress", HW)
    assert layers.legs_area > 0 and layers.legs_invented.sum() > 0.5 * layers.legs_area
    v = verdict({"invented_legs": layers.legs_invented.sum() / layers.legs_area})
    assert v.status == "needs_review" and "legs synthesised" in v.reasons[0]
    # tops never get the measure (their layers have no legs)
    assert build_layers(p, "upper", HW).legs_invented is None


def test_shoes_are_in_front_of_a_long_hem_only_below_the_ankles():
    """Above the ankle a long garment covers the shoe (a boot's shaft, an old cuff the parse
    calls shoe); past the ankle along the shin, the foot shows."""
    from models.geometric.layers import LegFit, below_ankles

    lines = {"left": np.array([[40, 100], [42, 200], [44, 300], [44, 320]], np.float32),
             "right": np.array([[80, 100], [90, 200], [100, 300], [102, 320]], np.float32)}
    legs = LegFit(lines=lines, half={k: np.full(4, 8.0) for k in lines})
    past = below_ankles(legs, (360, 140))
    assert past[310, 44] and past[310, 102] and past[350, 20]      # under each ankle, and the toes
    assert not past[290, 44] and not past[290, 99] and not past[150, 60]  # the shins and above
