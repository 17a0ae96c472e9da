"""Readers against a publishing writer: how often a query reads a partition torn by a publish.

Not a test (it measures a rate, as the bench measures speed). A writer process publishes two
partitions of a table over and over with :func:`servicelens.storage.partitions.write_partition`
(a whole new directory swapped in by one atomic exchange); meanwhile this process queries the
table's partitions in a loop, with DuckDB (``read_parquet`` over the glob, as ``sql/views.sql``
reads), with polars (``scan_parquet`` over the glob, as ``scan_table`` read until
2026-12-07) or through the pipeline's own read path (``--reader pipeline``:
:func:`servicelens.storage.partitions.scan_table`'s aggregate and one ``read_partition``,
which open each partition's file once),
and counts the queries that failed and why::

    python -m benchmarks.publish_race --reader duckdb --seconds 30
    python -m benchmarks.publish_race --reader polars --seconds 30
    python -m benchmarks.publish_race --reader pipeline --seconds 30

Found by a BI developer's trial (one snapshot query in 64 failed with DuckDB's ``don't know
what type:`` during a re-delivery's publish). On 2026-12-07, DuckDB 2.0.0 and a publish every
~0.15 s: 65 of 12,589 DuckDB queries failed (``don't know what type``, ``Prefetch registered
for bytes outside file``, ``TProtocolException``), with or without ``union_by_name``, on a
single file's path too (28 of 12,774), with a fresh connection a query (1 of 177) and with
DuckDB's external file cache off (21 of 5,664): DuckDB opens a file's path more than once in
one query (its footer, then its row groups), and a publish between the two opens gives it
the footer of one file and the bytes of the other. polars' ``scan_parquet`` did the same and
panicked (``assertion failed: range.end as u64 <= self.size``) or read a footer as garbage.
This script, 20 s each on a machine shared with other work: DuckDB 24 of 4,676 queries
failed, polars 34 of 6,570 (18 of them panics). An exchange protects each open, not a pair
of them: a fix needs readers that open each file once, or file names a publish never
reuses with the old files kept for a grace period and readers that list files from a
manifest (as table formats do), not from a glob.

The pipeline's own read path (``--reader pipeline``) now opens each file once. Measured
2026-12-07, 20 s each on the shared 2-core machine (load 12-13): 0 failed of 3,656 queries
(and 0 of 2,213; with ``--rows 8000``, 0 of 5,217). Before that change this writer did not
catch the old read path either (0 of 4,158, 7,992, 2,280 and, with ``--rows 8000``, 5,626),
while the polars glob reader failed 25 of 2,845 beside it; the race of the pipeline's reads
is shown by ``tests/reliability/test_publish_race_reads.py`` (a publishing thread in the
reading process: 4-14 of 300 reads failed before, none after).
"""

from __future__ import annotations

import argparse
import collections
import multiprocessing
import random
import tempfile
import time
from datetime import date
from pathlib import Path

import polars as pl

DAYS = (date(2026, 11, 1), date(2026, 11, 2))
SCHEMA: dict[str, pl.DataType] = {
    "survey_date": pl.Date(),
    "response_id": pl.String(),
    "csat": pl.Int64(),
    "comment": pl.String(),
}


def publish(root: Path, seconds: float, most_rows: int = 80_000) -> None:
    """Publish both partitions of ``root/t`` again and again for ``seconds``, each time with
    a quarter of ``most_rows`` to ``most_rows`` rows (so each publish's file differs in size
    and layout; smaller files are published more often)."""
    from servicelens.storage.partitions import write_partition

    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        rows = random.randint(most_rows // 4, most_rows)
        frame = pl.DataFrame(
            {
                "response_id": [f"R{i}-{n}" for i in range(rows)],
                "csat": [i % 5 for i in range(rows)],
                "comment": ["x" * (i % 50) for i in range(rows)],
            }
        )
        for day in DAYS:
            write_partition(
                frame.with_columns(pl.lit(day).alias("survey_date")).select(list(SCHEMA)),
                root / "t",
                day,
                SCHEMA,
                {"run_id": f"race-{n}"},
                root / ".staging",
            )
        n += 1


def query_loop(root: Path, reader: str, seconds: float) -> tuple[int, collections.Counter[str]]:
    """Run one aggregate query over ``root/t``'s partitions for ``seconds``; (queries that
    answered, failures by their message's first words)."""
    import duckdb

    from servicelens.storage.partitions import read_partition, scan_table

    pattern = str(root / "t" / "*" / "*.parquet")
    connection = duckdb.connect()
    failed: collections.Counter[str] = collections.Counter()
    answered = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            if reader == "duckdb":
                connection.execute(
                    "SELECT count(*), sum(csat), max(length(comment)) FROM read_parquet(?, "
                    "hive_partitioning = true, union_by_name = true)",
                    [pattern],
                ).fetchall()
            elif reader == "polars":
                pl.scan_parquet(pattern, hive_partitioning=True).select(
                    pl.len(), pl.col("csat").sum(), pl.col("comment").str.len_bytes().max()
                ).collect()
            else:  # the pipeline's two read functions: a table's partitions, one partition
                scan_table(root / "t").select(
                    pl.len(), pl.col("csat").sum(), pl.col("comment").str.len_bytes().max()
                ).collect()
                read_partition(root / "t", DAYS[answered % 2])
            answered += 1
        except BaseException as error:  # polars' panics are BaseExceptions
            if isinstance(error, KeyboardInterrupt):
                raise
            failed[str(error).splitlines()[0][:60]] += 1
    return answered, failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.publish_race", description=__doc__)
    parser.add_argument("--reader", choices=("duckdb", "polars", "pipeline"), default="duckdb")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument(
        "--rows", type=int, default=80_000, help="most rows a publish writes per partition"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="publish-race-") as folder:
        root = Path(folder)
        publish(root, 1.0, args.rows)  # both partitions exist before the first query
        writer = multiprocessing.get_context("spawn").Process(
            target=publish, args=(root, args.seconds, args.rows)
        )
        writer.start()
        answered, failed = query_loop(root, args.reader, args.seconds)
        writer.join()
    total = answered + sum(failed.values())
    print(f"{args.reader}: {total} queries, {sum(failed.values())} failed")
    for message, count in failed.most_common():
        print(f"  {count:5d}  {message}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
