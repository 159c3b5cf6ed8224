"""The body as geometry (models/body.py): the torso frame from keypoints and the regions from it."""
import numpy as np
import pytest

from models.body import body_frame, body_region, torso_polygon_mask
from models.contract import BadInputError, Person
from models.labels import Coco, Lip
from tests.models.geometric.shapes import KEYPOINTS


def test_frame_from_upright_keypoints():
    body = body_frame(KEYPOINTS, (256, 192))
    np.testing.assert_allclose(body.neck, KEYPOINTS[Coco.NECK, :2])
    np.testing.assert_allclose(body.across, (1, 0), atol=0.05)
    np.testing.assert_allclose(body.down, (0, 1), atol=0.05)
    assert body.ds == pytest.approx(30, abs=0.1) and body.tl > 1.5 * body.ds
    assert set(body.arms) == {"left", "right"} and body.arms["left"][0][0] < body.arms["right"][0][0]


def test_one_shoulder_is_mirrored_about_the_neck_none_is_refused():
    one = KEYPOINTS.copy()
    one[Coco.L_SHOULDER, 2] = 0
    body = body_frame(one, (256, 192))
    assert body.ds == pytest.approx(30, abs=0.1)
    none = KEYPOINTS.copy()
    none[[Coco.R_SHOULDER, Coco.L_SHOULDER], 2] = 0
    with pytest.raises(BadInputError, match="shoulders not found"):
        body_frame(none, (256, 192))


def test_regions():
    labels = np.zeros((256, 192), np.uint8)
    labels[150:250, 70:120] = Lip.PANTS
    person = Person(photo=None, crop_box=(0, 0, 192, 256), keypoints=KEYPOINTS.copy(), parse=labels)
    torso = torso_polygon_mask(person, (256, 192))
    assert torso[110, 96] and not torso[110, 10]
    region = body_region(person, labels)
    assert region[110, 96] and region[200, 96] and region[115, 57] and not region[20, 10]
