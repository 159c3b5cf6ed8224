"""Good inputs for the chaos scenarios: many small, distinct customers and garments, built
from the project's own demo inputs (scripts/demo_inputs.py: the NASA astronaut photo shipped
in scikit-image, T-shirts drawn with cv2). Small on purpose: ≥200 pairs must render in a few
minutes on 2 cores.
"""
from __future__ import annotations

import cv2
import numpy as np

from scripts import demo_inputs

CUSTOMER_H = 256  # customer photos are ~192×256..240×256: the chain's own grid size


def customers(n: int) -> dict[str, np.ndarray]:
    """n distinct photos of the astronaut: mirrored, re-framed, scaled, lighter/darker."""
    base = demo_inputs.astronaut_bgr()  # 512×512
    out = {}
    for i in range(n):
        photo = cv2.flip(base, 1) if i % 2 else base
        # Re-frame: a 3:4-ish window that moves a little with i, always around the person.
        x0 = 40 + (i * 7) % 48
        y0 = (i * 5) % 24
        x1 = x0 + 384 + (i % 3) * 16
        if not i % 2:
            # Wider crops of the unmirrored photo take in the helmet and the shuttle, which the
            # person finder may count as a second person (person-006, -020, -026 were refused).
            # With this cap persons 000-039 are accepted (checked 2026-11-29, after faces on the
            # person's own torso stopped counting); the scenarios use at most 10.
            x1 = min(x1, 440)
        crop = photo[y0:, x0:x1]
        crop = cv2.resize(crop, (int(crop.shape[1] * CUSTOMER_H / crop.shape[0]), CUSTOMER_H),
                          interpolation=cv2.INTER_AREA)
        gain = 0.85 + 0.03 * (i % 10)
        crop = np.clip(crop.astype(np.float32) * gain, 0, 255).astype(np.uint8)
        out[f"person-{i:03d}"] = crop
    return out


_COLOURS = [(40, 40, 200), (90, 40, 20), (30, 140, 30), (20, 20, 20), (0, 210, 250), (200, 120, 40),
            (150, 60, 150), (60, 60, 60), (0, 120, 255), (180, 180, 40)]


def garments(n: int) -> dict[str, np.ndarray]:
    """n distinct T-shirts on white: solid, striped and printed, in ten colours."""
    out = {}
    for i in range(n):
        colour = _COLOURS[i % len(_COLOURS)]
        second = _COLOURS[(i * 3 + 1) % len(_COLOURS)] if i % 3 else (250, 250, 250)
        fill = ("solid", "stripes", "print")[(i // len(_COLOURS) + i) % 3]
        out[f"tee-{i:03d}"] = demo_inputs.garment(fill, colour, second, text=f"T{i}" if fill == "print" else "")
    return out


def encode_jpeg(image: np.ndarray) -> bytes:
    return demo_inputs.encode(image, ".jpg")
