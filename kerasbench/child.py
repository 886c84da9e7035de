"""The measuring process of a train or evaluate stage: `python -m kerasbench.child PLAN`.

The stage process has decided everything (kerasbench/plan.py) and supervises this one under the
contender's interpreter (kerasbench/launch.py `hand_over`): it reads the plan and calls the function
the plan names, which selects the contender and measures. It holds no lock and checks nothing twice;
an interrupt ends it quietly (the stage process says the one line), a problem with the contender or an
output ends it with one line on stderr, which the stage passes on.
"""
from __future__ import annotations

import importlib
import sys

from kerasbench import guard
from kerasbench.contenders import ContenderError
from kerasbench.plan import Plan


def main(argv: list[str] | None = None) -> None:
    plan = Plan.read((sys.argv[1:] if argv is None else argv)[0])
    guard.catch_interrupts(f"{plan.stage}@{plan.contender}-{plan.seed}")
    module, function = plan.measure.split(":")
    try:
        getattr(importlib.import_module(module), function)(plan)
    except ContenderError as err:
        sys.exit(f"error: {err}")


if __name__ == "__main__":
    guard.run(main, quiet=True)
