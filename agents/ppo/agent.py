"""The ``ppo`` agent: a trained policy deciding orders in the twin, like any rule agent.

``PPOAgent(checkpoint="runs/train/policy.pt")`` loads a checkpoint (:mod:`agents.ppo.checkpoint`,
``torch.load(weights_only=True)``) and rebuilds, from its metadata, the observation builder and the
action map of training (:mod:`agents.spaces`, the same objects the environment used), the
observation normaliser and the actor of each policy. At each decision epoch it builds every node's
observation vector exactly as the environment did (a :class:`~agents.spaces.Featurizer` with the
node's history; the twin hands it each period's ledger rows through ``observe_ledger``), normalises
it, and acts with the policy of the node: the mode of the action distribution by default (argmax,
or the Gaussian mean clipped to the action box), a sample with ``stochastic=True`` (seeded by
``reset(seed=...)``). A policy trained with ``agent_id`` also reads the one-hot of the node's place
in its group; a recurrent policy keeps each node's memory from one decision epoch to the next and
forgets it at ``reset`` (a new replication), as training did over an episode. The agent gives
torch one thread unless ``OMP_NUM_THREADS`` says otherwise (:func:`~agents.ppo.network.set_num_threads`):
a deployed policy is small, and a run must not take every core.

Mismatches are ``ValueError`` naming both sides: an ``observation``/``action`` param that
disagrees with the checkpoint, a node the checkpoint was not trained for (``strict``), a node whose
ordering lanes differ from training, an observation vector of another length.

Without a checkpoint the agent acts with a small randomly initialised network (``init_seed``) of
the given ``observation`` builder and ``action`` map, the untrained baseline of a learning curve.
A scenario must ask for it with ``untrained: true`` (scenario validation,
:func:`agents.registry.check_checkpoint`: a scenario that merely forgot its checkpoint would
otherwise run a random policy); in an RL environment or a training run, entries without a
checkpoint name the learners and need no flag (:func:`twin.rl.env.learners_untrained`).

Scenario use::

    agents:
      - {tier: store, kind: ppo, params: {checkpoint: runs/hmarl/policy.pt}}

or ``python -m twin.run scenarios/hmarl_3store.yaml --agent store=ppo:checkpoint=DIR/policy.pt``.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from agents.base import Agent, Observation, OrderDecision
from agents.named import named
from agents.ppo.checkpoint import load_checkpoint
from agents.ppo.network import ActorCritic, RunningMeanStd, check_spec, env_action, set_num_threads
from agents.registry import check_checkpoint
from agents.spaces import ActionMap, Featurizer, ObservationBuilder, action_map, observation_builder
from entities.messages import NodeId


def _same_spec(given: Mapping[str, Any], trained: Mapping[str, Any]) -> bool:
    """Does a builder/map given as a param agree with the checkpoint's (unset params agree)?"""
    if given["name"] != trained["name"]:
        return False
    theirs = trained.get("params", {})
    return all(
        v is None
        or theirs.get(k) == v
        or (isinstance(v, list | tuple) and list(v) == list(theirs.get(k) or []))
        for k, v in given["params"].items()
    )


class _Policy:
    """The actor of one policy, its observation normaliser and the nodes it decides for
    (``agent_id``: the actor also reads the one-hot of the node's place among ``nodes``)."""

    def __init__(
        self,
        network: ActorCritic,
        rms: RunningMeanStd | None,
        nodes: Sequence[str] | None,
        *,
        agent_id: bool = False,
    ) -> None:
        self.network, self.rms = network, rms
        self.nodes = None if nodes is None else list(nodes)
        self.agent_id = agent_id and self.nodes is not None
        self.obs_dim = network.obs_dim - (len(self.nodes or []) if self.agent_id else 0)
        """Values of the observation builder's vector (the network reads the one-hot too)."""
        self.spec = network.action_spec

    def inputs(self, nodes: Sequence[str], x: np.ndarray) -> np.ndarray:
        """The actor's input rows for ``nodes`` from their observation vectors ``x``."""
        if self.rms is not None:
            x = self.rms.normalize(x)
        if self.agent_id:
            assert self.nodes is not None
            eye = np.eye(len(self.nodes), dtype=np.float32)
            x = np.concatenate([x, eye[[self.nodes.index(n) for n in nodes]]], axis=1)
        return x.astype(np.float32)


class PPOAgent(Agent):
    """Decides orders with a trained (or, without a checkpoint, random) PPO policy."""

    algo = "ppo"
    #: Observe all of the agent's nodes at the opening of each decision epoch (after demand, before
    #: any level orders), as twin.rl.env shows them to learners: deployment sees what training saw.
    observes = "epoch_open"
    observes_ledger = True

    def __init__(
        self,
        *,
        checkpoint: str | None = None,
        observation: Any = None,
        action: Any = None,
        stochastic: bool = False,
        strict: bool = True,
        hidden_sizes: Sequence[int] = (64, 64),
        obs_dim: int | None = None,
        init_seed: int = 0,
        untrained: bool = False,
    ) -> None:
        check_checkpoint(self.algo, checkpoint, untrained, required=False)
        set_num_threads()
        if not isinstance(stochastic, bool) or not isinstance(strict, bool):
            raise ValueError(
                f"stochastic and strict must be true or false, got {stochastic!r}, {strict!r}"
            )
        if obs_dim is not None and (
            isinstance(obs_dim, bool) or not isinstance(obs_dim, int) or obs_dim < 1
        ):
            raise ValueError(f"obs_dim must be an integer >= 1, got {obs_dim!r}")
        if isinstance(init_seed, bool) or not isinstance(init_seed, int) or init_seed < 0:
            raise ValueError(f"init_seed must be an integer >= 0, got {init_seed!r}")
        self.checkpoint, self.stochastic, self.strict = checkpoint, stochastic, strict
        self.hidden_sizes = tuple(int(h) for h in hidden_sizes)
        self.obs_dim, self.init_seed = obs_dim, init_seed
        given_obs = named(observation, what="observation") if observation is not None else None
        given_act = named(action, what="action") if action is not None else None
        self.metadata: dict[str, Any] = {}
        self.policies: list[_Policy] = []
        self._policy_of: dict[str, _Policy] = {}
        self._lanes: dict[str, list[str]] = {}
        if checkpoint is not None:
            payload, self.metadata = load_checkpoint(checkpoint)
            self._check_algo(checkpoint)
            trained_obs, trained_act = self.metadata["observation"], self.metadata["action"]
            for what, given, trained in (
                ("observation", given_obs, trained_obs),
                ("action", given_act, trained_act),
            ):
                if given is not None and not _same_spec({"name": given[0], "params": given[1]}, trained):
                    raise ValueError(
                        f"checkpoint {checkpoint!r} was trained with {what} "
                        f"{trained}, but the agent was given {what} "
                        f"{{'name': {given[0]!r}, 'params': {given[1]}}}"
                    )
            self.builder: ObservationBuilder = observation_builder(
                trained_obs["name"], **trained_obs.get("params", {})
            )
            self.action_map: ActionMap = action_map(trained_act["name"], **trained_act.get("params", {}))
            self._load_policies(payload, checkpoint)
        else:
            name, params = given_obs or ("default", {})
            self.builder = observation_builder(name, **params)
            name, params = given_act or ("integer", {})
            self.action_map = action_map(name, **params)
        self.featurizer = Featurizer(self.builder)
        self.generator = torch.Generator()
        self._memory: dict[str, torch.Tensor] = {}
        self.reset(seed=None)

    # -- loading -----------------------------------------------------------------------------

    def _check_algo(self, checkpoint: str) -> None:
        algo = self.metadata.get("algo")
        if algo != self.algo:
            raise ValueError(
                f"checkpoint {checkpoint!r} holds a {algo!r} policy; use kind "
                f"{algo!r} for it, not {self.algo!r}"
            )

    def _load_policies(self, payload: Mapping[str, Any], checkpoint: str) -> None:
        policies = self.metadata.get("policies")
        if not isinstance(policies, list) or not policies:
            raise ValueError(f"checkpoint {checkpoint!r}: metadata lists no policies")
        state = payload["state_dict"]
        rms_states = payload.get("obs_rms") or {}
        for k, meta in enumerate(policies):
            with torch.random.fork_rng(devices=[]):  # building modules must not move torch's RNG
                network = ActorCritic(
                    int(meta["obs_dim"]),
                    check_spec(meta["action_space"]),
                    hidden_sizes=meta["hidden_sizes"],
                    critic=False,
                    recurrent_size=int(meta.get("recurrent_size") or 0),
                    activation=meta.get("activation", "tanh"),
                )
            prefix = f"{k}."
            actor = {
                name[len(prefix) :]: v
                for name, v in state.items()
                if name.startswith(prefix) and not name[len(prefix) :].startswith("critic")
            }
            try:
                network.load_state_dict(actor)
            except RuntimeError as exc:
                first = str(exc).strip().splitlines()[0]
                raise ValueError(
                    f"checkpoint {checkpoint!r}: policy {k} does not match its metadata ({first})"
                ) from None
            network.eval()
            rms = RunningMeanStd.from_state_dict(rms_states[str(k)]) if str(k) in rms_states else None
            policy = _Policy(network, rms, meta.get("nodes"), agent_id=bool(meta.get("agent_id")))
            self.policies.append(policy)
            for node in policy.nodes or []:
                self._policy_of[node] = policy
        self._lanes = {
            n: list(v.get("lanes", [])) for n, v in (self.metadata.get("agents") or {}).items()
        }

    # -- the agent protocol ------------------------------------------------------------------

    def validate_nodes(self, nodes: Sequence[str]) -> None:
        """With a checkpoint (and ``strict``), every node must be one the policy was trained for."""
        if not self.policies or not self.strict:
            return
        unknown = [n for n in nodes if n not in self._policy_of]
        if unknown:
            scenario = self.metadata.get("scenario", {})
            raise ValueError(
                f"checkpoint {self.checkpoint!r} was trained for nodes {sorted(self._policy_of)} "
                f"of scenario {scenario.get('name')!r} ({scenario.get('hash')}); it cannot decide "
                f"for {unknown}"
                + (
                    " (strict=false applies its one policy to any node)"
                    if len(self.policies) == 1
                    else ""
                )
            )

    def reset(self, *, seed: int | None = None) -> None:
        self.featurizer.reset()
        self._memory.clear()  # a recurrent policy starts each replication with an empty memory
        self.generator.manual_seed(0 if seed is None else int(seed))

    def observe_ledger(self, rows: Sequence[Any]) -> None:
        """The ledger of a closed period (the twin calls this; builders use recent rows of the
        agent's nodes and their upstream nodes, built on demand from the period's columns)."""
        self.featurizer.record_rows(rows)

    def act(self, observations: Mapping[NodeId, Observation]) -> dict[NodeId, OrderDecision]:
        batches: dict[int, list[tuple[NodeId, Observation, np.ndarray]]] = {}
        policies: dict[int, _Policy] = {}
        for node in sorted(observations):  # sorted: sampling does not depend on the dict order
            obs = observations[node]
            x = self.featurizer(obs)
            policy = self._policy_for(obs, x)
            self._check(policy, obs, x)
            batches.setdefault(id(policy), []).append((node, obs, x))
            policies[id(policy)] = policy
        decisions: dict[NodeId, OrderDecision] = {}
        for key, items in batches.items():
            policy = policies[key]
            nodes = [node for node, _, _ in items]
            inputs = torch.as_tensor(policy.inputs(nodes, np.stack([v for _, _, v in items])))
            network = policy.network
            state = None
            if network.recurrent_size:
                memory = [self._memory.get(n) for n in nodes]
                empty = network.initial_state(1)
                with torch.no_grad():
                    state = network.remember(
                        inputs, torch.cat([m if m is not None else empty for m in memory])
                    )
                for k, node in enumerate(nodes):
                    self._memory[node] = state[k : k + 1]
            with torch.no_grad():
                actions = network.sample(
                    inputs, deterministic=not self.stochastic, generator=self.generator, state=state
                ).numpy()
            for (node, obs, _), a in zip(items, actions, strict=True):
                decisions[node] = self.action_map.decision(
                    env_action(a, policy.spec), obs, self.featurizer.history(obs)
                )
        return decisions

    # -- helpers -----------------------------------------------------------------------------

    def _policy_for(self, obs: Observation, x: np.ndarray) -> _Policy:
        policy = self._policy_of.get(obs.node)
        if policy is not None:
            return policy
        if self.policies and self.strict:
            self.validate_nodes([obs.node])
        if self.policies and len(self.policies) == 1:
            return self.policies[0]
        if self.policies:
            raise ValueError(
                f"checkpoint {self.checkpoint!r} has {len(self.policies)} policies "
                f"and none for node {obs.node!r}"
            )
        return self._random_policy(obs, x)

    def _random_policy(self, obs: Observation, x: np.ndarray) -> _Policy:
        """No checkpoint: one randomly initialised network per action space (per node for
        HAPPO), drawn from ``init_seed`` only (not from torch's global random state)."""
        spec = self.action_map.space(obs.lanes)
        key = obs.node if self.algo == "happo" else repr(spec)
        policy = self._policy_of.get(key)
        if policy is None:
            seed = self.init_seed + (zlib.crc32(key.encode()) if self.algo == "happo" else 0)
            with torch.random.fork_rng(devices=[]):
                network = ActorCritic(
                    len(x),
                    spec,
                    hidden_sizes=self.hidden_sizes,
                    critic=False,
                    generator=torch.Generator().manual_seed(seed),
                )
            network.eval()
            policy = self._policy_of[key] = _Policy(network, None, None)
        return policy

    def _check(self, policy: _Policy, obs: Observation, x: np.ndarray) -> None:
        expected = self.obs_dim if self.obs_dim is not None else policy.obs_dim
        if x.shape != (expected,) or policy.obs_dim != x.shape[0]:
            raise ValueError(
                f"node {obs.node!r}: observation builder {self.builder!r} gives "
                f"{x.shape[0]} values, the policy expects {policy.obs_dim}"
                + (f" (obs_dim={self.obs_dim})" if self.obs_dim is not None else "")
            )
        lanes = self._lanes.get(obs.node)
        if lanes and list(obs.lanes) != lanes:
            raise ValueError(
                f"node {obs.node!r} orders on lanes {list(obs.lanes)}, but checkpoint "
                f"{self.checkpoint!r} was trained with lanes {lanes}"
            )
