"""Demo and test inputs the project makes itself (no dataset images).

customers: the public-domain NASA "astronaut" portrait shipped inside scikit-image
           (skimage/data/astronaut.png, in the wheel: no download) and simple variants; and a
           full-body customer (`full_body_customer`): no licence-clean full-body photo ships
           with the project's packages (scikit-image's people are portraits), so it is a
           collage made by code: the astronaut's head on a body drawn with OpenCV (top,
           trousers, bare arms, shoes), which BlazePose and the person finder accept.
garments:  tops drawn with cv2: T-shirts on white (solid colours, stripes, a print), a white
           T-shirt on a light-grey backdrop with folds and a soft shadow, a long-sleeved top;
           a lower garment (trousers: waistband, fly, two legs with the backdrop between them)
           and a dress (straps, fitted bodice, a flared skirt with a dotted print), drawn the
           same way (`lower_garments`, `dresses`; their category is the catalogue folder they
           are uploaded to: catalogue/lower/, catalogue/dress/).
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


def full_body_customer() -> np.ndarray:
    """A full-body customer made by code (BGR, 480×800): the astronaut's face and hair on a
    drawn standing body (green top with short sleeves, dark trousers, bare arms, shoes) on a
    light backdrop, its sides a little darker (a round body)."""
    ast = astronaut_bgr()
    w, h = 480, 800
    canvas = np.full((h, w, 3), (222, 224, 226), np.float32)
    skin = tuple(float(v) for v in np.median(ast[120:150, 190:250].reshape(-1, 3), axis=0))
    top, pants, shoes = (60, 150, 60), (60, 60, 60), (30, 30, 40)

    def capsule(a, b, r, colour):
        cv2.line(canvas, a, b, colour, 2 * r, cv2.LINE_AA)
        cv2.circle(canvas, a, r, colour, -1, cv2.LINE_AA)
        cv2.circle(canvas, b, r, colour, -1, cv2.LINE_AA)

    for sx in (-1, 1):                                     # legs in trousers, shoes
        hip, knee, ankle = (240 + sx * 38, 400), (240 + sx * 44, 565), (240 + sx * 48, 715)
        capsule(hip, knee, 36, pants)
        capsule(knee, ankle, 28, pants)
        cv2.ellipse(canvas, (ankle[0] + sx * 10, 740), (34, 14), 0, 0, 360, shoes, -1, cv2.LINE_AA)
    cv2.fillConvexPoly(canvas, np.array([(168, 330), (312, 330), (322, 420), (158, 420)], np.int32), pants,
                       cv2.LINE_AA)
    for sx in (-1, 1):                                     # bare arms, short sleeves
        shoulder, elbow, wrist = (240 + sx * 78, 138), (240 + sx * 98, 268), (240 + sx * 104, 380)
        capsule(shoulder, elbow, 19, skin)
        capsule(elbow, wrist, 16, skin)
        cv2.circle(canvas, (wrist[0], wrist[1] + 22), 18, skin, -1, cv2.LINE_AA)
        capsule(shoulder, (240 + sx * 90, 198), 22, top)
    cv2.rectangle(canvas, (224, 96), (256, 140), skin, -1)  # neck, torso
    cv2.fillConvexPoly(canvas, np.array([(162, 128), (222, 118), (258, 118), (318, 128), (312, 345), (168, 345)],
                                        np.int32), top, cv2.LINE_AA)
    xx = np.arange(w, dtype=np.float32)[None, :, None]
    canvas *= 1 - 0.12 * np.clip(np.abs(xx - 240) / 150, 0, 1) ** 2
    head = cv2.resize(ast[8:215, 140:315], (88, 104), interpolation=cv2.INTER_AREA).astype(np.float32)
    oval = np.zeros((104, 88), np.float32)
    cv2.ellipse(oval, (44, 46), (38, 47), 0, 0, 360, 1, -1)
    oval = cv2.GaussianBlur(oval, (0, 0), 2)[..., None]
    y0, x0 = 12, 196
    canvas[y0:y0 + 104, x0:x0 + 88] = head * oval + canvas[y0:y0 + 104, x0:x0 + 88] * (1 - oval)
    grain = np.random.default_rng(0).normal(0, 3, (h, w))[..., None]
    return np.clip(canvas + grain, 0, 255).astype(np.uint8)


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


LOWER_W, LOWER_H = 384, 512    # lower garments and dresses are long: a taller photo


def _on_white(mask: np.ndarray, cloth: np.ndarray) -> np.ndarray:
    a = (mask.astype(np.float32) / 255)[..., None]
    return (cloth.astype(np.float32) * a + 255 * (1 - a)).astype(np.uint8)


def trousers(colour=(110, 70, 40), waistband=(80, 50, 30)) -> np.ndarray:
    """Straight trousers on white (BGR): waistband, fly, creases, two legs with the backdrop
    showing between them below the crotch."""
    w, h = LOWER_W, LOWER_H
    pts = np.array([(122, 30), (262, 30), (282, 150), (290, 486), (206, 486), (192, 200), (178, 486), (94, 486),
                    (102, 150)], np.int32)
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [pts], 255, lineType=cv2.LINE_AA)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cloth = np.empty((h, w, 3), np.float32)
    cloth[:] = colour
    # creases down each leg and a soft roundness
    shade = 1 - 0.08 * np.exp(-((xx - 140) / 5) ** 2) * (yy > 160) - 0.08 * np.exp(-((xx - 244) / 5) ** 2) * (yy > 160)
    cloth *= shade[..., None]
    cloth[30:52] = waistband
    cv2.line(cloth, (192, 52), (192, 150), tuple(0.7 * np.array(colour, float)), 2, cv2.LINE_AA)   # fly
    return _on_white(mask, np.clip(cloth, 0, 255))


def dress(colour=(60, 40, 170), dots=(230, 230, 240)) -> np.ndarray:
    """A sleeveless A-line dress on white (BGR): straps, a fitted bodice, a flared skirt to
    below the knee, a dotted print."""
    w, h = LOWER_W, LOWER_H
    mask = np.zeros((h, w), np.uint8)
    body = np.array([(140, 40), (154, 40), (170, 78), (214, 78), (230, 40), (244, 40), (252, 120), (240, 190),
                     (306, 490), (78, 490), (144, 190), (132, 120)], np.int32)
    cv2.fillPoly(mask, [body], 255, lineType=cv2.LINE_AA)
    cloth = np.empty((h, w, 3), np.float32)
    cloth[:] = colour
    for y in range(210, 490, 34):
        for x in range(60 + (y // 34 % 2) * 17, 330, 34):
            cv2.circle(cloth, (x, y), 6, dots, -1, cv2.LINE_AA)
    cloth[184:196] *= 0.8                                                                    # waist seam
    return _on_white(mask, np.clip(cloth, 0, 255))


def lower_garments() -> dict[str, np.ndarray]:
    return {"navy-trousers": trousers()}


def dresses() -> dict[str, np.ndarray]:
    return {"red-dress": dress()}


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
