"""The OpenCV sample's centre crop to H:W = 256:192 (no resize)."""
from __future__ import annotations

# 256/192 as the sample computes it (a float, compared with h/w as floats).
CROP_RATIO = 256 / 192


def centre_crop_box(h: int, w: int) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of virtual_try_on.py's crop of an h×w photo, quirks included:
    the kept extent is w·r (too tall) or h/r (too wide or exactly 4:3) as a FLOAT, halved with
    float floor division around the integer centre `h // 2` (or `w // 2`), then truncated by
    int(). So the box can be one pixel short of 4:3, and an odd size loses a pixel."""
    if h / w > CROP_RATIO:  # too tall: keep rows
        centre, half = h // 2, (w * CROP_RATIO) // 2
        return 0, int(centre - half), w, int(centre + half)
    centre, half = w // 2, (h / CROP_RATIO) // 2  # too wide, or exactly 4:3: keep columns
    return int(centre - half), 0, int(centre + half), h
