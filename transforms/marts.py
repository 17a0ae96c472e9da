"""Mart builders: pure functions from scored responses to what BI reads."""

from __future__ import annotations

import polars as pl

from transforms.schemas import (
    DAILY_SUMMARY_VERSION,
    FEEDBACK_SCORED_SCHEMA,
    FEEDBACK_SCORED_VERSION,
    POSITIVE_CLASS,
    conform,
)


def feedback_scored(scored: pl.DataFrame, model_version: str | None) -> pl.DataFrame:
    """One row per valid response, with its predicted root cause if negative."""
    return conform(
        scored.with_columns(
            pl.lit(model_version, pl.String).alias("model_version"),
            pl.lit(FEEDBACK_SCORED_VERSION, pl.Int32).alias("schema_version"),
        ),
        FEEDBACK_SCORED_SCHEMA,
    )


def daily_summary(scored: pl.DataFrame) -> pl.DataFrame:
    """Counts and shares by date, queue, policy and channel."""
    keys = ["survey_date", "queue", "policy_code", "channel"]
    return (
        scored.group_by(keys)
        .agg(
            pl.len().cast(pl.UInt32).alias("responses"),
            pl.col("is_negative").sum().cast(pl.UInt32).alias("negatives"),
            (pl.col("root_cause") == POSITIVE_CLASS).sum().cast(pl.UInt32).alias("policy_failures"),
            (pl.col("root_cause") == "perceived").sum().cast(pl.UInt32).alias("perceived"),
            pl.col("csat").cast(pl.Float64).mean().alias("mean_csat"),
        )
        .with_columns(
            (pl.col("negatives") / pl.col("responses")).alias("negative_share"),
            pl.when(pl.col("negatives") > 0)
            .then(pl.col("policy_failures") / pl.col("negatives"))
            .otherwise(None)
            .alias("policy_failure_share"),
            pl.lit(DAILY_SUMMARY_VERSION, pl.Int32).alias("schema_version"),
        )
        .sort(keys)
    )
