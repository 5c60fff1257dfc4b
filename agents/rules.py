"""Rule-based replenishment policies, one small class each.

Every policy reads the :class:`~agents.base.Observation` of a node and orders on its primary lane.
Parameters may be given once for all of the agent's nodes or as ``{node: value}``. Every rule takes
an optional order cap, ``max_order`` (per node too): the order is ``min(quantity, max_order)``, as
in an action space of ``0 .. max_order`` units (Liu et al.'s 0..20). Sources: Snyder & Shen,
*Fundamentals of Supply Chain Theory* (2nd ed., 2019), ch. 3-6; Axsater, *Inventory Control* (3rd
ed., 2015), ch. 4.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from agents.base import Agent, Observation, OrderDecision, order, per_node
from agents.spaces import customer_demand
from entities.messages import NodeId


def _number(value: Any, name: str, *, minimum: float = 0.0, strict: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if value < minimum or (strict and value == minimum):
        op = ">" if strict else ">="
        raise ValueError(f"{name} must be {op} {minimum}, got {value!r}")
    return float(value)


def _values(value: Any, name: str, **limits: Any) -> None:
    """Validate a scalar or every entry of a per-node mapping."""
    if isinstance(value, Mapping):
        if not value:
            raise ValueError(f"{name} is an empty mapping")
        for node, v in value.items():
            _number(v, f"{name}[{node}]", **limits)
    else:
        _number(value, name, **limits)


def _review(value: Any) -> Literal["periodic", "continuous"]:
    """``periodic`` (decide at each period's decision epoch) or ``continuous`` (the twin also asks
    the policy whenever the node's inventory position drops: a sale, a backorder, an order from
    downstream, and places its order at once; Axsater 2015, sec. 4.3; Zipkin 2000, ch. 6)."""
    if value == "periodic":
        return "periodic"
    if value == "continuous":
        return "continuous"
    raise ValueError(f"review must be 'periodic' or 'continuous', got {value!r}")


ORDER_NOISE = 1e-9
"""Rules order nothing rather than less than this many units: such a quantity is rounding noise of
a sum of positions (e.g. an echelon's, which the vector twin adds in another order), and ordering
it would charge a fixed ordering cost for nothing."""

POSITION_NOISE = 1e-9
"""A position (or a cover, in periods) within this much of a rule's threshold counts as at the
threshold: a sum of receipts and backorders carries rounding noise of about 1e-14 whose sign
depends on the order of its additions (the vector twin adds in another order than the event
twin), and a rule must not order a batch more or less because of it. Exact positions (whole
units, or a threshold hit exactly) decide as they would without it."""


def _max_order(value: Any) -> float | Mapping[str, float] | None:
    """The order cap: None (no cap), a number >= 0, or ``{node: number}``."""
    if value is not None:
        _values(value, "max_order", minimum=0.0)
    return value


class _Rule(Agent):
    """Shared plumbing: per-node parameter lookup, validation against nodes, the order cap
    ``max_order``, a no-op reset."""

    _per_node_params: tuple[str, ...] = ()
    max_order: float | Mapping[str, float] | None = None

    def reset(self, *, seed: int | None = None) -> None:
        """Rule policies are deterministic; nothing to reset."""

    def validate_nodes(self, nodes: Sequence[str]) -> None:
        names = self._per_node_params + (("max_order",) if self.max_order is not None else ())
        for name in names:
            value = getattr(self, name)
            if isinstance(value, Mapping):
                missing = [n for n in nodes if n not in value]
                extra = [k for k in value if k not in nodes]
                if missing:
                    raise ValueError(f"{name} has no value for node(s) {missing}")
                if extra:
                    raise ValueError(
                        f"{name} names node(s) {extra} that this agent does not "
                        f"decide for ({list(nodes)})"
                    )

    def act(self, observations: Mapping[NodeId, Observation]) -> dict[NodeId, OrderDecision]:
        out = {}
        for node, obs in observations.items():
            q = self.quantity(obs)
            if self.max_order is not None:
                q = min(q, self._param("max_order", node))
            out[node] = order(obs, q if q > ORDER_NOISE else 0.0)
        return out

    def quantity(self, obs: Observation) -> float:
        raise NotImplementedError

    def _param(self, name: str, node: str) -> float:
        # Resolved once per (parameter, node) and cached: act() runs every period.
        cache = self.__dict__.setdefault("_resolved", {})
        key = (name, node)
        if key not in cache:
            cache[key] = float(per_node(getattr(self, name), node, name))
        return cache[key]


class BaseStockPolicy(_Rule):
    """Installation base-stock (order-up-to) policy: order ``max(0, S - IP)`` every period.

    ``base_stock_level`` S per node (Snyder & Shen 2019, sec. 4.3).
    """

    _per_node_params = ("base_stock_level",)

    def __init__(
        self,
        *,
        base_stock_level: float | Mapping[str, float],
        max_order: float | Mapping[str, float] | None = None,
    ) -> None:
        _values(base_stock_level, "base_stock_level", minimum=-math.inf)
        self.base_stock_level = base_stock_level
        self.max_order = _max_order(max_order)

    def quantity(self, obs: Observation) -> float:
        return max(0.0, self._param("base_stock_level", obs.node) - obs.inventory_position)


class EchelonBaseStockPolicy(_Rule):
    """Echelon base-stock policy: order ``max(0, S_e - echelon IP)`` every period.

    Optimal for serial systems with the echelon levels of Clark & Scarf (1960) / Chen & Zheng
    (1994); Snyder & Shen (2019), sec. 6.2. ``base_stock_level`` holds the echelon levels.
    """

    _per_node_params = ("base_stock_level",)

    def __init__(
        self,
        *,
        base_stock_level: float | Mapping[str, float],
        max_order: float | Mapping[str, float] | None = None,
    ) -> None:
        _values(base_stock_level, "base_stock_level", minimum=-math.inf)
        self.base_stock_level = base_stock_level
        self.max_order = _max_order(max_order)

    def quantity(self, obs: Observation) -> float:
        level = self._param("base_stock_level", obs.node)
        return max(0.0, level - obs.echelon_inventory_position)


class SSPolicy(_Rule):
    """(s, S): when the inventory position is at or below ``s``, order up to ``S``.

    Periodic review, Zheng & Federgruen (1991) convention; Snyder & Shen (2019), sec. 4.5. With
    ``review: continuous`` the twin also reviews at every inventory-position drop (:func:`_review`),
    so the position after an order is never below ``s``.
    """

    _per_node_params = ("s", "S")

    def __init__(
        self,
        *,
        s: float | Mapping[str, float],
        S: float | Mapping[str, float],  # noqa: N803
        review: str = "periodic",
        max_order: float | Mapping[str, float] | None = None,
    ) -> None:
        _values(s, "s", minimum=-math.inf)
        _values(S, "S", minimum=-math.inf)
        self.s, self.S = s, S
        self.review = _review(review)
        self.max_order = _max_order(max_order)
        if not isinstance(s, Mapping) and not isinstance(S, Mapping) and S < s:
            raise ValueError(f"S must be >= s, got s={s}, S={S}")

    def quantity(self, obs: Observation) -> float:
        s, big_s = self._param("s", obs.node), self._param("S", obs.node)
        ip = obs.inventory_position
        return big_s - ip if ip <= s + POSITION_NOISE else 0.0


class RQPolicy(_Rule):
    """(r, Q): when the inventory position is at or below ``reorder_point`` r, order the smallest
    multiple of ``order_quantity`` Q that lifts it above r (Axsater 2015, sec. 4.3). With
    ``review: continuous`` the twin also reviews at every inventory-position drop (:func:`_review`)."""

    _per_node_params = ("reorder_point", "order_quantity")

    def __init__(
        self,
        *,
        reorder_point: float | Mapping[str, float],
        order_quantity: float | Mapping[str, float],
        review: str = "periodic",
        max_order: float | Mapping[str, float] | None = None,
    ) -> None:
        _values(reorder_point, "reorder_point", minimum=-math.inf)
        _values(order_quantity, "order_quantity", minimum=0.0, strict=True)
        self.reorder_point, self.order_quantity = reorder_point, order_quantity
        self.review = _review(review)
        self.max_order = _max_order(max_order)

    def quantity(self, obs: Observation) -> float:
        r = self._param("reorder_point", obs.node)
        q = self._param("order_quantity", obs.node)
        ip = obs.inventory_position
        if ip > r + POSITION_NOISE:
            return 0.0
        return q * (math.floor((r - ip + POSITION_NOISE) / q) + 1)


class PeriodicReviewPolicy(_Rule):
    """(R, S): every ``review_period`` R periods (at periods ``offset, offset + R, ...``) order up
    to ``order_up_to_level`` S; no orders in between (Axsater 2015, sec. 4.2)."""

    _per_node_params = ("order_up_to_level",)

    def __init__(
        self,
        *,
        review_period: int,
        order_up_to_level: float | Mapping[str, float],
        offset: int = 0,
        max_order: float | Mapping[str, float] | None = None,
    ) -> None:
        if isinstance(review_period, bool) or not isinstance(review_period, int) or review_period < 1:
            raise ValueError(f"review_period must be an integer >= 1, got {review_period!r}")
        if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset < review_period:
            raise ValueError(f"offset must be an integer in [0, review_period), got {offset!r}")
        _values(order_up_to_level, "order_up_to_level", minimum=-math.inf)
        self.review_period, self.offset = review_period, offset
        self.order_up_to_level = order_up_to_level
        self.max_order = _max_order(max_order)

    def quantity(self, obs: Observation) -> float:
        if obs.period % self.review_period != self.offset:
            return 0.0
        return max(0.0, self._param("order_up_to_level", obs.node) - obs.inventory_position)


class ConstantPolicy(_Rule):
    """Order the same ``quantity`` every period."""

    _per_node_params = ("quantity_",)

    def __init__(
        self,
        *,
        quantity: float | Mapping[str, float],
        max_order: float | Mapping[str, float] | None = None,
    ) -> None:
        _values(quantity, "quantity", minimum=0.0)
        self.quantity_ = quantity
        self.max_order = _max_order(max_order)

    def quantity(self, obs: Observation) -> float:
        return float(per_node(self.quantity_, obs.node, "quantity"))


class PassThroughPolicy(_Rule):
    """Order exactly what was demanded this period ("lot-for-lot"; the bullwhip-free baseline)."""

    def __init__(self, *, max_order: float | Mapping[str, float] | None = None) -> None:
        self.max_order = _max_order(max_order)

    def quantity(self, obs: Observation) -> float:
        return obs.last_demand


def _position(value: Any) -> Literal["installation", "echelon"]:
    if value == "installation":
        return "installation"
    if value == "echelon":
        return "echelon"
    raise ValueError(f"position must be 'installation' or 'echelon', got {value!r}")


def _demand(value: Any) -> Literal["own", "customer"]:
    if value == "own":
        return "own"
    if value == "customer":
        return "customer"
    raise ValueError(f"demand must be 'own' or 'customer', got {value!r}")


class AdaptiveBaseStockPolicy(_Rule):
    """Adaptive base stock: order up to ``multiple`` times the demand the node saw recently.

    Each period the order-up-to level is ``S_t = k * d_t``, where ``k`` is the node's ``multiple``
    and ``d_t`` the mean of the demand it observed at its last ``window`` decision epochs: with
    ``demand: own`` (default) its ``last_demand`` (customer demand at a customer-facing node, the
    orders of the nodes below elsewhere); with ``demand: customer`` the end customers' demand of
    the last closed period (point-of-sale data shared along the chain: the demand at every
    customer-facing node, summed; the node's own last demand before the first close), so that an
    upstream node follows the customers rather than the bullwhip of the orders below. The order
    is ``max(0, S_t - IP)`` on the inventory position (``position:
    installation``) or ``max(0, S_t - echelon IP)`` (``position: echelon``). A base-stock policy
    whose level follows a demand estimate (Snyder & Shen 2019, sec. 4.3 and ch. 6 for the static
    levels), and with ``window: 1`` the "order up to a multiple of the demand last seen" baseline
    of Liu et al. (SSRN 4262186). ``integer: true`` rounds the level to the nearest whole unit
    (halves up), so that orders stay whole when stock is.

    Example: ``multiple`` 4, ``window`` 1, last demand 10, inventory position 37: order 3. With
    ``demand: customer`` and ``position: echelon``: ``multiple`` 15, customers' demand 8 last
    period, echelon inventory position 100: order 20.
    """

    _per_node_params = ("multiple",)

    def __init__(
        self,
        *,
        multiple: float | Mapping[str, float],
        window: int = 1,
        position: str = "installation",
        demand: str = "own",
        integer: bool = False,
        max_order: float | Mapping[str, float] | None = None,
    ) -> None:
        _values(multiple, "multiple", minimum=0.0)
        if isinstance(window, bool) or not isinstance(window, int) or window < 1:
            raise ValueError(f"window must be an integer >= 1, got {window!r}")
        if not isinstance(integer, bool):
            raise ValueError(f"integer must be true or false, got {integer!r}")
        self.multiple = multiple
        self.window = window
        self.position = _position(position)
        self.demand = _demand(demand)
        self.observes_ledger = self.demand == "customer"  # the customers' demand of each close
        self.customer_demand: float | None = None
        """The customers' demand of the last closed period (``demand: customer``)."""
        self.integer = integer
        self.max_order = _max_order(max_order)
        self._seen: dict[str, deque[float]] = {}
        self._seen_period: dict[str, int] = {}

    def reset(self, *, seed: int | None = None) -> None:
        """Forget the demand seen in the last replication."""
        self._seen.clear()
        self._seen_period.clear()
        self.customer_demand = None

    def observe_ledger(self, rows: Sequence[Any]) -> None:
        """Keep the customers' demand of the period just closed (``demand: customer``)."""
        self.customer_demand = customer_demand(rows)

    def recent_demand(self, obs: Observation) -> float:
        """Record the demand seen (``obs.last_demand``, or the customers' demand of the last close
        with ``demand: customer``; once per period: a second look in the same period, as with
        continuous review, replaces it) and return the mean over the window."""
        demand = obs.last_demand
        if self.demand == "customer" and self.customer_demand is not None:
            demand = self.customer_demand
        seen = self._seen.get(obs.node)
        if seen is None:
            seen = self._seen[obs.node] = deque(maxlen=self.window)
        if seen and self._seen_period[obs.node] == obs.period:
            seen[-1] = demand
        else:
            seen.append(demand)
            self._seen_period[obs.node] = obs.period
        return sum(seen) / len(seen)

    def level(self, obs: Observation) -> float:
        level = self._param("multiple", obs.node) * self.recent_demand(obs)
        return math.floor(level + 0.5) if self.integer else level

    def quantity(self, obs: Observation) -> float:
        level = self.level(obs)
        if self.position == "echelon":
            return max(0.0, level - obs.echelon_inventory_position)
        return max(0.0, level - obs.inventory_position)


class DaysOfCoverPolicy(_Rule):
    """Order a multiple {0, 0.5, 1, 1.5} of the moving-average forecast, chosen by days of cover.

    Days of cover = inventory position / forecast. Below ``low_cover`` order 1.5 x forecast, below
    ``target_cover`` 1 x, below ``high_cover`` 0.5 x, otherwise nothing. This is the project's
    reading of the rule-based warehouse and supplier of the HMARL system (shared/seeds/000, 002),
    whose discrete actions are these four multiples; registered as ``hmarl_warehouse`` and
    ``hmarl_supplier`` with different default thresholds.
    """

    multiples = (1.5, 1.0, 0.5, 0.0)

    def __init__(
        self,
        *,
        low_cover: float = 3.0,
        target_cover: float = 7.0,
        high_cover: float = 14.0,
        max_order: float | Mapping[str, float] | None = None,
    ) -> None:
        for name, v in (
            ("low_cover", low_cover),
            ("target_cover", target_cover),
            ("high_cover", high_cover),
        ):
            _number(v, name)
        if not low_cover <= target_cover <= high_cover:
            raise ValueError(
                f"needs low_cover <= target_cover <= high_cover, got {low_cover}, "
                f"{target_cover}, {high_cover}"
            )
        self.thresholds = (float(low_cover), float(target_cover), float(high_cover))
        self.max_order = _max_order(max_order)

    def multiple(self, obs: Observation) -> float:
        if obs.forecast <= 0:
            return 0.0
        cover = obs.inventory_position / obs.forecast
        for threshold, m in zip(self.thresholds, self.multiples, strict=False):
            if cover < threshold - POSITION_NOISE:
                return m
        return 0.0

    def quantity(self, obs: Observation) -> float:
        return self.multiple(obs) * obs.forecast


class HmarlSupplierPolicy(DaysOfCoverPolicy):
    """:class:`DaysOfCoverPolicy` with the longer cover targets of an upstream supplier."""

    def __init__(
        self,
        *,
        low_cover: float = 5.0,
        target_cover: float = 10.0,
        high_cover: float = 20.0,
        max_order: float | Mapping[str, float] | None = None,
    ) -> None:
        super().__init__(
            low_cover=low_cover,
            target_cover=target_cover,
            high_cover=high_cover,
            max_order=max_order,
        )
