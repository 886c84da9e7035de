"""The params contract: params.yaml is read and validated here, once, before any work.

Every key is required (params.yaml pins everything that changes a result), unknown
keys are refused, and each problem is reported on one line naming the key and what is
allowed. Stages call `load_or_exit()` and receive a frozen, typed object.

The file is read the way DVC reads it (ruamel.yaml, YAML 1.2), so every value DVC accepts in
the file or through `dvc exp run -S` means the same to the stages: `1e-4` is a number (PyYAML,
YAML 1.1, would read it as a string), `yes` is a string.
"""
from __future__ import annotations

import difflib
import math
import sys
from pathlib import Path
from typing import Annotated, Literal, Optional, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, ValidationError, model_validator
from ruamel.yaml.error import YAMLError

from kerasbench import contenders, host
from kerasbench import duration as durations
from kerasbench.yamlfile import read_yaml

FRAMEWORKS = tuple(contenders.names())   # every contender module of kerasbench/contenders/
SYNTHETIC = "synthetic"
OFFICIAL_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"

Count = Annotated[int, Field(ge=1)]
Seed = Annotated[int, Field(ge=0, le=2**31 - 1)]
MD5 = Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{32}$")]
MAX_SEEDS = 100     # DVC's matrix grows with every seed: 10,000 made `dvc status` run for minutes
MAX_RUNS = 10_000   # frameworks x seeds x repeats: training processes one pipeline may plan


def _threads(value):
    if value == "default" or (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
        return value
    raise ValueError(f"must be 'default' or a whole number of CPUs, 1 or more (got {value!r})")


Threads = Annotated[Union[Literal["default"], int], BeforeValidator(_threads)]


def _contender(value):
    if isinstance(value, str) and value in FRAMEWORKS:
        return value
    close = difflib.get_close_matches(str(value), FRAMEWORKS, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ValueError(f"unknown contender {value!r}{hint}; known: {', '.join(FRAMEWORKS)} (kerasbench/contenders/)")


ContenderName = Annotated[str, BeforeValidator(_contender)]


def _repeats(value):
    if value == "auto" or (isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 1000):
        return value
    raise ValueError(f"must be a whole number from 1 to 1000, or 'auto' (rounds until the comparisons decide; "
                     f"see adaptive), got {shorten(value)}")


Repeats = Annotated[Union[Literal["auto"], int], BeforeValidator(_repeats)]


def _duration(value):
    if isinstance(value, str):
        durations.parse(value)   # ValueError with the reason
        return value
    raise ValueError(f"must be a duration with units such as 20m or 1h30m, got {shorten(value)}")


Duration = Annotated[str, BeforeValidator(_duration)]


class ParamsError(ValueError):
    """Raised with a message that is ready to show to a user (one line per problem)."""


class _Strict(BaseModel):
    # inf and nan are refused everywhere: no infinite timeout, no NaN learning rate
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


class Synthetic(_Strict):
    # At most what the CIFAR-10 binary format holds: 5 files of 10,000 training images, 10,000 test images.
    train: Annotated[int, Field(ge=1, le=50_000)]
    test: Annotated[int, Field(ge=1, le=10_000)]


class Download(_Strict):
    timeout_s: Annotated[float, Field(gt=0, le=3600)]      # an hour without a byte is a dead connection
    retries: Annotated[int, Field(ge=0, le=100)]


class Data(_Strict):
    source: Annotated[str, StringConstraints(min_length=1)]
    md5: Optional[MD5]
    synthetic: Synthetic
    limit_train: Optional[Count]
    limit_test: Optional[Count]
    download: Download

    @property
    def is_synthetic(self) -> bool:
        return self.source == SYNTHETIC

    @property
    def is_url(self) -> bool:
        return self.source.startswith(("http://", "https://"))

    @model_validator(mode="after")
    def _md5_required(self):
        if not self.is_synthetic and self.md5 is None:
            raise ValueError("data.md5 is required when data.source is a URL or a file "
                             "(the archive's expected MD5, 32 hex digits)")
        return self


class Train(_Strict):
    epochs: Count
    batch_size: Count
    optimizer: Literal["adam", "sgd", "rmsprop", "adamw"]
    learning_rate: Annotated[float, Field(gt=0, le=10)]
    validation_split: Annotated[float, Field(ge=0, lt=1)]
    shuffle: bool
    jit_compile: Literal["default", True, False]
    deterministic: bool
    precision: Literal["float32", "mixed_float16", "mixed_bfloat16"]
    target_accuracy: Optional[Annotated[float, Field(gt=0, le=1)]]
    compile_cache: Literal["off", "cold", "warm"]
    threads: Threads

    def train_count(self, n: int) -> int:
        """Keras fit's split: the first floor(n * (1 - validation_split)) samples train, the rest validate
        (before shuffling). The one place this rule is written."""
        return int(math.floor(n * (1.0 - self.validation_split)))

    def check_data(self, n: int) -> str | None:
        """Why training on n images with these settings is impossible, or None."""
        fitted = self.train_count(n)
        if fitted < 1:
            return (f"train.validation_split {self.validation_split:g} of {n:,} images leaves no image to train on")
        if self.validation_split > 0 and fitted == n:
            return (f"train.validation_split {self.validation_split:g} of {n:,} images leaves no image to validate "
                    f"on; use at least {1 / n:.2g}, or 0")
        if self.batch_size > fitted:
            return (f"train.batch_size {self.batch_size:,} is larger than the {fitted:,} images each epoch trains on; "
                    f"use at most {fitted:,}")
        return None


class Evaluate(_Strict):
    batch_size: Count
    repeats: Annotated[int, Field(ge=1, le=1000)]


class Adaptive(_Strict):
    """With `repeats: auto`: rounds until the comparisons of interest decide (stages/repeat.py)."""
    budget: Duration                                   # the repeat stage's processes, all rounds together
    factor: Annotated[float, Field(gt=1, le=10)]       # the band [1/factor, factor] of '='
    max_repeats: Annotated[int, Field(ge=2, le=1000)]  # training processes per contender x seed at most

    @property
    def budget_s(self) -> float:
        return durations.parse(self.budget)


class Params(_Strict):
    seed: Seed
    data: Data
    frameworks: Annotated[list[ContenderName], Field(min_length=1)]
    seeds: Annotated[list[Seed], Field(min_length=1, max_length=MAX_SEEDS)]
    repeats: Repeats
    adaptive: Adaptive
    device: Literal["auto", "cpu", "gpu"]
    train: Train
    evaluate: Evaluate

    @property
    def auto(self) -> bool:
        return self.repeats == "auto"

    @model_validator(mode="after")
    def _unique(self):
        for key in ("frameworks", "seeds"):
            values = getattr(self, key)
            if len(set(values)) != len(values):
                raise ValueError(f"{key} lists a value twice: {shorten(values)}")
        runs = len(self.frameworks) * len(self.seeds) * (self.adaptive.max_repeats if self.auto else self.repeats)
        if runs > MAX_RUNS:
            raise ValueError(f"frameworks x seeds x repeats is {runs:,} training processes, more than the "
                             f"{MAX_RUNS:,} one pipeline may plan; fan a larger grid out (docs/cluster.md)")
        return self


def _where(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not (isinstance(part, str) and (part.startswith("literal[") or part in ("bool", "int", "float", "str"))):
            out += f".{part}" if out else str(part)
    return out


def shorten(value: object, limit: int = 80) -> str:
    """repr(value), cut to `limit` characters: an error message never prints a huge value whole."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit - 25]}... ({len(text):,} characters)"


def _explain(err: ValidationError, path: Path) -> str:
    lines = []
    for e in err.errors():
        key = _where(e["loc"])
        if e["type"] == "extra_forbidden":
            lines.append(f"{path}: unknown key '{key}'")
        elif e["type"] == "missing":
            lines.append(f"{path}: missing key '{key}'")
        elif e["type"] == "value_error":
            message = e["msg"].removeprefix("Value error, ")
            lines.append(f"{path}: {key}: {message}" if key and not message.startswith(key) else f"{path}: {message}")
        else:
            lines.append(f"{path}: {key}: {e['msg']} (got {shorten(e['input'])})")
    return "\n".join(lines)


def parse(raw: object, path: Path | str = "params.yaml") -> Params:
    """Validate an already-loaded mapping; raise ParamsError with a readable message."""
    path = Path(path)
    if not isinstance(raw, dict):
        raise ParamsError(f"{path}: expected a mapping of keys at the top level, got {type(raw).__name__}")
    try:
        return Params.model_validate(raw)
    except ValidationError as err:
        raise ParamsError(_explain(err, path)) from None


def load(path: Path | str = "params.yaml") -> Params:
    """params.yaml, validated, and checked against this machine (the limits that depend on it)."""
    path = Path(path)
    try:
        raw = read_yaml(path.read_text())
    except FileNotFoundError:
        raise ParamsError(f"{path}: file not found") from None
    except YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML: {err}".replace("\n", " ")) from None
    return check_machine(parse(raw, path), path)


IMAGE_BYTES = 3072 * 5   # one image in memory at its peak: uint8 as prepared, float32 as trained


def check_machine(p: Params, path: Path | str = "params.yaml") -> Params:
    """Limits that only the machine running a stage knows (a grid is planned elsewhere: `parse` alone)."""
    cpus = len(host.allowed_cpus())
    if p.train.threads != "default" and p.train.threads > cpus:
        raise ParamsError(f"{path}: train.threads: {p.train.threads} is more than the {cpus} CPU(s) this process "
                          "may use here; use at most that, or 'default'")
    if p.data.is_synthetic:
        needed = (p.data.synthetic.train + p.data.synthetic.test) * IMAGE_BYTES
        available = host.available_memory()
        if needed > available:
            raise ParamsError(f"{path}: data.synthetic: {p.data.synthetic.train:,} + {p.data.synthetic.test:,} "
                              f"images need about {needed / 2**30:.1f} GiB, but {available / 2**30:.1f} GiB of "
                              "memory is available here")
    return p


def load_or_exit(path: Path | str = "params.yaml") -> Params:
    """For stage entry points: a params problem ends the process with its message."""
    try:
        return load(path)
    except ParamsError as err:
        sys.exit(f"error: {err}")


if __name__ == "__main__":  # `python -m kerasbench.params` checks params.yaml
    p = load_or_exit(sys.argv[1] if len(sys.argv) > 1 else "params.yaml")
    print(f"params.yaml is valid: {len(p.frameworks)} contender(s) x {len(p.seeds)} seed(s), "
          f"source {p.data.source}")
