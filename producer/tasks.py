"""The producer's Celery task: the nightly run (Celery beat sends it at TRYON_NIGHTLY_AT).
Registered with the one app through worker/celery_app.py's `include`, so workers run it.

    tryon.nightly()     the producer over the worker's whole bucket, unless a run is active there;
                        it prunes composites of removed garments and customers (TRYON_PRUNE)
"""
from __future__ import annotations

import logging

from producer.enqueue import RunActiveError, start_run
from worker import context
from worker.celery_app import app
from worker.tasks import RETRY_ON, send_render

log = logging.getLogger(__name__)


@app.task(name="tryon.nightly", autoretry_for=RETRY_ON, retry_backoff=True, max_retries=3)
def nightly() -> dict:
    """The producer over the whole bucket; not started while another run is active."""
    ctx = context.current()
    try:
        summary = start_run(ctx.storage(), ctx.redis, ctx.settings, send_render)
    except RunActiveError as e:
        log.warning("nightly run not started: %s", e)
        return {"started": False, "reason": str(e)}
    summary.pop("invalid_list", None)
    for line in summary.pop("prune_lines", []):
        log.info("nightly run %s: %s", summary["run_id"], line)
    return {"started": True, **summary}
