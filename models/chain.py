"""The try-on chain on one page: photo → Person (pose + parsing) → garment warp → render.

Each learned stage has two implementations. The seed network (the CP-VTON chain of OpenCV's
virtual_try_on.py) runs where its weights are present; otherwise the registry implementation
(BlazePose models from the mediapipe wheel, plus geometry) runs. `TRYON_CHAIN=seed|registry`
forces one side; `auto` (default) picks per stage. Every output records which ran.

    prepare_person(photo)      → Person        cached per photo by the batch worker
    render(person, garments)   → [Composite]   one batched pass per stage for all garments

Stage objects (one per network file) share a tiny protocol:
    .info                       {"impl": name, "weights": {file: checksum}} — goes into every output
    pose:    .keypoints(crop)                        → (18,3) COCO-18 in the 192×256 grid
    parsing: .parse(crop, keypoints)                 → (LIP label map, extras)
    warp:    .warp(person, garments, garment_masks)  → WarpedGarments
    render:  .render(person, warped)                 → list of RGB [0,1] crop-level images
"""
from __future__ import annotations

import functools
import os
import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from models.crop import centre_crop_box
from models.person import REPR_H, REPR_W, Person

CHAIN_VERSION = "0.3.0"  # bump when any stage's output can change: invalidates caches & composites

# Refuse pixel bombs before decoding work is spent on them (per side and total).
MAX_PIXELS = 40_000_000
MIN_SIDE = 64


class BadInputError(ValueError):
    """An input the chain cannot use. The message names the input and the reason; the batch
    worker fails that one pair with it and carries on."""


@dataclass
class ChainOptions:
    """Knobs that change outputs (part of the cache key via `fingerprint`)."""

    mode: str = field(default_factory=lambda: os.environ.get("TRYON_CHAIN", "auto"))
    # Where the OpenCV sample and the original CP-VTON differ, follow the sample unless set:
    # 11×11 pose squares, head = {1,2,4,13}, sampler scale W−1 instead of W−2.
    cpvton_original: bool = False

    def fingerprint(self) -> str:
        return f"{CHAIN_VERSION}/{self.mode}/{'cpvton' if self.cpvton_original else 'sample'}"


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


# --- stage selection: seed network where its weights are present --------------------------
def _stage_table() -> dict:
    """stage → (seed class, registry class); both follow the protocol in the module docstring."""
    from models import blazepose, composite, garment_warp, gmm, lip_jppnet, openpose, registry_parsing, tom

    return {
        "pose": (openpose.OpenPose, blazepose.BlazePose),
        "parsing": (lip_jppnet.LipJppNet, registry_parsing.RegistryParser),
        "warp": (gmm.GmmWarp, garment_warp.LandmarkWarp),
        "render": (tom.TomRenderer, composite.GeometricCompositor),
    }


def _uses_seed(seed_class, options: ChainOptions) -> bool:
    if options.mode not in ("auto", "seed", "registry"):
        raise ValueError(f"TRYON_CHAIN={options.mode!r}: expected auto, seed or registry")
    return options.mode == "seed" or (options.mode == "auto" and seed_class.available())


def chain_version(options: ChainOptions | None = None) -> str:
    """What composites and cached persons are stamped with: the options' fingerprint plus, in
    auto mode, which side each stage runs here (weights arriving later make old outputs stale).
    Checks files only; loads nothing."""
    options = options or ChainOptions()
    version = options.fingerprint()
    if options.mode == "auto":
        version += "/" + ",".join(f"{stage}={'seed' if _uses_seed(seed, options) else 'registry'}"
                                  for stage, (seed, _) in _stage_table().items())
    return version


@functools.lru_cache(maxsize=None)  # networks load once per process (after fork in workers)
def stages(options_key: tuple) -> dict:
    options = ChainOptions(*options_key)
    # The seed warp/render take the sample-vs-CP-VTON switch; the other stages have none.
    seed_kwargs = {"warp": {"cpvton_original": options.cpvton_original},
                   "render": {"cpvton_original": options.cpvton_original}}
    # In "seed" mode a missing file raises MissingWeightsError naming it.
    return {stage: seed.load(**seed_kwargs.get(stage, {})) if _uses_seed(seed, options) else registry.load()
            for stage, (seed, registry) in _stage_table().items()}


def loaded_stages(options: ChainOptions | None = None) -> tuple[ChainOptions, dict]:
    """(options, {stage name: loaded stage object}) for `options` (default: the environment's)."""
    options = options or ChainOptions()
    return options, stages((options.mode, options.cpvton_original))


# --- the chain ----------------------------------------------------------------------------
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


def prepare_person(photo: np.ndarray, options: ChainOptions | None = None, name: str = "photo",
                   stage_objects: dict | None = None) -> Person:
    """`stage_objects` (optional): explicit stage instances instead of the cached selection
    (the CLI passes networks loaded from its --gmm/--tom/... paths)."""
    options, stage = loaded_stages(options) if stage_objects is None else (options, stage_objects)
    photo = check_image(photo, name)
    box = centre_crop_box(*photo.shape[:2])
    x0, y0, x1, y1 = box
    crop = photo[y0:y1, x0:x1]

    keypoints = stage["pose"].keypoints(crop)
    labels, extras = stage["parsing"].parse(crop, keypoints)
    if not (labels > 0).any():
        raise BadInputError(f"{name}: no person found")
    return Person(photo=photo, crop_box=box, keypoints=keypoints, parse=labels,
                  stages={"pose": stage["pose"].info, "parsing": stage["parsing"].info}, extras=extras)


def render(person: Person, garments: list[np.ndarray], options: ChainOptions | None = None,
           garment_masks: list[np.ndarray | None] | None = None,
           names: list[str] | None = None, stage_objects: dict | None = None) -> list[Composite]:
    """Render one person in each garment; the warp and render stages run once for the batch."""
    from models.paste_back import paste_back

    options, stage = loaded_stages(options) if stage_objects is None else (options, stage_objects)
    names = names or [f"garment {i}" for i in range(len(garments))]
    garments = [check_image(g, n) for g, n in zip(garments, names)]
    masks = garment_masks or [None] * len(garments)

    t0 = time.perf_counter()
    warped = stage["warp"].warp(person, garments, masks)
    t1 = time.perf_counter()
    rendered = stage["render"].render(person, warped)
    t2 = time.perf_counter()

    info = dict(person.stages, warp=stage["warp"].info, render=stage["render"].info)
    composites = []
    for image_rgb in rendered:
        t3 = time.perf_counter()
        full = paste_back(person.photo, person.crop_box, image_rgb)
        tryon = cv2.resize(image_rgb, (REPR_W, REPR_H), interpolation=cv2.INTER_AREA) \
            if image_rgb.shape[:2] != (REPR_H, REPR_W) else image_rgb
        timings = {"warp": (t1 - t0) / len(garments), "render": (t2 - t1) / len(garments),
                   "paste_back": time.perf_counter() - t3}
        composites.append(Composite(image=full, tryon=tryon.astype(np.float32), stages=info, timings=timings))
    return composites


# --- seed chain with explicit files / given pose and parse (the CLI's path) ----------------
class _GivenKeypoints:
    """Pose 'stage' returning keypoints read from a file (--pose-json)."""

    info = {"impl": "given_keypoints", "weights": {}}

    def __init__(self, keypoints: np.ndarray):
        self._keypoints = np.asarray(keypoints, np.float32)

    def keypoints(self, crop: np.ndarray) -> np.ndarray:
        return self._keypoints


class _GivenParse:
    """Parsing 'stage' returning a label map read from a file (--parse)."""

    info = {"impl": "given_parse", "weights": {}}

    def __init__(self, labels: np.ndarray):
        self._labels = labels

    def parse(self, crop: np.ndarray, keypoints: np.ndarray) -> tuple[np.ndarray, dict]:
        return self._labels, {}


def _seed_prepare(photo: np.ndarray, options: ChainOptions | None = None, files: dict | None = None,
                  keypoints: np.ndarray | None = None, labels: np.ndarray | None = None,
                  name: str = "photo") -> Person:
    """prepare_person on the seed networks, loaded from `files` (keys openpose_proto,
    openpose_model, lip; None = weights_dir()). Given `keypoints` (18,3 in the 192×256 grid) or
    `labels` (LIP label map of the crop) replace OpenPose / JPPNet, which are then not loaded."""
    from models.lip_jppnet import LipJppNet
    from models.openpose import OpenPose

    files = files or {}
    stage_objects = {
        "pose": _GivenKeypoints(keypoints) if keypoints is not None
        else OpenPose.load(proto=files.get("openpose_proto"), model=files.get("openpose_model")),
        "parsing": _GivenParse(labels) if labels is not None else LipJppNet.load(lip=files.get("lip")),
    }
    return prepare_person(photo, options or ChainOptions(mode="seed"), name=name, stage_objects=stage_objects)


def _seed_render(person: Person, garments: list[np.ndarray], options: ChainOptions | None = None,
                 files: dict | None = None, garment_masks: list[np.ndarray | None] | None = None,
                 names: list[str] | None = None) -> list[Composite]:
    """render on the seed GMM + TOM loaded from `files` (keys gmm, tom; None = weights_dir())."""
    from models.gmm import GmmWarp
    from models.tom import TomRenderer

    options = options or ChainOptions(mode="seed")
    files = files or {}
    stage_objects = {
        "warp": GmmWarp.load(gmm=files.get("gmm"), cpvton_original=options.cpvton_original),
        "render": TomRenderer.load(tom=files.get("tom"), cpvton_original=options.cpvton_original),
    }
    return render(person, garments, options, garment_masks=garment_masks, names=names,
                  stage_objects=stage_objects)
