#!/usr/bin/env python3
"""Generate the PyTorch reference fixtures that advmatrix's Go tests compare against.

Run from the repository root (Debian's python3 with python3-torch, -torchvision, -onnx, -numpy):

    python3 testdata/torch/make_fixtures.py

It trains four small MNIST classifiers (mlp, lenet, resnet18, mobilenet_v2), exports each to ONNX at
opsets 11 and 13, and stores float32 and float64 logits, input gradients of the sum-reduced cross-entropy,
and vector-Jacobian products for the first 8 MNIST test images. The float64 references are computed on a
float64 copy of exactly the weights in the exported ONNX files (BatchNorm folded into the preceding Conv,
float32-rounded normalisation constants), so a float64 evaluation of the ONNX graph should match them to
rounding (~1e-12). It also trains and exports the default embedded model zoo/lenet_mnist.onnx.

Everything is seeded; reading MNIST needs only the idx .gz files in datasets/mnist (no downloads, no
pretrained weights).
"""
import argparse
import copy
import gzip
import hashlib
import json
import os
import sys
import time

import numpy as np
import onnx
from onnx import numpy_helper
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
MNIST_DIR = os.path.join(REPO, "datasets", "mnist")
ZOO_DIR = os.path.join(REPO, "zoo")

MEAN, STD = 0.1307, 0.3081
OPSETS = (11, 13)
N_REF = 8
BATCH = 64
SEED = 20240601
MODEL_NAMES = ("mlp", "lenet", "resnet18", "mobilenet_v2")


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------- data

def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    ndim = magic & 0xFF
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    return arr.reshape(dims)


def load_mnist(split):
    prefix = "train" if split == "train" else "t10k"
    x = read_idx(os.path.join(MNIST_DIR, f"{prefix}-images-idx3-ubyte.gz"))
    y = read_idx(os.path.join(MNIST_DIR, f"{prefix}-labels-idx1-ubyte.gz"))
    x = torch.from_numpy((x.astype(np.float32) / np.float32(255.0)).reshape(-1, 1, 28, 28))
    y = torch.from_numpy(y.astype(np.int64))
    return x, y


# --------------------------------------------------------------------------------------------- models
# Every model takes x: float32 N x 1 x 28 x 28 in [0, 1] and returns logits N x 10.
# The normalisation (x - 0.1307) / 0.3081 is the first op of every model. The constants are class attributes
# so that the float64 reference copies can use the float32-rounded values that the ONNX files hold
# (tracing sees the same Python floats either way, so the exported graphs do not depend on this).

class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 128)
        self.fc2 = nn.Linear(128, 64)
        self.fc3 = nn.Linear(64, 10)

    mean, std = MEAN, STD

    def forward(self, x):
        x = (x - self.mean) / self.std
        x = x.view(x.size(0), -1)  # exported as Shape/Gather/Unsqueeze/Concat/Reshape
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(400, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    mean, std = MEAN, STD

    def forward(self, x):
        x = (x - self.mean) / self.std
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class Normalized(nn.Module):
    """Wraps a torchvision network so that the normalisation is inside the model."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    mean, std = MEAN, STD

    def forward(self, x):
        return self.net((x - self.mean) / self.std)


def resnet18_mnist():
    net = torchvision.models.resnet18(num_classes=10)
    net.conv1 = nn.Conv2d(1, 64, 3, 1, 1, bias=False)
    net.maxpool = nn.Identity()
    return Normalized(net)


def mobilenet_v2_mnist():
    net = torchvision.models.mobilenet_v2(num_classes=10)
    net.features[0][0] = nn.Conv2d(1, 32, 3, stride=1, padding=1, bias=False)
    return Normalized(net)


ARCH = {
    "mlp": "flatten (x.view(N,-1)), Linear 784-128, ReLU, Linear 128-64, ReLU, Linear 64-10",
    "lenet": "Conv 1-6 k5 p2, ReLU, MaxPool2, Conv 6-16 k5, ReLU, MaxPool2, flatten, "
             "Linear 400-120, ReLU, Linear 120-84, ReLU, Linear 84-10",
    "resnet18": "torchvision resnet18(num_classes=10), conv1=Conv2d(1,64,3,1,1,bias=False), maxpool=Identity",
    "mobilenet_v2": "torchvision mobilenet_v2(num_classes=10), features[0][0]=Conv2d(1,32,3,1,1,bias=False)",
}

BUILD = {"mlp": MLP, "lenet": LeNet, "resnet18": resnet18_mnist, "mobilenet_v2": mobilenet_v2_mnist}

# Training recipes. "epochs" passes over the training set, or "steps" mini-batches.
RECIPES = {
    "mlp": dict(optimizer="SGD", lr=0.01, momentum=0.9, epochs=1),
    "lenet": dict(optimizer="SGD", lr=0.01, momentum=0.9, epochs=1),
    "resnet18": dict(optimizer="Adam", lr=1e-3, steps=100),
    "mobilenet_v2": dict(optimizer="Adam", lr=1e-3, steps=100),
}
ZOO_RECIPE = dict(optimizer="Adam", lr=1e-3, epochs=3)

# Offsets added to SEED so that each model's init/shuffle/cotangent is independent and reproducible.
SEED_OFFSET = {"mlp": 1, "lenet": 2, "resnet18": 3, "mobilenet_v2": 4, "zoo_lenet": 100}


def make_optimizer(model, recipe):
    if recipe["optimizer"] == "SGD":
        return torch.optim.SGD(model.parameters(), lr=recipe["lr"], momentum=recipe["momentum"])
    return torch.optim.Adam(model.parameters(), lr=recipe["lr"])


def train(model, xtr, ytr, recipe, seed):
    rng = np.random.RandomState(seed)
    opt = make_optimizer(model, recipe)
    model.train()
    n = xtr.shape[0]
    if "epochs" in recipe:
        total = recipe["epochs"] * (n // BATCH)
    else:
        total = recipe["steps"]
    step = 0
    t0 = time.time()
    while step < total:
        perm = torch.from_numpy(rng.permutation(n))
        for i in range(0, n - BATCH + 1, BATCH):  # drop the last incomplete batch
            if step >= total:
                break
            idx = perm[i:i + BATCH]
            opt.zero_grad()
            loss = F.cross_entropy(model(xtr[idx]), ytr[idx])
            loss.backward()
            opt.step()
            step += 1
            if step % 100 == 0 or step == total:
                log(f"    step {step}/{total} loss {loss.item():.4f} ({time.time() - t0:.1f}s)")
    model.eval()
    return dict(steps=total, train_seconds=round(time.time() - t0, 1), final_batch_loss=float(loss.item()))


@torch.no_grad()
def accuracy(model, x, y, bs=500):
    model.eval()
    correct = 0
    for i in range(0, x.shape[0], bs):
        correct += (model(x[i:i + bs]).argmax(1) == y[i:i + bs]).sum().item()
    return correct / x.shape[0]


# ----------------------------------------------------------------------------------------- references

def references(model, x, y, v):
    """logits, d/dx sum-CE(logits, y), (d logits/dx)^T v, all in the dtype of x/model."""
    model.eval()
    xg = x.clone().requires_grad_(True)
    logits = model(xg)
    loss = F.cross_entropy(logits, y, reduction="sum")
    (grad,) = torch.autograd.grad(loss, xg)
    xv = x.clone().requires_grad_(True)
    (vjp,) = torch.autograd.grad(model(xv), xv, grad_outputs=v)
    return logits.detach(), grad, vjp, loss.item()


# ------------------------------------------------------------------------------ float64 reference model

def _constant_inputs(graph):
    """output name -> numpy value of every Constant node and initializer."""
    vals = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value":
                    vals[node.output[0]] = numpy_helper.to_array(a.t)
    return vals


def onnx_model64(model, onnx_path, x):
    """A float64 copy of the trained `model` that computes what the exported ONNX graph computes.

    In eval mode the exporter folds every BatchNorm2d into the preceding Conv2d, in float32:
    W' = W*s, b' = beta - (mu - b)*s with s = gamma / sqrt(var + eps). Here each such BatchNorm2d is
    replaced by Identity, and every Conv2d and Linear takes its weight and bias from the ONNX initializers
    (matched in execution order, checked against the PyTorch parameters), cast to float64. The
    normalisation constants become the float32-rounded values held by the graph's Sub/Div Constants.
    Without BatchNorm (mlp, lenet) this is just the trained parameters cast to float64.
    """
    m64 = copy.deepcopy(model).float().eval()
    kinds = (nn.Conv2d, nn.Linear, nn.BatchNorm2d)
    events = []
    hooks = [mod.register_forward_hook(lambda mod, inp, out: events.append((mod, inp[0], out)))
             for mod in m64.modules() if isinstance(mod, kinds)]
    with torch.no_grad():
        m64(x[:1].float())
    for h in hooks:
        h.remove()
    mods = [e[0] for e in events]
    assert len(set(map(id, mods))) == len(mods), "a module runs more than once"
    assert len(mods) == sum(isinstance(m, kinds) for m in m64.modules()), "a module did not run"
    bn_of = {}  # conv module -> the BatchNorm2d that consumes its output
    for i, (mod, inp, _) in enumerate(events):
        if isinstance(mod, nn.BatchNorm2d):
            prev, _, prev_out = events[i - 1]
            assert isinstance(prev, nn.Conv2d) and prev_out is inp, "BatchNorm2d not directly after its Conv2d"
            bn_of[prev] = mod
    weighted = [m for m in mods if isinstance(m, (nn.Conv2d, nn.Linear))]

    g = onnx.load(onnx_path).graph
    vals = _constant_inputs(g)
    nodes = [n for n in g.node if n.op_type in ("Conv", "Gemm")]
    assert len(nodes) == len(weighted), (len(nodes), len(weighted))
    assert not any(n.op_type == "BatchNormalization" for n in g.node)
    folded = bit_exact_folds = 0
    for mod, node in zip(weighted, nodes):
        want = "Conv" if isinstance(mod, nn.Conv2d) else "Gemm"
        assert node.op_type == want, (node.op_type, mod)
        if want == "Gemm":
            attrs = {a.name: a for a in node.attribute}
            assert attrs["transB"].i == 1 and ("transA" not in attrs or attrs["transA"].i == 0)
        w = vals[node.input[1]]
        b = vals[node.input[2]] if len(node.input) > 2 and node.input[2] else None
        w_pt = mod.weight.detach()
        assert tuple(w.shape) == tuple(w_pt.shape), (w.shape, w_pt.shape)
        bn = bn_of.get(mod)
        if bn is None:
            # Not folded: the ONNX parameters must be the PyTorch ones, bit for bit.
            assert np.array_equal(w, w_pt.numpy())
            assert (b is None) == (mod.bias is None)
            assert b is None or np.array_equal(b, mod.bias.detach().numpy())
            continue
        # Folded: check against the same fold done here in float32 (the exporter computes it in C++).
        s = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
        w_f = w_pt * s.reshape(-1, *([1] * (w_pt.dim() - 1)))
        b0 = mod.bias.detach() if mod.bias is not None else torch.zeros_like(bn.running_mean)
        b_f = bn.bias.detach() - (bn.running_mean - b0) * s
        assert b is not None and np.allclose(w, w_f.numpy(), rtol=1e-5, atol=1e-7) \
            and np.allclose(b, b_f.numpy(), rtol=1e-5, atol=1e-6), "ONNX Conv does not look like conv+bn folded"
        folded += 1
        bit_exact_folds += bool(np.array_equal(w, w_f.numpy()) and np.array_equal(b, b_f.numpy()))
        mod.weight = nn.Parameter(torch.from_numpy(w.copy()))
        mod.bias = nn.Parameter(torch.from_numpy(b.copy()))
        for parent in m64.modules():  # replace the BatchNorm2d by Identity
            for cname, child in parent.named_children():
                if child is bn:
                    setattr(parent, cname, nn.Identity())
    assert folded == len(bn_of)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in m64.modules())
    sub = [n for n in g.node if n.op_type == "Sub"]
    div = [n for n in g.node if n.op_type == "Div"]
    assert len(sub) == 1 and len(div) == 1
    mean, std = vals[sub[0].input[1]], vals[div[0].input[1]]
    assert mean.dtype == np.float32 and mean == np.float32(MEAN), mean
    assert std.dtype == np.float32 and std == np.float32(STD), std
    m64.mean, m64.std = float(mean), float(std)
    return m64.double().eval(), dict(batchnorm_folded=folded, batchnorm_fold_bit_exact=bit_exact_folds)


def save_npy(path, arr):
    np.save(path, np.ascontiguousarray(arr))


# --------------------------------------------------------------------------------------------- export

def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def export(model, dummy, path, opset):
    model.eval()
    torch.onnx.export(
        model, dummy, path,
        opset_version=opset,
        input_names=["x"], output_names=["logits"],
        dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}},
        do_constant_folding=True,
    )
    m = onnx.load(path)
    onnx.checker.check_model(m)
    counts = {}
    for node in m.graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    opsets = {(o.domain or "ai.onnx"): o.version for o in m.opset_import}
    return dict(
        file=os.path.relpath(path, REPO),
        bytes=os.path.getsize(path),
        sha256=sha256(path),
        opset_import=opsets,
        ir_version=m.ir_version,
        nodes=len(m.graph.node),
        initializers=len(m.graph.initializer),
        op_types=dict(sorted(counts.items())),
    )


# ----------------------------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(MODEL_NAMES), help="comma-separated subset of " + ",".join(MODEL_NAMES))
    ap.add_argument("--no-zoo", action="store_true", help="skip zoo/lenet_mnist.*")
    ap.add_argument("--out", default=HERE, help="output directory for fixtures (default: this directory)")
    ap.add_argument("--zoo-out", default=ZOO_DIR, help="output directory for the zoo model")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    names = [n for n in args.models.split(",") if n]
    for n in names:
        if n not in BUILD:
            sys.exit(f"unknown model {n!r}")

    log("loading MNIST from", MNIST_DIR)
    xtr, ytr = load_mnist("train")
    xte, yte = load_mnist("test")

    x8, y8 = xte[:N_REF].clone(), yte[:N_REF].clone()
    save_npy(os.path.join(args.out, "mnist8_x.npy"), x8.numpy())
    save_npy(os.path.join(args.out, "mnist8_y.npy"), y8.numpy())

    meta_path = os.path.join(args.out, "metadata.json")
    meta = {}
    if os.path.exists(meta_path):  # partial regeneration keeps the other models' entries
        with open(meta_path) as f:
            meta = json.load(f)
    meta.update({
        "generator": "testdata/torch/make_fixtures.py",
        "versions": {"torch": torch.__version__, "torchvision": torchvision.__version__,
                     "onnx": onnx.__version__, "numpy": np.__version__,
                     "python": sys.version.split()[0]},
        "seed": SEED,
        "threads": args.threads,
        "input": {"name": "x", "dtype": "float32", "shape": ["batch", 1, 28, 28], "range": [0, 1],
                  "normalization_inside_model": {"mean": MEAN, "std": STD, "op": "(x - mean) / std"}},
        "output": {"name": "logits", "dtype": "float32", "shape": ["batch", 10]},
        "reference_inputs": {"x": "mnist8_x.npy", "y": "mnist8_y.npy",
                             "what": f"first {N_REF} MNIST t10k images (float32 N x 1 x 28 x 28, /255) and labels (int64)",
                             "labels": y8.tolist()},
        "grad_definition": "d/dx F.cross_entropy(logits, y, reduction='sum')",
        "vjp_definition": "(d logits / dx)^T v, v = <model>_v.npy (seeded standard normal, float32 8 x 10)",
        "f64_definition": "<model>_{logits,grad,vjp}_f64.npy: the same quantities in float64 (eval mode), computed "
                          "on a float64 copy of exactly the float32 weights stored in <model>_op{11,13}.onnx "
                          "(BatchNorm folded into Conv as exported) with the float32-rounded normalisation "
                          "constants float32(0.1307), float32(0.3081); input mnist8_x and v cast to float64",
    })
    meta.setdefault("models", {})

    for name in names:
        off = SEED_OFFSET[name]
        log(f"== {name}")
        torch.manual_seed(SEED + off)
        np.random.seed(SEED + off)
        model = BUILD[name]()
        nparams = sum(p.numel() for p in model.parameters())
        recipe = RECIPES[name]
        tinfo = train(model, xtr, ytr, recipe, SEED + off)
        t0 = time.time()
        acc = accuracy(model, xte, yte)
        log(f"    test accuracy {acc:.4f} ({time.time() - t0:.1f}s)")

        v = torch.from_numpy(np.random.RandomState(SEED + 1000 + off).standard_normal((N_REF, 10)).astype(np.float32))
        logits, grad, vjp, loss = references(model, x8, y8, v)
        p = lambda suffix: os.path.join(args.out, f"{name}_{suffix}.npy")
        save_npy(p("logits"), logits.numpy())
        save_npy(p("grad"), grad.numpy())
        save_npy(p("v"), v.numpy())
        save_npy(p("vjp"), vjp.numpy())
        entry = dict(
            architecture=ARCH[name],
            parameters=nparams,
            training=dict(recipe, batch=BATCH, seed=SEED + off, data="MNIST train (60000)", **tinfo),
            test_accuracy=acc, test_n=int(xte.shape[0]),
            reference=dict(
                logits=f"{name}_logits.npy", grad=f"{name}_grad.npy", v=f"{name}_v.npy", vjp=f"{name}_vjp.npy",
                sum_ce_loss=loss, predictions=logits.argmax(1).tolist(),
            ),
        )
        entry["onnx"] = {}
        for op in OPSETS:
            path = os.path.join(args.out, f"{name}_op{op}.onnx")
            info = export(model, x8, path, op)
            entry["onnx"][f"op{op}"] = info
            log(f"    {info['file']}: {info['bytes']} bytes, ops {info['op_types']}")

        # float64 references on exactly the exported weights (see onnx_model64); no random numbers are drawn.
        m64, finfo = onnx_model64(model, os.path.join(args.out, f"{name}_op{OPSETS[-1]}.onnx"), x8)
        l64, g64, vjp64, loss64 = references(m64, x8.double(), y8, v.double())
        save_npy(p("logits_f64"), l64.numpy())
        save_npy(p("grad_f64"), g64.numpy())
        save_npy(p("vjp_f64"), vjp64.numpy())
        ref = entry["reference"]
        ref.update(logits_f64=f"{name}_logits_f64.npy", grad_f64=f"{name}_grad_f64.npy",
                   vjp_f64=f"{name}_vjp_f64.npy", sum_ce_loss_f64=loss64,
                   predictions_f64=l64.argmax(1).tolist(),
                   f64_note="float64 copy of exactly the weights in the ONNX files (float32 values cast to float64"
                            + (", BatchNorm folded into Conv as exported" if finfo["batchnorm_folded"] else "")
                            + ") and float32-rounded normalisation constants; inputs mnist8_x as float64; "
                              "vjp_f64 uses the same v, cast to float64",
                   max_abs_diff_f32_vs_f64=dict(
                       logits=(logits.double() - l64).abs().max().item(),
                       grad=(grad.double() - g64).abs().max().item(),
                       vjp=(vjp.double() - vjp64).abs().max().item()))
        log(f"    max |logits32 - logits64| = {ref['max_abs_diff_f32_vs_f64']['logits']:.3e}, "
            f"|grad32 - grad64| = {ref['max_abs_diff_f32_vs_f64']['grad']:.3e}")
        if finfo["batchnorm_folded"]:
            # For comparison only: the unfolded model (BatchNorm with running stats) in float64.
            bn64 = copy.deepcopy(model).double().eval()
            bn64.mean, bn64.std = m64.mean, m64.std
            lb, gb, vb, _ = references(bn64, x8.double(), y8, v.double())
            ref["f64_batchnorm"] = dict(
                finfo,
                note="BatchNorm2d layers folded into the preceding Conv by the exporter (in float32); the f64 "
                     "references use the folded float32 weights. max_abs_diff_unfolded: the same model in float64 "
                     "with unfolded eval-mode BatchNorm (running stats) differs by this much",
                max_abs_diff_unfolded=dict(logits=(lb - l64).abs().max().item(),
                                           grad=(gb - g64).abs().max().item(),
                                           vjp=(vb - vjp64).abs().max().item()))
            log(f"    f64 unfolded-BN vs folded: {ref['f64_batchnorm']['max_abs_diff_unfolded']}")
        meta["models"][name] = entry
        with open(meta_path, "w") as f:
            json.dump(meta, f, indent=2, sort_keys=False)
            f.write("\n")

    if not args.no_zoo:
        log("== zoo lenet_mnist")
        off = SEED_OFFSET["zoo_lenet"]
        torch.manual_seed(SEED + off)
        np.random.seed(SEED + off)
        model = LeNet()
        tinfo = train(model, xtr, ytr, ZOO_RECIPE, SEED + off)
        acc = accuracy(model, xte, yte)
        log(f"    test accuracy {acc:.4f}")
        if acc < 0.985:
            log("WARNING: zoo LeNet below 98.5% test accuracy")
        os.makedirs(args.zoo_out, exist_ok=True)
        path = os.path.join(args.zoo_out, "lenet_mnist.onnx")
        info = export(model, x8, path, 13)
        zoo = dict(
            name="lenet_mnist",
            file="lenet_mnist.onnx",
            sha256=info["sha256"],
            bytes=info["bytes"],
            task="MNIST digit classification, classes 0-9",
            architecture="LeNet-5 style: " + ARCH["lenet"],
            parameters=sum(p.numel() for p in model.parameters()),
            input={"name": "x", "dtype": "float32", "shape": ["batch", 1, 28, 28], "range": [0, 1]},
            output={"name": "logits", "dtype": "float32", "shape": ["batch", 10]},
            normalization={"mean": MEAN, "std": STD, "inside_model": True},
            opset=13,
            op_types=info["op_types"],
            epochs=ZOO_RECIPE["epochs"],
            optimizer=ZOO_RECIPE["optimizer"], lr=ZOO_RECIPE["lr"], batch=BATCH,
            seed=SEED + off,
            training_seconds=tinfo["train_seconds"],
            test_accuracy=acc, test_n=int(xte.shape[0]),
            torch_version=torch.__version__, onnx_version=onnx.__version__,
            generator="testdata/torch/make_fixtures.py",
        )
        with open(os.path.join(args.zoo_out, "lenet_mnist.json"), "w") as f:
            json.dump(zoo, f, indent=2)
            f.write("\n")
    log("done")


if __name__ == "__main__":
    main()
