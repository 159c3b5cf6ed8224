"""The try-on CLI runs the WHOLE seed chain from files of the four real formats — OpenPose
COCO as Caffe prototxt + caffemodel, LIP JPPNet as a TensorFlow frozen .pb, GMM and TOM as ONNX
(tiny stand-ins: tests/support/seed_standins.py, and seed_onnx at width 4) — on a shared photo,
and its try-on equals the same steps done directly: OpenPose and JPPNet computed in numpy from
their weights, then the sample's post-processing, GMM warp and TOM render as the library does."""
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from models.seed import lip_jppnet, openpose
from tests.support import seed_standins as standins
from tools import seed_onnx

REPO = Path(__file__).resolve().parents[2]


CLI = "tools.tryon"


@pytest.fixture(scope="module")
def nets(tmp_path_factory):
    folder = tmp_path_factory.mktemp("seed_standins")
    proto, model, pose_weights = standins.write_openpose_standin(folder)
    pb, lip_weights = standins.write_jppnet_standin(folder)
    gmm, tom = folder / "gmm.onnx", folder / "tom.onnx"
    seed_onnx.build_gmm(gmm, width=4)  # real architecture and input names, with the custom Correlation node
    seed_onnx.build_tom(tom, width=4)
    return {"proto": proto, "model": model, "pb": pb, "gmm": gmm, "tom": tom,
            "pose_weights": pose_weights, "lip_weights": lip_weights}


def _expected_tryon(photo, cloth, nets):
    """The seed chain by hand: the two stand-ins in numpy, the rest through the library."""
    from models.crop import centre_crop_box
    from models.contract import Person
    from models.seed.gmm import GMM, GmmWarp
    from models.seed.tom import TOM, TomRenderer

    box = centre_crop_box(*photo.shape[:2])
    x0, y0, x1, y1 = box
    crop = photo[y0:y1, x0:x1]
    pose_blob = cv2.dnn.blobFromImage(crop, 1.0 / 255, (192, 256))  # the sample's preprocessing calls
    lip_blob = cv2.dnn.blobFromImages([crop, cv2.flip(crop, 1)], 1.0, mean=lip_jppnet.MEAN_BGR)
    keypoints = openpose.keypoints_from_heatmaps(standins.openpose_numpy(pose_blob, nets["pose_weights"]))
    labels = lip_jppnet.labels_from_scores(standins.jppnet_numpy(lip_blob, nets["lip_weights"]).astype(np.float32),
                                           crop.shape[:2])
    person = Person(photo=photo, crop_box=box, keypoints=keypoints, parse=labels)
    warped = GmmWarp(GMM(nets["gmm"])).warp(person, [cloth], [None])
    [tryon] = TomRenderer(TOM(nets["tom"])).render(person, warped)
    return tryon, keypoints, labels


@pytest.mark.parametrize("name, garment", [("00006_00", "00006_00"), ("000001_0", "003491_1")])
def test_cli_runs_the_seed_chain_from_the_real_formats(tryon_data, nets, tmp_path, name, garment):
    person = tryon_data / "persons" / f"{name}.jpg"
    cloth = tryon_data / "garments" / f"{garment}.jpg"
    if not (person.is_file() and cloth.is_file()):
        pytest.skip(f"{person} or {cloth} is absent from the shared data")
    out, npy = tmp_path / "out.png", tmp_path / "out.npy"
    env = dict(os.environ, PYTHONPATH=str(REPO), TRYON_WEIGHTS_DIR=str(tmp_path / "no-weights"))
    run = subprocess.run([sys.executable, "-m", CLI, person, cloth, "-o", out, "--out-npy", npy,
                          "--openpose-proto", nets["proto"], "--openpose-model", nets["model"], "--lip", nets["pb"],
                          "--gmm", nets["gmm"], "--tom", nets["tom"]],
                         env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "pose=openpose" in run.stdout and "parsing=lip_jppnet" in run.stdout, run.stdout

    photo = cv2.imread(str(person))
    expected, keypoints, labels = _expected_tryon(photo, cv2.imread(str(cloth)), nets)
    assert (keypoints[:, 2] > 0).sum() >= 6 and len(np.unique(labels)) >= 5  # pose and parse do shape the result
    tryon = np.load(npy)
    assert tryon.shape == expected.shape == (256, 192, 3)
    assert np.abs(tryon - expected).max() < 1e-4  # 0 on OpenCV 4.14: same keypoint cells, same labels


def test_cli_broken_seed_file_is_one_line_naming_it_and_the_opencv_version(tryon_data, nets, tmp_path):
    person, cloth = tryon_data / "persons" / "000001_0.jpg", tryon_data / "garments" / "003491_1.jpg"
    if not (person.is_file() and cloth.is_file()):
        pytest.skip(f"{person} or {cloth} is absent from the shared data")
    bad_kernel = tmp_path / "openpose_bad_kernel.prototxt"  # reads, then fails inside OpenCV on the first forward
    bad_kernel.write_text(nets["proto"].read_text().replace("num_output: 19 kernel_size: 1", "num_output: 19 kernel_size: 3"))
    truncated = tmp_path / "lip_truncated.pb"
    truncated.write_bytes(nets["pb"].read_bytes()[:5000])
    env = dict(os.environ, PYTHONPATH=str(REPO), TRYON_WEIGHTS_DIR=str(tmp_path / "no-weights"))
    for proto, lip, named, doing in [(bad_kernel, nets["pb"], bad_kernel, "run"), (nets["proto"], truncated, truncated, "load")]:
        run = subprocess.run([sys.executable, "-m", CLI, person, cloth, "-o", tmp_path / "out.png",
                              "--openpose-proto", proto, "--openpose-model", nets["model"], "--lip", lip,
                              "--gmm", nets["gmm"], "--tom", nets["tom"]],
                             env=env, capture_output=True, text=True, timeout=300)
        assert run.returncode == 2, run.stderr
        [line] = run.stderr.strip().splitlines()
        assert line.startswith(f"error: {named}") and f"OpenCV {cv2.__version__} cannot {doing} this network" in line, line
    assert not (tmp_path / "out.png").exists()
