"""Speed of the vector twin against the event twin and gym-invmgmt, as ratios in one process.

::

    python benchmarks/bench_vector.py             # about two minutes on one core
    python benchmarks/bench_vector.py --quick     # a sanity run on tiny budgets

Everything runs in this process on one core (BLAS and OpenMP limited to one thread, torch to one
thread), with random actions:

1. ``serial_3stage`` as a batched multi-agent environment (:class:`twin.rl.vector_env.
   VectorParallelEnv`, B = 1,024 rows, the three stages learning: ``default`` observation,
   ``order_up_to`` echelon action, 1,000-period episodes, resets included): agent decisions per
   second, and per replication-step against
2. the event-twin environment of the same scenario and options (``twin.rl.env.parallel_env``),
   and against
3. gym-invmgmt's serial environment (``GymInvMgmt/Serial-v0``: a 3-stage serial chain, Poisson
   demand, lead times 4; ``pip install gym-invmgmt``, it installs beside NumPy 2), per step;
4. the whole twin with its rule agents (``VectorTwin.run``, B = 1,024) per replication-period,
   against ``Simulation.run`` (the event twin, audit on) per period;
5. the other RL scenarios' batched environments (steps per second), and torch on the CPU.

Prints what it measured; results and the command go to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from twin import load_scenario  # noqa: E402
from twin.engine import Simulation  # noqa: E402
from twin.rl.env import parallel_env  # noqa: E402
from twin.rl.registration import SHIPPED, scenario_path  # noqa: E402
from twin.rl.vector import VectorTwin  # noqa: E402
from twin.rl.vector_env import VectorParallelEnv  # noqa: E402


def vector_rate(name: str, rows: int, budget: float, device: str | None = None) -> tuple[float, int]:
    """Row-steps per second of the batched environment (whole episodes, resets included)."""
    env = VectorParallelEnv(str(scenario_path(name)), rows, device=device, **SHIPPED[name])
    space = env.reference.action_space(env.possible_agents[0])
    space.seed(0)
    pool = [
        np.stack([np.stack([space.sample() for _ in env.possible_agents]) for _ in range(rows)])
        for _ in range(8)
    ]
    steps, episode = 0, 0
    start = time.perf_counter()
    while time.perf_counter() - start < budget or steps == 0:
        env.reset(seed=episode * rows)
        episode += 1
        for t in range(env.periods):
            env.step(pool[t % len(pool)])
            steps += 1
    elapsed = time.perf_counter() - start
    return steps * rows / elapsed, len(env.possible_agents)


def event_rate(name: str, budget: float) -> float:
    """Steps per second of the event-twin environment with the same options."""
    env = parallel_env(str(scenario_path(name)), **SHIPPED[name])
    for k, a in enumerate(env.possible_agents):
        env.action_space(a).seed(k)
    steps, episode = 0, 0
    start = time.perf_counter()
    while time.perf_counter() - start < budget:
        env.reset(seed=episode)
        episode += 1
        while env.agents and time.perf_counter() - start < budget:
            env.step({a: env.action_space(a).sample() for a in env.agents})
            steps += 1
    return steps / (time.perf_counter() - start)


def invmgmt_rate(budget: float) -> float | None:
    """Steps per second of gym-invmgmt's serial environment (None if it is not installed)."""
    try:
        import gym_invmgmt  # noqa: F401
        import gymnasium
    except ImportError:
        return None
    env = gymnasium.make("GymInvMgmt/Serial-v0").unwrapped
    env.action_space.seed(0)
    env.reset(seed=0)
    steps = 0
    start = time.perf_counter()
    while time.perf_counter() - start < budget:
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        steps += 1
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - start)


def run_rates(rows: int, periods: int) -> tuple[float, float]:
    """Replication-periods per second: the vector twin's run and the event twin's run."""
    scenario = load_scenario(
        scenario_path("serial_3stage"), overrides={"periods": periods, "warmup_periods": 0}
    )
    twin = VectorTwin(scenario, rows)
    start = time.perf_counter()
    twin.reset(list(range(rows)))
    while not twin.done:
        twin.step()
    vector = rows * periods / (time.perf_counter() - start)
    start = time.perf_counter()
    runs = 0
    while time.perf_counter() - start < 2.0 or runs == 0:
        Simulation(scenario, replication=runs).run()
        runs += 1
    event = runs * periods / (time.perf_counter() - start)
    return vector, event


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny budgets: a sanity run")
    p.add_argument("--rows", type=int, default=1024)
    args = p.parse_args()
    budget = 2.0 if args.quick else 15.0
    rows = args.rows
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover - torch is a dependency
        torch = None

    rate, agents = vector_rate("serial_3stage", rows, budget)
    event = event_rate("serial_3stage", budget / 3)
    invmgmt = invmgmt_rate(budget / 3)
    print(
        f"(1) serial_3stage, vector env, B = {rows:,}: {rate:,.0f} replication-steps/s = "
        f"{rate * agents:,.0f} agent decisions/s ({agents} agents, resets included)"
    )
    print(
        f"(2) serial_3stage, event-twin env: {event:,.0f} steps/s; "
        f"vector / event = {rate / event:,.0f}x per replication-step"
    )
    if invmgmt is None:
        print("(3) gym-invmgmt is not installed (pip install gym-invmgmt): skipped")
    else:
        print(
            f"(3) gym-invmgmt GymInvMgmt/Serial-v0: {invmgmt:,.0f} steps/s; "
            f"vector / gym-invmgmt = {rate / invmgmt:,.0f}x per step"
        )
    vector, event_run = run_rates(rows, 200 if args.quick else 1000)
    print(
        f"(4) serial_3stage with its rules: vector twin {vector:,.0f} replication-periods/s, "
        f"event twin {event_run:,.0f} periods/s; ratio {vector / event_run:,.0f}x"
    )
    for name in ("hmarl_3store", "liu_serial", "liu_net_2x3"):
        r, n = vector_rate(name, rows, budget / 3)
        print(
            f"(5) {name}, vector env, B = {rows:,}: {r:,.0f} replication-steps/s, "
            f"{r * n:,.0f} decisions/s"
        )
    if torch is not None:
        r, n = vector_rate("serial_3stage", rows, budget / 3, device="cpu")
        print(f"(5) serial_3stage, vector env on torch (CPU), B = {rows:,}: {r * n:,.0f} decisions/s")


if __name__ == "__main__":
    main()
