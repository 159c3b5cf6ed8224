"""`python -m producer forget` (producer/forget.py) and `make forget` against real SeaweedFS and
Redis, as an operator runs them (a subprocess with the stack's environment). The runs here are
recorded by the real run book and report code, with pairs recorded instead of rendered; the
real worker's composites and cache are forgotten in tests/e2e/test_lifecycle.py."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid

import numpy as np
import pytest

from producer.enqueue import start_run
from tests.support.search import mentions_in_bucket, mentions_in_redis, redis_dump
from tests.support.shop import CAT, CHAIN, CUST, composite_key, index_key, shop, write_composite
from worker.customer_index import CustomerIndex
from worker.local_stack import REPO, free_port
from worker.person_cache import PersonCache
from worker.runs import BucketLock, RunBook


def forget(stack, *args, env=None):
    return subprocess.run([sys.executable, "-m", "producer", "forget", *args], env={**stack.env, **(env or {})},
                          capture_output=True, text=True, timeout=120, cwd=REPO)


def recorded_run(st, redis_client, s, force=True) -> str:
    """A run whose chunks are recorded as rendered (a worker's records, without rendering)."""
    def record(call):
        book = RunBook(redis_client, call.kwargs["run"])
        plan = book.plan()
        pairs = []
        for a, b in call.kwargs["garments"]:
            for gi in range(a, b):
                etag = st.head(plan.composite_key(call.kwargs["customer"], gi))["etag"]
                pairs.append({"garment": gi, "status": "rendered", "etag": etag, "person_cached": False})
        book.record_chunk(call.kwargs["chunk"], call.kwargs["customer"], pairs)
    return start_run(st, redis_client, s, record, chain=CHAIN, force=force)["run_id"]


def cache_person(redis_client, s, bucket, customer, photo: bytes) -> str:
    """What a worker does for the customer's photo: a Person cached by content, listed under the customer."""
    from worker.person_cache import Person  # the chain's Person, wherever models/ keeps it

    cache = PersonCache(redis_client, ttl=s.person_cache_ttl)
    key = cache.key(photo, CHAIN)
    parse = np.zeros((8, 6), np.uint8)
    person = Person(photo=None, crop_box=(0, 0, 6, 8), keypoints=np.zeros((18, 3), np.float32), parse=parse,
                    stages={})
    cache.get_or_compute(key, np.zeros((8, 6, 3), np.uint8), lambda: person, owner=(bucket, customer))
    return key


def test_forget_removes_every_copy_of_a_customer_and_is_idempotent(stack, storage_for, bucket, batch_settings,
                                                                    redis_client):
    st = storage_for(bucket)
    s = batch_settings(bucket)
    zoe = f"zoe-{uuid.uuid4().hex[:8]}"  # a name nothing else in this Redis uses
    zoe_key = f"{CUST}{zoe}.jpg"
    shop(st, redis_client, customers=("yan", zoe), garments=("a", "b"))
    photos = [st.get(zoe_key).body]
    etags = [st.head(zoe_key)["etag"]]
    cached = [cache_person(redis_client, s, bucket, zoe_key, photos[0])]
    first = recorded_run(st, redis_client, s)
    # The photo changes: new composites, a second cached person; a second run.
    st.put(zoe_key, b"another photo of zoe", "image/jpeg")
    photos.append(b"another photo of zoe")
    etags.append(st.head(zoe_key)["etag"])
    cached.append(cache_person(redis_client, s, bucket, zoe_key, photos[1]))
    updates = {f"{CAT}{g}.png": write_composite(st, zoe, g)[1] for g in "ab"}
    CustomerIndex(st, index_key(zoe)).update(redis_client, updates, customer=zoe_key)
    st.put(f"{CUST}{zoe}.png", b"a second file, refused (same name)", "image/png")  # listed as invalid
    second = recorded_run(st, redis_client, s)
    import hashlib
    needles = [zoe, *etags, *(hashlib.sha256(p).hexdigest() for p in photos)]
    assert mentions_in_bucket(st, needles) and mentions_in_redis(redis_client, needles)  # the test can see them
    assert redis_client.exists(*cached) == 2

    # The shop deletes the customer's files, then forgets them. A dry run first: nothing changes.
    st.client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": zoe_key}, {"Key": f"{CUST}{zoe}.png"}]})
    bucket_before = {o.key: o.etag for o in st.list("")}
    redis_before = redis_dump(redis_client)
    out = forget(stack, "--bucket", bucket, "--dry-run", zoe_key, f"{CUST}{zoe}.png")
    assert out.returncode == 0, out.stderr
    assert f"  composites: would delete 2 ({composite_key(zoe, 'a')}, {composite_key(zoe, 'b')})" in out.stdout
    assert f"  index: would delete {index_key(zoe)}" in out.stdout
    assert "  person cache: would delete 2 entries" in out.stdout
    assert f"runs: would redact 2 run records (plan.json, report.json, index.html): {', '.join(sorted([first, second]))}; 2 in Redis" in out.stdout
    assert {o.key: o.etag for o in st.list("")} == bucket_before
    assert {k: v for k, v in redis_dump(redis_client).items() if zoe in v or k in cached} == \
        {k: v for k, v in redis_before.items() if zoe in v or k in cached}

    out = forget(stack, "--bucket", bucket, zoe_key, f"{CUST}{zoe}.png")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == f"forget in bucket {bucket}:"
    assert f"  composites: deleted 2 ({composite_key(zoe, 'a')}, {composite_key(zoe, 'b')})" in lines
    assert f"  person cache: deleted 2 entries" in lines and f"  index: deleted {index_key(zoe)}" in lines
    assert mentions_in_bucket(st, needles) == []
    assert mentions_in_redis(redis_client, needles) == []
    # Everybody else is still there, in the runs' records too.
    for run_id in (first, second):
        report = st.get_json(f"runs/{run_id}/report.json")
        assert {p["customer"] for p in report["pairs"]} == {f"{CUST}yan.jpg"}
        assert report["redacted"]["customers"] >= 1
        page = st.get(f"runs/{run_id}/index.html").body.decode()
        assert f'src="../../{composite_key("yan", "a")}"' in page and "forgotten customer(s) removed" in page
        assert RunBook(redis_client, run_id).plan().customers[0].key == f"{CUST}yan.jpg"
    assert {st.head(composite_key("yan", g)) is not None for g in "ab"} == {True}

    # Again: nothing left to remove, nothing changed.
    bucket_after = {o.key: o.etag for o in st.list("")}
    out = forget(stack, "--bucket", bucket, zoe_key, f"{CUST}{zoe}.png")
    assert out.returncode == 0, out.stderr
    assert "  composites: deleted 0" in out.stdout and "  index: none" in out.stdout
    assert "runs: redacted 0 run records (plan.json, report.json, index.html); 0 in Redis" in out.stdout
    assert {o.key: o.etag for o in st.list("")} == bucket_after


def test_forget_refuses_while_the_active_run_includes_the_customer(stack, storage_for, bucket, batch_settings,
                                                                   redis_client):
    st = storage_for(bucket)
    shop(st, redis_client, customers=("alice", "bob"), garments=("a",))
    run_id = start_run(st, redis_client, batch_settings(bucket), lambda call: None, chain=CHAIN, force=True)["run_id"]
    try:  # the run's messages were never delivered: it stays active, holding the bucket
        assert BucketLock(redis_client, bucket).holder() == run_id
        out = forget(stack, "--bucket", bucket, f"{CUST}alice.jpg")
        assert out.returncode == 3
        assert out.stderr == (f"error: refused: run {run_id} is active on bucket {bucket!r} and includes "
                              f"{CUST}alice.jpg; forget again once it has finished\n")
        assert st.head(composite_key("alice", "a")) is not None
        # A customer the active run does not include can be forgotten meanwhile.
        out = forget(stack, "--bucket", bucket, f"{CUST}carol.jpg")
        assert out.returncode == 0 and "  composites: deleted 0" in out.stdout, out.stderr
    finally:
        RunBook(redis_client, run_id).set_state("finished")
        BucketLock(redis_client, bucket).release(run_id)
    out = forget(stack, "--bucket", bucket, f"{CUST}alice.jpg")
    assert out.returncode == 0 and "  composites: deleted 1" in out.stdout, out.stderr


def test_forget_removes_the_customer_from_research_exports(stack, storage_for, bucket):
    """A bucket export (make prepare BUCKET=…) wrote the customer's person files: forget deletes
    them, drops their lines from the pairs file and their entries from the report; another
    customer's files and lines stay."""
    from models.export.layouts import pairs_text
    from models.export.run import build_report

    st = storage_for(bucket)
    root = "export/viton-hd/"
    persons, files = [], {}
    for name in ("kim", "lee"):
        paths = [f"test/image/{name}.jpg", f"test/image-parse/{name}.png", f"test/openpose_json/{name}_keypoints.json"]
        for path in paths:
            st.put(root + path, f"{name} {path}".encode(), "application/octet-stream")
        files[name] = [root + p for p in paths]
        persons.append({"key": f"{CUST}{name}.jpg", "name": name, "status": "exported", "files": paths, "notes": []})
    garments = [{"key": f"{CAT}shirt.png", "name": "shirt", "status": "exported", "files": ["test/cloth/shirt.jpg"],
                 "notes": []}]
    st.put(root + "test/cloth/shirt.jpg", b"shirt", "image/jpeg")
    report = build_report("viton-hd", split="test", source="s3://x", chain=CHAIN, framing="person", created="now",
                          persons=persons, garments=garments, invalid=[])
    st.put(root + report["pairs_file"], pairs_text(["kim", "lee"], ["shirt"]), "text/plain")
    st.put_json(root + "report.json", report)

    out = forget(stack, "--bucket", bucket, "--dry-run", f"{CUST}kim.jpg")
    assert out.returncode == 0, out.stderr
    assert f"  exports: would delete 3 files ({', '.join(files['kim'])})" in out.stdout
    assert all(st.head(k) is not None for k in files["kim"])

    out = forget(stack, "--bucket", bucket, f"{CUST}kim.jpg")
    assert out.returncode == 0, out.stderr
    assert f"  exports: deleted 3 files ({', '.join(files['kim'])})" in out.stdout
    assert [st.head(k) for k in files["kim"]] == [None] * 3
    assert all(st.head(k) is not None for k in files["lee"] + [root + "test/cloth/shirt.jpg"])
    assert st.get(root + report["pairs_file"]).body == b"lee.jpg shirt.jpg\n"
    after = st.get_json(root + "report.json")
    assert [p["key"] for p in after["persons"]] == [f"{CUST}lee.jpg"]
    assert after["counts"]["persons_exported"] == 1 and after["counts"]["pairs"] == 1
    assert "kim" not in json.dumps(after)

    out = forget(stack, "--bucket", bucket, f"{CUST}kim.jpg")
    assert out.returncode == 0 and "  exports: deleted 0 files" in out.stdout, out.stderr


@pytest.mark.parametrize("case", ["missing bucket", "unreachable redis", "unreachable s3", "not a customer key"])
def test_forget_fails_with_one_line(stack, case):
    args, env, expected = ["--bucket", "tryon-test", f"{CUST}alice.jpg"], {}, None
    if case == "missing bucket":
        args[1], expected = "no-such-bucket-here", "error: bucket 'no-such-bucket-here' does not exist"
    elif case == "unreachable redis":
        env = {"TRYON_BROKER_URL": f"redis://:secret@127.0.0.1:{free_port()}/0"}
        expected = "error: cannot reach Redis at redis://:***@127.0.0.1:"
    elif case == "unreachable s3":
        env = {"AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{free_port()}", "TRYON_S3_MAX_ATTEMPTS": "1"}
        expected = "error: cannot reach S3 at http://127.0.0.1:"
    else:
        args[2], expected = f"{CAT}a.png", "error: 'catalogue/a.png' is not a customer photo key"
    out = forget(stack, *args, env=env)
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stderr.startswith(expected) and out.stderr.count("\n") == 1, out.stderr
    assert "Traceback" not in out.stderr and "secret" not in out.stderr and out.stdout == ""


def test_make_forget_passes_the_documented_variables():
    if shutil.which("make") is None:
        pytest.skip("make not installed")
    out = subprocess.run(["make", "-n", "forget", "BUCKET=shop", "CUSTOMER=customers/a.jpg customers/b.jpg",
                          "DRY_RUN=1"], cwd=REPO, capture_output=True, text=True, timeout=60)
    cmd = " ".join(out.stdout.split())
    assert "-m producer forget --bucket shop --dry-run customers/a.jpg customers/b.jpg" in cmd, out.stdout + out.stderr
