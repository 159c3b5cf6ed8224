"""Bench inputs and the two baselines the batch system is compared with.

Inputs: the shared VITON-HD/VITON test photos when present (read in place, never copied
into the repo: research licence), else the demo's own images (astronaut variants and drawn
garments). Both baselines read local files and write local JPEGs; they do no S3 or Redis
work at all, so the batch system is compared with them under a handicap, not an advantage.

(a) `sample`: one process per pair (`python -m bench.pairs PHOTO GARMENT OUT`), the way the
    OpenCV sample runs: import, load every network, pose + parsing, one garment, exit.
(b) `loop`: one process, networks loaded once, then for each pair pose + parsing again and
    a single-garment render: no person cache and no garment batching.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import cv2

REPO = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("TRYON_DATA", REPO.parent / "shared" / "data" / "tryon"))
JPEG_QUALITY = 92


def load_images(kind: str, count: int) -> list[tuple[str, "np.ndarray"]]:
    """`count` decoded images of `kind` ("persons" or "garments"): the shared test photos when
    present (largest first), else the demo's own inputs (cycled if fewer than `count`)."""
    files = sorted((DATA_DIR / kind).glob("*.jpg"), key=lambda p: (-p.stat().st_size, p.name))
    if len(files) >= count:
        return [(f"{kind}/{p.name}", cv2.imread(str(p), cv2.IMREAD_COLOR)) for p in files[:count]]
    from scripts import demo_inputs  # the project's own images
    made = list((demo_inputs.customers() if kind == "persons" else demo_inputs.garments()).items())
    out = []
    for i in range(count):
        name, image = made[i % len(made)]
        if i >= len(made):  # a repeat gets different bytes (+1 grey level per round): no cache may hit it
            name, image = f"{name}-{i // len(made)}", cv2.add(image, (i // len(made),) * 3)
        out.append((name, image))
    return out


def clear_caches() -> None:
    """Empty every in-process cache of the chain (models.cache), so a baseline pair reuses nothing
    from the pair before it ("no cache"): the geometric warp's analysed garments, the seed GMM's
    branch features and garment masks. (The parsing stage's reuse of the pose pass within one
    pair is no cache: the pose stage hands it over.)"""
    from models import cache

    cache.clear_all()


def render_pair(photo_path: str | Path, garment_path: str | Path, out_path: str | Path) -> dict:
    """One pair, the uncached unbatched way; returns the chain's stage timings."""
    from models import chain

    clear_caches()
    photo = cv2.imread(str(photo_path), cv2.IMREAD_COLOR)
    garment = cv2.imread(str(garment_path), cv2.IMREAD_COLOR)
    t0 = time.perf_counter()
    person = chain.prepare_person(photo, name=str(photo_path))
    t1 = time.perf_counter()
    (composite,) = chain.render(person, [garment], names=[str(garment_path)])
    ok, jpeg = cv2.imencode(".jpg", composite.image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    Path(out_path).write_bytes(jpeg.tobytes())
    return dict(composite.timings, prepare_person=t1 - t0)


def sample_baseline(pairs: list[tuple[Path, Path]], out_dir: Path, env: dict) -> dict:
    """(a) one fresh process per pair. Returns wall seconds and pairs/s over `pairs`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    for i, (photo, garment) in enumerate(pairs):
        subprocess.run([sys.executable, "-m", "bench.pairs", str(photo), str(garment),
                        str(out_dir / f"sample_{i}.jpg")], env=env, check=True, cwd=REPO)
    wall = time.perf_counter() - t0
    return {"pairs": len(pairs), "wall_s": wall, "pairs_per_s": len(pairs) / wall}


def loop_baseline(pairs: list[tuple[Path, Path]], out_dir: Path) -> dict:
    """(b) one in-process loop, networks already loaded (the first pair is a warm-up, untimed)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    render_pair(*pairs[0], out_dir / "warmup.jpg")
    t0 = time.perf_counter()
    for i, (photo, garment) in enumerate(pairs):
        render_pair(photo, garment, out_dir / f"loop_{i}.jpg")
    wall = time.perf_counter() - t0
    return {"pairs": len(pairs), "wall_s": wall, "pairs_per_s": len(pairs) / wall}


if __name__ == "__main__":  # one pair in its own process: baseline (a)
    if len(sys.argv) != 4:
        sys.exit("usage: python -m bench.pairs PHOTO GARMENT OUT.jpg")
    threads = os.environ.get("TRYON_THREADS")
    if threads:
        cv2.setNumThreads(int(threads))
    render_pair(*sys.argv[1:])
