"""Read a starting state (a snapshot as of a date) from a store, and write one.

:func:`read_state` turns the state tables of :mod:`twin.live.tables` (``stock``,
``customer_orders``, ``open_orders``, ``shipments``) as of one date into a
:class:`~twin.scenario.state.StartingState` checked against the scenario, with dates turned into
periods by the store's ``calendar`` (period 0 is the as-of date; a store without a calendar counts
in days from the as-of date):

* an open customer or lane order placed on day ``d`` was placed in period
  ``floor((d - as_of) / period_days)`` (at the latest period ``-1``);
* a shipment expected on day ``e`` is due in period ``floor((e - as_of) / period_days)`` (at the
  earliest period 0: overdue shipments arrive in the first period);
* a node's ``backorders`` without ``customer_orders`` rows are owed since period ``-1``.

:func:`state_rows` is the inverse: the rows of a state as of a date (the sample generator writes
them).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from twin.live.store import Store, row_label
from twin.live.tables import CALENDAR, CUSTOMER_ORDERS, OPEN_ORDERS, SHIPMENTS, STOCK
from twin.scenario.schema import Scenario
from twin.scenario.state import (
    Calendar,
    CustomerOrder,
    DataError,
    InTransit,
    OpenOrder,
    StartingState,
    check_state,
)


def read_calendar(store: Store) -> Calendar | None:
    """The store's calendar (None if it has no ``calendar`` table)."""
    rows = store.read(CALENDAR, optional=True)
    if not rows:
        return None
    if len(rows) > 1:
        raise DataError(f"{store.label}: calendar: has {len(rows)} rows; it needs exactly one")
    try:
        return Calendar(rows[0]["origin"], rows[0]["period_days"])
    except ValueError as exc:
        raise DataError(f"{store.label}: calendar.period_days: {exc}") from None


def snapshots(store: Store) -> list[dt.date]:
    """The as-of dates of the states stored (oldest first)."""
    return sorted({r["as_of"] for r in store.read(STOCK)})


def parse_date(text: str, what: str = "--as-of") -> dt.date:
    """``YYYY-MM-DD``; a DataError naming ``what`` otherwise."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise DataError(f"{what} {text!r}: expected a date YYYY-MM-DD") from None


def _periods(days: int, period_days: int) -> int:
    return math.floor(days / period_days)


def read_state(store: Store, scenario: Scenario, as_of: dt.date | None = None) -> StartingState:
    """The state as of ``as_of`` (default: the latest snapshot), checked against ``scenario``."""
    calendar = read_calendar(store)
    if as_of is None:
        dates = snapshots(store)
        if not dates:
            raise DataError(f"{store.label}: stock: no rows (no state is stored)")
        as_of = dates[-1]
    stock = store.read(STOCK, where={"as_of": as_of})
    if not stock:
        dates = snapshots(store)
        shown = ", ".join(d.isoformat() for d in dates[-5:]) or "none"
        raise DataError(f"{store.label}: stock: no state as of {as_of} (latest snapshots: {shown})")
    if calendar is not None:
        try:
            offset = calendar.offset_of(as_of)
        except ValueError as exc:
            raise DataError(f"{store.label}: {exc}") from None
        period_days = calendar.period_days
    else:
        offset, period_days = 0, 1
    src = store.label

    on_hand: dict[tuple[str, str], float] = {}
    where_on_hand: dict[tuple[str, str], str] = {}
    backorders: dict[tuple[str, str], tuple[float, str]] = {}
    for i, row in enumerate(stock):
        key = (row["node"], row["sku"])
        label = row_label("stock", row, i)
        if key in on_hand:
            raise DataError(f"{src}: {label}: a second row for node {key[0]!r}, SKU {key[1]!r}")
        on_hand[key], where_on_hand[key] = row["on_hand"], label
        if row["backorders"] < 0:
            raise DataError(f"{src}: {label}.backorders: must be >= 0, got {row['backorders']!r}")
        backorders[key] = (row["backorders"], label)

    customers: list[CustomerOrder] = []
    listed: dict[tuple[str, str], float] = defaultdict(float)
    for i, row in enumerate(store.read(CUSTOMER_ORDERS, where={"as_of": as_of}, optional=True)):
        key = (row["node"], row["sku"])
        label = row_label("customer_orders", row, i)
        period = min(_periods((row["ordered"] - as_of).days, period_days), -1)
        customers.append(CustomerOrder(key[0], key[1], row["quantity"], period, label))
        listed[key] += row["quantity"]
    for key, total in listed.items():
        owed, label = backorders.get(key, (0.0, f"stock[node={key[0]!r}, sku={key[1]!r}]"))
        if abs(total - owed) > 1e-9 * max(1.0, abs(owed)):
            raise DataError(
                f"{src}: customer_orders of node {key[0]!r}, SKU {key[1]!r} sum to {total:g}, "
                f"but {label}.backorders is {owed:g}"
            )
    for key, (owed, label) in backorders.items():
        if owed > 0.0 and key not in listed:
            customers.append(CustomerOrder(key[0], key[1], owed, -1, label))

    orders = [
        OpenOrder(
            row["origin"],
            row["destination"],
            row["sku"],
            row["quantity"],
            min(_periods((row["ordered"] - as_of).days, period_days), -1),
            f"open_orders[order_id={row['order_id']!r}]",
        )
        for row in store.read(OPEN_ORDERS, where={"as_of": as_of}, optional=True)
    ]
    transit = [
        InTransit(
            row["origin"],
            row["destination"],
            row["sku"],
            row["quantity"],
            max(_periods((row["expected"] - as_of).days, period_days), 0),
            f"shipments[shipment_id={row['shipment_id']!r}]",
        )
        for row in store.read(SHIPMENTS, where={"as_of": as_of}, optional=True)
    ]
    state = StartingState(
        on_hand=on_hand,
        customer_orders=tuple(customers),
        open_orders=tuple(orders),
        in_transit=tuple(transit),
        as_of=as_of,
        offset=offset,
        source=src,
        where_on_hand=where_on_hand,
    )
    check_state(scenario, state)
    return state


def state_rows(
    state: StartingState,
    as_of: dt.date,
    period_days: int = 1,
    *,
    shipped: Sequence[int | None] | None = None,
) -> dict[sa.Table, list[dict[str, Any]]]:
    """The state tables' rows of ``state`` as of ``as_of`` (``shipped[k]``: the period the
    shipment ``state.in_transit[k]`` left, when known)."""

    def day(period: int) -> dt.date:
        return as_of + dt.timedelta(days=period * period_days)

    owed: dict[tuple[str, str], float] = defaultdict(float)
    for c in state.customer_orders:
        owed[(c.node, c.sku)] += c.quantity
    points = sorted({*state.on_hand, *owed})
    stock = [
        {
            "as_of": as_of,
            "node": node,
            "sku": sku,
            "on_hand": state.on_hand.get((node, sku), 0.0),
            "backorders": owed.get((node, sku), 0.0),
        }
        for node, sku in points
    ]
    stamp = as_of.isoformat()
    customers = [
        {
            "as_of": as_of,
            "order_id": f"C-{stamp}-{k + 1}",
            "node": c.node,
            "sku": c.sku,
            "ordered": day(c.period),
            "quantity": c.quantity,
        }
        for k, c in enumerate(state.customer_orders)
    ]
    orders = [
        {
            "as_of": as_of,
            "order_id": f"O-{stamp}-{k + 1}",
            "origin": o.origin,
            "destination": o.destination,
            "sku": o.sku,
            "ordered": day(o.period),
            "quantity": o.quantity,
        }
        for k, o in enumerate(state.open_orders)
    ]
    sent = list(shipped) if shipped is not None else [None] * len(state.in_transit)
    transit = [
        {
            "as_of": as_of,
            "shipment_id": f"S-{stamp}-{k + 1}",
            "origin": s.origin,
            "destination": s.destination,
            "sku": s.sku,
            "shipped": None if when is None else day(when),
            "expected": day(s.due),
            "quantity": s.quantity,
        }
        for k, (s, when) in enumerate(zip(state.in_transit, sent, strict=True))
    ]
    return {STOCK: stock, CUSTOMER_ORDERS: customers, OPEN_ORDERS: orders, SHIPMENTS: transit}
