"""Hand-written inline SVG charts: histogram, line (linear or log axes), scatter and grouped bars.

Every function returns one ``<svg>`` element as a string, sized by its ``viewBox`` so CSS scales it. No
``xmlns`` is written: inline SVG in HTML needs none, and leaving it out keeps reports free of any URL
(:func:`standalone` adds it for a ``.svg`` file). Every piece of text and every attribute value is escaped
here, because labels come from plugins (item ids, class names); images are accepted only as PNG data URIs.
Colours are passed in by the caller, so one palette (per split, per method) holds across a report.
Pictures made of pixels (heatmaps, image grids) are in :mod:`~unlearnbench.reporting.raster`.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "Axis",
    "Bar",
    "Point",
    "Series",
    "CHART_CSS",
    "CHAR_WIDTH",
    "WIDE",
    "bar_svg",
    "esc",
    "histogram_svg",
    "line_svg",
    "scatter_svg",
    "standalone",
    "tick_text",
]

WIDTH, HEIGHT = 460, 290
#: Size of a chart that spans the page: more room, the same font size once scaled to the column.
WIDE = (820, 360)
_MARGIN = {"left": 58, "right": 16, "top": 10, "bottom": 44}
#: Approximate width of one character at the 11 px chart font, for layout only.
CHAR_WIDTH = 6.1


def esc(text: object) -> str:
    """Text or attribute value, escaped for HTML and SVG (quotes included)."""
    return html.escape(str(text), quote=True)


def _n(value: float) -> str:
    """A coordinate with one decimal, without a trailing ``.0``: small files, stable output."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def tick_text(value: float) -> str:
    """A tick or bar value, short: ``0.25``, ``1e-4``, ``2e5``."""
    if value == 0:
        return "0"
    if abs(value) >= 1e4 or abs(value) < 1e-3:
        return f"{value:.0e}".replace("e-0", "e-").replace("e+0", "e")
    return f"{value:.6g}"


@dataclass(frozen=True)
class Axis:
    """A value range mapped onto a chart side; ``log`` axes need ``lo > 0``."""

    lo: float
    hi: float
    label: str = ""
    log: bool = False

    def fraction(self, value: float) -> float:
        """Position of ``value`` in [0, 1] along the axis (clipped)."""
        if self.log:
            value = max(value, self.lo)
            lo, hi, v = math.log10(self.lo), math.log10(self.hi), math.log10(value)
        else:
            lo, hi, v = self.lo, self.hi, value
        if hi == lo:
            return 0.5
        return min(1.0, max(0.0, (v - lo) / (hi - lo)))

    def ticks(self) -> list[float]:
        """Decades on a log axis; 1, 2 or 5 × 10^k steps giving about five ticks on a linear one."""
        if self.log:
            first, last = math.ceil(math.log10(self.lo) - 1e-9), math.floor(math.log10(self.hi) + 1e-9)
            return [10.0**k for k in range(first, last + 1)]
        span = self.hi - self.lo
        if span <= 0:
            return [self.lo]
        raw = span / 5
        power = 10 ** math.floor(math.log10(raw))
        step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
        start = math.ceil(self.lo / step - 1e-9) * step
        count = int(math.floor((self.hi - start) / step + 1e-9)) + 1
        return [round(start + i * step, 12) for i in range(count)]


@dataclass(frozen=True)
class Series:
    """One line or histogram: ``xs``/``ys`` (a histogram uses ``ys`` as bin counts)."""

    label: str
    ys: Sequence[float]
    color: str
    xs: Sequence[float] = ()
    dashed: bool = False


@dataclass(frozen=True)
class Point:
    """One scatter marker; ``size`` is its radius in pixels; ``hollow`` draws a reference (anchor) point."""

    x: float
    y: float
    label: str
    color: str
    size: float = 6.0
    hollow: bool = False
    tooltip: str = ""
    #: Drawn with a heavy dark outline (e.g. a point of the Pareto front).
    highlight: bool = False


@dataclass(frozen=True)
class Bar:
    """One bar series of a grouped bar chart (None: no bar) with optional ± error half-widths."""

    label: str
    values: Sequence[float | None]
    color: str
    errors: Sequence[float | None] = ()


class _Chart:
    """A plot area with axes, an optional legend above it, and the elements drawn in it."""

    def __init__(
        self,
        x: Axis,
        y: Axis,
        title: str,
        legend: Sequence[tuple[str, str, str]] = (),
        width: int = WIDTH,
        height: int = HEIGHT,
        inset: float = 0.0,
    ) -> None:
        self.x, self.y, self.title, self.width, self.height = x, y, title, width, height
        #: Pixels between the frame and the data range, so markers at the range's ends are not cut.
        self.inset = inset
        self.parts: list[str] = []
        self.legend_rows = _legend_rows(legend, width - _MARGIN["left"] - _MARGIN["right"])
        self.top = _MARGIN["top"] + 16 * len(self.legend_rows)
        self.left, self.right = _MARGIN["left"], width - _MARGIN["right"]
        self.bottom = height - _MARGIN["bottom"]

    def px(self, value: float) -> float:
        return self.left + self.inset + self.x.fraction(value) * (self.right - self.left - 2 * self.inset)

    def py(self, value: float) -> float:
        return self.bottom - self.inset - self.y.fraction(value) * (self.bottom - self.top - 2 * self.inset)

    def frame(self, x_ticks: bool = True) -> None:
        """Grid lines, tick labels and axis titles."""
        for value in self.y.ticks():
            y = _n(self.py(value))
            self.parts.append(f'<line class="grid" x1="{self.left}" x2="{self.right}" y1="{y}" y2="{y}"/>')
            self.parts.append(
                f'<text class="tick" x="{self.left - 6}" y="{y}" text-anchor="end" '
                f'dominant-baseline="middle">{esc(tick_text(value))}</text>'
            )
        if x_ticks:
            for value in self.x.ticks():
                x = _n(self.px(value))
                self.parts.append(
                    f'<line class="grid" x1="{x}" x2="{x}" y1="{self.top}" y2="{self.bottom}"/>'
                )
                self.parts.append(
                    f'<text class="tick" x="{x}" y="{self.bottom + 15}" text-anchor="middle">'
                    f"{esc(tick_text(value))}</text>"
                )
        self.parts.append(
            f'<rect class="frame" x="{self.left}" y="{self.top}" width="{self.right - self.left}" '
            f'height="{self.bottom - self.top}"/>'
        )
        self.parts.append(
            f'<text class="axis" x="{_n((self.left + self.right) / 2)}" y="{self.height - 8}" '
            f'text-anchor="middle">{esc(self.x.label)}</text>'
        )
        middle = _n((self.top + self.bottom) / 2)
        self.parts.append(
            f'<text class="axis" transform="translate(14 {middle}) rotate(-90)" '
            f'text-anchor="middle">{esc(self.y.label)}</text>'
        )

    def render(self) -> str:
        legend = []
        for row, entries in enumerate(self.legend_rows):
            y = _MARGIN["top"] + 16 * row + 6
            for x, (label, color, kind) in entries:
                legend.append(_legend_mark(x + self.left, y, color, kind))
                legend.append(
                    f'<text class="legend" x="{_n(x + self.left + 16)}" y="{y}" '
                    f'dominant-baseline="middle">{esc(label)}</text>'
                )
        return (
            f'<svg class="chart plot" viewBox="0 0 {self.width} {self.height}" role="img" '
            f'aria-label="{esc(self.title)}"><title>{esc(self.title)}</title>'
            + "".join(self.parts)
            + "".join(legend)
            + "</svg>"
        )


def _legend_rows(
    entries: Sequence[tuple[str, str, str]], width: float
) -> list[list[tuple[float, tuple[str, str, str]]]]:
    rows: list[list[tuple[float, tuple[str, str, str]]]] = []
    x = width
    for entry in entries:
        need = 22 + CHAR_WIDTH * len(entry[0])
        if x + need > width and (not rows or rows[-1]):
            rows.append([])
            x = 0.0
        rows[-1].append((x, entry))
        x += need
    return rows


def _legend_mark(x: float, y: float, color: str, kind: str) -> str:
    if kind in ("box", "bar"):
        opacity = ' fill-opacity=".6"' if kind == "box" else ""
        return f'<rect x="{_n(x)}" y="{_n(y - 5)}" width="12" height="10" fill="{esc(color)}"{opacity}/>'
    if kind in ("dot", "ring"):
        fill = "#fff" if kind == "ring" else esc(color)
        return (
            f'<circle cx="{_n(x + 6)}" cy="{_n(y)}" r="4.5" fill="{fill}" stroke="{esc(color)}" '
            'stroke-width="1.5"/>'
        )
    dash = ' stroke-dasharray="4 3"' if kind == "dash" else ""
    return (
        f'<line x1="{_n(x)}" x2="{_n(x + 12)}" y1="{_n(y)}" y2="{_n(y)}" stroke="{esc(color)}" '
        f'stroke-width="2"{dash}/>'
    )


def _path(points: Sequence[tuple[float, float]]) -> str:
    return "M" + "L".join(f"{_n(x)} {_n(y)}" for x, y in points)


def histogram_svg(
    lo: float,
    hi: float,
    series: Sequence[Series],
    x_label: str,
    title: str,
    y_label: str = "fraction of split",
    log: bool = False,
) -> str:
    """Overlaid histograms with shared bins over [lo, hi], each normalised to its own total (step lines).

    With ``log`` the bins are equal steps of log10 between ``lo`` and ``hi`` (both > 0) on a log axis.
    """
    fractions = [[c / max(1.0, sum(s.ys)) for c in s.ys] for s in series]
    top = max([f for fs in fractions for f in fs] + [1e-9]) * 1.08
    legend = [(s.label, s.color, "box") for s in series]
    chart = _Chart(Axis(lo, hi, x_label, log=log), Axis(0.0, top, y_label), title, legend)
    chart.frame()

    def edge(i: int, bins: int) -> float:
        if log:
            return float(10 ** (math.log10(lo) + (math.log10(hi) - math.log10(lo)) * i / bins))
        return lo + (hi - lo) * i / bins

    for s, fs in zip(series, fractions):
        if not fs:
            continue
        points = [(chart.px(lo), chart.py(0))]
        for i, f in enumerate(fs):
            points += [
                (chart.px(edge(i, len(fs))), chart.py(f)),
                (chart.px(edge(i + 1, len(fs))), chart.py(f)),
            ]
        points.append((chart.px(hi), chart.py(0)))
        chart.parts.append(
            f'<path d="{_path(points)}Z" fill="{esc(s.color)}" fill-opacity=".16" '
            f'stroke="{esc(s.color)}" stroke-width="1.6"/>'
        )
    return chart.render()


def line_svg(
    series: Sequence[Series],
    x: Axis,
    y: Axis,
    title: str,
    diagonal: bool = False,
    guides: Sequence[tuple[float, str]] = (),
) -> str:
    """Lines over linear or log axes; ``diagonal`` draws y = x (a ROC's chance), ``guides`` vertical rules."""
    chart = _Chart(x, y, title, [(s.label, s.color, "dash" if s.dashed else "line") for s in series])
    chart.frame()
    if diagonal:
        lo, hi = max(x.lo, y.lo), min(x.hi, y.hi)
        steps = [lo * (hi / lo) ** (i / 40) for i in range(41)] if x.log else [lo, hi]
        chart.parts.append(f'<path class="chance" d="{_path([(chart.px(v), chart.py(v)) for v in steps])}"/>')
    for value, label in guides:
        gx = _n(chart.px(value))
        chart.parts.append(f'<line class="guide" x1="{gx}" x2="{gx}" y1="{chart.top}" y2="{chart.bottom}"/>')
        chart.parts.append(f'<text class="tick" x="{gx}" y="{chart.top + 11}" dx="3">{esc(label)}</text>')
    for s in series:
        points = [
            (chart.px(a), chart.py(b)) for a, b in zip(s.xs, s.ys) if math.isfinite(a) and math.isfinite(b)
        ]
        if len(points) < 2:
            continue
        dash = ' stroke-dasharray="5 4"' if s.dashed else ""
        chart.parts.append(
            f'<path d="{_path(points)}" fill="none" stroke="{esc(s.color)}" stroke-width="2"'
            f'{dash} stroke-linejoin="round"/>'
        )
    return chart.render()


def scatter_svg(
    points: Sequence[Point],
    x: Axis,
    y: Axis,
    title: str,
    front: Sequence[tuple[float, float]] = (),
    legend: Sequence[tuple[str, str, str]] = (),
    labels: bool = True,
    size: tuple[int, int] = (WIDTH, HEIGHT),
) -> str:
    """Markers (with hover tooltips), an optional highlighted front polyline and point labels.

    Labels are placed greedily beside their marker where they overlap neither an earlier label nor a
    marker nor the frame; a label with no free place is left out (its marker's tooltip still names it).
    """
    chart = _Chart(x, y, title, legend, *size, inset=14)
    chart.frame()
    if len(front) > 1:
        coords = [(chart.px(a), chart.py(b)) for a, b in front]
        chart.parts.append(f'<path class="front" d="{_path(coords)}"/>')
    # Anchors first, then the largest markers, so no marker hides a smaller one.
    ordered = sorted(points, key=lambda p: (not p.hollow, -p.size))
    for p in ordered:
        cx, cy = _n(chart.px(p.x)), _n(chart.py(p.y))
        fill = "#fff" if p.hollow else esc(p.color)
        stroke, width = ("#1f2328", "2.5") if p.highlight else (esc(p.color), "1.5")
        chart.parts.append(
            f'<circle cx="{cx}" cy="{cy}" r="{_n(p.size)}" fill="{fill}" fill-opacity="'
            f'{"1" if p.hollow else ".75"}" stroke="{stroke}" stroke-width="{width}">'
            f"<title>{esc(p.tooltip or p.label)}</title></circle>"
        )
    if labels:
        taken = [(chart.px(p.x) - p.size, chart.py(p.y) - p.size, 2 * p.size, 2 * p.size) for p in points]
        for p in sorted(points, key=lambda p: (p.hollow, -p.y)):
            place = _label_place(chart, p, taken)
            if place is not None:
                lx, ly, anchor = place
                chart.parts.append(
                    f'<text class="label" x="{_n(lx)}" y="{_n(ly)}" text-anchor="{anchor}">'
                    f"{esc(p.label)}</text>"
                )
    return chart.render()


def _overlaps(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def _label_place(
    chart: _Chart, p: Point, taken: list[tuple[float, float, float, float]]
) -> tuple[float, float, str] | None:
    """Where ``p``'s label fits (x, baseline y, text-anchor), trying right, left, above and below."""
    x, y, r = chart.px(p.x), chart.py(p.y), p.size
    w, h = CHAR_WIDTH * len(p.label), 11.0
    for dx, dy, anchor in ((r + 3, 4, "start"), (-r - 3, 4, "end"), (r + 2, -r - 2, "start"),
                           (-r - 2, -r - 2, "end"), (r + 2, r + 11, "start"), (-r - 2, r + 11, "end"),
                           (0, -r - 4, "middle"), (0, r + 13, "middle")):  # fmt: skip
        left = x + dx - (w if anchor == "end" else w / 2 if anchor == "middle" else 0)
        box = (left, y + dy - h + 2, w, h)
        inside = (
            chart.left < box[0]
            and box[0] + w < chart.right
            and chart.top < box[1]
            and box[1] + h < chart.bottom
        )
        if inside and not any(_overlaps(box, other) for other in taken):
            taken.append(box)
            return x + dx, y + dy, anchor
    return None


def bar_svg(
    categories: Sequence[str],
    bars: Sequence[Bar],
    y: Axis,
    x_label: str,
    title: str,
    size: tuple[int, int] = (WIDTH, HEIGHT),
) -> str:
    """Grouped vertical bars, one group per category, with optional error whiskers."""
    legend = [(b.label, b.color, "bar") for b in bars]
    chart = _Chart(Axis(0, max(1, len(categories)), x_label), y, title, legend, *size)
    chart.frame(x_ticks=False)
    group = (chart.right - chart.left) / max(1, len(categories))
    width = group * 0.8 / max(1, len(bars))
    step = max(1, math.ceil(len(categories) * 6 * CHAR_WIDTH / (chart.right - chart.left)))
    for i, category in enumerate(categories):
        if i % step == 0:
            cx = _n(chart.left + (i + 0.5) * group)
            text = category if len(category) <= 10 else category[:9] + "…"
            chart.parts.append(
                f'<text class="tick" x="{cx}" y="{chart.bottom + 15}" text-anchor="middle">'
                f"{esc(text)}<title>{esc(category)}</title></text>"
            )
        for j, bar in enumerate(bars):
            value = bar.values[i] if i < len(bar.values) else None
            if value is None or not math.isfinite(value):
                continue
            x0 = chart.left + i * group + group * 0.1 + j * width
            top, base = chart.py(max(value, y.lo)), chart.py(max(y.lo, 0.0))
            chart.parts.append(
                f'<rect x="{_n(x0)}" y="{_n(min(top, base))}" width="{_n(max(width - 1, 1))}" '
                f'height="{_n(abs(base - top))}" fill="{esc(bar.color)}"><title>{esc(bar.label)}, '
                f"{esc(category)}: {esc(tick_text(value))}</title></rect>"
            )
            error = bar.errors[i] if i < len(bar.errors) else None
            if error:
                mid = _n(x0 + width / 2 - 0.5)
                chart.parts.append(
                    f'<line class="whisker" x1="{mid}" x2="{mid}" y1="{_n(chart.py(value - error))}" '
                    f'y2="{_n(chart.py(value + error))}"/>'
                )
    return chart.render()


#: The style of chart elements, for the report's CSS and for standalone .svg files.
CHART_CSS = """
svg.chart { font: 11px system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  fill: #1f2328; }
svg.chart .grid { stroke: #eaeef2; stroke-width: 1; }
svg.chart .frame { fill: none; stroke: #d1d9e0; }
svg.chart .tick, svg.chart .label { fill: #59636e; font-size: 10.5px; }
svg.chart .axis { fill: #1f2328; font-size: 11.5px; }
svg.chart .chance { fill: none; stroke: #8c959f; stroke-dasharray: 2 3; }
svg.chart .guide { stroke: #8c959f; stroke-dasharray: 3 3; }
svg.chart .front { fill: none; stroke: #1f2328; stroke-width: 1.5; stroke-dasharray: 6 3; }
svg.chart .whisker { stroke: #1f2328; stroke-width: 1.2; }
""".strip()


def standalone(svg: str) -> str:
    """An inline chart as a standalone ``.svg`` document (namespace and chart style added)."""
    body = svg.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1)
    head, _, rest = body.partition(">")
    return f'<?xml version="1.0" encoding="utf-8"?>\n{head}><style>{CHART_CSS}</style>{rest}\n'
