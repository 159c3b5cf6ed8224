"""Batch pieces against real servers (SeaweedFS S3 + Redis started by tests/servers.py), no
Celery worker and no chain needed: storage, person cache single flight, run bookkeeping,
the customer index, the overlap guard and the producer's dry run."""
from __future__ import annotations

import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from models.chain import BadInputError
from models.contract import Person
from producer.plan import build_plan, garments_to_render
from tests.servers import *  # noqa: F401,F403
from tests.servers import settings_for
from worker import keys
from worker.person_cache import PersonCache
from worker.render_job import update_customer_index
from worker.runs import RunBook, acquire_active_run, new_run_id
from worker.storage import ObjectMissingError, Storage, make_client


def _storage(stack, bucket):
    return Storage(make_client(settings_for(stack, bucket)), bucket)


def test_storage_lists_every_page_and_keeps_metadata(stack, bucket):
    st = _storage(stack, bucket)
    for i in range(23):
        st.put(f"catalogue/g{i:02d}.jpg", b"x" * (i + 1), "image/jpeg", {"tryon-n": str(i)})
    listed = list(st.list("catalogue/", page_size=5))  # 5 pages
    assert [o.key for o in listed] == [f"catalogue/g{i:02d}.jpg" for i in range(23)]
    assert [o.size for o in listed] == list(range(1, 24))
    head = st.head("catalogue/g07.jpg")
    assert head["metadata"] == {"tryon-n": "7"} and head["etag"] == listed[7].etag
    assert st.get("catalogue/g07.jpg").body == b"x" * 8
    assert st.head("catalogue/none.jpg") is None
    with pytest.raises(ObjectMissingError):
        st.get("catalogue/none.jpg")


def _person(tag: int) -> Person:
    parse = np.zeros((64, 48), np.uint8)
    parse[10:50, 10:40] = 5
    kp = np.full((18, 3), tag, np.float32)
    return Person(photo=None, crop_box=(0, 0, 48, 64), keypoints=kp, parse=parse,
                  stages={"pose": {"impl": "test", "weights": {}}})


def test_person_cache_single_flight(redis_client):
    cache = PersonCache(redis_client, ttl=60, namespace=f"test:person:{new_run_id()}")
    key = cache.key(b"photo bytes", "v1")
    calls = []

    def compute():
        calls.append(threading.current_thread().name)
        time.sleep(1.0)  # long enough that the other thread arrives while this one computes
        return _person(7)

    photo = np.zeros((64, 48, 3), np.uint8)
    out = {}
    threads = [threading.Thread(target=lambda n=n: out.__setitem__(n, cache.get_or_compute(key, photo, compute)),
                                name=f"t{n}") for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(calls) == 1, "both workers computed the same person"
    assert sorted(hit for _, hit in out.values()) == [False, True]
    for person, _ in out.values():
        assert person.photo is photo and float(person.keypoints[0, 0]) == 7 and int(person.parse.max()) == 5
    assert redis_client.ttl(key) > 0


def test_person_cache_remembers_rejections(redis_client):
    cache = PersonCache(redis_client, ttl=60, namespace=f"test:person:{new_run_id()}")
    key = cache.key(b"no person here", "v1")
    calls = []

    def compute():
        calls.append(1)
        raise BadInputError("customers/empty.jpg: no person found")

    for _ in range(2):
        with pytest.raises(BadInputError, match="no person found"):
            cache.get_or_compute(key, np.zeros((8, 8, 3), np.uint8), compute)
    assert calls == [1]


def _plan(run_id, bucket):
    return {"run_id": run_id, "bucket": bucket, "chain": "v", "force": False, "created": "now",
            "prefixes": {"customers": "customers/", "catalogue": "catalogue/", "output": "tryon/", "runs": "runs/"},
            "customers": [["customers/a.jpg", "e", 1]], "garments": [["catalogue/g.jpg", "e", 1],
                                                                      ["catalogue/h.jpg", "e", 1]],
            "invalid": []}


def test_run_book_counts_each_chunk_once_and_writes_the_report_once(stack, bucket, redis_client):
    st = _storage(stack, bucket)
    run_id = new_run_id()
    book = RunBook(redis_client, run_id, ttl=600)
    book.create(_plan(run_id, bucket), {"pairs_planned": 2, "invalid_inputs": 0})
    assert not book.is_complete()  # still enqueuing
    pairs = [{"garment": 0, "status": "rendered"}, {"garment": 1, "status": "failed", "reason": "bad"}]
    assert book.record_chunk("c0:0-2", 0, pairs)
    assert not book.record_chunk("c0:0-2", 0, pairs)  # re-delivered: not counted again
    assert book.try_finalize(st) is None  # total not yet known
    book.set_enqueued(chunks_total=1, pairs_to_render=2)
    st_ = book.status()
    assert (st_["rendered"], st_["failed"], st_["chunks_done"]) == (1, 1, 1)
    report = book.try_finalize(st)
    assert report is not None and report["counts"]["failed"] == 1 and report["failures"][0]["reason"] == "bad"
    assert book.try_finalize(st) is None  # exactly one writer
    assert st.get_json(f"runs/{run_id}/report.json")["run_id"] == run_id
    assert b"tryon/a/g.jpg" in st.get(f"runs/{run_id}/index.html").body
    assert book.status()["state"] == "finished"


def test_overlapping_runs_are_refused_until_the_active_one_finishes(redis_client):
    bucket = f"overlap-{new_run_id()}"
    first, second = new_run_id(), new_run_id()
    RunBook(redis_client, first, ttl=60).create(_plan(first, bucket), {})
    assert acquire_active_run(redis_client, bucket, first, ttl=60) is None
    assert acquire_active_run(redis_client, bucket, second, ttl=60) == first
    redis_client.hset(f"tryon:run:{first}", "state", "finished")  # left its lock behind
    assert acquire_active_run(redis_client, bucket, second, ttl=60) is None
    assert redis_client.get(f"tryon:active-run:{bucket}") == second.encode()


def test_customer_index_merges_concurrent_updates(stack, bucket, redis_client):
    st = _storage(stack, bucket)
    key = "tryon/alice/_index.json"
    threads = [threading.Thread(target=update_customer_index,
                                args=(st, redis_client, key, {f"catalogue/g{i}.jpg": {"fingerprint": str(i)}}))
               for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(st.get_json(key)["composites"]) == [f"catalogue/g{i}.jpg" for i in range(6)]


def test_planner_uses_the_listing_and_index_then_head_as_fallback(stack, bucket):
    st = _storage(stack, bucket)
    st.put("customers/alice.jpg", b"photo", "image/jpeg")
    for g in ("a", "b", "c", "d", "e"):
        st.put(f"catalogue/{g}.jpg", g.encode(), "image/jpeg")
    s = settings_for(stack, bucket)
    plan = build_plan(st, s, "r", force=False, chain="v1")
    cust_etag = plan["customers"][0][1]
    fp = {g[0]: keys.fingerprint(cust_etag, g[1], "v1") for g in plan["garments"]}
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
    assert garments_to_render(st, dict(plan, chain="v2"), 0) == [0, 1, 2, 3, 4]  # new chain version: all stale
    assert garments_to_render(st, dict(plan, force=True), 0) == [0, 1, 2, 3, 4]


def test_producer_dry_run_prints_the_plan_and_writes_nothing(stack, bucket):
    st = _storage(stack, bucket)
    for c in ("alice", "bob"):
        st.put(f"customers/{c}.jpg", b"p", "image/jpeg")
    for g in range(5):
        st.put(f"catalogue/g{g}.png", b"g", "image/png")
    st.put("catalogue/readme.txt", b"not an image", "text/plain")
    env = {**stack.env, "TRYON_BUCKET": "unused"}
    out = subprocess.run([sys.executable, "-m", "producer", "--bucket", bucket, "--dry-run", "--chunk-size", "2"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "plan: 2 customers × 5 garments" in out.stdout
    assert "tryon.render_customer(run='dry-run', customer='customers/alice.jpg', garments='0-1 of 5')" in out.stdout
    assert "readme.txt': not an image" in out.stdout
    assert '{"to_render": 10, "skipped": 0, "invalid": 1, "tasks": 6}' in out.stdout
    assert [o.key for o in st.list("runs/")] == [] and [o.key for o in st.list("tryon/")] == []


class _ChainStoppedMidChunk:
    """The chain's interface (prepare_person, render) with real arrays, whose second render
    call is interrupted as Celery's soft time limit interrupts a task."""

    def __init__(self):
        self.render_calls = 0

    def prepare_person(self, photo, name=None):
        return _person(1)

    def render(self, person, images, names=None):
        from celery.exceptions import SoftTimeLimitExceeded
        from models.chain import Composite

        self.render_calls += 1
        if self.render_calls == 2:
            raise SoftTimeLimitExceeded()
        return [Composite(image=np.full((128, 96, 3), 90 + i, np.uint8), tryon=np.zeros((256, 192, 3), np.float32),
                          stages={"render": {"impl": "test", "weights": {}}}, timings={"render": 0.01})
                for i, _ in enumerate(images)]


def test_a_chunk_interrupted_by_its_time_limit_reports_written_pairs_as_rendered(stack, bucket, redis_client):
    """Found by CI: a chunk whose soft time limit fired after its composites were written
    (Redis restarting) was reported as failed although the composites were in the bucket."""
    import cv2
    from celery.exceptions import SoftTimeLimitExceeded

    from worker.render_job import finish_interrupted, render_chunk

    st = _storage(stack, bucket)
    ok, png = cv2.imencode(".png", np.full((128, 96, 3), 128, np.uint8))
    st.put("customers/ann.png", png.tobytes(), "image/png")
    for g in ("a", "b", "c"):
        st.put(f"catalogue/{g}.png", png.tobytes(), "image/png")
    etag = st.head("customers/ann.png")["etag"]
    plan = {"run_id": new_run_id(), "chain": "test-chain", "force": False, "bucket": bucket,
            "prefixes": {"output": "tryon/", "customers": "customers/", "catalogue": "catalogue/"},
            "customers": [["customers/ann.png", etag, 1]],
            "garments": [[f"catalogue/{g}.png", st.head(f"catalogue/{g}.png")["etag"], 1] for g in "abc"]}
    cache = PersonCache(redis_client, ttl=60, namespace=f"test:person:{plan['run_id']}")
    written: dict[int, dict] = {}
    with pytest.raises(SoftTimeLimitExceeded):
        render_chunk(st, cache, _ChainStoppedMidChunk(), plan, 0, [0, 1, 2],
                     settings_for(stack, bucket, render_batch=1), results=written)

    results = finish_interrupted(written, [0, 1, 2], "time limit (8s) exceeded for the chunk")
    assert [r["status"] for r in results] == ["rendered", "failed", "failed"]
    assert results[1]["reason"] == "time limit (8s) exceeded for the chunk"
    head = st.head("tryon/ann/a.jpg")
    assert head is not None and results[0]["etag"] == head["etag"]
    assert st.head("tryon/ann/b.jpg") is None


def test_lost_chunks_are_resent_only_when_the_run_stalled_with_an_empty_queue(redis_client):
    from worker.runs import chunk_id, parse_chunk_id

    assert parse_chunk_id(chunk_id(12, [[0, 4], [9, 12]])) == (12, [[0, 4], [9, 12]])
    with pytest.raises(ValueError):
        parse_chunk_id("12:0-4")

    run_id = new_run_id()
    book = RunBook(redis_client, run_id, ttl=600)
    book.create({"run_id": run_id, "created": "now", "bucket": "b", "chain": "c"}, {})
    ids = [chunk_id(ci, [[0, 2]]) for ci in range(5)]
    book.mark_sent(ids)
    book.set_enqueued(chunks_total=5, pairs_to_render=10)
    for c in ids[:3]:
        book.record_chunk(c, int(c[1]), [{"garment": 0, "status": "rendered"}, {"garment": 1, "status": "rendered"}])
    assert book.unrecorded_chunks() == ids[3:]
    progress_at = float(book.status()["progress_at"])

    resent = []

    def send_chunk(plan, customer, ranges):
        resent.append(chunk_id(customer, ranges))

    # Still within the stall period: the missing chunks may be queued or running.
    assert book.resend_lost_chunks(send_chunk, stalled_after=60, queue_length=lambda: 0, now=progress_at + 30) == 0
    # Stalled, but messages are waiting in the queue (e.g. every worker is down): nothing lost.
    assert book.resend_lost_chunks(send_chunk, stalled_after=60, queue_length=lambda: 7, now=progress_at + 61) == 0
    assert resent == []
    # Stalled with an empty queue: exactly the unrecorded chunks, once.
    assert book.resend_lost_chunks(send_chunk, stalled_after=60, queue_length=lambda: 0, now=progress_at + 61) == 2
    assert resent == ids[3:] and book.status()["chunks_resent"] == 2
    assert book.resend_lost_chunks(send_chunk, stalled_after=60, queue_length=lambda: 0, now=progress_at + 62) == 0
    assert resent == ids[3:]
