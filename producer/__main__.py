"""Enqueue a try-on run: every customer photo × every catalogue garment not yet up to date.

    python -m producer --bucket tryon [--customers customers/] [--catalogue catalogue/]
                       [--force] [--wait] [--dry-run] [--allow-empty] [--debug]
    make enqueue BUCKET=tryon [CUSTOMERS=..] [CATALOGUE=..] [FORCE=1] [WAIT=1] [DRY_RUN=1]

Prints the run id and the counts (to render, skipped as up to date, invalid inputs), and what
pruning deleted (composites of removed garments and customers; TRYON_PRUNE=off disables it, a
narrowed --customers/--catalogue skips it). With --wait, shows a progress bar until the run's
report is written (through broker outages; it says when no worker consumes the queue).

    python -m producer status RUN      state, counts, chunks in flight, reason
    python -m producer resume RUN      a failed or stalled run: resend what was never recorded, write the report
    python -m producer abort RUN       end a run now and free its bucket
    python -m producer forget CUSTOMER_KEY... [--bucket B] [--dry-run]     (producer/forget.py)

Exit codes: 0 done; 1 done, some pairs failed; 2 an operator error (one line naming the setting
to check: bucket, S3 endpoint or credentials, Redis, prefixes, an empty plan); 3 another run is
active on the bucket; 4 the run ended without a report (failed or aborted: the reason is printed);
130 interrupted. --debug shows the traceback of an operator error.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time

from worker.config import Settings, settings

EXIT_OK, EXIT_PAIRS_FAILED, EXIT_OPERATOR, EXIT_ACTIVE, EXIT_RUN_ENDED, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130
ADMIN_COMMANDS = ("status", "resume", "abort")


def parse_args(argv=None):
    ap = argparse.ArgumentParser(prog="python -m producer", description=__doc__.split("\n\n")[0])
    ap.add_argument("--bucket", help="bucket (default $TRYON_BUCKET)")
    ap.add_argument("--customers", help="customer photo prefix (default $TRYON_CUSTOMERS_PREFIX or customers/)")
    ap.add_argument("--catalogue", help="garment prefix (default $TRYON_CATALOGUE_PREFIX or catalogue/)")
    ap.add_argument("--chunk-size", type=int, help="garments per task (default $TRYON_CHUNK_SIZE or 32)")
    ap.add_argument("--force", action="store_true", help="re-render pairs that are up to date")
    ap.add_argument("--wait", action="store_true", help="show progress until the run ends; exit 1 if a pair failed")
    ap.add_argument("--dry-run", action="store_true", help="print the plan; enqueue and write nothing")
    ap.add_argument("--allow-empty", action="store_true",
                    help="accept a plan with no customer or no garment (exit 0 instead of 2)")
    ap.add_argument("--timeout", type=float, default=None, help="with --wait: give up after this many seconds")
    ap.add_argument("--debug", action="store_true", help="show tracebacks of operator errors")
    return ap.parse_args(argv)


def _fail(message: str, code: int = EXIT_OPERATOR) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def _guarded(s: Settings, debug: bool, body) -> int:
    """Run `body()`; an operator's error becomes one line and exit 2 (a bug keeps its traceback)."""
    from producer.operator_errors import describe
    try:
        return body()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as e:
        line = None if debug else describe(e, s)
        if line is None:
            raise
        return _fail(line)


def _redis(s: Settings):
    import redis
    return redis.Redis.from_url(s.redis_url, socket_connect_timeout=5, socket_timeout=30)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["forget"]:
        from producer.forget import main as forget_main
        return forget_main(argv[1:])
    if argv[:1] and argv[0] in ADMIN_COMMANDS:
        return admin_main(argv)
    args = parse_args(argv)
    s = settings().with_inputs(args.bucket, args.customers, args.catalogue)
    if args.chunk_size:
        s = dataclasses.replace(s, chunk_size=args.chunk_size)
    return _guarded(s, args.debug, lambda: _enqueue(args, s))


def _enqueue(args, s: Settings) -> int:
    from producer.enqueue import RunActiveError, dry_run, start_run
    from producer.operator_errors import preflight
    from worker.keys import run_key
    from worker.storage import Storage

    storage = Storage.from_settings(s)
    # A narrowed listing would make every other composite a candidate (a HEAD each): prune on full runs.
    skip_prune = "--customers/--catalogue narrow this run's listing" if args.customers or args.catalogue else None
    if args.dry_run:
        preflight(storage, None, s)
        dry_run(storage, s, force=args.force, skip_prune=skip_prune, allow_empty=args.allow_empty)
        return EXIT_OK

    from worker.runs import RunBook
    from worker.tasks import send_render

    client = _redis(s)
    preflight(storage, client, s)  # before the lock: a missing bucket leaves nothing in Redis
    try:
        summary = start_run(storage, client, s, send_render, force=args.force, skip_prune=skip_prune,
                            allow_empty=args.allow_empty)
    except RunActiveError as e:
        return _fail(str(e), EXIT_ACTIVE)
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
        return EXIT_OK

    from worker.runs import RunEndedError
    book = RunBook(client, summary["run_id"], ttl=s.run_ttl)
    try:
        st = wait_run(book, s, total=summary["to_render"], timeout=args.timeout)
    except RunEndedError as e:
        return _fail(str(e), EXIT_RUN_ENDED)
    report = storage.get_json(report_key) or {}
    for f in report.get("failures", []):
        print(f"failed: {f['customer']} × {f['garment']}: {f.get('reason')}")
    print(json.dumps({"run": summary["run_id"], "rendered": st["rendered"], "failed": st["failed"],
                      "skipped_by_worker": st["skipped_by_worker"], "up_to_date": st["pairs_up_to_date"]}))
    return EXIT_PAIRS_FAILED if st["failed"] else EXIT_OK


def consumers(queue: str, timeout: float = 1.0, celery_app=None) -> int | None:
    """How many workers consume `queue` (Celery's broadcast inspect); None if the broker is down."""
    if celery_app is None:
        from worker.celery_app import app as celery_app
    try:
        replies = celery_app.control.inspect(timeout=timeout).active_queues() or {}
    except Exception:
        return None
    return sum(any(q.get("name") == queue for q in queues) for queues in replies.values())


def wait_run(book, s: Settings, total: int, timeout: float | None = None, poll: float = 0.5,
             out=sys.stderr, check_workers_every: float = 15.0, resend_lost=None, celery_app=None) -> dict:
    """`--wait`: a progress bar until the run's report is written. Rides out broker and Redis
    outages (says so once per outage), says when no worker consumes the queue, and resends
    orphaned and lost chunks as beat's sweep does (`resend_lost(book)`, default
    worker.tasks.resend_lost; `celery_app`: the broker asked about consumers). Raises
    RunEndedError (failed, aborted)."""
    import redis
    from kombu.exceptions import OperationalError
    from tqdm import tqdm

    from producer.operator_errors import safe_url
    from worker.runs import has_ended
    if resend_lost is None:
        from worker.tasks import resend_lost

    start = time.monotonic()
    outage_since = None
    last_check, warned_no_worker = 0.0, False
    with tqdm(total=total, unit="pair", desc=book.run_id, file=out) as bar:
        while True:
            try:
                resend_lost(book)
                st = book.status()
                if outage_since is not None:
                    bar.write(f"Redis reachable again after {time.monotonic() - outage_since:.0f} s", file=out)
                    outage_since = None
            except (redis.RedisError, OperationalError, OSError) as e:
                if outage_since is None:
                    outage_since = time.monotonic()
                    bar.write(f"Redis at {safe_url(s.redis_url)} unreachable ({type(e).__name__}); still waiting "
                              "(the workers retry too)", file=out)
                time.sleep(2)
                continue
            done = st["rendered"] + st["failed"] + st["skipped_by_worker"]
            bar.update(done - bar.n)
            bar.set_postfix(failed=st["failed"], refresh=False)
            if has_ended(book, st, time.monotonic() - start, timeout):
                return st
            if time.monotonic() - last_check > check_workers_every:
                last_check = time.monotonic()
                n = consumers(s.queue, celery_app=celery_app)
                if n == 0 and not warned_no_worker:
                    bar.write(f"no worker is consuming queue {s.queue!r}: start one (make worker); "
                              "the run waits in the queue", file=out)
                    warned_no_worker = True
                elif n:
                    warned_no_worker = False
            time.sleep(poll)


def admin_main(argv) -> int:
    ap = argparse.ArgumentParser(prog=f"python -m producer {argv[0]}")
    ap.add_argument("run", help="run id (as printed when it started, e.g. 2026-11-23T02:00-ab12)")
    ap.add_argument("--wait", action="store_true", help="resume: wait until the run ends")
    ap.add_argument("--debug", action="store_true")
    args = ap.parse_args(argv[1:])
    s = settings()
    return _guarded(s, args.debug, lambda: _admin(argv[0], args, s))


def _admin(command: str, args, s: Settings) -> int:
    from producer import run_admin
    from worker.runs import RunBook, RunEndedError
    from worker.storage import Storage

    client = _redis(s)
    client.ping()
    book = RunBook(client, args.run, ttl=s.run_ttl)
    plan = book.plan()
    storage = Storage.from_settings(dataclasses.replace(s, bucket=plan.bucket) if plan else s)
    try:
        if command == "status":
            lines = run_admin.status(book)
        elif command == "abort":
            lines = run_admin.abort(book, storage)
        else:
            from worker.tasks import send_render
            lines = run_admin.resume(book, storage, send_render, s)
    except run_admin.RunAdminError as e:
        return _fail(str(e))
    for line in lines:
        print(line)
    if command == "resume" and args.wait and book.state() != "finished":
        try:
            st = wait_run(book, s, total=book.status()["pairs_to_render"])
        except RunEndedError as e:
            return _fail(str(e), EXIT_RUN_ENDED)
        return EXIT_PAIRS_FAILED if st["failed"] else EXIT_OK
    if command == "status" and book.state() in ("failed", "aborted"):
        return EXIT_RUN_ENDED
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
