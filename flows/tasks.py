"""Prefect tasks: thin wrappers that add retries, logging and run ids to the stages.

Only tasks that touch the disk retry. Large frames never travel through Prefect: tasks hand
each other paths to staged Parquet.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Any

import polars as pl
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from models.drift import compare_with_reference
from models.pipeline import FeatureSpec, feature_frame, spec_from_dict
from models.registry import (
    champion_version,
    load_model,
    read_metadata,
    read_out_of_fold,
    read_reference,
)
from models.train import Decision, score_negatives
from servicelens.settings import Settings
from servicelens.stages import (
    ValidatedDay,
    load_clean,
    marts_for_day,
    publish_clean,
    read_audits,
    validate_day,
)
from servicelens.storage import code_version, write_partition
from transforms.marts import review_queue
from transforms.schemas import DAILY_SUMMARY_SCHEMA, FEEDBACK_SCORED_SCHEMA, REVIEW_QUEUE_SCHEMA

IO_RETRIES = 2
IO_RETRY_DELAYS: list[float] = [2.0, 10.0]


def current_run_id() -> str:
    """The Prefect flow run id, which every manifest records."""
    return str(flow_run.get_id() or "local")


def _manifest(settings: Settings, **extra: Any) -> dict[str, Any]:
    return {
        "run_id": current_run_id(),
        "flow": flow_run.get_flow_name(),
        "code_version": code_version(),
        "timezone": settings.timezone,
        **extra,
    }


@task(name="validate-day", cache_policy=NO_CACHE, persist_result=False)
def validate_day_task(settings: Settings, day: date) -> ValidatedDay:
    """Read, clean and validate one date's raw exports (a bad batch fails the date)."""
    # No retries: a BatchError is about the data, and reading it again will not change it.
    validated = validate_day(settings, day, current_run_id())
    counts = validated.counts
    get_run_logger().info(
        "%s: read %d surveys, kept %d, quarantined %d (%d superseded deliveries, %d malformed "
        "lines), %d negatives",
        day,
        counts.surveys_read,
        counts.kept,
        counts.quarantined,
        counts.superseded_duplicates,
        counts.malformed_lines,
        counts.negatives,
    )
    return validated


@task(
    name="publish-clean",
    retries=IO_RETRIES,
    retry_delay_seconds=IO_RETRY_DELAYS,
    cache_policy=NO_CACHE,
    persist_result=False,
)
def publish_clean_task(settings: Settings, validated: ValidatedDay) -> dict[str, str]:
    """Swap in the date's clean and quarantine partitions."""
    return publish_clean(settings, validated, _manifest(settings))


@task(
    name="score-and-publish",
    retries=IO_RETRIES,
    retry_delay_seconds=IO_RETRY_DELAYS,
    cache_policy=NO_CACHE,
    persist_result=False,
)
def score_and_publish_task(settings: Settings, day: date) -> dict[str, Any]:
    """Score the date's negative responses with the champion and swap in its mart partitions."""
    clean = load_clean(settings, day)
    version = champion_version(settings.models_dir)
    drift: dict[str, Any] | None = None
    threshold = 0.5
    if version is None:
        get_run_logger().warning("%s: no champion model yet; root causes left empty", day)
        scored = clean.with_columns(
            pl.lit(None, pl.Float64).alias("p_policy_failure"),
            pl.lit(None, pl.String).alias("root_cause"),
            pl.lit(None, pl.Boolean).alias("needs_review"),
            pl.lit(None, pl.List(pl.String)).alias("top_reasons"),
        )
    else:
        meta = read_metadata(settings.models_dir, version)
        spec = spec_from_dict(meta.get("feature_spec"))
        decision = Decision.from_dict(meta.get("decision"), settings.review_band)
        threshold = decision.threshold
        model = load_model(settings.models_dir, version)
        scored = score_negatives(model, clean, decision.review_band, threshold, spec)
        drift = _drift(settings, version, scored, spec)
    feedback, summary = marts_for_day(scored, version)
    audited = read_audits(settings, [day]).get_column("response_id")
    doubts = read_out_of_fold(settings.models_dir, version) if version else None
    to_review = review_queue(feedback, audited, doubts, threshold, version)
    counts = {
        "responses": feedback.height,
        "negatives": int(feedback.get_column("is_negative").sum()),
        "scored": int(feedback.get_column("root_cause").is_not_null().sum()),
        "policy_failures": int((feedback.get_column("root_cause") == "policy_failure").sum()),
        "needs_review": int(feedback.get_column("needs_review").sum()),
        "review_queue": to_review.height,
        "drift_flagged": bool(drift and drift["flagged"]),
    }
    if drift and drift["flagged"]:
        get_run_logger().warning("%s: drift vs training: %s", day, "; ".join(drift["alerts"]))
    manifest = _manifest(settings, model_version=version, counts=counts, drift=drift)
    write_partition(
        feedback,
        settings.marts_dir / "feedback_scored",
        day,
        FEEDBACK_SCORED_SCHEMA,
        manifest,
        settings.staging_dir,
    )
    write_partition(
        summary,
        settings.marts_dir / "daily_summary",
        day,
        DAILY_SUMMARY_SCHEMA,
        manifest,
        settings.staging_dir,
    )
    write_partition(
        to_review,
        settings.marts_dir / "review_queue",
        day,
        REVIEW_QUEUE_SCHEMA,
        manifest,
        settings.staging_dir,
    )
    return {"day": str(day), "model_version": version, **counts, "drift": drift}


def _drift(
    settings: Settings, version: str, scored: pl.DataFrame, spec: FeatureSpec
) -> dict[str, Any] | None:
    """This batch's negatives against the champion's training reference."""
    reference = read_reference(settings.models_dir, version)
    if reference is None:
        return None
    negatives = scored.filter(pl.col("p_policy_failure").is_not_null())
    return compare_with_reference(
        feature_frame(negatives, spec),
        negatives.get_column("p_policy_failure").to_numpy(),
        reference,
    )


def counts_dict(validated: ValidatedDay) -> dict[str, Any]:
    return {"day": str(validated.day), **asdict(validated.counts)}
