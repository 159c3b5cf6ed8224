"""The batch contract: what a run renders, and the message each chunk of it becomes.

The producer lists the bucket into a `Plan` (every customer photo and garment of the run, with
key, ETag and size; the prefixes; the chain version), stores it once (Redis for the workers,
runs/<id>/plan.json for the record) and sends one message per `Chunk`: a customer index and
ranges of garment indices ('0-31'), never keys, so a message stays a few hundred bytes at
10 000 customers × 1 000 garments. Workers read the plan back and render the chunk.

Defined here and nowhere else:
  * the plan's JSON form (`Plan.to_json` / `Plan.from_json`, the format of plan.json);
  * a pair's composite key (`Plan.composite_key`; the naming itself is worker/keys.py's);
  * the pair fingerprint and the up-to-date rule (`fingerprint`, `up_to_date`);
  * chunk ids ('c3:0-4,9-12') and the task call (`TaskCall`: kwargs + what Flower shows).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from models.contract import DEFAULT_CATEGORY
from worker import keys
from worker.config import Settings

RENDER_TASK = "tryon.render_customer"


# --- the up-to-date rule -----------------------------------------------------------------------
def fingerprint(customer_etag: str, garment_etag: str, chain_version: str,
                category: str = DEFAULT_CATEGORY) -> str:
    """What a composite was made from: its two inputs (by ETag), the chain version and the
    garment's category (worker/categories.py; an upper garment's adds nothing, so composites
    made before categories existed stay up to date)."""
    text = f"{customer_etag.strip(chr(34))}|{garment_etag.strip(chr(34))}|{chain_version}"
    if category != DEFAULT_CATEGORY:
        text += f"|{category}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def up_to_date(recorded: str | None, customer_etag: str, garment_etag: str, chain_version: str,
               category: str | None = DEFAULT_CATEGORY) -> bool:
    """A composite is up to date iff the fingerprint it records (metadata or the customer's
    index) is the fingerprint of these inputs, this chain version and this category (a category
    not read, None, is never up to date)."""
    return recorded is not None and category is not None and \
        recorded == fingerprint(customer_etag, garment_etag, chain_version, category)


# --- the plan ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class InputObject:
    """A customer photo or a garment as listed when the run was planned (a garment with its
    category: worker/categories.py)."""
    key: str
    etag: str
    size: int
    category: str | None = DEFAULT_CATEGORY   # None: S3 would not give the metadata when planned


@dataclass(frozen=True)
class Prefixes:
    customers: str
    catalogue: str
    output: str
    runs: str

    @classmethod
    def from_settings(cls, s: Settings) -> "Prefixes":
        return cls(s.customers_prefix, s.catalogue_prefix, s.output_prefix, s.runs_prefix)


@dataclass(frozen=True)
class Plan:
    run_id: str
    bucket: str
    chain: str           # the chain version the run was planned with
    force: bool          # re-render pairs that are up to date
    created: str         # ISO time, UTC
    prefixes: Prefixes
    customers: list[InputObject]
    garments: list[InputObject]
    invalid: list[dict] = field(default_factory=list)  # {'key', 'reason'}: listed, never rendered
    chunk_size: int = 32
    report_max_pairs: int = 20000

    @property
    def pairs(self) -> int:
        return len(self.customers) * len(self.garments)

    # Keys of the run's objects: naming rules in worker/keys.py, applied to the plan here only.
    def composite_key(self, customer: int, garment: int) -> str:
        p = self.prefixes
        return keys.composite_key(p.output, self.customers[customer].key, p.customers,
                                  self.garments[garment].key, p.catalogue)

    def composite_key_or_none(self, customer: int, garment: int) -> str | None:
        """`composite_key`, or None for a pair whose key cannot be stored (reports must not fail on it)."""
        try:
            return self.composite_key(customer, garment)
        except keys.InvalidKeyError:
            return None

    def customer_folder(self, customer: int) -> str:
        return keys.customer_folder(self.prefixes.output, self.customers[customer].key, self.prefixes.customers)

    def index_key(self, customer: int) -> str:
        return keys.index_key(self.prefixes.output, self.customers[customer].key, self.prefixes.customers)

    def run_file(self, name: str) -> str:
        """runs/<id>/<name>: plan.json, report.json, index.html."""
        return keys.run_key(self.prefixes.runs, self.run_id, name)

    def fingerprint(self, customer: int, garment: int, chain_version: str | None = None) -> str:
        """The pair's fingerprint from the planned ETags (and the planned chain unless given)."""
        g = self.garments[garment]
        return fingerprint(self.customers[customer].etag, g.etag, chain_version or self.chain, g.category)

    def task_call(self, chunk: "Chunk") -> "TaskCall":
        """The message `chunk` becomes: small kwargs (indices) and the kwargsrepr Flower shows."""
        kwargs = {"run": self.run_id, "customer": chunk.customer, "garments": chunk.ranges, "chunk": chunk.id}
        shown = {"run": self.run_id, "customer": self.customers[chunk.customer].key,
                 "garments": describe_ranges(chunk.ranges, len(self.garments))}
        return TaskCall(kwargs, ", ".join(f"{k}={v!r}" for k, v in shown.items()))

    # The JSON form: Redis (tryon:run:<id>:plan) and runs/<id>/plan.json. Inputs are
    # [key, etag, size] rows: at 11 000 inputs, field names would double the plan's size; a
    # garment's row adds its category when it is not the default (upper).
    def to_json(self) -> dict:
        p = self.prefixes
        return {
            "run_id": self.run_id, "bucket": self.bucket, "chain": self.chain, "force": self.force,
            "created": self.created,
            "prefixes": {"customers": p.customers, "catalogue": p.catalogue, "output": p.output, "runs": p.runs},
            "customers": [[o.key, o.etag, o.size] for o in self.customers],
            "garments": [[o.key, o.etag, o.size] + ([o.category] if o.category != DEFAULT_CATEGORY else [])
                         for o in self.garments],
            "invalid": self.invalid,
            "chunk_size": self.chunk_size,
            "report_max_pairs": self.report_max_pairs,
        }

    @classmethod
    def from_json(cls, data: dict) -> "Plan":
        return cls(
            run_id=data["run_id"], bucket=data["bucket"], chain=data["chain"], force=bool(data["force"]),
            created=data["created"], prefixes=Prefixes(**data["prefixes"]),
            customers=[InputObject(*row) for row in data["customers"]],
            garments=[InputObject(*row) for row in data["garments"]],
            invalid=data.get("invalid", []), chunk_size=int(data.get("chunk_size", 32)),
            report_max_pairs=int(data.get("report_max_pairs", 20000)))


# --- chunks: one customer × ranges of garment indices ------------------------------------------
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


@dataclass(frozen=True)
class Chunk:
    customer: int
    ranges: list[list[int]]  # half-open [start, end) garment indices, as in the message

    @classmethod
    def of(cls, customer: int, garments: list[int]) -> "Chunk":
        return cls(customer, to_ranges(garments))

    @property
    def garments(self) -> list[int]:
        return from_ranges(self.ranges)

    @property
    def pairs(self) -> int:
        return sum(b - a for a, b in self.ranges)

    @property
    def id(self) -> str:
        """'c3:0-4,9-12': names the chunk in the run book (sent, recorded) and in messages."""
        return f"c{self.customer}:" + ",".join(f"{a}-{b}" for a, b in self.ranges)

    @classmethod
    def from_id(cls, chunk_id: str) -> "Chunk":
        """`id`'s inverse: 'c3:0-4,9-12' → Chunk(3, [[0, 4], [9, 12]])."""
        customer, _, ranges = chunk_id.partition(":")
        if not customer.startswith("c") or not ranges:
            raise ValueError(f"not a chunk id: {chunk_id!r}")
        return cls(int(customer[1:]), [[int(a), int(b)] for a, b in (r.split("-") for r in ranges.split(","))])


@dataclass(frozen=True)
class TaskCall:
    """One render message: `RENDER_TASK(**kwargs)`; `kwargsrepr` is how Flower and the dry run show it."""
    kwargs: dict
    kwargsrepr: str
    task: str = RENDER_TASK

    def describe(self) -> str:
        return f"{self.task}({self.kwargsrepr})"
