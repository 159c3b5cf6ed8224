"""Operators' commands on one run (`python -m producer status|resume|abort RUN`).

    status(book)                       its state, counts, chunks in flight, reason, report
    resume(book, storage, send, s)     a failed or stalled run: take the bucket back, send again the
                                       chunks never recorded (not those whose worker still beats),
                                       write the report if everything is recorded
    abort(book, storage)               end it now (`aborted`): workers drop its queued chunks; the
                                       report of what was recorded is written if S3 allows
"""
from __future__ import annotations

import datetime as dt
import time
from typing import Callable

from worker.config import Settings
from worker.plan import Chunk, TaskCall
from worker.report import build_report, contact_sheet_html
from worker.runs import BucketLock, RunBook
from worker.storage import Storage


class RunAdminError(RuntimeError):
    """The command cannot act on this run (unknown, or in a state that forbids it); exit 2."""


def _age(ts: str | None) -> str:
    if not ts:
        return "never"
    return f"{int(time.time() - float(ts))} s ago"


def status(book: RunBook) -> list[str]:
    st = book.status()
    if not st.get("state"):
        raise RunAdminError(f"run {book.run_id}: unknown (never started, or its record expired)")
    in_flight = book.in_flight()
    beating = sum(bool(book.r.exists(book.beat_key(c))) for c in in_flight)
    lines = [
        f"run {book.run_id}: {st['state']} (bucket {st.get('bucket', '?')}, created {st.get('created', '?')})",
        f"  chunks: {st['chunks_done']} of {st['chunks_total']} recorded, {len(in_flight)} in flight "
        f"({beating} with a live heartbeat), {st['chunks_resent']} resent; last progress {_age(st.get('progress_at'))}",
        f"  pairs: {st['pairs_to_render']} to render, {st['rendered']} rendered, {st['failed']} failed, "
        f"{st['skipped_by_worker'] + st['pairs_up_to_date']} up to date, {st['invalid_inputs']} invalid inputs",
    ]
    if st.get("reason"):
        lines.append(f"  reason: {st['reason']}")
    plan = book.plan()
    if st["state"] == "finished" and plan is not None:
        lines.append(f"  report: s3://{plan.bucket}/{plan.run_file('report.json')}")
    elif st["state"] in ("failed", "running"):
        lines.append(f"  to recover: python -m producer resume {book.run_id}")
    return lines


def resume(book: RunBook, storage: Storage, send: Callable[[TaskCall], None], s: Settings) -> list[str]:
    st = book.status()
    state = st.get("state")
    if not state:
        raise RunAdminError(f"run {book.run_id}: unknown (never started, or its record expired)")
    if state == "finished":
        return [f"run {book.run_id}: already finished"]
    if not st.get("enqueued"):
        raise RunAdminError(f"run {book.run_id}: {state} before all its chunks were enqueued "
                            f"({st.get('reason') or 'no reason recorded'}); start a new run instead")
    plan = book.plan()
    if plan is None:
        raise RunAdminError(f"run {book.run_id}: its plan has expired from Redis; start a new run instead")
    holder = BucketLock(book.r, plan.bucket).reclaim(book.run_id, s.run_lock_ttl)
    if holder is not None:
        raise RunAdminError(f"run {holder} is active on bucket {plan.bucket!r}; resume once it has ended")
    # Back to running; the finalisation marker of a failed report write goes, so it is tried again.
    book.r.hset(book.key, mapping={"state": "running", "progress_at": f"{time.time():.3f}"})
    book.r.hdel(book.key, "reason")
    book.r.delete(book.finalized_key)
    in_flight = book.in_flight()
    beating = {c for c in in_flight if book.r.exists(book.beat_key(c))}
    lost = [c for c in book.unrecorded_chunks() if c not in beating]
    for chunk in lost:
        book.r.hdel(book.started_key, chunk)
        send(plan.task_call(Chunk.from_id(chunk)))
    if lost:
        book.r.hincrby(book.key, "chunks_resent", len(lost))
    lines = [f"run {book.run_id}: resumed on bucket {plan.bucket}; {len(lost)} chunk(s) sent again, "
             f"{len(beating)} still running"]
    try:
        report = book.try_finalize(storage)
    except Exception as e:  # S3 still refuses: the run stays ended, with the new reason
        book.end("failed", f"report could not be written on resume: {type(e).__name__}: {e} — fix the "
                           f"cause, then: python -m producer resume {book.run_id}")
        raise
    if report is not None:
        lines.append(f"run {book.run_id}: finished; report: s3://{plan.bucket}/{plan.run_file('report.json')}")
    return lines


def abort(book: RunBook, storage: Storage, reason: str = "aborted by the operator") -> list[str]:
    st = book.status()
    if not st.get("state"):
        raise RunAdminError(f"run {book.run_id}: unknown (never started, or its record expired)")
    if st["state"] == "finished":
        return [f"run {book.run_id}: already finished"]
    book.end("aborted", reason)
    lines = [f"run {book.run_id}: aborted; bucket {st.get('bucket')} is free; its queued chunks are dropped"]
    plan = book.plan()
    if plan is None:
        return lines
    try:  # what was recorded so far, so the run still ends with a report
        report = build_report(plan, book.status(), list(book.chunks()))
        report.update(state="aborted", reason=reason, ok=False,
                      finished=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
        storage.put_json(plan.run_file("report.json"), report)
        storage.put(plan.run_file("index.html"), contact_sheet_html(report, plan).encode(), "text/html; charset=utf-8")
        lines.append(f"report of the recorded pairs: s3://{plan.bucket}/{plan.run_file('report.json')}")
    except Exception as e:
        lines.append(f"no report written ({type(e).__name__}: {e})")
    return lines
