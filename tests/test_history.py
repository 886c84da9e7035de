"""kerasbench history on a generated repository of 50 commits with a known answer: tf_keras 1.5x slower from
commit 30 on, one commit (40) with another CPU, and commits that change no result in between."""
from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from kerasbench import history
from kerasbench.cli import history as cli
from tests import fixtures_report as fx
from tests.helpers import git

COMMITS, STEP_AT, OTHER_MACHINE_AT = 50, 30, 40
CONTENDERS = ["tf_keras", "keras3_jax"]


def commit(root: Path, message: str) -> str:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD").strip()


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> tuple[Path, list[str]]:
    root = tmp_path_factory.mktemp("history")
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "t@example.com")
    git(root, "config", "user.name", "t")
    fx.write_params(root, CONTENDERS, [0], repeats=2)
    shas = []
    for i in range(COMMITS):
        slow = 1.5 if i >= STEP_AT else 1.0
        env = {"cpu.model": "AMD EPYC 9654"} if i == OTHER_MACHINE_AT else None
        fx.write_run(root, "tf_keras", 0, repeats=2, epochs=4, slow=slow, noise=i, env=env)
        fx.write_run(root, "keras3_jax", 0, repeats=2, epochs=4, noise=i)
        shas.append(commit(root, f"results {i}"))
        if i % 10 == 5:   # a commit that changes code only: no new point
            (root / "code.py").write_text(f"# {i}\n")
            commit(root, f"code only after {i}")
    return root, shas


def test_the_step_is_marked_at_its_commit_and_nowhere_else(repo):
    root, shas = repo
    found = history.series(root, "main")
    assert [p.sha for p in found.points] == shas           # one point per commit that changed its results
    steps = found.table[found.table["step"]]
    assert set(steps["label"]) == {shas[STEP_AT][:7]} and set(steps["contender"]) == {"tf_keras"}, steps
    assert {"steady_images_per_s", "first_epoch_s"} <= set(steps["figure"])
    assert set(steps["mark"]) == {"+"}                        # slower, and longer: worse
    step = steps[steps["figure"] == "steady_images_per_s"].iloc[0]
    assert step["compared_with"] == shas[STEP_AT - 1][:7]
    assert "rss_peak_mib" not in set(steps["figure"])        # memory did not change


def test_a_commit_on_another_machine_is_marked_and_skipped_by_the_comparisons(repo):
    root, shas = repo
    found = history.series(root, "main")
    other = found.table[~found.table["comparable"]]
    assert set(zip(other["label"], other["contender"])) == {(shas[OTHER_MACHINE_AT][:7], "tf_keras")}
    after = found.table[(found.table["label"] == shas[OTHER_MACHINE_AT + 1][:7])
                        & (found.table["contender"] == "tf_keras")]
    assert set(after["compared_with"]) == {shas[OTHER_MACHINE_AT - 1][:7]}   # the nearest point on its machine
    assert "AMD EPYC 9654" in found.machines[(shas[OTHER_MACHINE_AT][:7], "tf_keras")]


@pytest.mark.quiet   # it times itself: run alone, after the others (Makefile TWO_HALVES)
def test_the_page_is_written_fast_offline_and_says_it(repo, tmp_path, capsys):
    root, shas = repo
    out = tmp_path / "history.html"
    started = time.perf_counter()
    assert cli.main(["main", "--repo", str(root), "--out", str(out)]) == 0
    took = time.perf_counter() - started
    assert took < 10, f"{took:.1f} s for {COMMITS} commits"
    printed = capsys.readouterr().out
    assert f"step at {shas[STEP_AT][:7]}: tf_keras steady_images_per_s +" in printed
    assert f"history: {COMMITS} commits with results" in printed
    page = out.read_text()
    assert "<title>kerasbench history: main</title>" in page
    assert re.findall(r'(?:src|href)="(?!data:)', page) == [] and "://" not in page   # nothing to fetch
    assert page.count('src="data:image/png;base64,') == 5   # one chart per figure measured on a CPU
    rows = re.findall(r"<tr>(.*?)</tr>", page, re.S)
    stepped = [row for row in rows if "step <code>+</code> (worse)" in row]
    assert len(stepped) == 4 and all(f">{shas[STEP_AT][:7]}</td>" in row for row in stepped)   # 4 figures' tables
    other = [row for row in rows if "another machine: not comparable" in row]
    assert len(other) == 5 and all(f">{shas[OTHER_MACHINE_AT][:7]}</td>" in row for row in other)


def test_bad_input_is_one_line(repo, tmp_path, capsys):
    root, _ = repo
    assert cli.main(["no-such-branch", "--repo", str(root), "--out", str(tmp_path / "h.html")]) == 2
    assert cli.main(["--repo", str(tmp_path), "--out", str(tmp_path / "h.html")]) == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    subprocess.run(["git", "init", "-q", str(empty)], check=True)
    (empty / "a").write_text("a")
    git(empty, "add", "a")
    git(empty, "-c", "user.email=t@e", "-c", "user.name=t", "commit", "-q", "-m", "a")
    assert cli.main(["--repo", str(empty), "--out", str(tmp_path / "h.html")]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 3 and all(line.startswith("history: error: ") for line in errors), errors
    assert "no-such-branch: no such branch, tag or commit" in errors[0]
    assert "no commit on HEAD recorded results" in errors[2]
    assert not (tmp_path / "h.html").exists()


def test_the_page_loads_offline_in_a_real_browser(repo, tmp_path):
    from tests.test_html import CHROMIUM, FLAGS
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("CI installs Debian's chromium (.ci/run)")
        pytest.skip("Debian's chromium is not installed")
    from playwright.sync_api import sync_playwright
    root, _ = repo
    out = tmp_path / "history.html"
    assert cli.main(["main", "--repo", str(root), "--out", str(out)]) == 0
    requests, errors = [], []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(("file://", "data:"))
                   else (requests.append(r.request.url), r.abort()))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(out.as_uri(), wait_until="load")
        charts = page.eval_on_selector_all("img", "els => els.map(e => [e.naturalWidth, e.naturalHeight])")
        rows = page.eval_on_selector_all("tbody tr", "els => els.length")
        browser.close()
    assert requests == [] and errors == []
    assert len(charts) == 5 and all(w > 600 and h > 250 for w, h in charts), charts
    assert rows == 5 * COMMITS


def test_experiments_follow_their_base_commit_and_dvc_s_own_refs_are_not_experiments(repo):
    root, shas = repo
    head = git(root, "rev-parse", "HEAD").strip()
    experiment = git(root, "commit-tree", f"{head}^{{tree}}", "-p", head, "-m", "dvc: commit experiment").strip()
    git(root, "update-ref", f"refs/exps/{head[:2]}/{head[2:]}/bs64", experiment)
    git(root, "update-ref", "refs/exps/exec/EXEC_HEAD", head)   # what `dvc exp run` leaves behind
    try:
        found = history.series(root, "main", with_experiments=True)
        assert [p.label for p in found.points][-2:] == [shas[-1][:7], "bs64"]
        assert len(found.points) == COMMITS + 1
    finally:
        git(root, "update-ref", "-d", f"refs/exps/{head[:2]}/{head[2:]}/bs64")
        git(root, "update-ref", "-d", "refs/exps/exec/EXEC_HEAD")
