"""Starting a run: take the bucket's lock, plan, prune, record the plan, send one message per chunk.

    start_run(storage, redis, settings, send)   what `python -m producer` and the nightly task do
    dry_run(storage, settings)                  the plan (and what pruning would delete) printed;
                                                nothing enqueued, written or deleted
"""
from __future__ import annotations

import json
from typing import Callable

from models.chain import chain_version
from producer.planner import PlanCounts, build_plan, check_not_empty, iter_chunks
from producer.prune import PruneResult, prune
from worker.config import Settings
from worker.plan import TaskCall
from worker.runs import BucketLock, RunBook, new_run_id
from worker.storage import Storage


class RunActiveError(RuntimeError):
    pass


def _prune_step(storage: Storage, redis_client, plan, s: Settings, skip_prune: str | None,
                dry_run: bool = False) -> PruneResult:
    if not s.prune:
        return PruneResult("off (TRYON_PRUNE=off)")
    if skip_prune:
        return PruneResult(f"skipped: {skip_prune}")
    return prune(storage, redis_client, plan, dry_run=dry_run)


def start_run(storage: Storage, redis_client, s: Settings, send: Callable[[TaskCall], None], *, force: bool = False,
              chain: str | None = None, run_id: str | None = None, skip_prune: str | None = None,
              allow_empty: bool = True) -> dict:
    """Plan, prune, record and enqueue one run; returns {'run_id', counts...}. `send(task_call)`
    enqueues one message. Raises RunActiveError if another run on the bucket is active.
    Pruning (producer/prune.py) runs unless TRYON_PRUNE=off or `skip_prune` says why not.
    `allow_empty=False`: a plan without customers or garments raises EmptyPlanError (the run is
    aborted with that reason)."""
    run_id = run_id or new_run_id()
    lock = BucketLock(redis_client, storage.bucket)
    holder = lock.acquire(run_id, s.run_lock_ttl, record_ttl=s.run_ttl)
    if holder is not None:
        raise RunActiveError(f"run {holder} is still active on bucket {storage.bucket!r}; not starting another")
    book = RunBook(redis_client, run_id, ttl=s.run_ttl)
    try:
        plan = build_plan(storage, s, run_id, force, chain or chain_version())
        if not allow_empty:
            check_not_empty(plan)
        # Before any message: pruning sees the plan's listing, and no worker writes meanwhile.
        pruned = _prune_step(storage, redis_client, plan, s, skip_prune)
        counts = PlanCounts(invalid_inputs=len(plan.invalid))
        # The plan is written once (Redis for workers, the bucket for the record) before any message.
        book.create(plan, {"invalid_inputs": counts.invalid_inputs, "pairs_planned": plan.pairs,
                           "pruned": pruned.pruned}, notes={"prune": json.dumps(pruned.to_json())})
        storage.put_json(plan.run_file("plan.json"), plan.to_json())
        sent = []
        for chunk in iter_chunks(storage, plan, counts):
            send(plan.task_call(chunk))
            sent.append(chunk.id)
            if len(sent) >= 1000:  # remembered in batches: lost messages are found by these ids
                book.mark_sent(sent)
                sent = []
        book.mark_sent(sent)
        book.set_enqueued(counts.chunks, counts.pairs_to_render, counts.pairs_up_to_date)
    except BaseException as e:
        # Messages already sent are dropped by the workers; the run is marked (with the reason)
        # so nobody waits for its report, and the bucket is free again.
        book.end("aborted", f"the producer failed while enqueuing: {type(e).__name__}: {e}")
        lock.release(run_id)
        raise
    book.try_finalize(storage)  # nothing to render, or workers finished before `chunks_total` was set
    return {"run_id": run_id, "customers": len(plan.customers), "garments": len(plan.garments),
            "to_render": counts.pairs_to_render, "skipped": counts.pairs_up_to_date,
            "invalid": counts.invalid_inputs, "chunks": counts.chunks, "invalid_list": plan.invalid,
            "pruned": pruned.pruned, "prune": pruned.to_json(), "prune_lines": pruned.lines()}


def dry_run(storage: Storage, s: Settings, *, force: bool = False, chain: str | None = None,
            out: Callable[[str], None] = print, max_lines: int = 50, skip_prune: str | None = None,
            allow_empty: bool = True) -> dict:
    """Print the plan, and what pruning would delete, without enqueuing, writing or deleting anything."""
    plan = build_plan(storage, s, "dry-run", force, chain or chain_version())
    if not allow_empty:
        check_not_empty(plan)
    counts = PlanCounts(invalid_inputs=len(plan.invalid))
    out(f"plan: {len(plan.customers)} customers × {len(plan.garments)} garments, chain {plan.chain}"
        f"{' (forced)' if force else ''}")
    shown = 0
    for chunk in iter_chunks(storage, plan, counts):
        if shown < max_lines:
            out(f"  {plan.task_call(chunk).describe()}")
        shown += 1
    if shown > max_lines:
        out(f"  … {shown - max_lines} more tasks")
    for item in plan.invalid:
        out(f"  invalid: {item['reason']}")
    pruned = _prune_step(storage, None, plan, s, skip_prune, dry_run=True)
    for line in pruned.lines(dry_run=True):
        out(line)
    out(json.dumps({"to_render": counts.pairs_to_render, "skipped": counts.pairs_up_to_date,
                    "invalid": counts.invalid_inputs, "tasks": counts.chunks}))
    return {"to_render": counts.pairs_to_render, "skipped": counts.pairs_up_to_date,
            "invalid": counts.invalid_inputs, "chunks": counts.chunks, "prune": pruned}
