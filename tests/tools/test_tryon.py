"""`python -m tools.tryon` end to end on contract fixtures (random-weight GMM/TOM with the real
input names) with --pose-json/--parse, so no OpenPose/JPPNet weights are needed; and its
bad-input behaviour (exit 2, one line naming the file)."""
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

seed_onnx = pytest.importorskip("tools.seed_onnx", reason="tools/seed_onnx.py (seed ONNX tooling) not present")

REPO = Path(__file__).resolve().parents[2]


def _cli(*args, weights_dir=None):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("TRYON_GMM_ONNX", None)
    env.pop("TRYON_TOM_ONNX", None)
    if weights_dir is not None:
        env["TRYON_WEIGHTS_DIR"] = str(weights_dir)
    return subprocess.run([sys.executable, "-m", "tools.tryon", *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def nets(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli_nets")
    gmm, tom = folder / "gmm.onnx", folder / "tom.onnx"
    seed_onnx.build_gmm(gmm, width=4)   # with the custom Correlation node, like the published file
    seed_onnx.build_tom(tom, width=4)
    return gmm, tom


@pytest.mark.parametrize("name, garment", [("00006_00", "00006_00"), ("000001_0", "003491_1")])
def test_cli_end_to_end_matches_the_library(tryon_data, nets, tmp_path, name, garment):
    gmm, tom = nets
    person = tryon_data / "persons" / f"{name}.jpg"
    cloth = tryon_data / "garments" / f"{garment}.jpg"
    pose = tryon_data / "pose_json" / f"{name}_keypoints.json"
    parse = tryon_data / "parse" / f"{name}.png"
    out, npy = tmp_path / "out.png", tmp_path / "out.npy"
    run = _cli(person, cloth, "-o", out, "--gmm", gmm, "--tom", tom, "--pose-json", pose, "--parse", parse,
               "--out-npy", npy, weights_dir=tmp_path / "no-weights")
    assert run.returncode == 0, run.stderr
    photo = cv2.imread(str(person))
    result = cv2.imread(str(out))
    assert result is not None and result.shape == photo.shape
    tryon = np.load(npy)
    assert tryon.shape == (256, 192, 3) and tryon.dtype == np.float32
    assert 0 <= tryon.min() and tryon.max() <= 1

    # The same pair through the library directly.
    from models.crop import centre_crop_box
    from models.seed.gmm import GMM, GmmWarp
    from models.paste_back import paste_back
    from models.contract import Person
    from models.seed.tom import TOM, TomRenderer
    from tools.tryon import read_keypoints, read_parse

    box = centre_crop_box(*photo.shape[:2])
    me = Person(photo=photo, crop_box=box, keypoints=read_keypoints(str(pose), box),
                parse=read_parse(str(parse), photo.shape[:2], box))
    warped = GmmWarp(GMM(gmm)).warp(me, [cv2.imread(str(cloth))], [None])
    [expected] = TomRenderer(TOM(tom)).render(me, warped)
    assert np.allclose(tryon, expected, atol=1e-5)
    assert np.abs(result.astype(int) - paste_back(photo, box, expected)).max() <= 1


def test_cli_bad_inputs_exit_2_with_one_line(tryon_data, nets, tmp_path):
    gmm, tom = nets
    person = tryon_data / "persons" / "000001_0.jpg"
    cloth = tryon_data / "garments" / "003491_1.jpg"
    pose = tryon_data / "pose_json" / "000001_0_keypoints.json"
    parse = tryon_data / "parse" / "000001_0.png"
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    out = tmp_path / "out.png"
    common = ["--gmm", gmm, "--tom", tom, "--pose-json", pose, "--parse", parse]
    cases = [
        ([tmp_path / "missing.jpg", cloth, "-o", out, *common], "missing.jpg"),
        ([person, text, "-o", out, *common], "notes.txt"),
        ([person, cloth, "-o", out, "--gmm", text, "--tom", tom, "--pose-json", pose, "--parse", parse], "notes.txt"),
        ([person, cloth, "-o", out, "--gmm", gmm, "--tom", tom, "--pose-json", text, "--parse", parse], "notes.txt"),
        ([person, cloth, "-o", out, "--gmm", gmm, "--tom", tom, "--pose-json", pose, "--parse", text], "notes.txt"),
        ([person, cloth, "-o", out, "--gmm", tmp_path / "nope.onnx", "--tom", tom, "--pose-json", pose,
          "--parse", parse], "nope.onnx"),
    ]
    for args, named in cases:
        run = _cli(*args, weights_dir=tmp_path / "no-weights")
        assert run.returncode == 2, (args, run.stderr)
        lines = run.stderr.strip().splitlines()
        assert len(lines) == 1 and named in lines[0] and "Traceback" not in run.stderr, run.stderr
    assert not out.exists()


def test_cli_without_weights_names_the_file_and_make_models(tryon_data, tmp_path):
    run = _cli(tryon_data / "persons" / "000001_0.jpg", tryon_data / "garments" / "003491_1.jpg",
               "-o", tmp_path / "out.png", "--chain", "seed", weights_dir=tmp_path / "empty")
    assert run.returncode == 2
    line = run.stderr.strip()
    assert len(line.splitlines()) == 1
    assert "openpose_pose_coco" in line and "make models" in line

    # with pose and parse given, the first missing file is the GMM's
    run = _cli(tryon_data / "persons" / "000001_0.jpg", tryon_data / "garments" / "003491_1.jpg",
               "-o", tmp_path / "out.png", "--pose-json", tryon_data / "pose_json" / "000001_0_keypoints.json",
               "--parse", tryon_data / "parse" / "000001_0.png", "--chain", "seed", weights_dir=tmp_path / "empty")
    assert run.returncode == 2 and "cp_vton_gmm.onnx" in run.stderr and "make models" in run.stderr


def test_cli_geometric_chain_with_given_pose_and_parse(tryon_data, tmp_path):
    from models.geometric.blazepose import BlazePose
    from models.geometric.parsing import GeometricParser

    if not (BlazePose.available() and GeometricParser.available()):
        pytest.skip("the geometric chain's weights are absent (run `make models`)")
    name = "00891_00"
    out, npy = tmp_path / "out.png", tmp_path / "out.npy"
    run = _cli(tryon_data / "persons" / f"{name}.jpg", tryon_data / "garments" / "00006_00.jpg", "-o", out,
               "--chain", "geometric", "--pose-json", tryon_data / "pose_json" / f"{name}_keypoints.json",
               "--parse", tryon_data / "parse" / f"{name}.png", "--out-npy", npy)
    assert run.returncode == 0, run.stderr
    assert "pose=given_keypoints" in run.stdout and "warp=landmark_warp" in run.stdout
    assert cv2.imread(str(out)).shape == cv2.imread(str(tryon_data / "persons" / f"{name}.jpg")).shape
    assert np.load(npy).shape == (256, 192, 3)


def test_cli_seed_files_need_seed_chain(tryon_data, nets, tmp_path):
    run = _cli(tryon_data / "persons" / "000001_0.jpg", tryon_data / "garments" / "003491_1.jpg",
               "-o", tmp_path / "out.png", "--chain", "registry", "--gmm", nets[0])  # the old name still parses
    assert run.returncode == 2 and "--chain seed" in run.stderr


def test_cli_defaults_to_auto_like_the_batch_system_and_says_which_stages_ran(tryon_data, tmp_path):
    from models.chain import implementation

    if not implementation("pose", "auto").available():
        pytest.skip("no pose stage's weights are present (run `make models`)")
    out = tmp_path / "out.png"
    run = _cli(tryon_data / "persons" / "000001_0.jpg", tryon_data / "garments" / "003491_1.jpg", "-o", out)
    assert run.returncode == 0, run.stderr
    last = run.stdout.strip().splitlines()[-1]
    assert "(chain auto: " in last and "pose=" in last and "render=" in last, last
    assert out.exists()


def test_cli_category_lower_and_dress_on_a_full_body_photo(tryon_data, tmp_path):
    """--category: a lower garment and a dress on a full-body customer (geometric chain);
    the seed chain refuses them before loading anything (CP-VTON renders tops only)."""
    from models.geometric.blazepose import BlazePose

    wild = tryon_data.parent / "catalogue_wild"
    if not (wild / "persons" / "051962_0.jpg").exists():
        pytest.skip(f"{wild}: the shared full-body photos are absent")
    if not BlazePose.available():
        pytest.skip("the geometric chain's weights are absent (run `make models`)")
    person = wild / "persons" / "051962_0.jpg"
    for category, garment in (("lower", "051946_1.jpg"), ("dress", "053319_1.jpg")):
        out = tmp_path / f"{category}.png"
        run = _cli(person, wild / "garments" / garment, "-o", out, "--chain", "geometric", "--category", category)
        assert run.returncode == 0, run.stderr
        assert cv2.imread(str(out)).shape == cv2.imread(str(person)).shape
    run = _cli(person, wild / "garments" / "053319_1.jpg", "-o", tmp_path / "x.png", "--chain", "seed",
               "--category", "dress")
    assert run.returncode == 2 and "renders upper garments only" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
