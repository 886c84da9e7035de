"""kerasbench/params.py: one test per validation rule, each asserting the offending key is named."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from kerasbench.params import ParamsError, load, load_or_exit, parse

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def raw(repo_params) -> dict:
    return copy.deepcopy(repo_params)


def problem(raw: object) -> str:
    with pytest.raises(ParamsError) as exc:
        parse(raw)
    return str(exc.value)


def test_repository_params_are_valid():
    params = load(REPO / "params.yaml")
    assert params.data.is_url and not params.data.is_synthetic
    assert params.data.md5 == "c32a1d4ab5d03f1284b67883e8d87530"


def test_wrong_type_names_the_key(raw):
    raw["seed"] = "zero"
    assert "params.yaml: seed: Input should be a valid integer (got 'zero')" in problem(raw)


def test_bool_is_not_an_integer(raw):
    raw["data"]["download"]["retries"] = True
    assert "data.download.retries" in problem(raw)


def test_unknown_key_is_refused(raw):
    raw["data"]["sorce"] = "synthetic"
    assert "unknown key 'data.sorce'" in problem(raw)


def test_negative_count_is_refused(raw):
    raw["data"]["synthetic"]["train"] = -5
    assert "data.synthetic.train: Input should be greater than or equal to 1 (got -5)" in problem(raw)


def test_zero_limit_is_refused(raw):
    raw["data"]["limit_train"] = 0
    assert "data.limit_train" in problem(raw)


def test_url_source_needs_a_checksum(raw):
    raw["data"]["md5"] = None
    assert "data.md5 is required when data.source is a URL or a file" in problem(raw)


def test_file_source_needs_a_checksum(raw):
    raw["data"].update(source="archives/cifar-10-binary.tar.gz", md5=None)
    assert "data.md5 is required when data.source is a URL or a file" in problem(raw)


def test_synthetic_source_needs_no_checksum(raw):
    raw["data"].update(source="synthetic", md5=None)
    params = parse(raw)
    assert params.data.is_synthetic and params.data.md5 is None


def test_bad_md5_format_is_refused(raw):
    raw["data"]["md5"] = "c32a1d4ab5d03f1284b67883e8d8753"  # 31 digits
    assert "data.md5: String should match pattern" in problem(raw)


def test_unknown_framework_is_refused(raw):
    raw["frameworks"] = ["tf_keras", "pytorch"]
    message = problem(raw)
    assert message.startswith("params.yaml: frameworks[1]: unknown contender 'pytorch'; known: jax_native, keras3_jax")
    assert "\n" not in message


def test_bad_jit_compile_is_refused(raw):
    raw["train"]["jit_compile"] = "yes"
    assert "train.jit_compile: Input should be 'default', True or False (got 'yes')" in problem(raw)


def test_duplicate_seeds_are_refused(raw):
    raw["seeds"] = [0, 1, 0]
    assert "seeds lists a value twice: [0, 1, 0]" in problem(raw)


def test_missing_key_is_named(raw):
    del raw["train"]["epochs"]
    assert "missing key 'train.epochs'" in problem(raw)


def test_every_problem_gets_its_own_line(raw):
    raw["seed"] = -1
    raw["device"] = "tpu"
    lines = problem(raw).splitlines()
    assert len(lines) == 2 and any("seed" in line for line in lines) and any("device" in line for line in lines)


@pytest.mark.parametrize("document", [[1, 2], "just a string", None])
def test_top_level_must_be_a_mapping(document):
    assert "expected a mapping of keys at the top level" in problem(document)


def test_invalid_yaml_file(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("seed: [0\ndata: {")
    with pytest.raises(ParamsError) as exc:
        load(path)
    assert str(exc.value).startswith(f"{path}: not valid YAML") and "\n" not in str(exc.value)


def test_missing_file(tmp_path):
    with pytest.raises(ParamsError, match="file not found"):
        load(tmp_path / "params.yaml")


def test_load_or_exit_ends_the_process_with_the_message(tmp_path, raw):
    raw["data"]["md5"] = "nope"
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(SystemExit) as exc:
        load_or_exit(path)
    assert str(exc.value.code).startswith(f"error: {path}: data.md5")


# ---------------------------------------------------------------- read as DVC reads it (YAML 1.2)

@pytest.mark.parametrize("spelling", ["1e-4", "1E-4", "1.0e-4", "1.e-4", "0.0001", ".0001", "+1e-4", "10e-5"])
def test_float_spellings_mean_what_they_mean_to_dvc(tmp_path, spelling):
    """`1e-4` is a number to DVC (YAML 1.2) and to the stages; PyYAML (YAML 1.1) would read a string."""
    from dvc.utils.serialize import parse_yaml
    text = (REPO / "params.yaml").read_text().replace("learning_rate: 0.001", f"learning_rate: {spelling}")
    assert f"learning_rate: {spelling}" in text
    path = tmp_path / "params.yaml"
    path.write_text(text)
    assert load(path).train.learning_rate == pytest.approx(1e-4)
    assert parse_yaml(text, str(path)) == __import__("kerasbench.params", fromlist=["read_yaml"]).read_yaml(text)


def test_yaml_1_1_booleans_are_strings_as_in_dvc(tmp_path):
    text = (REPO / "params.yaml").read_text().replace("shuffle: true", "shuffle: yes")
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(ParamsError, match=r"train.shuffle: Input should be a valid boolean \(got 'yes'\)"):
        load(path)


def test_deterministic_must_be_a_boolean(raw):
    raw["train"]["deterministic"] = "sometimes"
    assert "train.deterministic: Input should be a valid boolean (got 'sometimes')" in problem(raw)


@pytest.mark.parametrize("value", [0, -2, "many", 1.5, True, None])
def test_an_impossible_thread_count_is_refused(raw, value):
    raw["train"]["threads"] = value
    assert problem(raw) == ("params.yaml: train.threads: must be 'default' or a whole number of CPUs, 1 or more "
                            f"(got {value!r})")


def test_more_threads_than_this_machine_allows_names_the_limit(tmp_path, raw):
    import os
    cpus = len(os.sched_getaffinity(0))
    raw["train"]["threads"] = cpus + 1
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert parse(raw).train.threads == cpus + 1       # a grid may plan it for a bigger node
    with pytest.raises(ParamsError) as exc:           # a stage on this machine refuses it
        load(path)
    assert str(exc.value) == (f"{path}: train.threads: {cpus + 1} is more than the {cpus} CPU(s) this process may "
                              "use here; use at most that, or 'default'")
    raw["train"]["threads"] = cpus
    path.write_text(yaml.safe_dump(raw))
    assert load(path).train.threads == cpus


# ---------------------------------------------------------------- bounded inputs

def test_seeds_and_the_matrix_are_capped_with_the_limit_named(raw):
    raw["seeds"] = list(range(101))
    message = problem(raw)
    assert "seeds" in message and "100" in message and len(message.splitlines()) == 1
    raw["seeds"], raw["repeats"] = list(range(100)), 1000
    message = problem(raw)
    assert "is 800,000 training processes, more than the 10,000 one pipeline may plan" in message


def test_repeats_auto_and_its_budget(raw):
    raw["repeats"] = "auto"
    assert parse(raw).auto and parse(raw).adaptive.budget_s == 1200
    raw["repeats"] = "many"
    assert "repeats: must be a whole number from 1 to 1000, or 'auto'" in problem(raw)
    raw["repeats"], raw["adaptive"]["budget"] = "auto", "twenty minutes"
    assert "adaptive.budget: 'twenty minutes' is not a duration" in problem(raw)
    raw["adaptive"]["budget"], raw["adaptive"]["factor"] = "20m", 1.0
    assert "adaptive.factor" in problem(raw)


def test_yaml_nested_too_deep_or_with_aliases_is_one_line(tmp_path):
    deep = tmp_path / "params.yaml"
    deep.write_text("seed: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ParamsError) as exc:
        load(deep)
    assert str(exc.value) == f"{deep}: not valid YAML: nested deeper than 32 levels of mappings and lists"
    deep.write_text("a: &x [1]\nb: *x\n")
    with pytest.raises(ParamsError, match="aliases"):
        load(deep)
