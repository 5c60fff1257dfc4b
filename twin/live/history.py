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
from typing import Any

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
    history = History(calendar, first, last, store.label)
    history.demand = _per_period(history, "demand_history", demand_rows, ("node", "sku"))
    history.orders = _per_period(
        history,
        "order_history",
        store.read(ORDER_HISTORY, optional=True),
        ("origin", "destination", "sku"),
    )
    history.receipts = _receipts(history, store.read(RECEIPT_HISTORY, optional=True), start)
    history.expected = _expected(history, store.read(SHIPMENTS, optional=True))
    if stock:
        history.stock = _stock(history, store.read(STOCK_HISTORY, optional=True))
    return history


def _per_period(
    history: History, table: str, rows: list[dict[str, Any]], key: tuple[str, ...]
) -> dict[Any, np.ndarray]:
    """``quantity`` of ``rows`` (of ``table``) summed per period of the history and per ``key``
    (the values of those columns); a negative quantity is an error."""
    calendar, first, n = history.calendar, history.first, history.periods
    out: dict[Any, np.ndarray] = {}
    for i, row in enumerate(rows):
        p = calendar.period_of(row["date"]) - first
        if not 0 <= p < n:
            continue
        if row["quantity"] < 0:
            raise DataError(
                f"{history.source}: {row_label(table, row, i)}.quantity: must be >= 0, "
                f"got {row['quantity']!r}"
            )
        k = tuple(row[c] for c in key)
        if k not in out:
            out[k] = np.zeros(n)
        out[k][p] += row["quantity"]
    return out


def _receipts(history: History, rows: list[dict[str, Any]], start: dt.date | None) -> list[Receipt]:
    """Shipments received within the history (sent before it, with ``start``, only if received
    in it), summed per lane, period sent and period received."""
    calendar, first, last = history.calendar, history.first, history.last
    received: dict[tuple[str, str, str, int, int], float] = defaultdict(float)
    for i, row in enumerate(rows):
        shipped, got = calendar.period_of(row["shipped"]), calendar.period_of(row["received"])
        if got < shipped or row["quantity"] < 0:
            label = row_label("receipt_history", row, i)
            if got < shipped:
                raise DataError(
                    f"{history.source}: {label}.received: {row['received']} is before shipped "
                    f"{row['shipped']}"
                )
            raise DataError(f"{history.source}: {label}.quantity: must be >= 0, got {row['quantity']!r}")
        if got > last or (start is not None and got < first):
            continue
        received[(row["origin"], row["destination"], row["sku"], shipped, got)] += row["quantity"]
    return [Receipt(o, d, k, s, r, q) for (o, d, k, s, r), q in received.items()]


def _expected(history: History, rows: list[dict[str, Any]]) -> list[Receipt]:
    """Shipments sent within the history and in transit in a later state, at their expected
    period (one shipment may be in several states: the last row counts)."""
    calendar, first, last = history.calendar, history.first, history.last
    expected: dict[tuple[str, str, str, int, int], float] = {}
    for row in rows:
        if row["shipped"] is None:
            continue
        shipped = calendar.period_of(row["shipped"])
        if first <= shipped <= last and row["expected"] >= row["shipped"]:
            arrival = calendar.period_of(row["expected"])
            lane = (row["origin"], row["destination"], row["sku"])
            expected[(*lane, shipped, arrival)] = row["quantity"]  # one shipment in several states
    return [Receipt(o, d, k, s, r, q) for (o, d, k, s, r), q in expected.items()]


def _stock(history: History, rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, np.ndarray]]:
    """Per (node, SKU) and period: on hand and backorders of the period's last row, units sold
    summed over the period (NaN in periods without a row)."""
    calendar, first, n = history.calendar, history.first, history.periods
    dated: dict[tuple[str, str, int], tuple[dt.date, float, float]] = {}
    sold: dict[tuple[str, str, int], float] = defaultdict(float)
    for row in rows:
        p = calendar.period_of(row["date"]) - first
        if not 0 <= p < n:
            continue
        key3 = (row["node"], row["sku"], p)
        sold[key3] += row["sold"]  # a flow: summed over the period
        if key3 not in dated or dated[key3][0] <= row["date"]:  # stocks: at the period's end
            dated[key3] = (row["date"], row["on_hand"], row["backorders"])
    stock: dict[tuple[str, str], dict[str, np.ndarray]] = {}
    for (node, sku, p), (_, on_hand, backorders) in dated.items():
        if (node, sku) not in stock:
            stock[(node, sku)] = {c: np.full(n, np.nan) for c in STOCK_COLUMNS}
        columns = stock[(node, sku)]
        columns["on_hand"][p], columns["backorders"][p] = on_hand, backorders
        columns["sold"][p] = sold[(node, sku, p)]
    return stock
