"""The geometric chain's work split by what it depends on, per pair against the floor measured
in the same run (issue 12, items 1 and 2). One thread (the per-pair budget is for one core).

floor        what any renderer does per pair at the photo's size (1024×768 by default): cv2.remap
             of an H×W×3 uint8 image with float32 maps (bilinear), an alpha blend onto the photo
             (cv2.blendLinear, float weights), cv2.imencode JPEG at the worker's quality.
per pair     chain.render of one person × a batch of garments (the worker's TRYON_RENDER_BATCH
             garments per call), the person's layers and the garments' analyses already cached
             (as in a batch: every garment of a customer after the first, every customer of a
             garment after the first), plus the JPEG encode of each composite; per pair = the
             batch's time / its size. CPU time of the one thread (what the pair costs a core;
             the machine is shared, so wall time, also recorded, holds other processes' turns),
             median and minimum over repetitions; the floor is timed the same way.
steps        the same batch stage by stage (CPU time), timed from outside the chain: framing (memoised per
             person), the warp (its garment-cache look-up with the photo's content hash, the map
             evaluation on the coarse grids, the remaps, the reach out to the old garment's
             footprint, the rest: placement, windows), the composite (shade, layer, blend, QA
             counts), paste-back (+ the 256×192 copy), JPEG encode. The sub-steps of the warp
             are measured by wrapping models.geometric.warp's functions during separate runs.
per person   pose + parsing (prepare_person, the part cached in Redis: Person.to_bytes) and the
             per-person layers (models.geometric.layers, cached in-process only), their sizes as
             they would be stored compactly (PNG, uint8) and the time to decode them.
per garment  what the garment cache saves: a warp with the garment's analysis evicted minus
             the same warp with it cached (analysis, matte, part sources).
"""
from __future__ import annotations

import statistics
import time
from contextlib import contextmanager

import cv2
import numpy as np

from bench.harness import load_average

FLOOR_HW = (1024, 768)
BUDGET_MS = 60.0          # issue 12 item 1: per pair, 1024×768, one core
FLOOR_MULTIPLE = 3.0      # issue 12 item 2: per pair ≤ 3× the floor
STEPS = ("frame", "warp: garment look-up", "warp: maps", "warp: remap", "warp: reach to old footprint",
         "warp: rest", "composite", "paste-back", "encode")


def _options():
    from models.contract import ChainOptions
    return ChainOptions(mode="geometric")


def _times(fn, reps: int, warmup: int = 1) -> list[tuple[float, float]]:
    """(wall, CPU) seconds of `fn()` per repetition. With one thread the CPU time is what the
    pair costs one core; the wall time also holds the waits for a core that other processes
    on the machine caused (the machine is shared: both are reported)."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(max(1, reps)):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        out.append((time.perf_counter() - t0, time.process_time() - c0))
    return out


def _stat(samples: list[tuple[float, float]], n: int = 1) -> dict:
    """Per item (÷ n) medians and minimums of CPU time (`median_ms`, `min_ms`) and wall time."""
    wall, cpu = [s[0] for s in samples], [s[1] for s in samples]
    return {"median_ms": statistics.median(cpu) * 1000 / n, "min_ms": min(cpu) * 1000 / n,
            "wall_median_ms": statistics.median(wall) * 1000 / n, "wall_min_ms": min(wall) * 1000 / n,
            "reps": len(samples)}


# --- the floor -------------------------------------------------------------------------------------
def floor(photo: np.ndarray, garment: np.ndarray, reps: int, quality: int, hw=FLOOR_HW) -> dict:
    """remap + blend + encode at `hw` on real images (JPEG's time depends on the content)."""
    h, w = hw
    base = cv2.resize(photo, (w, h), interpolation=cv2.INTER_AREA)
    source = cv2.resize(garment, (w, h), interpolation=cv2.INTER_AREA)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    map_x = (w / 2 + (xx - w / 2) * 1.1 + 6 * np.sin(yy / 40)).astype(np.float32)
    map_y = (h / 2 + (yy - h / 2) * 1.05 + 4 * np.sin(xx / 30)).astype(np.float32)
    alpha = np.zeros((h, w), np.float32)
    cv2.ellipse(alpha, (w // 2, h // 2), (w // 3, h // 3), 0, 0, 360, 1.0, -1)
    alpha = cv2.GaussianBlur(alpha, (0, 0), 3)
    inverse = 1 - alpha
    box = {}

    def remap():
        box["warped"] = cv2.remap(source, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)

    def blend():
        box["out"] = cv2.blendLinear(box["warped"], base, alpha, inverse)

    def encode():
        ok, _ = cv2.imencode(".jpg", box["out"], [cv2.IMWRITE_JPEG_QUALITY, quality])
        assert ok

    def whole():
        remap()
        blend()
        encode()

    parts = {"remap": _stat(_times(remap, reps)), "blend": _stat(_times(blend, reps)),
             "encode": _stat(_times(encode, reps)), "whole": _stat(_times(whole, 3 * reps))}
    return {"hw": [h, w], "jpeg_quality": quality, **parts}


# --- per person: what caching the layers with the Person would store ------------------------------
def _png(a: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", a, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    assert ok
    return buf.tobytes()


def compact_layers(layers, crop_rgb01: np.ndarray) -> dict[str, bytes]:
    """The PersonLayers' images as they could be cached with the Person: uint8 PNGs, the base
    only where it differs from the photo's crop (the rest is the photo, which the worker has),
    the shading as a uint8 log (1/64 steps), soft alphas and boolean masks as uint8. (The fit
    is a few hundred floats.) A size estimate for the decision, not a codec the chain uses."""
    u8 = lambda x: np.clip(np.rint(x * 255), 0, 255).astype(np.uint8)  # noqa: E731
    base, crop = u8(layers.base), u8(crop_rgb01)
    changed = (base != crop).any(axis=2)
    out = {"base (changed pixels)": _png(np.where(changed[..., None], base, 0)),
           "shading (log, uint8)": _png(np.clip(np.rint(np.log(np.maximum(layers.shading, 1e-3)) * 64 + 128),
                                                0, 255).astype(np.uint8))}
    for name in ("front", "arms_front", "neck"):
        out[name] = _png(u8(getattr(layers, name)))
    for name in ("silhouette", "synthesised", "old_region", "residue_candidates"):
        out[name] = _png(getattr(layers, name).astype(np.uint8) * 255)
    for name in ("snap_zone", "snap_arms"):
        if getattr(layers, name, None) is not None:
            out[name] = _png(getattr(layers, name))
    return out


def per_person(photos: list, reps: int, log) -> tuple[list, dict]:
    from models import chain
    from models.contract import BadInputError
    from models.geometric import layers as geometric_layers
    from models.geometric.warp import work_size

    people, rows = [], []
    for name, photo in photos:
        try:
            t = _times(lambda: chain.prepare_person(photo, _options(), name=name), reps=1, warmup=1)
            person = chain.prepare_person(photo, _options(), name=name)
            framed = chain.frame_person(person, "upper")
        except BadInputError as exc:
            log(f"  {name}: refused ({exc}); not timed")
            continue
        x0, y0, x1, y1 = framed.crop_box
        hw = work_size(y1 - y0, x1 - x0)
        build = _times(lambda: geometric_layers.build_layers(framed, "upper", hw), reps=max(1, reps // 2), warmup=0)
        layers = geometric_layers.person_layers(framed, "upper", hw)
        compact = compact_layers(layers, geometric_layers.work_crop(framed, hw))
        decode = _times(lambda: [cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_UNCHANGED)
                                 for b in compact.values()], reps=3, warmup=0)
        row = {"photo": name, "crop_box": list(framed.crop_box), "work_hw": list(hw),
               "prepare_person_s": min(c for _, c in t), "layers_s": min(c for _, c in build),
               "layers_wall_s": min(w for w, _ in build),
               "person_bytes": len(person.to_bytes()), "layers_compact_bytes": sum(map(len, compact.values())),
               "layers_compact_parts": {k: len(v) for k, v in compact.items()},
               "layers_decode_s": min(c for _, c in decode),
               "layers_in_memory_bytes": int(sum(getattr(layers, k).nbytes for k in (
                   "base", "shading", "front", "arms_front", "neck", "silhouette", "synthesised", "old_region",
                   "residue_candidates")))}
        rows.append(row)
        people.append((name, photo, person))
        log(f"  {name}: pose+parsing {row['prepare_person_s']:.2f} s, layers {row['layers_s']:.2f} s "
            f"({hw[1]}×{hw[0]}); Person {row['person_bytes'] / 1e3:.0f} KB, layers compact "
            f"{row['layers_compact_bytes'] / 1e3:.0f} KB (decode {row['layers_decode_s'] * 1000:.0f} ms)")
    summary = {}
    if rows:
        for key in ("prepare_person_s", "layers_s", "person_bytes", "layers_compact_bytes", "layers_decode_s"):
            values = [r[key] for r in rows]
            summary[key] = {"median": statistics.median(values), "min": min(values), "max": max(values)}
    return people, {"rows": rows, "summary": summary}


# --- per garment ---------------------------------------------------------------------------------
def per_garment(framed, garments: list, log) -> dict:
    from models import chain
    from models.geometric import garment as geometric_garment

    warp = chain.loaded_stages(_options())[1]["warp"]
    rows = []
    for name, image in garments:
        geometric_garment.ANALYSED.clear()
        cold = _times(lambda: warp.warp(framed, [image], names=[name]), reps=1, warmup=0)[0][1]
        warm = min(c for _, c in _times(lambda: warp.warp(framed, [image], names=[name]), reps=2, warmup=0))
        rows.append({"garment": name, "cold_warp_s": cold, "warm_warp_s": warm, "per_garment_s": cold - warm})
    values = [r["per_garment_s"] for r in rows]
    log(f"  per garment (analysis, matte, part sources; cached by content): median "
        f"{statistics.median(values):.2f} s over {len(rows)} garments")
    return {"rows": rows, "median_s": statistics.median(values), "min_s": min(values), "max_s": max(values)}


# --- per pair -----------------------------------------------------------------------------------
@contextmanager
def _step_clock(totals: dict):
    """Wrap models.geometric.warp's sub-steps (where present) to add their seconds to `totals`."""
    from models.geometric import warp

    names = {"analysed_garment": "warp: garment look-up", "grid_maps": "warp: maps", "_remap": "warp: remap",
             "snap_to_footprint": "warp: reach to old footprint"}
    saved = {}
    for attr, step in names.items():
        fn = getattr(warp, attr, None)
        if fn is None:
            continue

        def timed(*a, _fn=fn, _step=step, **k):
            t0 = time.process_time()
            try:
                return _fn(*a, **k)
            finally:
                totals[_step] = totals.get(_step, 0.0) + time.process_time() - t0
        saved[attr] = fn
        setattr(warp, attr, timed)
    try:
        yield
    finally:
        for attr, fn in saved.items():
            setattr(warp, attr, fn)


def per_pair(people: list, garments: list, batch: int, reps: int, quality: int, log) -> dict:
    from models import chain
    from models.contract import REPR_H, REPR_W
    from models.paste_back import paste_back

    options, stage = chain.loaded_stages(_options())
    images = [g for _, g in garments][:batch]
    names = [n for n, _ in garments][:batch]
    encode = lambda image: cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])[1]  # noqa: E731
    whole, steps_runs = [], []
    for name, photo, person in people:
        chain.render(person, images, options, names=names)          # warm: layers, analyses, part sources

        def run():
            for c in chain.render(person, images, options, names=names):
                encode(c.image)
        whole += _times(run, reps, warmup=1)

        for _ in range(reps):
            totals: dict = {}
            t0 = time.process_time()
            framed = chain.frame_person(person, "upper")
            t1 = time.process_time()
            with _step_clock(totals):
                warped = stage["warp"].warp(framed, images, names=names)
            t2 = time.process_time()
            rendered = stage["render"].render(framed, warped)
            t3 = time.process_time()
            fulls = []
            for image in rendered:
                fulls.append(paste_back(photo, framed.crop_box, image))
                cv2.resize(image, (REPR_W, REPR_H), interpolation=cv2.INTER_AREA).astype(np.float32)
            t4 = time.process_time()
            for full in fulls:
                encode(full)
            t5 = time.process_time()
            sub = sum(totals.values())
            steps_runs.append({"frame": t1 - t0, **totals, "warp: rest": (t2 - t1) - sub,
                               "composite": t3 - t2, "paste-back": t4 - t3, "encode": t5 - t4})
            # freed before the next repetition, as chain.render frees them: a batch's full-size
            # float images still held would make the next one's allocations fresh pages
            del warped, rendered, fulls
    n = len(images)
    per_pair_ms = _stat(whole, n)
    steps = {}
    for step in STEPS:
        values = [r.get(step, 0.0) for r in steps_runs]
        steps[step] = {"median_ms": statistics.median(values) * 1000 / n, "min_ms": min(values) * 1000 / n}
    return {"batch": n, "persons": len(people), "per_pair": per_pair_ms, "steps": steps,
            "steps_sum_median_ms": sum(s["median_ms"] for s in steps.values())}


def bench_pair(reps: int, persons: int = 3, garments: int = 8, log=print) -> dict:
    """The whole part (one thread); restores the thread count it found."""
    from bench.pairs import load_images
    from models import chain
    from worker.config import settings

    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        load = [load_average()]
        photos = load_images("persons", persons)
        cloth = load_images("garments", garments)
        chain.loaded_stages(_options())
        quality, render_batch = settings().jpeg_quality, settings().render_batch
        log(f"  one thread; {len(photos)} persons ({', '.join(sorted({f'{p.shape[1]}×{p.shape[0]}' for _, p in photos}))}), "
            f"{len(cloth)} garments")
        result: dict = {"threads": 1, "jpeg_quality": quality, "render_batch": render_batch}
        result["floor"] = floor(photos[0][1], cloth[0][1], reps=max(5, 2 * reps), quality=quality)
        fl = result["floor"]
        log(f"  floor at {fl['hw'][1]}×{fl['hw'][0]}: remap {fl['remap']['median_ms']:.1f} + blend "
            f"{fl['blend']['median_ms']:.1f} + encode {fl['encode']['median_ms']:.1f} → whole "
            f"{fl['whole']['median_ms']:.1f} ms CPU (min {fl['whole']['min_ms']:.1f}; wall median "
            f"{fl['whole']['wall_median_ms']:.1f})")
        people, result["per_person"] = per_person(photos, reps, log)
        if not people:
            raise RuntimeError("every bench photo was refused: nothing to time per pair")
        result["per_garment"] = per_garment(chain.frame_person(people[0][2], "upper"), cloth, log)
        result["pairs"] = per_pair(people, cloth, min(len(cloth), render_batch), reps, quality, log)
        load.append(load_average())
        result["load_average"] = load
        pp, steps = result["pairs"]["per_pair"], result["pairs"]["steps"]
        result["per_pair_ms"] = pp["median_ms"]
        result["floor_ms"] = fl["whole"]["median_ms"]
        result["floor_multiple"] = pp["median_ms"] / fl["whole"]["median_ms"]
        result["floor_multiple_min"] = pp["min_ms"] / fl["whole"]["min_ms"]
        log(f"  per pair (batch {result['pairs']['batch']}, {result['pairs']['persons']} persons): "
            f"{pp['median_ms']:.1f} ms CPU median, {pp['min_ms']:.1f} min (wall median {pp['wall_median_ms']:.1f}) "
            f"= {result['floor_multiple']:.1f}× the floor "
            f"(min/min {result['floor_multiple_min']:.1f}×)")
        for step, s in steps.items():
            log(f"    {step:30s} {s['median_ms']:6.1f} ms (min {s['min_ms']:.1f})")
        return result
    finally:
        cv2.setNumThreads(threads)

