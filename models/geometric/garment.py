"""Garment side of the geometric chain: the garment's landmarks, body profile and sleeves, from its mask.

No network is needed: the mask comes from the background colour or a given cloth mask
(models.garment_photo), the rest from the mask's outline:

    analysis = analysed_garment(garment_bgr, given_mask)   # GarmentAnalysis, cached by content
    analysis.marks                                        # GarmentLandmarks, garment pixel coords
    analysis.rgb, analysis.alpha                          # colour without background fringe, soft alpha

What the warp (models.geometric.warp) needs, in garment pixels:
    axis_x                    the garment's vertical axis of symmetry (from its top half)
    profile_y, half_left/right  the garment BODY's half-widths left/right of the axis, row by row,
                              from the collar to the hem (sleeves excluded; above the armpits
                              the armhole line up to the shoulder points)
    shoulder_*, armpit_*, neck_*, hem_*   named points
    sleeves[side]             root (shoulder point → armpit), axis, centre line and half-width
                              per station along the axis, cuff corners
    parts                     PART_BODY / PART_LEFT_SLEEVE / PART_RIGHT_SLEEVE per pixel

Landmarks are named from the viewer's side ("left" = smaller x), which on a front view is the
wearer's right: the left sleeve goes on the person's right arm (COCO-18 keypoints 2-4).

Robustness: every landmark the outline does not show is put where garments of the kind have
it (and lowers `confidence`); a mask that is no upright garment (too thin, too sparse, no top)
is refused with BadInputError naming it. Analysis runs on the mask reduced to at most
ANALYSIS_HEIGHT rows, so its cost and memory are bounded whatever the photo.
"""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field

import cv2
import numpy as np

from models.cache import ContentCache
from models.contract import BadInputError
from models.garment_photo import garment_photo_matte, garment_mask
from models.geometric.blazeface import BlazeFace
from models.masks import largest_component
from models.weights import MissingWeightsError

log = logging.getLogger(__name__)

PART_BODY, PART_LEFT_SLEEVE, PART_RIGHT_SLEEVE, PART_BACK = 1, 2, 3, 4
PART_OF_SIDE = {"left": PART_LEFT_SLEEVE, "right": PART_RIGHT_SLEEVE}
ANALYSIS_HEIGHT = 512
# Armpit depth, as a fraction of the collar-to-hem height, where the outline does not show it
# (sleeves lying against the body): the T-shirts and the long-sleeved top of the dataset are at 0.38-0.40.
ARMPIT_DEPTH = 0.38
ARMPIT_RANGE = (0.08, 0.62)   # of the height: an armpit found outside is no armpit
# Neck opening half-width per shoulder span: below MIN the corners were not found; the
# dataset's necklines are 0.16-0.36 of it.
MIN_NECK_HALF, TYPICAL_NECK_HALF = 0.07, 0.2
MIN_SLEEVE_AREA = 0.015       # of the garment's area: smaller pieces beside the body are trims
SLEEVE_STATIONS = 12
# Shapes that are no upright garment photo.
ASPECT_RANGE = (0.3, 4.0)     # bounding box height / width
MIN_FILL = 0.25               # garment area / bounding box area


# --- landmarks --------------------------------------------------------------------------------
@dataclass
class Sleeve:
    """One sleeve in garment pixel coordinates.

    root_outer/root_inner: the seam's ends (shoulder point, armpit); origin: their midpoint;
    axis: unit vector from the root to the cuff; normal: unit, towards the outer (shoulder)
    side. stations: distances along the axis; centre/half_width: the sleeve's cross-section
    there (offset of its middle along `normal`, half its extent). end_outer/end_inner: the
    cuff's corners.

    The sleeve as a strip between two boundaries, both starting at the shoulder point:
    outer: along its outer edge to the cuff's outer corner; inner: down the armhole seam to
    the armpit, then along its inner edge to the cuff's inner corner (polylines, (M, 2))."""

    root_outer: np.ndarray
    root_inner: np.ndarray
    origin: np.ndarray
    axis: np.ndarray
    normal: np.ndarray
    stations: np.ndarray
    centre: np.ndarray
    half_width: np.ndarray
    end_outer: np.ndarray
    end_inner: np.ndarray
    outer: np.ndarray | None = None
    inner: np.ndarray | None = None

    @property
    def seam_length(self) -> float:
        return float(np.linalg.norm(self.root_inner - self.root_outer))

    @property
    def length(self) -> float:
        return float(self.stations[-1])

    @property
    def end_centre(self) -> np.ndarray:
        return (self.end_outer + self.end_inner) / 2

    def frame(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(s along the axis, t along the normal) of points (..., 2)."""
        d = p - self.origin
        return d @ self.axis, d @ self.normal

    def point(self, s, t) -> np.ndarray:
        return self.origin + np.asarray(s)[..., None] * self.axis + np.asarray(t)[..., None] * self.normal

    def scaled(self, f: float) -> "Sleeve":
        return Sleeve(root_outer=self.root_outer * f, root_inner=self.root_inner * f, origin=self.origin * f,
                      axis=self.axis, normal=self.normal, stations=self.stations * f, centre=self.centre * f,
                      half_width=self.half_width * f, end_outer=self.end_outer * f, end_inner=self.end_inner * f,
                      outer=self.outer * f, inner=self.inner * f)


@dataclass
class GarmentLandmarks:
    """Named (x, y) points of an upright garment, its body profile and sleeves, in its pixel
    coordinates.

    neck_*:      collar corners (highest points either side of the neck opening) and the
                 lowest point of the neckline on the centre line.
    shoulder_*:  outer ends of the shoulder line (top of the armhole; a strap's outer edge).
    armpit_*:    where the side seam meets the sleeve / armhole.
    hem_*:       lower corners of the body.
    waist_*:     side points halfway between armpit and hem.
    axis_x:      the vertical axis of symmetry.
    profile_y, half_left, half_right: the body's half-widths either side of the axis per row.
    sleeves:     {"left": Sleeve, "right": Sleeve}; absent when sleeveless.
    parts:       label map PART_BODY / PART_LEFT_SLEEVE / PART_RIGHT_SLEEVE of the mask, and
                 PART_BACK: the inside of the back collar seen through the neck opening
                 (worn, it is behind the neck).
    confidence:  1 when every landmark was found on the outline and both sides agree; lower
                 for each one put by default (`notes` says which).
    """

    neck_left: np.ndarray
    neck_right: np.ndarray
    neck_centre: np.ndarray
    shoulder_left: np.ndarray
    shoulder_right: np.ndarray
    armpit_left: np.ndarray
    armpit_right: np.ndarray
    waist_left: np.ndarray
    waist_right: np.ndarray
    hem_left: np.ndarray
    hem_right: np.ndarray
    sleeves: dict[str, Sleeve] = field(default_factory=dict)
    size: tuple[int, int] = (0, 0)  # (h, w) of the garment image they refer to
    parts: np.ndarray | None = field(default=None, repr=False)
    axis_x: float = 0.0
    top_y: float = 0.0
    bottom_y: float = 0.0
    profile_y: np.ndarray | None = field(default=None, repr=False)
    half_left: np.ndarray | None = field(default=None, repr=False)
    half_right: np.ndarray | None = field(default=None, repr=False)
    confidence: float = 1.0
    notes: list[str] = field(default_factory=list)
    top_outline: np.ndarray | None = field(default=None, repr=False)  # per column, the top row (−1: none)

    def top_at(self, x) -> np.ndarray:
        """The garment's top outline (row) at columns x (nearest column that has garment)."""
        cols = np.nonzero(self.top_outline >= 0)[0]
        return np.interp(x, cols, self.top_outline[cols])

    @property
    def sleeve_kind(self) -> str:
        """"none", "short" (ends above the elbow) or "long", from the sleeve length relative to
        the shoulder-to-hem length (a full sleeve is about as long as the body)."""
        if not self.sleeves:
            return "none"
        body = self.body_length
        length = max(s.length for s in self.sleeves.values())
        if length > 0.62 * body:
            return "long"
        return "short" if length > 0.1 * body else "none"

    @property
    def body_length(self) -> float:
        """Shoulder line to hem line (garment px)."""
        return float(max(1.0, (self.hem_left[1] + self.hem_right[1]) / 2
                         - (self.shoulder_left[1] + self.shoulder_right[1]) / 2))

    @property
    def shoulder_y(self) -> float:
        return float((self.shoulder_left[1] + self.shoulder_right[1]) / 2)

    def half_widths(self, y) -> tuple[np.ndarray, np.ndarray]:
        """The body's half-widths (left, right of the axis) at garment rows `y` (any shape);
        constant beyond the profile's ends."""
        return (np.interp(y, self.profile_y, self.half_left), np.interp(y, self.profile_y, self.half_right))

    def points(self) -> dict[str, np.ndarray]:
        named = {k: v for k, v in self.__dict__.items()
                 if isinstance(v, np.ndarray) and v.shape == (2,)}
        for side, s in self.sleeves.items():
            named[f"sleeve_{side}_outer"] = s.end_outer
            named[f"sleeve_{side}_inner"] = s.end_inner
        return named


def garment_landmarks(mask: np.ndarray, name: str = "garment", image: np.ndarray | None = None) -> GarmentLandmarks:
    """Landmarks of an upright front-view garment from its 0/255 mask (any size: the analysis
    runs on at most ANALYSIS_HEIGHT rows and the results are scaled back). With the garment's
    `image` (BGR), the inside of the back collar seen through the neck opening is found too."""
    h, w = mask.shape[:2]
    scale = min(1.0, ANALYSIS_HEIGHT / h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = mask if scale == 1.0 else cv2.resize(mask, size, interpolation=cv2.INTER_AREA)
    marks = _landmarks(small > 127, name)
    if image is not None:
        gray = cv2.cvtColor(image if scale == 1.0 else cv2.resize(image, size, interpolation=cv2.INTER_AREA),
                            cv2.COLOR_BGR2GRAY)
        back = _inside_back(gray, small > 127, marks)
        if back is not None:
            marks.parts[back] = PART_BACK
    if scale != 1.0:
        marks = _rescale(marks, 1 / scale)
        parts = cv2.resize(marks.parts, (w, h), interpolation=cv2.INTER_NEAREST)
        full = mask > 127
        parts[~full] = 0
        # the outline's pixels the reduced map lost take their neighbour's part
        k = 2 * int(np.ceil(1 / scale)) + 1
        grown = cv2.dilate(parts, np.ones((k, k), np.uint8))
        parts[full & (parts == 0)] = grown[full & (parts == 0)]
        parts[full & (parts == 0)] = PART_BODY
        marks.parts = parts
    marks.size = (h, w)
    return marks


def _rescale(m: GarmentLandmarks, f: float) -> GarmentLandmarks:
    pts = {k: v * f for k, v in m.points().items() if not k.startswith("sleeve_")}
    return GarmentLandmarks(**pts, sleeves={s: v.scaled(f) for s, v in m.sleeves.items()}, size=m.size,
                            parts=m.parts, axis_x=m.axis_x * f, top_y=m.top_y * f, bottom_y=m.bottom_y * f,
                            profile_y=m.profile_y * f, half_left=m.half_left * f, half_right=m.half_right * f,
                            confidence=m.confidence, notes=m.notes, top_outline=_rescale_top(m.top_outline, f))


def _rescale_top(top: np.ndarray, f: float) -> np.ndarray:
    """A per-column top outline at f× the size (columns and rows)."""
    n = int(round(len(top) * f))
    cols = np.nonzero(top >= 0)[0]
    xs = np.arange(n) / f
    out = np.interp(xs, cols, top[cols]) * f
    out[(xs < cols.min() - 1) | (xs > cols.max() + 1)] = -1
    return out


def _landmarks(binary: np.ndarray, name: str) -> GarmentLandmarks:
    binary = largest_component(binary.astype(np.uint8) * 255) > 0
    ys, xs = np.nonzero(binary)
    if len(xs) < 200:
        raise BadInputError(f"{name}: no garment found on the background")
    x0, x1, y0, y1 = int(xs.min()), int(xs.max()), int(ys.min()), int(ys.max())
    height, width = y1 - y0 + 1, x1 - x0 + 1
    if not ASPECT_RANGE[0] <= height / width <= ASPECT_RANGE[1]:
        raise BadInputError(f"{name}: not an upright garment (outline {width}×{height} px)")
    if len(xs) < MIN_FILL * height * width:
        raise BadInputError(f"{name}: not an upright garment (it fills {len(xs) / (height * width):.0%} "
                            "of its outline's box)")
    notes: list[str] = []
    confidence = 1.0
    cx = _symmetry_axis(binary, x0, x1, y0, y1)
    top = np.where(binary.any(axis=0), binary.argmax(axis=0), -1)
    left_edge, right_edge = _central_run_edges(binary, cx)

    armpit_y, armpit_x, sleeved = {}, {}, {}
    for side, edge, sign in (("left", left_edge, -1), ("right", right_edge, 1)):
        ay, has_sleeve = _armpit_row(edge, sign, y0, y1)
        armpit_y[side], sleeved[side] = ay, has_sleeve
        band = edge[max(y0, ay + 1): ay + max(3, height // 40)]
        band = band[band >= 0]
        armpit_x[side] = float(np.median(band)) if len(band) else float(cx + sign * 0.35 * width)
    has_sleeves = sleeved["left"] and sleeved["right"]
    if sleeved["left"] != sleeved["right"]:
        # one side's outline shows a sleeve, the other's not (a tie, a drape or a knot hides
        # it): garments are sleeved on both sides or neither, so the other armpit is put at
        # the same depth and the sleeve looked for there too
        found, other = ("left", "right") if sleeved["left"] else ("right", "left")
        edge = left_edge if other == "left" else right_edge
        armpit_y[other] = armpit_y[found]
        band = edge[armpit_y[other] + 1: armpit_y[other] + max(3, height // 40)]
        band = band[band >= 0]
        sign = -1 if other == "left" else 1
        armpit_x[other] = float(np.median(band)) if len(band) else float(cx + sign * 0.35 * width)
        has_sleeves = True
        notes.append(f"{other} armpit mirrored from the {found} one")
        confidence -= 0.2
    if not has_sleeves:
        hanging = _hanging_sleeves(binary, cx, y0, y1)
        if hanging is not None:
            # Long sleeves lying against the body along their whole length: the body's sides
            # are the sleeves' inner edges below the body, the armpit at the usual depth.
            inner_left, inner_right, body_bottom = hanging
            ay = y0 + int(ARMPIT_DEPTH * (body_bottom - y0))
            rows = np.arange(ay, body_bottom + 1)
            left_edge[rows] = np.where(left_edge[rows] >= 0, np.maximum(left_edge[rows], inner_left), -1)
            right_edge[rows] = np.where(right_edge[rows] >= 0, np.minimum(right_edge[rows], inner_right), -1)
            armpit_y = {"left": ay, "right": ay}
            armpit_x = {"left": float(inner_left), "right": float(inner_right)}
            has_sleeves = True
    for side in ("left", "right"):
        lo, hi = y0 + ARMPIT_RANGE[0] * height, y0 + ARMPIT_RANGE[1] * height
        if not lo <= armpit_y[side] <= hi:
            armpit_y[side] = int(y0 + ARMPIT_DEPTH * height)
            notes.append(f"{side} armpit put at the usual depth")
            confidence -= 0.2
    ay = int(round((armpit_y["left"] + armpit_y["right"]) / 2))
    if abs(armpit_y["left"] - armpit_y["right"]) > 0.12 * height:
        notes.append("armpits at different heights")
        confidence -= 0.2
    # keep each armpit on its own side of the axis
    armpit_x["left"] = min(armpit_x["left"], cx - 0.1 * width)
    armpit_x["right"] = max(armpit_x["right"], cx + 0.1 * width)

    # Shoulders: above the armpit on the top outline (sleeved), or the outermost point of the
    # strap/armhole region (sleeveless).
    shoulders = {}
    for side, sign in (("left", -1), ("right", 1)):
        if has_sleeves:
            sx = _nearest_column(top, int(round(armpit_x[side])))
        else:
            band = binary[y0: y0 + max(2, (ay - y0) // 2)]
            cols = np.nonzero(band.any(axis=0))[0]
            cols = cols[(cols < cx) if sign < 0 else (cols > cx)]
            sx = (cols.min() if sign < 0 else cols.max()) if len(cols) else _nearest_column(
                top, int(round(armpit_x[side])))
        shoulders[side] = np.array([sx, top[sx]], np.float64)
        if shoulders[side][1] >= armpit_y[side]:
            shoulders[side][1] = y0 + 0.5 * (armpit_y[side] - y0)
            notes.append(f"{side} shoulder put above its armpit")
            confidence -= 0.15

    # Collar corners: the highest top-outline points between the shoulders, nearest the centre.
    neck = {}
    for side, sign in (("left", -1), ("right", 1)):
        a, b = sorted((int(shoulders[side][0]), cx))
        span = np.arange(a, b + 1)
        span = span[top[span] >= 0]
        if not len(span):
            span = np.array([cx])
        best = top[span].min() if top[span].max() >= 0 else y0
        near = span[top[span] <= best + max(1, height // 100)]
        nx = int(near.max() if sign < 0 else near.min())
        neck[side] = np.array([nx, max(top[nx], y0)], np.float64)
    shoulder_span = max(1.0, shoulders["right"][0] - shoulders["left"][0])
    if neck["right"][0] - neck["left"][0] < 2 * MIN_NECK_HALF * shoulder_span:
        # a flat top outline (the photo shows the back of the collar): no corners to find,
        # so put them at a typical neck width
        for side, sign in (("left", -1), ("right", 1)):
            nx = _nearest_column(top, int(round(cx + sign * TYPICAL_NECK_HALF * shoulder_span)))
            neck[side] = np.array([nx, top[nx]], np.float64)
    inner = np.arange(int(neck["left"][0]), int(neck["right"][0]) + 1)
    inner = inner[top[inner] >= 0]
    neck_centre = np.array([cx, top[inner].max() if len(inner) else max(top[cx], y0)], np.float64)

    # Body profile: the central run's edges below the armpits (smoothed), the armhole line
    # (armpit → shoulder point) above them, the shoulder points' columns above those.
    profile_y = np.arange(y0, y1 + 1)
    halves = {}
    for side, edge, sign in (("left", left_edge, -1), ("right", right_edge, 1)):
        e = edge[y0:y1 + 1].astype(np.float64)
        e[e < 0] = np.nan
        below = profile_y >= armpit_y[side]
        e[~below] = np.nan
        e = _fill_nan(e, armpit_x[side])
        e = _smooth(e, max(3, height // 25))
        sy, sx = shoulders[side][1], shoulders[side][0]
        t = np.clip((profile_y - sy) / max(1.0, armpit_y[side] - sy), 0, 1)
        hole = sx + t * (armpit_x[side] - sx)
        e = np.where(below, e, hole)
        halves[side] = np.maximum(sign * (e - cx), 0.04 * width)
    # ragged sides (ruffles, ties, a wrap's knot) make the profile less sure
    raw = {s: np.where(edge[y0:y1 + 1] >= 0, edge[y0:y1 + 1], np.nan) for s, edge in
           (("left", left_edge), ("right", right_edge))}
    rough = []
    for side, sign in (("left", -1), ("right", 1)):
        rows = profile_y >= armpit_y[side]
        r = sign * (raw[side][rows] - cx) - halves[side][rows]
        r = r[np.isfinite(r)]
        if len(r):
            rough.append(float(np.median(np.abs(r))) / width)
    roughness = max(rough) if rough else 0.0
    if roughness > 0.02:
        confidence -= min(0.3, 5 * (roughness - 0.02))
        notes.append(f"ragged sides ({roughness:.2f})")

    # Hem corners: the bottom-outer-most body pixels (45° tangent, so rounded hems work too).
    hem = {}
    rows = np.arange(ay, y1 + 1)
    for side, edge, sign in (("left", left_edge, -1), ("right", right_edge, 1)):
        ex = edge[rows]
        ok = ex >= 0
        if ok.any():
            hem[side] = _extreme(rows[ok], ex[ok], sign)
        else:
            hem[side] = np.array([cx + sign * halves[side][-1], y1], np.float64)
            notes.append(f"{side} hem corner put at the bottom")
            confidence -= 0.15
    wy = int(round((ay + min(hem["left"][1], hem["right"][1])) / 2))
    waist = {"left": np.array([cx - np.interp(wy, profile_y, halves["left"]), wy], np.float64),
             "right": np.array([cx + np.interp(wy, profile_y, halves["right"]), wy], np.float64)}
    # left/right disagreement at the waist (an asymmetric cut, a one-sided drape)
    asym = abs(halves["left"][wy - y0] - halves["right"][wy - y0]) / max(1.0, halves["left"][wy - y0]
                                                                          + halves["right"][wy - y0])
    if asym > 0.15:
        confidence -= min(0.3, 2 * (asym - 0.15))
        notes.append(f"left and right differ ({asym:.2f})")

    armpits = {s: np.array([armpit_x[s], armpit_y[s]], np.float64) for s in ("left", "right")}
    body = _body_region(binary.shape, profile_y, cx, halves)
    parts = np.where(binary, PART_BODY, 0).astype(np.uint8)
    sleeves = {}
    if has_sleeves:
        area = binary.sum()
        for side, sign in (("left", -1), ("right", 1)):
            found = _sleeve(binary & ~body, shoulders[side], armpits[side], cx, sign, area)
            if found is not None:
                sleeves[side], piece = found
                parts[piece] = PART_OF_SIDE[side]
        if len(sleeves) == 1:
            notes.append("one sleeve found")
            confidence -= 0.25
    return GarmentLandmarks(
        neck_left=neck["left"], neck_right=neck["right"], neck_centre=neck_centre,
        shoulder_left=shoulders["left"], shoulder_right=shoulders["right"],
        armpit_left=armpits["left"], armpit_right=armpits["right"],
        waist_left=waist["left"], waist_right=waist["right"],
        hem_left=hem["left"], hem_right=hem["right"], sleeves=sleeves, size=binary.shape,
        parts=parts, axis_x=float(cx), top_y=float(y0), bottom_y=float(y1), profile_y=profile_y.astype(np.float64),
        half_left=halves["left"], half_right=halves["right"], confidence=float(np.clip(confidence, 0, 1)),
        notes=notes, top_outline=top.astype(np.float64))


def _symmetry_axis(binary: np.ndarray, x0: int, x1: int, y0: int, y1: int) -> int:
    """The column about which the garment's top 45 % is most mirror-symmetric (a wrap's knot or
    a one-sided drape further down does not move it), searched over the middle 40 % of its width."""
    band = binary[y0: y0 + max(2, int(0.45 * (y1 - y0 + 1))), x0: x1 + 1].astype(np.float32)
    width = band.shape[1]
    f = min(1.0, 128 / width)
    if f < 1.0:
        band = cv2.resize(band, (max(8, round(width * f)), max(2, round(band.shape[0] * f))),
                          interpolation=cv2.INTER_AREA)
    bw = band.shape[1]
    best, best_score = bw / 2, -1.0
    for c2 in range(int(0.6 * bw), int(1.4 * bw) + 1):  # candidate axis at c2 / 2 (half-pixel steps)
        c = c2 / 2
        # mirror of column j about c is 2c - j
        lo, hi = max(0, int(np.ceil(c2 - (bw - 1)))), min(bw - 1, c2)
        if hi - lo < 4:
            continue
        cols = np.arange(lo, hi + 1)
        a, b = band[:, cols], band[:, c2 - cols]
        inter = np.minimum(a, b).sum()
        union = band.sum() * 2 - inter
        score = inter / max(union, 1e-6)
        if score > best_score + 1e-9 or (abs(score - best_score) < 1e-9 and abs(c - bw / 2) < abs(best - bw / 2)):
            best, best_score = c, score
    return int(round(x0 + best / f))


def _nearest_column(top: np.ndarray, x: int) -> int:
    """`x`, or the nearest column that has garment in it."""
    x = int(np.clip(x, 0, len(top) - 1))
    if top[x] >= 0:
        return x
    cols = np.nonzero(top >= 0)[0]
    return int(cols[np.argmin(np.abs(cols - x))])


def _fill_nan(v: np.ndarray, default: float) -> np.ndarray:
    ok = np.isfinite(v)
    if not ok.any():
        return np.full_like(v, default)
    idx = np.arange(len(v))
    return np.interp(idx, idx[ok], v[ok])


def _smooth(v: np.ndarray, k: int) -> np.ndarray:
    """Running median then mean over `k` rows (edges: the nearest value)."""
    k = max(1, int(k) | 1)
    if len(v) < k:
        return v
    pad = np.pad(v, k // 2, mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(pad, k)
    med = np.median(windows, axis=1)
    pad = np.pad(med, k // 2, mode="edge")
    return np.lib.stride_tricks.sliding_window_view(pad, k).mean(axis=1)


def _body_region(shape, profile_y, cx, halves) -> np.ndarray:
    """Bool mask of the garment's body: between its profile's sides, row by row."""
    h, w = shape
    body = np.zeros(shape, bool)
    cols = np.arange(w)[None, :]
    rows = profile_y.astype(int)
    body[rows] = (cols >= (cx - halves["left"])[:, None]) & (cols <= (cx + halves["right"])[:, None])
    return body


def _hanging_sleeves(binary: np.ndarray, cx: int, y0: int, y1: int) -> tuple[int, int, int] | None:
    """(inner x of the left sleeve, inner x of the right sleeve, body's bottom row) when the
    garment continues below its body on both sides (long sleeves hanging past the hem), else
    None."""
    height = y1 - y0 + 1
    centre_rows = np.nonzero(binary[:, cx])[0]
    if not len(centre_rows):
        return None
    body_bottom = int(centre_rows.max())
    if y1 - body_bottom < 0.05 * height:
        return None
    below = binary[body_bottom + 1: y1 + 1]
    left_cols = np.nonzero(below[:, :cx].any(axis=0))[0]
    right_cols = np.nonzero(below[:, cx:].any(axis=0))[0]
    if not len(left_cols) or not len(right_cols):
        return None
    # inner edge: median over the rows just below the body (cuffs may flare further down)
    band = below[: max(2, len(below) // 3)]
    inner_l = [np.nonzero(r[:cx])[0].max() for r in band if r[:cx].any()]
    inner_r = [cx + np.nonzero(r[cx:])[0].min() for r in band if r[cx:].any()]
    if not inner_l or not inner_r:
        return None
    return int(np.median(inner_l)), int(np.median(inner_r)), body_bottom


def _central_run_edges(binary: np.ndarray, cx: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the x of the left and right ends of the mask run containing the centre column
    (−1 where the centre pixel is background, e.g. inside the neck opening)."""
    h, w = binary.shape
    on = binary[:, cx]
    gaps_left = ~binary[:, :cx]
    gaps_right = ~binary[:, cx:]
    # last background column left of cx (+1), first right of it (−1)
    has_l = gaps_left.any(axis=1)
    last_gap = cx - 1 - np.argmax(gaps_left[:, ::-1], axis=1)
    left = np.where(has_l, last_gap + 1, 0)
    has_r = gaps_right.any(axis=1)
    right = np.where(has_r, cx + np.argmax(gaps_right, axis=1) - 1, w - 1)
    return np.where(on, left, -1).astype(np.int32), np.where(on, right, -1).astype(np.int32)


def _armpit_row(edge: np.ndarray, sign: int, y0: int, y1: int) -> tuple[int, bool]:
    """Follow one side edge up from the lower body; return (armpit row, sleeve?)."""
    height = y1 - y0 + 1
    start = y0 + int(0.62 * height)
    step = max(2, height // 50)
    # Outward-positive edge position, smoothed; rows without a central run are skipped.
    pos = np.where(edge >= 0, sign * edge.astype(np.float64), np.nan)
    ref = pos[start: start + 4 * step]
    reference = np.nanmedian(ref) if np.isfinite(ref).any() else np.nan
    for y in range(start, y0 + int(0.12 * height), -1):
        here, above = pos[y], pos[y - step]
        if not (np.isfinite(here) and np.isfinite(above)):
            continue
        slope = (above - here) / step  # outward movement per row, going up
        # the corner lies inside the window [y − step, y]: report its middle
        if slope > 0.9 or (np.isfinite(reference) and above - reference > 0.12 * height):
            return y - step // 2, True
        if slope < -0.9:
            return y - step // 2, False
    return y0 + int(0.25 * height), False


def _extreme(rows: np.ndarray, xs: np.ndarray, sign: int) -> np.ndarray:
    score = rows + sign * xs
    i = int(np.argmax(score))
    return np.array([xs[i], rows[i]], np.float64)


def _sleeve(outside: np.ndarray, shoulder: np.ndarray, armpit: np.ndarray, cx: int, sign: int,
            garment_area: int) -> tuple[Sleeve, np.ndarray] | None:
    """The sleeve = the largest piece of garment outside the body on that side (and its mask),
    with its axis (root → centroid) and its cross-sections along it."""
    side = np.zeros_like(outside)
    if sign < 0:
        side[:, :cx] = outside[:, :cx]
    else:
        side[:, cx:] = outside[:, cx:]
    # the largest piece, and every other piece of some size on that side (a striped sleeve
    # whose light stripes the mask lost comes in bands)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(side.astype(np.uint8), connectivity=8)
    if n <= 1:
        return None
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.zeros(n, bool)
    keep[1:] = (areas >= 0.002 * garment_area) | (areas == areas.max())
    piece = keep[labels]
    ys, xs = np.nonzero(piece)
    if len(xs) < max(30, MIN_SLEEVE_AREA * garment_area):
        return None
    pts = np.stack([xs, ys], axis=1).astype(np.float64)
    origin = (shoulder + armpit) / 2
    axis = pts.mean(axis=0) - origin
    norm = float(np.linalg.norm(axis))
    if norm < 1e-6:
        return None
    axis /= norm
    normal = np.array([-axis[1], axis[0]])
    if (shoulder - origin) @ normal < 0:
        normal = -normal
    s = (pts - origin) @ axis
    t = (pts - origin) @ normal
    length = float(np.percentile(s, 99.5))
    # Cross-sections are measured where the sleeve's full width exists: past both ends of its
    # seam along the axis (a sleeve hanging down has its seam nearly along its axis, the cap
    # above the armpit on its outer side only); above that the tube is taken as straight.
    start = max(0.0, float((shoulder - origin) @ axis), float((armpit - origin) @ axis))
    if length - start < 2:
        return None
    stations = np.linspace(start, length, SLEEVE_STATIONS)
    centre, half = np.zeros(SLEEVE_STATIONS), np.zeros(SLEEVE_STATIONS)
    step = length / (SLEEVE_STATIONS - 1)
    root_half = max(1.0, float(np.linalg.norm(shoulder - armpit)) / 2)
    for i, st in enumerate(stations):
        near = np.abs(s - st) <= max(1.0, step / 2)
        if near.sum() < 3:
            centre[i], half[i] = (centre[i - 1], half[i - 1]) if i else (0.0, root_half)
            continue
        lo, hi = np.percentile(t[near], (1, 99))
        centre[i], half[i] = (lo + hi) / 2, max(1.0, (hi - lo) / 2)
    if start == 0.0:
        # at the root the sleeve is as wide as its seam (its pixels there are cut by the armhole line)
        half[0] = max(half[0], root_half)
    end = origin + axis * length
    end_outer = end + normal * (centre[-1] + half[-1])
    end_inner = end + normal * (centre[-1] - half[-1])
    traced = _sleeve_edges(piece, shoulder, armpit)
    if traced is not None:
        edge_outer, edge_inner = traced
        end_outer, end_inner = edge_outer[-1].copy(), edge_inner[-1].copy()
    else:
        edge_outer = origin + stations[:, None] * axis + (centre + half)[:, None] * normal
        edge_inner = origin + stations[:, None] * axis + (centre - half)[:, None] * normal
        edge_outer, edge_inner = np.vstack([shoulder, edge_outer]), np.vstack([armpit, edge_inner])
    outer = edge_outer
    inner = np.vstack([shoulder, edge_inner])
    return Sleeve(root_outer=shoulder.copy(), root_inner=armpit.copy(), origin=origin, axis=axis, normal=normal,
                  stations=stations, centre=centre, half_width=half, end_outer=end_outer,
                  end_inner=end_inner, outer=outer, inner=inner), piece


def _sleeve_edges(piece: np.ndarray, shoulder: np.ndarray, armpit: np.ndarray,
                  samples: int = 24) -> tuple[np.ndarray, np.ndarray] | None:
    """The sleeve's outer edge (shoulder point → outer cuff corner) and inner edge (armpit →
    inner cuff corner), traced on its outline: the outline's path from the shoulder point
    round the cuff to the armpit (the longer way: the other way is the armhole seam); the cuff
    is the stretch of that path farthest from the seam's middle (within 90 % of the farthest),
    its ends the corners. Each edge resampled to `samples` points; None if the outline
    cannot be traced."""
    closed = cv2.morphologyEx(piece.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    contours, _ = cv2.findContours(closed, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return None
    c = max(contours, key=cv2.contourArea).reshape(-1, 2).astype(np.float64)
    if len(c) < 12:
        return None
    i_s = int(np.argmin(np.linalg.norm(c - shoulder, axis=1)))
    i_a = int(np.argmin(np.linalg.norm(c - armpit, axis=1)))
    if i_s == i_a:
        return None
    n = len(c)
    forward = [(i_s + k) % n for k in range((i_a - i_s) % n + 1)]
    backward = [(i_s - k) % n for k in range((i_s - i_a) % n + 1)]
    path = c[max(forward, backward, key=len)]
    root = (shoulder + armpit) / 2
    far = np.linalg.norm(path - root, axis=1)
    cuff = np.nonzero(far >= 0.9 * far.max())[0]
    j_o, j_i = int(cuff[0]), int(cuff[-1])
    if j_o < 2 or len(path) - 1 - j_i < 2:
        return None

    def resample(poly):
        # the outline's pixel steps smoothed away (the sleeve's map extends its edges: a jagged
        # edge would fan out into streaks), its ends kept
        k = max(1, len(poly) // 12)
        if len(poly) > 2 * k + 2:
            pad = np.pad(poly, ((k, k), (0, 0)), mode="edge")
            smooth = np.stack([np.convolve(pad[:, j], np.ones(2 * k + 1) / (2 * k + 1), mode="valid") for j in (0, 1)], 1)
            smooth[0], smooth[-1] = poly[0], poly[-1]
            poly = smooth
        arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(poly, axis=0), axis=1))])
        t = np.linspace(0, arc[-1], samples)
        return np.stack([np.interp(t, arc, poly[:, 0]), np.interp(t, arc, poly[:, 1])], 1)

    outer = np.vstack([shoulder, path[1:j_o + 1]])
    inner = np.vstack([armpit, path[j_i:-1][::-1]])
    return resample(outer), resample(inner)


NECKLINE_MIN_EDGE = 0.2   # the front neckline's edge, relative to the garment outline's own edge strength
NECKLINE_MIN_CONTRAST = 6  # grey levels: the inside of the back differs this much from the front below it


def _inside_back(gray: np.ndarray, binary: np.ndarray, marks: GarmentLandmarks) -> np.ndarray | None:
    """The inside of the back collar an in-shop photo shows above the front neckline: the
    region between the top outline and the front neckline, found as the strongest edge curve
    running inside the garment from one collar corner to the other (dynamic programming over
    the columns, a couple of pixels of slope per column), kept only when that edge is strong
    and the region above it differs in brightness from the front just below it (the inside is
    in shadow). None when the photo shows no inside (the neck opening is a hole in the mask,
    or nothing separates inside and front)."""
    h, w = binary.shape
    xl, xr = int(marks.neck_left[0]) + 1, int(marks.neck_right[0]) - 1
    if xr - xl < 6:
        return None
    top = np.where(binary.any(axis=0), binary.argmax(axis=0), -1)
    cols = np.arange(xl, xr + 1)
    if (top[cols] < 0).any():
        return None
    height = marks.bottom_y - marks.top_y
    depth = int(max(4, min(0.4 * height, marks.armpit_left[1] - marks.top_y)))
    blur = cv2.GaussianBlur(gray.astype(np.float32), (0, 0), 1.0)
    grad = np.hypot(cv2.Sobel(blur, cv2.CV_32F, 0, 1, ksize=3), 0.5 * cv2.Sobel(blur, cv2.CV_32F, 1, 0, ksize=3))
    # the outline's own edge strength: the scale the neckline's edge is judged against
    outline = np.median([grad[max(0, top[x] - 1): top[x] + 2, x].max() for x in cols]) + 1e-6
    n, m = len(cols), depth
    energy = np.full((n, m), -1e9, np.float32)
    for j, x in enumerate(cols):
        ys = top[x] + 2 + np.arange(m)
        ok = (ys < h) & binary[np.clip(ys, 0, h - 1), x]
        energy[j, ok] = grad[ys[ok], x] / outline
    # Viterbi: start and end near the collar corners (within a few rows of the outline)
    score = np.full(m, -1e9, np.float32)
    score[:4] = energy[0, :4]
    back = np.zeros((n, m), np.int16)
    for j in range(1, n):
        best = np.full(m, -1e9, np.float32)
        arg = np.zeros(m, np.int16)
        for dy in (-2, -1, 0, 1, 2):
            shifted = np.roll(score, dy)
            if dy > 0:
                shifted[:dy] = -1e9
            elif dy < 0:
                shifted[dy:] = -1e9
            better = shifted - 0.05 * abs(dy) > best
            best = np.where(better, shifted - 0.05 * abs(dy), best)
            arg = np.where(better, np.arange(m) - dy, arg)
        score = best + energy[j]
        back[j] = arg
    end = int(np.argmax(score[:4]))
    if score[end] < -1e8:
        return None
    path = [end]
    for j in range(n - 1, 0, -1):
        path.append(int(back[j, path[-1]]))
    offsets = np.array(path[::-1])
    if energy[np.arange(n), offsets].mean() < NECKLINE_MIN_EDGE or offsets.max() < max(3, 0.02 * height):
        return None
    ys = top[cols] + 2 + offsets
    region = np.zeros((h, w), bool)
    for x, y_top, y_line in zip(cols, top[cols], ys):
        region[y_top:y_line, x] = True
    region &= binary
    below = np.zeros((h, w), bool)
    band = max(2, int(0.03 * height))
    for x, y_line in zip(cols, ys):
        below[y_line + 1: y_line + 1 + band, x] = True
    below &= binary & ~region
    if region.sum() < 20 or below.sum() < 20:
        return None
    if abs(float(gray[region].mean()) - float(gray[below].mean())) < NECKLINE_MIN_CONTRAST:
        return None
    return region


# --- the whole analysis of one garment photo --------------------------------------------------


@dataclass
class GarmentAnalysis:
    """Everything the warp needs from one garment photo, computed once per photo.

    rgb:        RGB float32 [0,1], the photo with the background's colour taken out of the
                garment's edge pixels (each filled with the colour just inside), so a soft
                edge shows no halo.
    alpha:      float32 [0,1], the garment's soft outline (anti-aliased from the mask).
    mask:       uint8 0/255.
    marks:      GarmentLandmarks.
    confidence: how surely the garment was told from its background (1 for a given mask;
                lower where much of its outline is close to the background's colour, as
                white garments on white are).
    """

    rgb: np.ndarray
    alpha: np.ndarray
    mask: np.ndarray
    marks: GarmentLandmarks
    confidence: float


def _decontaminate(rgb: np.ndarray, mask: np.ndarray, depth: int) -> np.ndarray:
    """The garment's colour pushed outward over its edge pixels: pixels within `depth` of the
    outline take the colour from just inside (they are mixed with the background in the photo)."""
    inner = cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * depth + 1,) * 2))
    if not inner.any():
        return rgb
    # push-pull: a blur of the inner colour normalised by the blur of the inner mask
    weight = (inner > 0).astype(np.float32)
    out = rgb.copy()
    # the ring inside the outline and a few pixels beyond it (a soft or magnified alpha reaches
    # there: it must find the garment's colour, not the backdrop's or JPEG's ringing)
    beyond = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * depth + 5,) * 2))
    ring = (beyond > 0) & (inner == 0)
    sigma = max(1.0, depth)
    num = cv2.GaussianBlur(rgb * weight[..., None], (0, 0), sigma)
    den = cv2.GaussianBlur(weight, (0, 0), sigma)[..., None]
    filled = num / np.maximum(den, 1e-4)
    out[ring] = filled[ring]
    return out


def analyse_garment(garment_bgr: np.ndarray, given_mask: np.ndarray | None, name: str = "garment",
                    landmarks: bool = True) -> GarmentAnalysis:
    """The whole analysis of one garment photo; BadInputError (only) for what it refuses.
    `landmarks=False` (a lower garment: models.geometric.lower reads its own shape): the matte
    and colour only, `marks` None."""
    try:
        matte = garment_photo_matte(garment_bgr, given_mask, name=name, find_faces=_face_finder())
        mask = matte.mask
        marks = garment_landmarks(mask, name=name, image=garment_bgr) if landmarks else None
        h = mask.shape[0]
        rgb = cv2.cvtColor(garment_bgr, cv2.COLOR_BGR2RGB).astype(np.float32) / 255
        depth = max(1, round(0.004 * h))
        rgb = _decontaminate(rgb, mask, depth)
        # anti-aliased outline: the matte's soft edge (a given mask's edge softened over about a
        # pixel of the output)
        alpha = matte.alpha if given_mask is None else \
            cv2.GaussianBlur(mask.astype(np.float32) / 255, (0, 0), max(0.6, 0.0015 * h))
        return GarmentAnalysis(rgb=rgb, alpha=alpha, mask=mask, marks=marks, confidence=matte.confidence)
    except BadInputError:
        raise
    except (ValueError, IndexError, ZeroDivisionError, FloatingPointError, cv2.error, np.linalg.LinAlgError) as exc:
        # an outline the rules above did not foresee must not crash a batch
        log.exception("garment analysis failed on %s", name)
        raise BadInputError(f"{name}: garment shape not understood ({type(exc).__name__})") from None


# A batch renders every person in the same garments: analyse each garment photo once per
# process (keyed by its content), not once per person.
ANALYSED = ContentCache(32)


@functools.lru_cache(maxsize=1)
def _face_finder():
    """BlazeFace's detect, for the matte's refusal of a garment worn by a person (None where
    the face model is absent: that check is then skipped, and the log says so)."""
    try:
        return BlazeFace.load().detect
    except MissingWeightsError as exc:
        log.warning("garment analysis: face model unavailable (%s); the worn-garment check is skipped", exc)
        return None


def analysed_garment(garment_bgr: np.ndarray, given_mask: np.ndarray | None, name: str = "garment") -> GarmentAnalysis:
    """The garment's analysis, cached by content."""
    return ANALYSED.get_or_compute((garment_bgr, given_mask), lambda: analyse_garment(garment_bgr, given_mask, name))


def analysed_matte(garment_bgr: np.ndarray, given_mask: np.ndarray | None, name: str = "garment") -> GarmentAnalysis:
    """The garment's matte and colour without a top's landmarks (lower garments), cached by content."""
    return ANALYSED.get_or_compute((garment_bgr, given_mask, np.zeros(1, np.uint8)),
                                   lambda: analyse_garment(garment_bgr, given_mask, name, landmarks=False))
