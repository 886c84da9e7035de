"""Numbers as text for the report's cells, and Markdown tables: the formatting every report module shares.

Free text from the results (paths, class names, host names, versions, commits) is data, never markup:
`escape` makes it print as it is in report.md (any Markdown viewer, GitHub included) and in
index.html, so an archive path or a class name cannot add a link, an image, raw HTML or a table
column; `markdown_table` escapes a stray `|` in any cell as well.
"""
from __future__ import annotations

import math
import re

import pandas as pd

from kerasbench import stats

DASH = "—"
_MARKUP = re.compile(r"([\\`*\[\]<>!|&])")   # what could start a link, image, tag, entity, code span or column
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")
_BARE_PIPE = re.compile(r"(?<!\\)\|")


def escape(value: object, limit: int = 200) -> str:
    """Free text as Markdown that shows it literally: control characters and line breaks as one space, every
    character that could start a link, an image, a tag, an entity, a code span or a cell backslash-escaped
    (not `_`: inside names such as tf_intra_op it is never emphasis), at most `limit` characters."""
    text = _CONTROL.sub(" ", str(value))
    if len(text) > limit:
        text = text[:limit - 1] + "…"
    return _MARKUP.sub(r"\\\1", text)


def decimals(values) -> int:
    """About three significant digits for the smallest of these values."""
    finite = [abs(v) for v in values if v is not None and not math.isnan(v) and v != 0]
    smallest = min(finite, default=1.0)
    return 1 if smallest >= 10 else 2 if smallest >= 1 else 3


def fmt(value: float, places: int, scale: float = 1.0) -> str:
    if value is None or math.isnan(value):
        return DASH
    return f"{value * scale:,.{places}f}"


def cell(s: stats.Summary, places: int) -> str:
    """'median [low–high] (n=N)'; † when the interval is min–max (too few samples for 99%)."""
    if s.n == 0:
        return DASH
    if s.n == 1:
        return f"{fmt(s.median, places)} (n=1)"
    mark = "" if s.ci_complete else "†"
    return f"{fmt(s.median, places)} [{fmt(s.ci_low, places)}–{fmt(s.ci_high, places)}]{mark} (n={s.n})"


def score_cell(s: stats.Summary, places: int, scale: float) -> str:
    if s.n == 0:
        return DASH
    text = fmt(s.median, places, scale)
    return text + (f" ({fmt(s.min, places, scale)}–{fmt(s.max, places, scale)})" if s.n > 1 else "")


def markdown_table(frame: pd.DataFrame, text_columns: int = 1) -> str:
    """pandas/tabulate Markdown, cells kept as given: the first `text_columns` left-aligned, numbers right."""
    align = ["left" if i < text_columns else "right" for i in range(len(frame.columns))]
    frame = frame.rename(columns=lambda c: _cell(c)).map(_cell)
    return frame.to_markdown(index=False, colalign=align, disable_numparse=True)


def _cell(value: object) -> object:
    """A table cell can never end early or start a new row: a bare `|` escaped, line breaks made spaces."""
    if not isinstance(value, str):
        return value
    return _BARE_PIPE.sub(r"\\|", _CONTROL.sub(" ", value))
