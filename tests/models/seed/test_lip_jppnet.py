"""LIP JPPNet post-processing (models/seed/lip_jppnet.py): resize, left/right swap, flip, argmax."""
import numpy as np
import pytest
from onnx import TensorProto, helper

from models.seed.lip_jppnet import MIRROR_CLASS, LipJppNet, labels_from_scores
from tests.models.seed.fixtures import stand_in_net


def _label_map(h=32, w=24):
    labels = np.zeros((h, w), np.uint8)
    labels[2:8, 8:16] = 13     # face, centred-ish
    labels[8:20, 2:6] = 14     # left arm, on the image's left
    labels[8:20, 18:22] = 15   # right arm, on the right
    labels[20:30, 3:9] = 16    # left leg
    labels[20:30, 15:21] = 17  # right leg
    labels[30:32, 3:7] = 18    # left shoe
    labels[30:32, 16:20] = 19  # right shoe
    labels[8:20, 6:18] = 5     # upper clothes
    return labels


def _scores(labels, strength=4.0):
    return (np.eye(20, dtype=np.float32)[labels] * strength).transpose(2, 0, 1)


def _mirrored_view(labels):
    """What the net sees in the mirrored photo: the image flipped, and a left arm now looks
    like a right arm (so its class is swapped)."""
    return MIRROR_CLASS[labels[:, ::-1]].astype(np.uint8)


def test_mirror_class_swaps_only_left_right_pairs():
    assert list(MIRROR_CLASS[14:]) == [15, 14, 17, 16, 19, 18]
    assert list(MIRROR_CLASS[:14]) == list(range(14))


def test_consistent_views_recover_the_labels():
    labels = _label_map()
    scores = np.stack([_scores(labels), _scores(_mirrored_view(labels))])
    out = labels_from_scores(scores, labels.shape)
    assert out.dtype == np.uint8 and np.array_equal(out, labels)


def test_mirrored_item_alone_decides_after_swap_and_flip():
    labels = _label_map()
    # The direct view is uninformative (all zeros), the mirrored view is strong: the result
    # must be the mirrored view un-flipped AND un-swapped.
    scores = np.stack([np.zeros((20, 32, 24), np.float32), _scores(_mirrored_view(labels))])
    out = labels_from_scores(scores, labels.shape)
    assert np.array_equal(out, labels)
    # Without the class swap, the arms would come out exchanged: make sure it matters here.
    assert not np.array_equal(labels[:, ::-1][:, ::-1], MIRROR_CLASS[labels])


def test_views_are_averaged():
    labels = _label_map()
    direct = _scores(labels, strength=1.0)
    other = np.zeros_like(labels)  # mirrored view says "background" everywhere, more weakly
    mirrored = _scores(_mirrored_view(other), strength=0.5)
    out = labels_from_scores(np.stack([direct, mirrored]), labels.shape)
    assert np.array_equal(out, labels)  # mean: 0.5 for the label vs 0.25 for background
    mirrored = _scores(_mirrored_view(other), strength=3.0)
    assert np.all(labels_from_scores(np.stack([direct, mirrored]), labels.shape) == 0)


def test_scores_are_resized_to_the_crop():
    labels = _label_map()
    scores = np.stack([_scores(labels), _scores(_mirrored_view(labels))])
    out = labels_from_scores(scores, (128, 96))  # 4× the score resolution
    assert out.shape == (128, 96)
    # region centres survive the bilinear resize
    assert out[4 * 5, 4 * 12] == 13 and out[4 * 14, 4 * 3] == 14 and out[4 * 14, 4 * 20] == 15
    assert out[4 * 25, 4 * 5] == 16 and out[4 * 25, 4 * 18] == 17


def test_rejects_wrong_shape():
    with pytest.raises(ValueError):
        labels_from_scores(np.zeros((1, 20, 8, 8)), (8, 8))


# --- the stage class around a stand-in network (JPPNet 2×3×H×W → 2×20×h×w) ------------------
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
    net = stand_in_net(nodes, [helper.make_tensor_value_info("input", TensorProto.FLOAT, [2, 3, "h", "w"])],
               [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [2, 20, "h", "w"])],
               [("w", w), ("b", b)], tmp_path / "lip_stand_in.onnx")
    crop = np.zeros((40, 30, 3), np.uint8)
    crop[10:20, 2:8] = (0, 0, 255)        # red block
    labels, extras = LipJppNet(net).parse(crop, None, {})
    assert labels.shape == (40, 30) and labels.dtype == np.uint8 and extras == {}
    # (255 − 122.7)/100 = 1.32, halved by the average = 0.66 > 0.4 (background)
    assert np.all(labels[10:20, 8] == 14)
    assert np.all(labels[10:20, 1] == 15)
    assert np.all(labels[:10] == 0) and np.all(labels[10:20, 9:] == 0) and np.all(labels[10:20, 0] == 0)
