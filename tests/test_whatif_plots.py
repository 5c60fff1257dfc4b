"""Plots of what-if studies: every case keeps its whole label, and no series hides another.

A sweep case is named ``VARIANT | PATH=VALUE, ...``; cut at a fixed width, every grid point of a
variant looked the same (``baseline | lanes[warehouse_...``). In the sweep plot, series with equal
values (a fill rate of 1 in every case) were drawn exactly on top of one another.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pandas as pd

from reconciliation import whatif_report
from reconciliation.whatif_report import case_labels, short_paths

PATHS = ["lanes[warehouse_1->store_3].lead_time.high", "agents.store.base_stock_level.store_1"]
CASES = ["baseline", "tuned_sS"] + [
    f"{variant} | {PATHS[0]}={high}, {PATHS[1]}={level}"
    for variant, high, level in itertools.product(["baseline", "tuned_sS"], [2, 3], [120, 140])
]


def test_short_paths_keep_the_distinguishing_tail():
    assert short_paths(PATHS) == {PATHS[0]: "high", PATHS[1]: "store_1"}
    both = ["lanes[a->b].lead_time.high", "lanes[a->c].lead_time.high"]
    assert short_paths(both) == {
        both[0]: "lanes[a->b].lead_time.high",
        both[1]: "lanes[a->c].lead_time.high",
    }
    assert short_paths(["nodes.s1.demand.mean", "nodes.s2.demand.mean", "periods"]) == {
        "nodes.s1.demand.mean": "s1.demand.mean",
        "nodes.s2.demand.mean": "s2.demand.mean",
        "periods": "periods",
    }


def test_every_case_label_is_whole_and_distinct():
    labels = case_labels(CASES)
    assert len(set(labels.values())) == len(CASES)
    assert labels["baseline"] == "baseline"
    assert labels[CASES[-1]].split("\n") == ["tuned_sS", "high=3, store_1=140"]
    for label in labels.values():
        assert "…" not in label and all(len(line) <= 22 for line in label.split("\n"))


def _summary() -> pd.DataFrame:
    rows = []
    for variant, level, high in itertools.product(["baseline", "tuned_sS", "fast"], [120, 140], [2, 3]):
        for kpi in ("network.cost_per_period", "network.fill_rate"):
            mean = 1.0 if kpi == "network.fill_rate" else 400.0  # every series equal
            rows.append(
                {"variant": variant, PATHS[0]: high, PATHS[1]: level, "kpi": kpi,
                 "mean": mean, "ci_low": mean - 0.1, "ci_high": mean + 0.1}
            )  # fmt: skip
    return pd.DataFrame(rows)


def test_equal_series_of_a_sweep_stay_visible(tmp_path, monkeypatch):
    figures = []
    monkeypatch.setattr(whatif_report, "_save", lambda fig, path: figures.append(fig))
    whatif_report.plot_sweep(_summary(), PATHS, tmp_path / "sweep.png")
    (fig,) = figures
    for ax in fig.axes[:2]:
        lines = [
            line for line in ax.get_lines() if line.get_label() and not line.get_label().startswith("_")
        ]
        assert len(lines) == 6  # 3 variants x 2 values of the other path
        xs = {tuple(line.get_xdata()) for line in lines}
        assert len(xs) == 6, "series drawn on top of one another"
        looks = {(line.get_linestyle(), line.get_marker(), line.get_color()) for line in lines}
        assert len(looks) == 6
    labels = [
        line.get_label() for line in fig.axes[0].get_lines() if not line.get_label().startswith("_")
    ]
    assert "tuned_sS, store_1=140" in labels


def test_sweep_plot_is_written(tmp_path):
    path = tmp_path / "sweep.png"
    whatif_report.plot_sweep(_summary(), PATHS, path)
    assert Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
