"""Shared-policy PPO over a batched twin (Schulman et al. 2017; CleanRL's ``ppo.py``).

One policy decides for every agent (node) of the learning group, and the experience of all of
them is pooled into one batch (parameter sharing, as in the HMARL system's three stores). Read it
top to bottom: ``Args`` (hyper-parameters named as in the paper and CleanRL, most of them shared
with HAPPO in :mod:`agents.ppo.args`), then :meth:`PPOTrainer.collect_rollout` (act, step the
batched twin, store, then GAE) and :meth:`PPOTrainer.update` (clipped surrogate, clipped value
loss, entropy bonus). Sections marked ``# ALGO LOGIC`` are the algorithm; the rest is plumbing.

Everything is a tensor on the trainer's ``device``: the environment (:mod:`agents.ppo.vec`) hands
over observations ``(B, agents, obs_dim)``, and each policy acts for all its agents in all rows
in one forward pass; there is no loop over agents or rows. Several policy groups may share the
rollouts (``groups``): the joint fine-tuning phase of the HMARL guide trains them side by side,
each with its own optimiser and normaliser, and a phase may hold earlier phases' policies
``frozen`` (they act, deterministically, as they will when deployed, and are not trained).

Implementation details (Huang et al. 2022, "The 37 implementation details of PPO"): orthogonal
initialisation; Adam with eps 1e-5; linear learning-rate annealing; GAE; advantage normalisation
per minibatch; value clipping; global gradient clipping; observation normalisation by a running
mean and standard deviation (kept in the checkpoint); reward scaling by the running standard
deviation of the discounted return. Truncated episodes (the scenario's horizon) bootstrap the value
of their last observation (Pardo et al. 2018): the horizon is not a terminal state of the supply
chain.

With ``agent_id`` a shared policy reads, after its node's observation, a one-hot of the node's
place in the group (shared parameters that can still tell the nodes apart, as in MAPPO, Yu et al.
2022). With ``centralized_critic`` the critic reads the concatenated observations of all agents
plus a one-hot agent index (centralised training, decentralised execution, Lowe et al. 2017); the
actor still sees only its own node's observation, so the deployed policy stays decentralised.
With ``recurrent`` actor and critic keep a GRU memory across the decision epochs of an episode
(:class:`~agents.ppo.network.ActorCritic`); updates then replay each rollout's sequences from
their first memory (truncated backpropagation through time over ``num_steps`` epochs, as
CleanRL's ``ppo_atari_lstm``).

The entry point seeds torch (the only place that does, DESIGN.md "Randomness")::

    envs = make_vec(lambda: parallel_env("scenarios/hmarl_3store.yaml", targets="store",
                                         observation="hmarl", action="hmarl_multiples"), 4)
    trainer = PPOTrainer(envs, Args(seed=1))
    while trainer.global_step < trainer.args.total_timesteps:
        metrics = trainer.iteration()

``python -m twin.train`` wraps this with the vector twin, evaluation, checkpoints and phases.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn, optim

from agents.ppo.args import TrainerArgs
from agents.ppo.checkpoint import restore_run_state, run_state
from agents.ppo.network import (
    ActorCritic,
    TorchRunningMeanStd,
    action_width,
    set_num_threads,
)
from agents.ppo.vec import BatchedEnv

__all__ = ["Args", "PPOTrainer", "PolicyGroup", "set_num_threads"]


@dataclass
class Args(TrainerArgs):
    """PPO hyper-parameters: the shared ones (:class:`~agents.ppo.args.TrainerArgs`, CleanRL's
    defaults) and PPO's own. The batch follows the vector twin, which steps hundreds of rows at
    once: 256 rows x 64 epochs per rollout (CleanRL: 4 x 128), learnt from in 4 epochs of 32
    minibatches (CleanRL: 10 of 4), so that each sample feeds several small steps; ReLU hidden
    layers (torch's tanh is not vectorised on the CPUs measured, benchmarks/RESULTS.md)."""

    num_envs: int = 256
    """rows of the batched twin stepped at once"""
    num_steps: int = 64
    """decision epochs per row per rollout"""
    num_minibatches: int = 32
    """minibatches per epoch"""
    update_epochs: int = 4
    """passes over each rollout"""
    activation: str = "relu"
    """hidden-layer activation: relu or tanh (CleanRL's)"""
    target_kl: float | None = None
    """stop the epochs early when the approximate KL exceeds this"""
    centralized_critic: bool = False
    """critic input = all agents' observations + one-hot agent index (CTDE)"""
    agent_id: bool = False
    """a shared policy also reads a one-hot of the node's place in its group"""


PROBE_EVERY = 16
"""Iterations between two timings of the update with and without the critic's thread."""


def _second_core() -> bool:
    """Whether this process has a second core for the critic's half of each update: it may run
    on two CPUs or more, and it is not a worker of a process pool (``--seeds`` with ``--workers``
    trains one seed per core)."""
    affinity = getattr(os, "sched_getaffinity", None)
    cpus = len(affinity(0)) if affinity is not None else (os.cpu_count() or 1)
    return cpus > 1 and multiprocessing.parent_process() is None


class PolicyGroup:
    """One shared policy and the agents (nodes) it decides for, with its optimiser and its
    observation normaliser (on the trainer's device)."""

    def __init__(
        self,
        name: str,
        agents: list[str],
        index: list[int],
        obs_dim: int,
        action_spec: dict[str, Any],
        critic_dim: int,
        args: Args,
        device: torch.device,
        *,
        trainable: bool = True,
    ) -> None:
        self.name, self.agents, self.trainable = name, agents, trainable
        self.index = torch.as_tensor(index, device=device)
        self.index_list = list(index)
        self.raw_dim = obs_dim
        self.agent_id = bool(args.agent_id)
        self.obs_dim = obs_dim + (len(agents) if self.agent_id else 0)
        self.action_spec, self.critic_dim = action_spec, critic_dim
        self.width = action_width(action_spec)
        self.policy = ActorCritic(
            self.obs_dim,
            action_spec,
            hidden_sizes=args.hidden_sizes,
            critic_dim=critic_dim,
            recurrent_size=args.recurrent_size if args.recurrent else 0,
            init_std=args.init_action_std,
            activation=args.activation,
        ).to(device)
        self.parameters = list(self.policy.parameters())
        # Optimised: the fused Adam step (one kernel for all parameters, the same update rule),
        # several times faster than the per-tensor loop on the CPU.
        self.optimizer = optim.Adam(
            self.parameters, lr=args.learning_rate, eps=1e-5, fused=device.type in ("cpu", "cuda")
        )
        self.obs_rms = TorchRunningMeanStd(obs_dim, device=device)
        self.eye = torch.eye(len(agents), device=device)

    @property
    def size(self) -> int:
        return len(self.agents)

    def metadata(self, args: Args) -> dict[str, Any]:
        return {
            "name": self.name,
            "nodes": list(self.agents),
            "obs_dim": self.obs_dim,
            "action_space": self.action_spec,
            "hidden_sizes": list(args.hidden_sizes),
            "critic_dim": self.critic_dim,
            "centralized_critic": args.centralized_critic,
            "agent_id": self.agent_id,
            "recurrent_size": self.policy.recurrent_size,
            "activation": self.policy.activation,
        }


class PPOTrainer:
    """PPO on the batched twin ``envs``: one shared policy per group of agents.

    ``groups`` maps a group name to its agents (default: one group, every agent of ``envs``: the
    shared policy). ``frozen`` names groups that act but are not trained (load their policies
    with :meth:`load_policy`). ``device``: where the networks and rollouts live (default: the
    environment's). ``critic_thread``: compute the critic's half of each minibatch's gradient on a
    second thread while this one computes the actor's (default: on the CPU where the process has
    a second core and is not a pool worker, in the updates where timing says it pays); the numbers
    are the same either way.
    """

    algo = "ppo"

    def __init__(
        self,
        envs: BatchedEnv,
        args: Args,
        groups: Mapping[str, list[str]] | None = None,
        *,
        frozen: Collection[str] = (),
        device: Any = None,
        critic_thread: bool | None = None,
    ) -> None:
        set_num_threads()
        torch.manual_seed(args.seed)  # the trainer's entry point: the one place that seeds torch
        self.args, self.envs = args, envs
        self.device = torch.device(device) if device is not None else envs.device
        agents = list(envs.agents)
        self.agents = agents
        self.num_agents = len(agents)
        if groups is None:
            groups = {"shared": list(agents)}
        grouped = [a for members in groups.values() for a in members]
        if sorted(grouped) != sorted(agents):
            raise ValueError(f"groups {dict(groups)} must cover each agent {agents} exactly once")
        unknown = set(frozen) - set(groups)
        if unknown:
            raise ValueError(f"frozen groups {sorted(unknown)} are not groups ({list(groups)})")
        self.obs_dim = envs.obs_dim
        critic_dim = self.num_agents * self.obs_dim + self.num_agents
        widths = [action_width(envs.action_specs[a]) for a in agents]
        starts = np.cumsum([0, *widths[:-1]])
        self.groups: list[PolicyGroup] = []
        self._columns: list[torch.Tensor] = []
        for name, members in groups.items():
            specs = {repr(envs.action_specs[a]) for a in members}
            if len(specs) != 1:
                raise ValueError(
                    f"a shared policy needs one action space for all its agents; group {name!r} "
                    f"has {[envs.action_specs[a] for a in members]}"
                )
            index = [agents.index(a) for a in members]
            g = PolicyGroup(
                name,
                list(members),
                index,
                self.obs_dim,
                envs.action_specs[members[0]],
                critic_dim
                if args.centralized_critic
                else self.obs_dim + (len(members) if args.agent_id else 0),
                args,
                self.device,
                trainable=name not in frozen,
            )
            self.groups.append(g)
            cols = [int(starts[i]) + k for i in index for k in range(widths[i])]
            self._columns.append(torch.as_tensor(cols, device=self.device))
        self.width = int(sum(widths))
        self.agent_eye = torch.eye(self.num_agents, device=self.device)
        self.return_rms = TorchRunningMeanStd((), device=self.device)
        self.discounted_return = torch.zeros(
            envs.num_envs, self.num_agents, dtype=torch.float64, device=self.device
        )
        self.num_iterations = max(1, args.total_timesteps // (envs.num_envs * args.num_steps))
        self.global_step = 0
        self.iteration_count = 0
        self.sampler = torch.Generator().manual_seed(args.seed)
        """Draws the minibatch permutations (on the CPU: the same on every device)."""
        self.generator = torch.Generator(device=self.device).manual_seed(args.seed)
        """Draws the policies' actions in rollouts."""
        self.next_obs: torch.Tensor | None = None  # raw (B, agents, obs_dim)
        self.next_done = torch.zeros(envs.num_envs, device=self.device)
        self.memory: list[torch.Tensor] | None = None  # per group: (B * group agents, state)
        self.critic_thread = critic_thread
        """True, False, or None: by measurement (:meth:`_threaded`)."""
        self._pool = (
            ThreadPoolExecutor(1, thread_name_prefix="critic", initializer=set_num_threads)
            if critic_thread or (critic_thread is None and self.device.type == "cpu" and _second_core())
            else None
        )
        """Runs the critic's half of each feed-forward update (``critic_thread``)."""
        self._update_seconds: dict[bool, float] = {}
        self._faster = True

    # -- plumbing ----------------------------------------------------------------------------

    def _prepare(self, raw: torch.Tensor, *, update: bool) -> list[torch.Tensor]:
        """Per group, ``(B, group agents, obs_dim)`` actor inputs: normalised observations (and
        the one-hot of each node's place in its group with ``agent_id``)."""
        out = []
        for g in self.groups:
            x = raw.index_select(1, g.index)
            if self.args.norm_obs:
                if update and g.trainable:
                    g.obs_rms.update(x.reshape(-1, g.raw_dim))
                x = g.obs_rms.normalize(x)
            out.append(x)
        return out

    def _inputs(self, norm: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Per group, actor and critic inputs ``(B * group agents, dim)`` from normalised
        observations: with ``agent_id`` the actor reads a one-hot of the node's place in its
        group; the centralised critic reads every agent's observation in environment order and a
        one-hot of the agent."""
        rows = norm[0].shape[0]
        actor, critic = [], []
        joint = None
        if self.args.centralized_critic:
            by_agent = torch.empty(rows, self.num_agents, self.obs_dim, device=self.device)
            for g, x in zip(self.groups, norm, strict=True):
                by_agent[:, g.index] = x
            joint = by_agent.reshape(rows, 1, -1)
        for g, x in zip(self.groups, norm, strict=True):
            if g.agent_id:
                x = torch.cat([x, g.eye.expand(rows, g.size, g.size)], dim=2)
            actor.append(x.reshape(rows * g.size, -1))
            if joint is None:
                critic.append(actor[-1])
            else:
                eye = self.agent_eye.index_select(0, g.index).expand(rows, g.size, self.num_agents)
                c = torch.cat([joint.expand(rows, g.size, joint.shape[2]), eye], dim=2)
                critic.append(c.reshape(rows * g.size, -1))
        return actor, critic

    def _scale_rewards(self, rewards: torch.Tensor, done: torch.Tensor) -> torch.Tensor:
        if not self.args.norm_reward:
            return rewards
        self.discounted_return = self.discounted_return * self.args.gamma + rewards
        self.return_rms.update(self.discounted_return.reshape(-1))
        self.discounted_return[done] = 0.0
        return rewards / torch.sqrt(self.return_rms.var + 1e-8)

    def _initial_memory(self) -> list[torch.Tensor]:
        rows = self.envs.num_envs
        return [g.policy.initial_state(rows * g.size, self.device) for g in self.groups]

    def _reset_flags(self, g: PolicyGroup, done: torch.Tensor) -> torch.Tensor:
        return done.repeat_interleave(g.size)

    # -- rollout -----------------------------------------------------------------------------

    def collect_rollout(self) -> tuple[list[dict[str, torch.Tensor] | None], list[tuple[float, int]]]:
        """``num_steps`` decision epochs on every row with the current policies."""
        args, envs, device = self.args, self.envs, self.device
        T, B = args.num_steps, envs.num_envs
        if self.next_obs is None:
            self.next_obs = envs.reset()
            self.next_done = torch.ones(B, device=device)  # the memory starts empty
        if self.memory is None:
            self.memory = self._initial_memory()
        buffers: list[dict[str, torch.Tensor] | None] = []
        for g in self.groups:
            if not g.trainable:
                buffers.append(None)
                continue
            n = g.size
            buffers.append(
                {
                    "obs": torch.zeros(T, B * n, g.obs_dim, device=device),
                    "critic_obs": torch.zeros(T, B * n, g.policy.critic_dim, device=device)
                    if args.centralized_critic
                    else torch.zeros(0, device=device),
                    "actions": torch.zeros(T, B * n, g.width, device=device),
                    "logprobs": torch.zeros(T, B * n, device=device),
                    "values": torch.zeros(T, B * n, device=device),
                    "memory": self.memory[len(buffers)].clone(),
                }
            )
        rewards = torch.zeros(T, B, self.num_agents, device=device)
        dones = torch.zeros(T, B, device=device)
        values_all = torch.zeros(T, B, self.num_agents, device=device)
        episodes: list[tuple[float, int]] = []
        norm = self._prepare(self.next_obs, update=True)

        for step in range(T):
            self.global_step += B
            dones[step] = self.next_done
            actor_in, critic_in = self._inputs(norm)
            flat = torch.empty(B, self.width, device=device)
            # ALGO LOGIC: action logic (each group's shared policy acts for all its agents at once)
            with torch.no_grad():
                for k, (g, buf, x, c) in enumerate(
                    zip(self.groups, buffers, actor_in, critic_in, strict=True)
                ):
                    memory = g.policy.remember(
                        x, self.memory[k], c, reset=self._reset_flags(g, self.next_done)
                    )
                    self.memory[k] = memory
                    if buf is None:
                        action = g.policy.sample(x, deterministic=True, state=memory)
                    else:
                        action, logprob, _, value = g.policy.get_action_and_value(
                            x, critic_x=c, state=memory, generator=self.generator
                        )
                        buf["obs"][step] = x
                        if args.centralized_critic:
                            buf["critic_obs"][step] = c
                        buf["actions"][step] = action
                        buf["logprobs"][step] = logprob
                        buf["values"][step] = value
                        values_all[step][:, g.index] = value.reshape(B, g.size)
                    flat[:, self._columns[k]] = action.to(flat.dtype).reshape(B, -1)

            # Step every row (episodes that end start again at once, on new replications).
            result = envs.step(flat)
            scaled = self._scale_rewards(result.rewards.to(device, torch.float64), result.done)
            # ALGO LOGIC: a truncated episode (the horizon, not a terminal state of the supply
            # chain) bootstraps the value of its last observation into its last reward.
            if result.final_obs is not None and bool(result.truncated.any()):
                final = self._prepare(result.final_obs, update=False)
                scaled = scaled + args.gamma * self._final_values(final) * result.truncated.unsqueeze(1)
            rewards[step] = scaled.to(torch.float32)
            self.next_obs = result.obs
            self.next_done = result.done.to(torch.float32)
            norm = self._prepare(self.next_obs, update=True)
            episodes += result.episodes

        # ALGO LOGIC: bootstrap value, then generalised advantage estimation (Schulman et al. 2016)
        with torch.no_grad():
            next_value = self._next_values(norm)
            advantages = torch.zeros_like(rewards)
            lastgaelam = torch.zeros(B, self.num_agents, device=device)
            for t in reversed(range(T)):
                if t == T - 1:
                    nextnonterminal = 1.0 - self.next_done.unsqueeze(1)
                    nextvalues = next_value
                else:
                    nextnonterminal = 1.0 - dones[t + 1].unsqueeze(1)
                    nextvalues = values_all[t + 1]
                delta = rewards[t] + args.gamma * nextvalues * nextnonterminal - values_all[t]
                advantages[t] = lastgaelam = (
                    delta + args.gamma * args.gae_lambda * nextnonterminal * lastgaelam
                )
            returns = advantages + values_all

        # Pool the experience of every agent of a group (parameter sharing).
        for g, buf in zip(self.groups, buffers, strict=True):
            if buf is None:
                continue
            buf["advantages"] = advantages.index_select(2, g.index).reshape(T, -1)
            buf["returns"] = returns.index_select(2, g.index).reshape(T, -1)
            buf["dones"] = dones.repeat_interleave(g.size, dim=1)
        return buffers, episodes

    def _final_values(self, norm: list[torch.Tensor]) -> torch.Tensor:
        """Values ``(B, agents)`` of the last observations of the episodes that ended."""
        B = norm[0].shape[0]
        out = torch.zeros(B, self.num_agents, dtype=torch.float64, device=self.device)
        actor_in, critic_in = self._inputs(norm)
        assert self.memory is not None
        with torch.no_grad():
            for k, (g, x, c) in enumerate(zip(self.groups, actor_in, critic_in, strict=True)):
                if not g.trainable:
                    continue
                memory = g.policy.remember(x, self.memory[k], c)
                v = g.policy.get_value(c, memory).reshape(B, g.size)
                out[:, g.index] = v.to(torch.float64)
        return out

    def _next_values(self, norm: list[torch.Tensor]) -> torch.Tensor:
        """Values ``(B, agents)`` of the observations the next rollout starts from."""
        B = norm[0].shape[0]
        out = torch.zeros(B, self.num_agents, device=self.device)
        actor_in, critic_in = self._inputs(norm)
        assert self.memory is not None
        for k, (g, x, c) in enumerate(zip(self.groups, actor_in, critic_in, strict=True)):
            if not g.trainable:
                continue
            memory = g.policy.remember(x, self.memory[k], c, reset=self._reset_flags(g, self.next_done))
            out[:, g.index] = g.policy.get_value(c, memory).reshape(B, g.size)
        return out

    # -- update ------------------------------------------------------------------------------

    def _replay(
        self, g: PolicyGroup, b: Mapping[str, torch.Tensor], mb: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(logprob, entropy, value, rows)`` of the recurrent minibatch ``mb``: sequence indices
        into the ``B * agents`` columns of the rollout, replayed from its first memory; ``rows``
        are their samples' indices into the flattened ``(T * B * agents)`` batch."""
        T = b["obs"].shape[0]
        critic = b["critic_obs"] if self.args.centralized_critic else b["obs"]
        memory = b["memory"][mb]
        states = []
        for t in range(T):
            memory = g.policy.remember(b["obs"][t, mb], memory, critic[t, mb], reset=b["dones"][t, mb])
            states.append(memory)
        state = torch.stack(states).reshape(T * len(mb), -1)
        obs = b["obs"][:, mb].reshape(T * len(mb), -1)
        logprob, entropy = g.policy.log_prob_entropy(
            obs, b["actions"][:, mb].reshape(T * len(mb), -1), state
        )
        value = g.policy.get_value(critic[:, mb].reshape(T * len(mb), -1), state)
        columns = b["obs"].shape[1]
        rows = (torch.arange(T, device=self.device).unsqueeze(1) * columns + mb.unsqueeze(0)).reshape(-1)
        return logprob, entropy, value, rows

    def _policy_loss(
        self, mb: Mapping[str, torch.Tensor], newlogprob: torch.Tensor, entropy: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(pg_loss, entropy_loss, ratio, logratio)`` of a minibatch: the clipped surrogate."""
        args = self.args
        logratio = newlogprob - mb["logprobs"]
        ratio = logratio.exp()
        mb_advantages = mb["advantages"]
        if args.norm_adv and len(mb_advantages) > 1:
            mb_advantages = (mb_advantages - mb_advantages.mean()) / (mb_advantages.std() + 1e-8)
        # ALGO LOGIC: clipped surrogate policy loss
        pg_loss1 = -mb_advantages * ratio
        pg_loss2 = -mb_advantages * torch.clamp(ratio, 1 - args.clip_coef, 1 + args.clip_coef)
        return torch.max(pg_loss1, pg_loss2).mean(), entropy.mean(), ratio, logratio

    def _value_loss(self, mb: Mapping[str, torch.Tensor], newvalue: torch.Tensor) -> torch.Tensor:
        """The value loss of a minibatch, clipped around the rollout's values."""
        args = self.args
        # ALGO LOGIC: value loss, clipped around the rollout's values
        newvalue = newvalue.view(-1)
        returns, old_values = mb["returns"], mb["values"]
        if args.clip_vloss:
            v_loss_unclipped = (newvalue - returns) ** 2
            v_clipped = old_values + torch.clamp(newvalue - old_values, -args.clip_coef, args.clip_coef)
            v_loss_clipped = (v_clipped - returns) ** 2
            return 0.5 * torch.max(v_loss_unclipped, v_loss_clipped).mean()
        return 0.5 * ((newvalue - returns) ** 2).mean()

    def _critic_step(self, g: PolicyGroup, mb: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The value loss of a feed-forward minibatch, its gradient accumulated in the critic."""
        v_loss = self._value_loss(mb, g.policy.get_value(mb["critic"]))
        (v_loss * self.args.vf_coef).backward()
        return v_loss

    def update(self, g: PolicyGroup, b: dict[str, torch.Tensor]) -> dict[str, float]:
        """``update_epochs`` passes of minibatch Adam on the clipped PPO objective of group ``g``."""
        args = self.args
        recurrent = bool(g.policy.recurrent_size)
        T, columns = b["obs"].shape[0], b["obs"].shape[1]
        count = columns if recurrent else T * columns
        minibatch_size = max(1, count // args.num_minibatches)
        flat = {k: b[k].reshape(-1) for k in ("logprobs", "advantages", "returns", "values")}
        samples = flat
        if not recurrent:
            critic = b["critic_obs"] if args.centralized_critic else b["obs"]
            samples = {
                "obs": b["obs"].reshape(count, -1),
                "actions": b["actions"].reshape(count, -1),
                "critic": critic.reshape(count, -1),
                **flat,
            }
        threaded = self._threaded()
        clipfracs: list[torch.Tensor] = []
        approx_kl = old_approx_kl = pg_loss = v_loss = entropy_loss = torch.tensor(0.0)
        for _epoch in range(args.update_epochs):
            b_inds = torch.randperm(count, generator=self.sampler).to(self.device)
            if not recurrent:
                # Optimised: one gather per epoch, then each minibatch is a slice (the same samples in
                # the same order as indexing every column by the minibatch's indices).
                shuffled = {k: v.index_select(0, b_inds) for k, v in samples.items()}
            for start in range(0, count, minibatch_size):
                g.optimizer.zero_grad()
                if recurrent:
                    newlogprob, entropy, newvalue, rows = self._replay(
                        g, b, b_inds[start : start + minibatch_size]
                    )
                    mb = {k: v[rows] for k, v in flat.items()}
                    v_loss = self._value_loss(mb, newvalue)
                    pg_loss, entropy_loss, ratio, logratio = self._policy_loss(mb, newlogprob, entropy)
                    loss = pg_loss - args.ent_coef * entropy_loss + v_loss * args.vf_coef
                    loss.backward()
                else:
                    mb = {k: v[start : start + minibatch_size] for k, v in shuffled.items()}
                    # Optimised: actor and critic are separate networks, so the loss's two parts
                    # have disjoint gradients; the critic's is computed on a second thread (the
                    # second core) while this one computes the actor's.
                    critic_job = (
                        self._pool.submit(self._critic_step, g, mb) if threaded and self._pool else None
                    )
                    newlogprob, entropy = g.policy.log_prob_entropy(mb["obs"], mb["actions"])
                    pg_loss, entropy_loss, ratio, logratio = self._policy_loss(mb, newlogprob, entropy)
                    (pg_loss - args.ent_coef * entropy_loss).backward()
                    v_loss = critic_job.result() if critic_job else self._critic_step(g, mb)
                with torch.no_grad():
                    clipfracs.append(((ratio - 1.0).abs() > args.clip_coef).float().mean())
                    if start + minibatch_size >= count:  # the epoch's last minibatch: its KL is reported
                        # http://joschu.net/blog/kl-approx.html
                        old_approx_kl = (-logratio).mean()
                        approx_kl = ((ratio - 1) - logratio).mean()
                nn.utils.clip_grad_norm_(g.parameters, args.max_grad_norm)
                g.optimizer.step()

            if args.target_kl is not None and approx_kl > args.target_kl:
                break

        y_pred, y_true = flat["values"], flat["returns"]
        var_y = torch.var(y_true, unbiased=False)
        explained_var = (
            float("nan") if var_y == 0 else float(1 - torch.var(y_true - y_pred, unbiased=False) / var_y)
        )
        return {
            "learning_rate": g.optimizer.param_groups[0]["lr"],
            "value_loss": v_loss.item(),
            "policy_loss": pg_loss.item(),
            "entropy": entropy_loss.item(),
            "old_approx_kl": old_approx_kl.item(),
            "approx_kl": approx_kl.item(),
            "clipfrac": float(torch.stack(clipfracs).mean()) if clipfracs else 0.0,
            "explained_variance": explained_var,
        }

    def _threaded(self) -> bool:
        """Whether this iteration's update puts the critic on the second thread: as asked
        (``critic_thread``), else as measured. A thread pays only where a core is free for it
        (it costs 10-20 % where other jobs keep both cores busy), so every ``PROBE_EVERY``
        iterations one update is timed with it and the next without, and the faster way is kept
        until the next pair. Both ways give the same numbers; only the time differs."""
        if self._pool is None:
            return False
        if self.critic_thread is not None:
            return self.critic_thread
        phase = self.iteration_count % PROBE_EVERY
        return phase == 1 if phase in (1, 2) else self._faster

    def _timed(self, seconds: float) -> None:
        """Record the update's time on a probing iteration (:meth:`_threaded`)."""
        if self._pool is None or self.critic_thread is not None:
            return
        phase = self.iteration_count % PROBE_EVERY
        if phase in (1, 2):
            self._update_seconds[phase == 1] = seconds
        if phase == 2:
            self._faster = self._update_seconds[True] < self._update_seconds[False]

    def iteration(self) -> dict[str, float]:
        """Anneal the learning rate, collect one rollout, update every trained group; return
        metrics (averaged over groups)."""
        start = time.perf_counter()
        if self.args.anneal_lr:
            frac = max(0.0, 1.0 - self.iteration_count / self.num_iterations)
            for g in self.groups:
                g.optimizer.param_groups[0]["lr"] = frac * self.args.learning_rate
        rollout_start = time.perf_counter()
        batches, episodes = self.collect_rollout()
        rollout_seconds = time.perf_counter() - rollout_start
        update_start = time.perf_counter()
        per_group = [
            self.update(g, b) for g, b in zip(self.groups, batches, strict=True) if b is not None
        ]
        self._timed(time.perf_counter() - update_start)
        metrics = (
            {k: float(np.mean([m[k] for m in per_group])) for k in per_group[0]} if per_group else {}
        )
        self.iteration_count += 1
        metrics.update(
            global_step=self.global_step,
            iteration=self.iteration_count,
            episodes=len(episodes),
            episode_return=float(np.mean([r for r, _ in episodes])) if episodes else float("nan"),
            rollout_seconds=rollout_seconds,
            seconds=time.perf_counter() - start,
        )
        return metrics

    # -- acting (evaluation) -----------------------------------------------------------------

    def act(
        self, obs: torch.Tensor, memory: list[torch.Tensor] | None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Deterministic actions ``(B, width)`` of the current policies (the mode of each; the
        normalisers are not updated) for observations ``(B, agents, obs_dim)``, and the memory
        after them (None at the start of an episode): for evaluation."""
        obs = obs.to(self.device)
        B = obs.shape[0]
        norm = self._prepare(obs, update=False)
        actor_in, critic_in = self._inputs(norm)
        if memory is None:
            memory = [g.policy.initial_state(B * g.size, self.device) for g in self.groups]
        flat = torch.empty(B, self.width, device=self.device)
        out = []
        with torch.no_grad():
            for k, (g, x, c) in enumerate(zip(self.groups, actor_in, critic_in, strict=True)):
                state = g.policy.remember(x, memory[k], c)
                out.append(state)
                action = g.policy.sample(x, deterministic=True, state=state)
                flat[:, self._columns[k]] = action.to(flat.dtype).reshape(B, -1)
        return flat, out

    # -- checkpoints -------------------------------------------------------------------------

    def policy_state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any], list[dict[str, Any]]]:
        """``(state_dict, obs_rms, policies)`` for a checkpoint: parameters keyed
        ``"<k>.<name>"`` for the ``k``-th policy, its normaliser under ``"<k>"``, and each
        policy's metadata (nodes, sizes, action space)."""
        state: dict[str, torch.Tensor] = {}
        rms: dict[str, Any] = {}
        for k, g in enumerate(self.groups):
            state.update({f"{k}.{name}": v.detach().cpu() for name, v in g.policy.state_dict().items()})
            if self.args.norm_obs:
                rms[str(k)] = g.obs_rms.state_dict()
        return state, rms, [g.metadata(self.args) for g in self.groups]

    def load_policy(
        self,
        group: str,
        state_dict: Mapping[str, torch.Tensor],
        obs_rms: Mapping[str, Any] | None = None,
    ) -> None:
        """Start ``group`` from a trained policy (fine-tuning, or a frozen group). The critic is
        kept as built when its input size differs (e.g. a centralised critic now sees more
        agents)."""
        g = next((g for g in self.groups if g.name == group), None)
        if g is None:
            raise ValueError(f"no policy group {group!r} (groups: {[g.name for g in self.groups]})")
        own = g.policy.state_dict()
        compatible = {
            k: v.to(self.device) for k, v in state_dict.items() if k in own and own[k].shape == v.shape
        }
        missing_actor = [k for k in own if k.startswith("actor") and k not in compatible]
        if missing_actor:
            raise ValueError(
                f"group {group!r}: the trained actor does not fit this network "
                f"(parameters {missing_actor[:3]} differ in shape or are missing)"
            )
        g.policy.load_state_dict({**own, **compatible})
        if obs_rms:
            g.obs_rms = TorchRunningMeanStd.from_state_dict(obs_rms, self.device)

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume training exactly where it is: networks, optimisers,
        normalisers, counters, random states, the environment's rows and the policies' memory."""
        return {
            "groups": [
                {
                    "policy": {k: v.cpu() for k, v in g.policy.state_dict().items()},
                    "optimizer": g.optimizer.state_dict(),
                    "obs_rms": g.obs_rms.state_dict(),
                }
                for g in self.groups
            ],
            **run_state(self),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        device = self.device
        for g, s in zip(self.groups, state["groups"], strict=True):
            g.policy.load_state_dict({k: v.to(device) for k, v in s["policy"].items()})
            g.optimizer.load_state_dict(s["optimizer"])
            g.obs_rms = TorchRunningMeanStd.from_state_dict(s["obs_rms"], device)
        restore_run_state(self, state)
