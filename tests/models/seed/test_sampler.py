"""Bilinear sampler (models/sampler.py): the sample's W−2 scale, CP-VTON's W−1, border clipping."""
import numpy as np
from scipy.ndimage import map_coordinates

from models.seed.sampler import bilinear_sample
from models.tps import cpvton_grid


def _image(n=2, c=3, h=256, w=192, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (n, c, h, w)).astype(np.float32)


def test_identity_grid_with_sample_scale_maps_last_pixel_to_second_last():
    img = _image()
    out = bilinear_sample(img, cpvton_grid(np.zeros((2, 50))), scale_offset=2)
    assert out.shape == img.shape and out.dtype == np.float32
    assert np.allclose(out[:, :, 255, 191], img[:, :, 254, 190], atol=1e-5)
    assert np.allclose(out[:, :, 0, 0], img[:, :, 0, 0], atol=1e-6)
    assert not np.allclose(out, img, atol=1e-3)  # the sample's identity is NOT an identity


def test_identity_grid_with_cpvton_scale_is_exact():
    img = _image()
    out = bilinear_sample(img, cpvton_grid(np.zeros((2, 50))), scale_offset=1)
    assert np.abs(out - img).max() < 1e-4


def test_interior_points_match_independent_bilinear_interpolation():
    img = _image(n=1, c=2, h=40, w=30, seed=1)
    rng = np.random.default_rng(2)
    grid = rng.uniform(-0.9, 0.9, (1, 7, 9, 2))
    for offset in (1, 2):
        out = bilinear_sample(img, grid, scale_offset=offset)
        u = 0.5 * (grid[0, ..., 0] + 1) * (30 - offset)
        v = 0.5 * (grid[0, ..., 1] + 1) * (40 - offset)
        for ch in range(2):
            ref = map_coordinates(img[0, ch].astype(np.float64), [v, u], order=1)
            assert np.abs(out[0, ch] - ref).max() < 1e-5


def test_points_outside_clip_to_the_border_pixel():
    img = _image(n=1, c=1, h=20, w=10, seed=3)
    grid = np.zeros((1, 2, 2, 2))
    grid[0, 0, 0] = (5.0, 5.0)      # far beyond bottom-right
    grid[0, 0, 1] = (-5.0, -5.0)    # far beyond top-left
    grid[0, 1, 0] = (-5.0, 0.0)     # left of the image, middle row (v = 9 with W−2 scale)
    grid[0, 1, 1] = (1.0, 1.0)      # corner itself
    out = bilinear_sample(img, grid, scale_offset=2)[0, 0]
    assert np.isclose(out[0, 0], img[0, 0, 19, 9])
    assert np.isclose(out[0, 1], img[0, 0, 0, 0])
    assert np.isclose(out[1, 0], img[0, 0, 9, 0])
    assert np.isclose(out[1, 1], img[0, 0, 18, 8])  # (1,1) → (H−2, W−2) with the sample's scale


def test_batch_items_use_their_own_grid():
    img = _image(n=2, c=1, h=16, w=12)
    grid = np.zeros((2, 1, 1, 2))
    grid[0, 0, 0] = (-1, -1)
    grid[1, 0, 0] = (1, 1)
    out = bilinear_sample(img, grid, scale_offset=1)
    assert np.isclose(out[0, 0, 0, 0], img[0, 0, 0, 0]) and np.isclose(out[1, 0, 0, 0], img[1, 0, 15, 11])
