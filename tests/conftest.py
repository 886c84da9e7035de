"""Shared fixtures: small official-format archives, a loopback HTTP server, params.yaml writers."""
from __future__ import annotations

import copy
import gzip
import hashlib
import io
import re
import tarfile
import threading
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import yaml

from kerasbench import cifar_format as fmt

REPO = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- params.yaml

def _merge(base: dict, changes: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


@pytest.fixture
def repo_params() -> dict:
    """The repository's params.yaml as a dict (a fresh copy per test)."""
    return yaml.safe_load((REPO / "params.yaml").read_text())


@pytest.fixture
def write_params(repo_params):
    """write_params(directory, {"data": {"source": ...}}) writes the repo's params.yaml there with
    the given keys changed (nested dicts are merged) and returns its path."""
    def write(directory: Path, changes: dict | None = None) -> Path:
        path = Path(directory) / "params.yaml"
        path.write_text(yaml.safe_dump(_merge(repo_params, changes or {}), sort_keys=False))
        return path
    return write


# ---------------------------------------------------------------- archives

@dataclass
class Archive:
    """A small archive in the official binary format, and the arrays it holds."""
    path: Path
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str]
    md5: str = field(init=False)

    def __post_init__(self):
        self.md5 = hashlib.md5(self.path.read_bytes()).hexdigest()


def build_tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    """A tar.gz from raw (TarInfo, data) pairs, for archives no honest writer would produce."""
    with tarfile.open(path, "w:gz", format=tarfile.GNU_FORMAT) as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def regular(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


@pytest.fixture
def make_archive(tmp_path):
    """make_archive(train=(3, 2, 2, 2, 1), test=4, seed=0, replace={}, drop=(), extra=[]) -> Archive.

    Random pixels and labels (known to the test) in the official layout. `replace` maps a member
    name to the bytes to put there instead, `drop` leaves members out and `extra` appends raw
    (TarInfo, data) pairs, so tests can build every malformed archive they need.
    """
    counter = iter(range(1_000_000))

    def make(train=(3, 2, 2, 2, 1), test=4, seed=0, replace=None, drop=(), extra=(),
             meta=None, name=None) -> Archive:
        meta = "\n".join(fmt.CLASS_NAMES) + "\n\n" if meta is None else meta
        rng = np.random.default_rng(seed)
        n_train = sum(train)
        x_train = rng.integers(0, 256, size=(n_train, 32, 32, 3), dtype=np.uint8)
        y_train = rng.integers(0, 10, size=n_train).astype(np.uint8)
        x_test = rng.integers(0, 256, size=(test, 32, 32, 3), dtype=np.uint8)
        y_test = rng.integers(0, 10, size=test).astype(np.uint8)
        contents = {}
        start = 0
        for member, count in zip(fmt.TRAIN_MEMBERS, train):
            contents[member] = fmt.encode(x_train[start:start + count], y_train[start:start + count]).tobytes()
            start += count
        contents[fmt.TEST_MEMBER] = fmt.encode(x_test, y_test).tobytes()
        contents[fmt.META_MEMBER] = meta.encode()
        contents[fmt.README_MEMBER] = b"<html><body>test archive</body></html>\n"
        contents.update(replace or {})
        members = [(_dir_info(), None)]
        members += [regular(member, data) for member, data in contents.items() if member not in drop]
        members += list(extra)
        path = build_tar(tmp_path / (name or f"archive-{next(counter)}.tar.gz"), members)
        return Archive(path, x_train, y_train, x_test, y_test, list(fmt.CLASS_NAMES))

    return make


def _dir_info() -> tarfile.TarInfo:
    info = tarfile.TarInfo(fmt.FOLDER)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    return info


# ---------------------------------------------------------------- HTTP server

class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        server: LocalServer = self.server.local  # type: ignore[attr-defined]
        behaviour = server.next_behaviour()
        server.requests.append({"path": self.path, "range": self.headers.get("Range"), "behaviour": behaviour})
        if behaviour == "stall":
            server.release.wait(server.stall_s)
            behaviour = "good"
        file = server.root / self.path.lstrip("/")
        if behaviour == "404" or not file.is_file():
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        if behaviour == "500":
            self.send_error(HTTPStatus.INTERNAL_SERVER_ERROR)
            return
        body = file.read_bytes()
        if behaviour == "gzip":   # a gzip bomb: a small body that decodes to 20 MiB of zeros
            bomb = gzip.compress(b"\0" * (20 << 20))
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(bomb)))
            self.end_headers()
            self.wfile.write(bomb)
            return
        if behaviour == "endless":   # no Content-Length: the body ends when the server hangs up, here after 4x the file
            self.send_response(HTTPStatus.OK)
            self.end_headers()
            for _ in range(4):
                self.wfile.write(body)
            self.close_connection = True
            return
        start = 0
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if match and server.ranges:
            start = int(match.group(1))
            if start >= len(body):
                self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(HTTPStatus.PARTIAL_CONTENT)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(HTTPStatus.OK)
        if server.ranges:
            self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Type", "application/gzip")
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        if behaviour == "truncate":  # promise the whole body, send half of it, hang up
            self.wfile.write(body[start:start + (len(body) - start) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body[start:])


@dataclass
class LocalServer:
    """A real HTTP server on 127.0.0.1 serving files under `root`.

    `script` lists the behaviour of successive requests, the last one repeating:
    "good", "truncate" (Content-Length of the whole body, half of it sent, connection closed),
    "404", "500", "stall" (no answer for `stall_s` seconds, then a good one), "gzip" (Content-Encoding: gzip,
    a bomb), "endless" (no Content-Length, four copies of the file, then the connection closed).
    `ranges` turns Range support (206 answers) on or off. `requests` records each request.
    """
    root: Path
    port: int = 0
    script: list[str] = field(default_factory=lambda: ["good"])
    ranges: bool = True
    stall_s: float = 5.0
    requests: list[dict] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def next_behaviour(self) -> str:
        return self.script.pop(0) if len(self.script) > 1 else self.script[0]


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):  # clients that time out on purpose hang up
        pass


@pytest.fixture
def http_server(tmp_path):
    """A LocalServer serving tmp_path/"www" (put files there), shut down after the test."""
    root = tmp_path / "www"
    root.mkdir()
    server = _QuietServer(("127.0.0.1", 0), _Handler)
    local = LocalServer(root=root, port=server.server_address[1])
    server.local = local  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield local
    finally:
        local.release.set()  # wake stalled handlers
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
