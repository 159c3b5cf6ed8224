"""The layering of the batch system: producer → worker → models. The worker package imports
nothing from the producer or the tools above it (the nightly task, which plans, is registered
by name in worker/celery_app.py's include list, not imported)."""
from __future__ import annotations

import ast

import pytest

from worker.local_stack import REPO

ABOVE_THE_WORKER = ("producer", "scripts", "bench", "chaos", "tests")


def _imported_modules(path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", sorted((REPO / "worker").glob("*.py")), ids=lambda p: p.name)
def test_the_worker_imports_neither_the_producer_nor_the_tools(path):
    upward = {m for m in _imported_modules(path) if m.split(".")[0] in ABOVE_THE_WORKER}
    assert not upward, f"worker/{path.name} imports {sorted(upward)}"


@pytest.mark.parametrize("path", sorted((REPO / "producer").glob("*.py")), ids=lambda p: p.name)
def test_the_producer_imports_no_tools(path):
    upward = {m for m in _imported_modules(path) if m.split(".")[0] in ABOVE_THE_WORKER[1:]}
    assert not upward, f"producer/{path.name} imports {sorted(upward)}"
