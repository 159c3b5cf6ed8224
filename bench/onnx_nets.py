"""The seed GMM and TOM at their real size (random weights): cv2.dnn vs onnxruntime, batch 1
and 4, their outputs compared, and the FLOP ceiling (multiply-adds per pair, achieved GFLOP/s).

The networks are built once by tools.seed_onnx (real architecture, width=64) into the bench
folder and reused on later runs; nothing is downloaded.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


REPO = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(os.environ.get("TRYON_BENCH_DIR") or REPO / "bench-out")

# File names the seed stage classes look for, so a weights folder holding these builds lets
# the chain's GMM/TOM stages run on them (the "seed warp+render" variant of the batch bench).
GMM_FILE = "cp_vton_gmm.onnx"
TOM_FILE = "cp_vton_tom.onnx"
GMM_REWRITTEN_FILE = "cp_vton_gmm_rewritten.onnx"


def built_nets(width: int = 64, folder: Path | None = None) -> dict[str, Path]:
    """Paths of the random-weight seed networks at `width` (64 = real size), building the
    missing ones: the GMM with the custom Correlation node, the GMM after the rewrite, the TOM."""
    from tools.seed_onnx import build_gmm, build_tom

    folder = Path(folder or BENCH_DIR / f"seed_w{width}")
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"gmm_custom": folder / GMM_FILE, "gmm_rewritten": folder / GMM_REWRITTEN_FILE,
             "tom": folder / TOM_FILE}
    if not paths["gmm_custom"].is_file():
        build_gmm(str(paths["gmm_custom"]), width=width, correlation="custom", seed=0)
    if not paths["gmm_rewritten"].is_file():
        build_gmm(str(paths["gmm_rewritten"]), width=width, correlation="rewritten", seed=0)
    if not paths["tom"].is_file():
        build_tom(str(paths["tom"]), width=width, seed=0)
    return paths


def random_inputs(net: str, batch: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Inputs of the real names and shapes, in the [-1, 1] range the sample's blobs have."""
    def u(*shape):
        return rng.uniform(-1, 1, size=shape).astype(np.float32)
    if net.startswith("gmm"):
        return {"input.1": u(batch, 22, 256, 192), "input.18": u(batch, 3, 256, 192)}
    return {"input.1": u(batch, 25, 256, 192)} if net == "tom" else {}


def _tom_inputs(model_path: Path, inputs: dict) -> dict:
    # The TOM has one input; use its declared name whatever the builder called it.
    import onnx
    name = onnx.load(str(model_path), load_external_data=False).graph.input[0].name
    return {name: next(iter(inputs.values()))}


def macs_per_pair(path: Path) -> int:
    import onnx
    from tools.seed_onnx import count_macs
    return int(count_macs(onnx.load(str(path))))


def open_net(path: Path, engine: str, threads: int):
    from models.onnx.runner import OnnxNet
    if engine.startswith("cv2"):
        return OnnxNet(str(path), engine="cv2", threads=threads, winograd=engine == "cv2-wino")
    return OnnxNet(str(path), engine=engine, threads=threads)


def memory_probe(path: Path, engine: str, batch: int, threads: int = 1) -> dict:
    """Peak RSS (VmHWM, MB) of a fresh process after loading one net and after one forward pass
    at `batch` — run as `python -m bench.onnx_nets PATH ENGINE BATCH` so nets do not mix."""
    out = subprocess.run([sys.executable, "-m", "bench.onnx_nets", str(path), engine, str(batch), str(threads)],
                         capture_output=True, text=True, cwd=REPO, check=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_onnx(reps: int, threads: int, batches=(1, 4), width: int = 64, folder: Path | None = None,
               memory_batch: int | None = 8, log=print) -> dict:
    """Per net × engine × batch: median seconds, per-pair ms, GFLOP/s; plus cv2-vs-ort agreement."""
    paths = built_nets(width, folder)
    rng = np.random.default_rng(0)
    result = {"width": width, "threads": threads, "files": {}, "runs": [], "agreement": {}, "macs_per_pair": {}}
    for name, path in paths.items():
        result["files"][name] = {"path": str(path), "size_mb": round(path.stat().st_size / 1e6, 1)}
    for name in ("gmm_rewritten", "tom"):
        result["macs_per_pair"][name] = macs_per_pair(paths[name])

    # The custom-layer GMM through the registered Python layer is the sample's way (cv2 only).
    # "cv2" is the chain's setting (Winograd off, TRYON_DNN_WINOGRAD=0); "cv2-wino" is OpenCV's
    # default (Winograd 3×3 convolutions on).
    plan = [("gmm_custom", "cv2-wino"), ("gmm_rewritten", "cv2-wino"), ("gmm_rewritten", "cv2"),
            ("gmm_rewritten", "onnxruntime"), ("tom", "cv2-wino"), ("tom", "cv2"), ("tom", "onnxruntime")]
    for batch in batches:
        inputs = {n: random_inputs(n, batch, rng) for n in ("gmm_custom", "tom")}
        inputs["gmm_rewritten"] = inputs["gmm_custom"]
        inputs["tom"] = _tom_inputs(paths["tom"], inputs["tom"])
        outputs, nets, samples = {}, {}, {}
        for name, engine in plan:
            try:
                nets[(name, engine)] = open_net(paths[name], engine, threads)
                outputs[(name, engine)] = nets[(name, engine)].forward(inputs[name])[0]  # also the warm-up
            except Exception as exc:  # noqa: BLE001 — e.g. an engine that cannot batch this graph
                log(f"  {name:14s} {engine:12s} batch {batch}: FAILED {type(exc).__name__}: {exc}")
                result["runs"].append({"net": name, "engine": engine, "batch": batch,
                                       "error": f"{type(exc).__name__}: {exc}"})
        # Interleaved: every repetition runs each configuration once, so a load burst from other
        # processes on the machine hits all of them alike instead of one configuration's block.
        for _ in range(max(1, reps)):
            for key, net in nets.items():
                t0 = time.perf_counter()
                net.forward(inputs[key[0]])
                samples.setdefault(key, []).append(time.perf_counter() - t0)
        nets.clear()
        for (name, engine), times in samples.items():
            median = statistics.median(times)
            macs = result["macs_per_pair"].get("gmm_rewritten" if name.startswith("gmm") else "tom")
            row = {"net": name, "engine": engine, "batch": batch, "median_s": median, "min_s": min(times),
                   "per_pair_ms": median * 1000 / batch, "min_per_pair_ms": min(times) * 1000 / batch,
                   "reps": len(times), "gflops": 2 * macs * batch / median / 1e9 if macs else None,
                   "gflops_best": 2 * macs * batch / min(times) / 1e9 if macs else None}
            result["runs"].append(row)
            log(f"  {name:14s} {engine:12s} batch {batch}: {row['per_pair_ms']:8.1f} ms/pair "
                f"(min {row['min_per_pair_ms']:.1f})  {row['gflops']:6.1f} GFLOP/s")
        for name in ("gmm_rewritten", "tom"):
            for engine in ("cv2-wino", "onnxruntime"):
                a, b = outputs.get((name, "cv2")), outputs.get((name, engine))
                if a is not None and b is not None:
                    result["agreement"][f"{name}_cv2_vs_{engine}_batch{batch}"] = float(np.abs(a - b).max())
        # What the chain outputs: TOM's channels composed with the cloth (tanh/sigmoid, [0,1] image).
        from models.seed.composition import compose_tom
        cloth = next(iter(inputs["tom"].values()))[:, 22:25]
        for engine in ("cv2-wino", "onnxruntime"):
            a, b = outputs.get(("tom", "cv2")), outputs.get(("tom", engine))
            if a is not None and b is not None:
                result["agreement"][f"tom_composed_cv2_vs_{engine}_batch{batch}"] = float(
                    np.abs(compose_tom(a, cloth) - compose_tom(b, cloth)).max())
        a, b = outputs.get(("gmm_custom", "cv2-wino")), outputs.get(("gmm_rewritten", "onnxruntime"))
        if a is not None and b is not None:
            result["agreement"][f"gmm_custom_cv2_vs_rewritten_ort_batch{batch}"] = float(np.abs(a - b).max())
    if memory_batch:
        result["memory"] = []
        for name, engine in [p for p in plan if p[0] != "gmm_custom"]:
            try:
                m = memory_probe(paths[name], engine, memory_batch, threads)
            except Exception as exc:  # noqa: BLE001
                m = {"error": f"{type(exc).__name__}: {exc}"}
            result["memory"].append({"net": name, "engine": engine, "batch": memory_batch, **m})
            log(f"  memory {name:14s} {engine:12s} batch {memory_batch}: {m}")
    return result


if __name__ == "__main__":  # one memory probe: PATH ENGINE BATCH THREADS
    from bench.harness import peak_rss_mb
    path, engine, batch, threads = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    start = peak_rss_mb()
    net = open_net(path, engine, threads)
    loaded = peak_rss_mb()
    feeds = random_inputs("gmm" if "gmm" in path.name else "tom", batch, np.random.default_rng(0))
    net.forward(feeds if "gmm" in path.name else _tom_inputs(path, feeds))
    print(json.dumps({"rss_start_mb": start, "rss_loaded_mb": loaded, "rss_peak_mb": peak_rss_mb()}))
