"""One chunk's work, without Celery: one customer × a chunk of garments, in steps.

    render_chunk(storage, cache, chain, plan, customer_index, garment_indices, settings)
        → one result per garment: {"garment": i, "status": "rendered"|"skipped"|"failed", ...}

      pairs_to_render   HEAD each composite: pairs already up to date are skipped
      prepare_customer  the photo → a Person, from the cache or computed once (single flight)
      fetch_garments    download and decode each garment (a bad one fails only its pair)
      render_batches    chain.render per batch (a rejected batch is retried garment by garment)
      write_composite   JPEG + metadata to the composite's key
      then the customer's _index.json gets what was written or found up to date.

The task (worker/tasks.py) records the results in the run book.

Bad inputs (undecodable, empty, too large, no person found: models.chain.BadInputError, or an
object deleted since planning) fail only their pairs, with the reason. Transient S3/Redis
errors propagate (the Celery task retries the chunk; pairs already written are then skipped
by their fingerprint, so a retry or a re-delivery never writes a second, different object).
"""
from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from typing import Iterator

import botocore.exceptions
import numpy as np
from celery.exceptions import SoftTimeLimitExceeded

from models.contract import DEFAULT_CATEGORY, BadInputError
from worker import categories, keys
from worker.config import Settings
from worker.customer_index import CustomerIndex
from worker.images import decode_image, encode_jpeg
from worker.person_cache import PersonCache
from worker.plan import InputObject, Plan, fingerprint, up_to_date
from worker.storage import ObjectMissingError, Storage, StoredObject

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PairToRender:
    garment: int        # index into the plan's garments
    garment_key: str
    composite_key: str
    category: str | None = DEFAULT_CATEGORY   # the garment's (worker/categories.py); None: not read yet


@dataclass
class PreparedCustomer:
    key: str
    etag: str           # as fetched now (the composite's fingerprint is made from it)
    person: object      # models.contract.Person, with the photo attached
    cached: bool        # the Person came from the cache
    seconds: float      # fetch + decode + pose and parsing (if computed)


@dataclass
class GarmentInput:
    pair: PairToRender
    etag: str
    image: np.ndarray


def failed(garment: int, reason: str) -> dict:
    return {"garment": garment, "status": "failed", "reason": reason}


def finish_interrupted(results: dict[int, dict], garment_indices: list[int], reason: str) -> list[dict]:
    """The chunk's results after an interruption (time limit, an error that ended the task):
    pairs already written or found up to date keep that status, the rest fail with `reason`."""
    return [results[gi] if gi in results else failed(gi, reason) for gi in garment_indices]


def named(reason: str, key: str) -> str:
    """Stages name their input generically ('photo: no person found', 'garment 0: …'); the
    report line must name the object (found by chaos/ bad_inputs)."""
    return reason if key in reason else f"{key}: {reason}"


def render_chunk(storage: Storage, cache: PersonCache, chain, plan: Plan, customer_index: int,
                 garment_indices: list[int], s: Settings, chain_version: str | None = None,
                 results: dict[int, dict] | None = None) -> list[dict]:
    """`chain_version`: what this worker actually runs (models.chain.chain_version()); the
    composites are stamped with it. Defaults to the version the run was planned with.
    `results`: filled in place as pairs finish, so a caller interrupted mid-chunk (time limit)
    still knows which composites were written."""
    chain_version = chain_version or plan.chain
    results = {} if results is None else results
    customer_entry = plan.customers[customer_index]

    todo = pairs_to_render(storage, plan, customer_index, garment_indices, chain_version, results)
    if not todo:
        return [results[gi] for gi in garment_indices]
    try:
        customer = prepare_customer(storage, cache, chain, customer_entry, chain_version, s.max_input_bytes)
    except BadInputError as e:
        for pair in todo:
            results[pair.garment] = failed(pair.garment, named(str(e), customer_entry.key))
        return [results[gi] for gi in garment_indices]
    garments = fetch_garments(storage, todo, s.max_input_bytes, results, plan.prefixes.catalogue)

    index_updates = {}
    for garment, composite, reason in render_batches(chain, customer.person, garments, s.render_batch):
        if composite is None:
            results[garment.pair.garment] = failed(garment.pair.garment, reason)
            continue
        result, index_record = write_composite(storage, plan.run_id, customer, garment, composite, chain_version,
                                               s.jpeg_quality)
        results[garment.pair.garment] = result
        index_updates[garment.pair.garment_key] = index_record
    # Pairs found up to date by HEAD belong in the index too (e.g. written before a crash).
    for gi, r in results.items():
        if r["status"] == "skipped":
            index_updates[plan.garments[gi].key] = {"fingerprint": r.pop("fingerprint"), "etag": r["etag"],
                                                    "chain": chain_version}
    if index_updates:
        CustomerIndex(storage, plan.index_key(customer_index)).update(cache.r, index_updates,
                                                                      customer=customer_entry.key)
    return [results[gi] for gi in garment_indices]


def pairs_to_render(storage: Storage, plan: Plan, customer_index: int, garment_indices: list[int],
                    chain_version: str, results: dict[int, dict]) -> list[PairToRender]:
    """The pairs whose composite is missing or stale; the others go into `results` as skipped.

    A composite is up to date with the inputs as planned, or (an old message: inputs replaced
    since it was planned, and its pair since rendered from the current ones) as they are now.
    Every pair is rendered when the run is forced."""
    customer = plan.customers[customer_index]
    current_etags: dict[str, str | None] = {}

    def current_etag(key: str) -> str:
        if key not in current_etags:
            head = storage.head(key)
            current_etags[key] = head["etag"] if head else None
        return current_etags[key] or ""

    todo = []
    for gi in garment_indices:
        garment = plan.garments[gi]
        try:
            out_key = plan.composite_key(customer_index, gi)
        except keys.InvalidKeyError as e:  # planned by an older producer: this pair alone fails
            results[gi] = failed(gi, f"composite cannot be stored: {e}")
            continue
        if not plan.force and garment.category is not None:   # (a category unread when planned: render)
            head = storage.head(out_key)
            have = keys.recorded_fingerprint(head["metadata"]) if head else None
            if have is not None and (
                    up_to_date(have, customer.etag, garment.etag, chain_version, garment.category)
                    or up_to_date(have, current_etag(customer.key), current_etag(garment.key), chain_version,
                                  garment.category)):
                results[gi] = {"garment": gi, "status": "skipped", "reason": "up to date", "etag": head["etag"],
                               "fingerprint": have}
                continue
        todo.append(PairToRender(gi, garment.key, out_key, garment.category))
    return todo


def _fetch(storage: Storage, key: str) -> StoredObject:
    try:
        return storage.get(key)
    except ObjectMissingError:
        raise BadInputError(f"{key}: object no longer exists") from None


def prepare_customer(storage: Storage, cache: PersonCache, chain, customer: InputObject, chain_version: str,
                     max_bytes: int) -> PreparedCustomer:
    """The customer's photo → Person (cached per photo content and chain version). Raises
    BadInputError for a photo that is missing, undecodable or has no person in it."""
    t0 = time.perf_counter()
    photo_obj = _fetch(storage, customer.key)
    photo = decode_image(photo_obj.body, customer.key, max_bytes)
    person, cached = cache.get_or_compute(cache.key(photo_obj.body, chain_version), photo,
                                          lambda: chain.prepare_person(photo, name=customer.key),
                                          owner=(storage.bucket, customer.key))
    person.name = customer.key  # refusals at render time (a category's framing) name this photo
    return PreparedCustomer(customer.key, photo_obj.etag, person, cached, time.perf_counter() - t0)


def fetch_garments(storage: Storage, todo: list[PairToRender], max_bytes: int,
                   results: dict[int, dict], catalogue_prefix: str = "") -> list[GarmentInput]:
    """Download and decode each pair's garment; a bad or unreadable one fails only its pair. A
    garment planned with its category unread (S3 would not give its metadata then) takes the
    category of the object downloaded (worker/categories.py), or fails with the reason."""
    garments = []
    for pair in todo:
        try:
            obj = _fetch(storage, pair.garment_key)
            if pair.category is None:
                category, reason = categories.garment_category(pair.garment_key, catalogue_prefix, obj.metadata)
                if reason is not None:
                    results[pair.garment] = failed(pair.garment, reason)
                    continue
                pair = dataclasses.replace(pair, category=category)
            garments.append(GarmentInput(pair, obj.etag, decode_image(obj.body, pair.garment_key, max_bytes)))
        except BadInputError as e:
            results[pair.garment] = failed(pair.garment, str(e))
        except botocore.exceptions.ClientError as e:
            # An error answer that outlasted botocore's retries (e.g. 503 on this object only):
            # fail this pair, not the customer's whole chunk (found by chaos s3_object_unavailable).
            results[pair.garment] = failed(pair.garment, f"{pair.garment_key}: could not be read from S3: {e}")
    return garments


def render_batches(chain, person, garments: list[GarmentInput],
                   batch_size: int) -> Iterator[tuple[GarmentInput, object | None, str | None]]:
    """(garment, models.chain.Composite or None, reason) for every garment, `batch_size` per
    chain.render call, one category per call (in the order categories first appear)."""
    by_category: dict[str, list[GarmentInput]] = {}
    for g in garments:
        by_category.setdefault(g.pair.category, []).append(g)
    for category, group in by_category.items():
        for start in range(0, len(group), batch_size):
            yield from _render_batch(chain, person, group[start:start + batch_size], category)


def _render_batch(chain, person, batch: list[GarmentInput], category: str = DEFAULT_CATEGORY):
    """One chain.render call for the batch; if it rejects the batch, each garment alone, so only
    the bad one fails."""
    try:
        composites = chain.render(person, [g.image for g in batch], names=[g.pair.garment_key for g in batch],
                                  category=category)
        for garment, composite in zip(batch, composites):
            yield garment, composite, None
        return
    except BadInputError as e:
        if len(batch) == 1:
            yield batch[0], None, named(str(e), batch[0].pair.garment_key)
            return
    except SoftTimeLimitExceeded:  # an Exception too: it ends the chunk, it is not this garment's fault
        raise
    except Exception as e:  # a chain bug on one input must not lose the batch or crash the worker
        log.exception("render failed for a batch of %d", len(batch))
        if len(batch) == 1:
            yield batch[0], None, f"{batch[0].pair.garment_key}: render error: {type(e).__name__}: {e}"
            return
    for garment in batch:
        yield from _render_batch(chain, person, [garment], category)


def write_composite(storage: Storage, run_id: str, customer: PreparedCustomer, garment: GarmentInput, composite,
                    chain_version: str, jpeg_quality: int) -> tuple[dict, dict]:
    """Encode and upload one composite with its metadata; (its result, its index record)."""
    t1 = time.perf_counter()
    body = encode_jpeg(composite.image, jpeg_quality)
    fp = fingerprint(customer.etag, garment.etag, chain_version, garment.pair.category)
    timings = dict(composite.timings, person=0.0 if customer.cached else customer.seconds,
                   encode=time.perf_counter() - t1)
    qa = composite.qa.to_dict()
    meta = keys.composite_metadata(fp=fp, customer_key=customer.key, customer_etag=customer.etag,
                                   garment_key=garment.pair.garment_key, garment_etag=garment.etag,
                                   chain_version=chain_version, stages=composite.stages, timings=timings,
                                   run_id=run_id, qa=qa, category=garment.pair.category)
    etag = storage.put(garment.pair.composite_key, body, "image/jpeg", meta)
    result = {"garment": garment.pair.garment, "status": "rendered", "etag": etag, "person_cached": customer.cached,
              "timings": {k: round(v, 4) for k, v in timings.items()},
              "qa": {"status": qa["status"], "reasons": qa["reasons"]}}
    index_record = {"fingerprint": fp, "etag": etag, "chain": chain_version,
                    "customer_etag": customer.etag, "garment_etag": garment.etag, "category": garment.pair.category}
    return result, index_record
