"""Training runs on the twin: one run (or phase) of PPO or HAPPO, its evaluation and its folder.

What ``python -m twin.train`` (:mod:`twin.train`) does after parsing its arguments:
:func:`train_run` trains one policy (or the groups of a joint phase) on
:func:`twin.rl.env.parallel_env` and writes ``metrics.csv``, ``training_curve.png``, the best
``policy.pt`` + ``policy.json``, ``trainer_state.pt`` and ``run.json`` (for ``--resume``) and
``summary.json``; :func:`run_phases` runs phased training (the HMARL recipe). The folder layout and
options are described in :mod:`twin.train`.

This module never imports torch itself (the trainers and checkpoints under ``agents/ppo`` and
``agents/happo`` do, when a run starts).
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import math
import shutil
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from entities.errors import TwinError
from twin.scenario import Scenario, scenario_from_dict
from twin.scenario.edit import assign, edit, edit_data

PHASE_PRESETS = {"hmarl": ["store", "warehouse", "supplier", "joint"]}
JOINT = "joint"


class TrainError(TwinError):
    """A training option, run folder or checkpoint that does not fit (exit status 2)."""


# --------------------------------------------------------------------------------------------------
# Scenario plumbing.


def scenario_hash(scenario: Scenario) -> str:
    """A hash of what a policy depends on: nodes, lanes, costs, forecast window and timing (not
    the name, seed, horizon, replications, agents or reward)."""
    data = scenario.to_yaml_dict()
    keep = {k: data.get(k) for k in ("nodes", "lanes", "costs", "forecast_window", "timing")}
    text = json.dumps(keep, sort_keys=True, default=str)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]


def resolve_targets(scenario: Scenario, targets: str | None) -> list[str]:
    from twin.rl.env import resolve_targets as env_targets

    items = None if targets is None else [t.strip() for t in targets.split(",") if t.strip()]
    return env_targets(scenario, items)


def _named_option(text: str | None) -> Any:
    return None if text is None else text


# --------------------------------------------------------------------------------------------------
# Evaluation.


def evaluate(env: Any, act: Any, replications: Sequence[int], scenario: Scenario) -> dict[str, float]:
    """Run ``env`` on each replication with ``act(obs) -> actions``; KPIs of the whole network."""
    from reconciliation.kpis import compute_kpis, ledger_frame
    from reconciliation.report import customer_nodes

    results, returns = [], []
    for r in replications:
        obs, _ = env.reset(seed=int(r))
        total = 0.0
        while env.agents:
            obs, rewards, _, _, _ = env.step(act(obs))
            total += sum(rewards.values()) / max(1, len(rewards))
        results.append(env.sim.result())
        returns.append(total)
    return _kpis(results, scenario, returns, compute_kpis, ledger_frame, customer_nodes)


def _kpis(
    results: list[Any],
    scenario: Scenario,
    returns: list[float] | None,
    compute_kpis: Any,
    ledger_frame: Any,
    customer_nodes: Any,
) -> dict[str, float]:
    kpis = compute_kpis(
        ledger_frame(results), scenario.warmup_periods, customer_nodes=customer_nodes(scenario)
    )
    net = kpis["network"]
    out = {
        "eval_cost": float(net["cost_per_period"]["mean"]),
        "eval_cost_se": float(net["cost_per_period"]["se"] or 0.0),
        "eval_fill_rate": float((net.get("fill_rate") or {}).get("mean") or math.nan),
    }
    if returns is not None:
        out["eval_return"] = float(sum(returns) / len(returns))
    return out


def evaluate_deployed(
    scenario: Scenario, nodes: Sequence[str], kind: str, checkpoint: Path, replications: Sequence[int]
) -> dict[str, float]:
    """The checkpoint as a plain twin run: ``kind`` agent with ``checkpoint`` for ``nodes``."""
    from reconciliation.kpis import compute_kpis, ledger_frame
    from reconciliation.report import customer_nodes
    from twin.engine import Simulation

    deployed = edit(scenario, assign(list(nodes), kind, {"checkpoint": str(checkpoint)}))
    results = [Simulation(deployed, replication=int(r)).run() for r in replications]
    return _kpis(results, deployed, None, compute_kpis, ledger_frame, customer_nodes)


# --------------------------------------------------------------------------------------------------
# One training run (one phase).


@dataclasses.dataclass
class RunSpec:
    """What one training run needs."""

    scenario: Scenario
    source: str
    algo: str
    targets: list[str]
    out: Path
    timesteps: int
    seed: int
    observation: Any
    action: Any
    reward_scope: str | None
    overrides: dict[str, Any]
    eval_replications: int
    eval_every: int | None
    resume: bool
    quiet: bool
    best_by: str = "cost"
    groups: dict[str, list[str]] | None = None
    init_policies: dict[str, Path] | None = None
    lr_scale: float = 1.0
    phase: str | None = None


def _make_args(algo: str, spec: RunSpec) -> Any:
    """The algorithm's ``Args`` (a :class:`agents.ppo.args.TrainerArgs`) with the run's seed and
    budget and the ``--set`` overrides."""
    from agents.happo.trainer import Args as HAPPOArgs
    from agents.ppo.trainer import Args as PPOArgs

    Args = PPOArgs if algo == "ppo" else HAPPOArgs
    names = {f.name: f for f in dataclasses.fields(Args)}
    values: dict[str, Any] = {"seed": spec.seed, "total_timesteps": spec.timesteps}
    for key, value in spec.overrides.items():
        if key not in names:
            import difflib

            close = difflib.get_close_matches(key, list(names), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise TrainError(
                f"--set {key}: not a hyper-parameter of {algo}{hint} (known: {', '.join(names)})"
            )
        values[key] = value
    try:
        args = Args(**values)
    except (TypeError, ValueError) as exc:
        raise TrainError(f"--set: {exc}") from None
    args.learning_rate *= spec.lr_scale
    return args


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)


def _plot(out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    frame = pd.read_csv(out / "metrics.csv")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    train = frame.dropna(subset=["episode_return"])
    axes[0].plot(train["global_step"], train["episode_return"], lw=1)
    axes[0].set(title="training episodes", xlabel="decision epochs", ylabel="mean episode return")
    ev = frame.dropna(subset=["eval_cost"])
    axes[1].errorbar(
        ev["global_step"], ev["eval_cost"], yerr=ev["eval_cost_se"], marker="o", ms=3, capsize=2
    )
    if len(ev):
        axes[1].axhline(ev["eval_cost"].iloc[0], ls="--", c="gray", label="untrained")
        axes[1].legend()
    axes[1].set(title="evaluation", xlabel="decision epochs", ylabel="network cost per period")
    fig.tight_layout()
    tmp = out / ".training_curve.png"
    fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    tmp.replace(out / "training_curve.png")


def train_run(spec: RunSpec) -> dict[str, Any]:
    """Train one policy (or the groups of a joint phase); return the run's summary."""
    from agents.ppo.checkpoint import (
        load_checkpoint,
        load_trainer_state,
        save_checkpoint,
        save_trainer_state,
    )
    from agents.ppo.vec import make_vec
    from twin.rl.env import parallel_env

    out = spec.out
    settings = {
        "scenario": spec.source,
        "scenario_name": spec.scenario.name,
        "scenario_hash": scenario_hash(spec.scenario),
        "algo": spec.algo,
        "targets": spec.targets,
        "groups": spec.groups,
        "phase": spec.phase,
    }
    run_file, state_file = out / "run.json", out / "trainer_state.pt"
    if spec.resume and run_file.is_file():
        previous = json.loads(run_file.read_text(encoding="utf-8"))
        for key, value in settings.items():
            if previous.get(key) != json.loads(json.dumps(value)):
                raise TrainError(f"{out}: cannot resume: {key} was {previous.get(key)!r}, now {value!r}")
    elif out.exists() and any(out.iterdir()):
        raise TrainError(
            f"{out} already exists and is not empty; use --resume to continue it "
            "or --out for a new folder"
        )
    out.mkdir(parents=True, exist_ok=True)

    def make_env() -> Any:
        return parallel_env(
            spec.scenario,
            targets=spec.targets,
            observation=spec.observation,
            action=spec.action,
            reward_scope=spec.reward_scope,
        )

    args = _make_args(spec.algo, spec)
    envs = make_vec(make_env, args.num_envs, first_replication=args.first_replication)
    if spec.algo == "ppo":
        from agents.ppo.trainer import PPOTrainer

        trainer: Any = PPOTrainer(envs, args, groups=spec.groups)
    else:
        from agents.happo.trainer import HAPPOTrainer

        trainer = HAPPOTrainer(envs, args)
    env_spec = envs.envs[0].spec()
    eval_env = make_env()
    replications = list(range(spec.eval_replications))
    eval_every = spec.eval_every or max(1, trainer.num_iterations // 10)

    def score(ev: Mapping[str, Any]) -> float:  # lower is better
        return ev["eval_cost"] if spec.best_by == "cost" else -ev["eval_return"]

    best: dict[str, Any] = {"eval_cost": math.inf, "eval_return": -math.inf}
    summary: dict[str, Any] = {}
    resumed = spec.resume and state_file.is_file()
    if resumed:
        state = load_trainer_state(state_file)
        trainer.load_state_dict(state["trainer"])
        best = json.loads(state["best_json"])
        summary = json.loads(state["summary_json"])
    elif spec.init_policies:
        for group, path in spec.init_policies.items():
            payload, meta = load_checkpoint(path)
            k = next(
                i
                for i, p in enumerate(meta["policies"])
                if p["name"] == group or set(p["nodes"]) == set((spec.groups or {}).get(group, []))
            )
            prefix = f"{k}."
            trainer.load_policy(
                group,
                {n[len(prefix) :]: v for n, v in payload["state_dict"].items() if n.startswith(prefix)},
                (payload.get("obs_rms") or {}).get(str(k)),
            )
    _write_json(
        run_file,
        {
            **settings,
            "args": args.to_dict(),
            "env": env_spec,
            "timesteps": spec.timesteps,
            "seed": spec.seed,
        },
    )

    def checkpoint_metadata() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        state_dict, rms, policies = trainer.policy_state()
        meta = {
            "algo": spec.algo,
            "observation": env_spec["observation"],
            "action": env_spec["action"],
            "agents": env_spec["agents"],
            "policies": policies,
            "scenario": {
                "name": spec.scenario.name,
                "hash": scenario_hash(spec.scenario),
                "source": spec.source,
            },
            "training": {
                "timesteps": trainer.global_step,
                "seed": spec.seed,
                "targets": spec.targets,
                "phase": spec.phase,
                "args": args.to_dict(),
            },
        }
        return state_dict, rms, meta

    def act(obs: Mapping[str, Any]) -> dict[str, Any]:
        return trainer.act_deterministic(obs)

    metrics_file = out / "metrics.csv"
    fields = [
        "iteration",
        "global_step",
        "episode_return",
        "episodes",
        "learning_rate",
        "policy_loss",
        "value_loss",
        "entropy",
        "approx_kl",
        "clipfrac",
        "explained_variance",
        "seconds",
        "eval_cost",
        "eval_cost_se",
        "eval_fill_rate",
        "eval_return",
    ]
    new_file = not (resumed and metrics_file.is_file())
    handle = metrics_file.open("w" if new_file else "a", newline="", encoding="utf-8")
    writer = csv.DictWriter(handle, fieldnames=fields, extrasaction="ignore")
    if new_file:
        writer.writeheader()

    def record(metrics: dict[str, Any], evaluate_now: bool) -> None:
        nonlocal best
        if evaluate_now:
            metrics.update(evaluate(eval_env, act, replications, spec.scenario))
            if "untrained" not in summary:
                summary["untrained"] = {k: v for k, v in metrics.items() if k.startswith("eval")}
            if score(metrics) < score(best):
                best = {k: v for k, v in metrics.items() if k.startswith("eval")}
                best["global_step"] = trainer.global_step
                state_dict, rms, meta = checkpoint_metadata()
                meta["evaluation"] = best
                save_checkpoint(out / "policy.pt", state_dict, meta, obs_rms=rms)
        writer.writerow(metrics)
        handle.flush()

    from tqdm import tqdm

    bar = tqdm(
        total=spec.timesteps,
        initial=min(trainer.global_step, spec.timesteps),
        desc=spec.phase or spec.algo,
        unit="epoch",
        file=sys.stderr,
        disable=spec.quiet,
        dynamic_ncols=True,
    )
    start = time.perf_counter()
    try:
        if not resumed:
            record({"iteration": 0, "global_step": 0, "episode_return": math.nan}, True)
        while trainer.global_step < spec.timesteps:
            metrics = trainer.iteration()
            last = trainer.global_step >= spec.timesteps
            record(metrics, last or trainer.iteration_count % eval_every == 0)
            bar.update(min(trainer.global_step, spec.timesteps) - bar.n)
            bar.set_postfix(ret=f"{metrics['episode_return']:.1f}", best=f"{best['eval_cost']:.2f}")
            if last or trainer.iteration_count % eval_every == 0:
                save_trainer_state(
                    state_file,
                    {
                        "trainer": trainer.state_dict(),
                        "best_json": json.dumps(best),
                        "summary_json": json.dumps(summary),
                    },
                )
    finally:
        bar.close()
        handle.close()
        envs.close()
    _plot(out)
    summary.update(
        best=best,
        seconds=summary.get("seconds", 0.0) + time.perf_counter() - start,
        timesteps=trainer.global_step,
        checkpoint=str(out / "policy.pt"),
    )
    if (out / "policy.pt").is_file():
        summary["deployed"] = evaluate_deployed(
            spec.scenario, spec.targets, spec.algo, out / "policy.pt", replications
        )
    _write_json(out / "summary.json", summary)
    return summary


# --------------------------------------------------------------------------------------------------
# Phases.


def phase_list(text: str) -> list[str]:
    names = PHASE_PRESETS.get(text.strip(), [p.strip() for p in text.split(";") if p.strip()])
    if not names:
        raise TrainError(f"--phases {text!r}: no phase")
    if JOINT in names[:-1]:
        raise TrainError(f"--phases {text!r}: '{JOINT}' can only be the last phase")
    if names == [JOINT]:
        raise TrainError(f"--phases {text!r}: '{JOINT}' needs earlier phases to fine-tune")
    return names


def run_phases(
    base: RunSpec, data: dict[str, Any], phases: list[str], only: int | None, joint_lr_scale: float
) -> dict[str, Any]:
    """Train the phases in order (or phase ``only``); see the module docstring."""
    if base.algo != "ppo":
        raise TrainError("--phases trains ppo policies (use --algo ppo)")
    groups: list[tuple[str, list[str]]] = []
    for name in phases:
        if name != JOINT:
            groups.append((name, resolve_targets(base.scenario, name)))
    seen: set[str] = set()
    for name, nodes in groups:
        if seen & set(nodes):
            raise TrainError(f"--phases: {name!r} repeats node(s) {sorted(seen & set(nodes))}")
        seen |= set(nodes)
    summaries: dict[str, Any] = {}
    results: list[Path] = []
    for k, name in enumerate(phases, start=1):
        out = base.out / f"phase{k}-{name}"
        results.append(out / "policy.pt")
        if only is not None and k != only:
            continue
        earlier = results[:-1]
        missing = [str(p) for p in earlier if not p.is_file()]
        if missing:
            raise TrainError(
                f"phase {k} ({name}) needs the policies of the earlier phases: missing {missing}"
            )
        done = out / "summary.json"
        if done.is_file() and base.resume and only is None:
            summaries[name] = json.loads(done.read_text(encoding="utf-8"))
            continue
        if name == JOINT:
            targets = [n for _, nodes in groups for n in nodes]
            spec = dataclasses.replace(
                base,
                targets=targets,
                out=out,
                phase=f"{k}-{name}",
                groups={g: nodes for g, nodes in groups},
                init_policies={g: results[i] for i, (g, _) in enumerate(groups)},
                lr_scale=joint_lr_scale,
            )
        else:
            spec = dataclasses.replace(
                base,
                targets=groups[k - 1][1],
                out=out,
                phase=f"{k}-{name}",
                groups={name: groups[k - 1][1]},
            )
        # The earlier phases' policies decide for their groups (a joint phase trains them all).
        frozen = [
            assign(nodes, "ppo", {"checkpoint": str(results[j])})
            for j, (_, nodes) in enumerate(groups[: k - 1])
            if name != JOINT
        ]
        phase_data, _ = edit_data(data, frozen, source=base.source)
        spec.scenario = scenario_from_dict(phase_data, source=base.source)
        summaries[name] = train_run(spec)
    final = results[-1]
    if final.is_file():
        shutil.copyfile(final, base.out / "policy.pt")
        shutil.copyfile(final.with_suffix(".json"), base.out / "policy.json")
    _write_json(base.out / "summary.json", {"phases": summaries})
    return summaries
