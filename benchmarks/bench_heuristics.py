"""Speed and decision quality of the ``heuristics`` package.

Run from the repository root: ``python benchmarks/bench_heuristics.py [--instances 200]``.
Prints (not part of the test suite's pass/fail):

1. analytical optimizers: time and result of the serial echelon base-stock optimizer and
   evaluator on Snyder & Shen Example 6.1 (normal and Poisson demand), (s, S) Example 4.7,
   (r, Q) Example 5.1;
2. lot sizing on seeded random uncapacitated instances (T <= 20): gaps to Wagner-Whitin and
   times of Silver-Meal, least unit cost, part-period balancing, the GA (with and without the
   Wagner-Whitin plan in its initial population) and DALSA on a single lane;
3. DALSA on seeded capacitated multi-lane instances against the exact optimum of the same
   model, solved as a mixed-integer program by ``scipy.optimize.milp`` (HiGHS);
4. the stochastic GA (integer quantities, lead time, capacity, backorders) on sampled demand
   paths: improvement over the best plan it was seeded with, and time.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run without installing

import numpy as np  # noqa: E402
from scipy import optimize, sparse, stats  # noqa: E402

from heuristics.dalsa import PlanningNode, SupplyLane, net_requirements, plan_node  # noqa: E402
from heuristics.ga import ga_lot_sizing  # noqa: E402
from heuristics.ga_stochastic import _problem, _seed_plans, ga_stochastic_lot_sizing  # noqa: E402
from heuristics.lot_sizing import (  # noqa: E402
    least_unit_cost,
    part_period_balancing,
    silver_meal,
    wagner_whitin,
)
from heuristics.rq import optimize_r_Q  # noqa: E402
from heuristics.serial import (  # noqa: E402
    evaluate_echelon_base_stock,
    optimize_echelon_base_stock,
)
from heuristics.ss import optimize_s_S  # noqa: E402


def timed(function: Callable[[], Any], repeats: int = 7) -> tuple[Any, float]:
    """Result and median wall time in seconds (after one warm-up call)."""
    result = function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return result, statistics.median(times)


def analytical_optimizers() -> None:
    print("## Analytical optimizers (median of 7 runs after a warm-up)\n")
    print("| problem | result | published | time |")
    print("|---|---|---|---|")
    h, L, p = [3.0, 2.0, 2.0], [1, 1, 2], 37.12
    result, seconds = timed(lambda: optimize_echelon_base_stock(h, L, p, stats.norm(5, 1)))
    levels = ", ".join(f"{x:.4f}" for x in result.echelon_levels)
    print(
        f"| Ex. 6.1 optimize, N(5,1) | S* = ({levels}), cost {result.expected_cost:.4f} "
        f"| (6.49, 12.02, 22.71), 47.66 | {seconds * 1000:.1f} ms |"
    )
    cost, seconds = timed(lambda: evaluate_echelon_base_stock([7, 13, 24], h, L, p, stats.norm(5, 1)))
    print(f"| Ex. 6.1 evaluate (7, 13, 24) | {cost:.4f} | 50.36 | {seconds * 1000:.1f} ms |")
    result, seconds = timed(lambda: optimize_echelon_base_stock(h, L, p, stats.poisson(5)))
    levels = ", ".join(f"{x:.0f}" for x in result.echelon_levels)
    print(
        f"| Ex. 6.1 optimize, Poisson(5) | S* = ({levels}), cost {result.expected_cost:.4f} "
        f"| (9, 15, 26), 72.04 | {seconds * 1000:.1f} ms |"
    )
    (s, S, cost), seconds = timed(lambda: optimize_s_S(1, 4, 5, stats.poisson(6)))
    print(f"| Ex. 4.7 (s, S) | ({s}, {S}), cost {cost:.4f} | (4, 10), 8.034 ", end="")
    print(f"| {seconds * 1000:.1f} ms |")
    rq, seconds = timed(lambda: optimize_r_Q(0.225, 7.5, 8, 1300, 150, 1 / 12))
    print(
        f"| Ex. 5.1 (r, Q) | ({rq.reorder_point:.3f}, {rq.order_quantity:.3f}), cost "
        f"{rq.expected_cost:.4f} | (126.8, 328.5), 78.07 | {seconds * 1000:.1f} ms |"
    )
    print()


def random_instances(count: int, seed: int) -> list[tuple[np.ndarray, float, float]]:
    rng = np.random.default_rng(seed)
    instances = []
    for _ in range(count):
        T = int(rng.integers(1, 21))
        demand = (rng.integers(0, 150, size=T) * (rng.random(T) < 0.85)).astype(float)
        instances.append((demand, float(rng.uniform(20, 600)), float(rng.uniform(0.2, 4.0))))
    return instances


def lot_sizing(count: int) -> None:
    instances = random_instances(count, seed=2026)
    optimum = []
    start = time.perf_counter()
    for demand, K, h in instances:
        optimum.append(wagner_whitin(demand, K, h).cost)
    ww_seconds = time.perf_counter() - start

    def dalsa_single_lane(demand: np.ndarray, K: float, h: float) -> float:
        node = PlanningNode("node", demand, (SupplyLane("supplier", 0, setup_cost=K),), h)
        return plan_node(node).cost

    rng = np.random.default_rng(7)
    methods: dict[str, Callable[[np.ndarray, float, float], float]] = {
        "Silver-Meal": lambda d, K, h: silver_meal(d, K, h).cost,
        "least unit cost": lambda d, K, h: least_unit_cost(d, K, h).cost,
        "part-period balancing": lambda d, K, h: part_period_balancing(d, K, h).cost,
        "GA (seeded with WW)": lambda d, K, h: ga_lot_sizing(d, K, h, rng=rng).cost,
        "GA (no WW seed)": lambda d, K, h: (
            ga_lot_sizing(d, K, h, rng=rng, seed_with_wagner_whitin=False).cost
        ),
        "DALSA (one lane, L = 0)": dalsa_single_lane,
    }
    print(f"## Lot sizing: {count} seeded random uncapacitated instances, T <= 20\n")
    print(f"Wagner-Whitin (optimal): {ww_seconds / count * 1000:.3f} ms per instance\n")
    print("| method | mean gap to WW | max gap | optimal on | time per instance |")
    print("|---|---|---|---|---|")
    for name, method in methods.items():
        gaps = []
        start = time.perf_counter()
        for (demand, K, h), best in zip(instances, optimum, strict=True):
            cost = method(demand, K, h)
            gaps.append(cost / best - 1 if best > 0 else 0.0)
        seconds = (time.perf_counter() - start) / count
        gaps_array = np.array(gaps)
        print(
            f"| {name} | {max(gaps_array.mean(), 0.0):.3%} | {gaps_array.max():.2%} | "
            f"{np.mean(gaps_array < 1e-9):.0%} | {seconds * 1000:.2f} ms |"
        )
    print()


@contextlib.contextmanager
def _quiet_native_output() -> Iterator[None]:
    """Silence what native code writes to the stdout/stderr file descriptors."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 1)
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for descriptor in saved:
                os.close(descriptor)


def capacitated_optimum(node: PlanningNode) -> float:
    """Exact optimum of DALSA's single-node model by MILP (HiGHS via scipy.optimize.milp).

    Variables: units x[l, r, t] released on lane l in period r for the net requirement due in t,
    setups y[l, r], unmet u[t]. Cost per unit: unit cost + h L_l (pipeline) + h per period early
    + p per period late; unmet units are backordered to the end of the horizon.
    """
    T = len(node.gross_requirements)
    net = net_requirements(node.gross_requirements, node.on_hand, node.backorders, [])
    lanes = node.lanes
    n_lanes = len(lanes)
    p = float(node.stockout_cost or 0.0)
    h = node.holding_cost
    n_x = n_lanes * T * T
    n_y = n_lanes * T
    costs = np.zeros(n_x + n_y + T)
    for lane_index, lane in enumerate(lanes):
        for r in range(T):
            arrival = r + lane.lead_time
            for t in range(T):
                early, late = max(t - arrival, 0), max(arrival - t, 0)
                costs[(lane_index * T + r) * T + t] = (
                    lane.unit_cost + h * lane.lead_time + h * early + p * late
                )
            costs[n_x + lane_index * T + r] = lane.setup_cost
    costs[n_x + n_y :] = p * (T - np.arange(T))
    rows, cols, values = [], [], []
    for t in range(T):  # every net requirement is released or unmet
        for lane_index in range(n_lanes):
            for r in range(T):
                rows.append(t)
                cols.append((lane_index * T + r) * T + t)
                values.append(1.0)
        rows.append(t)
        cols.append(n_x + n_y + t)
        values.append(1.0)
    for lane_index, lane in enumerate(lanes):  # release <= capacity * setup
        capacity = np.broadcast_to(np.asarray(lane.capacity, dtype=float), (T,))
        for r in range(T):
            row = T + lane_index * T + r
            for t in range(T):
                rows.append(row)
                cols.append((lane_index * T + r) * T + t)
                values.append(1.0)
            rows.append(row)
            cols.append(n_x + lane_index * T + r)
            values.append(-min(capacity[r], net.sum()))
    matrix = sparse.csr_array((values, (rows, cols)), shape=(T + n_y, n_x + n_y + T))
    lower = np.concatenate((net, np.full(n_y, -np.inf)))
    upper = np.concatenate((net, np.zeros(n_y)))
    integrality = np.concatenate((np.zeros(n_x), np.ones(n_y), np.zeros(T)))
    bounds = optimize.Bounds(
        np.zeros(n_x + n_y + T), np.concatenate((np.full(n_x, np.inf), np.ones(n_y), net))
    )
    with _quiet_native_output():  # HiGHS prints solver chatter from C++ despite disp=False
        found = optimize.milp(
            costs,
            constraints=optimize.LinearConstraint(matrix, lower, upper),
            integrality=integrality,
            bounds=bounds,
            options={"time_limit": 60},
        )
    if not found.success:
        raise RuntimeError(f"MILP failed: {found.message}")
    return float(found.fun)


def dalsa_capacitated(count: int) -> None:
    rng = np.random.default_rng(31)
    gaps, dalsa_times, milp_times = [], [], []
    for _ in range(count):
        T = 12
        demand = rng.integers(20, 120, size=T).astype(float)
        lanes = tuple(
            SupplyLane(
                f"supplier{k}",
                lead_time=int(rng.integers(0, 3)),
                unit_cost=float(rng.uniform(1, 3)),
                setup_cost=float(rng.uniform(50, 300)),
                capacity=float(rng.uniform(0.5, 1.2) * demand.mean()),
            )
            for k in range(int(rng.integers(2, 4)))
        )
        node = PlanningNode("node", demand, lanes, holding_cost=0.5, stockout_cost=5.0)
        start = time.perf_counter()
        plan = plan_node(node)
        dalsa_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        best = capacitated_optimum(node)
        milp_times.append(time.perf_counter() - start)
        gaps.append(plan.cost / best - 1)
    gaps_array = np.array(gaps)
    print(f"## DALSA: {count} seeded capacitated instances (T = 12, 2-3 lanes, lead times 0-2)\n")
    print("| method | mean gap to MILP optimum | max gap | time per instance |")
    print("|---|---|---|---|")
    print(
        f"| DALSA | {gaps_array.mean():.2%} | {gaps_array.max():.2%} | "
        f"{np.mean(dalsa_times) * 1000:.2f} ms |"
    )
    print(f"| MILP (HiGHS, exact) | 0 | 0 | {np.mean(milp_times) * 1000:.1f} ms |")
    print()


def stochastic_ga(count: int) -> None:
    rng = np.random.default_rng(41)
    improvements, seconds = [], []
    for k in range(count):
        T = int(rng.integers(6, 21))
        mean = float(rng.uniform(10, 60))
        paths = rng.poisson(rng.uniform(0.3, 1.7, size=T) * mean, size=(200, T)).astype(float)
        K, p, L = float(rng.uniform(50, 400)), float(rng.uniform(2, 20)), int(rng.integers(0, 3))
        capacity = float(rng.choice([np.inf, 2 * mean]))
        problem = _problem(paths, K, 1.0, p, L, capacity, mean, ())
        best_seed = problem.path_costs(np.array(_seed_plans(problem))).mean(axis=1).min()
        start = time.perf_counter()
        result = ga_stochastic_lot_sizing(
            paths,
            K,
            1.0,
            p,
            rng=np.random.default_rng(k),
            lead_time=L,
            capacity=capacity,
            initial_inventory=mean,
        )
        seconds.append(time.perf_counter() - start)
        improvements.append(1 - result.cost / best_seed)
    print(f"## Stochastic GA: {count} seeded instances (T 6-20, 200 Poisson paths, L 0-2)\n")
    print("| mean cost reduction vs best seeded plan | min | max | time per instance |")
    print("|---|---|---|---|")
    print(
        f"| {np.mean(improvements):.1%} | {np.min(improvements):.1%} | "
        f"{np.max(improvements):.1%} | {np.mean(seconds) * 1000:.0f} ms |"
    )
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=200, help="random lot-sizing instances")
    parser.add_argument("--capacitated", type=int, default=30, help="capacitated DALSA instances")
    parser.add_argument("--stochastic", type=int, default=20, help="stochastic GA instances")
    args = parser.parse_args()
    analytical_optimizers()
    lot_sizing(args.instances)
    dalsa_capacitated(args.capacitated)
    stochastic_ga(args.stochastic)


if __name__ == "__main__":
    main()
