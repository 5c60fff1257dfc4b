"""The audit catches a broken identity: faults injected into a running twin raise ReconciliationError
naming the lane or node, the period and the numbers, as a check at that period's close would.

Each fault is made by a process of its own, within the period (after the decisions): it changes
one counter of an entity the way a bug in the twin would. The audit runs vectorised over blocks of
periods; the error still names the period of the fault, not the end of its block, and the run
stops there instead of going on to the horizon.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import pytest

from entities.clock import DEMAND, Phase
from entities.errors import ReconciliationError
from twin import Simulation, load_scenario

SERIAL = Path(__file__).resolve().parents[1] / "scenarios" / "serial_3stage.yaml"


def run_with_fault(
    period: int, fault: Callable[[Simulation], None], *, periods: int = 40, audit: bool = True
) -> Simulation:
    scenario = load_scenario(SERIAL, {"periods": periods, "warmup_periods": 0})
    sim = Simulation(scenario, audit=audit)

    def inject(env: Any) -> Generator[Phase, None, None]:
        yield Phase(env, period + 0.5, DEMAND)
        fault(sim)

    sim.env.process(inject(sim.env))
    sim.run()
    return sim


def node(sim: Simulation, name: str) -> Any:
    return sim.network.node_map[name]


def lane(sim: Simulation, name: str) -> Any:
    return next(ln for ln in sim.network.lanes if ln.id == name)


def add_stock(sim: Simulation) -> None:
    node(sim, "stage2").on_hand += 3.0


def receive_from_nowhere(sim: Simulation) -> None:  # stock flow holds, the network gains units
    stage1 = node(sim, "stage1")
    stage1.on_hand += 4.0
    stage1.receipts += 4.0


FAULTS = {
    "stock flow": (
        add_stock,
        r"^stock flow broken at node 'stage2', period 5: opening_on_hand [\d.]+ \+ receipts [\d.]+ "
        r"- shipped [\d.]+ - sold 0 - consumed 0 = [\d.]+ != closing_on_hand [\d.]+$",
    ),
    "lane": (
        lambda sim: setattr(lane(sim, "stage3->stage2"), "cum_received", 1e6),
        r"^lane 'stage3->stage2', period 5: shipped [\d.]+ != received 1e\+06 \+ in transit [\d.]+ "
        r"\+ lost 0$",
    ),
    "node books": (
        lambda sim: setattr(node(sim, "stage2"), "backorders", node(sim, "stage2").backorders + 2.5),
        r"^node 'stage2', period 5: backorders [\d.]+ != customer backorders 0 \+ owed to "
        r"downstream lanes [\d.]+$",
    ),
    "network": (
        receive_from_nowhere,
        r"^network, period 5: units released [\d.]+ != sold, consumed or lost [\d.]+ \+ on hand "
        r"[\d.]+ \+ in transit [\d.]+ \(difference -4\)$",
    ),
    "negative quantity": (
        lambda sim: setattr(node(sim, "stage1"), "demand", -5.0),
        r"^negative demand = -5 at node 'stage1', period 5$",
    ),
}


@pytest.mark.parametrize("case", list(FAULTS))
def test_a_broken_identity_raises_naming_where_when_and_the_numbers(case: str) -> None:
    fault, message = FAULTS[case]
    with pytest.raises(ReconciliationError, match=message):
        run_with_fault(5, fault)


def test_without_the_audit_the_same_fault_goes_unnoticed() -> None:
    sim = run_with_fault(5, add_stock, audit=False)
    assert sim.done and sim.ledger.closed == 40


def test_a_fault_in_the_middle_of_a_block_is_named_at_its_period_and_stops_the_run() -> None:
    scenario = load_scenario(SERIAL, {"periods": 3000, "warmup_periods": 0})
    block = Simulation(scenario).recorder.auditor.block  # type: ignore[union-attr]
    assert 1 < block < 3000
    period = block + block // 2
    sim: Simulation | None = None

    def fault(s: Simulation) -> None:
        nonlocal sim
        sim = s
        add_stock(s)

    with pytest.raises(ReconciliationError, match=rf"node 'stage2', period {period}:"):
        run_with_fault(period, fault, periods=3000)
    assert sim is not None and sim.ledger.closed == 2 * block  # stopped at the end of the block


def test_a_stepped_run_is_audited_when_its_result_is_taken() -> None:
    from twin.engine.simulation import ExternalAgent

    scenario = load_scenario(SERIAL, {"periods": 10, "warmup_periods": 0})
    sim = Simulation(scenario, agents={0: ExternalAgent()})
    observations = sim.start()
    for _ in range(3):
        assert observations is not None
        observations = sim.step({n: 5.0 for n in observations})
    node(sim, "stage3").on_hand += 1.0  # after the close of period 2
    observations = sim.step({n: 5.0 for n in observations})  # type: ignore[union-attr]
    with pytest.raises(ReconciliationError, match="stock flow broken at node 'stage3', period 3"):
        sim.result()
