"""HAPPO: heterogeneous-agent PPO (Kuba et al., "Trust Region Policy Optimisation in Multi-Agent
Reinforcement Learning", ICLR 2022), the algorithm of Liu et al.'s multi-echelon inventory study.

Every agent (node) has its own actor, reading only its own observation; one centralised critic
reads all agents' observations (concatenated) and outputs one value per agent (its own return,
under the scenario's own / team / mixed reward). Each iteration:

1. collect a rollout on the batched twin (:mod:`agents.ppo.vec`; observations ``(B, agents,
   obs_dim)`` as tensors on the trainer's device); GAE per agent with its value head;
2. draw a random order of the agents (a permutation ``i_1 .. i_n``);
3. update the actors one after another in that order. Agent ``i_m`` maximises the clipped
   surrogate of its probability ratio ``r_m = pi_new(a | o) / pi_old(a | o)`` with its advantage
   weighted by the product of the ratios of the agents updated before it (Kuba et al. 2022,
   Algorithm 1, the multi-agent advantage decomposition)::

       M_m = prod_{j < m} r_{i_j}   (M_1 = 1; computed after agent i_j's update, held fixed)
       L_m = -E[ min(r_m * M_m * A, clip(r_m, 1 - eps, 1 + eps) * M_m * A) ]

4. update the critic (clipped value loss; Huber loss as in Liu et al.).

With ``recurrent`` each actor keeps a GRU memory over the epochs of an episode (the critic, which
sees every agent's observation, stays feed-forward); actor updates replay each rollout's
sequences from their first memory.

Hyper-parameter defaults follow Liu et al.'s published configuration (their README): learning
rate 1e-4 for actors and critic, gamma 0.95, GAE lambda 0.95, clip 0.2, 15 epochs, one minibatch,
entropy 0.01, two hidden layers of 128, Huber delta 10, 5 rollout threads x 200 steps.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
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
    mlp,
    set_num_threads,
)
from agents.ppo.vec import BatchedEnv


@dataclass
class Args(TrainerArgs):
    """HAPPO hyper-parameters: the shared ones (:class:`~agents.ppo.args.TrainerArgs`) with Liu et
    al.'s defaults where they differ from CleanRL's, and the critic's own. ``seed`` also seeds the
    update orders. Liu et al.'s names of the shared fields at their defaults: ``gae_lambda``
    (gae_lambda), ``clip_coef`` (clip_param), ``ent_coef`` (entropy_coef)."""

    total_timesteps: int = 1_000_000
    """decision epochs to simulate, summed over the rows of the batched twin"""
    learning_rate: float = 1e-4
    """actor Adam step size (Liu et al.: lr)"""
    num_envs: int = 5
    """rows of the batched twin (Liu et al.: n_rollout_threads)"""
    num_steps: int = 200
    """decision epochs per row per rollout (Liu et al.: episode_length)"""
    anneal_lr: bool = False
    """decay the learning rates linearly to 0 (Liu et al.: use_linear_lr_decay False)"""
    gamma: float = 0.95
    """discount factor"""
    num_minibatches: int = 1
    """minibatches per epoch (Liu et al.: num_mini_batch)"""
    update_epochs: int = 15
    """passes over each rollout per agent (Liu et al.: ppo_epoch)"""
    hidden_sizes: tuple[int, ...] = (128, 128)
    """hidden layers of every actor and of the critic (Liu et al.: hidden_size 128, layer_N 2)"""
    critic_learning_rate: float = 1e-4
    """critic Adam step size (Liu et al.: critic_lr)"""
    huber_delta: float | None = 10.0
    """Huber loss threshold of the value loss (None: squared error)"""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.critic_learning_rate <= 0:
            raise ValueError(f"critic_learning_rate must be > 0, got {self.critic_learning_rate}")


class CentralCritic(nn.Module):
    """V(s) for every agent: an MLP from the concatenated observations to one value per agent."""

    def __init__(
        self, state_dim: int, num_agents: int, hidden_sizes: Sequence[int], activation: str = "tanh"
    ) -> None:
        super().__init__()
        self.net = mlp(state_dim, hidden_sizes, num_agents, 1.0, activation=activation)

    def forward(self, state: torch.Tensor) -> torch.Tensor:
        return self.net(state)


def happo_policy_loss(
    ratio: torch.Tensor, factor: torch.Tensor, advantages: torch.Tensor, clip_coef: float
) -> torch.Tensor:
    """HAPPO's clipped surrogate (to minimise): ``-mean(min(r M A, clip(r) M A))``.

    ``factor`` M is the product of the probability ratios of the agents updated earlier in this
    iteration (a constant here).
    """
    surr1 = ratio * factor * advantages
    surr2 = torch.clamp(ratio, 1.0 - clip_coef, 1.0 + clip_coef) * factor * advantages
    return -torch.min(surr1, surr2).mean()


class HAPPOTrainer:
    """HAPPO on the batched twin ``envs``: one actor per agent, one centralised critic."""

    algo = "happo"

    def __init__(self, envs: BatchedEnv, args: Args, *, device: Any = None) -> None:
        set_num_threads()
        torch.manual_seed(args.seed)  # the trainer's entry point: the one place that seeds torch
        self.args, self.envs = args, envs
        self.device = torch.device(device) if device is not None else envs.device
        self.agents = list(envs.agents)
        self.num_agents = len(self.agents)
        self.obs_dim = envs.obs_dim
        self.obs_dims = [self.obs_dim] * self.num_agents
        self.action_specs = [envs.action_specs[a] for a in self.agents]
        self.widths = [action_width(s) for s in self.action_specs]
        starts = np.cumsum([0, *self.widths[:-1]])
        self._columns = [slice(int(s), int(s) + w) for s, w in zip(starts, self.widths, strict=True)]
        self.width = int(sum(self.widths))
        self.state_dim = self.obs_dim * self.num_agents
        recurrent = args.recurrent_size if args.recurrent else 0
        self.actors = [
            ActorCritic(
                self.obs_dim,
                spec,
                hidden_sizes=args.hidden_sizes,
                critic=False,
                recurrent_size=recurrent,
                init_std=args.init_action_std,
                activation=args.activation,
            ).to(self.device)
            for spec in self.action_specs
        ]
        self.critic = CentralCritic(
            self.state_dim, self.num_agents, args.hidden_sizes, args.activation
        ).to(self.device)
        self.actor_optimizers = [
            optim.Adam(a.parameters(), lr=args.learning_rate, eps=1e-5) for a in self.actors
        ]
        self.critic_optimizer = optim.Adam(
            self.critic.parameters(), lr=args.critic_learning_rate, eps=1e-5
        )
        self.obs_rms = TorchRunningMeanStd((self.num_agents, self.obs_dim), device=self.device)
        """Each agent's observation statistics (row ``i``: agent ``i``)."""
        self.return_rms = TorchRunningMeanStd((), device=self.device)
        self.discounted_return = torch.zeros(
            envs.num_envs, self.num_agents, dtype=torch.float64, device=self.device
        )
        self.batch_size = envs.num_envs * args.num_steps
        self.num_iterations = max(1, args.total_timesteps // (envs.num_envs * args.num_steps))
        self.global_step = 0
        self.iteration_count = 0
        self.sampler = torch.Generator().manual_seed(args.seed)
        self.generator = torch.Generator(device=self.device).manual_seed(args.seed)
        self.next_obs: torch.Tensor | None = None
        self.next_done = torch.zeros(envs.num_envs, device=self.device)
        self.memory: list[torch.Tensor] | None = None
        self.last_order: list[int] = []
        """Agent indices in the order of the last update (for inspection and tests)."""
        self.last_factors: dict[int, torch.Tensor] = {}
        """The factor M each agent's objective was weighted by in the last update."""

    # -- plumbing ----------------------------------------------------------------------------

    def _actor_modules(self) -> nn.ModuleList:
        """The actors as one module, for their state dict (parameters keyed ``"<k>.<name>"``)."""
        return nn.ModuleList(self.actors)

    def _normalize(self, raw: torch.Tensor, *, update: bool) -> torch.Tensor:
        if not self.args.norm_obs:
            return raw
        if update:
            self.obs_rms.update(raw)
        return self.obs_rms.normalize(raw)

    def _scale_rewards(self, rewards: torch.Tensor, done: torch.Tensor) -> torch.Tensor:
        if not self.args.norm_reward:
            return rewards
        self.discounted_return = self.discounted_return * self.args.gamma + rewards
        self.return_rms.update(self.discounted_return.reshape(-1))
        self.discounted_return[done] = 0.0
        return rewards / torch.sqrt(self.return_rms.var + 1e-8)

    def _initial_memory(self, rows: int) -> list[torch.Tensor]:
        return [a.initial_state(rows, self.device) for a in self.actors]

    # -- rollout -----------------------------------------------------------------------------

    def collect_rollout(self) -> tuple[dict[str, Any], list[tuple[float, int]]]:
        args, envs, device = self.args, self.envs, self.device
        T, B, N = args.num_steps, envs.num_envs, self.num_agents
        if self.next_obs is None:
            self.next_obs = envs.reset()
            self.next_done = torch.ones(B, device=device)
        if self.memory is None:
            self.memory = self._initial_memory(B)
        obs = torch.zeros(T, B, N, self.obs_dim, device=device)
        actions = [torch.zeros(T, B, w, device=device) for w in self.widths]
        logprobs = torch.zeros(T, B, N, device=device)
        rewards, values = torch.zeros(T, B, N, device=device), torch.zeros(T, B, N, device=device)
        dones = torch.zeros(T, B, device=device)
        first_memory = [m.clone() for m in self.memory]
        episodes: list[tuple[float, int]] = []
        norm = self._normalize(self.next_obs, update=True)

        for step in range(T):
            self.global_step += B
            dones[step] = self.next_done
            obs[step] = norm
            flat = torch.empty(B, self.width, device=device)
            # ALGO LOGIC: every agent acts on its own observation with its own actor
            with torch.no_grad():
                for i, actor in enumerate(self.actors):
                    x = norm[:, i]
                    self.memory[i] = actor.remember(x, self.memory[i], reset=self.next_done)
                    action = actor.sample(x, generator=self.generator, state=self.memory[i])
                    logprobs[step, :, i] = actor.log_prob_entropy(x, action, self.memory[i])[0]
                    actions[i][step] = action
                    flat[:, self._columns[i]] = action.to(flat.dtype)
                values[step] = self.critic(norm.reshape(B, -1))
            result = envs.step(flat)
            scaled = self._scale_rewards(result.rewards.to(device, torch.float64), result.done)
            if result.final_obs is not None and bool(result.truncated.any()):  # bootstrap the horizon
                last = self._normalize(result.final_obs, update=False)
                with torch.no_grad():
                    tail = self.critic(last.reshape(B, -1)).to(torch.float64)
                scaled = scaled + args.gamma * tail * result.truncated.unsqueeze(1)
            rewards[step] = scaled.to(torch.float32)
            self.next_obs = result.obs
            self.next_done = result.done.to(torch.float32)
            norm = self._normalize(self.next_obs, update=True)
            episodes += result.episodes

        # ALGO LOGIC: GAE per agent with its own head of the centralised critic
        with torch.no_grad():
            next_value = self.critic(norm.reshape(B, -1))
            next_done = self.next_done.unsqueeze(1)
            advantages = torch.zeros_like(rewards)
            lastgaelam = torch.zeros(B, N, device=device)
            for t in reversed(range(T)):
                if t == T - 1:
                    nextnonterminal, nextvalues = 1.0 - next_done, next_value
                else:
                    nextnonterminal, nextvalues = 1.0 - dones[t + 1].unsqueeze(1), values[t + 1]
                delta = rewards[t] + args.gamma * nextvalues * nextnonterminal - values[t]
                advantages[t] = lastgaelam = (
                    delta + args.gamma * args.gae_lambda * nextnonterminal * lastgaelam
                )
            returns = advantages + values
        batch = {
            "obs": [obs[:, :, i] for i in range(N)],  # each (T, B, obs_dim)
            "actions": actions,  # each (T, B, width)
            "logprobs": logprobs.reshape(T * B, N),
            "states": obs.reshape(T * B, -1),
            "advantages": advantages.reshape(T * B, N),
            "returns": returns.reshape(T * B, N),
            "values": values.reshape(T * B, N),
            "dones": dones,
            "memory": first_memory,
        }
        return batch, episodes

    # -- update ------------------------------------------------------------------------------

    def _log_prob_entropy(
        self, i: int, b: Mapping[str, Any], mb: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Agent ``i``'s log-probabilities and entropies of the rollout's actions, and the flat
        ``(T * B)`` sample indices they belong to: samples ``mb`` of the flattened batch, or
        (recurrent) rows ``mb`` replayed from the rollout's first memory (None: everything)."""
        actor = self.actors[i]
        obs, actions = b["obs"][i], b["actions"][i]
        T, B = obs.shape[0], obs.shape[1]
        if not actor.recurrent_size:
            x, a = obs.reshape(T * B, -1), actions.reshape(T * B, -1)
            if mb is None:
                mb = torch.arange(T * B, device=self.device)
            logprob, entropy = actor.log_prob_entropy(x[mb], a[mb])
            return logprob, entropy, mb
        rows = torch.arange(B, device=self.device) if mb is None else mb
        memory = b["memory"][i][rows]
        states = []
        for t in range(T):
            memory = actor.remember(obs[t, rows], memory, reset=b["dones"][t, rows])
            states.append(memory)
        state = torch.stack(states).reshape(T * len(rows), -1)
        logprob, entropy = actor.log_prob_entropy(
            obs[:, rows].reshape(T * len(rows), -1), actions[:, rows].reshape(T * len(rows), -1), state
        )
        flat = (torch.arange(T, device=self.device).unsqueeze(1) * B + rows.unsqueeze(0)).reshape(-1)
        return logprob, entropy, flat

    def update_actors(self, b: Mapping[str, Any]) -> dict[str, float]:
        """Sequential actor updates in a random order, each weighted by the earlier ratios."""
        args = self.args
        order = torch.randperm(self.num_agents, generator=self.sampler).tolist()
        factor = torch.ones(self.batch_size, device=self.device)
        self.last_order, self.last_factors = order, {}
        pg_losses, entropies, clipfracs = [], [], []
        B = b["obs"][0].shape[1]
        for i in order:
            self.last_factors[i] = factor.clone()
            old_logprob = b["logprobs"][:, i]
            advantages = b["advantages"][:, i]
            if args.norm_adv and self.batch_size > 1:
                advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
            actor, optimizer = self.actors[i], self.actor_optimizers[i]
            count = B if actor.recurrent_size else self.batch_size
            minibatch_size = max(1, count // args.num_minibatches)
            for _epoch in range(args.update_epochs):
                b_inds = torch.randperm(count, generator=self.sampler).to(self.device)
                for start in range(0, count, minibatch_size):
                    mb = b_inds[start : start + minibatch_size]
                    newlogprob, entropy, rows = self._log_prob_entropy(i, b, mb)
                    ratio = (newlogprob - old_logprob[rows]).exp()
                    # ALGO LOGIC: HAPPO's surrogate, advantage weighted by the factor M
                    pg_loss = happo_policy_loss(ratio, factor[rows], advantages[rows], args.clip_coef)
                    loss = pg_loss - args.ent_coef * entropy.mean()
                    optimizer.zero_grad()
                    loss.backward()
                    nn.utils.clip_grad_norm_(actor.parameters(), args.max_grad_norm)
                    optimizer.step()
                    pg_losses.append(pg_loss.detach())
                    entropies.append(entropy.mean().detach())
                    clipfracs.append(((ratio - 1.0).abs() > args.clip_coef).float().mean())
            # ALGO LOGIC: fold this agent's new/old probability ratio into the factor
            with torch.no_grad():
                newlogprob, _, rows = self._log_prob_entropy(i, b, None)
                ratio = torch.empty_like(factor)
                ratio[rows] = (newlogprob - old_logprob[rows]).exp()
                factor = factor * ratio
        return {
            "policy_loss": float(torch.stack(pg_losses).mean()),
            "entropy": float(torch.stack(entropies).mean()),
            "clipfrac": float(torch.stack(clipfracs).mean()),
        }

    def update_critic(self, b: Mapping[str, Any]) -> dict[str, float]:
        args = self.args
        v_losses = []
        minibatch_size = max(1, self.batch_size // args.num_minibatches)
        for _epoch in range(args.update_epochs):
            b_inds = torch.randperm(self.batch_size, generator=self.sampler).to(self.device)
            for start in range(0, self.batch_size, minibatch_size):
                mb = b_inds[start : start + minibatch_size]
                newvalue = self.critic(b["states"][mb])
                returns, old_values = b["returns"][mb], b["values"][mb]
                # ALGO LOGIC: value loss, clipped around the rollout's values (Huber or squared)
                err = newvalue - returns
                if args.clip_vloss:
                    clipped = old_values + torch.clamp(
                        newvalue - old_values, -args.clip_coef, args.clip_coef
                    )
                    err_clipped = clipped - returns
                    v_loss = torch.max(self._value_error(err), self._value_error(err_clipped))
                else:
                    v_loss = self._value_error(err)
                v_loss = v_loss.mean() * args.vf_coef
                self.critic_optimizer.zero_grad()
                v_loss.backward()
                nn.utils.clip_grad_norm_(self.critic.parameters(), args.max_grad_norm)
                self.critic_optimizer.step()
                v_losses.append(v_loss.detach())
        return {"value_loss": float(torch.stack(v_losses).mean())}

    def _value_error(self, err: torch.Tensor) -> torch.Tensor:
        delta = self.args.huber_delta
        if delta is None:
            return 0.5 * err**2
        a = err.abs()
        return torch.where(a <= delta, 0.5 * err**2, delta * (a - 0.5 * delta))

    def iteration(self) -> dict[str, float | str]:
        """Anneal the learning rates, collect one rollout, update the actors in a random order and
        then the critic; return metrics (``update_order`` names the agents in their order)."""
        start = time.perf_counter()
        if self.args.anneal_lr:
            frac = max(0.0, 1.0 - self.iteration_count / self.num_iterations)
            for opt in self.actor_optimizers:
                opt.param_groups[0]["lr"] = frac * self.args.learning_rate
            self.critic_optimizer.param_groups[0]["lr"] = frac * self.args.critic_learning_rate
        rollout_start = time.perf_counter()
        batch, episodes = self.collect_rollout()
        rollout_seconds = time.perf_counter() - rollout_start
        metrics: dict[str, float | str] = {**self.update_actors(batch), **self.update_critic(batch)}
        self.iteration_count += 1
        metrics.update(
            global_step=self.global_step,
            iteration=self.iteration_count,
            learning_rate=self.actor_optimizers[0].param_groups[0]["lr"],
            episodes=len(episodes),
            episode_return=float(np.mean([r for r, _ in episodes])) if episodes else float("nan"),
            update_order=" ".join(self.agents[i] for i in self.last_order),
            rollout_seconds=rollout_seconds,
            seconds=time.perf_counter() - start,
        )
        return metrics

    # -- acting (evaluation) -----------------------------------------------------------------

    def act(
        self, obs: torch.Tensor, memory: list[torch.Tensor] | None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Each actor's mode ``(B, width)`` for observations ``(B, agents, obs_dim)`` (the
        normalisers are not updated), and the memory after them (None at an episode's start)."""
        obs = obs.to(self.device)
        B = obs.shape[0]
        norm = self._normalize(obs, update=False)
        if memory is None:
            memory = self._initial_memory(B)
        flat = torch.empty(B, self.width, device=self.device)
        out = []
        with torch.no_grad():
            for i, actor in enumerate(self.actors):
                x = norm[:, i]
                state = actor.remember(x, memory[i])
                out.append(state)
                action = actor.sample(x, deterministic=True, state=state)
                flat[:, self._columns[i]] = action.to(flat.dtype)
        return flat, out

    # -- checkpoints -------------------------------------------------------------------------

    def _agent_rms(self, k: int) -> dict[str, Any]:
        """Agent ``k``'s observation statistics in the checkpoint layout of one policy."""
        state = self.obs_rms.state_dict()
        return {**state, "mean": state["mean"][k].clone(), "var": state["var"][k].clone()}

    def policy_state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any], list[dict[str, Any]]]:
        """``(state_dict, obs_rms, policies)`` in the checkpoint layout of the PPO trainer: one
        policy (actor only) per agent, parameters keyed ``"<k>.<name>"``."""
        state: dict[str, torch.Tensor] = {}
        rms: dict[str, Any] = {}
        policies = []
        for k, (a, actor) in enumerate(zip(self.agents, self.actors, strict=True)):
            state.update({f"{k}.{name}": v.detach().cpu() for name, v in actor.state_dict().items()})
            if self.args.norm_obs:
                rms[str(k)] = self._agent_rms(k)
            policies.append(
                {
                    "name": a,
                    "nodes": [a],
                    "obs_dim": self.obs_dim,
                    "action_space": self.action_specs[k],
                    "hidden_sizes": list(self.args.hidden_sizes),
                    "critic_dim": None,
                    "centralized_critic": True,
                    "agent_id": False,
                    "recurrent_size": actor.recurrent_size,
                    "activation": actor.activation,
                }
            )
        return state, rms, policies

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume training exactly where it is (see PPOTrainer)."""
        return {
            "actors": {k: v.cpu() for k, v in self._actor_modules().state_dict().items()},
            "critic": {k: v.cpu() for k, v in self.critic.state_dict().items()},
            "actor_optimizers": [o.state_dict() for o in self.actor_optimizers],
            "critic_optimizer": self.critic_optimizer.state_dict(),
            "obs_rms": self.obs_rms.state_dict(),
            **run_state(self),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        device = self.device
        self._actor_modules().load_state_dict({k: v.to(device) for k, v in state["actors"].items()})
        self.critic.load_state_dict({k: v.to(device) for k, v in state["critic"].items()})
        for opt, s in zip(self.actor_optimizers, state["actor_optimizers"], strict=True):
            opt.load_state_dict(s)
        self.critic_optimizer.load_state_dict(state["critic_optimizer"])
        self.obs_rms = TorchRunningMeanStd.from_state_dict(state["obs_rms"], device)
        restore_run_state(self, state)
