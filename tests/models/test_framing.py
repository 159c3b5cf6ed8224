"""Person-centred framing (models/framing.py): per-category working crops from a BodyLayout, the
coverage refusals, a Person seen through another box, padded crops and clipped paste-back."""
import numpy as np
import pytest

from models import framing
from models.contract import BadInputError, BodyLayout, Person, padded_crop
from models.paste_back import paste_back

# A standing person facing the camera, photo pixels of a 600×800 full-body photo (torso 200 px).
STANDING = {
    "nose": (300, 95), "l_eye": (310, 85), "r_eye": (290, 85), "l_ear": (322, 90), "r_ear": (278, 90),
    "l_mouth": (306, 110), "r_mouth": (294, 110),
    "l_shoulder": (360, 150), "r_shoulder": (240, 150), "l_elbow": (380, 250), "r_elbow": (220, 250),
    "l_wrist": (385, 340), "r_wrist": (215, 340), "l_index": (386, 365), "r_index": (214, 365),
    "l_hip": (340, 350), "r_hip": (260, 350), "l_knee": (335, 520), "r_knee": (265, 520),
    "l_ankle": (332, 690), "r_ankle": (268, 690), "l_heel": (330, 705), "r_heel": (270, 705),
    "l_toe": (340, 720), "r_toe": (260, 720),
}


def layout(scale=1.0, dx=0.0, dy=0.0, photo_hw=(800, 600), cut_at=None, visibility=0.95):
    """STANDING scaled and moved; points below row `cut_at` (a half-body photo) keep their
    positions (the pose model extrapolates them) but lie outside a photo of that height."""
    points = {k: (x * scale + dx, y * scale + dy, visibility) for k, (x, y) in STANDING.items()}
    hw = (cut_at, photo_hw[1]) if cut_at else photo_hw
    return BodyLayout(photo_hw=hw, points=points, extent=(0, 0, hw[1], hw[0]))


def share(lay, category):
    x0, y0, x1, y1 = framing.working_box(lay, category)
    assert (x1 - x0) * 4 == pytest.approx((y1 - y0) * 3, abs=4)      # 3:4
    return framing.torso_length(lay) / (y1 - y0)


@pytest.mark.parametrize("category", ["upper", "lower", "dress"])
def test_the_torso_fills_the_same_share_whatever_the_photos_scale_and_place(category):
    base = share(layout(), category)
    for scale, dx, dy in ((0.5, 40, 10), (2.0, -300, -100), (1.3, 500, 0)):
        assert share(layout(scale, dx, dy, photo_hw=(2000, 2000)), category) == pytest.approx(base, rel=0.01)


def test_a_half_body_photo_gives_the_torso_the_same_share_as_the_full_body_photo():
    """The same person cut below the hips (a half-body photo): the upper garment's crop is the
    same box, padded below the photo, so the torso's share is unchanged."""
    full, half = layout(), layout(cut_at=420)
    assert framing.working_box(full, "upper") == framing.working_box(half, "upper")
    assert share(full, "upper") == pytest.approx(framing.FRAMINGS["upper"].share, rel=0.02)
    # and lower garments and dresses are refused for the half-body photo, naming it
    with pytest.raises(BadInputError, match=r"^me\.jpg: too little of the body for a lower garment: the knees "):
        framing.check_coverage(half, "lower", "me.jpg")
    with pytest.raises(BadInputError, match="for a dress: the knees"):
        framing.check_coverage(half, "dress", "me.jpg")
    framing.check_coverage(half, "upper", "me.jpg")
    for category in ("upper", "lower", "dress"):
        framing.check_coverage(full, category, "me.jpg")


def test_lower_and_dress_crops_hold_the_legs_and_feet_upper_the_arms_and_head():
    lay = layout()
    for category, must in (("upper", framing.ARM_POINTS + framing.HEAD_POINTS + ("l_hip", "r_hip")),
                           ("lower", framing.LEG_POINTS + ("l_hip", "r_hip")),
                           ("dress", framing.LEG_POINTS + framing.HEAD_POINTS + ("l_shoulder",))):
        x0, y0, x1, y1 = framing.working_box(lay, category)
        for p in must:
            x, y = framing.point(lay, p)
            assert x0 < x < x1 and y0 < y < y1, (category, p)


def test_an_outstretched_arm_grows_the_crop_to_hold_the_hand():
    lay = layout()
    lay.points["l_wrist"] = (570, 120, 0.9)
    lay.points["l_elbow"] = (470, 140, 0.9)
    x0, y0, x1, y1 = framing.working_box(lay, "upper")
    assert x1 > 570 + 10
    assert share(lay, "upper") < framing.FRAMINGS["upper"].share   # grown: the torso's share drops


def test_hidden_or_extrapolated_points_do_not_count_as_shown():
    lay = layout(visibility=0.3)   # knees etc. the model only guesses
    with pytest.raises(BadInputError, match="shoulders"):
        framing.check_coverage(lay, "upper", "p")
    with pytest.raises(BadInputError, match="category 'hat'"):
        framing.check_coverage(layout(), "hat", "p")


def test_a_degenerate_layout_is_a_bad_input_never_a_giant_crop():
    lay = layout()
    for k in lay.points:
        lay.points[k] = (10.0, 10.0, 1.0)
    with pytest.raises(BadInputError):
        framing.working_box(lay, "upper")
    huge = layout(scale=50.0, photo_hw=(800, 600))          # a pose 50× the photo
    x0, y0, x1, y1 = framing.working_box(huge, "dress")
    assert y1 - y0 <= framing.MAX_BOX_PER_PHOTO * 800 + 1


def test_reframe_moves_keypoints_and_labels_with_the_box_and_pads_past_the_photo():
    photo = np.zeros((100, 80, 3), np.uint8)
    photo[:, 40:] = 255
    parse = np.zeros((100, 80), np.uint8)
    parse[60:, 20:60] = 5                                 # touches the photo's bottom edge
    kp = np.zeros((18, 3), np.float32)
    kp[1] = (96, 128, 1)                                  # photo (40, 50) in the 192×256 grid
    person = Person(photo=photo, crop_box=(0, 0, 80, 100), keypoints=kp, parse=parse,
                    extras={"body_matte": (parse > 0).astype(np.uint8) * 255}, framing="person")
    view = framing.reframe(person, (20, 30, 80, 130))     # 60×100, 30 rows past the bottom
    assert view.crop.shape == (100, 60, 3)
    assert (view.crop[70:, :20] == 0).all() and (view.crop[70:, 20:] == 255).all()   # border replicated
    np.testing.assert_allclose(view.keypoints[1, :2], ((40 - 20) * 192 / 60, (50 - 30) * 256 / 100), atol=1e-3)
    assert view.parse.shape == (100, 60)
    assert (view.parse[30:, :40] == 5).all() and (view.parse[:30] == 0).all()        # replicated down
    assert view.extras["body_matte"].shape == (100, 60)
    assert framing.reframe(person, (45, 0, 80, 60)).keypoints[1, 2] == 0            # outside: not found


def test_padded_crop_replicates_and_paste_back_drops_the_padding():
    photo = np.arange(12 * 9 * 3, dtype=np.uint8).reshape(12, 9, 3)
    crop = padded_crop(photo, (-2, -3, 11, 15))
    assert crop.shape == (18, 13, 3)
    assert (crop[3:15, 2:11] == photo).all() and (crop[0, 2:11] == photo[0]).all() and (crop[:, 0] == crop[:, 2]).all()
    assert padded_crop(photo, (1, 1, 5, 5)).base is not None       # inside: a view
    tryon = np.ones((18, 13, 3), np.float32)
    out = paste_back(photo, (-2, -3, 11, 15), tryon)
    assert out.shape == photo.shape and (out == 255).all()
    out = paste_back(photo, (4, 6, 17, 24), tryon)                    # only the part inside
    assert (out[6:, 4:] == 255).all() and (out[:6] == photo[:6]).all() and (out[:, :4] == photo[:, :4]).all()
