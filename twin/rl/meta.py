"""Meta-learning over demand regimes: Reptile (Nichol, Achiam & Schulman 2018) with PPO inside.

A **regime** is a scenario with the nodes, lanes, agents and reward of a base scenario and a
demand of its own (typically ``python -m twin.calibrate``'s fit of one history). :func:`meta_train`
looks for an initialisation of the shared PPO policy from which a few updates fit any regime of
the family:

1. start from the policy PPO builds for the run's seed (``theta``);
2. each meta-iteration, take the next regime (the regimes in a random order, each once per
   cycle), run ``inner_iterations`` PPO iterations on it from ``theta`` (a fresh Adam, a constant
   learning rate: the adaptation that fine-tuning will do), giving ``phi``;
3. move the initialisation toward the adapted weights, ``theta <- theta + eps_k (phi - theta)``
   (:func:`reptile_step`), the meta step size annealed linearly to 0 as in Nichol et al.'s
   Algorithm 1: ``eps_k = eps (1 - k / K)`` for meta-iteration ``k`` of ``K``.

Actor, critic and the action's standard deviation are meta-learnt alike, except that within a
regime the critic continues from the regime's own last adaptation (values have each regime's
scale; a critic that is an average of the regimes' misjudges every one, and the advantages of a
few inner iterations would be noise); ``theta``'s critic is the Reptile average, a start for
fine-tuning. The observation
normaliser is one running mean and variance shared by every regime (the statistics of the whole
family), kept with the initialisation; each regime's trainer keeps its own reward scale and its
own replications, continued from visit to visit.

The output folder holds ``policy.pt`` + ``policy.json`` (the initialisation, a checkpoint that
``python -m twin.train --init`` starts from and that a ``ppo`` agent deploys as it is),
``metrics.csv`` (one row per meta-iteration; the mean evaluation cost over the regimes where
evaluated) and ``summary.json`` (each regime's evaluation of the initialisation, samples spent).
Training samples count as in ``twin.train``: decision epochs summed over the batched twins.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from twin.rl.train import (
    RunSpec,
    TrainError,
    checkpoint_metadata,
    make_args,
    make_evaluation,
    make_trainer,
    resolve_device,
    scenario_hash,
    space_options,
    write_json,
)
from twin.scenario import Scenario

CRITIC = "critic"
"""Prefix of the critic's parameters in :class:`agents.ppo.network.ActorCritic`."""

META_FIELDS = [
    "meta_iteration",
    "regime",
    "global_step",
    "meta_step_size",
    "episode_return",
    "policy_loss",
    "value_loss",
    "approx_kl",
    "adaptation",
    "seconds",
    "eval_cost",
]


@dataclasses.dataclass
class MetaSpec:
    """What one meta-training run needs: the base run (scenario, learning nodes, spaces,
    hyper-parameters, seed, budget ``timesteps``, output folder) and the regimes."""

    base: RunSpec
    regimes: list[Scenario]
    inner_iterations: int = 4
    meta_step_size: float = 0.5


def reptile_step(
    init: Mapping[str, Any], adapted: Mapping[str, Any], step_size: float
) -> dict[str, Any]:
    """Reptile's outer update ``init + step_size * (adapted - init)`` of every floating-point
    tensor (a new dict; other entries, such as counters, are taken from ``adapted``).

    >>> import torch
    >>> reptile_step({"w": torch.tensor([0.0, 2.0])}, {"w": torch.tensor([1.0, 0.0])}, 0.25)["w"]
    tensor([0.2500, 1.5000])
    """
    if not 0.0 <= step_size <= 1.0:
        raise ValueError(f"step_size must be in [0, 1], got {step_size!r}")
    out = {}
    for name, theta in init.items():
        phi = adapted[name]
        out[name] = theta + step_size * (phi - theta) if theta.is_floating_point() else phi.clone()
    return out


def structure(scenario: Scenario) -> dict[str, Any]:
    """What regimes of one family share: nodes (id and kind), lanes, agents and reward."""
    return {
        "nodes": [f"{n.id} ({n.kind})" for n in scenario.nodes],
        "lanes": [ln.id for ln in scenario.lanes],
        "agents": [
            f"{a.kind}: {', '.join(scenario.agent_nodes(i))}" for i, a in enumerate(scenario.agents)
        ],
        "reward": scenario.reward.model_dump(),
    }


def check_regimes(base: Scenario, regimes: Sequence[Scenario]) -> None:
    """TrainError naming the regime's file, the section and its value where a regime's network
    differs from the base scenario's (only demand and the numbers of a node may differ)."""
    if not regimes:
        raise TrainError("--regimes: give at least one regime scenario")
    want = structure(base)
    for regime in regimes:
        have = structure(regime)
        for key, value in have.items():
            if value != want[key]:
                raise TrainError(
                    f"{regime.source}: {key}: {value!r} differ from {base.source}'s {want[key]!r} "
                    "(a regime has the base scenario's nodes, lanes, agents and reward)"
                )


class Reptile:
    """The meta-learner: one PPO trainer per regime (its batched twin, reward scale and
    replications) and the initialisation ``theta`` with its shared observation normaliser."""

    def __init__(self, spec: MetaSpec, notify: Callable[[str], None] | None = None) -> None:
        from agents.ppo.network import TorchRunningMeanStd
        from twin.rl.batched import make_batched
        from twin.rl.env import parallel_env

        base = spec.base
        if base.algo != "ppo":
            raise TrainError("twin.meta meta-trains a shared ppo policy (use --algo ppo)")
        check_regimes(base.scenario, spec.regimes)
        self.spec = spec
        self.device = resolve_device(base.device)
        self.args = make_args("ppo", base)
        self.inner_args = dataclasses.replace(self.args, anneal_lr=False)
        self.specs = [
            dataclasses.replace(base, scenario=r, source=r.source or base.source) for r in spec.regimes
        ]
        self.trainers: list[Any] = []
        self.envs: list[Any] = []
        notes: set[str] = set()
        try:
            for s in self.specs:
                envs, note = make_batched(
                    s.scenario,
                    self.args.num_envs,
                    **space_options(s),
                    first_replication=self.args.first_replication,
                    device=self.device,
                    vector=s.vector,
                )
                self.envs.append(envs)
                if note and note not in notes and notify is not None:
                    notify(note)
                    notes.add(note)
                self.trainers.append(make_trainer(s, envs, self.inner_args, self.device))
        except BaseException:
            self.close()
            raise
        groups = [t.groups for t in self.trainers]
        if any(len(g) != 1 for g in groups):  # pragma: no cover - no groups without --phases
            raise TrainError("twin.meta meta-trains one shared policy")
        self.rms = TorchRunningMeanStd(self.trainers[0].groups[0].raw_dim, device=self.device)
        for t in self.trainers:
            t.groups[0].obs_rms = self.rms  # shared: every regime's rollouts update it
        self.theta = self._weights(0)
        self.env_spec = parallel_env(base.scenario, **space_options(base)).spec()
        replications = list(range(base.eval_replications))
        self.evaluations = [
            make_evaluation(s, e, t, replications, self.device)
            for s, e, t in zip(self.specs, self.envs, self.trainers, strict=True)
        ]
        self.critics: list[dict[str, Any] | None] = [None] * len(self.trainers)
        """Each regime's critic after its last visit (values have the regime's own scale)."""
        self.order = np.random.default_rng(base.seed)
        self.queue: list[int] = []

    # -- the algorithm -----------------------------------------------------------------------

    def _weights(self, regime: int) -> dict[str, Any]:
        policy = self.trainers[regime].groups[0].policy
        return {k: v.detach().clone() for k, v in policy.state_dict().items()}

    def _load(self, regime: int, weights: Mapping[str, Any]) -> None:
        self.trainers[regime].groups[0].policy.load_state_dict(dict(weights))

    def next_regime(self) -> int:
        """The regimes in a random order (the run's seed), each once per cycle."""
        if not self.queue:
            self.queue = [int(r) for r in self.order.permutation(len(self.trainers))]
        return self.queue.pop(0)

    def adapt(self, regime: int) -> tuple[dict[str, Any], list[dict[str, float]]]:
        """``inner_iterations`` PPO iterations on ``regime`` with a fresh Adam, the actor from
        ``theta`` and the critic the regime's own since its last visit (``theta``'s at the
        first): the adapted weights ``phi`` and each iteration's metrics."""
        from torch import optim

        trainer = self.trainers[regime]
        group = trainer.groups[0]
        self._load(regime, {**self.theta, **(self.critics[regime] or {})})
        group.optimizer = optim.Adam(group.policy.parameters(), lr=self.args.learning_rate, eps=1e-5)
        metrics = [trainer.iteration() for _ in range(self.spec.inner_iterations)]
        adapted = self._weights(regime)
        self.critics[regime] = {k: v for k, v in adapted.items() if k.startswith(CRITIC)}
        return adapted, metrics

    def outer_step(self, adapted: Mapping[str, Any], step_size: float) -> None:
        """``theta <- theta + step_size (adapted - theta)``."""
        self.theta = reptile_step(self.theta, adapted, step_size)

    @property
    def global_step(self) -> int:
        return int(sum(t.global_step for t in self.trainers))

    def evaluate(self, regime: int) -> dict[str, float]:
        """The initialisation on ``regime``'s evaluation replications (deterministic actions)."""
        self._load(regime, self.theta)
        return self.evaluations[regime]()

    # -- output ------------------------------------------------------------------------------

    def save(self, path: Path, extra: Mapping[str, Any]) -> None:
        """The initialisation as a policy checkpoint (``--init`` and the ``ppo`` agent read it)."""
        from agents.ppo.checkpoint import save_checkpoint

        self._load(0, self.theta)
        base = self.spec.base
        trainer = self.trainers[0]
        state_dict, rms, meta = checkpoint_metadata(base, trainer, self.env_spec, self.args)
        meta["scenario"] = {
            "name": base.scenario.name,
            "hash": scenario_hash(base.scenario),
            "source": base.source,
        }
        meta["training"].update(timesteps=self.global_step, meta=dict(extra))
        save_checkpoint(path, state_dict, meta, obs_rms=rms)

    def close(self) -> None:
        for envs in self.envs:
            envs.close()


def meta_iterations(spec: MetaSpec) -> int:
    """Meta-iterations that spend the budget ``timesteps`` (at least one)."""
    args = make_args("ppo", spec.base)
    per = spec.inner_iterations * args.num_envs * args.num_steps
    return max(1, spec.base.timesteps // per)


def meta_train(spec: MetaSpec, notify: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run Reptile (module docstring) and write the output folder; return the summary."""
    from tqdm import tqdm

    base = spec.base
    out = base.out
    if out.exists() and any(out.iterdir()):
        raise TrainError(f"{out} already exists and is not empty; choose another --out")
    if spec.inner_iterations < 1:
        raise TrainError(f"--inner-iterations must be >= 1, got {spec.inner_iterations}")
    if not 0.0 < spec.meta_step_size <= 1.0:
        raise TrainError(f"--meta-step-size must be in (0, 1], got {spec.meta_step_size}")
    total = meta_iterations(spec)
    meta = Reptile(spec, notify)
    eval_every = base.eval_every or max(1, total // 10)
    settings = {
        "scenario": base.source,
        "regimes": [s.source for s in meta.specs],
        "targets": base.targets,
        "seed": base.seed,
        "inner_iterations": spec.inner_iterations,
        "meta_step_size": spec.meta_step_size,
        "meta_iterations": total,
        "args": meta.args.to_dict(),
    }
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    bar = tqdm(total=total, desc="reptile", unit="meta-it", disable=base.quiet, dynamic_ncols=True)
    handle = (out / "metrics.csv").open("w", newline="", encoding="utf-8")
    try:
        writer = csv.DictWriter(handle, fieldnames=META_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for k in range(total):
            tick = time.perf_counter()
            regime = meta.next_regime()
            before = meta.theta
            adapted, metrics = meta.adapt(regime)
            step_size = spec.meta_step_size * (1.0 - k / total)
            meta.outer_step(adapted, step_size)
            row: dict[str, Any] = {
                "meta_iteration": k + 1,
                "regime": regime,
                "global_step": meta.global_step,
                "meta_step_size": step_size,
                "adaptation": _distance(before, adapted),
                "seconds": time.perf_counter() - tick,
                **{
                    key: _mean([m[key] for m in metrics])
                    for key in ("episode_return", "policy_loss", "value_loss", "approx_kl")
                },
            }
            if (k + 1) % eval_every == 0 or k + 1 == total:
                row["eval_cost"] = float(
                    np.mean([meta.evaluate(r)["eval_cost"] for r in range(len(meta.trainers))])
                )
            writer.writerow(row)
            handle.flush()
            bar.update(1)
        regimes = []
        for r, s in enumerate(meta.specs):
            regimes.append({"source": s.source, "name": s.scenario.name, **meta.evaluate(r)})
        summary = {
            **settings,
            "timesteps": meta.global_step,
            "seconds": time.perf_counter() - start,
            "checkpoint": str(out / "policy.pt"),
            "evaluation": {"replications": base.eval_replications, "regimes": regimes},
        }
        meta.save(
            out / "policy.pt",
            {
                k: settings[k]
                for k in ("regimes", "inner_iterations", "meta_step_size", "meta_iterations")
            },
        )
        write_json(out / "summary.json", summary)
    finally:
        bar.close()
        handle.close()
        meta.close()
    return summary


def _mean(values: Sequence[float]) -> float:
    """Mean of the finite values (nan if none: no episode ended in the iterations)."""
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def _distance(a: Mapping[str, Any], b: Mapping[str, Any]) -> float:
    """Euclidean distance between two sets of weights (how far one adaptation moved)."""
    total = sum(float(((b[k] - v) ** 2).sum()) for k, v in a.items() if v.is_floating_point())
    return math.sqrt(total)


def load_regimes(
    paths: Sequence[str], read: Callable[[str], Scenario], base: Scenario
) -> list[Scenario]:
    """The regime scenarios read by ``read`` (the training command's reader), checked against
    ``base``."""
    regimes = [read(p) for p in paths]
    check_regimes(base, regimes)
    return regimes


def summary_lines(summary: Mapping[str, Any]) -> list[str]:
    """The initialisation's evaluation cost per regime, for the terminal."""
    lines = []
    for r in summary["evaluation"]["regimes"]:
        lines.append(
            f"{r['source']}: evaluation cost per period of the initialisation "
            f"{r['eval_cost']:.2f} +- {r['eval_cost_se']:.2f}"
        )
    lines.append(
        f"{summary['meta_iterations']} meta-iterations, {summary['timesteps']:,} epochs in "
        f"{summary['seconds']:.0f} s"
    )
    return lines


__all__ = [
    "MetaSpec",
    "Reptile",
    "check_regimes",
    "load_regimes",
    "meta_iterations",
    "meta_train",
    "reptile_step",
    "structure",
    "summary_lines",
]
