"""BlazePose → COCO-18 (the geometric pose stage): mapping, ROI geometry, and
the accuracy on the sample dataset (PCK@0.2·torso, in-sample and leave-one-out)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from models.contract import BadInputError
from models.geometric import blazepose as bp
from models.weights import MissingWeightsError


def synthetic_landmarks(w=384, h=512) -> np.ndarray:
    """An upright person facing the camera (person's left = image right), all visible."""
    lm = np.zeros((39, 5), np.float32)
    lm[:, 3:5] = 0.99
    put = {bp.NOSE: (192, 60), bp.L_EYE: (200, 52), bp.R_EYE: (184, 52), bp.L_EAR: (210, 56), bp.R_EAR: (174, 56),
           bp.MOUTH_LEFT: (198, 74), bp.MOUTH_RIGHT: (186, 74),
           bp.L_SHOULDER: (242, 120), bp.R_SHOULDER: (142, 120), bp.L_ELBOW: (262, 200), bp.R_ELBOW: (122, 200),
           bp.L_WRIST: (270, 280), bp.R_WRIST: (114, 280), bp.L_HIP: (222, 320), bp.R_HIP: (162, 320),
           bp.L_KNEE: (224, 420), bp.R_KNEE: (160, 420), bp.L_ANKLE: (226, 500), bp.R_ANKLE: (158, 500),
           bp.HIP_CENTRE: (192, 320), bp.FULL_BODY_TOP: (192, 20)}
    for i, (x, y) in put.items():
        lm[i, :2] = (x, y)
    return lm


def test_mapping_indices_neck_and_grid_scale():
    lm = synthetic_landmarks()
    kp = bp.to_coco18(lm, (512, 384), offsets={})
    assert kp.shape == (18, 3) and kp.dtype == np.float32
    # 384×512 image → 192×256 grid: halve everything.
    np.testing.assert_allclose(kp[0, :2], (96, 30))                       # nose
    np.testing.assert_allclose(kp[2, :2], (71, 60))                       # COCO r-shoulder = BlazePose 12
    np.testing.assert_allclose(kp[5, :2], (121, 60))                      # COCO l-shoulder = BlazePose 11
    np.testing.assert_allclose(kp[1, :2], (96, 60))                       # neck = mid-shoulders
    np.testing.assert_allclose(kp[8, :2], (81, 160))                      # r-hip = BlazePose 24
    np.testing.assert_allclose(kp[14, :2], (92, 26))                      # r-eye = BlazePose 5
    np.testing.assert_allclose(kp[17, :2], (105, 28))                     # l-ear = BlazePose 7
    assert (kp[:, 2] > 0).all()


def test_confidence_zero_outside_image_or_not_visible():
    lm = synthetic_landmarks()
    lm[bp.L_ANKLE, 1] = 530          # below the 512-row image
    lm[bp.R_WRIST, 3] = 0.05         # the model says hidden
    kp = bp.to_coco18(lm, (512, 384), offsets={})
    assert kp[13, 2] == 0 and (kp[13, :2] == 0).all()
    assert kp[4, 2] == 0 and (kp[4, :2] == 0).all()
    assert kp[10, 2] > 0


def test_calibration_offsets_scale_and_rotate_with_the_torso():
    lm = synthetic_landmarks()
    torso = 200.0  # mid-shoulders (192,120) → mid-hips (192,320)
    offsets = {8: (-0.1, -0.2), 11: (0.1, -0.2)}   # hips: wider and higher, mirrored pair
    kp = bp.calibrate(bp.to_coco18_raw(lm), lm, offsets)
    np.testing.assert_allclose(kp[8], (162 - 0.1 * torso, 320 - 0.2 * torso))
    np.testing.assert_allclose(kp[11], (222 + 0.1 * torso, 320 - 0.2 * torso))
    # Rotate the person by 90° (lying, head to the image left): offsets rotate along.
    rot = lm.copy()
    rot[:, 0], rot[:, 1] = 600 - lm[:, 1], lm[:, 0]
    kp_rot = bp.calibrate(bp.to_coco18_raw(rot), rot, offsets)
    np.testing.assert_allclose(kp_rot[8], (600 - kp[8, 1], kp[8, 0]), atol=1e-6)


def test_roi_from_landmarks_and_transform():
    lm = synthetic_landmarks()
    centre, side, rotation = bp.roi_from_landmarks(lm)
    np.testing.assert_allclose(centre, (192, 320))
    assert side == pytest.approx(2 * 300 * bp.ROI_SCALE)
    assert rotation == pytest.approx(0.0, abs=1e-9)
    m = bp.roi_transform(centre, side, rotation)
    np.testing.assert_allclose(m @ [192, 320, 1], (128, 128))
    np.testing.assert_allclose(m @ [192, 320 - side / 2, 1], (128, 0), atol=1e-9)
    # A person tilted by 30°: the ROI turns so hips→top points straight up in the input.
    a = np.radians(30)
    lm[bp.FULL_BODY_TOP, :2] = (192 + 300 * np.sin(a), 320 - 300 * np.cos(a))
    c, s, r = bp.roi_from_landmarks(lm)
    top_in_input = bp.roi_transform(c, s, r) @ [*lm[bp.FULL_BODY_TOP, :2], 1]
    np.testing.assert_allclose(top_in_input[0], 128, atol=1e-6)
    assert top_in_input[1] < 128


def test_letterbox_transform_centres_the_image():
    m = bp.letterbox_transform(1024, 768)
    np.testing.assert_allclose(m @ [0, 0, 1], (32, 0))
    np.testing.assert_allclose(m @ [768, 1024, 1], (224, 256))


def test_missing_weights_name_the_file_and_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("TRYON_WEIGHTS_DIR", str(tmp_path))
    assert not bp.BlazePose.available()
    with pytest.raises(MissingWeightsError, match=r"pose_landmark_full\.tflite.*make models"):
        bp.BlazePose.load()


def test_model_outputs_match_the_documented_conventions(wheel_models):
    model = bp.BlazePose.load()
    names = set(model.net.getUnconnectedOutLayersNames())
    assert {"Identity", "Identity_1", "Identity_2"} <= names
    model.net.setInput(np.zeros((1, 3, 256, 256), np.float32))
    raw, flag, seg = model.net.forward(["Identity", "Identity_1", "Identity_2"])
    assert raw.shape == (1, 195) and flag.shape == (1, 1) and seg.shape == (1, 1, 256, 256)
    assert 0 <= flag.item() <= 1          # the pose flag is already a probability
    assert seg.min() < 0                  # segmentation is logits (sigmoid applied by us)


def test_no_person_raises_bad_input(wheel_models):
    blank = np.full((256, 192, 3), 200, np.uint8)
    with pytest.raises(BadInputError, match="no person"):
        bp.BlazePose.load().keypoints(blank)


def test_keypoints_hand_the_pass_on_in_their_extras(wheel_models, tryon_data):
    photo = cv2.imread(str(tryon_data / "persons" / "000174_0.jpg"))
    keypoints, extras = bp.BlazePose.load().keypoints(photo)
    result = extras[bp.POSE_EXTRA]
    assert isinstance(result, bp.PoseResult) and result.segmentation.shape == photo.shape[:2]
    np.testing.assert_array_equal(keypoints, bp.to_coco18(result.landmarks, photo.shape[:2]))


def test_pck_on_the_dataset_in_sample(wheel_models, tryon_data):
    """The stage as shipped (offsets fitted on these same photos): measured 0.950."""
    from models.crop import centre_crop_box
    from tools.evaluate import case_names, load_gt_keypoints, pose_pck

    model = bp.BlazePose.load()
    scores = []
    for name in case_names(tryon_data):
        photo = cv2.imread(str(tryon_data / "persons" / f"{name}.jpg"))
        x0, y0, x1, y1 = centre_crop_box(*photo.shape[:2])
        kp, _ = model.keypoints(photo[y0:y1, x0:x1])
        assert kp.shape == (18, 3)
        visible = kp[:, 2] > 0
        assert (kp[visible, 0] < 192).all() and (kp[visible, 1] < 256).all() and (kp[visible, :2] >= 0).all()
        scores.append(pose_pck(kp, load_gt_keypoints(tryon_data, name, photo.shape[:2])))
    assert len(scores) == 14
    assert np.mean(scores) >= 0.93


def test_pck_leave_one_out(wheel_models, tryon_data):
    """The honest figure: each photo scored with offsets fitted on the 13 others. Measured 0.950;
    LOO shoulder error 0.0267 torso (0.0297 without the shoulder offset)."""
    from tools import pose_calibration as pc

    samples = pc.collect(tryon_data)
    kinds = [k for k in pc.KINDS if any(i in bp.CALIBRATION for i in pc.KINDS[k])]
    loo = pc.leave_one_out(samples, kinds)
    assert np.mean(loo) >= 0.93
    # the shoulders (which scale every garment in the warp) are closer to OpenPose's held out
    with_offset = pc.loo_error(samples, kinds, "shoulder")
    without = pc.loo_error(samples, [k for k in kinds if k != "shoulder"], "shoulder")
    assert with_offset <= 0.028 and with_offset < without
    # and the shipped offsets are the fit on all photos
    fitted = pc.fit(samples, kinds)
    for k, (a, d) in fitted.items():
        assert bp.CALIBRATION[k] == pytest.approx((a, d), abs=0.002)


def test_large_photo_gives_the_same_keypoints(wheel_models, tryon_data):
    """Photos above MAX_ANALYSIS_SIDE are analysed reduced; keypoints stay in place."""
    photo = cv2.imread(str(tryon_data / "persons" / "07445_00.jpg"))   # 768×1024, 3:4
    model = bp.BlazePose.load()
    small, _ = model.keypoints(photo)
    large_photo = cv2.resize(photo, (1536, 2048), interpolation=cv2.INTER_CUBIC)
    large, extras = model.keypoints(large_photo)
    both = (small[:, 2] > 0) & (large[:, 2] > 0)
    assert both.sum() >= 12
    assert np.abs(small[both, :2] - large[both, :2]).max() < 3.0   # grid pixels (192×256)
    assert extras[bp.POSE_EXTRA].segmentation.shape[0] <= bp.MAX_ANALYSIS_SIDE


def test_heatmap_refinement_moves_to_the_weighted_peak_when_confident():
    heatmaps = np.full((2, 64, 64), -20.0, np.float32)        # logits: sigmoid ≈ 0 everywhere
    heatmaps[0, 30, 20] = 10.0                                  # landmark 0: one confident cell
    heatmaps[0, 30, 21] = 10.0                                  # … and its right neighbour
    heatmaps[1, 10, 10] = -0.5                                  # landmark 1: peak below 0.5
    xy = np.array([[85.0, 118.0], [41.0, 41.0]])                # cells (21, 29) and (10, 10)
    out = bp.refine_from_heatmaps(xy, heatmaps)
    np.testing.assert_allclose(out[0], (20.5 * 4, 30 * 4), atol=1e-3)   # MediaPipe: cell index · 4
    np.testing.assert_allclose(out[1], xy[1])                           # not confident: unchanged
    far = bp.refine_from_heatmaps(np.array([[300.0, 10.0], [-5.0, 3.0]]), heatmaps)
    np.testing.assert_allclose(far, [[300.0, 10.0], [-5.0, 3.0]])       # outside the ROI: unchanged
