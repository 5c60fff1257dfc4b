"""The textbook check: the simulated serial system costs what Clark-Scarf theory says it costs.

Snyder & Shen, *Fundamentals of Supply Chain Theory* (2nd ed., 2019), Example 6.1 (shipped as
``scenarios/serial_3stage.yaml``): the optimal echelon base-stock levels (6.49, 12.02, 22.71) have
expected cost 47.66 per period, and the levels (7, 13, 24) cost 50.36 per period. The mean cost per
period over 100 replications x 1,000 periods (the first 100 are warm-up) must lie within +-0.25 of
those numbers; the standard error of that mean is about 0.07, so the band is about 3.5 standard
errors wide. The audit stays on: every ledger identity holds in every period of every replication.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Any

import pytest

from twin import Simulation, scenario_from_dict
from twin.scenario import read_yaml

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "serial_3stage.yaml"
REPLICATIONS = 100
STAGES = ("stage1", "stage2", "stage3")


def serial_scenario(echelon_levels: tuple[float, float, float]) -> dict[str, Any]:
    """The shipped scenario with these echelon base-stock levels, each stage starting at its local
    base-stock level (echelon level minus the next stage's), i.e. at the policy's steady state."""
    data = read_yaml(SCENARIO)
    assert data["periods"] == 1000 and data["warmup_periods"] == 100
    (assignment,) = data["agents"]
    assert assignment["kind"] == "echelon_base_stock"
    assignment["params"]["base_stock_level"] = dict(zip(STAGES, echelon_levels, strict=True))
    upper, lower = echelon_levels[1:], echelon_levels[:-1]
    local = [echelon_levels[0]] + [b - a for a, b in zip(lower, upper, strict=True)]
    for node in data["nodes"]:
        if node["id"] in STAGES:
            node["initial_inventory"] = local[STAGES.index(node["id"])]
    return data


def cost_per_period(data: dict[str, Any]) -> tuple[float, float]:
    """Mean over replications of the network cost per period after warm-up, and its standard
    error."""
    scenario = scenario_from_dict(data, source=str(SCENARIO))
    warmup, periods = scenario.warmup_periods, scenario.periods
    means = []
    for replication in range(REPLICATIONS):
        rows = Simulation(scenario, replication=replication, audit=True).run().rows
        total = math.fsum(r.total_cost for r in rows if r.period >= warmup)
        means.append(total / (periods - warmup))
    return statistics.fmean(means), statistics.stdev(means) / math.sqrt(len(means))


@pytest.mark.slow
def test_optimal_echelon_base_stock_levels_cost_the_clark_scarf_optimum() -> None:
    data = serial_scenario((6.49, 12.02, 22.71))
    mean, standard_error = cost_per_period(data)
    assert standard_error < 0.1
    assert abs(mean - 47.66) <= 0.25, (mean, standard_error)


@pytest.mark.slow
def test_other_echelon_base_stock_levels_cost_what_theory_says() -> None:
    data = serial_scenario((7, 13, 24))
    assert [n["initial_inventory"] for n in data["nodes"][:3]] == [7, 6, 11]
    mean, standard_error = cost_per_period(data)
    assert standard_error < 0.1
    assert abs(mean - 50.36) <= 0.25, (mean, standard_error)


@pytest.mark.slow
def test_simulated_cost_at_the_optimizers_levels_matches_its_expected_cost() -> None:
    """heuristics.serial's optimum, fed to the twin, costs what the optimizer predicts."""
    import scipy.stats as st

    from heuristics.serial import optimize_echelon_base_stock

    best = optimize_echelon_base_stock([3, 2, 2], [1, 1, 2], 37.12, st.norm(5, 1))
    data = serial_scenario(tuple(best.echelon_levels))
    mean, standard_error = cost_per_period(data)
    assert abs(mean - best.expected_cost) <= 0.25, (mean, standard_error, best.expected_cost)
