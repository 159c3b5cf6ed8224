"""Warp stage of the geometric chain: the garment laid onto the body by strip warps.

Replaces the seed chain's GMM with geometry (models.geometric.garment gives the garment's
profile and sleeves, models.geometric.layers the body's). Two maps, both backward (person
pixel → garment pixel), both monotone, so nothing folds or flies off whatever the garment:

    body    row by row: a person pixel's depth down the torso picks the garment row (the
            garment's own length: its scale is set by its shoulders, or by its chest when it has
            no sleeves, the vertical a little adapted to the person's torso proportion);
            its distance across from the chest's centre line, relative to the target
            half-width at that depth, picks the garment column relative to the garment's
            half-width at that row. Targets: the garment's own frontal width (flat width ×
            FLAT_TO_FRONT) kept between the body's silhouette width (never narrower) and
            MAX_LOOSENESS times it; above the armpits the armhole line runs to the shoulder
            seams.
    sleeve  along the arm: a person pixel's arc length along the arm (shoulder → elbow → wrist
            → fingertips, corners rounded) and its offset from it give the distance along the
            sleeve's axis from its seam and the offset across it (relative to the target
            half-width: the arm's, or the sleeve's own wrapped width if looser). The seam runs
            from the shoulder seam (outer side) to the armpit (inner side); a sleeve longer
            than the arm is gathered up to the wrist.

Each map is evaluated on a coarse grid over its part's window and resized, then cv2.remap
reads the garment photo (colour with the background taken out of its edge pixels, and its
soft alpha) at its own resolution, so prints stay as sharp as the photo allows.

Per garment it also measures (WarpedGarments.measures, judged in models/qa.py):
matte_confidence, landmark_confidence, fit_strain, person_turn.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from models.contract import Person, WarpedGarments
from models.geometric.garment import (PART_BACK, PART_BODY, PART_OF_SIDE, GarmentAnalysis, GarmentLandmarks,
                                      Sleeve, analysed_garment)
from models.geometric.layers import BodyFit, person_layers
from models.geometric.lower import analysed_lower, warp_lower
from models.geometric.part_warp import FLAT_TO_FRONT, MAX_LOOSENESS, MAX_MAGNIFICATION, WarpedPart, grid_maps
from models.weights import DeclaresWeights

MAX_WORK_HEIGHT = 1024
MAX_GARMENT_HEIGHT = 2048  # garment photos are read at up to 2× the working height
SEAM_OVERLAP = 0.012  # of the garment photo's width: how far a part overlaps its neighbour
GRID_STEP = 128       # the body's map is smooth: evaluated every h/GRID_STEP px and resized
SLEEVE_GRID_STEP = 160  # a sleeve's map bends more (elbow): a finer grid

# Garment placement, in the body frame's units (ds: half the shoulder span, tl: neck → hips).
SHOULDER_UP = 0.15        # the shoulder seam line above the shoulder joints (tl): the middle of what the GT tops show (0.08-0.22)
# A flat in-shop garment's shoulder span (seam to seam) is about the person's shoulder-joint
# span (measured on the paired cases: 2 × 0.96 ds); worn, the seams sit on the shoulders'
# outer edge, 1.2 ds out.
FLAT_SHOULDER_HALF = 0.96
SHOULDER_OUT = 1.2
# A sleeve (a tube round the arm) shows 2/π of its flat width (FLAT_TO_FRONT: part_warp.py).
SLEEVE_WRAP = 2 / np.pi
SHOULDER_DROP_RANGE = (0.08, 0.15)  # tl: how far the garment's shoulders may rise / drop to the person's
MAX_SLEEVE_LOOSENESS = 3.0
SNAP_REACH = 0.2          # true half-spans: how far a garment's sides reach out to the old garment's
SLEEVE_SNAP = True        # a sleeve's edges too, over the old garment's sleeves
SLEEVE_SNAP_REACH = 0.1
SLEEVE_EDGE_FADE = (1.5, 1.8)   # |offset / target half-width|: a sleeve fades out between these
TYPICAL_TORSO_RATIO = 3.1  # median neck→mid-hip / half shoulder width (tl/ds) of the dataset's GT poses
STRETCH_RANGE = (0.85, 1.2)
STRAPS_AT_SHOULDERS = 0.75  # a sleeveless garment whose shoulder span is this much of its chest has its armholes at the shoulders
CHEST_DEPTH = 0.3          # tl below the shoulders: where a sleeveless garment's scale is taken
ARMPIT_DEPTH = 0.28        # tl below the shoulders: the armpits (where a sleeveless garment's armholes end)
ARM_TAPER = (1.0, 0.85, 0.72, 0.72)   # arm half-width at shoulder, elbow, wrist, fingertips (× the measured)
GATHER_PAST_WRIST = 0.15   # a long sleeve may reach this far past the wrist (of the forearm) before it gathers
SKIRT_FREE = 0.3           # tl: below the hips a dress's skirt goes from the body's width to its own over this


@dataclass
class Placement:
    """One garment on one body: its scales, and which person depth each garment row lands at
    (piecewise linear through `knots_y` → `knots_d`, the slope k_v beyond them)."""

    k: float          # garment px → person px (true size: lengths)
    k_v: float        # vertical: k with the torso-proportion stretch
    k_app: float      # horizontal, apparent (foreshortened by the person's turn)
    knots_y: np.ndarray
    knots_d: np.ndarray

    @property
    def d_shoulder(self) -> float:
        return float(self.knots_d[0])

    def depth(self, y):
        """Person depth (px down from the shoulder joints' centre) of garment row(s) y."""
        y = np.asarray(y, np.float64)
        ky, kd = self.knots_y, self.knots_d
        inside = np.interp(y, ky, kd)
        return np.where(y < ky[0], kd[0] + (y - ky[0]) * self.k_v,
                        np.where(y > ky[-1], kd[-1] + (y - ky[-1]) * self.k_v, inside))

    def row(self, d):
        d = np.asarray(d, np.float64)
        ky, kd = self.knots_y, self.knots_d
        inside = np.interp(d, kd, ky)
        return np.where(d < kd[0], ky[0] + (d - kd[0]) / self.k_v,
                        np.where(d > kd[-1], ky[-1] + (d - kd[-1]) / self.k_v, inside))


def placement(marks: GarmentLandmarks, fit: BodyFit) -> Placement:
    """Sleeved: scale from the shoulders, the shoulder seams on the person's shoulder line.
    Sleeveless: scale from the chest, the armholes' bottom at the person's armpit depth and
    the straps (whatever their length in the photo) from there up to the shoulder line."""
    span = max(1.0, float(marks.shoulder_right[0] - marks.shoulder_left[0]))
    k_shoulder = 2 * FLAT_SHOULDER_HALF * fit.ds_true / span
    stretch = float(np.clip(np.sqrt(fit.tl / fit.ds_true / TYPICAL_TORSO_RATIO), *STRETCH_RANGE))
    d_shoulder = -SHOULDER_UP * fit.tl
    if marks.sleeves:
        k = k_shoulder
        knots_y, knots_d = np.array([marks.shoulder_y]), np.array([d_shoulder])
    else:
        # sleeveless: the chest sets the size (straps may sit anywhere on the shoulders)
        y_arm = (marks.armpit_left[1] + marks.armpit_right[1]) / 2
        chest_y = y_arm + 0.1 * marks.body_length
        gl, gr = marks.half_widths(chest_y)
        d = CHEST_DEPTH * fit.tl
        body = float(fit.half("left", d) + fit.half("right", d))
        k_chest = body / max(1.0, FLAT_TO_FRONT * float(gl + gr))
        k = k_chest if span < STRAPS_AT_SHOULDERS * float(gl + gr) else float(np.sqrt(k_chest * k_shoulder))
        d_arm = max(ARMPIT_DEPTH * fit.tl, d_shoulder + 0.5 * (y_arm - marks.shoulder_y) * k * stretch)
        knots_y = np.array([marks.shoulder_y, y_arm]) if y_arm > marks.shoulder_y + 1 else np.array([marks.shoulder_y])
        knots_d = np.array([d_shoulder, d_arm])[:len(knots_y)]
    return Placement(k=k, k_v=k * stretch, k_app=k * fit.ds / fit.ds_true, knots_y=knots_y, knots_d=knots_d)


# --- the body's map ---------------------------------------------------------------------------
def shoulder_spread(marks: GarmentLandmarks) -> float:
    """How much wider than scaled a garment's shoulder points sit on the person: a sleeve's
    seam lies on the shoulder's outer edge (SHOULDER_OUT / FLAT_SHOULDER_HALF); a strap
    lies where the flat garment has it."""
    return SHOULDER_OUT / FLAT_SHOULDER_HALF if marks.sleeves else 1.0


def _body_targets(marks: GarmentLandmarks, fit: BodyFit, place: Placement, side: str, y: np.ndarray,
                  d: np.ndarray, skirt_from: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(target half-width on the person, garment half-width) for garment rows y at person depths d.
    `skirt_from` (a dress: the hips' depth, px): below it the garment's skirt hangs as cut (its
    own frontal width), reached over SKIRT_FREE torso lengths."""
    gl, gr = marks.half_widths(y)
    g = gl if side == "left" else gr
    shoulder = marks.shoulder_left if side == "left" else marks.shoulder_right
    armpit = marks.armpit_left if side == "left" else marks.armpit_right
    g_sh = max(1.0, abs(shoulder[0] - marks.axis_x))
    t_sh = shoulder_spread(marks) * place.k_app * g_sh
    y_arm = float(armpit[1])
    g_arm = float(marks.half_widths(y_arm)[0 if side == "left" else 1])
    b_arm = float(fit.half(side, place.depth(y_arm)))
    t_arm = float(np.clip(place.k_app * FLAT_TO_FRONT * g_arm, b_arm, MAX_LOOSENESS * b_arm))
    b = fit.half(side, d)
    lower = np.clip(place.k_app * FLAT_TO_FRONT * g, b, MAX_LOOSENESS * b)
    t = np.clip((y - shoulder[1]) / max(1.0, y_arm - shoulder[1]), 0, 1)
    upper = np.where(y <= shoulder[1], t_sh * g / g_sh, t_sh + t * (t_arm - t_sh))
    # below the hem's corner the garment keeps its own shape (a rounded or slanted hem)
    hem = marks.hem_left if side == "left" else marks.hem_right
    g_hem = float(marks.half_widths(hem[1])[0 if side == "left" else 1])
    b_hem = float(fit.half(side, place.depth(hem[1])))
    t_hem = float(np.clip(place.k_app * FLAT_TO_FRONT * g_hem, b_hem, MAX_LOOSENESS * b_hem))
    lower = np.where(y > hem[1], t_hem * g / max(1.0, g_hem), lower)
    if skirt_from is not None:
        free = np.clip((d - skirt_from) / (SKIRT_FREE * fit.tl), 0, 1)
        lower = (1 - free) * lower + free * place.k_app * FLAT_TO_FRONT * g
    return np.where(y < y_arm, upper, lower), g


def shoulder_drop(marks: GarmentLandmarks, fit: BodyFit, place: Placement):
    """(across offsets from the chest's centre line, depth offsets): how much lower the
    person's shoulders' top outline lies than the garment's top outline as placed, from the
    collar corners out to the shoulder seams (0 at the collar, the seam's value beyond).
    The garment's shoulders then follow the person's (sloping or square)."""
    lim = (-SHOULDER_DROP_RANGE[0] * fit.tl, SHOULDER_DROP_RANGE[1] * fit.tl)
    a_all, d_all = [], []
    for side, sign in (("left", -1.0), ("right", 1.0)):
        shoulder = marks.shoulder_left if side == "left" else marks.shoulder_right
        neck = marks.neck_left if side == "left" else marks.neck_right
        g_sh = max(1.0, abs(shoulder[0] - marks.axis_x))
        t_sh = shoulder_spread(marks) * place.k_app * g_sh
        a_neck = abs(neck[0] - marks.axis_x) * t_sh / g_sh
        a = np.linspace(a_neck, t_sh, 12)
        x = marks.axis_x + sign * a * g_sh / t_sh
        garment_top = place.depth(marks.top_at(x))
        person_top = fit.shoulder_top(sign * a + fit.shift)
        drop = np.clip(np.nan_to_num(person_top - garment_top, nan=0.0), *lim)
        drop *= np.clip((a - a_neck) / max(1.0, 0.3 * (t_sh - a_neck)), 0, 1)
        drop = np.convolve(np.pad(drop, 2, mode="edge"), np.ones(5) / 5, mode="valid")
        a_all.append(sign * a)
        d_all.append(drop)
    a = np.concatenate([a_all[0][::-1], [0.0], a_all[1]])
    d = np.concatenate([d_all[0][::-1], [0.0], d_all[1]])
    return a, d


def body_map(marks: GarmentLandmarks, fit: BodyFit, place: Placement, xx: np.ndarray, yy: np.ndarray,
             drop=None, skirt_from: float | None = None):
    """Garment (x, y) for person pixels (xx, yy) under the body's strip map."""
    a, d = fit.coords(np.stack([xx, yy], -1))
    a = a - fit.shift
    if drop is not None:
        d_top = place.depth(marks.shoulder_y)
        d_arm = place.depth((marks.armpit_left[1] + marks.armpit_right[1]) / 2)
        fade = np.clip((d_arm - d) / max(1.0, d_arm - d_top), 0, 1)
        d = d - np.interp(a, *drop) * fade
    y = place.row(d)
    xs = {}
    for side in ("left", "right"):
        target, g = _body_targets(marks, fit, place, side, y, d, skirt_from)
        xs[side] = marks.axis_x + a * g / np.maximum(target, 1e-3)
    return np.where(a < 0, xs["left"], xs["right"]), y


def body_strain(marks: GarmentLandmarks, fit: BodyFit, place: Placement, until: float | None = None) -> float:
    """How far the body's widths bent the garment's own: 0 when its frontal width lies
    between the body and MAX_LOOSENESS × the body from armpits to hem (a dress: to the depth
    `until`, its skirt hangs free); else the largest relative squeeze or stretch."""
    hem_y = marks.hem_left[1] * 0.5 + marks.hem_right[1] * 0.5
    if until is not None:
        hem_y = min(hem_y, float(place.row(until)))
    ys = np.linspace(max(marks.armpit_left[1], marks.armpit_right[1]), hem_y, 8)
    d = place.depth(ys)
    worst = 0.0
    for side, g in zip(("left", "right"), marks.half_widths(ys)):
        own = place.k_app * FLAT_TO_FRONT * g
        b = fit.half(side, d)
        worst = max(worst, float(np.max(np.maximum(1 - own / b, own / (MAX_LOOSENESS * b) - 1))))
    return max(0.0, worst)


# --- the sleeves' maps ---------------------------------------------------------------------------
def _rounded(poly: np.ndarray, iterations: int = 3) -> np.ndarray:
    """Chaikin corner cutting (the ends kept): an arm with rounded elbow and wrist."""
    p = poly
    for _ in range(iterations):
        q = [p[0]]
        for a, b in zip(p[:-1], p[1:]):
            q += [0.75 * a + 0.25 * b, 0.25 * a + 0.75 * b]
        q.append(p[-1])
        p = np.array(q)
    return p


def arm_curve(fit: BodyFit, side: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dense points (N,2), arc length at each (0 at the shoulder joint), arc length of the
    original joints shoulder/elbow/wrist/fingertips). The curve starts half a shoulder span
    before the shoulder joint (continuing the upper arm backwards)."""
    poly = fit.arms[side].astype(np.float64)
    up = poly[0] - poly[1]
    up /= max(1e-6, float(np.linalg.norm(up)))
    start = poly[0] + up * fit.ds
    full = np.vstack([start, poly])
    # joints' arc lengths on the polyline (the rounded curve is within a few % of it)
    seg = np.linalg.norm(np.diff(full, axis=0), axis=1)
    joints = np.concatenate([[0.0], np.cumsum(seg)])[1:] - seg[0]
    dense = _rounded(full)
    # resample uniformly
    dseg = np.linalg.norm(np.diff(dense, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(dseg)])
    n = int(np.clip(arc[-1] / 2, 16, 160))
    s = np.linspace(0, arc[-1], n)
    pts = np.stack([np.interp(s, arc, dense[:, 0]), np.interp(s, arc, dense[:, 1])], 1)
    return pts, s - seg[0], joints


def curve_coords(pts: np.ndarray, arc: np.ndarray, xy: np.ndarray, outer_sign: float):
    """(arc length σ, signed offset τ: + on the outer side) of points xy (M,2) against a dense
    curve (N,2): the nearest curve sample (a k-d tree: memory O(M + N), not O(M·N)), then the
    projection onto the better of its two segments (the first and last extended beyond the
    curve's ends)."""
    from scipy.spatial import cKDTree

    n = len(pts)
    _, nearest = cKDTree(pts).query(xy)
    best_d = np.full(len(xy), np.inf)
    sigma = np.zeros(len(xy))
    tau = np.zeros(len(xy))
    for offset in (-1, 0):
        i = np.clip(nearest + offset, 0, n - 2)
        a, b = pts[i], pts[i + 1]
        ab = b - a
        seglen = np.maximum(np.linalg.norm(ab, axis=1), 1e-9)
        direction = ab / seglen[:, None]
        t = ((xy - a) * direction).sum(1)
        t = np.where(i == 0, np.minimum(t, seglen), np.where(i == n - 2, np.maximum(t, 0), np.clip(t, 0, seglen)))
        proj = a + t[:, None] * direction
        d = np.linalg.norm(xy - proj, axis=1)
        better = d < best_d
        normal = np.stack([-direction[:, 1], direction[:, 0]], 1)
        sigma = np.where(better, arc[i] + t, sigma)
        tau = np.where(better, ((xy - proj) * normal).sum(1) * outer_sign, tau)
        best_d = np.where(better, d, best_d)
    return sigma, tau


def _arc_lengths(poly: np.ndarray) -> np.ndarray:
    return np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(poly, axis=0), axis=1))])


def _along(poly: np.ndarray, arc: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Points at arc lengths u (M,) along a polyline; beyond its ends it goes on straight
    along the chord of its first / last quarter (a last segment may turn round a corner, a
    cuff's: extended, it would run along the cuff instead of past it)."""
    n = len(poly)
    inside = np.clip(u, 0, arc[-1])
    i = np.minimum(np.maximum(np.searchsorted(arc, inside, side="right") - 1, 0), n - 2)
    seg = np.maximum(arc[i + 1] - arc[i], 1e-9)
    out = poly[i] + ((inside - arc[i]) / seg)[:, None] * (poly[i + 1] - poly[i])
    q = max(1, (n - 1) // 4)
    d_end = poly[-1] - poly[-1 - q]
    d_end /= max(1e-9, float(np.linalg.norm(d_end)))
    d_start = poly[q] - poly[0]
    d_start /= max(1e-9, float(np.linalg.norm(d_start)))
    out = out + np.maximum(u - arc[-1], 0)[:, None] * d_end + np.minimum(u, 0)[:, None] * d_start
    return out


def _normal_away(poly: np.ndarray, arc: np.ndarray, u: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Unit normals of a polyline at arc lengths u, each pointing away from `other` (M,2)."""
    eps = max(1.0, 0.02 * float(arc[-1]))
    tangent = _along(poly, arc, u + eps) - _along(poly, arc, u - eps)
    tangent /= np.maximum(np.linalg.norm(tangent, axis=1, keepdims=True), 1e-9)
    normal = np.stack([-tangent[:, 1], tangent[:, 0]], 1)
    here = _along(poly, arc, u)
    flip = ((here - other) * normal).sum(1) < 0
    return np.where(flip[:, None], -normal, normal)


@dataclass
class SleeveMap:
    """A sleeve laid along an arm. The flat sleeve is a strip between its outer edge (from the
    shoulder point to the outer cuff corner) and its inner edge (from the armpit to the inner
    cuff corner); its armhole seam is the straight line shoulder point → armpit. On the
    person the seam runs from the shoulder seam (the arm's outer side) to the armpit (its
    inner side), the outer edge along the arm's outer side, the inner edge along its inner
    side. A person pixel's offset across the arm, relative to the target half-width, picks
    the point between the two edges; its distance along the arm past the seam picks how far
    along them (both scaled by k: the sleeve keeps its own length)."""

    side: str
    sleeve: Sleeve
    pts: np.ndarray      # the arm's dense curve
    arc: np.ndarray      # arc length along it (0 at the shoulder joint)
    outer_sign: float
    sigma_seam: float    # the shoulder seam's arc length on the person (outer side)
    sigma_armpit: float  # the armpit's arc length on the person (inner side)
    k_len: float         # garment → person scale along the sleeve (k, less where gathered)
    arm_half: np.ndarray  # (4,) target arm half-width at shoulder, elbow, wrist, fingertips
    joints: np.ndarray
    k: float
    gathered: float      # share of the sleeve's length gathered at the wrist
    outer_reach: tuple | None = None   # (arc lengths, how far the arm is seen to its outer side)

    def __post_init__(self):
        sl = self.sleeve
        self._outer = sl.outer                  # from the shoulder point to the outer cuff corner
        self._inner = sl.inner[1:]              # from the armpit to the inner cuff corner
        self._outer_arc = _arc_lengths(self._outer)
        self._inner_arc = _arc_lengths(self._inner)
        self.outer_len = float(self._outer_arc[-1])
        self.inner_len = float(self._inner_arc[-1])

    def _t(self, sigma: np.ndarray, w: np.ndarray) -> np.ndarray:
        """How far from seam (0) to cuff (1) a person pixel at arc length sigma and offset w
        (0 inner edge, 1 outer edge) is: the seam and the cuff run across the arm, each from
        its inner end to its outer end."""
        seam = self.sigma_armpit + w * (self.sigma_seam - self.sigma_armpit)
        cuff = (self.sigma_armpit + self.inner_len * self.k_len) + w * (
            (self.sigma_seam + self.outer_len * self.k_len) - (self.sigma_armpit + self.inner_len * self.k_len))
        return (sigma - seam) / np.maximum(cuff - seam, 1.0)

    def garment_point(self, t: np.ndarray, w: np.ndarray) -> np.ndarray:
        """The flat sleeve as a ruled strip: the point w of the way from the inner edge to the
        outer edge, each taken t of its own length from its start. Beyond an edge (w < 0 or
        w > 1) the point leaves it square to the edge (along the cross-section it would slide
        along a slanted edge and smear it)."""
        u_o, u_i = t * self.outer_len, t * self.inner_len
        o = _along(self._outer, self._outer_arc, u_o)
        i = _along(self._inner, self._inner_arc, u_i)
        g = i + np.clip(w, 0, 1)[:, None] * (o - i)
        span = np.linalg.norm(o - i, axis=1, keepdims=True)
        out = np.nonzero(w > 1)[0]
        if len(out):
            n_o = _normal_away(self._outer, self._outer_arc, u_o[out], i[out])
            g[out] = o[out] + (w[out] - 1)[:, None] * span[out] * n_o
        inn = np.nonzero(w < 0)[0]
        if len(inn):
            n_i = _normal_away(self._inner, self._inner_arc, u_i[inn], o[inn])
            g[inn] = i[inn] - w[inn][:, None] * span[inn] * n_i
        return g

    def half_widths(self, sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Target half-widths (inner side, outer side) along the arm at arc lengths sigma: the
        sleeve's own width (its cross-section at that fraction of its length, wrapped round the
        arm) but at least the arm's; on the outer side at least as far as the arm is seen (the
        keypoints' line runs inside the deltoid)."""
        half_t = np.full_like(sigma, 0.5)
        t = self._t(sigma, half_t)
        inner = self.garment_point(t, np.zeros_like(sigma))
        outer = self.garment_point(t, np.ones_like(sigma))
        width = np.where(t < 0, 0.0, np.linalg.norm(outer - inner, axis=1))
        arm = np.interp(sigma, self.joints, self.arm_half)
        half = np.clip(self.k * SLEEVE_WRAP * width / 2, 1.1 * arm, MAX_SLEEVE_LOOSENESS * arm)
        half_out = np.maximum(half, np.interp(sigma, *self.outer_reach)) if self.outer_reach is not None else half
        return half, half_out

    def map(self, xy: np.ndarray, grid_hw: tuple[int, int] | None = None) -> np.ndarray:
        """(x, y, weight) in the flat sleeve for person points xy. With `grid_hw` (xy is a
        row-major grid of that shape) the garment point is computed only where a grid cell
        round it has some weight: elsewhere the resized weight is exactly 0 (the part's alpha
        is 0 there whatever the map says) and the map is left at (-1, -1), off the photo."""
        sigma, tau = curve_coords(self.pts, self.arc, xy, self.outer_sign)
        # the target half-widths vary along the arm only: tabulated along it, read per pixel
        table = np.linspace(sigma.min(), sigma.max(), 256) if len(sigma) else np.zeros(2)
        half_in, half_out = self.half_widths(table)
        half = np.where(tau > 0, np.interp(sigma, table, half_out), np.interp(sigma, table, half_in))
        nu = tau / half
        w = np.clip((nu + 1) / 2, -1.0, 2.0)
        t = self._t(sigma, w)
        # far off the arm, or above the seam, nothing of the sleeve may land (the map
        # extrapolates there, and would smear the sleeve's outline): a weight falling to 0 just
        # past the sleeve's edges and its seam (smooth, as the coarse map is resized)
        weight = np.clip((SLEEVE_EDGE_FADE[1] - np.abs(nu)) / (SLEEVE_EDGE_FADE[1] - SLEEVE_EDGE_FADE[0]), 0, 1) * np.clip(1 + t / 0.06, 0, 1)
        if grid_hw is None:
            return np.column_stack([self.garment_point(t, w), weight])
        seen = cv2.dilate((weight > 0).reshape(grid_hw).astype(np.uint8), np.ones((3, 3), np.uint8)).ravel() > 0
        g = np.full((len(xy), 2), -1.0)
        if seen.any():
            g[seen] = self.garment_point(t[seen], w[seen])
        return np.column_stack([g, weight])


def sleeve_map(marks: GarmentLandmarks, fit: BodyFit, place: Placement, side: str, drop=None) -> SleeveMap:
    sleeve = marks.sleeves[side]
    pts, arc, joints = arm_curve(fit, side)
    out = -1.0 if side == "left" else 1.0
    i0 = int(np.searchsorted(arc, 0.0))
    first = pts[min(len(pts) - 1, i0 + 1)] - pts[max(0, i0 - 1)]
    normal = np.array([-first[1], first[0]])
    # the outer side: away from the torso where the arm leaves the shoulder
    outer_sign = 1.0 if normal @ fit.across * out >= 0 else -1.0
    # the seam on the person: outer end at the shoulder seam, inner end where the arm reaches
    # the garment's armpit depth (an arm raised above it: a little way down the upper arm)
    g_sh = marks.shoulder_left if side == "left" else marks.shoulder_right
    a_seam = out * shoulder_spread(marks) * place.k_app * abs(g_sh[0] - marks.axis_x)
    d_seam = place.depth(g_sh[1]) + (np.interp(a_seam, *drop) if drop is not None else 0.0)
    seam_outer = fit.point(fit.shift + a_seam, d_seam)
    sig_seam = float(curve_coords(pts, arc, seam_outer[None], outer_sign)[0][0])
    k = place.k
    # gather a sleeve longer than the arm (to the wrist and a little past it)
    outer_len = float(_arc_lengths(sleeve.outer)[-1])
    inner_len = float(_arc_lengths(sleeve.inner[1:])[-1])
    length = k * outer_len
    forearm = max(1.0, joints[2] - joints[1])
    available = joints[2] + GATHER_PAST_WRIST * forearm - sig_seam
    k_len = k if length <= available else k * max(0.2, available / max(1.0, length))
    # Where the sleeve's inner edge starts on the arm: worn, a sleeve is a tube whose cuff goes
    # round the arm, so its inner edge (armpit → cuff) ends level with its outer edge
    # (shoulder → cuff); no lower than the garment's armpit depth (an arm raised above it).
    armpit = marks.armpit_left if side == "left" else marks.armpit_right
    d_arm = place.depth(armpit[1])
    upper = max(1.0, joints[1] - joints[0])
    _, depths = fit.coords(pts)
    reach = np.nonzero((depths >= d_arm) & (arc >= 0))[0]
    deepest = float(arc[reach[0]]) if len(reach) else 0.35 * upper
    level = sig_seam + (outer_len - inner_len) * k_len
    sig_armpit = float(np.clip(level, sig_seam + 0.1 * upper, max(sig_seam + 0.1 * upper + 1, deepest)))
    return SleeveMap(side=side, sleeve=sleeve, pts=pts, arc=arc, outer_sign=outer_sign, sigma_seam=sig_seam,
                     sigma_armpit=sig_armpit, k_len=k_len, arm_half=fit.arm_half[side] * np.array(ARM_TAPER),
                     joints=joints, k=k, gathered=1 - k_len / k,
                     outer_reach=fit.arm_outer.get(side) if fit.arm_outer else None)


# --- sampling ---------------------------------------------------------------------------------------
def _clip_window(box, hw) -> tuple[int, int, int, int] | None:
    h, w = hw
    x0, y0, x1, y1 = (int(np.floor(box[0])), int(np.floor(box[1])), int(np.ceil(box[2])), int(np.ceil(box[3])))
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    return (x0, y0, x1, y1) if x1 - x0 >= 2 and y1 - y0 >= 2 else None


# The garment photo at 4× and 2× its size (a small photo laid on a large person: upscaled
# smoothly, its outline rounded instead of a staircase of pixels), at its own, half and quarter
# size (shrunk onto a small person: area-averaged, no moiré).
SOURCE_LEVELS = (0.25, 0.5, 1, 2, 4)


def _part_sources(analysis: GarmentAnalysis, level: int = 1) -> dict[int, np.ndarray]:
    """Per part: the garment as RGBA uint8 with the part's alpha (each part reaching a little
    over its seams into its neighbours, so no slit opens between them), at 1/`level` of the
    photo's size (area-averaged: a garment shrunk onto a small person shows no moiré).
    Cached on the analysis."""
    cache = analysis.__dict__.setdefault("_sources", {})
    if level in cache:
        return cache[level]
    if level != 1:
        full = _part_sources(analysis, 1)
        h, w = analysis.mask.shape
        size = (max(2, round(w / level)), max(2, round(h / level)))
        if level > 1:
            cache[level] = {part: cv2.resize(src, size, interpolation=cv2.INTER_AREA) for part, src in full.items()}
        else:
            up = {}
            for part, src in full.items():
                big = cv2.resize(src, size, interpolation=cv2.INTER_CUBIC)
                # the alpha's pixel staircase rounded off (half a photo pixel)
                sigma = 0.5 / level
                if big.ndim == 2:
                    big = cv2.GaussianBlur(big, (0, 0), sigma)
                else:
                    big[..., 3] = cv2.GaussianBlur(np.ascontiguousarray(big[..., 3]), (0, 0), sigma)
                up[part] = big
            cache[level] = up
        return cache[level]
    marks = analysis.marks
    m = max(1, int(round(SEAM_OVERLAP * analysis.mask.shape[1])))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * m + 1, 2 * m + 1))
    sources = {}
    back = (marks.parts == PART_BACK).astype(np.float32)
    rgb8 = np.clip(analysis.rgb * 255 + 0.5, 0, 255).astype(np.uint8)
    for part in [PART_BODY] + [PART_OF_SIDE[s] for s in marks.sleeves]:
        reach = cv2.dilate((marks.parts == part).astype(np.uint8), kernel).astype(np.float32)
        if part == PART_BODY:
            reach = np.maximum(reach, (marks.parts == PART_BODY).astype(np.float32)) * (1 - back)
        a = np.clip(analysis.alpha * reach * 255 + 0.5, 0, 255).astype(np.uint8)
        sources[part] = np.dstack([rgb8, a])
    if back.any():
        # the inside of the back collar: warped with the body (its colour from the body's
        # remap), drawn behind the neck: only its alpha
        sources[PART_BACK] = np.clip(analysis.alpha * back * 255 + 0.5, 0, 255).astype(np.uint8)
    cache[1] = sources
    return sources


def _fixed_maps(map_x, map_y, level: int):
    """The maps scaled to the source level, in OpenCV's fixed-point form (remap runs about
    twice as fast with it)."""
    if level != 1:
        map_x, map_y = map_x * (1.0 / level), map_y * (1.0 / level)
    return cv2.convertMaps(map_x, map_y, cv2.CV_16SC2)


def _remap(source: np.ndarray, maps) -> tuple[np.ndarray | None, np.ndarray]:
    """RGB and alpha, uint8, of a uint8 RGBA source (or only alpha of a 1-channel one): the
    compositor converts them while it shades and blends (one pass)."""
    out = cv2.remap(source, maps[0], maps[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    if out.ndim == 2:
        return None, out
    # contiguous planes (cvtColor / extractChannel: SIMD), not strided views of the RGBA: every
    # later use (the shade multiply, the reach-out's copy) would copy a view element by element
    return cv2.cvtColor(out, cv2.COLOR_RGBA2RGB), cv2.extractChannel(out, 3)


def snap_to_footprint(part: WarpedPart, zone: np.ndarray, reach: float, across: np.ndarray | None = None
                      ) -> WarpedPart:
    """A part's outline reaching out, by at most `reach` px, over `zone` (the old garment's
    footprint): a sliver between the new garment's edge and where the old one ended is cloth,
    not skin (the old garment is evidence of how a garment sits on this body). With `across`
    (a unit vector) only in that direction: the widths follow the old garment, the length
    stays the garment's own. The new pixels take the colour of the garment's nearest edge."""
    r = int(round(reach))
    if r < 1:
        return part
    x0, y0, x1, y1 = part.window
    z = zone[y0:y1, x0:x1]
    if not z.any():
        return part
    if across is None:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    else:
        kernel = np.zeros((2 * r + 1, 2 * r + 1), np.uint8)
        cv2.line(kernel, tuple(int(v) for v in np.round(r - r * across)), tuple(int(v) for v in np.round(r + r * across)),
                 1, 1)
    # grown only over the zone (its bounding box, widened by the reach: the rest is cut anyway)
    zx, zy, zw, zh = cv2.boundingRect(z)
    h, w = z.shape
    gx0, gy0, gx1, gy1 = max(0, zx - r - 1), max(0, zy - r - 1), min(w, zx + zw + r + 1), min(h, zy + zh + r + 1)
    box = np.s_[gy0:gy1, gx0:gx1]
    alpha = part.alpha.copy()
    alpha[box] = cv2.max(alpha[box], cv2.bitwise_and(cv2.dilate(part.alpha[box], kernel), z[box]))
    new = alpha > part.alpha
    if not new.any():
        return part
    # colour under the grown rim: a normalised blur of the garment's colour (its edge's colour),
    # made only round the new pixels and, the blur being wide, at 1/f of the size (a smooth fill:
    # the same to within a grey level or two, at a tenth of the full-size blur's cost)
    sigma = max(1.0, r / 2)
    f = max(1, int(sigma // 2))
    bx, by, bw, bh = cv2.boundingRect(new.view(np.uint8))
    m = int(np.ceil(4 * sigma)) + f
    sx0, sy0 = max(0, bx - m), max(0, by - m)
    sx1, sy1 = min(w, bx + bw + m), min(h, by + bh + m)
    sub = np.s_[sy0:sy1, sx0:sx1]
    a = part.alpha[sub]
    a = a if a.dtype == np.float32 else np.multiply(a, 1 / 255, dtype=np.float32)
    premult = cv2.multiply(part.rgb[sub], cv2.merge([a] * 3), dtype=cv2.CV_32F,
                           scale=1 / 255 if part.rgb.dtype == np.uint8 else 1)
    sh, sw = a.shape
    small = (max(1, -(-sw // f)), max(1, -(-sh // f)))
    if f > 1:
        premult = cv2.resize(premult, small, interpolation=cv2.INTER_AREA)
        a = cv2.resize(a, small, interpolation=cv2.INTER_AREA)
    num = cv2.GaussianBlur(premult, (0, 0), sigma / f)
    den = cv2.GaussianBlur(a, (0, 0), sigma / f)[..., None]
    filled = num / np.maximum(den, 1e-3) * 255
    if f > 1:
        filled = cv2.resize(filled, (sw, sh), interpolation=cv2.INTER_LINEAR)
    rgb = part.rgb.copy()
    rgb[sub][new[sub]] = np.clip(filled[new[sub]], 0, 255).astype(np.uint8)
    return WarpedPart(part.part, part.window, rgb, alpha)


def warp_parts(analysis: GarmentAnalysis, fit: BodyFit, hw: tuple[int, int],
               snap_zone: np.ndarray | None = None, snap_arms: np.ndarray | None = None,
               category: str = "upper") -> tuple[list[WarpedPart], dict]:
    """The garment's parts on the person (a top, or a dress: a top whose body goes on to its
    hem, its skirt free below the hips), and the fit's measures."""
    marks = analysis.marks
    skirt_from = fit.tl if category == "dress" else None
    place = placement(marks, fit)
    # the smallest copy of the photo that is still not magnified much on the person
    level = max([f for f in SOURCE_LEVELS if place.k * f <= MAX_MAGNIFICATION] or [min(SOURCE_LEVELS)])
    sources = _part_sources(analysis, level)
    step = max(2, hw[0] // GRID_STEP)
    parts = []
    # body: the window spans the garment's rows at their widest target
    d_top, d_bottom = place.depth(marks.top_y), place.depth(marks.bottom_y)
    reach = MAX_LOOSENESS * max(fit.half_left.max(), fit.half_right.max()) + place.k_app * max(
        marks.half_left.max(), marks.half_right.max()) + abs(fit.shift)
    corners = fit.point(np.array([-reach, reach, -reach, reach]), np.array([d_top, d_top, d_bottom, d_bottom]) +
                        np.array([-1, -1, 1, 1]) * 0.05 * fit.tl)
    window = _clip_window((*corners.min(0), *corners.max(0)), hw)
    drop = shoulder_drop(marks, fit, place)
    if window is not None:
        map_x, map_y, _ = grid_maps(window, step, lambda xy: np.stack(body_map(marks, fit, place, xy[:, 0],
                                                                                xy[:, 1], drop, skirt_from), 1))
        maps = _fixed_maps(map_x, map_y, level)
        rgb, a = _remap(sources[PART_BODY], maps)
        body_part = WarpedPart(PART_BODY, window, rgb, a)
        if snap_zone is not None:
            body_part = snap_to_footprint(body_part, snap_zone, SNAP_REACH * fit.ds_true, across=fit.across)
        parts.append(body_part)
        if PART_BACK in sources:
            _, a = _remap(sources[PART_BACK], maps)
            parts.append(WarpedPart(PART_BACK, window, rgb, a))
    gathered = 0.0
    for side in marks.sleeves:
        sm = sleeve_map(marks, fit, place, side, drop)
        gathered = max(gathered, sm.gathered)
        pad = MAX_SLEEVE_LOOSENESS * sm.arm_half.max() + 2
        lo = np.searchsorted(sm.arc, sm.sigma_seam - pad)
        pts = sm.pts[lo:]
        window = _clip_window((pts[:, 0].min() - pad, pts[:, 1].min() - pad, pts[:, 0].max() + pad,
                               pts[:, 1].max() + pad), hw)
        if window is None:
            continue
        map_x, map_y, weight = grid_maps(window, max(2, hw[0] // SLEEVE_GRID_STEP), sm.map, shaped=True)
        rgb, a = _remap(sources[PART_OF_SIDE[side]], _fixed_maps(map_x, map_y, level))
        a = cv2.multiply(a, weight, dtype=cv2.CV_8U)
        sleeve_part = WarpedPart(PART_OF_SIDE[side], window, rgb, a)
        if snap_arms is not None and SLEEVE_SNAP:
            sleeve_part = snap_to_footprint(sleeve_part, snap_arms, SLEEVE_SNAP_REACH * fit.ds_true)
        parts.append(sleeve_part)
    measures = {
        "matte_confidence": analysis.confidence,
        "landmark_confidence": marks.confidence,
        "fit_strain": max(body_strain(marks, fit, place, skirt_from), gathered - 0.3 if gathered > 0.3 else 0.0),
        "person_turn": abs(fit.turn),
    }
    if category == "dress":
        # where its hem lands (torso lengths below the neck): a dress read as a top ends at the hips
        measures["hem_depth"] = float(place.depth(marks.bottom_y)) / fit.tl
    return parts, measures


def flatten(parts: list[WarpedPart], hw: tuple[int, int], front: np.ndarray | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
    """All parts over one canvas (sleeves over the body): RGB float32 [0,1], alpha [0,1] (cut
    by `front`, what is in front of the garment). Work only inside the parts' windows."""
    h, w = hw
    image = np.zeros((h, w, 3), np.float32)
    alpha = np.zeros((h, w), np.float32)
    if not parts:
        return image, alpha
    for p in parts:
        x0, y0, x1, y1 = p.window
        win = np.s_[y0:y1, x0:x1]
        a = p.float_alpha()
        image[win] = cv2.blendLinear(p.float_rgb(), image[win], a, cv2.subtract(1.0, a))
        alpha[win] = cv2.max(alpha[win], a)
    x0 = min(p.window[0] for p in parts)
    y0 = min(p.window[1] for p in parts)
    x1 = max(p.window[2] for p in parts)
    y1 = max(p.window[3] for p in parts)
    win = np.s_[y0:y1, x0:x1]
    # the blend above mixes towards black where alpha < 1: take it back out (straight colour)
    a = alpha[win]
    image[win] = np.where(a[..., None] > 1e-4, image[win] / np.maximum(a[..., None], 1e-4), 0)
    np.clip(image[win], 0, 1, out=image[win])
    if front is not None:
        alpha[win] = cv2.multiply(a, 1 - front[win])
    return image, np.clip(alpha, 0, 1)


# --- the stage ----------------------------------------------------------------------------------
def work_size(crop_h: int, crop_w: int) -> tuple[int, int]:
    """Working resolution: the crop's own size, capped at MAX_WORK_HEIGHT rows."""
    if crop_h <= MAX_WORK_HEIGHT:
        return crop_h, crop_w
    return MAX_WORK_HEIGHT, int(round(crop_w * MAX_WORK_HEIGHT / crop_h))


def _bounded(garment: np.ndarray, given: np.ndarray | None):
    if garment.shape[0] <= MAX_GARMENT_HEIGHT:
        return garment, given
    # more rows than the warp can use cost time and memory, nothing else
    f = MAX_GARMENT_HEIGHT / garment.shape[0]
    size = (max(1, round(garment.shape[1] * f)), MAX_GARMENT_HEIGHT)
    return cv2.resize(garment, size, interpolation=cv2.INTER_AREA), given


class LandmarkWarp(DeclaresWeights):
    """Warp stage of the geometric chain (no weights: pure geometry)."""

    chain = "geometric"
    info = {"impl": "landmark_warp", "weights": {}}

    @classmethod
    def load(cls) -> "LandmarkWarp":
        return cls()

    def warp(self, person: Person, garments_bgr: list[np.ndarray],
             garment_masks: list[np.ndarray | None] | None = None,
             names: list[str] | None = None, category: str = "upper") -> WarpedGarments:
        x0, y0, x1, y1 = person.crop_box
        hw = work_size(y1 - y0, x1 - x0)
        layers = person_layers(person, category, hw)
        masks = garment_masks or [None] * len(garments_bgr)
        names = names or [f"garment {i}" for i in range(len(garments_bgr))]
        measures, all_parts = [], []
        for garment, given, name in zip(garments_bgr, masks, names):
            garment, given = _bounded(garment, given)
            if category == "lower":
                analysis, shape = analysed_lower(garment, given, name)
                parts, m = warp_lower(analysis, shape, layers.fit, layers.legs, hw)
            else:
                analysis = analysed_garment(garment, given, name)
                parts, m = warp_parts(analysis, layers.fit, hw, layers.snap_zone, layers.snap_arms, category)
            measures.append(m)
            all_parts.append(parts)
        return LazyWarpedGarments(images=None, masks=None, measures=measures, parts=all_parts, hw=hw,
                                  front=layers.front)


class LazyWarpedGarments(WarpedGarments):
    """WarpedGarments whose flat images and masks are made from the parts only when read (the
    geometric compositor lays the parts themselves; the seed's TOM, in a mixed chain, reads
    the images; the evaluation the masks). A mask is the garment's visible footprint: it stops
    at what is in front of it (head, neck, hands)."""

    def __init__(self, *, images, masks, measures, parts, hw, front):
        self._hw, self._front = hw, front
        super().__init__(images=images, masks=masks, measures=measures, parts=parts)

    @property
    def images(self) -> np.ndarray:
        if self._images is None:
            self._images = np.stack([flatten(p, self._hw, self._front)[0] for p in self.parts])
        return self._images

    @images.setter
    def images(self, value) -> None:
        self._images = value

    @property
    def masks(self) -> np.ndarray:
        if self._masks is None:
            self._masks = np.stack([footprint(p, self._hw, self._front) for p in self.parts])
        return self._masks

    @masks.setter
    def masks(self, value) -> None:
        self._masks = value


def footprint(parts: list[WarpedPart], hw: tuple[int, int], front: np.ndarray) -> np.ndarray:
    """The garment's alpha over the person (the parts' maximum), cut by what is in front."""
    alpha = np.zeros(hw, np.float32)
    for p in parts:
        x0, y0, x1, y1 = p.window
        alpha[y0:y1, x0:x1] = cv2.max(alpha[y0:y1, x0:x1], p.float_alpha())
    return cv2.multiply(alpha, 1 - front)
