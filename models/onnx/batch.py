"""Run an OpenCV DNN net on a batch, falling back to one item at a time where the graph
cannot batch (e.g. an ONNX export whose Reshape before the Linear layer has batch 1 baked in,
as a 2020 torch export of the GMM may have: OpenCV then fails or returns a wrong shape)."""
from __future__ import annotations

import cv2
import numpy as np

from models import settings
from models.onnx.correlation import register_correlation_layer
from models.onnx.runner import OnnxNet, configured_engine
from models.weights import MissingWeightsError


class BatchRunner:
    """Remembers per net whether a batched forward worked, so the failing attempt is made once."""

    def __init__(self, net: "cv2.dnn.Net | OnnxNet", input_names: tuple[str, ...], output_tail: tuple[int, ...]):
        self.net = net
        self.input_names = input_names
        self.output_tail = output_tail
        self.batches: bool | None = None  # None: not tried yet

    def _forward(self, inputs: tuple[np.ndarray, ...]) -> np.ndarray:
        if isinstance(self.net, OnnxNet):  # onnxruntime engine; "" = the graph's only input
            names = [name or self.net.input_names[0] for name in self.input_names]
            return self.net.forward(dict(zip(names, inputs)))[0]
        for name, blob in zip(self.input_names, inputs):
            self.net.setInput(np.ascontiguousarray(blob, dtype=np.float32), name)
        return self.net.forward()

    def __call__(self, *inputs: np.ndarray) -> np.ndarray:
        n = len(inputs[0])
        step = settings.current().max_net_batch  # larger garment batches run in slices of this size
        if n > step:  # activations grow with the batch; past a few items only memory grows
            return np.concatenate([self(*(x[i:i + step] for x in inputs)) for i in range(0, n, step)], axis=0)
        if n > 1 and self.batches is not False:
            try:
                out = self._forward(inputs)
                if out.shape == (n, *self.output_tail):
                    self.batches = True
                    return out
            except Exception:  # noqa: BLE001 — cv2.error, or onnxruntime's Fail/InvalidArgument on a batch-1 export
                pass
            self.batches = False
        outs = [self._forward(tuple(x[i:i + 1] for x in inputs)) for i in range(n)]
        for out in outs:
            if out.shape != (1, *self.output_tail):
                raise ValueError(f"network output {out.shape}, expected (1, {', '.join(map(str, self.output_tail))})")
        return np.concatenate(outs, axis=0)


def read_net(*paths) -> cv2.dnn.Net:
    """cv2.dnn.readNet, with a file that exists but is no network OpenCV can read reported as a
    MissingWeightsError naming it (the CLI turns that into one line and exit code 2)."""
    try:
        return cv2.dnn.readNet(*map(str, paths))
    except cv2.error as exc:
        reason = str(exc).strip().splitlines()[-1].split("error: ")[-1][:160]
        raise MissingWeightsError(f"{' + '.join(map(str, paths))}: not a network OpenCV can load ({reason})") from None


def read_onnx(path) -> "cv2.dnn.Net | OnnxNet":
    """One of the seed's ONNX networks (GMM, TOM) on the configured engine ($TRYON_ONNX_ENGINE;
    see models/onnx/runner.py), a file neither engine can load reported as MissingWeightsError."""
    if configured_engine() == "onnxruntime":  # a Correlation node is rewritten in memory
        try:
            return OnnxNet(path, engine="onnxruntime", threads=settings.current().threads)
        except Exception as exc:  # noqa: BLE001 — protobuf DecodeError, onnxruntime Fail/InvalidGraph…
            reason = str(exc).strip().splitlines()[-1][:160] if str(exc).strip() else type(exc).__name__
            raise MissingWeightsError(f"{path}: not a network onnxruntime can load ({reason})") from None
    register_correlation_layer()  # must precede readNet for a graph with the Correlation node
    net = read_net(path)
    net.enableWinograd(settings.current().dnn_winograd)
    return net
