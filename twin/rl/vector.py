"""The vector twin: ``B`` replications of a period-stepped scenario stepped at once as arrays.

A validated :class:`~twin.scenario.Scenario` is compiled (:mod:`twin.rl.vector_plan`) into index
arrays; the state is a handful of arrays with a leading batch axis: on-hand stock and on-order
``(B, nodes)``, what each node owes as a first-in-first-out queue ``(B, nodes, periods owed,
claimants)``, the pipeline of each lane ``(B, lanes, due period mod R)``, production owed, the
demand history of the forecast, and the period's ledger columns ``(24, B, nodes)``. A period is a
short sequence of whole-array operations in the twin's order of events (README, "Order of
events"; :mod:`entities.clock`), with loops only over the few levels of the network:

1. **receive**: shipments due now join on-hand stock; every node fills what it owes, oldest first
   (entries in creation order: period, then customers, then downstream lanes in the order their
   orders were placed), partially if it must; shipments leave on their lanes (due after the
   lane's lead time of this period; received at once when it is 0);
2. **demand**: customer demand is filled from stock, the rest backordered, lost or partly both;
3. **decide**, level by level from the customer-facing level up: the level's nodes ship what they
   owe (a make-to-order source makes what stock cannot fill, up to its capacity), then their
   orders are placed (the rule agents' vectorised policies, :mod:`twin.rl.vector_rules`, at their
   turn; external decisions from :meth:`VectorTwin.step`), reaching the upstream queues in the
   same period; sources with an agent then produce, at most their capacity;
4. **close**: the ledger columns of the period (costs on closing stock, revenue on units sold at
   the nodes' prices, profit), as :class:`~reconciliation.ledger.LedgerRow` has them.

Under ``timing: liu`` every agent decides at the start of the period from the state at the last
close, and the orders are executed at step 3 as above.

**Equivalence with the event twin.** Replication ``r`` draws its demand and lead times from the
same streams as ``Simulation(scenario, replication=r)`` (:func:`twin.rl.vector_plan.draw`), and
its per-period, per-node ledger equals the event twin's to 1e-9 (``tests/test_vector.py``: a
hypothesis property over random period-stepped networks, every shipped RL scenario, with rule
agents and with random external decisions). A scenario the vector twin cannot express raises
:class:`~twin.rl.vector_plan.VectorUnsupported` naming the feature and its YAML path.

All replications run in lockstep (the same period at the same time): :meth:`VectorTwin.reset`
starts all of them.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from entities.nodes import FILL_ROUNDING
from reconciliation.ledger import LEDGER_COLUMNS, QUANTITY_START, LedgerRow
from twin.engine.simulation import AgentError
from twin.rl.vector_backend import Array, Backend, backend
from twin.rl.vector_plan import Plan, VectorUnsupported, compile_scenario, draw
from twin.rl.vector_rules import VectorRule, vectorise
from twin.scenario.schema import Scenario

__all__ = [
    "FIELDS",
    "VectorLedger",
    "VectorTwin",
    "VectorUnsupported",
    "replication_costs",
    "replication_costs_and_fill_rates",
    "supports",
]

FIELDS: tuple[str, ...] = LEDGER_COLUMNS[QUANTITY_START:]
"""The ledger's quantity and cost columns, in :class:`~reconciliation.ledger.LedgerRow` order:
the first axis of :attr:`VectorTwin.flows`."""
F = {name: k for k, name in enumerate(FIELDS)}
OPENING, RECEIPTS, PRODUCED, SHIPPED, SOLD = (F[k] for k in FIELDS[:5])
DEMAND, FILLED, BACKORDERS, LOST = F["demand"], F["filled_on_time"], F["backorders"], F["lost_sales"]
CLOSING, IN_TRANSIT, ON_ORDER, ORDERED = (
    F["closing_on_hand"],
    F["in_transit_inbound"],
    F["on_order"],
    F["ordered"],
)
HOLDING, TRANSIT, STOCKOUT, OVERFLOW, ORDERING, TOTAL = (
    F[k]
    for k in (
        "holding_cost",
        "transit_holding_cost",
        "stockout_cost",
        "overflow_cost",
        "ordering_cost",
        "total_cost",
    )
)
REVENUE, PROFIT = F["revenue"], F["profit"]


def supports(scenario: Scenario, external: Collection[int] = ()) -> str | None:
    """None if the vector twin expresses ``scenario``, else the reason (the error's message)."""
    try:
        compile_scenario(scenario, external)
    except VectorUnsupported as exc:
        return str(exc)
    return None


def replication_costs(scenario: Scenario, replications: Sequence[int]) -> list[float]:
    """Network cost per period after warm-up of each replication, the sum the event twin's
    ledger gives (``twin.tune --engine vector``): all replications at once, nothing recorded."""
    twin = VectorTwin(scenario, len(replications))
    twin.reset(replications)
    xp, warm = twin.xp, scenario.warmup_periods
    total = xp.zeros(len(replications))
    while not twin.done:
        twin.step()
        if twin.t > warm:  # twin.flows: the period just closed, twin.t - 1
            total += xp.sum(twin.flows[TOTAL], 1)
    return (xp.to_numpy(total) / (scenario.periods - warm)).tolist()


def replication_costs_and_fill_rates(
    scenario: Scenario, replications: Sequence[int]
) -> tuple[list[float], list[float]]:
    """:func:`replication_costs` and each replication's customer unit fill rate after warm-up
    (filled on time over demand at the customer-facing nodes: the event twin's KPI), for
    ``twin.tune --engine vector --min-fill``."""
    twin = VectorTwin(scenario, len(replications))
    twin.reset(replications)
    xp, warm = twin.xp, scenario.warmup_periods
    customers = twin.xp.index(sorted(twin.plan.customers))
    total, demand, filled = (xp.zeros(len(replications)) for _ in range(3))
    while not twin.done:
        twin.step()
        if twin.t > warm:
            total += xp.sum(twin.flows[TOTAL], 1)
            demand += xp.sum(twin.flows[DEMAND][:, customers], 1)
            filled += xp.sum(twin.flows[FILLED][:, customers], 1)
    d, f = xp.to_numpy(demand), xp.to_numpy(filled)
    fills = [float(a / b) if b > 0 else math.nan for a, b in zip(f, d, strict=True)]
    return (xp.to_numpy(total) / (scenario.periods - warm)).tolist(), fills


@dataclass
class _Serve:
    """Index arrays for serving the nodes ``start:stop`` and shipping on their lanes."""

    start: int
    stop: int
    lanes: Array
    """Lanes out of these nodes (internal lane indices)."""
    take: Array
    """Where each of those lanes' units sit in the flattened ``(nodes, claimants)`` fill."""
    customers: Array | None
    """1.0 for nodes of the range with customers (claimant slot 0), else 0.0; None if none."""
    capacity: Array | None
    """Make-to-order capacity per node of the range (0 for the others); None if none."""


@dataclass
class _Level:
    """One level: its nodes, the lanes its nodes order on, and who decides for them."""

    serve: _Serve
    lane_start: int
    lane_production: int
    lane_stop: int
    to_node: Array
    """``(level lanes, nodes of the level)`` incidence: lane -> the node that ordered on it."""
    upstream_demand: Array
    """``(level real lanes, all nodes)`` incidence: lane -> its origin."""
    unit_cost: Array
    fixed_cost: Array
    capacity: Array
    """Production capacity of the level's production lines."""
    production_node: Array
    """``(production lines, nodes of the level)`` incidence."""
    rules: list[tuple[VectorRule, Array]]
    """Rule agents of the level and the lane columns their orders go on."""


class VectorTwin:
    """``num_envs`` replications of ``scenario`` as arrays (see the module docstring).

    ``external``: indices of ``scenario.agents`` whose decisions come from outside (as with
    :class:`~twin.engine.ExternalAgent`); drive the twin with :meth:`reset` and :meth:`step`
    then, else :meth:`run` it. ``device``: None for NumPy, or a torch device (``"cpu"``,
    ``"cuda"``) for ``float64`` tensors there. ``record``: keep every period's ledger columns
    (:meth:`ledger`).
    """

    def __init__(
        self,
        scenario: Scenario,
        num_envs: int,
        *,
        external: Collection[int] = (),
        device: str | None = None,
        record: bool = False,
    ) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs must be an integer >= 1, got {num_envs!r}")
        self.plan: Plan = compile_scenario(scenario, external)
        self.scenario = scenario
        self.num_envs = num_envs
        self.xp: Backend = backend(device)
        self.record = record
        plan, xp = self.plan, self.xp
        n, lanes = plan.n_nodes, plan.lanes
        self.periods = plan.periods
        self.slots = plan.slots
        self.merge = plan.slots == 1  # one claimant per node: older entries merge into one
        self.window = plan.forecast_window

        incidence = np.zeros((len(lanes), n))
        origin = np.zeros((len(lanes), n))
        for k, ln in enumerate(lanes):
            incidence[k, ln.destination] = 1.0
            if ln.origin >= 0:
                origin[k, ln.origin] = 1.0
        rates = np.array([ln.transit_rate for ln in lanes])
        self._to_node = xp.asarray(incidence)
        self._transit_rate = xp.asarray(incidence * rates[:, None])
        self._echelon = xp.asarray(plan.echelon)
        self._holding = xp.asarray(plan.holding_cost)
        self._stockout = xp.asarray(plan.stockout_cost)
        self._price = xp.asarray(plan.price) if plan.price.any() else None
        finite = np.isfinite(plan.storage_capacity)
        self._overflow = (
            (xp.asarray(np.where(finite, plan.storage_capacity, 0.0)), xp.asarray(plan.overflow_rate))
            if finite.any()
            else None
        )
        self._customers = xp.index(plan.customers)
        self._fraction = xp.asarray(plan.backlog_fraction[plan.customers])
        self._serve_all = self._serve_plan(0, n, incidence, origin)
        self._levels = [
            self._level_plan(number, incidence, origin) for number in range(len(plan.level_bounds))
        ]
        self._rows = xp.index(np.arange(num_envs)[:, None])
        ext_lanes = [k for i in plan.external_nodes for k in plan.inbound[i]]
        self.external_lanes: list[str] = [lanes[k].id for k in ext_lanes]
        """Ids of the externally decided nodes' ordering lanes: the columns of ``step``'s orders."""
        self._external_columns = xp.index(ext_lanes)
        self.external_nodes: list[str] = [plan.node_ids[i] for i in plan.external_nodes]
        self._external_index = xp.index(plan.external_nodes)
        self.t = 0
        self.replications: list[int] = []
        self.current: Array = xp.zeros(len(FIELDS), num_envs, n)
        """The ledger columns of the period under way (counters so far)."""
        self.flows: Array = xp.zeros(len(FIELDS), num_envs, n)
        """The ledger columns of the period last closed (after ``step``: the period it closed):
        ``flows[FIELDS.index(name), b, node]``, nodes in internal order (:attr:`node_ids`)."""
        self._ledger: list[Array] = []
        self._cache: dict[Any, Array] = {}

    # -- layout -----------------------------------------------------------------------------------

    @property
    def node_ids(self) -> list[str]:
        """Node ids in the internal order of the node axis of every array."""
        return self.plan.node_ids

    def _serve_plan(self, start: int, stop: int, incidence: np.ndarray, origin: np.ndarray) -> _Serve:
        plan, xp = self.plan, self.xp
        out = [k for k, ln in enumerate(plan.lanes) if start <= ln.origin < stop]
        take = [(plan.lanes[k].origin - start) * plan.slots + plan.claimants[k] for k in out]
        customers = set(plan.customers.tolist())
        mask = np.array([1.0 if i in customers else 0.0 for i in range(start, stop)])
        cap = plan.make_to_order_capacity[start:stop]
        return _Serve(
            start,
            stop,
            xp.index(out),
            xp.index(take),
            xp.asarray(mask) if mask.any() else None,
            xp.asarray(cap) if (cap > 0).any() else None,
        )

    def _level_plan(self, number: int, incidence: np.ndarray, origin: np.ndarray) -> _Level:
        plan, xp = self.plan, self.xp
        start, stop = plan.level_bounds[number]
        la, lm, lb = plan.lane_bounds[number]
        lanes = plan.lanes[la:lb]
        rules: list[tuple[VectorRule, Array]] = []
        for a in plan.agents:
            members = [i for i in a.nodes if start <= i < stop]
            if a.external or not members:
                continue
            rule = vectorise(a.agent, [plan.node_ids[i] for i in members], xp.select(members), xp)
            rules.append((rule, xp.index([plan.inbound[i][0] for i in members])))
        return _Level(
            serve=self._serve_plan(start, stop, incidence, origin),
            lane_start=la,
            lane_production=lm,
            lane_stop=lb,
            to_node=xp.asarray(incidence[la:lb, start:stop]),
            upstream_demand=xp.asarray(origin[la:lm]),
            unit_cost=xp.asarray([ln.unit_cost for ln in lanes]),
            fixed_cost=xp.asarray([ln.fixed_cost for ln in lanes]),
            capacity=xp.asarray([ln.capacity for ln in lanes[lm - la :]]),
            production_node=xp.asarray(incidence[lm:lb, start:stop]),
            rules=rules,
        )

    # -- episodes ---------------------------------------------------------------------------------

    def reset(self, replications: Sequence[int] | None = None) -> None:
        """Start replications ``replications`` (one per row; default ``0 .. B-1``) at period 0 and
        run to the first decision epoch (after demand; under ``timing: liu``, before receipts)."""
        plan, xp, b = self.plan, self.xp, self.num_envs
        reps = list(range(b)) if replications is None else [int(r) for r in replications]
        if len(reps) != b:
            raise ValueError(f"reset needs {b} replications (one per row), got {len(reps)}")
        if any(r < 0 for r in reps):
            raise ValueError(f"replications must be >= 0, got {reps}")
        draws = draw(plan, reps)
        self.replications = reps
        n, nl = plan.n_nodes, len(plan.lanes)
        longest = max((len(ln.initial_pipeline) for ln in plan.lanes), default=0)
        ring = max(1, int(draws.offsets.max(initial=0)) + 1, longest)
        self.ring = ring
        self.zero_lead = bool((draws.offsets == 0).any())
        self._offsets = xp.index(np.ascontiguousarray(draws.offsets.transpose(1, 0, 2)))  # (T, B, L)
        self._lane_columns = xp.index(np.arange(nl) * ring)
        self._demand = xp.asarray(np.ascontiguousarray(draws.demand.transpose(1, 0, 2)))
        initial = np.array([plan.scenario.node_map[node].initial_inventory for node in plan.node_ids])
        self.on_hand = xp.asarray(np.broadcast_to(initial, (b, n)).copy())
        pipe = np.zeros((nl, ring))
        for k, ln in enumerate(plan.lanes):
            for due_period, quantity in enumerate(ln.initial_pipeline):
                if quantity > 0.0:
                    pipe[k, due_period % ring] += quantity
        self.pipeline = xp.asarray(np.broadcast_to(pipe, (b, nl, ring)).copy())
        self.on_order = self._in_transit() @ self._to_node
        self.depth = 2
        self.queue = xp.zeros(b, n, self.depth, self.slots)
        self.production_owed = xp.zeros(b, nl)
        self.orders = xp.zeros(b, nl)
        self.history = xp.zeros(b, n, self.window)
        self.history_sum = xp.zeros(b, n)
        # What a liu-timing epoch observes before any close (Simulation.observe_closed).
        self.closing_demand = xp.zeros(b, n) + plan.scenario.initial_demand
        self.closing_forecast = xp.zeros(b, n) + plan.scenario.initial_demand
        self.current = xp.zeros(len(FIELDS), b, n)
        self.flows = xp.zeros(len(FIELDS), b, n)
        self._ledger = []
        self.t = 0
        self._begin()
        if not plan.liu:
            self._receive()
            self._demand_step()

    @property
    def done(self) -> bool:
        """True once the last period is closed."""
        return self.t >= self.periods

    def step(self, orders: Any = None) -> None:
        """Execute the pending decision epoch and run to the next one.

        ``orders``: ``(B, len(external_lanes))`` quantities on the externally decided nodes'
        ordering lanes (:attr:`external_lanes`); None when nothing is external. Afterwards
        :attr:`flows` holds the ledger columns of the period just closed.
        """
        if self.done:
            raise AgentError("the run is over: call reset()")
        if self.external_lanes:
            if orders is None:
                raise AgentError(f"step() needs orders on {self.external_lanes}")
            self._set_external(orders)
        if self.plan.liu:
            self._receive()
            self._demand_step()
        self._decide()
        self._close()
        self.t += 1
        if self.done:
            return
        self._begin()
        if not self.plan.liu:
            self._receive()
            self._demand_step()

    def run(self, replications: Sequence[int] | None = None) -> VectorLedger:
        """Run whole replications (no external decisions) and return their ledger."""
        if self.external_lanes:
            raise AgentError("this twin has externally decided nodes: drive it with reset() and step()")
        self.record = True
        self.reset(replications)
        while not self.done:
            self.step()
        return self.ledger()

    def ledger(self) -> VectorLedger:
        """The recorded ledger columns, ``(periods, fields, B, nodes)`` in scenario node order."""
        if not self._ledger:
            raise ValueError("nothing recorded: make the twin with record=True (or use run())")
        data = np.stack([self.xp.to_numpy(f) for f in self._ledger])
        inverse = np.argsort(self.plan.order)
        return VectorLedger(self.scenario, list(self.replications), data[..., inverse])

    def _set_external(self, orders: Any) -> None:
        xp = self.xp
        q = xp.asarray(orders)
        shape = (self.num_envs, len(self.external_lanes))
        if tuple(q.shape) != shape:
            raise AgentError(
                f"orders must have shape {shape} (rows, {self.external_lanes}), got {tuple(q.shape)}"
            )
        if xp.any(~(q >= 0.0) | (q == np.inf)):
            values = xp.to_numpy(q)
            row = int(np.flatnonzero(~np.isfinite(values).all(1) | (values < 0).any(1))[0])
            raise AgentError(
                f"orders on {self.external_lanes} at period {self.t} must be finite numbers >= 0, "
                f"got {values[row].tolist()} in row {row}"
            )
        self.orders[:, self._external_columns] = q

    # -- the period -------------------------------------------------------------------------------

    def _begin(self) -> None:
        """Open period ``t``: zero its ledger counters; under liu timing the rules decide now."""
        self.current[...] = 0.0
        self.current[OPENING] = self.on_hand
        # Where this period's shipments go in the flattened pipeline: lane * R + due % R.
        self._due = self._lane_columns + (self._offsets[self.t] + self.t) % self.ring
        self.orders[...] = 0.0
        if self.plan.liu:
            view = self.view(closed=True)
            for level in self._levels:
                for rule, columns in level.rules:
                    self.orders[:, columns] = rule.quantity(view)

    def _receive(self) -> None:
        """Shipments due now arrive; every node serves what it owes (top level first when a
        shipment may be received at once, lead time 0)."""
        xp, slot = self.xp, self.t % self.ring
        into = self.pipeline[:, :, slot] @ self._to_node
        self.pipeline[:, :, slot] = 0.0
        self.on_hand += into
        self.current[RECEIPTS] += into
        self.on_order = xp.clip_low(self.on_order - into, 0.0)  # a running sum: never below 0
        if not self.zero_lead:
            self._serve(self._serve_all, produce=False)
            return
        for level in reversed(self._levels):
            self._serve(level.serve, produce=False)

    def _demand_step(self) -> None:
        """Customer demand: filled from stock, the rest backordered, lost or partly both."""
        if len(self.plan.customers) == 0:
            return
        xp, c = self.xp, self._customers
        demand = self._demand[self.t]
        sold = xp.minimum(demand, xp.take(self.on_hand, c, 1))
        self.on_hand[:, c] -= sold
        flows = self.current
        flows[SOLD][:, c] += sold
        flows[FILLED][:, c] += sold
        flows[DEMAND][:, c] += demand
        unmet = demand - sold
        kept = unmet * self._fraction
        flows[LOST][:, c] += unmet - kept
        columns = (c * self.depth + (self.depth - 1)) * self.slots
        self.queue.reshape(self.num_envs, -1)[:, columns] += kept

    def _serve(self, serve: _Serve, *, produce: bool) -> None:
        """Nodes ``serve.start:stop`` fill what they owe, oldest first, from on-hand stock; with
        ``produce`` (their turn of the decision step) make-to-order sources make the rest, up to
        capacity; then shipments leave on their lanes."""
        xp, flows, a, b = self.xp, self.current, serve.start, serve.stop
        stock = self.on_hand[:, a:b]
        supply = stock
        produce = produce and serve.capacity is not None
        if produce:
            supply = stock + serve.capacity
        served, claimant, fresh, left = self._fill(a, b, supply)
        if produce:
            from_stock = xp.minimum(served, stock)
            made = served - from_stock
            stock -= from_stock
            flows[RECEIPTS][:, a:b] += made
            flows[PRODUCED][:, a:b] += made
        else:
            stock[...] = left
        flows[FILLED][:, a:b] += fresh
        if serve.customers is not None:
            sold = claimant[:, :, 0] * serve.customers
            flows[SOLD][:, a:b] += sold
            flows[SHIPPED][:, a:b] += served - sold
        else:
            flows[SHIPPED][:, a:b] += served
        if len(serve.lanes):
            shipped = xp.take(claimant.reshape(self.num_envs, -1), serve.take, 1)
            self._dispatch(serve.lanes, shipped)

    def _fill(self, a: int, b: int, supply: Array) -> tuple[Array, Array, Array, Array]:
        """First in, first out: fill the queue entries of nodes ``a:b`` (oldest period first,
        then claimant order) from ``supply`` ``(B, b - a)``. Returns the units served per node,
        per claimant ``(B, b - a, C)``, of entries made this period (filled on time), and what
        is left of the supply (exactly 0 once it runs out, or where less than rounding is left,
        as the event twin leaves it). An entry that what is left misses by rounding only is
        filled whole (:meth:`_taken`)."""
        xp, rows = self.xp, self.num_envs
        queue = self.queue[:, a:b]
        short = FILL_ROUNDING * supply
        if self.merge:  # one claimant: [older entries, this period's entry]
            older, fresh = queue[:, :, 0, 0], queue[:, :, 1, 0]
            first = self._taken(older, supply, short)
            rest = xp.clip_low(supply - first, 0.0)
            second = self._taken(fresh, rest, short)
            older -= first
            fresh -= second
            served = first + second
            left = rest - second
            return served, served[:, :, None], second, xp.where(left < short, 0.0, left)
        k, depth, slots = b - a, self.depth, self.slots
        flat = queue.reshape(rows, k, depth * slots)
        cumulative = xp.cumsum(flat, 2)
        available = xp.clip_low(supply[:, :, None] - (cumulative - flat), 0.0)
        taken = self._taken(flat, available, short[:, :, None])
        flat -= taken
        by_period = taken.reshape(rows, k, depth, slots)
        claimant = by_period.sum(2)
        left = supply - cumulative[:, :, -1]
        left = xp.where(left < short, 0.0, left)  # less than rounding left: nothing
        return claimant.sum(-1), claimant, by_period[:, :, depth - 1].sum(-1), left

    def _taken(self, entry: Array, available: Array, short: Array) -> Array:
        """What a fill takes of ``entry`` with ``available`` units (``>= 0``) left of a supply,
        as :meth:`entities.nodes.Node._fill` takes it: the whole entry if it fits, or misses by
        no more than ``short`` (rounding of the running difference: :data:`FILL_ROUNDING` times
        the supply), else what is available. (An entry below ``short`` counts as filled even
        once the supply has run out, where the event twin leaves it owed: a difference below
        any the ledger reports, for two fewer operations on the hot path.)"""
        return self.xp.where(entry - available <= short, entry, available)

    def _dispatch(self, lanes: Array, quantity: Array) -> None:
        """Ship ``quantity`` ``(B, lanes)`` now: into the lanes' pipelines, due after this period's
        lead time, or received at once at the destination (lead time 0)."""
        xp = self.xp
        columns = self._due[:, lanes]
        pipe = self.pipeline.reshape(self.num_envs, -1)
        if not self.zero_lead:
            pipe[self._rows, columns] += quantity
            return
        now = self._offsets[self.t][:, lanes] == 0
        pipe[self._rows, columns] += xp.where(now, 0.0, quantity)
        into = xp.where(now, quantity, 0.0) @ self._to_node[lanes]
        self.on_hand += into
        self.current[RECEIPTS] += into
        self.on_order = xp.clip_low(self.on_order - into, 0.0)  # a running sum: never below 0

    def _cascade(self, below: int) -> None:
        """After shipments received at once: the levels under ``below`` serve, top first."""
        for level in reversed(self._levels[:below]):
            self._serve(level.serve, produce=False)

    def _decide(self) -> None:
        """The decision step, level by level from the customer-facing level up."""
        xp, flows = self.xp, self.current
        live = not self.plan.liu
        for number, level in enumerate(self._levels):
            s = level.serve
            self._serve(s, produce=True)
            if self.zero_lead and number:
                self._cascade(number)
            if live and level.rules:
                view = self.view()
                for rule, columns in level.rules:
                    self.orders[:, columns] = rule.quantity(view)
            la, lm, lb = level.lane_start, level.lane_production, level.lane_stop
            if lb == la:
                continue
            q = self.orders[:, la:lb]
            cost = xp.where(q > 0.0, level.fixed_cost + level.unit_cost * q, 0.0)
            to_node = level.to_node
            flows[ORDERING][:, s.start : s.stop] += cost @ to_node
            placed = q @ to_node
            self.on_order[:, s.start : s.stop] += placed
            flows[ORDERED][:, s.start : s.stop] += placed
            if lm > la:
                upstream = q[:, : lm - la]
                flows[DEMAND] += upstream @ level.upstream_demand
                columns = self._queue_columns(la, lm)
                self.queue.reshape(self.num_envs, -1)[:, columns] += upstream
            if lb > lm:
                self.production_owed[:, lm:lb] += q[:, lm - la :]
                owed = self.production_owed[:, lm:lb]
                made = xp.minimum(owed, level.capacity)
                owed -= made
                flows[PRODUCED][:, s.start : s.stop] += made @ level.production_node
                self._dispatch(self._lane_range(lm, lb), made)
                if self.zero_lead:  # made with lead time 0: received and shipped at once
                    self._serve(s, produce=False)
                    if number:
                        self._cascade(number)

    def _queue_columns(self, la: int, lm: int) -> Array:
        """Columns of the flattened queue where this period's orders on lanes ``la:lm`` go."""
        key = ("queue", la, self.depth)
        if key not in self._cache:
            plan, depth = self.plan, self.depth
            self._cache[key] = self.xp.index(
                [
                    (plan.lanes[k].origin * depth + depth - 1) * self.slots + plan.claimants[k]
                    for k in range(la, lm)
                ]
            )
        return self._cache[key]

    def _lane_range(self, start: int, stop: int) -> Array:
        key = ("lanes", start, stop)
        if key not in self._cache:
            self._cache[key] = self.xp.index(list(range(start, stop)))
        return self._cache[key]

    def _close(self) -> None:
        """Write the period's ledger columns; age the queue and the demand history."""
        xp, flows, t = self.xp, self.current, self.t
        backorders = self._backorders()
        transit = self._in_transit()
        flows[BACKORDERS] = backorders
        flows[CLOSING] = self.on_hand
        flows[IN_TRANSIT] = transit @ self._to_node
        flows[ON_ORDER] = self.on_order
        flows[HOLDING] = self._holding * self.on_hand
        flows[TRANSIT] = transit @ self._transit_rate
        flows[STOCKOUT] = self._stockout * (backorders + flows[LOST])
        if self._overflow is not None:
            capacity, rate = self._overflow
            over = self.on_hand - capacity
            flows[OVERFLOW] = xp.where(over > 0.0, rate * over, 0.0)
        flows[TOTAL] = (
            flows[HOLDING] + flows[TRANSIT] + flows[STOCKOUT] + flows[OVERFLOW] + flows[ORDERING]
        )
        if self._price is not None:  # else revenue stays 0 (reconciliation.costs.revenue)
            flows[REVENUE] = self._price * flows[SOLD]
        flows[PROFIT] = flows[REVENUE] - flows[TOTAL]
        if self.record:
            self._ledger.append(flows.clone() if xp.name == "torch" else flows.copy())
        # The forecast: moving average over the last `forecast_window` periods (entities.nodes).
        demand, w = flows[DEMAND], self.window
        count = min(t, w - 1)
        self.closing_demand = demand + 0.0
        self.closing_forecast = (self.history_sum + demand) / (count + 1)
        self.history[:, :, t % w] = demand
        self.history_sum += demand
        if t - w + 1 >= 0:
            self.history_sum -= self.history[:, :, (t + 1) % w]
        self._age_queue()
        self.flows, self.current = self.current, self.flows  # the closed period's columns stay

    def _backorders(self) -> Array:
        """Units each node owes, ``(B, nodes)``: the sum of its queue."""
        queue = self.queue
        if self.merge:  # an addition is cheaper than a reduction over two entries
            return queue[:, :, 0, 0] + queue[:, :, 1, 0]
        return queue.sum((2, 3))

    def _in_transit(self) -> Array:
        """Units in transit on each lane, ``(B, lanes)``."""
        pipe = self.pipeline
        if self.ring > 6:
            return pipe.sum(-1)
        total = pipe[:, :, 0] + 0.0  # a few additions are cheaper than a small reduction
        for k in range(1, self.ring):
            total += pipe[:, :, k]
        return total

    def _age_queue(self) -> None:
        queue = self.queue
        if self.merge:
            queue[:, :, 0] += queue[:, :, 1]
            queue[:, :, 1] = 0.0
            return
        xp = self.xp
        if xp.any(queue[:, :, 0] != 0.0):  # the oldest period is still owed: keep more periods
            grown = xp.zeros(self.num_envs, self.plan.n_nodes, 2 * self.depth, self.slots)
            grown[:, :, self.depth :] = queue
            self.queue, self.depth, queue = grown, 2 * self.depth, grown
        shifted = queue[:, :, 1:].clone() if xp.name == "torch" else queue[:, :, 1:].copy()
        queue[:, :, :-1] = shifted
        queue[:, :, -1] = 0.0
        half = self.depth // 2
        if half >= 2 and not xp.any(queue[:, :, :half] != 0.0):  # nothing that old is owed
            kept = queue[:, :, half:]
            self.queue = kept.clone() if xp.name == "torch" else kept.copy()
            self.depth = half

    # -- what nodes know --------------------------------------------------------------------------

    def view(self, *, closed: bool = False) -> VectorState:
        """The state now, as observations see it; ``closed``: at the start of the period (the
        last close's demand and forecast; the pipeline by arrival from this period on)."""
        return VectorState(self, closed)


class VectorState:
    """The nodes' positions at one moment (what :class:`~agents.base.Observation` holds), as
    ``(B, nodes)`` arrays over chosen internal node indices; computed once, when first asked."""

    def __init__(self, twin: VectorTwin, closed: bool) -> None:
        self.twin = twin
        self.closed = closed
        self.period = twin.t
        self._cache: dict[str, Array] = {}

    def _all(self, name: str) -> Array:
        cached = self._cache.get(name)
        if cached is not None:
            return cached
        twin = self.twin
        if name == "backorders":
            value = twin._backorders()
        elif name == "inventory_position":
            value = twin.on_hand + twin.on_order - self._all("backorders")
        elif name == "echelon_inventory_position":
            value = self._all("inventory_position") @ twin._echelon
        elif name == "in_transit":
            value = twin._in_transit() @ twin._to_node
        elif name == "last_demand":
            value = twin.closing_demand if self.closed else twin.current[DEMAND]
        elif name == "forecast":
            if self.closed:
                value = twin.closing_forecast
            else:
                count = min(twin.t, twin.window - 1)
                value = (twin.history_sum + twin.current[DEMAND]) / (count + 1)
        else:
            value = getattr(twin, name)
        self._cache[name] = value
        return value

    def get(self, name: str, nodes: Array) -> Array:
        """``name`` (an :class:`~agents.base.Observation` field) of ``nodes``, ``(B, nodes)``."""
        return self.twin.xp.take(self._all(name), nodes, 1)

    def on_hand(self, nodes: Array) -> Array:
        return self.get("on_hand", nodes)

    def backorders(self, nodes: Array) -> Array:
        return self.get("backorders", nodes)

    def on_order(self, nodes: Array) -> Array:
        return self.get("on_order", nodes)

    def in_transit(self, nodes: Array) -> Array:
        return self.get("in_transit", nodes)

    def inventory_position(self, nodes: Array) -> Array:
        return self.get("inventory_position", nodes)

    def echelon_inventory_position(self, nodes: Array) -> Array:
        return self.get("echelon_inventory_position", nodes)

    def last_demand(self, nodes: Array) -> Array:
        return self.get("last_demand", nodes)

    def forecast(self, nodes: Array) -> Array:
        return self.get("forecast", nodes)

    def customer_demand(self, nodes: Array) -> Array:
        """The network's customer demand of the last closed period (point-of-sale data: the demand
        at the customer-facing level, summed in node order as the event twin's rows), ``(B,
        nodes)``; each node's own last demand before the first close
        (:func:`agents.spaces.customer_demand`)."""
        twin = self.twin
        if twin.t == 0:
            return self.last_demand(nodes)
        cached = self._cache.get("customer_demand")
        if cached is None:
            start, stop = twin.plan.level_bounds[0]
            demand = twin.flows[DEMAND]
            cached = demand[:, start] + 0.0
            for k in range(start + 1, stop):
                cached += demand[:, k]
            self._cache["customer_demand"] = cached
        return cached[:, None] + 0.0 * self.last_demand(nodes)

    def pipeline(self, nodes: Array, length: int) -> Array:
        """Units in transit to ``nodes`` by arrival, ``(B, nodes, length)``: slot ``k`` arrives
        ``k + 1`` periods from now (at the start of a period: ``k`` periods from now, this
        period's arrivals in slot 0); what arrives later is added to the last slot."""
        twin = self.twin
        xp, ring = twin.xp, twin.ring
        first = twin.t if self.closed else twin.t + 1
        order = [(first + k) % ring for k in range(ring - (0 if self.closed else 1))]
        fold = np.zeros((len(order), length))
        for k in range(len(order)):
            fold[k, min(k, length - 1)] = 1.0
        by_lane = xp.take(twin.pipeline, xp.index(order), 2)  # (B, lanes, arrival)
        from_lanes = xp.take(twin._to_node, nodes, 1).T  # (nodes, lanes)
        return (from_lanes @ by_lane) @ xp.asarray(fold)  # (B, nodes, length)


@dataclass
class VectorLedger:
    """Recorded ledger columns of a vector twin run: ``data[period, field, row, node]``
    (:data:`FIELDS`; nodes in scenario order; row ``b`` is replication ``replications[b]``)."""

    scenario: Scenario
    replications: list[int]
    data: np.ndarray

    def column(self, name: str) -> np.ndarray:
        """``(periods, B, nodes)`` values of one ledger column."""
        return self.data[:, FIELDS.index(name)]

    def rows(self, row: int = 0) -> list[LedgerRow]:
        """Row ``row``'s ledger as :class:`~reconciliation.ledger.LedgerRow` records, period by
        period in scenario node order (as ``Simulation(...).run().rows``)."""
        s = self.scenario
        topo = s.topology()
        out = []
        for t in range(self.data.shape[0]):
            for j, n in enumerate(s.nodes):
                values = self.data[t, :, row, j].tolist()
                out.append(LedgerRow(t, n.id, "default", n.tier_name, topo.level[n.id] + 1, *values))
        return out
