"""The Correlation layer (cv2.dnn Python layer + numpy reference) and its rewrite into standard
ONNX ops, checked against each other in cv2.dnn and onnxruntime."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from models.onnx.correlation import (CorrelationLayer, correlation, register_correlation_layer,
                                unregister_correlation_layer)
from models.onnx.correlation_rewrite import has_correlation, make_batch_dynamic, rewrite_correlation
from tools.seed_onnx import build_gmm_model

REPO = Path(__file__).resolve().parents[3]

REAL = (512, 16, 12)  # the GMM's feature maps: C, h, w


def l2_normalised(rng, batch, c, h, w):
    # The GMM correlates L2-normalised features (|values| ≤ 1), so an absolute tolerance means something.
    f = rng.standard_normal((batch, c, h, w)).astype(np.float32)
    return f / np.sqrt((f * f).sum(axis=1, keepdims=True))


def correlation_graph(c, h, w, batch="N", domain="") -> onnx.ModelProto:
    node = helper.make_node("Correlation", ["feature_a", "feature_b"], ["corr"], name="corr", domain=domain)
    graph = helper.make_graph(
        [node], "correlation_only",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [batch, c, h, w]) for n in ("feature_a", "feature_b")],
        [helper.make_tensor_value_info("corr", TensorProto.FLOAT, [batch, h * w, h, w])])
    opsets = [helper.make_opsetid("", 11)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    return helper.make_model(graph, opset_imports=opsets)


def cv2_run(model: onnx.ModelProto, feeds: dict) -> np.ndarray:
    net = cv2.dnn.readNetFromONNX(np.frombuffer(model.SerializeToString(), np.uint8))
    for name, blob in feeds.items():
        net.setInput(blob, name)
    return net.forward()


def ort_run(model: onnx.ModelProto, feeds: dict) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)[0]


@pytest.fixture
def no_python_layer():
    """cv2.dnn with no Correlation layer registered; restores nothing (tests register as needed)."""
    unregister_correlation_layer()
    yield
    unregister_correlation_layer()


def test_reference_follows_the_definition_index_by_index():
    # out[b,k,i,j] = Σ_c A[b,c,y_k,x_k]·B[b,c,i,j] with k = x·h + y (A flattened x-major).
    rng = np.random.default_rng(0)
    b, c, h, w = 2, 5, 4, 3
    a = rng.standard_normal((b, c, h, w)).astype(np.float32)
    bb = rng.standard_normal((b, c, h, w)).astype(np.float32)
    expected = np.zeros((b, h * w, h, w), np.float64)
    for n in range(b):
        for x in range(w):
            for y in range(h):
                for i in range(h):
                    for j in range(w):
                        expected[n, x * h + y, i, j] = np.dot(a[n, :, y, x], bb[n, :, i, j])
    out = correlation(a, bb)
    assert out.shape == (b, h * w, h, w) and out.dtype == np.float32
    np.testing.assert_allclose(out, expected, atol=1e-5)
    # A y-major flattening (k = y·w + x) would be a different tensor: the test can tell them apart.
    assert np.abs(out - expected.reshape(b, w, h, h, w).transpose(0, 2, 1, 3, 4).reshape(b, h * w, h, w)).max() > 0.1


def test_layer_shapes_and_forward():
    layer = CorrelationLayer(params={}, blobs=[])
    assert layer.getMemoryShapes([[3, 512, 16, 12], [3, 512, 16, 12]]) == [[3, 192, 16, 12]]
    rng = np.random.default_rng(1)
    a, b = l2_normalised(rng, 1, 8, 4, 3), l2_normalised(rng, 1, 8, 4, 3)
    (out,) = layer.forward([a, b])
    np.testing.assert_array_equal(out, correlation(a, b))


@pytest.mark.parametrize("batch", [1, 3])
def test_rewrite_matches_python_layer_at_real_size(batch, no_python_layer):
    rng = np.random.default_rng(batch)
    feeds = {"feature_a": l2_normalised(rng, batch, *REAL), "feature_b": l2_normalised(rng, batch, *REAL)}
    custom = correlation_graph(*REAL)
    reference = correlation(feeds["feature_a"], feeds["feature_b"])

    # Without the Python layer cv2.dnn cannot read the custom graph …
    with pytest.raises(cv2.error, match="Correlation"):
        cv2_run(custom, feeds)
    report = []
    rewritten = rewrite_correlation(custom, report)
    assert len(report) == 1 and not has_correlation(rewritten)
    onnx.checker.check_model(rewritten, full_check=True)
    # … but it reads the rewritten one, still with no layer registered.
    cv2_rewritten = cv2_run(rewritten, feeds)
    ort_rewritten = ort_run(rewritten, feeds)

    register_correlation_layer()
    cv2_custom = cv2_run(custom, feeds)

    assert cv2_custom.shape == cv2_rewritten.shape == ort_rewritten.shape == (batch, 192, 16, 12)
    assert np.abs(cv2_custom - reference).max() <= 1e-5
    assert np.abs(cv2_rewritten - cv2_custom).max() <= 1e-5
    assert np.abs(ort_rewritten - cv2_custom).max() <= 1e-5
    assert cv2_custom.std() > 0.01  # not a degenerate all-equal output


def test_rewrite_matches_python_layer_inside_gmm(no_python_layer):
    rng = np.random.default_rng(7)
    feeds = {"input.1": rng.uniform(-1, 1, (2, 22, 256, 192)).astype(np.float32),
             "input.18": rng.uniform(-1, 1, (2, 3, 256, 192)).astype(np.float32)}
    custom = build_gmm_model(width=4, correlation="custom", seed=0)
    rewritten = rewrite_correlation(custom)
    onnx.checker.check_model(rewritten)
    # The rewritten graph must be exactly the custom one with the node swapped: same weights.
    assert sum(n.op_type == "Correlation" for n in custom.graph.node) == 1
    assert len(rewritten.graph.node) == len(custom.graph.node) - 1 + 7

    theta_cv2_rewritten = cv2_run(rewritten, feeds)
    theta_ort = ort_run(rewritten, feeds)
    register_correlation_layer()
    theta_cv2_custom = cv2_run(custom, feeds)
    assert theta_cv2_custom.shape == (2, 50)
    assert np.abs(theta_cv2_rewritten - theta_cv2_custom).max() <= 1e-5
    assert np.abs(theta_ort - theta_cv2_custom).max() <= 1e-5
    assert np.abs(theta_cv2_custom[0] - theta_cv2_custom[1]).max() > 1e-3  # batch items really differ


def test_register_is_idempotent(no_python_layer):
    register_correlation_layer()
    register_correlation_layer()
    unregister_correlation_layer()  # one unregister must remove it: no stacked second copy
    with pytest.raises(cv2.error, match="Correlation"):
        cv2_run(correlation_graph(4, 2, 2), {})


def test_rewrite_drops_unused_custom_domain_and_keeps_others():
    model = correlation_graph(8, 4, 3, domain="com.example")
    rewritten = rewrite_correlation(model)
    assert {o.domain for o in rewritten.opset_import} == {""}
    onnx.checker.check_model(rewritten)


def test_rewrite_refuses_unknown_shapes():
    model = correlation_graph(8, "h", 3)
    with pytest.raises(ValueError, match="static C,H,W"):
        rewrite_correlation(model)


def test_model_without_correlation_is_returned_unchanged():
    model = correlation_graph(8, 4, 3)
    plain = rewrite_correlation(model)
    again = rewrite_correlation(plain)
    assert again.SerializeToString() == plain.SerializeToString()


def test_cli_rewrites_a_file(tmp_path):
    src, dst = tmp_path / "in.onnx", tmp_path / "out.onnx"
    onnx.save(correlation_graph(*REAL, batch=1), src)
    run = subprocess.run([sys.executable, "-m", "models.onnx.correlation_rewrite", str(src), str(dst)],
                         cwd=REPO, capture_output=True, text=True, env={"PYTHONPATH": str(REPO)})
    assert run.returncode == 0, run.stderr
    assert "replaced Correlation node 'corr'" in run.stdout and "(N,512,16,12)" in run.stdout
    out = onnx.load(dst)
    onnx.checker.check_model(out)
    assert not has_correlation(out)
    assert [n.op_type for n in out.graph.node] == ["Transpose", "Reshape", "Reshape", "Transpose",
                                                   "MatMul", "Reshape", "Transpose"]


def published_like_gmm() -> onnx.ModelProto:
    """A batch-1 GMM as torch exports it: declared batch 1 and `x.view(x.size(0), -1)` folded
    into a Reshape to the constant [1, -1] instead of our Flatten."""
    model = build_gmm_model(width=4, correlation="custom", batch=1)
    flatten = next(n for n in model.graph.node if n.op_type == "Flatten")
    flatten.op_type = "Reshape"
    del flatten.attribute[:]
    flatten.input.append("folded_view_shape")
    model.graph.initializer.append(numpy_helper.from_array(np.array([1, -1], np.int64), "folded_view_shape"))
    return model


def test_make_batch_dynamic_lets_a_batch1_export_batch():
    feeds = {"input.1": np.random.default_rng(3).uniform(-1, 1, (3, 22, 256, 192)).astype(np.float32),
             "input.18": np.random.default_rng(4).uniform(-1, 1, (3, 3, 256, 192)).astype(np.float32)}
    fixed = rewrite_correlation(published_like_gmm())
    with pytest.raises(Exception, match="(?i)dimension|shape"):
        ort_run(fixed, feeds)  # batch 3 into a declared batch of 1
    dynamic = make_batch_dynamic(fixed)
    onnx.checker.check_model(dynamic)
    batched = ort_run(dynamic, feeds)
    assert batched.shape == (3, 50)
    for i in range(3):  # every item equals its own batch-1 run through the unmodified graph
        single = ort_run(fixed, {k: v[i:i + 1] for k, v in feeds.items()})
        np.testing.assert_allclose(batched[i:i + 1], single, atol=1e-5)
    np.testing.assert_allclose(cv2_run(dynamic, feeds), batched, atol=1e-4)


def test_rewrite_infers_feature_shapes_without_value_info():
    # An export need not declare the Correlation inputs' shapes: shape inference through the
    # convolutions and the L2 norm must find (C, h, w) by itself.
    model = build_gmm_model(width=4, correlation="custom", batch=1)
    del model.graph.value_info[:]
    report = []
    rewritten = rewrite_correlation(model, report)
    onnx.checker.check_model(rewritten)
    assert len(report) == 1 and "(N,32,16,12)" in report[0]
