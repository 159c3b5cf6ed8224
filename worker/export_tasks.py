"""The bucket export's Celery task (the work is in worker/export_job.py), and sending its messages.

    tryon.export_item(run, item)    one person, or one chunk of garments, of export `run`

Registered by name in worker/celery_app.py's include list, beside worker.tasks.
"""
from __future__ import annotations

import logging

from celery import Task

from worker import context
from worker.celery_app import app
from worker.export_job import EXPORT_TASK, ExportBook, ExportPlan, export_item, item_failed
from worker.tasks import RETRY_ON, queue_length

log = logging.getLogger(__name__)

_PLANS: dict[str, ExportPlan] = {}  # per process: an export's plan is read from Redis once
_CHAINS: dict[str, tuple] = {}      # per process: framing → (ChainOptions, chain version)


def _book(ctx, run: str) -> ExportBook:
    return ExportBook(ctx.redis, run, ttl=ctx.settings.run_ttl)


def _plan(ctx, run: str) -> ExportPlan | None:
    if run not in _PLANS:
        plan = _book(ctx, run).plan()
        if plan is None:
            return None
        while len(_PLANS) >= 4:
            _PLANS.pop(next(iter(_PLANS)))
        _PLANS[run] = plan
    return _PLANS[run]


def export_chain(ctx, framing: str) -> tuple:
    """(ChainOptions, chain version) an export in `framing` prepares persons with: this worker's
    own (ctx.chain_version, what render runs cache persons under) where its framing is that one,
    else the same with the framing set (models.chain.options_for_framing)."""
    if framing not in _CHAINS:
        from models import chain
        from models.contract import ChainOptions

        options = chain.options_for_framing(framing)
        _CHAINS[framing] = (options, ctx.chain_version if options == ChainOptions() else chain.chain_version(options))
    return _CHAINS[framing]


class RecordingExportTask(Task):
    """An item that fails for good is still recorded (its inputs failed, with the exception), so
    the export completes and its report says what happened."""

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        try:
            ctx = context.current()
            plan = _plan(ctx, kwargs["run"])
            if plan is None:
                return
            book = _book(ctx, kwargs["run"])
            book.record(kwargs["item"], item_failed(plan, kwargs["item"], f"task failed: {type(exc).__name__}: {exc}"))
            book.try_finalize(ctx.storage(plan))
        except Exception:
            log.exception("could not record failed export item %s", kwargs.get("item"))


@app.task(name=EXPORT_TASK, base=RecordingExportTask, bind=True, autoretry_for=RETRY_ON,
          retry_backoff=True, retry_backoff_max=300, retry_jitter=True, max_retries=6)
def export_item_task(self, run: str, item: str) -> dict:
    from models import chain

    ctx = context.current()
    plan = _plan(ctx, run)
    if plan is None:
        log.warning("export %s: plan expired or unknown; dropping item %s", run, item)
        return {"run": run, "item": item, "dropped": "unknown export"}
    storage = ctx.storage(plan)
    options, version = export_chain(ctx, plan.framing)
    results = export_item(storage, ctx.cache, chain, plan, item, version, ctx.settings.max_input_bytes, options)
    book = _book(ctx, run)
    book.record(item, results)
    book.try_finalize(storage)
    return {"run": run, "item": item, "exported": sum(r["status"] == "exported" for r in results),
            "failed": sum(r["status"] == "failed" for r in results)}


def send_export(plan: ExportPlan, item: str) -> None:
    export_item_task.apply_async(kwargs={"run": plan.run_id, "item": item},
                                 kwargsrepr=f"run={plan.run_id!r}, layout={plan.layout!r}, framing={plan.framing!r}, "
                                            f"item={plan.describe(item)!r}",
                                 ignore_result=True)


def resend_lost_items(book: ExportBook, stalled_after: float, celery_app=None, queue: str | None = None) -> int:
    sent = book.resend_lost(send_export, stalled_after, lambda: queue_length(celery_app, queue))
    if sent:
        log.warning("export %s: no progress and an empty queue; resent %d lost item(s)", book.run_id, sent)
    return sent
