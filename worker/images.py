"""Input images in, composites out: decoding with the guards a batch renderer needs (empty,
oversized and pixel-bomb inputs are refused before decoding), and JPEG encoding."""
from __future__ import annotations

import struct

import cv2
import numpy as np

from models.contract import MAX_PIXELS, BadInputError, check_image


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG or JPEG header without decoding; None for other formats."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    if data[:2] == b"\xff\xd8":
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                return None
            marker = data[i + 1]
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
                i += 2
                continue
            length = struct.unpack(">H", data[i + 2:i + 4])[0]
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # SOFn frame header
                h, w = struct.unpack(">HH", data[i + 5:i + 9])
                return w, h
            i += 2 + length
    return None


def decode_image(data: bytes, name: str, max_bytes: int) -> np.ndarray:
    """Bytes → BGR uint8, refusing empty, oversized and pixel-bomb inputs before decoding."""
    if not data:
        raise BadInputError(f"{name}: empty object")
    if len(data) > max_bytes:
        raise BadInputError(f"{name}: too large ({len(data)} bytes; limit {max_bytes})")
    size = image_size(data)
    if size is not None and size[0] * size[1] > MAX_PIXELS:
        raise BadInputError(f"{name}: too large ({size[0]}×{size[1]} px; limit {MAX_PIXELS} pixels)")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return check_image(image, name)


def encode_jpeg(image_bgr: np.ndarray, quality: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", image_bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()
