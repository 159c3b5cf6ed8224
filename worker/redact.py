"""Removing forgotten customers from the record of past runs (producer/forget.py decides which).

A run's record names its customers in four places:
    runs/<id>/plan.json       the plan: every customer photo listed (key, ETag, size), invalid inputs
    runs/<id>/report.json     pairs, failures, pairs to review, invalid inputs (with their composite keys and reasons)
    runs/<id>/index.html      the contact sheet, made from report.json
    Redis (RunBook, until TRYON_RUN_TTL)  the plan again, and each chunk's per-pair results

Redaction keeps the run and everybody else in it: a forgotten customer's plan row keeps its
place (chunk ids and results refer to customers by index) with an empty key, ETag and size;
their report entries go; the contact sheet is made again from the redacted report; in Redis
the plan is replaced and their chunk results deleted. The counts are not changed (they are
totals, not personal data): `report["redacted"]` says how many customers and pairs were removed,
and the contact sheet says so too. Any text left that still contains a forgotten key (a reason
naming it, a field this module does not know) has the key replaced by FORGOTTEN.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field

from worker.runs import RunBook

FORGOTTEN = "(forgotten customer)"


def scrub(value, needles: list[str]):
    """`value` (JSON-like) with every occurrence of a needle in its strings replaced by FORGOTTEN."""
    if isinstance(value, str):
        for n in needles:
            if n in value:
                value = value.replace(n, FORGOTTEN)
        return value
    if isinstance(value, list):
        return [scrub(v, needles) for v in value]
    if isinstance(value, dict):
        return {scrub(k, needles): scrub(v, needles) for k, v in value.items()}
    return value


@dataclass
class RunRedaction:
    """What redacting one run changes. `plan`/`report`: the new documents (None: unchanged or absent)."""
    plan: dict | None = None
    report: dict | None = None
    customer_indices: list[int] = field(default_factory=list)  # plan rows of the forgotten customers
    customers: set[str] = field(default_factory=set)            # forgotten customers this run named
    pairs: int = 0                                               # report entries removed
    composites: set[str] = field(default_factory=set)           # composite keys the report listed for them

    @property
    def changed(self) -> bool:
        return self.plan is not None or self.report is not None


def redact_run(plan: dict | None, report: dict | None, customers: set[str]) -> RunRedaction:
    """Redact a run's plan.json and report.json (as parsed JSON) of `customers` (photo keys)."""
    out = RunRedaction()
    needles = sorted(customers, key=len, reverse=True)
    if plan is not None:
        new = copy.deepcopy(plan)
        for i, row in enumerate(new.get("customers", [])):
            if row and row[0] in customers:
                out.customer_indices.append(i)
                out.customers.add(row[0])
                new["customers"][i] = ["", "", 0]
        new["invalid"] = [x for x in new.get("invalid", []) if not _drop_invalid(x, customers, out)]
        new = scrub(new, needles)
        if new != plan:
            new["forgotten"] = int(plan.get("forgotten", 0)) + len(out.customer_indices)
            out.plan = new
    if report is not None:
        new = copy.deepcopy(report)
        pairs = 0
        # (needs_review repeats flagged pairs with their QA reasons: dropped, not counted again)
        for name in ("pairs", "failures", "needs_review"):
            if name not in new:
                continue
            kept = []
            for entry in new[name]:
                if entry.get("customer") in customers:
                    out.customers.add(entry["customer"])
                    if name == "pairs":
                        pairs += 1
                        if entry.get("composite"):
                            out.composites.add(entry["composite"])
                    elif name == "failures" and "pairs" not in new:  # over report_max_pairs: failures are the only list
                        pairs += 1
                    elif name == "needs_review" and entry.get("composite"):
                        out.composites.add(entry["composite"])
                else:
                    kept.append(entry)
            new[name] = kept
        new["invalid"] = [x for x in new.get("invalid", []) if not _drop_invalid(x, customers, out)]
        new = scrub(new, needles)
        if new != report:
            before = report.get("redacted") or {"customers": 0, "pairs": 0}
            named = out.customers or {n for n in customers if n in json.dumps(report)}
            new["redacted"] = {"customers": before["customers"] + len(named), "pairs": before["pairs"] + pairs}
            out.report = new
            out.pairs = pairs
    return out


def _drop_invalid(item: dict, customers: set[str], out: RunRedaction) -> bool:
    if item.get("key") in customers:
        out.customers.add(item["key"])
        return True
    return False


def redact_run_book(book: RunBook, plan: dict, customer_indices: list[int]) -> dict:
    """The run's Redis record (while it lasts): its plan replaced by the redacted `plan`, the
    chunk results of `customer_indices` deleted. Returns {'plan': 0|1, 'chunks': n} changed."""
    changed = {"plan": 0, "chunks": 0}
    r = book.r
    if r.exists(book.plan_key):
        r.set(book.plan_key, json.dumps(plan, separators=(",", ":")), keepttl=True)
        changed["plan"] = 1
    forgotten = set(customer_indices)
    doomed = [chunk for chunk, value in r.hscan_iter(book.chunks_key, count=500)
              if json.loads(value).get("customer") in forgotten]
    if doomed:
        changed["chunks"] = r.hdel(book.chunks_key, *doomed)
    return changed
