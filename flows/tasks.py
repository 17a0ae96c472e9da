"""Prefect tasks: thin wrappers that add retries, logging and run ids to the stages.

Only tasks that touch the disk retry. Large frames never travel through Prefect: tasks hand
each other paths to staged Parquet.
"""

from __future__ import annotations

import os
import socket
from dataclasses import asdict
from datetime import date
from typing import Any

import polars as pl
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from models.registry import champion_version, load_model
from models.train import score_negatives
from servicelens.settings import Settings
from servicelens.stages import (
    ValidatedDay,
    load_clean,
    marts_for_day,
    publish_clean,
    validate_day,
)
from servicelens.storage import code_version, write_partition
from transforms.schemas import DAILY_SUMMARY_SCHEMA, FEEDBACK_SCORED_SCHEMA

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
    if version is None:
        get_run_logger().warning("%s: no champion model yet; root causes left empty", day)
        scored = clean.with_columns(
            pl.lit(None, pl.Float64).alias("p_policy_failure"),
            pl.lit(None, pl.String).alias("root_cause"),
            pl.lit(None, pl.Boolean).alias("needs_review"),
        )
    else:
        model = load_model(settings.models_dir, version)
        scored = score_negatives(model, clean, settings.review_band)
    feedback, summary = marts_for_day(scored, version)
    counts = {
        "responses": feedback.height,
        "negatives": int(feedback.get_column("is_negative").sum()),
        "scored": int(feedback.get_column("root_cause").is_not_null().sum()),
        "policy_failures": int((feedback.get_column("root_cause") == "policy_failure").sum()),
        "needs_review": int(feedback.get_column("needs_review").sum()),
    }
    manifest = _manifest(settings, model_version=version, counts=counts)
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
    return {"day": str(day), "model_version": version, **counts}


def worker_name() -> str:
    """Which process ran a task (host:pid), so a fanned-out backfill shows where dates ran."""
    return f"{socket.gethostname()}:{os.getpid()}"


def counts_dict(validated: ValidatedDay) -> dict[str, Any]:
    return {"day": str(validated.day), **asdict(validated.counts)}
