"""What a worker process keeps between tasks: its settings, S3 and Redis clients, the person
cache and the plans of recent runs. Made after the fork (sockets must not be shared across
processes): `current()` in a task, `reset()` from the worker_process_init signal."""
from __future__ import annotations

from collections import OrderedDict

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.retry import Retry

from worker.config import Settings, settings
from worker.person_cache import PersonCache
from worker.plan import Plan
from worker.runs import RunBook
from worker.storage import RetryCounter, Storage, make_client

_PLANS_KEPT = 4  # plans of finished runs are not needed any more


class WorkerContext:
    def __init__(self, s: Settings | None = None):
        self.settings = s or settings()
        self.s3 = make_client(self.settings)
        self.s3_retries = RetryCounter(self.s3)
        # Retry commands through a Redis restart (~45 s) instead of failing the chunk: the
        # fallback, a Celery retry, needs the broker too (see task_publish_retry_policy).
        self.redis = redis.Redis.from_url(
            self.settings.redis_url, health_check_interval=30,
            retry=Retry(ExponentialWithJitterBackoff(base=0.25, cap=4), retries=15),
            retry_on_error=[redis.exceptions.ConnectionError, redis.exceptions.TimeoutError])
        self.cache = PersonCache(self.redis, ttl=self.settings.person_cache_ttl)
        self._plans: OrderedDict[str, Plan] = OrderedDict()
        self._chain_version: str | None = None

    @property
    def chain_version(self) -> str:
        """The chain this process runs (composites are stamped with it)."""
        if self._chain_version is None:
            from models.chain import chain_version
            self._chain_version = chain_version()
        return self._chain_version

    def run_book(self, run_id: str) -> RunBook:
        return RunBook(self.redis, run_id, ttl=self.settings.run_ttl)

    def plan(self, run_id: str) -> Plan | None:
        """The run's plan (read from Redis once per process), None if unknown or expired."""
        if run_id not in self._plans:
            plan = self.run_book(run_id).plan()
            if plan is None:
                return None
            self._plans[run_id] = plan
            while len(self._plans) > _PLANS_KEPT:
                self._plans.popitem(last=False)
        return self._plans[run_id]

    def storage(self, plan: Plan | None = None) -> Storage:
        # The bucket is the run's (make enqueue BUCKET=...), not necessarily this worker's default.
        return Storage(self.s3, plan.bucket if plan else self.settings.bucket)


_current: WorkerContext | None = None


def current() -> WorkerContext:
    global _current
    if _current is None:
        _current = WorkerContext()
    return _current


def reset() -> WorkerContext:
    """A fresh context (in a newly forked worker process)."""
    global _current
    _current = WorkerContext()
    return _current
