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
        "pair_summary": pair_summary(results.get("pair")),
        "targets": targets(results),
    }


def pair_summary(pair: dict | None) -> dict | None:
    """The per-pair headline: ms per pair, the floor, their ratio, the steps, per person and
    per garment (None where the part did not run)."""
    if not pair or "per_pair_ms" not in pair:
        return pair
    person = pair["per_person"]["summary"]
    return {"per_pair_ms": round(pair["per_pair_ms"], 1), "per_pair_min_ms": round(pair["pairs"]["per_pair"]["min_ms"], 1),
            "floor_ms": round(pair["floor_ms"], 1), "floor_multiple": round(pair["floor_multiple"], 2),
            "steps_ms": {k: round(v["median_ms"], 1) for k, v in pair["pairs"]["steps"].items()},
            "per_person_s": {"pose_parsing": round(person["prepare_person_s"]["median"], 2),
                             "layers": round(person["layers_s"]["median"], 2)},
            "person_bytes": person["person_bytes"], "layers_compact_bytes": person["layers_compact_bytes"],
            "per_garment_s": round(pair["per_garment"]["median_s"], 2),
            "render_batch": pair["pairs"]["batch"], "load_average": pair.get("load_average")}


# Issue 12's targets: (key, label, target, direction: "max" = at most, "min" = at least, unit)
TARGETS = [
    ("per_pair_ms", "per pair, geometric, 1024×768 photos, one thread (CPU ms)", 60.0, "max", "ms"),
    ("floor_multiple", "per pair ÷ floor (remap + blend + JPEG, same size and run)", 3.0, "max", "×"),
    ("speedup_vs_sample", "batch vs one process per pair (the sample's way)", 20.0, "min", "×"),
    ("speedup_vs_loop", "batch vs in-process loop, 16 garments per customer", 2.0, "min", "×"),
    ("dispatch_overhead", "dispatch overhead (best layout)", 0.10, "max", ""),
    ("peak_rss_mb", "peak RSS per worker process", 1536.0, "max", "MB"),
    ("scaling_2_vs_1_process", "2 worker processes × 1 thread vs 1 × 1", 1.8, "min", "×"),
]


def targets(results: dict) -> list[dict]:
    """Each target measured against its threshold, per chain variant for the batch figures;
    `met` is None where the figure was not measured (part not run, or failed)."""
    pair = results.get("pair") or {}
    batch = results.get("batch") or {}
    quick = (results.get("settings") or {}).get("quick")
    rows = []
    for key, label, target, direction, unit in TARGETS:
        sources = [("geometric", pair.get(key))] if key in ("per_pair_ms", "floor_multiple") else [
            (variant, figures.get(key)) for variant, figures in (batch.get("by_variant") or {}).items()] or [
            ("geometric", None)]
        for variant, value in sources:
            met = None if value is None else (value <= target if direction == "max" else value >= target)
            note = ""
            if key == "speedup_vs_loop" and batch.get("garments") not in (None, 16):
                note = f"measured at {batch.get('garments')} garments per customer, not 16"
            if quick:
                note = (note + "; " if note else "") + "--quick: a smoke run, not a measurement"
            rows.append({"target": label, "key": key, "variant": variant, "measured": value, "threshold": target,
                         "direction": direction, "unit": unit, "met": met, "note": note})
    return rows


def _value(x, unit: str) -> str:
    if x is None:
        return "—"
    if unit == "":
        return f"{x:.1%}"
    return f"{x:.0f} {unit}" if unit == "MB" else f"{x:.1f} {unit}" if unit == "ms" else f"{x:.2f}{unit}"


def target_lines(rows: list[dict]) -> list[str]:
    lines = [f"{'target':64s} {'chain':18s} {'measured':>10s} {'target':>10s}  verdict"]
    for r in rows:
        bound = ("≤ " if r["direction"] == "max" else "≥ ") + _value(r["threshold"], r["unit"])
        verdict = {True: "met", False: "MISSED", None: "not measured"}[r["met"]]
        if r["met"] is not None and r["measured"] is not None:
            ratio = r["measured"] / r["threshold"]
            verdict += f" ({ratio:.2f} of the target)"
        lines.append(f"{r['target']:64s} {r['variant']:18s} {_value(r['measured'], r['unit']):>10s} {bound:>10s}  "
                     f"{verdict}" + (f"  [{r['note']}]" if r["note"] else ""))
    return lines


def pair_lines(pair: dict | None) -> list[str]:
    if not pair:
        return []
    if "error" in pair:
        return ["", f"per pair: {pair['error']}"]
    fl, pp = pair["floor"], pair["pairs"]
    lines = ["", f"per pair, geometric chain, one thread, render batch {pp['batch']} × {pp['persons']} persons "
                 f"(load average {pair.get('load_average')}); CPU time of the thread, wall in brackets",
             f"floor at {fl['hw'][1]}×{fl['hw'][0]}: remap {fl['remap']['median_ms']:.1f} + blend "
             f"{fl['blend']['median_ms']:.1f} + JPEG q{fl['jpeg_quality']} {fl['encode']['median_ms']:.1f} = "
             f"{fl['whole']['median_ms']:.1f} ms (min {fl['whole']['min_ms']:.1f}; wall {fl['whole']['wall_median_ms']:.1f})",
             f"per pair {pp['per_pair']['median_ms']:.1f} ms (min {pp['per_pair']['min_ms']:.1f}; wall "
             f"{pp['per_pair']['wall_median_ms']:.1f}) = {pair['floor_multiple']:.1f}× the floor",
             f"{'step (per pair, CPU)':32s} {'median ms':>9s} {'min ms':>7s} {'share':>6s}"]
    total = sum(s["median_ms"] for s in pp["steps"].values()) or 1
    for step, s in pp["steps"].items():
        lines.append(f"{step:32s} {s['median_ms']:9.1f} {s['min_ms']:7.1f} {s['median_ms'] / total:6.0%}")
    lines.append(f"{'sum of the steps':32s} {total:9.1f}")
    person = pair["per_person"]["summary"]
    if person:
        lines.append(f"per person (median of {len(pair['per_person']['rows'])}): pose + parsing "
                     f"{person['prepare_person_s']['median']:.2f} s (cached in Redis as Person, "
                     f"{person['person_bytes']['median'] / 1e3:.0f} KB: {person['person_bytes']['min'] / 1e3:.0f}–"
                     f"{person['person_bytes']['max'] / 1e3:.0f}), layers {person['layers_s']['median']:.2f} s "
                     f"(in-process cache only; compact PNG/uint8 {person['layers_compact_bytes']['median'] / 1e3:.0f} KB: "
                     f"{person['layers_compact_bytes']['min'] / 1e3:.0f}–{person['layers_compact_bytes']['max'] / 1e3:.0f}, "
                     f"decoded in {person['layers_decode_s']['median'] * 1000:.0f} ms)")
    garment = pair["per_garment"]
    lines.append(f"per garment (analysis, matte, part sources; in-process cache by content): median "
                 f"{garment['median_s']:.2f} s ({garment['min_s']:.2f}–{garment['max_s']:.2f})")
    return lines


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
    lines += pair_lines(results.get("pair"))
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
                         f"{_fmt(f.get('speedup_vs_loop'), '.2f')}× vs (b); 2×1 vs 1×1 "
                         f"{_fmt(f.get('scaling_2_vs_1_process'), '.2f')}×, 2×1 vs 1×2 "
                         f"{_fmt(f.get('processes_vs_threads'), '.2f')}×; compute-bound ceiling "
                         f"{_fmt(f.get('compute_bound_pairs_per_s'), '.2f')} pairs/s "
                         f"(= {_fmt(f.get('speedup_vs_sample_bound'), '.1f')}× vs (a))")
    elif batch.get("error"):
        lines += ["", f"batch system: {batch['error']}"]
    lines += ["", f"speedup vs one process per pair: {_fmt(results.get('speedup_vs_sample'), '.1f')}×  "
                  f"vs in-process loop: {_fmt(results.get('speedup_vs_loop'), '.2f')}×  "
                  f"dispatch overhead: {_fmt(results.get('dispatch_overhead'), '.1%')}  "
                  f"peak RSS/worker: {_fmt(results.get('peak_rss_mb'), '.0f')} MB"]
    if results.get("targets"):
        lines += ["", "targets (issue 12)"] + target_lines(results["targets"])
    return "\n".join(lines)
