"""Serial echelon base-stock optimizer and evaluator: published numbers and laws."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from heuristics.newsvendor import optimize_base_stock
from heuristics.serial import (
    echelon_to_local_levels,
    evaluate_echelon_base_stock,
    expected_in_transit_holding_cost,
    local_to_echelon_levels,
    optimize_echelon_base_stock,
)

# Snyder & Shen, Fundamentals of Supply Chain Theory (2nd ed.), Example 6.1
HOLDING = [3.0, 2.0, 2.0]
LEAD_TIMES = [1, 1, 2]
STOCKOUT = 37.12


def test_example_6_1_published_levels_and_cost() -> None:
    result = optimize_echelon_base_stock(HOLDING, LEAD_TIMES, STOCKOUT, stats.norm(5, 1))
    assert result.expected_cost == pytest.approx(47.66, abs=0.005)
    assert np.round(result.echelon_levels, 2).tolist() == [6.49, 12.02, 22.71]
    assert np.round(result.local_levels, 2).tolist() == [6.49, 5.53, 10.69]


def test_example_6_1_cost_converges_to_0_001() -> None:
    # halving the lattice step moves the cost by O(step^2): the default is well within 0.001
    default = optimize_echelon_base_stock(HOLDING, LEAD_TIMES, STOCKOUT, stats.norm(5, 1))
    fine = optimize_echelon_base_stock(HOLDING, LEAD_TIMES, STOCKOUT, stats.norm(5, 1), grid_step=0.0002)
    assert abs(default.expected_cost - fine.expected_cost) < 1e-5
    assert np.allclose(default.echelon_levels, fine.echelon_levels, atol=1e-3)


def test_example_6_1_is_fast() -> None:
    optimize_echelon_base_stock(HOLDING, LEAD_TIMES, STOCKOUT, stats.norm(5, 1))  # warm caches
    start = time.perf_counter()
    optimize_echelon_base_stock(HOLDING, LEAD_TIMES, STOCKOUT, stats.norm(5, 1))
    assert time.perf_counter() - start < 0.5


def test_non_monotone_minimizer_reported_as_equivalent_monotone_levels() -> None:
    # h = (1, 1), L = (1, 0), p = 1, Poisson(4): the stage-2 minimizer (3) is below stage 1's (5)
    result = optimize_echelon_base_stock([1, 1], [1, 0], 1.0, stats.poisson(4))
    assert result.echelon_levels == (3.0, 3.0)
    same = [
        evaluate_echelon_base_stock(levels, [1, 1], [1, 0], 1.0, stats.poisson(4))
        for levels in ([5, 3], [3, 3])
    ]
    assert same[0] == same[1] == pytest.approx(result.expected_cost, abs=1e-12)


def test_evaluator_at_7_13_24() -> None:
    cost = evaluate_echelon_base_stock([7, 13, 24], HOLDING, LEAD_TIMES, STOCKOUT, stats.norm(5, 1))
    assert cost == pytest.approx(50.36, abs=0.005)


def test_poisson_integer_optimum() -> None:
    # Published: echelon (9, 15, 26) at cost 72.04. The exact cost at (9, 15, 26) is 72.0467
    # (checked below by an independent enumeration), so the published figure is truncated,
    # not rounded, to two decimals.
    result = optimize_echelon_base_stock(HOLDING, LEAD_TIMES, STOCKOUT, stats.poisson(5))
    assert result.echelon_levels == (9.0, 15.0, 26.0)
    assert result.local_levels == (9.0, 6.0, 11.0)
    assert 72.04 <= result.expected_cost < 72.05
    assert result.expected_cost == pytest.approx(_exact_poisson_cost((9, 15, 26)), abs=1e-9)


def _exact_poisson_cost(levels: tuple[int, ...], mean: float = 5.0) -> float:
    """Top-down enumeration: IL_j = min(S_j, IL_{j+1}) - D_j, exact on the integers."""
    support = np.arange(0, 120)
    distribution = {10**9: 1.0}  # IL_{N+1} = +infinity
    levels_top_down = list(zip(levels, LEAD_TIMES, HOLDING, strict=True))[::-1]
    expected_levels = []
    for level, lead_time, _ in levels_top_down:
        demand = stats.poisson.pmf(support, lead_time * mean)
        nxt: dict[int, float] = {}
        for value, probability in distribution.items():
            start = min(level, value)
            for d, q in zip(support, demand, strict=True):
                nxt[start - d] = nxt.get(start - d, 0.0) + probability * q
        distribution = nxt
        expected_levels.append(sum(v * q for v, q in distribution.items()))
    backorders = sum(-v * q for v, q in distribution.items() if v < 0)
    holding_top_down = [h for _, _, h in levels_top_down]
    cost = sum(h * e for h, e in zip(holding_top_down, expected_levels, strict=True))
    return cost + (STOCKOUT + sum(HOLDING)) * backorders


def test_poisson_optimum_beats_every_neighbour() -> None:
    best = _exact_poisson_cost((9, 15, 26))
    for delta in np.ndindex(3, 3, 3):
        levels = tuple(int(s + d - 1) for s, d in zip((9, 15, 26), delta, strict=True))
        assert _exact_poisson_cost(levels) >= best - 1e-12
        got = evaluate_echelon_base_stock(levels, HOLDING, LEAD_TIMES, STOCKOUT, stats.poisson(5))
        assert got == pytest.approx(_exact_poisson_cost(levels), abs=1e-9)


def test_evaluator_agrees_with_optimizer() -> None:
    for demand in (stats.norm(5, 1), stats.poisson(5), stats.norm(100, 15)):
        result = optimize_echelon_base_stock(HOLDING, LEAD_TIMES, STOCKOUT, demand)
        cost = evaluate_echelon_base_stock(result.echelon_levels, HOLDING, LEAD_TIMES, STOCKOUT, demand)
        assert cost == pytest.approx(result.expected_cost, abs=1e-4)


def test_single_stage_matches_newsvendor() -> None:
    # one stage with lead time L in the twin's order = newsvendor with lead_time L - 1
    for lead_time in (1, 3):
        serial = optimize_echelon_base_stock([7.0], [lead_time], STOCKOUT, stats.norm(5, 1))
        single = optimize_base_stock(7.0, STOCKOUT, stats.norm(5, 1), lead_time=lead_time - 1)
        assert serial.echelon_levels[0] == pytest.approx(single.base_stock_level, abs=1e-3)
        assert serial.expected_cost == pytest.approx(single.expected_cost, abs=1e-5)


def test_empirical_and_other_distributions() -> None:
    # an rv_discrete pmf with the Poisson(5) masses gives the Poisson answer
    support = np.arange(0, 40)
    pmf = stats.poisson.pmf(support, 5)
    empirical = stats.rv_discrete(values=(support, pmf / pmf.sum()))
    poisson = optimize_echelon_base_stock(HOLDING, LEAD_TIMES, STOCKOUT, stats.poisson(5))
    other = optimize_echelon_base_stock(HOLDING, LEAD_TIMES, STOCKOUT, empirical)
    assert other.echelon_levels == poisson.echelon_levels
    assert other.expected_cost == pytest.approx(poisson.expected_cost, abs=1e-6)
    # a gamma with the normal's mean and sd: right-skewed, so dearer (48.71, checked against a
    # simulation in test_evaluator_equals_simulated_local_cost)
    gamma = optimize_echelon_base_stock(HOLDING, LEAD_TIMES, STOCKOUT, stats.gamma(25, scale=0.2))
    assert 47.66 < gamma.expected_cost < 49.0
    # integer samples are an empirical distribution
    samples = np.random.default_rng(3).poisson(5, size=5000)
    sampled = optimize_echelon_base_stock(HOLDING, LEAD_TIMES, STOCKOUT, samples)
    assert sampled.expected_cost == pytest.approx(poisson.expected_cost, rel=0.03)


def test_in_transit_cost_and_level_conversions() -> None:
    assert expected_in_transit_holding_cost(HOLDING, LEAD_TIMES, stats.norm(5, 1)) == 30.0
    assert echelon_to_local_levels([4, 9, 10]) == (4.0, 5.0, 1.0)
    assert local_to_echelon_levels([4, 5, 1]) == (4.0, 9.0, 10.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"echelon_holding_costs": [3, -1, 2]}, "echelon_holding_costs"),
        ({"lead_times": [1, 1]}, "lead_times"),
        ({"lead_times": [1, 1.5, 2]}, "lead_times"),
        ({"stockout_cost": -1.0}, "stockout_cost"),
    ],
)
def test_bad_input_raises_with_value(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {
        "echelon_holding_costs": HOLDING,
        "lead_times": LEAD_TIMES,
        "stockout_cost": STOCKOUT,
        "demand": stats.norm(5, 1),
    }
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        optimize_echelon_base_stock(**arguments)  # type: ignore[arg-type]


def test_integer_demand_needs_integer_levels() -> None:
    with pytest.raises(ValueError, match="integers"):
        evaluate_echelon_base_stock([9.5, 15, 26], HOLDING, LEAD_TIMES, STOCKOUT, stats.poisson(5))


@settings(max_examples=15, deadline=None)
@given(
    holding=st.lists(st.floats(0.1, 5.0), min_size=1, max_size=3),
    lead=st.lists(st.integers(0, 3), min_size=3, max_size=3),
    stockout=st.floats(1.0, 60.0),
    shift=st.lists(st.integers(-3, 3), min_size=3, max_size=3),
)
def test_optimum_is_never_beaten(
    holding: list[float], lead: list[int], stockout: float, shift: list[int]
) -> None:
    leads = lead[: len(holding)]
    demand = stats.poisson(4)
    result = optimize_echelon_base_stock(holding, leads, stockout, demand)
    levels = [s + d for s, d in zip(result.echelon_levels, shift, strict=False)]
    cost = evaluate_echelon_base_stock(levels, holding, leads, stockout, demand)
    assert cost >= result.expected_cost - 1e-9
    assert all(np.diff(result.echelon_levels) >= 0)  # reported non-decreasing upstream
    assert all(level >= 0 for level in result.local_levels)


# --- the cost is the local-cost form: a small Monte-Carlo in the twin's event order ----------


def _simulate_local_cost(
    echelon_levels: list[float],
    sample_demand,  # type: ignore[no-untyped-def]
    rng: np.random.Generator,
    replications: int,
    periods: int,
    warm_up: int,
) -> tuple[float, float]:
    """Mean cost per period and its standard error, simulated period by period.

    Each period: shipments due arrive; demand hits stage 1 (backordered if short); stages order
    customer-facing first to bring their echelon inventory position to S_j, and each supplier
    ships what it owes from on hand at once (the outside supplier always can); at the close,
    on-hand stock costs the local rate h'_j, stock in transit to stage j costs h'_{j+1} (free into
    the top stage), stage-1 backorders cost p.
    """
    S = np.asarray(echelon_levels, dtype=float)
    N = len(S)
    local = np.cumsum(np.asarray(HOLDING)[::-1])[::-1]
    net = np.tile(np.diff(S, prepend=0.0), (replications, 1))  # stage 1 may go negative
    owed = np.zeros((replications, N))  # owed[:, j]: stage j+1 owes stage j (0-based)
    transit = [np.zeros((replications, LEAD_TIMES[j])) for j in range(N)]  # circular pipelines
    per_replication = np.zeros(replications)
    for t in range(periods):
        for j in range(N):
            net[:, j] += transit[j][:, t % LEAD_TIMES[j]]
            transit[j][:, t % LEAD_TIMES[j]] = 0.0
        net[:, 0] -= sample_demand(rng, replications)
        for j in range(N):
            downstream = net[:, : j + 1].sum(axis=1) + sum(transit[i].sum(axis=1) for i in range(j))
            position = downstream + transit[j].sum(axis=1) + (owed[:, j] if j < N - 1 else 0.0)
            order = np.maximum(S[j] - position, 0.0)
            if j < N - 1:
                owed[:, j] += order
            else:
                transit[j][:, t % LEAD_TIMES[j]] += order
            if j >= 1:
                ship = np.minimum(np.maximum(net[:, j], 0.0), owed[:, j - 1])
                net[:, j] -= ship
                owed[:, j - 1] -= ship
                transit[j - 1][:, t % LEAD_TIMES[j - 1]] += ship
        if t >= warm_up:
            cost = (local * np.maximum(net, 0.0)).sum(axis=1) + STOCKOUT * np.maximum(-net[:, 0], 0)
            for j in range(N - 1):
                cost += local[j + 1] * transit[j].sum(axis=1)
            per_replication += cost
    per_replication /= periods - warm_up
    return float(per_replication.mean()), float(per_replication.std(ddof=1) / np.sqrt(replications))


@pytest.mark.parametrize(
    ("levels", "demand", "sampler"),
    [
        ([6.49, 12.02, 22.71], stats.norm(5, 1), lambda rng, n: rng.normal(5, 1, n)),
        ([8.0, 8.0, 30.0], stats.norm(5, 1), lambda rng, n: rng.normal(5, 1, n)),
        ([9, 15, 26], stats.poisson(5), lambda rng, n: rng.poisson(5, n).astype(float)),
        ([6.56, 12.06, 22.73], stats.gamma(25, scale=0.2), lambda rng, n: rng.gamma(25, 0.2, n)),
    ],
)
def test_evaluator_equals_simulated_local_cost(levels, demand, sampler) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(20260)
    mean, standard_error = _simulate_local_cost(levels, sampler, rng, 3000, 260, 60)
    exact = evaluate_echelon_base_stock(levels, HOLDING, LEAD_TIMES, STOCKOUT, demand)
    assert abs(mean - exact) < 4 * standard_error + 1e-3
