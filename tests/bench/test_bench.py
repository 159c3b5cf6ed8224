"""`make bench`'s parts on tiny networks (width=4 builds of the seed GMM/TOM): the ONNX engine
switch of the seed stages, the engine comparison, and the overhead arithmetic. No timing is
asserted (the machine is shared); only that the parts run and measure what they say."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from bench.batch import run_report_figures, thread_env
from bench.harness import child_pids, median_seconds, peak_rss_mb
from bench.onnx_nets import bench_onnx, built_nets


@pytest.fixture(scope="module")
def tiny_nets(tmp_path_factory):
    return built_nets(width=4, folder=tmp_path_factory.mktemp("nets"))


def test_onnx_part_times_both_engines_and_they_agree(tiny_nets):
    result = bench_onnx(reps=1, threads=1, batches=(1, 2), width=4, folder=tiny_nets["tom"].parent,
                        memory_batch=2, log=lambda *_: None)
    done = {(r["net"], r["engine"], r["batch"]) for r in result["runs"] if "error" not in r}
    for net, engine in (("gmm_custom", "cv2-wino"), ("gmm_rewritten", "cv2"), ("gmm_rewritten", "cv2-wino"),
                        ("gmm_rewritten", "onnxruntime"), ("tom", "cv2"), ("tom", "cv2-wino"),
                        ("tom", "onnxruntime")):
        assert {(net, engine, 1), (net, engine, 2)} <= done
    assert result["macs_per_pair"]["gmm_rewritten"] > 0 and result["macs_per_pair"]["tom"] > 0
    assert len(result["agreement"]) == 14
    assert max(result["agreement"].values()) <= 1e-4, result["agreement"]
    assert len(result["memory"]) == 6
    for m in result["memory"]:  # a fresh process per probe: loading and running only add memory
        assert 0 < m["rss_start_mb"] <= m["rss_loaded_mb"] <= m["rss_peak_mb"], m


def test_seed_stages_engine_switch_and_file_override(tiny_nets, monkeypatch):
    """TRYON_ONNX_ENGINE picks the engine of the seed GMM/TOM; both give the same θ and the same
    composed try-on (≤1e-4); an overriding file is recorded as unverified, with the engine."""
    from models.seed import gmm, tom
    from models.seed.composition import compose_tom

    monkeypatch.setenv("TRYON_GMM_ONNX", str(tiny_nets["gmm_custom"]))
    monkeypatch.setenv("TRYON_TOM_ONNX", str(tiny_nets["tom"]))
    rng = np.random.default_rng(1)
    agnostic = rng.uniform(-1, 1, (1, 22, 256, 192)).astype(np.float32)
    cloth = rng.uniform(-1, 1, (3, 3, 256, 192)).astype(np.float32)
    outputs = {}
    for engine in ("cv2", "onnxruntime"):
        monkeypatch.setenv("TRYON_ONNX_ENGINE", engine)
        assert gmm.GmmWarp.available() and tom.TomRenderer.available()
        warp, render = gmm.GmmWarp.load(), tom.TomRenderer.load()
        assert warp.info["engine"] == engine and render.info["engine"] == engine
        assert warp.info["weights"]["cp_vton_gmm.onnx"].startswith("unverified ")
        assert render.info["weights"]["cp_vton_tom.onnx"].startswith("unverified ")
        theta = warp.gmm.theta(agnostic, cloth)
        outputs[engine] = (theta, compose_tom(render.tom.forward(agnostic, cloth), cloth))
    assert outputs["cv2"][0].shape == (3, 50)
    assert np.abs(outputs["cv2"][0] - outputs["onnxruntime"][0]).max() <= 1e-4
    assert np.abs(outputs["cv2"][1] - outputs["onnxruntime"][1]).max() <= 1e-4
    monkeypatch.setenv("TRYON_ONNX_ENGINE", "tensorrt")
    with pytest.raises(ValueError, match="TRYON_ONNX_ENGINE"):
        gmm.GmmWarp.load()


def test_overhead_counts_a_computed_person_once_per_customer():
    report = {"pairs": [
        {"customer": "c/a.jpg", "status": "rendered",
         "timings": {"warp": 0.1, "render": 0.2, "paste_back": 0.0, "person": 1.0, "encode": 0.01}},
        {"customer": "c/a.jpg", "status": "rendered",
         "timings": {"warp": 0.1, "render": 0.2, "paste_back": 0.0, "person": 1.0, "encode": 0.01}},
        {"customer": "c/b.jpg", "status": "rendered",
         "timings": {"warp": 0.1, "render": 0.2, "paste_back": 0.0, "person": 0.0, "encode": 0.01}},
        {"customer": "c/b.jpg", "status": "failed", "reason": "x"},
    ], "failures": [{"customer": "c/b.jpg"}]}
    fig = run_report_figures(report, processes=2, wall=1.0)
    assert fig["rendered"] == 3 and fig["failed"] == 1
    assert fig["person_s"] == pytest.approx(1.0)             # not 2.0: stamped on both pairs of a
    assert fig["compute_s"] == pytest.approx(1.0 + 3 * 0.3)
    assert fig["dispatch_overhead"] == pytest.approx(1 - 1.9 / 2.0)


def test_harness_measures_what_it_says():
    calls = []
    t = median_seconds(lambda: calls.append(1), reps=3, warmup=2)
    assert len(calls) == 5 and t["reps"] == 3 and 0 <= t["min_s"] <= t["median_s"]
    assert peak_rss_mb() > 10
    child = subprocess.Popen([sys.executable, "-c", "import time; b = bytearray(80_000_000); b[::4096] = b'1' * "
                              "len(b[::4096]); print('ready', flush=True); time.sleep(30)"], stdout=subprocess.PIPE)
    try:
        assert child.stdout.readline().strip() == b"ready"  # its 80 MB are touched by now
        assert child.pid in child_pids(os.getpid())
        assert peak_rss_mb(child.pid) >= 80
    finally:
        child.kill()
        child.wait()
    assert peak_rss_mb(child.pid) is None
    assert thread_env(3)["OPENCV_FOR_THREADS_NUM"] == "3" and thread_env(3)["TRYON_THREADS"] == "3"


def test_net_batch_slicing_gives_the_same_output(tiny_nets, monkeypatch):
    """TRYON_MAX_NET_BATCH caps one forward's batch (memory); the slices give the same result."""
    from models.seed import tom

    monkeypatch.setenv("TRYON_TOM_ONNX", str(tiny_nets["tom"]))
    x = np.random.default_rng(2).uniform(-1, 1, (5, 22, 256, 192)).astype(np.float32)
    cloth = np.random.default_rng(3).uniform(-1, 1, (5, 3, 256, 192)).astype(np.float32)
    outs = {}
    for cap in ("8", "2"):
        monkeypatch.setenv("TRYON_MAX_NET_BATCH", cap)
        outs[cap] = tom.TomRenderer.load().tom.forward(x, cloth)
    assert outs["8"].shape == (5, 4, 256, 192)
    assert np.abs(outs["8"] - outs["2"]).max() <= 1e-5


@pytest.mark.parametrize("engine", ["cv2", "onnxruntime"])
def test_unloadable_network_file_is_reported_by_name(tmp_path, monkeypatch, engine):
    from models.onnx.batch import read_onnx
    from models.weights import MissingWeightsError

    bad = tmp_path / "cp_vton_tom.onnx"
    bad.write_bytes(b"not a network")
    monkeypatch.setenv("TRYON_ONNX_ENGINE", engine)
    with pytest.raises(MissingWeightsError, match="cp_vton_tom.onnx"):
        read_onnx(bad)


@pytest.mark.parametrize("engine", ["cv2", "onnxruntime"])
def test_split_gmm_gives_the_whole_graphs_theta_and_reuses_features(tiny_nets, monkeypatch, engine):
    """The GMM run as person branch + cloth branch (cached by content) + head gives the whole
    graph's θ; a repeated garment is computed once; a second call computes no new features."""
    from models.onnx.batch import BatchRunner, read_onnx
    from models.seed.gmm import GMM

    monkeypatch.setenv("TRYON_ONNX_ENGINE", engine)
    rng = np.random.default_rng(4)
    agnostic = rng.uniform(-1, 1, (1, 22, 256, 192)).astype(np.float32)
    cloth = rng.uniform(-1, 1, (4, 3, 256, 192)).astype(np.float32)
    cloth[3] = cloth[1]
    gmm = GMM(tiny_nets["gmm_custom"])
    assert gmm._run == gmm._split_run
    whole = BatchRunner(read_onnx(tiny_nets["gmm_custom"]), ("input.1", "input.18"), (50,))
    expected = whole(np.repeat(agnostic, 4, axis=0), cloth).reshape(4, 50)
    assert np.abs(gmm.theta(agnostic, cloth) - expected).max() <= 1e-5
    assert len(gmm._cloth_cache) == 3 and len(gmm._person_cache) == 1
    calls = []
    monkeypatch.setattr(gmm._cloth, "_forward", lambda x: calls.append(x) or None)
    assert np.abs(gmm.theta(agnostic, cloth[::-1].copy()) - expected[::-1]).max() <= 1e-5
    assert calls == []  # every garment's features came from the cache
    assert not hasattr(GMM(tiny_nets["gmm_rewritten"]), "_cloth_cache")  # no Correlation node: run whole


def test_seed_warp_computes_a_garment_mask_once(tiny_nets, monkeypatch):
    import cv2

    from models.contract import Person
    from models.seed import gmm

    monkeypatch.setenv("TRYON_GMM_ONNX", str(tiny_nets["gmm_custom"]))
    photo = np.full((256, 192, 3), 200, np.uint8)
    cv2.rectangle(photo, (60, 40), (130, 240), (40, 60, 90), -1)
    parse = np.zeros((256, 192), np.uint8)
    parse[40:240, 60:130] = 5
    keypoints = np.zeros((18, 3), np.float32)
    person = Person(photo=photo, crop_box=(0, 0, 192, 256), keypoints=keypoints, parse=parse)
    tee = np.full((256, 192, 3), 255, np.uint8)
    cv2.rectangle(tee, (40, 40), (150, 220), (30, 30, 200), -1)
    calls = []
    real = gmm.garment_mask
    monkeypatch.setattr(gmm, "garment_mask", lambda *a, **k: calls.append(1) or real(*a, **k))
    stage = gmm.GmmWarp.load()
    first = stage.warp(person, [tee, tee], [None, None])
    second = stage.warp(person, [tee], [None])
    assert len(calls) == 1
    assert np.array_equal(first.masks[0], second.masks[0]) and first.masks[0].max() > 0.5


def test_baseline_clears_the_chain_caches(tiny_nets, monkeypatch):
    from bench.pairs import clear_caches
    from models import chain

    monkeypatch.setenv("TRYON_CHAIN", "auto")
    monkeypatch.setenv("TRYON_GMM_ONNX", str(tiny_nets["gmm_custom"]))
    monkeypatch.setenv("TRYON_TOM_ONNX", str(tiny_nets["tom"]))
    chain.stages.cache_clear()
    try:
        warp = chain.stages(("auto", False))["warp"]
        warp.gmm._cloth_cache.put(b"k", np.zeros(1))
        warp._masks.put(b"k", np.zeros(1))
        clear_caches()
        assert not len(warp.gmm._cloth_cache) and not len(warp._masks)
    finally:
        chain.stages.cache_clear()
