"""The trainers' environments over a scenario: the vector twin, or event-twin copies where it cannot.

:func:`make_batched` gives a :class:`agents.ppo.vec.BatchedEnv` of ``num_envs`` rows for the
learning nodes of a scenario (the options of :func:`twin.rl.env.parallel_env`):

* :class:`VectorBatch`, over :class:`twin.rl.vector_env.VectorParallelEnv` (all rows stepped by
  whole-array operations; NumPy for a CPU device, ``float64`` torch tensors on a CUDA device),
  observations and rewards handed over as tensors on the trainer's device;
* where the vector twin cannot express the scenario (:class:`~twin.rl.vector_plan.VectorUnsupported`,
  e.g. individual customers or order processing), ``num_envs`` event-twin environments
  (:class:`agents.ppo.vec.VecParallelEnv` of :func:`twin.rl.env.parallel_env`), and a note
  saying why, which the training run prints and records.

:class:`VectorEvaluator` runs a policy over fixed replications on the vector twin and computes
the run's KPIs from the recorded ledger columns (:func:`reconciliation.kpis.compute_kpis`, as for
a twin run).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from agents.ppo.network import action_width, space_spec
from agents.ppo.vec import BatchedEnv, VecParallelEnv
from twin.rl.env import parallel_env
from twin.rl.vector_env import VectorParallelEnv
from twin.rl.vector_plan import VectorUnsupported
from twin.scenario import Scenario


class VectorBatch(BatchedEnv):
    """A :class:`~agents.ppo.vec.BatchedEnv` over the vector twin (module docstring); ``record``
    keeps the ledger columns of every period (for evaluation)."""

    kind = "vector"

    def __init__(
        self,
        scenario: Scenario,
        num_envs: int,
        *,
        options: dict[str, Any],
        first_replication: int = 10_000,
        device: Any = "cpu",
        record: bool = False,
        torch_twin: bool = False,
    ) -> None:
        super().__init__(num_envs, first_replication=first_replication, device=device)
        # The twin runs on NumPy on the CPU (faster there), as torch tensors on another device;
        # torch_twin=True takes the torch path on the CPU too (the one a CUDA device takes).
        twin_device = str(self.device) if torch_twin or self.device.type != "cpu" else None
        self.env = VectorParallelEnv(scenario, num_envs, device=twin_device, **options)
        self.env.twin.record = record
        self.agents = list(self.env.possible_agents)
        self.obs_dim = int(np.prod(self.env.observation_space.shape))
        reference = self.env.reference
        self.action_specs = {a: space_spec(reference.action_space(a)) for a in self.agents}

    @property
    def scenario(self) -> Scenario:
        return self.env.scenario

    def _tensor(self, x: Any, dtype: torch.dtype) -> torch.Tensor:
        if isinstance(x, torch.Tensor):
            return x.to(device=self.device, dtype=dtype)
        return torch.as_tensor(np.asarray(x), device=self.device).to(dtype)

    def _start(self, replications: list[int]) -> torch.Tensor:
        obs, _ = self.env.reset(seed=replications)
        return self._tensor(obs, torch.float32)

    def _advance(
        self, actions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, bool, torch.Tensor | None]:
        if self.env.xp.name == "numpy":
            flat: Any = actions.detach().cpu().numpy().astype(np.float64)
        else:
            flat = actions.to(torch.float64)
        obs, rewards, _, truncated, _ = self.env.step(flat)
        return (
            self._tensor(obs, torch.float32),
            self._tensor(rewards, torch.float64),
            bool(np.asarray(truncated).any()),
            None,
        )


def make_batched(
    scenario: Scenario,
    num_envs: int,
    *,
    targets: Any = None,
    observation: Any = None,
    action: Any = None,
    reward_scope: str | None = None,
    first_replication: int = 10_000,
    device: Any = "cpu",
    vector: bool = True,
) -> tuple[BatchedEnv, str | None]:
    """``(env, note)``: the vector twin's :class:`VectorBatch`, or (``note`` says why) event-twin
    environments when the vector twin cannot express ``scenario`` (or ``vector`` is False)."""
    options = {
        "targets": targets,
        "observation": observation,
        "action": action,
        "reward_scope": reward_scope,
    }
    note = "the event twin was asked for (vector=False)"
    if vector:
        try:
            return (
                VectorBatch(
                    scenario,
                    num_envs,
                    options=options,
                    first_replication=first_replication,
                    device=device,
                ),
                None,
            )
        except VectorUnsupported as exc:
            note = f"{exc}; training on {num_envs} event-twin environments instead"

    def make_env() -> Any:
        return parallel_env(scenario, **options)

    envs = [make_env() for _ in range(num_envs)]
    return VecParallelEnv(envs, first_replication=first_replication, device=device), note


# --------------------------------------------------------------------------------------------------
# Evaluation on the vector twin.


@dataclass
class _Replication:
    """What :func:`reconciliation.kpis.ledger_frame` reads of a run: its rows and replication."""

    replication: int
    rows: list[Any]


class VectorEvaluator:
    """Runs ``act`` over replications ``0 .. n-1`` on the vector twin, one row each, and returns
    the network's KPIs as :func:`twin.rl.train.evaluate` does on the event twin.

    ``act(obs, state) -> (actions, state)``: ``obs`` ``(n, agents, obs_dim)`` on ``device``,
    ``state`` the policy's memory (None at the start of the episode), ``actions`` ``(n, width)``.
    """

    def __init__(
        self,
        scenario: Scenario,
        replications: Sequence[int],
        *,
        options: dict[str, Any],
        device: Any = "cpu",
    ) -> None:
        self.replications = [int(r) for r in replications]
        self.batch = VectorBatch(
            scenario, len(self.replications), options=options, device=device, record=True
        )
        self.width = sum(action_width(s) for s in self.batch.action_specs.values())

    def __call__(self, act: Callable[[torch.Tensor, Any], tuple[torch.Tensor, Any]]) -> dict[str, float]:
        from reconciliation.kpis import compute_kpis, ledger_frame
        from reconciliation.report import customer_nodes

        batch = self.batch
        obs = batch._start(self.replications)
        state: Any = None
        total = torch.zeros(len(self.replications), dtype=torch.float64)
        while True:
            actions, state = act(obs, state)
            obs, rewards, ended, _ = batch._advance(actions)
            total += rewards.to(torch.float64).mean(1).cpu()
            if ended:
                break
        ledger = batch.env.twin.ledger()
        runs = [_Replication(r, ledger.rows(b)) for b, r in enumerate(self.replications)]
        scenario = batch.scenario
        kpis = compute_kpis(
            ledger_frame(runs), scenario.warmup_periods, customer_nodes=customer_nodes(scenario)
        )
        net = kpis["network"]
        return {
            "eval_cost": float(net["cost_per_period"]["mean"]),
            "eval_cost_se": float(net["cost_per_period"]["se"] or 0.0),
            "eval_fill_rate": float((net.get("fill_rate") or {}).get("mean") or float("nan")),
            "eval_return": float(total.mean()),
        }
