"""Who is in the photo, and may they be rendered: the person-centred chain's first step.

From BlazePose's pass over the whole photo (the pose stage's, or its own) plus the selfie
segmentation model and BlazeFace:

    layout = PersonFinder.load().find(photo, pose_result, name)   # BodyLayout, photo pixels

and one BadInputError naming the photo for each thing that cannot be rendered well:

  no person        BlazePose's pose presence < 0.5, or no person matte;
  several persons  two or more faces of comparable size (BlazeFace over the whole photo; a face
                   on the found person's torso is a print or a badge, not a person); or,
                   where BlazePose found nobody, two or more person mattes of comparable size;
                   or another person beside the one BlazePose tracks: a component of the selfie
                   model's person matte, away from BlazePose's person, at least OTHER_PERSON
                   of the person's area; or BlazePose run again on the photo with the person
                   painted out, present (≥ 0.5) with a body of at least OTHER_PERSON of theirs;
  seen from back   no face in the head's square (BlazeFace on a square around the pose's head,
                   so a full-body photo's small face counts) and the pose says so: the
                   person's left shoulder on their right side of the torso (a mirror-image
                   torso), or the nose behind the shoulders (BlazePose's z);
  too small        the torso (mid-shoulders → mid-hips) under MIN_TORSO_PX photo pixels.

A face hidden (by a hat, hair, the photo's edge) with the shoulders the right way round is a
front view: catalogue photos cut at the chin are rendered.

Nothing here depends on who the person is (sex, build, clothes): presence, mattes, a face,
the order of the shoulders.
"""
from __future__ import annotations

import cv2
import numpy as np

from models.contract import BadInputError, BodyLayout
from models.framing import LAYOUT_POINTS
from models.geometric import blazepose as bp
from models.geometric.blazeface import FACE_DETECTION_SHORT_RANGE, BlazeFace, detect_near
from models.geometric.blazepose import POSE_LANDMARK_FULL, BlazePose, PoseResult
from models.geometric.selfie_segmentation import SELFIE_SEGMENTATION, SelfieSegmentation
from models.weights import DeclaresWeights

MIN_POSE_PRESENCE = bp.MIN_POSE_PRESENCE
MIN_TORSO_PX = 64        # a torso shorter than this: an upper garment's crop under ~150 rows
OTHER_PERSON = 0.2       # another person's matte area / the person's, to count as a second person
MATTE_SIDE = 384         # the mattes are compared at this many pixels on the photo's longer side
HEAD_SQUARE = 0.9        # the square BlazeFace looks in: this many torso lengths (≥ 3× the face)
ANALYSIS_MARGIN = 0.08   # of the person's height: kept around them in the analysed region

# LAYOUT_POINTS → BlazePose landmark ids
BLAZEPOSE_POINTS = {
    "nose": bp.NOSE, "l_eye": bp.L_EYE, "r_eye": bp.R_EYE, "l_ear": bp.L_EAR, "r_ear": bp.R_EAR,
    "l_mouth": bp.MOUTH_LEFT, "r_mouth": bp.MOUTH_RIGHT, "l_shoulder": bp.L_SHOULDER, "r_shoulder": bp.R_SHOULDER,
    "l_elbow": bp.L_ELBOW, "r_elbow": bp.R_ELBOW, "l_wrist": bp.L_WRIST, "r_wrist": bp.R_WRIST,
    "l_index": bp.L_INDEX, "r_index": bp.R_INDEX, "l_hip": bp.L_HIP, "r_hip": bp.R_HIP,
    "l_knee": bp.L_KNEE, "r_knee": bp.R_KNEE, "l_ankle": bp.L_ANKLE, "r_ankle": bp.R_ANKLE,
    "l_heel": 29, "r_heel": 30, "l_toe": 31, "r_toe": 32,
}
assert set(BLAZEPOSE_POINTS) == set(LAYOUT_POINTS)


def layout_from_pose(result: PoseResult, photo_hw: tuple[int, int], extent) -> BodyLayout:
    lm = result.landmarks
    points = {name: (float(lm[i, 0]), float(lm[i, 1]), float(lm[i, 3])) for name, i in BLAZEPOSE_POINTS.items()}
    return BodyLayout(photo_hw=tuple(map(int, photo_hw)), points=points, extent=tuple(map(int, extent)))


def torso_handedness(landmarks: np.ndarray) -> float:
    """> 0 when the person's left shoulder is on their left of the torso as a person facing
    the camera shows it (image right for an upright person), < 0 for a mirror-image torso:
    the cross product of right→left shoulder and neck→mid-hip, over their lengths."""
    across = landmarks[bp.L_SHOULDER, :2] - landmarks[bp.R_SHOULDER, :2]
    down = (landmarks[bp.L_HIP, :2] + landmarks[bp.R_HIP, :2]) / 2 - \
        (landmarks[bp.L_SHOULDER, :2] + landmarks[bp.R_SHOULDER, :2]) / 2
    norm = float(np.hypot(*across) * np.hypot(*down)) or 1.0
    return float(across[0] * down[1] - across[1] * down[0]) / norm


def nose_behind_shoulders(landmarks: np.ndarray) -> bool:
    """BlazePose's z (smaller = nearer the camera): the nose further away than the shoulders."""
    return bool(landmarks[bp.NOSE, 2] > (landmarks[bp.L_SHOULDER, 2] + landmarks[bp.R_SHOULDER, 2]) / 2)


def seen_from_back(landmarks: np.ndarray, face_found: bool) -> bool:
    """No face, and a mirror-image torso or the nose behind the shoulders."""
    return (not face_found) and (torso_handedness(landmarks) < 0 or nose_behind_shoulders(landmarks))


class PersonFinder(DeclaresWeights):
    """The refusals and the BodyLayout of one photo (see module docstring)."""

    chain = "geometric"
    weights = (POSE_LANDMARK_FULL, SELFIE_SEGMENTATION, FACE_DETECTION_SHORT_RANGE)
    info = {"impl": "person_finder", "weights": {w.name: w.known_hash for w in weights}}

    def __init__(self, selfie: SelfieSegmentation, faces: BlazeFace, pose: BlazePose | None = None):
        self.selfie, self.faces = selfie, faces
        self._pose = pose

    @classmethod
    def load(cls) -> "PersonFinder":
        return cls(SelfieSegmentation.load(), BlazeFace.load())

    @property
    def pose(self) -> BlazePose:
        if self._pose is None:
            self._pose = BlazePose.load()
        return self._pose

    def pose_result(self, photo: np.ndarray, pose_extras: dict | None) -> PoseResult:
        """The pose stage's BlazePose pass over this whole photo, or one of its own."""
        result = (pose_extras or {}).get(bp.POSE_EXTRA)
        if result is None or result.image_hw != photo.shape[:2]:
            result = self.pose.analyse(photo)
        return result

    # --- the checks ----------------------------------------------------------------------------
    def find(self, photo: np.ndarray, pose_extras: dict | None = None, name: str = "photo") -> BodyLayout:
        h, w = photo.shape[:2]
        result = self.pose_result(photo, pose_extras)
        faces = _separate_faces(result.faces or [])
        if len(faces) > 1 and result.presence >= MIN_POSE_PRESENCE and np.isfinite(result.landmarks[:, :2]).all():
            faces = [f for f in faces if not _on_torso(f.box, result.landmarks)]
        if len(faces) > 1:
            raise BadInputError(f"{name}: more than one person in the photo ({len(faces)} faces)")
        scale = min(1.0, MATTE_SIDE / max(h, w))
        small_hw = (max(1, round(h * scale)), max(1, round(w * scale)))
        if result.presence < MIN_POSE_PRESENCE:
            people = self._matte_people(photo, small_hw)
            if people > 1:
                raise BadInputError(f"{name}: more than one person in the photo ({people} person mattes)")
            raise BadInputError(f"{name}: no person found (pose presence {result.presence:.2f})")
        lm = result.landmarks
        if not np.isfinite(lm[:, :3]).all():
            raise BadInputError(f"{name}: no person found (no usable pose)")
        person = cv2.resize(result.segmentation, small_hw[::-1], interpolation=cv2.INTER_LINEAR) > 0.5
        if person.sum() < 16:
            raise BadInputError(f"{name}: no person found (empty person matte)")
        torso = float(np.hypot(*((lm[bp.L_HIP, :2] + lm[bp.R_HIP, :2]) / 2
                                 - (lm[bp.L_SHOULDER, :2] + lm[bp.R_SHOULDER, :2]) / 2)))
        self._check_others(photo, person, small_hw, name)
        if torso < MIN_TORSO_PX:
            raise BadInputError(f"{name}: the person is too small in the photo (torso {torso:.0f} px; "
                                f"at least {MIN_TORSO_PX} px from shoulders to hips)")
        head = lm[[bp.NOSE, bp.L_EAR, bp.R_EAR, bp.L_EYE, bp.R_EYE], :2].mean(0)
        faces = detect_near(self.faces, photo, head, HEAD_SQUARE * max(torso, 1.0))
        if seen_from_back(lm, bool(faces)):
            raise BadInputError(f"{name}: the person is seen from the back (no face, "
                                f"{'mirror-image shoulders' if torso_handedness(lm) < 0 else 'nose behind the shoulders'})")
        ys, xs = np.nonzero(person)
        extent = (xs.min() / scale, ys.min() / scale, (xs.max() + 1) / scale, (ys.max() + 1) / scale)
        return layout_from_pose(result, (h, w), np.clip(np.round(extent), 0, [w, h, w, h]))

    def _matte_people(self, photo, small_hw) -> int:
        """How many separate person mattes of comparable size (≥ OTHER_PERSON of the largest,
        which covers ≥ 1 % of the photo) the selfie model sees."""
        small = cv2.resize(photo, small_hw[::-1], interpolation=cv2.INTER_AREA)
        anyone = (self.selfie.matte(small) > 0.5).astype(np.uint8)
        count, _, stats, _ = cv2.connectedComponentsWithStats(anyone, connectivity=8)
        areas = np.sort(stats[1:, cv2.CC_STAT_AREA])[::-1]
        if not len(areas) or areas[0] < 0.01 * anyone.size:
            return 0
        return int((areas >= OTHER_PERSON * areas[0]).sum())

    def _check_others(self, photo, person: np.ndarray, small_hw, name: str) -> None:
        """BadInputError when someone else is in the photo (see module docstring)."""
        area = float(person.sum())
        small = cv2.resize(photo, small_hw[::-1], interpolation=cv2.INTER_AREA)
        anyone = self.selfie.matte(small) > 0.5
        near = cv2.dilate(person.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        count, comp, stats, _ = cv2.connectedComponentsWithStats(anyone.astype(np.uint8), connectivity=8)
        for i in range(1, count):
            region = comp == i
            if stats[i, cv2.CC_STAT_AREA] >= OTHER_PERSON * area and not (region & near).any():
                raise BadInputError(f"{name}: more than one person in the photo (another person's matte "
                                    f"{stats[i, cv2.CC_STAT_AREA] / area:.0%} of the first's)")
        # BlazePose once more with the person painted out (the photo's median colour)
        painted = small.copy()
        grown = cv2.dilate(person.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
        painted[grown] = np.median(small[~grown], axis=0) if (~grown).any() else 127
        other = self.pose.analyse(painted, flip=False)
        if other.presence >= MIN_POSE_PRESENCE:
            body = cv2.resize(other.segmentation, small_hw[::-1], interpolation=cv2.INTER_LINEAR) > 0.5
            body &= ~grown
            if body.sum() >= OTHER_PERSON * area:
                raise BadInputError(f"{name}: more than one person in the photo (a second pose found beside "
                                    f"the first, {body.sum() / area:.0%} of its size)")


def _separate_faces(faces: list) -> list:
    """Faces of comparable size (≥ half the largest's width) that do not overlap: persons."""
    if not faces:
        return []
    widths = [f.box[2] - f.box[0] for f in faces]
    big = [f for f, fw in zip(faces, widths) if fw >= 0.5 * max(widths)]
    kept = []
    for f in big:
        if all(_overlap(f.box, k.box) < 0.3 for k in kept):
            kept.append(f)
    return kept


def _on_torso(box, landmarks: np.ndarray) -> bool:
    """Whether a face's centre lies on the found person's torso (between their shoulders and
    hips): a face there is a print, a badge or a reflection on their clothes, not a second
    person (the astronaut's round mission patch is found as a face)."""
    quad = landmarks[[bp.L_SHOULDER, bp.R_SHOULDER, bp.R_HIP, bp.L_HIP], :2].astype(np.float32)
    centre = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
    return cv2.pointPolygonTest(cv2.convexHull(quad), (float(centre[0]), float(centre[1])), False) >= 0


def _overlap(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return float(ix * iy / smaller) if smaller > 0 else 0.0


def analysis_box(layout: BodyLayout) -> tuple[int, int, int, int]:
    """The part of the photo pose and parsing describe: the person's matte and body points
    inside the photo, with ANALYSIS_MARGIN of their height around them, inside the photo."""
    h, w = layout.photo_hw
    pts = np.array([p[:2] for p in layout.points.values()])
    pts = pts[(pts[:, 0] >= 0) & (pts[:, 0] < w) & (pts[:, 1] >= 0) & (pts[:, 1] < h)]
    x0, y0, x1, y1 = layout.extent
    if len(pts):
        x0, y0 = min(x0, pts[:, 0].min()), min(y0, pts[:, 1].min())
        x1, y1 = max(x1, pts[:, 0].max()), max(y1, pts[:, 1].max())
    m = ANALYSIS_MARGIN * max(y1 - y0, x1 - x0)
    box = np.round([x0 - m, y0 - m, x1 + m, y1 + m]).astype(int)
    box = np.clip(box, 0, [w, h, w, h])
    if box[2] - box[0] < 16 or box[3] - box[1] < 16:
        return 0, 0, w, h
    return tuple(int(v) for v in box)
