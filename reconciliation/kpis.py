"""KPIs from ledger rows: cost, service, stock and bullwhip, per node, per tier and for the network.

Input is a ledger table (:func:`ledger_frame`: the columns of
:class:`~reconciliation.ledger.LedgerRow` plus ``replication``). Every KPI is computed per
replication on the measured periods (``period >= warmup_periods``), then summarised over
replications as ``{"mean": ..., "se": ...}`` (standard error = sample standard deviation / sqrt(n);
``None`` with a single replication, or where the KPI is undefined in every replication, e.g. a fill
rate without demand). Definitions (Snyder & Shen 2019, sec. 4.2 and 11.2; Axsater 2015, sec. 5.2):

* ``cost_per_period``: sum of ``total_cost`` / number of measured periods, and the same for each
  component (``holding_cost_per_period``, ``transit_holding_cost_per_period``,
  ``stockout_cost_per_period``, ``overflow_cost_per_period``, ``ordering_cost_per_period``);
* ``lost_sales_per_period``, ``lost_in_transit_per_period``, ``refused_per_period``: units per
  measured period (customer demand lost, shipments lost on the way, deliveries refused by a full
  node);
* ``fill_rate`` (unit fill rate, a ratio of sums): sum ``filled_on_time`` / sum ``demand``. For the
  network it is taken over the customer-facing nodes only; a node's ``demand`` includes the orders
  of its downstream nodes, so a tier's fill rate is the one the tier gives its customers;
* ``cycle_service_level`` (per node): fraction of periods with ``demand > 0`` in which all of that
  period's demand was filled on time;
* ``ready_rate`` (per node): fraction of periods ending with ``closing_on_hand > 0``;
* ``average_on_hand``, ``average_backorders``: mean over periods of the closing numbers (summed over
  the nodes of a tier or of the network; backorders include units owed to downstream nodes, and the
  network also reports ``average_customer_backorders`` of its customer-facing nodes);
* ``inventory_turns``: units that left (``sold + shipped``; for the network: ``sold``) over the
  measured periods / ``average_on_hand`` (undefined when no stock was held);
* ``bullwhip`` (per echelon, network level; per tier, tier level): Var(orders placed by the
  echelon's nodes, summed per period) / Var(customer demand of the network, summed per period),
  Lee, Padmanabhan & Whang (1997). 1 means no amplification (a pass-through policy gives exactly 1);
  ``None`` where no node of the echelon ever ordered (a make-to-order outside supplier).

Multi-SKU ledgers (several rows per node and period, one per SKU): node KPIs are taken on the
node's rows summed per period (so averages stay per period), tiers count their locations, and a
``skus`` section gives the network KPIs of each SKU (fill rate at its customer-facing rows).

Tier rows (:func:`tier_frame`) aggregate node rows per (replication, period, tier); their
``total_cost`` is checked to sum to the network total in every period (a
:class:`~entities.errors.ReconciliationError` otherwise).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import pandas as pd

from entities.errors import ReconciliationError
from reconciliation.audit import check_totals
from reconciliation.ledger import COST_COLUMNS, LEDGER_COLUMNS, QUANTITY_START, LedgerRow

COMPONENTS: tuple[str, ...] = tuple(c for c in COST_COLUMNS if c != "total_cost")
"""Cost components, in the order they are reported: holding, transit holding, stockout, ordering."""
QUANTITY_COLUMNS: tuple[str, ...] = LEDGER_COLUMNS[QUANTITY_START:]
"""Ledger columns that are quantities or costs (everything after period, node, tier, echelon)."""
KEY = "replication"

_ON_TIME_TOLERANCE = 1e-9


class _ResultLike(Protocol):
    """What :func:`ledger_frame` reads of a ``twin.simulation.SimulationResult``."""

    @property
    def replication(self) -> int: ...
    @property
    def rows(self) -> Sequence[LedgerRow]: ...


# --------------------------------------------------------------------------------------------------
# Tables.


def ledger_frame(results: Iterable[_ResultLike]) -> pd.DataFrame:
    """The ledger rows of all ``results`` in one table: ``replication``, then LEDGER_COLUMNS."""
    frames = []
    for result in results:
        frame = pd.DataFrame.from_records(result.rows, columns=list(LEDGER_COLUMNS))
        frame.insert(0, KEY, result.replication)
        frames.append(frame)
    if not frames:
        frame = pd.DataFrame(columns=[KEY, *LEDGER_COLUMNS])
    else:
        frame = pd.concat(frames, ignore_index=True)
    dtypes: dict[str, Any] = {KEY: "int64", "period": "int64", "echelon": "int64"}
    dtypes.update({c: "float64" for c in QUANTITY_COLUMNS})
    return frame.astype(dtypes)


def _check_columns(df: pd.DataFrame, needed: Iterable[str]) -> None:
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise ValueError(f"ledger table lacks column(s) {missing}; it has {list(df.columns)}")


def _with_replication(df: pd.DataFrame) -> pd.DataFrame:
    if KEY in df.columns:
        return df
    return df.assign(**{KEY: 0})


def tier_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Tier rows: node rows summed per (replication, period, tier), checked against the network.

    Columns: replication, period, tier, echelon (the smallest echelon of the tier's nodes), nodes
    (how many), then the quantity and cost columns summed. Raises ReconciliationError when in some
    period the tiers' ``total_cost`` does not sum to the network's (e.g. a node row without a tier).
    """
    df = _with_replication(df)
    _check_columns(df, ("period", "node", "tier", "echelon", *QUANTITY_COLUMNS))
    grouped = df.groupby([KEY, "period", "tier"], sort=True)
    tiers = grouped[list(QUANTITY_COLUMNS)].sum()
    tiers.insert(0, "nodes", grouped["node"].nunique())  # locations (a node has rows per SKU)
    tiers.insert(0, "echelon", grouped["echelon"].min())
    tiers = tiers.reset_index()

    network = df.groupby([KEY, "period"], sort=True)["total_cost"].sum()
    by_period = tiers.pivot(index=[KEY, "period"], columns="tier", values="total_cost")
    by_period = by_period.reindex(network.index)
    names = [str(t) for t in by_period.columns]
    for (replication, period), parts, total in zip(
        network.index, by_period.to_numpy(), network.to_numpy(), strict=True
    ):
        present = [(name, float(v)) for name, v in zip(names, parts, strict=True) if v == v]
        try:
            check_totals(int(period), present, float(total))
        except ReconciliationError as exc:
            raise ReconciliationError(f"replication {replication}: {exc}") from None
    return tiers


# --------------------------------------------------------------------------------------------------
# Summaries over replications.


def _number(x: Any) -> float | None:
    """A JSON-able float: None for NaN and infinities."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def mean_se(values: Iterable[float]) -> dict[str, float | None]:
    """``{"mean", "se"}`` of the finite ``values`` (one per replication); se = s / sqrt(n)."""
    x = np.asarray(list(values), dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return {"mean": None, "se": None}
    se = float(x.std(ddof=1) / math.sqrt(x.size)) if x.size > 1 else None
    return {"mean": float(x.mean()), "se": se}


def _summaries(per_rep: pd.DataFrame) -> dict[Any, dict[str, Any]]:
    """Per key (the index level after ``replication``), ``{metric: mean_se over replications}``."""
    out: dict[Any, dict[str, Any]] = {}
    keys = per_rep.index.get_level_values(1).unique()
    for key in keys:
        block = per_rep.xs(key, level=1)
        out[key] = {metric: mean_se(block[metric].to_numpy()) for metric in per_rep.columns}
    return out


def _ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    """numerator / denominator, NaN where the denominator is 0 (an undefined KPI)."""
    return numerator / denominator.where(denominator != 0)


def _variance_ratio(orders: pd.DataFrame, demand: pd.Series) -> pd.DataFrame:
    """Var(orders[col]) / Var(demand) per replication; ``orders`` and ``demand`` are indexed by
    (replication, period)."""
    var_orders = orders.groupby(level=KEY).var(ddof=1)
    var_demand = demand.groupby(level=KEY).var(ddof=1)
    return var_orders.div(var_demand.where(var_demand > 0), axis=0)


def _flow_metrics(sums: pd.DataFrame, periods: pd.Series) -> pd.DataFrame:
    """Cost, fill rate, average stock and turns from per-(replication, key) sums over periods."""
    out = pd.DataFrame(index=sums.index)
    out["cost_per_period"] = sums["total_cost"] / periods
    for c in COMPONENTS:
        out[f"{c}_per_period"] = sums[c] / periods
    out["fill_rate"] = _ratio(sums["filled_on_time"], sums["demand"])
    out["average_on_hand"] = sums["closing_on_hand"] / periods
    out["average_backorders"] = sums["backorders"] / periods
    out["inventory_turns"] = _ratio(sums["sold"] + sums["shipped"], out["average_on_hand"])
    for quantity in ("lost_sales", "lost_in_transit", "refused"):
        out[f"{quantity}_per_period"] = sums[quantity] / periods
    return out


# --------------------------------------------------------------------------------------------------
# KPIs.


def compute_kpis(
    df: pd.DataFrame, warmup_periods: int, *, customer_nodes: Sequence[str] | None = None
) -> dict[str, Any]:
    """KPIs of a ledger table (see the module docstring), as a JSON-able nested dict.

    ``customer_nodes`` are the nodes whose ``demand`` is customer demand (those with ``demand`` in
    the scenario); by default the nodes of echelon 1. Layout::

        {"replications": n, "warmup_periods": w, "measured_periods": p,
         "network": {"cost_per_period": {"mean", "se"}, "<component>_per_period": ...,
                     "fill_rate", "average_on_hand", "average_backorders",
                     "average_customer_backorders", "inventory_turns",
                     "bullwhip": {"<echelon>": {"mean", "se"}}, "customer_nodes": [...]},
         "tiers": {tier: {"echelon", "nodes", "cost_per_period", ..., "bullwhip"}},
         "nodes": {node: {"tier", "echelon", "cost_per_period", ..., "fill_rate",
                          "cycle_service_level", "ready_rate", ...}}}
    """
    if (
        isinstance(warmup_periods, bool)
        or not isinstance(warmup_periods, int | np.integer)
        or warmup_periods < 0
    ):
        raise ValueError(f"warmup_periods must be an integer >= 0, got {warmup_periods!r}")
    df = _with_replication(df)
    _check_columns(df, LEDGER_COLUMNS)
    if df.empty:
        raise ValueError("ledger table has no rows")
    tiers_all = tier_frame(df)  # also checks tier sums == network total, every period

    m = df[df["period"] >= warmup_periods]
    if m.empty:
        raise ValueError(
            f"no ledger rows at or after the warm-up: warmup_periods={warmup_periods}"
            f", last period {int(df['period'].max())}"
        )
    t = tiers_all[tiers_all["period"] >= warmup_periods]
    periods = m.groupby(KEY)["period"].nunique()
    node_order = list(dict.fromkeys(df["node"]))
    info = df.drop_duplicates("node").set_index("node")
    if customer_nodes is None:
        customer_nodes = [n for n in node_order if int(info.loc[n, "echelon"]) == 1]
    customer_nodes = list(customer_nodes)
    unknown = [n for n in customer_nodes if n not in info.index]
    if unknown:
        raise ValueError(f"customer node(s) {unknown} have no ledger rows; nodes: {node_order}")
    ordering_nodes = set(df.loc[df["ordered"] > 0, "node"])
    flows = [
        "total_cost",
        *COMPONENTS,
        "filled_on_time",
        "demand",
        "closing_on_hand",
        "backorders",
        "sold",
        "shipped",
        "lost_sales",
        "lost_in_transit",
        "refused",
    ]

    # Per period, network-wide series (indexed by replication, period).
    per_period = m.groupby([KEY, "period"])
    customer_rows = m[m["node"].isin(customer_nodes)]
    customer_demand = (
        customer_rows.groupby([KEY, "period"])["demand"]
        .sum()
        .reindex(per_period.size().index, fill_value=0.0)
    )

    # Nodes.
    multi_sku = m["sku"].nunique() > 1
    # A node with several SKUs has one row per SKU and period: per-node KPIs are per period, on
    # the node's rows summed per period (one row per period and node in a single-SKU ledger).
    mn = m.groupby([KEY, "node", "period"], sort=False)[flows].sum().reset_index() if multi_sku else m
    node_sums = mn.groupby([KEY, "node"])[flows].sum()
    node_periods = mn.groupby([KEY, "node"]).size()
    nodes = _flow_metrics(node_sums, node_periods)
    with_demand = mn[mn["demand"] > 0]
    on_time = with_demand["filled_on_time"] >= with_demand["demand"] * (1 - _ON_TIME_TOLERANCE)
    nodes["cycle_service_level"] = (
        on_time.groupby([with_demand[KEY], with_demand["node"]]).mean().reindex(nodes.index)
    )
    nodes["ready_rate"] = (
        (mn["closing_on_hand"] > _ON_TIME_TOLERANCE)
        .groupby([mn[KEY], mn["node"]])
        .mean()
        .reindex(nodes.index)
    )
    node_kpis = _summaries(nodes)

    # Tiers.
    tier_sums = t.groupby([KEY, "tier"])[flows].sum()
    tier_periods = t.groupby([KEY, "tier"]).size()
    tiers = _flow_metrics(tier_sums, tier_periods)
    tier_orders = t.pivot(index=[KEY, "period"], columns="tier", values="ordered")
    bullwhip = _variance_ratio(tier_orders, customer_demand.reindex(tier_orders.index))
    tiers["bullwhip"] = bullwhip.stack().reindex(tiers.index)
    tier_kpis = _summaries(tiers)

    # Network.
    sums = m.groupby(KEY)[flows].sum()
    network_rep = _flow_metrics(sums, periods)
    network_rep["fill_rate"] = _ratio(
        customer_rows.groupby(KEY)["filled_on_time"].sum(), customer_rows.groupby(KEY)["demand"].sum()
    ).reindex(network_rep.index)
    network_rep["average_customer_backorders"] = (
        customer_rows.groupby(KEY)["backorders"].sum().reindex(network_rep.index, fill_value=0.0)
        / periods
    )
    network_rep["inventory_turns"] = _ratio(sums["sold"], network_rep["average_on_hand"])
    network: dict[str, Any] = {
        metric: mean_se(network_rep[metric].to_numpy()) for metric in network_rep.columns
    }
    echelon_orders = m.pivot_table(
        index=[KEY, "period"], columns="echelon", values="ordered", aggfunc="sum"
    )
    echelon_bullwhip = _variance_ratio(echelon_orders, customer_demand.reindex(echelon_orders.index))
    network["bullwhip"] = {}
    for echelon in sorted(echelon_orders.columns):
        members = set(info.index[info["echelon"] == echelon])
        network["bullwhip"][str(int(echelon))] = (
            mean_se(echelon_bullwhip[echelon].to_numpy())
            if members & ordering_nodes
            else {"mean": None, "se": None}
        )
    network["customer_nodes"] = customer_nodes

    # Assemble, customer-facing tiers first.
    tier_info = tiers_all.groupby("tier").agg(echelon=("echelon", "min"))
    tier_nodes = {
        tier: [n for n in node_order if info.loc[n, "tier"] == tier] for tier in tier_info.index
    }
    tier_out: dict[str, Any] = {}
    for tier in sorted(tier_info.index, key=lambda x: (int(tier_info.loc[x, "echelon"]), str(x))):
        entry: dict[str, Any] = {
            "echelon": int(tier_info.loc[tier, "echelon"]),
            "nodes": tier_nodes[tier],
        }
        entry.update(tier_kpis[tier])
        if not set(tier_nodes[tier]) & ordering_nodes:
            entry["bullwhip"] = {"mean": None, "se": None}
        tier_out[str(tier)] = entry
    node_out: dict[str, Any] = {}
    for node in node_order:
        entry = {"tier": str(info.loc[node, "tier"]), "echelon": int(info.loc[node, "echelon"])}
        entry.update(node_kpis[node])
        node_out[str(node)] = entry
    out_skus: dict[str, Any] = {}
    if multi_sku:  # per SKU: network totals of the SKU, fill rate at its customer-facing rows
        sku_sums = m.groupby([KEY, "sku"])[flows].sum()
        sku_kpis = _flow_metrics(sku_sums, periods.reindex(sku_sums.index, level=KEY))
        sku_kpis["fill_rate"] = _ratio(
            customer_rows.groupby([KEY, "sku"])["filled_on_time"].sum(),
            customer_rows.groupby([KEY, "sku"])["demand"].sum(),
        ).reindex(sku_kpis.index)
        sku_kpis["inventory_turns"] = _ratio(sku_sums["sold"], sku_kpis["average_on_hand"])
        out_skus = {str(k): v for k, v in _summaries(sku_kpis).items()}
    result = {
        "replications": int(df[KEY].nunique()),
        "warmup_periods": int(warmup_periods),
        "measured_periods": int(periods.max()),
        "network": network,
        "tiers": tier_out,
        "nodes": node_out,
    }
    if out_skus:
        result["skus"] = out_skus
    return result


# --------------------------------------------------------------------------------------------------
# Terminal table.


def _fmt(stat: Mapping[str, Any] | None, spec: str, *, with_se: bool = False) -> str:
    if not stat or stat.get("mean") is None:
        return "-"
    text = format(stat["mean"], spec)
    if with_se:
        se = stat.get("se")
        text += " ± " + (format(se, spec) if se is not None else "n/a")
    return text


def kpi_table(kpis: Mapping[str, Any]) -> str:
    """A fixed-width table, one line per tier (customer-facing first) and one for the network.

    Costs are per period (mean over replications; ``±`` one standard error); bullwhip of the
    network line is that of the customer-facing echelon.
    """
    network = kpis.get("network", {})
    overflow = ((network.get("overflow_cost_per_period") or {}).get("mean") or 0.0) > 0.0
    headers = (
        "tier",
        "cost/period ± se",
        "holding",
        "transit",
        "stockout",
        *(("overflow",) if overflow else ()),
        "ordering",
        "fill rate",
        "avg on-hand",
        "avg backorders",
        "bullwhip",
    )
    lines: list[tuple[str, ...]] = []

    def row(name: str, k: Mapping[str, Any], bullwhip: Mapping[str, Any] | None) -> None:
        lines.append(
            (
                name,
                _fmt(k.get("cost_per_period"), ",.2f", with_se=True),
                _fmt(k.get("holding_cost_per_period"), ",.2f"),
                _fmt(k.get("transit_holding_cost_per_period"), ",.2f"),
                _fmt(k.get("stockout_cost_per_period"), ",.2f"),
                *((_fmt(k.get("overflow_cost_per_period"), ",.2f"),) if overflow else ()),
                _fmt(k.get("ordering_cost_per_period"), ",.2f"),
                _fmt(k.get("fill_rate"), ".4f"),
                _fmt(k.get("average_on_hand"), ",.1f"),
                _fmt(k.get("average_backorders"), ",.1f"),
                _fmt(bullwhip, ".3f"),
            )
        )

    for tier, k in kpis.get("tiers", {}).items():
        row(str(tier), k, k.get("bullwhip"))
    row("network", network, network.get("bullwhip", {}).get("1"))
    widths = [max(len(h), *(len(r[i]) for r in lines)) for i, h in enumerate(headers)]

    def render(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest])

    rule = "-" * len(render(headers))
    out = [render(headers), rule, *(render(r) for r in lines[:-1]), rule, render(lines[-1])]
    return "\n".join(out)
