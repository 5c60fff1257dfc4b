"""What-if KPIs per replication, and the tables of a study (comparison, replications, sweep).

A study compares cases replication by replication, so each replication's KPIs are computed on
their own: :func:`replication_kpis` runs :func:`~reconciliation.kpis.compute_kpis` on one
replication's ledger and flattens the result to ``{kpi key: value}`` (:func:`flatten_kpis`). Keys
and the direction in which each KPI is *better* (:func:`kpi_spec`):

====================================================  =========  ==============================
key                                                   better     meaning
====================================================  =========  ==============================
``network.cost_per_period``                           lower      total cost per period
``network.<component>_per_period``                    lower      holding, transit holding,
                                                                 stockout, ordering
``network.revenue_per_period``                        higher     sales at the nodes' prices
``network.profit_per_period``                         higher     revenue - total cost
``tiers.<tier>.cost_per_period`` (and components,     lower      cost of the tier's nodes
revenue and profit: higher)
``network.fill_rate``, ``tiers.<tier>.fill_rate``     higher     unit fill rate
``nodes.<customer node>.cycle_service_level``         higher     CSL of a customer-facing node
``network.average_on_hand``                           lower      stock held (at the service
                                                                 reached: less is leaner)
``network.average_backorders``                        lower      all units owed
``network.average_customer_backorders``               lower      units owed to customers
``network.inventory_turns``                           higher     sales / average on hand
``network.bullwhip.<echelon>``                        lower      Var(orders) / Var(demand)
``network.order_cv.<echelon>``                        lower      sd / mean of the echelon's
                                                                 orders (Liu et al.)
====================================================  =========  ==============================

Revenue and profit are in the terminal table only where some case earned revenue (a network
without prices has revenue 0 and profit ``-cost``, which says nothing new); order CV is in the
tables and the CSV files, bullwhip in the terminal table.

Tables are built from flat records (the study's statistics are computed in ``twin.paired``);
pandas appears only here, at the edge.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd

from reconciliation.kpis import COMPONENTS, compute_kpis, ledger_frame

HIGHER_IS_BETTER = frozenset(
    {
        "fill_rate",
        "cycle_service_level",
        "inventory_turns",
        "ready_rate",
        "revenue_per_period",
        "profit_per_period",
    }
)
MONEY_IN = ("revenue_per_period", "profit_per_period")
"""KPIs that are shown only where some case earned revenue (:func:`comparison_text`)."""
UNIT_RATES = {
    "lost_in_transit_per_period": "units lost in transit",
    "refused_per_period": "units refused",
}
"""KPIs that count units per period rather than cost (the terminal table leaves them out where
they are 0 in every case: networks without shipment loss or storage limits)."""
_COMPONENT_LABELS = {c: c.removesuffix("_cost").replace("_", " ") for c in COMPONENTS}
COMPARISON_COLUMNS: tuple[str, ...] = (
    "kpi",
    "label",
    "better",
    "case",
    "variant",
    "n",
    "mean",
    "ci_low",
    "ci_high",
    "diff_n",
    "diff",
    "diff_ci_low",
    "diff_ci_high",
    "diff_percent",
    "verdict",
)


@dataclass(frozen=True)
class KpiSpec:
    key: str
    label: str
    better: str
    """``"lower"`` or ``"higher"``: the direction of an improvement."""
    fmt: str
    headline: bool
    """Shown in the terminal table and report (every KPI is in comparison.csv)."""


def kpi_spec(key: str) -> KpiSpec:
    """Label, direction and number format of a flat KPI key (see the module docstring)."""
    parts = key.split(".")
    scope, metric = parts[0], parts[-1]
    if scope == "network" and parts[1] == "bullwhip":
        return KpiSpec(key, f"bullwhip, echelon {parts[2]}", "lower", ".3f", True)
    if scope == "network" and parts[1] == "order_cv":
        return KpiSpec(key, f"order CV, echelon {parts[2]}", "lower", ".3f", False)
    owner = {
        "network": "network",
        "tiers": f"tier {parts[1]}",
        "nodes": parts[1] if len(parts) > 2 else "",
    }.get(scope, scope)
    better = "higher" if metric in HIGHER_IS_BETTER else "lower"
    if metric in UNIT_RATES:
        return KpiSpec(
            key, f"{owner} {UNIT_RATES[metric]} / period", "lower", ",.2f", scope == "network"
        )
    if metric in MONEY_IN:
        what = metric.removesuffix("_per_period")
        return KpiSpec(key, f"{owner} {what} / period", "higher", ",.2f", scope == "network")
    if metric.endswith("_per_period"):
        component = metric.removesuffix("_per_period")
        what = "cost" if component == "cost" else f"{_COMPONENT_LABELS.get(component, component)} cost"
        headline = scope == "network" or component == "cost"
        return KpiSpec(key, f"{owner} {what} / period", better, ",.2f", headline)
    names = {
        "fill_rate": "fill rate",
        "cycle_service_level": "cycle service level",
        "average_on_hand": "avg on-hand",
        "average_backorders": "avg backorders",
        "average_customer_backorders": "avg customer backorders",
        "inventory_turns": "inventory turns",
    }
    fmt = ".4f" if metric in ("fill_rate", "cycle_service_level") else ",.2f"
    headline = metric != "inventory_turns" and not (scope == "tiers")
    return KpiSpec(key, f"{owner} {names.get(metric, metric.replace('_', ' '))}", better, fmt, headline)


def _value(stat: Mapping[str, Any] | None) -> float | None:
    if not stat:
        return None
    mean = stat.get("mean")
    return None if mean is None or not math.isfinite(mean) else float(mean)


def flatten_kpis(kpis: Mapping[str, Any]) -> dict[str, float | None]:
    """The KPIs of one replication (``compute_kpis`` on its ledger) as ``{key: value}``."""
    out: dict[str, float | None] = {}
    network = kpis["network"]
    tiers = kpis["tiers"]
    out["network.cost_per_period"] = _value(network["cost_per_period"])
    for c in COMPONENTS:
        out[f"network.{c}_per_period"] = _value(network[f"{c}_per_period"])
    for metric in MONEY_IN:
        out[f"network.{metric}"] = _value(network.get(metric))
    for tier, k in tiers.items():
        out[f"tiers.{tier}.cost_per_period"] = _value(k["cost_per_period"])
    out["network.fill_rate"] = _value(network["fill_rate"])
    for tier, k in tiers.items():
        out[f"tiers.{tier}.fill_rate"] = _value(k["fill_rate"])
    for node in network.get("customer_nodes", []):
        out[f"nodes.{node}.cycle_service_level"] = _value(kpis["nodes"][node]["cycle_service_level"])
    for metric in (
        "average_on_hand",
        "average_backorders",
        "average_customer_backorders",
        "inventory_turns",
        *UNIT_RATES,
    ):
        out[f"network.{metric}"] = _value(network.get(metric))
    for echelon, stat in network.get("bullwhip", {}).items():
        out[f"network.bullwhip.{echelon}"] = _value(stat)
    for echelon, stat in network.get("order_cv", {}).items():
        out[f"network.order_cv.{echelon}"] = _value(stat)
    for tier, k in tiers.items():
        for c in COMPONENTS:
            out[f"tiers.{tier}.{c}_per_period"] = _value(k[f"{c}_per_period"])
        for metric in MONEY_IN:
            out[f"tiers.{tier}.{metric}"] = _value(k.get(metric))
    return out


def replication_kpis(
    result: Any, warmup_periods: int, customer_nodes: Sequence[str] | None = None
) -> dict[str, float | None]:
    """Flat KPIs of one replication's result (``.replication`` and ``.ledger``, the columns; or
    ``.rows``)."""
    source = [result] if hasattr(result, "ledger") else ledger_frame([result])
    kpis = compute_kpis(source, warmup_periods, customer_nodes=customer_nodes)
    return flatten_kpis(kpis)


# --------------------------------------------------------------------------------------------------
# Tables.


def comparison_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """The comparison table: one row per (KPI, case), :data:`COMPARISON_COLUMNS`."""
    frame = pd.DataFrame.from_records(list(rows), columns=list(COMPARISON_COLUMNS))
    numeric = ["mean", "ci_low", "ci_high", "diff", "diff_ci_low", "diff_ci_high", "diff_percent"]
    return frame.astype({c: "float64" for c in numeric} | {"n": "int64", "diff_n": "int64"})


def replications_frame(
    records: Iterable[Mapping[str, Any]], kpi_keys: Sequence[str], sweep_paths: Sequence[str] = ()
) -> pd.DataFrame:
    """Tidy per-replication table: case, variant, sweep coordinates, replication, seed, KPIs."""
    columns = ["case", "variant", *sweep_paths, "replication", "seed", *kpi_keys]
    table = []
    for r in records:
        point = dict(r.get("point") or ())
        row = {
            "case": r["case"],
            "variant": r["variant"],
            "replication": r["replication"],
            "seed": r["seed"],
        }
        row.update({p: point.get(p) for p in sweep_paths})
        row.update({k: r["kpis"].get(k) for k in kpi_keys})
        table.append(row)
    frame = pd.DataFrame.from_records(table, columns=columns)
    return frame.astype({k: "float64" for k in kpi_keys})


def _cell(value: Any, fmt: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return format(value, fmt)


def comparison_text(frame: pd.DataFrame, *, headline_only: bool = True) -> str:
    """A fixed-width terminal table of the comparison (one line per KPI and case)."""
    headers = ("KPI", "case", "mean ± 95% CI", "Δ vs baseline [95% CI]", "Δ %", "verdict")
    lines: list[tuple[str, ...]] = []
    previous = None
    metric = frame["kpi"].str.rsplit(".", n=1).str[-1]
    units = frame[metric.isin(UNIT_RATES)]
    silent = set(
        units.groupby("kpi")["mean"]
        .apply(lambda m: bool((m.fillna(0) == 0).all()))
        .pipe(lambda x: x[x].index)
    )
    revenue = frame.loc[frame["kpi"] == "network.revenue_per_period", "mean"]
    if bool((revenue.fillna(0) == 0).all()):  # no case earned revenue: no prices
        silent |= set(frame.loc[metric.isin(MONEY_IN), "kpi"])
    records: Iterable[Any] = frame.itertuples(index=False)  # fields by COMPARISON_COLUMNS
    for row in records:
        spec = kpi_spec(row.kpi)
        if headline_only and (not spec.headline or row.kpi in silent):
            continue
        half = None if pd.isna(row.ci_high) else (row.ci_high - row.ci_low) / 2
        mean = _cell(row.mean, spec.fmt) + (f" ± {_cell(half, spec.fmt)}" if half is not None else "")
        if pd.isna(row.diff):
            diff = pct = ""
        else:
            diff = f"{_cell(row.diff, '+' + spec.fmt)}"
            if not pd.isna(row.diff_ci_low):
                diff += f" [{_cell(row.diff_ci_low, spec.fmt)}, {_cell(row.diff_ci_high, spec.fmt)}]"
            pct = _cell(row.diff_percent, "+.1f")
        label = spec.label if row.kpi != previous else ""
        previous = row.kpi
        lines.append((label, str(row.case), mean, diff, pct, str(row.verdict)))
    widths = [max([len(h), *(len(r[i]) for r in lines)]) for i, h in enumerate(headers)]

    def render(cells: Sequence[str]) -> str:
        left = [c.ljust(w) for c, w in zip(cells[:2], widths[:2], strict=True)]
        right = [c.rjust(w) for c, w in zip(cells[2:5], widths[2:5], strict=True)]
        return "  ".join([*left, *right, cells[5]]).rstrip()

    out = [render(headers), "-" * len(render(headers))]
    for cells in lines:
        if cells[0] and len(out) > 2:
            out.append("")
        out.append(render(cells))
    return "\n".join(out)


# --------------------------------------------------------------------------------------------------
# Files (each written to a temporary name, then renamed into place).


def atomic_write(path: Path, write: Any) -> None:
    """Call ``write(tmp_path)``, then rename ``tmp_path`` to ``path`` (never a partial file)."""
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_table(frame: pd.DataFrame, folder: Path, stem: str, *, parquet: bool = True) -> None:
    """``<stem>.csv`` (and ``<stem>.parquet``) in ``folder``, atomically."""
    atomic_write(folder / f"{stem}.csv", lambda p: frame.to_csv(p, index=False))
    if parquet:
        atomic_write(folder / f"{stem}.parquet", lambda p: frame.to_parquet(p, index=False))


def write_ledger(rows: Sequence[Any], replication: int, path: Path) -> None:
    """One replication's ledger rows as Parquet (for the trajectory plots), atomically."""
    frame = ledger_frame([SimpleNamespace(replication=replication, rows=rows)])
    atomic_write(path, lambda p: frame.to_parquet(p, index=False))


def read_ledger(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path)
