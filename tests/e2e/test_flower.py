"""Flower against the real worker: its HTTP API lists the worker and the run's tasks with
readable arguments, and its tasks page renders in headless Chromium (non-blank screenshot)."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.request

import cv2
import numpy as np
import pytest

from scripts import demo_inputs

pytestmark = pytest.mark.slow


def _get_json(url: str):
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read())


@pytest.fixture(scope="module")
def flower_run(stack, worker_proc, s3_client, storage_for):
    flower, url = stack.start_flower()
    bucket = "flower-run"
    s3_client.create_bucket(Bucket=bucket)
    st = storage_for(bucket)
    st.put("customers/alice.jpg", demo_inputs.encode(demo_inputs.customers()["astronaut"]), "image/jpeg")
    # A photo that cannot be decoded: its tasks run (and fail their pairs) whatever the chain.
    st.put("customers/broken.jpg", b"\xff\xd8 broken" * 20, "image/jpeg")
    for name, image in list(demo_inputs.garments().items())[:3]:
        st.put(f"catalogue/{name}.png", demo_inputs.encode(image, ".png"), "image/png")
    out = subprocess.run([sys.executable, "-m", "producer", "--bucket", bucket, "--chunk-size", "2", "--wait",
                          "--timeout", "300"], env=stack.env, capture_output=True, text=True, timeout=400)
    run_id = re.search(r"^run (\S+): ", out.stdout, re.M).group(1)
    return {"url": url, "run": run_id, "producer": out, "flower": flower}


def test_flower_api_lists_the_worker_and_the_runs_tasks(flower_run):
    url, run = flower_run["url"], flower_run["run"]
    workers = _get_json(url + "/api/workers?refresh=1")
    assert any(name.startswith("w1@") for name in workers), workers.keys()

    def run_tasks():
        tasks = _get_json(url + "/api/tasks")
        return [t for t in tasks.values() if t.get("name") == "tryon.render_customer" and run in str(t.get("kwargs"))]

    deadline = time.monotonic() + 60  # events reach Flower asynchronously
    while len(tasks := run_tasks()) < 4 and time.monotonic() < deadline:
        time.sleep(1)
    # 2 customers × 3 garments in chunks of 2 → 4 tasks, each shown with customer key and garment range
    assert len(tasks) == 4, tasks
    shown = sorted(t["kwargs"] for t in tasks)
    assert f"run='{run}', customer='customers/alice.jpg', garments='0-1 of 3'" in shown
    assert f"run='{run}', customer='customers/broken.jpg', garments='2 of 3'" in shown
    assert all(t["state"] == "SUCCESS" for t in tasks), [t["state"] for t in tasks]


def test_flower_tasks_page_renders_in_headless_chromium(flower_run, chromium, tmp_path):
    png = tmp_path / "flower-tasks.png"
    chromium(f"--screenshot={png}", url=flower_run["url"] + "/tasks")
    image = cv2.imread(str(png))
    assert image is not None and image.shape[:2] == (900, 1400), f"no screenshot at {png}"
    # Non-blank: many distinct colours and real contrast (a blank or error page has neither).
    assert float(image.std()) > 10
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 50

    def dom(path: str) -> str:
        return chromium("--dump-dom", url=flower_run["url"] + path).stdout

    # The rows the screenshot shows are this run's tasks (the table is filled by JavaScript).
    assert dom("/tasks").count("tryon.render_customer") >= 4
    tasks = _get_json(flower_run["url"] + "/api/tasks")
    task_id = next(i for i, t in tasks.items() if "customers/alice.jpg" in str(t.get("kwargs")))
    page = dom(f"/task/{task_id}")
    assert "customers/alice.jpg" in page and flower_run["run"] in page


def test_flowers_prometheus_metrics_count_the_runs_tasks(flower_run):
    """Task-level figures for Prometheus come from Flower's /metrics (worker/metrics.py adds
    the run-level ones)."""
    with urllib.request.urlopen(flower_run["url"] + "/metrics", timeout=30) as r:
        text = r.read().decode()
    succeeded = [line for line in text.splitlines() if line.startswith("flower_events_total{")
                 and 'task="tryon.render_customer"' in line and 'type="task-succeeded"' in line]
    assert succeeded and float(succeeded[0].rsplit(" ", 1)[1]) >= 4, succeeded
    assert "flower_task_runtime_seconds" in text
