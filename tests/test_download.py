"""Stage `download` against a real loopback HTTP server, local files and the synthetic source."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kerasbench import cifar_format as fmt
from stages import download, prepare

REPO = Path(__file__).resolve().parents[1]

OUT = Path("data/raw/cifar-10-binary.tar.gz")
OUT_JSON = Path("data/raw/cifar-10-binary.json")


@pytest.fixture
def stage(tmp_path, monkeypatch, write_params):
    """run(data_changes) runs the stage in tmp_path with params.yaml's data keys changed and
    returns the JSON it wrote. Back-off is shortened so retry tests stay fast."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(download, "BACKOFF_S", 0.01)

    def run(data: dict) -> dict:
        write_params(tmp_path, {"data": data})
        download.main([str(OUT), str(OUT_JSON)])
        return json.loads(OUT_JSON.read_text())
    return run


def fails(run, data: dict) -> str:
    """Run the stage expecting failure: a one-line 'error: ...' exit and no output at all."""
    with pytest.raises(SystemExit) as exc:
        run(data)
    message = str(exc.value.code)
    assert message.startswith("error: ") and "\n" not in message
    assert not OUT.exists() and not OUT_JSON.exists()
    assert not OUT.parent.exists() or list(OUT.parent.iterdir()) == []  # no temporary files either
    return message


@pytest.fixture
def served(make_archive, http_server):
    """An archive of ~1 MB (so half of it spans many network reads) served as /cifar.tar.gz;
    returns (archive, url)."""
    archive = make_archive(train=(60, 60, 60, 60, 60), test=20)
    shutil.copy(archive.path, http_server.root / "cifar.tar.gz")
    return archive, http_server.url("cifar.tar.gz")


def url_params(url: str, md5: str, retries: int = 0, timeout_s: float = 2.0) -> dict:
    return {"source": url, "md5": md5, "download": {"timeout_s": timeout_s, "retries": retries}}


def part_of(md5: str) -> Path:
    return download.PARTIAL_DIR / f"{md5}.part"


def test_url_downloads_and_verifies(stage, served, http_server):
    archive, url = served
    record = stage(url_params(url, archive.md5))
    data = archive.path.read_bytes()
    assert OUT.read_bytes() == data
    assert record["source"] == url and record["synthetic"] is False
    assert record["md5"] == archive.md5 and record["bytes"] == len(data)
    assert record["sha256"] == download.digests(archive.path)["sha256"]
    assert not part_of(archive.md5).exists()
    assert [r["range"] for r in http_server.requests] == [None]


def test_uppercase_md5_is_accepted(stage, served):
    archive, url = served
    assert stage(url_params(url, archive.md5.upper()))["md5"] == archive.md5


def test_wrong_checksum_fails_and_deletes_the_download(stage, served):
    archive, url = served
    wrong = "0" * 32
    message = fails(stage, url_params(url, wrong))
    assert "MD5 mismatch" in message and wrong in message and archive.md5 in message
    assert not part_of(wrong).exists()


def test_truncated_body_fails_and_keeps_the_partial_for_resume(stage, served, http_server):
    http_server.script = ["truncate"]
    archive, url = served
    message = fails(stage, url_params(url, archive.md5, retries=0))
    assert "cut off" in message and "gave up after 1 attempt" in message
    kept = part_of(archive.md5).stat().st_size
    assert 0 < kept < archive.path.stat().st_size
    assert f"the {kept:,} bytes received are kept in {part_of(archive.md5)}, the next run resumes" in message


def test_truncated_body_is_resumed_on_retry(stage, served, http_server):
    http_server.script = ["truncate", "good"]
    archive, url = served
    record = stage(url_params(url, archive.md5, retries=1))
    assert record["md5"] == archive.md5
    assert http_server.requests[0]["range"] is None
    assert http_server.requests[1]["range"] is not None  # the second attempt asked for the rest


def test_a_transfer_encoded_body_is_refused_and_nothing_decoded(stage, served, http_server):
    """A server that answers Content-Encoding: gzip (a bomb: 20 MiB of zeros in a few kilobytes)."""
    http_server.script = ["gzip"]
    archive, url = served
    message = fails(stage, url_params(url, archive.md5, retries=2))
    assert "answered with Content-Encoding 'gzip' though only the identity encoding was asked for" in message
    assert not part_of(archive.md5).exists() and len(http_server.requests) == 1   # not retried, nothing kept


def test_never_more_than_the_archive_can_be(stage, served, http_server, monkeypatch):
    """No Content-Length and four times the file: writing stops at the cap, the oversized part is deleted."""
    archive, url = served
    size = archive.path.stat().st_size
    monkeypatch.setattr(download, "MAX_BYTES", 2 * size)
    http_server.script = ["endless"]
    unknown = "1" * 32                                          # not the official archive: the stated cap
    message = fails(stage, url_params(url, unknown, retries=1))
    assert f"sent more than the {2 * size:,} bytes the archive can be; the partial download was deleted" in message
    assert not part_of(unknown).exists() and len(http_server.requests) == 1
    assert download.KNOWN_BYTES[download.OFFICIAL_MD5] == 170_052_171


def test_http_404_fails_without_retrying(stage, served, http_server):
    http_server.script = ["404"]
    archive, url = served
    message = fails(stage, url_params(url, archive.md5, retries=3))
    assert "HTTP 404" in message and url in message
    assert len(http_server.requests) == 1


def test_server_error_is_retried(stage, served, http_server):
    http_server.script = ["500", "good"]
    archive, url = served
    assert stage(url_params(url, archive.md5, retries=2))["md5"] == archive.md5
    assert [r["behaviour"] for r in http_server.requests] == ["500", "good"]


def test_stalled_server_times_out_after_retries(stage, served, http_server):
    http_server.script = ["stall"]
    archive, url = served
    started = time.monotonic()
    message = fails(stage, url_params(url, archive.md5, retries=1, timeout_s=0.5))
    assert "within 0.5s" in message and "timeout_s" in message and "gave up after 2 attempt(s)" in message
    assert len(http_server.requests) == 2
    assert time.monotonic() - started < 4


def test_partial_download_is_resumed_with_range(stage, served, http_server):
    archive, url = served
    data = archive.path.read_bytes()
    part = part_of(archive.md5)
    part.parent.mkdir(parents=True)
    part.write_bytes(data[:len(data) // 2])
    record = stage(url_params(url, archive.md5))
    assert [r["range"] for r in http_server.requests] == [f"bytes={len(data) // 2}-"]
    assert record["md5"] == archive.md5 and OUT.read_bytes() == data
    assert not part.exists()


def test_server_without_range_support_gets_a_full_download(stage, served, http_server):
    http_server.ranges = False
    archive, url = served
    data = archive.path.read_bytes()
    part = part_of(archive.md5)
    part.parent.mkdir(parents=True)
    part.write_bytes(data[:100])
    assert stage(url_params(url, archive.md5))["md5"] == archive.md5
    assert OUT.read_bytes() == data


def test_stale_partial_that_fails_md5_is_discarded_and_refetched(stage, served, http_server):
    archive, url = served
    data = archive.path.read_bytes()
    part = part_of(archive.md5)
    part.parent.mkdir(parents=True)
    part.write_bytes(b"\0" * (len(data) // 2))  # wrong bytes from an earlier, different file
    assert stage(url_params(url, archive.md5))["md5"] == archive.md5
    assert [r["range"] for r in http_server.requests] == [f"bytes={len(data) // 2}-", None]


def test_complete_partial_is_verified_without_refetching(stage, served, http_server):
    archive, url = served
    part = part_of(archive.md5)
    part.parent.mkdir(parents=True)
    shutil.copy(archive.path, part)
    assert stage(url_params(url, archive.md5))["md5"] == archive.md5  # server answers 416
    assert len(http_server.requests) == 1


def test_dns_failure_says_how_to_work_offline(stage):
    message = fails(stage, url_params("http://nonexistent.invalid/cifar-10-binary.tar.gz", "0" * 32))
    assert "cannot resolve host nonexistent.invalid" in message
    assert "data.source" in message and "local copy" in message and "data.md5" in message
    assert "synthetic" in message


def test_connection_refused_says_how_to_work_offline(stage):
    with socket.socket() as sock:  # a port nobody listens on once this closes
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    message = fails(stage, url_params(f"http://127.0.0.1:{port}/a.tar.gz", "0" * 32))
    assert "cannot connect to 127.0.0.1" in message and "Connection refused" in message
    assert "local copy" in message and "synthetic" in message


def test_failure_removes_outputs_of_an_earlier_run(stage, served, http_server):
    http_server.script = ["404"]
    archive, url = served
    OUT.parent.mkdir(parents=True)
    OUT.write_bytes(b"old archive")
    OUT_JSON.write_text("{}")
    fails(stage, url_params(url, archive.md5))


def test_local_file_is_verified_and_copied(stage, make_archive, tmp_path, http_server):
    archive = make_archive()
    relative = os.path.relpath(archive.path, tmp_path)
    record = stage({"source": relative, "md5": archive.md5})
    assert OUT.read_bytes() == archive.path.read_bytes()
    assert record == {"source": relative, **download.digests(archive.path), "synthetic": False}
    assert OUT.stat().st_ino != archive.path.stat().st_ino  # a copy: DVC may make it read-only
    assert http_server.requests == []


def test_local_file_with_wrong_md5_fails(stage, make_archive):
    archive = make_archive()
    message = fails(stage, {"source": str(archive.path), "md5": "f" * 32})
    assert "MD5 mismatch" in message and str(archive.path) in message


def test_missing_local_file_fails(stage):
    message = fails(stage, {"source": "nowhere/cifar.tar.gz", "md5": "f" * 32})
    assert "'nowhere/cifar.tar.gz'" in message and "no such file" in message


def test_synthetic_source_is_built_and_flagged(stage):
    record = stage({"source": "synthetic", "md5": None, "synthetic": {"train": 23, "test": 7}})
    assert record["synthetic"] is True and record["source"] == "synthetic"
    assert record == {"source": "synthetic", **download.digests(OUT), "synthetic": True}
    arrays = prepare.read_archive(OUT)
    assert len(arrays["y_train"]) == 23 and len(arrays["y_test"]) == 7
    assert list(arrays["class_names"]) == list(fmt.CLASS_NAMES)


def test_synthetic_source_too_small_fails(stage):
    message = fails(stage, {"source": "synthetic", "md5": None, "synthetic": {"train": 4, "test": 1}})
    assert "at least 5 training images" in message


def test_command_line_failure_is_one_line_on_stderr(tmp_path, write_params):
    write_params(tmp_path, {"data": url_params("http://nonexistent.invalid/x.tar.gz", "0" * 32)})
    result = subprocess.run([sys.executable, "-m", "stages.download", str(OUT), str(OUT_JSON)],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert not (tmp_path / OUT).exists()


def test_command_line_usage(tmp_path):
    result = subprocess.run([sys.executable, "-m", "stages.download"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 1 and "usage: python -m stages.download" in result.stderr

