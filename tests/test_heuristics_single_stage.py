"""Newsvendor, (s, S), EOQ and (r, Q): published numbers and laws."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from heuristics.eoq import (
    economic_order_quantity,
    economic_order_quantity_with_backorders,
    eoq_cost,
    eoq_with_backorders_cost,
)
from heuristics.newsvendor import (
    base_stock_level,
    critical_fractile,
    newsvendor_cost,
    optimize_base_stock,
)
from heuristics.rq import optimize_r_Q, r_Q_cost
from heuristics.ss import _SSProblem, optimize_s_S, s_S_cost

# --- newsvendor -----------------------------------------------------------------------------


def test_example_4_3_normal_newsvendor() -> None:
    # Snyder & Shen Example 4.3: h = 0.18, p = 0.70, D ~ N(50, 8): S* = 56.60, g* = 2.00
    result = optimize_base_stock(0.18, 0.70, stats.norm(50, 8))
    assert result.critical_fractile == pytest.approx(0.70 / 0.88)
    assert result.base_stock_level == pytest.approx(56.60, abs=0.005)
    assert result.expected_cost == pytest.approx(1.998, abs=0.0005)


def test_normal_cost_matches_numerical_integral() -> None:
    demand = stats.norm(50, 8)
    for level in (35.0, 50.0, 56.6, 70.0):
        expected = demand.expect(lambda x, s=level: 0.18 * max(s - x, 0) + 0.70 * max(x - s, 0))
        assert newsvendor_cost(level, 0.18, 0.70, demand) == pytest.approx(expected, abs=1e-7)


def test_poisson_level_is_the_integer_minimizer() -> None:
    for mean, lead_time in ((6, 0), (50, 0), (6, 2)):
        demand = stats.poisson(mean)
        level = base_stock_level(1, 4, demand, lead_time)
        costs = {
            s: newsvendor_cost(s, 1, 4, demand, lead_time) for s in range(int(level) - 4, int(level) + 5)
        }
        assert min(costs, key=costs.__getitem__) == level


def test_lead_time_means_lead_time_plus_one_periods() -> None:
    # Poisson(6) over 3 periods is Poisson(18); integer samples convolve exactly
    assert base_stock_level(1, 4, stats.poisson(6), lead_time=2) == base_stock_level(
        1, 4, stats.poisson(18)
    )
    normal = optimize_base_stock(0.18, 0.70, stats.norm(50, 8), lead_time=3)
    direct = optimize_base_stock(0.18, 0.70, stats.norm(200, 16))
    assert normal.base_stock_level == pytest.approx(direct.base_stock_level)
    gamma = optimize_base_stock(0.18, 0.70, stats.gamma(4, scale=12.5), lead_time=1)
    exact = optimize_base_stock(0.18, 0.70, stats.gamma(8, scale=12.5))
    assert gamma.base_stock_level == pytest.approx(exact.base_stock_level, abs=0.01)
    assert gamma.expected_cost == pytest.approx(exact.expected_cost, abs=1e-4)


def test_empirical_samples() -> None:
    samples = np.array([3, 5, 5, 6, 7, 8, 8, 9, 10, 12])
    # fractile 0.8: the smallest sample with at least 80 % of samples at or below it
    assert base_stock_level(1, 4, samples) == 9.0
    cost = newsvendor_cost(9, 1, 4, samples)
    assert cost == pytest.approx(np.mean(np.maximum(9 - samples, 0) + 4 * np.maximum(samples - 9, 0)))
    with pytest.raises(ValueError, match="integers"):
        base_stock_level(1, 4, samples + 0.5, lead_time=1)


def test_newsvendor_rejects_bad_costs() -> None:
    with pytest.raises(ValueError, match="-1"):
        critical_fractile(-1, 4)
    with pytest.raises(ValueError, match="lead_time"):
        base_stock_level(1, 4, stats.poisson(6), lead_time=-1)


@settings(max_examples=25, deadline=None)
@given(
    h=st.floats(0.05, 10),
    p=st.floats(0.05, 50),
    mean=st.floats(1, 100),
    cv=st.floats(0.05, 0.5),
    shift=st.floats(-3, 3),
)
def test_normal_level_minimizes_cost(h: float, p: float, mean: float, cv: float, shift: float) -> None:
    demand = stats.norm(mean, cv * mean)
    level = base_stock_level(h, p, demand)
    assert (
        newsvendor_cost(level + shift * cv * mean, h, p, demand)
        >= newsvendor_cost(level, h, p, demand) - 1e-9
    )


# --- (s, S) ---------------------------------------------------------------------------------


def test_example_4_7_s_S() -> None:
    # Snyder & Shen Example 4.7: h = 1, p = 4, K = 5, Poisson(6), L = 0: (s, S) = (4, 10), 8.034
    s, S, cost = optimize_s_S(1, 4, 5, stats.poisson(6))
    assert (s, S) == (4, 10)
    assert cost == pytest.approx(8.034, abs=0.0005)
    assert s_S_cost(4, 10, 1, 4, 5, stats.poisson(6)) == pytest.approx(cost)


def _markov_chain_cost(s: int, S: int, h: float, p: float, K: float, mean: float) -> float:
    """Average cost of (s, S) from the stationary distribution of the inventory position."""
    states = np.arange(s + 1, S + 1)  # inventory position after ordering
    demands = np.arange(0, S - s + 200)
    pmf = stats.poisson.pmf(demands, mean)
    P = np.zeros((len(states), len(states)))
    for i, y in enumerate(states):
        for d, q in zip(demands, pmf, strict=True):
            after = y - d
            P[i, after - s - 1 if after > s else len(states) - 1] += q
    A = np.vstack((P.T - np.eye(len(states)), np.ones(len(states))))
    pi = np.linalg.lstsq(A, np.concatenate((np.zeros(len(states)), [1.0])), rcond=None)[0]
    order_probability = sum(pi[i] * stats.poisson.sf(y - s - 1, mean) for i, y in enumerate(states))
    period_cost = [
        float(np.dot(pmf, h * np.maximum(y - demands, 0) + p * np.maximum(demands - y, 0)))
        for y in states
    ]
    return float(K * order_probability + np.dot(pi, period_cost))


def test_s_S_cost_matches_markov_chain() -> None:
    for s, S in ((4, 10), (2, 12), (6, 7)):
        assert s_S_cost(s, S, 1, 4, 5, stats.poisson(6)) == pytest.approx(
            _markov_chain_cost(s, S, 1, 4, 5, 6), abs=1e-8
        )


@pytest.mark.parametrize(
    ("K", "mean", "lead_time"), [(5, 6, 0), (50, 6, 0), (0.5, 3, 1), (20, 10, 2), (100, 2, 0)]
)
def test_s_S_matches_brute_force(K: float, mean: float, lead_time: int) -> None:
    demand = stats.poisson(mean)
    s, S, cost = optimize_s_S(1, 4, K, demand, lead_time=lead_time)
    problem = _SSProblem(1, 4, K, demand, lead_time)  # one table for all 2,000 policies
    best = min(problem.cost(a, b) for a in range(-8, 40) for b in range(a + 1, a + 45))
    assert cost == pytest.approx(best, abs=1e-10)
    assert s_S_cost(s, S, 1, 4, K, demand, lead_time=lead_time) == pytest.approx(cost)


def test_s_S_needs_integer_demand() -> None:
    with pytest.raises(ValueError, match="integer-valued"):
        optimize_s_S(1, 4, 5, stats.norm(6, 1))


# --- EOQ and (r, Q) -------------------------------------------------------------------------


def test_example_3_1_eoq() -> None:
    # Snyder & Shen Example 3.1: K = 8, h = 0.225, lambda = 1300: Q* = 304.05, g* = 68.41
    result = economic_order_quantity(8, 0.225, 1300)
    assert result.order_quantity == pytest.approx(304.05, abs=0.005)
    assert result.cost == pytest.approx(68.41, abs=0.005)
    assert eoq_cost(result.order_quantity, 8, 0.225, 1300) == pytest.approx(result.cost)


def test_example_3_8_eoq_with_backorders() -> None:
    # Snyder & Shen Example 3.8: K = 8, h = 0.225, p = 5, lambda = 1300:
    # Q* = 310.81, x* = 0.0431, g* = 66.92
    result = economic_order_quantity_with_backorders(8, 0.225, 5, 1300)
    assert result.order_quantity == pytest.approx(310.81, abs=0.005)
    assert result.stockout_fraction == pytest.approx(0.0431, abs=0.00005)
    assert result.cost == pytest.approx(66.92, abs=0.005)
    assert eoq_with_backorders_cost(
        result.order_quantity, result.stockout_fraction, 8, 0.225, 5, 1300
    ) == pytest.approx(result.cost)


def test_example_5_1_r_Q() -> None:
    # Snyder & Shen Example 5.1: h = 0.225, p = 7.5, K = 8, lambda = 1300, tau = 150, L = 1/12;
    # published r* = 126.8, Q* = 328.5, g* = 78.07. The exact first-order conditions give
    # (126.867, 328.449); the published point is 2e-5 dearer (flat surface).
    result = optimize_r_Q(0.225, 7.5, 8, 1300, 150, 1 / 12)
    assert result.expected_cost == pytest.approx(78.07, abs=0.005)
    assert result.reorder_point == pytest.approx(126.8, abs=0.1)
    assert result.order_quantity == pytest.approx(328.5, abs=0.1)
    published = r_Q_cost(126.8, 328.5, 0.225, 7.5, 8, 1300, 150, 1 / 12)
    assert result.expected_cost <= published
    assert published - result.expected_cost < 1e-4


def test_r_Q_cost_matches_numerical_integral() -> None:
    # brute-force double integral on a fine grid (trapezoid rule), independent of the closed form
    mean, sd = 1300 / 12, 150 / np.sqrt(12)
    x = np.linspace(mean - 12 * sd, mean + 12 * sd, 4001)
    density = stats.norm.pdf(x, mean, sd)
    y = np.linspace(100.0, 400.0, 1501)
    cost = 0.225 * np.maximum(y[:, None] - x, 0) + 7.5 * np.maximum(x - y[:, None], 0)
    g = integrate.trapezoid(cost * density, x, axis=1)
    expected = (8 * 1300 + integrate.trapezoid(g, y)) / 300.0
    assert r_Q_cost(100.0, 300.0, 0.225, 7.5, 8, 1300, 150, 1 / 12) == pytest.approx(expected, rel=1e-5)
