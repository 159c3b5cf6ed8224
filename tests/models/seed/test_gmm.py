"""The seed GMM and its warp stage on contract fixtures (tests/models/seed/conftest.py: small
random-weight ONNX graphs with the published file's input names and shapes, incl. the
Correlation node). Outputs are meaningless; shapes, batching and the data flow are real."""
import numpy as np
import pytest

from models.contract import WarpedGarments
from models.seed.gmm import GMM, GmmWarp, cloth_blob
from models.seed.sampler import bilinear_sample
from models.seed.tom import TomRenderer
from models.tps import cpvton_grid
from tests.models.seed.fixtures import garments, person


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
    someone, clothes = person(), garments(3)
    stage = GmmWarp(GMM(nets["gmm"]))
    warped = stage.warp(someone, clothes, [None] * 3)
    assert isinstance(warped, WarpedGarments)
    assert warped.images.shape == (3, 256, 192, 3) and warped.masks.shape == (3, 256, 192)
    assert 0 <= warped.images.min() and warped.images.max() <= 1 and 0 <= warped.masks.min() <= warped.masks.max() <= 1
    # same as doing the steps by hand: θ → TPS grid → sampler (W−2)
    from models.seed.representation import person_representation
    cloth = cloth_blob(clothes)
    theta = GMM(nets["gmm"]).theta(person_representation(someone), cloth)
    by_hand = (bilinear_sample(cloth, cpvton_grid(theta), 2).transpose(0, 2, 3, 1) + 1) / 2
    assert np.allclose(warped.images, by_hand, atol=1e-5)
    # a file given by path is not the published one: recorded as unverified
    assert stage.info["impl"] == "cpvton_gmm"
    assert stage.info["weights"]["cp_vton_gmm.onnx"].startswith("unverified ")


def test_cpvton_original_changes_the_sampler_scale(nets):
    someone, clothes = person(), garments(1)
    a = GmmWarp(GMM(nets["gmm"])).warp(someone, clothes, [None]).images
    b = GmmWarp(GMM(nets["gmm"]), cpvton_original=True).warp(someone, clothes, [None]).images
    assert a.shape == b.shape and not np.allclose(a, b, atol=1e-3)


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
