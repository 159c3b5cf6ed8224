"""Lower garments (trousers, shorts, skirts) in the geometric chain: the garment's outline read,
then laid onto the hips and legs.

    shape = lower_shape(mask)                      # waistband, crotch, the two legs (or one piece)
    parts, measures = warp_lower(analysis, shape, layers, hw)

The garment photo is upright and seen from the front. Its **waistband** is its top edge; its
**crotch** is the top of the gap between the legs on the garment's centre line (a gap that
reaches the hem); below it each **leg** is the run of garment on its side of the centre line,
row by row (centre, half-width). A garment without such a gap (a skirt, or trousers photographed
with their legs touching) is one piece.

On the person (one backward map, person pixel → garment pixel, evaluated every h / GRID_ROWS
pixels of the garment's window and resized):

    scale   the seat's frontal width (its widest row above the crotch, flat width × FLAT_TO_FRONT)
            on the person's hips (half-widths from the silhouette at the hip joints' depth)
    lengths the width's scale, except full-length trousers (inseam ≥ FULL_LENGTH × the seat's
            flat width): their hems reach the person's heels (within LENGTH_RANGE of it)
    place   trousers: the crotch on the person's (where the legs part on the silhouette, else
            layers.CROTCH_DEPTH), so the garment's own rise says where its waistband is; a
            skirt: its waistband at layers.WAISTBAND
    hips    waistband → crotch, row by row like a top's body: the target half-width at each
            depth is the garment's own, kept between the body's silhouette and MAX_LOOSENESS
            times it (a skirt: at least the body's, no upper bound: it hangs as cut)
    legs    below the crotch, along each leg's line (hip → knee → ankle → heel, layers.LegFit):
            the arc length from the crotch's depth picks the garment row, the offset across the
            line (relative to the target: the garment leg's own frontal half-width, at least the
            person's leg) picks the column from the garment leg's centre; each person pixel
            takes the nearer leg
    seam    across the crotch the two maps are blended over CROTCH_BLEND torso lengths

Measures (judged in models/qa.py): matte_confidence, landmark_confidence (a lower garment's
shape: a waistband, legs of a plausible length and symmetry), fit_strain (how far the body
bent the garment's width at the hips), person_turn.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from models.contract import BadInputError
from models.geometric.garment import PART_BODY, GarmentAnalysis, analysed_matte
from models.geometric.layers import WAISTBAND, BodyFit, LegFit
# as for a top's body: worn, the front shows FLAT_TO_FRONT of the flat width; at the hips a
# garment stands off the body by at most MAX_LOOSENESS; the photo read at the smallest level
# not magnified more than MAX_MAGNIFICATION
from models.geometric.part_warp import FLAT_TO_FRONT, MAX_LOOSENESS, MAX_MAGNIFICATION, WarpedPart, grid_maps

LEG_ROOM = 1.08            # a trouser leg is at least this much wider than the leg it covers
FULL_LENGTH = 1.2          # inseam / the seat's flat width: full-length trousers (shorts and crops are shorter)
LENGTH_RANGE = (0.7, 1.4)  # × the width's scale: how far a full-length hem may stretch or shrink the lengths
WAIST_RANGE = (0.6, 1.1)   # tl below the neck: a waistband sits between the natural waist and the hips
CROTCH_BLEND = 0.05        # tl: the hips' and the legs' maps are blended over ± this around the crotch
MIN_GAP = 0.15             # of the garment's height: a shorter gap between the legs is no gap (one piece)
GAP_ZONE = 0.3             # of the waistband's half-width: the gap between the legs is looked for this near the centre
TOP_SHARE = 0.3            # of the height: a lower garment's top part, where a top would show its sleeves
GAP_MIN_PX = 2             # analysis pixels: a narrower opening is a seam's shadow, not a gap
BACKDROP_DELTA_E = 10.0    # Lab distance from the border's colour within which a pixel shows the backdrop
GAP_SHARE = 0.8            # of the rows from the crotch to the hem: the gap shows in at least these (hems may touch)
WAIST_ROWS = 0.03          # of the height: the waistband's width is read over these top rows
ANALYSIS_HEIGHT = 512
GRID_ROWS = 512            # the map is evaluated every h / GRID_ROWS px (at least 2) and resized


@dataclass
class LowerShape:
    """A lower garment's outline, in its photo's pixels.

    axis_x, top_y, bottom_y: the centre line, the waistband's row, the hem's lowest row
    waist_half: half the waistband's width
    rows: garment rows; half_left, half_right: the outline's distance from the axis per row
    crotch_y: the crotch's row (None: one piece, a skirt)
    leg_centre, leg_half: side → per row, the leg's centre column and half-width (NaN above the crotch)
    confidence: 1 for a clear waistband and two symmetric legs; lower for each doubt (`notes`)
    """

    axis_x: float
    top_y: float
    bottom_y: float
    waist_half: float
    rows: np.ndarray
    half_left: np.ndarray
    half_right: np.ndarray
    crotch_y: float | None
    leg_centre: dict
    leg_half: dict
    confidence: float
    notes: list
    gap: np.ndarray | None = None   # bool, analysis size: the backdrop between the legs (not garment)
    seat_half: float = 0.0          # half the widest row above the crotch (a skirt: in its top TOP_SHARE)


    def half(self, side: str, y) -> np.ndarray:
        return np.interp(y, self.rows, self.half_left if side == "left" else self.half_right)

    def leg(self, side: str, y) -> tuple[np.ndarray, np.ndarray]:
        """(centre column, half-width) of a leg at rows y (the crotch's values above it)."""
        ok = np.isfinite(self.leg_centre[side])
        return (np.interp(y, self.rows[ok], self.leg_centre[side][ok]),
                np.interp(y, self.rows[ok], self.leg_half[side][ok]))


def backdrop_like(image_bgr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bool mask (at `size`, w×h) of the photo's pixels within BACKDROP_DELTA_E of its border's
    median colour: the backdrop seen between a garment's legs, which the garment matte may
    have filled as a hole in a print."""
    small = cv2.resize(image_bgr, size, interpolation=cv2.INTER_AREA)
    lab = cv2.cvtColor(small, cv2.COLOR_BGR2LAB).astype(np.float32)
    border = np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]])
    return np.linalg.norm(lab - np.median(border, axis=0), axis=2) < BACKDROP_DELTA_E


def lower_shape(mask: np.ndarray, name: str = "garment", image: np.ndarray | None = None) -> LowerShape:
    """The lower garment's shape from its 0/255 mask (analysed at ≤ ANALYSIS_HEIGHT rows, in the
    photo's pixels); with the photo (BGR), the backdrop's colour inside the mask near the centre
    line counts as the gap between the legs too. BadInputError where there is no garment at all."""
    h, w = mask.shape[:2]
    f = min(1.0, ANALYSIS_HEIGHT / h)
    size = (max(1, round(w * f)), max(1, round(h * f)))
    small = mask if f == 1.0 else cv2.resize(mask, size, interpolation=cv2.INTER_AREA)
    binary = small > 127
    # the garment without backdrop-coloured pixels (for the gap between the legs only)
    solid = binary & ~backdrop_like(image, size) if image is not None else binary
    ys = np.nonzero(binary.any(axis=1))[0]
    if len(ys) < 8:
        raise BadInputError(f"{name}: no lower garment found")
    y0, y1 = int(ys[0]), int(ys[-1])
    height = y1 - y0 + 1
    notes, confidence = [], 1.0
    band = max(1, int(round(WAIST_ROWS * height)))
    lefts, rights = [], []
    for y in range(y0, y0 + band + 1):
        xs = np.nonzero(binary[y])[0]
        if len(xs):
            lefts.append(xs[0])
            rights.append(xs[-1])
    axis = (np.median(lefts) + np.median(rights)) / 2
    waist_half = max(1.0, (np.median(rights) - np.median(lefts) + 1) / 2)
    rows = np.arange(y0, y1 + 1)
    half_l = np.full(len(rows), np.nan)
    half_r = np.full(len(rows), np.nan)
    for i, y in enumerate(rows):
        xs = np.nonzero(binary[y])[0]
        if len(xs):
            half_l[i], half_r[i] = max(0.0, axis - xs[0]), max(0.0, xs[-1] - axis)
    half_l, half_r = _filled(half_l), _filled(half_r)
    # the gap between the legs: background near the centre line (within GAP_ZONE of the
    # waistband's half-width) in most rows from some row down to the hem (flared hems may touch)
    c = int(round(axis))
    zone = max(1, int(round(GAP_ZONE * waist_half)))
    lo_x, hi_x = max(0, c - zone), min(binary.shape[1], c + zone + 1)
    gap_at = np.full(len(rows), np.nan)
    for i, y in enumerate(rows):
        free = np.nonzero(~solid[y, lo_x:hi_x])[0]
        if len(free) >= GAP_MIN_PX:
            gap_at[i] = lo_x + free[np.argmin(np.abs(lo_x + free - c))]
    has_gap = np.isfinite(gap_at)
    crotch = None
    for i in np.nonzero(has_gap)[0]:
        below = has_gap[i:]
        if len(below) >= MIN_GAP * height and below.mean() >= GAP_SHARE and has_gap[i:i + 3].all():
            crotch = int(rows[i])
            break
    leg_centre = {"left": np.full(len(rows), np.nan), "right": np.full(len(rows), np.nan)}
    leg_half = {"left": np.full(len(rows), np.nan), "right": np.full(len(rows), np.nan)}
    if crotch is not None:
        split = _filled(np.where(rows >= crotch, gap_at, np.nan))
        for i, y in enumerate(rows):
            if y < crotch:
                continue
            m = int(round(split[i]))
            for side, cols in (("left", np.nonzero(solid[y, :m])[0]), ("right", m + np.nonzero(solid[y, m:])[0])):
                if len(cols):
                    leg_centre[side][i] = (cols[0] + cols[-1]) / 2
                    leg_half[side][i] = max(1.0, (cols[-1] - cols[0] + 1) / 2)
        lengths = {side: int(np.isfinite(leg_centre[side]).sum()) for side in leg_centre}
        if min(lengths.values()) < 0.5 * max(lengths.values()) or min(lengths.values()) < 4:
            notes.append("legs of different lengths")
            confidence -= 0.4
            if min(lengths.values()) < 4:
                crotch = None
                leg_centre = {s: np.full(len(rows), np.nan) for s in leg_centre}
    gap = None
    if crotch is not None:
        # between the legs' inner edges below the crotch: the backdrop, whatever the matte said
        gap = np.zeros_like(binary)
        for i, y in enumerate(rows):
            if y >= crotch and np.isfinite(leg_centre["left"][i]) and np.isfinite(leg_centre["right"][i]):
                inner_l = int(leg_centre["left"][i] + leg_half["left"][i])
                inner_r = int(round(leg_centre["right"][i] - leg_half["right"][i]))
                if inner_r > inner_l:
                    gap[y, inner_l:inner_r + 1] = True
    # a top (sleeves) or a dress (shoulders, then a narrow waist) is far wider than its top edge
    # near its top; trousers and skirts widen gradually from the waistband
    upper_rows = slice(0, max(1, int(TOP_SHARE * len(rows))))
    widest = float(np.max(half_l[upper_rows] + half_r[upper_rows])) / 2
    if widest > 1.6 * waist_half:
        notes.append("waistband much narrower than the garment (not a lower garment?)")
        confidence -= 0.4
    if abs(np.median(half_l) - np.median(half_r)) > 0.25 * waist_half:
        notes.append("sides not symmetric")
        confidence -= 0.2
    aspect = height / max(1.0, float(np.max(half_l + half_r)))
    if aspect < 0.5:
        notes.append("much wider than long")
        confidence -= 0.3
    above = rows < (crotch if crotch is not None else rows[upper_rows.stop - 1] + 1)
    seat_half = float(np.max((half_l + half_r)[above])) / 2 if above.any() else waist_half
    s = 1 / f
    return LowerShape(axis_x=axis * s, top_y=y0 * s, bottom_y=y1 * s, waist_half=waist_half * s, rows=rows * s,
                      half_left=half_l * s, half_right=half_r * s, crotch_y=None if crotch is None else crotch * s,
                      leg_centre={k: v * s for k, v in leg_centre.items()},
                      leg_half={k: v * s for k, v in leg_half.items()},
                      confidence=float(np.clip(confidence, 0, 1)), notes=notes, gap=gap,
                      seat_half=seat_half * s)


def analysed_lower(garment_bgr: np.ndarray, given_mask: np.ndarray | None,
                   name: str = "garment") -> tuple[GarmentAnalysis, LowerShape]:
    """The garment's matte (cached by content, models.geometric.garment) and its lower-garment
    shape (kept on the analysis: computed once per garment and process)."""
    analysis = analysed_matte(garment_bgr, given_mask, name)
    shape = analysis.__dict__.get("_lower_shape")
    if shape is None:
        shape = analysis._lower_shape = lower_shape(analysis.mask, name, garment_bgr)
    return analysis, shape


def _filled(v: np.ndarray) -> np.ndarray:
    ok = np.isfinite(v)
    if not ok.any():
        return np.zeros_like(v)
    return np.interp(np.arange(len(v)), np.nonzero(ok)[0], v[ok])


@dataclass
class LowerPlacement:
    k: float           # garment px → person px along the body (lengths)
    k_across: float    # garment px → person px across it (widths)
    d_waist: float     # person depth (px below the neck) of the waistband
    d_crotch: float | None
    squeeze: dict      # side → how much the hips' fit narrowed (or widened) the garment at the crotch


def _leg_line_from(legs: LegFit, fit: BodyFit, side: str, depth: float) -> np.ndarray:
    """The leg's line (hip → knee → ankle → heel) starting where it reaches `depth` (px below
    the neck; the thigh's line is extended above the hip joint if needed)."""
    line = legs.lines[side]
    hip, knee = line[0], line[1]
    d_hip, d_knee = float((hip - fit.neck) @ fit.down), float((knee - fit.neck) @ fit.down)
    t = (depth - d_hip) / max(1e-6, d_knee - d_hip)
    return np.vstack([hip + t * (knee - hip), line[1:]])


def lower_placement(shape: LowerShape, fit: BodyFit, legs: LegFit) -> LowerPlacement:
    """Widths: the garment's seat (its widest row above the crotch) on the person's hips (the
    body's half-widths at the hip joints' depth: below most tops' hems, so a loose top does not
    widen the trousers). Lengths: the same scale, except full-length trousers (inseam at least
    FULL_LENGTH × the seat's flat width), whose hems reach the heels. Trousers: the crotch on
    the person's (LegFit.crotch), so a high-waisted pair rises higher; a skirt: the waistband
    at layers.WAISTBAND. The waistband stays within WAIST_RANGE."""
    hips = float(fit.half("left", fit.tl) + fit.half("right", fit.tl)) / 2
    k_across = hips / (FLAT_TO_FRONT * max(1.0, shape.seat_half))
    k = k_across
    d_waist = WAISTBAND * fit.tl
    if shape.crotch_y is not None:
        inseam = shape.bottom_y - shape.crotch_y
        if inseam >= FULL_LENGTH * 2 * shape.seat_half:
            reach = np.mean([np.linalg.norm(np.diff(_leg_line_from(legs, fit, side, legs.crotch), axis=0), axis=1).sum()
                             for side in ("left", "right")])
            k = float(np.clip(reach / max(1.0, inseam), LENGTH_RANGE[0] * k_across, LENGTH_RANGE[1] * k_across))
        d_waist = float(np.clip(legs.crotch - (shape.crotch_y - shape.top_y) * k,
                                WAIST_RANGE[0] * fit.tl, WAIST_RANGE[1] * fit.tl))
    d_crotch = None if shape.crotch_y is None else d_waist + (shape.crotch_y - shape.top_y) * k
    squeeze = {"left": 1.0, "right": 1.0}
    if d_crotch is not None:
        for side in squeeze:
            own = k_across * FLAT_TO_FRONT * float(shape.half(side, shape.crotch_y))
            b = float(fit.half(side, d_crotch))
            squeeze[side] = float(np.clip(own, b, MAX_LOOSENESS * b)) / max(own, 1e-3)
    return LowerPlacement(k=k, k_across=k_across, d_waist=d_waist, d_crotch=d_crotch, squeeze=squeeze)


def _hips_map(shape: LowerShape, fit: BodyFit, place: LowerPlacement, a: np.ndarray, d: np.ndarray):
    """Garment (x, y) of person pixels at across offsets a (from the centre line) and depths d,
    row by row."""
    y = shape.top_y + (d - place.d_waist) / place.k
    skirt = shape.crotch_y is None
    xs = {}
    for side in ("left", "right"):
        g = shape.half(side, y)
        b = fit.half(side, d)
        own = place.k_across * FLAT_TO_FRONT * g
        target = np.maximum(own, b) if skirt else np.clip(own, b, MAX_LOOSENESS * b)
        xs[side] = shape.axis_x + a * g / np.maximum(target, 1e-3)
    return np.where(a < 0, xs["left"], xs["right"]), y


def _tube_coords(line: np.ndarray, xy: np.ndarray, outward: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(arc length along the polyline from its first point, signed offset: + towards `outward`)
    of points xy (M, 2); the first and last segments run on beyond their ends."""
    best_d = np.full(len(xy), np.inf)
    arc_out = np.zeros(len(xy))
    off_out = np.zeros(len(xy))
    arc0 = 0.0
    n = len(line) - 1
    for i, (p, q) in enumerate(zip(line[:-1], line[1:])):
        seg = q - p
        length = max(1e-6, float(np.linalg.norm(seg)))
        u = seg / length
        normal = np.array([-u[1], u[0]])
        if normal @ outward < 0:
            normal = -normal
        rel = xy - p
        t = rel @ u
        lo = -np.inf if i == 0 else 0.0
        hi = np.inf if i == n - 1 else length
        tc = np.clip(t, lo, hi)
        off = rel @ normal
        dist = np.hypot(t - tc, off)
        better = dist < best_d
        best_d = np.where(better, dist, best_d)
        arc_out = np.where(better, arc0 + tc, arc_out)
        off_out = np.where(better, off, off_out)
        arc0 += length
    return arc_out, off_out


def _legs_map(shape: LowerShape, fit: BodyFit, legs: LegFit, place: LowerPlacement, xy: np.ndarray):
    """Garment (x, y) of person pixels xy along the nearer leg."""
    out_x, out_y, best = np.zeros(len(xy)), np.zeros(len(xy)), np.full(len(xy), np.inf)
    for side in ("left", "right"):
        outward = -fit.across if side == "left" else fit.across
        # the leg's line from the crotch's depth (the hip joint moved along the thigh to it)
        tube = _leg_line_from(legs, fit, side, place.d_crotch)
        arcs = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(tube, axis=0), axis=1))])
        halves = legs.half[side]
        s, off = _tube_coords(tube, xy, outward)
        y = shape.crotch_y + s / place.k
        centre, g = shape.leg(side, y)
        person_half = np.interp(s, arcs, halves)
        # the legs narrowed (or widened) as the hips were at the crotch: no step at the seam
        target = np.maximum(place.squeeze[side] * place.k_across * FLAT_TO_FRONT * g, LEG_ROOM * person_half)
        sign = -1.0 if side == "left" else 1.0     # the garment's outer side
        x = centre + sign * off * g / np.maximum(target, 1e-3)
        # the nearer leg: by offset relative to the target (the wider trouser leg wins between them)
        score = np.abs(off) / np.maximum(target, 1e-3)
        better = score < best
        best = np.where(better, score, best)
        out_x, out_y = np.where(better, x, out_x), np.where(better, y, out_y)
    return out_x, out_y


def lower_map(shape: LowerShape, fit: BodyFit, legs: LegFit, place: LowerPlacement, xy: np.ndarray):
    """Garment (x, y) for person pixels xy (M, 2)."""
    a, d = fit.coords(xy)
    a = a - fit.shift
    hx, hy = _hips_map(shape, fit, place, a, d)
    if place.d_crotch is None:
        return hx, hy
    band = CROTCH_BLEND * fit.tl
    w = np.clip((d - (place.d_crotch - band)) / (2 * band), 0, 1)
    legs_rows = w > 0
    lx, ly = hx.copy(), hy.copy()
    if legs_rows.any():
        lx[legs_rows], ly[legs_rows] = _legs_map(shape, fit, legs, place, xy[legs_rows])
    return (1 - w) * hx + w * lx, (1 - w) * hy + w * ly


def lower_strain(shape: LowerShape, fit: BodyFit, place: LowerPlacement) -> float:
    """How far the body bent the garment's own width at the hips (0: not at all)."""
    bottom = shape.crotch_y if shape.crotch_y is not None else shape.top_y + 0.3 * (shape.bottom_y - shape.top_y)
    ys = np.linspace(shape.top_y + WAIST_ROWS * (shape.bottom_y - shape.top_y), bottom, 8)   # below the corners
    d = place.d_waist + (ys - shape.top_y) * place.k
    worst = 0.0
    for side in ("left", "right"):
        own = place.k_across * FLAT_TO_FRONT * shape.half(side, ys)
        b = fit.half(side, d)
        worst = max(worst, float(np.max(np.maximum(1 - own / b, own / (MAX_LOOSENESS * b) - 1))))
    return max(0.0, worst)


def _source(analysis, shape: LowerShape, level: int) -> np.ndarray:
    """The garment as RGBA uint8 at 1/level of its photo's size (area-averaged; no alpha in the
    gap between the legs), cached."""
    cache = analysis.__dict__.setdefault("_lower_sources", {})
    if level not in cache:
        alpha = analysis.alpha
        if shape.gap is not None:
            h, w = alpha.shape
            gap = cv2.resize(shape.gap.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST)
            alpha = alpha * (1 - cv2.GaussianBlur(gap.astype(np.float32), (0, 0), max(0.6, 0.0015 * h)))
        rgba = np.dstack([np.clip(analysis.rgb * 255 + 0.5, 0, 255), np.clip(alpha * 255 + 0.5, 0, 255)]
                         ).astype(np.uint8)
        if level != 1:
            h, w = rgba.shape[:2]
            rgba = cv2.resize(rgba, (max(2, round(w / level)), max(2, round(h / level))), interpolation=cv2.INTER_AREA)
        cache[level] = rgba
    return cache[level]


def warp_lower(analysis, shape: LowerShape, fit: BodyFit, legs: LegFit, hw: tuple[int, int]):
    """([WarpedPart], measures) of one lower garment on one person."""
    place = lower_placement(shape, fit, legs)
    h, w = hw
    # the window: from above the waistband to below the heels, across the hips and both legs
    d_bottom = place.d_waist + (shape.bottom_y - shape.top_y) * place.k
    reach = MAX_LOOSENESS * max(fit.half_left.max(), fit.half_right.max()) + place.k_across * max(
        shape.half_left.max(), shape.half_right.max())
    pts = [fit.point(np.array([-reach, reach]), np.array([place.d_waist, place.d_waist]) - 0.05 * fit.tl)]
    for side, line in legs.lines.items():
        pad = place.k_across * np.nanmax(np.where(np.isfinite(shape.leg_half[side]), shape.leg_half[side], 0)) \
            + 2 * legs.half[side].max()
        pts.append(line - pad)
        pts.append(line + pad)
    pts.append(fit.point(np.array([-reach, reach]), np.array([d_bottom, d_bottom]) + 0.05 * fit.tl))
    pts = np.vstack(pts)
    x0, y0 = np.floor(pts.min(0)).astype(int)
    x1, y1 = np.ceil(pts.max(0)).astype(int)
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    measures = {"matte_confidence": analysis.confidence, "landmark_confidence": shape.confidence,
                "fit_strain": lower_strain(shape, fit, place), "person_turn": abs(fit.turn)}
    if x1 - x0 < 2 or y1 - y0 < 2:
        return [], measures
    # the map every h / GRID_ROWS px (at least 2), resized: between the legs
    # the nearer-leg switch is then smeared over that step, where the gap leaves no cloth anyway
    step = max(2, hw[0] // GRID_ROWS)
    map_x, map_y, _ = grid_maps((x0, y0, x1, y1), step,
                                 lambda xy: np.stack(lower_map(shape, fit, legs, place, xy.astype(np.float64)), 1))
    level = max([f for f in (1, 2, 4) if max(place.k, place.k_across) * f <= MAX_MAGNIFICATION] or [1])
    source = _source(analysis, shape, level)
    map_x, map_y = map_x / level, map_y / level
    out = cv2.remap(source, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return [WarpedPart(PART_BODY, (x0, y0, x1, y1), out[..., :3], out[..., 3])], measures
