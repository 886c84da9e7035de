"""The `kerasbench` command: one subcommand per tool, each a module of this package with `main(argv)`.

`kerasbench --help` lists them; `kerasbench SUBCOMMAND --help` shows that one's options. A
subcommand's module is imported only when it runs, so `--help` and a typo cost no framework
import. Every parser is a `Parser`: a bad argument is one line on stderr and exit status 2, no
traceback and no usage block.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

# name: (module of this package, one line for `kerasbench --help`), in the order a user meets them.
COMMANDS = {
    "repro": ("repro", "run the pipeline (dvc repro), saying which stage of how many is running"),
    "devices": ("devices", "which device each contender would train on, and why not a GPU"),
    "compare": ("compare", "compare two revisions or experiments, with intervals and verdicts"),
    "history": ("history", "every contender's headline figures across a branch's commits, as one HTML page"),
    "power": ("power", "the smallest change each figure could detect with the processes run"),
    "spread": ("spread", "how much each setting varies between processes (fresh runs)"),
    "calibrate": ("calibrate", "record a pool of runs and check how often the verdicts are right"),
    "benchmark": ("benchmark", "harness overhead: the train stage's fit against a bare model.fit"),
    "fanout": ("fanout", "plan, submit, watch and collect a grid of experiments (Slurm, Kubernetes, local)"),
    "lock": ("lock", "regenerate the lock files from requirements/*.in"),
    "gpu-check": ("gpu_check", "train every contender a GPU host can run, with its figures"),
    "imports": ("imports", "check that imports flow one way (no cycle, the library imports no tool)"),
}


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: `kerasbench SUB: error: ...` on stderr, exit status 2."""

    def error(self, message: str):
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


def checkout() -> Path:
    """The kerasbench checkout a tool works in (params.yaml, dvc.yaml, stages/): the one this package
    sits in when run from a clone or installed with `pip install -e .`, else the current directory."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "dvc.yaml").is_file() else Path.cwd()


def parser(command: str, doc: str | None) -> Parser:
    """The parser of one subcommand: `kerasbench COMMAND`, its module's docstring as the help text."""
    return Parser(prog=f"kerasbench {command}", description=doc,
                  formatter_class=argparse.RawDescriptionHelpFormatter)


def version() -> str:
    from importlib import metadata
    try:
        return metadata.version("kerasbench")
    except metadata.PackageNotFoundError:   # run from a checkout that was never installed
        return "(not installed)"


def top_parser() -> Parser:
    width = max(map(len, COMMANDS))
    listing = "\n".join(f"  {name:<{width}}  {line}" for name, (_, line) in COMMANDS.items())
    p = Parser(prog="kerasbench", formatter_class=argparse.RawDescriptionHelpFormatter,
               description="LeNet-5 on CIFAR-10 across Keras generations and backends: the tools around "
                           "the DVC pipeline.",
               epilog=f"subcommands:\n{listing}\n\n`kerasbench SUBCOMMAND --help` for each one's options.")
    p.add_argument("command", metavar="SUBCOMMAND", choices=list(COMMANDS), help="one of the subcommands below")
    p.add_argument("--version", action="version", version=f"kerasbench {version()}")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] not in COMMANDS and not argv[0].startswith("-"):
        top_parser().error(f"unknown subcommand {argv[0]!r}; known: {', '.join(COMMANDS)}")
    args = top_parser().parse_args(argv[:1])   # --help, --version, or the subcommand's name
    module = importlib.import_module(f"kerasbench.cli.{COMMANDS[args.command][0]}")
    return module.main(argv[1:]) or 0
