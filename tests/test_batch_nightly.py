"""The nightly task (what Celery beat sends at TRYON_NIGHTLY_AT) runs the producer over the
worker's bucket inside a task, and does not start while another run is active."""
from __future__ import annotations

import pytest
from celery import Celery

from scripts import demo_inputs
from tests.servers import *  # noqa: F401,F403
from tests.servers import settings_for
from worker.runs import RunBook, wait_for
from worker.storage import Storage, make_client

pytestmark = pytest.mark.slow


def test_nightly_runs_the_producer_and_never_overlaps(stack, worker_proc, redis_client):
    bucket = stack.bucket  # the worker's default bucket: the nightly run covers the whole of it
    st = Storage(make_client(settings_for(stack, bucket)), bucket)
    st.put("customers/nightly.jpg", b"\xff\xd8 not a photo" * 10, "image/jpeg")  # fast whatever the chain
    st.put("catalogue/nightly-tee.png", demo_inputs.encode(demo_inputs.garments()["red-tee"], ".png"), "image/png")
    app = Celery(broker=stack.redis_url, backend=stack.redis_url)
    app.conf.update(task_serializer="json", accept_content=["json"], result_accept_content=["json"])

    # Another run is active (not finished): the nightly run is not started.
    redis_client.hset("tryon:run:busy-run", "state", "running")
    redis_client.set(f"tryon:active-run:{bucket}", "busy-run", ex=300)
    skipped = app.send_task("tryon.nightly", queue="tryon").get(timeout=120)
    assert skipped["started"] is False and "busy-run" in skipped["reason"]

    # That run finishes: the next nightly run starts, and its report gets written.
    redis_client.hset("tryon:run:busy-run", "state", "finished")
    started = app.send_task("tryon.nightly", queue="tryon").get(timeout=120)
    assert started["started"] is True and started["to_render"] >= 1
    status = wait_for(RunBook(redis_client, started["run_id"]), timeout=120)
    assert status["state"] == "finished"
    report = st.get_json(f"runs/{started['run_id']}/report.json")
    assert any(f["customer"] == "customers/nightly.jpg" for f in report["failures"])
    assert redis_client.get(f"tryon:active-run:{bucket}") is None  # released when the run finished


def test_beats_sweep_resends_the_chunks_of_a_stalled_run(stack, worker_proc, s3_client, redis_client):
    """tryon.sweep_runs (beat, every minute) on the real worker: a run whose only message never
    reached the broker has stalled with an empty queue, so the sweep sends that chunk again,
    and the run completes."""
    from producer.plan import start_run

    bucket = "sweep-test"
    s3_client.create_bucket(Bucket=bucket)
    st = Storage(make_client(settings_for(stack, bucket)), bucket)
    st.put("customers/stalled.jpg", b"\xff\xd8 not a photo" * 10, "image/jpeg")  # fails fast, with a reason
    st.put("catalogue/stalled-tee.png", demo_inputs.encode(demo_inputs.garments()["red-tee"], ".png"), "image/png")
    lost = []
    run = start_run(st, redis_client, settings_for(stack, bucket), lost.append, log=lambda *_: None)
    assert run["chunks"] == 1 and len(lost) == 1  # sent, as far as the producer knows; never queued
    book = RunBook(redis_client, run["run_id"])
    redis_client.hset(book.key, "progress_at", "0")  # no progress for longer than any stall period

    app = Celery(broker=stack.redis_url, backend=stack.redis_url)
    app.conf.update(task_serializer="json", accept_content=["json"], result_accept_content=["json"])
    swept = app.send_task("tryon.sweep_runs", queue="tryon").get(timeout=120)
    assert swept.get(run["run_id"]) == 1, swept
    status = wait_for(book, timeout=120)
    assert status["state"] == "finished" and status["chunks_resent"] == 1
    report = st.get_json(f"runs/{run['run_id']}/report.json")
    assert report["counts"]["failed"] == 1 and report["counts"]["chunks_resent"] == 1
    assert "customers/stalled.jpg" in report["failures"][0]["reason"]
