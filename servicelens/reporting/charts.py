"""The run report's charts, drawn by Plotly: real date axes, hover values, zoom, series that
can be hidden from the legend, and no network.

Why Plotly: its Python wheel ships the whole plotly.js bundle (``plotly/package_data``) as
one file, so a page works offline with nothing fetched; its Python package validates a
figure against plotly.js's schema (the tests do so for every kind of chart here, so a
misspelt option fails a test, not a browser); and analysts know its charts from Evidently's
reports. Bokeh also ships its JavaScript in its wheel and
was the close second; Altair's Vega JavaScript comes from a CDN unless another package
(vl-convert) inlines it into every page, which the reports, one per run, should not repeat.

How a chart reaches the page: each function here returns an HTML fragment, a ``<div
class="chart" data-chart="<id>">`` followed by the figure as JSON. :func:`page_scripts` draws
every such div when the page loads and then writes a render check into the page
(``<output id="render-check">``) saying, per chart, its size, how many data marks were drawn
with a non-zero size, how many separate line segments its longest-broken trace has and the
pixel x positions of its first trace's points, so a headless browser can tell drawn charts
from empty boxes and see that a gap between dates stays a gap.

The reports of every run share one copy of plotly.js: :func:`write_library_script` writes
``plotly-<version>.min.js`` beside them once, and :func:`page_head` references it relatively.

The figures are written as plain JSON in Plotly's figure schema: building Plotly's Python
objects for seven charts took a second of every report, and the page needs only the JSON.
Plotly's Python package is used for its plotly.js and, in the tests, its schema.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from html import escape
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from servicelens.dates import next_period

WIDTH = 640
HEIGHT = 320
#: A line without markers (a precision-recall curve has a point per distinct score: a
#: million-row date gives 200,000) is drawn through at most this many of its points, evenly
#: spread along it, first and last kept: more than the chart has pixels across.
MAX_LINE_POINTS = 1500

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

#: plotly.js as the Python wheel ships it (the version is read from the file's banner).
_PLOTLY_JS = ("plotly", "package_data/plotly.min.js")
_FONT = "system-ui, -apple-system, 'Segoe UI', sans-serif"
#: Plotly's mode bar without the buttons that need a server or a selection tool.
_CONFIG = {
    "displaylogo": False,
    "responsive": True,
    "modeBarButtonsToRemove": ["select2d", "lasso2d"],
}


@dataclass(frozen=True)
class Series:
    """One line of a line chart.

    ``xs`` are numbers or calendar dates (then the chart has a date axis: dates are placed
    by their real distance, and a day missing between two dates breaks the line there).
    ``ys`` may hold ``None`` where a value is unknown; the line breaks there too.
    """

    name: str
    xs: Sequence[float] | Sequence[date]
    ys: Sequence[float | None]
    colour: str
    dashed: bool = False
    markers: bool = True
    #: False draws the points only (a scatter plot).
    line: bool = True


def _with_gaps(
    xs: Sequence[date], ys: Sequence[float | None], monthly: bool = False
) -> tuple[list[date], list[float | None]]:
    """Points sorted by date with a ``None`` after every date whose next period (day, or
    with ``monthly`` month: points named by a month's first day) is missing.

    Plotly joins consecutive points whatever lies between them; the ``None`` makes it stop
    the line at the last day that has data and start again at the next (``connectgaps`` is
    off), so two backfilled ranges with weeks between them are drawn as two lines.
    """
    points = sorted(zip(xs, ys, strict=True), key=lambda point: point[0])
    out_x: list[date] = []
    out_y: list[float | None] = []
    for i, (x, y) in enumerate(points):
        out_x.append(x)
        out_y.append(y)
        following = next_period(x, "month" if monthly else "day")
        if i + 1 < len(points) and points[i + 1][0] > following:
            out_x.append(following)
            out_y.append(None)
    return out_x, out_y


def _thinned(xs: list[Any], ys: list[float | None]) -> tuple[list[Any], list[float | None]]:
    """At most :data:`MAX_LINE_POINTS` points of a line, evenly spread, ends kept."""
    if len(xs) <= MAX_LINE_POINTS:
        return xs, ys
    last = len(xs) - 1
    keep = sorted({round(i * last / (MAX_LINE_POINTS - 1)) for i in range(MAX_LINE_POINTS)})
    return [xs[i] for i in keep], [ys[i] for i in keep]


def _layout(title: str, height: int = HEIGHT, **extra: Any) -> dict[str, Any]:
    """The layout every chart shares; ``extra`` adds or replaces top-level keys."""
    axis = {"showline": True, "linecolor": "#333", "zeroline": False}
    layout: dict[str, Any] = {
        "title": {"text": title, "x": 0.0, "xanchor": "left", "font": {"size": 15}},
        "font": {"family": _FONT, "size": 12, "color": "#111"},
        "colorway": list(COLOURS.values()),
        "paper_bgcolor": "#fff",
        "plot_bgcolor": "#fff",
        "height": height,
        "margin": {"l": 64, "r": 16, "t": 48, "b": 48},
        "hoverlabel": {"font": {"family": _FONT}},
        "hovermode": "closest",
        "legend": {"itemclick": "toggle", "itemdoubleclick": "toggleothers"},
        "xaxis": {**axis, "gridcolor": "#eee"},
        "yaxis": {**axis, "gridcolor": "#e5e5e5"},
    }
    layout.update(extra)
    return layout


def _axis(layout: dict[str, Any], name: str, **settings: Any) -> None:
    layout[name] = {**layout[name], **settings}


def _json_value(value: object) -> object:
    """Dates as ISO text (what Plotly's date axes read), numpy scalars as Python numbers."""
    if isinstance(value, date):
        return value.isoformat()
    item = getattr(value, "item", None)
    if callable(item):
        return item()
    raise TypeError(f"a chart cannot hold {type(value).__name__} values: {value!r}")


def _fragment(chart_id: str, title: str, data: list[dict[str, Any]], layout: dict[str, Any]) -> str:
    """The chart's ``<div>`` and its figure as JSON, for :func:`page_scripts` to draw.

    The figure is written as plain JSON in Plotly's figure schema (tests check every chart
    kind against the schema with ``plotly.graph_objects``; building those objects on every
    report cost a second for seven charts).
    """
    spec = json.dumps({"data": data, "layout": layout}, default=_json_value, allow_nan=False)
    # "</" would end the <script> element early; "<\/" is the same JSON string.
    spec = spec.replace("</", "<\\/")
    return (
        f'<div class="chart" data-chart="{escape(chart_id)}" role="img" '
        f'aria-label="{escape(title)}" style="width:{WIDTH}px;height:{layout["height"]}px">'
        f'</div><script type="application/json" class="chart-spec">{spec}</script>'
    )


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
    monthly: bool = False,
) -> str:
    """Lines (with point markers unless a series says otherwise), as an HTML fragment.

    With dates as ``xs`` the x axis is a date axis and hovering shows every series' value
    for the day under the pointer (with ``monthly``, each date names its month: a line
    breaks only where a month is missing); otherwise the nearest point's x and y. ``x_ticks`` puts
    labels at numeric positions; ``x_range``/``y_range`` fix an axis (e.g. (0, 1) for
    probabilities); ``diagonal`` draws the dashed y = x line of a calibration chart.
    The y axis starts at zero unless ``y_range`` says otherwise or a value is negative.
    Raises TypeError for a series that mixes dates and numbers.
    """
    dated = any(len(s.xs) and isinstance(s.xs[0], date) for s in series)
    data = []
    for s in series:
        xs: list[Any] = list(s.xs)
        ys = list(s.ys)
        if dated:
            days = [x for x in s.xs if isinstance(x, date)]
            if len(days) != len(xs):
                raise TypeError(
                    f"line_chart {chart_id!r}: series {s.name!r} mixes dates and numbers"
                )
            xs, ys = _with_gaps(days, ys, monthly)
        if not s.markers:
            xs, ys = _thinned(xs, ys)
        hover = (
            "%{y:,}" if dated else f"{escape(x_label)} %{{x:.3~f}}<br>{escape(y_label)} %{{y:.3~f}}"
        )
        data.append(
            {
                "type": "scatter",
                "x": xs,
                "y": ys,
                "name": s.name,
                "mode": "markers" if not s.line else "lines+markers" if s.markers else "lines",
                "connectgaps": False,
                "line": {"color": s.colour, "width": 2.5, "dash": "dash" if s.dashed else "solid"},
                "marker": {"color": s.colour, "size": 6},
                "hovertemplate": f"{hover}<extra>{escape(s.name)}</extra>",
            }
        )
    layout = _layout(title)
    _axis(layout, "xaxis", title={"text": x_label})
    _axis(layout, "yaxis", title={"text": y_label}, tickformat=",~r")
    if dated:
        layout["hovermode"] = "x unified"
        _axis(
            layout,
            "xaxis",
            type="date",
            hoverformat="%a %d %b %Y",
            tickformatstops=[
                {"dtickrange": [None, 86_400_000], "value": "%d %b %H:%M"},
                {"dtickrange": [86_400_000, "M1"], "value": "%d %b"},
                {"dtickrange": ["M1", None], "value": "%b %Y"},
            ],
        )
    if x_ticks is not None:
        _axis(
            layout,
            "xaxis",
            tickmode="array",
            tickvals=[position for position, _ in x_ticks],
            ticktext=[label for _, label in x_ticks],
        )
    if x_range is not None:
        _axis(layout, "xaxis", range=list(x_range))
    if y_range is not None:
        _axis(layout, "yaxis", range=list(y_range))
    else:
        _axis(layout, "yaxis", rangemode="tozero")
    if diagonal:
        low, high = x_range or (0.0, 1.0)
        layout["shapes"] = [
            {
                "type": "line",
                "x0": low,
                "y0": low,
                "x1": high,
                "y1": high,
                "line": {"color": "#999", "dash": "dot", "width": 1.5},
                "layer": "below",
            }
        ]
    return _fragment(chart_id, title, data, layout)


def hbar_chart(
    chart_id: str, title: str, labels: Sequence[str], values: Sequence[float], colour: str
) -> str:
    """Horizontal bars in the order given (first on top), each labelled with its value."""
    bar = {
        "type": "bar",
        "x": list(values),
        "y": list(labels),
        "orientation": "h",
        "marker": {"color": colour},
        "text": [f"{v:,.0f}" if float(v).is_integer() else f"{v:,.2f}" for v in values],
        "textposition": "outside",
        "cliponaxis": False,
        "hovertemplate": "%{y}: %{x:,}<extra></extra>",
        "name": title,
    }
    layout = _layout(title, max(HEIGHT - 120, 90 + 30 * len(labels)), showlegend=False)
    layout["margin"] = {**layout["margin"], "l": 140, "r": 56}
    _axis(layout, "yaxis", autorange="reversed", type="category", showgrid=False)
    _axis(layout, "xaxis", rangemode="tozero", tickformat=",~r")
    return _fragment(chart_id, title, [bar], layout)


def matrix_chart(
    chart_id: str,
    title: str,
    matrix: Sequence[Sequence[int]],
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    row_title: str,
    col_title: str,
) -> str:
    """A confusion matrix: each cell labelled with its count and its share of the row,
    shaded green on the diagonal (agreement) and vermilion off it, deeper for a larger share.
    """
    signed = []
    labels = []
    cells = []
    for i, counts in enumerate(matrix):
        total = sum(counts) or 1
        # One colour scale for both kinds of cell: agreement above zero, error below.
        signed.append([c / total if i == j else -c / total for j, c in enumerate(counts)])
        labels.append([f"{c:,}<br>{c / total:.0%}" for c in counts])
        cells.append([[c, c / total] for c in counts])
    heatmap = {
        "type": "heatmap",
        "z": signed,
        "x": list(col_labels),
        "y": list(row_labels),
        "text": labels,
        "texttemplate": "%{text}",
        "textfont": {"size": 15},
        "customdata": cells,
        "zmin": -1.0,
        "zmax": 1.0,
        "colorscale": [
            [0.0, COLOURS["policy_failure"]],
            [0.5, "#ffffff"],
            [1.0, COLOURS["green"]],
        ],
        "showscale": False,
        "xgap": 2,
        "ygap": 2,
        "hovertemplate": (
            f"{escape(row_title)}: %{{y}}<br>{escape(col_title)}: %{{x}}<br>"
            "%{customdata[0]:,} rows (%{customdata[1]:.0%} of the row)<extra></extra>"
        ),
        "name": title,
    }
    layout = _layout(title, 150 + 110 * len(row_labels), showlegend=False)
    layout["margin"] = {**layout["margin"], "l": 150, "t": 100}
    _axis(layout, "xaxis", title={"text": col_title}, side="top", showline=False, type="category")
    _axis(
        layout,
        "yaxis",
        title={"text": row_title},
        autorange="reversed",
        showline=False,
        type="category",
    )
    return _fragment(chart_id, title, [heatmap], layout)


# --- the page around the charts -------------------------------------------------------------


@functools.cache
def _library() -> tuple[bytes, str]:
    """plotly.js from the installed wheel and its version (from the file's banner)."""
    package, name = _PLOTLY_JS
    # Found, not imported: importing plotly runs its package set-up, which the page never needs.
    spec = find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"{package} is not installed: run `make env`")
    source = (Path(spec.submodule_search_locations[0]) / name).read_bytes()
    banner = source[:200].decode("ascii", "replace")
    marker = "plotly.js v"
    start = banner.find(marker)
    if start < 0:
        raise RuntimeError(
            f"the installed {package}/{name} has no version banner: reinstall plotly"
        )
    version = banner[start + len(marker) :].split()[0]
    return source, version


def library_script_name() -> str:
    """The file name of the shared plotly.js beside the reports, e.g. ``plotly-4.1.1.min.js``."""
    return f"plotly-{_library()[1]}.min.js"


def write_library_script(folder: Path) -> Path:
    """Write the installed plotly.js into ``folder`` once, for every report there to share.

    A file of that version already present is checked (SHA-256) and replaced only when it
    differs, so a damaged copy is mended. Scripts of other plotly versions are deleted once no
    ``*.html`` in ``folder`` references them: older reports keep the script they were drawn
    with, and the folder holds one copy per plotly version still in use.
    """
    source, version = _library()
    target = folder / f"plotly-{version}.min.js"
    if not target.exists() or _sha256(target.read_bytes()) != _sha256(source):
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_bytes(source)
        tmp.replace(target)
    older = [p for p in folder.glob("plotly-*.min.js") if p != target]
    if older:
        in_use = {
            name
            for page in folder.glob("*.html")
            for name in (p.name for p in older)
            if name in page.read_text(encoding="utf-8", errors="replace")
        }
        for script in older:
            if script.name not in in_use:
                script.unlink(missing_ok=True)
    return target


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def page_head() -> str:
    """What the page's ``<head>`` needs for the charts: the shared plotly.js and chart CSS."""
    return (
        f'<script src="{escape(library_script_name())}" charset="utf-8"></script>'
        "<style>div.chart { background: #fff; border: 1px solid #eee; margin: 0.5rem 0; }"
        "div.chart p.chart-missing { padding: 1rem; color: #8a5a00; }</style>"
    )


# Draws every chart once the page has loaded, then measures what was drawn and writes it
# into the page, so a headless browser (and the test) can tell drawn charts from empty boxes.
_PAGE_SCRIPT = """
<output id="render-check" hidden></output>
<script>
window.addEventListener("load", function () {
  var charts = Array.prototype.slice.call(document.querySelectorAll("div.chart[data-chart]"));
  var out = document.getElementById("render-check");
  function specOf(div) { return JSON.parse(div.nextElementSibling.textContent); }
  function finish(result) {
    out.textContent = JSON.stringify(result);
    out.setAttribute("data-done", "yes");
  }
  if (typeof Plotly === "undefined") {
    charts.forEach(function (div) {
      div.innerHTML = '<p class="chart-missing">This chart needs __SCRIPT__, which is written '
        + 'beside the report: open the report from its own folder.</p>';
    });
    finish({});
    return;
  }
  function visible(el) {
    var b = el.getBBox ? el.getBBox() : el.getBoundingClientRect();
    return b.width > 0 || b.height > 0;
  }
  function measure(div) {
    var box = div.getBoundingClientRect();
    var marks = 0, segments = 0, xs = [];
    div.querySelectorAll(".scatterlayer .trace").forEach(function (trace, i) {
      trace.querySelectorAll("path.point").forEach(function (p) {
        if (!visible(p)) { return; }
        marks += 1;
        var m = /translate\\(([-\\d.e]+)/.exec(p.getAttribute("transform") || "");
        if (i === 0 && m) { xs.push(parseFloat(m[1])); }
      });
      // Plotly draws each unbroken piece of a line as its own path (or as another "M").
      var pieces = 0;
      trace.querySelectorAll("path.js-line").forEach(function (line) {
        var d = line.getAttribute("d") || "";
        if (visible(line)) { pieces += (d.match(/M/g) || []).length; }
      });
      segments = Math.max(segments, pieces);
      if (!trace.querySelector("path.point")) { marks += pieces; }
    });
    div.querySelectorAll(".barlayer .point path").forEach(function (p) {
      if (visible(p)) { marks += 1; }
    });
    div.querySelectorAll(".heatmaplayer text").forEach(function (t) {
      if (visible(t) && t.textContent) { marks += 1; }
    });
    return {width: box.width, height: box.height, marks: marks, segments: segments, x_px: xs};
  }
  Promise.all(charts.map(function (div) {
    var spec = specOf(div);
    return Plotly.newPlot(div, spec.data, spec.layout, __CONFIG__);
  })).then(function () {
    var result = {};
    charts.forEach(function (div) { result[div.dataset.chart] = measure(div); });
    finish(result);
  }, function (error) {
    finish({error: String(error)});
  });
});
</script>
"""


def page_scripts() -> str:
    """The end of the page's ``<body>``: draws every chart and writes the render check."""
    return _PAGE_SCRIPT.replace("__SCRIPT__", escape(library_script_name())).replace(
        "__CONFIG__", json.dumps(_CONFIG)
    )
