"""Reinforcement-learning benchmarks (run by hand; results go to benchmarks/RESULTS.md).

::

    python benchmarks/bench_rl.py                 # all four, full budgets (about an hour on 2 cores)
    python benchmarks/bench_rl.py --only 1 --minutes 20
    python benchmarks/bench_rl.py --quick         # a sanity run of everything on tiny budgets

1. PPO on ``serial_3stage.yaml`` (Snyder & Shen Ex. 6.1) against the Clark-Scarf optimum 47.66:
   the three stages learn echelon order-up-to levels (``order_up_to``, ``position: echelon``, a
   Gaussian head) from the ``default`` observation, reward minus the team's cost per period.
   Evaluated as a plain twin run (10 replications x 1000 periods, warm-up 100).
2. HAPPO on ``liu_serial.yaml`` with Merton demand against the best static base-stock levels
   found by simulation-optimisation (``twin.tune``, installation base stock at the three levels),
   both evaluated on Liu et al.'s 20 Merton evaluation paths (``shared/data/liu_eval``, first 200
   values; read from there, not shipped). Liu et al. report the average cost per agent per period.
3. HMARL PPO (the three stores, shared policy, ``hmarl`` observation, ``hmarl_multiples``) against
   the scenario's rule baseline on ``hmarl_3store.yaml``: cost, fill rate and reward per period
   with 95 % confidence intervals over the scenario's replications (same demand: common random
   numbers, so the paired difference is reported too).
4. Environment samples per second (random actions, audit on), per scenario.

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

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "1")

from twin import load_scenario  # noqa: E402
from twin.engine.simulation import Simulation  # noqa: E402
from twin.rl.env import parallel_env  # noqa: E402
from twin.scenario import read_yaml, scenario_from_dict  # noqa: E402

LIU_EVAL = ROOT.parent / "shared" / "data" / "liu_eval" / "test_demand_merton"
OPTIMUM_SERIAL = 47.66


def ci95(values: list[float]) -> tuple[float, float]:
    """Mean and half-width of a t-based 95 % confidence interval."""
    from scipy import stats

    x = np.asarray(values, float)
    if len(x) < 2:
        return float(x.mean()), math.nan
    return float(x.mean()), float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))


def _train(argv: list[str]) -> dict:
    from twin.train import main

    code = main(argv)
    if code != 0:
        raise SystemExit(f"training failed ({code}): {' '.join(argv)}")
    return json.loads((Path(argv[argv.index("--out") + 1]) / "summary.json").read_text())


def bench_serial(work: Path, timesteps: int, quick: bool) -> None:
    data = read_yaml(ROOT / "scenarios" / "serial_3stage.yaml")
    data["reward"] = {"weights": {"total_cost": -1.0}, "scope": "team"}
    if quick:
        data.update(periods=200, warmup_periods=20, replications=2)
    path = work / "serial_reward_cost.yaml"
    import yaml

    path.write_text(yaml.safe_dump(data))
    start = time.perf_counter()
    summary = _train(
        [
            str(path),
            "--algo",
            "ppo",
            "--targets",
            "stage1,stage2,stage3",
            "--observation",
            "default",
            "--action",
            "order_up_to:low=0,high=40,position=echelon",
            "--timesteps",
            str(timesteps),
            "--out",
            str(work / "serial"),
            "--eval-replications",
            str(data.get("replications", 10)),
            "--set",
            "num_envs=4",
            "--set",
            "num_steps=256",
            "--set",
            "centralized_critic=true",
            "--set",
            "gamma=0.95",
            "--quiet",
        ]
    )
    wall = time.perf_counter() - start
    dep = summary["deployed"]
    gap = 100 * (dep["eval_cost"] / OPTIMUM_SERIAL - 1)
    print(
        f"(1) serial_3stage PPO: {dep['eval_cost']:.2f} +- {dep['eval_cost_se']:.2f} per period "
        f"(optimum {OPTIMUM_SERIAL}; gap {gap:+.1f} %), untrained "
        f"{summary['untrained']['eval_cost']:.2f}; {summary['timesteps']} epochs, "
        f"{wall / 60:.1f} min"
    )


def _liu_paths(n: int) -> list[np.ndarray]:
    files = sorted(LIU_EVAL.glob("*.txt"), key=lambda p: int(p.stem))[:n]
    if not files:
        raise SystemExit(f"no evaluation paths in {LIU_EVAL}")
    return [np.loadtxt(f)[:200] for f in files]


class _Replay:
    """Replays fixed demand paths: patches twin.rl.env's Simulation so that replication r uses
    path r at the customer-facing node (benchmark-only plumbing)."""

    def __init__(self, paths: list[np.ndarray]) -> None:
        import twin.rl.env as env_module

        self.paths, self.module, self.original = paths, env_module, env_module.Simulation
        paths_ = paths
        original = self.original

        class ReplaySimulation(original):  # type: ignore[misc, valid-type]
            def __init__(self, scenario, *, replication=0, **kw):
                super().__init__(scenario, replication=replication, **kw)
                for demand in self.network.demands:
                    demand.quantities = np.asarray(paths_[replication], float)

        self.cls = ReplaySimulation

    def __enter__(self):
        self.module.Simulation = self.cls
        return self.cls

    def __exit__(self, *exc):
        self.module.Simulation = self.original


def _per_agent_cost(rows, agents: int = 3) -> float:
    periods = max(r.period for r in rows) + 1
    return sum(r.total_cost for r in rows) / periods / agents


def bench_liu(work: Path, timesteps: int, quick: bool) -> None:
    from twin.scenario.edit import assign, edit_data
    from twin.studies.tune import tune, tuned_scenario_data

    data = read_yaml(ROOT / "scenarios" / "liu_serial.yaml")
    data["nodes"][0]["demand"] = {"dist": "merton"}
    paths = _liu_paths(3 if quick else 20)
    targets = ["retailer", "distributor", "manufacturer"]
    # Best static base stock by simulation-optimisation (on simulated Merton demand).
    t0 = time.perf_counter()
    result = tune(
        data,
        ",".join(targets),
        "base_stock",
        replications=4 if quick else 20,
        budget=20 if quick else 150,
        integer=True,
    )
    tuned = scenario_from_dict(tuned_scenario_data(data, result, "liu"), source="liu")
    with _Replay(paths) as Replay:
        bs_costs = [_per_agent_cost(Replay(tuned, replication=r).run().rows) for r in range(len(paths))]
    print(
        f"(2) liu_serial Merton, best static base stock {result.params['base_stock_level']}: "
        f"{np.mean(bs_costs):.2f} per agent per period on {len(paths)} Liu paths "
        f"(tuned in {time.perf_counter() - t0:.0f} s)"
    )
    path = work / "liu_merton.yaml"
    import yaml

    path.write_text(yaml.safe_dump(edit_data(data, [assign(targets, "happo")], source="liu")[0]))
    t0 = time.perf_counter()
    summary = _train(
        [
            str(path),
            "--algo",
            "happo",
            "--targets",
            ",".join(targets),
            "--observation",
            "liu",
            "--action",
            "integer:n=20",
            "--timesteps",
            str(timesteps),
            "--out",
            str(work / "liu"),
            "--eval-replications",
            "5",
            "--quiet",
        ]
    )
    checkpoint = {"checkpoint": str(work / "liu" / "policy.pt")}
    deployed = scenario_from_dict(
        edit_data(data, [assign(targets, "happo", checkpoint)], source="liu")[0], source="liu"
    )
    with _Replay(paths) as Replay:
        rl_costs = [
            _per_agent_cost(Replay(deployed, replication=r).run().rows) for r in range(len(paths))
        ]
    print(
        f"(2) liu_serial Merton, HAPPO: {np.mean(rl_costs):.2f} per agent per period on "
        f"{len(paths)} Liu paths (base stock {np.mean(bs_costs):.2f}); {summary['timesteps']} "
        f"epochs, {(time.perf_counter() - t0) / 60:.1f} min"
    )


def bench_hmarl(work: Path, timesteps: int, quick: bool) -> None:
    from reconciliation.rewards import rewards_by_scope
    from twin.scenario.edit import assign, edit

    data = read_yaml(ROOT / "scenarios" / "hmarl_3store.yaml")
    if quick:
        data.update(periods=90, warmup_periods=10, replications=2)
    path = work / "hmarl.yaml"
    import yaml

    path.write_text(yaml.safe_dump(data))
    t0 = time.perf_counter()
    _train(
        [
            str(path),
            "--algo",
            "ppo",
            "--targets",
            "store",
            "--observation",
            "hmarl",
            "--action",
            "hmarl_multiples",
            "--timesteps",
            str(timesteps),
            "--out",
            str(work / "hmarl"),
            "--quiet",
        ]
    )
    wall = time.perf_counter() - t0
    rule = scenario_from_dict(data, source="hmarl")
    ppo = edit(
        rule,
        assign(
            ["store_1", "store_2", "store_3"], "ppo", {"checkpoint": str(work / "hmarl" / "policy.pt")}
        ),
    )
    stats = {}
    for name, scenario in (("rule", rule), ("ppo", ppo)):
        cost, fill, reward = [], [], []
        for r in range(scenario.replications):
            rows = [
                x
                for x in Simulation(scenario, replication=r).run().rows
                if x.period >= scenario.warmup_periods
            ]
            periods = scenario.periods - scenario.warmup_periods
            cost.append(sum(x.total_cost for x in rows) / periods)
            stores = [x for x in rows if x.tier == "store"]
            fill.append(sum(x.filled_on_time for x in stores) / sum(x.demand for x in stores))
            per_period = []
            for t in range(scenario.warmup_periods, scenario.periods):
                mine = {x.node: [x] for x in stores if x.period == t}
                per_period.append(
                    np.mean(
                        list(
                            rewards_by_scope(
                                mine,
                                scenario.reward.weights,
                                scenario.reward.scope,
                                scenario.reward.alpha,
                            ).values()
                        )
                    )
                )
            reward.append(float(np.mean(per_period)))
        stats[name] = {"cost": cost, "fill": fill, "reward": reward}
    for name in ("rule", "ppo"):
        s = stats[name]
        parts = [f"{k} {ci95(v)[0]:.3f} +- {ci95(v)[1]:.3f}" for k, v in s.items()]
        print(f"(3) hmarl_3store {name}: " + ", ".join(parts) + " (mean +- 95 % CI)")
    diff = [a - b for a, b in zip(stats["ppo"]["cost"], stats["rule"]["cost"], strict=True)]
    m, h = ci95(diff)
    print(
        f"(3) hmarl_3store ppo - rule cost per period: {m:+.2f} +- {h:.2f} (paired, 95 % CI); "
        f"training {wall / 60:.1f} min"
    )


def bench_samples(quick: bool) -> None:
    cases = [
        ("hmarl_3store", {"targets": "store", "observation": "hmarl", "action": "hmarl_multiples"}),
        (
            "serial_3stage",
            {"targets": ["stage1", "stage2", "stage3"], "action": "order_up_to:low=0,high=40"},
        ),
        (
            "liu_serial",
            {
                "targets": ["retailer", "distributor", "manufacturer"],
                "observation": "liu",
                "action": "integer:n=20",
            },
        ),
    ]
    for name, options in cases:
        scenario = load_scenario(ROOT / "scenarios" / f"{name}.yaml")
        env = parallel_env(scenario, **options)
        rng = np.random.default_rng(0)
        for a in env.possible_agents:
            env.action_space(a).seed(int(rng.integers(1 << 31)))
        steps, start = 0, time.perf_counter()
        budget = 1.0 if quick else 10.0
        episode = 0
        while time.perf_counter() - start < budget:
            env.reset(seed=episode)
            episode += 1
            while env.agents:
                env.step({a: env.action_space(a).sample() for a in env.agents})
                steps += 1
        rate = steps / (time.perf_counter() - start)
        print(
            f"(4) {name}: {rate:,.0f} env steps/s = {rate * len(env.possible_agents):,.0f} "
            f"agent samples/s ({len(env.possible_agents)} agents, random actions, audit on)"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--only", type=int, choices=(1, 2, 3, 4), action="append")
    p.add_argument("--quick", action="store_true", help="tiny budgets: a sanity run")
    p.add_argument("--out", help="keep the training folders here (default: a temporary folder)")
    p.add_argument("--serial-timesteps", type=int, default=400_000)
    p.add_argument("--liu-timesteps", type=int, default=600_000)
    p.add_argument("--hmarl-timesteps", type=int, default=150_000)
    args = p.parse_args()
    only = set(args.only or (1, 2, 3, 4))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.out or tmp)
        work.mkdir(parents=True, exist_ok=True)
        q = args.quick
        if 4 in only:
            bench_samples(q)
        if 1 in only:
            bench_serial(work, 4096 if q else args.serial_timesteps, q)
        if 2 in only:
            bench_liu(work, 2000 if q else args.liu_timesteps, q)
        if 3 in only:
            bench_hmarl(work, 2048 if q else args.hmarl_timesteps, q)


if __name__ == "__main__":
    main()
