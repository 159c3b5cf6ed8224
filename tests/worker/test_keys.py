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
                              "catalogue/") == "tryon/team%2Falice/red tee.jpg"
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


def test_composite_keys_of_different_pairs_never_collide():
    # customer 'alice' × garment 'bob/shirt' and customer 'alice/bob' × garment 'shirt' once shared a key
    a = keys.composite_key("tryon/", "customers/alice.jpg", "customers/", "catalogue/bob/shirt.jpg", "catalogue/")
    b = keys.composite_key("tryon/", "customers/alice/bob.jpg", "customers/", "catalogue/shirt.jpg", "catalogue/")
    assert a == "tryon/alice/bob/shirt.jpg" and b == "tryon/alice%2Fbob/shirt.jpg"
    # '%' itself is escaped, so a name that looks escaped stays apart from the escape
    c = keys.composite_key("tryon/", "customers/alice%2Fbob.jpg", "customers/", "catalogue/shirt.jpg", "catalogue/")
    assert c == "tryon/alice%252Fbob/shirt.jpg" and c != b
    names = ["a", "a/b", "a%2Fb", "a%b", "b/c", "a/b/c", "x" * 700, "x" * 699 + "y", "/".join(["n" * 50] * 12)]
    seen = {}
    for cust in names:
        for garm in names:
            key = keys.composite_key("tryon/", f"customers/{cust}.jpg", "customers/", f"catalogue/{garm}.png",
                                     "catalogue/")
            assert key not in seen, (key, seen.get(key), (cust, garm))
            seen[key] = (cust, garm)
            assert len(key.encode()) <= keys.MAX_KEY_BYTES
            assert all(len(seg.encode()) <= keys.SEGMENT_MAX_BYTES for seg in key.split("/"))


def test_over_long_names_are_shortened_readably_and_fit():
    customer = "customers/" + "/".join(["shop-customer-folder-" + "c" * 40] * 10) + ".jpg"  # 616-byte class
    garment = "catalogue/" + "/".join(["garment-folder-" + "g" * 25] * 10) + ".jpg"      # 415-byte class
    assert len(customer.encode()) > 600 and len(garment.encode()) > 400
    key = keys.composite_key("tryon/", customer, "customers/", garment, "catalogue/")
    assert len(key.encode()) <= keys.MAX_KEY_BYTES
    assert key.startswith("tryon/shop-customer-folder-") and "%h" in key
    assert keys.index_key("tryon/", customer, "customers/").startswith(key.split("/")[0] + "/" + key.split("/")[1])


def test_an_output_prefix_too_long_for_any_composite_is_refused():
    assert keys.check_output_prefix("tryon/") is None
    assert "TRYON_OUTPUT_PREFIX" in keys.check_output_prefix("o" * 600 + "/")
