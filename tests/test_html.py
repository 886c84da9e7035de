"""reports/index.html in a real headless browser (Debian's chromium, driven by Playwright), with the network cut:
the page renders, its figures load, its tables sort, nothing leaves the machine and nothing errs."""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from kerasbench.report import html
from stages import report
from tests import fixtures_report as fx

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# The flags a sandboxed root CI machine needs, and none of Chromium's own background traffic.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


def test_the_page_inlines_every_figure_and_refuses_an_unknown_one():
    page = html.page("# t\n\n| a | b |\n|---|---|\n| 2 | x |\n\n![fig](f.png)\n", {"f.png": b"\x89PNG..."})
    assert 'src="data:image/png;base64,iVBORy4uLg=="' in page and "<table>" in page
    assert "://" not in page and re.findall(r'(?:src|href)="(?!data:|#)', page) == []   # nothing to fetch
    with pytest.raises(KeyError, match="links g.png"):
        html.page("![g](g.png)", {})


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("html")
    for fw in ("tf_keras", "keras3_jax", "keras3_torch", "torch_native"):
        fx.write_run(root, fw, 0, repeats=3, epochs=4)
    fx.write_params(root, ["tf_keras", "keras3_jax", "keras3_torch", "torch_native"], [0], repeats=3)
    cwd = os.getcwd()
    os.chdir(root)
    try:
        assert report.main(["reports", "metrics/summary.json", "metrics/headline.json"]) == 0
    finally:
        os.chdir(cwd)
    return root


def test_headline_and_overlay_data_are_written(built):
    import json

    import pandas as pd
    headline = json.loads((built / "metrics/headline.json").read_text())
    summary = json.loads((built / "metrics/summary.json").read_text())
    assert headline["synthetic"] == 1 and set(headline) == {"synthetic", "tf_keras", "keras3_jax", "keras3_torch",
                                                            "torch_native"}
    torch = headline["keras3_torch"]
    for key in ("steady_images_per_s", "first_epoch_s", "fit_s", "rss_peak_mib", "predict_images_per_s"):
        assert torch[key] == pytest.approx(summary["keras3_torch"][key]["median"])   # the same medians
    assert torch["test_accuracy"] == pytest.approx(summary["keras3_torch"]["test_accuracy"]["median"])
    assert "gpu_peak_mib" not in torch                                        # not measured on a CPU: left out
    native = headline["torch_native"]["steady_images_per_s"]
    # against its declared baseline: the verdict's estimate (geometric means of process means), near the medians' ratio
    assert torch["keras_vs_baseline"] == pytest.approx(torch["steady_images_per_s"] / native, rel=0.02)
    assert torch["keras_vs_baseline"] != pytest.approx(torch["steady_images_per_s"] / native, rel=1e-6)
    assert "keras_vs_baseline" not in headline["tf_keras"] and "keras_vs_baseline" not in headline["torch_native"]
    epochs = pd.read_csv(built / "reports/epochs.csv")
    assert list(epochs.columns[:2]) == ["contender", "epoch"] and len(epochs) == 4 * 4


@pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"), reason="Debian's chromium is not installed")
def test_the_page_renders_offline_in_a_real_browser(built, tmp_path):
    from playwright.sync_api import sync_playwright
    assert CHROMIUM, "CI installs Debian's chromium (.ci/run)"
    page_file = built / "reports" / "index.html"
    assert page_file.stat().st_size < 5_000_000
    requests, errors = [], []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})

        def route(request_route):
            url = request_route.request.url
            if url.startswith(("file://", "data:")):
                request_route.continue_()
            else:                       # the network is cut: anything else is recorded and refused
                requests.append(url)
                request_route.abort()
        page.route("**/*", route)
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(page_file.as_uri(), wait_until="load")
        figures = page.eval_on_selector_all("img", "els => els.map(e => [e.naturalWidth, e.naturalHeight, "
                                                   "e.getBoundingClientRect().width])")
        tables = page.eval_on_selector_all("table", "els => els.length")
        title = page.title()
        # the answer block: the first content after the title, its charts drawn at a size a reader can see
        first = page.evaluate("() => [...document.body.children].slice(0, 2).map(e => [e.tagName, e.textContent])")
        answer = page.evaluate("""() => { const out = []; let e = document.querySelector('h2');
              for (e = e.nextElementSibling; e && e.tagName !== 'H2'; e = e.nextElementSibling) out.push(e);
              return {text: out.map(e => e.textContent).join(' '),
                      charts: out.flatMap(e => [...e.querySelectorAll('img')]).map(i => [i.alt, i.naturalWidth,
                              i.naturalHeight, i.getBoundingClientRect().width,
                              i.getBoundingClientRect().height])}; }""")
        speed_cell = page.evaluate("""() => { const t = [...document.querySelectorAll('table')].find(t =>
              [...t.tHead.rows[0].cells].some(c => c.textContent.includes('steady training (images/s)')));
              const i = [...t.tHead.rows[0].cells].findIndex(c => c.textContent.includes('steady training'));
              const row = [...t.tBodies[0].rows].find(r => r.cells[0].textContent.trim() === 'tf_keras');
              return row.cells[i].textContent.trim().split(' ')[0]; }""")
        # sorting: one click on the Speed table's steady throughput header (the rows start in the report's
        # order), and the column comes out ascending
        header = page.locator("th", has_text="steady training (images/s)").first
        header.click()
        column = page.eval_on_selector_all(
            "table", """tables => { const t = tables.find(t => [...t.tHead.rows[0].cells].some(
                c => c.textContent.includes('steady training (images/s)')));
              const i = [...t.tHead.rows[0].cells].findIndex(c => c.textContent.includes('steady training'));
              return [...t.tBodies[0].rows].map(r => parseFloat(r.cells[i].textContent.replace(/,/g, ''))); }""")
        page.screenshot(path=str(tmp_path / "report.png"), full_page=False)
        browser.close()
    assert title == "kerasbench report"
    assert first == [["H1", "kerasbench report"], ["H2", "The answer"]]
    assert answer["text"].startswith(f"tf_keras trained fastest at steady pace on cpu ({fx.CPU}): {speed_cell} "
                                     "images/s"), answer["text"][:300]   # the same number as the Speed table
    assert [alt.split(" ")[0] for alt, *_ in answer["charts"]] == ["Steady", "What"]
    assert all(w > 500 and h > 300 and shown > 400 and tall > 200 for _, w, h, shown, tall in answer["charts"])
    assert len(figures) == 7 and all(w > 100 and h > 100 and shown > 100 for w, h, shown in figures), figures
    assert tables >= 8
    assert column == sorted(column) and len(column) == 4
    assert requests == [] and errors == []
    assert (tmp_path / "report.png").stat().st_size > 20_000
