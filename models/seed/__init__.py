"""The seed chain: the CP-VTON networks and math of OpenCV's virtual_try_on.py sample.

    openpose.py        pose: OpenPose COCO (Caffe) → COCO-18 keypoints; OpenPose JSON reading
    lip_jppnet.py      parsing: LIP JPPNet (TF) with the flip trick → LIP labels
    representation.py  the 22-channel cloth-agnostic person representation (+ pil_resize.py)
    gmm.py             warp: GMM θ → TPS grid (models.tps) → sampler.py
    tom.py             render: TOM + composition.py (TOM's mask composition)

Never imports models.geometric (import-linter checks it).
"""
