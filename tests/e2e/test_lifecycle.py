"""Data lifecycle end to end (issue 16): SeaweedFS + Redis + a real Celery worker running the real
chain, driven by the producer CLI as an operator would.

Two customers × three garments are rendered; one customer's photo is replaced and rendered
again (a second cached person). A garment is deleted: the next run prunes exactly its
composites. Then the customer is deleted and forgotten: no object in the bucket and no Redis key
or value mentions their name, their photos' ETags or content hashes any more; the other
customer's composites, cache and report lines are untouched; a second forget finds nothing.
"""
from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import uuid

import cv2
import pytest

from scripts import demo_inputs
from tests.support.search import mentions_in_bucket, mentions_in_redis
from worker.person_cache import PersonCache
from worker.plan import Plan

pytestmark = pytest.mark.slow

GARMENTS = ["red-tee", "navy-tee", "striped-tee"]




def photo(size: int, mirrored: bool = False) -> bytes:
    """The astronaut at a size no other test uses: photo bytes (so ETag and hash) of its own."""
    image = demo_inputs.astronaut_bgr()
    image = cv2.flip(image, 1) if mirrored else image
    return demo_inputs.encode(cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA))


@pytest.fixture(scope="module")
def shop(stack, worker_proc, s3_client, storage_for, batch_settings, chain_ready):
    bucket = "e2e-lifecycle"
    s3_client.create_bucket(Bucket=bucket)
    st = storage_for(bucket)
    zoe = f"zoe-{uuid.uuid4().hex[:8]}"
    cloth = demo_inputs.garments()
    st.put(f"customers/{zoe}.jpg", photo(436), "image/jpeg")
    st.put("customers/yan.jpg", photo(444, mirrored=True), "image/jpeg")
    for name in GARMENTS:
        st.put(f"catalogue/{name}.png", demo_inputs.encode(cloth[name], ".png"), "image/png")
    return {"stack": stack, "storage": st, "bucket": bucket, "zoe": zoe, "zoe_key": f"customers/{zoe}.jpg",
            "settings": batch_settings(bucket), "runs": [], "photos": []}


def producer(shop, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "producer", *args], env=shop["stack"].env, capture_output=True,
                          text=True, timeout=400)


def run(shop) -> tuple[str, dict]:
    out = producer(shop, "--bucket", shop["bucket"], "--wait", "--timeout", "300")
    assert out.returncode == 0, out.stdout + out.stderr
    run_id = re.search(r"^run (\S+):", out.stdout, re.M).group(1)
    shop["runs"].append(run_id)
    return out.stdout, shop["storage"].get_json(f"runs/{run_id}/report.json")


def composites(st) -> dict[str, str]:
    return {o.key: o.etag for o in st.list("tryon/") if o.key.endswith(".jpg")}


def test_two_runs_render_the_customer_twice_and_cache_both_photos(shop, redis_client):
    st, zoe_key = shop["storage"], shop["zoe_key"]
    shop["photos"].append(st.get(zoe_key))
    _, report = run(shop)
    assert report["counts"]["rendered"] == 6 and report["counts"]["pruned"] == 0
    # The customer's photo is replaced: their 3 pairs are rendered again from the new content.
    st.put(zoe_key, photo(452), "image/jpeg")
    shop["photos"].append(st.get(zoe_key))
    _, report = run(shop)
    assert report["counts"]["rendered"] == 3 and {p["customer"] for p in report["pairs"]} == {zoe_key}

    cache = PersonCache(redis_client, ttl=shop["settings"].person_cache_ttl)
    entries = cache.entries_of(shop["bucket"], zoe_key)
    assert len(entries) == 2 and redis_client.exists(*entries) == 2  # both contents, found by customer
    assert {e.rsplit(":", 1)[1] for e in entries} == {hashlib.sha256(p.body).hexdigest() for p in shop["photos"]}
    plan = Plan.from_json(st.get_json(f"runs/{shop['runs'][-1]}/plan.json"))
    zoe_index = plan.index_key([c.key for c in plan.customers].index(zoe_key))
    assert st.get_json(zoe_index)["customer"] == zoe_key


def test_the_next_run_prunes_only_a_removed_garments_composites(shop):
    st = shop["storage"]
    plan = Plan.from_json(st.get_json(f"runs/{shop['runs'][-1]}/plan.json"))
    navy = [g.key for g in plan.garments].index("catalogue/navy-tee.png")
    navy_composites = {plan.composite_key(ci, navy) for ci in range(len(plan.customers))}
    before = composites(st)
    assert navy_composites <= set(before) and len(before) == 6

    st.client.delete_object(Bucket=shop["bucket"], Key="catalogue/navy-tee.png")
    stdout, report = run(shop)
    after = composites(st)
    assert after == {k: v for k, v in before.items() if k not in navy_composites}  # the rest byte-identical
    assert report["counts"]["pruned"] == 2 and report["counts"]["rendered"] == 0
    assert report["prune"]["status"] == "done" and report["prune"]["gone_garments"] == 1
    assert "prune: deleted 2 composites (" in stdout and "(catalogue/navy-tee.png)" in stdout
    for ci in range(len(plan.customers)):
        assert "catalogue/navy-tee.png" not in st.get_json(plan.index_key(ci))["composites"]


def test_a_forgotten_customer_is_nowhere_and_the_other_is_untouched(shop, redis_client):
    st, zoe, zoe_key = shop["storage"], shop["zoe"], shop["zoe_key"]
    needles = [zoe, *(p.etag for p in shop["photos"]), *(hashlib.sha256(p.body).hexdigest() for p in shop["photos"])]
    assert mentions_in_bucket(st, needles) and mentions_in_redis(redis_client, needles)  # before: everywhere
    yan_before = {k: v for k, v in composites(st).items() if zoe not in k}
    cache = PersonCache(redis_client, ttl=shop["settings"].person_cache_ttl)
    yan_cache = cache.entries_of(shop["bucket"], "customers/yan.jpg")
    assert len(yan_cache) == 1

    st.client.delete_object(Bucket=shop["bucket"], Key=zoe_key)  # the shop deletes the customer's photo
    out = producer(shop, "forget", "--bucket", shop["bucket"], zoe_key)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "  composites: deleted 2 (" in out.stdout and "  person cache: deleted 2 entries" in out.stdout
    assert f"runs: redacted {len(shop['runs'])} run records" in out.stdout

    assert mentions_in_bucket(st, needles) == []
    assert mentions_in_redis(redis_client, needles) == []
    assert {k: v for k, v in composites(st).items()} == yan_before
    assert redis_client.exists(*yan_cache) == 1
    for run_id in shop["runs"]:
        report = st.get_json(f"runs/{run_id}/report.json")
        assert all(p["customer"] == "customers/yan.jpg" for p in report["pairs"])
        plan = st.get_json(f"runs/{run_id}/plan.json")
        assert [c[0] for c in plan["customers"]] == ["customers/yan.jpg", ""] and plan["forgotten"] == 1
    first = st.get_json(f"runs/{shop['runs'][0]}/report.json")
    assert len(first["pairs"]) == 3 and first["redacted"] == {"customers": 1, "pairs": 3}
    assert "yan.jpg" in st.get(f"runs/{shop['runs'][0]}/index.html").body.decode()

    # Idempotent: a second forget finds nothing and changes nothing.
    listing = {o.key: o.etag for o in st.list("")}
    out = producer(shop, "forget", "--bucket", shop["bucket"], zoe_key)
    assert out.returncode == 0, out.stderr
    assert "  composites: deleted 0" in out.stdout and "  person cache: deleted 0 entries" in out.stdout
    assert {o.key: o.etag for o in st.list("")} == listing
