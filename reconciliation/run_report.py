"""The figures of a run and its self-contained ``report.html``.

Figures (SVG drawn by :mod:`reconciliation.svg`, each a file of the run folder and inline in the
report, :data:`FIGURE_FILES`):

* ``network.svg``: the network as a graph, locations in columns by level, lanes as arrows with
  their mean flow per period, sales to customers (:mod:`reconciliation.network_graph`);
* ``cost_breakdown.svg``: cost per period of each tier stacked by component (mean over
  replications after warm-up, whisker ± one standard error of the tier's total);
* ``bullwhip.svg``: the bullwhip ratio of each echelon that orders (± one standard error; 1 is no
  amplification, the dashed line);
* ``inventory.svg``: closing on-hand stock (per SKU) and backorders of each node in replication
  0, at most :data:`MAX_PANELS` nodes, those with the highest cost (:func:`top_nodes`);
* ``orders_vs_demand.svg``: orders placed per period by each echelon against customer demand,
  replication 0.

``report.html`` holds the run's facts, the network's KPIs, cost and service per tier and per node
(at most :data:`MAX_TABLE_NODES` nodes, those with the highest cost), bullwhip per echelon, and
the figures. KPIs are read from :func:`reconciliation.kpis.compute_kpis`' output as they come: a
KPI this module does not know is shown too, after the known ones.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any

import numpy as np

from reconciliation import pages
from reconciliation.kpis import COMPONENTS
from reconciliation.ledger import Ledger
from reconciliation.network_graph import edges_of, network_svg
from reconciliation.svg import PALETTE, Panel, Series, bar_chart, line_panels

FIGURE_FILES: tuple[str, ...] = (
    "network.svg",
    "cost_breakdown.svg",
    "bullwhip.svg",
    "inventory.svg",
    "orders_vs_demand.svg",
)
"""The figures of a run folder, in the order the report shows them."""
REPORT_FILE = "report.html"

MAX_PANELS = 24
"""Per-node plots show at most this many nodes (a 1,000-store network would need 1,000 panels)."""
MAX_TABLE_NODES = 100
"""The report's per-node table shows at most this many nodes (``summary.json`` has them all)."""
COMPONENT_COLORS = ("#1f77b4", "#17becf", "#d62728", "#9467bd", "#2ca02c")
ON_HAND, BACKORDERS, DEMAND, ORDERS = "#1f77b4", "#d62728", "#666666", "#ff7f0e"

KPI_FORMATS: dict[str, tuple[str, str]] = {
    "cost_per_period": ("cost per period", ",.2f"),
    **{f"{c}_per_period": (c.replace("_", " ") + " per period", ",.2f") for c in COMPONENTS},
    "revenue_per_period": ("revenue per period", ",.2f"),
    "profit_per_period": ("profit per period", ",.2f"),
    "fill_rate": ("fill rate", ".3f"),
    "cycle_service_level": ("cycle service level", ".3f"),
    "ready_rate": ("ready rate", ".3f"),
    "average_on_hand": ("average on hand", ",.1f"),
    "average_backorders": ("average backorders", ",.1f"),
    "average_customer_backorders": ("average customer backorders", ",.1f"),
    "inventory_turns": ("inventory turns", ",.2f"),
    "lost_sales_per_period": ("lost sales per period", ",.2f"),
    "lost_in_transit_per_period": ("lost in transit per period", ",.2f"),
    "refused_per_period": ("refused per period", ",.2f"),
    "bullwhip": ("bullwhip", ",.2f"),
    "order_cv": ("order CV", ".3f"),
}
"""Labels and formats of the KPIs, in the order the tables show them."""


def top_nodes(
    nodes: Sequence[str], cost: Sequence[float], limit: int = MAX_PANELS
) -> tuple[list[str], str]:
    """Of ``nodes`` (in ledger order, with their total ``cost``), the ones to plot and a note for
    the title: all of them when there are at most ``limit``; otherwise the ``limit`` with the
    highest cost (the ones worth looking at first; ties keep ledger order), in ledger order."""
    nodes = list(nodes)
    if len(nodes) <= limit:
        return nodes, ""
    order = np.argsort(-np.asarray(cost, dtype=float), kind="stable")[:limit]
    top = {nodes[i] for i in order}
    return [n for n in nodes if n in top], (
        f" (the {limit} of {len(nodes):,} nodes with the highest cost)"
    )


def _locations(ledger: Ledger) -> list[str]:
    return list(dict.fromkeys(ledger.layout.nodes))


def _members(ledger: Ledger) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for i, n in enumerate(ledger.layout.nodes):
        out.setdefault(n, []).append(i)
    return out


def _finite(value: float | None) -> float:
    return float(value) if value is not None and math.isfinite(value) else -math.inf


def _measured(ledger: Ledger, warmup: int) -> int:
    """The first measured period (all periods when the warm-up covers the whole run)."""
    return warmup if warmup < ledger.periods else 0


# --------------------------------------------------------------------------------------------------
# Figures.


def inventory_svg(
    ledger: Ledger,
    *,
    warmup: int,
    replication: int = 0,
    cost: Mapping[str, float | None] | None = None,
) -> str:
    """On-hand stock and backorders at the close of each period, one panel per node (at most
    :data:`MAX_PANELS`: :func:`top_nodes` by ``cost``, each node's cost per period in the KPIs;
    by default its total cost in this ledger); a multi-SKU node shows its on-hand stock per SKU
    and its backorders summed over SKUs."""
    layout = ledger.layout
    locations = _locations(ledger)
    members = _members(ledger)
    node_cost = [0.0] * len(locations)
    if len(locations) > MAX_PANELS and cost is not None:
        node_cost = [_finite(cost.get(n)) for n in locations]
    elif len(locations) > MAX_PANELS:
        total = ledger.column("total_cost").sum(axis=0)
        node_cost = [float(total[members[n]].sum()) for n in locations]
        del total
    nodes, note = top_nodes(locations, node_cost)
    closing = ledger.node_flow("closing_on_hand")
    backorders = ledger.node_flow("backorders")
    skus = list(dict.fromkeys(layout.skus[i] for n in nodes for i in members[n]))
    several = any(len(members[n]) > 1 for n in nodes)
    sku_color = {s: PALETTE[k % len(PALETTE)] for k, s in enumerate(s for s in skus)}
    if several:
        sku_color = {s: c if c != BACKORDERS else PALETTE[-1] for s, c in sku_color.items()}
    panels = []
    for node in nodes:
        rows = members[node]
        if len(rows) > 1:
            series = [
                Series(f"on hand {layout.skus[i]}", closing[:, i], sku_color[layout.skus[i]])
                for i in rows
            ]
        else:
            series = [Series("on hand", closing[:, rows[0]], ON_HAND)]
        series.append(Series("backorders", backorders[:, rows].sum(axis=1), BACKORDERS))
        echelon = min(layout.echelons[i] for i in rows)
        panels.append(Panel(f"{node} ({layout.tiers[rows[0]]}, echelon {echelon})", series))
    legend = [(f"on hand {s}", sku_color[s]) for s in skus] if several else [("on hand", ON_HAND)]
    columns = 1 if len(panels) <= 3 else 2 if len(panels) <= 8 else 3
    return line_panels(
        panels,
        title=f"Closing on-hand stock and backorders per node (replication {replication}){note}",
        periods=ledger.periods,
        warmup=warmup,
        columns=columns,
        panel_width={1: 860, 2: 400, 3: 250}[columns],
        legend=[*legend, ("backorders", BACKORDERS)],
    )


def echelon_orders(ledger: Ledger) -> dict[int, np.ndarray]:
    """Units ordered per period by the nodes of each echelon that has ordering lanes (a lane's
    orders are its destination's), read lane by lane."""
    layout = ledger.layout
    if not layout.lanes:
        return {}
    echelon = np.asarray(layout.echelons)[layout.rates.lane_destination]
    ordered = ledger.by_lane("ordered")
    return {int(e): ordered[echelon == e].sum(axis=0) for e in sorted(set(echelon.tolist()))}


def ordering_echelons(ledgers: Iterable[Ledger]) -> set[int]:
    """The echelons that ever ordered, in any of ``ledgers``."""
    out: set[int] = set()
    for ledger in ledgers:
        out.update(e for e, units in echelon_orders(ledger).items() if (units > 0).any())
    return out


def orders_svg(
    ledger: Ledger,
    *,
    customers: Sequence[str],
    warmup: int,
    kpis: Mapping[str, Any] | None = None,
    replication: int = 0,
    ordering: Iterable[int] | None = None,
) -> str:
    """Orders placed per period by each echelon (summed over its nodes) against customer demand.

    Echelons that never order (``ordering``: the echelons that ever ordered, in any replication;
    by default in this ledger) are left out.
    """
    layout = ledger.layout
    echelons = np.asarray(layout.echelons)
    facing = set(customers)
    customer = [i for i, n in enumerate(layout.nodes) if n in facing]
    demand = ledger.node_flow("demand")[:, customer].sum(axis=1)
    orders = echelon_orders(ledger)
    levels = sorted(set(echelons.tolist()))
    shown_set = (
        {e for e, units in orders.items() if (units > 0).any()} if ordering is None else set(ordering)
    )
    shown = [e for e in levels if e in shown_set] or levels[:1]
    none = np.zeros(ledger.periods)
    panels = []
    for echelon in shown:
        members = echelons == echelon
        tiers = list(dict.fromkeys(t for t, m in zip(layout.tiers, members, strict=True) if m))
        title = f"echelon {int(echelon)} ({', '.join(map(str, tiers))})"
        stat = (kpis or {}).get("network", {}).get("bullwhip", {}).get(str(int(echelon))) or {}
        if stat.get("mean") is not None:
            title += f": bullwhip {stat['mean']:.2f} (mean over replications)"
        panels.append(
            Panel(
                title,
                [
                    Series("customer demand", demand, DEMAND),
                    Series("orders placed", orders.get(int(echelon), none), ORDERS),
                ],
                "units per period",
            )
        )
    return line_panels(
        panels,
        title=f"Orders per echelon vs customer demand (replication {replication})",
        periods=ledger.periods,
        warmup=warmup,
        legend=[("customer demand", DEMAND), ("orders placed", ORDERS)],
    )


def _mean(stat: Any) -> float | None:
    value = stat.get("mean") if isinstance(stat, Mapping) else None
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def _se(stat: Any) -> float | None:
    value = stat.get("se") if isinstance(stat, Mapping) else None
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def cost_svg(kpis: Mapping[str, Any]) -> str:
    """Stacked cost per period by component for each tier (mean over replications, ± one se)."""
    tiers = list(kpis["tiers"])
    stacks = [
        (
            component.replace("_", " "),
            [_mean(kpis["tiers"][t].get(f"{component}_per_period")) or 0.0 for t in tiers],
            color,
        )
        for component, color in zip(COMPONENTS, COMPONENT_COLORS, strict=True)
    ]
    errors = [_se(kpis["tiers"][t].get("cost_per_period")) or 0.0 for t in tiers]
    return bar_chart(
        tiers,
        stacks,
        title=(
            f"Cost per period by component and tier (mean over {kpis['replications']} "
            f"replication(s), periods >= {kpis['warmup_periods']}; whisker ± 1 standard error)"
        ),
        y_label="cost per period",
        errors=errors,
        bar_width=max(40.0, min(90.0, 700.0 / max(len(tiers), 1))),
    )


def _echelon_tiers(kpis: Mapping[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for tier, values in kpis.get("tiers", {}).items():
        out.setdefault(str(values.get("echelon")), []).append(str(tier))
    return out


def bullwhip_svg(kpis: Mapping[str, Any]) -> str:
    """The bullwhip ratio of each echelon that orders, ± one se, against 1."""
    bullwhip = kpis.get("network", {}).get("bullwhip", {})
    names = _echelon_tiers(kpis)
    shown = [(e, s) for e, s in bullwhip.items() if _mean(s) is not None]
    labels = [f"echelon {e} ({', '.join(names.get(e, []))})" for e, _ in shown]
    return bar_chart(
        labels,
        [("bullwhip", [_mean(s) or 0.0 for _, s in shown], PALETTE[0])],
        title="Bullwhip per echelon: Var(orders) / Var(customer demand) (dashed: 1, no amplification)",
        y_label="variance ratio",
        errors=[_se(s) or 0.0 for _, s in shown],
        reference=1.0,
        bar_width=max(50.0, min(110.0, 700.0 / max(len(shown), 1))),
        empty="no echelon ordered (every source makes to order)",
        value_format=".2f",
    )


def network_figure(ledgers: Sequence[Ledger], kpis: Mapping[str, Any], *, warmup: int, name: str) -> str:
    """The network graph (:mod:`reconciliation.network_graph`) of ``ledgers`` (one per replication):
    each lane's units ordered and each location's units sold per period, after warm-up, averaged
    over replications."""
    first = ledgers[0]
    layout = first.layout
    flows = np.zeros(len(layout.lanes))
    sold = np.zeros(layout.size)
    for ledger in ledgers:
        start = _measured(ledger, warmup)
        if layout.lanes:
            flows += ledger.by_lane("ordered", start).mean(axis=1)
        sold += ledger.node_flow("sold", start).mean(axis=0)
    flows /= len(ledgers)
    sold /= len(ledgers)
    locations = _locations(first)
    members = _members(first)
    nodes = kpis.get("nodes", {})
    edges = edges_of(
        layout.stock_points, layout.nodes, layout.lanes, layout.rates.lane_destination, flows
    )
    return network_svg(
        locations=locations,
        tiers={n: layout.tiers[members[n][0]] for n in locations},
        echelons={n: max(layout.echelons[i] for i in members[n]) for n in locations},
        edges=edges,
        cost={n: _mean(nodes.get(n, {}).get("cost_per_period")) for n in locations},
        sold={n: float(sold[members[n]].sum()) for n in locations},
        fill_rate={n: _mean(nodes.get(n, {}).get("fill_rate")) for n in locations},
        title=f"Network of {name}: {len(locations):,} locations, {len(layout.lanes):,} lanes",
    )


def run_figures(
    ledgers: Sequence[Ledger],
    kpis: Mapping[str, Any],
    *,
    customers: Sequence[str],
    warmup: int,
    name: str,
    replication: int = 0,
) -> dict[str, str]:
    """Every figure of a run (file name -> SVG text, in :data:`FIGURE_FILES` order); ``ledgers``
    has one ledger per replication, the first the one whose trajectories are drawn."""
    first = ledgers[0]
    out = {
        "network.svg": network_figure(ledgers, kpis, warmup=warmup, name=name),
        "cost_breakdown.svg": cost_svg(kpis),
        "bullwhip.svg": bullwhip_svg(kpis),
    }
    cost = {n: _mean(v.get("cost_per_period")) for n, v in kpis.get("nodes", {}).items()}
    out["inventory.svg"] = inventory_svg(first, warmup=warmup, replication=replication, cost=cost)
    out["orders_vs_demand.svg"] = orders_svg(
        first,
        customers=customers,
        warmup=warmup,
        kpis=kpis,
        replication=replication,
        ordering=ordering_echelons(ledgers),
    )
    return out


# --------------------------------------------------------------------------------------------------
# The report.


PRICED = ("revenue_per_period", "profit_per_period")
"""Shown only where the network earned revenue (some node has a price and sold), as in the terminal
table."""


def _priced(kpis: Mapping[str, Any]) -> bool:
    return (_mean(kpis.get("network", {}).get("revenue_per_period")) or 0.0) > 0.0


def _stat_keys(groups: Iterable[Mapping[str, Any]], *, priced: bool = True) -> list[str]:
    """KPIs that are a ``{"mean", "se"}`` in any of ``groups``: the known ones in
    :data:`KPI_FORMATS` order, then the others in the order they come (revenue and profit only
    where ``priced``)."""
    seen: dict[str, None] = {}
    for group in groups:
        for key, value in group.items():
            if isinstance(value, Mapping) and "mean" in value and (priced or key not in PRICED):
                seen[key] = None
    return [k for k in KPI_FORMATS if k in seen] + [k for k in seen if k not in KPI_FORMATS]


def _label(key: str) -> str:
    return KPI_FORMATS.get(key, (key.replace("_", " "), ""))[0]


def _value(key: str, value: float | None) -> str:
    if value is None:
        return ""
    spec = KPI_FORMATS.get(key, ("", ""))[1] or (",.2f" if abs(value) >= 100 else ".4g")
    return pages.fmt(value, spec)


def _kpi_cells(group: Mapping[str, Any], keys: Sequence[str]) -> list[str]:
    cells = []
    for key in keys:
        stat = group.get(key)
        cells.append(_value(key, _mean(stat)))
        if key == "cost_per_period":
            se = _se(stat)
            cells.append("" if se is None else "± " + _value(key, se))
    return cells


def _header(keys: Sequence[str]) -> list[str]:
    out = []
    for key in keys:
        out.append(_label(key))
        if key == "cost_per_period":
            out.append("± se")
    return out


def network_table(kpis: Mapping[str, Any]) -> str:
    network = kpis.get("network", {})
    keys = _stat_keys([network], priced=_priced(kpis))
    rows = [[_label(k), _value(k, _mean(network[k])), _value(k, _se(network[k]))] for k in keys]
    return pages.table(["KPI", "mean", "standard error"], rows, [False, True, True])


def tier_table(kpis: Mapping[str, Any]) -> str:
    tiers = kpis.get("tiers", {})
    keys = _stat_keys(tiers.values(), priced=_priced(kpis))
    rows = [
        [tier, values.get("echelon", ""), len(values.get("nodes", [])), *_kpi_cells(values, keys)]
        for tier, values in tiers.items()
    ]
    header = ["tier", "echelon", "nodes", *_header(keys)]
    return pages.table(header, rows, [False, True, True] + [True] * (len(header) - 3))


def node_table(kpis: Mapping[str, Any], limit: int = MAX_TABLE_NODES) -> tuple[str, str]:
    """The per-node table and a note saying which nodes it shows."""
    nodes = kpis.get("nodes", {})
    components = {f"{c}_per_period" for c in COMPONENTS}  # in the tier table
    keys = [k for k in _stat_keys(nodes.values(), priced=_priced(kpis)) if k not in components]
    names = list(nodes)
    cost = [_mean(nodes[n].get("cost_per_period")) or 0.0 for n in names]
    shown, note = top_nodes(names, cost, limit)
    rows = [
        [n, nodes[n].get("tier", ""), nodes[n].get("echelon", ""), *_kpi_cells(nodes[n], keys)]
        for n in shown
    ]
    header = ["node", "tier", "echelon", *_header(keys)]
    table = pages.table(header, rows, [False, False, True] + [True] * (len(header) - 3))
    return table, note.strip(" ()")


def bullwhip_table(kpis: Mapping[str, Any]) -> str:
    """Per echelon: the bullwhip ratio and, where the KPIs have it, the coefficient of variation
    of the echelon's orders (Liu et al.)."""
    names = _echelon_tiers(kpis)
    network = kpis.get("network", {})
    cv = network.get("order_cv", {})
    header = ["echelon", "tiers", "bullwhip (mean)", "standard error"]
    if cv:
        header += ["order CV (mean)", "standard error"]
    rows = []
    for e, stat in network.get("bullwhip", {}).items():
        row = [
            e,
            ", ".join(names.get(e, [])),
            _value("bullwhip", _mean(stat)),
            _value("bullwhip", _se(stat)),
        ]
        if cv:
            row += [_value("order_cv", _mean(cv.get(e))), _value("order_cv", _se(cv.get(e)))]
        rows.append(row)
    return pages.table(header, rows, [True, False] + [True] * (len(header) - 2))


CAPTIONS = {
    "network.svg": "The network: locations in columns by level (goods flow to the right), "
    "lanes with their mean units ordered per period; hover over a box or an arrow for its numbers.",
    "cost_breakdown.svg": "Cost per period of each tier, stacked by component.",
    "bullwhip.svg": "Bullwhip per echelon (Lee, Padmanabhan & Whang 1997): variance of the "
    "echelon's orders over the variance of customer demand.",
    "inventory.svg": "Closing on-hand stock and backorders per node; the warm-up periods are shaded.",
    "orders_vs_demand.svg": "Orders placed per period by each echelon against customer demand.",
}


def render_report(
    title: str, meta: Mapping[str, Any], kpis: Mapping[str, Any], figures: Mapping[str, str]
) -> str:
    """``report.html``: the run's facts, KPI tables and ``figures`` (file name -> SVG) inline."""

    def fig(name: str) -> list[str]:
        return [pages.figure(figures[name], CAPTIONS.get(name, name))] if name in figures else []

    nodes, note = node_table(kpis)
    sections = [
        ("network", "Network", fig("network.svg")),
        (
            "cost",
            "Cost and service",
            [
                "<h3>Network</h3>",
                network_table(kpis),
                *fig("cost_breakdown.svg"),
                "<h3>Per tier</h3>",
                tier_table(kpis),
                "<h3>Per node</h3>",
                f"<p class='note'>{escape(note)}</p>" if note else "",
                nodes,
            ],
        ),
        ("bullwhip", "Bullwhip per echelon", [bullwhip_table(kpis), *fig("bullwhip.svg")]),
        ("inventory", "Inventory", fig("inventory.svg")),
        ("orders", "Orders and demand", fig("orders_vs_demand.svg")),
    ]
    sections = [s for s in sections if s[2]]
    nav = "<nav>" + "".join(f"<a href='#{key}'>{escape(h)}</a>" for key, h, _ in sections)
    body = [pages.meta_list(meta), nav + "</nav>"]
    if not figures:
        body.append("<p class='note'>Written without figures (--no-plots).</p>")
    for key, heading, parts in sections:
        body += [f"<h2 id='{key}'>{escape(heading)}</h2>", *parts]
    return pages.page(title, body)
