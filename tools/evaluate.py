"""Evaluate the chain on a dataset in the layout of shared/data/tryon.

    python -m tools.evaluate DATA OUT [--wild DIR] [--persons a,b] [--garments c,d]
                                             (make eval DATA=DIR OUT=DIR [WILD=DIR])

writes OUT/metrics.json, OUT/contact_sheet.png (DATA's persons × garments) and, per garment
category (upper, lower, dress: the wild catalogue's manifest.csv gives each garment's; DATA's
garments are tops), the cross product of every person × every garment of the category of DATA
and of the wild catalogue (default: catalogue_wild beside DATA, if present):
OUT/cross_product.json (upper; cross_product_lower.json, cross_product_dress.json: rendered /
refused by reason / flagged by reason / crashed, each pair's verdict and timings; for lower
garments and dresses the footprint IoU against the person's own garment of the category),
OUT/cross_product.png (all of it) and one sheet per person set (OUT/cross_product_<set>.png;
cross_product_lower.png, cross_product_lower_<set>.png, … for the other categories). Everything runs through models.chain (the stages it picks for
TRYON_CHAIN, default here: geometric), never through private shortcuts, so the figures are
those of what the batch system runs.

One function per metric (`pose_pck`, `body_iou`, `head_iou`, ...) taking one case's
prediction and ground truth and returning a float (or None where the case has no ground
truth); `METRICS` lists them and `evaluate` averages them. To add a metric: write the
function, add it to METRICS (per-person metrics) or compute it in `evaluate_garments`.

Definitions
  pose_pck   PCK@0.2·torso: a keypoint is correct when it lies within 0.2 × torso size of
             the ground truth, in the 192×256 grid. Torso size = distance from the GT neck
             (COCO 1) to the GT mid-hip (mean of COCO 8 and 11) — the issue's "neck–mid-hip".
             Only GT keypoints with confidence > 0 count; a predicted keypoint with
             confidence 0 counts as wrong. Cases whose GT lacks the neck or a hip are skipped.
  body_iou   IoU of (label > 0) between prediction and GT parse, at the GT's resolution.
  head_iou   IoU of labels {1 hat, 2 hair, 4 sunglasses, 13 face} (CP-VTON's head set).
  footprint_iou  (lower garments, dresses) IoU of the rendered garment's footprint (its warp's
             mask) with the person's own garment of that category — LIP pants 9 / skirt 12,
             dress 6 — where the person's parse has it (≥ 2 % of the parse): "gt" against the
             dataset's ground-truth parse, "chain" against the chain's own parse (no ground
             truth: a consistency check; the geometric parser labels a dress's skirt 9).
  cross product: every pair goes through models.chain.render; `rendered` counts composites
             (`flagged`: those whose QA verdict is needs_review, models/qa.py), `refused` the
             pairs the chain refused with BadInputError (by reason), `crashed` any other
             exception (must be 0).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from models import chain, framing
from models.contract import (DEFAULT_CATEGORY, GARMENT_CATEGORIES, REPR_H, REPR_W, BadInputError, ChainOptions,
                             Person, padded_crop)
from models.crop import centre_crop_box
from models.labels import HEAD, NECK, Coco, Lip
from models.seed.openpose import photo_keypoints_to_grid, read_openpose_json

HEAD_LABELS = HEAD  # CP-VTON's head: hat, hair, sunglasses, face
PCK_ALPHA = 0.2

# --- dataset access -------------------------------------------------------------------------
def case_names(data: Path) -> list[str]:
    return sorted(p.stem for p in (Path(data) / "persons").glob("*.jpg"))


def load_photo(data: Path, name: str) -> np.ndarray:
    return cv2.imread(str(Path(data) / "persons" / f"{name}.jpg"), cv2.IMREAD_COLOR)


def load_gt_keypoints(data: Path, name: str, photo_hw: tuple[int, int]) -> np.ndarray | None:
    """GT pose as (18, 3) COCO-18 in the 192×256 grid of the photo's centre crop, or None.
    Reads OpenPose JSON (`pose_keypoints_2d` or the older `pose_keypoints`), BODY_25 or COCO-18."""
    path = Path(data) / "pose_json" / f"{name}_keypoints.json"
    if not path.is_file():
        return None
    try:
        points = read_openpose_json(path)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    return photo_keypoints_to_grid(points, centre_crop_box(*photo_hw))


def load_gt_parse(data: Path, name: str, photo_hw: tuple[int, int]) -> np.ndarray | None:
    """GT LIP label map of the crop region (palette PNG → ids via PIL), or None."""
    from PIL import Image

    path = Path(data) / "parse" / f"{name}.png"
    if not path.is_file():
        return None
    labels = np.array(Image.open(path))
    # The parse may be at another resolution than the photo: map the crop box onto it.
    h, w = labels.shape[:2]
    ph, pw = photo_hw
    x0, y0, x1, y1 = centre_crop_box(*photo_hw)
    sx, sy = w / pw, h / ph
    return labels[round(y0 * sy):round(y1 * sy), round(x0 * sx):round(x1 * sx)]


# --- person metrics ---------------------------------------------------------------------------
def torso_size(gt: np.ndarray) -> float | None:
    """GT neck → GT mid-hip distance (grid pixels), or None if one of them is missing."""
    neck, r_hip, l_hip = gt[Coco.NECK], gt[Coco.R_HIP], gt[Coco.L_HIP]
    if min(neck[2], r_hip[2], l_hip[2]) <= 0:
        return None
    return float(np.hypot(*(neck[:2] - (r_hip[:2] + l_hip[:2]) / 2)))


def pck_hits(pred: np.ndarray, gt: np.ndarray, alpha: float = PCK_ALPHA) -> np.ndarray | None:
    """Per-keypoint correctness (18,) as 1/0, NaN where the GT keypoint is absent."""
    size = torso_size(gt)
    if size is None:
        return None
    dist = np.hypot(*(pred[:, :2] - gt[:, :2]).T)
    hits = ((dist <= alpha * size) & (pred[:, 2] > 0)).astype(np.float64)
    hits[gt[:, 2] <= 0] = np.nan
    return hits


def pose_pck(pred_keypoints: np.ndarray, gt_keypoints: np.ndarray | None) -> float | None:
    if gt_keypoints is None:
        return None
    hits = pck_hits(pred_keypoints, gt_keypoints)
    return None if hits is None else float(np.nanmean(hits))


def _at_gt_resolution(pred_labels: np.ndarray, gt_labels: np.ndarray) -> np.ndarray:
    h, w = gt_labels.shape[:2]
    if pred_labels.shape[:2] == (h, w):
        return pred_labels
    return cv2.resize(pred_labels, (w, h), interpolation=cv2.INTER_NEAREST)


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def body_iou(pred_labels: np.ndarray, gt_labels: np.ndarray | None) -> float | None:
    if gt_labels is None:
        return None
    return mask_iou(_at_gt_resolution(pred_labels, gt_labels) > 0, gt_labels > 0)


def head_iou(pred_labels: np.ndarray, gt_labels: np.ndarray | None) -> float | None:
    if gt_labels is None:
        return None
    pred = _at_gt_resolution(pred_labels, gt_labels)
    return mask_iou(np.isin(pred, HEAD_LABELS), np.isin(gt_labels, HEAD_LABELS))


def label_iou(pred_ids, gt_ids):
    """IoU of one label group (prediction ids, ground-truth ids); None where the GT has none of it."""
    def metric(pred_labels: np.ndarray, gt_labels: np.ndarray | None) -> float | None:
        if gt_labels is None or not np.isin(gt_labels, gt_ids).any():
            return None
        pred = _at_gt_resolution(pred_labels, gt_labels)
        return mask_iou(np.isin(pred, pred_ids), np.isin(gt_labels, gt_ids))
    return metric


# Per-label parse IoUs the person side reports (the categories need them: what a lower garment
# or a dress replaces). The GT's skirt (12) and pants (9) are one lower-clothes group, as the
# geometric parser labels both 9.
LABEL_IOUS = {
    "upper_clothes_iou": ((Lip.UPPER_CLOTHES,), (Lip.UPPER_CLOTHES,)),
    "lower_clothes_iou": ((Lip.PANTS, Lip.SKIRT), (Lip.PANTS, Lip.SKIRT)),
    "arms_iou": ((Lip.LEFT_ARM, Lip.RIGHT_ARM), (Lip.LEFT_ARM, Lip.RIGHT_ARM)),
    "legs_iou": ((Lip.LEFT_LEG, Lip.RIGHT_LEG), (Lip.LEFT_LEG, Lip.RIGHT_LEG)),
    "neck_iou": ((NECK,), (NECK,)),
    "face_iou": ((Lip.FACE,), (Lip.FACE,)),
    "hair_iou": ((Lip.HAIR,), (Lip.HAIR,)),
}

# metric name → (function, which prediction it reads, which ground truth it reads)
METRICS = {
    "pose_pck": (pose_pck, "keypoints", "keypoints"),
    "body_iou": (body_iou, "parse", "parse"),
    "head_iou": (head_iou, "parse", "parse"),
    **{name: (label_iou(pred, gt), "parse", "parse") for name, (pred, gt) in LABEL_IOUS.items()},
}


# --- garment side: paired cases, SSIM, contact sheet -------------------------------------------
# (person, garment) pairs in which the person wears exactly that garment (dataset README).
PAIRED_CASES = (("00006_00", "00006_00"), ("003491_0", "003491_1"))


def person_from_ground_truth(data: Path, name: str):
    """A Person built from the dataset's GT pose and parse instead of the pose and parsing
    stages (to evaluate the garment side alone)."""
    photo = load_photo(data, name)
    keypoints = load_gt_keypoints(data, name, photo.shape[:2])
    labels = load_gt_parse(data, name, photo.shape[:2])
    if keypoints is None or labels is None:
        raise FileNotFoundError(f"{data}: no pose_json or parse ground truth for {name}")
    return Person(photo=photo, crop_box=centre_crop_box(*photo.shape[:2]), keypoints=keypoints,
                  parse=labels, stages={"pose": {"impl": "ground_truth", "weights": {}},
                                        "parsing": {"impl": "ground_truth", "weights": {}}})


def load_garment(data: Path, name: str) -> tuple[np.ndarray, np.ndarray | None]:
    """(garment BGR, its cloth mask or None)."""
    garment = cv2.imread(str(Path(data) / "garments" / f"{name}.jpg"), cv2.IMREAD_COLOR)
    mask_path = Path(data) / "cloth_mask" / f"{name}.jpg"
    mask = cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE) if mask_path.is_file() else None
    return garment, mask


def warp_iou(warped_mask: np.ndarray, gt_labels: np.ndarray) -> float:
    """IoU of the warped garment's footprint (mask > 0.5) with the GT parse's upper clothes,
    at the warp's resolution (the label map resized nearest)."""
    h, w = warped_mask.shape[:2]
    truth = cv2.resize(gt_labels, (w, h), interpolation=cv2.INTER_NEAREST) == Lip.UPPER_CLOTHES
    return mask_iou(warped_mask > 0.5, truth)


def mask_in_centre_crop(person: Person, mask: np.ndarray) -> np.ndarray:
    """A map over person.crop_box (e.g. a warped garment's mask in a category's working crop)
    seen in the photo's centre crop, where the dataset's ground truth is."""
    photo_hw = person.photo.shape[:2]
    return framing.resample_map(np.asarray(mask, np.float32), person.crop_box, centre_crop_box(*photo_hw),
                                photo_hw, cv2.INTER_LINEAR)


def ssim(a: np.ndarray, b: np.ndarray, sigma: float = 1.5) -> float:
    """Mean SSIM (Wang et al. 2004: Gaussian window σ=1.5, K1=0.01, K2=0.03, L=1) of two
    images in [0,1], colour channels averaged."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if a.ndim == 2:
        a, b = a[..., None], b[..., None]
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    blur = lambda x: cv2.GaussianBlur(x, (0, 0), sigma)  # noqa: E731
    values = []
    for ch in range(a.shape[2]):
        x, y = a[..., ch], b[..., ch]
        mx, my = blur(x), blur(y)
        vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
        smap = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
        values.append(smap.mean())
    return float(np.mean(values))


def paired_ssim(composite_bgr: np.ndarray, photo_bgr: np.ndarray, crop_box) -> float:
    """SSIM of the pasted-back composite against the photo itself (the person really wears
    that garment), on the crop at 256×192 as CP-VTON reports it."""
    x0, y0, x1, y1 = crop_box
    size = (REPR_W, REPR_H)
    a = cv2.resize(composite_bgr[y0:y1, x0:x1], size, interpolation=cv2.INTER_AREA)
    b = cv2.resize(photo_bgr[y0:y1, x0:x1], size, interpolation=cv2.INTER_AREA)
    return ssim(a.astype(np.float64) / 255, b.astype(np.float64) / 255)


def evaluate_pairs(data: Path, options=None, ground_truth_person: bool = False) -> dict:
    """warp_iou and paired_ssim of every paired case present in `data`, through models.chain
    (with the chain's own pose/parsing, or the GT person when `ground_truth_person`)."""
    options, stage = chain.loaded_stages(options)
    per_case = {}
    for person_name, garment_name in PAIRED_CASES:
        if not (Path(data) / "garments" / f"{garment_name}.jpg").is_file() or \
                not (Path(data) / "persons" / f"{person_name}.jpg").is_file():
            continue
        if ground_truth_person:
            person = person_from_ground_truth(data, person_name)
        else:
            person = chain.prepare_person(load_photo(data, person_name), options, name=person_name)
        garment, mask = load_garment(data, garment_name)
        framed = chain.frame_person(person, "upper")   # the working crop render uses
        warped = stage["warp"].warp(framed, [garment], [mask])
        composite = chain.render(person, [garment], options, garment_masks=[mask])[0]
        gt = load_gt_parse(data, person_name, person.photo.shape[:2])
        per_case[f"{person_name}+{garment_name}"] = {
            "warp_iou": None if gt is None else warp_iou(mask_in_centre_crop(framed, warped.masks[0]), gt),
            "paired_ssim": paired_ssim(composite.image, person.photo, centre_crop_box(*person.photo.shape[:2])),
        }
    summary = {}
    for metric in ("warp_iou", "paired_ssim"):
        values = [c[metric] for c in per_case.values() if c[metric] is not None]
        summary[metric] = float(np.mean(values)) if values else None
    return {"summary": summary, "per_case": per_case}


def contact_sheet(data: Path, out_png: Path, options=None, cell_h: int = 256,
                  persons: list[str] | None = None, garments: list[str] | None = None) -> np.ndarray:
    """Every person × every garment through models.chain: garments along the top, persons
    down the left, each cell the pasted-back composite's crop at cell_h rows. Cells whose
    input the chain refused show the error in red."""
    persons = persons or case_names(data)
    garments = garments or sorted(p.stem for p in (Path(data) / "garments").glob("*.jpg"))
    cell_w = cell_h * REPR_W // REPR_H
    fit = lambda img: cv2.resize(img, (cell_w, cell_h), interpolation=cv2.INTER_AREA)  # noqa: E731
    loaded = [load_garment(data, g) for g in garments]
    rows = [np.hstack([np.full((cell_h, cell_w, 3), 255, np.uint8)] + [fit(g) for g, _ in loaded])]
    for name in persons:
        photo = load_photo(data, name)
        cells = []
        try:
            person = chain.prepare_person(photo, options, name=name)
            box = chain.frame_person(person, "upper").crop_box   # the working crop (may pad)
            row = [fit(padded_crop(photo, box))]
            for (garment, mask), gname in zip(loaded, garments):
                try:
                    comp = chain.render(person, [garment], options, garment_masks=[mask], names=[gname])[0]
                    cells.append(fit(padded_crop(comp.image, box)))
                except BadInputError as exc:
                    cells.append(_error_cell(cell_h, cell_w, str(exc)))
        except BadInputError as exc:
            row = [fit(photo)]
            cells = [_error_cell(cell_h, cell_w, str(exc)) for _ in garments]
        rows.append(np.hstack(row + cells))
    sheet = np.vstack(rows)
    Path(out_png).parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out_png), sheet)
    return sheet


def _error_cell(h: int, w: int, message: str) -> np.ndarray:
    cell = np.full((h, w, 3), 235, np.uint8)
    for i in range(0, min(len(message), 120), 24):
        cv2.putText(cell, message[i:i + 24], (4, 20 + i // 24 * 16), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 200), 1)
    return cell


# --- person side: framing and refusals over every person photo ---------------------------------
FRAMING_CATEGORIES = ("upper", "lower", "dress")


def framing_data_dirs(data: Path) -> list[Path]:
    """DATA and, beside it, catalogue_wild (full-body photos) where present."""
    dirs = [Path(data)]
    wild = Path(data).parent / "catalogue_wild"
    if wild.is_dir() and wild.resolve() != Path(data).resolve():
        dirs.append(wild)
    return dirs


def evaluate_framing(dirs: list[Path], options=None) -> dict:
    """Every person photo of `dirs` through prepare_person and each category's framing: framed
    or refused (with the reason), and per category the torso's share of the working crop
    (neck → mid-hip over the crop's height; the framing's target where the hips are in it)."""
    per_person, counts = {}, {"framed": 0, "refused": {}}
    for d in dirs:
        for photo_path in sorted((Path(d) / "persons").glob("*.jpg")):
            key = f"{Path(d).name}/{photo_path.stem}"
            photo = cv2.imread(str(photo_path), cv2.IMREAD_COLOR)
            try:
                person = chain.prepare_person(photo, options, name=key)
            except BadInputError as exc:
                reason = str(exc).split(": ", 1)[-1].split(" (")[0]
                per_person[key] = {"refused": str(exc)}
                counts["refused"][reason] = counts["refused"].get(reason, 0) + 1
                continue
            counts["framed"] += 1
            entry = {"framing": person.framing, "bytes": len(person.to_bytes()), "categories": {}}
            for category in FRAMING_CATEGORIES:
                try:
                    view = chain.frame_person(person, category)
                    x0, y0, x1, y1 = view.crop_box
                    ph, pw = photo.shape[:2]
                    padded = 1 - (min(x1, pw) - max(x0, 0)) * (min(y1, ph) - max(y0, 0)) / ((x1 - x0) * (y1 - y0))
                    entry["categories"][category] = {"box": [x0, y0, x1, y1], "torso_share": framing.torso_share(view),
                                                     "padding": round(float(padded), 3)}
                except BadInputError as exc:
                    entry["categories"][category] = {"refused": str(exc).split(": ", 1)[-1]}
            per_person[key] = entry
    summary = {"persons": len(per_person), **counts}
    for category in FRAMING_CATEGORIES:
        shares = [e["categories"][category]["torso_share"] for e in per_person.values()
                  if "categories" in e and e["categories"][category].get("torso_share") is not None]
        framed = sum(1 for e in per_person.values() if "categories" in e and "box" in e["categories"][category])
        summary[category] = {"framed": framed, "refused": counts["framed"] - framed,
                             "torso_share_median": float(np.median(shares)) if shares else None,
                             "torso_share_range": [float(min(shares)), float(max(shares))] if shares else None,
                             "target": framing.FRAMINGS[category].share}
    sizes = [e["bytes"] for e in per_person.values() if "bytes" in e]
    summary["person_bytes_median"] = int(np.median(sizes)) if sizes else None
    summary["person_bytes_max"] = int(max(sizes)) if sizes else None
    return {"summary": summary, "per_person": per_person}


# --- the cross product: every person × every upper garment -------------------------------------
@dataclass
class Item:
    """One person photo or one garment photo of a dataset folder."""

    set: str            # which folder it comes from ("tryon", "wild")
    name: str
    image: Path
    mask: Path | None = None
    parse: Path | None = None    # a person's ground-truth LIP parse, where the dataset has one

    @property
    def label(self) -> str:
        return f"{self.set}:{self.name}"


def category_garments(folder: Path, set_name: str, category: str) -> list[Item]:
    """The garments of `category` in a dataset folder: a manifest.csv gives each garment's
    category (catalogue_wild); without one every garment of garments/ is upper (the tryon
    dataset's are tops). Cloth masks where present."""
    folder = Path(folder)
    manifest = folder / "manifest.csv"
    names = sorted(p.stem for p in (folder / "garments").glob("*.jpg"))
    rows = {}
    if manifest.is_file():
        with manifest.open() as f:
            rows = {Path(r["file"]).stem: r.get("category", DEFAULT_CATEGORY) for r in csv.DictReader(f)
                    if r["file"].startswith("garments/")}
    names = [n for n in names if rows.get(n, DEFAULT_CATEGORY) == category]
    items = []
    for n in names:
        mask = folder / "cloth_mask" / f"{n}.jpg"
        items.append(Item(set_name, n, folder / "garments" / f"{n}.jpg", mask if mask.is_file() else None))
    return items


def upper_garments(folder: Path, set_name: str) -> list[Item]:
    return category_garments(folder, set_name, "upper")


# The LIP labels of a person's own garment of a category: where a person wears one, the
# rendered garment's footprint is compared with it (footprint IoU).
CATEGORY_REGION = {"lower": (Lip.PANTS, Lip.SKIRT), "dress": (Lip.DRESS,)}
OWN_GARMENT_SHARE = 0.02    # of the parse: a person "wears" the category where its labels cover this much


def footprint_iou(footprint: np.ndarray, labels: np.ndarray, region: tuple) -> float | None:
    """IoU of a rendered garment's footprint (> 0.5) with the parse's `region` labels, at the
    footprint's resolution; None where the parse has (almost) none of them."""
    h, w = footprint.shape[:2]
    truth = np.isin(cv2.resize(labels, (w, h), interpolation=cv2.INTER_NEAREST), region)
    if truth.mean() < OWN_GARMENT_SHARE:
        return None
    return mask_iou(footprint > 0.5, truth)


def own_footprint_iou(person: Person, image: np.ndarray, mask, category: str, options, gt_parse) -> dict:
    """{"gt": IoU against the ground-truth parse (photo's centre crop) or None, "chain": IoU
    against the chain's own parse of the working crop or None} of the garment's footprint as
    the warp stage of `category` lays it (the stage `chain.render` runs for it)."""
    if category not in CATEGORY_REGION:
        return {"gt": None, "chain": None}
    options, stage = chain.loaded_stages(options)
    stage = chain.category_stages(stage, category, options.mode)
    framed = chain.frame_person(person, category)
    warped = stage["warp"].warp(framed, [image], [mask], category=category).masks[0]
    region = CATEGORY_REGION[category]
    return {"gt": None if gt_parse is None else footprint_iou(mask_in_centre_crop(framed, warped), gt_parse, region),
            "chain": footprint_iou(warped, framed.parse, region)}


def person_items(folder: Path, set_name: str) -> list[Item]:
    folder = Path(folder)
    return [Item(set_name, p.stem, p, parse=folder / "parse" / f"{p.stem}.png")
            for p in sorted((folder / "persons").glob("*.jpg"))]


def _cell(image: np.ndarray, h: int, w: int) -> np.ndarray:
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)


def _text_cell(h: int, w: int, message: str, background=235, colour=(0, 0, 200)) -> np.ndarray:
    cell = np.full((h, w, 3), background, np.uint8)
    per_line = max(8, w // 6)
    for i in range(0, min(len(message), per_line * 8), per_line):
        cv2.putText(cell, message[i:i + per_line], (3, 14 + i // per_line * 12), cv2.FONT_HERSHEY_SIMPLEX, 0.3,
                    colour, 1, cv2.LINE_AA)
    return cell


def _flag(cell: np.ndarray, reasons: list[str]) -> np.ndarray:
    """A flagged composite: red frame, the first reason on a band at the top."""
    cell = cell.copy()
    h, w = cell.shape[:2]
    cv2.rectangle(cell, (0, 0), (w - 1, h - 1), (0, 0, 255), 3)
    band = cell[3:17, 3:w - 3]
    band[:] = (band * 0.3 + 255 * 0.7).astype(np.uint8)
    cv2.putText(cell, reasons[0][:max(8, w // 5)], (5, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.28, (0, 0, 200), 1,
                cv2.LINE_AA)
    return cell


def cross_product(persons: list[Item], garments: list[Item], out: Path, options=None, cell_h: int = 192,
                  sheet_cell_h: int = 128, log=print, category: str = DEFAULT_CATEGORY,
                  prepared: dict | None = None) -> dict:
    """Render every person in every garment (all of `category`) through models.chain; count
    and record what happened to each pair; write the contact sheets (all persons, and one per
    person set: garments along the top, persons down the left; flagged pairs framed in red with
    their first reason, refused ones grey with the reason, crashes black): cross_product*.png
    and .json for upper garments, cross_product_<category>*.png / .json for the others. Lower
    garments and dresses also get the footprint IoU against the person's own garment of the
    category (`own_footprint_iou`). `prepared`: {person label: Person or error}, shared
    between categories (pose and parsing run once per person)."""
    out = Path(out)
    name = "cross_product" if category == DEFAULT_CATEGORY else f"cross_product_{category}"
    prepared = {} if prepared is None else prepared
    out.mkdir(parents=True, exist_ok=True)
    loaded = []
    for g in garments:
        image = cv2.imread(str(g.image), cv2.IMREAD_COLOR)
        mask = cv2.imread(str(g.mask), cv2.IMREAD_GRAYSCALE) if g.mask else None
        loaded.append((g, image, mask))
    pairs, cells = [], {}
    counts = {"pairs": 0, "rendered": 0, "flagged": 0, "refused": 0, "crashed": 0}
    refused_by: dict[str, int] = {}
    flagged_by: dict[str, int] = {}
    person_seconds, pair_seconds = [], []
    for p in persons:
        photo = cv2.imread(str(p.image), cv2.IMREAD_COLOR)
        t0 = time.perf_counter()
        if p.label not in prepared:
            try:
                prepared[p.label] = (chain.prepare_person(photo, options, name=f"persons/{p.name}.jpg"), None)
            except BadInputError as exc:
                prepared[p.label] = (None, ("refused", str(exc)))
            except Exception as exc:  # noqa: BLE001 — a crash is what the count is for
                prepared[p.label] = (None, ("crashed", f"{type(exc).__name__}: {exc}"))
                log(traceback.format_exc())
        person, person_error = prepared[p.label]
        person_seconds.append(time.perf_counter() - t0)
        gt_parse = None
        if person is not None and category in CATEGORY_REGION and p.parse is not None and p.parse.is_file():
            gt_parse = load_gt_parse(p.parse.parent.parent, p.name, photo.shape[:2])
        crop = photo if person is None else photo[person.crop_box[1]:person.crop_box[3],
                                                  person.crop_box[0]:person.crop_box[2]]
        cells[(p.label, None)] = crop
        for g, image, mask in loaded:
            record = {"person": p.label, "garment": g.label}
            t1 = time.perf_counter()
            if person_error is not None:
                record["status"], record["reason"] = person_error
            else:
                try:
                    composite = chain.render(person, [image], options, garment_masks=[mask],
                                             names=[f"garments/{g.name}.jpg"], category=category)[0]
                    x0, y0, x1, y1 = person.crop_box
                    record["status"] = "rendered"
                    record["qa"] = composite.qa.to_dict()
                    cells[(p.label, g.label)] = composite.image[y0:y1, x0:x1]
                    if category in CATEGORY_REGION:
                        record["footprint_iou"] = own_footprint_iou(person, image, mask, category, options, gt_parse)
                except BadInputError as exc:
                    record["status"], record["reason"] = "refused", str(exc)
                except Exception as exc:  # noqa: BLE001
                    record["status"], record["reason"] = "crashed", f"{type(exc).__name__}: {exc}"
                    log(traceback.format_exc())
            record["seconds"] = round(time.perf_counter() - t1, 4)
            pair_seconds.append(record["seconds"])
            counts["pairs"] += 1
            if record["status"] == "rendered":
                counts["rendered"] += 1
                if record["qa"]["status"] != "ok":
                    counts["flagged"] += 1
                    for r in record["qa"]["reasons"]:
                        key = r.split("(")[0].strip().lstrip("0123456789.% ")
                        flagged_by[key] = flagged_by.get(key, 0) + 1
            else:
                counts[record["status"]] += 1
                if record["status"] == "refused":
                    key = record["reason"].split(": ", 1)[-1]
                    refused_by[key] = refused_by.get(key, 0) + 1
            pairs.append(record)
        log(f"  {p.label}: {sum(1 for r in pairs if r['person'] == p.label and r['status'] == 'rendered')} "
            f"rendered of {len(loaded)}")
    by_pair = {(r["person"], r["garment"]): r for r in pairs}

    def sheet(person_subset: list[Item], h: int) -> np.ndarray:
        w = h * REPR_W // REPR_H
        top = [np.full((h, w, 3), 255, np.uint8)] + [_cell(image, h, w) for _, image, _ in loaded]
        rows = [np.hstack(top)]
        for p in person_subset:
            row = [_cell(cells[(p.label, None)], h, w)]
            for g, _, _ in loaded:
                r = by_pair[(p.label, g.label)]
                if r["status"] == "rendered":
                    c = _cell(cells[(p.label, g.label)], h, w)
                    row.append(c if r["qa"]["status"] == "ok" else _flag(c, r["qa"]["reasons"]))
                elif r["status"] == "refused":
                    row.append(_text_cell(h, w, "refused: " + r["reason"]))
                else:
                    row.append(_text_cell(h, w, "CRASH: " + r["reason"], background=20, colour=(0, 0, 255)))
            rows.append(np.hstack(row))
        return np.vstack(rows)

    cv2.imwrite(str(out / f"{name}.png"), sheet(persons, sheet_cell_h))
    for set_name in dict.fromkeys(p.set for p in persons):
        cv2.imwrite(str(out / f"{name}_{set_name}.png"), sheet([p for p in persons if p.set == set_name], cell_h))
    rendered_seconds = [r["seconds"] for r in pairs if r["status"] == "rendered"]
    ious = {}
    for source in ("gt", "chain"):
        values = [r["footprint_iou"][source] for r in pairs
                  if r.get("footprint_iou") and r["footprint_iou"][source] is not None]
        ious[source] = {"mean": float(np.mean(values)) if values else None, "pairs": len(values),
                        "persons": len({r["person"] for r in pairs if r.get("footprint_iou")
                                        and r["footprint_iou"][source] is not None})}
    result = {
        "category": category,
        "counts": counts,
        "refused_by_reason": dict(sorted(refused_by.items(), key=lambda kv: -kv[1])),
        "flagged_by_reason": dict(sorted(flagged_by.items(), key=lambda kv: -kv[1])),
        "persons": len(persons), "garments": len(loaded),
        "seconds_per_person_median": float(np.median(person_seconds)) if person_seconds else None,
        # the first garment of each person also builds the person's layers (done once per person)
        "seconds_per_pair_median": float(np.median(rendered_seconds)) if rendered_seconds else None,
        "pairs": pairs,
    }
    if category in CATEGORY_REGION:
        # against the person's own garment of the category: the ground-truth parse where the
        # dataset has one, the chain's own parse (no ground truth: a consistency check) otherwise
        result["footprint_iou"] = ious
    (out / f"{name}.json").write_text(json.dumps(result, indent=1))
    return result


def _wild_folder(data: Path) -> Path | None:
    wild = Path(data).parent / "catalogue_wild"
    return wild if (wild / "garments").is_dir() else None


# --- the run ------------------------------------------------------------------------------------
def evaluate_persons(data: Path, options=None) -> dict:
    """Per-person metrics over every case of `data`, through models.chain.prepare_person."""
    per_case: dict[str, dict] = {}
    stages_seen = None
    for name in case_names(data):
        photo = load_photo(data, name)
        person = chain.prepare_person(photo, options, name=f"persons/{name}.jpg")
        stages_seen = person.stages
        seen = framing.reframe(person, centre_crop_box(*photo.shape[:2]))   # the ground truth's frame
        prediction = {"keypoints": seen.keypoints, "parse": seen.parse}
        truth = {"keypoints": load_gt_keypoints(data, name, photo.shape[:2]),
                 "parse": load_gt_parse(data, name, photo.shape[:2])}
        per_case[name] = {metric: fn(prediction[pred_key], truth[gt_key])
                          for metric, (fn, pred_key, gt_key) in METRICS.items()}
    summary = {}
    for metric in METRICS:
        values = [c[metric] for c in per_case.values() if c[metric] is not None]
        summary[metric] = float(np.mean(values)) if values else None
        summary[f"{metric}_cases"] = len(values)
    return {"summary": summary, "per_case": per_case, "stages": stages_seen}


def evaluate(data: Path, out: Path, options=None, wild: Path | None = None,
             person_filter: list[str] | None = None, garment_filter: list[str] | None = None,
             categories: tuple[str, ...] = GARMENT_CATEGORIES, cross_only: bool = False) -> dict:
    """`categories`: whose cross products to run; `cross_only`: skip the per-person and paired
    metrics (the cross products alone, e.g. of one category after a change to it)."""
    options = options or ChainOptions()
    result = {"data": str(data), "chain": options.fingerprint()}
    if not cross_only:
        result.update(_dataset_metrics(data, out, options))
    out.mkdir(parents=True, exist_ok=True)
    # every person × every garment of each category, of this dataset and the wild catalogue
    persons = person_items(data, "tryon") + (person_items(wild, "wild") if wild is not None else [])
    if person_filter:
        persons = [p for p in persons if p.name in person_filter or p.label in person_filter]
    prepared: dict = {}
    for category in categories:
        garments = category_garments(data, "tryon", category)
        if wild is not None:
            garments += category_garments(wild, "wild", category)
        if garment_filter:
            garments = [g for g in garments if g.name in garment_filter or g.label in garment_filter]
        if not garments:
            continue
        cross = cross_product(persons, garments, out, options, category=category, prepared=prepared)
        key = "cross_product" if category == DEFAULT_CATEGORY else f"cross_product_{category}"
        result[key] = {k: v for k, v in cross.items() if k != "pairs"}
    name = "metrics.json" if not cross_only else f"metrics_{'_'.join(categories)}.json"
    (out / name).write_text(json.dumps(result, indent=2))
    return result


def _dataset_metrics(data: Path, out: Path, options) -> dict:
    """The dataset's own figures: per-person metrics, the paired cases (own and GT person),
    the framing per category, the contact sheet."""
    result = {}
    persons = evaluate_persons(data, options)
    result.update(persons["summary"])
    result["per_case"] = persons["per_case"]
    result["stages"] = persons["stages"]
    pairs = evaluate_pairs(data, options)
    result.update(pairs["summary"])
    result["paired_cases"] = pairs["per_case"]
    # the garment side alone: the same pairs on the GT pose and parse
    gt_pairs = evaluate_pairs(data, options, ground_truth_person=True)
    result.update({f"{k}_gt_person": v for k, v in gt_pairs["summary"].items()})
    result["paired_cases_gt_person"] = gt_pairs["per_case"]
    framed = evaluate_framing(framing_data_dirs(data), options)
    result["framing"] = framed["summary"]
    result["framing_per_person"] = framed["per_person"]
    contact_sheet(data, out / "contact_sheet.png", options)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="dataset folder (persons/, parse/, pose_json/, ...)")
    parser.add_argument("out", type=Path, help="output folder for metrics.json")
    parser.add_argument("--wild", type=Path, default=None,
                        help="a catalogue folder (garments/, persons/, manifest.csv) whose persons and upper "
                             "garments join the cross product (default: catalogue_wild beside DATA, if present)")
    parser.add_argument("--persons", default="", help="comma-separated person names: only these in the cross product")
    parser.add_argument("--garments", default="", help="comma-separated garment names: only these in the cross product")
    parser.add_argument("--categories", default=",".join(GARMENT_CATEGORIES),
                        help="comma-separated garment categories whose cross products run (default: all)")
    parser.add_argument("--cross-only", action="store_true",
                        help="only the cross products (no per-person or paired metrics): metrics_<categories>.json")
    args = parser.parse_args(argv)
    categories = tuple(c for c in args.categories.split(",") if c)
    unknown = [c for c in categories if c not in GARMENT_CATEGORIES]
    if unknown:
        parser.error(f"--categories: unknown {', '.join(unknown)} (expected {', '.join(GARMENT_CATEGORIES)})")
    # The geometric chain unless TRYON_CHAIN names another (the seed's weights are rarely here).
    options = ChainOptions(mode=os.environ.get("TRYON_CHAIN") or "geometric")
    wild = args.wild if args.wild is not None else _wild_folder(args.data)
    result = evaluate(args.data, args.out, options, wild=wild,
                      person_filter=[s for s in args.persons.split(",") if s],
                      garment_filter=[s for s in args.garments.split(",") if s], categories=categories,
                      cross_only=args.cross_only)
    print(json.dumps({k: v for k, v in result.items() if k not in ("per_case", "framing_per_person")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
