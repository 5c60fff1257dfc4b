"""DALSA (this project's allocation and lot-sizing heuristic): feasibility and capacity laws."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heuristics.dalsa import (
    NodePlan,
    PlanningNode,
    SupplyLane,
    net_requirements,
    plan_network,
    plan_node,
)
from heuristics.lot_sizing import silver_meal, wagner_whitin


def _allocated_units(plan: NodePlan) -> float:
    return float(sum(lane.releases.sum() for lane in plan.lanes))


def test_net_requirements_example() -> None:
    # 60 on hand, 10 backordered, 20 arriving in period 1, gross [40, 50, 30]
    assert net_requirements([40, 50, 30], 60, 10, [0, 20]).tolist() == [0, 20, 30]
    # safety stock 5 is kept at the end of every period
    assert net_requirements([10, 10], 12, 0, [], safety_stock=5).tolist() == [3, 10]


def test_single_lane_without_lead_time_is_silver_meal() -> None:
    rng = np.random.default_rng(3)
    for _ in range(50):
        T = int(rng.integers(1, 16))
        demand = (rng.integers(0, 120, size=T) * (rng.random(T) < 0.85)).astype(float)
        K, h = float(rng.uniform(20, 500)), float(rng.uniform(0.2, 3))
        node = PlanningNode("n", demand, (SupplyLane("s", 0, setup_cost=K),), holding_cost=h)
        plan = plan_node(node)
        expected = silver_meal(demand, K, h)
        assert plan.lanes[0].releases.tolist() == expected.orders.tolist()
        assert plan.cost == pytest.approx(expected.cost)
        assert plan.cost >= wagner_whitin(demand, K, h).cost - 1e-9


def test_lead_time_offsets_releases() -> None:
    node = PlanningNode(
        "n", [0, 0, 90, 120, 80, 70], (SupplyLane("s", 2, setup_cost=500),), holding_cost=2
    )
    plan = plan_node(node)
    # requirements due in 2..5 are released in 0..3, then merged Silver-Meal style
    assert plan.lanes[0].releases.tolist() == [290, 0, 0, 70, 0, 0]
    assert plan.lanes[0].receipts.tolist() == [0, 0, 290, 0, 0, 70]
    assert np.all(plan.projected_on_hand >= 0)


def test_cheapest_lane_first_then_capacity_spills_over() -> None:
    cheap = SupplyLane("cheap", 1, unit_cost=1.0, capacity=50)
    dear = SupplyLane("dear", 1, unit_cost=3.0)
    node = PlanningNode("n", [0, 80, 30, 60], (cheap, dear), holding_cost=0.1)
    plan = plan_node(node)
    cheap_plan, dear_plan = plan.lanes
    assert np.all(cheap_plan.releases <= 50 + 1e-9)
    # due 1: 50 cheap (release 0) + 30 dear (nothing can be released before period 0);
    # due 2: 30 cheap; due 3: 50 cheap in period 2, and the other 10 pre-built on the cheap lane
    # in period 1 (1 + 0.1 pipeline + 0.1 early < 3.1 on the dear lane)
    assert cheap_plan.releases.tolist() == [50, 40, 50, 0]
    assert dear_plan.releases.tolist() == [30, 0, 0, 0]
    assert np.all(plan.projected_on_hand >= -1e-9)


def test_unmet_when_no_capacity_remains() -> None:
    node = PlanningNode(
        "n", [10, 10, 100], (SupplyLane("s", 0, capacity=[20, 20, 20]),), holding_cost=1.0
    )
    plan = plan_node(node)
    assert plan.lanes[0].releases.tolist() == [20, 20, 20]
    assert plan.unmet.tolist() == [0, 0, 60]


def test_lateness_first_when_no_stockout_cost() -> None:
    # due in period 0 but the lane takes 2 periods: released at once, 2 periods late
    node = PlanningNode("n", [50, 0, 0, 0], (SupplyLane("s", 2),), holding_cost=1.0)
    plan = plan_node(node)
    assert plan.lanes[0].releases.tolist() == [50, 0, 0, 0]
    assert plan.projected_on_hand.tolist() == [-50, -50, 0, 0]
    priced = plan_node(
        PlanningNode("n", [50, 0, 0, 0], (SupplyLane("s", 2),), holding_cost=1.0, stockout_cost=4)
    )
    assert priced.stockout_cost == pytest.approx(4 * 100)


def test_multi_level_releases_become_upstream_requirements() -> None:
    store = PlanningNode(
        "store",
        [40, 60, 50, 70, 30, 20],
        (SupplyLane("dc", 1, setup_cost=100),),
        holding_cost=1.0,
        on_hand=40,
    )
    dc = PlanningNode(
        "dc",
        [0] * 6,
        (SupplyLane("plant", 2, setup_cost=300, capacity=120),),
        holding_cost=0.5,
        on_hand=50,
    )
    plan = plan_network([dc, store])
    store_releases = plan.nodes["store"].lanes[0].releases
    assert plan.nodes["dc"].gross_requirements.tolist() == store_releases.tolist()
    assert np.all(plan.nodes["dc"].lanes[0].releases <= 120 + 1e-9)
    assert plan.cost == pytest.approx(plan.nodes["dc"].cost + plan.nodes["store"].cost)
    with pytest.raises(ValueError, match="cycle"):
        plan_network(
            [
                PlanningNode("a", [1], (SupplyLane("b", 0),), holding_cost=1),
                PlanningNode("b", [1], (SupplyLane("a", 0),), holding_cost=1),
            ]
        )


def test_bad_input_names_the_node_and_value() -> None:
    with pytest.raises(ValueError, match="'n'.*lead_time.*-1"):
        plan_node(PlanningNode("n", [1, 2], (SupplyLane("s", -1),), holding_cost=1))
    with pytest.raises(ValueError, match="no supply lanes"):
        plan_node(PlanningNode("n", [1, 2], (), holding_cost=1))
    with pytest.raises(ValueError, match="capacity"):
        plan_node(PlanningNode("n", [1, 2], (SupplyLane("s", 0, capacity=[1, 2, 3]),), 1.0))


lanes_strategy = st.lists(
    st.builds(
        SupplyLane,
        source=st.sampled_from(["a", "b", "c"]),
        lead_time=st.integers(0, 3),
        unit_cost=st.floats(0, 5),
        setup_cost=st.floats(0, 200),
        capacity=st.one_of(st.just(np.inf), st.floats(5, 80)),
    ),
    min_size=1,
    max_size=3,
)


@settings(max_examples=60, deadline=None)
@given(
    gross=st.lists(st.integers(0, 100), min_size=1, max_size=12),
    lanes=lanes_strategy,
    holding_cost=st.floats(0, 3),
    on_hand=st.integers(0, 80),
    backorders=st.integers(0, 30),
    stockout_cost=st.one_of(st.none(), st.floats(0.5, 20)),
)
def test_plans_conserve_units_and_respect_capacity(
    gross: list[int],
    lanes: list[SupplyLane],
    holding_cost: float,
    on_hand: int,
    backorders: int,
    stockout_cost: float | None,
) -> None:
    node = PlanningNode(
        "n",
        gross,
        tuple(lanes),
        holding_cost,
        stockout_cost=stockout_cost,
        on_hand=on_hand,
        backorders=backorders,
    )
    plan = plan_node(node)
    T = len(gross)
    # every net requirement is released on some lane or reported unmet
    assert _allocated_units(plan) + plan.unmet.sum() == pytest.approx(plan.net_requirements.sum())
    for lane, lane_plan in zip(lanes, plan.lanes, strict=True):
        assert np.all(lane_plan.releases >= 0)
        assert np.all(lane_plan.releases <= np.broadcast_to(lane.capacity, T) + 1e-9)
        L = lane.lead_time
        assert lane_plan.receipts[L:].tolist() == lane_plan.releases[: max(T - L, 0)].tolist()
    assert plan.cost >= 0
    # with uncapacitated lanes and lateness avoided first (no stockout cost: a finite one may make
    # backlogging cheaper than a setup), stock recovers once the fastest lane can deliver and the
    # backlog is cleared: no shortage after the shortest lead time
    if stockout_cost is None and all(np.isinf(lane.capacity) for lane in lanes):
        assert plan.unmet.sum() == 0
        fastest = min(lane.lead_time for lane in lanes)
        assert np.all(plan.projected_on_hand[fastest:] >= -1e-9)
