"""Inputs for the seed stage tests: a drawn person and garments, tiny stand-in networks (not a test module)."""
import cv2
import numpy as np
import onnx
from onnx import helper, numpy_helper

from models.contract import Person


def person():
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (256, 192, 3), dtype=np.uint8)
    labels = np.zeros((256, 192), np.uint8)
    labels[30:60, 70:120] = 13
    labels[60:200, 50:140] = 5
    keypoints = np.zeros((18, 3), np.float32)
    keypoints[:8] = [(96, 45, .9), (96, 70, .9), (70, 72, .9), (60, 120, .9), (55, 160, .9), (122, 72, .9),
                     (130, 120, .9), (135, 160, .9)]
    return Person(photo=photo, crop_box=(0, 0, 192, 256), keypoints=keypoints, parse=labels)


def garments(n):
    rng = np.random.default_rng(1)
    out = []
    for _ in range(n):
        g = np.full((256, 192, 3), 245, np.uint8)
        g[40:220, 30:160] = rng.integers(0, 200, 3)
        out.append(g)
    return out


def stand_in_net(nodes, inputs, outputs, inits, path):
    """A tiny ONNX graph with a real network's tensor layout, saved to `path` and read by cv2.dnn."""
    graph = helper.make_graph(nodes, "stand_in", inputs, outputs, [numpy_helper.from_array(a, n) for n, a in inits])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return cv2.dnn.readNet(str(path))
