"""A post-call survey's "Was your issue resolved on this call?" mapped as
``resolved_first_contact`` (an analyst's SurveyMonkey trial): the answers reach
feedback_scored row by row and daily_summary by day and channel, a source that does not map
the question has them null, ``query handle_time_vs_resolution`` says why it has no rows for a
source without agents or handle times, and the report does not call the survey a complaints
database or a web form. Through the real ``sources run`` (real Prefect, real Parquet read
back by DuckDB)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

from tests.sources.configured_run import run_configured_source

QUESTION = "Was your issue resolved on this call?"
FLAG_LINE = f'resolved_first_contact = "{QUESTION}"\n'
DEFINITION = f"""extends = "surveymonkey"
name = "post-call"
timezone = "Europe/London"
[columns]
channel = {{ value = "phone" }}
csat = "How satisfied were you with this call?"
comment = "Anything else you would like to tell us?"
{FLAG_LINE}"""
# SurveyMonkey's two header rows (the question, then "Response" / "Open-Ended Response"),
# BOM and CRLF as it saves them; 1003 left the question blank.
EXPORT = "\ufeff" + "".join(
    line + "\r\n"
    for line in (
        f"RespondentID,StartDate,EndDate,How satisfied were you with this call?,{QUESTION},"
        "Anything else you would like to tell us?",
        ",,,Response,Response,Open-Ended Response",
        "1001,11/30/2026 10:15:03 AM,11/30/2026 10:16:03 AM,5,Yes,Sorted in one go",
        "1002,11/30/2026 11:15:03 AM,11/30/2026 11:16:03 AM,2,No,Still broken",
        "1003,11/30/2026 12:15:03 PM,11/30/2026 12:16:03 PM,4,,",
        "1004,12/01/2026 09:15:03 AM,12/01/2026 09:16:03 AM,3,Yes,ok",
    )
)
NOV30, DEC1 = date(2026, 11, 30), date(2026, 12, 1)


def test_the_answers_reach_feedback_scored_and_daily_summary(
    prefect_api: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from servicelens.cli.main import main
    from servicelens.reporting.analyst import run_query

    data, read = run_configured_source(tmp_path, "post-call", DEFINITION, EXPORT)
    assert duckdb.sql(
        f"SELECT response_id, resolved_first_contact FROM {read('marts/feedback_scored')} "
        "ORDER BY response_id"
    ).fetchall() == [("1001", True), ("1002", False), ("1003", None), ("1004", True)]
    assert duckdb.sql(
        "SELECT survey_date, channel, responses, fcr_answered, fcr_resolved, fcr_rate "
        f"FROM {read('marts/daily_summary')} ORDER BY survey_date"
    ).fetchall() == [(NOV30, "phone", 3, 2, 1, 0.5), (DEC1, "phone", 1, 1, 1, 1.0)]

    by_day = run_query(data, "first_contact_resolution_by_day")
    assert [tuple(r.values()) for r in by_day] == [
        ("post-call", DEC1, "phone", 1, 0, 1, 1, 1.0),
        ("post-call", NOV30, "phone", 3, 0, 2, 1, 0.5),
    ]

    # No agent and no handle time: the query has no agent-week to band, and says so.
    capsys.readouterr()
    assert main(["--data-dir", str(data), "query", "handle_time_vs_resolution"]) == 0
    said = capsys.readouterr()
    assert "(no rows)" in said.out
    note = " ".join(said.err.split())
    assert "record no agent on any contact" in note
    assert "no handle time on any of its 4 contacts" in note
    assert "resolved flag, 2 resolved of 3 answered" in note and "fcr_rate" in note

    html = " ".join((data / "reports" / "latest.html").read_text(encoding="utf-8").split())
    assert "complaints database" not in html and "web form" not in html
    assert "This source's exports record no agent on any contact" in html


def test_a_survey_that_does_not_map_the_question_has_it_null(
    prefect_api: None, tmp_path: Path
) -> None:
    _, read = run_configured_source(
        tmp_path, "post-call", DEFINITION.replace(FLAG_LINE, ""), EXPORT
    )
    assert duckdb.sql(
        f"SELECT count(*), count(resolved_first_contact) FROM {read('marts/feedback_scored')}"
    ).fetchall() == [(4, 0)]
    assert duckdb.sql(
        f"SELECT sum(fcr_answered)::INT, count(fcr_rate) FROM {read('marts/daily_summary')}"
    ).fetchall() == [(0, 0)]
