"""The columnar ledger: what it records, what it derives, and that reading it back gives the rows.

Laws checked here: a sparse layout (only the flows that can happen at a stock point) loses nothing
against recording every flow everywhere; derived columns (opening stock, units in transit and
ordered, costs) follow their definitions; views of a period, rows and Arrow batches all read the
same numbers; compacting a finished ledger changes no value; the event trace kept in compact
columns (spilled to a file beyond its buffer) reads back as the messages.
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import twin.engine.record as record
from entities.messages import Order, Shipment
from reconciliation import costs
from reconciliation.ledger import (
    COST_COLUMNS,
    LEDGER_COLUMNS,
    NODE_FLOWS,
    QUANTITY_COLUMNS,
    LedgerPeriod,
)
from reconciliation.trace import Trace
from twin import Simulation, load_scenario, scenario_from_dict

sys.path.insert(0, str(Path(__file__).parent))

from test_conservation import scenario_dicts  # noqa: E402

SCENARIOS = sorted((Path(__file__).resolve().parents[1] / "scenarios").glob("*.yaml"))


def short(path: Path, periods: int = 40) -> object:
    horizon = {"retail_1000": 8, "demand_series": 40}.get(path.stem, periods)
    return load_scenario(path, {"periods": horizon, "warmup_periods": 0, "replications": 2})


def every_flow(node: object, network: object) -> tuple[str, ...]:
    return NODE_FLOWS


# --------------------------------------------------------------------------------------------------
# What is recorded.


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_the_sparse_layout_loses_nothing(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Recording only the flows that can happen at each stock point gives the same ledger as
    recording every flow at every stock point: no flow happens where it is not recorded."""
    scenario = short(path)
    sparse = Simulation(scenario, replication=1).run()
    monkeypatch.setattr(record, "node_flows", every_flow)
    dense = Simulation(scenario, replication=1).run()
    assert dense.ledger.layout.width > sparse.ledger.layout.width
    for name in QUANTITY_COLUMNS:
        assert np.array_equal(sparse.ledger.column(name), dense.ledger.column(name)), name


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=scenario_dicts())
def test_the_sparse_layout_loses_nothing_on_random_networks(data: dict) -> None:
    scenario = scenario_from_dict(data)
    sparse = Simulation(scenario).run()
    original = record.node_flows
    record.node_flows = every_flow  # type: ignore[assignment]
    try:
        dense = Simulation(scenario).run()
    finally:
        record.node_flows = original
    for name in QUANTITY_COLUMNS:
        assert np.array_equal(sparse.ledger.column(name), dense.ledger.column(name)), name


def test_a_store_records_fewer_flows_than_a_warehouse() -> None:
    scenario = load_scenario(Path("scenarios/hmarl_3store.yaml"), {"periods": 5, "warmup_periods": 0})
    layout = Simulation(scenario).run().ledger.layout
    store, warehouse = layout.stock_points.index("store_1"), layout.stock_points.index("warehouse_1")
    recorded = {name for name, cells in layout.node_cells.items() if store in cells.entities.tolist()}
    assert "shipped" not in recorded and "produced" not in recorded and "sold" in recorded
    assert warehouse in layout.node_cells["shipped"].entities.tolist()
    assert warehouse not in layout.node_cells["sold"].entities.tolist()


# --------------------------------------------------------------------------------------------------
# What is derived.


@pytest.mark.parametrize("name", ["constrained_network", "multi_sku_bom", "disruptions", "liu_net_2x3"])
def test_derived_columns_follow_their_definitions(name: str) -> None:
    scenario = load_scenario(
        Path(f"scenarios/{name}.yaml"), {"periods": 60, "warmup_periods": 0, "replications": 1}
    )
    sim = Simulation(scenario)
    ledger = sim.run().ledger
    layout, rates = ledger.layout, ledger.layout.rates
    closing = ledger.column("closing_on_hand")
    opening = ledger.column("opening_on_hand")
    assert np.array_equal(opening[1:], closing[:-1])
    assert np.array_equal(opening[0], layout.initial_on_hand)
    in_transit = ledger.lane_flow("in_transit")
    ordered = ledger.lane_flow("ordered")
    orders = ledger.lane_flow("orders")
    inbound = ledger.column("in_transit_inbound")
    for i in range(layout.size):
        mine = rates.lane_destination == i
        assert np.allclose(inbound[:, i], in_transit[:, mine].sum(axis=1), rtol=1e-12, atol=0)
        assert np.allclose(ledger.column("ordered")[:, i], ordered[:, mine].sum(axis=1), rtol=1e-12)
        assert np.allclose(
            ledger.column("transit_holding_cost")[:, i],
            (in_transit[:, mine] * rates.transit[mine]).sum(axis=1),
            rtol=1e-12,
        )
        assert np.allclose(
            ledger.column("ordering_cost")[:, i],
            (orders[:, mine] * rates.fixed[mine] + ordered[:, mine] * rates.unit[mine]).sum(axis=1),
            rtol=1e-12,
        )
    assert np.array_equal(ledger.column("holding_cost"), rates.holding * closing)
    lost, backorders = ledger.column("lost_sales"), ledger.column("backorders")
    assert np.array_equal(ledger.column("stockout_cost"), rates.stockout * (backorders + lost))
    above = np.maximum(closing - rates.storage_capacity, 0.0)
    assert np.array_equal(ledger.column("overflow_cost"), rates.overflow * above)
    parts = sum(ledger.column(c) for c in COST_COLUMNS[:-1])
    assert np.allclose(ledger.column("total_cost"), parts, rtol=1e-12, atol=0)


def test_costs_of_made_up_flows() -> None:
    """Two stock points, three lanes (two into the first): every formula of reconciliation.costs."""
    rates = costs.CostRates(
        holding=np.array([2.0, 0.5]),
        stockout=np.array([10.0, 0.0]),
        overflow=np.array([3.0, 0.0]),
        storage_capacity=np.array([4.0, np.inf]),
        lane_destination=np.array([0, 0, 1]),
        lane_slot=np.array([0, 1, 0]),
        transit=np.array([0.25, 1.0, 0.0]),
        fixed=np.array([100.0, 0.0, 5.0]),
        unit=np.array([1.0, 2.0, 0.0]),
    )
    out = costs.cost_columns(
        closing_on_hand=np.array([6.0, 8.0]),
        backorders=np.array([1.0, 0.0]),
        lost_sales=np.array([2.0, 0.0]),
        lane_in_transit=np.array([4.0, 3.0, 9.0]),
        lane_orders=np.array([1.0, 0.0, 2.0]),
        lane_ordered=np.array([10.0, 7.0, 0.0]),
        rates=rates,
    )
    assert out["holding_cost"].tolist() == [12.0, 4.0]
    assert out["transit_holding_cost"].tolist() == [0.25 * 4 + 1.0 * 3, 0.0]
    assert out["stockout_cost"].tolist() == [30.0, 0.0]
    assert out["overflow_cost"].tolist() == [6.0, 0.0]  # 2 units above a capacity of 4
    assert out["ordering_cost"].tolist() == [100.0 + 10.0 + 14.0, 10.0]
    assert out["total_cost"].tolist() == [12 + 4 + 30 + 6 + 124, 4.0 + 10.0]


# --------------------------------------------------------------------------------------------------
# Reading it back.


def test_rows_views_and_batches_read_the_same_numbers() -> None:
    scenario = load_scenario(Path("scenarios/multi_sku_bom.yaml"), {"periods": 30, "warmup_periods": 0})
    result = Simulation(scenario).run()
    ledger, rows = result.ledger, result.rows
    assert len(rows) == 30 * ledger.layout.size
    for name in QUANTITY_COLUMNS:
        assert [getattr(r, name) for r in rows] == ledger.column(name).ravel().tolist()
    period = ledger.period(7)
    assert isinstance(period, LedgerPeriod) and list(period) == rows[7 * len(period) : 8 * len(period)]
    node = period[0].node
    assert period.rows_of(node) == [r for r in period if r.node == node]
    assert period.column("total_cost").tolist() == [r.total_cost for r in period]
    table = ledger.to_arrow(replication=3)
    assert table.column_names == ["replication", *LEDGER_COLUMNS]
    assert table.num_rows == len(rows) and set(table.column("replication").to_pylist()) == {3}
    assert table.column("node").to_pylist() == [r.node for r in rows]
    assert table.column("holding_cost").to_pylist() == [r.holding_cost for r in rows]


def test_an_agent_observing_the_ledger_is_handed_each_closed_period() -> None:
    from agents.base import Agent, order

    class Listener(Agent):
        observes_ledger = True

        def __init__(self) -> None:
            self.seen: list[tuple[int, list]] = []

        def observe_ledger(self, rows):  # noqa: ANN001
            self.seen.append((rows.period, [r.closing_on_hand for r in rows]))

        def act(self, observations):  # noqa: ANN001
            return {n: order(o, o.last_demand) for n, o in observations.items()}

    scenario = load_scenario(Path("scenarios/serial_3stage.yaml"), {"periods": 12, "warmup_periods": 0})
    listener = Listener()
    ledger = Simulation(scenario, agents={0: listener}).run().ledger
    closing = ledger.column("closing_on_hand")
    assert listener.seen == [(t, closing[t].tolist()) for t in range(12)]


@pytest.mark.parametrize("name, whole", [("liu_serial", True), ("hmarl_3store", False)])
def test_finishing_a_ledger_keeps_every_value_and_narrows_whole_unit_series(name, whole) -> None:
    scenario = load_scenario(Path(f"scenarios/{name}.yaml"), {"periods": 200, "warmup_periods": 0})
    sim = Simulation(scenario)
    sim.ledger.finish = lambda *args, **kwargs: None  # type: ignore[method-assign]
    ledger = sim.run().ledger
    before = {name: ledger.column(name).copy() for name in QUANTITY_COLUMNS}
    values = ledger.values.copy()
    exact = (values.astype(np.float32) == values).all(axis=0)
    type(ledger).finish(ledger, smallest=0)
    for column in QUANTITY_COLUMNS:
        assert np.array_equal(ledger.column(column), before[column]), column
    assert ledger.nbytes == 200 * (4 * exact.sum() + 8 * (~exact).sum())
    assert bool(exact.all()) is whole  # Liu et al.'s chain moves whole units only
    with pytest.raises(ValueError, match="finished"):
        ledger.record(ledger.closed, [0.0] * ledger.layout.width)


def test_a_ledger_records_periods_in_turn() -> None:
    scenario = load_scenario(Path("scenarios/serial_3stage.yaml"), {"periods": 3, "warmup_periods": 0})
    ledger = Simulation(scenario).ledger
    with pytest.raises(ValueError, match="out of turn: next is period 0"):
        ledger.record(1, [0.0] * ledger.layout.width)


# --------------------------------------------------------------------------------------------------
# The event trace.


def test_the_trace_spills_to_a_file_and_reads_back_as_messages() -> None:
    trace = Trace(buffer_events=3)
    a, b = trace.lane_key("A->B"), trace.lane_key("B->C")
    assert trace.lane_key("A->B") == a
    trace.order(a, 0, 5.0, 2)
    trace.shipment(b, 1, 1.5, 3, 4.0, 0.5)
    trace.order(b, 2, 7.0, 2)
    trace.shipment(a, 2, 0.0, 2, 5.0, 0.0)  # the buffer spilled after the third event
    assert len(trace) == 4 and len(list(trace.chunks())) == 2
    expected = [
        Order(1, "A->B", 0, 5.0, 2),
        Shipment(2, "B->C", 1, 1.5, 3, 4.0, 0.5),
        Order(3, "B->C", 2, 7.0, 2),
        Shipment(4, "A->B", 2, 0.0, 2, 5.0, 0.0),
    ]
    assert list(trace) == expected and trace[1] == expected[1] and trace[-1] == expected[-1]
    assert trace == expected
    copy = pickle.loads(pickle.dumps(trace))
    assert copy == trace and list(copy) == expected
    trace.close()


def test_a_run_trace_matches_the_ledger() -> None:
    scenario = load_scenario(Path("scenarios/hmarl_3store.yaml"), {"periods": 50, "warmup_periods": 0})
    result = Simulation(scenario, trace=True).run()
    events = list(result.trace)
    assert [e.id for e in events] == list(range(1, len(events) + 1))
    ordered = result.ledger.column("ordered").sum(axis=0)
    for i, node in enumerate(result.ledger.layout.stock_points):
        placed = sum(e.quantity for e in events if isinstance(e, Order) and e.lane.endswith(f"->{node}"))
        assert placed == pytest.approx(ordered[i], rel=1e-12)


def test_a_long_line_is_drawn_from_its_envelope() -> None:
    from reconciliation.svg import MAX_POINTS, thin

    rng = np.random.default_rng(3)
    x = np.arange(21_003.0)
    y = rng.normal(size=x.size).cumsum()
    tx, ty = thin(x, y)
    size = -(-x.size // (MAX_POINTS // 2))  # 21,003 periods in buckets of 22 and a short tail
    whole = x.size // size * size
    assert len(tx) <= MAX_POINTS + size and np.all(np.diff(tx) > 0)  # in time order
    assert set(tx.astype(int)) <= set(x.astype(int)) and np.array_equal(ty, y[tx.astype(int)])
    for b in range(0, whole, size):
        part = y[b : b + size]
        assert part.min() in ty and part.max() in ty
    assert np.array_equal(ty[-(x.size - whole) :], y[whole:])  # the tail as it is
    short_x, short_y = x[:MAX_POINTS], y[:MAX_POINTS]
    assert thin(short_x, short_y)[0] is short_x  # a short line is drawn as it is
