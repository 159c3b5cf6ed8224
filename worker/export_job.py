"""A bucket export (`make prepare BUCKET=… LAYOUT=…`) on the batch workers: customer photos and
catalogue garments → a research dataset layout under `export/<layout>/` in the same bucket.

    ExportPlan     what one export writes: layout, framing, split, every person and garment (key,
                   ETag, size, exported name), the prefixes; its JSON form in Redis
    ExportBook     the export's bookkeeping in Redis (items recorded once each, completion, the
                   report written once, lost items sent again)
    ExportLock     one active export per (bucket, layout)
    export_item    one message's work: a person (its cached Person, or computed once: the same
                   cache and key as render runs) or a chunk of garments → files in the bucket

Items: 'p<i>' is person i, 'g<a>-<b>' garments a..b-1. A person's files come from its cached
Person (`worker/person_cache.py`, keyed by photo content and chain version), framed as the plan
says (models.export.FRAMINGS: `person`, the default, is the upper-garment working crop of the
person-framed Person render runs prepare and cache, so customers a render run has prepared are
not analysed again; `centre` prepares, and caches, centre-framed persons of its own where the
render runs' framing is not centre: models.chain.options_for_framing). A bad input (undecodable, no person, no garment,
a keypoint the layout needs missing) fails only its own item, with the reason in the report,
as a render run's pairs do. When every item is recorded, whoever recorded last writes
`export/<layout>/<split>_pairs.txt` (every exported person × every exported garment) and
`export/<layout>/report.json` (models.export.run.build_report).

Redis keys, built here only:
    tryon:export:<id>            hash: state, items_total, items_done, exported, failed, progress_at
    tryon:export:<id>:plan       the plan (JSON)
    tryon:export:<id>:items      hash: item id → its results (JSON)
    tryon:export:<id>:finalized  set once by whoever writes the report
    tryon:export-active:<bucket>:<layout>   the active export of that layout on the bucket
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Callable

import botocore.exceptions
import redis

from models.contract import BadInputError
from models.export import DEFAULT_FRAMING, FRAMED_CATEGORY, garment_files, pairs_text, person_files
from models.export.run import bad_input_reason, build_report, exported, failed
from worker.book import Book
from worker.images import decode_image
from worker.keys import validate_key
from worker.person_cache import PersonCache
from worker.storage import ObjectMissingError, Storage

log = logging.getLogger(__name__)

EXPORT_TASK = "tryon.export_item"
EXPORT_PREFIX = "export/"
CONTENT_TYPES = {".jpg": "image/jpeg", ".png": "image/png", ".json": "application/json", ".txt": "text/plain"}

_RECORD_ITEM = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  redis.call('HINCRBY', KEYS[2], 'items_done', 1)
  redis.call('HINCRBY', KEYS[2], 'exported', ARGV[3])
  redis.call('HINCRBY', KEYS[2], 'failed', ARGV[4])
  redis.call('HSET', KEYS[2], 'progress_at', ARGV[5])
  return 1
end
return 0
"""
_TRANSITION = """
if redis.call('HGET', KEYS[1], 'state') == ARGV[1] then redis.call('HSET', KEYS[1], 'state', ARGV[2]) return 1 end
return 0
"""
_RELEASE_IF_OWNER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


# --- the plan ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExportInput:
    key: str
    etag: str
    size: int
    name: str   # models.export.exported_name of its stem


@dataclass(frozen=True)
class ExportPlan:
    run_id: str
    bucket: str
    layout: str
    split: str
    chain: str
    created: str
    customers_prefix: str
    catalogue_prefix: str
    root: str                       # export/<layout>/
    persons: list[ExportInput]
    garments: list[ExportInput]
    invalid: list[dict] = field(default_factory=list)
    chunk_size: int = 32
    framing: str = DEFAULT_FRAMING   # how persons are framed in the exported images

    def items(self) -> list[str]:
        size = max(1, self.chunk_size)
        return [f"p{i}" for i in range(len(self.persons))] + \
            [f"g{a}-{min(a + size, len(self.garments))}" for a in range(0, len(self.garments), size)]

    def describe(self, item: str) -> str:
        """What Flower shows for an item."""
        if item.startswith("p"):
            return self.persons[int(item[1:])].key
        a, b = _garment_range(item)
        return f"garments {a}-{b - 1} of {len(self.garments)}"

    def key(self, path: str) -> str:
        """The bucket key of a file of the dataset (a path under its root)."""
        return validate_key(self.root + path, self.root)

    @property
    def source(self) -> str:
        return f"s3://{self.bucket}/{self.customers_prefix} + s3://{self.bucket}/{self.catalogue_prefix}"

    def to_json(self) -> dict:
        return {"run_id": self.run_id, "bucket": self.bucket, "layout": self.layout, "split": self.split,
                "chain": self.chain, "created": self.created, "customers_prefix": self.customers_prefix,
                "catalogue_prefix": self.catalogue_prefix, "root": self.root,
                "persons": [[o.key, o.etag, o.size, o.name] for o in self.persons],
                "garments": [[o.key, o.etag, o.size, o.name] for o in self.garments],
                "invalid": self.invalid, "chunk_size": self.chunk_size, "framing": self.framing}

    @classmethod
    def from_json(cls, data: dict) -> "ExportPlan":
        fields = dict(data)
        fields["persons"] = [ExportInput(*row) for row in data["persons"]]
        fields["garments"] = [ExportInput(*row) for row in data["garments"]]
        return cls(**fields)


def _garment_range(item: str) -> tuple[int, int]:
    a, _, b = item[1:].partition("-")
    return int(a), int(b)


# --- bookkeeping ---------------------------------------------------------------------------------
class ExportBook(Book):
    KEY_PREFIX = "tryon:export:"
    RECORD_SCRIPT = _RECORD_ITEM

    @property
    def items_key(self) -> str:
        return f"{self.key}:items"

    def create(self, plan: ExportPlan) -> None:
        pipe = self.r.pipeline()
        pipe.set(self.plan_key, json.dumps(plan.to_json(), separators=(",", ":")), ex=self.ttl)
        pipe.hset(self.key, mapping={"state": "enqueuing", "bucket": plan.bucket, "layout": plan.layout,
                                     "items_total": len(plan.items()), "items_done": 0, "exported": 0,
                                     "failed": 0, "invalid_inputs": len(plan.invalid),
                                     "progress_at": f"{time.time():.3f}"})
        pipe.expire(self.key, self.ttl)
        pipe.execute()

    def transition(self, from_state: str, to_state: str) -> bool:
        """Move from `from_state` only (the workers may have finished the export meanwhile)."""
        return bool(self.r.eval(_TRANSITION, 1, self.key, from_state, to_state))

    def plan(self) -> ExportPlan | None:
        data = self.r.get(self.plan_key)
        return None if data is None else ExportPlan.from_json(json.loads(data))

    def record(self, item: str, results: list[dict]) -> bool:
        """Add one item's results; False if it was already recorded (a re-delivered message)."""
        n_ok = sum(r["status"] == "exported" for r in results)
        payload = json.dumps(results, separators=(",", ":"))
        added = self._record(keys=[self.items_key, self.key],
                             args=[item, payload, n_ok, len(results) - n_ok, f"{time.time():.3f}"])
        self.r.expire(self.items_key, self.ttl)
        return bool(added)

    def status(self) -> dict:
        raw = {k.decode(): v.decode() for k, v in self.r.hgetall(self.key).items()}
        for k in ("items_total", "items_done", "exported", "failed", "invalid_inputs", "items_resent"):
            raw[k] = int(raw.get(k, 0))
        return raw

    def is_complete(self, st: dict | None = None) -> bool:
        st = st or self.status()
        return st.get("state") in ("enqueuing", "running", "finished") and st["items_done"] >= st["items_total"]

    def results(self) -> list[dict]:
        return [r for _, value in self.r.hscan_iter(self.items_key, count=500) for r in json.loads(value)]

    def unrecorded(self, plan: ExportPlan) -> list[str]:
        recorded = {k.decode() for k in self.r.hkeys(self.items_key)}
        return [item for item in plan.items() if item not in recorded]

    def resend_lost(self, send: Callable[[ExportPlan, str], None], stalled_after: float,
                    queue_length: Callable[[], int], now: float | None = None) -> int:
        """Send again the items the broker lost: once the export has made no progress for
        `stalled_after` seconds and the queue is empty (as RunBook does for render chunks)."""
        now = time.time() if now is None else now
        st = self.status()
        if st.get("state") != "running" or self.is_complete(st):
            return 0
        if now - float(st.get("progress_at") or now) < stalled_after or queue_length() > 0:
            return 0
        if not self.r.set(f"{self.key}:resending", "1", nx=True, ex=max(1, int(stalled_after))):
            return 0
        plan = self.plan()
        lost = self.unrecorded(plan)
        for item in lost:
            send(plan, item)
        self.r.hincrby(self.key, "items_resent", len(lost))
        self.r.hset(self.key, "progress_at", f"{now:.3f}")
        return len(lost)

    def try_finalize(self, storage: Storage) -> dict | None:
        """Write the pairs list and report.json once every item is recorded (once, by whoever
        gets there first); the report or None."""
        if not self.is_complete():
            return None
        if not self.r.set(self.finalized_key, "1", nx=True, ex=self.ttl):
            return None
        try:
            plan = self.plan()
            results = self.results()
            persons = [r for r in results if r.get("kind") == "person"]
            garments = [r for r in results if r.get("kind") == "garment"]
            report = build_report(plan.layout, split=plan.split, source=plan.source, chain=plan.chain,
                                  framing=plan.framing, created=plan.created, persons=persons, garments=garments,
                                  invalid=plan.invalid, run_id=plan.run_id)
            names = ([r["name"] for r in report["persons"] if r["status"] == "exported"],
                     [r["name"] for r in report["garments"] if r["status"] == "exported"])
            storage.put(plan.key(report["pairs_file"]), pairs_text(*names), CONTENT_TYPES[".txt"])
            storage.put_json(plan.key("report.json"), report)
        except BaseException:
            self.r.delete(self.finalized_key)
            raise
        self.r.hset(self.key, mapping={"state": "finished", "finished": report["finished"]})
        ExportLock(self.r, plan.bucket, plan.layout).release(self.run_id)
        return report


class ExportLock:
    """At most one active export per (bucket, layout): two would interleave their files."""

    def __init__(self, client: redis.Redis, bucket: str, layout: str):
        self.r = client
        self.key = f"tryon:export-active:{bucket}:{layout}"

    def acquire(self, run_id: str, ttl: int) -> str | None:
        """None on success, else the id of the export still active (a finished or vanished
        holder's lock is taken over)."""
        for _ in range(5):
            if self.r.set(self.key, run_id, nx=True, ex=ttl):
                return None
            holder = (self.r.get(self.key) or b"").decode()
            if not holder:
                continue
            state = ExportBook(self.r, holder).status().get("state")
            if state not in (None, "finished", "aborted"):
                return holder
            with self.r.pipeline() as pipe:
                try:
                    pipe.watch(self.key)
                    if pipe.get(self.key) != holder.encode():
                        continue
                    pipe.multi()
                    pipe.set(self.key, run_id, ex=ttl)
                    pipe.execute()
                    return None
                except redis.WatchError:
                    continue
        return (self.r.get(self.key) or b"?").decode()

    def release(self, run_id: str) -> None:
        self.r.eval(_RELEASE_IF_OWNER, 1, self.key, run_id)


# --- one item's work -----------------------------------------------------------------------------
def _put_files(storage: Storage, plan: ExportPlan, files) -> None:
    for path, data in files.files:
        ext = path[path.rfind("."):]
        storage.put(plan.key(path), data, CONTENT_TYPES.get(ext, "application/octet-stream"))


def _fetch(storage: Storage, key: str) -> bytes:
    try:
        return storage.get(key).body
    except ObjectMissingError:
        raise BadInputError(f"{key}: object no longer exists") from None
    except botocore.exceptions.ClientError as e:
        # An error answer that outlasted botocore's retries on this object only (e.g. 503):
        # this input fails, not the whole item.
        raise BadInputError(f"{key}: could not be read from S3: {e}") from None


def export_person(storage: Storage, cache: PersonCache, chain, plan: ExportPlan, index: int, chain_version: str,
                  max_bytes: int, options=None) -> dict:
    """Person `index` of the plan: prepared with `options` (cached under `chain_version`, their
    version), framed for the plan's framing, its files written."""
    entry = plan.persons[index]
    try:
        body = _fetch(storage, entry.key)
        photo = decode_image(body, entry.key, max_bytes)
        person, cached = cache.get_or_compute(cache.key(body, chain_version), photo,
                                              lambda: chain.prepare_person(photo, options, name=entry.key))
        person.name = entry.key  # a refusal of the framing names this photo
        person = chain.frame_person(person, FRAMED_CATEGORY)  # centre-framed: unchanged
        files = person_files(plan.layout, person, entry.name, plan.split, source=body)
    except BadInputError as e:
        return failed(entry.key, entry.name, bad_input_reason(e, entry.key, entry.name), kind="person")
    _put_files(storage, plan, files)
    return exported(entry.key, entry.name, files, kind="person", person_cached=cached)


def export_garment(storage: Storage, plan: ExportPlan, index: int, max_bytes: int) -> dict:
    entry = plan.garments[index]
    try:
        body = _fetch(storage, entry.key)
        files = garment_files(plan.layout, decode_image(body, entry.key, max_bytes), entry.name, plan.split,
                              source=body)
    except BadInputError as e:
        return failed(entry.key, entry.name, bad_input_reason(e, entry.key, entry.name), kind="garment")
    _put_files(storage, plan, files)
    return exported(entry.key, entry.name, files, kind="garment")


def export_item(storage: Storage, cache: PersonCache, chain, plan: ExportPlan, item: str, chain_version: str,
                max_bytes: int, options=None) -> list[dict]:
    """One message's results: [a person's] or [each garment's of the chunk]. `options`: the
    ChainOptions persons are prepared with for the plan's framing (None: the settings'), and
    `chain_version` theirs (export_tasks: models.chain.options_for_framing)."""
    if item.startswith("p"):
        return [export_person(storage, cache, chain, plan, int(item[1:]), chain_version, max_bytes, options)]
    a, b = _garment_range(item)
    return [export_garment(storage, plan, gi, max_bytes) for gi in range(a, b)]


def item_failed(plan: ExportPlan, item: str, reason: str) -> list[dict]:
    """An item that failed for good (retries exhausted, an unexpected error): each of its inputs failed."""
    if item.startswith("p"):
        entry = plan.persons[int(item[1:])]
        return [failed(entry.key, entry.name, reason, kind="person")]
    a, b = _garment_range(item)
    return [failed(plan.garments[gi].key, plan.garments[gi].name, reason, kind="garment") for gi in range(a, b)]
