"""worker/storage.py: paging, metadata and error classification (SeaweedFS for the S3 cases, a closed
port for a dead endpoint, SeaweedFS for paging)."""
from __future__ import annotations

import dataclasses

import pytest

from worker.config import settings
from worker.local_stack import free_port
from worker.storage import TRANSIENT_ERRORS, ObjectMissingError, Storage, make_client


def test_missing_objects_are_not_transient(storage_for, bucket):
    st = storage_for(bucket)
    assert st.head("nope.jpg") is None and st.get_json("nope.json") is None
    with pytest.raises(ObjectMissingError):
        st.get("nope.jpg")
    st.put("a.jpg", b"x", "image/jpeg", {"tryon-fingerprint": "abc"})
    assert st.head("a.jpg")["metadata"] == {"tryon-fingerprint": "abc"}


def test_dead_endpoint_raises_a_transient_error():
    s = dataclasses.replace(settings(), s3_endpoint_url=f"http://127.0.0.1:{free_port()}", s3_access_key="k",
                            s3_secret_key="s")
    st = Storage(make_client(s, max_attempts=1), "b")
    with pytest.raises(TRANSIENT_ERRORS):
        st.head("a.jpg")


def test_storage_lists_every_page_and_keeps_metadata(storage_for, bucket):
    st = storage_for(bucket)
    for i in range(23):
        st.put(f"catalogue/g{i:02d}.jpg", b"x" * (i + 1), "image/jpeg", {"tryon-n": str(i)})
    listed = list(st.list("catalogue/", page_size=5))  # 5 pages
    assert [o.key for o in listed] == [f"catalogue/g{i:02d}.jpg" for i in range(23)]
    assert [o.size for o in listed] == list(range(1, 24))
    head = st.head("catalogue/g07.jpg")
    assert head["metadata"] == {"tryon-n": "7"} and head["etag"] == listed[7].etag
    assert st.get("catalogue/g07.jpg").body == b"x" * 8
    assert st.head("catalogue/none.jpg") is None
    with pytest.raises(ObjectMissingError):
        st.get("catalogue/none.jpg")


def test_delete_many_deletes_in_batches_and_is_idempotent(storage_for, bucket):
    st = storage_for(bucket)
    for i in range(5):
        st.put(f"tryon/a/{i}.jpg", b"x", "image/jpeg")
    assert st.delete_many([f"tryon/a/{i}.jpg" for i in range(3)] + ["tryon/a/never.jpg"]) == 4
    assert [o.key for o in st.list("tryon/")] == ["tryon/a/3.jpg", "tryon/a/4.jpg"]
    assert st.delete_many(["tryon/a/0.jpg"]) == 1 and st.delete_many([]) == 0
    assert st.bucket_exists() and not Storage(st.client, "no-such-bucket-here").bucket_exists()
