"""Run bookkeeping in Redis (`RunBook`), the one-run-per-bucket lock (`BucketLock`), and
waiting for a run. The report they write at the end is worker/report.py's.

Redis keys of one run (all expire after TRYON_RUN_TTL), built by RunBook only:
    tryon:run:<id>            hash: state, counters (pairs rendered/failed/skipped, chunks done/total)
    tryon:run:<id>:plan       the run plan (JSON; also written to runs/<id>/plan.json)
    tryon:run:<id>:chunks     hash: chunk id → that chunk's per-pair results (JSON)
    tryon:run:<id>:finalized  set once by whoever writes the report
    tryon:run:<id>:sent       set: every chunk id the producer enqueued (deleted with the report)
    tryon:run:<id>:resending  set for one stall period by whoever resends lost chunks
    tryon:run:<id>:executions hash: chunk id → times a worker started it (poison-message limit)
    tryon:run:<id>:started    hash: chunk id → when a worker started it, until it is recorded
    tryon:run:<id>:finalizing set while beat's sweep has a tryon.finalize_run under way
    tryon:run:<id>:beat:<chunk>  the running chunk's heartbeat (expires TRYON_HEARTBEAT_TTL after
                              its worker last renewed it)
and, built by BucketLock only:
    tryon:active-run:<bucket> the run currently active on that bucket (overlap guard)

Counting is idempotent per chunk id: a chunk's results are added with HSETNX and the counters
move in the same Lua script only when that HSETNX created the field, so a re-delivered task
never counts twice. The run completes when chunks done == chunks total; `total` is only known
once the producer has enqueued everything, so both the producer (after setting it) and every
chunk (after recording) check, and a SET NX decides which one writes the report.

A run ends in one of three states, and the bucket's lock is released in each: `finished`
(report written), `aborted` (the producer failed while enqueuing, or an operator aborted it),
`failed` (the report could not be written; the reason is in the record, `python -m producer
resume RUN` tries again). A run never stays `running` for want of one pair: a pair that cannot
be rendered or stored is recorded as failed with its reason.

Lost and orphaned chunks. A worker marks the chunk it starts (`started`) and renews a
heartbeat key while it runs. `resend_lost_chunks` (every waiter, and beat's sweep) sends again:
  * a started chunk whose heartbeat expired (its worker was killed, the node lost) — minutes
    after the loss, not after the broker's visibility timeout; a chunk whose worker still beats
    is never sent twice;
  * when no chunk of the run is in flight, the queue is empty and nothing was recorded for
    TRYON_RUN_LOST_AFTER: every chunk sent but never recorded (Redis can lose a message in
    flight: kombu pops it with BRPOP, then records it as unacknowledged in a second command).
That is safe: rendering skips pairs already written, and recording counts a chunk once.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
import threading
import time
from typing import Callable, Iterator

import redis

from worker.book import Book
from worker.plan import Chunk, Plan, TaskCall
from worker.report import build_report, contact_sheet_html
from worker.storage import Storage

_RECORD_CHUNK = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  redis.call('HINCRBY', KEYS[2], 'chunks_done', 1)
  redis.call('HINCRBY', KEYS[2], 'rendered', ARGV[3])
  redis.call('HINCRBY', KEYS[2], 'failed', ARGV[4])
  redis.call('HINCRBY', KEYS[2], 'skipped_by_worker', ARGV[5])
  redis.call('HINCRBY', KEYS[2], 's3_retries', ARGV[6])
  redis.call('HINCRBY', KEYS[2], 'task_retries', ARGV[7])
  redis.call('HSET', KEYS[2], 'progress_at', ARGV[8])
  redis.call('HINCRBY', KEYS[2], 'needs_review', ARGV[9])
  for stage, seconds in pairs(cjson.decode(ARGV[10])) do
    redis.call('HINCRBYFLOAT', KEYS[2], 'seconds:' .. stage, seconds)
  end
  return 1
end
return 0
"""
_RELEASE_IF_OWNER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# The lock and the run's record in one step (BucketLock.acquire). The holder's record key is
# derived from its id inside the script: fine on one Redis (the project's), not on a cluster.
_ACQUIRE = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then
  local state = redis.call('HGET', ARGV[2] .. holder, 'state')
  if state and state ~= 'finished' and state ~= 'aborted' and state ~= 'failed' then return holder end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
if ARGV[7] ~= 'keep' then
  redis.call('HSET', KEYS[2], 'state', 'planning', 'bucket', ARGV[4], 'started', ARGV[5], 'progress_at', ARGV[5])
  redis.call('EXPIRE', KEYS[2], ARGV[6])
end
return false
"""
ENDED = ("finished", "aborted", "failed")
log = logging.getLogger(__name__)

_INT_FIELDS = ("pairs_planned", "pairs_to_render", "pairs_up_to_date", "invalid_inputs", "chunks_total",
               "chunks_done", "rendered", "failed", "skipped_by_worker", "s3_retries", "task_retries",
               "chunks_resent", "pruned", "needs_review")


def new_run_id(now: dt.datetime | None = None) -> str:
    """'2026-11-23T02:00-ab12': sortable, readable in Flower, unique enough per minute."""
    now = now or dt.datetime.now(dt.timezone.utc)
    return f"{now:%Y-%m-%dT%H:%M}-{secrets.token_hex(2)}"


class RunBook(Book):
    KEY_PREFIX = "tryon:run:"
    RECORD_SCRIPT = _RECORD_CHUNK

    # --- its Redis keys (key, plan_key, finalized_key: Book) -------------------------------
    @property
    def chunks_key(self) -> str:
        return f"{self.key}:chunks"

    @property
    def sent_key(self) -> str:
        return f"{self.key}:sent"

    @property
    def resending_key(self) -> str:
        return f"{self.key}:resending"

    @property
    def executions_key(self) -> str:
        return f"{self.key}:executions"

    @property
    def finalizing_key(self) -> str:
        return f"{self.key}:finalizing"

    def claim_finalizing(self, ttl: int) -> bool:
        """True for the one sweep per `ttl` that may hand the run to tryon.finalize_run (its
        retries take minutes: one chain of them at a time)."""
        return bool(self.r.set(self.finalizing_key, "1", nx=True, ex=max(1, int(ttl))))

    @property
    def started_key(self) -> str:
        return f"{self.key}:started"

    def beat_key(self, chunk: str) -> str:
        return f"{self.key}:beat:{chunk}"

    # --- producer side --------------------------------------------------------------------
    def create(self, plan: Plan, counts: dict, notes: dict[str, str] | None = None) -> None:
        """`counts`: integer fields (pairs_planned, pruned, …); `notes`: text fields (prune: its outcome, JSON)."""
        pipe = self.r.pipeline()
        pipe.set(self.plan_key, json.dumps(plan.to_json(), separators=(",", ":")), ex=self.ttl)
        pipe.hset(self.key, mapping={"state": "enqueuing", "created": plan.created, "bucket": plan.bucket,
                                     "chain": plan.chain, **{k: int(v) for k, v in counts.items()},
                                     **(notes or {})})
        pipe.expire(self.key, self.ttl)
        pipe.execute()

    def mark_sent(self, chunk_ids: list[str]) -> None:
        """Remember enqueued chunks (the producer calls this per batch of messages it sent)."""
        if chunk_ids:
            pipe = self.r.pipeline(transaction=False)
            pipe.sadd(self.sent_key, *chunk_ids)
            pipe.expire(self.sent_key, self.ttl)
            pipe.hset(self.key, "progress_at", f"{time.time():.3f}")  # the producer is alive
            pipe.execute()

    def set_enqueued(self, chunks_total: int, pairs_to_render: int, pairs_up_to_date: int = 0) -> None:
        self.r.hset(self.key, mapping={"pairs_up_to_date": pairs_up_to_date, "chunks_total": chunks_total,
                                       "pairs_to_render": pairs_to_render, "state": "running",
                                       "progress_at": f"{time.time():.3f}", "enqueued": "1"})

    def set_state(self, state: str) -> None:
        self.r.hset(self.key, "state", state)

    def touch(self) -> None:
        """Progress while planning and enqueuing (the sweep aborts a producer that went silent)."""
        self.r.hset(self.key, "progress_at", f"{time.time():.3f}")

    def end(self, state: str, reason: str) -> None:
        """End the run without a report (`aborted` or `failed`), with the reason, and free its
        bucket. Idempotent; a finished run stays finished."""
        assert state in ("aborted", "failed"), state
        if self.state() == "finished":
            return
        bucket = self.r.hget(self.key, "bucket")
        self.r.hset(self.key, mapping={"state": state, "reason": reason[:4000],
                                       "ended": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")})
        self.r.expire(self.key, self.ttl)
        if bucket:
            BucketLock(self.r, bucket.decode()).release(self.run_id)

    # --- worker side ----------------------------------------------------------------------
    def plan(self) -> Plan | None:
        data = self.r.get(self.plan_key)
        return None if data is None else Plan.from_json(json.loads(data))

    def count_execution(self, chunk: str) -> int:
        """How many times a worker has now started `chunk` (this time included)."""
        executions = self.r.hincrby(self.executions_key, chunk, 1)
        self.r.expire(self.executions_key, self.ttl)
        return executions

    def start_chunk(self, chunk: str, heartbeat_ttl: int, holder: str) -> None:
        """A worker starts `chunk`: marked in flight, with a first heartbeat."""
        pipe = self.r.pipeline()
        pipe.hset(self.started_key, chunk, f"{time.time():.3f}")
        pipe.expire(self.started_key, self.ttl)
        pipe.set(self.beat_key(chunk), holder, ex=max(1, int(heartbeat_ttl)))
        pipe.execute()

    def beat(self, chunk: str, heartbeat_ttl: int, holder: str) -> None:
        self.r.set(self.beat_key(chunk), holder, ex=max(1, int(heartbeat_ttl)))

    def stop_chunk(self, chunk: str) -> None:
        """The chunk is recorded (or its execution ended): no longer in flight."""
        pipe = self.r.pipeline()
        pipe.hdel(self.started_key, chunk)
        pipe.delete(self.beat_key(chunk))
        pipe.execute()

    def in_flight(self) -> dict[str, float]:
        """chunk id → when it was started, for chunks started and not yet recorded."""
        return {k.decode(): float(v) for k, v in self.r.hgetall(self.started_key).items()}

    def record_chunk(self, chunk: str, customer_index: int, pairs: list[dict], retries: dict | None = None) -> bool:
        """Add one chunk's per-pair results; False if that chunk was already recorded.
        `retries`: {'s3': botocore retries, 'task': Celery retries} spent on the chunk."""
        n = {s: sum(p["status"] == s for p in pairs) for s in ("rendered", "failed", "skipped")}
        retries = retries or {}
        payload = json.dumps({"customer": customer_index, "pairs": pairs, "retries": retries}, separators=(",", ":"))
        # For the metrics (worker/metrics.py): composites to review, seconds per stage.
        review = sum((p.get("qa") or {}).get("status") == "needs_review" for p in pairs)
        stage_seconds: dict[str, float] = {}
        for p in pairs:
            for stage, sec in (p.get("timings") or {}).items():
                stage_seconds[stage] = stage_seconds.get(stage, 0.0) + float(sec)
        added = self._record(keys=[self.chunks_key, self.key],
                             args=[chunk, payload, n["rendered"], n["failed"], n["skipped"],
                                   int(retries.get("s3", 0)), int(retries.get("task", 0)), f"{time.time():.3f}",
                                   review, json.dumps({k: round(v, 6) for k, v in stage_seconds.items()})])
        self.r.expire(self.chunks_key, self.ttl)
        return bool(added)

    def state(self) -> str | None:
        value = self.r.hget(self.key, "state")
        return None if value is None else value.decode()

    def status(self) -> dict:
        raw = {k.decode(): v.decode() for k, v in self.r.hgetall(self.key).items()}
        for k in _INT_FIELDS:
            raw[k] = int(raw.get(k, 0))
        return raw

    def stage_seconds(self, st: dict | None = None) -> dict[str, float]:
        """Seconds spent per stage over the pairs recorded so far (pose, warp, render, encode, …)."""
        st = st or self.status()
        return {k[len("seconds:"):]: float(v) for k, v in st.items() if k.startswith("seconds:")}

    def is_complete(self, st: dict | None = None) -> bool:
        st = st or self.status()
        return st.get("state") in ("running", "finished") and st["chunks_done"] >= st["chunks_total"]

    def chunks(self):
        for _, value in self.r.hscan_iter(self.chunks_key, count=500):
            yield json.loads(value)

    def unrecorded_chunks(self) -> list[str]:
        """Chunks enqueued whose results were never recorded (queued, running, or lost)."""
        missing, batch = [], []

        def check(ids):
            pipe = self.r.pipeline(transaction=False)
            for c in ids:
                pipe.hexists(self.chunks_key, c)
            missing.extend(c for c, seen in zip(ids, pipe.execute()) if not seen)

        for member in self.r.sscan_iter(self.sent_key, count=1000):
            batch.append(member.decode())
            if len(batch) == 1000:
                check(batch)
                batch = []
        if batch:
            check(batch)
        return sorted(missing)

    def resend_lost_chunks(self, send: Callable[[TaskCall], None], stalled_after: float,
                           queue_length: Callable[[], int], now: float | None = None,
                           heartbeat_ttl: float = 60) -> int:
        """Send again the chunks orphaned by a lost worker or lost by the broker; the number
        sent (see the module docstring). `send(task_call)` enqueues one; `queue_length()` counts
        the messages waiting in the broker's queue. Callers may race: each chunk is claimed
        (HDEL of its in-flight mark, SET NX for the lost ones) by one of them."""
        now = time.time() if now is None else now
        st = self.status()
        if st.get("state") != "running" or self.is_complete(st):
            return 0
        plan = None
        resent = 0
        # 1. Orphans: started, heartbeat gone (the first beat is written with the start mark).
        for chunk, started_at in self.in_flight().items():
            if now - started_at < heartbeat_ttl or self.r.exists(self.beat_key(chunk)):
                continue
            if self.r.hdel(self.started_key, chunk) != 1 or self.r.hexists(self.chunks_key, chunk):
                continue  # another sweeper claimed it, or it was recorded meanwhile
            plan = plan or self.plan()
            send(plan.task_call(Chunk.from_id(chunk)))
            resent += 1
        # 2. Lost before any worker started them: nothing in flight, nothing recorded for a
        # stall period, an empty queue.
        if (not self.in_flight() and now - float(st.get("progress_at") or now) >= stalled_after
                and queue_length() == 0
                and self.r.set(self.resending_key, "1", nx=True, ex=max(1, int(stalled_after)))):
            lost = self.unrecorded_chunks()
            plan = plan or self.plan()
            for chunk in lost:
                send(plan.task_call(Chunk.from_id(chunk)))
            resent += len(lost)
            self.r.hset(self.key, "progress_at", f"{now:.3f}")  # give the resent chunks a full period
        if resent:
            self.r.hincrby(self.key, "chunks_resent", resent)
        return resent

    def try_finalize(self, storage: Storage) -> dict | None:
        """Write report.json + index.html if the run is complete and nobody else has; the report or None."""
        if not self.is_complete():
            return None
        if not self.r.set(self.finalized_key, "1", nx=True, ex=self.ttl):
            return None
        try:
            plan = self.plan()
            report = build_report(plan, self.status(), list(self.chunks()))
            storage.put_json(plan.run_file("report.json"), report)
            storage.put(plan.run_file("index.html"), contact_sheet_html(report, plan).encode(),
                        "text/html; charset=utf-8")
        except BaseException:
            self.r.delete(self.finalized_key)  # let the next completion check try again
            raise
        self.r.hset(self.key, mapping={"state": "finished", "finished": report["finished"]})
        self.r.hdel(self.key, "reason")  # a run resumed after failing: finished now
        self.r.delete(self.sent_key, self.started_key)  # the largest key of a run, only needed while it runs
        BucketLock(self.r, plan.bucket).release(self.run_id)
        return report


class BucketLock:
    """The overlap guard: at most one active run per bucket."""

    _PREFIX = "tryon:active-run:"

    def __init__(self, client: redis.Redis, bucket: str):
        self.r = client
        self.bucket = bucket
        self._acquire = client.register_script(_ACQUIRE)

    @property
    def key(self) -> str:
        return f"{self._PREFIX}{self.bucket}"

    @classmethod
    def active(cls, client: redis.Redis) -> Iterator[tuple[str, str]]:
        """(bucket, run id) of every lock held."""
        for key in client.scan_iter(f"{cls._PREFIX}*"):
            run_id = (client.get(key) or b"").decode()
            if run_id:
                yield key.decode()[len(cls._PREFIX):], run_id

    @classmethod
    def active_runs(cls, client: redis.Redis) -> Iterator[str]:
        """The id of every run holding a bucket's lock."""
        for key in client.scan_iter(f"{cls._PREFIX}*"):
            run_id = (client.get(key) or b"").decode()
            if run_id:
                yield run_id

    def holder(self) -> str | None:
        value = self.r.get(self.key)
        return None if value is None else value.decode()

    def acquire(self, run_id: str, ttl: int, record_ttl: int | None = None) -> str | None:
        """Mark `run_id` as the bucket's active run and create its record (state 'planning') in
        one Redis operation. Returns None on success, else the id of the run still active. A
        lock whose run has ended (finished, aborted, failed) or whose record has expired is
        taken over. Lock and record are made together, so a holder without a record is
        always a dead one: two producers started at once cannot both take the lock."""
        now = f"{time.time():.3f}"
        holder = self._acquire(keys=[self.key, RunBook(self.r, run_id).key],
                               args=[run_id, RunBook.KEY_PREFIX, int(ttl), self.bucket, now,
                                     int(record_ttl or ttl), "new"])
        return None if holder is None else holder.decode()

    def reclaim(self, run_id: str, ttl: int) -> str | None:
        """`acquire` for a run that exists already (`python -m producer resume`): its record is kept."""
        holder = self._acquire(keys=[self.key, RunBook(self.r, run_id).key],
                               args=[run_id, RunBook.KEY_PREFIX, int(ttl), self.bucket, "0", int(ttl), "keep"])
        return None if holder is None else holder.decode()

    def release(self, run_id: str) -> None:
        """Free the lock if `run_id` still holds it."""
        self.r.eval(_RELEASE_IF_OWNER, 1, self.key, run_id)


class RunEndedError(RuntimeError):
    """The run ended without a report (aborted or failed); the message is its reason."""

    def __init__(self, run_id: str, state: str, reason: str):
        super().__init__(f"run {run_id} {state}: {reason}")
        self.run_id, self.state, self.reason = run_id, state, reason


def wait_for(book: RunBook, timeout: float | None = None, poll: float = 0.5, on_progress=None,
             resend_lost=None) -> dict:
    """Block until the run's report is written (state 'finished'); returns the final status.
    Raises RunEndedError when it ends without one (aborted, failed).
    `resend_lost(book)`: called on every poll to recover lost messages (worker.tasks.resend_lost)."""
    start = time.monotonic()
    while True:
        if resend_lost is not None:
            resend_lost(book)
        st = book.status()
        if on_progress:
            on_progress(st)
        if has_ended(book, st, time.monotonic() - start, timeout):
            return st
        time.sleep(poll)


def has_ended(book: RunBook, status: dict, waited: float, timeout: float | None) -> bool:
    """True once the run's report is written; raises RunEndedError when it ended without one
    (aborted, failed) and TimeoutError past `timeout` seconds of waiting."""
    if status.get("state") == "finished":
        return True
    if status.get("state") in ("aborted", "failed"):
        raise RunEndedError(book.run_id, status["state"], status.get("reason") or "no reason recorded")
    if timeout is not None and waited > timeout:
        raise TimeoutError(f"run {book.run_id}: not finished after {timeout}s ({status})")
    return False


class ChunkHeartbeat:
    """While a chunk runs: its in-flight mark and a heartbeat renewed every ttl/4 s from a
    thread, so a sweep can tell a running chunk (never sent twice) from an orphaned one."""

    def __init__(self, book: RunBook, chunk: str, ttl: int, holder: str):
        self.book, self.chunk, self.ttl, self.holder = book, chunk, ttl, holder
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat {chunk}", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(max(0.5, self.ttl / 4)):
            try:
                self.book.beat(self.chunk, self.ttl, self.holder)
            except Exception as e:  # Redis restarting: the next beat may get through
                log.warning("heartbeat of %s: %s", self.chunk, e)

    def __enter__(self) -> "ChunkHeartbeat":
        self.book.start_chunk(self.chunk, self.ttl, self.holder)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        # Recorded, or its retry is published, or on_failure records it next: not in flight.
        try:
            self.book.stop_chunk(self.chunk)
        except Exception as e:  # the mark expires with the run; the sweep skips recorded chunks
            log.warning("could not clear the in-flight mark of %s: %s", self.chunk, e)
