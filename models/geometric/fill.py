"""What the geometric chain paints where the old garment was: skin, the lower garment continued,
background — and the shading the photo's light puts on whatever is worn.

All of it is per person (models.geometric.layers builds it once); images are RGB float32 in
[0,1] at the working resolution, masks bool.

    skin_fill(crop, region, reference, light)   colour from the person's own skin (smooth, from
                                                the nearest visible skin), luminance from the
                                                photo's light, fine texture from real skin
    lower_fill(crop, region, lower)             the lower garment's visible top rows mirrored
                                                upward into the region (its texture and folds)
    background_fill(crop, region)               low-resolution inpainting plus the photo's grain
    shading_fields(crop, old_garment, ...)      (light, folds): log-luminance fields read from
                                                the old garment, colour by colour
"""
from __future__ import annotations

import cv2
import numpy as np

INPAINT_HEIGHT = 256         # background inpainting runs at this height, then is upsampled
DEFAULT_SKIN = np.array([0.80, 0.62, 0.52], np.float32)   # RGB, where no skin is visible at all
LIGHT_RANGE = (np.log(0.75), np.log(1.2))   # how far the photo's light may dim / brighten
FOLD_RANGE = (np.log(0.8), np.log(1.12))    # how deep the folds may shade
MIN_READABLE_L = 22.0        # Lab L (0-100): a colour darker than this shows no folds (only noise)
COLOUR_CLUSTERS = 4
SAME_COLOUR_AB, SAME_COLOUR_L = 8.0, 40.0   # Lab: one colour in light and in shade


def masked_blur(x: np.ndarray, weight: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """(weighted Gaussian mean of x, the blurred weight): the mean of x over `weight` only."""
    w = weight.astype(np.float32)
    if x.ndim == 3:
        num = cv2.GaussianBlur(x * w[..., None], (0, 0), sigma)
        den = cv2.GaussianBlur(w, (0, 0), sigma)
        return num / np.maximum(den, 1e-6)[..., None], den
    num = cv2.GaussianBlur(x * w, (0, 0), sigma)
    den = cv2.GaussianBlur(w, (0, 0), sigma)
    return num / np.maximum(den, 1e-6), den


def spread(x: np.ndarray, known: np.ndarray, sigmas: tuple[float, ...]) -> np.ndarray:
    """`x` where `known`, elsewhere the nearest known values smoothly spread out: normalised
    blurs from the smallest sigma to the largest, each filling where the finer one had no
    support (a cheap push-pull). Runs at a resolution where the smallest sigma is a few
    pixels (the result is smooth), then is upsampled."""
    h, w = known.shape
    f = float(min(1.0, 4.0 / max(1e-6, min(sigmas))))
    if f < 1.0:
        size = (max(2, round(w * f)), max(2, round(h * f)))
        wk = cv2.resize(known.astype(np.float32), size, interpolation=cv2.INTER_AREA)
        xs = cv2.resize((x * (known[..., None] if x.ndim == 3 else known)).astype(np.float32), size,
                        interpolation=cv2.INTER_AREA)
        xs = xs / np.maximum(wk[..., None] if x.ndim == 3 else wk, 1e-6)
    else:
        wk, xs = known.astype(np.float32), x.astype(np.float32)
    out = None
    support = None
    for sigma in sigmas:
        mean, den = masked_blur(xs, wk, max(0.5, sigma * f))
        if out is None:
            out, support = mean, den
            continue
        a = np.clip(support / 0.2, 0, 1)
        a = a[..., None] if x.ndim == 3 else a
        out = out * a + mean * (1 - a)
        support = np.maximum(support, den)
    if f < 1.0:
        out = cv2.resize(out, (w, h), interpolation=cv2.INTER_LINEAR)
    return out


def _window(region: np.ndarray, margin: int):
    x, y, w, h = cv2.boundingRect(region.astype(np.uint8))
    H, W = region.shape
    return np.s_[max(0, y - margin): min(H, y + h + margin), max(0, x - margin): min(W, x + w + margin)]


# --- texture --------------------------------------------------------------------------------
def texture_tile(crop: np.ndarray, reference: np.ndarray, size: int = 64) -> np.ndarray | None:
    """A `size`-square periodic tile of real skin's fine texture (a relative luminance
    multiplier, zero mean): the power spectrum of a high-pass of the widest square of the
    reference skin, with random phases (spectral synthesis). Periodic, so it tiles without a
    seam; random phases, so no feature of the sample (a mole, a crease) repeats. None where
    no square of at least 6 px fits in the reference."""
    if reference.sum() < 36:
        return None
    dist = cv2.distanceTransform(np.pad(reference.astype(np.uint8), 1), cv2.DIST_L2, 3)[1:-1, 1:-1]
    half = int(min(size // 2, float(dist.max()) * 0.7))
    if half < 3:
        return None
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    patch = crop[y - half: y + half, x - half: x + half]
    lum = cv2.cvtColor(patch, cv2.COLOR_RGB2GRAY)
    sigma = max(1.0, crop.shape[0] / 400)
    base = cv2.GaussianBlur(lum, (0, 0), sigma)
    hp = (lum - base) / np.maximum(base, 0.05)
    hp -= hp.mean()
    amplitude = float(hp.std())
    window = np.outer(np.hanning(hp.shape[0]), np.hanning(hp.shape[1]))
    spectrum = np.abs(np.fft.fft2(hp * window, s=(size, size)))
    phase = np.random.default_rng(0).uniform(0, 2 * np.pi, (size, size))
    tile = np.real(np.fft.ifft2(spectrum * np.exp(1j * phase)))
    tile -= tile.mean()
    tile *= amplitude / max(1e-9, float(tile.std()))
    return np.clip(tile, -3 * amplitude, 3 * amplitude).astype(np.float32)


def tiled(tile: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A periodic `tile` repeated over `shape`."""
    h, w = shape
    reps = (-(-h // tile.shape[0]), -(-w // tile.shape[1]))
    return np.tile(tile, reps)[:h, :w]


def grain_level(crop: np.ndarray, where: np.ndarray) -> float:
    """The photo's fine noise (std of a 1-px high-pass of luminance) over `where` (robust)."""
    if where.sum() < 50:
        return 0.01
    lum = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    hp = lum - cv2.GaussianBlur(lum, (0, 0), 1.0)
    return float(1.4826 * np.median(np.abs(hp[where])))


def grain(shape: tuple[int, int], level: float, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), 0.6)
    return noise * (level / max(1e-6, float(noise.std())))


# --- skin -------------------------------------------------------------------------------------
def skin_fill(crop: np.ndarray, region: np.ndarray, reference: np.ndarray, light: np.ndarray,
              scale: float, fallback: np.ndarray | None = None) -> np.ndarray:
    """Skin for `region` (RGB, same size as crop; only the region is meaningful).

    colour   the reference skin's colour spread smoothly from where it is (neck, arms, legs:
             `reference`), over about a tenth and then half of `scale` (the body's size);
             `fallback` (or a neutral skin tone) where there is none at all
    light    multiplied in: exp(light), the photo's light over the body (log-luminance)
    texture  real skin's fine texture (a tile cut from the reference), tiled and mirrored
    """
    out = np.zeros_like(crop)
    if not region.any():
        return out
    win = _window(region | reference, int(0.5 * scale) + 4)
    sub, ref, reg = crop[win], reference[win], region[win]
    if ref.sum() >= 20:
        # the reference's own median colour where spreading has no support
        median = np.median(sub[ref], axis=0).astype(np.float32)
        # cheap at low resolution: the colour field is smooth
        f = min(1.0, 128 / max(sub.shape[:2]))
        small = cv2.resize(sub, None, fx=f, fy=f, interpolation=cv2.INTER_AREA) if f < 1 else sub
        small_ref = cv2.resize(ref.astype(np.uint8), (small.shape[1], small.shape[0]),
                               interpolation=cv2.INTER_NEAREST) > 0 if f < 1 else ref
        if small_ref.sum() < 4:
            small_ref = cv2.resize(ref.astype(np.float32), (small.shape[1], small.shape[0]),
                                   interpolation=cv2.INTER_AREA) > 0.3
        colour = spread(small, small_ref, (max(1.0, 0.1 * scale * f), max(2.0, 0.5 * scale * f)))
        den = masked_blur(small_ref.astype(np.float32), small_ref, max(2.0, 0.5 * scale * f))[1]
        colour = colour * np.clip(den / 0.05, 0, 1)[..., None] + median * (1 - np.clip(den / 0.05, 0, 1))[..., None]
        colour = cv2.resize(colour, (sub.shape[1], sub.shape[0]), interpolation=cv2.INTER_LINEAR) if f < 1 else colour
        # the reference's own shading is in its colour: divide the light out where it was taken
        tile = texture_tile(sub, ref)
    else:
        colour = np.empty_like(sub)
        colour[:] = fallback if fallback is not None else DEFAULT_SKIN
        tile = None
    shade = np.exp(light[win])[..., None]
    if tile is not None:
        texture = tiled(tile, sub.shape[:2])
    else:
        texture = grain(sub.shape[:2], 0.015)
    skin = colour * shade * (1 + texture[..., None])
    out[win] = np.where(reg[..., None], skin, 0)
    return np.clip(out, 0, 1)


# --- the lower garment continued ----------------------------------------------------------------
def lower_fill(crop: np.ndarray, region: np.ndarray, lower: np.ndarray) -> np.ndarray | None:
    """The lower garment continued upward into `region`: per column, the rows just below the
    lower garment's visible top edge mirrored above it (its texture, colour and folds carry on;
    no flat patch). Columns without visible lower garment take the nearest column's edge.
    None where no lower garment is visible below the region."""
    if not region.any() or lower.sum() < 50:
        return None
    h, w = region.shape
    cols = np.nonzero(region.any(axis=0))[0]
    x0, x1 = int(cols.min()), int(cols.max()) + 1
    idx = np.arange(x0, x1)
    # columns without lower garment (an arm hangs in front of it) borrow the nearest one that has it
    cols_l = np.nonzero(lower.any(axis=0))[0]
    nearest = cols_l[np.argmin(np.abs(cols_l[:, None] - idx[None]), axis=0)]
    top = lower[:, nearest].argmax(axis=0).astype(np.float64)
    bottom = (h - 1 - lower[::-1, nearest].argmax(axis=0)).astype(np.float64)
    src_x = nearest.astype(np.float32)
    # a smooth top edge (the parse's is ragged)
    k = max(3, ((x1 - x0) // 20) | 1)
    top = cv2.blur(top.reshape(1, -1).astype(np.float32), (k, 1), borderType=cv2.BORDER_REPLICATE).ravel()
    extent = np.maximum(4.0, bottom - top)
    ys = np.arange(h, dtype=np.float32)[:, None]
    d = top[None, :] - ys                      # rows above the top edge (> 0)
    d = np.mod(np.maximum(d, 0), 2 * extent[None, :])
    d = np.where(d > extent[None, :], 2 * extent[None, :] - d, d)   # bounce inside the visible part
    map_y = (top[None, :] + d).astype(np.float32)
    map_x = np.broadcast_to(src_x[None, :], (h, x1 - x0)).astype(np.float32)
    strip = cv2.remap(crop, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    out = np.zeros_like(crop)
    out[:, x0:x1] = strip
    out[~region] = 0
    return out


# --- background ----------------------------------------------------------------------------------
def background_fill(crop: np.ndarray, region: np.ndarray, known: np.ndarray | None = None) -> np.ndarray:
    """cv2.inpaint (Telea) of `region` at low resolution (from the pixels outside it, or only
    from `known`), upsampled, with the photo's own grain added (a smooth fill looks painted)."""
    out = np.zeros_like(crop)
    if not region.any():
        return out
    h, w = crop.shape[:2]
    scale = min(1.0, INPAINT_HEIGHT / h)
    small_hw = (max(8, int(round(w * scale))), max(8, int(round(h * scale))))
    small = cv2.resize(np.clip(crop * 255, 0, 255).astype(np.uint8), small_hw, interpolation=cv2.INTER_AREA)
    unknown = region if known is None else (region | ~known)
    small_mask = cv2.resize(unknown.astype(np.uint8) * 255, small_hw, interpolation=cv2.INTER_NEAREST)
    # two pixels more: the reduced image mixes the region's colour into its neighbours
    small_mask = cv2.dilate(small_mask, np.ones((5, 5), np.uint8))
    painted = cv2.inpaint(small, small_mask, 5, cv2.INPAINT_TELEA)
    up = cv2.resize(painted, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255
    level = grain_level(crop, ~region if known is None else (known & ~region))
    up = up + grain((h, w), level, seed=1)[..., None]
    out[region] = up[region]
    return np.clip(out, 0, 1)


# --- the photo's light ----------------------------------------------------------------------------
def shading_fields(crop: np.ndarray, old_garment: np.ndarray, body: np.ndarray,
                   scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(light, folds, read weight, readable share) — log-luminance fields at the crop's size,
    the weight (0-1) saying where folds were read.

    The old garment's luminance is read colour by colour: its pixels are grouped into a few
    colour clusters (a striped or printed garment has several) and each pixel's luminance is
    taken relative to its cluster's median, so a print or a colour block is no shadow. Dark
    clusters (L < MIN_READABLE_L) and cluster boundaries are not read. Then
        light = that relative log-luminance averaged over a sixth of `scale` (the photo's light
                falling across the body), spread over the whole body
        folds = the same at about a pixel's scale minus `light` (creases and folds), 0 where
                nothing was read
    both clipped to LIGHT_RANGE / FOLD_RANGE."""
    h, w = crop.shape[:2]
    zero = np.zeros((h, w), np.float32)
    if old_garment.sum() < 100:
        return zero, zero, zero, 0.0
    lab = cv2.cvtColor(crop, cv2.COLOR_RGB2LAB)           # float input: L 0-100, a/b ±127
    L = lab[..., 0]
    samples = lab[old_garment]
    rng = np.random.default_rng(0)
    if len(samples) > 20000:
        samples = samples[rng.choice(len(samples), 20000, replace=False)]
    feats = np.column_stack([samples[:, 0] * 0.5, samples[:, 1], samples[:, 2]]).astype(np.float32)
    k = int(min(COLOUR_CLUSTERS, max(1, len(feats) // 200)))
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5)
    cv2.setRNGSeed(0)
    _, _, centres = cv2.kmeans(feats, k, None, criteria, 2, cv2.KMEANS_PP_CENTERS)
    # assign every old-garment pixel to its nearest centre (windowed: the garment's box)
    win = _window(old_garment, 2)
    sub = lab[win]
    f = np.stack([sub[..., 0] * 0.5, sub[..., 1], sub[..., 2]], -1)
    dist = np.linalg.norm(f[..., None, :] - centres[None, None], axis=-1)
    label = np.argmin(dist, axis=-1)
    # centres of one colour seen in light and shade (same hue and saturation, lightness apart
    # by less than SAME_COLOUR_L) are one colour: else the light itself would be normalised away
    merged = np.arange(k)
    for i in range(k):
        for j in range(i):
            same_hue = np.hypot(*(centres[i, 1:] - centres[j, 1:])) < SAME_COLOUR_AB
            if same_hue and abs(centres[i, 0] - centres[j, 0]) * 2 < SAME_COLOUR_L:
                merged[merged == merged[i]] = merged[j]
    label = merged[label]
    inside = old_garment[win]
    rel = np.zeros(label.shape, np.float32)
    readable = np.zeros(label.shape, bool)
    for c in range(k):
        px = inside & (label == c)
        if px.sum() < 30:
            continue
        med = float(np.median(sub[..., 0][px]))
        if med < MIN_READABLE_L:
            continue
        rel[px] = np.log(np.maximum(sub[..., 0][px], 1.0) / med)
        readable |= px
    # not across cluster boundaries (anti-aliased print edges) nor the garment's own outline
    edge = cv2.morphologyEx(label.astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
    k_out = max(3, (int(0.01 * h)) | 1)
    interior = cv2.erode(inside.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k_out, k_out))) > 0
    readable &= ~edge & interior
    share = float(readable.sum()) / max(1, int(inside.sum()))
    full_rel, full_read = zero.copy(), np.zeros((h, w), bool)
    full_rel[win], full_read[win] = np.clip(rel, -0.7, 0.5), readable
    if share < 0.05:
        return zero, zero, zero, share
    light = spread(full_rel, full_read, (max(2.0, scale / 6), max(4.0, scale / 2)))
    light = np.where(body | old_garment, light, 0).astype(np.float32)
    fine, den = masked_blur(full_rel, full_read, max(1.0, h / 400))
    folds = np.where(den > 0.3, fine - light, 0)
    folds = cv2.GaussianBlur(folds.astype(np.float32), (0, 0), max(0.7, h / 600))
    weight = cv2.GaussianBlur(np.clip(den / 0.3, 0, 1).astype(np.float32), (0, 0), max(1.0, h / 200))
    return (np.clip(light, *LIGHT_RANGE).astype(np.float32), np.clip(folds, *FOLD_RANGE).astype(np.float32),
            weight, share)
