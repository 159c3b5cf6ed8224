"""Enqueue a try-on run: every customer photo × every catalogue garment not yet up to date.

    python -m producer --bucket tryon [--customers customers/] [--catalogue catalogue/]
                       [--force] [--wait] [--dry-run]
    make enqueue BUCKET=tryon [CUSTOMERS=..] [CATALOGUE=..] [FORCE=1] [WAIT=1] [DRY_RUN=1]

Prints the run id and the counts (to render, skipped as up to date, invalid inputs), and what
pruning deleted (composites of removed garments and customers; TRYON_PRUNE=off disables it, a
narrowed --customers/--catalogue skips it). With --wait, shows a progress bar until the run's
report is written and exits 1 if any pair failed. Exit 3: another run is still active on the bucket.

    python -m producer forget CUSTOMER_KEY... [--bucket B] [--dry-run]     (producer/forget.py)
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from worker.config import settings


def parse_args(argv=None):
    ap = argparse.ArgumentParser(prog="python -m producer", description=__doc__.split("\n\n")[0])
    ap.add_argument("--bucket", help="bucket (default $TRYON_BUCKET)")
    ap.add_argument("--customers", help="customer photo prefix (default $TRYON_CUSTOMERS_PREFIX or customers/)")
    ap.add_argument("--catalogue", help="garment prefix (default $TRYON_CATALOGUE_PREFIX or catalogue/)")
    ap.add_argument("--chunk-size", type=int, help="garments per task (default $TRYON_CHUNK_SIZE or 32)")
    ap.add_argument("--force", action="store_true", help="re-render pairs that are up to date")
    ap.add_argument("--wait", action="store_true", help="show progress until the run ends; exit 1 if a pair failed")
    ap.add_argument("--dry-run", action="store_true", help="print the plan; enqueue and write nothing")
    ap.add_argument("--timeout", type=float, default=None, help="with --wait: give up after this many seconds")
    return ap.parse_args(argv)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["forget"]:
        from producer.forget import main as forget_main
        return forget_main(argv[1:])
    args = parse_args(argv)
    s = settings()
    overrides = {}
    if args.bucket:
        overrides["bucket"] = args.bucket
    if args.customers:
        overrides["customers_prefix"] = args.customers.strip("/") + "/"
    if args.catalogue:
        overrides["catalogue_prefix"] = args.catalogue.strip("/") + "/"
    if args.chunk_size:
        overrides["chunk_size"] = args.chunk_size
    s = dataclasses.replace(s, **overrides)

    from producer.enqueue import RunActiveError, dry_run, start_run
    from worker.keys import run_key
    from worker.storage import Storage

    storage = Storage.from_settings(s)
    # A narrowed listing would make every other composite a candidate (a HEAD each): prune on full runs.
    skip_prune = "--customers/--catalogue narrow this run's listing" if args.customers or args.catalogue else None
    if args.dry_run:
        dry_run(storage, s, force=args.force, skip_prune=skip_prune)
        return 0

    import redis

    from worker.runs import RunBook, wait_for
    from worker.tasks import resend_lost, send_render

    client = redis.Redis.from_url(s.redis_url)
    try:
        summary = start_run(storage, client, s, send_render, force=args.force, skip_prune=skip_prune)
    except RunActiveError as e:
        print(f"error: {e}", file=sys.stderr)
        return 3
    for item in summary.pop("invalid_list"):
        print(f"invalid: {item['reason']}")
    print(f"run {summary['run_id']}: {summary['to_render']} to render, {summary['skipped']} skipped (up to date), "
          f"{summary['invalid']} invalid; {summary['chunks']} tasks "
          f"({summary['customers']} customers × {summary['garments']} garments)")
    for line in summary["prune_lines"]:
        print(line)
    report_key = run_key(s.runs_prefix, summary["run_id"], "report.json")
    print(f"report: s3://{s.bucket}/{report_key}")
    if not args.wait:
        return 0

    from tqdm import tqdm

    book = RunBook(client, summary["run_id"], ttl=s.run_ttl)
    with tqdm(total=summary["to_render"], unit="pair", desc=summary["run_id"], file=sys.stderr) as bar:
        def progress(st):
            done = st["rendered"] + st["failed"] + st["skipped_by_worker"]
            bar.update(done - bar.n)
            bar.set_postfix(failed=st["failed"], refresh=False)
        st = wait_for(book, timeout=args.timeout, on_progress=progress, resend_lost=resend_lost)
    report = storage.get_json(report_key) or {}
    for f in report.get("failures", []):
        print(f"failed: {f['customer']} × {f['garment']}: {f.get('reason')}")
    print(json.dumps({"run": summary["run_id"], "rendered": st["rendered"], "failed": st["failed"],
                      "skipped_by_worker": st["skipped_by_worker"], "up_to_date": st["pairs_up_to_date"]}))
    return 1 if st["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
