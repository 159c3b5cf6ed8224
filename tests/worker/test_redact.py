"""worker/redact.py: a forgotten customer leaves a run's plan, report and contact sheet; the
others stay as they were (against real Redis for the run's Redis record)."""
from __future__ import annotations

import json

from worker.plan import Plan
from worker.redact import FORGOTTEN, redact_run, redact_run_book
from worker.report import build_report, contact_sheet_html
from worker.runs import RunBook, new_run_id

PREFIXES = {"customers": "customers/", "catalogue": "catalogue/", "output": "tryon/", "runs": "runs/"}


def _run(run_id="r1"):
    plan = {"run_id": run_id, "bucket": "b", "chain": "c", "force": False, "created": "t", "prefixes": PREFIXES,
            "customers": [["customers/yan.jpg", "e1", 1], ["customers/zoe.jpg", "e2", 2]],
            "garments": [["catalogue/red.jpg", "g1", 1], ["catalogue/blue.jpg", "g2", 1]],
            "invalid": [{"key": "customers/zoe.png", "reason": "'customers/zoe.png': same name as 'customers/zoe.jpg'"},
                        {"key": "catalogue/x.txt", "reason": "'catalogue/x.txt': not an image"}],
            "chunk_size": 32, "report_max_pairs": 20000}
    status = {"pairs_planned": 4, "pairs_up_to_date": 0, "pairs_to_render": 4, "rendered": 3, "skipped_by_worker": 0,
              "failed": 1, "invalid_inputs": 2, "chunks_total": 2}
    chunks = [{"customer": 0, "pairs": [{"garment": 0, "status": "rendered"}, {"garment": 1, "status": "rendered"}]},
              {"customer": 1, "pairs": [{"garment": 0, "status": "rendered", "etag": "x"},
                                        {"garment": 1, "status": "failed", "reason": "customers/zoe.jpg: no person"}]}]
    return plan, build_report(Plan.from_json(plan), status, chunks), chunks


def test_a_forgotten_customer_leaves_plan_report_and_contact_sheet():
    plan, report, _ = _run()
    red = redact_run(plan, report, {"customers/zoe.jpg", "customers/zoe.png"})
    assert red.customer_indices == [1] and red.pairs == 2
    assert red.composites == {"tryon/zoe/red.jpg", "tryon/zoe/blue.jpg"}  # forget HEADs each: only written ones go
    assert red.customers == {"customers/zoe.jpg", "customers/zoe.png"}
    new_plan, new_report = red.plan, red.report
    assert new_plan["customers"] == [["customers/yan.jpg", "e1", 1], ["", "", 0]]  # indices keep their meaning
    assert [i["key"] for i in new_plan["invalid"]] == ["catalogue/x.txt"] and new_plan["forgotten"] == 1
    assert Plan.from_json(new_plan).customers[0].key == "customers/yan.jpg"
    assert {p["customer"] for p in new_report["pairs"]} == {"customers/yan.jpg"} and new_report["failures"] == []
    assert new_report["counts"] == report["counts"]  # totals stay; the redaction says what went
    assert new_report["redacted"] == {"customers": 2, "pairs": 2}
    sheet = contact_sheet_html(new_report, Plan.from_json(new_plan))
    for text in (json.dumps(new_plan), json.dumps(new_report), sheet):
        assert "zoe" not in text and "e2" not in json.dumps(new_plan)
    assert "yan.jpg" in sheet and "forgotten customer(s) removed" in sheet
    # Idempotent: nothing left to change.
    assert not redact_run(new_plan, new_report, {"customers/zoe.jpg"}).changed
    # A customer the run does not name changes nothing.
    assert not redact_run(plan, report, {"customers/nobody.jpg"}).changed


def test_text_naming_a_forgotten_key_elsewhere_is_scrubbed():
    plan, report, _ = _run()
    report["failures"].append({"customer": "customers/yan.jpg", "garment": "catalogue/red.jpg", "status": "failed",
                               "reason": "task failed: compared with customers/zoe.jpg"})
    red = redact_run(None, report, {"customers/zoe.jpg"})
    assert "customers/zoe.jpg" not in json.dumps(red.report)
    assert red.report["failures"][-1]["reason"] == f"task failed: compared with {FORGOTTEN}"


def test_the_run_book_in_redis_loses_the_customers_plan_row_and_chunk_results(redis_client):
    plan, _, chunks = _run(run_id=f"redact-{new_run_id()}")
    book = RunBook(redis_client, plan["run_id"], ttl=60)
    book.create(Plan.from_json(plan), {"pairs_planned": 4})
    for i, chunk in enumerate(chunks):
        book.record_chunk(f"c{chunk['customer']}:0-2", chunk["customer"], chunk["pairs"])
    red = redact_run(json.loads(redis_client.get(book.plan_key)), None, {"customers/zoe.jpg"})
    assert redact_run_book(book, red.plan, red.customer_indices) == {"plan": 1, "chunks": 1}
    assert book.plan().customers[1].key == "" and 0 < redis_client.ttl(book.plan_key) <= 60
    assert [c["customer"] for c in book.chunks()] == [0]
    assert "customers/zoe.jpg" not in redis_client.get(book.plan_key).decode()  # (zoe.png is another key)
