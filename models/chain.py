"""The try-on chain on one page: photo → Person (pose + parsing) → garment warp → render.

Each stage has implementations in an ordered list (`REGISTRY`, in the spirit of rembg's
sessions): the seed network (the CP-VTON chain of OpenCV's virtual_try_on.py) first, then the
geometric one (BlazePose models from the mediapipe wheel, plus geometry). `TRYON_CHAIN=auto`
(default) picks per stage the first whose weights are present; `seed` or `geometric` forces
one side. Every output records which ran.

    prepare_person(photo)      → Person        cached per photo by the batch worker
    render(person, garments)   → [Composite]   one batched pass per stage for all garments

Framing (ChainOptions.framing): the seed chain keeps the OpenCV sample's 4:3 centre crop; the
geometric chain (or `framing="person"`) finds the person in the whole photo first
(models/geometric/person_finder.py: refusals and the BodyLayout), keeps pose and parse for the
person's region, and `render` derives each garment category's working crop from them
(models/framing.py), pasting the composite back into the photo at its full resolution.

The stage protocols are in models/contract.py (PoseStage, ParsingStage, WarpStage, RenderStage).
"""
from __future__ import annotations

import dataclasses
import functools
import time

import cv2
import numpy as np

from models import framing as framings
from models import settings
from models.contract import (CHAIN_MODES, DEPRECATED_MODES, GARMENT_CATEGORIES, REPR_H, REPR_W, SEED_CATEGORIES,
                             VERSION_LABELS, BadInputError, ChainOptions, Composite, Person, check_image)
from models.crop import centre_crop_box
from models.geometric import blazepose as bp
from models.geometric.blazepose import BlazePose
from models.geometric.compositor import GeometricCompositor
from models.geometric.parsing import GeometricParser
from models.geometric.person_finder import PersonFinder, analysis_box
from models.geometric.warp import LandmarkWarp
from models.paste_back import paste_back
from models.qa import verdict
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
    # The seed GMM/TOM in another precision than fp32 render other composites (fp32 adds nothing:
    # outputs made before the setting existed stay up to date).
    precision = settings.current().onnx_precision
    if precision != "fp32" and any(implementation(s, options.mode).chain == "seed" for s in ("warp", "render")):
        version += f"/{precision}"
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


@functools.lru_cache(maxsize=None)
def _person_finder() -> PersonFinder:
    return PersonFinder.load()


def person_finder(stage: dict) -> PersonFinder:
    """The stage set's PersonFinder (loaded once per process), sharing the pose stage's
    BlazePose where it is one."""
    finder = stage.get("finder") or _person_finder()
    if finder._pose is None and isinstance(stage.get("pose"), BlazePose):
        finder._pose = stage["pose"]
    return finder


def framing_of(options: ChainOptions, stage: dict) -> str:
    """"centre" or "person": `auto` follows the render stage (the seed's TOM was trained on the
    sample's crop; the geometric compositor renders any crop)."""
    if options.framing != "auto":
        return options.framing
    render = stage.get("render")
    side = render.chain if render is not None else implementation("render", options.mode).chain
    return "person" if side == "geometric" else "centre"


def options_for_framing(framing: str, options: ChainOptions | None = None) -> ChainOptions:
    """`options` (default: the settings') preparing persons in `framing` ("centre" or "person"):
    `options` itself where its framing already comes to that (same chain_version, so the persons
    render runs cached are the same), else a copy with the framing set. Checks files only."""
    if framing not in ("centre", "person"):
        raise ValueError(f"framing {framing!r}: expected centre or person")
    options = options or ChainOptions()
    return options if framing_of(options, {}) == framing else dataclasses.replace(options, framing=framing)


def loaded_stages(options: ChainOptions | None = None) -> tuple[ChainOptions, dict]:
    """(options, {stage name: loaded stage object}) for `options` (default: the settings')."""
    options = options or ChainOptions()
    return options, stages((options.mode, options.cpvton_original, options.framing))


def declared_weights() -> list[WeightFile]:
    """Every weight file any implementation of any stage declares, once each, in registry order
    (what `make models` fetches)."""
    files = [w for impls in REGISTRY.values() for impl in impls for w in impl.weights]
    return list(dict.fromkeys(files))


# --- the chain ----------------------------------------------------------------------------
def prepare_person(photo: np.ndarray, options: ChainOptions | None = None, name: str = "photo",
                   stage_objects: dict | None = None) -> Person:
    """Pose and parsing of one photo. Centre framing: of the sample's centre crop. Person
    framing: pose over the whole photo, the refusals and BodyLayout (PersonFinder), then parsing
    of the person's region; `render` frames each category from it. `stage_objects`
    (optional): explicit stage instances instead of the loaded selection (the CLI passes
    networks loaded from its files). Any input it cannot use raises BadInputError naming it."""
    options, stage = loaded_stages(options) if stage_objects is None else (options or ChainOptions(), stage_objects)
    photo = check_image(photo, name)
    mode = framing_of(options, stage)
    try:
        if mode == "centre":
            box = centre_crop_box(*photo.shape[:2])
            x0, y0, x1, y1 = box
            crop = photo[y0:y1, x0:x1]
            keypoints, pose_extras = stage["pose"].keypoints(crop)
            layout = None
        else:
            keypoints, pose_extras = stage["pose"].keypoints(photo)
            layout = person_finder(stage).find(photo, pose_extras, name)
            box = analysis_box(layout)
            keypoints = framings.reframe(Person(photo=photo, crop_box=(0, 0, photo.shape[1], photo.shape[0]),
                                                keypoints=keypoints, parse=np.zeros((1, 1), np.uint8)),
                                         box).keypoints
            x0, y0, x1, y1 = box
            crop = photo[y0:y1, x0:x1]
            if bp.POSE_EXTRA in pose_extras:
                pose_extras = dict(pose_extras, **{bp.POSE_EXTRA: pose_extras[bp.POSE_EXTRA].cropped(box)})
        labels, extras = stage["parsing"].parse(crop, keypoints, pose_extras)
    except BadInputError as exc:
        message = str(exc)
        raise BadInputError(message if message.startswith(f"{name}: ") else f"{name}: {message}") from None
    if not (labels > 0).any():
        raise BadInputError(f"{name}: no person found")
    # BlazePose's landmarks: the geometric parser's (it runs BlazePose itself after another
    # pose stage), else the pose stage's
    landmarks = extras.pop("landmarks", None)
    pose_result = pose_extras.get(bp.POSE_EXTRA)
    if landmarks is None and pose_result is not None:
        landmarks = grid_landmarks(pose_result.landmarks, box)
    return Person(photo=photo, crop_box=box, keypoints=keypoints, parse=labels,
                  stages={"pose": stage["pose"].info, "parsing": stage["parsing"].info}, extras=extras,
                  landmarks=landmarks, framing=mode, layout=layout, name=name)


def grid_landmarks(landmarks: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """BlazePose's landmarks (x, y, z in pixels of the crop `box`, visibility, …) → (N, 4)
    float32 x, y in the 192×256 grid like the keypoints, z in the same units as x, visibility:
    hands, heels and toes for the compositor and the BODY_25 export, depth for the person's turn."""
    x0, y0, x1, y1 = box
    sx, sy = REPR_W / max(1, x1 - x0), REPR_H / max(1, y1 - y0)
    lm = np.asarray(landmarks, np.float64)
    return np.column_stack([lm[:, 0] * sx, lm[:, 1] * sy, lm[:, 2] * sx, lm[:, 3]]).astype(np.float32)


def frame_person(person: Person, category: str = "upper") -> Person:
    """The Person in `category`'s working crop: unchanged in centre framing; in person framing
    the category's crop (models/framing.py), after checking the photo shows enough of the body
    for it (BadInputError naming the photo)."""
    if person.framing != "person" or person.layout is None:
        return person
    framings.check_coverage(person.layout, category, person.name)
    try:
        box = framings.working_box(person.layout, category)
    except BadInputError as exc:
        raise BadInputError(f"{person.name}: {exc}") from None
    return framings.reframe(person, box)


def category_stages(stage: dict, category: str, mode: str = "auto") -> dict:
    """The stage set that renders `category`: `stage` itself for the seed's categories; else
    the geometric warp and render in place of the seed's (auto and geometric mode), or
    BadInputError in seed mode (CP-VTON was trained on tops only)."""
    if category in SEED_CATEGORIES or all(stage[s].chain == "geometric" for s in ("warp", "render")):
        return stage
    if DEPRECATED_MODES.get(mode, mode) == "seed":
        raise BadInputError(f"garment category {category!r}: the seed chain (CP-VTON) renders "
                            f"{', '.join(SEED_CATEGORIES)} garments only; use TRYON_CHAIN=auto or geometric")
    return dict(stage, warp=_geometric("warp"), render=_geometric("render"))


@functools.lru_cache(maxsize=None)
def _geometric(stage_name: str):
    """The geometric implementation of a stage, loaded once per process (no weights)."""
    return next(impl for impl in REGISTRY[stage_name] if impl.chain == "geometric").load()


def render(person: Person, garments: list[np.ndarray], options: ChainOptions | None = None,
           garment_masks: list[np.ndarray | None] | None = None,
           names: list[str] | None = None, stage_objects: dict | None = None,
           category: str = "upper") -> list[Composite]:
    """Render one person in each garment (all of `category`) in the category's working crop
    (`frame_person`); the warp and render stages run once for the batch; each composite is
    pasted back into the photo at its full resolution. The seed's warp and render (CP-VTON)
    render tops only: for the other categories the geometric ones run (`category_stages`)."""
    if category not in GARMENT_CATEGORIES:
        raise BadInputError(f"garment category {category!r}: only {', '.join(GARMENT_CATEGORIES)} "
                            "garments can be rendered")
    options, stage = loaded_stages(options) if stage_objects is None else (options, stage_objects)
    stage = category_stages(stage, category, options.mode if options is not None else "auto")
    names = names or [f"garment {i}" for i in range(len(garments))]
    garments = [check_image(g, n) for g, n in zip(garments, names)]
    masks = garment_masks or [None] * len(garments)
    person = frame_person(person, category)

    t0 = time.perf_counter()
    warped = stage["warp"].warp(person, garments, masks, category=category)
    t1 = time.perf_counter()
    rendered = stage["render"].render(person, warped, category=category)
    t2 = time.perf_counter()

    info = dict(person.stages, warp=stage["warp"].info, render=stage["render"].info)
    measures = warped.measures or [{} for _ in rendered]
    composites = []
    for image_rgb, measured in zip(rendered, measures):
        t3 = time.perf_counter()
        full = paste_back(person.photo, person.crop_box, image_rgb)
        tryon = cv2.resize(image_rgb, (REPR_W, REPR_H), interpolation=cv2.INTER_AREA) \
            if image_rgb.shape[:2] != (REPR_H, REPR_W) else image_rgb
        timings = {"warp": (t1 - t0) / len(garments), "render": (t2 - t1) / len(garments),
                   "paste_back": time.perf_counter() - t3}
        composites.append(Composite(image=full, tryon=tryon.astype(np.float32), stages=info, timings=timings,
                                    qa=verdict(measured)))
    return composites
