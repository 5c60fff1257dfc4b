"""What the trainers step: ``B`` replications of a multi-agent twin environment as batched tensors.

A trainer sees one interface, :class:`BatchedEnv`, whatever twin is behind it: the vector twin
(:class:`twin.rl.batched.VectorBatch`, all rows stepped by whole-array operations) or, where the
vector twin cannot express a scenario, several event-twin environments stepped one after another
(:class:`VecParallelEnv`, PettingZoo ``ParallelEnv`` copies, duck-typed: nothing here imports
gymnasium, pettingzoo or ``twin``). Agents come in a fixed order (the environment's
``possible_agents``) and share one observation size:

* ``reset() -> obs``: ``(B, agents, obs_dim)`` ``float32`` on the trainer's ``device``;
* ``step(actions)``: ``actions`` ``(B, width)``, each agent's action (one number for a
  ``Discrete`` space, ``k`` for a ``MultiDiscrete`` or ``Box`` one) one after another in agent
  order; returns a :class:`Step`. Episodes end at the scenario's horizon (truncated, never
  terminated) in every row at once, and the next episode starts at once, so ``Step.obs`` is
  then the first observation of the next episode and ``Step.final_obs`` the last of the one that
  ended (for bootstrapping its value, Pardo et al. 2018).

Replications: row ``i`` of the first episodes runs replication ``first_replication + i``, and each
new episode takes the next ``B`` unused replications, so every training episode draws new demand
and none reuses the replications kept for evaluation (those below ``first_replication``).

Resuming: :meth:`BatchedEnv.state_dict` holds the rows' replications, the replication counter, the
episode accounting and the actions taken since the episodes began; :meth:`load_state_dict` starts
the same replications again and replays those actions. The twins draw all their randomness from
the replication number (DESIGN.md, "Randomness") and are deterministic given the actions, so this
restores the environments exactly, mid-episode, without saving their internals.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from agents.ppo.network import action_shape, action_width, clip_action, space_spec


@dataclass
class Step:
    """What one step of every row returns."""

    obs: torch.Tensor
    """``(B, agents, obs_dim)`` ``float32``: the next observations (a new episode's first where
    one ended)."""
    rewards: torch.Tensor
    """``(B, agents)`` ``float64``: each agent's reward of the step."""
    done: torch.Tensor
    """``(B,)`` ``bool``: the episode ended with this step."""
    truncated: torch.Tensor
    """``(B,)`` ``bool``: it ended at the horizon (not a terminal state: bootstrap its value)."""
    final_obs: torch.Tensor | None
    """``(B, agents, obs_dim)``: the last observations of the episodes that ended (None if none)."""
    episodes: list[tuple[float, int]]
    """``(return, length)`` of each episode that ended: the return is the mean over agents of the
    summed rewards."""


class BatchedEnv:
    """Base class of the batched environments (module docstring); subclasses implement
    :meth:`_start` and :meth:`_advance` and set ``agents``, ``obs_dim``, ``action_specs``."""

    kind = "batched"
    agents: list[str]
    obs_dim: int
    action_specs: dict[str, dict[str, Any]]

    def __init__(self, num_envs: int, *, first_replication: int = 10_000, device: Any = "cpu") -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs must be an integer >= 1, got {num_envs!r}")
        self.num_envs = num_envs
        self.device = torch.device(device)
        self.next_replication = int(first_replication)
        self.replications: list[int] = []
        self._history: list[torch.Tensor] = []
        self.episode_returns = torch.zeros(num_envs, 0, dtype=torch.float64)
        self.episode_lengths = 0

    # -- to implement --------------------------------------------------------------------------

    def _start(self, replications: list[int]) -> torch.Tensor:
        """Start ``replications`` (one per row); the first observations."""
        raise NotImplementedError

    def _advance(
        self, actions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, bool, torch.Tensor | None]:
        """One step of every row: ``(obs, rewards, ended, final_obs)``; when the episodes end
        (``ended``), ``obs`` are the last observations and ``final_obs`` None (the base class
        starts the next episodes)."""
        raise NotImplementedError

    # -- the interface ---------------------------------------------------------------------------

    @property
    def num_agents(self) -> int:
        return len(self.agents)

    @property
    def action_width(self) -> int:
        """Numbers in one row of ``step``'s actions: every agent's action, in agent order."""
        return sum(action_width(self.action_specs[a]) for a in self.agents)

    def _next_episodes(self) -> torch.Tensor:
        first = self.next_replication
        self.next_replication += self.num_envs
        self.replications = list(range(first, first + self.num_envs))
        self._history = []
        self.episode_returns = torch.zeros(self.num_envs, self.num_agents, dtype=torch.float64)
        self.episode_lengths = 0
        return self._start(self.replications)

    def reset(self) -> torch.Tensor:
        """Start new episodes in every row (the next unused replications); observations."""
        return self._next_episodes()

    def step(self, actions: torch.Tensor) -> Step:
        """Every row acts (``actions`` ``(B, width)``); see :class:`Step`."""
        actions = torch.as_tensor(actions).reshape(self.num_envs, self.action_width)
        self._history.append(actions.detach().clone())
        obs, rewards, ended, _ = self._advance(actions)
        self.episode_returns += rewards.to(self.episode_returns.device, torch.float64).cpu()
        self.episode_lengths += 1
        flags = torch.full((self.num_envs,), ended, dtype=torch.bool, device=self.device)
        if not ended:
            return Step(obs, rewards, flags, flags.clone(), None, [])
        episodes = [(float(r), self.episode_lengths) for r in self.episode_returns.mean(1).tolist()]
        final = obs
        obs = self._next_episodes()
        return Step(obs, rewards, flags, flags.clone(), final, episodes)

    # -- resuming ------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Enough to put every row back where it is now (see the module docstring)."""
        width = self.action_width
        history = (
            torch.stack([a.cpu() for a in self._history])
            if self._history
            else torch.zeros(0, self.num_envs, width)
        )
        return {
            "replications": list(self.replications),
            "next_replication": self.next_replication,
            "actions": history,
            "episode_returns": self.episode_returns.clone(),
            "episode_lengths": self.episode_lengths,
        }

    def load_state_dict(self, state: dict[str, Any]) -> torch.Tensor:
        """Restart the saved rows' replications and replay their actions; the observations now."""
        self.replications = [int(r) for r in state["replications"]]
        self.next_replication = int(state["next_replication"])
        obs = self._start(self.replications)
        self._history = []
        for actions in state["actions"]:
            actions = actions.to(self.device)
            self._history.append(actions.clone())
            obs, _, ended, _ = self._advance(actions)
            if ended:  # pragma: no cover - the history never spans an episode's end
                raise ValueError("the saved actions run past the end of the episodes")
        self.episode_returns = torch.as_tensor(state["episode_returns"], dtype=torch.float64).clone()
        self.episode_lengths = int(state["episode_lengths"])
        return obs

    def close(self) -> None:
        """Release the environments."""


class VecParallelEnv(BatchedEnv):
    """``num_envs`` PettingZoo ``ParallelEnv`` copies (the event twin) as a :class:`BatchedEnv`:
    each row is one environment, stepped one after another in this process."""

    kind = "event"

    def __init__(
        self,
        envs: Sequence[Any],
        *,
        first_replication: int = 10_000,
        device: Any = "cpu",
    ) -> None:
        if not envs:
            raise ValueError("VecParallelEnv needs at least one environment")
        super().__init__(len(envs), first_replication=first_replication, device=device)
        self.envs = list(envs)
        self.agents = list(self.envs[0].possible_agents)
        if not self.agents:
            raise ValueError("the environment has no learning agents (possible_agents is empty)")
        for e in self.envs[1:]:
            if list(e.possible_agents) != self.agents:
                raise ValueError(
                    f"environments disagree on their agents: {self.agents} vs {list(e.possible_agents)}"
                )
        env = self.envs[0]
        dims = {a: int(np.prod(env.observation_space(a).shape)) for a in self.agents}
        if len(set(dims.values())) != 1:
            raise ValueError(f"the agents' observations differ in size: {dims}")
        self.obs_dim = dims[self.agents[0]]
        self.action_specs = {a: space_spec(env.action_space(a)) for a in self.agents}
        self._widths = [action_width(self.action_specs[a]) for a in self.agents]

    def _stack(self, obs_dicts: Sequence[dict[str, Any]]) -> torch.Tensor:
        values = np.stack(
            [
                np.stack([np.asarray(o[a], np.float32).reshape(-1) for a in self.agents])
                for o in obs_dicts
            ]
        )
        return torch.as_tensor(values, device=self.device)

    def _start(self, replications: list[int]) -> torch.Tensor:
        return self._stack(
            [env.reset(seed=r)[0] for env, r in zip(self.envs, replications, strict=True)]
        )

    def _env_action(self, agent: str, action: np.ndarray) -> int | np.ndarray:
        """One agent's action as its environment takes it: clipped to its space, a plain ``int``
        for a ``Discrete`` space."""
        spec = self.action_specs[agent]
        value = clip_action(action, spec).reshape(action_shape(spec))
        return int(value) if value.shape == () and value.dtype.kind == "i" else value

    def _advance(
        self, actions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, bool, torch.Tensor | None]:
        flat = actions.detach().cpu().numpy()
        obs_dicts: list[dict[str, Any]] = []
        rewards = np.zeros((self.num_envs, self.num_agents), np.float64)
        ended = []
        for i, env in enumerate(self.envs):
            parts = np.split(flat[i], np.cumsum(self._widths)[:-1])
            act = {a: self._env_action(a, p) for a, p in zip(self.agents, parts, strict=True)}
            obs, rew, term, trunc, _infos = env.step(act)
            rewards[i] = [float(rew[a]) for a in self.agents]
            ended.append(any(bool(term.get(a)) or bool(trunc.get(a)) for a in self.agents))
            obs_dicts.append(obs)
        if any(ended) and not all(ended):
            raise ValueError("the environments' episodes must end together (one horizon)")
        return self._stack(obs_dicts), torch.as_tensor(rewards, device=self.device), ended[0], None

    def close(self) -> None:
        for env in self.envs:
            close = getattr(env, "close", None)
            if callable(close):
                close()


def make_vec(
    make_env: Callable[[], Any],
    num_envs: int,
    *,
    first_replication: int = 10_000,
    device: Any = "cpu",
) -> VecParallelEnv:
    """``num_envs`` environments from ``make_env()``, wrapped in :class:`VecParallelEnv`."""
    if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
        raise ValueError(f"num_envs must be an integer >= 1, got {num_envs!r}")
    return VecParallelEnv(
        [make_env() for _ in range(num_envs)], first_replication=first_replication, device=device
    )
