"""The OpenCV sample's centre crop (models/crop.py), quirks included."""
import pytest

from models.crop import centre_crop_box


@pytest.mark.parametrize("h, w, box", [
    (256, 192, (0, 0, 192, 256)),        # exactly 4:3
    (1024, 768, (0, 0, 768, 1024)),
    (1000, 1000, (125, 0, 875, 1000)),   # too wide: columns 500 − 375 .. 500 + 375
    (1081, 500, (0, 207, 500, 873)),     # too tall: out_h = 666.67, // 2 = 333.0, centre 540
    (301, 199, (0, 18, 199, 282)),       # 265.33 // 2 = 132 around 150: one row short of 4:3
])
def test_centre_crop_box_quirks(h, w, box):
    assert centre_crop_box(h, w) == box
