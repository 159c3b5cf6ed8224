"""producer/planner.py against real S3 (SeaweedFS): listing, the plan, the up-to-date check
(folder listing + the customer's index, HEAD as fallback) and chunking."""
from __future__ import annotations

import dataclasses

from producer.planner import PlanCounts, build_plan, garments_to_render, iter_chunks
from worker.plan import Chunk, InputObject


def test_the_plan_lists_usable_inputs_and_reports_the_rest(storage_for, bucket, batch_settings):
    st = storage_for(bucket)
    st.put("customers/alice.jpg", b"photo", "image/jpeg")
    st.put("customers/alice.png", b"same name", "image/png")
    st.put("customers/empty.jpg", b"", "image/jpeg")
    st.put("catalogue/tops/red.png", b"tee", "image/png")
    st.put("catalogue/readme.txt", b"text", "text/plain")
    plan = build_plan(st, batch_settings(bucket, chunk_size=7), "r1", force=False, chain="v1")
    assert plan.customers == [InputObject("customers/alice.jpg", st.head("customers/alice.jpg")["etag"], 5)]
    assert [g.key for g in plan.garments] == ["catalogue/tops/red.png"]
    assert sorted(i["key"] for i in plan.invalid) == ["catalogue/readme.txt", "customers/alice.png",
                                                       "customers/empty.jpg"]
    assert (plan.run_id, plan.bucket, plan.chain, plan.chunk_size, plan.prefixes.output) == ("r1", bucket, "v1", 7,
                                                                                             "tryon/")


def test_planner_uses_the_listing_and_index_then_head_as_fallback(storage_for, bucket, batch_settings):
    st = storage_for(bucket)
    st.put("customers/alice.jpg", b"photo", "image/jpeg")
    for g in ("a", "b", "c", "d", "e"):
        st.put(f"catalogue/{g}.jpg", g.encode(), "image/jpeg")
    plan = build_plan(st, batch_settings(bucket), "r", force=False, chain="v1")
    fp = {g.key: plan.fingerprint(0, gi) for gi, g in enumerate(plan.garments)}
    assert garments_to_render(st, plan, 0) == [0, 1, 2, 3, 4]  # nothing rendered yet

    def composite(g, fingerprint, body=b"jpg "):
        return st.put(f"tryon/alice/{g}.jpg", body + g.encode(), "image/jpeg", {"tryon-fingerprint": fingerprint})

    # a: indexed and current; b: written but not indexed (HEAD finds it current);
    # c: stale in the index; d: indexed and current, but deleted by hand since;
    # e: indexed as current, but replaced since by an object with an old fingerprint
    etag_a, etag_c = composite("a", fp["catalogue/a.jpg"]), composite("c", "old")
    composite("b", fp["catalogue/b.jpg"])
    old_e = composite("e", fp["catalogue/e.jpg"])
    composite("e", "old", body=b"other bytes ")
    st.put_json("tryon/alice/_index.json", {"version": 1, "composites": {
        "catalogue/a.jpg": {"fingerprint": fp["catalogue/a.jpg"], "etag": etag_a},
        "catalogue/c.jpg": {"fingerprint": "old", "etag": etag_c},
        "catalogue/d.jpg": {"fingerprint": fp["catalogue/d.jpg"], "etag": "gone"},
        "catalogue/e.jpg": {"fingerprint": fp["catalogue/e.jpg"], "etag": old_e}}})
    assert garments_to_render(st, plan, 0) == [2, 3, 4]
    # A new chain version: all stale. A forced run: all.
    assert garments_to_render(st, dataclasses.replace(plan, chain="v2"), 0) == [0, 1, 2, 3, 4]
    assert garments_to_render(st, dataclasses.replace(plan, force=True), 0) == [0, 1, 2, 3, 4]

    counts = PlanCounts()
    chunks = list(iter_chunks(st, dataclasses.replace(plan, chunk_size=2), counts))
    assert chunks == [Chunk(0, [[2, 4]]), Chunk(0, [[4, 5]])]
    assert (counts.pairs_planned, counts.pairs_up_to_date, counts.pairs_to_render, counts.chunks) == (5, 2, 3, 2)


def test_colliding_and_over_long_names_get_distinct_keys_that_fit(storage_for, bucket, batch_settings):
    from worker import keys

    st = storage_for(bucket)
    long_customer = "customers/" + "/".join(["shop-customer-folder-" + "c" * 40] * 10) + ".jpg"
    long_garment = "catalogue/" + "/".join(["garment-folder-" + "g" * 25] * 10) + ".jpg"
    assert len(long_customer.encode()) > 600 and len(long_garment.encode()) > 400
    for k in ("customers/alice.jpg", "customers/alice/bob.jpg", long_customer):
        st.put(k, b"photo", "image/jpeg")
    for k in ("catalogue/bob/shirt.jpg", "catalogue/shirt.jpg", long_garment):
        st.put(k, b"tee", "image/jpeg")
    plan = build_plan(st, batch_settings(bucket), "r", force=False, chain="v1")
    assert len(plan.customers) == 3 and len(plan.garments) == 3 and plan.invalid == []
    composites = {plan.composite_key(ci, gi) for ci in range(3) for gi in range(3)}
    assert len(composites) == 9  # one key per pair
    assert all(len(k.encode()) <= keys.MAX_KEY_BYTES for k in composites)
    for k in composites:  # and the store takes every one of them
        st.put(k, b"jpg", "image/jpeg")
    assert {o.key for o in st.list("tryon/")} == composites


def test_an_output_prefix_no_composite_fits_under_is_refused_before_planning(storage_for, bucket, batch_settings):
    import pytest

    from worker import keys

    st = storage_for(bucket)
    with pytest.raises(keys.InvalidKeyError, match="TRYON_OUTPUT_PREFIX"):
        build_plan(st, batch_settings(bucket, output_prefix="o" * 700 + "/"), "r", force=False, chain="v1")


def test_the_plan_reads_each_garment_category_and_reports_unknown_ones(storage_for, bucket, batch_settings):
    """Layout folder, else x-amz-meta-category, else upper; an unknown value is listed under
    `invalid` with its reason and never planned. Changing a garment's category (its metadata,
    same bytes) makes its pairs stale."""
    st = storage_for(bucket)
    st.put("customers/alice.jpg", b"photo", "image/jpeg")
    st.put("catalogue/lower/jeans.png", b"jeans", "image/png")
    st.put("catalogue/dress.png", b"a dress", "image/png", {"category": "dress"})
    st.put("catalogue/tee.png", b"tee", "image/png")
    st.put("catalogue/hat.png", b"hat", "image/png", {"category": "hat"})
    plan = build_plan(st, batch_settings(bucket), "r", force=False, chain="v1")
    assert [(g.key, g.category) for g in plan.garments] == [
        ("catalogue/dress.png", "dress"), ("catalogue/lower/jeans.png", "lower"), ("catalogue/tee.png", "upper")]
    assert plan.invalid == [{"key": "catalogue/hat.png", "reason": "'catalogue/hat.png': unknown garment category "
                                                                   "'hat' (x-amz-meta-category; expected upper, "
                                                                   "lower, dress)"}]
    # the dress rendered as planned is current; recategorised (metadata only) it is stale
    fp = plan.fingerprint(0, 0)
    st.put("tryon/alice/dress.jpg", b"jpg", "image/jpeg", {"tryon-fingerprint": fp})
    assert 0 not in garments_to_render(st, plan, 0)
    st.put("catalogue/dress.png", b"a dress", "image/png", {"category": "upper"})
    replanned = build_plan(st, batch_settings(bucket), "r2", force=False, chain="v1")
    assert replanned.garments[0].category == "upper"
    assert 0 in garments_to_render(st, replanned, 0)


def test_a_garment_whose_metadata_s3_will_not_give_is_planned_with_its_category_unread(storage_for, bucket,
                                                                                       batch_settings):
    """A HEAD answered with an error after botocore's retries (chaos: an object that answers 503
    forever) must not abort the run: the garment is planned with its category unread (None),
    its pairs are never judged up to date, and the worker reads the category from the object
    it downloads or fails the pairs with the S3 error."""
    import botocore.exceptions

    st = storage_for(bucket)
    st.put("customers/alice.jpg", b"photo", "image/jpeg")
    st.put("catalogue/tee.png", b"tee", "image/png")
    st.put("catalogue/lower/jeans.png", b"jeans", "image/png")

    class Unavailable(type(st)):
        def head(self, key):
            if key == "catalogue/tee.png":
                raise botocore.exceptions.ClientError({"Error": {"Code": "503", "Message": "Slow Down"}}, "HeadObject")
            return super().head(key)

    flaky = Unavailable(st.client, st.bucket)
    plan = build_plan(flaky, batch_settings(bucket), "r", force=False, chain="v1")
    assert [(g.key, g.category) for g in plan.garments] == [("catalogue/lower/jeans.png", "lower"),
                                                             ("catalogue/tee.png", None)]
    assert plan.invalid == []
    assert type(plan).from_json(plan.to_json()).garments[1].category is None
    st.put("tryon/alice/tee.jpg", b"jpg", "image/jpeg", {"tryon-fingerprint": plan.fingerprint(0, 1)})
    assert 1 in garments_to_render(st, plan, 0)
