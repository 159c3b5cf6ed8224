"""The try-on chain: plain library code (numpy, OpenCV, onnxruntime); no broker, no S3.

    chain.py      prepare_person / render, the stage registry, chain_version
    contract.py   Person, Composite, ChainOptions, BadInputError, the stage protocols
    seed/         the CP-VTON networks of OpenCV's sample (seed chain)
    geometric/    BlazePose models + geometry (geometric chain)
    onnx/         running the seed's ONNX networks (cv2.dnn or onnxruntime)
    weights/      weight files: declaration, verification, `python -m models.weights.fetch`
    labels.py, body.py, masks.py, cache.py, settings.py, crop.py, paste_back.py, tps.py,
    garment_photo.py   the vocabulary both chains share

docs/ARCHITECTURE.md maps every file and says where to change what.
"""
