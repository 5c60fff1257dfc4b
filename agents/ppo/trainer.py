"""Shared-policy PPO over a PettingZoo parallel twin (Schulman et al. 2017; CleanRL's ``ppo.py``).

One policy decides for every agent (node) of the learning group, and the experience of all of
them is pooled into one batch (parameter sharing, as in the HMARL system's three stores). Read it
top to bottom: ``Args`` (hyper-parameters named as in the paper and CleanRL, most of them shared
with HAPPO in :mod:`agents.ppo.args`), then :meth:`PPOTrainer.collect_rollout` (act, step the
vectorised twins, store, then GAE) and :meth:`PPOTrainer.update` (clipped surrogate, clipped
value loss, entropy bonus). Sections marked ``# ALGO LOGIC`` are the algorithm; the rest is
plumbing. Several policy groups may train side by side on the same rollouts (``groups``; the joint
fine-tuning phase of the HMARL guide), each group a shared policy with its own optimiser and
normaliser.

Implementation details (Huang et al. 2022, "The 37 implementation details of PPO"): orthogonal
initialisation; Adam with eps 1e-5; linear learning-rate annealing; GAE; advantage normalisation
per minibatch; value clipping; global gradient clipping; observation normalisation by a running
mean and standard deviation (kept in the checkpoint); reward scaling by the running standard
deviation of the discounted return. Truncated episodes (the scenario's horizon) bootstrap the value
of their last observation (Pardo et al. 2018): the horizon is not a terminal state of the supply
chain.

With ``centralized_critic`` the critic reads the concatenated observations of all agents of the
group plus a one-hot agent index (centralised training, decentralised execution, Lowe et al. 2017);
the actor still sees only its own node's observation, so the deployed policy stays decentralised.

The entry point seeds torch (the only place that does, DESIGN.md "Randomness")::

    envs = make_vec(lambda: parallel_env("scenarios/hmarl_3store.yaml", targets="store",
                                         observation="hmarl", action="hmarl_multiples"), 4)
    trainer = PPOTrainer(envs, Args(seed=1))
    while trainer.global_step < trainer.args.total_timesteps:
        metrics = trainer.iteration()

``python -m twin.train`` wraps this with evaluation, checkpoints, curves and phases.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn, optim

from agents.ppo.args import TrainerArgs
from agents.ppo.network import ActorCritic, RunningMeanStd, action_width, env_action
from agents.ppo.vec import VecParallelEnv


def set_num_threads() -> None:
    """One torch thread unless OMP_NUM_THREADS says otherwise (two threads on two cores made
    batched inference 87x slower here, DESIGN.md "Scale")."""
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1") or 1))


@dataclass
class Args(TrainerArgs):
    """PPO hyper-parameters: the shared ones (:class:`~agents.ppo.args.TrainerArgs`, CleanRL's
    defaults) and PPO's own."""

    target_kl: float | None = None
    """stop the epochs early when the approximate KL exceeds this"""
    centralized_critic: bool = False
    """critic input = all agents' observations + one-hot agent index (CTDE)"""


@dataclass
class RolloutStats:
    """What a rollout saw: finished episodes' mean per-agent return and length."""

    episode_returns: list[float] = field(default_factory=list)
    episode_lengths: list[int] = field(default_factory=list)


class PolicyGroup:
    """One shared policy and the agents (nodes) it decides for, with its optimiser and its
    observation normaliser."""

    def __init__(
        self,
        name: str,
        agents: list[str],
        index: list[int],
        obs_dim: int,
        action_spec: dict[str, Any],
        critic_dim: int,
        args: Args,
    ) -> None:
        self.name, self.agents, self.index = name, agents, index
        self.obs_dim, self.action_spec, self.critic_dim = obs_dim, action_spec, critic_dim
        self.policy = ActorCritic(
            obs_dim, action_spec, hidden_sizes=args.hidden_sizes, critic_dim=critic_dim
        )
        self.optimizer = optim.Adam(self.policy.parameters(), lr=args.learning_rate, eps=1e-5)
        self.obs_rms = RunningMeanStd(obs_dim)

    def metadata(self, args: Args) -> dict[str, Any]:
        return {
            "name": self.name,
            "nodes": list(self.agents),
            "obs_dim": self.obs_dim,
            "action_space": self.action_spec,
            "hidden_sizes": list(args.hidden_sizes),
            "critic_dim": self.critic_dim,
            "centralized_critic": args.centralized_critic,
        }


class PPOTrainer:
    """PPO on the vectorised twins ``envs``: one shared policy per group of agents.

    ``groups`` maps a group name to its agents (default: one group, every agent of ``envs``: the
    shared policy). Several groups train side by side on the same rollouts (phase 4 of the HMARL
    guide: stores, warehouse and supplier fine-tuned jointly, each with its own policy).
    """

    algo = "ppo"

    def __init__(
        self, envs: VecParallelEnv, args: Args, groups: Mapping[str, list[str]] | None = None
    ) -> None:
        set_num_threads()
        torch.manual_seed(args.seed)  # the trainer's entry point: the one place that seeds torch
        self.args, self.envs = args, envs
        agents = envs.agents
        self.num_agents = len(agents)
        if groups is None:
            groups = {"shared": list(agents)}
        grouped = [a for members in groups.values() for a in members]
        if sorted(grouped) != sorted(agents):
            raise ValueError(f"groups {dict(groups)} must cover each agent {agents} exactly once")
        total_obs = sum(envs.obs_dims[a] for a in agents)
        self.groups: list[PolicyGroup] = []
        for name, members in groups.items():
            dims = {envs.obs_dims[a] for a in members}
            specs = {repr(envs.action_specs[a]) for a in members}
            if len(dims) != 1 or len(specs) != 1:
                raise ValueError(
                    f"a shared policy needs one observation size and one action space for all "
                    f"its agents; group {name!r} has {[envs.obs_dims[a] for a in members]} and "
                    f"{[envs.action_specs[a] for a in members]}"
                )
            obs_dim = dims.pop()
            critic_dim = total_obs + self.num_agents if args.centralized_critic else obs_dim
            self.groups.append(
                PolicyGroup(
                    name,
                    list(members),
                    [agents.index(a) for a in members],
                    obs_dim,
                    envs.action_specs[members[0]],
                    critic_dim,
                    args,
                )
            )
        self.return_rms = RunningMeanStd(())
        self.discounted_return = np.zeros((envs.num_envs, self.num_agents))
        self.num_iterations = max(1, args.total_timesteps // (args.num_envs * args.num_steps))
        self.global_step = 0
        self.iteration_count = 0
        self.sampler = torch.Generator().manual_seed(args.seed)
        self.next_norm: list[np.ndarray] | None = None  # per group: (envs, agents, obs_dim)
        self.next_done = np.zeros(envs.num_envs, np.float32)

    # -- plumbing ----------------------------------------------------------------------------

    def _normalize(self, obs: Mapping[str, np.ndarray], *, update: bool) -> list[np.ndarray]:
        """Per group, ``(envs, group agents, obs_dim)`` observations, normalised."""
        out = []
        for g in self.groups:
            raw = np.stack(
                [np.asarray(obs[a], np.float32).reshape(-1, g.obs_dim) for a in g.agents], axis=1
            )
            if self.args.norm_obs:
                if update:
                    g.obs_rms.update(raw.reshape(-1, g.obs_dim))
                raw = g.obs_rms.normalize(raw)
            out.append(raw)
        return out

    def _critic_inputs(self, norm: list[np.ndarray]) -> list[np.ndarray]:
        """Per group, ``(envs, group agents, critic_dim)``: the agent's own observation, or (CTDE)
        every agent's observation in environment order plus a one-hot index of the agent."""
        if not self.args.centralized_critic:
            return norm
        envs = norm[0].shape[0]
        by_agent: list[np.ndarray] = [np.empty(0)] * self.num_agents
        for g, x in zip(self.groups, norm, strict=True):
            for k, i in enumerate(g.index):
                by_agent[i] = x[:, k]
        joint = np.concatenate(by_agent, axis=1)  # (envs, total obs)
        eye = np.eye(self.num_agents, dtype=np.float32)
        return [
            np.concatenate(
                [
                    np.repeat(joint[:, None], len(g.index), axis=1),
                    np.broadcast_to(eye[g.index], (envs, len(g.index), self.num_agents)),
                ],
                axis=2,
            )
            for g in self.groups
        ]

    def _scale_rewards(self, rewards: np.ndarray, done: np.ndarray) -> np.ndarray:
        if not self.args.norm_reward:
            return rewards
        self.discounted_return = self.discounted_return * self.args.gamma + rewards
        self.return_rms.update(self.discounted_return.reshape(-1))
        self.discounted_return[done] = 0.0
        return rewards / np.sqrt(self.return_rms.var + 1e-8)

    def _values(self, norm: list[np.ndarray]) -> np.ndarray:
        """(envs, agents) state values of every agent, in environment order."""
        values = np.zeros((norm[0].shape[0], self.num_agents), np.float32)
        with torch.no_grad():
            for g, c in zip(self.groups, self._critic_inputs(norm), strict=True):
                v = g.policy.get_value(torch.as_tensor(c).reshape(-1, g.critic_dim))
                values[:, g.index] = v.reshape(c.shape[0], len(g.index)).numpy()
        return values

    # -- rollout -----------------------------------------------------------------------------

    def collect_rollout(self) -> tuple[list[dict[str, torch.Tensor]], RolloutStats]:
        """``num_steps`` decision epochs on every twin with the current policies."""
        args, envs = self.args, self.envs
        T, E = args.num_steps, envs.num_envs
        buffers = []
        for g in self.groups:
            n = len(g.agents)
            buffers.append(
                {
                    "obs": torch.zeros(T, E, n, g.obs_dim),
                    "critic_obs": torch.zeros(T, E, n, g.critic_dim),
                    "actions": torch.zeros(T, E, n, action_width(g.action_spec)),
                    "logprobs": torch.zeros(T, E, n),
                    "values": torch.zeros(T, E, n),
                }
            )
        rewards = torch.zeros(T, E, self.num_agents)
        dones = torch.zeros(T, E, 1)
        stats = RolloutStats()
        if self.next_norm is None:
            self.next_norm = self._normalize(envs.reset(), update=True)

        for step in range(T):
            self.global_step += E
            dones[step] = torch.as_tensor(self.next_done).unsqueeze(1)
            per_agent: dict[str, np.ndarray] = {}
            # ALGO LOGIC: action logic (each group's shared policy acts for its agents)
            critic_in = self._critic_inputs(self.next_norm)
            for g, buf, x, c in zip(self.groups, buffers, self.next_norm, critic_in, strict=True):
                n = len(g.agents)
                buf["obs"][step] = torch.as_tensor(x)
                buf["critic_obs"][step] = torch.as_tensor(c)
                with torch.no_grad():
                    action, logprob, _, value = g.policy.get_action_and_value(
                        buf["obs"][step].reshape(E * n, -1),
                        critic_x=buf["critic_obs"][step].reshape(E * n, -1),
                    )
                action = action.reshape(E, n, -1)
                buf["actions"][step] = action.float()
                buf["logprobs"][step] = logprob.reshape(E, n)
                buf["values"][step] = value.reshape(E, n)
                per_agent.update({a: action[:, k].numpy() for k, a in enumerate(g.agents)})

            # Step the twins (an environment whose episode ends is reset on a new replication).
            next_obs, reward, terminated, truncated, final_obs, episodes = envs.step(per_agent)
            done = terminated | truncated
            scaled = self._scale_rewards(reward, done)
            # ALGO LOGIC: a truncated episode (the horizon, not a terminal state of the supply
            # chain) bootstraps the value of its last observation into its last reward.
            for i, last in final_obs.items():
                if truncated[i]:
                    last_norm = self._normalize({a: v[None] for a, v in last.items()}, update=False)
                    scaled[i] += args.gamma * self._values(last_norm)[0]
            rewards[step] = torch.as_tensor(scaled, dtype=torch.float32)
            self.next_norm = self._normalize(next_obs, update=True)
            self.next_done = done.astype(np.float32)
            stats.episode_returns += [ep["return"] for ep in episodes]
            stats.episode_lengths += [ep["length"] for ep in episodes]

        # ALGO LOGIC: bootstrap value, then generalised advantage estimation (Schulman et al. 2016)
        values = torch.zeros(T, E, self.num_agents)
        for g, buf in zip(self.groups, buffers, strict=True):
            values[:, :, g.index] = buf["values"]
        with torch.no_grad():
            next_value = torch.as_tensor(self._values(self.next_norm))
            next_done = torch.as_tensor(self.next_done).unsqueeze(1)
            advantages = torch.zeros_like(rewards)
            lastgaelam = torch.zeros(E, self.num_agents)
            for t in reversed(range(T)):
                if t == T - 1:
                    nextnonterminal = 1.0 - next_done
                    nextvalues = next_value
                else:
                    nextnonterminal = 1.0 - dones[t + 1]
                    nextvalues = values[t + 1]
                delta = rewards[t] + args.gamma * nextvalues * nextnonterminal - values[t]
                advantages[t] = lastgaelam = (
                    delta + args.gamma * args.gae_lambda * nextnonterminal * lastgaelam
                )
            returns = advantages + values

        # Pool the experience of every agent of a group (parameter sharing).
        batches = []
        for g, buf in zip(self.groups, buffers, strict=True):
            batches.append(
                {
                    "obs": buf["obs"].reshape(-1, g.obs_dim),
                    "critic_obs": buf["critic_obs"].reshape(-1, g.critic_dim),
                    "actions": buf["actions"].reshape(-1, action_width(g.action_spec)),
                    "logprobs": buf["logprobs"].reshape(-1),
                    "advantages": advantages[:, :, g.index].reshape(-1),
                    "returns": returns[:, :, g.index].reshape(-1),
                    "values": buf["values"].reshape(-1),
                }
            )
        return batches, stats

    # -- update ------------------------------------------------------------------------------

    def update(self, g: PolicyGroup, b: dict[str, torch.Tensor]) -> dict[str, float]:
        """``update_epochs`` passes of minibatch Adam on the clipped PPO objective of group ``g``."""
        args = self.args
        batch_size = b["obs"].shape[0]
        minibatch_size = max(1, batch_size // args.num_minibatches)
        clipfracs: list[float] = []
        approx_kl = old_approx_kl = pg_loss = v_loss = entropy_loss = torch.tensor(0.0)
        for _epoch in range(args.update_epochs):
            b_inds = torch.randperm(batch_size, generator=self.sampler)
            for start in range(0, batch_size, minibatch_size):
                mb = b_inds[start : start + minibatch_size]
                _, newlogprob, entropy, newvalue = g.policy.get_action_and_value(
                    b["obs"][mb], b["actions"][mb], critic_x=b["critic_obs"][mb]
                )
                logratio = newlogprob - b["logprobs"][mb]
                ratio = logratio.exp()
                with torch.no_grad():
                    # http://joschu.net/blog/kl-approx.html
                    old_approx_kl = (-logratio).mean()
                    approx_kl = ((ratio - 1) - logratio).mean()
                    clipfracs.append(((ratio - 1.0).abs() > args.clip_coef).float().mean().item())

                mb_advantages = b["advantages"][mb]
                if args.norm_adv and len(mb) > 1:
                    mb_advantages = (mb_advantages - mb_advantages.mean()) / (mb_advantages.std() + 1e-8)

                # ALGO LOGIC: clipped surrogate policy loss
                pg_loss1 = -mb_advantages * ratio
                pg_loss2 = -mb_advantages * torch.clamp(ratio, 1 - args.clip_coef, 1 + args.clip_coef)
                pg_loss = torch.max(pg_loss1, pg_loss2).mean()

                # ALGO LOGIC: value loss, clipped around the rollout's values
                newvalue = newvalue.view(-1)
                if args.clip_vloss:
                    v_loss_unclipped = (newvalue - b["returns"][mb]) ** 2
                    v_clipped = b["values"][mb] + torch.clamp(
                        newvalue - b["values"][mb], -args.clip_coef, args.clip_coef
                    )
                    v_loss_clipped = (v_clipped - b["returns"][mb]) ** 2
                    v_loss = 0.5 * torch.max(v_loss_unclipped, v_loss_clipped).mean()
                else:
                    v_loss = 0.5 * ((newvalue - b["returns"][mb]) ** 2).mean()

                entropy_loss = entropy.mean()
                loss = pg_loss - args.ent_coef * entropy_loss + v_loss * args.vf_coef

                g.optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(g.policy.parameters(), args.max_grad_norm)
                g.optimizer.step()

            if args.target_kl is not None and approx_kl > args.target_kl:
                break

        y_pred, y_true = b["values"].numpy(), b["returns"].numpy()
        var_y = np.var(y_true)
        explained_var = np.nan if var_y == 0 else 1 - np.var(y_true - y_pred) / var_y
        return {
            "learning_rate": g.optimizer.param_groups[0]["lr"],
            "value_loss": v_loss.item(),
            "policy_loss": pg_loss.item(),
            "entropy": entropy_loss.item(),
            "old_approx_kl": old_approx_kl.item(),
            "approx_kl": approx_kl.item(),
            "clipfrac": float(np.mean(clipfracs)),
            "explained_variance": float(explained_var),
        }

    def iteration(self) -> dict[str, float]:
        """Anneal the learning rate, collect one rollout, update every group; return metrics
        (averaged over groups)."""
        start = time.perf_counter()
        if self.args.anneal_lr:
            frac = max(0.0, 1.0 - self.iteration_count / self.num_iterations)
            for g in self.groups:
                g.optimizer.param_groups[0]["lr"] = frac * self.args.learning_rate
        batches, stats = self.collect_rollout()
        per_group = [self.update(g, b) for g, b in zip(self.groups, batches, strict=True)]
        metrics = {k: float(np.mean([m[k] for m in per_group])) for k in per_group[0]}
        self.iteration_count += 1
        metrics.update(
            global_step=self.global_step,
            iteration=self.iteration_count,
            episodes=len(stats.episode_returns),
            episode_return=float(np.mean(stats.episode_returns))
            if stats.episode_returns
            else float("nan"),
            seconds=time.perf_counter() - start,
        )
        return metrics

    def act_deterministic(self, obs: Mapping[str, Any]) -> dict[str, Any]:
        """Actions of the current policies for one environment's observations (the mode of each
        policy; observations normalised without updating the statistics): for evaluation."""
        norm = self._normalize({a: np.asarray(v)[None] for a, v in obs.items()}, update=False)
        out: dict[str, Any] = {}
        for g, x in zip(self.groups, norm, strict=True):
            with torch.no_grad():
                actions = g.policy.sample(torch.as_tensor(x[0]), deterministic=True).numpy()
            out.update({a: env_action(actions[k], g.action_spec) for k, a in enumerate(g.agents)})
        return out

    # -- checkpoints -------------------------------------------------------------------------

    def policy_state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any], list[dict[str, Any]]]:
        """``(state_dict, obs_rms, policies)`` for a checkpoint: parameters keyed
        ``"<k>.<name>"`` for the ``k``-th policy, its normaliser under ``"<k>"``, and each
        policy's metadata (nodes, sizes, action space)."""
        state: dict[str, torch.Tensor] = {}
        rms: dict[str, Any] = {}
        for k, g in enumerate(self.groups):
            state.update({f"{k}.{name}": v for name, v in g.policy.state_dict().items()})
            if self.args.norm_obs:
                rms[str(k)] = g.obs_rms.state_dict()
        return state, rms, [g.metadata(self.args) for g in self.groups]

    def load_policy(
        self,
        group: str,
        state_dict: Mapping[str, torch.Tensor],
        obs_rms: Mapping[str, Any] | None = None,
    ) -> None:
        """Start ``group`` from a trained policy (fine-tuning). The critic is kept as built when
        its input size differs (e.g. a centralised critic now sees more agents)."""
        g = next((g for g in self.groups if g.name == group), None)
        if g is None:
            raise ValueError(f"no policy group {group!r} (groups: {[g.name for g in self.groups]})")
        own = g.policy.state_dict()
        compatible = {k: v for k, v in state_dict.items() if k in own and own[k].shape == v.shape}
        missing_actor = [k for k in own if k.startswith("actor") and k not in compatible]
        if missing_actor:
            raise ValueError(
                f"group {group!r}: the trained actor does not fit this network "
                f"(parameters {missing_actor[:3]} differ in shape or are missing)"
            )
        g.policy.load_state_dict({**own, **compatible})
        if obs_rms:
            g.obs_rms = RunningMeanStd.from_state_dict(obs_rms)

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume training (environments restart on new episodes)."""
        return {
            "groups": [
                {
                    "policy": g.policy.state_dict(),
                    "optimizer": g.optimizer.state_dict(),
                    "obs_rms": g.obs_rms.state_dict(),
                }
                for g in self.groups
            ],
            "return_rms": self.return_rms.state_dict(),
            "global_step": self.global_step,
            "iteration": self.iteration_count,
            "next_replication": self.envs.next_replication,
            "torch_rng": torch.get_rng_state(),
            "sampler_rng": self.sampler.get_state(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        for g, s in zip(self.groups, state["groups"], strict=True):
            g.policy.load_state_dict(s["policy"])
            g.optimizer.load_state_dict(s["optimizer"])
            g.obs_rms = RunningMeanStd.from_state_dict(s["obs_rms"])
        self.return_rms = RunningMeanStd.from_state_dict(state["return_rms"])
        self.global_step = int(state["global_step"])
        self.iteration_count = int(state["iteration"])
        self.envs.next_replication = int(state["next_replication"])
        torch.set_rng_state(state["torch_rng"])
        self.sampler.set_state(state["sampler_rng"])
        self.next_norm = None  # resume on fresh episodes
