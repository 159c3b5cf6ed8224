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
