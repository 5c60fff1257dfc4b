"""KPIs and rewards: laws on real runs of the shipped scenarios; known answers on made-up rows."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from entities.errors import ReconciliationError
from reconciliation.kpis import (
    COMPONENTS,
    compute_kpis,
    kpi_table,
    ledger_frame,
    mean_se,
    tier_frame,
)
from reconciliation.ledger import LEDGER_COLUMNS, QUANTITY_START, LedgerRow
from reconciliation.rewards import (
    REWARD_QUANTITIES,
    fill_rate,
    mixed_reward,
    reward_from_rows,
    rewards_by_scope,
    team_reward,
)
from twin.engine import run_scenario
from twin.scenario import load_scenario

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"


def row(period: int, node: str, tier: str, echelon: int, **values: float) -> LedgerRow:
    """A ledger row with zeros except ``values``; total_cost is the sum of the components and
    profit is revenue - total_cost."""
    data = dict.fromkeys(LEDGER_COLUMNS[QUANTITY_START:], 0.0)
    data.update(values)
    data["total_cost"] = sum(data[c] for c in COMPONENTS)
    data["profit"] = data["revenue"] - data["total_cost"]
    return LedgerRow(period, node, "default", tier, echelon, **data)


def frame(*replications: list[LedgerRow]):
    return ledger_frame(
        [SimpleNamespace(replication=r, rows=rows) for r, rows in enumerate(replications)]
    )


# --------------------------------------------------------------------------------------------------
# Laws on real runs.


@pytest.fixture(scope="module", params=["hmarl_3store", "serial_3stage"])
def real_run(request):
    scenario = load_scenario(
        SCENARIOS / f"{request.param}.yaml", {"periods": 60, "warmup_periods": 10, "replications": 3}
    )
    df = ledger_frame(run_scenario(scenario, trace=False))
    customers = [n.id for n in scenario.nodes if n.demand is not None]
    return scenario, df, compute_kpis(df, scenario.warmup_periods, customer_nodes=customers)


def _stats(kpis):
    """Every {"mean", "se"} in kpis, with its path."""

    def walk(x, path):
        if isinstance(x, dict):
            if set(x) == {"mean", "se"}:
                yield path, x
            else:
                for k, v in x.items():
                    yield from walk(v, f"{path}.{k}")

    yield from walk(kpis, "kpis")


def test_ledger_frame_columns(real_run):
    scenario, df, _ = real_run
    assert list(df.columns) == ["replication", *LEDGER_COLUMNS]
    assert sorted(df["replication"].unique()) == [0, 1, 2]
    assert len(df) == 3 * scenario.periods * len(scenario.nodes)


def test_kpis_are_in_range(real_run):
    _, _, kpis = real_run
    json.dumps(kpis, allow_nan=False)  # JSON-able, no NaN
    for path, stat in _stats(kpis):
        if stat["mean"] is None:
            continue
        assert math.isfinite(stat["mean"]), path
        assert stat["se"] is not None and stat["se"] >= 0, path  # 3 replications
        if path.endswith(("fill_rate", "cycle_service_level", "ready_rate")):
            assert 0.0 <= stat["mean"] <= 1.0, path
        elif not path.endswith("profit_per_period"):  # profit alone may be negative
            assert stat["mean"] >= 0.0, path  # costs, revenue, stock, turns, bullwhip, order CV
    assert kpis["network"]["fill_rate"]["mean"] is not None


def test_tiers_sum_to_network_and_nodes_to_tiers(real_run):
    _, df, kpis = real_run
    additive = [
        "cost_per_period",
        *(f"{c}_per_period" for c in COMPONENTS),
        "average_on_hand",
        "average_backorders",
    ]
    for metric in additive:
        network = kpis["network"][metric]["mean"]
        tiers = sum(t[metric]["mean"] for t in kpis["tiers"].values())
        assert tiers == pytest.approx(network, rel=1e-9, abs=1e-9), metric
        for tier, t in kpis["tiers"].items():
            nodes = sum(kpis["nodes"][n][metric]["mean"] for n in t["nodes"])
            assert nodes == pytest.approx(t[metric]["mean"], rel=1e-9, abs=1e-9), (tier, metric)
    tiers = tier_frame(df)
    by_period = tiers.groupby(["replication", "period"])["total_cost"].sum()
    nodes = df.groupby(["replication", "period"])["total_cost"].sum()
    assert np.allclose(by_period.to_numpy(), nodes.to_numpy())


def test_tier_frame_detects_rows_lost_from_the_tiers():
    rows = [row(0, "S1", "store", 1, holding_cost=2.0), row(0, "W1", "warehouse", 2, holding_cost=3.0)]
    df = frame(rows)
    df.loc[1, "tier"] = None  # a node row without a tier is dropped from the tier sums
    with pytest.raises(ReconciliationError, match=r"replication 0: period 0: tier total_cost sum"):
        tier_frame(df)


def test_kpi_table_has_one_fixed_width_line_per_tier(real_run):
    _, _, kpis = real_run
    table = kpi_table(kpis)
    lines = table.splitlines()
    assert len({len(line) for line in lines}) == 1
    names = [line.split()[0] for line in lines if not line.startswith("-")]
    assert names == ["tier", *kpis["tiers"], "network"]
    assert "±" in lines[2]


# --------------------------------------------------------------------------------------------------
# Known answers on hand-made ledgers.


def test_fill_rate_is_a_ratio_of_sums():
    # Replication 0: S1 fills 10 of 10, then 15 of 30 -> 25/40 (a mean of ratios would say 0.75).
    # Replication 1: S1 fills 10 of 20, then 20 of 20 -> 30/40. Period 0 is warm-up (ignored).
    rep0 = [
        row(0, "S1", "store", 1, demand=100.0, filled_on_time=0.0),
        row(1, "S1", "store", 1, demand=10.0, filled_on_time=10.0, closing_on_hand=5.0),
        row(2, "S1", "store", 1, demand=30.0, filled_on_time=15.0),
    ]
    rep1 = [
        row(0, "S1", "store", 1, demand=100.0, filled_on_time=0.0),
        row(1, "S1", "store", 1, demand=20.0, filled_on_time=10.0),
        row(2, "S1", "store", 1, demand=20.0, filled_on_time=20.0, closing_on_hand=1.0),
    ]
    kpis = compute_kpis(frame(rep0, rep1), warmup_periods=1)
    node = kpis["nodes"]["S1"]
    assert node["fill_rate"]["mean"] == pytest.approx((25 / 40 + 30 / 40) / 2)
    assert node["fill_rate"]["se"] == pytest.approx(abs(25 / 40 - 30 / 40) / 2)  # s/sqrt(2), n=2
    assert kpis["tiers"]["store"]["fill_rate"]["mean"] == pytest.approx(0.6875)
    assert kpis["network"]["fill_rate"]["mean"] == pytest.approx(0.6875)
    assert node["cycle_service_level"]["mean"] == pytest.approx(0.5)
    assert node["ready_rate"]["mean"] == pytest.approx(0.5)
    assert node["average_on_hand"]["mean"] == pytest.approx((2.5 + 0.5) / 2)
    assert kpis["measured_periods"] == 2 and kpis["replications"] == 2


def test_fill_rate_of_a_tier_pools_its_nodes():
    rows = [
        row(0, "S1", "store", 1, demand=10.0, filled_on_time=10.0),
        row(0, "S2", "store", 1, demand=30.0, filled_on_time=0.0),
        row(0, "W1", "warehouse", 2, demand=0.0),
    ]
    kpis = compute_kpis(frame(rows), warmup_periods=0)
    assert kpis["tiers"]["store"]["fill_rate"]["mean"] == pytest.approx(0.25)
    assert kpis["network"]["fill_rate"]["mean"] == pytest.approx(0.25)
    assert kpis["nodes"]["S2"]["cycle_service_level"]["mean"] == 0.0
    # No demand at the warehouse: its fill rate and cycle service level are undefined, not 1.
    assert kpis["nodes"]["W1"]["fill_rate"] == {"mean": None, "se": None}
    assert kpis["nodes"]["W1"]["cycle_service_level"] == {"mean": None, "se": None}
    assert kpis["network"]["cost_per_period"]["se"] is None  # one replication


def test_bullwhip_of_pass_through_is_one_and_of_an_amplifier_its_variance_ratio():
    demand = [4.0, 8.0, 2.0, 6.0, 5.0]
    amplified = [2 * d - 5.0 for d in demand]  # Var(2d + c) = 4 Var(d)
    rows = []
    for t, d in enumerate(demand):
        rows += [
            row(t, "S1", "store", 1, demand=d, filled_on_time=d, ordered=d),
            row(t, "W1", "warehouse", 2, demand=d, filled_on_time=d, ordered=d),
            row(t, "F1", "factory", 3, demand=d, filled_on_time=d, ordered=amplified[t]),
            row(t, "X", "outside", 4, demand=amplified[t], filled_on_time=amplified[t]),
        ]
    kpis = compute_kpis(frame(rows), warmup_periods=0)
    bullwhip = kpis["network"]["bullwhip"]
    assert bullwhip["1"]["mean"] == pytest.approx(1.0)
    assert bullwhip["2"]["mean"] == pytest.approx(1.0)
    assert bullwhip["3"]["mean"] == pytest.approx(4.0)
    assert bullwhip["4"]["mean"] is None  # never orders (a make-to-order outside supplier)
    assert kpis["tiers"]["factory"]["bullwhip"]["mean"] == pytest.approx(4.0)
    assert kpis["tiers"]["outside"]["bullwhip"]["mean"] is None


def test_bullwhip_of_pass_through_on_a_real_run():
    data = {
        "periods": 80,
        "warmup_periods": 5,
        "replications": 2,
        "agents": [{"nodes": ["stage1", "stage2", "stage3"], "kind": "pass_through"}],
    }
    scenario = load_scenario(SCENARIOS / "serial_3stage.yaml", data)
    kpis = compute_kpis(ledger_frame(run_scenario(scenario, trace=False)), 5)
    for echelon in ("1", "2", "3"):
        assert kpis["network"]["bullwhip"][echelon]["mean"] == pytest.approx(1.0, rel=1e-9)
    assert kpis["network"]["bullwhip"]["4"]["mean"] is None


def test_bad_inputs_are_refused():
    df = frame([row(0, "S1", "store", 1)])
    with pytest.raises(ValueError, match="warmup_periods must be an integer >= 0, got -1"):
        compute_kpis(df, -1)
    with pytest.raises(ValueError, match="no ledger rows at or after the warm-up"):
        compute_kpis(df, 5)
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['ordered'\]"):
        compute_kpis(df.drop(columns="ordered"), 0)


def test_mean_se():
    assert mean_se([1.0, 3.0]) == {"mean": 2.0, "se": 1.0}
    assert mean_se([2.0]) == {"mean": 2.0, "se": None}
    assert mean_se([float("nan")]) == {"mean": None, "se": None}


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["S1", "S2", "W1"]),
            st.floats(0, 100),
            st.floats(0, 1),
            st.floats(0, 50),
            st.floats(0, 50),
        ),
        min_size=1,
        max_size=30,
    ),
    st.integers(1, 3),
)
def test_laws_on_random_ledgers(entries, replications):
    tiers = {"S1": ("store", 1), "S2": ("store", 1), "W1": ("warehouse", 2)}
    reps = []
    for r in range(replications):
        rows = []
        for t, (node, demand, share, holding, stockout) in enumerate(entries):
            for other in tiers:  # every node has a row every period
                d = demand if other == node else 0.0
                rows.append(
                    row(
                        t,
                        other,
                        *tiers[other],
                        demand=d,
                        filled_on_time=d * share,
                        holding_cost=holding * (r + 1),
                        stockout_cost=stockout,
                        ordered=d * (r + 1),
                    )
                )
        reps.append(rows)
    kpis = compute_kpis(frame(*reps), warmup_periods=0)
    for path, stat in _stats(kpis):
        if stat["mean"] is not None and path.endswith("fill_rate"):
            assert -1e-12 <= stat["mean"] <= 1 + 1e-12, path
    total = sum(t["cost_per_period"]["mean"] for t in kpis["tiers"].values())
    assert total == pytest.approx(kpis["network"]["cost_per_period"]["mean"], rel=1e-9, abs=1e-9)


# --------------------------------------------------------------------------------------------------
# Rewards.


ROWS = [
    row(
        5,
        "S1",
        "store",
        1,
        demand=10.0,
        filled_on_time=8.0,
        holding_cost=3.0,
        stockout_cost=20.0,
        ordered=12.0,
    ),
    row(5, "S2", "store", 1, demand=30.0, filled_on_time=30.0, holding_cost=1.5, ordering_cost=4.0),
]


def test_reward_is_the_weighted_sum_of_ledger_quantities():
    weights = {
        "fill_rate": 10.0,
        "holding_cost": -0.01,
        "stockout_cost": -0.1,
        "ordering_cost": -1.0,
        "ordered": 0.5,
    }
    expected = 10.0 * (38.0 / 40.0) - 0.01 * 4.5 - 0.1 * 20.0 - 1.0 * 4.0 + 0.5 * 12.0
    assert reward_from_rows(ROWS, weights) == pytest.approx(expected)
    assert reward_from_rows(ROWS[:1], {"total_cost": -1.0}) == pytest.approx(-23.0)
    assert reward_from_rows(ROWS, {}) == 0.0


def test_fill_rate_reward_and_service_level_alias():
    assert fill_rate(ROWS) == pytest.approx(0.95)
    assert reward_from_rows(ROWS, {"service_level": 2.0}) == pytest.approx(
        reward_from_rows(ROWS, {"fill_rate": 2.0})
    )
    no_demand = [row(0, "W1", "warehouse", 2, holding_cost=1.0)]
    assert reward_from_rows(no_demand, {"fill_rate": 10.0}) == 10.0


def test_unknown_reward_quantity_lists_the_allowed_names():
    with pytest.raises(ValueError) as info:
        reward_from_rows(ROWS, {"fill_rate": 1.0, "holdng_cost": -1.0})
    message = str(info.value)
    assert "'holdng_cost'" in message and "allowed:" in message
    for name in ("holding_cost", "fill_rate", "service_level", "total_cost"):
        assert name in message
    assert "node" not in REWARD_QUANTITIES and "period" not in REWARD_QUANTITIES
    with pytest.raises(ValueError, match="must be a finite number"):
        reward_from_rows(ROWS, {"fill_rate": float("nan")})


def test_team_and_mixed_rewards():
    weights = {"fill_rate": 1.0, "holding_cost": -1.0}
    members = {"S1": ROWS[:1], "S2": ROWS[1:]}
    own = {m: reward_from_rows(r, weights) for m, r in members.items()}
    assert own == {"S1": pytest.approx(0.8 - 3.0), "S2": pytest.approx(1.0 - 1.5)}
    team = (own["S1"] + own["S2"]) / 2
    assert team_reward(members, weights) == pytest.approx(team)
    assert mixed_reward(own["S1"], list(own.values()), 0.3) == pytest.approx(
        0.3 * own["S1"] + 0.7 * team
    )
    assert mixed_reward(2.0, [2.0, 4.0], 1.0) == 2.0
    assert mixed_reward(2.0, [2.0, 4.0], 0.0) == 3.0
    assert rewards_by_scope(members, weights, "team") == {
        "S1": pytest.approx(team),
        "S2": pytest.approx(team),
    }
    assert rewards_by_scope(members, weights, "mix", alpha=0.3)["S2"] == pytest.approx(
        0.3 * own["S2"] + 0.7 * team
    )
    with pytest.raises(ValueError, match=r"alpha must be a number in \[0, 1\], got 1.5"):
        mixed_reward(1.0, [1.0], 1.5)
    with pytest.raises(ValueError, match="unknown reward scope 'all'"):
        rewards_by_scope(members, weights, "all")


@pytest.mark.parametrize("name", ["hmarl_3store", "multi_sku_bom", "constrained_network"])
def test_kpis_from_the_columns_equal_kpis_from_the_table(name):
    """compute_kpis reads the twin's columnar ledgers directly (the run path) or a ledger table
    (analysis): the same KPIs, key for key, to rounding."""
    from reconciliation.report import customer_nodes

    scenario = load_scenario(
        SCENARIOS / f"{name}.yaml", {"periods": 50, "warmup_periods": 8, "replications": 3}
    )
    results = run_scenario(scenario, trace=False)
    customers = customer_nodes(scenario)
    columns = compute_kpis(results, 8, customer_nodes=customers)
    table = compute_kpis(ledger_frame(results), 8, customer_nodes=customers)

    def flat(d, path=""):
        if isinstance(d, dict):
            for k, v in d.items():
                yield from flat(v, f"{path}.{k}")
        else:
            yield path, d

    a, b = dict(flat(columns)), dict(flat(table))
    assert list(a) == list(b)
    for key, value in b.items():
        if isinstance(value, float):
            assert a[key] == pytest.approx(value, rel=1e-12, abs=1e-12), key
        else:
            assert a[key] == value, key
