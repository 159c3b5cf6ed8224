"""`python -m bench.producer_scale [--customers 10000] [--garments 1000]`: the producer at
catalogue scale, measured (issue: 10 000 customers × 1 000 garments without ten million
messages at once).

Starts its own Redis and SeaweedFS, uploads placeholder objects (the producer lists and plans;
it never decodes an image), runs one real run start (`producer.enqueue.start_run` with Celery's
send to that Redis; no worker, so every message stays queued), and reports: planning +
enqueue time, messages, bytes per message and Redis memory, and the producer's peak RSS.
Then it enqueues the same catalogue again to time the up-to-date check with nothing
rendered (one LIST per customer). Prints a JSON summary; writes it to --out if given.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.producer_scale", description=__doc__.split("\n\n")[0])
    ap.add_argument("--customers", type=int, default=10000)
    ap.add_argument("--garments", type=int, default=1000)
    ap.add_argument("--chunk-size", type=int, default=32)
    ap.add_argument("--out", help="also write the summary here (JSON)")
    args = ap.parse_args(argv)

    from worker.local_stack import S3_ACCESS_KEY, S3_SECRET_KEY, start_redis, start_s3

    bucket = "scale"
    with tempfile.TemporaryDirectory(prefix="tryon-scale-") as tmp:
        redis_proc, redis_url = start_redis(Path(tmp) / "redis")
        s3_proc, endpoint = start_s3(Path(tmp), bucket)
        try:
            # worker.celery_app reads the broker from the environment at import: set it first.
            os.environ.update({"TRYON_BROKER_URL": redis_url, "TRYON_BUCKET": bucket,
                               "TRYON_CHUNK_SIZE": str(args.chunk_size), "AWS_ENDPOINT_URL_S3": endpoint,
                               "AWS_ACCESS_KEY_ID": S3_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY})
            import redis

            from producer.enqueue import start_run
            from worker.config import settings
            from worker.runs import RunBook
            from worker.storage import Storage
            from worker.tasks import send_render

            s = settings()
            storage = Storage.from_settings(s)
            keys = [f"customers/c{i:05d}.jpg" for i in range(args.customers)] + \
                   [f"catalogue/g{i:04d}.jpg" for i in range(args.garments)]
            t0 = time.perf_counter()
            with ThreadPoolExecutor(32) as pool:
                list(pool.map(lambda k: storage.put(k, k.encode(), "image/jpeg"), keys))
            upload_s = time.perf_counter() - t0
            print(f"uploaded {len(keys)} placeholder objects in {upload_s:.1f} s", file=sys.stderr)

            client = redis.Redis.from_url(redis_url)
            base_memory = client.info("memory")["used_memory"]
            t0 = time.perf_counter()
            run = start_run(storage, client, s, send_render)
            first_s = time.perf_counter() - t0
            queued = client.llen(s.queue)
            memory = client.info("memory")["used_memory"] - base_memory
            summary = {
                "customers": args.customers, "garments": args.garments, "chunk_size": args.chunk_size,
                "pairs": args.customers * args.garments, "messages": run["chunks"], "queued": queued,
                "first_run_seconds": round(first_s, 1),
                "messages_per_second": round(run["chunks"] / first_s),
                "redis_bytes_per_message": round(memory / max(1, queued)),
                "redis_memory_mb": round(memory / 2**20),
                "producer_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            }
            # The same catalogue again (the first run "finished" by hand): nothing was rendered,
            # so every customer's LIST comes back empty and every pair is planned again.
            RunBook(client, run["run_id"]).set_state("finished")
            client.delete(s.queue)
            t0 = time.perf_counter()
            again = start_run(storage, client, s, send_render)
            summary["second_run_seconds"] = round(time.perf_counter() - t0, 1)
            summary["second_run_messages"] = again["chunks"]
        finally:
            s3_proc.stop()
            redis_proc.stop()
    print(json.dumps(summary, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
