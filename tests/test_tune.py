"""Simulation-optimisation of rule parameters (twin.tune)."""

from __future__ import annotations

import copy

import pytest
import yaml

from entities.errors import ScenarioError
from twin import Simulation, load_scenario
from twin.scenario import read_yaml, scenario_from_dict
from twin.studies.tune import event_costs, start_point, tune, tuned_scenario_data
from twin.studies.tune_space import demand_rate
from twin.tune import main

SERIAL = "scenarios/serial_3stage.yaml"
STAGES = ["stage1", "stage2", "stage3"]


def serial_with_installation_policy() -> dict:
    data = read_yaml(SERIAL)
    data["agents"] = [
        {
            "nodes": STAGES,
            "kind": "base_stock",
            "params": {"base_stock_level": {"stage1": 7, "stage2": 6, "stage3": 11}},
        }
    ]
    return data


def test_start_point_is_the_clark_scarf_optimum_on_a_serial_chain():
    scenario = scenario_from_dict(serial_with_installation_policy())
    levels = start_point(scenario, "echelon_base_stock", STAGES)["base_stock_level"]
    # Snyder & Shen Example 6.1: (6.49, 12.02, 22.71).
    assert [round(levels[n], 2) for n in STAGES] == [6.49, 12.02, 22.71]


def test_start_point_reuses_the_scenarios_own_parameters():
    scenario = scenario_from_dict(read_yaml("scenarios/hmarl_3store.yaml"))
    start = start_point(scenario, "base_stock", ["store_1", "store_2"])
    assert start == {"base_stock_level": {"store_1": 130.0, "store_2": 190.0}}


def test_tuning_never_ends_worse_than_its_start_and_uses_common_random_numbers():
    data = serial_with_installation_policy()
    data.update(periods=200, warmup_periods=20)
    # A deliberately poor start: stage 1 far too high.
    data["agents"][0]["params"]["base_stock_level"]["stage1"] = 12
    result = tune(data, "stage1", "base_stock", replications=3, budget=25)
    assert result.cost <= result.start_cost
    assert result.params["base_stock_level"]["stage1"] < 12
    # Re-evaluating the tuned point on the same replications reproduces its cost exactly (CRN).
    tuned = scenario_from_dict(tuned_scenario_data(data, result, "<test>"))
    again = sum(event_costs(tuned, [0, 1, 2])) / 3
    assert again == pytest.approx(result.cost, abs=1e-12)


def test_cli_writes_a_loadable_tuned_scenario(tmp_path, capsys):
    data = read_yaml("scenarios/hmarl_3store.yaml")
    data.update(periods=60, warmup_periods=10, replications=2)
    src = tmp_path / "h.yaml"
    src.write_text(yaml.safe_dump(data))
    out = tmp_path / "tuned.yaml"
    code = main(
        [
            str(src),
            "--target",
            "warehouse_1",
            "--kind",
            "s_S",
            "--budget",
            "8",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert code == 0
    tuned = scenario_from_dict(read_yaml(out))
    kinds = {a.kind: a for a in tuned.agents}
    assert kinds["s_S"].nodes == ["warehouse_1"]
    assert set(kinds["s_S"].params) == {"s", "S"}
    assert "cost per period" in capsys.readouterr().out
    # An existing output is refused without --overwrite.
    assert (
        main(
            [
                str(src),
                "--target",
                "warehouse_1",
                "--kind",
                "s_S",
                "--budget",
                "2",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 2
    )


def test_cli_errors_are_one_line(tmp_path, capsys):
    code = main(
        [
            SERIAL,
            "--target",
            "stage9",
            "--kind",
            "base_stock",
            "--quiet",
            "--out",
            str(tmp_path / "x.yaml"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert f"{SERIAL}: --target 'stage9' is not a node or tier; did you mean 'stage" in err
    assert not (tmp_path / "x.yaml").exists()


def test_untunable_kind_is_refused():
    with pytest.raises(ScenarioError, match="cannot be tuned"):
        tune(copy.deepcopy(read_yaml(SERIAL)), "stage1", "pass_through")


# -- every rule kind, several targets, fixed parameters, engines -----------------------------------


def one_store(fixed_cost: float) -> dict:
    """A store with Poisson(20) demand, lead time 1, h = 1, p = 10 (backlog), ordering cost K."""
    return {
        "name": "one_store",
        "seed": 3,
        "periods": 160,
        "warmup_periods": 10,
        "replications": 3,
        "nodes": [
            {"id": "dc", "kind": "supplier"},
            {
                "id": "store",
                "kind": "store",
                "holding_cost": 1,
                "stockout_cost": 10,
                "initial_inventory": 40,
                "demand": {"dist": "poisson", "mean": 20},
            },
        ],
        "lanes": [{"from": "dc", "to": "store", "lead_time": 1, "fixed_cost": fixed_cost}],
        "agents": [{"nodes": ["store"], "kind": "base_stock", "params": {"base_stock_level": 50}}],
    }


def test_periodic_review_is_tuned_from_scratch_and_reviews_less_often_when_orders_cost():
    """From a base-stock scenario: with K = 200 per order, ordering every period costs at least
    200 a period, so the search must find a longer review period (the economic order interval
    sqrt(2K / (h D)) is 4.5 periods) and a far lower cost."""
    result = tune(one_store(200), "store", "periodic_review", budget=60)
    (target,) = result.targets
    assert target.start_params["review_period"] == 1
    assert target.params["review_period"] >= 3
    assert 0 <= target.params["offset"] < target.params["review_period"]
    assert result.cost < 0.8 * result.start_cost
    data = tuned_scenario_data(one_store(200), result, "<test>")
    (entry,) = [a for a in data["agents"] if a["kind"] == "periodic_review"]
    assert entry["params"]["review_period"] == target.params["review_period"]


def test_fixed_parameters_of_the_spec_are_kept_and_not_searched():
    result = tune(one_store(200), "store", "periodic_review:review_period=3", budget=25)
    (target,) = result.targets
    assert target.fixed == {"review_period": 3}
    assert set(target.params) == {"order_up_to_level", "offset"}
    assert target.agent_params()["review_period"] == 3
    assert target.params["offset"] in (0, 1, 2)


def liu(periods: int = 60, replications: int = 4) -> dict:
    data = read_yaml("scenarios/liu_serial.yaml")
    data.update(periods=periods, replications=replications)
    data["nodes"][0]["demand"] = {"dist": "merton"}
    return data


def test_adaptive_multiples_are_tuned_in_hundredths_with_the_cap_fixed():
    spec = "adaptive_base_stock:integer=true,max_order=20"
    result = tune(liu(), "retailer,distributor,manufacturer", spec, budget=40)
    assert result.cost <= result.start_cost
    multiples = result.params["multiple"]
    assert all(round(k, 2) == k and k > 0 for k in multiples.values())
    tuned = scenario_from_dict(tuned_scenario_data(liu(), result, "<test>"))
    (entry,) = [a for a in tuned.agents if a.kind == "adaptive_base_stock"]
    assert entry.params["max_order"] == 20 and entry.params["integer"] is True
    rows = [r for rep in range(4) for r in Simulation(tuned, replication=rep).run().rows]
    assert max(r.ordered for r in rows) <= 20


def test_point_of_sale_multiples_start_from_the_customers_demand_and_are_tuned():
    """``demand: customer``: the start multiple covers the same level in units of all customers'
    demand (not the node's own), and the tuned entry keeps the fixed ``demand: customer``."""
    scenario = load_scenario("scenarios/liu_net_2x3.yaml")
    nodes = [n.id for n in scenario.nodes if n.tier_name == "retailer"]  # each sees half
    own = start_point(scenario, "adaptive_base_stock", nodes)["multiple"]
    pos = start_point(scenario, "adaptive_base_stock", nodes, {"demand": "customer"})["multiple"]
    customers = sum(n.demand.mean for n in scenario.nodes if n.demand is not None)
    for n in nodes:
        served = demand_rate(scenario, n)[0]
        assert 0 < served < customers
        assert pos[n] * customers == pytest.approx(own[n] * served, abs=0.01 * customers)
    spec = "adaptive_base_stock:demand=customer,position=echelon,integer=true,max_order=20"
    result = tune(liu(), "retailer,distributor,manufacturer", spec, budget=40)
    assert result.cost <= result.start_cost
    tuned = scenario_from_dict(tuned_scenario_data(liu(), result, "<test>"))
    (entry,) = [a for a in tuned.agents if a.kind == "adaptive_base_stock"]
    assert entry.params["demand"] == "customer" and entry.params["position"] == "echelon"


def test_days_of_cover_thresholds_are_tuned_in_order():
    data = read_yaml("scenarios/hmarl_3store.yaml")
    data.update(periods=80, warmup_periods=10, replications=2)
    result = tune(data, "warehouse_1", "hmarl_warehouse", budget=20)
    (target,) = result.targets
    assert target.start_params == {"low_cover": 3.0, "target_cover": 7.0, "high_cover": 14.0}
    p = target.params
    assert 0 <= p["low_cover"] <= p["target_cover"] <= p["high_cover"]
    assert result.cost <= result.start_cost


def hmarl_small() -> dict:
    data = read_yaml("scenarios/hmarl_3store.yaml")
    data.update(periods=70, warmup_periods=10, replications=2)
    return data


def test_several_targets_are_tuned_jointly_each_with_its_own_entry(tmp_path, capsys):
    src = tmp_path / "h.yaml"
    src.write_text(yaml.safe_dump(hmarl_small()))
    out = tmp_path / "tuned.yaml"
    args = [str(src), "--target", "store=base_stock", "--target", "warehouse_1=s_S:S=900"]
    assert main([*args, "--budget", "12", "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("tuned base_stock at store_1, store_2, store_3 and s_S at warehouse_1")
    assert "  s[warehouse_1] = " in printed and "S[warehouse_1]" not in printed  # S is fixed
    tuned = scenario_from_dict(read_yaml(out))
    entries = {a.kind: a for a in tuned.agents}
    assert entries["base_stock"].nodes == ["store_1", "store_2", "store_3"]
    assert entries["s_S"].nodes == ["warehouse_1"] and entries["s_S"].params["S"] == 900
    # The reported cost is the cost of the scenario written (common random numbers).
    reported = float(printed.split("cost per period ")[1].split()[0])
    assert sum(event_costs(tuned, [0, 1])) / 2 == pytest.approx(reported, abs=5e-5)


def test_a_list_target_with_one_kind_is_one_entry():
    result = tune(hmarl_small(), "store,warehouse_1", "s_S", budget=6)
    assert [t.nodes for t in result.targets] == [["store_1", "store_2", "store_3", "warehouse_1"]]


def test_the_vector_engine_finds_the_same_point_at_the_same_cost(tmp_path, capsys):
    src = tmp_path / "l.yaml"
    src.write_text(yaml.safe_dump(liu(periods=50, replications=3)))
    printed = {}
    for engine in ("event", "vector"):
        out = tmp_path / f"{engine}.yaml"
        args = [str(src), "--target", "retailer,distributor,manufacturer", "--kind", "base_stock"]
        assert main([*args, "--budget", "15", "--engine", engine, "--out", str(out), "--quiet"]) == 0
        printed[engine] = capsys.readouterr().out.replace(f"{engine}.yaml", "")
        assert read_yaml(out)["agents"] == read_yaml(tmp_path / "event.yaml")["agents"]
    assert printed["event"] == printed["vector"]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            ["--target", "stage1"],
            "--target 'stage1' has no kind: give --kind KIND or --target stage1=KIND",
        ),
        (
            ["--target", "stage1=s_Z"],
            "--target 'stage1=s_Z': 's_Z' cannot be tuned (did you mean 's_S'?); tunable kinds: base_stock,",
        ),
        (
            ["--target", "stage1", "--kind", "pass_through"],
            "--kind 'pass_through': 'pass_through' cannot be tuned",
        ),
        (
            ["--target", "stage1,stage2=s_S", "--target", "stage2=base_stock"],
            "--target 'stage2=base_stock': node 'stage2' is also in --target 'stage1,stage2=s_S'",
        ),
        (
            ["--target", "stage1=s_S:s=1,S=5"],
            "every tunable parameter of s_S is fixed (s, S); nothing to search",
        ),
        (["--target", "stage1=s_S:z=3"], "--target 'stage1=s_S:z=3': "),
        (
            ["--target", "stage1=s_S:review=continuous", "--engine", "vector"],
            "--engine vector: ",
        ),
    ],
)
def test_target_mistakes_are_one_line_before_the_search(tmp_path, monkeypatch, capsys, extra, expected):
    import twin.tune

    def forbidden(*args, **kwargs):
        raise AssertionError("the search started")

    monkeypatch.setattr(twin.tune, "tune", forbidden)
    assert main([SERIAL, *extra, "--out", str(tmp_path / "t.yaml"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and expected in err, err
    assert list(tmp_path.iterdir()) == []


def test_a_parameter_of_several_nodes_also_moves_at_all_of_them_at_once():
    """Constant orders of a serial chain: from 10 at every level, ordering one unit less at any
    single level piles stock up or runs it down between levels, so no single move improves;
    ordering less at every level at once does (the mean Merton demand is about 9)."""
    data = liu(periods=100, replications=6)
    data["agents"][0]["params"]["quantity"] = 10
    result = tune(data, "retailer,distributor,manufacturer", "constant", budget=20)
    assert result.cost < result.start_cost
    assert len(set(result.params["quantity"].values())) == 1


# -- a service target (--min-fill) ------------------------------------------------------------


def lean_hmarl() -> dict:
    """hmarl_3store over 80 periods with stores that start below their demand over a lead time."""
    data = read_yaml("scenarios/hmarl_3store.yaml")
    data.update(periods=80, warmup_periods=10, replications=3)
    data["agents"][0]["params"]["base_stock_level"] = {"store_1": 70, "store_2": 100, "store_3": 130}
    return data


def short_hmarl(tmp_path) -> tuple[dict, str]:
    data = lean_hmarl()
    src = tmp_path / "h.yaml"
    src.write_text(yaml.safe_dump(data))
    return data, str(src)


def test_fill_rates_are_the_kpi_tables_and_the_vector_twin_agrees():
    from reconciliation.kpis import compute_kpis, ledger_frame
    from reconciliation.report import customer_nodes
    from twin.rl.vector import replication_costs, replication_costs_and_fill_rates
    from twin.studies.tune import event_costs_and_fill_rates

    scenario = scenario_from_dict(lean_hmarl())
    costs, fills = event_costs_and_fill_rates(scenario, [0, 1, 2])
    assert costs == event_costs(scenario, [0, 1, 2])
    for r, fill in enumerate(fills):
        kpis = compute_kpis(
            ledger_frame([Simulation(scenario, replication=r).run()]),
            10,
            customer_nodes=customer_nodes(scenario),
        )
        assert fill == pytest.approx(kpis["network"]["fill_rate"]["mean"], abs=1e-12)
        assert 0.0 < fill < 1.0  # the rule runs short at times: the target below can bind
    vector_costs, vector_fills = replication_costs_and_fill_rates(scenario, [0, 1, 2])
    assert vector_costs == pytest.approx(replication_costs(scenario, [0, 1, 2]), abs=1e-12)
    assert vector_costs == pytest.approx(costs, abs=1e-9)
    assert vector_fills == pytest.approx(fills, abs=1e-9)


def test_candidates_below_the_fill_target_are_infeasible(tmp_path):
    """The cheapest stores run out more often; a target above the unconstrained result's fill rate
    makes that result infeasible, and the search returns one that meets the target at a higher
    cost (every candidate it evaluated at or above the target cost at least as much)."""
    from twin.studies.tune import event_costs_and_fill_rates

    data, _ = short_hmarl(tmp_path)
    free = tune(data, "store", "base_stock", budget=30)
    free_fill = float(
        sum(
            event_costs_and_fill_rates(
                scenario_from_dict(tuned_scenario_data(data, free, "f")), [0, 1, 2]
            )[1]
        )
        / 3
    )
    target = min(1.0, free_fill + 0.004)
    held = tune(data, "store", "base_stock", budget=30, min_fill=target)
    assert held.feasible and held.fill_rate is not None and held.fill_rate >= target
    assert held.cost > free.cost
    tuned = scenario_from_dict(tuned_scenario_data(data, held, "<test>"))
    costs, fills = event_costs_and_fill_rates(tuned, [0, 1, 2])
    assert sum(fills) / 3 == pytest.approx(held.fill_rate, abs=1e-12)
    assert sum(costs) / 3 == pytest.approx(held.cost, abs=1e-9)
    # Without a target nothing is measured and every result is feasible.
    assert free.fill_rate is None and free.feasible


def test_cli_min_fill_prints_the_fill_rate_and_refuses_an_unreachable_target(tmp_path, capsys):
    _, src = short_hmarl(tmp_path)
    out = tmp_path / "t.yaml"
    argv = [src, "--target", "store", "--kind", "base_stock", "--budget", "6", "--quiet"]
    assert main([*argv, "--min-fill", "0.9", "--engine", "vector", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "(target at least 0.9)" in printed and out.exists()
    # A target no candidate reaches within the budget: one line, exit 2, nothing written.
    never = tmp_path / "never.yaml"
    assert main([*argv, "--min-fill", "1", "--out", str(never)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "--min-fill 1: no candidate" in err and "\n" not in err
    assert not never.exists() and not list(tmp_path.glob("never.yaml*"))
    assert main([*argv, "--min-fill", "1.5", "--out", str(never)]) == 2
    assert "--min-fill must be a fill rate in [0, 1], got 1.5" in capsys.readouterr().err
