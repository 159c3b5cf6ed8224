"""The producer as an operator runs it, for the end-to-end tests."""
from __future__ import annotations

import re
import subprocess
import sys


def produce(shop: dict, *extra, timeout: int = 300) -> tuple[int, str, dict, dict]:
    """`python -m producer --wait` on shop["bucket"] as an operator runs it: (exit code, its
    output, the counts of its first line, the run's report.json); the run id joins shop["runs"]
    where the shop keeps one."""
    out = subprocess.run([sys.executable, "-m", "producer", "--bucket", shop["bucket"], "--wait", "--timeout",
                          str(timeout), *extra], env=shop["stack"].env, capture_output=True, text=True,
                         timeout=timeout + 100)
    m = re.search(r"^run (\S+): (\d+) to render, (\d+) skipped \(up to date\), (\d+) invalid", out.stdout, re.M)
    assert m, f"producer output:\n{out.stdout}\n{out.stderr}"
    report = shop["storage"].get_json(f"runs/{m.group(1)}/report.json")
    assert report is not None, out.stdout + out.stderr
    shop.setdefault("runs", []).append(m.group(1))
    counts = {"run": m.group(1), "to_render": int(m.group(2)), "skipped": int(m.group(3)), "invalid": int(m.group(4))}
    return out.returncode, out.stdout, counts, report
