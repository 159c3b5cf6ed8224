"""Celery tasks of the worker: orchestration only (the work is in worker/render_job.py and
worker/runs.py; the nightly run is the producer's, in producer/tasks.py).

    tryon.render_customer(run, customer, garments, chunk)   one customer × a chunk of garments
    tryon.finalize_run(run)                                 write report.json + index.html if complete
    tryon.sweep_runs()                                      resend chunks the broker lost (beat, every minute)
"""
from __future__ import annotations

import logging

import redis
from celery import Task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_process_init

from worker import context
from worker.celery_app import app
from worker.config import settings
from worker.plan import RENDER_TASK, Chunk, TaskCall
from worker.render_job import failed, finish_interrupted, render_chunk
from worker.runs import BucketLock, RunBook
from worker.storage import TRANSIENT_ERRORS

log = logging.getLogger(__name__)

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
    book.try_finalize(ctx.storage(ctx.plan(book.run_id)))


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
    indices = Chunk(customer, garments).garments
    s3_retries_before = ctx.s3_retries.total
    self.request.tryon_s3_retries_before = s3_retries_before  # for on_failure's record
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


@app.task(name="tryon.finalize_run")
def finalize_run(run: str) -> bool:
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
                stalled_after: float | None = None) -> int:
    """Recover the run's chunks the broker lost (worker.runs: 'Lost messages'). `send`,
    `celery_app`, `queue` and `stalled_after` default to this worker's settings; a client of
    another broker passes its own."""
    stalled_after = settings().run_stalled_after if stalled_after is None else stalled_after
    sent = book.resend_lost_chunks(send, stalled_after, lambda: queue_length(celery_app, queue))
    if sent:
        log.warning("run %s: no progress and an empty queue; resent %d lost chunk(s)", book.run_id, sent)
    return sent


@app.task(name="tryon.sweep_runs")
def sweep_runs() -> dict:
    """Beat, every minute: resend lost chunks of every active run."""
    ctx = context.current()
    return {run_id: resend_lost(ctx.run_book(run_id)) for run_id in BucketLock.active_runs(ctx.redis)}
