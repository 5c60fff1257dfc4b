"""The one scenario editor: overrides applied to a validated scenario give a new, validated one.

Every command changes a scenario here: ``twin.run --agent``, ``twin.compare`` variants and sweeps
(and study files), the tuned scenario that ``twin.tune`` evaluates and writes, and the learning
nodes of ``twin.train`` and :mod:`twin.rl.env`. :func:`edit` takes a scenario and overrides (text
in the grammar of :mod:`twin.scenario.overrides`, or :class:`Override` objects from
:func:`assign`, :func:`setting`, :func:`agent_option`) and returns a new scenario, validated like a
file: a bad value gets the usual one-line message with its YAML path. It edits the plain data the
scenario was read from (``Scenario._data``), so a scenario written back to YAML stays as small as
the user's file, and validates the result with the same source (relative demand files keep
resolving). :func:`edit_data` does the same on plain data (a study's ``scenario=FILE`` swap, the
file the tuner writes).

Deciding for a target with a new agent takes its nodes out of the entries that held them (their
per-node parameters go with them; an entry left empty goes) and adds one entry for the targets at
the end. In a multi-SKU scenario a target may be a location (all its stock points), a tier or a
stock point ``W/P``.

Unknown names in a path raise a :class:`~entities.errors.ScenarioError` naming the override and the
closest names (``difflib``)::

    hmarl.yaml: override 'nodes.store_9.capacity=400': 'store_9' is not a node; did you mean
    'store_1'?

>>> from twin.scenario import load_scenario
>>> base = load_scenario("scenarios/hmarl_3store.yaml")
>>> what_if = edit(base, "agents.warehouse_1=s_S:s=522,S=534", "periods=180")
>>> [(a.kind, a.nodes) for a in what_if.agents][-1], what_if.periods, base.periods
(('s_S', ['warehouse_1']), 180, 365)
"""

from __future__ import annotations

import copy
import typing
from collections.abc import Collection, Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from agents import registry
from agents.named import named
from entities.distributions import KINDS, Distribution
from entities.errors import ScenarioError
from twin.scenario.errors import suggest
from twin.scenario.load import read_yaml, scenario_from_dict
from twin.scenario.overrides import (
    AGENT_SPEC,
    AGENTS,
    HEADS,
    SWAP,
    Assignment,
    Component,
    Override,
    agent_option,
    assign,
    parse_all,
    parse_override,
    parse_value,
    setting,
    split_overrides,
    split_values,
    starts_path,
)
from twin.scenario.schema import LaneConfig, NodeConfig, Scenario
from twin.scenario.skus import stock_view

__all__ = [
    "HEADS",
    "SWAP",
    "Assignment",
    "Component",
    "Override",
    "agent_option",
    "assign",
    "edit",
    "edit_data",
    "parse_override",
    "parse_value",
    "setting",
    "source_data",
    "split_overrides",
    "split_values",
    "starts_path",
]


# --------------------------------------------------------------------------------------------------
# Editing.


def source_data(scenario: Scenario) -> dict[str, Any]:
    """A copy of the plain data ``scenario`` was validated from (``Scenario._data``), or, for a
    scenario made another way (``model_copy``, a stock-point view), its resolved data."""
    return copy.deepcopy(_own_data(scenario))


def _own_data(scenario: Scenario) -> dict[str, Any]:
    """:func:`source_data` without the copy (the caller must not modify it)."""
    data, fields_validated = scenario._data, scenario._data_fields
    if (
        not isinstance(data, dict)
        or fields_validated is None
        or fields_validated.keys() != scenario.__dict__.keys()
        or any(scenario.__dict__[k] is not v for k, v in fields_validated.items())
    ):
        return scenario.to_yaml_dict()
    return data


def edit(scenario: Scenario, *overrides: str | Override, base_dir: str | Path = ".") -> Scenario:
    """``scenario`` with ``overrides`` applied in order, validated (with the scenario's source).

    A ``scenario=FILE`` override (``FILE`` relative to ``base_dir``) first replaces the data.
    """
    if not overrides:
        return scenario
    data, source = edit_data(_own_data(scenario), overrides, source=scenario.source, base_dir=base_dir)
    return scenario_from_dict(data, source=source)


def edit_data(
    data: Mapping[str, Any],
    overrides: Sequence[str | Override],
    *,
    source: str = "<scenario>",
    base_dir: str | Path = ".",
    defaults: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], str]:
    """Apply ``overrides`` in order to plain scenario ``data``; return ``(data, source)``.

    A ``scenario=FILE`` override (at most one; ``FILE`` relative to ``base_dir``) first replaces
    the data and the source; then ``defaults`` (top-level keys such as a study's ``periods``) are
    merged, then the other overrides are applied. The input is not modified; the result is not
    validated (``scenario_from_dict(data, source=source)`` does that).
    """
    parsed = parse_all(overrides, source)
    swaps = [o for o in parsed if o.head == SWAP]
    if len(swaps) > 1:
        raise ScenarioError(
            f"{source}: more than one scenario=FILE override: {', '.join(repr(o.text) for o in swaps)}"
        )
    out: Any = copy.deepcopy(dict(data))
    if swaps:
        swap = swaps[0]
        if len(swap.path) > 1 or swap.path[0].key is not None or not swap.value:
            raise ScenarioError(f"{swap.where(source)}: expected scenario=FILE.yaml")
        path = Path(base_dir) / str(swap.value)
        out = read_yaml(path)
        source = str(path)
        if not isinstance(out, dict):
            raise ScenarioError(f"{source}: a scenario must be a YAML mapping")
    out.update(copy.deepcopy(dict(defaults or {})))
    for o in parsed:
        if o.head != SWAP:
            _apply(out, o, source)
    return out, source


def _apply(data: dict[str, Any], override: Override, source: str) -> None:
    """Apply one override to ``data`` in place."""
    where = override.where(source)
    head = override.path[0]
    if head.name == "nodes":
        _node(data, override, where)
    elif head.name == "lanes":
        _lane(data, override, where)
    elif head.name == AGENTS:
        _agent(data, override, where, source)
    elif head.name in Scenario.model_fields:
        _set_field(data, Scenario, override.path, override.value, where, "")
    else:
        raise ScenarioError(
            f"{where}: {head.name!r} is not a known key{suggest(head.name, list(HEADS))} "
            f"(paths begin with: {', '.join(HEADS)})"
        )


# -- fields ----------------------------------------------------------------------------------------


def _names(choices: Sequence[str]) -> str:
    return ", ".join(choices) if len(choices) <= 12 else ", ".join(choices[:12]) + ", ..."


def _is_distribution(annotation: Any) -> bool:
    if annotation is Distribution:
        return True
    return any(_is_distribution(a) for a in typing.get_args(annotation))


def _model_of(annotation: Any) -> type[BaseModel] | None:
    candidates = [annotation, *typing.get_args(annotation)]
    for a in candidates:
        if isinstance(a, type) and issubclass(a, BaseModel):
            return a
    return None


def _is_mapping(annotation: Any) -> bool:
    return typing.get_origin(annotation) is dict or any(
        typing.get_origin(a) is dict for a in typing.get_args(annotation)
    )


def _distribution_params(dist: str) -> list[str]:
    cls = KINDS[dist]
    return ["mean" if f.name == "mean_" else f.name for f in fields(cls)]


def _distribution(value: Any, where: str) -> Any:
    """A whole distribution: text ``poisson:mean=3`` is ``{dist: poisson, mean: 3}``."""
    if not isinstance(value, str):
        return value
    try:
        dist, params = named(value, what="distribution")
    except ValueError as exc:
        raise ScenarioError(f"{where}: {exc}") from None
    return {"dist": dist, **params}


def _set_distribution(
    container: dict[str, Any], name: str, rest: Sequence[Component], value: Any, where: str, here: str
) -> None:
    spec = container.get(name)
    whole = f"{here}=poisson:mean=3"
    if spec is None:
        raise ScenarioError(f"{where}: {here} is not set; give the whole distribution, e.g. {whole}")
    if isinstance(spec, int | float) and not isinstance(spec, bool):
        spec = {"dist": "constant", "value": spec}
    if not isinstance(spec, dict):
        raise ScenarioError(f"{where}: {here} is {spec!r}, not a distribution mapping")
    param = rest[0]
    if len(rest) > 1 or param.key is not None:
        raise ScenarioError(f"{where}: {here}.{param.name} is a number, not a mapping")
    dist = spec.get("dist")
    if dist in KINDS:
        allowed = ["dist", *_distribution_params(dist)]
        if param.name not in allowed:
            raise ScenarioError(
                f"{where}: {dist} has no parameter {param.name!r}{suggest(param.name, allowed)} "
                f"(its parameters: {', '.join(allowed[1:])}); to change the distribution, give "
                f"it whole, e.g. {whole}"
            )
    container[name] = {**spec, param.name: value}


def _set_field(
    container: dict[str, Any],
    model: type[BaseModel],
    path: Sequence[Component],
    value: Any,
    where: str,
    prefix: str,
) -> None:
    """Set ``path`` in ``container`` (data of ``model``), checking names against the schema."""
    first, rest = path[0], path[1:]
    by_name = {(f.alias or n): f for n, f in model.model_fields.items()}
    here = f"{prefix}.{first.name}" if prefix else first.name
    if first.name not in by_name:
        choices = list(by_name)
        raise ScenarioError(
            f"{where}: {here!r} is not a known key{suggest(first.name, choices)} "
            f"(keys: {_names(choices)})"
        )
    if first.key is not None:
        raise ScenarioError(f"{where}: {here} is not a list; drop [{first.key}]")
    annotation = by_name[first.name].annotation
    if not rest:
        container[first.name] = _distribution(value, where) if _is_distribution(annotation) else value
        return
    if _is_distribution(annotation):
        _set_distribution(container, first.name, rest, value, where, here)
        return
    sub = _model_of(annotation)
    current = container.get(first.name)
    if current is None:
        current = {}
    if not isinstance(current, dict):
        raise ScenarioError(f"{where}: {here} is {current!r}, not a mapping")
    if sub is not None:
        _set_field(current, sub, rest, value, where, here)
    elif _is_mapping(annotation):
        if len(rest) > 1 or rest[0].key is not None:
            raise ScenarioError(f"{where}: {here}.{rest[0].name} is a value, not a mapping")
        current[rest[0].name] = value
    else:
        raise ScenarioError(f"{where}: {here} is a value, not a mapping")
    container[first.name] = current


# -- nodes and lanes -------------------------------------------------------------------------------


def _collection_key(override: Override, where: str, example: str) -> str:
    key = override.path[0].key
    if key is None:
        raise ScenarioError(f"{where}: {override.head} needs an id, e.g. {example}")
    return key


def _node(data: dict[str, Any], override: Override, where: str) -> None:
    node_id = _collection_key(override, where, "nodes.S1.capacity=400")
    rest = override.path[1:]
    nodes = [n for n in data.get("nodes") or [] if isinstance(n, dict)]
    ids = [str(n.get("id")) for n in nodes]
    if node_id not in ids:
        raise ScenarioError(f"{where}: {node_id!r} is not a node{suggest(node_id, ids)}")
    if not rest:
        raise ScenarioError(
            f"{where}: name a field of node {node_id!r}, e.g. nodes.{node_id}.holding_cost=0.5"
        )
    _set_field(nodes[ids.index(node_id)], NodeConfig, rest, override.value, where, f"nodes[{node_id}]")


def _lane(data: dict[str, Any], override: Override, where: str) -> None:
    key = _collection_key(override, where, "lanes[W1->S1].lead_time=2")
    rest = override.path[1:]
    lanes = [ln for ln in data.get("lanes") or [] if isinstance(ln, dict)]
    ids = [f"{ln.get('from')}->{ln.get('to')}" for ln in lanes]
    if key not in ids:
        shape = "" if "->" in key else " (lanes are addressed FROM->TO)"
        raise ScenarioError(f"{where}: {key!r} is not a lane{suggest(key, ids)}{shape}")
    if not rest:
        raise ScenarioError(f"{where}: name a field of lane {key!r}, e.g. lanes[{key}].lead_time=2")
    _set_field(lanes[ids.index(key)], LaneConfig, rest, override.value, where, f"lanes[{key}]")


# -- agents ----------------------------------------------------------------------------------------


def _tier(node: dict[str, Any]) -> str:
    return str(node.get("tier") or node.get("kind"))


def _members(data: dict[str, Any], agent: dict[str, Any]) -> list[str]:
    if agent.get("nodes") is not None:
        return [str(n) for n in agent["nodes"]]
    return [
        str(n.get("id"))
        for n in data.get("nodes") or []
        if isinstance(n, dict) and _tier(n) == agent.get("tier")
    ]


def _targets(key: str, choices: Sequence[str]) -> list[str]:
    """The targets named by an ``agents[...]`` key: itself if it is a name, else its ``,`` parts."""
    if key in choices:
        return [key]
    return [t.strip() for t in key.split(",") if t.strip()]


def _select(data: dict[str, Any], targets: Sequence[str], where: str) -> list[str]:
    """Node ids of ``targets`` (node ids or tiers) of a single-SKU scenario, in target order."""
    nodes = [n for n in data.get("nodes") or [] if isinstance(n, dict)]
    ids = [str(n.get("id")) for n in nodes]
    tiers = list(dict.fromkeys(_tier(n) for n in nodes))
    selected: list[str] = []
    for target in targets:
        if target in ids:
            found = [target]
        elif target in tiers:
            found = [str(n.get("id")) for n in nodes if _tier(n) == target]
        else:
            raise ScenarioError(
                f"{where}: {target!r} is not a node or tier{suggest(target, ids + tiers)}"
            )
        selected += [n for n in found if n not in selected]
    return selected


def _check_kind(kind: str, where: str) -> None:
    try:
        registry.resolve(kind)
    except registry.UnknownAgentError as exc:
        raise ScenarioError(f"{where}: {exc}") from None


def _agent(data: dict[str, Any], override: Override, where: str, source: str) -> None:
    key = _collection_key(override, where, f"agents.W1={AGENT_SPEC}")
    rest = override.path[1:]
    if not rest:  # agents.TARGET=KIND[:k=v,...]
        assignment = override.value
        if not isinstance(assignment, Assignment):
            raise ScenarioError(f"{where}: expected agents.{key}={AGENT_SPEC}")
        _check_kind(assignment.kind, where)
        _assign(data, key, assignment.kind, assignment.params, where, source)
        return
    # agents.TARGET.PARAM[.NODE]=VALUE: change one parameter of the agent deciding for TARGET.
    if len(rest) > 2 or any(c.key is not None for c in rest):
        raise ScenarioError(
            f"{where}: expected agents.{key}.PARAM=VALUE or agents.{key}.PARAM.NODE=VALUE"
        )
    param = rest[0].name
    if param in ("kind", "nodes", "tier", "params", "sku"):
        raise ScenarioError(f"{where}: to change the agent, write agents.{key}={AGENT_SPEC}")
    selected = _select(data, [key], where)
    agents = [a for a in data.get(AGENTS) or [] if isinstance(a, dict)]
    holders = [a for a in agents if set(_members(data, a)) & set(selected)]
    if not holders:
        raise ScenarioError(f"{where}: no agent decides for {key!r}")
    if len(holders) > 1 or not set(selected) <= set(_members(data, holders[0])):
        raise ScenarioError(
            f"{where}: the nodes of {key!r} are decided by different agents; set the parameter per node"
        )
    holder = holders[0]
    params = dict(holder.get("params") or {})
    value: Any = override.value
    if len(rest) == 2:
        node = rest[1].name
        current = params.get(param)
        if not isinstance(current, dict):
            raise ScenarioError(
                f"{where}: {param} of {holder.get('kind')} is {current!r}, not a per-node mapping; "
                f"set it whole with agents.{key}.{param}=VALUE"
            )
        if node not in selected:
            raise ScenarioError(
                f"{where}: {node!r} is not decided through {key!r}{suggest(node, selected)}"
            )
        value = {**current, node: value}
    params[param] = value
    if set(_members(data, holder)) == set(selected):  # the whole entry: change it in place
        index = next(i for i, a in enumerate(data[AGENTS]) if a is holder)
        data[AGENTS][index] = {**holder, "params": params}
        return
    ids = [str(n.get("id")) for n in data.get("nodes") or [] if isinstance(n, dict)]
    kept = {k: _per_node(v, ids, selected) for k, v in params.items()}
    _assign(data, key, str(holder.get("kind")), kept, where, source)


def _per_node(value: Any, ids: Sequence[str], keep: Collection[str]) -> Any:
    """A per-node parameter (a mapping keyed by node ids) restricted to the nodes in ``keep``."""
    if isinstance(value, dict) and set(value) <= set(ids):
        return {n: x for n, x in value.items() if n in keep}
    return value


def _assign(
    data: dict[str, Any], key: str, kind: str, params: Mapping[str, Any], where: str, source: str
) -> None:
    """Decide for the targets of ``key`` with a new entry (see the module docstring)."""
    if data.get("skus"):
        _assign_stock_points(data, key, kind, params, where, source)
        return
    nodes = [n for n in data.get("nodes") or [] if isinstance(n, dict)]
    ids = [str(n.get("id")) for n in nodes]
    selected = _select(data, _targets(key, ids + [_tier(n) for n in nodes]), where)
    agents: list[Any] = []
    for a in data.get(AGENTS) or []:
        if not isinstance(a, dict):
            agents.append(a)
            continue
        members = _members(data, a)
        remaining = [m for m in members if m not in selected]
        if remaining == members:
            agents.append(a)
        elif remaining:
            others = set(ids) - set(selected)
            kept = {k: _per_node(v, ids, others) for k, v in (a.get("params") or {}).items()}
            agents.append(
                {k: v for k, v in a.items() if k != "tier"} | {"nodes": remaining, "params": kept}
            )
    agents.append({"nodes": selected, "kind": kind, "params": dict(params)})
    data[AGENTS] = agents


def _assign_stock_points(
    data: dict[str, Any], key: str, kind: str, params: Mapping[str, Any], where: str, source: str
) -> None:
    """:func:`_assign` in a multi-SKU scenario: a target is a location (all its stock points), a
    tier or one stock point (``W/P``). The entries are rewritten on stock points: those that held
    a selected stock point keep the others (and their per-node params)."""
    view = stock_view(scenario_from_dict(data, source=source))
    points = [n.id for n in view.nodes]
    locations = list(dict.fromkeys(view.stock_point(p)[0] for p in points))
    tiers = list(dict.fromkeys(n.tier_name for n in view.nodes))
    selected: list[str] = []
    for target in _targets(key, points + locations + tiers):
        if target in points:
            found = [target]
        elif target in locations:
            found = [p for p in points if view.stock_point(p)[0] == target]
        elif target in tiers:
            found = [n.id for n in view.nodes if n.tier_name == target]
        else:
            raise ScenarioError(
                f"{where}: {target!r} is not a node, stock point or tier"
                f"{suggest(target, [*locations, *points, *tiers])}"
            )
        selected += [p for p in found if p not in selected]
    agents: list[Any] = []
    for original, a in zip(data.get(AGENTS) or [], view.agents, strict=True):
        members = list(a.nodes or [])
        remaining = [m for m in members if m not in selected]
        if remaining == members:
            agents.append(original)
        elif remaining:
            kept = {k: _per_node(v, members, remaining) for k, v in a.params.items()}
            agents.append({"nodes": remaining, "kind": a.kind, "params": kept})
    agents.append({"nodes": selected, "kind": kind, "params": dict(params)})
    data[AGENTS] = agents
