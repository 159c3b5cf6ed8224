"""The batch system end to end against its two baselines, 1 vs 2 worker processes, dispatch
overhead and peak RSS per worker.

Real servers (worker.local_stack: redis-server/valkey, SeaweedFS `weed mini`, Celery worker
subprocesses), N customers × M garments uploaded once. Per chain variant:
  geometric         TRYON_CHAIN=geometric (BlazePose, geometric parsing, landmark warp, compositing)
  seed warp+render  geometric pose + parsing (OpenPose/LIP absent) + the seed GMM/TOM at real size
                    with random weights (TRYON_GMM_ONNX/TRYON_TOM_ONNX → bench-out builds)
Per variant and worker layout (1 process × all cores' threads; one process per core × 1 thread):
one forced run (every pair rendered, person cache emptied first), timed from the producer's
start (listing, planning, enqueueing) to the report being written.

dispatch overhead = 1 − model compute / (wall × worker processes), where model compute is what
the workers record per pair (warp, render, paste-back) plus pose+parsing once per computed
customer. The workers' "person" figure also holds the photo's download and decode (it is timed
around them), so overhead is, if anything, slightly understated by it; JPEG encoding, S3
writes, Redis, queueing and idle time count as overhead.
"""
from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

import cv2

from bench.harness import child_pids, peak_rss_mb, usable_cores
from bench.onnx_nets import BENCH_DIR, built_nets
from bench.pairs import load_images, loop_baseline, sample_baseline

BUCKET = "bench"
WARMUP_CUSTOMERS, WARMUP_CATALOGUE = "warmup/customers/", "warmup/catalogue/"


def thread_env(threads: int) -> dict:
    """Every compute pool of a child process to `threads`: OpenCV (its pthreads pool reads
    OPENCV_FOR_THREADS_NUM at start), BLAS/OpenMP, onnxruntime (TRYON_THREADS)."""
    t = str(threads)
    return {"OPENCV_FOR_THREADS_NUM": t, "OMP_NUM_THREADS": t, "OPENBLAS_NUM_THREADS": t,
            "MKL_NUM_THREADS": t, "TRYON_THREADS": t}


def variants(engine: str) -> dict[str, dict]:
    nets = built_nets(64)
    return {
        "geometric": {"TRYON_CHAIN": "geometric"},
        "seed warp+render": {"TRYON_CHAIN": "auto", "TRYON_GMM_ONNX": str(nets["gmm_custom"]),
                             "TRYON_TOM_ONNX": str(nets["tom"]), "TRYON_ONNX_ENGINE": engine},
    }


def write_inputs(folder: Path, persons, garments) -> tuple[list[tuple[str, Path, bytes]], list[tuple[str, Path, bytes]]]:
    """Encode the images once: the same bytes go to the bucket and to the baselines' files."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for kind, items in (("customer", persons), ("garment", garments)):
        rows = []
        for i, (name, image) in enumerate(items):
            ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])
            assert ok
            path = folder / f"{kind}-{i:02d}.jpg"
            path.write_bytes(buf.tobytes())
            rows.append((name, path, buf.tobytes()))
        out.append(rows)
    return out[0], out[1]


def run_report_figures(report: dict, processes: int, wall: float) -> dict:
    """Model compute vs wall from the per-pair timings the workers wrote into report.json."""
    pairs = [p for p in report.get("pairs", []) if p.get("status") == "rendered" and p.get("timings")]
    per_pair = sum(p["timings"].get(k, 0.0) for p in pairs for k in ("warp", "render", "paste_back"))
    person_by_customer: dict[str, float] = {}
    for p in pairs:  # a computed person's seconds are stamped on each pair of its chunk: count once
        person_by_customer[p["customer"]] = max(person_by_customer.get(p["customer"], 0.0),
                                                p["timings"].get("person", 0.0))
    person = sum(person_by_customer.values())
    encode = sum(p["timings"].get("encode", 0.0) for p in pairs)
    compute = per_pair + person
    capacity = wall * processes
    return {"rendered": len(pairs), "failed": len(report.get("failures", [])),
            "compute_s": compute, "person_s": person, "per_pair_compute_s": per_pair, "encode_s": encode,
            "worker_capacity_s": capacity, "dispatch_overhead": max(0.0, 1 - compute / capacity)}


def system_run(stack, storage, client, s, processes: int, threads: int, variant_env: dict, n_pairs: int,
               log) -> dict:
    from producer.enqueue import start_run
    from worker.runs import RunBook, wait_for
    from worker.tasks import send_render

    # No worker runs now: start from an empty Redis (no message left from an earlier run, a
    # cold person cache: every run computes its people).
    client.flushdb()
    env = {**variant_env, **thread_env(threads)}
    name = f"bench{processes}x{threads}"
    worker = stack.start_worker(concurrency=processes, name=name, extra_env=env, timeout=300)
    try:
        # Warm-up: one small run on other photos, so each pool process has made its first
        # forward passes (graph setup) before the timed run, as a long-lived worker has.
        warm = dataclasses.replace(s, customers_prefix=WARMUP_CUSTOMERS, catalogue_prefix=WARMUP_CATALOGUE)
        summary = start_run(storage, client, warm, send_render, force=True)
        wait_for(RunBook(client, summary["run_id"], ttl=s.run_ttl), timeout=900, poll=0.05)
        t0 = time.perf_counter()
        summary = start_run(storage, client, s, send_render, force=True)
        status = wait_for(RunBook(client, summary["run_id"], ttl=s.run_ttl), timeout=1800, poll=0.05)
        wall = time.perf_counter() - t0
        parent_rss = peak_rss_mb(worker.pid)  # the Celery main process: no networks, ~100 MB
        pool = child_pids(worker.pid)
        rss = {pid: peak_rss_mb(pid) for pid in pool}
        rss = {pid: v for pid, v in rss.items() if v is not None}
    finally:
        worker.stop()
        stack.procs.remove(worker)
    report = storage.get_json(f"{s.runs_prefix}{summary['run_id']}/report.json") or {}
    figures = run_report_figures(report, processes, wall)
    stages = {}
    head = storage.head(report["pairs"][0]["composite"]) if report.get("pairs") else None
    if head:
        stages = head["metadata"].get("tryon-stages", "")
    oversubscribed = " (oversubscribed)" if processes * threads > usable_cores() else ""
    row = {"config": f"{processes} process{'es' if processes > 1 else ''} × {threads} thread{'s' if threads > 1 else ''}"
                     + oversubscribed,
           "processes": processes, "threads": threads, "run_id": summary["run_id"], "pairs": n_pairs,
           "wall_s": wall, "pairs_per_s": status["rendered"] / wall, "rendered": status["rendered"],
           "failed": status["failed"], "peak_rss_mb": max(rss.values()) if rss else None,
           "peak_rss_mb_per_process": sorted(rss.values()), "celery_main_process_rss_mb": parent_rss,
           "stages_metadata": stages, **figures}
    log(f"  {row['config']:24s} {row['pairs_per_s']:6.2f} pairs/s  wall {wall:6.1f} s  "
        f"overhead {row['dispatch_overhead']:.1%}  peak RSS {row['peak_rss_mb']} MB  failed {row['failed']}")
    return row


def bench_batch(customers: int, garments: int, sample_pairs: int, threads: int, loop_pairs: int = 16,
                engine: str | None = None, only_variants: list[str] | None = None, log=print) -> dict:
    from worker.local_stack import LocalStack

    from models.onnx.runner import configured_engine
    engine = engine or configured_engine()
    persons = load_images("persons", customers)
    cloth = load_images("garments", garments)
    work = BENCH_DIR / "batch"
    people, items = write_inputs(work / "inputs", persons, cloth)
    all_pairs = [(c[1], g[1]) for c in people for g in items]
    # Baseline pairs spread over customers and garments (their per-pair rate does not depend on M).
    spread = all_pairs[::max(1, len(all_pairs) // max(loop_pairs, 1))][:loop_pairs]
    sample_subset = all_pairs[::max(1, len(all_pairs) // max(sample_pairs, 1))][:sample_pairs]
    inputs_note = "shared test photos" if "/" in persons[0][0] else "demo images (astronaut, drawn T-shirts)"
    result = {"customers": customers, "garments": garments, "pairs": len(all_pairs), "engine": engine,
              "inputs": inputs_note, "photo_sizes": sorted({f"{im.shape[1]}x{im.shape[0]}" for _, im in persons}),
              "runs": [], "baselines": {}}
    chosen = {k: v for k, v in variants(engine).items() if not only_variants or k in only_variants}

    import boto3
    with LocalStack(work / "stack", bucket=BUCKET) as stack:
        # The producer runs in this process: settings come from the stack's environment.
        os.environ.update({k: v for k, v in stack.env.items() if k.startswith(("TRYON_", "AWS_"))})
        import redis
        from worker.config import settings
        from worker.storage import Storage
        s = settings()
        from models import settings as chain_settings
        result["worker_settings"] = {"chunk_size": s.chunk_size, "render_batch": s.render_batch,
                                     "max_net_batch": chain_settings.current().max_net_batch, "onnx_engine": engine,
                                     "jpeg_quality": s.jpeg_quality}
        client = redis.Redis.from_url(s.redis_url)
        storage = Storage.from_settings(s)
        s3 = boto3.client("s3", endpoint_url=stack.s3_endpoint, aws_access_key_id=stack.env["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=stack.env["AWS_SECRET_ACCESS_KEY"], region_name="us-east-1")
        for prefix, rows in ((s.customers_prefix, people), (s.catalogue_prefix, items)):
            for i, (_, _, body) in enumerate(rows):
                s3.put_object(Bucket=BUCKET, Key=f"{prefix}{'c' if prefix == s.customers_prefix else 'g'}{i:02d}.jpg",
                              Body=body, ContentType="image/jpeg")

        # Warm-up inputs: mirrored photos (not in the person cache), one per worker process.
        for i, (_, path, _) in enumerate(people[:max(threads, 1)]):
            ok, buf = cv2.imencode(".jpg", cv2.flip(cv2.imread(str(path)), 1))
            s3.put_object(Bucket=BUCKET, Key=f"{WARMUP_CUSTOMERS}w{i:02d}.jpg", Body=buf.tobytes())
        s3.put_object(Bucket=BUCKET, Key=f"{WARMUP_CATALOGUE}g.jpg", Body=items[0][2])

        for vname, venv in chosen.items():
            log(f" variant {vname}")
            # 1 process × 1 thread (what one more worker process adds is measured against it);
            # 1 process using every core; one process per core (the worker's default); and one
            # per core each with a thread per core (OpenCV's and onnxruntime's own default).
            layouts = ((1, 1), (1, threads), (threads, 1), (threads, threads)) if threads > 1 else ((1, 1),)
            for processes, t in layouts:
                try:
                    row = system_run(stack, storage, client, s, processes, t, venv, len(all_pairs), log)
                except Exception as exc:  # noqa: BLE001 — reported, the other runs go on
                    log(f"  {processes}×{t}: FAILED {type(exc).__name__}: {exc}")
                    row = {"config": f"{processes}×{t}", "error": f"{type(exc).__name__}: {exc}"}
                result["runs"].append({"variant": vname, **row})

            # Baselines on the same machine, same inputs, all cores for the one process.
            base_env = {**{k: v for k, v in os.environ.items() if not k.startswith("TRYON_")}, **venv,
                        **thread_env(threads), "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
            base = {"sample": _baseline("one process per pair", "sample",
                                        lambda: sample_baseline(sample_subset, work / "sample-out", base_env), log)}
            saved = dict(os.environ)
            try:
                os.environ.update(venv)
                base["loop"] = _baseline("in-process loop", "loop",
                                         lambda: _in_process_loop(spread, work / "loop-out", venv), log)
            finally:
                os.environ.clear()
                os.environ.update(saved)
            result["baselines"][vname] = base

    _headline(result)
    return result


def _baseline(what: str, name: str, measure, log=print) -> dict:
    """One baseline's figures, logged; a baseline that fails is recorded with its error."""
    try:
        figures = measure()
    except Exception as exc:  # noqa: BLE001
        log(f"  baseline {name} FAILED: {exc}")
        return {"error": f"{type(exc).__name__}: {exc}"}
    log(f"  baseline {what}: {figures['pairs_per_s']:.3f} pairs/s ({figures['pairs']} pairs, {figures['wall_s']:.1f} s)")
    return figures


def _in_process_loop(pairs, out_dir: Path, venv: dict) -> dict:
    """Baseline (b) in this process; the chain's stage cache is keyed by mode, so the variant's
    networks load once here (the GMM/TOM overrides are read at load)."""
    from models import chain
    chain.stages.cache_clear()  # stage selection reads TRYON_* at load: reload for this variant
    return loop_baseline(pairs, out_dir)


def _headline(result: dict) -> None:
    """speedups of the best system layout over each baseline, per variant; the headline figures
    are the geometric chain's (the chain that runs end to end on this machine)."""
    result["by_variant"] = {}
    for vname, base in result["baselines"].items():
        runs = [r for r in result["runs"] if r["variant"] == vname and "pairs_per_s" in r]
        if not runs:
            continue
        best = max(runs, key=lambda r: r["pairs_per_s"])
        single = [r for r in runs if r["processes"] == 1 and r["threads"] == 1]
        threaded = [r for r in runs if r["processes"] == 1 and r["threads"] > 1]
        per_core = [r for r in runs if r["processes"] > 1 and r["threads"] == 1]
        fig = {"best_config": best["config"], "pairs_per_s": best["pairs_per_s"],
               "dispatch_overhead": best["dispatch_overhead"],
               "peak_rss_mb": max((r["peak_rss_mb"] or 0) for r in runs) or None,
               # one worker process more: processes × 1 thread against 1 × 1
               "scaling_2_vs_1_process": (per_core[0]["pairs_per_s"] / single[0]["pairs_per_s"]
                                          if single and single[0]["pairs_per_s"] and per_core else None),
               "processes_vs_threads": (per_core[0]["pairs_per_s"] / threaded[0]["pairs_per_s"]
                                        if threaded and threaded[0]["pairs_per_s"] and per_core else None)}
        for b in ("sample", "loop"):
            if "pairs_per_s" in base.get(b, {}):
                fig[f"speedup_vs_{b}"] = best["pairs_per_s"] / base[b]["pairs_per_s"]
        # What no dispatching can beat: the run's model compute alone, spread over the workers.
        if best.get("compute_s"):
            fig["compute_bound_pairs_per_s"] = best["rendered"] * best["processes"] / best["compute_s"]
            if "pairs_per_s" in base.get("sample", {}):
                fig["speedup_vs_sample_bound"] = fig["compute_bound_pairs_per_s"] / base["sample"]["pairs_per_s"]
        result["by_variant"][vname] = fig
    head = result["by_variant"].get("geometric") or next(iter(result["by_variant"].values()), {})
    for k in ("speedup_vs_sample", "speedup_vs_loop", "dispatch_overhead", "peak_rss_mb"):
        result[k] = head.get(k)
    result["dispatch_overhead_geometric"] = head.get("dispatch_overhead")
    # The overhead and RSS targets are stated for the real-size GMM and TOM (with the geometric
    # pose and parsing): those figures come from the seed warp+render variant where it ran.
    seed = result["by_variant"].get("seed warp+render")
    if seed:
        result["dispatch_overhead"] = seed["dispatch_overhead"]
        result["peak_rss_mb"] = seed["peak_rss_mb"]
