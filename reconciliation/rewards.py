"""RL rewards from the ledger: a step's reward is a weighted sum of the step's ledger quantities.

``reward(flows, weights)`` = sum over ``weights`` of ``weight * quantity``, where a quantity is a
ledger column (:data:`~reconciliation.ledger.LEDGER_COLUMNS` after period, node, tier, echelon:
flows, costs, ``revenue`` and ``profit``) summed over the member's rows of the step (one agent's
nodes, or the whole team), or

* ``fill_rate``: sum ``filled_on_time`` / sum ``demand`` over those rows (1.0 when there was no
  demand: nothing was left unfilled), and ``service_level``, an alias of ``fill_rate``.

The rows are :class:`Flows`: :func:`period_flows` reads them from the columns of the period just
closed (what the RL environment does at each step, without building rows), :class:`RowFlows`
from :class:`~reconciliation.ledger.LedgerRow` records (:func:`reward_from_rows`).

Weights are signed: costs take negative weights (``{"fill_rate": 10, "holding_cost": -0.01}``),
revenue and profit positive ones. ``{"profit": 1}`` is the profit reward of OR-Gym's and
gym-invmgmt's multi-echelon environments (Hubbs et al. 2020, ``InvManagement``; gym-invmgmt's MDP
formulation): sales revenue minus procurement (the lanes' unit costs of what is ordered), holding
(on hand and in transit) and backlog or lost-sales penalties, here ``revenue - total_cost`` of the
rows (:mod:`reconciliation.costs`). Summed over every node it is the network's profit: transfers
inside the network earn no revenue, so OR-Gym's internal sales and purchases, which cancel in
its network total, are simply not booked. ``{"total_cost": -1}`` is the cost reward of the Liu
et al. scenarios. Weights are checked once, when a scenario is validated
(:func:`unknown_quantity` names a misspelt quantity and suggests the closest one).

Scopes of a multi-agent reward (``reward.scope`` in a scenario): ``own`` (an agent's own rows),
``team`` (:func:`team_reward`, the mean of the members' own rewards) and ``mix``
(:func:`mixed_reward`, ``alpha * own + (1 - alpha) * mean(all)``; Liu et al., the mixed reward of
the HMARL supply-chain system). The twin checks that the reward of each step equals this formula
on that step's ledger flows (DESIGN.md, Reconciliation ledger).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping, Sequence

from reconciliation.ledger import LEDGER_COLUMNS, QUANTITY_START, LedgerPeriod, LedgerRow

SUMMED_QUANTITIES: tuple[str, ...] = LEDGER_COLUMNS[QUANTITY_START:]
"""Ledger columns a weight may name: summed over the rows."""
RATIO_QUANTITIES: tuple[str, ...] = ("fill_rate", "service_level")
"""Derived quantities: ratios of sums over the rows."""
REWARD_QUANTITIES: tuple[str, ...] = SUMMED_QUANTITIES + RATIO_QUANTITIES
"""Every name a reward weight may use."""

_INDEX = {name: LEDGER_COLUMNS.index(name) for name in SUMMED_QUANTITIES}


class Flows:
    """Some ledger rows of one step, read by column: ``total(name)`` sums column ``name``."""

    def total(self, name: str) -> float:
        raise NotImplementedError

    def fill_rate(self) -> float:
        """Unit fill rate: sum filled_on_time / sum demand; 1.0 when demand is 0."""
        demand = self.total("demand")
        return self.total("filled_on_time") / demand if demand > 0.0 else 1.0


class RowFlows(Flows):
    """Flows of :class:`~reconciliation.ledger.LedgerRow` records."""

    def __init__(self, rows: Iterable[LedgerRow]) -> None:
        self.rows = list(rows)

    def total(self, name: str) -> float:
        i = _INDEX[name]
        return math.fsum(float(row[i]) for row in self.rows)

    def fill_rate(self) -> float:
        filled = demand = 0.0
        for row in self.rows:
            filled += row.filled_on_time
            demand += row.demand
        return filled / demand if demand > 0.0 else 1.0


class PeriodFlows(Flows):
    """Flows of the rows at ``positions`` of one closed period (read from its columns)."""

    def __init__(self, period: LedgerPeriod, positions: Sequence[int]) -> None:
        self.period = period
        self.positions = list(positions)

    def total(self, name: str) -> float:
        column = self.period.column(name)
        return math.fsum(float(column[i]) for i in self.positions)

    def fill_rate(self) -> float:
        filled_column, demand_column = self.period.column("filled_on_time"), self.period.column("demand")
        filled = demand = 0.0
        for i in self.positions:
            filled += float(filled_column[i])
            demand += float(demand_column[i])
        return filled / demand if demand > 0.0 else 1.0


def period_flows(period: LedgerPeriod, node: str) -> PeriodFlows:
    """The flows of ``node``'s rows (one per SKU) in a closed period."""
    return PeriodFlows(period, period.positions(node))


def unknown_quantity(name: object) -> str | None:
    """None if ``name`` is a reward quantity (:data:`REWARD_QUANTITIES`), else what is wrong with
    it, suggesting the closest name (``proft``: ``not a reward quantity; did you mean 'profit'?``).
    """
    if isinstance(name, str) and name in REWARD_QUANTITIES:
        return None
    close = difflib.get_close_matches(str(name), REWARD_QUANTITIES, n=1)
    hint = (
        f"did you mean {close[0]!r}?"
        if close
        else "use a ledger column (e.g. total_cost, holding_cost, revenue, profit) or fill_rate"
    )
    return f"not a reward quantity; {hint}"


def check_weights(weights: Mapping[str, float]) -> None:
    """Raise ValueError on an unknown quantity name or a weight that is not a finite number."""
    for name in weights:
        problem = unknown_quantity(name)
        if problem is not None:
            raise ValueError(f"{name!r} is {problem} (allowed: {', '.join(REWARD_QUANTITIES)})")
    for name, w in weights.items():
        if isinstance(w, bool) or not isinstance(w, int | float) or not math.isfinite(w):
            raise ValueError(f"reward weight of {name!r} must be a finite number, got {w!r}")


def fill_rate(rows: Iterable[LedgerRow]) -> float:
    """Unit fill rate of ``rows``: sum filled_on_time / sum demand; 1.0 when demand is 0."""
    return RowFlows(rows).fill_rate()


def reward(flows: Flows, weights: Mapping[str, float]) -> float:
    """The reward of one step: ``sum(weight * quantity(flows))`` (see the module docstring)."""
    check_weights(weights)
    return _weighted(flows, weights)


def _weighted(flows: Flows, weights: Mapping[str, float]) -> float:
    """:func:`reward` with ``weights`` already checked."""
    total = 0.0
    for name, weight in weights.items():
        quantity = flows.fill_rate() if name in RATIO_QUANTITIES else flows.total(name)
        total += weight * quantity
    return total


def reward_from_rows(rows: Iterable[LedgerRow], weights: Mapping[str, float]) -> float:
    """The reward of one step from its rows: :func:`reward` of :class:`RowFlows`.

    >>> row = LedgerRow(3, "S1", "default", "store", 1, 10.0, 0.0, 0.0, 0.0, 8.0, 0.0, 10.0, 8.0,
    ...                 2.0, 0.0, 0.0, 0.0, 2.0, 0.0, 5.0, 5.0, 1.0, 0.0, 18.0, 0.0, 0.0, 19.0,
    ...                 24.0, 5.0)
    >>> reward_from_rows([row], {"fill_rate": 10.0, "holding_cost": -0.5, "stockout_cost": -0.1})
    5.7
    >>> reward_from_rows([row], {"profit": 1.0})  # 8 sold at a price of 3, minus 19 of cost
    5.0
    """
    return reward(RowFlows(rows), weights)


def _flows(value: Flows | Iterable[LedgerRow]) -> Flows:
    return value if isinstance(value, Flows) else RowFlows(value)


def team_reward(
    rows_by_member: Mapping[str, Flows | Sequence[LedgerRow]], weights: Mapping[str, float]
) -> float:
    """The team reward: the mean over members (agents or nodes) of their own step rewards."""
    if not rows_by_member:
        raise ValueError("team_reward needs at least one member")
    rewards = [reward(_flows(rows), weights) for rows in rows_by_member.values()]
    return math.fsum(rewards) / len(rewards)


def mixed_reward(own: float, all_rewards: Sequence[float], alpha: float) -> float:
    """``alpha * own + (1 - alpha) * mean(all_rewards)``: Liu et al.'s mixed individual/team reward.

    >>> mixed_reward(1.0, [1.0, 3.0], 0.25)
    1.75
    """
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be a number in [0, 1], got {alpha!r}")
    if len(all_rewards) == 0:
        raise ValueError("mixed_reward needs the rewards of all agents (got none)")
    return alpha * own + (1.0 - alpha) * (math.fsum(all_rewards) / len(all_rewards))


def rewards_by_scope(
    rows_by_member: Mapping[str, Flows | Sequence[LedgerRow]],
    weights: Mapping[str, float],
    scope: str = "own",
    alpha: float = 0.5,
    *,
    checked: bool = False,
) -> dict[str, float]:
    """Each member's reward for ``scope`` ``own``, ``team`` or ``mix`` (``reward.scope``), from
    each member's flows of the step (:class:`Flows`, or its rows). ``checked``: the weights were
    checked once beforehand (:func:`check_weights`; an environment checks them when it is made),
    so that a step does not check them again."""
    if not checked:
        check_weights(weights)
    own = {m: _weighted(_flows(rows), weights) for m, rows in rows_by_member.items()}
    if scope == "own":
        return own
    values = list(own.values())
    if scope == "team":
        team = math.fsum(values) / len(values) if values else 0.0
        return dict.fromkeys(own, team)
    if scope == "mix":
        return {m: mixed_reward(r, values, alpha) for m, r in own.items()}
    raise ValueError(f"unknown reward scope {scope!r}; allowed: own, team, mix")
