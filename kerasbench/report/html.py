"""The report as one self-contained HTML page: the same Markdown rendered, figures inlined, tables sortable.

Nothing on the page asks another host for anything: the PNG figures are inlined as data URIs, the
style and the few lines of script that sort a table when its header is clicked are in the page, and
no font, script or style sheet is loaded from elsewhere. Open reports/index.html in any browser,
offline. tests/test_html.py loads it in headless Chromium with the network cut and checks that.
"""
from __future__ import annotations

import base64
import html
import re

from markdown_it import MarkdownIt

STYLE = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1200px; margin: 2em auto;
       padding: 0 1em; color: #1b1f24; }
h1, h2, h3 { line-height: 1.25; }
h2 { border-bottom: 1px solid #d0d7de; padding-bottom: .3em; margin-top: 2em; }
table { border-collapse: collapse; margin: 1em 0; font-size: 13px; display: block; overflow-x: auto; }
th, td { border: 1px solid #d0d7de; padding: 4px 8px; }
th { background: #f6f8fa; cursor: pointer; user-select: none; white-space: nowrap; }
th[aria-sort=ascending]::after { content: " \\25B2"; } th[aria-sort=descending]::after { content: " \\25BC"; }
td { font-variant-numeric: tabular-nums; }
tr:nth-child(even) td { background: #fafbfc; }
blockquote { border-left: 4px solid #d4a72c; background: #fff8c5; margin: 1em 0; padding: .5em 1em; }
img { max-width: 100%; height: auto; border: 1px solid #d0d7de; }
code { background: #f6f8fa; padding: 0 .2em; border-radius: 3px; }
"""
# Click a header to sort its table by that column (numbers by value, the rest as text); again to reverse.
SCRIPT = """
function cellValue(cell) {
  const text = cell.textContent.trim();
  const number = parseFloat(text.replace(/,/g, '').replace(/^[^0-9.+-]+/, ''));
  return isNaN(number) ? text.toLowerCase() : number;
}
document.querySelectorAll('table').forEach(function (table) {
  table.querySelectorAll('th').forEach(function (header, column) {
    header.addEventListener('click', function () {
      const ascending = header.getAttribute('aria-sort') !== 'ascending';
      table.querySelectorAll('th').forEach(function (h) { h.removeAttribute('aria-sort'); });
      header.setAttribute('aria-sort', ascending ? 'ascending' : 'descending');
      const body = table.tBodies[0];
      const rows = Array.from(body.rows);
      rows.sort(function (a, b) {
        const x = cellValue(a.cells[column]), y = cellValue(b.cells[column]);
        return (x < y ? -1 : x > y ? 1 : 0) * (ascending ? 1 : -1);
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


def inline_images(body: str, pngs: dict[str, bytes]) -> str:
    """Every <img src="NAME.png"> of the rendered report, its file replaced by a data URI."""
    def replace(found: re.Match) -> str:
        name = html.unescape(found.group(1))
        if "/" in name or ":" in name:   # not one of ours: left to nothing_outside
            return found.group(0)
        if name not in pngs:
            raise KeyError(f"the report links {name}, which it did not draw")
        return f'src="data:image/png;base64,{base64.b64encode(pngs[name]).decode()}"'
    return re.sub(r'src="([^"]+\.png)"', replace, body)


def nothing_outside(body: str) -> str:
    """The rendered page keeps only its own figures: an <img> that is not an inlined figure becomes its
    alt text. (The renderer makes no links at all: the report has none, and free text is escaped, so
    this is the second line of defence, not the first.)"""
    return re.sub(r'<img src="(?!data:image/png;base64,)[^"]*" alt="([^"]*)"[^>]*>', r"\1", body)


def page(markdown: str, pngs: dict[str, bytes], title: str = "kerasbench report") -> str:
    """The whole page: the report's Markdown rendered (tables included), figures inlined, no link and no
    image but its own figures (raw HTML is off: tags in the text print as text)."""
    renderer = MarkdownIt("commonmark", {"html": False}).enable("table").disable(["link", "autolink"])
    body = renderer.render(markdown)
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{html.escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
            f"{nothing_outside(inline_images(body, pngs))}\n<script>{SCRIPT}</script>\n</body>\n</html>\n")
