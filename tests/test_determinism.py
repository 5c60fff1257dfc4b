"""Reproducibility and common random numbers (DESIGN.md, Randomness).

The same seed gives a byte-identical ledger, in this process and in others (whatever
``PYTHONHASHSEED``); another replication draws other demand; swapping the agent of any node, or
changing one node's demand, leaves every other demand draw and every lead-time draw unchanged, so
what-if variants are compared on the same randomness.
"""

from __future__ import annotations

import copy
import hashlib
import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from entities.messages import Shipment
from twin import Simulation, scenario_from_dict
from twin.scenario import read_yaml
from twin.scenario.edit import assign, edit_data

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"

# Every kind of randomness the twin has: demand at stores and at a warehouse that also has
# successors, integer and continuous lead times (orders cross), a production line with a random lead
# time, make-to-order and capacity-limited sources, backlog and lost sales.
NETWORK: dict[str, Any] = {
    "name": "crn_network",
    "seed": 31,
    "periods": 60,
    "forecast_window": 5,
    "nodes": [
        {
            "id": "plant",
            "kind": "factory",
            "capacity": 60,
            "initial_inventory": 80,
            "holding_cost": 0.2,
            "production_lead_time": {"dist": "uniform_int", "low": 0, "high": 2},
        },
        {"id": "vendor", "kind": "supplier", "capacity": 25},
        {
            "id": "dc",
            "kind": "warehouse",
            "initial_inventory": 60,
            "holding_cost": 0.4,
            "stockout_cost": 1,
            "demand": {"dist": "poisson", "mean": 4},
        },
        {"id": "hub", "kind": "warehouse", "initial_inventory": 30, "holding_cost": 0.4},
        {
            "id": "s1",
            "kind": "store",
            "initial_inventory": 20,
            "holding_cost": 1,
            "stockout_cost": 9,
            "demand": {"dist": "poisson", "mean": 12},
        },
        {
            "id": "s2",
            "kind": "store",
            "initial_inventory": 20,
            "holding_cost": 1,
            "stockout_cost": 9,
            "unmet_demand": "lost",
            "demand": {"dist": "normal", "mean": 10, "sd": 2},
        },
        {
            "id": "s3",
            "kind": "store",
            "initial_inventory": 15,
            "holding_cost": 1,
            "stockout_cost": 9,
            "demand": {"dist": "empirical", "values": [0, 5, 20], "probabilities": [0.3, 0.5, 0.2]},
        },
    ],
    "lanes": [
        {
            "from": "plant",
            "to": "dc",
            "lead_time": {"dist": "gamma", "shape": 2, "scale": 1},
            "unit_cost": 0.5,
            "fixed_cost": 10,
        },
        {"from": "vendor", "to": "hub", "lead_time": {"dist": "poisson", "mean": 1.5}},
        {"from": "dc", "to": "hub", "lead_time": 1},
        {"from": "dc", "to": "s1", "lead_time": {"dist": "uniform_int", "low": 0, "high": 4}},
        {"from": "dc", "to": "s2", "lead_time": {"dist": "uniform", "low": 0.5, "high": 3}},
        {"from": "hub", "to": "s3", "lead_time": {"dist": "empirical", "values": [0, 1, 3]}},
    ],
    "agents": [
        {
            "nodes": ["s1", "s2", "s3"],
            "kind": "base_stock",
            "params": {"base_stock_level": {"s1": 50, "s2": 40, "s3": 45}},
        },
        {"nodes": ["dc"], "kind": "echelon_base_stock", "params": {"base_stock_level": 220}},
        {"nodes": ["hub"], "kind": "r_Q", "params": {"reorder_point": 20, "order_quantity": 30}},
        {"nodes": ["plant"], "kind": "hmarl_supplier", "params": {}},
    ],
    "costs": {"in_transit_holding": "receiver"},
}

# Agents to swap in, with params that make sense for any node of these scenarios.
SWAPS: dict[str, dict[str, Any]] = {
    "s_S": {"s": 10, "S": 60},
    "constant": {"quantity": 9},
    "pass_through": {},
    "base_stock": {"base_stock_level": 35},
    "echelon_base_stock": {"base_stock_level": 90},
    "r_Q": {"reorder_point": 15, "order_quantity": 25},
    "periodic_review": {"review_period": 3, "order_up_to_level": 70},
    "hmarl_warehouse": {},
}


def yaml_data(name: str) -> dict[str, Any]:
    return read_yaml(SCENARIOS / f"{name}.yaml")


def ledger_bytes(data: dict[str, Any], replication: int = 0) -> bytes:
    return pickle.dumps(Simulation(scenario_from_dict(data), replication=replication).run().rows)


class Draws:
    """The random draws a run used: demand per node, lead times per lane (incl. production)."""

    def __init__(self, data: dict[str, Any], replication: int = 0) -> None:
        self.scenario = scenario_from_dict(data, source=data["name"])
        sim = Simulation(self.scenario, replication=replication, trace=True)
        self.rows = sim.run().rows
        self.demand = {d.node.id: d.quantities.copy() for d in sim.network.demands}
        self.lead_times = {lane.id: lane.lead_times.copy() for lane in sim.network.lanes}
        self.shipments = [e for e in sim.trace if isinstance(e, Shipment)]
        topo = self.scenario.topology()
        self.leaves = [n for n in topo.nodes if not topo.successors[n]]

    def ledger_demand(self, node: str) -> list[float]:
        return [r.demand for r in self.rows if r.node == node]

    def ordered(self) -> list[float]:
        return [r.ordered for r in self.rows]


# --------------------------------------------------------------------------------------------------
# Same seed, same ledger.


@pytest.mark.parametrize(
    "data",
    [yaml_data("serial_3stage") | {"periods": 200}, yaml_data("hmarl_3store"), NETWORK],
    ids=["serial_3stage", "hmarl_3store", "crn_network"],
)
def test_same_seed_gives_a_byte_identical_ledger(data: dict[str, Any]) -> None:
    first, second = ledger_bytes(data), ledger_bytes(copy.deepcopy(data))
    assert first == second
    rows_a = Simulation(scenario_from_dict(data), trace=True).run()
    rows_b = Simulation(scenario_from_dict(data), trace=True).run()
    assert repr(rows_a.rows) == repr(rows_b.rows)
    assert rows_a.trace == rows_b.trace


_DIGEST = """
import hashlib, pickle, sys
from twin import Simulation, load_scenario
scenario = load_scenario(sys.argv[1])
rows = Simulation(scenario, replication=1).run().rows
print(hashlib.sha256(pickle.dumps(rows)).hexdigest())
"""


def test_ledger_is_identical_across_processes_and_hash_seeds(tmp_path: Path) -> None:
    path = tmp_path / "network.yaml"
    import yaml

    path.write_text(yaml.safe_dump(NETWORK), encoding="utf-8")
    digests = set()
    for hash_seed in ("0", "1", "12345"):
        env = {
            **os.environ,
            "PYTHONHASHSEED": hash_seed,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }
        out = subprocess.run(
            [sys.executable, "-c", _DIGEST, str(path)],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        digests.add(out.stdout.strip())
    here = hashlib.sha256(ledger_bytes(NETWORK, replication=1)).hexdigest()
    assert digests == {here}


def test_another_replication_or_seed_draws_other_demand() -> None:
    base = Draws(NETWORK, replication=0)
    other_rep = Draws(NETWORK, replication=1)
    other_seed = Draws(NETWORK | {"seed": 32}, replication=0)
    for node in ("s1", "s2", "s3", "dc"):
        assert not np.array_equal(base.demand[node], other_rep.demand[node]), node
        assert not np.array_equal(base.demand[node], other_seed.demand[node]), node
        assert base.ledger_demand(node) != other_rep.ledger_demand(node), node
    assert not np.array_equal(base.lead_times["dc->s1"], other_rep.lead_times["dc->s1"])
    # Replications are reproducible one by one (replication r of any run draws the same).
    assert ledger_bytes(NETWORK, replication=1) == pickle.dumps(other_rep.rows)


# --------------------------------------------------------------------------------------------------
# Common random numbers across what-if variants.


def assert_same_draws(a: Draws, b: Draws, *, except_demand_of: str | None = None) -> None:
    assert a.demand.keys() == b.demand.keys()
    for node in a.demand:
        if node != except_demand_of:
            np.testing.assert_array_equal(a.demand[node], b.demand[node], err_msg=node)
    for node in a.leaves:
        if node != except_demand_of:
            assert a.ledger_demand(node) == b.ledger_demand(node), node
    assert a.lead_times.keys() == b.lead_times.keys()
    for lane in a.lead_times:
        np.testing.assert_array_equal(a.lead_times[lane], b.lead_times[lane], err_msg=lane)
    # The lead time of a shipment depends only on its lane and period of dispatch.
    sent_a = {(s.lane, s.sent): s.lead_time for s in a.shipments}
    for s in b.shipments:
        if (s.lane, s.sent) in sent_a:
            assert s.lead_time == sent_a[(s.lane, s.sent)], s


def decided_nodes(data: dict[str, Any]) -> list[str]:
    scenario = scenario_from_dict(data)
    return sorted({n for i in range(len(scenario.agents)) for n in scenario.agent_nodes(i)})


CASES = [
    (name, node, kind)
    for name, data in (
        ("serial_3stage", yaml_data("serial_3stage") | {"periods": 120}),
        ("hmarl_3store", yaml_data("hmarl_3store") | {"periods": 120}),
        ("crn_network", NETWORK),
    )
    for node in decided_nodes(data)
    for kind in SWAPS
]


@pytest.mark.parametrize(("scenario", "node", "kind"), CASES)
def test_swapping_an_agent_keeps_every_demand_and_lead_time_draw(
    scenario: str, node: str, kind: str
) -> None:
    data = NETWORK if scenario == "crn_network" else yaml_data(scenario) | {"periods": 120}
    base = _base_draws(scenario)
    variant = Draws(edit_data(data, [assign(node, kind, SWAPS[kind])], source=scenario)[0])
    assert_same_draws(base, variant)


_BASE: dict[str, Draws] = {}


def _base_draws(scenario: str) -> Draws:
    if scenario not in _BASE:
        data = NETWORK if scenario == "crn_network" else yaml_data(scenario) | {"periods": 120}
        _BASE[scenario] = Draws(data)
    return _BASE[scenario]


def test_swapped_agents_do_change_the_decisions() -> None:
    """The variants above differ in what they order (else the CRN test would prove nothing)."""
    base = _base_draws("crn_network")
    changed = 0
    for node in decided_nodes(NETWORK):
        for kind in ("constant", "pass_through", "s_S"):
            variant = Draws(edit_data(NETWORK, [assign(node, kind, SWAPS[kind])], source="crn")[0])
            changed += variant.ordered() != base.ordered()
    assert changed == 3 * len(decided_nodes(NETWORK))


def test_changing_one_nodes_demand_keeps_the_other_draws() -> None:
    base = Draws(NETWORK)
    data = copy.deepcopy(NETWORK)
    s1 = next(n for n in data["nodes"] if n["id"] == "s1")
    s1["demand"] = {"dist": "negative_binomial", "n": 3, "p": 0.2}
    variant = Draws(data)
    assert not np.array_equal(base.demand["s1"], variant.demand["s1"])
    assert_same_draws(base, variant, except_demand_of="s1")


def test_adding_a_store_keeps_the_other_draws() -> None:
    base = Draws(NETWORK)
    data = copy.deepcopy(NETWORK)
    data["nodes"].append(
        {"id": "s4", "kind": "store", "initial_inventory": 10, "demand": {"dist": "poisson", "mean": 7}}
    )
    data["lanes"].append({"from": "hub", "to": "s4", "lead_time": {"dist": "poisson", "mean": 1}})
    data["agents"].append({"nodes": ["s4"], "kind": "base_stock", "params": {"base_stock_level": 20}})
    variant = Draws(data)
    for node, draws in base.demand.items():
        np.testing.assert_array_equal(draws, variant.demand[node], err_msg=node)
    for lane, draws in base.lead_times.items():
        np.testing.assert_array_equal(draws, variant.lead_times[lane], err_msg=lane)
