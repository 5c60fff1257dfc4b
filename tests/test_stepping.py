"""Driving a run from outside (the hook RL environments use): Simulation.start() / step()."""

from __future__ import annotations

import pytest

from agents.rules import BaseStockPolicy, EchelonBaseStockPolicy
from entities.errors import TwinError
from twin import load_scenario
from twin.engine.simulation import AgentError, ExternalAgent, Simulation


def hmarl(periods: int = 40):
    return load_scenario(
        "scenarios/hmarl_3store.yaml", overrides={"periods": periods, "warmup_periods": 0}
    )


def test_stepping_with_the_rule_reproduces_the_rule_run_exactly():
    scenario = hmarl()
    reference = Simulation(scenario, replication=3).run().rows
    rule = BaseStockPolicy(base_stock_level={"store_1": 130, "store_2": 190, "store_3": 250})
    sim = Simulation(scenario, replication=3, agents={0: ExternalAgent()})
    observations = sim.start()
    epochs = []
    while observations is not None:
        epochs.append(next(iter(observations.values())).period)
        assert sorted(observations) == ["store_1", "store_2", "store_3"]
        observations = sim.step(rule.act(observations))
    assert epochs == list(range(40))
    assert sim.done and sim.rows == reference


def test_rows_of_a_period_exist_after_its_step():
    sim = Simulation(hmarl(), agents={0: ExternalAgent()})
    sim.start()
    sim.step({"store_1": 5.0, "store_2": 0.0, "store_3": 7.0})
    period0 = [r for r in sim.rows if r.period == 0]
    assert {r.node: r.ordered for r in period0 if r.tier == "store"} == {
        "store_1": 5.0,
        "store_2": 0.0,
        "store_3": 7.0,
    }


def test_upstream_external_nodes_decide_on_the_epochs_opening_information():
    """All external observations are taken before any level decides (parallel information)."""
    scenario = load_scenario(
        "scenarios/serial_3stage.yaml", overrides={"periods": 30, "warmup_periods": 0}
    )
    sim = Simulation(scenario, agents={0: ExternalAgent()})
    rule = EchelonBaseStockPolicy(base_stock_level={"stage1": 6.49, "stage2": 12.02, "stage3": 22.71})
    observations = sim.start()
    while observations is not None:
        assert {o.period for o in observations.values()} == {observations["stage1"].period}
        observations = sim.step(rule.act(observations))
    # The echelon inventory position already nets this period's customer demand (it lowers stage
    # 1's net inventory, part of every echelon), so even observed before stage 1 orders, every
    # stage orders exactly this period's demand: the echelon policy passes demand through.
    rows = {(r.period, r.node): r for r in sim.rows}
    assert len(sim.rows) == 30 * 4
    for t in range(30):
        demand = rows[(t, "stage1")].demand
        for stage in ("stage1", "stage2", "stage3"):
            assert rows[(t, stage)].ordered == pytest.approx(demand, abs=1e-9)


def test_misuse_is_a_clear_error():
    sim = Simulation(hmarl(), agents={0: ExternalAgent()})
    with pytest.raises(TwinError, match="drive it with start"):
        sim.run()
    with pytest.raises(TwinError, match="no decision is pending"):
        sim.step({})
    sim.start()
    with pytest.raises(AgentError, match=r"no decision for node\(s\) \['store_3'\]"):
        sim.step({"store_1": 1.0, "store_2": 1.0})
    with pytest.raises(AgentError, match="not a finite number >= 0"):
        sim.step({"store_1": -1.0, "store_2": 1.0, "store_3": 1.0})
