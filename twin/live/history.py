"""Read the history tables of a store into arrays per period.

Periods are the calendar's (:class:`~twin.scenario.state.Calendar`; a store without a ``calendar``
table counts days from the first date of its demand history). Rows falling in the same period are
added up (daily records read into weekly periods), except the closing stock figures of
``stock_history`` (on hand, backorders), where the last day of the period counts. A node with
demand history has demand 0 in the periods it has no row for; a lane's orders likewise.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from entities.errors import DataError
from twin.live.state import read_calendar
from twin.live.store import Store, row_label
from twin.live.tables import (
    DEMAND_HISTORY,
    ORDER_HISTORY,
    RECEIPT_HISTORY,
    SHIPMENTS,
    STOCK_HISTORY,
)
from twin.scenario.state import Calendar

STOCK_COLUMNS = ("on_hand", "backorders", "sold")


@dataclass(frozen=True)
class Receipt:
    """A shipment received: on lane ``origin -> destination``, sent in period ``shipped``,
    received in period ``received`` (calendar periods)."""

    origin: str
    destination: str
    sku: str
    shipped: int
    received: int
    quantity: float

    @property
    def lead_time(self) -> int:
        return self.received - self.shipped


@dataclass
class History:
    """The history of a store between calendar periods ``first`` and ``last`` (both included)."""

    calendar: Calendar
    first: int
    last: int
    source: str
    demand: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    """``(node, sku) -> demand per period``."""
    orders: dict[tuple[str, str, str], np.ndarray] = field(default_factory=dict)
    """``(origin, destination, sku) -> units ordered per period``."""
    receipts: list[Receipt] = field(default_factory=list)
    expected: list[Receipt] = field(default_factory=list)
    """Shipments sent in the window and still in transit in a later state (``shipments`` rows
    with a ``shipped`` date): ``received`` is their expected period."""
    stock: dict[tuple[str, str], dict[str, np.ndarray]] = field(default_factory=dict)
    """``(node, sku) -> {on_hand, backorders, sold}`` per period (NaN where no row)."""

    @property
    def periods(self) -> int:
        return self.last - self.first + 1

    @property
    def t(self) -> np.ndarray:
        """The calendar periods of the arrays."""
        return np.arange(self.first, self.last + 1)

    def date(self, period: int) -> dt.date:
        return self.calendar.date_of(period)


def read_history(
    store: Store, *, start: dt.date | None = None, end: dt.date | None = None, stock: bool = True
) -> History:
    """The history tables of ``store`` (from ``start`` to ``end``, both included when given).

    ``demand_history`` is required and sets the range; ``order_history``, ``receipt_history`` and
    (with ``stock``) ``stock_history`` are read when present.
    """
    demand_rows = store.read(DEMAND_HISTORY)
    if not demand_rows:
        raise DataError(f"{store.label}: demand_history: no rows")
    calendar = read_calendar(store) or Calendar(min(r["date"] for r in demand_rows), 1)
    first = (
        calendar.period_of(start) if start else min(calendar.period_of(r["date"]) for r in demand_rows)
    )
    last = calendar.period_of(end) if end else max(calendar.period_of(r["date"]) for r in demand_rows)
    if last < first:
        raise DataError(f"{store.label}: demand_history: no rows between {start} and {end}")
    n = last - first + 1
    history = History(calendar, first, last, store.label)

    for i, row in enumerate(demand_rows):
        p = calendar.period_of(row["date"]) - first
        if not 0 <= p < n:
            continue
        if row["quantity"] < 0:
            raise DataError(
                f"{store.label}: {row_label('demand_history', row, i)}.quantity: must be >= 0, "
                f"got {row['quantity']!r}"
            )
        key = (row["node"], row["sku"])
        if key not in history.demand:
            history.demand[key] = np.zeros(n)
        history.demand[key][p] += row["quantity"]

    for i, row in enumerate(store.read(ORDER_HISTORY, optional=True)):
        p = calendar.period_of(row["date"]) - first
        if not 0 <= p < n:
            continue
        if row["quantity"] < 0:
            raise DataError(
                f"{store.label}: {row_label('order_history', row, i)}.quantity: must be >= 0, "
                f"got {row['quantity']!r}"
            )
        lane = (row["origin"], row["destination"], row["sku"])
        if lane not in history.orders:
            history.orders[lane] = np.zeros(n)
        history.orders[lane][p] += row["quantity"]

    received: dict[tuple[str, str, str, int, int], float] = defaultdict(float)
    for i, row in enumerate(store.read(RECEIPT_HISTORY, optional=True)):
        shipped, got = calendar.period_of(row["shipped"]), calendar.period_of(row["received"])
        if got < shipped or row["quantity"] < 0:
            label = row_label("receipt_history", row, i)
            if got < shipped:
                raise DataError(
                    f"{store.label}: {label}.received: {row['received']} is before shipped "
                    f"{row['shipped']}"
                )
            raise DataError(f"{store.label}: {label}.quantity: must be >= 0, got {row['quantity']!r}")
        if got > last or (start is not None and got < first):
            continue
        received[(row["origin"], row["destination"], row["sku"], shipped, got)] += row["quantity"]
    history.receipts = [Receipt(o, d, k, s, r, q) for (o, d, k, s, r), q in received.items()]
    expected: dict[tuple[str, str, str, int, int], float] = {}
    for row in store.read(SHIPMENTS, optional=True):
        if row["shipped"] is None:
            continue
        shipped = calendar.period_of(row["shipped"])
        if first <= shipped <= last and row["expected"] >= row["shipped"]:
            arrival = calendar.period_of(row["expected"])
            lane = (row["origin"], row["destination"], row["sku"])
            expected[(*lane, shipped, arrival)] = row["quantity"]  # one shipment in several states
    history.expected = [Receipt(o, d, k, s, r, q) for (o, d, k, s, r), q in expected.items()]

    if stock:
        dated: dict[tuple[str, str, int], tuple[dt.date, float, float]] = {}
        sold: dict[tuple[str, str, int], float] = defaultdict(float)
        for row in store.read(STOCK_HISTORY, optional=True):
            p = calendar.period_of(row["date"]) - first
            if not 0 <= p < n:
                continue
            key3 = (row["node"], row["sku"], p)
            sold[key3] += row["sold"]  # a flow: summed over the period
            if key3 not in dated or dated[key3][0] <= row["date"]:  # stocks: at the period's end
                dated[key3] = (row["date"], row["on_hand"], row["backorders"])
        for (node, sku, p), (_, on_hand, backorders) in dated.items():
            if (node, sku) not in history.stock:
                history.stock[(node, sku)] = {c: np.full(n, np.nan) for c in STOCK_COLUMNS}
            columns = history.stock[(node, sku)]
            columns["on_hand"][p], columns["backorders"][p] = on_hand, backorders
            columns["sold"][p] = sold[(node, sku, p)]
    return history
