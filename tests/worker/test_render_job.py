"""worker/render_job.py, step by step, with no broker: the session's SeaweedFS for the steps,
SeaweedFS + Redis for a whole chunk; the chain's interface with real arrays (the e2e tests run
the real chain)."""
from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest
from celery.exceptions import SoftTimeLimitExceeded

from models.contract import BadInputError, Composite, QaVerdict
from models.contract import Person
from worker import keys
from worker.person_cache import PersonCache
from worker.plan import InputObject, Plan, Prefixes, fingerprint
from worker.render_job import (GarmentInput, PairToRender, PreparedCustomer, fetch_garments, finish_interrupted,
                               pairs_to_render, render_batches, render_chunk, write_composite)
from worker.runs import new_run_id
from worker.storage import Storage


def _png(value: int = 128) -> bytes:
    return cv2.imencode(".png", np.full((128, 96, 3), value, np.uint8))[1].tobytes()


def _person() -> Person:
    parse = np.zeros((64, 48), np.uint8)
    parse[10:50, 10:40] = 5
    return Person(photo=None, crop_box=(0, 0, 48, 64), keypoints=np.ones((18, 3), np.float32), parse=parse,
                  stages={"pose": {"impl": "test", "weights": {}}})


def _composite(value: int) -> Composite:
    return Composite(image=np.full((128, 96, 3), value, np.uint8), tryon=np.zeros((256, 192, 3), np.float32),
                     stages={"render": {"impl": "test", "weights": {}}}, timings={"render": 0.01})


def _plan_of(storage: Storage, customers: list[str], garments: list[str], **fields) -> Plan:
    def listed(key):
        head = storage.head(key)
        return InputObject(key, head["etag"] if head else "absent", head["size"] if head else 0)
    return Plan(run_id=fields.pop("run_id", new_run_id()), bucket=storage.bucket, chain="test-chain", force=False,
                created="now", prefixes=Prefixes("customers/", "catalogue/", "tryon/", "runs/"),
                customers=[listed(k) for k in customers], garments=[listed(k) for k in garments], **fields)


def _upload_inputs(st: Storage) -> Plan:
    """customers/ann.png and three garments; the plan of that one customer × the three."""
    st.put("customers/ann.png", _png(), "image/png")
    for g in "abc":
        st.put(f"catalogue/{g}.png", _png(), "image/png")
    return _plan_of(st, ["customers/ann.png"], [f"catalogue/{g}.png" for g in "abc"])


@pytest.fixture
def s3(storage_for, bucket):
    """A fresh bucket on the session's SeaweedFS with a customer and three garments."""
    st = storage_for(bucket)
    _upload_inputs(st)
    return st


class _Chain:
    """The chain's interface (prepare_person, render) with real arrays; `render` rejects any batch
    holding a garment named in `bad`, as models.chain does with a garment it cannot use."""

    def __init__(self, bad=(), stop_at_call: int | None = None):
        self.bad, self.stop_at_call, self.render_calls, self.categories = set(bad), stop_at_call, [], []

    def prepare_person(self, photo, name=None):
        return _person()

    def render(self, person, images, names=None, category="upper"):
        self.render_calls.append(list(names))
        if category not in self.categories:
            self.categories.append(category)
        if len(self.render_calls) == self.stop_at_call:
            raise SoftTimeLimitExceeded()  # as Celery's soft time limit interrupts a task
        for name in names:
            if name in self.bad:
                raise BadInputError(f"garment {names.index(name)}: no garment found")
        return [_composite(90 + i) for i, _ in enumerate(images)]


def test_pairs_to_render_skips_composites_whose_fingerprint_is_current(s3):
    plan = _plan_of(s3, ["customers/ann.png"], ["catalogue/a.png", "catalogue/b.png", "catalogue/c.png"])
    s3.put("tryon/ann/a.jpg", b"jpg", "image/jpeg", {keys.FINGERPRINT_METADATA: plan.fingerprint(0, 0)})
    s3.put("tryon/ann/b.jpg", b"jpg", "image/jpeg", {keys.FINGERPRINT_METADATA: "stale"})
    results = {}
    todo = pairs_to_render(s3, plan, 0, [0, 1, 2], plan.chain, results)
    assert [p.garment for p in todo] == [1, 2]
    assert todo[0] == PairToRender(1, "catalogue/b.png", "tryon/ann/b.jpg")
    assert results[0]["status"] == "skipped" and results[0]["fingerprint"] == plan.fingerprint(0, 0)

    # An old message: garment c was replaced after planning, and its pair rendered from the new one since.
    s3.put("catalogue/c.png", _png(200), "image/png")
    new_etag = s3.head("catalogue/c.png")["etag"]
    s3.put("tryon/ann/c.jpg", b"jpg", "image/jpeg",
           {keys.FINGERPRINT_METADATA: fingerprint(plan.customers[0].etag, new_etag, plan.chain)})
    assert [p.garment for p in pairs_to_render(s3, plan, 0, [0, 1, 2], plan.chain, {})] == [1]
    # Another chain version, or a forced run: everything.
    assert len(pairs_to_render(s3, plan, 0, [0, 1, 2], "other-chain", {})) == 3
    forced = dataclasses.replace(plan, force=True)
    assert len(pairs_to_render(s3, forced, 0, [0, 1, 2], plan.chain, {})) == 3


def test_fetch_garments_fails_only_the_pairs_whose_garment_is_bad(s3):
    s3.put("catalogue/b.png", b"not an image", "image/png")
    todo = [PairToRender(0, "catalogue/a.png", "tryon/ann/a.jpg"), PairToRender(1, "catalogue/b.png", "tryon/ann/b.jpg"),
            PairToRender(2, "catalogue/gone.png", "tryon/ann/gone.jpg")]
    results = {}
    garments = fetch_garments(s3, todo, 10**6, results)
    assert [g.pair.garment for g in garments] == [0] and garments[0].image.shape == (128, 96, 3)
    assert results[1]["reason"] == "catalogue/b.png: not a decodable image"
    assert results[2]["reason"] == "catalogue/gone.png: object no longer exists"


def test_a_rejected_batch_is_rendered_garment_by_garment_so_only_the_bad_one_fails():
    garments = [GarmentInput(PairToRender(i, f"catalogue/{g}.png", f"tryon/x/{g}.jpg"), "e", np.zeros((8, 8, 3), np.uint8))
                for i, g in enumerate("abcde")]
    chain = _Chain(bad={"catalogue/b.png"})
    out = list(render_batches(chain, _person(), garments, batch_size=3))
    assert [(g.pair.garment, c is not None) for g, c, _ in out] == [(0, True), (1, False), (2, True), (3, True),
                                                                   (4, True)]
    assert out[1][2] == "catalogue/b.png: garment 0: no garment found"  # names the object
    assert chain.render_calls == [["catalogue/a.png", "catalogue/b.png", "catalogue/c.png"], ["catalogue/a.png"],
                                  ["catalogue/b.png"], ["catalogue/c.png"], ["catalogue/d.png", "catalogue/e.png"]]


def test_a_garment_planned_with_its_category_unread_takes_the_downloaded_objects(s3):
    """The planner could not read a garment's metadata: the worker reads the category from the
    object it downloads (a value that is no category fails the pair with the reason)."""
    png = cv2.imencode(".png", np.full((100, 80, 3), 200, np.uint8))[1].tobytes()
    s3.put("catalogue/a.png", png, "image/png", {"category": "dress"})
    s3.put("catalogue/b.png", png, "image/png", {"category": "hat"})
    s3.put("catalogue/c.png", png, "image/png")
    todo = [PairToRender(i, f"catalogue/{g}.png", f"tryon/x/{g}.jpg", None) for i, g in enumerate("abc")]
    results = {}
    garments = fetch_garments(s3, todo, 10 ** 6, results, "catalogue/")
    assert [(g.pair.garment, g.pair.category) for g in garments] == [(0, "dress"), (2, "upper")]
    assert results[1]["status"] == "failed" and "unknown garment category 'hat'" in results[1]["reason"]


def test_render_batches_render_one_category_per_call():
    """Garments of several categories: each chain.render call gets one category (the
    category's framing and layers), every garment still gets its composite."""
    garments = [GarmentInput(PairToRender(i, f"catalogue/{g}.png", f"tryon/x/{g}.jpg", c), "e",
                             np.zeros((8, 8, 3), np.uint8))
                for i, (g, c) in enumerate([("a", "upper"), ("b", "lower"), ("c", "upper"), ("d", "dress")])]
    chain = _Chain()
    out = list(render_batches(chain, _person(), garments, batch_size=8))
    assert sorted(g.pair.garment for g, c, _ in out if c is not None) == [0, 1, 2, 3]
    assert chain.categories == ["upper", "lower", "dress"]
    assert chain.render_calls == [["catalogue/a.png", "catalogue/c.png"], ["catalogue/b.png"], ["catalogue/d.png"]]


def test_write_composite_uploads_a_jpeg_with_its_fingerprint_and_returns_the_index_record(s3):
    customer = PreparedCustomer("customers/ann.png", "c-etag", _person(), cached=False, seconds=0.5)
    garment = GarmentInput(PairToRender(2, "catalogue/c.png", "tryon/ann/c.jpg"), "g-etag", np.zeros((8, 8, 3), np.uint8))
    result, record = write_composite(s3, "run-1", customer, garment, _composite(100), "v1", jpeg_quality=90)
    head = s3.head("tryon/ann/c.jpg")
    fp = fingerprint("c-etag", "g-etag", "v1")
    assert keys.recorded_fingerprint(head["metadata"]) == fp and head["metadata"]["tryon-run"] == "run-1"
    assert s3.get("tryon/ann/c.jpg").body[:2] == b"\xff\xd8"
    assert result["status"] == "rendered" and result["etag"] == head["etag"] and result["timings"]["person"] == 0.5
    assert record == {"fingerprint": fp, "etag": head["etag"], "chain": "v1", "customer_etag": "c-etag",
                      "garment_etag": "g-etag", "category": "upper"}
    assert head["metadata"]["tryon-category"] == "upper"
    # the QA verdict travels with the composite (its metadata) and into the run's report (the result)
    assert head["metadata"]["tryon-qa"] == "ok" and result["qa"] == {"status": "ok", "reasons": []}
    flagged = _composite(100)
    flagged.qa = QaVerdict(status="needs_review", reasons=["garment strained to fit (strain 0.60)"])
    result, _ = write_composite(s3, "run-1", customer, garment, flagged, "v1", jpeg_quality=90)
    head = s3.head("tryon/ann/c.jpg")
    assert head["metadata"]["tryon-qa"] == "needs_review" and "strained" in head["metadata"]["tryon-qa-reasons"]
    assert result["qa"]["reasons"] == ["garment strained to fit (strain 0.60)"]


def test_a_chunk_interrupted_by_its_time_limit_reports_written_pairs_as_rendered(storage_for, bucket, redis_client,
                                                                                 batch_settings):
    """Found by CI: a chunk whose soft time limit fired after its composites were written
    (Redis restarting) was reported as failed although the composites were in the bucket."""
    st = storage_for(bucket)
    plan = _upload_inputs(st)
    cache = PersonCache(redis_client, ttl=60, namespace=f"test:person:{plan.run_id}")
    written: dict[int, dict] = {}
    with pytest.raises(SoftTimeLimitExceeded):
        render_chunk(st, cache, _Chain(stop_at_call=2), plan, 0, [0, 1, 2], batch_settings(bucket, render_batch=1),
                     results=written)

    results = finish_interrupted(written, [0, 1, 2], "time limit (8s) exceeded for the chunk")
    assert [r["status"] for r in results] == ["rendered", "failed", "failed"]
    assert results[1]["reason"] == "time limit (8s) exceeded for the chunk"
    head = st.head("tryon/ann/a.jpg")
    assert head is not None and results[0]["etag"] == head["etag"]
    assert st.head("tryon/ann/b.jpg") is None


def test_a_whole_chunk_renders_skips_and_indexes(storage_for, bucket, redis_client, batch_settings):
    st = storage_for(bucket)
    plan = _upload_inputs(st)
    st.put("tryon/ann/a.jpg", b"jpg", "image/jpeg", {keys.FINGERPRINT_METADATA: plan.fingerprint(0, 0)})
    cache = PersonCache(redis_client, ttl=60, namespace=f"test:person:{plan.run_id}")
    results = render_chunk(st, cache, _Chain(bad={"catalogue/c.png"}), plan, 0, [0, 1, 2], batch_settings(bucket))
    assert [r["status"] for r in results] == ["skipped", "rendered", "failed"]
    assert "fingerprint" not in results[0]  # it went into the index, not into the run's record
    index = st.get_json(plan.index_key(0))["composites"]
    assert sorted(index) == ["catalogue/a.png", "catalogue/b.png"]
    assert index["catalogue/b.png"]["fingerprint"] == plan.fingerprint(0, 1)
    assert index["catalogue/a.png"] == {"fingerprint": plan.fingerprint(0, 0), "etag": st.head("tryon/ann/a.jpg")["etag"],
                                        "chain": plan.chain}


def test_a_pair_whose_key_cannot_be_stored_fails_alone(storage_for, bucket):
    st = storage_for(bucket)
    plan = _plan_of(st, ["customers/ann.png"], ["catalogue/a.png"])
    # a plan from an older producer may hold a key the naming refuses
    plan = dataclasses.replace(plan, garments=plan.garments + [InputObject("catalogue/../x.png", "e", 1)])
    results = {}
    todo = pairs_to_render(st, plan, 0, [0, 1], plan.chain, results)
    assert [p.garment for p in todo] == [0]
    assert results[1]["status"] == "failed" and "cannot be stored" in results[1]["reason"]
