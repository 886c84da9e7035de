"""The registry: every contender is one module in this package, found by discovery.

A contender is a way of training LeNet-5: a Keras generation on a backend, or the backend's own
code with no Keras. Its module declares `CONTENDER = Contender(...)`: its name (the module's name),
its backend, the distributions it needs, the environment variables set before its framework is
imported, the module that plays the part of `keras` (None for the natives), its trainer class,
its own `jit` setting if it has one, and its baseline, the contender it is compared against in
the report's "What Keras costs". Nothing here imports a framework: stages and tools read the
registry before a contender is selected (kerasbench/launch.py does that).

Adding a contender is one new file here (docs/contenders.md lists what else it touches: a
line in params.yaml's `frameworks` if it should run by default, and the container's venv if it
needs a new package).
"""
from __future__ import annotations

import functools
import importlib
import importlib.metadata
import os
import pkgutil
import sys
from dataclasses import dataclass, field

BACKENDS = ("tensorflow", "jax", "torch")
# Packages whose versions are recorded beside every result.
RECORDED_PACKAGES = ("tensorflow", "tf-keras", "keras", "keras-core", "jax", "jaxlib", "torch", "optax",
                     "numpy", "scikit-learn", "dvc")
# Packages that change every contender's results, besides its own (in the environment fingerprint).
SHARED_PACKAGES = ("numpy",)
KERAS_TRAINER = "kerasbench.trainers.keras_fit:KerasTrainer"


class ContenderError(RuntimeError):
    """A contender cannot run here; the message says why and what to do."""


@dataclass(frozen=True)
class Contender:
    name: str
    backend: str                     # tensorflow | jax | torch
    packages: tuple[str, ...]        # distributions that must be installed
    summary: str                     # one line for the README's and the report's tables
    keras: str | None = None         # the module imported as `keras`; None: no Keras (the backend's own code)
    trainer: str = KERAS_TRAINER     # module:class, constructed as Class(contender, module, train)
    environ: dict = field(default_factory=dict)
    jit: bool | None = None          # its own jit setting; None: follow params.yaml's train.jit_compile
    baseline: str | None = None      # what "What Keras costs" compares it with (a contender without Keras)

    @property
    def python_var(self) -> str:
        """Environment variable naming the interpreter of this contender's environment."""
        return f"KERASBENCH_PYTHON_{self.backend.upper()}"

    @property
    def is_keras(self) -> bool:
        return self.keras is not None

    @property
    def framework_module(self) -> str:
        """What selecting it imports: its `keras` module, or its backend."""
        return self.keras or self.backend

    def jit_request(self, jit_compile) -> bool | None:
        """The jit setting its trainer is built with: its own, else the param's (None: the framework's default)."""
        if self.jit is not None:
            return self.jit
        return None if jit_compile == "default" else bool(jit_compile)


def _check(found: dict[str, Contender]) -> None:
    for module, c in found.items():
        problems = [f"its name '{c.name}' differs from its module's"] if c.name != module else []
        problems += [f"unknown backend '{c.backend}'"] if c.backend not in BACKENDS else []
        problems += [f"baseline '{c.baseline}' is not a contender without Keras"] if c.baseline and (
            c.baseline not in found or found[c.baseline].is_keras) else []
        problems += ["it lists no packages"] if not c.packages else []
        if problems:
            raise ContenderError(f"kerasbench/contenders/{module}.py: {'; '.join(problems)}")


@functools.lru_cache(maxsize=1)
def registry() -> dict[str, Contender]:
    """Every contender module of this package, by name (sorted), checked once."""
    found = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        declared = getattr(module, "CONTENDER", None)
        if not isinstance(declared, Contender):
            raise ContenderError(f"kerasbench/contenders/{info.name}.py declares no CONTENDER = Contender(...)")
        found[info.name] = declared
    _check(found)
    return found


def names() -> list[str]:
    return list(registry())


def get(name: str) -> Contender:
    try:
        return registry()[name]
    except KeyError:
        raise ContenderError(f"unknown framework '{name}'; known: {', '.join(registry())}") from None


def baselines(frameworks: list[str]) -> list[tuple[Contender, Contender]]:
    """(Keras contender, its declared baseline) for every pair both of which are in `frameworks`."""
    chosen = [get(fw) for fw in frameworks]
    return [(c, get(c.baseline)) for c in chosen if c.baseline and c.baseline in frameworks]


def interpreter(contender: Contender) -> str:
    """The Python that runs this contender: its environment's, else the current one."""
    return os.environ.get(contender.python_var) or sys.executable


def version_of(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def missing_packages(contender: Contender) -> list[str]:
    return [dist for dist in contender.packages if version_of(dist) is None]


def package_versions() -> dict[str, str | None]:
    return {dist: version_of(dist) for dist in RECORDED_PACKAGES}
