"""Scenario validation: every mistake is a ScenarioError naming the source, the YAML path, the value."""

from __future__ import annotations

import copy

import pytest
import yaml

from entities.errors import ScenarioError
from twin.scenario import scenario_from_dict
from twin.scenario.edit import Assignment, agent_option, edit

BASE = yaml.safe_load("""
name: tiny
seed: 1
periods: 20
nodes:
  - {id: SUP, kind: supplier}
  - {id: WH2, kind: warehouse, initial_inventory: 50, holding_cost: 1}
  - {id: S1, kind: store, holding_cost: 2, stockout_cost: 9, demand: {dist: poisson, mean: 5}}
lanes:
  - {from: SUP, to: WH2, lead_time: 2}
  - {from: WH2, to: S1, lead_time: {dist: uniform_int, low: 0, high: 2}}
agents:
  - {nodes: [S1], kind: base_stock, params: {base_stock_level: 20}}
  - {nodes: [WH2], kind: s_S, params: {s: 10, S: 60}}
""")


def mutate(fn):
    data = copy.deepcopy(BASE)
    fn(data)
    return data


def error_of(data) -> str:
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict(data, source="tiny.yaml")
    message = str(info.value)
    assert message.startswith("tiny.yaml: ") and "\n" not in message
    return message


def test_base_is_valid():
    s = scenario_from_dict(BASE)
    assert [n.id for n in s.nodes] == ["SUP", "WH2", "S1"]
    assert s.topology().level == {"S1": 0, "WH2": 1, "SUP": 2}


@pytest.mark.parametrize(
    "edit, expected",
    [
        (lambda d: d.update(colour="red"), "colour: unknown key"),
        (lambda d: d["nodes"][1].update(holding_cots=1), "nodes[1].holding_cots: unknown key"),
        (
            lambda d: d["lanes"][1].update(to="WH-2"),
            "lanes[1].to: 'WH-2' is not a node; did you mean 'WH2'?",
        ),
        (
            lambda d: d["nodes"][2].update(holding_cost=-1),
            "nodes[2].holding_cost: Input should be greater than or equal to 0 (got -1)",
        ),
        (
            lambda d: d["nodes"][2].update(demand={"dist": "poisson", "mean": -3}),
            "nodes[2].demand: poisson: mean must be a finite number >= 0, got -3",
        ),
        (
            lambda d: d["nodes"][2].update(demand={"dist": "normal", "mean": 1, "sd": 2}),
            "use dist: truncated_normal",
        ),
        (
            lambda d: d["nodes"][2].update(demand={"dist": "poison", "mean": 3}),
            "did you mean 'poisson'?",
        ),
        (lambda d: d["lanes"].append({"from": "S1", "to": "WH2", "lead_time": 1}), "lanes: cycle"),
        (lambda d: d["lanes"].pop(0), "nodes[1]: warehouse 'WH2' has no supply path"),
        (
            lambda d: d["agents"].pop(1),
            "nodes[1]: 'WH2' orders from upstream but no entry in 'agents' decides for it",
        ),
        (
            lambda d: d["agents"].append(
                {"nodes": ["S1"], "kind": "constant", "params": {"quantity": 1}}
            ),
            "agents[2].nodes[0]: 'S1' is already decided by agents[0]",
        ),
        (
            lambda d: d["agents"][0].update(kind="base_stok"),
            "agents[0].kind: unknown agent kind 'base_stok'; did you mean 'base_stock'",
        ),
        (lambda d: d["agents"][1].update(params={"s": 10}), "agents[1].params: s_S:"),
        (
            lambda d: d["agents"][0].update(nodes=["S2"]),
            "agents[0].nodes[0]: 'S2' is not a node; did you mean 'S1'?",
        ),
        (
            lambda d: d["agents"][0].update(tier="stores"),
            "agents[0]: give exactly one of 'nodes' or 'tier'",
        ),
        (lambda d: d.update(warmup_periods=20), "warmup_periods: must be < periods (20), got 20"),
        (lambda d: d["nodes"][1].update(capacity=5), "nodes[1].capacity: 'WH2' has upstream lanes"),
        (lambda d: d.pop("periods"), "periods: required field is missing"),
        (lambda d: d["nodes"][1].update(id="S1"), "nodes[2].id: duplicate node id 'S1'"),
    ],
)
def test_bad_scenarios(edit, expected):
    assert expected in error_of(mutate(edit))


def test_tier_selector_and_defaults():
    data = mutate(lambda d: d["agents"].__setitem__(0, {"tier": "store", "kind": "pass_through"}))
    s = scenario_from_dict(data)
    assert s.agent_nodes(0) == ["S1"]
    assert s.nodes[1].tier_name == "warehouse"
    assert s.to_yaml_dict()["lanes"][0]["from"] == "SUP"
    # The resolved scenario loads again, to the same thing.
    assert scenario_from_dict(s.to_yaml_dict()) == s


def test_unknown_tier_in_agents():
    data = mutate(lambda d: d["agents"].__setitem__(0, {"tier": "stores", "kind": "pass_through"}))
    assert "agents[0].tier: 'stores' is not a tier; did you mean 'store'?" in error_of(data)


def test_agent_override_replaces_the_target_only():
    option = agent_option("WH2=base_stock:base_stock_level=80")
    assert option.value == Assignment("base_stock", {"base_stock_level": 80})
    s = edit(scenario_from_dict(BASE, source="tiny.yaml"), option)
    assert [(a.kind, a.nodes) for a in s.agents] == [("base_stock", ["S1"]), ("base_stock", ["WH2"])]
    with pytest.raises(
        ScenarioError,
        match="tiny.yaml: --agent 'WH1=constant': 'WH1' is not a node or tier; did you mean 'WH2'",
    ):
        edit(scenario_from_dict(BASE, source="tiny.yaml"), agent_option("WH1=constant"))
    with pytest.raises(ScenarioError, match="expected TARGET=KIND"):
        agent_option("WH2")
