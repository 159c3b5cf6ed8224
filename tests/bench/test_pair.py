"""`make bench`'s pair part (bench/pair.py) and the targets table: structure and sanity only,
never speed (the machine is shared; the targets live in `make bench`)."""
from __future__ import annotations

import numpy as np
import pytest

from bench import pair
from bench.report import pair_lines, table, target_lines, targets


@pytest.fixture(scope="module")
def pair_result():
    return pair.bench_pair(reps=1, persons=1, garments=2, log=lambda *_: None)


def test_pair_part_reports_the_floor_the_steps_and_the_work_by_what_it_depends_on(pair_result):
    r = pair_result
    assert r["threads"] == 1 and r["floor"]["hw"] == [1024, 768]
    for name in ("remap", "blend", "encode", "whole"):
        assert r["floor"][name]["median_ms"] > 0 and r["floor"][name]["min_ms"] <= r["floor"][name]["median_ms"]
    assert r["floor_multiple"] == pytest.approx(r["per_pair_ms"] / r["floor_ms"])
    steps = r["pairs"]["steps"]
    assert list(steps) == list(pair.STEPS)
    assert all(s["median_ms"] >= 0 for s in steps.values())
    assert steps["composite"]["median_ms"] > 0 and steps["warp: remap"]["median_ms"] > 0
    assert r["pairs"]["batch"] == 2 and r["pairs"]["persons"] == 1
    person = r["per_person"]["rows"][0]
    assert person["prepare_person_s"] > 0 and person["layers_s"] > 0
    assert 1_000 < person["person_bytes"] < person["layers_compact_bytes"]
    assert len(r["per_garment"]["rows"]) == 2


def test_compact_layers_cover_every_image_of_the_layers():
    from models.geometric.layers import PersonLayers

    h, w = 40, 30
    z = np.zeros((h, w), np.float32)
    crop = np.full((h, w, 3), 0.5, np.float32)
    base = crop.copy()
    base[10:20, 10:20] = 0.9
    layers = PersonLayers(category="upper", hw=(h, w), fit=None, base=base, shading=np.ones((h, w), np.float32),
                          front=z, arms_front=z, neck=z, silhouette=z > 0, synthesised=z > 0, old_region=z > 0,
                          residue_candidates=z > 0, body_area=1.0, readable=0.0,
                          snap_zone=np.zeros((h, w), np.uint8), snap_arms=np.zeros((h, w), np.uint8))
    parts = pair.compact_layers(layers, crop)
    assert {"base (changed pixels)", "shading (log, uint8)", "front", "silhouette", "snap_zone"} <= set(parts)
    assert all(isinstance(v, bytes) and v[:4] == b"\x89PNG" for v in parts.values())


def test_targets_are_judged_against_their_thresholds_and_missing_figures_are_not_measured():
    results = {"pair": {"per_pair_ms": 45.0, "floor_multiple": 5.0},
               "batch": {"garments": 16, "by_variant": {"geometric": {
                   "speedup_vs_sample": 25.0, "speedup_vs_loop": 1.5, "dispatch_overhead": 0.05,
                   "peak_rss_mb": 600.0, "scaling_2_vs_1_process": None}}},
               "settings": {"quick": False}}
    rows = {r["key"]: r for r in targets(results)}
    assert rows["per_pair_ms"]["met"] is True and rows["floor_multiple"]["met"] is False
    assert rows["speedup_vs_sample"]["met"] is True and rows["speedup_vs_loop"]["met"] is False
    assert rows["dispatch_overhead"]["met"] is True and rows["peak_rss_mb"]["met"] is True
    assert rows["scaling_2_vs_1_process"]["met"] is None
    text = "\n".join(target_lines(list(rows.values())))
    assert "MISSED" in text and "not measured" in text and "met" in text
    empty = {r["key"]: r for r in targets({"settings": {"quick": True}})}
    assert all(r["met"] is None and "--quick" in r["note"] for r in empty.values())


def test_the_table_prints_the_pair_part(pair_result):
    from bench.harness import machine_info, versions
    from bench.report import summarise

    results = {"machine": machine_info(), "versions": versions(), "settings": {"quick": True}, "pair": pair_result}
    results.update(summarise(results))
    text = table(results)
    assert "floor at 768×1024" in text and "warp: reach to old footprint" in text and "targets (issue 12)" in text
    assert results["pair_summary"]["floor_multiple"] > 0
    assert pair_lines({"error": "RuntimeError: x"})[-1] == "per pair: RuntimeError: x"


def test_batch_scaling_is_two_processes_against_one_single_threaded_one():
    from bench.batch import _headline

    def run(p, t, rate):
        return {"variant": "geometric", "config": f"{p}×{t}", "processes": p, "threads": t, "pairs_per_s": rate,
                "dispatch_overhead": 0.05, "peak_rss_mb": 500.0, "compute_s": 10.0, "rendered": 64}
    result = {"runs": [run(1, 1, 4.0), run(1, 2, 5.0), run(2, 1, 7.6), run(2, 2, 7.0)],
              "baselines": {"geometric": {"sample": {"pairs_per_s": 0.5}, "loop": {"pairs_per_s": 2.0}}}}
    _headline(result)
    fig = result["by_variant"]["geometric"]
    assert fig["scaling_2_vs_1_process"] == pytest.approx(7.6 / 4.0)
    assert fig["processes_vs_threads"] == pytest.approx(7.6 / 5.0)
    assert fig["speedup_vs_sample"] == pytest.approx(7.6 / 0.5) and fig["best_config"] == "2×1"
