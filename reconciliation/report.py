"""Run folders: everything a run produced, written atomically.

:func:`write_run` builds the folder next to its target as ``<out>.tmp-<pid>`` and renames it
into place only when every file is complete, so a run folder is either whole or absent. An
existing target is refused (``FileExistsError``) unless ``overwrite=True``; then the old folder is
swapped out only after the new one is complete, and only if it looks like a run folder (it holds
``summary.json``) or is empty, so a mistyped ``--out`` never deletes unrelated files. Contents:

* ``scenario.resolved.yaml``: the validated scenario with every default filled in (re-loadable);
* ``ledger.parquet`` and ``ledger.csv``: every ledger row of every replication (``replication``
  first, then :data:`~reconciliation.ledger.LEDGER_COLUMNS`), warm-up periods included;
* ``events.csv``: the order and shipment trace of replication 0 (``kind, id, lane, period, due,
  lead_time, quantity, lost``; ``period`` is the period an order was placed or a shipment sent,
  ``due`` the period the upstream node sees an order or a shipment arrives; ``lost`` the units of
  a shipment lost in transit; ids are numbered per lane);
* ``summary.json``: scenario name, seed, periods, warm-up, replications, versions and the KPIs
  (:func:`reconciliation.kpis.compute_kpis`);
* ``inventory.png``, ``orders_vs_demand.png`` (replication 0) and ``cost_breakdown.png`` (mean
  over replications, after warm-up).

This module reads the scenario and results by duck typing (``to_yaml_dict()``, ``rows``, ``trace``)
so that ``reconciliation`` does not import ``twin`` (DESIGN.md, import direction).
"""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
from collections.abc import Iterable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
import yaml

from entities.messages import Order, Shipment
from reconciliation.kpis import COMPONENTS, compute_kpis, ledger_frame
from reconciliation.ledger import LedgerRow

EVENT_COLUMNS: tuple[str, ...] = ("kind", "id", "lane", "period", "due", "lead_time", "quantity", "lost")
RUN_FILES: tuple[str, ...] = (
    "scenario.resolved.yaml",
    "ledger.parquet",
    "ledger.csv",
    "events.csv",
    "summary.json",
    "inventory.png",
    "orders_vs_demand.png",
    "cost_breakdown.png",
)


class ScenarioLike(Protocol):
    """What is read of a ``twin.config.Scenario``."""

    @property
    def name(self) -> str: ...
    @property
    def seed(self) -> int: ...
    @property
    def periods(self) -> int: ...
    @property
    def warmup_periods(self) -> int: ...
    @property
    def replications(self) -> int: ...
    def to_yaml_dict(self) -> dict[str, Any]: ...


class ResultLike(Protocol):
    """What is read of a ``twin.simulation.SimulationResult``."""

    @property
    def replication(self) -> int: ...
    @property
    def rows(self) -> Sequence[LedgerRow]: ...
    @property
    def trace(self) -> Sequence[Any]: ...


# --------------------------------------------------------------------------------------------------
# Pieces.


def customer_nodes(scenario: ScenarioLike) -> list[str]:
    """Ids of the nodes with external customer demand in ``scenario``."""
    data = scenario.to_yaml_dict()
    skus = data.get("skus") or []

    def has_demand(fields: Mapping[str, Any]) -> bool:
        return bool(fields.get("demand") or fields.get("customers") or fields.get("demand_series"))

    sku_demand = {k["id"] for k in skus if has_demand(k.get("defaults") or {})}
    return [
        n["id"]
        for n in data.get("nodes", [])
        if has_demand(n)
        or any(has_demand(o or {}) for o in (n.get("per_sku") or {}).values())
        or sku_demand & set(n.get("skus") or [k["id"] for k in skus])
    ]


def events_frame(trace: Iterable[Any]) -> pd.DataFrame:
    """The order/shipment trace as a table with :data:`EVENT_COLUMNS` (an order's ``due`` is the
    period its upstream node sees it; orders have no lead time and lose nothing)."""
    records: list[tuple[Any, ...]] = []
    for e in trace:
        if isinstance(e, Order):
            seen = e.period if e.seen is None else e.seen
            records.append(("order", e.id, e.lane, e.period, seen, None, e.quantity, 0.0))
        elif isinstance(e, Shipment):
            records.append(("shipment", e.id, e.lane, e.sent, e.due, e.lead_time, e.quantity, e.lost))
        else:
            raise TypeError(f"trace holds {type(e).__name__} {e!r}; expected Order or Shipment")
    frame = pd.DataFrame.from_records(records, columns=list(EVENT_COLUMNS))
    return frame.astype(
        {
            "id": "int64",
            "period": "int64",
            "due": "Int64",
            "lead_time": "float64",
            "quantity": "float64",
            "lost": "float64",
        }
    )


def versions() -> dict[str, str | None]:
    """Versions of Python and of the libraries that shape the numbers."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for dist in ("numpy", "simpy", "pandas", "supply-twin"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def summary_dict(scenario: ScenarioLike, kpis: Mapping[str, Any]) -> dict[str, Any]:
    """What ``summary.json`` holds."""
    return {
        "scenario": scenario.name,
        "seed": scenario.seed,
        "periods": scenario.periods,
        "warmup_periods": scenario.warmup_periods,
        "replications": kpis.get("replications", scenario.replications),
        "versions": versions(),
        "kpis": kpis,
    }


# --------------------------------------------------------------------------------------------------
# Plots (matplotlib's object API on an Agg canvas: no pyplot, no global backend state).


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _grid(n: int) -> tuple[int, int]:
    cols = 1 if n <= 3 else 2 if n <= 8 else 3
    return math.ceil(n / cols), cols


MAX_PANELS = 24
"""Per-node plots show at most this many nodes (a 1,000-store network would need 1,000 panels)."""


def plotted_nodes(rows: pd.DataFrame, limit: int = MAX_PANELS) -> tuple[list[str], str]:
    """The nodes of ``rows`` to plot, in ledger order, and a note for the title.

    All of them when there are at most ``limit``; otherwise the ``limit`` nodes with the highest
    total cost (the ones worth looking at first), and the note says how many of how many.
    """
    nodes = list(dict.fromkeys(rows["node"]))
    if len(nodes) <= limit:
        return nodes, ""
    cost = rows.groupby("node", sort=False)["total_cost"].sum()
    top = set(cost.sort_values(ascending=False, kind="stable").index[:limit])
    return [n for n in nodes if n in top], (
        f" (the {limit} of {len(nodes):,} nodes with the highest cost)"
    )


def _shade_warmup(ax: Any, warmup: int) -> None:
    if warmup > 0:
        ax.axvspan(-0.5, warmup - 0.5, color="0.9", zorder=0, label="warm-up")


def plot_inventory(ledger: pd.DataFrame, path: Path, *, warmup: int, replication: int = 0) -> None:
    """On-hand stock and backorders at the close of each period, one panel per node (at most
    :data:`MAX_PANELS`: :func:`plotted_nodes`)."""
    rows = ledger[ledger["replication"] == replication]
    nodes, note = plotted_nodes(rows)
    by_node = dict(iter(rows.groupby("node", sort=False)))
    nrows, ncols = _grid(len(nodes))
    fig = _figure(6.0 * ncols, 1.0 + 2.3 * nrows)
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=True)
    for ax, node in zip(axes.flat, nodes, strict=False):
        r = by_node[node]
        _shade_warmup(ax, warmup)
        skus = list(dict.fromkeys(r["sku"]))
        if len(skus) > 1:  # a multi-SKU node: on hand per SKU, backorders summed over SKUs
            for i, sku in enumerate(skus):
                k = r[r["sku"] == sku]
                ax.plot(
                    k["period"], k["closing_on_hand"], lw=1.0, color=f"C{i % 10}", label=f"on hand {sku}"
                )
            r = r.groupby("period", as_index=False).agg(
                backorders=("backorders", "sum"), tier=("tier", "first"), echelon=("echelon", "min")
            )
            ax.legend(fontsize=7)
        else:
            ax.plot(r["period"], r["closing_on_hand"], lw=1.0, color="tab:blue", label="on hand")
        ax.plot(r["period"], r["backorders"], lw=1.0, color="tab:red", label="backorders")
        ax.set_title(f"{node} ({r['tier'].iloc[0]}, echelon {int(r['echelon'].iloc[0])})", fontsize=10)
        ax.set_ylabel("units")
    for ax in axes.flat[len(nodes) :]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("period")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=3, fontsize=9)
    fig.suptitle(f"Closing on-hand stock and backorders per node (replication {replication}){note}")
    fig.savefig(path, dpi=100)


def plot_orders_vs_demand(
    ledger: pd.DataFrame,
    path: Path,
    *,
    customers: Sequence[str],
    warmup: int,
    kpis: Mapping[str, Any] | None = None,
    replication: int = 0,
) -> None:
    """Orders placed per period by each echelon (summed over its nodes) against customer demand.

    Echelons that never order (a make-to-order outside supplier) are left out.
    """
    rows = ledger[ledger["replication"] == replication]
    demand = rows[rows["node"].isin(customers)].groupby("period")["demand"].sum()
    orders = rows.pivot_table(index="period", columns="echelon", values="ordered", aggfunc="sum")
    tiers = rows.groupby("echelon")["tier"].unique()
    ordering = set(ledger.loc[ledger["ordered"] > 0, "echelon"])
    echelons = [e for e in orders.columns if e in ordering] or list(orders.columns)[:1]
    fig = _figure(9.0, 1.0 + 2.2 * len(echelons))
    axes = fig.subplots(len(echelons), 1, squeeze=False, sharex=True)[:, 0]
    for ax, echelon in zip(axes, echelons, strict=True):
        _shade_warmup(ax, warmup)
        ax.plot(demand.index, demand.to_numpy(), lw=1.0, color="0.4", label="customer demand")
        ax.plot(
            orders.index, orders[echelon].to_numpy(), lw=1.0, color="tab:orange", label="orders placed"
        )
        title = f"echelon {int(echelon)} ({', '.join(map(str, tiers[echelon]))})"
        stat = (kpis or {}).get("network", {}).get("bullwhip", {}).get(str(int(echelon))) or {}
        if stat.get("mean") is not None:
            title += f": bullwhip {stat['mean']:.2f} (mean over replications)"
        ax.set_title(title, fontsize=10)
        ax.set_ylabel("units per period")
    axes[-1].set_xlabel("period")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=3, fontsize=9)
    fig.suptitle(f"Orders per echelon vs customer demand (replication {replication})")
    fig.savefig(path, dpi=100)


def plot_cost_breakdown(kpis: Mapping[str, Any], path: Path) -> None:
    """Stacked cost per period by component for each tier (mean over replications, ± one se)."""
    tiers = list(kpis["tiers"])
    fig = _figure(max(7.0, 1.4 * len(tiers) + 3.0), 5.0)
    ax = fig.subplots()
    bottom = [0.0] * len(tiers)
    colors = ("tab:blue", "tab:cyan", "tab:red", "tab:purple", "tab:green")
    for component, color in zip(COMPONENTS, colors, strict=True):
        values = [kpis["tiers"][t][f"{component}_per_period"]["mean"] or 0.0 for t in tiers]
        ax.bar(tiers, values, bottom=bottom, color=color, label=component.replace("_", " "))
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    se = [kpis["tiers"][t]["cost_per_period"]["se"] or 0.0 for t in tiers]
    ax.errorbar(
        tiers, bottom, yerr=se, fmt="none", ecolor="black", capsize=4, label="± 1 standard error"
    )
    ax.set_xlabel("tier")
    ax.set_ylabel("cost per period")
    ax.legend(fontsize=9)
    ax.set_title(
        f"Cost per period by component and tier\n(mean over {kpis['replications']} "
        f"replication(s), periods >= {kpis['warmup_periods']})",
        fontsize=11,
    )
    fig.savefig(path, dpi=100)


# --------------------------------------------------------------------------------------------------
# The run folder.


def _is_run_folder(path: Path) -> bool:
    return (path / "summary.json").is_file() or not any(path.iterdir())


def check_target(out: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """Raise FileExistsError if ``out`` may not be written (exists, and no ``overwrite``)."""
    target = Path(os.path.abspath(out))
    if not target.exists() and not target.is_symlink():
        return target
    if not overwrite:
        raise FileExistsError(
            f"output folder {str(out)!r} already exists; choose another --out "
            "or pass --overwrite to replace it"
        )
    if not target.is_dir() or target.is_symlink():
        raise FileExistsError(
            f"output path {str(out)!r} exists and is not a folder; refusing to replace it"
        )
    if not _is_run_folder(target):
        raise FileExistsError(
            f"output folder {str(out)!r} is not a run folder (no summary.json) "
            "and is not empty; refusing to overwrite it"
        )
    return target


def _write_contents(
    folder: Path,
    scenario: ScenarioLike,
    results: Sequence[ResultLike],
    ledger: pd.DataFrame,
    kpis: Mapping[str, Any],
    customers: Sequence[str],
) -> None:
    with open(folder / "scenario.resolved.yaml", "w", encoding="utf-8") as f:
        yaml.safe_dump(scenario.to_yaml_dict(), f, sort_keys=False, allow_unicode=True)
    ledger.to_parquet(folder / "ledger.parquet", index=False)
    ledger.to_csv(folder / "ledger.csv", index=False)
    first = min(results, key=lambda r: r.replication)
    events_frame(first.trace).to_csv(folder / "events.csv", index=False)
    with open(folder / "summary.json", "w", encoding="utf-8") as f:
        json.dump(summary_dict(scenario, kpis), f, indent=2, allow_nan=False)
        f.write("\n")
    warmup = scenario.warmup_periods
    plot_inventory(ledger, folder / "inventory.png", warmup=warmup, replication=first.replication)
    plot_orders_vs_demand(
        ledger,
        folder / "orders_vs_demand.png",
        customers=customers,
        warmup=warmup,
        kpis=kpis,
        replication=first.replication,
    )
    plot_cost_breakdown(kpis, folder / "cost_breakdown.png")


def write_run(
    out: str | os.PathLike[str],
    scenario: ScenarioLike,
    results: Sequence[ResultLike],
    *,
    overwrite: bool = False,
    ledger: pd.DataFrame | None = None,
    kpis: Mapping[str, Any] | None = None,
) -> Path:
    """Write the run folder ``out`` atomically (see the module docstring) and return its path.

    ``ledger`` and ``kpis`` are computed from ``results`` when not given.
    """
    if not results:
        raise ValueError("write_run needs at least one replication's results")
    target = check_target(out, overwrite=overwrite)
    customers = customer_nodes(scenario)
    if ledger is None:
        ledger = ledger_frame(results)
    if kpis is None:
        kpis = compute_kpis(ledger, scenario.warmup_periods, customer_nodes=customers)

    parent = target.parent
    created: list[Path] = []
    for p in [parent, *parent.parents][::-1]:
        if not p.exists():
            created.append(p)
    parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    old = target.with_name(f"{target.name}.old-{os.getpid()}")
    try:
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
        _write_contents(tmp, scenario, results, ledger, kpis, customers)
        if target.exists() or target.is_symlink():
            check_target(out, overwrite=overwrite)  # still replaceable, now that we are done
            os.replace(target, old)
            try:
                os.replace(tmp, target)
            except BaseException:
                os.replace(old, target)  # put the old run back
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        for p in reversed(created):  # folders made for this run, innermost first, if still empty
            try:
                p.rmdir()
            except OSError:
                break
        raise
    return target
