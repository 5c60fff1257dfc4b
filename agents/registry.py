"""Agent registry: kinds by name with lazy ``"module:Class"`` entry points (the Gymnasium habit).

``register("s_S", "agents.rules:SSPolicy")`` adds a kind; ``make("s_S", s=10, S=40)`` imports the
module only then and constructs the agent, whose constructor validates its own params. Third-party
packages add kinds through the ``twin.agents`` entry-point group (``name = "pkg.module:Class"``).
Unknown names raise :class:`~twin.errors.UnknownAgentError` with "did you mean" suggestions.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Mapping, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from agents.base import conform
from agents.named import named
from entities.errors import UnknownAgentError

_REGISTRY: dict[str, str | Callable[..., Any]] = {}
_ENTRY_POINTS_LOADED = False

BUILTIN = {
    "base_stock": "agents.rules:BaseStockPolicy",
    "echelon_base_stock": "agents.rules:EchelonBaseStockPolicy",
    "s_S": "agents.rules:SSPolicy",
    "r_Q": "agents.rules:RQPolicy",
    "periodic_review": "agents.rules:PeriodicReviewPolicy",
    "constant": "agents.rules:ConstantPolicy",
    "pass_through": "agents.rules:PassThroughPolicy",
    "adaptive_base_stock": "agents.rules:AdaptiveBaseStockPolicy",
    "hmarl_warehouse": "agents.rules:DaysOfCoverPolicy",
    "hmarl_supplier": "agents.rules:HmarlSupplierPolicy",
    "wagner_whitin": "agents.planners:WagnerWhitinPlanner",
    "silver_meal": "agents.planners:SilverMealPlanner",
    "ga": "agents.planners:GAPlanner",
    "dalsa": "agents.planners:DalsaPlanner",
    "hybrid": "agents.registry:_make_hybrid",
    "ppo": "agents.ppo.agent:PPOAgent",
    "happo": "agents.happo.agent:HAPPOAgent",
}


def register(name: str, entry_point: str | Callable[..., Any], *, override: bool = False) -> None:
    """Register an agent kind: ``entry_point`` is ``"module:Class"`` or a callable factory."""
    if isinstance(entry_point, str) and ":" not in entry_point:
        raise ValueError(f"entry point must look like 'module:Class', got {entry_point!r}")
    if name in _REGISTRY and not override and _REGISTRY[name] != entry_point:
        raise ValueError(f"agent kind {name!r} is already registered as {_REGISTRY[name]!r}")
    _REGISTRY[name] = entry_point


def _load_plugins() -> None:
    global _ENTRY_POINTS_LOADED
    if _ENTRY_POINTS_LOADED:
        return
    _ENTRY_POINTS_LOADED = True
    for ep in entry_points(group="twin.agents"):
        _REGISTRY.setdefault(ep.name, ep.value)


def available() -> list[str]:
    """Names of every registered agent kind, sorted."""
    _load_plugins()
    return sorted(_REGISTRY)


def resolve(name: str) -> Callable[..., Any]:
    """The class or factory registered as ``name`` (imports its module on first use)."""
    _load_plugins()
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=3)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise UnknownAgentError(
            f"unknown agent kind {name!r}{hint} (known: {', '.join(sorted(_REGISTRY))})"
        )
    target = _REGISTRY[name]
    if isinstance(target, str):
        module_name, _, attr = target.partition(":")
        target = getattr(importlib.import_module(module_name), attr)
    return target


def make(name: str, **params: Any) -> Any:
    """Construct an agent of kind ``name`` with keyword ``params``.

    Bad params raise ``ValueError`` (or ``TypeError`` for unknown keywords) from the agent itself.
    """
    factory = resolve(name)
    try:
        return factory(**params)
    except TypeError as exc:
        # Unknown or missing keyword: restate it with the accepted names.
        import inspect

        try:
            sig = inspect.signature(factory)
            accepted = [p for p in sig.parameters if p != "self"]
        except (TypeError, ValueError):
            raise exc from None
        raise TypeError(f"{exc}; accepted params: {', '.join(accepted) or 'none'}") from None


def _make_hybrid(*, proposal: Any, **params: Any) -> Any:
    """The ``hybrid`` kind: make the proposal agent, then wrap it in ``HybridPlanner``.

    ``proposal`` is ``{"kind": KIND, "params": {...}}`` (params optional) or the text
    ``"KIND[:key=value;...]"`` (:mod:`agents.named`; in ``--agent S1=hybrid:proposal=...`` the
    proposal's parameters are separated by ``;``, as commas separate the hybrid's own). The
    proposal agent is built with :func:`make` (so it may be any registered kind, PPO included) and
    ``params`` go to :class:`agents.planners.HybridPlanner`. Mistakes raise ``ValueError`` naming
    the value.
    """
    import inspect

    from agents.planners import HybridPlanner

    try:
        kind, inner = named(proposal, what="proposal", nested=True)
    except ValueError as exc:
        raise ValueError(f"{exc}; write {{kind: KIND, params: {{...}}}} or 'KIND[:k=v;...]'") from None
    signature = inspect.signature(HybridPlanner).parameters
    accepted = [p for p in signature if p != "proposal"]
    unknown = ", ".join(f"{k}={params[k]!r}" for k in sorted(set(params) - set(accepted)))
    missing = [
        p for p in accepted if signature[p].default is inspect.Parameter.empty and p not in params
    ]
    if unknown or missing:
        problem = f"unknown param(s) {unknown}" if unknown else f"missing param(s) {missing}"
        raise ValueError(f"hybrid: {problem}; accepted params: proposal, {', '.join(accepted)}")
    try:
        agent = make(kind, **dict(inner))
    except UnknownAgentError as exc:
        raise ValueError(f"proposal: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise ValueError(f"proposal ({kind}): {exc}") from None
    return HybridPlanner(proposal=agent, **params)


TRAINED_KINDS = ("ppo", "happo")
"""Kinds that decide with a trained policy: they need ``checkpoint`` (or ``untrained: true``)."""


def check_checkpoint(
    kind: str, checkpoint: Any, untrained: Any = False, *, required: bool = True
) -> None:
    """A learning agent's policy: a ``checkpoint`` that exists (``policy.pt`` or its folder), or
    (``required``: in a scenario) ``untrained: true`` asked for on purpose; never both. ValueError
    names the fix. Needs no torch: a mistyped checkpoint fails validation before torch loads."""
    if not isinstance(untrained, bool):
        raise ValueError(f"untrained must be true or false, got {untrained!r}")
    if checkpoint is None:
        if required and not untrained:
            raise ValueError(
                f"no checkpoint: a {kind} agent needs a trained policy, checkpoint: PATH (a "
                "policy.pt or its folder), or untrained: true to run a random network on purpose"
            )
        return
    if untrained:
        raise ValueError(f"untrained: true contradicts checkpoint {checkpoint!r}; give one of them")
    if not isinstance(checkpoint, str) or not checkpoint.strip():
        raise ValueError(f"checkpoint must be a file path, got {checkpoint!r}")
    path = Path(checkpoint)
    if path.is_dir():
        path = path / "policy.pt"
    if not path.is_file():
        raise ValueError(f"checkpoint {str(path)!r} does not exist")


def check(name: str, params: dict[str, Any], nodes: Sequence[str]) -> None:
    """Check ``params`` of kind ``name`` for ``nodes`` (scenario validation); raises ``ValueError``,
    ``TypeError`` or :class:`UnknownAgentError` naming the problem.

    A learning kind's policy (also as a ``hybrid`` proposal) is checked first
    (:func:`check_checkpoint`, without torch); then the agent is made, which for a learning kind
    loads torch and the checkpoint's metadata."""
    kind: Any = name
    own: Mapping[str, Any] = params
    if name == "hybrid" and "proposal" in params:
        proposal = params["proposal"]
        try:
            kind, own = named(proposal, what="proposal", nested=True)
        except ValueError:
            pass  # reported with its value when the hybrid is made (validate below)
    if kind in TRAINED_KINDS:
        check_checkpoint(str(kind), own.get("checkpoint"), own.get("untrained", False))
    validate(name, params, nodes)


def validate(name: str, params: dict[str, Any], nodes: Sequence[str]) -> Any:
    """Construct the agent and check it against the nodes it will decide for."""
    agent = conform(make(name, **params))
    agent.validate_nodes(list(nodes))
    return agent


for _name, _target in BUILTIN.items():
    register(_name, _target)
