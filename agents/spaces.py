"""Observation builders and action maps of learning agents: small plugins, registered by name.

An **observation builder** turns a node's :class:`~agents.base.Observation` (plus the node's
:class:`NodeHistory`: its recent demand and the ledger rows of closed periods) into a ``float32``
vector inside a declared box. An **action map** turns a policy's action (an integer, a vector of
integers, a real number) into an :class:`~agents.base.OrderDecision`, and declares the action
space. The RL environments (``twin.rl.env``) and the inference agents (``agents.ppo``) use the same
objects, so a trained policy sees at run time exactly what it saw in training.

Spaces are plain data, so that nothing here imports gymnasium and checkpoints can store them::

    {"type": "Box", "low": [0.0, ...], "high": [inf, ...]}
    {"type": "Discrete", "n": 4}
    {"type": "MultiDiscrete", "nvec": [5, 5]}

Shipped builders (``observation_builder(name, **params)``):

* ``default``: on-hand, backorders, on-order, in-transit, inventory position, echelon inventory
  position, last demand, forecast (8 values);
* ``hmarl``: the HMARL store observation (7 values): inventory (on-hand), demand forecast,
  forecast uncertainty (standard deviation of the last ``window`` demands), days of cover
  (inventory position / forecast, clipped to ``[-max_cover, max_cover]``), stockout last period
  (1 if the last closed period's demand was not all filled on time), upstream inventory ratio
  (the upstream nodes' closing on-hand over their initial on-hand, clipped to ``[0, 10]``; 1 for
  a source or before any period has closed) and recent service level (fill rate of the last
  ``window`` closed periods; 1 without demand);
* ``liu``: Liu et al.'s observation: on-hand, backlog, last incoming demand or order, and the
  pipeline by arrival slot, ``pipeline_length`` slots (default: the longest lead time of the
  nodes; what is due later is added to the last slot), all divided by ``scale`` (default 1);
* ``echelon``: on-hand, backorders, inventory position, echelon inventory position, last demand
  seen and the network's customer demand of the last closed period (shared point-of-sale data),
  then (``customer_periods`` k > 0) the customer demand of the k - 1 closed periods before that,
  all divided by ``scale`` (6 + max(0, k - 1) values).

Shipped action maps (``action_map(name, **params)``):

* ``hmarl_multiples``: ``Discrete(4)``, order ``(0, 0.5, 1, 1.5)[a] * forecast`` (``multiples``);
* ``integer``: order ``a`` units, ``Discrete(n + 1)`` (``n`` = 20 by default); a node with several
  ordering lanes orders on each: ``MultiDiscrete([n + 1] * lanes)``, in the node's lane order
  (Liu et al.'s 2x3 network: 0..4 from each of two upstream actors);
* ``order_up_to``: ``Box([low], [high])``, a continuous order-up-to level, clipped to the box;
  the order is ``max(0, level - IP)`` with IP the installation (or ``position: echelon``)
  inventory position, on the primary lane; the level in units, or (``scale: forecast`` or
  ``last_demand``) in periods of the node's demand, or (``scale: customer_demand``) in periods of
  the end customers' demand of the last closed period (point-of-sale data); ``integer: true``
  rounds orders to whole units, ``max_order`` caps them; ``centre`` (a number or one per node)
  makes the action a deviation from a given level (``level = centre + action``), ``multiple``
  a factor on it (``level = multiple x action``).

Plugins: ``register_observation(name, "module:Class")`` / ``register_action(...)``, or the
entry-point groups ``twin.observations`` and ``twin.actions``. A builder or map is a class whose
constructor takes keyword ``params`` and validates them; see :class:`ObservationBuilder` and
:class:`ActionMap` for what it implements.
"""

from __future__ import annotations

import difflib
import importlib
import math
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, ClassVar

import numpy as np

from agents.base import Observation, OrderDecision
from entities.messages import PRODUCTION

__all__ = [
    "ActionMap",
    "Featurizer",
    "NodeHistory",
    "NodeInfo",
    "ObservationBuilder",
    "action_map",
    "available_actions",
    "available_observations",
    "customer_demand",
    "observation_builder",
    "register_action",
    "register_observation",
]

INF = math.inf


# --------------------------------------------------------------------------------------------------
# What builders may look at besides the observation.


@dataclass(frozen=True)
class NodeInfo:
    """What a builder or map may need to know about a node before the run (to size its spaces)."""

    node: str
    tier: str
    lanes: tuple[str, ...]
    """Ordering lanes, in the node's order (the first is the primary lane)."""
    lead_times: tuple[int, ...]
    """An upper bound, in whole periods, on each ordering lane's lead time (0 if unknown)."""


def customer_demand(rows: Iterable[Any]) -> float:
    """The network's customer demand in one closed period (point-of-sale data): the demand at the
    customer-facing stock points (echelon 1), summed in ledger order. ``rows``: a ledger period
    (``reconciliation.ledger.LedgerPeriod``, read from two of its columns without building rows)
    or any rows with the ledger's attribute names."""
    column = getattr(rows, "column", None)
    if column is not None:
        layout = rows.ledger.layout  # type: ignore[attr-defined]
        demand = column("demand")
        return float(sum(float(demand[i]) for i, e in enumerate(layout.echelons) if e == 1))
    return float(sum(r.demand for r in rows if r.echelon == 1))


class NodeHistory:
    """A node's recent past: demand seen in its observations, ledger rows of closed periods.

    ``record_observation`` appends the observation's ``last_demand`` (once per period);
    ``record_rows`` takes the rows of one closed period (of any nodes) and keeps the node's own row
    and the closing on-hand of its upstream nodes (the origins of its ordering lanes). Rows are
    duck-typed: anything with the ledger's attribute names. A closed period of the twin's ledger
    (``reconciliation.ledger.LedgerPeriod``, what ``observe_ledger`` is handed) is read through its
    ``positions(node)``, so only the rows of this node and its upstream nodes are built.
    """

    def __init__(self, node: str, lanes: Sequence[str], window: int = 7) -> None:
        self.node = node
        self.upstream = tuple(
            lane.split("->", 1)[0] for lane in lanes if not lane.startswith(f"{PRODUCTION}->")
        )
        self.demands: deque[float] = deque(maxlen=max(1, window))
        self.rows: deque[Any] = deque(maxlen=max(1, window))
        self.upstream_on_hand: float | None = None
        self.upstream_initial: float | None = None
        self.customer_demand: float | None = None
        """The network's customer demand in the last closed period (point-of-sale data: the
        demand at the customer-facing stock points, echelon 1); None before the first close."""
        self.customer_demands: deque[float] = deque(maxlen=max(1, window))
        """The customer demand of the last ``window`` closed periods, oldest first."""
        self._last_period: int | None = None

    def record_observation(self, observation: Observation) -> None:
        if observation.period != self._last_period:
            self._last_period = observation.period
            self.demands.append(float(observation.last_demand))

    def record_rows(self, rows: Iterable[Any]) -> None:
        column = getattr(rows, "column", None)
        if column is None:
            rows = list(rows)
        self.customer_demand = customer_demand(rows)
        self.customer_demands.append(self.customer_demand)
        positions = getattr(rows, "positions", None)
        if positions is not None:  # a ledger period: just the rows of these nodes, in ledger order
            wanted = sorted(i for n in (self.node, *self.upstream) for i in positions(n))
            rows = [rows[i] for i in wanted]  # type: ignore[index]
        on_hand = opening = 0.0
        seen = False
        for row in rows:
            if row.node == self.node:
                self.rows.append(row)
            elif row.node in self.upstream:
                seen = True
                on_hand += row.closing_on_hand
                opening += row.opening_on_hand
        if seen:
            if self.upstream_initial is None:
                self.upstream_initial = opening
            self.upstream_on_hand = on_hand


# --------------------------------------------------------------------------------------------------
# Observation builders.


class ObservationBuilder:
    """Base class: ``build(observation, history) -> float32 vector`` inside ``space()``.

    Subclasses set ``name``, take their params as keywords (validated), list them in ``params``
    and implement ``size``, ``low``/``high`` and ``build``; ``resolve(nodes)`` returns a builder
    whose node-dependent defaults are filled in (e.g. a pipeline length).
    """

    name: ClassVar[str] = ""
    window: int = 7

    @property
    def params(self) -> dict[str, Any]:
        return {}

    def resolve(self, nodes: Sequence[NodeInfo]) -> ObservationBuilder:
        return self

    def bounds(self) -> tuple[list[float], list[float]]:
        raise NotImplementedError

    def space(self) -> dict[str, Any]:
        low, high = self.bounds()
        return {"type": "Box", "low": low, "high": high}

    def spec(self) -> dict[str, Any]:
        """``{"name": ..., "params": {...}}``: enough to make this builder again."""
        return {"name": self.name, "params": self.params}

    def build(self, observation: Observation, history: NodeHistory) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def _finite(value: Any, name: str, *, positive: bool = False) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float | np.number)
        or not math.isfinite(value)
    ):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if positive and value <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return float(value)


class DefaultObservation(ObservationBuilder):
    """The observation's inventory-theory fields, as they are (8 values)."""

    name = "default"
    FIELDS = (
        "on_hand",
        "backorders",
        "on_order",
        "in_transit",
        "inventory_position",
        "echelon_inventory_position",
        "last_demand",
        "forecast",
    )

    def bounds(self) -> tuple[list[float], list[float]]:
        low = [0.0, 0.0, 0.0, 0.0, -INF, -INF, 0.0, 0.0]
        return low, [INF] * len(low)

    def build(self, observation: Observation, history: NodeHistory) -> np.ndarray:
        return np.array([getattr(observation, f) for f in self.FIELDS], dtype=np.float32)


class HmarlObservation(ObservationBuilder):
    """The HMARL store observation (7 values; see the module docstring)."""

    name = "hmarl"
    MAX_RATIO = 10.0

    def __init__(self, *, window: int = 7, max_cover: float = 100.0) -> None:
        self.window = _positive_int(window, "window")
        self.max_cover = _finite(max_cover, "max_cover", positive=True)

    @property
    def params(self) -> dict[str, Any]:
        return {"window": self.window, "max_cover": self.max_cover}

    def bounds(self) -> tuple[list[float], list[float]]:
        c = self.max_cover
        return ([0.0, 0.0, 0.0, -c, 0.0, 0.0, 0.0], [INF, INF, INF, c, 1.0, self.MAX_RATIO, 1.0])

    def build(self, observation: Observation, history: NodeHistory) -> np.ndarray:
        forecast = max(0.0, observation.forecast)
        demands = history.demands
        uncertainty = float(np.std(demands)) if len(demands) > 1 else 0.0
        ip = observation.inventory_position
        c = self.max_cover
        if forecast > 0.0:
            cover = min(c, max(-c, ip / forecast))
        else:
            cover = c if ip > 0.0 else (-c if ip < 0.0 else 0.0)
        rows = history.rows
        stockout = 0.0
        if rows and rows[-1].filled_on_time < rows[-1].demand - 1e-9:
            stockout = 1.0
        if history.upstream_on_hand is None or not history.upstream:
            ratio = 1.0
        elif history.upstream_initial and history.upstream_initial > 0.0:
            ratio = history.upstream_on_hand / history.upstream_initial
        else:
            ratio = 1.0 if history.upstream_on_hand > 0.0 else 0.0
        ratio = min(self.MAX_RATIO, max(0.0, ratio))
        filled = demand = 0.0
        for row in rows:
            filled += row.filled_on_time
            demand += row.demand
        service = min(1.0, filled / demand) if demand > 0.0 else 1.0
        return np.array(
            [max(0.0, observation.on_hand), forecast, uncertainty, cover, stockout, ratio, service],
            dtype=np.float32,
        )


class LiuObservation(ObservationBuilder):
    """Liu et al.: on-hand, backlog, last incoming demand or order, pipeline by arrival slot."""

    name = "liu"

    def __init__(self, *, pipeline_length: int | None = None, scale: float = 1.0) -> None:
        self.pipeline_length = (
            None if pipeline_length is None else _positive_int(pipeline_length, "pipeline_length")
        )
        self.scale = _finite(scale, "scale", positive=True)

    @property
    def params(self) -> dict[str, Any]:
        return {"pipeline_length": self.pipeline_length, "scale": self.scale}

    def resolve(self, nodes: Sequence[NodeInfo]) -> LiuObservation:
        if self.pipeline_length is not None:
            return self
        longest = max((lt for n in nodes for lt in n.lead_times), default=1)
        return LiuObservation(pipeline_length=max(1, longest), scale=self.scale)

    def _length(self) -> int:
        if self.pipeline_length is None:
            raise ValueError(
                "liu observation: pipeline_length is not set (give it, or resolve "
                "the builder against the nodes)"
            )
        return self.pipeline_length

    def bounds(self) -> tuple[list[float], list[float]]:
        n = 3 + self._length()
        return [0.0] * n, [INF] * n

    def build(self, observation: Observation, history: NodeHistory) -> np.ndarray:
        length = self._length()
        slots = [0.0] * length
        for k, q in enumerate(observation.pipeline):
            slots[min(k, length - 1)] += q
        values = [observation.on_hand, observation.backorders, observation.last_demand, *slots]
        return np.array(values, dtype=np.float32) / np.float32(self.scale)


class EchelonObservation(ObservationBuilder):
    """The echelon view with shared point-of-sale data (6 values): on-hand, backorders, inventory
    position, echelon inventory position, the last demand the node saw (customer demand or the
    orders of the nodes below), and the network's customer demand in the last closed period (at
    every customer-facing node: what a chain that shares point-of-sale data tells each node; its
    own last demand before the first close), all divided by ``scale`` (default 1).
    ``customer_periods`` k > 1 adds the customer demand of the k - 1 closed periods before the
    last, newest first (a period before the first close repeats the oldest value known): a
    short history of the customers' demand, from which a policy can read its trend and spread.

    The echelon inventory position and the end customers' demand are what echelon stock policies
    are written on (Clark & Scarf 1960); an upstream node that sees only the orders of the node
    below sees the customers' demand through their bullwhip."""

    name = "echelon"

    def __init__(self, *, scale: float = 1.0, customer_periods: int = 1) -> None:
        self.scale = _finite(scale, "scale", positive=True)
        self.customer_periods = _positive_int(customer_periods, "customer_periods")
        self.window = max(ObservationBuilder.window, self.customer_periods)

    @property
    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {"scale": self.scale}
        if self.customer_periods != 1:  # the default stays out: older checkpoints' specs match
            out["customer_periods"] = self.customer_periods
        return out

    def bounds(self) -> tuple[list[float], list[float]]:
        n = 6 + self.customer_periods - 1
        return [0.0, 0.0, -INF, -INF, *[0.0] * (n - 4)], [INF] * n

    def build(self, observation: Observation, history: NodeHistory) -> np.ndarray:
        customer = history.customer_demand
        if customer is None:
            customer = observation.last_demand
        values = [
            observation.on_hand,
            observation.backorders,
            observation.inventory_position,
            observation.echelon_inventory_position,
            observation.last_demand,
            customer,
        ]
        if self.customer_periods > 1:
            seen = list(history.customer_demands)[::-1][1 : self.customer_periods]  # newest first
            oldest = seen[-1] if seen else customer
            values += seen + [oldest] * (self.customer_periods - 1 - len(seen))
        return np.array(values, dtype=np.float32) / np.float32(self.scale)


# --------------------------------------------------------------------------------------------------
# Action maps.


class ActionMap:
    """Base class: ``space(lanes)`` declares the action space of a node with those ordering
    lanes; ``decision(action, observation)`` returns the node's :class:`OrderDecision`."""

    name: ClassVar[str] = ""

    @property
    def params(self) -> dict[str, Any]:
        return {}

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "params": self.params}

    def space(self, lanes: Sequence[str]) -> dict[str, Any]:
        raise NotImplementedError

    def decision(
        self, action: Any, observation: Observation, history: NodeHistory | None = None
    ) -> OrderDecision:
        """``history``: the node's :class:`NodeHistory` (the featurizer's), for maps that read
        more than the observation (e.g. the customers' demand of the last closed period)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"


def _index(action: Any, n: int, what: str) -> int:
    """A Discrete action as an int in ``[0, n)``; ValueError naming the value otherwise."""
    value = np.asarray(action)
    if value.size != 1 or value.dtype.kind not in "iuf" or float(value.reshape(-1)[0]) % 1:
        raise ValueError(f"{what}: action must be one integer in [0, {n - 1}], got {action!r}")
    i = int(value.reshape(-1)[0])
    if not 0 <= i < n:
        raise ValueError(f"{what}: action must be one integer in [0, {n - 1}], got {action!r}")
    return i


class HmarlMultiples(ActionMap):
    """``Discrete(len(multiples))``: order ``multiples[a] * forecast`` on the primary lane."""

    name = "hmarl_multiples"

    def __init__(self, *, multiples: Sequence[float] = (0.0, 0.5, 1.0, 1.5)) -> None:
        if isinstance(multiples, str | bytes) or not isinstance(multiples, Sequence) or not multiples:
            raise ValueError(f"multiples must be a non-empty list of numbers, got {multiples!r}")
        values = tuple(_finite(m, "multiples[i]") for m in multiples)
        if min(values) < 0:
            raise ValueError(f"multiples must be >= 0, got {list(values)}")
        self.multiples = values

    @property
    def params(self) -> dict[str, Any]:
        return {"multiples": list(self.multiples)}

    def space(self, lanes: Sequence[str]) -> dict[str, Any]:
        return {"type": "Discrete", "n": len(self.multiples)}

    def decision(
        self, action: Any, observation: Observation, history: NodeHistory | None = None
    ) -> OrderDecision:
        m = self.multiples[_index(action, len(self.multiples), self.name)]
        return OrderDecision({observation.lanes[0]: m * max(0.0, observation.forecast)})


class IntegerOrder(ActionMap):
    """Order ``0..n`` units: ``Discrete(n + 1)``, or ``MultiDiscrete`` over several lanes."""

    name = "integer"

    def __init__(self, *, n: int = 20, per_lane: bool = True) -> None:
        self.n = _positive_int(n, "n")
        if not isinstance(per_lane, bool):
            raise ValueError(f"per_lane must be true or false, got {per_lane!r}")
        self.per_lane = per_lane

    @property
    def params(self) -> dict[str, Any]:
        return {"n": self.n, "per_lane": self.per_lane}

    def space(self, lanes: Sequence[str]) -> dict[str, Any]:
        if self.per_lane and len(lanes) > 1:
            return {"type": "MultiDiscrete", "nvec": [self.n + 1] * len(lanes)}
        return {"type": "Discrete", "n": self.n + 1}

    def decision(
        self, action: Any, observation: Observation, history: NodeHistory | None = None
    ) -> OrderDecision:
        lanes = observation.lanes
        if self.per_lane and len(lanes) > 1:
            values = np.asarray(action).reshape(-1)
            if values.size != len(lanes):
                raise ValueError(
                    f"{self.name}: node {observation.node!r} orders on "
                    f"{len(lanes)} lanes {list(lanes)}, got action {action!r}"
                )
            return OrderDecision(
                {
                    lane: float(_index(v, self.n + 1, self.name))
                    for lane, v in zip(lanes, values, strict=True)
                }
            )
        return OrderDecision({lanes[0]: float(_index(action, self.n + 1, self.name))})


class OrderUpTo(ActionMap):
    """``Box([low], [high])``: an order-up-to level; order ``max(0, level - IP)``.

    ``scale``: the action is the level in units (``units``), or in periods of the node's demand:
    ``forecast`` (level = action x the moving-average forecast: days of cover) or ``last_demand``
    (level = action x the demand last seen), so that one policy fits nodes of any size and follows
    a demand that moves; or in periods of the end customers' demand, ``customer_demand`` (level =
    action x the network's customer demand of the last closed period, the point-of-sale data of
    :class:`NodeHistory`; the node's own last demand before the first close): on the echelon
    position, the action is the multiple of ``adaptive_base_stock`` with ``demand: customer``, now
    a function of the state. ``multiple`` (one number, or ``{node: number}``; default 1)
    multiplies every level: with a rule's tuned multiples there and a box around 1 (e.g. ``low
    0.5, high 1.5``), the action is a factor on the rule's level, so a policy starts near the rule
    and learns where to depart from it (residual policy learning: Silver et al. 2018, Johannink et
    al. 2019).

    ``centre``: the level is ``centre + action`` (before ``scale``), one number or one per node
    (``{store_1: 91, store_2: 130}``): a rule-relative action. The policy's Gaussian head starts at
    the middle of the box, so a box symmetric about 0 (``low=-40,high=40``) starts every node at its
    centre, e.g. a tuned base-stock level, and learning moves it by state-dependent deviations.
    With both, the level is ``(centre + action) x multiple`` (before ``scale``). ``integer``: the
    order is rounded to whole units (halves up); ``max_order``: at most this much is ordered in a
    period.
    """

    name = "order_up_to"
    SCALES = ("units", "forecast", "last_demand", "customer_demand")

    def __init__(
        self,
        *,
        low: float = 0.0,
        high: float = 100.0,
        position: str = "installation",
        scale: str = "units",
        integer: bool = False,
        max_order: float | None = None,
        centre: float | Mapping[str, float] = 0.0,
        multiple: float | Mapping[str, float] | None = None,
    ) -> None:
        self.low = _finite(low, "low")
        self.high = _finite(high, "high")
        if not self.low < self.high:
            raise ValueError(f"needs low < high, got low={low!r}, high={high!r}")
        if position not in ("installation", "echelon"):
            raise ValueError(f"position must be 'installation' or 'echelon', got {position!r}")
        if scale not in self.SCALES:
            raise ValueError(f"scale must be one of {', '.join(self.SCALES)}, got {scale!r}")
        if not isinstance(integer, bool):
            raise ValueError(f"integer must be true or false, got {integer!r}")
        self.max_order = None if max_order is None else _finite(max_order, "max_order")
        if self.max_order is not None and self.max_order < 0:
            raise ValueError(f"max_order must be >= 0, got {max_order!r}")
        self.position, self.scale, self.integer = position, scale, integer
        if isinstance(centre, Mapping):
            if not centre:
                raise ValueError("centre must be a number or a non-empty mapping node: level")
            self.centre: float | dict[str, float] = {
                str(node): _finite(value, f"centre of {node!r}") for node, value in centre.items()
            }
        else:
            self.centre = _finite(centre, "centre")
        if isinstance(multiple, Mapping):
            if not multiple:
                raise ValueError("multiple is an empty mapping")
            self.multiple: float | dict[str, float] | None = {
                str(n): _finite(v, f"multiple[{n}]", positive=True) for n, v in multiple.items()
            }
        else:
            self.multiple = None if multiple is None else _finite(multiple, "multiple", positive=True)

    def centre_of(self, node: str) -> float:
        """The level that action 0 stands for at ``node`` (before ``scale``)."""
        if not isinstance(self.centre, dict):
            return self.centre
        if node not in self.centre:
            raise ValueError(
                f"{self.name}: centre has no level for node {node!r} (given: {', '.join(self.centre)})"
            )
        return self.centre[node]

    def node_multiple(self, node: str) -> float:
        """The node's ``multiple`` (1 without one); ValueError for a node the mapping lacks."""
        if self.multiple is None:
            return 1.0
        if isinstance(self.multiple, dict):
            if node not in self.multiple:
                raise ValueError(
                    f"{self.name}: multiple has no value for node {node!r} (has {sorted(self.multiple)})"
                )
            return self.multiple[node]
        return self.multiple

    @property
    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {"low": self.low, "high": self.high, "position": self.position}
        if self.scale != "units":  # the defaults stay out: older checkpoints' specs still match
            out["scale"] = self.scale
        if self.integer:
            out["integer"] = True
        if self.max_order is not None:
            out["max_order"] = self.max_order
        if self.centre != 0.0:
            out["centre"] = dict(self.centre) if isinstance(self.centre, dict) else self.centre
        if self.multiple is not None:
            out["multiple"] = dict(self.multiple) if isinstance(self.multiple, dict) else self.multiple
        return out

    def space(self, lanes: Sequence[str]) -> dict[str, Any]:
        return {"type": "Box", "low": [self.low], "high": [self.high]}

    def decision(
        self, action: Any, observation: Observation, history: NodeHistory | None = None
    ) -> OrderDecision:
        value = np.asarray(action, dtype=float).reshape(-1)
        if value.size != 1 or not math.isfinite(value[0]):
            raise ValueError(f"{self.name}: action must be one finite number, got {action!r}")
        level = self.centre_of(observation.node) + min(self.high, max(self.low, float(value[0])))
        if self.multiple is not None:
            level *= self.node_multiple(observation.node)
        if self.scale == "forecast":
            level *= max(0.0, observation.forecast)
        elif self.scale == "last_demand":
            level *= max(0.0, observation.last_demand)
        elif self.scale == "customer_demand":
            if history is None:
                raise ValueError(
                    f"{self.name}: scale customer_demand needs the node's history (the customers' "
                    "demand of the last closed period)"
                )
            customer = history.customer_demand
            level *= max(0.0, observation.last_demand if customer is None else customer)
        ip = (
            observation.echelon_inventory_position
            if self.position == "echelon"
            else observation.inventory_position
        )
        order = max(0.0, level - ip)
        if self.integer:
            order = math.floor(order + 0.5)
        if self.max_order is not None:
            order = min(order, self.max_order)
        return OrderDecision({observation.lanes[0]: float(order)})


# --------------------------------------------------------------------------------------------------
# Applying one builder to several nodes.


class Featurizer:
    """One observation builder applied to several nodes, each with its own :class:`NodeHistory`.

    The environment and an inference agent drive it the same way: ``reset()`` at the start of a
    run, ``record_rows(rows)`` after each period close (the period's rows of every node: the
    ledger period the twin hands ``observe_ledger``, or a list of rows), and
    ``featurizer(observation)`` at each decision epoch.
    """

    def __init__(self, builder: ObservationBuilder) -> None:
        self.builder = builder
        self.histories: dict[str, NodeHistory] = {}

    def reset(self) -> None:
        self.histories.clear()

    def history(self, observation: Observation) -> NodeHistory:
        h = self.histories.get(observation.node)
        if h is None:
            h = self.histories[observation.node] = NodeHistory(
                observation.node, observation.lanes, self.builder.window
            )
        return h

    def record_rows(self, rows: Sequence[Any]) -> None:
        for h in self.histories.values():
            h.record_rows(rows)

    def __call__(self, observation: Observation) -> np.ndarray:
        h = self.history(observation)
        h.record_observation(observation)
        return self.builder.build(observation, h)


# --------------------------------------------------------------------------------------------------
# Registries (lazy "module:Class" entry points, as the agent registry).


_OBSERVATIONS: dict[str, str | Callable[..., Any]] = {
    "default": "agents.spaces:DefaultObservation",
    "hmarl": "agents.spaces:HmarlObservation",
    "liu": "agents.spaces:LiuObservation",
    "echelon": "agents.spaces:EchelonObservation",
}
_ACTIONS: dict[str, str | Callable[..., Any]] = {
    "hmarl_multiples": "agents.spaces:HmarlMultiples",
    "integer": "agents.spaces:IntegerOrder",
    "order_up_to": "agents.spaces:OrderUpTo",
}
_GROUPS = {"observation": ("twin.observations", _OBSERVATIONS), "action": ("twin.actions", _ACTIONS)}
_LOADED: set[str] = set()


def _register(what: str, name: str, target: str | Callable[..., Any], override: bool) -> None:
    table = _GROUPS[what][1]
    if isinstance(target, str) and ":" not in target:
        raise ValueError(f"entry point must look like 'module:Class', got {target!r}")
    if name in table and not override and table[name] != target:
        raise ValueError(f"{what} {name!r} is already registered as {table[name]!r}")
    table[name] = target


def register_observation(name: str, target: str | Callable[..., Any], *, override: bool = False) -> None:
    """Register an observation builder class (or ``"module:Class"``) under ``name``."""
    _register("observation", name, target, override)


def register_action(name: str, target: str | Callable[..., Any], *, override: bool = False) -> None:
    """Register an action map class (or ``"module:Class"``) under ``name``."""
    _register("action", name, target, override)


def _table(what: str) -> dict[str, str | Callable[..., Any]]:
    group, table = _GROUPS[what]
    if what not in _LOADED:
        _LOADED.add(what)
        for ep in entry_points(group=group):
            table.setdefault(ep.name, ep.value)
    return table


def available_observations() -> list[str]:
    return sorted(_table("observation"))


def available_actions() -> list[str]:
    return sorted(_table("action"))


def _make(what: str, name: str, params: Mapping[str, Any]) -> Any:
    table = _table(what)
    if name not in table:
        close = difflib.get_close_matches(str(name), list(table), n=2)
        hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise ValueError(f"unknown {what} {name!r}{hint} (known: {', '.join(sorted(table))})")
    target = table[name]
    if isinstance(target, str):
        module, _, attr = target.partition(":")
        target = getattr(importlib.import_module(module), attr)
    try:
        return target(**dict(params))
    except TypeError as exc:
        raise ValueError(f"{what} {name!r}: {exc}") from None
    except ValueError as exc:
        raise ValueError(f"{what} {name!r}: {exc}") from None


def observation_builder(name: str, **params: Any) -> ObservationBuilder:
    """Make the observation builder registered as ``name`` (ValueError on a bad name or param)."""
    return _make("observation", name, params)


def action_map(name: str, **params: Any) -> ActionMap:
    """Make the action map registered as ``name`` (ValueError on a bad name or param)."""
    return _make("action", name, params)
