"""TOM's composition (models/seed/composition.py)."""
import numpy as np

from models.seed.composition import compose_tom


def test_mask_selects_cloth_or_rendered_person_and_keeps_rgb_order():
    cloth = np.zeros((2, 3, 8, 6), np.float32)
    cloth[:, 0] = 1.0   # pure red cloth in [−1,1]: R = 1, G = B = 0 → (1, 0, 0)… after (P+1)/2: (1, .5, .5)
    cloth[:, 1:] = -1.0
    tom = np.zeros((2, 4, 8, 6), np.float32)
    tom[:, :3] = np.arctanh(0.2)     # rendered person = 0.2 everywhere
    tom[0, 3] = 30.0                 # item 0: mask ≈ 1 → the cloth
    tom[1, 3] = -30.0                # item 1: mask ≈ 0 → the rendered person
    out = compose_tom(tom, cloth)
    assert out.shape == (2, 8, 6, 3) and out.dtype == np.float32
    assert np.allclose(out[0], (1.0, 0.0, 0.0), atol=1e-6)   # red stays in channel 0: RGB
    assert np.allclose(out[1], 0.6, atol=1e-6)               # (0.2 + 1) / 2


def test_half_mask_blends():
    cloth = np.ones((1, 3, 2, 2), np.float32)
    tom = np.zeros((1, 4, 2, 2), np.float32)   # R = tanh(0) = 0, M = sigmoid(0) = 0.5
    assert np.allclose(compose_tom(tom, cloth), (0.5 * 1 + 0.5 * 0 + 1) / 2)
