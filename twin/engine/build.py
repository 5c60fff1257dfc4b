"""Build the entities of one replication from a validated scenario.

Creates the SimPy environment, nodes, lanes (with their lead times drawn up front from their own
random streams), customer-demand processes and the agents (through the registry). Decision order:
``Network.levels`` lists the nodes level by level, customer-facing level first (DESIGN.md).

A multi-SKU scenario is built from its stock-point view (:func:`twin.scenario.skus.stock_view`):
one Node per (location, sku) with id ``location/sku``, one Lane per (lane, sku) drawing its lead
times from the location lane's stream, and factories' output lines as
:class:`entities.production.ProductionLane` (bill of materials).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import simpy

from agents import registry
from agents.base import Agent, conform
from entities.customers import CustomerArrivals, arrival_times
from entities.demand import CustomerDemand, DemandEffects, Goodwill, Shock, stochastic_round
from entities.disruptions import Outage, ShipmentLoss
from entities.errors import ScenarioError
from entities.lanes import Lane, Receipts
from entities.messages import PRODUCTION, LaneId, NodeId, lane_id
from entities.nodes import Node
from entities.production import ProductionLane
from entities.sourcing import Sourcing
from twin.engine.rng import RandomStreams
from twin.scenario.schema import LaneConfig, NodeConfig, OutageConfig, Scenario
from twin.scenario.series import load_series
from twin.scenario.skus import stock_view
from twin.scenario.topology import Topology


@dataclass
class AgentBinding:
    """An agent with the nodes it decides for, split by level."""

    name: str
    """``agents[i]:kind``, used in error messages."""
    agent: Agent
    nodes: list[Node]
    turn: bool = True
    """The agent decides on observations taken at its nodes' turn (set by the simulation)."""


@dataclass
class Level:
    """The nodes of one level and the agents that decide for them, in decision order."""

    number: int
    nodes: list[Node]
    agents: list[tuple[AgentBinding, list[Node]]] = field(default_factory=list)
    production_lanes: list[Lane] = field(default_factory=list)


@dataclass
class Network:
    env: simpy.Environment
    nodes: list[Node]
    lanes: list[Lane]
    demands: list[CustomerDemand | CustomerArrivals]
    bindings: list[AgentBinding]
    levels: list[Level]
    node_map: dict[NodeId, Node]
    echelon_members: dict[NodeId, list[Node]]
    lanes_of: dict[NodeId, dict[LaneId, Lane]]
    receipts: Receipts | None = None
    """The receive steps of every lane (one event per period with arrivals)."""
    customer_nodes: frozenset[Node] = frozenset()
    """Nodes with external customer demand."""
    bom_inputs: frozenset[Node] = frozenset()
    """Input stock points of a factory's bill of materials (consumed by production)."""


def build(
    scenario: Scenario,
    streams: RandomStreams,
    *,
    agents: Mapping[int, Any] | None = None,
    trace: Any = None,
) -> Network:
    """Entities for one replication. ``agents`` replaces ``scenario.agents[i]`` by an instance;
    ``trace`` (a :class:`reconciliation.trace.Trace`) records every order and shipment."""
    env = simpy.Environment()
    receipts = Receipts(env)  # one receive event per period with arrivals, for all lanes
    scenario = stock_view(scenario)  # one node per (location, sku) in a multi-SKU scenario
    topo = scenario.topology()
    periods = scenario.periods
    nodes = _nodes(scenario, _decision_levels(scenario, topo), streams)
    lanes = [_lane(scenario, link, nodes, streams, env, receipts, trace) for link in scenario.lanes]
    bindings = _bindings(scenario, nodes, streams, agents)
    decided = {n.id for binding in bindings for n in binding.nodes}
    production: dict[NodeId, Lane] = {}
    for cfg in scenario.nodes:  # sources: a production line if an agent decides, else make-to-order
        if topo.predecessors[cfg.id]:
            continue
        line = _source(cfg, nodes, cfg.id in decided, streams, env, receipts, trace, periods)
        if line is not None:
            lanes.append(line)
            production[NodeId(cfg.id)] = line

    demands = [
        d
        for cfg in scenario.nodes
        if (d := _demand_process(cfg, nodes[NodeId(cfg.id)], streams, periods)) is not None
    ]
    levels = _levels(nodes, bindings, production)

    lane_cfg = {cfg.id: cfg for cfg in scenario.lanes}
    location_of: dict[str, str] = {n: scenario.stock_point(n)[0] for n in nodes}
    for cfg in scenario.nodes:
        _serving_rules(cfg, nodes[NodeId(cfg.id)], location_of, lane_cfg)

    echelon_members = {n: [nodes[NodeId(d)] for d in topo.descendants(n)] for n in nodes}
    lanes_of = {n.id: {ln.id: ln for ln in n.inbound} for n in nodes.values()}
    for node in nodes.values():
        node.lane_ids = tuple(ln.id for ln in node.inbound)
    return Network(
        env,
        list(nodes.values()),
        lanes,
        demands,
        bindings,
        levels,
        nodes,
        echelon_members,
        lanes_of,
        receipts=receipts,
        customer_nodes=frozenset(d.node for d in demands),
        bom_inputs=frozenset(inp for n in nodes.values() for inp, _ in (n.bom or ())),
    )


def _decision_levels(scenario: Scenario, topo: Topology) -> Mapping[str, int]:
    """Each node's level in the order of decisions (0 customer-facing). A factory's input stock
    points are put above its outputs (bill of materials)."""
    bom_edges = [
        (inp, cfg.id) for cfg in scenario.nodes for units in (cfg.bom or {}).values() for inp in units
    ]
    if not bom_edges:
        return topo.level
    return Topology.from_edges(
        [n.id for n in scenario.nodes],
        [*((ln.origin, ln.destination) for ln in scenario.lanes), *bom_edges],
    ).level


def _nodes(
    scenario: Scenario, levels_of: Mapping[str, int], streams: RandomStreams
) -> dict[NodeId, Node]:
    """The stock points, with their supply side (storage capacity, outages)."""
    nodes: dict[NodeId, Node] = {}
    for cfg in scenario.nodes:
        location, sku = scenario.stock_point(cfg.id)
        nodes[NodeId(cfg.id)] = Node(
            NodeId(cfg.id),
            kind=cfg.kind,
            tier=cfg.tier_name,
            echelon=levels_of[cfg.id] + 1,
            initial_inventory=cfg.initial_inventory,
            holding_cost=cfg.holding_cost,
            stockout_cost=cfg.stockout_cost,
            backlog=cfg.unmet_demand == "backlog",
            capacity=cfg.capacity,
            forecast_window=scenario.forecast_window,
            location=location,
            sku=sku,
            price=cfg.price,
        )
        _node_supply_side(cfg, nodes[NodeId(cfg.id)], streams, scenario.periods)
    return nodes


def transit_holding_rate(
    scenario: Scenario, explicit: float | None, origin: float | None, destination: float
) -> float:
    """The holding cost rate of a unit in transit on a lane: the lane's own (``explicit``), else
    the holding cost of the sender (``origin``; None for a production line) or of the receiver
    (``destination``) as ``costs.in_transit_holding`` says, else 0. The vector twin's plan uses
    it too."""
    if explicit is not None:
        return explicit
    mode = scenario.costs.in_transit_holding
    if mode == "sender":
        return origin if origin is not None else 0.0
    if mode == "receiver":
        return destination
    return 0.0


def _lane(
    scenario: Scenario,
    link: LaneConfig,
    nodes: Mapping[NodeId, Node],
    streams: RandomStreams,
    env: simpy.Environment,
    receipts: Receipts,
    trace: Any,
) -> Lane:
    """One lane, joined to its two nodes, with its lead times drawn up front, its supply side and
    its initial pipeline."""
    origin, dest = nodes[NodeId(link.origin)], nodes[NodeId(link.destination)]
    draws = link.lead_time.sample(
        streams.generator(scenario.lane_stream(link.id), "lead_time"), scenario.periods
    )
    lane = Lane(
        LaneId(link.id),
        origin,
        dest,
        env=env,
        lead_times=draws,
        unit_cost=link.unit_cost,
        fixed_cost=link.fixed_cost,
        transit_holding_cost=transit_holding_rate(
            scenario,
            link.in_transit_holding_cost,
            None if origin is None else origin.holding_cost,
            dest.holding_cost,
        ),
        trace=trace,
        trace_key=trace.lane_key(link.id) if trace is not None else 0,
        receipts=receipts,
    )
    _lane_supply_side(link, lane, streams.generator, scenario.lane_stream(link.id), scenario.periods)
    origin.outbound.append(lane)
    dest.inbound.append(lane)
    for due, quantity in enumerate(link.initial_pipeline):
        lane.preload(quantity, due)
    return lane


def _bindings(
    scenario: Scenario,
    nodes: Mapping[NodeId, Node],
    streams: RandomStreams,
    agents: Mapping[int, Any] | None,
) -> list[AgentBinding]:
    """The agents (``agents[i]`` in place of ``scenario.agents[i]`` where given), each reset with
    its own seed, and the nodes each decides for."""
    bindings: list[AgentBinding] = []
    for i, assignment in enumerate(scenario.agents):
        members = [nodes[NodeId(n)] for n in scenario.agent_nodes(i)]
        if agents is not None and i in agents:
            agent = conform(agents[i])
        else:
            agent = registry.validate(assignment.kind, dict(assignment.params), [m.id for m in members])
        agent.reset(seed=streams.agent_seed(f"agents[{i}]"))
        bindings.append(AgentBinding(f"agents[{i}]:{assignment.kind}", agent, members))
    return bindings


def _source(
    cfg: NodeConfig,
    nodes: Mapping[NodeId, Node],
    decided: bool,
    streams: RandomStreams,
    env: simpy.Environment,
    receipts: Receipts,
    trace: Any,
    periods: int,
) -> Lane | None:
    """Make the node of ``cfg`` (no upstream lanes) a source: a production line, returned, if an
    agent decides its production (``decided``), else make-to-order. A factory's line consumes its
    bill of materials."""
    node = nodes[NodeId(cfg.id)]
    node.is_source = True
    bom = None
    if cfg.bom:
        bom = tuple((nodes[NodeId(inp)], units) for inp, units in cfg.bom[node.sku].items())
        node.bom = bom
    if not decided:
        node.make_to_order = True
        return None
    pid = lane_id(PRODUCTION, node.id)
    draws = cfg.production_lead_time.sample(streams.generator(node.id, "production_lead_time"), periods)
    kind = Lane if bom is None else partial(ProductionLane, bom=bom)
    lane = kind(
        LaneId(pid),
        None,
        node,
        env=env,
        lead_times=draws,
        unit_cost=0.0,
        fixed_cost=0.0,
        transit_holding_cost=0.0,
        capacity=node.capacity,
        trace=trace,
        trace_key=trace.lane_key(pid) if trace is not None else 0,
        receipts=receipts,
    )
    node.inbound.append(lane)
    return lane


def _levels(
    nodes: Mapping[NodeId, Node], bindings: list[AgentBinding], production: Mapping[NodeId, Lane]
) -> list[Level]:
    """The levels in decision order, customer-facing first: their nodes, the agents deciding for
    them and their production lines."""
    levels: list[Level] = []
    for number in sorted({n.echelon for n in nodes.values()}):
        members = [n for n in nodes.values() if n.echelon == number]
        level = Level(number, members)
        for binding in bindings:
            mine = [n for n in binding.nodes if n.echelon == number]
            if mine:
                level.agents.append((binding, mine))
        level.production_lanes = [production[n.id] for n in members if n.id in production]
        levels.append(level)
    return levels


# -- supply side ---------------------------------------------------------------------------------


def _outage(cfg: OutageConfig) -> Outage:
    markov = cfg.markov
    return Outage(
        windows=tuple((w.start, w.duration) for w in cfg.windows),
        fail=0.0 if markov is None else markov.fail,
        recover=1.0 if markov is None else markov.recover,
    )


def _node_supply_side(cfg: NodeConfig, node: Node, streams: RandomStreams, periods: int) -> None:
    """Storage capacity and outages of one node. A location's outage is drawn from the location's
    stream, so every SKU of it is down together."""
    if cfg.storage_capacity is not None:
        node.storage_capacity = cfg.storage_capacity
        if cfg.overflow == "accept":
            node.overflow_cost_rate = cfg.overflow_cost
        else:
            node.refuse_above = cfg.storage_capacity
    if cfg.outage is not None:  # one entry more than periods: receipts at the horizon look it up
        node.outage = (
            _outage(cfg.outage).sample(streams.generator(node.location, "outage"), periods + 1).tolist()
        )


def _lane_supply_side(
    cfg: LaneConfig, lane: Lane, generator: Callable[[str, str], Any], stream: str, periods: int
) -> None:
    """Capacity, order processing, FIFO, outages and shipment loss of one lane, each from its own
    stream of the lane (the location lane's in a multi-SKU scenario: one truck, one draw)."""
    lane.capacity = cfg.capacity
    lane.fifo = cfg.fifo
    if cfg.order_processing is not None:
        lane.processing = cfg.order_processing.sample(
            generator(stream, "order_processing"), periods
        ).tolist()
    if cfg.outage is not None:
        lane.down = _outage(cfg.outage).sample(generator(stream, "outage"), periods + 1).tolist()
    if cfg.shipment_loss is not None:
        loss = ShipmentLoss(cfg.shipment_loss.probability, cfg.shipment_loss.fraction)
        fractions, uniforms = loss.sample(generator(stream, "shipment_loss"), periods)
        lane.loss, lane.loss_uniforms = fractions.tolist(), uniforms.tolist()


def _serving_rules(
    cfg: NodeConfig, node: Node, location: Mapping[str, str], lane_cfg: Mapping[str, LaneConfig]
) -> None:
    """Allocation rule and sourcing split of one node; names in the scenario are locations."""
    if cfg.allocation is not None:
        node.allocation = cfg.allocation.rule
        rank = {name: k for k, name in enumerate(cfg.allocation.priority or [])}
        node.allocation_rank = {
            lane: rank[location[lane.destination.id]]
            for lane in node.outbound
            if location[lane.destination.id] in rank
        }
        if "customers" in rank:
            node.allocation_rank[None] = rank["customers"]
    node.constrained = node.allocation != "fifo" or any(
        lane.capacity is not None or lane.down is not None for lane in node.outbound
    )
    src = cfg.sourcing
    if src is None or src.rule == "agent" or node.is_source:
        return
    inbound = list(node.inbound)
    origin = {lane: location[lane.origin.id] for lane in inbound}  # type: ignore[union-attr]
    if src.rule == "proportional":
        weights = None if src.weights is None else [src.weights[origin[ln]] for ln in inbound]
        node.sourcing = Sourcing("proportional", inbound, weights)
        return
    if src.rule == "priority":
        rank = {name: k for k, name in enumerate(src.priority or [])}
        key: Callable[[Lane], Any] = lambda ln: rank.get(origin[ln], len(rank))  # noqa: E731
    elif src.rule == "cheapest":
        key = lambda ln: (lane_cfg[ln.id].unit_cost, lane_cfg[ln.id].fixed_cost)  # noqa: E731
    else:  # fastest

        def key(ln: Lane) -> float:
            c = lane_cfg[ln.id]
            return c.lead_time.mean + (0.0 if c.order_processing is None else c.order_processing.mean)

    node.sourcing = Sourcing(src.rule, sorted(inbound, key=key))  # stable: ties keep lane order


# -- demand --------------------------------------------------------------------------------------


def _effects(cfg: NodeConfig) -> DemandEffects | None:
    e = cfg.demand_effects
    if e is None:
        return None
    season = e.seasonality
    goodwill = e.goodwill
    return DemandEffects(
        trend=e.trend,
        season_period=None if season is None else season.period,
        season_amplitude=0.0 if season is None else season.amplitude,
        season_phase=0.0 if season is None else season.phase,
        shocks=tuple(Shock(s.start, s.magnitude, s.duration) for s in e.shocks),
        goodwill=None
        if goodwill is None
        else Goodwill(goodwill.drop, goodwill.recovery, goodwill.minimum),
    )


def _demand_process(
    cfg: NodeConfig, node: Node, streams: RandomStreams, periods: int
) -> CustomerDemand | CustomerArrivals | None:
    """The customer-demand process of one node (None if it has no external customers).

    Each random ingredient has its own stream of the node (``demand`` for the base draws, as
    before effects existed, so a scenario without effects draws exactly what it always drew).
    """
    node.backlog_fraction = {"backlog": 1.0, "lost": 0.0}.get(
        cfg.unmet_demand, cfg.backlog_fraction or 0.0
    )
    effects = _effects(cfg)
    goodwill = None if effects is None else effects.goodwill
    if cfg.customers is not None:
        c = cfg.customers
        rates = c.rate * (effects.multipliers(periods) if effects is not None else 1.0)
        counts = streams.generator(cfg.id, "customer_count").poisson(np.broadcast_to(rates, (periods,)))
        total = int(counts.sum())
        times = arrival_times(streams.generator(cfg.id, "customer_time"), counts)
        sizes = np.asarray(c.size.sample(streams.generator(cfg.id, "customer_size"), total), dtype=float)
        patience = (
            None
            if c.patience is None
            else np.asarray(
                c.patience.sample(streams.generator(cfg.id, "customer_patience"), total), dtype=float
            )
        )
        accept = (
            None if goodwill is None else streams.generator(cfg.id, "customer_goodwill").random(total)
        )
        return CustomerArrivals(
            node, counts, times, sizes, patience=patience, goodwill=goodwill, accept=accept
        )
    if cfg.demand_series is not None:
        paths = cfg.demand_series.paths
        r = streams.replication if cfg.demand_series.files is not None else 0
        if r >= len(paths):
            raise ScenarioError(
                f"{cfg.id}: demand_series.files has {len(paths)} file(s); "
                f"replication {r} needs files[{r}]"
            )
        base = load_series(paths[r], cfg.demand_series.column or cfg.id, periods)
        integer = bool(np.all(base == np.floor(base)))
    elif cfg.demand is not None:
        base = cfg.demand.sample(streams.generator(cfg.id, "demand"), periods)
        integer = cfg.demand.is_integer
    else:
        return None
    if effects is None:
        return CustomerDemand(node, base)
    uniforms = streams.generator(cfg.id, "demand_rounding").random(periods) if integer else None
    scaled = base * effects.multipliers(periods)
    if goodwill is not None:  # rounded at the time, after the goodwill multiplier
        return CustomerDemand(node, scaled, goodwill=goodwill, uniforms=uniforms)
    return CustomerDemand(node, scaled if uniforms is None else stochastic_round(scaled, uniforms))
