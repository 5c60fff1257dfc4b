"""The actor-critic network of the PPO and HAPPO agents (CleanRL's ``Agent``, generalised a little).

An MLP actor and an MLP critic with orthogonal initialisation (Engstrom et al. 2020, "Implementation
matters in deep policy gradients"; CleanRL ``layer_init``): hidden layers with gain sqrt(2), the
policy head with gain 0.01 (near-uniform first policy), the value head with gain 1. Action heads:

* ``Discrete(n)`` and ``MultiDiscrete(nvec)``: one categorical distribution per component
  (logits of all components in one linear layer, split);
* ``Box(low, high)``: a diagonal Gaussian with a state-independent, learned log standard deviation
  (CleanRL ``ppo_continuous_action``); the sampled action is *clipped* to ``[low, high]`` where it
  is applied (:func:`clip_action`), while log-probabilities are those of the unclipped sample.

The critic reads either the agent's own observation or, for centralised training with decentralised
execution (CTDE), a longer vector (``critic_dim``), e.g. the concatenation of all agents'
observations. ``get_value`` and ``get_action_and_value`` serve both the rollout and the update.

Spaces are described as plain JSON data (so that checkpoints carry them and nothing here imports
gymnasium): ``{"type": "Discrete", "n": 4}``, ``{"type": "MultiDiscrete", "nvec": [5, 5]}``,
``{"type": "Box", "low": [0.0], "high": [100.0]}``; :func:`space_spec` makes one from a Gymnasium
space (duck-typed).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.distributions import Categorical, Normal

_LOG_SQRT_2PI = math.log(math.sqrt(2 * math.pi))


def set_num_threads() -> int:
    """Give torch one thread unless ``OMP_NUM_THREADS`` says otherwise; return the number.

    Small networks gain nothing from more threads and lose a lot when the cores are shared: two
    threads on two cores made batched inference 87x slower here (DESIGN.md, "Scale"). Trainers
    and the inference agents call it when they start."""
    text = os.environ.get("OMP_NUM_THREADS", "").strip()
    threads = int(text) if text.isdigit() and int(text) >= 1 else 1
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads


# --------------------------------------------------------------------------------------------------
# Space specs (plain data).


def space_spec(space: Any) -> dict[str, Any]:
    """The JSON spec of a Gymnasium ``Discrete``, ``MultiDiscrete`` or ``Box`` space (duck-typed).

    >>> class Discrete:  # stands in for gymnasium.spaces.Discrete
    ...     n, start = 4, 0
    >>> space_spec(Discrete())
    {'type': 'Discrete', 'n': 4}
    """
    kind = type(space).__name__
    if kind == "Discrete":
        if int(getattr(space, "start", 0)) != 0:
            raise ValueError(f"Discrete spaces must start at 0, got start={space.start}")
        return {"type": "Discrete", "n": int(space.n)}
    if kind == "MultiDiscrete":
        nvec = np.asarray(space.nvec)
        if nvec.ndim != 1:
            raise ValueError(f"MultiDiscrete spaces must be one-dimensional, got nvec {nvec.tolist()}")
        return {"type": "MultiDiscrete", "nvec": [int(n) for n in nvec]}
    if kind == "Box":
        low, high = np.asarray(space.low, float), np.asarray(space.high, float)
        if low.ndim != 1:
            raise ValueError(f"Box action spaces must be one-dimensional, got shape {low.shape}")
        if not (np.isfinite(low).all() and np.isfinite(high).all()):
            raise ValueError(
                "Box action spaces must be bounded (the Gaussian head is clipped to "
                f"[low, high]), got low={low.tolist()}, high={high.tolist()}"
            )
        return {"type": "Box", "low": low.tolist(), "high": high.tolist()}
    raise ValueError(f"unsupported action space {space!r}: use Discrete, MultiDiscrete or Box")


def check_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Validate an action-space spec; return it as a plain dict (ValueError names the problem)."""
    if not isinstance(spec, Mapping) or spec.get("type") not in ("Discrete", "MultiDiscrete", "Box"):
        raise ValueError(
            f"action spec must be a mapping with type Discrete, MultiDiscrete or Box, got {spec!r}"
        )
    kind = spec["type"]
    if kind == "Discrete":
        n = spec.get("n")
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"Discrete action spec needs an integer n >= 1, got {spec!r}")
        return {"type": kind, "n": n}
    if kind == "MultiDiscrete":
        nvec = spec.get("nvec")
        if (
            not isinstance(nvec, Sequence)
            or not nvec
            or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in nvec)
        ):
            raise ValueError(f"MultiDiscrete action spec needs nvec, integers >= 1, got {spec!r}")
        return {"type": kind, "nvec": list(nvec)}
    low, high = spec.get("low"), spec.get("high")
    if (
        not isinstance(low, Sequence)
        or not isinstance(high, Sequence)
        or len(low) != len(high)
        or not low
        or any(
            not math.isfinite(a) or not math.isfinite(b) or a > b for a, b in zip(low, high, strict=True)
        )
    ):
        raise ValueError(f"Box action spec needs finite low <= high of equal length, got {spec!r}")
    return {"type": kind, "low": [float(x) for x in low], "high": [float(x) for x in high]}


def action_nvec(spec: Mapping[str, Any]) -> list[int] | None:
    """Category counts of a discrete spec (``[n]`` for Discrete), None for Box."""
    if spec["type"] == "Discrete":
        return [int(spec["n"])]
    if spec["type"] == "MultiDiscrete":
        return [int(n) for n in spec["nvec"]]
    return None


def action_shape(spec: Mapping[str, Any]) -> tuple[int, ...]:
    """Shape of one action as the environment takes it: () for Discrete, (k,) otherwise."""
    if spec["type"] == "Discrete":
        return ()
    if spec["type"] == "MultiDiscrete":
        return (len(spec["nvec"]),)
    return (len(spec["low"]),)


def action_width(spec: Mapping[str, Any]) -> int:
    """Numbers in one action as the network emits it: 1 for Discrete, k otherwise."""
    shape = action_shape(spec)
    return shape[0] if shape else 1


def clip_action(action: np.ndarray, spec: Mapping[str, Any]) -> np.ndarray:
    """An action as the environment takes it: integers for discrete specs, clipped for Box."""
    if spec["type"] == "Box":
        return np.clip(
            np.asarray(action, np.float32),
            np.asarray(spec["low"], np.float32),
            np.asarray(spec["high"], np.float32),
        )
    return np.asarray(action, np.int64)


def env_action(action: np.ndarray, spec: Mapping[str, Any]) -> Any:
    """One agent's network output as the environment and the action maps take it: an ``int``
    (Discrete), an integer vector (MultiDiscrete) or a vector clipped to the box (Box)."""
    a = np.asarray(action)
    if spec["type"] == "Discrete":
        return int(a.reshape(-1)[0])
    if spec["type"] == "MultiDiscrete":
        return a.astype(np.int64).reshape(-1)
    return np.clip(
        a.astype(np.float32).reshape(-1),
        np.asarray(spec["low"], np.float32),
        np.asarray(spec["high"], np.float32),
    )


# --------------------------------------------------------------------------------------------------
# The network.


def layer_init(
    layer: nn.Linear,
    std: float = math.sqrt(2),
    bias_const: float = 0.0,
    *,
    generator: torch.Generator | None = None,
) -> nn.Linear:
    """Orthogonal weights with gain ``std``, constant bias (CleanRL)."""
    nn.init.orthogonal_(layer.weight, std, generator=generator)
    nn.init.constant_(layer.bias, bias_const)
    return layer


ACTIVATIONS: dict[str, type[nn.Module]] = {"tanh": nn.Tanh, "relu": nn.ReLU}
"""Hidden-layer activations by name: tanh (CleanRL's) or ReLU (several times cheaper on CPUs
where torch's tanh is not vectorised; measured in benchmarks/RESULTS.md)."""


def check_activation(name: Any) -> str:
    if name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {name!r}")
    return str(name)


def mlp(
    in_dim: int,
    hidden_sizes: Sequence[int],
    out_dim: int,
    out_std: float,
    *,
    generator: torch.Generator | None = None,
    activation: str = "tanh",
) -> nn.Sequential:
    """Linear layers of ``hidden_sizes``, each followed by ``activation`` (tanh or relu), then a
    linear head initialised with gain ``out_std``."""
    layers: list[nn.Module] = []
    last = in_dim
    act = ACTIVATIONS[check_activation(activation)]
    for size in hidden_sizes:
        layers += [layer_init(nn.Linear(last, size), generator=generator), act()]
        last = size
    layers.append(layer_init(nn.Linear(last, out_dim), std=out_std, generator=generator))
    return nn.Sequential(*layers)


class ActorCritic(nn.Module):
    """Actor and critic MLPs for one observation vector of ``obs_dim`` values.

        ``action`` is an action-space spec (module docstring). ``critic_dim`` is the length of the
        critic's input (default ``obs_dim``; the centralised critic's concatenated observations
        otherwise). ``actor=False`` or ``critic=False`` leaves that half out (HAPPO keeps one critic
        beside per-agent actors). ``generator`` draws the initial weights (default: torch's global
        random state). A ``Box`` action starts with standard deviation ``init_std`` times its range.
    Hidden layers use ``activation`` (``tanh``, CleanRL's, or ``relu``).

        ``recurrent_size > 0`` gives each half a memory: a GRU cell (Cho et al. 2014) that reads the
        half's input every decision epoch, and the half's MLP reads the input and the memory side by
        side (``[x, h]``), so that a policy can learn from the recent past (non-stationary demand)
        without losing the feed-forward path. The memory is a tensor ``state`` of shape ``(batch,
        halves * recurrent_size)`` (actor first): :meth:`initial_state` is zeros, :meth:`remember`
        takes one epoch's inputs, and the heads read the state after it (:meth:`get_value`,
        :meth:`distribution`, :meth:`get_action_and_value` take ``state=``).
    """

    def __init__(
        self,
        obs_dim: int,
        action: Mapping[str, Any],
        *,
        hidden_sizes: Sequence[int] = (64, 64),
        critic_dim: int | None = None,
        actor: bool = True,
        critic: bool = True,
        generator: torch.Generator | None = None,
        recurrent_size: int = 0,
        init_std: float = 0.25,
        activation: str = "tanh",
    ) -> None:
        super().__init__()
        self.activation = check_activation(activation)
        if isinstance(obs_dim, bool) or not isinstance(obs_dim, int) or obs_dim < 1:
            raise ValueError(f"obs_dim must be an integer >= 1, got {obs_dim!r}")
        if isinstance(recurrent_size, bool) or not isinstance(recurrent_size, int) or recurrent_size < 0:
            raise ValueError(f"recurrent_size must be an integer >= 0, got {recurrent_size!r}")
        self.obs_dim = obs_dim
        self.action_spec = check_spec(action)
        self.hidden_sizes = tuple(int(h) for h in hidden_sizes)
        self.critic_dim = obs_dim if critic_dim is None else int(critic_dim)
        self.nvec = action_nvec(self.action_spec)
        self.recurrent_size = recurrent_size
        r = recurrent_size
        self.critic = (
            mlp(
                self.critic_dim + r,
                self.hidden_sizes,
                1,
                1.0,
                generator=generator,
                activation=activation,
            )
            if critic
            else None
        )
        self.critic_memory = _gru(self.critic_dim, r, generator) if critic and r else None
        self.actor: nn.Sequential | None = None
        self.actor_memory = _gru(obs_dim, r, generator) if actor and r else None
        if actor:
            if self.nvec is not None:
                self.actor = mlp(
                    obs_dim + r,
                    self.hidden_sizes,
                    sum(self.nvec),
                    0.01,
                    generator=generator,
                    activation=activation,
                )
            else:
                dim = len(self.action_spec["low"])
                self.actor = mlp(
                    obs_dim + r, self.hidden_sizes, dim, 0.01, generator=generator, activation=activation
                )
                # Initial standard deviation: init_std times the action range (log-parametrised).
                span = np.asarray(self.action_spec["high"]) - np.asarray(self.action_spec["low"])
                init = np.log(np.maximum(span * init_std, 1e-3)).astype(np.float32)
                self.actor_logstd = nn.Parameter(torch.as_tensor(init).unsqueeze(0))
                mid = (np.asarray(self.action_spec["high"]) + np.asarray(self.action_spec["low"])) / 2
                # The mean head outputs offsets from the middle of the range, in units of half-range.
                self.register_buffer("action_mid", torch.as_tensor(mid, dtype=torch.float32))
                self.register_buffer(
                    "action_half", torch.as_tensor(np.maximum(span / 2.0, 1e-6), dtype=torch.float32)
                )

    # -- memory ------------------------------------------------------------------------------

    @property
    def state_size(self) -> int:
        """Numbers in one row of the recurrent state (0 for a feed-forward network)."""
        halves = (self.actor_memory is not None) + (self.critic_memory is not None)
        return halves * self.recurrent_size

    def initial_state(self, batch: int, device: torch.device | str | None = None) -> torch.Tensor:
        """The memory at the start of an episode: zeros ``(batch, state_size)``."""
        return torch.zeros(batch, self.state_size, device=device)

    def remember(
        self,
        x: torch.Tensor,
        state: torch.Tensor,
        critic_x: torch.Tensor | None = None,
        *,
        reset: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The state after this epoch's inputs: each half's GRU cell reads its input (``x`` for
        the actor, ``critic_x`` for the critic, default ``x``). ``reset`` ``(batch,)``: 1.0 where
        an episode starts with this input (the memory is cleared first)."""
        if not self.recurrent_size:
            return state
        if reset is not None:
            state = state * (1.0 - reset).unsqueeze(-1)
        r, parts, k = self.recurrent_size, [], 0
        if self.actor_memory is not None:
            parts.append(self.actor_memory(x, state[:, :r]))
            k = r
        if self.critic_memory is not None:
            parts.append(self.critic_memory(x if critic_x is None else critic_x, state[:, k : k + r]))
        return torch.cat(parts, dim=1)

    def _with_memory(self, x: torch.Tensor, state: torch.Tensor | None, half: str) -> torch.Tensor:
        if not self.recurrent_size:
            return x
        if state is None:
            raise ValueError("this network is recurrent: pass state= (initial_state, then remember)")
        r = self.recurrent_size
        k = r if half == "critic" and self.actor_memory is not None else 0
        return torch.cat([x, state[:, k : k + r]], dim=1)

    # -- values ------------------------------------------------------------------------------

    def get_value(self, x: torch.Tensor, state: torch.Tensor | None = None) -> torch.Tensor:
        """State values ``(batch,)`` from critic inputs ``x`` of shape ``(batch, critic_dim)``."""
        if self.critic is None:
            raise ValueError("this network has no critic (built with critic=False)")
        return self.critic(self._with_memory(x, state, "critic")).squeeze(-1)

    # -- policy ------------------------------------------------------------------------------

    def _head(self, x: torch.Tensor, state: torch.Tensor | None) -> torch.Tensor:
        """The actor's raw output at ``x``: logits, or the Gaussian mean in half-ranges."""
        if self.actor is None:
            raise ValueError("this network has no actor (built with actor=False)")
        return self.actor(self._with_memory(x, state, "actor"))

    def _categoricals(self, out: torch.Tensor) -> list[Categorical]:
        assert self.nvec is not None
        if len(self.nvec) == 1:
            return [Categorical(logits=out)]
        return [Categorical(logits=logits) for logits in torch.split(out, self.nvec, dim=-1)]

    def _mean(self, out: torch.Tensor) -> torch.Tensor:
        mid: torch.Tensor = self.action_mid  # type: ignore[assignment]
        half: torch.Tensor = self.action_half  # type: ignore[assignment]
        return mid + half * out

    def distribution(
        self, x: torch.Tensor, state: torch.Tensor | None = None
    ) -> list[Categorical] | Normal:
        """The policy at observations ``x``: categoricals (one per component) or a Normal."""
        out = self._head(x, state)
        if self.nvec is not None:
            return self._categoricals(out)
        mean = self._mean(out)
        return Normal(mean, self.actor_logstd.expand_as(mean).exp())

    def log_prob_entropy(
        self,
        x: torch.Tensor,
        action: torch.Tensor,
        state: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probability of ``action`` and entropy of the policy at ``x`` (summed over components)."""
        return self._log_prob_entropy(self._head(x, state), action)

    def _log_prob_entropy(
        self, out: torch.Tensor, action: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if self.nvec is not None:
            dist = self._categoricals(out)
            action = action.long().reshape(action.shape[0], len(dist))
            if len(dist) == 1:
                return dist[0].log_prob(action[:, 0]), dist[0].entropy()
            logprob = torch.stack([d.log_prob(action[:, i]) for i, d in enumerate(dist)], 1)
            entropy = torch.stack([d.entropy() for d in dist], 1)
            return logprob.sum(1), entropy.sum(1)
        # Optimised: torch.distributions.Normal's log_prob and entropy, operation for operation,
        # without building and validating a distribution at every minibatch; the standard
        # deviation does not depend on the state, so it is computed once, not once per row.
        mean = self._mean(out)
        scale = self.actor_logstd.exp()
        logprob = -((action - mean) ** 2) / (2 * scale**2) - scale.log() - _LOG_SQRT_2PI
        entropy = (0.5 + 0.5 * math.log(2 * math.pi) + torch.log(scale)).expand_as(mean)
        return logprob.sum(1), entropy.sum(1)

    @torch.no_grad()
    def sample(
        self,
        x: torch.Tensor,
        *,
        deterministic: bool = False,
        generator: torch.Generator | None = None,
        state: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Actions at ``x``: sampled (with ``generator`` if given), or the mode when deterministic.

        Discrete actions have shape ``(batch, components)``; Box actions ``(batch, dim)``, not clipped.
        """
        return self._sample(self._head(x, state), deterministic=deterministic, generator=generator)

    def _sample(
        self, out: torch.Tensor, *, deterministic: bool, generator: torch.Generator | None
    ) -> torch.Tensor:
        if self.nvec is not None:
            dist = self._categoricals(out)
            if deterministic:
                return torch.stack([d.logits.argmax(-1) for d in dist], 1)
            return torch.stack(
                [torch.multinomial(d.probs, 1, generator=generator).squeeze(-1) for d in dist], 1
            )
        mean = self._mean(out)
        if deterministic:
            return mean
        noise = torch.randn(mean.shape, generator=generator, device=mean.device)
        return mean + self.actor_logstd.exp() * noise

    def get_action_and_value(
        self,
        x: torch.Tensor,
        action: torch.Tensor | None = None,
        critic_x: torch.Tensor | None = None,
        *,
        state: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """CleanRL's one call: ``(action, log_prob, entropy, value)`` at observations ``x``.

        A new action is sampled (with ``generator``) when ``action`` is None. ``critic_x`` is the
        critic's input (default ``x``); ``state`` the recurrent state after this epoch's inputs.
        The network needs both halves (an actor-only network has ``sample`` and
        ``log_prob_entropy``). The actor runs once for the sample and its log-probability.
        """
        if self.critic is None:
            raise ValueError("this network has no critic (built with critic=False)")
        out = self._head(x, state)
        if action is None:
            with torch.no_grad():
                action = self._sample(out.detach(), deterministic=False, generator=generator)
        logprob, entropy = self._log_prob_entropy(out, action)
        value = self.get_value(x if critic_x is None else critic_x, state)
        return action, logprob, entropy, value


def _gru(in_dim: int, size: int, generator: torch.Generator | None) -> nn.GRUCell:
    """A GRU cell with orthogonal recurrent weights and zero biases (as CleanRL's LSTM agents)."""
    cell = nn.GRUCell(in_dim, size)
    for name, param in cell.named_parameters():
        if "bias" in name:
            nn.init.constant_(param, 0.0)
        else:
            nn.init.orthogonal_(param, 1.0, generator=generator)
    return cell


# --------------------------------------------------------------------------------------------------
# Observation normalisation.


class RunningMeanStd:
    """Running mean and variance of vectors (Chan et al. parallel update; Gymnasium's version).

    ``normalize(x)`` = clip((x - mean) / sqrt(var + eps), -clip, clip). Its state (``mean``,
    ``var``, ``count``) is saved in checkpoints so inference sees inputs scaled as in training.
    """

    def __init__(
        self, shape: tuple[int, ...] | int, *, epsilon: float = 1e-4, clip: float = 10.0
    ) -> None:
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        self.mean = np.zeros(shape, np.float64)
        self.var = np.ones(shape, np.float64)
        self.count = float(epsilon)
        self.clip = float(clip)

    def update(self, x: np.ndarray) -> None:
        x = np.asarray(x, np.float64).reshape(-1, *self.mean.shape)
        batch_mean, batch_var, batch_count = x.mean(0), x.var(0), x.shape[0]
        delta = batch_mean - self.mean
        total = self.count + batch_count
        self.mean = self.mean + delta * batch_count / total
        m2 = (
            self.var * self.count + batch_var * batch_count + delta**2 * self.count * batch_count / total
        )
        self.var = m2 / total
        self.count = total

    def normalize(self, x: np.ndarray) -> np.ndarray:
        out = (np.asarray(x, np.float64) - self.mean) / np.sqrt(self.var + 1e-8)
        return np.clip(out, -self.clip, self.clip).astype(np.float32)

    def state_dict(self) -> dict[str, Any]:
        return {
            "mean": torch.as_tensor(self.mean),
            "var": torch.as_tensor(self.var),
            "count": float(self.count),
            "clip": self.clip,
        }

    @classmethod
    def from_state_dict(cls, state: Mapping[str, Any]) -> RunningMeanStd:
        mean = np.asarray(state["mean"], np.float64)
        rms = cls(mean.shape, clip=float(state.get("clip", 10.0)))
        rms.mean, rms.var = mean, np.asarray(state["var"], np.float64)
        rms.count = float(state["count"])
        return rms


class TorchRunningMeanStd:
    """:class:`RunningMeanStd` on torch tensors (``float64``, on the trainer's device), with the
    same update, normalisation and ``state_dict``: a checkpoint's statistics load into either."""

    def __init__(
        self,
        shape: tuple[int, ...] | int,
        *,
        epsilon: float = 1e-4,
        clip: float = 10.0,
        device: torch.device | str | None = None,
    ) -> None:
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        self.mean = torch.zeros(shape, dtype=torch.float64, device=device)
        self.var = torch.ones(shape, dtype=torch.float64, device=device)
        self.count = float(epsilon)
        self.clip = float(clip)

    def update(self, x: torch.Tensor) -> None:
        x = x.to(torch.float64).reshape(-1, *self.mean.shape)
        batch_mean, batch_var, batch_count = x.mean(0), x.var(0, unbiased=False), x.shape[0]
        delta = batch_mean - self.mean
        total = self.count + batch_count
        self.mean = self.mean + delta * (batch_count / total)
        m2 = (
            self.var * self.count
            + batch_var * batch_count
            + delta**2 * (self.count * batch_count / total)
        )
        self.var = m2 / total
        self.count = total

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        out = (x.to(torch.float64) - self.mean) / torch.sqrt(self.var + 1e-8)
        return out.clamp(-self.clip, self.clip).to(torch.float32)

    def state_dict(self) -> dict[str, Any]:
        return {
            "mean": self.mean.detach().cpu().clone(),
            "var": self.var.detach().cpu().clone(),
            "count": float(self.count),
            "clip": self.clip,
        }

    @classmethod
    def from_state_dict(
        cls, state: Mapping[str, Any], device: torch.device | str | None = None
    ) -> TorchRunningMeanStd:
        mean = torch.as_tensor(state["mean"], dtype=torch.float64)
        rms = cls(tuple(mean.shape), clip=float(state.get("clip", 10.0)), device=device)
        rms.mean = mean.to(device)
        rms.var = torch.as_tensor(state["var"], dtype=torch.float64).to(device)
        rms.count = float(state["count"])
        return rms
