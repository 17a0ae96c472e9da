"""A CSV line whose free text holds the delimiter unquoted (a trial's SurveyMonkey comment
"the engineer never turned up in the appointment slot, second time now"): its reject says
that a field probably holds an unquoted delimiter, and which column could, where another
row of the export holds the delimiter in that column (quoted there); and the quarantined
row keeps its response id where the id is the line's first field."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from servicelens.ingest.definitions import load_definition
from servicelens.ingest.readers import TOTALS_ROW_NOTE, CsvDialect, read_csv_with_lines
from servicelens.settings import Settings
from servicelens.stages import ingest_export

DIALECT = CsvDialect(lower_case_names=False)
HEADER = "Respondent ID,End Date,Score,What could we have done better?\n"
QUOTED = '114200000021,11/09/2026 05:04 PM,4,"lovely agent, very patient"\n'


def _reasons(text: str) -> list[tuple[int, str]]:
    read = read_csv_with_lines("export.csv", text.encode("utf-8"), DIALECT)
    return [(r.line, r.reason) for r in read.rejects]


def test_a_field_too_many_where_a_column_holds_the_delimiter_says_so() -> None:
    text = (
        HEADER
        + QUOTED
        + "114299990002,12/05/2026 09:15 AM,2,the engineer never turned up, second time now\n"
        + "114299990003,12/05/2026 09:20 AM,1,late, rude, and no refund\n"
    )
    column = "the column 'What could we have done better?' holds ',' in other rows, quoted there"
    assert _reasons(text) == [
        (
            3,
            "malformed line: 5 fields where the header has 4; a field probably holds an "
            f"unquoted ',' ({column}): quote it, or re-export with quoting",
        ),
        (
            4,
            "malformed line: 6 fields where the header has 4; fields probably hold 2 unquoted "
            f"',' ({column}): quote it, or re-export with quoting",
        ),
    ]


def test_the_note_comes_before_a_totals_rows_note() -> None:
    text = HEADER + QUOTED + "Summe,,4,x,y\n"
    [(_, reason)] = _reasons(text)
    assert reason == (
        "malformed line: 5 fields where the header has 4; a field probably holds an unquoted "
        "',' (the column 'What could we have done better?' holds ',' in other rows, quoted "
        f"there): quote it, or re-export with quoting; the line {TOTALS_ROW_NOTE}"
    )


def test_no_column_holding_the_delimiter_elsewhere_keeps_the_plain_reason() -> None:
    # Nothing says which field could hold it, and a field too few is another defect.
    text = HEADER + "114200000021,11/09/2026 05:04 PM,4,fine\n" + "1,2,3,4,5\n" + "1,2,3\n"
    assert _reasons(text) == [
        (3, "malformed line: 5 fields where the header has 4"),
        (4, "malformed line: 3 fields where the header has 4"),
    ]


DEFINITION = """\
name = "telwave-mini"
timezone = "Europe/London"

[columns]
response_id = "Respondent ID"
submitted_at = { column = "End Date", format = "%m/%d/%Y %I:%M %p" }
csat = "Score"
comment = "What could we have done better?"
"""


def _quarantined_ids(tmp_path: Path, text: str) -> dict[int, str | None]:
    definition = tmp_path / "telwave-mini.toml"
    definition.write_text(DEFINITION, encoding="utf-8")
    export = tmp_path / "export.csv"
    export.write_text(text, encoding="utf-8")
    got = ingest_export(
        load_definition(str(definition)),
        export,
        Settings(data_dir=str(tmp_path / "data"), timezone="Europe/London"),
        now=datetime(2026, 12, 5, 12, tzinfo=UTC),
    )
    return dict(got.quarantine.select("source_line", "record_id").iter_rows())


def test_a_line_a_field_too_long_keeps_its_id_where_the_id_comes_first(tmp_path: Path) -> None:
    """The id is the first column: every place an unquoted comma could stand is after it,
    unless it stands in the id itself, which then would not look like the other ids."""
    text = (
        HEADER
        + QUOTED
        + "114299990002,12/05/2026 09:15 AM,2,the engineer never turned up, second time now\n"
        # Cut at a comma of its own: not an id of the export's shape.
        + "1142,99990003,12/05/2026 09:20 AM,1,late\n"
        # A field short: two values may have run together, the id with them.
        + "114299990004,12/05/2026 09:25 AM,1\n"
    )
    assert _quarantined_ids(tmp_path, text) == {3: "114299990002", 4: None, 5: None}
