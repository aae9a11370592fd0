#!/usr/bin/env python3
"""Reference SSIM fixtures for report/ssim_test.go.

scikit-image is not installed on the machine that generated these, so this
script re-implements skimage.metrics.structural_similarity (scikit-image
0.19-0.24) with NumPy alone, following its algorithm step by step for the
defaults advmatrix uses:

    structural_similarity(a, b, data_range=1.0, channel_axis=0)
    win_size=7, gaussian_weights=False (scipy.ndimage.uniform_filter, mode
    'reflect' == numpy.pad mode 'symmetric'), K1=0.01, K2=0.03,
    use_sample_covariance=True (cov_norm = NP/(NP-1), NP = 7*7),
    S averaged over crop(S, 3), then the mean over channels.

Arithmetic is float64 (the images are float32 values widened to float64).
If scikit-image is available, the script also checks itself against it.

Run from the repository root:  /usr/bin/python3 metrics/testdata/ssim_ref.py
It writes report/testdata/ssim_fixture.json.
"""
import json
import numpy as np


def uniform_filter(img, size):
    """scipy.ndimage.uniform_filter(img, size, mode='reflect') for 2-D img."""
    r = size // 2
    out = img
    for axis in (0, 1):
        pad = [(0, 0), (0, 0)]
        pad[axis] = (r, r)
        p = np.pad(out, pad, mode="symmetric")
        n = out.shape[axis]
        acc = np.zeros_like(out)
        for k in range(size):
            sl = [slice(None), slice(None)]
            sl[axis] = slice(k, k + n)
            acc = acc + p[tuple(sl)]
        out = acc / size
    return out


def ssim_channel(x, y, win=7, k1=0.01, k2=0.03, data_range=1.0):
    x = x.astype(np.float64)
    y = y.astype(np.float64)
    ux = uniform_filter(x, win)
    uy = uniform_filter(y, win)
    uxx = uniform_filter(x * x, win)
    uyy = uniform_filter(y * y, win)
    uxy = uniform_filter(x * y, win)
    NP = win ** 2
    cov_norm = NP / (NP - 1)
    vx = cov_norm * (uxx - ux * ux)
    vy = cov_norm * (uyy - uy * uy)
    vxy = cov_norm * (uxy - ux * uy)
    C1 = (k1 * data_range) ** 2
    C2 = (k2 * data_range) ** 2
    A1, A2 = 2 * ux * uy + C1, 2 * vxy + C2
    B1, B2 = ux ** 2 + uy ** 2 + C1, vx + vy + C2
    S = (A1 * A2) / (B1 * B2)
    pad = (win - 1) // 2
    return S[pad:S.shape[0] - pad, pad:S.shape[1] - pad].mean(dtype=np.float64)


def ssim(a, b):
    """a, b: C x H x W."""
    return float(np.mean([ssim_channel(a[c], b[c]) for c in range(a.shape[0])]))


def main():
    rng = np.random.RandomState(20261128)
    cases = []

    def add(name, a, b):
        a = a.astype(np.float32)
        b = b.astype(np.float32)
        cases.append({
            "name": name,
            "shape": list(a.shape),
            "a": [float(v) for v in a.ravel()],
            "b": [float(v) for v in b.ravel()],
            "ssim": ssim(a, b),
        })

    # independent uniform noise
    add("noise-1x16x16", rng.rand(1, 16, 16), rng.rand(1, 16, 16))
    # smooth image plus small noise, clipped
    yy, xx = np.mgrid[0:20, 0:24]
    base = (0.5 + 0.4 * np.sin(xx / 3.0) * np.cos(yy / 4.0))[None]
    add("smooth+noise-1x20x24", base, np.clip(base + 0.05 * rng.randn(1, 20, 24), 0, 1))
    # colour, non-square
    a = rng.rand(3, 12, 10)
    add("colour-3x12x10", a, np.clip(a + 0.1 * rng.randn(3, 12, 10), 0, 1))
    # exactly the window size: one pixel survives the crop
    add("win-1x7x7", rng.rand(1, 7, 7), rng.rand(1, 7, 7))
    # inverted image
    add("invert-3x9x8", a[:, :9, :8], 1 - a[:, :9, :8])
    # sparse, MNIST-like digit blob vs blurred version
    d = np.zeros((1, 28, 28))
    d[0, 6:22, 12:16] = 1
    d[0, 6:9, 9:19] = 1
    add("digit-vs-shift-1x28x28", d, np.roll(d, 2, axis=2))
    # constant images (zero variance everywhere)
    add("const-1x8x8", np.full((1, 8, 8), 0.25), np.full((1, 8, 8), 0.75))

    try:
        from skimage.metrics import structural_similarity
        for c in cases:
            a = np.array(c["a"], dtype=np.float64).reshape(c["shape"])
            b = np.array(c["b"], dtype=np.float64).reshape(c["shape"])
            s = structural_similarity(a, b, data_range=1.0, channel_axis=0)
            assert abs(s - c["ssim"]) < 1e-12, (c["name"], s, c["ssim"])
        print("checked against scikit-image")
    except ImportError:
        print("scikit-image not installed: NumPy reference only")

    with open("report/testdata/ssim_fixture.json", "w") as f:
        json.dump({"generator": "metrics/testdata/ssim_ref.py", "numpy": np.__version__,
                   "cases": cases}, f)
    for c in cases:
        print(c["name"], c["ssim"])


if __name__ == "__main__":
    main()
