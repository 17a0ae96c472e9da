"""A staged partition file is published as it is: the same rows, types and manifest as
publishing the frame, without encoding the rows a second time."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from servicelens.storage.partitions import (
    DATA_FILE,
    MANIFEST_FILE,
    partition_dir,
    stage_partition,
    write_partition,
)
from transforms.schemas import CONTACT_SCHEMA, PARTITION_COLUMN

DAY = date(2026, 10, 1)


def _contacts(rows: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "survey_date": [DAY] * rows,
            "interaction_id": [f"I{i}" for i in range(rows)],
            "customer_id": [f"C{i % 7}" for i in range(rows)],
            "agent_id": [None if i % 5 == 0 else f"A{i % 3}" for i in range(rows)],
            "queue": ["billing"] * rows,
            "policy_code": ["REFUND-14D"] * rows,
            "started_at": [datetime(2026, 10, 1, i % 24, tzinfo=UTC) for i in range(rows)],
            "handle_seconds": [60.0 * i for i in range(rows)],
            "transfers": pl.Series([i % 3 for i in range(rows)], dtype=pl.Int16),
            "resolved_first_contact": [None if i % 4 == 0 else i % 2 == 0 for i in range(rows)],
            "abandoned": [None if i % 3 == 0 else i % 5 == 1 for i in range(rows)],
        }
    )


def _published(table: Path) -> tuple[pl.DataFrame, dict[str, object]]:
    part = partition_dir(table, DAY)
    manifest = json.loads((part / MANIFEST_FILE).read_text())
    return pl.read_parquet(part / DATA_FILE), manifest


def test_a_staged_file_is_published_as_the_frame_would_be(tmp_path: Path) -> None:
    frame = _contacts(50)
    staging = tmp_path / ".staging"
    staged = stage_partition(frame, CONTACT_SCHEMA, staging, "run-1", f"contacts-{DAY}")
    write_partition(frame, tmp_path / "from_frame", DAY, CONTACT_SCHEMA, {"run": 1}, staging)
    write_partition(staged, tmp_path / "from_staged", DAY, CONTACT_SCHEMA, {"run": 1}, staging)

    expected, expected_manifest = _published(tmp_path / "from_frame")
    data, manifest = _published(tmp_path / "from_staged")
    assert data.equals(expected)
    assert data.schema == {k: v for k, v in CONTACT_SCHEMA.items() if k != PARTITION_COLUMN}
    assert manifest["rows"] == expected_manifest["rows"] == 50
    assert manifest["columns"] == expected_manifest["columns"]
    # The staged file itself became the data file (linked, not encoded again), and removing
    # the run's staging afterwards leaves the partition whole.
    published = partition_dir(tmp_path / "from_staged", DAY) / DATA_FILE
    assert published.stat().st_ino == staged.stat().st_ino
    staged.unlink()
    assert pl.read_parquet(published).equals(expected)


def test_a_staged_file_of_another_shape_is_conformed_when_published(tmp_path: Path) -> None:
    # Staged by another version: extra column, columns out of order, lz4, partition column.
    frame = _contacts(20)
    staged = tmp_path / "old-staged.parquet"
    frame.select(reversed(frame.columns)).with_columns(pl.lit(1).alias("extra")).write_parquet(
        staged, compression="lz4"
    )
    write_partition(staged, tmp_path / "table", DAY, CONTACT_SCHEMA, {}, tmp_path / ".staging")
    data, manifest = _published(tmp_path / "table")
    assert data.equals(frame.drop(PARTITION_COLUMN))
    assert manifest["rows"] == 20


def test_a_frame_that_breaks_the_contract_fails_when_staged(tmp_path: Path) -> None:
    broken = _contacts(3).drop("transfers")
    with pytest.raises(ValueError, match="missing contract columns"):
        stage_partition(broken, CONTACT_SCHEMA, tmp_path, "run-1", "contacts")


def test_staging_again_under_the_same_name_leaves_the_published_partition(
    tmp_path: Path,
) -> None:
    # A task run again stages under the same name: the partition linked to the first file
    # keeps its rows.
    staging = tmp_path / ".staging"
    first = stage_partition(_contacts(5), CONTACT_SCHEMA, staging, "run-1", "contacts")
    write_partition(first, tmp_path / "table", DAY, CONTACT_SCHEMA, {}, staging)
    again = stage_partition(_contacts(9), CONTACT_SCHEMA, staging, "run-1", "contacts")
    assert again == first
    assert pl.read_parquet(again).height == 9
    data, manifest = _published(tmp_path / "table")
    assert data.height == manifest["rows"] == 5
    assert data.equals(_contacts(5).drop(PARTITION_COLUMN))
    assert not list(staging.rglob("*.tmp"))


def test_parquet_is_zstd_with_statistics_and_reads_back_equal(tmp_path: Path) -> None:
    """The storage layer's Parquet (partitions, staged files, marts) goes through one
    encoder: zstd (at the level the pipeline chose, which a file does not record) with
    column statistics, read back equal by polars and DuckDB alike."""
    import duckdb
    import pyarrow.parquet as pq

    from servicelens.storage.fs import write_parquet

    frame = pl.DataFrame({"id": [f"r{i}" for i in range(1000)], "score": list(range(1000))})
    target = tmp_path / "t" / "part-0.parquet"
    write_parquet(frame, target)
    column = pq.ParquetFile(target).metadata.row_group(0).column(1)
    assert column.compression == "ZSTD"
    assert column.statistics is not None and column.statistics.max == 999
    assert pl.read_parquet(target).equals(frame)
    rows = duckdb.sql(f"select count(*), max(score) from '{target}'").fetchall()
    assert rows == [(1000, 999)]
