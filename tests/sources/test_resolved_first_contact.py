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


def test_a_call_log_without_customer_ids_gets_first_contact_resolution_from_its_flag(
    prefect_api: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Field sample 10 as delivered (18 calls Resolved Y, 6 N, 3 of the N abandoned; no
    customer id): every agent-week's first-contact resolution is the share its Resolved flag
    records resolved of its answered calls (the abandoned ones are no agent's contact),
    said to be the flag's ('resolved flag'), final at once; the query rolls it up over the
    flagged contacts and the report says it is the source's answer, not a return seen."""
    from servicelens.reporting.analyst import run_query

    monkeypatch.setenv("SERVICELENS_MIN_AGENT_CONTACTS", "2")
    data, read = run_configured_source(
        tmp_path, "pwc-call-centre", _definition(), CALLS.read_text(encoding="utf-8")
    )
    agents = f"{read('marts/agent_outcomes')} WHERE agent IS NOT NULL"
    rows = duckdb.sql(
        "SELECT DISTINCT fcr_measure, status <> 'no customer id', NOT fcr_provisional, "
        "first_contact_resolution IS NOT DISTINCT FROM "
        "flagged_resolved / nullif(flagged_contacts, 0), settled_contacts "
        f"FROM {agents}"
    ).fetchall()
    assert rows == [("resolved flag", True, True, True, 0)]
    assert duckdb.sql(
        f"SELECT sum(flagged_contacts)::INT, sum(flagged_resolved)::INT FROM {agents}"
    ).fetchall() == [(21, 18)]
    # Week of 1 February 2021: Dee Y, Fay Y, Gus N (abandoned: not counted) and Y, Cy Y and Y.
    assert duckdb.sql(
        "SELECT flagged_contacts, flagged_resolved, first_contact_resolution, status "
        f"FROM {agents} AND week_start = DATE '2021-02-01' ORDER BY ALL"
    ).fetchall() == [
        (1, 1, 1.0, "too few contacts"),
        (1, 1, 1.0, "too few contacts"),
        (1, 1, 1.0, "too few contacts"),
        (2, 2, 1.0, "judged"),
    ]
    bands = run_query(data, "handle_time_vs_resolution")
    judged = duckdb.sql(
        f"SELECT sum(flagged_resolved) / sum(flagged_contacts) FROM {agents} AND status = 'judged'"
    ).fetchall()[0][0]
    flagged = sum(b["settled_contacts"] or 0 for b in bands)
    assert bands and flagged == 0  # no contact settles: the shares are the flag's
    assert sum(b["first_contact_resolution"] * b["contacts"] for b in bands) / sum(
        b["contacts"] for b in bands
    ) == pytest.approx(judged, abs=0.01)
    # Per agent too (a contact centre's trial read nan for every agent here).
    worst = run_query(data, "agents_whose_customers_come_back")
    assert worst and {r["fcr_measure"] for r in worst} == {"resolved flag"}
    assert all(0 <= r["first_contact_resolution"] <= 1 for r in worst)
    html = (data / "reports" / "latest.html").read_text(encoding="utf-8")
    said = " ".join(html.split())
    assert "the share of an agent's contacts the source's own flag" in said
    assert "carry no customer id, so a customer coming back cannot be recognised" not in said
