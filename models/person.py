"""A prepared person: what the chain knows about one customer photo before any garment.

This is what the batch worker caches per (photo content, chain version), so it is kept
compact: keypoints and a label map, never float tensors. The photo itself is not part of the
serialised form (the worker has it from the bucket) and is re-attached on load.
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass, field

import cv2
import numpy as np

# The representation's grid (CP-VTON's fine_height × fine_width).
REPR_H, REPR_W = 256, 192


@dataclass
class Person:
    """One customer photo after pose and parsing.

    photo:      the original photo, BGR uint8, full resolution (not serialised).
    crop_box:   (x0, y0, x1, y1) of the sample's 4:3 centre crop inside `photo`.
    keypoints:  (18, 3) float32 COCO-18 (x, y, confidence) in the 192×256 representation
                grid; confidence 0 marks a keypoint that was not found.
    parse:      uint8 LIP label map of the crop (any resolution; the seed parser gives the
                crop's native size, the registry parser a smaller one).
    stages:     which implementation produced each stage and with which weights, e.g.
                {"pose": {"impl": "blazepose", "weights": {"pose_landmark_full.tflite": "sha256:..."}}}
    extras:     small named uint8 masks a stage wants to keep (e.g. the registry chain's
                soft body matte), same resolution rule as `parse`.
    """

    photo: np.ndarray | None
    crop_box: tuple[int, int, int, int]
    keypoints: np.ndarray
    parse: np.ndarray
    stages: dict = field(default_factory=dict)
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def crop(self) -> np.ndarray:
        x0, y0, x1, y1 = self.crop_box
        return self.photo[y0:y1, x0:x1]

    # --- compact serialisation (for the per-person cache) -------------------------------
    def to_bytes(self) -> bytes:
        arrays = {"keypoints": self.keypoints.astype(np.float32), "parse": _png(self.parse)}
        arrays.update({f"extra_{k}": _png(v) for k, v in self.extras.items()})
        header = {"crop_box": list(map(int, self.crop_box)), "stages": self.stages}
        buf = io.BytesIO()
        np.savez(buf, header=np.frombuffer(json.dumps(header).encode(), np.uint8), **arrays)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, photo: np.ndarray | None = None) -> "Person":
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            header = json.loads(z["header"].tobytes())
            extras = {k[6:]: _unpng(z[k]) for k in z.files if k.startswith("extra_")}
            return cls(
                photo=photo,
                crop_box=tuple(header["crop_box"]),
                keypoints=z["keypoints"].copy(),
                parse=_unpng(z["parse"]),
                stages=header["stages"],
                extras=extras,
            )


def _png(mask: np.ndarray) -> np.ndarray:
    ok, enc = cv2.imencode(".png", np.ascontiguousarray(mask, dtype=np.uint8))
    assert ok
    return enc.reshape(-1)


def _unpng(enc: np.ndarray) -> np.ndarray:
    return cv2.imdecode(enc, cv2.IMREAD_UNCHANGED)
