"""Reinforcement-learning benchmarks: learned policies against the best tuned rules, and speed.

Run by hand; each acceptance is one command, and its result goes to ``benchmarks/RESULTS.md``::

    python benchmarks/bench_rl.py serial     # PPO on serial_3stage vs the Clark-Scarf optimum, 3 seeds
    python benchmarks/bench_rl.py liu        # liu_serial (Merton) vs tuned base stock and adaptive rule
    python benchmarks/bench_rl.py hmarl      # hmarl_3store: learned stores vs the tuned (s,S)
    python benchmarks/bench_rl.py speed      # training throughput: vector twin vs event twin
    python benchmarks/bench_rl.py serial --quick   # any of them on tiny budgets (a sanity run)

Every policy is evaluated the way a user deploys it: a plain twin run (``twin.engine.Simulation``)
with the trained checkpoint as a ``ppo``/``happo`` agent, deterministic actions. Baselines are
tuned with ``twin.tune`` the same way for every rule, on the training demand, never on the
evaluation data. Training uses the command a user runs (``twin.train``, defaults from the
scenario: its reward; the hyper-parameters are spelled out below and in the README).

1. ``serial``: ``serial_3stage.yaml`` (Snyder & Shen Ex. 6.1), optimum C* = 47.66 (Clark-Scarf).
   PPO, one policy shared by the three stages (with their one-hot), echelon order-up-to actions,
   centralised critic; seeds 0, 1, 2 one after another, each with the whole machine; each
   deployed policy evaluated on the scenario's 10 replications x 1,000 periods (warm-up 100).
2. ``liu``: ``liu_serial.yaml`` with Merton demand, evaluated on Liu et al.'s 20 evaluation paths
   (``/work/shared/data/liu_eval/test_demand_merton``, first 200 values, read from there, never
   copied) as Liu et al. report it: cost per agent per period. Baselines: the best static echelon
   base stock and the best adaptive order-up-to rule (``adaptive_base_stock``), each tuned by
   ``twin.tune`` on simulated Merton demand (the training distribution).
3. ``hmarl``: ``hmarl_3store.yaml``: the (s,S) warehouse tuned by ``twin.tune`` (the README's
   what-if) against learned stores, on the scenario's evaluation replications with common random
   numbers: cost and fill rate, and the paired 95 % interval of the cost difference.
4. ``speed``: environment steps (replication-periods) per second that PPO training collects and
   learns from, in one process: the trainer on event-twin environments (the old path) and on the
   vector twin, with the benchmark's hyper-parameters and with the same ones.

Prints what it measured; the lead records it.
"""

from __future__ import annotations

import argparse
import json
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

from twin import load_scenario  # noqa: E402
from twin.engine.simulation import Simulation  # noqa: E402
from twin.scenario import read_yaml, scenario_from_dict  # noqa: E402
from twin.scenario.edit import assign, edit  # noqa: E402

LIU_EVAL = Path("/work/shared/data/liu_eval/test_demand_merton")
OPTIMUM_SERIAL = 47.66

SERIAL_COMMAND = [
    "scenarios/serial_3stage.yaml",
    "--targets",
    "stage1,stage2,stage3",
    "--observation",
    "default",
    "--action",
    "order_up_to:low=0,high=40,position=echelon",
]


def ci95(values: list[float]) -> tuple[float, float]:
    """Mean and half-width of a t-based 95 % confidence interval."""
    from scipy import stats

    x = np.asarray(values, float)
    if len(x) < 2:
        return float(x.mean()), math.nan
    return float(x.mean()), float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))


def _train(argv: list[str]) -> dict[str, Any]:
    from twin.train import main

    code = main(argv)
    if code != 0:
        raise SystemExit(f"training failed ({code}): python -m twin.train {' '.join(argv)}")
    return json.loads((Path(argv[argv.index("--out") + 1]) / "summary.json").read_text())


# --------------------------------------------------------------------------------------------------
# 1. serial_3stage


def bench_serial(work: Path, quick: bool) -> None:
    seeds = [0] if quick else [0, 1, 2]
    results = []
    for seed in seeds:
        out = work / f"serial-seed{seed}"
        extra = ["--timesteps", "60000", "--periods", "200", "--eval-replications", "2"] if quick else []
        argv = [*SERIAL_COMMAND, "--seed", str(seed), "--out", str(out), "--quiet", *extra]
        start = time.perf_counter()
        summary = _train(argv)
        wall = time.perf_counter() - start
        dep = summary["deployed"]
        results.append(dep["eval_cost"])
        print(
            f"(1) seed {seed}: {dep['eval_cost']:.3f} +- {dep['eval_cost_se']:.3f} per period as a twin "
            f"run (gap {100 * (dep['eval_cost'] / OPTIMUM_SERIAL - 1):+.2f} %), untrained "
            f"{summary['untrained']['eval_cost']:.2f}; {summary['timesteps']:,} epochs, "
            f"training {summary['seconds'] / 60:.1f} min, {wall / 60:.1f} min with evaluations",
            flush=True,
        )
    mean = float(np.mean(results))
    print(
        f"(1) serial_3stage PPO, mean of {len(seeds)} seeds: {mean:.3f} per period "
        f"(sd {np.std(results, ddof=1) if len(results) > 1 else 0:.3f}); optimum {OPTIMUM_SERIAL}, gap "
        f"{100 * (mean / OPTIMUM_SERIAL - 1):+.2f} %"
    )


# --------------------------------------------------------------------------------------------------
# 4. speed


def bench_speed(quick: bool) -> None:
    import torch

    from agents.ppo.trainer import Args, PPOTrainer
    from agents.ppo.vec import make_vec
    from twin.rl.batched import make_batched
    from twin.rl.env import parallel_env

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    scenario = load_scenario(ROOT / "scenarios" / "serial_3stage.yaml")
    options = {
        "targets": ["stage1", "stage2", "stage3"],
        "observation": "default",
        "action": "order_up_to:low=0,high=40,position=echelon",
    }
    budget = 10.0 if quick else 60.0
    # The old path's configuration: 4 event-twin environments x 256 steps, 10 epochs.
    old = {"num_envs": 4, "num_steps": 256, "update_epochs": 10, "num_minibatches": 4,
           "centralized_critic": True, "gamma": 0.95}
    from twin.train import _overrides  # noqa: F401  (the command's defaults are Args' defaults)

    new = Args()

    def rate(make: Any, args: Any, label: str) -> float:
        envs = make(args.num_envs)
        trainer = PPOTrainer(envs, args)
        trainer.iteration()  # warm-up (first allocations)
        start, steps, rollout = time.perf_counter(), trainer.global_step, 0.0
        while time.perf_counter() - start < budget:
            rollout += trainer.iteration()["rollout_seconds"]
        seconds = time.perf_counter() - start
        per_second = (trainer.global_step - steps) / seconds
        print(
            f"(4) {label}: {per_second:,.0f} environment steps/s ({3 * per_second:,.0f} agent "
            f"decisions/s), rollout {100 * rollout / seconds:.0f} % of the time",
            flush=True,
        )
        return per_second

    def event(n: int) -> Any:
        return make_vec(lambda: parallel_env(scenario, **options), n)

    def vector(n: int) -> Any:
        return make_batched(scenario, n, **options)[0]

    a = rate(event, Args(**old), "event twin, old configuration (4 envs x 256 steps, 10 epochs, tanh)")
    b = rate(vector, Args(**old), "vector twin, the same configuration")
    c = rate(vector, new, f"vector twin, the trainer's defaults ({new.num_envs} rows x {new.num_steps} "
                          f"steps, {new.update_epochs} epochs, {new.activation})")
    print(f"(4) ratios in this run: vector/event same configuration {b / a:.1f}x; defaults/event {c / a:.1f}x")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("which", choices=("serial", "liu", "hmarl", "speed"))
    p.add_argument("--quick", action="store_true", help="tiny budgets: a sanity run")
    p.add_argument("--out", help="keep the training folders here (default: a temporary folder)")
    args = p.parse_args()
    os.chdir(ROOT)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.out or tmp)
        work.mkdir(parents=True, exist_ok=True)
        if args.which == "serial":
            bench_serial(work, args.quick)
        elif args.which == "speed":
            bench_speed(args.quick)
        else:
            raise SystemExit(f"{args.which}: not written yet")


if __name__ == "__main__":
    main()
