"""`python -m producer` as an operator meets it: each mistake (missing bucket, wrong endpoint,
wrong or absent credentials, Redis unreachable, the output prefix as input, an empty plan) is
one line naming the setting to check, exit code 2, no traceback; `status`, `resume` and `abort`
on a run whose report could not be written."""
from __future__ import annotations

import subprocess
import sys

import pytest

from worker.local_stack import REPO, free_port


def _producer(stack, *args, env=None, drop=()):
    full = {**stack.env, "TRYON_S3_MAX_ATTEMPTS": "1", **(env or {})}
    for k in drop:
        full.pop(k, None)
    return subprocess.run([sys.executable, "-m", "producer", *args], env=full, cwd=REPO, capture_output=True,
                          text=True, timeout=120)


def _one_line_error(out, code=2) -> str:
    assert out.returncode == code, (out.returncode, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr, out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr
    return lines[0]


@pytest.fixture
def shop(storage_for, bucket):
    st = storage_for(bucket)
    st.put("customers/alice.jpg", b"p", "image/jpeg")
    st.put("catalogue/g.png", b"g", "image/png")
    return bucket


def test_a_missing_bucket_is_one_line_and_leaves_nothing_in_redis(stack, redis_client):
    before = set(redis_client.keys("tryon:*"))
    line = _one_line_error(_producer(stack, "--bucket", "no-such-bucket-here"))
    assert "'no-such-bucket-here' does not exist" in line and "TRYON_BUCKET" in line
    assert set(redis_client.keys("tryon:*")) == before


@pytest.mark.parametrize("case, env, drop, expected", [
    ("wrong endpoint", {"AWS_ENDPOINT_URL_S3": "http://127.0.0.1:{port}"}, (), "AWS_ENDPOINT_URL_S3"),
    ("wrong secret", {"AWS_SECRET_ACCESS_KEY": "not-the-secret"}, (), "AWS_SECRET_ACCESS_KEY"),
    ("no credentials", {"AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
                        "AWS_EC2_METADATA_DISABLED": "true"},
     ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"), "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"),
    ("redis unreachable", {"TRYON_BROKER_URL": "redis://:hunter2@127.0.0.1:{port}/0"}, (), "TRYON_REDIS_URL"),
])
def test_operator_mistakes_are_one_line_naming_the_setting(stack, shop, case, env, drop, expected):
    port = free_port()
    env = {k: v.format(port=port) for k, v in env.items()}
    line = _one_line_error(_producer(stack, "--bucket", shop, env=env, drop=drop))
    assert expected in line, (case, line)
    assert "hunter2" not in line  # passwords in URLs are masked


def test_the_output_prefix_is_refused_as_an_input_prefix(stack, shop):
    line = _one_line_error(_producer(stack, "--bucket", shop, "--customers", "tryon/"))
    assert "overlaps the output prefix 'tryon/'" in line
    line = _one_line_error(_producer(stack, "--bucket", shop, "--catalogue", "runs", "--dry-run"))
    assert "overlaps the runs prefix" in line


def test_an_empty_plan_says_so_and_exits_2_unless_allowed(stack, shop, redis_client):
    line = _one_line_error(_producer(stack, "--bucket", shop, "--customers", "nobody-here/"))
    assert "nothing to render" in line and "0 usable customer photos under 'nobody-here/'" in line
    assert redis_client.get(f"tryon:active-run:{shop}") is None  # the bucket is free again
    out = _producer(stack, "--bucket", shop, "--customers", "nobody-here/", "--allow-empty")
    assert out.returncode == 0, out.stderr
    assert "0 to render" in out.stdout


def test_status_resume_and_abort_a_run_whose_report_could_not_be_written(stack, shop, storage_for, redis_client,
                                                                        batch_settings):
    import dataclasses

    import botocore.exceptions

    from producer.enqueue import start_run
    from worker.local_stack import S3_READONLY_ACCESS_KEY, S3_READONLY_SECRET_KEY
    from worker.runs import RunBook
    from worker.storage import Storage, make_client

    st = storage_for(shop)
    run = start_run(st, redis_client, batch_settings(shop), lambda call: None, chain="v1")
    book = RunBook(redis_client, run["run_id"])
    book.record_chunk("c0:0-1", 0, [{"garment": 0, "status": "failed", "reason": "AccessDenied PutObject"}])
    # the workers' credentials are read-only: the report cannot be written (as tryon.finalize_run finds)
    ro = Storage(make_client(dataclasses.replace(batch_settings(shop), s3_access_key=S3_READONLY_ACCESS_KEY,
                                                 s3_secret_key=S3_READONLY_SECRET_KEY, s3_max_attempts=1)), shop)
    with pytest.raises(botocore.exceptions.ClientError):
        book.try_finalize(ro)
    book.end("failed", "report could not be written: AccessDenied")
    assert redis_client.get(f"tryon:active-run:{shop}") is None

    out = _producer(stack, "status", run["run_id"])
    assert out.returncode == 4, out.stderr
    assert f"run {run['run_id']}: failed" in out.stdout and "AccessDenied" in out.stdout
    assert f"python -m producer resume {run['run_id']}" in out.stdout

    out = _producer(stack, "resume", run["run_id"])  # credentials fixed
    assert out.returncode == 0, out.stderr
    assert "finished" in out.stdout and book.state() == "finished"
    assert st.get_json(f"runs/{run['run_id']}/report.json")["counts"]["failed"] == 1
    assert redis_client.get(f"tryon:active-run:{shop}") is None

    # abort: a run with chunks never recorded ends now, with a report of what was recorded
    run2 = start_run(st, redis_client, batch_settings(shop), lambda call: None, chain="v1", force=True)
    out = _producer(stack, "abort", run2["run_id"])
    assert out.returncode == 0, out.stderr
    assert RunBook(redis_client, run2["run_id"]).state() == "aborted"
    assert st.get_json(f"runs/{run2['run_id']}/report.json")["state"] == "aborted"
    assert redis_client.get(f"tryon:active-run:{shop}") is None
    line = _one_line_error(_producer(stack, "status", "no-such-run"))
    assert "unknown" in line
