"""The chain's contract: what goes into and comes out of it and of each stage.

Everything here is plain data and protocols, imported by every layer above (the stages, the
chain, the batch worker); it imports nothing of the chain itself.

    Person            one customer photo after pose and parsing (what the worker caches)
    WarpedGarments    garments warped onto one person (warp stage → render stage)
    Composite         one person wearing one garment (what `render` returns)
    ChainOptions      the knobs that change outputs (part of every output's version)
    BadInputError     an input the chain cannot use (the worker fails that pair with it)
    PoseStage, ParsingStage, WarpStage, RenderStage   the stage protocols
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

import cv2
import numpy as np

from models import settings

CHAIN_VERSION = "0.3.0"  # bump when any stage's output can change: invalidates caches & composites

# The representation's grid (CP-VTON's fine_height × fine_width).
REPR_H, REPR_W = 256, 192

# Refuse pixel bombs before decoding work is spent on them (per side and total).
MAX_PIXELS = 40_000_000
MIN_SIDE = 64

# Garment categories `render` accepts (the seam for more: see docs/ARCHITECTURE.md).
GARMENT_CATEGORIES = ("upper",)

# TRYON_CHAIN values: `auto` picks per stage; the others force one side.
CHAIN_MODES = ("auto", "seed", "geometric")
DEPRECATED_MODES = {"registry": "geometric"}  # the geometric chain's first name (where its weights come from)
# What outputs are stamped with for each side: the geometric chain keeps its first name here,
# so composites and cached persons made before the rename stay up to date.
VERSION_LABELS = {"seed": "seed", "geometric": "registry"}


class BadInputError(ValueError):
    """An input the chain cannot use. The message names the input and the reason; the batch
    worker fails that one pair with it and carries on."""


def check_image(image: np.ndarray | None, name: str) -> np.ndarray:
    """Validate a decoded image (BGR uint8, 3 channels); raise BadInputError naming it."""
    if image is None or not isinstance(image, np.ndarray) or image.size == 0:
        raise BadInputError(f"{name}: not a decodable image")
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise BadInputError(f"{name}: expected an 8-bit 3-channel BGR image, got {image.dtype} {image.shape}")
    h, w = image.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise BadInputError(f"{name}: too small ({w}×{h} px; at least {MIN_SIDE} px per side)")
    if h * w > MAX_PIXELS:
        raise BadInputError(f"{name}: too large ({w}×{h} px; limit {MAX_PIXELS} pixels)")
    return image


@dataclass
class ChainOptions:
    """Knobs that change outputs (part of the cache key via `fingerprint`).

    mode: TRYON_CHAIN (default: the settings'); `registry` is read as `geometric`."""

    mode: str = field(default_factory=lambda: settings.current().chain)
    # Where the OpenCV sample and the original CP-VTON differ, follow the sample unless set:
    # 11×11 pose squares, head = {1,2,4,13}, sampler scale W−1 instead of W−2.
    cpvton_original: bool = False

    def __post_init__(self):
        self.mode = DEPRECATED_MODES.get(self.mode, self.mode)

    def fingerprint(self) -> str:
        mode = VERSION_LABELS.get(self.mode, self.mode)
        return f"{CHAIN_VERSION}/{mode}/{'cpvton' if self.cpvton_original else 'sample'}"


@dataclass
class Person:
    """One customer photo after pose and parsing.

    This is what the batch worker caches per (photo content, chain version), so it is kept
    compact: keypoints and a label map, never float tensors. The photo itself is not part of
    the serialised form (the worker has it from the bucket) and is re-attached on load.

    photo:      the original photo, BGR uint8, full resolution (not serialised).
    crop_box:   (x0, y0, x1, y1) of the sample's 4:3 centre crop inside `photo`.
    keypoints:  (18, 3) float32 COCO-18 (x, y, confidence) in the 192×256 representation
                grid; confidence 0 marks a keypoint that was not found.
    parse:      uint8 LIP label map of the crop (any resolution; the seed parser gives the
                crop's native size, the geometric parser a smaller one).
    stages:     which implementation produced each stage and with which weights, e.g.
                {"pose": {"impl": "blazepose", "weights": {"pose_landmark_full.tflite": "sha256:..."}}}
    extras:     small named uint8 masks a stage wants to keep (e.g. the geometric chain's
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


@dataclass
class WarpedGarments:
    """Garments warped onto one person: RGB float32 in [0,1] and masks in [0,1], both at the
    warp stage's working resolution (256×192 for the GMM; higher for the geometric warp)."""

    images: np.ndarray  # (N, H, W, 3)
    masks: np.ndarray   # (N, H, W)


@dataclass
class Composite:
    """One person wearing one garment.

    image:   the composite pasted back into the customer's photo, BGR uint8, photo size.
    tryon:   256×192×3 float32 RGB in [0,1]: the sample's output, before paste-back.
    stages:  implementation and weights of every stage that ran.
    timings: seconds per stage for this garment (batched stages split evenly).
    """

    image: np.ndarray
    tryon: np.ndarray
    stages: dict
    timings: dict


# --- the stage protocols ----------------------------------------------------------------------
# One class per implementation; models/chain.py lists them per stage. A stage's `extras` are
# what later stages (pose → parsing) or outputs (parsing → Person.extras) may use.
class Stage(Protocol):
    chain: ClassVar[str]   # "seed" or "geometric": which side of the chain it belongs to
    options: ClassVar[tuple[str, ...]]  # ChainOptions fields its load() takes (e.g. cpvton_original)

    @property
    def info(self) -> dict:
        """{"impl": name, "weights": {file: checksum}}: copied into every output."""

    @classmethod
    def available(cls) -> bool:
        """Whether its weight files are present (no hashing, no loading)."""

    @classmethod
    def load(cls, **options) -> "Stage":
        """Load its networks (checksum-verified); a missing file raises MissingWeightsError."""


class PoseStage(Stage, Protocol):
    def keypoints(self, crop: np.ndarray) -> tuple[np.ndarray, dict]:
        """(18,3) COCO-18 keypoints in the 192×256 grid, extras for the parsing stage."""


class ParsingStage(Stage, Protocol):
    def parse(self, crop: np.ndarray, keypoints: np.ndarray, pose_extras: dict) -> tuple[np.ndarray, dict]:
        """LIP label map of the crop, extras kept in Person.extras (small uint8 masks)."""


class WarpStage(Stage, Protocol):
    def warp(self, person: Person, garments: list[np.ndarray],
             garment_masks: list[np.ndarray | None]) -> WarpedGarments:
        """Every garment warped onto the person, in one batch."""


class RenderStage(Stage, Protocol):
    def render(self, person: Person, warped: WarpedGarments) -> list[np.ndarray]:
        """Per garment, the crop-level try-on: RGB float32 in [0,1] (256×192 or the warp's size)."""
