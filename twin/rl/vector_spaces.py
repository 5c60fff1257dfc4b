"""Observation builders and action maps of :mod:`agents.spaces`, over the vector twin's arrays.

Each class here mirrors one builder or map of :mod:`agents.spaces` (made from that object, so its
parameters are the same) for all learning nodes and all replications at once:

* a builder's ``build(state) -> (B, agents, size)`` ``float32`` observations (``state`` a
  :class:`~twin.rl.vector.VectorState`), with ``reset()`` and ``record(flows)`` (after each period
  close) where it keeps a history, as :class:`agents.spaces.Featurizer` does;
* a map's ``orders(actions, state) -> (B, lanes)`` quantities on the learning nodes' ordering
  lanes (:attr:`~twin.rl.vector.VectorTwin.external_lanes`), raising ``ValueError`` on an action
  outside its space.

The environments test that they give what :func:`twin.rl.env.parallel_env` shows for the same
replication and actions (``tests/test_vector_env.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from agents import spaces
from entities.messages import PRODUCTION
from twin.rl.vector import CLOSING, DEMAND, FILLED, OPENING, VectorState, VectorTwin
from twin.rl.vector_backend import Array
from twin.rl.vector_plan import VectorUnsupported


class VectorObservation:
    """Base class: ``build`` the observations of the learning nodes ``nodes`` (internal indices)."""

    def __init__(self, twin: VectorTwin, nodes: list[int]) -> None:
        self.twin = twin
        self.xp = twin.xp
        self.index = twin.xp.select(nodes)
        self.nodes = nodes

    def reset(self) -> None:
        """A new episode (all rows)."""

    def record(self, flows: Array) -> None:
        """The ledger columns of the period just closed."""

    def build(self, state: VectorState) -> Array:
        raise NotImplementedError


class DefaultObservation(VectorObservation):
    """:class:`agents.spaces.DefaultObservation`: the observation's eight stock fields."""

    def build(self, state: VectorState) -> Array:
        xp, i = self.xp, self.index
        values = [state.get(name, i) for name in spaces.DefaultObservation.FIELDS]
        return xp.float32(xp.stack(values, 2))


class LiuObservation(VectorObservation):
    """:class:`agents.spaces.LiuObservation`: on-hand, backlog, last demand, pipeline slots."""

    def __init__(self, twin: VectorTwin, nodes: list[int], builder: spaces.LiuObservation) -> None:
        super().__init__(twin, nodes)
        self.length = builder._length()
        self.scale = builder.scale

    def build(self, state: VectorState) -> Array:
        xp, i = self.xp, self.index
        head = xp.stack([state.on_hand(i), state.backorders(i), state.last_demand(i)], 2)
        values = xp.float32(xp.concatenate([head, state.pipeline(i, self.length)], 2))
        return values / np.float32(self.scale)


class HmarlObservation(VectorObservation):
    """:class:`agents.spaces.HmarlObservation` with the history :class:`agents.spaces.NodeHistory`
    keeps: the demands seen in the last ``window`` observations, the node's last ``window``
    closed periods and its upstream nodes' closing on-hand stock."""

    def __init__(self, twin: VectorTwin, nodes: list[int], builder: spaces.HmarlObservation) -> None:
        super().__init__(twin, nodes)
        self.window, self.max_cover = builder.window, builder.max_cover
        plan = twin.plan
        upstream = np.zeros((plan.n_nodes, len(nodes)))
        for a, i in enumerate(nodes):
            for k in plan.inbound[i]:
                lane = plan.lanes[k]
                if lane.origin >= 0 and not lane.id.startswith(f"{PRODUCTION}->"):
                    upstream[lane.origin, a] = 1.0
        self.has_upstream = twin.xp.asarray(upstream.any(0).astype(float))
        self.upstream = twin.xp.asarray(upstream)
        self.reset()

    def reset(self) -> None:
        xp, b, n, w = self.xp, self.twin.num_envs, len(self.nodes), self.window
        self.demands = xp.zeros(b, n, w)
        self.seen = 0  # observations recorded (the same in every row: the rows run in lockstep)
        self.last_period: int | None = None
        self.filled = xp.zeros(b, n, w)
        self.demand = xp.zeros(b, n, w)
        self.closed = 0
        self.upstream_initial: Array | None = None
        self.upstream_on_hand: Array | None = None

    def record(self, flows: Array) -> None:
        xp, i, slot = self.xp, self.index, self.closed % self.window
        self.filled[:, :, slot] = xp.take(flows[FILLED], i, 1)
        self.demand[:, :, slot] = xp.take(flows[DEMAND], i, 1)
        self.last_filled = self.filled[:, :, slot]
        self.last_demand = self.demand[:, :, slot]
        self.closed += 1
        if self.upstream_initial is None:
            self.upstream_initial = flows[OPENING] @ self.upstream
        self.upstream_on_hand = flows[CLOSING] @ self.upstream

    def build(self, state: VectorState) -> Array:
        xp, i, c = self.xp, self.index, self.max_cover
        if state.period != self.last_period:
            self.last_period = state.period
            self.demands[:, :, self.seen % self.window] = state.last_demand(i)
            self.seen += 1
        forecast = xp.clip_low(state.forecast(i), 0.0)
        count = min(self.seen, self.window)
        if count > 1:
            recent = self.demands[:, :, :count]
            mean = recent.sum(2) / count
            uncertainty = xp.sqrt(((recent - mean[:, :, None]) ** 2).sum(2) / count)
        else:
            uncertainty = forecast * 0.0
        ip = state.inventory_position(i)
        positive = forecast > 0.0
        cover = xp.clip_high(xp.clip_low(ip / xp.where(positive, forecast, 1.0), -c), c)
        sign = xp.where(ip > 0.0, c, xp.where(ip < 0.0, -c, 0.0))
        cover = xp.where(positive, cover, sign)
        if self.closed:
            stockout = xp.where(self.last_filled < self.last_demand - 1e-9, 1.0, 0.0)
            n = min(self.closed, self.window)
            filled, demand = self.filled[:, :, :n].sum(2), self.demand[:, :, :n].sum(2)
            service = xp.where(
                demand > 0.0, xp.clip_high(filled / xp.where(demand > 0.0, demand, 1.0), 1.0), 1.0
            )
        else:
            stockout, service = forecast * 0.0, forecast * 0.0 + 1.0
        if self.upstream_on_hand is None:
            ratio = forecast * 0.0 + 1.0
        else:
            assert self.upstream_initial is not None
            initial, on_hand = self.upstream_initial, self.upstream_on_hand
            ratio = xp.where(
                initial > 0.0,
                on_hand / xp.where(initial > 0.0, initial, 1.0),
                xp.where(on_hand > 0.0, 1.0, 0.0),
            )
            ratio = xp.where(self.has_upstream > 0.0, ratio, 1.0)
        ratio = xp.clip_high(xp.clip_low(ratio, 0.0), spaces.HmarlObservation.MAX_RATIO)
        on_hand = xp.clip_low(state.on_hand(i), 0.0)
        values = [on_hand, forecast, uncertainty, cover, stockout, ratio, service]
        return xp.float32(xp.stack(values, 2))


class EchelonObservation(VectorObservation):
    """:class:`agents.spaces.EchelonObservation`: stock fields, the echelon position, the last
    demand seen and the customer demand of the last closed period (shared point-of-sale data),
    and of the ``customer_periods - 1`` closed periods before it."""

    def __init__(self, twin: VectorTwin, nodes: list[int], builder: spaces.EchelonObservation) -> None:
        super().__init__(twin, nodes)
        self.scale = builder.scale
        self.periods = builder.customer_periods
        start, stop = twin.plan.level_bounds[0]  # the customer-facing level (echelon 1)
        self.customer_nodes = slice(start, stop)
        self.reset()

    def reset(self) -> None:
        self.customer: Array | None = None
        self.past: list[Array] = []  # the customer demand of closed periods, oldest first

    def record(self, flows: Array) -> None:
        demand = flows[DEMAND][:, self.customer_nodes]
        total = demand[:, 0] + 0.0
        for k in range(1, demand.shape[1]):  # summed in node order, as the event twin's rows
            total += demand[:, k]
        self.customer = total
        if self.periods > 1:
            self.past = [*self.past[-(self.periods - 1) :], total]

    def build(self, state: VectorState) -> Array:
        xp, i = self.xp, self.index
        last = state.last_demand(i)
        customer = last if self.customer is None else self.customer[:, None] + 0.0 * last
        values = [
            state.on_hand(i),
            state.backorders(i),
            state.inventory_position(i),
            state.echelon_inventory_position(i),
            last,
            customer,
        ]
        if self.periods > 1:
            seen = [p[:, None] + 0.0 * last for p in self.past[::-1][1 : self.periods]]
            oldest = seen[-1] if seen else customer
            values += seen + [oldest] * (self.periods - 1 - len(seen))
        return xp.float32(xp.stack(values, 2)) / np.float32(self.scale)


def vector_observation(
    builder: spaces.ObservationBuilder, twin: VectorTwin, nodes: list[int]
) -> VectorObservation:
    """The vectorised version of ``builder`` (resolved against the nodes) for ``nodes``."""
    kind = type(builder)
    if kind is spaces.DefaultObservation:
        return DefaultObservation(twin, nodes)
    if kind is spaces.LiuObservation:
        return LiuObservation(twin, nodes, builder)  # type: ignore[arg-type]
    if kind is spaces.HmarlObservation:
        return HmarlObservation(twin, nodes, builder)  # type: ignore[arg-type]
    if kind is spaces.EchelonObservation:
        return EchelonObservation(twin, nodes, builder)  # type: ignore[arg-type]
    raise VectorUnsupported(
        twin.scenario.source,
        "observation",
        f"observation builder {builder.name!r} ({kind.__name__}) has no vectorised version",
    )


# --------------------------------------------------------------------------------------------------
# Action maps.


class VectorAction:
    """Base class: turn the learning nodes' actions into orders on their ordering lanes."""

    def __init__(self, twin: VectorTwin, nodes: list[int], action: spaces.ActionMap) -> None:
        self.twin, self.xp, self.action = twin, twin.xp, action
        self.nodes = nodes
        self.index = twin.xp.select(nodes)
        plan = twin.plan
        self.lanes = [len(plan.inbound[i]) for i in nodes]
        starts = np.cumsum([0, *self.lanes[:-1]])
        self.primary = twin.xp.index(starts)  # each node's first lane among the external lanes
        self.width = int(sum(self.lanes))

    def _orders(self, primary: Array) -> Array:
        """Orders with ``primary`` ``(B, nodes)`` on each node's primary lane, 0 elsewhere."""
        out = self.xp.zeros(self.twin.num_envs, self.width)
        out[:, self.primary] = primary
        return out

    def orders(self, actions: Any, state: VectorState) -> Array:
        raise NotImplementedError


def _integers(xp: Any, actions: Any, high: int, what: str) -> Array:
    values = xp.asarray(actions)
    bad = (values < 0) | (values > high) | (xp.floor(values) != values)
    if xp.any(bad):
        raise ValueError(f"{what}: actions must be integers in [0, {high}], got {actions!r}")
    return values


class IntegerOrder(VectorAction):
    """:class:`agents.spaces.IntegerOrder`: ``a`` units on the primary lane, or on each lane of a
    node with several (``per_lane``). Actions are ``(B, width)``: the nodes' actions one after
    another (one value per node, or one per lane), as the Gymnasium view flattens them."""

    def __init__(self, twin: VectorTwin, nodes: list[int], action: spaces.ActionMap) -> None:
        super().__init__(twin, nodes, action)
        per_lane = action.per_lane  # type: ignore[attr-defined]
        target: list[int] = []
        start = 0
        for k in self.lanes:
            target.extend(range(start, start + k) if per_lane and k > 1 else [start])
            start += k
        self.target = twin.xp.index(target)
        self.action_width = len(target)

    def orders(self, actions: Any, state: VectorState) -> Array:
        action: spaces.IntegerOrder = self.action  # type: ignore[assignment]
        values = _integers(self.xp, actions, action.n, action.name)
        out = self.xp.zeros(self.twin.num_envs, self.width)
        out[:, self.target] = values.reshape(self.twin.num_envs, self.action_width)
        return out


class HmarlMultiples(VectorAction):
    """:class:`agents.spaces.HmarlMultiples`: ``multiples[a]`` times the forecast."""

    def __init__(self, twin: VectorTwin, nodes: list[int], action: spaces.ActionMap) -> None:
        super().__init__(twin, nodes, action)
        self.multiples = twin.xp.asarray(action.multiples)  # type: ignore[attr-defined]

    def orders(self, actions: Any, state: VectorState) -> Array:
        xp, action = self.xp, self.action
        count = len(action.multiples)  # type: ignore[attr-defined]
        values = _integers(xp, actions, count - 1, action.name)
        b, n = self.twin.num_envs, len(self.nodes)
        chosen = xp.take(self.multiples, xp.index(values.reshape(-1)), 0).reshape(b, n)
        return self._orders(chosen * xp.clip_low(state.forecast(self.index), 0.0))


class OrderUpTo(VectorAction):
    """:class:`agents.spaces.OrderUpTo`: ``max(0, level - IP)``, the level clipped to the box (in
    units, or times the forecast, the last demand or the customers' demand), rounded to whole
    units and capped if asked; the level is ``(centre + action) x multiple`` per node."""

    def __init__(self, twin: VectorTwin, nodes: list[int], action: spaces.ActionMap) -> None:
        super().__init__(twin, nodes, action)
        up_to: spaces.OrderUpTo = action  # type: ignore[assignment]
        ids = twin.plan.node_ids
        self.centre = twin.xp.asarray([up_to.centre_of(ids[i]) for i in nodes])
        self.multiple: Array | None = None
        if up_to.multiple is not None:
            ids = [twin.plan.node_ids[i] for i in nodes]
            self.multiple = twin.xp.asarray(np.array([up_to.node_multiple(n) for n in ids]))

    def orders(self, actions: Any, state: VectorState) -> Array:
        xp = self.xp
        action: spaces.OrderUpTo = self.action  # type: ignore[assignment]
        b, n = self.twin.num_envs, len(self.nodes)
        values = xp.asarray(actions).reshape(b, n)
        if xp.any(~(values == values) | (values == np.inf) | (values == -np.inf)):
            raise ValueError(f"{action.name}: actions must be finite numbers, got {actions!r}")
        level = xp.clip_high(xp.clip_low(values, action.low), action.high) + self.centre
        if self.multiple is not None:
            level = level * self.multiple
        if action.scale == "forecast":
            level = level * xp.clip_low(state.forecast(self.index), 0.0)
        elif action.scale == "last_demand":
            level = level * xp.clip_low(state.last_demand(self.index), 0.0)
        elif action.scale == "customer_demand":
            level = level * xp.clip_low(state.customer_demand(self.index), 0.0)
        if action.position == "echelon":
            position = state.echelon_inventory_position(self.index)
        else:
            position = state.inventory_position(self.index)
        order = xp.clip_low(level - position, 0.0)
        if action.integer:
            order = xp.floor(order + 0.5)
        if action.max_order is not None:
            order = xp.clip_high(order, action.max_order)
        return self._orders(order)


def vector_action(action: spaces.ActionMap, twin: VectorTwin, nodes: list[int]) -> VectorAction:
    """The vectorised version of ``action`` for the learning ``nodes``."""
    kind = type(action)
    if kind is spaces.IntegerOrder:
        return IntegerOrder(twin, nodes, action)
    if kind is spaces.HmarlMultiples:
        return HmarlMultiples(twin, nodes, action)
    if kind is spaces.OrderUpTo:
        return OrderUpTo(twin, nodes, action)
    raise VectorUnsupported(
        twin.scenario.source,
        "action",
        f"action map {action.name!r} ({kind.__name__}) has no vectorised version",
    )
