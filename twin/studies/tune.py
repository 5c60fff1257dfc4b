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
offset over ``0 .. R - 1``. What is searched and where the search starts:
:mod:`twin.studies.tune_space`.

A service target (``min_fill``) makes the search constrained: a candidate whose customer unit fill
rate (mean over the replications, as the KPI table reports it) is below the target is infeasible.
Candidates are ranked by their shortfall below the target first and by cost second, so every
feasible candidate beats every infeasible one, and a search that starts below the target climbs
towards it before it lowers the cost.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from entities.errors import ScenarioError
from twin.engine import Simulation
from twin.scenario import Scenario, scenario_from_dict
from twin.scenario.edit import Override, assign, edit, edit_data
from twin.studies.tune_space import (
    COVERS,
    TUNABLE,
    Params,
    Target,
    Tunable,
    demand_rate,
    parse_targets,
    review_grid,
    start,
    start_point,
    target_nodes,
)

__all__ = [
    "TUNABLE",
    "TuneResult",
    "TunedTarget",
    "check_start",
    "event_costs",
    "event_costs_and_fill_rates",
    "start_point",
    "target_nodes",
    "tune",
    "tuned_scenario_data",
]

RESOLUTION = {"multiple": 0.01, "cover": 0.01, "period": 1.0}
"""Smallest step of the non-level scales (levels: 1 unit, or 0.2 % of the largest level)."""

Evaluator = Callable[[Scenario, Sequence[int]], Sequence[float]]
"""The network cost per period after warm-up of each of the given replications."""

ServiceEvaluator = Callable[[Scenario, Sequence[int]], tuple[Sequence[float], Sequence[float]]]
"""The network cost per period and the customer unit fill rate after warm-up of each of the given
replications."""

Rank = tuple[float, float]
"""How a candidate ranks: (shortfall of its fill rate below the target, 0 without one; its cost)."""


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
    fill_rate: float | None = None
    """The customer unit fill rate at the result (measured only with a service target)."""
    min_fill: float | None = None
    """The service target: the least fill rate a candidate had to reach, if any."""

    @property
    def feasible(self) -> bool:
        """Whether the result meets the service target (True without one)."""
        return self.min_fill is None or (self.fill_rate is not None and self.fill_rate >= self.min_fill)

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


def event_costs_and_fill_rates(
    scenario: Scenario, replications: Sequence[int]
) -> tuple[list[float], list[float]]:
    """The network cost per period and the customer unit fill rate (filled on time over demand
    at the customer-facing nodes, ``reconciliation.kpis``) after warm-up of each replication, on
    the event twin."""
    from reconciliation.report import customer_nodes

    customers = set(customer_nodes(scenario))
    costs, fills = [], []
    warm = scenario.warmup_periods
    for r in replications:
        ledger = Simulation(scenario, replication=r).run().ledger
        total = sum(ledger.column("total_cost", warm).ravel().tolist())
        costs.append(total / (scenario.periods - warm))
        columns = [i for i, node in enumerate(ledger.layout.nodes) if node in customers]
        demand = float(ledger.column("demand", warm)[:, columns].sum())
        filled = float(ledger.column("filled_on_time", warm)[:, columns].sum())
        fills.append(filled / demand if demand > 0 else math.nan)
    return costs, fills


def _below(a: Rank, b: Rank) -> bool:
    """``a`` ranks strictly before ``b``: a smaller shortfall, or the same and a lower cost."""
    if a[0] < b[0] - 1e-12:
        return True
    return abs(a[0] - b[0]) <= 1e-12 and a[1] < b[1] - 1e-12


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
            low, mid, high = (p[c.name] for c in COVERS)
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
        service: tuple[float, ServiceEvaluator] | None = None,
    ) -> None:
        self.base, self.targets, self.coordinates = base, targets, coordinates
        self.replications, self.budget, self.evaluator = replications, budget, evaluator
        self.progress, self.service = progress, service
        self.cache: dict[tuple, tuple[float, float, float]] = {}
        """Per candidate: mean cost, its standard error, mean fill rate (NaN if not measured)."""
        self.history: list[tuple[list[Params], float]] = []
        self.best: tuple[Rank, list[Params]] | None = None

    @property
    def spent(self) -> bool:
        return len(self.cache) >= self.budget

    def key(self, x: list[Params]) -> tuple:
        return tuple(c.get(x) for c in self.coordinates)

    def rank(self, x: list[Params]) -> Rank:
        """Evaluate ``x`` (once) and return its :data:`Rank`."""
        key = self.key(x)
        if key not in self.cache:
            scenario = edit(self.base, *tuned_overrides(list(zip(self.targets, x, strict=True))))
            if self.service is None:
                fill = math.nan
                mean, se = mean_and_error(self.evaluator(scenario, self.replications))
            else:
                costs, fills = self.service[1](scenario, self.replications)
                (mean, se), fill = mean_and_error(costs), float(np.mean(fills))
            self.cache[key] = (mean, se, fill)
            if self.progress is not None:
                self.progress(len(self.cache), mean)
        mean, _, fill = self.cache[key]
        # A fill rate that is NaN (no demand) falls short of any target.
        shortfall = 0.0 if self.service is None else max(0.0, self.service[0] - fill)
        rank = (1.0 if math.isnan(shortfall) else shortfall, mean)
        if self.best is None or _below(rank, self.best[0]):
            self.best = (rank, copy.deepcopy(x))
            self.history.append((copy.deepcopy(x), mean))
        return rank

    def compass(
        self, x: list[Params], coordinates: list[_Coordinate], integer: bool, limit: int
    ) -> tuple[list[Params], Rank]:
        """Coordinate search over ``coordinates`` from ``x`` until converged or ``limit``
        evaluations have been made in all."""
        best = self.rank(x)
        grid = _Grid.around(x, coordinates, integer)
        steps = {c: grid.first_step(c, c.get(x)) for c in coordinates}
        directions = _directions(coordinates)
        while len(self.cache) < limit and coordinates:
            x, best, improved = self._poll(x, best, directions, len(coordinates), steps, grid, limit)
            if not improved:
                if all(s <= grid.resolution(c) for c, s in steps.items()):
                    break
                steps = {c: grid.smaller(c, s) for c, s in steps.items()}
        return x, best

    def _poll(
        self,
        x: list[Params],
        best: Rank,
        directions: list[list[_Coordinate]],
        singles: int,
        steps: Mapping[_Coordinate, float],
        grid: _Grid,
        limit: int,
    ) -> tuple[list[Params], Rank, bool]:
        """One pass over ``directions`` (the first ``singles`` move one coordinate, the others
        several together), a step forth and back along each, moving to the first feasible
        trial that lowers the cost; returns the point, its cost and whether it moved."""
        improved = False
        for k, moved in enumerate(directions):
            if k == singles and improved:
                break  # joint moves only when no single coordinate improves
            for direction in (1.0, -1.0):
                if len(self.cache) >= limit:
                    break
                trial = copy.deepcopy(x)
                for c in moved:
                    c.set(trial, grid.snap(c, c.get(trial) + direction * steps[c]))
                if not _feasible(self.targets, trial):
                    continue
                rank = self.rank(trial)
                if _below(rank, best):
                    x, best, improved = trial, rank, True
                    break
        return x, best, improved


def _directions(coordinates: list[_Coordinate]) -> list[list[_Coordinate]]:
    """Each coordinate alone, then, for a parameter of several nodes, all of its coordinates at
    once (levels of a chain often move together, and constant orders must)."""
    groups: dict[tuple[int, str], list[_Coordinate]] = {}
    for c in coordinates:
        groups.setdefault((c.target, c.tunable.name), []).append(c)
    return [[c] for c in coordinates] + [g for g in groups.values() if len(g) > 1]


@dataclass(frozen=True)
class _Grid:
    """The steps of a search: stock levels on whole units (``integer``) or on a fine grid scaled
    by the largest starting level; multiples, covers and periods on :data:`RESOLUTION`."""

    integer: bool
    scale: float
    """The largest absolute starting level (at least 1)."""

    @classmethod
    def around(cls, x: list[Params], coordinates: list[_Coordinate], integer: bool) -> _Grid:
        levels = [c for c in coordinates if c.tunable.scale == "level"]
        return cls(integer, max([abs(c.get(x)) for c in levels] + [1.0]))

    def resolution(self, c: _Coordinate) -> float:
        if c.tunable.scale == "level":
            return 1.0 if self.integer else 0.002 * self.scale
        return RESOLUTION[c.tunable.scale]

    def first_step(self, c: _Coordinate, value: float) -> float:
        if c.tunable.scale == "level":
            return max(1.0 if self.integer else 0.01 * self.scale, 0.1 * abs(value))
        return max(5 * RESOLUTION[c.tunable.scale], round(0.1 * abs(value), 2))

    def snap(self, c: _Coordinate, value: float) -> float:
        if c.tunable.scale == "level":
            return float(round(value)) if self.integer else value
        return round(value, 2)

    def smaller(self, c: _Coordinate, step: float) -> float:
        """Half the step, no finer than the resolution (whole units on an integer grid)."""
        return max(self.resolution(c), _halve(step, c.tunable.scale == "level" and self.integer))


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
    min_fill: float | None = None,
    service_evaluator: ServiceEvaluator = event_costs_and_fill_rates,
) -> TuneResult:
    """Joint coordinate search over the parameters of every target (:func:`parse_targets`:
    ``targets`` is one ``TARGET[=KIND[:k=v,...]]`` text or several; ``kind`` the default spec).

    ``min_fill``: the service target (a customer unit fill rate in ``[0, 1]``); candidates are
    then evaluated by ``service_evaluator`` (cost and fill rate) instead of ``evaluator``."""
    if min_fill is not None and not 0.0 <= min_fill <= 1.0:
        raise ScenarioError(f"{source}: min_fill must be a fill rate in [0, 1], got {min_fill!r}")
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
    service = None if min_fill is None else (min_fill, service_evaluator)
    search = _Search(base, plan, coordinates, reps, budget, evaluator, progress, service)
    start_params = copy.deepcopy(x)
    start_cost = search.rank(x)[1]
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
            search.rank(trial)
            x = search.best[1]
    if (len(combos) > 1 or offsets) and not search.spent:  # polish the best point
        search.compass(copy.deepcopy(search.best[1]), local, integer, budget)
    x = search.best[1]
    mean, se, fill = search.cache[search.key(x)]
    tuned = [
        TunedTarget(t.kind, t.nodes, params, t.fixed, begin)
        for t, params, begin in zip(plan, x, start_params, strict=True)
    ]
    return TuneResult(
        tuned,
        mean,
        se,
        start_cost,
        len(search.cache),
        search.history,
        fill_rate=None if min_fill is None else fill,
        min_fill=min_fill,
    )


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
            moved = levels[n] + shift * demand_rate(base, n)[0]
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
