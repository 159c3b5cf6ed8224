"""Timing primitives, thread settings and the machine/version record shared by every bench part."""
from __future__ import annotations

import os
import platform
import statistics
import time
from pathlib import Path
from typing import Callable

import cv2


def median_seconds(fn: Callable[[], object], reps: int, warmup: int = 1) -> dict:
    """Median wall time of `fn()` over `reps` runs after `warmup` untimed runs (first runs pay
    for lazy allocation, graph optimisation and page faults, which a batch worker pays once)."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(max(1, reps)):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return {"median_s": statistics.median(samples), "min_s": min(samples), "reps": len(samples)}


def set_threads(n: int) -> None:
    """One knob for every compute library in this process: OpenCV's pool (cv2.dnn, resize,
    remap) and the BLAS behind numpy. onnxruntime takes its intra-op count per session."""
    cv2.setNumThreads(n)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)  # read by child processes; the loaded BLAS keeps its pool
    os.environ["TRYON_THREADS"] = str(n)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def simd_flags() -> list[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return sorted(f for f in line.split(":", 1)[1].split() if f in ("fma", "avx2", "avx512f", "amx_tile"))
    except OSError:
        pass
    return []


def cpu_mhz() -> float | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("cpu MHz"):
                return float(line.split(":", 1)[1])
    except (OSError, ValueError):
        pass
    return None


def nominal_peak_gflops(cores: int) -> float | None:
    """fp32 peak by the book: cores × clock × FLOP/cycle, with two FMA units per core (2 × 2 ×
    lanes: 16 lanes for AVX-512, 8 for AVX2). A nominal ceiling, not a measured one: the
    reported clock is the base clock, turbo and AVX-512 down-clocking move it either way."""
    mhz, flags = cpu_mhz(), simd_flags()
    lanes = 16 if "avx512f" in flags else 8 if "avx2" in flags else None
    if not (mhz and lanes and "fma" in flags):
        return None
    return round(cores * mhz / 1000 * 2 * 2 * lanes, 1)


def machine_info() -> dict:
    mem_total = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_total = round(int(line.split()[1]) / 1024)
    except OSError:
        pass
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable_cores(),
        "mem_total_mb": mem_total,
        "cpu_mhz": cpu_mhz(),
        "simd": simd_flags(),
        "nominal_peak_gflops_fp32": nominal_peak_gflops(usable_cores()),
        "platform": platform.platform(),
        "load_average_at_start": load_average(),
    }


def versions() -> dict:
    import numpy
    out = {"python": platform.python_version(), "opencv": cv2.__version__, "numpy": numpy.__version__}
    for name in ("onnxruntime", "onnx", "celery", "redis", "boto3", "scipy"):
        try:
            out[name] = __import__(name).__version__
        except Exception as exc:  # noqa: BLE001 — a missing optional package is recorded, not fatal
            out[name] = f"absent ({type(exc).__name__})"
    try:
        from models.contract import CHAIN_VERSION
        out["chain"] = CHAIN_VERSION
    except Exception as exc:  # noqa: BLE001
        out["chain"] = f"unavailable ({exc})"
    return out


def peak_rss_mb(pid: int | str = "self") -> float | None:
    """Peak resident set size (VmHWM) of a live process, in MB; None if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def child_pids(pid: int) -> list[int]:
    """Direct and indirect children of `pid` (a Celery worker's pool processes)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            kids = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            continue
        for k in map(int, kids):
            out.append(k)
            todo.append(k)
    return out


def ms(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds * 1000:.1f}"
