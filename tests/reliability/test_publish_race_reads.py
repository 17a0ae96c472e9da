"""The pipeline's own reads of published partitions while another date publishes them.

A backfill runs dates at once: one date's early warning reads the scored history and its
contact look-back reads earlier partitions while another date publishes. A publish swaps a
whole partition directory in (``write_partition``), but polars opens a Parquet file's path
more than once in one query (its footer, then its row groups): a swap between the two
opens gave it one version's footer and the other's bytes (``expected parquet magic bytes``,
``Invalid thrift``, a panic raised as a BaseException; ``benchmarks/publish_race.py``).

Here a thread publishes two partitions again and again with the real ``write_partition``
while the test reads them with :func:`scan_table` and :func:`read_partition` a fixed number
of times. Every read must answer, and each partition in it must be exactly one version as
published, never rows of two. Before the pipeline opened each file once, these 300 rounds
of reads failed 8, 4 and 14 times in three runs (2026-12-07, 4-7 s each).
"""

from __future__ import annotations

import functools
import threading
from datetime import date
from pathlib import Path

import polars as pl
from polars.testing import assert_frame_equal

from benchmarks.publish_race import DAYS, SCHEMA
from servicelens.storage.partitions import read_partition, scan_table, write_partition
from transforms.formatting import formatted_text

#: Rounds of reads (both kinds); enough that the reads before the fix failed every run.
READS = 300


@functools.lru_cache(maxsize=64)
def _version(day: date, number: int) -> pl.DataFrame:
    """Partition ``day`` as publish ``number`` writes it: its size differs from the one
    before, so a footer of one version does not describe the other's bytes."""
    i = pl.int_range(2_000 + (number * 7_919) % 6_000)
    return pl.select(
        pl.lit(day).alias("survey_date"),
        formatted_text(f"{day}/{number}/{{}}", i).alias("response_id"),
        (i % 5 + 1).cast(pl.Int64).alias("csat"),
        formatted_text("comment {}", i % 40).alias("comment"),
    )


def _check_one_version(read: pl.DataFrame, day: date) -> None:
    """``read``'s rows of ``day`` are exactly one published version of that partition."""
    rows = read.filter(pl.col("survey_date") == day).select(list(SCHEMA))
    assert rows.height, f"partition {day} missing from the read"
    number = int(rows.get_column("response_id")[0].split("/")[1])
    assert_frame_equal(rows, _version(day, number))


def test_reads_see_one_whole_version_while_partitions_are_published(tmp_path: Path) -> None:
    table, staging = tmp_path / "marts" / "t", tmp_path / ".staging"
    for day in DAYS:
        write_partition(_version(day, 0), table, day, SCHEMA, {"run_id": "0"}, staging)
    done = threading.Event()
    published: list[int] = []

    def publish() -> None:
        number = 1
        while not done.is_set():
            for day in DAYS:
                write_partition(
                    _version(day, number), table, day, SCHEMA, {"run_id": str(number)}, staging
                )
            published.append(number)
            number += 1

    publisher = threading.Thread(target=publish, daemon=True)
    publisher.start()
    failures: list[str] = []
    try:
        for read in range(READS):
            try:
                whole = scan_table(table).collect()
                one = read_partition(table, DAYS[read % 2])
            except BaseException as error:  # polars' panics are BaseExceptions
                if isinstance(error, KeyboardInterrupt):
                    raise
                failures.append(f"{type(error).__name__}: {str(error).splitlines()[0][:80]}")
                continue
            assert sorted(set(whole.get_column("survey_date"))) == list(DAYS)
            for day in DAYS:
                _check_one_version(whole, day)
            _check_one_version(one, DAYS[read % 2])
    finally:
        done.set()
        publisher.join(60)
    assert published, "the publisher never published while the reads ran"
    assert failures == [], f"{len(failures)} of {READS} reads failed: {failures[:5]}"
