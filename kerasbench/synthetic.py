"""A synthetic, learnable stand-in for CIFAR-10, written as an archive in the official binary format.

Each class has a smooth random prototype on a 40x40 canvas: a coarse colour layout shared by
classes 2k and 2k+1, plus oriented stripes of its own, so colour tells five groups apart and
the rest needs spatial features. An image is a random 32x32 crop of its class prototype,
blended with a random crop of another class's prototype (the distractor gets up to MIX_MAX of
the weight), then given random contrast, per-channel colour gain and brightness, and heavy
Gaussian pixel noise. When the distractor outweighs the class (mix > 0.5, about 2 images in
7) the image honestly looks like the other class, which caps accuracy near 72%: LeNet-5
learns the set over several epochs but cannot reach 100%.

Everything derives from one seed (numpy Generator); the same seed gives a byte-identical
archive (given the same numpy and zlib builds). Prototypes, the train split and the test split
draw from separate streams, so
changing the train count leaves the test images unchanged. Generation runs in chunks, so
memory stays small whatever the counts.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from kerasbench import cifar_format as fmt

CANVAS = 40             # prototypes are larger than an image, so crops shift the content
COARSE = 5              # the colour layout is a COARSE x COARSE grid, smoothly upsampled
GRATING = 0.35          # amplitude of the per-class oriented stripes (prototypes span 0..1)
MIX_MAX = 0.7           # the distractor class gets a weight drawn from U(0, MIX_MAX)
CONTRAST = (0.6, 1.4)   # per-image contrast factor, uniform
COLOUR_JITTER = 0.2     # per-image, per-channel contrast factor U(1 - j, 1 + j) on top
BRIGHTNESS = 0.08       # per-image brightness shift, Gaussian sd (fraction of full scale)
NOISE = 0.3             # per-pixel Gaussian noise sd (fraction of full scale)
CHUNK = 1000            # images generated at a time


def _upsample_matrix(coarse: int, fine: int) -> np.ndarray:
    """(fine, coarse) linear-interpolation weights between coarse grid points."""
    pos = np.linspace(0, coarse - 1, fine)
    eye = np.eye(coarse)
    return np.stack([np.interp(pos, np.arange(coarse), eye[j]) for j in range(coarse)], axis=1)


def prototypes(rng: np.random.Generator) -> np.ndarray:
    """(10, CANVAS, CANVAS, 3) float32 class prototypes in 0..1.

    Classes 2k and 2k+1 share a smooth colour layout and differ in their stripes (orientation
    at least 45 degrees apart, spacing, tint), so colour alone tells only five groups apart."""
    up = _upsample_matrix(COARSE, CANVAS)
    coarse = rng.uniform(0, 1, size=(5, COARSE, COARSE, 3))
    layout = np.repeat(np.einsum("ij,cjkl,mk->ciml", up, coarse, up), 2, axis=0)
    first = rng.uniform(0, np.pi, size=5)
    angle = np.stack([first, first + rng.uniform(np.pi / 4, 3 * np.pi / 4, size=5)], axis=1).ravel()
    cycles = rng.uniform(2, 5, size=10) / 32            # stripes per pixel
    phase = rng.uniform(0, 2 * np.pi, size=10)
    tint = rng.uniform(-1, 1, size=(10, 3))
    yy, xx = np.mgrid[0:CANVAS, 0:CANVAS]
    wave = np.sin(2 * np.pi * cycles[:, None, None] * (xx * np.cos(angle)[:, None, None]
                                                       + yy * np.sin(angle)[:, None, None]) + phase[:, None, None])
    protos = layout + GRATING * wave[..., None] * tint[:, None, None, :]
    lo = protos.min(axis=(1, 2, 3), keepdims=True)
    hi = protos.max(axis=(1, 2, 3), keepdims=True)
    return ((protos - lo) / (hi - lo)).astype(np.float32)


def _crops(windows: np.ndarray, classes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(n, 3, 32, 32) float32 random crops; `windows` is the 32x32 sliding-window view of the prototypes."""
    dy, dx = rng.integers(0, CANVAS - fmt.SIDE + 1, size=(2, len(classes)))
    return windows[classes, dy, dx]


def images(protos: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(n, 32, 32, 3) uint8 images of the given labels (in-place float32 arithmetic)."""
    n = len(labels)
    distractor = (labels + rng.integers(1, 10, size=n)) % 10
    mix = rng.uniform(0, MIX_MAX, size=(n, 1, 1, 1)).astype(np.float32)
    contrast = (rng.uniform(*CONTRAST, size=(n, 1, 1, 1))
                * rng.uniform(1 - COLOUR_JITTER, 1 + COLOUR_JITTER, size=(n, 3, 1, 1))).astype(np.float32)
    brightness = rng.normal(0, BRIGHTNESS, size=(n, 1, 1, 1)).astype(np.float32)
    windows = sliding_window_view(protos, (fmt.SIDE, fmt.SIDE), axis=(1, 2))  # (10, 9, 9, 3, 32, 32)
    other = _crops(windows, distractor, rng)
    img = _crops(windows, labels, rng)         # channels first here; returned as HWC
    img -= other                               # (1 - mix) * own + mix * other
    img *= 1 - mix
    img += other
    img -= 0.5                                 # contrast around mid-grey, then brightness
    img *= contrast
    img += 0.5 + brightness
    noise = rng.standard_normal(size=img.shape, dtype=np.float32)
    noise *= NOISE
    img += noise
    np.clip(img, 0, 1, out=img)
    img *= 255
    img += 0.5
    return img.transpose(0, 2, 3, 1).astype(np.uint8)


def balanced_labels(n: int, rng: np.random.Generator) -> np.ndarray:
    """n labels, each class n//10 or n//10+1 times, in random order (CIFAR-10 is balanced)."""
    return rng.permutation(np.arange(n) % 10).astype(np.uint8)


def _records(protos: np.ndarray, labels: np.ndarray, rng: np.random.Generator):
    for start, stop in fmt.iter_chunks(len(labels), CHUNK):
        yield fmt.encode(images(protos, labels[start:stop], rng), labels[start:stop])


def readme(seed: int, train: int, test: int) -> str:
    return ("<html><head><title>Synthetic CIFAR-10 stand-in</title></head><body>\n"
            "<p>SYNTHETIC DATA, not CIFAR-10 images. Generated by kerasbench (kerasbench/synthetic.py) "
            f"from seed {seed}: {train} training and {test} test images in the CIFAR-10 binary format, "
            "ten classes named after CIFAR-10's, each a noisy, shifted, blended class prototype.</p>\n"
            "</body></html>\n")


def build(path: Path | str, seed: int, train: int, test: int) -> None:
    """Write the synthetic archive to `path` (train split over the 5 data_batch files)."""
    if train < len(fmt.TRAIN_MEMBERS) or test < 1:
        raise ValueError(f"synthetic data needs at least {len(fmt.TRAIN_MEMBERS)} training images "
                         f"(one per data_batch file) and 1 test image, got train={train} test={test}")
    proto_rng, train_rng, test_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3))
    protos = prototypes(proto_rng)
    train_labels = balanced_labels(train, train_rng)
    test_labels = balanced_labels(test, test_rng)

    def members():
        start = 0
        for name, count in zip(fmt.TRAIN_MEMBERS, fmt.split_counts(train)):
            labels = train_labels[start:start + count]
            start += count
            yield fmt.chunk_member(name, count * fmt.RECORD_BYTES, _records(protos, labels, train_rng))
        yield fmt.chunk_member(fmt.TEST_MEMBER, test * fmt.RECORD_BYTES, _records(protos, test_labels, test_rng))
        yield fmt.bytes_member(fmt.META_MEMBER, ("\n".join(fmt.CLASS_NAMES) + "\n\n").encode())
        yield fmt.bytes_member(fmt.README_MEMBER, readme(seed, train, test).encode())

    fmt.write_archive(path, members())


