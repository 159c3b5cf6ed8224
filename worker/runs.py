"""Run bookkeeping in Redis, and the run's report.json + index.html in the bucket.

Redis keys of one run (all expire after TRYON_RUN_TTL):
    tryon:run:<id>            hash: state, counters (pairs rendered/failed/skipped, chunks done/total)
    tryon:run:<id>:plan       the run plan (JSON; also written to runs/<id>/plan.json)
    tryon:run:<id>:chunks     hash: chunk id → that chunk's per-pair results (JSON)
    tryon:run:<id>:finalized  set once by whoever writes the report
    tryon:run:<id>:sent       set: every chunk id the producer enqueued (deleted with the report)
    tryon:run:<id>:resending  set for one stall period by whoever resends lost chunks
    tryon:active-run:<bucket> the run currently active on that bucket (overlap guard)

Counting is idempotent per chunk id: a chunk's results are added with HSETNX and the counters
move in the same Lua script only when that HSETNX created the field, so a re-delivered task
never counts twice. The run completes when chunks done == chunks total; `total` is only known
once the producer has enqueued everything, so both the producer (after setting it) and every
chunk (after recording) check, and a SET NX decides which one writes the report.

Lost messages: Redis can lose a message in flight (kombu pops it with BRPOP, then records it
as unacknowledged in a second command; a broker killed in between loses it). Every waiter
(`make enqueue WAIT=1`, the demo) and beat's `tryon.sweep_runs` call `resend_lost_chunks`:
once a running run has made no progress for longer than any message can stay unacknowledged
(visibility timeout + hard time limit) and the queue is empty, the chunks that were sent but
never recorded are sent again. That is safe: rendering skips pairs already written, and
recording counts a chunk once.
"""
from __future__ import annotations

import datetime as dt
import html
import json
import posixpath
import secrets
import time

import redis

from worker import keys
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
  return 1
end
return 0
"""
_RELEASE_IF_OWNER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_INT_FIELDS = ("pairs_planned", "pairs_to_render", "pairs_up_to_date", "invalid_inputs", "chunks_total",
               "chunks_done", "rendered", "failed", "skipped_by_worker", "s3_retries", "task_retries",
               "chunks_resent")


def new_run_id(now: dt.datetime | None = None) -> str:
    """'2026-11-23T02:00-ab12': sortable, readable in Flower, unique enough per minute."""
    now = now or dt.datetime.now(dt.timezone.utc)
    return f"{now:%Y-%m-%dT%H:%M}-{secrets.token_hex(2)}"


def chunk_id(customer_index: int, garment_ranges: list[list[int]]) -> str:
    return f"c{customer_index}:" + ",".join(f"{a}-{b}" for a, b in garment_ranges)


def parse_chunk_id(chunk: str) -> tuple[int, list[list[int]]]:
    """chunk_id's inverse: 'c3:0-4,9-12' → (3, [[0, 4], [9, 12]])."""
    customer, _, ranges = chunk.partition(":")
    if not customer.startswith("c") or not ranges:
        raise ValueError(f"not a chunk id: {chunk!r}")
    return int(customer[1:]), [[int(a), int(b)] for a, b in (r.split("-") for r in ranges.split(","))]


class RunBook:
    def __init__(self, client: redis.Redis, run_id: str, ttl: int = 14 * 24 * 3600):
        self.r = client
        self.run_id = run_id
        self.ttl = ttl
        self.key = f"tryon:run:{run_id}"
        self._record = client.register_script(_RECORD_CHUNK)

    # --- producer side --------------------------------------------------------------------
    def create(self, plan: dict, counts: dict) -> None:
        pipe = self.r.pipeline()
        pipe.set(f"{self.key}:plan", json.dumps(plan, separators=(",", ":")), ex=self.ttl)
        pipe.hset(self.key, mapping={"state": "enqueuing", "created": plan["created"], "bucket": plan["bucket"],
                                     "chain": plan["chain"], **{k: int(v) for k, v in counts.items()}})
        pipe.expire(self.key, self.ttl)
        pipe.execute()

    def mark_sent(self, chunk_ids: list[str]) -> None:
        """Remember enqueued chunks (the producer calls this per batch of messages it sent)."""
        if chunk_ids:
            pipe = self.r.pipeline(transaction=False)
            pipe.sadd(f"{self.key}:sent", *chunk_ids)
            pipe.expire(f"{self.key}:sent", self.ttl)
            pipe.execute()

    def set_enqueued(self, chunks_total: int, pairs_to_render: int) -> None:
        self.r.hset(self.key, mapping={"chunks_total": chunks_total, "pairs_to_render": pairs_to_render,
                                       "state": "running", "progress_at": f"{time.time():.3f}"})

    # --- worker side ----------------------------------------------------------------------
    def plan(self) -> dict | None:
        data = self.r.get(f"{self.key}:plan")
        return None if data is None else json.loads(data)

    def record_chunk(self, chunk: str, customer_index: int, pairs: list[dict], retries: dict | None = None) -> bool:
        """Add one chunk's per-pair results; False if that chunk was already recorded.
        `retries`: {'s3': botocore retries, 'task': Celery retries} spent on the chunk."""
        n = {s: sum(p["status"] == s for p in pairs) for s in ("rendered", "failed", "skipped")}
        retries = retries or {}
        payload = json.dumps({"customer": customer_index, "pairs": pairs, "retries": retries}, separators=(",", ":"))
        added = self._record(keys=[f"{self.key}:chunks", self.key],
                             args=[chunk, payload, n["rendered"], n["failed"], n["skipped"],
                                   int(retries.get("s3", 0)), int(retries.get("task", 0)), f"{time.time():.3f}"])
        self.r.expire(f"{self.key}:chunks", self.ttl)
        return bool(added)

    def status(self) -> dict:
        raw = {k.decode(): v.decode() for k, v in self.r.hgetall(self.key).items()}
        for k in _INT_FIELDS:
            raw[k] = int(raw.get(k, 0))
        return raw

    def is_complete(self, st: dict | None = None) -> bool:
        st = st or self.status()
        return st.get("state") in ("running", "finished") and st["chunks_done"] >= st["chunks_total"]

    def chunks(self):
        for _, value in self.r.hscan_iter(f"{self.key}:chunks", count=500):
            yield json.loads(value)

    def unrecorded_chunks(self) -> list[str]:
        """Chunks enqueued whose results were never recorded (queued, running, or lost)."""
        missing, batch = [], []

        def check(ids):
            pipe = self.r.pipeline(transaction=False)
            for c in ids:
                pipe.hexists(f"{self.key}:chunks", c)
            missing.extend(c for c, seen in zip(ids, pipe.execute()) if not seen)

        for member in self.r.sscan_iter(f"{self.key}:sent", count=1000):
            batch.append(member.decode())
            if len(batch) == 1000:
                check(batch)
                batch = []
        if batch:
            check(batch)
        return sorted(missing)

    def resend_lost_chunks(self, send_chunk, stalled_after: float, queue_length, now: float | None = None) -> int:
        """Send again the chunks lost by the broker; the number sent (see the module docstring).
        `send_chunk(plan, customer, ranges)` enqueues one; `queue_length()` counts the messages
        waiting in the broker's queue. Several callers may race: a SET NX lets one of them act
        per stall period."""
        now = time.time() if now is None else now
        st = self.status()
        if st.get("state") != "running" or self.is_complete(st):
            return 0
        if now - float(st.get("progress_at") or now) < stalled_after or queue_length() > 0:
            return 0
        if not self.r.set(f"{self.key}:resending", "1", nx=True, ex=max(1, int(stalled_after))):
            return 0
        plan = self.plan()
        lost = self.unrecorded_chunks()
        for chunk in lost:
            customer, ranges = parse_chunk_id(chunk)
            send_chunk(plan, customer, ranges)
        pipe = self.r.pipeline()
        pipe.hincrby(self.key, "chunks_resent", len(lost))
        pipe.hset(self.key, "progress_at", f"{now:.3f}")  # give the resent chunks a full period
        pipe.execute()
        return len(lost)

    def try_finalize(self, storage: Storage) -> dict | None:
        """Write report.json + index.html if the run is complete and nobody else has; the report or None."""
        if not self.is_complete():
            return None
        if not self.r.set(f"{self.key}:finalized", "1", nx=True, ex=self.ttl):
            return None
        try:
            plan = self.plan()
            report = build_report(plan, self.status(), list(self.chunks()), storage)
            prefix = plan["prefixes"]["runs"]
            storage.put_json(keys.run_key(prefix, self.run_id, "report.json"), report)
            storage.put(keys.run_key(prefix, self.run_id, "index.html"),
                        contact_sheet_html(report, plan).encode(), "text/html; charset=utf-8")
        except BaseException:
            self.r.delete(f"{self.key}:finalized")  # let the next completion check try again
            raise
        self.r.hset(self.key, mapping={"state": "finished", "finished": report["finished"]})
        self.r.delete(f"{self.key}:sent")  # the largest key of a run, only needed while it runs
        release_active_run(self.r, plan["bucket"], self.run_id)
        return report


# --- overlap guard ---------------------------------------------------------------------------
def active_run_key(bucket: str) -> str:
    return f"tryon:active-run:{bucket}"


def acquire_active_run(client: redis.Redis, bucket: str, run_id: str, ttl: int) -> str | None:
    """Mark `run_id` as the bucket's active run. Returns None on success, else the id of the
    run that is still active (its lock is taken over if that run has finished or vanished)."""
    key = active_run_key(bucket)
    for _ in range(5):
        if client.set(key, run_id, nx=True, ex=ttl):
            return None
        holder = client.get(key)
        if holder is None:
            continue
        holder = holder.decode()
        state = client.hget(f"tryon:run:{holder}", "state")
        if state is not None and state.decode() not in ("finished", "aborted"):
            return holder
        # Finished or expired run left the lock behind: replace it only if it is still that one.
        with client.pipeline() as pipe:
            try:
                pipe.watch(key)
                if pipe.get(key) != holder.encode():
                    continue
                pipe.multi()
                pipe.set(key, run_id, ex=ttl)
                pipe.execute()
                return None
            except redis.WatchError:
                continue
    return client.get(key).decode()


def release_active_run(client: redis.Redis, bucket: str, run_id: str) -> None:
    client.eval(_RELEASE_IF_OWNER, 1, active_run_key(bucket), run_id)


# --- report ----------------------------------------------------------------------------------
def composite_key_for(plan: dict, ci: int, gi: int) -> str:
    p = plan["prefixes"]
    return keys.composite_key(p["output"], plan["customers"][ci][0], p["customers"],
                              plan["garments"][gi][0], p["catalogue"])


def build_report(plan: dict, status: dict, chunks: list[dict], storage: Storage | None = None) -> dict:
    pairs, failures = [], []
    for chunk in sorted(chunks, key=lambda c: c["customer"]):
        ci = chunk["customer"]
        for p in chunk["pairs"]:
            entry = {"customer": plan["customers"][ci][0], "garment": plan["garments"][p["garment"]][0],
                     "status": p["status"], "composite": composite_key_for(plan, ci, p["garment"])}
            for k in ("reason", "timings", "etag", "person_cached"):
                if p.get(k) is not None:
                    entry[k] = p[k]
            if p["status"] == "failed":
                failures.append(entry)
            pairs.append(entry)
    pairs.sort(key=lambda e: (e["customer"], e["garment"]))
    counts = {k: status[k] for k in ("pairs_planned", "pairs_up_to_date", "pairs_to_render", "rendered",
                                     "skipped_by_worker", "failed", "invalid_inputs", "chunks_total")}
    # Retries spent (bounded: TRYON_S3_MAX_ATTEMPTS per S3 call, max_retries per task).
    counts.update({k: int(status.get(k, 0)) for k in ("s3_retries", "task_retries", "chunks_resent")})
    report = {
        "run_id": plan["run_id"], "bucket": plan["bucket"], "chain": plan["chain"], "force": plan["force"],
        "created": plan["created"], "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "customers": len(plan["customers"]), "garments": len(plan["garments"]),
        "counts": counts, "ok": counts["failed"] == 0,
        "invalid": plan.get("invalid", []), "failures": failures,
    }
    if len(pairs) <= plan.get("report_max_pairs", 20000):
        report["pairs"] = pairs
    else:
        report["pairs_omitted"] = f"{len(pairs)} pairs (more than report_max_pairs); failures are listed in full"
    return report


def contact_sheet_html(report: dict, plan: dict) -> str:
    """Customers × garments grid of thumbnails; links are relative to runs/<id>/index.html, so
    the page works from the bucket (static website / any S3 browser) and from a local copy."""
    up = "../" * (len(plan["prefixes"]["runs"].strip("/").split("/")) + 1)
    by_pair = {(p["customer"], p["garment"]): p for p in report.get("pairs", [])}
    customers = sorted({p["customer"] for p in report.get("pairs", [])})
    garments = sorted({p["garment"] for p in report.get("pairs", [])})
    e = html.escape
    c = report["counts"]
    rows = []
    for cust in customers:
        cells = [f"<th>{e(posixpath.basename(cust))}</th>"]
        for g in garments:
            p = by_pair.get((cust, g))
            if p is None:
                cells.append('<td class="none">up to date<br>(not in this run)</td>')
            elif p["status"] == "failed":
                cells.append(f'<td class="failed">failed<br><small>{e(p.get("reason", ""))}</small></td>')
            else:
                href = e(up + p["composite"], quote=True)
                cells.append(f'<td class="{e(p["status"])}"><a href="{href}"><img src="{href}" loading="lazy" '
                             f'alt="{e(p["composite"])}"></a><br><small>{e(p["status"])}</small></td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    head = "<tr><th></th>" + "".join(f"<th>{e(posixpath.basename(g))}</th>" for g in garments) + "</tr>"
    invalid = "".join(f"<li>{e(i['key'])}: {e(i['reason'])}</li>" for i in report.get("invalid", []))
    omitted = f"<p>{e(report['pairs_omitted'])}</p>" if "pairs_omitted" in report else ""
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Try-on run {e(report['run_id'])}</title>
<style>body{{font-family:sans-serif}} td,th{{border:1px solid #ccc;padding:4px;text-align:center;vertical-align:top}}
img{{height:160px}} .failed{{background:#fdd}} .none{{color:#888}} table{{border-collapse:collapse}}</style></head>
<body><h1>Try-on run {e(report['run_id'])}</h1>
<p>bucket <b>{e(report['bucket'])}</b>, chain <b>{e(report['chain'])}</b>, finished {e(report['finished'])}:
{c['rendered']} rendered, {c['pairs_up_to_date'] + c['skipped_by_worker']} up to date, {c['failed']} failed,
{c['invalid_inputs']} invalid inputs.</p>
{omitted}<table>{head}{''.join(rows)}</table>
{'<h2>Invalid inputs</h2><ul>' + invalid + '</ul>' if invalid else ''}
</body></html>
"""


def wait_for(book: RunBook, timeout: float | None = None, poll: float = 0.5, on_progress=None,
             resend_lost=None) -> dict:
    """Block until the run's report is written (state 'finished'); returns the final status.
    `resend_lost(book)`: called on every poll to recover lost messages (worker.tasks.resend_lost)."""
    start = time.monotonic()
    while True:
        if resend_lost is not None:
            resend_lost(book)
        st = book.status()
        if on_progress:
            on_progress(st)
        if st.get("state") == "finished":
            return st
        if st.get("state") == "aborted":
            raise RuntimeError(f"run {book.run_id}: aborted while enqueuing ({st})")
        if timeout is not None and time.monotonic() - start > timeout:
            raise TimeoutError(f"run {book.run_id}: not finished after {timeout}s ({st})")
        time.sleep(poll)
