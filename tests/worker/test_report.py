"""worker/report.py: report.json and the contact sheet from recorded chunk results."""
from __future__ import annotations

from worker.plan import Plan
from worker.report import build_report, contact_sheet_html


def test_report_and_contact_sheet_from_chunk_results():
    plan = Plan.from_json({
        "run_id": "r1", "bucket": "b", "chain": "0.1.0/auto/sample", "force": False, "created": "t",
        "prefixes": {"customers": "customers/", "catalogue": "catalogue/", "output": "tryon/", "runs": "runs/"},
        "customers": [["customers/alice.jpg", "e1", 1], ["customers/bob.jpg", "e2", 1]],
        "garments": [["catalogue/red.jpg", "g1", 1], ["catalogue/blue.jpg", "g2", 1]],
        "invalid": [{"key": "customers/x.txt", "reason": "'customers/x.txt': not an image"}], "chunk_size": 32})
    status = {"pairs_planned": 4, "pairs_up_to_date": 1, "pairs_to_render": 3, "rendered": 2, "skipped_by_worker": 0,
              "failed": 1, "invalid_inputs": 1, "chunks_total": 2}
    chunks = [{"customer": 0, "pairs": [{"garment": 0, "status": "rendered", "timings": {"warp": 0.1}},
                                        {"garment": 1, "status": "rendered"}]},
              {"customer": 1, "pairs": [{"garment": 1, "status": "failed", "reason": "customers/bob.jpg: no person found"}]}]
    report = build_report(plan, status, chunks)
    assert report["ok"] is False and report["counts"]["failed"] == 1
    assert report["failures"] == [{"customer": "customers/bob.jpg", "garment": "catalogue/blue.jpg", "status": "failed",
                                   "composite": "tryon/bob/blue.jpg", "reason": "customers/bob.jpg: no person found"}]
    assert [p["composite"] for p in report["pairs"]] == ["tryon/alice/blue.jpg", "tryon/alice/red.jpg",
                                                         "tryon/bob/blue.jpg"]
    assert report["invalid"] == plan.invalid and report["customers"] == 2 and report["garments"] == 2
    page = contact_sheet_html(report, plan)
    assert 'src="../../tryon/alice/red.jpg"' in page  # relative to runs/r1/index.html
    assert "no person found" in page and "not an image" in page and "not in this run" in page


def test_a_report_over_its_pair_limit_lists_failures_only():
    plan = Plan.from_json({
        "run_id": "r2", "bucket": "b", "chain": "c", "force": False, "created": "t", "report_max_pairs": 1,
        "prefixes": {"customers": "customers/", "catalogue": "catalogue/", "output": "tryon/", "runs": "runs/"},
        "customers": [["customers/a.jpg", "e", 1]], "garments": [["catalogue/x.jpg", "g", 1], ["catalogue/y.jpg", "g", 1]],
        "chunk_size": 32})
    status = {k: 0 for k in ("pairs_planned", "pairs_up_to_date", "pairs_to_render", "rendered", "skipped_by_worker",
                             "failed", "invalid_inputs", "chunks_total")}
    report = build_report(plan, status, [{"customer": 0, "pairs": [{"garment": 0, "status": "rendered"},
                                                                   {"garment": 1, "status": "failed", "reason": "r"}]}])
    assert "pairs" not in report and report["pairs_omitted"].startswith("2 pairs")
    assert [f["garment"] for f in report["failures"]] == ["catalogue/y.jpg"]


def test_the_report_counts_what_pruning_deleted():
    import json

    plan = Plan.from_json({
        "run_id": "r3", "bucket": "b", "chain": "c", "force": False, "created": "t",
        "prefixes": {"customers": "customers/", "catalogue": "catalogue/", "output": "tryon/", "runs": "runs/"},
        "customers": [["customers/a.jpg", "e", 1]], "garments": [["catalogue/x.jpg", "g", 1]], "chunk_size": 32})
    status = {k: 0 for k in ("pairs_planned", "pairs_up_to_date", "pairs_to_render", "rendered", "skipped_by_worker",
                             "failed", "invalid_inputs", "chunks_total")}
    status.update(pruned=3, prune=json.dumps({"status": "done", "composites": 3}))
    report = build_report(plan, status, [])
    assert report["counts"]["pruned"] == 3 and report["prune"] == {"status": "done", "composites": 3}
    assert "3 composites of removed garments or customers pruned (done)" in contact_sheet_html(report, plan)
def test_flagged_composites_are_counted_and_listed_first_with_their_reasons():
    plan = Plan.from_json({
        "run_id": "r3", "bucket": "b", "chain": "c", "force": False, "created": "t",
        "prefixes": {"customers": "customers/", "catalogue": "catalogue/", "output": "tryon/", "runs": "runs/"},
        "customers": [["customers/a.jpg", "e", 1]], "garments": [["catalogue/x.jpg", "g", 1], ["catalogue/y.jpg", "g", 1]],
        "chunk_size": 32})
    status = {k: 0 for k in ("pairs_planned", "pairs_up_to_date", "pairs_to_render", "rendered", "skipped_by_worker",
                             "failed", "invalid_inputs", "chunks_total")}
    chunks = [{"customer": 0, "pairs": [
        {"garment": 0, "status": "rendered", "qa": {"status": "ok", "reasons": []}},
        {"garment": 1, "status": "rendered", "qa": {"status": "needs_review",
                                                    "reasons": ["30% of the garment lies off the body"]}}]}]
    report = build_report(plan, status, chunks)
    assert report["counts"]["needs_review"] == 1 and report["ok"] is True
    assert report["needs_review"] == [{"customer": "customers/a.jpg", "garment": "catalogue/y.jpg",
                                       "composite": "tryon/a/y.jpg",
                                       "reasons": ["30% of the garment lies off the body"]}]
    page = contact_sheet_html(report, plan)
    assert "Needs review" in page and page.index("Needs review") < page.index("<table>")
    assert page.count("lies off the body") == 2 and "1 to review" in page


def test_links_are_url_encoded_and_an_unstorable_pair_does_not_stop_the_report():
    plan = Plan.from_json({
        "run_id": "r3", "bucket": "b", "chain": "c", "force": False, "created": "t",
        "prefixes": {"customers": "customers/", "catalogue": "catalogue/", "output": "tryon/", "runs": "runs/"},
        "customers": [["customers/team/al#ice?.jpg", "e", 1]],
        "garments": [["catalogue/50% off.jpg", "g", 1], ["catalogue/../escape.jpg", "g", 1]]})
    status = {"pairs_planned": 2, "pairs_up_to_date": 0, "pairs_to_render": 2, "rendered": 1,
              "skipped_by_worker": 0, "failed": 1, "invalid_inputs": 0, "chunks_total": 1}
    chunks = [{"customer": 0, "pairs": [{"garment": 0, "status": "rendered"},
                                        {"garment": 1, "status": "failed", "reason": "cannot be stored"}]}]
    report = build_report(plan, status, chunks)
    assert report["failures"][0]["composite"] is None
    assert [p["composite"] for p in report["pairs"] if p["status"] == "rendered"] == ["tryon/team%2Fal#ice?/50%25 off.jpg"]
    page = contact_sheet_html(report, plan)
    assert 'src="../../tryon/team%252Fal%23ice%3F/50%2525%20off.jpg"' in page
