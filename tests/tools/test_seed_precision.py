"""`python -m tools.seed_precision`: a user with the real weights checks int8 against fp32 on
their own photos before switching (here: width-4 real-architecture networks, random weights)."""
from __future__ import annotations

import pytest

from tools import seed_onnx, seed_precision


@pytest.fixture
def nets(tmp_path):
    gmm, tom = tmp_path / "gmm.onnx", tmp_path / "tom.onnx"
    seed_onnx.build_gmm(gmm, width=4)
    seed_onnx.build_tom(tom, width=4)
    return gmm, tom


def test_compares_int8_with_fp32_on_photos(nets, tryon_data, tmp_path, capsys):
    gmm, tom = nets
    argv = ["--gmm", str(gmm), "--tom", str(tom), "--max-pairs", "5", "--out", str(tmp_path / "worst"),
            str(tryon_data / "persons"), str(tryon_data / "garments")]
    assert seed_precision.main(argv) == 0
    out = capsys.readouterr().out
    assert "made now; calibration: 28 inputs" in out  # 14 persons × 2 garments, pose/parse read beside the photos
    assert "int8 vs fp32 on 5 pairs" in out and "SSIM min" in out and "max|Δ|" in out
    assert len(list((tmp_path / "worst").glob("*.png"))) == 5
    # second run: the files made above are found (what TRYON_ONNX_PRECISION=int8 loads), not made again
    assert seed_precision.main(argv[:4] + ["--quiet", "--max-pairs", "2"] + argv[-2:]) == 0
    assert "found; calibration" in capsys.readouterr().out


def test_bf16_and_missing_files_exit_2_with_the_reason(nets, tmp_path, capsys):
    gmm, tom = nets
    assert seed_precision.main(["--gmm", str(gmm), "--tom", str(tom), "--precision", "bf16",
                                str(tmp_path), str(tmp_path)]) == 2
    assert "bf16: not available" in capsys.readouterr().err
    assert seed_precision.main(["--gmm", str(tmp_path / "none.onnx"), "--tom", str(tom),
                                str(tmp_path), str(tmp_path)]) == 2
    assert "none.onnx: weight file not found" in capsys.readouterr().err
    assert seed_precision.main(["--gmm", str(gmm), "--tom", str(tom), str(tmp_path), str(tmp_path)]) == 2
    assert "no photos" in capsys.readouterr().err


def test_spread_pairs_covers_persons_and_garments():
    pairs = seed_precision.spread_pairs(14, 19, 30)
    assert len(pairs) == 30 and {p for p, _ in pairs} == set(range(14)) and len({g for _, g in pairs}) == 19
    assert seed_precision.spread_pairs(2, 3, None) == [(p, g) for p in range(2) for g in range(3)]
