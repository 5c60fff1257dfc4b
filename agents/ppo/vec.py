"""Vectorised twins: several PettingZoo ``ParallelEnv`` copies stepped in lockstep in one process.

:class:`VecParallelEnv` turns per-agent dicts into arrays, agents in a fixed order (the first
environment's ``possible_agents``): observations ``(num_envs, obs_dim)`` per agent, rewards
``(num_envs, num_agents)``. An environment whose episode ends (any agent terminated or truncated)
is reset at once with the next replication index as its seed, so every episode of training draws
new demand, and training episodes never reuse the replications kept for evaluation (those below
``first_replication``). The observation that ended the episode is returned as ``final_obs`` (for
bootstrapping the value of a truncated episode, Pardo et al. 2018). Nothing here imports
gymnasium or pettingzoo: environments are duck-typed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from agents.ppo.network import action_shape, clip_action, space_spec


class VecParallelEnv:
    """``num_envs`` parallel environments with the same agents, observation and action spaces."""

    def __init__(self, envs: Sequence[Any], *, first_replication: int = 10_000) -> None:
        if not envs:
            raise ValueError("VecParallelEnv needs at least one environment")
        self.envs = list(envs)
        self.agents: list[str] = list(self.envs[0].possible_agents)
        if not self.agents:
            raise ValueError("the environment has no learning agents (possible_agents is empty)")
        for e in self.envs[1:]:
            if list(e.possible_agents) != self.agents:
                raise ValueError(
                    f"environments disagree on their agents: {self.agents} vs {list(e.possible_agents)}"
                )
        env = self.envs[0]
        self.obs_dims = {a: int(np.prod(env.observation_space(a).shape)) for a in self.agents}
        self.action_specs = {a: space_spec(env.action_space(a)) for a in self.agents}
        self.num_envs = len(self.envs)
        self.next_replication = int(first_replication)
        self.episode_returns = np.zeros((self.num_envs, len(self.agents)))
        self.episode_lengths = np.zeros(self.num_envs, np.int64)

    @property
    def num_agents(self) -> int:
        return len(self.agents)

    def _stack(self, obs_dicts: Sequence[dict[str, Any]]) -> dict[str, np.ndarray]:
        return {
            a: np.stack([np.asarray(o[a], np.float32).reshape(-1) for o in obs_dicts])
            for a in self.agents
        }

    def _reset_one(self, i: int) -> dict[str, Any]:
        seed = self.next_replication
        self.next_replication += 1
        obs, _ = self.envs[i].reset(seed=seed)
        return obs

    def _env_action(self, agent: str, action: np.ndarray) -> int | np.ndarray:
        """One agent's action as its environment takes it: clipped to its space, a plain ``int``
        for a ``Discrete`` space."""
        spec = self.action_specs[agent]
        value = clip_action(action, spec).reshape(action_shape(spec))
        return int(value) if value.shape == () and value.dtype.kind == "i" else value

    def reset(self) -> dict[str, np.ndarray]:
        """Reset every environment (each on a fresh replication); observations per agent."""
        self.episode_returns[:] = 0.0
        self.episode_lengths[:] = 0
        return self._stack([self._reset_one(i) for i in range(self.num_envs)])

    def step(
        self, actions: dict[str, np.ndarray]
    ) -> tuple[
        dict[str, np.ndarray],
        np.ndarray,
        np.ndarray,
        np.ndarray,
        dict[int, dict[str, np.ndarray]],
        list[dict[str, Any]],
    ]:
        """Step every environment with ``actions[agent][env]``.

        Returns ``(next_obs, rewards, terminated, truncated, final_obs, episodes)``: ``rewards``
        ``(num_envs, num_agents)``; ``terminated``/``truncated`` per environment; ``final_obs``
        maps an environment that ended to its last observations (``next_obs`` then holds its
        reset observations); ``episodes`` lists ``{"return": per-agent mean, "length": n}`` for
        the episodes that ended.
        """
        obs_dicts: list[dict[str, Any]] = []
        rewards = np.zeros((self.num_envs, self.num_agents), np.float64)
        terminated = np.zeros(self.num_envs, bool)
        truncated = np.zeros(self.num_envs, bool)
        final_obs: dict[int, dict[str, np.ndarray]] = {}
        episodes: list[dict[str, Any]] = []
        for i, env in enumerate(self.envs):
            act = {a: self._env_action(a, actions[a][i]) for a in self.agents}
            obs, rew, term, trunc, _infos = env.step(act)
            rewards[i] = [float(rew[a]) for a in self.agents]
            terminated[i] = any(bool(term.get(a, False)) for a in self.agents)
            truncated[i] = any(bool(trunc.get(a, False)) for a in self.agents) and not terminated[i]
            self.episode_returns[i] += rewards[i]
            self.episode_lengths[i] += 1
            if terminated[i] or truncated[i]:
                final_obs[i] = {a: np.asarray(obs[a], np.float32).reshape(-1) for a in self.agents}
                episodes.append(
                    {
                        "return": float(self.episode_returns[i].mean()),
                        "length": int(self.episode_lengths[i]),
                    }
                )
                self.episode_returns[i] = 0.0
                self.episode_lengths[i] = 0
                obs = self._reset_one(i)
            obs_dicts.append(obs)
        return self._stack(obs_dicts), rewards, terminated, truncated, final_obs, episodes

    def close(self) -> None:
        for env in self.envs:
            close = getattr(env, "close", None)
            if callable(close):
                close()


def make_vec(
    make_env: Callable[[], Any], num_envs: int, *, first_replication: int = 10_000
) -> VecParallelEnv:
    """``num_envs`` environments from ``make_env()``, wrapped in :class:`VecParallelEnv`."""
    if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
        raise ValueError(f"num_envs must be an integer >= 1, got {num_envs!r}")
    return VecParallelEnv([make_env() for _ in range(num_envs)], first_replication=first_replication)
