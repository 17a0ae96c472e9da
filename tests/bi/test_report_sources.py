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


HOT_DOGS = ROOT / "tests" / "sources" / "definitions" / "google-forms-hotdog.toml"
#: The Google Forms export: one student submitted the form twice, so its earlier line is
#: superseded by the later one (quarantined, nothing wrong with it); no row is rejected.
HOT_DOG_EXPORT = FIELD / "05-google-forms-crlf-multiline" / "sample.csv"


@pytest.fixture(scope="module")
def hot_dogs(prefect_api: None, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A data directory whose one configured source's definition says negative = "none"
    (the hot-dog Google Form), after ``sources run`` of its field export, with a QA audit
    file of two of its responses saved in the source's audits folder afterwards: the
    source's settings."""
    from servicelens.cli.main import main
    from servicelens.ingest.configured import configured_source

    data = str(tmp_path_factory.mktemp("hot-dogs") / "data")
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["--data-dir", data, "sources", "run", str(HOT_DOGS), str(HOT_DOG_EXPORT)]) == 0
    source = configured_source(Settings(data_dir=data), "hot-dog-survey")
    kept = scan_table(source.clean_dir).select("response_id").sort("response_id").collect()
    source.audits_dir.mkdir(parents=True, exist_ok=True)
    (source.audits_dir / "qa-week3.csv").write_text(
        "response_id,root_cause,audited_at,auditor\n"
        + "".join(f"{r},perceived,2025-01-20,ben\n" for r in kept["response_id"][:2])
    )
    return source


def _report(source: Settings, *options: str) -> str:
    """What ``servicelens [OPTIONS] report --source NAME`` prints for ``source``."""
    from servicelens.cli.main import main

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["--data-dir", source.data_dir, *options, "report", "--source",
                     source.source]) == 0  # fmt: skip
    return printed.getvalue()


def _section(page: str, anchor: str) -> str:
    """The report section ``anchor``'s HTML."""
    found = re.search(rf'<section id="{anchor}">(.*?)</section>', page, re.S)
    assert found, f"the report has no {anchor} section"
    return found.group(1)


@pytest.mark.slow
def test_a_source_that_needs_no_model_says_why_once_and_points_there_from_the_rest(
    hot_dogs: Settings,
) -> None:
    """Found by a review of the report of a survey whose definition says negative = "none":
    the paragraph saying no model is needed, and why, stood in eight sections. Model and
    baselines says it in full; every other section a model would fill says in one line why
    it is empty and where to read the reason, and the header points there too."""
    import json
    from html import escape

    from servicelens.cli.sources import NOTHING_NEGATIVE

    missing = json.loads(_report(hot_dogs, "--json"))["sections_not_available"]
    page = (hot_dogs.reports_dir / "latest-hot-dog-survey.html").read_text(encoding="utf-8")
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
    # Each pointer is a link to that section, not text to look for by scrolling.
    linked = 'see <a href="#model">Model and baselines</a>'
    assert all(linked in _section(page, anchor) for anchor in ("trend", "calibration"))
    assert "see Model and baselines" not in page


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


def _table_rows(fragment: str) -> list[dict[str, str]]:
    """The first HTML table of ``fragment`` as one dict per row, header -> cell text."""
    table = fragment.split("</table>")[0]
    head = [unescape(h) for h in re.findall(r"<th>(.*?)</th>", table)]
    return [
        dict(zip(head, (unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", r)), strict=True))
        for r in re.findall(r"<tr>((?:<td.*?</td>)+)</tr>", table)
    ]


@pytest.mark.slow
def test_the_report_counts_superseded_copies_apart_from_rejects(hot_dogs: Settings) -> None:
    """Found by a user trial: the report's volumes counted a form submitted twice (its
    earlier line in the quarantine, superseded, nothing wrong with it) with the rejects,
    as "quarantined 1", while the run summary said "1 superseded by a later line or
    delivery, 0 rejected". Every quarantine count in the report says both, in those
    words, and they add up to the quarantine's rows."""
    import json

    from servicelens.validation.reasons import quarantined_split

    quarantine = scan_table(hot_dogs.quarantine_dir).collect()
    superseded = int(quarantine.get_column("superseded").sum())
    rejected = quarantine.height - superseded
    assert (superseded, rejected) == (1, 0)  # the student who submitted the form twice
    headline = json.loads(_report(hot_dogs, "--json"))
    assert (headline["quarantined"], headline["superseded"], headline["rejected"]) == (1, 1, 0)

    page = (hot_dogs.reports_dir / "latest-hot-dog-survey.html").read_text(encoding="utf-8")
    volumes = _section(page, "volumes")
    (totals,) = _table_rows(volumes)
    counts = ("quarantined", "superseded", "rejected")
    assert tuple(totals[c] for c in counts) == ("1", "1", "0")
    said = re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", "", volumes)))
    assert f"Of the 1 quarantined: {quarantined_split(1, 1)}." in said
    spec = re.search(r'<script type="application/json" class="chart-spec">(.*?)</script>', volumes)
    assert spec is not None
    lines = {line["name"] for line in json.loads(spec.group(1))["data"]}
    assert {"superseded", "rejected"} <= lines and "quarantined" not in lines
    (row,) = _sources_table(page)
    assert tuple(row[c] for c in counts) == ("1", "1", "0")


@pytest.mark.slow
def test_audits_saved_under_a_source_that_needs_no_model_are_said_unused_in_its_report(
    hot_dogs: Settings,
) -> None:
    """Found by a user trial: ``sources run`` and ``train`` say that the audit files saved
    under a source whose definition says negative = "none" are not used, but its report,
    where QA looks for where audits went, said nothing of them. Its Model and baselines
    section says it, in the same words, and so does ``report`` in the terminal."""
    from html import escape

    from servicelens.ingest.audits import unused_audits_line

    unused = unused_audits_line(hot_dogs)
    assert unused is not None and "1 audit file in" in unused and "(qa-week3.csv)" in unused
    printed = _report(hot_dogs)
    page = (hot_dogs.reports_dir / "latest-hot-dog-survey.html").read_text(encoding="utf-8")
    assert escape(unused) in _section(page, "model")
    assert page.count(escape(unused)) == 1
    assert unused in printed, printed


@pytest.mark.slow
def test_reports_terminal_lines_give_the_full_reason_before_the_lines_pointing_to_it(
    hot_dogs: Settings,
) -> None:
    """Found by a user trial: ``report`` printed its sections not available in page order,
    so six "see Model and baselines" lines came before Model and baselines' own line with
    the reason. That line (and its note) comes first; the rest keep the page's order."""
    import json

    missing = json.loads(_report(hot_dogs, "--json"))["sections_not_available"]
    printed = _report(hot_dogs).splitlines()
    said = [line for line in printed if line.startswith("  not available: ")]
    sections = [
        next(s for s in missing if line == f"  not available: {s}: {missing[s]}") for line in said
    ]
    assert sorted(sections) == sorted(missing)  # each once, with its reason
    assert sections[0] == "Model and baselines", printed
    pointing = [s for s in sections if "see Model and baselines" in missing[s]]
    assert len(pointing) == 7
    assert [s for s in missing if s != "Model and baselines"] == sections[1:]  # page order
    # The unused audits line stays under the reason it follows.
    first = printed.index(said[0])
    assert printed[first + 1].startswith("    hot-dog-survey: 1 audit file in "), printed
