"""The batch system's figures in Prometheus format, read from Redis at each scrape.

    python -m worker.metrics [--address 127.0.0.1] [--port 9808]      (make metrics)

Flower's own /metrics has the task-level figures (tasks received/succeeded/failed/retried per
task name, task runtimes, workers online). This exporter adds what only the run books know:

    tryon_runs_active                       runs holding a bucket's lock and not ended
    tryon_run_info{run,bucket,state}        1 per run recorded in Redis (TRYON_RUN_TTL)
    tryon_run_pairs{run,bucket,status}      pairs planned / to_render / up_to_date / rendered / failed /
                                            skipped / needs_review / invalid_inputs
    tryon_run_chunks{run,bucket,status}     chunks total / done / in_flight / resent
    tryon_run_stage_seconds{run,bucket,stage}  seconds spent per stage over the recorded pairs
    tryon_pairs_rendered / tryon_pairs_failed / tryon_pairs_needs_review   the same, summed over runs
    tryon_queue_depth{queue}                messages waiting in the render queue
    tryon_scrape_errors_total               scrapes that could not read Redis

Nothing is kept in the exporter: any number of them can run, and a restart loses nothing.
"""
from __future__ import annotations

import argparse
import logging
import time

import redis
from prometheus_client.core import REGISTRY, CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from worker.config import Settings, settings
from worker.runs import ENDED, BucketLock, RunBook

log = logging.getLogger(__name__)

PAIR_FIELDS = {"planned": "pairs_planned", "to_render": "pairs_to_render", "up_to_date": "pairs_up_to_date",
               "rendered": "rendered", "failed": "failed", "skipped": "skipped_by_worker",
               "needs_review": "needs_review", "invalid_inputs": "invalid_inputs"}
# kombu's Redis transport keeps a queue's priorities in separate lists: name, name\x06\x16<p>
_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")


def queue_depth(client: redis.Redis, queue: str) -> int:
    pipe = client.pipeline(transaction=False)
    for suffix in _PRIORITY_SUFFIXES:
        pipe.llen(queue + suffix)
    return sum(pipe.execute())


_SUB_KEYS = (":plan", ":chunks", ":finalized", ":sent", ":resending", ":executions", ":started", ":finalizing")


def run_ids(client: redis.Redis) -> list[str]:
    """Every run whose record is in Redis (tryon:run:<id>, not its sub-keys; ids contain ':')."""
    out = []
    for key in client.scan_iter(f"{RunBook.KEY_PREFIX}*", count=500):
        name = key.decode()
        if name.endswith(_SUB_KEYS) or ":beat:" in name:
            continue
        out.append(name[len(RunBook.KEY_PREFIX):])
    return sorted(out)


class RunCollector(Collector):
    def __init__(self, client: redis.Redis, s: Settings):
        self.r, self.s = client, s
        self.errors = 0

    def collect(self):
        try:
            families = self._families()
        except redis.RedisError as e:
            log.warning("metrics: cannot read Redis: %s", e)
            self.errors += 1
            families = []
        yield from families
        errors = CounterMetricFamily("tryon_scrape_errors", "Scrapes that could not read Redis")
        errors.add_metric([], self.errors)
        yield errors

    def _families(self) -> list:
        info = GaugeMetricFamily("tryon_run_info", "A run recorded in Redis (value 1)", labels=["run", "bucket", "state"])
        pairs = GaugeMetricFamily("tryon_run_pairs", "Pairs of a run by status", labels=["run", "bucket", "status"])
        chunks = GaugeMetricFamily("tryon_run_chunks", "Chunks of a run by status", labels=["run", "bucket", "status"])
        stages = GaugeMetricFamily("tryon_run_stage_seconds", "Seconds spent per stage over a run's recorded pairs",
                                   labels=["run", "bucket", "stage"])
        totals = {k: 0 for k in ("rendered", "failed", "needs_review")}
        for run_id in run_ids(self.r):
            book = RunBook(self.r, run_id)
            st = book.status()
            if not st.get("state"):
                continue
            bucket = st.get("bucket", "")
            info.add_metric([run_id, bucket, st["state"]], 1)
            for status, field in PAIR_FIELDS.items():
                pairs.add_metric([run_id, bucket, status], st.get(field, 0))
            for k in totals:
                totals[k] += st.get({"rendered": "rendered", "failed": "failed",
                                     "needs_review": "needs_review"}[k], 0)
            in_flight = len(book.in_flight()) if st["state"] not in ENDED else 0
            for status, value in (("total", st["chunks_total"]), ("done", st["chunks_done"]),
                                  ("in_flight", in_flight), ("resent", st["chunks_resent"])):
                chunks.add_metric([run_id, bucket, status], value)
            for stage, seconds in sorted(book.stage_seconds(st).items()):
                stages.add_metric([run_id, bucket, stage], seconds)
        active = 0
        for _bucket, run_id in BucketLock.active(self.r):
            if RunBook(self.r, run_id).state() not in (None, *ENDED):
                active += 1
        runs_active = GaugeMetricFamily("tryon_runs_active", "Runs holding a bucket's lock and not ended")
        runs_active.add_metric([], active)
        depth = GaugeMetricFamily("tryon_queue_depth", "Messages waiting in the render queue", labels=["queue"])
        depth.add_metric([self.s.queue], queue_depth(self.r, self.s.queue))
        out = [runs_active, depth, info, pairs, chunks, stages]
        for k, v in totals.items():
            g = GaugeMetricFamily(f"tryon_pairs_{k}", f"Pairs {k.replace('_', ' ')}, summed over the runs in Redis")
            g.add_metric([], v)
            out.append(g)
        return out


def main(argv=None) -> int:
    from prometheus_client import start_http_server

    ap = argparse.ArgumentParser(prog="python -m worker.metrics", description=__doc__.split("\n\n")[0])
    ap.add_argument("--address", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    ap.add_argument("--port", type=int, default=9808)
    args = ap.parse_args(argv)
    s = settings()
    client = redis.Redis.from_url(s.redis_url, socket_connect_timeout=5, socket_timeout=10)
    REGISTRY.register(RunCollector(client, s))
    start_http_server(args.port, addr=args.address)
    print(f"metrics on http://{args.address}:{args.port}/metrics (Redis {s.redis_url.split('@')[-1]})", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    raise SystemExit(main())
