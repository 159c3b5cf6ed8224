"""producer/export.py: planning a bucket export (names, clashes, invalid inputs) on a SeaweedFS bucket;
starting one for real is tests/e2e/test_export_bucket.py."""
from __future__ import annotations

import dataclasses

import pytest

from producer.export import build_export_plan
from worker.config import settings


@pytest.fixture
def s3(storage_for, bucket):
    """A fresh bucket on the session's SeaweedFS."""
    return storage_for(bucket)


def test_the_planner_names_inputs_and_reports_clashes(s3, bucket):
    s = dataclasses.replace(settings(), bucket=bucket, customers_prefix="customers/", catalogue_prefix="catalogue/")
    for key in ("customers/a b.jpg", "customers/a_b.png", "customers/notes.txt", "catalogue/tee.png"):
        s3.put(key, b"x", "image/png")
    plan = build_export_plan(s3, s, "r1", "hr-viton", "test", "chain")
    assert [(p.key, p.name) for p in plan.persons] == [("customers/a b.jpg", "a_b")]
    assert {i["key"] for i in plan.invalid} == {"customers/a_b.png", "customers/notes.txt"}
    assert plan.root == "export/hr-viton/" and plan.garments[0].name == "tee"
    with pytest.raises(ValueError, match="layout 'nope'"):
        build_export_plan(s3, s, "r2", "nope", "test", "chain")
    assert plan.framing == "person"                                                # the default
    assert build_export_plan(s3, s, "r3", "cp-vton", "test", "chain", framing="centre").framing == "centre"
    with pytest.raises(ValueError, match="framing 'auto'"):
        build_export_plan(s3, s, "r4", "cp-vton", "test", "chain", framing="auto")
