"""KPIs from the ledger's columns: cost, revenue and profit, service, stock and bullwhip, per node,
per tier and for the network.

Input is one columnar ledger per replication (results of the twin, or their
:class:`~reconciliation.ledger.Ledger`), or a ledger table (a pandas frame with the columns of
:class:`~reconciliation.ledger.LedgerRow` plus ``replication``, one row per replication, period,
node and SKU). Every KPI is computed per replication on the measured periods (``period >=
warmup_periods``), then summarised over replications as ``{"mean": ..., "se": ...}`` (standard
error = sample standard deviation / sqrt(n); ``None`` with a single replication, or where the KPI
is undefined in every replication, e.g. a fill rate without demand). Definitions (Snyder & Shen
2019, sec. 4.2 and 11.2; Axsater 2015, sec. 5.2):

* ``cost_per_period``: sum of ``total_cost`` / number of measured periods, and the same for each
  component (``holding_cost_per_period``, ``transit_holding_cost_per_period``,
  ``stockout_cost_per_period``, ``overflow_cost_per_period``, ``ordering_cost_per_period``);
* ``revenue_per_period`` (units sold to customers times the selling node's price) and
  ``profit_per_period`` (``revenue - total_cost``), per measured period; both 0 and ``-cost``
  where no node has a price;
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
  ``None`` where no node of the echelon ever ordered (a make-to-order outside supplier);
* ``order_cv`` (per echelon and per tier, next to ``bullwhip``): the coefficient of variation of
  the echelon's orders, sample standard deviation / mean of the units it ordered per period, the
  bullwhip measure Liu, Hu, Peng & Yang report per echelon ("Multi-agent deep reinforcement
  learning for multi-echelon inventory management", SSRN 4262186). Unlike ``bullwhip`` it needs
  no customer demand to compare with (0 for constant orders; ``None`` where the echelon never
  ordered).

Multi-SKU ledgers (several rows per node and period, one per SKU): node KPIs are taken on the
node's rows summed per period (so averages stay per period), tiers count their locations, and a
``skus`` section gives the network KPIs of each SKU (fill rate at its customer-facing rows).

Tier totals are checked to sum to the network total in every period (identity 6; a
:class:`~entities.errors.ReconciliationError` otherwise). The computation runs in NumPy over blocks
of periods, so a large ledger is summarised in bounded memory and pandas is never imported (the
table helpers :func:`~reconciliation.tables.ledger_frame` and
:func:`~reconciliation.tables.tier_frame` are re-exported here for analysis at the edge).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from entities.errors import ReconciliationError
from reconciliation.audit import TOLERANCE, check_totals
from reconciliation.ledger import COST_COLUMNS, LEDGER_COLUMNS, QUANTITY_COLUMNS, Ledger
from reconciliation.tables import KEY, ledger_frame, tier_frame

__all__ = [
    "COMPONENTS",
    "KEY",
    "QUANTITY_COLUMNS",
    "compute_kpis",
    "kpi_table",
    "ledger_frame",
    "mean_se",
    "tier_frame",
]

COMPONENTS: tuple[str, ...] = tuple(c for c in COST_COLUMNS if c != "total_cost")
"""Cost components, in the order they are reported: holding, transit holding, stockout, overflow,
ordering."""

_ON_TIME_TOLERANCE = 1e-9
FLOWS: tuple[str, ...] = (
    "total_cost",
    *COMPONENTS,
    "revenue",
    "profit",
    "filled_on_time",
    "demand",
    "closing_on_hand",
    "backorders",
    "sold",
    "shipped",
    "lost_sales",
    "lost_in_transit",
    "refused",
)
"""The ledger columns the KPIs sum over periods."""
_NEEDED = (*FLOWS, "ordered")


# --------------------------------------------------------------------------------------------------
# One replication's ledger as a grid (periods x stock points).


class _Grid:
    """What the KPIs read of one replication: stock points, periods and columns by blocks."""

    replication: int
    periods: np.ndarray
    nodes: Sequence[str]
    skus: Sequence[str]
    tiers: Sequence[Any]
    echelons: np.ndarray

    def columns(self, names: Sequence[str], start: int, stop: int) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def blocks(self) -> Iterator[tuple[int, int]]:
        step = max(1, (1 << 14) // max(1, len(self.nodes)))
        for a in range(0, len(self.periods), step):
            yield a, min(a + step, len(self.periods))


class _LedgerGrid(_Grid):
    def __init__(self, ledger: Ledger, replication: int) -> None:
        layout = ledger.layout
        self.ledger = ledger
        self.replication = replication
        self.periods = np.arange(ledger.periods)
        self.nodes, self.skus, self.tiers = layout.nodes, layout.skus, layout.tiers
        self.echelons = np.asarray(layout.echelons, dtype=np.int64)

    def columns(self, names: Sequence[str], start: int, stop: int) -> dict[str, np.ndarray]:
        return self.ledger.columns(names, start, stop)


class _TableGrid(_Grid):
    """One replication's rows of a ledger table, laid out as a grid."""

    def __init__(self, table: Mapping[str, np.ndarray], replication: int) -> None:
        self.replication = replication
        nodes, skus = table["node"].tolist(), table["sku"].tolist()
        points: dict[tuple[Any, Any], int] = {}
        for key in zip(nodes, skus, strict=True):
            points.setdefault(key, len(points))
        column = np.fromiter((points[k] for k in zip(nodes, skus, strict=True)), np.intp, len(nodes))
        self.periods, row = np.unique(table["period"], return_inverse=True)
        shape = (len(self.periods), len(points))
        if len(nodes) != shape[0] * shape[1] or np.unique(row * shape[1] + column).size != len(nodes):
            raise ValueError(
                f"ledger table of replication {replication} is not one row per period, node and "
                f"SKU ({len(nodes)} rows for {shape[0]} periods x {shape[1]} stock points)"
            )
        first = np.full(shape[1], len(nodes))
        np.minimum.at(first, column, np.arange(len(nodes)))
        self.nodes = [nodes[i] for i in first]
        self.skus = [skus[i] for i in first]
        self.tiers = [table["tier"][i] for i in first]
        self.echelons = np.asarray(table["echelon"])[first].astype(np.int64)
        self._index = (row, column)
        self._table = table
        self._shape = shape

    def columns(self, names: Sequence[str], start: int, stop: int) -> dict[str, np.ndarray]:
        out = {}
        for name in names:
            grid = np.zeros(self._shape)
            grid[self._index] = np.asarray(self._table[name], dtype=np.float64)
            out[name] = grid[start:stop]
        return out


def _grids(source: Any) -> list[_Grid]:
    if hasattr(source, "columns") and hasattr(source, "iloc"):  # a ledger table (pandas)
        return _table_grids(source)
    grids: list[_Grid] = []
    for item in source:
        if isinstance(item, Ledger):
            grids.append(_LedgerGrid(item, len(grids)))
        else:
            grids.append(_LedgerGrid(item.ledger, int(item.replication)))
    return grids


def _table_grids(df: Any) -> list[_Grid]:
    missing = [c for c in LEDGER_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"ledger table lacks column(s) {missing}; it has {list(df.columns)}")
    table = {name: df[name].to_numpy() for name in LEDGER_COLUMNS}
    reps = df[KEY].to_numpy() if KEY in df.columns else np.zeros(len(df), dtype=np.int64)
    grids: list[_Grid] = []
    for r in dict.fromkeys(reps.tolist()):
        mask = reps == r
        grids.append(_TableGrid({k: v[mask] for k, v in table.items()}, int(r)))
    return grids


# --------------------------------------------------------------------------------------------------
# Summaries over replications.


def mean_se(values: Iterable[float]) -> dict[str, float | None]:
    """``{"mean", "se"}`` of the finite ``values`` (one per replication); se = s / sqrt(n)."""
    x = np.asarray(list(values), dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return {"mean": None, "se": None}
    se = float(x.std(ddof=1) / math.sqrt(x.size)) if x.size > 1 else None
    return {"mean": float(x.mean()), "se": se}


def _ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, NaN where the denominator is 0 (an undefined KPI)."""
    return numerator / denominator if denominator != 0 else math.nan


def _variance(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(x.var(ddof=1)) if x.size > 1 else math.nan


def _variance_ratio(orders: np.ndarray, demand: np.ndarray) -> float:
    """Var(orders) / Var(demand) (sample variances; NaN where demand does not vary)."""
    var_demand = _variance(demand)
    return _variance(orders) / var_demand if var_demand > 0 else math.nan


def _coefficient_of_variation(x: np.ndarray) -> float:
    """Sample standard deviation / mean (NaN with fewer than 2 values or a mean of 0)."""
    x = x[np.isfinite(x)]
    if x.size < 2:
        return math.nan
    mean = float(x.mean())
    return float(x.std(ddof=1)) / mean if mean > 0 else math.nan


def _flow_metrics(sums: Mapping[str, float], periods: int) -> dict[str, float]:
    """Cost, revenue, profit, fill rate, average stock and turns from sums over ``periods``
    periods."""
    out = {"cost_per_period": sums["total_cost"] / periods}
    for c in COMPONENTS:
        out[f"{c}_per_period"] = sums[c] / periods
    out["revenue_per_period"] = sums["revenue"] / periods
    out["profit_per_period"] = sums["profit"] / periods
    out["fill_rate"] = _ratio(sums["filled_on_time"], sums["demand"])
    out["average_on_hand"] = sums["closing_on_hand"] / periods
    out["average_backorders"] = sums["backorders"] / periods
    out["inventory_turns"] = _ratio(sums["sold"] + sums["shipped"], out["average_on_hand"])
    for quantity in ("lost_sales", "lost_in_transit", "refused"):
        out[f"{quantity}_per_period"] = sums[quantity] / periods
    return out


def _summarise(per_rep: Sequence[Mapping[str, float]]) -> dict[str, dict[str, float | None]]:
    """``{metric: mean_se over replications}``, metrics in the order of the first replication."""
    metrics = list(per_rep[0]) if per_rep else []
    return {m: mean_se([rep[m] for rep in per_rep if m in rep]) for m in metrics}


# --------------------------------------------------------------------------------------------------
# One replication.


def _onehot(index: np.ndarray, groups: int) -> np.ndarray:
    """(n, groups): 1 where stock point i belongs to group index[i] (no group: index -1)."""
    out = np.zeros((index.size, groups))
    member = index >= 0
    out[np.flatnonzero(member), index[member]] = 1.0
    return out


@dataclass
class _Replication:
    """The per-replication sums the KPIs are made of."""

    replication: int
    periods: int
    node_sums: dict[str, np.ndarray]
    node_on_time: np.ndarray
    node_with_demand: np.ndarray
    node_ready: np.ndarray
    tier_sums: dict[str, np.ndarray]
    tier_orders: np.ndarray
    echelon_orders: np.ndarray
    network_sums: dict[str, float]
    customer_sums: dict[str, float]
    customer_demand: np.ndarray
    sku_sums: dict[str, np.ndarray] = field(default_factory=dict)
    sku_customer_sums: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class _Shape:
    """How stock points group into nodes (locations), tiers, echelons and SKUs."""

    node_order: list[str]
    tier_names: list[str]
    echelon_values: list[int]
    sku_names: list[str]
    customers: set[str]
    multi_sku: bool


def _replication(grid: _Grid, warmup: int, shape: _Shape, ordering: set[str]) -> _Replication | None:
    nodes = list(grid.nodes)
    loc = np.asarray([shape.node_order.index(n) for n in nodes], dtype=np.intp)
    tier_of = {t: i for i, t in enumerate(shape.tier_names)}
    tier = np.asarray([tier_of.get(t, -1) if isinstance(t, str) else -1 for t in grid.tiers])
    echelon = np.asarray([shape.echelon_values.index(int(e)) for e in grid.echelons], dtype=np.intp)
    sku = np.asarray([shape.sku_names.index(s) for s in grid.skus], dtype=np.intp)
    customer = np.asarray([n in shape.customers for n in nodes], dtype=float)
    n_loc, n_tier = len(shape.node_order), len(shape.tier_names)
    to_loc = (
        None
        if not shape.multi_sku and np.array_equal(loc, np.arange(len(nodes)))
        else (_onehot(loc, n_loc))
    )
    to_tier, to_ech = _onehot(tier, n_tier), _onehot(echelon, len(shape.echelon_values))
    to_sku = _onehot(sku, len(shape.sku_names))

    def by_loc(x: np.ndarray) -> np.ndarray:
        return x if to_loc is None else x @ to_loc

    measured = int(np.searchsorted(grid.periods, warmup))
    p = len(grid.periods) - measured
    node_sums = {f: np.zeros(n_loc) for f in FLOWS}
    tier_sums = {f: np.zeros(n_tier) for f in FLOWS}
    network_sums = dict.fromkeys(FLOWS, 0.0)
    customer_sums = dict.fromkeys(("filled_on_time", "demand", "backorders"), 0.0)
    sku_sums = {f: np.zeros(len(shape.sku_names)) for f in FLOWS}
    sku_customer = {f: np.zeros(len(shape.sku_names)) for f in ("filled_on_time", "demand")}
    on_time, with_demand, ready = np.zeros(n_loc), np.zeros(n_loc), np.zeros(n_loc)
    tier_orders, echelon_orders, customer_demand = [], [], []
    for a, b in grid.blocks():
        cols = grid.columns(_NEEDED, a, b)
        # Identity 6 on every period (warm-up included): the tiers sum to the network.
        _check_tiers(grid, a, cols["total_cost"], to_tier, shape.tier_names)
        ordered_any = (cols["ordered"] > 0).any(axis=0)
        ordering.update(nodes[i] for i in np.flatnonzero(ordered_any))
        start = max(a, measured) - a
        if start >= b - a:
            continue
        m = {name: v[start:] for name, v in cols.items()}
        per_loc = {}
        for f in FLOWS:
            x = m[f]
            per_loc[f] = by_loc(x)
            node_sums[f] += per_loc[f].sum(axis=0)
            tier_sums[f] += (x @ to_tier).sum(axis=0)
            network_sums[f] += float(x.sum())
            sku_sums[f] += (x @ to_sku).sum(axis=0)
        for f in customer_sums:
            customer_sums[f] += float((m[f] * customer).sum())
        for f in sku_customer:
            sku_customer[f] += ((m[f] * customer) @ to_sku).sum(axis=0)
        demand, filled = per_loc["demand"], per_loc["filled_on_time"]
        has_demand = demand > 0
        with_demand += has_demand.sum(axis=0)
        on_time += (has_demand & (filled >= demand * (1 - _ON_TIME_TOLERANCE))).sum(axis=0)
        ready += (per_loc["closing_on_hand"] > _ON_TIME_TOLERANCE).sum(axis=0)
        tier_orders.append(m["ordered"] @ to_tier)
        echelon_orders.append(m["ordered"] @ to_ech)
        customer_demand.append(m["demand"] @ customer)
    if p <= 0:
        return None
    return _Replication(
        grid.replication,
        p,
        node_sums,
        on_time,
        with_demand,
        ready,
        tier_sums,
        np.concatenate(tier_orders),
        np.concatenate(echelon_orders),
        network_sums,
        customer_sums,
        np.concatenate(customer_demand),
        sku_sums,
        sku_customer,
    )


def _check_tiers(
    grid: _Grid, start: int, total: np.ndarray, to_tier: np.ndarray, names: Sequence[str]
) -> None:
    """Identity 6 on a block of periods: the tiers' total cost sums to the network's."""
    tiers, network = total @ to_tier, total.sum(axis=1)
    parts = tiers.sum(axis=1)
    bad = np.abs(parts - network) > TOLERANCE * np.maximum(
        1.0, np.maximum(np.abs(parts), np.abs(network))
    )
    if not bad.any():
        return
    k = int(np.argmax(bad))
    occupied = np.atleast_1d(to_tier.sum(axis=0) > 0).tolist()
    present = [(name, float(v)) for name, v, has in zip(names, tiers[k], occupied, strict=True) if has]
    try:
        check_totals(int(grid.periods[start + k]), present, float(network[k]))
    except ReconciliationError as exc:
        raise ReconciliationError(f"replication {grid.replication}: {exc}") from None


# --------------------------------------------------------------------------------------------------
# KPIs.


def compute_kpis(
    ledger: Any, warmup_periods: int, *, customer_nodes: Sequence[str] | None = None
) -> dict[str, Any]:
    """KPIs of a ledger (see the module docstring), as a JSON-able nested dict.

    ``ledger``: the twin's results of each replication (or their ledgers), or a ledger table.
    ``customer_nodes`` are the nodes whose ``demand`` is customer demand (those with ``demand`` in
    the scenario); by default the nodes of echelon 1. Layout::

        {"replications": n, "warmup_periods": w, "measured_periods": p,
         "network": {"cost_per_period": {"mean", "se"}, "<component>_per_period": ...,
                     "revenue_per_period", "profit_per_period",
                     "fill_rate", "average_on_hand", "average_backorders",
                     "average_customer_backorders", "inventory_turns",
                     "bullwhip": {"<echelon>": {"mean", "se"}}, "order_cv": {"<echelon>": ...},
                     "customer_nodes": [...]},
         "tiers": {tier: {"echelon", "nodes", "cost_per_period", ..., "bullwhip", "order_cv"}},
         "nodes": {node: {"tier", "echelon", "cost_per_period", ..., "fill_rate",
                          "cycle_service_level", "ready_rate", ...}}}
    """
    _check_warmup(warmup_periods)
    grids = _measured_grids(ledger, warmup_periods)
    info = _node_info(grids)
    node_order = list(info)
    if customer_nodes is None:
        customer_nodes = [n for n in node_order if info[n][1] == 1]
    customer_nodes = list(customer_nodes)
    unknown = [n for n in customer_nodes if n not in info]
    if unknown:
        raise ValueError(f"customer node(s) {unknown} have no ledger rows; nodes: {node_order}")
    tier_echelon = _tier_echelons(grids)
    skus = sorted({s for g in grids for s in g.skus})
    shape = _Shape(
        node_order,
        sorted(tier_echelon),
        sorted({int(e) for g in grids for e in g.echelons}),
        skus,
        set(customer_nodes),
        len(skus) > 1,
    )
    ordering: set[str] = set()
    reps = [r for g in grids if (r := _replication(g, int(warmup_periods), shape, ordering)) is not None]
    network = _network_kpis(reps, shape, info, ordering)
    network["customer_nodes"] = customer_nodes
    result: dict[str, Any] = {
        "replications": len({g.replication for g in grids}),
        "warmup_periods": int(warmup_periods),
        "measured_periods": max(r.periods for r in reps),
        "network": network,
        "tiers": _tier_kpis(reps, shape, info, tier_echelon, ordering),
        "nodes": _node_kpis(reps, info),
    }
    if shape.multi_sku:
        result["skus"] = _sku_kpis(reps, skus)
    return result


def _check_warmup(warmup_periods: Any) -> None:
    if (
        isinstance(warmup_periods, bool)
        or not isinstance(warmup_periods, int | np.integer)
        or warmup_periods < 0
    ):
        raise ValueError(f"warmup_periods must be an integer >= 0, got {warmup_periods!r}")


def _measured_grids(ledger: Any, warmup_periods: int) -> list[_Grid]:
    """The replications of ``ledger`` with rows; a ValueError if none reaches the warm-up."""
    grids = [g for g in _grids(ledger) if len(g.periods) and len(g.nodes)]
    if not grids:
        raise ValueError("ledger table has no rows")
    last = max(int(g.periods[-1]) for g in grids)
    if last < warmup_periods:
        raise ValueError(
            f"no ledger rows at or after the warm-up: warmup_periods={warmup_periods}"
            f", last period {last}"
        )
    return grids


def _node_info(grids: Sequence[_Grid]) -> dict[str, tuple[str, int]]:
    """Nodes (locations) in ledger order, with the tier and echelon of their first row."""
    info: dict[str, tuple[str, int]] = {}
    for g in grids:
        for node, tier, echelon in zip(g.nodes, g.tiers, g.echelons, strict=True):
            info.setdefault(node, (tier, int(echelon)))
    return info


def _tier_echelons(grids: Sequence[_Grid]) -> dict[str, int]:
    """Each named tier's echelon: the lowest of its rows."""
    tier_echelon: dict[str, int] = {}
    for g in grids:
        for tier, echelon in zip(g.tiers, g.echelons, strict=True):
            if isinstance(tier, str):
                tier_echelon[tier] = min(int(echelon), tier_echelon.get(tier, int(echelon)))
    return tier_echelon


def _node_kpis(reps: Sequence[_Replication], info: Mapping[str, tuple[str, int]]) -> dict[str, Any]:
    """Per node: flows, cycle service level and ready rate."""
    node_order = list(info)
    node_rep: dict[str, list[dict[str, float]]] = {n: [] for n in node_order}
    for r in reps:
        for i, node in enumerate(node_order):
            metrics = _flow_metrics({f: float(r.node_sums[f][i]) for f in FLOWS}, r.periods)
            metrics["cycle_service_level"] = _ratio(r.node_on_time[i], r.node_with_demand[i])
            metrics["ready_rate"] = r.node_ready[i] / r.periods
            node_rep[node].append(metrics)
    node_out: dict[str, Any] = {}
    for node in node_order:
        entry: dict[str, Any] = {"tier": str(info[node][0]), "echelon": info[node][1]}
        entry.update(_summarise(node_rep[node]))
        node_out[str(node)] = entry
    return node_out


def _tier_kpis(
    reps: Sequence[_Replication],
    shape: _Shape,
    info: Mapping[str, tuple[str, int]],
    tier_echelon: Mapping[str, int],
    ordering: set[str],
) -> dict[str, Any]:
    """Per tier, customer-facing first: flows, bullwhip and order CV (None where no node of the
    tier ever ordered)."""
    tier_out: dict[str, Any] = {}
    for k, tier in sorted(enumerate(shape.tier_names), key=lambda x: (tier_echelon[x[1]], x[1])):
        per_rep = []
        for r in reps:
            metrics = _flow_metrics({f: float(r.tier_sums[f][k]) for f in FLOWS}, r.periods)
            metrics["bullwhip"] = _variance_ratio(r.tier_orders[:, k], r.customer_demand)
            metrics["order_cv"] = _coefficient_of_variation(r.tier_orders[:, k])
            per_rep.append(metrics)
        members = [n for n in shape.node_order if info[n][0] == tier]
        entry = {"echelon": tier_echelon[tier], "nodes": members}
        entry.update(_summarise(per_rep))
        if not set(members) & ordering:
            entry["bullwhip"] = {"mean": None, "se": None}
            entry["order_cv"] = {"mean": None, "se": None}
        tier_out[str(tier)] = entry
    return tier_out


def _network_kpis(
    reps: Sequence[_Replication],
    shape: _Shape,
    info: Mapping[str, tuple[str, int]],
    ordering: set[str],
) -> dict[str, Any]:
    """The network: flows, fill rate and backorders of the customer-facing nodes, turns, and
    bullwhip and order CV per echelon (None where no node of the echelon ever ordered)."""
    network_rep = []
    for r in reps:
        metrics = _flow_metrics(r.network_sums, r.periods)
        c = r.customer_sums
        metrics["fill_rate"] = _ratio(c["filled_on_time"], c["demand"])
        metrics["average_customer_backorders"] = c["backorders"] / r.periods
        metrics["inventory_turns"] = _ratio(r.network_sums["sold"], metrics["average_on_hand"])
        network_rep.append(metrics)
    network: dict[str, Any] = _summarise(network_rep)
    network["bullwhip"], network["order_cv"] = {}, {}
    for k, echelon in enumerate(shape.echelon_values):
        in_echelon = {n for n in shape.node_order if info[n][1] == echelon}
        orders = in_echelon & ordering
        network["bullwhip"][str(echelon)] = (
            mean_se([_variance_ratio(r.echelon_orders[:, k], r.customer_demand) for r in reps])
            if orders
            else {"mean": None, "se": None}
        )
        network["order_cv"][str(echelon)] = (
            mean_se([_coefficient_of_variation(r.echelon_orders[:, k]) for r in reps])
            if orders
            else {"mean": None, "se": None}
        )
    return network


def _sku_kpis(reps: Sequence[_Replication], skus: Sequence[str]) -> dict[str, Any]:
    """Per SKU: network totals of the SKU, fill rate at its customer-facing rows."""
    out_skus = {}
    for k, sku in enumerate(skus):
        per_rep = []
        for r in reps:
            sums = {f: float(r.sku_sums[f][k]) for f in FLOWS}
            metrics = _flow_metrics(sums, r.periods)
            metrics["fill_rate"] = _ratio(
                float(r.sku_customer_sums["filled_on_time"][k]),
                float(r.sku_customer_sums["demand"][k]),
            )
            metrics["inventory_turns"] = _ratio(sums["sold"], metrics["average_on_hand"])
            per_rep.append(metrics)
        out_skus[str(sku)] = _summarise(per_rep)
    return out_skus


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
    network line is that of the customer-facing echelon. Revenue and profit per period are shown
    where the network earned revenue (some node has a price and sold), overflow cost where some
    was charged.
    """
    network = kpis.get("network", {})
    overflow = ((network.get("overflow_cost_per_period") or {}).get("mean") or 0.0) > 0.0
    priced = ((network.get("revenue_per_period") or {}).get("mean") or 0.0) > 0.0
    headers = (
        "tier",
        "cost/period ± se",
        "holding",
        "transit",
        "stockout",
        *(("overflow",) if overflow else ()),
        "ordering",
        *(("revenue", "profit ± se") if priced else ()),
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
                *(
                    (
                        _fmt(k.get("revenue_per_period"), ",.2f"),
                        _fmt(k.get("profit_per_period"), ",.2f", with_se=True),
                    )
                    if priced
                    else ()
                ),
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
