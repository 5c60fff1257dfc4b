"""Multi-sourcing: how a node with several upstream lanes splits what it orders.

By default (rule ``agent``) the agent's decision says what goes on each lane (a bare number goes on
the node's first lane). With a declared rule the agent decides *how much* and the rule *where*:
the decision's total over all lanes is split as follows.

* ``proportional``: in fixed shares (``weights`` per upstream node, equal by default), rounded to
  whole units when the total is whole (largest remainder, each lane's rounding residue carried to
  its next order, so the long-run split is exact): a split-order contract (Minner,
  "Multiple-supplier inventory models in supply chain management: a review", IJPE 81-82, 2003);
* ``priority``: an ordered list of upstream nodes (the rest after it, in scenario order); the first
  source that is available takes what it can supply now, the next ones the rest, and what none can
  supply now goes to the first available one (a preferred supplier with backups, as in Tomlin 2006's
  contingent rerouting);
* ``cheapest``: ``priority`` ordered by the lanes' unit cost (then fixed cost);
* ``fastest``: ``priority`` ordered by mean lead time plus mean order-processing delay.

A source is *available* in period ``t`` when neither the lane nor its origin is in an outage
(:mod:`entities.disruptions`); if none is, the first in the order takes the whole order (it waits
there). What a source *can supply now* is its available-to-promise stock (on hand minus what it
already owes; a make-to-order source's production capacity per period instead of stock), at most
the lane's capacity per period not already owed on it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from entities.lanes import Lane

RULES = ("agent", "proportional", "priority", "cheapest", "fastest")


class Sourcing:
    """The split rule of one node over its ordering ``lanes`` (already in the rule's order)."""

    __slots__ = ("rule", "lanes", "weights", "carry")

    def __init__(self, rule: str, lanes: Sequence[Lane], weights: Sequence[float] | None = None) -> None:
        if rule not in RULES[1:]:
            raise ValueError(f"sourcing rule must be one of {', '.join(RULES[1:])}, got {rule!r}")
        self.rule = rule
        self.lanes = tuple(lanes)
        if weights is not None:
            total = float(sum(weights))
            self.weights: tuple[float, ...] = tuple(w / total for w in weights)
        else:
            self.weights = tuple(1.0 / len(self.lanes) for _ in self.lanes)
        self.carry = [0.0] * len(self.lanes)  # whole-unit rounding residue per lane (proportional)

    def split(self, total: float, t: int) -> list[tuple[Lane, float]]:
        """``(lane, quantity)`` pairs summing to ``total`` (> 0), for an order placed in ``t``."""
        if self.rule == "proportional":
            return self._proportional(total)
        up = [lane for lane in self.lanes if lane.available(t)]
        if not up:
            return [(self.lanes[0], total)]
        out: dict[Lane, float] = {}
        remaining = total
        for lane in up:
            q = min(remaining, lane.supply_now())
            if q > 0.0:
                out[lane] = q
                remaining -= q
            if remaining <= 0.0:
                break
        if remaining > 0.0:
            out[up[0]] = out.get(up[0], 0.0) + remaining
        return list(out.items())

    def _proportional(self, total: float) -> list[tuple[Lane, float]]:
        """Shares ``weight * total``; a whole total is split in whole units by largest remainder,
        carrying each lane's rounding residue to its next order, so over time every lane gets its
        share to within one unit (no drift towards the larger share)."""
        if not float(total).is_integer():
            return [(ln, total * w) for ln, w in zip(self.lanes, self.weights, strict=True) if w]
        exact = [total * w + c for w, c in zip(self.weights, self.carry, strict=True)]
        whole = [max(0, math.floor(x + 1e-9)) for x in exact]
        left = int(total) - sum(whole)
        order = sorted(range(len(exact)), key=lambda i: whole[i] - exact[i])  # largest remainder
        while left > 0:
            for i in order[:left]:
                whole[i] += 1
            left = int(total) - sum(whole)
        while left < 0:  # only after clipping a negative residue at zero
            for i in reversed(order):
                if left < 0 and whole[i] > 0:
                    whole[i] -= 1
                    left += 1
        self.carry = [x - w for x, w in zip(exact, whole, strict=True)]
        return [(ln, float(q)) for ln, q in zip(self.lanes, whole, strict=True) if q > 0]
