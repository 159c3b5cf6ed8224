"""LandmarkWarp: the splines carry garment landmarks onto their body targets; stage protocol;
warp IoU on the dataset's paired cases (GT pose and parse, and the geometric chain's own)."""
from __future__ import annotations

import numpy as np
import pytest

from models.body import body_frame
from models.contract import BadInputError, WarpedGarments
from models.garment_photo import garment_mask
from models.geometric.garment import PART_BODY, garment_landmarks
from models.geometric.warp import (LandmarkWarp, _along_polyline, _sleeve_edges, backward_grid, correspondences,
                                   work_size)
from tests.models.geometric.shapes import KEYPOINTS, OUTLINE, TSHIRT, draw, person

def test_splines_move_landmarks_onto_targets():
    image, _ = draw(TSHIRT, OUTLINE)
    marks = garment_landmarks(garment_mask(image))
    body = body_frame(KEYPOINTS, (512, 384))
    parts = correspondences(marks, body)
    assert PART_BODY in parts and len(parts) == 3  # body + two sleeves
    for part, (person_xy, garment_xy) in parts.items():
        map_x, map_y = backward_grid(person_xy, garment_xy, 512, 384)
        for (px, py), (gx, gy) in zip(person_xy, garment_xy):
            ix, iy = int(round(px)), int(round(py))
            if 0 <= ix < 384 and 0 <= iy < 512:
                # the remap grid sends the body target back to the garment landmark (within the
                # pixel rounding of the target and the coarse-grid interpolation)
                assert abs(map_x[iy, ix] - gx) < 3 and abs(map_y[iy, ix] - gy) < 3, part


def test_sleeves_follow_the_arms():
    image, _ = draw(TSHIRT, OUTLINE)
    marks = garment_landmarks(garment_mask(image))
    body = body_frame(KEYPOINTS, (512, 384))
    for side, arm in (("left", 2), ("right", 5)):
        person_xy, _ = correspondences(marks, body)[{"left": 2, "right": 3}[side]]
        cuff = person_xy[-3:].mean(axis=0)  # last station: outer, inner, centre
        shoulder = KEYPOINTS[arm, :2] * 2
        elbow = KEYPOINTS[arm + 1, :2] * 2
        # a short sleeve ends on the upper arm: below the shoulder, above the elbow, near the bone
        assert shoulder[1] < cuff[1] < elbow[1] + 10
        t = np.clip((cuff - shoulder) @ (elbow - shoulder) / np.sum((elbow - shoulder) ** 2), 0, 1)
        assert np.linalg.norm(shoulder + t * (elbow - shoulder) - cuff) < 25


def test_along_polyline_extrapolates_the_last_segment():
    """Past the wrist a station lies on the forearm's extension (capped at 1.1× the forearm),
    not on the wrist itself: stacked stations with different garment points fold the spline."""
    arm = np.array([[100.0, 100.0], [100.0, 200.0], [130.0, 240.0]])   # upper arm 100, forearm 50
    point, direction = _along_polyline(arm, 120.0)
    np.testing.assert_allclose(point, [112, 216], atol=1e-6)
    np.testing.assert_allclose(direction, [0.6, 0.8], atol=1e-6)
    past, past_direction = _along_polyline(arm, 152.0)
    np.testing.assert_allclose(past, [131.2, 241.6], atol=1e-6)          # 2 px past the wrist
    np.testing.assert_allclose(past_direction, [0.6, 0.8], atol=1e-6)
    far, _ = _along_polyline(arm, 400.0)
    np.testing.assert_allclose(far, [133, 244], atol=1e-6)               # capped at 1.1 × 50


def test_sleeve_edges_are_the_real_outline():
    """Chord points (shoulder → cuff corner) lie inside a sleeve whose outer edge bulges out;
    the scan returns the mask's own edges on that line, and cuff corners on the outline (the
    chord's midpoint just off the sleeve) are scanned a little up the sleeve."""
    mask = np.zeros((200, 120), bool)
    for y in range(200):
        mask[y, 30:60 + int(20 * np.sin(np.pi * y / 200))] = True   # inner edge x=30, outer bulges to 80
    outer, inner = _sleeve_edges(mask, np.array([60.0, 100.0]), np.array([40.0, 100.0]), np.array([45.0, 0.0]))
    assert outer[0] == pytest.approx(79, abs=1) and inner[0] == pytest.approx(30, abs=1)
    assert outer[1] == inner[1] == 100
    cuff_outer, cuff_inner = _sleeve_edges(mask, np.array([60.0, 201.0]), np.array([30.0, 201.0]),
                                           np.array([45.0, 0.0]))
    assert 190 <= cuff_outer[1] < 200 and cuff_inner[0] == pytest.approx(30, abs=1)
    # a line that never meets the sleeve keeps the chord points
    a, b = _sleeve_edges(mask, np.array([115.0, 10.0]), np.array([100.0, 10.0]), np.array([110.0, 0.0]))
    np.testing.assert_allclose(a, [115, 10]) and np.testing.assert_allclose(b, [100, 10])


def test_sleeve_stations_never_stack(tryon_data):
    """No two sleeve stations stacked on one spot while their garment points are apart: that
    folds the spline. Every station past the wrist once fell on the wrist itself (pairs
    squeezed to 1/50 of the sleeve's typical scale on the long sleeves of 00006_00). Known and
    left: a cap sleeve's middle centre station comes within ~1/17 of it of the armpit target."""
    from tools.evaluate import load_garment, person_from_ground_truth
    from models.geometric.warp import analysed_garment

    garments = sorted(p.stem for p in (tryon_data / "garments").glob("*.jpg"))
    for person_name in ("00006_00", "003491_0"):
        gt_person = person_from_ground_truth(tryon_data, person_name)
        x0, y0, x1, y1 = gt_person.crop_box
        body = body_frame(gt_person.keypoints, work_size(y1 - y0, x1 - x0))
        for name in garments:
            garment, mask = load_garment(tryon_data, name)
            _, marks = analysed_garment(garment, mask, name)
            for part, (person_xy, garment_xy) in correspondences(marks, body).items():
                if part == PART_BODY:
                    continue
                pairs = np.triu_indices(len(person_xy), 1)
                on_person = np.linalg.norm(person_xy[:, None] - person_xy[None], axis=2)[pairs]
                on_garment = np.linalg.norm(garment_xy[:, None] - garment_xy[None], axis=2)[pairs]
                typical = np.median(on_person / np.maximum(on_garment, 1e-6))
                # no pair squeezed to 1/25 of the sleeve's typical scale (2 px slack)
                assert (on_person >= typical * on_garment / 25 - 2).all(), (person_name, name, part)


def test_stage_protocol_and_output():
    stage = LandmarkWarp.load()
    assert LandmarkWarp.available() and stage.info == {"impl": "landmark_warp", "weights": {}}
    image, truth = draw(TSHIRT, OUTLINE)
    out = stage.warp(person(), [image, image], [None, truth])
    assert isinstance(out, WarpedGarments)
    assert out.images.shape == (2, 512, 384, 3) and out.masks.shape == (2, 512, 384)
    assert out.images.dtype == np.float32 and 0 <= out.images.min() and out.images.max() <= 1
    assert 0 <= out.masks.min() and out.masks.max() <= 1
    covered = out.masks[0] > 0.5
    # the shirt covers the chest between the shoulders and not the face
    assert covered[200, 192] and not covered[60, 192]
    # its colour came along (drawn BGR (40, 60, 190) → RGB)
    assert np.allclose(out.images[0][200, 192], np.array([190, 60, 40]) / 255, atol=0.05)


def test_working_resolution_is_capped():
    assert work_size(2048, 1536) == (1024, 768)
    assert work_size(256, 192) == (256, 192)


def test_person_without_shoulders_is_refused():
    kp = KEYPOINTS.copy()
    kp[[2, 5], 2] = 0
    image, _ = draw(TSHIRT, OUTLINE)
    with pytest.raises(BadInputError, match="shoulders"):
        LandmarkWarp.load().warp(person(keypoints=kp), [image], [None])


# Measured 0.816 (00006_00) and 0.893 (003491_0) with GT persons (0.778 / 0.895 before the
# sleeve fixes of chain 0.2.0); thresholds a little below.
PAIRED_MIN_IOU = {("00006_00", "00006_00"): 0.79, ("003491_0", "003491_1"): 0.87}
# Through the geometric chain's own pose and parsing: measured 0.786 and 0.888 (0.676 / 0.872
# at chain 0.1.0). 00006_00 still misses the 0.80 target: BlazePose's shoulder span there is
# 1.2× the (hand-made) GT's, and the garment is scaled by it.
CHAIN_PAIRED_MIN_IOU = {("00006_00", "00006_00"): 0.76, ("003491_0", "003491_1"): 0.87}


@pytest.mark.parametrize("pair", list(PAIRED_MIN_IOU))
def test_paired_warp_iou(tryon_data, pair):
    from tools.evaluate import load_garment, person_from_ground_truth, warp_iou

    person_name, garment_name = pair
    gt_person = person_from_ground_truth(tryon_data, person_name)
    garment, mask = load_garment(tryon_data, garment_name)
    warped = LandmarkWarp.load().warp(gt_person, [garment], [mask])
    assert warp_iou(warped.masks[0], gt_person.parse) >= PAIRED_MIN_IOU[pair]


@pytest.mark.parametrize("pair", list(CHAIN_PAIRED_MIN_IOU))
def test_paired_warp_iou_through_the_geometric_chain(tryon_data, wheel_models, pair):
    from models import chain
    from tools.evaluate import load_garment, load_gt_parse, load_photo, warp_iou

    person_name, garment_name = pair
    options = chain.ChainOptions(mode="geometric")
    person = chain.prepare_person(load_photo(tryon_data, person_name), options, name=person_name)
    assert person.stages["pose"]["impl"] == "blazepose"
    garment, mask = load_garment(tryon_data, garment_name)
    warped = LandmarkWarp.load().warp(person, [garment], [mask])
    truth = load_gt_parse(tryon_data, person_name, person.photo.shape[:2])
    assert warp_iou(warped.masks[0], truth) >= CHAIN_PAIRED_MIN_IOU[pair]
