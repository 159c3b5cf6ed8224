"""The chain's settings (models/settings.py): read from the environment in one place, set
explicitly by a process without touching os.environ."""
import os

import pytest

from models import settings


def test_defaults_and_environment(monkeypatch):
    for name in ("TRYON_CHAIN", "TRYON_THREADS", "TRYON_MAX_NET_BATCH", "TRYON_DNN_WINOGRAD", "TRYON_ONNX_ENGINE"):
        monkeypatch.delenv(name, raising=False)
    s = settings.current()
    assert (s.chain, s.threads, s.max_net_batch, s.dnn_winograd, s.onnx_engine) == ("auto", None, 4, False, "onnxruntime")
    monkeypatch.setenv("TRYON_THREADS", "3")
    monkeypatch.setenv("TRYON_MAX_NET_BATCH", "0")      # at least 1
    monkeypatch.setenv("TRYON_DNN_WINOGRAD", "1")
    s = settings.current()
    assert (s.threads, s.max_net_batch, s.dnn_winograd) == (3, 1, True)


def test_configure_overrides_without_writing_the_environment(monkeypatch):
    monkeypatch.setenv("TRYON_THREADS", "4")
    try:
        assert settings.configure(threads=1).threads == 1
        assert settings.current().threads == 1 and os.environ["TRYON_THREADS"] == "4"
        with pytest.raises(TypeError, match="unknown"):
            settings.configure(thread=2)
    finally:
        settings.configure(threads=None)
    assert settings.current().threads == 4
