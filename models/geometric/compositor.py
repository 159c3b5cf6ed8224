"""Render stage of the geometric chain: the warped garment laid into the person's layers.

Per pair only this runs (the person's layers are built once, models.geometric.layers; the
garment's parts are warped by models.geometric.warp). Back to front, inside the window the
garment covers:

    1. the base: the crop with the old garment removed (skin, lower garment, background)
    1b. the inside of the garment's back collar (seen through its neck opening in the photo),
       behind the person's neck
    1c. a soft contact shadow on the body just past the garment's edges (below its hem)
    2. the garment's body, shaded by the photo's light and the old garment's folds, behind
       the arms (an arm hanging beside or crossing the torso is in front of a shirt's body)
    3. the garment's sleeves, shaded the same, over the arms
    4. in front of it all: head, hair and hands

The garment's soft alpha comes from its photo's anti-aliased outline (colour decontaminated at
the edge: no halo of the catalogue background). The result is at the warp's working
resolution (the crop's size, capped).

Per pair it measures (added to WarpedGarments.measures, judged in models/qa.py):
    outside_body  share of the garment's alpha beyond the person's silhouette plus a loose
                  garment's allowance
    synthesised   share of the person's torso and arms showing invented pixels (the invented
                  background beside the body counts too, so it is capped at 1)
    old_residue   pixels with the old garment's colours left uncovered, per garment pixel
    outside_zone  (lower garments, dresses) share of the garment where such a garment cannot be
                  (layers.GARMENT_ZONE and the legs: over the face, above the shoulders)
    invented_showing  (lower garments) invented pixels (skin, background) left showing, per
                  garment pixel
    invented_legs  (lower garments, dresses) share of the legs (below the crotch) showing skin
                  the chain invented where the old garment hid them
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from models.contract import Person, WarpedGarments
from models.geometric.garment import PART_BACK, PART_BODY
from models.geometric.layers import PersonLayers, person_layers
from models.geometric.warp import LazyWarpedGarments, WarpedPart
from models.masks import dilate_wide
from models.weights import DeclaresWeights

OUTSIDE_ALLOWANCE = 0.35   # of the true half shoulder span: how far a loose garment may stand off the silhouette
CONTACT_SHADOW = (0.015, 0.3)  # its blur (of the torso's length) and depth


def _union(windows):
    x0 = min(w[0] for w in windows)
    y0 = min(w[1] for w in windows)
    x1 = max(w[2] for w in windows)
    y1 = max(w[3] for w in windows)
    return x0, y0, x1, y1


@dataclass
class PairPrep:
    """What every pair reads from one person's layers, prepared once (per person and process):
    the per-part keep factors, the shading as 3 channels, the front's complement, the QA
    counts' totals."""

    shade3: np.ndarray        # (h,w,3) float32, over 255: a garment's uint8 colour × this = its shaded colour
    visible: np.ndarray       # (h,w) float32, over 255: 1 − front (what a sleeve keeps of its alpha)
    keep_body: np.ndarray     # (h,w) float32, over 255: and 1 − arms in front of the body
    keep_back: np.ndarray     # (h,w) float32, over 255: and behind the neck
    outside: np.ndarray       # (h,w) bool: off the body (beyond the silhouette and an allowance)
    shadow_depth: np.ndarray  # (h,w) float32: the contact shadow's depth on the body, 0 off it
    synth_total: float
    residue_total: float
    legs_invented_total: float = 0.0


def pair_prep(layers: PersonLayers) -> PairPrep:
    cached = getattr(layers, "_pair_prep", None)
    if cached is None:
        r = max(1, int(round(OUTSIDE_ALLOWANCE * layers.fit.ds_true)))
        near = dilate_wide(layers.silhouette, r)
        visible = (1 - layers.front) / 255
        keep_body = visible * (1 - layers.arms_front)
        cached = PairPrep(shade3=cv2.merge([layers.shading / 255] * 3).astype(np.float32),
                          visible=visible.astype(np.float32), keep_body=keep_body.astype(np.float32),
                          keep_back=(keep_body * (1 - layers.neck)).astype(np.float32),
                          outside=~near, shadow_depth=np.where(layers.silhouette, np.float32(CONTACT_SHADOW[1]),
                                                               np.float32(0)),
                          synth_total=float(layers.synthesised.sum()),
                          residue_total=float(layers.residue_candidates.sum()),
                          legs_invented_total=float(np.count_nonzero(layers.legs_invented))
                          if layers.legs_invented is not None else 0.0)
        layers._pair_prep = cached
    return cached


ORDER = {PART_BACK: 0, PART_BODY: 1}   # inside of the back, body, then the sleeves over them


def composite_one(layers: PersonLayers, parts: list) -> tuple[np.ndarray, dict]:
    """One garment's parts into one person's layers: (RGB float32 [0,1] at the working size,
    measures). Each part is laid over the base in turn inside its own window (cv2's blend:
    no full-frame float work per pair but the one copy of the base)."""
    prep = pair_prep(layers)
    out = layers.base.copy()
    if not parts:
        return out, {"outside_body": 0.0, "synthesised": min(1.0, prep.synth_total / layers.body_area), "old_residue": 0.0}
    x0, y0, x1, y1 = _union([p.window for p in parts])
    win = np.s_[y0:y1, x0:x1]
    # a soft contact shadow where the garment ends on the body (below its hem, round its
    # sleeves' ends): the cloth stands off the skin a little and shades it. Made at a quarter
    # of the size (it is a blur), shifted down by its own width.
    h, w = y1 - y0, x1 - x0
    small = np.zeros(((h + 3) // 4, (w + 3) // 4), np.uint8)
    for p in parts:
        a = p.alpha if p.alpha.dtype == np.uint8 else np.uint8(np.clip(p.alpha * 255, 0, 255))
        px0, py0 = (p.window[0] - x0) // 4, (p.window[1] - y0) // 4
        a = a[::4, ::4]
        sub = small[py0:py0 + a.shape[0], px0:px0 + a.shape[1]]
        np.maximum(sub, a[:sub.shape[0], :sub.shape[1]], out=sub)
    sigma = max(0.5, CONTACT_SHADOW[0] * layers.fit.tl / 4)
    shadow = cv2.GaussianBlur(small.astype(np.float32) / 255, (0, 0), sigma)
    shift = int(round(sigma))
    if shift:
        shadow = np.vstack([np.zeros((shift, shadow.shape[1]), np.float32), shadow[:-shift]])
    shadow = np.maximum(shadow - small.astype(np.float32) / 255, 0)
    shadow = cv2.resize(shadow, (w, h), interpolation=cv2.INTER_LINEAR)
    out[win] = cv2.multiply(out[win], cv2.merge([cv2.subtract(1.0, cv2.multiply(shadow, prep.shadow_depth[win]))] * 3))
    coverage = np.zeros((h, w), np.float32)
    for p in sorted(parts, key=lambda p: ORDER.get(p.part, 2)):
        # only where the part has alpha (the back collar's is a small piece of the body's window)
        bx, by, bw, bh = cv2.boundingRect((p.alpha > 0).view(np.uint8))
        if bw == 0 or bh == 0:
            continue
        own = np.s_[by:by + bh, bx:bx + bw]
        px0, py0 = p.window[0] + bx, p.window[1] + by
        px1, py1 = px0 + bw, py0 + bh
        win = np.s_[py0:py1, px0:px1]
        keep = prep.keep_body if p.part == PART_BODY else prep.keep_back if p.part == PART_BACK else prep.visible
        scale = 255.0 if p.alpha.dtype == np.float32 else 1.0      # uint8 parts: the 1/255 is in the factors
        a = cv2.multiply(p.alpha[own], keep[win], dtype=cv2.CV_32F, scale=scale)
        colour = cv2.multiply(p.rgb[own], prep.shade3[win], dtype=cv2.CV_32F, scale=scale)
        out[win] = cv2.blendLinear(colour, out[win], a, cv2.subtract(1.0, a))
        sub = np.s_[py0 - y0:py1 - y0, px0 - x0:px1 - x0]
        coverage[sub] = cv2.max(coverage[sub], a)
    win = np.s_[y0:y1, x0:x1]
    np.clip(out[win], 0, 1, out=out[win])
    covered = coverage > 0.5
    total = max(1.0, float(np.count_nonzero(covered)))
    outside = float(np.count_nonzero(covered & prep.outside[win])) / total
    synth = prep.synth_total - float(np.count_nonzero(layers.synthesised[win] & covered))
    residue = prep.residue_total - float(np.count_nonzero(layers.residue_candidates[win] & covered))
    measures = {"outside_body": outside, "synthesised": min(1.0, synth / layers.body_area), "old_residue": residue / total}
    if layers.zone is not None:
        # lower garments and dresses: cloth where such a garment cannot be (over the face, above
        # the shoulders, beside the body far out) says the fit went wrong; for a lower garment,
        # invented pixels it leaves showing (a bare band between the top's hem and a lower
        # waistband, the background where wide old trousers were) per garment pixel
        measures["outside_zone"] = float(np.count_nonzero(covered & ~layers.zone[win])) / total
        if layers.category == "lower":    # (below a dress, invented bare legs are the rule)
            measures["invented_showing"] = synth / total
    if layers.legs_invented is not None and layers.legs_area > 0:
        # legs the chain drew where the old trousers hid them, left showing, per leg pixel
        legs_total = prep.legs_invented_total
        shown = legs_total - float(np.count_nonzero(layers.legs_invented[win] & covered))
        measures["invented_legs"] = shown / layers.legs_area
    return out, measures


class GeometricCompositor(DeclaresWeights):
    """Render stage of the geometric chain (no weights: pure geometry)."""

    chain = "geometric"
    info = {"impl": "geometric_compositor", "weights": {}}

    @classmethod
    def load(cls) -> "GeometricCompositor":
        return cls()

    def render(self, person: Person, warped: WarpedGarments, category: str = "upper") -> list[np.ndarray]:
        # the warp's own working size (reading .masks would flatten every garment's parts: a
        # full-frame footprint per pair that nothing here uses)
        h, w = warped._hw if isinstance(warped, LazyWarpedGarments) else warped.masks.shape[1:3]
        layers = person_layers(person, category, (h, w))
        results = []
        parts_list = warped.parts or [None] * len(warped.masks)
        while len(warped.measures) < len(parts_list):
            warped.measures.append({})
        for i, parts in enumerate(parts_list):
            if parts is None:
                # garments warped by another stage (the seed's GMM): one body part over the whole crop
                parts = [WarpedPart(PART_BODY, (0, 0, w, h), warped.images[i], warped.masks[i])]
            image, measures = composite_one(layers, parts)
            warped.measures[i].update(measures)
            results.append(image)
        return results
