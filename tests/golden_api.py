"""How :mod:`golden` runs a scenario: the twin's public API, in one small function."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reconciliation.kpis import compute_kpis, ledger_frame
from reconciliation.report import customer_nodes
from twin import Simulation, load_scenario


def ledger_and_kpis(
    path: Path, *, periods: int, warmup_periods: int, replications: int
) -> tuple[Any, dict[str, Any], dict[str, float]]:
    scenario = load_scenario(
        path, {"periods": periods, "warmup_periods": warmup_periods, "replications": replications}
    )
    results = [Simulation(scenario, replication=r, trace=r == 0).run() for r in range(replications)]
    ledger = ledger_frame(results)
    kpis = compute_kpis(results, scenario.warmup_periods, customer_nodes=customer_nodes(scenario))
    trace = results[0].trace
    return ledger, kpis, {"events": float(len(trace)), "quantity": float(sum(e.quantity for e in trace))}
