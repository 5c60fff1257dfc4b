"""HAPPO: heterogeneous-agent PPO (Kuba et al., "Trust Region Policy Optimisation in Multi-Agent
Reinforcement Learning", ICLR 2022), the algorithm of Liu et al.'s multi-echelon inventory study.

Every agent (node) has its own actor, reading only its own observation; one centralised critic
reads all agents' observations (concatenated) and outputs one value per agent (its own return,
under the scenario's own / team / mixed reward). Each iteration:

1. collect a rollout on the vectorised twins; GAE per agent with its value head;
2. draw a random order of the agents (a permutation ``i_1 .. i_n``);
3. update the actors one after another in that order. Agent ``i_m`` maximises the clipped
   surrogate of its probability ratio ``r_m = pi_new(a | o) / pi_old(a | o)`` with its advantage
   weighted by the product of the ratios of the agents updated before it (Kuba et al. 2022,
   Algorithm 1, the multi-agent advantage decomposition)::

       M_m = prod_{j < m} r_{i_j}   (M_1 = 1; computed after agent i_j's update, held fixed)
       L_m = -E[ min(r_m * M_m * A, clip(r_m, 1 - eps, 1 + eps) * M_m * A) ]

4. update the critic (clipped value loss; Huber loss as in Liu et al.).

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
from agents.ppo.network import ActorCritic, RunningMeanStd, action_width, env_action, mlp
from agents.ppo.trainer import set_num_threads
from agents.ppo.vec import VecParallelEnv


@dataclass
class Args(TrainerArgs):
    """HAPPO hyper-parameters: the shared ones (:class:`~agents.ppo.args.TrainerArgs`) with Liu et
    al.'s defaults where they differ from CleanRL's, and the critic's own. ``seed`` also seeds the
    update orders. Liu et al.'s names of the shared fields at their defaults: ``gae_lambda``
    (gae_lambda), ``clip_coef`` (clip_param), ``ent_coef`` (entropy_coef)."""

    total_timesteps: int = 1_000_000
    """decision epochs to simulate, summed over the vectorised twins"""
    learning_rate: float = 1e-4
    """actor Adam step size (Liu et al.: lr)"""
    num_envs: int = 5
    """twins stepped in lockstep (Liu et al.: n_rollout_threads)"""
    num_steps: int = 200
    """decision epochs per twin per rollout (Liu et al.: episode_length)"""
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

    def __init__(self, state_dim: int, num_agents: int, hidden_sizes: Sequence[int]) -> None:
        super().__init__()
        self.net = mlp(state_dim, hidden_sizes, num_agents, 1.0)

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
    """HAPPO on the vectorised twins ``envs``: one actor per agent, one centralised critic."""

    algo = "happo"

    def __init__(self, envs: VecParallelEnv, args: Args) -> None:
        set_num_threads()
        torch.manual_seed(args.seed)  # the trainer's entry point: the one place that seeds torch
        self.args, self.envs = args, envs
        self.agents = list(envs.agents)
        self.num_agents = len(self.agents)
        self.obs_dims = [envs.obs_dims[a] for a in self.agents]
        self.action_specs = [envs.action_specs[a] for a in self.agents]
        self.state_dim = sum(self.obs_dims)
        self.actors = [
            ActorCritic(d, spec, hidden_sizes=args.hidden_sizes, critic=False)
            for d, spec in zip(self.obs_dims, self.action_specs, strict=True)
        ]
        self.critic = CentralCritic(self.state_dim, self.num_agents, args.hidden_sizes)
        self.actor_optimizers = [
            optim.Adam(a.parameters(), lr=args.learning_rate, eps=1e-5) for a in self.actors
        ]
        self.critic_optimizer = optim.Adam(
            self.critic.parameters(), lr=args.critic_learning_rate, eps=1e-5
        )
        self.obs_rms = [RunningMeanStd(d) for d in self.obs_dims]
        self.return_rms = RunningMeanStd(())
        self.discounted_return = np.zeros((envs.num_envs, self.num_agents))
        self.batch_size = args.num_envs * args.num_steps
        self.minibatch_size = max(1, self.batch_size // args.num_minibatches)
        self.num_iterations = max(1, args.total_timesteps // (args.num_envs * args.num_steps))
        self.global_step = 0
        self.iteration_count = 0
        self.sampler = torch.Generator().manual_seed(args.seed)
        self.next_norm: list[np.ndarray] | None = None
        self.next_done = np.zeros(envs.num_envs, np.float32)
        self.last_order: list[int] = []
        """Agent indices in the order of the last update (for inspection and tests)."""
        self.last_factors: dict[int, torch.Tensor] = {}
        """The factor M each agent's objective was weighted by in the last update."""

    # -- plumbing ----------------------------------------------------------------------------

    def _actor_modules(self) -> nn.ModuleList:
        """The actors as one module, for their state dict (parameters keyed ``"<k>.<name>"``)."""
        return nn.ModuleList(self.actors)

    def _normalize(self, obs: Mapping[str, np.ndarray], *, update: bool) -> list[np.ndarray]:
        out = []
        for i, a in enumerate(self.agents):
            x = np.asarray(obs[a], np.float32).reshape(-1, self.obs_dims[i])
            if self.args.norm_obs:
                if update:
                    self.obs_rms[i].update(x)
                x = self.obs_rms[i].normalize(x)
            out.append(x)
        return out

    def _state(self, norm: Sequence[np.ndarray]) -> torch.Tensor:
        return torch.as_tensor(np.concatenate(norm, axis=1))

    def _scale_rewards(self, rewards: np.ndarray, done: np.ndarray) -> np.ndarray:
        if not self.args.norm_reward:
            return rewards
        self.discounted_return = self.discounted_return * self.args.gamma + rewards
        self.return_rms.update(self.discounted_return.reshape(-1))
        self.discounted_return[done] = 0.0
        return rewards / np.sqrt(self.return_rms.var + 1e-8)

    # -- rollout -----------------------------------------------------------------------------

    def collect_rollout(self) -> tuple[dict[str, Any], list[float]]:
        args, envs = self.args, self.envs
        T, E, N = args.num_steps, envs.num_envs, self.num_agents
        obs = [torch.zeros(T, E, d) for d in self.obs_dims]
        actions = [torch.zeros(T, E, action_width(s)) for s in self.action_specs]
        logprobs = torch.zeros(T, E, N)
        states = torch.zeros(T, E, self.state_dim)
        rewards, values, dones = torch.zeros(T, E, N), torch.zeros(T, E, N), torch.zeros(T, E, 1)
        returns_seen: list[float] = []
        if self.next_norm is None:
            self.next_norm = self._normalize(envs.reset(), update=True)

        for step in range(T):
            self.global_step += E
            dones[step] = torch.as_tensor(self.next_done).unsqueeze(1)
            states[step] = self._state(self.next_norm)
            per_agent = {}
            # ALGO LOGIC: every agent acts on its own observation with its own actor
            with torch.no_grad():
                for i, a in enumerate(self.agents):
                    obs[i][step] = torch.as_tensor(self.next_norm[i])
                    action = self.actors[i].sample(obs[i][step], generator=None)
                    logprobs[step, :, i] = self.actors[i].log_prob_entropy(obs[i][step], action)[0]
                    actions[i][step] = action.float()
                    per_agent[a] = action.numpy()
                values[step] = self.critic(states[step])
            next_obs, reward, terminated, truncated, final_obs, episodes = envs.step(per_agent)
            done = terminated | truncated
            scaled = self._scale_rewards(reward, done)
            for e, last in final_obs.items():  # bootstrap truncated episodes (the horizon)
                if truncated[e]:
                    last_norm = self._normalize({a: last[a][None] for a in last}, update=False)
                    with torch.no_grad():
                        scaled[e] += args.gamma * self.critic(self._state(last_norm))[0].numpy()
            rewards[step] = torch.as_tensor(scaled, dtype=torch.float32)
            self.next_norm = self._normalize(next_obs, update=True)
            self.next_done = done.astype(np.float32)
            returns_seen += [ep["return"] for ep in episodes]

        # ALGO LOGIC: GAE per agent with its own head of the centralised critic
        with torch.no_grad():
            next_value = self.critic(self._state(self.next_norm))
            next_done = torch.as_tensor(self.next_done).unsqueeze(1)
            advantages = torch.zeros_like(rewards)
            lastgaelam = torch.zeros(E, N)
            for t in reversed(range(T)):
                if t == T - 1:
                    nextnonterminal, nextvalues = 1.0 - next_done, next_value
                else:
                    nextnonterminal, nextvalues = 1.0 - dones[t + 1], values[t + 1]
                delta = rewards[t] + args.gamma * nextvalues * nextnonterminal - values[t]
                advantages[t] = lastgaelam = (
                    delta + args.gamma * args.gae_lambda * nextnonterminal * lastgaelam
                )
            returns = advantages + values
        batch = {
            "obs": [o.reshape(T * E, -1) for o in obs],
            "actions": [a.reshape(T * E, -1) for a in actions],
            "logprobs": logprobs.reshape(T * E, N),
            "states": states.reshape(T * E, -1),
            "advantages": advantages.reshape(T * E, N),
            "returns": returns.reshape(T * E, N),
            "values": values.reshape(T * E, N),
        }
        return batch, returns_seen

    # -- update ------------------------------------------------------------------------------

    def update_actors(self, b: Mapping[str, Any]) -> dict[str, float]:
        """Sequential actor updates in a random order, each weighted by the earlier ratios."""
        args = self.args
        order = torch.randperm(self.num_agents, generator=self.sampler).tolist()
        factor = torch.ones(self.batch_size)
        self.last_order, self.last_factors = order, {}
        pg_losses, entropies, clipfracs = [], [], []
        for i in order:
            self.last_factors[i] = factor.clone()
            old_logprob = b["logprobs"][:, i]
            advantages = b["advantages"][:, i]
            if args.norm_adv and self.batch_size > 1:
                advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
            actor, optimizer = self.actors[i], self.actor_optimizers[i]
            for _epoch in range(args.update_epochs):
                b_inds = torch.randperm(self.batch_size, generator=self.sampler)
                for start in range(0, self.batch_size, self.minibatch_size):
                    mb = b_inds[start : start + self.minibatch_size]
                    newlogprob, entropy = actor.log_prob_entropy(b["obs"][i][mb], b["actions"][i][mb])
                    ratio = (newlogprob - old_logprob[mb]).exp()
                    # ALGO LOGIC: HAPPO's surrogate, advantage weighted by the factor M
                    pg_loss = happo_policy_loss(ratio, factor[mb], advantages[mb], args.clip_coef)
                    loss = pg_loss - args.ent_coef * entropy.mean()
                    optimizer.zero_grad()
                    loss.backward()
                    nn.utils.clip_grad_norm_(actor.parameters(), args.max_grad_norm)
                    optimizer.step()
                    pg_losses.append(pg_loss.item())
                    entropies.append(entropy.mean().item())
                    clipfracs.append(((ratio - 1.0).abs() > args.clip_coef).float().mean().item())
            # ALGO LOGIC: fold this agent's new/old probability ratio into the factor
            with torch.no_grad():
                newlogprob, _ = actor.log_prob_entropy(b["obs"][i], b["actions"][i])
                factor = factor * (newlogprob - old_logprob).exp()
        return {
            "policy_loss": float(np.mean(pg_losses)),
            "entropy": float(np.mean(entropies)),
            "clipfrac": float(np.mean(clipfracs)),
        }

    def update_critic(self, b: Mapping[str, Any]) -> dict[str, float]:
        args = self.args
        v_losses = []
        for _epoch in range(args.update_epochs):
            b_inds = torch.randperm(self.batch_size, generator=self.sampler)
            for start in range(0, self.batch_size, self.minibatch_size):
                mb = b_inds[start : start + self.minibatch_size]
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
                v_losses.append(v_loss.item())
        return {"value_loss": float(np.mean(v_losses))}

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
        batch, returns_seen = self.collect_rollout()
        metrics: dict[str, float | str] = {**self.update_actors(batch), **self.update_critic(batch)}
        self.iteration_count += 1
        metrics.update(
            global_step=self.global_step,
            iteration=self.iteration_count,
            learning_rate=self.actor_optimizers[0].param_groups[0]["lr"],
            episodes=len(returns_seen),
            episode_return=float(np.mean(returns_seen)) if returns_seen else float("nan"),
            update_order=" ".join(self.agents[i] for i in self.last_order),
            seconds=time.perf_counter() - start,
        )
        return metrics

    def act_deterministic(self, obs: Mapping[str, Any]) -> dict[str, Any]:
        """Each actor's mode for one environment's observations (evaluation)."""
        norm = self._normalize({a: np.asarray(v)[None] for a, v in obs.items()}, update=False)
        out: dict[str, Any] = {}
        with torch.no_grad():
            for i, a in enumerate(self.agents):
                action = self.actors[i].sample(torch.as_tensor(norm[i]), deterministic=True)
                out[a] = env_action(action[0].numpy(), self.action_specs[i])
        return out

    # -- checkpoints -------------------------------------------------------------------------

    def policy_state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any], list[dict[str, Any]]]:
        """``(state_dict, obs_rms, policies)`` in the checkpoint layout of the PPO trainer: one
        policy (actor only) per agent, parameters keyed ``"<k>.<name>"``."""
        state: dict[str, torch.Tensor] = {}
        rms: dict[str, Any] = {}
        policies = []
        for k, (a, actor) in enumerate(zip(self.agents, self.actors, strict=True)):
            state.update({f"{k}.{name}": v for name, v in actor.state_dict().items()})
            if self.args.norm_obs:
                rms[str(k)] = self.obs_rms[k].state_dict()
            policies.append(
                {
                    "name": a,
                    "nodes": [a],
                    "obs_dim": self.obs_dims[k],
                    "action_space": self.action_specs[k],
                    "hidden_sizes": list(self.args.hidden_sizes),
                    "critic_dim": None,
                    "centralized_critic": True,
                }
            )
        return state, rms, policies

    def state_dict(self) -> dict[str, Any]:
        return {
            "actors": self._actor_modules().state_dict(),
            "critic": self.critic.state_dict(),
            "actor_optimizers": [o.state_dict() for o in self.actor_optimizers],
            "critic_optimizer": self.critic_optimizer.state_dict(),
            "obs_rms": [r.state_dict() for r in self.obs_rms],
            "return_rms": self.return_rms.state_dict(),
            "global_step": self.global_step,
            "iteration": self.iteration_count,
            "next_replication": self.envs.next_replication,
            "torch_rng": torch.get_rng_state(),
            "sampler_rng": self.sampler.get_state(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self._actor_modules().load_state_dict(state["actors"])
        self.critic.load_state_dict(state["critic"])
        for opt, s in zip(self.actor_optimizers, state["actor_optimizers"], strict=True):
            opt.load_state_dict(s)
        self.critic_optimizer.load_state_dict(state["critic_optimizer"])
        self.obs_rms = [RunningMeanStd.from_state_dict(s) for s in state["obs_rms"]]
        self.return_rms = RunningMeanStd.from_state_dict(state["return_rms"])
        self.global_step = int(state["global_step"])
        self.iteration_count = int(state["iteration"])
        self.envs.next_replication = int(state["next_replication"])
        torch.set_rng_state(state["torch_rng"])
        self.sampler.set_state(state["sampler_rng"])
        self.next_norm = None
