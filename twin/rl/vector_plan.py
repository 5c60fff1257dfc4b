"""Compiling a scenario for the vector twin: what it can express, index arrays, and the draws.

:func:`compile_scenario` checks that a validated single-period-stepped scenario uses only what the
vector twin expresses (else :class:`VectorUnsupported`, naming the feature and its YAML path, so
the caller can fall back to the event twin) and lays the network out as arrays:

* nodes in an internal order, level by level from the customer-facing level up (each level is a
  contiguous slice, so a level is served with one whole-array operation);
* ordering lanes: the scenario's lanes in file order, then a production line for every source with
  an agent (make-to-stock), as :func:`twin.engine.build.build` makes them;
* each node's claimants, the order of entries within a period of its first-in-first-out queue of
  what it owes: its customers first (demand comes before the decision step), then its downstream
  lanes in the order their orders are placed (level, agent entry, node within the entry).

:func:`draw` makes the random inputs of replications exactly as the event twin draws them
(:class:`~twin.engine.rng.RandomStreams` per replication, one stream per entity and purpose), so
replication ``r`` of the vector twin sees the demand and lead times of ``Simulation(scenario,
replication=r)``.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from agents import registry
from entities.demand import DemandEffects, Shock, stochastic_round
from entities.distributions import Distribution
from entities.errors import ScenarioError, TwinError
from entities.messages import PRODUCTION, lane_id
from twin.engine.build import transit_holding_rate
from twin.engine.rng import RandomStreams
from twin.rl.vector_backend import NumpyBackend
from twin.rl.vector_rules import UnsupportedRule, vectorise
from twin.scenario.schema import NodeConfig, Scenario
from twin.scenario.series import load_series


class VectorUnsupported(TwinError):
    """The scenario uses something the vector twin does not express; use the event twin.

    ``path`` is the YAML path of the feature (``lanes[2].order_processing``).
    """

    def __init__(self, source: str, path: str, message: str) -> None:
        super().__init__(
            f"{source}: {path}: {message}; the vector twin does not express it "
            "(run the event twin, twin.engine.Simulation)"
        )
        self.path = path


@dataclass(frozen=True)
class LanePlan:
    """One ordering lane (a production line when ``origin`` is -1)."""

    id: str
    origin: int
    destination: int
    lead_time: Distribution
    stream: tuple[str, str]
    """``(entity, purpose)`` of its lead-time stream."""
    unit_cost: float
    fixed_cost: float
    transit_rate: float
    capacity: float
    """Production per period of a production line (inf: unlimited); inf for a lane."""
    initial_pipeline: tuple[float, ...] = ()


@dataclass(frozen=True)
class AgentPlan:
    """One ``agents`` entry: its nodes (internal indices) and whether actions come from outside."""

    index: int
    kind: str
    nodes: tuple[int, ...]
    agent: Any
    """The registry-built agent (None for an externally decided entry)."""
    external: bool


@dataclass
class Plan:
    """A scenario laid out as arrays (host NumPy; the kernel copies them to its backend)."""

    scenario: Scenario
    node_ids: list[str]
    """Node ids in internal order (levels from the customer-facing one up)."""
    order: np.ndarray
    """``order[i]``: the scenario index of internal node ``i``."""
    level_bounds: list[tuple[int, int]]
    """``(start, stop)`` of each level in internal order, customer-facing first."""
    lane_bounds: list[tuple[int, int, int]]
    """``(start, production, stop)`` of the lanes ordered on by each level's nodes: lanes in
    ``start:production``, production lines in ``production:stop``."""
    lanes: list[LanePlan]
    inbound: list[list[int]]
    """Ordering lanes of each internal node, in the event twin's order (primary lane first)."""
    claimants: np.ndarray
    """Claimant slot of each ordering lane at its origin (-1 for a production line)."""
    slots: int
    """Claimant slots per node (at least 1)."""
    customers: np.ndarray
    """Internal indices of nodes with customer demand (claimant slot 0)."""
    demand_config: list[NodeConfig]
    backlog_fraction: np.ndarray
    holding_cost: np.ndarray
    stockout_cost: np.ndarray
    price: np.ndarray
    """Sale price per unit sold to customers (revenue), per node."""
    storage_capacity: np.ndarray
    overflow_rate: np.ndarray
    make_to_order_capacity: np.ndarray
    """Per node: production capacity of a make-to-order source (inf if unlimited), else 0."""
    echelon: np.ndarray
    """``echelon[m, n]`` is 1 if ``m`` is ``n`` or downstream of it (echelon position = ip @ echelon)."""
    agents: list[AgentPlan]
    liu: bool
    tiers: list[str]
    forecast_window: int
    periods: int
    external_nodes: list[int] = field(default_factory=list)
    """Internal indices of the externally decided nodes, in scenario order."""

    @property
    def n_nodes(self) -> int:
        return len(self.node_ids)

    def index_of(self, node: str) -> int:
        return self.node_ids.index(node)


def _unsupported_node(s: Scenario, i: int, n: NodeConfig) -> None:
    def no(key: str, what: str) -> None:
        raise VectorUnsupported(s.source, f"nodes[{i}].{key}", what)

    if n.customers is not None:
        no("customers", "individual customers within the period")
    if n.demand_effects is not None and n.demand_effects.goodwill is not None:
        no("demand_effects.goodwill", "goodwill (demand that depends on service)")
    if n.storage_capacity is not None and n.overflow == "refuse":
        no("overflow", "refusing deliveries at a full node (overflow: refuse)")
    if n.allocation is not None and n.allocation.rule != "fifo":
        no("allocation", f"allocation rule {n.allocation.rule!r} (only fifo)")
    if n.sourcing is not None and n.sourcing.rule != "agent":
        no("sourcing", f"sourcing rule {n.sourcing.rule!r} (only the agent's own split)")
    if n.outage is not None:
        no("outage", "node outages")
    if n.bom:
        no("bom", "bills of materials")


def _unsupported_lanes(s: Scenario) -> None:
    for j, ln in enumerate(s.lanes):
        for key, value, what in (
            ("capacity", ln.capacity, "lane capacity"),
            ("order_processing", ln.order_processing, "order processing delays"),
            ("outage", ln.outage, "lane outages"),
            ("shipment_loss", ln.shipment_loss, "shipment loss"),
        ):
            if value is not None:
                raise VectorUnsupported(s.source, f"lanes[{j}].{key}", what)
        if ln.fifo:
            raise VectorUnsupported(s.source, f"lanes[{j}].fifo", "FIFO lanes (no overtaking)")


def compile_scenario(scenario: Scenario, external: Collection[int] = ()) -> Plan:
    """Lay ``scenario`` out as arrays; ``external`` are indices of ``scenario.agents`` whose
    decisions come from outside (the learning nodes). Raises :class:`VectorUnsupported`."""
    s = scenario
    _check_expressible(s)
    topo = s.topology()
    level = topo.level
    ids = [n.id for n in s.nodes]
    order = sorted(range(len(ids)), key=lambda k: (level[ids[k]], k))
    node_ids = [ids[k] for k in order]
    internal = {node: i for i, node in enumerate(node_ids)}
    top = max(level.values())
    owner, agents = _agent_plans(s, internal, external)
    lanes, mto = _lane_plans(s, internal, set(owner))
    lane_bounds = _sort_lanes(lanes, [level[name] for name in node_ids], top)
    inbound: list[list[int]] = [[] for _ in node_ids]
    for k, ln in enumerate(lanes):
        inbound[ln.destination].append(k)
    customers = [internal[n.id] for n in s.nodes if n.demand is not None or n.demand_series is not None]
    claimants, slots = _claimants(lanes, node_ids, customers, level, owner)
    echelon = np.eye(len(ids))
    for name in node_ids:
        for d in topo.descendants(name):
            echelon[internal[d], internal[name]] = 1.0
    cfg = s.node_map

    def per(attr: str) -> np.ndarray:
        return np.array([float(getattr(cfg[node], attr)) for node in node_ids])

    plan = Plan(
        scenario=s,
        node_ids=node_ids,
        order=np.array(order),
        level_bounds=_level_bounds(node_ids, level, top),
        lane_bounds=lane_bounds,
        lanes=lanes,
        inbound=inbound,
        claimants=claimants,
        slots=slots,
        customers=np.array(sorted(customers), dtype=np.intp),
        demand_config=[cfg[node_ids[i]] for i in sorted(customers)],
        backlog_fraction=np.array(
            [
                {"backlog": 1.0, "lost": 0.0}.get(cfg[n].unmet_demand, cfg[n].backlog_fraction or 0.0)
                for n in node_ids
            ]
        ),
        holding_cost=per("holding_cost"),
        stockout_cost=per("stockout_cost"),
        price=per("price"),
        storage_capacity=np.array([_or_inf(cfg[n].storage_capacity) for n in node_ids]),
        overflow_rate=per("overflow_cost"),
        make_to_order_capacity=mto,
        echelon=echelon,
        agents=agents,
        liu=s.timing == "liu",
        tiers=[cfg[n].tier_name for n in node_ids],
        forecast_window=s.forecast_window,
        periods=s.periods,
    )
    plan.external_nodes = sorted(
        (i for a in agents if a.external for i in a.nodes), key=lambda i: order[i]
    )
    _check_rules(plan)
    return plan


def _or_inf(value: float | None) -> float:
    return math.inf if value is None else float(value)


def _check_expressible(s: Scenario) -> None:
    """What the arrays cannot hold is refused before anything is laid out."""
    if s.skus:
        raise VectorUnsupported(s.source, "skus", f"several products ({len(s.skus)} SKUs)")
    for i, n in enumerate(s.nodes):
        _unsupported_node(s, i, n)
    _unsupported_lanes(s)


def _level_bounds(node_ids: Sequence[str], level: dict[str, int], top: int) -> list[tuple[int, int]]:
    """Each level's slice of the nodes (sorted by level; every level from 0 to the top has nodes)."""
    bounds: list[tuple[int, int]] = []
    for lv in range(top + 1):
        inside = [i for i, name in enumerate(node_ids) if level[name] == lv]
        bounds.append((inside[0], inside[-1] + 1))
    return bounds


def _agent_plans(
    s: Scenario, internal: dict[str, int], external: Collection[int]
) -> tuple[dict[str, tuple[int, int]], list[AgentPlan]]:
    """Who decides what, in placement order: each node's (agent, member) and the agents' plans."""
    owner: dict[str, tuple[int, int]] = {}
    agents: list[AgentPlan] = []
    for i, a in enumerate(s.agents):
        members = s.agent_nodes(i)
        for k, node in enumerate(members):
            owner[node] = (i, k)
        is_external = i in external
        agent = None
        if not is_external:
            try:
                agent = registry.validate(a.kind, dict(a.params), members)
            except (TypeError, ValueError) as exc:  # pragma: no cover - validated on load
                raise ScenarioError(f"{s.source}: agents[{i}].params: {exc}") from None
        agents.append(AgentPlan(i, a.kind, tuple(internal[m] for m in members), agent, is_external))
    return owner, agents


def _lane_plans(
    s: Scenario, internal: dict[str, int], decided: set[str]
) -> tuple[list[LanePlan], np.ndarray]:
    """The scenario's lanes, then a production line for each source with an agent (make to
    stock); a source without one makes to order, up to its capacity (the second array)."""
    cfg = s.node_map
    lanes = [
        LanePlan(
            ln.id,
            internal[ln.origin],
            internal[ln.destination],
            ln.lead_time,
            (s.lane_stream(ln.id), "lead_time"),
            ln.unit_cost,
            ln.fixed_cost,
            transit_holding_rate(
                s,
                ln.in_transit_holding_cost,
                cfg[ln.origin].holding_cost,
                cfg[ln.destination].holding_cost,
            ),
            math.inf,
            tuple(float(q) for q in ln.initial_pipeline),
        )
        for ln in s.lanes
    ]
    mto = np.zeros(len(s.nodes))
    predecessors = s.topology().predecessors
    for n in s.nodes:
        if predecessors[n.id]:
            continue
        if n.id in decided:
            lanes.append(
                LanePlan(
                    lane_id(PRODUCTION, n.id),
                    -1,
                    internal[n.id],
                    n.production_lead_time,
                    (n.id, "production_lead_time"),
                    0.0,
                    0.0,
                    0.0,
                    _or_inf(n.capacity),
                )
            )
        else:
            mto[internal[n.id]] = _or_inf(n.capacity)
    return lanes, mto


def _sort_lanes(lanes: list[LanePlan], levels: Sequence[int], top: int) -> list[tuple[int, int, int]]:
    """Sort ``lanes`` in place by the level of the node that orders on them (production lines
    after the lanes of a level), so the orders of a level are one contiguous slice; a node's own
    lanes keep the event twin's order (scenario order, then its production line). Returns each
    level's (first lane, first production line, end)."""
    position = {id(ln): k for k, ln in enumerate(lanes)}
    lanes.sort(key=lambda ln: (levels[ln.destination], ln.origin < 0, position[id(ln)]))
    lane_bounds: list[tuple[int, int, int]] = []
    by_level: dict[int, list[int]] = {}
    for k, ln in enumerate(lanes):
        by_level.setdefault(levels[ln.destination], []).append(k)
    for lv in range(top + 1):
        mine = by_level.get(lv, [])
        real = [k for k in mine if lanes[k].origin >= 0]
        start = mine[0] if mine else (lane_bounds[-1][2] if lane_bounds else 0)
        lane_bounds.append((start, start + len(real), start + len(mine)))
    return lane_bounds


def _claimants(
    lanes: Sequence[LanePlan],
    node_ids: Sequence[str],
    customers: Collection[int],
    level: dict[str, int],
    owner: dict[str, tuple[int, int]],
) -> tuple[np.ndarray, int]:
    """Each lane's claim slot at its origin: customers first, then the downstream lanes in the
    order their orders are placed; and the most slots any node has."""
    claimants = np.full(len(lanes), -1)
    slots = 1

    def placed(k: int) -> tuple[int, int, int]:
        destination = node_ids[lanes[k].destination]
        return (level[destination], *owner[destination])

    leaving: dict[int, list[int]] = {}
    for k, ln in enumerate(lanes):
        leaving.setdefault(ln.origin, []).append(k)
    for i in range(len(node_ids)):
        out = sorted(leaving.get(i, []), key=placed)
        first = 1 if i in customers else 0
        for j, k in enumerate(out):
            claimants[k] = first + j
        slots = max(slots, first + len(out))
    return claimants, slots


def _check_rules(plan: Plan) -> None:
    """Every agent that is not external must have a vectorised version."""
    for a in plan.agents:
        if a.external:
            continue
        nodes = [plan.node_ids[i] for i in a.nodes]
        try:
            vectorise(a.agent, nodes, np.array(a.nodes), NumpyBackend())
        except UnsupportedRule as exc:
            raise VectorUnsupported(
                plan.scenario.source, f"agents[{a.index}].{exc.key}", f"{a.kind}: {exc}"
            ) from None


# --------------------------------------------------------------------------------------------------
# Draws.


@dataclass
class Draws:
    """The random inputs of ``B`` replications: demand ``(B, periods, customers)`` in the order
    of :attr:`Plan.customers`, lead-time offsets ``(B, periods, lanes)`` in whole periods
    (``ceil(L)``, 0 when ``L == 0``: received at once); views of row-major draws."""

    replications: list[int]
    demand: np.ndarray
    offsets: np.ndarray


def _effects(n: NodeConfig) -> DemandEffects | None:
    e = n.demand_effects
    if e is None:
        return None
    season = e.seasonality
    return DemandEffects(
        trend=e.trend,
        season_period=None if season is None else season.period,
        season_amplitude=0.0 if season is None else season.amplitude,
        season_phase=0.0 if season is None else season.phase,
        shocks=tuple(Shock(k.start, k.magnitude, k.duration) for k in e.shocks),
    )


@lru_cache(maxsize=256)
def _series(path: str, column: str, periods: int) -> np.ndarray:
    values = load_series(path, column, periods)
    values.setflags(write=False)
    return values


def _demand(n: NodeConfig, streams: RandomStreams, periods: int) -> np.ndarray:
    """One replication's demand at ``n``, as :func:`twin.engine.build.build` draws it."""
    if n.demand_series is not None:
        paths = n.demand_series.paths
        r = streams.replication if n.demand_series.files is not None else 0
        if r >= len(paths):
            raise ScenarioError(
                f"{n.id}: demand_series.files has {len(paths)} file(s); replication {r} needs files[{r}]"
            )
        base = _series(paths[r], n.demand_series.column or n.id, periods)
        integer = bool(np.all(base == np.floor(base)))
    else:
        assert n.demand is not None
        base = n.demand.sample(streams.generator(n.id, "demand"), periods)
        integer = n.demand.is_integer
    effects = _effects(n)
    if effects is None:
        return np.asarray(base, dtype=float)
    uniforms = streams.generator(n.id, "demand_rounding").random(periods) if integer else None
    scaled = base * effects.multipliers(periods)
    return scaled if uniforms is None else stochastic_round(scaled, uniforms)


def draw(plan: Plan, replications: Sequence[int]) -> Draws:
    """Demand and lead times of ``replications`` (one row each), as the event twin draws them."""
    s, periods, rows = plan.scenario, plan.periods, len(replications)
    demand = np.zeros((rows, len(plan.customers), periods))  # filled row by row, then transposed
    lead = np.zeros((rows, len(plan.lanes), periods))
    for b, r in enumerate(replications):
        streams = RandomStreams(s.seed, int(r))
        for k, ln in enumerate(plan.lanes):
            lead[b, k] = ln.lead_time.sample(streams.generator(*ln.stream), periods)
        for j, n in enumerate(plan.demand_config):
            demand[b, j] = _demand(n, streams, periods)
    offsets = np.maximum(np.ceil(lead, out=lead), 0.0, out=lead)  # ceil(L); 0 when L <= 0
    offsets = offsets.astype(np.int64).transpose(0, 2, 1)
    demand = demand.transpose(0, 2, 1)
    return Draws(list(map(int, replications)), demand, offsets)


def ordering_lanes(plan: Plan, node: int) -> list[str]:
    """Lane ids of an internal node's ordering lanes (primary first)."""
    return [plan.lanes[k].id for k in plan.inbound[node]]
