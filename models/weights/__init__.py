"""Weight files: where they live, how they are checked, how they are fetched.

Each stage class declares its own `WeightFile`s next to its pre- and post-processing (rembg
style); this package only knows how to find, verify and fetch one:

    __init__.py   WeightFile, DeclaresWeights (the stage classes' base), resolve, weights_dir
    fetch.py      `python -m models.weights.fetch` (= `make models`): every declared file
    wheel.py      the geometric chain's files, extracted from the pinned mediapipe wheel

The folder is `$TRYON_WEIGHTS_DIR` (models.settings), or `weights/` beside the repository.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import pooch

from models import settings

FETCH_COMMAND = "make models"


class MissingWeightsError(FileNotFoundError):
    """A weight file is absent or does not match its checksum."""


@dataclass(frozen=True)
class WeightFile:
    """One file a network needs.

    `known_hash` is in pooch's form ("sha256:..." or "sha1:..."); None means the file has no
    published checksum (e.g. a prototxt kept beside the code).
    `url` is where `make models` downloads it from; `wheel_member` instead names the path of
    the file inside the mediapipe wheel (fetched with `pip download`).
    """

    name: str
    known_hash: str | None
    size: int | None = None
    url: str | None = None
    wheel_member: str | None = None
    note: str = ""

    @property
    def path(self) -> Path:
        return weights_dir() / self.name

    @property
    def short_hash(self) -> str:
        return (self.known_hash or "unchecked")[:19]


def weights_dir() -> Path:
    return settings.current().weights_dir


def is_present(weight: WeightFile) -> bool:
    return weight.path.is_file()


@functools.lru_cache(maxsize=None)
def _verified(path: str, known_hash: str | None, mtime: float, size: int) -> bool:
    # Hash once per process per file version: the LIP graph is 432 MB.
    return known_hash is None or pooch.file_hash(path, alg=known_hash.split(":")[0]) == known_hash.split(":")[1]


def resolve(weight: WeightFile, override: str | os.PathLike | None = None) -> Path:
    """Path of a present, checksum-verified weight file, or a MissingWeightsError naming it.

    `override` is a user-given path (CLI --gmm/--tom); it is used as is, unverified, because
    a user pointing at their own export is allowed to differ from the published file.
    """
    if override is not None:
        path = Path(override)
        if not path.is_file():
            raise MissingWeightsError(f"{path}: weight file not found (given on the command line)")
        return path
    path = weight.path
    if not path.is_file():
        raise MissingWeightsError(
            f"{weight.name}: not found in {weights_dir()} — run `{FETCH_COMMAND}` to fetch it"
            f" (or set TRYON_WEIGHTS_DIR to the folder that holds it)"
        )
    stat = path.stat()
    if not _verified(str(path), weight.known_hash, stat.st_mtime, stat.st_size):
        raise MissingWeightsError(
            f"{weight.name}: checksum mismatch (expected {weight.known_hash}) in {path} — "
            f"delete it and run `{FETCH_COMMAND}` again"
        )
    return path


def weights_record(weight: WeightFile, used_path: str | os.PathLike) -> str:
    """What an output records for a file it ran on: the checksum of the verified published file,
    or "unverified <path>" for a user-given override (not the published weights)."""
    if Path(used_path).resolve() == weight.path.resolve():
        return weight.known_hash or "unchecked"
    return f"unverified {used_path}"


class DeclaresWeights:
    """Base of every stage class: `weights` lists the files it needs (declared at the top of its
    own module; `make models` fetches the union over every stage), `available()` says whether
    they are all present (no hashing), `options` names the ChainOptions fields its `load()`
    takes."""

    weights: tuple[WeightFile, ...] = ()
    options: tuple[str, ...] = ()

    @classmethod
    def available(cls) -> bool:
        return all(is_present(w) for w in cls.weights)
