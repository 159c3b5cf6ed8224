"""Planning a run: list both prefixes, form customers × garments, skip what is up to date,
split the rest into small task messages.

Scale (10 000 customers × 1 000 garments): the plan holds the two lists once (customers and
garments, key + ETag each: ~11 000 rows); a task message names one customer index and
ranges of garment indices ('0-31'), never keys, so a message is a few hundred bytes and
there is one per customer × chunk of TRYON_CHUNK_SIZE garments (312 500 at 32), streamed
to the broker as they are planned. Memory is O(customers + garments), never O(pairs).

Up-to-date check without 10M HEADs: workers keep tryon/<customer>/_index.json (garment key →
fingerprint of the inputs' ETags and chain version) under a Redis lock; the planner reads one
index per customer. Only for garments missing from the index does it LIST
tryon/<customer>/ (one request per 1 000 composites) and HEAD the composites that exist
(written but not indexed: a worker died in between). A composite deleted by hand while its
index entry stays is not noticed: use FORCE=1, or delete the customer's _index.json too.
"""
from __future__ import annotations

import datetime as dt
import json
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Iterator

from models.chain import chain_version
from worker import keys
from worker.config import Settings
from worker.runs import RunBook, acquire_active_run, chunk_id, new_run_id, release_active_run
from worker.storage import ObjectInfo, Storage


def list_inputs(storage: Storage, prefix: str, max_bytes: int) -> tuple[list[ObjectInfo], list[dict]]:
    """(usable images sorted by key, [{'key', 'reason'}] for everything else under prefix)."""
    valid, invalid = [], []
    for obj in storage.list(prefix):
        reason = keys.check_input_key(obj.key, prefix)
        if reason is None and obj.size == 0:
            reason = f"{obj.key!r}: empty object"
        if reason is None and obj.size > max_bytes:
            reason = f"{obj.key!r}: too large ({obj.size} bytes; limit {max_bytes})"
        if reason is None:
            valid.append(obj)
        elif not obj.key.endswith("/"):  # folder markers are not worth a report line
            invalid.append({"key": obj.key, "reason": reason})
    valid.sort(key=lambda o: o.key)
    return valid, invalid


def _stems_unique(objs: list[ObjectInfo], prefix: str, invalid: list[dict]) -> list[ObjectInfo]:
    # alice.jpg and alice.png would write the same tryon/alice/...: keep the first, report the rest.
    seen, out = {}, []
    for o in objs:
        st = keys.stem(o.key, prefix)
        if st in seen:
            invalid.append({"key": o.key, "reason": f"{o.key!r}: same name as {seen[st]!r} (one composite path)"})
        else:
            seen[st] = o.key
            out.append(o)
    return out


def build_plan(storage: Storage, s: Settings, run_id: str, force: bool, chain: str) -> dict:
    customers, bad_c = list_inputs(storage, s.customers_prefix, s.max_input_bytes)
    garments, bad_g = list_inputs(storage, s.catalogue_prefix, s.max_input_bytes)
    invalid = bad_c + bad_g
    customers = _stems_unique(customers, s.customers_prefix, invalid)
    garments = _stems_unique(garments, s.catalogue_prefix, invalid)
    return {
        "run_id": run_id, "bucket": storage.bucket, "chain": chain, "force": bool(force),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "prefixes": {"customers": s.customers_prefix, "catalogue": s.catalogue_prefix,
                     "output": s.output_prefix, "runs": s.runs_prefix},
        "customers": [[o.key, o.etag, o.size] for o in customers],
        "garments": [[o.key, o.etag, o.size] for o in garments],
        "invalid": invalid,
        "chunk_size": s.chunk_size,
        "report_max_pairs": s.report_max_pairs,
    }


def garments_to_render(storage: Storage, plan: dict, ci: int) -> list[int]:
    """Indices of garments whose composite with customer `ci` is missing or stale.

    One LIST of the customer's output folder says which composites exist (one deleted by hand
    is rendered again); the customer's _index.json gives their fingerprints; a composite the
    index does not know as it is now (another ETag: written by a run that died before
    indexing it, or replaced by hand) is checked with a HEAD."""
    n = len(plan["garments"])
    if plan["force"]:
        return list(range(n))
    p = plan["prefixes"]
    customer_key, customer_etag, _ = plan["customers"][ci]
    folder = keys.customer_folder(p["output"], customer_key, p["customers"])
    existing = {o.key: o.etag for o in storage.list(folder)}
    if not existing:
        return list(range(n))
    index = storage.get_json(keys.index_key(p["output"], customer_key, p["customers"])) or {}
    indexed = index.get("composites", {})
    todo = []
    for gi, (garment_key, garment_etag, _) in enumerate(plan["garments"]):
        out_key = keys.composite_key(p["output"], customer_key, p["customers"], garment_key, p["catalogue"])
        if out_key not in existing:
            todo.append(gi)
            continue
        fp = keys.fingerprint(customer_etag, garment_etag, plan["chain"])
        entry = indexed.get(garment_key)
        if entry is not None and entry.get("etag") == existing[out_key]:
            current = entry.get("fingerprint") == fp
        else:
            head = storage.head(out_key)
            current = head is not None and head["metadata"].get("tryon-fingerprint") == fp
        if not current:
            todo.append(gi)
    return todo


def to_ranges(indices: list[int]) -> list[list[int]]:
    """[0,1,2,5,6] → [[0,3],[5,7]] (half-open)."""
    out: list[list[int]] = []
    for i in indices:
        if out and out[-1][1] == i:
            out[-1][1] = i + 1
        else:
            out.append([i, i + 1])
    return out


def from_ranges(ranges: list[list[int]]) -> list[int]:
    return [i for a, b in ranges for i in range(a, b)]


def describe_ranges(ranges: list[list[int]], total: int) -> str:
    """[[0,16]] of 1000 → '0-15 of 1000' (inclusive, as people count)."""
    parts = [f"{a}" if b - a == 1 else f"{a}-{b - 1}" for a, b in ranges]
    return f"{','.join(parts)} of {total}"


@dataclass
class Chunk:
    customer: int
    ranges: list[list[int]]
    pairs: int

    @property
    def id(self) -> str:
        return chunk_id(self.customer, self.ranges)


@dataclass
class PlanCounts:
    pairs_planned: int = 0
    pairs_up_to_date: int = 0
    pairs_to_render: int = 0
    chunks: int = 0
    invalid_inputs: int = 0
    per_customer: list = field(default_factory=list)


def _todo_per_customer(storage: Storage, plan: dict, parallel: int) -> Iterator[tuple[int, list[int]]]:
    """(customer index, garments to render) in customer order, with up to `parallel` index
    reads in flight (one GET per customer dominates planning time; boto3 clients are
    thread-safe). The window is bounded so memory stays O(parallel × garments)."""
    n = len(plan["customers"])
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        window = deque()
        for ci in range(n):
            window.append((ci, pool.submit(garments_to_render, storage, plan, ci)))
            if len(window) >= parallel:
                ci0, fut = window.popleft()
                yield ci0, fut.result()
        while window:
            ci0, fut = window.popleft()
            yield ci0, fut.result()


def iter_chunks(storage: Storage, plan: dict, counts: PlanCounts, parallel: int = 16) -> Iterator[Chunk]:
    size = max(1, int(plan["chunk_size"]))
    n_g = len(plan["garments"])
    for ci, todo in _todo_per_customer(storage, plan, parallel):
        counts.pairs_planned += n_g
        counts.pairs_up_to_date += n_g - len(todo)
        counts.pairs_to_render += len(todo)
        for start in range(0, len(todo), size):
            part = todo[start:start + size]
            counts.chunks += 1
            yield Chunk(ci, to_ranges(part), len(part))


def task_call(plan: dict, chunk: Chunk) -> dict:
    """kwargs (small: indices) and the human-readable kwargsrepr Flower shows."""
    kwargs = {"run": plan["run_id"], "customer": chunk.customer, "garments": chunk.ranges, "chunk": chunk.id}
    shown = {"run": plan["run_id"], "customer": plan["customers"][chunk.customer][0],
             "garments": describe_ranges(chunk.ranges, len(plan["garments"]))}
    return {"kwargs": kwargs, "kwargsrepr": ", ".join(f"{k}={v!r}" for k, v in shown.items())}


class RunActiveError(RuntimeError):
    pass


def start_run(storage: Storage, redis_client, s: Settings, send: Callable[[dict], None], *, force: bool = False,
              chain: str | None = None, run_id: str | None = None, log: Callable[[str], None] = print) -> dict:
    """Plan, record and enqueue one run; returns {'run_id', counts...}. `send(task_call)`
    enqueues one message. Raises RunActiveError if another run on the bucket is active."""
    run_id = run_id or new_run_id()
    holder = acquire_active_run(redis_client, storage.bucket, run_id, s.run_lock_ttl)
    if holder is not None:
        raise RunActiveError(f"run {holder} is still active on bucket {storage.bucket!r}; not starting another")
    book = RunBook(redis_client, run_id, ttl=s.run_ttl)
    try:
        plan = build_plan(storage, s, run_id, force, chain or chain_version())
        counts = PlanCounts(invalid_inputs=len(plan["invalid"]))
        # The plan is written once (Redis for workers, the bucket for the record) before any message.
        book.create(plan, {"invalid_inputs": counts.invalid_inputs,
                           "pairs_planned": len(plan["customers"]) * len(plan["garments"])})
        storage.put_json(keys.run_key(s.runs_prefix, run_id, "plan.json"), plan)
        sent = []
        for chunk in iter_chunks(storage, plan, counts):
            send(task_call(plan, chunk))
            sent.append(chunk.id)
            if len(sent) >= 1000:  # remembered in batches: lost messages are found by these ids
                book.mark_sent(sent)
                sent = []
        book.mark_sent(sent)
        book.r.hset(book.key, mapping={"pairs_up_to_date": counts.pairs_up_to_date})
        book.set_enqueued(counts.chunks, counts.pairs_to_render)
    except BaseException:
        # Messages already sent still run; the run is marked so nobody waits for its report.
        redis_client.hset(book.key, "state", "aborted")
        release_active_run(redis_client, storage.bucket, run_id)
        raise
    book.try_finalize(storage)  # nothing to render, or workers finished before `chunks_total` was set
    return {"run_id": run_id, "customers": len(plan["customers"]), "garments": len(plan["garments"]),
            "to_render": counts.pairs_to_render, "skipped": counts.pairs_up_to_date,
            "invalid": counts.invalid_inputs, "chunks": counts.chunks, "invalid_list": plan["invalid"]}


def dry_run(storage: Storage, s: Settings, *, force: bool = False, chain: str | None = None,
            out: Callable[[str], None] = print, max_lines: int = 50) -> dict:
    """Print the plan without enqueuing or writing anything."""
    plan = build_plan(storage, s, "dry-run", force, chain or chain_version())
    counts = PlanCounts(invalid_inputs=len(plan["invalid"]))
    out(f"plan: {len(plan['customers'])} customers × {len(plan['garments'])} garments, chain {plan['chain']}"
        f"{' (forced)' if force else ''}")
    shown = 0
    for chunk in iter_chunks(storage, plan, counts):
        if shown < max_lines:
            call = task_call(plan, chunk)
            out(f"  tryon.render_customer({call['kwargsrepr']})")
        shown += 1
    if shown > max_lines:
        out(f"  … {shown - max_lines} more tasks")
    for item in plan["invalid"]:
        out(f"  invalid: {item['reason']}")
    out(json.dumps({"to_render": counts.pairs_to_render, "skipped": counts.pairs_up_to_date,
                    "invalid": counts.invalid_inputs, "tasks": counts.chunks}))
    return {"to_render": counts.pairs_to_render, "skipped": counts.pairs_up_to_date,
            "invalid": counts.invalid_inputs, "chunks": counts.chunks}
