"""Simulation-optimisation of a rule agent's parameters: the "best tuned baseline".

The search behind ``python -m twin.tune SCENARIO.yaml --target NODE_OR_TIER --kind KIND``
(:mod:`twin.tune`): it searches the parameters of ``kind`` at the target's nodes to minimise the
network's mean cost per period, and gives the scenario back with the tuned agent. Every
candidate is simulated on the same replications (common random numbers: the same demand and
lead-time draws), so differences between candidates are not noise between draws.

The optimiser is a coordinate (compass) search (Kolda, Lewis & Torczon, *SIAM Review* 45(3), 2003):
from the start point, try each parameter up and down by its step, move to any improvement, halve
all steps when none improves, stop when the steps are below resolution or the evaluation budget is
spent. The start point is, in order of preference: the Clark-Scarf optimum when the target is a
serial chain with normal or Poisson demand and constant integer lead times
(:func:`heuristics.serial.optimize_echelon_base_stock`); the scenario's own parameters when it
already uses ``kind`` there; otherwise textbook approximations from demand and lead-time means.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from entities.errors import ScenarioError
from twin.engine import Simulation
from twin.scenario import Scenario, scenario_from_dict
from twin.scenario.edit import Override, assign, edit, edit_data

#: Per-node parameters the tuner searches, per agent kind.
TUNABLE: dict[str, tuple[str, ...]] = {
    "base_stock": ("base_stock_level",),
    "echelon_base_stock": ("base_stock_level",),
    "s_S": ("s", "S"),
    "r_Q": ("reorder_point", "order_quantity"),
    "periodic_review": ("order_up_to_level",),
    "constant": ("quantity",),
}


@dataclass
class TuneResult:
    kind: str
    nodes: list[str]
    params: dict[str, dict[str, float]]
    cost: float
    standard_error: float
    start_params: dict[str, dict[str, float]]
    start_cost: float
    evaluations: int
    history: list[tuple[dict[str, dict[str, float]], float]] = field(default_factory=list)


def target_nodes(scenario: Scenario, target: str, source: str = "<scenario>") -> list[str]:
    """Node ids named by ``target``: a node id, a tier, or a comma-separated list of them."""
    ids = [n.id for n in scenario.nodes]
    selected: list[str] = []
    for name in filter(None, (x.strip() for x in target.split(","))):
        found = [name] if name in ids else [n.id for n in scenario.nodes if n.tier_name == name]
        if not found:
            import difflib

            choices = ids + sorted({n.tier_name for n in scenario.nodes})
            close = difflib.get_close_matches(name, choices, n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ScenarioError(f"{source}: --target {name!r} is not a node or tier{hint}")
        selected += [n for n in found if n not in selected]
    if not selected:
        raise ScenarioError(f"{source}: --target {target!r} names no node")
    return selected


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


def start_point(scenario: Scenario, kind: str, nodes: list[str]) -> dict[str, dict[str, float]]:
    """Initial parameters (see the module docstring for the order of preference)."""
    names = TUNABLE[kind]
    for i, a in enumerate(scenario.agents):
        if a.kind == kind and set(nodes) <= set(scenario.agent_nodes(i)):
            try:
                return {
                    p: {
                        n: float(a.params[p][n] if isinstance(a.params[p], dict) else a.params[p])
                        for n in nodes
                    }
                    for p in names
                }
            except (KeyError, TypeError, ValueError):
                break
    if kind == "echelon_base_stock":
        levels = _analytical_serial(scenario, nodes)
        if levels is not None:
            return {"base_stock_level": levels}
    out: dict[str, dict[str, float]] = {p: {} for p in names}
    for n in nodes:
        mean, var = _demand_rate(scenario, n)
        lead = (
            _echelon_lead_time(scenario, n) if kind == "echelon_base_stock" else _lead_time(scenario, n)
        )
        cover = lead + 1.0
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
    return out


def _feasible(kind: str, params: dict[str, dict[str, float]]) -> bool:
    if kind == "s_S":
        return all(params["s"][n] <= params["S"][n] for n in params["s"])
    if kind == "r_Q":
        return all(q > 0 for q in params["order_quantity"].values())
    if kind == "constant":
        return all(q >= 0 for q in params["quantity"].values())
    return True


def tuned_override(
    nodes: Sequence[str], kind: str, params: Mapping[str, Mapping[str, float]]
) -> Override:
    """The change a candidate (or the result) makes: ``nodes`` decided by one ``kind`` entry
    whose parameters are per node (``{param: {node: value}}``)."""
    return assign(list(nodes), kind, {p: {n: values[n] for n in nodes} for p, values in params.items()})


def evaluate(
    base: Scenario | Mapping[str, Any],
    target_ids: list[str],
    kind: str,
    params: dict[str, dict[str, float]],
    replications: Sequence[int],
    source: str = "<scenario>",
) -> tuple[float, float]:
    """Mean and standard error of the network cost per period after warm-up, with ``target_ids``
    decided by ``kind`` at ``params`` (``base``: a scenario, or its plain data read from ``source``)."""
    if not isinstance(base, Scenario):
        base = scenario_from_dict(base, source=source)
    scenario = edit(base, tuned_override(target_ids, kind, params))
    costs = []
    warm = scenario.warmup_periods
    for r in replications:
        ledger = Simulation(scenario, replication=r).run().ledger
        # Summed in row order (period, then node), one float at a time, as the rows would be.
        total = sum(ledger.column("total_cost", warm).ravel().tolist())
        costs.append(total / (scenario.periods - warm))
    arr = np.asarray(costs)
    se = float(arr.std(ddof=1) / math.sqrt(arr.size)) if arr.size > 1 else float("nan")
    return float(arr.mean()), se


def tune(
    scenario_data: dict[str, Any],
    target: str,
    kind: str,
    *,
    source: str = "<scenario>",
    replications: int | None = None,
    budget: int = 150,
    integer: bool | None = None,
    progress: Callable[[int, float], None] | None = None,
) -> TuneResult:
    """Coordinate search over the ``TUNABLE[kind]`` parameters of the target's nodes."""
    if kind not in TUNABLE:
        raise ScenarioError(f"--kind {kind!r} cannot be tuned; tunable kinds: {', '.join(TUNABLE)}")
    base = scenario_from_dict(scenario_data, source=source)
    if base.skus:
        raise ScenarioError(
            f"{source}: twin.tune does not support multi-SKU scenarios (top-level "
            "'skus'); tune a single-SKU scenario of one product"
        )
    nodes = target_nodes(base, target, source)
    reps = list(range(replications or base.replications))
    if integer is None:
        integer = all(n.demand is None or n.demand.is_integer for n in base.nodes)
    x = start_point(base, kind, nodes)
    if integer:
        x = {p: {n: float(round(v)) for n, v in vals.items()} for p, vals in x.items()}
    keys = [(p, n) for p in TUNABLE[kind] for n in nodes]
    scale = max([abs(x[p][n]) for p, n in keys] + [1.0])
    steps = {k: max(1.0 if integer else 0.01 * scale, 0.1 * abs(x[k[0]][k[1]])) for k in keys}
    resolution = 1.0 if integer else 0.002 * scale
    cache: dict[tuple, tuple[float, float]] = {}

    def cost_of(params: dict[str, dict[str, float]]) -> float:
        key = tuple(params[p][n] for p, n in keys)
        if key not in cache:
            cache[key] = evaluate(base, nodes, kind, params, reps)
            if progress is not None:
                progress(len(cache), cache[key][0])
        return cache[key][0]

    start = copy.deepcopy(x)
    best = cost_of(x)
    start_cost = best
    history = [(copy.deepcopy(x), best)]
    while len(cache) < budget:
        improved = False
        for k in keys:
            for direction in (1.0, -1.0):
                if len(cache) >= budget:
                    break
                trial = copy.deepcopy(x)
                value = trial[k[0]][k[1]] + direction * steps[k]
                trial[k[0]][k[1]] = float(round(value)) if integer else value
                if not _feasible(kind, trial):
                    continue
                c = cost_of(trial)
                if c < best - 1e-12:
                    x, best, improved = trial, c, True
                    history.append((copy.deepcopy(x), best))
                    break
        if not improved:
            if all(s <= resolution for s in steps.values()):
                break
            steps = {
                k: max(resolution, math.floor(s / 2) if integer else s / 2) for k, s in steps.items()
            }
    mean, se = cache[tuple(x[p][n] for p, n in keys)]
    return TuneResult(kind, nodes, x, mean, se, start, start_cost, len(cache), history)


def tuned_scenario_data(data: dict[str, Any], result: TuneResult, source: str) -> dict[str, Any]:
    """The scenario data with the target decided by the tuned agent (one entry): the change that
    was evaluated, applied to the user's data (so the file written stays as small as theirs)."""
    tuned, _ = edit_data(data, [tuned_override(result.nodes, result.kind, result.params)], source=source)
    return tuned
