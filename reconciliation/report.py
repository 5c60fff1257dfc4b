"""Run folders: everything a run produced, written atomically.

:func:`write_run` builds the folder next to its target as ``<out>.tmp-<pid>`` and renames it
into place only when every file is complete, so a run folder is either whole or absent. An
existing target is refused (``FileExistsError``) unless ``overwrite=True``; then the old folder is
swapped out only after the new one is complete, and only if it looks like a run folder (it holds
``summary.json``) or is empty, so a mistyped ``--out`` never deletes unrelated files. Contents
(:data:`RUN_FILES`; each written by one step of :data:`STEPS`, in this order):

* ``scenario.resolved.yaml``: the validated scenario with every default filled in (re-loadable);
* ``summary.json``: scenario name, seed, periods, warm-up, replications, versions and the KPIs
  (:func:`reconciliation.kpis.compute_kpis`);
* ``ledger.parquet``: every ledger row of every replication (``replication`` first, then
  :data:`~reconciliation.ledger.LEDGER_COLUMNS`), warm-up periods included; with ``csv=True`` also
  ``ledger.csv``;
* ``events.parquet``: the order and shipment trace of replication 0 (:data:`EVENT_COLUMNS`:
  ``kind, id, lane, period, due, lead_time, quantity, lost``; ``period`` is the period an order was
  placed or a shipment sent, ``due`` the period the upstream node sees an order or a shipment
  arrives; ``lead_time`` is empty for orders; ``lost`` the units of a shipment lost in transit;
  ids number the events in the order they happened); with ``csv=True`` also ``events.csv``;
* unless ``plots=False``: ``inventory.png``, ``orders_vs_demand.png`` (replication 0) and
  ``cost_breakdown.png`` (mean over replications, after warm-up).

Tables are written by pyarrow (Parquet, and CSV when asked) a block of rows at a time, straight
from the ledger's columns and the trace's chunks; pyarrow and matplotlib are imported only here,
when a folder is written. This module reads the scenario and results by duck typing
(``to_yaml_dict()``, ``ledger``, ``trace``) so that ``reconciliation`` does not import ``twin``
(DESIGN.md, import direction).
"""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import yaml

from reconciliation import arrow
from reconciliation.kpis import COMPONENTS, compute_kpis
from reconciliation.ledger import Ledger, arrow_schema
from reconciliation.trace import KINDS, Trace

if TYPE_CHECKING:
    import pandas as pd

EVENT_COLUMNS: tuple[str, ...] = ("kind", "id", "lane", "period", "due", "lead_time", "quantity", "lost")
TABLE_FILES: tuple[str, ...] = ("ledger.parquet", "events.parquet")
CSV_FILES: tuple[str, ...] = ("ledger.csv", "events.csv")
PLOT_FILES: tuple[str, ...] = ("inventory.png", "orders_vs_demand.png", "cost_breakdown.png")
RUN_FILES: tuple[str, ...] = ("scenario.resolved.yaml", "summary.json", *TABLE_FILES, *PLOT_FILES)
"""The files of a run folder written with the default options."""


def run_files(*, csv: bool = False, plots: bool = True) -> tuple[str, ...]:
    """The files of a run folder written with these options."""
    return (
        "scenario.resolved.yaml",
        "summary.json",
        *TABLE_FILES,
        *(CSV_FILES if csv else ()),
        *(PLOT_FILES if plots else ()),
    )


class ScenarioLike(Protocol):
    """What is read of a ``twin.scenario.Scenario``."""

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
    """What is read of a ``twin.engine.SimulationResult``."""

    @property
    def replication(self) -> int: ...
    @property
    def ledger(self) -> Ledger: ...
    @property
    def trace(self) -> Trace: ...


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


def event_batches(trace: Trace, rows: int = 1 << 13) -> Iterator[Any]:
    """The trace as Arrow record batches of at most ``rows`` events with :data:`EVENT_COLUMNS` (an
    order's ``due`` is the period its upstream node sees it; orders have no lead time and lose
    nothing)."""
    for whole in trace.chunks():
        for a in range(0, len(whole["id"]), rows):
            yield _event_batch(trace, {name: v[a : a + rows] for name, v in whole.items()})


def _event_batch(trace: Trace, chunk: dict[str, np.ndarray]) -> Any:
    kind = chunk["kind"].astype(np.int64)
    return _record_batch(
        [
            arrow.dictionary(KINDS, kind),
            arrow.int64(chunk["id"]),
            arrow.dictionary(trace.lanes, chunk["lane"]),
            arrow.int64(chunk["period"]),
            arrow.int64(chunk["due"]),
            arrow.float64(chunk["lead_time"], valid=kind == 1),
            arrow.float64(chunk["quantity"]),
            arrow.float64(chunk["lost"]),
        ],
        events_schema(),
    )


def events_schema() -> Any:
    import pyarrow as pa

    types = {"kind": arrow.string_type(), "lane": arrow.string_type(), "lead_time": pa.float64()}
    types.update({"quantity": pa.float64(), "lost": pa.float64()})
    return pa.schema([(name, types.get(name, pa.int64())) for name in EVENT_COLUMNS])


def events_frame(trace: Iterable[Any]) -> pd.DataFrame:
    """The order/shipment trace as a pandas table with :data:`EVENT_COLUMNS` (for analysis)."""
    import pyarrow as pa

    if not isinstance(trace, Trace):
        raise TypeError(f"expected a Trace, got {type(trace).__name__}")
    table = pa.Table.from_batches(list(event_batches(trace)), schema=events_schema())
    return table.to_pandas(strings_to_categorical=False).astype({"kind": str, "lane": str})


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


def _record_batch(arrays: list[Any], schema: Any) -> Any:
    import pyarrow as pa

    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def write_tables(
    folder: Path, stem: str, schema: Any, batches: Iterable[Any], *, csv: bool = False
) -> None:
    """``<stem>.parquet`` (and ``<stem>.csv``) in ``folder`` from Arrow record batches."""
    import pyarrow.parquet as pq

    # Strings are dictionary arrays; without the Arrow schema in the file they read back as plain
    # strings (not categoricals), as any Parquet reader sees them.
    strings = [f.name for f in schema if str(f.type).startswith("dictionary")]
    parquet = pq.ParquetWriter(
        folder / f"{stem}.parquet", schema, use_dictionary=strings, store_schema=False
    )
    writer = None
    try:
        if csv:
            import pyarrow.csv as pcsv

            writer = pcsv.CSVWriter(folder / f"{stem}.csv", schema)
        for batch in batches:
            parquet.write_batch(batch)
            if writer is not None:
                writer.write_batch(batch)
    finally:
        parquet.close()
        if writer is not None:
            writer.close()


# --------------------------------------------------------------------------------------------------
# Plots (matplotlib's object API on an Agg canvas: no pyplot, no global backend state).


def _figure(width: float, height: float, *, constrained: bool = True) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained" if constrained else None)
    FigureCanvasAgg(fig)
    return fig


LAYOUT_PANELS = 8
"""Figures with more panels than this are laid out by fixed margins: matplotlib's constrained
layout took 1.5 s of the 2.3 s a 24-panel figure took to draw."""


def _grid(n: int) -> tuple[int, int]:
    cols = 1 if n <= 3 else 2 if n <= 8 else 3
    return math.ceil(n / cols), cols


MAX_PANELS = 24
"""Per-node plots show at most this many nodes (a 1,000-store network would need 1,000 panels)."""


def top_nodes(
    nodes: Sequence[str], cost: Sequence[float], limit: int = MAX_PANELS
) -> tuple[list[str], str]:
    """Of ``nodes`` (in ledger order, with their total ``cost``), the ones to plot and a note for
    the title: all of them when there are at most ``limit``; otherwise the ``limit`` with the
    highest cost (the ones worth looking at first; ties keep ledger order), in ledger order."""
    nodes = list(nodes)
    if len(nodes) <= limit:
        return nodes, ""
    order = np.argsort(-np.asarray(cost, dtype=float), kind="stable")[:limit]
    top = {nodes[i] for i in order}
    return [n for n in nodes if n in top], (
        f" (the {limit} of {len(nodes):,} nodes with the highest cost)"
    )


def plotted_nodes(rows: pd.DataFrame, limit: int = MAX_PANELS) -> tuple[list[str], str]:
    """:func:`top_nodes` of a ledger table (the nodes of ``rows`` and their summed total cost)."""
    nodes = list(dict.fromkeys(rows["node"]))
    if len(nodes) <= limit:
        return nodes, ""
    cost = rows.groupby("node", sort=False)["total_cost"].sum()
    return top_nodes(nodes, [float(cost[n]) for n in nodes], limit)


MAX_POINTS = 2000
"""Lines with more points than this are drawn from their envelope (:func:`thin`)."""


def thin(x: np.ndarray, y: np.ndarray, limit: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """A long series reduced to its envelope: the smallest and the largest value of each of
    ``limit / 2`` consecutive buckets, in time order. Drawn at a few hundred pixels wide the line
    looks the same (each pixel column spans many periods and shows their range), and drawing
    20,000 periods costs what 2,000 do."""
    n = len(y)
    if n <= limit:
        return x, y
    size = math.ceil(n / (limit // 2))
    whole = n // size * size
    xs, ys = x[:whole].reshape(-1, size), y[:whole].reshape(-1, size)
    low, high = ys.argmin(axis=1), ys.argmax(axis=1)
    first, second = np.minimum(low, high), np.maximum(low, high)
    rows = np.arange(len(ys))
    keep_x = np.stack([xs[rows, first], xs[rows, second]], axis=1).ravel()
    keep_y = np.stack([ys[rows, first], ys[rows, second]], axis=1).ravel()
    return np.concatenate([keep_x, x[whole:]]), np.concatenate([keep_y, y[whole:]])


def _line(ax: Any, x: np.ndarray, y: np.ndarray, **style: Any) -> None:
    ax.plot(*thin(x, y), **style)


def _shade_warmup(ax: Any, warmup: int) -> None:
    if warmup > 0:
        ax.axvspan(-0.5, warmup - 0.5, color="0.9", zorder=0, label="warm-up")


def _locations(ledger: Ledger) -> list[str]:
    return list(dict.fromkeys(ledger.layout.nodes))


def _members(ledger: Ledger, node: str) -> list[int]:
    return [i for i, n in enumerate(ledger.layout.nodes) if n == node]


def plot_inventory(ledger: Ledger, path: Path, *, warmup: int, replication: int = 0) -> None:
    """On-hand stock and backorders at the close of each period, one panel per node (at most
    :data:`MAX_PANELS`: :func:`top_nodes`); a multi-SKU node shows its on-hand stock per SKU and
    its backorders summed over SKUs."""
    layout = ledger.layout
    locations = _locations(ledger)
    cost = ledger.column("total_cost").sum(axis=0) if len(locations) > MAX_PANELS else None
    node_cost = [float(cost[_members(ledger, n)].sum()) if cost is not None else 0.0 for n in locations]
    nodes, note = top_nodes(locations, node_cost)
    del cost
    closing = ledger.node_flow("closing_on_hand")
    backorders = ledger.node_flow("backorders")
    periods = np.arange(ledger.periods)
    nrows, ncols = _grid(len(nodes))
    height = 1.0 + 2.3 * nrows
    constrained = len(nodes) <= LAYOUT_PANELS
    fig = _figure(6.0 * ncols, height, constrained=constrained)
    if not constrained:  # margins in inches: title above, shared legend below
        fig.subplots_adjust(
            left=0.05, right=0.98, top=1 - 0.8 / height, bottom=0.9 / height, hspace=0.4, wspace=0.15
        )
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=True)
    for ax, node in zip(axes.flat, nodes, strict=False):
        members = _members(ledger, node)
        _shade_warmup(ax, warmup)
        if len(members) > 1:  # a multi-SKU node: on hand per SKU, backorders summed over SKUs
            for k, i in enumerate(members):
                _line(
                    ax,
                    periods,
                    closing[:, i],
                    lw=1.0,
                    color=f"C{k % 10}",
                    label=f"on hand {layout.skus[i]}",
                )
            ax.legend(fontsize=7)
        else:
            _line(ax, periods, closing[:, members[0]], lw=1.0, color="tab:blue", label="on hand")
        _line(
            ax, periods, backorders[:, members].sum(axis=1), lw=1.0, color="tab:red", label="backorders"
        )
        echelon = min(layout.echelons[i] for i in members)
        ax.set_title(f"{node} ({layout.tiers[members[0]]}, echelon {echelon})", fontsize=10)
        ax.set_ylabel("units")
    for ax in axes.flat[len(nodes) :]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("period")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(
        handles,
        labels,
        loc="outside lower center" if constrained else "lower center",
        ncols=3,
        fontsize=9,
    )
    fig.suptitle(
        f"Closing on-hand stock and backorders per node (replication {replication}){note}",
        y=1 - 0.2 / height,
    )
    fig.savefig(path, dpi=100)


def plot_orders_vs_demand(
    ledger: Ledger,
    path: Path,
    *,
    customers: Sequence[str],
    warmup: int,
    kpis: Mapping[str, Any] | None = None,
    replication: int = 0,
    ordering: Iterable[int] | None = None,
) -> None:
    """Orders placed per period by each echelon (summed over its nodes) against customer demand.

    Echelons that never order (``ordering``: the echelons that ever ordered, in any replication;
    by default in this ledger) are left out.
    """
    layout = ledger.layout
    echelons = np.asarray(layout.echelons)
    customer = np.isin(np.asarray(layout.nodes, dtype=object), list(customers))
    demand = ledger.node_flow("demand")[:, customer].sum(axis=1)
    ordered = ledger.column("ordered")
    levels = sorted(set(echelons.tolist()))
    if ordering is None:
        ordering = set(echelons[(ordered > 0).any(axis=0)].tolist())
    ordering = set(ordering)
    shown = [e for e in levels if e in ordering] or levels[:1]
    periods = np.arange(ledger.periods)
    fig = _figure(9.0, 1.0 + 2.2 * len(shown))
    axes = fig.subplots(len(shown), 1, squeeze=False, sharex=True)[:, 0]
    for ax, echelon in zip(axes, shown, strict=True):
        members = echelons == echelon
        tiers = list(dict.fromkeys(t for t, m in zip(layout.tiers, members, strict=True) if m))
        _shade_warmup(ax, warmup)
        _line(ax, periods, demand, lw=1.0, color="0.4", label="customer demand")
        _line(
            ax,
            periods,
            ordered[:, members].sum(axis=1),
            lw=1.0,
            color="tab:orange",
            label="orders placed",
        )
        title = f"echelon {int(echelon)} ({', '.join(map(str, tiers))})"
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


@dataclass
class RunFolder:
    """What the steps of :func:`write_run` write from, and the folder they write into."""

    folder: Path
    scenario: ScenarioLike
    results: Sequence[ResultLike]
    kpis: Mapping[str, Any]
    customers: Sequence[str]
    csv: bool = False
    plots: bool = True

    @property
    def first(self) -> ResultLike:
        """Replication 0 (the lowest): the one with the trace and the plotted trajectories."""
        return min(self.results, key=lambda r: r.replication)


def write_scenario(run: RunFolder) -> None:
    with open(run.folder / "scenario.resolved.yaml", "w", encoding="utf-8") as f:
        dump_yaml(run.scenario.to_yaml_dict(), f)


def dump_yaml(data: Mapping[str, Any], stream: Any, chunk: int = 64) -> None:
    """``yaml.safe_dump(data, stream, sort_keys=False, allow_unicode=True)``, a top-level key and
    ``chunk`` items of a long list at a time: the same text (PyYAML writes a list in a mapping
    without indenting it, so its items dumped alone read the same; checked on every shipped
    scenario), without building the whole document's representation at once (12 MB for a
    1,000-store network). libyaml's emitter when PyYAML has it (4x faster, the same text)."""
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

    def dump(value: Any) -> None:
        yaml.dump(value, stream, Dumper=dumper, sort_keys=False, allow_unicode=True)

    for key, value in data.items():
        if isinstance(value, list) and len(value) > chunk:
            dump({key: value[:chunk]})
            for start in range(chunk, len(value), chunk):
                dump(value[start : start + chunk])
        else:
            dump({key: value})


def write_summary(run: RunFolder) -> None:
    with open(run.folder / "summary.json", "w", encoding="utf-8") as f:
        json.dump(summary_dict(run.scenario, run.kpis), f, indent=2, allow_nan=False)
        f.write("\n")


def write_ledger(run: RunFolder) -> None:
    batches = (
        batch for result in run.results for batch in result.ledger.record_batches(result.replication)
    )
    write_tables(run.folder, "ledger", arrow_schema(), batches, csv=run.csv)


def write_events(run: RunFolder) -> None:
    write_tables(run.folder, "events", events_schema(), event_batches(run.first.trace), csv=run.csv)


def write_plots(run: RunFolder) -> None:
    if not run.plots:
        return
    first = run.first
    warmup = run.scenario.warmup_periods
    plot_inventory(
        first.ledger, run.folder / "inventory.png", warmup=warmup, replication=first.replication
    )
    ordering: set[int] = set()
    for result in run.results:
        layout = result.ledger.layout
        ordered = (result.ledger.column("ordered") > 0).any(axis=0)
        ordering.update(layout.echelons[i] for i in np.flatnonzero(ordered))
    plot_orders_vs_demand(
        first.ledger,
        run.folder / "orders_vs_demand.png",
        customers=run.customers,
        warmup=warmup,
        kpis=run.kpis,
        replication=first.replication,
        ordering=ordering,
    )
    plot_cost_breakdown(run.kpis, run.folder / "cost_breakdown.png")


STEPS: list[Callable[[RunFolder], None]] = [
    write_scenario,
    write_summary,
    write_ledger,
    write_events,
    write_plots,
]
"""The steps that write a run folder, in order (a new output is one more step)."""


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


def write_run(
    out: str | os.PathLike[str],
    scenario: ScenarioLike,
    results: Sequence[ResultLike],
    *,
    overwrite: bool = False,
    kpis: Mapping[str, Any] | None = None,
    csv: bool = False,
    plots: bool = True,
    customers: Sequence[str] | None = None,
) -> Path:
    """Write the run folder ``out`` atomically (see the module docstring) and return its path.

    ``kpis`` (and ``customers``, :func:`customer_nodes`) are computed from ``results`` (and the
    scenario) when not given; ``csv`` adds CSV copies of the tables, ``plots=False`` leaves the
    figures out.
    """
    if not results:
        raise ValueError("write_run needs at least one replication's results")
    target = check_target(out, overwrite=overwrite)
    customers = customer_nodes(scenario) if customers is None else list(customers)
    if kpis is None:
        kpis = compute_kpis(results, scenario.warmup_periods, customer_nodes=customers)

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
        run = RunFolder(tmp, scenario, results, kpis, customers, csv=csv, plots=plots)
        for step in STEPS:
            step(run)
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
