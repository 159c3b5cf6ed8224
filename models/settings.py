"""The chain's settings: every `TRYON_*` variable models/ reads, read here and nowhere else.

    from models import settings
    settings.current().onnx_engine          # a frozen Settings, from the environment
    settings.configure(threads=1)           # explicit values for this process (the batch worker)

`current()` reads the environment on every call (a few lookups; tests and tools change it
between calls), then applies what `configure()` set: a process sets its own values through
this API instead of writing `os.environ`. Values are checked where they are used (an invalid
engine name fails when a seed network is loaded, as it always did). The batch system's own
settings are read in worker/config.py.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

# `weights/` beside the repository (models/settings.py → the repository's root).
DEFAULT_WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"


@dataclass(frozen=True)
class Settings:
    """The chain's settings (README: configuration table)."""

    chain: str                   # TRYON_CHAIN: auto | seed | geometric ("registry": old name of geometric)
    weights_dir: Path            # TRYON_WEIGHTS_DIR: weight files
    onnx_engine: str             # TRYON_ONNX_ENGINE: the seed GMM/TOM's engine, onnxruntime | cv2
    onnx_precision: str          # TRYON_ONNX_PRECISION: the seed GMM/TOM's arithmetic, fp32 | int8 | bf16
    calibration_dir: Path | None  # TRYON_CALIBRATION_DIR: photos an int8 GMM/TOM is calibrated on at load
    dnn_winograd: bool           # TRYON_DNN_WINOGRAD: cv2.dnn Winograd convolutions for GMM/TOM
    threads: int | None          # TRYON_THREADS: compute threads per process (None: the libraries' default)
    max_net_batch: int           # TRYON_MAX_NET_BATCH: largest batch of one GMM/TOM forward pass
    gmm_onnx: str | None         # TRYON_GMM_ONNX: a GMM file used instead of the published one (unverified)
    tom_onnx: str | None         # TRYON_TOM_ONNX: the same for TOM


_overrides: dict = {}


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name) or default  # empty counts as unset, as everywhere in the project


def _from_environment() -> Settings:
    threads = _env("TRYON_THREADS")
    return Settings(
        chain=_env("TRYON_CHAIN", "auto"),
        weights_dir=Path(_env("TRYON_WEIGHTS_DIR") or DEFAULT_WEIGHTS_DIR),
        # onnxruntime by default: `make bench` ran the real-size GMM and TOM 1.5–3× faster than
        # cv2.dnn, with the composed output within 1e-4 (cv2 is the sample's engine).
        onnx_engine=_env("TRYON_ONNX_ENGINE", "onnxruntime"),
        # fp32 by default: int8 (onnxruntime static quantization, models/onnx/precision.py) was
        # ~2× faster in `make bench`, but its error could only be measured on random weights;
        # a user with the real weights checks it first (`python -m tools.seed_precision`).
        onnx_precision=_env("TRYON_ONNX_PRECISION", "fp32"),
        calibration_dir=Path(_env("TRYON_CALIBRATION_DIR")) if _env("TRYON_CALIBRATION_DIR") else None,
        # Off by default: its transformed weights cost ~230 MB per net at real size, and `make
        # bench` found it no faster on this workload.
        dnn_winograd=_env("TRYON_DNN_WINOGRAD", "0") not in ("0", "false", "no", "off"),
        threads=int(threads) if threads else None,
        # 4: the real-size TOM needs ~60 MB of activations per item, and `make bench` found
        # batches past 4 no faster per item.
        max_net_batch=max(1, int(_env("TRYON_MAX_NET_BATCH", "4"))),
        gmm_onnx=_env("TRYON_GMM_ONNX"),
        tom_onnx=_env("TRYON_TOM_ONNX"),
    )


def current() -> Settings:
    """The settings in force: the environment's, with what `configure()` set on top."""
    return dataclasses.replace(_from_environment(), **_overrides)


def configure(**values) -> Settings:
    """Set settings for this process (field names of Settings; None removes an override).
    The batch worker sets `threads` here once per pool process. Returns `current()`."""
    unknown = set(values) - {f.name for f in dataclasses.fields(Settings)}
    if unknown:
        raise TypeError(f"unknown chain settings: {sorted(unknown)}")
    for name, value in values.items():
        if value is None:
            _overrides.pop(name, None)
        else:
            _overrides[name] = value
    return current()
