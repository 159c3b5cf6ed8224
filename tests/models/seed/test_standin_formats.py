"""The seed's OpenPose and JPPNet read from files of the REAL formats — a Caffe prototxt +
binary caffemodel and a TensorFlow frozen GraphDef (tests/support/seed_standins.py builds tiny
ones without Caffe or TensorFlow) — through the same `OpenPose.load` / `LipJppNet.load` as the
real files, checked against the same networks computed in numpy from their weights; and what a
user reads when OpenCV cannot load or run such a file (the file, the OpenCV version, what to do)."""
import cv2
import numpy as np
import pytest

from tests.support import seed_standins as standins

from models.seed import lip_jppnet, openpose
from models.weights import MissingWeightsError


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("standins")
    proto, model, pose_weights = standins.write_openpose_standin(folder)
    pb, lip_weights = standins.write_jppnet_standin(folder)
    return {"proto": proto, "model": model, "pose_weights": pose_weights, "pb": pb, "lip_weights": lip_weights}


@pytest.fixture(scope="module")
def crop():
    """A real photo (scikit-image's public-domain astronaut), cropped to an odd 4:3-ish size."""
    from skimage import data

    return np.ascontiguousarray(cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)[20:341, 130:371])


def test_openpose_caffe_standin_matches_numpy(files, crop):
    pose = openpose.OpenPose.load(proto=str(files["proto"]), model=str(files["model"]))
    assert pose.net.getLayerNames() == ("conv1_1", "relu1_1", *standins.OPENPOSE_POOLS, standins.OPENPOSE_OUTPUT)
    blob = cv2.dnn.blobFromImage(crop, 1.0 / 255, (192, 256))  # what OpenPose.keypoints feeds it
    pose.net.setInput(blob)
    heat = pose.net.forward()
    expected = standins.openpose_numpy(blob, files["pose_weights"])
    assert heat.shape == expected.shape == (1, 19, 32, 24)
    assert np.abs(heat - expected).max() < 1e-4 * np.abs(expected).max()
    keypoints, _ = pose.keypoints(crop)
    reference = openpose.keypoints_from_heatmaps(expected)
    assert np.array_equal(keypoints[:, :2], reference[:, :2])  # same cells
    assert np.allclose(keypoints[:, 2], reference[:, 2], atol=1e-5)
    assert (keypoints[:, 2] > 0).sum() >= 6  # the stand-in finds keypoints: the post-processing is exercised


def test_jppnet_tf_standin_has_the_real_tail(files):
    from tensorboard.compat.proto import graph_pb2

    graph = graph_pb2.GraphDef.FromString(files["pb"].read_bytes())
    ops = [n.op for n in graph.node]
    assert graph.node[0].name == "input" and [d.size for d in graph.node[0].attr["shape"].shape.dim] == [2, -1, -1, 3]
    assert graph.node[-1].name == "Mean_3" and graph.node[-1].op == "Mean"
    assert (ops.count("Conv2D"), ops.count("ResizeBilinear"), ops.count("Pack"), ops.count("Mean")) == (9, 12, 4, 4)
    net = lip_jppnet.LipJppNet.load(lip=str(files["pb"])).net
    assert net.getUnconnectedOutLayersNames() == ("Mean_3",)


def test_jppnet_tf_standin_matches_numpy(files, crop):
    parser = lip_jppnet.LipJppNet.load(lip=str(files["pb"]))
    blob = cv2.dnn.blobFromImages([crop, cv2.flip(crop, 1)], 1.0, mean=lip_jppnet.MEAN_BGR)  # what labels() feeds it
    parser.net.setInput(blob)
    scores = parser.net.forward()
    expected = standins.jppnet_numpy(blob, files["lip_weights"])
    assert scores.shape == expected.shape == (2, 20, 384, 384)  # NHWC graph, NCHW out of OpenCV
    assert np.abs(scores - expected).max() < 1e-4 * np.abs(expected).max()
    labels, _ = parser.parse(crop)
    assert labels.shape == crop.shape[:2]
    assert np.array_equal(labels, lip_jppnet.labels_from_scores(expected.astype(np.float32), crop.shape[:2]))
    assert len(np.unique(labels)) >= 5


# --- a file OpenCV cannot load or run: the error names it, the OpenCV version, what to do -------
def _message(call) -> str:
    with pytest.raises(MissingWeightsError) as caught:
        call()
    message = str(caught.value)
    assert cv2.__version__ in message and "\n" not in message
    return message


def test_truncated_pb_names_the_file_and_opencv_version(files, tmp_path):
    broken = tmp_path / "lip_truncated.pb"
    broken.write_bytes(files["pb"].read_bytes()[:5000])
    message = _message(lambda: lip_jppnet.LipJppNet.load(lip=str(broken)))
    assert message.startswith(f"{broken}: OpenCV {cv2.__version__} cannot load this network (")
    assert "make models" in message


def test_prototxt_with_a_wrong_layer_names_the_files(files, tmp_path, crop):
    # a bottom that no layer makes: refused while reading
    bad_bottom = tmp_path / "bad_bottom.prototxt"
    bad_bottom.write_text(files["proto"].read_text().replace('bottom: "pool3_stage1"', 'bottom: "pool9_stage1"'))
    message = _message(lambda: openpose.OpenPose.load(proto=str(bad_bottom), model=str(files["model"])))
    assert f"{bad_bottom} + {files['model']}: OpenCV {cv2.__version__} cannot load" in message
    assert "pool9_stage1" in message
    # a kernel size that disagrees with the caffemodel's weights: reads, then asserts inside
    # OpenCV on the first forward — reported the same way, not as a cv2.error
    bad_kernel = tmp_path / "bad_kernel.prototxt"
    bad_kernel.write_text(files["proto"].read_text().replace("num_output: 19 kernel_size: 1", "num_output: 19 kernel_size: 3"))
    pose = openpose.OpenPose.load(proto=str(bad_kernel), model=str(files["model"]))
    message = _message(lambda: pose.keypoints(crop))
    assert f"{bad_kernel} + {files['model']}: OpenCV {cv2.__version__} cannot run this network (" in message
    assert "Assertion failed" in message


def test_known_failures_say_what_to_do(files, tmp_path, monkeypatch):
    broken = tmp_path / "lip_jppnet_384.pb"
    broken.write_bytes(files["pb"].read_bytes()[:5000])
    # opencv#22221 is known on 4.5-4.6: simulate that version's string (its message says what to do)
    monkeypatch.setattr(cv2, "__version__", "4.6.0")
    message = _message(lambda: lip_jppnet.LipJppNet.load(lip=str(broken)))
    assert message.startswith(f"{broken}: OpenCV 4.6.0 cannot load")
    assert "opencv#22221" in message and "opencv-python-headless 4.10 or newer" in message and "--parse" in message
    monkeypatch.undo()
    # the same assertion's text on any version brings the same advice
    permute = cv2.error("OpenCV(4.5.5) permute_layer.cpp:155: error: (-215:Assertion failed) "
                        "(int)_numAxes == inputs[0].size() in function 'getMemoryShapes'")
    from models.onnx.batch import network_error

    message = str(network_error((broken,), permute, "run", lip_jppnet.KNOWN_FAILURES))
    assert "_numAxes == inputs[0].size()" in message and "opencv#22221" in message
    # OpenCV 5 has no Caffe importer
    monkeypatch.setattr(cv2, "__version__", "5.0.0")
    caffe_gone = cv2.error("Caffe importer has been removed. Please use ONNX-converted models or use an older OpenCV version.")
    message = str(network_error((files["proto"], files["model"]), caffe_gone, "load", openpose.KNOWN_FAILURES))
    assert "OpenCV 5.0.0 cannot load" in message and "opencv-python-headless 4.x" in message and "--pose-json" in message
