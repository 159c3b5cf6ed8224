"""CP-VTON's FeatureCorrelation, as the OpenCV dnn Python layer the seed GMM needs.

The published GMM (`cp_vton_gmm.onnx`, exported from l-bat/cp-vton) contains one node of the
non-standard op `Correlation` (default domain) taking the two L2-normalised feature maps
A (person/agnostic branch) and B (cloth branch), both (b, c, h, w) = (1, 512, 16, 12):

    out[b, k, i, j] = Σ_c A[b, c, y_k, x_k] · B[b, c, i, j],   k = x_k·h + y_k

i.e. A's positions are flattened x-major (A is transposed to (c, w, h) before flattening), and
the output is (b, h·w, h, w). OpenCV only runs that graph after
`cv2.dnn_registerLayer('Correlation', CorrelationLayer)`; OpenCV 5 broke Python layers, which is
why models/onnx/correlation_rewrite.py exists.
"""
from __future__ import annotations

import cv2
import numpy as np


def correlation(feature_a: np.ndarray, feature_b: np.ndarray) -> np.ndarray:
    """Numpy reference of the Correlation node: (b,c,h,w) × (b,c,h,w) → (b, h·w, h, w) float32."""
    b, c, h, w = feature_a.shape
    if feature_b.shape != feature_a.shape:
        raise ValueError(f"Correlation: A {feature_a.shape} and B {feature_b.shape} differ in shape")
    # (b, c, w, h) → (b, c, w·h): column k of A_flat is A[:, :, y, x] with k = x·h + y.
    a_flat = np.ascontiguousarray(feature_a.transpose(0, 1, 3, 2)).reshape(b, c, w * h)
    b_flat = feature_b.reshape(b, c, h * w)
    # scores[b, p, k] = Σ_c B[b, c, p] · A[b, c, k], p = i·w + j (B flattened row-major).
    scores = np.matmul(b_flat.transpose(0, 2, 1), a_flat)
    return np.ascontiguousarray(scores.reshape(b, h, w, h * w).transpose(0, 3, 1, 2), dtype=np.float32)


class CorrelationLayer:
    """OpenCV dnn Python layer for the `Correlation` node (the interface cv2.dnn_registerLayer wants)."""

    def __init__(self, params, blobs):
        pass  # the node has no attributes and no weights

    def getMemoryShapes(self, inputs):
        b, c, h, w = inputs[0]
        return [[b, h * w, h, w]]

    def forward(self, inputs):
        return [correlation(np.asarray(inputs[0]), np.asarray(inputs[1]))]


def register_correlation_layer() -> None:
    """Make cv2.dnn's ONNX importer map `Correlation` nodes to CorrelationLayer. Idempotent:
    OpenCV keeps a per-type stack of registrations, so unregister our previous one first."""
    try:
        cv2.dnn_unregisterLayer("Correlation")
    except cv2.error:
        pass  # nothing registered yet
    cv2.dnn_registerLayer("Correlation", CorrelationLayer)


def unregister_correlation_layer() -> None:
    """Remove the registration (tests use it to prove a rewritten graph needs no Python layer)."""
    try:
        cv2.dnn_unregisterLayer("Correlation")
    except cv2.error:
        pass
