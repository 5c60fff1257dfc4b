"""Factories with a bill of materials (entities/production.py)."""

from __future__ import annotations

from typing import Any

import pytest

from entities.errors import ScenarioError
from twin.engine.simulation import Simulation, simulate
from twin.scenario import scenario_from_dict


def factory(
    *,
    decided: bool = True,
    capacity: float | None = 10,
    r1: float = 30,
    periods: int = 40,
    lead: int = 1,
) -> dict[str, Any]:
    """SUP supplies R1, R2 to factory F, which makes P (2 R1 + 1 R2) for store S."""
    agents: list[dict[str, Any]] = [
        {"nodes": ["S"], "kind": "base_stock", "params": {"base_stock_level": 15}},
        {
            "nodes": ["F"],
            "sku": ["R1", "R2"],
            "kind": "base_stock",
            "params": {"base_stock_level": {"F/R1": r1, "F/R2": 20}},
        },
    ]
    if decided:
        agents.append({"nodes": ["F/P"], "kind": "base_stock", "params": {"base_stock_level": 12}})
    f: dict[str, Any] = {
        "id": "F",
        "kind": "factory",
        "production_lead_time": lead,
        "bom": {"P": {"R1": 2, "R2": 1}},
        "per_sku": {"R1": {"initial_inventory": 10}},
    }
    if capacity is not None:
        f["capacity"] = capacity
    return {
        "name": "bom",
        "seed": 5,
        "periods": periods,
        "skus": [{"id": "R1"}, {"id": "R2"}, {"id": "P"}],
        "nodes": [
            {"id": "SUP", "kind": "supplier", "skus": ["R1", "R2"]},
            f,
            {
                "id": "S",
                "kind": "store",
                "skus": ["P"],
                "stockout_cost": 1,
                "demand": {"dist": "poisson", "mean": 5},
            },
        ],
        "lanes": [{"from": "SUP", "to": "F", "lead_time": 2}, {"from": "F", "to": "S", "lead_time": 1}],
        "agents": agents,
    }


def by_key(rows: list[Any]) -> dict[tuple[int, str], Any]:
    return {(r.period, r.sku): r for r in rows if r.node == "F"}


@pytest.mark.parametrize("decided", [True, False])
def test_consumption_is_units_times_production(decided: bool) -> None:
    rows = simulate(scenario_from_dict(factory(decided=decided)), audit=True).rows
    f = by_key(rows)
    made = 0.0
    for t in range(40):
        p, r1, r2 = f[t, "P"], f[t, "R1"], f[t, "R2"]
        assert r1.consumed == pytest.approx(2 * p.produced)
        assert r2.consumed == pytest.approx(1 * p.produced)
        assert p.produced <= 10 + 1e-9  # capacity
        assert p.consumed == r1.produced == r2.produced == 0.0
        made += p.produced
    assert made > 100  # it produced, limited by capacity and inputs


def test_production_is_limited_by_the_scarcest_input() -> None:
    # R1 base stock 6 at a lead time of 2: at most ~6 R1 per period reach F -> P <= R1 / 2.
    sim = Simulation(scenario_from_dict(factory(r1=6, capacity=None)))
    rows = sim.run().rows
    f = by_key(rows)
    for t in range(40):
        opening_r1 = f[t, "R1"].opening_on_hand + f[t, "R1"].receipts
        assert f[t, "P"].produced <= opening_r1 / 2 + 1e-9
    assert any(
        f[t, "P"].produced == pytest.approx((f[t, "R1"].opening_on_hand + f[t, "R1"].receipts) / 2)
        and f[t, "P"].produced > 0
        for t in range(40)
    )
    # S is starved: unmet P demand is backordered at the store.
    assert sum(r.backorders for r in rows if r.node == "S") > 0


def test_output_arrives_after_the_production_lead_time() -> None:
    sim = Simulation(scenario_from_dict(factory(lead=2)), trace=True)
    sim.run()
    shipments = [e for e in sim.trace if type(e).__name__ == "Shipment" and e.lane == "production->F/P"]
    assert shipments and all(e.due == e.sent + 2 for e in shipments)
    rows = by_key(sim.rows)
    for t in range(40):
        # Produced units are in transit on the production line until they arrive (receipts).
        due = sum(e.quantity for e in shipments if e.due == t)
        assert rows[t, "P"].receipts == pytest.approx(due)


def test_input_demand_is_the_production_requirement() -> None:
    rows = simulate(scenario_from_dict(factory())).rows
    f = by_key(rows)
    for t in range(40):
        assert f[t, "R1"].demand >= f[t, "R1"].consumed - 1e-9
        assert f[t, "R1"].filled_on_time == pytest.approx(f[t, "R1"].consumed)
        assert f[t, "R1"].demand == pytest.approx(2 * f[t, "R2"].demand)


def test_network_identity_with_consumption() -> None:
    """Initial stock + production - sales - consumption == stock on hand and in transit."""
    rows = simulate(scenario_from_dict(factory()), audit=True).rows
    produced_p = sum(r.produced for r in rows if (r.node, r.sku) == ("F", "P"))
    assert sum(r.consumed for r in rows) == pytest.approx(3 * produced_p)
    released = 10 + sum(r.produced for r in rows)  # F/R1 starts with 10
    gone = sum(r.sold + r.consumed for r in rows)
    last = [r for r in rows if r.period == 39]
    assert released - gone == pytest.approx(sum(r.closing_on_hand + r.in_transit_inbound for r in last))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["nodes"][1]["bom"]["P"].update(X=1), r"nodes\[1\]\.bom\.P\.X: 'X' is not a SKU"),
        (lambda d: d["nodes"][1]["bom"]["P"].update(R1=0), r"nodes\[1\]\.bom\.P\.R1: .*greater than 0"),
        (
            lambda d: d["nodes"][1]["bom"].update(R1={"P": 1}),
            r"nodes\[1\]\.bom\.P\.R1: 'R1' is an output",
        ),
        (lambda d: d["nodes"][1]["bom"].update(Q={"R1": 1}), r"nodes\[1\]\.bom\.Q: 'Q' is not a SKU"),
        (lambda d: d["nodes"][1]["bom"].update(P={}), r"nodes\[1\]\.bom\.P: lists no input SKU"),
        (
            lambda d: d["lanes"][0].update(skus=["R1", "P"]),
            r"lanes\[0\]\.skus\[1\]: SKU 'P' is not stocked at both 'SUP' and 'F'",
        ),
    ],
)
def test_bom_errors(edit: Any, message: str) -> None:
    data = factory()
    edit(data)
    with pytest.raises(ScenarioError, match=message):
        scenario_from_dict(data)


def test_factory_output_cannot_also_come_by_lane() -> None:
    data = factory()
    data["nodes"][0]["skus"] = ["R1", "R2", "P"]
    data["lanes"][0]["skus"] = ["R1", "R2", "P"]
    with pytest.raises(ScenarioError, match=r"lanes\[0\]\.skus\[2\]: 'F' makes 'P' \(bom\)"):
        scenario_from_dict(data)
    del data["lanes"][0]["skus"]  # by default a lane does not carry what its destination makes
    with pytest.raises(ScenarioError, match=r"nodes\[0\]: 'SUP/P' has neither customers"):
        scenario_from_dict(data)
