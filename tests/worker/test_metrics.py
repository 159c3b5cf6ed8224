"""worker/metrics.py (`make metrics`): the run-level Prometheus figures, scraped over HTTP from
the exporter process while a run is in progress and after it finished (real Redis, S3, worker)."""
from __future__ import annotations

import subprocess
import sys
import urllib.request

import pytest

from scripts import demo_inputs
from worker.local_stack import REPO, free_port, wait_until

pytestmark = pytest.mark.slow


def _scrape(url: str) -> dict[str, float]:
    """'name{labels}' → value, as Prometheus reads the page."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(url, timeout=10) as r:
        text = r.read().decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            out[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return out


@pytest.fixture
def exporter(stack):
    port = free_port()
    env = {**stack.env, "TRYON_QUEUE": "metrics-depth-test"}
    proc = subprocess.Popen([sys.executable, "-m", "worker.metrics", "--port", str(port)], env=env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        wait_until(lambda: urllib.request.urlopen(url, timeout=2).status == 200, 60, "metrics exporter")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def test_the_exporter_shows_a_run_while_it_runs_and_when_it_is_done(exporter, worker_proc, storage_for, bucket,
                                                                     redis_client, batch_settings, celery_client):
    from producer.enqueue import start_run
    from worker.runs import RunBook, wait_for

    st = storage_for(bucket)
    st.put("customers/astronaut.jpg", demo_inputs.encode(demo_inputs.customers()["astronaut"]), "image/jpeg")
    st.put("customers/broken.jpg", b"\xff\xd8 broken" * 20, "image/jpeg")  # fails its pairs, with a reason
    for name, image in list(demo_inputs.garments().items())[:2]:
        st.put(f"catalogue/{name}.png", demo_inputs.encode(image, ".png"), "image/png")
    held = []
    run = start_run(st, redis_client, batch_settings(bucket), held.append)  # planned, not yet sent
    rid = run["run_id"]
    for _ in range(3):  # messages waiting in the exporter's queue (no worker consumes it)
        celery_client.send_task("tryon.sweep_runs", queue="metrics-depth-test")
    try:
        during = _scrape(exporter)
        assert during[f'tryon_run_info{{bucket="{bucket}",run="{rid}",state="running"}}'] == 1
        assert during[f'tryon_run_chunks{{bucket="{bucket}",run="{rid}",status="total"}}'] == 2
        assert during[f'tryon_run_pairs{{bucket="{bucket}",run="{rid}",status="to_render"}}'] == 4
        assert during["tryon_runs_active"] >= 1
        assert during['tryon_queue_depth{queue="metrics-depth-test"}'] == 3

        for call in held:
            celery_client.send_task(call.task, kwargs=call.kwargs, queue="tryon", ignore_result=True)
        wait_for(RunBook(redis_client, rid), timeout=240)
        after = _scrape(exporter)
    finally:
        redis_client.delete("metrics-depth-test")
    assert after[f'tryon_run_info{{bucket="{bucket}",run="{rid}",state="finished"}}'] == 1
    rendered = after[f'tryon_run_pairs{{bucket="{bucket}",run="{rid}",status="rendered"}}']
    failed = after[f'tryon_run_pairs{{bucket="{bucket}",run="{rid}",status="failed"}}']
    assert (rendered, failed) == (2, 2)
    review = after[f'tryon_run_pairs{{bucket="{bucket}",run="{rid}",status="needs_review"}}']
    assert 0 <= review <= rendered
    assert after[f'tryon_run_stage_seconds{{bucket="{bucket}",run="{rid}",stage="warp"}}'] > 0
    assert after["tryon_pairs_rendered"] >= 2 and after["tryon_pairs_failed"] >= 2
    assert after[f'tryon_run_chunks{{bucket="{bucket}",run="{rid}",status="done"}}'] == 2
