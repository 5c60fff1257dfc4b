"""Reading the options of a training command: the scenario a run learns on, the learning nodes'
spaces and the trainer's hyper-parameters, each checked before anything is built.

``python -m twin.train`` and ``python -m twin.meta`` read their common options here, so that the
two commands accept the same values and say the same thing about a wrong one (a
:class:`~twin.rl.train.TrainError` or :class:`~entities.errors.ScenarioError`: one line naming
the option or file, the field and the value).
"""

from __future__ import annotations

import argparse
import difflib
import math
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from agents.named import named, parse_params
from entities.errors import ScenarioError
from twin.rl.env import learners_untrained
from twin.rl.train import TrainError
from twin.scenario import Scenario, read_yaml, scenario_from_dict
from twin.scenario.edit import edit_data


def add_learner_options(p: argparse.ArgumentParser) -> None:
    """Who learns and through what: ``--targets``, ``--observation``, ``--action``,
    ``--reward-scope``."""
    p.add_argument(
        "--targets",
        help="learning nodes: node, tier or comma-separated list "
        "(default: the scenario's ppo/happo entries)",
    )
    p.add_argument("--observation", help="observation builder, e.g. hmarl or liu:scale=10")
    p.add_argument("--action", help="action map, e.g. hmarl_multiples or integer:n=20")
    p.add_argument(
        "--reward-scope", choices=("own", "team", "mix"), help="override the scenario's reward.scope"
    )


def add_scenario_options(p: argparse.ArgumentParser, *, scenarios: str = "the scenario") -> None:
    """What the run learns on and how it is evaluated: ``--seed``, ``--periods``, ``--override``,
    ``--eval-replications``, ``--eval-every``."""
    p.add_argument("--seed", type=int, default=1, help="seed (torch, sampling)")
    p.add_argument("--periods", type=int, help=f"override {scenarios}'s periods (episode length)")
    p.add_argument(
        "--override",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help=f"change {scenarios} for this run, in the grammar of twin.compare's variants, e.g. "
        "'nodes.retailer.demand={dist: merton}' (repeatable)",
    )
    p.add_argument(
        "--eval-replications",
        type=int,
        default=None,
        help="fixed evaluation replications 0..n-1 (default: min(5, scenario's))",
    )
    p.add_argument(
        "--eval-every", type=int, help="iterations between evaluations (default: a tenth of the run)"
    )


def add_machine_options(p: argparse.ArgumentParser) -> None:
    """Hyper-parameters and where the run computes: ``--set``, ``--device``, ``--twin``,
    ``--quiet``."""
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="trainer hyper-parameter, e.g. learning_rate=1e-4 (repeatable)",
    )
    p.add_argument(
        "--device",
        default="cpu",
        help="where the networks and the vector twin run: cpu (default), cuda, or auto "
        "(cuda if torch sees a CUDA device, else cpu)",
    )
    p.add_argument(
        "--twin",
        choices=("vector", "event"),
        default="vector",
        help="train on the vector twin (default; event-twin environments where it cannot "
        "express the scenario) or on event-twin environments",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def check_at_least(options: Iterable[tuple[str, int | None, int]]) -> None:
    """``(flag, value, low)``: each given value is at least ``low`` (TrainError otherwise)."""
    for flag, value, low in options:
        if value is not None and value < low:
            raise TrainError(f"{flag} must be >= {low}, got {value}")


def read_hyper_parameters(items: Sequence[str]) -> dict[str, Any]:
    """``--set NAME=VALUE`` (each may hold several, ``a=1,b=2``): values read as YAML scalars
    (:func:`agents.named.parse_params`; ``1e-4`` is a number); lists become tuples."""
    out: dict[str, Any] = {}
    for item in items:
        try:
            params = parse_params(item, what=f"--set {item!r}")
        except ValueError as exc:
            raise TrainError(str(exc)) from None
        if not params:
            raise TrainError(f"--set {item!r}: expected NAME=VALUE")
        out.update({k: tuple(v) if isinstance(v, list) else v for k, v in params.items()})
    return out


def read_reward_weights(text: str) -> dict[str, float]:
    """``--reward-weights NAME=W,...``: weights of ledger quantities (checked as a scenario's are)."""
    from reconciliation.rewards import check_weights

    try:
        weights = parse_params(text, what=f"--reward-weights {text!r}")
        if not weights:
            raise ValueError(f"--reward-weights {text!r}: expected NAME=WEIGHT,...")
        check_weights(weights)
    except ValueError as exc:
        message = str(exc)
        raise TrainError(
            message if message.startswith("--reward") else f"--reward-weights: {message}"
        ) from None
    return {k: float(v) for k, v in weights.items()}


def _typed(name: str, value: Any, hint: Any) -> Any:
    """``value`` as the type ``hint`` of the trainer's ``Args`` field ``name``; TrainError if not."""
    options = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        if value is None and type(None) in options:
            return None
        (hint,) = [a for a in options if a is not type(None)]
        return _typed(name, value, hint)
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise TrainError(f"--set {name}={value!r}: {name} is true or false")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise TrainError(f"--set {name}={value!r}: {name} is a whole number")
    if hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
        raise TrainError(f"--set {name}={value!r}: {name} is a finite number")
    if typing.get_origin(hint) is tuple:
        items = value if isinstance(value, tuple) else (value,)
        if items and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in items):
            return tuple(items)
        raise TrainError(f"--set {name}={value!r}: {name} is a list of whole numbers >= 1, e.g. [64,64]")
    return value


def check_hyper_parameters(
    algo: str, overrides: Mapping[str, Any], *, seed: int, timesteps: int
) -> None:
    """Check ``--set`` values against the fields of the trainer's ``Args`` (names, types and the
    trainer's own limits) before anything is created; imports the trainer (and torch)."""
    from agents.happo.trainer import Args as HAPPOArgs
    from agents.ppo.trainer import Args as PPOArgs

    Args: Any = PPOArgs if algo == "ppo" else HAPPOArgs
    hints = typing.get_type_hints(Args)
    values: dict[str, Any] = {"seed": seed, "total_timesteps": timesteps}
    for key, value in overrides.items():
        if key not in hints:
            close = difflib.get_close_matches(key, list(hints), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise TrainError(
                f"--set {key}: not a hyper-parameter of {algo}{hint} (known: {', '.join(hints)})"
            )
        values[key] = _typed(key, value, hints[key])
    try:
        Args(**values)
    except (TypeError, ValueError) as exc:
        raise TrainError(f"--set: {exc}") from None


def parse_hyper_parameters(
    items: Sequence[str], algo: str, *, seed: int, timesteps: int
) -> dict[str, Any]:
    """``--set`` items read (:func:`read_hyper_parameters`) and checked
    (:func:`check_hyper_parameters`)."""
    overrides = read_hyper_parameters(items)
    check_hyper_parameters(algo, overrides, seed=seed, timesteps=timesteps)
    return overrides


def training_scenario(
    path: str, *, overrides: Sequence[str], periods: int | None, reward_weights: str | None
) -> Scenario:
    """The scenario a run learns on: ``path`` with the ``--override`` edits, its learning agents
    marked untrained, ``--reward-weights`` and ``--periods`` (warm-up shortened to fit) applied;
    validated (ScenarioError names the file, the field and the value)."""
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: a scenario must be a YAML mapping")
    if overrides:
        data, _ = edit_data(data, list(overrides), source=path, base_dir=Path(path).parent)
    data = learners_untrained(data)
    if reward_weights is not None:
        data = {
            **data,
            "reward": {**(data.get("reward") or {}), "weights": read_reward_weights(reward_weights)},
        }
    if periods is not None:
        data = {
            **data,
            "periods": periods,
            "warmup_periods": min(int(data.get("warmup_periods", 0)), max(0, periods - 1)),
        }
    return scenario_from_dict(data, source=path)


def check_spaces(observation: str | None, action: str | None) -> None:
    """``--observation`` and ``--action``: known builders with valid parameters."""
    from agents.spaces import action_map, observation_builder

    for what, value, make in (
        ("observation", observation, observation_builder),
        ("action", action, action_map),
    ):
        if value is not None:
            try:
                name, params = named(value, what=what)
                make(name, **params)
            except (TypeError, ValueError) as exc:
                raise TrainError(f"--{what} {value!r}: {exc}") from None
