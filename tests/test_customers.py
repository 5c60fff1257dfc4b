"""Intra-period customers, patience and partial backorders: laws stated on small runs.

* Arrivals are a Poisson process: counts per period have mean and variance ``rate``; times lie
  strictly inside their period, in order; customers are drawn the same whatever the policy.
* Patience: with no stock ever, every customer waits and leaves after exactly its patience, so the
  lost sales booked by period ``t`` are the sizes of the customers whose ``arrival + patience``
  falls in periods ``<= t``.
* Partial backorders: of each unmet demand the fraction ``backlog_fraction`` is backordered and the
  rest lost (Zipkin, *Foundations of Inventory Management*, 2000).
* The epoch observation of a node with intra-period customers carries last period's demand.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from agents.base import OrderDecision
from entities.customers import CustomerArrivals
from twin import Simulation, load_scenario, scenario_from_dict


def one_store(store: dict[str, Any], *, quantity: float = 0.0, periods: int = 30, seed: int = 4) -> Any:
    return scenario_from_dict(
        {
            "name": "customers",
            "seed": seed,
            "periods": periods,
            "nodes": [
                {"id": "P", "kind": "supplier"},
                {"id": "S", "kind": "store", "holding_cost": 1, "stockout_cost": 3, **store},
            ],
            "lanes": [{"from": "P", "to": "S", "lead_time": 1}],
            "agents": [{"nodes": ["S"], "kind": "constant", "params": {"quantity": quantity}}],
        },
        source="test.yaml",
    )


def run(scenario, replication: int = 0):
    sim = Simulation(scenario, replication=replication, audit=True)
    rows = [r for r in sim.run().rows if r.node == "S"]
    return sim, rows, sim.network.demands[0]


def test_arrivals_are_a_poisson_process_inside_each_period():
    s = one_store({"customers": {"rate": 6.5}}, periods=2000, quantity=7)
    _, rows, process = run(s)
    assert isinstance(process, CustomerArrivals)
    counts = process.counts
    assert abs(counts.mean() - 6.5) < 5 * math.sqrt(6.5 / len(counts))
    assert abs(counts.var(ddof=1) - 6.5) < 6 * 6.5 * math.sqrt(2 / len(counts))
    times = process.times
    period = np.repeat(np.arange(len(counts)), counts)
    assert np.all(np.floor(times) == period) and np.all(times > period)
    assert np.all(np.diff(times) >= 0)
    # Unit sizes: each period's demand is its number of customers.
    assert [r.demand for r in rows] == counts.astype(float).tolist()


def test_customers_are_the_same_whatever_the_policy():
    a = run(one_store({"customers": {"rate": 4, "size": {"dist": "poisson", "mean": 3}}}, quantity=0))[2]
    b = run(one_store({"customers": {"rate": 4, "size": {"dist": "poisson", "mean": 3}}}, quantity=20))[
        2
    ]
    assert np.array_equal(a.counts, b.counts) and np.array_equal(a.times, b.times)
    assert np.array_equal(a.sizes, b.sizes)


@pytest.mark.parametrize("unmet, fraction", [("backlog", None), ("partial", 0.7)])
def test_impatient_customers_leave_after_their_patience(unmet, fraction):
    store: dict[str, Any] = {
        "customers": {
            "rate": 3,
            "size": {"dist": "uniform_int", "low": 1, "high": 4},
            "patience": {"dist": "uniform", "low": 0, "high": 3},
        },
        "unmet_demand": unmet,
    }
    if fraction is not None:
        store["backlog_fraction"] = fraction
    _, rows, process = run(one_store(store, quantity=0))  # never any stock
    f = 1.0 if fraction is None else fraction
    leave = process.times + process.patience
    arrived = np.floor(process.times)
    for r in rows:
        # lost on arrival (1 - f of each basket) + the waiting part of those whose patience ends now
        on_arrival = (1 - f) * process.sizes[arrived == r.period].sum()
        leaving = f * process.sizes[np.floor(leave) == r.period].sum()
        assert r.lost_sales == pytest.approx(on_arrival + leaving), r
        waiting = f * process.sizes[(arrived <= r.period) & (np.floor(leave) > r.period)].sum()
        assert r.backorders == pytest.approx(waiting), r
        assert r.sold == 0.0


def test_a_customer_served_before_its_patience_ends_stays():
    # Stock arrives every period (lead time 1): with a patience of 5 periods nobody leaves.
    store = {
        "customers": {"rate": 3, "patience": {"dist": "constant", "value": 5}},
        "initial_inventory": 0,
    }
    _, rows, _ = run(one_store(store, quantity=4, periods=60))
    assert sum(r.lost_sales for r in rows) == 0.0
    assert sum(r.sold for r in rows) + rows[-1].backorders == sum(r.demand for r in rows)


@pytest.mark.parametrize("fraction", [0.0, 0.25, 1.0])
def test_partial_backorders_split_each_unmet_demand(fraction):
    store = {
        "demand": {"dist": "poisson", "mean": 10},
        "initial_inventory": 4,
        "unmet_demand": "partial",
        "backlog_fraction": fraction,
    }
    _, rows, process = run(one_store(store, quantity=0, periods=10))
    demand = process.quantities
    unmet_first = max(0.0, demand[0] - 4)
    assert rows[0].sold == min(4.0, demand[0])
    assert rows[0].lost_sales == pytest.approx((1 - fraction) * unmet_first)
    # No stock ever after: every later demand is unmet, split the same way.
    for r in rows[1:]:
        assert r.lost_sales == pytest.approx((1 - fraction) * demand[r.period])
    assert rows[-1].backorders == pytest.approx(fraction * (demand.sum() - rows[0].sold))


def test_partial_backorders_are_served_when_stock_comes():
    store = {
        "demand": {"dist": "constant", "value": 10},
        "unmet_demand": "partial",
        "backlog_fraction": 0.5,
    }
    _, rows, _ = run(one_store(store, quantity=15, periods=6))
    # Period 0: nothing on hand, 5 lost, 5 backordered; from period 1 on, 15 arrive each period:
    # the demand of 10 is served after the 5 owed... the backlog is cleared at once.
    assert (rows[0].lost_sales, rows[0].backorders) == (5.0, 5.0)
    assert rows[1].sold == 15.0 and rows[1].backorders == 0.0 and rows[1].lost_sales == 0.0


class Recorder:
    """A constant-order agent that keeps the observations it was given."""

    def __init__(self) -> None:
        self.seen: list[Any] = []

    def reset(self, *, seed: int | None = None) -> None:
        pass

    def act(self, observations):
        self.seen.extend(observations.values())
        return {n: OrderDecision({o.lanes[0]: 5.0}) for n, o in observations.items()}


def test_intra_period_nodes_observe_last_period_demand():
    s = one_store({"customers": {"rate": 5, "size": {"dist": "poisson", "mean": 2}}}, periods=25)
    recorder = Recorder()
    sim = Simulation(s, agents={0: recorder}, audit=True)
    rows = [r for r in sim.run().rows if r.node == "S"]
    demand = [r.demand for r in rows]
    assert [o.last_demand for o in recorder.seen] == [0.0, *demand[:-1]]
    window = s.forecast_window
    for t, o in enumerate(recorder.seen[1:], start=1):
        past = demand[max(0, t - window) : t]
        assert o.forecast == pytest.approx(sum(past) / len(past)), t


def test_store_day_scenario_runs_and_keeps_its_customer_laws():
    s = load_scenario("scenarios/store_day.yaml", {"periods": 40})
    for r in range(2):
        sim = Simulation(s, replication=r, audit=True)
        rows = sim.run().rows
        for node in ("corner", "kiosk"):
            mine = [x for x in rows if x.node == node]
            total = sum(x.demand for x in mine)
            gone = sum(x.sold for x in mine) + sum(x.lost_sales for x in mine)
            assert total == pytest.approx(gone + mine[-1].backorders)
        process = {d.node.id: d for d in sim.network.demands}["corner"]
        assert process.reneged > 0.0  # impatient customers do leave in this scenario


def test_effects_scale_the_arrival_rate():
    effects = {"seasonality": {"period": 4, "amplitude": 0.5}, "shocks": [{"start": 2, "magnitude": 2}]}
    s = one_store({"customers": {"rate": 6}, "demand_effects": effects}, periods=8, quantity=9)
    counts = np.array([run(s, r)[2].counts for r in range(400)])
    m = 1 + 0.5 * np.sin(2 * np.pi * np.arange(8) / 4)
    m[2] *= 2
    for t in range(8):
        assert abs(counts[:, t].mean() - 6 * m[t]) <= 5 * math.sqrt(6 * m[t] / 400) + 1e-9, t


def test_goodwill_thins_the_customers_of_a_starved_store():
    def customers(quantity: float):
        s = one_store(
            {
                "customers": {"rate": 8},
                "demand_effects": {"goodwill": {"drop": 0.6, "recovery": 0.05, "minimum": 0.3}},
                "initial_inventory": quantity,
            },
            quantity=quantity,
            periods=150,
        )
        _, rows, process = run(s)
        return np.array([r.demand for r in rows]), process

    stocked, p_stocked = customers(30)
    starved, p_starved = customers(3)
    assert p_stocked.levels == [1.0] * 150  # never out of stock: every customer comes
    assert np.all(starved <= stocked)  # the same customers, fewer of them come (thinning)
    assert starved.sum() < 0.7 * stocked.sum()
    assert min(p_starved.levels) >= 0.3
