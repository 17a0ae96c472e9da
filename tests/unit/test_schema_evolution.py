"""Schema evolution: a partition written before a contract grew a column reads with that
column as null (partitions are combined by column name), so the marts, the report and
training keep working; partitions that disagree on a column's type fail with one line
saying to rewrite them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from servicelens.settings import Settings
from servicelens.stages import conform_filling, labelled_negatives, load_clean
from servicelens.storage.partitions import (
    SchemaEvolutionError,
    partition_dir,
    scan_table,
    write_partition,
)
from transforms.schemas import (
    CLEAN_RESPONSE_SCHEMA,
    DAILY_SUMMARY_SCHEMA,
    DAILY_SUMMARY_VERSION,
    PARTITION_COLUMN,
    conform,
)

OLD, NEW = date(2026, 10, 1), date(2026, 10, 2)
#: Columns the clean contract gained with source definitions.
ADDED = ["source", "rating", "attributes", "label"]


def _clean(response_id: str, day: date, source: str | None) -> pl.DataFrame:
    return conform_filling(
        pl.DataFrame(
            {
                "response_id": [response_id],
                "survey_date": [day],
                "submitted_at": [datetime(2026, 10, day.day, 9, tzinfo=UTC)],
                "csat": [1],
                "comment": ["the fee was never mentioned"],
                "is_negative": [True],
                "source": [source],
            },
            schema_overrides={"csat": pl.Int8, "source": pl.String},
        ),
        CLEAN_RESPONSE_SCHEMA,
    )


def _write_old(settings: Settings, frame: pl.DataFrame, day: date) -> None:
    """A partition as an earlier version wrote it (plain Parquet, no newer columns)."""
    folder = partition_dir(settings.clean_dir, day)
    folder.mkdir(parents=True)
    frame.drop(PARTITION_COLUMN).write_parquet(folder / "part-0.parquet")


def _settings(tmp_path: Path) -> Settings:
    settings = Settings(data_dir=str(tmp_path / "data"))
    old = _clean("r-old", OLD, None).drop(ADDED)
    _write_old(settings, old, OLD)
    write_partition(
        _clean("r-new", NEW, "sample"),
        settings.clean_dir,
        NEW,
        CLEAN_RESPONSE_SCHEMA,
        {},
        settings.staging_dir,
    )
    return settings


def test_old_partitions_read_with_new_columns_as_null(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    table = scan_table(settings.clean_dir).collect().sort("response_id")
    assert table.select("response_id", "survey_date", "source", "label").rows() == [
        ("r-new", NEW, "sample", None),
        ("r-old", OLD, None, None),
    ]
    assert table.schema["csat"] == pl.Int8 and set(CLEAN_RESPONSE_SCHEMA) <= set(table.columns)
    # One old partition on its own meets today's contract too.
    old = load_clean(settings, OLD)
    assert old.schema == pl.Schema(CLEAN_RESPONSE_SCHEMA) and old.get_column("source")[0] is None


def test_training_reads_old_and_new_partitions_together(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    for day, response_id, cause in ((OLD, "r-old", "perceived"), (NEW, "r-new", "policy_failure")):
        folder = settings.raw_day(day)
        folder.mkdir(parents=True)
        (folder / "audits.csv").write_text(
            "response_id,root_cause,audited_at,auditor\n"
            f"{response_id},{cause},{day}T12:00:00Z,qa-1\n"
        )
    labelled = labelled_negatives(settings).sort("response_id")
    assert labelled.select("response_id", "root_cause", "source").rows() == [
        ("r-new", "policy_failure", "sample"),
        ("r-old", "perceived", None),
    ]


def test_partitions_that_disagree_on_a_type_say_to_rerun(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    text_csat = _clean("r-text", date(2026, 10, 3), "sample").with_columns(
        pl.col("csat").cast(pl.String)
    )
    _write_old(settings, text_csat, date(2026, 10, 3))
    with pytest.raises(SchemaEvolutionError, match=r"column 'csat' is .*--rerun all") as error:
        scan_table(settings.clean_dir)
    assert "\n" not in str(error.value) and str(settings.clean_dir) in str(error.value)


def test_scanning_some_dates_reads_only_their_partitions(tmp_path: Path) -> None:
    """A week's marts and a date's contact history read a few dates of a table that grows
    by a partition a day; scanning the whole table read every partition's schema each time
    (a source's 170 monthly partitions: 15 % of its run). Only the dates asked for are read,
    and none published gives the table's columns with no rows."""
    from datetime import date

    import polars as pl

    from servicelens.storage.partitions import partition_dir, scan_table

    table = tmp_path / "t"
    days = [date(2026, 1, 1), date(2026, 1, 2), date(2026, 1, 3)]
    for day in days:
        extra = day == days[1]
        folder = partition_dir(table, day)
        folder.mkdir(parents=True)
        frame = pl.DataFrame({"x": [day.day]})
        if extra:  # a column a later contract added
            frame = frame.with_columns(pl.lit("new").alias("y"))
        frame.write_parquet(folder / "part-0.parquet")
    none = scan_table(table, [date(2026, 2, 1)]).collect()
    assert none.height == 0 and {"x", "survey_date"} <= set(none.columns)
    # A damaged partition outside the dates asked for is never opened.
    (partition_dir(table, date(2026, 1, 3)) / "part-0.parquet").write_bytes(b"not parquet")
    two = scan_table(table, [date(2026, 1, 1), date(2026, 1, 2)]).collect().sort("x")
    assert two.select("x", "y", "survey_date").rows() == [
        (1, None, date(2026, 1, 1)),
        (2, "new", date(2026, 1, 2)),
    ]
    one = scan_table(table, [date(2026, 1, 1)]).collect()
    assert one.select("x", "survey_date").rows() == [(1, date(2026, 1, 1))]


def test_quarantine_partitions_before_superseded_read_it_as_null(tmp_path: Path) -> None:
    """The quarantine's layout 2 added ``superseded``: a partition written before reads with
    it null (its reasons still name a superseded copy), in polars and in DuckDB's views, and
    one written after carries it for every row."""
    import duckdb

    from servicelens.validation.reasons import with_reason_kinds
    from transforms.schemas import QUARANTINE_ROW_SCHEMA, QUARANTINE_SCHEMA, QUARANTINE_VERSION

    settings = Settings(data_dir=str(tmp_path / "data"))
    rows = conform(
        pl.DataFrame(
            {
                "survey_date": [NEW, NEW],
                "feed": ["surveys", "surveys"],
                "source_file": ["s.csv", "s.csv"],
                "source_line": [2, 3],
                "record_id": ["r1", "r1"],
                "reasons": [["duplicate delivery: superseded by line 3"], ["csat: 'x' bad"]],
                "raw_record": ["{}", "{}"],
                "source": ["sample", "sample"],
                "superseded": [True, False],
            }
        ),
        QUARANTINE_ROW_SCHEMA,
    )
    old = rows.head(1).with_columns(pl.lit(OLD).alias("survey_date")).drop("superseded")
    rows = with_reason_kinds(rows).with_columns(
        pl.lit(QUARANTINE_VERSION, pl.Int32).alias("schema_version")
    )
    folder = partition_dir(settings.quarantine_dir, OLD)
    folder.mkdir(parents=True)
    old.drop(PARTITION_COLUMN).write_parquet(folder / "part-0.parquet")
    write_partition(rows, settings.quarantine_dir, NEW, QUARANTINE_SCHEMA, {}, settings.staging_dir)
    table = scan_table(settings.quarantine_dir).collect().sort("survey_date", "source_line")
    assert table.select("survey_date", "source_line", "superseded").rows() == [
        (OLD, 2, None),
        (NEW, 2, True),
        (NEW, 3, False),
    ]
    # As the README reads the quarantine in DuckDB.
    assert duckdb.sql(
        "SELECT survey_date, superseded, count(*) FROM read_parquet(?, hive_partitioning = "
        "true, union_by_name = true) GROUP BY ALL ORDER BY ALL",
        params=[f"{settings.quarantine_dir}/*/*.parquet"],
    ).fetchall() == [(OLD, None, 1), (NEW, False, 1), (NEW, True, 1)]
    # Version 3 added each reason's kind: null on the old rows, a list parallel to reasons on
    # the new ones, which group by it.
    assert duckdb.sql(
        "SELECT survey_date, schema_version, reason_kinds, reason_columns FROM read_parquet(?, "
        "hive_partitioning = true, union_by_name = true) ORDER BY ALL",
        params=[f"{settings.quarantine_dir}/*/*.parquet"],
    ).fetchall() == [
        (OLD, None, None, None),
        (NEW, 3, ["duplicate_delivery"], [None]),
        (NEW, 3, ["other"], ["csat"]),
    ]


def test_daily_summary_partitions_before_csat_responses_read_it_as_null(tmp_path: Path) -> None:
    """daily_summary 8 added ``csat_responses``: a partition of version 7 reads with it null
    beside one of version 8, in polars and in DuckDB."""
    import duckdb

    from transforms.marts import daily_summary

    scored = pl.DataFrame(
        {
            "response_id": ["r1", "r2", "r3"],
            "survey_date": [NEW] * 3,
            "queue": ["billing"] * 3,
            "policy_code": ["FEE-01"] * 3,
            "channel": ["phone"] * 3,
            "csat": [1, 4, None],
            "is_negative": [True, False, None],
            "root_cause": [None, None, None],
            "p_policy_failure": [None, None, None],
        },
        schema_overrides={"csat": pl.Int8, "root_cause": pl.String, "p_policy_failure": pl.Float64},
    )
    summary = conform(daily_summary(scored), DAILY_SUMMARY_SCHEMA)
    table = tmp_path / "daily_summary"
    write_partition(summary, table, NEW, DAILY_SUMMARY_SCHEMA, {}, tmp_path / ".staging")
    folder = partition_dir(table, OLD)
    folder.mkdir(parents=True)
    summary.drop(PARTITION_COLUMN, "csat_responses").with_columns(
        pl.lit(7, pl.Int32).alias("schema_version")
    ).write_parquet(folder / "part-0.parquet")
    read = scan_table(table).collect().sort("survey_date")
    assert read.select("survey_date", "mean_csat", "csat_responses").rows() == [
        (OLD, 2.5, None),
        (NEW, 2.5, 2),
    ]
    assert duckdb.sql(
        "SELECT schema_version, csat_responses FROM read_parquet(?, hive_partitioning = true, "
        "union_by_name = true) ORDER BY survey_date",
        params=[f"{table}/*/*.parquet"],
    ).fetchall() == [(7, None), (DAILY_SUMMARY_VERSION, 2)]  # the current version
