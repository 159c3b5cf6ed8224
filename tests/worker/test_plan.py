"""worker/plan.py, the batch contract, with no server: the plan's JSON form, chunks and their
ranges, chunk ids, the task call, the up-to-date rule and the composite key."""
from __future__ import annotations

import dataclasses
import json

import pytest

from worker.keys import InvalidKeyError
from worker.plan import (RENDER_TASK, Chunk, InputObject, Plan, Prefixes, describe_ranges, fingerprint, from_ranges,
                         to_ranges, up_to_date)

# runs/<id>/plan.json as the producer has always written it (field names, [key, etag, size] rows).
PLAN_JSON = {
    "run_id": "2026-11-23T02:00-ab12", "bucket": "shop", "chain": "0.3.0/auto/registry", "force": False,
    "created": "2026-11-23T02:00:04+00:00",
    "prefixes": {"customers": "customers/", "catalogue": "catalogue/", "output": "tryon/", "runs": "runs/"},
    "customers": [["customers/team/alice.jpg", "c1", 1000], ["customers/bob.png", "c2", 2000]],
    "garments": [["catalogue/red tee.png", "g1", 300], ["catalogue/tops/blue.jpg", "g2", 400],
                 ["catalogue/green.webp", "g3", 500]],
    "invalid": [{"key": "customers/notes.txt", "reason": "'customers/notes.txt': not an image"}],
    "chunk_size": 32, "report_max_pairs": 20000,
}


@pytest.fixture
def plan() -> Plan:
    return Plan.from_json(PLAN_JSON)


def test_plan_reads_plan_json_and_writes_it_back_unchanged(plan):
    assert plan.customers[0] == InputObject("customers/team/alice.jpg", "c1", 1000)
    assert plan.prefixes == Prefixes("customers/", "catalogue/", "tryon/", "runs/")
    assert plan.pairs == 6 and plan.invalid[0]["key"] == "customers/notes.txt"
    assert plan.to_json() == PLAN_JSON
    assert list(plan.to_json()) == list(PLAN_JSON)  # same field order in Redis' compact JSON
    assert Plan.from_json(json.loads(json.dumps(plan.to_json()))) == plan


def test_plan_json_defaults_of_older_plans():
    older = {k: v for k, v in PLAN_JSON.items() if k not in ("invalid", "report_max_pairs")}
    plan = Plan.from_json(older)
    assert plan.invalid == [] and plan.report_max_pairs == 20000


def test_ranges_round_trip_and_read_well():
    idx = [0, 1, 2, 3, 7, 9, 10, 31]
    r = to_ranges(idx)
    assert r == [[0, 4], [7, 8], [9, 11], [31, 32]] and from_ranges(r) == idx
    assert to_ranges([]) == [] and from_ranges([]) == []
    assert describe_ranges([[0, 16]], 1000) == "0-15 of 1000"
    assert describe_ranges([[2, 3], [5, 9]], 10) == "2,5-8 of 10"


def test_chunk_ids_name_the_customer_and_ranges_and_parse_back():
    chunk = Chunk.of(12, [0, 1, 2, 3, 9, 10, 11])
    assert chunk == Chunk(12, [[0, 4], [9, 12]])
    assert chunk.id == "c12:0-4,9-12" and chunk.pairs == 7 and chunk.garments == [0, 1, 2, 3, 9, 10, 11]
    assert Chunk.from_id(chunk.id) == chunk
    for bad in ("12:0-4", "c3", "c3:"):
        with pytest.raises(ValueError):
            Chunk.from_id(bad)


def test_task_message_is_small_and_kwargsrepr_names_the_customer():
    plan = Plan.from_json(dict(PLAN_JSON, customers=[["customers/alice.jpg", "e", 1]],
                               garments=[[f"catalogue/g{i}.jpg", "e", 1] for i in range(1000)]))
    call = plan.task_call(Chunk(0, [[0, 16]]))
    assert call.task == RENDER_TASK == "tryon.render_customer"
    assert call.kwargs == {"run": plan.run_id, "customer": 0, "garments": [[0, 16]], "chunk": "c0:0-16"}
    assert call.kwargsrepr == "run='2026-11-23T02:00-ab12', customer='customers/alice.jpg', garments='0-15 of 1000'"
    assert call.describe() == f"tryon.render_customer({call.kwargsrepr})"
    assert len(json.dumps(call.kwargs)) < 200  # indices, never keys


def test_fingerprint_depends_on_every_input():
    base = fingerprint('"aa"', "bb", "0.1.0/auto/sample")
    assert base == fingerprint("aa", '"bb"', "0.1.0/auto/sample")  # quotes around ETags do not matter
    assert len({base, fingerprint("ax", "bb", "0.1.0/auto/sample"),
                fingerprint("aa", "bx", "0.1.0/auto/sample"), fingerprint("aa", "bb", "0.2.0")}) == 4
    assert base == "66f4a0800656bc4bc5381f4ae90621c0"  # stored in every composite's metadata: never changes


def test_up_to_date_rule(plan):
    recorded = plan.fingerprint(0, 1)
    assert recorded == fingerprint("c1", "g2", "0.3.0/auto/registry")
    assert up_to_date(recorded, "c1", "g2", plan.chain)
    assert not up_to_date(recorded, "c1-replaced", "g2", plan.chain)       # a new photo
    assert not up_to_date(recorded, "c1", "g2-replaced", plan.chain)       # a new garment
    assert not up_to_date(recorded, "c1", "g2", "0.4.0/auto/registry")     # another chain
    assert not up_to_date(None, "c1", "g2", plan.chain)                    # nothing recorded
    assert plan.fingerprint(0, 1, "0.4.0") == fingerprint("c1", "g2", "0.4.0")


def test_composite_key_and_the_runs_other_keys(plan):
    assert plan.composite_key(0, 0) == "tryon/team%2Falice/red tee.jpg"
    assert plan.composite_key(1, 1) == "tryon/bob/tops/blue.jpg"
    assert plan.customer_folder(0) == "tryon/team%2Falice/"
    assert plan.index_key(1) == "tryon/bob/_index.json"
    assert plan.run_file("report.json") == "runs/2026-11-23T02:00-ab12/report.json"
    other = dataclasses.replace(plan, prefixes=Prefixes("people/", "cat/", "out/try/", "records/"),
                                customers=[InputObject("people/zoë.jpg", "e", 1)],
                                garments=[InputObject("cat/a.png", "e", 1)])
    assert other.composite_key(0, 0) == "out/try/zoë/a.jpg"


def test_a_tampered_plan_entry_cannot_leave_the_output_prefix(plan):
    tampered = dataclasses.replace(plan, customers=[InputObject("customers/../runs/r1/report.json", "e", 1)])
    with pytest.raises(InvalidKeyError):
        tampered.composite_key(0, 0)
    with pytest.raises(InvalidKeyError):
        dataclasses.replace(plan, run_id="../x").run_file("report.json")
