"""Stocking nodes (stores, warehouses, suppliers, factories): stock, what is owed, and serving it.

A node keeps ``on_hand``, ``backorders`` (units owed to customers and to downstream nodes) and
``on_order`` (units it ordered that have not arrived) as explicit numbers, never as a
``simpy.Container`` (which cannot go negative and blocks on ``get``: queueing, not inventory
accounting). What it owes is a FIFO queue of ``[lane or None, quantity, period]`` entries (``None``
for an external customer); whenever stock arrives or it is the node's turn to ship, it fills the
queue oldest first, partially if it must, and the rest stays backordered.

A node records what happened in the current period in plain counters (``receipts``, ``shipped``,
``sold``, ...), which the period close records in the ledger's columns and resets
(:mod:`twin.engine.record`); costs are not the node's business (:mod:`reconciliation.costs`).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from entities import allocation, production
from entities.messages import NodeId

if TYPE_CHECKING:
    from entities.lanes import Lane
    from entities.sourcing import Sourcing


FILL_ROUNDING = 1e-12
"""Relative shortfall of a supply that still fills an owed entry whole (:meth:`Node._fill`): far
above the rounding of a running difference over a few thousand entries (about ``2.2e-16`` per
subtraction, relative to the supply), far below any quantity a ledger reports (to ``1e-9``)."""


class Node:
    """One stocking point. See the module docstring for the accounting."""

    # Slots: attribute access on the per-event path is measurably faster (benchmarks/bench_twin.py).
    __slots__ = (
        "id",
        "location",
        "sku",
        "kind",
        "tier",
        "echelon",
        "holding_cost",
        "stockout_cost",
        "price",
        "backlog",
        "capacity",
        "inbound",
        "lane_ids",
        "outbound",
        "is_source",
        "make_to_order",
        "on_hand",
        "owed",
        "backorders",
        "customer_backorders",
        "on_order",
        "released",
        "forecast_window",
        "_history",
        "_history_sum",
        "receipts",
        "produced",
        "shipped",
        "sold",
        "demand",
        "filled",
        "lost_sales",
        "consumed",
        "lost_in_transit",
        "refused",
        "storage_capacity",
        "overflow_cost_rate",
        "bom",
        "watch",
        "backlog_fraction",  # -- demand
        # -- supply side
        "outage",
        "refuse_above",
        "allocation",
        "allocation_rank",
        "constrained",
        "sourcing",
    )

    def __init__(
        self,
        node_id: NodeId,
        *,
        kind: str,
        tier: str,
        echelon: int,
        initial_inventory: float,
        holding_cost: float,
        stockout_cost: float,
        backlog: bool,
        capacity: float | None,
        forecast_window: int,
        location: str | None = None,
        sku: str = "default",
        price: float = 0.0,
    ) -> None:
        self.id = node_id  # the stock point: the node id, or "node/sku" in a multi-SKU scenario
        self.location = node_id if location is None else location  # the node id (ledger 'node')
        self.sku = sku
        self.kind = kind
        self.tier = tier
        self.echelon = echelon
        self.holding_cost = holding_cost
        self.stockout_cost = stockout_cost
        self.price = price  # per unit sold to external customers (revenue; never charged)
        self.backlog = backlog
        # Partial backorders (unmet_demand: partial): this fraction of each unmet customer demand
        # is backlogged, the rest lost; 1 with full backlog, 0 with lost sales.
        self.backlog_fraction = 1.0 if backlog else 0.0
        self.capacity = capacity
        self.storage_capacity: float | None = None  # on-hand above it costs overflow_cost_rate
        self.overflow_cost_rate = 0.0
        self.inbound: list[Lane] = []  # lanes this node orders on (production lane for a source)
        self.lane_ids: tuple[str, ...] = ()  # ids of ``inbound``, set once the network is built
        self.outbound: list[Lane] = []
        self.is_source = False
        self.make_to_order = False  # a source with no agent: produces what it owes, up to capacity
        self.bom: tuple | None = None  # factory output: ((input stock point, units), ...)
        # continuous review: called as watch(node, t) when the inventory position drops
        self.watch: Callable[[Node, int], None] | None = None
        # -- supply side; set by twin.build, all off by default
        self.outage: list[bool] | None = None  # down[t]: ships, sells and produces nothing
        self.refuse_above: float | None = None  # storage capacity with overflow: refuse
        self.allocation = "fifo"  # entities.allocation rule under shortage
        self.allocation_rank: dict = {}  # claimant (lane or None) -> rank, for 'priority'
        self.constrained = False  # serve through entities.allocation (rule, lane room)
        self.sourcing: Sourcing | None = None  # split of orders over upstream lanes

        self.on_hand = float(initial_inventory)
        self.owed: deque[list] = deque()
        self.backorders = 0.0
        self.customer_backorders = 0.0
        self.on_order = 0.0
        self.released = float(initial_inventory)  # units this node brought into the network

        self.forecast_window = forecast_window
        self._history: deque[float] = deque()
        self._history_sum = 0.0

        self.receipts = self.produced = self.shipped = self.sold = 0.0
        self.demand = self.filled = self.lost_sales = 0.0
        self.consumed = self.lost_in_transit = self.refused = 0.0

    # -- flows --------------------------------------------------------------------------------

    def serve(self, t: int) -> None:
        """Fill what is owed, oldest first (or by the allocation rule), from on-hand stock; ship to
        downstream lanes. A node in an outage serves nothing."""
        if not self.owed or self.on_hand <= 0.0 or (self.outage is not None and self.outage[t]):
            return
        self.on_hand, _, sends = self._fill(self.on_hand, t)
        self._ship(sends, t)

    def _fill(self, supply: float, t: int) -> tuple[float, float, dict[Lane, float]]:
        """Fill owed entries, oldest first, from ``supply`` units (partially if it runs out).

        Returns what is left of the supply, the units filled and the units to ship per lane.
        Whole entries are taken while they fit, so an unlimited supply (``math.inf``) leaves
        nothing owed, not a rounding residue; so does a supply that is the float sum of what is
        owed (a base-stock order of what the node owes, delivered at once): what is left of it
        after the older entries, a running difference, may miss the next entry by rounding
        (``4.0962421110938685 - 2.096242111093869`` is ``1.9999999999999996``, not ``2.0``), and
        an entry missed by at most :data:`FILL_ROUNDING` times the supply is filled whole; less
        than that left over (a sum rounded up) is nothing left. A node with an allocation rule
        other than FIFO, or with downstream lanes that have a capacity or outages, fills through
        :func:`entities.allocation.fill` instead (this loop is the fast path).
        """
        if self.constrained:
            return allocation.fill(self, supply, t)
        owed = self.owed
        sends: dict[Lane, float] = {}
        served = 0.0
        short = FILL_ROUNDING * supply  # what the running subtraction may lose to rounding
        while owed and supply > 0.0:
            entry = owed[0]
            lane, quantity, created = entry[0], entry[1], entry[2]  # may carry more (patience)
            if quantity - supply <= short:  # it fits (perhaps but for rounding): filled whole
                q = quantity
                owed.popleft()
            else:
                q = supply
                entry[1] = quantity - q
            supply -= q
            served += q
            if created == t:
                self.filled += q
            if lane is None:
                self.sold += q
                self.customer_backorders -= q
            else:
                sends[lane] = sends.get(lane, 0.0) + q
        if supply < short:  # what is left is rounding (of an entry filled whole, or the sum)
            supply = 0.0
        self._settle(served)
        return supply, served, sends

    def _settle(self, served: float) -> None:
        """Take ``served`` units off the backorder counters after a fill (customers' share is
        already off ``customer_backorders``)."""
        if self.owed:  # running sums of floats: never let rounding take them below zero
            b = self.backorders - served
            self.backorders = b if b > 0.0 else 0.0
            if self.customer_backorders < 0.0:
                self.customer_backorders = 0.0
        else:  # nothing owed: exactly zero (no float residue from repeated subtraction)
            self.backorders = self.customer_backorders = 0.0

    def _ship(self, sends: dict[Lane, float], t: int) -> None:
        for lane, q in sends.items():
            self.shipped += q
            lane.ship(q, t)  # may deliver at once downstream (zero lead time); never back here

    def customer_demand(self, quantity: float, t: int, deadline: float | None = None) -> list | None:
        """External demand (see :meth:`_take_demand`); then a continuous-review agent watching
        this node reviews its lowered inventory position at once."""
        entry = self._take_demand(quantity, t, deadline)
        if self.watch is not None:
            self.watch(self, t)
        return entry

    def _take_demand(self, quantity: float, t: int, deadline: float | None) -> list | None:
        """External demand: filled from stock now, the rest backordered, lost, or partly both.

        With full backlog the demand joins the owed queue behind what is already owed; with lost
        sales (and partial backorders) older backorders are served first, then the demand is
        filled from what stock is left, and of the unmet rest the fraction ``backlog_fraction`` is
        backordered (Zipkin, *Foundations of Inventory Management*, 2000: partial
        backorders), the remainder lost. ``deadline`` (a customer's patience) is stored as the
        fourth element of its owed entry. Returns that owed entry if part of the demand is still
        backordered (for the caller to schedule the customer's reneging), else None.
        """
        self.demand += quantity
        if quantity <= 0.0:
            return None
        if self.backlog:
            entry = [None, quantity, t] if deadline is None else [None, quantity, t, deadline]
            owed = self.owed
            owed.append(entry)
            self.backorders += quantity
            self.customer_backorders += quantity
            self.serve(t)
            # The entry is still owed iff it is the last one (nothing is queued while serving).
            return entry if owed and owed[-1] is entry else None
        self.serve(t)  # older backorders (of downstream nodes) come first
        q = quantity if quantity <= self.on_hand else self.on_hand
        if self.outage is not None and self.outage[t]:
            q = 0.0  # an outage: nothing is sold
        self.on_hand -= q
        self.sold += q
        self.filled += q
        unmet = quantity - q
        if unmet <= 0.0:
            return None
        fraction = self.backlog_fraction
        if fraction <= 0.0:
            self.lost_sales += unmet
            return None
        kept = unmet * fraction
        self.lost_sales += unmet - kept
        entry = [None, kept, t] if deadline is None else [None, kept, t, deadline]
        self.owed.append(entry)
        self.backorders += kept
        self.customer_backorders += kept
        return entry

    def renege(self, entry: list, t: int) -> float:
        """A backlogged customer whose patience ran out leaves: what is still owed on ``entry``
        is a lost sale of period ``t``. Returns the units lost (0 if it was served meanwhile)."""
        owed = self.owed
        for i, e in enumerate(owed):
            if e is entry:
                del owed[i]
                break
        else:
            return 0.0
        q = entry[1]
        self.lost_sales += q
        if owed:  # running sums of floats: never below zero by rounding
            b, c = self.backorders - q, self.customer_backorders - q
            self.backorders, self.customer_backorders = (b if b > 0.0 else 0.0, c if c > 0.0 else 0.0)
        else:  # nothing owed: exactly zero
            self.backorders = self.customer_backorders = 0.0
        return q

    def receive_order(self, lane: Lane, quantity: float, t: int) -> None:
        """A downstream node's order joins the queue; it is served at this node's turn."""
        self.owed.append([lane, quantity, t])
        self.backorders += quantity
        self.demand += quantity
        if self.watch is not None:
            self.watch(self, t)

    def receive(self, quantity: float, t: int) -> float:
        """A shipment arrives: add it to on-hand stock and serve what is owed.

        With a storage capacity and ``overflow: refuse``, what would stay on hand above the
        capacity after serving is refused: it is not received (it stays on order, and the lane
        delivers it again next period). Returns the units refused.
        """
        self.on_hand += quantity
        self.receipts += quantity
        self.on_order -= quantity
        self.serve(t)
        cap = self.refuse_above
        if cap is None or self.on_hand <= cap:
            return 0.0
        refused = self.on_hand - cap
        if refused > quantity:  # never more than this shipment brought
            refused = quantity
        self.on_hand -= refused
        self.receipts -= refused
        self.on_order += refused
        self.refused += refused
        return refused

    def produce_to_order(self, t: int) -> None:
        """Make-to-order source: fill what is owed from stock, make the rest (up to capacity) and
        ship it at once.

        Production fills the owed entries one by one (not their float sum, which subtracting the
        entries again need not give back exactly), so an unlimited source owes nothing afterwards.
        """
        self.serve(t)  # stock first; if anything is still owed, on-hand stock is now exactly 0
        if not self.owed or (self.outage is not None and self.outage[t]):
            return
        capacity = math.inf if self.capacity is None else self.capacity
        if self.bom is not None:  # a factory: inputs limit and are consumed (entities.production)
            wanted = self.backorders if self.backorders < capacity else capacity
            capacity = production.limit(self.bom, wanted)
        _, made, sends = self._fill(capacity, t)
        if self.bom is not None:
            production.consume(self.bom, made, wanted)
        self.receipts += made
        self.produced += made
        self.released += made
        self._ship(sends, t)

    # -- a starting state (twin.engine.state), before the run ---------------------------------

    def set_on_hand(self, quantity: float) -> None:
        """Hold ``quantity`` units on hand at the start instead of the initial inventory (counted
        as released into the network by this node, as initial inventory is)."""
        self.released += quantity - self.on_hand
        self.on_hand = float(quantity)

    def preload_backorder(self, quantity: float, period: int) -> None:
        """Owe ``quantity`` units to end customers at the start, ordered in ``period`` (< 0);
        queued behind what is already owed."""
        self.owed.append([None, quantity, period])
        self.backorders += quantity
        self.customer_backorders += quantity

    # -- what the node knows ------------------------------------------------------------------

    @property
    def inventory_position(self) -> float:
        return self.on_hand + self.on_order - self.backorders

    def available_to_promise(self) -> float:
        """Units this node could still ship now beyond what it owes: on-hand stock minus
        backorders, or for a make-to-order source its capacity per period (inf if unlimited)
        plus stock minus backorders."""
        supply = self.on_hand
        if self.make_to_order:
            supply += math.inf if self.capacity is None else self.capacity
        left = supply - self.backorders
        return left if left > 0.0 else 0.0

    def forecast(self) -> float:
        """Moving average of demand over the last ``forecast_window`` periods, this one included."""
        return (self._history_sum + self.demand) / (len(self._history) + 1)

    def pipeline(self, t: int) -> tuple[float, ...]:
        """Units due in ``t+1, t+2, ...`` over all ordering lanes (index k: due at ``t+k+1``).

        Units due in ``t`` itself that have not arrived yet (an observation before the receive
        step: an order seen at the ``ORDER`` step wakes a continuous-review policy) are counted
        at index 0, so the pipeline always sums to the units in transit.
        """
        if len(self.inbound) == 1:  # the common case, without merging
            due = self.inbound[0].pipeline
            if not due:
                return ()
            if len(due) == 1:  # one shipment on its way (a short lead time): no list to build
                for when, q in due.items():
                    if when > t:
                        return (0.0,) * (when - t - 1) + (q,)
            last = max(due)
            if last > t and min(due) > t:
                out = [0.0] * (last - t)
                for when, q in due.items():
                    out[when - t - 1] = q
                return tuple(out)
        else:
            due = {}
            for lane in self.inbound:
                for when, q in lane.pipeline.items():
                    due[when] = due.get(when, 0.0) + q
            if not due:
                return ()
        out = [0.0] * max(max(due) - t, 1)
        for when, q in due.items():
            out[when - t - 1 if when > t else 0] += q
        return tuple(out)

    def close_period(self) -> None:
        """Reset the period counters (after the period is recorded in the ledger)."""
        history = self._history
        demand = self.demand
        history.append(demand)
        self._history_sum += demand
        if len(history) >= self.forecast_window:
            self._history_sum -= history.popleft()
        self.receipts = self.produced = self.shipped = self.sold = 0.0
        self.demand = self.filled = self.lost_sales = 0.0
        self.consumed = self.lost_in_transit = self.refused = 0.0

    def __repr__(self) -> str:
        return (
            f"Node({self.id!r}, on_hand={self.on_hand:g}, backorders={self.backorders:g}, "
            f"on_order={self.on_order:g})"
        )
