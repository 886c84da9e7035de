"""Numbers as text for the report's cells, and Markdown tables: the formatting every report module shares."""
from __future__ import annotations

import math

import pandas as pd

from kerasbench import stats

DASH = "—"


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
    return frame.to_markdown(index=False, colalign=align, disable_numparse=True)
