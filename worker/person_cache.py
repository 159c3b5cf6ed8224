"""Per-customer cache: pose + parsing computed once per (photo content, chain version).

The value is models.contract.Person.to_bytes() (keypoints + PNG label maps, a few KB) in Redis
with a TTL. Single flight: the first worker to miss takes a Redis lock and computes; any
other worker that misses meanwhile blocks on the same lock and, once it gets it, finds the
value and reads it instead of computing. A photo the chain rejects (BadInputError) is
cached too, as its reason, so the second worker fails fast with the same message.

Findable by customer: every entry a customer's photo used is also listed in a Redis set of
that customer (bucket + photo key), kept as long as the entries it lists, so forgetting a
customer (producer/forget.py) deletes the cached person of every photo content that key has
had, not only the current one.

Redis keys, built here only:
    tryon:person:<chain version>:<sha256 of the photo>   the Person (or REJECTED:<reason>)
    tryon:person:<chain version>:<sha256>:lock           single-flight lock
    tryon:person-by-customer:<sha256 of bucket, key>     set: the entry keys that customer's photos used
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

    def customer_key(self, bucket: str, customer: str) -> str:
        """The set of entry keys used by the photos of `customer` (an object key) in `bucket`; the
        name is a hash, so Redis key names do not carry customer names."""
        return f"{self.ns}-by-customer:{hashlib.sha256(f'{bucket}/{customer}'.encode()).hexdigest()}"

    def remember(self, bucket: str, customer: str, key: str) -> None:
        """Record that `customer`'s photo uses entry `key`. The set lives as long as its newest
        entry can (the TTL is renewed on every use)."""
        owner = self.customer_key(bucket, customer)
        pipe = self.r.pipeline()
        pipe.sadd(owner, key)
        pipe.expire(owner, self.ttl)
        pipe.execute()

    def entries_of(self, bucket: str, customer: str) -> list[str]:
        """Entry keys recorded for `customer` (some may have expired since)."""
        return sorted(m.decode() for m in self.r.smembers(self.customer_key(bucket, customer)))

    def entries_for_content(self, photo_bytes: bytes) -> list[str]:
        """Entry keys of this photo content under any chain version (entries cached before they
        were recorded per customer are found this way, for the photo as it is now)."""
        digest = hashlib.sha256(photo_bytes).hexdigest()
        return sorted(k.decode() for k in self.r.scan_iter(match=f"{self.ns}:*:{digest}", count=1000))

    def forget(self, bucket: str, customer: str, also: list[str] = (), dry_run: bool = False) -> list[str]:
        """Delete every entry `customer`'s photos used (plus the keys in `also`), their locks and
        the customer's set; returns the entries that existed."""
        owner = self.customer_key(bucket, customer)
        keys = sorted(set(self.entries_of(bucket, customer)) | set(also))
        pipe = self.r.pipeline(transaction=False)
        for k in keys:
            pipe.exists(k)
        existing = [k for k, n in zip(keys, pipe.execute()) if n]
        if not dry_run:
            pipe = self.r.pipeline()
            for k in keys:
                pipe.delete(k, self.lock_key(k))
            pipe.delete(owner)
            pipe.execute()
        return existing

    def get_or_compute(self, key: str, photo: np.ndarray, compute: Callable[[], Person],
                       owner: tuple[str, str] | None = None) -> tuple[Person, bool]:
        """(Person with `photo` attached, True if it came from the cache). `owner`: (bucket,
        customer photo key), recorded so the entry can be found by customer (`forget`)."""
        if owner is not None:  # before computing: a worker that dies mid-way leaves nothing unlisted
            self.remember(*owner, key)
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
            data = person.to_bytes()
            self.r.set(key, data, ex=self.ttl)
            # Render from what the cache holds, as every later chunk will, so that a customer's
            # first chunk cannot differ from later ones whatever the serialised form drops
            # (make chaos once found body points rounded to 0.1 px moving a composite by 57 levels).
            name = person.name
            person = Person.from_bytes(data, photo=photo)
            person.name = name
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
