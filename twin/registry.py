"""Agent registry: kinds by name with lazy ``"module:Class"`` entry points (the Gymnasium habit).

``register("s_S", "agents.rules:SSPolicy")`` adds a kind; ``make("s_S", s=10, S=40)`` imports the
module only then and constructs the agent, whose constructor validates its own params. Third-party
packages add kinds through the ``twin.agents`` entry-point group (``name = "pkg.module:Class"``).
Unknown names raise :class:`~twin.errors.UnknownAgentError` with "did you mean" suggestions.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from typing import Any

from twin.errors import UnknownAgentError

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
    "hmarl_warehouse": "agents.rules:DaysOfCoverPolicy",
    "hmarl_supplier": "agents.rules:HmarlSupplierPolicy",
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
        raise UnknownAgentError(f"unknown agent kind {name!r}{hint} (known: "
                                f"{', '.join(sorted(_REGISTRY))})")
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


def validate(name: str, params: dict[str, Any], nodes: Sequence[str]) -> Any:
    """Construct the agent and check it against the nodes it will decide for."""
    agent = make(name, **params)
    check = getattr(agent, "validate_nodes", None)
    if callable(check):
        check(list(nodes))
    return agent


for _name, _target in BUILTIN.items():
    register(_name, _target)
