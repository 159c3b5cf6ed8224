"""producer/enqueue.py against real S3 and Redis, no worker: a run is locked, recorded and
sent chunk by chunk; a second run on the bucket is refused while the first is active."""
from __future__ import annotations

import json

import pytest

from producer.enqueue import RunActiveError, start_run
from worker.plan import Plan
from worker.runs import RunBook


def test_start_run_records_the_plan_then_sends_one_message_per_chunk(storage_for, bucket, batch_settings,
                                                                      redis_client):
    st = storage_for(bucket)
    for c in ("alice", "bob"):
        st.put(f"customers/{c}.jpg", b"p", "image/jpeg")
    for g in range(3):
        st.put(f"catalogue/g{g}.png", b"g", "image/png")
    sent = []
    s = batch_settings(bucket, chunk_size=2)
    run = start_run(st, redis_client, s, sent.append, chain="v1")
    assert {k: run[k] for k in ("customers", "garments", "to_render", "skipped", "invalid", "chunks")} == \
        {"customers": 2, "garments": 3, "to_render": 6, "skipped": 0, "invalid": 0, "chunks": 4}
    assert [c.kwargs["chunk"] for c in sent] == ["c0:0-2", "c0:2-3", "c1:0-2", "c1:2-3"]

    plan_json = st.get_json(f"runs/{run['run_id']}/plan.json")
    book = RunBook(redis_client, run["run_id"])
    assert Plan.from_json(plan_json) == book.plan()
    assert json.loads(redis_client.get(f"tryon:run:{run['run_id']}:plan")) == plan_json
    assert sorted(book.unrecorded_chunks()) == sorted(c.kwargs["chunk"] for c in sent)
    status = book.status()
    assert (status["state"], status["chunks_total"], status["pairs_to_render"], status["pairs_planned"]) == \
        ("running", 4, 6, 6)
    assert redis_client.get(f"tryon:active-run:{bucket}").decode() == run["run_id"]

    with pytest.raises(RunActiveError, match=run["run_id"]):
        start_run(st, redis_client, s, sent.append, chain="v1")


def test_a_run_that_fails_while_enqueuing_is_aborted_and_frees_the_bucket(storage_for, bucket, batch_settings,
                                                                          redis_client):
    st = storage_for(bucket)
    st.put("customers/alice.jpg", b"p", "image/jpeg")
    st.put("catalogue/g.png", b"g", "image/png")

    def broken_send(call):
        raise ConnectionError("broker down")

    with pytest.raises(ConnectionError):
        start_run(st, redis_client, batch_settings(bucket), broken_send, chain="v1", run_id=f"{bucket}-1")
    assert RunBook(redis_client, f"{bucket}-1").state() == "aborted"
    assert redis_client.get(f"tryon:active-run:{bucket}") is None


def test_producers_started_together_start_one_run(storage_for, bucket, batch_settings, stack):
    import threading

    import redis

    st = storage_for(bucket)
    st.put("customers/alice.jpg", b"p", "image/jpeg")
    st.put("catalogue/g.png", b"g", "image/png")
    n = 4
    barrier = threading.Barrier(n)
    started, refused, sent = [], [], []

    def producer():
        client = redis.Redis.from_url(stack.redis_url)
        barrier.wait()
        try:
            started.append(start_run(storage_for(bucket), client, batch_settings(bucket), sent.append,
                                     chain="v1")["run_id"])
        except RunActiveError as e:
            refused.append(str(e))

    threads = [threading.Thread(target=producer) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(started) == 1 and len(refused) == n - 1
    assert all(started[0] in r for r in refused)
    assert [c.kwargs["run"] for c in sent] == started  # one run's one chunk, sent once
