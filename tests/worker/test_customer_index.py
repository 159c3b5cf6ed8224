"""worker/customer_index.py against real S3 and Redis."""
from __future__ import annotations

import threading

from worker.customer_index import CustomerIndex


def test_customer_index_merges_concurrent_updates(storage_for, bucket, redis_client):
    index = CustomerIndex(storage_for(bucket), "tryon/alice/_index.json")
    assert index.entries() == {}
    threads = [threading.Thread(target=index.update, args=(redis_client, {f"catalogue/g{i}.jpg": {"fingerprint": str(i)}}))
               for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(index.entries()) == [f"catalogue/g{i}.jpg" for i in range(6)]
    assert index.storage.get_json(index.key)["version"] == 1
    assert index.lock_key.startswith("tryon:index-lock:")


def test_index_records_its_customer_and_loses_entries_of_deleted_composites(storage_for, bucket, redis_client):
    st = storage_for(bucket)
    index = CustomerIndex(st, "tryon/alice/_index.json")
    index.update(redis_client, {"catalogue/a.jpg": {"fingerprint": "1"}, "catalogue/b.jpg": {"fingerprint": "2"}},
                 customer="customers/alice.jpg")
    assert index.read()["customer"] == "customers/alice.jpg"
    assert index.remove(redis_client, ["catalogue/a.jpg", "catalogue/gone.jpg"]) == 1
    assert sorted(index.entries()) == ["catalogue/b.jpg"]
    assert index.remove(redis_client, ["catalogue/b.jpg"]) == 1
    assert st.head(index.key) is None  # no entry left: the index goes
    assert index.remove(redis_client, ["catalogue/b.jpg"]) == 0
