"""Epochs as they happen, where DVC's tools look: the stage process logs each epoch with dvclive.

The training child sends every finished epoch's row to its supervising parent (kerasbench/supervise.py:
one JSON line on a pipe, written after the epoch's clock stopped, so nothing is added to the timed
region); the parent, which imports no framework, logs it with dvclive's `Live` into the stage's own
folder. dvclive is told to leave dvc.yaml alone (`dvcyaml=None`), not to save experiments
(`save_dvc_exp=False`) and not to open the DVC repository at all: the pipeline declares the folder
as an output and DVC saves the experiment. (dvclive 3.49's own repository step fails in a git
repository without a commit, and outside a DVC repository it would create one.) A crash mid-fit
leaves the epochs logged so far: each `next_step()` writes them.
"""
from __future__ import annotations

import math
from pathlib import Path

SKIPPED = ("epoch",)   # the step itself


class EpochLog:
    """The parent's sink for epoch rows: one Live per stage run.

    open() it before the training child starts: importing dvclive and creating the folder cost about 0.4 s
    of CPU, which must not run beside the child's first steady epoch. After that, logging one
    epoch costs about a millisecond of the parent's CPU (docs/report.md)."""

    def __init__(self, directory: Path | str):
        self.directory = Path(directory)
        self.live = None

    def open(self) -> EpochLog:
        from dvclive import Live

        class FilesOnly(Live):
            def _init_dvc(self):   # dvclive's hook that opens (or creates) the DVC repository: files only
                self._dvc_file = "dvc.yaml"

        self.live = FilesOnly(str(self.directory), dvcyaml=None, save_dvc_exp=False, report=None,
                              monitor_system=False)
        return self

    def __call__(self, message: dict) -> None:
        row = message.get("epoch")
        if not isinstance(row, dict):   # another kind of message: not this sink's
            return
        for key, value in row.items():
            if key not in SKIPPED and isinstance(value, (int, float)) and math.isfinite(value):
                self.live.log_metric(key, value)
        self.live.next_step()

    def close(self) -> None:
        if self.live is not None:
            self.live.end()
