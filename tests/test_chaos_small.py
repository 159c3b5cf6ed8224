"""Reliability, CI-sized: the bad-input corpus, the S3 fault proxy, and (with real Redis,
SeaweedFS and Celery worker processes) bad inputs, S3 faults and a SIGKILLed worker on a
few pairs, a pickled message refused, keys that escape their prefix refused.

`make chaos` (python -m chaos.run) runs the full-size scenarios and writes chaos.json.
"""
from __future__ import annotations

import os
import re
import uuid

import cv2
import numpy as np
import pytest

from chaos.bad_inputs import BadInput, corpus


def _person() -> np.ndarray:
    # Any photo-like array works for the decode-level checks; the e2e tests use chaos.inputs.
    rng = np.random.default_rng(0)
    img = cv2.GaussianBlur(rng.integers(0, 255, (256, 192, 3), dtype=np.uint8), (9, 9), 0)
    cv2.ellipse(img, (96, 120), (40, 90), 0, 0, 360, (60, 90, 200), -1)
    return img


def _garment() -> np.ndarray:
    g = np.full((256, 192, 3), 255, np.uint8)
    cv2.rectangle(g, (40, 50), (150, 230), (30, 30, 200), -1)
    return g


MAX_BYTES = 2 * 1024 * 1024


@pytest.fixture(scope="module")
def items() -> list[BadInput]:
    return corpus(_person(), _garment(), MAX_BYTES)


# --- the corpus itself ---------------------------------------------------------------------
def test_corpus_has_at_least_30_distinct_kinds_for_both_roles(items):
    kinds = {i.kind for i in items}
    assert len(kinds) == len(items) >= 30
    assert {i.role for i in items} == {"customer", "garment"}
    assert {i.expect for i in items} == {"fail", "render", "refused", "either"}
    for i in items:
        re.compile(i.reason)


def test_bombs_are_small_files_whose_headers_claim_too_many_pixels(items):
    from worker.render_job import image_size

    by_kind = {i.kind: i for i in items}
    for kind in ("png_pixel_bomb", "jpeg_header_bomb", "garment_pixel_bomb"):
        data = by_kind[kind].data
        w, h = image_size(data)
        assert w * h > 40_000_000 and len(data) < 1_000_000, (kind, w, h, len(data))
    assert len(by_kind["huge_file"].data) > MAX_BYTES


def test_exif_rotated_is_stored_sideways_and_decodes_upright(items):
    item = next(i for i in items if i.kind == "exif_rotated")
    raw = cv2.imdecode(np.frombuffer(item.data, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    shown = cv2.imdecode(np.frombuffer(item.data, np.uint8), cv2.IMREAD_COLOR)
    assert raw.shape[:2] == (192, 256) and shown.shape[:2] == (256, 192)


def test_worker_decoder_refuses_every_undecodable_and_oversized_input_with_its_reason(items):
    """The worker's own decode step (before any model) against every format-level kind."""
    from models.chain import BadInputError
    from worker.render_job import decode_image

    checked = 0
    for item in items:
        if item.expect == "fail":
            with pytest.raises(BadInputError) as err:
                decode_image(item.data, item.filename, MAX_BYTES)
            assert item.matches(str(err.value)), (item.kind, str(err.value))
            assert item.filename in str(err.value)  # the reason names the input
            checked += 1
        elif item.kind in ("huge_file", "zero_bytes", "garment_zero_bytes"):
            # refused by the planner from the listing; the worker refuses them too if asked
            with pytest.raises(BadInputError) as err:
                decode_image(item.data, item.filename, MAX_BYTES)
            assert item.matches(str(err.value)), (item.kind, str(err.value))
        elif item.expect == "render":
            image = decode_image(item.data, item.filename, MAX_BYTES)
            assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3, item.kind
            assert image.shape[:2] == (256, 192), (item.kind, image.shape)
            checked += 1
    assert checked >= 20


# --- keys that escape their prefix ---------------------------------------------------------
ESCAPING = ["customers/../runs/x/report.json", "customers/a/../../etc/passwd.jpg", "/customers/abs.jpg",
            "customers/./x.jpg", "customers\\..\\x.jpg", "customers//x.jpg", "catalogue/x.jpg",
            "customers/bell\x07.jpg", "customers/nul\x00.jpg", "customersX/x.jpg", "customers/"]


@pytest.mark.parametrize("key", ESCAPING)
def test_keys_escaping_their_prefix_are_refused(key):
    from worker.keys import InvalidKeyError, check_input_key, validate_key

    with pytest.raises(InvalidKeyError):
        validate_key(key, "customers/")
    assert check_input_key(key, "customers/") is not None


def test_composite_key_of_a_tampered_plan_entry_cannot_leave_the_output_prefix():
    from worker.keys import InvalidKeyError, composite_key

    with pytest.raises(InvalidKeyError):
        composite_key("tryon/", "customers/../runs/r1/report.json", "customers/", "catalogue/red.jpg", "catalogue/")
    with pytest.raises(InvalidKeyError):
        composite_key("tryon/", "customers/alice.jpg", "customers/", "catalogue/../../x.jpg", "catalogue/")
    assert composite_key("tryon/", "customers/alice.jpg", "customers/", "catalogue/red.jpg",
                         "catalogue/") == "tryon/alice/red.jpg"


# --- against real servers (own Redis with AOF + SeaweedFS + fault proxy + Celery workers) ------
@pytest.fixture(scope="module")
def chaos_stack(tmp_path_factory):
    from chaos import scenarios
    from chaos.cluster import ChaosStack

    # CI-sized time limits: Redis re-delivers a killed worker's message after 3 × 10 s.
    # snapshot: workers import a frozen copy of the code, so composites of different runs compare.
    with ChaosStack(tmp_path_factory.mktemp("chaos"), snapshot=True, extra_env={
            "TRYON_TASK_SOFT_TIME_LIMIT": "8", "TRYON_TASK_TIME_LIMIT": "10"}) as stack:
        saved = dict(os.environ)
        scenarios.use_stack_env(stack)
        try:
            yield stack
        finally:
            os.environ.clear()
            os.environ.update(saved)


def _s3(endpoint: str, attempts: int = 10):
    import boto3
    from botocore.config import Config

    from worker.local_stack import S3_ACCESS_KEY, S3_SECRET_KEY

    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=S3_ACCESS_KEY,
                        aws_secret_access_key=S3_SECRET_KEY, region_name="us-east-1",
                        config=Config(retries={"mode": "standard", "max_attempts": attempts}))


def _proxy_session(stack, plan, n=25):
    """n PUT/HEAD/GET round trips through a fresh proxy; returns (proxy stats, PUT log, bytes ok)."""
    import hashlib

    from chaos.fault_proxy import FaultProxy

    host, port = stack.direct_s3_endpoint.rsplit("//", 1)[1].split(":")
    bucket = f"proxy-{uuid.uuid4().hex[:6]}"
    stack.s3_direct().create_bucket(Bucket=bucket)
    with FaultProxy((host, int(port)), plan) as proxy:
        s3 = _s3(proxy.endpoint)
        ok = True
        for i in range(n):
            body = f"object {i} ".encode() * (50 + i)
            s3.put_object(Bucket=bucket, Key=f"k/{i}.bin", Body=body, Metadata={"n": str(i)})
            ok &= s3.head_object(Bucket=bucket, Key=f"k/{i}.bin")["Metadata"]["n"] == str(i)
            ok &= s3.get_object(Bucket=bucket, Key=f"k/{i}.bin")["Body"].read() == body
        puts = proxy.puts_by_path(f"/{bucket}/k/")
        expected = {f"/{bucket}/k/{i}.bin": hashlib.sha256(f"object {i} ".encode() * (50 + i)).hexdigest()
                    for i in range(n)}
        return proxy.stats(), puts, expected, ok


def test_fault_proxy_injects_every_fault_kind_and_botocore_gets_through(chaos_stack):
    from chaos.fault_proxy import FaultPlan

    plan = FaultPlan(error_500=0.06, error_503=0.06, reset=0.06, delay=0.06, delay_seconds=(0.01, 0.05), seed=11)
    stats, puts, expected, ok = _proxy_session(chaos_stack, plan)
    assert ok, "a body or metadata came back wrong through the proxy"
    for kind in ("error_500", "error_503", "reset", "delay"):
        assert stats[kind] > 0, (kind, stats)
    assert stats["injected_failures"] / stats["requests"] >= 0.1
    assert stats["forwarded"] == 75  # every call got through exactly once in the end
    # the PUT log holds exactly what the server accepted: one PUT per key, with the right content
    assert {k: v for k, v in puts.items()} == {k: [v] for k, v in expected.items()}


def test_fault_proxy_is_reproducible_for_a_seed(chaos_stack):
    from chaos.fault_proxy import FaultPlan

    plan = FaultPlan(error_500=0.05, error_503=0.05, reset=0.05, seed=5)
    first, *_ = _proxy_session(chaos_stack, plan, n=10)
    second, *_ = _proxy_session(chaos_stack, plan, n=10)
    assert first == second and first["injected_failures"] > 0


@pytest.fixture(scope="module")
def baseline(chaos_stack):
    from chaos import scenarios

    outcome, shas = scenarios.clean_run(chaos_stack, 4, 5)
    assert outcome.passed, outcome.row()
    return shas


def test_bad_input_corpus_fails_or_renders_each_pair_with_a_reason_and_no_worker_dies(chaos_stack):
    from chaos import scenarios

    out = scenarios.bad_input_runs(chaos_stack, n_good_garments=1)
    assert out.details["kinds"] >= 30
    assert not out.details["unexpected"], {k: out.details["verdicts"][k] for k in out.details["unexpected"]}
    assert out.passed, out.checks
    verdicts = out.details["verdicts"]
    assert verdicts["png_pixel_bomb"]["outcome"] == "failed" and "too large" in verdicts["png_pixel_bomb"]["reason"]
    assert verdicts["landscape_no_person"]["outcome"] == "failed"  # BlazePose finds nobody in it
    assert verdicts["control_char_key"]["outcome"].startswith("not planned")


def test_s3_faults_run_completes_through_bounded_counted_retries(chaos_stack, baseline):
    from chaos import scenarios
    from chaos.fault_proxy import FaultPlan

    plan = FaultPlan(error_500=0.04, error_503=0.04, reset=0.05, delay=0.1, delay_seconds=(0.02, 0.1), seed=3)
    out = scenarios.s3_faults(chaos_stack, 4, 5, baseline, timeout=240, plan=plan)
    assert out.passed, (out.checks, out.details)
    assert out.rendered == out.pairs == 20 and out.lost == out.duplicated == 0


def test_a_permanently_unavailable_object_ends_in_bounded_counted_retries_and_a_reported_failure(chaos_stack):
    from chaos import scenarios

    out = scenarios.s3_object_unavailable(chaos_stack, n_customers=2, n_garments=3)
    assert out.passed, (out.checks, out.details)
    assert any("SlowDown" in r for r in out.details["bad_pair_reasons"]), out.details["bad_pair_reasons"]


def test_sigkilled_worker_loses_and_duplicates_nothing(chaos_stack, baseline):
    from chaos import scenarios

    out = scenarios.worker_killed(chaos_stack, 4, 5, baseline, timeout=240, fraction=0.25)
    assert out.details["action"].get("killed_pid")
    assert out.passed, (out.checks, out.details)


def test_redis_restart_mid_run_loses_nothing(chaos_stack, baseline):
    from chaos import scenarios

    out = scenarios.redis_restarted(chaos_stack, 4, 5, baseline, timeout=240, fraction=0.25)
    assert out.passed, (out.checks, out.details)


def test_pickled_message_is_refused_and_the_worker_lives_on(chaos_stack):
    from chaos import scenarios

    result = scenarios.pickled_message_refused(chaos_stack)
    assert result["payload_is_live"]  # the message would have run code if unpickled
    assert result["ok"], result


def test_no_credentials_in_logs_run_files_or_metadata(chaos_stack, baseline):
    from chaos import scenarios

    buckets = [b["Name"] for b in chaos_stack.s3_direct().list_buckets()["Buckets"]]
    result = scenarios.no_secrets_written(chaos_stack, buckets)
    assert result["scanned_objects"] > 20 and result["logs"] >= 2
    assert not result["leaks"], result["leaks"]


def test_compose_flower_requires_auth_and_worker_image_is_not_root():
    from chaos import scenarios

    result = scenarios.deployment_files()
    assert result["flower_auth"]["ok"], result["flower_auth"]
    assert result["non_root_worker"]["ok"], result["non_root_worker"]
