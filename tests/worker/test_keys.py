"""worker/keys.py: which keys may be read or written, the bucket's layout, composite metadata."""
from __future__ import annotations

import urllib.parse

import pytest

from worker import keys


@pytest.mark.parametrize("key, why", [
    ("customers/../secret.jpg", "'..'"),
    ("/customers/a.jpg", "absolute"),
    ("customers/a\x07.jpg", "control character"),
    ("customers//a.jpg", "empty path segment"),
    ("catalogue/a.jpg", "not under"),
    ("customers/notes.txt", "not an image"),
    ("customers/a\\b.jpg", "backslash"),
])
def test_bad_input_keys_are_refused_with_a_reason(key, why):
    reason = keys.check_input_key(key, "customers/")
    assert reason is not None and why in reason


ESCAPING = ["customers/../runs/x/report.json", "customers/a/../../etc/passwd.jpg", "/customers/abs.jpg",
            "customers/./x.jpg", "customers\\..\\x.jpg", "customers//x.jpg", "catalogue/x.jpg",
            "customers/bell\x07.jpg", "customers/nul\x00.jpg", "customersX/x.jpg", "customers/"]


@pytest.mark.parametrize("key", ESCAPING)
def test_keys_escaping_their_prefix_are_refused(key):
    with pytest.raises(keys.InvalidKeyError):
        keys.validate_key(key, "customers/")
    assert keys.check_input_key(key, "customers/") is not None


def test_good_keys_map_to_composite_and_index_keys():
    assert keys.check_input_key("customers/team/alice.JPG", "customers/") is None
    assert keys.composite_key("tryon/", "customers/team/alice.JPG", "customers/", "catalogue/red tee.png",
                              "catalogue/") == "tryon/team/alice/red tee.jpg"
    assert keys.index_key("tryon/", "customers/bob.png", "customers/") == "tryon/bob/_index.json"
    with pytest.raises(keys.InvalidKeyError):
        keys.run_key("runs/", "../x", "report.json")


def test_composite_key_of_a_tampered_plan_entry_cannot_leave_the_output_prefix():
    with pytest.raises(keys.InvalidKeyError):
        keys.composite_key("tryon/", "customers/../runs/r1/report.json", "customers/", "catalogue/red.jpg",
                           "catalogue/")
    with pytest.raises(keys.InvalidKeyError):
        keys.composite_key("tryon/", "customers/alice.jpg", "customers/", "catalogue/../../x.jpg", "catalogue/")
    assert keys.composite_key("tryon/", "customers/alice.jpg", "customers/", "catalogue/red.jpg",
                              "catalogue/") == "tryon/alice/red.jpg"


def test_metadata_is_ascii_and_small_and_records_the_fingerprint():
    meta = keys.composite_metadata(
        fp="f" * 32, customer_key="customers/zoë.jpg", customer_etag='"e1"', garment_key="catalogue/tée.png",
        garment_etag="e2", chain_version="0.1.0/auto/sample",
        stages={"pose": {"impl": "blazepose", "weights": {"pose_landmark_full.tflite": "sha256:" + "a" * 64}},
                "render": {"impl": "geometric", "weights": {}}},
        timings={"warp": 0.123456, "render": 0.5}, run_id="2026-11-23T02:00-ab12")
    text = "".join(meta.keys()) + "".join(meta.values())
    assert text.isascii() and len(text) < 2000
    assert "zo%C3%AB" in meta["tryon-customer"] and meta["tryon-customer-etag"] == "e1"
    assert "pose=blazepose[pose_landmark_full.tflite:sha256:aaaaaaaaaaaa]" in meta["tryon-stages"]
    assert meta["tryon-fingerprint"] == keys.recorded_fingerprint(meta) == "f" * 32
    assert keys.recorded_fingerprint({}) is None
    assert "tryon-qa" not in meta


def test_metadata_carries_the_qa_verdict_as_ascii():
    common = dict(fp="f", customer_key="customers/a.jpg", customer_etag="e", garment_key="catalogue/b.jpg",
                  garment_etag="e", chain_version="v", stages={}, timings={}, run_id="r")
    ok = keys.composite_metadata(**common, qa={"status": "ok", "reasons": []})
    assert ok["tryon-qa"] == "ok" and "tryon-qa-reasons" not in ok
    flagged = keys.composite_metadata(**common, qa={"status": "needs_review",
                                                    "reasons": ["person turned 60° from the camera", "x" * 2000]})
    assert flagged["tryon-qa"] == "needs_review"
    reasons = flagged["tryon-qa-reasons"]
    assert reasons.isascii() and len(reasons) <= keys.QA_REASONS_MAX
    assert urllib.parse.unquote(reasons).startswith("person turned 60° from the camera; ")
