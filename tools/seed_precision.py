"""Check the seed GMM/TOM in int8 (or bf16) against fp32 on your own photos before switching.

    python -m tools.seed_precision [--gmm GMM.onnx] [--tom TOM.onnx] [--precision int8]
        [--calibration DIR] [--pose-json DIR] [--parse DIR] [--max-pairs N] [--out DIR] [--force]
        PHOTOS GARMENTS

Makes the int8 files if they do not exist yet (beside the fp32 files, named by their checksum:
what TRYON_ONNX_PRECISION=int8 then loads), renders every person in PHOTOS with garments of
GARMENTS through the chain's seed warp and render stages twice — fp32 and the other precision
— and prints, per pair and overall, max |Δ| and SSIM of the 256×192 try-on composites, and the
time per pair of each. --out writes the worst pairs side by side (fp32 | int8 | 10×|Δ|).

Networks: --gmm/--tom, default the published files in the weights folder (`make models`).
Persons: a photo's pose and parse are read from --pose-json DIR (NAME_keypoints.json, OpenPose
COCO-18 or BODY_25) and --parse DIR (NAME.png, LIP label ids) — by default the `pose_json/`
and `parse/` folders beside PHOTOS, as in shared/data/tryon — else computed by the chain's pose
and parsing stages (TRYON_CHAIN). Garment masks: `cloth_mask/` beside GARMENTS where present.
Calibration (only when the int8 files are made): --calibration DIR (the layout of
shared/data/tryon), else PHOTOS + GARMENTS themselves (each person with 2 garments; those
pairs are marked in the output, the others are held out). Exit code 2 with one line on stderr
for a missing file or a precision this onnxruntime cannot run (bf16 on x86: see
models/onnx/precision.py).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from models import chain
from models.contract import BadInputError, ChainOptions, Person
from models.onnx.precision import PRECISIONS, check_precision, describe
from models.onnx.runner import configured_engine
from models.seed import calibration
from models.seed.gmm import GMM, GMM_ONNX, GmmWarp
from models.seed.tom import TOM, TOM_ONNX, TomRenderer
from models.weights import MissingWeightsError, resolve
from tools.evaluate import ssim

EXIT_ERROR = 2


# --- inputs -------------------------------------------------------------------------------------
def read_persons(photos: Path, pose_dir: Path | None, parse_dir: Path | None, log=print) -> list[tuple[str, Person]]:
    """(name, Person) per photo: pose/parse from the given folders where both files exist, else
    the chain's pose and parsing stages. Photos the chain finds no person in are left out."""
    paths = calibration.images_in(photos) if photos.is_dir() else [photos]
    if not paths:
        raise FileNotFoundError(f"{photos}: no photos (.jpg, .jpeg, .png)")
    persons = []
    for path in paths:
        pose = pose_dir / f"{path.stem}_keypoints.json" if pose_dir else None
        parse = parse_dir / f"{path.stem}.png" if parse_dir else None
        try:
            if pose is not None and parse is not None and pose.is_file() and parse.is_file():
                persons.append((path.name, calibration.person_from_files(path, pose, parse)))
            else:
                persons.append((path.name, chain.prepare_person(calibration.read_image(path), name=str(path))))
        except (BadInputError, ValueError) as exc:
            log(f"  {path.name}: left out ({exc})")
    return persons


def read_garments(garments: Path) -> tuple[list[str], list[np.ndarray], list[np.ndarray | None]]:
    masks = garments.parent / "cloth_mask" if garments.is_dir() else None
    if garments.is_dir():
        paths, images, given = calibration.read_garments(garments, masks if masks and masks.is_dir() else None)
    else:
        paths, images, given = [garments], [calibration.read_image(garments)], [None]
    if not paths:
        raise FileNotFoundError(f"{garments}: no garment photos (.jpg, .jpeg, .png)")
    return [p.name for p in paths], images, given


def spread_pairs(n_persons: int, n_garments: int, limit: int | None) -> list[tuple[int, int]]:
    """Every (person, garment) pair, or `limit` of them spread over both: each next pair is one
    whose person and garment have been used least (deterministic)."""
    pairs = [(p, g) for p in range(n_persons) for g in range(n_garments)]
    if limit is None or len(pairs) <= limit:
        return pairs
    uses_p, uses_g, chosen, left = [0] * n_persons, [0] * n_garments, [], set(pairs)
    for _ in range(limit):
        p, g = min(left, key=lambda pg: (uses_p[pg[0]] + uses_g[pg[1]], uses_g[pg[1]], pg))
        left.discard((p, g))
        uses_p[p] += 1
        uses_g[g] += 1
        chosen.append((p, g))
    return sorted(chosen)


# --- the comparison -----------------------------------------------------------------------------
def stages_for(gmm: Path, tom: Path, precision: str) -> dict:
    return {"warp": GmmWarp(GMM(gmm, precision=precision)), "render": TomRenderer(TOM(tom, precision=precision))}


def render_pairs(stage_objects: dict, persons: list[Person], garments, masks, pairs) -> tuple[dict, float]:
    """{(p, g): 256×192 RGB try-on} for the pairs (one batched render per person), and seconds per pair."""
    out, elapsed = {}, 0.0
    for p in sorted({p for p, _ in pairs}):
        chosen = [g for q, g in pairs if q == p]
        t0 = time.perf_counter()
        composites = chain.render(persons[p], [garments[g] for g in chosen], ChainOptions(mode="seed"),
                                  garment_masks=[masks[g] for g in chosen], stage_objects=stage_objects)
        elapsed += time.perf_counter() - t0
        out.update({(p, g): c.tryon for g, c in zip(chosen, composites)})
    return out, elapsed / max(1, len(pairs))


def compare(gmm: Path, tom: Path, precision: str, persons: list[Person], garments, masks, pairs,
            reference: dict | None = None) -> dict:
    """fp32 vs `precision` on the pairs: per pair max |Δ| and SSIM of the try-on composites, and
    the time per pair of each (first render included: it is the warm-up of both alike)."""
    ref_stages = stages_for(gmm, tom, "fp32")
    test_stages = stages_for(gmm, tom, precision)
    render_pairs(ref_stages, persons, garments, masks, pairs[:1])  # warm-up, both alike
    render_pairs(test_stages, persons, garments, masks, pairs[:1])
    ref, ref_s = render_pairs(ref_stages, persons, garments, masks, pairs)
    out, out_s = render_pairs(test_stages, persons, garments, masks, pairs)
    rows = [{"pair": pg, "max_abs": float(np.abs(ref[pg] - out[pg]).max()), "ssim": ssim(ref[pg], out[pg])}
            for pg in pairs]
    return {"precision": precision, "pairs": len(rows), "rows": rows,
            "max_abs": max(r["max_abs"] for r in rows), "max_abs_median": statistics.median(r["max_abs"] for r in rows),
            "ssim_min": min(r["ssim"] for r in rows), "ssim_mean": float(np.mean([r["ssim"] for r in rows])),
            "ms_per_pair": {"fp32": ref_s * 1000, precision: out_s * 1000},
            "files": {"gmm": test_stages["warp"].gmm.run_path, "tom": test_stages["render"].tom.run_path},
            "composites": {"fp32": ref, precision: out}}


def write_worst(result: dict, out: Path, names: tuple[list[str], list[str]], count: int = 6) -> list[Path]:
    """The `count` pairs of lowest SSIM as PNGs: fp32 | other | 10×|Δ|."""
    out.mkdir(parents=True, exist_ok=True)
    ref, test = result["composites"]["fp32"], result["composites"][result["precision"]]
    written = []
    for row in sorted(result["rows"], key=lambda r: r["ssim"])[:count]:
        p, g = row["pair"]
        a, b = ref[(p, g)], test[(p, g)]
        strip = np.concatenate([a, b, np.clip(10 * np.abs(a - b), 0, 1)], axis=1)
        path = out / f"{Path(names[0][p]).stem}__{Path(names[1][g]).stem}.png"
        cv2.imwrite(str(path), cv2.cvtColor((strip * 255).round().astype(np.uint8), cv2.COLOR_RGB2BGR))
        written.append(path)
    return written


# --- command ------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tools.seed_precision", description=__doc__.splitlines()[0])
    ap.add_argument("photos", type=Path, help="folder of person photos (or one photo)")
    ap.add_argument("garments", type=Path, help="folder of in-shop garment photos (or one)")
    ap.add_argument("--gmm", type=Path, help="fp32 GMM .onnx (default: the published file in the weights folder)")
    ap.add_argument("--tom", type=Path, help="fp32 TOM .onnx (default: the published file in the weights folder)")
    ap.add_argument("--precision", default="int8", choices=[p for p in PRECISIONS if p != "fp32"])
    ap.add_argument("--calibration", type=Path, help="calibration photos in the layout of shared/data/tryon "
                                                     "(default: PHOTOS + GARMENTS)")
    ap.add_argument("--pose-json", type=Path, help="folder of NAME_keypoints.json (default: pose_json/ beside PHOTOS)")
    ap.add_argument("--parse", type=Path, help="folder of NAME.png LIP label ids (default: parse/ beside PHOTOS)")
    ap.add_argument("--max-pairs", type=int, default=120, help="compare at most this many pairs (default 120)")
    ap.add_argument("--out", type=Path, help="write the worst pairs here as fp32 | other | 10×|Δ| PNGs")
    ap.add_argument("--force", action="store_true", help="make the int8 files again (new calibration)")
    ap.add_argument("--quiet", action="store_true", help="summary only, no line per pair")
    args = ap.parse_args(argv)
    log = (lambda *a: None) if args.quiet else print

    try:
        check_precision(args.precision, configured_engine())
        gmm = resolve(GMM_ONNX, args.gmm)
        tom = resolve(TOM_ONNX, args.tom)
        photos_parent = args.photos.parent if args.photos.is_dir() else args.photos.parent.parent
        pose_dir = args.pose_json or photos_parent / "pose_json"
        parse_dir = args.parse or photos_parent / "parse"
        persons = read_persons(args.photos, pose_dir, parse_dir, log=print)
        if not persons:
            raise FileNotFoundError(f"{args.photos}: no usable person photo")
        garment_names, garments, masks = read_garments(args.garments)
        person_names = [n for n, _ in persons]
        people = [p for _, p in persons]

        calibrated_on: set = set()
        if args.precision == "int8":
            if args.calibration:
                cal = calibration.read_folder(args.calibration)
            else:
                cal = calibration.CalibrationSet(tuple(people), tuple(garments), tuple(masks),
                                                 calibration.calibration_pairs(len(people), len(garments)),
                                                 f"{args.photos} + {args.garments}")
                calibrated_on = set(cal.pairs)
            made = []
            files = (calibration.gmm_int8(gmm, cal, force=args.force, log=made.append),
                     calibration.tom_int8(tom, cal, gmm=gmm, force=args.force, log=made.append))
            if not made:
                calibrated_on = set()  # files made earlier, from other photos: every pair is held out
            for path in files:
                meta = describe(path)
                print(f"{path.name}: {'made now' if made else 'found'}; calibration: {meta.get('calibration', '?')}")

        pairs = spread_pairs(len(people), len(garments), args.max_pairs)
        print(f"comparing fp32 and {args.precision} on {len(pairs)} pairs ({len(people)} persons × "
              f"{len(garments)} garments) …", flush=True)
        result = compare(gmm, tom, args.precision, people, garments, masks, pairs)
    except (MissingWeightsError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR

    for row in result["rows"]:
        p, g = row["pair"]
        mark = "  (calibration pair)" if (p, g) in calibrated_on else ""
        log(f"  {person_names[p]:24s} {garment_names[g]:24s} max|Δ| {row['max_abs']:.4f}  SSIM {row['ssim']:.4f}{mark}")
    held = [r for r in result["rows"] if r["pair"] not in calibrated_on]
    ms = result["ms_per_pair"]
    print(f"{args.precision} vs fp32 on {result['pairs']} pairs ({len(held)} not used for calibration): "
          f"max|Δ| {result['max_abs']:.4f} (median {result['max_abs_median']:.4f}), "
          f"SSIM min {result['ssim_min']:.4f} mean {result['ssim_mean']:.4f}; "
          f"warp+render {ms['fp32']:.0f} → {ms[args.precision]:.0f} ms per pair")
    if held and len(held) < len(result["rows"]):
        print(f"held-out pairs only: max|Δ| {max(r['max_abs'] for r in held):.4f}, "
              f"SSIM min {min(r['ssim'] for r in held):.4f}")
    if args.out:
        written = write_worst(result, args.out, (person_names, garment_names))
        print(f"worst {len(written)} pairs (fp32 | {args.precision} | 10×|Δ|) in {args.out}/")
    print(f"To switch: TRYON_ONNX_PRECISION={args.precision} (the workers load the files above). Look at the "
          "worst pairs before switching; fp32 stays the default.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
