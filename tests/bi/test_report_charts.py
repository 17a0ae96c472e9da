"""The report's charts: real date axes (a gap between backfilled ranges stays a gap), one
shared copy of plotly.js beside the reports, and a page that says what is missing without it.

The browser test ingests two ranges of generated dates 26 days apart through the real stages
(no model: the volumes chart needs only the clean partitions' manifests), builds the report
and opens it in headless Chromium.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from servicelens.reporting.charts import (
    COLOURS,
    MAX_LINE_POINTS,
    Series,
    hbar_chart,
    library_script_name,
    line_chart,
    matrix_chart,
    write_library_script,
)
from servicelens.reporting.report import build_report
from servicelens.settings import Settings
from servicelens.stages import publish_clean, validate_day
from servicelens.synthetic.generator import generate
from tests.bi.browser import render_in_chromium, x_steps

FIRST = [date(2026, 9, 1), date(2026, 9, 2)]
#: 26 days with no data between the two ranges: 3 to 28 September.
SECOND = [date(2026, 9, 29), date(2026, 9, 30)]


SPEC = re.compile(r'<script type="application/json" class="chart-spec">(.*?)</script>')


def _spec(fragment: str) -> dict:
    found = SPEC.search(fragment)
    assert found
    spec: dict = json.loads(found.group(1))
    return spec


def _every_kind_of_chart() -> list[str]:
    days = [*FIRST, *SECOND]
    return [
        line_chart(
            "volumes", "t", [Series("read", days, [10, 12, 11, 9], COLOURS["neutral"])], "d", "n"
        ),
        line_chart(
            "calibration",
            "t",
            [Series("model", [0.1, 0.9], [0.2, 0.8], COLOURS["policy_failure"], True, False)],
            "p",
            "share",
            x_ticks=[(0.0, "0"), (1.0, "1")],
            x_range=(0.0, 1.0),
            y_range=(0.0, 1.0),
            diagonal=True,
        ),
        hbar_chart("top", "t", ["P1", "P2"], [3.0, 1.5], COLOURS["perceived"]),
        matrix_chart("confusion", "t", [[5, 1], [2, 7]], ["a", "b"], ["a", "b"], "QA", "model"),
    ]


@pytest.mark.parametrize("index", range(4))
def test_every_kind_of_chart_is_a_valid_plotly_figure(index: int) -> None:
    import plotly.graph_objects as go

    spec = _spec(_every_kind_of_chart()[index])
    figure = go.Figure(spec)  # validates every property against plotly.js's schema
    assert len(figure.data) == len(spec["data"])
    with pytest.raises(ValueError, match="colour"):
        go.Figure({**spec, "layout": {**spec["layout"], "colour": "red"}})


def test_a_missing_day_breaks_the_line_and_dates_are_a_date_axis() -> None:
    days = [*FIRST, *SECOND]
    fragment = line_chart(
        "volumes", "t", [Series("read", days, [10, 12, 11, 9], COLOURS["neutral"])], "day", "n"
    )
    spec = _spec(fragment)
    (trace,) = spec["data"]
    assert trace["x"] == ["2026-09-01", "2026-09-02", "2026-09-03", "2026-09-29", "2026-09-30"]
    assert trace["y"] == [10, 12, None, 11, 9]
    assert trace["connectgaps"] is False
    assert spec["layout"]["xaxis"]["type"] == "date"
    assert trace["line"]["color"] == COLOURS["neutral"] == "#555555"


def test_a_monthly_sources_months_are_one_line_broken_only_by_a_missing_month() -> None:
    """Found by a new user's trial: CFPB's months (each named by its first day) were drawn
    as isolated dots, every month followed by a break at its second day."""
    months = [date(2023, 11, 1), date(2023, 12, 1), date(2024, 1, 1), date(2024, 3, 1)]
    series = [Series("read", months, [5, 6, 7, 8], COLOURS["neutral"])]
    (trace,) = _spec(line_chart("volumes", "t", series, "month", "n", monthly=True))["data"]
    assert trace["x"] == ["2023-11-01", "2023-12-01", "2024-01-01", "2024-02-01", "2024-03-01"]
    assert trace["y"] == [5, 6, 7, None, 8]


def test_numeric_axes_keep_their_points_and_ticks() -> None:
    fragment = line_chart(
        "c",
        "t",
        [Series("model", [0.1, 0.5, 0.9], [0.2, 0.4, None], COLOURS["policy_failure"])],
        "p",
        "share",
        x_ticks=[(0.0, "none"), (1.0, "all")],
        y_range=(0.0, 1.0),
        diagonal=True,
    )
    spec = _spec(fragment)
    assert spec["data"][0]["x"] == [0.1, 0.5, 0.9]
    assert spec["data"][0]["y"] == [0.2, 0.4, None]
    assert spec["layout"]["xaxis"]["ticktext"] == ["none", "all"]
    assert spec["layout"]["yaxis"]["range"] == [0.0, 1.0]
    assert spec["layout"]["shapes"][0]["type"] == "line"


def test_a_closing_tag_in_a_label_cannot_end_the_script_element() -> None:
    fragment = line_chart(
        "c", "</script><b>x", [Series("a</script>", [1.0], [2.0], "#000")], "x", "y"
    )
    assert fragment.count("</script>") == 1
    assert _spec(fragment)["data"][0]["name"] == "a</script>"


def test_the_library_script_is_written_once_and_old_versions_go_when_unused(
    tmp_path: Path,
) -> None:
    script = write_library_script(tmp_path)
    assert script.name == library_script_name()
    assert script.read_bytes().startswith(b"/**\n* plotly.js v")
    written = script.stat().st_mtime_ns
    assert write_library_script(tmp_path).stat().st_mtime_ns == written  # not rewritten
    script.write_text("damaged")
    assert write_library_script(tmp_path).read_bytes().startswith(b"/**\n* plotly.js v")
    # A script of another version stays while a report refers to it, and goes after.
    old = tmp_path / "plotly-0.0.1.min.js"
    old.write_text("old")
    report = tmp_path / "report-1.html"
    report.write_text('<script src="plotly-0.0.1.min.js"></script>')
    write_library_script(tmp_path)
    assert old.exists()
    report.write_text(f'<script src="{script.name}"></script>')
    write_library_script(tmp_path)
    assert not old.exists()
    assert sorted(p.name for p in tmp_path.glob("plotly-*")) == [script.name]


def test_a_new_report_prunes_the_folder_to_report_keep_and_their_old_script(
    tmp_path: Path,
) -> None:
    settings = replace(Settings(data_dir=str(tmp_path / "data")), report_keep=2)
    reports = settings.reports_dir
    reports.mkdir(parents=True)
    old = [reports / f"report-2026110{day}T020000Z.html" for day in (1, 2, 3)]
    for path in old:
        path.write_text('<script src="plotly-0.0.1.min.js"></script>')
    (reports / "plotly-0.0.1.min.js").write_text("old")
    (reports / "notes.html").write_text("not a report")
    result = build_report(settings)
    assert sorted(p.name for p in reports.glob("*.html")) == sorted(
        [old[2].name, result.path.name, "latest.html", "notes.html"]
    )
    # The script only the deleted reports used goes; the one still referenced stays.
    assert (reports / "plotly-0.0.1.min.js").exists()
    old[2].unlink()
    build_report(settings)
    assert sorted(p.name for p in reports.glob("plotly-*")) == [library_script_name()]


@pytest.fixture(scope="module")
def two_ranges(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("gap")
    for days in (FIRST, SECOND):
        generate(root, days[0], days[-1], per_day=120, seed=5, mess=False)
    settings = Settings(data_dir=str(root))
    for day in (*FIRST, *SECOND):
        publish_clean(settings, validate_day(settings, day, "gap-run"), {"run_id": "gap-run"})
    build_report(settings)
    return settings


def test_a_gap_between_backfilled_ranges_is_visible_in_chromium(
    two_ranges: Settings, tmp_path: Path
) -> None:
    charts, _ = render_in_chromium(two_ranges.reports_dir / "latest.html", tmp_path / "profile")
    volumes = charts["volumes"]
    assert volumes["width"] > 300 and volumes["height"] > 150
    # Five series (read, kept, negatives, rejected, superseded), a point for each of the
    # four dates.
    assert volumes["marks"] == 5 * 4
    assert volumes["segments"] == 2  # every line stops at the gap and starts again after it
    one_day, gap, after = x_steps(volumes)
    assert after == pytest.approx(one_day, rel=0.02)
    assert gap == pytest.approx(27 * one_day, rel=0.02)  # 29 Sep is 27 days after 2 Sep


def test_without_the_shared_script_each_chart_names_the_file_it_needs(
    two_ranges: Settings, tmp_path: Path
) -> None:
    page = tmp_path / "sent-alone.html"
    page.write_text((two_ranges.reports_dir / "latest.html").read_text())
    charts, dom = render_in_chromium(page, tmp_path / "profile")
    assert charts == {}
    shown = re.findall(
        r'<div class="chart" data-chart="([^"]+)"[^>]*><p class="chart-missing">'
        r"This chart needs ([^,]+), ",
        dom,
    )
    assert shown == [("volumes", library_script_name())]


def test_a_long_line_without_markers_is_thinned_and_keeps_its_ends() -> None:
    n = 200_000
    xs = [i / (n - 1) for i in range(n)]
    curve = Series("model", xs, [1 - x * x for x in xs], COLOURS["policy_failure"], markers=False)
    dotted = Series("points", xs[:3000], [0.5] * 3000, COLOURS["neutral"])
    (line, points) = _spec(line_chart("pr", "t", [curve, dotted], "recall", "precision"))["data"]
    assert len(line["x"]) == MAX_LINE_POINTS
    assert (line["x"][0], line["y"][0]) == (0.0, 1.0)
    assert (line["x"][-1], line["y"][-1]) == (1.0, 0.0)
    assert line["x"] == sorted(line["x"])
    assert len(points["x"]) == 3000  # every marker is a value someone can point at: all kept


def test_a_series_mixing_dates_and_numbers_is_refused() -> None:
    with pytest.raises(TypeError, match="series 'read' mixes dates and numbers"):
        line_chart("v", "t", [Series("read", [FIRST[0], 2.0], [1, 2], "#000")], "d", "n")


def test_a_partition_holding_no_row_is_not_a_date_of_the_report(tmp_path: Path) -> None:
    """A partition whose rows all moved to their own dates when a fixed definition landed
    its delivery again: an analyst's trial read the report's dates as running to it, its
    quarantine share as ``nan``, and Volumes counted it as a date."""
    day, moved = date(2026, 10, 1), date(2026, 10, 9)
    generate(tmp_path, day, day, per_day=60, seed=5, mess=False)
    settings = Settings(data_dir=str(tmp_path))
    publish_clean(settings, validate_day(settings, day, "one"), {"run_id": "one"})
    empty = settings.clean_dir / f"survey_date={moved}"
    empty.mkdir()
    counts = dict.fromkeys(("surveys_read", "kept", "quarantined", "negatives"), 0)
    (empty / "_manifest.json").write_text(
        json.dumps({"survey_date": str(moved), "run_id": "two", "counts": counts})
    )
    html = build_report(settings).latest.read_text()
    assert f"{day}..{day}" in html and str(moved) not in html.split("<h2>")[0]
    assert "nan" not in re.sub(r"<script.*?</script>", "", html, flags=re.S)
    assert "1 more partition(s) hold no row" in html


def test_a_language_group_too_small_to_judge_shows_its_size_alone() -> None:
    """Found by a data scientist's trial: the report's "Holdout by comment language" read
    ``missing 2 1.000`` for a two-row group, which `models show` already left unscored."""
    from servicelens.reporting.report import _design_and_review

    html = _design_and_review(
        {
            "by_group": {
                "language": {
                    "en": {"n": 400, "accuracy": 0.8},
                    "missing": {"n": 2, "accuracy": 1.0},
                }
            }
        }
    )
    assert '<td>en</td><td class="num">400</td><td class="num">0.800</td>' in html
    assert '<td>missing</td><td class="num">2</td><td class="null">-</td>' in html


def test_a_source_without_comment_languages_has_no_holdout_by_language() -> None:
    """Found by a contact centre's trial of a call log without text: every holdout row's
    language was missing, and a table of that one group restated the holdout."""
    from servicelens.reporting.report import _design_and_review

    one_group = {"language": {"missing": {"n": 156, "accuracy": 0.66}}}
    assert "Holdout by comment language" not in _design_and_review({"by_group": one_group})


def test_the_top_policies_rank_the_calibrated_estimate_not_the_decisions(tmp_path: Path) -> None:
    """Found by a BI developer's trial: the charts of most failures and most perceived
    complaints summed the model's decisions, which under-counted every sample policy's
    failures; they sum the calibrated estimate (expected_policy_failures), as
    `servicelens query policies_by_root_cause` does. A day written before daily_summary
    version 6 (no estimate) takes its scored responses' probabilities, as the query does:
    its decisions stood in until a platform engineer's upgrade saw the chart draw an old
    decision count where the same rows summed to more."""
    import polars as pl

    from servicelens.reporting.report import _Inputs, _top_policies

    new, old = date(2026, 9, 2), date(2026, 9, 1)
    summary = pl.DataFrame(
        {
            "survey_date": [new, new, old],
            "policy_code": ["GREET", "CONDUCT", "CONDUCT"],
            "perceived": [60, 50, 5],
            "policy_failures": [40, 50, 5],
            "expected_policy_failures": [70.4, 20.0, None],
        }
    )
    scored = pl.DataFrame(
        {
            "survey_date": [old] * 11,
            "policy_code": ["CONDUCT"] * 11,
            "is_negative": [True] * 10 + [False],
            "p_policy_failure": [0.62] * 10 + [0.99],
        }
    )
    settings = Settings(data_dir=str(tmp_path))
    inputs = _Inputs(settings, pl.DataFrame(), scored, summary, None, None, None, None, None)
    bars = {
        bar["name"]: bar
        for spec in SPEC.findall(_top_policies(inputs))
        for bar in json.loads(spec)["data"]
    }
    failures = bars["Most real failures (estimated): fix the operation"]
    # CONDUCT: 20.0 estimated on the new day, 6.2 from the old day's ten negatives (not its
    # 5 decisions; the response that is not negative counts for nothing).
    assert (failures["y"], failures["x"]) == (["GREET", "CONDUCT"], [70.0, 26.0])
    perceived = bars["Most perceived complaints (estimated): fix how expectations are set"]
    assert (perceived["y"], perceived["x"]) == (["CONDUCT", "GREET"], [84.0, 30.0])


def test_charts_leave_out_what_no_model_scored_rather_than_draw_0(tmp_path: Path) -> None:
    """Found with a user's trial of policies_by_root_cause (0.0 expected failures beside
    "not scored yet"): a date or policy whose negatives no model scored was drawn as 0 of
    each kind, its groups without negatives holding 0s that summed with the unscored
    groups' nulls. The trend has a gap there; the top policies leave such a policy out."""
    import polars as pl

    from servicelens.reporting.report import _Inputs, _top_policies, _trend

    before, after = date(2026, 9, 1), date(2026, 9, 2)
    summary = pl.DataFrame(
        {
            "survey_date": [before, before, before, after, after],
            "policy_code": ["FEE", "REFUND", "WINDOW", "FEE", "GREET"],
            "negatives": [3, 2, 0, 2, 4],
            "perceived": [None, None, 0, 1, 1],
            "policy_failures": [None, None, 0, 1, 3],
            "expected_policy_failures": [None, None, 0.0, 1.2, 2.5],
        },
        schema_overrides={"perceived": pl.UInt32, "policy_failures": pl.UInt32},
    )
    settings = Settings(data_dir=str(tmp_path))
    inputs = _Inputs(settings, pl.DataFrame(), None, summary, None, None, None, None, None)
    lines = {
        line["name"]: line["y"]
        for spec in SPEC.findall(_trend(inputs))
        for line in json.loads(spec)["data"]
    }
    assert lines == {"policy failure": [None, 4], "perceived": [None, 2]}
    bars = {
        bar["name"]: dict(zip(bar["y"], bar["x"], strict=True))
        for spec in SPEC.findall(_top_policies(inputs))
        for bar in json.loads(spec)["data"]
    }
    assert bars["Most real failures (estimated): fix the operation"] == {"GREET": 2.0, "FEE": 1.0}
