"""Warp stage of the geometric chain: garment landmarks → thin-plate splines onto the body's keypoints.

Replaces the seed chain's GMM (learned TPS) with geometry. The garment is split into its body
and its sleeves (models.geometric.garment); each part gets its own TPS (models.tps.fit_tps)
from matched points, so a sleeve can swing with its arm without dragging the torso along:

    body    shoulders → outer shoulders; neck corners/centre, armpits, an under-arm point,
            waist and hem corners → the garment's own heights, scaled by its shoulder width
            (partly adapted to the person's torso proportion); widths from a keypoint body
            model (models.body), or from the person's parse where it shows the torso, never
            narrower than the body and at most a little looser.
    sleeve  shoulder and armpit (shared with the body, so the seam stays closed), then edge
            and centre points at stations along the arm (shoulder → elbow → wrist keypoints)
            for the sleeve's own scaled length: a short sleeve ends on the upper arm, a long
            one bends at the elbow (and bunches up at the wrist if longer than the arm); width:
            the flat sleeve's, wrapped round the arm, its
            outer side at least as far out as the arm in the parse. The garment side of each
            station is the sleeve mask's real outline (not the straight shoulder→cuff chord).

The splines are backward maps (person pixel → garment pixel) sampled on a coarse grid and
resized, then cv2.remap reads the ORIGINAL garment image, so prints stay as sharp as the
garment photo allows at the working resolution (the crop's size, capped at 1024 rows).
"""
from __future__ import annotations

import cv2
import numpy as np

from models.body import ARM_HALF_WIDTH, BodyFrame, body_frame, parse_at
from models.contract import Person, WarpedGarments
from models.geometric.garment import PART_BODY, PART_OF_SIDE, GarmentLandmarks, analysed_garment
from models.labels import IN_FRONT
from models.masks import mask_window
from models.tps import fit_tps, tps_dense_grid
from models.weights import DeclaresWeights

MAX_WORK_HEIGHT = 1024
MAX_GARMENT_HEIGHT = 2048  # garment photos are read at up to 2× the working height
EDGE_ERODE = 0.006  # of the garment photo's height: its edge pixels carry background colour
SEAM_OVERLAP = 0.03  # of the garment photo's width: how far a part overlaps its neighbour
GRID_ROWS = 128  # the spline is smooth: evaluate it on a grid of ~128 rows and resize the map

# Garment placement, in the body frame's units (models.body: ds across, tl down).
SHOULDER_OUT, SHOULDER_UP = 1.2, 0.10   # outer shoulder seam: 1.2 ds out, 0.1 tl above the joint (GT tops: 0.08-0.22)
# A flat in-shop garment is wider than its frontal silhouette once worn (it wraps round the
# body): on the paired cases its shoulder points span 2 × 0.96 ds at the scale that gives the
# right length. Scale (and hence every height) uses this; widths follow the body model.
FLAT_SHOULDER_HALF = 0.96
UNDERARM = 0.3            # an extra side point this far from the armpit towards the waist
TYPICAL_TORSO_RATIO = 3.1  # median neck→mid-hip / half shoulder width (tl/ds) of the dataset's GT poses
# A worn sleeve is a tube: its frontal width is 2/π of the flat sleeve's (half its girth),
# clamped to models.body.ARM_HALF_WIDTH.
SLEEVE_WRAP = 2 / np.pi
MAX_LOOSENESS = 1.15                     # a loose garment keeps at most 15 % of extra width


# --- correspondences --------------------------------------------------------------------------
def _along_polyline(poly: np.ndarray, distance: float) -> tuple[np.ndarray, np.ndarray]:
    """Point at arc length `distance` along a polyline (extrapolating the last segment a
    little past its end) and the unit direction there."""
    last = len(poly) - 2
    for i, (a, b) in enumerate(zip(poly[:-1], poly[1:])):
        seg = float(np.linalg.norm(b - a))
        if seg < 1e-6:
            continue
        direction = (b - a) / seg
        # (the last segment was once tested with `b is poly[-1]`, never true for numpy row
        # views: every station past the wrist fell on the wrist itself, pointing straight down)
        if distance <= seg or i == last:
            return a + direction * min(distance, 1.1 * seg), direction
        distance -= seg
    return poly[-1], np.array([0.0, 1.0])


def correspondences(marks: GarmentLandmarks, body: BodyFrame) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per garment part: (person points, garment points) for the part's backward spline."""
    g_sh_l, g_sh_r = marks.shoulder_left, marks.shoulder_right
    b_sh = {"left": body.point(-SHOULDER_OUT, -SHOULDER_UP), "right": body.point(SHOULDER_OUT, -SHOULDER_UP)}

    # Similarity garment → body fixed by the shoulders: sets the garment's scale and heights.
    g_vec = g_sh_r - g_sh_l
    b_vec = b_sh["right"] - b_sh["left"]
    scale = float(2 * FLAT_SHOULDER_HALF * body.ds / max(1e-6, np.linalg.norm(g_vec)))
    g_angle = np.arctan2(g_vec[1], g_vec[0])
    b_angle = np.arctan2(b_vec[1], b_vec[0])
    rot = b_angle - g_angle
    c, s = np.cos(rot), np.sin(rot)
    g_mid, b_mid = (g_sh_l + g_sh_r) / 2, (b_sh["left"] + b_sh["right"]) / 2

    # Lengths follow the shoulders too, but partly adapt to the person's torso proportion:
    # apparent neck→hip length per shoulder width varies 2.3-3.9 on the dataset (build,
    # camera height), and a top ends at the same place on the body, not at a fixed multiple
    # of the shoulder width.
    stretch = float(np.sqrt(body.tl / body.ds / TYPICAL_TORSO_RATIO))

    def similar(p: np.ndarray) -> np.ndarray:
        q = (p - g_mid) * scale
        q = np.array([c * q[0] - s * q[1], s * q[0] + c * q[1]])
        along_down = q @ body.down
        return b_mid + q + (stretch - 1) * along_down * body.down

    def depth(p: np.ndarray) -> float:
        """How far down the torso (fraction of neck→mid-hip) a garment point lands."""
        return float((similar(p) - body.neck) @ body.down / body.tl)

    def side_point(g_left: np.ndarray, g_right: np.ndarray, f_min: float = -1.0, f_max: float = 9.0,
                   use_parse: bool = True):
        """Body targets for a pair of garment side points: their scaled height, the torso's
        width there (the garment's own width if it is looser, up to MAX_LOOSENESS)."""
        f = float(np.clip((depth(g_left) + depth(g_right)) / 2, f_min, f_max))
        garment_half = scale * float(np.linalg.norm(g_right - g_left)) / 2 / body.ds
        halves = []
        widths = body.side_half_widths(f) if use_parse else (body.half_width(f),) * 2
        for body_half in widths:
            halves.append(body_half * float(np.clip(garment_half / body_half, 1.0, MAX_LOOSENESS)))
        return body.point(-halves[0], f), body.point(halves[1], f)

    # armpits from the model: the parse there often runs on into an arm hugging the body, and
    # the sleeve's root must stay on the arm
    arm_l, arm_r = side_point(marks.armpit_left, marks.armpit_right, 0.15, 0.45, use_parse=False)
    waist_l, waist_r = side_point(marks.waist_left, marks.waist_right)
    # just below the armpits the body (and an arm resting on it) is as wide as the parse says:
    # the sleeves are drawn over this, so the torso may run under them
    under = {side: getattr(marks, f"armpit_{side}") + UNDERARM * (getattr(marks, f"waist_{side}")
                                                                 - getattr(marks, f"armpit_{side}"))
             for side in ("left", "right")}
    arm_f = float((arm_l - body.neck) @ body.down / body.tl)
    under_l, under_r = side_point(under["left"], under["right"], f_min=arm_f + 0.03)
    hem_l, hem_r = side_point(marks.hem_left, marks.hem_right)
    b_armpit = {"left": arm_l, "right": arm_r}
    g_armpit = {"left": marks.armpit_left, "right": marks.armpit_right}
    g_shoulder = {"left": g_sh_l, "right": g_sh_r}

    hem_mid_g = (marks.hem_left + marks.hem_right) / 2
    body_pairs = [
        (similar(marks.neck_left), marks.neck_left), (similar(marks.neck_right), marks.neck_right),
        (similar(marks.neck_centre), marks.neck_centre),
        (b_sh["left"], g_sh_l), (b_sh["right"], g_sh_r),
        (arm_l, marks.armpit_left), (arm_r, marks.armpit_right),
        (under_l, under["left"]), (under_r, under["right"]),
        (waist_l, marks.waist_left), (waist_r, marks.waist_right),
        (hem_l, marks.hem_left), (hem_r, marks.hem_right),
        ((hem_l + hem_r) / 2, hem_mid_g),
    ]
    parts = {PART_BODY: _pairs(body_pairs)}

    for side, sleeve in marks.sleeves.items():
        parts[PART_OF_SIDE[side]] = _sleeve_pairs(
            body, side, scale, sleeve, marks.parts == PART_OF_SIDE[side], g_shoulder[side], g_armpit[side], b_sh[side], b_armpit[side])
    return parts


SLEEVE_STATIONS = (0.25, 0.5, 0.75, 1.0)
CUFF_NUDGE = 0.03   # of the garment photo's size: how far up the sleeve a cuff scan may start


def _arc_position(poly: np.ndarray, point: np.ndarray) -> float:
    """Arc length along `poly` of the polyline point nearest to `point`."""
    best, best_d, travelled = 0.0, np.inf, 0.0
    for a, b in zip(poly[:-1], poly[1:]):
        seg = float(np.linalg.norm(b - a))
        if seg < 1e-6:
            continue
        t = float(np.clip((point - a) @ (b - a) / seg ** 2, 0, 1))
        d = float(np.linalg.norm(a + t * (b - a) - point))
        if d < best_d:
            best, best_d = travelled + t * seg, d
        travelled += seg
    return best


def _sleeve_edges(sleeve_mask: np.ndarray | None, g_outer: np.ndarray, g_inner: np.ndarray, root: np.ndarray):
    """The flat sleeve's real edges on the line through two chord points (shoulder → cuff
    corner, armpit → cuff corner). A sleeve's edges are curved (the shoulder cap bulges out,
    the underarm curves in): matched to the chords, the real edge lands beyond the person's
    arm and the spline, extrapolating, balloons it. Falls back to the chord points where the
    line's midpoint is not on the sleeve."""
    if sleeve_mask is None:
        return g_outer, g_inner
    h, w = sleeve_mask.shape
    mid = (g_outer + g_inner) / 2
    u = g_outer - g_inner
    span = float(np.linalg.norm(u))
    if span < 2:
        return g_outer, g_inner
    u /= span
    # the cuff corners lie on the outline: their midpoint may be just off the sleeve (or on a
    # sliver of it); scan a few pixels up the sleeve (towards `root`) there
    back = root - mid
    back /= max(1e-6, float(np.linalg.norm(back)))
    steps = np.arange(0, int(2 * span) + 2)
    for nudge in range(0, max(3, int(CUFF_NUDGE * max(h, w))) + 1):
        start = mid + nudge * back
        x, y = np.round(start).astype(int)
        if not (0 <= x < w and 0 <= y < h and sleeve_mask[y, x]):
            continue
        found = []
        for sign in (1.0, -1.0):
            pts = np.round(start + sign * steps[:, None] * u).astype(int)
            ok = (pts[:, 0] >= 0) & (pts[:, 0] < w) & (pts[:, 1] >= 0) & (pts[:, 1] < h)
            inside = np.zeros(len(pts), bool)
            inside[ok] = sleeve_mask[pts[ok, 1], pts[ok, 0]]
            last = int(np.argmin(inside)) - 1 if not inside.all() else len(inside) - 1   # last step inside
            found.append(start + sign * max(last, 0) * u)
        if np.linalg.norm(found[0] - found[1]) >= 0.5 * span:
            return found[0], found[1]
    return g_outer, g_inner


def _sleeve_pairs(body: BodyFrame, side: str, scale: float, sleeve, sleeve_mask, g_shoulder, g_armpit,
                  b_shoulder, b_armpit):
    """Matched points along a sleeve. Worn with the arm down, a sleeve's seam runs from the
    shoulder top (outer side of the arm) to the armpit (inner side, lower): so its outer edge
    is laid along the arm's outer side starting at the shoulder, its inner edge along the
    inner side starting at the armpit, each for its own scaled length (a cap sleeve's inner
    edge is short). Edge and centre points at a few stations keep the spline close to a bent
    strip (sparse points let it bulge)."""
    out_sign = -1.0 if side == "left" else 1.0
    arm = body.arms[side]
    start_outer, start_inner = _arc_position(arm, b_shoulder), _arc_position(arm, b_armpit)
    # A sleeve longer than the arm (to the wrist and a little past it, as _along_polyline
    # extrapolates) bunches up there: each edge's stations spread over the arm up to that
    # point, not stacked on it.
    segments = np.linalg.norm(np.diff(arm, axis=0), axis=1)
    reach = float(segments.sum() + 0.1 * segments[-1])
    len_outer = min(scale * float(np.linalg.norm(sleeve.end_outer - g_shoulder)), max(1.0, reach - start_outer))
    len_inner = min(scale * float(np.linalg.norm(sleeve.end_inner - g_armpit)), max(1.0, reach - start_inner))
    g_axis = sleeve.end_centre - (g_shoulder + g_armpit) / 2
    g_normal = np.array([-g_axis[1], g_axis[0]]) / max(1e-6, float(np.linalg.norm(g_axis)))
    pairs = [(b_shoulder, g_shoulder), (b_armpit, g_armpit)]
    for t in SLEEVE_STATIONS:
        g_outer, g_inner = _sleeve_edges(sleeve_mask, (1 - t) * g_shoulder + t * sleeve.end_outer,
                                         (1 - t) * g_armpit + t * sleeve.end_inner, (g_shoulder + g_armpit) / 2)
        # the sleeve's width across its axis (the seam may run obliquely to it)
        half = SLEEVE_WRAP * scale * abs(float((g_outer - g_inner) @ g_normal)) / 2
        half = float(np.clip(half, ARM_HALF_WIDTH[0] * body.ds, ARM_HALF_WIDTH[1] * body.ds))
        ends = []
        for start, length, sign in ((start_outer, len_outer, 1.0), (start_inner, len_inner, -1.0)):
            centre, direction = _along_polyline(arm, start + t * length)
            normal = np.array([-direction[1], direction[0]])
            if normal @ body.across * out_sign < 0:
                normal = -normal  # away from the torso: the arm's outer side
            reach = half
            if sign > 0:
                # the outer edge covers the arm as the parse shows it (a loose sleeve, an arm
                # seen frontally is wider than the flat sleeve wrapped round a thin arm)
                seen = body.arm_outer_half_width(centre, normal)
                reach = float(np.clip(max(half, seen), half, ARM_HALF_WIDTH[1] * body.ds))
            ends.append(centre + sign * normal * reach)
        pairs += [(ends[0], g_outer), (ends[1], g_inner), ((ends[0] + ends[1]) / 2, (g_outer + g_inner) / 2)]
    return _pairs(pairs)


def _pairs(pairs) -> tuple[np.ndarray, np.ndarray]:
    return np.array([p for p, _ in pairs], np.float64), np.array([g for _, g in pairs], np.float64)


# --- the stage ----------------------------------------------------------------------------------
def work_size(crop_h: int, crop_w: int) -> tuple[int, int]:
    """Working resolution: the crop's own size, capped at MAX_WORK_HEIGHT rows."""
    if crop_h <= MAX_WORK_HEIGHT:
        return crop_h, crop_w
    return MAX_WORK_HEIGHT, int(round(crop_w * MAX_WORK_HEIGHT / crop_h))


def backward_grid(person_xy: np.ndarray, garment_xy: np.ndarray, out_h: int, out_w: int) -> tuple[np.ndarray, np.ndarray]:
    """cv2.remap maps (x, y) of the spline person→garment, evaluated on a coarse grid
    at the coarse cells' centres so that cv2.resize lands each sample back on its pixel."""
    # coincident control points make the system singular: keep the first of each
    keep = [i for i in range(len(person_xy))
            if all(np.linalg.norm(person_xy[i] - person_xy[j]) > 0.5 for j in range(i))]
    tps = fit_tps(person_xy[keep], garment_xy[keep])
    step = max(2, out_h // GRID_ROWS)
    gh, gw = -(-out_h // step), -(-out_w // step)
    xs = (np.arange(gw) + 0.5) * out_w / gw - 0.5
    ys = (np.arange(gh) + 0.5) * out_h / gh - 0.5
    coarse = tps_dense_grid(tps, gh, gw, xs=xs, ys=ys)
    dense = cv2.resize(coarse, (out_w, out_h), interpolation=cv2.INTER_LINEAR)
    return dense[..., 0], dense[..., 1]


def _capsule(shape: tuple[int, int], poly: np.ndarray, radius: float) -> np.ndarray:
    """Pixels within `radius` of a polyline: where a sleeve may land (a spline extrapolates
    wildly far from its points; this keeps ghosts of the sleeve off the rest of the image)."""
    canvas = np.zeros(shape, np.uint8)
    pts = np.round(poly).astype(np.int32)
    cv2.polylines(canvas, [pts], False, 255, thickness=max(1, int(2 * radius)))
    for p in pts:
        cv2.circle(canvas, tuple(int(v) for v in p), int(radius), 255, -1)
    return canvas > 0


def warp_garment(garment_bgr: np.ndarray, marks: GarmentLandmarks, body: BodyFrame,
                 out_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """One garment onto one body: (RGB float32 [0,1] (h,w,3), alpha float32 [0,1] (h,w))."""
    out_h, out_w = out_hw
    rgb = cv2.cvtColor(garment_bgr, cv2.COLOR_BGR2RGB).astype(np.float32) / 255
    image = np.zeros((out_h, out_w, 3), np.float32)
    alpha = np.zeros((out_h, out_w), np.float32)
    e = max(1, int(round(EDGE_ERODE * garment_bgr.shape[0])))
    edge_kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * e + 1, 2 * e + 1))
    garment = (marks.parts > 0).astype(np.uint8)
    m = max(1, int(round(SEAM_OVERLAP * garment_bgr.shape[1])))
    seam_kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * m + 1, 2 * m + 1))
    # The body first, sleeves over it: arms are in front of the torso where they overlap.
    for part, (person_xy, garment_xy) in sorted(correspondences(marks, body).items()):
        # Erode a little: a photo's garment edge pixels are blended with the light background
        # and would draw a pale halo round the warped garment.
        # Each part reaches a little over its seams into its neighbours (the two splines agree
        # only at the shared points, so they would leave slits between body and sleeve).
        part_mask = cv2.dilate((marks.parts == part).astype(np.uint8), seam_kernel) & garment
        part_mask = cv2.erode(part_mask, edge_kernel).astype(np.float32)
        map_x, map_y = backward_grid(person_xy, garment_xy, out_h, out_w)
        window = np.s_[:, :]
        capsule = None
        if part != PART_BODY:
            side = "left" if part == PART_OF_SIDE["left"] else "right"
            capsule = _capsule((out_h, out_w), body.arms[side], 1.1 * body.ds)
            # A sleeve lands only inside its capsule: remap and blend that window, not the
            # whole image (same result: outside it the sleeve's alpha is 0).
            window = mask_window(capsule)
            if window is None:
                continue
        mx, my = map_x[window], map_y[window]
        warped = cv2.remap(rgb, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        a = cv2.remap(part_mask, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        if capsule is not None:
            a *= capsule[window]
        image[window] = image[window] * (1 - a[..., None]) + warped * a[..., None]
        alpha[window] = alpha[window] + a * (1 - alpha[window])
    # colour under a partial alpha is premultiplied above; un-premultiply for the compositor
    image = np.where(alpha[..., None] > 1e-4, image / np.maximum(alpha[..., None], 1e-4), 0)
    return np.clip(image, 0, 1).astype(np.float32), np.clip(alpha, 0, 1).astype(np.float32)


class LandmarkWarp(DeclaresWeights):
    """Warp stage of the geometric chain (no weights: pure geometry)."""

    chain = "geometric"
    info = {"impl": "landmark_warp", "weights": {}}

    @classmethod
    def load(cls) -> "LandmarkWarp":
        return cls()

    def warp(self, person: Person, garments_bgr: list[np.ndarray],
             garment_masks: list[np.ndarray | None] | None = None,
             names: list[str] | None = None) -> WarpedGarments:
        x0, y0, x1, y1 = person.crop_box
        out_hw = work_size(y1 - y0, x1 - x0)
        body = body_frame(person.keypoints, out_hw)
        if person.parse is not None and person.parse.size:
            body.labels = parse_at(person.parse, out_hw)
        masks = garment_masks or [None] * len(garments_bgr)
        names = names or [f"garment {i}" for i in range(len(garments_bgr))]
        images, alphas = [], []
        # The garment's visible footprint stops at the person's head, hair and neck (the
        # compositor keeps them in front; an in-shop photo's back collar would cover the neck)
        in_front = None
        if body.labels is not None:
            in_front = np.isin(body.labels, IN_FRONT)
        for garment, given, name in zip(garments_bgr, masks, names):
            if garment.shape[0] > MAX_GARMENT_HEIGHT:
                # more rows than the warp can use cost time and memory, nothing else
                f = MAX_GARMENT_HEIGHT / garment.shape[0]
                garment = cv2.resize(garment, (max(1, round(garment.shape[1] * f)), MAX_GARMENT_HEIGHT),
                                     interpolation=cv2.INTER_AREA)
            _, marks = analysed_garment(garment, given, name)
            image, alpha = warp_garment(garment, marks, body, out_hw)
            if in_front is not None:
                alpha = np.where(in_front, 0, alpha).astype(np.float32)
            images.append(image)
            alphas.append(alpha)
        return WarpedGarments(images=np.stack(images), masks=np.stack(alphas))
