"""The seed TOM and its render stage on contract fixtures (tests/models/seed/conftest.py)."""
import numpy as np

from models.seed.gmm import GMM, GmmWarp
from models.seed.tom import TOM, TomRenderer
from tests.models.seed.fixtures import garments, person


def test_tom_batched_and_renderer(nets):
    tom = TOM(nets["tom"])
    rng = np.random.default_rng(4)
    agnostic = rng.uniform(-1, 1, (1, 22, 256, 192)).astype(np.float32)
    cloth = rng.uniform(-1, 1, (2, 3, 256, 192)).astype(np.float32)
    out = tom.forward(agnostic, cloth)
    assert out.shape == (2, 4, 256, 192)
    assert np.allclose(out[1:], tom.forward(agnostic, cloth[1:]), atol=1e-5)

    someone = person()
    warped = GmmWarp(GMM(nets["gmm"])).warp(someone, garments(2), [None, None])
    images = TomRenderer(tom).render(someone, warped)
    assert len(images) == 2 and images[0].shape == (256, 192, 3) and images[0].dtype == np.float32
    assert 0 <= min(i.min() for i in images) and max(i.max() for i in images) <= 1
