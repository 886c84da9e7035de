"""The code's shape, checked: ruff's rules (pyproject.toml), imports flowing one way (scripts/imports.py), and
modules of one job each (about 300 lines at most)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from scripts import imports

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 300


def test_ruff_is_clean():
    done = subprocess.run([str(Path(sys.executable).parent / "ruff"), "check", "--output-format", "concise", "."],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_imports_flow_one_way():
    """`python -m scripts.imports`: no cycle between kerasbench's modules, nothing imported from stages or scripts."""
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
