"""Non-stationary demand: effects match their declared means, variances and periods;
goodwill lowers demand after stockouts; configuration mistakes are clear errors.

The statistical tests draw the demand the way a run does (``twin.engine.build._demand_process`` with the
replication's random streams), over many replications, and compare with the declared law:
``E[D_t] = m_t E[X]`` exactly (stochastic rounding is unbiased) and
``m_t^2 Var X <= Var D_t <= m_t^2 Var X + 1/4`` (rounding adds ``E[f(1 - f)] <= 1/4``).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from entities.demand import DemandEffects, Goodwill, Shock, stochastic_round
from entities.errors import ScenarioError
from entities.nodes import Node
from twin import Simulation, scenario_from_dict
from twin.engine.build import _demand_process
from twin.engine.rng import RandomStreams

REPLICATIONS = 3000
PERIODS = 28


def store(**extra):
    return {"id": "S", "kind": "store", "holding_cost": 1, "stockout_cost": 5, **extra}


def scenario(store_cfg, *, level=40.0, periods=PERIODS, seed=5, lead_time=1):
    return scenario_from_dict(
        {
            "name": "effects",
            "seed": seed,
            "periods": periods,
            "nodes": [{"id": "P", "kind": "supplier"}, store_cfg],
            "lanes": [{"from": "P", "to": "S", "lead_time": lead_time}],
            "agents": [{"nodes": ["S"], "kind": "base_stock", "params": {"base_stock_level": level}}],
        },
        source="test.yaml",
    )


def draws(s, replications=REPLICATIONS) -> np.ndarray:
    cfg = s.node_map["S"]
    out = []
    for r in range(replications):
        node = Node(
            "S",
            kind="store",
            tier="store",
            echelon=1,
            initial_inventory=0,
            holding_cost=0,
            stockout_cost=0,
            backlog=True,
            capacity=None,
            forecast_window=1,
        )
        process = _demand_process(cfg, node, RandomStreams(s.seed, r), s.periods)
        out.append(process.quantities)
    return np.array(out)


EFFECTS = {
    "trend": 0.02,
    "seasonality": {"period": 7, "amplitude": 0.5, "phase": 2},
    "shocks": [
        {"start": 10, "magnitude": 1.8, "duration": 4},
        {"start": 12, "magnitude": 0.5, "duration": 6},
    ],
}


def expected_multipliers(periods: int) -> np.ndarray:
    t = np.arange(periods)
    m = (1 + 0.02 * t) * (1 + 0.5 * np.sin(2 * np.pi * (t - 2) / 7))
    m[10:14] *= 1.8
    m[12:18] *= 0.5
    return m


def test_multipliers_are_the_declared_product():
    effects = DemandEffects(
        trend=0.02,
        season_period=7,
        season_amplitude=0.5,
        season_phase=2,
        shocks=(Shock(10, 1.8, 4), Shock(12, 0.5, 6)),
    )
    assert np.allclose(effects.multipliers(PERIODS), expected_multipliers(PERIODS))
    # A falling trend stops at zero demand, never negative.
    assert DemandEffects(trend=-0.1).multipliers(20).min() == 0.0


@pytest.mark.parametrize(
    "base, mean, variance",
    [
        ({"dist": "poisson", "mean": 9}, 9.0, 9.0),
        ({"dist": "negative_binomial", "n": 3, "p": 0.25}, 9.0, 36.0),
    ],
)
def test_integer_demand_with_effects_has_the_declared_mean_and_variance(base, mean, variance):
    d = draws(scenario(store(demand=base, demand_effects=EFFECTS)))
    assert np.all(d == np.floor(d)) and d.min() >= 0  # whole units
    m = expected_multipliers(PERIODS)
    sample_mean, sample_var = d.mean(axis=0), d.var(axis=0, ddof=1)
    low, high = m**2 * variance, m**2 * variance + 0.25
    for t in range(PERIODS):
        se = math.sqrt(high[t] / REPLICATIONS)
        assert abs(sample_mean[t] - m[t] * mean) <= 5 * se, (t, sample_mean[t], m[t] * mean)
        # Sample variance: sd about var * sqrt((kurtosis - 1) / n); 6 sd with a generous kurtosis.
        slack = 6 * high[t] * math.sqrt(6.0 / REPLICATIONS) + 1e-9
        assert low[t] - slack <= sample_var[t] <= high[t] + slack, (t, sample_var[t], low[t])


def test_continuous_demand_is_scaled_exactly():
    base = {"dist": "gamma", "shape": 2, "scale": 3}
    s_plain, s_effects = (
        scenario(store(demand=base)),
        scenario(store(demand=base, demand_effects=EFFECTS)),
    )
    plain, scaled = draws(s_plain, 50), draws(s_effects, 50)
    assert np.allclose(scaled, plain * expected_multipliers(PERIODS))  # same base draws (CRN)


def test_stochastic_rounding_is_unbiased_and_whole():
    rng = np.random.default_rng(1)
    values = np.full(200_000, 3.3)
    rounded = stochastic_round(values, rng.random(len(values)))
    assert set(np.unique(rounded)) == {3.0, 4.0}
    assert abs(rounded.mean() - 3.3) < 5 * math.sqrt(0.21 / len(values))


def test_merton_paths_compose_with_effects():
    base = {"dist": "merton", "base": 10, "maximum": 20}
    plain = draws(scenario(store(demand=base)), 400)
    effects = {"seasonality": {"period": 7, "amplitude": 0.4}}
    seasonal = draws(scenario(store(demand=base, demand_effects=effects)), 400)
    m = 1 + 0.4 * np.sin(2 * np.pi * np.arange(PERIODS) / 7)
    assert np.all(seasonal == np.floor(seasonal))
    # The same paths, scaled and rounded: each value within one unit of the scaled path.
    assert np.all(np.abs(seasonal - plain * m) < 1.0)
    ratio = seasonal.mean(axis=0) / plain.mean(axis=0)
    assert np.allclose(ratio, m, atol=0.05)


@pytest.mark.parametrize("period, periods", [(7, 700), (12, 720)])
def test_seasonal_demand_has_the_declared_period(period, periods):
    s = scenario(
        store(
            demand={"dist": "poisson", "mean": 20},
            demand_effects={"seasonality": {"period": period, "amplitude": 0.3}},
        ),
        periods=periods,
    )
    d = draws(s, 1)[0]
    spectrum = np.abs(np.fft.rfft(d - d.mean())) ** 2
    peak = int(np.argmax(spectrum[1:])) + 1
    assert peak == periods // period  # the frequency 1/period
    # and the peak stands far above the noise floor
    assert spectrum[peak] > 20 * np.median(spectrum[1:])


GOODWILL = {"drop": 0.5, "recovery": 0.05, "minimum": 0.4}


def run_store(level: float, goodwill: bool, unmet: str = "backlog"):
    effects = {"seasonality": {"period": 7, "amplitude": 0.3}}
    if goodwill:
        effects["goodwill"] = GOODWILL
    s = scenario(
        store(
            demand={"dist": "poisson", "mean": 10},
            demand_effects=effects,
            unmet_demand=unmet,
            initial_inventory=level,
        ),
        level=level,
        periods=200,
        seed=9,
    )
    sim = Simulation(s, audit=True)
    rows = sim.run().rows
    demand = np.array([r.demand for r in rows if r.node == "S"])
    return demand, sim.network.demands[0]


@pytest.mark.parametrize("unmet", ["backlog", "lost"])
def test_goodwill_lowers_demand_after_stockouts(unmet):
    exogenous, _ = run_store(60.0, goodwill=False, unmet=unmet)
    stocked, stocked_process = run_store(60.0, goodwill=True, unmet=unmet)
    starved, starved_process = run_store(8.0, goodwill=True, unmet=unmet)
    # Ample stock: never a stockout, goodwill stays 1, demand is the exogenous demand exactly.
    assert stocked_process.levels == [1.0] * 200
    assert np.array_equal(stocked, exogenous)
    # A starved store (common random numbers) loses customers: never more demand in any period,
    # clearly less in total, and its goodwill stays within [minimum, 1] and reaches the minimum.
    assert np.all(starved <= stocked)
    assert starved.sum() < 0.8 * stocked.sum()
    levels = np.array(starved_process.levels)
    assert levels.min() >= GOODWILL["minimum"] and levels.max() <= 1.0
    assert levels.min() < 0.7  # it did drop


def test_goodwill_recursion():
    g = Goodwill(drop=0.5, recovery=0.1, minimum=0.3)
    assert g.update(1.0, 10.0, 5.0) == pytest.approx(0.75)  # half unmet: -50 % x 0.5
    assert g.update(0.35, 10.0, 10.0) == pytest.approx(0.3)  # bounded below
    assert g.update(0.75, 10.0, 0.0) == pytest.approx(0.85)  # recovery
    assert g.update(0.95, 0.0, 0.0) == 1.0  # bounded above


@pytest.mark.parametrize(
    "edit, expected",
    [
        (
            lambda n: n.update(unmet_demand="partial"),
            "nodes[1].backlog_fraction: required with unmet_demand: partial",
        ),
        (
            lambda n: n.update(backlog_fraction=0.5),
            "nodes[1].backlog_fraction: required with unmet_demand: partial and only then",
        ),
        (
            lambda n: n.update(unmet_demand="partial", backlog_fraction=1.5),
            "nodes[1].backlog_fraction: Input should be less than or equal to 1",
        ),
        (
            lambda n: n.update(demand_effects={"seasonality": {"period": 7, "amplitude": 1.2}}),
            "nodes[1].demand_effects.seasonality.amplitude: Input should be less than or equal to 1",
        ),
        (
            lambda n: n.update(demand_effects={"shocks": [{"start": 3, "magnitude": -1}]}),
            "nodes[1].demand_effects.shocks[0].magnitude: Input should be greater than or equal to 0",
        ),
        (
            lambda n: n.update(demand_effects={"goodwill": {"drop": 0.5}}),
            "nodes[1].demand_effects.goodwill.recovery: required field is missing",
        ),
        (
            lambda n: n.update(demand_effects={"trend": 0.1, "season": 3}),
            "nodes[1].demand_effects.season: unknown key",
        ),
        (
            lambda n: n.update(customers={"rate": 3}),
            "nodes[1]: give at most one of demand / customers, got 2",
        ),
        (
            lambda n: (n.pop("demand"), n.update(customers={"rate": 0})),
            "nodes[1].customers.rate: Input should be greater than 0",
        ),
        (
            lambda n: (
                n.pop("demand"),
                n.update(unmet_demand="lost", customers={"rate": 2, "patience": 1}),
            ),
            "nodes[1].customers.patience: customers never wait with unmet_demand: lost",
        ),
    ],
)
def test_demand_mistakes_are_clear_errors(edit, expected):
    cfg = store(demand={"dist": "poisson", "mean": 4})
    edit(cfg)
    with pytest.raises(ScenarioError) as info:
        scenario(cfg)
    assert str(info.value).startswith(f"test.yaml: {expected}"), str(info.value)


def test_effects_need_a_demand_to_act_on():
    with pytest.raises(
        ScenarioError,
        match=r"^w.yaml: nodes\[1\].demand_effects: the node has no "
        "demand, customers or demand_series",
    ):
        scenario_from_dict(
            {
                "name": "w",
                "periods": 5,
                "nodes": [
                    {"id": "P", "kind": "supplier"},
                    {"id": "W", "kind": "warehouse", "demand_effects": {"trend": 0.1}},
                    store(demand={"dist": "poisson", "mean": 4}),
                ],
                "lanes": [
                    {"from": "P", "to": "W", "lead_time": 1},
                    {"from": "W", "to": "S", "lead_time": 1},
                ],
                "agents": [
                    {"nodes": ["S", "W"], "kind": "base_stock", "params": {"base_stock_level": 9}}
                ],
            },
            source="w.yaml",
        )


def test_seasonal_goodwill_scenario_runs():
    from twin import load_scenario

    s = load_scenario("scenarios/seasonal_goodwill.yaml", {"periods": 90})
    for r in range(2):
        sim = Simulation(s, replication=r, audit=True)
        rows = sim.run().rows
        process = {d.node.id: d for d in sim.network.demands}
        for node in ("city", "mall"):
            levels = process[node].levels
            assert len(levels) == 90 and min(levels) >= 0.6 and max(levels) <= 1.0
        city = np.array([x.demand for x in rows if x.node == "city"])
        # The promotion (days 60-73) doubles the city's demand over the weeks around it.
        assert city[60:74].mean() > 1.5 * city[46:60].mean()
