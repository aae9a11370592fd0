#!/usr/bin/env python3
"""PyTorch CPU throughput baseline for advmatrix (images/s at batch 64).

Run from the repository root:

    python3 testdata/torch/bench.py [--models lenet,resnet18] [--reps 7] [--threads 2]

For each model (architectures from make_fixtures.py, eval mode, float32, N x 1 x 28 x 28 MNIST test
images) it times
  * forward:       logits = model(x) under torch.no_grad()
  * forward+grad:  logits = model(x); loss = F.cross_entropy(logits, y, reduction='sum');
                   g = d loss / d x   (what one step of an iterative gradient attack costs)
Each timed repetition runs the operation enough times to take >= --min-seconds; the reported number is
the median over --reps repetitions after --warmup untimed calls. Writes testdata/torch/bench_torch.json.
Weights are those of a freshly seeded model (throughput does not depend on their values).
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.dont_write_bytecode = True  # keep testdata free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures as mf  # noqa: E402


def time_op(fn, warmup, reps, min_seconds):
    for _ in range(warmup):
        fn()
    # calibrate the number of calls per repetition
    t0 = time.perf_counter()
    fn()
    one = time.perf_counter() - t0
    inner = max(1, int(min_seconds / max(one, 1e-9)))
    per_call = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        per_call.append((time.perf_counter() - t0) / inner)
    return statistics.median(per_call), per_call, inner


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="lenet,resnet18")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--reps", type=int, default=9)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--min-seconds", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=os.path.join(mf.HERE, "bench_torch.json"))
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(mf.SEED)
    xte, yte = mf.load_mnist("test")
    x, y = xte[:args.batch].contiguous(), yte[:args.batch].contiguous()

    load0 = round(os.getloadavg()[0], 2)
    results = []
    for name in [n for n in args.models.split(",") if n]:
        model = mf.BUILD[name]().eval()

        def fwd():
            with torch.no_grad():
                model(x)

        def fwd_grad():
            xg = x.detach().requires_grad_(True)
            loss = F.cross_entropy(model(xg), y, reduction="sum")
            torch.autograd.grad(loss, xg)

        for kind, fn in (("forward", fwd), ("forward+grad", fwd_grad)):
            med, per_call, inner = time_op(fn, args.warmup, args.reps, args.min_seconds)
            r = dict(model=name, op=kind, batch=args.batch,
                     images_per_s=round(args.batch / med, 1),
                     median_ms_per_batch=round(med * 1e3, 3),
                     rep_ms_per_batch=[round(t * 1e3, 3) for t in per_call],
                     calls_per_rep=inner)
            results.append(r)
            print(f"{name:14s} {kind:13s} {r['images_per_s']:10.1f} img/s  {r['median_ms_per_batch']:9.2f} ms/batch",
                  file=sys.stderr, flush=True)

    print(f"\n{'model':14s} {'op':13s} {'images/s':>10s} {'ms/batch':>10s}   (batch {args.batch}, "
          f"{args.threads} threads, median of {args.reps})")
    for r in results:
        print(f"{r['model']:14s} {r['op']:13s} {r['images_per_s']:10.1f} {r['median_ms_per_batch']:10.2f}")

    out = dict(
        generator="testdata/torch/bench.py",
        torch=torch.__version__,
        threads=args.threads,
        batch=args.batch,
        reps=args.reps,
        warmup=args.warmup,
        statistic="median seconds per batch over reps; images_per_s = batch / median",
        grad_definition="d/dx F.cross_entropy(model(x), y, reduction='sum'), eval mode, float32",
        machine=dict(platform=platform.platform(), processor=platform.processor(),
                     cpu_count=os.cpu_count(), cpu_model=cpu_model()),
        loadavg_1min_before=load0, loadavg_1min_after=round(os.getloadavg()[0], 2),
        results=results,
    )
    with open(args.out, "w") as f:
        json.dump(out, f, indent=2)
        f.write("\n")


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


if __name__ == "__main__":
    main()
