"""The source's resolved flag (``resolved_first_contact``) row by row in feedback_scored
(contract 9) and counted by day and channel in daily_summary (contract 10): an analyst's
SurveyMonkey trial mapped "Was your issue resolved on this call?" and found the answers in
clean/responses and the weekly agent_outcomes only. Real marts builders, real Parquet
partitions, ``sql/views.sql`` run in plain DuckDB as the README runs it."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import polars as pl
import pytest

from servicelens.reporting.analyst import VIEWS_FILE
from servicelens.stages import conform_filling, marts_for_day
from servicelens.storage.partitions import partition_dir, write_partition
from transforms.marts import daily_summary, without_scores
from transforms.schemas import (
    ABANDONED,
    CLEAN_RESPONSE_SCHEMA,
    DAILY_SUMMARY_SCHEMA,
    DAILY_SUMMARY_VERSION,
    FEEDBACK_SCORED_SCHEMA,
    FEEDBACK_SCORED_VERSION,
    PARTITION_COLUMN,
    RESOLVED_FLAG,
)

OLD, NEW = date(2026, 11, 30), date(2026, 12, 1)


def _scored(
    day: date,
    channels: list[str],
    flags: list[bool | None],
    abandoned: list[bool | None] | None = None,
) -> pl.DataFrame:
    """A date's clean responses (one per flag, each abandoned as ``abandoned`` says: none by
    default) as scoring leaves them before any model."""
    n = len(flags)
    clean = pl.DataFrame(
        {
            "response_id": [f"r{day.day}-{i}" for i in range(n)],
            "survey_date": [day] * n,
            "submitted_at": [datetime(day.year, day.month, day.day, 9, tzinfo=UTC)] * n,
            "channel": channels,
            "queue": ["billing"] * n,
            "csat": [4] * n,
            "is_negative": [False] * n,
            "source": ["post-call"] * n,
            RESOLVED_FLAG: flags,
            ABANDONED: abandoned or [None] * n,
        },
        schema_overrides={"csat": pl.Int8, RESOLVED_FLAG: pl.Boolean, ABANDONED: pl.Boolean},
    )
    return without_scores(conform_filling(clean, CLEAN_RESPONSE_SCHEMA))


def test_daily_summary_counts_the_answers_and_their_rate_by_channel() -> None:
    scored = _scored(NEW, ["phone", "phone", "phone", "chat"], [True, False, None, None])
    summary = daily_summary(scored).select("channel", "fcr_answered", "fcr_resolved", "fcr_rate")
    assert summary.sort("channel").rows() == [
        ("chat", 0, 0, None),  # none answered: no rate, not 0
        ("phone", 2, 1, 0.5),  # the unanswered third is not in the denominator
    ]


def test_daily_summary_leaves_abandoned_calls_out_of_first_contact_resolution() -> None:
    """A call abandoned before anyone answered is no handled contact: FCR is over handled
    contacts (SQM Group's and ICMI's definition), so it is counted in abandoned, not in
    fcr_answered, whatever its resolved flag says (a call log writes Resolved N on it)."""
    scored = _scored(
        NEW,
        ["phone"] * 5,
        [True, False, False, None, True],
        [False, None, True, True, None],  # None: not given, so handled
    )
    summary = daily_summary(scored).select("fcr_answered", "fcr_resolved", "fcr_rate", ABANDONED)
    assert summary.rows() == [(3, 2, 2 / 3, 2)]


def test_a_source_without_the_flag_has_it_null_and_no_rate() -> None:
    scored = _scored(NEW, ["phone", "phone"], [None, None]).drop(RESOLVED_FLAG, ABANDONED)
    feedback, summary = marts_for_day(scored, None)
    assert feedback.get_column(RESOLVED_FLAG).to_list() == [None, None]
    assert feedback.get_column(ABANDONED).to_list() == [None, None]
    assert summary.select("fcr_answered", "fcr_rate", ABANDONED).rows() == [(0, None, 0)]


def test_feedback_scored_carries_each_rows_answer() -> None:
    feedback, _ = marts_for_day(_scored(NEW, ["phone"] * 3, [True, False, None]), None)
    assert feedback.schema[RESOLVED_FLAG] == pl.Boolean
    assert feedback.sort("response_id").get_column(RESOLVED_FLAG).to_list() == [
        True,
        False,
        None,
    ]


@pytest.fixture
def old_and_new(tmp_path: Path) -> Path:
    """feedback_scored and daily_summary partitions as the previous contracts wrote them
    (no resolved flag, no fcr columns; versions 8 and 9) beside ones written now."""
    data = tmp_path / "data"
    old_feedback, old_summary = marts_for_day(_scored(OLD, ["phone"], [True]), None)
    _older_beside_newer(
        data,
        (
            ("feedback_scored", old_feedback, [RESOLVED_FLAG, ABANDONED], 8),
            (
                "daily_summary",
                old_summary,
                ["fcr_answered", "fcr_resolved", "fcr_rate", ABANDONED],
                9,
            ),
        ),
        marts_for_day(_scored(NEW, ["phone"] * 3, [True, False, None]), None),
    )
    return data


def _older_beside_newer(
    data: Path,
    older: tuple[tuple[str, pl.DataFrame, list[str], int], ...],
    newer: tuple[pl.DataFrame, pl.DataFrame],
) -> None:
    """Under ``data``: each of ``older`` (table, its marts frame, the columns its contract
    did not have yet, its schema_version) written as that contract wrote it on OLD, and
    ``newer`` (feedback_scored and daily_summary frames) written now on NEW, with one-row
    partitions of the other tables the views file reads."""
    marts, staging = data / "marts", data / ".staging"
    for table, frame, dropped, version in older:
        folder = partition_dir(marts / table, OLD)
        folder.mkdir(parents=True)
        frame.drop(PARTITION_COLUMN, *dropped, strict=False).with_columns(
            pl.lit(version, pl.Int32).alias("schema_version")
        ).write_parquet(folder / "part-0.parquet")
    feedback, summary = newer
    write_partition(feedback, marts / "feedback_scored", NEW, FEEDBACK_SCORED_SCHEMA, {}, staging)
    write_partition(summary, marts / "daily_summary", NEW, DAILY_SUMMARY_SCHEMA, {}, staging)
    # The views file reads every table; these are not what the tests are about.
    for other in ("quarantine", "marts/fix_list", "marts/agent_outcomes", "marts/review_queue"):
        folder = partition_dir(data / other, NEW)
        folder.mkdir(parents=True)
        pl.DataFrame({"source": ["post-call"]}).write_parquet(folder / "part-0.parquet")


def test_the_views_read_old_partitions_beside_new_with_the_flag_null(old_and_new: Path) -> None:
    connection = duckdb.connect()
    connection.execute("SET VARIABLE data_dir = $dir", {"dir": str(old_and_new)})
    connection.execute(VIEWS_FILE.read_text())
    assert connection.execute(
        f"SELECT survey_date, schema_version, {RESOLVED_FLAG} FROM feedback_scored "
        "ORDER BY survey_date, response_id"
    ).fetchall() == [
        (OLD, 8, None),  # written before the column: null, not an error
        (NEW, FEEDBACK_SCORED_VERSION, True),
        (NEW, FEEDBACK_SCORED_VERSION, False),
        (NEW, FEEDBACK_SCORED_VERSION, None),
    ]
    assert connection.execute(
        "SELECT survey_date, schema_version, fcr_answered, fcr_resolved, fcr_rate, abandoned "
        "FROM daily_summary ORDER BY survey_date"
    ).fetchall() == [(OLD, 9, None, None, None, None), (NEW, DAILY_SUMMARY_VERSION, 2, 1, 0.5, 0)]
    # Rolled up as the contract says: counts summed, then divided.
    assert connection.execute(
        "SELECT sum(fcr_resolved) / sum(fcr_answered) FROM daily_summary"
    ).fetchall() == [(0.5,)]


def test_a_daily_summary_10_partition_reads_beside_an_11_one(tmp_path: Path) -> None:
    """Partitions written before abandoned was added (feedback_scored 9, daily_summary 10:
    their fcr counts took abandoned calls in) read beside newer ones through sql/views.sql:
    abandoned null there, not an error, and the roll-up still sums counts."""
    data = tmp_path / "data"
    old_feedback, old_summary = marts_for_day(_scored(OLD, ["phone"] * 2, [True, False]), None)
    _older_beside_newer(
        data,
        (
            ("feedback_scored", old_feedback, [ABANDONED], FEEDBACK_SCORED_VERSION - 1),
            ("daily_summary", old_summary, [ABANDONED], DAILY_SUMMARY_VERSION - 1),
        ),
        marts_for_day(
            _scored(NEW, ["phone"] * 3, [True, False, False], [False, False, True]), None
        ),
    )
    connection = duckdb.connect()
    connection.execute("SET VARIABLE data_dir = $dir", {"dir": str(data)})
    connection.execute(VIEWS_FILE.read_text())
    assert connection.execute(
        "SELECT survey_date, schema_version, fcr_answered, fcr_resolved, abandoned "
        "FROM daily_summary ORDER BY survey_date"
    ).fetchall() == [
        (OLD, DAILY_SUMMARY_VERSION - 1, 2, 1, None),
        (NEW, DAILY_SUMMARY_VERSION, 2, 1, 1),
    ]
    assert connection.execute(
        f"SELECT survey_date, count(*), count({ABANDONED}) FROM feedback_scored "
        "GROUP BY ALL ORDER BY ALL"
    ).fetchall() == [(OLD, 2, 0), (NEW, 3, 3)]
