"""Hypothesis: random multi-SKU networks with bill-of-materials factories and continuous-review
policies conserve stock (the audit runs every period) and obey the laws below. Lanes and
nodes also draw the supply-side options (capacity, order processing, FIFO, outages, shipment loss,
storage capacity, allocation rules) of ``tests/test_conservation.py``."""

from __future__ import annotations

import os
from collections import defaultdict
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.test_conservation import amounts, outages, supply_side_lane
from twin.engine.simulation import Simulation
from twin.scenario import scenario_from_dict, stock_view

EXAMPLES = int(os.environ.get("TWIN_HYPOTHESIS_EXAMPLES", "150"))
PERIODS = 30
TOL = 1e-6


def close(a: float, b: float) -> bool:
    return abs(a - b) <= TOL * max(1.0, abs(a), abs(b))


def lead_times() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.integers(0, 2),
        st.builds(
            lambda lo, w: {"dist": "uniform_int", "low": lo, "high": lo + w},
            st.integers(0, 1),
            st.integers(0, 2),
        ),
    )


@st.composite
def rule(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["base_stock", "s_S", "r_Q"]))
    if kind == "base_stock":
        return {"kind": kind, "params": {"base_stock_level": draw(st.integers(0, 60))}}
    review = draw(st.sampled_from(["periodic", "continuous"]))
    if kind == "s_S":
        s = draw(st.integers(0, 30))
        return {"kind": kind, "params": {"s": s, "S": s + draw(st.integers(0, 40)), "review": review}}
    return {
        "kind": kind,
        "params": {
            "reorder_point": draw(st.integers(0, 30)),
            "order_quantity": draw(st.integers(1, 20)),
            "review": review,
        },
    }


@st.composite
def multi_sku_scenarios(draw: st.DrawFn) -> dict[str, Any]:
    products = [f"P{i}" for i in range(draw(st.integers(1, 2)))]
    traded = draw(st.booleans())
    raws_all = [f"R{i}" for i in range(draw(st.integers(1, 3)))]
    n_stores = draw(st.integers(1, 3))
    offer = products + (["G"] if traded else [])
    store_skus = [
        draw(st.lists(st.sampled_from(offer), min_size=1, unique=True)) for _ in range(n_stores)
    ]
    used = [k for k in offer if any(k in s for s in store_skus)]
    made = [k for k in used if k != "G"]
    bom = {
        p: {
            r: draw(st.sampled_from([0.5, 1, 2, 3]))
            for r in draw(st.lists(st.sampled_from(raws_all), min_size=1, unique=True))
        }
        for p in made
    }
    raws = [r for r in raws_all if any(r in b for b in bom.values())]
    with_w = draw(st.booleans())
    nodes, lanes, agents = _supplier_and_factory(draw, raws, made, bom, used)
    if with_w:
        _add_warehouse(draw, nodes, lanes, agents, used, made)
    for i, skus in enumerate(store_skus):
        _add_store(draw, nodes, lanes, agents, f"S{i}", skus, made, with_w)
    for lane in lanes:  # supply side, on location lanes: every SKU of a lane gets it
        lane.update(draw(supply_side_lane()))
    for node in nodes:
        _add_storage_and_outage(draw, node)
    return {
        "name": "random_sku",
        "seed": draw(st.integers(0, 2**16)),
        "periods": PERIODS,
        "skus": [{"id": k} for k in raws + used],
        "nodes": nodes,
        "lanes": lanes,
        "agents": agents,
    }


Entries = list[dict[str, Any]]


def _supplier_and_factory(
    draw: st.DrawFn, raws: list[str], made: list[str], bom: dict[str, Any], used: list[str]
) -> tuple[Entries, Entries, Entries]:
    """The supplier (of raw materials and the traded good) and, if anything is made, the factory
    with its bill of materials, its lane from the supplier and its agents: nodes, lanes, agents."""
    factory: dict[str, Any] = {
        "id": "F",
        "kind": "factory",
        "production_lead_time": draw(st.integers(0, 2)),
        "per_sku": {r: {"initial_inventory": draw(st.integers(0, 40))} for r in raws},
    }
    if made:
        factory["skus"] = raws + made
        factory["bom"] = bom
        if draw(st.booleans()):
            factory["capacity"] = draw(st.integers(1, 30))
    nodes: Entries = [{"id": "SUP", "kind": "supplier", "skus": raws + (["G"] if "G" in used else [])}]
    if not raws:
        nodes[0]["skus"] = ["G"]
    lanes: Entries = []
    agents: Entries = []
    if made:
        nodes.append(factory)
        lanes.append({"from": "SUP", "to": "F", "lead_time": draw(lead_times())})
        agents.append({"nodes": ["F"], "sku": raws, **draw(rule())})
        decided = [p for p in made if draw(st.booleans())]
        if decided:
            agents.append(
                {
                    "nodes": [f"F/{p}" for p in decided],
                    "kind": "base_stock",
                    "params": {"base_stock_level": draw(st.integers(0, 40))},
                }
            )
    return nodes, lanes, agents


def _add_warehouse(
    draw: st.DrawFn, nodes: Entries, lanes: Entries, agents: Entries, used: list[str], made: list[str]
) -> None:
    """A warehouse W of every SKU sold, fed by the factory and (the traded good) the supplier."""
    nodes.append(
        {
            "id": "W",
            "kind": "warehouse",
            "skus": used,
            "initial_inventory": draw(st.integers(0, 30)),
            "holding_cost": 0.5,
        }
    )
    if made:
        lanes.append({"from": "F", "to": "W", "lead_time": draw(lead_times())})
    if "G" in used:
        lanes.append({"from": "SUP", "to": "W", "lead_time": draw(lead_times())})
    agents.append({"nodes": ["W"], **draw(rule())})


def _add_store(
    draw: st.DrawFn,
    nodes: Entries,
    lanes: Entries,
    agents: Entries,
    sid: str,
    skus: list[str],
    made: list[str],
    with_w: bool,
) -> None:
    """A store of ``skus`` with Poisson demand per SKU, fed by the warehouse if there is one, else
    by the factory and (the traded good) the supplier, and its agent."""
    nodes.append(
        {
            "id": sid,
            "kind": "store",
            "skus": skus,
            "holding_cost": 1,
            "stockout_cost": 3,
            "unmet_demand": draw(st.sampled_from(["backlog", "lost"])),
            "per_sku": {
                k: {
                    "demand": {"dist": "poisson", "mean": draw(st.integers(0, 8))},
                    "initial_inventory": draw(st.integers(0, 15)),
                }
                for k in skus
            },
        }
    )
    if with_w:
        lanes.append({"from": "W", "to": sid, "lead_time": draw(lead_times())})
    else:
        if any(k in made for k in skus):
            lanes.append({"from": "F", "to": sid, "lead_time": draw(lead_times())})
        if "G" in skus:
            lanes.append({"from": "SUP", "to": sid, "lead_time": draw(lead_times())})
    agents.append({"nodes": [sid], **draw(rule())})


def _add_storage_and_outage(draw: st.DrawFn, node: dict[str, Any]) -> None:
    """Now and then: storage capacity at a warehouse or store (initial stock within it where the
    overflow is refused), an outage, and an allocation rule at the warehouse."""
    if node["kind"] in ("warehouse", "store") and draw(st.integers(0, 3)) == 0:
        cap = draw(amounts(5, 60))
        node["storage_capacity"] = cap
        if draw(st.booleans()):
            node.update(overflow="accept", overflow_cost=draw(amounts(0, 3)))
        else:
            node["initial_inventory"] = min(node.get("initial_inventory", 0), cap)
            for extra in node.get("per_sku", {}).values():
                extra["initial_inventory"] = min(extra.get("initial_inventory", 0), cap)
    if draw(st.integers(0, 4)) == 0:
        node["outage"] = draw(outages)
    if node["id"] == "W" and draw(st.booleans()):
        node["allocation"] = draw(st.sampled_from(["proportional", "fair_share", "fifo"]))


def check_laws(sim: Simulation, data: dict[str, Any]) -> None:
    rows = sim.rows
    view = stock_view(sim.scenario)
    assert len(rows) == PERIODS * len(view.nodes)
    cfg = {(view.stock_point(n.id)): n for n in view.nodes}
    bom = next((n.get("bom", {}) for n in data["nodes"] if n["id"] == "F"), {})
    by_period: dict[int, dict[tuple[str, str], Any]] = defaultdict(dict)
    cum: dict[tuple[str, str], float] = defaultdict(float)
    for r in rows:
        key = (r.node, r.sku)
        assert key in cfg
        by_period[r.period][key] = r
        assert close(r.opening_on_hand + r.receipts - r.shipped - r.sold - r.consumed, r.closing_on_hand)
        node = cfg[key]
        if node.capacity is not None:
            assert r.produced <= node.capacity * (1 + TOL)
        if (
            r.node.startswith("S") and r.node != "SUP"
        ):  # customers: demand == sold + lost + change in backlog
            cum[key] += r.demand - r.sold - r.lost_sales
            assert close(cum[key], r.backorders), (key, r)
            if node.unmet_demand == "lost":
                assert r.backorders == 0.0
        if r.node != "F" or r.sku not in bom:
            assert r.consumed == 0.0 or r.node == "F"
    released = sum(n.initial_inventory for n in view.nodes)
    released += sum(ln.initial_pipeline and sum(ln.initial_pipeline) or 0.0 for ln in view.lanes)
    for t in range(PERIODS):
        period = by_period[t]
        # Bill of materials: each input consumed == sum over outputs of units * produced.
        for raw in {r for b in bom.values() for r in b}:
            need = sum(
                units[raw] * period[("F", p)].produced for p, units in bom.items() if raw in units
            )
            assert abs(period[("F", raw)].consumed - need) <= TOL * max(1.0, need)
            assert period[("F", raw)].produced == 0.0
        released += sum(r.produced for r in period.values())
        gone = sum(
            r.sold + r.consumed + r.lost_in_transit
            for rs in list(by_period.values())[: t + 1]
            for r in rs.values()
        )
        stock = sum(r.closing_on_hand + r.in_transit_inbound for r in period.values())
        assert abs(released - gone - stock) <= TOL * max(1.0, released)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=multi_sku_scenarios(), replication=st.integers(0, 2))
def test_random_multi_sku_bom_scenarios_conserve_stock(data: dict[str, Any], replication: int) -> None:
    scenario = scenario_from_dict(data)
    sim = Simulation(scenario, replication=replication, audit=True)
    sim.run()
    check_laws(sim, data)
