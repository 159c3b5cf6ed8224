"""Random-weight GMM/TOM builders: the real names, shapes and size; both engines agree; the
MAC counter; the OnnxNet engine switch."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from models.onnx.correlation import unregister_correlation_layer
from models.onnx.runner import OnnxNet
from tools.seed_onnx import (build_gmm, build_gmm_model, build_tom, build_tom_model, count_macs,
                              count_parameters)

REPO = Path(__file__).resolve().parents[2]

# SEED_CHAIN.md §5: sizes of the published files (third-party LFS copy).
PUBLISHED_GMM_BYTES = 76_272_703
PUBLISHED_TOM_BYTES = 85_426_314


def dims(value: onnx.ValueInfoProto) -> list:
    return [d.dim_value or d.dim_param for d in value.type.tensor_type.shape.dim]


def gmm_inputs(batch: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {"input.1": rng.uniform(-1, 1, (batch, 22, 256, 192)).astype(np.float32),
            "input.18": rng.uniform(-1, 1, (batch, 3, 256, 192)).astype(np.float32)}


def tom_inputs(batch: int, seed: int = 0) -> dict:
    return {"input.1": np.random.default_rng(seed).uniform(-1, 1, (batch, 25, 256, 192)).astype(np.float32)}


@pytest.fixture(scope="module")
def small_nets(tmp_path_factory):
    folder = tmp_path_factory.mktemp("seed_w4")
    paths = {"gmm_custom": folder / "gmm_custom.onnx", "gmm_rewritten": folder / "gmm_rewritten.onnx",
             "tom": folder / "tom.onnx"}
    build_gmm(paths["gmm_custom"], width=4, correlation="custom")
    build_gmm(paths["gmm_rewritten"], width=4, correlation="rewritten")
    build_tom(paths["tom"], width=4)
    return paths


def test_gmm_names_and_shapes(small_nets):
    for name in ("gmm_custom", "gmm_rewritten"):
        graph = onnx.load(small_nets[name]).graph
        assert [(v.name, dims(v)) for v in graph.input] == [("input.1", ["N", 22, 256, 192]),
                                                             ("input.18", ["N", 3, 256, 192])]
        assert [dims(v) for v in graph.output] == [["N", 50]]
        assert sum(n.op_type == "Correlation" for n in graph.node) == (name == "gmm_custom")
    onnx.checker.check_model(onnx.load(small_nets["gmm_rewritten"]), full_check=True)
    # As published: batch 1 declared.
    fixed = build_gmm_model(width=4, correlation="rewritten", batch=1)
    assert dims(fixed.graph.input[0]) == [1, 22, 256, 192] and dims(fixed.graph.output[0]) == [1, 50]


def test_tom_names_and_shapes(small_nets):
    graph = onnx.load(small_nets["tom"]).graph
    assert [(v.name, dims(v)) for v in graph.input] == [("input.1", ["N", 25, 256, 192])]
    assert [dims(v) for v in graph.output] == [["N", 4, 256, 192]]
    ops = [n.op_type for n in graph.node]
    # UnetGenerator(num_downs=6): 6 down convs + 6 up convs, bilinear ×2 upsampling, 5 skip concats.
    assert ops.count("Conv") == 12 and ops.count("Resize") == 6 and ops.count("Concat") == 5
    assert ops.count("InstanceNormalization") == 4 + 6  # down norms (not outer/innermost) + every up norm


@pytest.mark.parametrize("batch", [1, 3])
def test_gmm_engines_agree(small_nets, batch):
    unregister_correlation_layer()
    feeds = gmm_inputs(batch)
    theta_cv2 = OnnxNet(small_nets["gmm_rewritten"], "cv2").forward(feeds)[0]
    theta_ort = OnnxNet(small_nets["gmm_rewritten"], "onnxruntime").forward(feeds)[0]
    theta_custom = OnnxNet(small_nets["gmm_custom"], "cv2").forward(feeds)[0]  # registers the layer itself
    assert theta_cv2.shape == theta_ort.shape == theta_custom.shape == (batch, 50)
    assert np.isfinite(theta_ort).all()
    assert np.abs(theta_cv2 - theta_ort).max() <= 1e-4
    assert np.abs(theta_custom - theta_ort).max() <= 1e-4
    # tanh output neither saturated nor constant.
    assert np.abs(theta_ort).max() < 0.99 and theta_ort.std() > 0.01
    if batch > 1:
        single = OnnxNet(small_nets["gmm_rewritten"], "onnxruntime").forward(
            {k: v[1:2] for k, v in feeds.items()})[0]
        np.testing.assert_allclose(theta_ort[1:2], single, atol=1e-5)  # batching does not mix items


@pytest.mark.parametrize("batch", [1, 2])
def test_tom_engines_agree(small_nets, batch):
    feeds = tom_inputs(batch)
    out_cv2 = OnnxNet(small_nets["tom"], "cv2").forward(feeds)[0]
    out_ort = OnnxNet(small_nets["tom"], "onnxruntime").forward(feeds)[0]
    assert out_cv2.shape == out_ort.shape == (batch, 4, 256, 192)
    assert np.isfinite(out_ort).all()
    assert np.abs(out_cv2 - out_ort).max() <= 1e-4
    assert out_ort.std() > 0.1 and np.ptp(out_ort[0, 3]) > 1  # the mask channel is not a constant


def test_onnxruntime_runs_the_custom_gmm_by_rewriting_in_memory(small_nets):
    net = OnnxNet(small_nets["gmm_custom"], "onnxruntime")
    assert net.has_correlation
    assert net.forward(gmm_inputs(1))[0].shape == (1, 50)


def test_onnxnet_names_its_inputs_on_mismatch(small_nets):
    net = OnnxNet(small_nets["tom"], "cv2")
    with pytest.raises(ValueError, match=r"missing \['input.1'\], unknown \['input'\]"):
        net.forward({"input": tom_inputs(1)["input.1"]})
    with pytest.raises(ValueError, match="engine="):
        OnnxNet(small_nets["tom"], "tensorrt")


def test_weights_are_seeded_and_bounded():
    a, b = build_tom_model(width=4, seed=0), build_tom_model(width=4, seed=0)
    c = build_tom_model(width=4, seed=1)
    assert a.SerializeToString() == b.SerializeToString()
    assert a.SerializeToString() != c.SerializeToString()
    weights = np.concatenate([numpy_helper.to_array(t).ravel() for t in a.graph.initializer])
    assert np.isfinite(weights).all() and np.abs(weights).max() < 10


def test_real_width_matches_published_file_sizes():
    # The architecture (layer list, kernel sizes, channel counts) decides the parameter count,
    # hence the file size: within 0.1 % of the published ONNX files.
    def conv(cin, cout, k):  # weights + bias (CP-VTON's convs all have a bias)
        return cin * cout * k * k + cout
    bn, inorm = (lambda c: 4 * c), (lambda c: 2 * c)  # BN: scale, bias, mean, var; IN: scale, bias

    def extraction(cin):  # §4 FeatureExtraction
        return (conv(cin, 64, 4) + bn(64) + conv(64, 128, 4) + bn(128) + conv(128, 256, 4) + bn(256)
                + conv(256, 512, 4) + bn(512) + conv(512, 512, 3) + bn(512) + conv(512, 512, 3))
    regression = (conv(192, 512, 4) + bn(512) + conv(512, 256, 4) + bn(256) + conv(256, 128, 3) + bn(128)
                  + conv(128, 64, 3) + bn(64) + 768 * 50 + 50)
    downs = [(25, 64), (64, 128), (128, 256), (256, 512), (512, 512), (512, 512)]
    ups = [(512, 512), (1024, 512), (1024, 256), (512, 128), (256, 64), (128, 4)]  # innermost → outermost
    unet = (sum(conv(i, o, 4) for i, o in downs) + sum(inorm(o) for _, o in downs[1:-1])
            + sum(conv(i, o, 3) + inorm(o) for i, o in ups))

    gmm = build_gmm_model(width=64, correlation="custom")
    tom = build_tom_model(width=64)
    assert count_parameters(gmm) == extraction(22) + extraction(3) + regression
    assert count_parameters(tom) == unet
    assert abs(gmm.ByteSize() - PUBLISHED_GMM_BYTES) / PUBLISHED_GMM_BYTES < 1e-3
    assert abs(tom.ByteSize() - PUBLISHED_TOM_BYTES) / PUBLISHED_TOM_BYTES < 1e-3


def test_count_macs_on_a_hand_checked_graph():
    conv_w = numpy_helper.from_array(np.zeros((8, 3, 3, 3), np.float32), "w")
    gemm_w = numpy_helper.from_array(np.zeros((10, 8 * 4 * 4), np.float32), "g")
    matmul_b = numpy_helper.from_array(np.zeros((4, 5), np.float32), "m")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
             helper.make_node("MatMul", ["c", "m"], ["mm"]),                        # (N,8,4,4)·(4,5)
             helper.make_node("Flatten", ["c"], ["f"], axis=1),
             helper.make_node("Gemm", ["f", "g"], ["y"], transB=1)]
    graph = helper.make_graph(nodes, "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None),
                               helper.make_tensor_value_info("mm", TensorProto.FLOAT, None)],
                              [conv_w, gemm_w, matmul_b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
    conv = 8 * 4 * 4 * (3 * 3 * 3)   # every output value: Cin·kh·kw multiply-adds
    matmul = 8 * 4 * 5 * 4           # (8·4)×5 outputs, K = 4
    gemm = 10 * 128                  # 10 outputs, K = 128
    assert count_macs(model) == conv + matmul + gemm
    assert count_macs(model, batch=4) == 4 * (conv + matmul + gemm)


def test_count_macs_of_the_seed_nets():
    custom = build_gmm_model(width=4, correlation="custom")
    rewritten = build_gmm_model(width=4, correlation="rewritten")
    # Correlation is counted through its rewrite: 192×192 outputs × C=32 at width 4.
    assert count_macs(custom) == count_macs(rewritten) > 192 * 192 * 32
    assert count_macs(rewritten, batch=4) == 4 * count_macs(rewritten)


def test_cli_writes_three_networks(tmp_path):
    run = subprocess.run([sys.executable, "-m", "tools.seed_onnx", "--out", str(tmp_path), "--width", "2"],
                         cwd=REPO, capture_output=True, text=True, env={"PYTHONPATH": str(REPO)})
    assert run.returncode == 0, run.stderr
    for name in ("gmm_custom.onnx", "gmm_rewritten.onnx", "tom.onnx"):
        assert (tmp_path / name).is_file() and name in run.stdout
    assert "GMAC" in run.stdout
