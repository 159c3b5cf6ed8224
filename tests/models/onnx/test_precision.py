"""TRYON_ONNX_PRECISION (models/onnx/precision.py): the setting is checked, bf16 is refused with
onnxruntime's reason where it cannot run, int8 files are derived once, keyed by the source
file's checksum, and reused."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from models import settings
from models.onnx import precision
from tools.seed_onnx import build_tom


def tom_feeds(n=3, seed=0):
    rng = np.random.default_rng(seed)
    return [{"input.1": rng.uniform(-1, 1, (1, 25, 256, 192)).astype(np.float32)} for _ in range(n)]


@pytest.fixture
def tom(tmp_path):
    path = tmp_path / "tom.onnx"
    build_tom(path, width=4)
    return path


def test_default_is_fp32(monkeypatch):
    monkeypatch.delenv("TRYON_ONNX_PRECISION", raising=False)
    assert settings.current().onnx_precision == "fp32"
    assert precision.configured_precision() == "fp32"


@pytest.mark.parametrize("value", ["fp16", "INT8", "float32", "int4"])
def test_an_unknown_precision_is_a_clear_error(monkeypatch, value):
    monkeypatch.setenv("TRYON_ONNX_PRECISION", value)
    with pytest.raises(ValueError, match=rf"TRYON_ONNX_PRECISION='{value}': expected one of fp32, int8, bf16"):
        precision.configured_precision()


def test_an_unknown_precision_fails_when_a_seed_network_loads(monkeypatch, tom):
    from models.seed.tom import TOM

    monkeypatch.setenv("TRYON_ONNX_PRECISION", "fp16")
    with pytest.raises(ValueError, match="TRYON_ONNX_PRECISION='fp16'"):
        TOM(tom)


def test_int8_and_bf16_run_on_onnxruntime_only(monkeypatch):
    monkeypatch.setenv("TRYON_ONNX_ENGINE", "cv2")
    for value in ("int8", "bf16"):
        monkeypatch.setenv("TRYON_ONNX_PRECISION", value)
        with pytest.raises(ValueError, match="onnxruntime only"):
            precision.configured_precision()


def test_bf16_is_refused_with_the_reason():
    """onnxruntime's CPU execution provider has no bfloat16 Conv: the setting says so instead of
    running fp32 under another name. (A build that had one would still be refused: the project
    has no bf16 conversion to run on it.)"""
    reason = precision.bf16_unavailable()
    assert reason
    with pytest.raises(ValueError, match="TRYON_ONNX_PRECISION=bf16: .*onnxruntime") as info:
        precision.check_precision("bf16", "onnxruntime")
    assert reason in str(info.value)


def test_int8_file_is_derived_once_and_named_by_the_source_checksum(tom, tmp_path):
    made = []
    first = precision.int8_file(tom, lambda: tom_feeds(), calibration="three random inputs", log=made.append)
    assert first.parent == tom.parent and first.name == precision.derived_name(tom)
    assert first.name.startswith("tom.int8-") and len(made) == 1
    meta = precision.describe(first)
    assert meta["source_sha256"] == precision.file_sha256(tom)
    assert meta["recipe"] == precision.INT8_RECIPE
    assert meta["calibration"] == "3 inputs: three random inputs"
    model = onnx.load(str(first))
    ops = {n.op_type for n in model.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    # the convolutions' weights in int8, one scale per output channel — but the first (reading the
    # graph input) and the last, kept in fp32
    inits = {i.name: i for i in model.graph.initializer}
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    dq = {n.output[0]: n for n in model.graph.node if n.op_type == "DequantizeLinear"}
    assert convs[0].input[0] == "input.1"
    for conv in (convs[0], convs[-1]):
        assert inits[conv.input[1]].data_type == onnx.TensorProto.FLOAT
    assert len(convs) > 4
    for conv in convs[1:-1]:
        q, scale = inits[dq[conv.input[1]].input[0]], inits[dq[conv.input[1]].input[1]]
        assert q.data_type == onnx.TensorProto.INT8 and list(scale.dims) == [q.dims[0]]

    def no_feeds():
        raise AssertionError("calibrated again although the int8 file exists")
    assert precision.int8_file(tom, no_feeds) == first

    # Another source file (other weights) → another name; the old file is not used for it.
    build_tom(tom, width=4, seed=1)
    second = precision.int8_file(tom, lambda: tom_feeds(), log=made.append)
    assert second != first and len(made) == 2


def test_int8_file_goes_to_the_cache_folder_when_the_source_folder_is_read_only(tom, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    access = precision.os.access
    monkeypatch.setattr(precision.os, "access", lambda path, mode: Path(path) != tom.parent and access(path, mode))
    path = precision.int8_file(tom, lambda: tom_feeds(2))
    assert path.parent == tmp_path / "cache" / "tryon" / "onnx"
    assert precision.find_derived(tom) == path


def test_calibration_inputs_must_name_the_graph_inputs(tom):
    with pytest.raises(ValueError, match="calibration input lacks"):
        precision.int8_file(tom, lambda: [{"x": np.zeros((1, 25, 256, 192), np.float32)}])
    assert precision.find_derived(tom) is None


def test_calibration_inputs_are_read_in_passes_of_bounded_size():
    """The percentile calibrator keeps a pass's intermediate tensors in memory: passes of
    CALIBRATION_PASS inputs bound it, whatever the number of inputs."""
    reader = precision._Feeds(({"x": np.full((1, 1), i, np.float32)} for i in range(5)), ["x"])
    passes = []
    while reader.next_pass(2):
        passes.append([float(item["x"][0, 0]) for item in iter(reader.get_next, None)])
    assert passes == [[0, 1], [2, 3], [4]] and reader.count == 5


def test_two_loaders_at_once_quantize_once(tom):
    """Worker processes loading the int8 TOM at the same time: one makes the file, the other
    waits for the folder's lock and reuses it (separate open files lock each other, as between processes)."""
    import threading

    calls, results = [], []

    def feeds():
        calls.append(1)
        return tom_feeds(2)

    threads = [threading.Thread(target=lambda: results.append(precision.int8_file(tom, feeds))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(results) == 2 and results[0] == results[1]
    assert sorted(p.name for p in tom.parent.iterdir()) == sorted([tom.name, results[0].name])  # no lock or temp file left
