"""What a run's bookkeeping in Redis has in common, for render runs (`worker/runs.py`, RunBook)
and bucket exports (`worker/export_job.py`, ExportBook): a hash under `<KEY_PREFIX><id>`, the plan
and the once-only "finalized" flag beside it, and a Lua script that records one result once."""
from __future__ import annotations

import redis


class Book:
    KEY_PREFIX = ""     # e.g. "tryon:run:"
    RECORD_SCRIPT = ""  # Lua: record one result once (KEYS/ARGV as the subclass's record call passes them)

    def __init__(self, client: redis.Redis, run_id: str, ttl: int = 14 * 24 * 3600):
        self.r = client
        self.run_id = run_id
        self.ttl = ttl
        self._record = client.register_script(self.RECORD_SCRIPT)

    @property
    def key(self) -> str:
        return f"{self.KEY_PREFIX}{self.run_id}"

    @property
    def plan_key(self) -> str:
        return f"{self.key}:plan"

    @property
    def finalized_key(self) -> str:
        return f"{self.key}:finalized"
