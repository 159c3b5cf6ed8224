"""Paste-back of a try-on into the customer's photo (models/paste_back.py)."""
import numpy as np

from models.crop import centre_crop_box
from models.paste_back import paste_back


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
