"""A score is read with the decimal mark and thousands separator its definition declares,
through a real configured source run (``servicelens sources run``), read back by DuckDB."""

from __future__ import annotations

from pathlib import Path

import duckdb

from tests.sources.configured_run import run_configured_source

#: The French insurer's trial's Lisbon BPO definition (trial 124), its export read as UTF-8
#: (the rows below are ASCII) and its fee attribute left out.
LISBON_BPO = """
name = "lisbon-bpo"
description = "Outsourced care partner in Lisbon: daily spreadsheet, European locale"
timezone = "Europe/Lisbon"
country = "FR"
[read]
delimiter = ";"
decimal_comma = true
thousands = "."
null_values = ["", "N/A", "-", "k.A."]
[columns]
response_id = "Antwort-ID"
interaction_id = "Vorgangsnummer"
submitted_at = { column = "Eingangsdatum", format = "%d.%m.%Y %H:%M" }
channel = { column = "Kanal", values = { Telefon = "phone", "E-Mail" = "email", Chat = "chat" } }
csat = "Zufriedenheit"
nps = "Weiterempfehlung (0-10)"
handle_seconds = { column = "Bearbeitungszeit (Min)", unit = "minutes" }
comment = "Kommentar"
"""

#: Rows of the trial's Lisboa_CSAT_19.10.2026.csv (A-20814's nps 1.000 is 1000 here), and
#: one nps 1,000 (1 with three decimals: kept as 1) and one 1.000,0 (1000 again).
EXPORT = (
    "Antwort-ID;Vorgangsnummer;Eingangsdatum;Kanal;Zufriedenheit;Weiterempfehlung (0-10);"
    "Bearbeitungszeit (Min);Kommentar\n"
    "A-20807;V-90048;19.10.2026 18:21;Telefon;4 - Zufrieden;9;31,1;Bonne ecoute.\n"
    "A-20810;V-90058;19.10.2026 21:13;Telefon;4 - Zufrieden;k.A.;53;Attestation recue.\n"
    "A-20813;V-90067;19.10.2026 18:03;Telefon;3 - Neutral;6;9;Correct, sans plus.\n"
    "A-20814;V-90071;19.10.2026 19:00;Telefon;4 - Zufrieden;1.000;13,72;Satisfait.\n"
    "A-20820;V-90080;19.10.2026 19:30;Telefon;2 - Unzufrieden;1,000;13,72;Trop long.\n"
    "A-20821;V-90081;19.10.2026 19:40;Telefon;2 - Unzufrieden;1.000,0;13,72;Trop long.\n"
)


def test_a_score_holding_the_declared_thousands_separator_is_quarantined(
    tmp_path: Path,
) -> None:
    """Found by a French insurer's trial: nps `1.000` under `decimal_comma = true,
    thousands = "."` (1000, outside 0-10) was kept as nps 1 with no note, while handle
    time `4.5` in the same file was read the definition's way and quarantined."""
    _, read = run_configured_source(tmp_path, "lisbon-bpo", LISBON_BPO, EXPORT)
    kept = dict(duckdb.sql(f"select response_id, nps from {read('clean/responses')}").fetchall())
    quarantined = dict(
        duckdb.sql(f"select record_id, reasons from {read('quarantine')}").fetchall()
    )
    # Every row read is kept or quarantined, once.
    assert sorted([*kept, *quarantined]) == sorted(
        line.split(";")[0] for line in EXPORT.splitlines()[1:]
    )
    assert kept == {"A-20807": 9, "A-20810": None, "A-20813": 6, "A-20820": 1}
    in_thousands = (
        "is not a score from 0 to 10; read with a decimal comma and . between thousands, as "
        "[read] of the definition declares, the . in it separates thousands, so it is a "
        "number in the thousands. Ask the sender for this file again with each score a whole "
        "number of the scale (a spreadsheet in another language may write the score 1 with "
        "three decimals as 1.000); leave decimal_comma and thousands as they are if the "
        "other numbers of the file read right"
    )
    assert quarantined == {
        "A-20814": [f"nps: '1.000' {in_thousands}"],
        "A-20821": [f"nps: '1.000,0' {in_thousands}"],
    }
    # The reason names the file and line (the raw record keeps the value as exported).
    lines = dict(
        duckdb.sql(
            f"select record_id, source_line from {read('quarantine')} "
            "where source_file like '%lisbon-bpo.csv'"
        ).fetchall()
    )
    assert lines == {"A-20814": 5, "A-20821": 7}
