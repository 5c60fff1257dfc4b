"""Uncapacitated single-item lot sizing: Wagner-Whitin and the classic period-by-period heuristics.

This module owns the dynamic lot-sizing problem of Wagner & Whitin (1958), "Dynamic version of
the economic lot size model", *Management Science* 5(1): 89-96, and the heuristics of Silver &
Meal (1973), least unit cost and part-period balancing (DeMatteis 1968), as presented in Silver,
Pyke & Peterson, *Inventory Management and Production Planning and Scheduling*, 3rd ed., ch. 6.

Model: periods ``t = 0, ..., T - 1`` with known demand ``d_t >= 0``; an order placed in period
``t`` arrives at once (lead times are handled by offsetting, see ``heuristics.dalsa``); no
shortages. Costs: ``setup_cost`` ``K_t`` per order placed in period ``t`` and ``holding_cost``
``h_t`` per unit of inventory at the end of period ``t`` (scalars or one value per period). An
order in period ``i`` that covers periods ``i..j`` costs
``K_i + sum_{t=i..j} d_t * (h_i + ... + h_{t-1})``.

Every planner returns a :class:`LotSizingResult` with ``orders`` (one quantity per period) and the
plan's ``cost``. :func:`plan_cost` prices any feasible plan; :func:`setup_vector_costs` prices many
setup vectors at once (used by the brute-force check and the genetic algorithm).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

_TOLERANCE = 1e-9


@dataclass(frozen=True, eq=False)
class LotSizingResult:
    """A lot-sizing plan.

    Attributes:
        orders: order quantity per period (read-only array of length ``T``).
        cost: setup plus holding cost of the plan.
    """

    orders: NDArray[np.float64]
    cost: float

    @property
    def setup_periods(self) -> tuple[int, ...]:
        """Periods in which an order is placed."""
        return tuple(int(t) for t in np.flatnonzero(self.orders > 0))


@dataclass(frozen=True)
class _Instance:
    demand: NDArray[np.float64]
    setup_cost: NDArray[np.float64]
    holding_cost: NDArray[np.float64]
    cumulative_holding: NDArray[np.float64]  # H[t] = h_0 + ... + h_{t-1}, length T + 1
    cumulative_demand: NDArray[np.float64]  # D[t] = d_0 + ... + d_{t-1}
    cumulative_weighted: NDArray[np.float64]  # A[t] = sum_{u<t} d_u * H[u]

    @property
    def periods(self) -> int:
        return len(self.demand)

    def lot_cost(self, first: int, last: int) -> float:
        """Setup plus holding cost of one order in ``first`` covering ``first..last``."""
        return float(self.setup_cost[first]) + self.lot_holding(first, last)

    def lot_holding(self, first: int, last: int) -> float:
        A, D, H = self.cumulative_weighted, self.cumulative_demand, self.cumulative_holding
        # clipped at 0: the difference of cumulative sums can round to -1e-15
        return max(0.0, float((A[last + 1] - A[first]) - H[first] * (D[last + 1] - D[first])))

    def orders_from_lots(self, lots: Sequence[tuple[int, int]]) -> LotSizingResult:
        orders = np.zeros(self.periods)
        cost = 0.0
        for first, last in lots:
            orders[first] = self.cumulative_demand[last + 1] - self.cumulative_demand[first]
            cost += float(self.lot_cost(first, last))
        orders.flags.writeable = False
        return LotSizingResult(orders=orders, cost=cost)


def _instance(demand: ArrayLike, setup_cost: ArrayLike, holding_cost: ArrayLike) -> _Instance:
    d = np.asarray(demand, dtype=float)
    if d.ndim != 1 or d.size == 0:
        raise ValueError(f"demand must be a non-empty 1-D sequence; got {demand!r}")
    if not np.all(np.isfinite(d)) or np.any(d < 0):
        raise ValueError(f"demand must be finite and >= 0; got {list(d)}")
    costs = []
    for name, value in (("setup_cost", setup_cost), ("holding_cost", holding_cost)):
        array = np.asarray(value, dtype=float)
        if array.ndim > 1 or (array.ndim == 1 and array.shape != d.shape):
            raise ValueError(f"{name} must be a scalar or one value per period; got {value!r}")
        if not np.all(np.isfinite(array)) or np.any(array < 0):
            raise ValueError(f"{name} must be finite and >= 0; got {value!r}")
        costs.append(np.broadcast_to(array, d.shape).astype(float))
    K, h = costs
    H = np.concatenate(([0.0], np.cumsum(h)))
    D = np.concatenate(([0.0], np.cumsum(d)))
    A = np.concatenate(([0.0], np.cumsum(d * H[:-1])))
    return _Instance(d, K, h, H, D, A)


def plan_cost(
    orders: ArrayLike, demand: ArrayLike, setup_cost: ArrayLike, holding_cost: ArrayLike
) -> float:
    """Setup plus holding cost of an order plan; raises if the plan leaves demand unmet.

    >>> plan_cost([210, 0, 150, 0], [90, 120, 80, 70], 500, 2)
    1380.0
    """
    instance = _instance(demand, setup_cost, holding_cost)
    q = np.asarray(orders, dtype=float)
    if q.shape != instance.demand.shape or np.any(q < 0):
        raise ValueError(f"orders must be {instance.periods} non-negative numbers; got {list(q)}")
    inventory = np.cumsum(q - instance.demand)
    if np.any(inventory < -_TOLERANCE * max(1.0, instance.cumulative_demand[-1])):
        short = int(np.flatnonzero(inventory < 0)[0])
        raise ValueError(f"plan {list(q)} leaves demand unmet in period {short}")
    setups = float(np.dot(instance.setup_cost, q > 0))
    return setups + float(np.dot(instance.holding_cost, np.maximum(inventory, 0.0)))


def wagner_whitin(demand: ArrayLike, setup_cost: ArrayLike, holding_cost: ArrayLike) -> LotSizingResult:
    """Optimal plan by the Wagner-Whitin dynamic program, O(T^2).

    ``F(j) = min(F(j - 1) if d_j = 0, min_i F(i - 1) + K_i + holding(i..j))``: the cheapest way to
    cover periods ``0..j`` when the last order, placed in ``i``, covers ``i..j``.

    Example (Wagner-Whitin, T = 4, K = 500, h = 2, d = [90, 120, 80, 70]): orders
    [210, 0, 150, 0], cost 1380.

    >>> result = wagner_whitin([90, 120, 80, 70], 500, 2)
    >>> result.orders.tolist(), result.cost
    ([210.0, 0.0, 150.0, 0.0], 1380.0)
    """
    instance = _instance(demand, setup_cost, holding_cost)
    T = instance.periods
    A, D, H = instance.cumulative_weighted, instance.cumulative_demand, instance.cumulative_holding
    best = np.zeros(T + 1)  # best[j + 1] = F(j); best[0] = 0
    last_order = np.full(T, -1)  # period of the order covering j, or -1 for no order
    for j in range(T):
        firsts = np.arange(j + 1)
        # vectorised over the period i of the last order: F(i-1) + K_i + holding(i..j)
        holding = np.maximum((A[j + 1] - A[firsts]) - H[firsts] * (D[j + 1] - D[firsts]), 0.0)
        candidates = best[firsts] + instance.setup_cost[firsts] + holding
        i = int(np.argmin(candidates))
        best[j + 1], last_order[j] = candidates[i], i
        if instance.demand[j] == 0 and best[j] <= candidates[i]:
            best[j + 1], last_order[j] = best[j], -1
    lots: list[tuple[int, int]] = []
    j = T - 1
    while j >= 0:
        i = int(last_order[j])
        if i < 0:
            j -= 1
            continue
        lots.append((i, j))
        j = i - 1
    return instance.orders_from_lots(lots[::-1])


def _greedy_lots(
    instance: _Instance, stop: Callable[[_Instance, int, int], bool]
) -> list[tuple[int, int]]:
    """Build lots front to back; ``stop(instance, first, last)`` says not to add ``last + 1``."""
    lots = []
    T = instance.periods
    first = 0
    while first < T:
        if instance.demand[first] == 0:
            first += 1
            continue
        last = first
        while last + 1 < T and not stop(instance, first, last):
            last += 1
        lots.append((first, last))
        first = last + 1
    return lots


def _tolerance(value: float) -> float:
    return _TOLERANCE * max(1.0, abs(value))


def silver_meal(demand: ArrayLike, setup_cost: ArrayLike, holding_cost: ArrayLike) -> LotSizingResult:
    """Silver-Meal heuristic: extend each lot while its cost per period covered does not rise.

    Silver & Meal (1973); Silver, Pyke & Peterson (1998) ch. 6. With d = [90, 120, 80,
    70], K = 500, h = 2 the first lot's cost per period is 500, 370, 353.3, 370 for 1 to 4
    periods, so it covers 3 periods: orders [290, 0, 0, 70], cost 1560 (Wagner-Whitin: 1380).

    >>> result = silver_meal([90, 120, 80, 70], 500, 2)
    >>> result.orders.tolist(), result.cost
    ([290.0, 0.0, 0.0, 70.0], 1560.0)
    """
    instance = _instance(demand, setup_cost, holding_cost)

    def stop(inst: _Instance, first: int, last: int) -> bool:
        average = inst.lot_cost(first, last) / (last - first + 1)
        extended = inst.lot_cost(first, last + 1) / (last - first + 2)
        return extended > average + _tolerance(average)

    return instance.orders_from_lots(_greedy_lots(instance, stop))


def least_unit_cost(
    demand: ArrayLike, setup_cost: ArrayLike, holding_cost: ArrayLike
) -> LotSizingResult:
    """Least unit cost heuristic: extend each lot while its cost per unit ordered does not rise.

    Silver, Pyke & Peterson (1998) ch. 6. With d = [90, 120, 80, 70], K = 500, h = 2
    the first lot's cost per unit is 5.56, 3.52, 3.66 for 1 to 3 periods, so it covers 2; the
    second covers (80, 70): orders [210, 0, 150, 0], cost 1380.

    >>> least_unit_cost([90, 120, 80, 70], 500, 2).orders.tolist()
    [210.0, 0.0, 150.0, 0.0]
    """
    instance = _instance(demand, setup_cost, holding_cost)
    D = instance.cumulative_demand

    def stop(inst: _Instance, first: int, last: int) -> bool:
        per_unit = inst.lot_cost(first, last) / (D[last + 1] - D[first])
        extended = inst.lot_cost(first, last + 1) / (D[last + 2] - D[first])
        return extended > per_unit + _tolerance(per_unit)

    return instance.orders_from_lots(_greedy_lots(instance, stop))


def part_period_balancing(
    demand: ArrayLike, setup_cost: ArrayLike, holding_cost: ArrayLike
) -> LotSizingResult:
    """Part-period balancing: choose each lot so its holding cost is closest to the setup cost.

    DeMatteis (1968); Silver, Pyke & Peterson (1998) ch. 6. With d = [90, 120, 80, 70],
    K = 500, h = 2 the holding cost of the first lot is 0, 240, 560 for 1, 2, 3 periods; 560 is
    closer to 500 than 240, so the first lot covers 3 periods.

    >>> part_period_balancing([90, 120, 80, 70], 500, 2).orders.tolist()
    [290.0, 0.0, 0.0, 70.0]
    """
    instance = _instance(demand, setup_cost, holding_cost)
    lots = []
    T = instance.periods
    first = 0
    while first < T:
        if instance.demand[first] == 0:
            first += 1
            continue
        setup = instance.setup_cost[first]
        last = first
        while last + 1 < T and instance.lot_holding(first, last + 1) <= setup:
            last += 1
        if last + 1 < T:  # the first lot length whose holding cost exceeds K may be closer
            under = setup - instance.lot_holding(first, last)
            over = instance.lot_holding(first, last + 1) - setup
            if over < under:
                last += 1
        lots.append((first, last))
        first = last + 1
    return instance.orders_from_lots(lots)


def setup_vector_costs(
    setups: NDArray[np.bool_], demand: ArrayLike, setup_cost: ArrayLike, holding_cost: ArrayLike
) -> NDArray[np.float64]:
    """Cost of each row of a (plans x periods) boolean setup matrix; ``inf`` if infeasible.

    Each period's demand is ordered in the latest setup period at or before it; a setup that
    serves no demand places no order and costs nothing. Vectorised over the rows.

    >>> setup_vector_costs(np.array([[1, 0, 1, 0], [1, 1, 1, 1]], bool), [90, 120, 80, 70], 500, 2)
    array([1380., 2000.])
    """
    instance = _instance(demand, setup_cost, holding_cost)
    return _setup_vector_costs(np.asarray(setups, dtype=bool), instance)


def _setup_vector_costs(setups: NDArray[np.bool_], instance: _Instance) -> NDArray[np.float64]:
    plans, T = setups.shape
    d, H = instance.demand, instance.cumulative_holding
    last = np.maximum.accumulate(np.where(setups, np.arange(T), -1), axis=1)
    infeasible = np.any((last < 0) & (d > 0), axis=1)
    safe_last = np.maximum(last, 0)
    holding = (d * (H[:T] - H[safe_last])).sum(axis=1)
    # an order is placed in u if some period with positive demand is served from u
    served = np.zeros((plans, T), dtype=bool)
    rows = np.broadcast_to(np.arange(plans)[:, None], (plans, T))
    positive = (d > 0) & (last >= 0)
    served[rows[positive], safe_last[positive]] = True
    costs = holding + served.astype(float) @ instance.setup_cost
    costs[infeasible] = np.inf
    return costs


def _setup_vector_orders(setup: NDArray[np.bool_], instance: _Instance) -> LotSizingResult:
    T = instance.periods
    last = np.maximum.accumulate(np.where(setup, np.arange(T), -1))
    orders = np.zeros(T)
    np.add.at(orders, np.maximum(last, 0), np.where(last >= 0, instance.demand, 0.0))
    orders.flags.writeable = False
    cost = _setup_vector_costs(setup[None, :], instance)[0]
    return LotSizingResult(orders=orders, cost=float(cost))


def brute_force_lot_sizing(
    demand: ArrayLike, setup_cost: ArrayLike, holding_cost: ArrayLike, *, max_periods: int = 22
) -> LotSizingResult:
    """Optimal plan by pricing every one of the ``2**T`` setup vectors (a check on Wagner-Whitin).

    The costs of all vectors are built period by period: a vector over periods ``0..t`` extends
    to two vectors over ``0..t+1`` (no setup in ``t + 1``: its demand waits in stock since the
    latest setup; a setup: pay ``K_{t+1}``). Every vector's full cost is computed, with no
    pruning, in ``O(2**T)`` array operations (T = 20 takes a few milliseconds). Refuses
    ``T > max_periods``.

    >>> brute_force_lot_sizing([90, 120, 80, 70], 500, 2).cost
    1380.0
    """
    instance = _instance(demand, setup_cost, holding_cost)
    T = instance.periods
    if T > max_periods:
        raise ValueError(
            f"brute force over 2**{T} setup vectors refused; raise max_periods"
            f" ({max_periods}) to allow it"
        )
    d, H, K = instance.demand, instance.cumulative_holding, instance.setup_cost
    costs = np.zeros(1)
    last = np.full(1, -1, dtype=np.int8)  # latest setup period of each vector (-1: none yet)
    for t in range(T):
        if d[t] > 0:
            waiting = np.where(last >= 0, d[t] * (H[t] - H[np.maximum(last, 0)]), np.inf)
        else:
            waiting = np.zeros(len(costs))
        # vector index: bit u set = setup in period u (new vectors with a setup in t come second)
        costs = np.concatenate((costs + waiting, costs + K[t]))
        last = np.concatenate((last, np.full(len(last), t, dtype=np.int8)))
    best_code = int(np.argmin(costs))
    best_setup = (best_code & (1 << np.arange(T, dtype=np.int64))) != 0
    return _setup_vector_orders(best_setup, instance)
