"""The registry (kerasbench/contenders/): one module per contender, found by discovery, checked once; and the
one-way imports of the library (kerasbench/cli/imports.py)."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from kerasbench import backends, contenders, params
from kerasbench.contenders import Contender, ContenderError

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted(p.stem for p in (ROOT / "kerasbench" / "contenders").glob("*.py") if p.stem != "__init__")


def test_every_module_is_a_contender_named_after_it():
    assert contenders.names() == MODULES
    assert "keras3_torch_compile" in MODULES and "torch_native_compile" in MODULES
    for name, c in contenders.registry().items():
        assert c.name == name and c.backend in contenders.BACKENDS and c.packages and c.summary
        backends.get(c.backend)  # a Backend exists for it
        assert c.trainer.count(":") == 1


def test_params_accept_exactly_the_registry():
    assert params.FRAMEWORKS == tuple(contenders.names())


def test_discovery_imports_no_framework():
    """Discovery runs in the stage process before any contender is selected: nothing may import a framework."""
    code = ("import sys; from kerasbench import contenders, params; contenders.registry(); "
            "frameworks = {'tensorflow', 'jax', 'torch', 'keras', 'tf_keras', 'keras_core', 'numpy'}; "
            "print(sorted(frameworks & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_baselines_are_declared_not_inferred():
    pairs = {(k.name, b.name) for k, b in contenders.baselines(contenders.names())}
    assert pairs == {("keras3_tensorflow", "tf_native"), ("keras3_jax", "jax_native"),
                     ("keras3_torch", "torch_native"), ("keras3_torch_compile", "torch_native_compile")}
    # a pair appears only when both are asked for
    assert {(k.name, b.name) for k, b in contenders.baselines(["keras3_torch", "torch_native_compile"])} == set()


def test_a_contender_may_fix_its_own_jit():
    compiled, eager = contenders.get("keras3_torch_compile"), contenders.get("keras3_torch")
    assert [compiled.jit_request(p) for p in ("default", False, True)] == [True, True, True]
    assert [eager.jit_request(p) for p in ("default", False, True)] == [None, False, True]
    assert contenders.get("torch_native_compile").jit is True and compiled.keras == "keras"


def test_a_bad_declaration_is_named(monkeypatch):
    good = contenders.registry()
    broken = {**good, "keras3_torch": Contender("keras_3_torch", "torch", ("torch",), "x", keras="keras",
                                                baseline="keras3_jax"),
              "mystery": Contender("mystery", "mxnet", (), "y")}
    with pytest.raises(ContenderError) as exc:
        contenders._check(broken)
    assert str(exc.value) == ("kerasbench/contenders/keras3_torch.py: its name 'keras_3_torch' differs from its "
                              "module's; baseline 'keras3_jax' is not a contender without Keras")
    with pytest.raises(ContenderError, match=r"contenders/mystery.py: unknown backend 'mxnet'; it lists no packages"):
        contenders._check({k: v for k, v in broken.items() if k != "keras3_torch"})
    with pytest.raises(ContenderError, match="unknown framework 'keras4'; known: jax_native, keras3_jax"):
        contenders.get("keras4")


def test_the_readme_lists_every_contender_with_its_summary():
    readme = (ROOT / "README.md").read_text()
    rows = dict(re.findall(r"^\| `(\w+)` \| (.+?) \|$", readme, flags=re.M))
    assert {name: rows.get(name) for name in MODULES} == {name: contenders.get(name).summary for name in MODULES}
