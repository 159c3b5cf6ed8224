"""worker/person_cache.py against real Redis: one computation per photo, shared by every worker."""
from __future__ import annotations

import hashlib
import threading
import time

import numpy as np
import pytest

from models.contract import BadInputError
from models.contract import Person
from worker.person_cache import PersonCache
from worker.runs import new_run_id


def person(tag: int) -> Person:
    parse = np.zeros((64, 48), np.uint8)
    parse[10:50, 10:40] = 5
    kp = np.full((18, 3), tag, np.float32)
    return Person(photo=None, crop_box=(0, 0, 48, 64), keypoints=kp, parse=parse,
                  stages={"pose": {"impl": "test", "weights": {}}})


def test_cache_keys_name_the_chain_and_the_photos_content():
    cache = PersonCache(client=None, ttl=60)
    key = cache.key(b"photo bytes", "v1")
    assert key == "tryon:person:v1:" + hashlib.sha256(b"photo bytes").hexdigest()
    assert cache.key(b"photo bytes", "v2") != key and cache.key(b"other", "v1") != key
    assert PersonCache.lock_key(key) == key + ":lock"


def test_person_cache_single_flight(redis_client):
    cache = PersonCache(redis_client, ttl=60, namespace=f"test:person:{new_run_id()}")
    key = cache.key(b"photo bytes", "v1")
    calls = []

    def compute():
        calls.append(threading.current_thread().name)
        time.sleep(1.0)  # long enough that the other thread arrives while this one computes
        return person(7)

    photo = np.zeros((64, 48, 3), np.uint8)
    out = {}
    threads = [threading.Thread(target=lambda n=n: out.__setitem__(n, cache.get_or_compute(key, photo, compute)),
                                name=f"t{n}") for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(calls) == 1, "both workers computed the same person"
    assert sorted(hit for _, hit in out.values()) == [False, True]
    for p, _ in out.values():
        assert p.photo is photo and float(p.keypoints[0, 0]) == 7 and int(p.parse.max()) == 5
    assert redis_client.ttl(key) > 0


def test_person_cache_remembers_rejections(redis_client):
    cache = PersonCache(redis_client, ttl=60, namespace=f"test:person:{new_run_id()}")
    key = cache.key(b"no person here", "v1")
    calls = []

    def compute():
        calls.append(1)
        raise BadInputError("customers/empty.jpg: no person found")

    for _ in range(2):
        with pytest.raises(BadInputError, match="no person found"):
            cache.get_or_compute(key, np.zeros((8, 8, 3), np.uint8), compute)
    assert calls == [1]


def test_entries_are_findable_by_customer_and_forgotten_with_it(redis_client):
    """Every photo content a customer key has had is listed under that key (and bucket), so
    forgetting the customer deletes all of them, not only the current photo's entry."""
    cache = PersonCache(redis_client, ttl=60, namespace=f"test:person:{new_run_id()}")
    photo = np.zeros((64, 48, 3), np.uint8)
    old, new, other = (cache.key(b, "v1") for b in (b"zoe photo 1", b"zoe photo 2", b"yan photo"))
    cache.get_or_compute(old, photo, lambda: person(1), owner=("shop", "customers/zoe.jpg"))
    cache.get_or_compute(new, photo, lambda: person(2), owner=("shop", "customers/zoe.jpg"))
    cache.get_or_compute(other, photo, lambda: person(3), owner=("shop", "customers/yan.jpg"))
    # The same key in another bucket is another customer.
    cache.get_or_compute(new, photo, lambda: person(2), owner=("other-shop", "customers/zoe.jpg"))
    assert cache.entries_of("shop", "customers/zoe.jpg") == sorted([old, new])
    owner = cache.customer_key("shop", "customers/zoe.jpg")
    assert "zoe" not in owner and 0 < redis_client.ttl(owner) <= 60
    # A rejected photo is listed too (its entry holds a reason naming the customer).
    rejected = cache.key(b"zoe photo 3", "v1")

    def reject():
        raise BadInputError("customers/zoe.jpg: no person found")

    with pytest.raises(BadInputError):
        cache.get_or_compute(rejected, photo, reject, owner=("shop", "customers/zoe.jpg"))
    # An entry cached before entries were listed per customer: found by the photo's content.
    legacy = cache.key(b"zoe photo 2", "v0")
    redis_client.set(legacy, person(0).to_bytes(), ex=60)
    assert cache.entries_for_content(b"zoe photo 2") == sorted([legacy, new])

    assert cache.forget("shop", "customers/zoe.jpg", also=[legacy], dry_run=True) == sorted([old, new, rejected,
                                                                                             legacy])
    assert redis_client.exists(old, new, rejected, legacy, owner) == 5  # a dry run deletes nothing
    assert cache.forget("shop", "customers/zoe.jpg", also=[legacy]) == sorted([old, new, rejected, legacy])
    assert redis_client.exists(old, new, rejected, legacy, owner) == 0
    assert redis_client.exists(other) == 1 and cache.entries_of("shop", "customers/yan.jpg") == [other]
    assert cache.forget("shop", "customers/zoe.jpg") == []  # idempotent


def test_a_computed_person_is_returned_as_the_cache_holds_it(redis_client):
    """The first chunk of a customer renders from the same Person later chunks read back (a
    fresh Person once rendered differently: Person.to_bytes rounded its body points)."""
    from models.contract import BodyLayout

    cache = PersonCache(redis_client, ttl=60, namespace=f"test:person:{new_run_id()}")
    fresh = person(3)
    fresh.layout = BodyLayout(photo_hw=(64, 48), points={"nose": (10.123456, 20.987654, 0.912345)}, extent=(0, 0, 48, 64))
    fresh.name = "customers/a.jpg"
    photo = np.zeros((64, 48, 3), np.uint8)
    got, hit = cache.get_or_compute(cache.key(b"a", "v1"), photo, lambda: fresh)
    cached, hit2 = cache.get_or_compute(cache.key(b"a", "v1"), photo, lambda: fresh)
    assert (hit, hit2) == (False, True)
    assert got is not fresh and got.layout.points == cached.layout.points == fresh.layout.points
    assert got.photo is photo and got.name == "customers/a.jpg"
