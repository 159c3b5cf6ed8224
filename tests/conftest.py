"""Shared fixtures. Dataset-backed tests read ../shared/data/tryon (research licence: never
copied into the repo) and skip with a clear message where it is absent."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("TRYON_DATA", REPO.parent / "shared" / "data" / "tryon"))


@pytest.fixture(scope="session")
def tryon_data() -> Path:
    if not (DATA_DIR / "persons").is_dir():
        pytest.skip(f"dataset folder {DATA_DIR} is absent (set TRYON_DATA to a folder in the "
                    "layout of shared/data/tryon to run this test)")
    return DATA_DIR
