"""Light SVG charts drawn in Python: panels of lines over periods, bars with whiskers, text and
arrows; no plotting library.

A run's figures are written by this module rather than by matplotlib: matplotlib's modules take
about 30 MB once imported and the Agg canvas of a tall per-node figure tens of MB more, most of a
large run's memory budget (``benchmarks/RESULTS.md``); these charts are strings of a few hundred
kB, drawn in a few tens of milliseconds, and stay sharp at any zoom. Each chart is a whole
``<svg>`` element with ``xmlns``, so the same text is a ``.svg`` file and an inline figure of an
HTML page. Elements carry no ``id`` (several charts share one page) and no ``<style>`` (it would
apply to the whole page): fonts are attributes of the root element, inherited by its text.

Coordinates are pixels, ``y`` growing downwards. A long line is drawn from its envelope
(:func:`thin`): at most two points per pixel column, the smallest and the largest value of the
periods it spans, so it looks the same as every point drawn and costs what a short line does.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from html import escape

import numpy as np

FONT = "system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif"
CHAR_WIDTH = 0.58
"""Width of an average character as a fraction of the font size (no font metrics here: labels are
laid out from this estimate, with room to spare)."""
GRID = "#e6e6e6"
AXIS = "#888"
WARMUP = "#eeeeee"
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
"""matplotlib's ``tab10`` colours, so the run's figures look like the study's."""

MAX_POINTS = 2000
"""Lines with more points than this are drawn from their envelope (:func:`thin`)."""


def thin(x: np.ndarray, y: np.ndarray, limit: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """A long series reduced to its envelope: the smallest and the largest value of each of
    ``limit / 2`` consecutive buckets, in time order. Drawn at a few hundred pixels wide the line
    looks the same (each pixel column spans many periods and shows their range), and drawing
    20,000 periods costs what 2,000 do."""
    n = len(y)
    if n <= limit:
        return x, y
    size = math.ceil(n / (limit // 2))
    whole = n // size * size
    xs, ys = x[:whole].reshape(-1, size), y[:whole].reshape(-1, size)
    low, high = ys.argmin(axis=1), ys.argmax(axis=1)
    first, second = np.minimum(low, high), np.maximum(low, high)
    rows = np.arange(len(ys))
    keep_x = np.stack([xs[rows, first], xs[rows, second]], axis=1).ravel()
    keep_y = np.stack([ys[rows, first], ys[rows, second]], axis=1).ravel()
    return np.concatenate([keep_x, x[whole:]]), np.concatenate([keep_y, y[whole:]])


def text_width(text: str, size: float) -> float:
    """Estimated width in pixels of ``text`` at font ``size``."""
    return CHAR_WIDTH * size * len(text)


def clip_text(text: str, width: float, size: float) -> str:
    """``text`` cut with an ellipsis to fit ``width`` pixels (the whole text goes in a tooltip)."""
    room = max(int(width / (CHAR_WIDTH * size)), 1)
    return text if len(text) <= room else text[: max(room - 1, 1)] + "…"


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering ``[low, high]``: steps of 1, 2 or 5 times a power of ten, the
    first tick at or below ``low`` and the last at or above ``high`` (at most ``count + 2``)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        low, high = 0.0, 1.0
    if high - low <= 1e-9 * max(1.0, abs(low), abs(high)):  # flat (or rounding noise)
        high = low + max(abs(low), 1.0)
    raw = (high - low) / max(count, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.floor(low / step + 1e-9) * step
    last = math.ceil(high / step - 1e-9) * step
    n = round((last - first) / step)
    return [first + i * step for i in range(n + 1)]


def tick_label(value: float, step: float) -> str:
    """A tick value written with as many decimals as its step needs (``1,500``, ``0.25``; thousands
    as ``250k`` from 100,000 on)."""
    if abs(value) < step * 1e-9:
        value = 0.0
    if step >= 1 and abs(value) >= 100_000 and value % 1000 == 0:
        return f"{value / 1000:,.0f}k"
    decimals = next((d for d in range(7) if abs(step * 10**d - round(step * 10**d)) < 1e-6), 6)
    return f"{value:,.{decimals}f}"


def _n(value: float) -> str:
    """A coordinate: one decimal, no trailing ``.0``."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


@dataclass
class Canvas:
    """An SVG document built element by element."""

    width: float
    height: float
    title: str
    parts: list[str] = field(default_factory=list)

    def add(self, element: str) -> None:
        self.parts.append(element)

    def text(
        self,
        x: float,
        y: float,
        text: str,
        *,
        size: float = 11,
        anchor: str = "start",
        weight: str = "normal",
        color: str = "#222",
        rotate: float | None = None,
        tooltip: str | None = None,
    ) -> None:
        turn = f' transform="rotate({_n(rotate)} {_n(x)} {_n(y)})"' if rotate else ""
        bold = f' font-weight="{weight}"' if weight != "normal" else ""
        tip = f"<title>{escape(tooltip)}</title>" if tooltip else ""
        self.add(
            f'<text x="{_n(x)}" y="{_n(y)}" font-size="{_n(size)}" text-anchor="{anchor}"'
            f' fill="{color}"{bold}{turn}>{tip}{escape(text)}</text>'
        )

    def rect(
        self,
        x: float,
        y: float,
        width: float,
        height: float,
        *,
        fill: str,
        stroke: str | None = None,
        radius: float = 0,
        tooltip: str | None = None,
    ) -> None:
        line = f' stroke="{stroke}"' if stroke else ""
        corner = f' rx="{_n(radius)}"' if radius else ""
        tip = f"<title>{escape(tooltip)}</title>" if tooltip else ""
        close = f">{tip}</rect>" if tip else "/>"
        self.add(
            f'<rect x="{_n(x)}" y="{_n(y)}" width="{_n(max(width, 0))}" height="{_n(max(height, 0))}"'
            f' fill="{fill}"{line}{corner}{close}'
        )

    def line(self, x1: float, y1: float, x2: float, y2: float, *, color: str, width: float = 1) -> None:
        self.add(
            f'<line x1="{_n(x1)}" y1="{_n(y1)}" x2="{_n(x2)}" y2="{_n(y2)}" stroke="{color}"'
            f' stroke-width="{_n(width)}"/>'
        )

    def polyline(self, xs: np.ndarray, ys: np.ndarray, *, color: str, width: float = 1.2) -> None:
        points = " ".join(map("{:.1f},{:.1f}".format, xs.tolist(), ys.tolist()))
        self.add(
            f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="{_n(width)}"'
            ' stroke-linejoin="round"/>'
        )

    def svg(self) -> str:
        """The document: one ``<svg>`` element (inline in HTML, or a file of its own)."""
        head = (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{_n(self.width)}" '
            f'height="{_n(self.height)}" viewBox="0 0 {_n(self.width)} {_n(self.height)}" '
            f'role="img" font-family="{escape(FONT)}" font-size="11">'
            f"<title>{escape(self.title)}</title>"
            f'<rect width="100%" height="100%" fill="white"/>'
        )
        return head + "".join(self.parts) + "</svg>\n"


# --------------------------------------------------------------------------------------------------
# Panels of lines.


@dataclass(frozen=True)
class Series:
    """One line: ``values`` per period (index = period)."""

    label: str
    values: np.ndarray
    color: str


@dataclass(frozen=True)
class Panel:
    title: str
    series: Sequence[Series]
    y_label: str = "units"


def _legend(canvas: Canvas, x: float, y: float, entries: Iterable[tuple[str, str, str]]) -> None:
    """A row of legend entries ``(label, colour, kind)`` with kind ``line`` or ``box``."""
    for label, color, kind in entries:
        if kind == "line":
            canvas.line(x, y - 4, x + 18, y - 4, color=color, width=2)
        else:
            canvas.rect(x, y - 10, 18, 10, fill=color)
        canvas.text(x + 23, y, label)
        x += 23 + text_width(label, 11) + 18


def line_panels(
    panels: Sequence[Panel],
    *,
    title: str,
    periods: int,
    warmup: int = 0,
    columns: int = 1,
    panel_width: float = 860,
    panel_height: float = 150,
    legend: Sequence[tuple[str, str]] = (),
) -> str:
    """Panels of lines over periods ``0 .. periods - 1`` in a grid of ``columns``, each panel with
    its own y axis (from 0, or below for negative values), the warm-up periods shaded, a shared
    ``legend`` of ``(label, colour)`` under the title."""
    left, right, top_gap, bottom_gap = 52.0, 12.0, 24.0, 26.0
    header = 54.0 if legend else 36.0
    rows = max(math.ceil(len(panels) / columns), 1)
    cell_w = left + panel_width + right
    cell_h = top_gap + panel_height + bottom_gap
    canvas = Canvas(columns * cell_w + 10, header + rows * cell_h + 4, title)
    canvas.text(canvas.width / 2, 20, title, size=13, anchor="middle", weight="600")
    if legend:
        extra = [("warm-up", WARMUP, "box")] if warmup > 0 else []
        entries = [(label, color, "line") for label, color in legend] + extra
        span = sum(23 + text_width(label, 11) + 18 for label, _, _ in entries)
        _legend(canvas, max((canvas.width - span) / 2, 8), 42, entries)
    x_ticks = nice_ticks(0, max(periods - 1, 1), 6)
    x_ticks = [t for t in x_ticks if t <= periods - 1] or [0.0]
    x_step = x_ticks[1] - x_ticks[0] if len(x_ticks) > 1 else 1.0
    limit = max(int(2 * panel_width), 4)
    span_x = max(periods - 1, 1)
    for k, panel in enumerate(panels):
        x0 = 5 + (k % columns) * cell_w + left
        y0 = header + (k // columns) * cell_h + top_gap
        low = min((float(s.values.min()) for s in panel.series if s.values.size), default=0.0)
        high = max((float(s.values.max()) for s in panel.series if s.values.size), default=1.0)
        y_ticks = nice_ticks(min(low, 0.0), max(high, 0.0), 4)
        y_min, y_max = y_ticks[0], y_ticks[-1]
        y_step = y_ticks[1] - y_ticks[0]

        def px(values: np.ndarray, x0: float = x0) -> np.ndarray:
            return x0 + values * (panel_width / span_x)

        def py(
            values: np.ndarray, y0: float = y0, y_min: float = y_min, y_max: float = y_max
        ) -> np.ndarray:
            return y0 + panel_height - (values - y_min) * (panel_height / (y_max - y_min))

        if warmup > 0:
            end = min(warmup, periods) - 0.5
            wx = float(px(np.array([max(end, 0.0)]))[0])
            canvas.rect(x0, y0, wx - x0, panel_height, fill=WARMUP)
        for t in y_ticks:
            y = float(py(np.array([t]))[0])
            canvas.line(x0, y, x0 + panel_width, y, color=GRID)
            canvas.text(x0 - 5, y + 3.5, tick_label(t, y_step), size=9.5, anchor="end", color="#555")
        for t in x_ticks:
            x = float(px(np.array([t]))[0])
            canvas.line(x, y0 + panel_height, x, y0 + panel_height + 4, color=AXIS)
            canvas.text(x, y0 + panel_height + 15, tick_label(t, x_step), size=9.5, anchor="middle")
        canvas.line(x0, y0 + panel_height, x0 + panel_width, y0 + panel_height, color=AXIS)
        canvas.line(x0, y0, x0, y0 + panel_height, color=AXIS)
        for series in panel.series:
            xs, ys = thin(np.arange(series.values.size, dtype=float), series.values, limit)
            canvas.polyline(px(xs), py(ys), color=series.color)
        canvas.text(
            x0 + panel_width / 2,
            y0 - 8,
            clip_text(panel.title, panel_width, 11.5),
            size=11.5,
            anchor="middle",
            weight="600",
            tooltip=panel.title,
        )
        canvas.text(x0 - 40, y0 + panel_height / 2, panel.y_label, size=9.5, anchor="middle", rotate=-90)
    return canvas.svg()


# --------------------------------------------------------------------------------------------------
# Bars.


def bar_chart(
    categories: Sequence[str],
    stacks: Sequence[tuple[str, Sequence[float], str]],
    *,
    title: str,
    y_label: str,
    errors: Sequence[float] | None = None,
    reference: float | None = None,
    bar_width: float = 70,
    empty: str = "nothing to show",
    value_format: str = ",.4g",
) -> str:
    """Bars per category, stacked from ``stacks`` of ``(label, values, colour)``, with a whisker of
    ``± errors`` on each stack's total (written above it with ``value_format``) and an optional
    dashed ``reference`` level; without categories, the axes and the text ``empty``."""
    left, top, bottom, height = 64.0, 62.0 if len(stacks) > 1 else 40.0, 46.0, 260.0
    gap = bar_width * 0.6
    entries = [(label, color, "box") for label, _, color in stacks]
    span = sum(23 + text_width(label, 11) + 18 for label, _, _ in entries) if len(stacks) > 1 else 0
    width = max(
        left + len(categories) * (bar_width + gap) + gap + 20,
        420.0,
        text_width(title, 13) + 30,
        span + 20,
    )
    canvas = Canvas(width, top + height + bottom, title)
    canvas.text(width / 2, 20, title, size=13, anchor="middle", weight="600")
    if len(stacks) > 1:
        _legend(canvas, max((width - span) / 2, 8), 44, entries)
    totals = [sum(max(float(v[i]), 0.0) for _, v, _ in stacks) for i in range(len(categories))]
    errs = [float(e) if e is not None and math.isfinite(e) else 0.0 for e in (errors or [])]
    high = max([t + (errs[i] if i < len(errs) else 0.0) for i, t in enumerate(totals)] + [0.0])
    if reference is not None:
        high = max(high, reference)
    ticks = nice_ticks(0.0, high, 5)
    y_max, step = ticks[-1], ticks[1] - ticks[0]
    plot_w = width - left - 20

    def py(value: float) -> float:
        return top + height - value * height / y_max

    for t in ticks:
        canvas.line(left, py(t), left + plot_w, py(t), color=GRID)
        canvas.text(left - 6, py(t) + 3.5, tick_label(t, step), size=9.5, anchor="end", color="#555")
    canvas.line(left, top + height, left + plot_w, top + height, color=AXIS)
    canvas.text(16, top + height / 2, y_label, size=10, anchor="middle", rotate=-90)
    for i, category in enumerate(categories):
        x = left + gap + i * (bar_width + gap)
        base = 0.0
        for label, values, color in stacks:
            value = max(float(values[i]), 0.0)
            if value > 0:
                canvas.rect(
                    x,
                    py(base + value),
                    bar_width,
                    py(base) - py(base + value),
                    fill=color,
                    tooltip=f"{category}: {label} {value:,.4g}",
                )
            base += value
        if i < len(errs) and errs[i] > 0:
            mid = x + bar_width / 2
            canvas.line(mid, py(base - errs[i]), mid, py(base + errs[i]), color="#000", width=1.2)
            for end in (base - errs[i], base + errs[i]):
                canvas.line(mid - 6, py(end), mid + 6, py(end), color="#000", width=1.2)
        canvas.text(
            x + bar_width / 2,
            top + height + 16,
            clip_text(category, bar_width + gap, 10.5),
            size=10.5,
            anchor="middle",
            tooltip=category,
        )
        canvas.text(
            x + bar_width / 2, py(base) - 4, format(base, value_format), size=9.5, anchor="middle"
        )
    if not categories:
        canvas.text(left + plot_w / 2, top + height / 2, empty, size=12, anchor="middle", color="#555")
    if reference is not None:
        y = py(reference)
        canvas.add(
            f'<line x1="{_n(left)}" y1="{_n(y)}" x2="{_n(left + plot_w)}" y2="{_n(y)}" '
            'stroke="#444" stroke-dasharray="5 4"/>'
        )
    return canvas.svg()
