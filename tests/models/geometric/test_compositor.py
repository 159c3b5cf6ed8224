"""GeometricCompositor: layer order on a drawn person, and the paired cases' SSIM."""
from __future__ import annotations

import numpy as np

from models.contract import Person, WarpedGarments
from models.geometric.compositor import GeometricCompositor
from tests.models.geometric.shapes import KEYPOINTS

H, W = 256, 192
SKIN = np.array([200, 150, 130], np.uint8)      # RGB
OLD = np.array([20, 160, 20], np.uint8)         # the old garment: green
NEW = np.array([0.9, 0.1, 0.1], np.float32)     # the new garment: red
BACKGROUND = np.array([235, 235, 235], np.uint8)


def drawn_person() -> Person:
    """Face (13) + hair (2) on top, a green long-sleeved top (5) on torso and arms, one forearm
    (14, skin) crossing the torso."""
    labels = np.zeros((H, W), np.uint8)
    labels[20:62, 76:116] = 13
    labels[12:20, 70:122] = 2
    labels[70:165, 62:130] = 5                   # torso
    labels[72:160, 44:62] = 5                    # old long sleeves beside the torso
    labels[72:160, 130:148] = 5
    labels[130:142, 80:125] = 14                 # a bare forearm across the belly
    rgb = np.empty((H, W, 3), np.uint8)
    rgb[:] = BACKGROUND
    rgb[labels == 13] = SKIN
    rgb[labels == 2] = (60, 40, 30)
    rgb[labels == 5] = OLD
    rgb[labels == 14] = SKIN
    return Person(photo=np.ascontiguousarray(rgb[..., ::-1]), crop_box=(0, 0, W, H),
                  keypoints=KEYPOINTS.copy(), parse=labels)


def short_sleeved_new_garment() -> WarpedGarments:
    """The new garment covers the torso and reaches up under the chin, but no sleeves."""
    alpha = np.zeros((H, W), np.float32)
    alpha[55:160, 62:130] = 1
    image = np.zeros((H, W, 3), np.float32)
    image[:] = NEW
    return WarpedGarments(images=image[None], masks=alpha[None])


def test_layer_order():
    person = drawn_person()
    stage = GeometricCompositor.load()
    assert stage.info == {"impl": "geometric_compositor", "weights": {}}
    out = stage.render(person, short_sleeved_new_garment())
    assert len(out) == 1
    image = out[0]
    assert image.shape == (H, W, 3) and image.dtype == np.float32
    before = person.photo[..., ::-1].astype(np.float32) / 255

    # head untouched, even where the garment's alpha reached over the chin
    assert np.abs(image[24:52, 80:112] - before[24:52, 80:112]).max() < 1 / 255 + 1e-6
    # garment replaces the old garment on the torso
    assert np.allclose(image[100:125, 70:120], NEW, atol=0.02)
    # the crossing forearm stays in front of the new garment
    assert np.abs(image[133:139, 88:106] - before[133:139, 88:106]).max() < 0.02
    # the old long sleeves the new garment does not cover no longer show the old colour
    for sleeve in (image[80:150, 47:59], image[80:150, 133:145]):
        distance = np.linalg.norm(sleeve - OLD / 255, axis=2)
        assert distance.min() > 0.25
    # ... and became skin-toned (they are on the arms: body region), not background
    assert np.linalg.norm(image[110, 52] - SKIN / 255) < 0.15


def test_paired_ssim_above_floor(tryon_data):
    """Paired cases through models.chain.render on GT persons: the composite must resemble the
    photo (measured 0.899 and 0.897; SSIM of the untouched photo with itself is 1)."""
    from models import chain
    from models.geometric.warp import LandmarkWarp
    from tools.evaluate import load_garment, paired_ssim, person_from_ground_truth

    stages = {"warp": LandmarkWarp.load(), "render": GeometricCompositor.load()}
    for person_name, garment_name, floor in (("00006_00", "00006_00", 0.88), ("003491_0", "003491_1", 0.88)):
        person = person_from_ground_truth(tryon_data, person_name)
        garment, mask = load_garment(tryon_data, garment_name)
        composite = chain.render(person, [garment], garment_masks=[mask], stage_objects=stages)[0]
        assert composite.image.shape == person.photo.shape
        assert paired_ssim(composite.image, person.photo, person.crop_box) >= floor


def test_thick_remnant_off_the_body_is_kept_thin_one_removed():
    """Old-garment pixels the new garment leaves uncovered, off the body model: a strip up to
    a sleeve's width is inpainted with background; a thicker blob (an arm the pose missed, an
    object the parse took for clothes) stays as it was instead of becoming a smear."""
    person = drawn_person()
    labels = person.parse
    labels[190:250, 150:190] = 5   # a 40 px wide blob (sleeve half-width limit: 0.38·30 px)
    labels[190:250, 10:18] = 5     # an 8 px wide strip
    person.photo[labels == 5] = OLD[::-1]
    out = GeometricCompositor.load().render(person, short_sleeved_new_garment())[0]
    before = person.photo[..., ::-1].astype(np.float32) / 255
    assert np.abs(out[195:245, 155:185] - before[195:245, 155:185]).max() < 1e-6
    strip = out[195:245, 11:17]
    assert np.linalg.norm(strip - OLD / 255, axis=2).min() > 0.25
