"""OpenPose post-processing (models/seed/openpose.py) on synthetic heat-maps, pose squares, and
OpenPose JSON → grid."""
import json

import numpy as np
import pytest
from onnx import TensorProto, helper

from models.seed.openpose import OpenPose, keypoints_from_heatmaps, photo_keypoints_to_grid, read_openpose_json
from models.seed.representation import pose_map
from models.weights import MissingWeightsError
from tests.models.seed.fixtures import stand_in_net


def _heatmaps(peaks):
    """1×19×32×24 maps, zeros except {channel: (px, py, value)}."""
    out = np.zeros((1, 19, 32, 24), np.float32)
    for ch, (px, py, value) in peaks.items():
        out[0, ch, py, px] = value
    return out


def test_positions_are_cell_corners_multiples_of_8():
    kp = keypoints_from_heatmaps(_heatmaps({0: (5, 10, 0.9), 4: (23, 31, 0.5)}))
    assert kp.shape == (18, 3) and kp.dtype == np.float32
    assert np.allclose(kp[0], (40, 80, 0.9))
    assert np.allclose(kp[4], (184, 248, 0.5))
    assert np.all(kp[:, :2] % 8 == 0)


def test_threshold_and_zero_coordinates_mean_missing():
    kp = keypoints_from_heatmaps(_heatmaps({
        1: (5, 5, 0.099),  # conf must be > 0.1
        2: (0, 5, 0.9),    # x = 0 is refused by the sample
        3: (5, 0, 0.9),    # y = 0 likewise
        5: (5, 5, 0.11),
    }))
    assert np.all(kp[[1, 2, 3]] == 0)
    assert kp[5, 2] == pytest.approx(0.11)
    # background channel (18) is dropped even when it has the strongest peak
    kp_bg = keypoints_from_heatmaps(_heatmaps({18: (3, 3, 5.0)}))
    assert kp_bg.shape == (18, 3) and np.all(kp_bg == 0)


def test_pose_map_draws_10x10_squares_end_exclusive():
    kp = keypoints_from_heatmaps(_heatmaps({0: (5, 10, 0.9), 7: (1, 1, 0.9)}))
    maps = pose_map(kp)
    assert maps.shape == (18, 256, 192) and set(np.unique(maps)) == {-1.0, 1.0}
    on = np.argwhere(maps[0] == 1)
    assert on[:, 0].min() == 75 and on[:, 0].max() == 84 and on[:, 1].min() == 35 and on[:, 1].max() == 44
    assert len(on) == 100
    assert (maps[7] == 1).sum() == 100 and maps[7][3:13, 3:13].min() == 1  # (8, 8) → rows/cols 3..12
    assert np.all(maps[1] == -1)  # missing keypoint: all −1


def test_pose_map_cpvton_squares_are_11x11_and_clip_at_border():
    kp = np.zeros((18, 3), np.float32)
    kp[0] = (40, 80, 0.9)
    kp[1] = (2, 3, 0.9)      # near the corner: clipped, not wrapped to the far side
    kp[2] = (1, 50, 0.9)     # CP-VTON draws only where x > 1
    maps = pose_map(kp, square=11)
    on = np.argwhere(maps[0] == 1)
    assert len(on) == 121 and on[:, 0].min() == 75 and on[:, 0].max() == 85
    assert (maps[1] == 1).sum() == (3 + 6) * (2 + 6) and maps[1][-1].max() == -1 and maps[1][:, -1].max() == -1
    assert np.all(maps[2] == -1)
    assert (pose_map(kp)[1] == 1).sum() == 8 * 7  # the sample's 10×10 square clipped the same way


def test_json_body25_and_coco18_to_grid(tmp_path):
    body25 = np.arange(75, dtype=np.float64).reshape(25, 3)
    body25[:, 2] = 0.8
    body25[12, 2] = 0  # BODY_25 12 = l-hip = COCO 11: missing
    path = tmp_path / "b25.json"
    path.write_text(json.dumps({"people": [{"pose_keypoints_2d": body25.ravel().tolist()}]}))
    points = read_openpose_json(path)
    assert points.shape == (18, 3)
    assert np.allclose(points[8], body25[9]) and np.allclose(points[7], body25[7])  # mid-hip skipped
    grid = photo_keypoints_to_grid(points, (100, 0, 400, 400))  # crop 300×400 → ×0.64
    assert np.allclose(grid[0, :2], ((0 - 100) * 0.64, 1 * 0.64), atol=1e-4)
    assert np.all(grid[11] == 0)

    coco = tmp_path / "coco.json"
    coco.write_text(json.dumps({"people": [{"pose_keypoints": body25[:18].ravel().tolist()}]}))
    assert np.allclose(read_openpose_json(coco), body25[:18])


@pytest.mark.parametrize("content", ["not json", '{"people": []}', '{"people": [{"pose_keypoints_2d": [1, 2]}]}',
                                     '{"people": [{"pose_keypoints_2d": ' + str(list(range(60))) + '}]}'])
def test_json_errors_are_value_errors(tmp_path, content):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ValueError):
        read_openpose_json(path)


def test_dataset_json_files_read(tryon_data):
    for path in sorted((tryon_data / "pose_json").glob("*.json")):
        points = read_openpose_json(path)
        assert points.shape == (18, 3) and (points[:, 2] > 0).sum() >= 8, path.name


# --- the stage class around a stand-in network (OpenPose 1×3×256×192 → 1×19×32×24) ---------
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
    return OpenPose(stand_in_net(nodes, [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 256, 192])],
                         [helper.make_tensor_value_info("heat", TensorProto.FLOAT, [1, 19, 32, 24])],
                         [("w", w)], tmp_path_factory.mktemp("op") / "openpose_stand_in.onnx"))


def test_openpose_keypoints_from_a_photo(openpose_stand_in):
    crop = np.zeros((512, 384, 3), np.uint8)           # 2× the grid: blobFromImage resizes
    crop[160:176, 80:96] = (255, 0, 0)                 # blue block → grid (40..47, 80..87)
    crop[400:416, 304:320] = (0, 0, 200)               # red block → grid (152..159, 200..207)
    kp, extras = openpose_stand_in.keypoints(crop)
    assert extras == {}
    assert kp.shape == (18, 3)
    assert np.allclose(kp[0], (40, 80, 1.0), atol=1e-3)          # 1/255 scaling: conf = 1
    assert np.allclose(kp[1], (152, 200, 200 / 255), atol=1e-3)
    assert np.all(kp[2:] == 0)


def test_openpose_refuses_a_net_with_paf_channels(tmp_path):
    w = np.zeros((57, 3, 1, 1), np.float32)
    nodes = [helper.make_node("AveragePool", ["input"], ["pooled"], kernel_shape=[8, 8], strides=[8, 8]),
             helper.make_node("Conv", ["pooled", "w"], ["heat"])]
    path = tmp_path / "linevec.onnx"
    pose = OpenPose(stand_in_net(nodes, [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 256, 192])],
                         [helper.make_tensor_value_info("heat", TensorProto.FLOAT, [1, 57, 32, 24])],
                         [("w", w)], path), (path,))
    with pytest.raises(MissingWeightsError, match="linevec.onnx: the network gives 57 channels"):
        pose.keypoints(np.zeros((256, 192, 3), np.uint8))
