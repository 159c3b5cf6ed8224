"""Garment matte evaluation: IoU against the shared cloth masks, on white-on-white variants
synthesised from them, and contact sheets to judge by eye.

    python -m tools.eval_matte DATA OUT [--wild DIR] [--sets real,synthetic,wild]

DATA: a folder in the layout of shared/data/tryon (garments/*.jpg, cloth_mask/*.jpg);
--wild: a folder of garment photos without ground truth (default: DATA/../catalogue_wild/garments).
Writes OUT/matte_metrics.json and contact sheets of 12 garments each (photo | garment over
magenta): OUT/matte_real_NN.png, OUT/matte_synthetic_NN.png, OUT/matte_wild_NN.png.

Synthetic set (white-on-white): every garment of DATA recoloured to white, cream and light grey
keeping its shading (Lab: the luminance detail around the garment's mean is kept and shifted
to the target lightness; chroma set to the target's, with a little of the original's detail),
composited with its ground-truth mask (slightly blurred) as alpha over a white and a
light-grey backdrop with a soft drop shadow and a mild vignette, plus sensor noise and JPEG.
Colours are nominal (named colours in Lab), geometry is relative to the garment's size:
nothing is fitted to the dataset.
"""
from __future__ import annotations

import functools

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from models.contract import BadInputError
from models.garment_matte import garment_matte as _garment_matte
from models.geometric.blazeface import BlazeFace


@functools.lru_cache(maxsize=1)
def _faces():
    return BlazeFace.load().detect


def garment_matte(image, name):
    """The matte as the geometric chain runs it (BlazeFace for the worn-garment refusal)."""
    return _garment_matte(image, name, find_faces=_faces())

TARGET_MEAN, TARGET_WORST = 0.95, 0.90

# Nominal garment colours (CIE Lab) and backdrops (sRGB 0–255).
GARMENT_COLOURS = {"white": (94.0, 0.0, 0.0), "cream": (92.0, 1.5, 10.0), "lightgrey": (78.0, 0.0, 0.0)}
BACKDROPS = {"white": (255, 255, 255), "lightgrey": (230, 230, 230)}
SHADOW_STRENGTH = 0.25        # darkening under the full shadow
SHADOW_OFFSET = (0.012, 0.018)  # (x, y) as a fraction of the garment's height
SHADOW_BLUR = 0.02            # Gaussian sigma, fraction of the garment's height
VIGNETTE = 0.04               # darkening at the corners
NOISE = 1.0                   # sensor noise, sRGB levels
JPEG_QUALITY = 92


# --- dataset ----------------------------------------------------------------------------------
def load_pairs(data: Path) -> list[tuple[str, np.ndarray, np.ndarray]]:
    out = []
    for path in sorted((data / "garments").glob("*.jpg")):
        mask_path = data / "cloth_mask" / path.name
        if not mask_path.is_file():
            continue
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        mask = cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE)
        if mask.shape != image.shape[:2]:
            mask = cv2.resize(mask, image.shape[1::-1], interpolation=cv2.INTER_LINEAR)
        out.append((path.stem, image, mask >= 128))
    return out


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


# --- white-on-white synthesis ----------------------------------------------------------------
def recolour(image_bgr: np.ndarray, mask: np.ndarray, target_lab) -> np.ndarray:
    """The garment in another colour with its shading: Lab luminance detail kept (shifted to
    the target lightness, soft-limited so highlights do not all clip), chroma of the target
    plus a fraction of the original chroma detail."""
    lab = cv2.cvtColor(image_bgr.astype(np.float32) / 255.0, cv2.COLOR_BGR2Lab)
    inside = mask > 0
    L, a, b = lab[:, :, 0], lab[:, :, 1], lab[:, :, 2]
    detail = L - float(np.median(L[inside]))
    tl, ta, tb = target_lab
    room_up, room_down = 100.0 - tl, tl
    up = room_up * np.tanh(np.maximum(detail, 0) / max(room_up, 1e-3))
    down = room_down * np.tanh(np.minimum(detail, 0) / room_down)
    out = np.stack([tl + up + down, ta + 0.3 * (a - float(np.median(a[inside]))),
                    tb + 0.3 * (b - float(np.median(b[inside])))], axis=2).astype(np.float32)
    bgr = cv2.cvtColor(out, cv2.COLOR_Lab2BGR)
    return np.clip(bgr * 255.0, 0, 255).astype(np.float32)


def synthesise(image_bgr: np.ndarray, mask: np.ndarray, colour: str, backdrop: str,
               seed: int = 0) -> np.ndarray:
    h, w = mask.shape
    ys = np.nonzero(mask.any(axis=1))[0]
    gh = float(ys[-1] - ys[0] + 1) if len(ys) else float(h)
    alpha = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), max(0.5, 0.001 * gh))
    garment = recolour(image_bgr, mask, GARMENT_COLOURS[colour])
    # backdrop with a vignette
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r2 = ((xx - w / 2) / (w / 2)) ** 2 + ((yy - h / 2) / (h / 2)) ** 2
    back = np.array(BACKDROPS[backdrop], np.float32)[None, None, :] * (1 - VIGNETTE * r2 / 2)[:, :, None]
    # drop shadow: the garment's alpha shifted down-right and blurred
    dx, dy = SHADOW_OFFSET[0] * gh, SHADOW_OFFSET[1] * gh
    shifted = cv2.warpAffine(mask.astype(np.float32), np.float32([[1, 0, dx], [0, 1, dy]]), (w, h))
    shadow = cv2.GaussianBlur(shifted, (0, 0), SHADOW_BLUR * gh)
    back = back * (1 - SHADOW_STRENGTH * shadow)[:, :, None]
    out = garment * alpha[:, :, None] + back * (1 - alpha[:, :, None])
    rng = np.random.default_rng(seed)
    out = out + rng.normal(0, NOISE, out.shape).astype(np.float32)
    out = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


def synthetic_pairs(pairs):
    for i, (name, image, mask) in enumerate(pairs):
        for colour in GARMENT_COLOURS:
            for backdrop in BACKDROPS:
                yield f"{name}-{colour}-on-{backdrop}", synthesise(image, mask, colour, backdrop, seed=i), mask


# --- running and sheets ----------------------------------------------------------------------
def run_matte(name: str, image: np.ndarray):
    t0 = time.perf_counter()
    try:
        matte = garment_matte(image, name)
        error = None
    except BadInputError as exc:
        matte, error = None, str(exc)
    return matte, error, time.perf_counter() - t0


def tile(image: np.ndarray, matte, error: str | None, label: str, size=(360, 270)) -> np.ndarray:
    """The photo and, beside it, the garment over magenta through its alpha (a halo of the
    catalogue background shows as a light rim, a missed part as magenta), with its name and
    confidence; a refusal shows the photo crossed out with the reason."""
    th, tw = size
    h, w = image.shape[:2]
    s = min(th / h, tw / w)
    nh, nw = max(1, int(h * s)), max(1, int(w * s))
    img = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA).astype(np.float32)
    oy, ox = (th - nh) // 2, (tw - nw) // 2
    photo = np.full((th, tw, 3), 255, np.float32)
    photo[oy:oy + nh, ox:ox + nw] = img
    canvas = np.zeros((th, tw, 3), np.float32)
    canvas[:] = (255, 0, 255)
    if matte is not None:
        a = cv2.resize(matte.alpha, (nw, nh), interpolation=cv2.INTER_AREA)[:, :, None]
        canvas[oy:oy + nh, ox:ox + nw] = img * a + canvas[oy:oy + nh, ox:ox + nw] * (1 - a)
        text = f"{label} c={matte.confidence:.2f}"
    else:
        canvas[oy:oy + nh, ox:ox + nw] = img * 0.4 + 255 * 0.6
        cv2.line(canvas, (0, 0), (tw - 1, th - 1), (0, 0, 255), 2)
        cv2.line(canvas, (tw - 1, 0), (0, th - 1), (0, 0, 255), 2)
        text = f"{label} REFUSED"
    out = np.hstack([photo, canvas]).astype(np.uint8)
    cv2.rectangle(out, (0, 0), (out.shape[1] - 1, th - 1), (90, 90, 90), 1)
    cv2.putText(out, text[:60], (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(out, text[:60], (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    if error:
        reason = error.split(":", 1)[-1].strip()
        for k, start in enumerate(range(0, min(len(reason), 150), 75)):
            cv2.putText(out, reason[start:start + 75], (4, th - 24 + 14 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                        (0, 0, 160), 1, cv2.LINE_AA)
    return out


def sheet(tiles: list[np.ndarray], cols: int) -> np.ndarray:
    if not tiles:
        return np.zeros((10, 10, 3), np.uint8)
    blank = np.full_like(tiles[0], 40)
    tiles = tiles + [blank] * ((-len(tiles)) % cols)
    rows = [np.hstack(tiles[i:i + cols]) for i in range(0, len(tiles), cols)]
    return np.vstack(rows)


def write_sheets(tiles: list[np.ndarray], out: Path, stem: str, cols: int, per_sheet: int) -> list[str]:
    """Contact sheets of `per_sheet` tiles each (large enough to judge a matte by eye)."""
    names = []
    for k, start in enumerate(range(0, len(tiles), per_sheet)):
        name = f"{stem}_{k + 1:02d}.png"
        cv2.imwrite(str(out / name), sheet(tiles[start:start + per_sheet], cols))
        names.append(name)
    return names


def evaluate_set(cases, out: Path, sheet_name: str, cols: int, log=print, per_sheet: int = 12) -> dict:
    ious, times, tiles, per = [], [], [], {}
    for name, image, truth in cases:
        matte, error, seconds = run_matte(name, image)
        times.append(seconds)
        score = iou(matte.mask > 0, truth) if (matte is not None and truth is not None) else 0.0
        if truth is not None:
            ious.append(score)
        per[name] = {"iou": None if truth is None else round(score, 4), "seconds": round(seconds, 3),
                     "confidence": None if matte is None else round(matte.confidence, 3), "refused": error}
        label = name if truth is None else f"{name} {score:.3f}"
        tiles.append(tile(image, matte, error, label))
        log(f"  {name:40s} {'' if truth is None else f'IoU {score:.3f}':10s} {seconds * 1000:6.0f} ms"
            f"{'  REFUSED: ' + error if error else f'  conf {matte.confidence:.2f}'}")
    sheets = write_sheets(tiles, out, sheet_name, cols, per_sheet)
    summary = {"sheets": sheets, "count": len(per), "refused": sum(1 for v in per.values() if v["refused"]),
               "seconds_mean": round(float(np.mean(times)), 3) if times else None,
               "seconds_max": round(float(np.max(times)), 3) if times else None, "cases": per}
    if ious:
        worst = int(np.argmin(ious))
        summary.update(mean_iou=round(float(np.mean(ious)), 4), worst_iou=round(float(np.min(ious)), 4),
                       worst_case=[n for n, v in per.items() if v["iou"] is not None][worst],
                       meets_target=bool(np.mean(ious) >= TARGET_MEAN and np.min(ious) >= TARGET_WORST))
    return summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--wild", type=Path, default=None)
    parser.add_argument("--sets", default="real,synthetic,wild")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    wanted = set(args.sets.split(","))
    pairs = load_pairs(args.data)
    if not pairs and wanted & {"real", "synthetic"}:
        print(f"no garments with cloth masks under {args.data}", file=sys.stderr)
        return 2
    results = {}
    if "real" in wanted:
        print("real set")
        results["real"] = evaluate_set(pairs, args.out, "matte_real", 3)
    if "synthetic" in wanted:
        print("synthetic white-on-white set")
        results["synthetic"] = evaluate_set(list(synthetic_pairs(pairs)), args.out, "matte_synthetic", 3)
    if "wild" in wanted:
        wild = args.wild or (args.data.parent / "catalogue_wild" / "garments")
        cases = [(p.stem, cv2.imread(str(p), cv2.IMREAD_COLOR), None) for p in sorted(wild.glob("*.jpg"))]
        if cases:
            print(f"wild set ({wild})")
            results["wild"] = evaluate_set(cases, args.out, "matte_wild", 3)
    (args.out / "matte_metrics.json").write_text(json.dumps(results, indent=1))
    for key, r in results.items():
        line = f"{key:10s} n={r['count']} refused={r['refused']} time mean {r['seconds_mean']}s max {r['seconds_max']}s"
        if "mean_iou" in r:
            line += f"  IoU mean {r['mean_iou']:.4f} worst {r['worst_iou']:.4f} ({r['worst_case']})"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
