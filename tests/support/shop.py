"""A shop's bucket as a finished run leaves it, without rendering: inputs, every pair's
composite with the metadata the worker writes (worker/keys.composite_metadata) and each
customer's index (producer/prune and producer/forget tests; the e2e tests use the real worker)."""
from __future__ import annotations

from worker import keys
from worker.customer_index import CustomerIndex
from worker.plan import fingerprint

CHAIN = "v1"
OUT, CUST, CAT = "tryon/", "customers/", "catalogue/"


def composite_key(customer: str, garment: str) -> str:
    return keys.composite_key(OUT, f"{CUST}{customer}.jpg", CUST, f"{CAT}{garment}.png", CAT)


def index_key(customer: str) -> str:
    return keys.index_key(OUT, f"{CUST}{customer}.jpg", CUST)


def write_composite(st, customer: str, garment: str, run_id: str = "r0") -> tuple[str, dict]:
    """(ETag, index record) of the pair's composite, made from the inputs as they are now."""
    ckey, gkey = f"{CUST}{customer}.jpg", f"{CAT}{garment}.png"
    cetag, getag = st.head(ckey)["etag"], st.head(gkey)["etag"]
    fp = fingerprint(cetag, getag, CHAIN)
    meta = keys.composite_metadata(fp=fp, customer_key=ckey, customer_etag=cetag, garment_key=gkey,
                                   garment_etag=getag, chain_version=CHAIN, stages={}, timings={}, run_id=run_id)
    etag = st.put(composite_key(customer, garment), f"jpeg {customer} {garment} {cetag}".encode(), "image/jpeg", meta)
    return etag, {"fingerprint": fp, "etag": etag, "chain": CHAIN, "customer_etag": cetag, "garment_etag": getag}


def shop(st, redis_client, customers=("alice", "bob"), garments=("a", "b", "c"), legacy_index=()):
    for c in customers:
        st.put(f"{CUST}{c}.jpg", f"photo of {c}".encode(), "image/jpeg")
    for g in garments:
        st.put(f"{CAT}{g}.png", f"garment {g}".encode(), "image/png")
    for c in customers:
        updates = {f"{CAT}{g}.png": write_composite(st, c, g)[1] for g in garments}
        CustomerIndex(st, index_key(c)).update(redis_client, updates,
                                               customer=None if c in legacy_index else f"{CUST}{c}.jpg")
