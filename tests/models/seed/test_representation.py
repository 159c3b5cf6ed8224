"""The agnostic person representation (models/seed/representation.py)."""
import cv2
import numpy as np
from PIL import Image

from models.contract import Person
from models.crop import centre_crop_box
from models.seed.openpose import photo_keypoints_to_grid, read_openpose_json
from models.seed.representation import (HEAD_LABELS_SAMPLE, LIP_PALETTE_RGB, colour_labels, labels_on_grid,
                                        person_representation)


def _case(data, name):
    photo = cv2.imread(str(data / "persons" / f"{name}.jpg"))
    box = centre_crop_box(*photo.shape[:2])
    keypoints = photo_keypoints_to_grid(read_openpose_json(data / "pose_json" / f"{name}_keypoints.json"), box)
    labels = np.array(Image.open(data / "parse" / f"{name}.png"))
    return Person(photo=photo, crop_box=box, keypoints=keypoints, parse=labels)


def test_representation_of_000001_0(tryon_data):
    person = _case(tryon_data, "000001_0")  # 192×256 photo, VITON ground-truth parse + pose
    agnostic = person_representation(person)
    assert agnostic.shape == (1, 22, 256, 192) and agnostic.dtype == np.float32
    shape, head, pose = agnostic[0, 0], agnostic[0, 1:4], agnostic[0, 4:]

    # channel 0: blurred silhouette in [−1, 1]: many in-between values, high on the body
    body = np.isin(person.parse, np.arange(1, 20))
    assert shape.min() >= -1 and shape.max() <= 1
    assert ((shape > -0.9) & (shape < 0.9)).mean() > 0.1
    assert shape[body].mean() > shape[~body].mean() + 0.8

    # channels 1-3: the photo (RGB, [−1,1]) on head labels, −1 elsewhere
    on_head = np.isin(person.parse, HEAD_LABELS_SAMPLE)
    assert on_head.sum() > 500
    assert np.all(head[:, ~on_head] == -1)
    rgb = cv2.cvtColor(person.photo, cv2.COLOR_BGR2RGB).transpose(2, 0, 1) / 127.5 - 1
    assert np.allclose(head[:, on_head], rgb[:, on_head], atol=1e-5)

    # channels 4-21: ±1 with a 10×10 square at each keypoint kept by the sample's rule
    assert set(np.unique(pose)) <= {-1.0, 1.0}
    for k, (x, y, conf) in enumerate(person.keypoints):
        if conf > 0.1 and x > 0 and y > 0:
            x, y = int(x), int(y)
            expected = np.full((256, 192), -1.0, np.float32)
            expected[max(y - 5, 0):y + 5, max(x - 5, 0):x + 5] = 1
            assert np.array_equal(pose[k], expected), k
        else:
            assert np.all(pose[k] == -1)
    assert (pose == 1).any(axis=(1, 2)).sum() >= 12


def test_cpvton_original_head_set_and_squares(tryon_data):
    person = _case(tryon_data, "000001_0")
    sample = person_representation(person)[0]
    original = person_representation(person, cpvton_original=True)[0]
    pants = person.parse == 9
    assert pants.sum() > 100
    assert np.any(sample[1:4][:, pants] > -1)       # the sample keeps Pants in the head image
    assert np.all(original[1:4][:, pants] == -1)    # CP-VTON does not
    assert np.array_equal(sample[0], original[0])   # same silhouette
    neck = 1 + 4  # COCO 1 (neck), well inside the image
    assert (sample[neck] == 1).sum() == 100 and (original[neck] == 1).sum() == 121


def test_colour_round_trip_drops_blended_boundaries():
    labels = np.zeros((512, 384), np.uint8)
    labels[101:401, 101:301] = 5   # odd edges: a 2× bilinear shrink blends across them
    labels[21:101, 151:251] = 13
    grid = labels_on_grid(labels)
    assert grid.shape == (256, 192)
    # interiors keep their label, boundaries between colours become "no label" (−1)
    assert grid[120, 100] == 5 and grid[30, 100] == 13 and grid[5, 5] == 0
    assert (grid == -1).sum() > 0
    assert set(np.unique(grid)) <= {-1, 0, 5, 13}
    # same size: the resize is the identity, every pixel matches its palette colour
    small = cv2.resize(labels, (192, 256), interpolation=cv2.INTER_NEAREST)
    assert np.array_equal(labels_on_grid(small), small)


def test_colour_labels_uses_the_lip_palette():
    labels = np.arange(21, dtype=np.uint8).reshape(3, 7)
    colour = colour_labels(labels)
    assert np.array_equal(colour.reshape(-1, 3)[:20], LIP_PALETTE_RGB)
    assert np.array_equal(colour[2, 6], (0, 0, 0))  # CP-VTON+'s id 20 → background colour
