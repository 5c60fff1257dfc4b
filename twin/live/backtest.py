"""Backtest: replay the recorded past in the twin, check it against the records, try a policy on it.

:func:`backtest` starts the twin from the state stored as of the first day (the earliest snapshot
by default) and replays, period by period,

* the recorded customer demand (``demand_history``; nodes whose customers arrive one by one are
  replayed with the period's total at the demand step),
* the recorded lead times (``receipt_history``: what a lane sent in a period arrives after the
  lead time recorded for that lane and period; a period without a record takes the last recorded
  one before it, or the first one after it),
* the recorded orders (``order_history``) in place of every agent, each order executed on the lane
  it was placed on (sourcing rules off),

with outages and shipment losses off (the records hold what happened). Where the records are
consistent the twin then reproduces the recorded on hand, sales and backorders (``stock_history``)
exactly; every period, node and column where it does not is a :class:`Discrepancy` (a data-quality
report: a corrupted record shows at its period and node, and whatever it led to after it).

With ``policy`` (the scenario, possibly with other agents), the same demand and lead times are
replayed under the policy's own decisions, which shows what it would have done on the same
history, paired with what happened (:func:`compare`).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agents.base import Agent, Observation, OrderDecision
from entities.demand import CustomerDemand
from entities.messages import LaneId, NodeId
from reconciliation.kpis import compute_kpis, ledger_frame
from reconciliation.report import customer_nodes
from reconciliation.whatif import flatten_kpis, kpi_spec
from twin.engine import Simulation, SimulationResult
from twin.engine.build import Network
from twin.engine.state import apply_state
from twin.live.history import History, read_history
from twin.live.state import read_calendar, read_state, snapshots
from twin.live.store import Store
from twin.scenario import Scenario
from twin.scenario.edit import edit
from twin.scenario.errors import suggest
from twin.scenario.overrides import setting
from twin.scenario.skus import stock_view
from twin.scenario.state import (
    DataError,
    StartingState,
    point_id,
    scenario_at,
    state_lane,
)

COMPARED = (("on_hand", "closing_on_hand"), ("backorders", "backorders"), ("sold", "sold"))
"""``(stock_history column, ledger column)`` pairs the replay is checked on."""
TOLERANCE = 1e-9


class RecordedOrders(Agent):
    """Places the recorded orders: ``orders[lane][t]`` units on ``lane`` in period ``t``."""

    def __init__(self, orders: Mapping[str, np.ndarray]) -> None:
        self.orders = {lane: q.tolist() for lane, q in orders.items()}

    def act(self, observations: Mapping[NodeId, Observation]) -> dict[NodeId, OrderDecision]:
        out: dict[NodeId, OrderDecision] = {}
        for node, obs in observations.items():
            t = obs.period
            quantities: dict[LaneId, float] = {}
            for lane in obs.lanes:
                recorded = self.orders.get(lane)
                if recorded is not None and t < len(recorded) and recorded[t] > 0.0:
                    quantities[lane] = recorded[t]
            out[node] = OrderDecision(quantities)
        return out


class Replay:
    """``setup`` of a Simulation replaying recorded demand and lead times from a state."""

    def __init__(
        self,
        state: StartingState,
        demand: Mapping[str, np.ndarray],
        lead_times: Mapping[str, np.ndarray],
        *,
        recorded_orders: bool,
    ) -> None:
        self.state, self.demand, self.lead_times = state, demand, lead_times
        self.recorded_orders = recorded_orders

    def __call__(self, network: Network) -> None:
        apply_state(network, self.state)
        for node in network.nodes:
            node.outage = None
            if self.recorded_orders:
                node.sourcing = None  # each recorded order stays on its lane
        for lane in network.lanes:
            lane.down, lane.loss = None, None
            recorded = self.lead_times.get(lane.id)
            if recorded is not None:
                lane.set_lead_times(recorded)
        nodes = network.node_map
        network.demands[:] = [
            CustomerDemand(nodes[NodeId(point)], quantities) for point, quantities in self.demand.items()
        ]


@dataclass(frozen=True)
class Discrepancy:
    """The twin's replay and the records disagree: ``column`` of ``node`` in ``period``."""

    period: int
    date: dt.date
    node: str
    sku: str
    column: str
    recorded: float | None
    """None: no record."""
    twin: float | None

    def as_row(self) -> dict[str, Any]:
        return {
            "period": self.period,
            "date": self.date.isoformat(),
            "node": self.node,
            "sku": self.sku,
            "column": self.column,
            "recorded": self.recorded,
            "twin": self.twin,
            "difference": None
            if self.recorded is None or self.twin is None
            else self.twin - self.recorded,
        }


@dataclass
class Backtest:
    """A replay of the records and, with a policy, a replay under the policy."""

    scenario: Scenario
    """The scenario the replay ran (prepared for the state: periods, seed)."""
    state: StartingState
    history: History
    as_of: dt.date
    replay: SimulationResult
    discrepancies: list[Discrepancy]
    checked: int
    """Recorded values compared."""
    policy: SimulationResult | None = None
    policy_scenario: Scenario | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def consistent(self) -> bool:
        return not self.discrepancies

    def first_discrepancies(self) -> dict[tuple[str, str], Discrepancy]:
        """The first discrepancy of each (node, sku)."""
        out: dict[tuple[str, str], Discrepancy] = {}
        for d in sorted(self.discrepancies, key=lambda d: d.period):
            out.setdefault((d.node, d.sku), d)
        return out


def _window(store: Store, as_of: dt.date | None, periods: int | None) -> tuple[dt.date, dt.date | None]:
    if as_of is None:
        dates = snapshots(store)
        if not dates:
            raise DataError(f"{store.label}: stock: no rows (no starting state is stored)")
        as_of = dates[0]
    calendar = read_calendar(store)
    end = None
    if periods is not None:
        if periods < 1:
            raise DataError(f"--periods must be >= 1, got {periods}")
        days = periods * (calendar.period_days if calendar else 1)
        end = as_of + dt.timedelta(days=days - 1)
    return as_of, end


def backtest(
    scenario: Scenario,
    store: Store,
    *,
    as_of: dt.date | None = None,
    periods: int | None = None,
    policy: Scenario | None = None,
) -> Backtest:
    """Replay the records of ``store`` from the state as of ``as_of`` (default: the earliest
    snapshot) over ``periods`` (default: to the end of the demand history); see the module
    docstring. ``policy`` (the scenario with the agents to try) adds the policy's replay."""
    as_of, end = _window(store, as_of, periods)
    state = read_state(store, scenario, as_of)
    history = read_history(store, start=as_of, end=end)
    n = history.periods
    src = store.label
    view = stock_view(scenario)
    points = {p.id for p in view.nodes}
    locations = [node.id for node in scenario.nodes]
    lane_ids = {ln.id for ln in view.lanes} | {f"production->{p}" for p in points}

    demand: dict[str, np.ndarray] = {}
    for (node, sku), quantities in history.demand.items():
        point = point_id(scenario, node, sku)
        if point not in points:
            raise DataError(
                f"{src}: demand_history: node {node!r}, SKU {sku!r} is not a stock point of the "
                f"scenario{suggest(node, locations)}"
            )
        demand[point] = quantities
    for cfg in view.nodes:
        has_customers = cfg.demand is not None or cfg.customers is not None or cfg.demand_series
        if has_customers and cfg.id not in demand:
            raise DataError(f"{src}: demand_history: no rows for node {cfg.id!r}, which has customers")

    orders: dict[str, np.ndarray] = {}
    for (origin, destination, sku), quantities in history.orders.items():
        lane = state_lane(scenario, origin, destination, sku)
        if lane not in lane_ids:
            hint = suggest(lane, sorted(lane_ids))
            raise DataError(f"{src}: order_history: no lane {lane!r} in the scenario{hint}")
        orders[lane] = quantities

    lead_times, conflicts = _lead_times(scenario, history, lane_ids, n)
    window = (setting("periods", n), setting("warmup_periods", 0), setting("replications", 1))
    prepared = scenario_at(edit(scenario, *window), state)
    agents = {i: RecordedOrders(orders) for i in range(len(prepared.agents))}
    replay = Simulation(
        prepared,
        agents=agents,
        setup=Replay(state, demand, lead_times, recorded_orders=True),
        trace=True,
    ).run()
    discrepancies, checked = _compare(replay, history)
    discrepancies = sorted(
        [*conflicts, *discrepancies], key=lambda d: (d.period, d.node, d.sku, d.column)
    )
    result = Backtest(prepared, state, history, as_of, replay, discrepancies, checked)
    missing = sorted(
        {f"{n}/{k}" for n, k in ((r.node, r.sku) for r in replay.rows)}
        - {f"{n}/{k}" for n, k in history.stock}
    )
    if missing:
        result.notes.append(
            f"no stock_history for {len(missing)} stock point(s): {', '.join(missing[:5])}"
        )
    if policy is not None:
        prepared_policy = scenario_at(edit(policy, *window), state)
        result.policy_scenario = prepared_policy
        result.policy = Simulation(
            prepared_policy, setup=Replay(state, demand, lead_times, recorded_orders=False)
        ).run()
    return result


def _lead_times(
    scenario: Scenario, history: History, lane_ids: set[str], n: int
) -> tuple[dict[str, np.ndarray], list[Discrepancy]]:
    """Recorded lead time per lane and period of dispatch in the window (gaps filled), and the
    periods where two receipts of one lane disagree. Shipments still in transit in a later state
    count with their expected arrival where no receipt says otherwise."""
    recorded: dict[str, dict[int, int]] = defaultdict(dict)
    conflicts: list[Discrepancy] = []
    for table, records in (("receipt_history", history.receipts), ("shipments", history.expected)):
        for r in sorted(records, key=lambda r: (r.shipped, r.received)):
            t = r.shipped - history.first
            if not 0 <= t < n:
                continue  # sent before the state's date: it was in transit in the state
            lane = state_lane(scenario, r.origin, r.destination, r.sku)
            if lane not in lane_ids:
                raise DataError(
                    f"{history.source}: {table}: no lane {lane!r} in the scenario"
                    f"{suggest(lane, sorted(lane_ids))}"
                )
            before = recorded[lane].get(t)
            if before is None:
                recorded[lane][t] = r.lead_time
            elif before != r.lead_time and table == "receipt_history":
                date = history.date(r.shipped)
                conflicts.append(
                    Discrepancy(t, date, r.destination, r.sku, "lead_time", before, r.lead_time)
                )
    out: dict[str, np.ndarray] = {}
    for lane, by_period in recorded.items():
        values = np.full(n, np.nan)
        for t, lead in by_period.items():
            values[t] = lead
        known = np.flatnonzero(~np.isnan(values))
        index = np.maximum.accumulate(np.where(~np.isnan(values), np.arange(n), -1))
        index = np.where(index < 0, known[0], index)  # before the first record: the first one
        out[lane] = values[index]
    return out, conflicts


def _compare(replay: SimulationResult, history: History) -> tuple[list[Discrepancy], int]:
    out: list[Discrepancy] = []
    checked = 0
    for row in replay.rows:
        records = history.stock.get((row.node, row.sku))
        if records is None:
            continue
        period = history.first + row.period
        for column, ledger_column in COMPARED:
            recorded = float(records[column][row.period])
            twin = float(getattr(row, ledger_column))
            if math.isnan(recorded):
                out.append(
                    Discrepancy(row.period, history.date(period), row.node, row.sku, column, None, twin)
                )
                continue
            checked += 1
            if abs(twin - recorded) > TOLERANCE * max(1.0, abs(twin), abs(recorded)):
                out.append(
                    Discrepancy(
                        row.period, history.date(period), row.node, row.sku, column, recorded, twin
                    )
                )
    return out, checked


HEADLINE = (
    "network.cost_per_period",
    "network.holding_cost_per_period",
    "network.stockout_cost_per_period",
    "network.ordering_cost_per_period",
    "network.fill_rate",
    "network.average_on_hand",
    "network.average_backorders",
    "network.average_customer_backorders",
)


def compare(result: Backtest) -> list[dict[str, Any]]:
    """KPIs of what happened (the replay of the records) and of the policy on the same history,
    side by side with the difference (policy - recorded)."""
    recorded = _kpis(result.scenario, result.replay)
    policy = _kpis(result.policy_scenario or result.scenario, result.policy) if result.policy else {}
    rows = []
    for key in HEADLINE:
        a, b = recorded.get(key), policy.get(key)
        rows.append(
            {
                "kpi": key,
                "label": kpi_spec(key).label,
                "recorded": a,
                "policy": b,
                "difference": None if a is None or b is None else b - a,
            }
        )
    return rows


def _kpis(scenario: Scenario, result: SimulationResult | None) -> dict[str, float | None]:
    if result is None:
        return {}
    kpis = compute_kpis(ledger_frame([result]), 0, customer_nodes=customer_nodes(scenario))
    return flatten_kpis(kpis)


def discrepancy_rows(discrepancies: Sequence[Discrepancy]) -> list[dict[str, Any]]:
    return [d.as_row() for d in discrepancies]
