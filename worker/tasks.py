"""Celery tasks of the worker: orchestration only (the work is in worker/render_job.py and
worker/runs.py; the nightly run is the producer's, in producer/tasks.py).

    tryon.render_customer(run, customer, garments, chunk)   one customer × a chunk of garments
    tryon.finalize_run(run)                                 write report.json + index.html if complete
                                                            (retried; the run ends `failed` if S3 stays unwritable)
    tryon.sweep_runs()                                      beat, every minute: resend orphaned and lost chunks,
                                                            finalize complete runs, abort silent producers,
                                                            free locks of ended runs
"""
from __future__ import annotations

import logging
import os
import socket
import time

import redis
from celery import Task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_process_init

from worker import context
from worker.celery_app import app
from worker.config import settings
from worker.plan import RENDER_TASK, Chunk, TaskCall
from worker.render_job import failed, finish_interrupted, render_chunk
from worker.runs import ENDED, BucketLock, ChunkHeartbeat, RunBook
from worker.storage import TRANSIENT_ERRORS

log = logging.getLogger(__name__)
_s = settings()  # task options are fixed at import, like the Celery app's

MAX_EXECUTIONS = 10  # per chunk: autoretries (max_retries=6) + a few re-deliveries
RETRY_ON = TRANSIENT_ERRORS + (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, TimeoutError)


def _set_compute_threads() -> None:
    """One compute thread per pool process unless TRYON_THREADS says otherwise: Celery's default
    concurrency is one process per core, and OpenCV and onnxruntime would each start a thread per
    core in every process (`make bench`: 2 processes × 2 threads rendered the seed chain ~45%
    slower than 2 × 1 on 2 cores). onnxruntime sessions read the chain's settings when they are made."""
    import cv2

    from models import settings
    threads = settings.configure(threads=settings.current().threads or 1).threads
    cv2.setNumThreads(threads)


@worker_process_init.connect
def _load_models(**_):
    """Load the networks once per worker process, after the fork (not in the parent: ONNX
    Runtime / OpenCV thread pools do not survive fork)."""
    ctx = context.reset()
    _set_compute_threads()
    from models import chain
    try:
        options = chain.ChainOptions()
        chain.stages((options.mode, options.cpvton_original))
        log.info("chain loaded: %s", options.fingerprint())
    except Exception:  # the worker still starts; its tasks fail their pairs with the reason
        log.exception("chain could not be loaded")


def _s3_retries_since(task, ctx) -> int:
    before = getattr(task.request, "tryon_s3_retries_before", None)
    return 0 if before is None else ctx.s3_retries.total - before


def _record(ctx, book: RunBook, chunk: str, customer: int, results: list[dict], retries: dict | None = None) -> None:
    book.record_chunk(chunk, customer, results, retries=retries)
    finalize_soon(ctx, book)


def finalize_soon(ctx, book: RunBook) -> None:
    """Write the report now if the run is complete; if that fails (S3 unwritable, say), hand
    it to tryon.finalize_run, which retries and ends the run `failed` if S3 stays unwritable.
    A chunk's record never fails because the report could not be written."""
    try:
        book.try_finalize(ctx.storage(ctx.plan(book.run_id)))
    except Exception as e:
        log.warning("run %s: report not written yet (%s: %s); retrying in tryon.finalize_run",
                    book.run_id, type(e).__name__, e)
        finalize_run.apply_async(args=[book.run_id], countdown=2)


class RecordingTask(Task):
    """A chunk that fails for good (retries exhausted, unexpected error) is still recorded, as
    failed pairs with the reason, so the run completes and its report says what happened."""

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        try:
            ctx = context.current()
            reason = f"task failed: {type(exc).__name__}: {exc}"
            # Pairs this execution already wrote stay rendered: the report must not call a
            # pair failed whose composite is in the bucket.
            written = getattr(self.request, "tryon_results", None) or {}
            results = finish_interrupted(written, Chunk(kwargs["customer"], kwargs["garments"]).garments, reason)
            _record(ctx, ctx.run_book(kwargs["run"]), kwargs["chunk"], kwargs["customer"], results,
                    retries={"task": self.request.retries, "s3": _s3_retries_since(self, ctx)})
        except Exception:
            log.exception("could not record failed chunk %s", kwargs.get("chunk"))


@app.task(name=RENDER_TASK, base=RecordingTask, bind=True, autoretry_for=RETRY_ON,
          retry_backoff=True, retry_backoff_max=300, retry_jitter=True, max_retries=6)
def render_customer(self, run: str, customer: int, garments: list[list[int]], chunk: str) -> dict:
    """The message of worker.plan.TaskCall: `garments` are ranges of indices into the run's plan."""
    from models import chain

    ctx = context.current()
    plan = ctx.plan(run)
    if plan is None:
        log.warning("run %s: plan expired or unknown; dropping chunk %s", run, chunk)
        return {"run": run, "chunk": chunk, "dropped": "unknown run"}
    book = ctx.run_book(run)
    if book.state() == "aborted":  # an operator aborted it (python -m producer abort): drop its messages
        return {"run": run, "chunk": chunk, "dropped": "run aborted"}
    indices = Chunk(customer, garments).garments
    s3_retries_before = ctx.s3_retries.total
    self.request.tryon_s3_retries_before = s3_retries_before  # for on_failure's record
    holder = f"{socket.gethostname()}:{os.getpid()}"
    # While it runs the chunk beats (worker/runs.py): a sweep resends it only once its worker is gone.
    with ChunkHeartbeat(book, chunk, ctx.settings.heartbeat_ttl, holder):
        # A chunk that keeps killing its worker (OOM, segfault) comes back after every loss
        # (acks_late + reject_on_worker_lost); stop it after a few executions instead of looping.
        if book.count_execution(chunk) > MAX_EXECUTIONS:
            results = [failed(gi, f"gave up after {MAX_EXECUTIONS} attempts (worker lost or retried each time)")
                       for gi in indices]
            _record(ctx, book, chunk, customer, results)
        else:
            written: dict[int, dict] = {}  # filled as pairs finish; survives an interruption
            self.request.tryon_results = written
            if plan.chain != ctx.chain_version:  # e.g. the producer ran where other weights are
                log.warning("run %s was planned for chain %s; this worker runs %s (composites get the latter)",
                            run, plan.chain, ctx.chain_version)
            try:
                results = render_chunk(ctx.storage(plan), ctx.cache, chain, plan, customer, indices, ctx.settings,
                                       chain_version=ctx.chain_version, results=written)
            except SoftTimeLimitExceeded:
                results = finish_interrupted(written, indices,
                                             f"time limit ({ctx.settings.task_soft_time_limit}s) exceeded for the chunk")
            _record(ctx, book, chunk, customer, results,
                    retries={"s3": ctx.s3_retries.total - s3_retries_before, "task": self.request.retries})
    counts = {s: sum(r["status"] == s for r in results) for s in ("rendered", "skipped", "failed")}
    return {"run": run, "chunk": chunk, **counts}


class FinalizeTask(Task):
    """Writing the report failed on every attempt: the run ends `failed`, with the reason and
    what to do, and its bucket is free for the next run."""

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        run = args[0] if args else kwargs.get("run")
        try:
            ctx = context.current()
            ctx.run_book(run).end("failed", f"report could not be written after {self.max_retries + 1} attempts: "
                                            f"{type(exc).__name__}: {exc} — fix the cause (S3 credentials, "
                                            f"bucket), then: python -m producer resume {run}")
        except Exception:
            log.exception("run %s: could not mark the run failed", run)


@app.task(name="tryon.finalize_run", base=FinalizeTask, bind=True, autoretry_for=(Exception,),
          max_retries=_s.finalize_retries, retry_backoff=2, retry_backoff_max=120, retry_jitter=False)
def finalize_run(self, run: str) -> bool:
    """Write report.json + index.html if the run is complete (Celery retries a failed write)."""
    ctx = context.current()
    plan = ctx.plan(run)
    return plan is not None and ctx.run_book(run).try_finalize(ctx.storage(plan)) is not None


def send_render(call: TaskCall) -> None:
    # ignore_result: the run book in Redis is the result; this also spares the producer a
    # result subscription per message.
    render_customer.apply_async(kwargs=call.kwargs, kwargsrepr=call.kwargsrepr, ignore_result=True)


def queue_length(celery_app=None, queue: str | None = None) -> int:
    """Messages waiting in the render queue (kombu's passive declare; an empty Redis queue
    does not exist, which kombu reports as an error)."""
    from kombu.exceptions import ChannelError

    with (celery_app or app).connection_for_write() as conn:
        try:
            return conn.default_channel.queue_declare(queue=queue or settings().queue, passive=True).message_count
        except ChannelError:
            return 0


def resend_lost(book: RunBook, send=send_render, celery_app=None, queue: str | None = None,
                stalled_after: float | None = None, heartbeat_ttl: float | None = None) -> int:
    """Recover the run's orphaned and lost chunks (worker.runs: 'Lost and orphaned chunks').
    `send`, `celery_app`, `queue`, `stalled_after` (TRYON_RUN_LOST_AFTER) and `heartbeat_ttl`
    default to this worker's settings; a client of another broker passes its own."""
    s = settings()
    stalled_after = s.run_lost_after if stalled_after is None else stalled_after
    heartbeat_ttl = s.heartbeat_ttl if heartbeat_ttl is None else heartbeat_ttl
    sent = book.resend_lost_chunks(send, stalled_after, lambda: queue_length(celery_app, queue),
                                   heartbeat_ttl=heartbeat_ttl)
    if sent:
        log.warning("run %s: resent %d orphaned or lost chunk(s)", book.run_id, sent)
    return sent


def sweep_run(book: RunBook, bucket: str, s=None, send=send_render, celery_app=None, queue: str | None = None,
              finalize=None, now: float | None = None) -> str:
    """One run holding a bucket's lock, as beat's sweep sees it; what was done (for the log):
    an ended or vanished run frees the lock; a complete run gets its report; a running one its
    orphaned and lost chunks resent; a producer silent for TRYON_PRODUCER_STALLED_AFTER aborts."""
    s = s or settings()
    now = time.time() if now is None else now
    st = book.status()
    state = st.get("state")
    if state is None or state in ENDED:
        BucketLock(book.r, bucket).release(book.run_id)
        return f"lock released ({state or 'record expired'})"
    if state in ("planning", "enqueuing"):
        silent = now - float(st.get("progress_at") or st.get("started") or now)
        if silent > s.producer_stalled_after:
            book.end("aborted", f"the producer stopped while {state} (no progress for {int(silent)} s)")
            return "aborted: producer silent"
        return state
    if book.is_complete(st):
        # one finalize_run (with its retries, ~8 min at the defaults) at a time
        if not book.claim_finalizing(600):
            return "finalizing (under way)"
        (finalize or (lambda run: finalize_run.delay(run)))(book.run_id)
        return "finalizing"
    sent = resend_lost(book, send=send, celery_app=celery_app, queue=queue, stalled_after=s.run_lost_after,
                       heartbeat_ttl=s.heartbeat_ttl)
    return f"resent {sent}" if sent else "running"


@app.task(name="tryon.sweep_runs")
def sweep_runs() -> dict:
    """Beat, every minute: every run holding a bucket's lock (sweep_run)."""
    ctx = context.current()
    out = {}
    for bucket, run_id in BucketLock.active(ctx.redis):
        out[run_id] = sweep_run(ctx.run_book(run_id), bucket, ctx.settings)
    return out
