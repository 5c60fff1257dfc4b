"""Calibration: demand and lead-time laws fitted to a store's history, written as scenario sections.

:func:`calibrate` fits every node's demand (``demand_history``) and every lane's lead times
(``receipt_history``, one observation per lane and period of dispatch: all units sent on a lane in a
period travel together) with :mod:`twin.live.fit`. The result gives

* :meth:`Calibration.sections`: the ``nodes`` (``demand``, ``demand_effects``) and ``lanes``
  (``lead_time``) entries with the fitted parameters, to paste into a scenario;
* :func:`calibrated_data`: a whole scenario, the given one with the fitted sections merged in
  (a node's fitted trend and season replace its own; its shocks and goodwill stay; ``customers``
  and ``demand_series`` give way to the fitted aggregate demand);
* :meth:`Calibration.report`: goodness-of-fit figures per node and lane.

Demand effects are dated from the calendar's origin (the scenario's period 0), as the twin reads
them; a run from a later as-of date shifts them (:func:`twin.scenario.state.scenario_at`).
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from entities.errors import DataError
from twin.live.fit import WEEK_DAYS, DemandFit, LeadTimeFit, fit_demand, fit_lead_time, stable_seed
from twin.live.history import History
from twin.scenario.edit import edit_data
from twin.scenario.errors import suggest
from twin.scenario.overrides import Override, setting
from twin.scenario.state import DEFAULT_SKU


@dataclass
class Calibration:
    """Fitted laws per ``(node, sku)`` and per lane ``(origin, destination)``."""

    history: History
    demand: dict[tuple[str, str], DemandFit] = field(default_factory=dict)
    lead_times: dict[tuple[str, str], LeadTimeFit] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    """Nodes and lanes of the history not in the scenario (with :func:`calibrated_data`)."""

    def sections(self) -> dict[str, Any]:
        """``nodes`` and ``lanes`` entries with the fitted parameters (scenario YAML data)."""
        nodes: dict[str, dict[str, Any]] = {}
        for (node, sku), f in sorted(self.demand.items()):
            entry = {"demand": f.demand, "demand_effects": f.effects}
            if sku == DEFAULT_SKU:
                nodes.setdefault(node, {"id": node}).update(entry)
            else:
                nodes.setdefault(node, {"id": node}).setdefault("per_sku", {})[sku] = entry
        lanes = [
            {"from": origin, "to": destination, "lead_time": f.lead_time}
            for (origin, destination), f in sorted(self.lead_times.items())
        ]
        return {"nodes": list(nodes.values()), "lanes": lanes}

    def report(self) -> dict[str, Any]:
        h = self.history
        return {
            "history": {
                "source": h.source,
                "from": h.date(h.first).isoformat(),
                "to": h.date(h.last).isoformat(),
                "periods": h.periods,
                "period_days": h.calendar.period_days,
                "calendar_origin": h.calendar.origin.isoformat(),
            },
            "nodes": {
                (node if sku == DEFAULT_SKU else f"{node}/{sku}"): f.report()
                for (node, sku), f in sorted(self.demand.items())
            },
            "lanes": {f"{o}->{d}": f.report() for (o, d), f in sorted(self.lead_times.items())},
            "skipped": self.skipped,
        }


def lead_time_samples(history: History) -> dict[tuple[str, str], np.ndarray]:
    """Lead times (periods) per lane ``(origin, destination)``: one per period of dispatch, SKUs
    pooled (they travel together); shipments of one lane and period that disagree each count."""
    seen: dict[tuple[str, str], dict[int, set[int]]] = defaultdict(lambda: defaultdict(set))
    for r in history.receipts:
        seen[(r.origin, r.destination)][r.shipped].add(r.lead_time)
    return {
        lane: np.asarray(sorted(x for times in by_period.values() for x in times), dtype=float)
        for lane, by_period in seen.items()
    }


def calibrate(
    history: History,
    *,
    lead_times: str = "fitted",
    nodes: Mapping[str, Any] | None = None,
    lanes: Mapping[str, Any] | None = None,
) -> Calibration:
    """Fit every node's demand and every lane's lead times in ``history``.

    ``lead_times``: ``fitted`` (by BIC among the shipped families, ``empirical`` included) or
    ``empirical``. ``nodes`` and ``lanes`` (ids -> anything) restrict the fit to a scenario's
    nodes and lanes; the others are listed in :attr:`Calibration.skipped`.
    """
    if lead_times not in ("fitted", "empirical"):
        raise DataError(f"--lead-times {lead_times!r}: choose fitted or empirical")
    period_days = history.calendar.period_days
    season = WEEK_DAYS / period_days if WEEK_DAYS / period_days >= 2 else None
    out = Calibration(history)
    t = history.t
    for (node, sku), y in sorted(history.demand.items()):
        if nodes is not None and node not in nodes:
            out.skipped.append(f"node {node!r}{suggest(node, list(nodes))}")
            continue
        try:
            out.demand[(node, sku)] = fit_demand(y, t, season_period=season, seed=stable_seed(node))
        except ValueError as exc:
            raise DataError(f"{history.source}: demand_history of node {node!r}: {exc}") from None
    for lane, x in sorted(lead_time_samples(history).items()):
        name = f"{lane[0]}->{lane[1]}"
        if lanes is not None and name not in lanes:
            out.skipped.append(f"lane {name!r}{suggest(name, list(lanes))}")
            continue
        out.lead_times[lane] = fit_lead_time(x, mode=lead_times)
    return out


def calibrated_data(base: Mapping[str, Any], calibration: Calibration, *, source: str) -> dict[str, Any]:
    """Scenario data ``base`` (as parsed from ``source``) with the fitted sections merged in,
    through the one editor (:func:`twin.scenario.edit.edit_data`; not validated)."""
    nodes = {n.get("id"): n for n in base.get("nodes") or [] if isinstance(n, dict)}
    changes: list[Override] = []
    per_sku: dict[str, dict[str, Any]] = {}
    for (node, sku), f in sorted(calibration.demand.items()):
        written = nodes[node]
        if sku != DEFAULT_SKU:
            entries = per_sku.setdefault(node, copy.deepcopy(written.get("per_sku") or {}))
            entries[sku] = _fitted(entries.get(sku) or {}, f)
            continue
        fitted = _fitted(written, f)
        for key in ("demand", "demand_effects", "customers", "demand_series"):
            if fitted.get(key) != written.get(key):
                changes.append(setting(f"nodes[{node}].{key}", fitted.get(key)))
    for node, entries in per_sku.items():
        changes.append(setting(f"nodes[{node}].per_sku", entries))
    for (origin, destination), lt in sorted(calibration.lead_times.items()):
        changes.append(setting(f"lanes[{origin}->{destination}].lead_time", lt.lead_time))
    data, _ = edit_data(base, changes, source=source)
    return data


def _fitted(fields: Mapping[str, Any], fit: DemandFit) -> dict[str, Any]:
    """A node's (or stock point's) fields with the fitted demand: its trend and season replaced,
    its shocks and goodwill kept, ``customers`` and ``demand_series`` given way to the aggregate."""
    out = {k: v for k, v in fields.items() if k not in ("customers", "demand_series")}
    out["demand"] = fit.demand
    effects = {
        k: v
        for k, v in (fields.get("demand_effects") or {}).items()
        if k not in ("trend", "seasonality")
    }
    effects.update(fit.effects or {})
    out["demand_effects"] = effects or None
    return out


def summary_lines(calibration: Calibration) -> list[str]:
    """A short table of the fits, for the terminal."""
    lines = [f"{'node':<16} {'family':<18} {'mean':>9}  {'effects':<14} {'KS p':>6}"]
    for (node, sku), f in sorted(calibration.demand.items()):
        name = node if sku == DEFAULT_SKU else f"{node}/{sku}"
        effects = "+".join(f.mean_model.effects) or "-"
        lines.append(
            f"{name:<16} {f.fit.family:<18} {f.fit.distribution.mean:>9.3f}  {effects:<14} "
            f"{f.ks_p_value:>6.3f}"
        )
    lines.append("")
    lines.append(f"{'lane':<24} {'family':<18} {'mean':>6} {'n':>5} {'chi2 p':>7}")
    for (o, d), lt in sorted(calibration.lead_times.items()):
        lines.append(
            f"{o + '->' + d:<24} {lt.fit.family:<18} {lt.fit.distribution.mean:>6.3f} "
            f"{lt.observations:>5} {lt.chi2_p_value:>7.3f}"
        )
    return lines
