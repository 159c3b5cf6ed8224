"""The reliability scenarios, each against real servers and real worker processes
(chaos.cluster.ChaosStack). Used by `make chaos` (chaos/run.py, full size) and by
tests/chaos/ (CI size). Each returns an `Outcome`: one row of chaos.json.

    pairs       customer × garment pairs the run planned (bad-input scenario: all pairs formed)
    rendered    pairs whose composite is in the bucket with the right fingerprint at the end
    failed      pairs the run report lists as failed (with a reason)
    lost        planned pairs with neither a composite nor a failure record
    duplicated  pairs for which the S3 server accepted PUTs of two different objects
    passed      the scenario's own criteria (see each function)
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import time
import uuid
from dataclasses import dataclass, field

from chaos import bad_inputs, inputs
from chaos.cluster import ChaosStack, peak_rss_mb, worker_children
from chaos.fault_proxy import FaultPlan


@dataclass
class Outcome:
    scenario: str
    pairs: int = 0
    rendered: int = 0
    failed: int = 0
    lost: int = 0
    duplicated: int = 0
    passed: bool = False
    seconds: float = 0.0
    checks: dict = field(default_factory=dict)    # name → bool: what `passed` is made of
    details: dict = field(default_factory=dict)

    def finish(self) -> "Outcome":
        self.passed = bool(self.checks) and all(self.checks.values())
        return self

    def row(self) -> dict:
        return dataclasses.asdict(self)


DEFAULT_FAULTS = FaultPlan(error_500=0.03, error_503=0.03, reset=0.03, delay=0.08, delay_seconds=(0.05, 0.3),
                           seed=2026)


# --- helpers ---------------------------------------------------------------------------------
def use_stack_env(stack: ChaosStack) -> None:
    """Make this process a producer of the stack (worker.config reads the environment)."""
    for k in [k for k in os.environ if k.startswith(("TRYON_", "AWS_"))]:
        del os.environ[k]
    os.environ.update({k: v for k, v in stack.env.items() if k.startswith(("TRYON_", "AWS_"))})


def new_bucket(stack: ChaosStack, name: str) -> str:
    bucket = f"{name}-{uuid.uuid4().hex[:6]}"
    stack.s3_direct().create_bucket(Bucket=bucket)
    return bucket


def upload(stack: ChaosStack, bucket: str, objects: dict[str, bytes]) -> dict[str, str]:
    """key → bytes, written around the proxy; returns key → error for keys S3 refused."""
    s3 = stack.s3_direct()
    refused = {}
    for key, data in objects.items():
        try:
            # SeaweedFS 4.x: the request after an empty-body PUT on the same keep-alive connection
            # hangs until the client's read timeout (60 s); empty objects go on a throwaway client.
            (s3 if data else stack.s3_direct()).put_object(Bucket=bucket, Key=key, Body=data)
        except Exception as e:  # SeaweedFS refuses '..' and '.' segments
            refused[key] = f"{type(e).__name__}: {e}"
    return refused


def good_objects(n_customers: int, n_garments: int) -> dict[str, bytes]:
    objs = {f"customers/{k}.jpg": inputs.encode_jpeg(v) for k, v in inputs.customers(n_customers).items()}
    objs.update({f"catalogue/{k}.jpg": inputs.encode_jpeg(v) for k, v in inputs.garments(n_garments).items()})
    return objs


def settings_for(bucket: str):
    from worker.config import settings
    return dataclasses.replace(settings(), bucket=bucket)


def client_app(stack: ChaosStack):
    """A Celery client bound to this stack's broker. worker.celery_app's `app` is configured once,
    at its first import in this process, possibly before this stack existed: don't send through it."""
    from celery import Celery

    if getattr(stack, "_client_app", None) is None:
        app = Celery(broker=stack.env["TRYON_BROKER_URL"], backend=stack.env["TRYON_BROKER_URL"])
        app.conf.update(task_serializer="json", accept_content=["json"], result_accept_content=["json"])
        stack._client_app = app
    return stack._client_app


def start_run(stack: ChaosStack, bucket: str, force: bool = False) -> dict:
    """The producer, in this process, through the proxy (as a producer on another host would)."""
    from producer.enqueue import start_run as producer_start
    from worker.storage import Storage

    s = settings_for(bucket)
    return producer_start(Storage.from_settings(s), stack.redis(), s, _sender(stack), force=force)


def _queue(stack: ChaosStack) -> str:
    return stack.env.get("TRYON_QUEUE", "tryon")


def _sender(stack: ChaosStack):
    app, queue = client_app(stack), _queue(stack)

    def send(call) -> None:  # as worker.tasks.send_render (a worker.plan.TaskCall), on this stack's broker
        app.send_task(call.task, kwargs=call.kwargs, kwargsrepr=call.kwargsrepr, queue=queue, ignore_result=True)
    return send


def wait_finished(stack: ChaosStack, run_id: str, timeout: float, during=None, poll: float = 0.5) -> dict | None:
    """Poll the run's status until it is finished; `during(status)` is called on each poll
    (the scenario's trigger). Tolerates the broker being down. None on timeout."""
    from worker.runs import RunBook
    from worker.tasks import resend_lost

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            book = RunBook(stack.redis(), run_id)
            # As `make enqueue WAIT=1` does: chunks the broker lost are sent again once the
            # run has stalled (worker/runs.py: 'Lost messages').
            resend_lost(book, send=_sender(stack), celery_app=client_app(stack), queue=_queue(stack))
            st = book.status()
        except Exception:  # Redis restarting
            time.sleep(0.5)
            continue
        if during is not None:
            during(st)
        if st.get("state") == "finished":
            return st
        time.sleep(poll)
    return None


def read_json(stack: ChaosStack, bucket: str, key: str):
    try:
        return json.loads(stack.s3_direct().get_object(Bucket=bucket, Key=key)["Body"].read())
    except Exception:
        return None


def composites(stack: ChaosStack, bucket: str, prefix: str = "tryon/") -> dict[str, dict]:
    """key → {'sha256', 'fingerprint'} of every composite in the bucket (read around the proxy)."""
    from worker.keys import recorded_fingerprint

    s3 = stack.s3_direct()
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            key = obj["Key"]
            if not key.endswith(".jpg"):
                continue
            r = s3.get_object(Bucket=bucket, Key=key)
            out[key] = {"sha256": hashlib.sha256(r["Body"].read()).hexdigest(),
                        "fingerprint": recorded_fingerprint(r["Metadata"])}
    return out


def tally(stack: ChaosStack, bucket: str, run_id: str, outcome: Outcome, baseline: dict | None = None) -> dict:
    """Fill pairs/rendered/failed/lost/duplicated from the plan, the report, the bucket and
    the proxy's PUT log; returns the report (or None)."""
    from worker.plan import Plan, up_to_date

    plan = read_json(stack, bucket, f"runs/{run_id}/plan.json")
    report = read_json(stack, bucket, f"runs/{run_id}/report.json")
    outcome.details["report_written"] = report is not None
    if plan is None:
        outcome.details["error"] = "plan.json missing"
        return None
    plan = Plan.from_json(plan)
    entries = {(p["customer"], p["garment"]): p for p in (report or {}).get("pairs", [])}
    found = composites(stack, bucket, plan.prefixes.output)
    puts = stack.proxy.puts_by_path(f"/{bucket}/")
    pairs = rendered = failed = lost = duplicated = rewritten = mismatched = 0
    for ci, customer in enumerate(plan.customers):
        for gi, garment in enumerate(plan.garments):
            pairs += 1
            out_key = plan.composite_key(ci, gi)
            entry = entries.get((customer.key, garment.key))
            comp = found.get(out_key)
            ok = comp is not None and up_to_date(comp["fingerprint"], customer.etag, garment.etag, plan.chain)
            if ok:
                rendered += 1
                if baseline is not None and baseline.get(out_key) != comp["sha256"]:
                    mismatched += 1
            if entry is not None and entry["status"] == "failed":
                failed += 1
            if not ok and (entry is None or entry["status"] != "failed"):
                lost += 1
            shas = puts.get(f"/{bucket}/{out_key}", [])
            duplicated += len(set(shas)) > 1
            rewritten += len(shas) > 1
    outcome.pairs, outcome.rendered, outcome.failed, outcome.lost, outcome.duplicated = \
        pairs, rendered, failed, lost, duplicated
    outcome.details.update(composite_puts_repeated_same_bytes=rewritten - duplicated)
    if baseline is not None:
        outcome.details["differs_from_clean_run"] = mismatched
    if report is not None:
        outcome.details["report_counts"] = report["counts"]
        # Why pairs failed, so a failing check says what went wrong, not only how many.
        outcome.details["failure_reasons"] = sorted({p.get("reason", "") for p in entries.values()
                                                     if p["status"] == "failed"})
    return report


def counts_consistent(report: dict | None, pairs: int) -> bool:
    """The report accounts for every pair exactly once."""
    if report is None:
        return False
    c = report["counts"]
    return (c["pairs_planned"] == pairs and
            c["rendered"] + c["skipped_by_worker"] + c["failed"] + c["pairs_up_to_date"] == pairs and
            len(report.get("pairs", [])) == c["pairs_to_render"])


def _worker_log_problems(stack: ChaosStack, names: list[str]) -> list[str]:
    """Signs of a dying or crashing worker in the logs of the named workers."""
    bad = re.compile(r"WorkerLostError|exited with 'signal|Process .* exited|MemoryError|Traceback \(most recent")
    problems = []
    for path in [stack.workdir / f"worker-{n}.log" for n in names]:
        for line in path.read_text(errors="replace").splitlines():
            if bad.search(line):
                problems.append(f"{path.name}: {line[:200]}")
    return problems


# --- scenarios -------------------------------------------------------------------------------
def clean_run(stack: ChaosStack, n_customers: int, n_garments: int, workers: int = 2,
              timeout: float = 600) -> tuple[Outcome, dict]:
    """The reference: no faults. Returns the outcome and key → sha256 of every composite."""
    out = Outcome("clean")
    t0 = time.monotonic()
    bucket = new_bucket(stack, "clean")
    upload(stack, bucket, good_objects(n_customers, n_garments))
    procs = [stack.start_worker(1, f"clean{i}", {"TRYON_BUCKET": bucket}) for i in range(workers)]
    try:
        t1 = time.monotonic()
        run = start_run(stack, bucket)
        st = wait_finished(stack, run["run_id"], timeout)
        out.details["run_seconds"] = round(time.monotonic() - t1, 1)  # what fault runs compare with
        report = tally(stack, bucket, run["run_id"], out)
        baseline = {k: v["sha256"] for k, v in composites(stack, bucket).items()}
    finally:
        for p in procs:
            p.stop()
    out.checks = {"finished": st is not None, "all_rendered": out.rendered == out.pairs == n_customers * n_garments,
                  "no_failures": out.failed == 0, "no_loss": out.lost == 0, "no_duplicates": out.duplicated == 0,
                  "report_counts": counts_consistent(report, out.pairs)}
    out.seconds = round(time.monotonic() - t0, 1)
    return out.finish(), baseline


def _fault_run(stack: ChaosStack, name: str, n_customers: int, n_garments: int, baseline: dict, timeout: float,
               trigger_fraction: float, action, workers: int = 2, plan: FaultPlan | None = None,
               worker_env: dict | None = None) -> Outcome:
    """A run of the same inputs as the clean run, with `action(stack, procs)` done once when
    `trigger_fraction` of the composites have been written."""
    out = Outcome(name)
    t0 = time.monotonic()
    bucket = new_bucket(stack, name.replace("_", "-"))
    upload(stack, bucket, good_objects(n_customers, n_garments))
    total = n_customers * n_garments
    env = {"TRYON_BUCKET": bucket, **(worker_env or {})}
    procs = [stack.start_worker(1, f"{name}{i}", env) for i in range(workers)]
    out.details["setup_seconds"] = round(time.monotonic() - t0, 1)
    fired = {}

    def during(_status):
        if fired or action is None:
            return
        written = len(stack.proxy.puts_by_path(f"/{bucket}/tryon/"))
        if written >= trigger_fraction * total:
            fired["at_composites"] = written
            fired.update(action(stack, procs, env) or {})

    if plan is not None:
        stack.proxy.plan = plan
        stack.proxy.reset_observations()
    before = stack.proxy.stats()
    try:
        run = start_run(stack, bucket)
        # Poll fast while the action is pending: a kill soon after a composite PUT is likely to
        # land mid-chunk (some pairs written, none recorded), the case re-delivery must handle.
        st = wait_finished(stack, run["run_id"], timeout, during, poll=0.05 if action else 0.5)
        out.details["run_seconds"] = round(time.monotonic() - t0 - out.details["setup_seconds"], 1)
        report = tally(stack, bucket, run["run_id"], out, baseline)
        out.details["chunks_resent"] = (report or {}).get("counts", {}).get("chunks_resent")
        alive = all(p.alive() for p in procs)
    finally:
        stack.proxy.plan = FaultPlan()
        for p in procs:
            if p.alive():
                p.stop()
    after = stack.proxy.stats()
    out.details["action"] = fired
    out.details["proxy"] = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    out.checks = {"finished": st is not None, "action_fired": bool(fired) or action is None,
                  "all_rendered": out.rendered == out.pairs == total, "no_failures": out.failed == 0,
                  "no_loss": out.lost == 0, "no_duplicates": out.duplicated == 0,
                  "byte_identical_to_clean": out.details.get("differs_from_clean_run") == 0,
                  "report_counts": counts_consistent(report, out.pairs), "workers_alive_at_end": alive}
    if report is not None and "s3_retries" in report.get("counts", {}):
        out.details["s3_retries_in_report"] = report["counts"]["s3_retries"]
    out.seconds = round(time.monotonic() - t0, 1)
    return out


def worker_killed(stack: ChaosStack, n_customers: int, n_garments: int, baseline: dict,
                  timeout: float = 900, fraction: float = 0.3) -> Outcome:
    """Two workers; one SIGKILLed (with its pool) mid-run and started again."""
    def kill_and_restart(stack, procs, env):
        victim = procs[0]
        stack.kill_worker(victim)
        time.sleep(1.0)
        procs[0] = stack.start_worker(1, victim.name.split()[-1] + "r", env)
        return {"killed_pid": victim.pid}

    return _fault_run(stack, "worker_killed", n_customers, n_garments, baseline, timeout, fraction,
                      kill_and_restart).finish()


def redis_restarted(stack: ChaosStack, n_customers: int, n_garments: int, baseline: dict,
                    timeout: float = 900, fraction: float = 0.3) -> Outcome:
    """The broker (and result backend, caches, run book) SIGKILLed mid-run and restarted
    from its append-only file on the same port."""
    def restart(stack, procs, env):
        stack.kill_redis_and_restart(down_seconds=2.0)
        return {"redis_restarts": stack.redis_restarts}

    return _fault_run(stack, "redis_restarted", n_customers, n_garments, baseline, timeout, fraction,
                      restart).finish()


def s3_faults(stack: ChaosStack, n_customers: int, n_garments: int, baseline: dict, timeout: float = 900,
              plan: FaultPlan | None = None) -> Outcome:
    """The fault proxy answers ≥5% of S3 requests with 500/503 or a TCP reset, and delays more."""
    plan = plan or DEFAULT_FAULTS
    out = _fault_run(stack, "s3_faults", n_customers, n_garments, baseline, timeout, 0.0, None, plan=plan)
    proxy = out.details["proxy"]
    rate = proxy.get("injected_failures", 0) / max(1, proxy.get("requests", 0))
    out.details["injected_failure_rate"] = round(rate, 4)
    out.details["plan"] = dataclasses.asdict(plan)
    out.checks["faults_injected_at_least_5pct"] = rate >= 0.05
    out.checks["resets_injected"] = proxy.get("reset", 0) > 0
    # Every injected failure a worker saw cost one botocore retry; the producer's share is not in
    # the report, so the report's count is at most the proxy's.
    retries = out.details.get("s3_retries_in_report")
    out.checks["retries_counted_in_report"] = retries is not None and 0 < retries <= proxy.get("injected_failures", 0)
    out.details["retry_bounds"] = {"TRYON_S3_MAX_ATTEMPTS": os.environ.get("TRYON_S3_MAX_ATTEMPTS", "5 (default)"),
                                   "celery_max_retries": 6}
    return out.finish()


def s3_object_unavailable(stack: ChaosStack, n_customers: int = 2, n_garments: int = 3,
                          timeout: float = 300) -> Outcome:
    """One garment answers 503 to every request, forever: retries must stop (botocore's
    TRYON_S3_MAX_ATTEMPTS, then no Celery retry for an S3 error answer), be counted, and its
    pairs must fail with the reason while the run still completes."""
    out = Outcome("s3_object_unavailable")
    t0 = time.monotonic()
    bucket = new_bucket(stack, "unavailable")
    upload(stack, bucket, good_objects(n_customers, n_garments))
    bad = "/catalogue/tee-001.jpg"
    stack.proxy.plan = FaultPlan(unavailable=(f"/{bucket}{bad}",))
    before = stack.proxy.stats()
    # 3 attempts: botocore's backoff (1 s, 2 s, … capped at 20 s) must fit in the chunk's soft
    # time limit (15 s here), else the chunk fails on time instead of on the S3 error.
    attempts = 3
    procs = [stack.start_worker(1, f"unavailable{i}", {"TRYON_BUCKET": bucket,
                                                        "TRYON_S3_MAX_ATTEMPTS": str(attempts)})
             for i in range(2)]
    try:
        run = start_run(stack, bucket)
        st = wait_finished(stack, run["run_id"], timeout)
        report = tally(stack, bucket, run["run_id"], out)
    finally:
        stack.proxy.plan = FaultPlan()
        for p in procs:
            p.stop()
    after = stack.proxy.stats()
    pairs = (report or {}).get("pairs", [])
    bad_pairs = [p for p in pairs if p["garment"] == "catalogue/tee-001.jpg"]
    others = [p for p in pairs if p["garment"] != "catalogue/tee-001.jpg"]
    counts = (report or {}).get("counts", {})
    out.details.update(
        unavailable=bad, answered_503=after["error_503"] - before["error_503"],
        bad_pair_reasons=sorted({p.get("reason", "") for p in bad_pairs}),
        other_pairs={s: sum(p["status"] == s for p in others) for s in ("rendered", "failed", "skipped")},
        max_attempts=attempts)
    out.checks = {
        "finished": st is not None, "no_loss": out.lost == 0, "no_duplicates": out.duplicated == 0,
        "unavailable_pairs_failed_with_reason": len(bad_pairs) == n_customers and all(
            p["status"] == "failed" and re.search(r"503|SlowDown|reduce your request rate", p.get("reason", ""))
            for p in bad_pairs),
        # ...and only those: the other garments of the same chunks render
        "other_pairs_rendered": len(others) == n_customers * (n_garments - 1) and all(
            p["status"] == "rendered" for p in others),
        # bounded: at most max_attempts answers per GET of it, a handful of GETs in all
        "retries_bounded": 0 < out.details["answered_503"] <= attempts * n_customers * 3,
        "retries_counted_in_report": counts.get("s3_retries", 0) >= (attempts - 1),
    }
    out.seconds = round(time.monotonic() - t0, 1)
    return out.finish()


def whole_worker_killed(stack: ChaosStack, n_customers: int, n_garments: int, baseline: dict,
                        timeout: float = 900, fraction: float = 0.3) -> Outcome:
    """Two workers; one SIGKILLed with its pool mid-run and not restarted: its chunk is resent
    once its heartbeat expires (TRYON_HEARTBEAT_TTL), not after the broker's visibility timeout."""
    def kill(stack, procs, env):
        victim = procs[0]
        stack.kill_worker(victim)
        procs.remove(victim)
        return {"killed_pid": victim.pid}

    out = _fault_run(stack, "whole_worker_killed", n_customers, n_garments, baseline, timeout, fraction, kill)
    return out.finish()


def redis_link_cut(stack: ChaosStack, n_customers: int, n_garments: int, baseline: dict,
                   timeout: float = 900, fraction: float = 0.3, cut_seconds: float = 60) -> Outcome:
    """The TCP link between the workers and Redis (broker and run book) is cut for `cut_seconds`
    mid-run (connections reset, new ones refused), while Redis itself stays up."""
    from chaos.fault_proxy import TcpCutProxy

    proxy = TcpCutProxy(("127.0.0.1", stack.redis_port)).start()
    url = f"redis://:{stack.redis_password}@127.0.0.1:{proxy.port}/0"

    def cut(stack, procs, env):
        proxy.cut(cut_seconds)
        return {"cut_seconds": cut_seconds}

    try:
        out = _fault_run(stack, "redis_link_cut", n_customers, n_garments, baseline, timeout, fraction, cut,
                         worker_env={"TRYON_BROKER_URL": url})
    finally:
        proxy.stop()
    out.details["connections_refused_while_cut"] = proxy.refused
    return out.finish()


def _one_run(stack: ChaosStack, name: str, objects: dict[str, bytes], worker_env: dict | None = None,
             timeout: float = 600, workers: int = 1):
    """Upload, start `workers` workers, one run to its end; (outcome, bucket, run id, report, procs
    stopped). The outcome is tallied and its `seconds` set; the caller adds checks."""
    out = Outcome(name)
    t0 = time.monotonic()
    bucket = new_bucket(stack, name.replace("_", "-"))
    upload(stack, bucket, objects)
    procs = [stack.start_worker(1, f"{name}{i}", {"TRYON_BUCKET": bucket, **(worker_env or {})})
             for i in range(workers)]
    try:
        run = start_run(stack, bucket)
        st = wait_finished(stack, run["run_id"], timeout)
        report = tally(stack, bucket, run["run_id"], out)
    finally:
        for p in procs:
            p.stop()
    out.details["finished"] = st is not None
    out.seconds = round(time.monotonic() - t0, 1)
    return out, bucket, run["run_id"], report


def over_long_keys(stack: ChaosStack, n_customers: int = 2, n_garments: int = 2, timeout: float = 600) -> Outcome:
    """Customer keys of ~616 bytes and garment keys of ~415 bytes, in folders: their composite
    keys would exceed the 900-byte limit joined as they are; they must fit, and the run end."""
    people = list(inputs.customers(n_customers).values())
    tees = list(inputs.garments(n_garments).values())
    cfolder = "/".join(f"region-{i:02d}-customer-folder-" + "c" * 30 for i in range(11))
    gfolder = "/".join(f"collection-{i:02d}-" + "g" * 21 for i in range(11))
    objects = {f"customers/{cfolder}/person-{i:03d}.jpg": inputs.encode_jpeg(v) for i, v in enumerate(people)}
    objects.update({f"catalogue/{gfolder}/tee-{i:03d}.jpg": inputs.encode_jpeg(v) for i, v in enumerate(tees)})
    lengths = sorted({len(k.encode()) for k in objects})
    out, bucket, run_id, report = _one_run(stack, "over_long_keys", objects, timeout=timeout)
    keys_written = list(composites(stack, bucket))
    out.details.update(input_key_bytes=lengths, composite_key_bytes=max((len(k.encode()) for k in keys_written),
                                                                        default=0))
    from worker.keys import MAX_KEY_BYTES
    out.checks = {"finished": out.details["finished"], "report_written": report is not None,
                  "long_inputs": lengths[0] >= 415 and lengths[-1] >= 616,
                  "all_rendered": out.rendered == out.pairs == n_customers * n_garments,
                  "keys_fit": 0 < out.details["composite_key_bytes"] <= MAX_KEY_BYTES,
                  "no_loss": out.lost == 0, "no_duplicates": out.duplicated == 0,
                  "report_counts": counts_consistent(report, out.pairs)}
    return out.finish()


def colliding_keys(stack: ChaosStack, timeout: float = 600) -> Outcome:
    """customer alice × garment bob/shirt and customer alice/bob × garment shirt once shared
    tryon/alice/bob/shirt.jpg: four pairs must give four composites, and a second run renders none."""
    person = list(inputs.customers(2).values())
    tees = list(inputs.garments(2).values())
    objects = {"customers/alice.jpg": inputs.encode_jpeg(person[0]),
               "customers/alice/bob.jpg": inputs.encode_jpeg(person[1]),
               "catalogue/bob/shirt.jpg": inputs.encode_jpeg(tees[0]),
               "catalogue/shirt.jpg": inputs.encode_jpeg(tees[1])}
    out, bucket, run_id, report = _one_run(stack, "colliding_keys", objects, timeout=timeout)
    written = composites(stack, bucket)
    # the next night: nothing to render
    proc = stack.start_worker(1, "colliding_keys_again", {"TRYON_BUCKET": bucket})
    try:
        again = start_run(stack, bucket)
        st2 = wait_finished(stack, again["run_id"], timeout)
    finally:
        proc.stop()
    out.details.update(composites=sorted(written), second_run_to_render=again["to_render"])
    out.checks = {"finished": out.details["finished"] and st2 is not None, "report_written": report is not None,
                  "four_distinct_composites": len(written) == 4 == out.rendered,
                  "nothing_rerendered_next_run": again["to_render"] == 0,
                  "no_loss": out.lost == 0, "no_duplicates": out.duplicated == 0,
                  "report_counts": counts_consistent(report, out.pairs)}
    return out.finish()


def racing_producers(stack: ChaosStack, n_customers: int = 2, n_garments: int = 3, producers: int = 4,
                     timeout: float = 600) -> Outcome:
    """`producers` producers started at the same instant on one bucket: one run starts, the others
    are refused naming it, and every composite is written once."""
    import threading

    from producer.enqueue import RunActiveError

    out = Outcome("racing_producers")
    t0 = time.monotonic()
    bucket = new_bucket(stack, "racing")
    upload(stack, bucket, good_objects(n_customers, n_garments))
    proc = stack.start_worker(1, "racing", {"TRYON_BUCKET": bucket})
    barrier = threading.Barrier(producers)
    started, refused = [], []

    def produce():
        barrier.wait()
        try:
            started.append(start_run(stack, bucket)["run_id"])
        except RunActiveError as e:
            refused.append(str(e))

    try:
        threads = [threading.Thread(target=produce) for _ in range(producers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        st = wait_finished(stack, started[0], timeout) if len(started) == 1 else None
        report = tally(stack, bucket, started[0], out) if started else None
    finally:
        proc.stop()
    puts = stack.proxy.puts_by_path(f"/{bucket}/tryon/")
    out.details.update(started=started, refused=len(refused),
                       puts_per_composite=sorted({len(v) for k, v in puts.items() if k.endswith(".jpg")}))
    out.checks = {"one_run_started": len(started) == 1, "others_refused": len(refused) == producers - 1,
                  "finished": st is not None, "all_rendered": out.rendered == out.pairs == n_customers * n_garments,
                  "each_composite_written_once": out.details["puts_per_composite"] == [1],
                  "no_loss": out.lost == 0, "no_duplicates": out.duplicated == 0,
                  "report_counts": counts_consistent(report, out.pairs)}
    out.seconds = round(time.monotonic() - t0, 1)
    return out.finish()


def wait_ended(stack: ChaosStack, run_id: str, timeout: float) -> dict | None:
    """As wait_finished, but any end: finished, failed or aborted."""
    from worker.runs import RunBook

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = RunBook(stack.redis(), run_id).status()
        if st.get("state") in ("finished", "failed", "aborted"):
            return st
        time.sleep(0.5)
    return None


def readonly_then_fixed(stack: ChaosStack, n_customers: int = 2, n_garments: int = 2,
                        timeout: float = 600) -> Outcome:
    """Workers with read-only S3 credentials: every pair fails (AccessDenied … PutObject), the
    report cannot be written, and the run must still end (`failed`, the reason recorded, the
    bucket free). Credentials fixed: `resume` writes the report; the next run renders every pair."""
    from producer import run_admin
    from worker.local_stack import S3_READONLY_ACCESS_KEY, S3_READONLY_SECRET_KEY
    from worker.runs import BucketLock, RunBook
    from worker.storage import Storage

    out = Outcome("readonly_then_fixed")
    t0 = time.monotonic()
    bucket = new_bucket(stack, "readonly")
    upload(stack, bucket, good_objects(n_customers, n_garments))
    ro = {"TRYON_BUCKET": bucket, "AWS_ACCESS_KEY_ID": S3_READONLY_ACCESS_KEY,
          "AWS_SECRET_ACCESS_KEY": S3_READONLY_SECRET_KEY}
    proc = stack.start_worker(1, "readonly", ro)
    try:
        run = start_run(stack, bucket)
        ended = wait_ended(stack, run["run_id"], timeout)
    finally:
        proc.stop()
    book = RunBook(stack.redis(), run["run_id"])
    lock_free = BucketLock(stack.redis(), bucket).holder() is None
    out.details.update(first_run_state=(ended or {}).get("state"), reason=(ended or {}).get("reason", "")[:300],
                       first_run_seconds=round(time.monotonic() - t0, 1))
    # credentials fixed: resume writes the report (the failed pairs stay failed in it)
    s = settings_for(bucket)
    proc = stack.start_worker(1, "fixed", {"TRYON_BUCKET": bucket})
    try:
        lines = run_admin.resume(book, Storage.from_settings(s), _sender(stack), s)
        report1 = read_json(stack, bucket, f"runs/{run['run_id']}/report.json")
        # the next run renders what failed
        run2 = start_run(stack, bucket)
        st2 = wait_finished(stack, run2["run_id"], timeout)
        report2 = tally(stack, bucket, run2["run_id"], out)
    finally:
        proc.stop()
    reasons = {f.get("reason", "") for f in (report1 or {}).get("failures", [])}
    out.details.update(resume=lines, first_report_failures=len((report1 or {}).get("failures", [])),
                       first_report_reasons=sorted(reasons)[:3])
    total = n_customers * n_garments
    out.checks = {"first_run_ended_failed": out.details["first_run_state"] == "failed",
                  "reason_recorded": "AccessDenied" in out.details["reason"] and "resume" in out.details["reason"],
                  "bucket_freed": lock_free,
                  "resume_wrote_report": report1 is not None and book.state() == "finished",
                  "pairs_failed_with_reason": out.details["first_report_failures"] == total and all(
                      "AccessDenied" in r for r in reasons),
                  "next_run_rendered_all": st2 is not None and out.rendered == out.pairs == total,
                  "no_loss": out.lost == 0, "no_duplicates": out.duplicated == 0,
                  "report_counts": counts_consistent(report2, out.pairs)}
    out.seconds = round(time.monotonic() - t0, 1)
    return out.finish()


def tiff_bomb(stack: ChaosStack, timeout: float = 600) -> Outcome:
    """A 20000×20000 TIFF (~0.4 MB) among good photos: refused from its header, the worker's
    memory stays low (it once went from 394 MB to 2.6 GB before refusing it)."""
    person = list(inputs.customers(1).values())[0]
    tees = inputs.garments(2)
    objects = {"customers/good.jpg": inputs.encode_jpeg(person),
               "customers/bomb.tiff": bad_inputs.tiff_bomb(20000, 20000)}
    objects.update({f"catalogue/{k}.jpg": inputs.encode_jpeg(v) for k, v in tees.items()})
    out = Outcome("tiff_bomb")
    t0 = time.monotonic()
    bucket = new_bucket(stack, "tiff-bomb")
    upload(stack, bucket, objects)
    proc = stack.start_worker(1, "tiffbomb", {"TRYON_BUCKET": bucket})
    try:
        run = start_run(stack, bucket)
        st = wait_finished(stack, run["run_id"], timeout)
        report = tally(stack, bucket, run["run_id"], out)
        rss = max([peak_rss_mb(pid) or 0 for pid in worker_children(proc)] or [0])
    finally:
        proc.stop()
    bomb = [p for p in (report or {}).get("pairs", []) if p["customer"] == "customers/bomb.tiff"]
    out.details.update(peak_worker_rss_mb=round(rss, 1), bomb_reasons=sorted({p.get("reason", "") for p in bomb}))
    out.checks = {"finished": st is not None, "bomb_pairs_failed_too_large": len(bomb) == 2 and all(
                      p["status"] == "failed" and "too large" in p.get("reason", "") for p in bomb),
                  "good_pairs_rendered": out.rendered == 2, "no_loss": out.lost == 0,
                  "no_duplicates": out.duplicated == 0, "worker_rss_below_1_GB": 0 < rss < 1000,
                  "report_counts": counts_consistent(report, out.pairs)}
    out.seconds = round(time.monotonic() - t0, 1)
    return out.finish()


def bad_input_runs(stack: ChaosStack, n_good_garments: int = 1, timeout: float = 600) -> Outcome:
    """The corpus: every bad customer against good garments (one run), one good customer
    against every bad garment (another run). Each pair must end as its kind expects; no
    worker may die; every good pair renders."""
    from chaos.inputs import customers as good_customers, encode_jpeg, garments as good_garments
    from worker.plan import Plan

    out = Outcome("bad_inputs")
    t0 = time.monotonic()
    max_bytes = settings_for("x").max_input_bytes
    person = next(iter(good_customers(1).values()))
    tees = good_garments(max(1, n_good_garments))
    items = bad_inputs.corpus(person, next(iter(tees.values())), max_bytes)
    by_key: dict[str, bad_inputs.BadInput] = {}
    runs = []
    for role in ("customer", "garment"):
        bucket = new_bucket(stack, f"bad-{role}")
        objs = {}
        if role == "customer":
            objs.update({f"catalogue/{k}.jpg": encode_jpeg(v) for k, v in tees.items()})
            objs["customers/good-person.jpg"] = encode_jpeg(person)
            for it in items:
                if it.role == "customer":
                    objs[f"customers/{it.filename}"] = it.data
                    by_key[f"customers/{it.filename}"] = it
        else:
            objs["customers/good-person.jpg"] = encode_jpeg(person)
            objs.update({f"catalogue/{k}.jpg": encode_jpeg(v) for k, v in tees.items()})
            for it in items:
                if it.role == "garment":
                    objs[f"catalogue/{it.filename}"] = it.data
                    by_key[f"catalogue/{it.filename}"] = it
        refused_by_s3 = upload(stack, bucket, objs)
        runs.append((role, bucket, refused_by_s3))
    out.details["setup_seconds"] = round(time.monotonic() - t0, 1)

    verdicts: dict[str, dict] = {}
    died, rss = [], []
    for role, bucket, refused_by_s3 in runs:
        proc = stack.start_worker(1, f"bad{role}", {"TRYON_BUCKET": bucket})
        children = worker_children(proc)
        try:
            run = start_run(stack, bucket)
            st = wait_finished(stack, run["run_id"], timeout)
            part = Outcome("part")
            report = tally(stack, bucket, run["run_id"], part)
            for k in ("pairs", "rendered", "failed", "lost", "duplicated"):
                setattr(out, k, getattr(out, k) + getattr(part, k))
            plan_json = read_json(stack, bucket, f"runs/{run['run_id']}/plan.json")
            plan = Plan.from_json(plan_json) if plan_json else None
            planned = {o.key for o in plan.customers + plan.garments} if plan else set()
            invalid = {i["key"]: i["reason"] for i in plan.invalid} if plan else {}
            pairs = (report or {}).get("pairs", [])
            rss += [peak_rss_mb(pid) or 0 for pid in worker_children(proc)]
            if not proc.alive() or set(worker_children(proc)) != set(children):
                died.append(f"{role}: worker {proc.pid} alive={proc.alive()} children {children} → "
                            f"{worker_children(proc)}")
        finally:
            proc.stop()
        out.details.setdefault("finished", []).append(st is not None)
        for key, item in by_key.items():
            if item.role != role:
                continue
            v = verdicts[item.kind] = {"role": role, "expect": item.expect, "key": key}
            mine = [p for p in pairs if p[role] == key]
            if key in refused_by_s3:
                v.update(outcome="refused by S3 on upload", reason=refused_by_s3[key], ok=item.expect == "refused")
            elif key not in planned:
                reason = invalid.get(key)
                ok = item.expect == "refused" and (reason is None and key.endswith("/") or item.matches(reason))
                v.update(outcome="not planned (invalid input)", reason=reason, ok=ok)
            elif not mine:
                v.update(outcome="planned but no pair in the report", ok=False)
            else:
                statuses = {p["status"] for p in mine}
                reasons = sorted({p.get("reason", "") for p in mine if p["status"] == "failed"})
                if statuses <= {"rendered", "skipped"}:
                    v.update(outcome="rendered", ok=item.expect in ("render", "either"))
                elif statuses == {"failed"}:
                    # a readable reason that names the object
                    ok = item.expect in ("fail", "either", "refused") and all(
                        item.matches(r) and key in r for r in reasons)
                    v.update(outcome="failed", reason=reasons[0] if len(reasons) == 1 else reasons, ok=ok)
                else:
                    v.update(outcome=f"mixed {sorted(statuses)}", reasons=reasons, ok=False)
        # good × good pairs in this bucket
        good = [p for p in pairs if p["customer"] == "customers/good-person.jpg" and p["garment"] in
                {f"catalogue/{k}.jpg" for k in tees}]
        out.details.setdefault("good_pairs", []).append({p["garment"]: p["status"] for p in good})

    wrong = {k: v for k, v in verdicts.items() if not v["ok"]}
    good_ok = all(all(s == "rendered" for s in g.values()) and g for g in out.details["good_pairs"])
    problems = _worker_log_problems(stack, [f"bad{role}" for role, *_ in runs])
    out.details.update(kinds=len(verdicts), verdicts=verdicts, unexpected=sorted(wrong),
                       worker_deaths=died, worker_log_problems=problems[:20],
                       peak_worker_rss_mb=round(max(rss or [0]), 1))
    out.checks = {"all_finished": all(out.details["finished"]), "at_least_30_kinds": len(verdicts) >= 30,
                  "every_kind_as_expected": not wrong, "good_pairs_rendered": good_ok,
                  "no_worker_died": not died and not problems, "no_loss": out.lost == 0, "no_duplicates": out.duplicated == 0,
                  # a 625-Mpx header bomb decoded would take ~1.9 GB in one process
                  "bombs_not_decoded": max(rss or [0]) < 1500}
    out.seconds = round(time.monotonic() - t0, 1)
    return out.finish()


# --- security --------------------------------------------------------------------------------
class PickleBomb:
    """Unpickling this creates a file: proof that a pickled message was deserialised."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def publish_pickled_task(app, path: str, queue: str, task: str = "tryon.finalize_run") -> str:
    """Put a Celery protocol-2 message with a *pickle* body on the queue, as an attacker with
    broker access would; returns its task id."""
    import pickle

    from kombu import Queue

    task_id = str(uuid.uuid4())
    body = pickle.dumps(((PickleBomb(path),), {}, {"callbacks": None, "errbacks": None, "chain": None,
                                                   "chord": None}))
    with app.connection_for_write() as conn:
        conn.Producer().publish(
            body, routing_key=queue, exchange="", declare=[Queue(queue)],
            content_type="application/x-python-serialize", content_encoding="binary",
            headers={"lang": "py", "task": task, "id": task_id, "root_id": task_id, "parent_id": None,
                     "argsrepr": "(pickle)", "kwargsrepr": "{}", "retries": 0, "eta": None, "expires": None})
    return task_id


def pickled_message_refused(stack: ChaosStack, timeout: float = 60) -> dict:
    """A pickled message is refused (never deserialised); the worker lives on and still runs
    JSON tasks."""
    import pickle

    from worker.celery_app import app

    marker = stack.workdir / f"pickle-was-loaded-{uuid.uuid4().hex[:6]}"
    # The payload is live: loading it (as a pickle-accepting worker would) creates the marker.
    pickle.loads(pickle.dumps(PickleBomb(str(marker)))).close()
    payload_live = marker.exists()
    marker.unlink(missing_ok=True)

    proc = stack.start_worker(1, "security", {"TRYON_BUCKET": stack.bucket})
    try:
        queue = stack.env.get("TRYON_QUEUE", "tryon")
        publish_pickled_task(client_app(stack), str(marker), queue)
        deadline = time.monotonic() + timeout
        refused_logged = False
        while time.monotonic() < deadline and not refused_logged:
            refused_logged = "Refusing to deserialize untrusted content of type pickle" in proc.log_tail(1_000_000)
            time.sleep(0.3)
        r = stack.redis()
        left_in_queue = r.llen(queue)
        json_task_ok = client_app(stack).send_task("tryon.finalize_run", args=["no-such-run"],
                                                   queue=queue).get(timeout=timeout) is False
        alive = proc.alive()
    finally:
        proc.stop()
    return {"payload_is_live": payload_live, "refusal_logged": refused_logged, "marker_created": marker.exists(),
            "queue_left": left_in_queue, "worker_alive": alive, "json_task_after": json_task_ok,
            "accept_content": list(app.conf.accept_content),
            "ok": payload_live and refused_logged and not marker.exists() and left_in_queue == 0 and alive
            and json_task_ok and list(app.conf.accept_content) == ["json"]}


def no_secrets_written(stack: ChaosStack, buckets: list[str], extra_texts: list[str] = ()) -> dict:
    """The S3 secret key and the Redis password appear in no worker log, no run file (plan,
    report, contact sheet) and no composite's metadata."""
    secrets = [stack.env["AWS_SECRET_ACCESS_KEY"]]
    if getattr(stack, "redis_password", None):
        secrets.append(stack.redis_password)
    leaks = []
    for path in stack.workdir.glob("*.log"):
        text = path.read_text(errors="replace")
        leaks += [f"{path.name}" for s in secrets if s in text]
    s3 = stack.s3_direct()
    scanned = 0
    for bucket in buckets:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for obj in page.get("Contents", []):
                key = obj["Key"]
                if key.startswith("runs/") or key.endswith("_index.json"):
                    text = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode(errors="replace")
                elif key.startswith("tryon/"):
                    text = json.dumps(s3.head_object(Bucket=bucket, Key=key)["Metadata"])
                else:
                    continue
                scanned += 1
                leaks += [f"{bucket}/{key}" for s in secrets if s in text]
    for i, text in enumerate(extra_texts):
        leaks += [f"text {i}" for s in secrets if s in text]
    return {"scanned_objects": scanned, "logs": len(list(stack.workdir.glob("*.log"))), "leaks": leaks,
            "ok": not leaks and scanned > 0}


def deployment_files() -> dict:
    """docker-compose.yml: Flower needs basic auth; Dockerfile: the worker runs as a non-root user."""
    import subprocess

    from worker.local_stack import REPO, find_binary

    out = {}
    compose = REPO / "docker-compose.yml"
    if not compose.is_file():
        out["flower_auth"] = {"ok": False, "why": "docker-compose.yml absent"}
    else:
        binary = find_binary("docker-compose")
        env = {**os.environ, "FLOWER_BASIC_AUTH": "ops:example", "FLOWER_USER": "ops", "FLOWER_PASSWORD": "x"}
        try:
            text = subprocess.run([binary, "-f", str(compose), "config", "--format", "json"], capture_output=True,
                                  text=True, env=env, timeout=60, check=True).stdout
            flower = json.loads(text)["services"]["flower"]
        except Exception as e:
            out["flower_auth"] = {"ok": False, "why": f"docker compose config: {e}"}
        else:
            cmd = " ".join(flower.get("command") or []) if isinstance(flower.get("command"), list) \
                else str(flower.get("command") or "")
            envs = flower.get("environment") or {}
            unauth = str(envs.get("FLOWER_UNAUTHENTICATED_API", "")).lower() in ("1", "true", "yes")
            has_auth = "--basic-auth" in cmd or "--basic_auth" in cmd or bool(envs.get("FLOWER_BASIC_AUTH")) \
                or "--auth" in cmd
            out["flower_auth"] = {"ok": has_auth and not unauth, "basic_auth": has_auth, "unauthenticated_api": unauth}
    dockerfile = REPO / "Dockerfile"
    if not dockerfile.is_file():
        out["non_root_worker"] = {"ok": False, "why": "Dockerfile absent"}
    else:
        users = [line.split(None, 1)[1].strip() for line in dockerfile.read_text().splitlines()
                 if line.strip().upper().startswith("USER ")]
        last = users[-1] if users else None
        out["non_root_worker"] = {"ok": last is not None and last.split(":")[0] not in ("root", "0"), "user": last}
    return out


def security(stack: ChaosStack, buckets: list[str]) -> Outcome:
    out = Outcome("security")
    t0 = time.monotonic()
    from worker.keys import InvalidKeyError, composite_key, validate_key

    escapes = ["customers/../runs/x/report.json", "customers/a/../../x.jpg", "/customers/x.jpg",
               "customers/./x.jpg", "customers\\..\\x.jpg", "customers/x\x00.jpg", "catalogue/x.jpg"]
    refused = 0
    for key in escapes:
        try:
            validate_key(key, "customers/")
        except InvalidKeyError:
            refused += 1
    try:
        composite_key("tryon/", "customers/../runs/r/report.json", "customers/", "catalogue/a.jpg", "catalogue/")
        out_key_refused = False
    except InvalidKeyError:
        out_key_refused = True
    out.details["pickle"] = pickled_message_refused(stack)
    out.details["key_escape"] = {"refused": refused, "of": len(escapes), "tampered_output_key_refused": out_key_refused}
    out.details["secrets"] = no_secrets_written(stack, buckets)
    out.details.update(deployment_files())
    out.checks = {"pickle_refused": out.details["pickle"]["ok"],
                  "key_escape_refused": refused == len(escapes) and out_key_refused,
                  "no_credentials_in_logs_or_reports": out.details["secrets"]["ok"],
                  "flower_requires_auth_in_compose": out.details["flower_auth"]["ok"],
                  "worker_image_non_root": out.details["non_root_worker"]["ok"]}
    out.seconds = round(time.monotonic() - t0, 1)
    return out.finish()
