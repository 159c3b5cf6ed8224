"""Flower as docker-compose runs it: with basic auth (FLOWER_BASIC_AUTH), never open.

Without credentials (or with wrong ones) the dashboard and the API answer 401; with them the
API lists the worker and a real task, and the tasks page renders in headless Chromium with the
credentials in the URL. (tests/e2e/test_flower.py covers the open local mode and a full run.)
"""
from __future__ import annotations

import base64
import json
import secrets
import time
import urllib.error
import urllib.request
import uuid

import cv2
import numpy as np
import pytest

pytestmark = pytest.mark.slow

USER = "ops"


def _get(url: str, auth: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url)
    if auth is not None:
        request.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@pytest.fixture(scope="module")
def flower_auth(stack, worker_proc, celery_client):
    password = secrets.token_urlsafe(12)  # URL-safe: it goes into the browser's URL below
    auth = f"{USER}:{password}"
    _, url = stack.start_flower(basic_auth=auth)  # returns once Flower hears the worker's events
    # One cheap real task through the real broker: finalizing a run nobody started returns
    # False without touching S3.
    run = f"flower-auth-{uuid.uuid4().hex[:8]}"
    result = celery_client.send_task("tryon.finalize_run", kwargs={"run": run},
                                     queue=stack.env.get("TRYON_QUEUE", "tryon"))
    assert result.get(timeout=120) is False
    return {"url": url, "auth": auth, "run": run, "task_id": result.id}


def test_flower_refuses_requests_without_valid_credentials(flower_auth):
    url = flower_auth["url"]
    for path in ("/", "/tasks", "/api/workers", "/api/tasks"):
        assert _get(url + path)[0] == 401, path
        assert _get(url + path, auth=f"{USER}:wrong-password")[0] == 401, path
    # The liveness probe (compose healthcheck) stays open.
    assert _get(url + "/healthcheck") == (200, b"OK")


def test_flower_api_with_credentials_lists_the_worker_and_the_task(flower_auth):
    url, auth = flower_auth["url"], flower_auth["auth"]
    status, body = _get(url + "/api/workers?refresh=1", auth=auth)
    assert status == 200
    assert any(name.startswith("w1@") for name in json.loads(body)), body[:300]

    deadline = time.monotonic() + 60  # events reach Flower asynchronously
    while True:
        tasks = json.loads(_get(url + "/api/tasks", auth=auth)[1])
        task = tasks.get(flower_auth["task_id"])
        if (task and task.get("state") == "SUCCESS") or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert task is not None, f"task {flower_auth['task_id']} not in Flower's list: {list(tasks)[:10]}"
    assert task["name"] == "tryon.finalize_run"
    assert task["kwargs"] == f"{{'run': '{flower_auth['run']}'}}"
    assert task["state"] == "SUCCESS" and task["result"] == "False"


def test_flower_tasks_page_renders_with_credentials_in_headless_chromium(flower_auth, chromium, tmp_path):
    host = flower_auth["url"].removeprefix("http://")
    with_auth = f"http://{flower_auth['auth']}@{host}/tasks"

    png = tmp_path / "flower-tasks-auth.png"
    chromium(f"--screenshot={png}", url=with_auth)
    image = cv2.imread(str(png))
    assert image is not None and image.shape[:2] == (900, 1400), f"no screenshot at {png}"
    # Non-blank: real contrast and many colours (Flower's "Access denied" page has neither).
    assert float(image.std()) > 10
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 50

    # The table is filled by JavaScript from the API, which must accept the browser's credentials too.
    assert "tryon.finalize_run" in chromium("--dump-dom", url=with_auth).stdout
    # Without credentials (fresh profile: none remembered) the browser gets no page at all
    # (headless Chromium cannot show the 401's login prompt: an empty document).
    denied = chromium("--dump-dom", url=flower_auth["url"] + "/tasks", profile="no-auth").stdout
    assert "tryon.finalize_run" not in denied and "Flower" not in denied
