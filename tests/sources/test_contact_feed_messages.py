"""What a run and ``sources check`` say of a configured source's contact-facts feed
(``[interactions]``) speaks of contacts and of the feed's own columns, not of survey
responses. Found by a new user's trial (a UK broadband provider's SurveyMonkey surveys with
the contact centre's daily contact export as their feed): a contact row with an unreadable
Start Time was told as "1 row whose submitted_at gives no survey date", a contact id used
twice as "used by more than one different response, and their delivery times (delivered_at:
...)" (the feed has none), ``sources check`` of a contacts file said the survey's
never_store column was missing from it, and the run's table said "quarantined 0" of a day
whose feed had rows quarantined."""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from servicelens.cli.console import counts_detail
from servicelens.cli.sources import _preview_text, check_definition
from servicelens.ingest.configured import pick_up_deliveries, register_source
from servicelens.settings import Settings
from servicelens.stages import validate_landed_day

#: Ratings (a CSV survey export, with a personal column kept out) and a contact export as
#: their contact facts.
DEFINITION = """name = "broadband"
never_store = ["Postcode", "Caller Numbr"]
[columns]
response_id = "Response"
interaction_id = "Contact"
submitted_at = "Rated at"
csat = "Score"

[interactions]
[interactions.columns]
interaction_id = "Contact ID"
started_at = { column = "Start Time", format = "%d/%m/%Y %H:%M:%S" }
queue = "Queue"
handle_seconds = { column = "Handle Time", unit = "h:mm:ss" }
"""
RATINGS = (
    "Response,Contact,Rated at,Score,Postcode\n"
    "R1,T1,2026-11-16T10:00:00Z,1,AB1 2CD\n"
    "R2,T2,2026-11-16T11:00:00Z,4,EF3 4GH\n"
)
#: The contact centre's export of 16 November: T2 twice with another handle time (lines 3
#: and 4), T3's Start Time in a format the definition does not declare (line 5), and a
#: personal column never_store misspells.
CONTACTS = (
    "Contact ID,Start Time,Queue,Handle Time,Caller Number\n"
    "T1,16/11/2026 09:00:00,Faults,0:05:09,07700900001\n"
    "T2,16/11/2026 09:10:00,Billing,0:05:09,07700900002\n"
    "T2,16/11/2026 09:10:00,Billing,0:05:00,07700900002\n"
    "T3,2026-11-16T09:30,Billing,0:01:00,07700900003\n"
)
NOV16 = date(2026, 11, 16)


@pytest.fixture
def source(tmp_path: Path) -> Settings:
    """The ``broadband`` source configured in ``tmp_path/data``, its inbox taken at once,
    the contacts and the ratings of 16 November landed."""
    definition = tmp_path / "broadband.toml"
    definition.write_text(DEFINITION, encoding="utf-8")
    base = Settings(data_dir=str(tmp_path / "data"), inbox_settle_seconds=0)
    settings = register_source(base, str(definition))
    (settings.for_interactions().inbox_dir / "contacts-2026-11-16.csv").write_text(CONTACTS)
    (settings.inbox_dir / "surveys-2026-11-16.csv").write_text(RATINGS)
    return settings


def test_an_undated_contact_is_told_as_a_contact_by_its_start(source: Settings) -> None:
    picked = {Path(p.file).name: p for p in pick_up_deliveries(source)}
    contacts = picked["contacts-2026-11-16.csv"].landing
    assert contacts is not None
    [note] = [n for n in contacts.notes() if "gives no" in n]
    assert note.startswith(
        "1 contact whose started_at (the export's 'Start Time') gives no date (empty, or a "
        "format the definition's [interactions.columns] does not read) is quarantined under "
        "its delivery's day, 2026-11-16"
    )
    assert "submitted_at" not in note and "survey" not in note
    # The survey export's own undated rows are told as before: none here.
    ratings = picked["surveys-2026-11-16.csv"].landing
    assert ratings is not None and not [n for n in ratings.notes() if "gives no" in n]


def test_a_contact_id_used_twice_is_told_as_a_contact_of_the_feed(source: Settings) -> None:
    pick_up_deliveries(source)
    quarantine = validate_landed_day(source, NOV16, "run-1").quarantine()
    repeated = quarantine.filter(
        pl.col("feed") == "interactions", pl.col("record_id") == "T2"
    ).sort("source_line")
    assert repeated.get_column("source_line").to_list() == [3, 4]
    for reasons in repeated.get_column("reasons").to_list():
        assert reasons == [
            "interaction_id: 'T2' is used by more than one different contact of the feed, "
            "which gives no delivery time to tell which is the later: keep one of them in "
            "the export"
        ]


def test_sources_check_of_a_contacts_file_is_told_only_of_its_own_never_store_columns(
    source: Settings, tmp_path: Path
) -> None:
    """never_store is the source's, for both exports: a contact file is not told it lacks
    the survey's Postcode, and is told of the entry one of its own columns is spelt near."""
    contacts = tmp_path / "contacts-2026-11-16.csv"
    contacts.write_text(CONTACTS)
    preview = check_definition(str(source.definition), str(contacts), source)
    assert preview["feed"] == "interactions"
    assert preview["never_store_unmatched"] == ["Caller Numbr"]
    said = _preview_text(preview)
    assert "Postcode" not in said
    # Contacts are no responses: no "negatives 0" beside their counts (a trial's read it).
    counts = preview["counts"]
    assert (counts["read"], counts["kept"] + counts["quarantined"]) == (4, 4)
    [told] = [line for line in said.splitlines() if line.startswith("read ")]
    assert told == (
        f"read 4: kept {counts['kept']}, quarantined {counts['quarantined']} "
        "(read = kept + quarantined)"
    )
    assert (
        "never_store names 1 column(s) this contact file of the [interactions] feed does not "
        "have: 'Caller Numbr'"
    ) in said
    # A survey export is told of every entry it lacks, as before.
    ratings = tmp_path / "surveys.csv"
    ratings.write_text(RATINGS.replace("Postcode", "Postal code"))
    survey_preview = check_definition(str(source.definition), str(ratings), source)
    assert survey_preview["never_store_unmatched"] == ["Postcode", "Caller Numbr"]
    assert "(read = kept + quarantined), negatives 1" in _preview_text(survey_preview)


def test_the_run_table_counts_the_days_quarantined_contacts(source: Settings) -> None:
    pick_up_deliveries(source)
    counts = validate_landed_day(source, NOV16, "run-1").counts
    assert (counts.interactions_read, counts.interactions_quarantined) == (4, 3)
    detail = counts_detail(asdict(counts))
    assert detail.startswith(
        f"read 2 kept 2 quarantined 0 scored {counts.scored}; contacts read 4 kept 1 quarantined 3"
    )


def test_a_response_repeated_in_its_own_file_is_an_exact_duplicate(tmp_path: Path) -> None:
    """A respondent on two lines of one export with the same answers (trial 121's
    SurveyMonkey file, line 3 again on line 335) is an exact duplicate of the later line,
    not a "duplicate delivery": the file was delivered once."""
    definition = tmp_path / "broadband.toml"
    definition.write_text(DEFINITION, encoding="utf-8")
    base = Settings(data_dir=str(tmp_path / "data"), inbox_settle_seconds=0)
    source = register_source(base, str(definition))
    (source.inbox_dir / "surveys-2026-11-16.csv").write_text(
        RATINGS + "R1,T1,2026-11-16T10:00:00Z,1,AB1 2CD\n"
    )
    pick_up_deliveries(source)
    validated = validate_landed_day(source, NOV16, "run-1")
    [copy] = validated.quarantine().to_dicts()
    assert (copy["source_line"], copy["record_id"], copy["superseded"]) == (2, "R1", True)
    assert copy["reasons"] == ["exact duplicate: the same response id and answers as line 4"]
    assert counts_detail(asdict(validated.counts)).startswith(
        "read 3 kept 2 quarantined 1 (1 of them superseded by a later line or delivery: 1 "
        "exact duplicate)"
    )


def test_a_line_of_too_few_fields_keeps_the_id_of_its_first_field(source: Settings) -> None:
    """Trial 121's SurveyMonkey line of 5 fields in 7, its contact id of another shape than
    the column's (``T-NONE``), was quarantined with no record_id though its first field,
    the RespondentID column, was its id."""
    (source.inbox_dir / "surveys-2026-11-16.csv").write_text(
        RATINGS + "R9,T-NONE,2026-11-16T12:00:00Z,3\n"
    )
    pick_up_deliveries(source)
    quarantine = validate_landed_day(source, NOV16, "run-1").quarantine()
    [short] = quarantine.filter(pl.col("feed") == "surveys").to_dicts()
    assert (short["source_line"], short["record_id"]) == (4, "R9")
    assert short["reasons"] == ["malformed line: 4 fields where the header has 5"]


#: What a run's table says of a date's negatives without a model to score them.
UNSCORED = "scored 0 (no champion model yet)"


def _table_details(out: str) -> dict[str, str]:
    """The detail of each completed partition in a run table printed on ``out``, by date."""
    return {
        line.split()[1]: line.split("  completed  ", 1)[1].strip()
        for line in out.splitlines()
        if line.startswith("broadband ") and "  completed  " in line
    }


def test_a_missing_and_a_corrected_contact_export_are_told_in_the_run_table(
    prefect_api: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a QA lead's trial, three nights of a Google Form and its daily contact
    export. Night 17: the day's contacts did not come, and its responses were published
    without queue or handle time in silence; night 18 brought them, and a corrected 16th
    whose earlier copies the table called "contacts read 1976, quarantined 581", as if
    rejects. An export delivered empty (the 18th's) is a day without contacts, not a
    missing export."""
    from servicelens.cli.main import main

    definition = tmp_path / "broadband.toml"
    definition.write_text(DEFINITION, encoding="utf-8")
    data = str(tmp_path / "data")
    source = register_source(Settings(data_dir=data), str(definition))
    feed = source.for_interactions().inbox_dir
    header = "Contact ID,Start Time,Queue,Handle Time\n"
    day16 = ["T1,16/11/2026 09:00:00,Faults,0:05:09", "T2,16/11/2026 09:10:00,Billing,0:04:00"]

    def night(day: str, contacts: dict[str, list[str]], ratings: list[str]) -> dict[str, str]:
        for name, rows in contacts.items():
            (feed / name).write_text(header + "".join(f"{r}\n" for r in rows))
        rated = "".join(f"{r}\n" for r in ratings)
        (source.inbox_dir / f"surveys-{day}.csv").write_text(
            "Response,Contact,Rated at,Score\n" + rated
        )
        assert main(["--data-dir", data, "run", "--date", day]) == 0
        return _table_details(capsys.readouterr().out)

    # R0, a day older, is rejected: a reject is listed before the contacts' earlier copies.
    night(
        "2026-11-16",
        {"contacts-2026-11-16.csv": day16},
        ["R0,T0,2026-11-15T10:00:00Z,nine", "R1,T1,2026-11-16T10:00:00Z,1"],
    )
    said = night(
        "2026-11-17",
        {},
        ["R2,T3,2026-11-17T10:00:00Z,4", "R3,T4,2026-11-17T11:00:00Z,2"],
    )
    assert said["2026-11-17"] == (
        f"read 2 kept 2 quarantined 0 {UNSCORED}; the contact feed has no export for this date "
        "yet: 2 of its 2 kept responses were published without contact facts (the feed's "
        "columns and repeat_contacts_30d null); they are filled in when the feed's export for "
        f"this date lands: the next `servicelens --data-dir {data} run` processes this date "
        "again"
    )
    # The report's Data quality table says it too, by date.
    quality = (
        (Path(data) / "reports" / "latest-broadband.html")
        .read_text()
        .split('<section id="quality">')[1]
    )
    head = re.findall(r"<th>(.*?)</th>", quality.split("</thead>")[0])
    by_day = {
        cells[0]: dict(zip(head, cells, strict=True))
        for row in re.findall(r"<tr>(<td.*?)</tr>", quality.split("</table>")[0])
        for cells in [re.findall(r"<td[^>]*>(.*?)</td>", row)]
    }
    assert (
        by_day["2026-11-16"]["without_contact_facts"],
        by_day["2026-11-17"]["without_contact_facts"],
    ) == ("0", "2")
    said = night(
        "2026-11-18",
        {
            "contacts-2026-11-17.csv": [
                "T3,17/11/2026 09:00:00,Faults,0:02:00",
                "T4,17/11/2026 09:30:00,Faults,0:03:00",
            ],
            "contacts-2026-11-16-corrected.csv": [day16[0].replace("Faults", "Billing"), day16[1]],
            "contacts-2026-11-18.csv": [],
        },
        ["R4,T9,2026-11-18T10:00:00Z,5"],
    )
    assert said == {
        "2026-11-16": f"read 1 kept 1 quarantined 0 {UNSCORED}; contacts read 3 kept 2 "
        "quarantined 1 (1 of them superseded by a later line or delivery: 1 updated)",
        "2026-11-17": f"read 2 kept 2 quarantined 0 {UNSCORED}",
        "2026-11-18": f"read 1 kept 1 quarantined 0 {UNSCORED}",
    }
    # The earlier copies come after the rows rejected in their own right, whatever their
    # dates (the trial's 581 were listed ahead of its rejects).
    argv = ["--data-dir", data, "query", "quarantined_rows", "--json"]
    assert main(argv) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["survey_date"], r["feed"], r["reasons"].split(":")[0]) for r in rows] == [
        ("2026-11-15", "surveys", "csat"),
        ("2026-11-16", "interactions", "updated"),
    ]
    assert rows[1]["reasons"] == (
        "updated: superseded by the later version on line 2 of "
        "contacts-2026-11-16-corrected.csv (changed: queue)"
    )


def test_an_impossible_contact_start_is_noted_with_the_quarantines_exact_reason(
    source: Settings,
) -> None:
    """Found by a later read: a contact export's '31/11/2026 10:15:00' (the format declared,
    the day not in November) was quarantined as "is a day the calendar does not have", and
    the run's note guessed "empty, or a format the definition does not read"."""
    from servicelens.validation.expectations import NO_SUCH_DAY

    contacts = source.for_interactions().inbox_dir / "contacts-2026-11-16.csv"
    contacts.write_text(CONTACTS.replace("2026-11-16T09:30", "31/11/2026 10:15:00"))
    picked = {Path(p.file).name: p for p in pick_up_deliveries(source)}
    landing = picked["contacts-2026-11-16.csv"].landing
    assert landing is not None
    [note] = [n for n in landing.notes() if "whose started_at" in n]
    assert note.startswith(
        f"1 contact whose started_at (the export's 'Start Time') {NO_SUCH_DAY}; it is "
        "quarantined under its delivery's day, 2026-11-16"
    )
    assert "a format the" not in note
    quarantine = validate_landed_day(source, NOV16, "run-1").quarantine()
    [reasons] = quarantine.filter(
        pl.col("feed") == "interactions", pl.col("record_id") == "T3"
    ).get_column("reasons")
    assert any(NO_SUCH_DAY in reason for reason in reasons)
