#!/usr/bin/env python3
"""The benchmark architectures of issue 14 ("Engine speed"), and their fixtures.

Run from the repository root with Debian's python3 (python3-torch, -torchvision, -onnx, -numpy):

    /usr/bin/python3 testdata/torch/bench_models.py            # writes testdata/torch/bench/
    /usr/bin/python3 testdata/torch/bench_models.py --cifar DIR # also the full-width ResNet-18 (45 MB) into DIR

Models (random, seeded weights; every BatchNorm gets random running statistics and affine parameters so
that folding it is not a no-op), all 10 classes, exported by torch.onnx at opset 13 in eval mode with a
dynamic batch axis:

  mlp        1x28x28  Flatten, Linear 784-256, ReLU, 256-128, ReLU, 128-10
  lenet      1x28x28  Conv 6 k5 p2, ReLU, MaxPool 2, Conv 16 k5, ReLU, MaxPool 2, Linear 400-120, ReLU,
                      120-84, ReLU, 84-10
  resnet18q  1x28x28  torchvision ResNet-18 (BasicBlock, [2,2,2,2]) at quarter width (16/32/64/128),
                      3x3 stride-1 stem, no max-pool
  mobilenetv2h 1x28x28 torchvision mobilenet_v2(width_mult=0.5) with a 1-channel stride-2 stem
  vgg        1x28x28  (x-mu)/sigma, [conv3x3 16, BN, ReLU]x2, MaxPool, [conv 32, BN, ReLU]x2, MaxPool,
                      conv 64, BN, ReLU, MaxPool, global average pool, Linear 64-128, BN1d, ReLU, Linear 128-10
  resnet18   3x32x32  torchvision resnet18 with a 3x3 stride-1 stem and no max-pool (CIFAR style); 45 MB,
                      so it is not committed: --cifar DIR writes it where the comparison wants it

The eval-mode export folds each BatchNorm2d into its convolution, as it does for users' models. For the
training benchmark, resnet18q_train.onnx is the same network exported with TrainingMode.PRESERVE, which
keeps BatchNormalization nodes (in inference form) so that training mode can use batch statistics.

For each committed model the script also stores PyTorch's float32 logits and the input gradient of the
sum-reduced cross-entropy on the 8 images of mnist8_x.npy / mnist8_y.npy (bench/<model>_logits.npy,
bench/<model>_grad.npy), which models/torch_test.go compares against.
"""
import argparse
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchvision.models.resnet import BasicBlock

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH_DIR = os.path.join(HERE, "bench")
SEED = 20261204
MEAN, STD = 0.1307, 0.3081


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(784, 256), nn.Linear(256, 128), nn.Linear(128, 10)

    def forward(self, x):
        x = torch.flatten(x, 1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 6, 5, padding=2), nn.Conv2d(6, 16, 5)
        self.fc1, self.fc2, self.fc3 = nn.Linear(400, 120), nn.Linear(120, 84), nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


def resnet18(in_ch, widths):
    """torchvision's ResNet-18 with the given stage widths, a 3x3 stride-1 stem and no max-pool."""
    net = torchvision.models.resnet18(num_classes=10)
    net.inplanes = widths[0]
    net.conv1 = nn.Conv2d(in_ch, widths[0], 3, 1, 1, bias=False)
    net.bn1 = nn.BatchNorm2d(widths[0])
    net.maxpool = nn.Identity()
    net.layer1 = net._make_layer(BasicBlock, widths[0], 2)
    net.layer2 = net._make_layer(BasicBlock, widths[1], 2, stride=2)
    net.layer3 = net._make_layer(BasicBlock, widths[2], 2, stride=2)
    net.layer4 = net._make_layer(BasicBlock, widths[3], 2, stride=2)
    net.fc = nn.Linear(widths[3], 10)
    for m in net.modules():  # torchvision's own initialisation
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
    return net


def resnet18q():
    return resnet18(1, (16, 32, 64, 128))


def resnet18_cifar():
    return resnet18(3, (64, 128, 256, 512))


def mobilenetv2h():
    net = torchvision.models.mobilenet_v2(num_classes=10, width_mult=0.5)
    net.features[0][0] = nn.Conv2d(1, 16, 3, stride=2, padding=1, bias=False)
    return net


class VGG(nn.Module):
    def __init__(self):
        super().__init__()

        def block(cin, cout):
            return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]

        self.features = nn.Sequential(*block(1, 16), *block(16, 16), nn.MaxPool2d(2),
                                      *block(16, 32), *block(32, 32), nn.MaxPool2d(2),
                                      *block(32, 64), nn.MaxPool2d(2), nn.AdaptiveAvgPool2d(1))
        self.head = nn.Sequential(nn.Linear(64, 128), nn.BatchNorm1d(128), nn.ReLU(), nn.Linear(128, 10))

    def forward(self, x):
        x = (x - MEAN) / STD
        return self.head(torch.flatten(self.features(x), 1))


# name -> (constructor, C x H x W of one image)
MODELS = {
    "mlp": (MLP, (1, 28, 28)),
    "lenet": (LeNet, (1, 28, 28)),
    "resnet18q": (resnet18q, (1, 28, 28)),
    "mobilenetv2h": (mobilenetv2h, (1, 28, 28)),
    "vgg": (VGG, (1, 28, 28)),
    "resnet18": (resnet18_cifar, (3, 32, 32)),
}
COMMITTED = ("mlp", "lenet", "resnet18q", "mobilenetv2h", "vgg")


def build(name):
    """The seeded model `name` in eval mode, with random BatchNorm statistics."""
    torch.manual_seed(SEED + sorted(MODELS).index(name))
    net = MODELS[name][0]()
    for m in net.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            with torch.no_grad():
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return net.eval()


def export(net, name, path, training=torch.onnx.TrainingMode.EVAL):
    shape = MODELS[name][1]
    torch.onnx.export(net, torch.zeros(2, *shape), path, opset_version=13, training=training,
                      input_names=["x"], output_names=["logits"],
                      dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}}, do_constant_folding=True)
    onnx.checker.check_model(onnx.load(path))
    print(f"{os.path.relpath(path)}: {os.path.getsize(path):,} bytes", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cifar", metavar="DIR", help="also write the full-width CIFAR ResNet-18 as DIR/resnet18.onnx")
    ap.add_argument("--only-cifar", action="store_true", help="write only the CIFAR ResNet-18 (needs --cifar)")
    a = ap.parse_args()
    torch.set_num_threads(2)
    if a.cifar:
        os.makedirs(a.cifar, exist_ok=True)
        export(build("resnet18"), "resnet18", os.path.join(a.cifar, "resnet18.onnx"))
    if a.only_cifar:
        return
    os.makedirs(BENCH_DIR, exist_ok=True)
    x = torch.from_numpy(np.load(os.path.join(HERE, "mnist8_x.npy")))
    y = torch.from_numpy(np.load(os.path.join(HERE, "mnist8_y.npy")))
    for name in COMMITTED:
        net = build(name)
        export(net, name, os.path.join(BENCH_DIR, name + ".onnx"))
        if name == "resnet18q":
            export(net, name, os.path.join(BENCH_DIR, name + "_train.onnx"), torch.onnx.TrainingMode.PRESERVE)
            net.eval()
        xg = x.clone().requires_grad_(True)
        logits = net(xg)
        (grad,) = torch.autograd.grad(F.cross_entropy(logits, y, reduction="sum"), xg)
        np.save(os.path.join(BENCH_DIR, name + "_logits.npy"), logits.detach().numpy())
        np.save(os.path.join(BENCH_DIR, name + "_grad.npy"), grad.numpy())


if __name__ == "__main__":
    main()
