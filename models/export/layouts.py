"""The three dataset layouts: which files a person and a garment become, under which names.

Every layout is read as `<root>/<split>/<folder>/<name>` with the pairs list at
`<root>/<split>_pairs.txt` (one `person.jpg garment.jpg` per line, split on whitespace): CP-VTON's
`dataroot`/`datamode`/`data_list`, VITON-HD's `dataset_dir`/`dataset_mode`/`dataset_list`,
HR-VITON's `dataroot`/`datamode`/`data_list`. A person `NAME.jpg` gives `NAME.png` parses and
`NAME_keypoints.json` / `NAME_rendered.png` pose files (the loaders' `.replace('.jpg', …)`).

    cp-vton   192×256  image/ (RGB JPEG), image-parse/ (P, LIP palette), pose/ (COCO-18 JSON,
                       `pose_keypoints`), cloth/, cloth-mask/ (L JPEG); for CP-VTON+ also
                       image-parse-new/ (L PNG, neck/skin = 20) and image-mask/ (L PNG, body 255)
    viton-hd  768×1024 image/, image-parse/ (P, VITON-HD palette, ids < 20, 10 = neck),
                       openpose-json/ (BODY_25, `pose_keypoints_2d`), openpose-img/ (RGB PNG),
                       cloth/, cloth-mask/
    hr-viton  768×1024 image/, image-parse-v3/, image-parse-agnostic-v3.2/ (P), agnostic-v3.2/
                       (RGB JPEG), openpose_json/, openpose_img/ (HR-VITON's underscores), cloth/,
                       cloth-mask/; image-densepose/ is left out (`left_out`)
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import cv2
import numpy as np

from models.body import parse_at
from models.contract import BadInputError, Person
from models.export import agnostic, encode, openpose
from models.garment_photo import garment_mask
from models.labels import LIP_PALETTE_RGB, NECK, Lip

# Parsers whose label 10 is LIP's "jumpsuits" (the others' 10 is the neck, VITON-HD's id, which
# is CIHP's torso-skin); by the Person's stages.parsing.impl.
LIP_PARSERS = ("lip_jppnet",)


@dataclass
class ExportedFiles:
    """Files of one input: (path under the dataset root, bytes), and notes for the report."""
    files: list[tuple[str, bytes]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, path: str, data: bytes) -> None:
        self.files.append((path, data))

    @property
    def paths(self) -> list[str]:
        return [p for p, _ in self.files]


@dataclass(frozen=True)
class Layout:
    name: str
    size: tuple[int, int]                # (width, height) of every image
    reads: str                           # the loader this layout is read by
    person_folders: tuple[str, ...]
    garment_folders: tuple[str, ...] = ("cloth", "cloth-mask")
    left_out: tuple[tuple[str, str], ...] = ()  # (folder, why this export cannot write it)

    def pairs_file(self, split: str) -> str:
        return f"{split}_pairs.txt"


LAYOUTS: dict[str, Layout] = {
    "cp-vton": Layout(
        "cp-vton", (192, 256), "CP-VTON cp_dataset.py (sergeywong/cp-vton), CP-VTON+ (minar09/cp-vton-plus)",
        ("image", "image-parse", "image-parse-new", "image-mask", "pose"),
        left_out=(("warp-cloth", "the GMM's output (its test run writes it), not an input"),
                  ("warp-mask", "the GMM's output (its test run writes it), not an input"))),
    "viton-hd": Layout(
        "viton-hd", (768, 1024), "VITON-HD datasets.py (shadow2496/VITON-HD)",
        ("image", "image-parse", "openpose-json", "openpose-img")),
    "hr-viton": Layout(
        "hr-viton", (768, 1024), "HR-VITON cp_dataset.py, cp_dataset_test.py (sangyun884/HR-VITON)",
        ("image", "image-parse-v3", "image-parse-agnostic-v3.2", "agnostic-v3.2", "openpose_json",
         "openpose_img"),
        left_out=(("image-densepose",
                   "DensePose (detectron2) is not computed by this project; HR-VITON's loaders open "
                   "image-densepose/<person>.jpg for every person: add it with detectron2's apply_net"),)),
}


# How each person is framed in the exported image (`tools.prepare --framing`):
#   person  its upper-garment working crop (chain.frame_person(person, "upper"), models/framing.py:
#           3:4, the torso 0.42 of the height, the neck at 0.335 from the top: the framing of the
#           VITON / VITON-HD photos those models were trained on), whatever the photo's framing;
#   centre  the OpenCV sample's 4:3 centre crop of the photo: for photos already framed like the
#           datasets (theirs: copied byte for byte where the crop is the whole photo at the size).
FRAMINGS = ("person", "centre")
DEFAULT_FRAMING = "person"
FRAMED_CATEGORY = "upper"   # the three layouts are datasets of upper garments


def check_framing(name: str) -> str:
    if name not in FRAMINGS:
        raise ValueError(f"framing {name!r}: expected one of {', '.join(FRAMINGS)}")
    return name


def layout(name: str) -> Layout:
    try:
        return LAYOUTS[name]
    except KeyError:
        raise ValueError(f"layout {name!r}: expected one of {', '.join(LAYOUTS)}") from None


def exported_name(stem: str) -> str:
    """A file name every loader reads back: the input's name (its path under the folder or prefix,
    without extension) with anything but letters, digits, '-' and '_' made '_' (the pairs list is
    split on whitespace; `.replace('.jpg', …)` acts anywhere in a name), and 'image' made 'img'
    (HR-VITON's training loader replaces 'image' anywhere in a person's path). Without '.jpg'."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_").replace("image", "img")
    if not name:
        raise ValueError(f"{stem!r}: no usable characters for a file name")
    return name


# --- label maps ----------------------------------------------------------------------------------
def _lip_parser(person: Person) -> bool:
    return person.stages.get("parsing", {}).get("impl") in LIP_PARSERS


def labels_at(person: Person, size_wh: tuple[int, int]) -> np.ndarray:
    """The Person's label map at the layout's size (nearest, as the chain resizes it)."""
    w, h = size_wh
    return np.ascontiguousarray(parse_at(person.parse, (h, w)))


def viton_hd_labels(person: Person, labels: np.ndarray) -> np.ndarray:
    """Ids as VITON-HD's parses have them (CIHP's: 0–19, 10 = neck/torso skin): CP-VTON+'s skin
    (20) is the neck's 10; a LIP parser's jumpsuit (its 10) is a one-piece, 6 (dress)."""
    out = labels.copy()
    if _lip_parser(person):
        out[labels == Lip.JUMPSUITS] = Lip.DRESS
    out[labels == Lip.SKIN] = NECK
    out[out >= 20] = 0
    return out


def cp_vton_plus_labels(person: Person, labels: np.ndarray) -> np.ndarray:
    """CP-VTON+'s image-parse-new ids: LIP's, with neck and chest skin as 20."""
    out = labels.copy()
    if not _lip_parser(person):
        out[labels == NECK] = Lip.SKIN
    return out


# --- a person's files ------------------------------------------------------------------------------
def _person_jpeg(person: Person, size_wh, source: bytes | None) -> tuple[np.ndarray, bytes]:
    """(BGR image at the layout's size, its JPEG): the source file itself when it already is
    that JPEG and the crop is the whole photo, else the crop resized and encoded."""
    image = encode.person_image(person, size_wh)
    x0, y0, x1, y1 = person.crop_box
    whole = (x0, y0) == (0, 0) and (x1, y1) == tuple(size_wh) and person.photo.shape[:2] == size_wh[::-1]
    if whole and encode.reusable_jpeg(source, size_wh):
        return image, source
    return image, encode.jpeg_rgb(image)


def person_files(layout_name: str, person: Person, name: str, split: str = "test",
                 source: bytes | None = None) -> ExportedFiles:
    """The files of one person in a layout. `person`: with its photo, in the crop to export (the
    export's framing: `chain.frame_person(person, FRAMED_CATEGORY)` for "person", the centre
    crop's Person as it is for "centre"); `name`: exported_name();
    `source`: the photo's file bytes (copied unchanged where they already are the layout's
    image). Raises BadInputError when the layout needs a keypoint the Person lacks."""
    lay = layout(layout_name)
    size = lay.size
    out = ExportedFiles()
    d = f"{split}/"
    image_bgr, image_jpeg = _person_jpeg(person, size, source)
    labels = labels_at(person, size)

    if lay.name == "cp-vton":
        out.add(f"{d}image/{name}.jpg", image_jpeg)
        out.add(f"{d}image-parse/{name}.png", encode.png_palette(labels, LIP_PALETTE_RGB))
        out.add(f"{d}image-parse-new/{name}.png", encode.png_gray(cp_vton_plus_labels(person, labels)))
        out.add(f"{d}image-mask/{name}.png", encode.png_gray(np.where(labels > 0, 255, 0).astype(np.uint8)))
        out.add(f"{d}pose/{name}_keypoints.json", openpose.coco18_json(openpose.coco18(person, size)))
        return out

    points, notes = openpose.body25(person, size)
    out.notes += notes
    missing = agnostic.missing_required(points)
    if missing:
        raise BadInputError(f"{name}: {', '.join(missing)} not found; {lay.name}'s loader builds its "
                            "clothing-agnostic input from the neck, both shoulders and both hips")
    ids = viton_hd_labels(person, labels)
    pose_json = openpose.body25_json(points)
    pose_png = encode.png_rgb(openpose.render_body25(points, size))
    if lay.name == "viton-hd":
        out.add(f"{d}image/{name}.jpg", image_jpeg)
        out.add(f"{d}image-parse/{name}.png", encode.png_palette(ids, encode.VITON_HD_PALETTE))
        out.add(f"{d}openpose-json/{name}_keypoints.json", pose_json)
        out.add(f"{d}openpose-img/{name}_rendered.png", pose_png)
        return out
    # hr-viton
    image_rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
    out.add(f"{d}image/{name}.jpg", image_jpeg)
    out.add(f"{d}image-parse-v3/{name}.png", encode.png_palette(ids, encode.VITON_HD_PALETTE))
    out.add(f"{d}image-parse-agnostic-v3.2/{name}.png",
            encode.png_palette(agnostic.parse_agnostic(ids, points), encode.VITON_HD_PALETTE))
    out.add(f"{d}agnostic-v3.2/{name}.jpg",
            encode.jpeg_rgb(cv2.cvtColor(agnostic.image_agnostic(image_rgb, ids, points), cv2.COLOR_RGB2BGR)))
    out.add(f"{d}openpose_json/{name}_keypoints.json", pose_json)
    out.add(f"{d}openpose_img/{name}_rendered.png", pose_png)
    return out


# --- a garment's files -----------------------------------------------------------------------------
def garment_files(layout_name: str, garment_bgr: np.ndarray, name: str, split: str = "test",
                  source: bytes | None = None) -> ExportedFiles:
    """cloth/NAME.jpg (RGB, padded to 3:4 with its background colour, then resized) and
    cloth-mask/NAME.jpg (L JPEG, 255 = garment: models.garment_photo.garment_mask on the photo).
    Raises BadInputError when no garment is found on the background."""
    lay = layout(layout_name)
    size = lay.size
    out = ExportedFiles()
    d = f"{split}/"
    mask = garment_mask(garment_bgr, name=name)
    cloth = encode.resize_to(encode.pad_to_aspect(garment_bgr, size, encode.background_colour(garment_bgr)), size)
    mask = encode.resize_to(encode.pad_to_aspect(mask, size, 0), size)
    same = garment_bgr.shape[:2] == size[::-1]
    out.add(f"{d}cloth/{name}.jpg", source if same and encode.reusable_jpeg(source, size) else encode.jpeg_rgb(cloth))
    out.add(f"{d}cloth-mask/{name}.jpg", encode.jpeg_mask(mask))
    return out


def pairs_text(person_names: list[str], garment_names: list[str]) -> bytes:
    """`<split>_pairs.txt`: every person with every garment, `person.jpg garment.jpg` per line."""
    return "".join(f"{p}.jpg {g}.jpg\n" for p in person_names for g in garment_names).encode()


def hr_viton_unpaired_persons(person_names: list[str], garment_names: list[str]) -> list[str]:
    """Persons with no garment of their own name: HR-VITON's test loader also opens
    cloth/<person>.jpg (its 'paired' cloth) for every person, whatever --datasetting."""
    garments = set(garment_names)
    return [p for p in person_names if p not in garments]
