"""Checks across fields and entities, run once on a whole scenario before anything is built.

Unknown node ids (with "did you mean"), cycles, nodes without a supply path, supply-side names
(allocation and sourcing rules), agent coverage (every node that orders is decided by exactly one
agent) and each agent's own parameters (:func:`agents.registry.check`, which builds no network and
imports no torch), demand options and demand files, SKU keys. Each check raises a
:class:`~twin.scenario.errors.PathError` naming the YAML path; a multi-SKU scenario is checked on
its stock-point view and the path is mapped back to the scenario as written.
"""

from __future__ import annotations

from pathlib import Path

from agents import registry
from entities.allocation import CUSTOMERS
from twin.scenario.errors import PathError, known, suggest
from twin.scenario.schema import (
    SOURCE_KINDS,
    AllocationConfig,
    NodeConfig,
    Scenario,
    SourcingConfig,
)
from twin.scenario.series import SeriesError, load_series
from twin.scenario.skus import SKU_NODE_FIELDS, expand_skus, map_path


def check(scenario: Scenario, source: str) -> Scenario:
    """Every cross-field check; returns the scenario with demand-file paths made absolute."""
    scenario = _check_demand(scenario, source)
    _check_sku(scenario)
    if not scenario.skus:  # a multi-SKU scenario is checked on its stock points (_check_sku)
        _check_network(scenario)
        _check_supply(scenario)
        _check_agents(scenario)
    return scenario


def _check_network(s: Scenario) -> None:
    ids = [n.id for n in s.nodes]
    seen: set[str] = set()
    for i, n in enumerate(s.nodes):
        if n.id in seen:
            raise PathError(f"nodes[{i}].id", f"duplicate node id {n.id!r}")
        seen.add(n.id)
    lanes_seen: set[str] = set()
    for i, ln in enumerate(s.lanes):
        for key, end in (("from", ln.origin), ("to", ln.destination)):
            if end not in seen:
                raise PathError(f"lanes[{i}].{key}", f"{end!r} is not a node{suggest(end, ids)}")
        if ln.origin == ln.destination:
            raise PathError(f"lanes[{i}]", f"lane from {ln.origin!r} to itself")
        if ln.id in lanes_seen:
            raise PathError(f"lanes[{i}]", f"duplicate lane {ln.id!r}")
        lanes_seen.add(ln.id)
    try:
        topo = s.topology()
    except ValueError as exc:
        raise PathError("lanes", str(exc)) from None
    for i, n in enumerate(s.nodes):
        if not topo.predecessors[n.id] and n.kind not in SOURCE_KINDS:
            raise PathError(
                f"nodes[{i}]",
                f"{n.kind} {n.id!r} has no supply path: no lane leads "
                "to it (only suppliers and factories may be sources)",
            )
    bom_inputs = {k for n in s.nodes for units in (n.bom or {}).values() for k in units}
    for i, n in enumerate(s.nodes):
        if topo.predecessors[n.id] and n.capacity is not None:
            raise PathError(
                f"nodes[{i}].capacity",
                f"{n.id!r} has upstream lanes; capacity limits "
                f"production at source nodes only, got {n.capacity}",
            )
        if (
            not topo.successors[n.id]
            and n.demand is None
            and n.customers is None
            and n.demand_series is None
            and n.id not in bom_inputs
        ):
            raise PathError(
                f"nodes[{i}]",
                f"{n.id!r} has neither customers (demand) nor downstream lanes: nothing ever leaves it",
            )
    if s.warmup_periods >= s.periods:
        raise PathError("warmup_periods", f"must be < periods ({s.periods}), got {s.warmup_periods}")


def _check_supply(s: Scenario) -> None:
    """Supply-side options (storage, allocation and sourcing) of every node, on the stock-point
    view (the names they list are locations: the node ids of the scenario as written)."""
    location = {n.id: s.stock_point(n.id)[0] for n in s.nodes}
    upstream: dict[str, list[str]] = {}
    downstream: dict[str, list[str]] = {}
    for ln in s.lanes:  # over every SKU of a location: the lanes of the scenario as written
        upstream.setdefault(location[ln.destination], []).append(location[ln.origin])
        downstream.setdefault(location[ln.origin], []).append(location[ln.destination])
    for i, n in enumerate(s.nodes):
        where, loc = f"nodes[{i}]", location[n.id]
        _check_storage(n, where)
        if n.allocation is not None:
            names = list(dict.fromkeys(downstream.get(loc, [])))
            if n.demand is not None or n.customers is not None or n.demand_series is not None:
                names.append(CUSTOMERS)
            _check_allocation(n.allocation, where, loc, names)
        if n.sourcing is not None:
            suppliers = [location[ln.origin] for ln in s.lanes if ln.destination == n.id]
            names = list(dict.fromkeys(upstream.get(loc, [])))
            _check_sourcing(n.sourcing, where, loc, suppliers, names)


def _check_storage(n: NodeConfig, where: str) -> None:
    """``overflow`` and ``overflow_cost`` need a ``storage_capacity``; an overflow cost is charged
    only when overflow is accepted; a node that refuses overflow starts within its capacity."""
    if n.storage_capacity is None:
        if n.overflow == "accept" or n.overflow_cost:
            key = "overflow_cost" if n.overflow_cost else "overflow"
            raise PathError(f"{where}.{key}", "needs storage_capacity")
    elif n.overflow == "refuse":
        if n.overflow_cost:
            raise PathError(
                f"{where}.overflow_cost",
                f"is charged only with overflow: accept (overflow is 'refuse'), got {n.overflow_cost}",
            )
        if n.initial_inventory > n.storage_capacity:
            raise PathError(
                f"{where}.initial_inventory",
                f"{n.initial_inventory:g} is above "
                f"storage_capacity {n.storage_capacity:g} (overflow: refuse)",
            )


def _check_allocation(a: AllocationConfig, where: str, loc: str, names: list[str]) -> None:
    """An allocation ``priority`` is given with rule ``priority`` (and only then) and lists some
    of ``names`` (the downstream locations of ``loc``, and ``customers`` where it has demand), each
    once."""
    if a.rule == "priority" and not a.priority:
        raise PathError(
            f"{where}.allocation.priority",
            f"list the downstream nodes (and {CUSTOMERS!r}) in priority order; "
            f"choices: {', '.join(names)}",
        )
    if a.rule != "priority" and a.priority is not None:
        raise PathError(
            f"{where}.allocation.priority",
            f"is used only with rule: priority (rule is {a.rule!r})",
        )
    _names(
        a.priority or [],
        names,
        f"{where}.allocation.priority",
        f"a downstream node of {loc!r}" + (f" or {CUSTOMERS!r}" if CUSTOMERS in names else ""),
    )


def _check_sourcing(
    src: SourcingConfig, where: str, loc: str, suppliers: list[str], upstream: list[str]
) -> None:
    """Sourcing needs upstream lanes (``suppliers``: the origins of this stock point's lanes);
    ``priority`` goes with rule ``priority`` and ``weights`` with rule ``proportional``, each
    naming upstream locations once; the weights cover every supplier, some of them > 0."""
    if not suppliers:
        raise PathError(f"{where}.sourcing", f"{loc!r} has no upstream lanes to split orders over")
    if src.priority is not None and src.rule != "priority":
        raise PathError(
            f"{where}.sourcing.priority", f"is used only with rule: priority (rule is {src.rule!r})"
        )
    if src.weights is not None and src.rule != "proportional":
        raise PathError(
            f"{where}.sourcing.weights",
            f"is used only with rule: proportional (rule is {src.rule!r})",
        )
    _names(src.priority or [], upstream, f"{where}.sourcing.priority", f"an upstream node of {loc!r}")
    if src.weights is None:
        return
    _names(
        list(src.weights),
        upstream,
        f"{where}.sourcing.weights",
        f"an upstream node of {loc!r}",
        index=False,
    )
    missing = [u for u in suppliers if u not in src.weights]
    if missing:
        raise PathError(f"{where}.sourcing.weights", f"has no weight for upstream node {missing[0]!r}")
    if sum(src.weights[u] for u in suppliers) <= 0:
        raise PathError(f"{where}.sourcing.weights", "must give some upstream node a weight > 0")


def _names(given: list[str], choices: list[str], path: str, what: str, *, index: bool = True) -> None:
    """Every name of ``given`` is one of ``choices``, once."""
    for j, name in enumerate(given):
        here = f"{path}[{j}]" if index else f"{path}.{name}"
        known(name, choices, here, what)
        if name in given[:j]:
            raise PathError(here, f"{name!r} is listed twice")


def _check_agents(s: Scenario) -> None:
    topo = s.topology()
    ids = [n.id for n in s.nodes]
    tiers = sorted({n.tier_name for n in s.nodes})
    owner: dict[str, int] = {}
    for i, a in enumerate(s.agents):
        if a.tier is not None and a.tier not in tiers:
            raise PathError(
                f"agents[{i}].tier",
                f"{a.tier!r} is not a tier{suggest(a.tier, tiers)} (tiers: {', '.join(tiers)})",
            )
        for j, node in enumerate(s.agent_nodes(i)):
            where = f"agents[{i}].nodes[{j}]" if a.nodes is not None else f"agents[{i}].tier"
            if node not in owner and node not in ids:
                raise PathError(where, f"{node!r} is not a node{suggest(node, ids)}")
            if node in owner:
                raise PathError(where, f"{node!r} is already decided by agents[{owner[node]}]")
            owner[node] = i
        try:
            registry.check(a.kind, a.params, s.agent_nodes(i))
        except registry.UnknownAgentError as exc:
            raise PathError(f"agents[{i}].kind", str(exc)) from None
        except (TypeError, ValueError) as exc:
            raise PathError(f"agents[{i}].params", f"{a.kind}: {exc}") from None
    for i, n in enumerate(s.nodes):
        if topo.predecessors[n.id] and n.id not in owner:
            raise PathError(
                f"nodes[{i}]", f"{n.id!r} orders from upstream but no entry in 'agents' decides for it"
            )


def _check_demand(s: Scenario, source: str) -> Scenario:
    """Demand options (one source of demand per node, partial backorders, effects, patience,
    demand files); returns the scenario with series paths made absolute."""
    base = Path(source).parent if not source.startswith("<") else Path.cwd()
    nodes = list(s.nodes)
    for i, n in enumerate(s.nodes):
        where = f"nodes[{i}]"
        given = [k for k in ("demand", "customers", "demand_series") if getattr(n, k) is not None]
        if len(given) > 1:
            raise PathError(where, f"give at most one of {' / '.join(given)}, got {len(given)}")
        if (n.unmet_demand == "partial") != (n.backlog_fraction is not None):
            raise PathError(
                f"{where}.backlog_fraction",
                "required with unmet_demand: partial "
                f"and only then (unmet_demand is {n.unmet_demand!r})",
            )
        if n.demand_effects is not None and not given:
            raise PathError(
                f"{where}.demand_effects",
                "the node has no demand, customers or demand_series to apply effects to",
            )
        c = n.customers
        if c is not None and c.patience is not None and n.unmet_demand == "lost":
            raise PathError(
                f"{where}.customers.patience",
                "customers never wait with unmet_demand: lost; use backlog or partial",
            )
        if n.demand_series is None:
            continue
        paths = []
        for j, name in enumerate(n.demand_series.paths):
            key = (
                f"{where}.demand_series.file"
                if n.demand_series.file is not None
                else f"{where}.demand_series.files[{j}]"
            )
            path = Path(name) if Path(name).is_absolute() else (base / name)
            try:
                load_series(str(path.resolve()), n.demand_series.column or n.id, s.periods)
            except SeriesError as exc:
                raise PathError(key, str(exc)) from None
            paths.append(str(path.resolve()))
        if n.demand_series.files is not None and s.replications > len(paths):
            raise PathError(
                f"{where}.demand_series.files",
                f"{len(paths)} file(s) for {s.replications} replications (replication i reads files[i])",
            )
        series = n.demand_series.model_copy(
            update={"file": paths[0]} if n.demand_series.file is not None else {"files": paths}
        )
        nodes[i] = n.model_copy(update={"demand_series": series})
    return s.model_copy(update={"nodes": nodes})


def _check_sku(s: Scenario) -> None:
    """Single-SKU scenarios must not use the SKU keys; a multi-SKU scenario is expanded into its
    stock-point view, on which the network and agent checks run, with errors mapped back to the
    YAML paths of the scenario as written."""
    if not s.skus:
        for i, n in enumerate(s.nodes):
            for key in SKU_NODE_FIELDS:
                if getattr(n, key):
                    raise PathError(f"nodes[{i}].{key}", "needs a top-level 'skus' list")
        for i, ln in enumerate(s.lanes):
            if ln.skus is not None:
                raise PathError(f"lanes[{i}].skus", "needs a top-level 'skus' list")
        for i, a in enumerate(s.agents):
            if a.sku is not None:
                raise PathError(f"agents[{i}].sku", "needs a top-level 'skus' list")
        return
    flat = expand_skus(s)
    s._stock, s._stock_for = flat, id(s)
    try:
        _check_network(flat)
        _check_supply(flat)
        _check_agents(flat)
    except PathError as exc:
        raise map_path(flat, exc) from None
