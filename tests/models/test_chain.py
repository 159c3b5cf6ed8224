"""The chain's stage registry, version and entry points (models/chain.py)."""
import numpy as np
import pytest

from models import chain
from models.contract import CHAIN_VERSION, BadInputError, ChainOptions
from models.weights import WeightFile


class _Stage:
    weights, options = (), ()

    @classmethod
    def load(cls):
        return cls()


def _registry(monkeypatch, seed_available: bool, geometric_available: bool = True):
    seed = type("SeedPose", (_Stage,), {"chain": "seed", "available": classmethod(lambda cls: seed_available)})
    geometric = type("GeoPose", (_Stage,), {"chain": "geometric",
                                            "available": classmethod(lambda cls: geometric_available)})
    monkeypatch.setattr(chain, "REGISTRY", {"pose": (seed, geometric)})
    return seed, geometric


def test_auto_picks_the_first_available_implementation(monkeypatch):
    seed, geometric = _registry(monkeypatch, seed_available=True)
    assert chain.implementation("pose", "auto") is seed
    seed, geometric = _registry(monkeypatch, seed_available=False)
    assert chain.implementation("pose", "auto") is geometric
    # none available: the last, whose load() then names the missing file
    seed, geometric = _registry(monkeypatch, seed_available=False, geometric_available=False)
    assert chain.implementation("pose", "auto") is geometric


def test_a_forced_side_and_its_old_name(monkeypatch):
    seed, geometric = _registry(monkeypatch, seed_available=False)
    assert chain.implementation("pose", "seed") is seed           # forced even without weights
    assert chain.implementation("pose", "geometric") is geometric
    assert chain.implementation("pose", "registry") is geometric  # deprecated alias


def test_an_unknown_chain_is_refused_by_name():
    with pytest.raises(ValueError, match=r"TRYON_CHAIN='bogus': expected one of auto, seed, geometric"):
        chain.implementation("pose", "bogus")
    with pytest.raises(ValueError, match="bogus"):
        chain.stages(("bogus", False))


def test_options_for_a_framing_keep_the_defaults_where_they_frame_that_way():
    """The research export asks for a framing; where the options' own (auto) framing comes to
    it, they are returned as they are: same chain version, the render runs' cached persons."""
    geometric, seed = ChainOptions(mode="geometric"), ChainOptions(mode="seed")
    assert chain.options_for_framing("person", geometric) is geometric   # auto: person for the geometric renderer
    assert chain.options_for_framing("centre", seed) is seed             # auto: centre for the seed renderer
    centre = chain.options_for_framing("centre", geometric)
    assert (centre.mode, centre.framing) == ("geometric", "centre") and geometric.framing == "auto"
    assert chain.chain_version(centre) != chain.chain_version(geometric)
    assert chain.options_for_framing("person", seed).framing == "person"
    framed = ChainOptions(mode="geometric", framing="person")
    assert chain.options_for_framing("person", framed) is framed
    with pytest.raises(ValueError, match="framing 'auto'"):
        chain.options_for_framing("auto", geometric)


def test_every_stage_has_a_seed_and_a_geometric_implementation():
    for stage, impls in chain.REGISTRY.items():
        assert [impl.chain for impl in impls] == ["seed", "geometric"], stage


def test_chain_version_is_unchanged_by_the_rename(monkeypatch):
    """Outputs made before `registry` became `geometric` stay up to date: same version strings."""
    for name in ("TRYON_GMM_ONNX", "TRYON_TOM_ONNX"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TRYON_WEIGHTS_DIR", "/nonexistent")  # no seed weights: auto = geometric everywhere
    assert chain.chain_version(ChainOptions(mode="geometric")) == f"{CHAIN_VERSION}/registry/sample"
    assert chain.chain_version(ChainOptions(mode="registry")) == f"{CHAIN_VERSION}/registry/sample"
    assert chain.chain_version(ChainOptions(mode="seed", cpvton_original=True)) == f"{CHAIN_VERSION}/seed/cpvton"
    assert chain.chain_version(ChainOptions(mode="auto")) == \
        f"{CHAIN_VERSION}/auto/sample/pose=registry,parsing=registry,warp=registry,render=registry"


def test_declared_weights_are_every_stages_files_once():
    files = chain.declared_weights()
    assert all(isinstance(w, WeightFile) for w in files) and len({w.name for w in files}) == len(files)
    declared = {w.name for impls in chain.REGISTRY.values() for impl in impls for w in impl.weights}
    assert {w.name for w in files} == declared
    assert {w.name for w in files if w.wheel_member} == {
        "pose_landmark_full.tflite", "selfie_segmentation.tflite", "face_detection_short_range.tflite"}


def test_render_refuses_an_unknown_category():
    with pytest.raises(BadInputError, match="garment category 'hat'"):
        chain.render(None, [np.zeros((64, 64, 3), np.uint8)], category="hat")


def test_categories_the_seed_does_not_render_go_to_the_geometric_warp_and_render():
    """auto mode: CP-VTON's GMM/TOM render tops only; a lower garment or a dress gets the
    geometric warp and render (the person's own stages stay); seed mode refuses them."""
    from models.geometric.compositor import GeometricCompositor
    from models.geometric.warp import LandmarkWarp

    class SeedStage:
        chain = "seed"

    stage = {"pose": SeedStage(), "parsing": SeedStage(), "warp": SeedStage(), "render": SeedStage()}
    assert chain.category_stages(stage, "upper", "auto") is stage
    for category in ("lower", "dress"):
        swapped = chain.category_stages(stage, category, "auto")
        assert isinstance(swapped["warp"], LandmarkWarp) and isinstance(swapped["render"], GeometricCompositor)
        assert swapped["pose"] is stage["pose"] and swapped["parsing"] is stage["parsing"]
        with pytest.raises(BadInputError, match="renders upper garments only"):
            chain.category_stages(stage, category, "seed")
    geometric = {"warp": LandmarkWarp(), "render": GeometricCompositor()}
    assert chain.category_stages(geometric, "dress", "geometric") is geometric
