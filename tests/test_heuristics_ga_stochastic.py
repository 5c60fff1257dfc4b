"""Capacitated integer-quantity GA on sampled demand paths (common random numbers)."""

from __future__ import annotations

import numpy as np
import pytest

from heuristics.ga_stochastic import (
    _problem,
    _seed_plans,
    ga_stochastic_lot_sizing,
    stochastic_plan_cost,
)
from heuristics.lot_sizing import silver_meal, wagner_whitin


def test_known_demand_recovers_wagner_whitin() -> None:
    path = [20, 50, 10, 50, 50, 10, 20, 40, 20, 30]
    result = ga_stochastic_lot_sizing(path, 100, 1, 1000, rng=np.random.default_rng(0))
    assert result.cost == wagner_whitin(path, 100, 1).cost == 580


def test_cost_by_hand() -> None:
    # paths [4, 4] and [8, 4]; 10 released in period 0 arrive in period 1; K = 5, h = 1, p = 3
    mean, error = stochastic_plan_cost([10, 0], [[4, 4], [8, 4]], 5, 1, 3, lead_time=1)
    assert mean == 27.0
    assert error == pytest.approx(np.std([19, 35], ddof=1) / np.sqrt(2))
    # a scheduled receipt and starting stock shift the inventory level
    mean, _ = stochastic_plan_cost(
        [0, 0], [[4, 4]], 5, 1, 3, initial_inventory=2, scheduled_receipts=[0, 10]
    )
    assert mean == 3 * 2 + 1 * 4


def test_capacity_integrality_and_never_worse_than_seeds() -> None:
    rng = np.random.default_rng(4)
    paths = rng.poisson(30, size=(200, 12)).astype(float)
    kwargs = {"lead_time": 2, "capacity": 70, "initial_inventory": 60}
    result = ga_stochastic_lot_sizing(paths, 150, 1, 8, rng=np.random.default_rng(5), **kwargs)
    assert np.all(result.orders <= 70)
    assert np.all(result.orders == np.round(result.orders))
    assert np.all(result.orders[-2:] == 0)  # would arrive after the horizon
    problem = _problem(paths, 150, 1, 8, 2, 70, 60, ())
    seed_costs = problem.path_costs(np.array(_seed_plans(problem))).mean(axis=1)
    assert result.cost <= seed_costs.min() + 1e-9
    assert result.cost == pytest.approx(
        stochastic_plan_cost(result.orders, paths, 150, 1, 8, lead_time=2, initial_inventory=60)[0]
    )
    assert np.all(np.diff(result.best_cost_by_generation) <= 1e-9)


def test_reproducible_with_the_same_generator_seed() -> None:
    paths = np.random.default_rng(9).poisson(20, size=(100, 8)).astype(float)
    runs = [
        ga_stochastic_lot_sizing(paths, 80, 1, 6, rng=np.random.default_rng(3), lead_time=1)
        for _ in range(2)
    ]
    assert runs[0].orders.tolist() == runs[1].orders.tolist()
    assert runs[0].cost == runs[1].cost


def test_uncertain_demand_beats_the_deterministic_plan() -> None:
    # Silver-Meal on the mean demand ignores variability; the GA's plan is cheaper on the paths
    rng = np.random.default_rng(8)
    paths = rng.poisson(40, size=(300, 10)).astype(float)
    deterministic = silver_meal(paths.mean(axis=0), 200, 1).orders
    baseline, _ = stochastic_plan_cost(np.ceil(deterministic), paths, 200, 1, 10)
    result = ga_stochastic_lot_sizing(paths, 200, 1, 10, rng=np.random.default_rng(1))
    assert result.cost < baseline


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="Generator"):
        ga_stochastic_lot_sizing([1, 2], 5, 1, 2, rng=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="demand_paths"):
        stochastic_plan_cost([1], [[-1.0]], 5, 1, 2)
    with pytest.raises(ValueError, match="capacity"):
        ga_stochastic_lot_sizing([1, 2], 5, 1, 2, rng=np.random.default_rng(0), capacity=[1, 2, 3])
