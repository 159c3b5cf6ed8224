"""The seed GMM/TOM's arithmetic next to fp32: int8 (onnxruntime static quantization) and bf16.

    TRYON_ONNX_PRECISION=fp32 | int8 | bf16        (models.settings; fp32 is the default)

int8 — derived from the fp32 file, never shipped: `int8_file(src, feeds)` returns
`<stem>.int8-<key>.onnx` beside the source (or in ~/.cache/tryon/onnx where that folder is
read-only), `<key>` a hash of the source file's sha256 and of `INT8_RECIPE`, so a new source
file or a new recipe makes a new file and a stale one is never used. Made once (a file lock
keeps two worker processes from both making it), from calibration inputs the caller supplies
(the seed chain's own preprocessing on photos: models/seed/calibration.py). The recipe:

    Correlation rewritten into standard ops (models/onnx/correlation_rewrite.py) → opset 13
    → onnxruntime's quant_pre_process (shape inference, fusions) → quantize_static, QDQ format,
    uint8 activations / int8 weights per output channel (the setting onnxruntime recommends
    for x86 with VNNI), activation ranges by percentile calibration (99.99, collected in passes
    of CALIBRATION_PASS inputs to bound memory); Conv (+ the Relu/LeakyRelu/Concat between
    convolutions) is quantized, ≥99% of the multiply-adds, except the convolutions reading the
    graph inputs and the last one. Norms, Resize, the correlation's MatMul and the final
    Linear stay fp32.

Calibration, source checksum and recipe are recorded in the file's metadata (`describe()`).

bf16 — onnxruntime's CPU execution provider (MLAS) has no bfloat16 Conv or MatMul kernel on
x86, AMX-BF16 or not (`bf16_unavailable()` tries one and returns the error): the setting is
refused with that reason rather than quietly running fp32. It runs only on builds with another
execution provider (oneDNN, OpenVINO), which the project does not use.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import os
import tempfile
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import onnx

from models import settings
from models.onnx.correlation_rewrite import has_correlation, rewrite_correlation

PRECISIONS = ("fp32", "int8", "bf16")
INT8_OP_TYPES = ("Conv", "Relu", "LeakyRelu", "Concat")
INT8_OPSET = 13  # per-channel QDQ (DequantizeLinear's axis) needs it; the published files are opset 11
# Changing the recipe below changes INT8_RECIPE, hence the derived files' names: old ones are not reused.
CALIBRATION_PERCENTILE = 99.99  # activation ranges clip this percentile of |x| (MinMax: mean SSIM 0.949 → 0.968)
CALIBRATION_PASS = 2  # inputs per calibration pass (memory)
INT8_RECIPE = (f"qdq-u8act-s8w-perchannel-percentile{CALIBRATION_PERCENTILE}-{'+'.join(INT8_OP_TYPES)}"
               f"-fp32-first-last-conv-opset{INT8_OPSET}-v2")


def check_precision(precision: str, engine: str) -> str:
    """`precision` if this engine and this onnxruntime can run it, else ValueError saying why."""
    if precision not in PRECISIONS:
        raise ValueError(f"TRYON_ONNX_PRECISION={precision!r}: expected one of {', '.join(PRECISIONS)}")
    if precision != "fp32" and engine != "onnxruntime":
        raise ValueError(f"TRYON_ONNX_PRECISION={precision}: runs on onnxruntime only "
                         f"(TRYON_ONNX_ENGINE={engine!r}); set TRYON_ONNX_ENGINE=onnxruntime or use fp32")
    if precision == "bf16":
        reason = bf16_unavailable()
        if reason:
            raise ValueError(f"TRYON_ONNX_PRECISION=bf16: {reason}. Use fp32 or int8.")
    return precision


def configured_precision() -> str:
    """The seed GMM/TOM's precision (TRYON_ONNX_PRECISION), checked against the engine."""
    s = settings.current()
    return check_precision(s.onnx_precision, s.onnx_engine)


# --- bf16: what this onnxruntime offers --------------------------------------------------------
def cpu_bf16_flags() -> list[str]:
    """The CPU's bfloat16 instruction sets (Linux /proc/cpuinfo), e.g. ['amx_bf16', 'avx512_bf16']."""
    try:
        flags = next((line.split(":", 1)[1].split() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("flags")), [])
    except OSError:
        flags = []
    return sorted(f for f in set(flags) if "bf16" in f)


def _bf16_conv_model() -> onnx.ModelProto:
    from onnx import TensorProto, helper

    weight = helper.make_tensor("w", TensorProto.BFLOAT16, [2, 2, 1, 1], np.zeros(4, np.uint16).tobytes(), raw=True)
    nodes = [helper.make_node("Cast", ["x"], ["xb"], to=TensorProto.BFLOAT16),
             helper.make_node("Conv", ["xb", "w"], ["yb"]),
             helper.make_node("Cast", ["yb"], ["y"], to=TensorProto.FLOAT)]
    graph = helper.make_graph(nodes, "bf16_probe", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 2, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 2, 2])], [weight])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 22)])  # Conv takes bfloat16 from opset 22


@functools.lru_cache(maxsize=None)
def bf16_unavailable() -> str | None:
    """None if onnxruntime runs a bfloat16 convolution on this machine; otherwise the reason, with
    onnxruntime's own error. (Tried once per process on a 2-channel 1×1 convolution.)"""
    import onnxruntime as ort

    cpu = cpu_bf16_flags()
    has = f"this CPU has {', '.join(cpu)}" if cpu else "this CPU has no bfloat16 instructions"
    try:
        session = ort.InferenceSession(_bf16_conv_model().SerializeToString(), providers=["CPUExecutionProvider"])
        session.run(None, {"x": np.ones((1, 2, 2, 2), np.float32)})
    except Exception as exc:  # noqa: BLE001 — NOT_IMPLEMENTED / INVALID_GRAPH from the session
        error = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return (f"not available: {has}, but onnxruntime {ort.__version__}'s CPU execution provider has no "
                f"bfloat16 Conv kernel ({error[:160]}); only other execution providers (oneDNN, OpenVINO) "
                f"use AMX-BF16/AVX512-BF16, and neither is in this onnxruntime package")
    return (f"onnxruntime {ort.__version__} runs a bfloat16 Conv here ({has}), but the project has no "
            "bf16 conversion of the seed networks yet (none could be tested on earlier builds)")


# --- int8: derived files ----------------------------------------------------------------------
@functools.lru_cache(maxsize=64)
def _sha256(path: str, mtime: float, size: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a file, hashed once per process per file version (size, mtime)."""
    stat = os.stat(path)
    return _sha256(str(Path(path).resolve()), stat.st_mtime, stat.st_size)


def cache_dir() -> Path:
    """Where derived files go when the source's folder is read-only (a mounted weights folder)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tryon" / "onnx"


def derived_name(src: str | os.PathLike, precision: str = "int8") -> str:
    """`<stem>.int8-<key>.onnx`: key = hash of the source's sha256 and the recipe."""
    key = hashlib.sha256(f"{file_sha256(src)}/{INT8_RECIPE}".encode()).hexdigest()[:16]
    return f"{Path(src).stem}.{precision}-{key}.onnx"


def derived_candidates(src: str | os.PathLike, precision: str = "int8") -> list[Path]:
    """Where the derived file of `src` is looked for, in order: beside it, then cache_dir()."""
    name = derived_name(src, precision)
    return [Path(src).parent / name, cache_dir() / name]


def find_derived(src: str | os.PathLike, precision: str = "int8") -> Path | None:
    return next((p for p in derived_candidates(src, precision) if p.is_file()), None)


def _write_target(src: str | os.PathLike, precision: str) -> Path:
    beside, cached = derived_candidates(src, precision)
    if os.access(beside.parent, os.W_OK):
        return beside
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        if os.access(cached.parent, os.W_OK):
            return cached
    except OSError:
        pass
    raise PermissionError(f"{src}: cannot keep its {precision} file: neither {beside.parent} nor {cached.parent} "
                          "is writable (make it where it can be kept with `python -m tools.seed_precision`)")


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive lock on `path`'s folder (flock on the directory: no lock file is left behind):
    one process derives a file, the others wait and then reuse it."""
    import fcntl

    fd = os.open(path.parent, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def int8_file(src: str | os.PathLike, feeds: Callable[[], Iterable[dict[str, np.ndarray]]],
              calibration: str | Callable[[], str] = "", force: bool = False,
              log: Callable[[str], None] | None = None) -> Path:
    """The int8 file derived from `src`: found beside it (or in cache_dir()), else made now from
    `feeds()` (calibration inputs: dicts of graph input name → float32 batch) and kept.
    `calibration` (or its value once the feeds are read) describes them for the file's
    metadata; `force` makes it again."""
    if not force:
        found = find_derived(src, "int8")
        if found:
            return found
    dst = _write_target(src, "int8")
    with _locked(dst):
        if dst.is_file() and not force:  # another process made it while this one waited
            return dst
        if log:
            log(f"{src}: quantizing to int8 → {dst}")
        quantize_int8(src, dst, feeds(), calibration)
    return dst


class _Feeds:
    """The calibration inputs as onnxruntime's CalibrationDataReader reads them (get_next → dict
    or None), at most `limit` per pass once `next_pass(limit)` is called (the percentile
    calibrator keeps every intermediate tensor of a pass in memory: ~200 MB per input for the
    real-size TOM)."""

    _END = object()

    def __init__(self, feeds: Iterable[dict[str, np.ndarray]], names: list[str]):
        self._it, self._names, self.count = iter(feeds), names, 0
        self.limit, self._in_pass = None, 0
        self._ahead = next(self._it, self._END)

    def next_pass(self, limit: int) -> bool:
        """Start a pass of at most `limit` inputs; False when none is left."""
        self.limit, self._in_pass = limit, 0
        return self._ahead is not self._END

    def get_next(self):
        if self._ahead is self._END or (self.limit is not None and self._in_pass >= self.limit):
            return None
        item, self._ahead = self._ahead, next(self._it, self._END)
        missing = set(self._names) - set(item)
        if missing:
            raise ValueError(f"calibration input lacks {sorted(missing)} (the graph's inputs are {self._names})")
        self.count += 1
        self._in_pass += 1
        return {n: np.ascontiguousarray(item[n], np.float32) for n in self._names}


def _kept_in_fp32(model: onnx.ModelProto) -> list[str]:
    """Names of the convolutions that read a graph input, and of the last one: the layers whose
    error reaches the input's detail or the output most directly (measured on the real-size TOM
    with random weights: mean SSIM vs fp32 0.968 → 0.972, no measurable time)."""
    inputs = {v.name for v in model.graph.input}
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    kept = [n.name for n in convs if n.input[0] in inputs] + ([convs[-1].name] if convs else [])
    return list(dict.fromkeys(kept))


def _name_nodes(model: onnx.ModelProto) -> None:
    taken = {n.name for n in model.graph.node}
    for i, node in enumerate(model.graph.node):
        if not node.name:
            node.name = f"{node.op_type}_tryon_{i}"
            while node.name in taken:
                node.name += "_"
            taken.add(node.name)


def quantize_int8(src: str | os.PathLike, dst: str | os.PathLike, feeds: Iterable[dict[str, np.ndarray]],
                  calibration: str | Callable[[], str] = "") -> None:
    """Write the int8 (QDQ) form of the ONNX file `src` to `dst` (atomically), calibrated on `feeds`."""
    import inspect

    from onnx import version_converter
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    model = onnx.load(str(src))
    if has_correlation(model):  # onnxruntime runs the model to calibrate it: standard ops only
        model = rewrite_correlation(model)
    if _opset(model) < INT8_OPSET:
        model = version_converter.convert_version(model, INT8_OPSET)
    initializers = {t.name for t in model.graph.initializer}
    names = [v.name for v in model.graph.input if v.name not in initializers]

    class Reader(_Feeds, CalibrationDataReader):
        pass

    reader = Reader(feeds, names)
    with tempfile.TemporaryDirectory(prefix="tryon-int8-") as tmp:
        fp32, prepared, quantized, ranges = (os.path.join(tmp, n) for n in
                                             ("fp32.onnx", "prepared.onnx", "int8.onnx", "ranges.json"))
        onnx.save(model, fp32)
        del model
        quant_pre_process(fp32, prepared, skip_symbolic_shape=True)
        model = onnx.load(prepared)
        _name_nodes(model)
        onnx.save(model, prepared)
        options = dict(quant_format=QuantFormat.QDQ, per_channel=True, activation_type=QuantType.QUInt8,
                       weight_type=QuantType.QInt8, op_types_to_quantize=list(INT8_OP_TYPES),
                       nodes_to_exclude=_kept_in_fp32(model), calibrate_method=CalibrationMethod.Percentile,
                       extra_options={"CalibPercentile": CALIBRATION_PERCENTILE})
        del model
        if "calibration_cache_path" in inspect.signature(quantize_static).parameters:
            _percentile_ranges(prepared, reader, os.path.join(tmp, "augmented.onnx"), ranges)
            quantize_static(prepared, quantized, None, calibration_cache_path=ranges, **options)
        else:  # an older onnxruntime: one pass over every input (memory grows with their number)
            quantize_static(prepared, quantized, reader, **options)
        if reader.count == 0:
            raise ValueError(f"{src}: no calibration inputs")
        out = onnx.load(quantized)
    calibration = calibration() if callable(calibration) else calibration
    meta = {"tryon.source": Path(src).name, "tryon.source_sha256": file_sha256(src), "tryon.recipe": INT8_RECIPE,
            "tryon.calibration": f"{reader.count} inputs" + (f": {calibration}" if calibration else "")}
    existing = {p.key: p for p in out.metadata_props}
    for key, value in meta.items():
        prop = existing.get(key) or out.metadata_props.add()
        prop.key, prop.value = key, value
    dst = Path(dst)
    fd, tmp_path = tempfile.mkstemp(prefix=dst.name + ".", suffix=".tmp", dir=dst.parent)
    os.close(fd)
    try:
        onnx.save(out, tmp_path)
        os.replace(tmp_path, dst)
    finally:
        if os.path.exists(tmp_path):
            os.remove(tmp_path)


def _percentile_ranges(model_path: str, reader: _Feeds, augmented: str, out_json: str) -> None:
    """Activation ranges by onnxruntime's percentile calibrator, fed CALIBRATION_PASS inputs per pass
    (its histograms merge across passes), saved where quantize_static reads them."""
    from onnxruntime.quantization import CalibrationMethod
    from onnxruntime.quantization.calibrate import create_calibrator, save_tensors_data

    calibrator = create_calibrator(Path(model_path), list(INT8_OP_TYPES), augmented_model_path=augmented,
                                   calibrate_method=CalibrationMethod.Percentile,
                                   extra_options={"percentile": CALIBRATION_PERCENTILE, "symmetric": True,
                                                  "num_bins": 2048})
    while reader.next_pass(CALIBRATION_PASS):
        calibrator.collect_data(reader)
    if reader.count == 0:
        return
    with contextlib.redirect_stdout(io.StringIO()):  # the calibrator prints its histogram settings
        ranges = calibrator.compute_data()
    save_tensors_data(ranges, out_json)


def describe(path: str | os.PathLike) -> dict[str, str]:
    """The `tryon.*` metadata of a derived file (source, its sha256, recipe, calibration)."""
    model = onnx.load(str(path), load_external_data=False)
    return {p.key[len("tryon."):]: p.value for p in model.metadata_props if p.key.startswith("tryon.")}


def _opset(model: onnx.ModelProto) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
