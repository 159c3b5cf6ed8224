"""The commands docker-compose.yml and the Dockerfile run, run here (no engine needed): the
worker command as `docker compose config` renders it consumes its queue and answers the
Dockerfile's HEALTHCHECK (which fails once the worker is gone); the beat command starts.
The flower command serves with compose's FLOWER_* environment and refuses requests without
its basic auth. `celery` is this Python's (`python -m celery`), the servers are the test stack's."""
from __future__ import annotations

import base64
import json
import re
import socket
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from tests.support.compose import CLEAN_ENV, compose
from worker.local_stack import REPO, Process, free_port, wait_until

pytestmark = pytest.mark.slow

QUEUE = "compose-commands"  # a queue of its own: the session's other worker must not take the task


def _python_celery(argv: list[str]) -> list[str]:
    assert argv[0] == "celery", argv
    return [sys.executable, "-m", "celery", *argv[1:]]


def _dockerfile_healthcheck() -> list[str]:
    text = (REPO / "Dockerfile").read_text()
    match = re.search(r"^HEALTHCHECK [^\n]*\\\n\s*CMD (\[.+\])$", text, re.M)
    assert match, "no HEALTHCHECK ... CMD [...] in the Dockerfile"
    argv = json.loads(match.group(1))
    assert argv[:2] == ["/bin/sh", "-c"] and argv[2].startswith("celery "), argv
    return [*argv[:2], f"{sys.executable} -m {argv[2]}"]


def _healthcheck(argv: list[str], env: dict) -> int:
    # In a container $HOSTNAME is the hostname the worker's "%h" expands to.
    return subprocess.run(argv, env={**env, "HOSTNAME": socket.gethostname()}, capture_output=True,
                          timeout=60).returncode


def test_compose_worker_command_consumes_its_queue_and_answers_the_healthcheck(stack, celery_client, tmp_path):
    rendered = compose("config", "--format", "json",
                       env={**CLEAN_ENV, "TRYON_QUEUE": QUEUE, "WORKER_CONCURRENCY": "1"})
    assert rendered.returncode == 0, rendered.stderr
    argv = json.loads(rendered.stdout)["services"]["worker"]["command"]
    assert argv[argv.index("-Q") + 1] == QUEUE and "--concurrency=1" in argv and "--prefetch-multiplier=1" in argv
    env = {**stack.env, "TRYON_QUEUE": QUEUE}
    healthcheck = _dockerfile_healthcheck()

    worker = Process("compose worker", _python_celery(argv), tmp_path / "worker.log", env=env, cwd=REPO)
    try:
        wait_until(lambda: " ready." in worker.log_tail(200_000), 180, "compose worker", worker)
        assert _healthcheck(healthcheck, env) == 0, worker.log_tail()

        result = celery_client.send_task("tryon.finalize_run", kwargs={"run": "no-such-run"}, queue=QUEUE)
        assert result.get(timeout=120) is False  # answered, by the only worker on that queue
    finally:
        worker.stop()
    assert _healthcheck(healthcheck, env) != 0  # nobody answers the ping: unhealthy


def test_compose_beat_command_starts(stack, tmp_path):
    rendered = compose("config", "--format", "json", env={**CLEAN_ENV, "TRYON_NIGHTLY_AT": "03:30"})
    service = json.loads(rendered.stdout)["services"]["beat"]
    assert service["environment"]["TRYON_NIGHTLY_AT"] == "03:30"
    argv = _python_celery(service["command"])
    schedule = tmp_path / "celerybeat-schedule"  # not the container's /tmp path: this host is shared
    argv[argv.index("--schedule") + 1] = str(schedule)
    beat = Process("compose beat", argv, tmp_path / "beat.log",
                   env={**stack.env, "TRYON_NIGHTLY_AT": "03:30"}, cwd=REPO)
    try:
        wait_until(lambda: "beat: Starting" in beat.log_tail(), 60, "compose beat", beat)
        wait_until(lambda: list(tmp_path.glob("celerybeat-schedule*")), 30, "beat schedule file", beat)
    finally:
        beat.stop()


def test_compose_flower_command_serves_with_its_environment(stack, tmp_path):
    service = json.loads(compose("config", "--format", "json", env=CLEAN_ENV).stdout)["services"]["flower"]
    flower_env = {k: v for k, v in service["environment"].items() if k.startswith("FLOWER_")}
    # Flower reads FLOWER_<option> and silently ignores other names: a misspelt
    # FLOWER_BASIC_AUTH would leave the dashboard open.
    from flower.options import default_options
    assert {k.removeprefix("FLOWER_").lower() for k in flower_env} <= set(default_options), flower_env
    assert flower_env["FLOWER_BASIC_AUTH"] == CLEAN_ENV["FLOWER_BASIC_AUTH"]
    argv = _python_celery(service["command"])
    port = free_port()  # the container's 5555 on all interfaces becomes a free port on 127.0.0.1 here
    argv = [f"--port={port}" if a.startswith("--port=") else "--address=127.0.0.1" if a.startswith("--address=")
            else a for a in argv]
    flower = Process("compose flower", argv, tmp_path / "flower.log", env={**stack.env, **flower_env}, cwd=REPO)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: urllib.request.urlopen(url + "/healthcheck", timeout=2).status == 200, 60,
                   "compose flower", flower)
        with pytest.raises(urllib.error.HTTPError) as denied:
            urllib.request.urlopen(url + "/api/workers", timeout=10)
        assert denied.value.code == 401
        request = urllib.request.Request(url + "/api/workers")
        request.add_header("Authorization", "Basic " + base64.b64encode(CLEAN_ENV["FLOWER_BASIC_AUTH"].encode()).decode())
        assert urllib.request.urlopen(request, timeout=30).status == 200
    finally:
        flower.stop()
