"""Replace every `Correlation` node of an ONNX graph by standard ops (SEED_CHAIN.md §6).

OpenCV 5 no longer runs Python layers and onnxruntime never knew the op, so the seed GMM only
runs everywhere once its Correlation node is spelled in standard ONNX:

    A (N,C,h,w) ─ Transpose[0,1,3,2] → (N,C,w,h) ─ Reshape(-1,C,w·h) ─────────────┐   A': column k = x·h + y
    B (N,C,h,w) ─ Reshape(-1,C,h·w) → (N,C,h·w) ─ Transpose[0,2,1] → (N,h·w,C) ─ MatMul(Bᵀ, A') → (N, h·w, w·h)
                   ─ Reshape(-1,h,w,h·w) ─ Transpose[0,3,1,2] → (N, h·w, h, w)  (same tensor name as before)

MatMul row p = i·w + j indexes B's position (i,j) (row-major), column k indexes A's position
x-major, exactly as models.onnx.correlation.correlation. The batch dimension is -1 in every Reshape
so the rewritten graph runs any batch size (C, h, w must be static, which they are in the GMM).

    python -m models.onnx.correlation_rewrite IN.onnx OUT.onnx [--dynamic-batch]
"""
from __future__ import annotations

import argparse
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper, shape_inference

CORRELATION_OP = "Correlation"


def has_correlation(model: onnx.ModelProto) -> bool:
    return any(node.op_type == CORRELATION_OP for node in model.graph.node)


def _static_shapes(model: onnx.ModelProto) -> dict[str, list]:
    """Shapes of every tensor the graph declares or shape inference can derive.
    Non-strict inference stops quietly at the unknown Correlation op; its inputs are upstream of
    it and therefore inferred."""
    try:
        inferred = shape_inference.infer_shapes(model, strict_mode=False)
    except Exception:  # inference is a convenience; declared value_info may still suffice
        inferred = model
    shapes = {}
    graph = inferred.graph
    for info in [*graph.input, *graph.value_info, *graph.output]:
        dims = info.type.tensor_type.shape.dim
        if info.type.tensor_type.HasField("shape"):
            shapes[info.name] = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in dims]
    for init in graph.initializer:
        shapes.setdefault(init.name, list(init.dims))
    return shapes


def _feature_shape(shapes: dict, name: str, node_label: str) -> tuple[int, int, int]:
    shape = shapes.get(name)
    if shape is None or len(shape) != 4:
        raise ValueError(f"{node_label}: input {name!r} has no known 4-D shape (got {shape}); "
                         "add value_info for it or export with static shapes")
    c, h, w = shape[1:]
    if not all(isinstance(v, int) and v > 0 for v in (c, h, w)):
        raise ValueError(f"{node_label}: input {name!r} needs static C,H,W, got {shape}")
    return c, h, w


def _replacement(node: onnx.NodeProto, c: int, h: int, w: int, prefix: str):
    """The standard-op nodes and shape constants computing `node` (same output name)."""
    a, b = node.input
    (out,) = node.output
    n = lambda s: f"{prefix}/{s}"  # noqa: E731 — unique tensor/node names under the old node's name
    consts = [
        numpy_helper.from_array(np.array([-1, c, w * h], np.int64), n("shape_a")),
        numpy_helper.from_array(np.array([-1, c, h * w], np.int64), n("shape_b")),
        numpy_helper.from_array(np.array([-1, h, w, h * w], np.int64), n("shape_out")),
    ]
    nodes = [
        helper.make_node("Transpose", [a], [n("a_cwh")], name=n("a_transpose"), perm=[0, 1, 3, 2]),
        helper.make_node("Reshape", [n("a_cwh"), n("shape_a")], [n("a_flat")], name=n("a_reshape")),
        helper.make_node("Reshape", [b, n("shape_b")], [n("b_flat")], name=n("b_reshape")),
        helper.make_node("Transpose", [n("b_flat")], [n("b_flat_t")], name=n("b_transpose"), perm=[0, 2, 1]),
        helper.make_node("MatMul", [n("b_flat_t"), n("a_flat")], [n("scores")], name=n("matmul")),
        helper.make_node("Reshape", [n("scores"), n("shape_out")], [n("scores_hwk")], name=n("out_reshape")),
        helper.make_node("Transpose", [n("scores_hwk")], [out], name=n("out_transpose"), perm=[0, 3, 1, 2]),
    ]
    return nodes, consts


def rewrite_correlation(model: onnx.ModelProto, report: list | None = None) -> onnx.ModelProto:
    """A copy of `model` with every Correlation node replaced by standard ops.
    `report`, if given, receives one line per replaced node."""
    result = onnx.ModelProto()
    result.CopyFrom(model)
    graph = result.graph
    targets = [node for node in graph.node if node.op_type == CORRELATION_OP]
    if not targets:
        return result
    default_opset = next((o.version for o in result.opset_import if o.domain in ("", "ai.onnx")), None)
    if default_opset is not None and default_opset < 5:
        raise ValueError(f"opset {default_opset}: Reshape with a shape input needs opset >= 5")
    shapes = _static_shapes(result)

    new_nodes, custom_domains = [], set()
    for index, node in enumerate(graph.node):
        if node.op_type != CORRELATION_OP:
            new_nodes.append(node)
            continue
        label = f"{CORRELATION_OP} node {node.name or node.output[0]!r}"
        if len(node.input) != 2 or len(node.output) != 1:
            raise ValueError(f"{label}: expected 2 inputs and 1 output")
        c, h, w = _feature_shape(shapes, node.input[0], label)
        if _feature_shape(shapes, node.input[1], label) != (c, h, w):
            raise ValueError(f"{label}: A and B differ in shape")
        nodes, consts = _replacement(node, c, h, w, prefix=f"correlation_rewrite_{index}")
        new_nodes.extend(nodes)
        graph.initializer.extend(consts)
        if result.ir_version < 4:  # before IR 4 every initializer had to be a graph input too
            graph.input.extend(helper.make_tensor_value_info(t.name, onnx.TensorProto.INT64, list(t.dims))
                               for t in consts)
        if node.domain not in ("", "ai.onnx"):
            custom_domains.add(node.domain)
        if report is not None:
            report.append(f"{label}: A={node.input[0]!r} B={node.input[1]!r} (N,{c},{h},{w}) → "
                          f"{len(nodes)} standard nodes (Transpose/Reshape/MatMul), output {node.output[0]!r}"
                          f" (N,{h * w},{h},{w})")

    del graph.node[:]
    graph.node.extend(new_nodes)
    # Drop opset imports of custom domains nothing uses any more.
    still_used = {node.domain for node in graph.node}
    keep = [o for o in result.opset_import if o.domain not in custom_domains or o.domain in still_used]
    del result.opset_import[:]
    result.opset_import.extend(keep)
    return result


def make_batch_dynamic(model: onnx.ModelProto, name: str = "N") -> onnx.ModelProto:
    """A copy whose graph inputs/outputs have a symbolic batch dimension, for exports (like the
    published GMM) that declare batch 1. Constant Reshape shapes that start with 1 get 0 there
    ("copy the input's batch"), as a batch-1 export folds `x.view(x.size(0), -1)` into [1, -1].
    Stale intermediate value_info is dropped (engines re-infer it)."""
    result = onnx.ModelProto()
    result.CopyFrom(model)
    graph = result.graph
    for value in [*graph.input, *graph.output]:
        dims = value.type.tensor_type.shape.dim
        if value.name not in {t.name for t in graph.initializer} and len(dims) and dims[0].dim_value == 1:
            dims[0].Clear()
            dims[0].dim_param = name
    initializers = {t.name: t for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Reshape" and node.input[1] in initializers:
            tensor = initializers[node.input[1]]
            shape = numpy_helper.to_array(tensor)
            if shape.ndim == 1 and len(shape) > 1 and shape[0] == 1:
                shape = shape.copy()
                shape[0] = 0
                tensor.CopyFrom(numpy_helper.from_array(shape.astype(np.int64), tensor.name))
    del graph.value_info[:]
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("input", help="ONNX model with Correlation node(s), e.g. cp_vton_gmm.onnx")
    parser.add_argument("output", help="where to write the rewritten model")
    parser.add_argument("--dynamic-batch", action="store_true",
                        help="also make a batch-1 export take any batch size (see make_batch_dynamic)")
    args = parser.parse_args(argv)

    model = onnx.load(args.input)
    report: list[str] = []
    rewritten = rewrite_correlation(model, report)
    if not report:
        print(f"{args.input}: no {CORRELATION_OP} node; written unchanged")
    for line in report:
        print(f"replaced {line}")
    if args.dynamic_batch:
        rewritten = make_batch_dynamic(rewritten)
        print("batch dimension made dynamic (N)")
    onnx.checker.check_model(rewritten)
    onnx.save(rewritten, args.output)
    print(f"wrote {args.output} (passes onnx.checker)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
