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
from typing import TYPE_CHECKING

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


def expand_skus(s: Scenario) -> Scenario:
    """The stock-point view of a multi-SKU scenario (see :func:`stock_view`).

    A stock point ``location/sku`` is the location's node validated with the SKU's ``defaults``
    and the node's ``per_sku`` entry merged over its fields (``NodeConfig.model_validate``, so every
    node field can be overridden per SKU). At a factory with a ``bom`` the location's ``capacity``
    applies to the output SKUs; its input stock points are fed by lanes.
    """
    skus = sku_ids(s)
    defaults = {k.id: k.defaults for k in s.skus}
    locations = [n.id for n in s.nodes]
    for i, n in enumerate(s.nodes):
        if n.id in locations[:i]:
            raise PathError(f"nodes[{i}].id", f"duplicate node id {n.id!r}")
    stocked: dict[str, list[str]] = {}
    outputs: dict[str, set[str]] = {}
    points: dict[str, tuple[str, str]] = {}
    paths: dict[str, str] = {}
    flat_nodes: list[NodeConfig] = []
    for i, n in enumerate(s.nodes):
        mine = list(skus) if n.skus is None else list(n.skus)
        if not mine:
            raise PathError(f"nodes[{i}].skus", "lists no SKU")
        for j, sku in enumerate(mine):
            known(sku, skus, f"nodes[{i}].skus[{j}]", "a SKU")
            if sku in mine[:j]:
                raise PathError(f"nodes[{i}].skus[{j}]", f"duplicate SKU {sku!r}")
        for sku in n.per_sku:
            known(sku, mine, f"nodes[{i}].per_sku.{sku}", f"a SKU stocked at {n.id!r}")
        outs = set(n.bom or {})
        for out, inputs in (n.bom or {}).items():
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
        stocked[n.id], outputs[n.id] = mine, outs
        base = n.model_dump(exclude=set(SKU_NODE_FIELDS))
        for sku in mine:
            data = {**base, **defaults[sku], **n.per_sku.get(sku, {}), "id": f"{n.id}/{sku}"}
            if outs and sku not in outs and "capacity" not in n.per_sku.get(sku, {}):
                data["capacity"] = None
            where = f"nodes[{i}].per_sku.{sku}" if sku in n.per_sku else f"nodes[{i}]"
            try:
                cfg = NodeConfig.model_validate(data)
            except ValidationError as exc:
                raise PathError(where, f"SKU {sku!r}: {first_error(exc)}") from None
            if any(getattr(cfg, key) for key in SKU_NODE_FIELDS):
                raise PathError(where, f"SKU {sku!r}: skus, per_sku and bom cannot be set per SKU")
            if sku in outs:
                cfg = cfg.model_copy(
                    update={"bom": {sku: {f"{n.id}/{inp}": u for inp, u in n.bom[sku].items()}}}
                )  # type: ignore[index]
            paths[f"nodes[{len(flat_nodes)}]"] = where
            points[cfg.id] = (n.id, sku)
            flat_nodes.append(cfg)

    flat_lanes: list[LaneConfig] = []
    streams: dict[str, str] = {}
    for i, ln in enumerate(s.lanes):
        for key, end in (("from", ln.origin), ("to", ln.destination)):
            known(end, locations, f"lanes[{i}].{key}", "a node")
        both = [
            k
            for k in stocked[ln.origin]
            if k in stocked[ln.destination] and k not in outputs[ln.destination]
        ]
        if ln.skus is not None:
            for j, sku in enumerate(ln.skus):
                known(sku, skus, f"lanes[{i}].skus[{j}]", "a SKU")
                if sku not in stocked[ln.origin] or sku not in stocked[ln.destination]:
                    raise PathError(
                        f"lanes[{i}].skus[{j}]",
                        f"SKU {sku!r} is not stocked at both {ln.origin!r} and {ln.destination!r}",
                    )
                if sku in outputs[ln.destination]:
                    raise PathError(
                        f"lanes[{i}].skus[{j}]",
                        f"{ln.destination!r} makes {sku!r} (bom); it cannot also receive it on a lane",
                    )
            both = list(dict.fromkeys(ln.skus))
        if not both:
            raise PathError(
                f"lanes[{i}]",
                f"carries no SKU: {ln.origin!r} and {ln.destination!r} stock no SKU in common",
            )
        base = ln.model_dump(by_alias=True, exclude={"skus"})
        for sku in both:
            cfg = LaneConfig.model_validate(
                {**base, "from": f"{ln.origin}/{sku}", "to": f"{ln.destination}/{sku}"}
            )
            paths[f"lanes[{len(flat_lanes)}]"] = f"lanes[{i}]"
            streams[cfg.id] = ln.id
            flat_lanes.append(cfg)

    tiers = sorted({n.tier_name for n in s.nodes})
    flat_agents: list[AgentAssignment] = []
    for i, a in enumerate(s.agents):
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
            if name in points:
                members.append(name)
            elif name in stocked:
                members += [f"{name}/{k}" for k in stocked[name] if k in chosen]
            else:
                raise PathError(
                    where,
                    f"{name!r} is neither a node nor a stock point"
                    f"{suggest(name, locations + list(points))}",
                )
        if not members:
            raise PathError(f"agents[{i}]", "selects no stock point (check 'sku')")
        paths[f"agents[{i}]"] = f"agents[{i}]"
        flat_agents.append(
            AgentAssignment(nodes=list(dict.fromkeys(members)), kind=a.kind, params=a.params)
        )

    flat = s.model_copy(
        update={"nodes": flat_nodes, "lanes": flat_lanes, "agents": flat_agents, "skus": []}
    )
    flat._points, flat._lane_streams = points, streams
    flat._paths = paths
    return flat
