"""`python -m producer` and `make enqueue`: flags, the dry run."""
from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from worker.local_stack import REPO


def test_make_enqueue_passes_the_documented_variables():
    if shutil.which("make") is None:
        pytest.skip("make not installed")
    out = subprocess.run(["make", "-n", "enqueue", "BUCKET=shop", "CUSTOMERS=people/", "CATALOGUE=cat/", "FORCE=1",
                          "WAIT=1", "DRY_RUN=1"], cwd=REPO, capture_output=True, text=True, timeout=60)
    cmd = " ".join(out.stdout.replace("\\\n", " ").split())
    assert "-m producer --bucket shop --customers people/ --catalogue cat/ --force --wait --dry-run" in cmd, out.stdout


def test_producer_dry_run_prints_the_plan_and_writes_nothing(stack, storage_for, bucket):
    st = storage_for(bucket)
    for c in ("alice", "bob"):
        st.put(f"customers/{c}.jpg", b"p", "image/jpeg")
    for g in range(5):
        st.put(f"catalogue/g{g}.png", b"g", "image/png")
    st.put("catalogue/readme.txt", b"not an image", "text/plain")
    env = {**stack.env, "TRYON_BUCKET": "unused"}
    out = subprocess.run([sys.executable, "-m", "producer", "--bucket", bucket, "--dry-run", "--chunk-size", "2"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "plan: 2 customers × 5 garments" in out.stdout
    assert "tryon.render_customer(run='dry-run', customer='customers/alice.jpg', garments='0-1 of 5')" in out.stdout
    assert "readme.txt': not an image" in out.stdout
    assert '{"to_render": 10, "skipped": 0, "invalid": 1, "tasks": 6}' in out.stdout
    assert [o.key for o in st.list("runs/")] == [] and [o.key for o in st.list("tryon/")] == []
