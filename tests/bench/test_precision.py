"""`make bench`'s precision part on width-4 builds: int8 derived and timed next to fp32, the
composite's error measured on held-out pairs, bf16's status recorded, the table printed. No
timing is asserted (the machine is shared)."""
from __future__ import annotations

from bench.precision import RANDOM_WEIGHTS_NOTE, bench_precision
from bench.report import precision_lines, precision_summary
from tests.conftest import DATA_DIR


def test_precision_part_runs_and_reports(tmp_path):
    result = bench_precision(reps=1, threads=1, width=4, folder=tmp_path, batch=2, max_pairs=3, data=DATA_DIR,
                             log=lambda *_: None)
    assert {(r["net"], r["precision"]) for r in result["runs"]} == {("gmm", "fp32"), ("gmm", "int8"),
                                                                   ("tom", "fp32"), ("tom", "int8")}
    assert all(r["per_pair_ms"] > 0 and r["batch"] == 2 and len(r["load_average"]) == 2 for r in result["runs"])
    assert all(r["cpu_per_pair_ms"] > 0 for r in result["runs"])  # one thread: its CPU time too
    assert result["files"]["tom"]["made"] and result["files"]["tom"]["calibration"].endswith(
        "garments warped by the fp32 GMM cp_vton_gmm.onnx")
    err = result["composite_error"]
    assert err["pairs"] == 3 and err["held_out"] and 0 < err["max_abs"] <= 1 and -1 <= err["ssim_min"] <= 1
    assert result["bf16"]["available"] is False and "bf16" in result["bf16"]["reason"]
    lines = "\n".join(precision_lines(result))
    assert "GMM" in lines and "TOM" in lines and "CPU ms/pair" in lines and "load average while timing" in lines and "held-out pairs" in lines and RANDOM_WEIGHTS_NOTE in lines
    assert precision_summary(result)["composite_error_int8"]["pairs"] == 3
    # a second run finds the files (same calibration set)
    again = bench_precision(reps=1, threads=1, width=4, folder=tmp_path, batch=2, max_pairs=2, data=DATA_DIR,
                            log=lambda *_: None)
    assert not again["files"]["gmm"]["made"] and not again["files"]["tom"]["made"]
