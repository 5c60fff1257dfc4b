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
5. every quantity, cost and revenue >= 0; total_cost is the sum of its components;
   profit == revenue - total_cost (profit alone may be negative);
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
from reconciliation.ledger import (
    COST_COLUMNS,
    QUANTITY_START,
    SIGNED_COLUMNS,
    Cells,
    Ledger,
    LedgerRow,
    cells_of,
)

TOLERANCE = 1e-7
_CHECKED = (
    "opening_on_hand",
    "receipts",
    "shipped",
    "sold",
    "consumed",
    "demand",
    "backorders",
    "lost_in_transit",
    "closing_on_hand",
    "in_transit_inbound",
    "on_order",
    "ordered",
    *COST_COLUMNS,
    "revenue",
    "profit",
)
"""The ledger columns the vectorised checks read."""
_SIGNED = frozenset(LedgerRow._fields.index(name) for name in SIGNED_COLUMNS)
_NONNEGATIVE = tuple(i for i in range(QUANTITY_START, len(LedgerRow._fields)) if i not in _SIGNED)
"""Positions in a row of the columns that must be >= 0."""


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
        revenue,
        profit,
    ) = row
    tol = TOLERANCE * (1.0 + opening + receipts)
    if (
        abs(opening + receipts - shipped - sold - consumed - closing) > tol
        or min(float(row[i]) for i in _NONNEGATIVE) < -TOLERANCE * (1.0 + demand + opening)
        or abs(holding + transit + stockout + overflow + ordering - total) > TOLERANCE * (1.0 + total)
        or abs(revenue - total - profit) > TOLERANCE * (1.0 + revenue + total)
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
    name = min(_NONNEGATIVE, key=lambda i: float(row[i]))
    smallest = float(row[name])
    if smallest < 0:
        raise ReconciliationError(
            f"negative {LedgerRow._fields[name]} = {smallest:g} at {where}, period {row.period}"
        )
    parts = (
        row.holding_cost
        + row.transit_holding_cost
        + row.stockout_cost
        + row.overflow_cost
        + row.ordering_cost
    )
    if not _close(parts, row.total_cost):
        raise ReconciliationError(
            f"total_cost {row.total_cost:g} != sum of components {parts:g} at {where}, "
            f"period {row.period}"
        )
    raise ReconciliationError(
        f"profit {row.profit:g} != revenue {row.revenue:g} - total_cost {row.total_cost:g} at "
        f"{where}, period {row.period}"
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

        return cls(
            tuple(lanes),
            np.asarray(lane_origin, dtype=np.intp),
            np.asarray(lane_destination, dtype=np.intp),
            cells_of(lane_at, len(lanes)),
            cells_of(node_at, len(released)),
            np.asarray(released, dtype=np.float64),
            position,
        )


class _Grouping:
    """Sums of lane rows per stock point: ``sums(values)[i]`` = the sum of ``values[j]`` over the
    lanes ``j`` of ``entities`` with ``keys[j] == i`` (one reduction over lanes sorted by key)."""

    def __init__(self, keys: np.ndarray, entities: np.ndarray, size: int) -> None:
        order = np.argsort(keys, kind="stable")
        self.rows = entities[order]
        sorted_keys = keys[order]
        self.starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
        self.targets = sorted_keys[self.starts] if sorted_keys.size else sorted_keys
        self.size = size

    def sums(self, values: np.ndarray) -> np.ndarray:
        out = np.zeros((self.size, values.shape[1]))
        if self.rows.size:
            out[self.targets] = np.add.reduceat(values[self.rows], self.starts, axis=0)
        return out


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
        # Each check costs a fixed overhead of a few hundred NumPy calls, so blocks are long, but
        # not so long that the block's arrays (entities x periods) outgrow the CPU caches: about
        # 32,768 entity-periods, at most 1,024 periods (measured: benchmarks/RESULTS.md).
        entities = max(1, ledger.layout.size + len(layout.lanes))
        self.block = block if block is not None else max(1, min(1024, (1 << 15) // entities))
        self.values = np.zeros((self.block, max(1, layout.width)))
        self.start = 0
        """First period not yet checked."""
        self.gone = 0.0
        """Units sold, consumed by production or lost in transit before period :attr:`start`."""
        self._pack = struct.Struct(f"{layout.width}d").pack_into
        self._stride = 8 * max(1, layout.width)
        shipping = np.flatnonzero(layout.lane_origin >= 0)
        self._by_origin = _Grouping(layout.lane_origin[shipping], shipping, ledger.layout.size)
        lanes = np.arange(len(layout.lanes))
        self._by_destination = _Grouping(layout.lane_destination, lanes, ledger.layout.size)

    def record(self, t: int, books: Sequence[float]) -> None:
        """The books at the close of period ``t``; checks the block once it is full."""
        k = t - self.start
        self._pack(self.values.data, k * self._stride, *books)
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

    def _book(self, name: str, which: str, rows: int) -> np.ndarray | float:
        """Book ``name`` of every lane (or stock point) in the first ``rows`` recorded periods,
        entity-first (entities, periods); 0.0 where no entity records it (always 0)."""
        cells = (self.layout.lane_cells if which == "lane" else self.layout.node_cells)[name]
        if not cells.positions.size:
            return 0.0 if cells.count else np.zeros((0, rows))
        return cells.spread(np.ascontiguousarray(self.values[:rows, cells.positions].T))

    def _check(self, start: int, stop: int) -> None:
        # Entity-first arrays (entities, periods) throughout: each entity's periods lie together
        # and sums over entities run along whole rows (several times faster than period-first
        # arrays for small networks, whose rows are short: benchmarks/RESULTS.md).
        ledger = self.ledger
        recorded = {n for n, c in ledger.layout.node_cells.items() if c.positions.size}
        col = ledger.by_entity(_CHECKED, start, stop)
        p = stop - start

        def flows(*names: str) -> np.ndarray | float:
            """Sum of the named columns, leaving out those no stock point records (always 0)."""
            kept = [col[name] for name in names if name in recorded]
            if not kept:
                return 0.0
            total = kept[0]
            for more in kept[1:]:
                total = total + more
            return total

        # Identity 2: lanes.
        lane_in_transit = ledger.by_lane("in_transit", start, stop)
        books = {name: self._book(name, "lane", p) for name in LANE_BOOKS}
        o, s, w = books["cum_ordered"], books["cum_shipped"], books["owed"]
        tol = TOLERANCE * (1.0 + o + s)
        lane_gap = np.maximum(
            np.abs(o - s - w), np.abs(s - books["cum_received"] - lane_in_transit - books["cum_lost"])
        )
        bad = (lane_gap > tol).any(axis=0)

        # Identities 1 and 5: rows. A quantity not recorded at a stock point is 0, never below the
        # (negative) threshold, so the smallest quantity of a row is the smallest of its recorded
        # cells (one reduction over the record: each stock point's cells lie together), the
        # derived columns and the costs.
        opening, closing = col["opening_on_hand"], col["closing_on_hand"]
        inflow = opening + col["receipts"]
        outflow = flows("shipped", "sold", "consumed")
        bad |= (np.abs(inflow - outflow - closing) > TOLERANCE * (1.0 + inflow)).any(axis=0)
        smallest = np.minimum.reduceat(
            ledger.ledger_cells(start, stop, ledger.layout.node_width),
            ledger.layout.node_starts,
            axis=0,
        )
        for name in ("opening_on_hand", "in_transit_inbound", "ordered", *COST_COLUMNS, "revenue"):
            np.minimum(smallest, col[name], out=smallest)
        bad |= (smallest < -TOLERANCE * (1.0 + col["demand"] + opening)).any(axis=0)
        total = col["total_cost"]
        parts = (
            col["holding_cost"]
            + col["transit_holding_cost"]
            + col["stockout_cost"]
            + col["overflow_cost"]
            + col["ordering_cost"]
        )
        bad |= (np.abs(parts - total) > TOLERANCE * (1.0 + total)).any(axis=0)
        revenue = col["revenue"]
        bad |= (np.abs(revenue - total - col["profit"]) > TOLERANCE * (1.0 + revenue + total)).any(
            axis=0
        )

        # Identity 3: node books against lane books.
        customer = self._book("customer_backorders", "node", p)
        owed_downstream, owed_to_node = self._lane_sums(books)
        b, on_order, in_transit = col["backorders"], col["on_order"], col["in_transit_inbound"]
        bad |= (
            np.abs(b - customer - owed_downstream)
            > TOLERANCE * (1.0 + np.abs(b) + np.abs(owed_downstream))
        ).any(axis=0)
        bad |= (
            np.abs(on_order - owed_to_node - in_transit)
            > TOLERANCE * (1.0 + np.abs(on_order) + np.abs(in_transit))
        ).any(axis=0)

        # Identity 4: the network.
        released = self._released(p)
        left = flows("sold", "consumed", "lost_in_transit")
        gone = self.gone + (np.cumsum(left.sum(axis=0)) if isinstance(left, np.ndarray) else np.zeros(p))
        kept = gone + closing.sum(axis=0) + in_transit.sum(axis=0)
        bad |= np.abs(released - kept) > TOLERANCE * np.maximum(
            1.0, np.maximum(np.abs(released), np.abs(kept))
        )

        if bad.any():
            k = int(np.argmax(bad))
            self._explain(start + k, k, col, lane_in_transit, books, customer, released, gone)
        self.gone = float(gone[-1])

    def _lane_sums(self, books: Mapping[str, np.ndarray | float]) -> tuple[np.ndarray, np.ndarray]:
        """What each stock point's outbound lanes are owed and have seen, and what its ordering
        lanes owe it, per period (entity-first; sums over lanes as products with 0/1 matrices)."""
        owed = np.asarray(books["owed"])
        return self._by_origin.sums(owed - books["unseen"]), self._by_destination.sums(owed)

    def _released(self, rows: int) -> np.ndarray:
        """Units released into the network so far, per period (summed over stock points)."""
        constant = float(self.layout.released.sum())
        cells = self.layout.node_cells["released"]
        if not cells.positions.size:
            return np.full(rows, constant)
        recorded = self.values[:rows, cells.positions].sum(axis=1)
        return recorded + (constant - float(self.layout.released[cells.entities].sum()))

    def _explain(
        self,
        period: int,
        k: int,
        col: dict[str, np.ndarray],
        lane_in_transit: np.ndarray,
        books: dict[str, np.ndarray | float],
        customer: np.ndarray | float,
        released: np.ndarray,
        gone: np.ndarray,
    ) -> None:
        """Raise the error of the first failing identity of ``period`` (column ``k`` of the
        block's entity-first arrays), checking in the order of a period's close: lanes, then each
        node's row and books, then the network."""

        def at(values: np.ndarray | float, j: int) -> float:
            return float(values[j, k]) if isinstance(values, np.ndarray) else float(values)

        for j, lane in enumerate(self.layout.lanes):
            check_lane(
                period,
                lane,
                at(books["cum_ordered"], j),
                at(books["cum_shipped"], j),
                at(books["owed"], j),
                at(books["cum_received"], j),
                float(lane_in_transit[j, k]),
                at(books["cum_lost"], j),
            )
        owed_downstream, owed_to_node = self._lane_sums(
            {name: v[:, k : k + 1] if isinstance(v, np.ndarray) else v for name, v in books.items()}
        )
        for i, row in enumerate(self.ledger.rows(period, period + 1)):
            check_row(row)
            check_node_books(
                period,
                row.node,
                row.backorders,
                at(customer, i),
                float(owed_downstream[i, 0]),
                row.on_order,
                float(owed_to_node[i, 0]),
                row.in_transit_inbound,
            )
        check_network(
            period,
            float(released[k]),
            float(gone[k]),
            float(col["closing_on_hand"][:, k].sum()),
            float(col["in_transit_inbound"][:, k].sum()),
        )
        raise ReconciliationError(  # pragma: no cover - the vectorised and scalar checks agree
            f"period {period}: a ledger identity fails (the vectorised audit found it, the checks "
            "of single rows did not)"
        )
