"""The hyper-parameters that PPO and HAPPO share, named as in the papers and CleanRL's ``ppo.py``.

:class:`TrainerArgs` holds every field both trainers read, with CleanRL's defaults (and the HMARL
training guide's). Each trainer's ``Args`` subclasses it: PPO adds what is its own
(:class:`agents.ppo.trainer.Args`), HAPPO overrides the defaults that Liu et al. chose differently
and adds its critic's own (:class:`agents.happo.trainer.Args`). ``--set NAME=VALUE`` and the
``args`` of ``run.json`` use these field names.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

COUNTS = (
    "total_timesteps",
    "num_envs",
    "num_steps",
    "num_minibatches",
    "update_epochs",
    "recurrent_size",
)
"""Fields that count something and must be integers >= 1."""


@dataclass
class TrainerArgs:
    """Hyper-parameters of the PPO family (defaults: CleanRL ``ppo.py`` and the HMARL guide)."""

    seed: int = 1
    """seeds torch and the policy's sampling; training episodes use replications from 10_000 on"""
    total_timesteps: int = 200_000
    """decision epochs to simulate, summed over the vectorised twins"""
    learning_rate: float = 3e-4
    """Adam step size (of the actors, where the critic has its own)"""
    num_envs: int = 4
    """twins stepped in lockstep"""
    num_steps: int = 128
    """decision epochs per twin per rollout"""
    anneal_lr: bool = True
    """decay the learning rate linearly to 0 over total_timesteps"""
    gamma: float = 0.99
    """discount factor"""
    gae_lambda: float = 0.95
    """lambda of generalised advantage estimation (Schulman et al. 2016)"""
    num_minibatches: int = 4
    """minibatches per epoch"""
    update_epochs: int = 10
    """passes over each rollout"""
    norm_adv: bool = True
    """normalise advantages (per minibatch in PPO, per agent over the batch in HAPPO)"""
    clip_coef: float = 0.2
    """surrogate clipping epsilon"""
    clip_vloss: bool = True
    """clip the value loss around the rollout's values"""
    ent_coef: float = 0.01
    """entropy bonus coefficient"""
    vf_coef: float = 0.5
    """value loss coefficient"""
    max_grad_norm: float = 0.5
    """global gradient norm clip"""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """hidden layers of the actor(s) and of the critic"""
    activation: str = "tanh"
    """hidden-layer activation: tanh (CleanRL) or relu"""
    norm_obs: bool = True
    """normalise observations by their running mean and standard deviation"""
    norm_reward: bool = True
    """scale rewards by the running standard deviation of the discounted return"""
    first_replication: int = 10_000
    """replication index (env seed) of the first training episode"""
    init_action_std: float = 0.25
    """initial standard deviation of a continuous action, as a share of its range"""
    recurrent: bool = False
    """give actor and critic a GRU memory over the epochs of an episode (non-stationary demand)"""
    recurrent_size: int = 32
    """units of each GRU memory"""

    def __post_init__(self) -> None:
        self.hidden_sizes = tuple(int(h) for h in self.hidden_sizes)
        for name in COUNTS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if not 0.0 <= self.gamma <= 1.0 or not 0.0 <= self.gae_lambda <= 1.0:
            raise ValueError(
                f"gamma and gae_lambda must be in [0, 1], got {self.gamma}, {self.gae_lambda}"
            )
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        if self.activation not in ("tanh", "relu"):
            raise ValueError(f"activation must be tanh or relu, got {self.activation!r}")
        if not 0.0 < self.init_action_std <= 1.0:
            raise ValueError(f"init_action_std must be in (0, 1], got {self.init_action_std}")

    def to_dict(self) -> dict[str, Any]:
        """The fields as JSON data (``hidden_sizes`` as a list), for ``run.json`` and checkpoints."""
        out = asdict(self)
        out["hidden_sizes"] = list(self.hidden_sizes)
        return out
