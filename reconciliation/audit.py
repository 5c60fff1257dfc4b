"""Ledger identities, checked every period; a violation raises ReconciliationError with numbers.

The identities (DESIGN.md, Reconciliation ledger; README, "Ledger identities"):

1. node stock flow: ``opening_on_hand + receipts - shipped - sold - consumed == closing_on_hand``;
2. lane: ``ordered == shipped + owed`` and ``shipped == received + in_transit + lost``
   (cumulative);
3. node books vs lane books: a node's backorders == its customer backorders + what its outbound
   lanes are owed and it has seen (orders still in order processing are not yet its backorders),
   and its on-order == what its ordering lanes owe it plus their units in transit;
4. network: units released (initial stock + production) == sold + consumed by production +
   lost in transit + on hand + in transit;
5. every quantity and cost >= 0; total_cost is the sum of its components;
6. (after the run, on tables) tier totals sum to the network total.

Quantities are floats (continuous demand is allowed), so equality is up to ``TOLERANCE`` relative
to the magnitudes involved.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from entities.errors import ReconciliationError
from reconciliation.ledger import QUANTITY_START, LedgerRow

TOLERANCE = 1e-7


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= TOLERANCE * max(1.0, abs(a), abs(b))


# The checks below run for every node and lane in every period, so each has a fast path (plain
# float arithmetic, one comparison against a tolerance scaled by the largest quantity involved)
# and leaves the message building to a separate function that runs only on failure.


def check_row(row: LedgerRow) -> None:
    """Identities 1 and 5 on one node's row."""
    (
        _,
        _,
        _,
        _,
        _,
        opening,
        receipts,
        _,
        shipped,
        sold,
        consumed,
        demand,
        _,
        _,
        _,
        _,
        _,
        closing,
        _,
        _,
        _,
        holding,
        transit,
        stockout,
        overflow,
        ordering,
        total,
    ) = row
    tol = TOLERANCE * (1.0 + opening + receipts)
    if (
        abs(opening + receipts - shipped - sold - consumed - closing) > tol
        or min(row[QUANTITY_START:]) < -TOLERANCE * (1.0 + demand + opening)
        or abs(holding + transit + stockout + overflow + ordering - total) > TOLERANCE * (1.0 + total)
    ):
        _row_failure(row)


def _row_failure(row: LedgerRow) -> None:
    where = f"node {row.node!r}" + (f", sku {row.sku!r}" if row.sku != "default" else "")
    lhs = row.opening_on_hand + row.receipts - row.shipped - row.sold - row.consumed
    if not _close(lhs, row.closing_on_hand):
        raise ReconciliationError(
            f"stock flow broken at {where}, period {row.period}: opening_on_hand "
            f"{row.opening_on_hand:g} + receipts {row.receipts:g} - shipped {row.shipped:g} - sold "
            f"{row.sold:g} - consumed {row.consumed:g} = {lhs:g} != closing_on_hand "
            f"{row.closing_on_hand:g}"
        )
    name = min(range(QUANTITY_START, len(row)), key=lambda i: row[i])
    if row[name] < 0:
        raise ReconciliationError(
            f"negative {LedgerRow._fields[name]} = {row[name]:g} at {where}, period {row.period}"
        )
    parts = (
        row.holding_cost
        + row.transit_holding_cost
        + row.stockout_cost
        + row.overflow_cost
        + row.ordering_cost
    )
    raise ReconciliationError(
        f"total_cost {row.total_cost:g} != sum of components {parts:g} at {where}, period {row.period}"
    )


def check_lane(
    period: int,
    lane: str,
    ordered: float,
    shipped: float,
    owed: float,
    received: float,
    in_transit: float,
    lost: float = 0.0,
) -> None:
    """Identity 2, on cumulative counts of one lane."""
    tol = TOLERANCE * (1.0 + ordered + shipped)
    if abs(ordered - shipped - owed) <= tol and abs(shipped - received - in_transit - lost) <= tol:
        return
    if not _close(ordered, shipped + owed):
        raise ReconciliationError(
            f"lane {lane!r}, period {period}: ordered {ordered:g} != shipped {shipped:g} + owed {owed:g}"
        )
    raise ReconciliationError(
        f"lane {lane!r}, period {period}: shipped {shipped:g} != received {received:g} + "
        f"in transit {in_transit:g} + lost {lost:g}"
    )


def check_node_books(
    period: int,
    node: str,
    backorders: float,
    customer_backorders: float,
    owed_downstream: float,
    on_order: float,
    owed_to_node: float,
    in_transit: float,
) -> None:
    """Identity 3: the node's own counters agree with its lanes' counters."""
    if abs(backorders - customer_backorders - owed_downstream) <= TOLERANCE * (
        1.0 + abs(backorders) + abs(owed_downstream)
    ) and abs(on_order - owed_to_node - in_transit) <= TOLERANCE * (
        1.0 + abs(on_order) + abs(in_transit)
    ):
        return
    if not _close(backorders, customer_backorders + owed_downstream):
        raise ReconciliationError(
            f"node {node!r}, period {period}: backorders {backorders:g} != customer backorders "
            f"{customer_backorders:g} + owed to downstream lanes {owed_downstream:g}"
        )
    raise ReconciliationError(
        f"node {node!r}, period {period}: on_order {on_order:g} != owed by upstream "
        f"{owed_to_node:g} + in transit {in_transit:g}"
    )


def check_network(period: int, released: float, gone: float, on_hand: float, in_transit: float) -> None:
    """Identity 4: units are neither created nor destroyed inside the network.

    ``gone`` is what left the network so far: sold, consumed by production, lost in transit.
    """
    if not _close(released, gone + on_hand + in_transit):
        raise ReconciliationError(
            f"network, period {period}: units released {released:g} != sold, consumed or lost "
            f"{gone:g} + on hand {on_hand:g} + in transit {in_transit:g} (difference "
            f"{released - gone - on_hand - in_transit:g})"
        )


def check_period(
    period: int, rows: Sequence[LedgerRow], nodes: Sequence[Any], lanes: Sequence[Any], gone: float
) -> None:
    """Identities 1-5 for one period, as the twin's period close runs them.

    ``rows[i]`` is the row of ``nodes[i]``; ``nodes`` and ``lanes`` are the twin's entities, read
    for their counters only (``backorders``, ``customer_backorders``, ``on_order``, ``released``,
    ``inbound``/``outbound`` lanes; a lane's ``owed``, ``in_transit`` and cumulative
    ``cum_ordered``, ``cum_shipped``, ``cum_received``, ``cum_lost``, ``unseen``). ``gone`` is the
    cumulative units sold, consumed by production and lost in transit.
    One call per period (rather than one per node and lane) keeps the audit cheap enough to leave on.
    """
    for lane in lanes:
        check_lane(
            period,
            lane.id,
            lane.cum_ordered,
            lane.cum_shipped,
            lane.owed,
            lane.cum_received,
            lane.in_transit,
            lane.cum_lost,
        )
    released = on_hand = in_transit = 0.0
    for row, node in zip(rows, nodes, strict=True):
        check_row(row)
        owed_downstream = 0.0
        for lane in node.outbound:
            owed_downstream += lane.owed - lane.unseen
        owed_to_node = 0.0
        for lane in node.inbound:
            owed_to_node += lane.owed
        check_node_books(
            period,
            row.node,
            row.backorders,
            node.customer_backorders,
            owed_downstream,
            row.on_order,
            owed_to_node,
            row.in_transit_inbound,
        )
        released += node.released
        on_hand += row.closing_on_hand
        in_transit += row.in_transit_inbound
    check_network(period, released, gone, on_hand, in_transit)


def check_totals(
    period: int, parts: Iterable[tuple[str, float]], total: float, what: str = "total_cost"
) -> None:
    """Identity 6: named parts (tiers) sum to the network total."""
    items = list(parts)
    s = sum(v for _, v in items)
    if not _close(s, total):
        detail = ", ".join(f"{k}={v:g}" for k, v in items)
        raise ReconciliationError(
            f"period {period}: tier {what} sum {s:g} ({detail}) != network {what} {total:g}"
        )
