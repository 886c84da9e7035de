"""Bring a grid's experiments back: `dvc exp pull`, one combined report per group, `dvc exp show`.

Cells that differ only in `frameworks` and `seeds` form one group: the report code reads their
result files as one run of all those contenders and seeds, so the cells of one contender across
seeds are one sample set. Cells that differ in anything else (batch size, precision, ...) are
never mixed: each group gets its own report.

`overlaps` warns when two cells timed on one node at the same time: each training process records
its node and the wall-clock window of its timed epochs (kerasbench/host.py, the `timed` key of its
environment file), so a packed node (`--shared`, or an engine that ignored the request) is named,
not just seen as slower figures.
"""
from __future__ import annotations

import datetime
import json
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from kerasbench import paths
from kerasbench.fanout import repo
from kerasbench.fanout.grid import Cell, Grid, cell_name
from kerasbench.params import ParamsError, parse, read_yaml
from kerasbench.report.build import build
from kerasbench.report.load import result_paths
from kerasbench.results import ResultsError, Revision, read_json

UNION = ("frameworks", "seeds")       # the report's own axes: merged across the cells of a group
# Columns of `dvc exp show` kept by default: metrics/headline.json's <contender>.<figure> (DVC matches
# from the start of the column name, which is prefixed with "file:" only where two files share a key).
HEADLINE = r"(.*:)?\w+\.(test_accuracy|fit_s|steady_images_per_s)$"


def combined_report(params: dict, runs: list[tuple[str, int, str]], root: Path, out_dir: Path) -> Path:
    """The one place that knows the report code: materialise each run's result files from its
    experiment commit into one temporary tree, then build the report once over all of them.

    `params` is a params.yaml mapping whose frameworks and seeds are the union of the runs;
    `runs` lists (framework, seed, experiment ref)."""
    repeats = int(params.get("repeats", 1))
    with tempfile.TemporaryDirectory(prefix="kerasbench-collect-") as tmp:
        tree = Path(tmp)
        for framework, seed, ref in runs:
            for path in result_paths(framework, seed, repeats):
                (tree / path).parent.mkdir(parents=True, exist_ok=True)
                (tree / path).write_text(_text(root, ref, path))
        try:
            return build(parse(params), out_dir, out_dir / "summary.json", tree)
        except (ResultsError, ParamsError) as err:
            raise repo.FanoutError(f"combined report for {out_dir}: {err}") from None


@dataclass(frozen=True)
class Window:
    cell: str
    run: str        # <contender>-<seed>[-r<k>]
    node: str
    start: datetime.datetime
    end: datetime.datetime


def overlaps(windows: list[Window]) -> list[tuple[Window, Window]]:
    """Pairs of timed windows of different cells on the same node that overlap in time."""
    found = []
    ordered = sorted(windows, key=lambda w: (w.node, w.start))
    for i, a in enumerate(ordered):
        for b in ordered[i + 1:]:
            if b.node != a.node or b.start >= a.end:
                break
            if b.cell != a.cell:
                found.append((a, b))
    return found


def windows(root: Path, commit: str, cells: list[Cell]) -> list[Window]:
    """The timed window of every training process of these cells, from their environment files."""
    out = []
    for cell in cells:
        ref = repo.exp_prefix(commit) + cell.name
        params = read_yaml(_text(root, ref, "params.yaml"))
        for fw in params.get("frameworks", []):
            for seed in params.get("seeds", []):
                for k in range(int(params.get("repeats", 1))):
                    env = _env(Revision(root, ref, cell.name), paths.run_files(fw, seed, k)[paths.ENV])
                    timed = (env or {}).get("timed") or {}
                    node = ((env or {}).get("cluster") or {}).get("node") or (env or {}).get("hostname")
                    if node and timed.get("from") and timed.get("to"):
                        out.append(Window(cell.name, paths.run_name(fw, seed, k), node,
                                          datetime.datetime.fromisoformat(timed["from"]),
                                          datetime.datetime.fromisoformat(timed["to"])))
    return out


def overlap_lines(found: list[tuple[Window, Window]]) -> list[str]:
    return [f"warning: cells {a.cell} ({a.run}) and {b.cell} ({b.run}) timed on node {a.node} at the same time "
            f"({max(a.start, b.start):%H:%M:%S}–{min(a.end, b.end):%H:%M:%S} UTC): their speed figures disturbed "
            "each other (submit without --shared, or give each cell whole CPUs)" for a, b in found]


def _env(revision: Revision, path: str) -> dict | None:
    """An environment file of an experiment, None where missing or unreadable (its window is then unknown)."""
    try:
        return read_json(revision, path)
    except ResultsError:
        return None


def _text(root: Path, ref: str, path: str) -> str:
    """A file of an experiment commit (results.Revision reads it), or FanoutError naming both."""
    text = Revision(root, ref, ref).read_text(path)
    if text is None:
        raise repo.FanoutError(f"{ref}: has no {path}")
    return text


def pull(root: Path, commit: str, names: list[str]) -> None:
    refs = [repo.exp_prefix(commit) + name for name in names]
    repo.dvc("exp", "pull", "origin", *refs, cwd=root)


def _groups(root: Path, commit: str, cells: list[Cell]) -> dict[str, tuple[Cell, dict, list]]:
    """Group key (params.yaml without frameworks and seeds) -> (first cell, params, runs)."""
    groups: dict[str, tuple[Cell, dict, list]] = {}
    for cell in cells:
        ref = repo.exp_prefix(commit) + cell.name
        params = read_yaml(_text(root, ref, "params.yaml"))
        key = json.dumps({k: v for k, v in params.items() if k not in UNION}, sort_keys=True)
        first, _, runs = groups.setdefault(key, (cell, params, []))
        runs += [(fw, seed, ref) for fw in params["frameworks"] for seed in params["seeds"]]
    return groups


def _complete(runs: list[tuple[str, int, str]]) -> tuple[dict, list[str]]:
    """frameworks and seeds for the report: every contender that has every seed; the others named."""
    seeds = sorted({seed for _, seed, _ in runs})
    have: dict[str, set] = {}
    for fw, seed, _ in runs:
        have.setdefault(fw, set()).add(seed)
    keep = [fw for fw in have if have[fw] == set(seeds)]
    dropped = [f"{fw} (has seed(s) {sorted(have[fw])} of {seeds})" for fw in have if fw not in keep]
    return {"frameworks": keep, "seeds": seeds}, dropped


def reports(root: Path, grid: Grid, commit: str, cells: list[Cell], out: Path) -> list[str]:
    """Write one report per group of collected cells; the lines to print."""
    groups = _groups(root, commit, cells)
    lines = []
    for first, params, runs in groups.values():
        rest = {k: v for k, v in first.overrides.items() if k not in UNION}
        label = cell_name(grid.name, rest) if rest else grid.name
        out_dir = out if len(groups) == 1 else out / label
        union, dropped = _complete(runs)
        if dropped:
            lines.append(f"{label}: left out of the report, incomplete over seeds: {', '.join(dropped)}")
        if not union["frameworks"]:
            continue
        kept = [r for r in runs if r[0] in union["frameworks"]]
        path = combined_report({**params, **union}, kept, root, out_dir)
        path = path.relative_to(root) if path.is_relative_to(root) else path
        lines.append(f"{label}: {len(union['frameworks'])} contender(s) x {len(union['seeds'])} seed(s) "
                     f"({', '.join(union['frameworks'])}; seeds {', '.join(map(str, union['seeds']))}) -> {path}")
    return lines


def exp_show(root: Path, grid: Grid, commit: str, keep: str | None = None) -> str:
    """`dvc exp show` of the baseline, restricted to the grid's rows, swept params and headline metrics."""
    keys = sorted({k for c in grid.cells for k in c.overrides})
    keep = keep or "|".join(["Experiment$", *(f"(.*:)?{re.escape(k)}$" for k in keys), HEADLINE])
    table = repo.dvc("exp", "show", "--rev", commit, "--md", "--precision", "4",
                     "--drop", ".*", "--keep", keep, cwd=root).stdout
    names = {f"[{c.name}]" for c in grid.cells}
    lines = table.strip().splitlines()
    return "\n".join(lines[:2] + [line for line in lines[2:] if any(n in line for n in names)])
