"""Fixtures of the seed chain's tests: small random-weight GMM/TOM graphs (tools/seed_onnx.py,
width 4) with the published files' input names and shapes."""
import pytest

from tools import seed_onnx


@pytest.fixture(scope="module")
def nets(tmp_path_factory):
    folder = tmp_path_factory.mktemp("seed_nets")
    paths = {"gmm": folder / "gmm.onnx", "gmm_rewritten": folder / "gmm_rw.onnx",
             "gmm_batch1": folder / "gmm_b1.onnx", "tom": folder / "tom.onnx"}
    seed_onnx.build_gmm(paths["gmm"], width=4)
    seed_onnx.build_gmm(paths["gmm_rewritten"], width=4, correlation="rewritten")
    seed_onnx.build_gmm(paths["gmm_batch1"], width=4, batch=1)
    seed_onnx.build_tom(paths["tom"], width=4)
    return paths
