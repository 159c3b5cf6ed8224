"""BlazeFace short-range face detector (from the mediapipe wheel) in OpenCV DNN.

Used by the geometric parser to place the face (and so the chin line between face and neck).

Model I/O (probed):
  input          1×3×128×128 float RGB in [−1,1], letterboxed (MediaPipe's
                 face_detection_short_range graph converts to [−1,1]; on the sample photos
                 [0,1] input also finds the faces but with lower scores, 0.77–0.97 vs 0.85–0.98)
  regressors     1×896×16: per anchor (cx, cy, w, h, 6 × (x, y)) offsets in input pixels
  classificators 1×896×1:  score logits
Anchors: MediaPipe's SsdAnchorsCalculator with 4 layers, strides 8,16,16,16, one aspect
ratio plus the interpolated one (2 anchors per layer per cell), fixed anchor size: layers of
equal stride share a grid, so 16·16·2 + 8·8·6 = 896 anchors (centres only; size 1).
The 6 keypoints: right eye, left eye, nose tip, mouth centre, right ear, left ear (the
person's right, i.e. image left for a face towards the camera).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from models.weights import DeclaresWeights, WeightFile, resolve

FACE_DETECTION_SHORT_RANGE = WeightFile(
    name="face_detection_short_range.tflite",
    known_hash="sha256:bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8",
    size=229714,
    wheel_member="mediapipe/modules/face_detection/face_detection_short_range.tflite",
    note="BlazeFace short-range face detector (Apache-2.0), mediapipe 0.10.21 wheel",
)

INPUT_SIZE = 128
STRIDES = (8, 16, 16, 16)
MIN_SCORE = 0.5
NMS_IOU = 0.3


def ssd_anchor_centres(input_size: int = INPUT_SIZE, strides=STRIDES, anchors_per_layer: int = 2) -> np.ndarray:
    """(N, 2) anchor centres in [0,1], in MediaPipe's order: layers with the same stride are
    merged into one grid whose cells repeat their anchors (2 per layer) consecutively."""
    centres = []
    layer = 0
    while layer < len(strides):
        stride = strides[layer]
        repeats = 0
        while layer < len(strides) and strides[layer] == stride:
            repeats += anchors_per_layer
            layer += 1
        cells = int(np.ceil(input_size / stride))
        for y in range(cells):
            for x in range(cells):
                centres.extend([((x + 0.5) / cells, (y + 0.5) / cells)] * repeats)
    return np.array(centres, np.float32)


ANCHORS = ssd_anchor_centres()


@dataclass
class Face:
    """One detected face in image pixels: box (x0, y0, x1, y1), score, keypoints (6, 2)."""

    box: np.ndarray
    score: float
    keypoints: np.ndarray


class BlazeFace(DeclaresWeights):
    weights = (FACE_DETECTION_SHORT_RANGE,)

    def __init__(self, net: cv2.dnn.Net):
        self.net = net

    @classmethod
    def load(cls, face_detection: str | None = None) -> "BlazeFace":
        return cls(cv2.dnn.readNet(str(resolve(FACE_DETECTION_SHORT_RANGE, face_detection))))

    def detect(self, image_bgr: np.ndarray, min_score: float = MIN_SCORE) -> list[Face]:
        """Faces in a BGR image (letterboxed to 128×128), best first."""
        h, w = image_bgr.shape[:2]
        scale = INPUT_SIZE / max(h, w)
        pad_x, pad_y = (INPUT_SIZE - w * scale) / 2, (INPUT_SIZE - h * scale) / 2
        to_input = np.array([[scale, 0, pad_x], [0, scale, pad_y]])
        rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB).astype(np.float32)
        boxed = cv2.warpAffine(rgb, to_input, (INPUT_SIZE, INPUT_SIZE), flags=cv2.INTER_AREA,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        blob = (boxed / 127.5 - 1.0).transpose(2, 0, 1)[None]   # NCHW, RGB, [−1,1]
        self.net.setInput(blob)
        regressors, scores = self.net.forward(["regressors", "classificators"])
        scores = 1 / (1 + np.exp(-np.clip(scores[0, :, 0].astype(np.float64), -100, 100)))
        keep = np.where(scores >= min_score)[0]
        if len(keep) == 0:
            return []
        raw = regressors[0, keep].astype(np.float64)
        centres = ANCHORS[keep] * INPUT_SIZE
        cx, cy = raw[:, 0] + centres[:, 0], raw[:, 1] + centres[:, 1]
        boxes = np.stack([cx - raw[:, 2] / 2, cy - raw[:, 3] / 2, cx + raw[:, 2] / 2, cy + raw[:, 3] / 2], 1)
        points = raw[:, 4:16].reshape(-1, 6, 2) + centres[:, None, :]
        # Back from the 128×128 letterbox to image pixels.
        boxes = (boxes - [pad_x, pad_y, pad_x, pad_y]) / scale
        points = (points - [pad_x, pad_y]) / scale
        return _weighted_nms(boxes, scores[keep], points)


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    ix = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    iy = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = ix * iy
    area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # noqa: E731
    return inter / np.maximum(area(box) + area(boxes) - inter, 1e-9)


def _weighted_nms(boxes, scores, points) -> list[Face]:
    """MediaPipe's weighted NMS: overlapping detections are averaged, weighted by score."""
    order = np.argsort(-scores)
    boxes, scores, points = boxes[order], scores[order], points[order]
    faces, used = [], np.zeros(len(scores), bool)
    for i in range(len(scores)):
        if used[i]:
            continue
        group = (~used) & (_iou(boxes[i], boxes) >= NMS_IOU)
        used |= group
        wgt = scores[group][:, None]
        faces.append(Face(box=(boxes[group] * wgt).sum(0) / wgt.sum(),
                          score=float(scores[i]),
                          keypoints=(points[group] * wgt[:, :, None]).sum(0) / wgt.sum()))
    return faces
