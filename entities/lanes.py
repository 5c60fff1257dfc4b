"""Lanes: orders go up a lane, shipments come down it after a stochastic lead time.

A lane's lead time is drawn once per period of dispatch from the lane's own random stream (all
units sent on a lane in one period travel together as one shipment). Drawing per period, whether or
not anything ships, keeps the draws identical across policies (common random numbers). A shipment
sent at ``t`` with lead time ``L`` joins the receiving node's stock at the first receive step at or
after ``t + L``: immediately when ``L == 0``, else at period ``t + ceil(L)``, so orders may cross.

A lane with no origin is a source's production line: an unlimited supply of material turned into
product at most ``capacity`` units per period (all of what is owed when ``capacity`` is None).

Supply-side options of a lane between two nodes (README, Supply side), each drawn per period from
the lane's own streams:

* ``capacity``: at most this many units leave on the lane per period (the rest stays owed);
* ``order_processing``: an order placed in period ``t`` reaches the upstream node at the ``ORDER``
  step of period ``t + ceil(delay)`` (at once when the delay is 0), so orders may cross too;
* ``fifo``: shipments never overtake each other: one is due no earlier than the one sent before it
  (sequential lead times, Zipkin, *Foundations of Inventory Management*, 2000, sec. 7.4), for
  comparison with the crossing default;
* ``outage``: periods in which the lane carries nothing new (:mod:`entities.disruptions`);
* ``shipment_loss``: the fraction of each period's shipment lost in transit, written off when it
  is due (``lost_in_transit``).

Units refused at a full destination (``overflow: refuse``) stay on the lane and are delivered
again at the next period's receive step.

A lane counts the units ordered on it and the orders placed in the current period (``ordered``,
``orders``; reset at each close) for the ledger, which charges ordering costs from them
(:mod:`reconciliation.costs`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Protocol

import numpy as np
import simpy

from entities.clock import ORDER, RECEIVE, Phase
from entities.disruptions import units_lost
from entities.messages import LaneId

if TYPE_CHECKING:
    from entities.stockpoint import StockPoint


class TraceSink(Protocol):
    """Where lanes report each order and shipment (``reconciliation.trace.Trace``), by lane key."""

    def order(self, lane: int, period: int, quantity: float, seen: int) -> None: ...

    def shipment(
        self, lane: int, sent: int, lead_time: float, due: int, quantity: float, lost: float
    ) -> None: ...


class Receipts:
    """The receive steps of a replication: one ``RECEIVE`` event per period in which anything is
    due, listing the lanes due then, instead of one event per lane and period.

    An optimisation (benchmarks/RESULTS.md, Scale): with one event per lane, a 1,000-store network
    kept about 2,000 events on SimPy's heap, and every push and pop paid for its depth. The lanes of
    a period arrive in the order their shipments were first scheduled for it, which is the order
    SimPy gave their separate events (same time and priority: insertion order), so the ledger is
    the same either way.
    """

    __slots__ = ("env", "due", "events", "driven")

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self.due: dict[int, list[Lane]] = {}
        self.events: dict[int, Phase] = {}  # the RECEIVE event of each due period
        self.driven = False  # True: the owner calls arrive(t) at each receive step (drive())

    def add(self, lane: Lane, due: int) -> None:
        """``lane`` has a shipment due in period ``due`` (called once per lane and due period)."""
        lanes = self.due.get(due)
        if lanes is None:
            self.due[due] = [lane]
            if not self.driven:
                event = self.events[due] = Phase(self.env, due, RECEIVE, due)
                event.callbacks.append(self._receive)
        else:
            lanes.append(lane)

    def drive(self) -> None:
        """From now on the owner calls :meth:`arrive` at the receive step of every period (the
        twin's epoch process, where nothing else can happen between the ``RECEIVE`` and ``DEMAND``
        steps of a period): no more ``RECEIVE`` events; those already scheduled do nothing."""
        self.driven = True
        for event in self.events.values():
            event.callbacks.clear()
        self.events.clear()

    def arrive(self, due: int) -> None:
        """The receive step of period ``due``: what is due on every lane arrives."""
        for lane in self.due.pop(due, ()):
            lane.arrive(due)

    def _receive(self, event: Phase) -> None:
        due: int = event._value  # type: ignore[assignment]
        del self.events[due]
        self.arrive(due)


class Lane:
    """One directed lane ``origin -> destination`` (``origin`` None: a production line)."""

    __slots__ = (
        "id",
        "origin",
        "destination",
        "env",
        "lead_times",
        "_lead_times",
        "unit_cost",
        "fixed_cost",
        "transit_holding_cost",
        "capacity",
        "trace",
        "trace_key",
        "owed",
        "in_transit",
        "pipeline",
        "cum_ordered",
        "cum_shipped",
        "cum_received",
        "cum_lost",
        "unseen",
        "ordered",
        "orders",
        # -- supply side
        "processing",
        "fifo",
        "last_due",
        "down",
        "loss",
        "loss_uniforms",
        "lost_due",
        "sent_period",
        "sent",
        "receipts",
    )

    def __init__(
        self,
        lane_id: LaneId,
        origin: StockPoint | None,
        destination: StockPoint,
        *,
        env: simpy.Environment,
        lead_times: np.ndarray,
        unit_cost: float,
        fixed_cost: float,
        transit_holding_cost: float,
        capacity: float | None = None,
        trace: TraceSink | None = None,
        trace_key: int = 0,
        receipts: Receipts | None = None,
    ) -> None:
        self.id = lane_id
        self.origin = origin
        self.destination = destination
        self.env = env
        self.lead_times = lead_times  # one draw per period of dispatch
        # Read as Python numbers through a memoryview: as fast on the hot path as a list, without a
        # second copy of the draws (a list of floats takes 4x the array's memory).
        self._lead_times = np.ascontiguousarray(lead_times).data
        self.unit_cost = unit_cost
        self.fixed_cost = fixed_cost
        self.transit_holding_cost = transit_holding_cost
        self.capacity = capacity
        self.trace = trace  # event trace sink (None: no trace); this lane reports as trace_key
        self.trace_key = trace_key

        self.owed = 0.0  # ordered, not yet shipped (backordered upstream)
        self.in_transit = 0.0
        self.pipeline: dict[int, float] = {}  # due period -> units in transit
        self.cum_ordered = self.cum_shipped = self.cum_received = self.cum_lost = 0.0
        self.unseen = 0.0  # ordered, not yet seen by the origin (order-processing delay)
        self.ordered = 0.0  # units ordered in the current period
        self.orders = 0  # orders placed in the current period
        self.receipts = receipts if receipts is not None else Receipts(env)
        # -- supply side; set by twin.build, all off by default
        self.processing: list[float] | None = None  # order-processing delay per period ordered
        self.fifo = False
        self.last_due = -1  # latest due period of anything sent (fifo lanes)
        self.down: list[bool] | None = None  # outage per period
        self.loss: list[float] | None = None  # fraction lost per dispatch period
        self.loss_uniforms: list[float] = []
        self.lost_due: dict[int, float] = {}  # due period -> units of it that will be lost
        self.sent_period, self.sent = -1, 0.0  # units sent in period sent_period (capacity)

    def place_order(self, quantity: float, t: int) -> None:
        """The destination orders ``quantity`` (> 0) in period ``t``."""
        self.owed += quantity
        self.cum_ordered += quantity
        self.ordered += quantity
        self.orders += 1
        self.destination.on_order += quantity
        delay = self.processing[t] if self.processing is not None else 0.0
        seen = t + math.ceil(delay) if delay > 0.0 else t
        if self.trace is not None:
            self.trace.order(self.trace_key, t, quantity, seen)
        if self.origin is None:
            return
        if seen == t:
            self.origin.receive_order(self, quantity, t)
        else:  # order processing: the origin sees it at the ORDER step of period `seen`
            self.unseen += quantity
            Phase(self.env, seen, ORDER, quantity).callbacks.append(self._order_seen)

    def _order_seen(self, event: Phase) -> None:
        quantity: float = event._value  # type: ignore[assignment]
        self.unseen -= quantity
        if self.unseen < 0.0:  # a running sum of floats: never below zero by rounding
            self.unseen = 0.0
        self.origin.receive_order(self, quantity, int(self.env.now))  # type: ignore[union-attr]

    # -- what the lane can carry now (allocation and sourcing) ----------------------------------

    def room(self, t: int) -> float:
        """Units the lane can still carry in period ``t`` (0 in an outage; inf if uncapacitated)."""
        if self.down is not None and self.down[t]:
            return 0.0
        if self.capacity is None:
            return math.inf
        left = self.capacity - (self.sent if self.sent_period == t else 0.0)
        return left if left > 0.0 else 0.0

    def available(self, t: int) -> bool:
        """True if neither the lane nor its origin is in an outage in period ``t``."""
        if self.down is not None and self.down[t]:
            return False
        origin = self.origin
        return origin is None or origin.outage is None or not origin.outage[t]

    def supply_now(self) -> float:
        """What the origin can promise on this lane now: its available-to-promise stock, at most
        the lane's capacity per period not already owed on it (inf for a production line)."""
        origin = self.origin
        can = math.inf if origin is None else origin.available_to_promise()
        if self.capacity is not None:
            lane = self.capacity - self.owed
            can = min(can, lane if lane > 0.0 else 0.0)
        return can

    def produce(self, t: int) -> None:
        """Production line: make what is owed, up to capacity, and send it down the line (nothing
        while the source is in an outage)."""
        outage = self.destination.outage
        if self.owed > 0.0 and (outage is None or not outage[t]):
            made = self.owed if self.capacity is None or self.owed <= self.capacity else self.capacity
            self.destination.produced += made
            self.destination.released += made
            self.ship(made, t)

    def ship(self, quantity: float, t: int) -> None:
        """Send ``quantity`` now (period ``t``); it arrives after this period's lead time."""
        self.owed -= quantity
        self.cum_shipped += quantity
        if self.sent_period == t:
            self.sent += quantity
        else:
            self.sent_period, self.sent = t, quantity
        lead_time: float = self._lead_times[t]
        due = t + math.ceil(lead_time) if lead_time > 0.0 else t
        if self.fifo:  # no overtaking: due no earlier than anything sent before
            if self.last_due > due:
                due = self.last_due
                lead_time = float(due - t)
            self.last_due = due
        lost = 0.0
        if self.loss is not None:
            fraction = self.loss[t]
            if fraction > 0.0:
                lost = units_lost(quantity, fraction, self.loss_uniforms[t])
        if self.trace is not None:
            self.trace.shipment(self.trace_key, t, lead_time, due, quantity, lost)
        if due == t:  # zero lead time: received at once
            self._deliver(quantity, lost, t)
            return
        self.in_transit += quantity
        if lost > 0.0:
            self.lost_due[due] = self.lost_due.get(due, 0.0) + lost
        self._add_to_pipeline(quantity, due)

    def _add_to_pipeline(self, quantity: float, due: int) -> None:
        pipeline = self.pipeline
        if due in pipeline:  # already on its way this period: travels with that shipment
            pipeline[due] += quantity
        else:
            pipeline[due] = quantity
            self.receipts.add(self, due)

    def preload(self, quantity: float, due: int) -> None:
        """Units already in transit when the run starts (before period 0), due in period ``due``.

        They count as ordered and shipped on this lane, as on order at the destination and as
        released into the network by it (like its initial inventory), so every ledger identity
        holds from period 0 on. Call before the run starts.
        """
        if quantity <= 0.0:
            return
        self.cum_ordered += quantity
        self.cum_shipped += quantity
        self.in_transit += quantity
        dest = self.destination
        dest.on_order += quantity
        dest.released += quantity
        if due > self.last_due:
            self.last_due = due
        self._add_to_pipeline(quantity, due)

    def set_lead_times(self, lead_times: np.ndarray) -> None:
        """Use ``lead_times[t]`` for what is sent in period ``t`` instead of the drawn ones (a
        replay of recorded lead times). Call before the run starts."""
        self.lead_times = lead_times
        self._lead_times = np.ascontiguousarray(lead_times).data

    def preload_order(self, quantity: float, period: int) -> None:
        """Units ordered on this lane in ``period`` (< 0), before the run starts, not yet shipped:
        owed on the lane and by its origin (queued behind what the origin already owes), on
        order at the destination. Call before the run starts."""
        if quantity <= 0.0:
            return
        self.owed += quantity
        self.cum_ordered += quantity
        self.destination.on_order += quantity
        origin = self.origin
        if origin is not None:
            origin.owed.append([self, quantity, period])
            origin.backorders += quantity

    def arrive(self, due: int) -> None:
        """The receive step of period ``due``: what is due on this lane arrives."""
        pipeline = self.pipeline
        quantity = pipeline.pop(due)
        # What is still in transit, summed afresh: a running difference can drift below zero by
        # rounding, and in-transit stock is charged holding cost (pipelines are a few entries).
        self.in_transit = sum(pipeline.values()) if pipeline else 0.0
        lost = self.lost_due.pop(due, 0.0) if self.lost_due else 0.0
        self._deliver(quantity, lost, due)

    def _deliver(self, quantity: float, lost: float, t: int) -> None:
        """A shipment of ``quantity`` is due now: ``lost`` units of it are written off, the rest
        is received, except what the destination refuses (it comes again next period)."""
        dest = self.destination
        if lost > 0.0:
            self.cum_lost += lost
            dest.lost_in_transit += lost
            dest.on_order -= lost
            quantity -= lost
            if quantity <= 0.0:
                return
        refused = dest.receive(quantity, t)
        self.cum_received += quantity - refused
        if refused > 0.0:  # waits at the dock for the next receive step
            self.in_transit += refused
            self._add_to_pipeline(refused, t + 1)
            if self.fifo and self.last_due < t + 1:  # nothing sent later may pass it
                self.last_due = t + 1

    def __repr__(self) -> str:
        return f"Lane({self.id!r}, owed={self.owed:g}, in_transit={self.in_transit:g})"
