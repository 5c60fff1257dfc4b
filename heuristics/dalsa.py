"""DALSA: the demand allocation and lot-sizing algorithm of this project.

DALSA is defined by this project, not taken from the literature; it strings together textbook
pieces: MRP netting (Orlicky 1975), a greedy landed-cost allocation across supply lanes, and
Silver-Meal lot sizing (Silver & Meal 1973) with capacity. It plans one horizon; a planner
agent runs it every epoch and releases only the first period's orders (rolling horizon).

Per node (:func:`plan_node`), over periods ``t = 0, ..., T - 1``:

Phase 1, allocation. MRP netting turns gross requirements into net requirements: starting from
``on_hand - backorders``, add scheduled receipts and subtract gross requirements period by period;
whenever the projected stock would fall below ``safety_stock`` the shortfall is a net requirement
due in that period (and assumed met). Each net requirement due in ``t`` is then split across the
node's supply lanes: a unit released on lane ``l`` in period ``r`` arrives in ``r + L_l`` and its
*landed cost* is::

    unit_cost_l + K_l / q_l + h * L_l            (purchase and transport; setup share; pipeline)
  + h * max(0, t - r - L_l)                      (held if it arrives early)
  + p * max(0, r + L_l - t)                      (backordered if it arrives late)

where ``q_l`` is the lane's economic lot: the EOQ ``sqrt(2 K_l d / h)`` of the node's mean net
requirement ``d`` per period, capped by the lane's mean capacity and the horizon's requirement
(so a lane with a high setup cost and little capacity is not chosen for its unit price alone).

Releases are filled cheapest first (ties: shorter lead time, then the later release), each up to
the lane's remaining capacity in its release period, so a requirement that exceeds the capacity
of its natural release period ``t - L_l`` is shifted to earlier periods (pre-built) or to another
lane. With ``stockout_cost=None`` lateness is avoided first (lexicographically) and costs nothing
after that; requirements due before any lane can deliver are released at once. What no lane can
carry is reported as ``unmet``.

Phase 2, lot sizing. Each lane's releases are merged Silver-Meal style: a lot starting in release
period ``r`` absorbs the next release of the lane (all of its units move to ``r``) while the
lot's cost per period covered, ``(K_l + extra holding and lateness) / periods``, does not rise and
the lot still fits the capacity of period ``r``. Capacity is therefore respected by construction
(phase 1 never exceeds it and phase 2 only merges what fits).

Multi-level (:func:`plan_network`): nodes are planned downstream first; the releases of every
lane whose ``source`` is another planned node are added to that node's gross requirements in the
release period. Give each node its *echelon* holding cost (local rate minus the upstream node's
local rate), so stock is not charged twice along the chain.

Symbols: ``h`` = ``holding_cost`` (cost per unit per period), ``p`` = ``stockout_cost`` (cost per
unit backordered per period), ``K_l`` = lane ``setup_cost`` (cost per release), ``L_l`` = lane
``lead_time`` (periods), ``unit_cost_l`` = lane landed cost per unit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

_EPSILON = 1e-9


@dataclass(frozen=True)
class SupplyLane:
    """One way to replenish a node.

    Attributes:
        source: name of the upstream node (or external supplier) that ships on this lane.
        lead_time: periods from release to receipt (non-negative integer).
        unit_cost: landed cost per unit (purchase, transport, duties).
        setup_cost: fixed cost per release (order) on this lane.
        capacity: most units released per period; a scalar or one value per horizon period.
    """

    source: str
    lead_time: int
    unit_cost: float = 0.0
    setup_cost: float = 0.0
    capacity: float | Sequence[float] = math.inf


@dataclass(frozen=True)
class PlanningNode:
    """Everything DALSA needs to know about one node for one horizon.

    Attributes:
        name: node id.
        gross_requirements: demand forecast per period (external demand); its length is the
            horizon ``T``. Upstream nodes in :func:`plan_network` also receive their
            successors' releases.
        lanes: the node's supply lanes (at least one).
        holding_cost: holding cost per unit per period (echelon rate in multi-level plans).
        stockout_cost: cost per unit backordered per period, or None to avoid lateness first.
        on_hand: stock on hand at the start of period 0.
        backorders: units owed at the start of period 0.
        scheduled_receipts: units already on the way, per period of arrival (may be shorter
            than the horizon).
        safety_stock: projected stock to keep at the end of every period.
    """

    name: str
    gross_requirements: Sequence[float]
    lanes: tuple[SupplyLane, ...]
    holding_cost: float
    stockout_cost: float | None = None
    on_hand: float = 0.0
    backorders: float = 0.0
    scheduled_receipts: Sequence[float] = ()
    safety_stock: float = 0.0


@dataclass(frozen=True, eq=False)
class LanePlan:
    """Planned releases on one lane.

    Attributes:
        source: the lane's source.
        lead_time: the lane's lead time.
        releases: units released (ordered and shipped) per period, length ``T``.
        receipts: the same units per period of arrival within the horizon, length ``T``.
    """

    source: str
    lead_time: int
    releases: NDArray[np.float64]
    receipts: NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class NodePlan:
    """DALSA plan of one node, with its cost broken down.

    Attributes:
        name: node id.
        gross_requirements: gross requirements used (including successors' releases).
        net_requirements: MRP net requirements per period of need.
        lanes: one plan per supply lane, in the order of ``PlanningNode.lanes``.
        unmet: net requirements no lane could carry (capacity exhausted), per period of need.
        projected_on_hand: end-of-period stock (negative: backorders) under the plan.
        setup_cost, purchase_cost, holding_cost, stockout_cost: cost components; holding
            includes stock in transit on the node's lanes.
    """

    name: str
    gross_requirements: NDArray[np.float64]
    net_requirements: NDArray[np.float64]
    lanes: tuple[LanePlan, ...]
    unmet: NDArray[np.float64]
    projected_on_hand: NDArray[np.float64]
    setup_cost: float
    purchase_cost: float
    holding_cost: float
    stockout_cost: float

    @property
    def cost(self) -> float:
        return self.setup_cost + self.purchase_cost + self.holding_cost + self.stockout_cost


@dataclass(frozen=True, eq=False)
class NetworkPlan:
    """DALSA plans of all nodes of a network, keyed by node name."""

    nodes: Mapping[str, NodePlan] = field(default_factory=dict)

    @property
    def cost(self) -> float:
        return float(sum(plan.cost for plan in self.nodes.values()))


def _per_period(
    value: float | Sequence[float] | ArrayLike, horizon: int, name: str, pad: float | None = None
) -> NDArray[np.float64]:
    array = np.asarray(value, dtype=float)
    if array.ndim == 0:
        array = np.full(horizon, float(array))
    elif pad is not None and array.ndim == 1 and len(array) <= horizon:
        array = np.concatenate((array, np.full(horizon - len(array), pad)))
    if array.shape != (horizon,):
        raise ValueError(f"{name} must be a scalar or {horizon} values; got {value!r}")
    if np.any(np.isnan(array)) or np.any(array < 0):
        raise ValueError(f"{name} must be non-negative numbers; got {list(array)}")
    return array


def net_requirements(
    gross_requirements: ArrayLike,
    on_hand: float,
    backorders: float,
    scheduled_receipts: ArrayLike,
    safety_stock: float = 0.0,
) -> NDArray[np.float64]:
    """MRP netting: net requirement per period of need (Orlicky 1975).

    Example: gross [40, 50, 30], 60 on hand, 10 backordered, 20 arriving in period 1:
    projected 60 - 10 - 40 = 10, then 10 + 20 - 50 = -20 (net 20), then -30 (net 30).

    >>> net_requirements([40, 50, 30], 60, 10, [0, 20]).tolist()
    [0.0, 20.0, 30.0]
    """
    gross = np.asarray(gross_requirements, dtype=float)
    receipts = _per_period(scheduled_receipts, len(gross), "scheduled_receipts", pad=0.0)
    projected = float(on_hand) - float(backorders)
    net = np.zeros(len(gross))
    for t in range(len(gross)):
        projected += receipts[t] - gross[t]
        if projected < safety_stock - _EPSILON:
            net[t] = safety_stock - projected
            projected = safety_stock
    return net


def _validated(node: PlanningNode) -> tuple[NDArray[np.float64], list[NDArray[np.float64]]]:
    gross = np.asarray(node.gross_requirements, dtype=float)
    if gross.ndim != 1 or gross.size == 0 or np.any(gross < 0) or not np.all(np.isfinite(gross)):
        raise ValueError(
            f"node {node.name!r}: gross_requirements must be a non-empty list of "
            f"non-negative numbers; got {node.gross_requirements!r}"
        )
    if not node.lanes:
        raise ValueError(f"node {node.name!r} has no supply lanes")
    for name, value in (
        ("holding_cost", node.holding_cost),
        ("on_hand", node.on_hand),
        ("backorders", node.backorders),
        ("safety_stock", node.safety_stock),
    ):
        if not np.isfinite(value) or value < 0:
            raise ValueError(f"node {node.name!r}: {name} must be finite and >= 0; got {value}")
    if node.stockout_cost is not None and not (
        np.isfinite(node.stockout_cost) and node.stockout_cost >= 0
    ):
        raise ValueError(
            f"node {node.name!r}: stockout_cost must be finite and >= 0 or None; "
            f"got {node.stockout_cost}"
        )
    capacities = []
    for lane in node.lanes:
        if lane.lead_time < 0 or int(lane.lead_time) != lane.lead_time:
            raise ValueError(
                f"node {node.name!r}, lane from {lane.source!r}: lead_time must be "
                f"a non-negative integer; got {lane.lead_time!r}"
            )
        for name, value in (("unit_cost", lane.unit_cost), ("setup_cost", lane.setup_cost)):
            if not np.isfinite(value) or value < 0:
                raise ValueError(
                    f"node {node.name!r}, lane from {lane.source!r}: {name} must "
                    f"be finite and >= 0; got {value}"
                )
        capacities.append(
            _per_period(
                lane.capacity,
                len(gross),
                f"node {node.name!r}, lane from {lane.source!r}: capacity",
            )
        )
    return gross, capacities


# ALGO LOGIC: phase 1, allocation of net requirements to (lane, release period) ---------------


def _setup_share(
    lane: SupplyLane, capacity: NDArray[np.float64], net: NDArray[np.float64], h: float
) -> float:
    """Setup cost per unit when the lane's lots have their economic size.

    The economic size is the EOQ of the node's mean net requirement per period,
    ``sqrt(2 K d / h)`` (Harris 1913), capped by the lane's mean capacity per period and by the
    whole horizon's requirement.
    """
    total = float(net.sum())
    if lane.setup_cost == 0 or total <= 0:
        return 0.0
    lot = min(total, float(np.mean(capacity)))
    if h > 0:
        lot = min(lot, float(np.sqrt(2 * lane.setup_cost * total / len(net) / h)))
    return lane.setup_cost / lot if lot > 0 else 0.0


def _allocate(
    node: PlanningNode, net: NDArray[np.float64], capacities: list[NDArray[np.float64]]
) -> tuple[list[list[tuple[int, int, float]]], NDArray[np.float64]]:
    """Greedy landed-cost allocation; returns per lane ``(release, due, units)`` and unmet."""
    T = len(net)
    h = node.holding_cost
    p = node.stockout_cost
    lanes = node.lanes
    slack = np.array(capacities)  # (lanes, T) remaining release capacity
    lead = np.array([lane.lead_time for lane in lanes])[:, None]
    releases = np.arange(T)[None, :]
    arrival = releases + lead
    base = (
        np.array(
            [
                lane.unit_cost + _setup_share(lane, cap, net, h)
                for lane, cap in zip(lanes, capacities, strict=True)
            ]
        )[:, None]
        + h * lead
    )
    lane_index = np.broadcast_to(np.arange(len(lanes))[:, None], slack.shape).ravel()
    release_index = np.broadcast_to(releases, slack.shape).ravel()
    chunks: list[list[tuple[int, int, float]]] = [[] for _ in lanes]
    unmet = np.zeros(T)
    for due in range(T):
        remaining = float(net[due])
        if remaining <= _EPSILON:
            continue
        early = np.maximum(due - arrival, 0)
        late = np.maximum(arrival - due, 0)
        cost = base + h * early + (0.0 if p is None else p * late)
        first_key = late if p is None else np.zeros_like(late)
        # lexsort: last key is primary -> (lateness first if p is None, cost, lead, later release)
        order = np.lexsort(
            (
                -release_index,
                np.broadcast_to(lead, slack.shape).ravel(),
                cost.ravel(),
                first_key.ravel(),
            )
        )
        for flat in order:
            lane, release = lane_index[flat], release_index[flat]
            available = slack[lane, release]
            if available <= _EPSILON:
                continue
            units = min(remaining, available)
            slack[lane, release] -= units
            chunks[lane].append((int(release), due, units))
            remaining -= units
            if remaining <= _EPSILON:
                break
        unmet[due] = max(remaining, 0.0)
    return chunks, unmet


# ALGO LOGIC: phase 2, Silver-Meal lot sizing per lane with capacity -----------------------------


def _timing_cost(node: PlanningNode, lane: SupplyLane, release: int, due: int) -> float:
    """Holding (early) or stockout (late) cost per unit released in ``release``, due in ``due``."""
    arrival = release + lane.lead_time
    late_cost = 0.0 if node.stockout_cost is None else node.stockout_cost
    return node.holding_cost * max(due - arrival, 0) + late_cost * max(arrival - due, 0)


def _lot_size(
    node: PlanningNode,
    lane: SupplyLane,
    capacity: NDArray[np.float64],
    chunks: list[tuple[int, int, float]],
    horizon: int,
) -> NDArray[np.float64]:
    """Silver-Meal merge of one lane's releases; returns units released per period."""
    by_release: dict[int, list[tuple[int, float]]] = {}
    for release, due, units in chunks:
        by_release.setdefault(release, []).append((due, units))
    periods = sorted(by_release)
    load = {r: sum(units for _, units in by_release[r]) for r in periods}
    released = np.zeros(horizon)
    i = 0
    while i < len(periods):
        start = periods[i]
        units_in_lot = load[start]
        extra = 0.0  # added holding and lateness from moving later releases to ``start``
        j = i
        while j + 1 < len(periods):
            candidate = periods[j + 1]
            if units_in_lot + load[candidate] > capacity[start] + _EPSILON:
                break
            moved = sum(
                units * (_timing_cost(node, lane, start, due) - _timing_cost(node, lane, candidate, due))
                for due, units in by_release[candidate]
            )
            # the lot now covers start..candidate-1; absorbing ``candidate`` adds one period
            current = (lane.setup_cost + extra) / (candidate - start)
            extended = (lane.setup_cost + extra + moved) / (candidate - start + 1)
            if extended > current + _EPSILON * max(1.0, abs(current)):
                break
            extra += moved
            units_in_lot += load[candidate]
            j += 1
        released[start] = units_in_lot
        i = j + 1
    return released


def plan_node(node: PlanningNode) -> NodePlan:
    """DALSA for one node: net, allocate across lanes (phase 1), lot-size per lane (phase 2).

    Example: one lane, lead time 0, K = 500, h = 2, gross requirements [90, 120, 80, 70]:
    phase 2 is Silver-Meal, so the releases are [290, 0, 0, 70] (setup 1000 + holding 560).

    >>> plan = plan_node(PlanningNode("store", [90, 120, 80, 70],
    ...                               (SupplyLane("dc", 0, setup_cost=500),), holding_cost=2))
    >>> plan.lanes[0].releases.tolist(), plan.cost
    ([290.0, 0.0, 0.0, 70.0], 1560.0)
    """
    gross, capacities = _validated(node)
    T = len(gross)
    receipts_scheduled = _per_period(
        node.scheduled_receipts, T, f"node {node.name!r}: scheduled_receipts", pad=0.0
    )
    net = net_requirements(gross, node.on_hand, node.backorders, receipts_scheduled, node.safety_stock)
    chunks, unmet = _allocate(node, net, capacities)
    lane_plans = []
    setup = purchase = pipeline = 0.0
    total_receipts = receipts_scheduled.copy()
    for lane, capacity, lane_chunks in zip(node.lanes, capacities, chunks, strict=True):
        releases = _lot_size(node, lane, capacity, lane_chunks, T)
        receipts = np.zeros(T)
        L = lane.lead_time
        receipts[L:] = releases[: T - L] if L < T else 0.0
        total_receipts += receipts
        releases.flags.writeable = False
        receipts.flags.writeable = False
        lane_plans.append(LanePlan(lane.source, L, releases, receipts))
        setup += lane.setup_cost * int(np.count_nonzero(releases > _EPSILON))
        purchase += lane.unit_cost * float(releases.sum())
        pipeline += node.holding_cost * L * float(releases.sum())
    projected = node.on_hand - node.backorders + np.cumsum(total_receipts - gross)
    holding = node.holding_cost * float(np.maximum(projected, 0.0).sum()) + pipeline
    shortage = float(np.maximum(-projected, 0.0).sum())
    stockout = 0.0 if node.stockout_cost is None else node.stockout_cost * shortage
    for array in (gross, net, unmet, projected):
        array.flags.writeable = False
    return NodePlan(
        node.name,
        gross,
        net,
        tuple(lane_plans),
        unmet,
        projected,
        setup_cost=float(setup),
        purchase_cost=float(purchase),
        holding_cost=holding,
        stockout_cost=stockout,
    )


def plan_network(nodes: Sequence[PlanningNode]) -> NetworkPlan:
    """Multi-level DALSA: plan downstream first; releases become upstream gross requirements.

    A lane whose ``source`` names another node in ``nodes`` is internal; any other source is an
    external supplier. All nodes must share the horizon length.

    Example: a store with 90 on hand and forecast [90, 120, 80, 70, 0], supplied by a DC with
    lead time 1 (K = 500, h = 2); the DC buys from an external plant (K = 300, echelon h = 1).
    The store's net requirements (0, 120, 80, 70) are due in periods 1-3, so they are released
    in periods 0-2; Silver-Meal merges them into one release of 270 in period 0 (cost per
    period 500, 330, 313.3), which becomes the DC's gross requirement in period 0.

    >>> store = PlanningNode("store", [90, 120, 80, 70, 0],
    ...                      (SupplyLane("dc", 1, setup_cost=500),), holding_cost=2, on_hand=90)
    >>> dc = PlanningNode("dc", [0, 0, 0, 0, 0], (SupplyLane("plant", 0, setup_cost=300),),
    ...                   holding_cost=1)
    >>> plan = plan_network([dc, store])
    >>> plan.nodes["store"].lanes[0].releases.tolist()
    [270.0, 0.0, 0.0, 0.0, 0.0]
    >>> plan.nodes["dc"].gross_requirements.tolist()
    [270.0, 0.0, 0.0, 0.0, 0.0]
    """
    by_name: dict[str, PlanningNode] = {}
    for node in nodes:
        if node.name in by_name:
            raise ValueError(f"node name {node.name!r} appears twice")
        by_name[node.name] = node
    horizons = {len(node.gross_requirements) for node in nodes}
    if len(horizons) > 1:
        raise ValueError(f"all nodes need the same horizon; got lengths {sorted(horizons)}")
    customers: dict[str, set[str]] = {name: set() for name in by_name}
    for node in nodes:
        for lane in node.lanes:
            if lane.source in by_name:
                if lane.source == node.name:
                    raise ValueError(f"node {node.name!r} has a lane from itself")
                customers[lane.source].add(node.name)
    # downstream first: a node is ready once all of its customers are planned
    planned: dict[str, NodePlan] = {}
    extra_requirements = {name: np.zeros(next(iter(horizons), 0)) for name in by_name}
    pending = list(by_name)
    while pending:
        ready = [name for name in pending if customers[name] <= planned.keys()]
        if not ready:
            raise ValueError(f"lanes form a cycle among nodes {sorted(pending)}")
        for name in ready:
            node = by_name[name]
            gross = np.asarray(node.gross_requirements, dtype=float) + extra_requirements[name]
            plan = plan_node(_with_gross(node, gross))
            planned[name] = plan
            for lane_plan in plan.lanes:
                if lane_plan.source in by_name:
                    extra_requirements[lane_plan.source] += lane_plan.releases
            pending.remove(name)
    return NetworkPlan({node.name: planned[node.name] for node in nodes})


def _with_gross(node: PlanningNode, gross: NDArray[np.float64]) -> PlanningNode:
    return PlanningNode(
        node.name,
        tuple(float(x) for x in gross),
        node.lanes,
        node.holding_cost,
        node.stockout_cost,
        node.on_hand,
        node.backorders,
        node.scheduled_receipts,
        node.safety_stock,
    )
