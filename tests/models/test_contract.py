"""The chain's contract (models/contract.py): Person's compact form, ChainOptions, check_image."""
import numpy as np
import pytest

from models.contract import CHAIN_VERSION, BadInputError, ChainOptions, Person, QaVerdict, check_image


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


def test_person_keeps_blazepose_landmarks_and_reads_persons_cached_without_them():
    rng = np.random.default_rng(1)
    person = Person(photo=None, crop_box=(0, 0, 96, 128), keypoints=rng.random((18, 3)).astype(np.float32),
                    parse=rng.integers(0, 20, (128, 96), dtype=np.uint8),
                    landmarks=rng.random((39, 4)).astype(np.float32))
    back = Person.from_bytes(person.to_bytes())
    np.testing.assert_array_equal(back.landmarks, person.landmarks)
    older = Person(photo=None, crop_box=(0, 0, 96, 128), keypoints=person.keypoints, parse=person.parse)
    assert Person.from_bytes(older.to_bytes()).landmarks is None


def test_chain_options_read_registry_as_geometric_and_keep_the_old_label():
    options = ChainOptions(mode="registry")
    assert options.mode == "geometric"
    assert options.fingerprint() == ChainOptions(mode="geometric").fingerprint() == f"{CHAIN_VERSION}/registry/sample"
    assert ChainOptions(mode="seed", cpvton_original=True).fingerprint() == f"{CHAIN_VERSION}/seed/cpvton"


def test_check_image_names_the_input_and_the_reason():
    assert check_image(np.zeros((64, 64, 3), np.uint8), "x").shape == (64, 64, 3)
    for image, reason in ((None, "not a decodable image"), (np.zeros((64, 64), np.uint8), "3-channel"),
                          (np.zeros((63, 64, 3), np.uint8), "too small")):
        with pytest.raises(BadInputError, match=f"garments/a.jpg: .*{reason}"):
            check_image(image, "garments/a.jpg")


def test_person_keeps_small_float_extras_as_they_are():
    """Float extras round-trip exactly; uint8 masks still go as PNG."""
    rng = np.random.default_rng(1)
    landmarks = rng.normal(0, 50, (39, 4)).astype(np.float32)
    person = Person(photo=None, crop_box=(0, 0, 96, 128), keypoints=np.zeros((18, 3), np.float32),
                    parse=np.zeros((64, 48), np.uint8),
                    extras={"depth": landmarks, "body_matte": np.full((64, 48), 7, np.uint8)})
    back = Person.from_bytes(person.to_bytes())
    np.testing.assert_array_equal(back.extras["depth"], landmarks)
    assert back.extras["depth"].dtype == np.float32
    np.testing.assert_array_equal(back.extras["body_matte"], person.extras["body_matte"])
    assert len(person.to_bytes()) < 4000


def test_qa_verdict_defaults_to_ok_and_serialises():
    from models.contract import Composite

    c = Composite(image=np.zeros((64, 64, 3), np.uint8), tryon=np.zeros((256, 192, 3), np.float32), stages={},
                  timings={})
    assert c.qa.ok and c.qa.status == "ok" and c.qa.reasons == []
    v = QaVerdict(status="needs_review", reasons=["garment strained"], measures={"fit_strain": 0.512345})
    assert not v.ok and v.to_dict() == {"status": "needs_review", "reasons": ["garment strained"],
                                        "measures": {"fit_strain": 0.5123}}


def test_person_keeps_its_body_layout_exactly():
    """A cached Person must frame as the computed one: body points round-trip unrounded."""
    from models.contract import BodyLayout

    rng = np.random.default_rng(2)
    points = {name: tuple(float(v) for v in rng.normal(300, 120, 3)) for name in ("neck", "l_hip", "r_ankle")}
    layout = BodyLayout(photo_hw=(900, 600), points=points, extent=(10, 20, 590, 880))
    person = Person(photo=None, crop_box=(0, 0, 96, 128), keypoints=np.zeros((18, 3), np.float32),
                    parse=np.zeros((64, 48), np.uint8), framing="person", layout=layout)
    back = Person.from_bytes(person.to_bytes())
    assert back.layout.points == points and back.layout.extent == layout.extent
