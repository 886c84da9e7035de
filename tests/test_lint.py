"""The code's shape, checked: ruff's rules (pyproject.toml), imports flowing one way (kerasbench/cli/imports.py), and
modules of one job each (about 300 lines at most)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from kerasbench.cli import imports

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 300


def test_ruff_is_clean():
    done = subprocess.run([str(Path(sys.executable).parent / "ruff"), "check", "--output-format", "concise", "."],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_import_is_declared_and_every_dependency_used():
    """deptry over the code and the tests, against requirements/*.in (pyproject.toml's dynamic dependencies
    and [tool.deptry]): no undeclared import (DEP001, DEP003), no unused dependency (DEP002)."""
    done = subprocess.run([str(Path(sys.executable).parent / "deptry"), "."], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={"NO_COLOR": "1", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_library_never_imports_the_command_line():
    assert imports.is_upward("kerasbench.report.build", "kerasbench.cli.compare")
    assert imports.is_upward("kerasbench.stats", "scripts")
    assert not imports.is_upward("kerasbench.cli.lock", "kerasbench.cli.lock_check")
    assert not imports.is_upward("kerasbench.__main__", "kerasbench.cli")


def test_imports_flow_one_way():
    """`kerasbench imports`: no cycle between kerasbench's modules, nothing imported from stages or scripts."""
    edges, upward = imports.graph()
    assert imports.cycles(edges) == [] and upward == []
    assert {"kerasbench.devices", "kerasbench.backends", "kerasbench.supervise"} <= edges["kerasbench.launch"]
    assert not edges["kerasbench.contenders"] - {"kerasbench"}   # the registry sits at the bottom


def test_the_cycle_finder_finds_a_cycle():
    assert imports.cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert imports.cycles({"a": {"b"}, "b": set()}) == []


def test_modules_stay_small():
    sizes = {str(p.relative_to(ROOT)): len(p.read_text().splitlines())
             for folder in ("kerasbench", "stages", "scripts") for p in (ROOT / folder).rglob("*.py")}
    assert {path: n for path, n in sizes.items() if n > MAX_LINES} == {}


# Library files whose edits cannot change any stage's output, so no stage lists them (the import walk stops
# there): a docstring, the output lock and parent-death guard, the environment check that only stops a stage.
NO_RESULT = {"kerasbench/__init__.py", "kerasbench/guard.py", "kerasbench/fingerprint.py"}
# What the data and report stages reach only through params.py's checks (the contender names of
# `frameworks`, the memory that bounds synthetic sizes): it decides whether params.yaml is accepted, never
# what these stages write, and an edit of it must not download CIFAR-10 again.
PARAMS_CHECKS = {"kerasbench/contenders/__init__.py", "kerasbench/host.py"}


def _closure(start: list[Path]) -> set[str]:
    """Every kerasbench file these files import, directly or through each other, but NO_RESULT's."""
    known = imports.modules()
    path = {name: str(p.relative_to(ROOT)) for name, p in known.items()}
    seen, todo = set(), [m for p in start for m in imports.imported(p) if m in known]
    while todo:
        name = todo.pop()
        if name not in seen and path[name] not in NO_RESULT:
            seen.add(name)
            todo += [m for m in imports.imported(known[name]) if m in known]
    return {path[name] for name in seen}


def test_every_stage_depends_on_the_code_it_imports():
    """dvc.yaml lists, for each stage, the library files its stage modules import (directly or not), so
    editing one reruns the stages that use it; a directory covers what is below it."""
    import fnmatch

    import yaml
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    missing = {}
    for name, stage in stages.items():
        deps = [d.replace("${item.framework}", "*") for d in stage["deps"]]
        own = [ROOT / d for d in deps if d.startswith("stages/")]
        assert own, f"{name}: no stage module among its deps"
        ignored = PARAMS_CHECKS if name in ("download", "prepare", "report") else set()
        uncovered = [f for f in sorted(_closure(own) - ignored)
                     if not any(fnmatch.fnmatch(f, d) or f.startswith(d.rstrip("/") + "/") for d in deps)]
        if uncovered:
            missing[name] = uncovered
    assert missing == {}


def _narrowest(keys) -> set[str]:
    """Dotted params keys without those that a declared section already covers (`train` covers `train.epochs`)."""
    keys = set(keys)
    return {k for k in keys if not any(k.startswith(other + ".") for other in keys)}


def test_every_stage_declares_the_params_it_reads():
    """Each stage module's PARAMS, the params its plan carries and the only ones it may read
    (kerasbench/plan.py refuses any other), are its `params:` in dvc.yaml: DVC reruns it when one changes."""
    import importlib

    import yaml
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    differ = {}
    for name, stage in stages.items():
        declared = _narrowest(importlib.import_module(f"stages.{name}").PARAMS)
        if declared != _narrowest(stage.get("params", [])):
            differ[name] = (sorted(declared), sorted(stage.get("params", [])))
    assert differ == {}


def test_a_param_read_but_not_declared_is_refused():
    """What failed unnoticed before: the train stage scored with evaluate.batch_size, which dvc.yaml did not
    list for it. With the stage's declared params only, reading it is an error that names the key."""
    import pytest

    from kerasbench import params, plan
    from stages import train
    p = params.load(ROOT / "params.yaml")
    assert plan.settings(p, "train", train.PARAMS).evaluate.batch_size == p.evaluate.batch_size
    without = [k for k in train.PARAMS if k != "evaluate.batch_size"]
    with pytest.raises(plan.UndeclaredParam, match=r"the train stage reads params.yaml's 'evaluate.batch_size', "
                                                   r"which it does not declare: add it to PARAMS in stages/train.py"):
        _ = plan.settings(p, "train", without).evaluate.batch_size


def test_stage_functions_read_top_to_bottom():
    """No function of a stage module is longer than 60 lines: a stage decides, then hands over."""
    import ast
    long = {f"{p.name}:{node.name}": node.end_lineno - node.lineno + 1
            for p in sorted((ROOT / "stages").glob("*.py")) for node in ast.walk(ast.parse(p.read_text()))
            if isinstance(node, ast.FunctionDef) and node.end_lineno - node.lineno + 1 > 60}
    assert long == {}
