"""TOM's test-time composition (CP-VTON; OpenCV's virtual_try_on.py `get_tryon`).

The ONNX graph stops at TOM's raw 4 channels; tanh and sigmoid are applied here:
    R = tanh(out[:, :3])        rendered person, [−1,1]
    M = sigmoid(out[:, 3])      composition mask
    P = Cw·M + R·(1 − M)        Cw: the warped cloth, [−1,1]
    image = (P + 1) / 2

Difference from the sample: it then applies cvtColor(BGR2RGB) to RGB data (so its result is
really BGR, which is what imshow wants). Here the result stays RGB, as the chain's contract says.
"""
from __future__ import annotations

import numpy as np


def compose_tom(tom_out: np.ndarray, warped_cloth: np.ndarray) -> np.ndarray:
    """tom_out (N,4,H,W) raw, warped_cloth (N,3,H,W) RGB in [−1,1] → (N,H,W,3) float32 RGB in
    [0,1] (not clipped, as the sample; it is in range whenever the cloth is)."""
    tom_out = np.asarray(tom_out, dtype=np.float32)
    rendered = np.tanh(tom_out[:, :3])
    mask = 1.0 / (1.0 + np.exp(-tom_out[:, 3:4]))
    person = warped_cloth * mask + rendered * (1.0 - mask)
    return ((person.transpose(0, 2, 3, 1) + 1.0) / 2.0).astype(np.float32)
