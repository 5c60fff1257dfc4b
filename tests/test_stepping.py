"""Driving a run from outside (the hook RL environments use): Simulation.start() / step()."""

from __future__ import annotations

import pytest

from agents.base import OrderDecision, order
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


class Answer:
    """An agent that gives, every period, ``answer(observations)`` (whatever it returns)."""

    def __init__(self, answer):
        self.answer = answer

    def reset(self, *, seed=None):
        pass

    def act(self, observations):
        return self.answer(observations)


class Decision(OrderDecision):
    """A subclass of OrderDecision (read like OrderDecision)."""


def test_a_number_or_a_decision_subclass_orders_like_an_order_decision():
    def orders(answer):
        sim = Simulation(hmarl(10), agents={0: Answer(answer)})
        return [(r.period, r.node, r.ordered, r.closing_on_hand) for r in sim.run().rows]

    by_decision = orders(lambda obs: {n: order(o, o.last_demand + 3) for n, o in obs.items()})
    assert any(row[2] > 0 for row in by_decision)
    by_number = orders(lambda obs: {n: o.last_demand + 3 for n, o in obs.items()})
    by_subclass = orders(
        lambda obs: {n: Decision({o.lanes[0]: o.last_demand + 3}) for n, o in obs.items()}
    )
    assert by_number == by_decision and by_subclass == by_decision


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            lambda obs: [order(o, 1.0) for o in obs.values()],
            r"agents\[0\]:base_stock returned list at period 0; act\(\) must return a mapping",
        ),
        (
            lambda obs: {**{n: order(o, 1.0) for n, o in obs.items()}, "warehouse_1": 1.0},
            r"returned decisions for \['warehouse_1'\], which it does not decide for, at period 0",
        ),
        (
            lambda obs: {n: order(o, 1.0) for n, o in obs.items() if n != "store_2"},
            r"returned no decision for node 'store_2' at period 0",
        ),
        (
            lambda obs: {n: None if n == "store_1" else 1.0 for n in obs},
            r"returned no decision for node 'store_1' at period 0",
        ),
        (
            lambda obs: {n: OrderDecision({"nowhere": 1.0}) for n in obs},
            r"node 'store_\d' has no lane 'nowhere' \(its lanes: \['warehouse_1->store_\d'\]\)",
        ),
        (
            lambda obs: {n: "many" for n in obs},
            r"order 'many' on 'warehouse_1->store_\d' for node 'store_\d' at period 0 is not a finite",
        ),
    ],
)
def test_a_malformed_answer_of_act_names_the_agent_node_and_period(answer, message):
    with pytest.raises(AgentError, match=message):
        Simulation(hmarl(5), agents={0: Answer(answer)}).run()
