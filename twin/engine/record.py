"""What the period close records: the flows of every stock point and lane into the ledger's columns,
and the books the audit compares them with.

The twin's entities count what happens in a period in plain attributes (a node's ``receipts``,
``shipped``, ...; a lane's ``ordered`` and ``orders``); at each close :class:`Recorder` reads them
into one row of the replication's :class:`~reconciliation.ledger.Ledger` (only the flows that can
be other than 0 at a stock point: :func:`node_flows`) and, with the audit on, the cumulative books
of lanes and nodes into the :class:`~reconciliation.audit.Auditor`. Costs are not computed here:
:mod:`reconciliation.costs` computes them from the recorded flows and the cost parameters
(:func:`cost_rates`, which also gives the stock points' sale prices: revenue is computed there too).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import Any

from entities.lanes import Lane
from entities.nodes import Node
from reconciliation.audit import AuditLayout, Auditor
from reconciliation.costs import CostRates
from reconciliation.ledger import Ledger, LedgerLayout
from twin.engine.build import Network

NODE_ATTRIBUTES: dict[str, str] = {
    "receipts": "receipts",
    "produced": "produced",
    "shipped": "shipped",
    "sold": "sold",
    "consumed": "consumed",
    "demand": "demand",
    "filled_on_time": "filled",
    "backorders": "backorders",
    "lost_sales": "lost_sales",
    "lost_in_transit": "lost_in_transit",
    "refused": "refused",
    "closing_on_hand": "on_hand",
    "on_order": "on_order",
}
"""The :class:`~entities.nodes.Node` attribute behind each recorded ledger flow."""
LANE_ATTRIBUTES: dict[str, str] = {"ordered": "ordered", "orders": "orders", "in_transit": "in_transit"}


def node_flows(node: Node, network: Network) -> tuple[str, ...]:
    """The ledger flows that can be other than 0 at ``node`` (the others are not recorded).

    Every way a node's counters change is one of: a shipment arrives or a make-to-order source
    makes what it owes (``receipts``); a source produces (``produced``); it ships on its outbound
    lanes (``shipped``); customers buy, wait or leave (``sold``, ``lost_sales``, customers'
    ``backorders``); production consumes it as an input (``consumed``, and its ``demand`` and
    ``filled_on_time``); downstream nodes order from it (``demand``, ``filled_on_time``,
    ``backorders``); it orders on its ordering lanes (``on_order``); a lane to it loses units
    (``lost_in_transit``); it refuses deliveries above its storage capacity (``refused``).
    """
    customers = node in network.customer_nodes
    bom_input = node in network.bom_inputs
    serves = customers or bool(node.outbound) or bom_input
    recorded = {
        "receipts": True,
        "produced": node.is_source,
        "shipped": bool(node.outbound),
        "sold": customers,
        "consumed": bom_input,
        "demand": serves,
        "filled_on_time": serves,
        "backorders": bool(node.outbound) or (customers and node.backlog_fraction > 0.0),
        "lost_sales": customers,
        "lost_in_transit": any(lane.loss is not None for lane in node.inbound),
        "refused": node.refuse_above is not None,
        "closing_on_hand": True,
        "on_order": bool(node.inbound),
    }
    return tuple(name for name, kept in recorded.items() if kept)


def lane_flows(lane: Lane) -> tuple[str, ...]:
    """Units ordered and in transit on every lane; orders placed where an order has a fixed cost."""
    return ("ordered", "orders", "in_transit") if lane.fixed_cost != 0.0 else ("ordered", "in_transit")


def lane_books(lane: Lane) -> tuple[str, ...]:
    books = ["cum_ordered", "cum_shipped", "owed", "cum_received"]
    if lane.loss is not None:
        books.append("cum_lost")
    if lane.processing is not None:
        books.append("unseen")
    return tuple(books)


def node_books(node: Node, network: Network) -> tuple[str, ...]:
    books = []
    if node in network.customer_nodes and node.backlog_fraction > 0.0:
        books.append("customer_backorders")
    if node.is_source:  # only sources release units once the run has started
        books.append("released")
    return tuple(books)


def cost_rates(network: Network) -> CostRates:
    """The cost parameters of the network's stock points and lanes, and the stock points' sale
    prices (None where no stock point has one), as arrays."""
    import numpy as np

    nodes, lanes = network.nodes, network.lanes
    price = np.array([n.price for n in nodes], dtype=np.float64)
    index: dict[str, int] = {node.id: i for i, node in enumerate(nodes)}
    slot = {lane: k for node in nodes for k, lane in enumerate(node.inbound)}
    return CostRates(
        holding=np.array([n.holding_cost for n in nodes], dtype=np.float64),
        stockout=np.array([n.stockout_cost for n in nodes], dtype=np.float64),
        overflow=np.array([n.overflow_cost_rate for n in nodes], dtype=np.float64),
        storage_capacity=np.array(
            [math.inf if n.storage_capacity is None else n.storage_capacity for n in nodes],
            dtype=np.float64,
        ),
        lane_destination=np.array([index[ln.destination.id] for ln in lanes], dtype=np.intp),
        lane_slot=np.array([slot[ln] for ln in lanes], dtype=np.intp),
        transit=np.array([ln.transit_holding_cost for ln in lanes], dtype=np.float64),
        fixed=np.array([ln.fixed_cost for ln in lanes], dtype=np.float64),
        unit=np.array([ln.unit_cost for ln in lanes], dtype=np.float64),
        price=price if price.any() else None,
    )


def _reader(attributes: Sequence[str]) -> Callable[[Any], tuple[Any, ...]]:
    """A function returning the given attributes of an object as a tuple."""
    if len(attributes) == 1:
        get = attrgetter(attributes[0])
        return lambda obj: (get(obj),)
    return attrgetter(*attributes)  # type: ignore[return-value]


class Recorder:
    """Reads a network's counters into its ledger (and audit) at each period close."""

    def __init__(self, network: Network, periods: int, *, audit: bool = True) -> None:
        nodes, lanes = network.nodes, network.lanes
        flows = [node_flows(node, network) for node in nodes]
        on_lanes = [lane_flows(lane) for lane in lanes]
        layout = LedgerLayout.build(
            stock_points=[n.id for n in nodes],
            nodes=[n.location for n in nodes],
            skus=[n.sku for n in nodes],
            tiers=[n.tier for n in nodes],
            echelons=[n.echelon for n in nodes],
            node_flows=flows,
            lanes=[lane.id for lane in lanes],
            lane_flows=on_lanes,
            initial_on_hand=[n.on_hand for n in nodes],
            rates=cost_rates(network),
        )
        self.ledger = Ledger(layout, periods)
        self._readers: list[tuple[Callable[[Any], tuple[Any, ...]], Any]] = [
            (_reader([NODE_ATTRIBUTES[f] for f in names]), node)
            for names, node in zip(flows, nodes, strict=True)
            if names
        ] + [
            (_reader([LANE_ATTRIBUTES[f] for f in names]), lane)
            for names, lane in zip(on_lanes, lanes, strict=True)
        ]
        self.auditor: Auditor | None = None
        self._books: list[tuple[Callable[[Any], tuple[Any, ...]], Any]] = []
        if audit:
            index: dict[str, int] = {node.id: i for i, node in enumerate(nodes)}
            books_of_lanes = [lane_books(lane) for lane in lanes]
            books_of_nodes = [node_books(node, network) for node in nodes]
            self.auditor = Auditor(
                AuditLayout.build(
                    lanes=[lane.id for lane in lanes],
                    lane_origin=[-1 if ln.origin is None else index[ln.origin.id] for ln in lanes],
                    lane_destination=[index[ln.destination.id] for ln in lanes],
                    lane_books=books_of_lanes,
                    node_books=books_of_nodes,
                    released=[n.released for n in nodes],
                ),
                self.ledger,
            )
            self._books = [
                (_reader(books), lane) for books, lane in zip(books_of_lanes, lanes, strict=True)
            ] + [
                (_reader(books), node)
                for books, node in zip(books_of_nodes, nodes, strict=True)
                if books
            ]

    def close(self, t: int) -> None:
        """Record period ``t`` (the entities' counters now) and its books for the audit."""
        cells: list[Any] = []
        for read, entity in self._readers:
            cells += read(entity)
        self.ledger.record(t, cells)
        auditor = self.auditor
        if auditor is not None:
            books: list[Any] = []
            for read, entity in self._books:
                books += read(entity)
            auditor.record(t, books)

    def check(self) -> None:
        """Audit the periods recorded since the last check (the end of a run)."""
        if self.auditor is not None:
            self.auditor.check()
