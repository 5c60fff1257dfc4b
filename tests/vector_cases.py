"""Helpers of the vector-twin tests: drive the event twin and the vector twin with the same draws
and the same external orders, and compare their ledgers row by row."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from agents.base import OrderDecision
from reconciliation.ledger import QUANTITY_START, LedgerRow
from twin.engine import ExternalAgent, Simulation
from twin.rl.vector import VectorTwin
from twin.scenario import Scenario

TOL = 1e-9


def event_rows(scenario: Scenario, replication: int, external: Sequence[int], orders: np.ndarray | None):
    """The event twin's ledger of one replication; ``orders[t]`` are the external nodes' orders
    on the vector twin's ``external_lanes`` in period ``t`` (None without external nodes)."""
    if not external:
        return Simulation(scenario, replication=replication).run().rows
    sim = Simulation(scenario, replication=replication, agents={i: ExternalAgent() for i in external})
    twin = VectorTwin(scenario, 1, external=external)  # only for the lane order
    lanes = twin.external_lanes
    node_of = {lane: lane.split("->", 1)[1] for lane in lanes}
    pending = sim.start()
    t = 0
    while pending is not None:
        decisions: dict[str, dict[str, float]] = {}
        for k, lane in enumerate(lanes):
            decisions.setdefault(node_of[lane], {})[lane] = float(orders[t, k])  # type: ignore[index]
        pending = sim.step({n: OrderDecision(q) for n, q in decisions.items()})
        t += 1
    return sim.rows


def vector_rows(
    scenario: Scenario,
    replications: Sequence[int],
    external: Sequence[int] = (),
    orders: np.ndarray | None = None,
    device: str | None = None,
) -> list[list[LedgerRow]]:
    """The vector twin's ledger of each replication (``orders[t, b]`` as in :func:`event_rows`)."""
    twin = VectorTwin(scenario, len(replications), external=external, device=device, record=True)
    twin.reset(replications)
    t = 0
    while not twin.done:
        twin.step(None if orders is None else orders[:, t])
        t += 1
    ledger = twin.ledger()
    return [ledger.rows(b) for b in range(len(replications))]


def assert_same_ledger(event: Sequence[LedgerRow], vector: Sequence[LedgerRow], what: str = "") -> None:
    """Every row and column equal to :data:`TOL` (relative above 1)."""
    assert len(event) == len(vector), f"{what}: {len(event)} event rows, {len(vector)} vector rows"
    for e, v in zip(event, vector, strict=True):
        assert tuple(e[:QUANTITY_START]) == tuple(v[:QUANTITY_START]), f"{what}: {e[:5]} != {v[:5]}"
        for name in LedgerRow._fields[QUANTITY_START:]:
            a, b = getattr(e, name), getattr(v, name)
            assert math.isfinite(b) and abs(a - b) <= TOL * max(1.0, abs(a)), (
                f"{what}: period {e.period}, node {e.node}, {name}: event {a!r}, vector {b!r}"
            )


def external_orders(
    twin_lanes: int, rows: int, periods: int, rng: np.random.Generator, *, integer: bool = True
) -> np.ndarray:
    """Random orders ``(rows, periods, lanes)``: whole units 0..15, or quarters up to 20."""
    if integer:
        return rng.integers(0, 16, size=(rows, periods, twin_lanes)).astype(float)
    return rng.integers(0, 81, size=(rows, periods, twin_lanes)) / 4.0
