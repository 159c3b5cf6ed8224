"""Per-person layers of the geometric chain: everything that depends on the person alone,
computed once per person (and category) and reused for every garment.

    layers = person_layers(person, "upper", work_hw)    # cached in-process by the person's content

    layers.fit          BodyFit: the torso frame, the person's turn, the body's half-widths at
                        every depth (shoulder, chest, waist, hip…) and the arms with their widths
    layers.base         the crop with the category's old garment removed: skin where the body
                        is (the person's own skin colour and texture, the photo's light), the
                        lower garment continued upward below the waistband, background beyond
                        the body
    layers.shading      what the photo's light and the old garment's folds do to a new garment
                        (a multiplier; a body-shape shading where the old garment is unreadable)
    layers.front        in front of any garment: head, hair, neck, hands (soft alpha)
    layers.arms_front   in front of the garment's body, behind its sleeves: the arms
    layers.neck         the neck (and the skin of a neckline): in front of the inside of a
                        garment's back collar, behind its front
    layers.silhouette, synthesised, old_region, residue_candidates, body_area: for the QA measures

Nothing here depends on a garment: a pair only warps, shades, layers and pastes back
(models.geometric.compositor). The layers are a function of the Person alone (its photo,
keypoints, parse and extras), so a cache keyed by those is exact.

Categories: `CATEGORY_REPLACES` says which labels a category removes and `GARMENT_ZONE` where
such a garment can be. "upper" (`build_layers`): the top goes, the lower garment is continued
upward below the waistband. "lower" and "dress" (`build_layers_below`): the trousers, skirt or
shorts go (a dress: the top too) — skin where the legs (`LegFit`: hip → knee → ankle, widths
from the visible legs; drawn as smooth tapered limbs, `limbs_alpha`, lit round) or the torso
are, background elsewhere; in front of a lower garment:
the top (its hem over the waistband), arms, hands, shoes; in front of a dress: head, neck,
hands, shoes (arms before its body as for a top).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from models.body import TORSO_HALF_WIDTH, body_frame, keypoints_px, parse_at
from models.cache import ContentCache
from models.contract import REPR_H, REPR_W, BadInputError, Person
from models.geometric import fill
from models.labels import ARMS, LEG_CHAINS, LEGS, LOWER_GARMENT, NECK, OLD_GARMENT, SHOES, SKIN, Lip
from models.masks import dilate_wide

# Which labels each garment category takes off the person (a lower garment takes a dress's
# skirt too: only below the waistband, GARMENT_ZONE).
CATEGORY_REPLACES = {"upper": OLD_GARMENT, "lower": LOWER_GARMENT + (Lip.DRESS,),
                     "dress": OLD_GARMENT + LOWER_GARMENT}
HEAD_LABELS = (Lip.HAT, Lip.HAIR, Lip.SUNGLASSES, Lip.FACE)

# BlazePose landmark ids (Person.landmarks: x, y in the 192×256 grid, z, visibility).
BP_L_SHOULDER, BP_R_SHOULDER, BP_L_HIP, BP_R_HIP = 11, 12, 23, 24
BP_HAND = {"left": (16, 18, 20, 22), "right": (15, 17, 19, 21)}   # garment side → wrist, pinky, index, thumb

DEPTHS = np.round(np.arange(-0.1, 1.61, 0.1), 2)   # where the body's widths are measured (tl units)
MAX_TURN = 55.0             # degrees: beyond, the foreshortening correction stops growing
# BlazePose's depth (z) is its least sure output (on the shared photos it reads turns about
# twice what they look): the geometry uses TURN_TRUST × its angle.
TURN_TRUST = 0.5
FRONT_DEPTH = 0.5           # the chest's front lies this many true half-shoulder spans before the joints
TORSO_DEPTH = 0.6           # a torso is about 0.6 as deep as it is wide: turned, its silhouette widens
WAISTBAND = 0.88            # a lower garment's waistband: this far from the shoulders to the hips
# Legs (true half-shoulder spans): half-width min, max, default of the thigh; the calf's default
# is CALF_PER_THIGH of the thigh's. Missing knees and ankles: a thigh is THIGH_PER_TORSO torso
# lengths, a shin as long as the thigh; the leg's line runs on past the ankle to the heel.
LEG_HALF = (0.2, 0.8, 0.45)
CALF_PER_THIGH = 0.7
THIGH_PER_TORSO = 0.85
CROTCH_RANGE = (0.9, 1.8)   # tl below the neck: where the legs can part
CROTCH_DEPTH = 1.5          # tl: where they part when the photo does not show it (a skirt, a dress); the
                            # three shared full-body photos that show it: 1.31, 1.52, 1.60
LONG_TOP = 1.3              # tl: a top ends above this depth (mid-thigh); below it the parse's "top" is a skirt
PAST_ANKLE = 0.2            # of the shin: the leg's line beyond the ankle (a long trouser's hem)
ARM_HALF = (0.12, 0.4, 0.24)  # arm half-width in true half-shoulder spans: min, max, default
SLEEVE_ROOM = 1.8           # a worn sleeve stands this many arm half-widths off the arm's line
ARM_OUTER_MAX = 0.35        # the body seen beyond an arm's line counts as arm up to this (true half-spans)
ARM_FRONT_FROM = (0.22, 0.38)  # arms are in front of a garment's body from this depth down (fade)
SHAPE_SHADE = 0.2           # a body-shape shading darkens the body's sides by up to this
RIM = 0.004                 # of the height: the old garment's outline pixels (mixed colours) go too
RESIDUE_DELTA_E = 14.0      # colour distance (Lab) within which a pixel "is" the old garment's colour


@dataclass
class BodyFit:
    """The person's body as the warp needs it, in working-resolution pixels.

    neck:        origin, mid-shoulders; across (to the image-right shoulder), down (to the hips)
    ds, tl:      apparent half shoulder span, neck → mid-hip distance
    ds_true:     half shoulder span corrected for the person's turn (foreshortening)
    turn:        degrees the shoulders are turned from the camera (signed: + = image-right
                 shoulder farther)
    shift:       the chest's front centre line, px across from the keypoints' centre line
    depths, half_left, half_right: the body's half-widths (px, from the centre line) at
                 depths (tl units) — measured on the silhouette where it shows the body's side,
                 the keypoint body model scaled to the person's build where an arm hides it
    measured:    (K, 2) bool, which half-widths were measured
    arms:        side → (4, 2) shoulder, elbow, wrist, fingertips ("left" = image left)
    arm_half:    side → the arm's half-width (px)
    top_a, top_d: the shoulders' top outline: depth (px) of the body's top at across offsets
                 (px from the keypoints' centre line); NaN where hair or the frame hides it
    arm_outer:   side → (arc lengths along the arm from the shoulder joint, how far the body
                 reaches from the arm's line to its outer side there): the keypoints' line runs
                 off the arm's middle (inside the deltoid), a sleeve must cover what is seen
    """

    hw: tuple[int, int]
    neck: np.ndarray
    across: np.ndarray
    down: np.ndarray
    ds: float
    ds_true: float
    tl: float
    turn: float
    shift: float
    depths: np.ndarray
    half_left: np.ndarray
    half_right: np.ndarray
    measured: np.ndarray
    arms: dict
    arm_half: dict
    top_a: np.ndarray | None = None
    top_d: np.ndarray | None = None
    arm_outer: dict | None = None

    def shoulder_top(self, a) -> np.ndarray:
        """Depth (px) of the shoulders' top at across offsets a (px from the keypoints' centre
        line); NaN where it was not seen."""
        if self.top_a is None:
            return np.full(np.shape(a), np.nan)
        ok = np.isfinite(self.top_d)
        if ok.sum() < 2:
            return np.full(np.shape(a), np.nan)
        out = np.interp(a, self.top_a[ok], self.top_d[ok], left=np.nan, right=np.nan)
        # not across a hidden stretch wider than a tenth of the shoulders
        gaps = np.interp(a, self.top_a, np.where(ok, 0.0, 1.0))
        return np.where(gaps < 0.5, out, np.nan)

    def point(self, a, d) -> np.ndarray:
        """neck + a px across + d px down (arrays broadcast)."""
        a, d = np.asarray(a, np.float64), np.asarray(d, np.float64)
        return self.neck + a[..., None] * self.across + d[..., None] * self.down

    def coords(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(across, down) px offsets from the neck of points (..., 2)."""
        rel = xy - self.neck
        return rel @ self.across, rel @ self.down

    def half(self, side: str, d) -> np.ndarray:
        """The body's half-width (px) to `side` ("left"/"right") at depth d (px)."""
        halves = self.half_left if side == "left" else self.half_right
        return np.interp(np.asarray(d, np.float64) / self.tl, self.depths, halves)


@dataclass
class PersonLayers:
    category: str
    hw: tuple[int, int]
    fit: BodyFit
    base: np.ndarray           # (h,w,3) float32 RGB [0,1]
    shading: np.ndarray        # (h,w) float32 multiplier
    front: np.ndarray          # (h,w) float32 alpha
    arms_front: np.ndarray     # (h,w) float32 alpha
    neck: np.ndarray           # (h,w) float32 alpha
    silhouette: np.ndarray     # (h,w) bool: the person as the photo shows them
    synthesised: np.ndarray    # (h,w) bool: base pixels the photo did not have
    old_region: np.ndarray     # (h,w) bool: what was removed
    residue_candidates: np.ndarray  # (h,w) bool: pixels left with the old garment's colours
    body_area: float           # px of torso and arms (the shares' denominator)
    readable: float            # share of the old garment whose folds were read
    snap_zone: np.ndarray | None = None  # (h,w) uint8 0/255: the old garment on the torso (not the arms)
    snap_arms: np.ndarray | None = None  # (h,w) uint8 0/255: the old garment on the arms (its sleeves)
    legs: "LegFit | None" = None         # lower garments and dresses: the legs
    zone: np.ndarray | None = None       # lower garments and dresses: where such a garment can be (bool)
    legs_invented: np.ndarray | None = None  # lower garments and dresses: leg pixels the chain invented (bool)
    legs_area: float = 0.0               # px of the legs below the crotch (legs_invented's denominator)


@dataclass
class LegFit:
    """The legs as a lower garment needs them, in working-resolution pixels, per garment side
    ("left" = image left = the person's right leg).

    lines: side → (4, 2) hip joint, knee, ankle, heel (past the ankle)
    half:  side → (4,) the leg's half-width at those points (thigh at the hip and knee, calf at
           the ankle and heel), from the visible bare legs, else the model
    """

    lines: dict
    half: dict
    crotch: float = 0.0      # depth (px below the neck) where the legs part
    crotch_seen: bool = False  # measured on the silhouette (else CROTCH_DEPTH)


# --- the body ------------------------------------------------------------------------------------
def _turn(person: Person) -> tuple[float, float]:
    """(turn in degrees, signed; 0 when unknown) from BlazePose's depth of the shoulders and hips."""
    lm = person.landmarks
    if lm is None or lm.shape[0] < 25 or lm.shape[1] < 3:
        return 0.0, 0.0
    angles = []
    for a, b in ((BP_L_SHOULDER, BP_R_SHOULDER), (BP_L_HIP, BP_R_HIP)):
        d = lm[a, :3] - lm[b, :3]
        angles.append(np.degrees(np.arctan2(d[2], np.hypot(d[0], d[1]))))
    turn = float(np.mean(angles))
    return turn, float(np.clip(abs(turn), 0, MAX_TURN))


def _arm_polylines(person: Person, body, hw) -> dict:
    lm = person.landmarks
    arms = {}
    for side, poly in body.arms.items():
        shoulder, elbow, wrist = poly
        tip = wrist + 0.35 * (wrist - elbow)
        if lm is not None and lm.shape[0] >= 23:
            w_i, pinky, index, _ = BP_HAND[side]
            pts = lm[[pinky, index], :2] * np.array([hw[1] / REPR_W, hw[0] / REPR_H])
            if lm[[pinky, index], 3].min() > 0.3:
                tip = pts.mean(axis=0)
        arms[side] = np.stack([shoulder, elbow, wrist, tip])
    return arms


def _ray_lengths(torso: np.ndarray, stop_ok: np.ndarray, starts: np.ndarray, direction: np.ndarray,
                 max_len: int, gap: int) -> tuple[np.ndarray, np.ndarray]:
    """For each start point: how far along `direction` the torso mask runs (gaps ≤ `gap`
    bridged), and whether it ended at an allowed pixel (`stop_ok`: background) rather than at
    something hiding the side (an arm) or the image's edge."""
    h, w = torso.shape
    steps = np.arange(max_len)
    pts = np.round(starts[:, None, :] + steps[None, :, None] * direction).astype(int)
    inside_img = (pts[..., 0] >= 0) & (pts[..., 0] < w) & (pts[..., 1] >= 0) & (pts[..., 1] < h)
    px, py = np.clip(pts[..., 0], 0, w - 1), np.clip(pts[..., 1], 0, h - 1)
    on = torso[py, px] & inside_img
    lengths, valid = np.zeros(len(starts)), np.zeros(len(starts), bool)
    for i in range(len(starts)):
        if not on[i, 0]:
            continue
        off = ~on[i]
        # the first run of more than `gap` consecutive off-pixels ends the torso
        run = np.convolve(off.astype(int), np.ones(gap + 1, int), mode="valid")
        ends = np.nonzero(run == gap + 1)[0]
        if not len(ends):
            continue
        end = int(ends[0])
        lengths[i] = end
        valid[i] = bool(inside_img[i, end]) and bool(stop_ok[py[i, end], px[i, end]])
    return lengths, valid


def _stops_at(torso: np.ndarray, target: np.ndarray, starts: np.ndarray, direction: np.ndarray,
              lengths: np.ndarray) -> np.ndarray:
    """Whether the pixel just past each ray's end (a step or two beyond `lengths`) is `target`."""
    h, w = torso.shape
    out = np.zeros(len(starts), bool)
    for i, (p, n) in enumerate(zip(starts, lengths)):
        if n <= 0:
            continue
        for extra in (1, 2, 3):
            x, y = np.round(p + (n + extra) * direction).astype(int)
            if 0 <= x < w and 0 <= y < h and target[y, x]:
                out[i] = True
                break
    return out


def body_fit(person: Person, labels: np.ndarray, silhouette: np.ndarray, hw: tuple[int, int]) -> BodyFit:
    """The person's BodyFit at the working size `hw` (labels and silhouette at that size)."""
    body = body_frame(person.keypoints, hw)
    turn, magnitude = _turn(person)
    angle = np.radians(TURN_TRUST * min(magnitude, MAX_TURN))
    cos, sin = float(np.cos(angle)), float(np.sin(angle))
    ds_true = body.ds / cos
    # the chest's front faces the farther shoulder's side (+across: the image-right shoulder)
    shift = float(np.sign(turn) * FRONT_DEPTH * ds_true * sin)
    arms = _arm_polylines(person, body, hw)

    # arm half-widths from the visible skin of each arm, else the model
    arm_half = {}
    for side, label in (("left", Lip.RIGHT_ARM), ("right", Lip.LEFT_ARM)):
        skin = (labels == label).astype(np.uint8)
        half = ARM_HALF[2] * ds_true
        if skin.sum() > 50:
            dist = cv2.distanceTransform(skin, cv2.DIST_L2, 3)
            poly = arms[side][:3]
            samples = np.concatenate([np.linspace(a, b, 20) for a, b in zip(poly[:-1], poly[1:])])
            xs = np.clip(np.round(samples[:, 0]).astype(int), 0, hw[1] - 1)
            ys = np.clip(np.round(samples[:, 1]).astype(int), 0, hw[0] - 1)
            # the ridge of the distance transform near the arm's line: the arm's half-width
            vals = [dist[max(0, y - 3): y + 4, max(0, x - 3): x + 4].max() for x, y in zip(xs, ys)]
            vals = [v for v in vals if v > 1]
            if len(vals) >= 5:
                half = float(np.median(vals))
        arm_half[side] = float(np.clip(half, ARM_HALF[0] * ds_true, ARM_HALF[1] * ds_true))

    # the torso's sides: the silhouette without head and arms (visible arms and the arms'
    # capsules, wide enough for a loose sleeve: they hide the sides where they hang close)
    visible_arms = np.isin(labels, ARMS)
    arm_mask = visible_arms.astype(np.uint8)
    for side, poly in arms.items():
        capsule = np.zeros(hw, np.uint8)
        cv2.polylines(capsule, [np.round(poly[:2]).astype(np.int32)], False, 1,
                      thickness=max(1, int(round(2 * arm_half[side]))))
        if (visible_arms & (capsule > 0)).sum() > 0.3 * max(1, capsule.sum()):
            continue   # a bare arm: its own labels say where it is
        # an arm under a sleeve: its capsule, wide enough for a loose sleeve
        cv2.polylines(arm_mask, [np.round(poly[:3]).astype(np.int32)], False, 1,
                      thickness=max(1, int(round(2 * SLEEVE_ROOM * arm_half[side]))))
    torso = silhouette & ~np.isin(labels, HEAD_LABELS) & (arm_mask == 0)
    stop_ok = ~silhouette
    centre = body.neck + shift * body.across
    starts = np.array([centre + f * body.tl * body.down for f in DEPTHS])
    max_len = int(4 * ds_true) + 4
    gap = max(2, hw[0] // 256)
    # the keypoint body model (frontal), widened by the torso's depth where the person is turned
    turned = (cos + TORSO_DEPTH * sin) / cos
    model = np.array([np.interp(f, *zip(*TORSO_HALF_WIDTH)) for f in DEPTHS]) * body.ds * turned
    halves, measured, at_arm = [], [], []
    for sign in (-1.0, 1.0):
        lengths, valid = _ray_lengths(torso, stop_ok, starts, sign * body.across, max_len, gap)
        # a side that runs into an arm (bare, or its capsule under a sleeve): the torso is at
        # least that wide (it goes on behind the arm)
        bound = lengths
        plausible = (lengths > 0.6 * model - sign * shift) & (lengths < 1.8 * model + abs(shift))
        # the shoulders' own row runs into the arms: only below it is the torso's side measured
        valid &= (DEPTHS >= 0.15) & plausible
        halves.append(lengths)
        measured.append(valid)
        at_arm.append(np.where((DEPTHS >= 0.15) & plausible & ~valid & _stops_at(torso, arm_mask > 0, starts,
                                                                                  sign * body.across, bound),
                               bound, 0.0))
    halves, measured, at_arm = np.array(halves).T, np.array(measured).T, np.array(at_arm).T
    expected = np.stack([model + shift, model - shift], axis=1)   # measured from the shifted centre
    expected = np.maximum(expected, 0.3 * model[:, None])
    # the person's build: measured over expected where the torso's side was seen, from the
    # chest to the hips (below them the thighs and hands make it wider than the torso)
    torso_rows = ((DEPTHS >= 0.15) & (DEPTHS <= 1.05))[:, None] & measured
    ratios = halves[torso_rows] / expected[torso_rows]
    build = float(np.clip(np.median(ratios), 0.85, 1.3)) if len(ratios) >= 3 else 1.0
    final = np.where(measured, np.clip(halves, 0.85 * expected, 1.35 * expected), build * expected)
    final = np.where(~measured & (at_arm > 0), np.clip(np.maximum(final, at_arm), None, 1.35 * expected), final)
    # smooth along depth (a hand on the hip or a hair strand makes one sample jump)
    for j in range(2):
        col = final[:, j]
        final[:, j] = np.convolve(np.pad(col, 1, mode="edge"), np.ones(3) / 3, mode="valid")
    top_a, top_d = _shoulder_line(labels, silhouette, body)
    arm_outer = {side: _arm_outer_extent(labels, silhouette, arms[side], body.across * (-1 if side == "left" else 1),
                                         arm_half[side], ds_true) for side in arms}
    return BodyFit(hw=hw, neck=body.neck, across=body.across, down=body.down, ds=body.ds, ds_true=ds_true,
                   tl=body.tl, turn=turn, shift=shift, depths=DEPTHS.astype(np.float64),
                   half_left=final[:, 0], half_right=final[:, 1], measured=measured, arms=arms, arm_half=arm_half,
                   top_a=top_a, top_d=top_d, arm_outer=arm_outer)


def _arm_outer_extent(labels, silhouette, poly, outward, arm_half, ds_true, samples: int = 32):
    """(arc lengths, outer extents): along the arm's polyline (shoulder → fingertips), how far
    the person (not head, not background) reaches to the arm's outer side, smoothed; at least
    the arm's half-width, at most that plus ARM_OUTER_MAX true half-spans."""
    h, w = labels.shape
    seg = np.linalg.norm(np.diff(poly, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    s = np.linspace(0, arc[-1], samples)
    i = np.clip(np.searchsorted(arc, s, side="right") - 1, 0, len(poly) - 2)
    t = (s - arc[i]) / np.maximum(seg[i], 1e-9)
    centre = poly[i] + t[:, None] * (poly[i + 1] - poly[i])
    direction = (poly[i + 1] - poly[i]) / np.maximum(seg[i], 1e-9)[:, None]
    normal = np.stack([-direction[:, 1], direction[:, 0]], 1)
    normal *= np.where((normal @ outward) < 0, -1.0, 1.0)[:, None]
    body = silhouette & ~np.isin(labels, HEAD_LABELS)
    limit = arm_half + ARM_OUTER_MAX * ds_true
    steps = np.arange(int(limit) + 2)
    pts = np.round(centre[:, None] + steps[None, :, None] * normal[:, None]).astype(int)
    inside = (pts[..., 0] >= 0) & (pts[..., 0] < w) & (pts[..., 1] >= 0) & (pts[..., 1] < h)
    on = body[np.clip(pts[..., 1], 0, h - 1), np.clip(pts[..., 0], 0, w - 1)] & inside
    # the run from the line outward (a gap of a pixel or two bridged)
    reach = np.zeros(samples)
    for k in range(samples):
        off = np.nonzero(~on[k])[0]
        reach[k] = off[0] if len(off) else len(steps) - 1
    # a smooth outline: a running median then a mean over a fifth of the arm (the matte's and
    # the parse's ragged edges would make the sleeve's edge ragged)
    k = max(3, (samples // 5) | 1)
    pad = np.pad(reach, k // 2, mode="edge")
    reach = np.median(np.lib.stride_tricks.sliding_window_view(pad, k), axis=1)
    reach = np.convolve(np.pad(reach, k // 2, mode="edge"), np.ones(k) / k, mode="valid")
    return s, np.clip(reach, arm_half, limit)


def _shoulder_line(labels: np.ndarray, silhouette: np.ndarray, body) -> tuple[np.ndarray, np.ndarray]:
    """The shoulders' top outline: scanning down from above the shoulders at across offsets
    up to 1.5 half-spans either side, the first body pixel that is not head; kept where what
    lies just above it is background (hair or the frame's edge hide the real outline)."""
    h, w = labels.shape
    a = np.linspace(-1.5, 1.5, 31) * body.ds
    d = np.arange(-0.8 * body.tl, 0.35 * body.tl, 1.0)
    pts = body.neck[None, None] + a[:, None, None] * body.across + d[None, :, None] * body.down
    x, y = np.round(pts[..., 0]).astype(int), np.round(pts[..., 1]).astype(int)
    inside = (x >= 0) & (x < w) & (y >= 0) & (y < h)
    xc, yc = np.clip(x, 0, w - 1), np.clip(y, 0, h - 1)
    lab = labels[yc, xc]
    on_body = inside & silhouette[yc, xc] & ~np.isin(lab, HEAD_LABELS) & (lab != Lip.BACKGROUND)
    top = np.full(len(a), np.nan)
    for i in range(len(a)):
        hits = np.nonzero(on_body[i])[0]
        if not len(hits) or hits[0] < 3:
            continue
        j = hits[0]
        above = slice(max(0, j - 4), j)
        if inside[i, above].all() and (lab[i, above] == Lip.BACKGROUND).all():
            top[i] = d[j]
    return a, top


# tl: the depths a garment can reach (upper: neck base to mid-thigh; lower: from above the
# highest waistband down; a dress: from the neck base down); the legs' capsules are added below.
GARMENT_ZONE = {"upper": (-0.35, 1.9), "lower": (0.45, 6.0), "dress": (-0.35, 6.0)}   # lower: a high waist at 0.6
GARMENT_ZONE_WIDTH = 1.0    # true half-spans beyond the torso's sides a loose garment can reach


def _garment_zone(fit: BodyFit, category: str) -> np.ndarray:
    """Bool mask of where a garment of `category` can be on this body: its depth range, across
    the torso (twice its measured width) and along the arms."""
    lo, hi = GARMENT_ZONE[category]
    torso = torso_region(fit, lo, hi)
    r = max(1, int(round(GARMENT_ZONE_WIDTH * fit.ds_true)))
    torso = dilate_wide(torso, r)
    return torso | arm_capsules(fit, scale=2.5)


def arm_capsules(fit: BodyFit, scale: float = 1.0) -> np.ndarray:
    """Bool mask of both arms as capsules along their polylines (shoulder → fingertips)."""
    canvas = np.zeros(fit.hw, np.uint8)
    for side, poly in fit.arms.items():
        r = max(1, int(round(scale * fit.arm_half[side])))
        cv2.polylines(canvas, [np.round(poly).astype(np.int32)], False, 1, thickness=2 * r)
        for p in poly:
            cv2.circle(canvas, tuple(int(v) for v in np.round(p)), r, 1, -1)
    return canvas > 0


def torso_region(fit: BodyFit, f_from: float = -0.12, f_to: float = 1.6) -> np.ndarray:
    """Bool mask of the torso as the fit measures it (centre line ± half-widths per depth)."""
    fs = np.linspace(f_from, f_to, 24)
    d = fs * fit.tl
    left = fit.point(fit.shift - fit.half("left", d), d)
    right = fit.point(fit.shift + fit.half("right", d), d)
    poly = np.concatenate([left, right[::-1]])
    canvas = np.zeros(fit.hw, np.uint8)
    cv2.fillPoly(canvas, [np.round(poly).astype(np.int32)], 1)
    return canvas > 0


def body_shape(fit: BodyFit) -> np.ndarray:
    """Log-shading of a rounded body lit from the front: 0 on the torso's and arms' middle,
    darker towards their sides (a cylinder's falloff)."""
    h, w = fit.hw
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    a, d = fit.coords(np.stack([xx, yy], -1))
    a = a - fit.shift
    half = np.where(a < 0, fit.half("left", d), fit.half("right", d))
    u = np.clip(np.abs(a) / np.maximum(half, 1), 0, 1)
    shade = np.log(1 - SHAPE_SHADE * u ** 4)
    torso = torso_region(fit)
    out = np.where(torso, shade, 0).astype(np.float32)
    for side, poly in fit.arms.items():
        dist = np.full((h, w), np.inf, np.float32)
        for p, q in zip(poly[:-1], poly[1:]):
            dist = np.minimum(dist, _segment_distance(xx, yy, p, q))
        r = fit.arm_half[side]
        arm = dist < r
        # an arm is in front of the torso: its own roundness where it crosses it
        out = np.where(arm, np.log(1 - SHAPE_SHADE * np.clip(dist / r, 0, 1) ** 4), out)
    return out.astype(np.float32)


def _segment_distance(xx, yy, a, b):
    ab = b - a
    t = np.clip(((xx - a[0]) * ab[0] + (yy - a[1]) * ab[1]) / max(float(ab @ ab), 1e-9), 0, 1)
    return np.hypot(xx - (a[0] + t * ab[0]), yy - (a[1] + t * ab[1]))


# --- soft masks --------------------------------------------------------------------------------
def _soft(mask: np.ndarray, sigma: float) -> np.ndarray:
    m = mask.astype(np.float32)
    return cv2.GaussianBlur(m, (0, 0), sigma) if sigma > 0.3 else m


def _clothed_arm(crop: np.ndarray, labels: np.ndarray, skin_reference: np.ndarray) -> np.ndarray:
    """Arm- or neck-labelled pixels whose colour is far from the person's skin (a sleeve or a
    high collar the parse took for skin)."""
    arms = np.isin(labels, ARMS + (NECK,))
    if skin_reference.sum() < 20 or not arms.any():
        return np.zeros_like(arms)
    lab = cv2.cvtColor(crop, cv2.COLOR_RGB2LAB)
    reference = np.median(lab[skin_reference], axis=0)
    delta = np.linalg.norm(lab - reference, axis=2)
    return arms & (cv2.GaussianBlur(delta, (0, 0), 2) > 45)


def hands_mask(person: Person, labels: np.ndarray, fit: BodyFit) -> np.ndarray:
    """Bool mask of the hands: around BlazePose's hand landmarks (wrist, pinky, index, thumb;
    else the wrist and the fingertips' estimate), where the parse has an arm (skin)."""
    h, w = labels.shape
    canvas = np.zeros((h, w), np.uint8)
    lm = person.landmarks
    for side, poly in fit.arms.items():
        wrist, tip = poly[2], poly[3]
        pts = [wrist, tip]
        if lm is not None and lm.shape[0] >= 23:
            ids = list(BP_HAND[side])
            if lm[ids, 3].min() > 0.3:
                pts = list(lm[ids, :2] * np.array([w / REPR_W, h / REPR_H]))
        pts = np.array(pts, np.float64)
        size = max(2.0, float(np.linalg.norm(tip - wrist)))
        hull = cv2.convexHull(np.round(pts).astype(np.int32))
        cv2.fillConvexPoly(canvas, hull, 1)
        canvas = dilate_wide(canvas, int(0.45 * size)).astype(np.uint8)
    return (canvas > 0) & np.isin(labels, ARMS + (Lip.GLOVE,))


# --- the layers ----------------------------------------------------------------------------------
def work_crop(person: Person, hw: tuple[int, int]) -> np.ndarray:
    h, w = hw
    crop = person.crop
    interp = cv2.INTER_AREA if crop.shape[0] > h else cv2.INTER_LINEAR
    if crop.shape[:2] != (h, w):
        crop = cv2.resize(crop, (w, h), interpolation=interp)
    return cv2.cvtColor(crop, cv2.COLOR_BGR2RGB).astype(np.float32) / 255


def _silhouette(person: Person, labels: np.ndarray, hw) -> np.ndarray:
    matte = person.extras.get("body_matte")
    if matte is not None and matte.ndim == 2:
        soft = cv2.resize(matte, (hw[1], hw[0]), interpolation=cv2.INTER_LINEAR)
        return (soft >= 128) | (labels > 0)
    return labels > 0


def build_layers(person: Person, category: str, hw: tuple[int, int]) -> PersonLayers:
    if category not in CATEGORY_REPLACES:
        raise BadInputError(f"garment category {category!r}: the geometric chain renders "
                            f"{', '.join(CATEGORY_REPLACES)} garments")
    if category != "upper":
        return build_layers_below(person, category, hw)
    h, w = hw
    crop = work_crop(person, hw)
    labels = parse_at(person.parse, hw)
    silhouette = _silhouette(person, labels, hw)
    fit = body_fit(person, labels, silhouette, hw)
    feather = max(0.5, h / 512)
    rim = max(1, int(round(RIM * h)))

    head = np.isin(labels, HEAD_LABELS)
    skin_labels = np.isin(labels, SKIN + LEGS) & ~np.isin(labels, (Lip.FACE,))
    clothed_arm = _clothed_arm(crop, labels, cv2.erode((labels == Lip.FACE).astype(np.uint8),
                                                       np.ones((5, 5), np.uint8)) > 0)
    reference = cv2.erode((skin_labels & ~clothed_arm).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    # the old garment: its labels where a garment of the category can be (an upper garment is on
    # the torso and the arms, never on the feet or above the neck: a parse that calls shoes or a
    # hat "upper clothes" does not make them go)
    zone = _garment_zone(fit, category)
    old_labels = np.isin(labels, CATEGORY_REPLACES[category]) & zone
    old = (old_labels | clothed_arm) & zone
    removed = cv2.dilate(old.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * rim + 1,) * 2)) > 0
    # ... inside the person and a pixel beyond (the background next to them stays the photo's)
    removed &= ~head & (cv2.dilate(silhouette.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0)
    lower = np.isin(labels, LOWER_GARMENT)
    removed &= ~lower | old    # the rim does not eat into the lower garment (it is continued below)

    # where a body is under the clothes: the measured torso, the arms' capsules, visible skin
    capsules = arm_capsules(fit)
    # the neck's surroundings are body too (a collar under the hair is not background)
    r = max(1, int(round(0.25 * fit.ds)))
    around_neck = cv2.dilate((labels == NECK).astype(np.uint8), cv2.getStructuringElement(
        cv2.MORPH_ELLIPSE, (2 * r + 1,) * 2)) > 0
    under = (torso_region(fit) | capsules | skin_labels | lower | around_neck) & silhouette & ~head
    xx = np.arange(w, dtype=np.float32)[None, :]
    yy = np.arange(h, dtype=np.float32)[:, None]
    depth = ((xx - fit.neck[0]) * fit.down[0] + (yy - fit.neck[1]) * fit.down[1]) / fit.tl
    below_waist = depth > WAISTBAND
    lower_below = lower & (depth > WAISTBAND - 0.1)
    has_lower = lower_below.sum() > 0.002 * h * w

    region = removed & under
    skin_region = region & (~below_waist | capsules)    # arms hanging below the waist stay arms
    lower_region = region & below_waist & ~capsules if has_lower else np.zeros_like(region)
    # no lower garment below the waistband: the old one stays there (a dress's skirt, a long top)
    keep_region = region & below_waist if not has_lower else np.zeros_like(region)
    bg_region = removed & ~under

    light, folds, read_weight, readable = fill.shading_fields(crop, old_labels & ~clothed_arm, under, fit.tl)
    shape = body_shape(fit)
    base = crop.copy()
    skin = fill.skin_fill(crop, skin_region, reference, light + shape, fit.tl,
                          fallback=_face_colour(crop, labels))
    continued = fill.lower_fill(crop, lower_region, lower) if lower_region.any() else None
    if continued is None and lower_region.any():   # nothing to continue after all: skin
        skin = np.where(lower_region[..., None], fill.skin_fill(crop, lower_region, reference, light + shape,
                                                                fit.tl, fallback=_face_colour(crop, labels)), skin)
        skin_region |= lower_region
        lower_region = np.zeros_like(region)
    background = fill.background_fill(crop, bg_region, known=~silhouette & ~removed)
    painted = np.zeros_like(crop)
    painted[skin_region] = skin[skin_region]
    if continued is not None:
        painted[lower_region] = continued[lower_region]
    painted[bg_region] = background[bg_region]
    synthesised = skin_region | lower_region | bg_region
    # soft seams: the painted layer fades in over a pixel or two at its outline (continued a
    # little beyond it, so the fade mixes two similar colours)
    spread_out, _ = fill.masked_blur(painted, synthesised, max(1.0, 2 * feather))
    painted = np.where(synthesised[..., None], painted, spread_out)
    a = np.maximum(_soft(synthesised, feather), synthesised.astype(np.float32))[..., None]
    base = base * (1 - a) + painted * a
    base[keep_region] = crop[keep_region]

    # shading for a new garment: the old garment's light and folds where read, the body's shape elsewhere
    shading = np.exp(light + folds + (1 - read_weight) * shape).astype(np.float32)

    # what is in front
    neck = (labels == NECK) & ~clothed_arm
    hands = hands_mask(person, labels, fit)
    # The neck is in front too: an in-shop photo shows the inside of the back collar above the
    # front neckline, which laid on the person would cover the neck (a high collar is lost the
    # same way; where the photo's inside of the back is found, models.geometric.garment's
    # PART_BACK, it also goes behind the neckline's skin)
    front = np.maximum.reduce([_soft(head, feather), _soft(hands, feather), _soft(neck, feather)])
    arm_px = (np.isin(labels, ARMS) & ~clothed_arm) | (capsules & old & silhouette)
    fade = np.clip((depth - ARM_FRONT_FROM[0]) / (ARM_FRONT_FROM[1] - ARM_FRONT_FROM[0]), 0, 1)
    arms_front = _soft(arm_px, feather) * fade

    # QA: pixels outside what was removed that still have the old garment's colours
    residue = _residue_candidates(crop, labels, old_labels, removed, fit)
    body_area = float((under & ~np.isin(labels, LEGS + LOWER_GARMENT)).sum())
    # where a new garment's edge may reach out to the old garment's: the old garment on the
    # torso, away from the arms (an outline that follows the old one there follows the body)
    snap = (old_labels & torso_region(fit) & ~capsules).astype(np.uint8) * 255
    snap_arms = (old_labels & capsules).astype(np.uint8) * 255
    return PersonLayers(category=category, hw=hw, fit=fit, base=np.clip(base, 0, 1).astype(np.float32),
                        snap_zone=snap, snap_arms=snap_arms,
                        shading=shading, front=front.astype(np.float32), arms_front=arms_front.astype(np.float32),
                        neck=_soft(neck, feather).astype(np.float32), silhouette=silhouette,
                        synthesised=synthesised, old_region=removed, residue_candidates=residue,
                        body_area=max(1.0, body_area), readable=readable)


# --- lower garments and dresses --------------------------------------------------------------------
def leg_fit(person: Person, labels: np.ndarray, silhouette: np.ndarray, fit: BodyFit) -> LegFit:
    """The legs from the keypoints (missing knees and ankles continued from the torso's
    proportions) with half-widths from the visible bare legs (trousers, a skirt or a dress hide
    the leg's width: there the model)."""
    h, w = fit.hw
    kp, seen = keypoints_px(person.keypoints, fit.hw)
    visible = np.isin(labels, LEGS).astype(np.uint8)   # bare legs (trousers may stand off them)
    dist = cv2.distanceTransform(visible, cv2.DIST_L2, 3) if visible.any() else None
    lines, half = {}, {}
    for side, (i_hip, i_knee, i_ankle) in LEG_CHAINS.items():
        sign = -1.0 if side == "left" else 1.0
        hip = kp[i_hip] if seen[i_hip] else fit.point(sign * 0.5 * fit.ds, fit.tl)
        knee = kp[i_knee] if seen[i_knee] else hip + THIGH_PER_TORSO * fit.tl * fit.down
        ankle = kp[i_ankle] if seen[i_ankle] else knee + (knee - hip)
        heel = ankle + PAST_ANKLE * (ankle - knee)
        line = np.stack([hip, knee, ankle, heel])
        widths, measured = [], []
        for (a, b), default, profile in zip(((hip, knee), (knee, ankle)),
                                            (LEG_HALF[2], CALF_PER_THIGH * LEG_HALF[2]),
                                            (THIGH_PROFILE, SHIN_PROFILE)):
            value = default * fit.ds_true
            measured.append(False)
            if dist is not None:
                t = np.linspace(0.15, 0.85, 16)
                pts = a + t[:, None] * (b - a)
                xs = np.clip(np.round(pts[:, 0]).astype(int), 0, w - 1)
                ys = np.clip(np.round(pts[:, 1]).astype(int), 0, h - 1)
                # the keypoints' line may run a little off the leg's middle: look around it
                r = max(2, int(0.2 * fit.ds_true))
                vals = np.array([dist[max(0, y - r): y + r + 1, max(0, x - r): x + r + 1].max() for x, y in zip(xs, ys)])
                # each width relative to the leg's profile there: a bare lower shin (below cropped
                # trousers) says how wide the calf above it is. A hem or a shoe over the leg only
                # ever narrows what is seen: the upper quartile
                ratios = (vals / np.interp(t, *zip(*profile)))[vals > 1]
                if len(ratios) >= 6:
                    value = float(np.percentile(ratios, 75))
                    measured[-1] = True
            widths.append(float(np.clip(value, LEG_HALF[0] * fit.ds_true, LEG_HALF[1] * fit.ds_true)))
        # one part seen bare, the other hidden: the hidden one in proportion to the seen one (a
        # calf below cropped trousers says how wide the thigh above it is; the model's thigh
        # narrower than the person's own calf draws a leg that widens at the hem)
        if measured[1] and not measured[0]:
            widths[0] = float(np.clip(widths[1] / CALF_PER_THIGH, LEG_HALF[0] * fit.ds_true, LEG_HALF[1] * fit.ds_true))
        elif measured[0] and not measured[1]:
            widths[1] = CALF_PER_THIGH * widths[0]
        lines[side] = line
        half[side] = np.array([widths[0], widths[0], widths[1], widths[1]])
    crotch = _crotch(silhouette & ~np.isin(labels, HEAD_LABELS), lines, fit)
    return LegFit(lines=lines, half=half, crotch=crotch if crotch is not None else CROTCH_DEPTH * fit.tl,
                  crotch_seen=crotch is not None)


def _crotch(body: np.ndarray, lines: dict, fit: BodyFit) -> float | None:
    """Depth (px below the neck) where the legs part: scanning down the line midway between the
    two legs from the hips, the first background pixel of a run that goes on (the gap between
    the legs); None where it does not open within CROTCH_RANGE (a skirt, a dress, legs together)."""
    h, w = body.shape
    lo, hi = CROTCH_RANGE
    mid = [(lines["left"][i] + lines["right"][i]) / 2 for i in range(3)]   # hips, knees, ankles
    depth_of = [float((p - fit.neck) @ fit.down) for p in mid]
    run = max(3, int(0.1 * fit.tl))
    ds = np.arange(lo * fit.tl, hi * fit.tl)
    xs = np.interp(ds, depth_of, [p[0] for p in mid])
    ys = np.interp(ds, depth_of, [p[1] for p in mid])
    xi, yi = np.round(xs).astype(int), np.round(ys).astype(int)
    inside = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
    on = np.where(inside, body[np.clip(yi, 0, h - 1), np.clip(xi, 0, w - 1)], True)
    for i in np.nonzero(~on)[0]:
        if i + run <= len(on) and not on[i:i + run].any():
            return float(ds[i])
    return None


# Invented limbs (where a shorter garment uncovers what the old one hid): a smooth, tapered
# width profile along each limb's line, drawn as an anti-aliased alpha from the exact
# distance to the line (no circles or integer widths: those gave scalloped, stair-stepped
# outlines), with a cylinder's shading across the width.
# Half-width along a leg, as multiples of the measured thigh (hip → knee) and calf (knee →
# ankle) half-widths: (fraction of the segment, multiple). Anatomical proportions (the thigh
# narrows to the knee, the calf bulges below it, the ankle is slim); their mean over the part
# of the segment where the width is measured is about 1, so the measured widths are kept.
THIGH_PROFILE = ((0.0, 1.12), (0.5, 1.0), (1.0, 0.8))
SHIN_PROFILE = ((0.0, 0.92), (0.25, 1.12), (0.6, 0.98), (1.0, 0.66))
ARM_PROFILE = ((0.0, 1.1), (1.0, 0.85))           # upper arm: shoulder → elbow
FOREARM_PROFILE = ((0.0, 0.9), (1.0, 0.7))        # forearm: elbow → wrist
LIMB_SHADE = 0.3            # a limb's sides are this much darker than its middle (a cylinder lit from the front)


def limb_profile(line: np.ndarray, halves: list[float], profiles: list[tuple], step: float = 1.0):
    """(points (N, 2), half-widths (N,)) every `step` px along a polyline; segment i's half-width
    is halves[i] × profiles[i] (the last segment, if without a profile, keeps the previous
    segment's end), smoothed along the line so no kink shows at the joints."""
    pts, hws = [], []
    for i, (p, q) in enumerate(zip(line[:-1], line[1:])):
        n = max(2, int(np.ceil(np.linalg.norm(q - p) / step)))
        t = np.linspace(0, 1, n, endpoint=False)
        pts.append(p + t[:, None] * (q - p))
        if i < len(profiles):
            fs, ms = zip(*profiles[i])
            hws.append(halves[i] * np.interp(t, fs, ms))
        else:
            hws.append(np.full(n, hws[-1][-1]))
    pts.append(line[-1:])
    hws.append(hws[-1][-1:])
    pts, hws = np.concatenate(pts), np.concatenate(hws)
    sigma = max(1.0, 0.04 * len(hws))
    k = int(3 * sigma) * 2 + 1
    hws = cv2.GaussianBlur(hws.reshape(-1, 1).astype(np.float32), (1, k), sigma,
                           borderType=cv2.BORDER_REPLICATE).ravel()
    return pts, hws


def limbs_alpha(limbs: list[tuple[np.ndarray, np.ndarray]], hw: tuple[int, int],
                scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """(alpha, u) for limbs given as (points, half-widths) along their lines: alpha (float32
    0-1) is 1 inside, anti-aliased over a pixel at the outline; u (0 on a line, 1 at the
    outline) is where across its limb a pixel is (for the shading). Exact sub-pixel distances
    to the line's segments (each a tapered capsule), so the outline has no steps."""
    h, w = hw
    sd_all = np.full(hw, np.inf, np.float32)      # signed distance to the outline (< 0 inside)
    u_all = np.ones(hw, np.float32)
    for pts, hws in limbs:
        keep = np.unique(np.r_[np.arange(0, len(pts), 4), len(pts) - 1])   # every ~4 px is plenty
        pts, hws = pts[keep].astype(np.float32), scale * hws[keep].astype(np.float32)
        # each segment a tapered capsule, evaluated in its own box only
        for (p, q), (rp, rq) in zip(zip(pts[:-1], pts[1:]), zip(hws[:-1], hws[1:])):
            m = max(rp, rq) + 2
            x0, y0 = max(0, int(np.floor(min(p[0], q[0]) - m))), max(0, int(np.floor(min(p[1], q[1]) - m)))
            x1, y1 = min(w, int(np.ceil(max(p[0], q[0]) + m)) + 1), min(h, int(np.ceil(max(p[1], q[1]) + m)) + 1)
            if x1 <= x0 or y1 <= y0:
                continue
            xx = np.arange(x0, x1, dtype=np.float32)[None, :] - p[0]
            yy = np.arange(y0, y1, dtype=np.float32)[:, None] - p[1]
            v = q - p
            t = np.clip((xx * v[0] + yy * v[1]) / max(float(v @ v), 1e-9), 0, 1)
            d = np.hypot(xx - t * v[0], yy - t * v[1])
            r = np.maximum(rp + t * (rq - rp), 0.5)
            win = np.s_[y0:y1, x0:x1]
            closer = d - r < sd_all[win]
            sd_all[win] = np.where(closer, d - r, sd_all[win])
            u_all[win] = np.where(closer, d / r, u_all[win])
    alpha = np.clip(0.5 - sd_all, 0, 1).astype(np.float32)
    return alpha, np.clip(u_all, 0, 1).astype(np.float32)


def leg_limbs(legs: "LegFit", tapered: bool = True) -> list:
    """(points, half-widths) of both legs, hip → heel: tapered (THIGH_PROFILE, SHIN_PROFILE), or
    the thigh's width down to the knee narrowing to the calf's at the ankle (room for a
    trouser leg: where such a garment can be)."""
    out = []
    for s, line in legs.lines.items():
        thigh, calf = legs.half[s][0], legs.half[s][2]
        profiles = [THIGH_PROFILE, SHIN_PROFILE] if tapered else \
            [((0.0, 1.0), (1.0, 1.0)), ((0.0, thigh / max(calf, 1e-6)), (1.0, 1.0))]
        out.append(limb_profile(line, [thigh, calf], profiles))
    return out


def arm_limbs(fit: BodyFit) -> list:
    """(points, half-widths) of both arms, shoulder → wrist (ARM_PROFILE, FOREARM_PROFILE) → fingertips
    (the hand: the wrist's width; a visible hand is in front anyway)."""
    return [limb_profile(poly, [fit.arm_half[s]] * 2, [ARM_PROFILE, FOREARM_PROFILE])
            for s, poly in fit.arms.items()]


def below_ankles(legs: LegFit, hw: tuple[int, int]) -> np.ndarray:
    """Pixels past the nearer ankle along its shin (knee → ankle): where a foot or a shoe is."""
    h, w = hw
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    past, nearest = np.zeros(hw, bool), np.full(hw, np.inf, np.float32)
    for line in legs.lines.values():
        knee, ankle = np.asarray(line[1], np.float32), np.asarray(line[2], np.float32)
        shin = ankle - knee
        u = shin / max(float(np.hypot(*shin)), 1e-6)
        dist = np.hypot(xx - ankle[0], yy - ankle[1])
        closer = dist < nearest
        past[closer] = ((xx - ankle[0]) * u[0] + (yy - ankle[1]) * u[1])[closer] >= 0
        nearest = np.minimum(nearest, dist)
    return past


def leg_capsules(legs: LegFit, hw: tuple[int, int], scale: float = 1.0, tapered: bool = True) -> np.ndarray:
    """Bool mask of both legs (hip → heel; half-widths × `scale`), as leg_limbs draws them."""
    return limbs_alpha(leg_limbs(legs, tapered), hw, scale)[0] > 0.5


def build_layers_below(person: Person, category: str, hw: tuple[int, int]) -> PersonLayers:
    """Layers for a lower garment or a dress: the category's old clothes removed (skin where the
    legs or the torso are, background beyond them); what is in front of such a garment."""
    h, w = hw
    crop = work_crop(person, hw)
    labels = parse_at(person.parse, hw)
    silhouette = _silhouette(person, labels, hw)
    fit = body_fit(person, labels, silhouette, hw)
    legs = leg_fit(person, labels, silhouette, fit)
    feather = max(0.5, h / 512)
    rim = max(1, int(round(RIM * h)))
    xx = np.arange(w, dtype=np.float32)[None, :]
    yy = np.arange(h, dtype=np.float32)[:, None]
    depth = ((xx - fit.neck[0]) * fit.down[0] + (yy - fit.neck[1]) * fit.down[1]) / fit.tl

    head = np.isin(labels, HEAD_LABELS)
    skin_labels = np.isin(labels, SKIN + LEGS) & ~np.isin(labels, (Lip.FACE,))
    clothed_arm = _clothed_arm(crop, labels, cv2.erode((labels == Lip.FACE).astype(np.uint8),
                                                       np.ones((5, 5), np.uint8)) > 0)
    reference = cv2.erode((skin_labels & ~clothed_arm).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    # the limbs the garment may uncover, anti-aliased (leg_alpha: 0-1) and where across them a
    # pixel is (u: for their roundness)
    limbs = leg_limbs(legs) + (arm_limbs(fit) if category == "dress" else [])
    limb_alpha, limb_u = limbs_alpha(limbs, hw)
    leg_alpha = limbs_alpha(limbs[:2], hw)[0] if category == "dress" else limb_alpha
    capsules_arms = arm_capsules(fit)
    # where such a garment can be: its depths (not above them: the zone's widening would reach
    # the face), across the body, along the arms and the legs; never on the head
    zone = (_garment_zone(fit, category) & (depth >= GARMENT_ZONE[category][0])) | leg_capsules(legs, hw, scale=2.0, tapered=False)
    zone &= ~head
    old_labels = np.isin(labels, CATEGORY_REPLACES[category]) & zone
    if category == "lower":
        # a dress's skirt goes, its top stays: only below the waistband; a top's hem stays over
        # the waistband, but what the parse calls a top below LONG_TOP is a dress's skirt (a
        # one-colour dress reads as one upper garment)
        old_labels &= ~((labels == Lip.DRESS) & (depth < WAISTBAND))
        old_labels |= np.isin(labels, OLD_GARMENT) & (depth > LONG_TOP) & zone
        old = old_labels
    else:
        old = (old_labels | clothed_arm) & zone
    removed = cv2.dilate(old.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * rim + 1,) * 2)) > 0
    removed &= ~head & (cv2.dilate(silhouette.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0)
    top = np.isin(labels, OLD_GARMENT) & ~old
    shoes = np.isin(labels, SHOES)
    removed &= ~top & ~shoes   # the rim does not eat into what stays (the top, the shoes)

    # where a body is under the clothes: the legs, the hips (and for a dress the torso and arms)
    hips = torso_region(fit, WAISTBAND - 0.15, 1.0)     # down to the hip joints; below them the legs
    body = hips | skin_labels
    if category == "dress":
        body |= torso_region(fit)
    # how much of a pixel is body: 1 on the hips (the torso, for a dress) and visible skin, the
    # limbs' anti-aliased alpha beyond them; none off the silhouette or on the head
    body_w = np.maximum(body.astype(np.float32), limb_alpha) * _soft(silhouette, feather) * ~head
    under = body_w > 0.5
    region = removed & (body_w > 0)
    bg_region = removed & (body_w < 1)

    light, folds, read_weight, readable = fill.shading_fields(crop, old_labels & ~clothed_arm, under, fit.tl)
    shape = body_shape(fit)
    # invented limbs are round: darker towards their sides (the torso keeps body_shape's)
    limb_shape = np.log(1 - LIMB_SHADE * (1 - np.sqrt(1 - limb_u ** 2))).astype(np.float32)
    skin_shape = np.where((limb_alpha > 0) & ~body, limb_shape, shape)
    skin = fill.skin_fill(crop, region, reference, light + skin_shape, fit.tl, fallback=_face_colour(crop, labels))
    background = fill.background_fill(crop, bg_region, known=~silhouette & ~removed)
    wgt = np.where(removed, body_w, 0)[..., None]
    painted = skin * wgt + background * (1 - wgt)
    synthesised = region | bg_region
    spread_out, _ = fill.masked_blur(painted, synthesised, max(1.0, 2 * feather))
    painted = np.where(synthesised[..., None], painted, spread_out)
    a = np.maximum(_soft(synthesised, feather), synthesised.astype(np.float32))[..., None]
    base = crop * (1 - a) + painted * a
    shading = np.exp(light + folds + (1 - read_weight) * shape).astype(np.float32)

    hands = hands_mask(person, labels, fit)
    neck = (labels == NECK) & ~clothed_arm
    # shoes (and the feet the parse calls shoes) in front of a long hem, below the ankles only: a
    # long garment covers what is above them (a boot's shaft, or the old trousers' cuff that
    # the parse takes for part of the shoe)
    shoes_front = shoes & below_ankles(legs, hw)
    in_front = [_soft(head, feather), _soft(hands, feather), _soft(neck, feather), _soft(shoes_front, feather)]
    arm_px = (np.isin(labels, ARMS) & ~clothed_arm) | (capsules_arms & old & silhouette)
    if category == "lower":
        # the top's hem over the waistband, its sleeves and the arms over the trousers
        in_front.append(_soft(top | clothed_arm, feather))
        arms_front = _soft(arm_px, feather)
    else:
        fade = np.clip((depth - ARM_FRONT_FROM[0]) / (ARM_FRONT_FROM[1] - ARM_FRONT_FROM[0]), 0, 1)
        arms_front = _soft(arm_px, feather) * fade
    front = np.maximum.reduce(in_front)

    residue = _residue_candidates(crop, labels, old_labels, removed, fit)
    body_area = float(under.sum())
    # QA: the legs below where they part (not the feet in shoes) and which of them are invented
    legs_below = (leg_alpha > 0.5) & (depth * fit.tl > legs.crotch) & ~shoes
    legs_invented = legs_below & removed
    snap = None
    if category == "dress":
        snap = (old_labels & torso_region(fit) & ~capsules_arms).astype(np.uint8) * 255
    return PersonLayers(category=category, hw=hw, fit=fit, base=np.clip(base, 0, 1).astype(np.float32),
                        snap_zone=snap, snap_arms=None, shading=shading, front=front.astype(np.float32),
                        arms_front=arms_front.astype(np.float32), neck=_soft(neck, feather).astype(np.float32),
                        silhouette=silhouette, synthesised=synthesised, old_region=removed,
                        residue_candidates=residue, body_area=max(1.0, body_area), readable=readable, legs=legs,
                        zone=zone, legs_invented=legs_invented, legs_area=float(legs_below.sum()))


def _face_colour(crop: np.ndarray, labels: np.ndarray) -> np.ndarray | None:
    face = cv2.erode((labels == Lip.FACE).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    return np.median(crop[face], axis=0).astype(np.float32) if face.sum() > 20 else None


def _residue_candidates(crop, labels, old_labels, removed, fit) -> np.ndarray:
    """Pixels near the removed old garment, not removed, whose colour is one of the old
    garment's main colours and not the skin's: what a new garment must cover or the old one
    shows (a sleeve the parse called an arm, a collar called neck)."""
    if old_labels.sum() < 100:
        return np.zeros_like(old_labels)
    lab = cv2.cvtColor(crop, cv2.COLOR_RGB2LAB)
    samples = lab[old_labels]
    if len(samples) > 5000:
        samples = samples[np.random.default_rng(0).choice(len(samples), 5000, replace=False)]
    cv2.setRNGSeed(0)
    _, lab_labels, centres = cv2.kmeans(samples.astype(np.float32), 3, None,
                                        (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 10, 1.0), 1,
                                        cv2.KMEANS_PP_CENTERS)
    counts = np.bincount(lab_labels.ravel(), minlength=3)
    centres = centres[counts > 0.15 * len(samples)]
    near = dilate_wide(removed, int(0.3 * fit.ds))
    candidates = near & ~removed & np.isin(labels, (Lip.BACKGROUND, NECK, Lip.SKIN) + ARMS)
    if not candidates.any():
        return candidates
    dist = np.min(np.linalg.norm(lab[candidates][:, None] - centres[None], axis=2), axis=1)
    skin = np.isin(labels, SKIN) & ~old_labels
    skin_lab = np.median(lab[skin], axis=0) if skin.sum() > 20 else None
    close = dist < RESIDUE_DELTA_E
    if skin_lab is not None:
        close &= np.linalg.norm(lab[candidates] - skin_lab, axis=1) > RESIDUE_DELTA_E
    out = np.zeros_like(candidates)
    out[candidates] = close
    # the background right next to a garment of the background's own colour is no residue
    bg = labels == Lip.BACKGROUND
    if bg.any():
        far_bg = cv2.erode((~near).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        bg_ref = far_bg & bg
        if bg_ref.sum() > 100:
            bg_lab = np.median(lab[bg_ref], axis=0)
            out &= ~(bg & (np.linalg.norm(lab - bg_lab, axis=2) < 2 * RESIDUE_DELTA_E))
    return out


LAYERS = ContentCache(8)


def person_layers(person: Person, category: str, hw: tuple[int, int]) -> PersonLayers:
    """The person's layers for `category` at working size `hw`, cached by the person's content
    (and on the Person object itself: the warp and the render stage of a pair both ask)."""
    memo = person.__dict__.setdefault("_layers", {})
    if (category, hw) in memo:
        return memo[(category, hw)]
    extras = [person.extras[k] for k in sorted(person.extras)]
    landmarks = [] if person.landmarks is None else [person.landmarks]
    key = (person.crop, person.parse, person.keypoints, np.frombuffer(f"{category}{hw}".encode(), np.uint8),
           *extras, *landmarks)
    layers = LAYERS.get_or_compute(key, lambda: build_layers(person, category, hw))
    memo[(category, hw)] = layers
    return layers
