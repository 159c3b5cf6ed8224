"""`make chaos`: every reliability scenario against real servers and real worker processes;
writes chaos.json and prints the table (the README's copy comes from here).

    python -m chaos.run [--customers 10] [--garments 20] [--out chaos.json] [--only clean,worker_killed]

Scenarios (chaos/scenarios.py): clean (the reference), worker_killed (SIGKILL one of two
workers mid-run, restart it), whole_worker_killed (SIGKILL one of two, not restarted: its chunk
comes back through its heartbeat), redis_restarted (SIGKILL the broker, restart it from its AOF),
redis_link_cut (the workers' TCP link to Redis cut for 60 s), readonly_then_fixed, racing_producers,
over_long_keys, colliding_keys, tiff_bomb (issue 14: every run ends with a report),
s3_faults (≥5% 500/503/resets + delays through chaos/fault_proxy.py), bad_inputs (≥30 kinds,
chaos/bad_inputs.py), security (pickle refused, key escapes, no secrets, compose/Dockerfile).
Uses the geometric chain (TRYON_CHAIN=geometric; `make models` fetches its weights).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import signal
import sys
import tempfile
import time
from pathlib import Path

from chaos import scenarios
from chaos.cluster import ChaosStack

SCENARIOS = ("clean", "worker_killed", "whole_worker_killed", "redis_restarted", "redis_link_cut", "s3_faults",
             "s3_object_unavailable", "readonly_then_fixed", "racing_producers", "over_long_keys", "colliding_keys",
             "tiff_bomb", "bad_inputs", "security")


def table(rows: list[dict]) -> str:
    # "run s": from the producer's start to the report, beside the clean run's (setup excluded)
    head = "| scenario | pairs | rendered | failed | lost | duplicated | passed | run s | clean run s | seconds |"
    lines = [head, "|---|---:|---:|---:|---:|---:|:---:|---:|---:|---:|"]
    clean = next((r["details"].get("run_seconds") for r in rows if r["scenario"] == "clean"), None)
    for r in rows:
        run_s = r["details"].get("run_seconds", "–")
        lines.append(f"| {r['scenario']} | {r['pairs']} | {r['rendered']} | {r['failed']} | {r['lost']} | "
                     f"{r['duplicated']} | {'yes' if r['passed'] else '**no**'} | {run_s} | "
                     f"{clean if run_s != '–' else '–'} | {r['seconds']} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m chaos.run", description=__doc__.split("\n\n")[0])
    ap.add_argument("--customers", type=int, default=10)
    ap.add_argument("--garments", type=int, default=20, help="pairs = customers × garments (≥200 by default)")
    ap.add_argument("--out", default="chaos.json")
    ap.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated subset (clean always runs)")
    ap.add_argument("--keep", action="store_true", help="keep the servers' folder (logs) for inspection")
    args = ap.parse_args(argv)
    wanted = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(wanted) - set(SCENARIOS)
    if unknown:
        ap.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")

    # SIGTERM (timeout, CI cancel) unwinds like Ctrl-C, so the servers and workers are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    workdir = Path(tempfile.mkdtemp(prefix="tryon-chaos-"))
    rows, buckets, secret_values = [], [], []
    started = time.monotonic()
    nc, ng = args.customers, args.garments
    try:
        with ChaosStack(workdir, snapshot=True) as stack:
            scenarios.use_stack_env(stack)
            secret_values = [stack.env["AWS_SECRET_ACCESS_KEY"], stack.redis_password]

            def record(outcome):
                rows.append(outcome.row())
                r = rows[-1]
                print(f"  {r['scenario']:16s} pairs {r['pairs']:4d}  rendered {r['rendered']:4d}  failed "
                      f"{r['failed']:3d}  lost {r['lost']}  duplicated {r['duplicated']}  "
                      f"{'passed' if r['passed'] else 'FAILED ' + str([k for k, v in r['checks'].items() if not v])}"
                      f"  ({r['seconds']} s)", flush=True)

            print(f"chaos: {nc} customers × {ng} garments, servers in {workdir}", flush=True)
            clean, baseline = scenarios.clean_run(stack, nc, ng)
            record(clean)
            # In this order; each scenario's arguments (the big runs are compared with the clean one).
            runs = {
                "worker_killed": lambda: scenarios.worker_killed(stack, nc, ng, baseline),
                "whole_worker_killed": lambda: scenarios.whole_worker_killed(stack, nc, ng, baseline),
                "redis_restarted": lambda: scenarios.redis_restarted(stack, nc, ng, baseline),
                "redis_link_cut": lambda: scenarios.redis_link_cut(stack, nc, ng, baseline, cut_seconds=60),
                "s3_faults": lambda: scenarios.s3_faults(stack, nc, ng, baseline),
                "s3_object_unavailable": lambda: scenarios.s3_object_unavailable(stack),
                "readonly_then_fixed": lambda: scenarios.readonly_then_fixed(stack),
                "racing_producers": lambda: scenarios.racing_producers(stack),
                "over_long_keys": lambda: scenarios.over_long_keys(stack),
                "colliding_keys": lambda: scenarios.colliding_keys(stack),
                "tiff_bomb": lambda: scenarios.tiff_bomb(stack),
                "bad_inputs": lambda: scenarios.bad_input_runs(stack, n_good_garments=2),
            }
            for name, run in runs.items():
                if name in wanted:
                    record(run())
            if "security" in wanted:
                buckets = [b["Name"] for b in stack.s3_direct().list_buckets()["Buckets"]]
                record(scenarios.security(stack, buckets))
    finally:
        if not args.keep:
            import shutil
            shutil.rmtree(workdir, ignore_errors=True)

    result = {
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "chain": "geometric", "customers": nc, "garments": ng,
        "seconds": round(time.monotonic() - started, 1),
        "passed": all(r["passed"] for r in rows),
        "scenarios": rows,
    }
    text = json.dumps(result, indent=1, ensure_ascii=False, default=str)
    if any(secret in text for secret in secret_values):  # the record itself must not leak them
        raise SystemExit("chaos.json would contain a credential: not written")
    Path(args.out).write_text(text)
    print()
    print(table(rows))
    print(f"\n{args.out}: {'all scenarios passed' if result['passed'] else 'SOME SCENARIOS FAILED'} "
          f"in {result['seconds']} s")
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
