"""MediaPipe selfie segmentation (general model, from the mediapipe wheel) in OpenCV DNN.

One of the two person mattes the geometric parser averages (the other is BlazePose's own
segmentation output).

Model I/O (probed):
  input          1×3×256×256 float RGB in [0,1]; the whole image squashed to 256×256
                 (on the sample photos squashing scored body IoU 0.01 higher than letterboxing)
  activation_10  1×1×256×256 person probability (already through a sigmoid: values in [0,1])
"""
from __future__ import annotations

import cv2
import numpy as np

from models.weights import DeclaresWeights, WeightFile, resolve

SELFIE_SEGMENTATION = WeightFile(
    name="selfie_segmentation.tflite",
    known_hash="sha256:9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c",
    size=249505,
    wheel_member="mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite",
    note="MediaPipe selfie segmentation (general, 256×256; Apache-2.0), mediapipe 0.10.21 wheel",
)

INPUT_SIZE = 256


class SelfieSegmentation(DeclaresWeights):
    weights = (SELFIE_SEGMENTATION,)

    def __init__(self, net: cv2.dnn.Net):
        self.net = net

    @classmethod
    def load(cls, selfie_segmentation: str | None = None) -> "SelfieSegmentation":
        return cls(cv2.dnn.readNet(str(resolve(SELFIE_SEGMENTATION, selfie_segmentation))))

    def matte(self, image_bgr: np.ndarray, size_hw: tuple[int, int] | None = None) -> np.ndarray:
        """Person probability (float32 in [0,1]) at `size_hw` (default: the image's size)."""
        h, w = size_hw or image_bgr.shape[:2]
        blob = cv2.dnn.blobFromImage(image_bgr, 1 / 255.0, (INPUT_SIZE, INPUT_SIZE), swapRB=True)
        self.net.setInput(blob)
        probability = self.net.forward()[0, 0]
        return cv2.resize(probability, (w, h), interpolation=cv2.INTER_LINEAR)
