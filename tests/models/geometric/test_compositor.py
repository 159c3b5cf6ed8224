"""GeometricCompositor: layer order and measures on drawn persons, no halo, and the paired
cases' SSIM."""
from __future__ import annotations

import cv2
import numpy as np

from models.contract import WarpedGarments
from models.geometric.compositor import GeometricCompositor, composite_one
from models.geometric.garment import PART_BODY
from models.geometric.layers import person_layers
from models.geometric.warp import LandmarkWarp, WarpedPart
from tests.models.geometric.shapes import SKIN_RGB, drawn_person, drawn_shirt

HW = (512, 384)
GREEN = np.array([30, 160, 40]) / 255
NEW = np.array([0.9, 0.1, 0.1], np.float32)


def labels_at(person, label) -> np.ndarray:
    return cv2.resize(person.parse, (HW[1], HW[0]), interpolation=cv2.INTER_NEAREST) == label


def test_layer_order_on_a_drawn_person():
    """A sleeveless red top on a person in a green long-sleeved top, right forearm across the
    belly: head untouched, the torso red, the crossing forearm and hand in front of it, the old
    green sleeves gone and skin where they were."""
    p = drawn_person(arms="crossed", sleeves="long")
    shirt = drawn_shirt("none", colour=(25, 25, 230))   # BGR: red
    warped = LandmarkWarp.load().warp(p, [shirt], [None])
    stage = GeometricCompositor.load()
    assert stage.info == {"impl": "geometric_compositor", "weights": {}}
    out = stage.render(p, warped)[0]
    assert out.shape == (*HW, 3) and out.dtype == np.float32
    before = p.photo[..., ::-1].astype(np.float32) / 255
    face = labels_at(p, 13)
    assert np.abs(out[face] - before[face]).max() < 0.02
    fit = person_layers(p, "upper", HW).fit
    chest = (fit.neck + 0.3 * fit.tl * fit.down + 0.5 * fit.ds * fit.across).astype(int)
    assert np.linalg.norm(out[chest[1], chest[0]] - np.array([230, 25, 25]) / 255) < 0.25
    hand = ((fit.arms["left"][2] + fit.arms["left"][3]) / 2).astype(int)
    assert np.linalg.norm(out[hand[1], hand[0]] - np.array(SKIN_RGB) / 255) < 0.2
    # the old green is gone everywhere (sleeves included) ...
    old = labels_at(p, 5)
    assert np.linalg.norm(out[old] - GREEN, axis=1).min() > 0.3
    # ... and the other (straight) arm's old sleeve became skin
    elbow = fit.arms["right"][1].astype(int)
    assert np.linalg.norm(out[elbow[1], elbow[0]] - np.array(SKIN_RGB) / 255) < 0.2


def test_soft_edge_shows_no_halo():
    """A dark garment with a soft edge over a light base: across the edge the composite goes
    from the garment's colour to the base's without any pixel lighter than the base (no halo
    of the catalogue's white background)."""
    p = drawn_person(arms="out")
    layers = person_layers(p, "upper", HW)
    h, w = HW
    alpha = np.zeros(HW, np.float32)
    alpha[150:350, 120:260] = 1
    alpha = cv2.GaussianBlur(alpha, (0, 0), 2)
    rgb = np.zeros((h, w, 3), np.float32)
    rgb[:] = (0.05, 0.05, 0.3)
    out, _ = composite_one(layers, [WarpedPart(PART_BODY, (0, 0, w, h), rgb, alpha)])
    row = out[250, 100:140].max(axis=1)
    base = layers.base[250, 100:140].max(axis=1)
    assert (row <= np.maximum(base, rgb[0].max()) + 0.02).all()


def test_measures_off_body_and_synthesised():
    """A garment half beside the person counts as lying off the body; a garment covering the
    old top leaves little synthesised; a tiny one leaves much."""
    p = drawn_person(arms="out", top_length=1.0)
    layers = person_layers(p, "upper", HW)
    h, w = HW
    rgb = np.zeros((h, w, 3), np.float32)
    rgb[:] = NEW
    def measure(alpha):
        return composite_one(layers, [WarpedPart(PART_BODY, (0, 0, w, h), rgb, alpha)])[1]
    covering = labels_at(p, 5).astype(np.float32)
    small = np.zeros(HW, np.float32)
    small[200:230, 170:214] = 1
    off = np.zeros(HW, np.float32)
    off[300:420, 300:384] = 1           # beside the legs, on the background
    on = measure(covering)
    assert on["outside_body"] < 0.05 and on["synthesised"] < 0.1
    assert measure(small)["synthesised"] > 0.4
    assert measure(np.maximum(covering, off))["outside_body"] > 0.1


def test_render_adds_its_measures_to_the_warps():
    p = drawn_person()
    warped = LandmarkWarp.load().warp(p, [drawn_shirt("short")], [None])
    GeometricCompositor.load().render(p, warped)
    assert {"outside_body", "synthesised", "old_residue", "fit_strain"} <= set(warped.measures[0])


def test_a_warp_from_another_stage_is_composited_too():
    """Garments warped by another stage (images and masks only, no parts) still render."""
    p = drawn_person()
    h, w = HW
    masks = np.zeros((1, h, w), np.float32)
    masks[0, 180:330, 130:250] = 1
    images = np.zeros((1, h, w, 3), np.float32)
    images[:] = NEW
    out = GeometricCompositor.load().render(p, WarpedGarments(images=images, masks=masks))[0]
    assert np.allclose(out[250, 190], NEW, atol=0.05)


def test_paired_ssim_above_floor(tryon_data):
    """Paired cases through models.chain.render on GT persons: the composite must resemble the
    photo (measured 0.873 and 0.901; SSIM of the untouched photo with itself is 1)."""
    from models import chain
    from tools.evaluate import load_garment, paired_ssim, person_from_ground_truth

    stages = {"warp": LandmarkWarp.load(), "render": GeometricCompositor.load()}
    for person_name, garment_name, floor in (("00006_00", "00006_00", 0.86), ("003491_0", "003491_1", 0.89)):
        person = person_from_ground_truth(tryon_data, person_name)
        garment, mask = load_garment(tryon_data, garment_name)
        composite = chain.render(person, [garment], garment_masks=[mask], stage_objects=stages)[0]
        assert composite.image.shape == person.photo.shape
        assert paired_ssim(composite.image, person.photo, person.crop_box) >= floor
