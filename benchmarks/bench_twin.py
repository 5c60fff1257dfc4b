"""Speed of the event core, as simulated periods per second and SimPy-event equivalents (SEE).

SEE per period = (seconds per simulated period) / (seconds per event of a raw SimPy timeout loop),
both timed in this process, so the ratio is stable on a shared, noisy machine (DESIGN.md, Scale).
Also times a minimal hand-written SimPy model of the same 3-stage serial chain (base-stock, no
ledger, no audit) as the floor to compare against.

Run from the repository root: ``python benchmarks/bench_twin.py [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import simpy

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from twin import Simulation, load_scenario  # noqa: E402


def raw_timeout_seconds(events: int = 200_000) -> float:
    """Seconds per event of the simplest SimPy loop: ``yield env.timeout(1)``."""
    env = simpy.Environment()

    def loop():
        for _ in range(events):
            yield env.timeout(1)

    env.process(loop())
    start = time.perf_counter()
    env.run()
    return (time.perf_counter() - start) / events


def handwritten_serial_seconds(periods: int = 20_000) -> float:
    """Seconds per period of a minimal SimPy model of the 3-stage serial chain (echelon base-stock
    6.49/12.02/22.71, lead times 1/1/2, Normal(5,1) demand): one process per stage, shipments as
    timeouts, costs summed in one float. No ledger, no audit, no agents: the floor."""
    env = simpy.Environment()
    rng = np.random.default_rng(1)
    demand = np.maximum(rng.normal(5, 1, periods), 0).tolist()
    lead = [1, 1, 2]
    levels = [6.49, 12.02, 22.71]
    on_hand = [6.49, 5.53, 10.69]
    backorders = [0.0, 0.0, 0.0]  # backorders[0]: customers; [j]: owed by stage j to j-1
    in_transit = [0.0, 0.0, 0.0]
    cost = [0.0]
    h, p = [7.0, 4.0, 2.0], 37.12

    def arrive(j, q):
        yield env.timeout(lead[j])
        in_transit[j] -= q
        on_hand[j] += q

    def period():
        for t in range(periods):
            # demand at stage 1
            backorders[0] += demand[t]
            for j in range(3):
                # each stage ships what it owes from stock
                q = min(backorders[j], on_hand[j])
                on_hand[j] -= q
                backorders[j] -= q
                if j > 0:
                    in_transit[j - 1] += q
                    env.process(arrive(j - 1, q))
            for j in range(3):
                eip = sum(on_hand[:j + 1]) + sum(in_transit[:j + 1]) + backorders[j + 1 if j < 2
                                                                                   else 2] * 0
                eip -= backorders[0]
                order = max(0.0, levels[j] - eip - (backorders[j + 1] if j < 2 else 0.0))
                if j < 2:
                    backorders[j + 1] += order
                else:
                    in_transit[2] += order
                    env.process(arrive(2, order))
            cost[0] += sum(hh * oh for hh, oh in zip(h, on_hand, strict=True)) + p * backorders[0]
            yield env.timeout(1)

    env.process(period())
    start = time.perf_counter()
    env.run()
    return (time.perf_counter() - start) / periods


def twin_seconds(path: str, periods: int, audit: bool) -> float:
    scenario = load_scenario(ROOT / path, overrides={"periods": periods, "warmup_periods": 0})
    sim = Simulation(scenario, audit=audit)
    start = time.perf_counter()
    sim.run()
    return (time.perf_counter() - start) / periods


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--periods", type=int, default=5_000)
    args = parser.parse_args()
    cases = [
        ("hand-written SimPy serial (floor)", lambda: handwritten_serial_seconds(args.periods)),
        ("twin serial_3stage, audit on", lambda: twin_seconds("scenarios/serial_3stage.yaml",
                                                              args.periods, True)),
        ("twin serial_3stage, audit off", lambda: twin_seconds("scenarios/serial_3stage.yaml",
                                                               args.periods, False)),
        ("twin hmarl_3store, audit on", lambda: twin_seconds("scenarios/hmarl_3store.yaml",
                                                             args.periods, True)),
    ]
    print(f"{'case':36s} {'periods/s':>11s} {'SEE/period':>11s}  (median of {args.repeats}, "
          "each against a raw SimPy timeout loop timed just before)")
    for name, fn in cases:
        see, rate = [], []
        for _ in range(args.repeats):
            unit = raw_timeout_seconds()
            seconds = fn()
            see.append(seconds / unit)
            rate.append(1 / seconds)
        print(f"{name:36s} {statistics.median(rate):11,.0f} {statistics.median(see):11.1f}")
    print(f"raw SimPy timeout: {raw_timeout_seconds() * 1e6:.2f} us per event on this machine")
    assert math.isfinite(statistics.median(see))


if __name__ == "__main__":
    main()
