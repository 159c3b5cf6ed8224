"""Evaluate the chain on a dataset in the layout of shared/data/tryon.

    python -m tools.evaluate DATA OUT        (make eval DATA=DIR OUT=DIR)

writes OUT/metrics.json. Everything runs through models.chain (the stages it picks for
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
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import cv2
import numpy as np

from models import chain
from models.contract import REPR_H, REPR_W, BadInputError, ChainOptions, Person
from models.crop import centre_crop_box
from models.labels import HEAD, Coco, Lip
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


# metric name → (function, which prediction it reads, which ground truth it reads)
METRICS = {
    "pose_pck": (pose_pck, "keypoints", "keypoints"),
    "body_iou": (body_iou, "parse", "parse"),
    "head_iou": (head_iou, "parse", "parse"),
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
        warped = stage["warp"].warp(person, [garment], [mask])
        composite = chain.render(person, [garment], options, garment_masks=[mask])[0]
        gt = load_gt_parse(data, person_name, person.photo.shape[:2])
        per_case[f"{person_name}+{garment_name}"] = {
            "warp_iou": None if gt is None else warp_iou(warped.masks[0], gt),
            "paired_ssim": paired_ssim(composite.image, person.photo, person.crop_box),
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
            x0, y0, x1, y1 = person.crop_box
            row = [fit(photo[y0:y1, x0:x1])]
            for (garment, mask), gname in zip(loaded, garments):
                try:
                    comp = chain.render(person, [garment], options, garment_masks=[mask], names=[gname])[0]
                    cells.append(fit(comp.image[y0:y1, x0:x1]))
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


# --- the run ------------------------------------------------------------------------------------
def evaluate_persons(data: Path, options=None) -> dict:
    """Per-person metrics over every case of `data`, through models.chain.prepare_person."""
    per_case: dict[str, dict] = {}
    stages_seen = None
    for name in case_names(data):
        photo = load_photo(data, name)
        person = chain.prepare_person(photo, options, name=f"persons/{name}.jpg")
        stages_seen = person.stages
        prediction = {"keypoints": person.keypoints, "parse": person.parse}
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


def evaluate(data: Path, out: Path, options=None) -> dict:
    options = options or ChainOptions()
    result = {"data": str(data), "chain": options.fingerprint()}
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
    contact_sheet(data, out / "contact_sheet.png", options)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(result, indent=2))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="dataset folder (persons/, parse/, pose_json/, ...)")
    parser.add_argument("out", type=Path, help="output folder for metrics.json")
    args = parser.parse_args(argv)
    # The geometric chain unless TRYON_CHAIN names another (the seed's weights are rarely here).
    options = ChainOptions(mode=os.environ.get("TRYON_CHAIN") or "geometric")
    result = evaluate(args.data, args.out, options)
    print(json.dumps({k: v for k, v in result.items() if k != "per_case"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
