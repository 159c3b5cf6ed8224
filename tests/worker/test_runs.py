"""worker/runs.py against real Redis (and S3 for the report): run bookkeeping, the bucket's
lock, and resending chunks the broker lost. The Redis key names are spelled out here on
purpose: deployed runs and operators' tools use them."""
from __future__ import annotations

import dataclasses

import pytest
import redis

from worker.plan import Chunk, InputObject, Plan, Prefixes
from worker.runs import BucketLock, RunBook, new_run_id


def _plan(run_id: str, bucket: str) -> Plan:
    return Plan(run_id=run_id, bucket=bucket, chain="v", force=False, created="now",
                prefixes=Prefixes("customers/", "catalogue/", "tryon/", "runs/"),
                customers=[InputObject("customers/a.jpg", "e", 1)],
                garments=[InputObject("catalogue/g.jpg", "e", 1), InputObject("catalogue/h.jpg", "e", 1)])


def test_run_ids_are_sortable_and_unique():
    a, b = new_run_id(), new_run_id()
    assert a != b and len(a) == len("2026-11-23T02:00-ab12") and a[10] == "T"


def test_run_book_keys():
    book = RunBook(redis.Redis(), "r1")  # no command sent: only the key names
    assert book.key == "tryon:run:r1"
    assert [book.plan_key, book.chunks_key, book.finalized_key, book.sent_key, book.resending_key,
            book.executions_key] == [f"tryon:run:r1:{k}" for k in
                                     ("plan", "chunks", "finalized", "sent", "resending", "executions")]
    assert BucketLock(redis.Redis(), "shop").key == "tryon:active-run:shop"


def test_run_book_counts_each_chunk_once_and_writes_the_report_once(storage_for, bucket, redis_client):
    st = storage_for(bucket)
    run_id = new_run_id()
    book = RunBook(redis_client, run_id, ttl=600)
    plan = _plan(run_id, bucket)
    book.create(plan, {"pairs_planned": 2, "invalid_inputs": 0})
    assert book.plan() == plan and redis_client.ttl(f"tryon:run:{run_id}:plan") > 0
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
    assert book.status()["state"] == "finished" and book.state() == "finished"


def test_a_chunks_executions_are_counted(redis_client):
    book = RunBook(redis_client, new_run_id(), ttl=60)
    assert [book.count_execution("c0:0-1") for _ in range(3)] == [1, 2, 3]
    assert book.count_execution("c1:0-1") == 1
    assert redis_client.ttl(f"tryon:run:{book.run_id}:executions") > 0


def test_overlapping_runs_are_refused_until_the_active_one_finishes(redis_client):
    bucket = f"overlap-{new_run_id()}"
    first, second = new_run_id(), new_run_id()
    RunBook(redis_client, first, ttl=60).create(_plan(first, bucket), {})
    lock = BucketLock(redis_client, bucket)
    assert lock.acquire(first, ttl=60) is None
    assert lock.acquire(second, ttl=60) == first
    assert first in set(BucketLock.active_runs(redis_client))
    redis_client.hset(f"tryon:run:{first}", "state", "finished")  # left its lock behind
    assert lock.acquire(second, ttl=60) is None
    assert redis_client.get(f"tryon:active-run:{bucket}") == second.encode()
    lock.release(first)  # not the holder: nothing happens
    assert lock.holder() == second
    lock.release(second)
    assert lock.holder() is None


def test_lost_chunks_are_resent_only_when_the_run_stalled_with_an_empty_queue(redis_client):
    run_id = new_run_id()
    book = RunBook(redis_client, run_id, ttl=600)
    plan = _plan(run_id, "b")
    plan = dataclasses.replace(plan, customers=[InputObject(f"customers/{i}.jpg", "e", 1) for i in range(5)])
    book.create(plan, {})
    ids = [Chunk(ci, [[0, 2]]).id for ci in range(5)]
    book.mark_sent(ids)
    book.set_enqueued(chunks_total=5, pairs_to_render=10)
    for c in ids[:3]:
        book.record_chunk(c, int(c[1]), [{"garment": 0, "status": "rendered"}, {"garment": 1, "status": "rendered"}])
    assert book.unrecorded_chunks() == ids[3:]
    progress_at = float(book.status()["progress_at"])

    resent = []

    # Still within the stall period: the missing chunks may be queued or running.
    assert book.resend_lost_chunks(resent.append, stalled_after=60, queue_length=lambda: 0, now=progress_at + 30) == 0
    # Stalled, but messages are waiting in the queue (e.g. every worker is down): nothing lost.
    assert book.resend_lost_chunks(resent.append, stalled_after=60, queue_length=lambda: 7, now=progress_at + 61) == 0
    assert resent == []
    # Stalled with an empty queue: exactly the unrecorded chunks, once, as the producer sent them.
    assert book.resend_lost_chunks(resent.append, stalled_after=60, queue_length=lambda: 0, now=progress_at + 61) == 2
    assert [call.kwargs["chunk"] for call in resent] == ids[3:] and book.status()["chunks_resent"] == 2
    assert resent[0] == plan.task_call(Chunk(3, [[0, 2]]))
    assert book.resend_lost_chunks(resent.append, stalled_after=60, queue_length=lambda: 0, now=progress_at + 62) == 0
    assert len(resent) == 2


@pytest.mark.parametrize("state", ["enqueuing", "finished", "aborted"])
def test_only_running_runs_are_resent(redis_client, state):
    book = RunBook(redis_client, new_run_id(), ttl=60)
    book.create(_plan(book.run_id, "b"), {})
    book.mark_sent(["c0:0-2"])
    book.set_enqueued(chunks_total=1, pairs_to_render=2)
    book.set_state(state)
    assert book.resend_lost_chunks(lambda call: None, stalled_after=0, queue_length=lambda: 0,
                                   now=10**10) == 0


def test_racing_lockers_take_the_bucket_once_and_the_record_exists_with_the_lock(stack):
    import threading

    bucket = f"race-{new_run_id()}"
    ids = [new_run_id() for _ in range(12)]
    barrier = threading.Barrier(len(ids))
    results = {}

    def take(run_id):
        client = redis.Redis.from_url(stack.redis_url)  # one connection each, as separate producers
        barrier.wait()
        results[run_id] = BucketLock(client, bucket).acquire(run_id, ttl=60, record_ttl=60)

    threads = [threading.Thread(target=take, args=(r,)) for r in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [r for r, holder in results.items() if holder is None]
    assert len(winners) == 1
    assert {holder for holder in results.values() if holder is not None} == set(winners)
    client = redis.Redis.from_url(stack.redis_url)
    assert client.hget(f"tryon:run:{winners[0]}", "state") == b"planning"  # made with the lock
    assert 0 < client.ttl(f"tryon:run:{winners[0]}") <= 60
    # a holder whose record expired is dead: taken over
    client.delete(f"tryon:run:{winners[0]}")
    assert BucketLock(client, bucket).acquire("next", ttl=60) is None


def _running_run(redis_client, n_chunks: int = 3) -> tuple[RunBook, list[str]]:
    run_id = new_run_id()
    book = RunBook(redis_client, run_id, ttl=600)
    plan = dataclasses.replace(_plan(run_id, "b"),
                               customers=[InputObject(f"customers/{i}.jpg", "e", 1) for i in range(n_chunks)])
    book.create(plan, {})
    ids = [Chunk(ci, [[0, 2]]).id for ci in range(n_chunks)]
    book.mark_sent(ids)
    book.set_enqueued(chunks_total=n_chunks, pairs_to_render=2 * n_chunks)
    return book, ids


def test_an_orphaned_chunk_is_resent_once_and_a_running_one_never(redis_client):
    import time

    book, ids = _running_run(redis_client)
    book.start_chunk(ids[0], heartbeat_ttl=30, holder="w1:1")   # its worker beats
    book.start_chunk(ids[1], heartbeat_ttl=30, holder="w2:1")   # its worker is SIGKILLed:
    redis_client.delete(f"tryon:run:{book.run_id}:beat:{ids[1]}")  # the heartbeat expires
    assert set(book.in_flight()) == {ids[0], ids[1]}
    resent = []
    later = time.time() + 31
    # queued messages do not matter for an orphan; the stall rule does not apply (chunks in flight)
    assert book.resend_lost_chunks(resent.append, stalled_after=10**6, queue_length=lambda: 5, now=later, heartbeat_ttl=30) == 1
    assert [c.kwargs["chunk"] for c in resent] == [ids[1]]
    assert book.resend_lost_chunks(resent.append, stalled_after=10**6, queue_length=lambda: 5, now=later, heartbeat_ttl=30) == 0
    assert book.status()["chunks_resent"] == 1 and set(book.in_flight()) == {ids[0]}
    # the resent chunk starts again and is recorded; a recorded chunk is never resent
    book.start_chunk(ids[1], heartbeat_ttl=30, holder="w1:2")
    book.record_chunk(ids[1], 1, [{"garment": 0, "status": "rendered"}, {"garment": 1, "status": "rendered"}])
    book.stop_chunk(ids[1])
    assert book.resend_lost_chunks(resent.append, stalled_after=0, queue_length=lambda: 0, now=later + 100) == 0
    assert len(resent) == 1


def test_lost_chunks_wait_while_any_chunk_of_the_run_is_in_flight(redis_client):
    book, ids = _running_run(redis_client)
    book.start_chunk(ids[0], heartbeat_ttl=30, holder="w1:1")
    progress_at = float(book.status()["progress_at"])
    resent = []
    # stalled, empty queue, but a worker is busy with the run (it may hold the others reserved)
    assert book.resend_lost_chunks(resent.append, stalled_after=5, queue_length=lambda: 0,
                                   now=progress_at + 10) == 0
    book.stop_chunk(ids[0])
    assert book.resend_lost_chunks(resent.append, stalled_after=5, queue_length=lambda: 0,
                                   now=progress_at + 10) == 3
    assert sorted(c.kwargs["chunk"] for c in resent) == sorted(ids)


def test_a_run_that_ends_without_report_frees_its_bucket_and_says_why(redis_client):
    from worker.runs import RunEndedError, wait_for

    bucket = f"ended-{new_run_id()}"
    run_id = new_run_id()
    lock = BucketLock(redis_client, bucket)
    assert lock.acquire(run_id, ttl=600, record_ttl=600) is None
    book = RunBook(redis_client, run_id, ttl=600)
    book.end("failed", "report could not be written: AccessDenied")
    assert lock.holder() is None and book.state() == "failed"
    with pytest.raises(RunEndedError, match="AccessDenied"):
        wait_for(book, timeout=5)
    assert lock.acquire("next", ttl=60) is None  # the next night starts


def test_the_sweep_frees_locks_of_ended_runs_aborts_silent_producers_and_finalizes_complete_runs(redis_client):
    import time

    from worker.config import settings
    from worker.tasks import sweep_run

    s = dataclasses.replace(settings(), producer_stalled_after=60)
    bucket = f"sweep-{new_run_id()}"
    lock = BucketLock(redis_client, bucket)
    # a producer that died while planning: silent for longer than producer_stalled_after
    book = RunBook(redis_client, new_run_id(), ttl=600)
    assert lock.acquire(book.run_id, ttl=600, record_ttl=600) is None
    assert sweep_run(book, bucket, s, now=time.time() + 10) == "planning"
    assert sweep_run(book, bucket, s, now=time.time() + 61) == "aborted: producer silent"
    assert book.state() == "aborted" and "producer stopped while planning" in book.status()["reason"]
    assert lock.holder() is None
    # a lock left by a run whose record expired
    redis_client.set(lock.key, "vanished-run")
    assert sweep_run(RunBook(redis_client, "vanished-run"), bucket, s).startswith("lock released")
    assert lock.holder() is None
    # a complete run whose report was never written
    book2, ids = _running_run(redis_client, n_chunks=1)
    book2.record_chunk(ids[0], 0, [{"garment": 0, "status": "rendered"}, {"garment": 1, "status": "rendered"}])
    finalized = []
    assert sweep_run(book2, bucket, s, finalize=finalized.append) == "finalizing" and finalized == [book2.run_id]
    assert sweep_run(book2, bucket, s, finalize=finalized.append) == "finalizing (under way)"
    assert finalized == [book2.run_id]  # one finalize_run (and its retries) at a time
