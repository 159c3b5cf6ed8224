"""What the geometric chain paints where an old garment was (models/geometric/fill.py)."""
from __future__ import annotations

import cv2
import numpy as np

from models.geometric import fill


def test_texture_tile_has_the_skins_fine_texture_and_tiles_seamlessly():
    rng = np.random.default_rng(0)
    crop = np.full((200, 200, 3), (0.8, 0.6, 0.5), np.float32)
    crop += rng.normal(0, 0.03, (200, 200, 1)).astype(np.float32)
    reference = np.zeros((200, 200), bool)
    reference[40:160, 40:160] = True
    tile = fill.texture_tile(crop, reference)
    assert tile is not None and tile.shape == (64, 64) and abs(tile.mean()) < 1e-3
    assert tile.std() > 0.01                          # real texture, not flat
    big = fill.tiled(tile, (130, 150))
    # periodic: the seam between two tiles is no stronger than the tile's own pixel steps
    seam = np.abs(big[63] - big[64]).mean()
    inner = np.abs(np.diff(tile, axis=0)).mean()
    assert seam < 2 * inner
    assert fill.texture_tile(crop, np.zeros_like(reference)) is None


def test_skin_fill_takes_the_nearest_skins_colour_and_the_light():
    h, w = 200, 160
    crop = np.zeros((h, w, 3), np.float32)
    crop[:, :80] = (0.9, 0.7, 0.6)                    # light skin on the left
    crop[:, 80:] = (0.5, 0.35, 0.3)                   # darker skin on the right
    reference = np.zeros((h, w), bool)
    reference[:, :20] = reference[:, 140:] = True
    region = np.zeros((h, w), bool)
    region[:, 30:130] = True
    light = np.zeros((h, w), np.float32)
    light[:, 80:] = np.log(0.8)                       # and a shadow over the right half
    out = fill.skin_fill(crop, region, reference, light, scale=60)
    assert out[100, 40].mean() > out[100, 120].mean()
    assert np.all(out[~region] == 0)


def test_lower_fill_mirrors_the_pants_upward():
    h, w = 120, 60
    crop = np.zeros((h, w, 3), np.float32)
    lower = np.zeros((h, w), bool)
    lower[70:, :] = True
    crop[70:] = np.linspace(0.2, 0.6, 50)[:, None, None]   # a gradient down the pants
    region = np.zeros((h, w), bool)
    region[40:70, 10:50] = True
    out = fill.lower_fill(crop, region, lower)
    # a row d above the top edge shows the row d below it
    np.testing.assert_allclose(out[60, 20], crop[79, 20], atol=0.02)
    assert fill.lower_fill(crop, region, np.zeros_like(lower)) is None


def test_shading_reads_a_printed_garments_light_not_its_print():
    """A two-colour striped garment lit from the left: the light field darkens to the right,
    and the stripes themselves leave no pattern in it."""
    h, w = 240, 200
    x = np.linspace(1.0, 0.7, w, dtype=np.float32)[None, :, None]
    crop = np.zeros((h, w, 3), np.float32)
    stripes = (np.arange(h) // 20) % 2 == 0
    crop[stripes] = (0.8, 0.3, 0.3)
    crop[~stripes] = (0.3, 0.4, 0.8)
    crop *= x
    garment = np.zeros((h, w), bool)
    garment[20:220, 20:180] = True
    light, folds, weight, share = fill.shading_fields(crop, garment, garment, scale=200)
    assert share > 0.5
    assert light[120, 40] > light[120, 160] + 0.1
    column = light[40:200, 100]
    assert column.std() < 0.03                        # no stripes in the light
