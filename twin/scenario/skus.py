"""Multi-SKU scenarios: the stock-point view the twin builds.

A scenario with a top-level ``skus`` list is written per location; the twin runs on its
**stock-point view** (:func:`stock_view`): one node per stock point ``location/sku`` (the location's
fields with the SKU's ``defaults`` and the node's ``per_sku`` entry merged over them), one lane per
(lane, SKU) carried, and agent selectors resolved to stock points. A single-SKU scenario is its own
view. Errors found on the view are mapped back to the paths of the scenario as written
(:func:`map_path`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from twin.scenario.errors import PathError, first_error, known, suggest
from twin.scenario.schema import AgentAssignment, LaneConfig, NodeConfig

if TYPE_CHECKING:
    from twin.scenario.schema import Scenario

SKU_NODE_FIELDS = ("skus", "per_sku", "bom")
"""Node keys that belong to the scenario as written, never to a stock point."""


def stock_view(s: Scenario) -> Scenario:
    """The scenario the twin builds: one node per stock point (``location/sku``), one lane per
    (lane, SKU), agent selectors resolved to stock points. A single-SKU scenario is its own view.
    The view is cached on the scenario (and rebuilt for a copy made with ``model_copy``)."""
    if not s.skus:
        return s
    if s._stock is None or s._stock_for != id(s):  # not a model_copy's stale view
        s._stock, s._stock_for = expand_skus(s), id(s)
    return s._stock


def map_path(flat: Scenario, exc: PathError) -> PathError:
    """Rewrite a stock-point view path (``nodes[7].capacity``) as the written scenario's path."""
    paths = flat._paths
    m = re.match(r"^(nodes|lanes|agents)\[(\d+)\]", exc.path)
    if not m or m.group(0) not in paths:
        return exc
    return PathError(paths[m.group(0)] + exc.path[m.end() :], exc.message)


def sku_ids(s: Scenario) -> list[str]:
    ids: list[str] = []
    for i, sku in enumerate(s.skus):
        if sku.id in ids:
            raise PathError(f"skus[{i}].id", f"duplicate SKU id {sku.id!r}")
        ids.append(sku.id)
    return ids


@dataclass
class _Locations:
    """What expanding the nodes learns about each location (a node of the scenario as written)."""

    ids: list[str]
    """Location ids in file order."""
    stocked: dict[str, list[str]] = field(default_factory=dict)
    """The SKUs each location stocks."""
    outputs: dict[str, set[str]] = field(default_factory=dict)
    """The SKUs each location makes from others (the outputs of a factory's bom)."""
    points: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Each stock point id -> (location, SKU)."""


def expand_skus(s: Scenario) -> Scenario:
    """The stock-point view of a multi-SKU scenario (see :func:`stock_view`): the locations'
    stock points, then the lanes per SKU between them, then the agents' selectors resolved to
    stock points. ``_paths`` of the view maps each of its entries to the entry as written."""
    skus = sku_ids(s)
    locations = _Locations(ids=[n.id for n in s.nodes])
    for i, n in enumerate(s.nodes):
        if n.id in locations.ids[:i]:
            raise PathError(f"nodes[{i}].id", f"duplicate node id {n.id!r}")
    paths: dict[str, str] = {}
    flat_nodes = _expand_nodes(s, skus, locations, paths)
    flat_lanes, streams = _expand_lanes(s, skus, locations, paths)
    flat_agents = _expand_agents(s, skus, locations, paths)
    flat = s.model_copy(
        update={"nodes": flat_nodes, "lanes": flat_lanes, "agents": flat_agents, "skus": []}
    )
    flat._points, flat._lane_streams = locations.points, streams
    flat._paths = paths
    return flat


# -- nodes: one stock point per (location, SKU) -------------------------------------------------


def _expand_nodes(
    s: Scenario, skus: list[str], locations: _Locations, paths: dict[str, str]
) -> list[NodeConfig]:
    """Every location's stock points, in file order (and each location's SKUs in its order).

    A stock point ``location/sku`` is the location's node validated with the SKU's ``defaults``
    and the node's ``per_sku`` entry merged over its fields (``NodeConfig.model_validate``, so every
    node field can be overridden per SKU). At a factory with a ``bom`` the location's ``capacity``
    applies to the output SKUs; its input stock points are fed by lanes.
    """
    defaults = {k.id: k.defaults for k in s.skus}
    flat_nodes: list[NodeConfig] = []
    for i, n in enumerate(s.nodes):
        mine = _location_skus(i, n, skus)
        outs = _bom_outputs(i, n, mine)
        locations.stocked[n.id], locations.outputs[n.id] = mine, outs
        base = n.model_dump(exclude=set(SKU_NODE_FIELDS))
        for sku in mine:
            cfg, where = _stock_point(i, n, sku, {**base, **defaults[sku]}, outs)
            paths[f"nodes[{len(flat_nodes)}]"] = where
            locations.points[cfg.id] = (n.id, sku)
            flat_nodes.append(cfg)
    return flat_nodes


def _location_skus(i: int, n: NodeConfig, skus: list[str]) -> list[str]:
    """The SKUs location ``nodes[i]`` stocks (its ``skus``, default all), each known once; its
    ``per_sku`` keys among them."""
    mine = list(skus) if n.skus is None else list(n.skus)
    if not mine:
        raise PathError(f"nodes[{i}].skus", "lists no SKU")
    for j, sku in enumerate(mine):
        known(sku, skus, f"nodes[{i}].skus[{j}]", "a SKU")
        if sku in mine[:j]:
            raise PathError(f"nodes[{i}].skus[{j}]", f"duplicate SKU {sku!r}")
    for sku in n.per_sku:
        known(sku, mine, f"nodes[{i}].per_sku.{sku}", f"a SKU stocked at {n.id!r}")
    return mine


def _bom_outputs(i: int, n: NodeConfig, mine: list[str]) -> set[str]:
    """The output SKUs of ``nodes[i]``'s bill of materials, checked: outputs and inputs stocked
    there, every output made of at least one input, no output an input, only factories."""
    bom = n.bom or {}
    outs = set(bom)
    for out, inputs in bom.items():
        known(out, mine, f"nodes[{i}].bom.{out}", f"a SKU stocked at {n.id!r}")
        if not inputs:
            raise PathError(f"nodes[{i}].bom.{out}", "lists no input SKU")
        for inp in inputs:
            known(inp, mine, f"nodes[{i}].bom.{out}.{inp}", f"a SKU stocked at {n.id!r}")
            if inp in outs:
                raise PathError(
                    f"nodes[{i}].bom.{out}.{inp}",
                    f"{inp!r} is an output of this factory's bom; outputs cannot be inputs",
                )
    if outs and n.kind != "factory":
        raise PathError(f"nodes[{i}].bom", f"only factories have a bom; {n.id!r} is a {n.kind}")
    return outs


def _stock_point(
    i: int, n: NodeConfig, sku: str, data: dict[str, Any], outs: set[str]
) -> tuple[NodeConfig, str]:
    """Stock point ``location/sku`` of ``nodes[i]`` from its fields with the SKU's defaults
    (``data``) and the node's ``per_sku`` entry merged over them; and the path it came from."""
    own = n.per_sku.get(sku, {})
    data = {**data, **own, "id": f"{n.id}/{sku}"}
    if outs and sku not in outs and "capacity" not in own:
        data["capacity"] = None  # a factory's capacity limits what it makes, not its inputs
    where = f"nodes[{i}].per_sku.{sku}" if sku in n.per_sku else f"nodes[{i}]"
    try:
        cfg = NodeConfig.model_validate(data)
    except ValidationError as exc:
        raise PathError(where, f"SKU {sku!r}: {first_error(exc)}") from None
    if any(getattr(cfg, key) for key in SKU_NODE_FIELDS):
        raise PathError(where, f"SKU {sku!r}: skus, per_sku and bom cannot be set per SKU")
    if sku in outs and n.bom is not None:
        inputs = {f"{n.id}/{inp}": units for inp, units in n.bom[sku].items()}
        cfg = cfg.model_copy(update={"bom": {sku: inputs}})
    return cfg, where


# -- lanes: one per (lane, SKU carried) ---------------------------------------------------------


def _expand_lanes(
    s: Scenario, skus: list[str], locations: _Locations, paths: dict[str, str]
) -> tuple[list[LaneConfig], dict[str, str]]:
    """One lane per (lane, SKU it carries) between the two stock points of that SKU, and each
    one's random-stream key: the lane as written (the SKUs shipped on one lane in one period travel
    together)."""
    flat_lanes: list[LaneConfig] = []
    streams: dict[str, str] = {}
    for i, ln in enumerate(s.lanes):
        base = ln.model_dump(by_alias=True, exclude={"skus"})
        for sku in _lane_skus(i, ln, skus, locations):
            cfg = LaneConfig.model_validate(
                {**base, "from": f"{ln.origin}/{sku}", "to": f"{ln.destination}/{sku}"}
            )
            paths[f"lanes[{len(flat_lanes)}]"] = f"lanes[{i}]"
            streams[cfg.id] = ln.id
            flat_lanes.append(cfg)
    return flat_lanes, streams


def _lane_skus(i: int, ln: LaneConfig, skus: list[str], locations: _Locations) -> list[str]:
    """The SKUs ``lanes[i]`` carries: its ``skus``, or every SKU stocked at both ends that its
    destination does not make."""
    for key, end in (("from", ln.origin), ("to", ln.destination)):
        known(end, locations.ids, f"lanes[{i}].{key}", "a node")
    at_origin, at_destination = locations.stocked[ln.origin], locations.stocked[ln.destination]
    made = locations.outputs[ln.destination]
    if ln.skus is None:
        carried = [k for k in at_origin if k in at_destination and k not in made]
    else:
        for j, sku in enumerate(ln.skus):
            known(sku, skus, f"lanes[{i}].skus[{j}]", "a SKU")
            if sku not in at_origin or sku not in at_destination:
                raise PathError(
                    f"lanes[{i}].skus[{j}]",
                    f"SKU {sku!r} is not stocked at both {ln.origin!r} and {ln.destination!r}",
                )
            if sku in made:
                raise PathError(
                    f"lanes[{i}].skus[{j}]",
                    f"{ln.destination!r} makes {sku!r} (bom); it cannot also receive it on a lane",
                )
        carried = list(dict.fromkeys(ln.skus))
    if not carried:
        raise PathError(
            f"lanes[{i}]",
            f"carries no SKU: {ln.origin!r} and {ln.destination!r} stock no SKU in common",
        )
    return carried


# -- agents: selectors resolved to stock points -------------------------------------------------


def _expand_agents(
    s: Scenario, skus: list[str], locations: _Locations, paths: dict[str, str]
) -> list[AgentAssignment]:
    """Each agent entry with its nodes, tier and ``sku`` resolved to a list of stock points."""
    tiers = sorted({n.tier_name for n in s.nodes})
    flat_agents: list[AgentAssignment] = []
    for i, a in enumerate(s.agents):
        members = _agent_members(i, a, s, skus, tiers, locations)
        paths[f"agents[{i}]"] = f"agents[{i}]"
        flat_agents.append(AgentAssignment(nodes=members, kind=a.kind, params=a.params))
    return flat_agents


def _agent_members(
    i: int, a: AgentAssignment, s: Scenario, skus: list[str], tiers: list[str], locations: _Locations
) -> list[str]:
    """The stock points ``agents[i]`` decides for: its stock points, and at each of its
    locations (listed, or the locations of its tier) the stock points of its chosen SKUs."""
    chosen = skus if a.sku is None else [a.sku] if isinstance(a.sku, str) else list(a.sku)
    for j, sku in enumerate(chosen):
        where = f"agents[{i}].sku" + (f"[{j}]" if isinstance(a.sku, list) else "")
        known(sku, skus, where, "a SKU")
    if a.tier is not None:
        known(a.tier, tiers, f"agents[{i}].tier", "a tier")
        selected = [n.id for n in s.nodes if n.tier_name == a.tier]
    else:
        selected = list(a.nodes or [])
    members: list[str] = []
    for j, name in enumerate(selected):
        where = f"agents[{i}].nodes[{j}]" if a.tier is None else f"agents[{i}].tier"
        if name in locations.points:
            members.append(name)
        elif name in locations.stocked:
            members += [f"{name}/{k}" for k in locations.stocked[name] if k in chosen]
        else:
            raise PathError(
                where,
                f"{name!r} is neither a node nor a stock point"
                f"{suggest(name, locations.ids + list(locations.points))}",
            )
    if not members:
        raise PathError(f"agents[{i}]", "selects no stock point (check 'sku')")
    return list(dict.fromkeys(members))
