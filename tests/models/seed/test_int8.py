"""The seed GMM/TOM in int8 (TRYON_ONNX_PRECISION=int8) end to end on small real-architecture
networks (tools/seed_onnx.py, width 8): calibrated on the shared photos through the chain's own
preprocessing (models/seed/calibration.py) — or, where ../shared is absent, on the synthetic set,
which exercises the same path — and the composite close to fp32's within a loose bound. With
random weights the bound only shows the path works, not what trained weights will do."""
from __future__ import annotations

import warnings

import numpy as np
import onnx
import pytest

from models import chain
from models.contract import ChainOptions
from models.seed import calibration
from models.seed.gmm import GMM, GMM_INPUTS, GmmWarp
from models.seed.tom import TOM, TomRenderer
from models.weights import MissingWeightsError
from tests.conftest import DATA_DIR
from tools import seed_onnx
from tools.evaluate import ssim

WIDTH = 8


@pytest.fixture(scope="module")
def calibration_set():
    """The shared photos where present, else the synthetic set (the path itself is still tested)."""
    if (DATA_DIR / "persons").is_dir():
        return calibration.read_folder(DATA_DIR)
    warnings.warn(f"{DATA_DIR} is absent: the int8 path is calibrated on synthetic persons and garments")
    return calibration.synthetic(3, 4)


@pytest.fixture
def nets(tmp_path):
    gmm, tom = tmp_path / "gmm.onnx", tmp_path / "tom.onnx"
    seed_onnx.build_gmm(gmm, width=WIDTH)  # with the custom Correlation node, like the published file
    seed_onnx.build_tom(tom, width=WIDTH)
    return gmm, tom


def test_calibration_pairs_use_every_person_and_garment():
    for persons, garments in ((14, 19), (3, 4), (5, 2), (1, 7)):
        pairs = calibration.calibration_pairs(persons, garments)
        assert {p for p, _ in pairs} == set(range(persons)) and {g for _, g in pairs} == set(range(garments))
        assert len(set(pairs)) == len(pairs)


def test_calibration_reads_the_shared_photos(tryon_data):
    cal = calibration.read_folder(tryon_data)
    assert len(cal.persons) == len(list((tryon_data / "persons").glob("*.jpg")))  # all have pose + parse
    assert len(cal.garments) == len(list((tryon_data / "garments").glob("*.jpg")))
    assert any(m is not None for m in cal.masks)  # cloth_mask/ read
    feeds = list(calibration.gmm_feeds(cal))
    assert len(feeds) == len(cal.pairs)
    agnostic, cloth = feeds[0][GMM_INPUTS[0]], feeds[0][GMM_INPUTS[1]]
    assert agnostic.shape == (1, 22, 256, 192) and cloth.shape == (1, 3, 256, 192)
    assert agnostic.min() >= -1 and agnostic.max() <= 1 and cloth.min() >= -1 and cloth.max() <= 1
    assert (agnostic[0, 4:] > -1).any()  # pose channels drawn from the JSON keypoints
    assert "persons" not in cal.source or cal.source.startswith(str(tryon_data))


def test_calibration_folder_without_photos_names_the_layout(tmp_path):
    with pytest.raises(FileNotFoundError, match="persons/NAME.jpg"):
        calibration.read_folder(tmp_path)


def test_tom_feeds_are_what_the_render_stage_feeds(nets, calibration_set):
    gmm, _ = nets
    warp = GmmWarp(GMM(gmm, precision="fp32"))
    person, garments, masks = next(calibration_set.by_person())
    feed = next(calibration.tom_feeds(calibration_set, warp))["input.1"]
    agnostic, cloth = TomRenderer(tom=None).inputs(person, warp.warp(person, garments[:1], masks[:1]))
    np.testing.assert_array_equal(feed, TOM.input_blob(agnostic, cloth))


def test_int8_chain_end_to_end_close_to_fp32(nets, calibration_set):
    gmm, tom = nets
    gmm_int8 = calibration.gmm_int8(gmm, calibration_set)
    tom_int8 = calibration.tom_int8(tom, calibration_set, gmm=gmm)
    assert "QuantizeLinear" in {n.op_type for n in onnx.load(str(tom_int8)).graph.node}

    stages = {p: {"warp": GmmWarp(GMM(gmm, precision=p)), "render": TomRenderer(TOM(tom, precision=p))}
              for p in ("fp32", "int8")}
    warp8 = stages["int8"]["warp"]
    assert warp8.gmm.run_path == str(gmm_int8) and hasattr(warp8.gmm, "_person")  # split at the same cut
    assert warp8.info["precision"] == "int8" and warp8.info["derived"] == gmm_int8.name
    assert stages["int8"]["render"].info["derived"] == tom_int8.name
    assert stages["fp32"]["warp"].info["precision"] == "fp32" and "derived" not in stages["fp32"]["warp"].info

    person, garments, masks = list(calibration_set.by_person())[-1]
    out = {p: chain.render(person, garments, ChainOptions(mode="seed"), garment_masks=masks, stage_objects=s)
           for p, s in stages.items()}
    for a, b in zip(out["fp32"], out["int8"]):
        assert a.tryon.shape == b.tryon.shape == (256, 192, 3)
        assert not np.array_equal(a.tryon, b.tryon)  # int8 really ran
        # Loose: random weights at width 8 (measured max |Δ| ≈ 0.2–0.5, SSIM ≈ 0.91–0.95 on the shared photos).
        assert np.abs(a.tryon - b.tryon).max() < 0.75
        assert ssim(a.tryon, b.tryon) > 0.8
        assert b.stages["warp"]["precision"] == "int8"


def test_int8_at_load_without_calibration_photos_says_what_to_do(nets, monkeypatch):
    gmm, tom = nets
    monkeypatch.setenv("TRYON_ONNX_PRECISION", "int8")
    monkeypatch.delenv("TRYON_CALIBRATION_DIR", raising=False)
    for load in (lambda: GMM(gmm), lambda: TOM(tom)):
        with pytest.raises(MissingWeightsError, match=r"tools\.seed_precision.*TRYON_CALIBRATION_DIR"):
            load()
    monkeypatch.setenv("TRYON_CALIBRATION_DIR", str(gmm.parent / "nowhere"))
    with pytest.raises(MissingWeightsError, match="TRYON_CALIBRATION_DIR: .*nowhere"):
        GMM(gmm)


def test_int8_at_load_calibrates_on_the_configured_photos(nets, monkeypatch, tryon_data):
    gmm, tom = nets
    monkeypatch.setenv("TRYON_ONNX_PRECISION", "int8")
    monkeypatch.setenv("TRYON_CALIBRATION_DIR", str(tryon_data))
    monkeypatch.setenv("TRYON_GMM_ONNX", str(gmm))
    warp, render = GmmWarp.load(), TomRenderer.load(tom=str(tom))
    assert warp.gmm.precision == render.tom.precision == "int8"
    from models.onnx.precision import describe
    meta = describe(render.tom.run_path)
    assert meta["calibration"].endswith(f"garments warped by the fp32 GMM {gmm.name}")
    assert str(tryon_data) in meta["calibration"]
    # the chain's version says int8, so composites rendered in fp32 are re-rendered
    monkeypatch.setenv("TRYON_CHAIN", "seed")
    assert chain.chain_version(ChainOptions(mode="seed")).endswith("/int8")
    monkeypatch.setenv("TRYON_ONNX_PRECISION", "fp32")
    assert not chain.chain_version(ChainOptions(mode="seed")).endswith("/fp32")
