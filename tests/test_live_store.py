"""twin.live on real stores: every test here runs on SQLite, on PostgreSQL and (where it reads
tables) on Parquet files (tests/databases.py).

* a state written in the table layout reads back as the same state, dates mapped to periods as
  documented;
* the generated history replays exactly (backtest with the recorded orders: every recorded on
  hand, sale and backorder reproduced), and a corrupted record is reported at its period and node;
* a store holds the same history whatever its kind;
* write-back puts a run's KPIs, ledger and recommended orders in one transaction: a write that
  fails or is killed midway leaves no row;
* bad tables are one-line errors naming the store, the table row and the value.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from databases import database_url_fixture, store_url_fixture  # noqa: F401  (fixtures)
from test_starting_state import _books, full_state

from entities.errors import DataError
from reconciliation.kpis import compute_kpis, ledger_frame
from twin import load_scenario, scenario_from_dict
from twin.engine import Simulation, run_scenario
from twin.engine.state import StartFrom
from twin.live.backtest import backtest
from twin.live.history import read_history
from twin.live.sample import generate
from twin.live.start import start_from_store
from twin.live.state import read_state, state_rows
from twin.live.store import open_store
from twin.live.tables import (
    CALENDAR,
    CUSTOMER_ORDERS,
    DEMAND_HISTORY,
    LEDGER,
    RECOMMENDATIONS,
    RUNS,
    STOCK,
    STOCK_HISTORY,
)
from twin.live.writeback import recommendations, write_back
from twin.scenario.state import InTransit, OpenOrder, StartingState, scenario_at

ROOT = Path(__file__).resolve().parents[1]
SMALL = {"stores": 10, "warehouses": 2, "days": 120, "seed": 5}
AS_OF = dt.date(2025, 3, 3)


def _hmarl() -> object:
    return load_scenario("scenarios/hmarl_3store.yaml", {"periods": 20, "warmup_periods": 0})


# --------------------------------------------------------------------------------------------------
# State.


def test_a_state_written_in_the_table_layout_reads_back_as_the_same_state(store_url: str) -> None:
    scenario = _hmarl()
    state = full_state(scenario)
    with open_store(store_url, create=True) as store:
        store.write({CALENDAR: [{"origin": AS_OF - dt.timedelta(days=10), "period_days": 1}]})
        store.write(state_rows(state, AS_OF))
        back = read_state(store, scenario, AS_OF)
    assert _books(back) == _books(state)
    assert back.as_of == AS_OF and back.offset == 10
    rows = Simulation(scenario_at(scenario, back), setup=StartFrom(back)).run().rows  # audited
    for row in rows:
        if row.period == 0:
            assert row.opening_on_hand == state.on_hand.get((row.node, row.sku), 0.0)


def test_dates_map_to_periods_of_the_calendar(store_url: str) -> None:
    """Weekly periods: an order placed 10 days before the as-of date was placed in period -2, a
    shipment expected 9 days after it is due in period 1, one expected before it in period 0."""
    scenario = _hmarl()
    origin = AS_OF - dt.timedelta(weeks=3)
    lane = ("warehouse_1", "store_1", "default")
    day = dt.timedelta(days=1)
    with open_store(store_url, create=True) as store:
        store.write(
            {
                CALENDAR: [{"origin": origin, "period_days": 7}],
                STOCK: [
                    {
                        "as_of": AS_OF,
                        "node": "store_1",
                        "sku": "default",
                        "on_hand": 5.0,
                        "backorders": 2.0,
                    }
                ],
                **{
                    t: rows
                    for t, rows in state_rows(
                        StartingState(
                            open_orders=(OpenOrder(*lane, 3.0, 0),),
                            in_transit=(InTransit(*lane, 4.0, 0), InTransit(*lane, 6.0, 0)),
                        ),
                        AS_OF,
                    ).items()
                    if t is not STOCK
                },
            }
        )
        _rewrite_dates(store, AS_OF - 10 * day, [AS_OF + 9 * day, AS_OF - 3 * day])
        state = read_state(store, scenario, AS_OF)
    assert state.offset == 3
    assert [o.period for o in state.open_orders] == [-2]
    assert sorted(s.due for s in state.in_transit) == [0, 1]
    assert [(c.node, c.quantity, c.period) for c in state.customer_orders] == [("store_1", 2.0, -1)]


def _rewrite_dates(store: object, ordered: dt.date, expected: list[dt.date]) -> None:
    """Set the open order's date and the shipments' expected dates (any store kind)."""
    from twin.live.tables import OPEN_ORDERS, SHIPMENTS

    orders = store.read(OPEN_ORDERS)  # type: ignore[attr-defined]
    shipments = store.read(SHIPMENTS)  # type: ignore[attr-defined]
    for row in orders:
        row["ordered"] = ordered
    for row, when in zip(sorted(shipments, key=lambda r: r["quantity"]), expected, strict=True):
        row["expected"] = when
    store.write({OPEN_ORDERS: orders, SHIPMENTS: shipments}, replace=True)  # type: ignore[attr-defined]


def test_bad_state_tables_are_one_line_errors_naming_the_row(database_url: str) -> None:
    scenario = _hmarl()
    with open_store(database_url, create=True) as store:
        with pytest.raises(DataError, match=r"no table 'stock' \(it has: none\)"):
            read_state(store, scenario, AS_OF)
        store.write(
            {
                STOCK: [
                    {
                        "as_of": AS_OF,
                        "node": "stor_1",
                        "sku": "default",
                        "on_hand": 5.0,
                        "backorders": 0.0,
                    }
                ]
            }
        )
        with pytest.raises(DataError) as err:
            read_state(store, scenario, AS_OF)
        assert str(err.value).endswith(
            "stock[as_of='2025-03-03', node='stor_1', sku='default'].node: 'stor_1' is not a node; "
            "did you mean 'store_1'?"
        )
        with pytest.raises(
            DataError, match=r"no state as of 2025-03-04 \(latest snapshots: 2025-03-03\)"
        ):
            read_state(store, scenario, AS_OF + dt.timedelta(days=1))
        store.write(
            {
                STOCK: [
                    {
                        "as_of": AS_OF,
                        "node": "store_1",
                        "sku": "default",
                        "on_hand": 5.0,
                        "backorders": 3.0,
                    }
                ],
                CUSTOMER_ORDERS: [
                    {
                        "as_of": AS_OF,
                        "order_id": "C1",
                        "node": "store_1",
                        "sku": "default",
                        "ordered": AS_OF,
                        "quantity": 2.0,
                    }
                ],
            },
            replace=True,
        )
        with pytest.raises(
            DataError, match=r"customer_orders of node 'store_1', SKU 'default' sum to 2, but"
        ):
            read_state(store, scenario, AS_OF)
        store.write({CALENDAR: [{"origin": AS_OF - dt.timedelta(days=3), "period_days": 7}]})
        with pytest.raises(DataError, match=r"as-of date 2025-03-03 does not start a period"):
            read_state(store, scenario, AS_OF)


def test_a_value_of_the_wrong_type_names_its_row_and_column(tmp_path: Path) -> None:
    """SQLite stores any value in any column: a text in a number column is caught on reading."""
    path = tmp_path / "loose.db"
    with open_store(path, create=True) as store:
        store.write(
            {
                STOCK: [
                    {
                        "as_of": AS_OF,
                        "node": "store_1",
                        "sku": "default",
                        "on_hand": 1.0,
                        "backorders": 0.0,
                    }
                ]
            }
        )
        with store.engine.begin() as conn:  # type: ignore[union-attr]
            conn.exec_driver_sql("UPDATE stock SET on_hand = 'twelve'")
        with pytest.raises(DataError) as err:
            read_state(store, _hmarl(), AS_OF)
    assert str(err.value) == (
        f"{path}: stock[as_of='2025-03-03', node='store_1', sku='default'].on_hand: "
        "expected a finite number, got 'twelve'"
    )


# --------------------------------------------------------------------------------------------------
# History and backtest.


def test_the_generated_history_replays_exactly(store_url: str) -> None:
    sample = generate(store_url, **SMALL)
    assert sample.start.open_orders and sample.start.in_transit and sample.start.on_hand
    with open_store(store_url) as store:
        result = backtest(sample.scenario, store)
    nodes = len(sample.scenario.nodes)
    assert result.checked == SMALL["days"] * nodes * 3
    assert result.discrepancies == []
    assert result.as_of == sample.origin


def test_every_store_kind_holds_the_same_history(database_url: str, tmp_path: Path) -> None:
    a = generate(database_url, **SMALL)
    b = generate(str(tmp_path / "parquet"), **SMALL)
    with open_store(database_url) as sa_store, open_store(b.url) as pq_store:
        ha, hb = read_history(sa_store), read_history(pq_store)
        sa_state = read_state(sa_store, a.scenario, a.end_date)
        pq_state = read_state(pq_store, b.scenario, b.end_date)
    assert (ha.first, ha.last) == (hb.first, hb.last)
    for attribute in ("demand", "orders"):
        x, y = getattr(ha, attribute), getattr(hb, attribute)
        assert x.keys() == y.keys()
        assert all(np.array_equal(x[k], y[k]) for k in x)
    assert sorted(ha.receipts, key=repr) == sorted(hb.receipts, key=repr)
    assert _books(sa_state) == _books(pq_state)


def _corrupt(url: str, table: sa.Table, column: str, node: str, day: dt.date, by: float) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            table.update()
            .where(table.c.node == node, table.c.date == day)
            .values({column: table.c[column] + by})
        )
    engine.dispose()


def test_a_corrupted_stock_record_is_reported_at_its_period_and_node(database_url: str) -> None:
    sample = generate(database_url, **SMALL)
    day = sample.origin + dt.timedelta(days=40)
    _corrupt(database_url, STOCK_HISTORY, "on_hand", "ST004", day, 7.0)
    with open_store(database_url) as store:
        result = backtest(sample.scenario, store)
    assert [(d.period, d.date, d.node, d.column, d.twin - d.recorded) for d in result.discrepancies] == [
        (40, day, "ST004", "on_hand", -7.0)
    ]


def test_a_corrupted_demand_record_is_reported_from_its_period_at_its_node(database_url: str) -> None:
    sample = generate(database_url, **SMALL)
    day = sample.origin + dt.timedelta(days=55)
    _corrupt(database_url, DEMAND_HISTORY, "quantity", "ST003", day, 9.0)
    with open_store(database_url) as store:
        result = backtest(sample.scenario, store)
    assert result.discrepancies
    assert {d.node for d in result.discrepancies} == {"ST003"}
    first = min(result.discrepancies, key=lambda d: d.period)
    assert (first.period, first.date) == (55, day)
    assert result.first_discrepancies()[("ST003", "default")].period == 55


# --------------------------------------------------------------------------------------------------
# Write-back.


def _run_from_end(url: str, periods: int = 14) -> tuple[object, list, dict, object]:
    sample = generate(url, **{**SMALL, "days": 60})
    scenario = scenario_from_dict(
        {**sample.scenario.to_yaml_dict(), "periods": periods, "replications": 2}, source="sample.yaml"
    )
    start = start_from_store(scenario, url)
    results = run_scenario(start.scenario, setup=start.setup)
    kpis = compute_kpis(ledger_frame(results), 0)
    return start, results, kpis, sample


def _count(url: str, table: sa.Table) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table(table.name):
                return 0
            return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
    finally:
        engine.dispose()


def test_write_back_stores_kpis_ledger_and_the_next_orders(database_url: str) -> None:
    start, results, kpis, sample = _run_from_end(database_url)
    with open_store(database_url) as store:
        run_id = write_back(store, start.scenario, results, kpis, as_of=start.as_of)
        runs = store.read(RUNS)
        ledger = store.read(LEDGER)
        orders = store.read(RECOMMENDATIONS)
    assert [r["run_id"] for r in runs] == [run_id]
    assert runs[0]["as_of"] == sample.end_date and runs[0]["periods"] == 14
    assert runs[0]["cost_per_period"] == pytest.approx(kpis["network"]["cost_per_period"]["mean"])
    assert len(ledger) == 2 * 14 * len(sample.scenario.nodes)
    assert {r["date"] for r in ledger} == {sample.end_date + dt.timedelta(days=k) for k in range(14)}
    want = recommendations(start.scenario, results[0])
    assert (
        want and sorted((r["origin"], r["destination"], r["sku"], r["quantity"]) for r in orders) == want
    )
    assert all(r["date"] == sample.end_date for r in orders)


def test_a_write_back_that_fails_midway_leaves_no_row(database_url: str) -> None:
    start, results, kpis, _ = _run_from_end(database_url)
    with open_store(database_url) as store:
        first = write_back(store, start.scenario, results, kpis, as_of=start.as_of)
        before = {t.name: _count(database_url, t) for t in (RUNS, LEDGER, RECOMMENDATIONS)}
        bad = results[-1].rows[-1]._replace(node=None)  # the last ledger row breaks NOT NULL
        results[-1].rows[-1] = bad
        with pytest.raises(DataError):
            write_back(store, start.scenario, results, kpis, as_of=start.as_of, run_id="second")
        assert [r["run_id"] for r in store.read(RUNS)] == [first]
    assert {t.name: _count(database_url, t) for t in (RUNS, LEDGER, RECOMMENDATIONS)} == before


KILLED_WRITER = textwrap.dedent(
    """
    import sys, time
    import sqlalchemy.engine.base as base
    from twin import load_scenario, scenario_from_dict
    from twin.engine import run_scenario
    from twin.live.store import open_store
    from twin.live.writeback import write_back
    from reconciliation.kpis import compute_kpis, ledger_frame

    scenario = load_scenario("scenarios/hmarl_3store.yaml", {"periods": 40, "replications": 2})
    results = run_scenario(scenario)
    kpis = compute_kpis(ledger_frame(results), scenario.warmup_periods)
    execute = base.Connection.execute

    def slow(self, statement, *args, **kwargs):
        out = execute(self, statement, *args, **kwargs)
        if getattr(getattr(statement, "table", None), "name", None) == "ledger":
            print("ledger rows sent", flush=True)
            time.sleep(60)  # killed here, inside the transaction
        return out

    base.Connection.execute = slow
    with open_store(sys.argv[1], create=True) as store:
        write_back(store, scenario, results, kpis)
    """
)


def test_a_write_back_killed_midway_leaves_no_row(database_url: str) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, database_url],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line.strip() == "ledger rows sent", child.stderr.read() if child.stderr else ""
        assert _count(database_url, RUNS) == 0  # not visible before the commit either
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    for table in (RUNS, LEDGER, RECOMMENDATIONS):
        assert _count(database_url, table) == 0, table.name
