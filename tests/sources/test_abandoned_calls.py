"""A source's own abandoned-call flag (``abandoned``): field sample 10's call log records
``Answered (Y/N)``, 3 of its 24 calls N (the caller hung up before anyone answered), and its
definition kept the column under [attributes], so daily_summary's first-contact resolution
counted the abandoned calls as unresolved: 18/24 = 0.750, where FCR over handled contacts
(SQM Group's and ICMI's definition) is 18/21 = 0.857. Through the real ``sources run`` (real
Prefect, real GX suites, real Parquet read back by DuckDB)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from servicelens.validation.expectations import FLAG_NOT_IN_VALUES, FLAG_PROBLEM
from tests.sources.configured_run import run_configured_source

ROOT = Path(__file__).resolve().parents[2]
FIELD = ROOT.parent / "shared" / "field"
CALLS = FIELD / "10-call-centre-dayfirst-excel" / "sample.csv"
DEFINITION = Path(__file__).parent / "definitions" / "call-centre.toml"

pytestmark = pytest.mark.skipif(not FIELD.exists(), reason=f"field samples not at {FIELD}")


def _sample_counts() -> tuple[int, int, int]:
    """(calls answered and resolved, calls answered, calls abandoned) as the sample's CSV
    says them, read with the csv module: what the marts must add up to."""
    rows = list(csv.DictReader(io.StringIO(CALLS.read_text(encoding="utf-8-sig"))))
    answered = [r for r in rows if r["Answered (Y/N)"] == "Y"]
    return (
        sum(r["Resolved"] == "Y" for r in answered),
        len(answered),
        sum(r["Answered (Y/N)"] == "N" for r in rows),
    )


def _summary_totals(read: object) -> tuple[int, int, int]:
    """daily_summary's fcr_resolved, fcr_answered and abandoned summed over every row."""
    assert callable(read)
    [row] = duckdb.sql(
        "SELECT sum(fcr_resolved)::INT, sum(fcr_answered)::INT, sum(abandoned)::INT "
        f"FROM {read('marts/daily_summary')}"
    ).fetchall()
    return row


def test_the_call_logs_first_contact_resolution_is_over_answered_calls(
    prefect_api: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shipped definition maps Answered (Y/N) negated as abandoned: the 3 N calls are
    abandoned in feedback_scored, daily_summary counts them apart and leaves them out of
    fcr_answered (18 of 21, 0.857: it said 18 of 24), and agent_outcomes does not charge an
    agent for them (Gus's week of 1 February: his abandoned call made him 1 of 2)."""
    from servicelens.reporting.analyst import run_query

    monkeypatch.setenv("SERVICELENS_MIN_AGENT_CONTACTS", "1")
    resolved, answered, abandoned = _sample_counts()
    assert (resolved, answered, abandoned) == (18, 21, 3)
    data, read = run_configured_source(
        tmp_path, "pwc-call-centre", DEFINITION.read_text(encoding="utf-8"), CALLS.read_text()
    )
    assert _summary_totals(read) == (resolved, answered, abandoned)
    assert duckdb.sql(
        "SELECT round(sum(fcr_resolved) / sum(fcr_answered), 3), min(schema_version) "
        f"FROM {read('marts/daily_summary')}"
    ).fetchall() == [(0.857, 11)]
    assert duckdb.sql(
        f"SELECT response_id FROM {read('marts/feedback_scored')} WHERE abandoned ORDER BY 1"
    ).fetchall() == [("ID0002",), ("ID0004",), ("ID0012",)]
    # The analyst query rolls the counts up: the same figure over all dates.
    days = run_query(data, "first_contact_resolution_by_day")
    assert (sum(d["resolved"] for d in days), sum(d["answered"] for d in days)) == (18, 21)
    agents = f"{read('marts/agent_outcomes')} WHERE agent IS NOT NULL"
    assert duckdb.sql(
        f"SELECT sum(contacts)::INT, sum(flagged_contacts)::INT, sum(flagged_resolved)::INT "
        f"FROM {agents}"
    ).fetchall() == [(24, 21, 18)]
    # Week of 1 February 2021: Gus's N call (abandoned) and his Y call: 1 of 1, not 1 of 2.
    assert duckdb.sql(
        "SELECT contacts, flagged_contacts, flagged_resolved, first_contact_resolution "
        f"FROM {agents} AND week_start = DATE '2021-02-01' AND contacts = 2 "
        "AND flagged_contacts < contacts"
    ).fetchall() == [(2, 1, 1, 1.0)]
    # Week of 28 December 2020: Gus's only call was abandoned. No handled contact to judge
    # him on: no rate and too few contacts, by the flag (not "map a customer id").
    assert duckdb.sql(
        "SELECT contacts, flagged_contacts, first_contact_resolution, status, fcr_measure "
        f"FROM {agents} AND week_start = DATE '2020-12-28' AND flagged_contacts = 0"
    ).fetchall() == [(1, 0, None, "too few contacts", "resolved flag")]


def test_a_call_log_without_the_abandoned_column_counts_as_before(
    prefect_api: None, tmp_path: Path
) -> None:
    """A definition that maps no abandoned flag (Answered (Y/N) under [attributes], as the
    definition was) counts every call as handled: 18 of 24, abandoned 0, its rows' flag
    null, and the answered attribute kept as it was. Without the flag it cannot tell an
    unanswered call's satisfaction 0 from an answered one's, so it says 0 is missing on
    every row (missing = ["0"], as the definition did)."""
    definition = DEFINITION.read_text(encoding="utf-8").replace(
        '"Satisfaction rating",', '"Satisfaction rating", missing = ["0"],'
    )
    without = "".join(
        line for line in definition.splitlines(keepends=True) if not line.startswith("abandoned")
    )
    without += '\n[attributes]\nanswered = "Answered (Y/N)"\n'
    _, read = run_configured_source(tmp_path, "pwc-call-centre", without, CALLS.read_text())
    assert _summary_totals(read) == (18, 24, 0)
    assert duckdb.sql(
        f"SELECT count(*)::INT, count(abandoned)::INT, "
        f'count(*) FILTER (attributes LIKE \'%"answered":"N"%\')::INT '
        f"FROM {read('marts/feedback_scored')}"
    ).fetchall() == [(24, 0, 3)]
    assert duckdb.sql(
        f"SELECT sum(flagged_contacts)::INT FROM {read('marts/agent_outcomes')}"
    ).fetchall() == [(24,)]


def _calls_with(column: str, cells: dict[int, str]) -> str:
    """The sample with ``column`` of the calls on the given lines (the header is line 1)
    written as given, CRLF as the export is."""
    rows = list(csv.reader(io.StringIO(CALLS.read_text(encoding="utf-8-sig"), newline="")))
    at = rows[0].index(column)
    for line, cell in cells.items():
        rows[line - 1][at] = cell
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue()


def _run_with_one_quarantined(
    tmp_path: Path, calls: str
) -> tuple[Callable[[str], str], tuple[int, str, list[str]]]:
    """The shipped definition run over ``calls``; the quarantine's one row, from the file
    delivered: (its line, its response id, its reasons)."""
    _, read = run_configured_source(
        tmp_path, "pwc-call-centre", DEFINITION.read_text(encoding="utf-8"), calls
    )
    [(file, line, record, reasons)] = duckdb.sql(
        f"SELECT source_file, source_line, record_id, reasons FROM {read('quarantine')}"
    ).fetchall()
    assert file.endswith("pwc-call-centre.csv")
    return read, (line, record, reasons)


def _kept_and_abandoned(read: object) -> tuple[int, list[str]]:
    """feedback_scored's rows and the response ids of those abandoned."""
    assert callable(read)
    [row] = duckdb.sql(
        f"SELECT count(*)::INT, list(response_id ORDER BY response_id) FILTER (abandoned) "
        f"FROM {read('marts/feedback_scored')}"
    ).fetchall()
    return row


def test_an_answered_value_that_is_no_yes_or_no_is_quarantined_quoting_it(
    prefect_api: None, tmp_path: Path
) -> None:
    """negate = true reads every yes/no word reversed: a call whose Answered says "true"
    (ID0001) is answered, not abandoned; a word that is no yes or no
    ("Maybe") puts its call in quarantine, naming the file, line, column and value and what
    to change, as the other yes/no facts do; nothing is lost (23 kept + 1 quarantined = 24
    read, the sample's 3 N calls abandoned)."""
    calls = _calls_with("Answered (Y/N)", {2: "true", 9: "Maybe"})  # ID0001 and ID0008
    read, quarantined = _run_with_one_quarantined(tmp_path, calls)
    assert quarantined == (9, "ID0008", [f"abandoned: 'Maybe' {FLAG_PROBLEM}"])
    assert _kept_and_abandoned(read) == (23, ["ID0002", "ID0004", "ID0012"])


def test_a_word_a_negating_values_map_does_not_name_is_quarantined_naming_its_words(
    prefect_api: None, tmp_path: Path
) -> None:
    """A definition that negates Answered (Y/N) with a values map (as the shipped one did,
    and old definitions still may) maps only the words it names: an unmapped "true" (ID0001)
    or "Yes" (ID0008) was passed as it was and read as abandoned, the other way round from the
    map's Y. Now each is quarantined naming the file, line, column, value and the words the
    map names, and saying what to change; 22 kept + 2 quarantined = 24 read."""
    definition = DEFINITION.read_text(encoding="utf-8").replace(
        "negate = true }", 'values = { Y = "no", N = "yes" } }'
    )
    calls = _calls_with("Answered (Y/N)", {2: "true", 9: "Yes"})  # ID0001 and ID0008
    _, read = run_configured_source(tmp_path, "pwc-call-centre", definition, calls)
    words = FLAG_NOT_IN_VALUES.replace("{codes}", "y, n")
    assert duckdb.sql(
        f"SELECT source_line, record_id, reasons FROM {read('quarantine')} ORDER BY 1"
    ).fetchall() == [
        (2, "ID0001", [f"abandoned: 'true' {words}"]),
        (9, "ID0008", [f"abandoned: 'Yes' {words}"]),
    ]
    assert _kept_and_abandoned(read) == (22, ["ID0002", "ID0004", "ID0012"])


def test_satisfaction_0_is_missing_on_abandoned_calls_and_quarantined_on_answered_ones(
    prefect_api: None, tmp_path: Path
) -> None:
    """The export writes Satisfaction rating 0 on its 1-5 scale for every unanswered call
    (its README: map 0 to missing when Answered = N). The definition's missing = ["0"]
    made a 0 missing on answered calls too, where it is no score: an answered call (ID0001,
    line 2) with 0 was kept without a rating, silently. Now the 3 abandoned calls have no
    csat (no survey was asked) and are kept, and the answered call's 0 is quarantined
    naming its file, line, column and value; 23 kept + 1 quarantined = 24 read."""
    calls = _calls_with("Satisfaction rating", {2: "0"})  # ID0001, answered
    read, (line, record, reasons) = _run_with_one_quarantined(tmp_path, calls)
    assert (line, record) == (2, "ID0001")
    assert len(reasons) == 1 and reasons[0].startswith("csat: '0' is not a score from 1 to 5")
    assert duckdb.sql(
        "SELECT count(*)::INT, count(csat)::INT, "
        "list(response_id ORDER BY response_id) FILTER (csat IS NULL), "
        "bool_and(abandoned) FILTER (csat IS NULL) "
        f"FROM {read('marts/feedback_scored')}"
    ).fetchall() == [(23, 20, ["ID0002", "ID0004", "ID0012"], True)]
