"""The GitHub workflows: zizmor (the GitHub Actions security linter) finds nothing, and the rules it
enforces hold in the files themselves: actions pinned by commit SHA, no template expansion inside
`run:`, no persisted checkout credentials, and a test workflow that runs the README's command."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = REPO / ".github" / "workflows"
ZIZMOR = shutil.which("zizmor", path=str(Path(sys.executable).parent)) or shutil.which("zizmor")


def workflows() -> dict[str, dict]:
    return {path.name: yaml.safe_load(path.read_text()) for path in sorted(WORKFLOWS.glob("*.yml"))}


def steps() -> list[tuple[str, dict]]:
    return [(name, step) for name, doc in workflows().items()
            for job in doc["jobs"].values() for step in job["steps"]]


@pytest.mark.skipif(ZIZMOR is None, reason="zizmor is not installed (pip install zizmor)")
def test_zizmor_finds_nothing():
    result = subprocess.run([ZIZMOR, "--offline", "--no-progress", str(WORKFLOWS)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout + result.stderr


def test_actions_are_pinned_by_commit_with_the_tag_in_a_comment():
    uses = [line.strip() for path in WORKFLOWS.glob("*.yml") for line in path.read_text().splitlines()
            if re.match(r"\s*(- )?uses:", line)]
    assert len(uses) == 6
    for line in uses:
        assert re.fullmatch(r"(- )?uses: actions/[\w-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+", line), line


def test_no_expression_is_expanded_inside_a_script():
    for name, step in steps():
        assert "${{" not in step.get("run", ""), (name, step.get("name"))
    script = next(s for _, s in steps() if "ci_metrics_diff.sh" in s.get("run", ""))
    assert script["env"]["BASE_REF"] == "${{ github.base_ref }}" and '"origin/$BASE_REF"' in script["run"]
    assert script["env"]["FAIL_ON_REGRESSION"] == "${{ vars.KERASBENCH_FAIL_ON_REGRESSION }}"


def test_checkouts_do_not_persist_credentials_and_nothing_adds_a_package_index():
    checkouts = [step for _, step in steps() if step.get("uses", "").startswith("actions/checkout@")]
    assert len(checkouts) == 2 and all(step["with"]["persist-credentials"] is False for step in checkouts)
    assert not any("PIP_EXTRA_INDEX_URL" in path.read_text() for path in WORKFLOWS.glob("*.yml"))


def test_the_tests_workflow_runs_the_readme_command_on_every_push_and_pull_request():
    doc = workflows()["tests.yml"]
    triggers = doc[True] if True in doc else doc["on"]   # PyYAML reads the key `on` as a boolean
    assert set(triggers) == {"push", "pull_request"}
    assert doc["permissions"] == {"contents": "read"}
    runs = [step["run"] for step in doc["jobs"]["test"]["steps"] if "run" in step]
    assert runs == ['sudo env "PATH=$PATH" CI=true bash .ci/run']  # root for Slurm; setup-python's Python
    commands = [line.split("#")[0].strip() for line in (REPO / ".ci" / "run").read_text().splitlines()]
    assert commands[-3:] == ["make test", "make test-e2e", "make test-image"]   # the README's command, then the rest
    assert "make test" in (REPO / "README.md").read_text()
