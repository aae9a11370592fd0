#!/usr/bin/env python3
"""Generate the PyTorch reference fixtures for transformer-era classifiers.

Run from the repository root (Debian's python3 with python3-torch, -torchvision, -onnx, -numpy):

    python3 testdata/torch/make_transformer_fixtures.py

Models, all with random (seeded, untrained) weights and 10 classes:

  vit_tiny       torchvision VisionTransformer: ViT-Ti width (hidden 192, 3 heads of 64, MLP 768),
                 2 layers instead of 12, patch 4 on 3x32x32 (64 patches + class token)
  convnext_tiny  torchvision ConvNeXt-T depths (3, 3, 9, 3) at a sixth of the width (16, 32, 64, 128),
                 3x32x32
  swin_tiny      torchvision Swin-T depths (2, 2, 6, 2), window 7, patch 4, at a sixth of the width
                 (embed 16, heads 1, 2, 4, 8 of 16) on 3x56x56: stage 1 runs shifted windows with the
                 attention mask, stages 3 and 4 pad their 4x4 and 2x2 maps up to the window
  deit_tiny      a DeiT in timm's layout (fused qkv Linear, class and distillation tokens, the two heads
                 averaged): hidden 64, 4 heads of 16, 2 layers, patch 4 on 3x32x32
  maxvit_tiny    torchvision MaxVit (MBConv with squeeze-excitation, block and grid attention with
                 relative position bias via Einsum): stem 16, blocks (32, 64) of one layer each, head
                 size 16, partition 4, on 3x32x32; convolutions and linears with PyTorch's default
                 initialisation rather than torchvision's N(0, 0.02^2)

Each is exported at opsets 13 and 17 (dynamic batch axis, constant folding, onnx.checker), and for
4 seeded uniform images x (float32 N x C x H x W in [0, 1]), labels y and a cotangent v the script
stores PyTorch's logits, the input gradient of the sum-reduced cross-entropy and the VJP, in float32
and in float64.

The float64 references are the same modules in float64 with the constants the ONNX graphs hold:
nn.GELU becomes x/2 (1 + erf(x / c)) with c = float32(sqrt 2), the divisor the exporter writes, and
every LayerNorm and BatchNorm epsilon is rounded to float32 (the graphs' epsilon attribute or
constant). Attention scales are powers of two (head sizes 16 and 64), so exact in float32. So a
float64 evaluation of the ONNX graph should match them to rounding — except maxvit_tiny, whose
convolution-then-BatchNorm pairs the exporter folds in float32.

It also writes vit_arch_*: torchvision's VisionTransformer configured as advmatrix's `vit` reference
architecture for 1x28x28 (models.Build("vit", ...): patch 7, 4 layers, hidden 64, 4 heads, MLP 128,
LayerNorm eps 1e-6, a 1-channel conv_proj), its random state_dict as an .npz, and its logits and
gradients on mnist8_x: the Go test loads the weights into Build's graph by name and must agree.

Everything is seeded; no downloads, no pretrained weights.
"""
import copy
import json
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchvision.models import convnext as tv_convnext
from torchvision.models import maxvit as tv_maxvit
from torchvision.models import swin_transformer as tv_swin
from torchvision.models import vision_transformer as tv_vit

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # keep testdata free of __pycache__
sys.path.insert(0, HERE)
import make_fixtures as mf  # noqa: E402  (export, references, save_npy, MNIST reader)

SEED = 20250113
OPSETS = (13, 17)
N = 4
CLASSES = 10


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------- models

class DeiTAttention(nn.Module):
    """timm-style attention: one qkv Linear, heads split by reshape/permute, softmax(q k^T * scale) v."""

    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        attn = (q @ k.transpose(-2, -1)) * self.scale
        attn = attn.softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


class DeiTBlock(nn.Module):
    def __init__(self, dim, heads, mlp_ratio=4):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = DeiTAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.GELU(), nn.Linear(mlp_ratio * dim, dim))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class DeiT(nn.Module):
    """DeiT with a distillation token, as timm's VisionTransformerDistilled runs at inference."""

    def __init__(self, image=32, patch=4, dim=64, depth=2, heads=4, classes=CLASSES):
        super().__init__()
        self.patch_embed = nn.Conv2d(3, dim, patch, patch)
        tokens = (image // patch) ** 2
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.dist_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, tokens + 2, dim))
        self.blocks = nn.Sequential(*[DeiTBlock(dim, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, classes)
        self.head_dist = nn.Linear(dim, classes)

    def forward(self, x):
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        b = x.shape[0]
        x = torch.cat((self.cls_token.expand(b, -1, -1), self.dist_token.expand(b, -1, -1), x), dim=1)
        x = self.norm(self.blocks(x + self.pos_embed))
        return (self.head(x[:, 0]) + self.head_dist(x[:, 1])) / 2


def vit_tiny():
    return tv_vit.VisionTransformer(image_size=32, patch_size=4, num_layers=2, num_heads=3, hidden_dim=192,
                                    mlp_dim=768, num_classes=CLASSES)


def convnext_tiny():
    cfg = [tv_convnext.CNBlockConfig(16, 32, 3), tv_convnext.CNBlockConfig(32, 64, 3),
           tv_convnext.CNBlockConfig(64, 128, 9), tv_convnext.CNBlockConfig(128, None, 3)]
    return tv_convnext.ConvNeXt(cfg, stochastic_depth_prob=0.0, num_classes=CLASSES)


def swin_tiny():
    return tv_swin.SwinTransformer(patch_size=[4, 4], embed_dim=16, depths=[2, 2, 6, 2], num_heads=[1, 2, 4, 8],
                                   window_size=[7, 7], stochastic_depth_prob=0.0, num_classes=CLASSES)


def maxvit_tiny():
    m = tv_maxvit.MaxVit(input_size=(32, 32), stem_channels=16, partition_size=4, block_channels=[32, 64],
                         block_layers=[1, 1], head_dim=16, stochastic_depth_prob=0.0, num_classes=CLASSES)
    # torchvision draws MaxViT's convolutions and linears from N(0, 0.02²), which at this size leaves the
    # logits almost independent of the input (gradients ~1e-8); PyTorch's default initialisation does not.
    for mod in m.modules():
        if isinstance(mod, (nn.Conv2d, nn.Linear)):
            mod.reset_parameters()
    return m


MODELS = {
    "vit_tiny": (vit_tiny, (3, 32, 32), "torchvision VisionTransformer(image_size=32, patch_size=4, num_layers=2, "
                                         "num_heads=3, hidden_dim=192, mlp_dim=768)"),
    "convnext_tiny": (convnext_tiny, (3, 32, 32), "torchvision ConvNeXt, blocks (16,32,3) (32,64,3) (64,128,9) "
                                                  "(128,None,3)"),
    "swin_tiny": (swin_tiny, (3, 56, 56), "torchvision SwinTransformer(patch_size=[4,4], embed_dim=16, "
                                          "depths=[2,2,6,2], num_heads=[1,2,4,8], window_size=[7,7])"),
    "deit_tiny": (DeiT, (3, 32, 32), "timm-style DeiT (distilled): patch 4, dim 64, depth 2, 4 heads, MLP 256"),
    "maxvit_tiny": (maxvit_tiny, (3, 32, 32), "torchvision MaxVit(input_size=(32,32), stem_channels=16, "
                                              "partition_size=4, block_channels=[32,64], block_layers=[1,1], "
                                              "head_dim=16)"),
}
SEED_OFFSET = {"vit_tiny": 1, "convnext_tiny": 2, "swin_tiny": 3, "deit_tiny": 4, "maxvit_tiny": 5, "vit_arch": 6}


@torch.no_grad()
def randomize(model, gen):
    """Move the parameters that initialisation leaves constant (zero heads and biases, unit norms,
    ConvNeXt's 1e-6 layer scale) to random values, so that every one of them matters."""
    def normal(t, std):
        return torch.randn(t.shape, generator=gen) * std
    for mod in model.modules():
        if isinstance(mod, (nn.LayerNorm, nn.BatchNorm2d)):
            mod.weight.copy_(1 + normal(mod.weight, 0.1))
            mod.bias.copy_(normal(mod.bias, 0.1))
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_mean.copy_(normal(mod.running_mean, 0.1))
            mod.running_var.copy_(0.5 + torch.rand(mod.running_var.shape, generator=gen))
    for name, p in model.named_parameters():
        if "layer_scale" in name:
            p.copy_(0.2 + 0.8 * torch.rand(p.shape, generator=gen))
        elif p.abs().max() < 1e-5:  # zero-initialised heads, biases, class tokens
            p.copy_(normal(p, 0.02 if p.dim() > 1 or "token" in name else 0.1))


class GELU32(nn.Module):
    """Exact GELU with the float32 divisor sqrt(2) that the exported graphs hold."""

    c = float(np.float32(np.sqrt(2.0)))

    def forward(self, x):
        return x * 0.5 * (1 + torch.erf(x / self.c))


def float64_model(model):
    m = copy.deepcopy(model)
    for parent in m.modules():
        for cname, child in parent.named_children():
            if isinstance(child, nn.GELU):
                assert child.approximate == "none"
                setattr(parent, cname, GELU32())
    for mod in m.modules():
        if isinstance(mod, (nn.LayerNorm, nn.BatchNorm2d)):
            mod.eps = float(np.float32(mod.eps))
    return m.double().eval()


def references(model, x, y, v):
    return mf.references(model, x, y, v)


def main():
    torch.set_num_threads(2)
    out = HERE
    meta = {
        "generator": "testdata/torch/make_transformer_fixtures.py",
        "versions": {"torch": torch.__version__, "torchvision": torchvision.__version__, "onnx": onnx.__version__,
                     "numpy": np.__version__, "python": sys.version.split()[0]},
        "seed": SEED,
        "grad_definition": "d/dx F.cross_entropy(logits, y, reduction='sum')",
        "vjp_definition": "(d logits / dx)^T v",
        "f64_definition": "the same module in float64 with GELU's divisor float32(sqrt 2) and float32-rounded "
                          "LayerNorm/BatchNorm eps; x and v cast to float64",
        "models": {},
    }
    for name, (build, shape, desc) in MODELS.items():
        log(f"== {name}")
        off = SEED_OFFSET[name]
        torch.manual_seed(SEED + off)
        gen = torch.Generator().manual_seed(SEED + 100 + off)
        model = build().eval()
        randomize(model, gen)
        x = torch.rand((N,) + shape, generator=gen)
        y = torch.randint(0, CLASSES, (N,), generator=gen)
        v = torch.randn((N, CLASSES), generator=gen)
        p = lambda suffix: os.path.join(out, f"{name}_{suffix}.npy")
        logits, grad, vjp, loss = references(model, x, y, v)
        for suffix, a in (("x", x), ("y", y), ("v", v), ("logits", logits), ("grad", grad), ("vjp", vjp)):
            mf.save_npy(p(suffix), a.numpy())
        m64 = float64_model(model)
        l64, g64, vjp64, loss64 = references(m64, x.double(), y, v.double())
        for suffix, a in (("logits_f64", l64), ("grad_f64", g64), ("vjp_f64", vjp64)):
            mf.save_npy(p(suffix), a.numpy())
        entry = dict(architecture=desc, input_shape=list(shape), parameters=sum(q.numel() for q in model.parameters()),
                     sum_ce_loss=loss, sum_ce_loss_f64=loss64,
                     max_abs_diff_f32_vs_f64=dict(logits=(logits.double() - l64).abs().max().item(),
                                                  grad=(grad.double() - g64).abs().max().item()),
                     onnx={})
        for op in OPSETS:
            info = mf.export(model, x[:1], os.path.join(out, f"{name}_op{op}.onnx"), op)
            entry["onnx"][f"op{op}"] = info
            log(f"    {info['file']}: {info['bytes']} bytes, {info['nodes']} nodes, ops {sorted(info['op_types'])}")
        meta["models"][name] = entry

    # advmatrix's vit reference architecture, as torchvision builds it.
    log("== vit_arch")
    off = SEED_OFFSET["vit_arch"]
    torch.manual_seed(SEED + off)
    gen = torch.Generator().manual_seed(SEED + 100 + off)
    model = tv_vit.VisionTransformer(image_size=28, patch_size=7, num_layers=4, num_heads=4, hidden_dim=64,
                                     mlp_dim=128, num_classes=CLASSES)
    model.conv_proj = nn.Conv2d(1, 64, kernel_size=7, stride=7)
    model.eval()
    randomize(model, gen)
    state = {k: t.detach().numpy().astype(np.float32) for k, t in model.state_dict().items()}
    np.savez(os.path.join(out, "vit_arch_weights.npz"), **state)
    x8 = torch.from_numpy(np.load(os.path.join(out, "mnist8_x.npy")))
    y8 = torch.from_numpy(np.load(os.path.join(out, "mnist8_y.npy")))
    v = torch.randn((x8.shape[0], CLASSES), generator=gen)
    logits, grad, vjp, _ = references(model, x8, y8, v)
    l64, g64, vjp64, _ = references(float64_model(model), x8.double(), y8, v.double())
    for suffix, a in (("v", v), ("logits", logits), ("grad", grad), ("vjp", vjp), ("logits_f64", l64),
                      ("grad_f64", g64), ("vjp_f64", vjp64)):
        mf.save_npy(os.path.join(out, f"vit_arch_{suffix}.npy"), a.numpy())
    meta["vit_arch"] = dict(
        architecture="torchvision VisionTransformer(image_size=28, patch_size=7, num_layers=4, num_heads=4, "
                     "hidden_dim=64, mlp_dim=128, num_classes=10), conv_proj = Conv2d(1, 64, 7, 7): advmatrix's "
                     "models.Build(\"vit\", [1, 28, 28], 10, seed)",
        weights="vit_arch_weights.npz (the state_dict, float32, names as PyTorch's)",
        input="mnist8_x.npy, mnist8_y.npy", parameters=sum(q.numel() for q in model.parameters()))
    with open(os.path.join(out, "transformer_metadata.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    log("done")


if __name__ == "__main__":
    main()
