"""The questions `sources demo` answers with DuckDB over the views, sources side by side."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl

from servicelens.cli.sources import _demo_queries
from servicelens.settings import Settings
from servicelens.stages import conform_filling
from servicelens.storage.partitions import write_partition
from transforms.schemas import FEEDBACK_SCORED_SCHEMA


def _scored(settings: Settings, source: str, queues: dict[str, int]) -> None:
    """``queues``' negatives of ``source``, scored, in the marts of ``settings``."""
    rows = [
        {"response_id": f"{source}-{queue}-{i}", "queue": queue, "is_negative": True}
        for queue, count in queues.items()
        for i in range(count)
    ]
    frame = pl.DataFrame(rows).with_columns(
        pl.lit(source).alias("source"),
        pl.lit(date(2026, 11, 1)).alias("survey_date"),
        pl.lit("policy_failure").alias("root_cause"),
        pl.lit(0.75).alias("p_policy_failure"),
    )
    write_partition(
        conform_filling(frame, FEEDBACK_SCORED_SCHEMA),
        settings.marts_dir / "feedback_scored",
        date(2026, 11, 1),
        FEEDBACK_SCORED_SCHEMA,
        {"run_id": "t"},
        settings.staging_dir,
    )


def test_failures_by_product_shows_each_sources_top_queues(tmp_path: Path) -> None:
    """Found by a trial: beside the sample's 28 days, a CFPB demo's products never showed
    in `failures_by_product` (the five queues with the most negatives of all sources)."""
    sample = Settings(data_dir=str(tmp_path / "data"))
    _scored(sample, "sample", {f"q{i}": 100 + i for i in range(6)})
    cfpb = Settings(data_dir=str(tmp_path / "data"), source="cfpb")
    _scored(cfpb, "cfpb", {"mortgage": 3, "debt collection": 2})
    answers = _demo_queries(sample)["failures_by_product"]
    assert [(r["source"], r["queue"], r["negatives"]) for r in answers] == [
        ("cfpb", "mortgage", 3),
        ("cfpb", "debt collection", 2),
        *[("sample", f"q{i}", 100 + i) for i in (5, 4, 3, 2, 1)],
    ]
    assert {(r["policy_failure_share"], r["expected_policy_failure_share"]) for r in answers} == {
        (1.0, 0.75)
    }
