"""The chain's contract: what goes into and comes out of it and of each stage.

Everything here is plain data and protocols, imported by every layer above (the stages, the
chain, the batch worker); it imports nothing of the chain itself.

    Person            one customer photo after pose and parsing (what the worker caches)
    BodyLayout        where the person is in the photo (framing and per-category checks read it)
    WarpedGarments    garments warped onto one person (warp stage → render stage)
    Composite         one person wearing one garment (what `render` returns), with its QA verdict
    QaVerdict         `ok` or `needs_review`, the reasons and the measures behind them
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

CHAIN_VERSION = "0.5.3"  # bump when any stage's output can change: invalidates caches & composites

# The representation's grid (CP-VTON's fine_height × fine_width).
REPR_H, REPR_W = 256, 192

# Refuse pixel bombs before decoding work is spent on them (per side and total).
MAX_PIXELS = 40_000_000
MIN_SIDE = 64

# Garment categories `render` accepts (the seam for more: see docs/ARCHITECTURE.md): tops,
# lower garments (trousers, shorts, skirts) and dresses. The seed chain (CP-VTON) renders only
# SEED_CATEGORIES; the geometric chain all of them.
GARMENT_CATEGORIES = ("upper", "lower", "dress")
DEFAULT_CATEGORY = "upper"
SEED_CATEGORIES = ("upper",)

# Where the working crop comes from (ChainOptions.framing): `centre` is the OpenCV sample's 4:3
# centre crop, `person` a crop placed around the person per garment category (models/framing.py),
# `auto` the sample's for the seed chain's renderer and the person's for the geometric one.
FRAMINGS = ("auto", "centre", "person")

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
    framing: str = "auto"   # FRAMINGS: auto = centre for the seed renderer, person for the geometric one

    def __post_init__(self):
        self.mode = DEPRECATED_MODES.get(self.mode, self.mode)
        if self.framing not in FRAMINGS:
            raise ValueError(f"framing {self.framing!r}: expected one of {', '.join(FRAMINGS)}")

    def fingerprint(self) -> str:
        mode = VERSION_LABELS.get(self.mode, self.mode)
        version = f"{CHAIN_VERSION}/{mode}/{'cpvton' if self.cpvton_original else 'sample'}"
        return version if self.framing == "auto" else f"{version}/{self.framing}"


@dataclass
class BodyLayout:
    """Where the person is in the photo, in photo pixels: what per-category framing and the
    category checks read (models/framing.py), kept in Person so neither needs the pose again.

    photo_hw:  the photo's (height, width).
    points:    named body points {name: (x, y, visibility)} (names: framing.LAYOUT_POINTS), as
               the pose model places them, also outside the photo (extrapolated), so a framing
               can reach past a photo's edge; visibility in [0, 1].
    extent:    (x0, y0, x1, y1) bounding box of the person's matte.
    """

    photo_hw: tuple[int, int]
    points: dict[str, tuple[float, float, float]]
    extent: tuple[int, int, int, int]

    def to_json(self) -> dict:
        return {"photo_hw": list(map(int, self.photo_hw)), "extent": list(map(int, self.extent)),
                # Unrounded: a cached Person must frame and render exactly as the one computed
                # (0.1 px rounding moved a composite by up to 57 grey levels; found by make chaos).
                "points": {k: [float(v) for v in p[:3]] for k, p in self.points.items()}}

    @classmethod
    def from_json(cls, data: dict) -> "BodyLayout":
        return cls(photo_hw=tuple(data["photo_hw"]), extent=tuple(data["extent"]),
                   points={k: tuple(v) for k, v in data["points"].items()})


@dataclass
class Person:
    """One customer photo after pose and parsing.

    This is what the batch worker caches per (photo content, chain version), so it is kept
    compact: keypoints and a label map, never float tensors. The photo itself is not part of
    the serialised form (the worker has it from the bucket) and is re-attached on load.

    photo:      the original photo, BGR uint8, full resolution (not serialised).
    crop_box:   (x0, y0, x1, y1) in `photo` of the region keypoints and parse describe: the
                sample's 4:3 centre crop (framing "centre"), or the person's region of the photo
                (framing "person": `prepare_person`'s Person; a garment category's working crop
                is derived from it by models/framing.py). A box may reach past the photo's
                edges: that part is padding (`crop` replicates the border), never pasted back.
    keypoints:  (18, 3) float32 COCO-18 (x, y, confidence) in the 192×256 representation
                grid of `crop_box`; confidence 0 marks a keypoint that was not found.
    parse:      uint8 LIP label map of the crop (any resolution; the seed parser gives the
                crop's native size, the geometric parser a smaller one).
    stages:     which implementation produced each stage and with which weights, e.g.
                {"pose": {"impl": "blazepose", "weights": {"pose_landmark_full.tflite": "sha256:..."}}}
    extras:     small named arrays a stage wants to keep: uint8 masks (e.g. the geometric
                chain's soft body matte; same resolution rule as `parse`, stored as PNG) or
                small float arrays (stored as they are).
    landmarks:  (39, 4) float32 BlazePose landmarks when the pose stage was BlazePose, else None:
                x, y in the 192×256 grid like `keypoints`, z in the same units as x, visibility —
                what COCO-18 has no place for (hands, heels, toes, the person's turn).
    framing:    "centre" or "person" (see crop_box).
    layout:     BodyLayout (framing "person"), else None.
    name:       what refusals call the photo (not serialised: the worker sets the object's key).
    """

    photo: np.ndarray | None
    crop_box: tuple[int, int, int, int]
    keypoints: np.ndarray
    parse: np.ndarray
    stages: dict = field(default_factory=dict)
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    landmarks: np.ndarray | None = None
    framing: str = "centre"
    layout: BodyLayout | None = None
    name: str = "photo"

    @property
    def crop(self) -> np.ndarray:
        """The photo inside crop_box; where the box reaches past the photo, its border replicated."""
        return padded_crop(self.photo, self.crop_box)

    # --- compact serialisation (for the per-person cache) -------------------------------
    def to_bytes(self) -> bytes:
        arrays = {"keypoints": self.keypoints.astype(np.float32), "parse": _png(self.parse)}
        for k, v in self.extras.items():
            if v.dtype == np.uint8 and v.ndim == 2:
                arrays[f"extra_{k}"] = _png(v)
            else:
                arrays[f"array_{k}"] = np.ascontiguousarray(v)
        if self.landmarks is not None:
            arrays["landmarks"] = np.asarray(self.landmarks, np.float32)
        header = {"crop_box": list(map(int, self.crop_box)), "stages": self.stages, "framing": self.framing}
        if self.layout is not None:
            header["layout"] = self.layout.to_json()
        buf = io.BytesIO()
        np.savez(buf, header=np.frombuffer(json.dumps(header).encode(), np.uint8), **arrays)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, photo: np.ndarray | None = None) -> "Person":
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            header = json.loads(z["header"].tobytes())
            extras = {k[6:]: _unpng(z[k]) for k in z.files if k.startswith("extra_")}
            extras.update({k[6:]: z[k].copy() for k in z.files if k.startswith("array_")})
            return cls(
                photo=photo,
                crop_box=tuple(header["crop_box"]),
                keypoints=z["keypoints"].copy(),
                parse=_unpng(z["parse"]),
                stages=header["stages"],
                extras=extras,
                # absent from persons cached before landmarks were kept
                landmarks=z["landmarks"].copy() if "landmarks" in z.files else None,
                framing=header.get("framing", "centre"),
                layout=BodyLayout.from_json(header["layout"]) if "layout" in header else None,
            )


def padded_crop(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """image[y0:y1, x0:x1] where the box may reach past the image's edges: the border is
    replicated there (a view when the box is inside the image, else a copy of the box's size)."""
    x0, y0, x1, y1 = map(int, box)
    h, w = image.shape[:2]
    if x0 >= 0 and y0 >= 0 and x1 <= w and y1 <= h:
        return image[y0:y1, x0:x1]
    rows = np.clip(np.arange(y0, y1), 0, h - 1)
    cols = np.clip(np.arange(x0, x1), 0, w - 1)
    return image[rows[:, None], cols[None, :]]


def _png(mask: np.ndarray) -> np.ndarray:
    ok, enc = cv2.imencode(".png", np.ascontiguousarray(mask, dtype=np.uint8))
    assert ok
    return enc.reshape(-1)


def _unpng(enc: np.ndarray) -> np.ndarray:
    return cv2.imdecode(enc, cv2.IMREAD_UNCHANGED)


@dataclass
class WarpedGarments:
    """Garments warped onto one person: RGB float32 in [0,1] and masks in [0,1], both at the
    warp stage's working resolution (256×192 for the GMM; higher for the geometric warp).

    measures: per garment, what the stages measured on the way ({name: float}, see
    models/qa.py): the warp fills them, the render stage may add its own. A stage may also
    keep private per-garment data in `parts` (the geometric warp's layers); others ignore it."""

    images: np.ndarray  # (N, H, W, 3)
    masks: np.ndarray   # (N, H, W)
    measures: list[dict] = field(default_factory=list)
    parts: list = field(default_factory=list)


@dataclass
class QaVerdict:
    """The QA verdict on one composite: `ok`, or `needs_review` with one short reason per
    threshold crossed (models/qa.py), and the measures it was judged on."""

    status: str = "ok"                       # "ok" | "needs_review"
    reasons: list[str] = field(default_factory=list)
    measures: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict:
        return {"status": self.status, "reasons": list(self.reasons),
                "measures": {k: round(float(v), 4) for k, v in self.measures.items()}}


@dataclass
class Composite:
    """One person wearing one garment.

    image:   the composite pasted back into the customer's photo, BGR uint8, photo size.
    tryon:   256×192×3 float32 RGB in [0,1]: the sample's output, before paste-back.
    stages:  implementation and weights of every stage that ran.
    timings: seconds per stage for this garment (batched stages split evenly).
    qa:      the QA verdict (models/qa.py): `ok` or `needs_review` with its reasons.
    """

    image: np.ndarray
    tryon: np.ndarray
    stages: dict
    timings: dict
    qa: QaVerdict = field(default_factory=QaVerdict)


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
             garment_masks: list[np.ndarray | None], category: str = "upper") -> WarpedGarments:
        """Every garment (all of `category`) warped onto the person, in one batch; what it
        measured per garment in `measures` (models/qa.py)."""


class RenderStage(Stage, Protocol):
    def render(self, person: Person, warped: WarpedGarments, category: str = "upper") -> list[np.ndarray]:
        """Per garment, the crop-level try-on: RGB float32 in [0,1] (256×192 or the warp's
        size); it may add its own measures to `warped.measures`."""
