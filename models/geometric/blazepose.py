"""BlazePose GHUM (pose_landmark_full from the mediapipe wheel) in OpenCV DNN → COCO-18.

The geometric chain's pose stage. MediaPipe runs a person detector first, then the landmark
model on a rotated square ROI; its detector (pose_detection.tflite) does not load in OpenCV
(DENSIFY op), so the ROI is found the way MediaPipe tracks between video frames:
  pass 1:  the whole crop, letterboxed into 256×256;
  pass 2+: the ROI derived from the previous pass's landmarks (MediaPipe's ROI-from-landmarks:
           centre = hip centre (aux landmark 33), side = 2·|33→34|·1.25, rotated so 33→34
           points up), repeated until the ROI side changes by < 3 % (3–8 passes);
  flip:    the final ROI once more on the mirrored crop, left/right swapped back, averaged.

Model I/O (checked by probing the file, see tests/models/geometric/test_blazepose.py):
  input   1×3×256×256 float RGB in [0,1], zero border (MediaPipe's BORDER_ZERO letterbox)
  Identity    1×195   39 landmarks × (x, y, z, visibility, presence); x, y in input pixels,
                      visibility and presence are logits (→ sigmoid)
  Identity_1  1×1     pose presence, already a probability
  Identity_2  1×1×256×256  person segmentation logits of the ROI (→ sigmoid)
  Identity_3  1×39×64×64   landmark heat-map logits (refine the regressed x, y as MediaPipe does)
  Identity_4  1×117   world landmarks in metres (unused)

BlazePose's 33 landmarks are not OpenPose's 18: the neck is taken as mid-shoulders, and
`to_coco18` adds per-keypoint offsets in the torso frame fitted on the sample dataset's
OpenPose ground truth (tools/pose_calibration.py: the fit and its leave-one-out score).
With the converged ROI the hips need no offset (their residuals split both ways: VITON's
OpenPose hips sit lower, VITON-HD's higher on skirts); OpenPose's knees sit ≈0.18 torso
higher than BlazePose's on half-body photos; OpenPose's shoulders sit ≈0.016 torso further
in (BlazePose's shoulder span is a median 4 % wider), its ears ≈0.04 further out, its elbows
and eyes a little higher. Nose, neck, wrists, hips and ankles get no offset.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from models.contract import REPR_H, REPR_W, BadInputError
from models.labels import COCO_KEYPOINTS, Coco
from models.weights import DeclaresWeights, WeightFile, resolve

POSE_LANDMARK_FULL = WeightFile(
    name="pose_landmark_full.tflite",
    known_hash="sha256:e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f",
    size=6440512,
    wheel_member="mediapipe/modules/pose_landmark/pose_landmark_full.tflite",
    note="BlazePose GHUM full landmark model (Apache-2.0), from the mediapipe 0.10.21 wheel",
)

INPUT_SIZE = 256
ROI_SCALE = 1.25          # MediaPipe pose_landmark_by_roi: RectTransformation scale 1.25
MIN_POSE_PRESENCE = 0.5   # below this the model says "no pose in this ROI"
# Below this visibility a landmark is reported missing. Lower than MediaPipe's 0.5 for
# drawing: OpenPose reports knees at the bottom edge of a half-body photo, BlazePose gives
# them 0.3–0.5 there, and their positions are good.
MIN_VISIBILITY = 0.2
HEATMAP_KERNEL = 7            # MediaPipe's landmark refinement from the heat-maps
HEATMAP_MIN_CONFIDENCE = 0.5
MAX_ANALYSIS_SIDE = 1024  # larger images are reduced (INTER_AREA) before the passes
MAX_ROI_PASSES = 8        # ROI-from-landmarks passes after the letterboxed one (cap)
ROI_CONVERGED = 0.03      # stop when the ROI side changes by less than this fraction

# BlazePose landmark ids (its own 33, not COCO's)
NOSE, L_EYE, R_EYE, L_EAR, R_EAR, MOUTH_LEFT, MOUTH_RIGHT = 0, 2, 5, 7, 8, 9, 10
L_SHOULDER, R_SHOULDER, L_ELBOW, R_ELBOW, L_WRIST, R_WRIST = 11, 12, 13, 14, 15, 16
L_INDEX, R_INDEX = 19, 20
L_HIP, R_HIP, L_KNEE, R_KNEE, L_ANKLE, R_ANKLE = 23, 24, 25, 26, 27, 28
HIP_CENTRE, FULL_BODY_TOP = 33, 34   # auxiliary alignment landmarks (ROI)

# COCO-18 keypoint → BlazePose landmark; the neck has no landmark and is mid-shoulders.
COCO_FROM_BLAZEPOSE = {
    Coco.NOSE: NOSE, Coco.R_SHOULDER: R_SHOULDER, Coco.R_ELBOW: R_ELBOW, Coco.R_WRIST: R_WRIST,
    Coco.L_SHOULDER: L_SHOULDER, Coco.L_ELBOW: L_ELBOW, Coco.L_WRIST: L_WRIST,
    Coco.R_HIP: R_HIP, Coco.R_KNEE: R_KNEE, Coco.R_ANKLE: R_ANKLE, Coco.L_HIP: L_HIP, Coco.L_KNEE: L_KNEE,
    Coco.L_ANKLE: L_ANKLE, Coco.R_EYE: R_EYE, Coco.L_EYE: L_EYE, Coco.R_EAR: R_EAR, Coco.L_EAR: L_EAR,
}
# BlazePose landmark index of the mirror-image landmark (left ↔ right; aux 33–38 have no side).
MIRROR_LANDMARKS = list(range(39))
for _a, _b in [(1, 4), (2, 5), (3, 6), (7, 8), (9, 10)] + [(i, i + 1) for i in range(11, 33, 2)]:
    MIRROR_LANDMARKS[_a], MIRROR_LANDMARKS[_b] = _b, _a
# The pose stage's extras: its PoseResult under this key (the parsing stage reuses the pass).
POSE_EXTRA = "blazepose"


@dataclass
class PoseResult:
    """BlazePose on one image.

    landmarks:     (39, 5) x, y in image pixels, z (ROI-relative), visibility and presence
                   as probabilities.
    presence:      the model's pose-presence probability for the final ROI.
    segmentation:  float32 person probability of the whole image (0 outside the ROI), at the
                   image's size or, for images larger than MAX_ANALYSIS_SIDE, at the reduced
                   size the network was run on (resize it to what you need).
    """

    landmarks: np.ndarray
    presence: float
    segmentation: np.ndarray


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.clip(x, -60, 60)))


def refine_from_heatmaps(xy: np.ndarray, heatmaps: np.ndarray, kernel: int = HEATMAP_KERNEL,
                         min_confidence: float = HEATMAP_MIN_CONFIDENCE) -> np.ndarray:
    """MediaPipe's RefineLandmarksFromHeatmap (pose_landmark graph, kernel 7, threshold 0.5):
    each landmark (input pixels) moves to the sigmoid-weighted mean cell of a kernel×kernel
    window of its heat-map around it, if the window's peak is confident enough. As in
    MediaPipe, a cell's index (not its centre) is its position: x = col / 64 · 256."""
    channels, hm_h, hm_w = heatmaps.shape
    out = xy.copy()
    offset = (kernel - 1) // 2
    for i in range(min(channels, len(xy))):
        col, row = int(xy[i, 0] / INPUT_SIZE * hm_w), int(xy[i, 1] / INPUT_SIZE * hm_h)
        if not (0 <= col < hm_w and 0 <= row < hm_h):
            continue   # outside the ROI: keep the regressed position
        r0, r1 = max(0, row - offset), min(hm_h, row + offset + 1)
        c0, c1 = max(0, col - offset), min(hm_w, col + offset + 1)
        confidence = _sigmoid(heatmaps[i, r0:r1, c0:c1].astype(np.float64))
        total = confidence.sum()
        if confidence.max() >= min_confidence and total > 0:
            rows, cols = np.mgrid[r0:r1, c0:c1]
            out[i] = ((cols * confidence).sum() / total / hm_w * INPUT_SIZE,
                      (rows * confidence).sum() / total / hm_h * INPUT_SIZE)
    return out


def roi_from_landmarks(landmarks: np.ndarray) -> tuple[np.ndarray, float, float]:
    """MediaPipe's ROI from landmarks 33 (hip centre) and 34: (centre, side, rotation rad)."""
    centre = landmarks[HIP_CENTRE, :2]
    top = landmarks[FULL_BODY_TOP, :2]
    dx, dy = top - centre
    # Rotation that makes centre→top point straight up (target angle 90°, image y down).
    rotation = np.pi / 2 - np.arctan2(-dy, dx)
    rotation = (rotation + np.pi) % (2 * np.pi) - np.pi
    side = 2.0 * float(np.hypot(dx, dy)) * ROI_SCALE
    return centre.astype(np.float64), side, float(rotation)


def roi_transform(centre, side: float, rotation: float) -> np.ndarray:
    """2×3 affine mapping image pixels into the 256×256 input of a (rotated) square ROI."""
    scale = INPUT_SIZE / side
    cos, sin = np.cos(rotation) * scale, np.sin(rotation) * scale
    # Rotate by −rotation about the ROI centre, scale, then move the centre to the input centre.
    m = np.array([[cos, sin, 0.0], [-sin, cos, 0.0]])
    m[:, 2] = INPUT_SIZE / 2 - m[:, :2] @ np.asarray(centre, np.float64)
    return m


def letterbox_transform(h: int, w: int) -> np.ndarray:
    """2×3 affine fitting an h×w image into 256×256, centred, aspect kept."""
    scale = INPUT_SIZE / max(h, w)
    return np.array([[scale, 0, (INPUT_SIZE - w * scale) / 2], [0, scale, (INPUT_SIZE - h * scale) / 2]])


class BlazePose(DeclaresWeights):
    """Pose stage of the geometric chain (see module docstring)."""

    chain = "geometric"
    weights = (POSE_LANDMARK_FULL,)

    def __init__(self, net: cv2.dnn.Net):
        self.net = net
        self.output_names = ["Identity", "Identity_1", "Identity_2", "Identity_3"]

    @classmethod
    def load(cls, pose_landmark: str | None = None) -> "BlazePose":
        net = cv2.dnn.readNet(str(resolve(POSE_LANDMARK_FULL, pose_landmark)))
        return cls(net)

    @property
    def info(self) -> dict:
        return {"impl": "blazepose", "weights": {POSE_LANDMARK_FULL.name: POSE_LANDMARK_FULL.known_hash}}

    # --- one network pass ----------------------------------------------------------------
    def _run(self, image_rgb01: np.ndarray, to_input: np.ndarray):
        """Run on the ROI `to_input` (2×3, image → 256×256 input); results in image pixels."""
        h, w = image_rgb01.shape[:2]
        roi = cv2.warpAffine(image_rgb01, to_input, (INPUT_SIZE, INPUT_SIZE), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        blob = roi.transpose(2, 0, 1)[None].astype(np.float32)   # NCHW, RGB, [0,1]
        self.net.setInput(blob)
        raw, presence, seg_logits, heatmaps = self.net.forward(self.output_names)
        lm = raw.reshape(39, 5).astype(np.float64)
        lm[:, :2] = refine_from_heatmaps(lm[:, :2], heatmaps[0])
        back = cv2.invertAffineTransform(to_input)
        xy = lm[:, :2] @ back[:, :2].T + back[:, 2]
        z = lm[:, 2:3] / np.sqrt(abs(np.linalg.det(to_input[:, :2])))   # input → image pixel units
        landmarks = np.concatenate([xy, z, _sigmoid(lm[:, 3:5])], axis=1).astype(np.float32)
        seg = cv2.warpAffine(_sigmoid(seg_logits[0, 0]).astype(np.float32), to_input, (w, h),
                             flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        return landmarks, float(presence.ravel()[0]), seg

    def analyse(self, image_bgr: np.ndarray, flip: bool = True) -> PoseResult:
        """BlazePose on a BGR image: letterboxed pass, then ROI-from-landmarks passes until the
        ROI stops changing, then (flip=True) the final ROI once more on the mirrored image,
        averaged in."""
        full_h, full_w = image_bgr.shape[:2]
        # The network sees 256×256 of the ROI: analysing more than MAX_ANALYSIS_SIDE pixels
        # only costs time (a 12-megapixel photo: whole person stage 6 s → 1.7 s).
        shrink = min(1.0, MAX_ANALYSIS_SIDE / max(full_h, full_w))
        if shrink < 1.0:
            image_bgr = cv2.resize(image_bgr, (max(1, round(full_w * shrink)), max(1, round(full_h * shrink))),
                                   interpolation=cv2.INTER_AREA)
        h, w = image_bgr.shape[:2]
        rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
        landmarks, presence, seg = self._run(rgb, letterbox_transform(h, w))
        roi, previous_side = None, None
        for _ in range(MAX_ROI_PASSES):
            centre, side, rotation = roi_from_landmarks(landmarks)
            if not (np.isfinite(side) and side > 8):
                break
            if previous_side is not None and abs(side - previous_side) < ROI_CONVERGED * previous_side:
                break
            # On a half-body photo the model extrapolates the legs, so the first ROIs are too
            # tight and each pass widens the next one; a few passes converge (≈1.8–2.2× the
            # crop height on the sample photos), and the converged ROI gives the best landmarks.
            roi = (centre, side, rotation)
            landmarks, presence, seg = self._run(rgb, roi_transform(*roi))
            previous_side = side
        if flip and roi is not None:
            # Test-time flip: the mirrored person through the mirrored ROI, left/right swapped
            # back. Averaging the two halves the model's left/right-asymmetric errors
            # (leave-one-out PCK 0.935 → 0.945 on the sample photos, before heat-map refinement).
            (cx, cy), side, rotation = roi
            m_lm, m_presence, m_seg = self._run(np.ascontiguousarray(rgb[:, ::-1]),
                                                roi_transform((w - 1 - cx, cy), side, -rotation))
            m_lm = m_lm[MIRROR_LANDMARKS]
            m_lm[:, 0] = w - 1 - m_lm[:, 0]
            landmarks = (landmarks + m_lm) / 2
            presence = (presence + m_presence) / 2
            seg = (seg + m_seg[:, ::-1]) / 2
        if shrink < 1.0:
            landmarks[:, :3] *= np.array([full_w / w, full_h / h, full_w / w], np.float32)
        return PoseResult(landmarks=landmarks, presence=presence, segmentation=seg)

    # --- stage protocol ------------------------------------------------------------------
    def keypoints(self, crop_bgr: np.ndarray) -> tuple[np.ndarray, dict]:
        """(18, 3) COCO-18 keypoints in the 192×256 grid, and {POSE_EXTRA: the PoseResult} for
        the parsing stage (landmarks and segmentation of the same pass)."""
        result = self.analyse(crop_bgr)
        if result.presence < MIN_POSE_PRESENCE:
            raise BadInputError(f"photo: no person found (pose presence {result.presence:.2f})")
        return to_coco18(result.landmarks, crop_bgr.shape[:2]), {POSE_EXTRA: result}


# --- the 33 → COCO-18 mapping -------------------------------------------------------------
def torso_frame(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Torso-normalised frame of BlazePose landmarks (x, y in pixels):
    origin mid-shoulders, `down` unit vector mid-shoulders→mid-hips, `across` unit vector
    perpendicular to it (pointing to the person's left = image right for a person facing
    the camera), scale = torso length (mid-shoulders→mid-hips)."""
    mid_sh = (points[L_SHOULDER, :2] + points[R_SHOULDER, :2]) / 2
    mid_hip = (points[L_HIP, :2] + points[R_HIP, :2]) / 2
    down = mid_hip - mid_sh
    length = float(np.hypot(*down)) or 1.0
    down = down / length
    across = np.array([down[1], -down[0]])   # image-right when `down` points down
    return mid_sh, np.stack([across, down]), length


# Offsets (COCO index → (across, down) in torso lengths) added to the mapped point in the
# torso frame; fitted by tools/pose_calibration.py (mirrored pairs share one offset).
# Kinds kept: those raising the LOO PCK (knees) or lowering the LOO error of their own
# keypoints by > 5 % without lowering the PCK (shoulders 0.0297 → 0.0267 torso, elbows
# 0.050 → 0.044, eyes 0.021 → 0.018, ears 0.045 → 0.024). Fitted on all 14 sample photos.
CALIBRATION: dict[int, tuple[float, float]] = {
    Coco.R_SHOULDER: (+0.016, -0.003), Coco.L_SHOULDER: (-0.016, -0.003),  # OpenPose's sit a little further in
    Coco.R_ELBOW: (+0.006, -0.025), Coco.L_ELBOW: (-0.006, -0.025),        # a little higher
    Coco.R_KNEE: (-0.027, -0.177), Coco.L_KNEE: (+0.027, -0.177),          # higher (and a bit wider)
    Coco.R_EYE: (-0.004, -0.010), Coco.L_EYE: (+0.004, -0.010),
    Coco.R_EAR: (-0.039, -0.005), Coco.L_EAR: (+0.039, -0.005),            # further out
}


def to_coco18_raw(landmarks: np.ndarray) -> np.ndarray:
    """(39, ≥2) BlazePose landmarks → (18, 2) COCO-18 positions, before calibration."""
    out = np.zeros((COCO_KEYPOINTS, 2), np.float64)
    for coco, landmark in COCO_FROM_BLAZEPOSE.items():
        out[coco] = landmarks[landmark, :2]
    out[Coco.NECK] = (landmarks[L_SHOULDER, :2] + landmarks[R_SHOULDER, :2]) / 2
    return out


def calibrate(points: np.ndarray, landmarks: np.ndarray, offsets: dict[int, tuple[float, float]]) -> np.ndarray:
    """Add per-keypoint offsets (across, down), in torso lengths, in the torso frame (across =
    image right for an upright person facing the camera; a left/right pair carries mirrored
    across components)."""
    _, axes, length = torso_frame(landmarks)
    out = points.copy()
    for k, (a, d) in offsets.items():
        out[k] = points[k] + length * (a * axes[0] + d * axes[1])
    return out


def visibility_confidence(landmarks: np.ndarray) -> np.ndarray:
    """COCO-18 confidence: BlazePose's visibility; 0 when the model thinks the point is
    hidden (below MIN_VISIBILITY). Presence (in-frame probability) is not multiplied in:
    it is low for knees at the bottom edge that OpenPose still reports (and the in-crop test
    in `to_coco18` already zeroes points outside the crop)."""
    conf = np.zeros(COCO_KEYPOINTS, np.float32)
    vis = landmarks[:, 3]
    for coco, landmark in COCO_FROM_BLAZEPOSE.items():
        conf[coco] = vis[landmark]
    conf[Coco.NECK] = min(vis[L_SHOULDER], vis[R_SHOULDER])
    conf[conf < MIN_VISIBILITY] = 0
    return conf


def to_coco18(landmarks: np.ndarray, shape_hw: tuple[int, int],
              offsets: dict[int, tuple[float, float]] | None = None) -> np.ndarray:
    """BlazePose landmarks in image pixels → (18, 3) COCO-18 in the 192×256 grid."""
    h, w = shape_hw
    points = calibrate(to_coco18_raw(landmarks), landmarks, CALIBRATION if offsets is None else offsets)
    conf = visibility_confidence(landmarks)
    inside = (points[:, 0] >= 0) & (points[:, 0] < w) & (points[:, 1] >= 0) & (points[:, 1] < h)
    conf[~inside] = 0
    grid = points * np.array([REPR_W / w, REPR_H / h])
    out = np.concatenate([grid, conf[:, None]], axis=1).astype(np.float32)
    out[conf == 0, :2] = 0   # OpenPose convention: a missing keypoint is (0, 0, 0)
    return out
