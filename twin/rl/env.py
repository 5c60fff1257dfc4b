"""RL environments over a scenario: a PettingZoo ``ParallelEnv`` and a Gymnasium ``Env``.

``parallel_env(scenario, **options)`` and ``gym_env(scenario, **options)`` wrap a
:class:`~twin.simulation.Simulation` whose learning nodes are decided from outside
(:class:`~twin.simulation.ExternalAgent`). One step is one decision epoch of every learning node:

* the agents are the learning nodes (``targets``); their observations come from an observation
  builder and their actions go through an action map (plugins of :mod:`agents.spaces`), taken at
  the epoch, after customer demand and before any level decides (under ``timing: liu``, at the
  start of the period);
* ``step(actions)`` maps each action to an ``OrderDecision``, executes the epoch and runs the twin
  to the next one; the period is then closed, and each node's reward is
  :func:`~reconciliation.rewards.reward` of **its flows in that period** (read from the ledger's
  columns: :func:`~reconciliation.rewards.period_flows`) with the scenario's ``reward.weights``
  (never recomputed from state); scope ``own``, ``team`` (mean of the learning nodes' own
  rewards) or ``mix`` (``alpha * own + (1 - alpha) * team``, alpha from the scenario), via
  :func:`~reconciliation.rewards.rewards_by_scope` (weights are checked once, when the
  environment is made: ``{"profit": 1}`` rewards each node's revenue minus its costs);
* episodes are truncated (never terminated) at the scenario's horizon; the last observation is
  the state at the close of the last period;
* ``infos[node]`` carries the ``period`` of the step's rows, the ``replication``, the node's
  ``cost`` (``total_cost``) and ``fill_rate`` and the whole row as ``ledger`` (a dict).

Seeding: ``reset(seed=s)`` runs replication ``s`` (random streams ``(scenario.seed, s)``: the same
demand and lead times whatever the actions, common random numbers); ``reset()`` runs the
replication after the last one (0 first).

Options (keywords of both functions):

``targets``
    The learning nodes: a node id, a tier, or a list of them. Default: the nodes of every
    ``agents`` entry of kind ``ppo`` or ``happo``. A target that shares an ``agents`` entry with
    other nodes is moved to an entry of its own (the others keep theirs).
``observation``
    An observation builder: a name (``"hmarl"``), ``"name:key=value,..."``, a mapping
    ``{"name": ..., "params": {...}}`` or a builder instance. Default: the ``observation`` param of
    the targets' learning agent entry if it has one, else ``liu`` under ``timing: liu``, else
    ``default``.
``action``
    An action map, given the same ways (default: the entry's ``action`` param, else ``integer``).
``reward_scope``
    ``own``, ``team`` or ``mix``, overriding the scenario's ``reward.scope``.

The Gymnasium view (``gym_env``) drives the same environment: with one learning node its spaces
are that node's; with several, observations are concatenated (``Box``) and actions flattened
(``MultiDiscrete`` of the nodes' discrete actions, or ``Box`` of their continuous ones), in the
order of ``possible_agents``; the reward is the sum of the nodes' rewards (under every scope the
same total: team and mix only redistribute it).

``import twin.env`` never imports torch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from agents.named import named
from agents.spaces import (
    ActionMap,
    Featurizer,
    NodeInfo,
    ObservationBuilder,
    action_map,
    observation_builder,
)
from entities.distributions import Constant, Distribution, Empirical, Uniform, UniformInt
from entities.errors import ScenarioError, TwinError
from entities.messages import NodeId
from reconciliation.rewards import check_weights, fill_rate, period_flows, rewards_by_scope
from twin.engine import ExternalAgent, Simulation
from twin.scenario import Scenario, read_yaml, scenario_from_dict
from twin.scenario.edit import assign, edit
from twin.scenario.errors import suggest

__all__ = ["LEARNING_KINDS", "TwinGymEnv", "TwinParallelEnv", "gym_env", "parallel_env"]

LEARNING_KINDS = ("ppo", "happo")
"""Agent kinds whose nodes are the default ``targets``."""

_PLACEHOLDER = ("constant", {"quantity": 0.0})
"""Kind given to a target split off a shared ``agents`` entry (replaced by ExternalAgent)."""


# --------------------------------------------------------------------------------------------------
# Public constructors.


def parallel_env(
    scenario: str | Path | Scenario,
    *,
    targets: Any = None,
    observation: Any = None,
    action: Any = None,
    reward_scope: str | None = None,
) -> TwinParallelEnv:
    """A PettingZoo ``ParallelEnv`` over ``scenario`` (a file or a :class:`Scenario`)."""
    return TwinParallelEnv(
        scenario, targets=targets, observation=observation, action=action, reward_scope=reward_scope
    )


def gym_env(
    scenario: str | Path | Scenario,
    *,
    targets: Any = None,
    observation: Any = None,
    action: Any = None,
    reward_scope: str | None = None,
) -> TwinGymEnv:
    """A Gymnasium ``Env`` over ``scenario``: one learning node, or all of them flattened."""
    return TwinGymEnv(
        parallel_env(
            scenario, targets=targets, observation=observation, action=action, reward_scope=reward_scope
        )
    )


# --------------------------------------------------------------------------------------------------
# Resolving the options against the scenario.


def learners_untrained(data: Mapping[str, Any]) -> dict[str, Any]:
    """Scenario data in which every ``ppo``/``happo`` entry without a checkpoint says
    ``untrained: true``: in an environment or a training run such entries name the learners (the
    environment drives them from outside), so they need no trained policy."""
    out = dict(data)
    entries = out.get("agents")
    if isinstance(entries, list):
        out["agents"] = [
            {**e, "params": {**(e.get("params") or {}), "untrained": True}}
            if isinstance(e, dict)
            and e.get("kind") in LEARNING_KINDS
            and isinstance(e.get("params") or {}, dict)
            and (e.get("params") or {}).get("checkpoint") is None
            and "untrained" not in (e.get("params") or {})
            else e
            for e in entries
        ]
    return out


def _load(scenario: str | Path | Scenario) -> Scenario:
    if isinstance(scenario, str | Path):
        data = read_yaml(scenario)
        if isinstance(data, Mapping):
            data = learners_untrained(data)
        scenario = scenario_from_dict(data, source=str(scenario))
    if not isinstance(scenario, Scenario):
        raise TypeError(f"scenario must be a path or a Scenario, got {type(scenario).__name__}")
    if scenario.skus:
        raise TwinError(
            f"{scenario.name}: the RL environments do not support multi-SKU scenarios "
            f"(top-level 'skus' lists {len(scenario.skus)} SKUs); observations and "
            "actions are per node"
        )
    return scenario


def resolve_targets(scenario: Scenario, targets: Any) -> list[str]:
    """Node ids of the learning nodes, in scenario order (see the module docstring)."""
    ids = [n.id for n in scenario.nodes]
    tiers = {n.tier_name for n in scenario.nodes}
    if targets is None:
        chosen = {
            node
            for i, a in enumerate(scenario.agents)
            if a.kind in LEARNING_KINDS
            for node in scenario.agent_nodes(i)
        }
        if not chosen:
            example = next((a.tier or (a.nodes or [""])[0] for a in scenario.agents), ids[0])
            raise ScenarioError(
                f"{scenario.name}: no node is decided by a learning agent (kind "
                f"{' or '.join(LEARNING_KINDS)}): pass targets=NODE, TIER or a list of them "
                f"(e.g. targets={example!r}), or give the nodes kind: ppo in the scenario's agents"
            )
        return [n for n in ids if n in chosen]
    items = [targets] if isinstance(targets, str) else list(targets)
    if not items:
        raise ScenarioError(f"{scenario.name}: targets is empty")
    chosen = set()
    for item in items:
        if item in ids:
            chosen.add(item)
        elif item in tiers:
            chosen.update(n.id for n in scenario.nodes if n.tier_name == item)
        else:
            raise ScenarioError(
                f"{scenario.name}: targets: {item!r} is not a node or a tier"
                f"{suggest(str(item), [*ids, *sorted(tiers)])}"
            )
    return [n for n in ids if n in chosen]


def split_targets(scenario: Scenario, targets: Sequence[str]) -> tuple[Scenario, list[int]]:
    """The scenario with every target in an ``agents`` entry that holds only targets, and the
    indices of those entries (the ones to drive from outside). A target sharing an entry with
    other nodes gets an entry of its own (:func:`twin.scenario.edit.assign`)."""
    wanted = set(targets)
    owner = {node: i for i in range(len(scenario.agents)) for node in scenario.agent_nodes(i)}
    mixed = [n for n in targets if n not in owner or not set(scenario.agent_nodes(owner[n])) <= wanted]
    scenario = edit(scenario, *(assign(node, *_PLACEHOLDER) for node in mixed))
    external = [i for i in range(len(scenario.agents)) if set(scenario.agent_nodes(i)) & wanted]
    return scenario, external


def _entry_param(scenario: Scenario, targets: Sequence[str], key: str) -> Any:
    for i, a in enumerate(scenario.agents):
        if key in a.params and set(scenario.agent_nodes(i)) & set(targets):
            return a.params[key]
    return None


def _max_periods(dist: Distribution) -> int:
    """An upper bound on a lead time in whole periods (mean + 3 sd for unbounded laws)."""
    if isinstance(dist, Constant):
        top = dist.value
    elif isinstance(dist, UniformInt | Uniform):
        top = dist.high
    elif isinstance(dist, Empirical):
        top = max(dist.values)
    else:
        top = dist.mean + 3.0 * math.sqrt(dist.variance)
    return max(0, math.ceil(top - 1e-9))


def node_info(scenario: Scenario, node: str) -> NodeInfo:
    """What an observation builder or action map may know about ``node`` before the run."""
    cfg = scenario.node_map[node]
    inbound = [ln for ln in scenario.lanes if ln.destination == node]
    if inbound:
        lanes = tuple(ln.id for ln in inbound)
        lead_times = tuple(_max_periods(ln.lead_time) for ln in inbound)
    else:
        lanes = tuple(scenario.ordering_lanes(node))
        lead_times = (_max_periods(cfg.production_lead_time),)
    return NodeInfo(node, cfg.tier_name, lanes, lead_times)


def to_space(spec: Mapping[str, Any]) -> spaces.Box | spaces.Discrete | spaces.MultiDiscrete:
    """A Gymnasium space from a plain spec of :mod:`agents.spaces`."""
    kind = spec["type"]
    if kind == "Box":
        return spaces.Box(
            low=np.asarray(spec["low"], np.float32),
            high=np.asarray(spec["high"], np.float32),
            dtype=np.float32,
        )
    if kind == "Discrete":
        return spaces.Discrete(int(spec["n"]))
    if kind == "MultiDiscrete":
        return spaces.MultiDiscrete(np.asarray(spec["nvec"], np.int64))
    raise ValueError(f"unsupported space spec {spec!r}")


# --------------------------------------------------------------------------------------------------
# The PettingZoo environment.


class TwinParallelEnv(ParallelEnv):
    """PettingZoo parallel environment over one scenario; see the module docstring."""

    metadata = {"name": "supply_twin_v0", "render_modes": [], "is_parallelizable": True}

    def __init__(
        self,
        scenario: str | Path | Scenario,
        *,
        targets: Any = None,
        observation: Any = None,
        action: Any = None,
        reward_scope: str | None = None,
    ) -> None:
        original = _load(scenario)
        self.targets = resolve_targets(original, targets)
        self.scenario, self._external = split_targets(original, self.targets)
        if reward_scope is None:
            reward_scope = original.reward.scope
        if reward_scope not in ("own", "team", "mix"):
            raise ValueError(f"reward_scope must be 'own', 'team' or 'mix', got {reward_scope!r}")
        self.reward_scope = reward_scope
        self.reward_weights = dict(original.reward.weights)
        check_weights(self.reward_weights)  # once: the steps use them as checked
        self.alpha = original.reward.alpha

        infos = {n: node_info(self.scenario, n) for n in self.targets}
        if observation is None:
            observation = _entry_param(original, self.targets, "observation") or (
                "liu" if original.timing == "liu" else "default"
            )
        if not isinstance(observation, ObservationBuilder):
            name, params = named(observation, what="observation")
            observation = observation_builder(name, **params)
        self.observation_builder: ObservationBuilder = observation.resolve(list(infos.values()))
        if action is None:
            action = _entry_param(original, self.targets, "action") or "integer"
        if not isinstance(action, ActionMap):
            name, params = named(action, what="action")
            action = action_map(name, **params)
        self.action_map: ActionMap = action

        self.possible_agents: list[str] = list(self.targets)
        self.agents: list[str] = []
        self.node_infos = infos
        obs_space = to_space(self.observation_builder.space())
        if not isinstance(obs_space, spaces.Box):
            raise ValueError(
                f"observation builder {self.observation_builder!r} must declare a Box, got {obs_space}"
            )
        self._observation_spaces = {a: obs_space for a in self.possible_agents}
        self._action_spaces = {
            a: to_space(self.action_map.space(infos[a].lanes)) for a in self.possible_agents
        }
        self.state_space = spaces.Box(
            low=np.tile(obs_space.low, len(self.possible_agents)),
            high=np.tile(obs_space.high, len(self.possible_agents)),
            dtype=np.float32,
        )
        self.featurizer = Featurizer(self.observation_builder)
        self.render_mode = None
        self.sim: Simulation | None = None
        self.replication: int | None = None
        self._next_replication = 0
        self._pending: dict[Any, Any] | None = None
        self._last_obs: dict[str, np.ndarray] = {}

    # -- spaces ---------------------------------------------------------------------------------

    def observation_space(self, agent: str) -> spaces.Space:
        # The same object on every call (PettingZoo's API test checks it: action spaces are
        # seeded through it).
        return self._observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Space:
        return self._action_spaces[agent]

    def spec(self) -> dict[str, Any]:
        """Observation builder and action map as plain data (for checkpoints' metadata)."""
        return {
            "observation": self.observation_builder.spec(),
            "action": self.action_map.spec(),
            "agents": {a: {"lanes": list(self.node_infos[a].lanes)} for a in self.possible_agents},
        }

    # -- episodes ---------------------------------------------------------------------------------

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict]:
        if seed is not None:
            if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
                raise ValueError(f"seed must be an integer >= 0 (the replication), got {seed!r}")
            replication = int(seed)
        else:
            replication = self._next_replication
        self._next_replication = replication + 1
        self.replication = replication
        self.sim = Simulation(
            self.scenario, replication=replication, agents={i: ExternalAgent() for i in self._external}
        )
        self.featurizer.reset()
        pending = self.sim.start()
        if pending is None:  # pragma: no cover - periods > 0 is validated
            raise TwinError(f"{self.scenario.name}: the run has no decision epoch")
        self._pending = pending
        self.agents = list(self.possible_agents)
        obs = self._observe(pending)
        period = next(iter(pending.values())).period
        infos = {a: {"period": period, "replication": replication} for a in self.agents}
        return obs, infos

    def _observe(self, observations: Mapping[Any, Any]) -> dict[str, np.ndarray]:
        out = {a: self.featurizer(observations[a]) for a in self.possible_agents}
        self._last_obs = out
        return out

    def step(
        self, actions: Mapping[str, Any]
    ) -> tuple[dict[str, np.ndarray], dict[str, float], dict[str, bool], dict[str, bool], dict]:
        sim, pending = self.sim, self._pending
        if sim is None or pending is None or not self.agents:
            raise TwinError("step() before reset(), or after the episode ended: call reset()")
        missing = [a for a in self.agents if a not in actions]
        if missing:
            raise ValueError(f"step() got no action for agent(s) {missing}")
        history = self.featurizer.history
        decisions = {
            a: self.action_map.decision(actions[a], pending[a], history(pending[a])) for a in self.agents
        }
        closing = sim.ledger.closed  # the period this step closes
        following = self._pending = sim.step(decisions)
        period = sim.ledger.period(closing)
        self.featurizer.record_rows(period)
        rewards = rewards_by_scope(
            {a: period_flows(period, a) for a in self.agents},
            self.reward_weights,
            self.reward_scope,
            self.alpha,
            checked=True,
        )
        done = following is None
        if following is None:  # the horizon: the state at the close of the last period
            node_map = sim.network.node_map
            following = {
                a: sim.observe_closed(node_map[NodeId(a)], self.scenario.periods) for a in self.agents
            }
        obs = self._observe(following)
        mine = {a: period.rows_of(a)[-1] for a in self.agents}
        infos = {
            a: {
                "period": closing,
                "replication": self.replication,
                "cost": mine[a].total_cost,
                "fill_rate": fill_rate([mine[a]]),
                "ledger": mine[a]._asdict(),
            }
            for a in self.agents
        }
        terminations = dict.fromkeys(self.agents, False)
        truncations = dict.fromkeys(self.agents, done)
        if done:
            self.agents = []
        return obs, rewards, terminations, truncations, infos

    def state(self) -> np.ndarray:
        """All agents' latest observations, concatenated in ``possible_agents`` order (CTDE)."""
        if not self._last_obs:
            raise TwinError("state() before reset()")
        return np.concatenate([self._last_obs[a] for a in self.possible_agents])

    def render(self) -> None:
        return None

    def close(self) -> None:
        self.sim = None


# --------------------------------------------------------------------------------------------------
# The Gymnasium view.


class TwinGymEnv(gymnasium.Env):
    """Gymnasium view of a :class:`TwinParallelEnv` (see the module docstring)."""

    metadata = {"render_modes": []}

    def __init__(self, parallel: TwinParallelEnv) -> None:
        self.parallel = parallel
        self.agents = list(parallel.possible_agents)
        act: list[Any] = [parallel.action_space(a) for a in self.agents]
        if len(self.agents) == 1:
            self.observation_space = parallel.observation_space(self.agents[0])
            self.action_space = act[0]
        else:
            self.observation_space = parallel.state_space
            if all(isinstance(s, spaces.Discrete | spaces.MultiDiscrete) for s in act):
                nvec = [
                    [int(s.n)] if isinstance(s, spaces.Discrete) else list(map(int, s.nvec)) for s in act
                ]
                self._widths = [len(v) for v in nvec]
                self.action_space = spaces.MultiDiscrete(np.asarray(sum(nvec, []), np.int64))
            elif all(isinstance(s, spaces.Box) for s in act):
                self._widths = [int(s.shape[0]) for s in act]
                self.action_space = spaces.Box(
                    low=np.concatenate([s.low.reshape(-1) for s in act]),
                    high=np.concatenate([s.high.reshape(-1) for s in act]),
                    dtype=np.float32,
                )
            else:
                raise ValueError(
                    "the learning nodes mix discrete and continuous actions; a flat "
                    "Gymnasium view needs one kind (use parallel_env instead)"
                )
        self.render_mode = None

    def _actions(self, action: Any) -> dict[str, Any]:
        if len(self.agents) == 1:
            return {self.agents[0]: action}
        flat = np.asarray(action).reshape(-1)
        if flat.size != sum(self._widths):
            raise ValueError(
                f"action must have {sum(self._widths)} entries (nodes {self.agents}), got {action!r}"
            )
        out, start = {}, 0
        for agent, width, space in zip(
            self.agents, self._widths, (self.parallel.action_space(a) for a in self.agents), strict=True
        ):
            part = flat[start : start + width]
            out[agent] = int(part[0]) if isinstance(space, spaces.Discrete) else part
            start += width
        return out

    def _flat(self, obs: Mapping[str, np.ndarray]) -> np.ndarray:
        if len(self.agents) == 1:
            return obs[self.agents[0]]
        return np.concatenate([obs[a] for a in self.agents])

    def _info(self, infos: Mapping[str, dict]) -> dict[str, Any]:
        first = infos[self.agents[0]]
        info: dict[str, Any] = {"period": first["period"], "replication": first["replication"]}
        if len(self.agents) == 1:
            info.update(first)
        info["nodes"] = dict(infos)
        return info

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        obs, infos = self.parallel.reset(seed=seed, options=options)
        return self._flat(obs), self._info(infos)

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        obs, rewards, terminations, truncations, infos = self.parallel.step(self._actions(action))
        reward = math.fsum(rewards[a] for a in self.agents)
        return (
            self._flat(obs),
            float(reward),
            any(terminations.values()),
            any(truncations.values()),
            self._info(infos),
        )

    def close(self) -> None:
        self.parallel.close()
