"""The QA verdict (models/qa.py): measures against thresholds, one reason per threshold crossed."""
import math

from models.qa import THRESHOLDS, Threshold, verdict


def test_every_measure_within_its_threshold_is_ok():
    # below-limits: confidences (at most 1) and the dress's hem depth (torso lengths)
    good = {t.measure: (t.limit * 0.5 if t.above else t.limit * 1.5 if t.limit > 1 else min(1.0, t.limit * 1.5))
            for t in THRESHOLDS}
    v = verdict(good)
    assert v.status == "ok" and v.reasons == [] and v.measures == good


def test_each_crossed_threshold_gives_its_reason():
    for t in THRESHOLDS:
        value = t.limit * 1.5 + 0.01 if t.above else t.limit * 0.5
        v = verdict({t.measure: value})
        assert v.status == "needs_review" and len(v.reasons) == 1, t.measure
        assert v.reasons[0] == t.reason.format(value=value)


def test_absent_or_nan_measures_never_flag():
    assert verdict({}).status == "ok"
    assert verdict({"outside_body": math.nan, "matte_confidence": None}).status == "ok"


def test_reasons_are_in_threshold_order_and_several_can_apply():
    thresholds = (Threshold("a", 1.0, True, "a is {value:.1f}"), Threshold("b", 0.5, False, "b is {value:.1f}"))
    v = verdict({"b": 0.1, "a": 3.0}, thresholds)
    assert v.reasons == ["a is 3.0", "b is 0.1"]
