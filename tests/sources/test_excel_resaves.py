"""Exports re-saved by Excel (trial 96: a German contact-centre analyst's survey exports):
an old-Mac CSV whose lines end in CR alone with a line break typed in a comment, and a
workbook with a title row above its header. Each reads every row, kept or quarantined, at
the line or row the file shows it on."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from servicelens.ingest.definitions import DefinitionError, load_definition
from servicelens.settings import Settings
from servicelens.stages import Ingested, ingest_export

NOW = datetime(2026, 11, 30, tzinfo=UTC)
HEADER = [
    "Antwort-ID", "Vorgangsnummer", "Eingangsdatum", "Kanal", "Zufriedenheit",
    "Weiterempfehlung (0-10)", "Bearbeitungszeit (Min)", "Gebühr (EUR)", "Kommentar",
]  # fmt: skip
ROWS = [
    ["A-70001", "000417001234", "02.11.2026 08:14", "Telefon", "4 - Zufrieden", "8", "4,5",
     "0,00", "Schnell geholfen, danke"],
    ["A-70002", "000417001235", "02.11.2026 09:02", "E-Mail", "1 - Sehr unzufrieden", "0",
     "62,25", "1.299,99", "Gebühr wurde doppelt abgebucht; niemand ruft zurück"],
    ["A-70003", "000417001236", "05.11.2026 07:59", "Telefon", "2 - Unzufrieden", "3", "41",
     "15,00", "Dreimal weiterverbunden.\nAm Ende war die Leitung tot."],
    ["A-70004", "000417001237", "06.11.2026 13:10", "Fax", "3 - Neutral", "-", "7,5", "0,00",
     "Regel verstanden"],
]  # fmt: skip


def _definition(tmp_path: Path, read: str) -> Path:
    definition = tmp_path / "kundenumfrage.toml"
    definition.write_text(
        'name = "kundenumfrage"\ntimezone = "Europe/Berlin"\ncountry = "DE"\n'
        f'[read]\n{read}\nnull_values = ["", "k.A.", "N/A", "-"]\n'
        'decimal_comma = true\nthousands = "."\n'
        '[columns]\nresponse_id = "Antwort-ID"\ninteraction_id = "Vorgangsnummer"\n'
        'submitted_at = { column = "Eingangsdatum", format = "%d.%m.%Y %H:%M" }\n'
        'channel = { column = "Kanal", values = { Telefon = "phone", "E-Mail" = "email" } }\n'
        'csat = { column = "Zufriedenheit", required = false }\n'
        'nps = "Weiterempfehlung (0-10)"\n'
        'handle_seconds = { column = "Bearbeitungszeit (Min)", unit = "minutes" }\n'
        'fees_charged = "Gebühr (EUR)"\ncomment = "Kommentar"\n',
        encoding="utf-8",
    )
    return definition


def _ingest(definition: Path, export: Path, tmp_path: Path) -> Ingested:
    got = ingest_export(
        load_definition(str(definition)),
        export,
        Settings(data_dir=str(tmp_path / "data"), timezone="Europe/Berlin"),
        now=NOW,
    )
    counts = got.counts
    assert counts.surveys_read == counts.kept + counts.quarantined
    assert got.clean.height == counts.kept and got.quarantine.height == counts.quarantined
    return got


def _csv(rows: list[list[str]], line_end: str) -> bytes:
    def quoted(value: str) -> str:
        return f'"{value}"' if any(c in value for c in ';"\n\r') else value

    lines = [";".join(quoted(v) for v in row) for row in [HEADER, *rows]]
    return (line_end.join(lines) + line_end).encode("cp1252")


@pytest.mark.parametrize("delimiter", [";", "auto"])
def test_an_old_mac_csv_with_a_line_break_in_a_comment_reads_every_row(
    tmp_path: Path, delimiter: str
) -> None:
    """Lines end in CR alone (Excel for Mac's "Macintosh" CSV, cp1252); one quoted comment
    holds an LF. That LF made the whole file one line and its header one column."""
    export = tmp_path / "umfrage-mac.csv"
    export.write_bytes(_csv(ROWS, "\r"))
    got = _ingest(_definition(tmp_path, f'delimiter = "{delimiter}"'), export, tmp_path)
    assert got.mapped.read.header == HEADER
    assert got.counts.surveys_read == 4 and got.counts.kept == 3
    # The comment keeps its line break, and spans lines 4 and 5 as an editor shows them.
    kept = got.clean.select("response_id", "source_line", "comment").sort("source_line")
    assert kept.rows() == [
        ("A-70001", 2, "Schnell geholfen, danke"),
        ("A-70002", 3, "Gebühr wurde doppelt abgebucht; niemand ruft zurück"),
        ("A-70003", 4, "Dreimal weiterverbunden.\nAm Ende war die Leitung tot."),
    ]
    ((line, reasons),) = got.quarantine.select("source_line", "reasons").rows()
    assert line == 6 and "'Fax'" in reasons[0]


def test_an_lf_csv_whose_comment_holds_a_lone_cr_stays_an_lf_file(tmp_path: Path) -> None:
    """The other way round: lines end in LF, a quoted comment holds a CR alone. It is not
    taken for a CR-ended file (which would number its lines apart)."""
    rows = [list(row) for row in ROWS]
    rows[2][8] = "Dreimal weiterverbunden.\rAm Ende war die Leitung tot."
    export = tmp_path / "umfrage-lf.csv"
    export.write_bytes(_csv(rows, "\n"))
    got = _ingest(_definition(tmp_path, 'delimiter = ";"'), export, tmp_path)
    assert got.counts.surveys_read == 4 and got.counts.kept == 3
    lines = pl.concat([got.clean.select("source_line"), got.quarantine.select("source_line")])
    assert sorted(lines.get_column("source_line").to_list()) == [2, 3, 4, 5]


def _refusal(tmp_path: Path, read: str, export: Path) -> str:
    with pytest.raises(DefinitionError) as refused:
        _ingest(_definition(tmp_path, read), export, tmp_path)
    return str(refused.value)


def test_a_header_quoted_whole_is_said_once_with_why_not_per_column(tmp_path: Path) -> None:
    """A header line quoted whole reads as one column holding the semicolons it was read
    with: the columns are listed once and the hint says why, where each of nine used to
    quote the whole header as what "the export has"."""
    export = tmp_path / "umfrage.csv"
    lines = _csv(ROWS[:1], "\r\n").decode("cp1252").split("\r\n")
    export.write_bytes(f'"{lines[0]}"\r\n{lines[1]}\r\n'.encode("cp1252"))
    message = _refusal(tmp_path, 'delimiter = ";"', export)
    assert message.count(";".join(HEADER)) == 0  # quoted once, cut short, at the end
    assert "reads column(s) 'Antwort-ID', 'Vorgangsnummer', 'Eingangsdatum'," in message
    assert (
        "The file looks semicolon-separated, as it was read, yet its header was read as one "
        "column: its header line is quoted whole" in message
    )
    assert message.endswith(
        "The export's header has 1 column: 'Antwort-ID;Vorgangsnummer;"
        "Eingangsdatum;Kanal;Zufriedenheit;…'"
    )


def test_a_semicolon_export_read_as_commas_says_so_once(tmp_path: Path) -> None:
    export = tmp_path / "umfrage.csv"
    export.write_bytes(_csv(ROWS, "\r\n"))
    message = _refusal(tmp_path, 'delimiter = ","', export)
    assert "(the export has" not in message
    # Split at its semicolons the header has every column: said first, the header quoted
    # once, split so.
    assert message.count("Antwort-ID") == 1
    assert (
        "umfrage.csv: line 1 (header): the file is semicolon-separated and was read as "
        "comma-separated, so " in message
    )
    assert (
        'Set delimiter = "auto" in [read] of the definition (each delivery is then read with '
        'the delimiter it is written with), or delimiter = ";" if every delivery is '
        "semicolon-separated now. Split so, the export's header has 9 columns: 'Antwort-ID', "
        in message
    ), message


def _titled_workbook(target: Path, title: str) -> None:
    """The trial's workbook: a title in A1 of sheet 'Umfrage', the header in row 2, the
    responses with number and date cells from row 3, a totals row of formulas last."""
    import xlsxwriter

    book = xlsxwriter.Workbook(str(target))
    sheet = book.add_worksheet("Umfrage")
    when = book.add_format({"num_format": "dd.mm.yyyy hh:mm"})
    sheet.write_row(0, 0, [title])
    sheet.write_row(1, 0, HEADER)
    for i, row in enumerate(ROWS, start=2):
        sheet.write_string(i, 0, row[0])
        sheet.write_number(i, 1, int(row[1]))
        sheet.write_datetime(i, 2, datetime.strptime(row[2], "%d.%m.%Y %H:%M"), when)
        for column in (3, 4, 5, 8):
            sheet.write_string(i, column, row[column])
        sheet.write_number(i, 6, float(row[6].replace(".", "").replace(",", ".")))
        sheet.write_number(i, 7, float(row[7].replace(".", "").replace(",", ".")))
    sheet.write_string(6, 0, "Summe")
    sheet.write_formula(6, 6, "=SUM(G3:G6)", None, 115.25)
    book.close()


def test_a_workbook_with_a_title_above_its_header_reads_every_row_at_its_sheet_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The title in A1 was read as the header (one column, 'column_2' ...), and every
    column the definition reads was said to be missing; a CSV's title line was skipped."""
    from servicelens.cli.main import main

    export = tmp_path / "umfrage.xlsx"
    _titled_workbook(export, "Kundenumfrage November 2026 – Export")
    definition = _definition(tmp_path, 'format = "xlsx"')
    got = _ingest(definition, export, tmp_path)
    read = got.mapped.read
    assert read.header == HEADER and read.sheet == "Umfrage"
    assert read.title == (1, "Kundenumfrage November 2026 – Export")
    assert got.counts.surveys_read == 5 and got.counts.kept == 3
    kept = got.clean.select("response_id", "source_line", "comment").sort("source_line")
    assert kept.rows() == [
        ("A-70001", 3, "Schnell geholfen, danke"),
        ("A-70002", 4, "Gebühr wurde doppelt abgebucht; niemand ruft zurück"),
        ("A-70003", 5, "Dreimal weiterverbunden.\nAm Ende war die Leitung tot."),
    ]
    # The row with the channel Fax, and the totals row, at the rows Excel shows.
    assert sorted(got.quarantine.get_column("source_line").to_list()) == [6, 7]

    args = ["--data-dir", str(tmp_path / "data"), "sources", "check", str(definition)]
    assert main([*args, str(export)]) == 0
    out = capsys.readouterr().out
    assert (
        "sheet 'Umfrage' row 1 skipped as a title above the header "
        "('Kundenumfrage November 2026 – Export')"
    ) in out
    # Every quarantined row on its sheet, as Excel shows it (it said "row 7" alone).
    assert "\n  sheet 'Umfrage' row 6 (A-70004): channel: 'Fax'" in out
    assert "\n  sheet 'Umfrage' row 7 (Summe): " in out
    assert "\n  line " not in out and "\n  row " not in out

    assert main([*args, "--json", str(export)]) == 0
    checked = json.loads(capsys.readouterr().out)
    assert checked["counts"]["read"] == checked["counts"]["kept"] + len(checked["quarantined"])
    assert [(q["sheet"], q["source_line"], q["record_id"]) for q in checked["quarantined"]] == [
        ("Umfrage", 6, "A-70004"),
        ("Umfrage", 7, "Summe"),
    ]


def test_a_workbook_missing_columns_below_its_title_names_the_sheet_and_row(
    tmp_path: Path,
) -> None:
    export = tmp_path / "umfrage.xlsx"
    _titled_workbook(export, "Kundenumfrage November 2026")
    definition = _definition(tmp_path, 'format = "xlsx"')
    text = definition.read_text(encoding="utf-8").replace('"Kommentar"', '"Freitext"')
    definition.write_text(text, encoding="utf-8")
    with pytest.raises(DefinitionError) as refused:
        _ingest(definition, export, tmp_path)
    assert str(refused.value).startswith(
        f"{export}: sheet 'Umfrage' row 2 (header): definition {definition} reads column(s) "
        "'Freitext' that the export does not have"
    )


@pytest.mark.parametrize("title", ["Export, November 2026", "Kundenumfrage; Stand 30.11.2026"])
def test_a_workbook_title_holding_a_comma_or_semicolon_is_skipped(
    tmp_path: Path, title: str
) -> None:
    """A title cell with a comma or semicolon was read as the header: the rule that a title
    holds no delimiter is a CSV line's, and a sheet's cells were never split by one."""
    export = tmp_path / "umfrage.xlsx"
    _titled_workbook(export, title)
    got = _ingest(_definition(tmp_path, 'format = "xlsx"'), export, tmp_path)
    assert got.mapped.read.header == HEADER and got.mapped.read.title == (1, title)
    assert got.counts.surveys_read == 5 and got.counts.kept == 3
    assert sorted(got.clean.get_column("source_line").to_list()) == [3, 4, 5]
    assert dict(got.quarantine.select("source_line", "reasons").rows()) == {
        6: [
            "channel: 'Fax' is not a known channel (phone, chat, email, store, web); map the "
            "word the export uses to one of these with values on channel in [columns] of the "
            "source definition (docs/sources.md, Format)"
        ],
        7: [
            "interaction_id: (empty) missing; the row looks like the totals or summary row of "
            "a spreadsheet, not a response: it should not be in the export (take it out, or "
            "export the responses without totals); the row stays quarantined, so nothing is "
            "lost",
            "submitted_at: (empty) is missing (expected %d.%m.%Y %H:%M, as the source "
            "definition declares)",
        ],
    }


def test_a_workbook_run_names_its_rows_by_sheet_and_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A workbook delivered again, one response corrected and one with a date cell Excel
    holds as text it cannot read: the run's notes and the quarantine's reasons named its
    rows by "line", as no one finds them in Excel; they say sheet and row, as ``sources
    check`` does (its summary's header too, where it said "2 header line(s)"). ``source_line``
    holds the row."""
    from servicelens.cli.main import main
    from servicelens.ingest.landing import land_delivery
    from servicelens.stages import validate_landed_day

    definition = _definition(tmp_path, 'format = "xlsx"')
    first = tmp_path / "umfrage-1.xlsx"
    _titled_workbook(first, "Kundenumfrage November 2026")
    rows = [list(row) for row in ROWS[:3]]
    rows[0][8] = "Schnell geholfen, danke!"  # corrected
    second = tmp_path / "umfrage-2.xlsx"
    import xlsxwriter

    book = xlsxwriter.Workbook(str(second))
    sheet = book.add_worksheet("Umfrage")
    sheet.write_row(0, 0, ["Kundenumfrage November 2026, Korrektur"])
    sheet.write_row(1, 0, HEADER)
    for i, row in enumerate(rows, start=2):
        sheet.write_row(i, 0, row)
    sheet.write_string(3, 2, "02.11.2026 9 Uhr")  # A-70002's time, unreadable
    book.close()

    base = Settings(data_dir=str(tmp_path / "run"), timezone="Europe/Berlin")
    loaded = load_definition(str(definition))
    source = base.for_source(loaded.name, str(definition))
    land_delivery(source, loaded, first, datetime(2026, 11, 20, 9, tzinfo=UTC))
    landing = land_delivery(source, loaded, second, datetime(2026, 11, 21, 9, tzinfo=UTC))
    assert landing.notes() == [
        "sheet 'Umfrage' row 4 re-delivers a response landed before (in 2026-11-02's "
        "partition) with a submitted_at that cannot be read: it is quarantined under the "
        "day the delivery was landed, 2026-11-21, apart, and the older copy stays in the "
        "marts. Fix submitted_at in the "
        "export (or the definition's format for it) and deliver it again to replace the "
        "older copy"
    ]
    quarantined: dict[tuple[str, int], list[str]] = {}
    kept: list[tuple[str, int]] = []
    from servicelens.ingest.landing import landed_periods

    # The first workbook's undated rows are under its delivery's day (that of most of its
    # rows), the second's re-delivered one under the day it was landed, apart.
    assert [p.day for p in landed_periods(source)] == [2, 5, 6, 21]
    for period in landed_periods(source):
        validated = validate_landed_day(source, period, f"d{period.day}", NOW)
        counts = validated.counts
        assert counts.surveys_read == counts.kept + counts.quarantined
        kept += validated.clean().select("response_id", "source_line").rows()
        for row in validated.quarantine().iter_rows(named=True):
            quarantined[(Path(row["source_file"]).name[13:], row["source_line"])] = row["reasons"]
    # The corrected row and the third replace their first copies; the second's first copy
    # stays, its re-delivery unreadable.
    assert sorted(kept) == [("A-70001", 3), ("A-70002", 4), ("A-70003", 5)]
    # The second workbook holds the ids as text ("000417001234"), the first as numbers
    # (417001234): both copies changed since, the corrected one its comment too.
    assert quarantined == {
        ("umfrage-1.xlsx", 3): [
            "updated: superseded by the later version on sheet 'Umfrage' row 3 of "
            "umfrage-2.xlsx (changed: interaction_id, comment)"
        ],
        ("umfrage-1.xlsx", 5): [
            "updated: superseded by the later version on sheet 'Umfrage' row 5 of "
            "umfrage-2.xlsx (changed: interaction_id)"
        ],
        ("umfrage-1.xlsx", 6): [
            "channel: 'Fax' is not a known channel (phone, chat, email, store, web); map the "
            "word the export uses to one of these with values on channel in [columns] of the "
            "source definition (docs/sources.md, Format)"
        ],
        ("umfrage-1.xlsx", 7): [
            "interaction_id: (empty) missing; the row looks like the totals or summary row of "
            "a spreadsheet, not a response: it should not be in the export (take it out, or "
            "export the responses without totals); the row stays quarantined, so nothing is "
            "lost",
            "submitted_at: (empty) is missing (expected %d.%m.%Y %H:%M, as the source "
            "definition declares)",
        ],
        ("umfrage-2.xlsx", 4): [
            "submitted_at: '02.11.2026 9 Uhr' is not a timestamp (expected %d.%m.%Y %H:%M, as "
            "the source definition declares)"
        ],
    }

    args = ["--data-dir", str(tmp_path / "data"), "sources", "check", str(definition)]
    assert main([*args, str(second)]) == 0
    out = capsys.readouterr().out
    assert "header in sheet 'Umfrage' row 2," in out and "header line" not in out
    assert "\n  sheet 'Umfrage' row 4 (A-70002): submitted_at: '02.11.2026 9 Uhr'" in out
    assert "\n  line " not in out and "\n  row " not in out


def test_a_workbook_whose_definition_names_no_sheet_names_the_sheet_in_every_reason(
    tmp_path: Path,
) -> None:
    """A definition leaving ``sheet`` at 0 was told "superseded by row 6": the landed rows
    kept no sheet, so only a definition naming its sheet got it in the reasons. The sheet
    each delivery was read from is named, in one file, across deliveries and across
    partitions (a correction that moves a response to another date)."""
    from servicelens.ingest.landing import land_delivery
    from servicelens.stages import validate_landed_day

    definition = _definition(tmp_path, 'format = "xlsx"')
    first, second = tmp_path / "umfrage-1.xlsx", tmp_path / "umfrage-2.xlsx"
    import xlsxwriter

    corrected = list(ROWS[1])
    corrected[2] = "03.11.2026 09:02"  # A-70002 moves to the 3rd
    for target, sheet_name, rows in (
        (first, "Umfrage", [ROWS[0], ROWS[1], ROWS[0]]),
        (second, "Export", [corrected]),
    ):
        book = xlsxwriter.Workbook(str(target))
        sheet = book.add_worksheet(sheet_name)
        sheet.write_row(0, 0, HEADER)
        for i, row in enumerate(rows, start=1):
            sheet.write_row(i, 0, row)
        book.close()

    got = _ingest(definition, first, tmp_path)
    assert got.quarantine.select("source_line", "reasons").rows() == [
        (2, ["exact duplicate: the same response id and answers as sheet 'Umfrage' row 4"])
    ]

    base = Settings(data_dir=str(tmp_path / "run"), timezone="Europe/Berlin")
    loaded = load_definition(str(definition))
    source = base.for_source(loaded.name, str(definition))
    land_delivery(source, loaded, first, datetime(2026, 11, 20, 9, tzinfo=UTC))
    land_delivery(source, loaded, second, datetime(2026, 11, 21, 9, tzinfo=UTC))
    quarantined: dict[tuple[str, int], list[str]] = {}
    read = kept = 0
    for day in (2, 3):
        validated = validate_landed_day(source, date(2026, 11, day), f"d{day}", NOW)
        counts = validated.counts
        assert counts.surveys_read == counts.kept + counts.quarantined
        read, kept = read + counts.surveys_read, kept + counts.kept
        for row in validated.quarantine().iter_rows(named=True):
            quarantined[(Path(row["source_file"]).name[13:], row["source_line"])] = row["reasons"]
    assert (read, kept) == (4, 2)
    assert quarantined == {
        ("umfrage-1.xlsx", 2): [
            "exact duplicate: the same response id and answers as sheet 'Umfrage' row 4"
        ],
        ("umfrage-1.xlsx", 3): [
            "duplicate delivery: superseded by sheet 'Export' row 2 of umfrage-2.xlsx, a later "
            "delivery that dates it 2026-11-03"
        ],
    }


@pytest.mark.parametrize(
    ("declared", "times", "said"),
    [
        # Month first (13th to 22nd of November) against a day-first definition.
        (
            "%d/%m/%Y %H:%M",
            [f"11/{day}/2026 08:14" for day in range(13, 23)],
            "sheet 'Umfrage' row 2: submitted_at '11/13/2026 08:14' reads only as "
            "%m/%d/%Y %H:%M, as do 9 more of its times",
        ),
        # A week written day first (1st to 8th of March) against a month-first definition.
        (
            "%m/%d/%Y %H:%M",
            [f"0{day}/03/2026 08:14" for day in range(1, 9)],
            "sheet 'Umfrage' row 2: submitted_at '01/03/2026 08:14' reads either way round, "
            "as does every time of this export",
        ),
    ],
)
def test_a_workbook_whose_dates_are_the_other_way_round_is_refused_naming_sheet_and_row(
    tmp_path: Path, declared: str, times: list[str], said: str
) -> None:
    """The refusal of a workbook whose slashed dates cannot be in the definition's order
    said "line 2": no one finds a line in Excel. Landing and ``sources check`` (through
    ``ingest_export``) both refuse it, nothing landed."""
    import xlsxwriter

    from servicelens.ingest.landing import land_delivery

    definition = _definition(tmp_path, 'format = "xlsx"')
    text = definition.read_text(encoding="utf-8").replace("%d.%m.%Y %H:%M", declared)
    definition.write_text(text, encoding="utf-8")
    export = tmp_path / "umfrage.xlsx"
    book = xlsxwriter.Workbook(str(export))
    sheet = book.add_worksheet("Umfrage")
    sheet.write_row(0, 0, HEADER)
    for i, time in enumerate(times, start=1):
        sheet.write_row(i, 0, [f"A-{i}", ROWS[0][1], time, *ROWS[0][3:]])
    book.close()

    loaded = load_definition(str(definition))
    settings = Settings(data_dir=str(tmp_path / "run"), timezone="Europe/Berlin")
    source = settings.for_source(loaded.name, str(definition))
    with pytest.raises(DefinitionError) as refused:
        land_delivery(source, loaded, export, datetime(2026, 11, 30, 9, tzinfo=UTC))
    assert str(refused.value).startswith(f"{export}: {said}")
    assert not any(source.landed_dir.glob("*/*.parquet"))
    with pytest.raises(DefinitionError) as checked:
        _ingest(definition, export, tmp_path)
    assert str(checked.value).startswith(f"{export}: {said}")


def test_ids_that_lost_their_leading_zeros_are_kept_and_told(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A CSV re-saved by Excel held two interaction ids without their leading zeros
    (``417001235`` for ``000417001235``) among ids of 12 digits: kept silently as other
    ids, they join nothing. They stay kept (an id may be short), and the run's notes and
    ``sources check`` say so, naming the file, the column, how many and two examples."""
    from flows.sources import _landing_dict, _landing_notes_by_partition
    from servicelens.cli.main import main
    from servicelens.ingest.landing import land_delivery

    rows = [list(row) for row in ROWS] + [
        ["A-70005", "000417001238", *ROWS[0][2:]],
        ["A-70006", "000417001239", *ROWS[0][2:]],
    ]
    rows[1][1], rows[2][1] = "417001235", "17001236"
    export = tmp_path / "umfrage.csv"
    export.write_bytes(_csv(rows, "\r\n"))
    definition = _definition(tmp_path, 'delimiter = ";"')
    said = (
        "column 'Vorgangsnummer' (interaction_id): 2 ids have fewer digits "
        "than the column's other ids, which have 12 with leading zeros (e.g. '417001235' "
        "(likely '000417001235'), '17001236' (likely '000017001236')): a spreadsheet most "
        "likely dropped their leading zeros when the file was saved, so they do not match "
        "the same ids elsewhere (an interaction, an earlier delivery). Kept as delivered; if "
        "the zeros were lost, format the column as Text in Excel before saving (or export "
        "the file again from the source) and deliver it again"
    )
    got = _ingest(definition, export, tmp_path)
    assert (got.counts.surveys_read, got.counts.kept) == (6, 5)
    assert sorted(got.clean.get_column("interaction_id").to_list()) == [
        "000417001234", "000417001238", "000417001239", "17001236", "417001235"
    ]  # fmt: skip

    args = ["--data-dir", str(tmp_path / "data"), "sources", "check", str(definition)]
    assert main([*args, str(export)]) == 0
    assert f"\n\numfrage.csv: {said}\n" in capsys.readouterr().out
    assert main([*args, "--json", str(export)]) == 0
    assert json.loads(capsys.readouterr().out)["short_ids"] == [said]

    base = Settings(data_dir=str(tmp_path / "run"), timezone="Europe/Berlin")
    loaded = load_definition(str(definition))
    source = base.for_source(loaded.name, str(definition))
    landing = land_delivery(source, loaded, export, datetime(2026, 11, 20, 9, tzinfo=UTC))
    assert landing.notes() == [said]
    # The nightly's table puts the file's name before each landing note, once (it read
    # "umfrage.csv: umfrage.csv: column 'Vorgangsnummer' ...").
    nightly = _landing_notes_by_partition([{"landing": _landing_dict(landing)}], ["2026-11-20"])
    assert [n for notes in nightly.values() for n in notes] == [f"umfrage.csv: {said}"]

    # Ids of one width throughout, or with no zero to lose, are not told.
    rows[1][1], rows[2][1] = "000417001235", "000417001236"
    export.write_bytes(_csv(rows, "\r\n"))
    assert main([*args, "--json", str(export)]) == 0
    assert json.loads(capsys.readouterr().out)["short_ids"] == []
    for row, number in zip(rows, ["35", "117", "1024", "99", "100", "101"], strict=True):
        row[1] = number  # a counter's ids: naturally of several widths
    export.write_bytes(_csv(rows, "\r\n"))
    assert main([*args, "--json", str(export)]) == 0
    assert json.loads(capsys.readouterr().out)["short_ids"] == []


def test_a_forms_workbook_and_its_excel_csv_re_save_are_one_source_and_count_once(
    tmp_path: Path,
) -> None:
    """Found by trial 109: a Microsoft Forms workbook and a colleague's re-save of it as
    CSV (Excel in German: semicolons, cp1252, times day first without seconds) were two
    copies of each response, for the id was ID + the Start time's text; and no one source
    read both (format = "auto" read CSV or JSON only). The re-save's rows now supersede
    the workbook's, as re-saves of other sources do, and the day counts each response once."""
    import xlsxwriter

    from servicelens.ingest.landing import land_delivery
    from servicelens.stages import validate_landed_day

    question = "How satisfied were you with the support you received?"
    header = ["ID", "Start time", "Completion time", "Email", "Name", question, "Kommentar"]
    answers = [
        (851, datetime(2026, 11, 30, 9, 2, 41), datetime(2026, 11, 30, 9, 4, 2), 4, "Gut"),
        (852, datetime(2026, 11, 30, 9, 5, 59), datetime(2026, 11, 30, 9, 8, 30), 2, "Gebühr"),
        (853, datetime(2026, 11, 30, 9, 9, 7), datetime(2026, 11, 30, 9, 11, 0), 5, "Café"),
    ]
    workbook = tmp_path / "Customer Support Survey(1-853).xlsx"
    book = xlsxwriter.Workbook(str(workbook))
    sheet, when = book.add_worksheet("Sheet1"), book.add_format({"num_format": "m/d/yy h:mm:ss"})
    sheet.write_row(0, 0, header)
    for row, (number, start, end, csat, comment) in enumerate(answers, start=1):
        sheet.write_number(row, 0, number)
        sheet.write_datetime(row, 1, start, when)
        sheet.write_datetime(row, 2, end, when)
        sheet.write_row(row, 3, ["anonymous", "", csat, comment])
    book.close()
    lines = [";".join(header)] + [
        f"{n};{s:%d.%m.%Y %H:%M};{e:%d.%m.%Y %H:%M};anonymous;;{c};{t}" for n, s, e, c, t in answers
    ]
    resaved = tmp_path / "forms-export-resaved.csv"
    resaved.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))
    definition = tmp_path / "support-forms.toml"
    definition.write_text(
        'extends = "microsoft_forms"\nname = "support-forms"\ntimezone = "Europe/London"\n'
        '[read]\nformat = "auto"\ndelimiter = "auto"\n[columns]\n'
        'submitted_at = { column = "Completion time", '
        'format = ["iso", "%m/%d/%Y %H:%M:%S", "%d.%m.%Y %H:%M"] }\n'
        f'csat = "{question}"\ncomment = "Kommentar"\n',
        encoding="utf-8",
    )
    settings = Settings(data_dir=str(tmp_path / "run"), timezone="Europe/London")
    loaded = load_definition(str(definition))
    source = settings.for_source(loaded.name, str(definition))
    land_delivery(source, loaded, workbook, datetime(2026, 11, 30, 18, tzinfo=UTC))
    land_delivery(source, loaded, resaved, datetime(2026, 12, 1, 8, tzinfo=UTC))
    validated = validate_landed_day(source, date(2026, 11, 30), "d30", NOW.replace(day=2, month=12))
    kept = validated.clean().sort("response_id")
    assert kept.select("response_id", "csat", "comment").rows() == [
        ("851 2026-11-30 09:02", 4, "Gut"),
        ("852 2026-11-30 09:05", 2, "Gebühr"),
        ("853 2026-11-30 09:09", 5, "Café"),
    ]
    assert set(kept.get_column("source_file").map_elements(lambda f: Path(f).suffix)) == {".csv"}
    quarantine = validated.quarantine()
    assert quarantine.height == 3 and quarantine.get_column("superseded").all()
