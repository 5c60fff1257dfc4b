"""Speed of the event core, as simulated periods per second and SimPy-event equivalents (SEE).

SEE per period = (seconds per simulated period) / (seconds per event of a raw SimPy timeout loop),
both timed in this process, so the ratio is stable on a shared, noisy machine (DESIGN.md, Scale).
Also times a minimal hand-written SimPy model of the same 3-stage serial chain (base-stock, no
ledger, no audit) as the floor to compare against.

Scaling section: retail networks of increasing size from ``benchmarks/make_retail.py``
(3 suppliers, ``stores / 50`` warehouses, 50..1,000 stores, 365 periods, ledger and audit on).
For each size it reports seconds per replication (``Simulation.run``; building the entities is
reported apart), microseconds and SEE per node-period (each run paired with a raw-loop timing
taken just before it), then fits ``seconds = a + b * nodes`` by least squares (slope, intercept,
R^2) and gives the ratio of the per-node-period cost of the largest to the smallest network:
linear scaling keeps that ratio near 1; so does a log-log slope near 1 (``seconds ~ nodes^k``).
Sizes are interleaved within each repeat, so load on a shared machine spreads over all of them;
medians over ``--repeats``. (The twin pauses Python's cyclic garbage collector while it runs,
``twin.simulation.collector_paused``: with it on, its share of a run grew from 5 % at 52 nodes to
30 % at 1,023 and the cost per node-period with it; ``--collector`` runs with it on, to compare.)

End-to-end section (``--end-to-end``): ``python -m twin.run scenarios/serial_3stage.yaml`` as users
run it (a subprocess: simulation, KPIs, the run folder with its tables and plots), at ``--e2e-periods``
periods and at 20,000 periods more; the difference, divided by the extra replication-periods
(20,000 x the scenario's replications), is the marginal cost of a period with process start, imports
and fixed costs excluded, in SEE (a raw SimPy loop timed in this process before each pair).

Memory section (``--memory``): ``python -m twin.run scenarios/retail_1000.yaml`` (one replication,
``twin.run.main`` in a child process that reports its own peak resident memory, as ``/usr/bin/time
-f %M`` does, and its anonymous and file-backed resident memory at exit), by default (figures and
report) and with ``--no-plots``; the seconds of its simulating and writing phases (simulation vs
KPIs plus run folder); what the libraries alone take (twin and pyarrow imported, no data); and the
bytes per row of the 1,000-store ledger in memory while the run records it and once it is
finished. File-backed memory is the pages of shared libraries the process has mapped: how many a
process maps depends on how the page cache holds those files (large folios are mapped whole), so
it differs between two installs of the same libraries on one machine.

Run from the repository root: ``python benchmarks/bench_twin.py [--repeats 5]`` (the event-core and
scaling sections), ``--scaling`` (the scaling section only), ``--no-scaling`` (the event-core cases
only), ``--end-to-end`` or ``--memory`` (that section only).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import simpy

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))  # make_retail: benchmarks is not a package

from make_retail import retail_network  # noqa: E402

from twin import Scenario, Simulation, load_scenario, scenario_from_dict  # noqa: E402


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
                eip = (
                    sum(on_hand[: j + 1])
                    + sum(in_transit[: j + 1])
                    + backorders[j + 1 if j < 2 else 2] * 0
                )
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


SCALING_STORES = (50, 100, 250, 500, 1000)
STORES_PER_WAREHOUSE = 50


@dataclass
class ScalePoint:
    """Medians of the paired measurements of one network size."""

    network: str
    """``suppliers/warehouses/stores``."""
    nodes: int
    build_seconds: float
    seconds: float
    us_per_node_period: float
    see_per_node_period: float


def retail_scenario(stores: int, periods: int) -> Scenario:
    """The benchmark's retail network with ``stores`` stores (``stores / 50`` warehouses, at most 3
    suppliers: every supplier needs a warehouse to serve)."""
    warehouses = max(1, stores // STORES_PER_WAREHOUSE)
    data = retail_network(
        suppliers=min(3, warehouses),
        warehouses=warehouses,
        stores=stores,
        periods=periods,
        warmup_periods=0,
    )
    return scenario_from_dict(data, source=f"retail_network(stores={stores})")


def least_squares(x: Sequence[float], y: Sequence[float]) -> tuple[float, float, float]:
    """Intercept ``a``, slope ``b`` and R^2 of the fit ``y = a + b x``."""
    xs, ys = np.asarray(x, float), np.asarray(y, float)
    slope, intercept = np.polyfit(xs, ys, 1)
    residual = float(np.sum((ys - (intercept + slope * xs)) ** 2))
    total = float(np.sum((ys - ys.mean()) ** 2))
    return float(intercept), float(slope), 1.0 - residual / total if total > 0 else 1.0


def scaling(
    stores: Sequence[int], periods: int, repeats: int, *, collector: bool = False
) -> list[ScalePoint]:
    """Time one audited replication per size and repeat (sizes interleaved within a repeat);
    ``collector``: keep Python's cyclic garbage collector on during the runs."""
    scenarios = {n: retail_scenario(n, periods) for n in stores}
    samples: dict[int, list[tuple[float, float, float]]] = {n: [] for n in stores}
    for _ in range(repeats):
        for n in stores:
            scenario = scenarios[n]
            start = time.perf_counter()
            sim = Simulation(scenario, audit=True)
            build = time.perf_counter() - start
            gc.collect()  # every size starts from the same collector state
            unit = raw_timeout_seconds()  # paired with the run just after it
            with contextlib.ExitStack() as stack:
                if collector:  # undo the pause the twin makes (a comparison, not the default)
                    stack.enter_context(_collector_on())
                start = time.perf_counter()
                result = sim.run()
                seconds = time.perf_counter() - start
            node_periods = len(scenario.nodes) * periods
            assert result.ledger.rows_count == node_periods  # one ledger row per node and period
            samples[n].append((build, seconds, seconds / node_periods / unit))
            del sim, result  # the next size starts without this one's ledger in memory
    points = []
    for n in stores:
        kinds = Counter(node.kind for node in scenarios[n].nodes)
        nodes = len(scenarios[n].nodes)
        build, seconds, see = (statistics.median(col) for col in zip(*samples[n], strict=True))
        points.append(
            ScalePoint(
                f"{kinds['supplier']}/{kinds['warehouse']}/{kinds['store']}",
                nodes,
                build,
                seconds,
                seconds / (nodes * periods) * 1e6,
                see,
            )
        )
    return points


@contextlib.contextmanager
def _collector_on() -> Iterator[None]:
    """Make ``twin.simulation.collector_paused`` a no-op (for ``--collector``)."""
    from twin.engine import simulation

    paused = simulation.collector_paused
    simulation.collector_paused = contextlib.nullcontext  # type: ignore[assignment]
    try:
        yield
    finally:
        simulation.collector_paused = paused


def print_scaling(
    points: list[ScalePoint], periods: int, repeats: int, *, collector: bool = False
) -> None:
    print(
        f"\nscaling: retail networks from benchmarks/make_retail.py, {periods} periods, ledger + "
        f"audit on{', cyclic GC on during runs' if collector else ''}, median of {repeats} "
        "(each run paired with a raw SimPy loop timed just before)"
    )
    print(
        f"{'sup/wh/stores':>13s} {'nodes':>6s} {'build s':>8s} {'s / repl.':>10s} "
        f"{'us/node-period':>15s} {'SEE/node-period':>16s}"
    )
    for p in points:
        print(
            f"{p.network:>13s} {p.nodes:6d} {p.build_seconds:8.3f} {p.seconds:10.3f} "
            f"{p.us_per_node_period:15.2f} {p.see_per_node_period:16.2f}"
        )
    if len(points) < 2:
        return
    a, b, r2 = least_squares([p.nodes for p in points], [p.seconds for p in points])
    print(
        f"fit seconds = a + b * nodes: slope b = {b * 1e3:.3f} ms per node "
        f"({b / periods * 1e6:.2f} us per node-period), intercept a = {a:.3f} s, R^2 = {r2:.4f}"
    )
    _, k, _ = least_squares([math.log(p.nodes) for p in points], [math.log(p.seconds) for p in points])
    print(f"log-log fit seconds ~ nodes^k: k = {k:.3f} (linear: 1)")
    small, large = points[0], points[-1]
    print(
        f"per node-period, {large.nodes} vs {small.nodes} nodes: "
        f"{large.us_per_node_period / small.us_per_node_period:.2f}x in us, "
        f"{large.see_per_node_period / small.see_per_node_period:.2f}x in SEE "
        "(linear scaling: near 1)"
    )


def core(repeats: int, periods: int) -> None:
    """The event-core cases: the hand-written floor and the twin on two small scenarios."""
    cases = [
        ("hand-written SimPy serial (floor)", lambda: handwritten_serial_seconds(periods)),
        (
            "twin serial_3stage, audit on",
            lambda: twin_seconds("scenarios/serial_3stage.yaml", periods, True),
        ),
        (
            "twin serial_3stage, audit off",
            lambda: twin_seconds("scenarios/serial_3stage.yaml", periods, False),
        ),
        (
            "twin hmarl_3store, audit on",
            lambda: twin_seconds("scenarios/hmarl_3store.yaml", periods, True),
        ),
    ]
    print(
        f"{'case':36s} {'periods/s':>11s} {'SEE/period':>11s}  (median of {repeats}, "
        "each against a raw SimPy timeout loop timed just before)"
    )
    for name, fn in cases:
        see, rate = [], []
        for _ in range(repeats):
            unit = raw_timeout_seconds()
            seconds = fn()
            see.append(seconds / unit)
            rate.append(1 / seconds)
        print(f"{name:36s} {statistics.median(rate):11,.0f} {statistics.median(see):11.1f}")
    print(f"raw SimPy timeout: {raw_timeout_seconds() * 1e6:.2f} us per event on this machine")
    assert math.isfinite(statistics.median(see))


# --------------------------------------------------------------------------------------------------
# End to end: the command as users run it.


def run_command(path: str, periods: int, *extra: str) -> float:
    """Seconds of ``python -m twin.run path --periods N`` in a subprocess (its folder discarded)."""
    folder = Path(tempfile.mkdtemp(prefix="bench-run-"))
    try:
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "twin.run", path, "--periods", str(periods), "--quiet"]
            + ["--out", str(folder / "run"), *extra],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        return time.perf_counter() - start
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def end_to_end(repeats: int, periods: int, extra: int = 20_000) -> None:
    """The marginal cost of a period of ``python -m twin.run scenarios/serial_3stage.yaml``."""
    path = "scenarios/serial_3stage.yaml"
    replications = load_scenario(ROOT / path).replications
    samples = []
    for _ in range(repeats):
        unit = raw_timeout_seconds()
        base, longer = run_command(path, periods), run_command(path, periods + extra)
        samples.append((base, longer, (longer - base) / (extra * replications) / unit))
    base, longer, see = (statistics.median(col) for col in zip(*samples, strict=True))
    print(
        f"\nend to end: python -m twin.run {path} ({replications} replications), --periods "
        f"{periods} and {periods + extra}, median of {repeats}"
    )
    print(
        f"{base:.2f} s and {longer:.2f} s: {(longer - base) / (extra * replications) * 1e6:.2f} us "
        f"or {see:.1f} SEE per extra replication-period (process start, imports and fixed costs "
        "excluded)"
    )


# --------------------------------------------------------------------------------------------------
# Memory and phases of the 1,000-store run.

_CHILD = """
import json, resource, sys, time
start = time.perf_counter()
import twin.run
marks = {}
run_scenario = twin.run.run_scenario
def timed(*args, **kwargs):
    marks["simulate"] = time.perf_counter()
    results = run_scenario(*args, **kwargs)
    marks["simulated"] = time.perf_counter()
    return results
twin.run.run_scenario = timed
assert twin.run.main(sys.argv[1:]) == 0
end = time.perf_counter()
print(json.dumps({
    "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, **rss(),
    "load_s": marks["simulate"] - start, "simulate_s": marks["simulated"] - marks["simulate"],
    "write_s": end - marks["simulated"],
}))
"""

_RSS = """
def rss():
    try:
        with open("/proc/self/status") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
    except OSError:
        return {}
    return {k: int(fields[k].split()[0]) / 1024 for k in ("RssAnon", "RssFile") if k in fields}
"""

_LIBRARIES = """
import json, sys
import twin.run, reconciliation.report, pyarrow.parquet, pyarrow.csv
print(json.dumps(rss()))
"""


def _child(code: str, *args: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", _RSS + code, *args], cwd=ROOT, check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.splitlines()[-1])


def retail_run(plots: bool) -> dict[str, float]:
    """Peak memory (MB, as ``/usr/bin/time -f %M`` reports it), resident memory at exit (anonymous
    and file-backed, MB) and phase seconds of ``python -m twin.run scenarios/retail_1000.yaml`` in a
    fresh child process: load (imports, reading and validating the scenario), simulate
    (``run_scenario``), write (KPIs, the run folder with its figures and report, the printout)."""
    folder = Path(tempfile.mkdtemp(prefix="bench-retail-"))
    try:
        extra = [] if plots else ["--no-plots"]
        return _child(
            _CHILD, "scenarios/retail_1000.yaml", "--quiet", "--out", str(folder / "run"), *extra
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def ledger_bytes_per_row() -> tuple[float, float, int]:
    """Bytes per row of the retail_1000 ledger while recorded (float64 cells) and finished."""
    scenario = load_scenario(ROOT / "scenarios/retail_1000.yaml")
    sim = Simulation(scenario)
    recording = sim.ledger.nbytes / (scenario.periods * sim.ledger.layout.size)
    ledger = sim.run().ledger
    return recording, ledger.nbytes / ledger.rows_count, ledger.rows_count


def memory(repeats: int) -> None:
    print(
        "\nmemory: python -m twin.run scenarios/retail_1000.yaml "
        "(1,023 nodes, 365 days, one replication)"
    )
    libraries = _child(_LIBRARIES)
    print(
        "libraries (twin, pyarrow), before any data: "
        + ", ".join(f"{k} {v:.1f} MB" for k, v in libraries.items())
    )
    for plots in (True, False):
        runs = [retail_run(plots) for _ in range(repeats)]

        def median(key: str, runs: list[dict[str, float]] = runs) -> float:
            return statistics.median(r.get(key, math.nan) for r in runs)

        simulate, write = median("simulate_s"), median("write_s")
        print(
            f"{'default' if plots else '--no-plots':11s} peak {median('peak_mb'):6.1f} MB "
            f"(at exit: anonymous {median('RssAnon'):5.1f}, file-backed {median('RssFile'):5.1f}); "
            f"simulate {simulate:5.2f} s, KPIs + run folder {write:5.2f} s "
            f"({100 * write / simulate:.0f} % of simulating); medians of {repeats}"
        )
    recording, finished, rows = ledger_bytes_per_row()
    print(
        f"ledger: {rows:,} rows, {recording:.1f} bytes per row while recorded, {finished:.1f} once "
        "finished (series of whole units held as float32)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--periods", type=int, default=5_000, help="periods of the event-core cases")
    section = parser.add_mutually_exclusive_group()
    section.add_argument("--scaling", action="store_true", help="run the scaling section only")
    section.add_argument("--no-scaling", action="store_true", help="skip the scaling section")
    section.add_argument(
        "--end-to-end", action="store_true", help="run the end-to-end section (twin.run) only"
    )
    section.add_argument(
        "--memory", action="store_true", help="run the memory section (retail_1000) only"
    )
    parser.add_argument(
        "--e2e-periods", type=int, default=1_000, help="end to end: periods of the shorter run"
    )
    parser.add_argument("--scaling-periods", type=int, default=365)
    parser.add_argument(
        "--stores",
        type=int,
        nargs="+",
        default=list(SCALING_STORES),
        help="store counts of the scaling networks (e.g. multiples of 50)",
    )
    parser.add_argument(
        "--collector",
        action="store_true",
        help="scaling: keep the cyclic garbage collector on during the runs",
    )
    args = parser.parse_args()
    if args.end_to_end:
        end_to_end(args.repeats, args.e2e_periods)
        return
    if args.memory:
        memory(args.repeats)
        return
    if not args.scaling:
        core(args.repeats, args.periods)
    if not args.no_scaling:
        points = scaling(args.stores, args.scaling_periods, args.repeats, collector=args.collector)
        print_scaling(points, args.scaling_periods, args.repeats, collector=args.collector)


if __name__ == "__main__":
    main()
