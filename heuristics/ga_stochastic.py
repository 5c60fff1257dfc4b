"""Adaptive GA for capacitated lot sizing under uncertain demand (integer order quantities).

This module owns :func:`ga_stochastic_lot_sizing`: the same adaptive genetic algorithm as
:mod:`heuristics.ga` (crossover and mutation probabilities after Srinivas & Patnaik 1994), with a
chromosome of *integer order quantities*, one per release period, for a single node with a lead
time, a per-period order capacity and backorders. A plan is an open-loop schedule of releases; it
is priced on a fixed set of sampled demand paths, the same paths for every chromosome of every
generation (common random numbers), so that differences between plans are not masked by sampling
noise (Law, *Simulation Modeling and Analysis*, 5th ed., ch. 11).

Cost of a plan on one demand path ``D_0, ..., D_{T-1}`` (all per period, at its end)::

    sum_t K_t * [q_t > 0] + h_t * max(I_t, 0) + p_t * max(-I_t, 0),
    I_t = initial_inventory + sum_{u <= t} (scheduled_receipts_u + q_{u - L} - D_u)

where ``q_t`` units released in period ``t`` arrive in ``t + L`` and ``q_t <= capacity_t``.
Releases that would arrive after the horizon are fixed at 0. The objective is the mean over
paths; its standard error across paths is reported.

The initial population holds lot-for-lot, Silver-Meal and Wagner-Whitin plans for the mean
demand (netted against the starting stock and offset by the lead time, rounded up and clipped to
capacity), the same plans inflated by one and two standard deviations of demand per period, and
random plans; the best chromosome is kept every generation, so the result is never worse, on the
sampled paths, than any of those plans.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from heuristics.ga import _adaptive_rate
from heuristics.lot_sizing import silver_meal, wagner_whitin


@dataclass(frozen=True, eq=False)
class StochasticPlanResult:
    """A release plan found by :func:`ga_stochastic_lot_sizing`.

    Attributes:
        orders: integer units released per period (read-only array of length ``T``).
        cost: mean cost over the demand paths.
        cost_standard_error: standard error of that mean across paths.
        generations: generations run.
        best_cost_by_generation: best mean cost after each generation (non-increasing).
    """

    orders: NDArray[np.float64]
    cost: float
    cost_standard_error: float
    generations: int
    best_cost_by_generation: tuple[float, ...]


@dataclass(frozen=True)
class _Problem:
    paths: NDArray[np.float64]  # (paths, T)
    setup_cost: NDArray[np.float64]
    holding_cost: NDArray[np.float64]
    stockout_cost: NDArray[np.float64]
    capacity: NDArray[np.float64]  # 0 where a release would arrive after the horizon
    lead_time: int
    start: NDArray[np.float64]  # initial inventory plus cumulative scheduled receipts, (T,)

    def path_costs(self, orders: NDArray[np.float64]) -> NDArray[np.float64]:
        """Cost of each plan (rows of ``orders``) on each path: shape (plans, paths)."""
        T, L = self.paths.shape[1], self.lead_time
        arrivals = np.zeros_like(orders)
        arrivals[:, L:] = orders[:, : T - L]
        level = (
            self.start
            + np.cumsum(arrivals, axis=1)[:, None, :]
            - np.cumsum(self.paths, axis=1)[None, :, :]
        )
        per_period = self.holding_cost * np.maximum(level, 0) + self.stockout_cost * np.maximum(
            -level, 0
        )
        setups = (orders > 0) @ self.setup_cost
        return setups[:, None] + per_period.sum(axis=2)


def _problem(
    demand_paths: ArrayLike,
    setup_cost: ArrayLike,
    holding_cost: ArrayLike,
    stockout_cost: ArrayLike,
    lead_time: int,
    capacity: ArrayLike,
    initial_inventory: float,
    scheduled_receipts: ArrayLike,
) -> _Problem:
    paths = np.asarray(demand_paths, dtype=float)
    if paths.ndim == 1:
        paths = paths[None, :]
    if paths.ndim != 2 or paths.size == 0 or not np.all(np.isfinite(paths)) or np.any(paths < 0):
        raise ValueError(
            f"demand_paths must be a (paths, periods) array of non-negative numbers; got shape "
            f"{np.shape(demand_paths)}"
        )
    T = paths.shape[1]
    if lead_time < 0 or int(lead_time) != lead_time:
        raise ValueError(f"lead_time must be a non-negative integer; got {lead_time!r}")
    arrays = []
    for name, value in (
        ("setup_cost", setup_cost),
        ("holding_cost", holding_cost),
        ("stockout_cost", stockout_cost),
        ("capacity", capacity),
    ):
        array = np.asarray(value, dtype=float)
        if array.ndim > 1 or (array.ndim == 1 and array.shape != (T,)):
            raise ValueError(f"{name} must be a scalar or one value per period ({T}); got {value!r}")
        if np.any(np.isnan(array)) or np.any(array < 0):
            raise ValueError(f"{name} must be non-negative; got {value!r}")
        arrays.append(np.broadcast_to(array, (T,)).astype(float))
    K, h, p, cap = arrays
    cap = np.floor(cap)
    cap[max(T - int(lead_time), 0) :] = 0.0  # would arrive after the horizon
    receipts = np.asarray(scheduled_receipts, dtype=float)
    receipts = np.concatenate((receipts, np.zeros(max(T - len(receipts), 0))))[:T]
    start = float(initial_inventory) + np.cumsum(receipts)
    return _Problem(paths, K, h, p, cap, int(lead_time), start)


def stochastic_plan_cost(
    orders: ArrayLike,
    demand_paths: ArrayLike,
    setup_cost: ArrayLike,
    holding_cost: ArrayLike,
    stockout_cost: ArrayLike,
    *,
    lead_time: int = 0,
    initial_inventory: float = 0.0,
    scheduled_receipts: ArrayLike = (),
) -> tuple[float, float]:
    """Mean cost of a release plan over demand paths, and its standard error (module docstring).

    Example: release 10 in period 0 (lead time 1), demand paths [4, 4] and [8, 4], K = 5, h = 1,
    p = 3: the first path ends period 0 with 4 backordered (12) and period 1 with 2 on hand (2),
    the second with 8 then 2 backordered (24 + 6); mean (19 + 35) / 2 = 27.

    >>> stochastic_plan_cost([10, 0], [[4, 4], [8, 4]], 5, 1, 3, lead_time=1)
    (27.0, 8.0)
    """
    problem = _problem(
        demand_paths,
        setup_cost,
        holding_cost,
        stockout_cost,
        lead_time,
        np.inf,
        initial_inventory,
        scheduled_receipts,
    )
    plan = np.asarray(orders, dtype=float)[None, :]
    costs = problem.path_costs(plan)[0]
    error = costs.std(ddof=1) / np.sqrt(len(costs)) if len(costs) > 1 else 0.0
    return float(costs.mean()), float(error)


def _seed_plans(problem: _Problem) -> list[NDArray[np.float64]]:
    """Deterministic plans for the mean demand, plus inflated copies, clipped to capacity."""
    T, L = problem.paths.shape[1], problem.lead_time
    mean = problem.paths.mean(axis=0)
    sd = problem.paths.std(axis=0)
    plans = []
    for inflation in (0.0, 1.0, 2.0):
        target = np.cumsum(mean + inflation * sd)
        # net requirement per receipt period, after the starting stock and scheduled receipts
        covered = np.maximum.accumulate(np.maximum(target - problem.start, 0.0))
        requirement = np.diff(covered, prepend=0.0)
        requirement[:L] = 0.0  # cannot be met by a new order
        releases = np.zeros(T)
        releases[: T - L] = requirement[L:]
        for planner in (None, silver_meal, wagner_whitin):
            if planner is None:
                plan = releases
            else:
                plan = planner(releases, problem.setup_cost, problem.holding_cost).orders
            plans.append(np.minimum(np.ceil(plan - 1e-9), problem.capacity))
    return plans


def ga_stochastic_lot_sizing(
    demand_paths: ArrayLike,
    setup_cost: ArrayLike,
    holding_cost: ArrayLike,
    stockout_cost: ArrayLike,
    *,
    rng: np.random.Generator,
    lead_time: int = 0,
    capacity: ArrayLike = np.inf,
    initial_inventory: float = 0.0,
    scheduled_receipts: ArrayLike = (),
    population_size: int = 40,
    generations: int = 150,
    patience: int | None = 50,
    k1: float = 1.0,
    k2: float = 0.5,
    k3: float = 1.0,
    k4: float = 0.5,
    minimum_mutation_rate: float = 0.01,
) -> StochasticPlanResult:
    """Adaptive GA over integer release quantities, priced on common demand paths.

    Args:
        demand_paths: sampled demand, shape (paths, T) (a 1-D array is one path); sample them
            once with the caller's generator and reuse them to compare plans.
        setup_cost, holding_cost, stockout_cost: ``K``, ``h``, ``p``: scalars or one per period.
        rng: the only source of randomness of the search.
        lead_time: ``L``, periods from release to arrival.
        capacity: most units released per period (scalar or per period).
        initial_inventory: stock on hand minus backorders at the start of period 0.
        scheduled_receipts: units already on the way, per period of arrival.
        population_size, generations, patience, k1..k4, minimum_mutation_rate: as in
            :func:`heuristics.ga.ga_lot_sizing`.

    Example: one known demand path, no lead time or capacity, a large stockout cost: the GA
    returns the Wagner-Whitin plan (cost 580, published).

    >>> path = [20, 50, 10, 50, 50, 10, 20, 40, 20, 30]
    >>> result = ga_stochastic_lot_sizing(path, 100, 1, 1000, rng=np.random.default_rng(0))
    >>> result.cost
    580.0
    """
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator; got {type(rng).__name__}")
    if population_size < 2:
        raise ValueError(f"population_size must be >= 2; got {population_size}")
    problem = _problem(
        demand_paths,
        setup_cost,
        holding_cost,
        stockout_cost,
        lead_time,
        capacity,
        initial_inventory,
        scheduled_receipts,
    )
    T = problem.paths.shape[1]
    typical_lot = max(1.0, float(problem.paths.mean()) * 3)
    upper = np.minimum(problem.capacity, np.ceil(problem.paths.sum(axis=1).max()))

    def random_genes(shape: tuple[int, ...]) -> NDArray[np.float64]:
        lots = np.round(rng.uniform(0.3, 2.0, size=shape) * typical_lot)
        return np.where(rng.random(shape) < 0.5, 0.0, np.minimum(lots, upper))

    seeds = _seed_plans(problem)
    population = random_genes((population_size, T))
    population[: min(len(seeds), population_size)] = np.array(seeds[:population_size])

    def evaluate(plans: NDArray[np.float64]) -> NDArray[np.float64]:
        return problem.path_costs(plans).mean(axis=1)

    costs = evaluate(population)
    history = [float(costs.min())]
    pairs = population_size // 2
    generation = stale = 0
    while generation < generations and (patience is None or stale < patience):
        generation += 1
        best, average = float(costs.min()), float(costs.mean())
        # ALGO LOGIC: binary tournaments, adaptive one-point crossover, adaptive mutation
        contestants = rng.integers(population_size, size=(2 * pairs, 2))
        winners = contestants[np.arange(2 * pairs), np.argmin(costs[contestants], axis=1)]
        mothers, fathers = winners[:pairs], winners[pairs:]
        crossing = rng.random(pairs) < _adaptive_rate(
            np.minimum(costs[mothers], costs[fathers]), best, average, k1, k3
        )
        cuts = rng.integers(1, max(T, 2), size=pairs)
        head = (np.arange(T) < cuts[:, None]) | ~crossing[:, None]
        children = np.concatenate(
            (
                np.where(head, population[mothers], population[fathers]),
                np.where(head, population[fathers], population[mothers]),
            )
        )[: population_size - 1]
        rates = np.maximum(
            _adaptive_rate(evaluate(children), best, average, k2, k4), minimum_mutation_rate
        )
        mutate = rng.random(children.shape) < rates[:, None]
        # a mutated gene is redrawn (new lot or no order) or nudged by up to a third of a lot
        nudged = children + np.round(rng.normal(0.0, typical_lot / 3, size=children.shape))
        replacement = np.where(rng.random(children.shape) < 0.5, random_genes(children.shape), nudged)
        children = np.clip(np.where(mutate, replacement, children), 0.0, upper)
        elite = population[int(np.argmin(costs))][None, :]
        population = np.concatenate((elite, children))
        costs = evaluate(population)
        new_best = float(costs.min())
        stale = 0 if new_best < history[-1] - 1e-12 * max(1.0, abs(new_best)) else stale + 1
        history.append(new_best)

    best_plan = population[int(np.argmin(costs))].copy()
    path_costs = problem.path_costs(best_plan[None, :])[0]
    best_plan.flags.writeable = False
    error = path_costs.std(ddof=1) / np.sqrt(len(path_costs)) if len(path_costs) > 1 else 0.0
    return StochasticPlanResult(
        orders=best_plan,
        cost=float(path_costs.mean()),
        cost_standard_error=float(error),
        generations=generation,
        best_cost_by_generation=tuple(history),
    )
