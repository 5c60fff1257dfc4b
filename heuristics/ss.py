"""Exact optimal (s, S) policies for periodic review with a fixed order cost.

This module owns the algorithm of Zheng & Federgruen (1991), "Finding optimal (s, S) policies is
about as simple as evaluating a single policy", *Operations Research* 39(4): 654-665, as
presented in Snyder & Shen, *Fundamentals of Supply Chain Theory*, 2nd ed., chapter 4
(Algorithm 4.2).

Model (single stage, infinite horizon, average cost, backorders, integer-valued demand):

=====================  ======  ==============================================================
name                   symbol  meaning (units)
=====================  ======  ==============================================================
holding_cost           ``h``   cost per unit on hand at the end of a period
stockout_cost          ``p``   cost per unit backordered at the end of a period
fixed_cost             ``K``   cost per order placed
reorder_point          ``s``   order when the inventory position is ``<= s``
order_up_to_level      ``S``   ... and then raise the inventory position to ``S``
lead_time              ``L``   periods from order to receipt (0 in Example 4.7)
=====================  ======  ==============================================================

At the start of a period, if the inventory position ``y <= s`` the firm orders up to ``S``; the
period then costs ``G(y) = h * E[(y - D)^+] + p * E[(D - y)^+]`` in expectation, with ``D`` the
demand over ``L + 1`` periods (as in :mod:`heuristics.newsvendor`). With ``m`` the renewal
function of one period's demand (``m(0) = 1 / (1 - p_0)``,
``m(j) = m(0) * sum_{l=1..j} p_l m(j - l)``) and ``M(j) = m(0) + ... + m(j - 1)``, the average
cost per period is (Snyder & Shen eq. 4.71-4.75; Zheng & Federgruen eq. 2)::

    c(s, S) = (K + sum_{d=0}^{S-s-1} m(d) * G(S - d)) / M(S - s)
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from heuristics import _lattice


class _SSProblem:
    """Tabulated ``G``, ``m`` and ``M`` for one instance (grown on demand)."""

    def __init__(
        self,
        holding_cost: float,
        stockout_cost: float,
        fixed_cost: float,
        demand: Any,
        lead_time: int,
    ) -> None:
        for name, value in (
            ("holding_cost", holding_cost),
            ("stockout_cost", stockout_cost),
            ("fixed_cost", fixed_cost),
        ):
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be finite and >= 0; got {value}")
        if holding_cost <= 0 or stockout_cost <= 0:
            raise ValueError(
                f"holding_cost and stockout_cost must be > 0; got {holding_cost}, {stockout_cost}"
            )
        if lead_time < 0 or int(lead_time) != lead_time:
            raise ValueError(f"lead_time must be a non-negative integer; got {lead_time!r}")
        if not _lattice.is_integer_valued(demand):
            raise ValueError(
                "optimize_s_S needs integer-valued demand (Poisson, another discrete "
                f"distribution or integer samples); got {demand!r}"
            )
        one_period = _lattice.lead_time_demand(demand, 1, 1.0)
        if one_period.first_index < 0:
            raise ValueError(
                f"demand must be non-negative; its support starts at {one_period.first_index}"
            )
        self.h, self.p, self.K = float(holding_cost), float(stockout_cost), float(fixed_cost)
        self.pmf = np.zeros(one_period.last_index + 1)
        self.pmf[one_period.first_index :] = one_period.masses / one_period.masses.sum()
        if self.pmf[0] >= 1.0:
            raise ValueError("demand is always zero; no (s, S) policy is needed")
        protection = _lattice.lead_time_demand(demand, int(lead_time) + 1, 1.0)
        self._values = protection.values
        self._masses = protection.masses / protection.masses.sum()
        self.mean_protection = float(np.dot(self._values, self._masses))
        self.m = np.array([1.0 / (1.0 - self.pmf[0])])

    def G(self, y: int) -> float:
        """Expected one-period holding and stockout cost at inventory position ``y``."""
        return float(self.G_many(np.array([y]))[0])

    def G_many(self, positions: NDArray[np.int64]) -> NDArray[np.float64]:
        """``G`` at several inventory positions at once."""
        gaps = np.maximum(self._values[None, :] - positions[:, None], 0.0)
        shortfall = gaps @ self._masses
        return self.h * (positions - self.mean_protection + shortfall) + self.p * shortfall

    def _grow_renewal(self, size: int) -> None:
        old = len(self.m)
        if old >= size:
            return
        m = np.concatenate((self.m, np.zeros(max(size, 2 * old) - old)))
        pmf = self.pmf
        for j in range(old, len(m)):  # m(j) = m(0) * sum_{l=1..j} p_l * m(j - l)
            upper = min(j, len(pmf) - 1)
            m[j] = m[0] * np.dot(pmf[1 : upper + 1], m[j - upper : j][::-1])
        self.m = m

    def cost(self, s: int, S: int) -> float:
        """``c(s, S)`` of Zheng & Federgruen (1991)."""
        gap = S - s
        if gap < 1:
            raise ValueError(f"need reorder_point < order_up_to_level; got s={s}, S={S}")
        self._grow_renewal(gap)
        g = self.G_many(S - np.arange(gap))
        return float((self.K + np.dot(self.m[:gap], g)) / self.m[:gap].sum())


def s_S_cost(
    reorder_point: int,
    order_up_to_level: int,
    holding_cost: float,
    stockout_cost: float,
    fixed_cost: float,
    demand: Any,
    *,
    lead_time: int = 0,
) -> float:
    """Exact expected cost per period of the (s, S) policy (Zheng & Federgruen 1991, eq. 2).

    Example (Snyder & Shen, Example 4.7): h = 1, p = 4, K = 5, Poisson(6) demand, L = 0:
    c(4, 10) = 8.034.

    >>> from scipy import stats
    >>> round(s_S_cost(4, 10, 1, 4, 5, stats.poisson(6)), 3)
    8.034
    """
    problem = _SSProblem(holding_cost, stockout_cost, fixed_cost, demand, lead_time)
    return problem.cost(int(reorder_point), int(order_up_to_level))


def optimize_s_S(
    holding_cost: float,
    stockout_cost: float,
    fixed_cost: float,
    demand: Any,
    *,
    lead_time: int = 0,
) -> tuple[int, int, float]:
    """Optimal ``(s, S, cost)`` by the Zheng & Federgruen (1991) algorithm.

    Convention: order up to ``S`` when the inventory position is ``<= s``. Demand is one
    period's integer-valued demand (frozen discrete ``scipy.stats`` distribution or integer
    samples).

    Example (Snyder & Shen, Example 4.7): h = 1, p = 4, K = 5, Poisson(6), L = 0 gives
    (s, S) = (4, 10) at cost 8.034 per period.

    >>> from scipy import stats
    >>> s, S, cost = optimize_s_S(1, 4, 5, stats.poisson(6))
    >>> s, S, round(cost, 3)
    (4, 10, 8.034)
    """
    problem = _SSProblem(holding_cost, stockout_cost, fixed_cost, demand, lead_time)
    G = problem.G
    # y*: the smallest minimizer of the convex G (the newsvendor level)
    y_star = int(np.floor(problem.mean_protection))
    while G(y_star - 1) <= G(y_star):
        y_star -= 1
    while G(y_star + 1) < G(y_star):
        y_star += 1
    # s(S0) for S0 = y*: lower s until c(s, S0) <= G(s)
    order_up_to = y_star
    s = y_star - 1
    while problem.cost(s, order_up_to) > G(s):
        s -= 1
    best_cost = problem.cost(s, order_up_to)
    # scan S upward until G(S) exceeds the best cost; raise s whenever S improves
    S = order_up_to + 1
    while True:
        if problem.cost(s, S) < best_cost:
            order_up_to = S
            while problem.cost(s, order_up_to) <= G(s + 1):
                s += 1
            best_cost = problem.cost(s, order_up_to)
        S += 1
        if G(S) > best_cost:
            return s, order_up_to, best_cost
