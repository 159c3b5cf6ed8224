"""CP-VTON's cloth-agnostic person representation: 22 channels at 256×192, as OpenCV's
virtual_try_on.py builds it (`prepare_agnostic`, `get_pose_map`).

Channel order: [shape (1), head RGB (3), pose (18)], all in [−1, 1].

The parse goes through colour, as in the sample: the LIP label map is coloured with the LIP
palette, the COLOUR image is bilinearly resized to 192×256, and pixels are matched against
the palette. Blended colours at label boundaries match no entry, so those pixels count as
neither head nor body (this thins every region by about a pixel; faithful on purpose).
"""
from __future__ import annotations

import cv2
import numpy as np

from models.contract import REPR_H, REPR_W, Person
from models.labels import HEAD, HEAD_SAMPLE, LIP_PALETTE_RGB
from models.seed.pil_resize import pil_bilinear_resize

# Head = Hat, Hair, Sunglasses, Face (CP-VTON) — the sample adds Pants and Skirt, which keeps
# the lower body visible to TOM.
HEAD_LABELS_SAMPLE = HEAD_SAMPLE
HEAD_LABELS_CPVTON = HEAD

POSE_CONF_THRESHOLD = 0.1  # the sample's OpenPose threshold


def colour_labels(labels: np.ndarray) -> np.ndarray:
    """uint8 LIP label map → RGB palette image. Ids outside 0..19 (e.g. CP-VTON+'s 20) are
    coloured black, i.e. background, as no palette entry exists for them."""
    labels = np.asarray(labels)
    palette = np.zeros((256, 3), np.uint8)
    palette[: len(LIP_PALETTE_RGB)] = LIP_PALETTE_RGB
    return palette[labels.astype(np.uint8)]


def labels_on_grid(labels: np.ndarray) -> np.ndarray:
    """Label map (any size) → (256,192) int16 labels after the sample's colour round trip:
    colour, bilinear-resize the colour image to 192×256, match palette colours exactly.
    Unmatched (blended) pixels get −1."""
    colour = cv2.resize(colour_labels(labels), (REPR_W, REPR_H), interpolation=cv2.INTER_LINEAR)
    key = (colour[..., 0].astype(np.int32) << 16) | (colour[..., 1].astype(np.int32) << 8) | colour[..., 2]
    palette_key = (LIP_PALETTE_RGB[:, 0].astype(np.int32) << 16) | (LIP_PALETTE_RGB[:, 1].astype(np.int32) << 8) \
        | LIP_PALETTE_RGB[:, 2]
    out = np.full(key.shape, -1, np.int16)
    for label, k in enumerate(palette_key):
        out[key == k] = label
    return out


def shape_channel(body_mask_u8: np.ndarray) -> np.ndarray:
    """(256,192) 0/255 body mask → (1,256,192) float32 blurred silhouette in [−1,1]:
    PIL-bilinear down to 12×16, cv2 bilinear back up, x/127.5 − 1."""
    down = pil_bilinear_resize(body_mask_u8, (REPR_W // 16, REPR_H // 16))
    up = cv2.resize(down, (REPR_W, REPR_H), interpolation=cv2.INTER_LINEAR)
    return cv2.dnn.blobFromImage(up, 1.0 / 127.5, mean=(127.5, 127.5, 127.5), swapRB=True)[0]


def head_channel(crop_bgr: np.ndarray, head_mask: np.ndarray) -> np.ndarray:
    """(3,256,192) float32: the crop as RGB in [−1,1] where head_mask, −1 elsewhere.
    blobFromImage resizes the uint8 crop bilinearly to 192×256 first, as in the sample."""
    image = cv2.dnn.blobFromImage(crop_bgr, 1.0 / 127.5, (REPR_W, REPR_H), mean=(127.5, 127.5, 127.5),
                                  swapRB=True)[0]
    head = head_mask.astype(np.float32)[None]
    return image * head - (1 - head)


def pose_map(keypoints: np.ndarray, square: int = 10) -> np.ndarray:
    """(18,3) COCO-18 (x, y, conf) in the 192×256 grid → (18,256,192) float32 of ±1.

    square=10 is the sample: drawn where conf > 0.1 and x > 0 and y > 0, as
    map[y−5:y+5, x−5:x+5] (10×10, end exclusive). square=11 is CP-VTON: PIL's inclusive
    rectangle (x−5, y−5, x+5, y+5), drawn where x > 1 and y > 1 (its JSON has no missing-point
    confidence rule beyond zeros; conf 0 here still means missing).
    Coordinates are truncated to ints (the sample's are already multiples of 8). Slice starts
    are clipped at 0: numpy would wrap a negative start, which the sample's 8-px OpenPose
    positions (x, y ≥ 8) never produce but JSON keypoints near the border can.
    """
    if square not in (10, 11):
        raise ValueError("square must be 10 (OpenCV sample) or 11 (CP-VTON)")
    keypoints = np.asarray(keypoints, dtype=np.float32)
    out = np.full((len(keypoints), REPR_H, REPR_W), -1.0, np.float32)
    radius = 5
    for i, (x, y, conf) in enumerate(keypoints):
        if square == 10:
            ok = conf > POSE_CONF_THRESHOLD and x > 0 and y > 0
        else:
            ok = conf > 0 and x > 1 and y > 1
        if not ok:
            continue
        x, y = int(x), int(y)
        end = radius + (square - 2 * radius)  # 5 (exclusive → 10 px) or 6 (→ 11 px)
        out[i, max(y - radius, 0):max(y + end, 0), max(x - radius, 0):max(x + end, 0)] = 1.0
    return out


def person_representation(person: Person, cpvton_original: bool = False) -> np.ndarray:
    """(1,22,256,192) float32 agnostic tensor of a Person (crop from person.photo)."""
    grid_labels = labels_on_grid(person.parse)
    body = ((grid_labels > 0) * 255).astype(np.uint8)  # any non-background palette colour
    head_labels = HEAD_LABELS_CPVTON if cpvton_original else HEAD_LABELS_SAMPLE
    head = np.isin(grid_labels, head_labels)
    agnostic = np.concatenate([
        shape_channel(body),
        head_channel(person.crop, head),
        pose_map(person.keypoints, square=11 if cpvton_original else 10),
    ], axis=0)
    return agnostic[None].astype(np.float32)
