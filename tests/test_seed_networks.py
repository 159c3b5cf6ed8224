"""Seed GMM/TOM stage classes on contract fixtures: small random-weight ONNX graphs with the
published files' input names and shapes (models/seed_onnx.py builders), incl. the Correlation
node. Outputs are meaningless; shapes, batching and the data flow around the nets are real."""
import numpy as np
import pytest

seed_onnx = pytest.importorskip("models.seed_onnx", reason="models/seed_onnx.py (seed ONNX tooling) not present")

from models.chain import WarpedGarments  # noqa: E402
from models.gmm import GMM, GmmWarp, cloth_blob  # noqa: E402
from models.person import Person  # noqa: E402
from models.sampler import bilinear_sample  # noqa: E402
from models.tom import TOM, TomRenderer  # noqa: E402
from models.tps import cpvton_grid  # noqa: E402


@pytest.fixture(scope="module")
def nets(tmp_path_factory):
    folder = tmp_path_factory.mktemp("seed_nets")
    paths = {"gmm": folder / "gmm.onnx", "gmm_rewritten": folder / "gmm_rw.onnx",
             "gmm_batch1": folder / "gmm_b1.onnx", "tom": folder / "tom.onnx"}
    seed_onnx.build_gmm(paths["gmm"], width=4)
    seed_onnx.build_gmm(paths["gmm_rewritten"], width=4, correlation="rewritten")
    seed_onnx.build_gmm(paths["gmm_batch1"], width=4, batch=1)
    seed_onnx.build_tom(paths["tom"], width=4)
    return paths


def _person():
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (256, 192, 3), dtype=np.uint8)
    labels = np.zeros((256, 192), np.uint8)
    labels[30:60, 70:120] = 13
    labels[60:200, 50:140] = 5
    keypoints = np.zeros((18, 3), np.float32)
    keypoints[:8] = [(96, 45, .9), (96, 70, .9), (70, 72, .9), (60, 120, .9), (55, 160, .9), (122, 72, .9),
                     (130, 120, .9), (135, 160, .9)]
    return Person(photo=photo, crop_box=(0, 0, 192, 256), keypoints=keypoints, parse=labels)


def _garments(n):
    rng = np.random.default_rng(1)
    out = []
    for _ in range(n):
        g = np.full((256, 192, 3), 245, np.uint8)
        g[40:220, 30:160] = rng.integers(0, 200, 3)
        out.append(g)
    return out


@pytest.mark.parametrize("which", ["gmm", "gmm_rewritten", "gmm_batch1"])
def test_gmm_theta_batched_equals_one_by_one(nets, which):
    gmm = GMM(nets[which])
    rng = np.random.default_rng(2)
    agnostic = rng.uniform(-1, 1, (1, 22, 256, 192)).astype(np.float32)
    cloth = rng.uniform(-1, 1, (3, 3, 256, 192)).astype(np.float32)
    theta = gmm.theta(agnostic, cloth)
    assert theta.shape == (3, 50) and theta.dtype == np.float32
    assert np.abs(theta).max() <= 1  # tanh-bounded
    singles = np.concatenate([gmm.theta(agnostic, cloth[i:i + 1]) for i in range(3)])
    assert np.allclose(theta, singles, atol=1e-5)
    assert not np.allclose(theta[0], theta[1])


def test_custom_and_rewritten_correlation_agree(nets):
    rng = np.random.default_rng(3)
    agnostic = rng.uniform(-1, 1, (2, 22, 256, 192)).astype(np.float32)
    cloth = rng.uniform(-1, 1, (2, 3, 256, 192)).astype(np.float32)
    a = GMM(nets["gmm"]).theta(agnostic, cloth)
    b = GMM(nets["gmm_rewritten"]).theta(agnostic, cloth)
    assert np.allclose(a, b, atol=1e-4)


def test_cloth_blob_is_rgb_minus1_1_squashed():
    g = np.zeros((100, 300, 3), np.uint8)
    g[..., 2] = 255  # red in BGR
    blob = cloth_blob([g])
    assert blob.shape == (1, 3, 256, 192)
    assert np.allclose(blob[0, 0], 1) and np.allclose(blob[0, 1:], -1)


def test_gmm_warp_stage_flow(nets):
    person, garments = _person(), _garments(3)
    stage = GmmWarp(GMM(nets["gmm"]))
    warped = stage.warp(person, garments, [None] * 3)
    assert isinstance(warped, WarpedGarments)
    assert warped.images.shape == (3, 256, 192, 3) and warped.masks.shape == (3, 256, 192)
    assert 0 <= warped.images.min() and warped.images.max() <= 1 and 0 <= warped.masks.min() <= warped.masks.max() <= 1
    # same as doing the steps by hand: θ → TPS grid → sampler (W−2)
    from models.representation import person_representation
    cloth = cloth_blob(garments)
    theta = GMM(nets["gmm"]).theta(person_representation(person), cloth)
    by_hand = (bilinear_sample(cloth, cpvton_grid(theta), 2).transpose(0, 2, 3, 1) + 1) / 2
    assert np.allclose(warped.images, by_hand, atol=1e-5)
    # a file given by path is not the published one: recorded as unverified
    assert stage.info["impl"] == "cpvton_gmm"
    assert stage.info["weights"]["cp_vton_gmm.onnx"].startswith("unverified ")


def test_cpvton_original_changes_the_sampler_scale(nets):
    person, garments = _person(), _garments(1)
    a = GmmWarp(GMM(nets["gmm"])).warp(person, garments, [None]).images
    b = GmmWarp(GMM(nets["gmm"]), cpvton_original=True).warp(person, garments, [None]).images
    assert a.shape == b.shape and not np.allclose(a, b, atol=1e-3)


def test_tom_batched_and_renderer(nets):
    tom = TOM(nets["tom"])
    rng = np.random.default_rng(4)
    agnostic = rng.uniform(-1, 1, (1, 22, 256, 192)).astype(np.float32)
    cloth = rng.uniform(-1, 1, (2, 3, 256, 192)).astype(np.float32)
    out = tom.forward(agnostic, cloth)
    assert out.shape == (2, 4, 256, 192)
    assert np.allclose(out[1:], tom.forward(agnostic, cloth[1:]), atol=1e-5)

    person = _person()
    warped = GmmWarp(GMM(nets["gmm"])).warp(person, _garments(2), [None, None])
    images = TomRenderer(tom).render(person, warped)
    assert len(images) == 2 and images[0].shape == (256, 192, 3) and images[0].dtype == np.float32
    assert 0 <= min(i.min() for i in images) and max(i.max() for i in images) <= 1


def test_missing_weights_are_reported_by_name(tmp_path, monkeypatch):
    from models.weights import MissingWeightsError

    monkeypatch.setenv("TRYON_WEIGHTS_DIR", str(tmp_path))
    assert not GmmWarp.available() and not TomRenderer.available()
    with pytest.raises(MissingWeightsError, match="cp_vton_gmm.onnx.*make models"):
        GmmWarp.load()
    with pytest.raises(MissingWeightsError, match="cp_vton_tom.onnx"):
        TomRenderer.load()
    not_a_net = tmp_path / "junk.onnx"
    not_a_net.write_bytes(b"junk")
    with pytest.raises(MissingWeightsError, match="junk.onnx"):
        GmmWarp.load(gmm=str(not_a_net))
