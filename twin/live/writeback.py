"""Write a run's results back to a database in one transaction: ``runs``, ``ledger``,
``recommendations`` (:mod:`twin.live.tables`).

One call writes the run's row (its KPIs as JSON), the ledger of every replication (with the
calendar date of each period when the run started from a dated state) and the orders the run's
policy placed in its first period in replication 0, to execute today. Everything is one
transaction: a run that fails or is interrupted while writing leaves no row in any table.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from entities.errors import DataError
from entities.messages import Order
from twin.engine import SimulationResult
from twin.live.store import Store
from twin.live.tables import LEDGER, RECOMMENDATIONS, RUNS
from twin.scenario import Scenario
from twin.scenario.state import lane_ends


def recommendations(
    scenario: Scenario, result: SimulationResult, period: int = 0
) -> list[tuple[str, str, str, float]]:
    """``(origin, destination, sku, units)`` ordered on each lane in ``period`` of ``result``
    (from its trace; replication 0 of a run records one)."""
    totals: dict[tuple[str, str, str], float] = defaultdict(float)
    for event in result.trace:
        if isinstance(event, Order) and event.period == period:
            totals[lane_ends(scenario, event.lane)] += event.quantity
    return [(o, d, k, q) for (o, d, k), q in sorted(totals.items()) if q > 0.0]


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinite numbers as None (JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _mean(stat: Any) -> float | None:
    if isinstance(stat, Mapping) and isinstance(stat.get("mean"), int | float):
        return float(stat["mean"])
    return None


def write_back(
    store: Store,
    scenario: Scenario,
    results: Sequence[SimulationResult],
    kpis: Mapping[str, Any],
    *,
    as_of: dt.date | None = None,
    period_days: int = 1,
    run_id: str | None = None,
) -> str:
    """Write the run to ``store`` in one transaction; return its ``run_id``."""
    if not store.is_database:
        raise DataError(f"{store.label}: --write-back needs a database (a URL or a SQLite file)")
    if not results:
        raise ValueError("write_back needs at least one replication's results")
    run_id = run_id or f"{scenario.name}-{dt.datetime.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:8]}"
    network = kpis.get("network", {})
    run = {
        "run_id": run_id,
        "created": dt.datetime.now().replace(microsecond=0),
        "scenario": scenario.source,
        "as_of": as_of,
        "periods": scenario.periods,
        "replications": len(results),
        "seed": scenario.seed,
        "cost_per_period": _mean(network.get("cost_per_period")),
        "fill_rate": _mean(network.get("fill_rate")),
        "kpis": json.dumps(_finite(kpis), default=str, allow_nan=False),
    }

    def date(period: int) -> dt.date | None:
        return None if as_of is None else as_of + dt.timedelta(days=period * period_days)

    ledger = [
        {"run_id": run_id, "replication": r.replication, "date": date(row.period), **row._asdict()}
        for r in results
        for row in r.rows
    ]
    first = min(results, key=lambda r: r.replication)
    orders = [
        {"run_id": run_id, "date": date(0), "origin": o, "destination": d, "sku": k, "quantity": q}
        for o, d, k, q in recommendations(scenario, first)
    ]
    store.write({RUNS: [run], LEDGER: ledger, RECOMMENDATIONS: orders})
    return run_id
