"""worker/config.py: every setting of the batch system, from the environment."""
from __future__ import annotations

import pytest

from worker.config import nightly_time, settings


def test_nightly_time_parsing():
    assert nightly_time("02:00") == (2, 0) and nightly_time("23:59") == (23, 59) and nightly_time("off") is None
    with pytest.raises(ValueError):
        nightly_time("25:00")


def test_prefix_settings_are_normalised(monkeypatch):
    monkeypatch.setenv("TRYON_CUSTOMERS_PREFIX", "/people")
    assert settings().customers_prefix == "people/"


def test_lost_chunks_wait_longer_than_a_message_can_stay_unacknowledged(monkeypatch):
    monkeypatch.setenv("TRYON_TASK_TIME_LIMIT", "100")
    monkeypatch.delenv("TRYON_RUN_STALLED_AFTER", raising=False)
    assert settings().run_stalled_after == 4 * 100 + 30


def test_pruning_is_on_unless_switched_off(monkeypatch):
    monkeypatch.delenv("TRYON_PRUNE", raising=False)
    assert settings().prune is True
    for value, expected in (("off", False), ("OFF", False), ("0", False), ("on", True), ("true", True)):
        monkeypatch.setenv("TRYON_PRUNE", value)
        assert settings().prune is expected
    monkeypatch.setenv("TRYON_PRUNE", "sometimes")
    with pytest.raises(ValueError, match="TRYON_PRUNE"):
        settings()
