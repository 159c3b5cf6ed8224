"""models.chain.chain_version, which the batch system stamps on every composite and uses in
every fingerprint (moved here from the batch unit tests)."""
from __future__ import annotations


def test_chain_version_says_which_side_each_stage_runs_in_auto_mode(monkeypatch, tmp_path):
    from models.chain import ChainOptions
    from models.chain import chain_version
    monkeypatch.setenv("TRYON_WEIGHTS_DIR", str(tmp_path))  # no seed weights here
    auto = chain_version(ChainOptions(mode="auto"))
    assert auto.startswith(ChainOptions(mode="auto").fingerprint() + "/")
    assert auto.endswith("pose=registry,parsing=registry,warp=registry,render=registry")
    assert chain_version(ChainOptions(mode="registry")) == ChainOptions(mode="registry").fingerprint()
