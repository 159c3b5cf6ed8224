"""OpenPose COCO (CMU pose_iter_440000, Caffe) in OpenCV DNN → COCO-18 keypoints, exactly as
OpenCV's virtual_try_on.py (`get_pose_map`) reads them.

    input   blobFromImage(crop, 1/255, (192, 256)): BGR, no mean, bilinear resize to 192×256
    output  1×19×32×24 stride-8 heat-maps (18 keypoints + background, which is dropped)

Per keypoint: the global maximum of its map (cv2.minMaxLoc), placed at the cell's top-left
corner in the 192×256 grid (x = 192·px // 24, y = 256·py // 32 — always a multiple of 8, no
sub-pixel refinement), kept when conf > 0.1 and x > 0 and y > 0. Faithful on purpose: this is
what the GMM and TOM saw in the sample.

Use opencv_extra's `openpose_pose_coco.prototxt` (19 outputs). CMU's `pose_deploy_linevec.prototxt`
outputs 57 channels (heat-maps + PAFs) and is refused here instead of silently giving 56 "pose"
channels. OpenCV 5 removed the Caffe importer: this stage needs opencv-python 4.x.

Also here: reading OpenPose JSON (COCO-18 or BODY_25) into the grid, for --pose-json.
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from models.contract import REPR_H, REPR_W
from models.labels import COCO_KEYPOINTS
from models.onnx.batch import KnownFailure, forward_net, read_net
from models.weights import DeclaresWeights, MissingWeightsError, WeightFile, resolve

OPENPOSE_PROTOTXT = WeightFile(
    name="openpose_pose_coco.prototxt",
    known_hash=None,  # no published checksum for the prototxt (opencv_extra keeps it in git)
    url="https://raw.githubusercontent.com/opencv/opencv_extra/4.x/testdata/dnn/openpose_pose_coco.prototxt",
    note="opencv_extra testdata/dnn; 19-channel COCO heat-map network (no PAF outputs)",
)
OPENPOSE_CAFFEMODEL = WeightFile(
    name="openpose_pose_coco.caffemodel",
    known_hash="sha1:ac7e97da66f3ab8169af2e601384c144e23a95c1",  # opencv_extra download_models.py
    size=None,  # ≈200 MB, exact size not verified here
    url="http://posefs1.perception.cs.cmu.edu/OpenPose/models/pose/coco/pose_iter_440000.caffemodel",
    note="CMU OpenPose COCO pose_iter_440000; mirror: https://dl.opencv.org/models/openpose_pose_coco.caffemodel",
)

HEATMAP_CONF_THRESHOLD = 0.1
# BODY_25 index of each COCO-18 keypoint (BODY_25 inserts mid-hip at 8 and adds feet 19..24).
BODY25_TO_COCO18 = [0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18]
# OpenCV versions known not to read this stage's files (named in the error a user gets).
KNOWN_FAILURES = (
    KnownFailure((5, 0), None, markers=("Caffe importer has been removed",),
                 advice="OpenCV 5 removed the Caffe importer: the OpenPose COCO stage needs opencv-python-headless "
                        "4.x (requirements.txt pins <5), or give the pose as OpenPose JSON (CLI: --pose-json)."),
)


def keypoints_from_heatmaps(out: np.ndarray, height: int = REPR_H, width: int = REPR_W) -> np.ndarray:
    """(1, C, h, w) heat-maps → (C−1, 3) float32 (x, y, conf) in the width×height grid.

    The last channel (background) is dropped. A keypoint the sample would not draw
    (conf ≤ 0.1, x = 0 or y = 0) is returned as (0, 0, 0): confidence 0 means missing.
    """
    out = np.asarray(out, dtype=np.float32)
    _, channels, out_h, out_w = out.shape
    keypoints = np.zeros((channels - 1, 3), np.float32)
    for i in range(channels - 1):
        _, conf, _, (px, py) = cv2.minMaxLoc(out[0, i])
        x = width * px // out_w
        y = height * py // out_h
        if conf > HEATMAP_CONF_THRESHOLD and x > 0 and y > 0:
            keypoints[i] = (x, y, conf)
    return keypoints


class OpenPose(DeclaresWeights):
    """Pose stage of the seed chain."""

    chain = "seed"
    weights = (OPENPOSE_PROTOTXT, OPENPOSE_CAFFEMODEL)

    def __init__(self, net: cv2.dnn.Net, files: tuple = ()):
        self.net = net
        self.files = files  # named in the error if OpenCV cannot run the net

    @classmethod
    def load(cls, proto: str | None = None, model: str | None = None) -> "OpenPose":
        proto_path = resolve(OPENPOSE_PROTOTXT, proto)
        model_path = resolve(OPENPOSE_CAFFEMODEL, model)
        return cls(read_net(proto_path, model_path, known=KNOWN_FAILURES), (proto_path, model_path))

    @property
    def info(self) -> dict:
        return {"impl": "openpose", "weights": {w.name: w.known_hash for w in self.weights}}

    def keypoints(self, crop_bgr: np.ndarray) -> tuple[np.ndarray, dict]:
        """(18, 3) COCO-18 keypoints of the crop in the 192×256 grid (no extras)."""
        blob = cv2.dnn.blobFromImage(crop_bgr, 1.0 / 255, (REPR_W, REPR_H))  # BGR, no mean
        self.net.setInput(blob)
        out = forward_net(self.net, self.files, KNOWN_FAILURES)
        if out.shape[1] != COCO_KEYPOINTS + 1:
            # CMU's pose_deploy_linevec adds 38 PAF channels: the sample would silently make 56 "pose" maps
            raise MissingWeightsError(
                f"{' + '.join(map(str, self.files)) or 'OpenPose'}: the network gives {out.shape[1]} channels, "
                f"expected {COCO_KEYPOINTS + 1}: use opencv_extra's openpose_pose_coco.prototxt, not pose_deploy_linevec")
        return keypoints_from_heatmaps(out), {}


# --- OpenPose JSON --------------------------------------------------------------------------
def read_openpose_json(path: str | Path) -> np.ndarray:
    """(18, 3) COCO-18 (x, y, conf) in PHOTO pixels from an OpenPose JSON file (first person;
    `pose_keypoints_2d` or the older `pose_keypoints`; BODY_25 is converted). Raises ValueError
    with the reason if the file is not such a JSON."""
    try:
        person = json.loads(Path(path).read_text())["people"][0]
        flat = person.get("pose_keypoints_2d", person.get("pose_keypoints"))
        points = np.asarray(flat, np.float64).reshape(-1, 3)
    except (KeyError, IndexError, TypeError, ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"not an OpenPose JSON with one person's pose_keypoints ({type(exc).__name__}: {exc})")
    if len(points) == 25:
        points = points[BODY25_TO_COCO18]
    elif len(points) != COCO_KEYPOINTS:
        raise ValueError(f"{len(points)} keypoints (expected 18 COCO or 25 BODY_25)")
    return points.astype(np.float32)


def photo_keypoints_to_grid(points: np.ndarray, crop_box: tuple[int, int, int, int]) -> np.ndarray:
    """Photo-pixel keypoints → the crop's 192×256 grid; confidence ≤ 0 becomes (0, 0, 0)."""
    x0, y0, x1, y1 = crop_box
    out = np.asarray(points, np.float32).copy()
    out[:, 0] = (out[:, 0] - x0) * REPR_W / (x1 - x0)
    out[:, 1] = (out[:, 1] - y0) * REPR_H / (y1 - y0)
    out[out[:, 2] <= 0] = 0
    return out
