"""Batch system pieces that need no server: keys, plan arithmetic, image guards, report, config,
and S3 error classification (moto for the small S3 cases, a closed port for a dead endpoint)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
import json

import boto3
import cv2
import numpy as np
import pytest

from models.chain import BadInputError
from producer.plan import describe_ranges, from_ranges, task_call, to_ranges
from worker import keys
from worker.config import nightly_time, settings
from worker.render_job import decode_image, image_size
from worker.runs import build_report, chunk_id, contact_sheet_html, new_run_id


@pytest.mark.parametrize("key, why", [
    ("customers/../secret.jpg", "'..'"),
    ("/customers/a.jpg", "absolute"),
    ("customers/a\x07.jpg", "control character"),
    ("customers//a.jpg", "empty path segment"),
    ("catalogue/a.jpg", "not under"),
    ("customers/notes.txt", "not an image"),
    ("customers/a\\b.jpg", "backslash"),
])
def test_bad_input_keys_are_refused_with_a_reason(key, why):
    reason = keys.check_input_key(key, "customers/")
    assert reason is not None and why in reason


def test_good_keys_map_to_composite_and_index_keys():
    assert keys.check_input_key("customers/team/alice.JPG", "customers/") is None
    assert keys.composite_key("tryon/", "customers/team/alice.JPG", "customers/", "catalogue/red tee.png",
                              "catalogue/") == "tryon/team/alice/red tee.jpg"
    assert keys.index_key("tryon/", "customers/bob.png", "customers/") == "tryon/bob/_index.json"
    with pytest.raises(keys.InvalidKeyError):
        keys.run_key("runs/", "../x", "report.json")


def test_fingerprint_depends_on_every_input():
    base = keys.fingerprint('"aa"', "bb", "0.1.0/auto/sample")
    assert base == keys.fingerprint("aa", '"bb"', "0.1.0/auto/sample")  # quotes around ETags do not matter
    assert len({base, keys.fingerprint("ax", "bb", "0.1.0/auto/sample"),
                keys.fingerprint("aa", "bx", "0.1.0/auto/sample"), keys.fingerprint("aa", "bb", "0.2.0")}) == 4


def test_metadata_is_ascii_and_small():
    meta = keys.composite_metadata(
        fp="f" * 32, customer_key="customers/zoë.jpg", customer_etag='"e1"', garment_key="catalogue/tée.png",
        garment_etag="e2", chain_version="0.1.0/auto/sample",
        stages={"pose": {"impl": "blazepose", "weights": {"pose_landmark_full.tflite": "sha256:" + "a" * 64}},
                "render": {"impl": "geometric", "weights": {}}},
        timings={"warp": 0.123456, "render": 0.5}, run_id="2026-11-23T02:00-ab12")
    text = "".join(meta.keys()) + "".join(meta.values())
    assert text.isascii() and len(text) < 2000
    assert "zo%C3%AB" in meta["tryon-customer"] and meta["tryon-customer-etag"] == "e1"
    assert "pose=blazepose[pose_landmark_full.tflite:sha256:aaaaaaaaaaaa]" in meta["tryon-stages"]


def test_ranges_round_trip_and_read_well():
    idx = [0, 1, 2, 3, 7, 9, 10, 31]
    r = to_ranges(idx)
    assert r == [[0, 4], [7, 8], [9, 11], [31, 32]] and from_ranges(r) == idx
    assert describe_ranges([[0, 16]], 1000) == "0-15 of 1000"


def test_task_message_is_small_and_kwargsrepr_names_the_customer():
    plan = {"run_id": "2026-11-23T02:00-ab12", "customers": [["customers/alice.jpg", "e", 1]],
            "garments": [[f"catalogue/g{i}.jpg", "e", 1] for i in range(1000)]}
    from producer.plan import Chunk
    call = task_call(plan, Chunk(0, [[0, 16]], 16))
    assert call["kwargsrepr"] == "run='2026-11-23T02:00-ab12', customer='customers/alice.jpg', garments='0-15 of 1000'"
    assert len(json.dumps(call["kwargs"])) < 200  # indices, never keys
    assert call["kwargs"]["chunk"] == chunk_id(0, [[0, 16]])


def test_run_ids_are_sortable_and_unique():
    a, b = new_run_id(), new_run_id()
    assert a != b and len(a) == len("2026-11-23T02:00-ab12") and a[10] == "T"


def _png(w=80, h=90):
    ok, buf = cv2.imencode(".png", np.zeros((h, w, 3), np.uint8))
    return buf.tobytes()


def test_image_size_reads_headers_without_decoding():
    assert image_size(_png(80, 90)) == (80, 90)
    ok, jpg = cv2.imencode(".jpg", np.zeros((70, 130, 3), np.uint8))
    assert image_size(jpg.tobytes()) == (130, 70)
    assert image_size(b"GIF89a....") is None


def test_decode_image_refuses_bad_inputs_with_reasons():
    with pytest.raises(BadInputError, match="x.jpg: empty object"):
        decode_image(b"", "x.jpg", 10**6)
    with pytest.raises(BadInputError, match="x.jpg: not a decodable image"):
        decode_image(b"this is not an image at all", "x.jpg", 10**6)
    with pytest.raises(BadInputError, match="too large .* bytes"):
        decode_image(_png(), "x.png", 10)
    bomb = bytearray(_png())
    bomb[16:24] = (60000).to_bytes(4, "big") * 2  # IHDR claims 60000×60000
    with pytest.raises(BadInputError, match="60000×60000 px"):
        decode_image(bytes(bomb), "bomb.png", 10**6)
    assert decode_image(_png(80, 90), "ok.png", 10**6).shape == (90, 80, 3)


def test_report_and_contact_sheet_from_chunk_results():
    plan = {"run_id": "r1", "bucket": "b", "chain": "0.1.0/auto/sample", "force": False, "created": "t",
            "prefixes": {"customers": "customers/", "catalogue": "catalogue/", "output": "tryon/", "runs": "runs/"},
            "customers": [["customers/alice.jpg", "e1", 1], ["customers/bob.jpg", "e2", 1]],
            "garments": [["catalogue/red.jpg", "g1", 1], ["catalogue/blue.jpg", "g2", 1]],
            "invalid": [{"key": "customers/x.txt", "reason": "'customers/x.txt': not an image"}]}
    status = {"pairs_planned": 4, "pairs_up_to_date": 1, "pairs_to_render": 3, "rendered": 2, "skipped_by_worker": 0,
              "failed": 1, "invalid_inputs": 1, "chunks_total": 2}
    chunks = [{"customer": 0, "pairs": [{"garment": 0, "status": "rendered", "timings": {"warp": 0.1}},
                                        {"garment": 1, "status": "rendered"}]},
              {"customer": 1, "pairs": [{"garment": 1, "status": "failed", "reason": "customers/bob.jpg: no person found"}]}]
    report = build_report(plan, status, chunks)
    assert report["ok"] is False and report["counts"]["failed"] == 1
    assert report["failures"] == [{"customer": "customers/bob.jpg", "garment": "catalogue/blue.jpg", "status": "failed",
                                   "composite": "tryon/bob/blue.jpg", "reason": "customers/bob.jpg: no person found"}]
    assert [p["composite"] for p in report["pairs"]] == ["tryon/alice/blue.jpg", "tryon/alice/red.jpg",
                                                         "tryon/bob/blue.jpg"]
    page = contact_sheet_html(report, plan)
    assert 'src="../../tryon/alice/red.jpg"' in page  # relative to runs/r1/index.html
    assert "no person found" in page and "not an image" in page and "not in this run" in page


def test_nightly_time_parsing():
    assert nightly_time("02:00") == (2, 0) and nightly_time("23:59") == (23, 59) and nightly_time("off") is None
    with pytest.raises(ValueError):
        nightly_time("25:00")


def _celery_conf_in_fresh_process(env: dict) -> dict:
    # The app is module state configured at import: read it in a fresh interpreter, so this test
    # neither sees nor changes the app other tests in this process use.
    code = ("import json, worker.celery_app as c; k = c.app.conf; s = (k.beat_schedule or {}).get('nightly-run');"
            "print(json.dumps({'accept': list(k.accept_content), 'ser': k.task_serializer, 'late': k.task_acks_late,"
            "'lost': k.task_reject_on_worker_lost, 'prefetch': k.worker_prefetch_multiplier,"
            "'task': s and s['task'], 'hour': s and sorted(s['schedule'].hour), 'minute': s and sorted(s['schedule'].minute)}))")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True,
                         cwd=str(Path(__file__).resolve().parent.parent), check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_celery_app_config_from_env():
    conf = _celery_conf_in_fresh_process({"TRYON_NIGHTLY_AT": "03:15", "TRYON_BROKER_URL": "redis://127.0.0.1:1/0"})
    assert conf["accept"] == ["json"] and conf["ser"] == "json"
    assert conf["late"] and conf["lost"] and conf["prefetch"] == 1
    assert conf["task"] == "tryon.nightly" and conf["hour"] == [3] and conf["minute"] == [15]
    assert _celery_conf_in_fresh_process({"TRYON_NIGHTLY_AT": "off"})["task"] is None


def test_prefix_settings_are_normalised(monkeypatch):
    monkeypatch.setenv("TRYON_CUSTOMERS_PREFIX", "/people")
    assert settings().customers_prefix == "people/"


# --- S3 errors (moto for the small cases; a closed port for a dead endpoint) ----------------
def test_missing_objects_are_not_transient():
    from moto import mock_aws

    from worker.storage import ObjectMissingError, Storage
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="unit-bucket")
        st = Storage(client, "unit-bucket")
        assert st.head("nope.jpg") is None and st.get_json("nope.json") is None
        with pytest.raises(ObjectMissingError):
            st.get("nope.jpg")
        st.put("a.jpg", b"x", "image/jpeg", {"tryon-fingerprint": "abc"})
        assert st.head("a.jpg")["metadata"] == {"tryon-fingerprint": "abc"}


def test_dead_endpoint_raises_a_transient_error():
    import dataclasses

    from worker.local_stack import free_port
    from worker.storage import TRANSIENT_ERRORS, Storage, make_client
    s = dataclasses.replace(settings(), s3_endpoint_url=f"http://127.0.0.1:{free_port()}", s3_access_key="k",
                            s3_secret_key="s")
    st = Storage(make_client(s, max_attempts=1), "b")
    with pytest.raises(TRANSIENT_ERRORS):
        st.head("a.jpg")


def test_render_task_retries_transient_errors_with_backoff_and_not_bad_inputs():
    import botocore.exceptions
    import redis

    from worker.tasks import render_customer
    assert render_customer.acks_late is not False and render_customer.retry_backoff
    assert botocore.exceptions.EndpointConnectionError in render_customer.autoretry_for
    assert redis.exceptions.ConnectionError in render_customer.autoretry_for
    assert not any(issubclass(BadInputError, e) for e in render_customer.autoretry_for)  # fail once, no retry


def test_make_enqueue_passes_the_documented_variables():
    import shutil
    import subprocess
    from pathlib import Path
    if shutil.which("make") is None:
        pytest.skip("make not installed")
    out = subprocess.run(["make", "-n", "enqueue", "BUCKET=shop", "CUSTOMERS=people/", "CATALOGUE=cat/", "FORCE=1",
                          "WAIT=1", "DRY_RUN=1"], cwd=Path(__file__).resolve().parent.parent, capture_output=True,
                         text=True, timeout=60)
    cmd = " ".join(out.stdout.replace("\\\n", " ").split())
    assert "-m producer --bucket shop --customers people/ --catalogue cat/ --force --wait --dry-run" in cmd, out.stdout


def test_chain_version_says_which_side_each_stage_runs_in_auto_mode(monkeypatch, tmp_path):
    from models.chain import ChainOptions
    from models.chain import chain_version
    monkeypatch.setenv("TRYON_WEIGHTS_DIR", str(tmp_path))  # no seed weights here
    auto = chain_version(ChainOptions(mode="auto"))
    assert auto.startswith(ChainOptions(mode="auto").fingerprint() + "/")
    assert auto.endswith("pose=registry,parsing=registry,warp=registry,render=registry")
    assert chain_version(ChainOptions(mode="registry")) == ChainOptions(mode="registry").fingerprint()
