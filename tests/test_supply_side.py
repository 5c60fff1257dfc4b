"""The supply side: lane capacity, order processing, FIFO lanes, storage capacity,
multi-sourcing, allocation under shortage, outages and shipment loss.

Each test states a law of one option on a small scenario built for it (the audit is on in every
run); the random networks of ``tests/test_conservation.py`` draw all of them together.
"""

from __future__ import annotations

import copy
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from entities.allocation import _water_fill
from entities.disruptions import Outage, units_lost
from entities.distributions import Constant
from entities.errors import ScenarioError
from entities.messages import Order, Shipment
from reconciliation.ledger import LedgerRow
from twin import Simulation, load_scenario, scenario_from_dict

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"


def run(data: dict[str, Any], replication: int = 0) -> tuple[Simulation, list[LedgerRow]]:
    sim = Simulation(scenario_from_dict(data, source="test"), replication=replication, trace=True)
    return sim, sim.run().rows


def rows_of(rows: list[LedgerRow], node: str) -> list[LedgerRow]:
    return [r for r in rows if r.node == node]


def shipments(sim: Simulation, lane: str | None = None) -> list[Shipment]:
    return [e for e in sim.trace if isinstance(e, Shipment) and lane in (None, e.lane)]


def sent_per_period(sim: Simulation, lane: str) -> dict[int, float]:
    out: dict[int, float] = defaultdict(float)
    for e in shipments(sim, lane):
        out[e.sent] += e.quantity
    return out


def chain(
    *,
    lane: dict[str, Any] | None = None,
    store: dict[str, Any] | None = None,
    supplier: dict[str, Any] | None = None,
    agent: dict[str, Any] | None = None,
    periods: int = 60,
    seed: int = 3,
) -> dict[str, Any]:
    """supplier -> store, Poisson(10) demand, base stock 40 unless ``agent`` says otherwise."""
    return {
        "name": "chain",
        "seed": seed,
        "periods": periods,
        "nodes": [
            {"id": "SUP", "kind": "supplier", **(supplier or {})},
            {
                "id": "S",
                "kind": "store",
                "holding_cost": 1,
                "stockout_cost": 5,
                "demand": {"dist": "poisson", "mean": 10},
                **(store or {}),
            },
        ],
        "lanes": [{"from": "SUP", "to": "S", "lead_time": 1, **(lane or {})}],
        "agents": [
            {"nodes": ["S"], **(agent or {"kind": "base_stock", "params": {"base_stock_level": 40}})}
        ],
    }


def two_sources(
    sourcing: Any,
    *,
    a: dict[str, Any] | None = None,
    b: dict[str, Any] | None = None,
    lane_a: dict[str, Any] | None = None,
    lane_b: dict[str, Any] | None = None,
    periods: int = 80,
) -> dict[str, Any]:
    """Suppliers A and B -> warehouse W (``sourcing``) -> store S."""
    return {
        "name": "two_sources",
        "seed": 8,
        "periods": periods,
        "nodes": [
            {"id": "A", "kind": "supplier", **(a or {})},
            {"id": "B", "kind": "supplier", **(b or {})},
            {"id": "W", "kind": "warehouse", "initial_inventory": 30, "sourcing": sourcing},
            {"id": "S", "kind": "store", "demand": {"dist": "poisson", "mean": 12}},
        ],
        "lanes": [
            {"from": "A", "to": "W", "lead_time": 2, **(lane_a or {})},
            {"from": "B", "to": "W", "lead_time": 2, **(lane_b or {})},
            {"from": "W", "to": "S", "lead_time": 1},
        ],
        "agents": [
            {"nodes": ["S"], "kind": "base_stock", "params": {"base_stock_level": 30}},
            {"nodes": ["W"], "kind": "base_stock", "params": {"base_stock_level": 60}},
        ],
    }


def ordered_on(sim: Simulation, lane: str) -> dict[int, float]:
    out: dict[int, float] = defaultdict(float)
    for e in sim.trace:
        if isinstance(e, Order) and e.lane == lane:
            out[e.period] += e.quantity
    return out


# --------------------------------------------------------------------------------------------------
# Lanes.


def test_lane_capacity_limits_what_leaves_per_period_and_the_rest_stays_owed() -> None:
    sim, rows = run(chain(lane={"capacity": 7}))
    sent = sent_per_period(sim, "SUP->S")
    assert max(sent.values()) == 7
    assert sum(q == 7 for q in sent.values()) > 40  # demand (10) exceeds the capacity: it binds
    supplier = rows_of(rows, "SUP")
    assert supplier[-1].backorders > 0  # the make-to-order supplier owes the rest
    assert all(r.produced <= 7 for r in supplier)  # it makes only what the lane can take


def test_order_processing_delays_what_the_upstream_node_sees() -> None:
    data = chain(
        lane={"order_processing": 2},
        store={"initial_inventory": 50},
        agent={"kind": "constant", "params": {"quantity": 6}},
    )
    sim, rows = run(data)
    orders = [e for e in sim.trace if isinstance(e, Order)]
    assert orders and all(e.seen == e.period + 2 for e in orders)
    supplier = rows_of(rows, "SUP")
    assert [r.demand for r in supplier[:2]] == [0, 0]
    assert all(r.demand == 6 for r in supplier[2:])
    store = rows_of(rows, "S")
    assert [r.receipts for r in store[:3]] == [0, 0, 0]  # seen in 2, shipped, 1 period on the way
    assert all(r.receipts == 6 for r in store[3:])
    assert all(r.on_order == (18 if r.period >= 2 else 6 * (r.period + 1)) for r in store)


def test_random_order_processing_rounds_up_like_lead_times() -> None:
    delay = {"dist": "uniform", "low": 0, "high": 3}
    sim, _ = run(chain(lane={"order_processing": delay}, periods=200))
    lane = sim.network.lanes_of["S"]["SUP->S"]
    for e in (e for e in sim.trace if isinstance(e, Order)):
        assert e.seen == e.period + math.ceil(lane.processing[e.period])
    seen_later = [e for e in sim.trace if isinstance(e, Order) and e.seen > e.period]
    assert len(seen_later) > 150


def test_fifo_lanes_never_overtake_and_crossing_lanes_do() -> None:
    lead = {"dist": "uniform_int", "low": 0, "high": 6}
    base = chain(
        lane={"lead_time": lead},
        store={"initial_inventory": 40},
        agent={"kind": "constant", "params": {"quantity": 10}},
        periods=80,
    )
    crossing, _ = run(base)
    fifo, rows = run(
        chain(
            lane={"lead_time": lead, "fifo": True},
            store={"initial_inventory": 40},
            agent={"kind": "constant", "params": {"quantity": 10}},
            periods=80,
        )
    )
    free = shipments(crossing, "SUP->S")
    kept = shipments(fifo, "SUP->S")
    assert any(a.due > b.due for a, b in zip(free, free[1:], strict=False))  # orders cross
    due = -1
    draws = fifo.network.lanes_of["S"]["SUP->S"].lead_times
    for e in kept:  # the same draws, each due no earlier than the one before it
        due = max(due, e.sent + math.ceil(draws[e.sent]))
        assert e.due == due and e.lead_time == pytest.approx(max(draws[e.sent], due - e.sent))
    arrivals: dict[int, float] = defaultdict(float)
    for e in kept:
        arrivals[e.due] += e.quantity
    assert all(r.receipts == arrivals.get(r.period, 0.0) for r in rows_of(rows, "S"))


# --------------------------------------------------------------------------------------------------
# Storage capacity.


def test_refused_stock_waits_on_the_lane_and_on_hand_never_exceeds_the_capacity() -> None:
    data = chain(
        store={"storage_capacity": 25, "overflow": "refuse", "initial_inventory": 20},
        agent={"kind": "constant", "params": {"quantity": 14}},
        periods=60,
    )
    sim, rows = run(data)
    store = rows_of(rows, "S")
    assert max(r.closing_on_hand for r in store) <= 25
    assert sum(r.refused for r in store) > 0
    refused_then = [r for r in store if r.refused > 0]
    for r in refused_then:  # refused units stay in transit and come again next period
        assert r.in_transit_inbound >= r.refused
    shipped = sum(e.quantity for e in shipments(sim, "SUP->S"))
    assert shipped == pytest.approx(sum(r.receipts for r in store) + store[-1].in_transit_inbound)


def test_on_a_fifo_lane_nothing_overtakes_refused_units() -> None:
    # 30 units arrive in period 0 at a store with room for 20: 10 wait at the dock for period 1,
    # so the zero-lead-time shipment sent later in period 0 must wait for period 1 too.
    data = chain(
        lane={"lead_time": 0, "fifo": True, "initial_pipeline": [30]},
        store={"storage_capacity": 20, "overflow": "refuse"},
        agent={"kind": "constant", "params": {"quantity": 5}},
        periods=3,
    )
    sim, rows = run(data)
    assert rows_of(rows, "S")[0].refused == 10
    first = shipments(sim, "SUP->S")[0]
    assert (first.sent, first.due) == (0, 1)


def test_accepted_overflow_is_charged_per_unit_above_the_capacity() -> None:
    data = chain(
        store={
            "storage_capacity": 25,
            "overflow": "accept",
            "overflow_cost": 2.5,
            "initial_inventory": 20,
        },
        agent={"kind": "constant", "params": {"quantity": 14}},
        periods=60,
    )
    _, rows = run(data)
    store = rows_of(rows, "S")
    assert max(r.closing_on_hand for r in store) > 25
    for r in store:
        assert r.overflow_cost == pytest.approx(2.5 * max(0.0, r.closing_on_hand - 25))
        assert r.refused == 0.0


# --------------------------------------------------------------------------------------------------
# Multi-sourcing.


def test_proportional_sourcing_splits_each_order_by_weight_in_whole_units() -> None:
    sim, _ = run(two_sources({"rule": "proportional", "weights": {"A": 3, "B": 1}}))
    a, b = ordered_on(sim, "A->W"), ordered_on(sim, "B->W")
    periods = set(a) | set(b)
    assert len(periods) > 60
    for t in periods:
        total = a.get(t, 0.0) + b.get(t, 0.0)
        assert a.get(t, 0.0) == pytest.approx(round(0.75 * total), abs=1)
        assert float(a.get(t, 0.0)).is_integer() and float(b.get(t, 0.0)).is_integer()
    assert sum(a.values()) / (sum(a.values()) + sum(b.values())) == pytest.approx(0.75, abs=0.01)


@pytest.mark.parametrize(
    ("sourcing", "lane_a", "lane_b", "chosen"),
    [
        ({"rule": "priority", "priority": ["B", "A"]}, {}, {}, "B->W"),
        ({"rule": "cheapest"}, {"unit_cost": 2}, {"unit_cost": 1}, "B->W"),
        ({"rule": "cheapest"}, {"unit_cost": 1}, {"unit_cost": 1, "fixed_cost": 5}, "A->W"),
        (
            {"rule": "fastest"},
            {"lead_time": 3},
            {"lead_time": {"dist": "uniform_int", "low": 1, "high": 2}},
            "B->W",
        ),
        ({"rule": "fastest"}, {"lead_time": 2, "order_processing": 2}, {"lead_time": 3}, "B->W"),
    ],
)
def test_ranked_sourcing_orders_from_the_best_available_source(
    sourcing: dict[str, Any], lane_a: dict[str, Any], lane_b: dict[str, Any], chosen: str
) -> None:
    sim, _ = run(two_sources(sourcing, lane_a=lane_a, lane_b=lane_b))
    other = "A->W" if chosen == "B->W" else "B->W"
    assert sum(ordered_on(sim, chosen).values()) > 500
    assert sum(ordered_on(sim, other).values()) == 0  # unlimited make-to-order: never short


def test_priority_sourcing_falls_back_while_the_preferred_source_is_down() -> None:
    down = {"windows": [{"start": 20, "duration": 10}]}
    sim, rows = run(two_sources({"rule": "priority"}, a={"outage": down}))
    a, b = ordered_on(sim, "A->W"), ordered_on(sim, "B->W")
    assert set(b) and set(b) <= set(range(20, 30))  # the backup only in the outage
    assert not set(a) & set(range(20, 30))
    assert all(r.produced == 0 and r.shipped == 0 for r in rows_of(rows, "A")[20:30])


def test_priority_sourcing_spills_what_the_preferred_source_cannot_promise() -> None:
    # A is capacity-limited (5 a period): W takes what A can promise, the rest from B.
    sim, _ = run(two_sources({"rule": "priority"}, a={"capacity": 5}))
    a, b = ordered_on(sim, "A->W"), ordered_on(sim, "B->W")
    assert sum(b.values()) > sum(a.values()) > 0
    assert all(q <= 5 for q in a.values())


def test_agent_sourcing_keeps_the_agents_per_lane_decision() -> None:
    data = two_sources("agent")
    sim, _ = run(data)
    assert sum(ordered_on(sim, "B->W").values()) == 0  # a bare quantity goes on the first lane


# --------------------------------------------------------------------------------------------------
# Allocation under shortage.


def shortage(
    allocation: Any,
    *,
    s1: float = 10,
    s2: float = 10,
    periods: int = 30,
    s1_demand: float = 8,
    s2_demand: float = 8,
) -> dict[str, Any]:
    """A capacity-limited supplier (10 a period) -> W -> stores S1, S2 ordering s1, s2 a period."""
    return {
        "name": "shortage",
        "seed": 2,
        "periods": periods,
        "nodes": [
            {"id": "SUP", "kind": "supplier", "capacity": 10},
            {"id": "W", "kind": "warehouse", "allocation": allocation},
            {
                "id": "S1",
                "kind": "store",
                "initial_inventory": 100,
                "demand": {"dist": "constant", "value": s1_demand},
            },
            {
                "id": "S2",
                "kind": "store",
                "initial_inventory": 100,
                "demand": {"dist": "constant", "value": s2_demand},
            },
        ],
        "lanes": [
            {"from": "SUP", "to": "W", "lead_time": 0},
            {"from": "W", "to": "S1", "lead_time": 1},
            {"from": "W", "to": "S2", "lead_time": 1},
        ],
        "agents": [
            {"nodes": ["S1"], "kind": "constant", "params": {"quantity": s1}},
            {"nodes": ["S2"], "kind": "constant", "params": {"quantity": s2}},
            {"nodes": ["W"], "kind": "pass_through"},
        ],
    }


def test_fifo_allocation_serves_the_oldest_orders_first() -> None:
    sim, rows = run(shortage("fifo"))
    s1, s2 = sent_per_period(sim, "W->S1"), sent_per_period(sim, "W->S2")
    assert s1[0] == 10 and s2.get(0, 0.0) == 0  # S1's order is placed first in period 0
    assert s2[1] == 10 and s1.get(1, 0.0) == 0  # then S2's (older than S1's second)
    assert abs(sum(s1.values()) - sum(s2.values())) <= 10


def test_proportional_allocation_gives_every_claimant_the_same_fraction() -> None:
    sim, _ = run(shortage("proportional", s1=12, s2=4))
    s1, s2 = sent_per_period(sim, "W->S1"), sent_per_period(sim, "W->S2")
    assert s1[0] + s2[0] == 10
    assert (s1[0], s2[0]) == (8, 2)  # 10 of 16 owed: 7.5 and 2.5, largest remainder first
    for t in range(5, 30):  # owed grows 12:4; each period's 10 units keep that ratio
        assert s1.get(t, 0.0) + s2.get(t, 0.0) == 10
        assert s1.get(t, 0.0) == pytest.approx(7.5, abs=1)


def test_priority_allocation_serves_the_listed_order() -> None:
    sim, _ = run(shortage({"rule": "priority", "priority": ["S2", "S1"]}))
    s1, s2 = sent_per_period(sim, "W->S1"), sent_per_period(sim, "W->S2")
    assert all(s2[t] == 10 for t in range(30))
    assert sum(s1.values()) == 0


def test_fair_share_levels_positions_over_demand_forecasts() -> None:
    # S1 sells 3 times what S2 sells: fair shares give it about 3 times the stock.
    sim, rows = run(shortage("fair_share", s1=15, s2=5, s1_demand=9, s2_demand=3, periods=60))
    s1, s2 = sent_per_period(sim, "W->S1"), sent_per_period(sim, "W->S2")
    late = range(30, 60)
    assert sum(s1.get(t, 0.0) + s2.get(t, 0.0) for t in late) == 300
    assert sum(s1.get(t, 0.0) for t in late) / 300 == pytest.approx(0.75, abs=0.05)


def test_water_filling_levels_and_never_exceeds_the_supply() -> None:
    # Positions -5, 0, 20 with weights 1, 1, 2 and 30 units: the level L solves
    # (L + 5) + L + max(0, 2 L - 20) = 30; with c active 4 L - 15 = 30, L = 11.25 (> 10, so c is).
    cap = {"a": 100.0, "b": 100.0, "c": 100.0}
    shares = _water_fill(30.0, cap, {"a": -5.0, "b": 0.0, "c": 20.0}, {"a": 1, "b": 1, "c": 2})
    assert shares == pytest.approx({"a": 16.25, "b": 11.25, "c": 2.5})
    capped = _water_fill(30.0, {"a": 4.0, "b": 100.0}, {"a": 0.0, "b": 0.0}, {"a": 1, "b": 1})
    assert capped == pytest.approx({"a": 4.0, "b": 26.0})


def test_lane_room_limits_every_allocation_rule() -> None:
    for rule in ("fifo", "proportional", "fair_share"):
        data = shortage(rule)
        data["lanes"][1]["capacity"] = 3
        sim, _ = run(data)
        s1, s2 = sent_per_period(sim, "W->S1"), sent_per_period(sim, "W->S2")
        assert max(s1.values()) <= 3, rule
        assert sum(s2.values()) > sum(s1.values()), rule  # S2 gets what S1's lane cannot take


# --------------------------------------------------------------------------------------------------
# Outages.


def test_a_node_in_an_outage_ships_sells_and_makes_nothing() -> None:
    down = {"windows": [{"start": 10, "duration": 5}, {"start": 40, "duration": 2}]}
    data = chain(store={"outage": down, "initial_inventory": 60}, supplier={"outage": down})
    sim, rows = run(data)
    periods = set(range(10, 15)) | {40, 41}
    for r in rows:
        if r.period in periods:
            assert r.sold == 0 and r.shipped == 0 and r.produced == 0, r
    store = rows_of(rows, "S")
    assert all(r.backorders >= r.demand for r in store if r.period in periods)
    assert sum(r.sold for r in store if r.period not in periods) > 0


def test_a_lane_in_an_outage_carries_nothing_new() -> None:
    down = {"windows": [{"start": 5, "duration": 6}]}
    sim, rows = run(chain(lane={"outage": down}))
    sent = sent_per_period(sim, "SUP->S")
    assert not set(sent) & set(range(5, 11))
    assert sent[11] > sent[4]  # the backlog goes once the lane is back
    assert rows_of(rows, "SUP")[8].backorders > 0


@pytest.mark.parametrize(("fail", "recover"), [(0.05, 0.25), (0.2, 0.5)])
def test_markov_outages_have_the_stationary_share_and_spell_length(fail: float, recover: float) -> None:
    """Two-state chain: P(down) = f / (f + r); down spells are geometric with mean 1 / r. The
    share's standard error uses the chain's lag-1 autocorrelation rho = 1 - f - r (variance of
    the mean pi (1 - pi) (1 + rho) / ((1 - rho) n)); 4.5 standard errors detect a share off by
    about 5 % of itself at n = 200,000."""
    n = 200_000
    down = Outage(fail=fail, recover=recover).sample(np.random.default_rng(5), n)
    pi, rho = fail / (fail + recover), 1 - fail - recover
    se = math.sqrt(pi * (1 - pi) * (1 + rho) / ((1 - rho) * n))
    assert abs(down.mean() - pi) < 4.5 * se
    starts = np.flatnonzero(np.diff(down.astype(int)) == 1)
    ends = np.flatnonzero(np.diff(down.astype(int)) == -1)
    spells = ends[ends > starts[0]][: len(starts) - 1] - starts[: len(starts) - 1]
    spell_se = math.sqrt((1 - recover) / recover**2 / len(spells))
    assert abs(spells.mean() - 1 / recover) < 4.5 * spell_se
    assert not down[0]  # the chain starts up


def test_outages_are_common_random_numbers_across_policies() -> None:
    lane = {
        "outage": {"markov": {"fail": 0.1, "recover": 0.3}},
        "shipment_loss": {"probability": 0.5, "fraction": {"dist": "uniform", "low": 0, "high": 0.5}},
        "order_processing": {"dist": "uniform_int", "low": 0, "high": 2},
    }
    one, _ = run(chain(lane=lane, supplier={"outage": {"markov": {"fail": 0.1, "recover": 0.2}}}))
    two, _ = run(
        chain(
            lane=lane,
            supplier={"outage": {"markov": {"fail": 0.1, "recover": 0.2}}},
            agent={"kind": "constant", "params": {"quantity": 3}},
        )
    )
    a, b = one.network.lanes_of["S"]["SUP->S"], two.network.lanes_of["S"]["SUP->S"]
    assert a.down == b.down and a.loss == b.loss and a.processing == b.processing
    assert one.network.node_map["SUP"].outage == two.network.node_map["SUP"].outage
    assert any(a.down) and any(one.network.node_map["SUP"].outage)


# --------------------------------------------------------------------------------------------------
# Shipment loss.


def test_lost_units_are_booked_at_the_receiver_when_due_and_never_arrive() -> None:
    lane = {"lead_time": 2, "shipment_loss": {"probability": 1.0, "fraction": 0.25}}
    sim, rows = run(
        chain(
            lane=lane,
            agent={"kind": "constant", "params": {"quantity": 8}},
            store={"initial_inventory": 30},
        )
    )
    store = rows_of(rows, "S")
    for e in shipments(sim, "SUP->S"):
        assert e.lost == 2.0  # a quarter of 8 whole units
    for r in store:
        expected = 2.0 if r.period >= 2 else 0.0
        assert r.lost_in_transit == expected and r.receipts == (6.0 if r.period >= 2 else 0.0)


def test_loss_of_whole_shipments_is_whole_and_unbiased() -> None:
    rng = np.random.default_rng(1)
    lost = [units_lost(7.0, 0.3, u) for u in rng.random(20_000)]
    assert all(float(x).is_integer() and 0 <= x <= 7 for x in lost)
    assert np.mean(lost) == pytest.approx(2.1, abs=0.03)  # E = 7 * 0.3; se ~ 0.0032
    assert units_lost(7.5, 0.2, 0.99) == pytest.approx(1.5)  # a fractional shipment: exact share


def test_shipment_loss_removes_its_expected_share() -> None:
    """Loss fraction probability * E[fraction] = 0.4 * 0.1 of what is shipped: 4 %."""
    lane = {
        "shipment_loss": {"probability": 0.4, "fraction": {"dist": "uniform", "low": 0, "high": 0.2}}
    }
    lost = shipped = 0.0
    for r in range(4):
        sim, _ = run(
            chain(
                lane=lane,
                periods=2000,
                agent={"kind": "constant", "params": {"quantity": 10}},
                store={"unmet_demand": "lost"},
            ),
            replication=r,
        )
        for e in shipments(sim, "SUP->S"):
            lost += e.lost
            shipped += e.quantity
    assert lost / shipped == pytest.approx(0.04, abs=0.003)


# --------------------------------------------------------------------------------------------------
# Shipped scenarios.


def test_disruptions_scenario_shows_its_disruptions() -> None:
    scenario = load_scenario(SCENARIOS / "disruptions.yaml", {"replications": 1})
    sim = Simulation(scenario, trace=True)
    rows = sim.run().rows
    dc = rows_of(rows, "dc")
    assert sum(r.lost_in_transit for r in dc) > 0
    assert sum(r.refused for r in dc) > 0
    assert max(r.closing_on_hand for r in dc) <= 400
    down = sim.network.node_map["main_supplier"].outage
    backup = ordered_on(sim, "backup_supplier->dc")
    assert backup and 0.05 < np.mean(down) < 0.25
    lane_down = set(range(120, 134))
    assert not {e.sent for e in shipments(sim, "main_supplier->dc")} & lane_down
    assert sum(r.lost_sales for r in rows_of(rows, "store_3")) > 0


def test_constrained_network_scenario_binds_its_limits() -> None:
    scenario = load_scenario(SCENARIOS / "constrained_network.yaml", {"replications": 1})
    sim = Simulation(scenario, trace=True)
    rows = sim.run().rows
    assert max(sent_per_period(sim, "plant_west->dc").values()) <= 35
    assert sum(r.overflow_cost for r in rows_of(rows, "flagship")) > 0
    assert sum(r.refused for r in rows_of(rows, "hub")) > 0
    east = ordered_on(sim, "plant_east->dc")
    west = ordered_on(sim, "plant_west->dc")
    assert sum(east.values()) / (sum(east.values()) + sum(west.values())) == pytest.approx(0.7, abs=0.01)
    kept = shipments(sim, "plant_east->dc")
    assert all(a.due <= b.due for a, b in zip(kept, kept[1:], strict=False))
    assert any(
        isinstance(e, Order) and e.lane == "plant_east->dc" and e.seen == e.period + 1 for e in sim.trace
    )


# --------------------------------------------------------------------------------------------------
# Bad input: one line naming the file, the field and the value.


def base() -> dict[str, Any]:
    return two_sources("agent")


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda d: d["lanes"][0].update(
                shipment_loss={"fraction": {"dist": "gamma", "shape": 2, "scale": 1}}
            ),
            "lanes[0].shipment_loss.fraction: must lie in [0, 1]",
        ),
        (
            lambda d: d["lanes"][0].update(shipment_loss={"probability": 1.5, "fraction": 0.1}),
            "lanes[0].shipment_loss.probability",
        ),
        (lambda d: d["lanes"][0].update(capacity=0), "lanes[0].capacity"),
        (lambda d: d["lanes"][0].update(outage={}), "lanes[0].outage: give 'windows' and/or 'markov'"),
        (
            lambda d: d["nodes"][0].update(outage={"markov": {"fail": 0.1, "recover": 0}}),
            "nodes[0].outage.markov.recover",
        ),
        (
            lambda d: d["nodes"][0].update(sourcing="cheapest"),
            "nodes[0].sourcing: 'A' has no upstream lanes to split orders over",
        ),
        (
            lambda d: d["nodes"][2].update(sourcing={"rule": "priority", "priority": ["AA"]}),
            "nodes[2].sourcing.priority[0]: 'AA' is not an upstream node of 'W'; did you mean 'A'?",
        ),
        (
            lambda d: d["nodes"][2].update(sourcing={"rule": "cheapest", "weights": {"A": 1}}),
            "nodes[2].sourcing.weights: is used only with rule: proportional",
        ),
        (
            lambda d: d["nodes"][2].update(sourcing={"rule": "proportional", "weights": {"A": 1}}),
            "nodes[2].sourcing.weights: has no weight for upstream node 'B'",
        ),
        (
            lambda d: d["nodes"][2].update(
                sourcing={"rule": "proportional", "weights": {"A": 0, "B": 0}}
            ),
            "nodes[2].sourcing.weights: must give some upstream node a weight > 0",
        ),
        (lambda d: d["nodes"][2].update(sourcing="nearest"), "nodes[2].sourcing.rule"),
        (
            lambda d: d["nodes"][2].update(allocation={"rule": "priority"}),
            "nodes[2].allocation.priority: list the downstream nodes",
        ),
        (
            lambda d: d["nodes"][2].update(allocation={"rule": "priority", "priority": ["S", "S"]}),
            "nodes[2].allocation.priority[1]: 'S' is listed twice",
        ),
        (
            lambda d: d["nodes"][2].update(allocation={"rule": "priority", "priority": ["customers"]}),
            "'customers' is not a downstream node of 'W'",
        ),
        (lambda d: d["nodes"][2].update(allocation="lottery"), "nodes[2].allocation.rule"),
        (
            lambda d: d["nodes"][2].update(storage_capacity=20),
            "nodes[2].initial_inventory: 30 is above storage_capacity 20 (overflow: refuse)",
        ),
        (
            lambda d: d["nodes"][2].update(storage_capacity=50, overflow_cost=2),
            "nodes[2].overflow_cost: is charged only with overflow: accept",
        ),
        (lambda d: d["nodes"][2].update(overflow="accept"), "nodes[2].overflow: needs storage_capacity"),
    ],
)
def test_supply_side_mistakes_are_clear_errors(edit: Any, expected: str) -> None:
    data = copy.deepcopy(base())
    edit(data)
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict(data, source="net.yaml")
    message = str(info.value)
    assert message.startswith("net.yaml: ") and expected in message, message
    assert "\n" not in message


def test_constant_fraction_defaults_and_distribution_bounds() -> None:
    assert Constant(0.3).upper == 0.3
    data = base()
    data["lanes"][0]["shipment_loss"] = {"fraction": {"dist": "empirical", "values": [0, 0.5]}}
    lane = scenario_from_dict(data).lanes[0]
    assert lane.shipment_loss is not None and lane.shipment_loss.probability == 1.0


def test_what_if_tables_show_units_lost_or_refused_only_where_there_are_any() -> None:
    from reconciliation.whatif import COMPARISON_COLUMNS, comparison_frame, comparison_text

    def rows(kpi: str, means: list[float]) -> list[dict[str, Any]]:
        return [
            dict.fromkeys(COMPARISON_COLUMNS)
            | {
                "kpi": kpi,
                "label": kpi,
                "better": "lower",
                "case": case,
                "variant": case,
                "n": 3,
                "diff_n": 3,
                "mean": m,
                "ci_low": m,
                "ci_high": m,
                "verdict": "baseline",
            }
            for case, m in zip(("baseline", "other"), means, strict=True)
        ]

    frame = comparison_frame(
        rows("network.lost_in_transit_per_period", [0.4, 0.0])
        + rows("network.refused_per_period", [0.0, 0.0])
    )
    text = comparison_text(frame)
    assert "network units lost in transit / period" in text
    assert "refused" not in text
