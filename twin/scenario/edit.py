"""Path-addressed overrides of scenario data: what a what-if variant changes.

An override is ``PATH=VALUE``, applied to the plain data of a scenario file (as parsed from YAML,
before validation); the result is validated by :func:`twin.config.scenario_from_dict` afterwards,
so a bad value gets the usual message with its YAML path. Values are read as YAML scalars
(``3``, ``0.5``, ``lost``, ``null``) or flow collections (``{dist: poisson, mean: 3}``). Paths::

    scenario=OTHER.yaml                     swap the whole scenario file (applied first)
    periods=200                             a top-level key (also costs.in_transit_holding=sender,
                                            reward.weights.fill_rate=5, ...)
    nodes.S1.capacity=400                   a node field (nodes[S1].capacity for ids with dots)
    nodes.R2.demand.mean=60                 a field of a node's distribution (its YAML name)
    nodes.R2.demand={dist: poisson, mean: 60}
    lanes[W1->S2].lead_time.mean=3          a lane, addressed FROM->TO
    lanes[W1->S2].unit_cost=0.3
    agents.W1=s_S:s=600,S=1500              decide for a node or a tier with another agent
    agents.W1.s=550                         one parameter of the agent deciding for W1
    agents.store.base_stock_level.store_1=140   one node's entry of a per-node parameter

Unknown path components (a key, a node, a lane, a distribution parameter) raise a
:class:`~twin.errors.ScenarioError` naming the override and the closest names (``difflib``)::

    hmarl.yaml: override 'nodes.store_9.capacity=400': 'store_9' is not a node; did you mean
    'store_1'?

Several overrides in one text (``--variant NAME=...``) are separated by ``,`` or ``;``
(:func:`split_overrides`): a piece that does not begin with a scenario path continues the previous
override, so agent parameters keep their commas (``agents.W1=s_S:s=600,S=1500,periods=90`` is two
overrides).
"""

from __future__ import annotations

import copy
import difflib
import re
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from agents import registry
from entities.distributions import KINDS, Distribution
from entities.errors import ScenarioError
from twin.scenario.errors import suggest
from twin.scenario.load import read_yaml, scenario_from_dict
from twin.scenario.schema import LaneConfig, NodeConfig, Scenario
from twin.scenario.skus import stock_view

SWAP = "scenario"
COLLECTIONS = ("nodes", "lanes", "agents")
HEADS: tuple[str, ...] = (*Scenario.model_fields, SWAP)
"""Names an override path may begin with: the scenario's top-level keys and ``scenario``."""

_HEAD = re.compile(r"\s*([A-Za-z_]\w*)\s*(?:\[|\.|=)")
_OPEN, _CLOSE = "[{(", "]})"


@dataclass(frozen=True)
class Component:
    """One step of a path: ``name`` and, for ``name[key]``, the ``key``."""

    name: str
    key: str | None = None


@dataclass(frozen=True)
class Override:
    """A parsed ``PATH=VALUE`` (``text`` is the original, for messages)."""

    text: str
    path: tuple[Component, ...]
    value: Any
    value_text: str

    @property
    def head(self) -> str:
        return self.path[0].name


# --------------------------------------------------------------------------------------------------
# Parsing.


def _depth_split(text: str, separators: str) -> list[tuple[str, str]]:
    """Split at ``separators`` outside brackets; ``(piece, separator before it)`` pairs."""
    out: list[tuple[str, str]] = []
    depth, start, sep = 0, 0, ""
    for i, ch in enumerate(text):
        if ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth = max(0, depth - 1)
        elif ch in separators and depth == 0:
            out.append((text[start:i], sep))
            start, sep = i + 1, ch
    out.append((text[start:], sep))
    return out


def starts_path(text: str) -> bool:
    """True when ``text`` begins with an override path (``nodes.``, ``lanes[``, ``periods=``...)."""
    match = _HEAD.match(text)
    return match is not None and match.group(1) in HEADS


def split_overrides(text: str) -> list[str]:
    """Split ``OVERRIDE[,OVERRIDE...]`` (``,`` or ``;``) where a new override path begins.

    >>> split_overrides("agents.W1=s_S:s=600,S=1500;lanes[SUP->W1].lead_time=3,periods=90")
    ['agents.W1=s_S:s=600,S=1500', 'lanes[SUP->W1].lead_time=3', 'periods=90']
    """
    pieces: list[str] = []
    for piece, sep in _depth_split(text, ",;"):
        if pieces and not starts_path(piece):
            pieces[-1] += sep + piece
        else:
            pieces.append(piece)
    return [p.strip() for p in pieces if p.strip()]


def split_values(text: str) -> list[str]:
    """Split ``v1,v2,...`` at commas outside brackets (``{dist: poisson, mean: 3}`` is one)."""
    return [p.strip() for p, _ in _depth_split(text, ",")]


def parse_value(text: str, *, where: str = "value") -> Any:
    """A YAML scalar or flow collection; ScenarioError on invalid YAML."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ScenarioError(f"{where}: value {text!r} is not valid YAML ({problem})") from None


def _parse_path(text: str, where: str) -> tuple[Component, ...]:
    components: list[Component] = []
    i, n = 0, len(text)
    while i < n:
        j = i
        while j < n and text[j] not in ".[":
            j += 1
        name, key = text[i:j].strip(), None
        if j < n and text[j] == "[":
            close = text.find("]", j)
            if close < 0:
                raise ScenarioError(f"{where}: unclosed '[' in path {text!r}")
            key = text[j + 1 : close].strip()
            j = close + 1
            if not key:
                raise ScenarioError(f"{where}: empty [] in path {text!r}")
        if not name:
            raise ScenarioError(f"{where}: empty name in path {text!r}")
        components.append(Component(name, key))
        if j < n and text[j] != ".":
            raise ScenarioError(f"{where}: expected '.' after {text[i:j]!r} in path {text!r}")
        i = j + 1
        if j == n - 1:
            raise ScenarioError(f"{where}: path {text!r} ends with '.'")
    if not components:
        raise ScenarioError(f"{where}: empty path")
    return tuple(components)


def parse_override(text: str, *, where: str | None = None) -> Override:
    """Parse ``PATH=VALUE``; the value is read as YAML (kept as text for agent specs)."""
    where = where or f"override {text!r}"
    pieces = _depth_split(text, "=")
    if len(pieces) < 2 or not pieces[0][0].strip():
        raise ScenarioError(f"{where}: expected PATH=VALUE, e.g. nodes.S1.capacity=400")
    path_text = pieces[0][0].strip()
    value_text = text[len(pieces[0][0]) + 1 :].strip()
    path = _parse_path(path_text, where)
    value = value_text if path[0].name == "agents" else parse_value(value_text, where=where)
    return Override(text, path, value, value_text)


# --------------------------------------------------------------------------------------------------
# Applying.


def _hint(name: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else ""


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


def _set_distribution(
    container: dict[str, Any], name: str, rest: Sequence[Component], value: Any, where: str, here: str
) -> None:
    spec = container.get(name)
    whole = f"{here}={{dist: poisson, mean: 3}}"
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
                f"{where}: {dist} has no parameter {param.name!r}{_hint(param.name, allowed)} "
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
            f"{where}: {here!r} is not a known key{_hint(first.name, choices)} (keys: {_names(choices)})"
        )
    if first.key is not None:
        raise ScenarioError(f"{where}: {here} is not a list; drop [{first.key}]")
    annotation = by_name[first.name].annotation
    if not rest:
        container[first.name] = value
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


def _collection_key(override: Override, where: str, example: str) -> tuple[str, list[Component]]:
    first, rest = override.path[0], list(override.path[1:])
    if first.key is not None:
        return first.key, rest
    if not rest:
        raise ScenarioError(f"{where}: {first.name} needs an id, e.g. {example}")
    return rest[0].name, rest[1:]


def _node(data: dict[str, Any], override: Override, where: str) -> None:
    node_id, rest = _collection_key(override, where, "nodes.S1.capacity=400")
    nodes = [n for n in data.get("nodes") or [] if isinstance(n, dict)]
    ids = [str(n.get("id")) for n in nodes]
    if node_id not in ids:
        raise ScenarioError(f"{where}: {node_id!r} is not a node{_hint(node_id, ids)}")
    if not rest:
        raise ScenarioError(
            f"{where}: name a field of node {node_id!r}, e.g. nodes.{node_id}.holding_cost=0.5"
        )
    _set_field(nodes[ids.index(node_id)], NodeConfig, rest, override.value, where, f"nodes[{node_id}]")


def _lane(data: dict[str, Any], override: Override, where: str) -> None:
    key, rest = _collection_key(override, where, "lanes[W1->S1].lead_time=2")
    key = "->".join(part.strip() for part in key.split("->"))
    lanes = [ln for ln in data.get("lanes") or [] if isinstance(ln, dict)]
    ids = [f"{ln.get('from')}->{ln.get('to')}" for ln in lanes]
    if key not in ids:
        shape = "" if "->" in key else " (lanes are addressed FROM->TO)"
        raise ScenarioError(f"{where}: {key!r} is not a lane{_hint(key, ids)}{shape}")
    if not rest:
        raise ScenarioError(f"{where}: name a field of lane {key!r}, e.g. lanes[{key}].lead_time=2")
    _set_field(lanes[ids.index(key)], LaneConfig, rest, override.value, where, f"lanes[{key}]")


def _members(data: dict[str, Any], agent: dict[str, Any]) -> list[str]:
    if agent.get("nodes") is not None:
        return [str(n) for n in agent["nodes"]]
    return [
        str(n.get("id"))
        for n in data.get("nodes") or []
        if isinstance(n, dict) and (n.get("tier") or n.get("kind")) == agent.get("tier")
    ]


def _agent(data: dict[str, Any], override: Override, where: str, source: str) -> dict[str, Any]:
    target, rest = _collection_key(override, where, "agents.W1=s_S:s=600,S=1500")
    nodes = [n for n in data.get("nodes") or [] if isinstance(n, dict)]
    ids = [str(n.get("id")) for n in nodes]
    tiers = list(dict.fromkeys(str(n.get("tier") or n.get("kind")) for n in nodes))
    skus = [str(k.get("id")) for k in data.get("skus") or [] if isinstance(k, dict)]
    if skus and not rest:  # multi-SKU: agents.W/P=KIND decides one stock point (issue 6)
        ids += [f"{n.get('id')}/{k}" for n in nodes for k in n.get("skus") or skus]
    if target in ids:
        selected = [target]
    elif target in tiers:
        selected = [str(n.get("id")) for n in nodes if (n.get("tier") or n.get("kind")) == target]
    else:
        raise ScenarioError(f"{where}: {target!r} is not a node or tier{_hint(target, ids + tiers)}")
    if not rest:  # agents.TARGET=KIND[:k=v,...]
        _, kind, params = parse_agent_override(f"{target}={override.value_text}")
        if not kind:
            raise ScenarioError(f"{where}: expected agents.{target}=KIND[:key=value,...]")
        try:
            registry.resolve(kind)
        except registry.UnknownAgentError as exc:
            raise ScenarioError(f"{where}: {exc}") from None
        return apply_agent_override(data, target, kind, params, source=source)
    # agents.TARGET.PARAM[.NODE]=VALUE: change one parameter of the agent deciding for TARGET.
    if len(rest) > 2 or any(c.key is not None for c in rest):
        raise ScenarioError(
            f"{where}: expected agents.{target}.PARAM=VALUE or agents.{target}.PARAM.NODE=VALUE"
        )
    param = rest[0].name
    if param in ("kind", "nodes", "tier", "params"):
        raise ScenarioError(f"{where}: to change the agent, write agents.{target}=KIND[:k=v,...]")
    agents = [a for a in data.get("agents") or [] if isinstance(a, dict)]
    holders = [a for a in agents if set(_members(data, a)) & set(selected)]
    if not holders:
        raise ScenarioError(f"{where}: no agent decides for {target!r}")
    if len(holders) > 1 or not set(selected) <= set(_members(data, holders[0])):
        raise ScenarioError(
            f"{where}: the nodes of {target!r} are decided by different agents; "
            "set the parameter per node"
        )
    holder = holders[0]
    params = dict(holder.get("params") or {})
    value: Any = parse_value(override.value_text, where=where)
    if len(rest) == 2:
        node = rest[1].name
        current = params.get(param)
        if not isinstance(current, dict):
            raise ScenarioError(
                f"{where}: {param} of {holder.get('kind')} is {current!r}, not a "
                "per-node mapping; set it whole with "
                f"agents.{target}.{param}=VALUE"
            )
        if node not in selected:
            raise ScenarioError(
                f"{where}: {node!r} is not decided through {target!r}{_hint(node, selected)}"
            )
        value = {**current, node: value}
    params[param] = value
    if set(_members(data, holder)) == set(selected):  # the whole entry: change it in place
        holder_index = next(i for i, a in enumerate(data["agents"]) if a is holder)
        data["agents"][holder_index] = {**holder, "params": params}
        return data
    kept = {
        k: (
            {n: x for n, x in v.items() if n in selected}
            if isinstance(v, dict) and set(v) <= set(ids)
            else v
        )
        for k, v in params.items()
    }
    return apply_agent_override(data, target, str(holder.get("kind")), kept, source=source)


def apply_override(
    data: dict[str, Any], override: Override | str, *, source: str = "<scenario>"
) -> dict[str, Any]:
    """Return a copy of scenario ``data`` with one override applied (not validated).

    ``scenario=...`` (a file swap) is handled by :func:`apply_overrides`.
    """
    if isinstance(override, str):
        override = parse_override(override, where=f"{source}: override {override!r}")
    where = f"{source}: override {override.text!r}"
    data = copy.deepcopy(data)
    head = override.path[0]
    if head.name == SWAP:
        raise ScenarioError(f"{where}: scenario=FILE swaps the whole file; use apply_overrides")
    if head.name == "nodes":
        _node(data, override, where)
    elif head.name == "lanes":
        _lane(data, override, where)
    elif head.name == "agents":
        data = _agent(data, override, where, source)
    elif head.name in Scenario.model_fields:
        _set_field(data, Scenario, override.path, override.value, where, "")
    else:
        raise ScenarioError(
            f"{where}: {head.name!r} is not a known key{_hint(head.name, HEADS)} "
            f"(paths begin with: {', '.join(HEADS)})"
        )
    return data


def apply_overrides(
    data: Mapping[str, Any],
    overrides: Sequence[Override | str],
    *,
    source: str = "<scenario>",
    base_dir: str | Path = ".",
    defaults: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], str]:
    """Apply ``overrides`` in order and return ``(data, source)``.

    A ``scenario=FILE`` override (at most one; ``FILE`` relative to ``base_dir``) first replaces
    the data and the source; then ``defaults`` (top-level keys such as a study's ``periods``) are
    merged, then the other overrides are applied. The result is not validated.
    """
    parsed = [
        parse_override(o, where=f"{source}: override {o!r}") if isinstance(o, str) else o
        for o in overrides
    ]
    swaps = [o for o in parsed if o.head == SWAP]
    if len(swaps) > 1:
        raise ScenarioError(
            f"{source}: more than one scenario=FILE override: {', '.join(repr(o.text) for o in swaps)}"
        )
    out: Any = copy.deepcopy(dict(data))
    if swaps:
        swap = swaps[0]
        if len(swap.path) > 1 or swap.path[0].key is not None or not swap.value_text:
            raise ScenarioError(f"{source}: override {swap.text!r}: expected scenario=FILE.yaml")
        path = Path(base_dir) / swap.value_text
        out = read_yaml(path)
        source = str(path)
        if not isinstance(out, dict):
            raise ScenarioError(f"{source}: a scenario must be a YAML mapping")
    out.update(defaults or {})
    for o in parsed:
        if o.head != SWAP:
            out = apply_override(out, o, source=source)
    return out, source


# --------------------------------------------------------------------------------------------------
# Agents.


def parse_agent_override(text: str) -> tuple[str, str, dict[str, Any]]:
    """Parse ``TARGET=KIND[:k=v,...]`` (the CLI's ``--agent``); values are read as YAML scalars.

    >>> parse_agent_override("W1=s_S:s=600,S=1500")
    ('W1', 's_S', {'s': 600, 'S': 1500})
    """
    target, sep, rest = text.partition("=")
    if not sep or not target or not rest:
        raise ScenarioError(f"--agent {text!r}: expected TARGET=KIND[:key=value,...]")
    kind, _, params_text = rest.partition(":")
    params: dict[str, Any] = {}
    for item in filter(None, params_text.split(",")):
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise ScenarioError(f"--agent {text!r}: parameter {item!r} is not key=value")
        try:
            params[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            params[key.strip()] = value
    return target.strip(), kind.strip(), params


def apply_agent_override(
    data: dict[str, Any], target: str, kind: str, params: dict[str, Any], *, source: str
) -> dict[str, Any]:
    """Return scenario data in which ``target`` (a node id or a tier) is decided by a new agent.

    The target's nodes are removed from the assignments that held them; entries left empty go.
    """
    if data.get("skus"):
        return _apply_agent_override_skus(data, target, kind, params, source=source)
    nodes = data.get("nodes") or []
    ids = [n.get("id") for n in nodes if isinstance(n, dict)]
    tiers = {n.get("tier") or n.get("kind") for n in nodes if isinstance(n, dict)}
    if target in ids:
        selected = [target]
    elif target in tiers:
        selected = [n.get("id") for n in nodes if (n.get("tier") or n.get("kind")) == target]
    else:
        choices = [str(c) for c in [*ids, *tiers] if c]
        raise ScenarioError(f"{source}: --agent {target}: not a node or tier{suggest(target, choices)}")
    agents = []
    for a in data.get("agents") or []:
        if not isinstance(a, dict):
            agents.append(a)
            continue
        members = a.get("nodes")
        if members is None and a.get("tier") is not None:
            members = [n.get("id") for n in nodes if (n.get("tier") or n.get("kind")) == a["tier"]]
        remaining = [m for m in (members or []) if m not in selected]
        if remaining == members:
            agents.append(a)
        elif remaining:
            kept = {
                k: (
                    {n: x for n, x in v.items() if n not in selected}
                    if isinstance(v, dict) and set(v) <= set(ids)
                    else v
                )
                for k, v in (a.get("params") or {}).items()
            }
            agents.append(
                {k: v for k, v in a.items() if k != "tier"} | {"nodes": remaining, "params": kept}
            )
    agents.append({"nodes": selected, "kind": kind, "params": params})
    return {**data, "agents": agents}


def _apply_agent_override_skus(
    data: dict[str, Any], target: str, kind: str, params: dict[str, Any], *, source: str
) -> dict[str, Any]:
    """:func:`apply_agent_override` for a multi-SKU scenario: ``target`` is a location (all its
    stock points), a tier or one stock point (``W/P``). The assignments are rewritten on stock
    points: those that held a selected stock point keep the others (and their per-node params)."""
    view = stock_view(scenario_from_dict(data, source=source))
    points = [n.id for n in view.nodes]
    locations = list(dict.fromkeys(view.stock_point(p)[0] for p in points))
    tiers = {n.tier_name for n in view.nodes}
    if target in points:
        selected = [target]
    elif target in locations:
        selected = [p for p in points if view.stock_point(p)[0] == target]
    elif target in tiers:
        selected = [n.id for n in view.nodes if n.tier_name == target]
    else:
        raise ScenarioError(
            f"{source}: --agent {target}: not a node, stock point or tier"
            f"{suggest(target, [*locations, *points, *sorted(tiers)])}"
        )
    agents: list[Any] = []
    for original, a in zip(data.get("agents") or [], view.agents, strict=True):
        members = list(a.nodes or [])
        remaining = [m for m in members if m not in selected]
        if remaining == members:
            agents.append(original)
        elif remaining:
            kept = {
                k: (
                    {n: x for n, x in v.items() if n in remaining}
                    if isinstance(v, dict) and set(v) <= set(members)
                    else v
                )
                for k, v in a.params.items()
            }
            agents.append({"nodes": remaining, "kind": a.kind, "params": kept})
    agents.append({"nodes": selected, "kind": kind, "params": params})
    return {**data, "agents": agents}
