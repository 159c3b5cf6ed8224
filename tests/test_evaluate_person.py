"""The person metrics of models/evaluate.py: PCK@0.2·torso, body/head IoU, GT loading."""
from __future__ import annotations

import json

import numpy as np
import pytest

from models import evaluate as ev


def gt_pose() -> np.ndarray:
    gt = np.zeros((18, 3), np.float32)
    gt[1] = (96, 60, 0.9)                 # neck
    gt[8], gt[11] = (76, 160, 0.5), (116, 160, 0.5)   # hips: mid-hip (96,160), torso = 100
    gt[0] = (96, 30, 0.8)                 # nose
    gt[4] = (50, 150, 0.3)                # r-wrist
    return gt


def test_torso_is_neck_to_mid_hip():
    assert ev.torso_size(gt_pose()) == pytest.approx(100.0)
    no_neck = gt_pose()
    no_neck[1] = 0
    assert ev.torso_size(no_neck) is None
    assert ev.pose_pck(gt_pose(), no_neck) is None


def test_pck_threshold_confidence_and_missing_gt():
    gt = gt_pose()
    pred = gt.copy()
    pred[0, 0] += 19.9                    # within 0.2 · 100
    pred[4, 1] += 20.1                    # just outside
    pred[8, 2] = 0                        # right place, but reported missing
    pred[14] = (10, 10, 1)                # GT has no r-eye: does not count
    hits = ev.pck_hits(pred, gt)
    assert hits[0] == 1 and hits[4] == 0 and hits[8] == 0 and hits[1] == 1
    assert np.isnan(hits[14])
    assert ev.pose_pck(pred, gt) == pytest.approx(3 / 5)   # neck, l-hip, nose of 5 GT points


def test_iou_at_the_ground_truths_resolution():
    gt = np.zeros((8, 6), np.uint8)
    gt[2:6, 2:6] = 5                      # body 16 px
    gt[2:4, 2:4] = 13                     # head 4 px
    pred = np.zeros((4, 3), np.uint8)     # half resolution: nearest-neighbour upsampled
    pred[1:3, 1:3] = 5
    pred[1, 1] = 2                        # hair counts as head
    assert ev.body_iou(pred, gt) == pytest.approx(16 / 16)
    assert ev.head_iou(pred, gt) == pytest.approx(4 / 4)
    assert ev.body_iou(np.zeros_like(gt), gt) == 0.0
    assert ev.head_iou(pred, None) is None


def test_gt_keypoints_body25_and_coco18(tryon_data):
    # VITON-HD: BODY_25 at 768×1024 (the crop is the whole photo) → COCO-18 in 192×256
    kp = ev.load_gt_keypoints(tryon_data, "00891_00", (1024, 768))
    raw = np.asarray(json.loads((tryon_data / "pose_json" / "00891_00_keypoints.json").read_text())
                     ["people"][0]["pose_keypoints_2d"]).reshape(25, 3)
    np.testing.assert_allclose(kp[1, :2], raw[1, :2] / 4, rtol=1e-5)     # neck
    np.testing.assert_allclose(kp[8, :2], raw[9, :2] / 4, rtol=1e-5)     # r-hip is BODY_25 #9
    np.testing.assert_allclose(kp[17, :2], raw[18, :2] / 4, rtol=1e-5)   # l-ear is BODY_25 #18
    # VITON: COCO-18 at 192×256, older "pose_keypoints" key, used as is
    kp = ev.load_gt_keypoints(tryon_data, "000010_0", (256, 192))
    np.testing.assert_allclose(kp[0], (113, 41, 0.6832739), rtol=1e-5)
    assert (kp[3] == 0).all()             # missing stays (0, 0, 0)


def test_gt_parse_is_read_as_label_ids(tryon_data):
    labels = ev.load_gt_parse(tryon_data, "00891_00", (1024, 768))
    assert labels.shape == (1024, 768) and labels.dtype == np.uint8
    assert {0, 5, 13}.issubset(set(np.unique(labels)))
    assert labels.max() <= 20
