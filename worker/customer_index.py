"""tryon/<customer>/_index.json: the fingerprints of one customer's composites.

    {"version": 1, "composites": {garment key: {"fingerprint", "etag", "chain", ...}}}

Workers merge what they wrote (and what they found up to date); the planner reads it with one
listing of the customer's folder instead of one HEAD per pair (producer/planner.py).
"""
from __future__ import annotations

import hashlib

import redis

from worker.storage import Storage


class CustomerIndex:
    def __init__(self, storage: Storage, key: str):
        self.storage = storage
        self.key = key

    @property
    def lock_key(self) -> str:
        return f"tryon:index-lock:{hashlib.sha1(self.key.encode()).hexdigest()}"

    def entries(self) -> dict[str, dict]:
        """garment key → its record; {} when the index does not exist."""
        return (self.storage.get_json(self.key) or {}).get("composites", {})

    def update(self, client: redis.Redis, updates: dict[str, dict], lock_timeout: int = 60) -> None:
        """Merge `updates` (garment key → record). Read-modify-write under a Redis lock, so two
        chunks of one customer do not lose each other's entries."""
        with client.lock(self.lock_key, timeout=lock_timeout, blocking_timeout=lock_timeout * 2):
            index = self.storage.get_json(self.key) or {"version": 1, "composites": {}}
            index["composites"].update(updates)
            self.storage.put_json(self.key, index)
