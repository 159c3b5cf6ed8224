"""`make bench` / `python -m bench [--quick] [--out bench.json]`: see bench/__init__.py."""
from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path

from bench import harness


def _section(name: str, fn, results: dict, log) -> None:
    """Run one bench part; a part that cannot run is recorded with its reason, not fatal."""
    log(f"\n== {name} ==")
    t0 = time.perf_counter()
    try:
        results[name] = fn()
    except Exception as exc:  # noqa: BLE001 — the other parts still run and are reported
        traceback.print_exc()
        results[name] = {"error": f"{type(exc).__name__}: {exc}"}
    log(f"   ({time.perf_counter() - t0:.0f} s)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    ap.add_argument("--out", default="bench.json", help="where to write the JSON results")
    ap.add_argument("--reps", type=int, default=5, help="timed repetitions per stage (median reported)")
    ap.add_argument("--threads", type=int, default=harness.usable_cores(),
                    help="threads for in-process timings (default: usable cores)")
    ap.add_argument("--customers", type=int, default=4, help="batch bench: customers (N)")
    ap.add_argument("--garments", type=int, default=16, help="batch bench: garments (M)")
    ap.add_argument("--sample-pairs", type=int, default=4,
                    help="pairs timed for the one-process-per-pair baseline (its rate per pair is flat)")
    ap.add_argument("--pair-persons", type=int, default=3, help="pair part: persons (shared photos, largest first)")
    ap.add_argument("--pair-garments", type=int, default=8, help="pair part: garments (one render batch of them)")
    ap.add_argument("--quick", action="store_true", help="2 reps, 2×4 pairs: a smoke run, not for figures")
    ap.add_argument("--only", default="pair,onnx,precision,stages,batch",
                    help="comma-separated parts to run: pair, onnx, precision, stages, batch")
    args = ap.parse_args(argv)
    if args.quick:
        args.reps, args.customers, args.garments, args.sample_pairs = 2, 2, 4, 2
        args.pair_persons, args.pair_garments = 1, 4
    parts = set(args.only.split(","))

    log = lambda *a: print(*a, flush=True)  # noqa: E731
    harness.set_threads(args.threads)
    results: dict = {"machine": harness.machine_info(), "versions": harness.versions(),
                     "settings": {"reps": args.reps, "threads": args.threads, "quick": args.quick}}
    log(f"bench on {results['machine']['cpu']} — {results['machine']['usable_cores']} usable cores, "
        f"load {results['machine']['load_average_at_start']}")

    if "pair" in parts:  # first: one thread, before the parts that load the big networks
        from bench.pair import bench_pair
        _section("pair", lambda: bench_pair(args.reps, args.pair_persons, args.pair_garments, log=log), results, log)
    if "onnx" in parts:
        from bench.onnx_nets import bench_onnx
        _section("onnx", lambda: bench_onnx(args.reps, args.threads, log=log), results, log)
    if "precision" in parts:
        from bench.precision import bench_precision
        _section("precision", lambda: bench_precision(args.reps, args.threads, max_pairs=8 if args.quick else 24,
                                                      log=log), results, log)
    if "stages" in parts:
        from bench.stages import bench_stages
        _section("stages_detail", lambda: bench_stages(args.reps, args.threads, onnx_result=results.get("onnx"), log=log), results, log)
    if "batch" in parts:
        from bench.batch import bench_batch
        _section("batch", lambda: bench_batch(args.customers, args.garments, args.sample_pairs,
                                              args.threads, log=log), results, log)

    results["machine"]["load_average_at_end"] = harness.load_average()
    from bench.report import summarise, table
    results.update(summarise(results))
    Path(args.out).write_text(json.dumps(results, indent=2, default=str))
    log("\n" + table(results))
    log(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
