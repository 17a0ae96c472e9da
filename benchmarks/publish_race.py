"""Readers against a publishing writer: how often a query reads a partition torn by a publish.

Not a test (it measures a rate, as the bench measures speed). A writer process publishes two
partitions of a table over and over with :func:`servicelens.storage.partitions.write_partition`
(a whole new directory swapped in by one atomic exchange); meanwhile this process queries the
table's partitions in a loop, with DuckDB (``read_parquet`` over the glob, as ``sql/views.sql``
reads) or with polars (``scan_parquet``, as ``scan_table`` reads), and counts the queries that
failed and why::

    python -m benchmarks.publish_race --reader duckdb --seconds 30
    python -m benchmarks.publish_race --reader polars --seconds 30

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


def publish(root: Path, seconds: float) -> None:
    """Publish both partitions of ``root/t`` again and again for ``seconds``, each time with
    20,000-80,000 rows (so each publish's file differs in size and layout)."""
    from servicelens.storage.partitions import write_partition

    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        rows = random.randint(20_000, 80_000)
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
            else:
                pl.scan_parquet(pattern, hive_partitioning=True).select(
                    pl.len(), pl.col("csat").sum(), pl.col("comment").str.len_bytes().max()
                ).collect()
            answered += 1
        except BaseException as error:  # polars' panics are BaseExceptions
            if isinstance(error, KeyboardInterrupt):
                raise
            failed[str(error).splitlines()[0][:60]] += 1
    return answered, failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.publish_race", description=__doc__)
    parser.add_argument("--reader", choices=("duckdb", "polars"), default="duckdb")
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="publish-race-") as folder:
        root = Path(folder)
        publish(root, 1.0)  # both partitions exist before the first query
        writer = multiprocessing.get_context("spawn").Process(
            target=publish, args=(root, args.seconds)
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
