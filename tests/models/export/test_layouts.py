"""models/export on synthetic Persons (no weights, no dataset): names, label ids, the OpenPose
JSON schemas and BODY_25, the encodings the loaders read, the agnostic maps' rules, refusals.
The same files from real photos, checked against each loader: tests/tools/test_prepare.py."""
from __future__ import annotations

import io
import json

import cv2
import numpy as np
import pytest
from PIL import Image

from models.contract import BadInputError, Person
from models.export import LAYOUTS, exported_name, garment_files, pairs_text, person_files
from models.export import agnostic, encode, openpose
from models.export.layouts import cp_vton_plus_labels, viton_hd_labels
from models.export.run import assign_names, build_report
from models.labels import Coco, Lip


def _keypoints() -> np.ndarray:
    """COCO-18 of an upright person in the 192×256 grid."""
    k = np.zeros((18, 3), np.float32)
    pts = {Coco.NOSE: (96, 40), Coco.NECK: (96, 70), Coco.R_SHOULDER: (66, 72), Coco.R_ELBOW: (58, 120),
           Coco.R_WRIST: (56, 160), Coco.L_SHOULDER: (126, 72), Coco.L_ELBOW: (134, 120), Coco.L_WRIST: (136, 160),
           Coco.R_HIP: (78, 160), Coco.L_HIP: (114, 160), Coco.R_EYE: (90, 34), Coco.L_EYE: (102, 34)}
    for i, (x, y) in pts.items():
        k[i] = (x, y, 0.9)
    return k


def _parse(h=256, w=192) -> np.ndarray:
    p = np.zeros((h, w), np.uint8)
    s = h / 256
    p[int(20 * s):int(62 * s), int(80 * s):int(112 * s)] = Lip.FACE
    p[int(62 * s):int(72 * s), int(88 * s):int(104 * s)] = 10  # neck
    p[int(72 * s):int(160 * s), int(66 * s):int(126 * s)] = Lip.UPPER_CLOTHES
    p[int(72 * s):int(170 * s), int(50 * s):int(66 * s)] = Lip.RIGHT_ARM   # image left = the person's right
    p[int(72 * s):int(170 * s), int(126 * s):int(142 * s)] = Lip.LEFT_ARM
    p[int(160 * s):, int(66 * s):int(126 * s)] = Lip.PANTS
    return p


def _person(photo_hw=(256, 192), landmarks=True, parse_hw=None, parser="registry_parsing") -> Person:
    h, w = photo_hw
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    lm = None
    if landmarks:
        lm = np.zeros((39, 4), np.float32)            # x, y in the 192×256 grid, z, visibility
        lm[29] = (80, 250, 0, 0.9)   # left heel: in the crop
        lm[31] = (90, 255, 0, 0.1)   # left foot index: not visible
        lm[30] = (110, 300, 0, 0.9)  # right heel: below the crop
    return Person(photo=photo, crop_box=(0, 0, w, h), keypoints=_keypoints(), parse=_parse(*(parse_hw or (256, 192))),
                  stages={"pose": {"impl": "blazepose"}, "parsing": {"impl": parser}}, landmarks=lm)


def _open(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_exported_names_survive_every_loaders_string_handling():
    assert exported_name("00891_00") == "00891_00"
    assert exported_name("team/alice smith.v2") == "team_alice_smith_v2"   # pairs are split on whitespace
    assert exported_name("photo.jpg.backup") == "photo_jpg_backup"          # .replace('.jpg', …) acts anywhere
    assert exported_name("my-image-01") == "my-img-01"                      # HR-VITON replaces 'image' in paths
    names, invalid = assign_names([("customers/a b.jpg", "a b"), ("customers/a_b.png", "a_b"), ("customers/!.jpg", "!")])
    assert names == {"customers/a b.jpg": "a_b"}
    assert [i["key"] for i in invalid] == ["customers/a_b.png", "customers/!.jpg"]
    assert "like 'customers/a b.jpg'" in invalid[0]["reason"]
    assert pairs_text(["p1", "p2"], ["g"]) == b"p1.jpg g.jpg\np2.jpg g.jpg\n"


def test_cp_vton_files_modes_and_schema():
    person = _person()
    files = dict(person_files("cp-vton", person, "p1").files)
    assert sorted(files) == ["test/image-mask/p1.png", "test/image-parse-new/p1.png", "test/image-parse/p1.png",
                             "test/image/p1.jpg", "test/pose/p1_keypoints.json"]
    image = _open(files["test/image/p1.jpg"])
    assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (192, 256))
    parse = _open(files["test/image-parse/p1.png"])
    assert parse.mode == "P" and parse.size == (192, 256)
    np.testing.assert_array_equal(np.array(parse), person.parse)
    assert np.array(parse.getpalette()[:60]).reshape(20, 3)[Lip.UPPER_CLOTHES].tolist() == [255, 85, 0]
    new = _open(files["test/image-parse-new/p1.png"])      # CP-VTON+: cv2-written 1-channel, neck = 20
    assert new.mode == "L" and set(np.unique(new)) == {0, 5, 9, 13, 14, 15, 20}
    mask = np.array(_open(files["test/image-mask/p1.png"]))
    np.testing.assert_array_equal(mask > 0, person.parse > 0)
    doc = json.loads(files["test/pose/p1_keypoints.json"])
    assert doc["version"] == 1.0 and set(doc["people"][0]) == {"face_keypoints", "pose_keypoints",
                                                               "hand_right_keypoints", "hand_left_keypoints"}
    pose = np.array(doc["people"][0]["pose_keypoints"]).reshape(-1, 3)
    assert pose.shape == (18, 3)
    np.testing.assert_allclose(pose, person.keypoints, atol=1e-5)   # the grid is 192×256 itself
    assert (pose[Coco.R_KNEE] == 0).all()                           # not found: 0, 0, 0


def test_body25_in_layout_pixels_with_mid_hip_and_blazepose_feet():
    person = _person()
    points, notes = openpose.body25(person, (768, 1024))
    assert not notes
    np.testing.assert_allclose(points[[2, 5, 9, 12], :2], person.keypoints[[2, 5, 8, 11], :2] * 4)
    np.testing.assert_allclose(points[8, :2], (points[9, :2] + points[12, :2]) / 2)
    np.testing.assert_allclose(points[21], (80 * 4, 250 * 4, 0.9), rtol=1e-6)  # left heel ← BlazePose 29
    assert (points[[19, 20, 22, 23, 24]] == 0).all()  # not visible, no small toes, below the crop
    files = dict(person_files("viton-hd", person, "p1").files)
    doc = json.loads(files["test/openpose-json/p1_keypoints.json"])
    assert doc["version"] == 1.3 and "pose_keypoints_2d" in doc["people"][0]
    np.testing.assert_array_equal(np.array(doc["people"][0]["pose_keypoints_2d"]).reshape(-1, 3), points)
    _, notes = openpose.body25(_person(landmarks=False), (768, 1024))
    assert "feet" in notes[0]


def test_viton_layouts_refuse_a_person_without_hips_and_cp_vton_does_not():
    person = _person()
    person.keypoints[Coco.L_HIP] = 0
    with pytest.raises(BadInputError, match="left hip not found"):
        person_files("viton-hd", person, "p1")
    with pytest.raises(BadInputError, match="left hip"):
        person_files("hr-viton", person, "p1")
    assert person_files("cp-vton", person, "p1").files


def test_viton_hd_label_ids_stay_below_20():
    person = _person()
    labels = person.parse.copy()
    labels[0, 0] = Lip.SKIN
    assert viton_hd_labels(person, labels)[0, 0] == 10   # CP-VTON+'s skin is VITON-HD's neck
    lip = _person(parser="lip_jppnet")
    labels[1, 1] = Lip.JUMPSUITS
    out = viton_hd_labels(lip, labels)
    assert out[1, 1] == Lip.DRESS and out.max() < 20     # LIP's jumpsuit is no neck
    assert cp_vton_plus_labels(lip, labels)[1, 1] == Lip.JUMPSUITS


def test_parse_at_the_layout_size_and_palette_of_the_viton_hd_files():
    person = _person(photo_hw=(1024, 768), parse_hw=(512, 384))
    files = dict(person_files("hr-viton", person, "p1").files)
    parse = _open(files["test/image-parse-v3/p1.png"])
    assert parse.mode == "P" and parse.size == (768, 1024)
    np.testing.assert_array_equal(np.array(parse), cv2.resize(person.parse, (768, 1024), interpolation=cv2.INTER_NEAREST))
    palette = np.array(parse.getpalette()).reshape(-1, 3)
    np.testing.assert_array_equal(palette, encode.VITON_HD_PALETTE)
    assert "test/image-densepose/p1.jpg" not in files and LAYOUTS["hr-viton"].left_out[0][0] == "image-densepose"


def test_parse_agnostic_removes_garment_neck_and_arms_near_their_bones_only():
    person = _person(photo_hw=(1024, 768), parse_hw=(1024, 768))
    labels = person.parse
    points, _ = openpose.body25(person, (768, 1024))
    out = agnostic.parse_agnostic(labels, points)
    assert not np.isin(out, (5, 6, 7, 10)).any()
    keep = ~np.isin(labels, (5, 6, 7, 10, 14, 15))
    np.testing.assert_array_equal(out[keep], labels[keep])
    # Arm pixels within the 100-px-wide bone lines are removed; far below the wrist they stay.
    wrist_x, wrist_y = points[4, :2].astype(int)
    assert out[wrist_y - 20, wrist_x] == 0
    far = labels.copy()
    far[900:1000, 200:264] = Lip.RIGHT_ARM
    assert (agnostic.parse_agnostic(far, points)[950:1000, 200:264] == Lip.RIGHT_ARM).all()


def test_image_agnostic_is_gray_on_the_torso_and_the_photo_on_head_and_legs():
    person = _person(photo_hw=(1024, 768), parse_hw=(1024, 768))
    points, _ = openpose.body25(person, (768, 1024))
    image = cv2.cvtColor(person.photo, cv2.COLOR_BGR2RGB)
    out = agnostic.image_agnostic(image, person.parse, points)
    torso = person.parse == Lip.UPPER_CLOTHES
    assert (out[torso] == 128).all(axis=1).mean() > 0.95
    for label in (Lip.FACE, Lip.PANTS):
        np.testing.assert_array_equal(out[person.parse == label], image[person.parse == label])


def test_cloth_is_padded_to_3_by_4_and_its_mask_thresholds_back_exactly():
    garment = np.full((300, 300, 3), 245, np.uint8)                   # square photo, light background
    cv2.rectangle(garment, (80, 40), (220, 280), (40, 40, 200), -1)
    files = dict(garment_files("viton-hd", garment, "g1").files)
    cloth = _open(files["test/cloth/g1.jpg"])
    assert (cloth.mode, cloth.size) == ("RGB", (768, 1024))
    mask = _open(files["test/cloth-mask/g1.jpg"])
    assert (mask.format, mask.mode, mask.size) == ("JPEG", "L", (768, 1024))
    m = np.array(mask)
    np.testing.assert_array_equal(m > 200, m >= 128)                    # CP-VTON's and the others' threshold
    ys, xs = np.nonzero(m >= 128)
    assert abs((xs.max() - xs.min()) / (ys.max() - ys.min()) - 140 / 240) < 0.02   # proportions kept
    with pytest.raises(BadInputError, match="g2: no garment found"):
        garment_files("cp-vton", np.full((256, 192, 3), 250, np.uint8), "g2")


def test_a_source_jpeg_of_the_layout_size_is_copied_byte_for_byte():
    person = _person()
    rgb = cv2.imencode(".jpg", person.photo, [cv2.IMWRITE_JPEG_QUALITY, 70])[1].tobytes()  # not our quality
    assert dict(person_files("cp-vton", person, "p", source=rgb).files)["test/image/p.jpg"] == rgb
    # another size: the crop resized and encoded
    resized = dict(person_files("viton-hd", _person(photo_hw=(1024, 768)), "p", source=rgb).files)["test/image/p.jpg"]
    assert resized != rgb and _open(resized).size == (768, 1024)
    # the crop is not the whole photo: encoded from the crop
    wide = _person(photo_hw=(256, 200))
    wide.crop_box = (4, 0, 196, 256)
    wide_src = cv2.imencode(".jpg", wide.photo, [cv2.IMWRITE_JPEG_QUALITY, 70])[1].tobytes()
    assert dict(person_files("cp-vton", wide, "p", source=wide_src).files)["test/image/p.jpg"] != wide_src
    grey = cv2.imencode(".jpg", person.photo[:, :, 0])[1].tobytes()      # PIL: mode L, not RGB
    assert not encode.reusable_jpeg(grey, (192, 256))
    assert not encode.reusable_jpeg(cv2.imencode(".png", person.photo)[1].tobytes(), (192, 256))
    buf = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6                                                    # rotated by EXIF: decoders differ
    Image.fromarray(person.photo).save(buf, "JPEG", exif=exif)
    assert not encode.reusable_jpeg(buf.getvalue(), (192, 256))


def test_a_reframed_person_exports_its_box_past_the_photos_edge_not_the_photo():
    """Framing "person": the Person seen through its working box (models.framing.reframe; the
    box may reach past the photo). The image is that box (the photo's border replicated) at the
    layout's size, never the source file, and the pose is in the box's pixels."""
    from models.contract import padded_crop
    from models.framing import reframe

    person = _person(photo_hw=(1024, 768))
    yy, xx = np.mgrid[0:1024, 0:768]
    person.photo = np.dstack([xx // 4, yy // 5, (xx + yy) // 8]).astype(np.uint8)  # smooth: JPEG keeps it
    source = encode.jpeg_rgb(person.photo)
    assert encode.reusable_jpeg(source, (768, 1024))
    box = (-40, -20, 728, 1004)                      # the layout's size, shifted up and left
    framed = reframe(person, box)
    files = dict(person_files("viton-hd", framed, "p", source=source).files)
    assert files["test/image/p.jpg"] != source
    image = cv2.imdecode(np.frombuffer(files["test/image/p.jpg"], np.uint8), cv2.IMREAD_COLOR)
    expected = padded_crop(person.photo, box)
    assert image.shape == expected.shape == (1024, 768, 3)
    assert np.abs(image.astype(int) - expected).mean() < 2
    pose = np.array(json.loads(files["test/openpose-json/p_keypoints.json"])["people"][0]["pose_keypoints_2d"])
    neck = pose.reshape(25, 3)[1]
    np.testing.assert_allclose(neck[:2], (96 * 4 + 40, 70 * 4 + 20), atol=1e-3)   # photo (384, 280) in the box
    parse = np.array(_open(files["test/image-parse/p.png"]))
    np.testing.assert_array_equal(parse[20:, 40:], viton_hd_labels(person, cv2.resize(
        person.parse, (768, 1024), interpolation=cv2.INTER_NEAREST))[:-20, :-40])


def test_skeleton_image_follows_openpose_colours_on_black():
    person = _person(photo_hw=(1024, 768))
    points, _ = openpose.body25(person, (768, 1024))
    image = openpose.render_body25(points, (768, 1024))
    assert image.shape == (1024, 768, 3) and (image.max(axis=2) == 0).mean() > 0.9
    for i in (0, 2, 4, 7, 9, 12):
        x, y = np.floor(points[i, :2] + 0.5).astype(int)
        assert tuple(image[y, x]) == openpose.BODY25_COLOURS[i]


def test_report_counts_failures_and_hr_viton_warnings():
    persons = [{"key": "customers/a.jpg", "name": "a", "status": "exported", "files": []},
               {"key": "customers/b.jpg", "name": "b", "status": "failed", "reason": "customers/b.jpg: no person found"}]
    garments = [{"key": "catalogue/a.jpg", "name": "a", "status": "exported", "files": []},
                {"key": "catalogue/t.jpg", "name": "t", "status": "exported", "files": []}]
    report = build_report("hr-viton", split="test", source="s", chain="c", framing="person", created="now",
                          persons=persons, garments=garments,
                          invalid=[{"key": "customers/x.txt", "reason": "not an image"}])
    assert report["counts"] == {"persons": 2, "persons_exported": 1, "garments": 2, "garments_exported": 2,
                                "failed": 1, "invalid_inputs": 1, "pairs": 2}
    assert not report["ok"] and report["failures"][0]["reason"].endswith("no person found")
    assert report["left_out"][0]["folder"] == "test/image-densepose/" and not report["unpaired_persons"]
    assert report["framing"] == "person"
    assert build_report("cp-vton", split="train", source="s", chain="c", framing="centre", created="now",
                        persons=persons, garments=garments[1:], invalid=[])["pairs_file"] == "train_pairs.txt"
