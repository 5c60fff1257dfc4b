"""A starting state: every unit on hand, owed or in transit enters the books, and the audit holds.

Laws checked here (twin.scenario.state, twin.engine.state):

* a state with stock in every place (on hand at every stock point, backorders owed to customers
  and to downstream lanes, shipments in transit due in several periods, production under way)
  is in the books before the run exactly as given (read back with ``capture_state``), the first
  period's opening on hand is the state's, and every ledger identity holds every period
  (the run's audit raises otherwise), for any state (a property test);
* a run started from the state captured at the end of another continues where it stopped;
* calendar-dated inputs are shifted so that period 0 is the as-of date;
* runs from one date share their random numbers (common random numbers across variants).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from entities.demand import DemandEffects, Shock
from entities.errors import DataError
from entities.messages import PRODUCTION
from twin import load_scenario, scenario_from_dict
from twin.engine import Simulation
from twin.engine.state import StartFrom, capture_state
from twin.scenario.edit import source_data
from twin.scenario.skus import stock_view
from twin.scenario.state import (
    CustomerOrder,
    InTransit,
    OpenOrder,
    StartingState,
    check_state,
    lane_ends,
    scenario_at,
    shift_outage,
    stream_seed,
)

SCENARIOS = ["serial_3stage", "hmarl_3store", "multi_sku_bom", "constrained_network", "liu_serial"]


def _scenario(name: str, periods: int = 12) -> Any:
    return load_scenario(
        f"scenarios/{name}.yaml", {"periods": periods, "warmup_periods": 0, "replications": 1}
    )


def _lines(scenario: Any) -> list[tuple[str, str, str]]:
    """``(origin, destination, sku)`` of every lane, production lines of decided sources too."""
    view = stock_view(scenario)
    lines = [lane_ends(scenario, ln.id) for ln in view.lanes]
    fed = {ln.destination for ln in view.lanes}
    decided = {n for i in range(len(view.agents)) for n in view.agent_nodes(i)}
    for node in view.nodes:
        if node.id not in fed and node.id in decided:
            lines.append(lane_ends(scenario, f"{PRODUCTION}->{node.id}"))
    return lines


def full_state(scenario: Any, scale: float = 1.0) -> StartingState:
    """Stock in every place: on hand everywhere, two customer orders at every node with customers,
    two open orders and three shipments in transit (due 0, 1 and 3) on every lane."""
    view = stock_view(scenario)
    on_hand = {}
    customers = []
    for k, node in enumerate(view.nodes):
        location, sku = view.stock_point(node.id)
        on_hand[(location, sku)] = scale * (3 + k % 5)
        if node.demand is not None or node.customers is not None or node.demand_series is not None:
            customers += [
                CustomerOrder(location, sku, scale * 2.0, -3),
                CustomerOrder(location, sku, scale * 1.5, -1),
            ]
    orders, transit = [], []
    for k, (origin, destination, sku) in enumerate(_lines(scenario)):
        orders += [
            OpenOrder(origin, destination, sku, scale * (1 + k % 3), -2),
            OpenOrder(origin, destination, sku, scale * 2.5, -1),
        ]
        transit += [InTransit(origin, destination, sku, scale * (2 + k % 4), due) for due in (0, 1, 3)]
    return StartingState(
        on_hand=on_hand,
        customer_orders=tuple(customers),
        open_orders=tuple(orders),
        in_transit=tuple(transit),
        as_of=dt.date(2025, 3, 3),
    )


def _books(state: StartingState) -> dict[str, Any]:
    """What a state says, in a form independent of the order and grouping of its records (records
    of no units say nothing)."""
    transit: dict[tuple, float] = defaultdict(float)
    for s in state.in_transit:
        if s.quantity > 0:
            transit[(s.origin, s.destination, s.sku, s.due)] += s.quantity
    production: dict[tuple, float] = defaultdict(float)  # a production line owes one total
    for o in state.open_orders:
        if o.origin == PRODUCTION and o.quantity > 0:
            production[(o.destination, o.sku)] += o.quantity
    return {
        "on_hand": {k: v for k, v in state.on_hand.items() if v > 0},
        "customers": sorted(
            (c.node, c.sku, c.period, c.quantity) for c in state.customer_orders if c.quantity > 0
        ),
        "orders": sorted(
            (o.origin, o.destination, o.sku, o.period, o.quantity)
            for o in state.open_orders
            if o.origin != PRODUCTION and o.quantity > 0
        ),
        "production": {k: pytest.approx(v) for k, v in production.items()},
        "transit": {k: pytest.approx(v) for k, v in transit.items()},
    }


@pytest.mark.parametrize("name", SCENARIOS)
def test_a_state_with_stock_in_every_place_enters_the_books_and_the_audit_holds(name: str) -> None:
    scenario = _scenario(name)
    state = full_state(scenario)
    check_state(scenario, state)
    prepared = scenario_at(scenario, state)
    sim = Simulation(prepared, setup=StartFrom(state))

    assert _books(capture_state(sim.network, 0)) == _books(state)
    released = sum(n.released for n in sim.network.nodes)
    assert released == pytest.approx(
        sum(state.on_hand.values()) + sum(s.quantity for s in state.in_transit), rel=1e-12
    )
    for node in sim.network.nodes:
        owed_downstream = sum(ln.owed for ln in node.outbound)
        assert node.backorders == pytest.approx(node.customer_backorders + owed_downstream)
        assert node.on_order == pytest.approx(sum(ln.owed + ln.in_transit for ln in node.inbound))

    result = sim.run()  # audited every period: a broken identity raises ReconciliationError
    first = {(r.node, r.sku): r for r in result.rows if r.period == 0}
    view = stock_view(scenario)
    for node in view.nodes:
        key = view.stock_point(node.id)
        assert first[key].opening_on_hand == state.on_hand.get(key, 0.0)
    assert len(result.rows) == prepared.periods * len(view.nodes)


STATES = st.fixed_dictionaries(
    {
        "scale": st.floats(0.0, 50.0, allow_nan=False),
        "drop_on_hand": st.booleans(),
        "periods": st.lists(st.integers(-30, -1), min_size=4, max_size=4),
        "dues": st.lists(st.integers(0, 9), min_size=3, max_size=3),
    }
)


@settings(max_examples=25)
@given(STATES)
def test_any_state_keeps_every_ledger_identity(params: dict[str, Any]) -> None:
    scenario = _scenario("hmarl_3store", periods=10)
    base = full_state(scenario, params["scale"])
    p = params["periods"]
    state = StartingState(
        on_hand={} if params["drop_on_hand"] else base.on_hand,
        customer_orders=tuple(
            CustomerOrder(c.node, c.sku, c.quantity, p[k % 4])
            for k, c in enumerate(base.customer_orders)
        ),
        open_orders=tuple(
            OpenOrder(o.origin, o.destination, o.sku, o.quantity, p[k % 4])
            for k, o in enumerate(base.open_orders)
        ),
        in_transit=tuple(
            InTransit(s.origin, s.destination, s.sku, s.quantity, params["dues"][k % 3])
            for k, s in enumerate(base.in_transit)
        ),
    )
    sim = Simulation(scenario_at(scenario, state), setup=StartFrom(state))
    assert _books(capture_state(sim.network, 0)) == _books(state)
    sim.run()


def test_a_run_from_the_captured_state_continues_where_the_other_stopped() -> None:
    """Deterministic demand and lead times: 30 periods in one run == 15, then 15 from the state
    at the end of the first (every ledger column of every period, to rounding)."""
    data = load_scenario("scenarios/serial_3stage.yaml").to_yaml_dict()
    for node in data["nodes"]:
        if node.get("demand") is not None:
            node["demand"] = 5
    for lane in data["lanes"]:
        lane["lead_time"] = {"dist": "constant", "value": lane["lead_time"]["value"] + 1}
    data |= {"warmup_periods": 0, "replications": 1}
    whole = Simulation(scenario_from_dict({**data, "periods": 30})).run()
    first = Simulation(scenario_from_dict({**data, "periods": 15}))
    first.run()
    state = capture_state(first.network, 15)
    assert state.in_transit and state.customer_orders and state.open_orders
    second_scenario = scenario_from_dict({**data, "periods": 15})
    second = Simulation(scenario_at(second_scenario, state), setup=StartFrom(state)).run()
    later = [r._replace(period=r.period - 15) for r in whole.rows if r.period >= 15]
    assert len(later) == len(second.rows)
    for a, b in zip(later, second.rows, strict=True):  # equal up to the order of float additions
        assert a[:5] == b[:5]
        assert a[5:] == pytest.approx(b[5:], rel=1e-12, abs=1e-12), a.node


def _effects(config: Any) -> DemandEffects:
    season = config.seasonality
    return DemandEffects(
        trend=config.trend,
        season_period=None if season is None else season.period,
        season_amplitude=0.0 if season is None else season.amplitude,
        season_phase=0.0 if season is None else season.phase,
        shocks=tuple(Shock(s.start, s.magnitude, s.duration) for s in config.shocks),
    )


@pytest.mark.parametrize("offset", [0, 1, 6, 7, 40, 200])
def test_calendar_dated_demand_effects_move_to_the_as_of_date(offset: int) -> None:
    """Period t of a run from offset k has the multiplier of period t + k of the scenario."""
    data = _scenario("serial_3stage", periods=60).to_yaml_dict()
    data["nodes"][0]["demand_effects"] = {
        "trend": -0.002,
        "seasonality": {"period": 7, "amplitude": 0.3, "phase": 2.5},
        "shocks": [{"start": 3, "magnitude": 1.5, "duration": 10}, {"start": 45, "magnitude": 0.5}],
    }
    scenario = scenario_from_dict(data)
    shifted = scenario_at(scenario, StartingState(offset=offset))
    before = _effects(scenario.nodes[0].demand_effects).multipliers(offset + 60)
    after = _effects(shifted.nodes[0].demand_effects).multipliers(60)
    assert after == pytest.approx(before[offset:], rel=1e-12, abs=1e-12)


def test_outage_windows_move_to_the_as_of_date() -> None:
    windows = {"windows": [{"start": 2, "duration": 3}, {"start": 10, "duration": 5}]}  # 2-4, 10-14
    assert shift_outage(windows, 4) == {
        "windows": [{"start": 0, "duration": 1}, {"start": 6, "duration": 5}]
    }
    assert shift_outage(windows, 12) == {"windows": [{"start": 0, "duration": 3}]}
    assert shift_outage(windows, 15) is None
    markov = {"windows": [{"start": 0, "duration": 1}], "markov": {"fail": 0.1, "recover": 0.5}}
    assert shift_outage(markov, 3) == {"windows": [], "markov": {"fail": 0.1, "recover": 0.5}}


def test_initial_stock_of_the_scenario_gives_way_to_the_state() -> None:
    scenario = _scenario("liu_serial")
    assert any(ln.initial_pipeline for ln in scenario.lanes)
    prepared = scenario_at(scenario, StartingState())
    assert all(n.initial_inventory == 0 for n in prepared.nodes)
    assert all(not ln.initial_pipeline for ln in prepared.lanes)
    empty = Simulation(prepared, setup=StartFrom(StartingState())).run()
    assert all(r.opening_on_hand == 0 for r in empty.rows if r.period == 0)


def test_every_stock_point_of_a_multi_sku_scenario_starts_from_the_state() -> None:
    """Initial stock given per SKU of a node and in a SKU's defaults gives way to the state; the
    outages of a stock point and of a SKU's defaults move to the as-of date like a node's."""
    data = source_data(_scenario("multi_sku_bom"))
    data["skus"][0]["defaults"].update(
        initial_inventory=5, outage={"windows": [{"start": 2, "duration": 3}]}
    )
    factory = next(n for n in data["nodes"] if n["id"] == "F")
    factory["per_sku"]["R2"]["outage"] = {
        "windows": [{"start": 1, "duration": 2}, {"start": 9, "duration": 1}]
    }
    scenario = scenario_from_dict(data, source="multi_sku_bom")
    assert sum(n.initial_inventory for n in stock_view(scenario).nodes) > 0
    prepared = scenario_at(scenario, StartingState(offset=2))
    view = stock_view(prepared)
    assert all(n.initial_inventory == 0 for n in view.nodes)
    outages = {n.id: n.outage.windows for n in view.nodes if n.outage is not None}
    windows = {k: [(w.start, w.duration) for w in v] for k, v in outages.items()}
    assert windows == {"SUP/R1": [(0, 3)], "F/R1": [(0, 3)], "F/R2": [(0, 1), (7, 1)]}


def test_runs_from_one_date_share_their_random_numbers_and_other_dates_do_not() -> None:
    scenario = _scenario("hmarl_3store", periods=20)
    day = dt.date(2025, 3, 3)
    assert stream_seed(7, day) == stream_seed(7, day)
    assert len({stream_seed(7, day + dt.timedelta(days=k)) for k in range(50)}) == 50
    state = full_state(scenario)

    def customer_demand(s: Any) -> list[float]:
        rows = Simulation(scenario_at(s, state), setup=StartFrom(state)).run().rows
        return [r.demand for r in rows if r.node.startswith("store")]

    variant = scenario_from_dict(
        {
            **scenario.to_yaml_dict(),
            "agents": [
                {"tier": "store", "kind": "base_stock", "params": {"base_stock_level": 150}},
                {"nodes": ["warehouse_1"], "kind": "s_S", "params": {"s": 300, "S": 900}},
                {"nodes": ["supplier_1"], "kind": "base_stock", "params": {"base_stock_level": 900}},
            ],
        }
    )
    assert customer_demand(scenario) == customer_demand(variant)
    later = StartingState(**{**state.__dict__, "as_of": day + dt.timedelta(days=1)})
    rows = Simulation(scenario_at(scenario, later), setup=StartFrom(later)).run().rows
    assert [r.demand for r in rows if r.node.startswith("store")] != customer_demand(scenario)


@pytest.mark.parametrize(
    ("state", "message"),
    [
        (
            StartingState(on_hand={("stor_1", "default"): 1.0}),
            "'stor_1' is not a node; did you mean 'store_1'?",
        ),
        (StartingState(on_hand={("store_1", "P"): 1.0}), "'P' is not a SKU of the scenario"),
        (
            StartingState(on_hand={("store_1", "default"): -1.0}),
            "on_hand: must be a finite number >= 0, got -1.0",
        ),
        (
            StartingState(
                in_transit=(
                    InTransit("store_1", "store_2", "default", 3.0, 1, "shipments[shipment_id='S7']"),
                )
            ),
            "shipments[shipment_id='S7']: no lane 'store_1->store_2' in the scenario (lanes into 'store_2': warehouse_1->store_2)",
        ),
        (
            StartingState(
                open_orders=(
                    OpenOrder(
                        "warehouse_1", "store_1", "default", math.nan, -1, "open_orders[order_id='O1']"
                    ),
                )
            ),
            "open_orders[order_id='O1'].quantity: must be a finite number >= 0, got nan",
        ),
        (
            StartingState(
                in_transit=(
                    InTransit(
                        "warehouse_1", "store_1", "default", 1.0, -2, "shipments[shipment_id='S1']"
                    ),
                )
            ),
            "shipments[shipment_id='S1']: due period -2 is before the start",
        ),
        (
            StartingState(
                open_orders=(
                    OpenOrder(
                        PRODUCTION, "warehouse_1", "default", 1.0, -1, "open_orders[order_id='O2']"
                    ),
                )
            ),
            "no lane 'production->warehouse_1'",
        ),
    ],
)
def test_a_state_that_does_not_fit_the_scenario_is_refused_naming_the_record(
    state: StartingState, message: str
) -> None:
    scenario = _scenario("hmarl_3store")
    state = StartingState(**{**state.__dict__, "source": "data.db"})
    with pytest.raises(DataError) as err:
        check_state(scenario, state)
    assert str(err.value).startswith("data.db: ")
    assert message in str(err.value)
