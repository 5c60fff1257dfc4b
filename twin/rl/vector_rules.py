"""Vectorised rule agents of the vector twin: one small class per rule of :mod:`agents.rules`.

Each class is made from the agent instance the registry built for a scenario entry (so parameters
are validated exactly as for the event twin) and the nodes it decides for; ``quantity(state)``
returns the order of each of its nodes in every replication, ``(B, nodes)``, from the arrays of a
:class:`StateView` (the node's inventory position, echelon position, demand and forecast at the
moment the event twin would build its :class:`~agents.base.Observation`). The formulas are those of
:mod:`agents.rules`, written over arrays; every order goes on the node's primary lane, capped at
the agent's ``max_order`` when it has one (and 0 below ``agents.rules.ORDER_NOISE``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from agents import rules
from agents.base import per_node
from twin.rl.vector_backend import Array, Backend


class StateView(Protocol):
    """What a rule (or an observation builder) may read: ``(B, n)`` arrays over chosen nodes."""

    period: int

    def inventory_position(self, nodes: Array) -> Array: ...

    def echelon_inventory_position(self, nodes: Array) -> Array: ...

    def last_demand(self, nodes: Array) -> Array: ...

    def forecast(self, nodes: Array) -> Array: ...

    def customer_demand(self, nodes: Array) -> Array: ...


class UnsupportedRule(Exception):
    """The agent has no vectorised version (the message says why; ``key`` is the entry's YAML key
    at fault: ``kind`` or ``params``)."""

    def __init__(self, message: str, key: str = "kind") -> None:
        super().__init__(message)
        self.key = key


def _levels(value: Any, nodes: Sequence[str], name: str) -> np.ndarray:
    return np.array([float(per_node(value, n, name)) for n in nodes])


class VectorRule:
    """Base class: the nodes (internal indices, on the backend) and per-node parameters."""

    def __init__(self, xp: Backend, nodes: Array) -> None:
        self.xp = xp
        self.nodes = nodes

    def quantity(self, state: StateView) -> Array:
        raise NotImplementedError


class BaseStock(VectorRule):
    """``max(0, S - IP)`` (:class:`agents.rules.BaseStockPolicy`)."""

    def __init__(self, xp: Backend, nodes: Array, level: np.ndarray) -> None:
        super().__init__(xp, nodes)
        self.level = xp.asarray(level)

    def quantity(self, state: StateView) -> Array:
        return self.xp.clip_low(self.level - state.inventory_position(self.nodes), 0.0)


class EchelonBaseStock(BaseStock):
    """``max(0, S_e - echelon IP)`` (:class:`agents.rules.EchelonBaseStockPolicy`)."""

    def quantity(self, state: StateView) -> Array:
        return self.xp.clip_low(self.level - state.echelon_inventory_position(self.nodes), 0.0)


class SS(VectorRule):
    """``S - IP`` when ``IP <= s``, else 0 (:class:`agents.rules.SSPolicy`)."""

    def __init__(self, xp: Backend, nodes: Array, s: np.ndarray, big_s: np.ndarray) -> None:
        super().__init__(xp, nodes)
        self.s, self.big_s = xp.asarray(s), xp.asarray(big_s)

    def quantity(self, state: StateView) -> Array:
        ip = state.inventory_position(self.nodes)
        return self.xp.where(ip <= self.s + rules.POSITION_NOISE, self.big_s - ip, 0.0)


class RQ(VectorRule):
    """The smallest multiple of Q lifting IP above r (:class:`agents.rules.RQPolicy`)."""

    def __init__(self, xp: Backend, nodes: Array, r: np.ndarray, q: np.ndarray) -> None:
        super().__init__(xp, nodes)
        self.r, self.q = xp.asarray(r), xp.asarray(q)

    def quantity(self, state: StateView) -> Array:
        ip = state.inventory_position(self.nodes)
        batches = self.xp.floor((self.r - ip + rules.POSITION_NOISE) / self.q) + 1.0
        return self.xp.where(ip > self.r + rules.POSITION_NOISE, 0.0, self.q * batches)


class PeriodicReview(VectorRule):
    """Order up to S every R periods at ``offset`` (:class:`agents.rules.PeriodicReviewPolicy`)."""

    def __init__(self, xp: Backend, nodes: Array, period: int, offset: int, level: np.ndarray) -> None:
        super().__init__(xp, nodes)
        self.review_period, self.offset = period, offset
        self.level = xp.asarray(level)

    def quantity(self, state: StateView) -> Array:
        up_to = self.xp.clip_low(self.level - state.inventory_position(self.nodes), 0.0)
        return up_to if state.period % self.review_period == self.offset else up_to * 0.0


class Constant(VectorRule):
    """The same quantity every period (:class:`agents.rules.ConstantPolicy`)."""

    def __init__(self, xp: Backend, nodes: Array, quantity: np.ndarray) -> None:
        super().__init__(xp, nodes)
        self.value = xp.asarray(quantity)

    def quantity(self, state: StateView) -> Array:
        return self.value  # (nodes,): broadcast over the replications when placed


class PassThrough(VectorRule):
    """This period's demand (:class:`agents.rules.PassThroughPolicy`)."""

    def quantity(self, state: StateView) -> Array:
        return state.last_demand(self.nodes)


class AdaptiveBaseStock(VectorRule):
    """Order up to ``k`` times the mean demand seen at the last ``window`` epochs (the node's own,
    or with ``customer`` the customers' demand of the last close), on the installation or echelon
    position (:class:`agents.rules.AdaptiveBaseStockPolicy`).

    The demand seen is kept per row and node, ``(B, nodes, window)``, oldest first, and summed
    oldest first as the rule's ``sum`` over its window does, so the two agree to the last bit. The
    twin asks once per period from period 0 on: period 0 starts a new episode.
    """

    def __init__(
        self,
        xp: Backend,
        nodes: Array,
        multiple: np.ndarray,
        window: int,
        echelon: bool,
        integer: bool,
        customer: bool = False,
    ) -> None:
        super().__init__(xp, nodes)
        self.multiple = xp.asarray(multiple)
        self.window, self.echelon, self.integer = window, echelon, integer
        self.customer = customer
        self.seen: Array | None = None
        self.count = 0

    def quantity(self, state: StateView) -> Array:
        xp, w = self.xp, self.window
        if self.customer:
            demand = state.customer_demand(self.nodes)
        else:
            demand = state.last_demand(self.nodes)
        if state.period == 0 or self.seen is None:
            self.seen = xp.zeros(*demand.shape, w)
            self.count = 0
        seen = self.seen
        if w > 1:
            shifted = seen[:, :, 1:].clone() if xp.name == "torch" else seen[:, :, 1:].copy()
            seen[:, :, :-1] = shifted
        seen[:, :, -1] = demand
        self.count = min(self.count + 1, w)
        total = seen[:, :, w - self.count] + 0.0
        for k in range(w - self.count + 1, w):
            total = total + seen[:, :, k]
        level = self.multiple * (total / self.count)
        if self.integer:
            level = xp.floor(level + 0.5)
        position = (
            state.echelon_inventory_position(self.nodes)
            if self.echelon
            else state.inventory_position(self.nodes)
        )
        return xp.clip_low(level - position, 0.0)


class Placed(VectorRule):
    """Another rule's orders as the rule places them: at most ``max_order`` per node (the order
    cap, if any), and nothing below :data:`agents.rules.ORDER_NOISE`."""

    def __init__(self, rule: VectorRule, cap: np.ndarray | None) -> None:
        super().__init__(rule.xp, rule.nodes)
        self.rule = rule
        self.cap = None if cap is None else rule.xp.asarray(cap)

    def quantity(self, state: StateView) -> Array:
        q = self.rule.quantity(state)
        if self.cap is not None:
            q = self.xp.minimum(q, self.cap)
        return self.xp.where(q > rules.ORDER_NOISE, q, 0.0)


class DaysOfCover(VectorRule):
    """A multiple {1.5, 1, 0.5, 0} of the forecast chosen by days of cover IP / forecast
    (:class:`agents.rules.DaysOfCoverPolicy`; ``hmarl_warehouse`` and ``hmarl_supplier``)."""

    def __init__(self, xp: Backend, nodes: Array, thresholds: tuple[float, float, float]) -> None:
        super().__init__(xp, nodes)
        self.thresholds = thresholds

    def quantity(self, state: StateView) -> Array:
        xp = self.xp
        forecast = state.forecast(self.nodes)
        positive = forecast > 0.0
        cover = state.inventory_position(self.nodes) / xp.where(positive, forecast, 1.0)
        low, target, high = (t - rules.POSITION_NOISE for t in self.thresholds)
        multiple = xp.where(
            cover < low, 1.5, xp.where(cover < target, 1.0, xp.where(cover < high, 0.5, 0.0))
        )
        return xp.where(positive, multiple * forecast, 0.0)


def vectorise(agent: Any, nodes: Sequence[str], index: Array, xp: Backend) -> VectorRule:
    """The vectorised version of ``agent`` (a registry-built instance) for ``nodes``.

    ``index`` holds the nodes' internal indices on the backend. Raises :class:`UnsupportedRule`
    for an agent without one (planners, learned policies, continuous review, ...).
    """
    rule = _uncapped(agent, nodes, index, xp)
    cap = agent.max_order  # every vectorised agent is a rule of agents.rules
    return Placed(rule, None if cap is None else _levels(cap, nodes, "max_order"))


def _uncapped(agent: Any, nodes: Sequence[str], index: Array, xp: Backend) -> VectorRule:
    kind = type(agent)
    if getattr(agent, "review", "periodic") != "periodic":
        raise UnsupportedRule("review: continuous (the vector twin reviews once per period)", "params")
    if kind is rules.EchelonBaseStockPolicy:
        return EchelonBaseStock(xp, index, _levels(agent.base_stock_level, nodes, "base_stock_level"))
    if kind is rules.BaseStockPolicy:
        return BaseStock(xp, index, _levels(agent.base_stock_level, nodes, "base_stock_level"))
    if kind is rules.SSPolicy:
        s, big_s = _levels(agent.s, nodes, "s"), _levels(agent.S, nodes, "S")
        low = [n for n, a, b in zip(nodes, s, big_s, strict=True) if b < a]
        if low:
            raise UnsupportedRule(
                f"S < s at node {low[0]!r}: the rule would order a negative quantity", "params"
            )
        return SS(xp, index, s, big_s)
    if kind is rules.RQPolicy:
        return RQ(
            xp,
            index,
            _levels(agent.reorder_point, nodes, "reorder_point"),
            _levels(agent.order_quantity, nodes, "order_quantity"),
        )
    if kind is rules.PeriodicReviewPolicy:
        return PeriodicReview(
            xp,
            index,
            agent.review_period,
            agent.offset,
            _levels(agent.order_up_to_level, nodes, "order_up_to_level"),
        )
    if kind is rules.ConstantPolicy:
        return Constant(xp, index, _levels(agent.quantity_, nodes, "quantity"))
    if kind is rules.PassThroughPolicy:
        return PassThrough(xp, index)
    if kind is rules.AdaptiveBaseStockPolicy:
        return AdaptiveBaseStock(
            xp,
            index,
            _levels(agent.multiple, nodes, "multiple"),
            agent.window,
            agent.position == "echelon",
            agent.integer,
            agent.demand == "customer",
        )
    if kind in (rules.DaysOfCoverPolicy, rules.HmarlSupplierPolicy):
        low, target, high = agent.thresholds
        return DaysOfCover(xp, index, (float(low), float(target), float(high)))
    raise UnsupportedRule(f"{kind.__module__}.{kind.__name__} has no vectorised version")
