"""The ``happo`` agent: HAPPO's trained actors (one per node) deciding orders in the twin.

The checkpoint layout is the PPO one (:mod:`agents.ppo.checkpoint`) with one policy per node, so
inference is :class:`agents.ppo.agent.PPOAgent`'s: each node's observation is built as in training
(the same observation builder and action map), normalised by that node's running statistics and
fed to that node's actor; the mode of the policy by default, a seeded sample with
``stochastic=True``. The centralised critic is used only in training and is not saved. Without a
checkpoint (``untrained=True``, asked for on purpose) each node gets its own randomly initialised
actor (``init_seed`` and the node id).

    python -m twin.run scenarios/liu_serial.yaml \\
        --agent retailer=happo:checkpoint=runs/liu/policy.pt ...
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agents.ppo.agent import PPOAgent


class HAPPOAgent(PPOAgent):
    """Decides orders with HAPPO's per-node actors (see the module docstring)."""

    algo = "happo"

    def __init__(
        self,
        *,
        checkpoint: str | None = None,
        observation: Any = None,
        action: Any = None,
        stochastic: bool = False,
        strict: bool = True,
        hidden_sizes: Sequence[int] = (128, 128),
        obs_dim: int | None = None,
        init_seed: int = 0,
        untrained: bool = False,
    ) -> None:
        super().__init__(
            checkpoint=checkpoint,
            observation=observation,
            action=action,
            stochastic=stochastic,
            strict=strict,
            hidden_sizes=hidden_sizes,
            obs_dim=obs_dim,
            init_seed=init_seed,
            untrained=untrained,
        )
