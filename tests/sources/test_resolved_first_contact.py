"""A source's own resolved-on-first-contact flag (``resolved_first_contact``): the call log of
field sample 10 has no customer id, so a customer coming back cannot be seen, but it records
whether each call resolved the problem (``Resolved`` Y/N). Found by a new-user trial (an
outsourced call centre's operations lead): first-contact resolution was null for the log and
its ``Resolved`` column was used for nothing. Through the real ``sources run`` (real Prefect,
real Parquet read back by DuckDB)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import duckdb
import pytest

from servicelens.validation.expectations import FLAG_PROBLEM
from tests.sources.configured_run import run_configured_source

ROOT = Path(__file__).resolve().parents[2]
FIELD = ROOT.parent / "shared" / "field"
CALLS = FIELD / "10-call-centre-dayfirst-excel" / "sample.csv"
DEFINITION = Path(__file__).parent / "definitions" / "call-centre.toml"
FLAG_LINE = 'resolved_first_contact = "Resolved"\n'

pytestmark = pytest.mark.skipif(not FIELD.exists(), reason=f"field samples not at {FIELD}")


def _definition(flag: str = FLAG_LINE) -> str:
    """The call-centre definition with ``flag`` as its only resolved_first_contact line."""
    text = "".join(
        line
        for line in DEFINITION.read_text(encoding="utf-8").splitlines(keepends=True)
        if not line.startswith("resolved_first_contact")
    )
    return text.replace("[columns]\n", "[columns]\n" + flag, 1)


def _calls(resolved: dict[str, str]) -> str:
    """The field sample as text (its BOM and CRLF kept), each call of ``resolved`` (Call Id
    -> text) with that Resolved cell."""
    rows = list(csv.reader(io.StringIO(CALLS.read_text(encoding="utf-8-sig"), newline="")))
    at = rows[0].index("Resolved")
    for row in rows[1:]:
        row[at] = resolved.get(row[0], row[at])
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return "\ufeff" + out.getvalue()


def test_the_resolved_flag_is_read_as_yes_or_no_and_an_unknown_word_is_quarantined(
    prefect_api: None, tmp_path: Path
) -> None:
    """The flag reads like the other yes/no facts (Y/N, yes/no, true/false, 1/0, any case);
    a word that is none of them quarantines its row, naming the file, line, column and value,
    as a number that is no number does; an empty cell is a fact not given."""
    export = _calls({"ID0003": "yes", "ID0005": " false ", "ID0006": "1", "ID0008": "Maybe"})
    export += "ID0025,Eli,31/03/2021,10:00:00,Streaming,Y,,30,0:01:00,4,3,,\r\n"
    _, read = run_configured_source(tmp_path, "pwc-call-centre", _definition(), export)
    flags = dict(
        duckdb.sql(
            f"SELECT response_id, resolved_first_contact FROM {read('clean/responses')}"
        ).fetchall()
    )
    assert len(flags) == 24  # 25 calls, one quarantined
    assert (flags["ID0001"], flags["ID0002"]) == (True, False)  # Y, N
    assert (flags["ID0003"], flags["ID0005"], flags["ID0006"]) == (True, False, True)
    assert flags["ID0025"] is None
    [(file, line, reasons)] = duckdb.sql(
        f"SELECT source_file, source_line, reasons FROM {read('quarantine')}"
    ).fetchall()
    assert file.endswith("pwc-call-centre.csv") and line == 9  # ID0008, after the header
    assert reasons == [f"resolved_first_contact: 'Maybe' {FLAG_PROBLEM}"]
