"""Profit as well as cost: unit sale prices, revenue and profit in the ledger, the audit, the KPIs,
the what-if tables and the rewards; and Liu et al.'s bullwhip measure, the coefficient of
variation of each echelon's orders.

Laws, not recorded numbers: revenue is the price times the units sold to customers (transfers
inside the network earn nothing), profit is revenue minus total cost in every row, KPI and reward,
and the order CV is the sample standard deviation over the mean of the orders per period.
"""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from entities.errors import ReconciliationError, ScenarioError
from reconciliation.audit import check_row
from reconciliation.kpis import compute_kpis, kpi_table, ledger_frame
from reconciliation.ledger import LEDGER_COLUMNS, QUANTITY_START, LedgerRow
from reconciliation.rewards import reward_from_rows
from reconciliation.whatif import comparison_text, flatten_kpis, kpi_spec
from twin import Simulation, load_scenario, scenario_from_dict
from twin.compare import main as compare
from twin.engine import run_scenario
from twin.rl.env import gym_env, parallel_env
from twin.scenario.errors import MESSAGE_WIDTH

ROOT = Path(__file__).resolve().parents[1]
PROFIT = ROOT / "scenarios" / "profit_serial.yaml"
SERIAL = ROOT / "scenarios" / "serial_3stage.yaml"
TARGETS = ["retailer", "distributor", "factory"]


def profit_serial(**top: Any) -> Any:
    return load_scenario(PROFIT, top or None)


def refused(data: dict[str, Any]) -> str:
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict(data, source="s.yaml")
    message = str(info.value)
    assert "\n" not in message and len(message) <= MESSAGE_WIDTH, message
    return message


def small_chain(**store: Any) -> dict[str, Any]:
    """A store and its make-to-order supplier."""
    return {
        "name": "small",
        "periods": 10,
        "nodes": [
            {"id": "S", "kind": "store", "demand": 5, "initial_inventory": 10, **store},
            {"id": "SUP", "kind": "supplier"},
        ],
        "lanes": [{"from": "SUP", "to": "S", "lead_time": 1}],
        "agents": [{"nodes": ["S"], "kind": "base_stock", "params": {"base_stock_level": 12}}],
    }


# --------------------------------------------------------------------------------------------------
# The ledger: revenue on sales to customers, profit = revenue - total cost.


def test_revenue_is_the_price_of_units_sold_and_transfers_earn_nothing():
    scenario = profit_serial(replications=1)
    rows = Simulation(scenario, replication=0).run().rows
    price = {n.id: n.price for n in scenario.nodes}
    assert price["retailer"] == 2.0 and price["distributor"] == 0.0
    for r in rows:
        assert r.revenue == price[r.node] * r.sold, r
        assert r.profit == r.revenue - r.total_cost, r
    shipped = sum(r.shipped for r in rows if r.node in ("distributor", "factory"))
    assert shipped > 0 and all(r.revenue == 0.0 for r in rows if r.node != "retailer")
    sold = math.fsum(r.sold for r in rows)
    assert sold > 0
    network_profit = math.fsum(r.profit for r in rows)
    assert network_profit == pytest.approx(2.0 * sold - math.fsum(r.total_cost for r in rows))


def test_without_prices_revenue_is_zero_and_profit_minus_cost():
    rows = Simulation(load_scenario(SERIAL, {"periods": 30, "warmup_periods": 0})).run().rows
    assert all(r.revenue == 0.0 and r.profit == -r.total_cost for r in rows)
    assert any(r.total_cost > 0 for r in rows)


def test_price_per_sku_from_the_sku_defaults_and_the_nodes_per_sku_entry():
    data = {
        "name": "two_products",
        "periods": 30,
        "skus": [{"id": "A", "defaults": {"price": 3.0}}, {"id": "B", "defaults": {"price": 1.0}}],
        "nodes": [
            {"id": "SUP", "kind": "supplier"},
            {
                "id": "S1",
                "kind": "store",
                "per_sku": {"A": {"demand": 4}, "B": {"demand": 6, "price": 5.0}},
            },
            {"id": "S2", "kind": "store", "per_sku": {"A": {"demand": 2}, "B": {"demand": 3}}},
        ],
        "lanes": [
            {"from": "SUP", "to": "S1", "lead_time": 1},
            {"from": "SUP", "to": "S2", "lead_time": 1},
        ],
        "agents": [{"nodes": ["S1", "S2"], "kind": "base_stock", "params": {"base_stock_level": 12}}],
    }
    scenario = scenario_from_dict(data, source="two_products.yaml")
    result = Simulation(scenario).run()
    expected = {("S1", "A"): 3.0, ("S1", "B"): 5.0, ("S2", "A"): 3.0, ("S2", "B"): 1.0}
    sold = dict.fromkeys(expected, 0.0)
    for r in result.rows:
        if r.node == "SUP":
            assert r.revenue == 0.0
            continue
        assert r.revenue == expected[(r.node, r.sku)] * r.sold, r
        sold[(r.node, r.sku)] += r.sold
    assert all(v > 0 for v in sold.values()), sold
    kpis = compute_kpis([result], 0)
    for sku in ("A", "B"):
        revenue = sum(expected[k] * v for k, v in sold.items() if k[1] == sku) / 30
        assert kpis["skus"][sku]["revenue_per_period"]["mean"] == pytest.approx(revenue)
    message = refused(
        {**data, "nodes": [data["nodes"][0], {**data["nodes"][1], "per_sku": {"B": {"price": -1}}}]}
    )
    assert message == (
        "s.yaml: nodes[1].per_sku.B: SKU 'B': price: Input should be greater than or equal to 0 (got -1)"
    )


def test_prices_are_validated_like_costs():
    assert refused(small_chain(price=-1)) == (
        "s.yaml: nodes[0].price: Input should be greater than or equal to 0 (got -1)"
    )
    assert refused(small_chain(price=1e12)) == (
        "s.yaml: nodes[0].price: 1e+12 is above the limit of 1e+09 for a price"
    )
    assert "nodes[0].price: Input should be a finite number" in refused(small_chain(price=math.inf))


def test_reward_weights_are_checked_when_the_scenario_is_validated(tmp_path):
    data = small_chain()
    assert refused({**data, "reward": {"weights": {"proft": 1}}}) == (
        "s.yaml: reward.weights.proft: not a reward quantity; did you mean 'profit'? (got 'proft')"
    )
    assert "reward.weights.profit: Input should be a finite number" in refused(
        {**data, "reward": {"weights": {"profit": math.nan}}}
    )
    assert scenario_from_dict({**data, "reward": {"weights": {"profit": 1}}}).reward.weights == {
        "profit": 1.0
    }
    bad = tmp_path / "bad.yaml"
    bad.write_text(PROFIT.read_text().replace("{profit: 1.0}", "{revenu: 1.0}"))
    out = subprocess.run(
        [sys.executable, "-m", "twin.validate", str(bad)], cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == 2
    assert out.stdout + out.stderr == (
        f"error: {bad}: reward.weights.revenu: not a reward quantity; did you mean 'revenue'? "
        "(got 'revenu')\n"
    )


# --------------------------------------------------------------------------------------------------
# The audit: revenue >= 0, profit == revenue - total_cost.


def _row(**values: float) -> LedgerRow:
    data = dict.fromkeys(LEDGER_COLUMNS[QUANTITY_START:], 0.0)
    data.update(values)
    return LedgerRow(7, "S", "default", "store", 1, **data)


def test_a_row_whose_profit_is_not_revenue_minus_cost_is_refused():
    check_row(_row(holding_cost=2.0, total_cost=2.0, revenue=5.0, profit=3.0))
    with pytest.raises(
        ReconciliationError, match=r"^profit 4 != revenue 5 - total_cost 2 at node 'S', period 7$"
    ):
        check_row(_row(holding_cost=2.0, total_cost=2.0, revenue=5.0, profit=4.0))
    check_row(_row(holding_cost=2.0, total_cost=2.0, profit=-2.0))  # profit alone may be negative
    with pytest.raises(ReconciliationError, match=r"^negative revenue = -1 at node 'S', period 7$"):
        check_row(_row(revenue=-1.0, profit=-1.0))


def test_the_running_audit_catches_negative_revenue():
    """A price the schema never lets through, put into a running twin's cost parameters (as a bug
    in the twin would): the audit names the node, the first period with sales and the number."""
    sim = Simulation(profit_serial(periods=12, replications=1))
    layout = sim.recorder.ledger.layout
    rates = dataclasses.replace(layout.rates, price=-layout.rates.price)
    object.__setattr__(layout, "rates", rates)  # frozen: changed here only to inject the fault
    with pytest.raises(
        ReconciliationError, match=r"^negative revenue = -\d+ at node 'retailer', period 0$"
    ):
        sim.run()


# --------------------------------------------------------------------------------------------------
# KPIs: revenue and profit per period; Liu et al.'s order CV.


@pytest.fixture(scope="module")
def priced_run():
    scenario = profit_serial(replications=3)
    results = run_scenario(scenario, trace=False)
    return scenario, results, compute_kpis(results, scenario.warmup_periods)


def test_revenue_and_profit_kpis_are_the_ledgers_sums_per_period(priced_run):
    scenario, results, kpis = priced_run
    df = ledger_frame(results)
    periods = scenario.periods
    per_rep = df.groupby("replication")[["revenue", "profit", "total_cost"]].sum() / periods
    network = kpis["network"]
    assert network["revenue_per_period"]["mean"] == pytest.approx(per_rep["revenue"].mean())
    assert network["profit_per_period"]["mean"] == pytest.approx(per_rep["profit"].mean())
    assert network["profit_per_period"]["mean"] == pytest.approx(
        network["revenue_per_period"]["mean"] - network["cost_per_period"]["mean"]
    )
    for scope in ("tiers", "nodes"):
        for name, entry in kpis[scope].items():
            assert entry["profit_per_period"]["mean"] == pytest.approx(
                entry["revenue_per_period"]["mean"] - entry["cost_per_period"]["mean"]
            ), name
    retailer = df[df["node"] == "retailer"].groupby("replication")["sold"].sum() / periods
    assert kpis["nodes"]["retailer"]["revenue_per_period"]["mean"] == pytest.approx(
        2.0 * retailer.mean()
    )
    assert kpis["tiers"]["distributor"]["revenue_per_period"]["mean"] == 0.0
    tiers = sum(t["profit_per_period"]["mean"] for t in kpis["tiers"].values())
    assert tiers == pytest.approx(network["profit_per_period"]["mean"])


def test_the_kpi_table_shows_revenue_and_profit_only_where_the_network_earns_revenue(priced_run):
    _, _, kpis = priced_run
    header = kpi_table(kpis).splitlines()[0]
    assert "revenue" in header and "profit ± se" in header
    plain = load_scenario(SERIAL, {"periods": 30, "warmup_periods": 0, "replications": 2})
    header = kpi_table(compute_kpis(run_scenario(plain, trace=False), 0)).splitlines()[0]
    assert "revenue" not in header and "profit" not in header


def _rows(orders: dict[str, list[float]], demand: list[float]) -> list[LedgerRow]:
    tiers = {"S1": ("store", 1), "W1": ("warehouse", 2), "X": ("outside", 3)}
    out = []
    for t, d in enumerate(demand):
        for node, (tier, echelon) in tiers.items():
            values = {"ordered": orders[node][t]} if node in orders else {}
            if node == "S1":
                values.update(demand=d, filled_on_time=d)
            out.append(LedgerRow(t, node, "default", tier, echelon, **_values(values)))
    return out


def _values(values: dict[str, float]) -> dict[str, float]:
    data = dict.fromkeys(LEDGER_COLUMNS[QUANTITY_START:], 0.0)
    data.update(values)
    return data


def test_order_cv_is_the_sample_sd_over_the_mean_of_each_echelons_orders():
    # Orders 10, 20, 30: mean 20, sample sd 10, CV 0.5; constant orders: CV 0; never ordered: None.
    rows = _rows({"S1": [10.0, 20.0, 30.0], "W1": [15.0, 15.0, 15.0]}, [4.0, 8.0, 6.0])
    kpis = compute_kpis(ledger_frame([SimpleNamespace(replication=0, rows=rows)]), 0)
    cv = kpis["network"]["order_cv"]
    assert cv["1"]["mean"] == pytest.approx(0.5)
    assert cv["2"]["mean"] == 0.0
    assert cv["3"]["mean"] is None
    assert kpis["tiers"]["store"]["order_cv"]["mean"] == pytest.approx(0.5)
    assert kpis["tiers"]["outside"]["order_cv"]["mean"] is None
    # The variance ratio is kept beside it: Var(10, 20, 30) / Var(4, 8, 6) = 100 / 4.
    assert kpis["network"]["bullwhip"]["1"]["mean"] == pytest.approx(25.0)


def test_order_cv_of_pass_through_is_the_demands_cv_at_every_echelon():
    data = {
        "periods": 80,
        "warmup_periods": 5,
        "replications": 2,
        "agents": [{"nodes": ["stage1", "stage2", "stage3"], "kind": "pass_through"}],
    }
    results = run_scenario(load_scenario(SERIAL, data), trace=False)
    kpis = compute_kpis(results, 5)
    df = ledger_frame(results)
    demand = df[(df["node"] == "stage1") & (df["period"] >= 5)].groupby("replication")["demand"]
    want = float(np.mean([d.std(ddof=1) / d.mean() for _, d in demand]))
    for echelon in ("1", "2", "3"):
        assert kpis["network"]["order_cv"][echelon]["mean"] == pytest.approx(want, rel=1e-9)
    assert kpis["network"]["order_cv"]["4"]["mean"] is None  # the outside supplier never orders


# --------------------------------------------------------------------------------------------------
# What-if studies.


def test_whatif_kpis_and_directions(priced_run):
    _, results, kpis = priced_run
    flat = flatten_kpis(kpis)
    for key in (
        "network.revenue_per_period",
        "network.profit_per_period",
        "tiers.retailer.profit_per_period",
    ):
        assert flat[key] is not None and kpi_spec(key).better == "higher", key
    assert kpi_spec("network.profit_per_period").label == "network profit / period"
    assert flat["network.order_cv.1"] == kpis["network"]["order_cv"]["1"]["mean"]
    spec = kpi_spec("network.order_cv.2")
    assert spec.better == "lower" and spec.label == "order CV, echelon 2"


def test_a_higher_price_earns_its_margin_on_the_same_sales(tmp_path, capsys):
    """The same demand and orders (common random numbers), a price 0.5 higher: revenue and profit
    rise by 0.5 per unit sold, the costs not at all; both verdicts are 'better'."""
    args = [str(PROFIT), "--variant", "dearer=nodes.retailer.price=2.5", "--replications", "3"]
    assert compare([*args, "--workers", "1", "--no-plots", "--out", str(tmp_path / "s")]) == 0
    printed = capsys.readouterr().out
    assert "network revenue / period" in printed and "network profit / period" in printed
    table = pd.read_csv(tmp_path / "s" / "comparison.csv").set_index(["kpi", "case"])
    reps = pd.read_csv(tmp_path / "s" / "replications.csv")
    revenue = reps.pivot(index="replication", columns="case", values="network.revenue_per_period")
    assert np.allclose(revenue["dearer"], revenue["baseline"] * 2.5 / 2.0)
    for key in ("network.revenue_per_period", "network.profit_per_period"):
        assert table.loc[(key, "dearer"), "verdict"] == "better"
    assert table.loc[("network.profit_per_period", "dearer"), "diff"] == pytest.approx(
        table.loc[("network.revenue_per_period", "dearer"), "diff"]
    )
    assert table.loc[("network.cost_per_period", "dearer"), "diff"] == 0.0


def test_studies_without_prices_leave_revenue_and_profit_out_of_the_terminal_table(tmp_path):
    args = [str(SERIAL), "--variant", "more=agents.stage1.base_stock_level=8", "--replications", "2"]
    out = tmp_path / "s"
    assert (
        compare(
            [
                *args,
                "--periods",
                "30",
                "--warmup",
                "0",
                "--workers",
                "1",
                "--no-plots",
                "--quiet",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    table = pd.read_csv(out / "comparison.csv")
    assert (table.loc[table["kpi"] == "network.revenue_per_period", "mean"] == 0).all()
    text = comparison_text(table)
    assert "revenue" not in text and "profit" not in text and "network cost / period" in text


# --------------------------------------------------------------------------------------------------
# Rewards: {profit: 1}.


def test_profit_reward_is_each_nodes_revenue_minus_its_costs_and_gym_sums_the_network():
    scenario = profit_serial()
    assert scenario.reward.weights == {"profit": 1.0}
    env = parallel_env(scenario, targets=TARGETS, action="integer:n=60")
    single = gym_env(scenario, targets=TARGETS, action="integer:n=60")
    rng = np.random.default_rng(5)
    env.reset(seed=1)
    single.reset(seed=1)
    steps = 0
    while env.agents:
        actions = {a: int(rng.integers(0, 61)) for a in env.agents}
        before = len(env.sim.rows)
        _, rewards, _, _, _ = env.step(actions)
        _, total, _, _, _ = single.step(np.array([actions[a] for a in TARGETS]))
        rows = env.sim.rows[before:]
        for a in TARGETS:
            (mine,) = [r for r in rows if r.node == a]
            assert rewards[a] == pytest.approx(mine.revenue - mine.total_cost, abs=1e-12)
            assert rewards[a] == pytest.approx(reward_from_rows([mine], {"profit": 1.0}), abs=1e-12)
        network = math.fsum(r.revenue for r in rows) - math.fsum(r.total_cost for r in rows)
        assert total == pytest.approx(network, abs=1e-9)  # the raw material costs nothing to hold
        steps += 1
    assert steps == scenario.periods
