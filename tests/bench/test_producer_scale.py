"""bench/producer_scale.py at a small size, on its own Redis + SeaweedFS."""
from __future__ import annotations

import json
import os
import subprocess
import sys


def test_producer_scale_bench_enqueues_one_message_per_customer_chunk(tmp_path):
    """bench/producer_scale.py on its own Redis + SeaweedFS, at a small size: the message count
    and queue length it reports are the chunking's (20 customers × ⌈45 / 16⌉ chunks)."""
    out = tmp_path / "scale.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRYON_", "AWS_"))}
    done = subprocess.run([sys.executable, "-m", "bench.producer_scale", "--customers", "20", "--garments", "45",
                           "--chunk-size", "16", "--out", str(out)], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(out.read_text())
    assert summary["pairs"] == 900
    assert summary["messages"] == summary["queued"] == 20 * 3
    assert summary["second_run_messages"] == 60  # nothing was rendered: all planned again
    assert 200 < summary["redis_bytes_per_message"] < 20000
