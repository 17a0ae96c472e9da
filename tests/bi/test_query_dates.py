"""`servicelens query --start/--end` narrows the views every example query reads, so every
query answers for the dates asked (a trial found seven of the eight refusing them)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest

from servicelens.reporting.analyst import narrow_views
from transforms.schemas import (
    FEEDBACK_SCORED_CONTRACT,
    PARTITION_COLUMN,
    QUARANTINE_CONTRACT,
    TableContract,
)


def _connection() -> duckdb.DuckDBPyConnection:
    """The five dated views with a few rows each: the sample daily; `cfpb` monthly (a
    partition named by its month's first day); weekly marts of two weeks."""
    connection = duckdb.connect()
    daily = (
        "SELECT * FROM (VALUES (DATE '2026-02-01', 'cfpb', 'M'), "
        "(DATE '2026-02-14', 'sample', 'A'), (DATE '2026-02-16', 'sample', 'B'), "
        "(DATE '2026-03-01', 'cfpb', 'N')) AS t(survey_date, source, id)"
    )
    for view in ("feedback_scored", "daily_summary", "quarantine"):
        connection.execute(f"CREATE VIEW {view} AS {daily}")
    weekly = (
        "SELECT * FROM (VALUES (DATE '2026-02-09', DATE '2026-02-15', 'sample', 'W1'), "
        "(DATE '2026-02-16', DATE '2026-02-22', 'sample', 'W2')) "
        "AS t(survey_date, {end}, source, id)"
    )
    connection.execute(f"CREATE VIEW fix_list AS {weekly.format(end='period_end')}")
    connection.execute(f"CREATE VIEW agent_outcomes AS {weekly.format(end='week_end')}")
    connection.execute("CREATE VIEW scored_negatives AS SELECT * FROM feedback_scored")
    return connection


def _ids(connection: duckdb.DuckDBPyConnection, view: str) -> list[str]:
    return [r[0] for r in connection.execute(f"SELECT id FROM {view} ORDER BY id").fetchall()]


def test_every_view_is_narrowed_to_the_dates_asked() -> None:
    connection = _connection()
    narrow_views(connection, date(2026, 2, 15), date(2026, 2, 20), monthly_sources=["cfpb"])
    # cfpb's February partition is named 2026-02-01 and holds the 15th-20th too.
    for view in ("feedback_scored", "daily_summary", "quarantine", "scored_negatives"):
        assert _ids(connection, view) == ["B", "M"], view
    # A week overlapping the range is kept: the week of 9-15 February ends on the 15th.
    assert _ids(connection, "fix_list") == ["W1", "W2"]
    assert _ids(connection, "agent_outcomes") == ["W1", "W2"]


def test_a_daily_source_is_not_widened_to_its_month_and_open_ends_stay_open() -> None:
    connection = _connection()
    narrow_views(connection, date(2026, 2, 15), None)
    assert _ids(connection, "feedback_scored") == ["B", "N"]
    assert _ids(connection, "agent_outcomes") == ["W1", "W2"]
    connection = _connection()
    narrow_views(connection, None, date(2026, 2, 14))
    assert _ids(connection, "feedback_scored") == ["A", "M"]
    assert _ids(connection, "fix_list") == ["W1"]
    connection = _connection()
    narrow_views(connection, None, None)
    assert _ids(connection, "quarantine") == ["A", "B", "M", "N"]


def test_the_weekly_trend_puts_a_monthly_sources_rows_in_their_own_weeks() -> None:
    """Found by a BI trial: CFPB complaints of 23-27 March 2015 (partition 2015-03-01)
    showed under the week of 2015-02-23, the week of their month's first day. A response's
    week is now its own business-local day's; days_covered says a week is partial."""
    from servicelens.reporting.analyst import example_queries

    connection = duckdb.connect()
    connection.execute("SET VARIABLE business_timezone = 'Europe/London'")
    connection.execute(
        "CREATE VIEW feedback_scored AS SELECT * FROM (VALUES "
        # CFPB, monthly: Monday 23 March and Friday 27 March 2015 (23:30 UTC is 23:30 in
        # London: summer time starts on the 29th), both in the partition of 1 March.
        "('cfpb', DATE '2015-03-01', TIMESTAMPTZ '2015-03-23 00:00:00+00', 'FEE', true, "
        "'perceived', 0.1), "
        "('cfpb', DATE '2015-03-01', TIMESTAMPTZ '2015-03-27 23:30:00+00', 'FEE', true, "
        "'policy_failure', 0.9), "
        # The sample, daily: Sunday 5 July 23:30 UTC is Monday 6 July in London.
        "('sample', DATE '2015-07-06', TIMESTAMPTZ '2015-07-05 23:30:00+00', 'FEE', true, "
        "'perceived', 0.2), "
        "('sample', DATE '2015-07-07', TIMESTAMPTZ '2015-07-07 09:00:00+00', 'FEE', false, "
        "NULL, NULL)) "
        "AS t(source, survey_date, submitted_at, policy_code, is_negative, root_cause, "
        "p_policy_failure)"
    )
    sql = example_queries()["policy_trend_weekly"].read_text()
    rows = connection.execute(sql).fetchall()
    assert rows == [
        ("cfpb", date(2015, 3, 23), "FEE", 2, 1, 1, 1.0, 0.5, 2),
        ("sample", date(2015, 7, 6), "FEE", 1, 1, 0, 0.2, 0.2, 2),
    ]


def test_a_query_without_rows_says_whether_its_tables_are_empty() -> None:
    """Found by a trial: `query handle_time_vs_resolution` printed "(no rows)" for a source
    whose exports carry no agents, with no word of why."""
    from servicelens.reporting.analyst import no_rows_note

    connection = _connection()
    narrow_views(connection, date(2027, 1, 1), None, monthly_sources=["cfpb"])
    sql = "-- reads feedback_scored in a comment only\nSELECT * FROM agent_outcomes"
    assert no_rows_note(connection, sql) == (
        "note: no rows: the query reads agent_outcomes (0 rows), for the dates and source "
        "asked. A table is empty before a run writes it, or when its sources lack what it is "
        "built from (docs/data_dictionary.md says what each table needs)"
    )
    connection = _connection()
    assert no_rows_note(connection, "SELECT * FROM fix_list WHERE id = 'none'") == (
        "note: no rows: the query reads fix_list (2 rows); its conditions kept none of them"
    )
    assert no_rows_note(connection, "SELECT 1 WHERE false") is None


def test_a_source_asked_narrows_every_view_and_the_empty_note_counts_its_rows() -> None:
    from servicelens.reporting.analyst import no_rows_note

    connection = _connection()
    narrow_views(connection, None, None, source="cfpb")
    for view in ("feedback_scored", "daily_summary", "quarantine", "scored_negatives"):
        assert _ids(connection, view) == ["M", "N"], view
    assert _ids(connection, "fix_list") == []
    assert no_rows_note(connection, "SELECT * FROM fix_list") == (
        "note: no rows: the query reads fix_list (0 rows), for the dates and source asked. A "
        "table is empty before a run writes it, or when its sources lack what it is built "
        "from (docs/data_dictionary.md says what each table needs)"
    )


def _partition(root: Path, contract: TableContract, rows: list[dict[str, Any]]) -> None:
    """One partition of ``contract``'s table under ``root``: ``rows``, other columns null."""
    folder = root / contract.path / f"{PARTITION_COLUMN}=2026-02-01"
    folder.mkdir(parents=True)
    schema = {c: t for c, t in contract.schema.items() if c != PARTITION_COLUMN}
    frame = pl.DataFrame([{c: row.get(c) for c in schema} for row in rows], schema=schema)
    frame.write_parquet(folder / "part.parquet")


def test_a_query_of_one_source_notes_that_sources_rows_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a user's trial: `query quarantined_rows --source calls` said "the query
    reads quarantine (34 rows); its conditions kept none of them", all 34 of other sources,
    and `queues_that_bounce --source calls` counted every source's negatives and advised
    training the other sources."""
    from servicelens.cli.main import main

    negative = {"is_negative": True, "queue": "billing"}
    _partition(
        tmp_path,
        FEEDBACK_SCORED_CONTRACT,
        [
            {"source": "calls", "response_id": "C1", **negative},
            {"source": "forms", "response_id": "F1", **negative},
            {"source": "forms", "response_id": "F2", **negative},
        ],
    )
    _partition(
        tmp_path,
        QUARANTINE_CONTRACT,
        [{"source": "forms", "source_file": "f.csv", "source_line": 2, "reasons": ["x"]}],
    )
    data = ["--data-dir", str(tmp_path), "query"]
    assert main([*data, "quarantined_rows", "--source", "calls"]) == 0
    err = capsys.readouterr().err
    assert "the query reads quarantine (0 rows), for the dates and source asked" in err
    assert main([*data, "queues_that_bounce", "--source", "calls"]) == 0
    err = capsys.readouterr().err
    assert "none of the 1 negative responses has a root cause" in err
    assert "train --source calls" in err and "forms" not in err
