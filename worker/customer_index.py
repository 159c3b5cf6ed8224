"""tryon/<customer>/_index.json: the fingerprints of one customer's composites.

    {"version": 1, "customer": photo key, "composites": {garment key: {"fingerprint", "etag", "chain", ...}}}

Workers merge what they wrote (and what they found up to date); the planner reads it with one
listing of the customer's folder instead of one HEAD per pair (producer/planner.py). Pruning
removes the entries of composites it deleted, forgetting deletes the index. ("customer" is
written since pruning exists; older indexes lack it.)
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

    def read(self) -> dict | None:
        """The whole index, or None when it does not exist."""
        return self.storage.get_json(self.key)

    def entries(self) -> dict[str, dict]:
        """garment key → its record; {} when the index does not exist."""
        return (self.read() or {}).get("composites", {})

    def update(self, client: redis.Redis, updates: dict[str, dict], lock_timeout: int = 60,
               customer: str | None = None) -> None:
        """Merge `updates` (garment key → record); `customer`: the photo key the index is for.
        Read-modify-write under a Redis lock, so two chunks of one customer do not lose each
        other's entries."""
        with client.lock(self.lock_key, timeout=lock_timeout, blocking_timeout=lock_timeout * 2):
            index = self.storage.get_json(self.key) or {"version": 1, "composites": {}}
            index["composites"].update(updates)
            if customer is not None:
                index["customer"] = customer
            self.storage.put_json(self.key, index)

    def remove(self, client: redis.Redis, garment_keys, lock_timeout: int = 60) -> int:
        """Drop the entries of `garment_keys` (their composites were deleted); the index itself
        goes when no entry is left. Returns the number of entries removed."""
        with client.lock(self.lock_key, timeout=lock_timeout, blocking_timeout=lock_timeout * 2):
            index = self.storage.get_json(self.key)
            if index is None:
                return 0
            entries = index.get("composites", {})
            gone = [g for g in garment_keys if g in entries]
            for g in gone:
                del entries[g]
            if not entries:
                self.storage.delete_many([self.key])
            elif gone:
                self.storage.put_json(self.key, index)
            return len(gone)
