"""Stock is conserved: property tests over random scenarios, and targeted laws of the event order.

The property test draws random valid scenarios (plain dicts, as parsed from YAML): DAG networks of
1-4 levels and 1-8 nodes; sources that are unlimited make-to-order, capacity-limited make-to-order,
or decided by an agent through a production line; stochastic lead times including zero; customer
demand with backlog or lost sales; random costs and in-transit holding modes; every built-in rule
agent. Each run keeps the audit on (every identity, every period) and the test re-checks the
ledger laws from the rows themselves (DESIGN.md, Reconciliation ledger).
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.registry import BUILTIN
from entities.messages import Order, Shipment
from reconciliation.kpis import compute_kpis, ledger_frame
from reconciliation.ledger import COST_COLUMNS, NONNEGATIVE_COLUMNS, LedgerRow
from twin import Simulation, scenario_from_dict
from twin.scenario.schema import NodeConfig, Scenario

TOL = 1e-7
EXAMPLES = int(os.environ.get("TWIN_HYPOTHESIS_EXAMPLES", "200"))  # raise it for a deeper search


def close(a: float, b: float) -> bool:
    return abs(a - b) <= TOL * max(1.0, abs(a), abs(b))


# --------------------------------------------------------------------------------------------------
# Strategies: every value is valid by construction (hundredths keep shrunk examples readable).


def amounts(low: float, high: float) -> st.SearchStrategy[float]:
    """Numbers in [low, high] with two decimals."""
    return st.integers(round(low * 100), round(high * 100)).map(lambda x: x / 100)


@st.composite
def empirical(draw: st.DrawFn, high: int) -> dict[str, Any]:
    values = draw(st.lists(st.one_of(st.integers(0, high), amounts(0, high)), min_size=1, max_size=4))
    spec: dict[str, Any] = {"dist": "empirical", "values": values}
    if draw(st.booleans()):
        weights = draw(st.lists(st.integers(1, 5), min_size=len(values), max_size=len(values)))
        spec["probabilities"] = [w / sum(weights) for w in weights]
    return spec


@st.composite
def normal_demand(draw: st.DrawFn) -> dict[str, Any]:
    sd = draw(amounts(0, 4))
    return {"dist": "normal", "mean": 4 * sd + draw(amounts(0, 10)), "sd": sd}


@st.composite
def uniform_int(draw: st.DrawFn, low_max: int, width_max: int) -> dict[str, Any]:
    low = draw(st.integers(0, low_max))
    return {"dist": "uniform_int", "low": low, "high": low + draw(st.integers(0, width_max))}


@st.composite
def uniform(draw: st.DrawFn, low_max: float, width_max: float) -> dict[str, Any]:
    low = draw(amounts(0, low_max))
    return {"dist": "uniform", "low": low, "high": low + draw(amounts(0, width_max))}


demand_distributions = st.one_of(
    st.builds(lambda m: {"dist": "poisson", "mean": m}, amounts(0, 20)),
    uniform_int(10, 15),
    normal_demand(),
    empirical(30),
    st.just({"dist": "constant", "value": 0}),
    st.builds(lambda v: {"dist": "constant", "value": v}, amounts(0, 12)),
    st.builds(
        lambda n, p: {"dist": "negative_binomial", "n": n, "p": p}, amounts(0.5, 5), amounts(0.2, 1)
    ),
)

lead_time_distributions = st.one_of(
    st.just(0),
    st.just({"dist": "constant", "value": 0}),
    st.integers(1, 4),
    amounts(0, 3),
    uniform_int(2, 4),  # low may be 0
    st.builds(lambda m: {"dist": "poisson", "mean": m}, amounts(0, 3)),
    uniform(2, 3),
    st.builds(
        lambda k, s: {"dist": "gamma", "shape": k, "scale": s}, amounts(0.3, 4), amounts(0.1, 1.5)
    ),
    empirical(5),
)


def agent_params(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    """Valid params of one built-in kind, for one node (scalars)."""
    if kind == "base_stock":
        return st.fixed_dictionaries({"base_stock_level": amounts(-5, 120)})
    if kind == "echelon_base_stock":
        return st.fixed_dictionaries({"base_stock_level": amounts(-5, 200)})
    if kind == "s_S":
        return st.tuples(amounts(-5, 80), amounts(0, 80)).map(lambda p: {"s": p[0], "S": p[0] + p[1]})
    if kind == "r_Q":
        return st.fixed_dictionaries(
            {"reorder_point": amounts(-5, 80), "order_quantity": amounts(0.5, 50)}
        )
    if kind == "periodic_review":
        return st.integers(1, 5).flatmap(
            lambda r: st.fixed_dictionaries(
                {
                    "review_period": st.just(r),
                    "offset": st.integers(0, r - 1),
                    "order_up_to_level": amounts(-5, 150),
                }
            )
        )
    if kind == "constant":
        return st.fixed_dictionaries({"quantity": st.one_of(st.just(0), amounts(0, 30))})
    if kind == "pass_through":
        return st.just({})
    if kind == "adaptive_base_stock":
        return st.fixed_dictionaries(
            {
                "multiple": amounts(0, 8),
                "window": st.integers(1, 4),
                "position": st.sampled_from(["installation", "echelon"]),
                "integer": st.booleans(),
            }
        )
    if kind in ("hmarl_warehouse", "hmarl_supplier"):
        return st.one_of(
            st.just({}),
            st.lists(amounts(0, 20), min_size=3, max_size=3)
            .map(sorted)
            .map(lambda c: {"low_cover": c[0], "target_cover": c[1], "high_cover": c[2]}),
        )
    raise AssertionError(f"no params strategy for agent kind {kind!r}: add one")


# Per-node parameters of each kind (given as {node: value} when nodes share an assignment); the
# others must be equal across the nodes of an assignment, so the first node's value is used.
PER_NODE = {
    "base_stock": ("base_stock_level",),
    "echelon_base_stock": ("base_stock_level",),
    "s_S": ("s", "S"),
    "r_Q": ("reorder_point", "order_quantity"),
    "periodic_review": ("order_up_to_level",),
    "constant": ("quantity",),
    "pass_through": (),
    "adaptive_base_stock": ("multiple",),
    "hmarl_warehouse": (),
    "hmarl_supplier": (),
}
# The rule agents among the built-in kinds (planners and learned agents are tested on their own).
AGENT_KINDS = sorted(kind for kind, entry in BUILTIN.items() if entry.startswith("agents.rules:"))


def test_every_builtin_rule_agent_is_generated():
    assert set(PER_NODE) == set(AGENT_KINDS)
    for kind in AGENT_KINDS:
        agent_params(kind)


outages = st.fixed_dictionaries(
    {},
    optional={
        "windows": st.lists(
            st.fixed_dictionaries({"start": st.integers(0, 30), "duration": st.integers(1, 10)}),
            max_size=2,
        ),
        "markov": st.fixed_dictionaries({"fail": amounts(0, 0.5), "recover": amounts(0.05, 1)}),
    },
).filter(lambda o: o.get("windows") or "markov" in o)

loss_fractions = st.one_of(
    amounts(0, 1),
    uniform(0.5, 0.5),
    st.lists(amounts(0, 1), min_size=1, max_size=3).map(lambda v: {"dist": "empirical", "values": v}),
)


ALLOCATION_RULES = ("fifo", "proportional", "priority", "fair_share")
SOURCING_RULES = ("agent", "proportional", "priority", "cheapest", "fastest")
LANE_OPTIONS = ("capacity", "order_processing", "fifo", "outage", "shipment_loss")
SUPPLY_OPTIONS: tuple[str, ...] = (
    "storage:refuse",
    "storage:accept",
    "outage",
    *(f"allocation:{r}" for r in ALLOCATION_RULES),
    *(f"sourcing:{r}" for r in SOURCING_RULES),
    *(f"lane.{k}" for k in LANE_OPTIONS),
)
"""Every supply-side option (and rule) the generator draws; ``scenario_dicts(focus=...)`` puts
one of them on every entity it fits."""


@st.composite
def supply_side_node(
    draw: st.DrawFn, cfg: dict[str, Any], preds: list[str], succs: list[str], focus: str | None = None
) -> None:
    """Add storage capacity, an outage, an allocation rule and a sourcing rule, now and then
    (always, for the option named by ``focus``)."""
    kind, _, rule = (focus or "").partition(":")
    if draw(st.integers(0, 4)) == 0 or kind == "storage":
        overflow = rule if kind == "storage" else draw(st.sampled_from(["refuse", "accept"]))
        cfg["storage_capacity"] = draw(amounts(1, 80))
        cfg["overflow"] = overflow
        if overflow == "accept":
            cfg["overflow_cost"] = draw(amounts(0, 5))
        else:
            cfg["initial_inventory"] = min(cfg["initial_inventory"], cfg["storage_capacity"])
    if draw(st.integers(0, 5)) == 0 or kind == "outage":
        cfg["outage"] = draw(outages)
    if succs and (draw(st.integers(0, 3)) == 0 or kind == "allocation"):
        chosen = rule if kind == "allocation" else draw(st.sampled_from(ALLOCATION_RULES))
        allocation: dict[str, Any] = {"rule": chosen}
        if chosen == "priority":
            names = succs + (["customers"] if "demand" in cfg else [])
            allocation["priority"] = draw(st.lists(st.sampled_from(names), min_size=1, unique=True))
        cfg["allocation"] = allocation if chosen != "fifo" or draw(st.booleans()) else chosen
    if len(preds) >= 2 and (draw(st.integers(0, 2)) == 0 or kind == "sourcing"):
        chosen = rule if kind == "sourcing" else draw(st.sampled_from(SOURCING_RULES))
        sourcing: dict[str, Any] = {"rule": chosen}
        if chosen == "priority" and draw(st.booleans()):
            sourcing["priority"] = draw(st.lists(st.sampled_from(preds), min_size=1, unique=True))
        if chosen == "proportional" and draw(st.booleans()):
            weights = draw(st.lists(amounts(0, 5), min_size=len(preds), max_size=len(preds)))
            weights[0] = weights[0] or 1.0
            sourcing["weights"] = dict(zip(preds, weights, strict=True))
        cfg["sourcing"] = sourcing


@st.composite
def supply_side_lane(draw: st.DrawFn, focus: str | None = None) -> dict[str, Any]:
    """Lane capacity, order processing, FIFO, an outage, shipment loss, now and then (always, for
    the option named by ``focus``)."""
    out: dict[str, Any] = {}
    if draw(st.integers(0, 3)) == 0 or focus == "lane.capacity":
        out["capacity"] = draw(amounts(0.5, 30))
    if draw(st.integers(0, 4)) == 0 or focus == "lane.order_processing":
        out["order_processing"] = draw(lead_time_distributions)
    if draw(st.integers(0, 3)) == 0 or focus == "lane.fifo":
        out["fifo"] = True
    if draw(st.integers(0, 5)) == 0 or focus == "lane.outage":
        out["outage"] = draw(outages)
    if draw(st.integers(0, 4)) == 0 or focus == "lane.shipment_loss":
        out["shipment_loss"] = {"probability": draw(amounts(0, 1)), "fraction": draw(loss_fractions)}
    return out


def supply_options(data: dict[str, Any]) -> set[str]:
    """The names of :data:`SUPPLY_OPTIONS` a generated scenario uses."""
    found: set[str] = set()
    for node in data["nodes"]:
        if "storage_capacity" in node:
            found.add(f"storage:{node['overflow']}")
        if "outage" in node:
            found.add("outage")
        for key in ("allocation", "sourcing"):
            rule = node.get(key)
            if rule is not None:
                found.add(f"{key}:{rule if isinstance(rule, str) else rule['rule']}")
    for lane in data["lanes"]:
        found.update(f"lane.{key}" for key in LANE_OPTIONS if key in lane)
    return found


@st.composite
def scenario_dicts(draw: st.DrawFn, focus: str | None = None) -> dict[str, Any]:
    """A random valid scenario as plain data (what ``yaml.safe_load`` would give); ``focus``
    names a supply-side option to put on every node or lane it fits (:data:`SUPPLY_OPTIONS`)."""
    ids = _level_ids(draw)
    tier_labels = draw(st.booleans())
    preds = _predecessors(draw, ids)
    succs: dict[str, list[str]] = defaultdict(list)
    for node, ps in preds.items():
        for p in ps:
            succs[p].append(node)
    nodes: list[dict[str, Any]] = []
    needs_agent: list[tuple[int, str]] = []  # (level, node): not a make-to-order source
    for k, level in enumerate(ids):
        for node in level:
            cfg = _node_config(draw, node, k, preds[node], succs[node], tier_labels)
            if preds[node] or "production_lead_time" in cfg:
                needs_agent.append((k, node))
            nodes.append(cfg)
    lanes = [_lane_config(draw, p, node) for node, ps in preds.items() for p in ps]

    # Supply side: storage, outages, allocation, sourcing; lane capacity, order
    # processing, FIFO, outages, shipment loss. Each drawn for some entities only.
    for cfg in nodes:
        node = cfg["id"]
        draw(supply_side_node(cfg, preds[node], succs[node], focus))
    for lane in lanes:
        lane.update(draw(supply_side_lane(focus)))
    agents = _agent_assignments(draw, nodes, needs_agent)

    periods = draw(st.integers(5, 40))
    return {
        "name": "random",
        "seed": draw(st.integers(0, 2**32 - 1)),
        "periods": periods,
        "warmup_periods": draw(st.integers(0, periods - 1)),
        "forecast_window": draw(st.integers(1, 10)),
        "nodes": draw(st.permutations(nodes)),
        "lanes": draw(st.permutations(lanes)),
        "agents": agents,
        "costs": {"in_transit_holding": draw(st.sampled_from(["none", "sender", "receiver"]))},
    }


def _level_ids(draw: st.DrawFn) -> list[list[str]]:
    """Node ids by level: 1-4 levels, 1-8 nodes, every level with one node at least."""
    n_levels = draw(st.integers(1, 4))
    sizes = [1] * n_levels
    for _ in range(draw(st.integers(0, 8 - n_levels))):
        sizes[draw(st.integers(0, n_levels - 1))] += 1
    return [[f"n{k}{i}" for i in range(size)] for k, size in enumerate(sizes)]


def _predecessors(draw: st.DrawFn, ids: list[list[str]]) -> dict[str, list[str]]:
    """Each node's upstream nodes: one on the level above and up to two more from any level
    above; none for level 0 and, now and then, for a deeper node (a source)."""
    preds: dict[str, list[str]] = {}
    for k, level in enumerate(ids):
        for node in level:
            if k == 0 or draw(st.integers(0, 9)) == 0:  # level 0, and now and then deeper: sources
                preds[node] = []
                continue
            first = draw(st.sampled_from(ids[k - 1]))
            earlier = [m for lvl in ids[:k] for m in lvl if m != first]
            extra = draw(st.lists(st.sampled_from(earlier), max_size=2, unique=True)) if earlier else []
            preds[node] = [first, *extra]
    return preds


def _node_config(
    draw: st.DrawFn, node: str, k: int, preds: list[str], succs: list[str], tier_labels: bool
) -> dict[str, Any]:
    """A node of level ``k``: its kind, stock, costs and unmet demand; customer demand always at
    the bottom of the network and now and then elsewhere; a source's capacity and, when an agent
    decides its production, a production lead time."""
    source = not preds
    leaf = not succs
    if source:
        kind = draw(st.sampled_from(["supplier", "factory"]))
    else:
        kind = "store" if leaf else draw(st.sampled_from(["warehouse", "store"]))
    cfg: dict[str, Any] = {
        "id": node,
        "kind": kind,
        "initial_inventory": draw(st.one_of(st.just(0), st.integers(0, 60), amounts(0, 60))),
        "holding_cost": draw(amounts(0, 5)),
        "stockout_cost": draw(amounts(0, 50)),
        "unmet_demand": draw(st.sampled_from(["backlog", "lost"])),
    }
    if tier_labels:
        cfg["tier"] = f"level{k}"
    if draw(st.integers(0, 2)) == 0:
        cfg["price"] = draw(amounts(0, 20))
    if leaf or draw(st.integers(0, 3)) == 0:
        cfg["demand"] = draw(demand_distributions)
    if source:
        if draw(st.booleans()):
            cfg["capacity"] = draw(amounts(0.5, 30))
        if draw(st.booleans()):  # decided by an agent: production line
            cfg["production_lead_time"] = draw(lead_time_distributions)
    return cfg


def _lane_config(draw: st.DrawFn, origin: str, destination: str) -> dict[str, Any]:
    lane: dict[str, Any] = {
        "from": origin,
        "to": destination,
        "lead_time": draw(lead_time_distributions),
        "unit_cost": draw(amounts(0, 3)),
        "fixed_cost": draw(amounts(0, 20)),
    }
    if draw(st.integers(0, 3)) == 0:
        lane["in_transit_holding_cost"] = draw(amounts(0, 3))
    return lane


def _agent_assignments(
    draw: st.DrawFn, nodes: list[dict[str, Any]], needs_agent: list[tuple[int, str]]
) -> list[dict[str, Any]]:
    """One kind per node (or per level), then one assignment per node, or per kind (by tier
    where it covers a whole tier), in random order."""
    one_kind_per_level = draw(st.booleans())
    level_kinds: dict[int, str] = {}
    kinds: dict[str, str] = {}
    params: dict[str, dict[str, Any]] = {}
    for k, node in needs_agent:
        if one_kind_per_level and k in level_kinds:
            kinds[node] = level_kinds[k]
        else:
            kinds[node] = level_kinds.setdefault(k, draw(st.sampled_from(AGENT_KINDS)))
        params[node] = draw(agent_params(kinds[node]))
    groups: dict[Any, list[str]] = defaultdict(list)
    group_by_kind = draw(st.booleans())
    for _, node in needs_agent:
        groups[kinds[node] if group_by_kind else node].append(node)
    tier_of = {n["id"]: n.get("tier", n["kind"]) for n in nodes}
    agents = []
    for members in groups.values():
        kind = kinds[members[0]]
        if len(members) == 1:
            assignment_params = params[members[0]]
        else:
            assignment_params = dict(params[members[0]])
            for name in PER_NODE[kind]:
                assignment_params[name] = {m: params[m][name] for m in members}
        tiers = {tier_of[m] for m in members}
        assignment: dict[str, Any] = {"nodes": members}
        if len(tiers) == 1:
            tier = tiers.pop()
            if sorted(n for n, t in tier_of.items() if t == tier) == sorted(members):
                assignment = {"tier": tier}
        agents.append({**assignment, "kind": kind, "params": assignment_params})
    return draw(st.permutations(agents))


# --------------------------------------------------------------------------------------------------
# The laws, checked from the rows.


def check_ledger_laws(sim: Simulation, rows: list[LedgerRow]) -> None:
    scenario = sim.scenario
    cfg = scenario.node_map
    topo = scenario.topology()
    decided = {n for i in range(len(scenario.agents)) for n in scenario.agent_nodes(i)}
    make_to_order = {n for n in cfg if not topo.predecessors[n] and n not in decided}
    # Sources whose shipping an outage or a lane's capacity or outage can hold back.
    limited = {
        n
        for n, c in cfg.items()
        if c.outage is not None
        or any(
            ln.capacity is not None or ln.outage is not None for ln in scenario.lanes if ln.origin == n
        )
    }
    assert len(rows) == scenario.periods * len(scenario.nodes)
    demand_draws = {d.node.id: d.quantities for d in sim.network.demands}

    by_node: dict[str, list[LedgerRow]] = defaultdict(list)
    by_period: dict[int, list[LedgerRow]] = defaultdict(list)
    for row in rows:
        by_node[row.node].append(row)
        by_period[row.period].append(row)

    for row in rows:
        where = f"{row.node} period {row.period}: {row}"
        node = cfg[row.node]
        check_row_books(row, node, where)
        # Production only at sources, at most the capacity per period.
        if topo.predecessors[row.node]:
            assert row.produced == 0.0, where
        elif node.capacity is not None:
            assert row.produced <= node.capacity * (1 + TOL), where
        # Customer demand is the drawn demand: exactly, at nodes without downstream lanes.
        if row.node in demand_draws:
            drawn = float(demand_draws[row.node][row.period])
            if topo.successors[row.node]:
                assert row.demand >= drawn - TOL, where
            else:
                assert row.demand == drawn, where
        elif not topo.successors[row.node]:
            raise AssertionError(f"node without customers or successors: {where}")
        # An unlimited make-to-order source never owes anything at the close.
        if row.node in make_to_order and node.capacity is None and row.node not in limited:
            assert row.backorders == 0.0, where

    for node_id, node_rows in by_node.items():
        assert [r.period for r in node_rows] == list(range(scenario.periods))
        check_node_books(
            node_rows,
            cfg[node_id],
            make_to_order=node_id in make_to_order,
            customers=node_id in demand_draws,
            leaf=not topo.successors[node_id],
        )
    check_network_books(scenario, rows, by_period)


def check_row_books(row: LedgerRow, node: NodeConfig, where: str) -> None:
    """The laws of one row: stock flow, signs, costs, revenue and service."""
    assert close(
        row.opening_on_hand + row.receipts - row.shipped - row.sold - row.consumed,
        row.closing_on_hand,
    ), where
    for name in NONNEGATIVE_COLUMNS:  # every quantity, cost and revenue; not profit
        assert getattr(row, name) >= -TOL * max(1.0, row.demand, row.opening_on_hand), (
            f"{name} < 0 at {where}"
        )
    for name in COST_COLUMNS:
        assert getattr(row, name) >= 0.0, f"{name} < 0 at {where}"
    assert close(
        row.total_cost,
        row.holding_cost
        + row.transit_holding_cost
        + row.stockout_cost
        + row.overflow_cost
        + row.ordering_cost,
    ), where
    assert close(row.holding_cost, node.holding_cost * row.closing_on_hand), where
    assert close(row.stockout_cost, node.stockout_cost * (row.backorders + row.lost_sales)), where
    # Revenue on units sold to customers at the node's price (transfers earn nothing).
    assert close(row.revenue, node.price * row.sold), where
    assert close(row.profit, row.revenue - row.total_cost), where
    # Service: 0 <= filled on time <= demand, and the unit fill rate is in [0, 1].
    assert -TOL <= row.filled_on_time <= row.demand * (1 + TOL) + TOL, where
    if node.unmet_demand == "backlog":
        assert row.lost_sales == 0.0, where


def check_node_books(
    node_rows: list[LedgerRow], node: NodeConfig, *, make_to_order: bool, customers: bool, leaf: bool
) -> None:
    """The laws of one node's rows, period by period: every unit ordered is received, in transit,
    lost on the way or still owed upstream; a node without downstream lanes sells, loses or owes
    every unit of its customers' demand."""
    cum_ordered = cum_receipts = cum_lost_in_transit = 0.0
    cum_demand = cum_sold = cum_lost = 0.0
    for r in node_rows:
        where = f"{node.id} period {r.period}: {r}"
        # Every unit ordered is received, in transit, or still owed upstream.
        cum_ordered += r.ordered
        cum_receipts += r.receipts - (r.produced if make_to_order else 0.0)
        owed = r.on_order - r.in_transit_inbound
        assert owed >= -TOL * max(1.0, r.on_order), where
        cum_lost_in_transit += r.lost_in_transit
        assert close(cum_ordered, cum_receipts + r.in_transit_inbound + owed + cum_lost_in_transit), (
            where
        )
        if make_to_order:
            assert r.ordered == 0.0 and r.on_order == 0.0 and r.in_transit_inbound == 0.0
        # Customers of a node without downstream lanes: demand = sold + lost + still owed.
        cum_demand += r.demand
        cum_sold += r.sold
        cum_lost += r.lost_sales
        if leaf:
            assert r.shipped == 0.0, where
            assert close(cum_demand, cum_sold + cum_lost + r.backorders), where
            if node.unmet_demand == "lost":
                assert r.backorders == 0.0, where
                assert close(r.demand, r.sold + r.lost_sales), where
        if not customers:
            assert r.sold == 0.0 and r.lost_sales == 0.0, where


def check_network_books(
    scenario: Scenario, rows: list[LedgerRow], by_period: Mapping[int, list[LedgerRow]]
) -> None:
    """Units released into the network == sold + lost in transit + on hand + in transit, every
    period; the network's unit fill rate is in [0, 1]."""
    released = sum(n.initial_inventory for n in scenario.nodes)
    sold = 0.0
    for t in range(scenario.periods):
        period_rows = by_period[t]
        released += sum(r.produced for r in period_rows)
        sold += sum(r.sold + r.lost_in_transit for r in period_rows)
        on_hand = sum(r.closing_on_hand for r in period_rows)
        in_transit = sum(r.in_transit_inbound for r in period_rows)
        assert close(released, sold + on_hand + in_transit), (t, released, sold, on_hand, in_transit)
    demand = sum(r.demand for r in rows)
    filled = sum(r.filled_on_time for r in rows)
    if demand > 0:
        assert 0.0 <= filled / demand <= 1.0 + TOL


def check_supply_laws(sim: Simulation, rows: list[LedgerRow]) -> None:
    """Laws of the supply-side options, from the ledger rows and the event trace."""
    scenario = sim.scenario
    cfg = scenario.node_map
    lanes = {ln.id: ln for ln in scenario.lanes}
    network = sim.network
    shipments = [e for e in sim.trace if isinstance(e, Shipment)]
    orders = [e for e in sim.trace if isinstance(e, Order)]
    for row in rows:
        where = f"{row.node} period {row.period}: {row}"
        node = cfg[row.node]
        cap = node.storage_capacity
        if cap is not None and node.overflow == "refuse":
            assert row.closing_on_hand <= cap * (1 + TOL) + TOL, where
        else:
            assert row.refused == 0.0, where
        expected = (
            node.overflow_cost * max(0.0, row.closing_on_hand - cap)
            if cap is not None and node.overflow == "accept"
            else 0.0
        )
        assert close(row.overflow_cost, expected), where
        down = network.node_map[row.node].outage
        if down is not None and down[row.period]:  # a node in an outage ships, sells, makes nothing
            assert row.shipped == 0.0 and row.sold == 0.0 and row.produced == 0.0, where
    sent: dict[tuple[str, int], float] = defaultdict(float)
    lost: dict[tuple[str, int], float] = defaultdict(float)
    last_due: dict[str, int] = {}
    for e in sorted(shipments, key=lambda e: (e.sent, e.id)):
        lane = lanes.get(e.lane)
        assert 0.0 <= e.lost <= e.quantity, e
        if lane is None:  # a production line
            continue
        sent[e.lane, e.sent] += e.quantity
        lost[lane.destination, e.due] += e.lost
        if lane.fifo:  # no overtaking
            assert e.due >= last_due.get(e.lane, -1), e
            last_due[e.lane] = e.due
        if lane.shipment_loss is None:
            assert e.lost == 0.0, e
    live = {ln.id: ln for ln in network.lanes}
    for (lane_id, t), quantity in sent.items():
        lane = lanes[lane_id]
        if lane.capacity is not None:
            assert quantity <= lane.capacity * (1 + TOL), (lane_id, t, quantity)
        if live[lane_id].down is not None and live[lane_id].down[t]:
            raise AssertionError(f"lane {lane_id} shipped {quantity} in period {t}, an outage")
    for row in rows:
        assert close(row.lost_in_transit, lost.get((row.node, row.period), 0.0)), row
    for e in orders:
        lane = live[e.lane]
        delay = lane.processing[e.period] if lane.processing is not None else 0.0
        assert e.seen == e.period + math.ceil(delay), e


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=scenario_dicts(), replication=st.integers(0, 3))
def test_random_scenarios_conserve_stock(data: dict[str, Any], replication: int) -> None:
    scenario = scenario_from_dict(data, source="hypothesis")
    sim = Simulation(scenario, replication=replication, audit=True, trace=True)
    rows = sim.run().rows  # the audit raises ReconciliationError on any broken identity
    check_ledger_laws(sim, rows)
    check_supply_laws(sim, rows)


@pytest.mark.parametrize("focus", SUPPLY_OPTIONS)
@settings(
    max_examples=max(EXAMPLES // 12, 1),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(data=st.data(), replication=st.integers(0, 3))
def test_every_supply_option_conserves_stock(focus: str, data: st.DataObject, replication: int) -> None:
    """The random networks above draw each supply-side option now and then; here each option in
    turn is put on every entity it fits, so every rule is certain to run in every test run."""
    scenario_data = data.draw(
        scenario_dicts(focus).filter(lambda d: focus in supply_options(d)), label="scenario"
    )
    scenario = scenario_from_dict(scenario_data, source="hypothesis")
    sim = Simulation(scenario, replication=replication, audit=True, trace=True)
    rows = sim.run().rows
    check_ledger_laws(sim, rows)
    check_supply_laws(sim, rows)


def in_unit_interval(stat: dict[str, Any] | None) -> bool:
    return stat is None or stat["mean"] is None or -TOL <= stat["mean"] <= 1 + TOL


@settings(
    max_examples=max(EXAMPLES // 4, 1), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(data=scenario_dicts(), replications=st.integers(1, 3))
def test_random_scenarios_give_kpis_in_range(data: dict[str, Any], replications: int) -> None:
    scenario = scenario_from_dict(data, source="hypothesis")
    results = [Simulation(scenario, replication=r).run() for r in range(replications)]
    customers = [n.id for n in scenario.nodes if n.demand is not None]
    # Tier totals are checked against the network total in every period on the way.
    kpis = compute_kpis(ledger_frame(results), scenario.warmup_periods, customer_nodes=customers)
    network = kpis["network"]
    assert in_unit_interval(network["fill_rate"])
    for key, stat in network.items():
        if key == "profit_per_period":  # revenue - cost, of either sign
            assert close(
                stat["mean"], network["revenue_per_period"]["mean"] - network["cost_per_period"]["mean"]
            )
        elif key.endswith("_per_period") or key.startswith("average_"):
            assert stat["mean"] >= -TOL, (key, stat)
    for stat in network["order_cv"].values():  # sd / mean of orders: >= 0 where defined
        assert stat["mean"] is None or stat["mean"] >= 0.0, stat
    for name, entry in [*kpis["tiers"].items(), *kpis["nodes"].items()]:
        for key in ("fill_rate", "cycle_service_level", "ready_rate"):
            assert in_unit_interval(entry.get(key)), (name, key, entry.get(key))
        assert entry["cost_per_period"]["mean"] >= 0.0, (name, entry)
    tier_cost = sum(t["cost_per_period"]["mean"] for t in kpis["tiers"].values())
    assert close(tier_cost, network["cost_per_period"]["mean"])


# --------------------------------------------------------------------------------------------------
# Targeted examples.


def chain(
    lead_times: list[Any],
    *,
    store: dict[str, Any] | None = None,
    supplier: dict[str, Any] | None = None,
    agents: list[dict[str, Any]] | None = None,
    periods: int = 30,
    seed: int = 11,
) -> dict[str, Any]:
    """supplier -> w2 -> w1 -> store (fewer warehouses for shorter ``lead_times``)."""
    names = ["supplier", *["w2", "w1"][3 - len(lead_times) :], "store"]
    nodes = [{"id": "supplier", "kind": "supplier", **(supplier or {})}]
    nodes += [{"id": n, "kind": "warehouse"} for n in names[1:-1]]
    nodes += [
        {
            "id": "store",
            "kind": "store",
            "demand": {"dist": "poisson", "mean": 10},
            "stockout_cost": 5,
            "holding_cost": 1,
            **(store or {}),
        }
    ]
    lanes = [
        {"from": a, "to": b, "lead_time": lt}
        for a, b, lt in zip(names[:-1], names[1:], lead_times, strict=True)
    ]
    if agents is None:
        agents = [{"nodes": names[1:], "kind": "pass_through"}]
    return {
        "name": "chain",
        "seed": seed,
        "periods": periods,
        "nodes": nodes,
        "lanes": lanes,
        "agents": agents,
    }


def run(data: dict[str, Any], **options: Any) -> tuple[Simulation, list[LedgerRow]]:
    sim = Simulation(scenario_from_dict(data, source="test"), **options)
    return sim, sim.run().rows


def rows_of(rows: list[LedgerRow], node: str) -> list[LedgerRow]:
    return [r for r in rows if r.node == node]


@pytest.mark.parametrize(
    "zero",
    [
        0,
        {"dist": "constant", "value": 0},
        {"dist": "uniform_int", "low": 0, "high": 0},
        {"dist": "empirical", "values": [0]},
    ],
)
def test_zero_lead_times_deliver_through_three_stages_in_the_same_period(zero: Any) -> None:
    sim, rows = run(chain([zero, zero, zero]), trace=True)
    store = rows_of(rows, "store")
    assert sum(r.demand for r in store) > 0
    for r in store:  # every unit demanded is ordered up the chain, made and delivered at once
        assert r.sold == r.demand == r.filled_on_time, r
        assert r.backorders == 0.0 and r.closing_on_hand == 0.0 and r.on_order == 0.0, r
    for name in ("w1", "w2"):
        for r, s in zip(rows_of(rows, name), store, strict=True):
            assert r.receipts == r.shipped == r.demand == r.ordered == s.demand, r
            assert r.backorders == 0.0 and r.on_order == 0.0 and r.closing_on_hand == 0.0, r
    for r, s in zip(rows_of(rows, "supplier"), store, strict=True):
        assert r.produced == r.shipped == s.demand and r.backorders == 0.0, r
    shipments = [e for e in sim.trace if isinstance(e, Shipment)]
    assert shipments and all(e.due == e.sent for e in shipments)


def test_lost_sales_store_never_backorders_customers() -> None:
    data = chain(
        [{"dist": "uniform_int", "low": 1, "high": 3}],
        store={"unmet_demand": "lost", "stockout_cost": 4, "initial_inventory": 15},
        agents=[{"nodes": ["store"], "kind": "constant", "params": {"quantity": 7}}],
        periods=60,
    )
    _, rows = run(data)
    store = rows_of(rows, "store")
    assert sum(r.lost_sales for r in store) > 0
    assert sum(r.sold for r in store) > 0
    for r in store:
        assert r.backorders == 0.0, r
        assert r.sold + r.lost_sales == r.demand, r
        assert r.stockout_cost == pytest.approx(4 * r.lost_sales), r


def test_capacity_limited_make_to_order_supplier_produces_at_most_its_capacity() -> None:
    data = chain(
        [1],
        supplier={"capacity": 7.5},
        agents=[{"nodes": ["store"], "kind": "base_stock", "params": {"base_stock_level": 40}}],
        periods=50,
    )
    _, rows = run(data)
    supplier = rows_of(rows, "supplier")
    produced = [r.produced for r in supplier]
    assert max(produced) == 7.5
    assert sum(p == 7.5 for p in produced) > 25  # demand (10) exceeds capacity: it binds
    for r in supplier:
        assert r.produced <= 7.5 and r.shipped == r.produced and r.receipts == r.produced, r
    assert supplier[-1].backorders > 0  # the rest stays owed to the store


def test_source_with_an_agent_produces_through_its_production_line_within_capacity() -> None:
    data = chain(
        [1],
        supplier={"capacity": 8, "production_lead_time": 2, "initial_inventory": 5},
        agents=[
            {"nodes": ["store"], "kind": "base_stock", "params": {"base_stock_level": 30}},
            {"nodes": ["supplier"], "kind": "constant", "params": {"quantity": 12}},
        ],
        periods=40,
    )
    sim, rows = run(data)
    supplier = rows_of(rows, "supplier")
    lane = sim.network.lanes_of["supplier"]["production->supplier"]
    assert lane.origin is None and lane.capacity == 8
    for r in supplier:
        assert r.produced <= 8, r
        assert r.ordered == 12, r
    assert [r.produced for r in supplier[:3]] == [8, 8, 8]  # orders (12/period) exceed capacity
    receipts = [r.receipts for r in supplier]
    produced = [r.produced for r in supplier]
    assert receipts[:2] == [0, 0] and receipts[2:] == produced[:-2]  # production lead time 2
    last = supplier[-1]
    assert last.on_order == pytest.approx(40 * 12 - sum(receipts))
    assert last.in_transit_inbound == pytest.approx(sum(produced[-2:]))


def test_orders_cross_with_stochastic_lead_times() -> None:
    data = chain(
        [{"dist": "uniform_int", "low": 0, "high": 6}],
        agents=[{"nodes": ["store"], "kind": "constant", "params": {"quantity": 10}}],
        store={"initial_inventory": 30},
        periods=40,
    )
    sim, rows = run(data, trace=True)
    shipments = sorted((e for e in sim.trace if isinstance(e, Shipment)), key=lambda e: (e.sent, e.id))
    assert len(shipments) == 40
    crossed = [
        (a, b)
        for i, a in enumerate(shipments)
        for b in shipments[i + 1 :]
        if a.sent < b.sent and a.due > b.due
    ]
    assert crossed, "no two shipments crossed"
    for e in shipments:
        assert e.due == e.sent + math.ceil(e.lead_time)
        assert e.lead_time == sim.network.lanes_of["store"]["supplier->store"].lead_times[e.sent]
    # The store receives in each period exactly what is due then (later-sent first when crossed).
    due: dict[int, float] = defaultdict(float)
    for e in shipments:
        due[e.due] += e.quantity
    for r in rows_of(rows, "store"):
        assert r.receipts == due.get(r.period, 0.0), r
    assert rows_of(rows, "store")[-1].in_transit_inbound == sum(
        q for t, q in due.items() if t >= data["periods"]
    )
