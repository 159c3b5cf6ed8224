"""Celery tasks: orchestration only (the work is in worker/render_job.py and worker/runs.py).

    tryon.render_customer(run, customer, garments, chunk)   one customer × a chunk of garments
    tryon.finalize_run(run)                                 write report.json + index.html if complete
    tryon.nightly()                                         the producer over the whole bucket (beat)
    tryon.sweep_runs()                                      resend chunks the broker lost (beat, every minute)
"""
from __future__ import annotations

import logging
from collections import OrderedDict

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.retry import Retry
from celery import Task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_process_init

from worker.celery_app import app
from worker.config import settings
from worker.person_cache import PersonCache
from worker.render_job import finish_interrupted, render_chunk
from worker.runs import RunBook
from worker.storage import TRANSIENT_ERRORS, RetryCounter, Storage, make_client

log = logging.getLogger(__name__)

MAX_EXECUTIONS = 10  # per chunk: autoretries (max_retries=6) + a few re-deliveries
RETRY_ON = TRANSIENT_ERRORS + (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, TimeoutError)


class _Process:
    """Per-process clients (created after fork: sockets must not be shared across processes)."""

    def __init__(self):
        self.s = settings()
        self.s3 = make_client(self.s)
        self.s3_retries = RetryCounter(self.s3)
        # Retry commands through a Redis restart (~45 s) instead of failing the chunk: the
        # fallback, a Celery retry, needs the broker too (see task_publish_retry_policy).
        self.redis = redis.Redis.from_url(
            self.s.redis_url, health_check_interval=30,
            retry=Retry(ExponentialWithJitterBackoff(base=0.25, cap=4), retries=15),
            retry_on_error=[redis.exceptions.ConnectionError, redis.exceptions.TimeoutError])
        self.cache = PersonCache(self.redis, ttl=self.s.person_cache_ttl)
        self.plans: OrderedDict[str, dict] = OrderedDict()
        self._chain_version: str | None = None

    @property
    def chain_version(self) -> str:
        if self._chain_version is None:
            from models.chain import chain_version
            self._chain_version = chain_version()
        return self._chain_version

    def plan(self, run_id: str) -> dict | None:
        if run_id not in self.plans:
            plan = RunBook(self.redis, run_id).plan()
            if plan is None:
                return None
            self.plans[run_id] = plan
            while len(self.plans) > 4:  # plans of finished runs are not needed any more
                self.plans.popitem(last=False)
        return self.plans[run_id]

    def storage(self, plan: dict | None) -> Storage:
        # The bucket is the run's (make enqueue BUCKET=...), not necessarily this worker's default.
        return Storage(self.s3, plan["bucket"] if plan else self.s.bucket)


_proc: _Process | None = None


def proc() -> _Process:
    global _proc
    if _proc is None:
        _proc = _Process()
    return _proc


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
    global _proc
    _proc = _Process()
    _set_compute_threads()
    from models import chain
    try:
        options = chain.ChainOptions()
        chain.stages((options.mode, options.cpvton_original))
        log.info("chain loaded: %s", options.fingerprint())
    except Exception:  # the worker still starts; its tasks fail their pairs with the reason
        log.exception("chain could not be loaded")


def _s3_retries_since(task, p) -> int:
    before = getattr(task.request, "tryon_s3_retries_before", None)
    return 0 if before is None else p.s3_retries.total - before


class RecordingTask(Task):
    """A chunk that fails for good (retries exhausted, unexpected error) is still recorded, as
    failed pairs with the reason, so the run completes and its report says what happened."""

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        try:
            p = proc()
            book = RunBook(p.redis, kwargs["run"], ttl=p.s.run_ttl)
            from producer.plan import from_ranges
            reason = f"task failed: {type(exc).__name__}: {exc}"
            # Pairs this execution already wrote stay rendered: the report must not call a
            # pair failed whose composite is in the bucket.
            written = getattr(self.request, "tryon_results", None) or {}
            book.record_chunk(kwargs["chunk"], kwargs["customer"],
                              finish_interrupted(written, from_ranges(kwargs["garments"]), reason),
                              retries={"task": self.request.retries, "s3": _s3_retries_since(self, p)})
            book.try_finalize(p.storage(p.plan(kwargs["run"])))
        except Exception:
            log.exception("could not record failed chunk %s", kwargs.get("chunk"))


@app.task(name="tryon.render_customer", base=RecordingTask, bind=True, autoretry_for=RETRY_ON,
          retry_backoff=True, retry_backoff_max=300, retry_jitter=True, max_retries=6)
def render_customer(self, run: str, customer: int, garments: list[list[int]], chunk: str) -> dict:
    from models import chain
    from producer.plan import from_ranges

    p = proc()
    book = RunBook(p.redis, run, ttl=p.s.run_ttl)
    plan = p.plan(run)
    if plan is None:
        log.warning("run %s: plan expired or unknown; dropping chunk %s", run, chunk)
        return {"run": run, "chunk": chunk, "dropped": "unknown run"}
    indices = from_ranges(garments)
    s3_retries_before = p.s3_retries.total
    self.request.tryon_s3_retries_before = s3_retries_before  # for on_failure's record
    # A chunk that keeps killing its worker (OOM, segfault) comes back after every loss
    # (acks_late + reject_on_worker_lost); stop it after a few executions instead of looping.
    executions = p.redis.hincrby(f"{book.key}:executions", chunk, 1)
    p.redis.expire(f"{book.key}:executions", p.s.run_ttl)
    if executions > MAX_EXECUTIONS:
        results = [{"garment": gi, "status": "failed",
                    "reason": f"gave up after {MAX_EXECUTIONS} attempts (worker lost or retried each time)"}
                   for gi in indices]
        book.record_chunk(chunk, customer, results)
        book.try_finalize(p.storage(plan))
        return {"run": run, "chunk": chunk, "rendered": 0, "skipped": 0, "failed": len(indices)}
    written: dict[int, dict] = {}  # filled as pairs finish; survives an interruption
    self.request.tryon_results = written
    try:
        if plan["chain"] != p.chain_version:  # e.g. the producer ran where other weights are
            log.warning("run %s was planned for chain %s; this worker runs %s (composites get the latter)",
                        run, plan["chain"], p.chain_version)
        results = render_chunk(p.storage(plan), p.cache, chain, plan, customer, indices, p.s,
                               chain_version=p.chain_version, results=written)
    except SoftTimeLimitExceeded:
        results = finish_interrupted(written, indices,
                                     f"time limit ({p.s.task_soft_time_limit}s) exceeded for the chunk")
    book.record_chunk(chunk, customer, results,
                      retries={"s3": p.s3_retries.total - s3_retries_before, "task": self.request.retries})
    book.try_finalize(p.storage(plan))
    counts = {s: sum(r["status"] == s for r in results) for s in ("rendered", "skipped", "failed")}
    return {"run": run, "chunk": chunk, **counts}


@app.task(name="tryon.finalize_run")
def finalize_run(run: str) -> bool:
    p = proc()
    plan = p.plan(run)
    return plan is not None and RunBook(p.redis, run, ttl=p.s.run_ttl).try_finalize(p.storage(plan)) is not None


def send_render(call: dict) -> None:
    # ignore_result: the run book in Redis is the result; this also spares the producer a
    # result subscription per message.
    render_customer.apply_async(kwargs=call["kwargs"], kwargsrepr=call["kwargsrepr"], ignore_result=True)


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
    from producer.plan import Chunk, task_call

    def send_chunk(plan, customer, ranges):
        send(task_call(plan, Chunk(customer, ranges, sum(b - a for a, b in ranges))))

    stalled_after = settings().run_stalled_after if stalled_after is None else stalled_after
    sent = book.resend_lost_chunks(send_chunk, stalled_after,
                                   lambda: queue_length(celery_app, queue))
    if sent:
        log.warning("run %s: no progress and an empty queue; resent %d lost chunk(s)", book.run_id, sent)
    return sent


@app.task(name="tryon.sweep_runs")
def sweep_runs() -> dict:
    """Beat, every minute: resend lost chunks of every active run."""
    p = proc()
    resent = {}
    for key in p.redis.scan_iter("tryon:active-run:*"):
        run_id = (p.redis.get(key) or b"").decode()
        if run_id:
            resent[run_id] = resend_lost(RunBook(p.redis, run_id, ttl=p.s.run_ttl))
    return resent


@app.task(name="tryon.nightly", autoretry_for=RETRY_ON, retry_backoff=True, max_retries=3)
def nightly() -> dict:
    """The producer over the whole bucket; not started while another run is active."""
    from producer.plan import RunActiveError, start_run

    p = proc()
    try:
        summary = start_run(p.storage(None), p.redis, p.s, send_render, log=log.info)
    except RunActiveError as e:
        log.warning("nightly run not started: %s", e)
        return {"started": False, "reason": str(e)}
    summary.pop("invalid_list", None)
    return {"started": True, **summary}
