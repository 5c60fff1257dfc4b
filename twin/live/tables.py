"""The table layout of a running supply chain: state, history and results (README, "A twin of a
running supply chain").

The same tables live in a database (SQLAlchemy: SQLite by default, PostgreSQL) or as Parquet files
``<table>.parquet`` in a folder. Node ids, SKUs and lanes (``origin``, ``destination``) are those
of the scenario; ``sku`` is ``default`` in a single-product network; a source's production line
has origin ``production``. Dates are calendar days; ``calendar`` maps them to periods
(:class:`twin.scenario.state.Calendar`).

Calendar (one row):

* ``calendar(origin, period_days)``: the date of the scenario's period 0, and the length of a
  period in days (1: a day; 7: a week).

State (several snapshots may be stored; ``as_of`` is the date whose start they describe, before
that period's receipts and demand):

* ``stock(as_of, node, sku, on_hand, backorders)``: units on the shelves, and units owed to end
  customers;
* ``customer_orders(as_of, order_id, node, sku, ordered, quantity)``: the open customer orders
  behind ``backorders`` (quantity still owed), optional: with them, what a node owes is served
  oldest first by their dates; they must sum to the node's ``backorders``;
* ``open_orders(as_of, order_id, origin, destination, sku, ordered, quantity)``: ordered by
  ``destination`` on the lane, not yet shipped by ``origin``;
* ``shipments(as_of, shipment_id, origin, destination, sku, shipped, expected, quantity)``: in
  transit, expected to arrive on ``expected`` (a date before ``as_of``: overdue, arrives in the
  first period).

History (one row per period and node or lane; a period is named by its first day):

* ``demand_history(date, node, sku, quantity)``: end-customer demand (met or not);
* ``order_history(date, origin, destination, sku, quantity)``: orders placed on lanes;
* ``receipt_history(origin, destination, sku, shipped, received, quantity)``: shipments received
  (lead time ``received - shipped``, in periods);
* ``stock_history(date, node, sku, on_hand, backorders, sold)``: at the close of the period: on
  hand, units owed (to customers and to downstream nodes), units sold to customers.

Results (written by ``--write-back``, in one transaction):

* ``runs(run_id, created, scenario, as_of, periods, replications, seed, cost_per_period,
  fill_rate, kpis)``: one row per run, ``kpis`` the run's summary as JSON text;
* ``ledger(run_id, replication, period, date, node, sku, ...)``: the ledger columns
  (:mod:`reconciliation.ledger`) of every replication;
* ``recommendations(run_id, date, origin, destination, sku, quantity)``: the orders the run's
  policy places in its first period (replication 0), to execute today.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from reconciliation.ledger import LEDGER_COLUMNS

metadata = MetaData()


def _quantity(name: str, nullable: bool = False) -> Column:
    return Column(name, Float(53), nullable=nullable)


CALENDAR = Table(
    "calendar",
    metadata,
    Column("origin", Date, nullable=False),
    Column("period_days", Integer, nullable=False),
)

STOCK = Table(
    "stock",
    metadata,
    Column("as_of", Date, nullable=False),
    Column("node", String, nullable=False),
    Column("sku", String, nullable=False),
    _quantity("on_hand"),
    _quantity("backorders"),
    Index("stock_as_of", "as_of"),
)

CUSTOMER_ORDERS = Table(
    "customer_orders",
    metadata,
    Column("as_of", Date, nullable=False),
    Column("order_id", String, nullable=False),
    Column("node", String, nullable=False),
    Column("sku", String, nullable=False),
    Column("ordered", Date, nullable=False),
    _quantity("quantity"),
    Index("customer_orders_as_of", "as_of"),
)

OPEN_ORDERS = Table(
    "open_orders",
    metadata,
    Column("as_of", Date, nullable=False),
    Column("order_id", String, nullable=False),
    Column("origin", String, nullable=False),
    Column("destination", String, nullable=False),
    Column("sku", String, nullable=False),
    Column("ordered", Date, nullable=False),
    _quantity("quantity"),
    Index("open_orders_as_of", "as_of"),
)

SHIPMENTS = Table(
    "shipments",
    metadata,
    Column("as_of", Date, nullable=False),
    Column("shipment_id", String, nullable=False),
    Column("origin", String, nullable=False),
    Column("destination", String, nullable=False),
    Column("sku", String, nullable=False),
    Column("shipped", Date, nullable=True),
    Column("expected", Date, nullable=False),
    _quantity("quantity"),
    Index("shipments_as_of", "as_of"),
)

DEMAND_HISTORY = Table(
    "demand_history",
    metadata,
    Column("date", Date, nullable=False),
    Column("node", String, nullable=False),
    Column("sku", String, nullable=False),
    _quantity("quantity"),
)

ORDER_HISTORY = Table(
    "order_history",
    metadata,
    Column("date", Date, nullable=False),
    Column("origin", String, nullable=False),
    Column("destination", String, nullable=False),
    Column("sku", String, nullable=False),
    _quantity("quantity"),
)

RECEIPT_HISTORY = Table(
    "receipt_history",
    metadata,
    Column("origin", String, nullable=False),
    Column("destination", String, nullable=False),
    Column("sku", String, nullable=False),
    Column("shipped", Date, nullable=False),
    Column("received", Date, nullable=False),
    _quantity("quantity"),
)

STOCK_HISTORY = Table(
    "stock_history",
    metadata,
    Column("date", Date, nullable=False),
    Column("node", String, nullable=False),
    Column("sku", String, nullable=False),
    _quantity("on_hand"),
    _quantity("backorders"),
    _quantity("sold"),
)

RUNS = Table(
    "runs",
    metadata,
    Column("run_id", String, primary_key=True),
    Column("created", DateTime, nullable=False),
    Column("scenario", Text, nullable=False),
    Column("as_of", Date, nullable=True),
    Column("periods", Integer, nullable=False),
    Column("replications", Integer, nullable=False),
    Column("seed", BigInteger, nullable=False),
    _quantity("cost_per_period", nullable=True),
    _quantity("fill_rate", nullable=True),
    Column("kpis", Text, nullable=False),
)

LEDGER = Table(
    "ledger",
    metadata,
    Column("run_id", String, nullable=False),
    Column("replication", Integer, nullable=False),
    Column("period", Integer, nullable=False),
    Column("date", Date, nullable=True),
    *(
        Column(name, String, nullable=False)
        if name in ("node", "sku", "tier")
        else Column(name, Integer, nullable=False)
        if name == "echelon"
        else _quantity(name)
        for name in LEDGER_COLUMNS
        if name != "period"
    ),
    Index("ledger_run", "run_id"),
)

RECOMMENDATIONS = Table(
    "recommendations",
    metadata,
    Column("run_id", String, nullable=False),
    Column("date", Date, nullable=True),
    Column("origin", String, nullable=False),
    Column("destination", String, nullable=False),
    Column("sku", String, nullable=False),
    _quantity("quantity"),
)

STATE_TABLES = (STOCK, CUSTOMER_ORDERS, OPEN_ORDERS, SHIPMENTS)
HISTORY_TABLES = (DEMAND_HISTORY, ORDER_HISTORY, RECEIPT_HISTORY, STOCK_HISTORY)
OUTPUT_TABLES = (RUNS, LEDGER, RECOMMENDATIONS)
INPUT_TABLES = (CALENDAR, *STATE_TABLES, *HISTORY_TABLES)
