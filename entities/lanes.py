"""Lanes: orders go up a lane, shipments come down it after a stochastic lead time.

A lane's lead time is drawn once per period of dispatch from the lane's own random stream (all
units sent on a lane in one period travel together as one shipment). Drawing per period, whether or
not anything ships, keeps the draws identical across policies (common random numbers). A shipment
sent at ``t`` with lead time ``L`` joins the receiving node's stock at the first receive step at or
after ``t + L``: immediately when ``L == 0``, else at period ``t + ceil(L)``, so orders may cross.

A lane with no origin is a source's production line: an unlimited supply of material turned into
product at most ``capacity`` units per period (all of what is owed when ``capacity`` is None).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import numpy as np
import simpy

from entities.clock import RECEIVE, Phase
from entities.messages import LaneId, Order, Shipment

if TYPE_CHECKING:
    from entities.nodes import Node


class Lane:
    """One directed lane ``origin -> destination`` (``origin`` None: a production line)."""

    __slots__ = (
        "id", "origin", "destination", "env", "lead_times", "_lead_times", "unit_cost",
        "fixed_cost", "transit_holding_cost", "capacity", "record", "owed", "in_transit",
        "pipeline", "cum_ordered", "cum_shipped", "cum_received", "cum_lost", "unseen", "_ids",
    )

    def __init__(self, lane_id: LaneId, origin: Node | None, destination: Node, *,
                 env: simpy.Environment, lead_times: np.ndarray, unit_cost: float,
                 fixed_cost: float, transit_holding_cost: float,
                 capacity: float | None = None, record: Callable[[object], None] | None = None,
                 ids: Iterator[int] | None = None) -> None:
        self.id = lane_id
        self.origin = origin
        self.destination = destination
        self.env = env
        self.lead_times = lead_times  # one draw per period of dispatch
        self._lead_times: list[float] = lead_times.tolist()  # hot path: list indexing is faster
        self.unit_cost = unit_cost
        self.fixed_cost = fixed_cost
        self.transit_holding_cost = transit_holding_cost
        self.capacity = capacity
        self.record = record  # event trace sink (None: no trace)

        self.owed = 0.0  # ordered, not yet shipped (backordered upstream)
        self.in_transit = 0.0
        self.pipeline: dict[int, float] = {}  # due period -> units in transit
        self.cum_ordered = self.cum_shipped = self.cum_received = self.cum_lost = 0.0
        self.unseen = 0.0  # ordered, not yet seen by the origin (order-processing delay)
        self._ids = ids if ids is not None else itertools.count(1)  # message ids (trace)

    def place_order(self, quantity: float, t: int) -> None:
        """The destination orders ``quantity`` (> 0) in period ``t``."""
        self.owed += quantity
        self.cum_ordered += quantity
        dest = self.destination
        dest.on_order += quantity
        dest.ordered += quantity
        dest.ordering_cost += self.fixed_cost + self.unit_cost * quantity
        if self.record is not None:
            self.record(Order(next(self._ids), self.id, t, quantity))
        if self.origin is not None:
            self.origin.receive_order(self, quantity, t)

    def produce(self, t: int) -> None:
        """Production line: make what is owed, up to capacity, and send it down the line."""
        if self.owed > 0.0:
            made = self.owed if self.capacity is None or self.owed <= self.capacity \
                else self.capacity
            self.destination.produced += made
            self.destination.released += made
            self.ship(made, t)

    def ship(self, quantity: float, t: int) -> None:
        """Send ``quantity`` now (period ``t``); it arrives after this period's lead time."""
        self.owed -= quantity
        self.cum_shipped += quantity
        lead_time = self._lead_times[t]
        if self.record is not None:
            due = t + math.ceil(lead_time)
            self.record(Shipment(next(self._ids), self.id, t, lead_time, due, quantity))
        if lead_time <= 0.0:
            self.cum_received += quantity
            self.destination.receive(quantity, t)
            return
        due = t + math.ceil(lead_time)
        self.in_transit += quantity
        pipeline = self.pipeline
        if due in pipeline:  # already on its way this period: travels with that shipment
            pipeline[due] += quantity
        else:
            pipeline[due] = quantity
            Phase(self.env, due, RECEIVE, due).callbacks.append(self._arrive)

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
        pipeline = self.pipeline
        if due in pipeline:
            pipeline[due] += quantity
        else:
            pipeline[due] = quantity
            Phase(self.env, due, RECEIVE, due).callbacks.append(self._arrive)

    def _arrive(self, event: Phase) -> None:
        due: int = event._value  # type: ignore[assignment]
        pipeline = self.pipeline
        quantity = pipeline.pop(due)
        # What is still in transit, summed afresh: a running difference can drift below zero by
        # rounding, and in-transit stock is charged holding cost (pipelines are a few entries).
        self.in_transit = sum(pipeline.values()) if pipeline else 0.0
        self.cum_received += quantity
        self.destination.receive(quantity, due)

    def __repr__(self) -> str:
        return f"Lane({self.id!r}, owed={self.owed:g}, in_transit={self.in_transit:g})"
