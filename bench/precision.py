"""The seed GMM and TOM in int8 (and bf16 where this onnxruntime can run it) next to fp32, at
their real size with random weights: speed at batch 4, and the error of the 256×192 composite
against fp32 (max |Δ|, SSIM) on pairs the calibration did not use.

Calibration: the shared photos (../shared/data/tryon, or $TRYON_DATA) through the seed chain's own
preprocessing (models/seed/calibration.py), or the synthetic set where they are absent (then
recorded as such). The int8 files are derived into the bench folder beside the fp32 builds,
named by their checksum, and reused by later runs calibrated on the same set.

With random weights the error only shows that the int8 path works, not what the trained
weights will do: fp32 stays the default; `python -m tools.seed_precision` measures it on the
real weights and the user's photos.
"""
from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

import numpy as np

from bench.harness import load_average
from bench.onnx_nets import REPO, _tom_inputs, built_nets, random_inputs

DATA_DIR = Path(os.environ.get("TRYON_DATA") or REPO.parent / "shared" / "data" / "tryon")
RANDOM_WEIGHTS_NOTE = ("random weights: this error only shows that the int8 path works, not what trained "
                       "weights will do; fp32 stays the default (check yours: python -m tools.seed_precision)")


def calibration_set(data: Path = DATA_DIR, log=print):
    from models.seed import calibration

    if (Path(data) / "persons").is_dir():
        return calibration.read_folder(data)
    log(f"  {data} absent: int8 calibrated on the synthetic set (the error figures then say little)")
    return calibration.synthetic(4, 6)


def derive(paths: dict, cal, log=print) -> dict:
    """The int8 GMM (from the custom-Correlation file, as the chain loads it) and TOM, made or
    found; made again where a found file was calibrated on another set."""
    from models.onnx.precision import describe, find_derived
    from models.seed import calibration

    out = {}
    for net, make in (("gmm", lambda force: calibration.gmm_int8(paths["gmm_custom"], cal, force=force)),
                      ("tom", lambda force: calibration.tom_int8(paths["tom"], cal, gmm=paths["gmm_custom"],
                                                                 force=force))):
        source = paths["gmm_custom" if net == "gmm" else "tom"]
        found = find_derived(source)
        force = bool(found) and cal.describe() not in describe(found).get("calibration", "")
        t0 = time.perf_counter()
        path = make(force)
        made = found is None or force
        out[net] = {"path": str(path), "size_mb": round(path.stat().st_size / 1e6, 1), "made": made,
                    "seconds": round(time.perf_counter() - t0, 1) if made else None, **describe(path)}
        log(f"  int8 {net.upper()}: {path.name} ({out[net]['size_mb']} MB, "
            f"{'made in %.0f s' % out[net]['seconds'] if made else 'found'}); calibration {out[net]['calibration']}")
    return out


def time_nets(files: dict, threads: int, batch: int, reps: int, log=print) -> list[dict]:
    """Per (net, precision): median ms per pair at `batch`, interleaved repetitions (a load burst
    from other processes hits every configuration alike)."""
    from models.onnx.runner import OnnxNet

    rng = np.random.default_rng(0)
    feeds = {"gmm": random_inputs("gmm", batch, rng), "tom": _tom_inputs(files[("tom", "fp32")],
                                                                         random_inputs("tom", batch, rng))}
    nets = {key: OnnxNet(str(path), engine="onnxruntime", threads=threads) for key, path in files.items()}
    for (net, _), n in nets.items():
        n.forward(feeds[net])  # warm-up
    samples: dict = {key: [] for key in nets}
    cpu: dict = {key: [] for key in nets}
    load_before = load_average()
    for _ in range(max(1, reps)):
        for key, n in nets.items():
            c0, t0 = time.thread_time(), time.perf_counter()
            n.forward(feeds[key[0]])
            samples[key].append(time.perf_counter() - t0)
            cpu[key].append(time.thread_time() - c0)
    rows = []
    for (net, prec), times in samples.items():
        row = {"net": net, "precision": prec, "threads": threads, "batch": batch, "reps": len(times),
               "per_pair_ms": statistics.median(times) * 1000 / batch, "min_per_pair_ms": min(times) * 1000 / batch,
               "load_average": [load_before, load_average()]}
        if threads == 1:
            # With one intra-op thread onnxruntime computes in the calling thread: its CPU time
            # is the net's cost without the waits other processes on the cores add to wall time.
            row["cpu_per_pair_ms"] = statistics.median(cpu[(net, prec)]) * 1000 / batch
        rows.append(row)
    fp32 = {r["net"]: r for r in rows if r["precision"] == "fp32"}
    for r in rows:
        r["speedup_vs_fp32"] = fp32[r["net"]]["per_pair_ms"] / r["per_pair_ms"]
        if "cpu_per_pair_ms" in r:
            r["cpu_speedup_vs_fp32"] = fp32[r["net"]]["cpu_per_pair_ms"] / r["cpu_per_pair_ms"]
        log(f"  {r['net'].upper():3s} {r['precision']:4s} {threads} thread(s) batch {batch}: {r['per_pair_ms']:7.1f} ms/pair "
            f"(min {r['min_per_pair_ms']:.1f})  ×{r['speedup_vs_fp32']:.2f} vs fp32"
            + (f"; CPU {r['cpu_per_pair_ms']:.1f} ms/pair, ×{r['cpu_speedup_vs_fp32']:.2f}" if "cpu_per_pair_ms" in r else ""))
    return rows


def composite_error(paths: dict, cal, max_pairs: int, log=print) -> dict:
    """fp32 vs int8 through the chain's seed warp + render stages on pairs the calibration did not use."""
    from tools.seed_precision import compare, spread_pairs

    used = set(cal.pairs)
    candidates = spread_pairs(len(cal.persons), len(cal.garments), max_pairs + len(used))
    pairs = [pg for pg in candidates if pg not in used][:max_pairs] or list(cal.pairs)[:max_pairs]
    result = compare(paths["gmm_custom"], paths["tom"], "int8", list(cal.persons), list(cal.garments),
                     list(cal.masks), pairs)
    error = {k: result[k] for k in ("pairs", "max_abs", "max_abs_median", "ssim_min", "ssim_mean")}
    error["held_out"] = all(pg not in used for pg in pairs)
    error["chain_ms_per_pair"] = result["ms_per_pair"]
    error["note"] = RANDOM_WEIGHTS_NOTE
    log(f"  composite 256×192, int8 vs fp32 on {error['pairs']} held-out pairs: max|Δ| {error['max_abs']:.3f} "
        f"(median {error['max_abs_median']:.3f}), SSIM min {error['ssim_min']:.4f} mean {error['ssim_mean']:.4f}")
    log(f"  ({RANDOM_WEIGHTS_NOTE})")
    return error


def bench_precision(reps: int, threads: int, width: int = 64, folder: Path | None = None, batch: int = 4,
                    max_pairs: int = 24, data: Path = DATA_DIR, log=print) -> dict:
    from models.onnx.precision import INT8_RECIPE, bf16_unavailable, cpu_bf16_flags

    paths = built_nets(width, folder)
    cal = calibration_set(data, log)
    result = {"width": width, "calibration": cal.describe(), "recipe": INT8_RECIPE, "note": RANDOM_WEIGHTS_NOTE}
    result["files"] = derive(paths, cal, log)
    reason = bf16_unavailable()
    result["bf16"] = {"available": reason is None, "reason": reason, "cpu_flags": cpu_bf16_flags()}
    log(f"  bf16: {reason or 'available'}")
    files = {("gmm", "fp32"): paths["gmm_rewritten"], ("gmm", "int8"): Path(result["files"]["gmm"]["path"]),
             ("tom", "fp32"): paths["tom"], ("tom", "int8"): Path(result["files"]["tom"]["path"])}
    result["runs"] = []
    for t in sorted({1, threads}):
        result["runs"] += time_nets(files, t, batch, reps, log)
    result["composite_error"] = composite_error(paths, cal, max_pairs, log)
    return result
