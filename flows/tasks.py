"""Prefect tasks: thin wrappers that add retries, logging and run ids to the stages.

Only tasks that touch the disk retry. Large frames never travel through Prefect: tasks hand
each other paths to staged Parquet.
"""

from __future__ import annotations

import logging
import os
import socket
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from datetime import date
from typing import Any

import polars as pl
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run
from prefect.states import State

from flows.caching import read_interactions_cached
from flows.run_names import publishing_flow
from models.drift import compare_with_reference
from models.pipeline import FeatureSpec, feature_frame, spec_from_dict
from models.registry import (
    cached_model,
    champion_version,
    read_metadata,
    read_out_of_fold,
    read_reference,
    read_trained_facts_only,
)
from models.train import Decision, score_negatives
from servicelens.outcomes import Rescorer, early_warning, publish_weekly_marts
from servicelens.reporting.report import build_report
from servicelens.runtime import STEPS_LOGGER
from servicelens.settings import Settings
from servicelens.stages import (
    ValidatedDay,
    audited_ids,
    load_clean,
    publish_clean,
    publish_marts,
    validate_day,
    with_model_attributes,
)
from servicelens.storage.partitions import code_version, read_manifest, write_partition
from servicelens.storage.runs import describe_flags
from transforms.marts import review_queue, with_out_of_fold_scores, without_scores
from transforms.schemas import REVIEW_QUEUE_SCHEMA

IO_RETRIES = 2
IO_RETRY_DELAYS: list[float] = [2.0, 10.0]


def retry_on_io_errors(task: Any, task_run: Any, state: State[Any]) -> bool:
    """Retry a failed read when the disk or network hiccupped, never when the data is bad:
    reading a broken export again will not fix it."""
    try:
        state.result()
    except OSError:
        return True
    except Exception:
        return False
    return False


def current_run_id() -> str:
    """The Prefect flow run id, which every manifest records."""
    return str(flow_run.get_id() or "local")


def _manifest(settings: Settings, **extra: Any) -> dict[str, Any]:
    return {
        "run_id": current_run_id(),
        "flow": publishing_flow(),
        "code_version": code_version(),
        "timezone": settings.timezone,
        "source": settings.source,
        # The partition key is survey_date; a monthly source's partitions are named by the
        # month's first day and hold the whole month.
        "partition": {"key": "survey_date", "granularity": settings.partition},
        **extra,
    }


@task(
    name="validate-and-publish-clean",
    retries=IO_RETRIES,
    retry_delay_seconds=IO_RETRY_DELAYS,
    retry_condition_fn=retry_on_io_errors,
    cache_policy=NO_CACHE,
    persist_result=False,
)
def validate_and_publish_clean_task(settings: Settings, day: date) -> ValidatedDay:
    """Read, clean and validate one date's raw exports (a bad batch fails the date), then
    swap in its clean and quarantine partitions.

    One task, not one per step: every caller publishes what it validated at once, and each
    task run is three state events the API records. Interaction files are parsed through
    the parse cache (flows/caching.py), keyed on their checksums and the parser's code.
    """
    validated = validate_day(
        settings, day, current_run_id(), read_interaction_file=read_interactions_cached
    )
    counts = validated.counts
    get_run_logger().info(
        "%s: read %d surveys, kept %d, quarantined %d (%d superseded by a later "
        "line or delivery, %d malformed lines), %d negatives",
        day,
        counts.surveys_read,
        counts.kept,
        counts.quarantined,
        counts.superseded_duplicates,
        counts.malformed_lines,
        counts.negatives,
    )
    # No model touches the clean layer; the field is there so every manifest has one shape.
    publish_clean(settings, validated, _manifest(settings, model_version=None))
    return validated


@task(
    name="score-and-publish",
    retries=IO_RETRIES,
    retry_delay_seconds=IO_RETRY_DELAYS,
    cache_policy=NO_CACHE,
    persist_result=False,
)
def score_and_publish_task(settings: Settings, day: date) -> dict[str, Any]:
    """Score the date's negative responses with the champion and swap in its mart partitions."""
    # QA's audits (for the review queue) are read on a thread while the date is scored:
    # polars, off the GIL, and the scoring leaves part of a core idle (0.07 s of a 100k
    # date's 0.6 s of scoring). The thread ends with the read.
    pool = ThreadPoolExecutor(1, thread_name_prefix="audits")
    auditing = pool.submit(audited_ids, settings, day)
    pool.shutdown(wait=False)
    clean = load_clean(settings, day)
    version = champion_version(settings.models_dir)
    drift: dict[str, Any] | None = None
    threshold = 0.5
    review_band = settings.review_band
    rescore: Rescorer | None = None
    doubts: pl.DataFrame | None = None
    if version is None:
        get_run_logger().warning("%s: no champion model yet; root causes left empty", day)
        scored = without_scores(clean)
    else:
        meta = read_metadata(settings.models_dir, version)
        spec = spec_from_dict(meta.get("feature_spec"))
        decision = Decision.from_dict(meta.get("decision"), settings.review_band)
        threshold, review_band = decision.threshold, decision.review_band
        model = cached_model(settings.models_dir, version)

        def readable(frame: pl.DataFrame) -> pl.DataFrame:
            # A source's clean rows keep its attributes as JSON: the ones this champion
            # reads (its spec, which the definition may have outgrown since it was trained)
            # become columns, for today's rows and for the earlier dates the early warning
            # re-scores alike.
            return frame if settings.is_sample else with_model_attributes(frame, spec)

        scored = score_negatives(
            model, readable(clean), decision.review_band, threshold, spec, decision=decision
        )
        # Drift reads the in-sample scores: its reference's class mix is the final model's
        # in-sample scores of its training rows (models/train.py, reference_profile).
        drift = _drift(settings, version, scored, spec)
        doubts = read_out_of_fold(settings.models_dir, version)
        facts_only = read_trained_facts_only(settings.models_dir, version)

        def as_published(frame: pl.DataFrame) -> pl.DataFrame:
            # The rows whose label the champion learned are published with their
            # out-of-fold scores (a trial's CFPB marts scored them in-sample at ROC-AUC
            # 0.966), and the early warning counts what the marts publish.
            return with_out_of_fold_scores(frame, doubts, threshold, review_band, facts_only)

        scored = as_published(scored)

        def rescore(frame: pl.DataFrame) -> pl.DataFrame:
            # An earlier champion's history day, scored as this one's marts would hold it:
            # with its decision (an unseen language's pull to the base rate) and the
            # out-of-fold scores (a trial's alert counted in-sample failures today against
            # out-of-fold history: BILLING-FEE 27 where the mart held 25). No reasons.
            return as_published(
                score_negatives(
                    model,
                    readable(frame),
                    decision.review_band,
                    threshold,
                    spec,
                    reasons=0,
                    decision=decision,
                )
            )

    warning = early_warning(settings, day, scored, version, rescore)
    if warning["flags"]:
        get_run_logger().warning("%s: early warning: %s", day, describe_flags(warning))
    audited, reconfirmed = auditing.result()
    to_review = review_queue(
        scored, audited, doubts, threshold, version, reconfirmed_ids=reconfirmed
    )
    if drift and drift["flagged"]:
        get_run_logger().warning("%s: drift vs training: %s", day, "; ".join(drift["alerts"]))
    # Every partition's manifest says what it was built from: the clean partition's inputs
    # and row reconciliation travel on into the marts, so BI can check them there.
    clean_manifest = read_manifest(settings.clean_dir, day) or {}
    manifest = _manifest(
        settings,
        inputs=clean_manifest.get("inputs", {}),
        counts={
            **clean_manifest.get("counts", {}),
            "review_queue": to_review.height,
            "drift_flagged": bool(drift and drift["flagged"]),
        },
        drift=drift,
        early_warning=warning,
    )
    counts = publish_marts(settings, day, scored, version, manifest)
    write_partition(
        to_review,
        settings.marts_dir / "review_queue",
        day,
        REVIEW_QUEUE_SCHEMA,
        # With the marts' counts, as their manifests have them (a trial's review_queue
        # manifest said "scored": 0 beside feedback_scored's 1,847: the clean stage's).
        {**manifest, "model_version": version, "counts": {**manifest["counts"], **counts}},
        settings.staging_dir,
    )
    return {
        "day": str(day),
        "source": settings.source,
        "granularity": settings.partition,
        "model_version": version,
        **counts,
        "review_queue": to_review.height,
        "drift_flagged": bool(drift and drift["flagged"]),
        "drift": drift,
        "early_warning": warning,
    }


@task(
    name="publish-weekly-marts",
    retries=IO_RETRIES,
    retry_delay_seconds=IO_RETRY_DELAYS,
    cache_policy=NO_CACHE,
    persist_result=False,
)
def publish_weekly_task(settings: Settings, days: list[date]) -> dict[str, Any]:
    """Rebuild the fix list and agent outcomes of the weeks the run's dates touch: once per
    run, after every date's marts are published (first-contact resolution of earlier weeks
    settles as later contacts arrive)."""
    logging.getLogger(STEPS_LOGGER).info("rebuilding the weekly marts of the run's weeks")
    published = publish_weekly_marts(settings, days, _manifest(settings))
    logger = get_run_logger()
    if published["weeks"]:
        logger.info("weekly marts rebuilt for weeks %s", ", ".join(published["weeks"]))
    else:  # no date of the run published marts (or its weeks hold nothing to show)
        logger.info("weekly marts: no week to rebuild (no published date in the run's weeks)")
    if published["older_contract_rebuilt"]:
        logger.info(
            "of them, published under an older contract version: %s",
            ", ".join(published["older_contract_rebuilt"]),
        )
    return published


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


def worker_name() -> str:
    """Which process ran a task (host:pid), so a fanned-out backfill shows where dates ran."""
    return f"{socket.gethostname()}:{os.getpid()}"


def counts_dict(validated: ValidatedDay) -> dict[str, Any]:
    return {"day": str(validated.day), **asdict(validated.counts)}


@task(name="write-report", cache_policy=NO_CACHE, persist_result=False)
def write_report_task(settings: Settings) -> str:
    """Write the run's HTML report (also reports/latest.html) and link it from the flow run."""
    from prefect.artifacts import create_link_artifact

    logging.getLogger(STEPS_LOGGER).info(f"writing the run report of {settings.source}")
    report = build_report(settings, current_run_id())
    missing = ", ".join(report.missing) or "none"
    create_link_artifact(
        key="run-report",
        link=report.path.resolve().as_uri(),
        link_text=report.path.name,
        description=(
            f"Run report: volumes, root-cause trend, top policies, data quality, model "
            f"calibration, drift. Newest always at {report.latest.resolve()}. "
            f"Sections not available: {missing}."
        ),
    )
    get_run_logger().info("report written to %s", report.path)
    return str(report.path)
