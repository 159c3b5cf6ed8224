"""The nightly task (producer/tasks.py; what Celery beat sends at TRYON_NIGHTLY_AT) runs the
producer over the worker's bucket inside a task, and does not start while another run is active."""
from __future__ import annotations

import pytest

from scripts import demo_inputs
from worker.runs import RunBook, wait_for

pytestmark = pytest.mark.slow


def test_nightly_runs_the_producer_and_never_overlaps(stack, worker_proc, redis_client, storage_for, celery_client):
    bucket = stack.bucket  # the worker's default bucket: the nightly run covers the whole of it
    st = storage_for(bucket)
    st.put("customers/nightly.jpg", b"\xff\xd8 not a photo" * 10, "image/jpeg")  # fast whatever the chain
    st.put("catalogue/nightly-tee.png", demo_inputs.encode(demo_inputs.garments()["red-tee"], ".png"), "image/png")

    # Another run is active (not finished): the nightly run is not started.
    redis_client.hset("tryon:run:busy-run", "state", "running")
    redis_client.set(f"tryon:active-run:{bucket}", "busy-run", ex=300)
    skipped = celery_client.send_task("tryon.nightly", queue="tryon").get(timeout=120)
    assert skipped["started"] is False and "busy-run" in skipped["reason"]

    # That run finishes: the next nightly run starts, and its report gets written.
    redis_client.hset("tryon:run:busy-run", "state", "finished")
    started = celery_client.send_task("tryon.nightly", queue="tryon").get(timeout=120)
    assert started["started"] is True and started["to_render"] >= 1
    status = wait_for(RunBook(redis_client, started["run_id"]), timeout=120)
    assert status["state"] == "finished"
    report = st.get_json(f"runs/{started['run_id']}/report.json")
    assert any(f["customer"] == "customers/nightly.jpg" for f in report["failures"])
    assert redis_client.get(f"tryon:active-run:{bucket}") is None  # released when the run finished


def test_nightly_is_registered_with_the_app_under_its_deployed_name():
    """Beat (and deployments' schedules) send 'tryon.nightly': the worker's app must know it,
    from producer/tasks.py, through the app's include list (the worker imports no producer code)."""
    import producer.tasks  # noqa: F401  (what the worker does, through the include list)
    from worker.celery_app import app

    assert "producer.tasks" in app.conf.include
    assert app.tasks["tryon.nightly"].run.__module__ == "producer.tasks"
