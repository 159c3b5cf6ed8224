"""One ONNX network behind a switch: OpenCV dnn (the sample's engine) or onnxruntime.

    net = OnnxNet("cp_vton_gmm.onnx", engine="onnxruntime", threads=2)
    (theta,) = net.forward({"input.1": agnostic, "input.18": cloth})

A graph with the seed GMM's custom `Correlation` node runs in both: cv2.dnn gets the Python
layer registered (models.onnx.correlation), onnxruntime gets the graph rewritten into standard
ops in memory (models.onnx.correlation_rewrite). Both engines take any batch size the graph allows.
"""
from __future__ import annotations

import os

import cv2
import numpy as np
import onnx

from models import settings
from models.onnx.correlation import register_correlation_layer
from models.onnx.correlation_rewrite import has_correlation, rewrite_correlation

ENGINES = ("cv2", "onnxruntime")


def configured_engine() -> str:
    """The engine of the seed GMM/TOM stages (TRYON_ONNX_ENGINE, models.settings): onnxruntime
    by default, `cv2` the sample's engine (the one that needs no second runtime)."""
    engine = settings.current().onnx_engine
    if engine not in ENGINES:
        raise ValueError(f"TRYON_ONNX_ENGINE={engine!r}: expected one of {ENGINES}")
    return engine


class OnnxNet:
    def __init__(self, path: str | os.PathLike, engine: str = "cv2", threads: int | None = None,
                 winograd: bool | None = None):
        if engine not in ENGINES:
            raise ValueError(f"engine={engine!r}: expected one of {ENGINES}")
        self.path, self.engine, self.threads = str(path), engine, threads
        model = onnx.load(self.path)
        initializers = {t.name for t in model.graph.initializer}
        self.input_names = [v.name for v in model.graph.input if v.name not in initializers]
        self.output_names = [v.name for v in model.graph.output]
        self.has_correlation = has_correlation(model)

        if engine == "cv2":
            if threads:
                cv2.setNumThreads(threads)  # OpenCV's pool is process-wide: this sets it for every net
            if self.has_correlation:
                register_correlation_layer()  # must precede readNet
            self._net = cv2.dnn.readNetFromONNX(self.path)
            if winograd is not None:  # None: OpenCV's default (on)
                self._net.enableWinograd(winograd)
            self._cv2_outputs = list(self._net.getUnconnectedOutLayersNames())
        else:
            import onnxruntime as ort

            options = ort.SessionOptions()
            if threads:
                options.intra_op_num_threads = threads
                options.inter_op_num_threads = 1
            # No busy-waiting between runs: a worker process shares the cores with other worker
            # processes (and cv2.dnn), which spinning threads would rob.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            source = rewrite_correlation(model).SerializeToString() if self.has_correlation else self.path
            self._session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
        del model  # the engines keep their own copy of the weights

    def forward(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Run once; `inputs` maps every graph input name to an NCHW float32 array. Returns the
        graph outputs in declaration order."""
        missing = set(self.input_names) - set(inputs)
        unknown = set(inputs) - set(self.input_names)
        if missing or unknown:
            raise ValueError(f"{os.path.basename(self.path)}: inputs are {self.input_names}; "
                             f"missing {sorted(missing)}, unknown {sorted(unknown)}")
        feeds = {name: np.ascontiguousarray(inputs[name], dtype=np.float32) for name in self.input_names}
        if self.engine == "onnxruntime":
            return self._session.run(self.output_names, feeds)
        for name, blob in feeds.items():
            self._net.setInput(blob, name)
        outputs = self._net.forward(self._cv2_outputs)
        if len(outputs) > 1:  # cv2 names output layers its own way; put them in graph order
            order = {name: i for i, name in enumerate(self._cv2_outputs)}
            outputs = [outputs[order[self._cv2_layer_of(name)]] for name in self.output_names]
        return list(outputs)

    def _cv2_layer_of(self, output_name: str) -> str:
        for layer in self._cv2_outputs:
            if layer == output_name or layer.endswith("!" + output_name):
                return layer
        raise KeyError(f"{output_name}: no cv2 output layer produces it ({self._cv2_outputs})")

    def __repr__(self) -> str:
        return f"OnnxNet({os.path.basename(self.path)!r}, engine={self.engine!r}, threads={self.threads})"
