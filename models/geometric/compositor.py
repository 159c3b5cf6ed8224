"""Render stage of the geometric chain: lay the warped garment into the person's crop with plain geometry.

Replaces the seed chain's TOM. Layer order, back to front, from the person's parse (LIP ids,
models.labels):

    1. the crop, with the OLD garment's parts the new one does not cover removed: on the body
       (models.body.body_region: keypoint body model and arms) filled with skin — inpainted
       from the photo's own skin where it touches it, else the arms' (or face's) median colour,
       shaded darker towards the region's edge — elsewhere with background (cv2.inpaint at
       low resolution) where the remnant is no wider than a sleeve; a thicker remnant off the
       body model stays as it is;
    2. the new garment, feathered at its edge;
    3. in front of it: head, hair and neck (IN_FRONT: an in-shop photo shows the inside of the
       back collar above the front neckline, which once warped would cover the neck; a high
       collar is lost the same way), and the arms where they cross the torso (a hand on the
       belly stays in front of the shirt).

The garment is never resampled to 256×192 here: it arrives at the warp's working resolution
(the crop's size, capped) and the composite is returned at that size.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from models.body import ARM_HALF_WIDTH, body_frame, body_region, parse_at, torso_polygon_mask
from models.contract import BadInputError, Person, WarpedGarments
from models.labels import ARMS, IN_FRONT, OLD_GARMENT, SKIN, Lip
from models.masks import thin_part
from models.weights import DeclaresWeights

FEATHER = 1.0                        # σ px per 512 rows of the garment's soft edge (a photo's edges are sharp)
SLEEVE_DELTA_E = 45                  # an "arm" this far from the face colour is a sleeve
SHADING_MIN_LUMINANCE = 0.3         # old garments darker than this show no usable folds
SHADING_RANGE = (0.88, 1.06)         # how much the folds may darken / brighten the new garment
INPAINT_HEIGHT = 256                 # background inpainting runs at this height, then is upsampled


def skin_colour(crop_rgb: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Median RGB of the arms' skin (what a removed sleeve uncovers), else of the face; a
    neutral skin tone if neither is visible. Neck pixels are left out: the chin shades them."""
    for skin_labels in (ARMS, (Lip.FACE,)):
        skin = np.isin(labels, skin_labels)
        if skin.sum() >= 20:
            return np.median(crop_rgb[skin], axis=0).astype(np.float32)
    return np.array([0.80, 0.62, 0.52], np.float32)


def fill_skin(base: np.ndarray, region: np.ndarray, colour: np.ndarray,
              skin: np.ndarray | None = None) -> np.ndarray:
    """Skin in `region`: the colour of the photo's own skin where the region touches it
    (neck, arms: cv2.inpaint from there at low resolution), `colour` elsewhere, shaded darker
    towards the region's edge (a flat fill reads as a sticker; limbs darken where they turn
    away) and with a soft edge."""
    if not region.any():
        return base
    h, w = base.shape[:2]
    # Known pixels for the inpainting: real skin as it is, everything else the skin colour.
    guide = np.empty_like(base)
    guide[:] = colour
    if skin is not None:
        guide[skin & ~region] = base[skin & ~region]
    scale = min(1.0, INPAINT_HEIGHT / h)
    small_hw = (max(8, int(round(w * scale))), max(8, int(round(h * scale))))
    small = cv2.resize(np.clip(guide * 255, 0, 255).astype(np.uint8), small_hw, interpolation=cv2.INTER_AREA)
    small_mask = cv2.dilate(cv2.resize(region.astype(np.uint8), small_hw, interpolation=cv2.INTER_NEAREST),
                            np.ones((3, 3), np.uint8))
    painted = cv2.inpaint(small, small_mask, 7, cv2.INPAINT_TELEA)
    painted = cv2.GaussianBlur(painted, (0, 0), 2)
    fill = cv2.resize(painted, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255

    dist = cv2.distanceTransform(region.astype(np.uint8), cv2.DIST_L2, 3)
    shade = 0.9 + 0.1 * (1 - np.exp(-dist / max(2.0, h / 60)))
    fill = fill * shade[..., None]
    alpha = cv2.GaussianBlur(region.astype(np.float32), (0, 0), max(0.5, h / 300))
    alpha = np.maximum(alpha, region)[..., None]  # inside stays fully filled
    return base * (1 - alpha) + fill * alpha


def fill_background(base: np.ndarray, region: np.ndarray) -> np.ndarray:
    """cv2.inpaint (Telea) of `region` at low resolution, upsampled into the region only."""
    if not region.any():
        return base
    h, w = base.shape[:2]
    scale = min(1.0, INPAINT_HEIGHT / h)
    small_hw = (max(8, int(round(w * scale))), max(8, int(round(h * scale))))
    small = cv2.resize(np.clip(base * 255, 0, 255).astype(np.uint8), small_hw, interpolation=cv2.INTER_AREA)
    small_mask = cv2.resize(region.astype(np.uint8) * 255, small_hw, interpolation=cv2.INTER_NEAREST)
    small_mask = cv2.dilate(small_mask, np.ones((3, 3), np.uint8))
    painted = cv2.inpaint(small, small_mask, 5, cv2.INPAINT_TELEA)
    up = cv2.resize(painted, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255
    out = base.copy()
    out[region] = up[region]
    return out


def _clothed_arm(crop_rgb: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Arm-labelled pixels whose colour is far (ΔE > SLEEVE_DELTA_E in Lab) from the face's."""
    face = labels == Lip.FACE
    arms = np.isin(labels, ARMS)
    if face.sum() < 20 or not arms.any():
        return np.zeros_like(arms)
    lab = cv2.cvtColor(crop_rgb, cv2.COLOR_RGB2LAB)
    reference = np.median(lab[face], axis=0)
    delta = np.linalg.norm(lab - reference, axis=2)
    return arms & (cv2.GaussianBlur(delta, (0, 0), 2) > SLEEVE_DELTA_E)


@dataclass
class PersonLayers:
    """What the compositor needs from one person, computed once for all their garments."""

    crop_rgb: np.ndarray     # (h,w,3) float32 [0,1]
    front: np.ndarray        # (h,w) float32: head, hair, neck and crossing arms (soft)
    head: np.ndarray         # (h,w) bool: head, hair, neck
    old_garment: np.ndarray  # (h,w) bool: the garment the person wears now
    on_body: np.ndarray      # (h,w) bool: body under the clothes
    skin: np.ndarray         # (h,w) bool: visible skin
    skin_rgb: np.ndarray     # (3,) the person's skin colour
    feather: float           # σ of the soft edges, px
    shading: np.ndarray | None = None  # (h,w) float32 multiplier: the old garment's folds
    sleeve_half_width: float | None = None  # px: the widest a worn sleeve gets (None: no body model)


def fold_shading(crop_rgb: np.ndarray, old_garment: np.ndarray) -> np.ndarray | None:
    """Relative brightness of the old garment's folds (its luminance over its local mean),
    to shade the new garment where it covers the old one; None where the old garment is too
    dark to show folds (black cloth gives only noise). 1 elsewhere."""
    if old_garment.sum() < 100:
        return None
    h = crop_rgb.shape[0]
    lum = cv2.cvtColor(crop_rgb, cv2.COLOR_RGB2GRAY)
    if np.median(lum[old_garment]) < SHADING_MIN_LUMINANCE:
        return None
    weight = old_garment.astype(np.float32)
    # masked blurs: the garment's own brightness only, not the background next to it
    def masked_blur(x, sigma):
        return cv2.GaussianBlur(x * weight, (0, 0), sigma) / np.maximum(cv2.GaussianBlur(weight, (0, 0), sigma), 1e-3)
    folds = masked_blur(lum, max(1.0, h / 256)) / np.maximum(masked_blur(lum, h / 16), 1e-3)
    # away from its outline: the shadows along a hem or an armhole are no folds
    k = max(3, (h // 40) | 1)
    interior = cv2.erode(old_garment.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))) > 0
    shading = np.where(interior, np.clip(folds, *SHADING_RANGE), 1.0)
    return cv2.GaussianBlur(shading.astype(np.float32), (0, 0), max(1.0, h / 256))


def person_layers(crop_rgb: np.ndarray, labels: np.ndarray, person: Person) -> PersonLayers:
    h, w = crop_rgb.shape[:2]
    try:
        sleeve_half_width = ARM_HALF_WIDTH[1] * body_frame(person.keypoints, (h, w)).ds
    except BadInputError:  # no shoulders, no body scale
        sleeve_half_width = None
    feather = FEATHER * h / 512
    head = np.isin(labels, IN_FRONT)
    arms_front = np.isin(labels, ARMS) & torso_polygon_mask(person, (h, w))
    front = (head | arms_front).astype(np.float32)
    front = cv2.GaussianBlur(front, (0, 0), feather) if feather > 0.3 else front
    # Some parses label a long sleeve as arm: arm pixels far from the face's colour are cloth.
    old = np.isin(labels, OLD_GARMENT) | _clothed_arm(crop_rgb, labels)
    return PersonLayers(crop_rgb=crop_rgb, front=front, head=head, old_garment=old,
                        on_body=body_region(person, labels), skin=np.isin(labels, SKIN) & ~old,
                        skin_rgb=skin_colour(crop_rgb, labels), feather=feather,
                        shading=fold_shading(crop_rgb, np.isin(labels, OLD_GARMENT)),
                        sleeve_half_width=sleeve_half_width)


def composite_one(layers: PersonLayers, garment_rgb: np.ndarray, garment_alpha: np.ndarray) -> np.ndarray:
    """One garment into one person's crop (all at the same size): RGB float32 [0,1]."""
    feather = layers.feather
    alpha = cv2.GaussianBlur(garment_alpha, (0, 0), feather) if feather > 0.3 else garment_alpha
    # Only fully covered pixels keep what was there: under the garment's soft edge the old
    # garment would show through as a dark fringe.
    covered = alpha > 0.99
    alpha = alpha * (1 - layers.front)

    # 1. remove what is left of the old garment: skin on the body, background elsewhere
    old = layers.old_garment & ~covered
    old = cv2.dilate(old.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool) & ~covered & ~layers.head
    base = fill_skin(layers.crop_rgb, old & layers.on_body, layers.skin_rgb, layers.skin)
    # Background inpainting only rebuilds strips up to a sleeve's width (an old sleeve or hem
    # beyond the new garment); a thicker remnant off the body model (an arm the pose missed,
    # an object the parse took for clothes) would become a large smear, so it stays as it is.
    beyond_body = old & ~layers.on_body
    if layers.sleeve_half_width is not None:
        beyond_body = thin_part(beyond_body, layers.sleeve_half_width)
    base = fill_background(base, beyond_body)

    # 2-3. garment over it, shaded like the old garment's folds where it lies on it; head,
    # neck and crossing arms were cut out of its alpha above
    if layers.shading is not None:
        garment_rgb = garment_rgb * layers.shading[..., None]
    a = alpha[..., None]
    return np.clip(base * (1 - a) + garment_rgb * a, 0, 1).astype(np.float32)


class GeometricCompositor(DeclaresWeights):
    """Render stage of the geometric chain (no weights: pure geometry)."""

    chain = "geometric"
    info = {"impl": "geometric_compositor", "weights": {}}

    @classmethod
    def load(cls) -> "GeometricCompositor":
        return cls()

    def render(self, person: Person, warped: WarpedGarments) -> list[np.ndarray]:
        h, w = warped.masks.shape[1:3]
        crop = person.crop
        interp = cv2.INTER_AREA if crop.shape[0] > h else cv2.INTER_LINEAR
        crop_rgb = cv2.cvtColor(cv2.resize(crop, (w, h), interpolation=interp), cv2.COLOR_BGR2RGB)
        crop_rgb = crop_rgb.astype(np.float32) / 255
        layers = person_layers(crop_rgb, parse_at(person.parse, (h, w)), person)
        return [composite_one(layers, image, alpha) for image, alpha in zip(warped.images, warped.masks)]
