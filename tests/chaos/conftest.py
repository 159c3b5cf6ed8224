"""The chaos stack (chaos.cluster.ChaosStack): its own Redis with an append-only file,
SeaweedFS behind the fault proxy, and Celery workers, for the tests of this folder."""
from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="package")
def chaos_stack(tmp_path_factory):
    from chaos import scenarios
    from chaos.cluster import ChaosStack

    # CI-sized time limits: Redis re-delivers a killed worker's message after 3 × 10 s.
    # snapshot: workers import a frozen copy of the code, so composites of different runs compare.
    with ChaosStack(tmp_path_factory.mktemp("chaos"), snapshot=True, extra_env={
            "TRYON_TASK_SOFT_TIME_LIMIT": "8", "TRYON_TASK_TIME_LIMIT": "10"}) as stack:
        saved = dict(os.environ)
        scenarios.use_stack_env(stack)
        try:
            yield stack
        finally:
            os.environ.clear()
            os.environ.update(saved)
