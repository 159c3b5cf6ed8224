"""OpenPose and LipJppNet stage classes around a network: tiny ONNX stand-ins with the real
nets' tensor layouts (OpenPose 1×3×256×192 → 1×19×32×24; JPPNet 2×3×H×W → 2×20×h×w) check the
blob preprocessing and the post-processing wiring without the 200/432 MB files."""
import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from models.lip_jppnet import LipJppNet
from models.openpose import OpenPose


def _net(nodes, inputs, outputs, inits, path):
    graph = helper.make_graph(nodes, "stand_in", inputs, outputs, [numpy_helper.from_array(a, n) for n, a in inits])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return cv2.dnn.readNet(str(path))


@pytest.fixture(scope="module")
def openpose_stand_in(tmp_path_factory):
    # 8×8 average pool (stride 8 like OpenPose) then 1×1 conv: keypoint k's heat-map is the
    # blue channel's cell mean for k = 0, the red channel's for k = 1, zero otherwise
    # (so the max of an all-zero map sits at cell (0,0) → x = 0 → missing).
    w = np.zeros((19, 3, 1, 1), np.float32)
    w[0, 0] = 1.0   # B (the blob is BGR: no swapRB)
    w[1, 2] = 1.0   # R
    nodes = [helper.make_node("AveragePool", ["input"], ["pooled"], kernel_shape=[8, 8], strides=[8, 8]),
             helper.make_node("Conv", ["pooled", "w"], ["heat"])]
    return OpenPose(_net(nodes, [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 256, 192])],
                         [helper.make_tensor_value_info("heat", TensorProto.FLOAT, [1, 19, 32, 24])],
                         [("w", w)], tmp_path_factory.mktemp("op") / "openpose_stand_in.onnx"))


def test_openpose_keypoints_from_a_photo(openpose_stand_in):
    crop = np.zeros((512, 384, 3), np.uint8)           # 2× the grid: blobFromImage resizes
    crop[160:176, 80:96] = (255, 0, 0)                 # blue block → grid (40..47, 80..87)
    crop[400:416, 304:320] = (0, 0, 200)               # red block → grid (152..159, 200..207)
    kp = openpose_stand_in.keypoints(crop)
    assert kp.shape == (18, 3)
    assert np.allclose(kp[0], (40, 80, 1.0), atol=1e-3)          # 1/255 scaling: conf = 1
    assert np.allclose(kp[1], (152, 200, 200 / 255), atol=1e-3)
    assert np.all(kp[2:] == 0)


def test_openpose_refuses_a_net_with_paf_channels(tmp_path):
    w = np.zeros((57, 3, 1, 1), np.float32)
    nodes = [helper.make_node("AveragePool", ["input"], ["pooled"], kernel_shape=[8, 8], strides=[8, 8]),
             helper.make_node("Conv", ["pooled", "w"], ["heat"])]
    pose = OpenPose(_net(nodes, [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 256, 192])],
                         [helper.make_tensor_value_info("heat", TensorProto.FLOAT, [1, 57, 32, 24])],
                         [("w", w)], tmp_path / "linevec.onnx"))
    with pytest.raises(ValueError, match="57 channels"):
        pose.keypoints(np.zeros((256, 192, 3), np.uint8))


def test_lip_parse_mirrors_and_swaps(tmp_path):
    # A per-pixel net cannot show the flip trick (it makes classes 14 and 15 tie), so the
    # stand-in looks one pixel to the LEFT: class 14 ("left arm") = red of pixel x−1, class 0 a
    # constant 0.4, others 0. On the mirrored item "x−1" is the original x+1, and its class 14
    # must come back as class 15 ("right arm") after the swap and the flip. A red block at
    # columns 2..7 therefore gives 14 at column 8 (direct view only) and 15 at column 1
    # (mirrored view only).
    w = np.zeros((20, 3, 1, 3), np.float32)
    w[14, 2, 0, 0] = 1.0 / 100      # BGR input: channel 2 is red; tap 0 = the left neighbour
    b = np.zeros(20, np.float32)
    b[0] = 0.4
    nodes = [helper.make_node("Conv", ["input", "w", "b"], ["scores"], pads=[0, 1, 0, 1])]
    net = _net(nodes, [helper.make_tensor_value_info("input", TensorProto.FLOAT, [2, 3, "h", "w"])],
               [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [2, 20, "h", "w"])],
               [("w", w), ("b", b)], tmp_path / "lip_stand_in.onnx")
    crop = np.zeros((40, 30, 3), np.uint8)
    crop[10:20, 2:8] = (0, 0, 255)        # red block
    labels, extras = LipJppNet(net).parse(crop, keypoints=None)
    assert labels.shape == (40, 30) and labels.dtype == np.uint8 and extras == {}
    # (255 − 122.7)/100 = 1.32, halved by the average = 0.66 > 0.4 (background)
    assert np.all(labels[10:20, 8] == 14)
    assert np.all(labels[10:20, 1] == 15)
    assert np.all(labels[:10] == 0) and np.all(labels[10:20, 9:] == 0) and np.all(labels[10:20, 0] == 0)
