"""Every shipped scenario loads, validates and runs with the audit on (every model the
scenarios show must run in tests). Long horizons are cut to keep the suite fast; the scenarios'
own tests check what each one shows."""

from __future__ import annotations

from pathlib import Path

import pytest

from twin import Simulation, load_scenario
from twin.scenario import stock_view

SCENARIOS = sorted((Path(__file__).resolve().parents[1] / "scenarios").glob("*.yaml"))
PERIODS = 40


def test_the_scenarios_folder_is_not_empty() -> None:
    assert len(SCENARIOS) >= 10


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_shipped_scenario_runs_audited(path: Path) -> None:
    full = load_scenario(path)
    periods = min(full.periods, PERIODS)
    scenario = load_scenario(path, {"periods": periods, "warmup_periods": 0, "replications": 1})
    sim = Simulation(scenario)  # the audit checks every ledger identity every period
    rows = sim.run().rows
    points = stock_view(scenario).nodes
    assert len(rows) == periods * len(points)
    assert {r.period for r in rows} == set(range(periods))
    assert sum(r.demand for r in rows) > 0
