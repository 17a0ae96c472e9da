"""Columns that never leave raw/ (a definition's ``never_store``, and the agent's name where
agents are pseudonymised) stay out of the landed layer and the quarantine, also in the raw
record of a line the reader could not split into the header's fields. A German trial's
export (``;``, decimal comma, names and e-mail addresses in their own columns) had a line of
15 fields under a header of 14: its customer and agent names reached both layers."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from servicelens.settings import Settings

DEFINITION = """\
name = "stadtwerke-de"
timezone = "Europe/Berlin"
country = "DE"
never_store = ["Kunde", "E-Mail-Adresse"]
{extra}
[read]
delimiter = ";"
decimal_comma = true
thousands = "."

[columns]
response_id = "Antwort-ID"
interaction_id = "Vorgangsnummer"
submitted_at = {{ column = "Eingangsdatum", format = "%d.%m.%Y %H:%M" }}
channel = {{ column = "Kanal", values = {{ Telefon = "phone" }} }}
csat = "Zufriedenheit"
nps = "Weiterempfehlung"
handle_seconds = {{ column = "Bearbeitungszeit", unit = "minutes" }}
fees_charged = "Gebühr"
customer_id = "Kundennummer"
agent_id = "Mitarbeiter"
queue = "Warteschlange"
comment = "Kommentar"
"""
HEADER = (
    "Antwort-ID;Vorgangsnummer;Eingangsdatum;Kanal;Zufriedenheit;Weiterempfehlung;"
    "Bearbeitungszeit;Gebühr;Kunde;E-Mail-Adresse;Kundennummer;Mitarbeiter;Warteschlange;"
    "Kommentar\n"
)
KEPT = "D-18;V-18;03.12.2026 16:00;Telefon;2;3;4,5;1.299,99;Anna Nord;anna@example.de;"
KEPT += "K-1018;Petra Weber;Strom;Zu teuer\n"
# The trial's line: a comment with a `;` in it, unquoted (15 fields where the header has 14).
RAGGED = "D-19;V-19;03.12.2026 17:00;Telefon;1;0;3;0,00;Sven Ost;sven@example.de;K-1019;"
RAGGED += "Petra Weber;Gas;Ruf an: 0171 7654321;sven.ost@web.de\n"
# A line a field short (the comment left out): the names sit one field to the left.
SHORT = "D-21;V-21;03.12.2026 17:30;Telefon;1;0;3;0,00;Lena West;lena@example.de;K-1021;"
SHORT += "Jonas Berg;Gas\n"
QUARANTINED = "D-20;V-20;03.12.2026 18:00;Telefon;9;0;3;0,00;Max Süd;max@example.de;"
QUARANTINED += "K-1020;Petra Weber;Gas;Geht so\n"
# A quote opened and never closed: the record runs over the lines after it.
OPEN_QUOTE = "D-22;V-22;03.12.2026 19:00;Telefon;1;0;3;0,00;Eva Ost;eva@example.de;K-1022;"
OPEN_QUOTE += 'Jonas Berg;Gas;"Abgebrochen\nD-23;V-23;03.12.2026 19:30;Telefon;1;0;3;0,00;'
OPEN_QUOTE += "Tom Nord;tom@example.de;K-1023;Jonas Berg;Gas;Nein\n"
PERSONAL = (
    "Anna Nord",
    "Sven Ost",
    "Max Süd",
    "Lena West",
    "Eva Ost",
    "Tom Nord",
    "Petra Weber",
    "Jonas Berg",
    "example.de",
    "web.de",
    "7654321",
)
NOW = datetime(2026, 12, 4, 9, tzinfo=UTC)


def _landed(tmp_path: Path, body: str, extra: str = "") -> tuple[pl.DataFrame, pl.DataFrame]:
    """The landed rows of one delivery of ``body`` and the quarantine of its partitions."""
    from servicelens.ingest.definitions import load_definition
    from servicelens.ingest.landing import land_delivery, landed_periods
    from servicelens.stages import validate_landed_day
    from servicelens.storage.partitions import read_partition

    path = tmp_path / "stadtwerke-de.toml"
    path.write_text(DEFINITION.format(extra=extra), encoding="utf-8")
    definition = load_definition(str(path))
    base = Settings(data_dir=str(tmp_path / "data"), timezone="Europe/Berlin")
    source = base.for_source(
        definition.name, str(path), reveal_agent_ids=not definition.pseudonymise_agents
    )
    export = tmp_path / "export.csv"
    export.write_text(HEADER + body, encoding="utf-8")
    land_delivery(source, definition, export, NOW)
    days = landed_periods(source)
    landed = pl.concat([read_partition(source.landed_dir, d) for d in days], how="diagonal_relaxed")
    quarantine = pl.concat(
        [validate_landed_day(source, d, str(d), NOW).quarantine() for d in days],
        how="diagonal_relaxed",
    )
    return landed, quarantine


@pytest.fixture(autouse=True)
def _agent_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVICELENS_AGENT_KEY", "test-key")


def _raw_records(frame: pl.DataFrame) -> dict[int, str]:
    return dict(frame.select("source_line", "raw_record").iter_rows())


def test_a_ragged_line_keeps_its_fields_with_the_withheld_ones_masked(tmp_path: Path) -> None:
    landed, quarantine = _landed(tmp_path, KEPT + RAGGED + SHORT + QUARANTINED)
    for frame in (landed, quarantine):
        text = " ".join(v for k, v in _raw_records(frame).items() if k in (3, 4))
        assert not [p for p in PERSONAL if p in text], text
    records = _raw_records(quarantine)
    # A field too many: each withheld column's value is in its own field or the next.
    assert records[3] == (
        "D-19;V-19;03.12.2026 17:00;Telefon;1;0;3;0,00;[NEVER_STORE];[NEVER_STORE];"
        "[NEVER_STORE];[AGENT];[AGENT];Ruf an: [PHONE];[EMAIL]"
    )
    # A field too few: in its own field or the one before.
    assert records[4] == (
        "D-21;V-21;03.12.2026 17:30;Telefon;1;0;3;[NEVER_STORE];[NEVER_STORE];[NEVER_STORE];"
        "[AGENT];[AGENT];Gas"
    )
    reasons = dict(quarantine.select("source_line", "reasons").iter_rows())
    assert reasons[3] == ["malformed line: 15 fields where the header has 14"]
    assert reasons[4] == ["malformed line: 13 fields where the header has 14"]
    assert _raw_records(landed)[3] == records[3]


def test_a_record_over_several_lines_is_withheld_naming_its_line(tmp_path: Path) -> None:
    landed, quarantine = _landed(tmp_path, OPEN_QUOTE)
    for frame in (landed, quarantine):
        text = " ".join(_raw_records(frame).values())
        assert not [p for p in PERSONAL if p in text], text
    record = _raw_records(quarantine)[2]
    assert record.startswith(
        "[WITHHELD: the fields of this record could not be aligned with the header, so the "
        "columns that never leave raw/ ('Kunde', 'E-Mail-Adresse') and the pseudonymised "
        "agent column ('Mitarbeiter') could not be left out; the raw zone keeps it: "
    )
    assert record.endswith("export.csv, line 2]")
    (reasons,) = quarantine.filter(pl.col("source_line") == 2).get_column("reasons").to_list()
    assert reasons[0].startswith("malformed line")


def test_a_source_that_shows_its_agents_keeps_them_in_a_ragged_line(tmp_path: Path) -> None:
    _, quarantine = _landed(tmp_path, RAGGED, extra="pseudonymise_agents = false")
    assert _raw_records(quarantine)[2] == (
        "D-19;V-19;03.12.2026 17:00;Telefon;1;0;3;0,00;[NEVER_STORE];[NEVER_STORE];"
        "[NEVER_STORE];Petra Weber;Gas;Ruf an: [PHONE];[EMAIL]"
    )


def test_every_field_a_withheld_value_may_be_in_is_masked() -> None:
    """Fields too many or too few: the header position's field and the ``k`` beside it."""
    from servicelens.ingest.landing import masked_fields

    assert masked_fields("a;b;c;d", 3, {}, ";", '"') == ["a", "b", "c", "d"]
    assert masked_fields("a;b;c;d", 3, {1: "[X]"}, ";", '"') == ["a", "[X]", "[X]", "d"]
    assert masked_fields("a;b", 3, {2: "[X]"}, ";", '"') == ["a", "[X]"]
    assert masked_fields('a;"b;c";d', 3, {1: "[X]"}, ";", '"') == ["a", "[X]", "d"]
    assert masked_fields('a;"b\nc";d', 3, {1: "[X]"}, ";", '"') is None


def test_a_well_formed_rows_raw_record_names_the_agent_by_the_clean_layers_pseudonym(
    tmp_path: Path,
) -> None:
    """Every landed and quarantined row's raw record held ``"Mitarbeiter":"Petra Weber"``
    while ``clean.agent_id`` read the pseudonym."""
    import json

    from servicelens.ingest.definitions import load_definition
    from servicelens.stages import ingest_export

    padded = QUARANTINED.replace(";Petra Weber;", ";  Petra  Weber ;")
    landed, quarantine = _landed(tmp_path, KEPT + padded)
    for frame in (landed, quarantine):
        text = " ".join(_raw_records(frame).values())
        assert not [p for p in PERSONAL if p in text], text
    clean = ingest_export(
        load_definition(str(tmp_path / "stadtwerke-de.toml")),
        tmp_path / "export.csv",
        Settings(data_dir=str(tmp_path / "check"), timezone="Europe/Berlin"),
        NOW,
    ).clean
    (pseudonym,) = clean.get_column("agent_id").to_list()
    assert pseudonym.startswith("agent-")
    records = {line: json.loads(r) for line, r in _raw_records(landed).items() if r[0] == "{"}
    # Kept and quarantined rows alike, however the name was spaced; the other fields as read.
    assert records[2]["Mitarbeiter"] == records[3]["Mitarbeiter"] == pseudonym
    assert records[3]["Kundennummer"] == "K-1020" and "Kunde" not in records[3]
    assert json.loads(_raw_records(quarantine)[3])["Mitarbeiter"] == pseudonym
    # The landed layer's own agent_id column too, which clean then keeps as it is.
    assert set(landed.get_column("agent_id").drop_nulls().to_list()) == {pseudonym}


def test_a_source_that_shows_its_agents_keeps_their_ids_in_the_raw_record(
    tmp_path: Path,
) -> None:
    import json

    landed, _ = _landed(tmp_path, KEPT, extra="pseudonymise_agents = false")
    assert json.loads(_raw_records(landed)[2])["Mitarbeiter"] == "Petra Weber"


def test_a_stray_quote_line_is_masked_dated_by_its_own_fields_and_the_lines_after_kept(
    tmp_path: Path,
) -> None:
    """Found by a call-centre trial: a quote opened in the queue field of a line and never
    closed read the lines after it as one record, which was withheld whole (a pseudonymised
    column was in it) and quarantined under the day it was landed, and the good lines after
    it were lost. Only the line with the stray quote is a reject: one line, so its fields
    are masked, and its own time dates it."""
    stray = "D-24;V-24;02.12.2026 19:00;Telefon;1;0;3;0,00;Eva Ost;eva@example.de;K-1024;"
    stray += 'Jonas Berg;"Gas;Abgebrochen\n'
    after = KEPT.replace("D-18;V-18", "D-25;V-25") + KEPT.replace("D-18;V-18", "D-26;V-26")
    landed, quarantine = _landed(tmp_path, KEPT + stray + after)
    for frame in (landed, quarantine):
        text = " ".join(_raw_records(frame).values())
        assert not [p for p in PERSONAL if p in text], text
    assert quarantine.select("source_line", "survey_date").rows() == [(3, date(2026, 12, 2))]
    assert _raw_records(quarantine)[3] == (
        "D-24;V-24;02.12.2026 19:00;Telefon;1;0;3;[NEVER_STORE];[NEVER_STORE];[NEVER_STORE];"
        '[AGENT];[AGENT];"Gas;Abgebrochen"'
    )
    (reasons,) = quarantine.get_column("reasons").to_list()
    assert "quote opening field 13 ('Warteschlange') is not closed on line 3" in reasons[0]
    kept = landed.filter(pl.col("reject").is_null()).sort("source_line")
    assert kept.select("response_id", "source_line").rows() == [
        ("D-18", 2),
        ("D-25", 4),
        ("D-26", 5),
    ]


def test_a_line_cut_short_keeps_its_id_and_masks_only_the_withheld_columns(
    tmp_path: Path,
) -> None:
    """Found by a new user's trial: a SurveyMonkey line cut short in the middle of the file
    (6 of 12 fields, the rest of the response lost) was quarantined with no record_id and
    every field ``[NEVER_STORE]``, though its RespondentID, CollectorID and dates sat in
    their own columns. A short line whose every field has the shape its column has in the
    well-formed rows, beside no other rejected line (the halves of a row split by a line
    break are two), holds the header's first fields one for one: its id is told, its
    fields are masked where they are withheld, and its own date dates it."""
    cut = "D-24;V-24;01.12.2026 17:45;Telefon;2;5;4,5;0,00;Ina Ost;ina@example.de\n"
    later = "D-25;V-25;03.12.2026 18:10;Telefon;5;9;3;0,00;Ole Süd;ole@example.de;K-1025;"
    later += "Petra Weber;Strom;Gut\n"
    landed, quarantine = _landed(tmp_path, KEPT + cut + later + QUARANTINED)
    cut_off = quarantine.filter(pl.col("source_line") == 3)
    assert cut_off.get_column("record_id").to_list() == ["D-24"]
    assert cut_off.get_column("raw_record").to_list() == [
        "D-24;V-24;01.12.2026 17:45;Telefon;2;5;4,5;0,00;[NEVER_STORE];[NEVER_STORE]"
    ]
    assert cut_off.get_column("survey_date").to_list() == [date(2026, 12, 1)]
    assert _raw_records(landed)[3] == cut_off.get_column("raw_record")[0]
