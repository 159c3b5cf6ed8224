"""The try-on chain on one page: photo → Person (pose + parsing) → garment warp → render.

Each stage has implementations in an ordered list (`REGISTRY`, in the spirit of rembg's
sessions): the seed network (the CP-VTON chain of OpenCV's virtual_try_on.py) first, then the
geometric one (BlazePose models from the mediapipe wheel, plus geometry). `TRYON_CHAIN=auto`
(default) picks per stage the first whose weights are present; `seed` or `geometric` forces
one side. Every output records which ran.

    prepare_person(photo)      → Person        cached per photo by the batch worker
    render(person, garments)   → [Composite]   one batched pass per stage for all garments

The stage protocols are in models/contract.py (PoseStage, ParsingStage, WarpStage, RenderStage).
"""
from __future__ import annotations

import functools
import time

import cv2
import numpy as np

from models.contract import (CHAIN_MODES, DEPRECATED_MODES, GARMENT_CATEGORIES, REPR_H, REPR_W,
                             VERSION_LABELS, BadInputError, ChainOptions, Composite, Person, check_image)
from models.crop import centre_crop_box
from models.geometric.blazepose import BlazePose
from models.geometric.compositor import GeometricCompositor
from models.geometric.parsing import GeometricParser
from models.geometric.warp import LandmarkWarp
from models.paste_back import paste_back
from models.seed.gmm import GmmWarp
from models.seed.lip_jppnet import LipJppNet
from models.seed.openpose import OpenPose
from models.seed.tom import TomRenderer
from models.weights import WeightFile

# Per stage, its implementations in order of preference: `auto` takes the first available.
REGISTRY: dict[str, tuple[type, ...]] = {
    "pose": (OpenPose, BlazePose),
    "parsing": (LipJppNet, GeometricParser),
    "warp": (GmmWarp, LandmarkWarp),
    "render": (TomRenderer, GeometricCompositor),
}


# --- stage selection ------------------------------------------------------------------------
def implementation(stage: str, mode: str) -> type:
    """The class that runs `stage` in `mode`: `auto` → the first whose weights are present (the
    last one if none is: loading it then names the missing file); `seed` / `geometric` → that
    side's. Checks files only; loads nothing."""
    mode = DEPRECATED_MODES.get(mode, mode)
    candidates = REGISTRY[stage]
    if mode == "auto":
        return next((impl for impl in candidates if impl.available()), candidates[-1])
    for impl in candidates:
        if impl.chain == mode:
            return impl
    raise ValueError(f"TRYON_CHAIN={mode!r}: expected one of {', '.join(CHAIN_MODES)}")


def chain_version(options: ChainOptions | None = None) -> str:
    """What composites and cached persons are stamped with: the options' fingerprint plus, in
    auto mode, which side each stage runs here (weights arriving later make old outputs stale).
    Checks files only; loads nothing."""
    options = options or ChainOptions()
    version = options.fingerprint()
    if options.mode == "auto":
        version += "/" + ",".join(f"{stage}={VERSION_LABELS[implementation(stage, 'auto').chain]}"
                                  for stage in REGISTRY)
    return version


@functools.lru_cache(maxsize=None)  # networks load once per process (after fork in workers)
def stages(options_key: tuple) -> dict:
    """{stage name: loaded stage object} for ChainOptions(*options_key). In a forced mode a
    missing file raises MissingWeightsError naming it."""
    options = ChainOptions(*options_key)
    loaded = {}
    for stage in REGISTRY:
        impl = implementation(stage, options.mode)
        loaded[stage] = impl.load(**{name: getattr(options, name) for name in impl.options})
    return loaded


def loaded_stages(options: ChainOptions | None = None) -> tuple[ChainOptions, dict]:
    """(options, {stage name: loaded stage object}) for `options` (default: the settings')."""
    options = options or ChainOptions()
    return options, stages((options.mode, options.cpvton_original))


def declared_weights() -> list[WeightFile]:
    """Every weight file any implementation of any stage declares, once each, in registry order
    (what `make models` fetches)."""
    files = [w for impls in REGISTRY.values() for impl in impls for w in impl.weights]
    return list(dict.fromkeys(files))


# --- the chain ----------------------------------------------------------------------------
def prepare_person(photo: np.ndarray, options: ChainOptions | None = None, name: str = "photo",
                   stage_objects: dict | None = None) -> Person:
    """Pose and parsing of one photo's centre crop. `stage_objects` (optional): explicit stage
    instances instead of the loaded selection (the CLI passes networks loaded from its files)."""
    options, stage = loaded_stages(options) if stage_objects is None else (options, stage_objects)
    photo = check_image(photo, name)
    box = centre_crop_box(*photo.shape[:2])
    x0, y0, x1, y1 = box
    crop = photo[y0:y1, x0:x1]

    keypoints, pose_extras = stage["pose"].keypoints(crop)
    labels, extras = stage["parsing"].parse(crop, keypoints, pose_extras)
    if not (labels > 0).any():
        raise BadInputError(f"{name}: no person found")
    return Person(photo=photo, crop_box=box, keypoints=keypoints, parse=labels,
                  stages={"pose": stage["pose"].info, "parsing": stage["parsing"].info}, extras=extras)


def render(person: Person, garments: list[np.ndarray], options: ChainOptions | None = None,
           garment_masks: list[np.ndarray | None] | None = None,
           names: list[str] | None = None, stage_objects: dict | None = None,
           category: str = "upper") -> list[Composite]:
    """Render one person in each garment (all of `category`); the warp and render stages run
    once for the batch."""
    if category not in GARMENT_CATEGORIES:
        raise BadInputError(f"garment category {category!r}: only {', '.join(GARMENT_CATEGORIES)} "
                            "garments can be rendered")
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
