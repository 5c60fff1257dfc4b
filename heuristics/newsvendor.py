"""Newsvendor critical fractile and single-stage base-stock levels with lead time.

This module owns the single-stage, periodic-review, backorder model of Snyder & Shen,
*Fundamentals of Supply Chain Theory*, 2nd ed., chapter 4 (the newsvendor and its lead-time form):

=================  ======  ===================================================================
name               symbol  meaning (units)
=================  ======  ===================================================================
holding_cost       ``h``   cost per unit on hand at the end of a period (cost / unit / period)
stockout_cost      ``p``   cost per unit backordered at the end of a period
lead_time          ``L``   periods between placing and receiving an order
base_stock_level   ``S``   target inventory position after ordering (units)
critical_fractile  ``a``   ``p / (p + h)``
=================  ======  ===================================================================

The order for a period is placed at its start, before that period's demand, and arrives ``L``
periods later; so the inventory level at the end of period ``t + L`` is ``S`` minus the demand in
periods ``t, ..., t + L``: the *protection demand* covers ``L + 1`` periods (Snyder & Shen,
ch. 4). Its expected cost is the newsvendor function
``g(S) = h * E[(S - D)^+] + p * E[(D - S)^+]``, minimized by the smallest ``S`` with
``F(S) >= p / (p + h)`` (``F``: cdf of the protection demand).

In the twin's event order (orders are placed after the period's demand), a lane with lead time
``L`` protects against ``L`` periods of demand: pass ``lead_time = L - 1`` here, which is also the
one-stage case of :func:`heuristics.serial.optimize_echelon_base_stock`.

Demand is one period's demand: a frozen ``scipy.stats`` distribution or a 1-D array of samples
(the empirical distribution; with ``lead_time > 0`` the samples must be integers, so that the
``L + 1``-fold convolution is exact). Normal and Poisson demand use closed forms; others use a
lattice (see ``heuristics._lattice``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import special, stats

from heuristics import _lattice

_CONTINUOUS_GRID_RESOLUTION = 2000.0
"""Lattice steps per standard deviation for non-normal continuous demand with lead time."""


@dataclass(frozen=True)
class BaseStockResult:
    """Optimal single-stage base-stock policy.

    Attributes:
        base_stock_level: optimal ``S*`` (an integer value for integer-valued demand).
        expected_cost: ``g(S*)``, expected holding plus stockout cost per period.
        critical_fractile: ``p / (p + h)``.
    """

    base_stock_level: float
    expected_cost: float
    critical_fractile: float


def critical_fractile(holding_cost: float, stockout_cost: float) -> float:
    """The newsvendor critical fractile ``p / (p + h)`` (Snyder & Shen, eq. 4.27).

    Example (Snyder & Shen, Example 4.3): h = 0.18, p = 0.70 gives 0.7955.

    >>> round(critical_fractile(0.18, 0.70), 4)
    0.7955
    """
    _check_costs(holding_cost, stockout_cost)
    return stockout_cost / (stockout_cost + holding_cost)


def base_stock_level(
    holding_cost: float, stockout_cost: float, demand: Any, lead_time: int = 0
) -> float:
    """Optimal base-stock level: the critical-fractile quantile of ``L + 1`` periods of demand.

    Example (Snyder & Shen, Example 4.3): h = 0.18, p = 0.70, D ~ N(50, 8): S* = 56.60.

    >>> from scipy import stats
    >>> round(base_stock_level(0.18, 0.70, stats.norm(50, 8)), 2)
    56.6
    """
    fractile = critical_fractile(holding_cost, stockout_cost)
    protection = _protection_demand(demand, lead_time)
    if isinstance(protection, np.ndarray):  # empirical: smallest sample with F_n(x) >= fractile
        return float(np.quantile(protection, fractile, method="inverted_cdf"))
    if isinstance(protection, _lattice.Lattice):
        cdf = np.cumsum(protection.masses) / protection.masses.sum()
        index = min(int(np.searchsorted(cdf, fractile - 1e-12)), len(cdf) - 1)
        if _lattice.is_integer_valued(demand):
            return float(protection.values[index])
        # continuous demand: each mass stands for the cell [x - step/2, x + step/2); interpolate
        below = cdf[index - 1] if index > 0 else 0.0
        share = (fractile - below) / max(cdf[index] - below, 1e-300)
        return float(protection.values[index] + (share - 0.5) * protection.step)
    return float(protection.ppf(fractile))


def newsvendor_cost(
    level: float, holding_cost: float, stockout_cost: float, demand: Any, lead_time: int = 0
) -> float:
    """Expected cost per period ``h * E[(S - D)^+] + p * E[(D - S)^+]`` of base-stock level ``S``.

    ``D`` is the demand over ``lead_time + 1`` periods. Example (Snyder & Shen, Example 4.3):
    h = 0.18, p = 0.70, D ~ N(50, 8), S = 56.60 costs 2.00 per period.

    >>> from scipy import stats
    >>> round(newsvendor_cost(56.60, 0.18, 0.70, stats.norm(50, 8)), 2)
    2.0
    """
    _check_costs(holding_cost, stockout_cost)
    if not np.isfinite(level):
        raise ValueError(f"level must be finite; got {level}")
    protection = _protection_demand(demand, lead_time)
    shortfall, mean = _expected_shortfall_and_mean(protection, float(level))
    expected_on_hand = level - mean + shortfall  # E[(S - D)^+] = S - E[D] + E[(D - S)^+]
    return float(holding_cost * expected_on_hand + stockout_cost * shortfall)


def optimize_base_stock(
    holding_cost: float, stockout_cost: float, demand: Any, lead_time: int = 0
) -> BaseStockResult:
    """Optimal base-stock level and its expected cost, with lead time (Snyder & Shen ch. 4).

    Example (Snyder & Shen, Example 4.3): h = 0.18, p = 0.70, D ~ N(50, 8): S* = 56.60,
    g(S*) = 2.00.

    >>> from scipy import stats
    >>> result = optimize_base_stock(0.18, 0.70, stats.norm(50, 8))
    >>> round(result.base_stock_level, 2), round(result.expected_cost, 4)
    (56.6, 1.9976)
    """
    level = base_stock_level(holding_cost, stockout_cost, demand, lead_time)
    return BaseStockResult(
        base_stock_level=level,
        expected_cost=newsvendor_cost(level, holding_cost, stockout_cost, demand, lead_time),
        critical_fractile=critical_fractile(holding_cost, stockout_cost),
    )


def _check_costs(holding_cost: float, stockout_cost: float) -> None:
    if not np.isfinite(holding_cost) or holding_cost < 0:
        raise ValueError(f"holding_cost must be finite and >= 0; got {holding_cost}")
    if not np.isfinite(stockout_cost) or stockout_cost < 0:
        raise ValueError(f"stockout_cost must be finite and >= 0; got {stockout_cost}")
    if holding_cost + stockout_cost <= 0:
        raise ValueError(
            f"holding_cost + stockout_cost must be > 0; got {holding_cost} + {stockout_cost}"
        )


def _protection_demand(demand: Any, lead_time: int) -> Any:
    """Demand over ``lead_time + 1`` periods: a frozen distribution, samples, or a lattice."""
    if lead_time < 0 or int(lead_time) != lead_time:
        raise ValueError(f"lead_time must be a non-negative integer; got {lead_time!r}")
    periods = int(lead_time) + 1
    samples = _lattice.as_samples(demand)
    if samples is not None:
        if periods == 1:
            return samples
        return _lattice.lead_time_demand(samples, periods, 1.0)
    if _lattice.is_normal(demand):
        return stats.norm(periods * demand.mean(), np.sqrt(periods) * demand.std())
    if _lattice.is_poisson(demand):
        return stats.poisson(periods * demand.mean())
    if periods == 1 and not isinstance(demand, stats.rv_discrete):
        return demand
    if _lattice.is_integer_valued(demand):
        return _lattice.lead_time_demand(demand, periods, 1.0)
    _, sd = _lattice.one_period_moments(demand)
    step = sd * np.sqrt(periods) / _CONTINUOUS_GRID_RESOLUTION
    return _lattice.lead_time_demand(demand, periods, step)


def _expected_shortfall_and_mean(protection: Any, level: float) -> tuple[float, float]:
    """``(E[(D - S)^+], E[D])`` for the protection demand ``D`` and level ``S``."""
    if isinstance(protection, np.ndarray):
        return float(np.maximum(protection - level, 0.0).mean()), float(protection.mean())
    if isinstance(protection, _lattice.Lattice):
        values, masses = protection.values, protection.masses / protection.masses.sum()
        return float(np.dot(np.maximum(values - level, 0.0), masses)), float(np.dot(values, masses))
    mean = float(protection.mean())
    if _lattice.is_normal(protection):  # standard normal loss: phi(z) - z * (1 - Phi(z))
        sd = float(protection.std())
        z = (level - mean) / sd
        loss = np.exp(-0.5 * z * z) / np.sqrt(2 * np.pi) - z * special.ndtr(-z)
        return float(sd * loss), mean
    if isinstance(protection.dist, stats.rv_discrete):
        points = _discrete_points(protection)
        return float(np.dot(np.maximum(points - level, 0.0), protection.pmf(points))), mean
    shortfall = protection.expect(lambda x: x - level, lb=level)
    return float(shortfall), mean


def _discrete_points(distribution: Any) -> NDArray[np.float64]:
    low, high = distribution.support()
    lo = low if np.isfinite(low) else distribution.ppf(_lattice.TAIL_PROBABILITY)
    hi = high if np.isfinite(high) else distribution.isf(_lattice.TAIL_PROBABILITY) + 1
    return np.arange(int(lo), int(hi) + 1, dtype=float)
