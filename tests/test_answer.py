"""The report's answer block (kerasbench/report/answer.py) on generated results with a known answer: the
fastest contender and by how much, the ranking, Keras' cost per backend, the smallest process, whether test
accuracy agrees, the numbers the same as the tables', and each caveat exactly when it applies."""
from __future__ import annotations

import re

import pytest

from tests import fixtures_report as fx
from tests.test_report import run_report, section, table_row

# Known paces (fixtures_report: steady epoch 9 s x slow, 3% jitter): jax_native fastest, then torch_native
# (1.25x slower), keras3_jax (1.2x slower again), keras3_torch (1.25x slower again): 1.875x in all, and
# Keras at 1/1.5 of its baseline's throughput on both backends.
PACES = {"keras3_torch": 1.5, "torch_native": 1.0, "keras3_jax": 1.2, "jax_native": 0.8}
PEAKS = {"keras3_torch": 2500.0, "torch_native": 1900.0, "keras3_jax": 2300.0, "jax_native": 2000.0}


def answer_of(text: str) -> str:
    assert text.startswith("# kerasbench report\n\n## The answer\n"), text[:200]   # the first content
    return section(text, "The answer")


def ratio(pattern: str, text: str) -> float:
    found = re.search(pattern, text)
    assert found, (pattern, text)
    return float(found.group(1))


@pytest.fixture()
def known(tmp_path, monkeypatch) -> tuple[str, str]:
    for fw, slow in PACES.items():
        fx.write_run(tmp_path, fw, 0, index=0, slow=slow, repeats=3, epochs=5, synthetic=False,
                     train={"memory.rss_peak_os_mib": PEAKS[fw]})
    fx.write_params(tmp_path, list(PACES), [0], repeats=3, synthetic=False)
    text, _ = run_report(tmp_path, monkeypatch)
    return text, answer_of(text)


def test_the_answer_names_the_fastest_the_ranking_and_what_keras_costs(known):
    text, block = known
    lead = block.strip().splitlines()[0]
    speed = table_row(text, "Speed", "jax_native")["steady training (images/s)"].split()[0]
    assert lead.startswith(f"**jax_native** trained fastest at steady pace on cpu ({fx.CPU}): {speed} images/s, ")
    assert ratio(r", (\d\.\d\d)× the slowest \(keras3_torch\)\.$", lead) == pytest.approx(1.875, rel=0.04)
    ranking = next(line for line in block.splitlines() if line.startswith("- Ranking"))
    assert [part.split()[0] for part in ranking.split(": ", 1)[1].split(" · ")] == [
        "jax_native", "torch_native", "keras3_jax", "keras3_torch"]
    steps = re.findall(r"\(`(.)` (\d\.\d\d)×, ([^)]+)\)", ranking)
    assert [mark for mark, _, _ in steps] == ["-", "-", "-"]
    assert [float(r) for _, r, _ in steps] == pytest.approx([1.25, 1.2, 1.25], rel=0.04)
    pairs = section(text, "Which contender is faster")
    for (a, b), (_, shown, _) in zip([("jax_native", "torch_native"), ("torch_native", "keras3_jax"),
                                      ("keras3_jax", "keras3_torch")], steps):
        assert f"`-` {a} is {shown}× faster than {b}" in pairs   # the same figure as the pairwise table
    keras = next(line for line in block.splitlines() if line.startswith("- What Keras costs"))
    costs = section(text, "What Keras costs")
    for backend, head, native in (("torch", "keras3_torch", "torch_native"), ("jax", "keras3_jax", "jax_native")):
        cell = table_row(text, "What Keras costs", backend)["steady training: Keras / baseline"]
        assert f"on {backend}, {head} / {native} {cell}" in keras, (keras, costs)
        assert ratio(rf"{head} / {native} `\+` (\d\.\d\d)×", keras) == pytest.approx(1 / 1.5, rel=0.04)


def test_the_answer_names_the_smallest_process_and_whether_accuracy_agrees(known):
    text, block = known
    peak = table_row(text, "Memory", "torch_native")["process peak RSS (MiB)"].split()[0]
    largest = table_row(text, "Memory", "keras3_torch")["process peak RSS (MiB)"].split()[0]
    assert peak == "1,900" and largest == "2,500"
    assert f"- Smallest process peak: torch_native, {peak} MiB (largest: keras3_torch, {largest} MiB)." in block
    accuracy = table_row(text, "Accuracy and F1", "jax_native")["test accuracy (%)"]
    assert f"- Test accuracy: {accuracy}% (every contender)." in block   # one model, one data set: equal
    assert "What changes this answer" not in block   # real data, one device, one jit, quiet, 3 processes each
    assert "relative_speed.png" in block and "keras_cost.png" in block


def test_accuracy_that_differs_is_said_with_its_spread(tmp_path, monkeypatch):
    for fw, acc in (("tf_keras", 0.60), ("keras3_jax", 0.50)):
        fx.write_run(tmp_path, fw, 0, repeats=2, eval={"test.accuracy": acc})
    fx.write_params(tmp_path, ["tf_keras", "keras3_jax"], [0], repeats=2)
    text, _ = run_report(tmp_path, monkeypatch)
    assert "- Test accuracy differs across contenders by 10.0 points: 50.0% (keras3_jax) to 60.0% (tf_keras)." \
        in answer_of(text)


CAVEATS = {"synthetic": "**Synthetic data**", "devices": "**Mixed devices**", "jit": "**Mixed effective jit_compile**",
           "disturbed": "**Disturbed processes**", "one": "**One training process per contender**"}


@pytest.mark.parametrize("case, kwargs, repeats", [
    ("none", {}, 2),
    ("synthetic", {"synthetic": True}, 2),
    ("devices", {"gpu": True}, 2),
    ("jit", {"env": {"jit_compile.effective": True}}, 2),
    ("disturbed", {"others": {1: 0.45}}, 2),
    ("one", {}, 1),
])
def test_a_caveat_appears_exactly_when_it_applies(tmp_path, monkeypatch, case, kwargs, repeats):
    synthetic = kwargs.pop("synthetic", False)
    fx.write_run(tmp_path, "tf_keras", 0, repeats=repeats, synthetic=synthetic)
    fx.write_run(tmp_path, "keras3_jax", 0, repeats=repeats, synthetic=synthetic, **kwargs)
    fx.write_params(tmp_path, ["tf_keras", "keras3_jax"], [0], repeats=repeats, synthetic=synthetic)
    block = answer_of(run_report(tmp_path, monkeypatch)[0])
    shown = {name for name, words in CAVEATS.items() if words in block}
    assert shown == (set() if case == "none" else {case}), block
