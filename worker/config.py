"""Every setting of the batch system, read from the environment in one place.

`settings()` reads the environment each time it is called (tests and the demo start
workers with their own environment); the Celery app reads it once at import.
The table in the README lists the same variables.
"""
from __future__ import annotations

import os
import dataclasses
from dataclasses import dataclass


def _env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return default if value is None or value == "" else value


def _switch(value: str, name: str) -> bool:
    """'on'/'off' (also true/false, yes/no, 1/0) → bool; anything else is refused."""
    v = value.strip().lower()
    if v in ("on", "true", "yes", "1"):
        return True
    if v in ("off", "false", "no", "0"):
        return False
    raise ValueError(f"{name}={value!r}: expected on or off")


def _prefix(name: str, default: str) -> str:
    # Prefixes are folder-like: always end with exactly one "/" so "customers" == "customers/".
    return _env(name, default).strip("/") + "/"


@dataclass(frozen=True)
class Settings:
    # Redis: broker, result backend, and the store for the person cache, locks and run books.
    broker_url: str
    result_backend: str
    redis_url: str
    # S3 (the endpoint and credentials also follow boto3's own AWS_* variables).
    bucket: str
    s3_endpoint_url: str | None
    s3_region: str
    s3_access_key: str | None  # None: boto3's own chain (env, ~/.aws, instance role)
    s3_secret_key: str | None
    s3_max_attempts: int
    s3_retry_mode: str
    customers_prefix: str
    catalogue_prefix: str
    output_prefix: str
    runs_prefix: str
    # Work split and limits.
    queue: str
    chunk_size: int        # garments per task message
    render_batch: int      # garments per models.chain.render call
    max_input_bytes: int   # larger objects are reported, not downloaded
    jpeg_quality: int
    task_soft_time_limit: int
    task_time_limit: int
    person_cache_ttl: int  # seconds a prepared Person stays in Redis
    run_ttl: int           # seconds run bookkeeping stays in Redis
    run_lock_ttl: int      # an active-run lock older than this is presumed dead
    report_max_pairs: int  # report.json lists every pair up to this many (failures always)
    nightly_at: str        # "HH:MM" (UTC) for the Celery beat schedule; "" or "off" disables it
    run_stalled_after: int  # exports (no heartbeats): seconds without progress and an empty queue before lost items are resent
    run_lost_after: int    # render runs: nothing in flight, an empty queue and no progress this long → unrecorded chunks resent
    heartbeat_ttl: int     # a running chunk's heartbeat expires this long after its worker last renewed it
    producer_stalled_after: int  # a run still planning/enqueuing with no progress this long is aborted by the sweep
    finalize_retries: int  # retries of writing a run's report before the run ends `failed`
    prune: bool            # a run deletes composites whose garment or customer no longer exists (producer/prune.py)

    def with_inputs(self, bucket: str | None = None, customers: str | None = None,
                    catalogue: str | None = None) -> "Settings":
        """These settings with a command line's bucket and input prefixes where given (prefixes
        folder-like, as the environment's)."""
        given = {"bucket": bucket, "customers_prefix": customers and customers.strip("/") + "/",
                 "catalogue_prefix": catalogue and catalogue.strip("/") + "/"}
        return dataclasses.replace(self, **{k: v for k, v in given.items() if v})


def settings() -> Settings:
    broker = _env("TRYON_BROKER_URL", "redis://127.0.0.1:6379/0")
    task_time_limit = int(_env("TRYON_TASK_TIME_LIMIT", "1200"))
    return Settings(
        broker_url=broker,
        result_backend=_env("TRYON_RESULT_BACKEND", broker),
        redis_url=_env("TRYON_REDIS_URL", broker),
        bucket=_env("TRYON_BUCKET", "tryon"),
        s3_endpoint_url=os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None,
        s3_region=_env("AWS_DEFAULT_REGION", "us-east-1"),
        s3_access_key=os.environ.get("AWS_ACCESS_KEY_ID") or None,
        s3_secret_key=os.environ.get("AWS_SECRET_ACCESS_KEY") or None,
        s3_max_attempts=int(_env("TRYON_S3_MAX_ATTEMPTS", "5")),
        s3_retry_mode=_env("TRYON_S3_RETRY_MODE", "standard"),
        customers_prefix=_prefix("TRYON_CUSTOMERS_PREFIX", "customers/"),
        catalogue_prefix=_prefix("TRYON_CATALOGUE_PREFIX", "catalogue/"),
        output_prefix=_prefix("TRYON_OUTPUT_PREFIX", "tryon/"),
        runs_prefix=_prefix("TRYON_RUNS_PREFIX", "runs/"),
        queue=_env("TRYON_QUEUE", "tryon"),
        chunk_size=int(_env("TRYON_CHUNK_SIZE", "32")),
        render_batch=int(_env("TRYON_RENDER_BATCH", "8")),
        # One per process: Celery runs a process per core, and OpenCV and onnxruntime would each
        # start a thread per core in every process (`make bench`: 2 processes × 2 threads rendered
        # the seed chain ~45% slower than 2 × 1 on 2 cores).
        max_input_bytes=int(_env("TRYON_MAX_INPUT_BYTES", str(40 * 1024 * 1024))),
        jpeg_quality=int(_env("TRYON_JPEG_QUALITY", "92")),
        task_soft_time_limit=int(_env("TRYON_TASK_SOFT_TIME_LIMIT", "900")),
        task_time_limit=task_time_limit,
        person_cache_ttl=int(_env("TRYON_PERSON_CACHE_TTL", str(7 * 24 * 3600))),
        run_ttl=int(_env("TRYON_RUN_TTL", str(14 * 24 * 3600))),
        run_lock_ttl=int(_env("TRYON_RUN_LOCK_TTL", str(20 * 3600))),
        report_max_pairs=int(_env("TRYON_REPORT_MAX_PAIRS", "20000")),
        nightly_at=_env("TRYON_NIGHTLY_AT", "02:00"),
        # Exports: longer than a message can stay unacknowledged: the visibility timeout (3 × the
        # hard limit, worker/celery_app.py), plus one execution, plus kombu's restore scan.
        run_stalled_after=int(_env("TRYON_RUN_STALLED_AFTER", str(4 * task_time_limit + 30))),
        # Render runs: only when no chunk is in flight (running chunks carry heartbeats); longer
        # than a retrying chunk waits between attempts (backoff up to 300 s, worker/tasks.py).
        run_lost_after=int(_env("TRYON_RUN_LOST_AFTER", "600")),
        heartbeat_ttl=int(_env("TRYON_HEARTBEAT_TTL", "60")),
        producer_stalled_after=int(_env("TRYON_PRODUCER_STALLED_AFTER", "1800")),
        finalize_retries=int(_env("TRYON_FINALIZE_RETRIES", "8")),
        prune=_switch(_env("TRYON_PRUNE", "on"), "TRYON_PRUNE"),
    )


def nightly_time(value: str) -> tuple[int, int] | None:
    """"HH:MM" → (hour, minute); "", "off" → None. Raises ValueError on anything else."""
    if value.strip().lower() in ("", "off", "none", "disabled"):
        return None
    hour, _, minute = value.strip().partition(":")
    h, m = int(hour), int(minute or 0)
    if not (0 <= h < 24 and 0 <= m < 60):
        raise ValueError(f"TRYON_NIGHTLY_AT={value!r}: expected HH:MM (00:00-23:59) or 'off'")
    return h, m
