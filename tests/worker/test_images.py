"""worker/images.py: header sizes without decoding, and the decoder's refusals."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from models.contract import BadInputError
from worker.images import decode_image, encode_jpeg, image_size


def _png(w=80, h=90):
    ok, buf = cv2.imencode(".png", np.zeros((h, w, 3), np.uint8))
    return buf.tobytes()


def test_image_size_reads_headers_without_decoding():
    assert image_size(_png(80, 90)) == (80, 90)
    ok, jpg = cv2.imencode(".jpg", np.zeros((70, 130, 3), np.uint8))
    assert image_size(jpg.tobytes()) == (130, 70)
    assert image_size(b"GIF89a....") is None


def test_decode_image_refuses_bad_inputs_with_reasons():
    with pytest.raises(BadInputError, match="x.jpg: empty object"):
        decode_image(b"", "x.jpg", 10**6)
    with pytest.raises(BadInputError, match="x.jpg: not a decodable image"):
        decode_image(b"this is not an image at all", "x.jpg", 10**6)
    with pytest.raises(BadInputError, match="too large .* bytes"):
        decode_image(_png(), "x.png", 10)
    bomb = bytearray(_png())
    bomb[16:24] = (60000).to_bytes(4, "big") * 2  # IHDR claims 60000×60000
    with pytest.raises(BadInputError, match="60000×60000 px"):
        decode_image(bytes(bomb), "bomb.png", 10**6)
    assert decode_image(_png(80, 90), "ok.png", 10**6).shape == (90, 80, 3)


def test_composites_are_encoded_as_jpeg_at_the_given_quality():
    image = np.random.default_rng(0).integers(0, 255, (64, 48, 3), dtype=np.uint8)
    low, high = encode_jpeg(image, 30), encode_jpeg(image, 95)
    assert low[:2] == high[:2] == b"\xff\xd8" and len(low) < len(high)
    assert image_size(high) == (48, 64)


@pytest.mark.parametrize("kind", ["tiff", "bmp", "webp", "png", "jpeg"])
def test_every_decoded_format_is_refused_from_its_header_when_it_has_too_many_pixels(kind):
    from chaos import bad_inputs

    small = np.zeros((64, 64, 3), np.uint8)
    jpg = cv2.imencode(".jpg", small)[1].tobytes()
    bomb = {"tiff": lambda: bad_inputs.tiff_bomb(8000, 8000), "bmp": lambda: bad_inputs.bmp_bomb(20000, 20000),
            "webp": lambda: bad_inputs.webp_bomb(16000, 16000), "png": lambda: bad_inputs.png_bomb(7000, 7000),
            "jpeg": lambda: bad_inputs.jpeg_with_header_size(jpg, 25000, 25000)}[kind]()
    size = image_size(bomb)
    assert size is not None and size[0] * size[1] > 40_000_000
    with pytest.raises(BadInputError, match="too large"):
        decode_image(bomb, f"bomb.{kind}", 10**8)
    # the same formats at a sane size: read from the header, decoded
    ext = {"tiff": ".tiff", "bmp": ".bmp", "webp": ".webp", "png": ".png", "jpeg": ".jpg"}[kind]
    ok = cv2.imencode(ext, np.zeros((70, 90, 3), np.uint8))[1].tobytes()
    assert image_size(ok) == (90, 70) and decode_image(ok, f"ok{ext}", 10**6).shape == (70, 90, 3)


def test_an_input_whose_header_cannot_be_read_is_never_decoded():
    with pytest.raises(BadInputError, match="not a decodable image"):
        # Radiance HDR: OpenCV decodes it (20000×20000 float pixels), Pillow reads no header of it
        decode_image(b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 20000 +X 20000\n" + b"\x00" * 100, "x.jpg", 10**6)
