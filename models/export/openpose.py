"""A Person's pose as OpenPose writes it: COCO-18 JSON (CP-VTON), BODY_25 JSON and the rendered
skeleton image (VITON-HD, HR-VITON), in the exported image's pixels.

JSON (what the loaders read: `json.load(f)['people'][0][key]`, reshaped to (-1, 3), x y conf):
    COCO-18  OpenPose 1.0 form, as CP-VTON's VITON conversion wrote it: {"version": 1.0, "people":
             [{"face_keypoints": [], "pose_keypoints": [54 numbers], "hand_right_keypoints": [],
             "hand_left_keypoints": []}]}; CP-VTON and CP-VTON+ read `pose_keypoints`.
    BODY_25  OpenPose 1.3 form, as VITON-HD's openpose-json files have it: {"version": 1.3, "people":
             [{"person_id": [-1], "pose_keypoints_2d": [75 numbers], "face_keypoints_2d": [], …}]};
             VITON-HD and HR-VITON read `pose_keypoints_2d` and use indices 1–7, 9 and 12.
A keypoint not found is 0, 0, 0 (OpenPose's convention; the loaders test x, y for 0).

BODY_25 from the Person: COCO-18's 18 points at their BODY_25 indices; 8 (mid-hip) the middle
of the two hips; the feet from BlazePose's landmarks when the Person carries them (19 big toe ←
foot index, 21 heel ← heel, per side; BlazePose has no small toe, so 20 and 23 stay 0, 0, 0).

The skeleton image follows OpenPose's CPU renderer (`--render_pose 1 --disable_blending`):
BODY_25's limb pairs and colours, black background, circle and line thickness from the image
area and the person's keypoint rectangle, keypoints above render threshold 0.05. OpenPose's
default GPU renderer draws softer limbs; hands (the datasets were made with `--hand`) are not
drawn: this project finds no hand keypoints.
"""
from __future__ import annotations

import json

import cv2
import numpy as np

from models.contract import REPR_H, REPR_W, Person
from models.geometric.blazepose import MIN_VISIBILITY
from models.seed.openpose import BODY25_TO_COCO18

BODY25_POINTS = 25
MID_HIP = 8
R_HIP_25, L_HIP_25 = 9, 12
# BODY_25 foot point ← BlazePose landmark (BlazePose: 29/30 left/right heel, 31/32 left/right foot index).
BODY25_FEET_FROM_BLAZEPOSE = {19: 31, 21: 29, 22: 32, 24: 30}

# OpenPose's BODY_25 rendering (poseParametersRender.hpp): limb pairs and per-keypoint RGB colours;
# a limb takes its second keypoint's colour.
BODY25_PAIRS = ((1, 8), (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (8, 9), (9, 10), (10, 11), (8, 12),
                (12, 13), (13, 14), (1, 0), (0, 15), (15, 17), (0, 16), (16, 18), (14, 19), (19, 20), (14, 21),
                (11, 22), (22, 23), (11, 24))
BODY25_COLOURS = ((255, 0, 85), (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0),
                  (85, 255, 0), (0, 255, 0), (255, 0, 0), (0, 255, 85), (0, 255, 170), (0, 255, 255),
                  (0, 170, 255), (0, 85, 255), (0, 0, 255), (255, 0, 170), (170, 0, 255), (255, 0, 255),
                  (85, 0, 255), (0, 0, 255), (0, 0, 255), (0, 0, 255), (0, 255, 255), (0, 255, 255),
                  (0, 255, 255))
RENDER_THRESHOLD = 0.05      # OpenPose --render_threshold default
RECTANGLE_THRESHOLD = 0.1    # keypoints that size the person's rectangle
CIRCLE_RATIO = 1 / 75        # pose: thicknessCircleRatio
LINE_RATIO_WRT_CIRCLE = 0.75


def coco18(person: Person, size_wh: tuple[int, int]) -> np.ndarray:
    """(18, 3) float64: the Person's COCO-18 keypoints in pixels of the crop at `size_wh`."""
    w, h = size_wh
    points = np.asarray(person.keypoints, np.float64).copy()
    points[:, 0] *= w / REPR_W
    points[:, 1] *= h / REPR_H
    points[points[:, 2] <= 0] = 0
    return points


def body25(person: Person, size_wh: tuple[int, int]) -> tuple[np.ndarray, list[str]]:
    """(25, 3) float64 BODY_25 in pixels of the crop at `size_wh`, and notes on what is missing."""
    out = np.zeros((BODY25_POINTS, 3), np.float64)
    out[BODY25_TO_COCO18] = coco18(person, size_wh)
    hips = out[[R_HIP_25, L_HIP_25]]
    if (hips[:, 2] > 0).all():
        out[MID_HIP] = (*hips[:, :2].mean(axis=0), hips[:, 2].min())
    notes = []
    if person.landmarks is None:
        notes.append("BODY_25 feet (19-24) written as not found: the pose stage "
                     f"({person.stages.get('pose', {}).get('impl', '?')}) gave no BlazePose landmarks")
        return out, notes
    w, h = size_wh
    for index, landmark in BODY25_FEET_FROM_BLAZEPOSE.items():
        x, y, _, visibility = (float(v) for v in person.landmarks[landmark][:4])  # x, y in the 192×256 grid
        if visibility >= MIN_VISIBILITY and 0 <= x < REPR_W and 0 <= y < REPR_H:
            out[index] = (x * w / REPR_W, y * h / REPR_H, visibility)
    return out, notes


def _flat(points: np.ndarray) -> list[float]:
    # Full precision: the exported file reads back to the Person's float32 keypoints.
    return [float(v) for v in np.asarray(points, np.float64).reshape(-1)]


def coco18_json(points: np.ndarray) -> bytes:
    person = {"face_keypoints": [], "pose_keypoints": _flat(points),
              "hand_right_keypoints": [], "hand_left_keypoints": []}
    return json.dumps({"version": 1.0, "people": [person]}).encode()


def body25_json(points: np.ndarray) -> bytes:
    person = {"person_id": [-1], "pose_keypoints_2d": _flat(points), "face_keypoints_2d": [],
              "hand_left_keypoints_2d": [], "hand_right_keypoints_2d": [], "pose_keypoints_3d": [],
              "face_keypoints_3d": [], "hand_left_keypoints_3d": [], "hand_right_keypoints_3d": []}
    return json.dumps({"version": 1.3, "people": [person]}).encode()


def _round(v: float) -> int:
    return int(np.floor(v + 0.5))


def render_body25(points: np.ndarray, size_wh: tuple[int, int]) -> np.ndarray:
    """The skeleton on black, RGB uint8 (h, w, 3), drawn as OpenPose's CPU renderer draws BODY_25."""
    w, h = size_wh
    canvas = np.zeros((h, w, 3), np.uint8)
    seen = points[points[:, 2] > RECTANGLE_THRESHOLD]
    if len(seen) == 0:
        return canvas
    rect_w, rect_h = np.ptp(seen[:, 0]), np.ptp(seen[:, 1])
    if rect_w * rect_h <= 0:
        return canvas
    ratio_areas = min(1.0, max(rect_w / w, rect_h / h))
    thickness = max(_round(np.sqrt(w * h) * CIRCLE_RATIO * ratio_areas), 2)
    circle = max(1, thickness if ratio_areas > 0.05 else -1)
    line = max(1, _round(thickness * LINE_RATIO_WRT_CIRCLE))
    radius = thickness // 2
    centre = [(_round(x), _round(y)) for x, y, _ in points]
    for a, b in BODY25_PAIRS:
        if points[a, 2] > RENDER_THRESHOLD and points[b, 2] > RENDER_THRESHOLD:
            cv2.line(canvas, centre[a], centre[b], BODY25_COLOURS[b], line, cv2.LINE_8)
    for i in range(BODY25_POINTS):
        if points[i, 2] > RENDER_THRESHOLD:
            cv2.circle(canvas, centre[i], radius, BODY25_COLOURS[i], circle, cv2.LINE_8)
    return canvas
