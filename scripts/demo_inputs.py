"""Demo and test inputs the project makes itself (no dataset images).

customers: the public-domain NASA "astronaut" portrait shipped inside scikit-image
           (skimage/data/astronaut.png, in the wheel: no download) and simple variants.
garments:  tops drawn with cv2: T-shirts on white (solid colours, stripes, a print), a white
           T-shirt on a light-grey backdrop with folds and a soft shadow, a long-sleeved top.
"""
from __future__ import annotations

import cv2
import numpy as np

GARMENT_W, GARMENT_H = 192, 256  # CP-VTON's cloth size (the chain resizes anything else)


def astronaut_bgr() -> np.ndarray:
    from skimage import data  # dev/demo dependency; the photo is in the wheel
    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


def customers() -> dict[str, np.ndarray]:
    """name → BGR photo: the original, mirrored, and re-framed (a 3:4 portrait crop)."""
    photo = astronaut_bgr()  # 512×512
    h, w = photo.shape[:2]
    reframed = photo[:, w // 8:w - w // 8]  # 3:4 portrait crop (384×512)
    return {
        "astronaut": photo,
        "astronaut-mirrored": cv2.flip(photo, 1),
        "astronaut-reframed": reframed,
    }


def _tshirt_mask(w: int = GARMENT_W, h: int = GARMENT_H) -> np.ndarray:
    """Filled T-shirt silhouette (body, sleeves, round neck) as a 0/255 mask."""
    sx, sy = w / 192, h / 256
    pts = np.array([(60, 30), (80, 24), (96, 36), (112, 24), (132, 30), (180, 70), (160, 104), (146, 92),
                    (146, 236), (46, 236), (46, 92), (32, 104), (12, 70)], np.float32)
    pts = (pts * [sx, sy]).astype(np.int32)
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [pts], 255, lineType=cv2.LINE_AA)
    cv2.ellipse(mask, (int(96 * sx), int(26 * sy)), (int(18 * sx), int(12 * sy)), 0, 0, 180, 0, -1, cv2.LINE_AA)
    return mask


def garment(fill: str, colour=(40, 40, 200), second=(255, 255, 255), text: str = "") -> np.ndarray:
    """One T-shirt on white. fill: 'solid' | 'stripes' | 'print'. Colours are BGR."""
    mask = _tshirt_mask()
    h, w = mask.shape
    cloth = np.empty((h, w, 3), np.uint8)
    cloth[:] = colour
    if fill == "stripes":
        for y in range(0, h, 24):
            cloth[y:y + 12] = second
    if fill == "print" or text:
        cv2.circle(cloth, (w // 2, h // 2 - 10), 28, second, -1, cv2.LINE_AA)
        cv2.putText(cloth, text or "TRY", (w // 2 - 36, h // 2 + 50), cv2.FONT_HERSHEY_SIMPLEX, 0.9, second, 2,
                    cv2.LINE_AA)
    # Slight shading so the garment is not perfectly flat (folds read better in composites).
    shade = np.linspace(1.0, 0.85, w, dtype=np.float32)[None, :, None]
    cloth = np.clip(cloth.astype(np.float32) * shade, 0, 255).astype(np.uint8)
    alpha = (mask.astype(np.float32) / 255)[..., None]
    white = np.full_like(cloth, 255)
    return (cloth * alpha + white * (1 - alpha)).astype(np.uint8)


def _long_sleeve_mask(w: int = GARMENT_W, h: int = GARMENT_H) -> np.ndarray:
    """Filled long-sleeved top (sleeves hanging a little apart from the body to the hem's
    height, round neck) as a 0/255 mask."""
    sx, sy = w / 192, h / 256
    pts = np.array([(62, 30), (80, 24), (96, 36), (112, 24), (130, 30), (170, 60), (186, 222), (166, 226),
                    (148, 96), (146, 236), (46, 236), (44, 96), (26, 226), (6, 222), (22, 60)], np.float32)
    pts = (pts * [sx, sy]).astype(np.int32)
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [pts], 255, lineType=cv2.LINE_AA)
    cv2.ellipse(mask, (int(96 * sx), int(26 * sy)), (int(18 * sx), int(12 * sy)), 0, 0, 180, 0, -1, cv2.LINE_AA)
    return mask


def white_garment(background=(226, 226, 228)) -> np.ndarray:
    """A white T-shirt photographed on a light-grey backdrop, as shops do: soft folds, a seam
    line at the collar and the hem, a faint cast shadow (no flat white cut-out)."""
    mask = _tshirt_mask()
    h, w = mask.shape
    a = (mask.astype(np.float32) / 255)[..., None]
    # folds: a gentle vertical shading and two diagonal creases
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    shade = 1 - 0.04 * np.cos(xx / w * np.pi * 3) - 0.03 * np.exp(-((xx - yy * 0.4 - 50) / 6) ** 2)
    cloth = np.clip(np.full((h, w, 3), 250, np.float32) * shade[..., None], 0, 255)
    cv2.ellipse(cloth, (w // 2, int(26 * h / 256)), (int(18 * w / 192) + 2, int(12 * h / 256) + 2), 0, 0, 180,
                (225, 225, 228), 2, cv2.LINE_AA)                            # collar seam
    cloth[int(228 * h / 256):int(231 * h / 256)] *= 0.92                      # hem seam
    shadow = cv2.GaussianBlur(np.roll(mask, (3, 3), axis=(0, 1)).astype(np.float32) / 255, (0, 0), 4)[..., None]
    back = np.full((h, w, 3), background, np.float32) * (1 - 0.08 * shadow)
    return np.clip(cloth * a + back * (1 - a), 0, 255).astype(np.uint8)


def long_sleeved_garment(colour=(60, 90, 150), second=(235, 235, 235)) -> np.ndarray:
    """A long-sleeved striped top on white (BGR colours)."""
    mask = _long_sleeve_mask()
    h, w = mask.shape
    cloth = np.empty((h, w, 3), np.uint8)
    cloth[:] = colour
    for y in range(0, h, 18):
        cloth[y:y + 6] = second
    shade = np.linspace(1.0, 0.88, w, dtype=np.float32)[None, :, None]
    cloth = np.clip(cloth.astype(np.float32) * shade, 0, 255).astype(np.uint8)
    a = (mask.astype(np.float32) / 255)[..., None]
    return (cloth * a + np.full_like(cloth, 255) * (1 - a)).astype(np.uint8)


def garments() -> dict[str, np.ndarray]:
    return {
        "red-tee": garment("solid", (40, 40, 200)),
        "navy-tee": garment("solid", (90, 40, 20)),
        "striped-tee": garment("stripes", (30, 140, 30), (250, 250, 250)),
        "logo-tee": garment("print", (20, 20, 20), (0, 200, 255), text="TRYON"),
        "yellow-tee": garment("solid", (0, 210, 250)),
        "white-tee": white_garment(),
        "long-sleeved-top": long_sleeved_garment(),
    }


def encode(image: np.ndarray, ext: str = ".jpg") -> bytes:
    ok, buf = cv2.imencode(ext, image, [cv2.IMWRITE_JPEG_QUALITY, 95] if ext == ".jpg" else [])
    assert ok
    return buf.tobytes()
