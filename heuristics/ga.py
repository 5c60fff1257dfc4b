"""Adaptive genetic algorithm for uncapacitated lot sizing (setup-vector encoding).

This module owns :func:`ga_lot_sizing`, a genetic algorithm whose crossover and mutation
probabilities adapt to each solution's fitness as in Srinivas & Patnaik (1994), "Adaptive
probabilities of crossover and mutation in genetic algorithms", *IEEE Transactions on Systems,
Man, and Cybernetics* 24(4): 656-667. Their rules, written for costs ``c`` (fitness ``-c``) with
``c_min`` and ``c_avg`` the best and mean cost of the current population::

    p_c = k1 * (c' - c_min) / (c_avg - c_min)  if c' <= c_avg, else k3   (c': better parent)
    p_m = k2 * (c  - c_min) / (c_avg - c_min)  if c  <= c_avg, else k4   (c: the child)

with their recommended ``k1 = k3 = 1.0`` and ``k2 = k4 = 0.5``: good solutions are protected,
below-average ones are disrupted. ``p_m`` is a per-gene flip probability, floored at
``minimum_mutation_rate`` so that a converged population keeps exploring.

Encoding (uncapacitated case): a chromosome is a boolean vector with one gene per period, true
where an order may be placed; each period's demand is ordered in the latest setup period at or
before it (which is optimal for a given set of setup periods), and a setup that serves no demand
places no order. A chromosome with no setup before the first period with demand is repaired by
setting that gene. Cost as in :mod:`heuristics.lot_sizing`.

The initial population holds the lot-for-lot, Silver-Meal, least-unit-cost, part-period-balancing
and (by default) Wagner-Whitin plans, the rest random; the best chromosome is always kept
(elitism), so the result is never worse than any seeded plan. Selection is by binary tournament.
All randomness comes from the ``rng`` argument: the same seed gives the same result.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from heuristics.lot_sizing import (
    LotSizingResult,
    _Instance,
    _instance,
    _setup_vector_costs,
    _setup_vector_orders,
    least_unit_cost,
    part_period_balancing,
    silver_meal,
    wagner_whitin,
)


@dataclass(frozen=True, eq=False)
class GAResult(LotSizingResult):
    """A lot-sizing plan found by the GA.

    Attributes:
        orders: order quantity per period.
        cost: setup plus holding cost of the plan.
        generations: generations run (fewer than asked when ``patience`` stopped the search).
        best_cost_by_generation: best cost in the population after each generation (the first
            entry is the initial population's), non-increasing.
    """

    generations: int = 0
    best_cost_by_generation: tuple[float, ...] = ()


def _adaptive_rate(
    costs: NDArray[np.float64], best: float, average: float, scale: float, above_average: float
) -> NDArray[np.float64]:
    """Srinivas-Patnaik rate: ``scale * (c - c_min) / (c_avg - c_min)`` or ``above_average``."""
    spread = average - best
    if spread <= 1e-12 * max(1.0, abs(average)):
        relative = np.zeros_like(costs)
    else:
        relative = (costs - best) / spread
    return np.where(costs <= average, scale * relative, above_average)


def _seed_population(
    instance: _Instance, size: int, rng: np.random.Generator, with_wagner_whitin: bool
) -> NDArray[np.bool_]:
    demand = instance.demand
    args = (demand, instance.setup_cost, instance.holding_cost)
    plans = [silver_meal(*args), least_unit_cost(*args), part_period_balancing(*args)]
    if with_wagner_whitin:
        plans.append(wagner_whitin(*args))
    seeds = [demand > 0] + [plan.orders > 0 for plan in plans]
    T = instance.periods
    densities = rng.uniform(0.05, 0.95, size=(size, 1))
    population = rng.random((size, T)) < densities
    population[: min(len(seeds), size)] = np.array(seeds[:size])
    return population


def _repair(population: NDArray[np.bool_], first_demand: int) -> None:
    """Make sure some setup precedes the first period with demand (in place)."""
    if first_demand >= 0:
        uncovered = ~population[:, : first_demand + 1].any(axis=1)
        population[uncovered, first_demand] = True


def ga_lot_sizing(
    demand: ArrayLike,
    setup_cost: ArrayLike,
    holding_cost: ArrayLike,
    *,
    rng: np.random.Generator,
    population_size: int = 40,
    generations: int = 100,
    patience: int | None = 40,
    k1: float = 1.0,
    k2: float = 0.5,
    k3: float = 1.0,
    k4: float = 0.5,
    minimum_mutation_rate: float = 0.005,
    seed_with_wagner_whitin: bool = True,
) -> GAResult:
    """Adaptive GA for uncapacitated lot sizing (Srinivas & Patnaik 1994 rates).

    Args:
        demand, setup_cost, holding_cost: as in :func:`heuristics.lot_sizing.wagner_whitin`.
        rng: the only source of randomness.
        population_size: chromosomes per generation (>= 2).
        generations: maximum number of generations.
        patience: stop after this many generations without improvement (None: never).
        k1, k2, k3, k4: Srinivas-Patnaik constants (module docstring).
        minimum_mutation_rate: floor on the per-gene mutation probability.
        seed_with_wagner_whitin: put the optimal plan in the initial population (then the GA
            returns an optimal plan; turn off to measure the GA on its own).

    Example (Wagner-Whitin, T = 4, K = 500, h = 2, d = [90, 120, 80, 70]): cost 1380.

    >>> result = ga_lot_sizing([90, 120, 80, 70], 500, 2, rng=np.random.default_rng(0))
    >>> result.orders.tolist(), result.cost
    ([210.0, 0.0, 150.0, 0.0], 1380.0)
    """
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator; got {type(rng).__name__}")
    if population_size < 2:
        raise ValueError(f"population_size must be >= 2; got {population_size}")
    if generations < 0:
        raise ValueError(f"generations must be >= 0; got {generations}")
    for name, value in (
        ("k1", k1),
        ("k2", k2),
        ("k3", k3),
        ("k4", k4),
        ("minimum_mutation_rate", minimum_mutation_rate),
    ):
        if not 0 <= value <= 1:
            raise ValueError(f"{name} must be a probability in [0, 1]; got {value}")
    instance = _instance(demand, setup_cost, holding_cost)
    T = instance.periods
    positive = np.flatnonzero(instance.demand > 0)
    first_demand = int(positive[0]) if positive.size else -1

    population = _seed_population(instance, population_size, rng, seed_with_wagner_whitin)
    _repair(population, first_demand)
    costs = _setup_vector_costs(population, instance)
    history = [float(costs.min())]
    pairs = population_size // 2  # ceil((population_size - 1) / 2): all slots but the elite
    generation = 0
    stale = 0
    while generation < generations and (patience is None or stale < patience):
        generation += 1
        best, average = float(costs.min()), float(costs.mean())
        # ALGO LOGIC: binary tournament selection of 2 * pairs parents
        contestants = rng.integers(population_size, size=(2 * pairs, 2))
        winners = contestants[np.arange(2 * pairs), np.argmin(costs[contestants], axis=1)]
        mothers, fathers = winners[:pairs], winners[pairs:]
        # adaptive one-point crossover
        better_parent = np.minimum(costs[mothers], costs[fathers])
        crossover_rate = _adaptive_rate(better_parent, best, average, k1, k3)
        crossing = rng.random(pairs) < crossover_rate
        cuts = rng.integers(1, max(T, 2), size=pairs)
        head = (np.arange(T) < cuts[:, None]) | ~crossing[:, None]
        first_children = np.where(head, population[mothers], population[fathers])
        second_children = np.where(head, population[fathers], population[mothers])
        children = np.concatenate((first_children, second_children))[: population_size - 1]
        # adaptive mutation, rate from each child's own cost
        child_costs = _setup_vector_costs(children, instance)
        mutation_rate = np.maximum(
            _adaptive_rate(child_costs, best, average, k2, k4), minimum_mutation_rate
        )
        children ^= rng.random(children.shape) < mutation_rate[:, None]
        _repair(children, first_demand)
        # elitism: the best chromosome survives unchanged
        elite = population[int(np.argmin(costs))][None, :]
        population = np.concatenate((elite, children))
        costs = _setup_vector_costs(population, instance)
        new_best = float(costs.min())
        stale = 0 if new_best < history[-1] - 1e-12 * max(1.0, abs(new_best)) else stale + 1
        history.append(new_best)

    plan = _setup_vector_orders(population[int(np.argmin(costs))], instance)
    return GAResult(
        orders=plan.orders,
        cost=plan.cost,
        generations=generation,
        best_cost_by_generation=tuple(history),
    )
