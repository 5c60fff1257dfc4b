"""Plots and the self-contained HTML report of a what-if study.

* ``kpi_bars.png``: headline network KPIs per case, mean with its 95 % t-interval as whiskers,
  coloured by the verdict against the baseline;
* ``cost_by_tier.png``: cost per period of each tier, stacked by component, per case (whisker:
  95 % interval of the tier total);
* ``trajectories.png``: closing on-hand stock and backorders of every node in one replication,
  the cases side by side (same demand draws: the differences are the policies');
* ``sweep.png`` (with sweeps): cost per period and fill rate against the first swept value, one
  line per variant (and per value of the other swept paths), with 95 % intervals as whiskers;
  every series has its own colour, marker and line style and is shifted a little sideways, so
  series with equal values (a fill rate of 1 in every case) stay visible;
* ``report.html``: the table and every plot (base64 PNG) in one file, no external resources.

Case names are never cut: a sweep case ``VARIANT | PATH=VALUE, ...`` is labelled with the
variant and each swept path's shortest distinguishing tail (``high=3``), wrapped over lines
(:func:`case_labels`).

Plots use matplotlib's object API on an Agg canvas (no pyplot, no global backend state); the page
is put together by :mod:`reconciliation.pages`, as a run's report is.
"""

from __future__ import annotations

import html
import itertools
import math
import re
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from reconciliation import pages
from reconciliation.kpis import COMPONENTS
from reconciliation.run_report import MAX_PANELS, top_nodes
from reconciliation.whatif import atomic_write, kpi_spec

VERDICT_COLORS = {
    "baseline": "0.55",
    "better": "tab:green",
    "worse": "tab:red",
    "no significant difference": "tab:blue",
    "n/a": "tab:blue",
}
COMPONENT_COLORS = ("tab:blue", "tab:cyan", "tab:red", "tab:purple", "tab:green")
MAX_TRAJECTORY_CASES = 6


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _grid(n: int) -> tuple[int, int]:
    cols = 1 if n <= 3 else 2 if n <= 8 else 3
    return math.ceil(n / cols), cols


def _shade_warmup(ax: Any, warmup: int) -> None:
    if warmup > 0:
        ax.axvspan(-0.5, warmup - 0.5, color="0.9", zorder=0, label="warm-up")


def plotted_nodes(rows: pd.DataFrame, limit: int = MAX_PANELS) -> tuple[list[str], str]:
    """:func:`~reconciliation.run_report.top_nodes` of a ledger table (the nodes of ``rows`` and
    their summed total cost)."""
    nodes = list(dict.fromkeys(rows["node"]))
    if len(nodes) <= limit:
        return nodes, ""
    cost = rows.groupby("node", sort=False)["total_cost"].sum()
    return top_nodes(nodes, [float(cost[n]) for n in nodes], limit)


def _save(fig: Any, path: Path) -> None:
    atomic_write(path, lambda p: fig.savefig(p, dpi=100, format="png"))


def _half(row: Any) -> float:
    return 0.0 if pd.isna(row.ci_high) else (row.ci_high - row.ci_low) / 2


_ASSIGNMENT = re.compile(r", (?=[A-Za-z_][\w\[\]\->.]*=)")
"""Where one ``PATH=VALUE`` of a sweep case name ends and the next begins."""
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")
LINESTYLES = ("-", "--", ":", "-.")


def _parts(path: str) -> list[str]:
    return [p for p in re.split(r"\.(?![^\[]*\])", path) if p]


def short_paths(paths: Sequence[str]) -> dict[str, str]:
    """Each path's shortest tail of ``.``-parts that no other path ends with.

    >>> short_paths(["lanes[a->b].lead_time.high", "agents.store.base_stock_level.store_1"])
    {'lanes[a->b].lead_time.high': 'high', 'agents.store.base_stock_level.store_1': 'store_1'}
    """
    unique = list(dict.fromkeys(paths))
    out = {}
    for path in unique:
        parts = _parts(path)
        for k in range(1, len(parts) + 1):
            tail = ".".join(parts[-k:])
            if not any(o != path and ".".join(_parts(o)[-k:]) == tail for o in unique):
                break
        out[path] = tail
    return out


def _split_case(name: str) -> tuple[str, list[tuple[str, str]]]:
    variant, sep, rest = name.partition(" | ")
    if not sep:
        return name, []
    pieces = [p.partition("=") for p in _ASSIGNMENT.split(rest)]
    return variant, [(path, value) for path, _, value in pieces]


def case_labels(cases: Sequence[str], width: int = 22) -> dict[str, str]:
    """Tick labels of cases: the variant, then the swept values with shortened paths, wrapped
    at ``width`` characters over as many lines as needed (nothing is cut off)."""
    split = {c: _split_case(c) for c in cases}
    tails = short_paths([p for _, points in split.values() for p, _ in points])
    labels = {}
    for case, (variant, points) in split.items():
        lines = textwrap.wrap(variant, width, break_on_hyphens=False) or [variant]
        text = ", ".join(f"{tails[p]}={v}" for p, v in points)
        lines += textwrap.wrap(text, width, break_on_hyphens=False)
        labels[case] = "\n".join(lines)
    return labels


def _tick_space(labels: Mapping[str, str]) -> float:
    """Inches below an axis for rotated, wrapped tick labels."""
    lines = max((label.count("\n") + 1 for label in labels.values()), default=1)
    return 0.55 + 0.16 * lines


def plot_kpi_bars(frame: pd.DataFrame, path: Path) -> None:
    """Bars of the headline network KPIs per case with 95 % CI whiskers."""
    keys = [
        k
        for k in (
            "network.cost_per_period",
            "network.fill_rate",
            "network.average_on_hand",
            "network.average_backorders",
        )
        if k in set(frame["kpi"])
    ]
    keys += sorted(k for k in set(frame["kpi"]) if k.startswith("network.bullwhip."))
    cases = list(dict.fromkeys(frame["case"]))
    labels = case_labels(cases)
    nrows, ncols = _grid(len(keys))
    fig = _figure(max(5.5, 0.55 * len(cases) + 2.5) * ncols, 1.2 + (2.4 + _tick_space(labels)) * nrows)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax, key in zip(axes.flat, keys, strict=False):
        rows = frame[frame["kpi"] == key].set_index("case").reindex(cases)
        spec = kpi_spec(key)
        x = range(len(cases))
        means = [0.0 if pd.isna(m) else m for m in rows["mean"]]
        halves = [_half(r) for r in rows.itertuples()]
        colors = [VERDICT_COLORS.get(str(v), "tab:blue") for v in rows["verdict"]]
        ax.bar(x, means, color=colors)
        ax.errorbar(x, means, yerr=halves, fmt="none", ecolor="black", capsize=4)
        ax.set_xticks(list(x), [labels[c] for c in cases], rotation=30, ha="right", fontsize=8)
        ax.set_title(f"{spec.label} ({spec.better} is better)", fontsize=10)
    for ax in axes.flat[len(keys) :]:
        ax.set_visible(False)
    handles = [_legend_patch(color, label) for label, color in VERDICT_COLORS.items() if label != "n/a"]
    fig.legend(handles=handles, loc="outside lower center", ncols=4, fontsize=9)
    fig.suptitle(
        "KPIs per case: mean over replications, whiskers = 95 % confidence interval\n"
        "(colour: paired difference to the baseline)"
    )
    _save(fig, path)


def _legend_patch(color: str, label: str) -> Any:
    from matplotlib.patches import Patch

    return Patch(color=color, label=label)


def plot_cost_by_tier(frame: pd.DataFrame, path: Path) -> None:
    """Per tier: cost per period stacked by component for each case, ± 95 % CI of the total."""
    tiers = list(
        dict.fromkeys(
            k.split(".")[1]
            for k in frame["kpi"]
            if k.startswith("tiers.") and k.endswith(".cost_per_period")
        )
    )
    cases = list(dict.fromkeys(frame["case"]))
    labels = case_labels(cases)
    ncols = min(len(tiers), 3)
    nrows = math.ceil(len(tiers) / ncols)
    fig = _figure(max(4.5, 0.5 * len(cases) + 2.0) * ncols, 1.4 + (2.6 + _tick_space(labels)) * nrows)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    by_key = {k: g.set_index("case").reindex(cases) for k, g in frame.groupby("kpi")}
    for ax, tier in zip(axes.flat, tiers, strict=False):
        x = list(range(len(cases)))
        bottom = [0.0] * len(cases)
        for component, color in zip(COMPONENTS, COMPONENT_COLORS, strict=True):
            rows = by_key.get(f"tiers.{tier}.{component}_per_period")
            if rows is None:
                continue
            values = [0.0 if pd.isna(v) else v for v in rows["mean"]]
            ax.bar(x, values, bottom=bottom, color=color, label=component.replace("_", " "))
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        total = by_key[f"tiers.{tier}.cost_per_period"]
        ax.errorbar(
            x, bottom, yerr=[_half(r) for r in total.itertuples()], fmt="none", ecolor="black", capsize=4
        )
        ax.set_xticks(x, [labels[c] for c in cases], rotation=30, ha="right", fontsize=8)
        ax.set_title(f"tier {tier}", fontsize=10)
        ax.set_ylabel("cost per period")
    for ax in axes.flat[len(tiers) :]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=4, fontsize=9)
    fig.suptitle(
        "Cost per period by tier and component\n(mean over replications; whiskers: "
        "95 % CI of the tier total)"
    )
    _save(fig, path)


def plot_trajectories(
    ledgers: Mapping[str, pd.DataFrame], path: Path, *, warmup: int, replication: int = 0
) -> None:
    """Closing on-hand and backorders per node (rows) for each case (columns), one replication."""
    names = list(ledgers)[:MAX_TRAJECTORY_CASES]
    nodes, note = plotted_nodes(ledgers[names[0]])  # chosen on the first case (the baseline)
    fig = _figure(1.0 + 3.6 * len(names), 1.2 + 1.9 * len(nodes))
    axes = fig.subplots(len(nodes), len(names), squeeze=False, sharex=True, sharey="row")
    for j, name in enumerate(names):
        by_node = dict(iter(ledgers[name].groupby("node", sort=False)))
        empty = ledgers[name].iloc[:0]
        for i, node in enumerate(nodes):
            ax = axes[i, j]
            r = by_node.get(node, empty)
            _shade_warmup(ax, warmup)
            ax.plot(r["period"], r["closing_on_hand"], lw=0.9, color="tab:blue", label="on hand")
            ax.plot(r["period"], r["backorders"], lw=0.9, color="tab:red", label="backorders")
            if i == 0:
                ax.set_title(case_labels([name], 40)[name], fontsize=9)
            if j == 0:
                ax.set_ylabel(node, fontsize=9)
        axes[-1, j].set_xlabel("period")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=3, fontsize=9)
    more = f" (first {len(names)} of {len(ledgers)} cases)" if len(ledgers) > len(names) else ""
    fig.suptitle(
        f"Closing on-hand stock and backorders, replication {replication}, "
        f"same demand draws in every case{more}{note}"
    )
    _save(fig, path)


def _numeric(values: Sequence[Any]) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def plot_sweep(
    summary: pd.DataFrame,
    sweep_paths: Sequence[str],
    path: Path,
    kpis: Sequence[str] = ("network.cost_per_period", "network.fill_rate"),
) -> None:
    """KPIs against the first swept path: one series per variant and value of the other paths.

    ``summary`` has the columns variant, the sweep paths, kpi, mean, ci_low, ci_high. Each series
    has its own colour, marker and line style and is shifted sideways by a small step, so equal
    series (and their 95 % whiskers) do not hide one another.
    """
    x_path, others = sweep_paths[0], list(sweep_paths[1:])
    tails = short_paths(list(sweep_paths))
    kpis = [k for k in kpis if k in set(summary["kpi"])]
    x_values = list(dict.fromkeys(summary[x_path]))
    numeric = _numeric(x_values)
    position = {v: (float(v) if numeric else float(i)) for i, v in enumerate(x_values)}
    span = (max(position.values()) - min(position.values())) or 1.0
    series = list(
        dict.fromkeys(
            tuple(row)
            for row in summary[["variant", *others]].astype(str).itertuples(index=False, name=None)
        )
    )
    step = 0.6 * span / max(len(x_values), 1) / max(len(series), 1)
    colors = _colors(len(series))
    styles = list(itertools.islice(itertools.product(LINESTYLES, MARKERS), len(series)))
    legend_rows = math.ceil(len(series) / 2)
    fig = _figure(8.5, 1.4 + 3.2 * len(kpis) + 0.22 * legend_rows)
    axes = fig.subplots(len(kpis), 1, squeeze=False, sharex=True)[:, 0]
    for ax, key in zip(axes, kpis, strict=True):
        rows = summary[summary["kpi"] == key]
        keys = [
            tuple(r) for r in rows[["variant", *others]].astype(str).itertuples(index=False, name=None)
        ]
        for k, parts in enumerate(series):
            group = rows[[key_ == parts for key_ in keys]]
            if group.empty:
                continue
            shift = (k - (len(series) - 1) / 2) * step
            x = [position[v] + shift for v in group[x_path]]
            order = sorted(range(len(x)), key=x.__getitem__)
            x = [x[i] for i in order]
            mean = group["mean"].to_numpy()[order]
            low = group["ci_low"].to_numpy()[order]
            high = group["ci_high"].to_numpy()[order]
            name = parts[0] + "".join(
                f", {tails[p]}={v}" for p, v in zip(others, parts[1:], strict=True)
            )
            linestyle, marker = styles[k]
            ax.plot(x, mean, ls=linestyle, marker=marker, lw=1.2, ms=5, color=colors[k], label=name)
            has_ci = ~(pd.isna(low) | pd.isna(high))
            if has_ci.any():
                ax.errorbar(
                    [v for v, ok in zip(x, has_ci, strict=True) if ok],
                    mean[has_ci],
                    yerr=[mean[has_ci] - low[has_ci], high[has_ci] - mean[has_ci]],
                    fmt="none",
                    ecolor=colors[k],
                    elinewidth=1,
                    capsize=3,
                    alpha=0.8,
                )
        spec = kpi_spec(key)
        ax.set_ylabel(spec.label)
        ax.set_title(f"{spec.label} ({spec.better} is better); whiskers: 95 % CI", fontsize=10)
    axes[-1].set_xticks(list(position.values()), [str(v) for v in x_values])
    axes[-1].set_xlabel(x_path)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=2, fontsize=8)
    fig.suptitle(f"Sweep of {x_path}\n(series shifted sideways so that equal values stay visible)")
    _save(fig, path)


def _colors(n: int) -> list[Any]:
    """``n`` distinct colours: tab10, then tab20 for more series."""
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


# --------------------------------------------------------------------------------------------------
# HTML.


def render_html(
    title: str,
    meta: Mapping[str, Any],
    frame: pd.DataFrame,
    images: Sequence[Path],
    failures: Sequence[Mapping[str, Any]],
) -> str:
    """The report as one HTML document (PNG images embedded as base64)."""
    e = html.escape
    out = [pages.meta_list(meta)]
    if failures:
        out.append(
            "<h2>Failed replications</h2><table><tr><th>case</th><th>replication</th>"
            "<th>seed</th><th>error</th></tr>"
        )
        out += [
            f"<tr><td>{e(str(f['case']))}</td><td class='n'>{f['replication']}</td>"
            f"<td class='n'>{f['seed']}</td><td>{e(str(f['error']))}</td></tr>"
            for f in failures
        ]
        out.append("</table>")
    out.append(
        "<h2>Comparison with the baseline</h2><p>Mean over replications with its 95 % "
        "t-interval; Δ is the paired difference to the baseline (same random numbers "
        "per replication) with its 95 % t-interval.</p><table><tr><th>KPI</th>"
        "<th>better</th><th>case</th><th>n</th><th>mean</th><th>95 % CI</th><th>Δ</th>"
        "<th>Δ 95 % CI</th><th>Δ %</th><th>verdict</th></tr>"
    )
    previous: str | None = None
    row: Any
    for row in frame.itertuples(index=False):
        spec = kpi_spec(str(row.kpi))
        first = str(row.kpi) != previous
        previous = str(row.kpi)
        ci = (
            ""
            if pd.isna(row.ci_low)
            else f"[{pages.fmt(row.ci_low, spec.fmt)}, {pages.fmt(row.ci_high, spec.fmt)}]"
        )
        dci = (
            ""
            if pd.isna(row.diff_ci_low)
            else f"[{pages.fmt(row.diff_ci_low, spec.fmt)}, {pages.fmt(row.diff_ci_high, spec.fmt)}]"
        )
        verdict_class = row.verdict if row.verdict in ("better", "worse") else ""
        out.append(
            f"<tr class='{'first' if first else ''}'><td>{e(spec.label) if first else ''}</td>"
            f"<td>{e(spec.better) if first else ''}</td><td>{e(str(row.case))}</td>"
            f"<td class='n'>{row.n}</td><td class='n'>{pages.fmt(row.mean, spec.fmt)}</td>"
            f"<td class='n'>{ci}</td><td class='n'>{pages.fmt(row.diff, '+' + spec.fmt)}</td>"
            f"<td class='n'>{dci}</td><td class='n'>{pages.fmt(row.diff_percent, '+.1f')}</td>"
            f"<td class='{verdict_class}'>{e(str(row.verdict))}</td></tr>"
        )
    out.append("</table><h2>Plots</h2>")
    for image in images:
        out.append(f"<h3>{e(image.name)}</h3>{pages.png_image(image, image.name)}")
    return pages.page(title, out)


def write_html(path: Path, text: str) -> None:
    atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))
