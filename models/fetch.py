"""`python -m models.fetch [--strict]` (= `make models`): put every declared weight file into
weights_dir().

Each network module declares its WeightFiles (name, url, known_hash, size); this module only
collects them and runs the fetchers below, one per kind of source. A file that cannot be
fetched (e.g. the seed chain's Dropbox/CMU links where only package registries are reachable)
is reported as "absent: <name> (<reason>)" and the others carry on; the exit code is 0 unless
--strict is given and something is missing.
"""
from __future__ import annotations

import argparse
import sys
from urllib.parse import urlparse

import pooch

from models.weights import WeightFile, weights_dir

DOWNLOAD_TIMEOUT_S = 60  # per request: an unreachable host must not hang `make models`


def seed_weight_files() -> list[WeightFile]:
    """The seed chain's files, from the modules that use them (rembg style: declared beside the code)."""
    from models.gmm import GMM_ONNX
    from models.lip_jppnet import LIP_JPPNET_PB
    from models.openpose import OPENPOSE_CAFFEMODEL, OPENPOSE_PROTOTXT
    from models.tom import TOM_ONNX

    return [OPENPOSE_PROTOTXT, OPENPOSE_CAFFEMODEL, LIP_JPPNET_PB, GMM_ONNX, TOM_ONNX]


def fetch_url_files(weights: list[WeightFile] | None = None) -> list[tuple[str, str]]:
    """pooch.retrieve each file that has a URL (checks known_hash; skips a present, valid file).
    Returns [(name, reason)] of the files that could not be fetched."""
    try:
        import tqdm  # noqa: F401  (pooch's progress bar needs it)
        progressbar = True
    except ImportError:
        progressbar = False
    missing = []
    for weight in weights if weights is not None else seed_weight_files():
        if weight.url is None:
            continue
        try:
            path = pooch.retrieve(
                weight.url, known_hash=weight.known_hash, fname=weight.name, path=weights_dir(),
                downloader=pooch.HTTPDownloader(progressbar=progressbar, timeout=DOWNLOAD_TIMEOUT_S),
            )
            print(f"present: {weight.name} ({path})")
        except Exception as exc:  # noqa: BLE001 — any failure of one file is reported, not fatal
            missing.append((weight.name, _reason(exc, weight.url)))
    return missing


def _reason(exc: Exception, url: str) -> str:
    import requests

    if isinstance(exc, requests.exceptions.ConnectionError):
        return f"cannot reach {urlparse(url).hostname}"
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:200]


def fetch_wheel_files() -> list[tuple[str, str]]:
    """The registry chain's files, extracted from the pinned mediapipe wheel (models/wheel_weights.py)."""
    from models.wheel_weights import fetch_wheel_members, wheel_weight_files

    try:
        fetch_wheel_members()
        return []
    except Exception as exc:  # noqa: BLE001
        return [(w.name, f"{type(exc).__name__}: {exc}"[:200]) for w in wheel_weight_files()]


# One entry per kind of source; each returns [(name, reason)] for what it could not fetch.
FETCHERS = [fetch_url_files, fetch_wheel_files]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m models.fetch", description=__doc__.splitlines()[0])
    parser.add_argument("--strict", action="store_true", help="exit 1 if any declared file is missing")
    args = parser.parse_args(argv)
    weights_dir().mkdir(parents=True, exist_ok=True)
    missing = []
    for fetcher in FETCHERS:
        missing += fetcher()
    for name, reason in missing:
        print(f"absent: {name} ({reason})")
    if missing:
        print(f"{len(missing)} file(s) absent from {weights_dir()}; stages needing them fall back or report it.")
    return 1 if (missing and args.strict) else 0


if __name__ == "__main__":
    sys.exit(main())
