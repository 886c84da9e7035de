"""kerasbench/paths.py is the one place that knows where the pipeline's files live: dvc.yaml declares the
same paths, and no other module spells one."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import yaml

from kerasbench import paths

ROOT = Path(__file__).resolve().parents[1]
# A string that is a path of the pipeline's files, as code would use it (prose in docstrings and help
# texts is not matched: it is not a whole path on its own).
PATHLIKE = re.compile(r"(metrics|plots|data|dvclive|models|reports|results/fingerprints)(/[\w.{}-]*)*/?")


def _outputs(stage: dict) -> list[str]:
    return [next(iter(o)) if isinstance(o, dict) else o for key in ("outs", "metrics", "plots")
            for o in stage.get(key, [])]


def test_dvc_yaml_declares_the_paths_that_paths_py_gives():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    item = {"${item.framework}": "tf_keras", "${item.seed}": "7"}

    def expand(path: str) -> str:
        for key, value in item.items():
            path = path.replace(key, value)
        return path

    files = paths.run_files("tf_keras", 7)
    assert set(map(expand, _outputs(stages["train"]))) == {
        paths.model_dir("tf_keras", 7), files[paths.TRAIN], files[paths.ENV], files[paths.HISTORY],
        paths.live_dir("tf_keras", 7)}
    assert set(map(expand, _outputs(stages["evaluate"]))) == {
        files[paths.EVAL], files[paths.EVAL_ENV], files[paths.CONFUSION], files[paths.PER_CLASS],
        files[paths.INFERENCE]}
    assert set(_outputs(stages["download"])) == {paths.RAW, paths.RAW_JSON}
    assert set(_outputs(stages["prepare"])) == {paths.DATA, paths.DATA_JSON}
    assert set(_outputs(stages["repeat"])) == {paths.REPEATS}
    assert set(_outputs(stages["report"])) == {paths.REPORTS, paths.SUMMARY, paths.HEADLINE}
    # every stage reads the data where prepare writes it, and the fingerprints where make repro puts them
    for name in ("train", "evaluate", "repeat"):
        assert {paths.DATA, paths.DATA_JSON} <= set(stages[name]["deps"])
        assert paths.FINGERPRINTS in stages[name]["cmd"]
    # the report reads every folder the runs write
    folders = {p.rsplit("/", 1)[0] for p in paths.run_files("c", 0).values()} | {paths.REPEATS}
    assert folders <= set(stages["report"]["deps"])
    plotted = {next(iter(p)) if isinstance(p, dict) else p for p in yaml.safe_load((ROOT / "dvc.yaml").read_text())
               ["plots"]}
    assert any(f"{paths.REPORTS}/{paths.EPOCHS}" in str(p) for p in plotted) or \
        f"{paths.REPORTS}/{paths.EPOCHS}" in (ROOT / "dvc.yaml").read_text()


def _code_strings(tree: ast.AST):
    """Every string constant of a module but its docstrings, and the literal parts of its f-strings."""
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node.lineno, node.value


def test_no_other_module_spells_a_result_path():
    found = []
    for folder in ("kerasbench", "stages", "scripts"):
        for file in sorted((ROOT / folder).rglob("*.py")):
            if file == ROOT / "kerasbench" / "paths.py":
                continue
            for line, text in _code_strings(ast.parse(file.read_text())):
                if "/" in text and (PATHLIKE.fullmatch(text) or PATHLIKE.fullmatch(text.split("{", 1)[0].rstrip("/"))):
                    found.append(f"{file.relative_to(ROOT)}:{line}: {text!r}")
    assert found == []


def test_the_check_finds_a_path_literal():
    sample = ast.parse('"""docs: metrics/train/x.json"""\nA = "metrics/train"\nB = f"plots/history/{x}.csv"\n')
    texts = [t for _, t in _code_strings(sample)]
    assert "metrics/train" in texts and not any(t.startswith("docs") for t in texts)
    assert PATHLIKE.fullmatch("metrics/train") and PATHLIKE.fullmatch("plots/history/")
