"""TOM composition (models/compose.py) and paste-back (models/paste_back.py)."""
import numpy as np

from models.compose import compose_tom
from models.crop import centre_crop_box
from models.paste_back import paste_back


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


def test_paste_back_fills_the_crop_and_keeps_the_rest():
    photo = np.random.default_rng(0).integers(0, 256, (400, 600, 3), dtype=np.uint8)
    box = centre_crop_box(400, 600)
    x0, y0, x1, y1 = box
    tryon = np.zeros((256, 192, 3), np.float32)
    tryon[..., 0] = 1.0                 # red (RGB)
    tryon[..., 2] = 0.5
    out = paste_back(photo, box, tryon)
    assert out.shape == photo.shape and out.dtype == np.uint8
    patch = out[y0:y1, x0:x1].astype(int)
    assert np.abs(patch - (128, 0, 255)).max() <= 1     # BGR (0.5 → 127.5 ± resize rounding)
    assert np.array_equal(out[:, :x0], photo[:, :x0]) and np.array_equal(out[:, x1:], photo[:, x1:])
    assert np.array_equal(photo, photo.copy())  # input untouched (a copy is returned)


def test_paste_back_clips_and_rescales_detail():
    photo = np.zeros((1024, 768, 3), np.uint8)
    tryon = np.zeros((256, 192, 3), np.float32)
    tryon[:, 96:] = 1.2                 # out of range: clipped, not wrapped
    out = paste_back(photo, (0, 0, 768, 1024), tryon)
    assert out[:, 400:].min() == 255 and out[:, :370].max() == 0
