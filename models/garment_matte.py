"""Garment matte of a catalogue photo: soft alpha, binary mask, confidence — or a refusal.

A catalogue ("in-shop") photo shows ONE garment, front view, on a plain backdrop that
touches the photo's border and is smooth there (flat, a gentle vignette or gradient, a soft
cast shadow). Everything below follows from that description rather than from constants
fitted to a few photos; every photo is segmented at the same working size (WORK_AREA pixels,
256-px photos upsampled), so pixel constants mean the same for all.

1. Backdrop model: a quadratic Lab fit to the border's dominant colour (its mode: a shadow
   or the garment reaching the border are outliers), tolerance from the border's pixel noise
   (local differences, not the fit's misfit). A border that is neither backdrop nor its
   shadow (a scene) is refused.
2. Cues per pixel: garment evidence (a chroma or a lightness the backdrop cannot have even in
   shadow, darker than any shadow, fabric texture; JPEG ringing next to a contrasted outline
   does not count), backdrop-like (its colour or a shadow of it: darker, same chroma) and
   smooth (no shading at the scale of folds), and step edges: the gradient at the photo's
   pixel scale minus the gradient 3× coarser (a soft shadow is alike at both scales), found at
   up to twice the working resolution so a white garment's 1-px outline survives.
3. Seeds: the backdrop reached from the border by rolling discs, largest first, a smaller disc
   never rolling on into a place much wider than itself (a disc that squeezes through a break
   in the outline cannot flood the garment behind it; a bay or an armpit gap is reached by a
   disc of its own size). Garment seeds: sure evidence and whatever lies deep behind the
   backdrop's reach.
4. A minimum cut between the seeds (Boykov–Kolmogorov max-flow, OpenCV's graph-cut seam
   finder) whose cost is low only on step edges: the outline is closed where it fades by the
   shortest way, a soft shadow is passed by. Then: slivers of backdrop with an open mouth are
   opened, backdrop that leaked in behind a thin wall is filled, narrow backdrop channels that
   run through the garment or come as a comb along its outline (light stripes) are fabric,
   enclosed holes are filled unless they are true openings (a sharp fabric edge all round,
   behind a thin wall of clearly non-backdrop fabric: between straps, above a neckline).
5. At the photo's resolution (≤ REFINE_SIDE), in a band around the outline only: where the
   garment's colour differs clearly from the backdrop, alpha is the colour's projection on
   backdrop→garment (no halo); elsewhere a guided filter turns the cut into a soft edge.
6. Refusals: a person (a skin-coloured face at the top of the object on a head narrow next to
   what is below, with backdrop on both sides — not a printed face, not a pattern; the face is
   also looked for in a view of the object's top at the photo's resolution, for full-body
   photos), an object that is not garment-shaped (too small in the frame, far from mirror
   symmetric: a mug with its handle), no garment found.

    matte = garment_matte(image_bgr, "catalogue/tee.jpg")
    matte.alpha      float32 [0,1], image size
    matte.mask       uint8 0/255, image size
    matte.confidence float in [0,1]
    matte.hooks      what the landmark step can use (outline smoothness, symmetry, ...)

Any input raises nothing but BadInputError (one line: the object and the reason).
"""
from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from models.contract import BadInputError
from models.masks import fill_holes, largest_component

log = logging.getLogger(__name__)

# A face detector: (BGR image, minimum score) → faces with `.score` and `.box` (x0, y0, x1, y1)
# in that image's pixels (models.geometric.blazeface.BlazeFace.detect).
FaceFinder = Callable[[np.ndarray, float], list]

# --- limits on the input (checked before anything is allocated) ---------------------------
MAX_PIXELS = 40_000_000          # same pixel-bomb limit as the chain
MIN_SIDE = 32                    # below this a photo carries no garment outline
MAX_ASPECT = 6.0                 # a catalogue photo is roughly portrait or square

# --- scale: every photo is segmented at the same working size (256-px and 1024-px photos
# alike: pixel constants below are working pixels); the outline is refined at the photo's
# resolution (at most REFINE_SIDE) ----------------------------------------------------------
WORK_AREA = 384 * 288
MAX_UPSAMPLE = 2.0
REFINE_SIDE = 1024
PROJECTION_DEPTH = 4             # working px inside the outline re-checked by colour projection
DETAIL = 2.0                     # edges are found at up to this × the working resolution

# --- backdrop model ---------------------------------------------------------------------------
BORDER_FRACTION = 0.02           # border band width, fraction of the shorter side
COLOUR_FLOOR = 1.0               # ΔE: tolerance floor for a digitally flat (clipped) backdrop
# A plain backdrop: most of its border is the backdrop or its shadow, with few edges...
MIN_BORDER_PLAIN = 0.6
MAX_BORDER_EDGES = 0.12
MAX_BORDER_NOISE = 6.0           # ...and not a sensor-noise storm (ΔE)

# --- cues ---------------------------------------------------------------------------------------
RING_PX = 8                      # JPEG ringing reaches one 8×8 block of the photo from an outline
RING_FRACTION = 0.2              # ...at up to this share of the outline's contrast
SHADOW_MIN = 0.45                # a cast shadow keeps ≥ 45% of the backdrop's light (linear)...
SHADOW_PASS = 0.6                # ...but one darker than 60% may as well be a grey fabric: the
                                 # backdrop's flood does not enter it (the cut decides)
SHADOW_CHROMA = 0.15             # chroma change allowed per unit of shadow darkening (ΔE / L)
TEXTURE_FLOOR = 0.15             # L units: fabric texture floor over a noise-free backdrop
SMOOTH_SIGMA = 3.0               # working px: the scale of fabric folds...
SMOOTH_FLOOR = 0.6               # ...whose shading (L units) the backdrop and its shadows lack
EDGE_FLOOR = 0.2                 # L units / px: a step edge floor over a noise-free backdrop
CANNY_FLOOR = 0.25                # L units / px: Canny's upper threshold floor

# --- segmentation (working pixels) -------------------------------------------------------------
BALL_RADII = (1, 2, 3, 4, 6, 8, 11, 16, 23, 32, 45, 64)
SPECK_PX = 12                    # specks of texture (edges < 12 px) do not make a place narrow
BALL_SLACK = 0.5                 # a disc enters places up to twice its own size
DEEP_PX = 6                      # this far behind the backdrop's reach is garment
CUT_COST = 100.0                 # cost of cutting through flat ground (vs ~0 on a sharp edge)
BAY_PX = 5                       # backdrop slivers up to 2×5 px wide are opened
LEAK_GAP = 3                     # breaks in the outline up to 2×3 px...
LEAK_WALL = 2.5                  # ...behind which the garment is only its outline (≤ 2.5 px)...
LEAK_RIM = 0.3                   # ...along ≥ 30% of the region's rim: backdrop that leaked in
CHANNEL_PX = 5                   # backdrop channels narrower than 2×5 px through the garment are fabric,
COMB_TEETH = 3                   # ...and so are ≥ 3 such bays in a row along the outline
COMB_SPAN = 0.12                 # ...within 12% of the garment's size of each other
OPENING_WALL = 3                 # an enclosed opening lies behind ≥ 3 px of fabric
OPENING_AREA = 0.002             # ...and covers ≥ 0.2% of the garment
OPENING_EDGES = 0.9              # ...and has the fabric's edge along ≥ 90% of its rim
OPENING_FABRIC = 0.5             # ...with fabric unlike the backdrop around ≥ half of it

# --- garment shape ---------------------------------------------------------------------------
MIN_AREA_FRACTION = 0.03         # of the photo: smaller is a speck, not a catalogue garment
MIN_HEIGHT_FRACTION = 0.25       # the garment fills a catalogue frame in at least one direction
MIN_SYMMETRY = 0.7               # IoU of the object with its mirror image
FACE_SCORE = 0.6
HEAD_VIEW = 0.3                  # the head view: a square of 30% of the object's height at its top
HEAD_WIDTH = 3.0                 # at eye level a head (with hair) is < 3 face widths wide
FACE_SKIN = 0.4                  # ...and its middle is mostly skin-coloured


@dataclass
class GarmentMatte:
    """Soft alpha, binary mask and confidence of a garment photo (all at the photo's size)."""

    alpha: np.ndarray                      # float32 [0,1]
    mask: np.ndarray                       # uint8 0/255 (alpha ≥ 0.5, one object)
    confidence: float                      # [0,1]: how well the photo fits the model
    background_bgr: tuple[float, float, float] = (255.0, 255.0, 255.0)
    hooks: dict = field(default_factory=dict)   # for the landmark step (see `_hooks`)
    details: dict = field(default_factory=dict)  # per-cue scores behind the confidence


# ============================================================================================
# entry point
# ============================================================================================
def garment_matte(image, name: str = "garment", find_faces: FaceFinder | None = None) -> GarmentMatte:
    """Matte of one catalogue garment photo; raises BadInputError (only) for what it refuses.
    `find_faces` (a face detector, e.g. the geometric chain's BlazeFace) enables the refusal of
    a garment worn by a person; without it that check is skipped."""
    try:
        return _garment_matte(image, name, find_faces)
    except BadInputError:
        raise
    except (cv2.error, ValueError, IndexError, ZeroDivisionError, FloatingPointError, MemoryError) as exc:
        # Defensive: an input the rules above did not foresee must not crash the batch.
        log.exception("garment matte failed on %s", name)
        raise BadInputError(f"{name}: garment photo could not be analysed ({type(exc).__name__})") from None


def _garment_matte(image, name: str, find_faces: FaceFinder | None) -> GarmentMatte:
    bgr, given_alpha = _as_bgr(image, name)
    h, w = bgr.shape[:2]

    scale = min(MAX_UPSAMPLE, float(np.sqrt(WORK_AREA / (h * w))))
    small = _resize(bgr, scale)
    lab = _lab(cv2.GaussianBlur(small, (0, 0), 0.7))
    model = _fit_backdrop(lab)
    # edges at up to twice the working resolution: a white garment's outline on white may be a
    # 1-px line of the photo that averaging to the working size would wash out
    dscale = min(1.0, DETAIL * scale)
    detail = None
    if dscale > 1.2 * scale:
        grey = cv2.cvtColor(_resize(bgr, dscale), cv2.COLOR_BGR2GRAY)
        detail = cv2.GaussianBlur(_lightness()[grey], (0, 0), 0.7)[:, :, None]
    cues = _cues(lab, model, scale, detail, dscale / scale)
    if given_alpha is not None:
        mask_small = _resize_mask(given_alpha >= 0.5, small.shape[:2])
    else:
        _check_plain_background(model, cues, name, small, find_faces)
        mask_small = _segment(cues, model)
    mask_small = _one_object(mask_small, name)
    if given_alpha is None:
        mask_small = _openings_and_holes(mask_small, cues)
        mask_small = _remove_spurs(mask_small)
        mask_small = _one_object(mask_small, name)

    if find_faces is not None:
        _check_person(bgr, small, mask_small, scale, name, find_faces)
    shape = _shape_checks(mask_small, name)

    if given_alpha is not None:
        alpha = given_alpha.astype(np.float32)
        mask = np.where(alpha >= 0.5, 255, 0).astype(np.uint8)
        mask = largest_component(mask)
        alpha = alpha * (cv2.dilate(mask, np.ones((3, 3), np.uint8)) > 0)
        details = {"given_alpha": 1.0}
        confidence = 1.0
    else:
        alpha, mask = _refine(bgr, small, mask_small, model, scale)
        if cv2.countNonZero(mask) < MIN_AREA_FRACTION * h * w:
            raise BadInputError(f"{name}: no garment found on the background")
        details = _confidence_details(mask, model, cues)
        confidence = float(np.clip(np.prod(list(details.values())) ** (1 / len(details)), 0, 1))
    bg_bgr = tuple(float(v) for v in model.mean_bgr)
    return GarmentMatte(alpha=alpha, mask=mask, confidence=confidence, background_bgr=bg_bgr,
                        hooks=_hooks(mask, shape), details=details)


# ============================================================================================
# input
# ============================================================================================
def _as_bgr(image, name: str) -> tuple[np.ndarray, np.ndarray | None]:
    """uint8 BGR and, for a BGRA cut-out with a real alpha channel, that alpha in [0,1]."""
    if not isinstance(image, np.ndarray) or image.size == 0:
        raise BadInputError(f"{name}: not a decodable image")
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise BadInputError(f"{name}: expected a grey, BGR or BGRA image, got shape {image.shape}")
    h, w = image.shape[:2]
    if h * w > MAX_PIXELS:
        raise BadInputError(f"{name}: too large ({w}×{h} px; limit {MAX_PIXELS} pixels)")
    if min(h, w) < MIN_SIDE:
        raise BadInputError(f"{name}: too small ({w}×{h} px; at least {MIN_SIDE} px per side)")
    if max(h, w) > MAX_ASPECT * min(h, w):
        raise BadInputError(f"{name}: not a catalogue photo (aspect ratio {w}×{h})")
    if image.dtype == np.uint8:
        pass
    elif image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype == np.bool_:
        image = image.astype(np.uint8) * 255
    elif np.issubdtype(image.dtype, np.floating):
        if not np.isfinite(image).all():
            raise BadInputError(f"{name}: image has non-finite values")
        top = 1.0 if image.max() <= 1.0 else 255.0
        image = np.clip(image * (255.0 / top), 0, 255).astype(np.uint8)
    else:
        raise BadInputError(f"{name}: unsupported pixel type {image.dtype}")
    alpha = None
    if image.shape[2] == 4:
        a = image[:, :, 3].astype(np.float32) / 255.0
        colour = image[:, :, :3].astype(np.float32)
        if a.min() < 0.99:  # a real cut-out: its alpha is the matte, shown here over white
            alpha = a
            colour = colour * a[:, :, None] + 255.0 * (1 - a[:, :, None])
        image = colour.astype(np.uint8)
    elif image.shape[2] == 1:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    return np.ascontiguousarray(image), alpha


def _resize(image: np.ndarray, scale: float) -> np.ndarray:
    if abs(scale - 1.0) < 1e-3:
        return image
    h, w = image.shape[:2]
    size = (max(8, round(w * scale)), max(8, round(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)


def _resize_mask(mask: np.ndarray, shape_hw) -> np.ndarray:
    h, w = shape_hw
    if mask.shape[:2] == (h, w):
        return np.where(mask, 255, 0).astype(np.uint8)
    m = cv2.resize(mask.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
    return np.where(m >= 0.5, 255, 0).astype(np.uint8)


@functools.lru_cache(maxsize=1)
def _lightness() -> np.ndarray:
    """CIE L of each grey level. Made on first use, not at import: an OpenCV call at import
    would start OpenCV's thread pool in a process that forks (the Celery worker's parent), and
    its children would then hang in cv2.setNumThreads."""
    grey = np.repeat(np.arange(256, dtype=np.float32)[None, :, None] / 255.0, 3, axis=2)
    return cv2.cvtColor(grey, cv2.COLOR_BGR2Lab)[0, :, 0].astype(np.float32)


def _lab(bgr: np.ndarray) -> np.ndarray:
    """float32 CIE Lab (L 0–100)."""
    return cv2.cvtColor(bgr.astype(np.float32) / 255.0, cv2.COLOR_BGR2Lab)


# ============================================================================================
# backdrop model
# ============================================================================================
_NOISE_KERNEL = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)


@dataclass
class _Backdrop:
    colour: np.ndarray        # (h, w, 3) Lab of the fitted backdrop at every pixel
    noise: float              # pixel noise of the border (ΔE), from local differences, not the fit
    tol: float                # "the backdrop's colour" tolerance (ΔE)
    inliers: float            # fraction of the border within tol of the model
    border: np.ndarray        # (h, w) bool, the border band
    mean_bgr: np.ndarray      # (3,) mean backdrop colour, BGR 0–255


def _border_band(h: int, w: int) -> np.ndarray:
    b = max(2, int(round(BORDER_FRACTION * min(h, w))))
    band = np.zeros((h, w), bool)
    band[:b], band[-b:], band[:, :b], band[:, -b:] = True, True, True, True
    return band


def _design(xs: np.ndarray, ys: np.ndarray, h: int, w: int) -> np.ndarray:
    u = (xs - w / 2) / (w / 2)
    v = (ys - h / 2) / (h / 2)
    return np.stack([np.ones_like(u), u, v, u * u, u * v, v * v], axis=1)


def _pixel_noise(chan: np.ndarray, where: np.ndarray) -> float:
    """σ of white noise from the Laplacian difference (Immerkær, median form): smooth shading,
    vignettes and shadows do not count, only the pixel-to-pixel noise."""
    lap = np.abs(cv2.filter2D(chan.astype(np.float32), -1, _NOISE_KERNEL))[where]
    return float(np.median(lap)) * 1.4826 / 6.0 if lap.size else 0.0


def _fit_backdrop(lab: np.ndarray) -> _Backdrop:
    """Quadratic Lab model of the backdrop from the border band, fitted to the border's
    dominant colour: a cast shadow or the garment reaching the border are outliers, not noise."""
    h, w = lab.shape[:2]
    band = _border_band(h, w)
    ys, xs = np.nonzero(band)
    step = max(1, len(xs) // 6000)
    ys, xs = ys[::step], xs[::step]
    samples = lab[ys, xs].astype(np.float64)
    unclipped = band & (lab[:, :, 0] < 99.5)   # a white backdrop clipped at 255 has no noise
    where = unclipped if unclipped.sum() > 50 else band
    noise = float(np.sqrt(sum(_pixel_noise(lab[:, :, c], where) ** 2 for c in range(3))))
    window = max(COLOUR_FLOOR, 3.0 * noise)
    design = _design(xs.astype(np.float64), ys.astype(np.float64), h, w)
    # start from the border's dominant lightness (the mode), then its median colour there
    lum = samples[:, 0]
    bins = np.arange(np.floor(lum.min()) - 0.5, np.ceil(lum.max()) + 1.5, 1.0)
    hist, edges = np.histogram(lum, bins=bins)
    hist = cv2.GaussianBlur(hist.astype(np.float32).reshape(1, -1), (0, 0), 1.5).ravel()
    peak = edges[int(np.argmax(hist))] + 0.5
    near = np.abs(lum - peak) <= max(2.0, 2 * window)
    start = np.median(samples[near], axis=0)
    resid = np.linalg.norm(samples - start, axis=1)
    keep = resid <= max(2.0, 2 * window)
    coef = np.zeros((6, 3))
    coef[0] = start
    for _ in range(5):
        if keep.sum() < 12:
            break
        coef, *_ = np.linalg.lstsq(design[keep], samples[keep], rcond=None)
        resid = np.linalg.norm(samples - design @ coef, axis=1)
        new = resid <= max(COLOUR_FLOOR, 3.0 * noise, 2.5 * 1.4826 * float(np.median(resid[keep])))
        if np.array_equal(new, keep):
            break
        keep = new
    misfit = float(1.4826 * np.median(resid[keep])) if keep.any() else float("inf")
    tol = max(COLOUR_FLOOR, 3.0 * max(noise, misfit))
    gy, gx = np.mgrid[0:h, 0:w]
    colour = (_design(gx.ravel().astype(np.float64), gy.ravel().astype(np.float64), h, w) @ coef)
    colour = colour.reshape(h, w, 3).astype(np.float32)
    mean_lab = colour.reshape(-1, 3).mean(axis=0)
    mean_bgr = cv2.cvtColor(mean_lab.reshape(1, 1, 3).astype(np.float32), cv2.COLOR_Lab2BGR).ravel() * 255
    return _Backdrop(colour=colour, noise=noise, tol=tol, inliers=float((resid <= tol).mean()),
                     border=band, mean_bgr=np.clip(mean_bgr, 0, 255))


# ============================================================================================
# cues: what is garment for sure, what looks like the backdrop (or its shadow), where edges are
# ============================================================================================
@dataclass
class _Cues:
    evidence: np.ndarray      # (h, w) ≥ 0: garment evidence in units of its tolerance (≥ 1: sure)
    backdrop_like: np.ndarray  # (h, w) bool: the backdrop's colour or a light shadow of it, no texture
    shadow_like: np.ndarray   # (h, w) bool: as dark as a deep shadow of the backdrop, or a grey fabric
    smooth: np.ndarray        # (h, w) bool: no shading at the scale of folds (backdrop, shadows)
    distance: np.ndarray      # (h, w) ΔE to the backdrop model
    weight: np.ndarray        # (h, w) [0,1]: 1 on flat ground, → 0 on a sharp (step) edge
    edges: np.ndarray         # (h, w) bool: thin connected step edges (Canny on the gated gradient)
    border_edges: float       # share of the border band on an edge


def _disc(r: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def _cues(lab: np.ndarray, model: _Backdrop, s: float, detail: np.ndarray | None = None,
          detail_k: float = 1.0) -> _Cues:
    """Per-pixel cues at the working scale (`s`: working size / photo size).

    Garment evidence: a colour the backdrop cannot have even in shadow (other chroma, lighter
    than the backdrop, darker than any cast shadow: < SHADOW_MIN of its light), or fabric
    texture. Deviations small next to a contrasted outline (JPEG ringing within a block of the
    photo) are not evidence. Edges: step edges only: the gradient at the photo's pixel scale
    minus the gradient 3× coarser (a soft shadow or a vignette changes slowly: both are alike)."""
    diff = lab - model.colour
    dist = np.linalg.norm(diff, axis=2)
    dl = diff[:, :, 0]
    chroma = np.sqrt(diff[:, :, 1] ** 2 + diff[:, :, 2] ** 2)
    rr = max(1, int(round(RING_PX * s)))
    local = cv2.dilate(dist.astype(np.float32), _disc(rr))
    tol = np.maximum(model.tol, RING_FRACTION * local)
    e_chroma = np.maximum(0, chroma - tol - SHADOW_CHROMA * np.maximum(0, -dl)) / tol
    e_light = np.maximum(0, dl - tol) / tol
    lum = lab[:, :, 0]
    high = lum - cv2.medianBlur(lum.astype(np.float32), 5)   # edge-preserving high-pass
    texture = np.sqrt(cv2.boxFilter(high * high, -1, (5, 5)))
    matches = model.border & (dist <= model.tol)
    ref = matches if matches.sum() > 50 else model.border
    t_tex = np.maximum(max(TEXTURE_FLOOR, 2.5 * float(np.percentile(texture[ref], 75))),
                       0.5 * RING_FRACTION * local)
    e_tex = np.maximum(0, texture - t_tex) / t_tex
    y = ((lum + 16) / 116) ** 3
    y_bg = ((model.colour[:, :, 0] + 16) / 116) ** 3
    ratio = y / np.maximum(y_bg, 1e-3)
    e_dark = np.maximum(0, SHADOW_MIN - ratio) / 0.1
    evidence = np.maximum.reduce([e_chroma, e_light, e_tex, e_dark]).astype(np.float32)
    backdrop_like = (evidence <= 0) & (ratio >= SHADOW_PASS)
    shadow_like = (evidence <= 0) & ~backdrop_like
    # the backdrop and its shadows are smooth at the scale of fabric folds; fabric is not
    shading = np.abs(lum - cv2.GaussianBlur(lum, (0, 0), SMOOTH_SIGMA))
    smooth = shading <= max(SMOOTH_FLOOR, 3.0 * float(np.percentile(shading[ref], 90)))

    step, edges = _step_edges(lab, s, rr)
    if detail is not None:
        # and the lightness's thin (1-px) outlines of the photo at the detail scale, pooled to
        # the working grid
        step_d, edges_d = _step_edges(detail[:, :, :1], s * detail_k, int(round(rr * detail_k)))
        hw = lab.shape[1::-1]
        k = int(np.ceil(detail_k))
        step = np.maximum(step, cv2.resize(cv2.dilate(step_d, np.ones((k, k), np.uint8)), hw,
                                           interpolation=cv2.INTER_AREA))
        edges |= cv2.resize(edges_d.astype(np.float32), hw, interpolation=cv2.INTER_AREA) > 0.2
    noise = float(np.percentile(step[ref], 95))
    weight = np.exp(-(step / (2.0 * max(noise, EDGE_FLOOR))) ** 2).astype(np.float32)
    # an edge's own step is not shading: next to an edge the edge itself is the barrier
    smooth |= cv2.dilate(edges.astype(np.uint8), _disc(4)) > 0
    return _Cues(evidence=evidence, backdrop_like=backdrop_like, shadow_like=shadow_like, smooth=smooth, distance=dist, weight=weight, edges=edges,
                 border_edges=float(edges[model.border].mean()))


def _step_edges(lab: np.ndarray, s: float, rr: int) -> tuple[np.ndarray, np.ndarray]:
    """Step-edge strength and thin connected step edges of a Lab image (`s`: its size / the
    photo's). The gradient at the photo's pixel scale minus the gradient 3× coarser: a step or a
    thin line keeps most of it, a soft shadow or a vignette (alike at both scales) none; minus a
    share of the strongest step within a JPEG block (ringing). Edges: Canny (non-maximum
    suppression, hysteresis) on the strongest channel's gradient scaled by its step share."""
    sf = max(1.0, s)   # an upsampled photo's edges are s pixels wide

    def grad(sigma):
        g = cv2.GaussianBlur(lab, (0, 0), sigma).reshape(lab.shape)
        gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=1).reshape(lab.shape)
        gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=1).reshape(lab.shape)
        return gx, gy, np.sqrt((gx * gx + gy * gy).sum(axis=2))

    gx, gy, g1 = grad(sf)
    g3 = grad(3 * sf)[2]
    step = np.maximum(0, g1 - g3)
    step = np.maximum(0, step - RING_FRACTION * cv2.dilate(step, _disc(max(1, rr))))
    band = _border_band(*lab.shape[:2])
    noise = float(np.percentile(step[band], 75))
    mag = gx * gx + gy * gy
    ch = np.argmax(mag, axis=2)[..., None]
    gate = np.clip(step / np.maximum(g1, 1e-3), 0, 1)
    q = 100.0
    dx = np.clip(np.take_along_axis(gx, ch, 2)[..., 0] * gate * q, -32000, 32000).astype(np.int16)
    dy = np.clip(np.take_along_axis(gy, ch, 2)[..., 0] * gate * q, -32000, 32000).astype(np.int16)
    hi = max(CANNY_FLOOR, 4.0 * noise) * q
    edges = cv2.Canny(dx, dy, 0.4 * hi, hi, L2gradient=True) > 0
    return step.astype(np.float32), edges


def _check_plain_background(model: _Backdrop, cues: _Cues, name: str, small: np.ndarray,
                            find_faces: FaceFinder | None) -> None:
    """A catalogue photo's border is a smooth backdrop (in places in shadow, in places
    touched by the garment): refuse a scene."""
    explained = float((cues.backdrop_like[model.border]).mean())
    plain = explained >= MIN_BORDER_PLAIN and cues.border_edges <= MAX_BORDER_EDGES and model.noise <= MAX_BORDER_NOISE
    if plain:
        return
    why = (f"border not a plain backdrop ({explained:.0%} of it fits a smooth backdrop or its shadow, "
           f"edges on {cues.border_edges:.0%}, noise {model.noise:.1f} ΔE)")
    if _faces(find_faces, [(small, 0.0, 0.0, 1.0)]):
        raise BadInputError(f"{name}: a photo of a person, not a garment on a plain background ({why})")
    raise BadInputError(f"{name}: not a garment on a plain background: {why}")


# ============================================================================================
# segmentation
# ============================================================================================
def _segment(cues: _Cues, model: _Backdrop) -> np.ndarray:
    """uint8 0/255 garment mask at working scale.

    Seeds: the backdrop reached from the border by rolling discs (`_ball_flood`) and, for the
    garment, sure evidence plus what lies deep behind the backdrop's reach. Between them a
    minimum cut through the photo (Boykov–Kolmogorov max-flow, here OpenCV's seam finder)
    whose cost is low only on sharp edges: it closes the outline where it fades (white on
    white) by the shortest way and passes a soft shadow by."""
    h, w = cues.evidence.shape
    passable = cues.backdrop_like & cues.smooth & ~_drop_specks(cues.edges, 3)
    # seeds on the photo's outermost pixels only: a garment may reach into the border band
    frame = np.zeros((h, w), bool)
    frame[0], frame[-1], frame[:, 0], frame[:, -1] = True, True, True, True
    border_seed = frame & (cues.distance <= model.tol)
    # how wide a place is does not depend on specks of texture in it
    roomy = cues.backdrop_like & cues.smooth & ~_drop_specks(cues.edges, SPECK_PX)
    background = _ball_flood(passable, border_seed, roomy | passable) | border_seed
    garment = (cues.evidence >= 1.0) & ~background
    behind = cv2.distanceTransform(np.where(background, 0, 255).astype(np.uint8), cv2.DIST_L2, 3)
    garment |= behind >= DEEP_PX
    if not garment.any():
        return np.zeros((h, w), np.uint8)
    cost = CUT_COST * cues.weight + 0.01
    fg = _min_cut(cost, garment, background)
    fg = _open_bays(fg, (cues.backdrop_like | cues.shadow_like) & ~cues.edges, cues.weight)
    return _close_channels(_fill_leaks(np.where(fg, 255, 0).astype(np.uint8)))


def _close_channels(mask: np.ndarray) -> np.ndarray:
    """A garment is one piece, and its light stripes are fabric: narrow backdrop-coloured
    channels (narrower than 2×CHANNEL_PX) that run through it from one side to another, or
    that come in a row along the outline like the teeth of a comb (white stripes of a striped
    top on a white backdrop, whose ends show no outline), are filled. A bay (armpit, between
    the legs, between straps) meets the wide backdrop once, at its mouth, and comes alone."""
    outside = (mask == 0).astype(np.uint8)
    wide = cv2.morphologyEx(outside, cv2.MORPH_OPEN, _disc(CHANNEL_PX), borderType=cv2.BORDER_REPLICATE)
    narrow = (outside > 0) & (wide == 0)
    if not narrow.any():
        return mask
    n, labels, stats, _ = cv2.connectedComponentsWithStats(narrow.astype(np.uint8), connectivity=4)
    wide_near = cv2.dilate(wide, np.ones((3, 3), np.uint8)) > 0
    out = mask.copy()
    bays = []   # (label, mouth centre) of one-mouth channels
    for i in range(1, n):
        x, y, bw, bh, area = stats[i]
        y0, x0 = max(0, y - 1), max(0, x - 1)
        region = labels[y0:y + bh + 1, x0:x + bw + 1] == i
        mouth = (region & wide_near[y0:y + bh + 1, x0:x + bw + 1]).astype(np.uint8)
        count, mlabels = cv2.connectedComponents(cv2.dilate(mouth, np.ones((3, 3), np.uint8)), connectivity=8)
        if count - 1 >= 2:
            out[y0:y + bh + 1, x0:x + bw + 1][region] = 255
        elif count - 1 == 1 and area >= 4:
            my, mx = np.nonzero(mouth)
            bays.append((i, np.array([y0 + my.mean(), x0 + mx.mean()])))
    if len(bays) >= COMB_TEETH:
        centres = np.array([c for _, c in bays])
        ys, xs = np.nonzero(mask)
        reach = COMB_SPAN * max(ys.max() - ys.min() + 1, xs.max() - xs.min() + 1)
        d = np.linalg.norm(centres[:, None] - centres[None], axis=2)
        for k, (i, _) in enumerate(bays):
            if (d[k] <= reach).sum() >= COMB_TEETH:   # itself and at least two neighbours
                out[labels == i] = 255
    return out


def _fill_leaks(mask: np.ndarray) -> np.ndarray:
    """Fill backdrop that got inside the garment through a break of its outline: a region
    nearly enclosed by the mask (enclosed once gaps up to 2×LEAK_GAP px are closed) whose rim
    is, for a good part (LEAK_RIM), only a thin wall (≤ LEAK_WALL px: the outline's own edge)
    away from the backdrop outside. A real bay or opening lies between wide parts of the
    garment (sleeve and body, two legs) or behind straps (opened later, see
    _openings_and_holes)."""
    closed = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, _disc(LEAK_GAP))
    filled = fill_holes(closed)
    cand = (filled > 0) & (mask == 0)
    if not cand.any():
        return mask
    exterior = (filled == 0).astype(np.uint8)
    to_ext = cv2.distanceTransform(1 - exterior, cv2.DIST_L2, 3)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(cand.astype(np.uint8), connectivity=4)
    out = mask.copy()
    for i in range(1, n):
        x, y, bw, bh, area = stats[i]
        if area < 4:
            out[labels == i] = 255
            continue
        y0, x0 = max(0, y - 1), max(0, x - 1)
        sub = (labels[y0:y + bh + 1, x0:x + bw + 1] == i).astype(np.uint8)
        rim = (cv2.dilate(sub, np.ones((3, 3), np.uint8)) > 0) & (mask[y0:y + bh + 1, x0:x + bw + 1] > 0)
        if rim.any() and (to_ext[y0:y + bh + 1, x0:x + bw + 1][rim] <= LEAK_WALL).mean() >= LEAK_RIM:
            out[labels == i] = 255
    return out


def _drop_specks(mask: np.ndarray, min_area: int) -> np.ndarray:
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    small = np.zeros(n, bool)
    small[1:] = stats[1:, cv2.CC_STAT_AREA] < min_area
    return mask & ~small[labels]


def _ball_flood(passable: np.ndarray, seeds: np.ndarray, roomy: np.ndarray | None = None) -> np.ndarray:
    """The backdrop reached from the border by rolling discs, largest first: a disc of radius
    r continues from where larger discs reached, only through places not much wider than
    itself (omega ≤ r / BALL_SLACK, omega: the largest disc that fits around a pixel). A disc
    that squeezes through a break in a garment's outline cannot roll on inside the wide
    garment behind it; bays and channels open to the backdrop (armpits, between the legs)
    are reached by discs about their own width."""
    p8 = passable.astype(np.uint8)
    # discs by distance transforms (linear time whatever the radius): a disc of radius r fits
    # around a centre whose distance to the nearest impassable pixel exceeds r
    inner = cv2.distanceTransform(p8, cv2.DIST_L2, cv2.DIST_MASK_5)
    room = inner if roomy is None else cv2.distanceTransform(roomy.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_5)
    omega = np.zeros(passable.shape, np.float32)
    cores = {}
    for r in BALL_RADII:
        core = (inner > r).astype(np.uint8)
        if core.any():
            cores[r] = core
        wide = room > r
        if not wide.any():
            break
        omega[_within(wide.astype(np.uint8), r)] = r
    reached = np.zeros(passable.shape, np.uint8)
    first = True
    for r in sorted(cores, reverse=True):
        core = cores[r]
        if first:
            allowed = core
            start = (core > 0) & seeds
        else:
            # roll freely where larger discs already went; elsewhere only where it is not much
            # narrower than the place
            allowed = ((core > 0) & ((omega <= r / BALL_SLACK + 1e-3) | (reached > 0) | seeds)).astype(np.uint8)
            start = (allowed > 0) & ((reached > 0) | seeds)
        if not start.any():
            continue
        first = False
        n, labels = cv2.connectedComponents(allowed, connectivity=4)
        hit = np.unique(labels[start])
        lut = np.zeros(n, np.uint8)
        lut[hit[hit > 0]] = 1
        reached |= (_within(lut[labels], r) & (p8 > 0)).astype(np.uint8)
    return reached > 0


def _within(mask: np.ndarray, r: float) -> np.ndarray:
    """bool: pixels within distance r of a nonzero pixel of `mask` (a dilation by a disc)."""
    return cv2.distanceTransform((mask == 0).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_5) <= r


def _min_cut(cost: np.ndarray, fg_seed: np.ndarray, bg_seed: np.ndarray) -> np.ndarray:
    """Binary labelling: fg_seed and bg_seed fixed, the boundary between them as cheap as
    possible, cutting between pixels p and q costs cost[p] + cost[q]. OpenCV's graph-cut seam
    finder solves exactly this between two 'images' whose squared difference is the cost."""
    h, w = cost.shape
    first = np.zeros((h, w, 3), np.float32)
    first[:, :, 0] = np.sqrt(np.maximum(cost, 0))
    second = np.zeros((h, w, 3), np.float32)
    mask_fg = np.where(bg_seed & ~fg_seed, 0, 255).astype(np.uint8)   # garment side: seeds + free
    mask_bg = np.where(fg_seed, 0, 255).astype(np.uint8)              # backdrop side: seeds + free
    finder = cv2.detail_GraphCutSeamFinder("COST_COLOR", 1e6, 0.0)
    out = finder.find([first, second], [(0, 0), (0, 0)], [cv2.UMat(mask_fg), cv2.UMat(mask_bg)])
    result = out[0].get() if hasattr(out[0], "get") else np.asarray(out[0])
    return result > 0


def _open_bays(fg: np.ndarray, passable: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Backdrop-like slivers of the mask (no wider than BAY_PX from their middle) that open
    onto the backdrop through a mouth without an edge: the cut closed them across flat backdrop
    (between a sleeve and the body, between the legs); they are backdrop."""
    cand = (fg & passable).astype(np.uint8)
    if not cand.any():
        return fg
    cross = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], np.uint8)
    outside = cv2.dilate((~fg).astype(np.uint8), cross) > 0
    mouth = (cand > 0) & outside & (weight >= 0.5)
    n, labels = cv2.connectedComponents(cand, connectivity=4)
    depth = cv2.distanceTransform(cand, cv2.DIST_L2, 3)
    width = np.zeros(n)
    np.maximum.at(width, labels.ravel(), depth.ravel())
    mouths = np.bincount(labels[mouth], minlength=n)
    flip = (np.arange(n) > 0) & (mouths >= 2) & (width <= BAY_PX)
    return fg & ~flip[labels]


def _one_object(mask: np.ndarray, name: str) -> np.ndarray:
    """The garment as one object: the largest component, plus components of comparable size
    joined to it (a garment cut into pieces by light stripes or prints)."""
    h, w = mask.shape
    # remove specks (JPEG noise, dust) before choosing
    k = max(3, (min(h, w) // 150) | 1)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if n <= 1:
        raise BadInputError(f"{name}: no garment found on the background")
    areas = stats[1:, cv2.CC_STAT_AREA]
    big = int(np.argmax(areas)) + 1
    if areas[big - 1] < MIN_AREA_FRACTION * h * w:
        raise BadInputError(f"{name}: no garment found on the background (object covers "
                            f"{areas[big - 1] / (h * w):.1%} of the photo)")
    keep = np.zeros(n, bool)
    keep[big] = True
    keep[1:] |= areas >= 0.05 * areas[big - 1]
    out = np.where(keep[labels], 255, 0).astype(np.uint8)
    if (keep[1:]).sum() > 1:
        out = _join(out, labels, keep)
    return out


def _join(mask: np.ndarray, labels: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Join pieces with the smallest closing that makes them one component; only the pixels
    the closing adds between pieces (not bays of one piece) are added... approximated by
    the closing itself at that radius, limited to the pieces' joint convex hull."""
    h, w = mask.shape
    for r in (2, 3, 5, 8, 12, 18, 27, 40):
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        closed = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel)
        n, _ = cv2.connectedComponents(closed, connectivity=8)
        if n <= 2:
            return closed
    return largest_component(mask)


def _openings_and_holes(mask: np.ndarray, cues: _Cues) -> np.ndarray:
    """Open enclosed backdrop-like regions that are true openings: a hole in the fabric has a
    sharp edge (the fabric's own) almost all around it (OPENING_EDGES), lies behind a wall of
    fabric (≥ OPENING_WALL px, not just the outline's edge) that is thin (between straps, above
    a neckline). A light or shaded part of a white garment meets the rest of the fabric without
    an edge; holes in prints and enclosed stripes are filled."""
    h, w = mask.shape
    inside = mask > 0
    cand = (inside & cues.backdrop_like & ~cues.edges).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(cand, connectivity=4)
    if n <= 1:
        return mask
    area = max(1, int(inside.sum()))
    ys, xs = np.nonzero(inside)
    size = max(ys.max() - ys.min() + 1, xs.max() - xs.min() + 1)
    wall = cv2.distanceTransform(mask, cv2.DIST_L2, 3)   # distance to outside the mask
    hull = cv2.convexHull(np.stack([xs, ys], 1).astype(np.int32))
    outside = np.ones((h, w), np.uint8)
    cv2.fillPoly(outside, [hull.reshape(-1, 2)], 0)
    to_hull = cv2.distanceTransform(outside ^ 1, cv2.DIST_L2, 3)
    near_edge = cv2.dilate(cues.edges.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    out = mask.copy()
    for i in np.nonzero(stats[:, cv2.CC_STAT_AREA] >= OPENING_AREA * area)[0]:
        if i == 0:
            continue
        region = labels == i
        thickness = float(wall[region].min())
        if thickness < OPENING_WALL:
            continue   # reaches the outline: a light part of the garment, or a bay (see _open_bays)
        x, y, bw, bh = stats[i, :4]
        sub = region[max(0, y - 1):y + bh + 1, max(0, x - 1):x + bw + 1].astype(np.uint8)
        ring = (cv2.dilate(sub, np.ones((3, 3), np.uint8)) > 0) & (sub == 0)
        if near_edge[max(0, y - 1):y + bh + 1, max(0, x - 1):x + bw + 1][ring].mean() < OPENING_EDGES:
            continue
        # the fabric around it is clearly not the backdrop (a white print on a white garment is
        # enclosed by fabric that looks like the backdrop in shade: it stays fabric)
        y0, x0 = max(0, y - 4), max(0, x - 4)
        sub = region[y0:y + bh + 4, x0:x + bw + 4].astype(np.uint8)
        around = (cv2.dilate(sub, _disc(3)) > 0) & ~(cv2.dilate(sub, np.ones((3, 3), np.uint8)) > 0)
        if (cues.evidence[y0:y + bh + 4, x0:x + bw + 4][around] >= 1.0).mean() < OPENING_FABRIC:
            continue
        if float(to_hull[region].min()) <= 0.03 * size + OPENING_WALL:
            out[cv2.dilate(region.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0] = 0
    return out


def _remove_spurs(mask: np.ndarray) -> np.ndarray:
    """Cut thin parts attached at one end only that rise above the garment's body (hanger
    hooks, tag strings). Straps (attached at both ends) stay."""
    ys, xs = np.nonzero(mask)
    size = max(ys.max() - ys.min() + 1, xs.max() - xs.min() + 1)
    r = max(2, int(round(0.012 * size)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    body = cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel)
    if not body.any():
        return mask
    body_top = int(np.nonzero(body.any(axis=1))[0][0])
    thin = cv2.subtract(mask, body)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(thin, connectivity=8)
    out = mask.copy()
    body_d = cv2.dilate(body, np.ones((3, 3), np.uint8))
    for i in range(1, n):
        top = stats[i, cv2.CC_STAT_TOP]
        if top >= body_top - r:  # only what rises above the body
            continue
        piece = (labels == i).astype(np.uint8)
        contact = cv2.dilate(piece, np.ones((3, 3), np.uint8)) & (body_d > 0)
        m, _ = cv2.connectedComponents(contact.astype(np.uint8), connectivity=8)
        if m - 1 <= 1:
            out[labels == i] = 0
    return out if cv2.countNonZero(out) else mask


# ============================================================================================
# refinement and alpha
# ============================================================================================
def _guided_filter(guide: np.ndarray, src: np.ndarray, r: int, eps: float) -> np.ndarray:
    """He et al.'s guided filter (grey guide), with box filters."""
    k = (2 * r + 1, 2 * r + 1)
    mean_i = cv2.boxFilter(guide, -1, k)
    mean_p = cv2.boxFilter(src, -1, k)
    corr_ip = cv2.boxFilter(guide * src, -1, k)
    var_i = cv2.boxFilter(guide * guide, -1, k) - mean_i * mean_i
    a = (corr_ip - mean_i * mean_p) / (var_i + eps)
    b = mean_p - a * mean_i
    return cv2.boxFilter(a, -1, k) * guide + cv2.boxFilter(b, -1, k)


def _refine(bgr: np.ndarray, small: np.ndarray, mask_small: np.ndarray, model: _Backdrop,
            scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Soft alpha and binary mask at the photo's resolution (at most REFINE_SIDE, then
    resized) from the working-scale mask, computed in a band around the outline only.

    Where the garment's local colour F differs clearly from the backdrop B, a pixel's alpha is
    its colour's projection on B→F (the compositing equation I = αF + (1−α)B): JPEG ringing and
    anti-aliased rims of the backdrop get α≈0 (no halo). Elsewhere (white on white) a guided
    filter (edge-aware) turns the cut's outline into a soft edge that follows the photo."""
    H, W = bgr.shape[:2]
    rscale = min(1.0, REFINE_SIDE / max(H, W))
    image = _resize(bgr, rscale)
    h, w = image.shape[:2]
    up = rscale / scale                       # refine pixels per working pixel
    soft = cv2.resize(mask_small.astype(np.float32) / 255.0, (w, h), interpolation=cv2.INTER_LINEAR)
    mask = np.where(soft >= 0.5, 255, 0).astype(np.uint8)
    R = max(2, int(np.ceil(1.5 * up)) + 1)
    # projection is checked deeper inside (a strip of backdrop beside the outline that the
    # working scale merged, e.g. between the outline and a JPEG ringing edge)
    inner = cv2.erode(mask, _disc(R + int(np.ceil(PROJECTION_DEPTH * up))))
    outer = cv2.dilate(mask, _disc(R))
    band = (outer > 0) & (inner == 0)

    # local garment colour (from well inside the outline) and backdrop colour, at working
    # scale where they vary slowly, then at the band's pixels
    core = cv2.erode(mask_small, _disc(2)).astype(np.float32) / 255.0
    img_s = small.astype(np.float32)
    fg_s = np.zeros_like(img_s)
    got = np.zeros(core.shape, np.float32)
    for win in (7, 21):                       # wider where the garment is thin (straps)
        ws = cv2.boxFilter(core, -1, (win, win))
        fs = cv2.boxFilter(img_s * core[:, :, None], -1, (win, win))
        take = (got < 0.02) & (ws >= 0.02)
        fg_s[take] = fs[take] / ws[take][:, None]
        got[take] = ws[take]
    back_s = np.clip(cv2.cvtColor(model.colour, cv2.COLOR_Lab2BGR) * 255.0, 0, 255)
    ys, xs = np.nonzero(band)
    sy = np.clip(((ys + 0.5) / up - 0.5).round().astype(int), 0, core.shape[0] - 1)
    sx = np.clip(((xs + 0.5) / up - 0.5).round().astype(int), 0, core.shape[1] - 1)
    pix = image[ys, xs].astype(np.float32)
    fgc, bgc = fg_s[sy, sx], back_s[sy, sx]
    diff = fgc - bgc
    contrast2 = np.sum(diff * diff, axis=1)
    proj = np.sum((pix - bgc) * diff, axis=1) / np.maximum(contrast2, 1.0)
    # "clearly different": 25 sRGB levels between garment and backdrop, and many times the noise
    valid = (got[sy, sx] >= 0.02) & (np.sqrt(contrast2) >= max(25.0, 8 * model.noise * 2.55))
    # beyond the outline's own band, only what looks like the backdrop itself
    near_outline = cv2.erode(mask, _disc(R))[ys, xs] == 0
    lab_band = _lab(pix.reshape(-1, 1, 3).astype(np.uint8)).reshape(-1, 3)
    bg_lab = model.colour[sy, sx]
    bg_dist = np.linalg.norm(lab_band - bg_lab, axis=1)
    valid &= near_outline | (bg_dist <= 3 * model.tol)
    hard = mask.copy()
    hard[ys[valid], xs[valid]] = np.where(proj[valid] >= 0.5, 255, 0)
    # backdrop-coloured only where it joins the backdrop (or an opening): a light print
    # enclosed by dark fabric near the outline stays fabric
    n, labels = cv2.connectedComponents((hard == 0).astype(np.uint8), connectivity=4)
    joined = np.zeros(n, bool)
    joined[np.unique(labels[mask == 0])] = True
    hard[~joined[labels]] = 255

    # edge-aware soft edge, computed on the band's bounding box
    y0, y1 = max(0, ys.min() - 2 * R), min(h, ys.max() + 2 * R + 1)
    x0, x1 = max(0, xs.min() - 2 * R), min(w, xs.max() + 2 * R + 1)
    guide = cv2.cvtColor(image[y0:y1, x0:x1], cv2.COLOR_BGR2GRAY).astype(np.float32) / 255.0
    r = max(1, int(round(1.5 * up)))
    alpha = (hard > 0).astype(np.float32)
    alpha[y0:y1, x0:x1] = np.clip(_guided_filter(guide, alpha[y0:y1, x0:x1], r, 1e-3), 0, 1)
    a_band = alpha[ys, xs]
    rim = np.abs(proj - 0.5) <= 0.6            # the projection's own transition (not the far side)
    a_band = np.where(valid & rim, np.clip(proj, 0, 1), a_band)
    # no halo: backdrop-coloured pixels at the edge are backdrop
    near_bg = bg_dist <= model.tol
    a_band[near_bg & (a_band < 0.95)] = 0.0
    alpha[ys, xs] = a_band
    alpha[outer == 0] = 0.0
    alpha[inner > 0] = np.maximum(alpha[inner > 0], 0.5)
    if (H, W) != (h, w):
        alpha = cv2.resize(alpha, (W, H), interpolation=cv2.INTER_LINEAR)
    binary = largest_component(np.where(alpha >= 0.5, 255, 0).astype(np.uint8))
    binary = _fill_small_holes(binary, 0.002)
    alpha = np.where(binary > 0, np.maximum(alpha, 0.5), np.minimum(alpha, 0.499)).astype(np.float32)
    alpha *= cv2.dilate(binary, np.ones((5, 5), np.uint8)) > 0
    return alpha.astype(np.float32), binary


def _fill_small_holes(mask: np.ndarray, fraction: float) -> np.ndarray:
    inv = np.where(mask > 0, 0, 255).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(inv, connectivity=4)
    area = max(1, cv2.countNonZero(mask))
    h, w = mask.shape
    edge = set(np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])).tolist())
    small = np.zeros(n, bool)
    for i in range(1, n):
        if i not in edge and stats[i, cv2.CC_STAT_AREA] < fraction * area:
            small[i] = True
    return np.where(small[labels] | (mask > 0), 255, 0).astype(np.uint8)


# ============================================================================================
# checks: garment shape and person
# ============================================================================================
def _symmetry(mask: np.ndarray) -> float:
    """Best IoU of a mask with its mirror image about a vertical axis near its centre."""
    ys, xs = np.nonzero(mask)
    if not len(xs):
        return 0.0
    x0, x1 = xs.min(), xs.max()
    crop = mask[:, x0:x1 + 1] > 0
    width = crop.shape[1]
    best = 0.0
    pad = max(1, width // 10)
    padded = np.pad(crop, ((0, 0), (pad, pad)))
    for shift in range(-pad, pad + 1, max(1, pad // 5)):
        # mirror about the column (centre + shift/2)
        flipped = np.roll(padded[:, ::-1], shift, axis=1)
        inter = np.logical_and(padded, flipped).sum()
        union = np.logical_or(padded, flipped).sum()
        best = max(best, inter / max(1, union))
    return float(best)


def _shape_checks(mask: np.ndarray, name: str) -> dict:
    h, w = mask.shape
    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = ys.min(), ys.max(), xs.min(), xs.max()
    bh, bw = y1 - y0 + 1, x1 - x0 + 1
    if max(bh / h, bw / w) < MIN_HEIGHT_FRACTION:
        raise BadInputError(f"{name}: object too small in the photo for a catalogue garment "
                            f"({bw}×{bh} px in {w}×{h})")
    if min(bh, bw) < 8:
        raise BadInputError(f"{name}: not garment-shaped (a {bw}×{bh} px line)")
    top = mask[y0: y0 + max(2, bh // 2)]
    top_sym = _symmetry(top)
    sym = _symmetry(mask)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    contour = max(contours, key=cv2.contourArea)
    area = float(cv2.countNonZero(mask))
    hull_area = float(cv2.contourArea(cv2.convexHull(contour)))
    solidity = area / max(1.0, hull_area)
    if sym < MIN_SYMMETRY:
        # garments laid out for a catalogue are close to mirror-symmetric (wrap and
        # one-shoulder designs included: ≥ 0.86 on the shared photos); a mug with its handle,
        # a shoe or a bag is not
        raise BadInputError(f"{name}: not garment-shaped: the object is far from left-right symmetric "
                            f"(mirror IoU {sym:.2f} < {MIN_SYMMETRY})")
    return {"symmetry": sym, "top_symmetry": top_sym, "solidity": solidity,
            "fill": area / (bh * bw), "aspect": bh / bw}


def _faces(find_faces: FaceFinder | None, views) -> list:
    """Faces found in (image, x0, y0, scale) views, as (score, box in working pixels)."""
    if find_faces is None:
        return []
    found = []
    for view, ox, oy, k in views:
        if min(view.shape[:2]) < 16:
            continue
        for f in find_faces(np.ascontiguousarray(view), FACE_SCORE):
            found.append((float(f.score), np.asarray(f.box, np.float64) / k + [ox, oy, ox, oy]))
    return found


def _head_view(bgr: np.ndarray, mask: np.ndarray, scale: float):
    """The square around the object's top, where a model's head would be, from the photo at
    its resolution: a full-body model's face is too small in the whole frame for the
    short-range face model. (view, x0, y0, view pixels per working pixel)."""
    rows = np.nonzero(mask.any(axis=1))[0]
    top, height = int(rows[0]), int(rows[-1] - rows[0] + 1)
    band = mask[top: top + max(2, int(0.06 * height))] > 0
    cx = float(np.nonzero(band.any(axis=0))[0].mean())
    side = max(16.0, HEAD_VIEW * height)
    x0, y0 = max(0.0, cx - side / 2), max(0.0, top - 0.05 * height)
    k = min(1.0, 256 / (side / scale)) / scale    # view pixels per working pixel, ≤ 256 px views
    X0, Y0 = int(x0 / scale), int(y0 / scale)
    X1, Y1 = int((x0 + side) / scale), int((y0 + side) / scale)
    crop = bgr[Y0:Y1, X0:X1]
    if crop.size == 0:
        return None
    view = cv2.resize(crop, (max(1, round(crop.shape[1] * k * scale)), max(1, round(crop.shape[0] * k * scale))),
                      interpolation=cv2.INTER_AREA)
    return view, X0 * scale, Y0 * scale, k


def _check_person(bgr: np.ndarray, small: np.ndarray, mask: np.ndarray, scale: float, name: str,
                  find_faces: FaceFinder) -> None:
    """Refuse a garment worn by a person: a face at the top of the object that is a head —
    narrow next to the object below it and with backdrop on both sides at eye level —
    unlike a face printed on the fabric (enclosed by it) or a pattern that looks like one."""
    views = [(small, 0.0, 0.0, 1.0)]
    head = _head_view(bgr, mask, scale)
    if head is not None:
        views.append(head)
    faces = _faces(find_faces, views)
    if not faces:
        return
    h, w = mask.shape
    rows = np.nonzero(mask.any(axis=1))[0]
    obj_top, obj_h = rows[0], rows[-1] - rows[0] + 1
    obj = mask > 0
    for score, (x0, y0, x1, y1) in faces:
        fw, fh = x1 - x0, y1 - y0
        if fw < 4 or fh < 4 or (y0 + y1) / 2 > obj_top + 0.3 * obj_h:
            continue
        ya, yb = int(np.clip(y0 + 0.2 * fh, 0, h - 1)), int(np.clip(y0 + 0.7 * fh, 1, h))
        xa, xb = int(np.clip(x0, 0, w - 1)), int(np.clip(x1, 1, w))
        if yb <= ya or xb <= xa or obj[ya:yb, xa:xb].mean() < 0.5:
            continue   # not on the object
        # a face is skin (any skin: YCrCb's skin box), not a pattern that looks like one
        cy0, cy1 = int(np.clip(y0 + 0.25 * fh, 0, h - 1)), int(np.clip(y0 + 0.85 * fh, 1, h))
        cx0, cx1 = int(np.clip(x0 + 0.25 * fw, 0, w - 1)), int(np.clip(x1 - 0.25 * fw, 1, w))
        centre = cv2.cvtColor(np.ascontiguousarray(small[cy0:cy1, cx0:cx1]), cv2.COLOR_BGR2YCrCb).reshape(-1, 3)
        skin = ((centre[:, 0] > 40) & (centre[:, 1] >= 135) & (centre[:, 1] <= 180)
                & (centre[:, 2] >= 85) & (centre[:, 2] <= 135))
        if not centre.size or skin.mean() < FACE_SKIN:
            continue
        # a head is narrow: the object at eye level is not much wider than the face
        widths = obj[ya:yb].sum(axis=1)
        if np.median(widths) > HEAD_WIDTH * fw:
            continue
        # beside a head (at eye level, half a face width out) is backdrop; beside a face
        # printed on the fabric is fabric
        sides = []
        for sa, sb in ((x0 - 0.9 * fw, x0 - 0.3 * fw), (x1 + 0.3 * fw, x1 + 0.9 * fw)):
            sa, sb = int(np.clip(sa, 0, w)), int(np.clip(sb, 0, w))
            strip = obj[ya:yb, sa:sb]
            sides.append(1.0 - strip.mean() if strip.size else 1.0)
        if min(sides) > 0.5:
            raise BadInputError(f"{name}: a person wearing the garment (a head with a face at the top, "
                                f"face score {score:.2f}); a catalogue photo of the garment alone is needed")


# ============================================================================================
# confidence and hooks
# ============================================================================================
def _confidence_details(mask: np.ndarray, model: _Backdrop, cues: _Cues) -> dict:
    small_mask = _resize_mask(mask > 0, cues.distance.shape)
    inner = cv2.erode(small_mask, np.ones((5, 5), np.uint8))
    ring_in = (small_mask > 0) & (inner == 0)
    contrast = float(np.median(cues.distance[ring_in])) if ring_in.any() else 0.0
    edge_near = cv2.dilate(cues.edges.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    support = float(edge_near[ring_in].mean()) if ring_in.any() else 0.0
    return {
        "backdrop": float(np.clip((model.inliers - 0.3) / 0.5, 0.05, 1.0)
                          * np.clip(1.5 - model.noise / MAX_BORDER_NOISE, 0.05, 1.0)),
        "contrast": float(np.clip(contrast / (4 * model.tol), 0.1, 1.0)),
        "edge_support": float(np.clip(support / 0.8, 0.1, 1.0)),
    }


def _hooks(mask: np.ndarray, shape: dict) -> dict:
    """What the landmark step can use: outline smoothness (1 = smooth, lower = ragged),
    left/right symmetry, solidity, fill of the bounding box, height/width."""
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    smooth = 0.0
    if contours:
        c = max(contours, key=cv2.contourArea)
        perim = cv2.arcLength(c, True)
        approx = cv2.approxPolyDP(c, 0.005 * perim, True)
        smooth = float(cv2.arcLength(approx, True) / max(1.0, perim))
    return {"outline_smoothness": smooth, **{k: float(v) for k, v in shape.items()}}
