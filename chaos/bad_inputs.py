"""A corpus of awkward inputs, made at test time (nothing large is committed).

Each `BadInput` is one object to upload under the customers/ or catalogue/ prefix, with what
must happen to every pair that uses it:

    fail      the pair fails with a reason matching `reason` (a regex, case-insensitive)
    render    the pair renders (a format the decoder must cope with)
    refused   never rendered: reported as invalid at planning or failed by the worker,
              with a reason matching `reason` (where that happens is the batch system's call)
    either    depends on the models (no person? two people?): renders, or fails with a
              readable reason; what happened is recorded

Derived from one good person photo and one good garment (both BGR uint8) so that the only
thing wrong with an input is the thing its kind names.

Keys SeaweedFS cannot store (`..`, `.` segments: it refuses them with InvalidRequest; it
folds `//`, a leading `/` and backslashes) are not part of the corpus: they are covered by
crafted task messages and worker.keys unit tests (see tests/worker/test_keys.py).
"""
from __future__ import annotations

import io
import re
import struct
import zlib
from dataclasses import dataclass

import cv2
import numpy as np

# What a readable "this is not an image" reason looks like, whatever the exact wording.
UNDECODABLE = r"decod|corrupt|truncat|not an image|unreadable|invalid|empty|unsupported|cannot read|could not read|zero"
TOO_SMALL = r"too small|at least|min"
TOO_LARGE = r"too large|pixel|exceed|limit|bomb"
TOO_BIG_FILE = r"too large|bytes|size|limit|exceed"
NOT_IMAGE_KEY = r"not an image|extension|folder"
BAD_KEY = r"control|invalid|not under|segment|key"
ANY_REASON = r"\w"


@dataclass
class BadInput:
    kind: str          # short unique name (also the object's base name)
    role: str          # "customer" or "garment"
    filename: str      # name under the role's prefix (may contain odd characters on purpose)
    data: bytes
    expect: str        # fail | render | refused | either
    reason: str        # regex a failure reason must match
    note: str = ""

    def matches(self, reason: str | None) -> bool:
        return bool(reason) and re.search(self.reason, reason, re.IGNORECASE) is not None


# --- encoders ------------------------------------------------------------------------------
def _enc(image: np.ndarray, ext: str, params: list[int] | None = None) -> bytes:
    ok, buf = cv2.imencode(ext, image, params or [])
    if not ok:
        raise RuntimeError(f"cv2 could not encode {ext}")
    return buf.tobytes()


def _pil(image_bgr: np.ndarray, fmt: str, mode: str | None = None, **save) -> bytes:
    from PIL import Image  # test-time only (requirements-dev)

    im = Image.fromarray(cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB))
    if mode:
        im = im.convert(mode)
    buf = io.BytesIO()
    im.save(buf, fmt, **save)
    return buf.getvalue()


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def png_bomb(width: int, height: int) -> bytes:
    """A valid all-black greyscale PNG of width×height, compressed ~1000:1 and streamed
    row by row, so a 144-megapixel bomb costs ~150 kB and no big array to make."""
    comp = zlib.compressobj(9)
    row = b"\x00" * (width + 1)  # filter byte + pixels
    parts = [comp.compress(row) for _ in range(height)]
    parts.append(comp.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", b"".join(parts))
            + _png_chunk(b"IEND", b""))


def tiff_bomb(width: int, height: int) -> bytes:
    """A valid all-black 8-bit greyscale TIFF (one deflate strip): 20000×20000 is ~0.4 MB."""
    comp = zlib.compressobj(9)
    row = b"\x00" * width
    data = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    entries = [(256, 4, width), (257, 4, height), (258, 3, 8), (259, 3, 8), (262, 3, 1), (273, 4, 0),
               (277, 3, 1), (278, 4, height), (279, 4, len(data))]
    data_offset = 8 + 2 + 12 * len(entries) + 4
    out = bytearray(b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", len(entries)))
    for tag, kind, value in entries:
        value = data_offset if tag == 273 else value
        out += struct.pack("<HHI", tag, kind, 1) + (struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value))
    return bytes(out + struct.pack("<I", 0)) + data


def bmp_bomb(width: int, height: int) -> bytes:
    """A BMP header claiming width×height 24-bit pixels, followed by a few bytes (a decoder
    that trusts the header allocates width×height×3 first)."""
    dib = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    body = b"\x00" * 64
    return b"BM" + struct.pack("<IHHI", 14 + len(dib) + len(body), 0, 0, 54) + dib + body


def webp_bomb(width: int, height: int) -> bytes:
    """A lossy WebP whose VP8 frame header claims width×height (at most 16383 each)."""
    frame = b"\x10\x02\x00" + b"\x9d\x01\x2a" + struct.pack("<HH", width, height) + b"\x00" * 32
    chunk = b"VP8 " + struct.pack("<I", len(frame)) + frame
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def png_with_header_size(png: bytes, width: int, height: int) -> bytes:
    """Rewrite a PNG's IHDR size (CRC fixed up): a header that lies about the pixel count."""
    assert png[12:16] == b"IHDR"
    ihdr = struct.pack(">II", width, height) + png[24:29]
    return png[:8] + _png_chunk(b"IHDR", ihdr) + png[33:]


def jpeg_with_header_size(jpeg: bytes, width: int, height: int) -> bytes:
    """Rewrite the SOF frame size of a baseline/progressive JPEG: a small file whose header
    claims width×height — decoding it naively allocates the full image."""
    i = 2
    while i < len(jpeg) - 9:
        if jpeg[i] != 0xFF:
            raise ValueError("not a JPEG marker stream")
        marker = jpeg[i + 1]
        length = struct.unpack(">H", jpeg[i + 2:i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            return jpeg[:i + 5] + struct.pack(">HH", height, width) + jpeg[i + 9:]
        i += 2 + length
    raise ValueError("no SOF marker found")


def png_bad_crc(png: bytes) -> bytes:
    """Flip one byte inside the IDAT data without fixing its CRC."""
    at = png.index(b"IDAT") + 4 + 10
    return png[:at] + bytes([png[at] ^ 0xFF]) + png[at + 1:]


def jpeg_scrambled(jpeg: bytes, seed: int = 0) -> bytes:
    """Overwrite a run of entropy-coded bytes in the middle: decodes with artefacts or not at all."""
    rng = np.random.default_rng(seed)
    mid = len(jpeg) // 2
    junk = rng.integers(0, 255, 64, dtype=np.uint8).tobytes().replace(b"\xff", b"\x00")
    return jpeg[:mid] + junk + jpeg[mid + 64:]


def exif_rotated_jpeg(image_bgr: np.ndarray) -> bytes:
    """The photo stored sideways (rotated 90° counter-clockwise) with EXIF Orientation=6
    ("rotate 90° clockwise to display"): a decoder that honours EXIF sees it upright."""
    from PIL import Image

    stored = cv2.rotate(image_bgr, cv2.ROTATE_90_COUNTERCLOCKWISE)
    im = Image.fromarray(cv2.cvtColor(stored, cv2.COLOR_BGR2RGB))
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90, exif=exif.tobytes())
    return buf.getvalue()


# --- scenes --------------------------------------------------------------------------------
def landscape(width: int = 320, height: int = 240) -> np.ndarray:
    """Sky, hills, a sun and a lake: a photo with no person in it."""
    y = np.linspace(0, 1, height)[:, None, None]
    sky = (np.array([235, 200, 140]) * (1 - y) + np.array([250, 240, 220]) * y).astype(np.uint8)
    img = np.broadcast_to(sky, (height, width, 3)).copy()
    cv2.circle(img, (int(width * 0.75), int(height * 0.25)), height // 10, (80, 220, 255), -1)
    xs = np.arange(width)
    for amp, base, colour in ((25, 0.55, (70, 140, 60)), (18, 0.7, (40, 110, 40))):
        ridge = (height * base + amp * np.sin(xs / width * 7 + base * 10)).astype(int)
        for x, top in enumerate(ridge):
            img[top:, x] = colour
    cv2.rectangle(img, (0, int(height * 0.85)), (width, height), (160, 110, 60), -1)
    return cv2.GaussianBlur(img, (3, 3), 0)


def two_people(person_bgr: np.ndarray) -> np.ndarray:
    """Two copies of the person side by side (one mirrored) inside the 3:4 centre crop."""
    h, w = person_bgr.shape[:2]
    half = cv2.resize(person_bgr, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    canvas = np.full((h, w, 3), 200, np.uint8)
    canvas[h // 4:h // 4 + half.shape[0], :half.shape[1]] = half
    canvas[h // 4:h // 4 + half.shape[0], w - half.shape[1]:] = cv2.flip(half, 1)
    return canvas


def busy_background(garment_bgr: np.ndarray, seed: int = 1) -> np.ndarray:
    """The garment pasted on a cluttered background (stripes, blobs, noise) instead of white."""
    rng = np.random.default_rng(seed)
    h, w = garment_bgr.shape[:2]
    bg = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    for i in range(0, w, 12):
        cv2.line(bg, (i, 0), (i + h // 2, h), tuple(int(c) for c in rng.integers(0, 255, 3)), 4)
    for _ in range(12):
        cv2.circle(bg, tuple(int(v) for v in rng.integers(0, min(h, w), 2)), int(rng.integers(5, 30)),
                   tuple(int(c) for c in rng.integers(0, 255, 3)), -1)
    not_white = (garment_bgr.min(axis=2) < 235)[..., None]
    return np.where(not_white, garment_bgr, bg)


# --- the corpus ----------------------------------------------------------------------------
def corpus(person_bgr: np.ndarray, garment_bgr: np.ndarray, max_input_bytes: int,
           pixel_limit: int = 40_000_000) -> list[BadInput]:
    """≥30 kinds of awkward input. `max_input_bytes` is the worker's TRYON_MAX_INPUT_BYTES
    (the "huge file" is just above it); `pixel_limit` is models.chain.MAX_PIXELS."""
    p, g = person_bgr, garment_bgr
    jpg = _enc(p, ".jpg", [cv2.IMWRITE_JPEG_QUALITY, 90])
    png = _enc(p, ".png")
    gjpg = _enc(g, ".jpg", [cv2.IMWRITE_JPEG_QUALITY, 90])
    gpng = _enc(g, ".png")
    side = int(np.sqrt(pixel_limit * 3.6))  # 3.6× over the pixel limit
    rgba = np.dstack([p, np.full(p.shape[:2], 255, np.uint8)])
    rgba[:, : p.shape[1] // 6, 3] = 0
    g_rgba = np.dstack([g, np.where(g.min(axis=2) > 235, 0, 255).astype(np.uint8)])
    junk_len = max_input_bytes + 512 * 1024 - len(jpg)

    C, G = "customer", "garment"
    items = [
        # -- not images at all
        BadInput("zero_bytes", C, "zero_bytes.jpg", b"", "refused", UNDECODABLE, "empty object"),
        BadInput("text_as_jpg", C, "text_as_jpg.jpg", b"hello, I am not a photo\n" * 20, "fail", UNDECODABLE),
        BadInput("html_as_png", C, "html_as_png.png", b"<!doctype html><html><body>404</body></html>",
                 "fail", UNDECODABLE),
        BadInput("pdf_as_jpg", C, "pdf_as_jpg.jpg", b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n",
                 "fail", UNDECODABLE),
        BadInput("truncated_jpeg", C, "truncated_jpeg.jpg", jpg[: len(jpg) * 2 // 5], "fail", UNDECODABLE,
                 "first 40% of a JPEG"),
        BadInput("truncated_png", C, "truncated_png.png", png[: len(png) // 2], "fail", UNDECODABLE),
        BadInput("png_bad_crc", C, "png_bad_crc.png", png_bad_crc(png), "either", UNDECODABLE,
                 "libpng may reject or warn"),
        BadInput("jpeg_scrambled", C, "jpeg_scrambled.jpg", jpeg_scrambled(jpg), "either", ANY_REASON,
                 "64 random bytes in the entropy data"),
        BadInput("jpeg_magic_only", C, "jpeg_magic_only.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 60, "fail",
                 UNDECODABLE),
        # -- odd but valid encodings: must render
        BadInput("png_alpha", C, "png_alpha.png", _enc(rgba, ".png"), "render", ANY_REASON,
                 "RGBA, left sixth transparent"),
        BadInput("png_16bit", C, "png_16bit.png", _enc(p.astype(np.uint16) * 257, ".png"), "render", ANY_REASON),
        BadInput("greyscale_jpeg", C, "greyscale_jpeg.jpg", _enc(cv2.cvtColor(p, cv2.COLOR_BGR2GRAY), ".jpg"),
                 "render", ANY_REASON),
        BadInput("cmyk_jpeg", C, "cmyk_jpeg.jpg", _pil(p, "JPEG", "CMYK", quality=90), "either", ANY_REASON,
                 "Adobe CMYK: colours may come out inverted"),
        BadInput("exif_rotated", C, "exif_rotated.jpg", exif_rotated_jpeg(p), "render", ANY_REASON,
                 "stored sideways, EXIF Orientation=6"),
        BadInput("progressive_jpeg", C, "progressive_jpeg.jpg", _pil(p, "JPEG", quality=90, progressive=True),
                 "render", ANY_REASON),
        BadInput("webp", C, "webp.webp", _enc(p, ".webp"), "render", ANY_REASON),
        BadInput("bmp", C, "bmp.bmp", _enc(p, ".bmp"), "render", ANY_REASON),
        BadInput("tiff", C, "tiff.tiff", _enc(p, ".tiff"), "render", ANY_REASON),
        BadInput("png_named_jpg", C, "png_named_jpg.jpg", png, "render", ANY_REASON, "content ≠ extension"),
        BadInput("unicode_key", C, "ünïcødé 客户 #1 (copy).jpg", jpg, "render", ANY_REASON,
                 "non-ASCII, spaces, '#' in the key"),
        # -- sizes
        BadInput("one_pixel", C, "one_pixel.png", _enc(p[:1, :1], ".png"), "fail", TOO_SMALL),
        BadInput("tiny_63px", C, "tiny_63px.png", _enc(cv2.resize(p, (63, 63)), ".png"), "fail", TOO_SMALL),
        BadInput("png_zero_size_header", C, "png_zero_size_header.png", png_with_header_size(png, 0, 0), "fail",
                 UNDECODABLE + "|" + TOO_SMALL),
        BadInput("png_pixel_bomb", C, "png_pixel_bomb.png", png_bomb(side, side), "fail", TOO_LARGE,
                 f"valid {side}×{side} PNG, ~{side * side / 1e6:.0f} Mpx"),
        BadInput("jpeg_header_bomb", C, "jpeg_header_bomb.jpg", jpeg_with_header_size(jpg, 25000, 25000), "fail",
                 TOO_LARGE + "|" + UNDECODABLE, "small JPEG whose SOF claims 25000×25000 (625 Mpx)"),
        BadInput("tiff_pixel_bomb", C, "tiff_pixel_bomb.tiff", tiff_bomb(20000, 20000), "fail", TOO_LARGE,
                 "valid 20000×20000 TIFF, ~0.4 MB (400 Mpx)"),
        BadInput("bmp_pixel_bomb", C, "bmp_pixel_bomb.bmp", bmp_bomb(20000, 20000), "fail", TOO_LARGE,
                 "BMP header claiming 20000×20000"),
        BadInput("webp_pixel_bomb", C, "webp_pixel_bomb.webp", webp_bomb(16000, 16000), "fail", TOO_LARGE,
                 "WebP frame header claiming 16000×16000"),
        BadInput("huge_file", C, "huge_file.jpg", jpg + b"\x00" * junk_len, "refused", TOO_BIG_FILE,
                 "valid JPEG followed by junk, just over TRYON_MAX_INPUT_BYTES"),
        BadInput("extreme_aspect", C, "extreme_aspect.png", _enc(cv2.resize(p, (1600, 64)), ".png"), "either",
                 ANY_REASON, "1600×64"),
        # -- content the models may not handle
        BadInput("landscape_no_person", C, "landscape_no_person.jpg", _enc(landscape(), ".jpg"), "either",
                 ANY_REASON, "expected: no person found"),
        BadInput("two_people", C, "two_people.jpg", _enc(two_people(p), ".jpg"), "either", ANY_REASON),
        BadInput("all_white", C, "all_white.jpg", _enc(np.full((256, 192, 3), 255, np.uint8), ".jpg"), "either",
                 ANY_REASON),
        BadInput("all_black", C, "all_black.png", _enc(np.zeros((256, 192, 3), np.uint8), ".png"), "either",
                 ANY_REASON),
        BadInput("noise", C, "noise.png",
                 _enc(np.random.default_rng(3).integers(0, 255, (256, 192, 3), dtype=np.uint8), ".png"),
                 "either", ANY_REASON),
        # -- keys the planner must refuse (stored fine by S3, never rendered)
        BadInput("text_file_key", C, "notes.txt", b"a customer's notes", "refused", NOT_IMAGE_KEY),
        BadInput("svg_key", C, "vector.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>", "refused", NOT_IMAGE_KEY),
        BadInput("control_char_key", C, "bell\x07name.jpg", jpg, "refused", BAD_KEY),
        BadInput("folder_marker", C, "a-folder/", b"", "refused", NOT_IMAGE_KEY + "|" + BAD_KEY),
        # -- garments
        BadInput("garment_busy_background", G, "busy_background.jpg", _enc(busy_background(g), ".jpg"), "either",
                 ANY_REASON, "garment on clutter instead of white"),
        BadInput("garment_transparent_png", G, "transparent.png", _enc(g_rgba, ".png"), "render", ANY_REASON),
        BadInput("garment_greyscale", G, "greyscale.png", _enc(cv2.cvtColor(g, cv2.COLOR_BGR2GRAY), ".png"),
                 "render", ANY_REASON),
        BadInput("garment_zero_bytes", G, "zero_bytes.jpg", b"", "refused", UNDECODABLE),
        BadInput("garment_truncated", G, "truncated.jpg", gjpg[: len(gjpg) // 3], "fail", UNDECODABLE),
        BadInput("garment_one_pixel", G, "one_pixel.png", _enc(g[:1, :1], ".png"), "fail", TOO_SMALL),
        BadInput("garment_pixel_bomb", G, "pixel_bomb.png", png_bomb(side, side), "fail", TOO_LARGE),
        BadInput("garment_text_as_png", G, "text_as.png", b"definitely not a PNG", "fail", UNDECODABLE),
        BadInput("garment_all_white", G, "all_white.png", _enc(np.full_like(g, 255), ".png"), "either", ANY_REASON,
                 "a blank catalogue image"),
        BadInput("garment_png_named_jpg", G, "png_named.jpg", gpng, "render", ANY_REASON),
    ]
    kinds = [i.kind for i in items]
    assert len(set(kinds)) == len(kinds), "duplicate kind"
    return items
