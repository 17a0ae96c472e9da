"""The run report of a data directory that holds only configured sources (real Prefect, real
field exports landed from the inboxes): the nightly run writes each source's report, never
the sample's empty page, and ``servicelens run`` names the reports it wrote; the Sources table
counts a source's negatives even when no model has scored them."""

from __future__ import annotations

import contextlib
import io
import re
import shutil
from datetime import date
from html import unescape
from pathlib import Path

import polars as pl
import pytest

from servicelens.ingest.configured import register_source
from servicelens.settings import SURVEYS_FILE, Settings
from servicelens.storage.partitions import scan_table

ROOT = Path(__file__).resolve().parents[2]
FIELD = ROOT.parent / "shared" / "field"
CALLS = FIELD / "10-call-centre-dayfirst-excel" / "sample.csv"
CFPB = FIELD / "08-cfpb-official-download" / "sample.csv"
DEFINITION = ROOT / "tests" / "sources" / "definitions" / "call-centre.toml"
#: The nightly run's date: after every row of both field samples.
NIGHT = date(2023, 9, 1)
#: The sample's report of a data directory without sample dates says this.
EMPTY_SAMPLE = "Survey dates None"

pytestmark = pytest.mark.skipif(not FIELD.exists(), reason=f"field samples not at {FIELD}")


def _sources_table(html: str) -> list[dict[str, str]]:
    """The report's Sources table as one dict per row, header -> cell text."""
    section = re.search(r'<section id="sources">(.*?)</section>', html, re.S)
    assert section, "the report has no Sources section"
    head = [unescape(h) for h in re.findall(r"<th>(.*?)</th>", section.group(1))]
    body = re.findall(r"<tr>((?:<td.*?</td>)+)</tr>", section.group(1))
    return [
        dict(zip(head, (unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", r)), strict=True))
        for r in body
    ]


def _about(report: Path) -> str:
    """The source a report's sections are about (its Sources section says so)."""
    found = re.findall(r"the sections below are about <code>(.*?)</code>", report.read_text())
    assert len(found) == 1, report
    return unescape(found[0])


@pytest.fixture(scope="module")
def sources_only(
    prefect_api: None, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Settings, list[Settings], list[str]]:
    """A data directory with two configured sources and no sample dates, after one
    ``servicelens run``: its settings, the sources' settings, and the lines it printed."""
    from servicelens.cli.main import main

    data = str(tmp_path_factory.mktemp("sources-only") / "data")
    base = Settings(data_dir=data)
    sources = [register_source(base, "cfpb"), register_source(base, str(DEFINITION))]
    for source, export in zip(sources, (CFPB, CALLS), strict=True):
        shutil.copyfile(export, source.inbox_dir / export.name)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["--data-dir", data, "run", "--date", NIGHT.isoformat()]) == 0
    return base, sources, printed.getvalue().splitlines()


@pytest.mark.slow
def test_the_sources_table_counts_negatives_that_no_model_scored(
    sources_only: tuple[Settings, list[Settings], list[str]],
) -> None:
    """A source without a model shows its negatives beside the 0 scored (Volumes shows
    them too), not a lone 0 that reads as "no negatives"."""
    base, sources, _ = sources_only
    table = _sources_table((base.reports_dir / "latest.html").read_text())
    assert [r["source"] for r in table] == sorted(s.source for s in sources)
    for source in sources:
        (row,) = [r for r in table if r["source"] == source.source]
        scored = scan_table(source.marts_dir / "feedback_scored").collect()
        negatives = scored.filter(pl.col("is_negative")).height
        # Neither source has a model: none of its negatives is scored, yet it has some.
        assert negatives > 0 and row["champion"] == "none yet"
        assert (row["negatives"], row["negatives scored"]) == (f"{negatives:,}", "0")
        # Not "0" failures of none scored (a platform engineer's upgrade trial).
        assert row["policy failures"] == "-"
    columns = list(table[0])
    assert columns.index("negatives") + 1 == columns.index("negatives scored")


@pytest.mark.slow
def test_every_sources_quarantine_reasons_are_in_each_report(
    sources_only: tuple[Settings, list[Settings], list[str]],
) -> None:
    """Found by an analyst's trial: a report listed only its own source's quarantine
    reasons, though the table has a source column; another source's rows set aside were a
    count in the Sources table, explained nowhere."""
    base, sources, _ = sources_only
    reports = sorted(base.reports_dir.glob("report-*.html"))
    assert sorted(_about(p) for p in reports) == sorted(s.source for s in sources)
    for report in reports:
        html = report.read_text()
        quarantined = {r["source"] for r in _sources_table(html) if r["quarantined"] != "0"}
        assert quarantined == {"cfpb"}  # the CFPB download's truncated last line
        why = html.split("<h3>Why rows were quarantined</h3>")[1].split("</table>")[0]
        head = [unescape(h) for h in re.findall(r"<th>(.*?)</th>", why)]
        rows = [
            dict(
                zip(head, (unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", r)), strict=True)
            )
            for r in re.findall(r"<tr>((?:<td.*?</td>)+)</tr>", why)
        ]
        # The call-centre source's report too: it has none of its own.
        assert {r["source"] for r in rows} == quarantined, (report, rows)
        # The truncated last line is quarantined under the month its Date received gives
        # (July), not the month of delivery, which is not where the source's data ends (a
        # trial read it so).
        (cfpb,) = [r for r in _sources_table(html) if r["source"] == "cfpb"]
        assert cfpb["partitions"] == "3 (month)"


@pytest.mark.slow
def test_a_monthly_sources_dates_are_its_rows_days_not_its_months(
    sources_only: tuple[Settings, list[Settings], list[str]],
) -> None:
    """Found by a consumer-finance lead's trial: the Sources table, whose From and to are
    "the dates of the rows kept", and the header's "Survey dates" gave CFPB's monthly
    partitions' first days (2015-03-01 to 2026-03-01) for complaints received from
    2015-03-23 to 2026-03-11. They give the first and last Date received kept."""
    base, _, _ = sources_only
    received = pl.read_csv(CFPB, columns=["Date received"]).get_column("Date received")
    days = received.str.to_date("%Y-%m-%d", strict=False).drop_nulls()
    first, last = str(days.min()), str(days.max())
    assert (first, last) == ("2023-06-27", "2023-08-25")  # in June and August's partitions
    for report in sorted(base.reports_dir.glob("report-*.html")):
        (cfpb,) = [r for r in _sources_table(report.read_text()) if r["source"] == "cfpb"]
        assert (cfpb["from"], cfpb["to"]) == (first, last), report
    (own,) = base.reports_dir.glob("report-*-cfpb.html")
    assert f"Survey dates {first}..{last};" in own.read_text()


@pytest.mark.slow
def test_a_source_that_needs_no_model_says_why_once_and_points_there_from_the_rest(
    prefect_api: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a review of the report of a survey whose definition says negative = "none":
    the paragraph saying no model is needed, and why, stood in eight sections. Model and
    baselines says it in full; every other section a model would fill says in one line why
    it is empty and where to read the reason, and the header points there too."""
    import json
    from html import escape

    from servicelens.cli.main import main
    from servicelens.cli.sources import NOTHING_NEGATIVE

    data = str(tmp_path / "data")
    definition = ROOT / "tests" / "sources" / "definitions" / "google-forms-hotdog.toml"
    export = FIELD / "05-google-forms-crlf-multiline" / "sample.csv"
    assert main(["--data-dir", data, "sources", "run", str(definition), str(export)]) == 0
    capsys.readouterr()
    assert main(["--data-dir", data, "--json", "report", "--source", "hot-dog-survey"]) == 0
    missing = json.loads(capsys.readouterr().out)["sections_not_available"]
    page = Path(data, "reports", "latest-hot-dog-survey.html").read_text(encoding="utf-8")
    why = f"no model needed: hot-dog-survey: {NOTHING_NEGATIVE}"
    assert page.count(escape(why)) == 1 and missing["Model and baselines"] == why
    brief = "no model needed, so nothing is scored: see Model and baselines"
    pointing = {section: reason for section, reason in missing.items() if brief in reason}
    assert sorted(pointing) == [
        "Calibration",
        "Confusion matrix and precision-recall",
        "Early warning: failure shares against their history",
        "Fix list: what to fix first, by owner",
        "Perceived vs policy failure, over time",
        "Top policies of each kind",
        "What QA audits next",
    ]
    # One line each: the reason alone (the early warning's after the date it is about).
    assert {reason.split(": not tested: ")[-1] for reason in pointing.values()} == {brief}
    assert 'no model needed (see <a href="#model">Model and baselines</a>)' in page


def test_a_nightly_run_of_sources_only_writes_each_sources_report(
    sources_only: tuple[Settings, list[Settings], list[str]],
) -> None:
    """``servicelens run`` and the scheduled ``nightly-window`` write each source's report
    (as ``report --source NAME`` does), never the sample's empty page; the command names
    the reports it wrote."""
    from flows.pipeline import nightly_window

    base, sources, printed = sources_only
    names = sorted(s.source for s in sources)
    named = [Path(line.removeprefix("report: ")) for line in printed if line.startswith("report:")]
    assert sorted(_about(p) for p in named) == names, printed
    assert all(p.name.endswith(f"-{_about(p)}.html") for p in named)
    latest = base.reports_dir / "latest.html"
    assert EMPTY_SAMPLE not in latest.read_text()
    assert latest.read_text() in [p.read_text() for p in named]
    # Each source's newest at its own path too: latest.html is the last one written
    # (trial 81 looked there for the CFPB source's and found another's).
    for report in named:
        own = base.reports_dir / f"latest-{_about(report)}.html"
        assert own.read_text() == report.read_text(), own

    # The scheduled run, nothing new in the inboxes: the sources' reports again.
    shutil.rmtree(base.reports_dir)
    state = nightly_window(day=NIGHT, data_dir=str(base.root), return_state=True)
    assert state.is_completed(), state.message
    assert sorted(_about(p) for p in base.reports_dir.glob("report-*.html")) == names
    assert EMPTY_SAMPLE not in latest.read_text()


def test_the_sample_report_is_written_unless_only_sources_are_configured(
    tmp_path: Path,
) -> None:
    """With sample dates, the nightly run writes the sample's report as before."""
    from flows.pipeline import nightly_report_settings

    base = Settings(data_dir=str(tmp_path / "data"))
    assert nightly_report_settings(base) == [base]  # nothing configured: the sample's
    calls = register_source(base, str(DEFINITION))
    assert nightly_report_settings(base) == [calls]
    day = base.raw_day(NIGHT)
    day.mkdir(parents=True)
    (day / SURVEYS_FILE).write_text("response_id\n")
    assert nightly_report_settings(base) == [base]  # sample dates: as before, the sample's


def test_what_qa_audits_next_lists_a_new_sources_first_audits_as_the_command_does(
    sources_only: tuple[Settings, list[Settings], list[str]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Found by a platform engineer's trial: for the call-centre source (no model yet) the
    report said "nothing to recommend" while `review-queue` listed its 6 first_audit items."""
    import json

    from servicelens.cli.main import main

    base, sources, _ = sources_only
    reports = {_about(p): p.read_text() for p in base.reports_dir.glob("report-*.html")}
    listed = 0
    for source in sources:
        capsys.readouterr()
        assert main(["--data-dir", base.data_dir, "--json", "review-queue", "--source",
                     source.source]) == 0  # fmt: skip
        items = json.loads(capsys.readouterr().out)["items"]
        section = re.search(
            r'<section id="review-queue">(.*?)</section>', reports[source.source], re.S
        )
        assert section is not None
        said = re.sub(r"\s+", " ", unescape(section.group(1)))
        if items:
            assert {i["reason"] for i in items} == {"first_audit"}
            assert f"No model yet, so nothing is scored: {len(items):,} negative responses" in said
            listed += 1
        else:
            assert "nothing to recommend" in said, said
    assert listed  # the call-centre export's negatives carry no label
