"""LIP JPPNet (TF frozen graph lip_jppnet_384.pb) in OpenCV DNN → 20-class LIP label map,
as OpenCV's human_parsing.py (used by virtual_try_on.py) runs it.

    input   blobFromImages([crop, mirrored crop], 1.0, mean=(104.00698793, 116.66876762,
            122.67891434)): BGR, mean subtraction only, the crop's NATIVE size, batch 2
    output  2×20×384×384 scores, already averaged over three scales inside the graph

Post-processing (`labels_from_scores`): resize every score map to the crop size (bilinear),
un-mirror the second item — swap left/right channels 14↔15 (arms), 16↔17 (legs), 18↔19
(shoes), then flip horizontally — average the two and take the argmax ("flipping trick").

The graph is 432 MB and runs at native resolution: slow and memory-hungry on big photos.
"""
from __future__ import annotations

import cv2
import numpy as np

from models.labels import LIP_CLASSES, LIP_MIRROR
from models.onnx.batch import KnownFailure, forward_net, read_net
from models.weights import DeclaresWeights, WeightFile, resolve

LIP_JPPNET_PB = WeightFile(
    name="lip_jppnet_384.pb",
    # Checksum of a third-party Git-LFS copy (Shankar-hacker/virtualTRYon): not confirmed to be
    # byte-identical to the Dropbox file the sample names.
    known_hash="sha256:b695d5772e061ddba05937ae9eaaf845fbb38c0ee67ec4920111e617339a8375",
    size=432_186_264,
    url="https://www.dropbox.com/s/qag9vzambhhkvxr/lip_jppnet_384.pb?dl=1",
    note="LIP JPPNet converted by the OpenCV sample author; checksum from an unconfirmed third-party copy",
)

MEAN_BGR = (104.00698793, 116.66876762, 122.67891434)
# Channel c of the mirrored item holds the class MIRROR_CLASS[c] of the original image.
MIRROR_CLASS = LIP_MIRROR
# OpenCV versions known not to run the .pb (named in the error a user gets).
KNOWN_FAILURES = (
    KnownFailure((4, 5), (4, 7), markers=("_numAxes == inputs[0].size()",),
                 advice="The sample's lip_jppnet_384.pb is known to fail on OpenCV 4.5-4.6 with a Permute assertion "
                        "on a 5-D tensor (opencv#22221): install opencv-python-headless 4.10 or newer, below 5 "
                        "(requirements.txt; this graph's multi-scale tail is tested on 4.14), or give the parse as "
                        "a LIP label map (CLI: --parse)."),
)


def labels_from_scores(scores: np.ndarray, crop_hw: tuple[int, int]) -> np.ndarray:
    """(2, 20, h', w') scores of [crop, mirrored crop] → (H, W) uint8 LIP labels of the crop.

    Same result as the sample's stack-resize-swap-flip-mean-argmax, computed one class at a
    time (running argmax, first maximum wins like np.argmax) so a big crop does not need
    2×20 full-size float maps at once.
    """
    scores = np.asarray(scores, dtype=np.float32)
    if scores.ndim != 4 or scores.shape[:2] != (2, LIP_CLASSES):
        raise ValueError(f"expected (2, {LIP_CLASSES}, h, w) scores, got {scores.shape}")
    h, w = crop_hw
    best = np.full((h, w), -np.inf, np.float32)
    labels = np.zeros((h, w), np.uint8)
    for c in range(LIP_CLASSES):
        direct = cv2.resize(scores[0, c], (w, h), interpolation=cv2.INTER_LINEAR)
        mirrored = cv2.resize(scores[1, MIRROR_CLASS[c]], (w, h), interpolation=cv2.INTER_LINEAR)
        mean = (direct + mirrored[:, ::-1]) / 2
        better = mean > best
        best[better] = mean[better]
        labels[better] = c
    return labels


class LipJppNet(DeclaresWeights):
    """Parsing stage of the seed chain."""

    chain = "seed"
    weights = (LIP_JPPNET_PB,)

    def __init__(self, net: cv2.dnn.Net, files: tuple = ()):
        self.net = net
        self.files = files  # named in the error if OpenCV cannot run the net

    @classmethod
    def load(cls, lip: str | None = None) -> "LipJppNet":
        path = resolve(LIP_JPPNET_PB, lip)
        return cls(read_net(path, known=KNOWN_FAILURES), (path,))

    @property
    def info(self) -> dict:
        return {"impl": "lip_jppnet", "weights": {LIP_JPPNET_PB.name: LIP_JPPNET_PB.known_hash}}

    def labels(self, crop_bgr: np.ndarray) -> np.ndarray:
        """(H, W) uint8 LIP labels at the crop's size."""
        blob = cv2.dnn.blobFromImages([crop_bgr, cv2.flip(crop_bgr, 1)], 1.0, mean=MEAN_BGR)
        self.net.setInput(blob)
        return labels_from_scores(forward_net(self.net, self.files, KNOWN_FAILURES), crop_bgr.shape[:2])

    def parse(self, crop_bgr: np.ndarray, keypoints: np.ndarray | None = None,
              pose_extras: dict | None = None) -> tuple[np.ndarray, dict]:
        """Stage protocol: (labels, extras). JPPNet does not use the pose."""
        return self.labels(crop_bgr), {}
