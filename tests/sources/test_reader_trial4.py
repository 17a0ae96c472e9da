"""User trial 4, the CSV reader: two exports joined with ``cat`` when each starts with a
byte order mark, and data lines that end with a delimiter the header does not have."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from servicelens.ingest.definitions import load_definition
from servicelens.ingest.readers import CsvDialect, read_csv_with_lines
from servicelens.settings import Settings
from servicelens.stages import Ingested, ingest_export

NOW = datetime(2026, 11, 30, tzinfo=UTC)
BOM = "\ufeff"
HEADER = "Response ID,Submitted,Channel,Score,Comment"
ROWS = [
    "R1,2026-10-01T10:00:00Z,email,4,fine",
    "R2,2026-10-01T11:00:00Z,phone,2,slow",
]
MORE_ROWS = [
    "R3,2026-10-02T10:00:00Z,chat,5,great",
    "R4,2026-10-02T11:00:00Z,web,1,awful",
]
DEFINITION = """\
name = "trial4"
timezone = "Europe/London"

[columns]
response_id = "Response ID"
submitted_at = { column = "Submitted", format = "iso" }
channel = "Channel"
csat = "Score"
comment = "Comment"
"""
DIALECT = CsvDialect(lower_case_names=False)
REPEATED = (
    "repeats the header (line 1): two exports joined into one file? Deliver each export as "
    "its own file, or remove the repeated header"
)
ONE_EMPTY_AT_THE_END = (
    "malformed line: 6 fields where the header has 5; the extra field at the end is empty: "
    "the line ends with a delimiter the header does not have. Re-export without it, or add "
    "an empty column name at the end of the header"
)


def _ingest(tmp_path: Path, text: str) -> Ingested:
    definition = tmp_path / "trial4.toml"
    definition.write_text(DEFINITION, encoding="utf-8")
    export = tmp_path / "export.csv"
    export.write_bytes(text.encode("utf-8"))
    got = ingest_export(
        load_definition(str(definition)),
        export,
        Settings(data_dir=str(tmp_path / "data"), timezone="Europe/London"),
        now=NOW,
    )
    counts = got.counts
    assert counts.surveys_read == counts.kept + counts.quarantined
    return got


def _joined_with_boms(line_end: str = "\n", header: str = HEADER) -> str:
    """``cat monday.csv tuesday.csv``, each saved with a UTF-8 BOM."""
    monday = BOM + line_end.join([header, *ROWS]) + line_end
    tuesday = BOM + line_end.join([header, *MORE_ROWS]) + line_end
    return monday + tuesday


@pytest.mark.parametrize(
    ("line_end", "header"),
    [("\n", HEADER), ("\r\n", HEADER), ("\r\n", '"' + HEADER.replace(",", '","') + '"')],
    ids=["lf", "crlf", "crlf-quoted-header"],
)
def test_joined_exports_each_with_a_bom_reject_the_repeated_header(
    line_end: str, header: str
) -> None:
    read = read_csv_with_lines(
        "joined.csv", _joined_with_boms(line_end, header).encode("utf-8"), DIALECT
    )
    assert read.encoding == "utf-8-sig"
    assert read.header == HEADER.split(",")
    # Physical lines: header 1, R1 2, R2 3, the second export's header 4, R3 5, R4 6.
    assert read.frame.select("Response ID", "source_line").rows() == [
        ("R1", 2),
        ("R2", 3),
        ("R3", 5),
        ("R4", 6),
    ]
    assert [(r.line, r.text, r.reason) for r in read.rejects] == [(4, HEADER, REPEATED)]


def test_joined_exports_with_boms_quarantine_the_header_without_a_stray_bom(
    tmp_path: Path,
) -> None:
    got = _ingest(tmp_path, _joined_with_boms())
    assert got.counts.surveys_read == 5 and got.counts.kept == 4
    assert got.quarantine.select("source_line", "record_id", "reasons").rows() == [
        (4, None, [REPEATED])
    ]
    assert got.clean.get_column("response_id").to_list() == ["R1", "R2", "R3", "R4"]
    for frame in (got.clean, got.quarantine):
        cells = [value for row in frame.rows() for value in row]
        texts = [t for v in cells for t in (v if isinstance(v, list) else [v])]
        assert not [t for t in texts if isinstance(t, str) and BOM in t]


def test_a_bom_starting_a_data_record_is_not_in_its_id() -> None:
    text = BOM + HEADER + "\n" + ROWS[0] + "\n" + BOM + ROWS[1] + "\n"
    read = read_csv_with_lines("marked.csv", text.encode("utf-8"), DIALECT)
    assert read.frame.select("Response ID", "source_line").rows() == [("R1", 2), ("R2", 3)]
    assert read.rejects == []


def test_a_bom_inside_a_quoted_value_is_kept() -> None:
    """Only a record's start loses its BOM: a line inside a quoted value is not one."""
    text = 'id,comment\nR1,"first\n' + BOM + 'second"\n' + BOM + "R2,plain\n"
    read = read_csv_with_lines("inside.csv", text.encode("utf-8"), CsvDialect())
    assert read.frame.select("id", "comment", "source_line").rows() == [
        ("R1", "first\n" + BOM + "second", 2),
        ("R2", "plain", 4),
    ]


def test_a_delimiter_ending_every_data_line_says_why_and_stays_in_quarantine() -> None:
    text = HEADER + "\n" + "".join(row + ",\n" for row in ROWS)
    read = read_csv_with_lines("trailing.csv", text.encode("utf-8"), DIALECT)
    assert read.frame.height == 0
    assert [(r.line, r.text, r.reason) for r in read.rejects] == [
        (2, ROWS[0] + ",", ONE_EMPTY_AT_THE_END),
        (3, ROWS[1] + ",", ONE_EMPTY_AT_THE_END),
    ]


def test_two_empty_fields_at_the_end_are_counted_and_crlf_is_not_a_field() -> None:
    text = HEADER + "\r\n" + ROWS[0] + ",,\r\n" + ROWS[1] + ",\r\n"
    read = read_csv_with_lines("trailing.csv", text.encode("utf-8"), DIALECT)
    assert [(r.line, r.reason) for r in read.rejects] == [
        (
            2,
            "malformed line: 7 fields where the header has 5; the 2 extra fields at the end "
            "are empty: the line ends with 2 delimiters the header does not have. Re-export "
            "without them, or add 2 empty column names at the end of the header",
        ),
        (3, ONE_EMPTY_AT_THE_END),
    ]


def test_extra_fields_that_hold_something_keep_the_plain_reason() -> None:
    text = HEADER + "\n" + ROWS[0] + ",x\n" + ROWS[1] + ",,x\n"
    read = read_csv_with_lines("extra.csv", text.encode("utf-8"), DIALECT)
    assert [(r.line, r.reason) for r in read.rejects] == [
        (2, "malformed line: 6 fields where the header has 5"),
        (3, "malformed line: 7 fields where the header has 5"),
    ]


def test_the_csv_module_path_says_why_too() -> None:
    """A stray quote sends the records after it to the csv module: same reasons, same lines."""
    text = (
        HEADER
        + "\n"
        + 'R0,2026-10-01T09:00:00Z,email,3,He said "no\n'
        + ROWS[0]
        + ",\n"
        + 'R2,2026-10-01T11:00:00Z,phone,2,"two\nlines",\n'
    )
    read = read_csv_with_lines("stray.csv", text.encode("utf-8"), DIALECT)
    assert read.frame.select("Response ID", "source_line").rows() == [("R0", 2)]
    assert [(r.line, r.reason) for r in read.rejects] == [
        (3, ONE_EMPTY_AT_THE_END),
        (4, ONE_EMPTY_AT_THE_END),
    ]


def test_trailing_delimiter_rows_are_quarantined_with_the_reason(tmp_path: Path) -> None:
    got = _ingest(tmp_path, HEADER + "\n" + "".join(row + ",\n" for row in ROWS))
    assert got.counts.surveys_read == 2 and got.counts.kept == 0
    assert got.quarantine.select("source_line", "reasons").rows() == [
        (2, [ONE_EMPTY_AT_THE_END]),
        (3, [ONE_EMPTY_AT_THE_END]),
    ]


def test_the_advice_works_an_empty_column_name_at_the_header_end(tmp_path: Path) -> None:
    got = _ingest(tmp_path, HEADER + ",\n" + "".join(row + ",\n" for row in ROWS))
    assert got.counts.kept == 2 and got.counts.quarantined == 0
    assert got.clean.select("response_id", "source_line").rows() == [("R1", 2), ("R2", 3)]


def test_sources_check_does_not_call_a_record_it_could_not_split_one_without_an_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a new user's trial: a malformed line was shown as "line 2 (no id)", though
    its id was there: the record could not be split, so no id was read, not none given."""
    from servicelens.cli.main import main

    definition = tmp_path / "cc.toml"
    definition.write_text(
        'name = "cc"\n[columns]\nresponse_id = "Response ID"\n'
        'submitted_at = "Submitted"\nchannel = { value = "phone" }\ncsat = "CSAT"\n'
    )
    export = tmp_path / "export.csv"
    export.write_text(
        "Response ID,Submitted,CSAT\nR1,2026-11-23T09:14:00Z,5,\nR2,2026-11-23T10:00:00Z,4\n",
        encoding="utf-8",
    )
    data = tmp_path / "data"
    assert main(["--data-dir", str(data), "sources", "check", str(definition), str(export)]) == 0
    out = capsys.readouterr().out
    # Its id is its first field, the same wherever the extra field stands, and has the
    # shape of the export's other ids: it is shown.
    assert "  line 2 (R1): malformed line: 4 fields where the header has 3;" in out
    assert "no id" not in out


@pytest.mark.parametrize(
    ("stray", "told"),
    [
        ('R5,2026-10-01T12:00:00Z,chat,3,"Agent said easy and then nothing', "R5"),
        # The quote opens the id's own field: no whole field before it, no id told.
        ('"R5,2026-10-01T12:00:00Z,chat,3,Agent said easy', None),
    ],
    ids=["in-the-comment", "in-the-id"],
)
def test_a_line_whose_quote_is_never_closed_keeps_the_id_before_it(
    tmp_path: Path, stray: str, told: str | None
) -> None:
    """Found by a card issuer's trial: line 21 of a SurveyMonkey export opened a quote in
    its comment and never closed it; its first field, the response id, was whole, yet the
    quarantine row's record_id was null (a line with a field too many keeps its id). The
    fields before the one the quote opens are whole, the header's first ones."""
    after = ['R6,2026-10-01T13:00:00Z,web,4,"fine, thanks"', "R7,2026-10-01T14:00:00Z,web,5,ok"]
    got = _ingest(tmp_path, "\n".join([HEADER, *ROWS, stray, *after]) + "\n")
    [(line, record_id, reasons)] = got.quarantine.select(
        "source_line", "record_id", "reasons"
    ).rows()
    assert line == 4 and "is not closed on line 4" in reasons[0]
    assert record_id == told
    assert got.clean.get_column("response_id").to_list() == ["R1", "R2", "R6", "R7"]
