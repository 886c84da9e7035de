"""Writing outputs so that a failed stage never leaves a half-written file behind, and says which file
could not be written (no space, read-only, permission) in one line (kerasbench/guard.py)."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from kerasbench.guard import WRITE_ERRORS, explain


@contextlib.contextmanager
def atomic_path(final: Path | str, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside `final`; on success it is renamed to `final`.

    On any exception the temporary file is removed and `final` is left untouched.
    `suffix` keeps an extension some writers insist on (numpy adds .npz, Keras wants .keras).
    """
    final = Path(final)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=f".tmp{suffix}", dir=final.parent)
    except OSError as err:
        raise (explain(err, final) if err.errno in WRITE_ERRORS else err) from None
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; outputs get the usual mode
    tmp = Path(tmp)
    try:
        yield tmp
        os.replace(tmp, final)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise (explain(err, final) if err.errno in WRITE_ERRORS else err) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json(path: Path | str, data: object) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")


def write_text(path: Path | str, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


@contextlib.contextmanager
def atomic_dir(final: Path | str) -> Iterator[Path]:
    """Yield an empty temporary folder beside `final`; on success it replaces `final` whole.

    On any exception the temporary folder is removed and `final` is left as it was.
    """
    final = Path(final)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    except OSError as err:
        raise (explain(err, final) if err.errno in WRITE_ERRORS else err) from None
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes 0700; outputs get the usual mode
        if final.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".old", dir=final.parent))
            os.replace(final, old / final.name)
            os.replace(tmp, final)
            shutil.rmtree(old)
        else:
            os.replace(tmp, final)
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise (explain(err, final) if err.errno in WRITE_ERRORS else err) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
