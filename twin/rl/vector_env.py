"""Batched environments over the vector twin: a multi-agent API for trainers, a Gymnasium VectorEnv.

Both take the options of :func:`twin.rl.env.parallel_env` (``targets``, ``observation``,
``action``, ``reward_scope``; resolved by the same code, so defaults and spaces are the same) and
``num_envs`` rows, each a replication of the scenario, stepped at once by a
:class:`~twin.rl.vector.VectorTwin` (NumPy, or torch tensors on ``device``):

* :class:`VectorParallelEnv`, for trainers: observations ``(B, agents, obs_dim)``, rewards
  ``(B, agents)``, actions ``(B, agents)`` (discrete) or ``(B, agents, k)`` (several lanes, or a
  box); arrays of the twin's backend (torch tensors on the device with ``device=``), so a policy
  runs on all rows and agents in one batch. Agents whose action spaces differ are listed in
  :attr:`VectorParallelEnv.groups`; their actions then go flat, ``(B, width)``, in agent order.
* :class:`TwinVectorEnv`, a ``gymnasium.vector.VectorEnv`` of the flattened single-agent view
  (:class:`twin.rl.env.TwinGymEnv`: observations concatenated, actions flattened, reward the sum
  over the learning nodes), NumPy arrays.

Rewards are :func:`~reconciliation.rewards.reward_from_rows` of each node's ledger row of the
period, by scope ``own``, ``team`` or ``mix`` (:func:`~reconciliation.rewards.rewards_by_scope`).
Observations and orders come from the vectorised builders and maps of
:mod:`twin.rl.vector_spaces`; for the same replication and actions they equal what
:func:`twin.rl.env.parallel_env` shows.

Seeding and episodes (Gymnasium's vector conventions): ``reset(seed=s)`` runs replications
``s, s + 1, ..., s + B - 1`` (row ``i`` is replication ``s + i``: the same demand and lead times
as ``parallel_env(...).reset(seed=s + i)``); ``reset(seed=[...])`` one replication per row;
``reset()`` the next ``B`` replications. Episodes are truncated at the horizon, in every row at
once (the rows run in lockstep); the next episode of row ``i`` is replication ``s + i + B``
(autoreset: ``next_step`` by default, the reset happening at the following ``step`` call, whose
action is ignored; or ``same_step``, the final observation in ``infos["final_obs"]``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from reconciliation.rewards import RATIO_QUANTITIES, check_weights
from twin.rl.env import TwinGymEnv, TwinParallelEnv
from twin.rl.vector import FIELDS, TOTAL, VectorTwin
from twin.rl.vector_backend import Array
from twin.rl.vector_spaces import vector_action, vector_observation
from twin.scenario import Scenario

__all__ = ["AgentGroup", "TwinVectorEnv", "VectorParallelEnv"]

_DEMAND, _FILLED = FIELDS.index("demand"), FIELDS.index("filled_on_time")


class AgentGroup:
    """Learning nodes sharing one action space: ``agents`` (ids) at ``index`` in the agent axis."""

    def __init__(self, agents: list[str], index: list[int], action_space: spaces.Space) -> None:
        self.agents, self.index, self.action_space = agents, index, action_space

    def __repr__(self) -> str:
        return f"AgentGroup({self.agents}, {self.action_space})"


def _mode(autoreset_mode: Any) -> AutoresetMode:
    """``next_step`` or ``same_step`` (or the :class:`~gymnasium.vector.AutoresetMode`)."""
    names = {
        "next_step": AutoresetMode.NEXT_STEP,
        "nextstep": AutoresetMode.NEXT_STEP,
        "same_step": AutoresetMode.SAME_STEP,
        "samestep": AutoresetMode.SAME_STEP,
    }
    if isinstance(autoreset_mode, AutoresetMode):
        mode: AutoresetMode | None = autoreset_mode
    else:
        mode = names.get(str(autoreset_mode).lower())
    if mode not in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP):
        raise ValueError(f"autoreset_mode must be 'next_step' or 'same_step', got {autoreset_mode!r}")
    return mode


class VectorParallelEnv:
    """``num_envs`` replications of a multi-agent environment as arrays (module docstring)."""

    def __init__(
        self,
        scenario: str | Path | Scenario,
        num_envs: int,
        *,
        targets: Any = None,
        observation: Any = None,
        action: Any = None,
        reward_scope: str | None = None,
        device: str | None = None,
        autoreset_mode: Any = "next_step",
    ) -> None:
        reference = TwinParallelEnv(
            scenario, targets=targets, observation=observation, action=action, reward_scope=reward_scope
        )
        self.reference = reference
        """The event-twin environment with the same options (spaces, names; never stepped here)."""
        self.scenario = reference.scenario
        self.possible_agents: list[str] = list(reference.possible_agents)
        self.agents: list[str] = []
        chosen = set(self.possible_agents)
        external = [
            i for i in range(len(self.scenario.agents)) if set(self.scenario.agent_nodes(i)) & chosen
        ]
        self.twin = VectorTwin(self.scenario, num_envs, external=external, device=device)
        self.xp = self.twin.xp
        if self.twin.external_nodes != self.possible_agents:  # pragma: no cover - same resolution
            raise AssertionError(f"{self.twin.external_nodes} != {self.possible_agents}")
        nodes = [self.twin.plan.index_of(a) for a in self.possible_agents]
        self.nodes = self.xp.select(nodes)
        self.num_envs = num_envs
        self.autoreset_mode = _mode(autoreset_mode)
        self.observations = vector_observation(reference.observation_builder, self.twin, nodes)
        self.actions = vector_action(reference.action_map, self.twin, nodes)
        self.observation_space: spaces.Box = reference.observation_space(self.possible_agents[0])  # type: ignore[assignment]
        """One agent's observation space."""
        groups: list[AgentGroup] = []
        for k, a in enumerate(self.possible_agents):
            space = reference.action_space(a)
            for g in groups:
                if g.action_space == space:
                    g.agents.append(a)
                    g.index.append(k)
                    break
            else:
                groups.append(AgentGroup([a], [k], space))
        self.groups = groups
        """Agents by action space (one group when they all act alike)."""
        self.action_space: spaces.Space | None = groups[0].action_space if len(groups) == 1 else None
        """One agent's action space (None when the groups differ)."""
        check_weights(reference.reward_weights)
        self.reward_weights = dict(reference.reward_weights)
        self.reward_scope = reference.reward_scope
        self.alpha = reference.alpha
        self._next: list[int] = list(range(num_envs))
        self._state: Any = None
        self._needs_reset = False

    @property
    def periods(self) -> int:
        return self.twin.periods

    # -- episodes ---------------------------------------------------------------------------------

    def _replications(self, seed: Any) -> list[int]:
        b = self.num_envs
        if seed is None:
            return list(self._next)
        if isinstance(seed, int | np.integer) and not isinstance(seed, bool):
            if seed < 0:
                raise ValueError(f"seed must be an integer >= 0 (the first replication), got {seed!r}")
            return list(range(int(seed), int(seed) + b))
        reps = [int(r) for r in seed]
        if len(reps) != b or any(r < 0 for r in reps):
            raise ValueError(f"seed must give {b} replications >= 0 (one per row), got {seed!r}")
        return reps

    def reset(self, seed: Any = None, options: dict[str, Any] | None = None) -> tuple[Array, dict]:
        """Start an episode in every row; ``(observations (B, agents, obs_dim), infos)``."""
        mask = (options or {}).get("reset_mask")
        if mask is not None and not bool(np.all(np.asarray(mask))):
            raise ValueError("the vector twin's rows run in lockstep: reset_mask must select every row")
        reps = self._replications(seed)
        self._next = [r + self.num_envs for r in reps]  # each row's next episode
        self.twin.reset(reps)
        self._replication_array = np.asarray(reps)
        self.observations.reset()
        self._needs_reset = False
        self.agents = list(self.possible_agents)
        return self._observe(), self._infos()

    def _observe(self) -> Array:
        twin = self.twin
        self._state = twin.view(closed=twin.plan.liu or twin.done)
        return self.observations.build(self._state)

    def _infos(self) -> dict[str, Any]:
        b = self.num_envs
        return {"period": np.full(b, self.twin.t), "replication": self._replication_array}

    def step(self, actions: Any) -> tuple[Array, Array, Array, Array, dict[str, Any]]:
        """One decision epoch of every learning node in every row.

        ``actions``: ``(B, agents)`` or ``(B, agents, k)`` (or ``(B, width)`` flat, in agent
        order). Returns observations ``(B, agents, obs_dim)``, rewards ``(B, agents)``,
        terminations and truncations ``(B,)`` and infos (``period``, ``replication`` per row;
        ``cost`` and ``fill_rate`` per row and agent).
        """
        xp, b = self.xp, self.num_envs
        if self._needs_reset:  # next-step autoreset: this step only starts the next episodes
            obs, infos = self.reset()
            zeros = xp.zeros(b, len(self.possible_agents))
            flags = np.zeros(b, dtype=bool)
            return obs, zeros, flags, flags.copy(), infos
        if self._state is None:
            raise RuntimeError("step() before reset()")
        flat = xp.asarray(actions).reshape(b, -1)
        orders = self.actions.orders(flat, self._state)
        self.twin.step(orders)
        flows = self.twin.flows
        fill_rate = self._fill_rate(flows)
        rewards = self.rewards(flows, fill_rate)
        self.observations.record(flows)
        obs = self._observe()
        infos = self._infos()
        infos["period"] -= 1  # the period the rewards are of
        infos["cost"] = xp.take(flows[TOTAL], self.nodes, 1)
        infos["fill_rate"] = fill_rate
        done = self.twin.done
        truncated = np.full(b, done)
        if done:
            self.agents = []
            if self.autoreset_mode is AutoresetMode.SAME_STEP:
                infos["final_obs"], infos["final_info"] = obs, dict(infos)
                obs, fresh = self.reset()
                infos.update(fresh)
            else:
                self._needs_reset = True
        return obs, rewards, np.zeros(b, dtype=bool), truncated, infos

    # -- rewards ----------------------------------------------------------------------------------

    def _fill_rate(self, flows: Array) -> Array:
        xp = self.xp
        demand = xp.take(flows[_DEMAND], self.nodes, 1)
        filled = xp.take(flows[_FILLED], self.nodes, 1)
        positive = demand > 0.0
        return xp.where(positive, filled / xp.where(positive, demand, 1.0), 1.0)

    def rewards(self, flows: Array, fill_rate: Array | None = None) -> Array:
        """Each learning node's reward ``(B, agents)`` from the period's ledger columns, as
        :func:`~reconciliation.rewards.rewards_by_scope` computes it from ledger rows."""
        xp = self.xp
        own = xp.zeros(self.num_envs, len(self.possible_agents))
        for name, weight in self.reward_weights.items():
            if name in RATIO_QUANTITIES:
                quantity = self._fill_rate(flows) if fill_rate is None else fill_rate
            else:
                quantity = xp.take(flows[FIELDS.index(name)], self.nodes, 1)
            own = own + weight * quantity
        if self.reward_scope == "own":
            return own
        team = own.sum(1) / own.shape[1]
        if self.reward_scope == "team":
            return team[:, None] + 0.0 * own  # the same for every agent
        return self.alpha * own + (1.0 - self.alpha) * team[:, None]


class TwinVectorEnv(gymnasium.vector.VectorEnv):
    """A ``gymnasium.vector.VectorEnv`` over the vector twin: the flattened single-agent view of
    :class:`twin.rl.env.TwinGymEnv`, ``num_envs`` rows (module docstring). NumPy arrays."""

    def __init__(
        self,
        scenario: str | Path | Scenario,
        num_envs: int,
        *,
        targets: Any = None,
        observation: Any = None,
        action: Any = None,
        reward_scope: str | None = None,
        device: str | None = None,
        autoreset_mode: Any = "next_step",
    ) -> None:
        self.env = VectorParallelEnv(
            scenario,
            num_envs,
            targets=targets,
            observation=observation,
            action=action,
            reward_scope=reward_scope,
            device=device,
            autoreset_mode=autoreset_mode,
        )
        flat = TwinGymEnv(self.env.reference)
        self.num_envs = num_envs
        self.single_observation_space = flat.observation_space
        self.single_action_space = flat.action_space
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.metadata = {"autoreset_mode": self.env.autoreset_mode}
        self.render_mode = None
        self.closed = False

    @property
    def twin(self) -> VectorTwin:
        return self.env.twin

    def _numpy(self, x: Array) -> np.ndarray:
        return self.env.xp.to_numpy(x)

    def _flat_obs(self, obs: Array) -> np.ndarray:
        return self._numpy(obs).reshape(self.num_envs, -1)

    def _infos(self, infos: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in infos.items():
            if key == "final_obs":
                out[key] = self._flat_obs(value)
            elif key == "final_info":
                out[key] = self._infos(value)
            else:
                out[key] = self._numpy(value) if not isinstance(value, np.ndarray) else value
            out[f"_{key}"] = np.ones(self.num_envs, dtype=bool)
        return out

    def reset(
        self, *, seed: int | Sequence[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=None)
        obs, infos = self.env.reset(seed=seed, options=options)
        return self._flat_obs(obs), self._infos(infos)

    def step(
        self, actions: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        obs, rewards, terminated, truncated, infos = self.env.step(actions)
        total = self._numpy(rewards).sum(1)
        return self._flat_obs(obs), total, terminated, truncated, self._infos(infos)

    def close_extras(self, **kwargs: Any) -> None:
        self.env.twin = None  # type: ignore[assignment]
