"""git and DVC on the submitting repository: the clean check, pushes, and what origin already holds."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


class FanoutError(RuntimeError):
    """Stops a command with a message ready to print; `code` 2 means bad input (nothing was done)."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


def env() -> dict[str, str]:
    """The environment for git and DVC calls: no analytics, this interpreter's venv first on PATH."""
    return {**os.environ, "DVC_NO_ANALYTICS": "1",
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}


def run(*cmd: str, cwd: Path | str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run a command, capturing its output; a failure raises FanoutError with its last lines."""
    try:
        result = subprocess.run(cmd, cwd=cwd, env=env(), capture_output=True, text=True)
    except FileNotFoundError:
        raise FanoutError(f"{cmd[0]}: command not found") from None
    if check and result.returncode != 0:
        tail = (result.stderr.strip() or result.stdout.strip()).splitlines()[-5:]
        raise FanoutError(f"`{' '.join(cmd)}` failed ({result.returncode}): " + " | ".join(tail))
    return result


def git(*args: str, cwd: Path | str | None = None, check: bool = True) -> str:
    return run("git", *args, cwd=cwd, check=check).stdout.strip()


def dvc(*args: str, cwd: Path | str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    return run(sys.executable, "-m", "dvc", *args, cwd=cwd, check=check)


def root() -> Path:
    result = run("git", "rev-parse", "--show-toplevel", check=False)
    if result.returncode != 0:
        raise FanoutError("not inside a git repository: run fanout from the project's work tree", 2)
    return Path(result.stdout.strip())


def head(cwd: Path) -> str:
    return git("rev-parse", "HEAD", cwd=cwd)


def branch(cwd: Path) -> str:
    name = run("git", "symbolic-ref", "--quiet", "--short", "HEAD", cwd=cwd, check=False).stdout.strip()
    if not name:
        raise FanoutError("HEAD is detached: check out a branch, so the commit can be pushed to origin", 2)
    return name


def check_committed(cwd: Path) -> None:
    """Tasks clone the commit, so anything not committed would silently not be part of the run."""
    dirty = run("git", "status", "--porcelain", cwd=cwd).stdout.splitlines()
    if dirty:
        shown = ", ".join(line[3:] for line in dirty[:5]) + (f" and {len(dirty) - 5} more" if len(dirty) > 5 else "")
        raise FanoutError(f"the work tree has uncommitted changes ({shown}): the cluster runs the committed "
                          f"tree only; commit them (or stash them: git stash -u) and submit again", 2)


def origin_url(cwd: Path) -> str:
    url = run("git", "remote", "get-url", "origin", cwd=cwd, check=False).stdout.strip()
    if not url:
        raise FanoutError("no git remote 'origin': add the repository every node can clone, "
                          "e.g. git remote add origin git@host:team/kerasbench.git", 2)
    local = Path(cwd, url)
    return str(local.resolve()) if "://" not in url and ":" not in url.split("/")[0] and local.exists() else url


def default_dvc_remote(cwd: Path) -> str:
    """The default remote's name; it must be one every node reaches (a relative path is not)."""
    name = dvc("remote", "default", cwd=cwd, check=False).stdout.strip()
    if not name:
        raise FanoutError("no default DVC remote: tasks pull data from it and push results to it; set one up in "
                          "the committed config, e.g. dvc remote add -d shared /shared/dvc-store", 2)
    url = _raw_remote_url(cwd, name)
    if url and "://" not in url and not Path(url).is_absolute():
        raise FanoutError(f"DVC remote '{name}' is the relative path {url}, which a task's fresh clone resolves "
                          f"elsewhere: give the absolute path of shared storage (dvc remote modify {name} url "
                          f"/shared/dvc-store) or an s3://... URL", 2)
    return name


def _raw_remote_url(cwd: Path, name: str) -> str | None:
    """The URL as written in .dvc/config or config.local (`dvc config` shows relative paths resolved)."""
    import configobj  # a DVC dependency: DVC's own config format

    url = None
    for path in (cwd / ".dvc" / "config", cwd / ".dvc" / "config.local"):
        if path.is_file():
            url = configobj.ConfigObj(str(path)).get(f'remote "{name}"', {}).get("url", url)
    return url


def push(cwd: Path, branch_name: str) -> None:
    """The commit to origin (tasks clone it from there) and the DVC cache to the default remote."""
    git("push", "--quiet", "origin", f"HEAD:refs/heads/{branch_name}", cwd=cwd)
    dvc("push", "--quiet", cwd=cwd)


def exp_prefix(commit: str) -> str:
    """Where DVC keeps the experiments of a baseline commit: refs/exps/<2 hex>/<38 hex>/<name>."""
    return f"refs/exps/{commit[:2]}/{commit[2:]}/"


def pushed(cwd: Path, commit: str) -> dict[str, str]:
    """Experiments of `commit` that origin holds: name -> experiment commit."""
    out = git("ls-remote", "origin", exp_prefix(commit) + "*", cwd=cwd)
    found = {}
    for line in out.splitlines():
        sha, ref = line.split("\t", 1)
        if ref.startswith(exp_prefix(commit)):
            found[ref[len(exp_prefix(commit)):]] = sha
    return found
