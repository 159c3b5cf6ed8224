"""The QA verdict on every composite: measures the chain computes anyway, against thresholds.

    verdict(measures) → QaVerdict("ok" | "needs_review", reasons, measures)

Stages put what they measure into `WarpedGarments.measures` (one dict per garment); the chain
adds what any chain can measure (`generic_measures`) and judges. A measure a chain does not
compute is simply absent and never flags. Every measure is a number whose meaning does not
depend on the photo's size:

    matte_confidence     garment photo: how surely the garment was told from its background (0-1)
    landmark_confidence  garment photo: how well its outline fits the garment model (0-1;
                         landmarks defaulted, left/right disagreeing, ragged sides)
    fit_strain           how far the fit had to bend the garment's own proportions to the
                         body (0 = not at all; 0.5 = a width or length changed by half)
    outside_body         share of the garment's pixels that lie off the person's body
                         (beyond the silhouette plus a loose garment's allowance)
    synthesised          share of the person's torso and arms that shows invented pixels
                         (skin, lower garment or background the photo did not have)
    old_residue          share of the garment's area next to it that still shows the old
                         garment's colours
    person_turn          how far the person is turned from the camera (degrees)
    outside_zone         (lower garments, dresses) share of the garment's pixels where such a
                         garment cannot be: above the neck, over the face, far beside the body
    hem_depth            (dresses) where the dress's hem lands, in torso lengths below the neck
                         (the hips are at 1): one ending above the crotch was read as a top
    invented_showing     (lower garments) pixels the chain invented (skin, background where the
                         old garment was) that the garment leaves showing, per garment pixel
    invented_legs        (lower garments, dresses) share of the legs (below the crotch, not the
                         feet in shoes) showing skin the chain drew where the old garment hid them

Thresholds were set by looking at the cross product of the shared persons and garments
(`make eval`): a composite a person would send back crosses at least one of them.
"""
from __future__ import annotations

from dataclasses import dataclass

from models.contract import QaVerdict


@dataclass(frozen=True)
class Threshold:
    measure: str
    limit: float
    above: bool          # flag when the measure is above the limit (else below)
    reason: str          # "{value}" is replaced by the measure, formatted


THRESHOLDS = (
    Threshold("matte_confidence", 0.55, False, "garment outline uncertain (matte confidence {value:.2f})"),
    Threshold("landmark_confidence", 0.5, False, "garment shape not understood well (confidence {value:.2f})"),
    Threshold("fit_strain", 0.9, True, "garment strained to fit (strain {value:.2f})"),
    Threshold("outside_body", 0.1, True, "{value:.0%} of the garment lies off the body"),
    Threshold("synthesised", 0.55, True, "{value:.0%} of the torso and arms is synthesised"),
    Threshold("old_residue", 0.03, True, "old garment still shows ({value:.1%} of the garment's area)"),
    Threshold("person_turn", 55.0, True, "person turned {value:.0f}° from the camera"),
    Threshold("outside_zone", 0.005, True, "{value:.0%} of the garment lies where such a garment cannot be worn"),
    Threshold("hem_depth", 1.3, False, "the dress ends at the hips ({value:.2f} torso lengths below the neck): "
                                       "its shape was not read as a dress"),
    Threshold("invented_showing", 0.2, True, "invented skin or background shows beside the garment "
                                             "({value:.0%} of its area)"),
    # Invented legs are textured and lit like the person's own skin, but their shape and tone
    # are a guess: when most of the legs the customer sees are drawn rather than photographed
    # (a short dress or shorts over a photo in long trousers), a person should look first.
    Threshold("invented_legs", 0.5, True, "legs synthesised where the old garment hid them "
                                          "({value:.0%} of the legs)"),
)


def verdict(measures: dict[str, float], thresholds=THRESHOLDS) -> QaVerdict:
    """`needs_review` with one reason per threshold crossed, else `ok`. Measures that are
    absent or not finite are not judged."""
    reasons = []
    for t in thresholds:
        value = measures.get(t.measure)
        if value is None or value != value:  # absent or NaN
            continue
        if (value > t.limit) if t.above else (value < t.limit):
            reasons.append(t.reason.format(value=value))
    return QaVerdict(status="needs_review" if reasons else "ok", reasons=reasons,
                     measures={k: float(v) for k, v in measures.items() if v is not None})
