"""Drawn test inputs the geometric tests share: a T-shirt whose landmarks are known and a person
standing straight (not a test module: no tests here)."""
from __future__ import annotations

import cv2
import numpy as np

from models.contract import Person

BACKGROUND = (244, 244, 246)
# A short-sleeved T-shirt in a 300×400 photo (x, y), viewer's left first.
TSHIRT = {
    "neck_left": (125, 40), "neck_centre": (150, 62), "neck_right": (175, 40),
    "shoulder_right": (215, 52), "sleeve_right_outer": (272, 118), "sleeve_right_inner": (248, 140),
    "armpit_right": (212, 112), "hem_right": (214, 340), "hem_left": (86, 340),
    "armpit_left": (88, 112), "sleeve_left_inner": (52, 140), "sleeve_left_outer": (28, 118),
    "shoulder_left": (85, 52),
}
OUTLINE = ["neck_left", "neck_centre", "neck_right", "shoulder_right", "sleeve_right_outer",
           "sleeve_right_inner", "armpit_right", "hem_right", "hem_left", "armpit_left",
           "sleeve_left_inner", "sleeve_left_outer", "shoulder_left"]


def draw(points: dict, outline: list[str], colour=(40, 60, 190), size=(400, 300)) -> tuple[np.ndarray, np.ndarray]:
    image = np.full((*size, 3), BACKGROUND, np.uint8)
    truth = np.zeros(size, np.uint8)
    poly = np.array([points[k] for k in outline], np.int32)
    cv2.fillPoly(image, [poly], colour)
    cv2.fillPoly(truth, [poly], 255)
    return image, truth


# A person standing straight in the 192×256 grid, arms down and a little out.
KEYPOINTS = np.zeros((18, 3), np.float32)
for _i, (_x, _y) in {0: (96, 40), 1: (96, 70), 2: (66, 72), 3: (58, 115), 4: (54, 155), 5: (126, 72),
                     6: (134, 115), 7: (138, 155), 8: (78, 160), 11: (114, 160)}.items():
    KEYPOINTS[_i] = (_x, _y, 1)


def person(h=512, w=384, keypoints=KEYPOINTS) -> Person:
    return Person(photo=np.full((h, w, 3), 200, np.uint8), crop_box=(0, 0, w, h),
                  keypoints=keypoints.copy(), parse=np.zeros((256, 192), np.uint8))


# --- a drawn person with a parse: what the per-person layers and the compositor need ---------
SKIN_RGB = (205, 150, 125)
HAIR_RGB = (60, 40, 30)
PANTS_RGB = (40, 60, 150)
BACKGROUND_RGB = (235, 235, 238)


def _segment(canvas, a, b, radius, value):
    cv2.line(canvas, tuple(int(v) for v in a), tuple(int(v) for v in b), value, thickness=max(1, int(2 * radius)))
    for p in (a, b):
        cv2.circle(canvas, tuple(int(v) for v in p), int(radius), value, -1)


def drawn_person(arms: str = "down", top_rgb=(30, 160, 40), sleeves: str = "short", top_length: float = 1.15,
                 h: int = 512, w: int = 384, seed: int = 0) -> Person:
    """A person drawn with its LIP parse, the photo's size h×w (crop = the whole photo), in the
    192×256 keypoint grid. arms: "down" (hanging at the sides), "out" (raised sideways),
    "crossed" (the right forearm across the belly). The top (label 5, `top_rgb`) covers the
    torso from the shoulders to `top_length` of the neck→hip distance and the upper arms
    ("short"), the whole arms ("long") or none ("none"); pants (label 9) below it. Skin and
    cloth carry a fine noise (a real photo's texture)."""
    s = h / 256
    kp = {1: (96, 70), 2: (68, 72), 5: (124, 72), 8: (80, 160), 11: (112, 160), 0: (96, 42),
          9: (82, 215), 12: (110, 215), 14: (91, 36), 15: (101, 36)}
    if arms == "down":
        kp.update({3: (62, 115), 4: (60, 158), 6: (130, 115), 7: (132, 158)})
    elif arms == "out":
        kp.update({3: (40, 74), 4: (14, 76), 6: (152, 74), 7: (178, 76)})
    elif arms == "crossed":
        kp.update({3: (62, 115), 4: (100, 128), 6: (130, 115), 7: (132, 158)})
    keypoints = np.zeros((18, 3), np.float32)
    for i, (x, y) in kp.items():
        keypoints[i] = (x, y, 1)
    P = {i: np.array(v, np.float64) * s for i, v in kp.items()}
    labels = np.zeros((h, w), np.uint8)
    neck_y, hip_y = P[1][1], P[8][1]
    tl = hip_y - neck_y
    # legs and pants
    for hip, knee in ((P[8], P[9]), (P[11], P[12])):
        _segment(labels, hip, knee + (0, 60 * s), 14 * s, 9)
    torso = np.array([P[2] + (-4 * s, -4 * s), P[5] + (4 * s, -4 * s), P[11] + (6 * s, 20 * s), P[8] + (-6 * s, 20 * s)])
    cv2.fillConvexPoly(labels, np.round(torso).astype(np.int32), 9)
    # the top over the torso, down to top_length
    bottom = neck_y + top_length * tl
    top_poly = np.array([P[2] + (-4 * s, -4 * s), P[5] + (4 * s, -4 * s), (P[11][0] + 6 * s, bottom),
                         (P[8][0] - 6 * s, bottom)])
    cv2.fillConvexPoly(labels, np.round(top_poly).astype(np.int32), 5)
    # neck and head
    cv2.rectangle(labels, (int(88 * s), int(48 * s)), (int(104 * s), int(72 * s)), 10, -1)
    cv2.ellipse(labels, (int(96 * s), int(36 * s)), (int(14 * s), int(18 * s)), 0, 0, 360, 13, -1)
    cv2.ellipse(labels, (int(96 * s), int(26 * s)), (int(16 * s), int(10 * s)), 0, 180, 360, 2, -1)
    # arms: skin, then the sleeves over them
    for side, (sh, el, wr), label in (("r", (2, 3, 4), 15), ("l", (5, 6, 7), 14)):
        _segment(labels, P[sh], P[el], 8 * s, label)
        _segment(labels, P[el], P[wr], 7 * s, label)
        cv2.circle(labels, tuple(int(v) for v in P[wr] + (P[wr] - P[el]) * 0.25), int(8 * s), label, -1)
        if sleeves in ("short", "long"):
            _segment(labels, P[sh], P[sh] + 0.5 * (P[el] - P[sh]), 9 * s, 5)
        if sleeves == "long":
            _segment(labels, P[sh] + 0.5 * (P[el] - P[sh]), P[el], 9 * s, 5)
            _segment(labels, P[el], P[wr], 8 * s, 5)
    if arms == "crossed":   # the right forearm (and hand) in front of the top
        _segment(labels, P[3], P[4], 7 * s, 15 if sleeves != "long" else 5)
        cv2.circle(labels, tuple(int(v) for v in P[4] + (P[4] - P[3]) * 0.25), int(8 * s), 15, -1)
    return _painted(labels, keypoints, seed, {5: top_rgb})


def drawn_shirt(sleeves: str = "short", colour=(40, 60, 190), length: float = 1.0, size=(400, 300)) -> np.ndarray:
    """An in-shop photo of a drawn shirt on a light background: short or long sleeves or none;
    `length` stretches its body downwards."""
    pts = dict(TSHIRT)
    if sleeves == "long":
        pts.update({"sleeve_right_outer": (290, 330), "sleeve_right_inner": (262, 340),
                    "sleeve_left_inner": (38, 340), "sleeve_left_outer": (10, 330)})
    hem = 60 + (340 - 60) * length
    pts.update({"hem_right": (214, hem), "hem_left": (86, hem)})
    outline = OUTLINE
    if sleeves == "none":
        outline = [k for k in OUTLINE if not k.startswith("sleeve")]
    height = max(size[0], int(hem) + 30)
    image, _ = draw(pts, outline, colour=colour, size=(height, size[1]))
    return image


# --- a drawn full-body person: what lower garments and dresses need -------------------------
TOP_RGB = (30, 160, 40)
SHOE_RGB = (30, 30, 30)


def drawn_full_body(h: int = 512, w: int = 384, hips: float = 1.0, seed: int = 0) -> Person:
    """A person standing straight, seen whole (head to shoes), with its LIP parse: a green top
    (5) from the shoulders to just below the waist, blue trousers (9) down to the ankles, bare
    arms (14/15), shoes (18/19), face, hair, neck. `hips` widens the hips and thighs (a build
    parameter, not a sex). Keypoints in the 192×256 grid."""
    s = h / 256
    kp = {0: (96, 22), 1: (96, 42), 2: (72, 44), 5: (120, 44), 3: (66, 76), 4: (64, 106), 6: (126, 76),
          7: (128, 106), 8: (96 - 11 * hips, 118), 11: (96 + 11 * hips, 118), 9: (84, 176), 12: (108, 176),
          10: (82, 232), 13: (110, 232), 14: (93, 18), 15: (99, 18)}
    keypoints = np.zeros((18, 3), np.float32)
    for i, (x, y) in kp.items():
        keypoints[i] = (x, y, 1)
    P = {i: np.array(v, np.float64) * s for i, v in kp.items()}
    labels = np.zeros((h, w), np.uint8)
    # trousers: the hips and two legs to the ankles
    hip_poly = np.array([P[2] + (2 * s, 52 * s), P[5] + (-2 * s, 52 * s), P[11] + (6 * s * hips, 8 * s),
                         P[8] + (-6 * s * hips, 8 * s)])
    cv2.fillConvexPoly(labels, np.round(hip_poly).astype(np.int32), 9)
    for hip, knee, ankle in ((P[8], P[9], P[10]), (P[11], P[12], P[13])):
        _segment(labels, hip, knee, 8 * s * hips, 9)
        _segment(labels, knee, ankle, 7 * s, 9)
        cv2.ellipse(labels, (int(ankle[0]), int(ankle[1] + 6 * s)), (int(8 * s), int(4 * s)), 0, 0, 360,
                    18 if hip is P[8] else 19, -1)
    # the top over the torso, to just below the waist
    top_poly = np.array([P[2] + (-3 * s, -2 * s), P[5] + (3 * s, -2 * s), P[5] + (1 * s, 62 * s),
                         P[2] + (-1 * s, 62 * s)])
    cv2.fillConvexPoly(labels, np.round(top_poly).astype(np.int32), 5)
    cv2.rectangle(labels, (int(92 * s), int(30 * s)), (int(100 * s), int(43 * s)), 10, -1)   # neck
    cv2.ellipse(labels, (int(96 * s), int(22 * s)), (int(8 * s), int(10 * s)), 0, 0, 360, 13, -1)
    cv2.ellipse(labels, (int(96 * s), int(15 * s)), (int(9 * s), int(6 * s)), 0, 180, 360, 2, -1)
    for (sh, el, wr), label in (((2, 3, 4), 15), ((5, 6, 7), 14)):
        _segment(labels, P[sh], P[el], 5 * s, label)
        _segment(labels, P[el], P[wr], 4 * s, label)
    return _painted(labels, keypoints, seed, {5: TOP_RGB, 18: SHOE_RGB, 19: SHOE_RGB})


def _painted(labels: np.ndarray, keypoints: np.ndarray, seed: int, colours: dict) -> Person:
    """The Person whose photo paints `labels` (skin, hair, pants and background in their
    colours, `colours` for the rest) with a fine noise (a real photo's texture)."""
    h, w = labels.shape
    rng = np.random.default_rng(seed)
    colours = {0: BACKGROUND_RGB, 2: HAIR_RGB, 9: PANTS_RGB, 10: SKIN_RGB, 13: SKIN_RGB, 14: SKIN_RGB,
               15: SKIN_RGB, **colours}
    rgb = np.zeros((h, w, 3), np.float32)
    for label, colour in colours.items():
        rgb[labels == label] = colour
    rgb += rng.normal(0, 6, (h, w, 1)).astype(np.float32) * (labels > 0)[..., None]
    rgb = cv2.GaussianBlur(np.clip(rgb, 0, 255), (0, 0), 0.7)
    photo = np.ascontiguousarray(np.clip(rgb, 0, 255).astype(np.uint8)[..., ::-1])
    parse = cv2.resize(labels, (w // 2, h // 2), interpolation=cv2.INTER_NEAREST)
    return Person(photo=photo, crop_box=(0, 0, w, h), keypoints=keypoints, parse=parse)
