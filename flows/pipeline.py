"""The flows: each body is the pipeline's table of contents, nothing more."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from prefect import flow, get_run_logger, task, unmapped
from prefect.cache_policies import NO_CACHE

from flows.fanout import task_runner_for
from flows.tasks import (
    counts_dict,
    publish_clean_task,
    score_and_publish_task,
    validate_day_task,
    worker_name,
)
from flows.training import generate_task, train_and_register_task
from servicelens.settings import Settings


def yesterday(timezone: str, now: datetime | None = None) -> date:
    """Yesterday's date in the business timezone (the nightly run's default date)."""
    current = now.astimezone(ZoneInfo(timezone)) if now else datetime.now(ZoneInfo(timezone))
    return current.date() - timedelta(days=1)


def date_range(start: date, end: date) -> list[date]:
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


@flow(name="ingest-date", flow_run_name="ingest-{day}")
def ingest_date(day: date, settings: Settings) -> dict[str, Any]:
    """Raw exports of one date -> clean and quarantine partitions."""
    validated = validate_day_task(settings, day)
    publish_clean_task(settings, validated)
    return counts_dict(validated)


@flow(name="publish-date", flow_run_name="publish-{day}")
def publish_date(day: date, settings: Settings) -> dict[str, Any]:
    """Clean responses of one date -> scored feedback and daily summary partitions."""
    return score_and_publish_task(settings, day)


@flow(name="nightly", flow_run_name="nightly-{day}")
def nightly(day: date | None = None, settings: Settings | None = None) -> dict[str, Any]:
    """Process one survey date end to end (default: yesterday in the business timezone)."""
    settings = settings or Settings.from_env()
    day = day or yesterday(settings.timezone)
    ingested = ingest_date(day, settings)
    published = publish_date(day, settings)
    return {**ingested, **published}


@task(
    name="process-date",
    task_run_name="process-{day}",
    cache_policy=NO_CACHE,
    persist_result=False,
)
def process_date_task(settings: Settings, day: date) -> dict[str, Any]:
    """One date end to end, as one unit a task runner (local or Dask) can place anywhere."""
    validated = validate_day_task(settings, day)
    publish_clean_task(settings, validated)
    published = score_and_publish_task(settings, day)
    return {**counts_dict(validated), **published, "processed_by": worker_name()}


@flow(
    name="backfill",
    flow_run_name="backfill-{start}-to-{end}",
    task_runner=task_runner_for(None),
)
def backfill(start: date, end: date, settings: Settings | None = None) -> list[dict[str, Any]]:
    """Every date in a range, fanned out over the flow's task runner (see flows/fanout.py);
    a failing date does not stop the rest."""
    settings = settings or Settings.from_env()
    days = date_range(start, end)
    futures = process_date_task.map(unmapped(settings), days)
    outcomes: list[dict[str, Any]] = []
    for day, future in zip(days, futures, strict=True):
        future.wait()
        if future.state.is_completed():
            outcomes.append({"day": str(day), "outcome": "completed", **future.result()})
        else:
            outcomes.append({"day": str(day), "outcome": "failed", "error": future.state.message})
            get_run_logger().error("%s failed: %s", day, future.state.message)
    return outcomes


@flow(name="train")
def train(settings: Settings | None = None) -> dict[str, Any]:
    """Train a challenger on every audited response; promote it if it is not worse."""
    return train_and_register_task(settings or Settings.from_env())


@flow(name="demo")
def demo(
    settings: Settings, start: date, end: date, per_day: int = 1500, seed: int = 7
) -> dict[str, Any]:
    """Generate sample exports, ingest every date, train, then score and publish every date."""
    generated = generate_task(settings, start, end, per_day, seed)
    days = date_range(start, end)
    ingested = []
    for day in days:
        validated = validate_day_task(settings, day)
        publish_clean_task(settings, validated)
        ingested.append(counts_dict(validated))
    trained = train_and_register_task(settings)
    published = [score_and_publish_task(settings, d) for d in days]
    return {
        "generated": generated,
        "ingested": ingested,
        "trained": trained,
        "published": published,
    }
