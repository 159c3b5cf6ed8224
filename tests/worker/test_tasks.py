"""worker/tasks.py: the render task's retry policy, and beat's sweep on the real worker."""
from __future__ import annotations

import botocore.exceptions
import pytest
import redis

from models.contract import BadInputError
from scripts import demo_inputs
from worker.runs import RunBook, wait_for


def test_render_task_retries_transient_errors_with_backoff_and_not_bad_inputs():
    from worker.tasks import render_customer

    assert render_customer.name == "tryon.render_customer"
    assert render_customer.acks_late is not False and render_customer.retry_backoff
    assert botocore.exceptions.EndpointConnectionError in render_customer.autoretry_for
    assert redis.exceptions.ConnectionError in render_customer.autoretry_for
    assert not any(issubclass(BadInputError, e) for e in render_customer.autoretry_for)  # fail once, no retry


def test_each_worker_process_runs_one_compute_thread_unless_tryon_threads_says_otherwise(monkeypatch):
    """Pool processes × library threads must not exceed the cores: one thread each by default,
    set through the chain's settings API (nothing writes os.environ)."""
    import os

    from models import settings
    from worker.tasks import _set_compute_threads

    try:
        monkeypatch.delenv("TRYON_THREADS", raising=False)
        _set_compute_threads()
        assert settings.current().threads == 1 and "TRYON_THREADS" not in os.environ
        settings.configure(threads=None)
        monkeypatch.setenv("TRYON_THREADS", "3")
        _set_compute_threads()
        assert settings.current().threads == 3
    finally:
        settings.configure(threads=None)


def test_a_forked_pool_process_loads_the_chain_after_the_parent_imported_the_tasks():
    """Celery's pool processes are forked from a parent that has imported the tasks (and so
    the chain): an OpenCV call at import time there once started OpenCV's thread pool, and
    every child then hung for good in cv2.setNumThreads (no worker rendered anything)."""
    import subprocess
    import sys

    script = ("import os, sys, worker.tasks as t\n"
              "pid = os.fork()\n"
              "if pid == 0:\n"
              "    t._load_models(); os._exit(0)\n"
              "_, status = os.waitpid(pid, 0)\n"
              "sys.exit(os.waitstatus_to_exitcode(status))\n")
    done = subprocess.run([sys.executable, "-c", script], timeout=120, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.slow
def test_beats_sweep_resends_the_chunks_of_a_stalled_run(stack, worker_proc, s3_client, redis_client, storage_for,
                                                         batch_settings, celery_client):
    """tryon.sweep_runs (beat, every minute) on the real worker: a run whose only message never
    reached the broker has stalled with an empty queue, so the sweep sends that chunk again,
    and the run completes."""
    from producer.enqueue import start_run

    bucket = "sweep-test"
    s3_client.create_bucket(Bucket=bucket)
    st = storage_for(bucket)
    st.put("customers/stalled.jpg", b"\xff\xd8 not a photo" * 10, "image/jpeg")  # fails fast, with a reason
    st.put("catalogue/stalled-tee.png", demo_inputs.encode(demo_inputs.garments()["red-tee"], ".png"), "image/png")
    lost = []
    run = start_run(st, redis_client, batch_settings(bucket), lost.append)
    assert run["chunks"] == 1 and len(lost) == 1  # sent, as far as the producer knows; never queued
    book = RunBook(redis_client, run["run_id"])
    redis_client.hset(f"tryon:run:{run['run_id']}", "progress_at", "0")  # no progress for longer than any stall period

    swept = celery_client.send_task("tryon.sweep_runs", queue="tryon").get(timeout=120)
    assert swept.get(run["run_id"]) == "resent 1", swept
    status = wait_for(book, timeout=120)
    assert status["state"] == "finished" and status["chunks_resent"] == 1
    report = st.get_json(f"runs/{run['run_id']}/report.json")
    assert report["counts"]["failed"] == 1 and report["counts"]["chunks_resent"] == 1
    assert "customers/stalled.jpg" in report["failures"][0]["reason"]
