"""Wagner-Whitin, Silver-Meal, least unit cost, part-period balancing, GA: published numbers and
laws on random instances."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heuristics.ga import ga_lot_sizing
from heuristics.lot_sizing import (
    brute_force_lot_sizing,
    least_unit_cost,
    part_period_balancing,
    plan_cost,
    setup_vector_costs,
    silver_meal,
    wagner_whitin,
)

HEURISTICS = (silver_meal, least_unit_cost, part_period_balancing)


def _random_instances(count: int, max_periods: int, seed: int):  # type: ignore[no-untyped-def]
    """Seeded uncapacitated instances: T <= max_periods, some zero-demand periods."""
    rng = np.random.default_rng(seed)
    instances = []
    for _ in range(count):
        T = int(rng.integers(1, max_periods + 1))
        demand = rng.integers(0, 150, size=T) * (rng.random(T) < 0.85)
        setup_cost = float(rng.uniform(20, 600))
        holding_cost = float(rng.uniform(0.2, 4.0))
        instances.append((demand.astype(float), setup_cost, holding_cost))
    return instances


INSTANCES = _random_instances(200, 20, seed=2026)


def test_wagner_whitin_published_4_periods() -> None:
    result = wagner_whitin([90, 120, 80, 70], 500, 2)
    assert result.orders.tolist() == [210, 0, 150, 0]
    assert result.cost == 1380
    assert result.setup_periods == (0, 2)


def test_wagner_whitin_published_10_periods() -> None:
    demand = [20, 50, 10, 50, 50, 10, 20, 40, 20, 30]
    result = wagner_whitin(demand, 100, 1)
    assert result.cost == 580
    assert plan_cost(result.orders, demand, 100, 1) == 580


def test_wagner_whitin_equals_brute_force_on_200_random_instances() -> None:
    for demand, setup_cost, holding_cost in INSTANCES:
        optimum = wagner_whitin(demand, setup_cost, holding_cost)
        brute = brute_force_lot_sizing(demand, setup_cost, holding_cost)
        assert optimum.cost == pytest.approx(brute.cost, rel=1e-12, abs=1e-9)
        assert plan_cost(optimum.orders, demand, setup_cost, holding_cost) == pytest.approx(
            optimum.cost, abs=1e-9
        )
        assert optimum.orders.sum() == pytest.approx(demand.sum())


def test_heuristics_feasible_and_never_better_than_wagner_whitin() -> None:
    gaps = {heuristic.__name__: [] for heuristic in HEURISTICS}
    for demand, setup_cost, holding_cost in INSTANCES:
        optimum = wagner_whitin(demand, setup_cost, holding_cost).cost
        for heuristic in HEURISTICS:
            plan = heuristic(demand, setup_cost, holding_cost)
            # plan_cost raises if any demand is unmet; the plan's own cost must agree
            assert plan_cost(plan.orders, demand, setup_cost, holding_cost) == pytest.approx(
                plan.cost, abs=1e-9
            )
            assert plan.cost >= optimum - 1e-9
            gaps[heuristic.__name__].append(plan.cost / optimum - 1 if optimum > 0 else 0.0)
    # classic results: Silver-Meal is within a few per cent of optimal on average
    assert np.mean(gaps["silver_meal"]) < 0.05


def test_time_varying_costs_are_supported() -> None:
    rng = np.random.default_rng(7)
    for _ in range(30):
        T = int(rng.integers(1, 13))
        demand = rng.integers(0, 100, size=T).astype(float)
        setup_cost = rng.uniform(10, 300, size=T)
        holding_cost = rng.uniform(0.1, 3, size=T)
        optimum = wagner_whitin(demand, setup_cost, holding_cost)
        assert optimum.cost == pytest.approx(
            brute_force_lot_sizing(demand, setup_cost, holding_cost).cost, abs=1e-9
        )
        for heuristic in HEURISTICS:
            assert heuristic(demand, setup_cost, holding_cost).cost >= optimum.cost - 1e-9


def test_setup_vector_costs_and_infeasible_plans() -> None:
    demand = [90, 120, 80, 70]
    costs = setup_vector_costs(np.array([[1, 0, 1, 0], [0, 1, 0, 0]], dtype=bool), demand, 500, 2)
    assert costs[0] == 1380
    assert np.isinf(costs[1])  # period 0's demand has no order before it
    with pytest.raises(ValueError, match="unmet in period 1"):
        plan_cost([90, 0, 150, 70], demand, 500, 2)
    with pytest.raises(ValueError, match="demand"):
        wagner_whitin([10, -1], 5, 1)
    with pytest.raises(ValueError, match="max_periods"):
        brute_force_lot_sizing(np.ones(30), 5, 1)


def test_zero_demand_periods_need_no_order() -> None:
    assert wagner_whitin([0, 0, 0], 5, 1).cost == 0
    result = wagner_whitin([0, 5, 0, 3], 5, 1)
    assert result.orders.tolist() == [0, 5, 0, 3]
    for heuristic in HEURISTICS:
        assert heuristic([0, 0, 0], 5, 1).orders.tolist() == [0, 0, 0]


@settings(max_examples=40, deadline=None)
@given(
    demand=st.lists(st.integers(0, 200), min_size=1, max_size=12),
    setup_cost=st.floats(0, 1000),
    holding_cost=st.floats(0, 10),
)
def test_laws_on_arbitrary_instances(demand: list[int], setup_cost: float, holding_cost: float) -> None:
    optimum = wagner_whitin(demand, setup_cost, holding_cost)
    assert optimum.cost >= 0
    assert optimum.cost == pytest.approx(
        brute_force_lot_sizing(demand, setup_cost, holding_cost).cost, rel=1e-9, abs=1e-9
    )
    # never dearer than lot-for-lot or than one order covering everything
    lot_for_lot = setup_cost * sum(d > 0 for d in demand)
    assert optimum.cost <= lot_for_lot + 1e-9
    for heuristic in HEURISTICS:
        plan = heuristic(demand, setup_cost, holding_cost)
        assert plan.cost >= optimum.cost - 1e-9
        assert np.all(np.cumsum(plan.orders) >= np.cumsum(demand) - 1e-9)


# --- genetic algorithm ----------------------------------------------------------------------


def test_ga_never_better_than_wagner_whitin_and_gap_at_most_one_percent() -> None:
    rng = np.random.default_rng(11)
    gaps = []
    for demand, setup_cost, holding_cost in INSTANCES:
        optimum = wagner_whitin(demand, setup_cost, holding_cost).cost
        result = ga_lot_sizing(demand, setup_cost, holding_cost, rng=rng, patience=10)
        assert result.cost >= optimum - 1e-9
        assert plan_cost(result.orders, demand, setup_cost, holding_cost) == pytest.approx(
            result.cost, abs=1e-9
        )
        gaps.append(result.cost / optimum - 1 if optimum > 0 else 0.0)
    assert np.mean(gaps) <= 0.01


def test_ga_on_its_own_is_within_one_percent_on_average() -> None:
    # without the Wagner-Whitin plan in the initial population the GA must find good plans
    rng = np.random.default_rng(12)
    gaps = []
    for demand, setup_cost, holding_cost in INSTANCES[:60]:
        optimum = wagner_whitin(demand, setup_cost, holding_cost).cost
        result = ga_lot_sizing(demand, setup_cost, holding_cost, rng=rng, seed_with_wagner_whitin=False)
        assert result.cost >= optimum - 1e-9
        seeded = min(h(demand, setup_cost, holding_cost).cost for h in HEURISTICS)
        assert result.cost <= seeded + 1e-9  # never worse than the heuristics it was seeded with
        gaps.append(result.cost / optimum - 1 if optimum > 0 else 0.0)
    assert np.mean(gaps) <= 0.01


def test_ga_is_reproducible_and_history_is_monotone() -> None:
    demand, setup_cost, holding_cost = [20, 50, 10, 50, 50, 10, 20, 40, 20, 30], 100, 1
    runs = [
        ga_lot_sizing(
            demand,
            setup_cost,
            holding_cost,
            rng=np.random.default_rng(5),
            seed_with_wagner_whitin=False,
        )
        for _ in range(2)
    ]
    assert runs[0].orders.tolist() == runs[1].orders.tolist()
    assert runs[0].best_cost_by_generation == runs[1].best_cost_by_generation
    assert np.all(np.diff(runs[0].best_cost_by_generation) <= 0)
    assert runs[0].cost == 580  # finds the published optimum on its own


def test_ga_requires_a_generator() -> None:
    with pytest.raises(ValueError, match="Generator"):
        ga_lot_sizing([1, 2], 5, 1, rng=42)  # type: ignore[arg-type]
