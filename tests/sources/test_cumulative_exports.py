"""Cumulative form exports through the real nightly run (real Prefect, real Parquet read back
by DuckDB): a Google Form's responses downloaded each day, each file holding every response
so far, as Google Forms and Microsoft Forms export them.

Found by a platform engineer's trial: after 14 daily exports every nightly re-ran every date
since the form opened, the quarantine held 1,844 superseded copies of 186 responses (growing
with the square of the days), and every copy was called an "exact duplicate", the same as
the one real double submission."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from servicelens.ingest.configured import register_source
from servicelens.settings import Settings

DEFINITION = Path(__file__).parent / "definitions" / "google-forms-hotdog.toml"
SOURCE = "hot-dog-survey"
#: The header of a Google Forms Sheets download (tests/field 05's).
HEADER = (
    "Timestamp,Do you believe that a hotdog falls under the category of a sandwich?,"
    "What is the rationale behind your opinion?,Are you currently enrolled as an "
    "undergraduate or graduate student at the University of Virginia?,What is your field "
    'of study or major?,What state or country were you born in?,"If you are an '
    'undergraduate, what is your current academic year?",Gender: How do you identify?,'
    '"You preferred to self-describe for gender; please, share your identity below"'
)
FIRST = date(2026, 3, 2)
NIGHTS = 5


def _row(day: date, hour: int, answer: str, why: str) -> str:
    """One response as the download writes it: M/D/YYYY H:MM:SS, naive New York time."""
    return f'{day.month}/{day.day}/{day.year} {hour}:15:07,{answer},"{why}",Yes,Physics,Ohio,,Man,'


def _responses(night: int) -> list[tuple[date, str]]:
    """Every response the form holds on the morning after day ``night`` (1-based), with its
    survey date, in the order the sheet lists them (by time). Times between 9:00 and 17:00
    New York time: the same date in UTC."""
    rows: list[tuple[date, int, str]] = []
    for n in range(night):
        day = FIRST + timedelta(days=n)
        rows += [(day, 9 + h, _row(day, 9 + h, "No", f"day {n + 1} reason {h}")) for h in range(3)]
        if n == 1:
            # A respondent who pressed Submit twice: the same time, the same answers.
            rows += [(day, 15, _row(day, 15, "Yes", "pressed twice"))] * 2
    if night >= NIGHTS - 1:
        # A response of day 2 the sheet shows only from night 4 (restored from a draft).
        day = FIRST + timedelta(days=1)
        rows.append((day, 16, _row(day, 16, "Yes", "late one")))
    return [(day, row) for day, _, row in sorted(rows, key=lambda r: (r[0], r[1]))]


Nights = tuple[Path, list[dict[str, list[str]]], list[list[dict[str, Any]]]]


@pytest.fixture
def nights(prefect_api: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Nights:
    """A data directory whose Google Form source had one cumulative export a day dropped in
    its inbox, each followed by that night's ``servicelens run``; per night, the partitions
    each outcome of the source's table had, and the source's rows ``run --json`` printed."""
    from servicelens.cli.main import main

    data = tmp_path / "data"
    register_source(Settings(data_dir=str(data)), str(DEFINITION))
    inbox = data / "inbox" / SOURCE
    tables: list[dict[str, list[str]]] = []
    printed: list[list[dict[str, Any]]] = []
    for night in range(1, NIGHTS + 1):
        day = FIRST + timedelta(days=night - 1)
        export = inbox / f"Hot dog (Responses) - Form Responses 1 - {day}.csv"
        text = "\r\n".join([HEADER, *(row for _, row in _responses(night))])
        export.write_bytes(text.encode("utf-8"))
        capsys.readouterr()
        code = main(["--data-dir", str(data), "--json", "run", "--date", str(day)])
        assert code == 0, capsys.readouterr()
        said = json.loads(capsys.readouterr().out)
        outcomes = [o for o in said["sources"] if o["result"].get("source") == SOURCE]
        table: dict[str, list[str]] = {}
        for outcome in outcomes:
            table.setdefault(outcome["outcome"], []).append(outcome["day"])
        tables.append(table)
        printed.append(outcomes)
    return data, tables, printed


def test_a_night_reruns_only_the_dates_a_cumulative_export_changed(nights: Nights) -> None:
    data, tables, printed = nights
    days = [str(FIRST + timedelta(days=n)) for n in range(NIGHTS)]
    # Night 4 (the second to last): its export repeats days 1-3 and adds day 4 and a late
    # response of day 2; only those two dates ran (every date since the form opened did).
    assert tables[NIGHTS - 2] == {"completed": [days[1], days[3]]}
    # Night 5 adds day 5 alone.
    assert tables[NIGHTS - 1] == {"completed": [days[4]]}
    root = data / "sources" / SOURCE
    quarantine = duckdb.sql(
        "SELECT survey_date::VARCHAR, reasons[1], reason_kinds, superseded FROM read_parquet(?, "
        "hive_partitioning = true) ORDER BY ALL",
        params=[str(root / "quarantine" / "*" / "*.parquet")],
    ).fetchall()
    # One row in quarantine: the double submission's first copy, an exact duplicate of the
    # next line of the same export (not one copy per earlier export per night: 4 + 3 + 2 +
    # 1 exports repeated day 1's responses, 30 copies in all before).
    assert quarantine == [
        (
            days[1],
            "exact duplicate: the same answers as line 9, so the same derived id",
            ["exact_duplicate"],
            True,
        )
    ]
    kept = duckdb.sql(
        "SELECT survey_date::VARCHAR, count(*) FROM read_parquet(?, hive_partitioning = true) "
        "GROUP BY ALL ORDER BY ALL",
        params=[str(root / "clean" / "responses" / "*" / "*.parquet")],
    ).fetchall()
    # Day 2: its 3, the double submission once, the late one.
    assert kept == [(d, 5 if d == days[1] else 3) for d in days]
    # Nothing read is lost: each export's rows are its rows landed plus those it repeated
    # unchanged, which the landed manifests count by delivery, naming the earlier one.
    landed = duckdb.sql(
        "SELECT delivery, count(*) FROM read_parquet(?, hive_partitioning = true) GROUP BY ALL",
        params=[str(root / "landed" / "responses" / "*" / "*.parquet")],
    ).fetchall()
    stored = dict(landed)
    counted: dict[str, int] = {}
    for manifest_file in sorted((root / "landed" / "responses").glob("*/_manifest.json")):
        manifest = json.loads(manifest_file.read_text())
        for sha, entry in manifest.get("unchanged_copies", {}).items():
            counted[sha] = counted.get(sha, 0) + entry["rows"]
            assert sum(entry["of"].values()) == entry["rows"]
            assert all(Path(of).name.endswith(".csv") for of in entry["of"])
    read = {sha: stored.get(sha, 0) + counted.get(sha, 0) for sha in {*stored, *counted}}
    assert sorted(read.values()) == sorted(len(_responses(n)) for n in range(1, NIGHTS + 1))
    # And `run` says each night how many of its delivery's rows were such repeats, so that a
    # delivery's rows add up from what it printed (it told only the partitions' counts).
    from servicelens.cli.sources import outcomes_text

    inbox = data / "inbox" / SOURCE
    for night, rows in enumerate(printed, start=1):
        sha = next(s for s in read if read[s] == len(_responses(night)))
        first = outcomes_text(rows, Settings(data_dir=str(data))).splitlines()[0]
        repeats = (
            f"; {counted[sha]} of their rows repeat rows landed before, unchanged: counted in "
            "the landed manifests, not stored again"
            if counted.get(sha)
            else ""
        )
        assert first == (
            f"{SOURCE}: 1 delivery read from {inbox} (0 already landed before{repeats})"
        ), (night, first)
    assert sum(bool(counted.get(sha)) for sha in read) == NIGHTS - 1
    # Each date's own reconciliation: read = kept + quarantined, as published.
    for manifest_file in sorted((root / "clean" / "responses").glob("*/_manifest.json")):
        counts = json.loads(manifest_file.read_text())["counts"]
        assert counts["surveys_read"] == counts["kept"] + counts["quarantined"], manifest_file
        assert counts["exact_duplicates"] == (1 if days[1] in str(manifest_file) else 0)


def test_an_earlier_exports_copy_is_a_duplicate_delivery(tmp_path: Path) -> None:
    """Copies an earlier export landed that do reach the quarantine (landed under another
    definition, so compared after all) are duplicate deliveries naming the later export;
    the double submission inside one export stays an exact duplicate. Both were called
    exact duplicates, and the counts said so (exact_duplicates = superseded_duplicates)."""
    from servicelens.ingest.definitions import load_definition
    from servicelens.ingest.landing import land_delivery
    from servicelens.stages import validate_landed_day

    source = register_source(Settings(data_dir=str(tmp_path / "data")), str(DEFINITION))
    fixed = tmp_path / "fixed.toml"
    # The definition fixed between the two exports: an attribute more.
    fixed.write_text(DEFINITION.read_text() + 'major = "What is your field of study or major?"\n')
    day = FIRST + timedelta(days=1)
    for night, definition in ((2, DEFINITION), (3, fixed)):
        export = tmp_path / f"Form Responses 1 - {FIRST + timedelta(days=night - 1)}.csv"
        text = "\r\n".join([HEADER, *(row for _, row in _responses(night))])
        export.write_bytes(text.encode("utf-8"))
        landing = land_delivery(source, load_definition(str(definition)), str(export))
        assert not landing.unchanged_copies  # the second under other rules: compared later
    validated = validate_landed_day(source, day, "test-run")
    reasons = sorted(
        (r["source_file"].rsplit("-", 1)[-1], r["reasons"][0].split(":")[0])
        for r in validated.quarantine().iter_rows(named=True)
    )
    # Export 2's (dated 3 March) 5 rows of day 2 are copies of responses export 3 (4 March)
    # delivered again, its double submission's two copies too: duplicate deliveries; the
    # double submission's first copy in export 3 is an exact duplicate of its next line.
    assert reasons == [("03.csv", "duplicate delivery")] * 5 + [("04.csv", "exact duplicate")]
    counts = validated.counts
    assert (counts.superseded_duplicates, counts.exact_duplicates) == (6, 1)
    assert counts.surveys_read == counts.kept + counts.quarantined == 10
