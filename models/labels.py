"""Label and keypoint ids every stage shares: LIP parsing labels, COCO-18 keypoints, their groups.

    from models.labels import Lip, Coco, HEAD, ARMS
    np.isin(parse, HEAD)            # hat, hair, sunglasses, face
    keypoints[Coco.R_SHOULDER]      # (x, y, confidence)

`Lip` and `Coco` are IntEnums: their members are plain ints to numpy and OpenCV.
"""
from __future__ import annotations

import enum

import numpy as np


class Lip(enum.IntEnum):
    """LIP's 20 parsing labels (what the seed's JPPNet outputs), plus the ids the datasets add."""

    BACKGROUND = 0
    HAT = 1
    HAIR = 2
    GLOVE = 3
    SUNGLASSES = 4
    UPPER_CLOTHES = 5
    DRESS = 6
    COAT = 7
    SOCKS = 8
    PANTS = 9
    JUMPSUITS = 10   # LIP's; the VITON-HD parses (and the geometric parser) use 10 for the neck
    SCARF = 11
    SKIRT = 12
    FACE = 13
    LEFT_ARM = 14    # the person's left and right
    RIGHT_ARM = 15
    LEFT_LEG = 16
    RIGHT_LEG = 17
    LEFT_SHOE = 18
    RIGHT_SHOE = 19
    SKIN = 20        # CP-VTON+'s extra skin label (not LIP's: no palette colour)


NECK = Lip.JUMPSUITS  # VITON-HD's neck label; LIP itself has no neck class
LIP_CLASSES = 20      # labels 0..19 have a LIP name and colour

LIP_PALETTE_RGB = np.array(
    [(0, 0, 0), (128, 0, 0), (255, 0, 0), (0, 85, 0), (170, 0, 51), (255, 85, 0), (0, 0, 85),
     (0, 119, 221), (85, 85, 0), (0, 85, 85), (85, 51, 0), (52, 86, 128), (0, 128, 0), (0, 0, 255),
     (51, 170, 221), (0, 255, 255), (85, 255, 170), (170, 255, 85), (255, 255, 0), (255, 170, 0)],
    dtype=np.uint8)

# Left/right pairs: a mirrored image swaps them (JPPNet's flip trick).
LIP_LEFT_RIGHT = ((Lip.LEFT_ARM, Lip.RIGHT_ARM), (Lip.LEFT_LEG, Lip.RIGHT_LEG), (Lip.LEFT_SHOE, Lip.RIGHT_SHOE))
LIP_MIRROR = np.arange(LIP_CLASSES)  # LIP_MIRROR[c]: the label c shows as in the mirrored image
for _left, _right in LIP_LEFT_RIGHT:
    LIP_MIRROR[_left], LIP_MIRROR[_right] = _right, _left

# --- label groups ----------------------------------------------------------------------------
HEAD = (Lip.HAT, Lip.HAIR, Lip.SUNGLASSES, Lip.FACE)          # CP-VTON's head
LOWER_GARMENT = (Lip.PANTS, Lip.SKIRT)
HEAD_SAMPLE = HEAD + LOWER_GARMENT  # the OpenCV sample's "head": also keeps the lower body visible to TOM
ARMS = (Lip.LEFT_ARM, Lip.RIGHT_ARM)
LEGS = (Lip.LEFT_LEG, Lip.RIGHT_LEG)
SKIN = (NECK, Lip.FACE, Lip.LEFT_ARM, Lip.RIGHT_ARM, Lip.SKIN)  # where skin colour can be sampled
OLD_GARMENT = (Lip.UPPER_CLOTHES, Lip.DRESS, Lip.COAT)          # what an upper garment replaces
# Never under a garment: head and neck (an in-shop photo's back collar would cover the neck).
IN_FRONT = (Lip.HAT, Lip.HAIR, Lip.SUNGLASSES, NECK, Lip.FACE)
# Not the torso: a scan across the torso stops at these (a long sleeve labelled 5 hugging the
# body counts as torso).
NOT_TORSO = (Lip.BACKGROUND, Lip.HAT, Lip.HAIR, Lip.GLOVE, Lip.SUNGLASSES, Lip.FACE, Lip.LEFT_ARM,
             Lip.RIGHT_ARM, Lip.LEFT_LEG, Lip.RIGHT_LEG, Lip.LEFT_SHOE, Lip.RIGHT_SHOE)
NOT_ARM = (Lip.BACKGROUND,) + HEAD   # where an arm's outer side ends


class Coco(enum.IntEnum):
    """COCO-18 keypoints, OpenPose's order (R/L: the person's right and left)."""

    NOSE = 0
    NECK = 1
    R_SHOULDER = 2
    R_ELBOW = 3
    R_WRIST = 4
    L_SHOULDER = 5
    L_ELBOW = 6
    L_WRIST = 7
    R_HIP = 8
    R_KNEE = 9
    R_ANKLE = 10
    L_HIP = 11
    L_KNEE = 12
    L_ANKLE = 13
    R_EYE = 14
    L_EYE = 15
    R_EAR = 16
    L_EAR = 17


COCO_KEYPOINTS = len(Coco)
SHOULDERS = (Coco.R_SHOULDER, Coco.L_SHOULDER)
HIPS = (Coco.R_HIP, Coco.L_HIP)
# Arms as shoulder, elbow, wrist, keyed by the side of the image they are on for a person facing
# the camera ("left" = image left = the person's right arm), as garment landmarks are named.
ARM_CHAINS = {"left": (Coco.R_SHOULDER, Coco.R_ELBOW, Coco.R_WRIST),
              "right": (Coco.L_SHOULDER, Coco.L_ELBOW, Coco.L_WRIST)}
# Legs as hip, knee, ankle, keyed like ARM_CHAINS ("left" = image left = the person's right leg).
LEG_CHAINS = {"left": (Coco.R_HIP, Coco.R_KNEE, Coco.R_ANKLE),
              "right": (Coco.L_HIP, Coco.L_KNEE, Coco.L_ANKLE)}
SHOES = (Lip.LEFT_SHOE, Lip.RIGHT_SHOE)
TORSO_CORNERS = (Coco.R_SHOULDER, Coco.L_SHOULDER, Coco.L_HIP, Coco.R_HIP)  # a quadrilateral, in order
