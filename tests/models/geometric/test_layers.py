"""Per-person layers (models/geometric/layers.py) on drawn persons: the old garment removed
(skin with texture, the lower garment continued, background beyond the body), what is in
front (head, neck, hands; arms before a garment's body), the body's widths, the cache."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from models.contract import BadInputError
from models.geometric.layers import build_layers, person_layers, work_crop
from tests.models.geometric.shapes import BACKGROUND_RGB, PANTS_RGB, SKIN_RGB, drawn_person

HW = (512, 384)
GREEN = np.array([30, 160, 40]) / 255


def fine_texture(rgb: np.ndarray, region: np.ndarray) -> float:
    """Std of a 2-px high-pass of luminance over the region's inside."""
    lum = cv2.cvtColor(rgb.astype(np.float32), cv2.COLOR_RGB2GRAY)
    hp = lum - cv2.GaussianBlur(lum, (0, 0), 2)
    inside = cv2.erode(region.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    return float(hp[inside].std())


def labels_at(person, label) -> np.ndarray:
    return cv2.resize(person.parse, (HW[1], HW[0]), interpolation=cv2.INTER_NEAREST) == label


def test_old_garment_is_gone_and_skin_is_textured_not_flat():
    """Where the green top was, no green is left; on the torso above the waistband it became
    skin-coloured, with a fine texture like the person's own skin (a flat fill has none)."""
    p = drawn_person(arms="out", top_length=0.8)
    layers = person_layers(p, "upper", HW)
    old = labels_at(p, 5)
    base = layers.base
    assert np.linalg.norm(base[old] - GREEN, axis=1).min() > 0.3
    fit = layers.fit
    chest = np.zeros(HW, bool)
    c = fit.neck + 0.4 * fit.tl * fit.down
    chest[int(c[1]) - 30:int(c[1]) + 30, int(c[0]) - 25:int(c[0]) + 25] = True
    assert np.linalg.norm(np.median(base[chest], axis=0) - np.array(SKIN_RGB) / 255) < 0.15
    crop = work_crop(p, HW)
    own = fine_texture(crop, labels_at(p, 14) | labels_at(p, 15))
    assert fine_texture(base, chest) > 0.4 * own > 0
    assert layers.synthesised[chest].all() and not layers.synthesised[labels_at(p, 13)].any()


def test_lower_garment_continues_up_where_a_long_top_hid_it():
    """A top reaching below the hips over blue pants: below the waistband the base shows the
    pants (continued upward from where they were seen), above it skin."""
    p = drawn_person(arms="out", top_length=1.3)
    layers = person_layers(p, "upper", HW)
    fit = layers.fit
    below = fit.neck + 1.05 * fit.tl * fit.down
    above = fit.neck + 0.6 * fit.tl * fit.down
    pants = np.array(PANTS_RGB) / 255
    patch = lambda c: layers.base[int(c[1]) - 4:int(c[1]) + 4, int(c[0]) - 8:int(c[0]) + 8].reshape(-1, 3)  # noqa: E731
    assert np.linalg.norm(patch(below).mean(0) - pants) < 0.12
    assert np.linalg.norm(patch(above).mean(0) - np.array(SKIN_RGB) / 255) < 0.15


def test_loose_garment_beyond_the_body_becomes_background():
    """A top flaring far beyond the torso: what lies off the body becomes the background's colour."""
    p = drawn_person(arms="out", top_length=0.9)
    labels = p.parse
    cv2.rectangle(labels, (42, 120), (56, 150), 5, -1)   # a flap of the top off the body (parse grid)
    photo = p.photo.copy()
    photo[240:300, 84:112] = (40, 160, 30)                # ... green in the photo too (BGR)
    p.photo = photo
    layers = build_layers(p, "upper", HW)
    flap = layers.base[250:290, 88:100]
    assert np.linalg.norm(flap.reshape(-1, 3).mean(0) - np.array(BACKGROUND_RGB) / 255) < 0.12


def test_head_neck_and_hands_are_in_front_arms_before_the_body():
    p = drawn_person(arms="crossed", sleeves="none")
    layers = person_layers(p, "upper", HW)
    assert layers.front[labels_at(p, 13)].mean() > 0.95           # face
    assert layers.front[labels_at(p, 10)].mean() > 0.9            # neck
    wrist = layers.fit.arms["left"][2]
    hand = layers.fit.arms["left"][3]
    c = ((wrist + hand) / 2).astype(int)
    assert layers.front[c[1], c[0]] > 0.9                          # the crossing hand
    forearm = ((layers.fit.arms["left"][1] + wrist) / 2).astype(int)
    assert layers.arms_front[forearm[1], forearm[0]] > 0.9         # the forearm, before the garment's body
    chest = (layers.fit.neck + 0.3 * layers.fit.tl * layers.fit.down).astype(int)
    assert layers.front[chest[1], chest[0]] < 0.05 and layers.arms_front[chest[1], chest[0]] < 0.05


def test_body_widths_come_from_the_silhouette_where_it_shows_the_side():
    """Arms raised: the torso's sides are seen, and the measured half-widths are the drawn
    torso's (within a few pixels)."""
    p = drawn_person(arms="out")
    fit = person_layers(p, "upper", HW).fit
    torso = labels_at(p, 5) | labels_at(p, 9)
    d = 0.6 * fit.tl
    y = int(round((fit.neck + d * fit.down)[1]))
    cols = np.nonzero(torso[y])[0]
    assert fit.measured[np.argmin(np.abs(fit.depths - 0.6))].all()
    assert abs(fit.half("left", d) - (fit.neck[0] - cols.min())) < 6
    assert abs(fit.half("right", d) - (cols.max() - fit.neck[0])) < 6


def test_the_turn_comes_from_blazepose_depth():
    """Landmarks with the image-right shoulder farther away: a positive turn, and the chest's
    centre line shifted towards it."""
    p = drawn_person(arms="out")
    lm = np.zeros((39, 4), np.float32)
    lm[:, 3] = 1
    lm[11, :3] = (124, 72, 40)    # left shoulder (image right), farther
    lm[12, :3] = (68, 72, -40)
    lm[23, :3] = (112, 160, 30)
    lm[24, :3] = (80, 160, -30)
    p.landmarks = lm
    fit = build_layers(p, "upper", HW).fit
    assert fit.turn > 30 and fit.shift > 0 and fit.ds_true > fit.ds


def test_layers_are_cached_by_content_and_other_categories_refused():
    p = drawn_person()
    a = person_layers(p, "upper", HW)
    assert person_layers(drawn_person(), "upper", HW) is a      # same content, another object
    other = drawn_person(top_rgb=(200, 30, 30))
    assert person_layers(other, "upper", HW) is not a
    with pytest.raises(BadInputError, match="category"):
        build_layers(p, "hat", HW)
