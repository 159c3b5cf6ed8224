"""Fixtures the chain's tests share (the dataset fixture `tryon_data` is in tests/conftest.py)."""
from __future__ import annotations

import pytest

from models.chain import declared_weights
from models.weights.wheel import fetch_wheel_members


@pytest.fixture(scope="session")
def wheel_models():
    """The geometric chain's three .tflite files, fetched the way `make models` does (fast when present)."""
    return fetch_wheel_members([w for w in declared_weights() if w.wheel_member], log=lambda *_: None)
