"""GeometricCompositor: layer order on a drawn person, and the paired cases' SSIM."""
from __future__ import annotations

import numpy as np

from models.chain import WarpedGarments
from models.composite import GeometricCompositor
from models.person import Person
from tests.test_garment_warp import KEYPOINTS

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
    from models.evaluate import load_garment, paired_ssim, person_from_ground_truth
    from models.garment_warp import LandmarkWarp

    stages = {"warp": LandmarkWarp.load(), "render": GeometricCompositor.load()}
    for person_name, garment_name, floor in (("00006_00", "00006_00", 0.88), ("003491_0", "003491_1", 0.88)):
        person = person_from_ground_truth(tryon_data, person_name)
        garment, mask = load_garment(tryon_data, garment_name)
        composite = chain.render(person, [garment], garment_masks=[mask], stage_objects=stages)[0]
        assert composite.image.shape == person.photo.shape
        assert paired_ssim(composite.image, person.photo, person.crop_box) >= floor


def test_contact_sheet_through_the_registry_chain(tryon_data, tmp_path):
    """A 2×2 contact sheet via models.chain (registry stages): garments along the top, persons
    down the left, and each cell a changed photo."""
    import cv2
    import pytest

    from models import blazepose, registry_parsing
    from models.chain import ChainOptions
    from models.evaluate import contact_sheet

    if not (blazepose.BlazePose.available() and registry_parsing.RegistryParser.available()):
        pytest.skip("registry weights absent: run `make models`")
    persons, garments, cell_h = ["003491_0", "000010_0"], ["000048_1", "003491_1"], 128
    cell_w = cell_h * 3 // 4
    out = tmp_path / "contact_sheet.png"
    sheet = contact_sheet(tryon_data, out, ChainOptions(mode="registry"), cell_h=cell_h,
                          persons=persons, garments=garments)
    assert out.is_file() and sheet.shape == (3 * cell_h, 3 * cell_w, 3)
    cell = lambda r, c: sheet[r * cell_h:(r + 1) * cell_h, c * cell_w:(c + 1) * cell_w].astype(np.float32)  # noqa: E731
    # top-left corner is blank, the top row shows the garments themselves
    assert cell(0, 0).min() == 255
    garment = cv2.resize(cv2.imread(str(tryon_data / "garments" / "000048_1.jpg")), (cell_w, cell_h),
                         interpolation=cv2.INTER_AREA)
    assert np.abs(cell(0, 1) - garment).mean() < 2
    for r in (1, 2):
        original = cell(r, 0)
        for c in (1, 2):
            torso = (slice(cell_h // 3, 2 * cell_h // 3), slice(cell_w // 3, 2 * cell_w // 3))
            head = (slice(0, cell_h // 8), slice(cell_w // 3, 2 * cell_w // 3))
            # the yellow blouse changes the (dark-shirted) torso; the top of the head is kept
            if c == 1:
                assert np.abs(cell(r, c)[torso] - original[torso]).mean() > 40
            assert np.abs(cell(r, c)[head] - original[head]).mean() < 12


def test_ssim_is_one_for_identical_images_and_drops_with_change():
    from models.evaluate import ssim

    rng = np.random.default_rng(0)
    image = rng.random((64, 48, 3))
    assert abs(ssim(image, image) - 1) < 1e-9
    noisy = np.clip(image + rng.normal(0, 0.2, image.shape), 0, 1)
    assert ssim(image, noisy) < 0.9
    assert ssim(image, np.clip(image + 0.05, 0, 1)) > ssim(image, noisy)


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


def test_thin_part_agrees_with_an_opening_by_a_disc():
    """thin_part's distance-transform opening against cv2.morphologyEx with an elliptical
    kernel of the same radius (what it replaced, 6× slower at 1024 px): the same pixels up to
    the disc's discretisation, including regions cut by the image edge."""
    import cv2

    from models.composite import thin_part

    def by_disc(region, radius):
        disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        thick = cv2.morphologyEx(region.astype(np.uint8), cv2.MORPH_OPEN, disc)
        return region & ~(cv2.dilate(thick, np.ones((3, 3), np.uint8)) > 0)

    rng = np.random.default_rng(7)
    differing = total = 0
    for _ in range(40):
        h, w = (int(v) for v in rng.integers(120, 320, 2))
        canvas = np.zeros((h, w), np.uint8)
        for _ in range(4):
            centre = (int(rng.integers(-20, w + 20)), int(rng.integers(-20, h + 20)))
            if rng.random() < 0.5:
                cv2.circle(canvas, centre, int(rng.integers(5, 80)), 1, -1)
            else:
                cv2.line(canvas, centre, (int(rng.integers(0, w)), int(rng.integers(0, h))), 1, int(rng.integers(2, 60)))
        region = canvas.astype(bool)
        radius = int(rng.integers(2, 25))
        got = thin_part(region, radius)
        assert not (got & ~region).any()  # never adds pixels
        differing += int((got != by_disc(region, radius)).sum())
        total += int(region.sum())
    assert differing / total < 0.002, differing / total

    strip_and_blob = np.zeros((200, 200), bool)
    strip_and_blob[20:180, 10:18] = True    # 8 px wide: stays
    strip_and_blob[60:140, 100:180] = True  # 80 px wide: removed
    kept = thin_part(strip_and_blob, 10)
    # (a disc's opening leaves a square's corners: so does thin_part)
    assert kept[20:180, 10:18].all() and kept[60:140, 100:180].mean() < 0.02
