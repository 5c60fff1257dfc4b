"""Costs and revenue of the ledger, from its flows and the cost parameters and prices: the one
place money formulas live.

The twin records flows only (units received, shipped, sold, held, owed, ordered, in transit;
orders placed); every cost of a ledger row, its revenue and its profit are computed here,
vectorised over any leading axes (a period, a block of periods, a whole replication)::

    holding_cost         = h * closing_on_hand
    transit_holding_cost = sum over the node's ordering lanes of (lane's rate * units in transit on it)
    stockout_cost        = p * (backorders + lost_sales)
    overflow_cost        = overflow rate * (closing_on_hand - storage capacity) where above it, else 0
    ordering_cost        = sum over the node's ordering lanes of
                           (fixed cost * orders placed + unit cost * units ordered)
    total_cost           = holding + transit holding + stockout + overflow + ordering
    revenue              = price * sold
    profit               = revenue - total_cost

``h`` is the node's holding cost rate, ``p`` its stockout cost rate (charged on closing backorders
and on sales lost in the period); a lane's in-transit rate comes from ``costs.in_transit_holding``
(``sender``, ``receiver``, ``none``) or the lane's own ``in_transit_holding_cost``.

Revenue is earned on units sold to external customers (``sold``: new demand filled and
backorders filled) at the selling stock point's unit ``price``; shipments between nodes of the
network are internal transfers and earn nothing (what they cost is the lane's ``unit_cost``, in
``ordering_cost``). So summed over a network, ``profit`` is sales revenue minus procurement,
holding and shortage costs, the profit of OR-Gym's ``InvManagement`` environments (Hubbs et al.
2020) and of gym-invmgmt, whose internal sales and purchases cancel in the network's total.

Sums over a node's lanes are taken lane by lane in the node's lane order, starting from 0
(:func:`by_destination`), so they are the same floating-point numbers as a running sum.

Arrays are entity-first: a node array is ``(n, ...)`` (one row per stock point, then any axes,
e.g. periods), a lane array ``(L, ...)``; work over periods then runs along contiguous rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

COST_NAMES: tuple[str, ...] = (
    "holding_cost",
    "transit_holding_cost",
    "stockout_cost",
    "overflow_cost",
    "ordering_cost",
    "total_cost",
)
"""The cost columns of a ledger row, in ledger order; the last is the sum of the others."""
REVENUE_NAMES: tuple[str, ...] = ("revenue", "profit")
"""The revenue and profit columns of a ledger row, after the costs."""
MONEY_NAMES: tuple[str, ...] = COST_NAMES + REVENUE_NAMES
"""Every column computed here (:func:`money_columns`), in ledger order."""


@dataclass(frozen=True, eq=False)
class CostRates:
    """Cost parameters of a network's stock points (``n``) and lanes (``L``), as arrays."""

    holding: np.ndarray
    """(n,) holding cost per unit on hand at the close."""
    stockout: np.ndarray
    """(n,) stockout cost per unit backordered at the close or lost in the period."""
    overflow: np.ndarray
    """(n,) overflow cost per unit on hand above the storage capacity (0 without one)."""
    storage_capacity: np.ndarray
    """(n,) storage capacity (``inf`` without one)."""
    lane_destination: np.ndarray
    """(L,) the stock point each lane delivers to (whose ordering lane it is)."""
    lane_slot: np.ndarray
    """(L,) the lane's position among its destination's ordering lanes (0 for the first)."""
    transit: np.ndarray
    """(L,) holding cost per unit in transit on the lane per period."""
    fixed: np.ndarray
    """(L,) fixed cost per order placed on the lane."""
    unit: np.ndarray
    """(L,) cost per unit ordered on the lane."""
    price: np.ndarray | None = None
    """(n,) sale price per unit sold to external customers; None: no stock point has a price."""

    @property
    def nodes(self) -> int:
        return int(self.holding.shape[0])

    @cached_property
    def slots(self) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
        """``(lanes, destinations)`` of each slot: the lanes that are their destination's first
        ordering lane, then its second, ... (no destination twice within a slot)."""
        if self.lane_slot.size == 0:
            return ()
        out = []
        for slot in range(int(self.lane_slot.max()) + 1):
            lanes = np.flatnonzero(self.lane_slot == slot)
            out.append((lanes, self.lane_destination[lanes]))
        return tuple(out)


def _per(rates: np.ndarray, like: np.ndarray) -> np.ndarray:
    """Per-entity ``rates`` shaped to broadcast over an entity-first array ``like``."""
    return rates.reshape((-1,) + (1,) * (np.ndim(like) - 1))


def by_destination(values: np.ndarray, rates: CostRates) -> np.ndarray:
    """Per-lane ``values`` (``(L, ...)``) summed per destination (``(n, ...)``).

    Each node's lanes are added one at a time in the node's lane order, starting from 0: the same
    floating-point result as the running sum ``total = 0.0; for lane in inbound: total += value``.
    """
    out = np.zeros((rates.nodes, *values.shape[1:]))
    for lanes, destinations in rates.slots:  # at most one lane per destination in a slot
        out[destinations] += values[lanes]
    return out


def holding_cost(closing_on_hand: np.ndarray, rates: CostRates) -> np.ndarray:
    return _per(rates.holding, closing_on_hand) * closing_on_hand


def transit_holding_cost(lane_in_transit: np.ndarray, rates: CostRates) -> np.ndarray:
    return by_destination(_per(rates.transit, lane_in_transit) * lane_in_transit, rates)


def stockout_cost(backorders: np.ndarray, lost_sales: np.ndarray, rates: CostRates) -> np.ndarray:
    return _per(rates.stockout, backorders) * (backorders + lost_sales)


def overflow_cost(closing_on_hand: np.ndarray, rates: CostRates) -> np.ndarray:
    # closing - capacity > 0 exactly when closing > capacity (IEEE subtraction keeps the sign), and
    # an infinite capacity gives max(-inf, 0) = 0: no overflow, no invalid 0 * inf.
    excess = np.maximum(closing_on_hand - _per(rates.storage_capacity, closing_on_hand), 0.0)
    return _per(rates.overflow, closing_on_hand) * excess


def ordering_cost(lane_orders: np.ndarray, lane_ordered: np.ndarray, rates: CostRates) -> np.ndarray:
    fixed, unit = _per(rates.fixed, lane_orders), _per(rates.unit, lane_ordered)
    return by_destination(fixed * lane_orders + unit * lane_ordered, rates)


def total_cost(
    holding: np.ndarray,
    transit_holding: np.ndarray,
    stockout: np.ndarray,
    overflow: np.ndarray,
    ordering: np.ndarray,
) -> np.ndarray:
    return holding + transit_holding + stockout + overflow + ordering


def revenue(sold: np.ndarray, rates: CostRates) -> np.ndarray:
    if rates.price is None:
        return np.zeros(np.shape(sold))
    return _per(rates.price, sold) * sold


def profit(revenue: np.ndarray, total: np.ndarray) -> np.ndarray:
    return revenue - total


def cost_columns(
    *,
    closing_on_hand: np.ndarray,
    backorders: np.ndarray,
    lost_sales: np.ndarray,
    lane_in_transit: np.ndarray,
    lane_orders: np.ndarray,
    lane_ordered: np.ndarray,
    rates: CostRates,
) -> dict[str, np.ndarray]:
    """Every cost column (:data:`COST_NAMES`) from the flows (node arrays ``(n, ...)``, lane
    arrays ``(L, ...)``)."""
    holding = holding_cost(closing_on_hand, rates)
    transit = transit_holding_cost(lane_in_transit, rates)
    stockout = stockout_cost(backorders, lost_sales, rates)
    overflow = overflow_cost(closing_on_hand, rates)
    ordering = ordering_cost(lane_orders, lane_ordered, rates)
    return {
        "holding_cost": holding,
        "transit_holding_cost": transit,
        "stockout_cost": stockout,
        "overflow_cost": overflow,
        "ordering_cost": ordering,
        "total_cost": total_cost(holding, transit, stockout, overflow, ordering),
    }


def money_columns(
    *,
    sold: np.ndarray,
    closing_on_hand: np.ndarray,
    backorders: np.ndarray,
    lost_sales: np.ndarray,
    lane_in_transit: np.ndarray,
    lane_orders: np.ndarray,
    lane_ordered: np.ndarray,
    rates: CostRates,
) -> dict[str, np.ndarray]:
    """Every cost column, ``revenue`` and ``profit`` (:data:`MONEY_NAMES`) from the flows."""
    out = cost_columns(
        closing_on_hand=closing_on_hand,
        backorders=backorders,
        lost_sales=lost_sales,
        lane_in_transit=lane_in_transit,
        lane_orders=lane_orders,
        lane_ordered=lane_ordered,
        rates=rates,
    )
    out["revenue"] = revenue(sold, rates)
    out["profit"] = profit(out["revenue"], out["total_cost"])
    return out
