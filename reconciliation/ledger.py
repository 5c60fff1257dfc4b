"""The reconciliation ledger: one row per (period, node, SKU), held as columns.

A row (:class:`LedgerRow`) is the ledger of one stock point in one period. Stock flow of a node
within a period (checked by :mod:`reconciliation.audit`)::

    opening_on_hand + receipts - shipped - sold - consumed == closing_on_hand

``receipts`` includes units produced at a make-to-order source; ``shipped`` goes to downstream
nodes, ``sold`` to external customers, ``consumed`` into production (a factory's bill of
materials). Units lost in transit on the way to a node never reach its stock; they are booked on
its row as ``lost_in_transit``; units a full node refuses (``overflow: refuse``) are not received,
stay in transit and are booked as ``refused``. Costs (all >= 0), ``revenue`` (units sold to
customers at the node's price, >= 0) and ``profit`` (``revenue - total_cost``, of either sign) are
computed from the flows by :mod:`reconciliation.costs`. A single-product scenario has one SKU,
``default``.

:class:`Ledger` holds the ledger of one replication as columns. The twin records the flows of each
period into one preallocated array (periods x recorded cells); :class:`LedgerLayout` says which
cell holds which flow of which stock point or lane. Only what can happen at a stock point is
recorded for it (a store without downstream lanes ships nothing; only sources produce), and what
can be derived is not recorded at all: ``opening_on_hand`` is the last period's
``closing_on_hand``; ``in_transit_inbound`` and ``ordered`` are sums over the node's ordering
lanes of the units in transit and ordered on each (lanes are recorded because their costs differ);
costs, revenue and profit come from flows, cost parameters and prices. :meth:`Ledger.column`
gives any column of :data:`LEDGER_COLUMNS` as an array (periods x stock points),
:meth:`Ledger.period` one closed period (what agents are handed after each close),
:meth:`Ledger.rows` the rows as records, and :meth:`Ledger.record_batches` Arrow record batches
for writing.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, NamedTuple, overload

import numpy as np

from reconciliation import costs
from reconciliation.costs import COST_NAMES, MONEY_NAMES, REVENUE_NAMES, CostRates


class LedgerRow(NamedTuple):
    """The ledger of one node in one period (units; costs in money per period)."""

    period: int
    node: str
    sku: str
    """The product (``default`` in a single-product scenario)."""
    tier: str
    echelon: int
    """1 for customer-facing nodes, 1 + the largest echelon downstream otherwise."""
    opening_on_hand: float
    receipts: float
    """Units received (shipments arrived, or produced by a make-to-order source)."""
    produced: float
    """Units produced by a source (released into the network)."""
    shipped: float
    """Units sent to downstream nodes."""
    sold: float
    """Units delivered to external customers (new demand or backorders)."""
    consumed: float
    """Units used up as inputs of production (a factory's bill of materials)."""
    demand: float
    """Customer demand plus orders received from downstream nodes this period."""
    filled_on_time: float
    """Units of this period's demand filled within the period."""
    backorders: float
    """Closing units owed, to customers and to downstream nodes."""
    lost_sales: float
    """Customer demand not backlogged (lost at once, or customers who gave up waiting)."""
    lost_in_transit: float
    """Units of shipments to this node lost on the way this period (shipment loss)."""
    refused: float
    """Units due at this node this period that it refused for lack of storage (``overflow:
    refuse``); they stay in transit and come again the next period."""
    closing_on_hand: float
    in_transit_inbound: float
    on_order: float
    """Units ordered by this node and not yet received (in transit or owed upstream)."""
    ordered: float
    holding_cost: float
    transit_holding_cost: float
    stockout_cost: float
    overflow_cost: float
    ordering_cost: float
    total_cost: float
    revenue: float
    """Units sold to external customers times the node's unit price (transfers earn nothing)."""
    profit: float
    """``revenue - total_cost``: negative where costs exceed revenue (every node without sales)."""


LEDGER_COLUMNS: tuple[str, ...] = LedgerRow._fields
KEY_COLUMNS: tuple[str, ...] = ("period", "node", "sku", "tier", "echelon")
"""The columns that identify a row; every other column is a quantity or a cost."""
QUANTITY_START = len(KEY_COLUMNS)
QUANTITY_COLUMNS: tuple[str, ...] = LEDGER_COLUMNS[QUANTITY_START:]
"""The quantity and cost columns, in ledger order."""
COST_COLUMNS: tuple[str, ...] = COST_NAMES
REVENUE_COLUMNS: tuple[str, ...] = REVENUE_NAMES
"""``revenue`` and ``profit``, the last columns."""
SIGNED_COLUMNS: tuple[str, ...] = ("profit",)
"""Columns that may be negative; every other quantity, cost and revenue is >= 0."""
NONNEGATIVE_COLUMNS: tuple[str, ...] = tuple(c for c in QUANTITY_COLUMNS if c not in SIGNED_COLUMNS)

NODE_FLOWS: tuple[str, ...] = (
    "receipts",
    "produced",
    "shipped",
    "sold",
    "consumed",
    "demand",
    "filled_on_time",
    "backorders",
    "lost_sales",
    "lost_in_transit",
    "refused",
    "closing_on_hand",
    "on_order",
)
"""Ledger columns recorded per stock point (where they can be other than 0)."""
LANE_FLOWS: tuple[str, ...] = ("ordered", "orders", "in_transit")
"""Recorded per lane: units ordered and orders placed in the period, units in transit at the close."""


@dataclass(frozen=True, eq=False)
class Cells:
    """Where one recorded series lies in a period's record: ``positions[i]`` holds the value of
    entity (stock point or lane) ``entities[i]``."""

    positions: np.ndarray
    entities: np.ndarray
    count: int = 0
    """Entities of this kind (stock points or lanes) in the network."""

    @cached_property
    def dense(self) -> bool:
        """Every entity is recorded, in order."""
        return self.entities.size == self.count and bool(
            np.array_equal(self.entities, np.arange(self.count))
        )

    def spread(self, values: np.ndarray) -> np.ndarray:
        """Recorded ``values`` (cells, periods) as (entities, periods), 0 where not recorded."""
        if self.dense:
            return values
        out = np.zeros((self.count, values.shape[1]))
        if self.positions.size:
            out[self.entities] = values
        return out


def cells_of(at: Mapping[str, tuple[list[int], list[int]]], count: int) -> dict[str, Cells]:
    """Cells per series name from ``(positions, entities)`` lists."""
    return {
        name: Cells(np.asarray(p, dtype=np.intp), np.asarray(e, dtype=np.intp), count)
        for name, (p, e) in at.items()
    }


@dataclass(frozen=True, eq=False)
class LedgerLayout:
    """What a replication's ledger records, where, and the metadata of its stock points and lanes."""

    stock_points: tuple[str, ...]
    """Stock point ids: the node id, or ``node/sku`` in a multi-SKU scenario."""
    nodes: tuple[str, ...]
    """The ledger's ``node`` (the location) of each stock point."""
    skus: tuple[str, ...]
    tiers: tuple[str, ...]
    echelons: tuple[int, ...]
    lanes: tuple[str, ...]
    node_cells: Mapping[str, Cells]
    lane_cells: Mapping[str, Cells]
    width: int
    """Cells recorded per period."""
    node_width: int
    """The first ``node_width`` cells of a record are the stock points', each one's together."""
    node_starts: np.ndarray
    """(n,) the position of each stock point's first cell."""
    initial_on_hand: np.ndarray
    """(n,) on-hand stock when the run starts (the opening stock of period 0)."""
    rates: CostRates

    @classmethod
    def build(
        cls,
        *,
        stock_points: Sequence[str],
        nodes: Sequence[str],
        skus: Sequence[str],
        tiers: Sequence[str],
        echelons: Sequence[int],
        node_flows: Sequence[Sequence[str]],
        lanes: Sequence[str],
        lane_flows: Sequence[Sequence[str]],
        initial_on_hand: Sequence[float],
        rates: CostRates,
    ) -> LedgerLayout:
        """The layout in which a period's record lists, for each stock point in turn, its
        ``node_flows[i]`` (names of :data:`NODE_FLOWS`), then for each lane its ``lane_flows[j]``
        (names of :data:`LANE_FLOWS`)."""
        node_at: dict[str, tuple[list[int], list[int]]] = {name: ([], []) for name in NODE_FLOWS}
        lane_at: dict[str, tuple[list[int], list[int]]] = {name: ([], []) for name in LANE_FLOWS}
        position = 0
        for where, flows in ((node_at, node_flows), (lane_at, lane_flows)):
            for entity, names in enumerate(flows):
                for name in names:
                    if name not in where:
                        raise ValueError(f"{name!r} is not a recorded ledger flow; known: {list(where)}")
                    where[name][0].append(position)
                    where[name][1].append(entity)
                    position += 1

        if any(not names for names in node_flows):
            raise ValueError("every stock point must record at least one flow")
        node_width = sum(len(names) for names in node_flows)
        return cls(
            tuple(stock_points),
            tuple(nodes),
            tuple(skus),
            tuple(tiers),
            tuple(int(e) for e in echelons),
            tuple(lanes),
            cells_of(node_at, len(stock_points)),
            cells_of(lane_at, len(lanes)),
            position,
            node_width,
            np.asarray([0, *np.cumsum([len(names) for names in node_flows])[:-1]], dtype=np.intp),
            np.asarray(initial_on_hand, dtype=np.float64),
            rates,
        )

    @property
    def size(self) -> int:
        """Stock points (rows per period)."""
        return len(self.stock_points)

    @cached_property
    def _rows_of(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for i, node in enumerate(self.nodes):
            out.setdefault(node, []).append(i)
        return out

    def positions(self, node: str) -> list[int]:
        """Positions of ``node``'s rows in a period (one per SKU; none for an unknown node)."""
        return list(self._rows_of.get(node, ()))


class Ledger:
    """The ledger of one replication, as columns (see the module docstring)."""

    def __init__(self, layout: LedgerLayout, periods: int) -> None:
        self.layout = layout
        self.values = np.zeros((periods, layout.width))
        """The recorded cells, one row per period (only the first :attr:`closed` are written)."""
        self.closed = 0
        """Periods recorded so far (periods ``0 .. closed - 1`` are closed)."""
        self._pack = struct.Struct(f"{layout.width}d").pack_into
        self._stride = 8 * layout.width
        # After finish(): the cells that are float32 numbers in every period, kept as float32.
        self._narrow: np.ndarray | None = None
        self._is_narrow = np.zeros(layout.width, dtype=bool)
        self._index = np.arange(layout.width)

    def record(self, t: int, cells: Sequence[float]) -> None:
        """The cells of period ``t``, in layout order (the twin's period close)."""
        if t != self.closed or self._narrow is not None:
            raise ValueError(
                f"period {t} recorded out of turn: next is period {self.closed}"
                if self._narrow is None
                else "the ledger is finished: no period can be recorded any more"
            )
        # struct writes the floats straight into the array's buffer: about twice as fast as
        # assigning a list to a NumPy row (measured in benchmarks/bench_twin.py).
        self._pack(self.values.data, t * self._stride, *cells)
        self.closed = t + 1

    def finish(self, columns: int = 1024, smallest: int = 1 << 24) -> None:
        """The run is over: hold every recorded series whose values are all float32 numbers (whole
        units, for one) as float32, the others as float64. Halves the memory of an integer-valued
        ledger; every value reads back as the same float64 number. ``columns``: cells converted at
        a time (bounds the memory the conversion takes); a ledger of less than ``smallest`` bytes
        is left as it is (not worth the time)."""
        if self._narrow is not None or self.values[: self.closed].nbytes < smallest:
            return
        values = self.values[: self.closed]
        exact = np.zeros(values.shape[1], dtype=bool)
        for a in range(0, values.shape[1], columns):
            part = values[:, a : a + columns]
            exact[a : a + columns] = (part.astype(np.float32) == part).all(axis=0)
        narrow = np.empty((values.shape[0], int(exact.sum())), dtype=np.float32)
        wide = np.empty((values.shape[0], int((~exact).sum())))
        index = np.empty(values.shape[1], dtype=np.intp)
        index[exact] = np.arange(narrow.shape[1])
        index[~exact] = np.arange(wide.shape[1])
        for a in range(0, values.shape[1], columns):
            part, keep = values[:, a : a + columns], exact[a : a + columns]
            idx = index[a : a + columns]
            narrow[:, idx[keep]] = part[:, keep]
            wide[:, idx[~keep]] = part[:, ~keep]
        self.values, self._narrow, self._is_narrow, self._index = wide, narrow, exact, index

    def ledger_cells(self, start: int, stop: int, count: int) -> np.ndarray:
        """The first ``count`` recorded cells of periods ``start .. stop - 1``: (cells, periods)."""
        return self._read(start, stop, np.arange(count))

    def _read(self, start: int, stop: int, positions: np.ndarray) -> np.ndarray:
        """Recorded cells ``positions`` of periods ``start .. stop - 1`` as float64, cell-first:
        (cells, periods), each cell's periods contiguous."""
        if self._narrow is None:
            return np.ascontiguousarray(self.values[start:stop, positions].T)
        out = np.empty((positions.size, stop - start))
        narrow, index = self._is_narrow[positions], self._index[positions]
        out[narrow] = self._narrow[start:stop, index[narrow]].T
        out[~narrow] = self.values[start:stop, index[~narrow]].T
        return out

    @property
    def periods(self) -> int:
        """Periods closed (rows per stock point)."""
        return self.closed

    @property
    def rows_count(self) -> int:
        return self.closed * self.layout.size

    @property
    def nbytes(self) -> int:
        """Bytes held (the recorded cells of every period of the horizon)."""
        return int(self.values.nbytes) + (0 if self._narrow is None else int(self._narrow.nbytes))

    # -- columns ------------------------------------------------------------------------------
    #
    # The public methods give (periods, entities) arrays, as a table reads; they are transposed
    # views of the entity-first arrays the computations use (:meth:`by_entity`), where each
    # entity's periods are contiguous and sums over entities are fast.

    def _span(self, start: int, stop: int | None) -> tuple[int, int]:
        stop = self.closed if stop is None else stop
        if not 0 <= start <= stop <= self.closed:
            raise IndexError(f"periods {start}..{stop} outside the closed periods 0..{self.closed}")
        return start, stop

    def node_flow(self, name: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        """A recorded stock-point flow (:data:`NODE_FLOWS`): (periods, stock points), 0 where not
        recorded."""
        return self._flow(self.layout.node_cells[name], *self._span(start, stop)).T

    def lane_flow(self, name: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        """A recorded lane flow (:data:`LANE_FLOWS`): (periods, lanes), 0 where not recorded."""
        return self._flow(self.layout.lane_cells[name], *self._span(start, stop)).T

    def _flow(self, cells: Cells, start: int, stop: int) -> np.ndarray:
        if not cells.positions.size:
            return np.zeros((cells.count, stop - start))
        return cells.spread(self._read(start, stop, cells.positions))

    def column(self, name: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Column ``name`` of :data:`LEDGER_COLUMNS` (a quantity or a cost) for periods
        ``start .. stop - 1``: an array (periods, stock points)."""
        return self.by_entity((name,), start, stop)[name].T

    def columns(
        self, names: Sequence[str] = QUANTITY_COLUMNS, start: int = 0, stop: int | None = None
    ) -> dict[str, np.ndarray]:
        """Several columns at once (costs, revenue and profit computed once for all of them):
        (periods, stock points) arrays."""
        return {name: v.T for name, v in self.by_entity(names, start, stop).items()}

    def by_entity(
        self, names: Sequence[str] = QUANTITY_COLUMNS, start: int = 0, stop: int | None = None
    ) -> dict[str, np.ndarray]:
        """Columns ``names`` for periods ``start .. stop - 1``, stock-point-first: (stock points,
        periods) arrays (for vectorised work over periods)."""
        start, stop = self._span(start, stop)
        read: dict[str, np.ndarray] = {}  # each recorded series read once per call

        def node(name: str) -> np.ndarray:
            if name not in read:
                read[name] = self._flow(self.layout.node_cells[name], start, stop)
            return read[name]

        def lane(name: str) -> np.ndarray:
            key = f"lane:{name}"
            if key not in read:
                read[key] = self._flow(self.layout.lane_cells[name], start, stop)
            return read[key]

        out: dict[str, np.ndarray] = {}
        for name in names:
            if name in MONEY_NAMES:
                if name not in out:
                    out.update(
                        costs.money_columns(
                            sold=node("sold"),
                            closing_on_hand=node("closing_on_hand"),
                            backorders=node("backorders"),
                            lost_sales=node("lost_sales"),
                            lane_in_transit=lane("in_transit"),
                            lane_orders=lane("orders"),
                            lane_ordered=lane("ordered"),
                            rates=self.layout.rates,
                        )
                    )
            elif name in NODE_FLOWS:
                out[name] = node(name)
            elif name == "opening_on_hand":
                out[name] = self._opening(start, stop)
            elif name in ("in_transit_inbound", "ordered"):
                flow = "in_transit" if name == "in_transit_inbound" else "ordered"
                out[name] = costs.by_destination(lane(flow), self.layout.rates)
            else:
                raise KeyError(
                    f"{name!r} is not a ledger quantity or cost; columns: {list(QUANTITY_COLUMNS)}"
                )
        return {name: out[name] for name in names}

    def by_lane(self, name: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        """A recorded lane flow (:data:`LANE_FLOWS`), lane-first: (lanes, periods)."""
        return self._flow(self.layout.lane_cells[name], *self._span(start, stop))

    def _opening(self, start: int, stop: int) -> np.ndarray:
        out = np.empty((self.layout.size, stop - start))
        if stop == start:
            return out
        first = max(start - 1, 0)
        closing = self._flow(self.layout.node_cells["closing_on_hand"], first, max(stop - 1, first))
        if start == 0:
            out[:, 0] = self.layout.initial_on_hand
            out[:, 1:] = closing
        else:
            out[:] = closing
        return out

    def blocks(self, rows: int = 1 << 14) -> Iterator[tuple[int, int]]:
        """Spans ``(start, stop)`` of whole periods covering the closed periods, each of about
        ``rows`` rows (at least one period): for working through a large ledger in bounded memory."""
        step = max(1, rows // max(1, self.layout.size))
        for start in range(0, self.closed, step):
            yield start, min(start + step, self.closed)

    # -- periods and rows -----------------------------------------------------------------------

    def period(self, t: int) -> LedgerPeriod:
        """The closed period ``t``."""
        if not 0 <= t < self.closed:
            raise IndexError(f"period {t} is not closed (closed: 0..{self.closed - 1})")
        return LedgerPeriod(self, t)

    def rows(self, start: int = 0, stop: int | None = None) -> list[LedgerRow]:
        """The rows of periods ``start .. stop - 1`` as records, period by period, stock points in
        network order."""
        start, stop = self._span(start, stop)
        out: list[LedgerRow] = []
        for a, b in _spans(start, stop, max(1, (1 << 16) // max(1, self.layout.size))):
            out.extend(self._rows(a, b))
        return out

    def _rows(self, start: int, stop: int) -> list[LedgerRow]:
        layout = self.layout
        block = self.columns(QUANTITY_COLUMNS, start, stop)
        values = zip(*(block[name].ravel().tolist() for name in QUANTITY_COLUMNS), strict=True)
        keys = [
            (t, node, sku, tier, echelon)
            for t in range(start, stop)
            for node, sku, tier, echelon in zip(
                layout.nodes, layout.skus, layout.tiers, layout.echelons, strict=True
            )
        ]
        new = tuple.__new__
        return [new(LedgerRow, key + value) for key, value in zip(keys, values, strict=True)]

    # -- Arrow ----------------------------------------------------------------------------------

    def record_batches(self, replication: int, rows: int = 1 << 13) -> Iterator[Any]:
        """The ledger as Arrow record batches of about ``rows`` rows: ``replication``, then
        :data:`LEDGER_COLUMNS` (imports pyarrow)."""
        from reconciliation import arrow

        layout = self.layout
        n = layout.size
        node_names, node_codes = _codes(layout.nodes)
        sku_names, sku_codes = _codes(layout.skus)
        tier_names, tier_codes = _codes(layout.tiers)
        echelons = np.asarray(layout.echelons, dtype=np.int64)
        for start, stop in self.blocks(rows):
            p = stop - start
            block = self.columns(QUANTITY_COLUMNS, start, stop)
            arrays = [
                arrow.int64(np.full(p * n, replication)),
                arrow.int64(np.repeat(np.arange(start, stop), n)),
                arrow.dictionary(node_names, np.tile(node_codes, p)),
                arrow.dictionary(sku_names, np.tile(sku_codes, p)),
                arrow.dictionary(tier_names, np.tile(tier_codes, p)),
                arrow.int64(np.tile(echelons, p)),
                *(arrow.float64(block[name].ravel()) for name in QUANTITY_COLUMNS),
            ]
            yield _batch(arrays)

    def to_arrow(self, replication: int = 0) -> Any:
        """The whole ledger as one Arrow table (see :meth:`record_batches`)."""
        import pyarrow as pa

        return pa.Table.from_batches(list(self.record_batches(replication)), schema=arrow_schema())


def arrow_schema() -> Any:
    """The Arrow schema of a ledger table: ``replication``, then :data:`LEDGER_COLUMNS` (``node``,
    ``sku`` and ``tier`` dictionary-encoded strings)."""
    import pyarrow as pa

    from reconciliation import arrow

    types = {"replication": pa.int64(), "period": pa.int64(), "echelon": pa.int64()}
    types.update({name: arrow.string_type() for name in ("node", "sku", "tier")})
    return pa.schema(
        [(name, types.get(name, pa.float64())) for name in ("replication", *LEDGER_COLUMNS)]
    )


def _batch(arrays: list[Any]) -> Any:
    import pyarrow as pa

    return pa.RecordBatch.from_arrays(arrays, schema=arrow_schema())


def _codes(values: Sequence[str]) -> tuple[list[str], np.ndarray]:
    names = list(dict.fromkeys(values))
    index = {name: i for i, name in enumerate(names)}
    return names, np.fromiter((index[v] for v in values), dtype=np.int64, count=len(values))


def _spans(start: int, stop: int, step: int) -> Iterator[tuple[int, int]]:
    for a in range(start, stop, step):
        yield a, min(a + step, stop)


class LedgerPeriod(Sequence[LedgerRow]):
    """One closed period of a ledger: its columns (an entry per stock point) and, on demand, its
    rows (a sequence of :class:`LedgerRow`, stock points in network order).

    What an agent's ``observe_ledger`` and the RL environment are handed after each close: reading
    a few columns or the rows of a few nodes costs only those, and iterating gives the rows.
    """

    def __init__(self, ledger: Ledger, period: int) -> None:
        self.ledger = ledger
        self.period = period
        self._columns: dict[str, np.ndarray] = {}
        self._rows: list[LedgerRow] | None = None

    def column(self, name: str) -> np.ndarray:
        """Column ``name`` in this period: one value per stock point."""
        cached = self._columns.get(name)
        if cached is None:
            t = self.period
            names = MONEY_NAMES if name in MONEY_NAMES else (name,)
            block = self.ledger.by_entity(names, t, t + 1)
            self._columns.update({k: v[:, 0] for k, v in block.items()})
            cached = self._columns[name]
        return cached

    def positions(self, node: str) -> list[int]:
        """Positions of the rows of ``node`` (a location: one row per SKU)."""
        return self.ledger.layout.positions(node)

    def rows_of(self, node: str) -> list[LedgerRow]:
        """The rows of ``node`` in this period (one per SKU)."""
        return [self[i] for i in self.positions(node)]

    def __len__(self) -> int:
        return self.ledger.layout.size

    @overload
    def __getitem__(self, index: int) -> LedgerRow: ...
    @overload
    def __getitem__(self, index: slice) -> list[LedgerRow]: ...
    def __getitem__(self, index: int | slice) -> LedgerRow | list[LedgerRow]:
        if self._rows is None:
            self._rows = self.ledger.rows(self.period, self.period + 1)
        return self._rows[index]

    def __repr__(self) -> str:
        return f"LedgerPeriod(period={self.period}, rows={len(self)})"
