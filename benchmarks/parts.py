"""Parts of a run timed on their own: personal-data redaction, the run report, and the fixed
cost of validating a date (Great Expectations' share that does not grow with the rows).

``make bench`` times redaction as a stage of the pipeline; this times it alone, repeatedly,
on one date's survey export as the pipeline reads it, and times building the run report from
what a run left in a data directory. Medians of ``--repeats`` runs.

Generated comments hold no personal data and no long numbers, so redaction is also timed
with numbers planted into a share of the rows (``--planted-share``, default 5 %): phone
numbers of two countries, a card, an IBAN, and look-alikes (order numbers, dates, amounts),
each with the row number in it so that no two planted texts are the same.

Usage, after ``make bench`` (or ``python -m benchmarks.run one ...``) has left a processed
date in a dataset folder::

    python -m benchmarks.parts --data benchmarks/data/1M-x5 [--date 2026-10-01] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from benchmarks.run import START
from transforms.formatting import formatted_text


def with_planted_numbers(frame: pl.DataFrame, share: float) -> pl.DataFrame:
    """``frame`` with a number appended to the comment of every ``1 / share``-th row."""
    every = max(1, round(1 / share))
    i = pl.int_range(pl.len(), dtype=pl.Int64)
    n = (i // every).cast(pl.String)
    six = (i // every % 1_000_000).cast(pl.String).str.zfill(6)
    planted = [
        formatted_text("call me on 07400 {}", six),
        formatted_text("my mobile is +33 6 12 {}", six),
        formatted_text("order ref 10000{}", n.str.zfill(8)),
        formatted_text("refund of 1,{}.50 due on 2026-10-01", six.str.slice(3)),
        pl.lit("card 4111 1111 1111 1111 ref ").add(n),
        pl.lit("IBAN GB82 WEST 1234 5698 7654 32 case ").add(n),
    ]
    kind = i // every % len(planted)
    suffix = pl.when(kind == 0).then(planted[0])
    for k, expr in enumerate(planted[1:], start=1):
        suffix = suffix.when(kind == k).then(expr)
    return frame.with_columns(
        pl.when(i % every == 0)
        .then(pl.concat_str(pl.col("comment").fill_null(""), pl.lit(" "), suffix))
        .otherwise(pl.col("comment"))
        .alias("comment")
    )


def time_redaction(
    data: Path, day: date, repeats: int, planted_share: float = 0.0
) -> dict[str, Any]:
    """Seconds to redact the comments of ``day``'s survey export (read as the pipeline does),
    with numbers planted into ``planted_share`` of the rows when it is above zero."""
    from servicelens.ingest.readers import read_csv_with_lines
    from servicelens.settings import Settings
    from servicelens.stages import SURVEYS_FILE
    from transforms.pii import redact_pii

    frame = read_csv_with_lines(Settings(data_dir=str(data)).raw_day(day) / SURVEYS_FILE).frame
    if planted_share > 0:
        frame = with_planted_numbers(frame, planted_share)
    runs = []
    counts: dict[str, int] = {}
    for _ in range(repeats):
        began = time.perf_counter()
        _, counts = redact_pii(frame, ["comment"])
        runs.append(time.perf_counter() - began)
    median = statistics.median(runs)
    return {
        "rows": frame.height,
        "planted_share": planted_share,
        "runs_s": [round(r, 3) for r in runs],
        "median_s": median,
        "rows_per_s": frame.height / median,
        "redacted": counts,
    }


def time_report(data: Path, repeats: int) -> dict[str, Any]:
    """Seconds to build the run report from the data directory (the first build is warm-up:
    it pays the imports and writes the shared chart script)."""
    from servicelens.reporting.report import build_report
    from servicelens.settings import Settings

    settings = Settings(data_dir=str(data))
    build_report(settings)
    runs = []
    for _ in range(repeats):
        began = time.perf_counter()
        result = build_report(settings)
        runs.append(time.perf_counter() - began)
    return {
        "runs_s": [round(r, 3) for r in runs],
        "median_s": statistics.median(runs),
        "report_bytes": result.path.stat().st_size,
        "missing": sorted(result.missing),
    }


def time_validation_fixed_cost(repeats: int, docs: Path | None = None) -> dict[str, Any]:
    """Seconds (wall and CPU) the batch and row suites take on a 50-row date: what a date
    pays for validation whatever its size. With ``docs``, the Data Docs pages are written
    there as a nightly run writes them. The first run (imports, GX's context) is warm-up."""
    from datetime import UTC, datetime

    from servicelens.validation.expectations import validate_survey_batch, validate_survey_rows
    from transforms.schemas import REQUIRED_SURVEY_COLUMNS

    n = 50
    frame = pl.DataFrame(
        {
            "_row": pl.Series(range(n), dtype=pl.UInt32),
            "source_file": ["surveys.csv"] * n,
            "source_line": pl.Series(range(2, n + 2), dtype=pl.Int64),
            "response_id": [f"r{i}" for i in range(n)],
            "interaction_id": [f"i{i}" for i in range(n)],
            "submitted_at": [datetime(2026, 10, 1, tzinfo=UTC)] * n,
            "channel": ["phone"] * n,
            "csat": [3] * n,
            "nps": [5] * n,
            "effort": [2] * n,
            "comment": ["fine"] * n,
            "has_interaction": [True] * n,
            "accepted_on": pl.Series([None] * n, dtype=pl.Date),
        }
    )
    header = list(REQUIRED_SURVEY_COLUMNS)

    def once() -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        validate_survey_batch(header, n, docs_page=docs / "surveys_batch.html" if docs else None)
        validate_survey_rows(
            frame, datetime.now(UTC), docs_page=docs / "surveys_rows.html" if docs else None
        )
        return time.perf_counter() - wall, time.process_time() - cpu

    if docs is not None:
        docs.mkdir(parents=True, exist_ok=True)
    once()
    runs = [once() for _ in range(repeats)]
    return {
        "data_docs": docs is not None,
        "wall_runs_s": [round(w, 3) for w, _ in runs],
        "median_wall_s": statistics.median(w for w, _ in runs),
        "median_cpu_s": statistics.median(c for _, c in runs),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.parts", description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="a dataset folder under benchmarks/data")
    parser.add_argument("--date", type=date.fromisoformat, default=START)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--planted-share", type=float, default=0.05)
    args = parser.parse_args(argv)
    data = Path(args.data)
    result = {
        "redaction": time_redaction(data, args.date, args.repeats),
        "redaction_planted": time_redaction(data, args.date, args.repeats, args.planted_share),
        "report": time_report(data, args.repeats),
        "validation_fixed": time_validation_fixed_cost(args.repeats),
        "validation_fixed_with_docs": time_validation_fixed_cost(args.repeats, data / "bench_docs"),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
