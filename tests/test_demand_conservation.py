"""Stock is conserved with every demand feature (effects, customers, partial backorders):
a property test over random scenarios.

The networks come from ``tests/test_conservation.py``'s ``scenario_dicts``; every node with customer
demand is then given, at random, demand effects (trend, seasonality, shocks, goodwill), or
intra-period customers (sizes, patience), and lost, backlogged or partially backlogged unmet demand.
Each run keeps the audit on (every identity, every period) and the laws below are re-checked from
the ledger rows, since ``check_ledger_laws`` assumes aggregate demand without patience:

* ``opening + receipts - shipped - sold - consumed == closing``; quantities and costs >= 0;
  ``total_cost`` is the sum of its parts; stockout cost = rate * (backorders + lost sales);
* at a node without downstream lanes, cumulative ``demand == sold + lost_sales + backorders``;
* no lost sales under full backlog unless customers are impatient; no backorders under lost sales;
* demand is what was drawn: the aggregate draws, or the sizes of each period's customers (exact
  without goodwill; never more with it);
* the network: units released == sold + lost in transit + on hand + in transit, every period
  (the networks also carry the supply-side options of ``scenario_dicts``: outages, capacities,
  shipment loss, allocation and sourcing rules).
"""

from __future__ import annotations

import os
from collections import defaultdict
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from entities.customers import CustomerArrivals
from entities.demand import CustomerDemand
from reconciliation.ledger import COST_COLUMNS, NONNEGATIVE_COLUMNS
from tests.test_conservation import TOL, amounts, close, scenario_dicts
from twin import Simulation, scenario_from_dict
from twin.scenario.schema import NodeConfig, Scenario

MAX_EXAMPLES = int(os.environ.get("TWIN_HYPOTHESIS_EXAMPLES", "150"))

size_distributions = st.one_of(
    st.just({"dist": "constant", "value": 1}),
    st.builds(lambda m: {"dist": "poisson", "mean": m}, amounts(0, 4)),
    st.builds(
        lambda lo, w: {"dist": "uniform", "low": lo, "high": lo + w}, amounts(0, 3), amounts(0, 3)
    ),
)
patience_distributions = st.one_of(
    st.just({"dist": "constant", "value": 0}),
    st.builds(lambda v: {"dist": "constant", "value": v}, amounts(0, 3)),
    st.builds(
        lambda k, s: {"dist": "gamma", "shape": k, "scale": s}, amounts(0.3, 3), amounts(0.1, 1.5)
    ),
)


@st.composite
def effects(draw: st.DrawFn) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if draw(st.booleans()):
        out["trend"] = draw(amounts(-0.05, 0.05))
    if draw(st.booleans()):
        out["seasonality"] = {
            "period": draw(amounts(1, 12)),
            "amplitude": draw(amounts(0, 1)),
            "phase": draw(amounts(0, 7)),
        }
    if draw(st.booleans()):
        out["shocks"] = draw(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "start": st.integers(0, 30),
                        "magnitude": amounts(0, 3),
                        "duration": st.integers(1, 10),
                    }
                ),
                max_size=3,
            )
        )
    if draw(st.booleans()):
        out["goodwill"] = {
            "drop": draw(amounts(0, 1)),
            "recovery": draw(amounts(0, 0.5)),
            "minimum": draw(amounts(0.05, 1)),
        }
    return out


@st.composite
def demand_scenarios(draw: st.DrawFn) -> dict[str, Any]:
    data = draw(scenario_dicts())
    for node in data["nodes"]:
        if "demand" not in node:
            continue
        unmet = draw(st.sampled_from(["backlog", "lost", "partial"]))
        node["unmet_demand"] = unmet
        if unmet == "partial":
            node["backlog_fraction"] = draw(amounts(0, 1))
        if draw(st.booleans()):  # intra-period customers instead of an aggregate
            node.pop("demand")
            customers: dict[str, Any] = {"rate": draw(amounts(0.1, 8))}
            if draw(st.booleans()):
                customers["size"] = draw(size_distributions)
            if unmet != "lost" and draw(st.booleans()):
                customers["patience"] = draw(patience_distributions)
            node["customers"] = customers
        if draw(st.booleans()):
            node["demand_effects"] = draw(effects())
    return data


def check_demand_laws(sim: Simulation) -> None:
    scenario = sim.scenario
    cfg = scenario.node_map
    topo = scenario.topology()
    rows = sim.rows
    process = {d.node.id: d for d in sim.network.demands}
    by_node: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        by_node[row.node].append(row)
    for node_id, node_rows in by_node.items():
        drawn, goodwill, impatient = drawn_demand(process.get(node_id), scenario.periods)
        check_node_demand(
            node_rows,
            cfg[node_id],
            drawn,
            goodwill=goodwill,
            impatient=impatient,
            leaf=not topo.successors[node_id],
        )
    check_network_conserved(scenario, rows)


def drawn_demand(
    process: CustomerDemand | CustomerArrivals | None, periods: int
) -> tuple[list[float] | None, bool, bool]:
    """A node's customer demand per period as drawn (None without customers), whether goodwill
    may take some of it away, and whether customers may give up waiting."""
    if isinstance(process, CustomerArrivals):
        period = process.times.astype(int)
        drawn = [float(process.sizes[period == t].sum()) for t in range(periods)]
        return drawn, process.goodwill is not None, process.patience is not None
    if isinstance(process, CustomerDemand):
        return process.quantities.tolist(), process.goodwill is not None, False
    return None, False, False


def check_row_costs(r: Any, node: NodeConfig, where: str) -> None:
    """Stock flow, signs and cost components of one row."""
    assert close(r.opening_on_hand + r.receipts - r.shipped - r.sold - r.consumed, r.closing_on_hand), (
        where
    )
    for name in NONNEGATIVE_COLUMNS:  # every quantity, cost and revenue; not profit
        assert getattr(r, name) >= -TOL * max(1.0, r.demand, r.opening_on_hand), f"{name} < 0 at {where}"
    for name in COST_COLUMNS:
        assert getattr(r, name) >= 0.0, f"{name} < 0 at {where}"
    assert close(
        r.total_cost,
        r.holding_cost + r.transit_holding_cost + r.stockout_cost + r.overflow_cost + r.ordering_cost,
    ), where
    assert close(r.stockout_cost, node.stockout_cost * (r.backorders + r.lost_sales)), where
    assert -TOL <= r.filled_on_time <= r.demand * (1 + TOL) + TOL, where


def check_node_demand(
    node_rows: list[Any],
    node: NodeConfig,
    drawn: list[float] | None,
    *,
    goodwill: bool,
    impatient: bool,
    leaf: bool,
) -> None:
    """The laws of one node's rows: costs; no sales without customers; the demand of a node
    without downstream lanes is the drawn demand (at most that, under goodwill), all of it sold,
    lost or still owed."""
    cum_demand = cum_sold = cum_lost = 0.0
    for r in node_rows:
        where = f"{node.id} period {r.period}: {r}"
        check_row_costs(r, node, where)
        if node.unmet_demand == "backlog" and not (drawn is not None and impatient):
            assert r.lost_sales == 0.0, where
        if drawn is None:
            assert r.sold == 0.0 and r.lost_sales == 0.0, where
        elif leaf:
            if goodwill:
                # Goodwill only removes demand (up to the rounding of one unit per period).
                assert r.demand <= drawn[r.period] + 1.0 + TOL, where
            else:
                assert close(r.demand, drawn[r.period]), where
        cum_demand += r.demand
        cum_sold += r.sold
        cum_lost += r.lost_sales
        if leaf:
            assert r.shipped == 0.0, where
            assert close(cum_demand, cum_sold + cum_lost + r.backorders), where
            if node.unmet_demand == "lost":
                assert r.backorders == 0.0, where


def check_network_conserved(scenario: Scenario, rows: list[Any]) -> None:
    """Units released into the network == sold + lost in transit + on hand + in transit, every
    period."""
    released = sum(n.initial_inventory for n in scenario.nodes)
    sold = 0.0
    by_period: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        by_period[row.period].append(row)
    for t in range(scenario.periods):
        period_rows = by_period[t]
        released += sum(r.produced for r in period_rows)
        sold += sum(r.sold + r.lost_in_transit for r in period_rows)
        on_hand = sum(r.closing_on_hand for r in period_rows)
        in_transit = sum(r.in_transit_inbound for r in period_rows)
        assert close(released, sold + on_hand + in_transit), (t, released, sold, on_hand)


@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=demand_scenarios(), replication=st.integers(0, 3))
def test_random_demand_scenarios_conserve_stock(data: dict[str, Any], replication: int) -> None:
    scenario = scenario_from_dict(data, source="hypothesis")
    sim = Simulation(scenario, replication=replication, audit=True)
    sim.run()  # the audit raises ReconciliationError on any broken identity
    check_demand_laws(sim)
