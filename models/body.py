"""The person's body as geometry: a torso frame from the keypoints, a keypoint body model of
the torso's width, and the regions the geometric chain derives from them.

    body = body_frame(person.keypoints, (h, w))   # neck origin, across/down axes, ds/tl scales, arms
    body.point(a, f)                              # neck + a·ds across + f·tl down
    torso_polygon_mask(person, (h, w))            # where an arm is in front of the torso
    body_region(person, labels)                   # where the body is, under clothes too

Units: ds = half the shoulder-keypoint distance, tl = neck → mid-hip distance, both in pixels
of the working size. Used by the geometric warp (garment placement) and compositor.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from models.contract import REPR_H, REPR_W, BadInputError, Person
from models.labels import (ARM_CHAINS, HIPS, LEGS, LOWER_GARMENT, NOT_ARM, NOT_TORSO, SHOULDERS, SKIN,
                           TORSO_CORNERS, Coco)

# Keypoint body model, in units of half the shoulder-keypoint distance (ds) across and of the
# neck→mid-hip distance (tl) down, measured on the dataset's ground-truth parses: half-width of
# the torso at fractions of the way from neck to mid-hip.
TORSO_HALF_WIDTH = ((0.0, 1.15), (0.25, 1.05), (0.5, 0.92), (0.75, 0.97), (1.0, 1.1), (1.5, 1.2))
TORSO_PER_SHOULDER = 2.9                 # tl / ds where the hips are missing
PARSE_WIDTH_RANGE = (0.85, 1.6)          # parse-measured torso width, relative to the model
# Arms measure 0.17-0.25 ds half-width on the dataset's parses; a worn sleeve stays within:
ARM_HALF_WIDTH = (0.22, 0.38)            # clamp of a sleeve's half-width (ds)
ARM_THICKNESS = 0.5                      # arm width under a removed sleeve, in ds (measured 0.34-0.5)


def keypoints_px(keypoints: np.ndarray, hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """COCO-18 keypoints (192×256 grid) → (18, 2) float64 pixels of an h×w image, and which were seen."""
    h, w = hw
    kp = keypoints[:, :2].astype(np.float64) * np.array([w / REPR_W, h / REPR_H])
    return kp, keypoints[:, 2] > 0


def parse_at(labels: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """A label map at another size (nearest: labels are not blended)."""
    h, w = hw
    if labels.shape[:2] == (h, w):
        return labels
    return cv2.resize(labels, (w, h), interpolation=cv2.INTER_NEAREST)



@dataclass
class BodyFrame:
    """The person's torso frame in working-resolution pixels: neck origin, `across` (unit,
    towards the image-right shoulder), `down` (unit, towards the hips), ds and tl scales, and
    the arm polylines per garment side ("left" = image left = the person's right arm)."""

    neck: np.ndarray
    across: np.ndarray
    down: np.ndarray
    ds: float
    tl: float
    arms: dict[str, np.ndarray]  # side → (3,2) shoulder, elbow, wrist

    labels: np.ndarray | None = None  # the person's parse at the working size, if any
    _body_not_head: np.ndarray | None = None  # cache of arm_outer_half_width
    _torso: np.ndarray | None = None  # cache of side_half_widths (it measures at many depths)

    def arm_outer_half_width(self, centre: np.ndarray, outward: np.ndarray) -> float:
        """How far the person's arm (any body label but head) reaches from a point of the arm
        line towards its outer side, from the parse; 0 without a parse or off the body."""
        if self.labels is None:
            return 0.0
        if self._body_not_head is None:
            self._body_not_head = ~np.isin(self.labels, NOT_ARM)
        return _run_over(self._body_not_head, centre, outward)

    def point(self, a: float, b: float) -> np.ndarray:
        """Neck + a·ds across + b·tl down."""
        return self.neck + a * self.ds * self.across + b * self.tl * self.down

    def half_width(self, f: float) -> float:
        """The keypoint body model's torso half-width (ds units) at depth f."""
        fs, ws = zip(*TORSO_HALF_WIDTH)
        return float(np.interp(f, fs, ws))

    def side_half_widths(self, f: float) -> tuple[float, float]:
        """Torso half-widths (ds units) to the image-left and image-right at depth f: from the
        parse where it has the torso there (the person's own clothes and body, whatever their
        build), kept within PARSE_WIDTH_RANGE of the keypoint model; else the model."""
        model = self.half_width(f)
        if self.labels is None:
            return model, model
        if self._torso is None:
            self._torso = ~np.isin(self.labels, NOT_TORSO)
        measured = [_run_over(self._torso, self.point(0, f), sign * self.across) / self.ds
                    for sign in (-1.0, 1.0)]
        lo, hi = PARSE_WIDTH_RANGE
        return tuple(model if m <= 0 else float(np.clip(m, lo * model, hi * model)) for m in measured)


def _run_over(torso: np.ndarray, start: np.ndarray, direction: np.ndarray) -> float:
    """Distance from `start` along `direction` over True pixels of `torso` (gaps of a few
    pixels bridged); 0 if `start` is not on it."""
    h, w = torso.shape
    gap_limit = max(2, h // 128)
    last_inside, gap = -1.0, 0
    for step in range(0, 2 * max(h, w)):
        x, y = np.round(start + step * direction).astype(int)
        if not (0 <= x < w and 0 <= y < h):
            break
        if torso[y, x]:
            last_inside, gap = float(step), 0
        else:
            gap += 1
            if gap > gap_limit or last_inside < 0:
                break
    return max(0.0, last_inside)


def body_frame(keypoints: np.ndarray, work_hw: tuple[int, int], name: str = "person") -> BodyFrame:
    """Torso frame from COCO-18 keypoints (192×256 grid), scaled to the working size; missing
    neck, hips, elbows or wrists are filled in from the shoulders."""
    kp, seen = keypoints_px(keypoints, work_hw)
    if not (seen[Coco.R_SHOULDER] or seen[Coco.L_SHOULDER]):
        raise BadInputError(f"{name}: shoulders not found")
    neck = kp[Coco.NECK] if seen[Coco.NECK] else None
    if not (seen[Coco.R_SHOULDER] and seen[Coco.L_SHOULDER]):
        # one shoulder: mirror it about the neck (or fail without a neck)
        if neck is None:
            raise BadInputError(f"{name}: only one shoulder and no neck found")
        known, missing = SHOULDERS if seen[Coco.R_SHOULDER] else SHOULDERS[::-1]
        kp[missing] = 2 * neck - kp[known]
    r_sh, l_sh = kp[Coco.R_SHOULDER], kp[Coco.L_SHOULDER]
    if neck is None:
        neck = (r_sh + l_sh) / 2
    across = l_sh - r_sh
    ds = float(np.linalg.norm(across)) / 2
    if ds < 2:
        raise BadInputError(f"{name}: shoulders found on top of each other")
    across /= 2 * ds
    down = np.array([-across[1], across[0]])
    if down[1] < 0:  # a person upside down in the photo: keep "down" towards the image bottom
        down = -down
    hips = [kp[i] for i in HIPS if seen[i]]
    tl = float((np.mean(hips, axis=0) - neck) @ down) if hips else TORSO_PER_SHOULDER * ds
    tl = max(tl, 1.5 * ds)
    arms = {}
    for side, (s, e, wr) in ARM_CHAINS.items():
        shoulder = kp[s]
        elbow = kp[e] if seen[e] else shoulder + 0.42 * tl * down
        wrist = kp[wr] if seen[wr] else elbow + (elbow - shoulder)
        arms[side] = np.stack([shoulder, elbow, wrist])
    return BodyFrame(neck=neck, across=across, down=down, ds=ds, tl=tl, arms=arms)


def torso_polygon_mask(person: Person, hw: tuple[int, int], shrink: float = 0.1) -> np.ndarray:
    """Bool mask of the quadrilateral shoulders–hips (shrunk towards its centre): where an arm
    pixel is in front of the torso rather than beside it."""
    kp, seen = keypoints_px(person.keypoints, hw)
    mask = np.zeros(hw, np.uint8)
    if not all(seen[i] for i in TORSO_CORNERS):
        return mask > 0
    quad = kp[list(TORSO_CORNERS)]
    centre = quad.mean(axis=0)
    quad = centre + (quad - centre) * (1 - shrink)
    cv2.fillConvexPoly(mask, np.round(quad).astype(np.int32), 1)
    return mask > 0


def body_region(person: Person, labels: np.ndarray) -> np.ndarray:
    """Bool mask of where the body is, under clothes too (so a removed garment shows skin, and
    background only beyond the body): the keypoint body model's torso outline (TORSO_HALF_WIDTH
    from neck to a little below the hips), capsules along the arms, and the parsed skin,
    lower-garment and leg pixels. The old garment's own outline is not used: loose or puffed
    clothes stand off the body."""
    hw = labels.shape[:2]
    region = np.isin(labels, SKIN + LOWER_GARMENT + LEGS).astype(np.uint8)
    kp, seen = keypoints_px(person.keypoints, hw)
    try:
        body = body_frame(person.keypoints, hw)
    except BadInputError:  # no shoulders, so no body model: parse only
        return region > 0
    depths = (-0.12, 0.0, 0.25, 0.5, 0.75, 1.0, 1.25)
    outline = [body.point(-body.half_width(f), f) for f in depths]
    outline += [body.point(body.half_width(f), f) for f in reversed(depths)]
    cv2.fillPoly(region, [np.round(outline).astype(np.int32)], 1)
    for arm in ARM_CHAINS.values():
        pts = [kp[i] for i in arm if seen[i]]
        if len(pts) >= 2:
            cv2.polylines(region, [np.round(pts).astype(np.int32)], False, 1,
                          thickness=max(1, int(ARM_THICKNESS * body.ds)))
    return region > 0
