"""Commands around the chain, above every other layer (never imported by models/, worker/, producer/).

    python -m tools.tryon PERSON CLOTH -o OUT.png   one pair, like OpenCV's virtual_try_on.py
    python -m tools.evaluate DATA OUT               `make eval`: metrics.json and a contact sheet
    python -m tools.pose_calibration DATA           fits models.geometric.blazepose.CALIBRATION
    python -m tools.seed_onnx --out DIR             real-architecture GMM/TOM with random weights
"""
