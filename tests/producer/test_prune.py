"""producer/prune.py inside a run (producer/enqueue.start_run) against real SeaweedFS and Redis,
no worker: composites written the way the worker writes them (keys.composite_metadata, the
customer's index), then inputs deleted. A run prunes exactly the composites of removed garments
and customers, never an object of an input that exists, of an input it did not judge, or one the
renderer did not write; a listing error (injected by chaos/fault_proxy.py between the producer
and SeaweedFS) prunes nothing."""
from __future__ import annotations

import contextlib

import botocore.exceptions
import pytest

from producer.enqueue import dry_run, start_run
from tests.support.shop import CAT, CHAIN, CUST, OUT, composite_key, index_key, shop
from worker import keys
from worker.customer_index import CustomerIndex
from worker.runs import RunBook
from worker.storage import Storage, make_client


def objects(st) -> dict[str, str]:
    return {o.key: o.etag for o in st.list(OUT)}


def run(st, redis_client, s, **kw) -> tuple[dict, dict]:
    """start_run with nothing to render: the report is written at once. (summary, report)"""
    sent = []
    summary = start_run(st, redis_client, s, sent.append, chain=CHAIN, **kw)
    assert sent == [], "every composite was up to date: nothing should be rendered"
    return summary, st.get_json(f"runs/{summary['run_id']}/report.json")


def test_a_run_prunes_the_composites_of_a_removed_garment_only(storage_for, bucket, batch_settings, redis_client):
    st = storage_for(bucket)
    shop(st, redis_client)
    stray = keys.customer_folder(OUT, f"{CUST}alice.jpg", CUST) + "notes.txt"  # not the renderer's
    st.put(stray, b"kept", "text/plain")
    before = objects(st)
    st.client.delete_object(Bucket=bucket, Key=f"{CAT}b.png")

    summary, report = run(st, redis_client, batch_settings(bucket))
    gone = {composite_key(c, "b") for c in ("alice", "bob")}
    indexes = {index_key(c) for c in ("alice", "bob")}
    after = objects(st)
    assert set(after) == set(before) - gone  # the indexes stay, without b's entries (below)
    assert {k: after[k] for k in set(after) - indexes} == {k: before[k] for k in set(after) - indexes}  # untouched
    assert summary["pruned"] == 2 and report["counts"]["pruned"] == 2
    assert report["prune"]["status"] == "done" and report["prune"]["gone_garments"] == 1
    assert report["prune"]["index_entries_removed"] == 2 and report["prune"]["bytes"] > 0
    for c in ("alice", "bob"):
        assert sorted(CustomerIndex(st, index_key(c)).entries()) == [f"{CAT}a.png", f"{CAT}c.png"]
    assert summary["prune_lines"][0].startswith("prune: deleted 2 composites (")
    assert "1 removed garment (catalogue/b.png) and 0 removed customers" in summary["prune_lines"][0]
    # The next run has nothing left to prune.
    summary, report = run(st, redis_client, batch_settings(bucket))
    assert summary["pruned"] == 0 and report["prune"]["status"] == "done"


def test_a_run_prunes_a_removed_customers_composites_and_index(storage_for, bucket, batch_settings, redis_client):
    st = storage_for(bucket)
    shop(st, redis_client, customers=("alice", "bob", "carol"), legacy_index=("bob",))
    assert "customer" not in st.get_json(index_key("bob"))  # written before indexes named their customer
    before = objects(st)
    for c in ("bob", "carol"):
        st.client.delete_object(Bucket=bucket, Key=f"{CUST}{c}.jpg")

    summary, report = run(st, redis_client, batch_settings(bucket))
    remaining = objects(st)
    assert remaining == {k: v for k, v in before.items() if k in {composite_key("alice", g) for g in "abc"}
                         | {index_key("alice")}}
    assert report["counts"]["pruned"] == 6
    assert (report["prune"]["gone_customers"], report["prune"]["indexes_deleted"]) == (2, 2)
    assert "0 removed garments and 2 removed customers" in summary["prune_lines"][0]
    assert "bob" not in " ".join(summary["prune_lines"])  # customers are counted, never named


def test_what_a_run_never_prunes(storage_for, bucket, batch_settings, redis_client):
    """Composites of inputs that exist (even refused ones), of inputs outside the listed prefixes,
    written under another name, and objects the renderer did not write, all stay."""
    st = storage_for(bucket)
    shop(st, redis_client, customers=("alice", "dave"))
    st.put(f"{CUST}dave.jpg", b"", "image/jpeg")  # now refused (empty object) but still there
    meta = st.head(composite_key("alice", "a"))["metadata"]
    st.put(f"{OUT}elsewhere/alice-a.jpg", b"jpeg", "image/jpeg", meta)  # live inputs, another name
    st.put(f"{OUT}vip/zed/a.jpg", b"jpeg", "image/jpeg",
           dict(meta, **{"tryon-customer": "vip/zed.jpg"}))  # a customer outside the listed prefix
    st.put(f"{OUT}readme.txt", b"hand-made", "text/plain")
    st.put(f"{OUT}orphan/_index.json", b'{"version": 1, "composites": {}}', "application/json")
    before = objects(st)

    summary, report = run(st, redis_client, batch_settings(bucket))
    assert report["invalid"][0]["key"] == f"{CUST}dave.jpg"
    assert objects(st) == before and summary["pruned"] == 0 and report["prune"]["status"] == "done"


def test_an_input_prefix_that_lists_empty_is_not_judged(storage_for, bucket, batch_settings, redis_client):
    st = storage_for(bucket)
    shop(st, redis_client, customers=("alice",), garments=("a", "b"))
    before = objects(st)
    for g in "ab":  # the whole catalogue gone (or a wrong prefix, a bad mount …)
        st.client.delete_object(Bucket=bucket, Key=f"{CAT}{g}.png")
    summary, report = run(st, redis_client, batch_settings(bucket))
    assert objects(st) == before and summary["pruned"] == 0
    assert report["prune"]["status"] == "done (garments listed empty: not judged)"


def test_dry_run_shows_what_pruning_would_delete_and_deletes_nothing(storage_for, bucket, batch_settings,
                                                                      redis_client):
    st = storage_for(bucket)
    shop(st, redis_client)
    st.client.delete_object(Bucket=bucket, Key=f"{CAT}c.png")
    before = objects(st)
    lines = []
    dry_run(st, batch_settings(bucket), chain=CHAIN, out=lines.append)
    assert "prune: would delete 2 composites" in "\n".join(lines)
    assert any("1 removed garment (catalogue/c.png)" in line for line in lines)
    assert any(line.startswith("prune: would delete 0 indexes of removed customers and 2 entries") for line in lines)
    assert objects(st) == before and list(st.list("runs/")) == []


def test_pruning_switched_off_or_skipped_deletes_nothing(storage_for, bucket, batch_settings, redis_client):
    st = storage_for(bucket)
    shop(st, redis_client)
    st.client.delete_object(Bucket=bucket, Key=f"{CAT}a.png")
    before = objects(st)
    summary, report = run(st, redis_client, batch_settings(bucket, prune=False))
    assert objects(st) == before and report["counts"]["pruned"] == 0
    assert report["prune"]["status"] == "off (TRYON_PRUNE=off)" and summary["prune_lines"] == [
        "prune: off (TRYON_PRUNE=off)"]
    summary, report = run(st, redis_client, batch_settings(bucket), skip_prune="a narrowed listing")
    assert objects(st) == before and report["prune"]["status"] == "skipped: a narrowed listing"


# --- listing errors, injected between the producer and SeaweedFS -----------------------------------
@contextlib.contextmanager
def through_fault_proxy(stack, batch_settings, bucket, **faults):
    """A Storage whose requests pass chaos/fault_proxy.py (2 keys per listing page, 2 attempts per
    request), and the proxy."""
    from chaos.fault_proxy import FaultPlan, FaultProxy

    host, port = stack.s3_endpoint.rsplit("//", 1)[1].split(":")
    with FaultProxy((host, int(port)), FaultPlan(**faults)) as proxy:
        s = batch_settings(bucket, s3_endpoint_url=proxy.endpoint)
        yield Storage(make_client(s, max_attempts=2), bucket, page_size=2), s, proxy


def test_a_listing_error_while_pruning_prunes_nothing(stack, storage_for, bucket, batch_settings, redis_client):
    """The output listing fails on its second page, after the first page listed orphans: nothing
    is deleted (candidates are all found first); the run itself goes on and says why."""
    st = storage_for(bucket)
    shop(st, redis_client)
    st.client.delete_object(Bucket=bucket, Key=f"{CAT}a.png")  # alice's and bob's `a` are orphans
    before = objects(st)
    assert composite_key("alice", "a") in sorted(before)[:2]  # on the first page of two keys
    second_output_page = r"[?&]prefix=tryon/(&.*)?continuation-token=|continuation-token=.*[?&]prefix=tryon/(&|$)"
    with through_fault_proxy(stack, batch_settings, bucket, unavailable_requests=(second_output_page,)) as (
            proxied, s, proxy):
        summary, report = run(proxied, redis_client, s)
        assert proxy.stats()["error_503"] == 2  # the page was asked for twice (2 attempts), refused twice
    assert objects(st) == before
    assert summary["pruned"] == 0 and report["counts"]["pruned"] == 0
    assert report["prune"]["status"].startswith("aborted: nothing deleted (ClientError:")
    assert "SlowDown" in report["prune"]["status"]
    assert summary["prune_lines"][0].startswith("prune: aborted: nothing deleted")


def test_a_catalogue_listing_error_aborts_the_run_before_anything_is_pruned(stack, storage_for, bucket,
                                                                            batch_settings, redis_client):
    """The catalogue lists its first page, then fails: the garments of the second page merely
    failed to list. The run stops before pruning; every composite stays, and the bucket is free."""
    st = storage_for(bucket)
    shop(st, redis_client, garments=("a", "b", "c", "d"))
    st.client.delete_object(Bucket=bucket, Key=f"{CAT}a.png")  # a real orphan, kept too: no pruning at all
    before = objects(st)
    second_catalogue_page = r"[?&]prefix=catalogue/(&.*)?continuation-token=|continuation-token=.*[?&]prefix=catalogue/(&|$)"
    with through_fault_proxy(stack, batch_settings, bucket, unavailable_requests=(second_catalogue_page,)) as (
            proxied, s, proxy):
        with pytest.raises(botocore.exceptions.ClientError, match="SlowDown"):
            start_run(proxied, redis_client, s, lambda call: pytest.fail("nothing may be sent"), chain=CHAIN,
                      run_id=f"{bucket}-listing-error")
        assert proxy.stats()["error_503"] == 2
    assert objects(st) == before
    assert RunBook(redis_client, f"{bucket}-listing-error").state() == "aborted"
    assert redis_client.get(f"tryon:active-run:{bucket}") is None
    # Once the listing works again, the run prunes what is really gone, and only that.
    summary, _ = run(st, redis_client, batch_settings(bucket))
    assert summary["pruned"] == 2 and set(before) - set(objects(st)) == {composite_key(c, "a") for c in ("alice", "bob")}
