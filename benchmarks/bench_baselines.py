"""The baselines learned policies must beat: rule agents tuned by ``twin.tune``, compared honestly.

::

    python benchmarks/bench_baselines.py                     # both parts (a few minutes on 2 cores)
    python benchmarks/bench_baselines.py --only liu --liu-data PATH/liu_eval
    python benchmarks/bench_baselines.py --quick             # tiny budgets: a sanity run

1. **liu_serial, Merton demand** (Liu et al., SSRN 4262186): every rule is tuned by the search of
   ``twin.tune`` (``--engine vector``) on *training* demand, the scenario's own Merton draws
   (replications ``0 .. N-1`` of its seed), each level's orders capped at 20 (``max_order: 20``,
   their action space 0..20) and whole; the tuned rules are then evaluated on Liu et al.'s 20
   Merton evaluation paths (``liu_eval/test_demand_merton``, first 200 values, replayed as demand
   series from a temporary folder; the paths are read from ``--liu-data``, never copied into the
   project) on the event twin. Reported: cost per agent per period (their measure: the three
   levels' holding and backlog cost over 200 periods / 600) on training and evaluation demand, and
   their ordering-fluctuation measure from the ledger's ``ordered`` column (per level, the
   coefficient of variation ``std / mean`` of its orders in periods 0..198 of an episode, 0 when
   the mean is below 1e-6, averaged over the episodes, as their ``envs/serial.py`` records it).
   The adaptive rule is tried in a few variants (position, window); the one reported as best is
   chosen on training demand. A check: pass-through must cost 19,945.35 per episode on their paths
   with the first observed demand 10 (their reset) and 20,567.9 with 0.
2. **hmarl_3store**: (s, S) at the three stores and at the warehouse tuned jointly
   (``--target store=s_S --target warehouse_1=s_S``, supplier keeps its rule) on replications
   ``0 .. N-1``, against the scenario's rules and the tuned warehouse alone, all evaluated on
   held-out replications (100 .. 119): network cost per period (mean +- 95 % CI), store fill rate.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "1")

from twin import Simulation, scenario_from_dict  # noqa: E402
from twin.rl.vector import replication_costs  # noqa: E402
from twin.scenario import read_yaml  # noqa: E402
from twin.studies.tune import TuneResult, tune, tuned_scenario_data  # noqa: E402

LEVELS = ["retailer", "distributor", "manufacturer"]
HAPPO_ON_LIU_PATHS = 23.58  # benchmarks/RESULTS.md, bench_rl.py (2)


def ci95(values: list[float]) -> tuple[float, float]:
    from scipy import stats

    x = np.asarray(values, float)
    if len(x) < 2:
        return float(x.mean()), math.nan
    return float(x.mean()), float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))


def find_liu_data(given: str | None) -> Path:
    candidates = [Path(given)] if given else []
    candidates += [
        ROOT.parent / "shared" / "data" / "liu_eval",
        ROOT.parents[1] / "shared" / "data" / "liu_eval",
    ]
    for path in candidates:
        if (path / "test_demand_merton").is_dir():
            return path
    raise SystemExit(
        f"no Liu et al. evaluation data (test_demand_merton/) in "
        f"{[str(c) for c in candidates]}; pass --liu-data"
    )


# -- (1) liu_serial --------------------------------------------------------------------------------


def liu_training(train: int) -> dict[str, Any]:
    data = read_yaml(ROOT / "scenarios" / "liu_serial.yaml")
    data["nodes"][0]["demand"] = {"dist": "merton"}
    data["replications"] = train
    return data


def liu_evaluation(
    tuned: dict[str, Any], folder: Path, paths: list[np.ndarray], initial_demand: float = 10
):
    """The tuned scenario replaying Liu et al.'s paths: replication i is evaluation path i."""
    files = []
    for i, path in enumerate(paths):
        f = folder / f"path_{i}.csv"
        if not f.exists():
            f.write_text("period,retailer\n" + "".join(f"{t},{int(d)}\n" for t, d in enumerate(path)))
        files.append(str(f))
    data = dict(tuned)
    data["nodes"] = [dict(n) for n in tuned["nodes"]]
    del data["nodes"][0]["demand"]
    data["nodes"][0]["demand_series"] = {"files": files}
    data.update(replications=len(paths), initial_demand=initial_demand)
    return scenario_from_dict(data, source="liu-eval")


def per_agent(rows) -> float:
    periods = max(r.period for r in rows) + 1
    return sum(r.total_cost for r in rows if r.node in LEVELS) / periods / len(LEVELS)


def fluctuation(episodes: list[list]) -> list[float]:
    """Liu et al.'s ordering-fluctuation measure per level from ledger rows (see the docstring)."""
    out = []
    for node in LEVELS:
        cvs = []
        for rows in episodes:
            orders = np.array([r.ordered for r in rows if r.node == node and r.period < 199])
            cvs.append(0.0 if orders.mean() < 1e-6 else float(orders.std() / orders.mean()))
        out.append(float(np.mean(cvs)))
    return out


def evaluate_liu(scenario) -> tuple[float, list[float], list[list]]:
    episodes = [Simulation(scenario, replication=r).run().rows for r in range(scenario.replications)]
    return float(np.mean([per_agent(rows) for rows in episodes])), fluctuation(episodes), episodes


def bench_liu(liu_data: Path, train: int, budget: int, quick: bool) -> None:
    files = sorted((liu_data / "test_demand_merton").glob("*.txt"), key=lambda p: int(p.stem))
    paths = [np.loadtxt(f)[:200] for f in files][: 3 if quick else 20]
    data = liu_training(train)
    everyone = ",".join(LEVELS)
    cap = "max_order=20"
    candidates: list[tuple[str, str | None]] = [
        ("constant 10 (the scenario's placeholder)", None),
        ("pass-through", None),
        ("constant, tuned per level", f"constant:{cap}"),
        ("installation base stock", f"base_stock:{cap}"),
        ("echelon base stock", f"echelon_base_stock:{cap}"),
        ("adaptive, installation, window 1", f"adaptive_base_stock:integer=true,{cap}"),
        ("adaptive, echelon, window 1", f"adaptive_base_stock:position=echelon,integer=true,{cap}"),
        ("adaptive, installation, window 2", f"adaptive_base_stock:window=2,integer=true,{cap}"),
        ("adaptive, installation, window 4", f"adaptive_base_stock:window=4,integer=true,{cap}"),
    ]
    print(
        f"(1) liu_serial, Merton demand: tuned on {train} training draws (seed {data['seed']}), "
        f"evaluated on {len(paths)} Liu et al. paths; cost per agent per period"
    )
    print(
        f"    {'rule':42s} {'training':>9s} {'Liu paths':>10s}   "
        f"{'fluctuation (retailer, distributor, manufacturer)':50s} parameters"
    )
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for label, spec in candidates:
            start = time.perf_counter()
            if spec is None:
                agent = (
                    {"kind": "constant", "params": {"quantity": 10}}
                    if label.startswith("constant")
                    else {"kind": "pass_through", "params": {"max_order": 20}}
                )
                tuned = dict(data, agents=[{"nodes": LEVELS, **agent}])
                result: TuneResult | None = None
            else:
                result = tune(
                    data, everyone, spec, source="liu_serial", budget=budget, evaluator=replication_costs
                )
                tuned = tuned_scenario_data(data, result, "liu_serial")
            training = scenario_from_dict(tuned, source="liu_serial")
            train_cost = float(np.mean(replication_costs(training, range(train)))) / len(LEVELS)
            cost, cvs, _ = evaluate_liu(liu_evaluation(tuned, folder, paths))
            params = (
                ""
                if result is None
                else "; ".join(
                    f"{name} " + "/".join(f"{v:g}" for v in values.values())
                    for name, values in result.params.items()
                )
            )
            wall = time.perf_counter() - start
            results.append((label, train_cost, cost, spec))
            print(
                f"    {label:42s} {train_cost:9.2f} {cost:10.2f}   "
                f"{', '.join(f'{c:.3f}' for c in cvs):50s} {params} ({wall:.0f} s"
                + ("" if result is None else f", {result.evaluations} evaluations")
                + ")"
            )
        adaptive = [r for r in results if r[0].startswith("adaptive")]
        best = min(adaptive, key=lambda r: r[1])
        static = min((r for r in results if "base stock" in r[0]), key=lambda r: r[1])
        print(
            f"    best adaptive by training cost: {best[0]}: {best[2]:.2f} on Liu's paths; best static "
            f"({static[0]}): {static[2]:.2f}; HAPPO (RESULTS.md): {HAPPO_ON_LIU_PATHS}"
        )
        # The check: pass-through per episode with their first observed demand, and with 0.
        for first in (10, 0):
            passthrough = dict(data, agents=[{"nodes": LEVELS, "kind": "pass_through"}])
            _, _, episodes = evaluate_liu(
                liu_evaluation(passthrough, folder, paths, initial_demand=first)
            )
            episode = np.mean([sum(r.total_cost for r in rows) for rows in episodes])
            print(f"    pass-through, first observed demand {first}: {episode:,.2f} per episode")


# -- (2) hmarl_3store ------------------------------------------------------------------------------


def store_fill_rate(rows, warm: int) -> float:
    stores = [r for r in rows if r.period >= warm and r.node.startswith("store")]
    return sum(r.filled_on_time for r in stores) / sum(r.demand for r in stores)


def held_out(scenario, replications: range) -> tuple[tuple[float, float], tuple[float, float]]:
    warm = scenario.warmup_periods
    costs, fills = [], []
    for r in replications:
        rows = Simulation(scenario, replication=r).run().rows
        costs.append(sum(x.total_cost for x in rows if x.period >= warm) / (scenario.periods - warm))
        fills.append(store_fill_rate(rows, warm))
    return ci95(costs), ci95(fills)


def bench_hmarl(train: int, budget: int, quick: bool) -> None:
    data = read_yaml(ROOT / "scenarios" / "hmarl_3store.yaml")
    data["replications"] = train
    if quick:
        data.update(periods=120)
    evaluation = range(100, 103 if quick else 120)
    print(
        f"(2) hmarl_3store: tuned on replications 0..{train - 1}, evaluated on replications "
        f"{evaluation.start}..{evaluation.stop - 1}; network cost per period, store fill rate"
    )
    cases: list[tuple[str, list[str] | None]] = [
        ("the scenario's rules", None),
        ("(s, S) at the warehouse", ["warehouse_1=s_S"]),
        ("(s, S) at the stores and the warehouse, jointly", ["store=s_S", "warehouse_1=s_S"]),
        ("base stock at the stores, (s, S) at the warehouse", ["store=base_stock", "warehouse_1=s_S"]),
    ]
    for label, targets in cases:
        start = time.perf_counter()
        if targets is None:
            tuned, result = data, None
        else:
            result = tune(
                data, targets, source="hmarl_3store", budget=budget, evaluator=replication_costs
            )
            tuned = tuned_scenario_data(data, result, "hmarl_3store")
        scenario = scenario_from_dict(tuned, source="hmarl_3store")
        (cost, half), (fill, _) = held_out(scenario, evaluation)
        params = (
            ""
            if result is None
            else "; ".join(
                f"{name} " + "/".join(f"{v:g}" for v in values.values())
                for name, values in result.params.items()
            )
        )
        extra = (
            "" if result is None else f", training {result.cost:.2f}, {result.evaluations} evaluations"
        )
        print(
            f"    {label:50s} {cost:8.2f} +- {half:5.2f}   fill {fill:.4f}   {params} "
            f"({time.perf_counter() - start:.0f} s{extra})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=("liu", "hmarl"))
    parser.add_argument("--liu-data", default=None, help="folder holding test_demand_merton/")
    parser.add_argument("--liu-train", type=int, default=200, help="training draws for liu_serial")
    parser.add_argument("--hmarl-train", type=int, default=10, help="training replications of hmarl")
    parser.add_argument("--budget", type=int, default=400, help="evaluations per tuning")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    budget = 12 if args.quick else args.budget
    if args.only in (None, "liu"):
        bench_liu(find_liu_data(args.liu_data), 8 if args.quick else args.liu_train, budget, args.quick)
    if args.only in (None, "hmarl"):
        bench_hmarl(2 if args.quick else args.hmarl_train, budget, args.quick)


if __name__ == "__main__":
    main()
