"""Continuous-review (s, S) and (r, Q) policies: orders at inventory-position drops."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from entities.clock import DEMAND, Phase
from entities.errors import ScenarioError
from twin.engine.simulation import Simulation
from twin.scenario import scenario_from_dict


def network(review: str, *, kind: str = "s_S", lost: bool = False) -> dict[str, Any]:
    """SUP -> W -> three stores; W runs ``kind`` with ``review``; store S3 too."""
    w_params = {"s": 40, "S": 55} if kind == "s_S" else {"reorder_point": 40, "order_quantity": 12}
    s3_params = {"s": 8, "S": 20} if kind == "s_S" else {"reorder_point": 8, "order_quantity": 10}
    store = {
        "kind": "store",
        "holding_cost": 1,
        "stockout_cost": 4,
        "initial_inventory": 15,
        "demand": {"dist": "poisson", "mean": 6},
    }
    if lost:
        store["unmet_demand"] = "lost"
    return {
        "name": "cr",
        "seed": 9,
        "periods": 80,
        "nodes": [
            {"id": "SUP", "kind": "supplier"},
            {"id": "W", "kind": "warehouse", "initial_inventory": 60},
            {"id": "S1", **store},
            {"id": "S2", **store},
            {"id": "S3", **store},
        ],
        "lanes": [
            {"from": "SUP", "to": "W", "lead_time": 2, "fixed_cost": 10},
            {"from": "W", "to": "S1", "lead_time": 1},
            {"from": "W", "to": "S2", "lead_time": 1},
            {"from": "W", "to": "S3", "lead_time": {"dist": "uniform_int", "low": 1, "high": 2}},
        ],
        "agents": [
            {"nodes": ["S1", "S2"], "kind": "base_stock", "params": {"base_stock_level": 14}},
            {"nodes": ["S3"], "kind": kind, "params": {**s3_params, "review": review}},
            {"nodes": ["W"], "kind": kind, "params": {**w_params, "review": review}},
        ],
    }


def watched(sim: Simulation, node_id: str) -> list[tuple[float, float, float]]:
    """Record (time, IP before, IP after) of every review of ``node_id``."""
    node = sim.network.node_map[node_id]
    inner = node.watch
    assert inner is not None
    log: list[tuple[float, float, float]] = []

    def spy(n: Any, t: int) -> None:
        before = n.inventory_position
        inner(n, t)
        log.append((sim.env.now, before, n.inventory_position))

    node.watch = spy
    return log


def orders_per_period(sim: Simulation, lane: str) -> Counter[int]:
    return Counter(e.period for e in sim.trace if type(e).__name__ == "Order" and e.lane == lane)


@pytest.mark.parametrize("lost", [False, True])
def test_continuous_s_S_never_leaves_the_position_below_s(lost: bool) -> None:
    sim = Simulation(scenario_from_dict(network("continuous", lost=lost)), trace=True)
    logs = {n: watched(sim, n) for n in ("W", "S3")}
    sim.run()
    for node, s in (("W", 40), ("S3", 8)):
        assert logs[node], node
        assert any(before <= s for _, before, _ in logs[node])  # it did have to order
        big_s = 20 if node == "S3" else 55
        for _, before, after in logs[node]:
            # At or below s: order up to S at once; above s: no order.
            assert after == pytest.approx(big_s if before <= s else before)
            assert after > s


def test_continuous_r_Q_lifts_the_position_above_r_in_multiples_of_Q() -> None:
    sim = Simulation(scenario_from_dict(network("continuous", kind="r_Q")), trace=True)
    log = watched(sim, "W")
    sim.run()
    orders = [e.quantity for e in sim.trace if type(e).__name__ == "Order" and e.lane == "SUP->W"]
    assert orders and all(q % 12 == 0 for q in orders)
    assert all(after > 40 for _, _, after in log)


def test_downstream_orders_trigger_several_orders_in_one_period() -> None:
    """W's position drops with each store's order; a continuous (s, S) policy orders after each
    drop to s or below, so some periods see two or more orders on SUP->W; periodic review orders
    at most once per period (at W's own turn)."""
    cont = Simulation(scenario_from_dict(network("continuous")), trace=True)
    cont.run()
    per = Simulation(scenario_from_dict(network("periodic")), trace=True)
    per.run()
    assert max(orders_per_period(cont, "SUP->W").values()) >= 2
    assert max(orders_per_period(per, "SUP->W").values()) == 1
    # Each order pays the lane's fixed cost.
    for sim in (cont, per):
        w = [r for r in sim.rows if r.node == "W"]
        counts = orders_per_period(sim, "SUP->W")
        for r in w:
            assert r.ordering_cost == pytest.approx(10 * counts.get(r.period, 0))


def test_an_intra_period_drop_places_the_order_at_that_moment() -> None:
    """A demand at t + 0.5 (after the decision epoch) takes S3 to s: the order is placed then,
    not at the next epoch."""
    data = network("continuous")
    data["nodes"][4]["demand"] = {"dist": "constant", "value": 0}
    data["nodes"][4]["initial_inventory"] = 30
    sim = Simulation(scenario_from_dict(data), trace=True)
    node = sim.network.node_map["S3"]
    lane = sim.network.lanes_of["S3"]["W->S3"]
    seen: list[tuple[float, float, float]] = []

    def shock(env: Any) -> Any:
        yield Phase(env, 3.5, DEMAND)
        ordered = lane.cum_ordered
        node.customer_demand(25.0, 3)  # IP 30 -> 5 <= s = 8: order up to S = 20
        seen.append((env.now, lane.cum_ordered - ordered, node.inventory_position))

    sim.env.process(shock(sim.env))
    sim.run()
    assert seen == [(3.5, 15.0, 20.0)]
    row = next(r for r in sim.rows if r.node == "S3" and r.period == 3)
    assert row.ordered == 15.0 and row.demand == 25.0


def test_aggregate_demand_orders_at_the_demand_step() -> None:
    """With one aggregate demand per period the review happens at the DEMAND step (before the
    decision epoch), so W sees S3's order in the same period."""
    sim = Simulation(scenario_from_dict(network("continuous")), trace=True)
    log = watched(sim, "S3")
    sim.run()
    assert log and all(float(t).is_integer() for t, _, _ in log)
    orders = orders_per_period(sim, "W->S3")
    assert sum(orders.values()) > 5


def test_review_parameter_is_validated() -> None:
    data = network("sometimes")
    with pytest.raises(
        ScenarioError,
        match=r"agents\[1\]\.params: s_S: review must be "
        r"'periodic' or 'continuous', got 'sometimes'",
    ):
        scenario_from_dict(data)


def test_periodic_review_is_unchanged_by_the_hook() -> None:
    sim = Simulation(scenario_from_dict(network("periodic")))
    assert all(n.watch is None for n in sim.network.nodes)
