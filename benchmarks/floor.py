"""The floor: polars reading the raw files of a date and writing marts, with no other work.

No typing, validation, joins or scoring: read the survey export and the interaction files the
date needs, write the survey rows as the feedback mart and a per-channel count as the summary.
No pipeline can be faster than this on the same files; the ratio to it is the price of the
pipeline's work.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from benchmarks.clock import StageClock
from transforms.schemas import RAW_INTERACTION_SCHEMA


def run(data_dir: str, days: list[date], clock: StageClock) -> dict[str, Any]:
    raw = Path(data_dir) / "raw"
    out = Path(data_dir) / "floor_out"
    rows = 0
    for day in days:
        with clock.stage("read"):
            surveys = pl.read_csv(
                raw / day.isoformat() / "surveys.csv",
                infer_schema=False,
                encoding="utf8-lossy",
                truncate_ragged_lines=True,
                quote_char='"',
            )
            for back in (2, 1, 0):
                path = raw / (day - timedelta(days=back)).isoformat() / "interactions.jsonl"
                if path.exists():
                    # polars' NDJSON reader stops at the first truncated line, so lines are
                    # read as text and decoded: the least work that survives a broken line.
                    pl.read_csv(
                        path,
                        has_header=False,
                        separator="\x01",
                        quote_char=None,
                        schema={"line": pl.String},
                    ).filter(pl.col("line").str.ends_with("}")).select(
                        pl.col("line").str.json_decode(pl.Struct(RAW_INTERACTION_SCHEMA))
                    )
        with clock.stage("write"):
            for table, frame in (
                ("feedback_scored", surveys),
                ("daily_summary", surveys.group_by("channel").len()),
            ):
                target = out / table / f"survey_date={day.isoformat()}"
                target.mkdir(parents=True, exist_ok=True)
                frame.write_parquet(target / "part-0.parquet", compression="zstd")
        rows += surveys.height
    return {"surveys": rows}
