"""Simulation-optimisation of rule agents' parameters: the "best tuned baseline".

The search behind ``python -m twin.tune SCENARIO.yaml --target TARGET[=KIND[:k=v,...]] ...``
(:mod:`twin.tune`). Each target (a node, a tier, or a comma-separated list of them) is decided by
one agent entry of its kind; the search minimises the network's mean cost per period over the
parameters of every target at once (a joint search: a store's best level depends on how its
warehouse is run). Parameters given in a target's spec (``s_S:S=900``,
``adaptive_base_stock:position=echelon,max_order=20``) are fixed; the others of
:data:`TUNABLE` are searched. Every candidate is simulated on the same replications (common
random numbers: the same demand and lead-time draws), so differences between candidates are not
noise between draws.

The optimiser is a coordinate (compass) search (Kolda, Lewis & Torczon, *SIAM Review* 45(3), 2003):
from the start point, try each parameter up and down by its step, move to any improvement; when
none improves, try each per-node parameter moved at all of the target's nodes at once (a pattern
direction: levels of a chain, or constant orders, often have to move together); halve all steps
when nothing improves, stop when the steps are below resolution or the evaluation budget is spent.
Stock levels move in whole units when demand is integer, multiples and covers in hundredths. A
review period is searched on an integer grid (``1 .. R_max``, one compass search of the other
parameters per value, sharing the budget; ``R_max`` from the economic order interval
``sqrt(2K / (h D))`` of the EOQ model, Snyder & Shen 2019, ch. 3, at least 2), then the review
offset over ``0 .. R - 1``. The start point is, in order of preference: the Clark-Scarf optimum
when the target is a serial chain with normal or Poisson demand and constant integer lead times
(:func:`heuristics.serial.optimize_echelon_base_stock`); the scenario's own parameters when it
already uses the kind there; otherwise textbook approximations from demand and lead-time means.
"""

from __future__ import annotations

import copy
import difflib
import inspect
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from agents.named import named
from agents.registry import resolve
from entities.errors import ScenarioError
from twin.engine import Simulation
from twin.scenario import Scenario, scenario_from_dict
from twin.scenario.edit import Override, assign, edit, edit_data


@dataclass(frozen=True)
class Tunable:
    """A parameter the tuner searches: its name, how it moves and whether it is per node."""

    name: str
    scale: Literal["level", "multiple", "cover", "period"]
    """``level``: units of stock (whole units when demand is integer); ``multiple``: a multiple
    of demand and ``cover``: periods of cover (both in hundredths); ``period``: a whole number of
    periods (the review period, on a grid, and its offset)."""
    per_node: bool = True


_COVERS = tuple(Tunable(p, "cover", per_node=False) for p in ("low_cover", "target_cover", "high_cover"))

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
    "hmarl_warehouse": _COVERS,
    "hmarl_supplier": _COVERS,
}

RESOLUTION = {"multiple": 0.01, "cover": 0.01, "period": 1.0}
"""Smallest step of the non-level scales (levels: 1 unit, or 0.2 % of the largest level)."""

Params = dict[str, Any]
"""Parameters of one target: ``{name: {node: value}}`` per node, ``{name: value}`` otherwise."""

Evaluator = Callable[[Scenario, Sequence[int]], Sequence[float]]
"""The network cost per period after warm-up of each of the given replications."""


@dataclass
class Target:
    """One agent entry of the search: ``nodes`` decided by ``kind``, with ``fixed`` parameters
    (given in its spec) and the ``searched`` ones."""

    text: str
    nodes: list[str]
    kind: str
    fixed: dict[str, Any]
    searched: tuple[Tunable, ...]


@dataclass
class TunedTarget:
    kind: str
    nodes: list[str]
    params: Params
    """The searched parameters at the result."""
    fixed: dict[str, Any]
    start_params: Params

    def agent_params(self) -> dict[str, Any]:
        """Every parameter of the tuned agent entry (fixed and searched)."""
        return {**self.fixed, **self.params}


@dataclass
class TuneResult:
    targets: list[TunedTarget]
    cost: float
    standard_error: float
    start_cost: float
    evaluations: int
    history: list[tuple[list[Params], float]] = field(default_factory=list)

    @property
    def kind(self) -> str:
        """The tuned kind (kinds joined by ``+`` when targets differ)."""
        return "+".join(dict.fromkeys(t.kind for t in self.targets))

    @property
    def nodes(self) -> list[str]:
        return [n for t in self.targets for n in t.nodes]

    @property
    def params(self) -> dict[str, dict[str, float]]:
        """The searched parameters of every target by node: ``{name: {node: value}}``."""
        return _by_node(self.targets, "params")

    @property
    def start_params(self) -> dict[str, dict[str, float]]:
        return _by_node(self.targets, "start_params")


def _by_node(targets: Sequence[TunedTarget], attribute: str) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for t in targets:
        for name, value in getattr(t, attribute).items():
            for n in t.nodes:
                out.setdefault(name, {})[n] = value[n] if isinstance(value, dict) else value
    return out


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


def _demand_rate(scenario: Scenario, node: str) -> tuple[float, float]:
    """Mean and variance of customer demand per period served through ``node``."""
    topo = scenario.topology()
    members = [node, *topo.descendants(node)]
    cfg = scenario.node_map
    demands = [d for d in (cfg[m].demand for m in members) if d is not None]
    return sum(d.mean for d in demands), sum(d.variance for d in demands)


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
    for n in nodes:
        mean, var = _demand_rate(scenario, n)
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
            out["multiple"][n] = round(level / mean, 2) if mean > 0 else 1.0
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
        h, (d, _) = cfg[n].holding_cost, _demand_rate(scenario, n)
        if k > 0 and h > 0 and d > 0:
            longest = max(longest, math.sqrt(2 * k / (h * d)))
        elif k > 0:
            longest = math.inf
    cap = max(2, min(26, scenario.periods // 4))
    top = cap if math.isinf(longest) else min(cap, max(2, 1 + math.ceil(2 * longest)))
    return list(range(1, top + 1))


# --------------------------------------------------------------------------------------------------
# Evaluation.


def event_costs(scenario: Scenario, replications: Sequence[int]) -> list[float]:
    """The network cost per period after warm-up of each replication, on the event twin."""
    costs = []
    warm = scenario.warmup_periods
    for r in replications:
        ledger = Simulation(scenario, replication=r).run().ledger
        # Summed in row order (period, then node), one float at a time, as the rows would be.
        total = sum(ledger.column("total_cost", warm).ravel().tolist())
        costs.append(total / (scenario.periods - warm))
    return costs


def mean_and_error(costs: Sequence[float]) -> tuple[float, float]:
    arr = np.asarray(costs, dtype=float)
    se = float(arr.std(ddof=1) / math.sqrt(arr.size)) if arr.size > 1 else float("nan")
    return float(arr.mean()), se


def tuned_overrides(targets: Sequence[TunedTarget | tuple[Target, Params]]) -> list[Override]:
    """The change a candidate (or the result) makes: each target's nodes decided by one entry of
    its kind, with its fixed and searched parameters (per-node ones as ``{node: value}``)."""
    out = []
    for item in targets:
        if isinstance(item, TunedTarget):
            kind, nodes, params = item.kind, item.nodes, item.agent_params()
        else:
            target, searched = item
            kind, nodes, params = target.kind, target.nodes, {**target.fixed, **searched}
        values = {  # a per-node value missing for a node is reported by the agent's validation
            p: {n: v[n] for n in nodes if n in v} if isinstance(v, dict) else v
            for p, v in params.items()
        }
        out.append(assign(list(nodes), kind, values))
    return out


def tuned_override(
    nodes: Sequence[str], kind: str, params: Mapping[str, Mapping[str, float]]
) -> Override:
    """One target's change: ``nodes`` decided by one ``kind`` entry with per-node ``params``."""
    return assign(list(nodes), kind, {p: {n: values[n] for n in nodes} for p, values in params.items()})


# --------------------------------------------------------------------------------------------------
# The search.


@dataclass(frozen=True)
class _Coordinate:
    target: int
    tunable: Tunable
    node: str | None

    def get(self, x: list[Params]) -> float:
        value = x[self.target][self.tunable.name]
        return value[self.node] if self.node is not None else value

    def set(self, x: list[Params], value: float) -> None:
        if self.node is not None:
            x[self.target][self.tunable.name][self.node] = value
        else:
            x[self.target][self.tunable.name] = value


def _feasible(targets: Sequence[Target], x: list[Params]) -> bool:
    for target, searched in zip(targets, x, strict=True):
        p = {**target.fixed, **searched}

        def values(name: str, p: dict[str, Any] = p, nodes: list[str] = target.nodes) -> list[float]:
            v = p[name]
            return [v[n] for n in nodes] if isinstance(v, dict) else [v] * len(nodes)

        if target.kind == "s_S" and any(a > b for a, b in zip(values("s"), values("S"), strict=True)):
            return False
        if target.kind == "r_Q" and any(q <= 0 for q in values("order_quantity")):
            return False
        if target.kind == "constant" and any(q < 0 for q in values("quantity")):
            return False
        if target.kind == "adaptive_base_stock" and any(k < 0 for k in values("multiple")):
            return False
        if target.kind in ("hmarl_warehouse", "hmarl_supplier"):
            low, mid, high = (p[c.name] for c in _COVERS)
            if not 0 <= low <= mid <= high:
                return False
        if target.kind == "periodic_review":
            review, offset = p["review_period"], p["offset"]
            if review < 1 or not 0 <= offset < review:
                return False
    return True


class _Search:
    """The evaluations of one search: a cache keyed by every coordinate, the budget, the best."""

    def __init__(
        self,
        base: Scenario,
        targets: list[Target],
        coordinates: list[_Coordinate],
        replications: list[int],
        budget: int,
        evaluator: Evaluator,
        progress: Callable[[int, float], None] | None,
    ) -> None:
        self.base, self.targets, self.coordinates = base, targets, coordinates
        self.replications, self.budget, self.evaluator = replications, budget, evaluator
        self.progress = progress
        self.cache: dict[tuple, tuple[float, float]] = {}
        self.history: list[tuple[list[Params], float]] = []
        self.best: tuple[float, list[Params]] | None = None

    @property
    def spent(self) -> bool:
        return len(self.cache) >= self.budget

    def key(self, x: list[Params]) -> tuple:
        return tuple(c.get(x) for c in self.coordinates)

    def cost(self, x: list[Params]) -> float:
        key = self.key(x)
        if key not in self.cache:
            scenario = edit(self.base, *tuned_overrides(list(zip(self.targets, x, strict=True))))
            self.cache[key] = mean_and_error(self.evaluator(scenario, self.replications))
            if self.progress is not None:
                self.progress(len(self.cache), self.cache[key][0])
        c = self.cache[key][0]
        if self.best is None or c < self.best[0] - 1e-12:
            self.best = (c, copy.deepcopy(x))
            self.history.append((copy.deepcopy(x), c))
        return c

    def compass(
        self, x: list[Params], coordinates: list[_Coordinate], integer: bool, limit: int
    ) -> tuple[list[Params], float]:
        """Coordinate search over ``coordinates`` from ``x`` until converged or ``limit``
        evaluations have been made in all."""
        best = self.cost(x)
        levels = [c for c in coordinates if c.tunable.scale == "level"]
        scale = max([abs(c.get(x)) for c in levels] + [1.0])

        def resolution(c: _Coordinate) -> float:
            if c.tunable.scale == "level":
                return 1.0 if integer else 0.002 * scale
            return RESOLUTION[c.tunable.scale]

        def first_step(c: _Coordinate) -> float:
            if c.tunable.scale == "level":
                return max(1.0 if integer else 0.01 * scale, 0.1 * abs(c.get(x)))
            return max(5 * RESOLUTION[c.tunable.scale], round(0.1 * abs(c.get(x)), 2))

        def snap(c: _Coordinate, value: float) -> float:
            if c.tunable.scale == "level":
                return float(round(value)) if integer else value
            return round(value, 2)

        steps = {c: first_step(c) for c in coordinates}
        # Besides each coordinate alone, a parameter of several nodes moves at all of them at once
        # (levels of a chain often move together, and constant orders must).
        groups: dict[tuple[int, str], list[_Coordinate]] = {}
        for c in coordinates:
            groups.setdefault((c.target, c.tunable.name), []).append(c)
        directions = [[c] for c in coordinates] + [g for g in groups.values() if len(g) > 1]
        while len(self.cache) < limit and coordinates:
            improved = False
            for k, moved in enumerate(directions):
                if k == len(coordinates) and improved:
                    break  # joint moves only when no single coordinate improves
                for direction in (1.0, -1.0):
                    if len(self.cache) >= limit:
                        break
                    trial = copy.deepcopy(x)
                    for c in moved:
                        c.set(trial, snap(c, c.get(trial) + direction * steps[c]))
                    if not _feasible(self.targets, trial):
                        continue
                    cost = self.cost(trial)
                    if cost < best - 1e-12:
                        x, best, improved = trial, cost, True
                        break
            if not improved:
                if all(s <= resolution(c) for c, s in steps.items()):
                    break
                steps = {
                    c: max(resolution(c), _halve(s, c.tunable.scale == "level" and integer))
                    for c, s in steps.items()
                }
        return x, best


def _halve(step: float, whole: bool) -> float:
    return math.floor(step / 2) if whole else step / 2


def tune(
    scenario_data: dict[str, Any],
    targets: str | Sequence[str],
    kind: str | None = None,
    *,
    source: str = "<scenario>",
    replications: int | None = None,
    budget: int = 150,
    integer: bool | None = None,
    evaluator: Evaluator = event_costs,
    progress: Callable[[int, float], None] | None = None,
) -> TuneResult:
    """Joint coordinate search over the parameters of every target (:func:`parse_targets`:
    ``targets`` is one ``TARGET[=KIND[:k=v,...]]`` text or several; ``kind`` the default spec)."""
    base = scenario_from_dict(scenario_data, source=source)
    if base.skus:
        raise ScenarioError(
            f"{source}: twin.tune does not support multi-SKU scenarios (top-level "
            "'skus'); tune a single-SKU scenario of one product"
        )
    plan = parse_targets(base, targets, kind, source)
    reps = list(range(replications or base.replications))
    if integer is None:
        integer = all(n.demand is None or n.demand.is_integer for n in base.nodes)
    x = start(base, plan, integer=integer)
    coordinates = [
        _Coordinate(i, p, n if p.per_node else None)
        for i, t in enumerate(plan)
        for p in t.searched
        for n in (t.nodes if p.per_node else [None])
    ]
    grid = [c for c in coordinates if c.tunable.name == "review_period"]
    offsets = [c for c in coordinates if c.tunable.name == "offset"]
    local = [c for c in coordinates if c.tunable.scale != "period"]
    search = _Search(base, plan, coordinates, reps, budget, evaluator, progress)
    start_params = copy.deepcopy(x)
    start_cost = search.cost(x)
    choices = [  # the grid, and the start's own review period
        sorted({*review_grid(base, plan[c.target].nodes), int(c.get(start_params))}) for c in grid
    ]
    combos = list(itertools.product(*choices))
    for k, combo in enumerate(combos):
        if search.spent:
            break
        trial = copy.deepcopy(start_params)
        for c, review in zip(grid, combo, strict=True):
            _set_review(base, trial[c.target], int(review), integer)
        if not _feasible(plan, trial):  # a fixed offset at or above this review period
            continue
        share = (budget - len(search.cache)) // (len(combos) - k)
        search.compass(trial, local, integer, len(search.cache) + max(1, share))
    assert search.best is not None
    x = search.best[1]
    for c in offsets:  # each review offset over its whole range, the rest at the best point
        review = int({**plan[c.target].fixed, **x[c.target]}["review_period"])
        for value in range(review):
            if search.spent:
                break
            trial = copy.deepcopy(x)
            c.set(trial, value)
            search.cost(trial)
            x = search.best[1]
    if (len(combos) > 1 or offsets) and not search.spent:  # polish the best point
        search.compass(copy.deepcopy(search.best[1]), local, integer, budget)
    x = search.best[1]
    mean, se = search.cache[search.key(x)]
    tuned = [
        TunedTarget(t.kind, t.nodes, params, t.fixed, begin)
        for t, params, begin in zip(plan, x, start_params, strict=True)
    ]
    return TuneResult(tuned, mean, se, start_cost, len(search.cache), search.history)


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


def _set_review(base: Scenario, params: Params, review: int, integer: bool) -> None:
    """Move a periodic-review target to review period ``review``: its order-up-to levels cover
    ``review - R`` more periods of demand than at the start's ``R``; the offset stays below it."""
    shift = review - int(params["review_period"])
    params["review_period"] = review
    if "offset" in params:
        params["offset"] = min(int(params["offset"]), review - 1)
    levels = params.get("order_up_to_level")
    if isinstance(levels, dict):
        for n in levels:
            moved = levels[n] + shift * _demand_rate(base, n)[0]
            levels[n] = float(round(moved)) if integer else moved


def check_start(
    scenario_data: dict[str, Any],
    targets: str | Sequence[str],
    kind: str | None,
    source: str = "<scenario>",
) -> Scenario:
    """Everything about the targets that can fail before a search: their syntax, kinds, nodes and
    that the start point's agents validate (a fixed parameter the kind does not take, ...).
    Returns the scenario at the start point."""
    base = scenario_from_dict(scenario_data, source=source)
    plan = parse_targets(base, targets, kind, source)
    x = start(base, plan, integer=False)
    for target, searched in zip(plan, x, strict=True):
        try:
            edit(base, *tuned_overrides([(target, searched)]))
        except ScenarioError as exc:
            flag = f"--target {target.text!r}" if "=" in target.text else f"--kind {kind!r}"
            message = str(exc).removeprefix(f"{source}: ")
            raise ScenarioError(f"{source}: {flag}: {message}") from None
    return edit(base, *tuned_overrides(list(zip(plan, x, strict=True))))


def tuned_scenario_data(data: dict[str, Any], result: TuneResult, source: str) -> dict[str, Any]:
    """The scenario data with every target decided by its tuned agent (one entry each): the change
    that was evaluated, applied to the user's data (so the file written stays as small as theirs)."""
    tuned, _ = edit_data(data, tuned_overrides(result.targets), source=source)
    return tuned
