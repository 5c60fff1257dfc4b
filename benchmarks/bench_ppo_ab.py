"""PPO training throughput, two versions of the code in one process: ratios on a shared machine.

    git archive <commit> | tar -x -C /tmp/ppo-before
    python benchmarks/bench_ppo_ab.py --before /tmp/ppo-before --budget 8 --rounds 4

Builds PPO trainers on ``serial_3stage`` (the vector twin, 256 rows x 64 steps, ReLU, centralised
critic, agent one-hot: ``bench_rl.py speed``'s settings) from the code at ``--before`` (the
library's defaults, 32 minibatches) and from this checkout (32 minibatches and the serial command's
8, each with the critic's half of the update on a second thread and on one, and the 8 with the
trainer's default: the thread in the updates where timing says it pays), then times them in
alternating rounds of ``--budget`` seconds and prints each one's median rate, per second of wall
clock and per CPU-second of this process, and its ratio to the first. Each version's modules are
imported from its own folder in turn and keep their own globals.
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("agents", "twin", "entities", "heuristics", "reconciliation")
OPTIONS = {
    "targets": ["stage1", "stage2", "stage3"],
    "observation": "default",
    "action": "order_up_to:low=0,high=30",
}
COMMON = {
    "gamma": 0.95,
    "ent_coef": 0.0,
    "centralized_critic": True,
    "agent_id": True,
    "init_action_std": 0.1,
}


def _load(root: Path) -> tuple[ModuleType, ModuleType, ModuleType]:
    """The trainer, batched-twin and scenario modules of the code at ``root``."""
    for name in [m for m in sys.modules if m.split(".")[0] in PACKAGES]:
        del sys.modules[name]
    sys.path.insert(0, str(root))
    try:
        return (
            importlib.import_module("agents.ppo.trainer"),
            importlib.import_module("twin.rl.batched"),
            importlib.import_module("twin"),
        )
    finally:
        sys.path.remove(str(root))


def _trainer(root: Path, extra: dict[str, Any], second_thread: bool | None) -> Any:
    trainer_module, batched, twin = _load(root)
    scenario = twin.load_scenario(root / "scenarios" / "serial_3stage.yaml")
    args = trainer_module.Args(**COMMON, **extra)
    envs = batched.make_batched(scenario, args.num_envs, **OPTIONS)[0]
    # None: the default (the earlier code has no critic_thread keyword).
    keywords = {} if second_thread is None else {"critic_thread": second_thread}
    trainer = trainer_module.PPOTrainer(envs, args, **keywords)
    trainer.iteration()  # warm-up (first allocations)
    return trainer


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--before", required=True, type=Path, help="a checkout of the earlier code")
    p.add_argument("--budget", type=float, default=8.0, help="seconds per trainer per round")
    p.add_argument("--rounds", type=int, default=4)
    a = p.parse_args()
    import torch

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    configs: list[tuple[str, Path, dict[str, Any], bool | None]] = [
        ("before, 32 minibatches", a.before.resolve(), {}, None),
        ("after, 32 minibatches, one thread", ROOT, {}, False),
        ("after, 32 minibatches, critic on a second thread", ROOT, {}, True),
        ("after, 8 minibatches, critic on a second thread", ROOT, {"num_minibatches": 8}, True),
        ("after, 8 minibatches, one thread", ROOT, {"num_minibatches": 8}, False),
        (
            "after, 8 minibatches, the thread where timing says it pays",
            ROOT,
            {"num_minibatches": 8},
            None,
        ),
    ]
    trainers = [(label, _trainer(root, extra, thread)) for label, root, extra, thread in configs]
    wall: dict[str, list[float]] = {label: [] for label, _ in trainers}
    cpu: dict[str, list[float]] = {label: [] for label, _ in trainers}
    for r in range(a.rounds):
        for label, trainer in trainers if r % 2 == 0 else trainers[::-1]:
            steps, start, cpu_start = trainer.global_step, time.perf_counter(), time.process_time()
            while time.perf_counter() - start < a.budget:
                trainer.iteration()
            done = trainer.global_step - steps
            wall[label].append(done / (time.perf_counter() - start))
            cpu[label].append(done / (time.process_time() - cpu_start))
            print(
                f"round {r} {label}: {wall[label][-1]:,.0f} steps/s, {cpu[label][-1]:,.0f} per "
                f"CPU-second (load {os.getloadavg()[0]:.1f})",
                flush=True,
            )
    base, base_cpu = statistics.median(wall[trainers[0][0]]), statistics.median(cpu[trainers[0][0]])
    for label, _ in trainers:
        w, c = statistics.median(wall[label]), statistics.median(cpu[label])
        print(
            f"{label}: {w:,.0f} steps/s (x{w / base:.2f}), {c:,.0f} per CPU-second (x{c / base_cpu:.2f})"
        )


if __name__ == "__main__":
    main()
