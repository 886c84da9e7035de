"""What was submitted, and where each cell stands.

`.fanout/<grid name>/state.json` (the folder ignores itself in git) records the commit, the
engine and, per cell, the job and log of its latest submission. A cell's state comes from three
sources, in this order: origin holds its experiment -> done; the queue has its task -> pending or
running; otherwise the exit marker in its log -> failed (with the log's last lines). A task that
ended without a marker was killed outright (cancelled, or its node was lost).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from kerasbench import files
from kerasbench.fanout import task
from kerasbench.fanout.grid import Cell, Grid

TAIL = 12   # log lines shown for a failed cell


@dataclass
class CellState:
    cell: Cell
    state: str                    # done | pending | running | failed | not submitted | submitted
    job: str | None = None        # Slurm: <array job>_<index>; Kubernetes: the Job's name
    log: str | None = None
    detail: list[str] = field(default_factory=list)


def folder(root: Path, grid: Grid) -> Path:
    base = root / ".fanout"
    if not (base / ".gitignore").exists():
        files.write_text(base / ".gitignore", "# kerasbench fan-out state, scripts and logs: local only\n*\n")
    return base / grid.name


def load(root: Path, grid: Grid) -> dict | None:
    path = root / ".fanout" / grid.name / "state.json"
    return json.loads(path.read_text()) if path.is_file() else None


def record(root: Path, grid: Grid, commit: str, engine: str, job: str, cells: list[Cell],
           logs: dict[int, str]) -> dict:
    """Add a submission to the grid's state (a new commit starts a new state) and save it."""
    old = load(root, grid)
    state = old if old and old.get("commit") == commit else {"grid": str(grid.path), "commit": commit, "cells": {}}
    state["engine"] = engine
    for cell in cells:
        state["cells"][str(cell.index)] = {"name": cell.name, "job": job, "log": logs.get(cell.index)}
    files.write_json(folder(root, grid) / "state.json", state)
    return state


def _from_log(cs: CellState, root: Path) -> CellState:
    path = root / cs.log if cs.log else None
    if path is None or not path.is_file():
        cs.state, cs.detail = "failed", [f"no log at {cs.log}: the task never started"]
        return cs
    started, end, lines = task.last_attempt(path.read_text(errors="replace"))
    tail = lines[-TAIL:]
    if end and end["status"] == "done":
        cs.state, cs.detail = "failed", ["the task says done, but origin has no such experiment"] + tail
    elif end:
        cs.state, cs.detail = "failed", [f"exit code {end['rc']}, log {cs.log}:"] + tail
    else:
        what = "ended without an exit marker (killed, cancelled, or its node was lost)" if started \
            else "never started"
        cs.state, cs.detail = "failed", [f"{what}; log {cs.log}:"] + tail
    return cs


def cell_states(root: Path, grid: Grid, state: dict | None, pushed: dict[str, str],
                queue: Callable[[str], dict[int, str]]) -> list[CellState]:
    """Every cell's state; `queue(job)` gives index -> pending|running for a Slurm job."""
    queues: dict[str, dict[int, str]] = {}
    out = []
    for cell in grid.cells:
        entry = (state or {}).get("cells", {}).get(str(cell.index))
        cs = CellState(cell, "not submitted")
        if entry:
            cs.job, cs.log = entry["job"], entry.get("log")
        if cell.name in pushed:
            cs.state = "done"
        elif entry and state.get("engine") == "kubernetes":
            cs.state = "submitted"
            cs.detail = [f"not pushed yet; see kubectl get pods -l job-name={cs.job} and kubectl logs"]
        elif entry:
            if cs.job not in queues:
                queues[cs.job] = queue(cs.job)
            if cell.index in queues[cs.job]:
                cs.state = queues[cs.job][cell.index]
            else:
                _from_log(cs, root)
        if entry and state.get("engine") == "slurm":
            cs.job = f"{entry['job']}_{cell.index}"
        out.append(cs)
    return out


def table(states: list[CellState]) -> str:
    width = max(len(s.cell.name) for s in states)
    lines = [f"{'cell':>4}  {'state':<13} {'experiment':<{width}}  job"]
    for s in states:
        lines.append(f"{s.cell.index:>4}  {s.state:<13} {s.cell.name:<{width}}  {s.job or '-'}")
        if s.state == "failed":
            lines += [f"        | {line}" for line in s.detail]
    counts = {}
    for s in states:
        counts[s.state] = counts.get(s.state, 0) + 1
    lines.append(", ".join(f"{n} {state}" for state, n in counts.items()))
    return "\n".join(lines)
