"""Running ONNX networks (the seed GMM and TOM): on cv2.dnn or onnxruntime, batched where the
graph allows, with the GMM's non-standard Correlation node as a Python layer or rewritten.

    runner.py               OnnxNet: one network on either engine
    batch.py                BatchRunner (batch, or one at a time), read_net / read_onnx
    correlation.py          the Correlation node: numpy reference and cv2.dnn Python layer
    correlation_rewrite.py  the same in standard ONNX ops (`python -m models.onnx.correlation_rewrite`)
"""
