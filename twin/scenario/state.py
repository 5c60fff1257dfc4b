"""A starting state: stock on hand, owed and in transit when a run starts, and the calendar.

A scenario normally starts empty-handed at period 0 (apart from its ``initial_inventory`` and
``initial_pipeline``). A :class:`StartingState` describes a running supply chain instead, at the
start of its as-of date (before that period's receipts and demand), per stock point:

* ``on_hand``: units on the shelves;
* ``customer_orders``: units owed to end customers (backorders), each with the period it was
  ordered in;
* ``open_orders``: units a node ordered on a lane that its upstream node has not shipped yet (the
  upstream node owes them; they are on order at the ordering node);
* ``in_transit``: units shipped on a lane, due in a period ``>= 0`` of the run.

Periods are counted from the as-of date: period ``0`` is the as-of date's period, negative periods
are before it. :class:`Calendar` maps dates to periods: a scenario's period ``t`` is the calendar
period ``origin + t * period_days`` (a day by default), so a run from the as-of date ``D`` starts
``offset = (D - origin) / period_days`` periods into the scenario's calendar.

:func:`check_state` checks a state against a scenario (every node, SKU and lane exists; messages
name the source, the table row and the value); :func:`scenario_at` prepares the scenario for a run
from the state: its own initial stock is replaced by the state's, every calendar-dated input
(demand trend, season and shocks, outage windows) is shifted so that period 0 is the as-of date,
and the random streams are those of the as-of date (:func:`stream_seed`). The engine applies the
state to the built entities (:mod:`twin.engine.state`).
"""

from __future__ import annotations

import copy
import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from entities.errors import DataError
from entities.messages import PRODUCTION, lane_id
from twin.scenario.edit import edit, source_data
from twin.scenario.errors import suggest
from twin.scenario.overrides import Override, setting
from twin.scenario.schema import Scenario
from twin.scenario.skus import stock_view

DEFAULT_SKU = "default"


# --------------------------------------------------------------------------------------------------
# Calendar.


@dataclass(frozen=True)
class Calendar:
    """Calendar dates of periods: period ``t`` starts on ``origin + t * period_days`` days."""

    origin: dt.date
    period_days: int = 1

    def __post_init__(self) -> None:
        if self.period_days < 1:
            raise ValueError(f"period_days must be an integer >= 1, got {self.period_days!r}")

    def period_of(self, day: dt.date) -> int:
        """The period containing ``day`` (negative before the origin)."""
        return (day - self.origin).days // self.period_days

    def date_of(self, period: int) -> dt.date:
        """The first day of ``period``."""
        return self.origin + dt.timedelta(days=period * self.period_days)

    def offset_of(self, as_of: dt.date) -> int:
        """Periods from the origin to ``as_of``, which must start a period."""
        days = (as_of - self.origin).days
        if days % self.period_days:
            raise ValueError(
                f"as-of date {as_of} does not start a period: periods of {self.period_days} "
                f"days start on {self.origin} and every {self.period_days} days after"
            )
        return days // self.period_days


# --------------------------------------------------------------------------------------------------
# The state.


@dataclass(frozen=True, slots=True)
class CustomerOrder:
    """``quantity`` units owed to end customers at ``node`` (ordered in ``period``, < 0)."""

    node: str
    sku: str
    quantity: float
    period: int = -1
    where: str = ""
    """The record it came from, for messages (``customer_orders[row 3]``)."""


@dataclass(frozen=True, slots=True)
class OpenOrder:
    """``quantity`` units ordered on lane ``origin -> destination`` in ``period`` (< 0), not yet
    shipped: owed by ``origin``, on order at ``destination``."""

    origin: str
    destination: str
    sku: str
    quantity: float
    period: int = -1
    where: str = ""


@dataclass(frozen=True, slots=True)
class InTransit:
    """``quantity`` units on lane ``origin -> destination``, due in period ``due`` (>= 0)."""

    origin: str
    destination: str
    sku: str
    quantity: float
    due: int = 0
    where: str = ""


@dataclass(frozen=True)
class StartingState:
    """Stock on hand, owed and in transit at the start of period 0 (see the module docstring)."""

    on_hand: Mapping[tuple[str, str], float] = field(default_factory=dict)
    """``(node, sku) -> units``; stock points not listed hold nothing."""
    customer_orders: tuple[CustomerOrder, ...] = ()
    open_orders: tuple[OpenOrder, ...] = ()
    in_transit: tuple[InTransit, ...] = ()
    as_of: dt.date | None = None
    """The date of period 0 (None: a state without a calendar)."""
    offset: int = 0
    """Periods from the scenario's period 0 (the calendar origin) to the as-of date."""
    source: str = "<state>"
    """Where the state was read from, for messages."""
    where_on_hand: Mapping[tuple[str, str], str] = field(default_factory=dict)
    """``(node, sku) -> record`` the on-hand figure came from, for messages."""

    def totals(self) -> dict[str, float]:
        """Units on hand, owed to customers, on open orders and in transit (for reports)."""
        return {
            "on_hand": float(sum(self.on_hand.values())),
            "customer_backorders": float(sum(c.quantity for c in self.customer_orders)),
            "open_orders": float(sum(o.quantity for o in self.open_orders)),
            "in_transit": float(sum(s.quantity for s in self.in_transit)),
        }

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data (read back by :func:`state_from_dict`)."""
        return {
            "as_of": None if self.as_of is None else self.as_of.isoformat(),
            "offset": self.offset,
            "source": self.source,
            "on_hand": [[n, k, q] for (n, k), q in self.on_hand.items()],
            "customer_orders": [[c.node, c.sku, c.quantity, c.period] for c in self.customer_orders],
            "open_orders": [
                [o.origin, o.destination, o.sku, o.quantity, o.period] for o in self.open_orders
            ],
            "in_transit": [[s.origin, s.destination, s.sku, s.quantity, s.due] for s in self.in_transit],
        }


def state_from_dict(data: Mapping[str, Any]) -> StartingState:
    """The state :meth:`StartingState.to_dict` wrote."""
    try:
        return StartingState(
            on_hand={(str(n), str(k)): float(q) for n, k, q in data["on_hand"]},
            customer_orders=tuple(
                CustomerOrder(str(n), str(k), float(q), int(p)) for n, k, q, p in data["customer_orders"]
            ),
            open_orders=tuple(
                OpenOrder(str(a), str(b), str(k), float(q), int(p))
                for a, b, k, q, p in data["open_orders"]
            ),
            in_transit=tuple(
                InTransit(str(a), str(b), str(k), float(q), int(d))
                for a, b, k, q, d in data["in_transit"]
            ),
            as_of=None if data.get("as_of") is None else dt.date.fromisoformat(data["as_of"]),
            offset=int(data.get("offset", 0)),
            source=str(data.get("source", "<state>")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"not a starting state ({type(exc).__name__}: {exc})") from None


# --------------------------------------------------------------------------------------------------
# Checks against a scenario.


def point_id(scenario: Scenario, node: str, sku: str) -> str:
    """The stock point of ``(node, sku)`` in the scenario's stock-point view: the node id in a
    single-SKU scenario (``sku`` must be ``default``), else ``node/sku``."""
    return f"{node}/{sku}" if scenario.skus else node


def state_lane(scenario: Scenario, origin: str, destination: str, sku: str) -> str:
    """The lane of the stock-point view that carries ``sku`` from ``origin`` to ``destination``
    (``origin`` ``production``: the destination's production line, if an agent orders production
    at that source)."""
    head = PRODUCTION if origin == PRODUCTION else point_id(scenario, origin, sku)
    return lane_id(head, point_id(scenario, destination, sku))


def lane_ends(scenario: Scenario, lane: str) -> tuple[str, str, str]:
    """``(origin, destination, sku)`` of a lane of the stock-point view (``"W1/P->S1/P"``, or a
    production line ``"production->F/P"``), in node ids as the scenario writes them."""
    head, _, tail = lane.partition("->")
    if not scenario.skus:
        return head, tail, DEFAULT_SKU
    view = stock_view(scenario)
    destination, sku = view.stock_point(tail)
    return (head if head == PRODUCTION else view.stock_point(head)[0]), destination, sku


def _production_lines(view: Scenario) -> set[str]:
    """Production lines of the view: one per source whose production an agent decides."""
    decided = {n for i in range(len(view.agents)) for n in view.agent_nodes(i)}
    fed = {ln.destination for ln in view.lanes}
    return {lane_id(PRODUCTION, n.id) for n in view.nodes if n.id not in fed and n.id in decided}


def check_state(scenario: Scenario, state: StartingState) -> None:
    """Raise :class:`DataError` unless every record of ``state`` names a stock point and lane of
    ``scenario`` and holds a finite quantity >= 0 (messages name the record and the value)."""
    view = stock_view(scenario)
    locations = [n.id for n in scenario.nodes]
    known = set(locations)
    skus = [k.id for k in scenario.skus] or [DEFAULT_SKU]
    points = {n.id for n in view.nodes}
    lanes = {ln.id for ln in view.lanes} | _production_lines(view)
    src = state.source

    def fail(where: str, message: str) -> DataError:
        return DataError(f"{src}: {where}: {message}")

    def check_point(node: str, sku: str, where: str, column: str) -> None:
        if node not in known:
            raise fail(f"{where}.{column}", f"{node!r} is not a node{suggest(node, locations)}")
        if sku not in skus:
            raise fail(
                f"{where}.sku",
                f"{sku!r} is not a SKU of the scenario{suggest(sku, skus)} (SKUs: {', '.join(skus)})",
            )
        if point_id(scenario, node, sku) not in points:
            raise fail(f"{where}.sku", f"{node!r} does not stock SKU {sku!r}")

    def check_quantity(quantity: float, where: str, column: str = "quantity") -> None:
        if not (math.isfinite(quantity) and quantity >= 0):
            raise fail(f"{where}.{column}", f"must be a finite number >= 0, got {quantity!r}")

    for (node, sku), quantity in state.on_hand.items():
        where = state.where_on_hand.get((node, sku), f"on_hand[{node}, {sku}]")
        check_point(node, sku, where, "node")
        check_quantity(quantity, where, "on_hand")
    for c in state.customer_orders:
        check_point(c.node, c.sku, c.where or "customer_orders", "node")
        check_quantity(c.quantity, c.where or "customer_orders")
    records: list[OpenOrder | InTransit] = [*state.open_orders, *state.in_transit]
    for rec in records:
        where = rec.where or ("open_orders" if isinstance(rec, OpenOrder) else "shipments")
        if rec.origin != PRODUCTION:
            check_point(rec.origin, rec.sku, where, "origin")
        check_point(rec.destination, rec.sku, where, "destination")
        lane = state_lane(scenario, rec.origin, rec.destination, rec.sku)
        if lane not in lanes:
            into = sorted(
                ln for ln in lanes if ln.endswith(f"->{point_id(scenario, rec.destination, rec.sku)}")
            )
            raise fail(
                where,
                f"no lane {lane!r} in the scenario (lanes into {rec.destination!r}: "
                f"{', '.join(into) or 'none'})",
            )
        check_quantity(rec.quantity, where)
    for s in state.in_transit:
        if s.due < 0:
            raise fail(s.where or "shipments", f"due period {s.due} is before the start")


# --------------------------------------------------------------------------------------------------
# The scenario of a run from a state.


def stream_seed(seed: int, as_of: dt.date | None, offset: int = 0) -> int:
    """The seed of a run from a state as of ``as_of``: the scenario's ``seed`` and the date together
    (``offset`` when there is no date), so runs from different dates draw independently and every
    what-if variant of a run from one date draws the same numbers (common random numbers)."""
    day = as_of.toordinal() if as_of is not None else offset
    return int(np.random.SeedSequence([seed, day]).generate_state(1, np.uint32)[0])


def scenario_at(scenario: Scenario, state: StartingState) -> Scenario:
    """``scenario`` prepared for a run from ``state`` (through the one editor,
    :func:`twin.scenario.edit.edit`, so validated like any edited scenario):

    * every ``initial_inventory`` and lane ``initial_pipeline`` is dropped (the state says what is
      on hand and in transit);
    * calendar-dated inputs are shifted by ``state.offset`` periods: a demand trend ``1 + b t``
      becomes ``c (1 + (b / c) t)`` with ``c = 1 + b offset`` (the factor ``c`` a shock over the
      horizon), a season's phase moves back by ``offset``, and shocks and outage windows that
      ended before the as-of date are dropped, the others moved;
    * the seed becomes :func:`stream_seed` of the scenario's seed and the as-of date.
    """
    data = source_data(scenario)
    periods, offset = scenario.periods, state.offset
    changes: list[Override] = []
    for node in data.get("nodes") or []:
        changes += _node_changes(node, offset, periods)
    for lane in data.get("lanes") or []:
        where = f"lanes[{lane.get('from')}->{lane.get('to')}]"
        if lane.get("initial_pipeline"):
            changes.append(setting(f"{where}.initial_pipeline", []))
        if offset and isinstance(lane.get("outage"), dict):
            changes.append(setting(f"{where}.outage", shift_outage(lane["outage"], offset)))
    changes += _sku_changes(data.get("skus"), offset, periods)
    changes.append(setting("seed", stream_seed(scenario.seed, state.as_of, offset)))
    return edit(scenario, *changes)


def _node_changes(node: dict[str, Any], offset: int, periods: int) -> list[Override]:
    """A node's entry from a state: no initial inventory (nor in its ``per_sku`` entries), and its
    demand effects and outages shifted by ``offset`` periods."""
    where = f"nodes[{node.get('id')}]"
    changes: list[Override] = []
    if node.get("initial_inventory"):
        changes.append(setting(f"{where}.initial_inventory", 0))
    per_sku = node.get("per_sku")
    if isinstance(per_sku, dict) and per_sku:
        entries = {
            sku: {k: v for k, v in entry.items() if k != "initial_inventory"}
            if isinstance(entry, dict)
            else entry
            for sku, entry in per_sku.items()
        }
        if offset:
            _shift_calendar(entries, offset, periods)
        if entries != per_sku:
            changes.append(setting(f"{where}.per_sku", entries))
    if offset:
        for key in ("demand_effects", "outage"):
            if isinstance(node.get(key), dict):
                changes.append(setting(f"{where}.{key}", _shifted(key, node[key], offset, periods)))
    return changes


def _sku_changes(skus: Any, offset: int, periods: int) -> list[Override]:
    """The ``skus`` list from a state: the SKUs' defaults without initial inventory, their
    calendar-dated inputs shifted by ``offset`` periods."""
    if not isinstance(skus, list) or not skus:
        return []
    defaults = copy.deepcopy(skus)
    for sku in defaults:
        if isinstance(sku, dict) and isinstance(sku.get("defaults"), dict):
            sku["defaults"].pop("initial_inventory", None)
            if offset:
                _shift_calendar(sku["defaults"], offset, periods)
    return [setting("skus", defaults)] if defaults != skus else []


def _shifted(key: str, value: dict[str, Any], offset: int, periods: int) -> dict[str, Any] | None:
    return (
        shift_effects(value, offset, periods) if key == "demand_effects" else shift_outage(value, offset)
    )


def _shift_calendar(item: Any, offset: int, periods: int) -> None:
    """Shift every ``demand_effects`` and ``outage`` found in ``item`` (nested) by ``offset``."""
    if isinstance(item, list):
        for x in item:
            _shift_calendar(x, offset, periods)
        return
    if not isinstance(item, dict):
        return
    for key, value in list(item.items()):
        if key == "demand_effects" and isinstance(value, dict):
            item[key] = shift_effects(value, offset, periods)
        elif key == "outage" and isinstance(value, dict):
            shifted = shift_outage(value, offset)
            if shifted is None:
                del item[key]
            else:
                item[key] = shifted
        else:
            _shift_calendar(value, offset, periods)


def _shift_windows(windows: Iterable[Mapping[str, Any]], offset: int, length: str) -> list[dict]:
    out = []
    for w in windows:
        start, span = int(w["start"]), int(w.get(length, 1))
        end = start + span - offset
        if end <= 0:
            continue
        new_start = max(0, start - offset)
        out.append({**w, "start": new_start, length: end - new_start})
    return out


def shift_effects(effects: Mapping[str, Any], offset: int, periods: int) -> dict[str, Any]:
    """Demand effects that give in period ``t`` the multiplier the given ones give in
    ``t + offset`` (trend, season and shocks; goodwill starts afresh at 1)."""
    out = copy.deepcopy(dict(effects))
    shocks = _shift_windows(out.get("shocks") or [], offset, "duration")
    trend = float(out.get("trend") or 0.0)
    if trend:
        level = 1.0 + trend * offset
        out["trend"] = trend / level if level > 0 else 0.0
        shocks.append({"start": 0, "magnitude": max(level, 0.0), "duration": periods})
    season = out.get("seasonality")
    if isinstance(season, dict):
        cycle = float(season["period"])
        season["phase"] = (float(season.get("phase") or 0.0) - offset) % cycle
    out["shocks"] = shocks
    return out


def shift_outage(outage: Mapping[str, Any], offset: int) -> dict[str, Any] | None:
    """Outage windows moved back by ``offset`` (a Markov chain is stationary); None when nothing
    is left."""
    out = copy.deepcopy(dict(outage))
    out["windows"] = _shift_windows(out.get("windows") or [], offset, "duration")
    if not out["windows"] and out.get("markov") is None:
        return None
    return out
