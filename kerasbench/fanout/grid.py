"""The grid file: which `dvc exp run -S ...` cells to run, each with a stable, readable name.

    name: batch-sweep              # experiment prefix
    params:                        # dotted params.yaml key -> list of values; cells = cartesian product
      frameworks: [[keras3_jax], [keras3_torch]]
      seeds: [[0], [1], [2]]
      train.batch_size: [32, 256]
    cells:                         # optional: explicit override sets, added after the product
      - {frameworks: [tf_keras], train.jit_compile: true}

Keys are checked against the keys present in the repository's params.yaml; values are checked
the way a stage would see them: each cell's overrides are applied to params.yaml by DVC's own
`-S` code and the result is validated by kerasbench.params. Every problem is one line naming the
key, and every cell is checked before anything is submitted.

Values are taken literally: a string stays the string it is in the grid file (`"true"`, `"null"`
or an all-digit checksum are quoted for DVC's parser, which would otherwise read a boolean, a null or
a number), and a string that DVC/Hydra would resolve (`${...}`: an environment variable of the
cluster node, pushed to origin in params.yaml) or that holds a control character is refused, naming
the cell. A grid may expand to at most MAX_CELLS cells (Slurm's default array limit is 1001 tasks);
a bigger one is refused before anything is expanded.
"""
from __future__ import annotations

import difflib
import hashlib
import itertools
import json
import math
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml.error import YAMLError

from kerasbench import params as params_contract
from kerasbench.params import read_yaml
from kerasbench.results import get

MAX_BYTES = 256 * 1024   # a grid file; a 13.9 MB one kept `plan` busy for minutes

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,39}")
MAX_NAME = 96          # an experiment name is one git ref component; keep it short enough to read
_BARE = re.compile(r"[A-Za-z_][A-Za-z0-9_./-]*")   # a string written as is after `-S key=` ...
_RETYPED = {"true", "false", "null", "nan", "inf", "infinity"}   # ... unless Hydra would read it as another type
MAX_CELLS = 1000       # Slurm's default MaxArraySize is 1001 (indices 0..1000)
_UNSAFE = re.compile(r"\$\{|[\x00-\x1f\x7f]")     # an interpolation, or a control character
_SLUG_UNSAFE = re.compile(r"[^A-Za-z0-9_.+=-]")


class GridError(ValueError):
    """A problem with a grid file; the message is one line per problem, ready to print."""


@dataclass(frozen=True)
class Cell:
    index: int                 # position in the grid: product first, then the explicit cells
    name: str                  # the experiment name (`dvc exp run -n`)
    overrides: dict            # dotted key -> value, as written in the grid

    @property
    def sets(self) -> list[str]:
        """The `-S key=value` arguments of this cell."""
        return [f"{key}={render(value)}" for key, value in self.overrides.items()]


@dataclass(frozen=True)
class Grid:
    path: Path
    name: str
    cells: tuple[Cell, ...]

    def cell(self, name: str) -> Cell:
        return next(c for c in self.cells if c.name == name)


def render(value: object) -> str:
    """A grid value as the text after `-S key=` (Hydra's override grammar, which DVC parses)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        if _BARE.fullmatch(value) and value.lower() not in _RETYPED:
            return value
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, list):
        return "[" + ",".join(render(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{render(v)}" for k, v in value.items()) + "}"
    raise GridError(f"cannot pass a {type(value).__name__} to -S: {value!r}")


def dotted_keys(mapping: dict, prefix: str = "") -> list[str]:
    """Every key of a nested mapping as a dotted path, sections included (data, data.synthetic, ...)."""
    keys = []
    for key, value in mapping.items():
        dotted = f"{prefix}{key}"
        keys.append(dotted)
        if isinstance(value, dict):
            keys += dotted_keys(value, dotted + ".")
    return keys


def _short_hash(overrides: dict) -> str:
    text = json.dumps({k: render(v) for k, v in overrides.items()}, sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:7]


def cell_name(prefix: str, overrides: dict) -> str:
    """prefix-leaf=value-...: the last part of each dotted key (the whole key where two leaves
    clash), list items joined by '+'. A short hash is added when characters had to be replaced
    or the name would be long, so the name always stays unique and a valid git ref component."""
    leaves = [key.rsplit(".", 1)[-1] for key in overrides]
    parts, lossy = [], False
    for key, leaf in zip(overrides, leaves):
        value = overrides[key]
        plain = [v if isinstance(v, str) else render(v) for v in (value if isinstance(value, list) else [value])]
        text = "+".join(plain)
        slug = re.sub(r"\.\.+", ".", _SLUG_UNSAFE.sub("_", text)).strip(".") or "_"
        lossy |= slug != text
        parts.append(f"{key if leaves.count(leaf) > 1 else leaf}={slug}")
    name = "-".join([prefix, *parts]) if parts else f"{prefix}-defaults"
    if lossy or len(name) > MAX_NAME:
        name = f"{name[:MAX_NAME - 8].rstrip('.')}-{_short_hash(overrides)}"
    return name


def unsafe(value: object) -> str | None:
    """Why a value cannot be passed to `-S` literally (a string DVC/Hydra would resolve), or None."""
    if isinstance(value, str):
        found = _UNSAFE.search(value)
        if found:
            what = "'${', which DVC would resolve (e.g. an environment variable of the node)" \
                if found.group() == "${" else "a control character"
            shown = value if len(value) <= 40 else value[:37] + "..."
            return f"{shown!r} holds {what}; grid values are taken literally"
        return None
    if isinstance(value, list):
        return next((why for why in map(unsafe, value) if why), None)
    if isinstance(value, dict):
        return next((why for why in map(unsafe, [*value, *value.values()]) if why), None)
    return None


def _unknown(where: str, key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    return f"{where}: unknown params.yaml key ({hint}known: {', '.join(known)})"


def _check_keys(path: Path, where: str, keys, params: dict, problems: list[str]) -> None:
    known = dotted_keys(params)
    leaves = [k for k in known if not isinstance(get(params, k), dict)]
    for key in keys:
        if not isinstance(key, str) or key not in known:
            problems.append(_unknown(f"{path}: {where}.{key}", str(key), leaves))


def _swept(path: Path, raw: dict, params: dict, problems: list[str]) -> list[dict]:
    swept = raw.get("params") or {}
    if not isinstance(swept, dict):
        problems.append(f"{path}: params: expected a mapping of dotted params.yaml keys to lists of values")
        return []
    _check_keys(path, "params", swept, params, problems)
    for key, values in swept.items():
        if not isinstance(values, list) or not values:
            problems.append(f"{path}: params.{key}: expected a non-empty list of values to sweep (got {values!r})")
        elif key in dotted_keys(params) and isinstance(get(params, key), list) \
                and not all(isinstance(v, list) for v in values):
            problems.append(f"{path}: params.{key}: params.yaml's {key} is a list, so sweep it with a list "
                            f"of lists, e.g. [{render(get(params, key)[:1])}, ...] (got {render(values)})")
    if problems:
        return []
    count = math.prod(len(values) for values in swept.values())
    if count > MAX_CELLS:
        sizes = " x ".join(f"{len(values)} {key}" for key, values in swept.items())
        problems.append(f"{path}: params: {sizes} = {count:,} cells, more than the {MAX_CELLS:,} one grid may hold "
                        f"(Slurm's default array limit is 1001 tasks): split the grid")
        return []
    return [dict(zip(swept, combo)) for combo in itertools.product(*swept.values())] if swept else []


def _explicit(path: Path, raw: dict, params: dict, problems: list[str]) -> list[dict]:
    cells = raw.get("cells") or []
    if not isinstance(cells, list) or not all(isinstance(c, dict) for c in cells):
        problems.append(f"{path}: cells: expected a list of mappings (dotted params.yaml key -> value)")
        return []
    if len(cells) > MAX_CELLS:
        problems.append(f"{path}: cells: {len(cells):,} cells, more than the {MAX_CELLS:,} one grid may hold")
        return []
    for i, cell in enumerate(cells):
        _check_keys(path, f"cells[{i}]", cell, params, problems)
    return [dict(c) for c in cells]


def _apply(params_text: str, sets: list[str], scratch: Path) -> dict:
    """params.yaml as a stage would read it after `dvc exp run -S ...` (DVC's own code applies it)."""
    from dvc.exceptions import InvalidArgumentError
    from dvc.utils.hydra import apply_overrides

    target = scratch / "params.yaml"
    target.write_text(params_text)
    try:
        apply_overrides(target, sets)
    except InvalidArgumentError as err:
        cause = str(err.__cause__ or err).splitlines()[0]
        raise GridError(f"-S {' -S '.join(sets)}: {cause}") from None
    return read_yaml(target.read_text())


def _check_values(path: Path, cells: list[Cell], params_text: str, problems: list[str]) -> None:
    seen: dict[str, str] = {}
    shown = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="kerasbench-grid-") as scratch:
        for number, cell in enumerate(cells, 1):
            if time.monotonic() - shown > 2:   # a big grid: say how far the check is
                print(f"{path}: checked {number - 1} of {len(cells)} cells", file=sys.stderr, flush=True)
                shown = time.monotonic()
            why = next((f"{key}: {reason}" for key, value in cell.overrides.items()
                        for reason in [unsafe(value)] if reason), None)
            if why:
                problems.append(f"{path}: cell {cell.index} ({cell.name}): {why}")
                continue
            try:
                params_contract.parse(_apply(params_text, cell.sets, Path(scratch)), "params.yaml")
                continue
            except (GridError, params_contract.ParamsError) as err:
                lines = str(err).splitlines()
            for line in lines:
                if line not in seen:
                    seen[line] = f"{path}: cell {cell.index} ({cell.name}): {line}"
    problems += seen.values()


def _unique(path: Path, cells: list[Cell], problems: list[str]) -> None:
    first: dict[str, Cell] = {}
    for cell in cells:
        key = json.dumps({k: render(v) for k, v in cell.overrides.items()}, sort_keys=True)
        if key in first:
            problems.append(f"{path}: cell {cell.index} repeats cell {first[key].index} ({cell.name})")
        first.setdefault(key, cell)


def parse(raw: object, path: Path, params_text: str) -> Grid:
    """Validate a loaded grid against params.yaml's text; raise GridError listing every problem."""
    params = read_yaml(params_text)
    if not isinstance(raw, dict):
        raise GridError(f"{path}: expected a mapping with name, params and/or cells")
    problems = [f"{path}: unknown key '{k}' (allowed: name, params, cells)"
                for k in raw if k not in ("name", "params", "cells")]
    name = raw.get("name")
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        problems.append(f"{path}: name: expected an experiment prefix of letters, digits, '-' and '_' "
                        f"(at most 40, starting with a letter or digit; got {name!r})")
    overrides = _swept(path, raw, params, problems) + _explicit(path, raw, params, problems)
    if len(overrides) > MAX_CELLS:
        problems.append(f"{path}: {len(overrides):,} cells with the explicit ones, more than the {MAX_CELLS:,} "
                        "one grid may hold: split the grid")
    if not overrides and not problems:
        problems.append(f"{path}: no cells: give params to sweep and/or a list of cells")
    if problems:
        raise GridError("\n".join(problems))
    cells = [Cell(i, cell_name(name, o), o) for i, o in enumerate(overrides)]
    _unique(path, cells, problems)
    if not problems:
        _check_values(path, cells, params_text, problems)
    if problems:
        raise GridError("\n".join(problems))
    return Grid(path, name, tuple(cells))


def load(path: Path | str, params_path: Path | str = "params.yaml") -> Grid:
    path = Path(path)
    try:
        if path.stat().st_size > MAX_BYTES:
            raise GridError(f"{path}: {path.stat().st_size:,} bytes, more than the {MAX_BYTES:,} a grid file may hold")
        raw = read_yaml(path.read_text())
        params_text = Path(params_path).read_text()
    except FileNotFoundError as err:
        raise GridError(f"{err.filename}: file not found") from None
    except YAMLError as err:
        raise GridError(f"{path}: not valid YAML: {err}".replace("\n", " ")) from None
    return parse(raw, path, params_text)
