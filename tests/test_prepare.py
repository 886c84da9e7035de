"""Stage `prepare`: decoding, archive hygiene, limits, the synthetic source, and the two data stages under DVC."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from kerasbench import cifar_format as fmt
from kerasbench import synthetic
from stages import download, prepare
from tests.helpers import BIN, sh, tool_env

REPO = Path(__file__).resolve().parents[1]
NPZ = Path("data/prepared/cifar10.npz")
NPZ_JSON = Path("data/prepared/cifar10.json")


@pytest.fixture
def stage(tmp_path, monkeypatch, write_params):
    """run(archive_path, data_changes) runs prepare in tmp_path on the archive (with a matching
    archive JSON) and returns (arrays, json)."""
    monkeypatch.chdir(tmp_path)

    def run(archive: Path, data: dict | None = None, synthetic_flag: bool = False, record_changes: dict | None = None):
        write_params(tmp_path, {"data": data or {}})
        record = {"source": str(archive), **download.digests(archive), "synthetic": synthetic_flag,
                  **(record_changes or {})}
        Path("archive.json").write_text(json.dumps(record))
        prepare.main([str(archive), "archive.json", str(NPZ), str(NPZ_JSON)])
        with np.load(NPZ, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
        return arrays, json.loads(NPZ_JSON.read_text())
    return run


def fails(run, archive: Path, data: dict | None = None, **kwargs) -> str:
    """Run prepare expecting a one-line 'error: ...' exit and no output at all."""
    with pytest.raises(SystemExit) as exc:
        run(archive, data, **kwargs)
    message = str(exc.value.code)
    assert message.startswith("error: ") and "\n" not in message
    assert not NPZ.exists() and not NPZ_JSON.exists()
    assert not NPZ.parent.exists() or list(NPZ.parent.iterdir()) == []  # no temporary files either
    return message


# ---------------------------------------------------------------- decoding

def _record(label: int, pixels: dict[tuple[int, int, int], int]) -> bytes:
    """One record built by hand from the documented layout: label, then R, G, B planes row-major."""
    record = bytearray(fmt.RECORD_BYTES)
    record[0] = label
    for (row, col, channel), value in pixels.items():
        record[1 + channel * 1024 + row * 32 + col] = value
    return bytes(record)


def test_decodes_known_pixels_at_known_positions(stage, make_archive):
    marks = [  # (label, {(row, column, channel): value}) per image, train then test
        (3, {(0, 0, 0): 11, (0, 1, 1): 12, (1, 0, 2): 13}),
        (0, {(31, 31, 0): 21, (31, 0, 1): 22, (0, 31, 2): 23}),
        (9, {(5, 7, 0): 31, (5, 7, 1): 32, (5, 7, 2): 33}),
        (1, {(16, 2, 2): 255}),
        (7, {(2, 16, 0): 1}),
        (4, {(10, 20, 1): 200}),                             # data_batch_5 holds two images
        (5, {(20, 10, 0): 100, (20, 10, 2): 50}),
        (8, {(31, 30, 1): 77}),                              # test_batch
        (2, {(0, 0, 2): 99}),
    ]
    records = [_record(label, pixels) for label, pixels in marks]
    replace = {name: data for name, data in zip(fmt.TRAIN_MEMBERS, [records[0], records[1], records[2],
                                                                     records[3], records[4] + records[5]])}
    replace[fmt.TEST_MEMBER] = records[6] + records[7] + records[8]
    arrays, record = stage(make_archive(replace=replace).path)
    expected = np.zeros((len(marks), 32, 32, 3), np.uint8)
    for i, (_, pixels) in enumerate(marks):
        for (row, col, channel), value in pixels.items():
            expected[i, row, col, channel] = value
    assert arrays["x_train"].shape == (6, 32, 32, 3) and arrays["x_train"].dtype == np.uint8
    np.testing.assert_array_equal(arrays["x_train"], expected[:6])
    np.testing.assert_array_equal(arrays["x_test"], expected[6:])
    np.testing.assert_array_equal(arrays["y_train"], [3, 0, 9, 1, 7, 4])
    np.testing.assert_array_equal(arrays["y_test"], [5, 8, 2])
    assert list(arrays["class_names"]) == list(fmt.CLASS_NAMES)
    assert record["train"] == 6 and record["test"] == 3


def test_random_archive_round_trips_and_json_is_complete(stage, make_archive):
    archive = make_archive(train=(4, 3, 2, 1, 5), test=6)
    arrays, record = stage(archive.path)
    np.testing.assert_array_equal(arrays["x_train"], archive.x_train)
    np.testing.assert_array_equal(arrays["y_train"], archive.y_train)
    np.testing.assert_array_equal(arrays["x_test"], archive.x_test)
    np.testing.assert_array_equal(arrays["y_test"], archive.y_test)
    assert set(arrays) == {"x_train", "y_train", "x_test", "y_test", "class_names"}
    digests = download.digests(archive.path)
    assert record == {
        "source": str(archive.path), "md5": archive.md5, "sha256": digests["sha256"], "synthetic": False,
        "train": 15, "test": 6,
        "counts": {"train": dict(zip(fmt.CLASS_NAMES, np.bincount(archive.y_train, minlength=10).tolist())),
                   "test": dict(zip(fmt.CLASS_NAMES, np.bincount(archive.y_test, minlength=10).tolist()))},
        "limit_train": None, "limit_test": None}


def test_class_names_come_from_the_archive_and_trailing_blank_lines_are_ignored(stage, make_archive):
    names = [f"class{i}" for i in range(10)]
    arrays, record = stage(make_archive(meta="\n".join(names) + "\n\n\n").path)
    assert list(arrays["class_names"]) == names
    assert list(record["counts"]["train"]) == names


@pytest.mark.parametrize("hostile", ["truck|0.999", "[click](http://127.0.0.1:9/x)", "<img src=x onerror=alert(1)>",
                                     "a" * 33, "tab\there", "`code`", "![p](http://127.0.0.1:9/p.gif)"])
def test_a_class_name_that_could_be_markup_is_refused_naming_the_member(stage, make_archive, hostile):
    names = [f"class{i}" for i in range(9)] + [hostile]
    message = fails(stage, make_archive(meta="\n".join(names) + "\n").path)
    assert "batches.meta.txt': class name 9 (" in message and "may hold only letters, digits, spaces" in message


def test_unicode_and_cifar100_style_class_names_are_kept(stage, make_archive):
    names = ["aquarium_fish", "maple tree", "Schäferhund", "bébé", "o'clock", "t-shirt", "3.5 inch", "猫", "x", "y"]
    arrays, _ = stage(make_archive(meta="\n".join(names) + "\n").path)
    assert list(arrays["class_names"]) == names


def test_a_full_disk_names_the_file_that_did_not_fit(stage, make_archive, monkeypatch):
    import errno

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(prepare.np, "savez", no_space)
    from kerasbench.guard import OutputError
    with pytest.raises(OutputError) as exc:      # guard.run prints it as one "error: ..." line
        stage(make_archive().path)
    assert str(exc.value).startswith(f"cannot write {NPZ}: no space left on the device")
    assert "cifar10.json" not in str(exc.value)
    assert not NPZ.exists() and not NPZ_JSON.exists() and list(NPZ.parent.iterdir()) == []


def test_member_order_in_the_archive_does_not_matter(stage, make_archive, tmp_path):
    archive = make_archive()
    shuffled = tmp_path / "shuffled.tar.gz"
    with tarfile.open(archive.path) as tar, tarfile.open(shuffled, "w:gz") as out:
        for member in reversed(tar.getmembers()):
            out.addfile(member, tar.extractfile(member) if member.isfile() else None)
    arrays, _ = stage(shuffled)
    np.testing.assert_array_equal(arrays["x_train"], archive.x_train)
    np.testing.assert_array_equal(arrays["y_test"], archive.y_test)


# ---------------------------------------------------------------- limits

def test_limits_keep_the_first_images_of_each_split(stage, make_archive):
    archive = make_archive(train=(3, 2, 2, 2, 1), test=4)
    arrays, record = stage(archive.path, {"limit_train": 6, "limit_test": 2})
    np.testing.assert_array_equal(arrays["x_train"], archive.x_train[:6])  # spans three batch files
    np.testing.assert_array_equal(arrays["y_train"], archive.y_train[:6])
    np.testing.assert_array_equal(arrays["x_test"], archive.x_test[:2])
    assert record["train"] == 6 and record["test"] == 2
    assert record["limit_train"] == 6 and record["limit_test"] == 2
    assert sum(record["counts"]["train"].values()) == 6


def test_limit_equal_to_the_split_keeps_everything(stage, make_archive):
    archive = make_archive(train=(3, 2, 2, 2, 1), test=4)
    arrays, _ = stage(archive.path, {"limit_train": 10, "limit_test": 4})
    np.testing.assert_array_equal(arrays["x_train"], archive.x_train)


@pytest.mark.parametrize("key, value, split, size", [("limit_train", 11, "train", 10), ("limit_test", 5, "test", 4)])
def test_limit_larger_than_the_split_fails(stage, make_archive, key, value, split, size):
    message = fails(stage, make_archive(train=(3, 2, 2, 2, 1), test=4).path, {key: value})
    assert f"data.{key} is {value}" in message and f"{split} split holds only {size}" in message


# ---------------------------------------------------------------- bad archives

def regular(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def _link(name: str, target: str, kind: bytes) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, None


BAD_ARCHIVES = {  # id: (make_archive kwargs, text the message must contain)
    "dotdot": (dict(extra=[regular("cifar-10-batches-bin/../evil.txt", b"x")]),
               "member 'cifar-10-batches-bin/../evil.txt' has '..' in its path"),
    "absolute": (dict(extra=[regular("/tmp/evil.txt", b"x")]), "member '/tmp/evil.txt' has an absolute path"),
    "symlink": (dict(drop=[fmt.TEST_MEMBER], extra=[_link(fmt.TEST_MEMBER, "/etc/passwd", tarfile.SYMTYPE)]),
                f"member '{fmt.TEST_MEMBER}' is a symbolic link to '/etc/passwd'"),
    "hardlink": (dict(drop=[fmt.TEST_MEMBER], extra=[_link(fmt.TEST_MEMBER, fmt.TRAIN_MEMBERS[0], tarfile.LNKTYPE)]),
                 f"member '{fmt.TEST_MEMBER}' is a hard link to '{fmt.TRAIN_MEMBERS[0]}'"),
    "fifo": (dict(extra=[_link("cifar-10-batches-bin/pipe", "", tarfile.FIFOTYPE)]),
             "member 'cifar-10-batches-bin/pipe' is a device, FIFO or other special file"),
    "missing": (dict(drop=[fmt.TRAIN_MEMBERS[2]]), f"missing member(s) {fmt.TRAIN_MEMBERS[2]}"),
    "missing-meta": (dict(drop=[fmt.META_MEMBER]), f"missing member(s) {fmt.META_MEMBER}"),
    "record-size": (dict(replace={fmt.TRAIN_MEMBERS[1]: b"\0" * (2 * fmt.RECORD_BYTES + 5)}),
                    f"member '{fmt.TRAIN_MEMBERS[1]}' holds 6,151 bytes, not a whole non-zero number of 3,073-byte"),
    "empty-member": (dict(replace={fmt.TEST_MEMBER: b""}), f"member '{fmt.TEST_MEMBER}' holds 0 bytes"),
    "junk": (dict(extra=[regular("cifar-10-batches-bin/junk.bin", b"junk")]),
             "unexpected member 'cifar-10-batches-bin/junk.bin'"),
    "outside-folder": (dict(extra=[regular("data_batch_1.bin", b"\0" * fmt.RECORD_BYTES)]),
                       "unexpected member 'data_batch_1.bin'"),
    "duplicate": (dict(extra=[regular(fmt.TRAIN_MEMBERS[0], b"\0" * fmt.RECORD_BYTES)]),
                  f"member '{fmt.TRAIN_MEMBERS[0]}' appears twice"),
    "bad-label": (dict(replace={fmt.TRAIN_MEMBERS[3]: _record(1, {}) + _record(10, {})}),
                  f"member '{fmt.TRAIN_MEMBERS[3]}': record 1 has label 10, expected 0..9"),
    "nine-classes": (dict(meta="\n".join(fmt.CLASS_NAMES[:9]) + "\n"),
                     f"member '{fmt.META_MEMBER}' must list 10 distinct class names, one per line; found 9"),
    "eleven-classes": (dict(meta="\n".join(fmt.CLASS_NAMES + ("extra",))), "found 11"),
    "blank-class": (dict(meta="\n".join(fmt.CLASS_NAMES[:4] + ("",) + fmt.CLASS_NAMES[5:])), "10 distinct class names"),
}


@pytest.mark.parametrize("kwargs, expected", BAD_ARCHIVES.values(), ids=BAD_ARCHIVES.keys())
def test_bad_archive_fails_naming_the_member(stage, make_archive, kwargs, expected):
    assert expected in fails(stage, make_archive(**kwargs).path)


def test_not_a_tar_gz_fails(stage, tmp_path):
    path = tmp_path / "noise.tar.gz"
    path.write_bytes(os.urandom(5000))
    assert "not a readable tar.gz archive" in fails(stage, path)


def test_a_member_larger_than_the_format_is_refused_at_its_header(stage, make_archive):
    """A 0.1 MB archive of zeros declaring 10,001 records: refused before a byte of it is decoded."""
    archive = make_archive(replace={fmt.TRAIN_MEMBERS[0]: b"\0" * (10_001 * fmt.RECORD_BYTES)})
    assert archive.path.stat().st_size < 200_000
    started = time.perf_counter()
    message = fails(stage, archive.path)
    assert f"member '{fmt.TRAIN_MEMBERS[0]}' declares 30,733,073 bytes, more than the format allows (30,730,000)" \
        in message and time.perf_counter() - started < 5
    readme = make_archive(replace={fmt.README_MEMBER: b"x" * 100_000})
    assert "readme.html' declares 100,000 bytes, more than the format allows (65,536)" in fails(stage, readme.path)


def test_an_archive_with_more_members_than_the_format_is_refused_early(stage, make_archive):
    """Thousands of entries: refused at the eleventh header, not after listing them all."""
    extra = [regular(f"cifar-10-batches-bin/x{i}", b"") for i in range(5000)]
    archive = make_archive(drop=[fmt.README_MEMBER], extra=extra)
    started = time.perf_counter()
    message = fails(stage, archive.path)
    assert "unexpected member 'cifar-10-batches-bin/x0'" in message   # the first bad header is named at once
    assert time.perf_counter() - started < 5
    many = make_archive(extra=[regular(fmt.README_MEMBER.replace("readme", f"readme{i}"), b"") for i in range(3)])
    assert "unexpected member" in fails(stage, many.path)


def test_too_many_members_are_refused_by_count(tmp_path):
    import io
    path = tmp_path / "many.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for _ in range(20):
            info = tarfile.TarInfo(fmt.FOLDER)
            info.type = tarfile.DIRTYPE
            tar.addfile(info, io.BytesIO())
    with tarfile.open(path, "r:gz") as tar, pytest.raises(prepare.ArchiveError) as exc:
        list(prepare.bounded(tar))
    assert str(exc.value) == "more than 10 members; the CIFAR-10 binary archive has 8 files in one folder"


def test_a_gzip_crc_error_fails_prepare(stage, make_archive, tmp_path):
    data = bytearray(make_archive().path.read_bytes())
    data[-8] ^= 0xFF   # the gzip trailer's CRC-32 of the uncompressed stream
    path = tmp_path / "crc.tar.gz"
    path.write_bytes(bytes(data))
    message = fails(stage, path)
    assert "not a readable tar.gz archive" in message and "CRC" in message, message


def test_truncated_archive_fails(stage, make_archive, tmp_path):
    data = make_archive(train=(30, 30, 30, 30, 30), test=30).path.read_bytes()
    path = tmp_path / "cut.tar.gz"
    path.write_bytes(data[:len(data) // 2])
    assert "not a readable tar.gz archive" in fails(stage, path)


@pytest.mark.parametrize("changes, expected", [({"bytes": 1}, "says 1; rerun the download stage"),
                                              ({"sha256": "0" * 64}, f"says {'0' * 64}; rerun the download stage"),
                                              ({"synthetic": "no"}, "key 'synthetic' missing or not a bool")])
def test_archive_that_does_not_match_its_json_fails(stage, make_archive, changes, expected):
    assert expected in fails(stage, make_archive().path, record_changes=changes)


def test_failure_removes_outputs_of_an_earlier_run(stage, make_archive):
    stage(make_archive().path)
    assert NPZ.exists() and NPZ_JSON.exists()
    fails(stage, make_archive(drop=[fmt.TEST_MEMBER]).path)


# ---------------------------------------------------------------- synthetic source

def test_synthetic_archive_is_deterministic(tmp_path):
    paths = {name: tmp_path / f"{name}.tar.gz" for name in ("a", "b", "other")}
    synthetic.build(paths["a"], seed=0, train=25, test=10)
    synthetic.build(paths["b"], seed=0, train=25, test=10)
    synthetic.build(paths["other"], seed=1, train=25, test=10)
    assert paths["a"].read_bytes() == paths["b"].read_bytes()
    assert paths["a"].read_bytes() != paths["other"].read_bytes()
    with tarfile.open(paths["a"]) as tar:
        assert {m.mtime for m in tar.getmembers()} == {0} and {m.uid for m in tar.getmembers()} == {0}
        readme = tar.extractfile(fmt.README_MEMBER).read().decode()
    assert "SYNTHETIC" in readme and "seed 0" in readme


def test_synthetic_test_split_does_not_depend_on_the_train_count(tmp_path):
    small, large = tmp_path / "small.tar.gz", tmp_path / "large.tar.gz"
    synthetic.build(small, seed=3, train=10, test=20)
    synthetic.build(large, seed=3, train=40, test=20)
    a, b = prepare.read_archive(small), prepare.read_archive(large)
    np.testing.assert_array_equal(a["x_test"], b["x_test"])
    np.testing.assert_array_equal(a["y_test"], b["y_test"])


def test_synthetic_images_are_balanced_and_class_structured(tmp_path):
    path = tmp_path / "syn.tar.gz"
    synthetic.build(path, seed=0, train=1000, test=200)
    arrays = prepare.read_archive(path)
    assert np.bincount(arrays["y_train"], minlength=10).tolist() == [100] * 10
    assert np.bincount(arrays["y_test"], minlength=10).tolist() == [20] * 10
    x, y = arrays["x_train"].astype(np.float32), arrays["y_train"]
    means = np.stack([x[y == c].mean(axis=0) for c in range(10)])
    # a nearest-class-mean classifier beats chance clearly (learnable) but not perfectly (noisy)
    test = arrays["x_test"].astype(np.float32).reshape(200, -1)
    predicted = np.argmin(((test[:, None, :] - means.reshape(10, -1)[None]) ** 2).sum(-1), axis=1)
    accuracy = (predicted == arrays["y_test"]).mean()
    assert 0.3 < accuracy < 0.75  # about 2 images in 7 look like their distractor class
    assert 40 < x.std() < 100  # heavy noise, not saturated


def test_synthetic_flag_reaches_the_prepared_json(stage, tmp_path):
    path = tmp_path / "syn.tar.gz"
    synthetic.build(path, seed=0, train=15, test=5)
    arrays, record = stage(path, synthetic_flag=True)
    assert record["synthetic"] is True and record["train"] == 15 and record["test"] == 5
    # training images split over the five batch files, in order: 3 per file
    with tarfile.open(path) as tar:
        sizes = [tar.getmember(name).size for name in fmt.TRAIN_MEMBERS]
    assert sizes == [3 * fmt.RECORD_BYTES] * 5


# ---------------------------------------------------------------- the two stages under DVC

DVC_YAML = {"stages": {
    "download": {
        "cmd": "python -m stages.download data/raw/cifar-10-binary.tar.gz data/raw/cifar-10-binary.json",
        "deps": ["stages/download.py", "kerasbench/synthetic.py", "kerasbench/cifar_format.py", "kerasbench/params.py",
                 "kerasbench/files.py"],
        "params": ["seed", "data.source", "data.md5", "data.synthetic", "data.download"],
        "outs": ["data/raw/cifar-10-binary.tar.gz", "data/raw/cifar-10-binary.json"]},
    "prepare": {
        "cmd": "python -m stages.prepare data/raw/cifar-10-binary.tar.gz data/raw/cifar-10-binary.json "
               "data/prepared/cifar10.npz data/prepared/cifar10.json",
        "deps": ["data/raw/cifar-10-binary.tar.gz", "data/raw/cifar-10-binary.json", "stages/prepare.py",
                 "kerasbench/cifar_format.py", "kerasbench/params.py", "kerasbench/files.py"],
        "params": ["data.limit_train", "data.limit_test"],
        "outs": ["data/prepared/cifar10.npz", "data/prepared/cifar10.json"]},
}}
STAGE_FILES = ("stages/__init__.py", "stages/download.py", "stages/prepare.py")


@pytest.fixture
def dvc_repo(tmp_path, write_params):
    """(repo, dvc) -> a temporary git+DVC repository with the data stages; dvc(*args) runs the CLI."""
    repo = tmp_path / "repo"
    shutil.copytree(REPO / "kerasbench", repo / "kerasbench", ignore=shutil.ignore_patterns("__pycache__"))
    for name in STAGE_FILES:
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / name, repo / name)
    (repo / "dvc.yaml").write_text(yaml.safe_dump(DVC_YAML, sort_keys=False))
    env = tool_env(DVC_SITE_CACHE_DIR=str(tmp_path / "dvc-site-cache"))

    def run(*args: str) -> str:
        result = sh(repo, *args, env=env, timeout=120)
        return result.stdout + result.stderr

    def dvc(*args: str) -> str:
        return run(str(BIN / "dvc"), *args)

    run("git", "init", "-q")
    dvc("init", "-q")
    return repo, dvc, lambda changes: write_params(repo, changes)


def _hashes(repo: Path) -> dict[str, str]:
    return {str(p.relative_to(repo)): hashlib.md5(p.read_bytes()).hexdigest()
            for p in sorted((repo / "data").rglob("*")) if p.is_file() and p.name != ".gitignore"}


@pytest.mark.slow
def test_dvc_repro_synthetic_then_nothing_to_do(dvc_repo):
    repo, dvc, params = dvc_repo
    params({"data": {"source": "synthetic", "md5": None, "synthetic": {"train": 50, "test": 20}}})
    first = dvc("repro")
    assert "Running stage 'download'" in first and "Running stage 'prepare'" in first
    record = json.loads((repo / "data/prepared/cifar10.json").read_text())
    assert record["synthetic"] is True and record["train"] == 50 and record["test"] == 20
    before = _hashes(repo)
    assert set(before) == {"data/raw/cifar-10-binary.tar.gz", "data/raw/cifar-10-binary.json",
                           "data/prepared/cifar10.npz", "data/prepared/cifar10.json"}
    second = dvc("repro")
    assert "Running stage" not in second
    assert "Stage 'download' didn't change, skipping" in second
    assert "Stage 'prepare' didn't change, skipping" in second
    assert "Data and pipelines are up to date." in second
    assert _hashes(repo) == before


@pytest.mark.slow
def test_dvc_pipeline_on_a_local_archive_yields_its_pixels(dvc_repo, make_archive):
    repo, dvc, params = dvc_repo
    archive = make_archive(train=(5, 4, 3, 2, 1), test=7)
    params({"data": {"source": str(archive.path), "md5": archive.md5}})
    dvc("repro")
    with np.load(repo / "data/prepared/cifar10.npz", allow_pickle=False) as npz:
        np.testing.assert_array_equal(npz["x_train"], archive.x_train)
        np.testing.assert_array_equal(npz["y_train"], archive.y_train)
        np.testing.assert_array_equal(npz["x_test"], archive.x_test)
        np.testing.assert_array_equal(npz["y_test"], archive.y_test)
    record = json.loads((repo / "data/raw/cifar-10-binary.json").read_text())
    assert record["md5"] == archive.md5 and record["synthetic"] is False
