"""Gymnasium IDs of the shipped RL scenarios: ``twin/<scenario>-v0``.

``gymnasium.make("twin/liu_serial-v0")`` makes the event-twin Gymnasium environment
(:func:`twin.rl.env.gym_env`) with the scenario's usual learning setup (:data:`SHIPPED`; any
option may be given as a keyword); ``gymnasium.make_vec("twin/liu_serial-v0", num_envs=B,
vectorization_mode="vector_entry_point")`` returns the vector twin's
:class:`~twin.rl.vector_env.TwinVectorEnv` (``device=`` for torch tensors inside). A scenario the
vector twin cannot express falls back to a ``SyncVectorEnv`` of event-twin environments, with a
warning. The IDs are registered on ``import twin.rl`` (or ask for ``"twin.rl:twin/<id>"``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import gymnasium

from twin.rl.env import gym_env
from twin.rl.vector_env import TwinVectorEnv
from twin.rl.vector_plan import VectorUnsupported

__all__ = ["SHIPPED", "make_env", "make_vector_env", "register_envs", "scenario_path"]

log = logging.getLogger(__name__)

SHIPPED: dict[str, dict[str, Any]] = {
    "serial_3stage": {
        "targets": ["stage1", "stage2", "stage3"],
        "observation": "default",
        "action": "order_up_to:low=0,high=40,position=echelon",
    },
    "hmarl_3store": {"targets": "store", "observation": "hmarl", "action": "hmarl_multiples"},
    "liu_serial": {
        "targets": ["retailer", "distributor", "manufacturer"],
        "observation": "liu",
        "action": "integer:n=20",
    },
    "liu_net_2x3": {
        "targets": ["retailer", "distributor", "manufacturer"],
        "observation": "liu",
        "action": "integer:n=4",
    },
}
"""The learning setup of each shipped RL scenario (keywords of :func:`twin.rl.env.parallel_env`)."""


def scenario_path(name: str) -> Path:
    """The shipped scenario file ``scenarios/<name>.yaml`` of this checkout."""
    path = Path(__file__).resolve().parents[2] / "scenarios" / f"{name}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"no shipped scenario {path} (install the project from its checkout)")
    return path


def make_env(*, scenario: str, **options: Any) -> gymnasium.Env:
    """``gymnasium.make`` entry point: the event-twin Gymnasium environment."""
    return gym_env(scenario, **options)


def make_vector_env(
    *, scenario: str, num_envs: int = 1, fallback: bool = True, **options: Any
) -> gymnasium.vector.VectorEnv:
    """``gymnasium.make_vec`` entry point: the vector twin, or (``fallback``) a ``SyncVectorEnv``
    of event-twin environments when the vector twin cannot express the scenario."""
    try:
        return TwinVectorEnv(scenario, num_envs, **options)
    except VectorUnsupported as exc:
        if not fallback:
            raise
        log.warning("%s; using %d event-twin environments", exc, num_envs)
        options.pop("device", None)
        mode = options.pop("autoreset_mode", None)
        kwargs = {} if mode is None else {"autoreset_mode": mode}
        return gymnasium.vector.SyncVectorEnv(
            [lambda: gym_env(scenario, **options) for _ in range(num_envs)], **kwargs
        )


def register_envs() -> None:
    """Register ``twin/<name>-v0`` for every shipped RL scenario (again: no effect)."""
    for name, options in SHIPPED.items():
        env_id = f"twin/{name}-v0"
        if env_id in gymnasium.registry:
            continue
        gymnasium.register(
            id=env_id,
            entry_point="twin.rl.registration:make_env",
            vector_entry_point="twin.rl.registration:make_vector_env",
            kwargs={"scenario": str(scenario_path(name)), **options},
        )
