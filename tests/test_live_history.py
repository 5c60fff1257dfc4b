"""Reading a store's history into periods (twin.live.history), on a small SQLite store written by
hand: flows summed per calendar period, the closing stock of a period's last day, the window set by
the demand history or by ``start`` and ``end``, and one-line errors naming the table row."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from entities.errors import DataError
from twin.live.history import Receipt, read_history
from twin.live.store import open_store
from twin.live.tables import (
    CALENDAR,
    DEMAND_HISTORY,
    ORDER_HISTORY,
    RECEIPT_HISTORY,
    SHIPMENTS,
    STOCK_HISTORY,
)

MONDAY = dt.date(2025, 1, 6)  # the calendar's origin: weekly periods from this Monday


def day(period: int, weekday: int = 0) -> dt.date:
    return MONDAY + dt.timedelta(days=7 * period + weekday)


def demand(node: str, date: dt.date, quantity: float) -> dict[str, Any]:
    return {"date": date, "node": node, "sku": "P", "quantity": quantity}


def lane(**row: Any) -> dict[str, Any]:
    return {"origin": "W", "destination": "S", "sku": "P", **row}


DEMAND = [demand("S", day(0), 1), demand("S", day(0, 2), 2), demand("S", day(2, 6), 4)]
DEMAND += [demand("T", day(1, 3), 5)]
TABLES = {
    CALENDAR: [{"origin": MONDAY, "period_days": 7}],
    DEMAND_HISTORY: DEMAND,
    ORDER_HISTORY: [
        lane(date=day(0, 1), quantity=2.0),
        lane(date=day(0, 3), quantity=3.0),
        lane(date=day(1), quantity=1.5),
        lane(date=day(6), quantity=9.0),  # after the last period of demand
    ],
    RECEIPT_HISTORY: [
        lane(shipped=day(-1, 3), received=day(0, 1), quantity=4.0),  # sent before the window
        lane(shipped=day(-1, 4), received=day(0, 2), quantity=1.0),  # the same periods: summed
        lane(shipped=day(1), received=day(2, 1), quantity=6.0),
        lane(shipped=day(2), received=day(3), quantity=8.0),  # received after the window
    ],
    SHIPMENTS: [
        lane(as_of=day(3), shipment_id="a", shipped=day(1, 1), expected=day(3, 2), quantity=3.0),
        lane(as_of=day(3), shipment_id="b", shipped=None, expected=day(3), quantity=2.0),
        lane(as_of=day(3), shipment_id="c", shipped=day(5), expected=day(6), quantity=2.0),
    ],
    STOCK_HISTORY: [
        {"date": day(0, 4), "node": "S", "sku": "P", "on_hand": 7.0, "backorders": 1.0, "sold": 2.0},
        {"date": day(0), "node": "S", "sku": "P", "on_hand": 10.0, "backorders": 0.0, "sold": 1.0},
        {"date": day(2, 1), "node": "S", "sku": "P", "on_hand": 3.0, "backorders": 0.0, "sold": 4.0},
    ],
}


def store_with(tmp_path: Path, tables: dict) -> str:
    url = f"sqlite:///{tmp_path / 'history.db'}"
    with open_store(url, create=True) as store:
        store.write(tables)
    return url


def test_flows_are_summed_per_period_and_stocks_are_the_last_days(tmp_path: Path) -> None:
    with open_store(store_with(tmp_path, TABLES)) as store:
        history = read_history(store)
    assert (history.first, history.last, history.periods) == (0, 2, 3)
    assert history.date(2) == day(2)
    assert set(history.demand) == {("S", "P"), ("T", "P")}
    np.testing.assert_array_equal(history.demand[("S", "P")], [3.0, 0.0, 4.0])
    np.testing.assert_array_equal(history.demand[("T", "P")], [0.0, 5.0, 0.0])
    assert set(history.orders) == {("W", "S", "P")}
    np.testing.assert_array_equal(history.orders[("W", "S", "P")], [5.0, 1.5, 0.0])
    assert sorted(history.receipts, key=lambda r: r.shipped) == [
        Receipt("W", "S", "P", -1, 0, 5.0),
        Receipt("W", "S", "P", 1, 2, 6.0),
    ]
    assert history.receipts[0].lead_time == 1
    assert history.expected == [Receipt("W", "S", "P", 1, 3, 3.0)]
    columns = history.stock[("S", "P")]
    np.testing.assert_array_equal(columns["on_hand"], [7.0, np.nan, 3.0])
    np.testing.assert_array_equal(columns["backorders"], [1.0, np.nan, 0.0])
    np.testing.assert_array_equal(columns["sold"], [3.0, np.nan, 4.0])


def test_start_and_end_set_the_window(tmp_path: Path) -> None:
    with open_store(store_with(tmp_path, TABLES)) as store:
        history = read_history(store, start=day(1, 2), end=day(1, 6), stock=False)
    assert (history.first, history.last) == (1, 1)
    assert set(history.demand) == {("T", "P")}  # S has no row in the window
    np.testing.assert_array_equal(history.demand[("T", "P")], [5.0])
    np.testing.assert_array_equal(history.orders[("W", "S", "P")], [1.5])
    assert history.receipts == []  # one received before the start, one after the end
    assert history.expected == [Receipt("W", "S", "P", 1, 3, 3.0)]
    assert history.stock == {}


@pytest.mark.parametrize(
    ("table", "row", "where", "message"),
    [
        (DEMAND_HISTORY, demand("S", day(1), -1.0), "demand_history[", ".quantity: must be >= 0"),
        (ORDER_HISTORY, lane(date=day(1), quantity=-2.0), "order_history[", ".quantity: must be >= 0"),
        (
            RECEIPT_HISTORY,
            lane(shipped=day(1), received=day(0), quantity=1.0),
            "receipt_history[",
            f".received: {day(0)} is before shipped {day(1)}",
        ),
        (
            RECEIPT_HISTORY,
            lane(shipped=day(0), received=day(1), quantity=-3.0),
            "receipt_history[",
            ".quantity: must be >= 0, got -3.0",
        ),
    ],
)
def test_a_bad_row_is_an_error_naming_the_table_row(
    tmp_path: Path, table: Any, row: dict, where: str, message: str
) -> None:
    url = store_with(tmp_path, {**TABLES, table: [*TABLES[table], row]})
    with open_store(url) as store, pytest.raises(DataError) as error:
        read_history(store)
    text = str(error.value)
    assert text.startswith(f"{store.label}: {where}") and message in text, text


def test_a_window_without_demand_history_is_an_error(tmp_path: Path) -> None:
    with open_store(store_with(tmp_path, TABLES)) as store, pytest.raises(DataError) as error:
        read_history(store, start=day(2), end=day(1))
    assert f"demand_history: no rows between {day(2)} and {day(1)}" in str(error.value)
