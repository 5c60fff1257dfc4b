"""Allocation under shortage: how a node shares its stock among what it owes.

A node owes a FIFO queue of entries ``[lane or None, quantity, period, ...]`` (``None``: an external
customer; :mod:`entities.nodes`). Whenever it serves (a receipt, its turn at the decision epoch)
and cannot fill everything, its ``allocation`` rule decides who gets the stock:

* ``fifo`` (default): oldest entry first, partially if it must;
* ``proportional``: every claimant (a downstream lane, or the node's customers together) gets the
  same fraction of what it is owed (rationing in proportion to orders; Cachon & Lariviere,
  "Capacity choice and allocation: strategic behavior and supply chain performance", Management
  Science 45(8), 1999);
* ``priority``: claimants in a declared order (downstream node ids and ``customers``; claimants
  not listed come after, in FIFO order), oldest first within a claimant;
* ``fair_share``: the node's customers first; then stock goes to the downstream nodes so that their
  inventory positions after the allocation cover the same number of periods of their demand
  forecast (levels ``(IP_i + a_i) / forecast_i`` as equal as the stock allows), the "fair shares"
  rule of Eppen & Schrage ("Centralized ordering policies in a multi-warehouse system with lead
  times and random demand", 1981) and de Kok ("Hierarchical production planning for consumer
  goods", EJOR 45, 1990) with equal coefficients of variation. ``IP_i`` excludes what this node
  owes node ``i``; with no forecast yet all weights are equal.

Every rule respects each downstream lane's room this period (its capacity per period left, zero
while the lane is in an outage). Proportional and fair-share shares are rounded to whole units,
largest remainder first, when the supply and every claim are whole numbers, so integer models stay
integer. Within a claimant, entries are filled oldest first. The fast FIFO path without lane limits
stays in :meth:`entities.nodes.Node._fill`; this module is used only by nodes that need it.
"""

from __future__ import annotations

import math
from collections import deque
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from entities.lanes import Lane
    from entities.stockpoint import StockPoint

RULES = ("fifo", "proportional", "priority", "fair_share")
CUSTOMERS = "customers"
"""The name of a node's external customers in a ``priority`` list."""


def fill(node: StockPoint, supply: float, t: int) -> tuple[float, float, dict[Lane, float]]:
    """:meth:`entities.nodes.Node._fill` under the allocation rule and the lanes' room this period.

    Returns what is left of ``supply``, the units filled and the units to ship per lane.
    """
    entries = list(node.owed)
    room: dict[Any, float] = {None: math.inf}
    for entry in entries:
        lane = entry[0]
        if lane not in room:
            room[lane] = lane.room(t)
    rule = node.allocation
    if rule == "fifo" or rule == "priority":
        order = (
            range(len(entries))
            if rule == "fifo"
            else sorted(
                range(len(entries)), key=lambda i: (node.allocation_rank.get(entries[i][0], math.inf), i)
            )
        )
        take = _in_order(entries, order, supply, room)
    else:
        take = _by_claimant(node, entries, supply, room, t)
    return _apply(node, entries, take, supply, t)


def _in_order(entries: list[list], order: Any, supply: float, room: dict[Any, float]) -> list[float]:
    """Fill entries in ``order``, each as far as the supply and its lane's room allow."""
    take = [0.0] * len(entries)
    for i in order:
        if supply <= 0.0:
            break
        lane, quantity = entries[i][0], entries[i][1]
        q = min(quantity, supply, room[lane])
        if q > 0.0:
            take[i] = q
            supply -= q
            room[lane] -= q
    return take


def _by_claimant(
    node: StockPoint, entries: list[list], supply: float, room: dict[Any, float], t: int
) -> list[float]:
    """Proportional or fair-share shares per claimant, then oldest first within each."""
    owed: dict[Any, float] = {}
    for entry in entries:
        owed[entry[0]] = owed.get(entry[0], 0.0) + entry[1]
    cap = {c: min(q, room[c]) for c, q in owed.items()}
    if sum(cap.values()) <= supply:
        shares = dict(cap)
    elif node.allocation == "proportional":
        shares = _water_fill(supply, cap, dict.fromkeys(cap, 0.0), owed)
    else:  # fair_share: customers first, then the downstream nodes' positions are levelled
        shares = {}
        left = supply
        if None in cap:
            shares[None] = min(cap[None], left)
            left -= shares[None]
        lanes = [c for c in cap if c is not None]
        forecasts = [max(c.destination.forecast(), 0.0) for c in lanes]
        equal = sum(forecasts) <= 0.0
        weight = {c: 1.0 if equal else max(f, 1e-9) for c, f in zip(lanes, forecasts, strict=True)}
        position = {c: c.destination.inventory_position - owed[c] for c in lanes}
        shares.update(_water_fill(left, {c: cap[c] for c in lanes}, position, weight))
    if float(supply).is_integer() and all(float(v).is_integer() for v in cap.values()):
        shares = _round_shares(shares, cap, supply)
    take = [0.0] * len(entries)
    for i, entry in enumerate(entries):
        c = entry[0]
        q = min(entry[1], shares.get(c, 0.0))
        if q > 0.0:
            take[i] = q
            shares[c] -= q
    return take


def _water_fill(
    supply: float, cap: dict[Any, float], position: dict[Any, float], weight: dict[Any, float]
) -> dict[Any, float]:
    """Shares ``a_c = clamp(level * weight_c - position_c, 0, cap_c)`` summing to ``supply``.

    With ``position = 0`` and ``weight = owed`` this is rationing in proportion to what is owed.
    The total is piecewise linear and non-decreasing in the level, with breakpoints where a
    claimant starts (``position / weight``) or reaches its cap; the level is found exactly on the
    segment where the total crosses the supply. Rounding never lets the shares exceed the supply.
    """
    if not cap or supply <= 0.0:
        return dict.fromkeys(cap, 0.0)

    def shares_at(level: float) -> dict[Any, float]:
        return {c: min(cap[c], max(0.0, level * weight[c] - position[c])) for c in cap}

    points = sorted(
        {position[c] / weight[c] for c in cap} | {(position[c] + cap[c]) / weight[c] for c in cap}
    )
    level, before, total_before = points[-1], points[0], 0.0
    for point in points[1:]:
        total = sum(shares_at(point).values())
        if total >= supply:  # linear between the two breakpoints
            level = before + (supply - total_before) * (point - before) / (total - total_before)
            break
        before, total_before = point, total
    shares = shares_at(level)
    total = sum(shares.values())
    if total > supply:
        shares = {c: v * supply / total for c, v in shares.items()}
    left = supply - sum(shares.values())
    for c in cap:
        if left <= 0.0:
            break
        extra = min(cap[c] - shares[c], left)
        if extra > 0.0:
            shares[c] += extra
            left -= extra
    return shares


def _round_shares(shares: dict[Any, float], cap: dict[Any, float], supply: float) -> dict[Any, float]:
    """Whole-unit shares: floors, then the units left to the largest remainders (below cap)."""
    whole = {c: math.floor(v + 1e-9) for c, v in shares.items()}
    left = int(min(supply, sum(shares.values())) + 1e-9) - sum(whole.values())
    for c in sorted(shares, key=lambda c: -(shares[c] - whole[c])):
        if left <= 0:
            break
        if whole[c] + 1 <= cap[c]:
            whole[c] += 1
            left -= 1
    return {c: float(v) for c, v in whole.items()}


def _apply(
    node: StockPoint, entries: list[list], take: list[float], supply: float, t: int
) -> tuple[float, float, dict[Lane, float]]:
    """Book the fills ``take[i]`` of ``entries`` on the node, as the FIFO path does."""
    sends: dict[Lane, float] = {}
    served = 0.0
    kept: deque[list] = deque()
    for entry, q in zip(entries, take, strict=True):
        if q <= 0.0:
            kept.append(entry)
            continue
        lane, quantity, created = entry[0], entry[1], entry[2]
        if q >= quantity:
            q = quantity
        else:
            entry[1] = quantity - q
            kept.append(entry)
        served += q
        if created == t:
            node.filled += q
        if lane is None:
            node.sold += q
            node.customer_backorders -= q
        else:
            sends[lane] = sends.get(lane, 0.0) + q
    node.owed.clear()  # in place: callers hold the deque (Node._take_demand)
    node.owed.extend(kept)
    node._settle(served)
    left = supply - served if supply != math.inf else supply
    return (left if left > 0.0 else 0.0), served, sends
