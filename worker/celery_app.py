"""The one Celery app: Redis broker + result backend, JSON only, one task at a time per
process, acknowledged only after the work is done.

    celery -A worker.celery_app worker -Q tryon --concurrency=2
    celery -A worker.celery_app beat
    celery -A worker.celery_app flower
"""
from __future__ import annotations

from celery import Celery
from celery.schedules import crontab

from worker.config import nightly_time, settings

_s = settings()

# The task modules, by name (no import: the worker package does not depend on the producer).
# producer.tasks holds the nightly run, which plans like `python -m producer`; worker.export_tasks
# the bucket export (`make prepare BUCKET=…`).
app = Celery("tryon", broker=_s.broker_url, backend=_s.result_backend,
             include=["worker.tasks", "worker.export_tasks", "producer.tasks"])
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    result_accept_content=["json"],
    task_default_queue=_s.queue,
    task_routes={"tryon.*": {"queue": _s.queue}},
    # A message is acknowledged after its task finished; a worker killed mid-task (OOM, node
    # lost) leaves it to be delivered again, which is safe: composites are fingerprinted.
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_soft_time_limit=_s.task_soft_time_limit,
    task_time_limit=_s.task_time_limit,
    # Redis re-delivers an unacknowledged message after the visibility timeout: longer than
    # any task may run, or a slow chunk would be handed to a second worker while still running.
    # unacked_restore_throttle 1: look for a dead worker's messages every 10 s (kombu's default
    # scans every 10th tick, i.e. up to 100 s after the visibility timeout has passed).
    broker_transport_options={"visibility_timeout": _s.task_time_limit * 3, "unacked_restore_throttle": 1},
    broker_connection_retry_on_startup=True,
    # A task that retries publishes a new message; if the broker is restarting, Celery's default
    # policy gives up after ~0.6 s and then rejects the message without requeue, losing the chunk
    # (found by chaos/ redis_restarted). Ride out a restart of up to ~45 s instead.
    task_publish_retry_policy={"max_retries": 30, "interval_start": 0.5, "interval_step": 0.5,
                               "interval_max": 2},
    result_expires=24 * 3600,
    task_track_started=True,
    # Flower reads task events (from the workers). No "sent" event from the producer: it
    # would double the cost of enqueuing (one extra Redis round trip per message).
    worker_send_task_events=True,
    task_send_sent_event=False,
    # Models take memory: recycle a process that grew, rather than let one swap.
    worker_max_memory_per_child=3_000_000,  # KiB
    timezone="UTC",
    enable_utc=True,
)

# Beat: the lost-message sweep always; the nightly run unless TRYON_NIGHTLY_AT=off.
app.conf.beat_schedule = {
    "sweep-runs": {"task": "tryon.sweep_runs", "schedule": 60.0, "options": {"queue": _s.queue, "expires": 60}},
}
_nightly = nightly_time(_s.nightly_at)
if _nightly is not None:
    app.conf.beat_schedule["nightly-run"] = {
        "task": "tryon.nightly",
        "schedule": crontab(hour=_nightly[0], minute=_nightly[1]),
        "options": {"queue": _s.queue, "expires": 6 * 3600},
    }
