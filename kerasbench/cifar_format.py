"""The CIFAR-10 binary format: member names, the record layout, and a reproducible writer.

A record is 3,073 bytes: one label byte (0-9), then the red, green and blue planes of
1,024 bytes each, every plane row-major 32x32. The project hands images out as
height x width x channels (HWC) uint8, as Keras does.
"""
from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator

import numpy as np

FOLDER = "cifar-10-batches-bin"
TRAIN_MEMBERS = tuple(f"{FOLDER}/data_batch_{i}.bin" for i in range(1, 6))
TEST_MEMBER = f"{FOLDER}/test_batch.bin"
META_MEMBER = f"{FOLDER}/batches.meta.txt"
README_MEMBER = f"{FOLDER}/readme.html"
DATA_MEMBERS = TRAIN_MEMBERS + (TEST_MEMBER,)
REQUIRED_MEMBERS = DATA_MEMBERS + (META_MEMBER,)
ALLOWED_MEMBERS = REQUIRED_MEMBERS + (README_MEMBER,)

CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
SIDE = 32
CHANNELS = 3
PIXELS = SIDE * SIDE * CHANNELS
RECORD_BYTES = 1 + PIXELS  # 3,073

# Level 0 (stored): pixel data is noise-like, level 1 saved 2% of the size at 5 s per 60,000
# images here; stored blocks also keep the bytes independent of the zlib build.
GZIP_LEVEL = 0


def encode(images: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(n, 32, 32, 3) uint8 HWC images and (n,) labels -> (n, 3073) uint8 records."""
    images, labels = np.asarray(images), np.asarray(labels)
    if images.dtype != np.uint8 or images.shape[1:] != (SIDE, SIDE, CHANNELS) or labels.shape != images.shape[:1]:
        raise ValueError(f"expected uint8 images (n, 32, 32, 3) and labels (n,), got {images.dtype} "
                         f"{images.shape} and {labels.shape}")
    if labels.size and not (labels.min() >= 0 and labels.max() <= 9):
        raise ValueError("labels must lie in 0..9")
    records = np.empty((len(images), RECORD_BYTES), np.uint8)
    records[:, 0] = labels
    records[:, 1:] = images.transpose(0, 3, 1, 2).reshape(len(images), PIXELS)
    return records


def decode_into(records: np.ndarray, images: np.ndarray, labels: np.ndarray) -> None:
    """Decode (k, 3073) records into preallocated HWC `images` (k, 32, 32, 3) and `labels` (k,)."""
    labels[...] = records[:, 0]
    images[...] = records[:, 1:].reshape(len(records), CHANNELS, SIDE, SIDE).transpose(0, 2, 3, 1)


class _ChunkStream(io.RawIOBase):
    """A read-only stream over an iterator of byte-like chunks (numpy arrays included), so a
    member can be written while it is generated instead of being held whole in memory."""

    def __init__(self, chunks: Iterable):
        self._chunks = iter(chunks)
        self._left = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._left:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._left = memoryview(np.ascontiguousarray(chunk)).cast("B")
        n = min(len(buffer), len(self._left))
        buffer[:n] = self._left[:n]
        self._left = self._left[n:]
        return n


def chunk_member(name: str, size: int, chunks: Iterable) -> tuple[str, int, BinaryIO]:
    """A member whose `size` bytes come from `chunks` (must add up to exactly `size`)."""
    return name, size, io.BufferedReader(_ChunkStream(chunks), buffer_size=1 << 20)


def bytes_member(name: str, data: bytes) -> tuple[str, int, BinaryIO]:
    return name, len(data), io.BytesIO(data)


def _info(name: str, size: int = 0, directory: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.type = tarfile.DIRTYPE if directory else tarfile.REGTYPE
    info.mode = 0o755 if directory else 0o644
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def write_archive(path: Path | str, members: Iterable[tuple[str, int, BinaryIO]]) -> None:
    """Write a tar.gz with the folder entry and `members` (name, size, stream), byte-identical
    for identical input: fixed member metadata, USTAR headers, gzip mtime 0 and no file name."""
    with open(path, "wb") as raw, \
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=GZIP_LEVEL) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        tar.addfile(_info(FOLDER, directory=True))
        for name, size, stream in members:
            tar.addfile(_info(name, size), stream)


def split_counts(total: int, parts: int = len(TRAIN_MEMBERS)) -> list[int]:
    """Split `total` records over `parts` files as evenly as possible, earlier files first."""
    base, extra = divmod(total, parts)
    return [base + (i < extra) for i in range(parts)]


def iter_chunks(n: int, size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, n, size):
        yield start, min(start + size, n)
