"""One side of an adaptive comparison: a commit checked out beside the repository, its data, its processes.

A side is a git commit (a revision or a DVC experiment). It is checked out as a detached git worktree
in the comparison's state folder, its data prepared there by DVC (`dvc repro prepare`, with the
repository's cache, so a download or a generated archive that DVC already has is not made again),
and each round trains every contender x seed of its params.yaml once, each in a fresh
`stages.train` process of that commit's code, writing a results tree that kerasbench/samples.py
reads (metrics/train/<c>-<s>.json, .env.json, plots/history/<c>-<s>.csv, params.yaml).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from kerasbench import paths, supervise
from kerasbench.results import ResultsError, Revision, git

DATA = (paths.DATA, paths.DATA_JSON)


@dataclass(frozen=True)
class Side:
    name: str          # base or head
    revision: Revision
    worktree: Path
    params: dict       # the commit's params.yaml as committed

    @property
    def runs(self) -> list[tuple[str, int]]:
        return [(fw, seed) for fw in self.params.get("frameworks", []) for seed in self.params.get("seeds", [0])]


def side_of(name: str, revision: Revision, folder: Path) -> Side:
    """The side as committed (nothing checked out yet)."""
    text = revision.read_text("params.yaml")
    if text is None or revision.read_text("dvc.yaml") is None:
        raise ResultsError(f"{revision.label}: no params.yaml and dvc.yaml at that commit: no pipeline to run")
    return Side(name, revision, folder / "worktrees" / name, yaml.safe_load(text) or {})


def prepare(side: Side, log) -> None:
    """The side's worktree (made once, reused when resuming) with its data prepared."""
    worktree, revision = side.worktree, side.revision
    if not (worktree / ".git").exists():
        shutil.rmtree(worktree, ignore_errors=True)
        worktree.parent.mkdir(parents=True, exist_ok=True)
        git(revision.repo, "worktree", "add", "--quiet", "--detach", str(worktree), revision.sha)
    venv = revision.repo / ".venv"
    if venv.is_dir() and not (worktree / ".venv").exists():
        (worktree / ".venv").symlink_to(venv)   # for stage commands that name .venv/
    if not all((worktree / p).is_file() for p in DATA):
        log(f"{side.name}: preparing the data of {revision.label} (dvc repro prepare)")
        cache = revision.repo / ".dvc" / "cache"
        if cache.is_dir():
            command(worktree, [dvc(), "config", "--local", "cache.dir", str(cache)], "dvc config")
        command(worktree, [dvc(), "repro", "--quiet", "prepare"], f"{side.name}: dvc repro prepare")


def dvc() -> str:
    """The dvc command: on PATH, or beside this Python (a venv that is not activated)."""
    beside = Path(sys.executable).parent / "dvc"
    found = shutil.which("dvc") or (str(beside) if beside.is_file() else None)
    if found is None:
        raise ResultsError("dvc not found on PATH nor beside this Python: activate the project's environment "
                           "(. .venv/bin/activate) or install DVC")
    return found


def command(cwd: Path, argv: list[str], what: str) -> None:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, env={**os.environ, "DVC_NO_ANALYTICS": "1"})
    if done.returncode:
        last = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or [f"exit {done.returncode}"]
        raise ResultsError(f"{what} failed in {cwd}: {last[0]}")


def set_epochs(side: Side, epochs: int | None) -> None:
    """The worktree's params.yaml with train.epochs (None: as committed); the round trees keep the committed one."""
    params = yaml.safe_load(yaml.safe_dump(side.params))
    if epochs is not None:
        params.setdefault("train", {})["epochs"] = epochs
    (side.worktree / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def train_once(side: Side, framework: str, seed: int, tree: Path) -> float:
    """One fresh training process of the side's code; its files into the results tree `tree`. Seconds taken."""
    files = paths.run_files(framework, seed)
    outputs = [tree / files[key] for key in (paths.TRAIN, paths.ENV, paths.HISTORY)]
    for out in outputs:
        out.parent.mkdir(parents=True, exist_ok=True)
    npz, meta = (str(side.worktree / p) for p in DATA)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "stages.train", framework, str(seed), npz, meta, "-",
                           *map(str, outputs)], cwd=side.worktree, capture_output=True, text=True,
                          env=supervise.child_env())
    if done.returncode:
        last = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or [f"exit {done.returncode}"]
        raise ResultsError(f"{side.name} ({side.revision.label}): {framework} seed {seed} failed: {last[0]}")
    return time.perf_counter() - started


def remove(side_folder: Path, repo: Path) -> None:
    """The worktrees of a finished comparison (the round trees stay)."""
    for worktree in sorted((side_folder / "worktrees").glob("*")):
        git(repo, "worktree", "remove", "--force", str(worktree), check=False)
    git(repo, "worktree", "prune", check=False)
