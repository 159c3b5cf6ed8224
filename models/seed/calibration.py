"""Calibration inputs of the int8 seed GMM/TOM: photos through the seed chain's own preprocessing.

    cal = read_folder("../shared/data/tryon")     # persons/ + pose_json/ + parse/, garments/ (+ cloth_mask/)
    gmm_feeds(cal)                                # {"input.1": agnostic, "input.18": cloth} per pair
    tom_feeds(cal, warp=GmmWarp(GMM(path, "fp32")))   # TOM's (N,25,256,192) input per pair
    gmm_int8(path), tom_int8(path)                # the derived int8 files (models/onnx/precision.py)

The inputs are made exactly as the stages make them at run time (`GmmWarp.inputs`: the
22-channel person representation + the squashed garment blob; `TomRenderer.inputs`: the
representation + the garment warped by the fp32 GMM). A folder gives one Person per photo that
has an OpenPose JSON and a LIP parse beside it (the layout of shared/data/tryon); each person is
paired with `per_person` garments so that every garment is used at least once.

At load (TRYON_ONNX_PRECISION=int8 and no int8 file yet) the photos come from
TRYON_CALIBRATION_DIR; `python -m tools.seed_precision` makes the files from any photos (running
the chain's pose and parsing where a photo has no JSON/parse). `synthetic()` is a drawn stand-in
for tests of the path only: it says nothing about the error on real photos.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np

from models import settings
from models.contract import Person, WarpedGarments
from models.crop import centre_crop_box
from models.onnx.precision import int8_file
from models.seed.gmm import GMM, GMM_INPUTS, GmmWarp, cloth_blob
from models.seed.openpose import photo_keypoints_to_grid, read_openpose_json
from models.seed.tom import TomRenderer
from models.weights import MissingWeightsError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass(frozen=True)
class CalibrationSet:
    """Persons and garments, and which (person, garment) pairs to feed."""

    persons: tuple[Person, ...]
    garments: tuple[np.ndarray, ...]
    masks: tuple[np.ndarray | None, ...]
    pairs: tuple[tuple[int, int], ...]
    source: str

    def describe(self) -> str:
        return (f"{self.source}: {len(self.persons)} persons, {len(self.garments)} garments, "
                f"{len(self.pairs)} pairs")

    def by_person(self) -> Iterator[tuple[Person, list[np.ndarray], list[np.ndarray | None]]]:
        """(person, its garments, their masks) in pair order."""
        for p, person in enumerate(self.persons):
            chosen = [g for q, g in self.pairs if q == p]
            if chosen:
                yield person, [self.garments[g] for g in chosen], [self.masks[g] for g in chosen]


def calibration_pairs(n_persons: int, n_garments: int, per_person: int = 2) -> tuple[tuple[int, int], ...]:
    """Person i with garments (i·k + j) mod G, j < k = per_person; then any garment still unused
    with the persons in turn: every person and every garment appears."""
    if not n_persons or not n_garments:
        return ()
    k = min(per_person, n_garments)
    pairs = [(i, (i * k + j) % n_garments) for i in range(n_persons) for j in range(k)]
    unused = sorted(set(range(n_garments)) - {g for _, g in pairs})
    pairs += [(n % n_persons, g) for n, g in enumerate(unused)]
    return tuple(pairs)


# --- reading photos -----------------------------------------------------------------------------
def read_image(path: Path, flags: int = cv2.IMREAD_COLOR) -> np.ndarray:
    image = cv2.imread(str(path), flags)
    if image is None:
        raise ValueError(f"{path}: not a readable image")
    return image


def read_parse(path: Path, photo_hw: tuple[int, int]) -> np.ndarray:
    """LIP label ids of the photo's centre crop from a label PNG (palette or greyscale; PIL reads
    palette indices, cv2 would decode colours), of the photo's size or another one (the crop box
    is mapped onto it)."""
    from PIL import Image

    with Image.open(path) as image:
        if image.mode not in ("P", "L"):
            raise ValueError(f"{path}: not a label-id PNG (mode {image.mode})")
        labels = np.array(image, np.uint8)
    h, w = labels.shape[:2]
    ph, pw = photo_hw
    x0, y0, x1, y1 = centre_crop_box(ph, pw)
    sx, sy = w / pw, h / ph
    return labels[round(y0 * sy):round(y1 * sy), round(x0 * sx):round(x1 * sx)]


def person_from_files(photo_path: Path, pose_json: Path, parse_png: Path) -> Person:
    """A Person from a photo, its OpenPose JSON (COCO-18 or BODY_25) and its LIP parse."""
    photo = read_image(photo_path)
    box = centre_crop_box(*photo.shape[:2])
    try:
        keypoints = photo_keypoints_to_grid(read_openpose_json(pose_json), box)
    except ValueError as exc:
        raise ValueError(f"{pose_json}: {exc}") from None
    return Person(photo=photo, crop_box=box, keypoints=keypoints, parse=read_parse(parse_png, photo.shape[:2]),
                  stages={"pose": {"impl": "given_keypoints", "weights": {}},
                          "parsing": {"impl": "given_parse", "weights": {}}})


def images_in(folder: Path) -> list[Path]:
    return sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def read_garments(folder: Path, mask_folder: Path | None = None) -> tuple[list[Path], list[np.ndarray],
                                                                         list[np.ndarray | None]]:
    """(paths, BGR images, masks or None) of the garment photos in `folder`; a mask is
    `mask_folder/<name>` (as in shared/data/tryon/cloth_mask) where present."""
    paths = images_in(folder)
    masks = []
    for p in paths:
        m = Path(mask_folder) / p.name if mask_folder else None
        masks.append(read_image(m, cv2.IMREAD_GRAYSCALE) if m is not None and m.is_file() else None)
    return paths, [read_image(p) for p in paths], masks


def read_folder(folder: str | Path, per_person: int = 2) -> CalibrationSet:
    """Calibration photos in the layout of shared/data/tryon: persons/NAME.jpg with
    pose_json/NAME_keypoints.json and parse/NAME.png, garments/*.jpg with cloth_mask/ optional.
    Photos without both JSON and parse are left out (named in `source`); none usable, or no
    garment → FileNotFoundError naming the folder and the layout."""
    folder = Path(folder)
    layout = "persons/NAME.jpg + pose_json/NAME_keypoints.json + parse/NAME.png, garments/*.jpg"
    if not (folder / "persons").is_dir() or not (folder / "garments").is_dir():
        raise FileNotFoundError(f"{folder}: no calibration photos (expected {layout})")
    persons, skipped = [], []
    for photo in images_in(folder / "persons"):
        pose, parse = folder / "pose_json" / f"{photo.stem}_keypoints.json", folder / "parse" / f"{photo.stem}.png"
        if pose.is_file() and parse.is_file():
            persons.append(person_from_files(photo, pose, parse))
        else:
            skipped.append(photo.name)
    _, garments, masks = read_garments(folder / "garments", folder / "cloth_mask")
    if not persons or not garments:
        raise FileNotFoundError(f"{folder}: {len(persons)} usable person photos, {len(garments)} garments "
                                f"(expected {layout})")
    source = str(folder) + (f" ({len(skipped)} photos without pose/parse left out)" if skipped else "")
    return CalibrationSet(tuple(persons), tuple(garments), tuple(masks),
                          calibration_pairs(len(persons), len(garments), per_person), source)


def synthetic(n_persons: int = 3, n_garments: int = 3, seed: int = 0) -> CalibrationSet:
    """Drawn persons (a body of LIP labels with COCO keypoints on a textured photo) and garments
    (a coloured shirt on a light background): exercises the int8 path where no photos are at
    hand (tests). Its error says nothing about real photos."""
    rng = np.random.default_rng(seed)
    persons = []
    for _ in range(n_persons):
        photo = cv2.GaussianBlur(rng.integers(0, 256, (256, 192, 3), dtype=np.uint8), (0, 0), 3)
        dx, dy = rng.integers(-10, 11, 2)
        labels = np.zeros((256, 192), np.uint8)
        labels[25 + dy:60 + dy, 75 + dx:117 + dx] = 13     # face
        labels[15 + dy:30 + dy, 70 + dx:122 + dx] = 2      # hair
        labels[60 + dy:170 + dy, 55 + dx:137 + dx] = 5    # upper clothes
        labels[65 + dy:165 + dy, 35 + dx:55 + dx] = 14     # arms
        labels[65 + dy:165 + dy, 137 + dx:157 + dx] = 15
        labels[170 + dy:250, 60 + dx:132 + dx] = 9         # pants
        keypoints = np.zeros((18, 3), np.float32)
        keypoints[:14] = [(96, 45, 1), (96, 66, 1), (68, 68, 1), (45, 115, 1), (45, 160, 1), (124, 68, 1),
                          (147, 115, 1), (147, 160, 1), (76, 170, 1), (76, 210, 1), (76, 250, 1), (116, 170, 1),
                          (116, 210, 1), (116, 250, 1)]
        keypoints[:14, :2] += (dx, dy)
        photo[labels == 5] = rng.integers(0, 256, 3)
        persons.append(Person(photo=photo, crop_box=(0, 0, 192, 256), keypoints=keypoints, parse=labels))
    garments = []
    for _ in range(n_garments):
        g = np.full((256, 192, 3), 240, np.uint8)
        top, side = rng.integers(20, 50), rng.integers(15, 40)
        cv2.rectangle(g, (side, top), (191 - side, 230), tuple(int(c) for c in rng.integers(0, 200, 3)), -1)
        cv2.rectangle(g, (side - 12, top), (side + 10, 150), tuple(int(c) for c in rng.integers(0, 200, 3)), -1)
        g = cv2.add(g, rng.integers(0, 20, g.shape, dtype=np.uint8))
        garments.append(g)
    return CalibrationSet(tuple(persons), tuple(garments), (None,) * n_garments,
                          calibration_pairs(n_persons, n_garments), f"synthetic (seed {seed})")


# --- the networks' inputs -----------------------------------------------------------------------
def gmm_feeds(cal: CalibrationSet, cpvton_original: bool = False) -> Iterator[dict[str, np.ndarray]]:
    """One GMM input per pair, made as GmmWarp makes it."""
    stage = GmmWarp(gmm=None, cpvton_original=cpvton_original)  # inputs() needs no network
    for person, garments, _ in cal.by_person():
        agnostic, cloth = stage.inputs(person, garments)
        for item in cloth:
            yield {GMM_INPUTS[0]: agnostic[:1], GMM_INPUTS[1]: item[None]}


def unwarped(garments: list[np.ndarray]) -> WarpedGarments:
    """The garments squashed to 192×256, not warped: TOM's cloth input where no GMM is at hand."""
    cloth = cloth_blob(garments)
    return WarpedGarments(images=(cloth.transpose(0, 2, 3, 1) + 1.0) / 2.0,
                          masks=np.ones((len(garments), *cloth.shape[2:]), np.float32))


def tom_feeds(cal: CalibrationSet, warp: GmmWarp | None = None, input_name: str = "input.1",
              cpvton_original: bool = False) -> Iterator[dict[str, np.ndarray]]:
    """One TOM input per pair, made as TomRenderer makes it from `warp`'s output (the fp32 GMM
    stage; None: the garment unwarped)."""
    from models.seed.tom import TOM

    stage = TomRenderer(tom=None, cpvton_original=cpvton_original)
    for person, garments, masks in cal.by_person():
        warped = warp.warp(person, garments, masks) if warp is not None else unwarped(garments)
        agnostic, cloth = stage.inputs(person, warped)
        for x in TOM.input_blob(agnostic, cloth):
            yield {input_name: x[None]}


# --- the derived files (at load) ----------------------------------------------------------------
def configured_set() -> CalibrationSet:
    """The calibration photos of TRYON_CALIBRATION_DIR, or MissingWeightsError saying how to
    make the int8 files (they are made once, then found beside the fp32 files)."""
    folder = settings.current().calibration_dir
    if folder is None:
        raise MissingWeightsError(
            "TRYON_ONNX_PRECISION=int8: no int8 file derived from this GMM/TOM yet. Make it with "
            "`python -m tools.seed_precision --gmm GMM.onnx --tom TOM.onnx PHOTOS GARMENTS`, or set "
            "TRYON_CALIBRATION_DIR to a folder of calibration photos (persons/ + pose_json/ + parse/, garments/)")
    try:
        return read_folder(folder)
    except (FileNotFoundError, ValueError) as exc:
        raise MissingWeightsError(f"TRYON_CALIBRATION_DIR: {exc}") from None


def _tom_input_name(path: str | Path) -> str:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    weights = {t.name for t in model.graph.initializer}
    return next(v.name for v in model.graph.input if v.name not in weights)


def gmm_int8(path: str | Path, cal: CalibrationSet | Callable[[], CalibrationSet] = configured_set,
             force: bool = False, log=None) -> Path:
    """The int8 GMM derived from `path`: found, or made from `cal` (default TRYON_CALIBRATION_DIR)."""
    loaded: dict = {}

    def feeds():
        loaded["cal"] = cal() if callable(cal) else cal
        return gmm_feeds(loaded["cal"])
    return int8_file(path, feeds, calibration=lambda: _describe(loaded), force=force, log=log)


def tom_int8(path: str | Path, cal: CalibrationSet | Callable[[], CalibrationSet] = configured_set,
             gmm: str | Path | None = None, force: bool = False, log=None) -> Path:
    """The int8 TOM derived from `path`: found, or made from `cal` with garments warped by the
    fp32 GMM `gmm` (default: TRYON_GMM_ONNX or the published file where present; else unwarped)."""
    loaded: dict = {}

    def feeds():
        loaded["cal"] = cal() if callable(cal) else cal
        gmm_path = gmm or _configured_gmm()
        warp = GmmWarp(GMM(gmm_path, precision="fp32")) if gmm_path else None
        loaded["warp"] = f"garments warped by the fp32 GMM {Path(gmm_path).name}" if gmm_path else "garments unwarped"
        return tom_feeds(loaded["cal"], warp, _tom_input_name(path))
    return int8_file(path, feeds, calibration=lambda: _describe(loaded), force=force, log=log)


def _describe(loaded: dict) -> str:
    """What the feeds were made from (known once they have been read)."""
    cal = loaded.get("cal")
    return (cal.describe() if cal else "") + (f"; {loaded['warp']}" if loaded.get("warp") else "")


def _configured_gmm() -> Path | None:
    from models.seed.gmm import GMM_ONNX
    from models.weights import resolve

    if not GmmWarp.available():
        return None
    try:
        return resolve(GMM_ONNX, settings.current().gmm_onnx)
    except MissingWeightsError:
        return None
