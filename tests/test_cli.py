"""The `kerasbench` command (kerasbench/cli/): every subcommand's --help, and a bad argument to each."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kerasbench import cli

ROOT = Path(__file__).resolve().parents[1]
BAD = "--no-such-option"
# What comes before the bad option, where a subcommand needs a positional argument first.
BEFORE = {"compare": ["HEAD"], "fanout": ["plan", "grids/example.yaml"], "calibrate": ["resample", "results/pool"],
          "spread": ["a:seed=1"]}


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = cli.main(list(argv))
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("command", list(cli.COMMANDS))
def test_every_subcommand_has_help(capsys, command):
    code, out, err = run(capsys, command, "--help")
    assert code == 0 and err == ""
    assert out.startswith(f"usage: kerasbench {command}") and "--help" in out


@pytest.mark.parametrize("command", list(cli.COMMANDS))
def test_a_bad_argument_is_one_line_and_exit_2(capsys, command):
    code, out, err = run(capsys, command, *BEFORE.get(command, []), BAD)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"kerasbench {command}") and BAD in err, err
    assert ": error: " in err and err.endswith(" --help)\n")


def test_the_top_level_lists_every_subcommand_and_refuses_unknown_ones(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0 and all(f"\n  {name} " in out for name in cli.COMMANDS)
    code, _, err = run(capsys, "frobnicate")
    assert code == 2 and err.startswith("kerasbench: error: unknown subcommand 'frobnicate'; known: repro, ")
    code, _, err = run(capsys)
    assert code == 2 and "required: SUBCOMMAND" in err


def test_the_installed_command_runs_without_a_traceback():
    """The console script that `make setup` (pip install -e .) put beside the interpreter."""
    script = Path(sys.executable).parent / "kerasbench"
    assert script.is_file(), "make setup installs the package: pip install --editable ."
    done = subprocess.run([str(script), "compare", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0 and done.stdout.startswith("usage: kerasbench compare")
    done = subprocess.run([str(script), "lock", "--check", "cuda99"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr == ("kerasbench lock: error: unknown lock(s) cuda99; known: tensorflow, jax, torch "
                           "(see kerasbench lock --help)\n")
