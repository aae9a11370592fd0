#!/usr/bin/env python3
"""advmatrix against PyTorch CPU, side by side, on the architectures of bench_models.py.

Run from the repository root with Debian's python3 (python3-torch, -torchvision, -onnx) and Go:

    /usr/bin/python3 testdata/torch/compare.py [--passes 5] [--threads 2] [--models resnet18q,vgg]

Rows, all at batch 64, images per second:
  forward       logits (PyTorch: eval mode under torch.no_grad())
  forward+vjp   logits and the input gradient of the sum-reduced cross-entropy (an attack step;
                PyTorch: eval mode, torch.autograd.grad with respect to the input)
  train step    forward in training mode, batch-mean cross-entropy, backward to the weights, SGD with
                momentum 0.9 (lenet and resnet18q only)

advmatrix runs the ONNX files exported from the very PyTorch modules it is compared with (the eval-mode
export folds BatchNorm into the convolutions, as it does for any user's model), through
`go test -bench Fixtures ./models` and `go test -bench TrainFixture ./train` with GOMAXPROCS=threads.
The two are timed in alternation, pass after pass, and each side's best pass is reported: single
passes on a shared machine vary by 2-3x, and the best is the least disturbed. The full-width CIFAR
ResNet-18 (45 MB) is exported to --cache (default $TMPDIR/advmatrix-bench) on first use.

Debian's python3-torch runs Linear layers on the system BLAS (libblas.so.3). With the reference BLAS
(libblas3) they are about 25 times slower than with OpenBLAS, which would flatter advmatrix on every
fully-connected layer; the script prints which BLAS PyTorch loaded. Install libopenblas0-pthread, or
extract it and run with LD_LIBRARY_PATH=.../usr/lib/x86_64-linux-gnu/openblas-pthread, for a fair table.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

# PyTorch's OpenMP threads spin at every barrier by default. On a machine
# shared with other work a spinning thread that loses its core stalls the
# other for a time slice, and PyTorch's throughput collapses (ten times
# slower at a load of 8 on 2 cores, where advmatrix, whose workers park,
# loses little). Passive waiting costs PyTorch a few percent on an idle
# machine; OMP_WAIT_POLICY=ACTIVE in the environment measures the default.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench_models as bm  # noqa: E402

REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
BATCH = 64
TRAIN_MODELS = {"lenet": "lenet", "resnet18q": "resnet18q_train"}


def torch_rate(fn, seconds):
    """Images per second of fn (one batch), timed over about `seconds` after a warm-up."""
    for _ in range(2):
        fn()
    n, t0 = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        dt = time.perf_counter() - t0
        if dt >= seconds:
            return BATCH * n / dt


def torch_fns(name):
    net = bm.build(name)
    shape = bm.MODELS[name][1]
    g = torch.Generator().manual_seed(1)
    x = torch.rand(BATCH, *shape, generator=g)
    y = torch.arange(BATCH) % 10

    def forward():
        with torch.no_grad():
            net(x)

    def vjp():
        xg = x.detach().requires_grad_(True)
        torch.autograd.grad(F.cross_entropy(net(xg), y, reduction="sum"), xg)

    fns = {"forward": forward, "forward+vjp": vjp}
    if name in TRAIN_MODELS:
        tnet = bm.build(name).train()
        opt = torch.optim.SGD(tnet.parameters(), lr=0.05, momentum=0.9)

        def step():
            opt.zero_grad()
            F.cross_entropy(tnet(x), y).backward()
            opt.step()

        fns["train step"] = step
    return fns


def blas_in_use():
    """The BLAS library this process has mapped, for the table's header."""
    torch.ones(64, 64) @ torch.ones(64, 64)
    with open("/proc/self/maps") as f:
        libs = {line.split()[-1] for line in f if "blas" in line}
    return ", ".join(sorted(libs)) or "unknown"


def go_rate(binary, pkgdir, bench, seconds, threads, env):
    out = subprocess.run([binary, "-test.run", "^$", "-test.bench", bench, "-test.benchtime", f"{seconds}s"],
                         cwd=pkgdir, capture_output=True, text=True,
                         env=dict(os.environ, GOMAXPROCS=str(threads), **env))
    m = re.search(r"([0-9.]+) images/s", out.stdout)
    if not m:
        raise SystemExit(f"{bench}: no result\n{out.stdout}\n{out.stderr}")
    return float(m.group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--passes", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=1.0, help="timed seconds per measurement")
    ap.add_argument("--models", default="mlp,lenet,resnet18q,mobilenetv2h,vgg,resnet18")
    ap.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "advmatrix-bench"))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    names = [n for n in a.models.split(",") if n]
    if "resnet18" in names and not os.path.exists(os.path.join(a.cache, "resnet18.onnx")):
        subprocess.run([sys.executable, os.path.join(HERE, "bench_models.py"), "--cifar", a.cache, "--only-cifar"],
                       check=True)
    bins = {}
    with tempfile.TemporaryDirectory() as tmp:
        for pkg in ("models", "train"):
            bins[pkg] = os.path.join(tmp, pkg + ".test")
            subprocess.run(["go", "test", "-c", "-o", bins[pkg], "./" + pkg], cwd=REPO, check=True)
        env = {"ADVMATRIX_BENCH_CIFAR": a.cache}
        rows = []
        for name in names:
            for op in torch_fns(name):
                rows.append((name, op))
        best = {r: [0.0, 0.0] for r in rows}
        fns = {name: torch_fns(name) for name in names}
        for p in range(a.passes):
            for name, op in rows:
                # Each part of a -bench pattern is a separate unanchored
                # regular expression: anchor them, or resnet18 matches resnet18q.
                if op == "train step":
                    go = go_rate(bins["train"], os.path.join(REPO, "train"),
                                 f"TrainFixture$/^{TRAIN_MODELS[name]}$", a.seconds, a.threads, env)
                else:
                    sub = "forward" if op == "forward" else "grad"
                    go = go_rate(bins["models"], os.path.join(REPO, "models"),
                                 f"Fixtures$/^{name}$/^{sub}$", a.seconds, a.threads, env)
                pt = torch_rate(fns[name][op], a.seconds)
                best[(name, op)][0] = max(best[(name, op)][0], go)
                best[(name, op)][1] = max(best[(name, op)][1], pt)
                print(f"pass {p + 1}: {name:13s} {op:12s} advmatrix {go:9.0f}  pytorch {pt:9.0f} img/s",
                      file=sys.stderr, flush=True)
    print(f"\nbatch {BATCH}, {a.threads} threads, best of {a.passes} passes, images/s "
          f"(torch {torch.__version__}, OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}, BLAS {blas_in_use()})\n")
    print("| model | op | advmatrix | PyTorch | ratio |")
    print("|---|---|---:|---:|---:|")
    for name, op in rows:
        go, pt = best[(name, op)]
        print(f"| {name} | {op} | {go:,.0f} | {pt:,.0f} | {go / pt:.2f}x |")


if __name__ == "__main__":
    main()
