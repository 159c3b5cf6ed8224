"""Forgetting customers: every copy the renderer made of a customer's photo, removed.

    python -m producer forget CUSTOMER_KEY... [--bucket B] [--customers PREFIX] [--dry-run]
    make forget BUCKET=shop CUSTOMER="customers/alice.jpg customers/bob.jpg" [DRY_RUN=1]

For each customer photo key (e.g. customers/alice.jpg; the photo itself may already be deleted):

  composites      every object the renderer wrote for that photo key: the objects of the
                  customer's output folder, and the composite keys past reports list for them,
                  each deleted only if its metadata names that customer (worker/keys.composite_inputs);
  index           tryon/<customer>/_index.json (or, in a folder another photo key now uses, the
                  entries of the deleted composites);
  person cache    the cached pose and parsing of every photo content the key has had (the
                  cache lists them per customer: worker/person_cache.py), and of its current
                  content under any chain version;
  exports         the files bucket exports (`make prepare BUCKET=…`, export/<layout>/) wrote of
                  the customer's photo, their lines of the pairs file and their report entries;
  run records     runs/<id>/plan.json, report.json and index.html of every past run, and their
                  Redis records, redacted (worker/redact.py): the customer's plan row blanked,
                  their report lines removed, the contact sheet made again.

Prints one line per kind of what it removed (with --dry-run: what it would remove, and removes
nothing). Idempotent: a second call finds nothing. The customer's photo is the shop's input,
not a copy: it is not deleted, and a warning says so while it exists (the next run would render
it again). Refuses (exit 3) while the active run on the bucket includes one of the customers;
exit 2 with one line on a missing bucket, an unreachable S3 or Redis, or a key that is not a
customer photo key.
"""
from __future__ import annotations

import argparse
import json
import posixpath
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import botocore.exceptions
import redis

from producer.operator_errors import s3_error, safe_url
from worker import keys
from worker.config import Settings, settings
from worker.customer_index import CustomerIndex
from worker.export_job import EXPORT_PREFIX, ExportBook, ExportLock
from worker.person_cache import PersonCache
from worker.plan import Plan, Prefixes
from worker.redact import redact_run, redact_run_book
from worker.report import contact_sheet_html
from worker.runs import BucketLock, RunBook
from worker.storage import ObjectMissingError, Storage

RUN_DOCUMENTS = ("plan.json", "report.json")


class ForgetRefused(RuntimeError):
    """An active run includes one of the customers (or is starting and may)."""


@dataclass
class CustomerErasure:
    customer: str
    composites: list[str] = field(default_factory=list)
    index: str | None = None             # the index deleted
    index_entries: int = 0               # entries removed from an index another photo key owns
    cache_entries: list[str] = field(default_factory=list)
    photo_exists: bool = False
    export_files: list[str] = field(default_factory=list)   # files of research exports (export/<layout>/)


@dataclass
class Erasure:
    customers: list[CustomerErasure]
    runs: list[str] = field(default_factory=list)         # run ids whose bucket record was redacted
    redis_runs: list[str] = field(default_factory=list)   # run ids whose Redis record was redacted
    dry_run: bool = False

    def lines(self) -> list[str]:
        """What was removed (or would be), one line per kind."""
        verb = "would delete" if self.dry_run else "deleted"
        out = []
        for c in self.customers:
            out.append(f"{c.customer}:")
            shown = ", ".join(c.composites[:3]) + (", …" if len(c.composites) > 3 else "")
            out.append(f"  composites: {verb} {len(c.composites)}" + (f" ({shown})" if shown else ""))
            if c.index:
                out.append(f"  index: {verb} {c.index}")
            elif c.index_entries:
                out.append(f"  index: {'would remove' if self.dry_run else 'removed'} {c.index_entries} entries "
                           "(the folder's index belongs to another photo key now)")
            else:
                out.append("  index: none")
            out.append(f"  person cache: {verb} {len(c.cache_entries)} entries")
            shown = ", ".join(c.export_files[:3]) + (", …" if len(c.export_files) > 3 else "")
            out.append(f"  exports: {verb} {len(c.export_files)} files" + (f" ({shown})" if shown else ""))
            if c.photo_exists:
                out.append(f"  photo: {c.customer} is still in the bucket (the shop's input, not deleted): "
                           "the next run renders it again unless it is deleted")
        ids = ", ".join(self.runs[:5]) + (", …" if len(self.runs) > 5 else "")
        rverb = "would redact" if self.dry_run else "redacted"
        out.append(f"runs: {rverb} {len(self.runs)} run records (plan.json, report.json, index.html)"
                   + (f": {ids}" if ids else "")
                   + f"; {len(self.redis_runs)} in Redis")
        return out


# --- checks ------------------------------------------------------------------------------------
def check_no_active_run(client: redis.Redis, bucket: str, customers: list[str]) -> None:
    """Raise ForgetRefused if the bucket's active run includes one of `customers` (as an input
    or an invalid input), or is starting and its plan is not recorded yet."""
    _check_no_active_export(client, bucket, customers)
    holder = BucketLock(client, bucket).holder()
    if holder is None:
        return
    book = RunBook(client, holder)
    state = book.state()
    if state in ("finished", "aborted", "failed"):
        return
    plan = book.plan()
    if plan is None:
        raise ForgetRefused(f"run {holder} is starting on bucket {bucket!r}; try again once it is running or finished")
    listed = {c.key for c in plan.customers} | {i["key"] for i in plan.invalid}
    included = sorted(listed & set(customers))
    if included:
        raise ForgetRefused(f"run {holder} is active on bucket {bucket!r} and includes {', '.join(included)}; "
                            "forget again once it has finished")


def _check_no_active_export(client: redis.Redis, bucket: str, customers: list[str]) -> None:
    """Raise ForgetRefused if an active bucket export (any layout) includes one of `customers`:
    it would write their files again after they were removed."""
    for key in client.scan_iter(match=ExportLock(client, bucket, "*").key, count=1000):
        holder = (client.get(key) or b"").decode()
        book = ExportBook(client, holder) if holder else None
        if book is None or book.status().get("state") in (None, "finished", "aborted"):
            continue
        plan = book.plan()
        listed = {p.key for p in plan.persons} if plan else set()
        if plan is None or listed & set(customers):
            raise ForgetRefused(f"export {holder} ({plan.layout if plan else 'starting'}) is active on bucket "
                                f"{bucket!r} and may include {', '.join(customers)}; forget again once it has finished")


# --- the run records ---------------------------------------------------------------------------
def _mentions(text: bytes | str, needles: list[str]) -> bool:
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    return any(n in text for n in needles)


def _needles(customers: list[str]) -> list[str]:
    """The keys as they appear in JSON text (put_json escapes non-ASCII)."""
    return sorted({json.dumps(c)[1:-1] for c in customers} | set(customers))


def _runs_mentioning(storage: Storage, client: redis.Redis, s: Settings, needles: list[str]) -> tuple[set, set]:
    """(run ids whose bucket record names a customer, run ids whose Redis plan does)."""
    in_bucket = set()
    for obj in storage.list(s.runs_prefix):
        if posixpath.basename(obj.key) not in RUN_DOCUMENTS:
            continue
        body = storage.get(obj.key).body
        if _mentions(body, needles):
            run_id = json.loads(body).get("run_id")
            if run_id:
                in_bucket.add(run_id)
    in_redis = set()
    for key in client.scan_iter(match=RunBook(client, "*").plan_key, count=1000):
        body = client.get(key)
        if body and _mentions(body, needles):
            plan = json.loads(body)
            if plan.get("bucket") == storage.bucket:
                in_redis.add(plan["run_id"])
    return in_bucket, in_redis


def _redact_runs(storage: Storage, client: redis.Redis, s: Settings, customers: list[str], run_ttl: int,
                 dry_run: bool) -> tuple[list[str], list[str], dict[str, set[str]]]:
    """Redact every past run naming `customers`; (bucket run ids, Redis run ids, customer →
    composite keys the reports listed for them)."""
    wanted = set(customers)
    in_bucket, in_redis = _runs_mentioning(storage, client, s, _needles(customers))
    listed: dict[str, set[str]] = {c: set() for c in customers}
    bucket_runs = []
    for run_id in sorted(in_bucket):
        doc_keys = {name: keys.run_key(s.runs_prefix, run_id, name) for name in (*RUN_DOCUMENTS, "index.html")}
        plan, report = (storage.get_json(doc_keys[n]) for n in RUN_DOCUMENTS)
        red = redact_run(plan, report, wanted)
        for entry in (report or {}).get("pairs", []):
            if entry.get("customer") in wanted and entry.get("composite"):
                listed[entry["customer"]].add(entry["composite"])
        if not red.changed:
            continue
        bucket_runs.append(run_id)
        if dry_run:
            continue
        if red.plan is not None:
            storage.put_json(doc_keys["plan.json"], red.plan)
        if red.report is not None:
            storage.put_json(doc_keys["report.json"], red.report)
            sheet_plan = Plan.from_json(red.plan or plan) if (red.plan or plan) else _stub_plan(run_id, s)
            storage.put(doc_keys["index.html"], contact_sheet_html(red.report, sheet_plan).encode(),
                        "text/html; charset=utf-8")
    redis_runs = []
    for run_id in sorted(in_redis):
        book = RunBook(client, run_id, ttl=run_ttl)
        body = client.get(book.plan_key)
        if body is None:
            continue
        red = redact_run(json.loads(body), None, wanted)
        if red.plan is None:
            continue
        redis_runs.append(run_id)
        if not dry_run:
            redact_run_book(book, red.plan, red.customer_indices)
    return bucket_runs, redis_runs, listed


def _stub_plan(run_id: str, s: Settings) -> Plan:
    """For a contact sheet whose plan.json is missing: only the prefixes are used."""
    return Plan(run_id=run_id, bucket="", chain="", force=False, created="", prefixes=Prefixes.from_settings(s),
                customers=[], garments=[])


# --- research exports --------------------------------------------------------------------------
def _redact_export_report(report: dict, wanted: set[str]) -> tuple[dict, list[str]]:
    """(the report without `wanted`'s entries, the exported names removed)."""
    persons = [p for p in report.get("persons", []) if p.get("key") not in wanted]
    gone = [p["name"] for p in report.get("persons", []) if p.get("key") in wanted and p.get("name")]
    red = dict(report, persons=persons,
               failures=[f for f in report.get("failures", []) if f.get("key") not in wanted],
               invalid=[i for i in report.get("invalid", []) if i.get("key") not in wanted],
               unpaired_persons=[n for n in report.get("unpaired_persons", []) if n not in gone])
    counts = dict(report.get("counts", {}))
    if counts:
        counts["persons"] = len(persons)
        counts["persons_exported"] = sum(1 for p in persons if p.get("status") == "exported")
        counts["failed"] = len(red["failures"])
        counts["invalid_inputs"] = len(red["invalid"])
        counts["pairs"] = counts["persons_exported"] * counts.get("garments_exported", 0)
        red["counts"] = counts
    return red, gone


def _erase_exports(storage: Storage, customers: list[str], dry_run: bool) -> dict[str, list[str]]:
    """customer → files of past bucket exports (export/<layout>/report.json lists each person's
    files) deleted; their lines leave the pairs file and their entries the report."""
    wanted = set(customers)
    found: dict[str, list[str]] = {c: [] for c in customers}
    for obj in storage.list(EXPORT_PREFIX):
        if posixpath.basename(obj.key) != "report.json":
            continue
        report = storage.get_json(obj.key) or {}
        if not any(p.get("key") in wanted for p in report.get("persons", [])) and \
                not any(e.get("key") in wanted for e in report.get("failures", []) + report.get("invalid", [])):
            continue
        root = posixpath.dirname(obj.key) + "/"
        for p in report.get("persons", []):
            if p.get("key") in wanted:
                found[p["key"]].extend(root + path for path in p.get("files", []))
        red, gone = _redact_export_report(report, wanted)
        if dry_run:
            continue
        storage.delete_many(sorted({f for c in customers for f in found[c] if f.startswith(root)}))
        if report.get("pairs_file"):
            pairs_key = root + report["pairs_file"]
            try:
                pairs = storage.get(pairs_key).body.decode()
            except ObjectMissingError:
                pairs = None
            if pairs is not None:
                images = {f"{n}.jpg" for n in gone}
                kept = [line for line in pairs.splitlines(keepends=True) if line.split(" ", 1)[0] not in images]
                storage.put(pairs_key, "".join(kept).encode(), "text/plain")
        storage.put_json(obj.key, red)
    return found


# --- one customer ------------------------------------------------------------------------------
def _composites_of(storage: Storage, s: Settings, customer: str, also: set[str]) -> list[tuple[str, str]]:
    """[(composite key, garment key)] of the objects the renderer wrote for `customer`: in its
    output folder or listed by past reports, and whose metadata names it."""
    folder = keys.customer_folder(s.output_prefix, customer, s.customers_prefix)
    candidates = sorted({o.key for o in storage.list(folder)} | also)

    def look(key):
        head = storage.head(key)
        inputs = keys.composite_inputs(head["metadata"]) if head else None
        return (key, inputs[1]) if inputs and inputs[0] == customer else None

    with ThreadPoolExecutor(max_workers=16) as pool:
        return [hit for hit in pool.map(look, candidates) if hit]


def _forget_customer(storage: Storage, client: redis.Redis, s: Settings, customer: str, listed: set[str],
                     dry_run: bool) -> CustomerErasure:
    out = CustomerErasure(customer)
    composites = _composites_of(storage, s, customer, listed)
    out.composites = [k for k, _ in composites]
    index = CustomerIndex(storage, keys.index_key(s.output_prefix, customer, s.customers_prefix))
    data = index.read()
    if data is not None:
        if data.get("customer") in (None, customer):
            out.index = index.key
        else:
            entries = data.get("composites", {})
            out.index_entries = sum(1 for _, g in composites if g in entries)
    cache = PersonCache(client, ttl=s.person_cache_ttl)
    current = []
    out.photo_exists = storage.head(customer) is not None
    if out.photo_exists:
        current = cache.entries_for_content(storage.get(customer).body)
    if not dry_run:
        storage.delete_many(out.composites)
        if out.index:
            storage.delete_many([out.index])
        elif out.index_entries:
            index.remove(client, [g for _, g in composites])
    out.cache_entries = cache.forget(storage.bucket, customer, also=current, dry_run=dry_run)
    return out


def forget(storage: Storage, client: redis.Redis, s: Settings, customers: list[str], *,
           dry_run: bool = False) -> Erasure:
    """Remove every copy the renderer made of `customers` (photo keys) from the bucket and
    Redis; raises ForgetRefused if the active run includes one of them."""
    for c in customers:
        keys.validate_key(c, s.customers_prefix)
    check_no_active_run(client, storage.bucket, customers)
    # Run records first (they last longest); if deleting stops part-way, a second call finds the
    # composites in the folder again, and pruning finds them once the photo is gone.
    runs, redis_runs, listed = _redact_runs(storage, client, s, customers, s.run_ttl, dry_run)
    exported = _erase_exports(storage, customers, dry_run)
    erased = [_forget_customer(storage, client, s, c, listed[c], dry_run) for c in customers]
    for e in erased:
        e.export_files = exported[e.customer]
    return Erasure(erased, runs, redis_runs, dry_run)


# --- command line ------------------------------------------------------------------------------
# One wording for every command (producer/operator_errors.py).
_safe_url = safe_url
_s3_error = s3_error


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="python -m producer forget",
                                 description="Remove every copy the renderer made of customers (photo keys).")
    ap.add_argument("customers", nargs="+", metavar="CUSTOMER_KEY", help="e.g. customers/alice.jpg")
    ap.add_argument("--bucket", help="bucket (default $TRYON_BUCKET)")
    ap.add_argument("--customers", dest="customers_prefix",
                    help="customer photo prefix (default $TRYON_CUSTOMERS_PREFIX or customers/)")
    ap.add_argument("--dry-run", action="store_true", help="print what would be removed; remove nothing")
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    s = settings().with_inputs(args.bucket, args.customers_prefix)

    def fail(message: str, code: int = 2) -> int:
        print(f"error: {message}", file=sys.stderr)
        return code

    for c in args.customers:
        reason = keys.check_input_key(c, s.customers_prefix)
        if reason is not None:
            return fail(f"{c!r} is not a customer photo key ({reason})")
    client = redis.Redis.from_url(s.redis_url, socket_connect_timeout=5, socket_timeout=30)
    try:
        client.ping()
    except redis.RedisError as e:
        return fail(f"cannot reach Redis at {_safe_url(s.redis_url)}: {e}")
    storage = Storage.from_settings(s)
    try:
        if not storage.bucket_exists():
            return fail(f"bucket {s.bucket!r} does not exist (S3 at {s.s3_endpoint_url or 'AWS S3'})")
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
        return fail(_s3_error(e, s))

    try:
        erasure = forget(storage, client, s, args.customers, dry_run=args.dry_run)
    except ForgetRefused as e:
        return fail(f"refused: {e}", 3)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
        return fail(f"{_s3_error(e, s)} (forget stopped part-way; it is idempotent: run it again)", 1)
    except redis.RedisError as e:
        return fail(f"Redis at {_safe_url(s.redis_url)}: {e} (forget stopped part-way; run it again)", 1)
    print(f"forget in bucket {s.bucket}{' (dry run: nothing removed)' if args.dry_run else ''}:")
    for line in erasure.lines():
        print(line)
    try:  # a run that started meanwhile (the photo still there) may write the customer again
        check_no_active_run(client, storage.bucket, args.customers)
    except ForgetRefused as e:
        return fail(f"{e} (it started while forgetting)", 3)
    return 0
