"""Multi-SKU scenarios: stock points, per-SKU overrides, validation errors, KPIs."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from entities.errors import ScenarioError, TwinError
from reconciliation.kpis import compute_kpis, ledger_frame
from reconciliation.report import customer_nodes
from twin.engine.simulation import Simulation, simulate
from twin.scenario import load_scenario, scenario_from_dict, stock_view

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


def two_sku(skus: list[str] | None = None) -> dict[str, Any]:
    """Supplier -> warehouse -> two stores; SKUs A and B with different demand and costs."""
    skus = skus or ["A", "B"]
    return {
        "name": "two_sku",
        "seed": 3,
        "periods": 60,
        "skus": [{"id": k, "defaults": {"holding_cost": 1.0 + i}} for i, k in enumerate(skus)],
        "nodes": [
            {"id": "SUP", "kind": "supplier"},
            {
                "id": "W",
                "kind": "warehouse",
                "initial_inventory": 30,
                "per_sku": {k: {"holding_cost": 0.5} for k in skus if k == "B"},
            },
            {
                "id": "S1",
                "kind": "store",
                "stockout_cost": 5,
                "per_sku": {
                    "A": {"demand": {"dist": "poisson", "mean": 6}},
                    "B": {"demand": {"dist": "poisson", "mean": 3}, "unmet_demand": "lost"},
                },
            },
            {"id": "S2", "kind": "store", "stockout_cost": 5, "demand": {"dist": "poisson", "mean": 4}},
        ],
        "lanes": [
            {"from": "SUP", "to": "W", "lead_time": {"dist": "uniform_int", "low": 1, "high": 3}},
            {"from": "W", "to": "S1", "lead_time": 1},
            {"from": "W", "to": "S2", "lead_time": {"dist": "uniform_int", "low": 0, "high": 2}},
        ],
        "agents": [
            {"tier": "store", "kind": "base_stock", "params": {"base_stock_level": 14}},
            {"nodes": ["W"], "kind": "s_S", "params": {"s": 20, "S": 45}},
        ],
    }


def restricted(data: dict[str, Any], skus: list[str]) -> dict[str, Any]:
    """The same scenario with only ``skus`` in the top-level list (per_sku entries of others go)."""
    out = copy.deepcopy(data)
    out["skus"] = [k for k in out["skus"] if k["id"] in skus]
    for n in out["nodes"]:
        n["per_sku"] = {k: v for k, v in n.get("per_sku", {}).items() if k in skus}
    return out


def test_stock_points_and_lanes_per_sku() -> None:
    s = stock_view(scenario_from_dict(two_sku()))
    assert [n.id for n in s.nodes] == ["SUP/A", "SUP/B", "W/A", "W/B", "S1/A", "S1/B", "S2/A", "S2/B"]
    assert [ln.id for ln in s.lanes] == [
        "SUP/A->W/A",
        "SUP/B->W/B",
        "W/A->S1/A",
        "W/B->S1/B",
        "W/A->S2/A",
        "W/B->S2/B",
    ]
    assert s.stock_point("W/B") == ("W", "B")
    assert s.lane_stream("W/B->S2/B") == "W->S2"
    cfg = s.node_map
    assert cfg["W/A"].holding_cost == 1.0 and cfg["W/B"].holding_cost == 0.5  # per_sku wins
    assert cfg["S1/B"].holding_cost == 2.0 and cfg["S1/B"].unmet_demand == "lost"
    assert cfg["S1/A"].demand.mean == 6 and cfg["S2/B"].demand.mean == 4


def test_single_sku_scenarios_are_their_own_view() -> None:
    s = load_scenario(SCENARIOS / "serial_3stage.yaml")
    assert stock_view(s) is s
    rows = simulate(s.model_copy(update={"periods": 5, "replications": 1})).rows
    assert {r.sku for r in rows} == {"default"}


def test_independent_skus_give_the_ledgers_of_separate_runs() -> None:
    """SKU A's rows are the same whether B is in the scenario or not (same streams: demand per
    stock point, lead times per location lane), for every column."""
    both = simulate(scenario_from_dict(two_sku())).rows
    alone = simulate(scenario_from_dict(restricted(two_sku(), ["A"]))).rows
    a_rows = [r for r in both if r.sku == "A"]
    assert a_rows == alone
    assert len(both) == 2 * len(alone)
    b_rows = [r for r in both if r.sku == "B"]
    assert b_rows == simulate(scenario_from_dict(restricted(two_sku(), ["B"]))).rows


def test_skus_on_one_lane_share_the_lead_time_of_a_period() -> None:
    from twin.engine.build import build
    from twin.engine.rng import RandomStreams

    net = build(scenario_from_dict(two_sku()), RandomStreams(3))
    lanes = {ln.id: ln for ln in net.lanes}
    assert list(lanes["SUP/A->W/A"].lead_times) == list(lanes["SUP/B->W/B"].lead_times)


def test_a_location_demand_is_drawn_per_sku() -> None:
    sim = Simulation(scenario_from_dict(two_sku()))
    draws = {d.node.id: list(d.quantities) for d in sim.network.demands}
    assert set(draws) == {"S1/A", "S1/B", "S2/A", "S2/B"}
    assert draws["S2/A"] != draws["S2/B"]  # same distribution, own streams


def test_liu_timing_with_several_skus_conserves_stock() -> None:
    data = two_sku()
    data["timing"] = "liu"
    rows = simulate(scenario_from_dict(data), audit=True).rows
    assert len(rows) == 60 * 8


def test_ledger_rows_carry_location_and_sku() -> None:
    rows = simulate(scenario_from_dict(two_sku())).rows
    assert {(r.node, r.sku) for r in rows} == {
        (n, k) for n in ("SUP", "W", "S1", "S2") for k in ("A", "B")
    }
    b_lost = [r for r in rows if (r.node, r.sku) == ("S1", "B")]
    assert all(r.backorders == 0 for r in b_lost) and sum(r.lost_sales for r in b_lost) >= 0


def test_kpis_per_sku_and_per_period_averages() -> None:
    s = scenario_from_dict(two_sku())
    results = [simulate(s, replication=r) for r in range(2)]
    df = ledger_frame(results)
    kpis = compute_kpis(df, 0, customer_nodes=customer_nodes(s))
    assert customer_nodes(s) == ["S1", "S2"]
    assert set(kpis["skus"]) == {"A", "B"}
    total = sum(kpis["skus"][k]["cost_per_period"]["mean"] for k in ("A", "B"))
    assert total == pytest.approx(kpis["network"]["cost_per_period"]["mean"])
    # A node's average on-hand is per period: the sum of its SKU rows / periods (not / rows).
    w = df[df["node"] == "W"]
    per_rep = w.groupby("replication")["closing_on_hand"].sum() / s.periods
    assert kpis["nodes"]["W"]["average_on_hand"]["mean"] == pytest.approx(per_rep.mean())
    assert kpis["tiers"]["store"]["nodes"] == ["S1", "S2"]
    a = df[(df["sku"] == "A") & df["node"].isin(["S1", "S2"])]
    fill = (
        a.groupby("replication")["filled_on_time"].sum() / a.groupby("replication")["demand"].sum()
    ).mean()
    assert kpis["skus"]["A"]["fill_rate"]["mean"] == pytest.approx(fill)


def test_single_sku_kpis_have_no_sku_section() -> None:
    s = load_scenario(SCENARIOS / "serial_3stage.yaml", {"periods": 20, "warmup_periods": 0})
    kpis = compute_kpis(ledger_frame([simulate(s)]), 0)
    assert "skus" not in kpis


def test_agent_selectors_by_sku_and_stock_point() -> None:
    data = two_sku()
    data["agents"] = [
        {"tier": "store", "sku": "A", "kind": "base_stock", "params": {"base_stock_level": 14}},
        {
            "nodes": ["S1/B", "S2/B"],
            "kind": "base_stock",
            "params": {"base_stock_level": {"S1/B": 7, "S2/B": 9}},
        },
        {"nodes": ["W"], "sku": ["A", "B"], "kind": "s_S", "params": {"s": 20, "S": 45}},
    ]
    s = stock_view(scenario_from_dict(data))
    assert [a.nodes for a in s.agents] == [["S1/A", "S2/A"], ["S1/B", "S2/B"], ["W/A", "W/B"]]
    assert simulate(scenario_from_dict(data)).rows


def test_lane_sku_subset() -> None:
    data = two_sku()
    data["lanes"][2]["skus"] = ["A"]
    data["nodes"][3]["skus"] = ["A", "B"]
    with pytest.raises(ScenarioError, match=r"nodes\[3\]: store 'S2/B' has no supply path"):
        scenario_from_dict(data)
    data["nodes"][3]["skus"] = ["A"]
    s = stock_view(scenario_from_dict(data))
    assert [ln.id for ln in s.lanes if ln.destination.startswith("S2")] == ["W/A->S2/A"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda d: d["nodes"][1].update(skus=["A", "C"]),
            r"two_sku: nodes\[1\]\.skus\[1\]: 'C' is not a SKU",
        ),
        (
            lambda d: d["nodes"][1].update(skus=["A", "Bx"]),
            r"nodes\[1\]\.skus\[1\]: 'Bx' is not a SKU; did you mean 'B'\?",
        ),
        (
            lambda d: d["nodes"][2]["per_sku"].update(C={"holding_cost": 1}),
            r"nodes\[2\]\.per_sku\.C: 'C' is not a SKU stocked at 'S1'",
        ),
        (
            lambda d: d["nodes"][2]["per_sku"]["A"].update(holding_cost=-1),
            r"nodes\[2\]\.per_sku\.A: SKU 'A': holding_cost: Input should be greater than or equal",
        ),
        (
            lambda d: d["nodes"][2]["per_sku"]["A"].update(colour="red"),
            r"nodes\[2\]\.per_sku\.A: SKU 'A': colour: unknown key",
        ),
        (lambda d: d["skus"].append({"id": "A"}), r"skus\[2\]\.id: duplicate SKU id 'A'"),
        (lambda d: d["skus"].append({"id": "x/y"}), r"skus\[2\]\.id: SKU id must not contain '/'"),
        (lambda d: d["lanes"][1].update(skus=["Z"]), r"lanes\[1\]\.skus\[0\]: 'Z' is not a SKU"),
        (lambda d: d["agents"][1].update(sku="Q"), r"agents\[1\]\.sku: 'Q' is not a SKU"),
        (
            lambda d: d["agents"][1].update(nodes=["WW"]),
            r"agents\[1\]\.nodes\[0\]: 'WW' is neither a node nor a stock point; did you mean 'W'\?",
        ),
        (
            lambda d: d["agents"].append(
                {"nodes": ["W/A"], "kind": "base_stock", "params": {"base_stock_level": 3}}
            ),
            r"agents\[2\]\.nodes\[0\]: 'W/A' is already decided by agents\[1\]",
        ),
        (
            lambda d: d["agents"][1].update(params={"s": {"W": 1}, "S": 4}),
            r"agents\[1\]\.params: s_S: .*W/A",
        ),
        (
            lambda d: d["nodes"][1].update(bom={"A": {"B": 1}}),
            r"nodes\[1\]\.bom: only factories have a bom",
        ),
        (
            lambda d: d["nodes"][2]["per_sku"]["A"].update(bom={"A": {"B": 1}}),
            r"nodes\[2\]\.per_sku\.A: SKU 'A': skus, per_sku and bom cannot be set per SKU",
        ),
        (lambda d: d.pop("skus"), r"nodes\[1\]\.per_sku: needs a top-level 'skus' list"),
    ],
)
def test_errors_name_the_yaml_path(edit: Any, message: str) -> None:
    data = two_sku()
    edit(data)
    with pytest.raises(ScenarioError, match=message):
        scenario_from_dict(data, source="two_sku")


def test_sku_keys_without_skus_are_rejected() -> None:
    data = load_scenario(SCENARIOS / "serial_3stage.yaml").to_yaml_dict()
    data["agents"][0]["sku"] = "A"
    with pytest.raises(ScenarioError, match=r"agents\[0\]\.sku: needs a top-level 'skus' list"):
        scenario_from_dict(data)


def test_resolved_scenario_round_trips() -> None:
    s = scenario_from_dict(two_sku())
    again = scenario_from_dict(s.to_yaml_dict())
    assert stock_view(again).nodes == stock_view(s).nodes
    assert simulate(again).rows == simulate(s).rows


def test_copies_and_pickles_rebuild_their_stock_view() -> None:
    import pickle

    s = scenario_from_dict(two_sku())
    short = s.model_copy(update={"periods": 7})
    assert stock_view(short).periods == 7 and stock_view(s).periods == 60
    assert len(simulate(short).rows) == 7 * 8
    again = pickle.loads(pickle.dumps(s))
    assert stock_view(again).nodes == stock_view(s).nodes


def test_cli_agent_override_on_a_stock_point_location_or_tier() -> None:
    from twin.scenario.edit import agent_option, assign, edit

    base = scenario_from_dict(two_sku(), source="x")
    out = edit(base, agent_option("W/B=base_stock:base_stock_level=30"))
    assert [(a.nodes, a.kind) for a in stock_view(out).agents] == [
        (["S1/A", "S1/B", "S2/A", "S2/B"], "base_stock"),
        (["W/A"], "s_S"),
        (["W/B"], "base_stock"),
    ]
    out = edit(out, assign("store", "s_S", {"s": 3, "S": 9}))
    assert [a.nodes for a in stock_view(out).agents] == [
        ["W/A"],
        ["W/B"],
        ["S1/A", "S1/B", "S2/A", "S2/B"],
    ]
    # Several targets in one entry: a stock point and a location.
    out = edit(base, "agents[W/A,S2]=base_stock:base_stock_level=9")
    assert [(a.nodes, a.kind) for a in stock_view(out).agents] == [
        (["S1/A", "S1/B"], "base_stock"),
        (["W/B"], "s_S"),
        (["W/A", "S2/A", "S2/B"], "base_stock"),
    ]
    with pytest.raises(
        ScenarioError,
        match=r"x: --agent 'W/C=base_stock': 'W/C' is not a node, stock point or tier; "
        r"did you mean 'W/[AB]'\?",
    ):
        edit(base, agent_option("W/C=base_stock"))


def test_what_if_override_of_one_stock_point() -> None:
    from twin.scenario.edit import edit_data

    out, _ = edit_data(
        two_sku(),
        [
            "agents.W/A=base_stock:base_stock_level=50",
            "nodes.S1.per_sku.A={holding_cost: 3, demand: {dist: poisson, mean: 6}}",
        ],
        source="x",
    )
    s = stock_view(scenario_from_dict(out))
    assert [(a.nodes, a.kind) for a in s.agents][-2:] == [(["W/B"], "s_S"), (["W/A"], "base_stock")]
    assert s.node_map["S1/A"].holding_cost == 3


def test_tune_rejects_multi_sku() -> None:
    from twin.studies.tune import tune

    with pytest.raises(ScenarioError, match="does not support multi-SKU"):
        tune(two_sku(), "W", "s_S", source="x")


def test_rl_environment_rejects_multi_sku() -> None:
    from twin.rl.env import TwinParallelEnv

    with pytest.raises(TwinError, match="multi-SKU"):
        TwinParallelEnv(scenario_from_dict(two_sku()))


@pytest.mark.parametrize("name", ["multi_sku_bom.yaml", "continuous_review.yaml"])
def test_shipped_scenarios_run_with_the_audit(name: str) -> None:
    s = load_scenario(SCENARIOS / name)
    results = [simulate(s, replication=r, audit=True) for r in range(s.replications)]
    kpis = compute_kpis(ledger_frame(results), s.warmup_periods, customer_nodes=customer_nodes(s))
    assert 0.9 < kpis["network"]["fill_rate"]["mean"] <= 1.0
    if s.skus:
        assert set(kpis["skus"]) == {k.id for k in s.skus}
