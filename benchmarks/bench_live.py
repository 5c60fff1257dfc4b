"""A twin of a running supply chain: loading a large state, calibration and backtest of a year.

1. **Loading a state** of the 1,000-store network (``scenarios/retail_1000.yaml``: 1,023 nodes,
   1,020 lanes) with stock on hand at every node, backorders at a fifth of the stores, an open
   order on every lane and 20,000 shipments in transit, from a SQLite file:
   :func:`twin.live.state.read_state` (read, convert and check every row against the scenario),
   against a raw ``sqlite3`` fetch of the same rows timed in the same process (the floor: the
   ratio is what the checks and conversions cost); then applying it, the cost of building a
   replication with the state (``Simulation(..., setup=StartFrom(state))``) over building one
   without.
2. **Calibration** of the generated year of the 50-store sample network
   (:mod:`twin.live.sample`): seconds, and how much of the truth it recovers.
3. **Backtest** of the same year with its recorded orders: seconds and discrepancies.

Run from the repository root: ``python benchmarks/bench_live.py [--repeats 5] [--shipments
20000]``. Medians of ``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from twin import load_scenario  # noqa: E402
from twin.engine import Simulation  # noqa: E402
from twin.engine.state import StartFrom  # noqa: E402
from twin.live.backtest import backtest  # noqa: E402
from twin.live.calibrate import calibrate  # noqa: E402
from twin.live.history import read_history  # noqa: E402
from twin.live.sample import generate  # noqa: E402
from twin.live.state import read_state, state_rows  # noqa: E402
from twin.live.store import open_store  # noqa: E402
from twin.live.tables import CALENDAR  # noqa: E402
from twin.scenario.state import (  # noqa: E402
    CustomerOrder,
    InTransit,
    OpenOrder,
    StartingState,
    scenario_at,
)

AS_OF = dt.date(2025, 6, 2)


def large_state(scenario, shipments: int, seed: int = 1) -> StartingState:
    rng = np.random.default_rng(seed)
    nodes = [n for n in scenario.nodes]
    on_hand = {(n.id, "default"): float(rng.integers(0, 200)) for n in nodes}
    customers = [
        CustomerOrder(n.id, "default", float(rng.integers(1, 20)), -int(rng.integers(1, 5)))
        for k, n in enumerate(nodes)
        if n.demand is not None and k % 5 == 0
    ]
    lanes = scenario.lanes
    orders = [
        OpenOrder(ln.origin, ln.destination, "default", float(rng.integers(1, 50)), -1) for ln in lanes
    ]
    transit = [
        InTransit(
            ln.origin, ln.destination, "default", float(rng.integers(1, 40)), int(rng.integers(0, 30))
        )
        for ln in (lanes[i % len(lanes)] for i in range(shipments))
    ]
    return StartingState(on_hand, tuple(customers), tuple(orders), tuple(transit), as_of=AS_OF)


def median_time(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def loading(repeats: int, shipments: int) -> None:
    scenario = load_scenario(ROOT / "scenarios" / "retail_1000.yaml", {"replications": 1})
    state = large_state(scenario, shipments)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "state.db"
        with open_store(path, create=True) as store:
            store.write({CALENDAR: [{"origin": AS_OF, "period_days": 1}], **state_rows(state, AS_OF)})
        rows = sum(len(r) for r in state_rows(state, AS_OF).values())

        def raw() -> int:
            conn = sqlite3.connect(path)
            n = 0
            for table in ("stock", "customer_orders", "open_orders", "shipments"):
                n += len(
                    conn.execute(
                        f"SELECT * FROM {table} WHERE as_of = ?", (AS_OF.isoformat(),)
                    ).fetchall()
                )
            conn.close()
            return n

        def load() -> StartingState:
            with open_store(path) as store:
                return read_state(store, scenario, AS_OF)

        raw_s, n = median_time(raw, repeats)
        load_s, loaded = median_time(load, repeats)
        assert n == rows and len(loaded.in_transit) == shipments
    prepared = scenario_at(scenario, state)
    plain_s, _ = median_time(lambda: Simulation(prepared), repeats)
    with_s, _ = median_time(lambda: Simulation(prepared, setup=StartFrom(state)), repeats)
    nodes, lanes = len(scenario.nodes), len(scenario.lanes)
    print(f"state of {nodes} nodes, {lanes} lanes, {shipments} shipments ({rows} rows)")
    ratio = f"{load_s / raw_s:5.1f} x a raw sqlite3 fetch, {raw_s:.3f} s"
    print(f"  read_state (read, convert, check) : {load_s:7.3f} s   ({ratio})")
    print(f"  build a replication without state : {plain_s:7.3f} s")
    print(
        f"  build it with the state applied   : {with_s:7.3f} s   (applying: {with_s - plain_s:+.3f} s)"
    )
    print(f"  load + apply                      : {load_s + with_s - plain_s:7.3f} s")


def year(repeats: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = str(Path(tmp) / "sample.db")
        start = time.perf_counter()
        sample = generate(url)
        generate_s = time.perf_counter() - start
        with open_store(url) as store:
            read_s, history = median_time(lambda: read_history(store), repeats)
            calibrate_s, cal = median_time(lambda: calibrate(history), 1)
            backtest_s, result = median_time(lambda: backtest(sample.scenario, store), repeats)
    stores = [n for n in sample.scenario.nodes if n.demand is not None]
    fits = [cal.demand[(n.id, "default")] for n in stores]
    within = sum(
        abs(f.fit.distribution.mean / n.demand.mean - 1) <= 0.05
        for f, n in zip(fits, stores, strict=True)
    )
    family = sum(f.fit.family == n.demand.kind for f, n in zip(fits, stores, strict=True))

    def truth(n) -> tuple:
        e = n.demand_effects
        return (
            ()
            if e is None
            else tuple(k for k, on in (("trend", e.trend), ("season", e.seasonality)) if on)
        )

    effects = sum(f.mean_model.effects == truth(n) for f, n in zip(fits, stores, strict=True))
    lanes = sum(
        cal.lead_times[(ln.origin, ln.destination)].fit.family == ln.lead_time.kind
        for ln in sample.scenario.lanes
    )
    print(f"sample year: {len(stores)} stores, {len(sample.scenario.lanes)} lanes, {sample.days} days")
    print(f"  generate (simulate and write)     : {generate_s:7.3f} s")
    print(f"  read the history                  : {read_s:7.3f} s")
    print(f"  calibrate                         : {calibrate_s:7.3f} s")
    print(f"    demand mean within 5 %          : {within}/{len(stores)}")
    print(f"    true family                     : {family}/{len(stores)}")
    print(f"    true effects (trend, season)    : {effects}/{len(stores)}")
    print(f"    true lead-time family           : {lanes}/{len(sample.scenario.lanes)}")
    print(
        f"  backtest with the recorded orders : {backtest_s:7.3f} s, {result.checked} values checked, "
        f"{len(result.discrepancies)} discrepancies"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--shipments", type=int, default=20_000)
    args = parser.parse_args()
    print(
        f"python {platform.python_version()} on {platform.machine()}, {args.repeats} repeats (medians)"
    )
    loading(args.repeats, args.shipments)
    year(args.repeats)


if __name__ == "__main__":
    main()
