"""Stand-ins for the seed chain's OpenPose and JPPNet in the REAL files' formats, plus the same
networks computed directly in numpy from their weights.

The real `openpose_pose_coco.prototxt` + `.caffemodel` (≈200 MB) and `lip_jppnet_384.pb`
(432 MB) cannot be downloaded here. These stand-ins are tiny but are read by the same code
path (`OpenPose.load` / `LipJppNet.load` → `cv2.dnn.readNet`), so OpenCV's Caffe and
TensorFlow importers run on files of the real kinds. Neither Caffe nor TensorFlow is needed:

* Caffe. The prototxt is text. The caffemodel is a binary `NetParameter` serialised by the
  protobuf runtime from message classes built here at run time from a hand-written descriptor:
  the few caffe.proto messages and fields a caffemodel's weights need, with caffe.proto's
  field numbers (NetParameter.name 1, .layer 100; LayerParameter.name 1, .type 2, .bottom 3,
  .top 4, .blobs 7; BlobProto.data 5 packed, .shape 7; BlobShape.dim 1 packed). No protoc.
* TensorFlow. A frozen `GraphDef` written with the TensorFlow protobuf classes that the
  `tensorboard` package ships (`tensorboard.compat.proto`).

OpenPose COCO stand-in (input "image" 1×3×H×W with H, W set at run time, as in CMU's deploy
prototxt — the project sets the input unnamed, so the name does not matter; output
"Mconv7_stage6_L2", 19 stride-8 heat-maps = 1×19×32×24 on the sample's 256×192 blob):

    conv1_1 3×3 pad 1, 3→4 (+bias) → relu1_1 → pool1/2/3_stage1 MAX 2×2/2 ×3 → Mconv7_stage6_L2 1×1, 4→19 (+bias)

JPPNet stand-in (Placeholder "input" float (2, ?, ?, 3) NHWC = [crop, mirrored crop] at the
crop's native size, output "Mean_3" 2×384×384×20 in TF = 2×20×384×384 from OpenCV) with the
tail that human_parsing.py's conversion notes give the real graph: per head, three scale
outputs resized to 384² → stack (Pack: a 5-D tensor) → reduce_mean (Mean, Mean_1, Mean_2), then
the three heads stacked → Mean_3. Here a scale branch is ResizeBilinear of the input to 384²,
288² or 480² (×1, ×0.75, ×1.25) → Conv2D 3×3 SAME 3→20 + BiasAdd → ResizeBilinear to 384².
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

# --- OpenPose COCO stand-in (Caffe) ----------------------------------------------------------
OPENPOSE_INPUT = "image"
OPENPOSE_OUTPUT = "Mconv7_stage6_L2"
OPENPOSE_HIDDEN = 4
OPENPOSE_POOLS = ("pool1_stage1", "pool2_stage1", "pool3_stage1")  # MAX 2×2 / 2 each: stride 8

OPENPOSE_PROTOTXT = """\
name: "OpenPose COCO stand-in"
input: "image"
input_dim: 1
input_dim: 3
input_dim: 1 # defined at run time, as in the real file
input_dim: 1 # defined at run time, as in the real file
layer {
  name: "conv1_1"
  type: "Convolution"
  bottom: "image"
  top: "conv1_1"
  convolution_param { num_output: %(hidden)d pad: 1 kernel_size: 3 }
}
layer {
  name: "relu1_1"
  type: "ReLU"
  bottom: "conv1_1"
  top: "conv1_1"
}
layer {
  name: "pool1_stage1"
  type: "Pooling"
  bottom: "conv1_1"
  top: "pool1_stage1"
  pooling_param { pool: MAX kernel_size: 2 stride: 2 }
}
layer {
  name: "pool2_stage1"
  type: "Pooling"
  bottom: "pool1_stage1"
  top: "pool2_stage1"
  pooling_param { pool: MAX kernel_size: 2 stride: 2 }
}
layer {
  name: "pool3_stage1"
  type: "Pooling"
  bottom: "pool2_stage1"
  top: "pool3_stage1"
  pooling_param { pool: MAX kernel_size: 2 stride: 2 }
}
layer {
  name: "Mconv7_stage6_L2"
  type: "Convolution"
  bottom: "pool3_stage1"
  top: "Mconv7_stage6_L2"
  convolution_param { num_output: 19 kernel_size: 1 }
}
""" % {"hidden": OPENPOSE_HIDDEN}


def openpose_weights(seed: int = 15) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{layer: (weight OIHW, bias)} of the stand-in, float32."""
    rng = np.random.default_rng(seed)
    w1 = rng.normal(0, 0.5, (OPENPOSE_HIDDEN, 3, 3, 3)).astype(np.float32)
    b1 = rng.normal(0, 0.1, OPENPOSE_HIDDEN).astype(np.float32)
    w2 = rng.normal(0, 0.5, (19, OPENPOSE_HIDDEN, 1, 1)).astype(np.float32)
    b2 = rng.normal(0, 0.1, 19).astype(np.float32)
    return {"conv1_1": (w1, b1), OPENPOSE_OUTPUT: (w2, b2)}


def _caffe_message_classes() -> dict:
    """NetParameter, LayerParameter, BlobProto, BlobShape: caffe.proto's field numbers, only
    the fields a caffemodel's weights use, as protobuf message classes built at run time."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    F = descriptor_pb2.FieldDescriptorProto
    opt, rep = F.LABEL_OPTIONAL, F.LABEL_REPEATED
    messages = {  # name: [(field, number, label, type, type_name, packed)]
        "BlobShape": [("dim", 1, rep, F.TYPE_INT64, None, True)],
        "BlobProto": [("data", 5, rep, F.TYPE_FLOAT, None, True),
                      ("shape", 7, opt, F.TYPE_MESSAGE, ".caffe.BlobShape", False)],
        "LayerParameter": [("name", 1, opt, F.TYPE_STRING, None, False),
                           ("type", 2, opt, F.TYPE_STRING, None, False),
                           ("bottom", 3, rep, F.TYPE_STRING, None, False),
                           ("top", 4, rep, F.TYPE_STRING, None, False),
                           ("blobs", 7, rep, F.TYPE_MESSAGE, ".caffe.BlobProto", False)],
        "NetParameter": [("name", 1, opt, F.TYPE_STRING, None, False),
                         ("layer", 100, rep, F.TYPE_MESSAGE, ".caffe.LayerParameter", False)],
    }
    file = descriptor_pb2.FileDescriptorProto(name="caffe_subset.proto", package="caffe", syntax="proto2")
    for name, fields in messages.items():
        message = file.message_type.add(name=name)
        for field, number, label, kind, type_name, packed in fields:
            f = message.field.add(name=field, number=number, label=label, type=kind)
            if type_name:
                f.type_name = type_name
            if packed:
                f.options.packed = True
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"caffe.{name}")) for name in messages}


def write_openpose_standin(folder: Path, seed: int = 15) -> tuple[Path, Path, dict]:
    """Writes openpose_standin.prototxt + openpose_standin.caffemodel; returns their paths and
    the weights ({layer: (W, b)}) for the numpy reference."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    weights = openpose_weights(seed)
    classes = _caffe_message_classes()
    net = classes["NetParameter"](name="OpenPose COCO stand-in")
    bottoms = {"conv1_1": OPENPOSE_INPUT, OPENPOSE_OUTPUT: OPENPOSE_POOLS[-1]}
    for layer_name, arrays in weights.items():
        layer = net.layer.add(name=layer_name, type="Convolution", bottom=[bottoms[layer_name]], top=[layer_name])
        for array in arrays:
            blob = layer.blobs.add()
            blob.shape.dim.extend(array.shape)
            blob.data.extend(array.ravel().tolist())
    proto = folder / "openpose_standin.prototxt"
    model = folder / "openpose_standin.caffemodel"
    proto.write_text(OPENPOSE_PROTOTXT)
    model.write_bytes(net.SerializeToString())
    return proto, model, weights


# --- JPPNet stand-in (TensorFlow frozen GraphDef) ---------------------------------------------
JPPNET_INPUT = "input"
JPPNET_OUTPUT = "Mean_3"
JPPNET_SIZE = 384                               # the real graph's hard-coded INPUT_SIZE
JPPNET_SCALES = (384, 288, 480)                 # ×1, ×0.75, ×1.25: JPPNet's three scales
JPPNET_HEADS = 3                                # parsing_out1 … parsing_out3
JPPNET_CLASSES = 20


def jppnet_weights(seed: int = 22) -> list[list[tuple[np.ndarray, np.ndarray]]]:
    """[head][scale] → (kernel HWIO 3×3×3×20, bias 20), float32."""
    rng = np.random.default_rng(seed)
    return [[(rng.normal(0, 0.01, (3, 3, 3, JPPNET_CLASSES)).astype(np.float32),
              rng.normal(0, 0.5, JPPNET_CLASSES).astype(np.float32))
             for _ in JPPNET_SCALES] for _ in range(JPPNET_HEADS)]


def write_jppnet_standin(folder: Path, seed: int = 22, name: str = "lip_standin.pb") -> tuple[Path, list]:
    """Writes a frozen GraphDef `name`; returns its path and the weights for the numpy reference."""
    from tensorboard.compat.proto import attr_value_pb2, graph_pb2, tensor_pb2, tensor_shape_pb2, types_pb2

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    weights = jppnet_weights(seed)
    graph = graph_pb2.GraphDef()

    def node(name, op, inputs=(), **attrs):
        n = graph.node.add(name=name, op=op, input=list(inputs))
        for key, value in attrs.items():
            if isinstance(value, bool):
                n.attr[key].b = value
            elif isinstance(value, int) and key in ("N", "axis"):
                n.attr[key].i = value
            elif isinstance(value, int):  # a DataType
                n.attr[key].type = value
            elif isinstance(value, bytes):
                n.attr[key].s = value
            elif isinstance(value, list):
                n.attr[key].list.i.extend(value)
            else:
                n.attr[key].CopyFrom(value)
        return name

    def const(name, array):
        array = np.ascontiguousarray(array)
        dtype = {np.dtype(np.float32): types_pb2.DT_FLOAT, np.dtype(np.int32): types_pb2.DT_INT32}[array.dtype]
        tensor = tensor_pb2.TensorProto(dtype=dtype, tensor_content=array.tobytes())
        tensor.tensor_shape.dim.extend(tensor_shape_pb2.TensorShapeProto.Dim(size=s) for s in array.shape)
        value = attr_value_pb2.AttrValue(tensor=tensor)
        return node(name, "Const", dtype=dtype, value=value)

    f32 = types_pb2.DT_FLOAT
    shape = tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=s) for s in (2, -1, -1, 3)])
    node(JPPNET_INPUT, "Placeholder", dtype=f32, shape=attr_value_pb2.AttrValue(shape=shape))

    def resize(name, x, size):
        size_node = const(f"{name}/size", np.array([size, size], np.int32))
        return node(f"{name}/ResizeBilinear", "ResizeBilinear", [x, size_node], T=f32,
                    align_corners=False, half_pixel_centers=False)

    def mean_of_stack(index, inputs):
        suffix = f"_{index}" if index else ""
        stacked = node(f"stack{suffix}", "Pack", inputs, N=len(inputs), T=f32, axis=0)
        axis = const(f"Mean{suffix}/reduction_indices", np.array([0], np.int32))
        return node(f"Mean{suffix}", "Mean", [stacked, axis], T=f32, Tidx=types_pb2.DT_INT32, keep_dims=False)

    scaled = [resize(f"resize_images_{s}", JPPNET_INPUT, size) for s, size in enumerate(JPPNET_SCALES)]
    heads = []
    for h, head in enumerate(weights):
        branches = []
        for s, (kernel, bias) in enumerate(head):
            scope = f"parsing_out{h + 1}_{s}"
            k = const(f"{scope}/weights", kernel)
            b = const(f"{scope}/biases", bias)
            conv = node(f"{scope}/Conv2D", "Conv2D", [scaled[s], k], T=f32, strides=[1, 1, 1, 1], padding=b"SAME",
                        data_format=b"NHWC", dilations=[1, 1, 1, 1], use_cudnn_on_gpu=True)
            biased = node(f"{scope}/BiasAdd", "BiasAdd", [conv, b], T=f32, data_format=b"NHWC")
            branches.append(resize(f"{scope}/resize_images", biased, JPPNET_SIZE))
        heads.append(mean_of_stack(h, branches))
    assert mean_of_stack(JPPNET_HEADS, heads) == JPPNET_OUTPUT
    path = folder / name
    path.write_bytes(graph.SerializeToString())
    return path, weights


# --- the same networks in numpy --------------------------------------------------------------
def _conv_nchw(x: np.ndarray, w: np.ndarray, b: np.ndarray, pad: int) -> np.ndarray:
    """(C, H, W) ⊛ (O, C, kh, kw) + b, stride 1, zero padding `pad`; float64."""
    x = np.pad(x.astype(np.float64), ((0, 0), (pad, pad), (pad, pad)))
    windows = np.lib.stride_tricks.sliding_window_view(x, w.shape[2:], axis=(1, 2))  # C, H', W', kh, kw
    return np.tensordot(w.astype(np.float64), windows, axes=([1, 2, 3], [0, 3, 4])) + b[:, None, None]


def openpose_numpy(blob: np.ndarray, weights: dict) -> np.ndarray:
    """The OpenPose stand-in on a (1, 3, H, W) blob → (1, 19, H/8, W/8) heat-maps, float64."""
    x = _conv_nchw(blob[0], *weights["conv1_1"], pad=1)
    x = np.maximum(x, 0)
    for _ in OPENPOSE_POOLS:  # Caffe MAX 2×2/2 (ceil mode; the sizes here are even)
        c, h, w = x.shape
        x = x.reshape(c, h // 2, 2, w // 2, 2).max(axis=(2, 4))
    return _conv_nchw(x, *weights[OPENPOSE_OUTPUT], pad=0)[None]


def resize_bilinear_tf(x: np.ndarray, size: int) -> np.ndarray:
    """TF1 ResizeBilinear (align_corners=False, half_pixel_centers=False) of NHWC `x` to size²:
    source = destination · in/out, the next row/column clamped at the border."""
    out = x.astype(np.float64)
    for axis in (1, 2):
        n_in = out.shape[axis]
        src = np.arange(size) * (n_in / size)
        lo = np.floor(src).astype(int)
        hi = np.minimum(lo + 1, n_in - 1)
        frac = (src - lo).reshape([-1 if a == axis else 1 for a in range(4)])
        out = np.take(out, lo, axis=axis) * (1 - frac) + np.take(out, hi, axis=axis) * frac
    return out


def _conv_same_nhwc(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """TF Conv2D, stride 1, padding SAME (odd kernel: equal zero padding) + BiasAdd; NHWC, HWIO."""
    kh, kw = kernel.shape[:2]
    n, h, w, _ = x.shape
    padded = np.pad(x, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
    out = np.zeros((n, h, w, kernel.shape[3]))
    for i in range(kh):
        for j in range(kw):
            out += padded[:, i:i + h, j:j + w] @ kernel[i, j].astype(np.float64)
    return out + bias


def jppnet_numpy(blob_nchw: np.ndarray, weights: list) -> np.ndarray:
    """The JPPNet stand-in on the (2, 3, H, W) blob OpenCV is given → (2, 20, 384, 384), float64."""
    x = blob_nchw.astype(np.float64).transpose(0, 2, 3, 1)  # NHWC, as the graph sees it
    scaled = [resize_bilinear_tf(x, size) for size in JPPNET_SCALES]
    heads = []
    for head in weights:
        branches = []
        for (kernel, bias), image in zip(head, scaled):
            branches.append(resize_bilinear_tf(_conv_same_nhwc(image, kernel, bias), JPPNET_SIZE))
        heads.append(np.mean(np.stack(branches), axis=0))
    return np.mean(np.stack(heads), axis=0).transpose(0, 3, 1, 2)
