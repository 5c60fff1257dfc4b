"""Paired comparisons of what-if cases under common random numbers: t-intervals and verdicts.

Replication ``r`` of every case draws the same demand and lead times, so the difference
``d_r = KPI(case, r) - KPI(baseline, r)`` removes the noise the cases share and the paired
t-interval ``mean(d) ± t(0.975, n-1) · sd(d) / sqrt(n)`` is much narrower than comparing two
independent means (Law 2015, *Simulation Modeling and Analysis*, sec. 10.2.1; Nelson 1990 on
common random numbers). Each case's own mean gets the same t-interval over its replications.
Replications where either KPI is undefined (a fill rate without demand) or that failed are left out
of the pair; ``n`` says how many remain. With identical values the interval has zero width
exactly.

Verdict (per KPI direction, :func:`reconciliation.whatif.kpi_spec`): ``better`` when the whole
interval of the difference lies on the improving side of 0, ``worse`` when it lies on the other
side, ``no significant difference`` when it contains 0, ``n/a`` with fewer than two pairs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats

from reconciliation.whatif import kpi_spec

LEVEL = 0.95
BETTER, WORSE, SAME, UNDEFINED = "better", "worse", "no significant difference", "n/a"


def t_interval(
    values: Sequence[float | None],
    level: float = LEVEL,
) -> tuple[int, float | None, float | None]:
    """``(n, mean, half_width)`` of the finite ``values``; half_width is None when n < 2."""
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    n = int(x.size)
    if n == 0:
        return 0, None, None
    if np.all(x == x[0]):  # exactly: a constant has mean x[0] and a zero-width interval
        return n, float(x[0]), (0.0 if n > 1 else None)
    mean = float(x.mean())
    if n < 2:
        return n, mean, None
    quantile = float(stats.t.ppf(0.5 + level / 2, n - 1))
    return n, mean, quantile * float(x.std(ddof=1)) / math.sqrt(n)


def verdict(better: str, low: float | None, high: float | None, n: int) -> str:
    if n < 2 or low is None or high is None:
        return UNDEFINED
    if low > 0:
        return BETTER if better == "higher" else WORSE
    if high < 0:
        return BETTER if better == "lower" else WORSE
    return SAME


def compare(
    results: Mapping[int, Mapping[int, Mapping[str, float | None]]],
    cases: Sequence[tuple[int, str, str]],
    baseline: int = 0,
) -> list[dict[str, Any]]:
    """Rows of the comparison table (``reconciliation.whatif.COMPARISON_COLUMNS``).

    ``results[case][replication]`` holds the flat KPIs of each finished replication; ``cases`` is
    ``[(index, name, variant), ...]`` in report order. KPIs are listed in the order the baseline
    reports them (then any only other cases have, e.g. tiers of a swapped scenario file).
    """
    keys: dict[str, None] = {}
    for index, _, _ in [c for c in cases if c[0] == baseline] + list(cases):
        for kpis in results.get(index, {}).values():
            keys.update(dict.fromkeys(kpis))
    base = results.get(baseline, {})
    rows: list[dict[str, Any]] = []
    for key in keys:
        spec = kpi_spec(key)
        _, base_mean, _ = t_interval([k.get(key) for k in base.values()])
        for index, name, variant in cases:
            reps = results.get(index, {})
            n, mean, half = t_interval([k.get(key) for k in reps.values()])
            if n == 0 or mean is None:
                continue
            row: dict[str, Any] = {
                "kpi": key,
                "label": spec.label,
                "better": spec.better,
                "case": name,
                "variant": variant,
                "n": n,
                "mean": mean,
                "ci_low": None if half is None else mean - half,
                "ci_high": None if half is None else mean + half,
                "diff_n": 0,
                "diff": None,
                "diff_ci_low": None,
                "diff_ci_high": None,
                "diff_percent": None,
                "verdict": "baseline" if index == baseline else UNDEFINED,
            }
            if index != baseline:
                pairs = [(reps[r].get(key), base[r].get(key)) for r in sorted(reps) if r in base]
                diffs = [
                    a - b
                    for a, b in pairs
                    if a is not None and b is not None and math.isfinite(a) and math.isfinite(b)
                ]
                dn, diff, dhalf = t_interval(diffs)
                low = None if dhalf is None or diff is None else diff - dhalf
                high = None if dhalf is None or diff is None else diff + dhalf
                row.update(
                    {
                        "diff_n": dn,
                        "diff": diff,
                        "diff_ci_low": low,
                        "diff_ci_high": high,
                        # A percentage of a baseline near zero says nothing (+327,322 % backorders):
                        # given only while the change is at most 10x the baseline.
                        "diff_percent": (
                            100.0 * diff / abs(base_mean)
                            if diff is not None and base_mean and abs(diff) <= 10 * abs(base_mean)
                            else None
                        ),
                        "verdict": verdict(spec.better, low, high, dn),
                    }
                )
            rows.append(row)
    return rows
