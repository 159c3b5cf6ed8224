"""Per-customer cache: pose + parsing computed once per (photo content, chain version).

The value is models.contract.Person.to_bytes() (keypoints + PNG label maps, a few KB) in Redis
with a TTL. Single flight: the first worker to miss takes a Redis lock and computes; any
other worker that misses meanwhile blocks on the same lock and, once it gets it, finds the
value and reads it instead of computing. A photo the chain rejects (BadInputError) is
cached too, as its reason, so the second worker fails fast with the same message.
"""
from __future__ import annotations

import hashlib
import logging
from typing import Callable

import numpy as np
import redis

from models.contract import BadInputError
from models.contract import Person

log = logging.getLogger(__name__)
_REJECTED = b"REJECTED:"


class PersonCache:
    def __init__(self, client: redis.Redis, ttl: int, lock_timeout: int = 600, wait_timeout: int = 900,
                 namespace: str = "tryon:person"):
        self.r = client
        self.ttl = ttl
        self.lock_timeout = lock_timeout  # a computing worker that died frees the lock after this
        self.wait_timeout = wait_timeout
        self.ns = namespace

    def key(self, photo_bytes: bytes, chain_version: str) -> str:
        """tryon:person:<chain version>:<sha256 of the photo's bytes>"""
        return f"{self.ns}:{chain_version}:{hashlib.sha256(photo_bytes).hexdigest()}"

    @staticmethod
    def lock_key(key: str) -> str:
        return f"{key}:lock"

    def get_or_compute(self, key: str, photo: np.ndarray, compute: Callable[[], Person]) -> tuple[Person, bool]:
        """(Person with `photo` attached, True if it came from the cache)."""
        hit = self._read(key, photo)
        if hit is not None:
            return hit, True
        lock = self.r.lock(self.lock_key(key), timeout=self.lock_timeout, blocking_timeout=self.wait_timeout)
        if not lock.acquire(blocking=True):
            raise TimeoutError(f"person cache: waited {self.wait_timeout}s for {key}")
        try:
            hit = self._read(key, photo)  # computed by the lock's previous holder
            if hit is not None:
                return hit, True
            try:
                person = compute()
            except BadInputError as e:
                self.r.set(key, _REJECTED + str(e).encode(), ex=min(self.ttl, 24 * 3600))
                raise
            self.r.set(key, person.to_bytes(), ex=self.ttl)
            if person.photo is None:
                person.photo = photo
            return person, False
        finally:
            try:
                lock.release()
            except redis.exceptions.LockError:  # expired while computing: someone else may hold it now
                log.warning("person cache lock %s expired before release", key)

    def _read(self, key: str, photo: np.ndarray) -> Person | None:
        data = self.r.get(key)
        if data is None:
            return None
        if data.startswith(_REJECTED):
            raise BadInputError(data[len(_REJECTED):].decode())
        return Person.from_bytes(data, photo=photo)
