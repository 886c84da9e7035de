"""Stage `prepare`: the CIFAR-10 binary archive -> one .npz of uint8 arrays and a JSON record.

usage: python -m stages.prepare <archive> <archive_json> <out_npz> <out_json>

The archive is read straight from the tar.gz (nothing is extracted, nothing unpickled).
Its members are checked one by one as their headers are read, before any pixel is decoded:
exactly the official names, regular files only, whole 3,073-byte records, no member larger than
the format allows (10,000 records; small text files), and no more members than the format has,
so a crafted archive is refused at its first bad header, not after listing or expanding it all.
After decoding, the rest of the compressed stream is read, so a gzip CRC error fails prepare.
Output arrays are allocated once at their final size and each member is decoded into its slice
in small chunks, so peak
memory stays close to the size of the arrays written. data.limit_train / data.limit_test
keep the FIRST N images of each split (train in data_batch_1..5 order, then record order).
"""
from __future__ import annotations

import hashlib
import json
import posixpath
import re
import sys
import tarfile
import zlib
from pathlib import Path

import numpy as np

from kerasbench import cifar_format as fmt
from kerasbench import guard, plan
from kerasbench.files import atomic_path, write_text
from kerasbench.params import load_or_exit

PARAMS = ("data.limit_train", "data.limit_test")   # its `params:` in dvc.yaml (tests/test_lint.py)

CHUNK_RECORDS = 1024          # records decoded at a time (3 MiB)
META_MAX_BYTES = 64 * 1024    # batches.meta.txt is ten short lines
CLASS_NAME_MAX = 32           # CIFAR's longest is "automobile"
CLASS_NAME = re.compile(rf"[\w .'-]{{1,{CLASS_NAME_MAX}}}")   # \w: letters and digits of any script, and _
README_MAX_BYTES = 64 * 1024  # readme.html is one line
RECORDS_MAX = 10_000          # records per data file in the CIFAR-10 binary format
MEMBERS_MAX = len(fmt.ALLOWED_MEMBERS) + 2   # the files, their folder, and one "." entry some tools add
USAGE = "usage: python -m stages.prepare <archive> <archive_json> <out_npz> <out_json>"


class ArchiveError(ValueError):
    """A problem with the input archive, worded for the user (one line)."""


def _kind(member: tarfile.TarInfo) -> str:
    if member.issym():
        return f"a symbolic link to {member.linkname!r}"
    if member.islnk():
        return f"a hard link to {member.linkname!r}"
    if member.isdir():
        return "a directory"
    if member.issparse():
        return "a sparse file"
    return "a device, FIFO or other special file"


def bounded(tar: tarfile.TarFile):
    """The archive's members, read header by header, refused once there are more than the format has."""
    count = 0
    while (member := tar.next()) is not None:
        count += 1
        if count > MEMBERS_MAX:
            raise ArchiveError(f"more than {MEMBERS_MAX} members; the CIFAR-10 binary archive has "
                               f"{len(fmt.ALLOWED_MEMBERS)} files in one folder")
        yield member


def check_members(members) -> dict[str, tarfile.TarInfo]:
    """The archive's members by (normalised) name, or ArchiveError naming the first bad one (each member is
    checked as it comes, before the next header is read)."""
    found: dict[str, tarfile.TarInfo] = {}
    for member in members:
        name = member.name
        if name.startswith("/") or posixpath.isabs(name):
            raise ArchiveError(f"member {name!r} has an absolute path")
        if ".." in name.split("/"):
            raise ArchiveError(f"member {name!r} has '..' in its path")
        clean = posixpath.normpath(name)
        if member.isdir() and clean in (".", fmt.FOLDER):
            continue
        if not member.isfile() or member.issparse():
            raise ArchiveError(f"member {name!r} is {_kind(member)}; only regular files are allowed")
        if clean not in fmt.ALLOWED_MEMBERS:
            raise ArchiveError(f"unexpected member {name!r}; expected only {fmt.FOLDER}/ with data_batch_1..5.bin, "
                               f"test_batch.bin, batches.meta.txt and readme.html")
        if clean in found:
            raise ArchiveError(f"member {name!r} appears twice")
        limit = {fmt.META_MEMBER: META_MAX_BYTES, fmt.README_MEMBER: README_MAX_BYTES}.get(
            clean, RECORDS_MAX * fmt.RECORD_BYTES)
        if member.size > limit:
            raise ArchiveError(f"member {name!r} declares {member.size:,} bytes, more than the format allows "
                               f"({limit:,})")
        found[clean] = member
    missing = [name for name in fmt.REQUIRED_MEMBERS if name not in found]
    if missing:
        raise ArchiveError(f"missing member(s) {', '.join(missing)}")
    for name in fmt.DATA_MEMBERS:
        size = found[name].size
        if size == 0 or size % fmt.RECORD_BYTES:
            raise ArchiveError(f"member {name!r} holds {size:,} bytes, not a whole non-zero number "
                               f"of {fmt.RECORD_BYTES:,}-byte records")
    return found


def parse_class_names(name: str, raw: bytes) -> list[str]:
    try:
        lines = raw.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        raise ArchiveError(f"member {name!r} is not UTF-8 text") from None
    while lines and not lines[-1].strip():
        lines.pop()
    names = [line.strip() for line in lines]
    if len(names) != 10 or not all(names) or len(set(names)) != 10:
        raise ArchiveError(f"member {name!r} must list 10 distinct class names, one per line; "
                           f"found {len(names)}: {[n[:40] for n in names[:12]]}")
    for number, class_name in enumerate(names):
        if not CLASS_NAME.fullmatch(class_name):
            raise ArchiveError(f"member {name!r}: class name {number} ({class_name[:40]!r}) may hold only letters, "
                               f"digits, spaces and _ - . ' (at most {CLASS_NAME_MAX} characters): it is shown in "
                               "the report as it is")
    return names


def _limit(limit: int | None, available: int, key: str, split: str) -> int:
    if limit is None:
        return available
    if limit > available:
        raise ArchiveError(f"{key} is {limit:,} but the archive's {split} split holds only {available:,} images")
    return limit


def _decode_member(tar: tarfile.TarFile, member: tarfile.TarInfo, name: str,
                   images: np.ndarray, labels: np.ndarray) -> None:
    """Decode the first len(images) records of `member` into `images`/`labels`, chunk by chunk."""
    buffer = np.empty((CHUNK_RECORDS, fmt.RECORD_BYTES), np.uint8)
    stream = tar.extractfile(member)
    for start, stop in fmt.iter_chunks(len(images), CHUNK_RECORDS):
        records = buffer[:stop - start]
        got = stream.readinto(memoryview(records).cast("B"))
        if got != records.nbytes:
            raise ArchiveError(f"member {name!r} ended early (archive truncated?)")
        bad = np.flatnonzero(records[:, 0] > 9)
        if bad.size:
            raise ArchiveError(f"member {name!r}: record {start + bad[0]} has label {records[bad[0], 0]}, "
                               f"expected 0..9")
        fmt.decode_into(records, images[start:stop], labels[start:stop])


def read_archive(path: Path | str, limit_train: int | None = None, limit_test: int | None = None) -> dict:
    """x_train, y_train, x_test, y_test (uint8, HWC images) and class_names from the archive."""
    try:
        with tarfile.open(path, "r:gz") as tar:
            members = check_members(bounded(tar))
            counts = {name: members[name].size // fmt.RECORD_BYTES for name in fmt.DATA_MEMBERS}
            n_train = _limit(limit_train, sum(counts[n] for n in fmt.TRAIN_MEMBERS), "data.limit_train", "train")
            n_test = _limit(limit_test, counts[fmt.TEST_MEMBER], "data.limit_test", "test")
            out = {"x_train": np.empty((n_train, fmt.SIDE, fmt.SIDE, fmt.CHANNELS), np.uint8),
                   "y_train": np.empty(n_train, np.uint8),
                   "x_test": np.empty((n_test, fmt.SIDE, fmt.SIDE, fmt.CHANNELS), np.uint8),
                   "y_test": np.empty(n_test, np.uint8)}
            # Where each member's records land: train members fill the split in batch order.
            plan, start = {}, 0
            for name in fmt.TRAIN_MEMBERS:
                take = max(0, min(counts[name], n_train - start))
                plan[name] = ("x_train", "y_train", start, start + take)
                start += take
            plan[fmt.TEST_MEMBER] = ("x_test", "y_test", 0, n_test)
            # Visit members in archive order, so the compressed stream is read forward only.
            for name in sorted(plan.keys() | {fmt.META_MEMBER}, key=lambda n: members[n].offset_data):
                if name == fmt.META_MEMBER:
                    names = parse_class_names(name, tar.extractfile(members[name]).read())
                    continue
                x_key, y_key, lo, hi = plan[name]
                if hi > lo:
                    _decode_member(tar, members[name], name, out[x_key][lo:hi], out[y_key][lo:hi])
            while tar.fileobj.read(1 << 20):   # to the end of the gzip stream: its CRC is checked there
                pass
    except (tarfile.TarError, EOFError, zlib.error, OSError) as err:
        raise ArchiveError(f"{path}: not a readable tar.gz archive ({type(err).__name__}: {err})") from None
    out["class_names"] = np.array(names)
    return out


def read_archive_record(path: Path) -> dict:
    """The download stage's JSON about the archive, checked for the keys prepare relies on."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ArchiveError(f"{path}: cannot read the archive's JSON record ({err})") from None
    expected = {"source": str, "md5": str, "sha256": str, "bytes": int, "synthetic": bool}
    for key, kind in expected.items():
        if not isinstance(record, dict) or not isinstance(record.get(key), kind):
            raise ArchiveError(f"{path}: key '{key}' missing or not a {kind.__name__}")
    return record


def check_archive_matches(archive: Path, record: dict, record_path: Path) -> None:
    """The archive must be the one its JSON describes (size, then SHA-256)."""
    size = archive.stat().st_size
    if size != record["bytes"]:
        raise ArchiveError(f"{archive} is {size:,} bytes but {record_path} says {record['bytes']:,}; "
                           f"rerun the download stage")
    with open(archive, "rb") as f:
        sha256 = hashlib.file_digest(f, "sha256").hexdigest()
    if sha256 != record["sha256"]:
        raise ArchiveError(f"{archive} has SHA-256 {sha256} but {record_path} says {record['sha256']}; "
                           f"rerun the download stage")


def summary(record: dict, arrays: dict, limit_train: int | None, limit_test: int | None) -> dict:
    names = [str(n) for n in arrays["class_names"]]

    def counts(labels: np.ndarray) -> dict[str, int]:
        return dict(zip(names, map(int, np.bincount(labels, minlength=10))))

    return {"source": record["source"], "md5": record["md5"], "sha256": record["sha256"],
            "synthetic": record["synthetic"],
            "train": len(arrays["y_train"]), "test": len(arrays["y_test"]),
            "counts": {"train": counts(arrays["y_train"]), "test": counts(arrays["y_test"])},
            "limit_train": limit_train, "limit_test": limit_test}


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 4:
        sys.exit(USAGE)
    archive, archive_json, out_npz, out_json = map(Path, args)
    guard.start([out_npz, out_json], "prepare")
    data = plan.settings(load_or_exit("params.yaml"), "prepare", PARAMS).data
    for stale in (out_npz, out_json):  # a failed run must not leave a previous run's output behind
        stale.unlink(missing_ok=True)
    try:
        record = read_archive_record(archive_json)
        check_archive_matches(archive, record, archive_json)
        arrays = read_archive(archive, data.limit_train, data.limit_test)
        with atomic_path(out_npz, ".npz") as tmp_npz:   # one file at a time: a failed write names its own
            np.savez(tmp_npz, **arrays)
        write_text(out_json, json.dumps(summary(record, arrays, data.limit_train, data.limit_test), indent=2) + "\n")
    except BaseException as err:
        out_npz.unlink(missing_ok=True)
        out_json.unlink(missing_ok=True)
        if isinstance(err, (ArchiveError, OSError)):
            sys.exit(f"error: {err}")
        raise
    print(f"prepare: {len(arrays['y_train']):,} train + {len(arrays['y_test']):,} test images"
          f"{' (SYNTHETIC)' if record['synthetic'] else ''} -> {out_npz}")


if __name__ == "__main__":
    guard.run(main)
