"""Input images in, composites out: decoding with the guards a batch renderer needs (empty,
oversized and pixel-bomb inputs are refused before decoding), and JPEG encoding.

The pixel count of every input is read from its header before it is decoded: Pillow's lazy
`Image.open` (header only) for every format the worker decodes (JPEG, PNG, WebP, BMP, TIFF);
an input whose header cannot be read is refused, never handed to the decoder (a 1.8 MB
20000×20000 TIFF once took a worker from 394 MB to 2.6 GB before it was refused)."""
from __future__ import annotations

import io
import struct
import warnings

import cv2
import numpy as np

from models.contract import MAX_PIXELS, BadInputError, check_image


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the image's header without decoding its pixels; None when no
    header can be read."""
    from PIL import Image, UnidentifiedImageError
    try:
        with warnings.catch_warnings():
            # Pillow's own bomb guard warns (or raises past 2× its limit): we judge the size ourselves.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                return im.size
    except Image.DecompressionBombError as e:
        size = _size_in_message(str(e))
        if size is not None:
            return size
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, struct.error):
        pass
    return _png_or_jpeg_size(data)


def _size_in_message(message: str) -> tuple[int, int] | None:
    # "Image size (400000000 pixels) exceeds limit…": the count is all Pillow says
    import re
    m = re.search(r"\((\d+) pixels\)", message)
    return None if m is None else (int(m.group(1)), 1)


def _png_or_jpeg_size(data: bytes) -> tuple[int, int] | None:
    """The PNG/JPEG header parsers kept from before Pillow did it: a JPEG whose later
    segments Pillow rejects may still state its frame size."""
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
    if size is None:
        # no JPEG, PNG, WebP, BMP or TIFF header: the same words as an image OpenCV cannot decode
        raise BadInputError(f"{name}: not a decodable image")
    if size[0] * size[1] > MAX_PIXELS:
        shown = f"{size[0]}×{size[1]} px" if size[1] > 1 else f"{size[0]} px"
        raise BadInputError(f"{name}: too large ({shown}; limit {MAX_PIXELS} pixels)")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return check_image(image, name)


def encode_jpeg(image_bgr: np.ndarray, quality: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", image_bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()
