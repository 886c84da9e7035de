"""No string in the results can change the structure of report.md or index.html.

A table of hostile strings (Markdown links and images, raw HTML, a `|` that would add a column, code
spans, line breaks, control characters, unicode) goes into every free-text field the report shows:
the environment (data source, CPU, platform, Python, versions, GPU names, commit, timestamps) and the
class names of the per-class table. report.md must keep one cell count per table and no raw tag or
link from the input; index.html must load and link nothing outside itself and keep its tables whole.
"""
from __future__ import annotations

import os
import re

import pandas as pd
import pytest

from stages import report
from tests import fixtures_report as fx

HOSTILE = [
    "archives/a ![p](http://127.0.0.1:9/p.gif) [c](http://127.0.0.1:9/c) tail.tar.gz",
    "<img src=x onerror=alert(1)>", "truck|0.999", "<script>alert(1)</script>", "`code` **bold** _it_",
    "line one\nline two\r\n| forged | row |", "tab\there\x00nul\x1b[31m", "[click](javascript:alert(1))",
    "<http://127.0.0.1:9/auto>", "&lt;img src=x&gt;", "猫 ünïcode \u2028 separator", "\\| escaped pipe \\",
]
FIELDS = ["data.source", "cpu.model", "platform", "python", "keras_version", "backend_version", "git_commit",
          "timestamp", "device_name", "lock_sha256"]


def cells(line: str) -> int:
    """Cells of a Markdown table row: `|` not escaped by a backslash, less the two at the ends."""
    return len(re.findall(r"(?<!\\)\|", line)) - 1


GROUPS = [" ".join(HOSTILE[i:i + 3]) for i in range(0, len(HOSTILE), 3)]   # four reports, three strings each


@pytest.fixture(scope="module", params=range(len(GROUPS)), ids=[f"strings{3 * i}-{3 * i + 2}" for i in range(4)])
def built(request, tmp_path_factory):
    hostile = GROUPS[request.param]
    tmp_path = tmp_path_factory.mktemp("hostile")
    frameworks = ["tf_keras", "keras3_torch"]
    for fw in frameworks:
        fx.write_run(tmp_path, fw, 0, env={field: f"{hostile} {field}" for field in FIELDS}
                     | {"packages": {f"pkg {hostile}": hostile}})
        per_class = tmp_path / "plots" / "per_class" / f"{fw}-0.csv"
        frame = pd.read_csv(per_class)
        frame.loc[9, "class"] = hostile[:60]                  # the archive's tenth class name
        frame.to_csv(per_class, index=False)
    fx.write_params(tmp_path, frameworks, [0])
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert report.main(["reports", "metrics/summary.json"]) == 0
    finally:
        os.chdir(cwd)
    return hostile, (tmp_path / "reports/report.md").read_text(), (tmp_path / "reports/index.html").read_text()


def test_report_md_keeps_every_table_whole_and_no_markup_from_the_input(built):
    hostile, md, _ = built
    lines = md.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("|") and i + 1 < len(lines) and re.fullmatch(r"\|[:\-| ]+\|", lines[i + 1]):
            width = cells(line)
            end = next((k for k in range(i + 1, len(lines)) if not lines[k].startswith("|")), len(lines))
            body = lines[i + 2:end]
            assert all(cells(row) == width for row in body), (line, body)
    assert not re.search(r"(?<!\\)<(img|script)", md)      # the input's tags are escaped: \<img ...
    assert not re.search(r"(?<!\\)\]\((?:http|javascript)", md) and not re.search(r"(?<!\\)<http", md)
    assert "\x00" not in md and "\x1b" not in md


def test_index_html_loads_and_links_nothing_outside_itself(built):
    hostile, _, page = built
    assert not re.search(r"<img(?![^>]*src=\"data:image/png;base64,)", page)
    assert "<a " not in page and page.count("<script>") == 1
    assert "onerror" not in re.sub(r"&lt;img src=x onerror=alert\(1\)&gt;", "", page) or "<img src=x" not in page
    for table in re.findall(r"<table>.*?</table>", page, flags=re.S):
        heads = len(re.findall(r"<th[ >]", table))
        rows = re.findall(r"<tr>(.*?)</tr>", table.split("</thead>", 1)[1], flags=re.S)
        assert all(len(re.findall(r"<td[ >]", row)) == heads for row in rows)
    assert "F1" in page and "airplane" in page          # the page is still the report
