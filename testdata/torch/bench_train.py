#!/usr/bin/env python3
"""PyTorch CPU training-step throughput for advmatrix (images/s), the
baseline for `go test ./train -bench TrainStep`.

Run from the repository root with Debian's torch:

    /usr/bin/python3 testdata/torch/bench_train.py [--threads 2] [--batch 64] [--reps 7]

A step is: forward in train mode, batch-mean cross-entropy, backward to the
weights, SGD(lr 0.05, momentum 0.9) update. The architectures match
advmatrix's models.Build("lenet") and ("resnet") (no normalisation layer).
Prints one JSON line per model.
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, 5, padding=2)
        self.c2 = nn.Conv2d(6, 16, 5)
        self.f1 = nn.Linear(400, 120)
        self.f2 = nn.Linear(120, 84)
        self.f3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.max_pool2d(F.relu(self.c2(x)), 2)
        x = torch.flatten(x, 1)
        return self.f3(F.relu(self.f2(F.relu(self.f1(x)))))


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.sc = None
        if stride != 1 or cin != cout:
            self.sc = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.b1(self.c1(x)))
        y = self.b2(self.c2(y))
        return F.relu(y + (x if self.sc is None else self.sc(x)))


class ResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(1, 16, 3, 1, 1, bias=False)
        self.b = nn.BatchNorm2d(16)
        self.l = nn.Sequential(Block(16, 16, 1), Block(16, 32, 2), Block(32, 64, 2))
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = self.l(F.relu(self.b(self.c(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--reps", type=int, default=7)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    for name, net in (("lenet", LeNet()), ("resnet", ResNet())):
        net.train()
        opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
        x = torch.rand(a.batch, 1, 28, 28)
        y = torch.randint(0, 10, (a.batch,))

        def step():
            opt.zero_grad()
            F.cross_entropy(net(x), y).backward()
            opt.step()

        for _ in range(5):
            step()
        times = []
        for _ in range(a.reps):
            n = 20 if name == "lenet" else 5
            t0 = time.perf_counter()
            for _ in range(n):
                step()
            times.append((time.perf_counter() - t0) / n)
        med = statistics.median(times)
        print(json.dumps({"model": name, "batch": a.batch, "threads": a.threads, "ms_per_step": round(med * 1e3, 3),
                          "images_per_s": round(a.batch / med, 1), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
