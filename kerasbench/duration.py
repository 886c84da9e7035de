"""Durations as people write them in params.yaml and on command lines: 90s, 20m, 1h30m."""
from __future__ import annotations

import re

_DURATION = re.compile(r"(?:(\d+(?:\.\d*)?)h)?(?:(\d+(?:\.\d*)?)m(?:in)?)?(?:(\d+(?:\.\d*)?)s)?")


def parse(text: str) -> float:
    """Seconds of '90s', '20m', '1h', '1h30m' (units required); ValueError saying what is allowed otherwise."""
    match = _DURATION.fullmatch(str(text).strip().lower())
    if not str(text).strip() or not match or not any(match.groups()):
        raise ValueError(f"'{text}' is not a duration (write it with units: 90s, 20m, 1h30m)")
    hours, minutes, seconds = (float(g or 0) for g in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if total <= 0:
        raise ValueError(f"'{text}' is no time at all")
    return total


def text(seconds: float) -> str:
    """'4 min 05 s', '42 s'."""
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"
