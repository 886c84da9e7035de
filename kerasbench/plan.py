"""What a stage decided, handed to the process that measures: the contender, the settings, the data and the outputs.

A train or evaluate stage validates params.yaml, checks fingerprints, the data and its outputs once, in
the stage process, and writes a Plan; its child (kerasbench/child.py, under the contender's interpreter)
reads the plan and only measures. Nothing reads params.yaml twice.

The settings a plan carries are exactly the params its stage declares (the stage module's PARAMS, which
are its `params:` in dvc.yaml, tests/test_lint.py checks both agree) plus the ones it reads without
depending on them (UNTRACKED, e.g. a download timeout). `Settings` gives them as attributes, in the stage
process and in the child alike, and refuses any other: a stage that reads a param DVC does not know it
depends on fails at once, naming it, instead of missing a rerun.
"""
from __future__ import annotations

import json
import sys
import typing
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pydantic import BaseModel

from kerasbench import params as params_module


class UndeclaredParam(AttributeError):
    """A stage read a param it does not declare."""


def covers(declared: typing.Iterable[str], key: str) -> bool:
    """Whether `key` (dotted) is one of the declared keys or inside one of them."""
    return any(key == d or key.startswith(d + ".") for d in declared)


def pick(p: BaseModel, keys: typing.Iterable[str]) -> dict:
    """The nested mapping of params.yaml's values for these dotted keys only."""
    dumped = p.model_dump(mode="json")
    out: dict = {}
    for key in keys:
        *sections, last = key.split(".")
        source, target = dumped, out
        for part in sections:
            source, target = source[part], target.setdefault(part, {})
        target[last] = source[last]
    return out


class Settings:
    """Attribute access to the declared params of one stage (nested like params.yaml).

    A section declared whole is the validated model of params.py (its methods work); a part of one
    declared is another Settings; anything else raises UndeclaredParam naming the key and the stage.
    """

    def __init__(self, values: dict, declared: typing.Iterable[str], stage: str, prefix: str = "",
                 model: type[BaseModel] = params_module.Params):
        self._values, self._declared, self._stage, self._prefix, self._model = \
            values, tuple(declared), stage, prefix, model

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        key = self._prefix + name
        declared_property = getattr(self._model, name, None)
        if isinstance(declared_property, property):   # e.g. Params.auto: computed from the keys it reads
            return declared_property.fget(self)
        info = self._model.model_fields.get(name)
        if info is None:
            raise AttributeError(f"params.yaml has no key '{key}'")
        inner = _model_of(info.annotation)
        if covers(self._declared, key):
            value = self._values[name]
            return inner.model_validate(value) if inner is not None else value
        if inner is not None:   # a section not declared whole: its keys are checked one by one
            return Settings(self._values.get(name, {}), self._declared, self._stage, key + ".", inner)
        raise UndeclaredParam(f"the {self._stage} stage reads params.yaml's '{key}', which it does not declare: "
                              f"add it to PARAMS in stages/{self._stage}.py and to the stage's params in dvc.yaml")

    def dump(self) -> dict:
        return self._values


def _model_of(annotation) -> type[BaseModel] | None:
    """The params model a field holds (a section such as train), or None for a value."""
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and not typing.get_args(candidate) and issubclass(candidate, BaseModel):
            return candidate
    return None


def settings(p: BaseModel, stage: str, declared: typing.Iterable[str], untracked: typing.Iterable[str] = ()) \
        -> Settings:
    """The stage's view of validated params: what it declares, and what it reads untracked."""
    keys = (*declared, *untracked)
    return Settings(pick(p, keys), keys, stage)


@dataclass(frozen=True)
class Plan:
    """One measuring process: what it runs, with which settings, on which data, written where."""
    stage: str                 # train or evaluate: the stage that decided
    measure: str               # module:function that the child calls with this plan
    contender: str
    seed: int
    params: dict               # the declared (and untracked) params, nested like params.yaml
    declared: list[str]
    data: dict                 # the prepared data's record (data/prepared/cifar10.json)
    files: dict[str, str]      # inputs and outputs by role; `-` where not written
    options: dict = field(default_factory=dict)   # stage-specific: the compile cache, a warm run's cold epoch

    @property
    def settings(self) -> Settings:
        return Settings(self.params, self.declared, self.stage)

    def write(self, path: Path | str) -> None:
        Path(path).write_text(json.dumps(asdict(self)))

    @classmethod
    def read(cls, path: Path | str) -> "Plan":
        return cls(**json.loads(Path(path).read_text()))

    def but(self, **changes) -> "Plan":
        return Plan(**{**asdict(self), **changes})


def data_record(path: Path | str) -> dict:
    """The prepared data's record (source, checksums, the synthetic flag, image counts), or exit naming it."""
    record = json.loads(Path(path).read_text())
    if not isinstance(record.get("train"), int):
        sys.exit(f"error: {path} has no train image count; it is written by the prepare stage (dvc repro prepare)")
    return record
