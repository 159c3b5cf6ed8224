"""Refusals of the person-centred chain (models/geometric/person_finder.py through
models.chain.prepare_person / render), on images the project can ship: scikit-image's
public-domain photos (the astronaut Eileen Collins; the cameraman, a man in profile; a rocket:
no person), drawings, noise. Each refusal is one BadInputError line naming the photo."""
import cv2
import numpy as np
import pytest

from models import chain, framing
from models.contract import BadInputError, ChainOptions
from models.geometric import blazepose as bp
from models.geometric import person_finder as pf

skimage_data = pytest.importorskip("skimage.data")
OPTIONS = ChainOptions(mode="geometric", framing="person")


def astronaut():
    return cv2.cvtColor(skimage_data.astronaut(), cv2.COLOR_RGB2BGR)


def prepare(photo, name="customers/x.jpg"):
    return chain.prepare_person(photo, OPTIONS, name=name)


def test_the_astronaut_is_one_person_facing_the_camera_framed_for_tops_only(wheel_models):
    person = prepare(astronaut(), "customers/astronaut.jpg")
    assert person.framing == "person" and person.layout is not None
    assert person.crop_box[2] - person.crop_box[0] < 512           # the person's region, not the whole photo
    upper = chain.frame_person(person, "upper")
    assert framing.torso_share(upper) == pytest.approx(framing.FRAMINGS["upper"].share, abs=0.03)
    assert upper.crop_box[3] > 512                                   # a half-body photo: padded below
    for category in ("lower", "dress"):                              # head and shoulders: no legs
        with pytest.raises(BadInputError, match=r"^customers/astronaut\.jpg: too little of the body for .*knees"):
            chain.frame_person(person, category)
    assert len(person.to_bytes()) < 48_000


def test_a_photo_without_a_person_is_refused(wheel_models):
    rocket = cv2.cvtColor(skimage_data.rocket(), cv2.COLOR_RGB2BGR)   # a launch pad, nobody on it
    with pytest.raises(BadInputError, match=r"^shop/rocket\.jpg: no person found"):
        prepare(rocket, "shop/rocket.jpg")


def test_two_astronauts_side_by_side_are_two_persons(wheel_models):
    photo = astronaut()
    with pytest.raises(BadInputError, match=r"^two\.jpg: more than one person in the photo"):
        prepare(np.hstack([photo, cv2.flip(photo, 1)]), "two.jpg")


def test_a_face_on_the_persons_own_torso_is_not_a_second_person(wheel_models):
    """BlazeFace finds a face (score ≈ 0.5) in the round mission patch on the astronaut's chest
    in this framing; a face between the person's shoulders and hips is on their clothes."""
    photo = astronaut()[2:, 86:440]
    photo = cv2.resize(photo, (int(photo.shape[1] * 256 / photo.shape[0]), 256), interpolation=cv2.INTER_AREA)
    photo = np.clip(photo.astype(np.float32) * 0.97, 0, 255).astype(np.uint8)
    finder = pf.PersonFinder.load()
    result = finder.pose_result(photo, None)
    faces = pf._separate_faces(result.faces or [])
    assert len(faces) == 2 and sum(pf._on_torso(f.box, result.landmarks) for f in faces) == 1
    layout = finder.find(photo, name="patch.jpg")
    assert layout.photo_hw == photo.shape[:2]
    # the same face beside the person (two astronauts) still counts: see the test above


@pytest.mark.xfail(reason="known gap: two small copies apart on flat grey — the selfie model labels the grey "
                          "canvas as person (one matte), the faces are too small for BlazeFace's tiles, and "
                          "the letterboxed BlazePose pass misses the second copy once the first is painted out",
                   strict=True)
def test_two_small_astronauts_apart_on_grey_are_two_persons(wheel_models):
    photo = astronaut()
    half = cv2.resize(photo, (256, 256), interpolation=cv2.INTER_AREA)
    canvas = np.full((512, 640, 3), 200, np.uint8)
    canvas[128:384, :256], canvas[128:384, 384:] = half, cv2.flip(half, 1)
    with pytest.raises(BadInputError, match="more than one person"):
        prepare(canvas, "two.jpg")


def test_a_person_too_small_in_the_photo_is_refused_with_the_minimum(wheel_models):
    small = cv2.resize(astronaut(), (100, 100), interpolation=cv2.INTER_AREA)   # torso ≈ 50 px
    with pytest.raises(BadInputError, match=rf"^tiny\.jpg: the person is too small .*at least {pf.MIN_TORSO_PX} px"):
        prepare(small, "tiny.jpg")
    prepare(cv2.resize(astronaut(), (160, 160), interpolation=cv2.INTER_AREA))   # torso ≈ 85 px: rendered


def test_back_view_rule_no_face_and_a_mirror_image_torso():
    """No photo of a person from the back ships with a registry package, so the rule is tested
    on landmarks: the front view's landmarks with left and right swapped are a mirror-image
    torso; without a face that is a back view, with a face it is not (a mirrored photo of a
    front view keeps its face)."""
    lm = np.zeros((39, 5), np.float32)
    lm[bp.L_SHOULDER, :3], lm[bp.R_SHOULDER, :3] = (360, 150, 0), (240, 150, 0)
    lm[bp.L_HIP, :3], lm[bp.R_HIP, :3] = (340, 350, 0), (260, 350, 0)
    lm[bp.NOSE, :3] = (300, 95, -200)
    assert pf.torso_handedness(lm) > 0.9 and not pf.seen_from_back(lm, face_found=False)
    back = lm[bp.MIRROR_LANDMARKS].copy()
    back[:, 0] = lm[:, 0][bp.MIRROR_LANDMARKS]   # positions stay, the sides swap: person's left at image left
    back[:, 0] = lm[bp.MIRROR_LANDMARKS, 0]
    assert pf.torso_handedness(back) < -0.9
    assert pf.seen_from_back(back, face_found=False) and not pf.seen_from_back(back, face_found=True)
    behind = lm.copy()
    behind[bp.NOSE, 2] = 150                      # the nose further away than the shoulders
    assert pf.seen_from_back(behind, face_found=False) and not pf.seen_from_back(behind, face_found=True)


def test_a_front_view_whose_face_is_hidden_is_not_a_back_view(wheel_models):
    """What can honestly be faked: the astronaut's face painted over (no face to find). Her
    shoulders are the right way round and her nose in front: rendered, not refused."""
    from models.geometric.blazeface import BlazeFace, detect_near

    photo = astronaut()
    face = photo[40:160, 170:300]
    photo[40:160, 170:300] = cv2.resize(cv2.resize(face, (8, 8), interpolation=cv2.INTER_AREA), (130, 120),
                                        interpolation=cv2.INTER_NEAREST)   # pixelated beyond recognition
    person = prepare(photo, "hidden.jpg")
    lay = person.layout
    head = np.mean([framing.point(lay, p) for p in framing.HEAD_POINTS], axis=0)
    assert not detect_near(BlazeFace.load(), photo, head, pf.HEAD_SQUARE * framing.torso_length(lay))  # no face seen
    assert framing.point(lay, "l_shoulder")[0] > framing.point(lay, "r_shoulder")[0]   # the right way round


def test_the_cameraman_a_man_in_profile_is_framed(wheel_models):
    """skimage's cameraman (greyscale, a man leaning into a camera): one person, framed for tops;
    his legs are cut by the photo's edge, so no lower garments."""
    photo = cv2.cvtColor(skimage_data.camera(), cv2.COLOR_GRAY2BGR)
    person = prepare(photo, "camera.jpg")
    upper = chain.frame_person(person, "upper")
    assert framing.torso_share(upper) == pytest.approx(framing.FRAMINGS["upper"].share, abs=0.05)


@pytest.mark.parametrize("shape", [(64, 64), (64, 2000), (2000, 64), (97, 131), (1, 1), (63, 500), (3000, 3000)])
@pytest.mark.parametrize("content", ["black", "white", "noise"])
def test_any_image_raises_nothing_but_bad_input(wheel_models, shape, content):
    """Odd sizes, aspect ratios, 1 px, noise, all-black: prepare_person and every category's
    framing either work or raise BadInputError — never anything else, never a giant crop."""
    rng = np.random.default_rng(sum(shape))
    image = {"black": np.zeros(shape + (3,), np.uint8), "white": np.full(shape + (3,), 255, np.uint8),
             "noise": rng.integers(0, 256, shape + (3,), dtype=np.uint8)}[content]
    try:
        person = prepare(image, "fuzz.png")
    except BadInputError as exc:
        assert str(exc).startswith("fuzz.png: ") and "\n" not in str(exc)
        return
    for category in framing.FRAMINGS:
        try:
            view = chain.frame_person(person, category)
        except BadInputError as exc:
            assert str(exc).startswith("fuzz.png: ")
            continue
        x0, y0, x1, y1 = view.crop_box
        assert (y1 - y0) <= framing.MAX_BOX_PER_PHOTO * max(shape) + 1


def test_astronaut_variants_as_fuzz(wheel_models):
    """The person in awkward framings: shifted to an edge, extreme aspect, upside down."""
    photo = astronaut()
    variants = {"edge": photo[:, 200:], "wide": cv2.resize(photo, (1600, 200)), "tall": cv2.resize(photo, (120, 900)),
                "upside_down": cv2.flip(photo, 0), "left_edge": np.hstack([photo[:, 300:], np.zeros((512, 400, 3), np.uint8)])}
    for name, image in variants.items():
        try:
            person = prepare(image, f"{name}.jpg")
            for category in framing.FRAMINGS:
                try:
                    chain.frame_person(person, category)
                except BadInputError as exc:
                    assert str(exc).startswith(f"{name}.jpg: ")
        except BadInputError as exc:
            assert str(exc).startswith(f"{name}.jpg: ")
