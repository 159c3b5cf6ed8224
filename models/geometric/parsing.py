"""The geometric chain's human parsing: a LIP-style label map from three small MediaPipe models
plus geometry and colour, where the seed chain runs LIP JPPNet.

    body     mean of two person mattes: BlazePose's segmentation output (from the pose stage's
             pass on the same crop, passed in its extras) and the selfie segmentation model
    face     BlazeFace box and keypoints (eyes, mouth) → the face's axis and its chin line
    colours  per-person Gaussian colour models in Lab, sampled where the geometry is sure:
             skin (cheeks/nose), hair (top of the head), upper garment (the torso between
             shoulders and hips), lower garment (below the hips)
    classes  each body pixel goes to the colour model with the best likelihood + a spatial
             prior (hair only above mid-torso, lower garment only from the waist down, ...);
             one refit round on what each model won; median-filtered
    labels   head = the body above the mouth line + the face's ellipse (jaw) + hair-coloured
             body hanging from the head's hair (long hair over the shoulders); face = skin
             inside the face's ellipse; neck = skin between the chin and 0.45 torso below the
             shoulders, inside the shoulders; arms = other skin near the arm's bones
             (shoulder–elbow–wrist–hand, the nearer side wins), legs = skin below the hips;
             lower body = lower-garment colour from the waist down that reaches below the
             hips; upper clothes = the rest of the body.
The pose stage's COCO keypoints are not used: the parser reads BlazePose's landmarks and
segmentation from the geometric pose stage's extras, or runs BlazePose itself when the pose
stage is another (OpenPose, given keypoints), so it also runs beside OpenPose.

Label ids are LIP's (what the seed's JPPNet outputs), plus the neck as 10 — the id the
VITON-HD parse files use for it; LIP itself has no neck class. Which ids appear:
    0 background, 2 hair, 5 upper clothes, 9 lower body (pants/skirt), 10 neck,
    13 face, 14 left arm, 15 right arm (the person's left/right; hands included, as in LIP),
    16/17 legs, 18/19 shoes (body pixels around a foot in the crop that are not skin).
The map is at the crop's resolution, capped at WORK_HEIGHT rows.
extras: "body_matte" (uint8 0–255 soft person matte, same size), for compositing;
"landmarks" (39×4 float32: BlazePose's x, y in the 192×256 grid, z in x's units, visibility),
which prepare_person moves to Person.landmarks (the hands, the person's turn, BODY_25's feet).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from models.contract import REPR_H, REPR_W
from models.geometric import blazepose as bp
from models.geometric.blazeface import FACE_DETECTION_SHORT_RANGE, BlazeFace
from models.geometric.blazepose import POSE_LANDMARK_FULL, BlazePose, PoseResult
from models.geometric.selfie_segmentation import SELFIE_SEGMENTATION, SelfieSegmentation
from models.labels import NECK, Lip
from models.masks import components_touching, dilate, drop_small, erode, fill_holes, polygon_mask
from models.weights import DeclaresWeights, resolve

WORK_HEIGHT = 512

# Face geometry in units of the eye→mouth distance along the face's axis, measured on the
# sample parses (chin at 1.23–1.77, median ≈1.5, below the eye line).
CHIN_BELOW_EYES = 1.5
MOUTH_MARGIN = 0.3               # below the mouth centre, still the face's full width
FACE_CENTRE_BELOW_EYES = 0.2     # the face ellipse: centre, half-width, half-height
FACE_HALF_WIDTH, FACE_HALF_HEIGHT = 1.4, 1.35
HAIR_SPREAD = 0.5                # hanging hair may be this much wider than the head's hair
FOOT_RADIUS = 0.12               # a shoe reaches this many torso lengths from the ankle–toe and heel–toe lines
L_HEEL, R_HEEL, L_TOE, R_TOE = 29, 30, 31, 32   # BlazePose's foot landmarks


@dataclass
class FaceGeometry:
    """Face placement in work-image pixels."""

    eyes: np.ndarray      # (2,) mid-eyes
    mouth: np.ndarray     # (2,)
    box: np.ndarray       # (4,) x0, y0, x1, y1

    @property
    def unit(self) -> float:     # eye→mouth distance
        return float(max(np.hypot(*(self.mouth - self.eyes)), 1.0))

    @property
    def down(self) -> np.ndarray:
        v = self.mouth - self.eyes
        return v / (np.hypot(*v) or 1.0)

    @property
    def chin(self) -> np.ndarray:
        return self.eyes + CHIN_BELOW_EYES * self.unit * self.down


class ColourModel:
    """A Gaussian in Lab with a floor on its covariance (few samples, flat regions)."""

    def __init__(self, samples_lab: np.ndarray, floor: float = 25.0):
        self.mean = samples_lab.mean(0)
        cov = np.cov(samples_lab.T) + np.eye(3) * floor
        self.inv = np.linalg.inv(cov)
        self.log_norm = -0.5 * np.log(np.linalg.det(cov))

    def log_likelihood(self, lab: np.ndarray) -> np.ndarray:
        d = lab - self.mean
        return self.log_norm - 0.5 * np.einsum("...i,ij,...j->...", d, self.inv, d)


def _model(lab: np.ndarray, mask: np.ndarray, minimum: int = 40) -> ColourModel | None:
    samples = lab[mask]
    if len(samples) < minimum:
        return None
    if len(samples) > 20000:  # enough for 3-D Gaussians; keeps big photos fast
        samples = samples[np.random.default_rng(0).choice(len(samples), 20000, replace=False)]
    return ColourModel(samples.astype(np.float64))


def _segment_distance(xy: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ab = b - a
    t = np.clip(((xy - a) @ ab) / max(ab @ ab, 1e-9), 0, 1)
    return np.hypot(*(xy - (a + t[..., None] * ab)).transpose(-1, *range(xy.ndim - 1)))


class GeometricParser(DeclaresWeights):
    """Parsing stage of the geometric chain (see module docstring)."""

    chain = "geometric"
    weights = (POSE_LANDMARK_FULL, SELFIE_SEGMENTATION, FACE_DETECTION_SHORT_RANGE)
    info = {"impl": "registry_parsing",  # its name when the chain was "registry": kept in outputs
            "weights": {w.name: w.known_hash for w in weights}}

    def __init__(self, selfie: SelfieSegmentation, faces: BlazeFace, pose: BlazePose | None = None):
        self.selfie, self.faces = selfie, faces
        self._pose = pose  # BlazePose of its own, loaded only if the pose stage is not BlazePose

    @classmethod
    def load(cls) -> "GeometricParser":
        resolve(POSE_LANDMARK_FULL)  # checked now, loaded only when needed (see blazepose_result)
        return cls(SelfieSegmentation.load(), BlazeFace.load())

    # --- pieces ---------------------------------------------------------------------------
    def blazepose_result(self, crop_bgr: np.ndarray, pose_extras: dict | None) -> PoseResult:
        """The pose stage's BlazePose pass on this crop, from its extras; where the pose stage
        was another (OpenPose, given keypoints), BlazePose runs here."""
        result = (pose_extras or {}).get(bp.POSE_EXTRA)
        if result is None:
            if self._pose is None:
                self._pose = BlazePose.load()
            result = self._pose.analyse(crop_bgr)
        return result

    def body_matte(self, pose_segmentation: np.ndarray, image_bgr: np.ndarray) -> np.ndarray:
        """Soft person matte at `image_bgr`'s size (the crop at work resolution): mean of
        BlazePose's segmentation of the crop and the selfie model's."""
        size_hw = image_bgr.shape[:2]
        pose_seg = cv2.resize(pose_segmentation, size_hw[::-1], interpolation=cv2.INTER_LINEAR)
        return 0.5 * (pose_seg + self.selfie.matte(image_bgr))

    def face_geometry(self, image_bgr: np.ndarray, landmarks: np.ndarray) -> FaceGeometry:
        """BlazeFace where it finds a face near the pose's nose, else BlazePose's face points
        (landmarks and result in `image_bgr`'s pixels)."""
        nose = landmarks[bp.NOSE, :2]
        for face in self.faces.detect(image_bgr):
            x0, y0, x1, y1 = face.box
            if x0 - (x1 - x0) <= nose[0] <= x1 + (x1 - x0) and y0 - (y1 - y0) <= nose[1] <= y1 + (y1 - y0):
                k = face.keypoints
                return FaceGeometry(eyes=(k[0] + k[1]) / 2, mouth=k[3], box=face.box)
        eyes = (landmarks[bp.L_EYE, :2] + landmarks[bp.R_EYE, :2]) / 2
        mouth = (landmarks[bp.MOUTH_LEFT, :2] + landmarks[bp.MOUTH_RIGHT, :2]) / 2
        unit = np.hypot(*(mouth - eyes))
        box = np.array([eyes[0] - 1.3 * unit, eyes[1] - 0.6 * unit, eyes[0] + 1.3 * unit, eyes[1] + 1.7 * unit])
        return FaceGeometry(eyes=eyes, mouth=mouth, box=box)

    # --- stage protocol -------------------------------------------------------------------
    def parse(self, crop_bgr: np.ndarray, keypoints: np.ndarray | None = None,
              pose_extras: dict | None = None) -> tuple[np.ndarray, dict]:
        pose = self.blazepose_result(crop_bgr, pose_extras)
        h, w = crop_bgr.shape[:2]
        scale = min(1.0, WORK_HEIGHT / h)
        size = (max(1, round(h * scale)), max(1, round(w * scale)))
        image = cv2.resize(crop_bgr, size[::-1], interpolation=cv2.INTER_AREA) if scale < 1 else crop_bgr
        matte = np.round(self.body_matte(pose.segmentation, image) * 255).astype(np.uint8)
        body = matte >= 128   # decided on the stored matte, so the two always agree
        landmarks = pose.landmarks[:, :2] * scale
        face = self.face_geometry(image, landmarks)
        labels = label_person(image, body, landmarks, face)
        # BlazePose's landmarks for later stages (hands, the person's turn): x, y in the
        # 192×256 grid like the keypoints, z in the same units as x, visibility
        lm = pose.landmarks
        grid = np.column_stack([lm[:, 0] * REPR_W / w, lm[:, 1] * REPR_H / h, lm[:, 2] * REPR_W / w, lm[:, 3]])
        extras = {"body_matte": matte, "landmarks": grid.astype(np.float32)}
        return labels, extras


def label_person(image_bgr: np.ndarray, body: np.ndarray, lm: np.ndarray, face: FaceGeometry) -> np.ndarray:
    """The label map from the body mask, pose landmarks and face geometry (all work pixels)."""
    h, w = body.shape
    lab = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2LAB).astype(np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    xy = np.stack([xx, yy], -1)
    unit = face.unit

    # Signed distance below the chin line, along the face's axis (positive = below the chin).
    below_chin = (xy - face.chin) @ face.down
    above_eyes = -((xy - face.eyes) @ face.down)
    face_axis_offset = np.abs((xy - face.eyes) @ np.array([-face.down[1], face.down[0]]))
    head_core = body & (below_chin < 0) & (face_axis_offset < 4.5 * unit)
    below_mouth = (xy - face.mouth) @ face.down - MOUTH_MARGIN * unit

    mid_sh = (lm[bp.L_SHOULDER] + lm[bp.R_SHOULDER]) / 2
    mid_hip = (lm[bp.L_HIP] + lm[bp.R_HIP]) / 2
    torso_len = max(np.hypot(*(mid_hip - mid_sh)), 1.0)
    sh_width = max(np.hypot(*(lm[bp.L_SHOULDER] - lm[bp.R_SHOULDER])), 1.0)

    # --- colour samples where geometry is sure -------------------------------------------
    face_ellipse = np.zeros((h, w), np.uint8)
    cv2.ellipse(face_ellipse, tuple(np.round(face.eyes + 0.6 * unit * face.down).astype(int)),
                (max(1, int(0.55 * unit)), max(1, int(0.7 * unit))), 0, 0, 360, 1, -1)
    skin_sample = face_ellipse.astype(bool) & body
    hair_sample = head_core & (above_eyes > 1.1 * unit)
    torso_poly = [lm[bp.R_SHOULDER] + (mid_hip - mid_sh) * 0.25, lm[bp.L_SHOULDER] + (mid_hip - mid_sh) * 0.25,
                  lm[bp.L_HIP] - (mid_hip - mid_sh) * 0.1, lm[bp.R_HIP] - (mid_hip - mid_sh) * 0.1]
    torso_centre = np.mean(torso_poly, 0)
    torso_sample = polygon_mask((h, w), [torso_centre + 0.7 * (p - torso_centre) for p in torso_poly]) & body
    down_axis = (mid_hip - mid_sh) / torso_len
    below_hips = (xy - mid_hip) @ down_axis
    # Lower garment: a band just below BlazePose's hips (the crop often ends above the
    # knees), minus skin-coloured pixels (bare legs under a skirt or shorts).
    across_hips = np.abs((xy - mid_hip) @ np.array([-down_axis[1], down_axis[0]]))
    lower_sample = body & (below_hips > 0.0) & (below_hips < 0.35 * torso_len) & (across_hips < 0.4 * sh_width)
    skin_model = _model(lab, skin_sample)
    if skin_model is not None:
        skin_d2 = skin_model.log_norm - skin_model.log_likelihood(lab)   # ½ Mahalanobis²
        lower_sample &= skin_d2 > 0.5 * 3.0 ** 2

    # Where each class may be at all (−inf elsewhere) and soft priors (log-odds) inside:
    # hair hangs at most to mid-torso, the lower garment starts around the waist (above
    # BlazePose's hips), the upper garment becomes unlikely below the hips.
    t = below_hips / torso_len
    prior = {
        "skin": np.zeros((h, w), np.float32),
        "hair": np.where((below_chin < 0.9 * torso_len) & (t < 0), -3.0 * np.clip(below_chin / torso_len - 0.2, 0, None), -np.inf),
        "upper": -4.0 * np.clip(t - 0.15, 0, None),
        "lower": np.where(t > -0.35, -4.0 * np.clip(0.15 - t, 0, None), -np.inf),
    }
    samples = {"skin": skin_sample, "hair": hair_sample, "upper": torso_sample, "lower": lower_sample}
    is_ = _classify(lab, body, samples, prior)
    # One EM-like round: refit each colour model on what it won (minus a border), reclassify.
    refit = {k: samples[k] | (erode(is_[k], 2) & (prior[k] > -1.0)) for k in samples if k != "skin"}
    refit["skin"] = samples["skin"]
    is_ = _classify(lab, body, refit, prior)

    # --- head ---------------------------------------------------------------------------
    # Above the mouth everything in the body (near the face's axis) is head. Below it, the
    # head is the face's ellipse (jaw) and hair-coloured body hanging from the head (long
    # hair over the shoulders); other skin there is neck. Face geometry measured on the
    # sample parses, in eye→mouth units from the eye line: face top 1.0–1.4 above, chin
    # 1.2–1.8 below, width 2.1–2.8.
    face_zone = np.zeros((h, w), np.uint8)
    angle = float(np.degrees(np.arctan2(face.down[1], face.down[0]))) - 90
    cv2.ellipse(face_zone, tuple(np.round(face.eyes + FACE_CENTRE_BELOW_EYES * unit * face.down).astype(int)),
                (max(1, int(FACE_HALF_WIDTH * unit)), max(1, int(FACE_HALF_HEIGHT * unit))), angle, 0, 360, 1, -1)
    face_zone = face_zone.astype(bool)
    head_top = head_core & (below_mouth < 0)
    face_mask = body & is_["skin"] & face_zone & (head_top | (below_chin < 0.3 * unit))
    face_mask = components_touching(face_mask, face_ellipse.astype(bool))
    face_mask = fill_holes(face_mask) & body & face_zone
    sure_head = head_top | face_mask
    # Hair hangs down, not sideways: no wider than the hair on the head (dark hair next to a
    # black garment would otherwise run down the garment's edge).
    hair_top_extent = face_axis_offset[head_top & ~face_mask].max(initial=2.0 * unit)
    hair_below = (is_["hair"] & body & ~sure_head & (below_hips < 0)
                  & (face_axis_offset < hair_top_extent + HAIR_SPREAD * unit))
    hair_below = components_touching(hair_below | head_top, head_top) & hair_below
    head = sure_head | hair_below
    hair = head & ~face_mask

    # --- skin below the chin: neck, arms, legs ---------------------------------------------
    skin = body & is_["skin"] & ~head
    arm_dist = {}
    for side, (s, e, wr, hand) in {"left": (bp.L_SHOULDER, bp.L_ELBOW, bp.L_WRIST, bp.L_INDEX),
                                   "right": (bp.R_SHOULDER, bp.R_ELBOW, bp.R_WRIST, bp.R_INDEX)}.items():
        arm_dist[side] = np.minimum.reduce([_segment_distance(xy, lm[s], lm[e]), _segment_distance(xy, lm[e], lm[wr]),
                                            _segment_distance(xy, lm[wr], lm[hand])])
    near_arm = np.minimum(arm_dist["left"], arm_dist["right"]) < 0.3 * torso_len
    # Neck and neckline skin: between the chin and 0.45 torso below the shoulders, and
    # horizontally inside the shoulders (a quarter of the way in: the shoulder joints
    # themselves belong to the arms).
    inner_r = lm[bp.R_SHOULDER] + 0.25 * (mid_sh - lm[bp.R_SHOULDER])
    inner_l = lm[bp.L_SHOULDER] + 0.25 * (mid_sh - lm[bp.L_SHOULDER])
    up = -down_axis * max(torso_len, float((mid_sh - face.chin) @ down_axis) + unit)
    neck_zone = polygon_mask((h, w), [inner_r + up, inner_l + up, inner_l + 0.45 * torso_len * down_axis,
                                       inner_r + 0.45 * torso_len * down_axis]) & (below_chin >= 0)
    neck = skin & neck_zone
    neck = components_touching(neck, face_mask | dilate(face_mask, 3)) if face_mask.any() else neck
    # Lace, prints and highlights give skin-coloured specks on garments: skin regions
    # smaller than a small fraction of the torso are not limbs.
    min_area = (0.12 * torso_len) ** 2
    legs = drop_small(skin & ~neck & (below_hips > 0.3 * torso_len) & ~near_arm, min_area)
    arms = drop_small(skin & ~neck & ~legs & near_arm, min_area)
    # Upper vs lower garment: per-pixel colour leaves a ragged waist where the two are alike
    # (black on black); a median filter about a tenth of the torso wide straightens it.
    k = max(3, int(0.1 * torso_len) | 1)
    lower = cv2.medianBlur((body & is_["lower"] & (below_hips > -0.35 * torso_len)).astype(np.uint8) * 255, min(k, 255)) > 0
    # A lower garment continues downwards: keep the parts that reach below the hips or the
    # bottom of the crop (a dark patch or print on the chest is not trousers).
    lower_seed = lower & ((below_hips > 0.25 * torso_len) | (yy >= h - 2))
    lower = components_touching(lower, lower_seed)

    labels = np.zeros((h, w), np.uint8)
    labels[body] = Lip.UPPER_CLOTHES
    labels[body & lower] = Lip.PANTS  # pants or skirt: LIP's 9, the datasets' lower body
    labels[arms & (arm_dist["left"] <= arm_dist["right"])] = Lip.LEFT_ARM
    labels[arms & (arm_dist["left"] > arm_dist["right"])] = Lip.RIGHT_ARM
    left_leg = (xy - mid_hip) @ np.array([-down_axis[1], down_axis[0]]) > 0  # image right = person's left
    labels[legs & left_leg] = Lip.LEFT_LEG
    labels[legs & ~left_leg] = Lip.RIGHT_LEG
    # Shoes: body pixels around each foot (BlazePose's ankle, heel and toe), below the ankle
    # less a little, that are not skin (bare feet stay legs); the person's left foot is 16's side.
    for (ankle, heel, toe), label in (((bp.L_ANKLE, L_HEEL, L_TOE), Lip.LEFT_SHOE),
                                      ((bp.R_ANKLE, R_HEEL, R_TOE), Lip.RIGHT_SHOE)):
        if not (0 <= lm[ankle, 1] < h):
            continue
        foot_dist = np.minimum(_segment_distance(xy, lm[ankle], lm[toe]), _segment_distance(xy, lm[heel], lm[toe]))
        below_ankle = (xy - lm[ankle]) @ down_axis > -0.04 * torso_len
        foot = body & (foot_dist < FOOT_RADIUS * torso_len) & below_ankle & ~skin & ~arms
        labels[foot] = label
    labels[neck] = NECK
    labels[hair] = Lip.HAIR
    labels[face_mask] = Lip.FACE
    labels[~body] = Lip.BACKGROUND
    return labels


def _classify(lab, body, samples: dict, prior: dict) -> dict[str, np.ndarray]:
    """Per-pixel argmax of colour log-likelihood + prior over the classes that have enough
    samples; returns one de-speckled mask per class (empty for a class without a model)."""
    models = {k: _model(lab, m) for k, m in samples.items()}
    names = [k for k, m in models.items() if m is not None]
    score = np.stack([models[k].log_likelihood(lab) + prior[k] for k in names], -1)
    winner = np.argmax(score, -1)
    out = {k: np.zeros(body.shape, bool) for k in samples}
    for i, k in enumerate(names):
        won = (winner == i) & body
        out[k] = cv2.medianBlur(won.astype(np.uint8) * 255, 5) > 0   # colour decisions are per pixel
    return out
