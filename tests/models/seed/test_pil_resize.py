"""PIL-bilinear emulation (models/pil_resize.py) against Pillow itself."""
import cv2
import numpy as np
import pytest
from PIL import Image

from models.seed.pil_resize import pil_bilinear_resize


def _pil(img, size):
    return np.array(Image.fromarray(img).resize(size, Image.BILINEAR))


def _silhouettes(data_dir):
    for path in sorted((data_dir / "parse").glob("*.png")):
        labels = np.array(Image.open(path))
        mask = ((labels > 0) * 255).astype(np.uint8)
        if mask.shape != (256, 192):  # VITON-HD parses are 768×1024: bring them to the grid first
            mask = cv2.resize(mask, (192, 256), interpolation=cv2.INTER_NEAREST)
        yield path.stem, mask


def test_real_silhouettes_192x256_to_12x16_within_one_level(tryon_data):
    count = 0
    for name, mask in _silhouettes(tryon_data):
        ours = pil_bilinear_resize(mask, (12, 16))
        assert ours.shape == (16, 12) and ours.dtype == np.uint8
        diff = np.abs(ours.astype(int) - _pil(mask, (12, 16))).max()
        assert diff <= 1, f"{name}: max diff {diff}"
        count += 1
    assert count >= 10


def test_cv2_inter_linear_is_not_pil_bilinear(tryon_data):
    # Why the emulation exists: cv2 blends only 2×2 neighbours, PIL antialiases over 33 taps.
    worst = max(np.abs(cv2.resize(m, (12, 16), interpolation=cv2.INTER_LINEAR).astype(int) - _pil(m, (12, 16))).max()
                for _, m in _silhouettes(tryon_data))
    assert worst > 50


@pytest.mark.parametrize("seed", range(6))
def test_random_masks_and_sizes_within_one_level(seed):
    rng = np.random.default_rng(seed)
    h, w = rng.integers(16, 300, 2)
    # blobs (silhouette-like) and noise; down- and up-scaling, odd ratios
    blobs = cv2.resize((rng.random((6, 5)) > 0.5).astype(np.uint8) * 255, (int(w), int(h)),
                       interpolation=cv2.INTER_NEAREST)
    noise = rng.integers(0, 256, (h, w), dtype=np.uint8)
    for img in (blobs, noise):
        for size in [(12, 16), (int(rng.integers(1, 64)), int(rng.integers(1, 64))),
                     (int(w) * 2 + 1, int(h) + 3)]:
            diff = np.abs(pil_bilinear_resize(img, size).astype(int) - _pil(img, size)).max()
            assert diff <= 1, (img.shape, size, diff)


def test_colour_image_within_one_level():
    rng = np.random.default_rng(7)
    img = rng.integers(0, 256, (64, 48, 3), dtype=np.uint8)
    ours = pil_bilinear_resize(img, (10, 13))
    assert ours.shape == (13, 10, 3)
    assert np.abs(ours.astype(int) - _pil(img, (10, 13))).max() <= 1


def test_rejects_non_uint8():
    with pytest.raises(ValueError):
        pil_bilinear_resize(np.zeros((8, 8), np.float32), (4, 4))
