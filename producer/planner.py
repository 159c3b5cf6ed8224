"""Planning a run: list both prefixes, form customers × garments, skip what is up to date,
split the rest into chunks (worker/plan.py: the plan and the message a chunk becomes).

Scale (10 000 customers × 1 000 garments): the plan holds the two lists once (customers and
garments, key + ETag each: ~11 000 rows); a task message names one customer index and
ranges of garment indices ('0-31'), never keys, so a message is a few hundred bytes and
there is one per customer × chunk of TRYON_CHUNK_SIZE garments (312 500 at 32), streamed
to the broker as they are planned. Memory is O(customers + garments), never O(pairs).

Up-to-date check without 10M HEADs: workers keep tryon/<customer>/_index.json (garment key →
fingerprint of the inputs' ETags and chain version) under a Redis lock; the planner lists
each customer's output folder once and reads its index; a composite the index does not know
as it is now is checked with a HEAD (see `garments_to_render`).
"""
from __future__ import annotations

import datetime as dt
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterator

import botocore.exceptions

from worker import categories, keys
from worker.config import Settings
from worker.customer_index import CustomerIndex
from worker.plan import Chunk, InputObject, Plan, Prefixes, up_to_date
from worker.storage import ObjectInfo, Storage


class PlanError(ValueError):
    """A run that must not be planned as asked (prefixes that overlap the renderer's own output,
    nothing to render): one line for the operator."""


class EmptyPlanError(PlanError):
    pass


def check_prefixes(s: Settings) -> None:
    """Input prefixes must not cover the renderer's own objects: `--customers tryon/` would
    plan composites of composites, `runs/` reports as photos."""
    for name, setting, prefix in (("customers", "TRYON_CUSTOMERS_PREFIX", s.customers_prefix),
                                  ("catalogue", "TRYON_CATALOGUE_PREFIX", s.catalogue_prefix)):
        for what, other in (("output", s.output_prefix), ("runs", s.runs_prefix)):
            if prefix == "/" or prefix.startswith(other) or other.startswith(prefix):
                raise PlanError(f"--{name} {prefix!r} overlaps the {what} prefix {other!r}: the renderer "
                                f"writes there; give the folder of the inputs (--{name} / {setting})")


def check_not_empty(plan: Plan) -> None:
    """Raise EmptyPlanError when the run has no pair to form (a wrong prefix or bucket, usually)."""
    if plan.customers and plan.garments:
        return
    p = plan.prefixes
    raise EmptyPlanError(
        f"nothing to render in bucket {plan.bucket!r}: {len(plan.customers)} usable customer photos under "
        f"{p.customers!r}, {len(plan.garments)} usable garments under {p.catalogue!r} ({len(plan.invalid)} "
        "invalid inputs) — check --customers / --catalogue / --bucket; --allow-empty accepts an empty run")


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


def _storable(objs: list[ObjectInfo], invalid: list[dict], composite_of) -> list[ObjectInfo]:
    # Each pair's key is the customer's part + the garment's (worker/keys.py), each bounded on
    # its own: an input whose part can be written with one probe pair can be with every pair.
    # Checked here so a pair that cannot be stored is reported, never enqueued.
    out = []
    for o in objs:
        try:
            composite_of(o.key)
            out.append(o)
        except keys.InvalidKeyError as e:
            invalid.append({"key": o.key, "reason": f"{o.key!r}: its composites cannot be stored: {e}"})
    return out


def garment_categories(storage: Storage, garments: list[ObjectInfo], prefix: str, invalid: list[dict],
                       parallel: int = 16) -> list[tuple[ObjectInfo, str]]:
    """(garment, its category) for each garment whose category is known (worker/categories.py:
    the catalogue's layout, else the object's metadata, one HEAD each in parallel, else upper);
    the others go into `invalid` with the reason. A garment deleted since the listing keeps
    the default (its pairs then fail with 'object no longer exists'); one whose metadata S3
    would not give (an error answer after botocore's retries) is planned with its category
    unread (None): the worker reads it from the object it downloads, or fails the pairs with
    the S3 error."""
    def metadata(o: ObjectInfo) -> dict | None | bool:
        if not categories.needs_metadata(o.key, prefix):
            return None
        try:
            head = storage.head(o.key)
        except botocore.exceptions.ClientError:
            return False
        return head["metadata"] if head else None

    with ThreadPoolExecutor(max_workers=parallel) as pool:
        metas = list(pool.map(metadata, garments))
    out = []
    for o, meta in zip(garments, metas):
        if meta is False:
            out.append((o, None))
            continue
        category, reason = categories.garment_category(o.key, prefix, meta)
        if reason is not None:
            invalid.append({"key": o.key, "reason": reason})
        else:
            out.append((o, category))
    return out


def build_plan(storage: Storage, s: Settings, run_id: str, force: bool, chain: str) -> Plan:
    reason = keys.check_output_prefix(s.output_prefix)
    if reason is not None:
        raise keys.InvalidKeyError(reason)
    check_prefixes(s)
    customers, bad_c = list_inputs(storage, s.customers_prefix, s.max_input_bytes)
    garments, bad_g = list_inputs(storage, s.catalogue_prefix, s.max_input_bytes)
    invalid = bad_c + bad_g
    customers = _stems_unique(customers, s.customers_prefix, invalid)
    garments = _stems_unique(garments, s.catalogue_prefix, invalid)
    probe_c, probe_g = f"{s.customers_prefix}c.jpg", f"{s.catalogue_prefix}g.jpg"
    customers = _storable(customers, invalid, lambda k: keys.composite_key(
        s.output_prefix, k, s.customers_prefix, probe_g, s.catalogue_prefix))
    garments = _storable(garments, invalid, lambda k: keys.composite_key(
        s.output_prefix, probe_c, s.customers_prefix, k, s.catalogue_prefix))
    categorised = garment_categories(storage, garments, s.catalogue_prefix, invalid)
    return Plan(
        run_id=run_id, bucket=storage.bucket, chain=chain, force=bool(force),
        created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        prefixes=Prefixes.from_settings(s),
        customers=[InputObject(o.key, o.etag, o.size) for o in customers],
        garments=[InputObject(o.key, o.etag, o.size, category) for o, category in categorised],
        invalid=invalid, chunk_size=s.chunk_size, report_max_pairs=s.report_max_pairs)


def garments_to_render(storage: Storage, plan: Plan, ci: int) -> list[int]:
    """Indices of garments whose composite with customer `ci` is missing or stale.

    One LIST of the customer's output folder says which composites exist (one deleted by hand
    is rendered again); the customer's _index.json gives their fingerprints; a composite the
    index does not know as it is now (another ETag: written by a run that died before
    indexing it, or replaced by hand) is checked with a HEAD."""
    n = len(plan.garments)
    if plan.force:
        return list(range(n))
    existing = {o.key: o.etag for o in storage.list(plan.customer_folder(ci))}
    if not existing:
        return list(range(n))
    indexed = CustomerIndex(storage, plan.index_key(ci)).entries()
    customer = plan.customers[ci]
    todo = []
    for gi, garment in enumerate(plan.garments):
        out_key = plan.composite_key(ci, gi)
        if out_key not in existing:
            todo.append(gi)
            continue
        entry = indexed.get(garment.key)
        if entry is not None and entry.get("etag") == existing[out_key]:
            recorded = entry.get("fingerprint")
        else:
            head = storage.head(out_key)
            recorded = keys.recorded_fingerprint(head["metadata"]) if head else None
        if not up_to_date(recorded, customer.etag, garment.etag, plan.chain, garment.category):
            todo.append(gi)
    return todo


@dataclass
class PlanCounts:
    pairs_planned: int = 0
    pairs_up_to_date: int = 0
    pairs_to_render: int = 0
    chunks: int = 0
    invalid_inputs: int = 0


def _todo_per_customer(storage: Storage, plan: Plan, parallel: int) -> Iterator[tuple[int, list[int]]]:
    """(customer index, garments to render) in customer order, with up to `parallel` index
    reads in flight (one GET per customer dominates planning time; boto3 clients are
    thread-safe). The window is bounded so memory stays O(parallel × garments)."""
    n = len(plan.customers)
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


def iter_chunks(storage: Storage, plan: Plan, counts: PlanCounts, parallel: int = 16) -> Iterator[Chunk]:
    size = max(1, plan.chunk_size)
    n_g = len(plan.garments)
    for ci, todo in _todo_per_customer(storage, plan, parallel):
        counts.pairs_planned += n_g
        counts.pairs_up_to_date += n_g - len(todo)
        counts.pairs_to_render += len(todo)
        for start in range(0, len(todo), size):
            counts.chunks += 1
            yield Chunk.of(ci, todo[start:start + size])
