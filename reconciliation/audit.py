"""Ledger identities, checked for every period; a violation raises ReconciliationError with numbers.

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

:class:`Auditor` checks identities 1-5 over the ledger's columns (:class:`~reconciliation.ledger.
Ledger`) and the lanes' and nodes' own books (cumulative lane counters, customer backorders, units
released), which the twin records with each period's flows (:class:`AuditLayout` says where). The
checks run vectorised over a block of periods at a time (every ``block`` periods, and at the end of
the run); when some identity fails, the first failing period is checked again identity by
identity, in the order of the scalar checks below, so the error names the lane or node, the period
and the numbers, as a check made at that period's close would.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from entities.errors import ReconciliationError
from reconciliation.ledger import QUANTITY_COLUMNS, QUANTITY_START, Cells, Ledger, LedgerRow

TOLERANCE = 1e-7


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= TOLERANCE * max(1.0, abs(a), abs(b))


# -- scalar checks: one row, one lane, one node, one period ------------------------------------------


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


# -- the books the twin records for the audit ---------------------------------------------------------

LANE_BOOKS: tuple[str, ...] = (
    "cum_ordered",
    "cum_shipped",
    "owed",
    "cum_received",
    "cum_lost",
    "unseen",
)
"""Per lane, cumulative since the start (``owed``: now; ``unseen``: ordered, not yet seen by the
origin): what identity 2 and 3 compare with the ledger."""
NODE_BOOKS: tuple[str, ...] = ("customer_backorders", "released")
"""Per stock point: units owed to customers; units brought into the network (initial stock,
stock in transit at the start, production), cumulative."""


@dataclass(frozen=True, eq=False)
class AuditLayout:
    """Where a period's audit record holds each lane's and node's books, and the network's shape."""

    lanes: tuple[str, ...]
    lane_origin: np.ndarray
    """(L,) stock point shipping on each lane (-1 for a production line)."""
    lane_destination: np.ndarray
    lane_cells: Mapping[str, Cells]
    node_cells: Mapping[str, Cells]
    released: np.ndarray
    """(n,) units released by each stock point at the start (its books where not recorded)."""
    width: int

    @classmethod
    def build(
        cls,
        *,
        lanes: Sequence[str],
        lane_origin: Sequence[int],
        lane_destination: Sequence[int],
        lane_books: Sequence[Sequence[str]],
        node_books: Sequence[Sequence[str]],
        released: Sequence[float],
    ) -> AuditLayout:
        """A record lists, for each lane in turn, its ``lane_books[j]`` (names of
        :data:`LANE_BOOKS`; ``cum_lost`` and ``unseen`` may be left out where always 0), then for
        each stock point its ``node_books[i]`` (:data:`NODE_BOOKS`, where they change)."""
        lane_at: dict[str, tuple[list[int], list[int]]] = {name: ([], []) for name in LANE_BOOKS}
        node_at: dict[str, tuple[list[int], list[int]]] = {name: ([], []) for name in NODE_BOOKS}
        position = 0
        for where, books in ((lane_at, lane_books), (node_at, node_books)):
            for entity, names in enumerate(books):
                for name in names:
                    if name not in where:
                        raise ValueError(f"{name!r} is not an audited book; known: {list(where)}")
                    where[name][0].append(position)
                    where[name][1].append(entity)
                    position += 1
        for name in ("cum_ordered", "cum_shipped", "owed", "cum_received"):
            if len(lane_at[name][1]) != len(lanes):
                raise ValueError(f"every lane must record {name!r}")

        def cells(at: dict[str, tuple[list[int], list[int]]]) -> dict[str, Cells]:
            return {
                name: Cells(np.asarray(p, dtype=np.intp), np.asarray(e, dtype=np.intp))
                for name, (p, e) in at.items()
            }

        return cls(
            tuple(lanes),
            np.asarray(lane_origin, dtype=np.intp),
            np.asarray(lane_destination, dtype=np.intp),
            cells(lane_at),
            cells(node_at),
            np.asarray(released, dtype=np.float64),
            position,
        )


class Auditor:
    """Checks identities 1-5 of a ledger, a block of periods at a time (module docstring).

    The twin calls :meth:`record` at each period's close, after recording the period in the
    ledger, with the period's books in :class:`AuditLayout` order; every ``block`` periods, and
    when :meth:`check` is called (the end of a run), the periods recorded since the last check are
    checked.
    """

    def __init__(self, layout: AuditLayout, ledger: Ledger, block: int | None = None) -> None:
        self.layout = layout
        self.ledger = ledger
        cells = max(1, layout.width + ledger.layout.size)
        self.block = block if block is not None else max(1, min(256, (1 << 15) // cells))
        self.values = np.zeros((self.block, max(1, layout.width)))
        self.start = 0
        """First period not yet checked."""
        self.gone = 0.0
        """Units sold, consumed by production or lost in transit before period :attr:`start`."""
        self._pack = struct.Struct(f"{layout.width}d").pack_into
        self._stride = 8 * max(1, layout.width)

    def record(self, t: int, books: Sequence[float]) -> None:
        """The books at the close of period ``t``; checks the block once it is full."""
        k = t - self.start
        self._pack(self.values, k * self._stride, *books)
        if k + 1 == self.block:
            self.check()

    def check(self) -> None:
        """Check the periods recorded since the last check (raise ReconciliationError)."""
        start, stop = self.start, self.ledger.closed
        if stop <= start:
            return
        self._check(start, stop)
        self.start = stop

    # -- the vectorised checks -------------------------------------------------------------------

    def _book(self, name: str, which: str, stop: int, width: int) -> np.ndarray:
        cells = (self.layout.lane_cells if which == "lane" else self.layout.node_cells)[name]
        out = np.zeros((stop, width))
        if cells.positions.size:
            out[:, cells.entities] = self.values[:stop, cells.positions]
        return out

    def _check(self, start: int, stop: int) -> None:
        layout, ledger = self.layout, self.ledger
        p, n, lanes = stop - start, ledger.layout.size, len(layout.lanes)
        col = ledger.columns(QUANTITY_COLUMNS, start, stop)
        lane_in_transit = ledger.lane_flow("in_transit", start, stop)
        books = {name: self._book(name, "lane", p, lanes) for name in LANE_BOOKS}
        bad = np.zeros(p, dtype=bool)

        # Identity 2: lanes.
        o, s, w = books["cum_ordered"], books["cum_shipped"], books["owed"]
        r, lost = books["cum_received"], books["cum_lost"]
        tol = TOLERANCE * (1.0 + o + s)
        bad |= ((np.abs(o - s - w) > tol) | (np.abs(s - r - lane_in_transit - lost) > tol)).any(axis=1)

        # Identities 1 and 5: rows.
        opening, receipts, demand = col["opening_on_hand"], col["receipts"], col["demand"]
        flow = (
            opening + receipts - col["shipped"] - col["sold"] - col["consumed"] - col["closing_on_hand"]
        )
        bad |= (np.abs(flow) > TOLERANCE * (1.0 + opening + receipts)).any(axis=1)
        smallest = np.min(np.stack([col[name] for name in QUANTITY_COLUMNS]), axis=0)
        bad |= (smallest < -TOLERANCE * (1.0 + demand + opening)).any(axis=1)
        parts = (
            col["holding_cost"]
            + col["transit_holding_cost"]
            + col["stockout_cost"]
            + col["overflow_cost"]
            + col["ordering_cost"]
        )
        total = col["total_cost"]
        bad |= (np.abs(parts - total) > TOLERANCE * (1.0 + total)).any(axis=1)

        # Identity 3: node books against lane books.
        customer = self._book("customer_backorders", "node", p, n)
        owed_downstream, owed_to_node = self._lane_sums(books)
        b, on_order, in_transit = col["backorders"], col["on_order"], col["in_transit_inbound"]
        bad |= (
            (
                np.abs(b - customer - owed_downstream)
                > TOLERANCE * (1.0 + np.abs(b) + np.abs(owed_downstream))
            )
            | (
                np.abs(on_order - owed_to_node - in_transit)
                > TOLERANCE * (1.0 + np.abs(on_order) + np.abs(in_transit))
            )
        ).any(axis=1)

        # Identity 4: the network.
        released = self._released(p, n).sum(axis=1)
        gone = self.gone + np.cumsum(
            (col["sold"] + col["consumed"] + col["lost_in_transit"]).sum(axis=1)
        )
        on_hand, in_network = col["closing_on_hand"].sum(axis=1), in_transit.sum(axis=1)
        kept = gone + on_hand + in_network
        bad |= np.abs(released - kept) > TOLERANCE * np.maximum(
            1.0, np.maximum(np.abs(released), np.abs(kept))
        )

        if bad.any():
            k = int(np.argmax(bad))
            self._explain(start + k, k, col, lane_in_transit, books, customer, released, gone)
        self.gone = float(gone[-1])

    def _lane_sums(self, books: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """What each stock point's outbound lanes are owed and have seen, and what its ordering
        lanes owe it, per period."""
        layout = self.layout
        p, n = books["owed"].shape[0], self.ledger.layout.size
        owed_downstream, owed_to_node = np.zeros((p, n)), np.zeros((p, n))
        shipping = np.flatnonzero(layout.lane_origin >= 0)
        np.add.at(
            owed_downstream.T,
            layout.lane_origin[shipping],
            (books["owed"][:, shipping] - books["unseen"][:, shipping]).T,
        )
        np.add.at(owed_to_node.T, layout.lane_destination, books["owed"].T)
        return owed_downstream, owed_to_node

    def _released(self, p: int, n: int) -> np.ndarray:
        released = np.broadcast_to(self.layout.released, (p, n)).copy()
        cells = self.layout.node_cells["released"]
        if cells.positions.size:
            released[:, cells.entities] = self.values[:p, cells.positions]
        return released

    def _explain(
        self,
        period: int,
        k: int,
        col: dict[str, np.ndarray],
        lane_in_transit: np.ndarray,
        books: dict[str, np.ndarray],
        customer: np.ndarray,
        released: np.ndarray,
        gone: np.ndarray,
    ) -> None:
        """Raise the error of the first failing identity of ``period`` (row ``k`` of the block),
        checking in the order of a period's close: lanes, then each node's row and books, then
        the network."""
        layout = self.layout
        for j, lane in enumerate(layout.lanes):
            check_lane(
                period,
                lane,
                float(books["cum_ordered"][k, j]),
                float(books["cum_shipped"][k, j]),
                float(books["owed"][k, j]),
                float(books["cum_received"][k, j]),
                float(lane_in_transit[k, j]),
                float(books["cum_lost"][k, j]),
            )
        owed_downstream, owed_to_node = self._lane_sums(
            {name: v[k : k + 1] for name, v in books.items()}
        )
        rows = self.ledger.rows(period, period + 1)
        for i, row in enumerate(rows):
            check_row(row)
            check_node_books(
                period,
                row.node,
                row.backorders,
                float(customer[k, i]),
                float(owed_downstream[0, i]),
                row.on_order,
                float(owed_to_node[0, i]),
                row.in_transit_inbound,
            )
        check_network(
            period,
            float(released[k]),
            float(gone[k]),
            float(col["closing_on_hand"][k].sum()),
            float(col["in_transit_inbound"][k].sum()),
        )
        raise ReconciliationError(  # pragma: no cover - the vectorised and scalar checks agree
            f"period {period}: a ledger identity fails (the vectorised audit found it, the checks "
            "of single rows did not)"
        )
