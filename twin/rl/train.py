"""Training runs on the twin: one run (or phase) of PPO or HAPPO, its evaluation and its folder.

What ``python -m twin.train`` (:mod:`twin.train`) does after parsing its arguments:
:func:`train_run` trains one policy (or the groups of a phase) on the batched twin
(:func:`twin.rl.batched.make_batched`: the vector twin, or event-twin environments with a note
where the vector twin cannot express the scenario) and writes ``metrics.csv``,
``training_curve.png``, the best ``policy.pt`` + ``policy.json``, ``trainer_state.pt`` and
``run.json`` (for ``--resume``), ``summary.json`` and, asked for, TensorBoard events;
:func:`run_phases` runs phased training (the HMARL recipe); :func:`run_seeds` runs one training
per seed in worker processes and sums them up (mean +- sd, per-seed curves).

**Resuming is exact.** ``trainer_state.pt`` holds the networks, optimisers, normalisers, counters,
every random state (torch's, the action sampler's, the minibatch sampler's) and the batched
twin's rows (their replications, the replication counter and the actions since their episodes
began, replayed on resume: the twins are deterministic given the replication and the actions). A
run resumed from it continues exactly as the uninterrupted run would have: the same metrics and
the same checkpoints. The learning-rate schedule and the evaluation cadence span the
hyper-parameter ``total_timesteps`` (by default the first invocation's ``--timesteps``), so a
run stopped early (``--timesteps`` smaller than ``total_timesteps``) and resumed to the end gives
what one run to the end gives.

This module never imports torch itself (the trainers and checkpoints under ``agents/ppo`` and
``agents/happo`` do, when a run starts).
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import math
import multiprocessing
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

from entities.errors import TwinError
from twin.scenario import Scenario
from twin.scenario.edit import assign, edit

PHASE_PRESETS = {"hmarl": ["store", "warehouse", "supplier", "joint"]}
JOINT = "joint"
DEVICES = ("cpu", "cuda", "auto")
TENSORBOARD_INSTALL = "pip install tensorboard"


class TrainError(TwinError):
    """A training option, run folder or checkpoint that does not fit (exit status 2)."""


# --------------------------------------------------------------------------------------------------
# Scenario plumbing.


def scenario_hash(scenario: Scenario) -> str:
    """A hash of what a policy depends on: nodes, lanes, costs, forecast window, timing and the
    demand observed before the first period (not the name, seed, horizon, replications, agents or
    reward)."""
    data = scenario.to_yaml_dict()
    fields = ("nodes", "lanes", "costs", "forecast_window", "timing", "initial_demand")
    keep = {k: data.get(k) for k in fields}
    text = json.dumps(keep, sort_keys=True, default=str)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]


def resolve_targets(scenario: Scenario, targets: str | None) -> list[str]:
    from twin.rl.env import resolve_targets as env_targets

    items = None if targets is None else [t.strip() for t in targets.split(",") if t.strip()]
    return env_targets(scenario, items)


def resolve_device(device: str) -> str:
    """``cpu``, ``cuda`` (TrainError if torch sees no CUDA device) or ``auto`` (CUDA if torch sees
    one, else the CPU); imports torch."""
    if device not in DEVICES:
        raise TrainError(f"--device {device!r}: choose one of {', '.join(DEVICES)}")
    if device == "cpu":
        return "cpu"
    import torch

    available = torch.cuda.is_available()
    if device == "cuda" and not available:
        raise TrainError("--device cuda: torch sees no CUDA device (use --device cpu or auto)")
    return "cuda" if available else "cpu"


def check_tensorboard() -> None:
    """TrainError unless TensorBoard's writer can be imported (an optional extra)."""
    try:
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except ImportError:
        raise TrainError(
            f"--tensorboard needs the tensorboard package, an optional extra: {TENSORBOARD_INSTALL}"
        ) from None


# --------------------------------------------------------------------------------------------------
# Evaluation.


def evaluate(env: Any, act: Any, replications: Sequence[int], scenario: Scenario) -> dict[str, float]:
    """Run the event-twin ``env`` on each replication with ``act(obs, memory) -> (actions,
    memory)`` (``obs`` ``(1, agents, obs_dim)``; actions ``(1, width)``); KPIs of the network."""
    import numpy as np
    import torch

    from agents.ppo.network import action_shape, action_width, space_spec

    agents = list(env.possible_agents)
    specs = [space_spec(env.action_space(a)) for a in agents]
    widths = np.cumsum([0, *(action_width(s) for s in specs)])
    results, returns = [], []
    for r in replications:
        obs, _ = env.reset(seed=int(r))
        memory = None
        total = 0.0
        while env.agents:
            x = torch.as_tensor(np.stack([np.asarray(obs[a], np.float32).reshape(-1) for a in agents]))
            flat, memory = act(x.unsqueeze(0), memory)
            values = flat[0].detach().cpu().numpy()
            actions: dict[str, Any] = {}
            for k, (a, spec) in enumerate(zip(agents, specs, strict=True)):
                part = values[widths[k] : widths[k + 1]].reshape(action_shape(spec))
                actions[a] = int(part) if spec["type"] == "Discrete" else part
            obs, rewards, _, _, _ = env.step(actions)
            total += sum(rewards.values()) / max(1, len(rewards))
        results.append(env.sim.result())
        returns.append(total)
    return _kpis(results, scenario, returns)


def _kpis(results: list[Any], scenario: Scenario, returns: list[float] | None) -> dict[str, float]:
    from reconciliation.kpis import compute_kpis, ledger_frame
    from reconciliation.report import customer_nodes

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
    from twin.engine import Simulation

    deployed = edit(scenario, assign(list(nodes), kind, {"checkpoint": str(checkpoint)}))
    results = [Simulation(deployed, replication=int(r)).run() for r in replications]
    return _kpis(results, deployed, None)


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
    frozen: list[str] = dataclasses.field(default_factory=list)
    init_policies: dict[str, Path] | None = None
    init: Path | None = None
    """a checkpoint to start the shared ppo policy from (``--init``)"""
    lr_scale: float = 1.0
    phase: str | None = None
    device: str = "cpu"
    vector: bool = True
    tensorboard: bool = False
    notify: Callable[[str], None] | None = None
    scenario_overrides: list[str] = dataclasses.field(default_factory=list)


def _args_class(algo: str) -> Any:
    from agents.happo.trainer import Args as HAPPOArgs
    from agents.ppo.trainer import Args as PPOArgs

    return PPOArgs if algo == "ppo" else HAPPOArgs


def make_args(algo: str, spec: RunSpec, recorded: Mapping[str, Any] | None = None) -> Any:
    """The algorithm's ``Args`` (a :class:`agents.ppo.args.TrainerArgs`): the ``recorded`` ones of
    a resumed run, else the run's seed and budget; then the ``--set`` overrides."""
    Args = _args_class(algo)
    names = {f.name: f for f in dataclasses.fields(Args)}
    if recorded is not None:
        values: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in recorded.items() if k in names
        }
    else:
        values = {"seed": spec.seed, "total_timesteps": spec.timesteps}
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
    if recorded is None:
        args.learning_rate *= spec.lr_scale
    return args


def write_json(path: Path, data: Any) -> None:
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


METRIC_FIELDS = [
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
    "rollout_seconds",
    "seconds",
    "eval_cost",
    "eval_cost_se",
    "eval_fill_rate",
    "eval_return",
]


def _kept_metrics(path: Path, iteration: int) -> list[dict[str, str]]:
    """Rows of ``metrics.csv`` up to ``iteration`` (the rows of a resumed run's saved state)."""
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        return [row for row in csv.DictReader(handle) if int(row["iteration"]) <= iteration]


def _settings(spec: RunSpec) -> dict[str, Any]:
    """What a run is (``run.json``): a resumed run must have the same."""
    return {
        "scenario": spec.source,
        "overrides": list(spec.scenario_overrides),
        "scenario_name": spec.scenario.name,
        "scenario_hash": scenario_hash(spec.scenario),
        "algo": spec.algo,
        "targets": spec.targets,
        "groups": spec.groups,
        "frozen": spec.frozen,
        "phase": spec.phase,
        "seed": spec.seed,
        "init": None if spec.init is None else str(spec.init),
        "reward": {
            "weights": dict(spec.scenario.reward.weights),
            "scope": spec.reward_scope or spec.scenario.reward.scope,
            "alpha": spec.scenario.reward.alpha,
        },
    }


def _previous_run(spec: RunSpec, settings: Mapping[str, Any]) -> dict[str, Any] | None:
    """``run.json`` of the run to resume (its settings checked against ``settings``), or None for
    a new run (whose folder must be new or empty)."""
    out = spec.out
    run_file = out / "run.json"
    if spec.resume and run_file.is_file():
        previous: dict[str, Any] = json.loads(run_file.read_text(encoding="utf-8"))
        for key, value in settings.items():
            if previous.get(key) != json.loads(json.dumps(value)):
                raise TrainError(f"{out}: cannot resume: {key} was {previous.get(key)!r}, now {value!r}")
        return previous
    if out.exists() and any(out.iterdir()):
        raise TrainError(
            f"{out} already exists and is not empty; use --resume to continue it "
            "or --out for a new folder"
        )
    return None


def space_options(spec: RunSpec) -> dict[str, Any]:
    """The options of the learning nodes' environments (targets, spaces, reward scope)."""
    return {
        "targets": spec.targets,
        "observation": spec.observation,
        "action": spec.action,
        "reward_scope": spec.reward_scope,
    }


def make_trainer(spec: RunSpec, envs: Any, args: Any, device: str) -> Any:
    """The trainer of ``spec.algo`` over the batched twin ``envs``."""
    if spec.algo == "ppo":
        from agents.ppo.trainer import PPOTrainer

        return PPOTrainer(envs, args, groups=spec.groups, frozen=spec.frozen, device=device)
    from agents.happo.trainer import HAPPOTrainer

    return HAPPOTrainer(envs, args, device=device)


def make_evaluation(
    spec: RunSpec, envs: Any, trainer: Any, replications: Sequence[int], device: str
) -> Callable[[], dict[str, float]]:
    """Evaluation of the trainer's current policies (deterministic actions) on ``replications``:
    on the vector twin where training runs on it, else on the event twin."""
    from twin.rl.batched import VectorEvaluator
    from twin.rl.env import parallel_env

    options = space_options(spec)
    if envs.kind == "vector":
        evaluator = VectorEvaluator(spec.scenario, replications, options=options, device=device)
        return lambda: evaluator(trainer.act)
    reference = parallel_env(spec.scenario, **options)
    return lambda: evaluate(reference, trainer.act, replications, spec.scenario)


def _load_init_policies(trainer: Any, spec: RunSpec) -> None:
    """Start the groups of a phase from the earlier phases' policies."""
    from agents.ppo.checkpoint import load_checkpoint

    for group, path in (spec.init_policies or {}).items():
        payload, meta = load_checkpoint(path)
        members = set((spec.groups or {}).get(group, []))
        k = next(
            i for i, p in enumerate(meta["policies"]) if p["name"] == group or set(p["nodes"]) == members
        )
        prefix = f"{k}."
        trainer.load_policy(
            group,
            {n[len(prefix) :]: v for n, v in payload["state_dict"].items() if n.startswith(prefix)},
            (payload.get("obs_rms") or {}).get(str(k)),
        )


INIT_NETWORK = ("obs_dim", "action_space", "hidden_sizes", "critic_dim", "centralized_critic")
"""Fields of a policy's metadata that ``--init`` requires to be those of the new run's network."""
INIT_NETWORK_OPTIONAL = ("agent_id", "recurrent_size", "activation")


def load_init(trainer: Any, spec: RunSpec, env_spec: Mapping[str, Any]) -> None:
    """Start the shared policy of a run from the checkpoint ``spec.init`` (e.g. a meta-learnt
    initialisation, :mod:`twin.rl.meta`): weights and observation normaliser. TrainError unless
    the checkpoint holds one ppo policy for the same nodes, observation, action and network."""
    from agents.ppo.checkpoint import load_checkpoint

    path = spec.init
    assert path is not None
    where = f"--init {str(path)!r}"
    if spec.algo != "ppo" or spec.groups:
        raise TrainError(f"{where}: starts the shared policy of a ppo run (without --phases)")
    try:
        payload, meta = load_checkpoint(path)
    except ValueError as exc:
        raise TrainError(f"{where}: {exc}") from None
    policies = meta.get("policies") or []
    if meta.get("algo") != "ppo" or len(policies) != 1:
        raise TrainError(
            f"{where}: policies: expected one shared ppo policy, found {len(policies)} "
            f"({meta.get('algo')!r})"
        )
    (policy,) = policies
    if sorted(policy.get("nodes", [])) != sorted(spec.targets):
        raise TrainError(
            f"{where}: policies[0].nodes: {policy.get('nodes')!r}, but this run's learning nodes "
            f"are {spec.targets!r}"
        )
    for key in ("observation", "action"):
        if meta.get(key) != json.loads(json.dumps(env_spec[key])):
            raise TrainError(f"{where}: {key}: {meta.get(key)!r}, but this run has {env_spec[key]!r}")
    (group,) = trainer.groups
    own = group.metadata(trainer.args)
    for key in (*INIT_NETWORK, *INIT_NETWORK_OPTIONAL):
        if key in policy or key in INIT_NETWORK:
            if json.loads(json.dumps(policy.get(key))) != json.loads(json.dumps(own[key])):
                raise TrainError(
                    f"{where}: policies[0].{key}: {policy.get(key)!r}, but this run's network has "
                    f"{own[key]!r} (same --set hidden_sizes, agent_id, ... as the checkpoint)"
                )
    state = {n[2:]: v for n, v in payload["state_dict"].items() if n.startswith("0.")}
    try:
        trainer.load_policy(group.name, state, (payload.get("obs_rms") or {}).get("0"))
    except (ValueError, RuntimeError, KeyError) as exc:
        raise TrainError(f"{where}: {' '.join(str(exc).split())}") from None


def checkpoint_metadata(
    spec: RunSpec, trainer: Any, env_spec: Mapping[str, Any], args: Any
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """``(state_dict, obs_rms, metadata)`` of the trainer's current policies, for ``policy.pt``."""
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


class _Recorder:
    """The rows of ``metrics.csv`` (and TensorBoard's events), the evaluations, and the best
    policy so far, saved as ``policy.pt`` whenever an evaluation beats it."""

    def __init__(
        self,
        spec: RunSpec,
        trainer: Any,
        evaluation: Callable[[], dict[str, float]],
        save: Callable[[dict[str, Any]], None],
        *,
        resumed: bool,
        best: dict[str, Any],
        summary: dict[str, Any],
    ) -> None:
        self.spec, self.trainer, self.evaluation, self.save = spec, trainer, evaluation, save
        self.best, self.summary = best, summary
        metrics_file = spec.out / "metrics.csv"
        kept = _kept_metrics(metrics_file, trainer.iteration_count) if resumed else []
        self.handle = metrics_file.open("w", newline="", encoding="utf-8")
        self.writer = csv.DictWriter(self.handle, fieldnames=METRIC_FIELDS, extrasaction="ignore")
        self.writer.writeheader()
        self.writer.writerows(kept)
        self.board: Any = None
        if spec.tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            # purge_step: a resumed run drops the events logged after its saved state.
            self.board = SummaryWriter(
                str(spec.out / "tensorboard"), purge_step=trainer.global_step if resumed else None
            )

    def score(self, ev: Mapping[str, Any]) -> float:  # lower is better
        return float(ev["eval_cost"] if self.spec.best_by == "cost" else -ev["eval_return"])

    def record(self, metrics: dict[str, Any], evaluate_now: bool) -> None:
        if evaluate_now:
            metrics.update(self.evaluation())
            if "untrained" not in self.summary:
                self.summary["untrained"] = {k: v for k, v in metrics.items() if k.startswith("eval")}
            if self.score(metrics) < self.score(self.best):
                self.best = {k: v for k, v in metrics.items() if k.startswith("eval")}
                self.best["global_step"] = self.trainer.global_step
                self.save(self.best)
        self.writer.writerow(metrics)
        self.handle.flush()
        if self.board is not None:
            for key, value in metrics.items():
                if key not in ("iteration", "global_step") and isinstance(value, int | float):
                    if math.isfinite(value):
                        self.board.add_scalar(key, value, int(metrics["global_step"]))
            self.board.flush()

    def close(self) -> None:
        self.handle.close()
        if self.board is not None:
            self.board.close()


def _loop(spec: RunSpec, trainer: Any, recorder: _Recorder, resumed: bool) -> None:
    """Iterate until ``spec.timesteps``: evaluate every ``eval_every`` iterations and at the
    end, and save the resumable state after each evaluation."""
    from tqdm import tqdm

    from agents.ppo.checkpoint import save_trainer_state

    eval_every = spec.eval_every or max(1, trainer.num_iterations // 10)
    bar = tqdm(
        total=spec.timesteps,
        initial=min(trainer.global_step, spec.timesteps),
        desc=spec.phase or spec.algo,
        unit="epoch",
        file=sys.stderr,
        disable=spec.quiet,
        dynamic_ncols=True,
    )
    try:
        if not resumed:
            recorder.record({"iteration": 0, "global_step": 0, "episode_return": math.nan}, True)
        while trainer.global_step < spec.timesteps:
            metrics = trainer.iteration()
            last = trainer.global_step >= spec.timesteps
            evaluate_now = trainer.iteration_count % eval_every == 0 or last
            recorder.record(metrics, evaluate_now)
            bar.update(min(trainer.global_step, spec.timesteps) - bar.n)
            bar.set_postfix(
                ret=f"{metrics['episode_return']:.1f}", best=f"{recorder.best['eval_cost']:.2f}"
            )
            if evaluate_now:
                save_trainer_state(
                    spec.out / "trainer_state.pt",
                    {
                        "trainer": trainer.state_dict(),
                        "best_json": json.dumps(recorder.best),
                        "summary_json": json.dumps(recorder.summary),
                    },
                )
    finally:
        bar.close()


def train_run(spec: RunSpec) -> dict[str, Any]:
    """Train one policy (or the groups of a phase); return the run's summary."""
    from agents.ppo.checkpoint import load_trainer_state, save_checkpoint
    from twin.rl.batched import make_batched
    from twin.rl.env import parallel_env

    out = spec.out
    settings = _settings(spec)
    previous = _previous_run(spec, settings)
    args = make_args(spec.algo, spec, previous["args"] if previous else None)
    out.mkdir(parents=True, exist_ok=True)
    device = resolve_device(spec.device)
    options = space_options(spec)
    envs, note = make_batched(
        spec.scenario,
        args.num_envs,
        **options,
        first_replication=args.first_replication,
        device=device,
        vector=spec.vector,
    )
    if note and spec.notify is not None:
        spec.notify(note)
    trainer = make_trainer(spec, envs, args, device)
    env_spec = parallel_env(spec.scenario, **options).spec()
    replications = list(range(spec.eval_replications))
    state_file = out / "trainer_state.pt"
    best: dict[str, Any] = {"eval_cost": math.inf, "eval_return": -math.inf}
    summary: dict[str, Any] = {}
    resumed = spec.resume and state_file.is_file()
    try:
        if resumed:
            state = load_trainer_state(state_file)
            trainer.load_state_dict(state["trainer"])
            best = json.loads(state["best_json"])
            summary = json.loads(state["summary_json"])
        else:
            _load_init_policies(trainer, spec)
            if spec.init is not None:
                load_init(trainer, spec, env_spec)
    except BaseException:
        envs.close()
        raise
    write_json(
        out / "run.json",
        {
            **settings,
            "args": args.to_dict(),
            "env": env_spec,
            "twin": envs.kind,
            "twin_note": note,
            "device": device,
            "timesteps": spec.timesteps,
        },
    )

    def save(evaluation: dict[str, Any]) -> None:
        state_dict, rms, meta = checkpoint_metadata(spec, trainer, env_spec, args)
        meta["evaluation"] = evaluation
        save_checkpoint(out / "policy.pt", state_dict, meta, obs_rms=rms)

    evaluation = make_evaluation(spec, envs, trainer, replications, device)
    recorder = _Recorder(spec, trainer, evaluation, save, resumed=resumed, best=best, summary=summary)
    start = time.perf_counter()
    try:
        _loop(spec, trainer, recorder, resumed)
    finally:
        recorder.close()
        envs.close()
    _plot(out)
    summary.update(
        best=recorder.best,
        seconds=summary.get("seconds", 0.0) + time.perf_counter() - start,
        timesteps=trainer.global_step,
        checkpoint=str(out / "policy.pt"),
        twin=envs.kind,
        device=device,
    )
    if note:
        summary["twin_note"] = note
    if (out / "policy.pt").is_file():
        nodes = [n for members in (spec.groups or {"all": spec.targets}).values() for n in members]
        summary["deployed"] = evaluate_deployed(
            spec.scenario, nodes, spec.algo, out / "policy.pt", replications
        )
    write_json(out / "summary.json", summary)
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
    base: RunSpec, phases: list[str], only: int | None, joint_lr_scale: float
) -> dict[str, Any]:
    """Train the phases in order (or phase ``only``): phase ``k`` trains group ``k`` while the
    groups of the earlier phases act with their trained policies, frozen (one batched twin whose
    learning nodes are all of them); ``joint`` fine-tunes every group together, each from its
    phase's policy, at ``joint_lr_scale`` times the learning rate."""
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
        joint = name == JOINT
        members = groups if joint else groups[:k]
        order = {node: i for i, node in enumerate(n.id for n in base.scenario.nodes)}
        targets = sorted((n for _, nodes in members for n in nodes), key=order.__getitem__)
        spec = dataclasses.replace(
            base,
            targets=targets,
            out=out,
            phase=f"{k}-{name}",
            groups={g: nodes for g, nodes in members},
            frozen=[] if joint else [g for g, _ in groups[: k - 1]],
            init_policies={g: results[i] for i, (g, _) in enumerate(members) if i < k - 1 or joint},
            lr_scale=joint_lr_scale if joint else 1.0,
        )
        summaries[name] = train_run(spec)
    final = results[-1]
    if final.is_file():
        shutil.copyfile(final, base.out / "policy.pt")
        shutil.copyfile(final.with_suffix(".json"), base.out / "policy.json")
    write_json(base.out / "summary.json", {"phases": summaries})
    return summaries


# --------------------------------------------------------------------------------------------------
# Several seeds.


def seed_list(text: str) -> list[int]:
    """``--seeds``: ``0-4``, ``1,3,5`` or a mix (``0-2,7``); each seed once, in order."""
    seeds: list[int] = []
    for piece in (p.strip() for p in text.split(",")):
        low, sep, high = piece.partition("-")
        try:
            values = range(int(low), int(high) + 1) if sep else [int(piece)]
        except ValueError:
            raise TrainError(f"--seeds {text!r}: {piece!r} is not a seed or a range like 0-4") from None
        if not values or min(values) < 0:
            raise TrainError(f"--seeds {text!r}: {piece!r} gives no seed >= 0")
        seeds.extend(v for v in values if v not in seeds)
    return seeds


def _seed_task(spec: RunSpec) -> dict[str, Any]:
    """One seed's run in a worker process (its folder holds the outputs)."""
    return train_run(spec)


def _worker_init() -> None:
    """In each worker: one numerical thread, Ctrl-C left to the parent, death with the parent."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(name, "1")
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


def run_seeds(
    base: RunSpec,
    seeds: Sequence[int],
    *,
    workers: int = 1,
    executor: str = "local",
    context: multiprocessing.context.BaseContext | None = None,
) -> dict[str, Any]:
    """Train ``base`` once per seed, each in ``DIR/seed-<k>/`` (resumable on its own), in this
    process (``workers=1``), a process pool started from ``context`` (a forkserver: a worker
    forked from a process that has used torch hangs in OpenMP) or Ray (``executor="ray"``); then
    write ``seeds.csv`` (every seed's evaluations), ``seeds.png`` and ``summary.json`` (mean and
    sd over seeds of the best and the deployed evaluation cost)."""
    specs = [
        dataclasses.replace(base, seed=s, out=base.out / f"seed-{s}", quiet=True, notify=None)
        for s in seeds
    ]
    base.out.mkdir(parents=True, exist_ok=True)
    if base.notify is not None:
        from twin.rl.batched import make_batched

        _, note = make_batched(
            base.scenario,
            1,
            targets=base.targets,
            observation=base.observation,
            action=base.action,
            reward_scope=base.reward_scope,
            vector=base.vector,
        )
        if note:
            base.notify(note)
    summaries: dict[int, dict[str, Any]] = {}
    if executor == "ray":
        summaries = _ray_seeds(specs, workers)
    elif workers <= 1 or len(specs) == 1:
        for s in specs:
            summaries[s.seed] = train_run(s)
    else:
        summaries = _pool_seeds(specs, workers, context)
    return summarize_seeds(base.out, [summaries[s] for s in seeds], list(seeds))


def _pool_seeds(
    specs: Sequence[RunSpec], workers: int, context: multiprocessing.context.BaseContext | None
) -> dict[int, dict[str, Any]]:
    before = set(multiprocessing.active_children())
    pool = ProcessPoolExecutor(
        max_workers=min(workers, len(specs)),
        mp_context=context or multiprocessing.get_context("spawn"),
        initializer=_worker_init,
    )
    finished = False
    out: dict[int, dict[str, Any]] = {}
    try:
        pending: dict[Future[dict[str, Any]], RunSpec] = {pool.submit(_seed_task, s): s for s in specs}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                spec = pending.pop(future)
                out[spec.seed] = future.result()
        finished = True
    finally:
        if finished:
            pool.shutdown(wait=True)
        else:  # interrupted or failed: stop the other seeds now (each keeps its resumable state)
            started = [p for p in multiprocessing.active_children() if p not in before]
            pool.shutdown(wait=False, cancel_futures=True)
            for p in started:
                p.terminate()
            for p in started:
                p.join(2.0)
                if p.is_alive():
                    p.kill()
    return out


def _ray_seeds(specs: Sequence[RunSpec], workers: int) -> dict[int, dict[str, Any]]:
    try:
        import ray
    except ImportError:
        raise TrainError(
            '--executor ray needs Ray, an optional extra: pip install -e ".[ray]"'
        ) from None
    started = False
    if not ray.is_initialized():
        root = str(Path(__file__).resolve().parents[2])
        path = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
        ray.init(
            num_cpus=workers,
            include_dashboard=False,
            log_to_driver=False,
            logging_level="warning",
            runtime_env={"env_vars": {"PYTHONPATH": path, "OMP_NUM_THREADS": "1"}},
        )
        started = True
    remote = ray.remote(num_cpus=1, max_retries=0)(_seed_task)
    refs = {remote.remote(s): s for s in specs}
    try:
        return {refs[ref].seed: ray.get(ref) for ref in refs}
    finally:
        for ref in refs:
            ray.cancel(ref, force=True)
        if started:
            ray.shutdown()


def summarize_seeds(
    out: Path, summaries: Sequence[Mapping[str, Any]], seeds: Sequence[int]
) -> dict[str, Any]:
    """``summary.json``, ``seeds.csv`` and ``seeds.png`` of a several-seed run (see run_seeds)."""
    import numpy as np

    def spread(values: list[float]) -> dict[str, Any]:
        x = np.asarray(values, float)
        return {
            "mean": float(x.mean()),
            "sd": float(x.std(ddof=1)) if len(x) > 1 else 0.0,
            "values": [float(v) for v in x],
        }

    result: dict[str, Any] = {"seeds": list(seeds)}
    for key in ("best", "deployed", "untrained"):
        costs = [s[key]["eval_cost"] for s in summaries if key in s]
        if len(costs) == len(summaries):
            result[key] = {"eval_cost": spread(costs)}
            fills = [s[key].get("eval_fill_rate", math.nan) for s in summaries]
            result[key]["eval_fill_rate"] = spread(fills)
    result["seconds"] = spread([s.get("seconds", 0.0) for s in summaries])
    result["runs"] = {str(seed): str(out / f"seed-{seed}") for seed in seeds}
    rows = []
    for seed in seeds:
        with (out / f"seed-{seed}" / "metrics.csv").open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                if row.get("eval_cost"):
                    rows.append(
                        {
                            "seed": seed,
                            "iteration": int(row["iteration"]),
                            "global_step": int(float(row["global_step"])),
                            "eval_cost": float(row["eval_cost"]),
                            "eval_cost_se": float(row["eval_cost_se"]),
                            "eval_fill_rate": float(row["eval_fill_rate"] or math.nan),
                        }
                    )
    with (out / "seeds.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(
            handle,
            fieldnames=[
                "seed",
                "iteration",
                "global_step",
                "eval_cost",
                "eval_cost_se",
                "eval_fill_rate",
            ],
        )
        writer.writeheader()
        writer.writerows(rows)
    _plot_seeds(out, rows, seeds)
    write_json(out / "summary.json", result)
    return result


def _plot_seeds(out: Path, rows: Sequence[Mapping[str, Any]], seeds: Sequence[int]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for seed in seeds:
        mine = [r for r in rows if r["seed"] == seed]
        ax.plot(
            [r["global_step"] for r in mine],
            [r["eval_cost"] for r in mine],
            marker="o",
            ms=2,
            lw=1,
            label=f"seed {seed}",
        )
    ax.set(title="evaluation per seed", xlabel="decision epochs", ylabel="network cost per period")
    ax.legend(fontsize=7)
    fig.tight_layout()
    tmp = out / ".seeds.png"
    fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    tmp.replace(out / "seeds.png")
