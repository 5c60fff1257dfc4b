"""RL rewards from ledger rows: a step's reward is a weighted sum of ledger quantities.

``reward_from_rows(rows, weights)`` = sum over ``weights`` of ``weight * quantity``, where a
quantity is a ledger column (:data:`~reconciliation.ledger.LEDGER_COLUMNS` after period, node, tier,
echelon) summed over ``rows`` (the step's rows of one agent's nodes, or of the whole team), or

* ``fill_rate``: sum ``filled_on_time`` / sum ``demand`` over ``rows`` (1.0 when there was no
  demand: nothing was left unfilled), and ``service_level``, an alias of ``fill_rate``.

Weights are signed: costs take negative weights (``{"fill_rate": 10, "holding_cost": -0.01}``).
Scopes of a multi-agent reward (``reward.scope`` in a scenario): ``own`` (an agent's own rows),
``team`` (:func:`team_reward`, the mean of the members' own rewards) and ``mix``
(:func:`mixed_reward`, ``alpha * own + (1 - alpha) * mean(all)``; Liu et al., the mixed reward of
the HMARL supply-chain system). The twin checks that the reward of each step equals this formula
on that step's ledger rows (DESIGN.md, Reconciliation ledger).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

from reconciliation.ledger import LEDGER_COLUMNS, QUANTITY_START, LedgerRow

SUMMED_QUANTITIES: tuple[str, ...] = LEDGER_COLUMNS[QUANTITY_START:]
"""Ledger columns a weight may name: summed over the rows."""
RATIO_QUANTITIES: tuple[str, ...] = ("fill_rate", "service_level")
"""Derived quantities: ratios of sums over the rows."""
REWARD_QUANTITIES: tuple[str, ...] = SUMMED_QUANTITIES + RATIO_QUANTITIES
"""Every name a reward weight may use."""

_INDEX = {name: LEDGER_COLUMNS.index(name) for name in SUMMED_QUANTITIES}


def check_weights(weights: Mapping[str, float]) -> None:
    """Raise ValueError on an unknown quantity name or a weight that is not a finite number."""
    unknown = [name for name in weights if name not in REWARD_QUANTITIES]
    if unknown:
        raise ValueError(
            f"unknown reward quantity {', '.join(map(repr, unknown))}; allowed: "
            f"{', '.join(REWARD_QUANTITIES)}"
        )
    for name, w in weights.items():
        if isinstance(w, bool) or not isinstance(w, int | float) or not math.isfinite(w):
            raise ValueError(f"reward weight of {name!r} must be a finite number, got {w!r}")


def fill_rate(rows: Iterable[LedgerRow]) -> float:
    """Unit fill rate of ``rows``: sum filled_on_time / sum demand; 1.0 when demand is 0."""
    filled = demand = 0.0
    for row in rows:
        filled += row.filled_on_time
        demand += row.demand
    return filled / demand if demand > 0.0 else 1.0


def reward_from_rows(rows: Iterable[LedgerRow], weights: Mapping[str, float]) -> float:
    """The reward of one step: ``sum(weight * quantity(rows))`` (see the module docstring).

    >>> row = LedgerRow(3, "S1", "default", "store", 1, 10.0, 0.0, 0.0, 0.0, 8.0, 0.0, 10.0, 8.0,
    ...                 2.0, 0.0, 0.0, 0.0, 2.0, 0.0, 5.0, 5.0, 1.0, 0.0, 18.0, 0.0, 0.0, 19.0)
    >>> reward_from_rows([row], {"fill_rate": 10.0, "holding_cost": -0.5, "stockout_cost": -0.1})
    5.7
    """
    check_weights(weights)
    rows = list(rows)
    total = 0.0
    for name, weight in weights.items():
        if name in RATIO_QUANTITIES:
            quantity = fill_rate(rows)
        else:
            i = _INDEX[name]
            quantity = math.fsum(float(row[i]) for row in rows)
        total += weight * quantity
    return total


def team_reward(
    rows_by_member: Mapping[str, Sequence[LedgerRow]], weights: Mapping[str, float]
) -> float:
    """The team reward: the mean over members (agents or nodes) of their own step rewards."""
    if not rows_by_member:
        raise ValueError("team_reward needs at least one member")
    rewards = [reward_from_rows(rows, weights) for rows in rows_by_member.values()]
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
    rows_by_member: Mapping[str, Sequence[LedgerRow]],
    weights: Mapping[str, float],
    scope: str = "own",
    alpha: float = 0.5,
) -> dict[str, float]:
    """Each member's reward for ``scope`` ``own``, ``team`` or ``mix`` (``reward.scope``)."""
    own = {m: reward_from_rows(rows, weights) for m, rows in rows_by_member.items()}
    if scope == "own":
        return own
    values = list(own.values())
    if scope == "team":
        team = math.fsum(values) / len(values) if values else 0.0
        return dict.fromkeys(own, team)
    if scope == "mix":
        return {m: mixed_reward(r, values, alpha) for m, r in own.items()}
    raise ValueError(f"unknown reward scope {scope!r}; allowed: own, team, mix")
