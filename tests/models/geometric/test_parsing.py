"""Geometric parsing: BlazeFace anchors and decoding, the labelling logic on a synthetic
person, and body/head IoU against the sample dataset's parses."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from models.geometric import blazeface as bf
from models.geometric import blazepose as bp
from models.geometric import parsing as rp
from models.labels import NECK, Lip
from models.weights import MissingWeightsError


def test_anchor_generation_matches_mediapipe_layout():
    anchors = bf.ssd_anchor_centres()
    assert anchors.shape == (896, 2)
    # stride 8: 16×16 cells, 2 anchors each, row-major
    np.testing.assert_allclose(anchors[0], anchors[1])
    np.testing.assert_allclose(anchors[0], (0.5 / 16, 0.5 / 16))
    np.testing.assert_allclose(anchors[2], (1.5 / 16, 0.5 / 16))
    np.testing.assert_allclose(anchors[32], (0.5 / 16, 1.5 / 16))
    np.testing.assert_allclose(anchors[511], (15.5 / 16, 15.5 / 16))
    # three stride-16 layers merge into one 8×8 grid with 6 anchors per cell
    np.testing.assert_allclose(anchors[512:518], [(0.5 / 8, 0.5 / 8)] * 6)
    np.testing.assert_allclose(anchors[518], (1.5 / 8, 0.5 / 8))
    np.testing.assert_allclose(anchors[-1], (7.5 / 8, 7.5 / 8))


def test_weighted_nms_merges_overlapping_detections():
    boxes = np.array([[10, 10, 50, 50], [12, 12, 52, 52], [100, 100, 140, 140]], float)
    scores = np.array([0.9, 0.6, 0.8])
    points = np.zeros((3, 6, 2))
    faces = bf._weighted_nms(boxes, scores, points)
    assert len(faces) == 2
    assert faces[0].score == pytest.approx(0.9)
    np.testing.assert_allclose(faces[0].box, (10 + 2 * 0.6 / 1.5, 10 + 2 * 0.6 / 1.5, 50.8, 50.8))
    np.testing.assert_allclose(faces[1].box, boxes[2])


def synthetic_person():
    """A 256×192 drawing: hair, face, neck, a red shirt with bare forearms, blue trousers;
    with matching BlazePose landmarks and face geometry."""
    img = np.full((256, 192, 3), 235, np.uint8)
    skin, hair, shirt, trousers = (150, 180, 225), (30, 40, 60), (40, 40, 200), (140, 70, 30)   # BGR
    cv2.ellipse(img, (96, 40), (24, 28), 0, 0, 360, hair, -1)         # head of hair
    cv2.rectangle(img, (72, 40), (120, 95), hair, -1)                   # long hair to the shoulders
    cv2.ellipse(img, (96, 48), (17, 22), 0, 0, 360, skin, -1)         # face
    cv2.rectangle(img, (89, 66), (103, 84), skin, -1)                   # neck
    cv2.rectangle(img, (56, 80), (136, 170), shirt, -1)                 # shirt
    cv2.rectangle(img, (36, 80), (56, 130), shirt, -1)                  # sleeves
    cv2.rectangle(img, (136, 80), (156, 130), shirt, -1)
    cv2.rectangle(img, (38, 130), (54, 185), skin, -1)                  # forearms
    cv2.rectangle(img, (138, 130), (154, 185), skin, -1)
    cv2.rectangle(img, (60, 170), (132, 256), trousers, -1)             # trousers
    body = np.any(img != 235, axis=2)
    lm = np.zeros((39, 2), np.float32)
    for i, xy in {bp.L_SHOULDER: (140, 88), bp.R_SHOULDER: (52, 88), bp.L_ELBOW: (146, 130),
                  bp.R_ELBOW: (46, 130), bp.L_WRIST: (146, 180), bp.R_WRIST: (46, 180), bp.L_INDEX: (146, 190), bp.R_INDEX: (46, 190),
                  bp.L_HIP: (116, 170), bp.R_HIP: (76, 170), bp.NOSE: (96, 48)}.items():
        lm[i] = xy
    face = rp.FaceGeometry(eyes=np.array([96.0, 42.0]), mouth=np.array([96.0, 56.0]),
                           box=np.array([79.0, 30.0, 113.0, 68.0]))
    return img, body, lm, face


def test_label_person_on_a_synthetic_person():
    img, body, lm, face = synthetic_person()
    labels = rp.label_person(img, body, lm, face)
    assert labels.shape == body.shape
    assert ((labels > 0) == body).all()
    at = lambda x, y: labels[y, x]  # noqa: E731
    assert at(96, 50) == Lip.FACE
    assert at(96, 16) == Lip.HAIR          # top of the head
    assert at(75, 75) == Lip.HAIR          # hair hanging beside the neck
    assert at(96, 74) == NECK
    assert at(96, 120) == Lip.UPPER_CLOTHES
    assert at(45, 100) == Lip.UPPER_CLOTHES   # sleeve
    assert at(146, 160) == Lip.LEFT_ARM       # the person's left = image right
    assert at(46, 160) == Lip.RIGHT_ARM
    assert at(96, 220) == Lip.PANTS


def test_colour_model_prefers_its_own_colour():
    rng = np.random.default_rng(0)
    red = rng.normal((50, 170, 150), 3, (500, 3))
    blue = rng.normal((40, 140, 90), 3, (500, 3))
    m_red, m_blue = rp.ColourModel(red), rp.ColourModel(blue)
    assert (m_red.log_likelihood(red) > m_blue.log_likelihood(red)).mean() > 0.99


def test_missing_weights_name_a_file_and_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("TRYON_WEIGHTS_DIR", str(tmp_path))
    assert not rp.GeometricParser.available()
    with pytest.raises(MissingWeightsError, match=r"\.tflite.*make models"):
        rp.GeometricParser.load()


def test_face_detector_finds_each_face(wheel_models, tryon_data):
    """One face per photo, its box around the ground-truth face (parse label 13)."""
    from tools.evaluate import case_names, load_gt_parse

    detector = bf.BlazeFace.load()
    for name in case_names(tryon_data):
        photo = cv2.imread(str(tryon_data / "persons" / f"{name}.jpg"))
        faces = detector.detect(photo)
        assert len(faces) == 1, name
        gt = load_gt_parse(tryon_data, name, photo.shape[:2])
        ys, xs = np.nonzero(gt == 13)
        cx, cy = xs.mean() * photo.shape[1] / gt.shape[1], ys.mean() * photo.shape[0] / gt.shape[0]
        x0, y0, x1, y1 = faces[0].box
        assert x0 < cx < x1 and y0 < cy < y1, name
        # eyes above the mouth, right eye (person's) on the image left
        k = faces[0].keypoints
        assert k[0, 0] < k[1, 0] and max(k[0, 1], k[1, 1]) < k[3, 1], name


@pytest.fixture(scope="module")
def parsed(wheel_models, tryon_data):
    from tools.evaluate import case_names, load_gt_parse

    parser = rp.GeometricParser.load()
    out = {}
    for name in case_names(tryon_data):
        photo = cv2.imread(str(tryon_data / "persons" / f"{name}.jpg"))  # 3:4: the crop is the photo
        labels, extras = parser.parse(photo, None)
        out[name] = (labels, extras, load_gt_parse(tryon_data, name, photo.shape[:2]), photo.shape[:2])
    return out


def test_parse_output_format(parsed):
    for name, (labels, extras, _, (h, w)) in parsed.items():
        assert labels.dtype == np.uint8 and labels.ndim == 2
        assert labels.shape[0] == min(h, rp.WORK_HEIGHT)
        assert abs(labels.shape[1] / labels.shape[0] - w / h) < 0.01
        assert set(np.unique(labels)) <= {0, 2, 5, 9, 10, 13, 14, 15, 16, 17}
        matte = extras["body_matte"]
        assert matte.dtype == np.uint8 and matte.shape == labels.shape
        assert ((matte > 127) == (labels > 0)).mean() > 0.999, name


def test_body_and_head_iou_on_the_dataset(parsed):
    """Measured: body IoU 0.968, head IoU 0.890 (means over the 14 photos; worst 0.89 / 0.82)."""
    from tools.evaluate import body_iou, head_iou

    body = [body_iou(labels, gt) for labels, _, gt, _ in parsed.values()]
    head = [head_iou(labels, gt) for labels, _, gt, _ in parsed.values()]
    assert np.mean(body) >= 0.95 and min(body) >= 0.85
    assert np.mean(head) >= 0.87 and min(head) >= 0.75


def test_upper_clothes_region_on_the_dataset(parsed):
    """The compositor paints the new garment over label 5: measured IoU 0.87 vs GT (5,6,7)."""
    from tools.evaluate import mask_iou

    scores = []
    for labels, _, gt, _ in parsed.values():
        pred = cv2.resize(labels, gt.shape[::-1], interpolation=cv2.INTER_NEAREST)
        scores.append(mask_iou(pred == 5, np.isin(gt, (5, 6, 7))))
    assert np.mean(scores) >= 0.82


def test_face_geometry_falls_back_to_pose_landmarks(wheel_models):
    """No face found (here: a blank image) → eyes and mouth from BlazePose's face points."""
    parser = rp.GeometricParser.load()
    lm = np.zeros((39, 2), np.float32)
    lm[bp.NOSE], lm[bp.L_EYE], lm[bp.R_EYE], lm[bp.MOUTH_LEFT], lm[bp.MOUTH_RIGHT] = (96, 50), (104, 42), (88, 42), (101, 60), (91, 60)
    face = parser.face_geometry(np.full((256, 192, 3), 128, np.uint8), lm)
    np.testing.assert_allclose(face.eyes, (96, 42))
    np.testing.assert_allclose(face.mouth, (96, 60))
    assert face.chin[1] == pytest.approx(42 + rp.CHIN_BELOW_EYES * 18)


def test_parser_takes_the_pose_stages_pass_and_runs_blazepose_only_without_it(wheel_models, tryon_data, monkeypatch):
    """BlazePose runs once per photo: the parser reads the pose stage's pass from its extras;
    only after another pose stage (OpenPose, given keypoints) does it run BlazePose itself."""
    photo = cv2.imread(str(tryon_data / "persons" / "000174_0.jpg"))
    pose = bp.BlazePose.load()
    keypoints, extras = pose.keypoints(photo)
    parser = rp.GeometricParser.load()
    runs = []
    real = bp.BlazePose.analyse
    monkeypatch.setattr(bp.BlazePose, "analyse", lambda self, image: runs.append(1) or real(self, image))
    handed_over, _ = parser.parse(photo, keypoints, extras)
    assert runs == []
    on_its_own, _ = parser.parse(photo, keypoints, {})
    assert runs == [1]
    np.testing.assert_array_equal(handed_over, on_its_own)
