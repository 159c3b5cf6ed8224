"""Pixels → the files the research loaders open: the person's crop and the garment at a layout's
size, and the encodings those loaders read (PIL, `np.array(Image.open(p))`).

    JPEG, RGB            image/, cloth/, agnostic-v3.2/    (loaders: `transforms.Normalize` on 3 channels)
    JPEG, L, 0/255       cloth-mask/                       (thresholded: CP-VTON > 200, the others ≥ 128)
    PNG, P + palette     image-parse*/                     (`np.array` gives the label ids)
    PNG, L               image-parse-new/, image-mask/     (CP-VTON+: written by cv2 as 1-channel)
    PNG, RGB             openpose-img/, openpose_img/
"""
from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image

from models.contract import Person

JPEG_QUALITY = 95

# VITON-HD's parse palette as its dataset files store it (image-parse, image-parse-v3): LIP's 20
# colours rounded the way those files have them (255 → 254, 170 → 169, 221 → 220), then index i
# as the grey (i, i, i). Only for viewing: the loaders read the indices.
VITON_HD_PALETTE = np.concatenate([
    np.array([(0, 0, 0), (128, 0, 0), (254, 0, 0), (0, 85, 0), (169, 0, 51), (254, 85, 0), (0, 0, 85),
              (0, 119, 220), (85, 85, 0), (0, 85, 85), (85, 51, 0), (52, 86, 128), (0, 128, 0), (0, 0, 254),
              (51, 169, 220), (0, 254, 254), (85, 254, 169), (169, 254, 85), (254, 254, 0), (254, 169, 0)]),
    np.repeat(np.arange(20, 256)[:, None], 3, axis=1)]).astype(np.uint8)


def resize_to(image: np.ndarray, size_wh: tuple[int, int]) -> np.ndarray:
    """Area-averaged when shrinking, bicubic when enlarging; unchanged at the same size."""
    w, h = size_wh
    if image.shape[1] == w and image.shape[0] == h:
        return image
    shrink = image.shape[1] > w and image.shape[0] > h
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)


def person_image(person: Person, size_wh: tuple[int, int]) -> np.ndarray:
    """The person's crop (`crop_box`: what pose and parsing saw) at the layout's size, BGR."""
    return resize_to(np.ascontiguousarray(person.crop), size_wh)


def background_colour(image_bgr: np.ndarray) -> np.ndarray:
    """Median colour of the image's border (an in-shop photo's plain background)."""
    h, w = image_bgr.shape[:2]
    b = max(2, min(h, w) // 64)
    edge = np.concatenate([image_bgr[:b].reshape(-1, 3), image_bgr[-b:].reshape(-1, 3),
                           image_bgr[:, :b].reshape(-1, 3), image_bgr[:, -b:].reshape(-1, 3)])
    return np.median(edge, axis=0)


def pad_to_aspect(image: np.ndarray, size_wh: tuple[int, int], fill) -> np.ndarray:
    """Centred padding to the aspect of `size_wh` (the garment keeps its proportions; VITON-HD
    and HR-VITON resize the shorter side only, so a cloth of another aspect would not stack)."""
    w, h = size_wh
    ih, iw = image.shape[:2]
    if iw * h == ih * w:
        return image
    if iw * h > ih * w:                      # too wide: pad top and bottom
        new_h = round(iw * h / w)
        top = (new_h - ih) // 2
        pads = (top, new_h - ih - top, 0, 0)
    else:                                    # too tall: pad left and right
        new_w = round(ih * w / h)
        left = (new_w - iw) // 2
        pads = (0, 0, left, new_w - iw - left)
    value = [float(v) for v in np.atleast_1d(fill)]
    return cv2.copyMakeBorder(image, *pads, cv2.BORDER_CONSTANT, value=value)


# --- encoders --------------------------------------------------------------------------------
def jpeg_rgb(image_bgr: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", image_bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


def jpeg_mask(mask: np.ndarray) -> bytes:
    """A 0/255 mask as a 1-channel (PIL mode L) JPEG that thresholds back to exactly the same mask
    at CP-VTON's > 200 and at the others' ≥ 128 (quality 100 if ringing at 95 would cross one)."""
    binary = np.where(mask >= 128, 255, 0).astype(np.uint8)
    for quality in (JPEG_QUALITY, 100):
        ok, buf = cv2.imencode(".jpg", binary, [cv2.IMWRITE_JPEG_QUALITY, quality])
        back = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
        if ok and np.array_equal(back > 200, binary > 0) and np.array_equal(back >= 128, binary > 0):
            return buf.tobytes()
    return png_gray(binary)  # unreachable in practice; never silently wrong


def png_palette(labels: np.ndarray, palette_rgb: np.ndarray) -> bytes:
    """Label ids as an 8-bit palette PNG (PIL mode P): `np.array(Image.open(...))` gives the ids."""
    image = Image.fromarray(np.ascontiguousarray(labels, np.uint8), mode="P")
    flat = np.zeros((256, 3), np.uint8)
    flat[:len(palette_rgb)] = palette_rgb
    image.putpalette(flat.reshape(-1).tolist())
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def png_gray(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(image, np.uint8))
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()


def png_rgb(image_rgb: np.ndarray) -> bytes:
    return png_gray(cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR))


def reusable_jpeg(source: bytes | None, size_wh: tuple[int, int]) -> bool:
    """Whether `source` can be copied as the layout's JPEG unchanged: a baseline colour JPEG of
    exactly the layout's size that PIL opens as RGB and that no EXIF orientation turns (the
    chain decoded the same pixels, so the annotations describe the file byte for byte)."""
    if not source or source[:2] != b"\xff\xd8":
        return False
    try:
        with Image.open(io.BytesIO(source)) as image:
            orientation = image.getexif().get(0x0112, 1)
            return image.format == "JPEG" and image.mode == "RGB" and image.size == tuple(size_wh) \
                and orientation in (0, 1)
    except Exception:  # PIL cannot read it: encode our own
        return False
