"""Small, self-contained SVG charts for the run report: no JavaScript library, no network.

Every chart is an ``<svg class="chart" data-chart="<id>">`` whose drawn data marks carry the
class ``mark``, so a browser test can count marks that rendered with a non-zero size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH = 640
HEIGHT = 300
MARGIN_LEFT = 64
MARGIN_RIGHT = 150
MARGIN_TOP = 36
MARGIN_BOTTOM = 48

#: Colour-blind-safe palette (Okabe-Ito); failure is always vermilion, perceived always blue.
COLOURS = {
    "policy_failure": "#D55E00",
    "perceived": "#0072B2",
    "neutral": "#555555",
    "green": "#009E73",
    "orange": "#E69F00",
    "purple": "#CC79A7",
    "sky": "#56B4E9",
}


@dataclass(frozen=True)
class Series:
    """One line of a line chart."""

    name: str
    xs: Sequence[float]
    ys: Sequence[float | None]
    colour: str
    dashed: bool = False
    markers: bool = True


def _nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    if high <= low:
        high = low + 1.0
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = min((m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw), default=raw)
    first = math.floor(low / step) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        if value >= low - step * 1e-9:
            ticks.append(round(value, 10))
        value += step
    return ticks


def _fmt(value: float) -> str:
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if value == int(value):
        return f"{int(value)}"
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _frame(chart_id: str, title: str, height: int = HEIGHT) -> list[str]:
    return [
        f'<svg class="chart" data-chart="{escape(chart_id)}" role="img" '
        f'viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
        f'xmlns="http://www.w3.org/2000/svg" font-family="system-ui, sans-serif" font-size="12">',
        f"<title>{escape(title)}</title>",
        f'<text x="{MARGIN_LEFT}" y="20" font-size="14" font-weight="600">{escape(title)}</text>',
    ]


def _legend(names: Sequence[tuple[str, str, bool]], top: int = MARGIN_TOP) -> list[str]:
    parts = []
    x = WIDTH - MARGIN_RIGHT + 14
    for i, (name, colour, dashed) in enumerate(names):
        y = top + 8 + i * 18
        dash = ' stroke-dasharray="5 4"' if dashed else ""
        parts.append(
            f'<line x1="{x}" y1="{y}" x2="{x + 22}" y2="{y}" stroke="{colour}" '
            f'stroke-width="3"{dash}/>'
            f'<text x="{x + 28}" y="{y + 4}">{escape(name)}</text>'
        )
    return parts


def line_chart(
    chart_id: str,
    title: str,
    series: Sequence[Series],
    x_label: str,
    y_label: str,
    x_ticks: Sequence[tuple[float, str]] | None = None,
    x_range: tuple[float, float] | None = None,
    y_range: tuple[float, float] | None = None,
    diagonal: bool = False,
) -> str:
    """Lines (with point markers) on numeric axes; ``x_ticks`` labels positions, e.g. dates."""
    xs = [x for s in series for x in s.xs]
    ys = [y for s in series for y in s.ys if y is not None]
    x_low, x_high = x_range or (min(xs, default=0.0), max(xs, default=1.0))
    y_low, y_high = y_range or (min([0.0, *ys]), max(ys, default=1.0) * 1.08 or 1.0)
    if x_high == x_low:
        x_low, x_high = x_low - 0.5, x_high + 0.5
    if y_high == y_low:
        y_high = y_low + 1.0
    plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM

    def px(x: float) -> float:
        return MARGIN_LEFT + (x - x_low) / (x_high - x_low) * plot_w

    def py(y: float) -> float:
        return MARGIN_TOP + plot_h - (y - y_low) / (y_high - y_low) * plot_h

    parts = _frame(chart_id, title)
    for tick in _nice_ticks(y_low, y_high):
        parts.append(
            f'<line x1="{MARGIN_LEFT}" y1="{py(tick):.1f}" x2="{MARGIN_LEFT + plot_w}" '
            f'y2="{py(tick):.1f}" stroke="#e5e5e5"/>'
            f'<text x="{MARGIN_LEFT - 6}" y="{py(tick) + 4:.1f}" text-anchor="end">'
            f"{_fmt(tick)}</text>"
        )
    ticks = x_ticks if x_ticks is not None else [(t, _fmt(t)) for t in _nice_ticks(x_low, x_high)]
    step = max(1, math.ceil(len(ticks) / 8))  # at most ~8 labels so they never overlap
    for i, (x, label) in enumerate(ticks):
        if i % step:
            continue
        parts.append(
            f'<text x="{px(x):.1f}" y="{MARGIN_TOP + plot_h + 16}" text-anchor="middle">'
            f"{escape(label)}</text>"
        )
    parts.append(
        f'<line x1="{MARGIN_LEFT}" y1="{MARGIN_TOP + plot_h}" x2="{MARGIN_LEFT + plot_w}" '
        f'y2="{MARGIN_TOP + plot_h}" stroke="#333"/>'
        f'<line x1="{MARGIN_LEFT}" y1="{MARGIN_TOP}" x2="{MARGIN_LEFT}" '
        f'y2="{MARGIN_TOP + plot_h}" stroke="#333"/>'
        f'<text x="{MARGIN_LEFT + plot_w / 2:.1f}" y="{HEIGHT - 8}" text-anchor="middle">'
        f"{escape(x_label)}</text>"
        f'<text transform="translate(16 {MARGIN_TOP + plot_h / 2:.1f}) rotate(-90)" '
        f'text-anchor="middle">{escape(y_label)}</text>'
    )
    if diagonal:
        parts.append(
            f'<line x1="{px(x_low):.1f}" y1="{py(y_low):.1f}" x2="{px(x_high):.1f}" '
            f'y2="{py(y_high):.1f}" stroke="#999" stroke-dasharray="3 3"/>'
        )
    for s in series:
        points = [(px(x), py(y)) for x, y in zip(s.xs, s.ys, strict=True) if y is not None]
        if not points:
            continue
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        parts.append(
            f'<polyline class="mark" points="{path}" fill="none" stroke="{s.colour}" '
            f'stroke-width="2.5"{dash}><title>{escape(s.name)}</title></polyline>'
        )
        if s.markers:
            for (x, y), value in zip(points, [y for y in s.ys if y is not None], strict=True):
                parts.append(
                    f'<circle class="mark" cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{s.colour}">'
                    f"<title>{escape(s.name)}: {_fmt(float(value))}</title></circle>"
                )
    parts += _legend([(s.name, s.colour, s.dashed) for s in series])
    parts.append("</svg>")
    return "\n".join(parts)


def hbar_chart(
    chart_id: str, title: str, labels: Sequence[str], values: Sequence[float], colour: str
) -> str:
    """Horizontal bars, largest first as given, each labelled with its value."""
    row = 26
    height = MARGIN_TOP + row * max(1, len(labels)) + 16
    label_w = 150
    plot_w = WIDTH - label_w - 70
    top = max(values, default=1.0) or 1.0
    parts = _frame(chart_id, title, height)
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = MARGIN_TOP + i * row
        w = max(1.0, value / top * plot_w)
        parts.append(
            f'<text x="{label_w - 8}" y="{y + row / 2 + 4:.1f}" text-anchor="end">'
            f"{escape(label)}</text>"
            f'<rect class="mark" x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row - 8}" '
            f'fill="{colour}"><title>{escape(label)}: {_fmt(value)}</title></rect>'
            f'<text x="{label_w + w + 6:.1f}" y="{y + row / 2 + 4:.1f}">{_fmt(value)}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def matrix_chart(
    chart_id: str,
    title: str,
    matrix: Sequence[Sequence[int]],
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    row_title: str,
    col_title: str,
) -> str:
    """A confusion matrix: cells shaded by their share of the row, labelled with counts."""
    cell = 110
    left, top = 190, 70
    height = top + cell * len(row_labels) + 20
    parts = _frame(chart_id, title, height)
    parts.append(
        f'<text x="{left + cell * len(col_labels) / 2}" y="{top - 26}" text-anchor="middle" '
        f'font-weight="600">{escape(col_title)}</text>'
        f'<text x="14" y="{top - 26}" font-weight="600">{escape(row_title)}</text>'
    )
    for j, label in enumerate(col_labels):
        parts.append(
            f'<text x="{left + j * cell + cell / 2}" y="{top - 8}" text-anchor="middle">'
            f"{escape(label)}</text>"
        )
    for i, (label, counts) in enumerate(zip(row_labels, matrix, strict=True)):
        total = sum(counts) or 1
        parts.append(
            f'<text x="{left - 8}" y="{top + i * cell + cell / 2 + 4}" text-anchor="end">'
            f"{escape(label)}</text>"
        )
        for j, count in enumerate(counts):
            share = count / total
            colour = COLOURS["green"] if i == j else COLOURS["policy_failure"]
            text_colour = "#fff" if share > 0.5 else "#111"
            parts.append(
                f'<rect class="mark" x="{left + j * cell}" y="{top + i * cell}" width="{cell}" '
                f'height="{cell}" fill="{colour}" fill-opacity="{0.12 + 0.8 * share:.2f}" '
                f'stroke="#fff"><title>{count} ({share:.0%} of row)</title></rect>'
                f'<text x="{left + j * cell + cell / 2}" y="{top + i * cell + cell / 2}" '
                f'text-anchor="middle" fill="{text_colour}" font-size="16">{count}</text>'
                f'<text x="{left + j * cell + cell / 2}" y="{top + i * cell + cell / 2 + 18}" '
                f'text-anchor="middle" fill="{text_colour}">{share:.0%}</text>'
            )
    parts.append("</svg>")
    return "\n".join(parts)
