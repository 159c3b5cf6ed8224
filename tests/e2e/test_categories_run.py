"""End to end, garment categories: SeaweedFS + Redis + a real Celery worker running the real
chain, driven by the producer CLI.

Customers (a full-body customer made by code, the astronaut's portrait, and a full-body photo
from the shared catalogue where present) × garments of all three categories: a top at the
catalogue's top level (upper by default), trousers under catalogue/lower/, a dress whose
category is its x-amz-meta-category, and a garment whose metadata names no category. Full-body
customers get a composite in every category; the portrait is refused for the trousers and the
dress with the reason in the report; the unknown category is reported, never rendered; a
composite records its category and a fingerprint that includes it; changing the dress's
category (its metadata only, same bytes) re-renders exactly its pairs.
"""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from scripts import demo_inputs
from tests.support.producer_cli import produce as run_producer
from worker.plan import fingerprint

pytestmark = pytest.mark.slow

WILD_PERSON = Path(os.environ.get("TRYON_DATA", Path(__file__).resolve().parents[2].parent / "shared" / "data" /
                                  "tryon")).parent / "catalogue_wild" / "persons" / "051962_0.jpg"


@pytest.fixture(scope="module")
def chain_runs():
    """Skip (saying why) when the chain cannot run here: the batch system is tested around the
    real chain, never a fake one."""
    from models import chain
    try:
        opts = chain.ChainOptions(mode=os.environ.get("TRYON_CHAIN", "registry"))
        chain.prepare_person(demo_inputs.full_body_customer(), opts, name="full-body")
    except Exception as e:  # ImportError, MissingWeightsError (run `make models`)
        pytest.skip(f"the try-on chain does not run here ({type(e).__name__}: {e}); run `make models`")
    return opts.fingerprint()


@pytest.fixture(scope="module")
def shop(stack, worker_proc, s3_client, storage_for, chain_runs):
    bucket = "e2e-categories"
    s3_client.create_bucket(Bucket=bucket)
    st = storage_for(bucket)
    customers = {"full-body": demo_inputs.full_body_customer(), "astronaut": demo_inputs.customers()["astronaut"]}
    if WILD_PERSON.is_file():   # a real full-body photo (shared data: uploaded to the test's bucket only)
        customers["wild-051962"] = cv2.imread(str(WILD_PERSON))
    for name, photo in customers.items():
        st.put(f"customers/{name}.jpg", demo_inputs.encode(photo), "image/jpeg")
    st.put("catalogue/red-tee.png", demo_inputs.encode(demo_inputs.garment("solid"), ".png"), "image/png")
    st.put("catalogue/lower/navy-trousers.png", demo_inputs.encode(demo_inputs.trousers(), ".png"), "image/png")
    st.put("catalogue/red-dress.png", demo_inputs.encode(demo_inputs.dress(), ".png"), "image/png",
           {"category": "dress"})
    st.put("catalogue/cap.png", demo_inputs.encode(demo_inputs.garment("solid", (0, 200, 0)), ".png"), "image/png",
           {"category": "hat"})
    return {"stack": stack, "storage": st, "bucket": bucket, "chain": chain_runs, "customers": sorted(customers)}


def produce(shop, *extra) -> tuple[int, str, dict]:
    rc, out, _, report = run_producer(shop, *extra, timeout=600)
    return rc, out, report


def test_every_category_renders_through_the_batch_system(shop):
    st = shop["storage"]
    rc, out, report = produce(shop)
    full_body = [c for c in shop["customers"] if c != "astronaut"]
    garments = {"catalogue/red-tee.png": "upper", "catalogue/lower/navy-trousers.png": "lower",
                "catalogue/red-dress.png": "dress"}
    # the unknown category: reported with the reason, never planned
    assert report["invalid"] == [{"key": "catalogue/cap.png", "reason": "'catalogue/cap.png': unknown garment "
                                  "category 'hat' (x-amz-meta-category; expected upper, lower, dress)"}]
    assert report["garments"] == 3 and report["counts"]["pairs_planned"] == 3 * len(shop["customers"])
    # the portrait: refused for the trousers and the dress, with the reason; rendered in the top
    assert rc == 1, out
    failures = {(f["customer"], f["garment"]): f["reason"] for f in report["failures"]}
    assert set(failures) == {("customers/astronaut.jpg", "catalogue/lower/navy-trousers.png"),
                             ("customers/astronaut.jpg", "catalogue/red-dress.png")}
    assert "too little of the body for a lower garment: the knees are not in the photo" in \
        failures[("customers/astronaut.jpg", "catalogue/lower/navy-trousers.png")]
    assert "too little of the body for a dress" in failures[("customers/astronaut.jpg", "catalogue/red-dress.png")]
    assert report["counts"]["rendered"] == 3 * len(full_body) + 1 and report["counts"]["failed"] == 2
    assert {p["status"] for p in report["pairs"]} == {"rendered", "failed"}
    inputs = {o.key: o.etag for o in st.list("")}
    for customer in full_body:
        photo = cv2.imdecode(np.frombuffer(st.get(f"customers/{customer}.jpg").body, np.uint8), cv2.IMREAD_COLOR)
        for garment, category in garments.items():
            composite = f"tryon/{customer}/{Path(garment).relative_to('catalogue').with_suffix('.jpg')}"
            obj = st.get(composite)
            image = cv2.imdecode(np.frombuffer(obj.body, np.uint8), cv2.IMREAD_COLOR)
            assert image.shape == photo.shape                                   # the customer's photo
            assert float(np.abs(image.astype(int) - photo.astype(int)).mean()) > 1   # something changed
            assert obj.metadata["tryon-category"] == category
            assert obj.metadata["tryon-fingerprint"] == fingerprint(inputs[f"customers/{customer}.jpg"],
                                                                    inputs[garment], shop["chain"], category)
            assert "warp=landmark_warp" in obj.metadata["tryon-stages"] or category == "upper"
    index = st.get_json("tryon/full-body/_index.json")
    assert {k: v["category"] for k, v in index["composites"].items()} == garments
    page = st.get(f"runs/{report['run_id']}/index.html").body.decode()
    assert "too little of the body for a dress" in page


def test_changing_a_garment_category_rerenders_its_pairs(shop):
    st = shop["storage"]
    before = {o.key: o.etag for o in st.list("tryon/") if o.key.endswith(".jpg")}
    # the same bytes, another category (a copy with new metadata keeps the content, maybe the ETag)
    st.put("catalogue/red-dress.png", demo_inputs.encode(demo_inputs.dress(), ".png"), "image/png",
           {"category": "upper"})
    rc, out, report = produce(shop)
    assert rc == 1, out   # the portrait is still refused for the trousers
    rendered = {(p["customer"], p["garment"]) for p in report["pairs"] if p["status"] == "rendered"}
    assert rendered == {(f"customers/{c}.jpg", "catalogue/red-dress.png") for c in shop["customers"]}
    assert {(f["customer"], f["garment"]) for f in report["failures"]} == {
        ("customers/astronaut.jpg", "catalogue/lower/navy-trousers.png")}
    after = {o.key: o.etag for o in st.list("tryon/") if o.key.endswith(".jpg")}
    changed = {k for k in after if after[k] != before.get(k)}
    assert changed == {f"tryon/{c}/red-dress.jpg" for c in shop["customers"]}
    assert st.head("tryon/full-body/red-dress.jpg")["metadata"]["tryon-category"] == "upper"
