#!/usr/bin/env python3
"""A small ONNX evaluator in NumPy, independent of advmatrix's engine.

It implements the ops advmatrix's reference architectures and ensemble
aggregations use (Gemm, Conv, Relu, Clip, MaxPool, GlobalAveragePool,
BatchNormalization, Flatten, Reshape, Softmax, Sum, Add, Sub, Mul, Div, Max,
Min, Log, ReduceMax, Identity, Dropout), reading the model with Debian's
python3-onnx (which has no onnx.reference in its version 1.12). Tests run it
to check that files advmatrix writes mean the same in another runtime.

usage: onnxref.py MODEL.onnx INPUT.npy OUTPUT.npy
"""
import sys

import numpy as np
import onnx
from onnx import numpy_helper


def attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def conv2d(x, w, b, strides, pads, group, dilations):
    n, c, h, wd = x.shape
    m, cg, kh, kw = w.shape
    x = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    oh = (x.shape[2] - dilations[0] * (kh - 1) - 1) // strides[0] + 1
    ow = (x.shape[3] - dilations[1] * (kw - 1) - 1) // strides[1] + 1
    out = np.zeros((n, m, oh, ow), dtype=np.float64)
    per = m // group
    for g in range(group):
        xs = x[:, g * cg:(g + 1) * cg]
        for i in range(kh):
            for j in range(kw):
                patch = xs[:, :, i * dilations[0]:i * dilations[0] + strides[0] * oh:strides[0],
                           j * dilations[1]:j * dilations[1] + strides[1] * ow:strides[1]]
                out[:, g * per:(g + 1) * per] += np.einsum("nchw,mc->nmhw", patch, w[g * per:(g + 1) * per, :, i, j])
    if b is not None:
        out += b[None, :, None, None]
    return out


def maxpool(x, k, s, pads):
    x = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])), constant_values=-np.inf)
    oh = (x.shape[2] - k[0]) // s[0] + 1
    ow = (x.shape[3] - k[1]) // s[1] + 1
    out = np.full(x.shape[:2] + (oh, ow), -np.inf)
    for i in range(k[0]):
        for j in range(k[1]):
            out = np.maximum(out, x[:, :, i:i + s[0] * oh:s[0], j:j + s[1] * ow:s[1]])
    return out


def run(model, x):
    g = model.graph
    opset = max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    env = {t.name: numpy_helper.to_array(t).astype(np.float64) if numpy_helper.to_array(t).dtype.kind == "f"
           else numpy_helper.to_array(t) for t in g.initializer}
    inits = set(env)
    inputs = [i.name for i in g.input if i.name not in inits]
    env[inputs[0]] = x.astype(np.float64)
    for n in g.node:
        a = attrs(n)
        i = [env[name] if name else None for name in n.input]
        op = n.op_type
        if op == "Gemm":
            A, B = i[0], i[1]
            if a.get("transA", 0):
                A = A.T
            if a.get("transB", 0):
                B = B.T
            y = a.get("alpha", 1.0) * A @ B
            if len(i) > 2 and i[2] is not None:
                y = y + a.get("beta", 1.0) * i[2]
        elif op == "MatMul":
            y = i[0] @ i[1]
        elif op == "Conv":
            k = i[1].shape[2:]
            y = conv2d(i[0], i[1], i[2] if len(i) > 2 else None, a.get("strides", [1, 1]), a.get("pads", [0, 0, 0, 0]),
                       a.get("group", 1), a.get("dilations", [1, 1]))
        elif op == "Relu":
            y = np.maximum(i[0], 0)
        elif op == "Clip":
            lo = i[1] if len(i) > 1 and i[1] is not None else a.get("min", -np.inf)
            hi = i[2] if len(i) > 2 and i[2] is not None else a.get("max", np.inf)
            y = np.clip(i[0], lo, hi)
        elif op == "MaxPool":
            y = maxpool(i[0], a["kernel_shape"], a.get("strides", a["kernel_shape"]), a.get("pads", [0, 0, 0, 0]))
        elif op == "GlobalAveragePool":
            y = i[0].mean(axis=(2, 3), keepdims=True)
        elif op == "BatchNormalization":
            xx, s, b, m, v = i[:5]
            shape = (1, -1) + (1,) * (xx.ndim - 2)
            y = (xx - m.reshape(shape)) / np.sqrt(v.reshape(shape) + a.get("epsilon", 1e-5)) * s.reshape(shape) + b.reshape(shape)
        elif op == "Flatten":
            ax = a.get("axis", 1)
            y = i[0].reshape(int(np.prod(i[0].shape[:ax])), -1)
        elif op == "Reshape":
            shape = [d if d != 0 else i[0].shape[k] for k, d in enumerate(i[1])]
            y = i[0].reshape(shape)
        elif op == "Softmax":
            ax = a.get("axis", -1 if opset >= 13 else 1)
            e = np.exp(i[0] - i[0].max(axis=ax, keepdims=True))
            y = e / e.sum(axis=ax, keepdims=True)
        elif op in ("Sum", "Max", "Min"):
            f = {"Sum": np.add, "Max": np.maximum, "Min": np.minimum}[op]
            y = i[0]
            for t in i[1:]:
                y = f(y, t)
        elif op in ("Add", "Sub", "Mul", "Div"):
            y = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}[op](i[0], i[1])
        elif op == "Log":
            y = np.log(i[0])
        elif op == "ReduceMax":
            axes = tuple(int(v) for v in (i[1] if len(i) > 1 else a["axes"]))
            y = i[0].max(axis=axes, keepdims=bool(a.get("keepdims", 1)))
        elif op in ("Identity", "Dropout"):
            y = i[0]
        else:
            raise SystemExit("onnxref: op %s is not implemented" % op)
        env[n.output[0]] = y
    return env[g.output[0].name]


def main():
    model = onnx.load(sys.argv[1])
    x = np.load(sys.argv[2])
    np.save(sys.argv[3], run(model, x).astype(np.float32))


if __name__ == "__main__":
    main()
