"""One task's work, without Celery: render one customer in a chunk of garments.

    render_chunk(storage, cache, chain, plan, customer_index, garment_indices, settings)
        → one result dict per garment: {"garment": i, "status": "rendered"|"skipped"|"failed", ...}

Bad inputs (undecodable, empty, too large, no person found: models.chain.BadInputError, or an
object deleted since planning) fail only their pairs, with the reason. Transient S3/Redis
errors propagate (the Celery task retries the chunk; pairs already written are then skipped
by their fingerprint, so a retry or a re-delivery never writes a second, different object).
"""
from __future__ import annotations

import hashlib
import logging
import struct
import time

import botocore.exceptions
import cv2
import numpy as np
from celery.exceptions import SoftTimeLimitExceeded

from models.contract import MAX_PIXELS, BadInputError, check_image
from worker import keys
from worker.config import Settings
from worker.person_cache import PersonCache
from worker.storage import ObjectMissingError, Storage

log = logging.getLogger(__name__)


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG or JPEG header without decoding; None for other formats."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    if data[:2] == b"\xff\xd8":
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                return None
            marker = data[i + 1]
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
                i += 2
                continue
            length = struct.unpack(">H", data[i + 2:i + 4])[0]
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # SOFn frame header
                h, w = struct.unpack(">HH", data[i + 5:i + 9])
                return w, h
            i += 2 + length
    return None


def decode_image(data: bytes, name: str, max_bytes: int) -> np.ndarray:
    """Bytes → BGR uint8, refusing empty, oversized and pixel-bomb inputs before decoding."""
    if not data:
        raise BadInputError(f"{name}: empty object")
    if len(data) > max_bytes:
        raise BadInputError(f"{name}: too large ({len(data)} bytes; limit {max_bytes})")
    size = image_size(data)
    if size is not None and size[0] * size[1] > MAX_PIXELS:
        raise BadInputError(f"{name}: too large ({size[0]}×{size[1]} px; limit {MAX_PIXELS} pixels)")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return check_image(image, name)


def encode_jpeg(image_bgr: np.ndarray, quality: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", image_bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


def _fetch(storage: Storage, key: str, name: str):
    try:
        obj = storage.get(key)
    except ObjectMissingError:
        raise BadInputError(f"{name}: object no longer exists") from None
    return obj


def render_chunk(storage: Storage, cache: PersonCache, chain, plan: dict, customer_index: int,
                 garment_indices: list[int], s: Settings, chain_version: str | None = None,
                 results: dict[int, dict] | None = None) -> list[dict]:
    """`chain_version`: what this worker actually runs (models.chain.chain_version()); the
    composites are stamped with it. Defaults to the version the run was planned with.
    `results`: filled in place as pairs finish, so a caller interrupted mid-chunk (time limit)
    still knows which composites were written."""
    p = plan["prefixes"]
    chain_version = chain_version or plan["chain"]
    customer_key, customer_etag, _ = plan["customers"][customer_index]
    results = {} if results is None else results

    def fail(gi: int, reason: str) -> None:
        results[gi] = {"garment": gi, "status": "failed", "reason": reason}

    # Pairs whose composite already carries the expected fingerprint are done (re-delivery,
    # retry, or a concurrent run); unless the run is forced.
    todo = []
    current_etags: dict[str, str | None] = {}

    def current_etag(key: str) -> str | None:
        if key not in current_etags:
            head = storage.head(key)
            current_etags[key] = head["etag"] if head else None
        return current_etags[key]

    for gi in garment_indices:
        garment_key, garment_etag, _ = plan["garments"][gi]
        out_key = keys.composite_key(p["output"], customer_key, p["customers"], garment_key, p["catalogue"])
        if not plan["force"]:
            head = storage.head(out_key)
            have = head["metadata"].get("tryon-fingerprint") if head else None
            if have is not None and (
                    have == keys.fingerprint(customer_etag, garment_etag, chain_version)
                    # An old message (inputs replaced since it was planned) whose pair was
                    # since rendered from the current inputs: also up to date.
                    or have == keys.fingerprint(current_etag(customer_key) or "", current_etag(garment_key) or "",
                                                chain_version)):
                results[gi] = {"garment": gi, "status": "skipped", "reason": "up to date", "etag": head["etag"],
                               "fingerprint": have}
                continue
        todo.append((gi, garment_key, out_key))
    if not todo:
        return [results[gi] for gi in garment_indices]

    # The customer: photo → Person (cached per photo content and chain version).
    t0 = time.perf_counter()
    try:
        photo_obj = _fetch(storage, customer_key, customer_key)
        photo = decode_image(photo_obj.body, customer_key, s.max_input_bytes)
        cache_key = cache.key(photo_obj.body, chain_version)
        person, cached = cache.get_or_compute(cache_key, photo,
                                              lambda: chain.prepare_person(photo, name=customer_key))
    except BadInputError as e:
        for gi, _, _ in todo:
            fail(gi, named(str(e), customer_key))
        return [results[gi] for gi in garment_indices]
    person_seconds = time.perf_counter() - t0

    # The garments: download and decode; a bad one fails only its pair.
    garments = []
    for gi, garment_key, out_key in todo:
        try:
            obj = _fetch(storage, garment_key, garment_key)
            garments.append((gi, garment_key, out_key, obj.etag, decode_image(obj.body, garment_key, s.max_input_bytes)))
        except BadInputError as e:
            fail(gi, str(e))
        except botocore.exceptions.ClientError as e:
            # An error answer that outlasted botocore's retries (e.g. 503 on this object only):
            # fail this pair, not the customer's whole chunk (found by chaos s3_object_unavailable).
            fail(gi, f"{garment_key}: could not be read from S3: {e}")

    index_updates = {}
    for start in range(0, len(garments), s.render_batch):
        batch = garments[start:start + s.render_batch]
        for item, composite, reason in _render_batch(chain, person, batch):
            gi, garment_key, out_key, garment_etag, _ = item
            if composite is None:
                fail(gi, reason)
                continue
            t1 = time.perf_counter()
            body = encode_jpeg(composite.image, s.jpeg_quality)
            fp = keys.fingerprint(photo_obj.etag, garment_etag, chain_version)
            timings = dict(composite.timings, person=0.0 if cached else person_seconds,
                           encode=time.perf_counter() - t1)
            meta = keys.composite_metadata(fp=fp, customer_key=customer_key, customer_etag=photo_obj.etag,
                                           garment_key=garment_key, garment_etag=garment_etag,
                                           chain_version=chain_version, stages=composite.stages,
                                           timings=timings, run_id=plan["run_id"])
            etag = storage.put(out_key, body, "image/jpeg", meta)
            results[gi] = {"garment": gi, "status": "rendered", "etag": etag, "person_cached": cached,
                           "timings": {k: round(v, 4) for k, v in timings.items()}}
            index_updates[garment_key] = {"fingerprint": fp, "etag": etag, "chain": chain_version,
                                          "customer_etag": photo_obj.etag, "garment_etag": garment_etag}
    # Pairs found up to date by HEAD belong in the index too (e.g. written before a crash).
    for gi, r in results.items():
        if r["status"] == "skipped":
            index_updates[plan["garments"][gi][0]] = {"fingerprint": r.pop("fingerprint"), "etag": r["etag"],
                                                      "chain": chain_version}
    if index_updates:
        update_customer_index(storage, cache.r, keys.index_key(p["output"], customer_key, p["customers"]),
                              index_updates)
    return [results[gi] for gi in garment_indices]


def finish_interrupted(results: dict[int, dict], garment_indices: list[int], reason: str) -> list[dict]:
    """The chunk's results after an interruption (time limit, an error that ended the task):
    pairs already written or found up to date keep that status, the rest fail with `reason`."""
    return [results[gi] if gi in results else {"garment": gi, "status": "failed", "reason": reason}
            for gi in garment_indices]


def named(reason: str, key: str) -> str:
    """Stages name their input generically ('photo: no person found', 'garment 0: …'); the
    report line must name the object (found by chaos/ bad_inputs)."""
    return reason if key in reason else f"{key}: {reason}"


def _render_batch(chain, person, batch):
    """Yield (item, Composite|None, reason) — one chain.render call for the batch; if it
    rejects the batch, each garment alone, so only the bad one fails."""
    images = [b[4] for b in batch]
    names = [b[1] for b in batch]
    try:
        for item, comp in zip(batch, chain.render(person, images, names=names)):
            yield item, comp, None
        return
    except BadInputError as e:
        if len(batch) == 1:
            yield batch[0], None, named(str(e), batch[0][1])
            return
    except SoftTimeLimitExceeded:  # an Exception too: it ends the chunk, it is not this garment's fault
        raise
    except Exception as e:  # a chain bug on one input must not lose the batch or crash the worker
        log.exception("render failed for a batch of %d", len(batch))
        if len(batch) == 1:
            yield batch[0], None, f"{batch[0][1]}: render error: {type(e).__name__}: {e}"
            return
    for item in batch:
        yield from _render_batch(chain, person, [item])


def update_customer_index(storage: Storage, client, key: str, updates: dict, lock_timeout: int = 60) -> None:
    """Merge `updates` (garment key → fingerprint record) into tryon/<customer>/_index.json.
    Read-modify-write under a Redis lock so two chunks of one customer do not lose entries."""
    with client.lock(f"tryon:index-lock:{hashlib.sha1(key.encode()).hexdigest()}", timeout=lock_timeout,
                     blocking_timeout=lock_timeout * 2):
        index = storage.get_json(key) or {"version": 1, "composites": {}}
        index["composites"].update(updates)
        storage.put_json(key, index)
