"""Stage `download`: put the CIFAR-10 binary archive in place, verified, or build the synthetic one.

usage: python -m stages.download <out_archive> <out_json>

data.source decides where the archive comes from:
- an http(s) URL: streamed with a progress bar, connect/read timeout, retries with exponential
  back-off and resume (HTTP Range) of a partial download kept in data/.downloads/<md5>.part,
  outside the DVC output, so an interrupted run continues where it stopped;
- a local file path: verified and copied;
- `synthetic`: the generated stand-in (kerasbench/synthetic.py), flagged `synthetic: true`.
Anything but synthetic must match data.md5 before it takes its final name; a failure leaves
no output and ends with one line saying what went wrong.
"""
from __future__ import annotations

import hashlib
import shutil
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import requests
import urllib3.exceptions
from tqdm import tqdm

from kerasbench import guard, paths, plan, synthetic
from kerasbench.files import atomic_path, write_json
from kerasbench.params import Params, load_or_exit

# The params this stage reads: its `params:` in dvc.yaml (tests/test_lint.py); data.download (a timeout,
# a retry count) is read too but changes no result, so DVC does not rerun the download for it.
PARAMS = ("seed", "data.source", "data.md5", "data.synthetic")
UNTRACKED = ("data.download",)

PARTIAL_DIR = Path(paths.DOWNLOADS)  # relative to the project root (the stage's cwd)
CHUNK = 1 << 20        # hashing and copying
NET_CHUNK = 1 << 16    # network reads: a connection cut mid-read loses at most this much of the partial
BACKOFF_S = 1.0        # the first retry waits this long, each next one twice as long ...
BACKOFF_MAX_S = 60.0   # ... up to this
RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}
OFFICIAL_MD5 = "c32a1d4ab5d03f1284b67883e8d87530"
KNOWN_BYTES = {OFFICIAL_MD5: 170_052_171}   # the archive data.md5 names: not one byte more is written
MAX_BYTES = 256 * 1024 ** 2                   # any other archive (CIFAR-10's binary one is 162 MiB)
USAGE = "usage: python -m stages.download <out_archive> <out_json>"
OFFLINE_HINT = ("to work without the network, set data.source to the path of a local copy of the archive "
                "(with its data.md5), or set data.source: synthetic to use generated data explicitly")


class DownloadError(Exception):
    """A failure worded for the user (one line)."""


class _Retryable(DownloadError):
    """A failure another attempt may cure (network trouble, a 5xx, a cut-off body)."""


def digests(path: Path) -> dict:
    md5, sha256, size = hashlib.md5(), hashlib.sha256(), 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            md5.update(chunk)
            sha256.update(chunk)
            size += len(chunk)
    return {"md5": md5.hexdigest(), "sha256": sha256.hexdigest(), "bytes": size}


def _innermost_text(err: BaseException) -> str:
    """The first text message down a chain of wrapped exceptions (requests wraps urllib3's)."""
    while err.args and isinstance(err.args[0], BaseException):
        err = err.args[0]
    return str(err.args[0]) if err.args else type(err).__name__


def _connection_problem(err: requests.exceptions.ConnectionError, url: str, timeout: float) -> str:
    reason = err.args[0] if err.args else err
    reason = getattr(reason, "reason", reason)  # urllib3's MaxRetryError wraps the cause
    host = urlsplit(url).hostname
    if isinstance(reason, urllib3.exceptions.NameResolutionError):
        return f"cannot resolve host {host} (no network or DNS?)"
    if isinstance(reason, urllib3.exceptions.NewConnectionError):  # (a ConnectTimeoutError subclass)
        return f"cannot connect to {host}: {str(reason).rsplit(': ', 1)[-1]}"
    if isinstance(reason, (urllib3.exceptions.ReadTimeoutError, urllib3.exceptions.ConnectTimeoutError)):
        return f"no response from {host} within {timeout:g}s (data.download.timeout_s)"
    if isinstance(reason, urllib3.exceptions.ProtocolError):
        return f"connection to {host} broken: {_innermost_text(reason)}"
    return f"connection to {host} failed: {reason}"


def _fetch_once(url: str, part: Path, timeout: float, limit: int = MAX_BYTES) -> None:
    """One HTTP attempt: resume `part` if it has bytes and the server honours Range, else start over.
    The body is written as sent (never transfer-decoded), and never beyond `limit` bytes in all."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    total = None
    try:
        with requests.get(url, stream=True, timeout=(timeout, timeout), headers=headers) as response:
            if have and response.status_code == 416:
                return  # nothing left to fetch: the partial file is complete (the MD5 check decides)
            have, mode, total = _accepted(response, url, part, have, limit)
            _copy_body(response, url, part, mode, have, total, limit)
    except requests.exceptions.Timeout:
        raise _Retryable(f"no response from {urlsplit(url).hostname} within {timeout:g}s "
                         f"(data.download.timeout_s)") from None
    except requests.exceptions.ConnectionError as err:
        raise _Retryable(_connection_problem(err, url, timeout)) from None
    except urllib3.exceptions.ReadTimeoutError:
        raise _Retryable(f"no data from {urlsplit(url).hostname} within {timeout:g}s "
                         f"(data.download.timeout_s)") from None
    except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError,
            urllib3.exceptions.ProtocolError) as err:
        raise _Retryable(f"download of {url} cut off ({_innermost_text(err)})") from None
    except requests.exceptions.RequestException as err:
        raise DownloadError(f"cannot download {url}: {err}") from None
    size = part.stat().st_size
    if total is not None and size != total:
        raise _Retryable(f"download of {url} cut off after {size:,} of {total:,} bytes")


def _announced(response, have: int) -> int | None:
    """The whole file's size as the response announces it (what was there before plus its body), or None."""
    length = response.headers.get("Content-Length")
    return have + int(length) if length and length.isdigit() else None


def _accepted(response, url: str, part: Path, have: int, limit: int) -> tuple[int, str, int | None]:
    """(bytes kept, file mode, announced total) for a response worth reading; otherwise the error to retry or
    to stop with."""
    if response.status_code >= 400:
        problem = f"HTTP {response.status_code} {response.reason} for {url}"
        if response.status_code in RETRY_STATUS or response.status_code >= 500:
            raise _Retryable(problem)
        raise DownloadError(f"{problem}; check data.source")
    if response.status_code == 206:
        if not response.headers.get("Content-Range", "").startswith(f"bytes {have}-"):
            part.unlink()
            raise _Retryable(f"server answered an unexpected range "
                             f"({response.headers.get('Content-Range')!r}); starting over")
        mode = "ab"
    else:
        have, mode = 0, "wb"  # 200: the server sends the whole file
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise DownloadError(f"{url} answered with Content-Encoding {encoding[:40]!r} though only the identity "
                            "encoding was asked for; an encoded body could decode to any size, so it is "
                            "refused (nothing was written)")
    total = _announced(response, have)
    if total is not None and total > limit:
        raise DownloadError(f"{url} announces {total:,} bytes, more than the {limit:,} the archive can be "
                            "(data.md5's archive, or the cap for any other); nothing was written")
    return have, mode, total


def _copy_body(response, url: str, part: Path, mode: str, have: int, total: int | None, limit: int) -> None:
    """The body, chunk by chunk as sent, into `part`; deleted the moment it would pass `limit`."""
    with open(part, mode) as f, tqdm(total=total, initial=have, unit="B", unit_scale=True, unit_divisor=1024,
                                     desc=Path(urlsplit(url).path).name, disable=None, mininterval=1.0) as bar:
        for chunk in response.raw.stream(NET_CHUNK, decode_content=False):
            if have + len(chunk) > limit:
                f.close()
                part.unlink()
                raise DownloadError(f"{url} sent more than the {limit:,} bytes the archive can be; "
                                    f"the partial download was deleted")
            f.write(chunk)
            have += len(chunk)
            bar.update(len(chunk))


def download(url: str, md5: str, timeout: float, retries: int, out: Path) -> dict:
    """Fetch `url` into `out` via the partial file, with retries and one fresh restart if a
    resumed file fails its checksum (the kept part may have come from another server/version)."""
    part = PARTIAL_DIR / f"{md5}.part"
    part.parent.mkdir(parents=True, exist_ok=True)
    attempt, restarted = 0, False
    while True:
        resumed = part.exists() and part.stat().st_size > 0
        try:
            _fetch_once(url, part, timeout, KNOWN_BYTES.get(md5.lower(), MAX_BYTES))
        except _Retryable as err:
            if attempt >= retries:
                kept = part.stat().st_size if part.exists() else 0
                resume = f"; the {kept:,} bytes received are kept in {part}, the next run resumes" if kept else ""
                raise DownloadError(f"{err}; gave up after {attempt + 1} attempt(s){resume}; {OFFLINE_HINT}") from None
            delay = min(BACKOFF_S * 2 ** attempt, BACKOFF_MAX_S)
            attempt += 1
            print(f"download: {err}; retry {attempt}/{retries} in {delay:g}s", file=sys.stderr)
            time.sleep(delay)
            continue
        found = digests(part)
        if found["md5"] == md5:
            break
        part.unlink()
        if resumed and not restarted:
            print("download: MD5 mismatch after resuming a partial download; starting over", file=sys.stderr)
            restarted = True
            continue
        raise DownloadError(f"MD5 mismatch for {url}: expected {md5} (data.md5), got {found['md5']} "
                            f"({found['bytes']:,} bytes); the download was deleted, the next run starts afresh")
    with atomic_path(out) as tmp:
        shutil.move(part, tmp)  # a rename when data/ is one file system
    return found


def copy_local(source: str, md5: str, out: Path) -> dict:
    """Verify and copy a local archive (hashing the bytes as they are copied, so what is checked is
    what lands). A copy, not a hard link: DVC makes cached files read-only, which through a hard
    link would also lock the user's own file."""
    src = Path(source).expanduser()
    if not src.is_file():
        raise DownloadError(f"data.source {source!r} is not an http(s) URL, not 'synthetic', and no such file "
                            f"exists (relative paths are read from {Path.cwd()})")
    md5_hash, sha256, size = hashlib.md5(), hashlib.sha256(), 0
    with atomic_path(out) as tmp:
        with open(src, "rb") as fin, open(tmp, "wb") as fout:
            while chunk := fin.read(CHUNK):
                md5_hash.update(chunk)
                sha256.update(chunk)
                size += len(chunk)
                fout.write(chunk)
        if md5_hash.hexdigest() != md5:
            raise DownloadError(f"MD5 mismatch for {src}: expected {md5} (data.md5), got {md5_hash.hexdigest()} "
                                f"({size:,} bytes)")
    return {"md5": md5_hash.hexdigest(), "sha256": sha256.hexdigest(), "bytes": size}


def produce(params: Params | plan.Settings, out: Path) -> dict:
    """Put the archive at `out`; return its JSON record."""
    data = params.data
    if data.is_synthetic:
        with atomic_path(out) as tmp:
            synthetic.build(tmp, params.seed, data.synthetic.train, data.synthetic.test)
        return {"source": data.source, **digests(out), "synthetic": True}
    md5 = data.md5.lower()
    if data.is_url:
        found = download(data.source, md5, data.download.timeout_s, data.download.retries, out)
    else:
        found = copy_local(data.source, md5, out)
    return {"source": data.source, **found, "synthetic": False}


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        sys.exit(USAGE)
    out, out_json = map(Path, args)
    guard.start([out, out_json], "download")
    params = plan.settings(load_or_exit("params.yaml"), "download", PARAMS, UNTRACKED)
    for stale in (out, out_json):  # a failed run must not leave a previous run's output behind
        stale.unlink(missing_ok=True)
    try:
        record = produce(params, out)
        write_json(out_json, record)
    except BaseException as err:
        out.unlink(missing_ok=True)
        out_json.unlink(missing_ok=True)
        if isinstance(err, (DownloadError, ValueError, OSError)):
            sys.exit(f"error: {err}")
        raise
    print(f"download: {record['source']} -> {out} ({record['bytes']:,} bytes, md5 {record['md5']})"
          f"{' SYNTHETIC DATA' if record['synthetic'] else ''}")


if __name__ == "__main__":
    guard.run(main)
