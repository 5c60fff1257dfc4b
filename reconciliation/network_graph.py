"""The network of a run drawn as a graph: locations in columns by level, lanes as arrows with
their mean flow, sales to customers as arrows out of the customer-facing locations.

A location's level is the length of the longest chain of lanes from it down to a location without
downstream lanes (1 for those), as in the twin's order of decisions (README, "Order of events"):
the most upstream level is the leftmost column and goods flow to the right. Lanes of several SKUs
between the same two locations are drawn as one arrow carrying their summed flow. An arrow's
width grows with the square root of its flow; its number is the mean of the units ordered on its
lanes per period (after warm-up, mean over replications: in the long run what the lane carries).
A lane that starts outside the network (a source's production) enters its location from above.
Flow labels sit in the gap before the destination's column, pushed apart where they would meet.

A column holds at most :data:`MAX_ROWS` boxes: in a larger one the ``MAX_ROWS - 1`` locations
with the highest cost are drawn and the others are gathered in one box (``+ 989 more``), whose
lanes carry the sums of theirs; every box and arrow has a tooltip with its numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape

import numpy as np

from reconciliation.svg import PALETTE, Canvas, clip_text, text_width

MAX_ROWS = 12
"""Boxes per column at most (the rest of a column is gathered in its last box)."""
MAX_LABELS = 30
"""Arrows labelled with their flow, the largest first (every arrow has a tooltip)."""
BOX_WIDTH, BOX_HEIGHT, ROW_GAP, COLUMN_GAP = 190.0, 40.0, 14.0, 130.0


@dataclass(frozen=True)
class Edge:
    """Lanes from one location to another, with their summed mean flow per period."""

    origin: str
    destination: str
    flow: float
    lanes: tuple[str, ...]
    inside: bool = True
    """False for lanes that start outside the network (``origin`` then names the outside)."""


def edges_of(
    stock_points: Sequence[str],
    nodes: Sequence[str],
    lanes: Sequence[str],
    destinations: Sequence[int] | np.ndarray,
    flows: Sequence[float] | np.ndarray,
) -> list[Edge]:
    """The lanes (``origin->destination`` of stock points, delivering to stock point
    ``destinations[j]``, with mean flow ``flows[j]``) summed per pair of locations."""
    index = {sp: i for i, sp in enumerate(stock_points)}
    pairs: dict[tuple[str, str, bool], tuple[float, list[str]]] = {}
    for lane, destination, flow in zip(lanes, destinations, flows, strict=True):
        suffix = "->" + stock_points[int(destination)]
        origin_point = lane[: -len(suffix)] if lane.endswith(suffix) else lane.partition("->")[0]
        inside = origin_point in index
        origin = nodes[index[origin_point]] if inside else origin_point
        key = (origin, nodes[int(destination)], inside)
        total, members = pairs.get(key, (0.0, []))
        pairs[key] = (total + float(flow), [*members, lane])
    return [Edge(o, d, f, tuple(m), inside) for (o, d, inside), (f, m) in pairs.items()]


def levels(
    locations: Sequence[str], edges: Sequence[Edge], fallback: Mapping[str, int]
) -> dict[str, int]:
    """Each location's level: 1 without downstream lanes, else 1 + the highest level downstream.
    Locations on a circle of lanes (possible between the SKUs of a multi-SKU network) take their
    ``fallback`` level (the ledger's echelon) or one more than what they deliver to, if higher."""
    successors: dict[str, set[str]] = {n: set() for n in locations}
    predecessors: dict[str, set[str]] = {n: set() for n in locations}
    for e in edges:
        if e.inside and e.origin != e.destination:
            successors[e.origin].add(e.destination)
            predecessors[e.destination].add(e.origin)
    waiting = {n: len(s) for n, s in successors.items()}
    level = {n: 1 for n in locations}
    ready = [n for n in locations if waiting[n] == 0]
    done: set[str] = set()
    while ready:
        node = ready.pop()
        done.add(node)
        for p in predecessors[node]:
            level[p] = max(level[p], level[node] + 1)
            waiting[p] -= 1
            if waiting[p] == 0:
                ready.append(p)
    for n in locations:
        if n not in done:
            level[n] = max([fallback.get(n, 1), *(level[s] + 1 for s in successors[n] if s in done)])
    return level


@dataclass
class Box:
    """A box of the drawing: one location, or the rest of a column gathered."""

    key: str
    members: list[str]
    column: int
    tiers: list[str]
    row: int = 0
    x: float = 0.0
    y: float = 0.0
    inflow: dict[str, float] = field(default_factory=dict)

    @property
    def gathered(self) -> bool:
        return self.key.startswith("\0")


def _tint(color: str, amount: float = 0.8) -> str:
    """``color`` (``#rrggbb``) mixed with white."""
    rgb = [int(color[i : i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(c + (255 - c) * amount):02x}" for c in rgb)


_Flows = dict[tuple[str, str], tuple[float, int]]
"""``(origin, destination) -> (summed flow, number of lanes)`` of the arrows."""


def network_svg(
    *,
    locations: Sequence[str],
    tiers: Mapping[str, str],
    echelons: Mapping[str, int],
    edges: Sequence[Edge],
    cost: Mapping[str, float | None],
    sold: Mapping[str, float],
    fill_rate: Mapping[str, float | None],
    title: str,
) -> str:
    """The drawing (module docstring). ``cost`` is each location's cost per period, ``sold`` its
    mean units sold to customers per period (customer-facing locations), ``fill_rate`` its unit
    fill rate."""
    order = {n: i for i, n in enumerate(locations)}
    boxes = _columns(locations, levels(locations, edges, echelons), tiers, cost, order)
    box_of = {n: box for column in boxes for box in column for n in box.members}
    arrows, outside = _arrows(edges, box_of)
    by_key = {box.key: box for column in boxes for box in column}
    _order_rows(boxes, arrows, by_key, order)
    has_sales = any(sold.get(n, 0.0) > 0 for n in locations)
    width, height = _place(boxes, has_sales=has_sales, header=62.0 + (14.0 if outside else 0.0))

    canvas = Canvas(width, height, title)
    canvas.text(width / 2, 20, title, size=13, anchor="middle", weight="600")
    colors = _legend(canvas, [tiers[n] for n in locations])
    largest = max([f for f, _ in arrows.values()] + [f for f, _ in outside.values()] + [1e-12])
    labels = _draw_arrows(canvas, arrows, by_key, largest)
    _draw_production(canvas, outside, by_key)
    for column in boxes:
        for box in column:
            _draw_box(canvas, box, colors, cost, sold, fill_rate)
    _labels(canvas, labels)
    return canvas.svg()


def _columns(
    locations: Sequence[str],
    level: Mapping[str, int],
    tiers: Mapping[str, str],
    cost: Mapping[str, float | None],
    order: Mapping[str, int],
) -> list[list[Box]]:
    """The boxes of each column, the most upstream level first: one per location, or, in a column
    of more than :data:`MAX_ROWS`, the costliest ``MAX_ROWS - 1`` and one box of the rest."""
    column_levels = sorted(set(level.values()), reverse=True)
    column_of = {lv: c for c, lv in enumerate(column_levels)}
    members: list[list[str]] = [[] for _ in column_levels]
    for n in locations:
        members[column_of[level[n]]].append(n)

    def rank(n: str) -> float:
        value = cost.get(n)
        return -math.inf if value is None or not math.isfinite(value) else value

    boxes: list[list[Box]] = []
    for c, group in enumerate(members):
        shown = group
        if len(group) > MAX_ROWS:
            top = set(sorted(group, key=lambda n: (-rank(n), order[n]))[: MAX_ROWS - 1])
            shown = [n for n in group if n in top]
        column = [Box(n, [n], c, [tiers[n]]) for n in shown]
        rest = [n for n in group if n not in set(shown)]
        if rest:
            column.append(Box(f"\0{c}", rest, c, list(dict.fromkeys(tiers[n] for n in rest))))
        boxes.append(column)
    return boxes


def _arrows(edges: Sequence[Edge], box_of: Mapping[str, Box]) -> tuple[_Flows, _Flows]:
    """Arrows between boxes (flows of gathered locations summed), and arrows from outside the
    network (keyed by the outside's name) into boxes."""
    arrows: _Flows = {}
    outside: _Flows = {}
    for e in edges:
        target = box_of[e.destination].key
        if not e.inside:
            flow, count = outside.get((e.origin, target), (0.0, 0))
            outside[(e.origin, target)] = (flow + e.flow, count + len(e.lanes))
            continue
        key = (box_of[e.origin].key, target)
        flow, count = arrows.get(key, (0.0, 0))
        arrows[key] = (flow + e.flow, count + len(e.lanes))
    return arrows, outside


def _order_rows(
    boxes: list[list[Box]], arrows: _Flows, by_key: Mapping[str, Box], order: Mapping[str, int]
) -> None:
    """Order each column by where its inflows come from (barycentres), the gathered box last;
    number the rows."""
    for c, column in enumerate(boxes):
        if c:
            centre: dict[str, float] = {}
            for box in column:
                weights = [
                    (max(flow, 1e-12), by_key[o].row)
                    for (o, d), (flow, _) in arrows.items()
                    if d == box.key and by_key[o].column < c
                ]
                total = sum(w for w, _ in weights)
                centre[box.key] = sum(w * r for w, r in weights) / total if total else math.inf
            column.sort(key=lambda b: (b.gathered, centre[b.key], order.get(b.members[0], 0)))
        for row, box in enumerate(column):
            box.row = row


def _place(boxes: list[list[Box]], *, has_sales: bool, header: float) -> tuple[float, float]:
    """Set every box's position (columns centred vertically); return the drawing's width and
    height."""
    left = 24.0
    right = 24.0 + (110.0 if has_sales else 0.0)
    rows = max(len(column) for column in boxes)
    height = header + rows * (BOX_HEIGHT + ROW_GAP) + 20
    width = left + len(boxes) * BOX_WIDTH + (len(boxes) - 1) * COLUMN_GAP + right
    for column in boxes:
        offset = (rows - len(column)) * (BOX_HEIGHT + ROW_GAP) / 2
        for box in column:
            box.x = left + box.column * (BOX_WIDTH + COLUMN_GAP)
            box.y = header + offset + box.row * (BOX_HEIGHT + ROW_GAP)
    return width, height


def _legend(canvas: Canvas, tiers: Sequence[str]) -> dict[str, str]:
    """The tiers' colours, drawn as a legend under the title with what the arrows mean."""
    tier_names = list(dict.fromkeys(tiers))
    colors = {t: PALETTE[i % len(PALETTE)] for i, t in enumerate(tier_names)}
    x = 12.0
    for t in tier_names:
        canvas.rect(x, 34, 14, 12, fill=_tint(colors[t]), stroke=colors[t], radius=2)
        canvas.text(x + 19, 44, t)
        x += 19 + text_width(t, 11) + 16
    canvas.text(
        x + 8,
        44,
        "arrows: mean units ordered per period on the lanes (after warm-up, mean over replications)",
        size=10,
        color="#555",
    )
    return colors


def _name(box: Box) -> str:
    if box.gathered:
        return f"{len(box.members):,} more ({', '.join(box.tiers)})"
    return box.key


def _draw_arrows(
    canvas: Canvas, arrows: _Flows, by_key: Mapping[str, Box], largest: float
) -> list[tuple[float, float, str, str]]:
    """The arrows between boxes, the smallest flow first, widths growing with the square root of
    the flow; returns the flow labels of the :data:`MAX_LABELS` largest (drawn last)."""
    labelled = {k for k, _ in sorted(arrows.items(), key=lambda kv: -kv[1][0])[:MAX_LABELS]}
    labels: list[tuple[float, float, str, str]] = []
    for (o, d), (flow, count) in sorted(arrows.items(), key=lambda kv: kv[1][0]):
        a, b = by_key[o], by_key[d]
        sx, sy = a.x + BOX_WIDTH, a.y + BOX_HEIGHT / 2
        ex, ey = b.x, b.y + BOX_HEIGHT / 2
        tip = f"{_name(a)} → {_name(b)}: {flow:,.2f} units ordered per period ({count} lane(s))"
        stroke = 1.0 + 6.0 * math.sqrt(max(flow, 0.0) / largest)
        points = _arrow(canvas, sx, sy, ex, ey, stroke, tip, dashed=flow <= 0)
        if (o, d) in labelled and flow > 0:  # in the gap before the destination's column
            x, y = _point_at_x(points, ex - COLUMN_GAP / 2)
            labels.append((x, y - 3, f"{flow:,.1f}", tip))
    return labels


def _draw_production(canvas: Canvas, outside: _Flows, by_key: Mapping[str, Box]) -> None:
    """Lanes from outside the network: into the box's top, from the gap above."""
    for (origin, d), (flow, count) in outside.items():
        b = by_key[d]
        tip = f"{origin} → {_name(b)}: {flow:,.2f} units ordered per period ({count} lane(s))"
        x = b.x + 14
        canvas.add(
            f'<path d="M{x:.1f} {b.y - 13:.1f} L{x:.1f} {b.y - 5:.1f}" stroke="#5b6b7b" '
            f'stroke-width="1.5"><title>{escape(tip)}</title></path>'
        )
        canvas.add(
            f'<polygon points="{x:.1f},{b.y:.1f} {x - 4:.1f},{b.y - 6:.1f} {x + 4:.1f},{b.y - 6:.1f}" '
            f'fill="#5b6b7b"><title>{escape(tip)}</title></polygon>'
        )
        canvas.text(x + 7, b.y - 3.5, f"{origin} {flow:,.1f}", size=9.5, color="#444", tooltip=tip)


def _draw_box(
    canvas: Canvas,
    box: Box,
    colors: Mapping[str, str],
    cost: Mapping[str, float | None],
    sold: Mapping[str, float],
    fill_rate: Mapping[str, float | None],
) -> None:
    """A box with its name, cost and fill rate (a tooltip with the numbers), and the arrow of its
    sales to customers."""
    color = colors[box.tiers[0]] if len(box.tiers) == 1 else "#777777"
    cost_sum = sum(v for n in box.members if (v := cost.get(n)) is not None and math.isfinite(v))
    line = f"cost {cost_sum:,.1f}/period" + (" in all" if box.gathered else "")
    tip = f"{_name(box)}: cost {cost_sum:,.2f} per period" + (" in all" if box.gathered else "")
    rate = None if box.gathered else fill_rate.get(box.key)
    if rate is not None and math.isfinite(rate):
        line += f", fill {rate:.3f}"
        tip += f", fill rate {rate:.4f}"
    if box.gathered:
        tip += ": " + ", ".join(box.members[:40]) + (", ..." if len(box.members) > 40 else "")
    canvas.rect(
        box.x,
        box.y,
        BOX_WIDTH,
        BOX_HEIGHT,
        fill=_tint(color),
        stroke=color,
        radius=4,
        tooltip=tip,
    )
    canvas.text(
        box.x + 7,
        box.y + 16,
        clip_text(_name(box), BOX_WIDTH - 14, 11.5),
        size=11.5,
        weight="600",
        tooltip=tip,
    )
    canvas.text(box.x + 7, box.y + 31, clip_text(line, BOX_WIDTH - 14, 9.5), size=9.5)
    units = sum(sold.get(n, 0.0) for n in box.members)
    if units > 0:
        y = box.y + BOX_HEIGHT / 2
        tip = f"{_name(box)} → customers: {units:,.2f} units sold per period"
        _arrow(canvas, box.x + BOX_WIDTH, y, box.x + BOX_WIDTH + 100, y, 1.5, tip)
        canvas.text(box.x + BOX_WIDTH + 8, y - 5, f"sold {units:,.1f}", size=9.5, color="#444")


def _arrow(
    canvas: Canvas,
    sx: float,
    sy: float,
    ex: float,
    ey: float,
    width: float,
    tooltip: str,
    *,
    dashed: bool = False,
) -> np.ndarray:
    """A curve from ``(sx, sy)`` to an arrowhead at ``(ex, ey)``, leaving and arriving level;
    returns the curve's control points."""
    head = 6.0 + width
    bend = max(abs(ex - sx) / 2, 40.0)
    tip_x = ex - head
    points = np.array([[sx, sy], [sx + bend, sy], [tip_x - bend, ey], [tip_x, ey]])
    path = "M{:.1f} {:.1f} C{:.1f} {:.1f} {:.1f} {:.1f} {:.1f} {:.1f}".format(*points.ravel())
    dash = ' stroke-dasharray="4 3"' if dashed else ""
    color = "#9aa7b4" if dashed else "#5b6b7b"
    canvas.add(
        f'<path d="{path}" fill="none" stroke="{color}" stroke-width="{width:.1f}" '
        f'stroke-opacity="0.75"{dash}><title>{escape(tooltip)}</title></path>'
    )
    half = head * 0.55
    canvas.add(
        f'<polygon points="{ex:.1f},{ey:.1f} {tip_x:.1f},{ey - half:.1f} {tip_x:.1f},{ey + half:.1f}" '
        f'fill="{color}"><title>{escape(tooltip)}</title></polygon>'
    )
    return points


def _point_at_x(points: np.ndarray, x: float) -> tuple[float, float]:
    """The point of a cubic curve (control ``points``, ``x`` growing along it) at ``x``, found by
    bisection; the middle of the curve where ``x`` does not grow."""
    low, high = 0.0, 1.0
    if points[3, 0] <= points[0, 0] or not points[0, 0] <= x <= points[3, 0]:
        low = high = 0.5
    for _ in range(30 if low < high else 0):
        t = (low + high) / 2
        at = _bezier(points, t)
        low, high = (t, high) if at[0] < x else (low, t)
    at = _bezier(points, (low + high) / 2)
    return float(at[0]), float(at[1])


def _bezier(points: np.ndarray, t: float) -> np.ndarray:
    weights = np.array([(1 - t) ** 3, 3 * t * (1 - t) ** 2, 3 * t**2 * (1 - t), t**3])
    return np.asarray(weights @ points)


def _labels(canvas: Canvas, labels: list[tuple[float, float, str, str]], height: float = 11.0) -> None:
    """Flow labels ``(x, y, text, tooltip)`` over white halos; labels at one ``x`` (the arrows
    into one column) pushed apart to ``height`` pixels at least."""
    by_x: dict[float, list[tuple[float, float, str, str]]] = {}
    for label in labels:
        by_x.setdefault(round(label[0]), []).append(label)
    for group in by_x.values():
        group.sort(key=lambda item: item[1])
        last = -math.inf
        for x, y, text, tooltip in group:
            y = max(y, last + height)
            last = y
            canvas.add(
                f'<text x="{x:.1f}" y="{y:.1f}" font-size="9.5" text-anchor="middle" fill="#222" '
                'stroke="white" stroke-width="3" paint-order="stroke">'
                f"<title>{escape(tooltip)}</title>{escape(text)}</text>"
            )
