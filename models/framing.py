"""Person-centred framing: the working crop of each garment category, placed around the person.

`prepare_person` (framing "person") keeps pose and parse for the person's region of the photo
and a `BodyLayout` (body points in photo pixels); a category's working crop is derived from
them here, without running pose or parsing again:

    box = working_box(person.layout, "lower")         # (x0, y0, x1, y1) in photo pixels, 3:4
    check_coverage(person.layout, "lower", name)      # BadInputError: too little of the body
    view = reframe(person, box)                       # the Person as seen in that crop

Each category's crop is scaled from the torso (mid-shoulders → mid-hips, `torso_length`): its
height is torso / `share`, with the neck `neck_at` of the height from its top, centred across
on the category's body axis. So the torso fills the same share of an upper garment's crop in a
half-body photo and in a full-body photo of the same person. The crop then grows (keeping 3:4)
where the category's body points shown in the photo would fall outside it or within its margin
(arms raised, a wide stance). Where the crop reaches past the photo, the photo's own border is
replicated (Person.crop); paste-back drops that part (models/paste_back.py).

The figures are measured, not tuned on results: `upper` reproduces the median framing of the
sample dataset's half-body photos (VITON / VITON-HD, what the geometric warp was built on:
neck 0.30–0.36 of the height from the top, torso 0.38–0.49 of it); `lower` runs from just
above the shoulders to below the feet and `dress` from above the head to below the feet, with
the body proportions BlazePose measured on the 9 full-body photos of catalogue_wild (toes
2.6–3.0 torso lengths below the neck) and the half-body photos (head top 0.7–0.8 above it).

Nothing here depends on who the person is: one torso length, the person's own points.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from models.contract import REPR_H, REPR_W, BadInputError, BodyLayout, Person

# Body points a BodyLayout holds (photo pixels), named after the body, not any pose model.
LAYOUT_POINTS = ("nose", "l_eye", "r_eye", "l_ear", "r_ear", "l_mouth", "r_mouth",
                 "l_shoulder", "r_shoulder", "l_elbow", "r_elbow", "l_wrist", "r_wrist",
                 "l_index", "r_index", "l_hip", "r_hip", "l_knee", "r_knee", "l_ankle", "r_ankle",
                 "l_heel", "r_heel", "l_toe", "r_toe")
HEAD_POINTS = ("nose", "l_eye", "r_eye", "l_ear", "r_ear")
ARM_POINTS = ("l_elbow", "r_elbow", "l_wrist", "r_wrist")
LEG_POINTS = ("l_knee", "r_knee", "l_ankle", "r_ankle", "l_heel", "r_heel", "l_toe", "r_toe")

ASPECT = REPR_W / REPR_H     # width / height of every working crop (3:4)
MARGIN = 0.04                # of the crop's height: kept between a contained point and the edge
MAX_BOX_PER_PHOTO = 2.5      # a crop is at most this many times the photo's longer side
# A point counts as shown when inside the photo with at least this visibility: BlazePose gives
# 0.79–0.99 to the knees of the 9 full-body photos, ≤ 0.52 to knees it extrapolates into a
# half-body photo's background or below its edge.
MIN_VISIBILITY = 0.6


@dataclass(frozen=True)
class Framing:
    """One category's crop: height = torso / share, the neck at `neck_at` of the height from
    the top, centred on the mean x of `axis`; grows to hold `contain` (where in the photo) with
    MARGIN; `needs`: points that must be inside the photo for the category to be rendered."""

    share: float
    neck_at: float
    axis: tuple[str, ...]
    contain: tuple[str, ...]
    needs: tuple[tuple[str, str], ...]   # (points, what to call them in a refusal)


FRAMINGS: dict[str, Framing] = {
    # The sample dataset's half-body framing (medians of 14 photos: neck at 0.335, torso 0.42).
    "upper": Framing(share=0.42, neck_at=0.335, axis=("neck", "mid_hip"),
                     contain=("l_shoulder", "r_shoulder", "l_hip", "r_hip") + ARM_POINTS + HEAD_POINTS,
                     needs=((("l_shoulder", "r_shoulder"), "shoulders"),)),
    # 0.25 torso above the neck (the top's hem lies over the waistband: keep the torso) to
    # 0.15 below the toes (median 2.87 torso below the neck): 3.27 torso lengths.
    "lower": Framing(share=1 / 3.27, neck_at=0.25 / 3.27, axis=("mid_hip", "mid_ankle"),
                     contain=("l_hip", "r_hip", "l_wrist", "r_wrist") + LEG_POINTS,
                     needs=((("l_hip", "r_hip"), "hips"), (("l_knee", "r_knee"), "knees"))),
    # 0.95 torso above the neck (head top 0.8 + margin) to 0.15 below the toes: 3.97.
    "dress": Framing(share=1 / 3.97, neck_at=0.95 / 3.97, axis=("neck", "mid_hip", "mid_ankle"),
                     contain=("l_shoulder", "r_shoulder", "l_hip", "r_hip") + ARM_POINTS + HEAD_POINTS + LEG_POINTS,
                     needs=((("l_shoulder", "r_shoulder"), "shoulders"), (("l_hip", "r_hip"), "hips"),
                            (("l_knee", "r_knee"), "knees"))),
}
CATEGORY_NAMES = {"upper": "an upper garment", "lower": "a lower garment", "dress": "a dress"}


# --- the layout's geometry ----------------------------------------------------------------------
def point(layout: BodyLayout, name: str) -> np.ndarray:
    """(x, y) of a layout point, or of a derived one: neck (mid-shoulders), mid_hip, mid_ankle."""
    pairs = {"neck": ("l_shoulder", "r_shoulder"), "mid_hip": ("l_hip", "r_hip"),
             "mid_ankle": ("l_ankle", "r_ankle")}
    if name in pairs:
        a, b = pairs[name]
        return (point(layout, a) + point(layout, b)) / 2
    return np.asarray(layout.points[name][:2], np.float64)


def torso_length(layout: BodyLayout) -> float:
    """Mid-shoulders → mid-hips, photo pixels (the hips extrapolated where outside the photo)."""
    return float(np.hypot(*(point(layout, "mid_hip") - point(layout, "neck"))))


def in_photo(layout: BodyLayout, name: str) -> bool:
    h, w = layout.photo_hw
    x, y = point(layout, name)
    return bool(0 <= x < w and 0 <= y < h)


def shown(layout: BodyLayout, name: str) -> bool:
    """Inside the photo and visible (MIN_VISIBILITY)."""
    return in_photo(layout, name) and layout.points[name][2] >= MIN_VISIBILITY


def working_box(layout: BodyLayout, category: str) -> tuple[int, int, int, int]:
    """The category's 3:4 working crop (x0, y0, x1, y1) in photo pixels; it may reach past
    the photo (padding). Raises BadInputError for a layout it cannot frame (degenerate)."""
    framing = FRAMINGS[category]
    tl = torso_length(layout)
    ph, pw = layout.photo_hw
    limit = MAX_BOX_PER_PHOTO * max(ph, pw)
    if not (np.isfinite(tl) and tl >= 1):
        raise BadInputError("no usable torso found (shoulders and hips coincide)")
    height = tl / framing.share
    height = min(height, limit)
    top = point(layout, "neck")[1] - framing.neck_at * height
    cx = float(np.mean([point(layout, p)[0] for p in framing.axis]))
    box = np.array([cx - ASPECT * height / 2, top, cx + ASPECT * height / 2, top + height])
    # grow to hold the category's points that are inside the photo, with a margin
    held = np.array([point(layout, p) for p in framing.contain if shown(layout, p)])
    if len(held):
        m = MARGIN * height
        need = np.array([held[:, 0].min() - m, held[:, 1].min() - m, held[:, 0].max() + m, held[:, 1].max() + m])
        box = np.array([min(box[0], need[0]), min(box[1], need[1]), max(box[2], need[2]), max(box[3], need[3])])
        bw, bh = box[2] - box[0], box[3] - box[1]
        if bw / bh > ASPECT:      # too wide now: taller, about the middle
            grow = bw / ASPECT - bh
            box[1], box[3] = box[1] - grow / 2, box[3] + grow / 2
        else:
            grow = bh * ASPECT - bw
            box[0], box[2] = box[0] - grow / 2, box[2] + grow / 2
        if box[3] - box[1] > limit:   # never a giant crop: shrink about the centre
            c, half = (box[:2] + box[2:]) / 2, np.array([ASPECT * limit, limit]) / 2
            box = np.concatenate([c - half, c + half])
    if not np.isfinite(box).all():
        raise BadInputError("no usable body points found")
    x0, y0 = int(np.floor(box[0])), int(np.floor(box[1]))
    hgt = max(REPR_H // 16, int(round(box[3] - box[1])))
    wid = max(REPR_W // 16, int(round(hgt * ASPECT)))
    return x0, y0, x0 + wid, y0 + hgt


def check_coverage(layout: BodyLayout, category: str, name: str = "photo") -> None:
    """BadInputError naming the photo when too little of the body is inside it for `category`
    (a head-and-shoulders photo for trousers)."""
    if category not in FRAMINGS:
        raise BadInputError(f"{name}: garment category {category!r}: no framing for it "
                            f"(known: {', '.join(FRAMINGS)})")
    missing = [what for points, what in FRAMINGS[category].needs if not all(shown(layout, p) for p in points)]
    if missing:
        needs = " and ".join(what for _, what in FRAMINGS[category].needs)
        raise BadInputError(f"{name}: too little of the body for {CATEGORY_NAMES[category]}: the "
                            f"{' and '.join(missing)} are not in the photo (it needs the {needs})")


def torso_share(person: Person) -> float | None:
    """Torso length / crop height of a (framed) Person, from its keypoints (COCO neck → mid-hip
    in the 192×256 grid); None where they are missing. The framing check `make eval` reports."""
    kp = person.keypoints
    if kp[1, 2] <= 0 or kp[8, 2] <= 0 or kp[11, 2] <= 0:
        return None
    return float(np.hypot(*(kp[1, :2] - (kp[8, :2] + kp[11, :2]) / 2)) / REPR_H)


# --- a Person seen through another box -------------------------------------------------------
def reframe(person: Person, box: tuple[int, int, int, int]) -> Person:
    """`person` (keypoints, parse and extras over person.crop_box) as seen in `box` (photo
    pixels, may reach past the photo): keypoints re-gridded (0 outside the box), label maps
    resampled at their own scale — background where the old box did not reach inside the
    photo, the photo's border replicated past it, as Person.crop replicates its pixels."""
    box = tuple(int(v) for v in box)
    if box == tuple(person.crop_box):
        return person
    # once per (person, box): every render call of a chunk frames the same cached Person, and
    # the view keeps its per-person layers (models.geometric.layers memoises them on it)
    memo = person.__dict__.setdefault("_reframed", {})
    key = (box, person.name, id(person.photo))
    if key not in memo:
        if len(memo) >= 4:
            memo.pop(next(iter(memo)))
        memo[key] = _reframe(person, box)
    return memo[key]


def _reframe(person: Person, box: tuple[int, int, int, int]) -> Person:
    ax0, ay0, ax1, ay1 = person.crop_box
    bx0, by0, bx1, by1 = box
    # keypoints: grid of A → photo pixels → grid of B
    kp = person.keypoints.astype(np.float64).copy()
    seen = kp[:, 2] > 0
    px = kp[:, 0] * (ax1 - ax0) / REPR_W + ax0
    py = kp[:, 1] * (ay1 - ay0) / REPR_H + ay0
    inside = seen & (px >= bx0) & (px < bx1) & (py >= by0) & (py < by1)
    out_kp = np.zeros_like(kp)
    out_kp[inside, 0] = (px[inside] - bx0) * REPR_W / (bx1 - bx0)
    out_kp[inside, 1] = (py[inside] - by0) * REPR_H / (by1 - by0)
    out_kp[inside, 2] = kp[inside, 2]
    photo_hw = person.photo.shape[:2] if person.photo is not None else (
        person.layout.photo_hw if person.layout is not None else (ay1, ax1))
    parse = resample_map(person.parse, person.crop_box, box, photo_hw, cv2.INTER_NEAREST)
    extras = {k: resample_map(v, person.crop_box, box, photo_hw, cv2.INTER_LINEAR) for k, v in person.extras.items()}
    landmarks = None
    if person.landmarks is not None:  # grid of A → photo pixels → grid of B, like the keypoints
        landmarks = person.landmarks.astype(np.float64).copy()
        ka, kb = (ax1 - ax0) / REPR_W, REPR_W / (bx1 - bx0)
        landmarks[:, 0] = (landmarks[:, 0] * ka + ax0 - bx0) * kb
        landmarks[:, 1] = (landmarks[:, 1] * (ay1 - ay0) / REPR_H + ay0 - by0) * REPR_H / (by1 - by0)
        landmarks[:, 2] = landmarks[:, 2] * ka * kb
        landmarks = landmarks.astype(np.float32)
    return Person(photo=person.photo, crop_box=box, keypoints=out_kp.astype(np.float32), parse=parse,
                  stages=person.stages, extras=extras, landmarks=landmarks, framing=person.framing,
                  layout=person.layout, name=person.name)


MAX_LABEL_ROWS = 1024


def resample_map(labels: np.ndarray, src_box, dst_box, photo_hw, interpolation) -> np.ndarray:
    """A map over src_box (at its own resolution) resampled over dst_box at the same pixels
    per photo pixel (≤ MAX_LABEL_ROWS rows): 0 outside src_box inside the photo, the photo's
    border replicated outside the photo."""
    ax0, ay0, ax1, ay1 = src_box
    bx0, by0, bx1, by1 = dst_box
    ph, pw = photo_hw
    sy, sx = labels.shape[0] / (ay1 - ay0), labels.shape[1] / (ax1 - ax0)
    out_h = int(np.clip(round((by1 - by0) * sy), 1, MAX_LABEL_ROWS))
    out_w = max(1, int(round(out_h * (bx1 - bx0) / (by1 - by0))))
    # photo coordinates of each output pixel's centre, clamped into the photo (replication)
    xs = np.clip(bx0 + (np.arange(out_w) + 0.5) * (bx1 - bx0) / out_w, 0, pw - 1e-3)
    ys = np.clip(by0 + (np.arange(out_h) + 0.5) * (by1 - by0) / out_h, 0, ph - 1e-3)
    map_x = ((xs - ax0) * sx - 0.5).astype(np.float32)
    map_y = ((ys - ay0) * sy - 0.5).astype(np.float32)
    map_x, map_y = np.broadcast_to(map_x[None, :], (out_h, out_w)), np.broadcast_to(map_y[:, None], (out_h, out_w))
    return cv2.remap(labels, np.ascontiguousarray(map_x), np.ascontiguousarray(map_y), interpolation,
                     borderMode=cv2.BORDER_CONSTANT, borderValue=0)
