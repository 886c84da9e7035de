"""The per-cell entry point: one generated bash script that every engine runs unchanged.

A task picks its cell by index (Slurm: SLURM_ARRAY_TASK_ID is the cell's index in the grid;
Kubernetes: JOB_COMPLETION_INDEX picks from the list of cells submitted), then:

    skip the cell if origin already holds its experiment (refs/exps/<commit>/<name>)
    git clone origin into a fresh scratch folder, check out the commit
    python -m kerasbench.fingerprint   (this node's environment, where DVC sees it)
    dvc exp run --pull -n NAME -S ...   (pulls from the DVC remote only what the pipeline needs)
    dvc exp push origin NAME           (the experiment's git ref to origin, its cache to the DVC remote)

Every task prints `fanout: start ...` and ends with one exit marker line that `status` reads:
`fanout: end cell=I name=NAME status=done|failed rc=N`. A task killed outright (node lost,
SIGKILL) leaves no marker; `status` says so. The script is plain text so that users can read
exactly what ran, and rerun one cell by hand: `SLURM_ARRAY_TASK_ID=3 bash job.sh`.
"""
from __future__ import annotations

import re
import shlex
from typing import Iterable

from kerasbench.fanout.grid import Cell

START = "fanout: start"
END = re.compile(r"^fanout: end cell=(?P<index>\d+) name=(?P<name>\S+) status=(?P<status>\w+) rc=(?P<rc>-?\d+)")

_BODY = r'''
set -uo pipefail
ORIGIN={origin}
COMMIT={commit}
export DVC_NO_ANALYTICS=1 TF_CPP_MIN_LOG_LEVEL=2
export KERASBENCH_PLACEMENT={placement}   # recorded beside every result (kerasbench/host.py)
{path_line}
{index_lines}
case "$INDEX" in
{cases}
  *) echo "fanout: no cell with index '$INDEX' in this script"; exit 2 ;;
esac
ATTEMPT=${{SLURM_RESTART_COUNT:-0}}
WORK=""
finish() {{  # finish STATUS RC: the exit marker `status` reads, then clean up the scratch folder
  echo "fanout: end cell=$INDEX name=$NAME status=$1 rc=$2 at=$(date -u +%FT%TZ)"
  cd / && [ -n "$WORK" ] && rm -rf "$WORK"
  exit "$2"
}}
step() {{ echo "fanout: \$ $*"; "$@" || finish failed $?; }}
# Slurm sends SIGTERM before it cancels, requeues or times out a task: leave no scratch behind.
trap 'echo "fanout: stopped by SIGTERM (cancelled, requeued or out of time)"; finish failed 143' TERM

echo "fanout: start cell=$INDEX name=$NAME attempt=$ATTEMPT host=$(hostname) commit=$COMMIT at=$(date -u +%FT%TZ)"
if [ "$ATTEMPT" -gt 1 ]; then echo "fanout: requeued more than once, giving up"; finish failed 1; fi
if git ls-remote --exit-code "$ORIGIN" "refs/exps/${{COMMIT:0:2}}/${{COMMIT:2}}/$NAME" >/dev/null; then
  echo "fanout: origin already holds experiment $NAME of $COMMIT: nothing to run"
  finish done 0
fi
WORK=$(mktemp -d "${{FANOUT_SCRATCH:-${{TMPDIR:-/tmp}}}}/kerasbench-fanout.XXXXXX") || finish failed 1
step git clone --quiet --no-checkout "$ORIGIN" "$WORK/repo"
cd "$WORK/repo" || finish failed 1
step git checkout --quiet --detach "$COMMIT"
git config user.email >/dev/null || git config user.email "fanout@kerasbench.invalid"
git config user.name >/dev/null || git config user.name "kerasbench fan-out"
step {container}python -m kerasbench.fingerprint   # this node's GPUs, driver and packages, where DVC sees them
step {container}dvc exp run --pull -n "$NAME" "${{SETS[@]}}"
step {container}dvc exp push origin "$NAME"
finish done 0
'''


def _case(cell: Cell) -> str:
    sets = " ".join(f"-S {shlex.quote(s)}" for s in cell.sets)
    return f"  {cell.index}) NAME={shlex.quote(cell.name)}; SETS=({sets}) ;;"


def script(header: Iterable[str], origin: str, commit: str, cells: Iterable[Cell],
           index_lines: str, bin_dir: str | None, container: str | None = None, placement: str = "exclusive") -> str:
    """The task script: `header` (engine directives and comments), then the common body.

    `index_lines` sets INDEX (the cell's index in the grid); `bin_dir`, if given, is put first on
    PATH (the project's venv: stage commands call `python`, tasks call `dvc`). `container`, if given,
    is a command prefix that runs the dvc steps in a container (e.g. `apptainer exec --nv IMAGE`),
    written into the script as is; python and dvc then come from the image. `placement` (exclusive or
    shared) says whether the engine was asked for a node or whole CPUs to itself; the stages record it."""
    if container:
        bin_dir = None
    path_line = f'export PATH={shlex.quote(bin_dir)}:"$PATH"' if bin_dir else "# python and dvc: from the image's PATH"
    body = _BODY.format(origin=shlex.quote(origin), commit=shlex.quote(commit), path_line=path_line,
                        index_lines=index_lines, cases="\n".join(_case(c) for c in cells),
                        container=f"{container} " if container else "", placement=shlex.quote(placement))
    return "#!/bin/bash\n" + "\n".join(header) + "\n" + body.lstrip("\n")


def last_attempt(log_text: str) -> tuple[bool, dict | None, list[str]]:
    """(started, exit marker of the last attempt or None, the log lines of that attempt)."""
    lines = log_text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith(START)]
    if not starts:
        return False, None, lines
    attempt = lines[starts[-1]:]
    ends = [m.groupdict() for m in map(END.match, attempt) if m]
    return True, (ends[-1] if ends else None), attempt
