"""What the twin accepts beyond the schema: sizes, magnitudes and names, each limit with its reason.

The schema (:mod:`twin.scenario.schema`) says what a value may be; these limits say how big it may
be for the twin to answer in reasonable time and memory, with sums it can trust. A scenario past a
limit is refused by :mod:`twin.scenario.load` in well under a second, with the YAML path, the
value and the limit, before anything is built:

``MAX_FILE_BYTES`` (2 MiB)
    Parsing took about 3 s per MB of a long inline list on the development machine, even with
    libyaml (PyYAML makes a Python object of every scalar; a file of 4 MiB took 11 s and 800 MB
    to refuse, a 40 MB one grew past 5 GB); the largest shipped scenario (``retail_1000``, 1,023
    nodes) is 0.26 MB. Long series belong in ``demand_series`` files, not inline lists.
``MAX_VALUES`` (1,000,000) and ``MAX_LIST_LENGTH`` (100,000)
    Scalars in the document counted through YAML aliases (an alias "bomb" of a few lines expands
    to billions), and items in one list (a long inline demand or pipeline list).
``MAX_PERIODS`` (100,000) and ``MAX_REPLICATIONS`` (100,000)
    Draws are made up front for the whole horizon and every period is audited; a horizon of
    10^12 periods cannot even be allocated, and 10^9 replications never end.
``MAX_STOCK_POINT_PERIODS`` (750,000: stock points x periods) and ``MAX_LANE_PERIODS`` (the same)
    One replication's ledger holds a row per stock point and period, about 2 KB each by the time
    ``twin.run`` has written it (measured on the 1,023-node retail network: a year, 373,395 rows,
    peaks at 0.96 GB; 1,000 periods, 1,023,000 rows, at 2.37 GB), so 750,000 rows keep one
    replication within 2 GB. ``twin.run`` keeps every replication's ledger, so its memory grows
    with ``replications``; studies keep KPIs only.
``MAX_LEAD_TIME`` (1,000 periods; at most the horizon, or 100 periods for shorter runs)
    An observation lists the pipeline period by period, so each decision costs time and memory in
    proportion to the longest lead time (a lead time of 10^9 asked for 8 GB per observation); a
    lead time far beyond the horizon delivers nothing within the run (short smoke runs may still
    use the scenario's lead times). Unbounded laws are bounded by ``mean + 10 sd``. The same holds
    for order processing and production lead times.
``MAX_COST`` (10^9 per unit, per order or per unit and period; unit sale prices and reward
weights alike)
    Costs multiply quantities in every period and are summed over nodes and periods: 10^308 makes
    an infinite total (and a false reconciliation error), and anything near 10^9 per unit already
    swamps every other component. A price multiplies units sold the same way (revenue).
``MAX_QUANTITY`` (10^10 units)
    Stock, demand, capacities, levels and every other number: the ledger's identities are checked
    on sums over periods and nodes, exact in floating point only while they stay below 2^53 (about
    9 x 10^15); 10^10 per value over at most 750,000 stock-point periods keeps them there (a
    demand of 10^17 in a file lost units to rounding and failed the audit).
``MAX_CUSTOMERS`` (5,000,000 expected individual customers per replication)
    Each customer arriving within a period is one event; more would run for hours.

A scenario ``name`` becomes part of file names (``runs/<name>-<timestamp>``), so it must be a plain
file-name piece: letters, digits, ``.``, ``_``, ``-``, starting with a letter or digit.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from entities.distributions import Distribution
from twin.scenario.errors import PathError, short
from twin.scenario.schema import Scenario
from twin.scenario.series import SeriesError, load_series
from twin.scenario.skus import stock_view

MAX_FILE_BYTES = 2 * 2**20
MAX_VALUES = 1_000_000
MAX_LIST_LENGTH = 100_000
MAX_PERIODS = 100_000
MAX_REPLICATIONS = 100_000
MAX_STOCK_POINT_PERIODS = 750_000
MAX_LANE_PERIODS = 750_000
MAX_LEAD_TIME = 1_000
SHORT_HORIZON = 100
MAX_COST = 1e9
MAX_QUANTITY = 1e10
MAX_CUSTOMERS = 5_000_000
NAME_PATTERN = re.compile(r"[^\W_][\w.-]{0,99}")
"""A scenario name: a letter or digit, then up to 99 letters, digits, '.', '_' or '-'."""

_EXEMPT = frozenset({"seed", "init_seed"})
"""Keys whose numbers are identifiers, not magnitudes (any size is fine)."""


def check_file_size(path: Path) -> None:
    """Refuse a file above ``MAX_FILE_BYTES`` before reading it (PathError at the top level)."""
    size = os.path.getsize(path)
    if size > MAX_FILE_BYTES:
        raise PathError(
            "file size",
            f"{size / 2**20:.1f} MiB is above the limit of {MAX_FILE_BYTES // 2**20} MiB for a "
            "scenario file; put long series in demand_series files (CSV or Parquet)",
        )


def check_document(data: Any) -> None:
    """Count scalars through aliases (stopping at the limit) and check list lengths."""
    seen = 0
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            items: Any = value.items()
            stack.extend((f"{path}.{k}" if path else str(k), v) for k, v in items)
        elif isinstance(value, list):
            if len(value) > MAX_LIST_LENGTH:
                raise PathError(
                    path or "(top level)",
                    f"a list of {len(value):,} items is above the limit of {MAX_LIST_LENGTH:,} "
                    "(put long series in demand_series files)",
                )
            stack.extend((f"{path}[{i}]", v) for i, v in enumerate(value))
        seen += 1
        if seen > MAX_VALUES:
            raise PathError(
                "(document)",
                f"more than {MAX_VALUES:,} values (counting YAML aliases as often as they are "
                "used); the twin reads smaller scenarios",
            )


def check_counts(data: Any) -> None:
    """Periods and replications, from the raw data (before anything sized by them is made)."""
    if not isinstance(data, dict):
        return
    for key, limit in (("periods", MAX_PERIODS), ("replications", MAX_REPLICATIONS)):
        value = data.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and value > limit:
            raise PathError(key, f"{value:,} is above the limit of {limit:,}")


def check_scenario(scenario: Scenario) -> None:
    """Every limit on a validated scenario (see the module docstring)."""
    _check_name(scenario.name)
    for path, key, value in _numbers(scenario.to_yaml_dict()):
        if key in _EXEMPT:
            continue
        if key == "price":
            _at_most(path, value, MAX_COST, "for a price")
        elif "cost" in key or path.startswith("reward.weights"):
            _at_most(path, value, MAX_COST, "for a cost")
        else:
            _at_most(path, value, MAX_QUANTITY, "for a quantity")
    view = stock_view(scenario)
    periods = scenario.periods
    for count, what, limit in (
        (len(view.nodes), "stock points", MAX_STOCK_POINT_PERIODS),
        (len(view.lanes), "lanes", MAX_LANE_PERIODS),
    ):
        if count * periods > limit:
            raise PathError(
                "periods",
                f"{count:,} {what} x {periods:,} periods = {count * periods:,} ledger entries per "
                f"replication, above the limit of {limit:,} (about 2 GB); shorten the horizon or "
                "split the network",
            )
    horizon = min(max(periods, SHORT_HORIZON), MAX_LEAD_TIME)
    for i, lane in enumerate(scenario.lanes):
        _lead_time(f"lanes[{i}].lead_time", lane.lead_time, horizon, periods)
        if lane.order_processing is not None:
            _lead_time(f"lanes[{i}].order_processing", lane.order_processing, horizon, periods)
    index = {n.id: i for i, n in enumerate(scenario.nodes)}
    customers = 0.0
    for node in view.nodes:
        location, sku = view.stock_point(node.id)
        where = f"nodes[{index[location]}]" + (f" ({sku})" if scenario.skus else "")
        _lead_time(f"{where}.production_lead_time", node.production_lead_time, horizon, periods)
        if node.demand is not None:
            _bounded(f"{where}.demand", node.demand)
        if node.customers is not None:
            _bounded(f"{where}.customers.size", node.customers.size)
            customers += node.customers.rate * periods
    for i, n in enumerate(scenario.nodes):
        if n.demand_series is not None:
            _series(f"nodes[{i}]", n.demand_series, n.id, scenario.periods)
    if customers > MAX_CUSTOMERS:
        raise PathError(
            "nodes",
            f"customers.rate x periods gives {customers:,.0f} individual customers per "
            f"replication, above the limit of {MAX_CUSTOMERS:,} (each is an event); use "
            "aggregate demand per period instead",
        )


def _check_name(name: str) -> None:
    if not NAME_PATTERN.fullmatch(name):
        raise PathError(
            "name",
            f"{short(name)} is not a plain file-name piece (it names the run folders): use "
            "letters, digits, '.', '_' and '-', starting with a letter or digit, at most 100",
        )


def _numbers(data: Any, path: str = "", key: str = "") -> Iterator[tuple[str, str, float]]:
    """(YAML path, innermost key, value) of every number in ``data``."""
    if isinstance(data, bool):
        return
    if isinstance(data, int | float):
        yield path, key, data
    elif isinstance(data, dict):
        for k, v in data.items():
            yield from _numbers(v, f"{path}.{k}" if path else str(k), str(k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from _numbers(v, f"{path}[{i}]", key)


def _at_most(path: str, value: float, limit: float, what: str) -> None:
    if not math.isfinite(value) or abs(value) > limit:
        raise PathError(path, f"{value:g} is above the limit of {limit:g} {what}")


def _bound(dist: Distribution, path: str) -> float:
    """The largest value a draw can plausibly take: the law's maximum, or mean + 10 sd. The mean
    is computed either way: a law that cannot be drawn (a Merton path whose mean never falls
    below its maximum) says so here, not in the middle of a run."""
    try:
        mean = dist.mean
    except ValueError as exc:
        raise PathError(path, str(exc)) from None
    top = dist.upper
    if math.isfinite(top):
        return top
    return mean + 10 * math.sqrt(max(dist.variance, 0.0))


def _bounded(path: str, dist: Distribution) -> None:
    top = _bound(dist, path)
    if not math.isfinite(top) or top > MAX_QUANTITY:
        raise PathError(
            path, f"{short(dist)} draws values up to about {top:g}, above the limit of {MAX_QUANTITY:g}"
        )


def _lead_time(path: str, dist: Distribution, horizon: int, periods: int) -> None:
    top = _bound(dist, path)
    if not math.isfinite(top) or top > horizon:
        reason = (
            f"the horizon ({periods:,} periods, or {SHORT_HORIZON} for shorter runs): nothing "
            "would arrive within the run"
            if horizon < MAX_LEAD_TIME
            else f"the limit of {MAX_LEAD_TIME:,} periods (observations list the pipeline period "
            "by period)"
        )
        raise PathError(path, f"{short(dist)} reaches about {top:g} periods, beyond {reason}")


def _series(where: str, series: Any, node: str, periods: int) -> None:
    files = [series.file] if series.file is not None else list(series.files or [])
    for j, name in enumerate(files):
        key = f"{where}.demand_series." + ("file" if series.file is not None else f"files[{j}]")
        try:
            values = load_series(name, series.column or node, periods)
        except SeriesError as exc:  # already checked by validation; kept for a clear message
            raise PathError(key, str(exc)) from None
        top = float(values.max()) if len(values) else 0.0
        if top > MAX_QUANTITY:
            row = int(values.argmax())
            raise PathError(
                key,
                f"{name}: demand {top:g} at period {row} is above the limit of {MAX_QUANTITY:g} "
                "for a quantity",
            )
