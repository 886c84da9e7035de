"""The docs checked against the code: every repository path, pytest marker, `python -m` module and kerasbench
subcommand that README.md and docs/ name exists. The dated results in docs/results/ are records of what ran on
their day, with the commands of that day (scripts.power before it became `kerasbench power`): their paths are
checked, their commands are not."""
from __future__ import annotations

import re
import tomllib

import pytest

from kerasbench.cli import COMMANDS
from tests.helpers import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
# Source folders only: metrics/, reports/, models/ and the like are outputs, named before they exist.
PATH = re.compile(r"(?<![\w./<>-])((?:kerasbench|stages|scripts|tests|docs|requirements|plots/templates|\.ci)"
                  r"/[\w./<>-]*[\w/>])")   # with its <placeholders>, which are not checked
MARKER = re.compile(r"(?:pytest|make test\S*)[^\n`]*?[\s'\"]-m\s+['\"]?(?:not\s+)?(\w+)")
MODULE = re.compile(r"python3? -m ((?:kerasbench|stages|scripts|tests)(?:\.\w+)*)")
SUBCOMMAND = re.compile(r"(?:`|\$ |^|bin/)kerasbench ([a-z][a-z-]+)\b", re.M)   # as typed, not in prose


def text(page) -> str:
    return page.read_text()


def named(pattern: re.Pattern, dated: bool = True) -> list[tuple[str, str]]:
    return sorted({(page.relative_to(ROOT).as_posix(), m.group(1)) for page in PAGES
                   if dated or "results" not in page.relative_to(ROOT).parts for m in pattern.finditer(text(page))})


def test_every_named_path_exists():
    missing = [(page, path) for page, path in named(PATH)
               if not any(c in path for c in "*…<") and not (ROOT / path.rstrip("/.")).exists()]
    assert missing == []


def test_every_named_marker_is_declared():
    declared = {line.split(":")[0].strip() for line in
                tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["markers"]}
    found = named(MARKER)
    assert found, "the docs name no marker at all: the pattern is broken"
    assert [(page, marker) for page, marker in found if marker not in declared] == []


def test_every_named_module_exists():
    found = named(MODULE, dated=False)
    assert any(module.startswith("stages.") for _, module in found)
    missing = [(page, module) for page, module in found
               if not ((ROOT / module.replace(".", "/")).with_suffix(".py").exists()
                       or (ROOT / module.replace(".", "/") / "__init__.py").exists())]
    assert missing == []


def test_every_named_subcommand_exists():
    found = [(page, sub) for page, sub in named(SUBCOMMAND, dated=False)
             if sub != "container"]   # `kerasbench container`: the image's git identity, not a command
    assert any(sub == "compare" for _, sub in found)
    assert [(page, sub) for page, sub in found if sub not in COMMANDS] == []


@pytest.mark.parametrize("pattern, sample, expected", [
    (PATH, "see `kerasbench/no_such.py` and tests/test_x.py.", ["kerasbench/no_such.py", "tests/test_x.py"]),
    (MARKER, "`pytest -m e2e`, `make test ARGS='-m \"not quiet\"'`", ["e2e", "quiet"]),
    (MODULE, "python -m stages.train a b; python -m pytest", ["stages.train"]),
])
def test_the_patterns_find_what_they_should(pattern, sample, expected):
    assert [m.group(1) for m in pattern.finditer(sample)] == expected
