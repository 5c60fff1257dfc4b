"""Sample data: a year of history of a network with known true parameters, written to a store.

::

    python -m twin.live.sample --out data/sample.db [--stores 50] [--warehouses 5] [--days 365]
        [--seed 11] [--origin 2024-01-01] [--scenario-out data/sample_truth.yaml]

The network (:func:`sample_scenario`): one make-to-order supplier (capacity 2 % above the mean
demand of the year), ``warehouses`` warehouses (lead time ``uniform_int`` 2..5 from the supplier,
base stock) and ``stores`` stores spread over them round-robin. Store ``i`` has demand of the
family ``DEMAND_FAMILIES[i % 5]`` (Poisson, negative binomial with variance 2.5 x mean, gamma with
shape 6, lognormal with ``log_sd`` 0.35, normal with sd = mean / 5; means drawn in 10..40), a
weekly season (amplitude 0.25) when ``i % 3 == 0``, a trend of +0.08 % a day when ``i % 4 == 1``,
backlog for even ``i`` and lost sales for odd ``i``, a lead time from its warehouse of the family
``LEAD_TIME_FAMILIES[i % 5]``, and a base-stock policy.

The history is the twin itself: a burn-in of ``burn_in`` periods from short stock (60 % of the
stores' initial inventory, 30 % of the warehouses') gives the state at the origin date (stock on
hand, backorders, open orders and shipments in transit); the twin then runs ``days`` periods from
that state, and what it did is written as the tables of :mod:`twin.live.tables`: the calendar
(daily periods from ``origin``), the states as of the origin and as of the day after the last
one, and the demand, order, receipt and stock history. A backtest with the recorded orders
therefore reproduces the records exactly, and calibration can be checked against the true
parameters (:class:`Sample`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from entities.errors import DataError
from entities.messages import Order, Shipment
from twin.engine import Simulation
from twin.engine.state import StartFrom, capture_state
from twin.live.state import state_rows
from twin.live.store import open_store
from twin.live.tables import (
    CALENDAR,
    DEMAND_HISTORY,
    ORDER_HISTORY,
    RECEIPT_HISTORY,
    STOCK_HISTORY,
)
from twin.scenario import Scenario, scenario_from_dict
from twin.scenario.edit import edit
from twin.scenario.overrides import setting
from twin.scenario.state import InTransit, StartingState, lane_ends, scenario_at

DEMAND_FAMILIES = ("poisson", "negative_binomial", "gamma", "lognormal", "normal")
LEAD_TIME_FAMILIES = ("uniform_int", "poisson", "empirical", "negative_binomial", "constant")
ORIGIN = dt.date(2024, 1, 1)
SUPPLIER = "SUP"


def _demand(family: str, mean: float) -> dict[str, Any]:
    if family == "poisson":
        return {"dist": "poisson", "mean": mean}
    if family == "negative_binomial":  # variance 2.5 x mean
        p = 1.0 / 2.5
        return {"dist": "negative_binomial", "n": mean * p / (1.0 - p), "p": p}
    if family == "gamma":
        return {"dist": "gamma", "shape": 6.0, "scale": mean / 6.0}
    if family == "lognormal":
        return {"dist": "lognormal", "log_mean": math.log(mean) - 0.35**2 / 2, "log_sd": 0.35}
    return {"dist": "normal", "mean": mean, "sd": mean / 5.0}


def _lead_time(family: str) -> dict[str, Any]:
    laws: dict[str, dict[str, Any]] = {
        "uniform_int": {"dist": "uniform_int", "low": 1, "high": 3},
        "poisson": {"dist": "poisson", "mean": 1.5},
        "empirical": {"dist": "empirical", "values": [1, 2, 3], "probabilities": [0.6, 0.3, 0.1]},
        "negative_binomial": {"dist": "negative_binomial", "n": 3, "p": 0.6},
        "constant": {"dist": "constant", "value": 2},
    }
    return laws[family]


def sample_scenario(
    *, stores: int = 50, warehouses: int = 5, days: int = 365, seed: int = 11
) -> dict[str, Any]:
    """The true network of the sample data, as scenario data (see the module docstring)."""
    if stores < 1 or warehouses < 1 or days < 2:
        raise ValueError(
            f"needs stores >= 1, warehouses >= 1, days >= 2, got {stores}, {warehouses}, {days}"
        )
    rng = np.random.default_rng(seed)
    nodes: list[dict[str, Any]] = [{"id": SUPPLIER, "kind": "supplier", "holding_cost": 0.05}]
    # capacity: 2 % above the mean demand of the year (set below), so the supplier falls behind at times
    lanes: list[dict[str, Any]] = []
    store_levels: dict[str, int] = {}
    warehouse_demand = [0.0] * warehouses
    store_nodes = []
    for i in range(stores):
        sid, w = f"ST{i + 1:03d}", i % warehouses
        mean = round(float(rng.uniform(10.0, 40.0)), 1)
        family = DEMAND_FAMILIES[i % len(DEMAND_FAMILIES)]
        node: dict[str, Any] = {
            "id": sid,
            "kind": "store",
            "holding_cost": 0.5,
            "stockout_cost": 5.0,
            "unmet_demand": "backlog" if i % 2 == 0 else "lost",
            "demand": _demand(family, mean),
        }
        effects: dict[str, Any] = {}
        if i % 3 == 0:
            effects["seasonality"] = {"period": 7, "amplitude": 0.25, "phase": int(rng.integers(0, 7))}
        if i % 4 == 1:
            effects["trend"] = 0.0008
        if effects:
            node["demand_effects"] = effects
        lead = _lead_time(LEAD_TIME_FAMILIES[i % len(LEAD_TIME_FAMILIES)])
        lanes.append({"from": f"WH{w + 1:02d}", "to": sid, "lead_time": lead})
        growth = 1.0 + 0.0004 * days if "trend" in effects else 1.0  # the mean over the year
        cover = 1.0 + 3.0  # review period plus the longest likely lead time
        level = math.ceil(mean * growth * cover + 1.5 * math.sqrt(mean * cover * 3))
        node["initial_inventory"] = level
        store_levels[sid] = level
        warehouse_demand[w] += mean * growth
        store_nodes.append(node)
    warehouse_nodes = []
    warehouse_levels = {}
    for w in range(warehouses):
        wid = f"WH{w + 1:02d}"
        level = math.ceil(warehouse_demand[w] * (1.0 + 5.0))
        warehouse_nodes.append(
            {"id": wid, "kind": "warehouse", "holding_cost": 0.1, "initial_inventory": level}
        )
        warehouse_levels[wid] = level
        lanes.insert(
            w, {"from": SUPPLIER, "to": wid, "lead_time": {"dist": "uniform_int", "low": 2, "high": 5}}
        )
    nodes[0]["capacity"] = math.ceil(1.02 * sum(warehouse_demand))
    return {
        "name": "sample_network",
        "description": (
            f"Sample network of twin.live.sample (seed {seed}): a supplier, {warehouses} warehouses, "
            f"{stores} stores with known demand and lead-time laws"
        ),
        "seed": seed,
        "periods": days,
        "warmup_periods": 0,
        "replications": 1,
        "nodes": [*nodes, *warehouse_nodes, *store_nodes],
        "lanes": lanes,
        "agents": [
            {"tier": "store", "kind": "base_stock", "params": {"base_stock_level": store_levels}},
            {
                "tier": "warehouse",
                "kind": "base_stock",
                "params": {"base_stock_level": warehouse_levels},
            },
        ],
    }


@dataclass(frozen=True)
class Sample:
    """What :func:`generate` wrote, with the truth to check calibration and backtests against."""

    url: str
    scenario: Scenario
    """The true network (the scenario the history was simulated from)."""
    origin: dt.date
    days: int
    start: StartingState
    """The state as of ``origin`` (the history starts from it)."""
    end: StartingState
    """The state as of ``origin + days``."""

    @property
    def end_date(self) -> dt.date:
        return self.origin + dt.timedelta(days=self.days)

    def true_demand(self) -> dict[str, dict[str, Any]]:
        return {n.id: n.demand.to_spec() for n in self.scenario.nodes if n.demand is not None}

    def true_effects(self) -> dict[str, dict[str, Any]]:
        return {
            n.id: n.demand_effects.model_dump(exclude_defaults=True)
            for n in self.scenario.nodes
            if n.demand_effects is not None
        }

    def true_lead_times(self) -> dict[str, dict[str, Any]]:
        return {ln.id: ln.lead_time.to_spec() for ln in self.scenario.lanes}


def _in_transit(
    trace: Sequence[Any], scenario: Scenario, at: int, captured: StartingState
) -> tuple[StartingState, list[int]]:
    """``captured`` with its shipments in transit at period ``at`` one by one as they were sent
    (the engine keeps one entry per lane and due period), and the period each left (relative to
    ``at``). The units per lane and due period are those captured."""
    transit: list[InTransit] = []
    sent: list[int] = []
    for event in trace:
        if isinstance(event, Shipment) and event.due >= at and event.quantity - event.lost > 0.0:
            origin, destination, sku = lane_ends(scenario, event.lane)
            transit.append(
                InTransit(origin, destination, sku, event.quantity - event.lost, event.due - at)
            )
            sent.append(event.sent - at)

    def totals(items: Sequence[InTransit]) -> dict[tuple[str, str, str, int], float]:
        out: dict[tuple[str, str, str, int], float] = defaultdict(float)
        for s in items:
            out[(s.origin, s.destination, s.sku, s.due)] += s.quantity
        return out

    want, got = totals(captured.in_transit), totals(transit)
    if want.keys() != got.keys() or any(abs(want[k] - got[k]) > 1e-9 * max(1.0, want[k]) for k in want):
        raise AssertionError("shipments in the trace do not add up to the units in transit")
    return replace(captured, in_transit=tuple(transit)), sent


def generate(
    url: str,
    *,
    stores: int = 50,
    warehouses: int = 5,
    days: int = 365,
    seed: int = 11,
    origin: dt.date = ORIGIN,
    burn_in: int = 28,
) -> Sample:
    """Simulate the sample network and write its tables to ``url`` (replacing what they held)."""
    data = sample_scenario(stores=stores, warehouses=warehouses, days=days, seed=seed)
    truth = scenario_from_dict(data, source="<sample network>")

    # The state at the origin: a burn-in without the calendar effects (they start at the origin),
    # from short stock (a disruption the network is still recovering from: something is owed
    # everywhere at the origin).
    short = {"store": 0.6, "warehouse": 0.3}
    changes = [setting("periods", burn_in)]
    for n in truth.nodes:
        changes.append(
            setting(
                f"nodes[{n.id}].initial_inventory",
                math.floor(n.initial_inventory * short.get(n.kind, 1.0)),
            )
        )
        if n.demand_effects is not None:
            changes.append(setting(f"nodes[{n.id}].demand_effects", None))
    burn = Simulation(edit(truth, *changes), trace=True)
    burn.run()
    start, start_sent = _in_transit(
        burn.trace,
        truth,
        burn_in,
        replace(capture_state(burn.network, burn_in), as_of=origin, source=url),
    )

    sim = Simulation(scenario_at(truth, start), setup=StartFrom(start), trace=True)
    result = sim.run()
    end, end_sent = _in_transit(
        result.trace,
        truth,
        days,
        replace(capture_state(sim.network, days), as_of=origin + dt.timedelta(days=days), source=url),
    )

    def day(period: int) -> dt.date:
        return origin + dt.timedelta(days=period)

    customers = {n.id for n in truth.nodes if n.demand is not None}
    demand, stock = [], []
    for row in result.rows:
        date = day(row.period)
        if row.node in customers:
            demand.append({"date": date, "node": row.node, "sku": row.sku, "quantity": row.demand})
        stock.append(
            {
                "date": date,
                "node": row.node,
                "sku": row.sku,
                "on_hand": row.closing_on_hand,
                "backorders": row.backorders,
                "sold": row.sold,
            }
        )
    ordered: dict[tuple[int, str, str, str], float] = defaultdict(float)
    received: dict[tuple[str, str, str, int, int], float] = defaultdict(float)
    for event in result.trace:
        if isinstance(event, Shipment):
            if event.due < days:
                o, d, k = lane_ends(truth, event.lane)
                received[(o, d, k, event.sent, event.due)] += event.quantity - event.lost
        elif isinstance(event, Order):
            o, d, k = lane_ends(truth, event.lane)
            ordered[(event.period, o, d, k)] += event.quantity
    for s, sent in zip(start.in_transit, start_sent, strict=True):  # on their way at the origin
        if s.due < days:
            received[(s.origin, s.destination, s.sku, sent, s.due)] += s.quantity
    orders = [
        {"date": day(p), "origin": o, "destination": d, "sku": k, "quantity": q}
        for (p, o, d, k), q in sorted(ordered.items())
    ]
    receipts = [
        {"origin": o, "destination": d, "sku": k, "shipped": day(s), "received": day(r), "quantity": q}
        for (o, d, k, s, r), q in sorted(received.items())
    ]
    tables = {
        CALENDAR: [{"origin": origin, "period_days": 1}],
        DEMAND_HISTORY: demand,
        ORDER_HISTORY: orders,
        RECEIPT_HISTORY: receipts,
        STOCK_HISTORY: stock,
    }
    for state, departures in ((start, start_sent), (end, end_sent)):
        assert state.as_of is not None
        for table, rows in state_rows(state, state.as_of, shipped=departures).items():
            tables.setdefault(table, []).extend(rows)
    with open_store(url, create=True) as store:
        store.write(tables, replace=True)
    return Sample(url, truth, origin, days, start, end)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m twin.live.sample",
        description="Write a year of history of a sample network with known true parameters.",
    )
    p.add_argument("--out", required=True, help="database URL, SQLite file or Parquet folder")
    p.add_argument("--stores", type=int, default=50)
    p.add_argument("--warehouses", type=int, default=5)
    p.add_argument("--days", type=int, default=365)
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--origin", default=ORIGIN.isoformat(), help="date of the first day (YYYY-MM-DD)")
    p.add_argument("--scenario-out", help="also write the true network as a scenario YAML file")
    args = p.parse_args(argv)
    try:
        origin = dt.date.fromisoformat(args.origin)
        sample = generate(
            args.out,
            stores=args.stores,
            warehouses=args.warehouses,
            days=args.days,
            seed=args.seed,
            origin=origin,
        )
    except (DataError, ValueError) as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    if args.scenario_out:
        data = sample_scenario(
            stores=args.stores, warehouses=args.warehouses, days=args.days, seed=args.seed
        )
        Path(args.scenario_out).write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    print(
        f"wrote {args.days} days of history of {args.stores} stores and {args.warehouses} warehouses "
        f"to {args.out} (states as of {sample.origin} and {sample.end_date})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
