#!/usr/bin/python3
"""Writes test/metrics/reference.json: PSNR and SSIM from scikit-image, the independent reference
for src/metrics/. Run from the repository root:

    apt-get install -y python3-skimage python3-numpy python3-pil
    /usr/bin/python3 test/metrics/make-reference.py   # Debian's python, where apt installs skimage

Inputs are generated, not stored: a xorshift32 generator (mirrored in test/metrics/reference-inputs.ts)
makes float32 data, and the committed fixture photos are read as 8-bit RGB. The TypeScript test
rebuilds the same float32 inputs and checks their sums (refSum/testSum, sequential float64 sums)
before comparing. skimage is given the float32 values converted to float64, so its arithmetic is
float64 like vaecheck's.
"""
import json
import platform
import sys

import numpy as np
import scipy
import skimage
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

M32 = 0xFFFFFFFF


class XorShift32:
    """Marsaglia's xorshift32 (13, 17, 5); next() is in [0, 1)."""

    def __init__(self, seed):
        self.s = (seed & M32) or 1

    def next(self):
        x = self.s
        x ^= (x << 13) & M32
        x ^= x >> 17
        x ^= (x << 5) & M32
        self.s = x
        return x / 4294967296.0


def f32(values, shape):
    return np.array(values, dtype=np.float64).astype(np.float32).reshape(shape)


def clip(v, lo, hi):
    return lo if v < lo else hi if v > hi else v


def load_photo(path):
    """8-bit RGB PNG -> float32 CHW in [0, 1] (v / 255 rounded to float32)."""
    rgb = np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)
    return (rgb / 255.0).astype(np.float32).transpose(2, 0, 1).copy()


def make_inputs(case):
    kind, shape, rng = case["kind"], case["shape"], XorShift32(case.get("seed", 1))
    size = int(np.prod(shape))
    r, amp = case.get("range", 1.0), case.get("amp", 0.0)
    if kind == "photo-noise" or kind == "photo-posterize":
        ref = load_photo(case["source"])
        assert list(ref.shape) == shape, (ref.shape, shape)
    elif kind == "gradient-noise":
        c_, h, w = shape[-3:]
        vals = []
        for _ in range(size // (c_ * h * w)):
            for c in range(c_):
                for y in range(h):
                    for x in range(w):
                        vals.append((x + y + 8 * c) / (w + h + 16))
        ref = f32(vals, shape)
    else:
        ref = f32([rng.next() * r for _ in range(size)], shape)
    flat = [float(v) for v in ref.ravel()]
    if kind == "independent":
        test = f32([rng.next() * r for _ in range(size)], shape)
    elif kind == "photo-posterize":
        levels = case["levels"]
        test = f32([np.floor(v * levels + 0.5) / levels for v in flat], shape)
    else:
        test = f32([clip(v + amp * (2 * rng.next() - 1), 0.0, r) for v in flat], shape)
    return ref, test


def seq_sum(a):
    s = 0.0
    for v in a.ravel():
        s += float(v)
    return s


def ssim_planes(ref, test, r):
    planes = ref.reshape(-1, ref.shape[-2], ref.shape[-1]).astype(np.float64)
    tplanes = test.reshape(-1, test.shape[-2], test.shape[-1]).astype(np.float64)
    return [
        float(structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=r))
        for a, b in zip(planes, tplanes)
    ]


def ssim_whole(ref, test, r):
    """skimage's own per-channel averaging (channel_axis=0), then the mean over batch items."""
    imgs = ref.reshape(-1, *ref.shape[-3:]).astype(np.float64)
    timgs = test.reshape(-1, *test.shape[-3:]).astype(np.float64)
    vals = [
        structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=r, channel_axis=0)
        for a, b in zip(imgs, timgs)
    ]
    return float(np.mean(vals))


PHOTOS = ["chelsea", "coffee", "astronaut", "rocket"]
CASES = (
    [
        {"name": "uniform-noise", "kind": "noise", "shape": [3, 24, 24], "seed": 1, "amp": 0.05},
        {"name": "independent", "kind": "independent", "shape": [3, 24, 24], "seed": 2},
        {"name": "gradient-noise", "kind": "gradient-noise", "shape": [3, 24, 24], "seed": 3, "amp": 0.02},
        {"name": "range-255", "kind": "noise", "shape": [3, 24, 24], "seed": 4, "amp": 10.0, "range": 255.0},
        {"name": "batch-nchw", "kind": "noise", "shape": [2, 3, 16, 16], "seed": 5, "amp": 0.1},
        {"name": "non-square", "kind": "noise", "shape": [3, 20, 31], "seed": 6, "amp": 0.03},
        {"name": "window-size", "kind": "noise", "shape": [1, 11, 11], "seed": 7, "amp": 0.2},
    ]
    + [
        {"name": f"{p}-noise", "kind": "photo-noise", "shape": [3, 128, 128], "seed": 11 + i, "amp": 0.05,
         "source": f"fixtures/photos/{p}.png"}
        for i, p in enumerate(PHOTOS)
    ]
    + [
        {"name": f"{p}-64-posterize", "kind": "photo-posterize", "shape": [3, 64, 64], "levels": 16,
         "source": f"fixtures/photos/{p}-64.png"}
        for p in PHOTOS
    ]
)


def main():
    out = []
    for case in CASES:
        ref, test = make_inputs(case)
        r = case.get("range", 1.0)
        planes = ssim_planes(ref, test, r)
        out.append({
            **case,
            "refSum": seq_sum(ref),
            "testSum": seq_sum(test),
            "psnr": float(peak_signal_noise_ratio(ref.astype(np.float64), test.astype(np.float64), data_range=r)),
            "ssim": ssim_whole(ref, test, r),
            "ssimPlanes": planes,
        })
    doc = {
        "provenance": {
            "command": "/usr/bin/python3 test/metrics/make-reference.py",
            "skimage": skimage.__version__,
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "python": platform.python_version(),
            "source": "Debian bookworm packages python3-skimage, python3-numpy, python3-scipy, python3-pil",
            "psnr": "skimage.metrics.peak_signal_noise_ratio(ref, test, data_range=range) on float64 copies",
            "ssim": "skimage.metrics.structural_similarity(ref, test, gaussian_weights=True, sigma=1.5, "
                    "use_sample_covariance=False, data_range=range, channel_axis=0), mean over batch items; "
                    "ssimPlanes: the same per 2-D plane without channel_axis",
            "prng": "xorshift32 (13, 17, 5), next() = state / 2^32; see reference-inputs.ts",
        },
        "cases": out,
    }
    with open("test/metrics/reference.json", "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"wrote test/metrics/reference.json ({len(out)} cases, skimage {skimage.__version__})", file=sys.stderr)


if __name__ == "__main__":
    main()
