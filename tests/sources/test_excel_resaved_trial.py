"""A German/Spanish contact-centre analyst's trial, every export re-saved by Excel on Windows:
ids Excel wrote in scientific notation (``1,23457E+11``, ``4,17001E+08``) and a totals row
(``Summe;;;;;;2.578,75;...``) were quarantined with reasons that did not say so, or kept.
Each test reads a file like the trial's through ``sources check`` or the landing a ``run``
does, and checks every row read is kept or quarantined, and the exact reasons."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from servicelens.cli.main import main
from servicelens.ingest.definitions import load_definition
from servicelens.ingest.landing import land_delivery
from servicelens.settings import Settings
from servicelens.stages import validate_landed_day

#: Declares the trial's columns, semicolons, decimal commas and timezone = "Europe/Berlin".
DEFINITION = Path(__file__).parent / "definitions" / "european-feedback.toml"
HEADER = (
    "Antwort-ID;Vorgangsnummer;Eingangsdatum;Kanal;Zufriedenheit;Weiterempfehlung (0-10);"
    "Bearbeitungszeit (Min);Gebühr (EUR);Kommentar;"
)
SCIENTIFIC = (
    "is a number a spreadsheet wrote in scientific notation: its digits are lost. Export the "
    "ids again as text (format that column as Text before saving, or import the CSV with it "
    "as Text: a CSV opened in the spreadsheet has its long numbers turned into this)"
)


def _export(path: Path, rows: list[str]) -> Path:
    """``rows`` under the trial's header, as Excel on Windows saves them (cp1252, CRLF, the
    empty rows below the data, each row ending in a delimiter as the header does)."""
    text = "\r\n".join([HEADER, *(f"{row};" for row in rows), ";;;;;;;;;", ";;;;;;;;;"])
    text += "\r\n"
    path.write_bytes(text.encode("cp1252"))
    return path


def _checked(tmp_path: Path, export: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    argv = ["--data-dir", str(tmp_path / "data"), "sources", "check", str(DEFINITION)]
    main([*argv, str(export), "--json"])
    checked: dict[str, Any] = json.loads(capsys.readouterr().out)
    return checked


#: The trial's ``v7-ids-sci.csv``: six of ten ids saved in scientific notation, with a
#: decimal comma and with a point, each rounding shared by two responses of different days
#: (lines 4 and 9 moved onto one day, so that one partition holds both copies).
IDS_SCIENTIFIC = [
    "00123456780;417001234;02.11.2026 08:14;Telefon;4;8;4,5;0,00;Schnell geholfen, danke",
    "1,23457E+11;417001235;02.11.2026 09:02;E-Mail;1;0;62,25;1.299,99;Doppelt abgebucht",
    "4,17E+08;417001236;03.11.2026 17:45;Chat;k.A.;;3;0,00;",
    "1.23457E+11;417001237;04.11.2026 11:30;Filiale;5;10;12,75;0,00;Sehr nette Beratung",
    "009994;417001238;05.11.2026 07:59;Telefon;2;3;41;15,00;Dreimal weiterverbunden",
    "00123456785;417001239;06.11.2026 13:10;telefon;3;-;7,5;0,00;Regel verstanden",
    "1,23457E+11;417001240;09.11.2026 14:30;Web;2;4;0,5;0,00;Preis stand nicht im System",
    "4,17E+08;417001241;03.11.2026 18:20;E-Mail;N/A;7;1.234,5;0,00;Antwort kam spät",
    "1.23457E+11;417001242;11.11.2026 10:05;Telefon;1;2;1.020,0;35,00;Kündigung dauerte",
    "009999;417001243;12.11.2026 16:40;Chat;2;5;22;0,00;Lieferfenster verpasst",
]
#: The lines of the ids in scientific notation, and the ids.
SCIENTIFIC_LINES = {
    3: "1,23457E+11",
    4: "4,17E+08",
    5: "1.23457E+11",
    8: "1,23457E+11",
    9: "4,17E+08",
    10: "1.23457E+11",
}


def test_ids_in_scientific_notation_used_twice_are_told_so_not_to_keep_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``1,23457E+11`` on two rows was told "is used by more than one different response
    ... keep one of them in the export", which would drop real responses: each such row is
    told its digits are lost, alone, by ``sources check`` (the whole export) and by the
    landing and per-date validation of a ``run``."""
    export = _export(tmp_path / "v7-ids-sci.csv", IDS_SCIENTIFIC)
    checked = _checked(tmp_path, export, capsys)
    reasons = {row["source_line"]: row["reasons"] for row in checked["quarantined"]}
    assert reasons == {
        line: [f"response_id: '{rid}' {SCIENTIFIC}"] for line, rid in SCIENTIFIC_LINES.items()
    }
    assert checked["counts"]["read"] == 10 and checked["counts"]["kept"] == 4
    assert checked["counts"]["quarantined"] == 6

    kept, quarantined = _run(tmp_path, export, (2, 3, 4, 5, 6, 9, 11, 12))
    assert sorted(kept.get_column("response_id")) == [
        "00123456780",
        "00123456785",
        "009994",
        "009999",
    ]
    assert quarantined == reasons


def _run(
    tmp_path: Path, export: Path, days: tuple[int, ...]
) -> tuple[pl.DataFrame, dict[int, list[str]]]:
    """Land ``export`` as a ``run`` does and validate its partitions, each one of the
    November ``days`` (undated rows are under the delivery's own day, not the day it was
    landed): the clean rows and each quarantined line's reasons, every row read one or the
    other."""
    from servicelens.ingest.landing import landed_periods

    base = Settings(data_dir=str(tmp_path / "run"), timezone="Europe/Berlin")
    definition = load_definition(str(DEFINITION))
    source = base.for_source(definition.name, str(DEFINITION))
    land_delivery(source, definition, export, datetime(2026, 11, 13, 9, tzinfo=UTC))
    now = datetime(2026, 11, 13, 10, tzinfo=UTC)
    kept: list[pl.DataFrame] = []
    quarantined: dict[int, list[str]] = {}
    periods = landed_periods(source)
    assert {p.day for p in periods} <= set(days), periods
    for period in periods:
        validated = validate_landed_day(source, period, period.isoformat(), now)
        assert validated.counts.surveys_read == validated.counts.kept + validated.counts.quarantined
        kept.append(validated.clean().select("response_id", "interaction_id"))
        quarantined |= {
            r["source_line"]: r["reasons"] for r in validated.quarantine().iter_rows(named=True)
        }
    return pl.concat(kept), quarantined


#: The trial's ``v4-serials.csv``: Vorgangsnummer saved as ``4,17001E+08`` on three rows
#: (lines 3, 6, 8), so that their responses joined one interaction; the dates are text.
INTERACTIONS_SCIENTIFIC = [
    "A-40001;417001234;02.11.2026 08:14;Telefon;4;8;4,5;0,00;Schnell geholfen, danke",
    "A-40002;4,17001E+08;02.11.2026 09:02;E-Mail;1;0;62,25;1.299,99;Doppelt abgebucht",
    "A-40003;417001236;03.11.2026 17:45;Chat;k.A.;;3;0,00;",
    "A-40004;417001237;04.11.2026 11:30;Filiale;5;10;12,75;0,00;Sehr nette Beratung",
    "A-40005;417001238;05.11.2026 07:59;Telefon;2;3;41;15,00;Dreimal weiterverbunden",
    "A-40006;4,17001E+08;06.11.2026 13:10;telefon;3;-;7,5;0,00;Regel verstanden",
    "A-40007;417001240;09.11.2026 14:30;Web;2;4;0,5;0,00;Preis stand nicht im System",
    "A-40008;4.17001E+08;10.11.2026 18:20;E-Mail;N/A;7;1.234,5;0,00;Antwort kam spät",
]


def test_interaction_ids_in_scientific_notation_are_quarantined_saying_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Three responses whose Vorgangsnummer Excel wrote as ``4,17001E+08`` were kept, all
    joined to one interaction (contact facts, repeat-contact history): each is quarantined
    as a response id so written is, by ``sources check`` and by a ``run``."""
    export = _export(tmp_path / "v4-serials.csv", INTERACTIONS_SCIENTIFIC)
    checked = _checked(tmp_path, export, capsys)
    reasons = {row["source_line"]: row["reasons"] for row in checked["quarantined"]}
    assert reasons == {
        3: [f"interaction_id: '4,17001E+08' {SCIENTIFIC}"],
        7: [f"interaction_id: '4,17001E+08' {SCIENTIFIC}"],
        9: [f"interaction_id: '4.17001E+08' {SCIENTIFIC}"],
    }
    assert checked["counts"] | {"redacted": None, "negatives": None} == {
        "read": 8,
        "kept": 5,
        "quarantined": 3,
        "redacted": None,
        "negatives": None,
    }
    # The reason names the column as the export does, as every column reason is named.
    assert checked["export_columns"] == {"interaction_id": "Vorgangsnummer"}

    kept, quarantined = _run(tmp_path, export, (2, 3, 4, 5, 6, 9, 10))
    assert kept.sort("response_id").rows() == [
        ("A-40001", "417001234"),
        ("A-40003", "417001236"),
        ("A-40004", "417001237"),
        ("A-40005", "417001238"),
        ("A-40007", "417001240"),
    ]
    assert quarantined == reasons


def test_a_totals_row_with_only_empty_cells_failing_is_told_it_is_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The trial's ``v10-title-totals.csv``: a title above the header and a ``Summe`` row
    below the data whose scores are empty and whose sums are numbers (``2.578,75``) was told
    only that its interaction id and time were missing: the totals note rode on a score
    that is no score. It is said on the row's first reason whatever failed; the row stays
    quarantined and the responses are kept."""
    export = tmp_path / "v10-title-totals.csv"
    rows = [f"{row};" for row in TITLED_ROWS]
    text = "\r\n".join(["Kundenumfrage November 2026;;;;;;;;;", HEADER, *rows, ";;;;;;;;;"])
    export.write_bytes((text + "\r\n").encode("cp1252"))
    checked = _checked(tmp_path, export, capsys)
    totals = [
        "interaction_id: (empty) missing; the row looks like the totals or summary row of a "
        "spreadsheet, not a response: it should not be in the export (take it out, or export "
        "the responses without totals); the row stays quarantined, so nothing is lost",
        "submitted_at: (empty) is missing (expected %d.%m.%Y %H:%M, as the source definition "
        "declares)",
    ]
    assert {row["source_line"]: row["reasons"] for row in checked["quarantined"]} == {8: totals}
    assert checked["counts"]["read"] == 6 and checked["counts"]["kept"] == 5

    kept, quarantined = _run(tmp_path, export, (2, 3, 4, 5, 13))
    assert sorted(kept.get_column("response_id")) == [f"A-1000{n}" for n in range(1, 6)]
    assert quarantined == {8: totals}


#: The rows of the trial's ``v10-title-totals.csv`` below its title and header (lines 3-8).
TITLED_ROWS = [
    "A-10001;417001234;02.11.2026 08:14;Telefon;4;8;4,5;0,00;Schnell geholfen, danke",
    "A-10002;417001235;02.11.2026 09:02;E-Mail;1;0;62,25;1.299,99;Doppelt abgebucht",
    "A-10003;417001236;03.11.2026 17:45;Chat;k.A.;;3;0,00;",
    "A-10004;417001237;04.11.2026 11:30;Filiale;5;10;12,75;0,00;Sehr nette Beratung",
    "A-10005;417001238;05.11.2026 07:59;Telefon;2;3;2.498,25;15,00;Dreimal weiterverbunden",
    "Summe;;;;;;2.578,75;1.350,99;",
]


#: The trial's call log with its customer and agent numbers (``Kundennummer``,
#: ``Personalnummer``), as ``european-feedback.toml`` reads the rest.
CONTACT_HEADER = (
    "Antwort-ID;Vorgangsnummer;Kundennummer;Personalnummer;Eingangsdatum;Kanal;Kommentar"
)
#: Two customers Excel rounded to one ``4,17E+08`` (lines 3 and 4), and two agents to one
#: ``1,23457E+11`` (lines 5 and 6): repeat contacts and the agents mart would merge them.
CONTACT_IDS_SCIENTIFIC = [
    "A-50001;417001234;004170012345;000123456789;02.11.2026 08:14;Telefon;Schnell geholfen",
    "A-50002;417001235;4,17E+08;000123456789;02.11.2026 09:02;E-Mail;Doppelt abgebucht",
    "A-50003;417001236;4.17E+08;000123456790;03.11.2026 17:45;Chat;Nie wieder",
    "A-50004;417001237;004170012348;1,23457E+11;04.11.2026 11:30;Filiale;Sehr nett",
    "A-50005;417001238;004170012349;1.23457E+11;04.11.2026 07:59;Telefon;Weiterverbunden",
]


def _contact_definition(tmp_path: Path, pseudonymise_agents: bool) -> Path:
    definition = tmp_path / "anrufe.toml"
    definition.write_text(
        'name = "anrufe"\ntimezone = "Europe/Berlin"\ncountry = "DE"\n'
        f"pseudonymise_agents = {str(pseudonymise_agents).lower()}\n"
        '[read]\ndelimiter = ";"\n[columns]\nresponse_id = "Antwort-ID"\n'
        'interaction_id = "Vorgangsnummer"\ncustomer_id = "Kundennummer"\n'
        'agent_id = "Personalnummer"\n'
        'submitted_at = { column = "Eingangsdatum", format = "%d.%m.%Y %H:%M" }\n'
        'channel = { column = "Kanal", values = { Telefon = "phone", "E-Mail" = "email", '
        'Chat = "chat", Filiale = "store" } }\ncomment = "Kommentar"\n',
        encoding="utf-8",
    )
    return definition


@pytest.mark.parametrize("pseudonymise_agents", [True, False])
def test_customer_and_agent_ids_in_scientific_notation_are_quarantined_saying_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pseudonymise_agents: bool
) -> None:
    """Customer and agent numbers Excel wrote as ``4,17E+08`` were kept: two customers
    counted as one in the repeat-contact history, two agents as one in the agents mart.
    Each such row is quarantined as an interaction id so written is; a pseudonymised
    agent's rounded number is not printed (nor stored: landing pseudonymises it first)."""
    export = tmp_path / "anrufe.csv"
    text = "\r\n".join([CONTACT_HEADER, *CONTACT_IDS_SCIENTIFIC]) + "\r\n"
    export.write_bytes(text.encode("cp1252"))
    definition = _contact_definition(tmp_path, pseudonymise_agents)
    agents = "(not shown: the source pseudonymises its agents)"
    expected = {
        3: [f"customer_id: '4,17E+08' {SCIENTIFIC}"],
        4: [f"customer_id: '4.17E+08' {SCIENTIFIC}"],
        5: [f"agent_id: {agents if pseudonymise_agents else repr('1,23457E+11')} {SCIENTIFIC}"],
        6: [f"agent_id: {agents if pseudonymise_agents else repr('1.23457E+11')} {SCIENTIFIC}"],
    }
    argv = ["--data-dir", str(tmp_path / "data"), "sources", "check", str(definition)]
    main([*argv, str(export), "--json"])
    checked = json.loads(capsys.readouterr().out)
    assert {row["source_line"]: row["reasons"] for row in checked["quarantined"]} == expected
    assert checked["counts"]["read"] == 5 and checked["counts"]["kept"] == 1

    base = Settings(data_dir=str(tmp_path / "run"), timezone="Europe/Berlin")
    loaded = load_definition(str(definition))
    source = base.for_source(loaded.name, str(definition))
    land_delivery(source, loaded, export, datetime(2026, 11, 5, 9, tzinfo=UTC))
    now = datetime(2026, 11, 5, 10, tzinfo=UTC)
    kept: list[str] = []
    quarantined: dict[int, list[str]] = {}
    for day in (2, 3, 4):
        validated = validate_landed_day(source, date(2026, 11, day), f"2026-11-0{day}", now)
        assert validated.counts.surveys_read == validated.counts.kept + validated.counts.quarantined
        kept += validated.clean().get_column("response_id").to_list()
        for row in validated.quarantine().iter_rows(named=True):
            quarantined[row["source_line"]] = row["reasons"]
            # Nothing stored of a pseudonymised agent's number, rounded or not.
            assert ("1,23457E+11" in row["raw_record"]) is (
                not pseudonymise_agents and row["source_line"] == 5
            )
    assert kept == ["A-50001"]
    assert quarantined == expected
