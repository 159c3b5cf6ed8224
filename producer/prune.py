"""Pruning: a run deletes the composites of garments and customers that no longer exist.

    find_orphans(storage, plan)            what would be deleted (raises if a listing fails)
    prune(storage, redis, plan, ...)       find, then delete; a PruneResult, never an exception

Runs inside every run that lists the configured prefixes (nightly included), after planning and
before enqueuing (producer/enqueue.py), unless TRYON_PRUNE=off. It judges objects against the
plan's own listing, so:

  * an input is gone only if its key is under a prefix this run listed, the listing of that
    prefix succeeded, and the key was not in it (valid or invalid: an input that exists but is
    refused, e.g. too large, keeps its composites). A listing error aborts the run before
    pruning (producer/planner.py lists both prefixes first; storage.list never returns a partial
    listing). A prefix that lists empty is not judged at all: an emptied catalogue or customer
    folder is more often a mistake (wrong prefix, wrong bucket, a bad mount) than a decision,
    and `python -m producer forget` removes customers explicitly;
  * a composite's inputs are read from its metadata (worker/keys.composite_inputs), never
    parsed from its key. Only objects that are not the current composite or index of a
    listed pair are looked at (a HEAD each): in a steady bucket, the orphans themselves;
  * candidates are all found before anything is deleted: an error while listing the output
    prefix or reading a candidate aborts pruning for the run, with nothing deleted;
  * `_index.json` files follow: the entries of pruned composites are removed from a live
    customer's index; the index of a gone customer is deleted (found by the customer it
    records, or, for indexes older than that field, where the customer's folder is).

Objects the renderer did not write (no composite metadata) are never deleted, nor composites of
live inputs written under another name (e.g. by a run with a narrowed --customers prefix).
"""
from __future__ import annotations

import logging
import posixpath
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from worker import keys
from worker.customer_index import CustomerIndex
from worker.plan import Plan
from worker.storage import Storage

log = logging.getLogger(__name__)


@dataclass
class Orphans:
    composites: dict[str, tuple[str, str, int]] = field(default_factory=dict)  # key → (customer, garment, size)
    gone_customers: set[str] = field(default_factory=set)
    gone_garments: set[str] = field(default_factory=set)
    indexes: list[str] = field(default_factory=list)                    # indexes of gone customers
    index_entries: dict[str, set[str]] = field(default_factory=dict)    # live index key → garment keys to drop
    judged: dict[str, bool] = field(default_factory=dict)               # {'customers': bool, 'garments': bool}
    looked_at: int = 0                                                   # objects HEADed

    @property
    def bytes(self) -> int:
        return sum(size for _, _, size in self.composites.values())


@dataclass
class PruneResult:
    status: str                       # done | dry run | off | skipped: … | aborted: … | incomplete: …
    orphans: Orphans = field(default_factory=Orphans)
    deleted: int = 0                  # composites deleted (the report's `pruned`)
    indexes_deleted: int = 0
    index_entries_removed: int = 0

    @property
    def pruned(self) -> int:
        return self.deleted

    def to_json(self) -> dict:
        """The report's `prune` record: counts only (the keys would name customers)."""
        o = self.orphans
        return {"status": self.status, "composites": self.deleted, "bytes": o.bytes if self.deleted else 0,
                "indexes_deleted": self.indexes_deleted, "index_entries_removed": self.index_entries_removed,
                "gone_garments": len(o.gone_garments), "gone_customers": len(o.gone_customers)}

    def lines(self, dry_run: bool = False) -> list[str]:
        """One line per kind for the operator: garments are named, customers only counted."""
        o = self.orphans
        if not self.status.startswith(("done", "dry run", "incomplete")):
            return [f"prune: {self.status}"]
        verb = "would delete" if dry_run else "deleted"
        garments = ", ".join(sorted(o.gone_garments)[:5]) + (", …" if len(o.gone_garments) > 5 else "")
        n = len(o.composites) if dry_run else self.deleted
        entries = sum(map(len, o.index_entries.values())) if dry_run else self.index_entries_removed
        out = [f"prune: {verb} {_n(n, 'composite')} ({o.bytes} bytes) of {_n(len(o.gone_garments), 'removed garment')}"
               f"{' (' + garments + ')' if garments else ''} and {_n(len(o.gone_customers), 'removed customer')}",
               f"prune: {verb} {_n(len(o.indexes) if dry_run else self.indexes_deleted, 'index', 'indexes')} of "
               f"removed customers and {_n(entries, 'entry', 'entries')} from live customers' indexes"]
        if self.status not in ("done", "dry run"):
            out.append(f"prune: {self.status}")
        return out


def _n(count: int, singular: str, plural: str | None = None) -> str:
    return f"{count} {singular if count == 1 else plural or singular + 's'}"


def _listed(plan: Plan, prefix: str, inputs) -> set[str]:
    """Every key the run's listing found under `prefix`: usable inputs and refused ones."""
    return {o.key for o in inputs} | {i["key"] for i in plan.invalid if i["key"].startswith(prefix)}


class _Expected:
    """The keys the plan's live pairs own: each listed customer's composites and index, found
    by the customer folders that are prefixes of a key (a few dict lookups per key)."""

    def __init__(self, plan: Plan, cache_size: int = 16):
        self.plan = plan
        self.output = plan.prefixes.output
        self.folders: dict[str, list[int]] = {}
        for ci in range(len(plan.customers)):
            self.folders.setdefault(plan.customer_folder(ci), []).append(ci)
        self._sets: OrderedDict[int, set[str]] = OrderedDict()
        self._size = cache_size

    def _keys_of(self, ci: int) -> set[str]:
        if ci in self._sets:
            self._sets.move_to_end(ci)
            return self._sets[ci]
        owned = {self.plan.index_key(ci)}
        for gi in range(len(self.plan.garments)):
            try:
                owned.add(self.plan.composite_key(ci, gi))
            except keys.InvalidKeyError:
                pass
        self._sets[ci] = owned
        if len(self._sets) > self._size:
            self._sets.popitem(last=False)
        return owned

    def __contains__(self, key: str) -> bool:
        start = len(self.output)
        while (slash := key.find("/", start)) != -1:
            for ci in self.folders.get(key[:slash + 1], ()):
                if key in self._keys_of(ci):
                    return True
            start = slash + 1
        return False


def find_orphans(storage: Storage, plan: Plan, parallel: int = 16, page_size: int | None = None) -> Orphans:
    """The composites (and indexes) of inputs that are gone; nothing is deleted. Raises if the
    output prefix cannot be listed or a candidate cannot be read."""
    p = plan.prefixes
    customers = _listed(plan, p.customers, plan.customers)
    garments = _listed(plan, p.catalogue, plan.garments)
    out = Orphans(judged={"customers": bool(customers), "garments": bool(garments)})
    if not customers and not garments:
        return out
    expected = _Expected(plan)
    candidates = [o for o in storage.list(p.output, page_size=page_size) if o.key not in expected]
    out.looked_at = len(candidates)

    def gone(key: str, prefix: str, live: set[str]) -> bool:
        return bool(live) and key.startswith(prefix) and key not in live

    def look(obj):
        head = storage.head(obj.key)
        return obj, head

    index_candidates = []
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        for obj, head in pool.map(look, candidates):
            if head is None:  # deleted meanwhile
                continue
            inputs = keys.composite_inputs(head["metadata"])
            if inputs is None:
                if posixpath.basename(obj.key) == keys.INDEX_NAME:
                    index_candidates.append(obj.key)
                continue  # not written by the renderer: never pruned
            customer, garment = inputs
            c_gone, g_gone = gone(customer, p.customers, customers), gone(garment, p.catalogue, garments)
            if not (c_gone or g_gone):
                continue
            out.composites[obj.key] = (customer, garment, obj.size)
            if c_gone:
                out.gone_customers.add(customer)
            if g_gone:
                out.gone_garments.add(garment)
            if not c_gone:  # a live customer's index loses the entry of this composite
                index = keys.index_key(p.output, customer, p.customers)
                out.index_entries.setdefault(index, set()).add(garment)

    folder_indexes = {keys.index_key(p.output, c, p.customers) for c in out.gone_customers}
    for key in index_candidates:
        index = storage.get_json(key) or {}
        owner = index.get("customer")
        if (owner is not None and gone(owner, p.customers, customers)) or (owner is None and key in folder_indexes):
            out.indexes.append(key)
            if owner:
                out.gone_customers.add(owner)
    for key in out.indexes:
        out.index_entries.pop(key, None)
    return out


def prune(storage: Storage, redis_client, plan: Plan, *, dry_run: bool = False, parallel: int = 16,
          page_size: int | None = None) -> PruneResult:
    """Find the orphans of `plan`'s listing and (unless `dry_run`) delete them. Never raises:
    a failure before deleting aborts pruning (status 'aborted: …', nothing deleted); one while
    deleting stops it (status 'incomplete: …', the counts say what was deleted)."""
    try:
        orphans = find_orphans(storage, plan, parallel=parallel, page_size=page_size)
    except Exception as e:  # noqa: BLE001 — a listing or read error: prune nothing this run
        log.warning("prune aborted, nothing deleted: %s: %s", type(e).__name__, e)
        return PruneResult(f"aborted: nothing deleted ({type(e).__name__}: {_one_line(e)})")
    not_judged = [side for side, judged in orphans.judged.items() if not judged]
    note = f" ({' and '.join(not_judged)} listed empty: not judged)" if not_judged else ""
    result = PruneResult(("dry run" if dry_run else "done") + note, orphans)
    if dry_run:
        return result
    try:
        result.deleted = storage.delete_many(sorted(orphans.composites))
        result.indexes_deleted = storage.delete_many(sorted(orphans.indexes))
        with ThreadPoolExecutor(max_workers=parallel) as pool:  # one locked read-modify-write per index
            result.index_entries_removed += sum(pool.map(
                lambda item: CustomerIndex(storage, item[0]).remove(redis_client, sorted(item[1])),
                sorted(orphans.index_entries.items())))
    except Exception as e:  # noqa: BLE001 — what was deleted stays deleted; the next run finishes the job
        log.warning("prune stopped: %s: %s", type(e).__name__, e)
        result.status = f"incomplete: {type(e).__name__}: {_one_line(e)}"
    return result


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())[:300]
