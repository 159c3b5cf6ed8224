"""The geometric chain: BlazePose / face / selfie-segmentation models from the mediapipe wheel
(run in OpenCV DNN) and classical geometry where the seed chain has learned networks.

    blazepose.py            pose: BlazePose landmarks → COCO-18, calibrated to OpenPose's
    parsing.py              parsing: body mattes + BlazeFace + colour models → LIP labels
                            (+ blazeface.py, selfie_segmentation.py)
    garment.py              garment analysis: landmarks and parts from the garment's mask
    warp.py                 warp: per-part thin-plate splines onto the body's keypoints
    compositor.py           render: layered compositing (garment under head, arms in front)

Its weights come from PyPI (the mediapipe wheel); it was first called the "registry" chain,
a name outputs still carry (models.contract.VERSION_LABELS). Never imports models.seed.
"""
