"""Meta-learning benchmark: fine-tuning from a Reptile initialisation vs PPO from scratch.

Run by hand; one command, its result goes to ``benchmarks/RESULTS.md``::

    python benchmarks/bench_meta.py            # the benchmark (about 6 min on 2 shared cores)
    python benchmarks/bench_meta.py --quick    # tiny budgets (a sanity run, about 1 min)

1. **Regimes.** Histories of the sample network of ``twin.live.sample`` (one warehouse, five
   stores whose demand is Poisson, negative binomial, gamma, lognormal and normal, means drawn in
   10..40, a weekly season at stores 1 and 4, a trend at store 2) are generated for seeds 1, 2
   (training) and 3 (held out) into temporary SQLite files and calibrated
   (``twin.live.calibrate``: family, mean, season and trend fitted to a year of history). Each
   store's fitted demand becomes one regime: the 2-stage chain below with that demand at its
   store. Training regimes: the ten stores of seeds 1 and 2; held out: store ``--held-out`` of
   seed 3.
2. **Chain.** ``store`` (holding 1, backorder 9 per unit and period) <- ``warehouse`` (holding
   0.5) <- an unlimited supplier; lead times 2 (supplier -> warehouse) and 1; 100-period
   episodes, warm-up 20. One PPO policy shared by both stages (with their one-hot) chooses an
   echelon order-up-to level in periods of the node's forecast demand (``order_up_to`` with
   ``scale: forecast``): the observation and the action let one policy read the regime.
3. **Training.** ``python -m twin.meta`` on the training regimes (``--meta-timesteps`` epochs,
   Reptile, ``--inner-iterations`` PPO iterations per visit); then on the held-out regime, for
   each seed, ``python -m twin.train`` (a) from scratch with ``--timesteps N`` and (b) with
   ``--init`` the meta-initialisation and ``0.2 N`` (the same hyper-parameters, learning rate
   annealed over each run's own budget); and, as a control, (c) from scratch with ``0.2 N``.
4. **Evaluation.** Every policy deployed as a ``ppo`` agent in plain twin runs (deterministic
   actions) on the held-out regime's replications 100..119 (common random numbers: each policy
   sees the same demand), never on the replications of training's evaluation (0..4) that chose
   the best checkpoint. Printed: each seed's costs, the mean over seeds, the gap of (b) to (a) and
   the sample ratio; also the initialisation without fine-tuning (zero-shot).

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
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "1")

from twin.rl.train import evaluate_deployed  # noqa: E402
from twin.scenario import scenario_from_dict  # noqa: E402
from twin.scenario.edit import edit_data  # noqa: E402
from twin.scenario.overrides import setting  # noqa: E402

TRAINING_SEEDS = (1, 2)
HELD_OUT_SEED = 3
STORES = 5
EVALUATION = list(range(100, 120))
NODES = ["store", "warehouse"]
OPTIONS = [
    "--targets",
    "store,warehouse",
    "--observation",
    "hmarl",
    "--action",
    "order_up_to:low=0,high=8,scale=forecast",
    "--eval-replications",
    "5",
    "--set",
    "num_envs=128,num_steps=50,num_minibatches=16,update_epochs=4,gamma=0.95,ent_coef=0,"
    "agent_id=true,centralized_critic=true,init_action_std=0.15",
    "--quiet",
]

BASE: dict[str, Any] = {
    "name": "meta_chain",
    "seed": 2027,
    "periods": 100,
    "warmup_periods": 20,
    "replications": 5,
    "nodes": [
        {
            "id": "store",
            "kind": "store",
            "holding_cost": 1.0,
            "stockout_cost": 9.0,
            "initial_inventory": 50,
            "demand": {"dist": "poisson", "mean": 20},
        },
        {"id": "warehouse", "kind": "warehouse", "holding_cost": 0.5, "initial_inventory": 80},
        {"id": "outside", "kind": "supplier"},
    ],
    "lanes": [
        {"from": "outside", "to": "warehouse", "lead_time": 2},
        {"from": "warehouse", "to": "store", "lead_time": 1},
    ],
    "agents": [
        {
            "nodes": ["store", "warehouse"],
            "kind": "base_stock",
            "params": {"base_stock_level": {"store": 50, "warehouse": 80}},
        }
    ],
    "reward": {"weights": {"total_cost": -1.0}, "scope": "team"},
}


def calibrated_regimes(work: Path, seed: int) -> list[tuple[str, dict[str, Any], float]]:
    """Histories of the sample network (seed ``seed``) calibrated: ``(store, fitted demand
    sections, fitted mean)`` per store."""
    from twin.live.calibrate import calibrate
    from twin.live.history import read_history
    from twin.live.sample import generate
    from twin.live.store import open_store

    url = str(work / f"history-{seed}.db")
    generate(url, stores=STORES, warehouses=1, days=365, seed=seed)
    with open_store(url) as store:
        history = read_history(store, stock=False)
    out = []
    for (node, _), fit in sorted(calibrate(history).demand.items()):
        sections = {"demand": fit.demand, "demand_effects": fit.effects}
        out.append((node, sections, float(fit.fit.distribution.mean)))
    return out


def write_regime(work: Path, name: str, sections: dict[str, Any], mean: float) -> str:
    """The chain with ``sections`` at its store (initial stock: two and four periods of demand),
    written as a scenario file; its path."""
    changes = [
        setting("name", f"meta_chain_{name}"),
        setting("nodes[store].demand", sections["demand"]),
        setting("nodes[store].demand_effects", sections["demand_effects"]),
        setting("nodes[store].initial_inventory", round(2 * mean)),
        setting("nodes[warehouse].initial_inventory", round(4 * mean)),
    ]
    data, _ = edit_data(BASE, changes, source="<bench_meta>")
    scenario_from_dict(data, source=name)  # it runs as it is
    path = work / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return str(path)


def _run(main: Any, argv: list[str], what: str) -> None:
    code = main(argv)
    if code != 0:
        raise SystemExit(f"{what} failed ({code}): {' '.join(argv)}")


def deployed(scenario_path: str, checkpoint: Path) -> float:
    from twin import load_scenario

    scenario = load_scenario(scenario_path)
    return evaluate_deployed(scenario, NODES, "ppo", checkpoint, EVALUATION)["eval_cost"]


def bench(work: Path, args: argparse.Namespace) -> None:
    from twin.meta import main as meta_main
    from twin.train import main as train_main

    start = time.perf_counter()
    regimes = []
    for seed in TRAINING_SEEDS:
        for node, sections, mean in calibrated_regimes(work, seed):
            regimes.append(write_regime(work, f"s{seed}-{node}", sections, mean))
    held = {node: (s, m) for node, s, m in calibrated_regimes(work, HELD_OUT_SEED)}
    if args.held_out not in held:
        raise SystemExit(f"--held-out {args.held_out!r}: choose one of {sorted(held)}")
    sections, mean = held[args.held_out]
    target = write_regime(work, f"s{HELD_OUT_SEED}-{args.held_out}", sections, mean)
    print(
        f"regimes: {len(regimes)} for meta-training, held out seed {HELD_OUT_SEED} "
        f"{args.held_out}: {json.dumps(sections)} ({time.perf_counter() - start:.0f} s)",
        flush=True,
    )
    n = args.timesteps
    fine = int(args.fine_tune_share * n)
    meta_out = work / "meta"
    tick = time.perf_counter()
    _run(
        meta_main,
        [
            regimes[0],
            "--regimes",
            *regimes,
            *OPTIONS,
            "--timesteps",
            str(args.meta_timesteps),
            "--inner-iterations",
            str(args.inner_iterations),
            "--meta-step-size",
            str(args.meta_step_size),
            "--seed",
            "0",
            "--out",
            str(meta_out),
        ],
        "twin.meta",
    )
    meta_summary = json.loads((meta_out / "summary.json").read_text())
    meta_costs = [r["eval_cost"] for r in meta_summary["evaluation"]["regimes"]]
    print(
        f"meta-training: {meta_summary['timesteps']:,} epochs, {meta_summary['meta_iterations']} "
        f"meta-iterations, {(time.perf_counter() - tick) / 60:.1f} min; the initialisation's "
        f"cost on the training regimes (evaluation replications 0..4): "
        f"{', '.join(f'{c:.2f}' for c in meta_costs)}",
        flush=True,
    )
    zero_shot = deployed(target, meta_out / "policy.pt")
    print(f"held-out regime, the initialisation as it is (zero-shot): {zero_shot:.3f}", flush=True)
    scratch, tuned, short = [], [], []
    for seed in args.seeds:
        tick = time.perf_counter()
        out = work / f"scratch-{seed}"
        argv = [target, *OPTIONS, "--timesteps", str(n), "--seed", str(seed), "--out", str(out)]
        _run(train_main, argv, "from scratch")
        scratch.append(deployed(target, out / "policy.pt"))
        wall_scratch = time.perf_counter() - tick
        tick = time.perf_counter()
        out = work / f"fine-{seed}"
        argv = [target, *OPTIONS, "--timesteps", str(fine), "--seed", str(seed), "--out", str(out)]
        _run(train_main, [*argv, "--init", str(meta_out / "policy.pt")], "fine-tuning")
        tuned.append(deployed(target, out / "policy.pt"))
        out = work / f"short-{seed}"
        argv = [target, *OPTIONS, "--timesteps", str(fine), "--seed", str(seed), "--out", str(out)]
        _run(train_main, argv, "from scratch, short")
        short.append(deployed(target, out / "policy.pt"))
        print(
            f"seed {seed}: from scratch ({n:,} epochs, {wall_scratch / 60:.1f} min) {scratch[-1]:.3f}; "
            f"fine-tuned from the initialisation ({fine:,} epochs, "
            f"{(time.perf_counter() - tick) / 60:.1f} min) {tuned[-1]:.3f}; "
            f"gap {100 * (tuned[-1] / scratch[-1] - 1):+.2f} %; from scratch with the "
            f"fine-tuning's budget {short[-1]:.3f}",
            flush=True,
        )
    a, b = float(np.mean(scratch)), float(np.mean(tuned))
    print(
        f"held-out regime, cost per period on replications {EVALUATION[0]}..{EVALUATION[-1]} "
        f"(mean over seeds {list(args.seeds)}): from scratch {a:.3f} (sd {_sd(scratch):.3f}), "
        f"fine-tuned {b:.3f} (sd {_sd(tuned):.3f}), from scratch with the fine-tuning's budget "
        f"{np.mean(short):.3f} (sd {_sd(short):.3f}), zero-shot {zero_shot:.3f}; "
        f"gap {100 * (b / a - 1):+.2f} % with {fine / n:.0%} of the samples "
        f"(meta-training spent {meta_summary['timesteps']:,} epochs on the other regimes, once); "
        f"{(time.perf_counter() - start) / 60:.1f} min in all",
        flush=True,
    )


def _sd(values: list[float]) -> float:
    return float(np.std(values, ddof=1)) if len(values) > 1 else math.nan


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny budgets (a sanity run)")
    p.add_argument("--held-out", default="ST004", help="store of the held-out history (ST001..ST005)")
    p.add_argument("--timesteps", type=int, default=320_000, help="from-scratch budget N")
    p.add_argument("--fine-tune-share", type=float, default=0.2, help="fine-tuning budget / N")
    p.add_argument("--meta-timesteps", type=int, default=640_000)
    p.add_argument("--inner-iterations", type=int, default=2)
    p.add_argument("--meta-step-size", type=float, default=0.5)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--work", help="keep the files here (default: a temporary folder)")
    args = p.parse_args()
    if args.quick:
        args.timesteps, args.meta_timesteps, args.seeds = 32_000, 25_600, [0]
    if args.work:
        Path(args.work).mkdir(parents=True, exist_ok=True)
        bench(Path(args.work), args)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            bench(Path(tmp), args)


if __name__ == "__main__":
    main()
