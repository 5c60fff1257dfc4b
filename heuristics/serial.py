"""Exact echelon base-stock optimization and evaluation for serial systems.

This module owns the Clark-Scarf / Chen-Zheng recursion for an ``N``-stage serial supply chain under
periodic review with backorders (Clark & Scarf 1960; Chen & Zheng 1994), in the notation of Snyder
& Shen, *Fundamentals of Supply Chain Theory*, 2nd ed., section 6.2.

Model and symbols (stage 1 faces the customer; every list is indexed from stage 1 upward):

==================  ========  ==================================================================
name                symbol    meaning (units)
==================  ========  ==================================================================
echelon_holding     ``h_j``   echelon holding cost rate at stage ``j`` (cost / unit / period)
local holding       ``h'_j``  ``h_j + h_{j+1} + ... + h_N``, the local rate at stage ``j``
lead_times          ``L_j``   periods from shipment by stage ``j + 1`` to arrival at ``j``
stockout_cost       ``p``     cost per backordered unit per period, at stage 1 only
demand              ``D``     one period's customer demand at stage 1 (i.i.d.)
echelon_levels      ``S_j``   target echelon inventory position of stage ``j`` (units)
local_levels        ``s_j``   ``S_j - S_{j-1}`` (``S_0 = 0``), the local base-stock levels
==================  ========  ==================================================================

Within a period: shipments arrive, customer demand is met or backordered, then every stage orders
to bring its echelon inventory position up to ``S_j`` and its supplier ships what it can (the
outside supplier of stage ``N`` always can). So the demand that stage ``j``'s level must cover is
``L_j`` periods of demand (not ``L_j + 1``), exactly as in the twin's event order.

Cost computed (the *local-cost form*; per period, at the end of the period, in steady state)::

    sum_j h'_j * E[on-hand stock at stage j]
  + sum_{j<N} h'_{j+1} * E[stock in transit from stage j+1 to stage j]
  + p * E[backorders at stage 1]

Stock in transit into the top stage ``N`` from the outside supplier is free, and backorders at
stages above 1 (owed to the next stage down) cost nothing by themselves. By the identity
``sum_j h_j * IL_j + (p + h'_1) * max(-IL_1, 0)`` = the expression above (``IL_j``: echelon
inventory level of stage ``j``), it equals the echelon-cost objective of Snyder & Shen, section 6.2.
The in-transit part, ``sum_{j<N} h'_{j+1} * L_j * E[D]``, does not depend on the levels; see
:func:`expected_in_transit_holding_cost` for a simulator that charges on-hand stock only.

Recursion (Snyder & Shen, section 6.2, after Chen & Zheng 1994), with ``D_j`` the demand over
``L_j`` periods::

    underline_g_0(x) = (p + h'_1) * max(-x, 0)
    hat_g_j(x)       = h_j * x + underline_g_{j-1}(x)
    g_j(y)           = E[hat_g_j(y - D_j)]
    S*_j             = argmin_y g_j(y)
    underline_g_j(x) = g_j(min(S*_j, x))
    optimal cost     = g_N(S*_N)

The evaluator runs the same recursion with given levels in place of the minimizers: this is the
exact expected cost of the echelon base-stock policy with those levels, since the echelon
inventory level of stage ``j`` is ``min(S_j, IL_{j+1}) - D_j`` with independent ``D_j``.

Numerics: the ``g_j`` are tabulated on one lattice of step ``grid_step`` (1 for integer-valued
demand, where the result is exact up to tails below 1e-15; ``sigma * sqrt(min L) / 1000`` for
normal demand, where the error is ``O(grid_step**2)``, about 1e-7 on Example 6.1). Each
expectation is one FFT convolution; beyond the lattice ends the functions are extended linearly,
which is exact there because the lattice covers every kink.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from heuristics import _lattice

_GRID_RESOLUTION = 1000.0
"""Default number of lattice steps per standard deviation of the shortest lead-time demand."""


@dataclass(frozen=True)
class EchelonBaseStockResult:
    """Optimal echelon base-stock policy of a serial system.

    Attributes:
        echelon_levels: optimal echelon base-stock levels ``S*_1, ..., S*_N`` (stage 1 first).
        local_levels: the matching local levels ``S*_j - S*_{j-1}``.
        expected_cost: expected cost per period in the local-cost form (module docstring).
    """

    echelon_levels: tuple[float, ...]
    local_levels: tuple[float, ...]
    expected_cost: float


@dataclass(frozen=True)
class _SerialProblem:
    echelon_holding_costs: NDArray[np.float64]
    lead_times: tuple[int, ...]
    stockout_cost: float
    step: float
    integer_levels: bool
    lead_time_demands: tuple[_lattice.Lattice, ...]


def echelon_to_local_levels(echelon_levels: Sequence[float]) -> tuple[float, ...]:
    """Local base-stock levels ``S_j - S_{j-1}`` (``S_0 = 0``), stage 1 first.

    Example (Snyder & Shen, Example 6.1): echelon (6.49, 12.02, 22.71) gives local
    (6.49, 5.53, 10.69).

    >>> [round(x, 2) for x in echelon_to_local_levels([6.49, 12.02, 22.71])]
    [6.49, 5.53, 10.69]
    """
    levels = np.asarray(echelon_levels, dtype=float)
    return tuple(float(x) for x in np.diff(levels, prepend=0.0))


def local_to_echelon_levels(local_levels: Sequence[float]) -> tuple[float, ...]:
    """Echelon base-stock levels ``S_j = s_1 + ... + s_j``, stage 1 first.

    >>> local_to_echelon_levels([4, 5, 1])
    (4.0, 9.0, 10.0)
    """
    return tuple(float(x) for x in np.cumsum(np.asarray(local_levels, dtype=float)))


def expected_in_transit_holding_cost(
    echelon_holding_costs: Sequence[float], lead_times: Sequence[int], demand: Any
) -> float:
    """Expected holding cost per period of stock in transit between stages.

    ``sum_{j<N} h'_{j+1} * L_j * E[D]``: in steady state every stage ships ``E[D]`` per period on
    average, so on average ``L_j * E[D]`` units are on the way to stage ``j``, whatever the levels.
    Subtract it from :func:`evaluate_echelon_base_stock` to get the on-hand plus backorder cost.

    Example (Snyder & Shen, Example 6.1): h = (3, 2, 2), L = (1, 1, 2), E[D] = 5 gives
    4 * 1 * 5 + 2 * 1 * 5 = 30.

    >>> from scipy import stats
    >>> expected_in_transit_holding_cost([3, 2, 2], [1, 1, 2], stats.norm(5, 1))
    30.0
    """
    holding = _validated_holding_costs(echelon_holding_costs)
    leads = _validated_lead_times(lead_times, len(holding))
    local_holding = np.cumsum(holding[::-1])[::-1]
    mean_demand, _ = _lattice.one_period_moments(demand)
    return float(sum(local_holding[j + 1] * leads[j] * mean_demand for j in range(len(leads) - 1)))


def optimize_echelon_base_stock(
    echelon_holding_costs: Sequence[float],
    lead_times: Sequence[int],
    stockout_cost: float,
    demand: Any,
    *,
    grid_step: float | None = None,
) -> EchelonBaseStockResult:
    """Optimal echelon base-stock levels of a serial system (Chen & Zheng 1994).

    Args:
        echelon_holding_costs: ``h_1, ..., h_N`` (stage 1 = customer-facing), each ``>= 0``.
        lead_times: ``L_1, ..., L_N``, non-negative integers (periods).
        stockout_cost: ``p >= 0`` per backordered unit per period at stage 1.
        demand: one period's demand, a frozen ``scipy.stats`` distribution (``norm(5, 1)``,
            ``poisson(5)``, any other frozen distribution, ``rv_discrete(values=...)``) or a 1-D
            array of integer demand samples (empirical distribution).
        grid_step: lattice step for continuous demand (default ``sigma * sqrt(min L) / 1000``);
            ignored for integer-valued demand, whose levels are integers.

    Returns:
        The optimal echelon and local levels and the expected cost per period in the local-cost
        form described in the module docstring. Echelon levels are reported non-decreasing
        upstream: where the recursion's minimizer at stage ``j`` exceeds the one at ``j + 1``
        (possible with short upstream lead times and a low stockout cost) the policy is the
        same with ``S_j = S_{j+1}``, so local levels are never negative.

    Example (Snyder & Shen, Example 6.1): N(5, 1) demand, L = (1, 1, 2), h = (3, 2, 2),
    p = 37.12; published: S* = (6.49, 12.02, 22.71), expected cost 47.66.

    >>> from scipy import stats
    >>> result = optimize_echelon_base_stock([3, 2, 2], [1, 1, 2], 37.12, stats.norm(5, 1))
    >>> [round(s, 2) for s in result.echelon_levels], round(result.expected_cost, 2)
    ([6.49, 12.02, 22.71], 47.66)
    """
    problem = _build_problem(echelon_holding_costs, lead_times, stockout_cost, demand, grid_step)
    levels, cost = _run_recursion(problem, None)
    # A minimizer S*_j above S*_{j+1} acts exactly like S*_{j+1} (IL_{j+1} <= S*_{j+1} when
    # demand is non-negative), so report the equivalent non-decreasing levels.
    levels = tuple(float(x) for x in np.minimum.accumulate(np.asarray(levels)[::-1])[::-1])
    return EchelonBaseStockResult(
        echelon_levels=levels,
        local_levels=echelon_to_local_levels(levels),
        expected_cost=cost,
    )


def evaluate_echelon_base_stock(
    echelon_levels: Sequence[float],
    echelon_holding_costs: Sequence[float],
    lead_times: Sequence[int],
    stockout_cost: float,
    demand: Any,
    *,
    grid_step: float | None = None,
) -> float:
    """Exact expected cost per period of given (possibly non-optimal) echelon base-stock levels.

    The cost is the local-cost form of the module docstring: on-hand stock at local rates,
    in-transit stock at the sender's local rate, stage-1 backorders at ``p``. Levels need not be
    increasing (a level above the next stage's acts like that stage's level). For integer-valued
    demand the levels must be integers. Arguments as in :func:`optimize_echelon_base_stock`.

    Example (Snyder & Shen, Example 6.1 data at S = (7, 13, 24)); expected cost 50.36 per period.

    >>> from scipy import stats
    >>> cost = evaluate_echelon_base_stock([7, 13, 24], [3, 2, 2], [1, 1, 2], 37.12,
    ...                                    stats.norm(5, 1))
    >>> round(cost, 2)
    50.36
    """
    problem = _build_problem(echelon_holding_costs, lead_times, stockout_cost, demand, grid_step)
    levels = np.asarray(echelon_levels, dtype=float)
    if levels.shape != (len(problem.lead_times),):
        raise ValueError(
            f"echelon_levels must have one level per stage ({len(problem.lead_times)}); "
            f"got {list(levels)}"
        )
    if not np.all(np.isfinite(levels)):
        raise ValueError(f"echelon_levels must be finite; got {list(levels)}")
    if problem.integer_levels and not np.all(levels == np.round(levels)):
        raise ValueError(
            f"echelon_levels must be integers for integer-valued demand; got {list(levels)}"
        )
    _, cost = _run_recursion(problem, levels)
    return cost


# ALGO LOGIC: validation and lattice set-up ---------------------------------------------------


def _validated_holding_costs(echelon_holding_costs: Sequence[float]) -> NDArray[np.float64]:
    holding = np.asarray(echelon_holding_costs, dtype=float)
    if holding.ndim != 1 or holding.size == 0:
        raise ValueError(
            f"echelon_holding_costs must be a non-empty list; got {echelon_holding_costs!r}"
        )
    if not np.all(np.isfinite(holding)) or np.any(holding < 0):
        raise ValueError(f"echelon_holding_costs must be finite and >= 0; got {list(holding)}")
    return holding


def _validated_lead_times(lead_times: Sequence[int], stages: int) -> tuple[int, ...]:
    leads = np.asarray(lead_times)
    if leads.shape != (stages,):
        raise ValueError(f"lead_times must have one entry per stage ({stages}); got {list(lead_times)}")
    if np.any(leads < 0) or not np.all(leads == np.round(leads)):
        raise ValueError(f"lead_times must be non-negative integers; got {list(lead_times)}")
    return tuple(int(x) for x in leads)


def _build_problem(
    echelon_holding_costs: Sequence[float],
    lead_times: Sequence[int],
    stockout_cost: float,
    demand: Any,
    grid_step: float | None,
) -> _SerialProblem:
    holding = _validated_holding_costs(echelon_holding_costs)
    leads = _validated_lead_times(lead_times, len(holding))
    if not np.isfinite(stockout_cost) or stockout_cost < 0:
        raise ValueError(f"stockout_cost must be finite and >= 0; got {stockout_cost}")
    samples = _lattice.as_samples(demand)
    integer_levels = _lattice.is_integer_valued(demand)
    if samples is not None and not integer_levels:
        raise ValueError(
            "demand samples must be integers for the serial optimizer; round them or pass a "
            "frozen scipy.stats distribution"
        )
    if integer_levels:
        step = 1.0
    elif grid_step is not None:
        if not grid_step > 0:
            raise ValueError(f"grid_step must be > 0; got {grid_step}")
        step = float(grid_step)
    else:
        mean, sd = _lattice.one_period_moments(demand)
        positive = [lead for lead in leads if lead > 0]
        scale = sd * np.sqrt(min(positive)) if positive and sd > 0 else max(abs(mean), 1.0)
        step = scale / _GRID_RESOLUTION
    lattices = tuple(_lattice.lead_time_demand(demand, lead, step) for lead in leads)
    return _SerialProblem(holding, leads, float(stockout_cost), step, integer_levels, lattices)


def _expectation(values: NDArray[np.float64], lattice: _lattice.Lattice) -> NDArray[np.float64]:
    """``out[i] = sum_k m_k * f(x_i - d_k)`` for ``f`` tabulated on the grid ``x``.

    ``f`` is extended linearly beyond both ends of the grid (the callers make sure it is linear
    there). Both the grid and the demand lattice use the same step.
    """
    n, k0, width = len(values), lattice.first_index, len(lattice.masses)
    left = max(0, k0 + width - 1)  # grid indices needed below 0
    right = max(0, -k0)  # grid indices needed above n - 1 (negative demand)
    slope_left = values[1] - values[0]
    slope_right = values[-1] - values[-2]
    padded = np.concatenate(
        (
            values[0] + slope_left * np.arange(-left, 0),
            values,
            values[-1] + slope_right * np.arange(1, right + 1),
        )
    )
    # padded[t] holds f at grid index t - left; convolution index i - k0 + left is out[i]
    return _lattice.convolve(padded, lattice.masses)[left - k0 : left - k0 + n]


def _interpolate(values: NDArray[np.float64], first_index: int, position: float) -> float:
    """Quadratic (three-point) interpolation of a grid table at ``position`` (in steps)."""
    i = int(np.clip(round(position) - first_index, 1, len(values) - 2))
    t = position - (first_index + i)
    below, centre, above = values[i - 1], values[i], values[i + 1]
    return float(centre + t * (above - below) / 2 + t * t * (above - 2 * centre + below) / 2)


def _run_recursion(
    problem: _SerialProblem, levels: NDArray[np.float64] | None
) -> tuple[tuple[float, ...], float]:
    """Chen-Zheng recursion; optimizes when ``levels`` is None, else evaluates ``levels``."""
    step = problem.step
    holding = problem.echelon_holding_costs
    stages = len(holding)
    lows = [ltd.first_index for ltd in problem.lead_time_demands]
    highs = [ltd.last_index for ltd in problem.lead_time_demands]
    positions = None if levels is None else levels / step  # levels in lattice steps

    # Grid [first, last] (in steps) must reach below every point where a hat_g_j stops being
    # linear on the left, and above every level (right kinks) and every possible optimum.
    linear_below = [0.0]
    for j in range(1, stages):
        bound = linear_below[-1] + lows[j - 1]
        if positions is not None:
            bound = min(bound, positions[j - 1])
        linear_below.append(bound)
    first = int(np.floor(min(linear_below))) - 2
    last = int(np.ceil(sum(max(high, 0) for high in highs))) + 2
    if positions is not None:
        last = max(last, int(np.ceil(positions.max())) + 2)
    x = (first + np.arange(last - first + 1)) * step

    local_holding_stage_1 = float(holding.sum())
    underline = (problem.stockout_cost + local_holding_stage_1) * np.maximum(-x, 0.0)
    chosen: list[float] = []
    cost = 0.0
    for j in range(stages):
        hat = holding[j] * x + underline
        g = _expectation(hat, problem.lead_time_demands[j])
        if positions is None:
            i_star = int(np.argmin(g))
            level_index = first + i_star
            cost = float(g[i_star])
            underline = np.where(x < x[i_star], g, cost)
            if problem.integer_levels or not 0 < i_star < len(g) - 1:
                chosen.append(float(x[i_star]))
            else:  # report the vertex of the parabola through the three best grid points
                curvature = g[i_star - 1] - 2 * g[i_star] + g[i_star + 1]
                offset = 0.5 * (g[i_star - 1] - g[i_star + 1]) / curvature if curvature > 0 else 0
                chosen.append(float((level_index + offset) * step))
        else:
            position = float(positions[j])
            cost = (
                float(g[int(round(position)) - first])
                if problem.integer_levels
                else _interpolate(g, first, position)
            )
            underline = np.where(x < position * step, g, cost)
            chosen.append(float(levels[j]) if levels is not None else 0.0)
    return tuple(chosen), cost
