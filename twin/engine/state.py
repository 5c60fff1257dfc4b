"""A starting state applied to the built entities, and the state of a run read back from them.

:class:`StartFrom` is given to :class:`twin.engine.simulation.Simulation` as its ``setup``: right
after the entities are built, before anything runs, it puts the state
(:class:`twin.scenario.state.StartingState`) into the books of nodes and lanes so that every ledger
identity holds from the first period on:

* on hand: the node's stock, counted as released into the network by it (like initial inventory);
* customer orders: owed by the node (``backorders``, ``customer_backorders``);
* open orders: owed on the lane (ordered, not yet shipped), so owed by its origin and on order at
  its destination (:meth:`entities.lanes.Lane.preload_order`);
* in transit: shipped on the lane, due in their period, released into the network by the
  destination (:meth:`entities.lanes.Lane.preload`).

What a node owes is queued oldest first (customer orders and open orders together, by the period
they were placed in). The scenario must have been prepared with
:func:`twin.scenario.state.scenario_at` (no initial pipeline of its own).

:func:`capture_state` reads the state back from a network at the start of a period (after the
close of the one before): the law ``capture(apply(state)) == state`` holds before a run starts, and
the state captured at the end of one run starts the next one where it stopped.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from entities.errors import TwinError
from entities.lanes import Lane
from entities.messages import PRODUCTION
from entities.nodes import Node
from twin.engine.build import Network
from twin.scenario.state import CustomerOrder, InTransit, OpenOrder, StartingState


class StartFrom:
    """``setup`` of a Simulation that starts it from ``state`` (see the module docstring)."""

    def __init__(self, state: StartingState) -> None:
        self.state = state

    def __call__(self, network: Network) -> None:
        apply_state(network, self.state)


def apply_state(network: Network, state: StartingState) -> None:
    """Put ``state`` into the books of ``network`` before it runs."""
    nodes = network.node_map
    multi_sku = any(n.id != n.location for n in network.nodes)

    def point(node: str, sku: str) -> str:
        return f"{node}/{sku}" if multi_sku else node

    def lane_of(origin: str, destination: str, sku: str) -> Lane:
        head = origin if origin == PRODUCTION else point(origin, sku)
        return lanes[f"{head}->{point(destination, sku)}"]

    lanes: dict[str, Lane] = {ln.id: ln for ln in network.lanes}
    for lane in network.lanes:
        if lane.cum_shipped or lane.cum_ordered:
            raise TwinError(
                f"lane {lane.id!r} already has units in transit or on order before the state is "
                "applied: prepare the scenario with twin.scenario.state.scenario_at"
            )
    for node in network.nodes:  # a state says everything that is on hand
        node.set_on_hand(state.on_hand.get((node.location, node.sku), 0.0))

    owed: dict[str, list[tuple[int, int, Lane | None, float]]] = defaultdict(list)
    for k, c in enumerate(state.customer_orders):
        if c.quantity > 0.0:
            owed[point(c.node, c.sku)].append((c.period, k, None, c.quantity))
    base = len(state.customer_orders)
    for k, o in enumerate(state.open_orders):
        if o.quantity > 0.0:
            lane = lane_of(o.origin, o.destination, o.sku)
            owner = point(o.destination, o.sku) if lane.origin is None else lane.origin.id
            owed[owner].append((o.period, base + k, lane, o.quantity))
    for owner, entries in owed.items():
        node = nodes[owner]  # type: ignore[index]
        for period, _, on_lane, quantity in sorted(entries, key=lambda e: (e[0], e[1])):
            if on_lane is None:
                node.preload_backorder(quantity, min(period, -1))
            else:
                on_lane.preload_order(quantity, min(period, -1))
    for s in state.in_transit:
        if s.quantity > 0.0:
            lane_of(s.origin, s.destination, s.sku).preload(s.quantity, max(s.due, 0))


def capture_state(network: Network, period: int, *, source: str = "<run>") -> StartingState:
    """The state of ``network`` at the start of ``period`` (after the close of ``period - 1``), in
    periods relative to it: what is owed with the period it was placed in (negative), what is in
    transit with its due period.

    Orders still in order processing (not yet seen upstream) are captured as open orders seen at
    once, and what a source's production line still owes as one open order; a customer's
    remaining patience and units that will be lost in transit are not part of a state.
    """
    nodes: list[Node] = network.nodes
    on_hand = {(n.location, n.sku): float(n.on_hand) for n in nodes if n.on_hand > 0.0}
    customers: list[CustomerOrder] = []
    orders: list[OpenOrder] = []
    for node in nodes:
        for entry in node.owed:
            lane, quantity, created = entry[0], float(entry[1]), int(entry[2]) - period
            if quantity <= 0.0:
                continue
            if lane is None:
                customers.append(CustomerOrder(node.location, node.sku, quantity, created))
            else:
                orders.append(_open_order(lane, quantity, created))
    for lane in network.lanes:
        if lane.origin is not None and lane.unseen > 0.0:
            orders.append(_open_order(lane, float(lane.unseen), -1))
    for lane in network.lanes:  # what a source's production line owes: production ordered
        if lane.origin is None and lane.owed > 0.0:
            orders.append(_open_order(lane, float(lane.owed), -1))
    transit: list[InTransit] = []
    for lane in network.lanes:
        dest: Any = lane.destination
        head = PRODUCTION if lane.origin is None else lane.origin.location  # type: ignore[attr-defined]
        for due, quantity in sorted(lane.pipeline.items()):
            if quantity > 0.0:
                transit.append(InTransit(head, dest.location, dest.sku, float(quantity), due - period))
    return StartingState(
        on_hand=on_hand,
        customer_orders=tuple(customers),
        open_orders=tuple(orders),
        in_transit=tuple(transit),
        source=source,
    )


def _open_order(lane: Lane, quantity: float, period: int) -> OpenOrder:
    origin: Any = lane.origin
    dest: Any = lane.destination
    head = PRODUCTION if origin is None else origin.location
    return OpenOrder(head, dest.location, dest.sku, quantity, period)
