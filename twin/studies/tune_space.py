"""What the tuner searches and where it starts: the tunable parameters of each rule kind, the
targets of a search (``TARGET[=KIND[:k=v,...]]``) and their start points.

:data:`TUNABLE` lists, per rule kind, the parameters :mod:`twin.studies.tune` searches and how
they move. A start point is, in order of preference: the Clark-Scarf optimum when the target is a
serial chain with normal or Poisson demand and constant integer lead times
(:func:`heuristics.serial.optimize_echelon_base_stock`); the scenario's own parameters when it
already uses the kind there (its defaults for the rest); otherwise textbook approximations from
demand and lead-time means (a level covering lead time plus review period of mean demand plus 1.5
standard deviations). Review periods to try come from the economic order interval
``sqrt(2K / (h D))`` of the EOQ model (Snyder & Shen 2019, ch. 3).
"""

from __future__ import annotations

import difflib
import inspect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from agents.named import named
from agents.registry import resolve
from entities.errors import ScenarioError
from twin.scenario import Scenario


@dataclass(frozen=True)
class Tunable:
    """A parameter the tuner searches: its name, how it moves and whether it is per node."""

    name: str
    scale: Literal["level", "multiple", "cover", "period"]
    """``level``: units of stock (whole units when demand is integer); ``multiple``: a multiple
    of demand and ``cover``: periods of cover (both in hundredths); ``period``: a whole number of
    periods (the review period, on a grid, and its offset)."""
    per_node: bool = True


COVERS = tuple(Tunable(p, "cover", per_node=False) for p in ("low_cover", "target_cover", "high_cover"))

#: The parameters the tuner searches, per agent kind.
TUNABLE: dict[str, tuple[Tunable, ...]] = {
    "base_stock": (Tunable("base_stock_level", "level"),),
    "echelon_base_stock": (Tunable("base_stock_level", "level"),),
    "s_S": (Tunable("s", "level"), Tunable("S", "level")),
    "r_Q": (Tunable("reorder_point", "level"), Tunable("order_quantity", "level")),
    "periodic_review": (
        Tunable("order_up_to_level", "level"),
        Tunable("review_period", "period", per_node=False),
        Tunable("offset", "period", per_node=False),
    ),
    "constant": (Tunable("quantity", "level"),),
    "adaptive_base_stock": (Tunable("multiple", "multiple"),),
    "hmarl_warehouse": COVERS,
    "hmarl_supplier": COVERS,
}

Params = dict[str, Any]
"""Parameters of one target: ``{name: {node: value}}`` per node, ``{name: value}`` otherwise."""


@dataclass
class Target:
    """One agent entry of the search: ``nodes`` decided by ``kind``, with ``fixed`` parameters
    (given in its spec) and the ``searched`` ones."""

    text: str
    nodes: list[str]
    kind: str
    fixed: dict[str, Any]
    searched: tuple[Tunable, ...]


# --------------------------------------------------------------------------------------------------
# Targets.


def target_nodes(scenario: Scenario, target: str, source: str = "<scenario>") -> list[str]:
    """Node ids named by ``target``: a node id, a tier, or a comma-separated list of them."""
    ids = [n.id for n in scenario.nodes]
    selected: list[str] = []
    for name in filter(None, (x.strip() for x in target.split(","))):
        found = [name] if name in ids else [n.id for n in scenario.nodes if n.tier_name == name]
        if not found:
            choices = ids + sorted({n.tier_name for n in scenario.nodes})
            close = difflib.get_close_matches(name, choices, n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ScenarioError(f"{source}: --target {name!r} is not a node or tier{hint}")
        selected += [n for n in found if n not in selected]
    if not selected:
        raise ScenarioError(f"{source}: --target {target!r} names no node")
    return selected


def tunable_kind(kind: str, where: str) -> None:
    """``kind`` can be tuned, else a :class:`ScenarioError` naming ``where`` and the choices."""
    if kind in TUNABLE:
        return
    close = difflib.get_close_matches(kind, list(TUNABLE), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ScenarioError(f"{where}: {kind!r} cannot be tuned{hint}; tunable kinds: {', '.join(TUNABLE)}")


def parse_targets(
    scenario: Scenario, targets: str | Sequence[str], kind: str | None, source: str = "<scenario>"
) -> list[Target]:
    """The targets of a search: each ``TARGET[=KIND[:key=value,...]]`` (``TARGET`` a node, tier or
    comma-separated list; without ``=KIND`` the default spec ``kind``). Raises
    :class:`ScenarioError` naming the ``--target`` or ``--kind`` at fault."""
    items = [targets] if isinstance(targets, str) else list(targets)
    if not items:
        raise ScenarioError(f"{source}: give at least one --target")
    out: list[Target] = []
    taken: dict[str, str] = {}
    for text in items:
        where, has_spec, spec = text.partition("=")
        flag = f"--target {text!r}" if has_spec else f"--kind {kind!r}"
        if not has_spec:
            if kind is None:
                raise ScenarioError(
                    f"{source}: --target {text!r} has no kind: give --kind KIND or --target {text}=KIND"
                )
            spec = kind
        try:
            name, fixed = named(spec, what="kind")
        except ValueError as exc:
            raise ScenarioError(f"{source}: {flag}: {exc}") from None
        tunable_kind(name, f"{source}: {flag}")
        nodes = target_nodes(scenario, where, source)
        for n in nodes:
            if n in taken:
                raise ScenarioError(
                    f"{source}: --target {text!r}: node {n!r} is also in --target {taken[n]!r}; "
                    "each node is decided by one target"
                )
            taken[n] = text
        searched = tuple(p for p in TUNABLE[name] if p.name not in fixed)
        if not searched:
            raise ScenarioError(
                f"{source}: {flag}: every tunable parameter of {name} is fixed "
                f"({', '.join(p.name for p in TUNABLE[name])}); nothing to search"
            )
        out.append(Target(text, nodes, name, dict(fixed), searched))
    return out


# --------------------------------------------------------------------------------------------------
# Start points.


def demand_rate(scenario: Scenario, node: str) -> tuple[float, float]:
    """Mean and variance of customer demand per period served through ``node``."""
    topo = scenario.topology()
    members = [node, *topo.descendants(node)]
    cfg = scenario.node_map
    demands = [d for d in (cfg[m].demand for m in members) if d is not None]
    return sum(d.mean for d in demands), sum(d.variance for d in demands)


def customer_rate(scenario: Scenario) -> float:
    """Mean customer demand per period of the whole network (every customer-facing node's)."""
    return sum(n.demand.mean for n in scenario.nodes if n.demand is not None)


def _lead_time(scenario: Scenario, node: str) -> float:
    inbound = [ln for ln in scenario.lanes if ln.destination == node]
    if inbound:
        return inbound[0].lead_time.mean
    return scenario.node_map[node].production_lead_time.mean


def _echelon_lead_time(scenario: Scenario, node: str) -> float:
    """Lead time from ``node``'s supplier to the customers, along the longest path."""
    topo = scenario.topology()
    best = 0.0
    for succ in topo.successors[node]:
        best = max(best, _echelon_lead_time(scenario, succ))
    return _lead_time(scenario, node) + best


def _analytical_serial(scenario: Scenario, nodes: list[str]) -> dict[str, float] | None:
    """Clark-Scarf levels if ``nodes`` is a serial chain from a customer-facing node up."""
    try:
        import scipy.stats as st

        from heuristics.serial import optimize_echelon_base_stock
    except ImportError:  # pragma: no cover - heuristics ships with the project
        return None
    topo = scenario.topology()
    cfg = scenario.node_map
    chain = sorted(nodes, key=lambda n: topo.level[n])
    if [topo.level[n] for n in chain] != list(range(len(chain))):
        return None
    for lower, upper in zip(chain, chain[1:], strict=False):
        if topo.successors[upper] != (lower,) or topo.predecessors[lower] != (upper,):
            return None
    first = cfg[chain[0]]
    if first.demand is None or any(cfg[n].demand is not None for n in chain[1:]):
        return None
    lead_times = []
    for n in chain:
        inbound = [ln for ln in scenario.lanes if ln.destination == n]
        if len(inbound) != 1 or inbound[0].lead_time.variance != 0:
            return None
        lt = inbound[0].lead_time.mean
        if not float(lt).is_integer():
            return None
        lead_times.append(int(lt))
    d = first.demand
    if d.kind == "normal":
        dist = st.norm(d.mean, math.sqrt(d.variance))
    elif d.kind == "poisson":
        dist = st.poisson(d.mean)
    else:
        return None
    local = [cfg[n].holding_cost for n in chain]
    echelon_h = [local[i] - (local[i + 1] if i + 1 < len(local) else 0.0) for i in range(len(local))]
    if any(h < 0 for h in echelon_h):
        return None
    result = optimize_echelon_base_stock(echelon_h, lead_times, first.stockout_cost, dist)
    return {n: float(level) for n, level in zip(chain, result.echelon_levels, strict=True)}


def _defaults(kind: str) -> dict[str, Any]:
    """The keyword defaults of the kind's class (e.g. the covers of ``hmarl_warehouse``)."""
    signature = inspect.signature(resolve(kind))
    return {
        name: p.default
        for name, p in signature.parameters.items()
        if p.default is not inspect.Parameter.empty
    }


def _own_params(scenario: Scenario, kind: str, nodes: list[str]) -> Params | None:
    """The scenario's own parameters of ``kind`` at ``nodes``, if one entry of that kind holds them
    all (missing keyword parameters take the kind's defaults)."""
    for i, a in enumerate(scenario.agents):
        if a.kind != kind or not set(nodes) <= set(scenario.agent_nodes(i)):
            continue
        given = {**_defaults(kind), **a.params}
        out: Params = {}
        try:
            for p in TUNABLE[kind]:
                value = given[p.name]
                if p.per_node:
                    out[p.name] = {
                        n: float(value[n] if isinstance(value, dict) else value) for n in nodes
                    }
                else:
                    out[p.name] = value if isinstance(value, int) else float(value)
        except (KeyError, TypeError, ValueError):
            return None
        return out
    return None


def start_point(
    scenario: Scenario, kind: str, nodes: list[str], fixed: Mapping[str, Any] | None = None
) -> Params:
    """Initial parameters (see the module docstring for the order of preference); ``fixed``
    parameters of the target (its position, review period, ...) shape the approximations."""
    fixed = dict(fixed or {})
    own = _own_params(scenario, kind, nodes)
    if own is not None:
        return own
    if kind == "echelon_base_stock":
        levels = _analytical_serial(scenario, nodes)
        if levels is not None:
            return {"base_stock_level": levels}
    if kind in ("hmarl_warehouse", "hmarl_supplier"):
        defaults = _defaults(kind)
        return {p.name: float(defaults[p.name]) for p in TUNABLE[kind]}
    review = int(fixed.get("review_period", 1)) if kind == "periodic_review" else 1
    echelon = kind == "echelon_base_stock" or (
        kind == "adaptive_base_stock" and fixed.get("position") == "echelon"
    )
    out: Params = {p.name: {} for p in TUNABLE[kind] if p.per_node}
    customers = kind == "adaptive_base_stock" and fixed.get("demand") == "customer"
    for n in nodes:
        mean, var = demand_rate(scenario, n)
        lead = _echelon_lead_time(scenario, n) if echelon else _lead_time(scenario, n)
        cover = lead + review
        level = mean * cover + 1.5 * math.sqrt(max(var, mean, 1e-9) * cover)
        if kind in ("base_stock", "echelon_base_stock"):
            out["base_stock_level"][n] = level
        elif kind == "s_S":
            out["s"][n], out["S"][n] = level - mean, level + mean
        elif kind == "r_Q":
            out["reorder_point"][n] = level - mean
            out["order_quantity"][n] = max(1.0, 2 * mean)
        elif kind == "periodic_review":
            out["order_up_to_level"][n] = level
        elif kind == "constant":
            out["quantity"][n] = mean
        elif kind == "adaptive_base_stock":
            # A multiple of the demand the rule follows: the node's, or all customers' (the sum
            # of every customer-facing node's demand) with ``demand: customer``.
            follows = customer_rate(scenario) if customers else mean
            out["multiple"][n] = round(level / follows, 2) if follows > 0 else 1.0
    if kind == "periodic_review":
        out["review_period"], out["offset"] = review, 0
    return out


def review_grid(scenario: Scenario, nodes: list[str]) -> list[int]:
    """Review periods to try: ``1 .. R_max``, ``R_max = 1 + ceil(2 * sqrt(2K / (h D)))`` over the
    target's nodes (order cost ``K`` of the node's first lane, holding cost ``h``, demand rate
    ``D``), at least 2 and at most a quarter of the horizon (and 26)."""
    longest = 0.0
    cfg = scenario.node_map
    for n in nodes:
        inbound = [ln for ln in scenario.lanes if ln.destination == n]
        k = inbound[0].fixed_cost if inbound else 0.0
        h, (d, _) = cfg[n].holding_cost, demand_rate(scenario, n)
        if k > 0 and h > 0 and d > 0:
            longest = max(longest, math.sqrt(2 * k / (h * d)))
        elif k > 0:
            longest = math.inf
    cap = max(2, min(26, scenario.periods // 4))
    top = cap if math.isinf(longest) else min(cap, max(2, 1 + math.ceil(2 * longest)))
    return list(range(1, top + 1))


def start(base: Scenario, plan: Sequence[Target], *, integer: bool) -> list[Params]:
    """The start point of every target's searched parameters (levels whole when ``integer``)."""
    x: list[Params] = []
    for t in plan:
        point = start_point(base, t.kind, t.nodes, t.fixed)
        searched: Params = {}
        for p in t.searched:
            value = point[p.name]
            if p.per_node and integer and p.scale == "level":
                value = {n: float(round(v)) for n, v in value.items()}
            searched[p.name] = value
        x.append(searched)
    return x
