"""Garment matte: synthetic catalogue photos drawn here (white on white with a shadow, white
stripes, straps, trouser legs), refusals (a cup, a person, a scene), a fuzz test, and IoU on the
shared cloth masks (skipped where ../shared is absent)."""
from __future__ import annotations

import functools

from pathlib import Path

import cv2
import numpy as np
import pytest

from models.contract import BadInputError
from models.garment_matte import GarmentMatte
from models.garment_matte import garment_matte as _garment_matte
from models.geometric.blazeface import BlazeFace


@functools.lru_cache(maxsize=1)
def _faces():
    return BlazeFace.load().detect


def garment_matte(image, name="garment"):
    """The matte as the geometric chain runs it: with BlazeFace for the worn-garment refusal."""
    return _garment_matte(image, name, find_faces=_faces())

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "data"


def iou(a, b):
    return np.logical_and(a, b).sum() / np.logical_or(a, b).sum()


def photo(mask: np.ndarray, colour, background, shadow: float = 0.2, seed: int = 0,
          fabric: float = 2.0) -> np.ndarray:
    """A catalogue-like photo: `mask` (bool) filled with `colour` (BGR) with fold shading and a
    fabric texture, a soft drop shadow down-right, a mild vignette, noise and JPEG."""
    h, w = mask.shape
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    back = np.array(background, np.float32)[None, None] * (1 - 0.03 * (((xx - w / 2) / w) ** 2 + ((yy - h / 2) / h) ** 2))[:, :, None]
    shifted = cv2.warpAffine(mask.astype(np.float32), np.float32([[1, 0, 0.012 * h], [0, 1, 0.018 * h]]), (w, h))
    back *= (1 - shadow * cv2.GaussianBlur(shifted, (0, 0), 0.02 * h))[:, :, None]
    folds = 1 - 0.04 * np.sin(xx / 9.0) ** 2 - 0.02 * np.sin(yy / 23.0 + xx / 31.0)
    weave = rng.normal(0, fabric, (h, w)).astype(np.float32)
    garment = np.array(colour, np.float32)[None, None] * folds[:, :, None] + weave[:, :, None]
    alpha = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 0.7)[:, :, None]
    out = garment * alpha + back * (1 - alpha) + rng.normal(0, 1.0, (h, w, 3))
    ok, buf = cv2.imencode(".jpg", np.clip(out, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 92])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


def tshirt(h=480, w=360) -> np.ndarray:
    m = np.zeros((h, w), np.uint8)
    s = h / 400
    pts = np.array([(125, 40), (150, 62), (175, 40), (215, 52), (272, 118), (248, 140), (212, 112), (214, 340),
                    (86, 340), (88, 112), (52, 140), (28, 118), (85, 52)], np.float32)
    pts = pts * [w / 300, s]
    cv2.fillPoly(m, [pts.astype(np.int32)], 255)
    return m > 0


def dress_with_straps(h=560, w=360) -> np.ndarray:
    m = np.zeros((h, w), np.uint8)
    body = np.array([(110, 170), (250, 170), (262, 260), (245, 300), (300, 520), (60, 520), (115, 300), (98, 260)])
    cv2.fillPoly(m, [body], 255)
    cv2.line(m, (118, 175), (128, 40), 255, 6)   # straps up to the top...
    cv2.line(m, (242, 175), (232, 40), 255, 6)
    cv2.ellipse(m, (180, 40), (52, 14), 0, 180, 360, 255, 6)  # ...joined behind the neck
    return m > 0


def trousers(h=560, w=360) -> np.ndarray:
    m = np.zeros((h, w), np.uint8)
    cv2.fillPoly(m, [np.array([(100, 40), (260, 40), (275, 200), (290, 520), (200, 520), (182, 230),
                               (178, 230), (160, 520), (70, 520), (85, 200)])], 255)
    return m > 0


# --- mattes -----------------------------------------------------------------------------
LIGHT_CASES = [
    pytest.param((243, 243, 243), (255, 255, 255), id="white-white"),
    pytest.param((243, 243, 243), (228, 228, 228), id="white-lightgrey"),
    pytest.param((222, 240, 247), (255, 255, 255), id="cream-white"),
    pytest.param((222, 240, 247), (228, 228, 228), id="cream-lightgrey"),
    pytest.param((200, 200, 200), (255, 255, 255), id="grey-white"),
    pytest.param((200, 200, 200), (228, 228, 228), id="grey-lightgrey"),
]


@pytest.mark.parametrize("colour,background", LIGHT_CASES)
def test_light_tshirt_on_light_background_with_shadow(colour, background):
    mask = tshirt()
    matte = garment_matte(photo(mask, colour, background), "tee.jpg")
    assert isinstance(matte, GarmentMatte)
    assert matte.alpha.dtype == np.float32 and matte.alpha.shape == mask.shape
    assert 0.0 <= matte.alpha.min() and matte.alpha.max() <= 1.0
    assert 0.0 <= matte.confidence <= 1.0
    # issue 10's worst-case target; the cast shadow beside the outline is backdrop
    assert iou(matte.mask > 0, mask) > 0.9
    shadow_zone = (cv2.dilate(mask.astype(np.uint8), np.ones((15, 15), np.uint8)) > 0) & ~mask
    assert (matte.mask[shadow_zone] > 0).mean() < 0.7


def test_no_halo_of_background_on_a_dark_garment():
    mask = tshirt()
    image = photo(mask, (60, 40, 30), (250, 250, 250), shadow=0.0)
    matte = garment_matte(image, "navy.jpg")
    ring = (cv2.dilate(mask.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0) & ~mask
    ring &= np.abs(image.astype(int) - 250).max(axis=2) < 8  # backdrop-coloured pixels by the edge
    # (a few pixels in the acute armpit corners are filled)
    assert ring.any() and (matte.alpha[ring] > 0.05).mean() < 0.02


def test_white_stripes_of_a_striped_tee_are_kept():
    mask = tshirt()
    image = photo(mask, (243, 243, 243), (246, 246, 246), shadow=0.0)
    stripes = ((np.arange(mask.shape[0]) // 14) % 2 == 0)[:, None] & mask
    image[stripes] = (90, 40, 30)  # navy stripes; the others stay white, the backdrop's colour
    matte = garment_matte(image, "striped.jpg")
    assert iou(matte.mask > 0, mask) > 0.9


def test_gap_between_straps_is_kept():
    mask = dress_with_straps()
    matte = garment_matte(photo(mask, (90, 60, 200), (245, 245, 245)), "dress.jpg")
    assert iou(matte.mask > 0, mask) > 0.9
    gap = np.zeros_like(mask)
    gap[70:150, 150:210] = True  # between the straps, above the neckline
    assert (matte.mask[gap] > 0).mean() < 0.1


def test_gap_between_trouser_legs_is_kept():
    mask = trousers()
    matte = garment_matte(photo(mask, (200, 200, 200), (252, 252, 252)), "trousers.jpg")
    assert iou(matte.mask > 0, mask) > 0.9
    # the legs stay apart down the gap (in the legs' cast shadow too)
    assert not (matte.mask[400, 174:186] > 0).any() and not (matte.mask[500, 170:190] > 0).any()


def test_bgra_cutout_alpha_is_used():
    mask = tshirt()
    bgra = np.zeros((*mask.shape, 4), np.uint8)
    bgra[..., :3] = (40, 120, 200)
    bgra[..., 3] = np.where(mask, 255, 0)
    matte = garment_matte(bgra, "cutout.png")
    assert iou(matte.mask > 0, mask) > 0.98


def test_landmark_hooks_are_exposed():
    matte = garment_matte(photo(tshirt(), (60, 40, 30), (250, 250, 250)), "tee.jpg")
    for key in ("outline_smoothness", "symmetry", "top_symmetry", "solidity"):
        assert 0.0 <= matte.hooks[key] <= 1.0, key
    assert matte.hooks["symmetry"] > 0.85


# --- refusals -------------------------------------------------------------------------------
def coffee_cup(h=480, w=480) -> np.ndarray:
    image = np.full((h, w, 3), 248, np.uint8)
    body = np.array([(150, 140), (330, 140), (310, 380), (170, 380)])
    cv2.fillPoly(image, [body], (40, 70, 160))
    cv2.ellipse(image, (240, 140), (90, 18), 0, 0, 360, (30, 50, 120), -1)
    cv2.ellipse(image, (345, 240), (55, 60), 0, -90, 90, (40, 70, 160), 22)  # the handle
    cv2.ellipse(image, (240, 392), (130, 18), 0, 0, 360, (200, 200, 205), -1)  # saucer
    return image


def test_coffee_cup_is_refused():
    with pytest.raises(BadInputError, match="cup.jpg: not garment-shaped"):
        garment_matte(coffee_cup(), "cup.jpg")


def test_person_photo_is_refused():
    skimage_data = pytest.importorskip("skimage.data")
    astronaut = cv2.cvtColor(skimage_data.astronaut(), cv2.COLOR_RGB2BGR)
    with pytest.raises(BadInputError, match="astronaut.jpg: .*person"):
        garment_matte(astronaut, "astronaut.jpg")


def test_coffee_photo_is_refused():
    """skimage's coffee: a real photo of a cup on a table, not a garment on a backdrop."""
    skimage_data = pytest.importorskip("skimage.data")
    coffee = cv2.cvtColor(skimage_data.coffee(), cv2.COLOR_RGB2BGR)
    with pytest.raises(BadInputError, match="coffee.jpg: not a garment on a plain background"):
        garment_matte(coffee, "coffee.jpg")


def test_person_on_plain_background_is_refused():
    persons = SHARED / "tryon" / "persons"
    if not persons.is_dir():
        pytest.skip(f"{persons} is absent (research data beside the checkout)")
    image = cv2.imread(str(persons / "00891_00.jpg"))
    with pytest.raises(BadInputError, match="person|plain background"):
        garment_matte(image, "model.jpg")


def test_scene_is_refused():
    rng = np.random.default_rng(3)
    h, w = 480, 640
    scene = np.zeros((h, w, 3), np.uint8)
    for _ in range(40):  # a cluttered room: overlapping coloured blocks and lines
        x, y = rng.integers(0, w), rng.integers(0, h)
        cv2.rectangle(scene, (int(x), int(y)), (int(x + rng.integers(20, 200)), int(y + rng.integers(20, 200))),
                      tuple(int(c) for c in rng.integers(0, 255, 3)), -1)
    scene = cv2.GaussianBlur(scene, (0, 0), 1.0)
    with pytest.raises(BadInputError, match="scene.jpg: not a garment on a plain background"):
        garment_matte(scene, "scene.jpg")


def test_printed_face_is_not_a_person():
    """A face printed on the chest (enclosed by fabric) is not a model wearing the garment."""
    skimage_data = pytest.importorskip("skimage.data")
    face = cv2.cvtColor(skimage_data.astronaut(), cv2.COLOR_RGB2BGR)[20:220, 150:330]
    mask = tshirt(640, 480)
    image = photo(mask, (40, 40, 40), (246, 246, 246), shadow=0.0)
    image[200:400, 150:330] = face
    matte = garment_matte(image, "printed.jpg")
    assert iou(matte.mask > 0, mask) > 0.9


# --- fuzz -------------------------------------------------------------------------------------
def fuzz_inputs():
    rng = np.random.default_rng(0)
    yield "none", None
    yield "list", [[1, 2, 3]]
    yield "empty", np.zeros((0, 0, 3), np.uint8)
    yield "1x1", np.zeros((1, 1, 3), np.uint8)
    yield "1px line", np.full((1, 500, 3), 128, np.uint8)
    yield "1px column", np.full((500, 1, 3), 128, np.uint8)
    yield "tall", np.full((4000, 40, 3), 200, np.uint8)
    yield "wide", np.full((40, 4000, 3), 200, np.uint8)
    yield "all white", np.full((300, 300, 3), 255, np.uint8)
    yield "all black", np.zeros((300, 300, 3), np.uint8)
    yield "noise", rng.integers(0, 256, (300, 240, 3), dtype=np.uint8)
    yield "grey noise", rng.integers(0, 256, (300, 240), dtype=np.uint8)
    yield "float nan", np.full((100, 100, 3), np.nan, np.float32)
    yield "float 0-1", rng.random((120, 100, 3)).astype(np.float32)
    yield "uint16", rng.integers(0, 65535, (120, 100, 3), dtype=np.uint16)
    yield "int64", np.zeros((100, 100, 3), np.int64)
    yield "5 channels", np.zeros((100, 100, 5), np.uint8)
    yield "4d", np.zeros((2, 100, 100, 3), np.uint8)
    yield "bool", np.ones((100, 100), bool)
    single = np.full((300, 300, 3), 250, np.uint8)
    single[150, 150] = 0
    yield "single pixel garment", single
    line = np.full((300, 300, 3), 250, np.uint8)
    cv2.line(line, (10, 10), (290, 280), (0, 0, 0), 1)
    yield "1-px diagonal line", line
    ring = np.full((300, 300, 3), 250, np.uint8)
    cv2.circle(ring, (150, 150), 100, (20, 20, 200), 2)
    yield "thin ring", ring
    full = np.full((300, 300, 3), 250, np.uint8)
    full[2:-2, 2:-2] = (30, 60, 90)
    yield "object fills the frame", full
    half = np.full((300, 300, 3), 250, np.uint8)
    half[:, :150] = (30, 60, 90)
    yield "half and half", half
    checker = ((np.indices((300, 300)).sum(axis=0) // 8) % 2 * 255).astype(np.uint8)
    yield "checkerboard", cv2.cvtColor(checker, cv2.COLOR_GRAY2BGR)
    bgra = np.zeros((200, 200, 4), np.uint8)
    yield "alpha 0 everywhere", bgra
    bgra2 = np.full((200, 200, 4), 255, np.uint8)
    bgra2[..., 3] = 0
    bgra2[100, 100, 3] = 255
    yield "alpha one pixel", bgra2
    yield "huge", np.lib.stride_tricks.as_strided(np.zeros(3, np.uint8), (20000, 20000, 3), (0, 0, 1))
    comb = np.full((300, 300, 3), 250, np.uint8)
    comb[50:250, 50:250:4] = (0, 0, 0)
    yield "comb of 1-px lines", comb


@pytest.mark.parametrize("label,image", list(fuzz_inputs()), ids=[n for n, _ in fuzz_inputs()])
def test_fuzz_raises_only_bad_input(label, image):
    try:
        matte = garment_matte(image, f"fuzz/{label}")
    except BadInputError as exc:
        message = str(exc)
        assert message.startswith(f"fuzz/{label}:") and "\n" not in message
        return
    assert matte.mask.shape == matte.alpha.shape
    assert np.isfinite(matte.alpha).all() and 0 <= matte.confidence <= 1


def test_random_shapes_never_crash():
    rng = np.random.default_rng(1)
    for i in range(25):
        h, w = int(rng.integers(40, 400)), int(rng.integers(40, 400))
        image = np.full((h, w, 3), rng.integers(150, 256), np.uint8)
        for _ in range(int(rng.integers(0, 4))):
            pts = rng.integers(0, max(h, w), (int(rng.integers(2, 8)), 2)).astype(np.int32)
            cv2.fillPoly(image, [pts], tuple(int(c) for c in rng.integers(0, 256, 3)))
        try:
            garment_matte(image, f"random/{i}")
        except BadInputError:
            pass


# --- shared data ------------------------------------------------------------------------------
def test_real_cloth_masks_mean_iou():
    data = SHARED / "tryon"
    if not (data / "cloth_mask").is_dir():
        pytest.skip(f"{data} is absent (research data beside the checkout: ../shared/data/tryon)")
    from tools.eval_matte import TARGET_MEAN, TARGET_WORST, load_pairs

    scores = [iou(garment_matte(image, name).mask > 0, truth) for name, image, truth in load_pairs(data)]
    assert np.mean(scores) >= TARGET_MEAN and np.min(scores) >= TARGET_WORST, (np.mean(scores), np.min(scores))


def test_synthetic_white_on_white_iou():
    """Issue 10's white-on-white set (each shared garment recoloured to white, cream and light
    grey over white and light-grey backdrops with a soft shadow): mean ≥ 0.95, worst ≥ 0.90."""
    data = SHARED / "tryon"
    if not (data / "cloth_mask").is_dir():
        pytest.skip(f"{data} is absent (research data beside the checkout: ../shared/data/tryon)")
    from tools.eval_matte import TARGET_MEAN, TARGET_WORST, load_pairs, synthetic_pairs

    scores = {}
    for name, image, truth in synthetic_pairs(load_pairs(data)):
        try:
            scores[name] = iou(garment_matte(image, name).mask > 0, truth)
        except BadInputError:
            scores[name] = 0.0
    worst = min(scores, key=scores.get)
    assert np.mean(list(scores.values())) >= TARGET_MEAN and scores[worst] >= TARGET_WORST, (
        np.mean(list(scores.values())), worst, scores[worst])


def test_real_garments_are_all_accepted():
    """The 51 catalogue garments the project has never seen (tops, trousers, dresses; white on
    white, prints, straps, asymmetric designs) are all accepted."""
    wild = SHARED / "catalogue_wild" / "garments"
    if not wild.is_dir():
        pytest.skip(f"{wild} is absent (research data beside the checkout)")
    refused = []
    for path in sorted(wild.glob("*.jpg")):
        try:
            garment_matte(cv2.imread(str(path)), path.name)
        except BadInputError as exc:
            refused.append(str(exc))
    assert not refused, refused
