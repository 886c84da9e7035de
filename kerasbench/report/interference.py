"""What else the machine did while the contenders were timed: the banner naming disturbed processes,
and the interference table (kerasbench/interference.py records it; this only reads and formats)."""
from __future__ import annotations

import math

import pandas as pd

from kerasbench import interference
from kerasbench.report.text import DASH, markdown_table
from kerasbench.samples import Run


def disturbed_processes(timed: list[Run]) -> list[tuple[str, str, str]]:
    """(run name, 'training' or 'evaluation', why) for every disturbed process."""
    out = []
    for run in timed:
        for role, doc in (("training", run.train), ("evaluation", run.eval)):
            why = interference.disturbed(doc.interference if doc is not None else None)
            if why:
                out.append((run.name, role, why))
    return out


def limits() -> str:
    """'others share above 10%, steal share above 5%'."""
    return ", ".join(f"{key.replace('_', ' ')} above {limit:.0%}" for key, limit in interference.THRESHOLDS.items())


def shared_placements(envs: dict[str, dict]) -> list[str]:
    """Runs whose environment says the fan-out packed them onto a shared cluster node (--shared)."""
    return [name for name, env in envs.items() if ((env or {}).get("cluster") or {}).get("placement") == "shared"]


def banners(timed: list[Run], shared: list[str]) -> list[str]:
    lines = []
    found = disturbed_processes(timed)
    if found:
        processes = sum(1 for run in timed for doc in (run.train, run.eval) if doc is not None)
        listed = "; ".join(f"{name} ({role}: {why})" for name, role, why in found)
        lines += [f"> **Warning: {len(found)} of {processes} timed processes were disturbed** by the rest of the "
                  f"machine ({limits()}): {listed}. Their figures are in the tables; `kerasbench compare "
                  "--disturbed drop` leaves them out, and the Interference section shows each contender's share.", ""]
    if shared:
        lines += [f"> **Warning: shared cluster nodes.** {', '.join(shared)} ran on nodes the fan-out did not "
                  "reserve (`--shared`): other jobs may have run beside them.", ""]
    return lines


def _median(values: list[float]) -> float:
    clean = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return float(pd.Series(clean).median()) if clean else math.nan


def table(timed: list[Run], frameworks: list[str]) -> str:
    """Per contender, over its training processes: how many were disturbed, and the medians of their shares."""
    rows = []
    for fw in frameworks:
        own = [run.train.interference or {} for run in timed if run.framework == fw]
        if not own:
            continue

        def med(key, scale=100.0, places=1, own=own):
            value = _median([s.get(key) for s in own])
            return DASH if math.isnan(value) else f"{value * scale:,.{places}f}"
        noisy = sum(interference.disturbed(s) is not None for s in own)
        rows.append({"contender": fw, "training processes": str(len(own)), "disturbed": str(noisy),
                     "CPUs": med("cpus", 1, 0), "own CPU use (% of them)": med("own_cpu_share"),
                     "others (% of them)": med("others_share"), "others, worst epoch (%)": med("others_share_max"),
                     "steal (%)": med("steal_share"), "involuntary switches per s": med("invol_cs_per_s", 1, 0),
                     "CPU MHz": med("cpu_mhz", 1, 0)})
    if not rows:
        return "No interference was recorded (results from before kerasbench recorded it)."
    return markdown_table(pd.DataFrame(rows))
