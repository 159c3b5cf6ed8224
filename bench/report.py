"""bench.json's headline figures and the printed table."""
from __future__ import annotations

STAGE_ORDER = ["crop", "pose", "parsing", "person representation", "warp", "warp (whole stage)",
               "GMM (custom Correlation)", "GMM", "TPS + sampling", "render (whole stage)", "TOM", "composition",
               "paste-back"]


def stage_rows(results: dict) -> list[dict]:
    rows = (results.get("stages_detail") or {}).get("rows", [])
    if not any(r["stage"].startswith(("GMM", "TOM")) for r in rows):  # stages part not run: ONNX rows only
        for run in (results.get("onnx") or {}).get("runs", []):
            if "error" not in run:
                rows.append({"chain": "seed", "stage": {"gmm_custom": "GMM (custom Correlation)",
                                                        "gmm_rewritten": "GMM", "tom": "TOM"}[run["net"]],
                             "engine": run["engine"], "batch": run["batch"], "status": "ok",
                             "median_ms": run["median_s"] * 1000, "per_pair_ms": run["per_pair_ms"],
                             "min_per_pair_ms": run.get("min_per_pair_ms"),
                             "reps": run["reps"], "note": "real-size random weights"})
    order = {s: i for i, s in enumerate(STAGE_ORDER)}
    return sorted(rows, key=lambda r: (r["chain"] != "geometric", order.get(r["stage"], 99), r.get("engine", ""),
                                       r["batch"]))


def summarise(results: dict) -> dict:
    """The top-level keys the issue asks for (None where that part did not run)."""
    batch = results.get("batch") or {}
    onnx = results.get("onnx") or {}
    flops = {}
    for net, macs in (onnx.get("macs_per_pair") or {}).items():
        runs = [r for r in onnx.get("runs", []) if r.get("net") == net and "error" not in r]
        flops[net] = {"macs_per_pair": macs, "gflop_per_pair": 2 * macs / 1e9,
                      "achieved_gflops": {f"{r['engine']}_batch{r['batch']}": round(r["gflops"], 2) for r in runs},
                      "best_gflops": {f"{r['engine']}_batch{r['batch']}": round(r["gflops_best"], 2) for r in runs}}
    return {
        "speedup_vs_sample": batch.get("speedup_vs_sample"),
        "speedup_vs_loop": batch.get("speedup_vs_loop"),
        "dispatch_overhead": batch.get("dispatch_overhead"),
        "peak_rss_mb": batch.get("peak_rss_mb"),
        "flop_ceiling": flops,
        "nominal_peak_gflops_fp32": results["machine"].get("nominal_peak_gflops_fp32"),
        "onnx_memory": onnx.get("memory"),
        "seed_precision": precision_summary(results.get("precision")),
        "stages": stage_rows(results),
    }


def precision_summary(precision: dict | None) -> dict | None:
    """int8 (and bf16) next to fp32: ms per pair per net and thread count, the composite's error."""
    if not precision or "runs" not in precision:
        return precision
    return {"ms_per_pair": {f"{r['net']}_{r['precision']}_{r['threads']}t_batch{r['batch']}": round(r["per_pair_ms"], 1)
                            for r in precision["runs"]},
            "cpu_ms_per_pair": {f"{r['net']}_{r['precision']}_1t_batch{r['batch']}": round(r["cpu_per_pair_ms"], 1)
                                for r in precision["runs"] if "cpu_per_pair_ms" in r},
            "composite_error_int8": {k: precision["composite_error"].get(k) for k in ("pairs", "max_abs", "ssim_min", "ssim_mean")},
            "calibration": precision.get("calibration"), "bf16": precision.get("bf16"), "note": precision.get("note")}


def precision_lines(precision: dict | None) -> list[str]:
    if not precision:
        return []
    if "runs" not in precision:
        return ["", f"seed precision: {precision.get('error')}"]
    lines = ["", f"seed GMM/TOM precision (real size, random weights; int8 calibrated on {precision['calibration']})",
             f"{'net':5s} {'threads':>7s} {'batch':>5s} {'fp32 ms/pair':>13s} {'int8 ms/pair':>13s} {'speed-up':>9s}"
             f"   CPU ms/pair fp32 → int8 (1 thread: not inflated by other processes' load)"]
    runs = {(r["net"], r["precision"], r["threads"]): r for r in precision["runs"]}
    for net, prec, threads in sorted(k for k in runs if k[1] == "int8"):
        a, b = runs[(net, "fp32", threads)], runs[(net, "int8", threads)]
        cpu = (f"   {a['cpu_per_pair_ms']:.1f} → {b['cpu_per_pair_ms']:.1f} ({a['cpu_per_pair_ms'] / b['cpu_per_pair_ms']:.2f}×)"
               if "cpu_per_pair_ms" in b else "")
        lines.append(f"{net.upper():5s} {threads:7d} {b['batch']:5d} {a['per_pair_ms']:13.1f} {b['per_pair_ms']:13.1f} "
                     f"{a['per_pair_ms'] / b['per_pair_ms']:8.2f}×" + cpu)
    load = precision["runs"][0].get("load_average") if precision["runs"] else None
    if load:
        lines.append(f"load average while timing: {load[0]} → {precision['runs'][-1]['load_average'][1]}")
    err = precision.get("composite_error") or {}
    if "max_abs" in err:
        lines.append(f"int8 composite (256×192) vs fp32 on {err['pairs']} held-out pairs: max|Δ| {err['max_abs']:.3f}, "
                     f"SSIM min {err['ssim_min']:.4f} mean {err['ssim_mean']:.4f}")
    bf16 = precision.get("bf16") or {}
    lines.append(f"bf16: {'available' if bf16.get('available') else bf16.get('reason')}")
    lines.append(f"note: {precision.get('note')}")
    return lines


def _fmt(x, spec=".1f", none="—"):
    return none if x is None else format(x, spec)


def table(results: dict) -> str:
    m, v = results["machine"], results["versions"]
    lines = [f"machine: {m['cpu']}, {m['usable_cores']} cores, load {m.get('load_average_at_start')} → "
             f"{m.get('load_average_at_end')}",
             f"versions: python {v['python']}, opencv {v['opencv']}, onnxruntime {v.get('onnxruntime')}, "
             f"numpy {v['numpy']}, chain {v.get('chain')}", "",
             f"{'chain':9s} {'stage':26s} {'engine':12s} {'batch':>5s} {'ms/pair':>9s} {'(min)':>7s}  note"]
    for r in results.get("stages", []):
        lines.append(f"{r['chain']:9s} {r['stage']:26s} {r.get('engine') or '':12s} {r['batch']:5d} "
                     f"{_fmt(r.get('per_pair_ms'), '9.1f', '        —')} {_fmt(r.get('min_per_pair_ms'), '7.1f', '      —')}  "
                     f"{r['status'] if r['status'] != 'ok' else ''}{' ' if r['status'] != 'ok' else ''}{r.get('note', '')}")
    for net, f in (results.get("flop_ceiling") or {}).items():
        lines.append(f"{net}: {f['gflop_per_pair']:.1f} GFLOP/pair ({f['macs_per_pair'] / 1e9:.2f} G multiply-adds); "
                     f"achieved GFLOP/s " + ", ".join(f"{k} {x}" for k, x in f["achieved_gflops"].items()))
    memory = (results.get("onnx") or {}).get("memory") or []
    if memory:
        lines.append("peak RSS of a fresh process, one net loaded and run at batch "
                     f"{memory[0]['batch']}: " + ", ".join(
                         f"{m['net']} {m['engine']} {m.get('rss_peak_mb', '?')} MB" for m in memory))
    lines += precision_lines(results.get("precision"))
    batch = results.get("batch") or {}
    if batch.get("runs"):
        lines += ["", f"batch system, {batch.get('customers')} customers × {batch.get('garments')} garments "
                      f"({batch.get('inputs')})",
                  f"{'variant':28s} {'config':42s} {'pairs/s':>8s} {'overhead':>9s} {'peak RSS/worker':>16s}"]
        for r in batch["runs"]:
            lines.append(f"{r['variant']:28s} {r['config']:42s} {_fmt(r.get('pairs_per_s'), '8.2f')} "
                         f"{_fmt(r.get('dispatch_overhead'), '9.1%')} {_fmt(r.get('peak_rss_mb'), '13.0f')} MB"
                         + (f"  {r['error']}" if r.get("error") else ""))
        for vname, base in (batch.get("baselines") or {}).items():
            for b, label in (("sample", "one process per pair (a)"), ("loop", "in-process loop (b)")):
                r = base.get(b, {})
                lines.append(f"{vname:28s} {'baseline ' + label:42s} {_fmt(r.get('pairs_per_s'), '8.2f')}"
                             + (f"  {r['error']}" if r.get("error") else f"  ({r.get('pairs')} pairs)"))
        for vname, f in (batch.get("by_variant") or {}).items():
            lines.append(f"{vname}: best {f['best_config']}, {_fmt(f.get('speedup_vs_sample'), '.1f')}× vs (a), "
                         f"{_fmt(f.get('speedup_vs_loop'), '.2f')}× vs (b); 2×1 vs 1×2 "
                         f"{_fmt(f.get('scaling_2_vs_1_process'), '.2f')}×; compute-bound ceiling "
                         f"{_fmt(f.get('compute_bound_pairs_per_s'), '.2f')} pairs/s "
                         f"(= {_fmt(f.get('speedup_vs_sample_bound'), '.1f')}× vs (a))")
    elif batch.get("error"):
        lines += ["", f"batch system: {batch['error']}"]
    lines += ["", f"speedup vs one process per pair: {_fmt(results.get('speedup_vs_sample'), '.1f')}×  "
                  f"vs in-process loop: {_fmt(results.get('speedup_vs_loop'), '.2f')}×  "
                  f"dispatch overhead: {_fmt(results.get('dispatch_overhead'), '.1%')}  "
                  f"peak RSS/worker: {_fmt(results.get('peak_rss_mb'), '.0f')} MB"]
    return "\n".join(lines)
