"""The clothing-agnostic maps of VITON-HD and HR-VITON, made the way those projects make them, from
the exported parse (LIP / CIHP ids, 10 = neck) and BODY_25 keypoints (pixels):

    parse_agnostic   image-parse-agnostic-v3.2: the parse with the upper garment (5, 6, 7) and
                     the neck (10) set to 0, and the arms (14, 15) set to 0 near their bones: lines
                     10·r wide along shoulder→shoulder→elbow→wrist, discs of 15·r at shoulder and
                     elbow, 4·r at the wrist, r = 10 px (VITON-HD's datasets.py, HR-VITON's
                     get_parse_agnostic.py; drawn at 768×1024 there).
    image_agnostic   agnostic-v3.2: the photo with torso, neck and arms covered in PIL's 'gray'
                     (128, 128, 128), shaped from shoulders, hips (rescaled to shoulder width
                     about their middle) and arm bones with r = ⌊shoulder width / 16⌋ + 1; the
                     head (4, 13), the lower body (9, 12, 16–19) and arm pixels away from the arm
                     bones are the photo again (HR-VITON's cp_dataset.py, `get_agnostic`: what its
                     loaders compute from image, image-parse-v3 and the pose).

Drawn with PIL's ImageDraw, as the projects draw them, so the same coordinates give the same pixels.
Both need the neck, both shoulders and both hips (`required_points`): without them the projects'
code divides by zero.
"""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

NECK, R_SHOULDER, R_ELBOW, R_WRIST, L_SHOULDER, L_ELBOW, L_WRIST = 1, 2, 3, 4, 5, 6, 7
R_HIP, L_HIP = 9, 12   # BODY_25
REQUIRED = {NECK: "neck", R_SHOULDER: "right shoulder", L_SHOULDER: "left shoulder", R_HIP: "right hip",
            L_HIP: "left hip"}
UPPER, NECK_LABEL, LEFT_ARM, RIGHT_ARM = (5, 6, 7), 10, 14, 15
HEAD = (4, 13)
LOWER = (9, 12, 16, 17, 18, 19)
GRAY = (128, 128, 128)  # PIL's 'gray'


def missing_required(points: np.ndarray) -> list[str]:
    """Names of the BODY_25 points the agnostic maps need that were not found."""
    return [name for i, name in REQUIRED.items() if points[i, 2] <= 0 or (points[i, :2] == 0).all()]


def _found(points: np.ndarray, i: int) -> bool:
    return not (points[i, 0] == 0.0 and points[i, 1] == 0.0)


def _disc(draw: ImageDraw.ImageDraw, centre, rx: float, ry: float, fill) -> None:
    x, y = centre
    draw.ellipse((x - rx, y - ry, x + rx, y + ry), fill, fill)


def parse_agnostic(labels: np.ndarray, points: np.ndarray) -> np.ndarray:
    """uint8 label map: `labels` without the upper garment, the neck, and the arms near their bones."""
    h, w = labels.shape
    xy = [tuple(p) for p in np.asarray(points, np.float64)[:, :2]]
    r = 10
    out = labels.copy()
    # Each arm's chain starts at the other shoulder (the line across the shoulders); a chain
    # goes on from its last point found when a point is missing.
    for label, chain in ((LEFT_ARM, (R_SHOULDER, L_SHOULDER, L_ELBOW, L_WRIST)),
                         (RIGHT_ARM, (L_SHOULDER, R_SHOULDER, R_ELBOW, R_WRIST))):
        near = Image.new("L", (w, h), 0)
        draw = ImageDraw.Draw(near)
        previous = chain[0]
        for point in chain[1:]:
            if not (_found(points, previous) and _found(points, point)):
                continue
            draw.line([xy[previous], xy[point]], 255, width=r * 10)
            radius = r * 4 if point == chain[-1] else r * 15
            _disc(draw, xy[point], radius, radius, 255)
            previous = point
        out[(np.array(near) > 0) & (labels == label)] = 0
    out[np.isin(labels, UPPER + (NECK_LABEL,))] = 0
    return out


def image_agnostic(image_rgb: np.ndarray, labels: np.ndarray, points: np.ndarray) -> np.ndarray:
    """RGB uint8: the photo with the try-on region in gray (see the module docstring)."""
    h, w = labels.shape
    p = np.asarray(points, np.float64)[:, :2].copy()
    shoulders = np.linalg.norm(p[L_SHOULDER] - p[R_SHOULDER])
    hips = np.linalg.norm(p[L_HIP] - p[R_HIP])
    middle = (p[R_HIP] + p[L_HIP]) / 2
    p[R_HIP] = middle + (p[R_HIP] - middle) / hips * shoulders
    p[L_HIP] = middle + (p[L_HIP] - middle) / hips * shoulders
    r = int(shoulders / 16) + 1
    xy = [tuple(q) for q in p]

    canvas = Image.fromarray(image_rgb)
    draw = ImageDraw.Draw(canvas)
    # torso
    for hip in (R_HIP, L_HIP):
        _disc(draw, xy[hip], r * 3, r * 6, GRAY)
    draw.line([xy[R_SHOULDER], xy[R_HIP]], GRAY, width=r * 6)
    draw.line([xy[L_SHOULDER], xy[L_HIP]], GRAY, width=r * 6)
    draw.line([xy[R_HIP], xy[L_HIP]], GRAY, width=r * 12)
    draw.polygon([xy[R_SHOULDER], xy[L_SHOULDER], xy[L_HIP], xy[R_HIP]], GRAY, GRAY)
    # neck: a box above the neck point
    nx, ny = xy[NECK]
    draw.rectangle((nx - r * 5, ny - r * 9, nx + r * 5, ny), GRAY, GRAY)
    # arms
    draw.line([xy[R_SHOULDER], xy[L_SHOULDER]], GRAY, width=r * 12)
    for shoulder in (R_SHOULDER, L_SHOULDER):
        _disc(draw, xy[shoulder], r * 5, r * 6, GRAY)
    for point in (R_ELBOW, R_WRIST, L_ELBOW, L_WRIST):
        if _found(points, point - 1) and _found(points, point):
            draw.line([xy[point - 1], xy[point]], GRAY, width=r * 10)
            _disc(draw, xy[point], r * 5, r * 5, GRAY)

    out = np.array(canvas)
    # Arm pixels away from the arm's bones show the photo again.
    for label, chain in ((LEFT_ARM, (L_SHOULDER, L_ELBOW, L_WRIST)), (RIGHT_ARM, (R_SHOULDER, R_ELBOW, R_WRIST))):
        bones = Image.new("L", (w, h), 255)
        bdraw = ImageDraw.Draw(bones)
        last = xy[chain[0]]
        _disc(bdraw, last, r * 5, r * 6, 0)
        for point in chain[1:]:
            if not (_found(points, point - 1) and _found(points, point)):
                continue
            bdraw.line([xy[point - 1], xy[point]], 0, width=r * 10)
            last = xy[point]
            if point != chain[-1]:
                _disc(bdraw, last, r * 5, r * 5, 0)
        _disc(bdraw, last, r * 4, r * 4, 0)
        keep = (np.array(bones) > 0) & (labels == label)
        out[keep] = image_rgb[keep]
    keep = np.isin(labels, HEAD + LOWER)
    out[keep] = image_rgb[keep]
    return out
