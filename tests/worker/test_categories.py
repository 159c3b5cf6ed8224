"""worker/categories.py and the category in the batch contract (worker/plan.py): from the
catalogue's layout or the object's metadata, default upper, unknown values reported; the
category is part of a pair's fingerprint and of the plan's JSON."""
from __future__ import annotations

from worker.categories import garment_category, layout_category, needs_metadata
from worker.plan import InputObject, Plan, Prefixes, fingerprint, up_to_date


def test_the_layout_then_the_metadata_then_upper():
    assert layout_category("catalogue/lower/jeans.jpg", "catalogue/") == "lower"
    assert layout_category("catalogue/dress/summer/a.png", "catalogue/") == "dress"
    assert layout_category("catalogue/summer/a.png", "catalogue/") is None     # an ordinary folder
    assert layout_category("catalogue/lower.jpg", "catalogue/") is None        # a name, not a folder
    assert garment_category("catalogue/lower/a.jpg", "catalogue/", None) == ("lower", None)
    assert not needs_metadata("catalogue/lower/a.jpg", "catalogue/")           # no HEAD needed
    assert needs_metadata("catalogue/a.jpg", "catalogue/")
    assert garment_category("catalogue/a.jpg", "catalogue/", {"category": "Dress "}) == ("dress", None)
    assert garment_category("catalogue/a.jpg", "catalogue/", {}) == ("upper", None)
    assert garment_category("catalogue/a.jpg", "catalogue/", None) == ("upper", None)


def test_an_unknown_category_is_reported_naming_the_garment_never_guessed():
    category, reason = garment_category("catalogue/a.jpg", "catalogue/", {"category": "shoes"})
    assert category is None
    assert reason == ("'catalogue/a.jpg': unknown garment category 'shoes' (x-amz-meta-category; "
                      "expected upper, lower, dress)")


def test_the_category_is_part_of_the_fingerprint_and_upper_adds_nothing():
    assert fingerprint("c", "g", "v") == fingerprint("c", "g", "v", "upper")   # old composites stay current
    assert len({fingerprint("c", "g", "v", cat) for cat in ("upper", "lower", "dress")}) == 3
    recorded = fingerprint("c", "g", "v", "lower")
    assert up_to_date(recorded, "c", "g", "v", "lower")
    assert not up_to_date(recorded, "c", "g", "v", "dress")    # recategorised: rendered again
    assert not up_to_date(recorded, "c", "g", "v")


def test_the_plan_carries_each_garment_category_through_json():
    plan = Plan(run_id="r", bucket="b", chain="v", force=False, created="t",
                prefixes=Prefixes("customers/", "catalogue/", "tryon/", "runs/"),
                customers=[InputObject("customers/a.jpg", "c", 1)],
                garments=[InputObject("catalogue/t.jpg", "g1", 1), InputObject("catalogue/lower/j.jpg", "g2", 1, "lower")])
    data = plan.to_json()
    assert data["garments"] == [["catalogue/t.jpg", "g1", 1], ["catalogue/lower/j.jpg", "g2", 1, "lower"]]
    again = Plan.from_json(data)
    assert [g.category for g in again.garments] == ["upper", "lower"]
    assert again.fingerprint(0, 1) == fingerprint("c", "g2", "v", "lower")
