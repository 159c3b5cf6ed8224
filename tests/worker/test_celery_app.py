"""worker/celery_app.py: the one app, configured from the environment at import."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from worker.local_stack import REPO


def _celery_conf_in_fresh_process(env: dict) -> dict:
    # The app is module state configured at import: read it in a fresh interpreter, so this test
    # neither sees nor changes the app other tests in this process use.
    code = ("import json, worker.celery_app as c; k = c.app.conf; s = (k.beat_schedule or {}).get('nightly-run');"
            "c.app.loader.import_default_modules();"
            "print(json.dumps({'accept': list(k.accept_content), 'ser': k.task_serializer, 'late': k.task_acks_late,"
            "'lost': k.task_reject_on_worker_lost, 'prefetch': k.worker_prefetch_multiplier,"
            "'tasks': sorted(t for t in c.app.tasks if t.startswith('tryon.')),"
            "'sweep': k.beat_schedule['sweep-runs']['task'],"
            "'task': s and s['task'], 'hour': s and sorted(s['schedule'].hour), 'minute': s and sorted(s['schedule'].minute)}))")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True,
                         cwd=str(REPO), check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_celery_app_config_from_env():
    conf = _celery_conf_in_fresh_process({"TRYON_NIGHTLY_AT": "03:15", "TRYON_BROKER_URL": "redis://127.0.0.1:1/0"})
    assert conf["accept"] == ["json"] and conf["ser"] == "json"
    assert conf["late"] and conf["lost"] and conf["prefetch"] == 1
    assert conf["task"] == "tryon.nightly" and conf["hour"] == [3] and conf["minute"] == [15]
    assert conf["sweep"] == "tryon.sweep_runs"
    # What a worker registers (worker.tasks and, by the include list, worker.export_tasks and
    # producer.tasks): the names deployed schedules and clients send.
    assert conf["tasks"] == ["tryon.export_item", "tryon.finalize_run", "tryon.nightly", "tryon.render_customer",
                             "tryon.sweep_runs"]
    assert _celery_conf_in_fresh_process({"TRYON_NIGHTLY_AT": "off"})["task"] is None
