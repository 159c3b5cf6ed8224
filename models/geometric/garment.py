"""Garment side of the geometric chain: the garment's landmarks and parts, from its mask alone.

No network is needed: the mask comes from the background colour or a given cloth mask
(models.garment_photo), the landmarks from the mask's outline:

    mask = garment_mask(garment_bgr)                 # uint8 0/255, garment size
    marks = garment_landmarks(mask)                  # GarmentLandmarks, garment pixel coords
    mask, marks = analysed_garment(garment_bgr, given_mask)   # both, cached by content

Landmarks are named from the viewer's side ("left" = smaller x), which on a front view is the
wearer's right: the left sleeve goes on the person's right arm (COCO-18 keypoints 2-4).
"""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field

import numpy as np

from models.cache import ContentCache
from models.contract import BadInputError
from models.garment_photo import garment_mask
from models.geometric.blazeface import BlazeFace
from models.masks import largest_component
from models.weights import MissingWeightsError

log = logging.getLogger(__name__)

PART_BODY, PART_LEFT_SLEEVE, PART_RIGHT_SLEEVE = 1, 2, 3
# Armpit depth, as a fraction of the shoulder-to-hem height, where the outline does not show it
# (sleeves lying against the body): the T-shirts and the long-sleeved top of the dataset are at 0.38-0.40.
ARMPIT_DEPTH = 0.38
# Neck opening half-width per shoulder span: below MIN the corners were not found; the
# dataset's necklines are 0.16-0.36 of it.
MIN_NECK_HALF, TYPICAL_NECK_HALF = 0.07, 0.2
PART_OF_SIDE = {"left": PART_LEFT_SLEEVE, "right": PART_RIGHT_SLEEVE}


# --- landmarks --------------------------------------------------------------------------------
@dataclass
class Sleeve:
    """One sleeve in garment pixel coordinates. `end_outer`/`end_inner` are the cuff's corners
    (outer = away from the torso); `length` runs from the root (between shoulder and armpit)
    to the cuff."""

    end_outer: np.ndarray
    end_inner: np.ndarray
    length: float

    @property
    def end_centre(self) -> np.ndarray:
        return (self.end_outer + self.end_inner) / 2


@dataclass
class GarmentLandmarks:
    """Named (x, y) points of an upright garment, in its pixel coordinates.

    neck_*:      collar corners (highest points either side of the neck opening) and the
                 lowest point of the neckline on the centre line.
    shoulder_*:  outer ends of the shoulder line (top of the armhole).
    armpit_*:    where the side seam meets the sleeve / armhole.
    hem_*:       lower corners of the body.
    waist_*:     side points halfway between armpit and hem.
    sleeves:     {"left": Sleeve, "right": Sleeve}; absent when sleeveless.
    parts:       label map PART_BODY / PART_LEFT_SLEEVE / PART_RIGHT_SLEEVE of the mask.
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
    # uint8 map of the garment's parts (0 background, PART_BODY, PART_LEFT/RIGHT_SLEEVE), so
    # the warp can move each sleeve with its arm and the body with the torso.
    parts: np.ndarray | None = field(default=None, repr=False)

    @property
    def sleeve_kind(self) -> str:
        """"none", "short" (ends above the elbow) or "long", from the sleeve length relative to
        the shoulder-to-hem length (a full sleeve is about as long as the body)."""
        if not self.sleeves:
            return "none"
        body = np.linalg.norm((self.hem_left + self.hem_right) / 2 - (self.shoulder_left + self.shoulder_right) / 2)
        length = max(s.length for s in self.sleeves.values())
        if length > 0.62 * body:
            return "long"
        return "short" if length > 0.1 * body else "none"

    def points(self) -> dict[str, np.ndarray]:
        named = {k: v for k, v in self.__dict__.items() if isinstance(v, np.ndarray) and k != "parts"}
        for side, s in self.sleeves.items():
            named[f"sleeve_{side}_outer"] = s.end_outer
            named[f"sleeve_{side}_inner"] = s.end_inner
        return named


def garment_landmarks(mask: np.ndarray, name: str = "garment") -> GarmentLandmarks:
    """Landmarks of an upright front-view garment from its 0/255 mask.

    The torso's side edges are followed upward from the hem; the armpit is where an edge stops
    being near-vertical: it swings outward (a sleeve) or jumps outward (a long sleeve that hung
    apart from the body), or swings inward (a sleeveless armhole).
    """
    binary = mask > 127
    ys, xs = np.nonzero(binary)
    if len(xs) < 50:
        raise BadInputError(f"{name}: no garment found on the background")
    x0, x1, y0, y1 = xs.min(), xs.max(), ys.min(), ys.max()
    height = y1 - y0 + 1
    cx = int(round((x0 + x1) / 2))

    top = np.where(binary.any(axis=0), binary.argmax(axis=0), np.iinfo(np.int32).max)
    left_edge, right_edge = _central_run_edges(binary, cx, y0, y1)

    hem_y = y1 - int(0.03 * height)
    armpit_y = {}
    armpit_x = {}
    sleeved = {}
    for side, edge, sign in (("left", left_edge, -1), ("right", right_edge, 1)):
        ay, has_sleeve = _armpit_row(edge, sign, y0, y1)
        armpit_y[side], sleeved[side] = ay, has_sleeve
        armpit_x[side] = float(np.median(edge[max(y0, ay + 1): ay + max(3, height // 40)]))
    ay = int(round((armpit_y["left"] + armpit_y["right"]) / 2))
    has_sleeves = sleeved["left"] and sleeved["right"]
    if not has_sleeves:
        hanging = _hanging_sleeves(binary, cx, y0, y1)
        if hanging is not None:
            # Long sleeves lying against the body along their whole length: the body's sides
            # are the sleeves' inner edges below the body, the armpit at the usual depth.
            inner_left, inner_right, body_bottom = hanging
            ay = y0 + int(ARMPIT_DEPTH * (body_bottom - y0))
            rows = np.arange(ay, body_bottom + 1)
            left_edge[rows] = np.maximum(left_edge[rows], inner_left)
            right_edge[rows] = np.where(right_edge[rows] >= 0, np.minimum(right_edge[rows], inner_right), -1)
            armpit_y = {"left": ay, "right": ay}
            armpit_x = {"left": float(inner_left), "right": float(inner_right)}
            has_sleeves = True

    # Shoulders: above the armpit on the top outline (sleeved), or the outermost point of the
    # strap/armhole region (sleeveless).
    shoulders = {}
    for side, sign in (("left", -1), ("right", 1)):
        if has_sleeves:
            sx = int(round(armpit_x[side]))
            shoulders[side] = np.array([sx, top[sx]], np.float64)
        else:
            band = binary[y0: y0 + max(2, (ay - y0) // 2)]
            cols = np.nonzero(band.any(axis=0))[0]
            sx = cols.min() if sign < 0 else cols.max()
            shoulders[side] = np.array([sx, top[sx]], np.float64)

    # Collar corners: the highest top-outline points between the shoulders, nearest the centre.
    neck = {}
    for side, sign in (("left", -1), ("right", 1)):
        a, b = sorted((int(shoulders[side][0]), cx))
        span = np.arange(a, b + 1)
        span = span[top[span] < np.iinfo(np.int32).max]
        best = top[span].min()
        near = span[top[span] <= best + max(1, height // 100)]
        nx = near.max() if sign < 0 else near.min()
        neck[side] = np.array([nx, top[nx]], np.float64)
    shoulder_span = shoulders["right"][0] - shoulders["left"][0]
    if neck["right"][0] - neck["left"][0] < 2 * MIN_NECK_HALF * shoulder_span:
        # a flat top outline (the photo shows the back of the collar): no corners to find,
        # so put them at a typical neck width
        for side, sign in (("left", -1), ("right", 1)):
            nx = int(round(cx + sign * TYPICAL_NECK_HALF * shoulder_span))
            neck[side] = np.array([nx, top[nx]], np.float64)
    inner = np.arange(int(neck["left"][0]), int(neck["right"][0]) + 1)
    neck_centre = np.array([cx, top[inner].max() if len(inner) else top[cx]], np.float64)

    # Hem corners: the bottom-outer-most body pixels (45° tangent, so rounded hems work too).
    hem = {}
    rows = np.arange(ay, y1 + 1)
    lx, rx = left_edge[rows], right_edge[rows]
    ok = lx >= 0
    hem["left"] = _extreme(rows[ok], lx[ok], -1)
    hem["right"] = _extreme(rows[ok], rx[ok], 1)
    wy = int(round((ay + min(hem["left"][1], hem["right"][1])) / 2))
    waist = {"left": np.array([left_edge[wy], wy], np.float64), "right": np.array([right_edge[wy], wy], np.float64)}

    armpits = {s: np.array([armpit_x[s], armpit_y[s]], np.float64) for s in ("left", "right")}
    sleeves = {}
    parts = np.where(binary, PART_BODY, 0).astype(np.uint8)
    if has_sleeves:
        torso = _torso_region(binary.shape, left_edge, right_edge, shoulders, armpits, y0, y1)
        for side, sign in (("left", -1), ("right", 1)):
            found = _sleeve(binary & ~torso, shoulders[side], armpits[side], cx, sign)
            if found is not None:
                sleeves[side], piece = found
                parts[piece] = PART_OF_SIDE[side]
    return GarmentLandmarks(
        neck_left=neck["left"], neck_right=neck["right"], neck_centre=neck_centre,
        shoulder_left=shoulders["left"], shoulder_right=shoulders["right"],
        armpit_left=armpits["left"], armpit_right=armpits["right"],
        waist_left=waist["left"], waist_right=waist["right"],
        hem_left=hem["left"], hem_right=hem["right"], sleeves=sleeves, size=mask.shape[:2],
        parts=parts)


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


def _central_run_edges(binary: np.ndarray, cx: int, y0: int, y1: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the x of the left and right ends of the mask run containing the centre column
    (−1 where the centre pixel is background, e.g. inside the neck opening)."""
    h, w = binary.shape
    left = np.full(h, -1, np.int32)
    right = np.full(h, -1, np.int32)
    for y in range(y0, y1 + 1):
        row = binary[y]
        if not row[cx]:
            continue
        gaps_left = np.nonzero(~row[:cx])[0]
        gaps_right = np.nonzero(~row[cx:])[0]
        left[y] = gaps_left.max() + 1 if len(gaps_left) else 0
        right[y] = cx + gaps_right.min() - 1 if len(gaps_right) else w - 1
    return left, right


def _armpit_row(edge: np.ndarray, sign: int, y0: int, y1: int) -> tuple[int, bool]:
    """Follow one side edge up from the lower body; return (armpit row, sleeve?)."""
    height = y1 - y0 + 1
    start = y0 + int(0.62 * height)
    step = max(2, height // 50)
    # Outward-positive edge position, smoothed; rows without a central run are skipped.
    pos = np.where(edge >= 0, sign * edge.astype(np.float64), np.nan)
    reference = np.nanmedian(pos[start: start + 4 * step]) if np.isfinite(pos[start: start + 4 * step]).any() else np.nan
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


def _torso_region(shape, left_edge, right_edge, shoulders, armpits, y0, y1) -> np.ndarray:
    """Boolean mask of the garment's body: between the side edges below the armpits, between
    the shoulder–armpit lines above them."""
    h, w = shape
    torso = np.zeros(shape, bool)
    cols = np.arange(w)
    for y in range(y0, y1 + 1):
        bounds = []
        for side in ("left", "right"):
            sh, ap = shoulders[side], armpits[side]
            if y >= ap[1]:
                bounds.append(left_edge[y] if side == "left" else right_edge[y])
            else:
                t = (y - sh[1]) / max(1e-6, ap[1] - sh[1])
                bounds.append(sh[0] + np.clip(t, 0, 1) * (ap[0] - sh[0]))
        if bounds[0] >= 0 and bounds[1] >= 0:
            torso[y] = (cols >= bounds[0]) & (cols <= bounds[1])
    return torso


def _sleeve(outside: np.ndarray, shoulder: np.ndarray, armpit: np.ndarray, cx: int,
            sign: int) -> tuple[Sleeve, np.ndarray] | None:
    """The sleeve = the largest piece of garment outside the body on that side (and its mask)."""
    side = np.zeros_like(outside)
    if sign < 0:
        side[:, :cx] = outside[:, :cx]
    else:
        side[:, cx:] = outside[:, cx:]
    piece = largest_component(side.astype(np.uint8) * 255) > 0
    ys, xs = np.nonzero(piece)
    if len(xs) < 30:
        return None
    pts = np.stack([xs, ys], axis=1).astype(np.float64)
    root = (shoulder + armpit) / 2
    # The sleeve's axis runs from its root through its centroid (the farthest pixel can be a
    # corner of a stubby cap sleeve; the centroid is not).
    axis = pts.mean(axis=0) - root
    axis /= max(1e-6, np.linalg.norm(axis))
    along = (pts - root) @ axis
    length = float(along.max())
    # Cuff corners: the sleeve's extent across its axis over its last 30 %, placed at the full
    # length (a slanted or rounded cuff has no sharp corners; this is its bounding strip).
    normal = np.array([-axis[1], axis[0]])
    across = (pts[along > 0.7 * length] - root) @ normal
    end = root + axis * length
    a, b = end + normal * across.min(), end + normal * across.max()
    # outer = the cuff corner on the shoulder's side of the sleeve axis (the arm's outer edge)
    outer, inner = (b, a) if (shoulder - root) @ normal > 0 else (a, b)
    return Sleeve(end_outer=outer, end_inner=inner, length=length), piece


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


def analysed_garment(garment_bgr: np.ndarray, given_mask: np.ndarray | None, name: str = "garment"):
    """(mask, landmarks) of a garment photo, cached by content."""
    def analyse():
        mask = garment_mask(garment_bgr, given_mask, name=name, find_faces=_face_finder())
        return mask, garment_landmarks(mask, name=name)
    return ANALYSED.get_or_compute((garment_bgr, given_mask), analyse)
