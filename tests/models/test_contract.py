"""The chain's contract (models/contract.py): Person's compact form, ChainOptions, check_image."""
import numpy as np
import pytest

from models.contract import BadInputError, ChainOptions, Person, check_image


def test_person_round_trips_without_its_photo():
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (300, 200, 3), dtype=np.uint8)
    person = Person(photo=photo, crop_box=(0, 16, 200, 283), keypoints=rng.random((18, 3)).astype(np.float32),
                    parse=rng.integers(0, 20, (128, 96), dtype=np.uint8),
                    stages={"pose": {"impl": "blazepose", "weights": {}}},
                    extras={"body_matte": rng.integers(0, 256, (128, 96), dtype=np.uint8)})
    data = person.to_bytes()
    back = Person.from_bytes(data, photo=photo)
    assert back.photo is photo and back.crop_box == person.crop_box and back.stages == person.stages
    np.testing.assert_array_equal(back.keypoints, person.keypoints)
    np.testing.assert_array_equal(back.parse, person.parse)
    np.testing.assert_array_equal(back.extras["body_matte"], person.extras["body_matte"])
    assert back.crop.shape == (267, 200, 3)
    assert Person.from_bytes(data).to_bytes() == data  # stable: a cached person stays byte-identical


def test_chain_options_read_registry_as_geometric_and_keep_the_old_label():
    options = ChainOptions(mode="registry")
    assert options.mode == "geometric"
    assert options.fingerprint() == ChainOptions(mode="geometric").fingerprint() == "0.3.0/registry/sample"
    assert ChainOptions(mode="seed", cpvton_original=True).fingerprint() == "0.3.0/seed/cpvton"


def test_check_image_names_the_input_and_the_reason():
    assert check_image(np.zeros((64, 64, 3), np.uint8), "x").shape == (64, 64, 3)
    for image, reason in ((None, "not a decodable image"), (np.zeros((64, 64), np.uint8), "3-channel"),
                          (np.zeros((63, 64, 3), np.uint8), "too small")):
        with pytest.raises(BadInputError, match=f"garments/a.jpg: .*{reason}"):
            check_image(image, "garments/a.jpg")
