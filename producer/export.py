"""Starting a bucket export (`make prepare BUCKET=… LAYOUT=…`): list the customer and catalogue
prefixes as a render run does, name every input for the layout, record the plan, send one
message per person and per chunk of garments (worker/export_job.py does the work).

    start_export(storage, redis, settings, send, layout=…, framing="person")   → {'run_id', counts…, 'invalid_list'}

The plan carries the framing (models.export.FRAMINGS) to the workers, and the chain version the
persons are prepared with for it (models.chain.options_for_framing: the render runs' own where
their framing is the export's, so the persons they cached are reused).
"""
from __future__ import annotations

from typing import Callable

from models.export import DEFAULT_FRAMING, check_framing
from models.export import layout as layout_spec
from models.export.run import assign_names, now
from producer.planner import list_inputs
from worker import keys
from worker.config import Settings
from worker.export_job import EXPORT_PREFIX, ExportBook, ExportInput, ExportLock, ExportPlan
from worker.runs import new_run_id
from worker.storage import ObjectInfo, Storage


class ExportActiveError(RuntimeError):
    pass


def _named(objs: list[ObjectInfo], prefix: str, invalid: list[dict]) -> list[ExportInput]:
    names, clashes = assign_names([(o.key, keys.stem(o.key, prefix)) for o in objs])
    invalid.extend(clashes)
    return [ExportInput(o.key, o.etag, o.size, names[o.key]) for o in objs if o.key in names]


def build_export_plan(storage: Storage, s: Settings, run_id: str, layout: str, split: str, chain: str,
                      prefix: str = EXPORT_PREFIX, framing: str = DEFAULT_FRAMING) -> ExportPlan:
    layout_spec(layout)  # a ValueError names the layouts
    check_framing(framing)
    persons, bad_p = list_inputs(storage, s.customers_prefix, s.max_input_bytes)
    garments, bad_g = list_inputs(storage, s.catalogue_prefix, s.max_input_bytes)
    invalid = bad_p + bad_g
    return ExportPlan(run_id=run_id, bucket=storage.bucket, layout=layout, split=split, chain=chain,
                      created=now(), customers_prefix=s.customers_prefix, catalogue_prefix=s.catalogue_prefix,
                      root=f"{prefix.strip('/')}/{layout}/", persons=_named(persons, s.customers_prefix, invalid),
                      garments=_named(garments, s.catalogue_prefix, invalid), invalid=invalid,
                      chunk_size=s.chunk_size, framing=framing)


def start_export(storage: Storage, redis_client, s: Settings, send: Callable[[ExportPlan, str], None], *,
                 layout: str, split: str = "test", chain: str | None = None, prefix: str = EXPORT_PREFIX,
                 run_id: str | None = None, framing: str = DEFAULT_FRAMING) -> dict:
    """Plan, record and enqueue one export, each person framed as `framing` says. Raises
    ExportActiveError if an export of the same layout is still active on the bucket."""
    from models.chain import chain_version, options_for_framing

    check_framing(framing)

    run_id = run_id or new_run_id()
    lock = ExportLock(redis_client, storage.bucket, layout)
    holder = lock.acquire(run_id, s.run_lock_ttl)
    if holder is not None:
        raise ExportActiveError(f"export {holder} of {layout} is still active on bucket {storage.bucket!r}")
    book = ExportBook(redis_client, run_id, ttl=s.run_ttl)
    try:
        plan = build_export_plan(storage, s, run_id, layout, split,
                                 chain or chain_version(options_for_framing(framing)), prefix, framing)
        book.create(plan)
        for item in plan.items():
            send(plan, item)
        book.transition("enqueuing", "running")
    except BaseException:
        book.transition("enqueuing", "aborted")  # items already sent still run
        lock.release(run_id)
        raise
    book.try_finalize(storage)  # nothing to export, or the workers were faster than this loop
    return {"run_id": run_id, "layout": layout, "framing": framing, "root": plan.root, "persons": len(plan.persons),
            "garments": len(plan.garments), "items": len(plan.items()), "invalid": len(plan.invalid),
            "invalid_list": plan.invalid}
