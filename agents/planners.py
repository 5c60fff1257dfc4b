"""Planner agents: rolling-horizon lot sizing in the loop.

This module owns the registered planners ``wagner_whitin``, ``silver_meal``, ``ga`` and ``dalsa``
and the ``hybrid`` refiner. The algorithms themselves are the pure functions of
:mod:`heuristics.lot_sizing`, :mod:`heuristics.ga` and :mod:`heuristics.dalsa`; this module turns an
:class:`~agents.base.Observation` into a lot-sizing instance and an instance's plan into an order.

At every epoch ``t`` (after this period's demand) each node of a planner:

1. **forecasts** demand per period, ``f`` (parameter ``forecast``): ``moving_average`` of the
   last ``window`` observed demands (this period's included), ``exponential_smoothing`` with
   smoothing constant ``alpha`` (level ``f <- alpha * d + (1 - alpha) * f``, started at the first
   observed demand), or ``mean``: the known ``demand_mean`` per node (agents do not see the
   scenario, so the known mean is a parameter). All three are level forecasts: the same ``f`` for
   every future period. At an upstream node the "demand" is the orders of its customers.
2. **nets** requirements (MRP netting, Orlicky 1975), see :func:`planning_requirements`. The
   inventory position ``IP = on_hand + on_order - backorders`` already nets scheduled receipts and
   backorders. An order released in planning period ``j`` (epoch ``t + j``) arrives in period
   ``t + j + L`` (``L`` = ``lead_time``), in time for that period's demand, so planning period
   ``j`` is the period of need ``t + L + j``: the cumulative requirement through ``j`` is the
   forecast demand over the ``L + j`` periods ``t + 1 .. t + L + j`` plus ``safety_stock``, minus
   ``IP``; the net requirement of ``j`` is its increase, never negative.
3. **plans** the ``horizon`` periods with the heuristic (setup cost ``K`` = ``setup_cost`` per
   order, holding cost ``h`` = ``holding_cost`` per unit per period, as in
   :mod:`heuristics.lot_sizing`), **releases** the first period's planned order and throws the
   rest of the plan away: next epoch it plans again from the new state (rolling horizon; Baker
   1977, "An experimental study of the effectiveness of rolling schedules in production
   planning", *Decision Sciences* 8: 19-27).

Plan versus actual: every epoch of every node appends a :class:`PlanRecord` to ``agent.plans``
(cleared by ``reset``); :meth:`plan_adherence` compares the quantity planned at ``t`` for ``t + 1``
with what was released at ``t + 1``.

Parameters named "per node" take one value for all of the agent's nodes or a ``{node: value}``
mapping, as in :mod:`agents.rules`. Every bad parameter raises ``ValueError`` naming it and its
value. Per-epoch cost is small: Wagner-Whitin is O(H^2) on ``horizon`` H (default 10).
"""

from __future__ import annotations

import math
import zlib
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from agents.base import Observation, OrderDecision, conform, order, per_node
from agents.rules import _number, _Rule, _values
from entities.messages import LaneId, NodeId
from heuristics.dalsa import PlanningNode, SupplyLane, net_requirements, plan_node
from heuristics.ga import ga_lot_sizing
from heuristics.lot_sizing import silver_meal, wagner_whitin

FORECASTS = ("moving_average", "exponential_smoothing", "mean")
DEFAULT_WINDOW = 7
DEFAULT_ALPHA = 0.2
_TOLERANCE = 1e-6  # quantities closer than this (relative, at least absolute) "agree"


@dataclass(frozen=True, slots=True)
class PlanRecord:
    """One node's plan at one epoch.

    Attributes:
        period: the epoch ``t``.
        node: the node planned for.
        forecast: the per-period demand forecast ``f`` used for the whole horizon.
        requirements: the lot-sizing input, one value per planning period (net requirements; for
            ``hybrid``, the proposal followed by the forecast).
        planned: planned order per planning period ``t, t + 1, ...`` (summed over lanes).
        released: the quantity actually ordered at ``t`` (``planned[0]``).
    """

    period: int
    node: NodeId
    forecast: float
    requirements: tuple[float, ...]
    planned: tuple[float, ...]
    released: float


def planning_requirements(
    forecast: float, inventory_position: float, lead_time: int, horizon: int, safety_stock: float = 0.0
) -> NDArray[np.float64]:
    """Net requirements per planning period ``j = 0 .. horizon - 1`` (module docstring, step 2).

    Gross requirement of period 0 is the lead-time demand ``L * f`` (periods ``t + 1 .. t + L``,
    which only the order released now can still reach), of each later period ``f``; netted
    against the inventory position and kept above ``safety_stock`` by
    :func:`heuristics.dalsa.net_requirements`.

    Example: f = 10, L = 2, IP = 25, four periods: cumulative need 20, 30, 40, 50 against 25, so
    the net requirements are 0, 5, 10, 10.

    >>> planning_requirements(10, 25, 2, 4).tolist()
    [0.0, 5.0, 10.0, 10.0]
    """
    gross = np.full(horizon, float(forecast))
    gross[0] = forecast * lead_time
    return net_requirements(
        gross, max(inventory_position, 0.0), max(-inventory_position, 0.0), (), safety_stock
    )


def _integer(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _integers(value: Any, name: str, minimum: int) -> None:
    """Validate an integer or every entry of a per-node mapping of integers."""
    if isinstance(value, Mapping):
        if not value:
            raise ValueError(f"{name} is an empty mapping")
        for node, v in value.items():
            _integer(v, f"{name}[{node}]", minimum)
    else:
        _integer(value, name, minimum)


def _choice(value: Any, name: str, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return str(value)


class _Forecasting(_Rule):
    """Shared plumbing: forecast parameters and per-node forecast state, plan records, adherence.

    Subclasses implement :meth:`act`; ``_per_node_params`` lists the parameters that may be
    ``{node: value}`` mappings (checked against the agent's nodes by ``validate_nodes``).
    """

    _per_node_params: tuple[str, ...] = ("setup_cost", "holding_cost", "demand_mean")

    def __init__(
        self,
        *,
        setup_cost: Any,
        holding_cost: Any,
        horizon: int,
        forecast: str,
        window: int | None,
        alpha: float | None,
        demand_mean: Any,
    ) -> None:
        _values(setup_cost, "setup_cost")
        _values(holding_cost, "holding_cost")
        self.setup_cost, self.holding_cost = setup_cost, holding_cost
        self.horizon = _integer(horizon, "horizon", 1)
        self.forecast = _choice(forecast, "forecast", FORECASTS)
        for name, value, used_by in (
            ("window", window, "moving_average"),
            ("alpha", alpha, "exponential_smoothing"),
            ("demand_mean", demand_mean, "mean"),
        ):
            if value is not None and self.forecast != used_by:
                raise ValueError(
                    f"{name}={value!r} is only used with forecast={used_by!r}, "
                    f"not forecast={self.forecast!r}"
                )
        self.window = DEFAULT_WINDOW if window is None else _integer(window, "window", 1)
        if alpha is None:
            alpha = DEFAULT_ALPHA
        _number(alpha, "alpha", strict=True)
        if alpha > 1:
            raise ValueError(f"alpha must be in (0, 1], got {alpha!r}")
        self.alpha = float(alpha)
        if self.forecast == "mean" and demand_mean is None:
            raise ValueError("forecast='mean' needs demand_mean (per node), got None")
        if demand_mean is not None:
            _values(demand_mean, "demand_mean")
        self.demand_mean = demand_mean
        self.plans: list[PlanRecord] = []
        self._history: dict[str, deque[float]] = {}
        self._level: dict[str, float] = {}

    def reset(self, *, seed: int | None = None) -> None:
        """Forget demand history and plan records (a new replication)."""
        self.plans = []
        self._history = {}
        self._level = {}

    def _update_forecast(self, obs: Observation) -> float:
        """Fold this period's demand into the node's forecast and return ``f``."""
        node, demand = obs.node, float(obs.last_demand)
        if self.forecast == "mean":
            return self._param("demand_mean", node)
        if self.forecast == "moving_average":
            history = self._history.get(node)
            if history is None:
                history = self._history[node] = deque(maxlen=self.window)
            history.append(demand)
            return sum(history) / len(history)
        level = self._level.get(node)
        level = demand if level is None else self.alpha * demand + (1 - self.alpha) * level
        self._level[node] = level
        return level

    def _record(
        self,
        obs: Observation,
        forecast: float,
        requirements: NDArray[np.float64],
        planned: NDArray[np.float64],
        released: float,
    ) -> None:
        self.plans.append(
            PlanRecord(
                obs.period,
                obs.node,
                float(forecast),
                tuple(float(x) for x in requirements),
                tuple(float(x) for x in planned),
                float(released),
            )
        )

    def plan_adherence(self) -> dict[str, float | int | None]:
        """How well the released orders kept to the previous epoch's plans.

        Over every node and every pair of consecutive epochs ``t, t + 1`` (needs ``horizon >=
        2``): ``compared`` (number of pairs), ``mean_abs_difference`` (mean of ``|quantity
        planned at t for t + 1 - quantity released at t + 1|``), ``agreement`` (share of pairs
        where the two agree within 1e-6, relative), ``timing_agreement`` (share where both or
        neither order). The three statistics are None when nothing could be compared.
        """
        by_node: dict[str, dict[int, PlanRecord]] = {}
        for record in self.plans:
            by_node.setdefault(record.node, {})[record.period] = record
        differences: list[float] = []
        agree = same_timing = 0
        for records in by_node.values():
            for t, record in records.items():
                later = records.get(t + 1)
                if later is None or len(record.planned) < 2:
                    continue
                planned, released = record.planned[1], later.released
                difference = abs(planned - released)
                differences.append(difference)
                agree += difference <= _TOLERANCE * max(1.0, abs(released))
                same_timing += (planned > _TOLERANCE) == (released > _TOLERANCE)
        n = len(differences)
        if n == 0:
            return {
                "compared": 0,
                "mean_abs_difference": None,
                "agreement": None,
                "timing_agreement": None,
            }
        return {
            "compared": n,
            "mean_abs_difference": float(np.mean(differences)),
            "agreement": agree / n,
            "timing_agreement": same_timing / n,
        }


class _Planner(_Forecasting):
    """A rolling-horizon lot-sizing planner (module docstring); subclasses choose the heuristic.

    Args:
        setup_cost: ``K``, cost per order (per node).
        holding_cost: ``h``, cost per unit held per period (per node).
        lead_time: ``L``, periods from ordering to receipt, an integer >= 0 (per node).
        horizon: planning periods ``H`` (>= 1).
        forecast: ``moving_average`` (with ``window``), ``exponential_smoothing`` (with
            ``alpha``) or ``mean`` (with ``demand_mean`` per node).
        safety_stock: projected stock the plan keeps at the end of every period (per node).
    """

    _per_node_params: tuple[str, ...] = (
        "setup_cost",
        "holding_cost",
        "lead_time",
        "safety_stock",
        "demand_mean",
    )

    def __init__(
        self,
        *,
        setup_cost: float | Mapping[str, float],
        holding_cost: float | Mapping[str, float],
        lead_time: int | Mapping[str, int],
        horizon: int = 10,
        forecast: str = "moving_average",
        window: int | None = None,
        alpha: float | None = None,
        demand_mean: float | Mapping[str, float] | None = None,
        safety_stock: float | Mapping[str, float] = 0.0,
    ) -> None:
        super().__init__(
            setup_cost=setup_cost,
            holding_cost=holding_cost,
            horizon=horizon,
            forecast=forecast,
            window=window,
            alpha=alpha,
            demand_mean=demand_mean,
        )
        _integers(lead_time, "lead_time", 0)
        _values(safety_stock, "safety_stock")
        self.lead_time, self.safety_stock = lead_time, safety_stock

    def act(self, observations: Mapping[NodeId, Observation]) -> dict[NodeId, OrderDecision]:
        decisions = {}
        for node, obs in observations.items():
            forecast = self._update_forecast(obs)
            requirements, planned, decision = self._plan(obs, forecast)
            self._record(obs, forecast, requirements, planned, float(planned[0]))
            decisions[node] = decision
        return decisions

    def _plan(
        self, obs: Observation, forecast: float
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], OrderDecision]:
        """Requirements, planned orders over the horizon and the decision released now."""
        node = obs.node
        requirements = planning_requirements(
            forecast,
            obs.inventory_position,
            int(per_node(self.lead_time, node, "lead_time")),
            self.horizon,
            self._param("safety_stock", node),
        )
        if not np.any(requirements > 0):
            planned = np.zeros(self.horizon)
        else:
            planned = self._lot_size(node, requirements)
        return requirements, planned, order(obs, float(planned[0]))

    def _lot_size(self, node: str, requirements: NDArray[np.float64]) -> NDArray[np.float64]:
        raise NotImplementedError


class WagnerWhitinPlanner(_Planner):
    """Rolling-horizon Wagner-Whitin (optimal for the horizon's forecast; Wagner & Whitin 1958)."""

    def _lot_size(self, node: str, requirements: NDArray[np.float64]) -> NDArray[np.float64]:
        return wagner_whitin(
            requirements, self._param("setup_cost", node), self._param("holding_cost", node)
        ).orders


class SilverMealPlanner(_Planner):
    """Rolling-horizon Silver-Meal (lowest cost per period covered; Silver & Meal 1973)."""

    def _lot_size(self, node: str, requirements: NDArray[np.float64]) -> NDArray[np.float64]:
        return silver_meal(
            requirements, self._param("setup_cost", node), self._param("holding_cost", node)
        ).orders


class GAPlanner(_Planner):
    """Rolling-horizon adaptive GA (:func:`heuristics.ga.ga_lot_sizing`).

    Each node draws from its own ``numpy.random.Generator``, seeded at ``reset`` from
    ``(seed, crc32(node))`` (``seed``: the reset seed, or the ``seed`` parameter when reset gets
    None), so decisions do not depend on the order of the observations and the same seed gives
    the same run. ``population_size``, ``generations``, ``patience`` and
    ``seed_with_wagner_whitin`` go to the GA; the defaults are small for per-epoch speed. With
    ``seed_with_wagner_whitin`` (default) the GA never returns a plan worse than Wagner-Whitin's.
    """

    def __init__(
        self,
        *,
        setup_cost: float | Mapping[str, float],
        holding_cost: float | Mapping[str, float],
        lead_time: int | Mapping[str, int],
        horizon: int = 10,
        forecast: str = "moving_average",
        window: int | None = None,
        alpha: float | None = None,
        demand_mean: float | Mapping[str, float] | None = None,
        safety_stock: float | Mapping[str, float] = 0.0,
        population_size: int = 20,
        generations: int = 30,
        patience: int | None = 10,
        seed: int = 0,
        seed_with_wagner_whitin: bool = True,
    ) -> None:
        super().__init__(
            setup_cost=setup_cost,
            holding_cost=holding_cost,
            lead_time=lead_time,
            horizon=horizon,
            forecast=forecast,
            window=window,
            alpha=alpha,
            demand_mean=demand_mean,
            safety_stock=safety_stock,
        )
        self.population_size = _integer(population_size, "population_size", 2)
        self.generations = _integer(generations, "generations", 0)
        self.patience = None if patience is None else _integer(patience, "patience", 1)
        self.seed = _integer(seed, "seed", 0)
        if not isinstance(seed_with_wagner_whitin, bool):
            raise ValueError(
                f"seed_with_wagner_whitin must be true or false, got {seed_with_wagner_whitin!r}"
            )
        self.seed_with_wagner_whitin = seed_with_wagner_whitin
        self._seed = self.seed
        self._rngs: dict[str, np.random.Generator] = {}

    def reset(self, *, seed: int | None = None) -> None:
        super().reset(seed=seed)
        self._seed = self.seed if seed is None else int(seed)
        self._rngs = {}

    def _rng(self, node: str) -> np.random.Generator:
        rng = self._rngs.get(node)
        if rng is None:
            rng = self._rngs[node] = np.random.default_rng([self._seed, zlib.crc32(str(node).encode())])
        return rng

    def _lot_size(self, node: str, requirements: NDArray[np.float64]) -> NDArray[np.float64]:
        return ga_lot_sizing(
            requirements,
            self._param("setup_cost", node),
            self._param("holding_cost", node),
            rng=self._rng(node),
            population_size=self.population_size,
            generations=self.generations,
            patience=self.patience,
            seed_with_wagner_whitin=self.seed_with_wagner_whitin,
        ).orders


_LANE_KEYS = ("lead_time", "setup_cost", "unit_cost", "capacity")


class DalsaPlanner(_Planner):
    """Rolling-horizon DALSA (:func:`heuristics.dalsa.plan_node`) over the node's ordering lanes.

    DALSA plans in periods of need ``k = 0 .. H + L_max - 1`` (period ``k`` is ``t + k``):
    gross requirements ``0`` for ``k = 0`` (this period's demand is already in the inventory
    position) and ``f`` after; the node starts from ``IP`` (on hand ``max(IP, 0)``, backorders
    ``max(-IP, 0)``) with ``safety_stock``. Phase 1 allocates the net requirements across the
    lanes by landed cost and phase 2 lot-sizes each lane Silver-Meal style; the planner releases
    every lane's period-0 release and records the plan's releases summed over lanes for periods
    ``0 .. H - 1``.

    Lanes: each of the node's ordering lanes (``Observation.lanes``) has the node's
    ``lead_time`` and ``setup_cost``, unit cost 0 and no capacity limit, unless ``lanes`` gives
    ``{lane_id: {lead_time, setup_cost, unit_cost, capacity}}`` (any subset) for it, e.g.
    ``lanes: {"W1->S1": {lead_time: 1, setup_cost: 200}, "W2->S1": {lead_time: 3,
    unit_cost: 0.5}}``. ``stockout_cost`` (per node; None: lateness is avoided first) prices
    lateness in phase 1.
    """

    _per_node_params = (
        "setup_cost",
        "holding_cost",
        "lead_time",
        "safety_stock",
        "demand_mean",
        "stockout_cost",
    )

    def __init__(
        self,
        *,
        setup_cost: float | Mapping[str, float],
        holding_cost: float | Mapping[str, float],
        lead_time: int | Mapping[str, int],
        horizon: int = 10,
        forecast: str = "moving_average",
        window: int | None = None,
        alpha: float | None = None,
        demand_mean: float | Mapping[str, float] | None = None,
        safety_stock: float | Mapping[str, float] = 0.0,
        stockout_cost: float | Mapping[str, float] | None = None,
        lanes: Mapping[str, Mapping[str, float]] | None = None,
    ) -> None:
        super().__init__(
            setup_cost=setup_cost,
            holding_cost=holding_cost,
            lead_time=lead_time,
            horizon=horizon,
            forecast=forecast,
            window=window,
            alpha=alpha,
            demand_mean=demand_mean,
            safety_stock=safety_stock,
        )
        if stockout_cost is not None:
            _values(stockout_cost, "stockout_cost")
        self.stockout_cost = stockout_cost
        self.lanes = self._validated_lanes(lanes)

    @staticmethod
    def _validated_lanes(lanes: Any) -> dict[str, dict[str, float]]:
        if lanes is None:
            return {}
        if not isinstance(lanes, Mapping):
            raise ValueError(
                f"lanes must be a mapping lane id -> {{{', '.join(_LANE_KEYS)}}}, got {lanes!r}"
            )
        out: dict[str, dict[str, float]] = {}
        for lane, spec in lanes.items():
            if not isinstance(lane, str) or "->" not in lane:
                raise ValueError(f"lanes: {lane!r} is not a lane id like 'W1->S1'")
            if not isinstance(spec, Mapping):
                raise ValueError(
                    f"lanes[{lane}] must be a mapping with keys among "
                    f"{', '.join(_LANE_KEYS)}, got {spec!r}"
                )
            unknown = sorted(set(spec) - set(_LANE_KEYS))
            if unknown:
                raise ValueError(
                    f"lanes[{lane}] has unknown key(s) {unknown} (known: {', '.join(_LANE_KEYS)})"
                )
            for key, value in spec.items():
                name = f"lanes[{lane}].{key}"
                if key == "lead_time":
                    _integer(value, name, 0)
                elif not (key == "capacity" and value == math.inf):
                    _number(value, name, strict=key == "capacity")
            out[lane] = {k: float(v) for k, v in spec.items()}
        return out

    def validate_nodes(self, nodes: Sequence[str]) -> None:
        super().validate_nodes(nodes)
        for lane in self.lanes:
            destination = lane.rpartition("->")[2]
            if destination not in nodes:
                raise ValueError(
                    f"lanes names {lane!r}, which does not lead to any node this "
                    f"agent decides for ({list(nodes)})"
                )

    def _supply_lane(self, lane: LaneId, node: str) -> SupplyLane:
        spec = self.lanes.get(lane, {})
        lead_time = spec.get("lead_time", per_node(self.lead_time, node, "lead_time"))
        return SupplyLane(
            source=str(lane),
            lead_time=int(lead_time),
            unit_cost=spec.get("unit_cost", 0.0),
            setup_cost=spec.get("setup_cost", self._param("setup_cost", node)),
            capacity=spec.get("capacity", math.inf),
        )

    def _plan(
        self, obs: Observation, forecast: float
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], OrderDecision]:
        node = obs.node
        lanes = tuple(self._supply_lane(lane, node) for lane in obs.lanes)
        periods = self.horizon + max(lane.lead_time for lane in lanes)
        gross = [0.0] + [float(forecast)] * (periods - 1)
        stockout = None if self.stockout_cost is None else self._param("stockout_cost", node)
        ip = obs.inventory_position
        plan = plan_node(
            PlanningNode(
                node,
                gross,
                lanes,
                self._param("holding_cost", node),
                stockout,
                on_hand=max(ip, 0.0),
                backorders=max(-ip, 0.0),
                safety_stock=self._param("safety_stock", node),
            )
        )
        planned = np.zeros(self.horizon)
        for lane_plan in plan.lanes:
            planned += lane_plan.releases[: self.horizon]
        decision = OrderDecision(
            {
                lane: float(lane_plan.releases[0])
                for lane, lane_plan in zip(obs.lanes, plan.lanes, strict=True)
                if lane_plan.releases[0] > 0
            }
        )
        return plan.net_requirements, planned, decision


LOT_SIZERS = {"silver_meal": silver_meal, "wagner_whitin": wagner_whitin}


class HybridPlanner(_Forecasting):
    """Another agent's proposal refined by a short-horizon lot-sizing step.

    What "refine" means, exactly: at epoch ``t`` the ``proposal`` agent (any agent instance: a
    rule, a planner, a PPO policy) is asked first; for each node its proposed quantity ``q``
    (summed over lanes) is taken as the requirement of the current period, and the forecast
    ``f`` as the requirement of each of the next ``horizon - 1`` periods. ``method``
    (``silver_meal``, default, or ``wagner_whitin``) lot-sizes ``[q, f, ..., f]`` with
    ``setup_cost`` K and ``holding_cost`` h, and the period-0 lot is released:

    * ``q = 0``: nothing is ordered (the proposal decides *when* to order);
    * ``q > 0``: the order is ``q + n * f``, where ``n`` (``0 .. horizon - 1``) is the number of
      following periods the lot-sizing method puts in the period-0 lot (it decides *how many
      periods to cover*): with a large K it batches the next periods' demand into this order,
      with K = 0 it returns ``q`` unchanged.

    A multi-lane proposal is scaled by ``(q + n * f) / q`` on every lane. ``validate_nodes``,
    ``reset`` (with the same seed) and ``observe_ledger`` are forwarded to the proposal agent, and
    the hybrid observes when the proposal does (:attr:`agents.base.Agent.observes`). Registered as
    ``hybrid``; in a scenario ``proposal`` is ``{kind: KIND, params: {...}}`` or the text
    ``"KIND[:key=value;...]"`` (see ``agents.registry``).

    Example: constant proposal 10, known mean 10, K = 25, h = 1, horizon 4: Silver-Meal's cost per
    period for a lot covering 1, 2, 3 periods is 25, 17.5, 18.3, so the lot covers 2 periods and
    20 is ordered.
    """

    _per_node_params = ("setup_cost", "holding_cost", "demand_mean")

    def __init__(
        self,
        *,
        proposal: Any,
        setup_cost: float | Mapping[str, float],
        holding_cost: float | Mapping[str, float],
        horizon: int = 4,
        method: str = "silver_meal",
        forecast: str = "moving_average",
        window: int | None = None,
        alpha: float | None = None,
        demand_mean: float | Mapping[str, float] | None = None,
    ) -> None:
        if isinstance(proposal, type) or not all(
            callable(getattr(proposal, m, None)) for m in ("act", "reset")
        ):
            raise ValueError(
                f"proposal must be an agent instance (with act() and reset()), got {proposal!r}"
            )
        proposal = conform(proposal)
        super().__init__(
            setup_cost=setup_cost,
            holding_cost=holding_cost,
            horizon=horizon,
            forecast=forecast,
            window=window,
            alpha=alpha,
            demand_mean=demand_mean,
        )
        self.method = _choice(method, "method", tuple(LOT_SIZERS))
        self.proposal = proposal
        # The proposal decides on the information it was made for (a PPO policy: the epoch's
        # opening, and each period's ledger rows), so the hybrid observes as it does.
        self.observes = proposal.observes
        self.observes_ledger = proposal.observes_ledger

    def validate_nodes(self, nodes: Sequence[str]) -> None:
        super().validate_nodes(nodes)
        self.proposal.validate_nodes(nodes)

    def observe_ledger(self, rows: Sequence[Any]) -> None:
        self.proposal.observe_ledger(rows)

    def reset(self, *, seed: int | None = None) -> None:
        super().reset(seed=seed)
        self.proposal.reset(seed=seed)

    def act(self, observations: Mapping[NodeId, Observation]) -> dict[NodeId, OrderDecision]:
        proposals = self.proposal.act(observations)
        lot_sizer = LOT_SIZERS[self.method]
        decisions = {}
        for node, obs in observations.items():
            forecast = self._update_forecast(obs)
            proposed = self._proposed(node, obs, proposals)
            q = sum(proposed.values())
            requirements = np.full(self.horizon, forecast)
            requirements[0] = q
            if not np.any(requirements > 0):
                planned = np.zeros(self.horizon)
            else:
                planned = lot_sizer(
                    requirements, self._param("setup_cost", node), self._param("holding_cost", node)
                ).orders
            released = float(planned[0])
            scale = released / q if q > 0 else 0.0
            self._record(obs, forecast, requirements, planned, released)
            decisions[node] = OrderDecision({lane: x * scale for lane, x in proposed.items() if x > 0})
        return decisions

    def _proposed(self, node: str, obs: Observation, proposals: Any) -> dict[LaneId, float]:
        """The proposal's quantities per lane for ``node``, checked like the twin checks them."""
        who = type(self.proposal).__name__
        if not isinstance(proposals, Mapping) or node not in proposals:
            raise ValueError(
                f"hybrid: proposal agent {who} gave no decision for node {node!r} at period {obs.period}"
            )
        decision = proposals[node]
        if isinstance(decision, OrderDecision):
            items = dict(decision.quantities)
        else:
            items = {obs.lanes[0]: decision}
        out: dict[LaneId, float] = {}
        for lane, quantity in items.items():
            try:
                q = float(quantity)
            except (TypeError, ValueError):
                q = math.nan
            if lane not in obs.lanes or not (q >= 0 and math.isfinite(q)):
                raise ValueError(
                    f"hybrid: proposal agent {who} proposed {quantity!r} on lane "
                    f"{lane!r} for node {node!r} at period {obs.period}; expected a "
                    f"finite number >= 0 on one of {list(obs.lanes)}"
                )
            out[lane] = q
        return out
