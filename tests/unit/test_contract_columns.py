"""Tables read by the report have every column of their contract (transforms.schemas)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl

from servicelens.reporting.report import _table
from servicelens.storage.partitions import DATA_FILE
from transforms.schemas import DAILY_SUMMARY_CONTRACT, FIX_LIST_CONTRACT


def test_columns_no_partition_holds_yet_read_as_null_of_the_contracts_type(
    tmp_path: Path,
) -> None:
    """A data directory whose daily_summary partitions were all written before version 6,
    and whose fix list before version 4: the report reads their new columns as null."""
    for contract, dropped in (
        (DAILY_SUMMARY_CONTRACT, "expected_policy_failures"),
        (FIX_LIST_CONTRACT, "csat_not_estimated"),
    ):
        partition = tmp_path / contract.name / f"survey_date={date(2026, 11, 2)}"
        partition.mkdir(parents=True)
        written = {n: t for n, t in contract.schema.items() if n not in (dropped, "survey_date")}
        pl.DataFrame(schema=written).write_parquet(partition / DATA_FILE)
        frame = _table(tmp_path / contract.name)
        assert frame is not None
        assert frame.schema[dropped] == contract.schema[dropped]
        assert set(contract.schema) <= set(frame.columns)
    other = tmp_path / "not_published" / "survey_date=2026-11-02"
    other.mkdir(parents=True)
    pl.DataFrame({"a": [1]}).write_parquet(other / DATA_FILE)
    assert (table := _table(tmp_path / "not_published")) is not None
    assert set(table.columns) == {"a", "survey_date"}
