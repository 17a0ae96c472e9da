"""The flows: each body is the pipeline's table of contents, nothing more."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from typing import Any

from prefect import State, flow
from prefect.runtime import flow_run
from prefect.states import Completed, Failed

from flows import fanout
from flows.caching import prune_cache
from flows.dates import (
    BACKFILL_LIMIT,
    DateOutcome,
    ensure_backfill_limit,
    failure_message,
    process_and_record,
    run_planned_dates,
)
from flows.notify import alert_on_early_warning, alert_on_failure
from flows.reporting import publish_run_summary
from flows.tasks import (
    counts_dict,
    current_run_id,
    publish_clean_task,
    publish_weekly_task,
    score_and_publish_task,
    validate_day_task,
    write_report_task,
)
from flows.training import generate_task, train_and_register_task
from servicelens.dates import refuse_future, survey_date_range, yesterday
from servicelens.settings import SAMPLE_PER_DAY, Settings
from servicelens.storage.locks import date_lock
from servicelens.storage.partitions import discard_run_staging, locks_dir
from servicelens.storage.runs import (
    RerunPolicy,
    date_status,
    drift_flags,
    plan_backfill,
    plan_nightly,
    recent_counts,
    summary_row,
)


@flow(name="nightly", flow_run_name="nightly-{day}")
def nightly(
    day: date | None = None, settings: Settings | None = None, report: bool = True
) -> dict[str, Any]:
    """Process one survey date end to end (default: yesterday in the business timezone).

    The date's outcome is recorded (``servicelens.storage.runs``) either way, so ``--rerun failed``
    and the nightly look-back can find it, and a run-summary artifact is attached.
    ``report=False`` skips the HTML run report, for callers (backfill, the nightly window)
    that write one report once all their dates are done.
    """
    settings = settings or Settings.from_env()
    day = day or yesterday(settings.timezone)
    # A date that is not over yet has no exports: refused before anything is read or recorded.
    refuse_future(day, settings.timezone, "day")
    # One run of a date at a time: a second one waits, then refuses with a clear error (and
    # is not recorded as a failure of the date: the run holding it decides its outcome).
    with date_lock(locks_dir(settings.staging_dir), day, settings.lock_wait_seconds):
        try:
            # The tasks directly, not one subflow per stage: two flow runs
            # fewer per date is most of Prefect's cost in a long backfill. The outcome is
            # recorded either way.
            result = process_and_record(settings, day, current_run_id())
        except Exception as error:
            row = summary_row(day, "failed", {"error": failure_message(error)}, [])
            publish_run_summary(f"date-summary-{day}", f"servicelens {day}: failed", [row])
            raise
    flags = drift_flags(result, recent_counts(settings, day))
    row = summary_row(day, "completed", result, flags)
    publish_run_summary(f"date-summary-{day}", f"servicelens {day}", [row])
    if report:
        # Run on its own (not as one date of a backfill or window, whose run does this once).
        publish_weekly_task(settings, [day])
        alert_on_early_warning(settings.notify_url, result.get("early_warning"))
        write_report_task(settings)
    return result


def _outcome_rows(outcomes: list[DateOutcome]) -> list[dict[str, Any]]:
    return [
        summary_row(date.fromisoformat(o.day), o.outcome, {**o.result, "error": o.error}, [])
        for o in outcomes
    ]


def _finish(title: str, key: str, outcomes: list[DateOutcome]) -> State:
    """Attach the summary, and fail the run (keeping the outcomes) if any date failed."""
    publish_run_summary(key, title, _outcome_rows(outcomes))
    rows = [asdict(o) for o in outcomes]
    failed = [o.day for o in outcomes if o.outcome == "failed"]
    if failed:
        return Failed(message=f"{len(failed)} of {len(rows)} dates failed: {failed}", data=rows)
    return Completed(message=f"{len(rows)} dates", data=rows)


@flow(name="backfill", flow_run_name="backfill-{start}-to-{end}-{rerun}")
def backfill(
    start: date,
    end: date,
    rerun: RerunPolicy = "missing",
    newest_first: bool = False,
    concurrency: int = 1,
    dry_run: bool = False,
    data_dir: str | None = None,
    settings: Settings | None = None,
    dask_address: str | None = None,
) -> State:
    """Run the dates of a range that ``rerun`` selects, each as its own ``nightly`` flow run.

    ``missing`` runs dates never published, ``failed`` also the ones whose last run failed,
    ``all`` every date. A failing date does not stop the rest; the run fails at the end if any
    date failed. ``dry_run`` only reports the plan. Dates take slots of the
    ``servicelens-backfill`` concurrency limit, which the nightly run does not use.

    With a Dask scheduler (``dask_address``, else ``$SERVICELENS_DASK_ADDRESS``) the same
    ``nightly`` flow runs are started by ``process-date`` tasks on the cluster's workers
    (flows/fanout.py), and the workers, not the concurrency limit, bound how many run at once.
    """
    settings = settings or Settings.from_env(data_dir)
    triggered_at = _triggered_at()
    statuses = [
        date_status(settings, day, triggered_at)
        for day in survey_date_range(start, end, settings.timezone)
    ]
    plan = plan_backfill(statuses, rerun, newest_first)
    if dry_run:
        rows = [{**asdict(p), "day": str(p.day)} for p in plan]
        publish_run_summary("backfill-plan", f"backfill plan {start}..{end} ({rerun})", rows)
        return Completed(message=f"dry run: {sum(p.run for p in plan)} dates to run", data=rows)
    address = fanout.dask_address(dask_address)
    if address:
        outcomes = fanout.run_planned_dates_on(address, plan, settings, tags=["backfill"])
    else:
        ensure_backfill_limit(settings.backfill_slots)
        outcomes = run_planned_dates(
            nightly,
            plan,
            settings,
            concurrency=concurrency,
            tags=["backfill"],
            limit=BACKFILL_LIMIT,
        )
    publish_weekly_task(settings, _completed(outcomes))
    write_report_task(settings)
    prune_cache()
    return _finish(f"backfill {start}..{end} ({rerun})", "backfill-summary", outcomes)


def _completed(outcomes: list[DateOutcome]) -> list[date]:
    return [date.fromisoformat(o.day) for o in outcomes if o.outcome == "completed"]


def _triggered_at() -> datetime | None:
    """When this run was asked for (its scheduled start), the idempotency basis's cut-off."""
    scheduled = flow_run.get_scheduled_start_time()
    return scheduled if isinstance(scheduled, datetime) else None


def _scheduled_date(timezone: str) -> date:
    """Yesterday relative to when the run was scheduled (not when it started), in ``timezone``."""
    scheduled = flow_run.get_scheduled_start_time()
    return yesterday(timezone, scheduled if isinstance(scheduled, datetime) else None)


@flow(name="nightly-window", on_failure=[alert_on_failure])
def nightly_window(
    day: date | None = None,
    lookback_days: int | None = None,
    data_dir: str | None = None,
    notify_url: str | None = None,
) -> State:
    """The scheduled nightly run: yesterday, plus the look-back dates whose inputs changed.

    Late surveys re-deliver earlier dates' exports; only dates whose input checksums differ
    from the ones their partitions were built from are processed again.
    """
    settings = Settings.from_env(data_dir)
    target = day or _scheduled_date(settings.timezone)
    lookback = settings.late_data_lookback_days if lookback_days is None else lookback_days
    plan = plan_nightly(settings, target, lookback, _triggered_at())
    outcomes = run_planned_dates(nightly, plan, settings, tags=["nightly"])
    publish_weekly_task(settings, _completed(outcomes))
    for outcome in outcomes:
        if outcome.day == target.isoformat():
            alert_on_early_warning(
                notify_url or settings.notify_url, outcome.result.get("early_warning")
            )
    write_report_task(settings)
    prune_cache()
    return _finish(f"nightly {target} (look-back {lookback} days)", "nightly-summary", outcomes)


@flow(name="train")
def train(settings: Settings | None = None, data_dir: str | None = None) -> dict[str, Any]:
    """Train a challenger on every audited response; promote it if it is not worse.

    ``data_dir`` is for the served retrain deployment, whose parameters are plain values.
    """
    settings = settings or Settings.from_env(data_dir)
    trained = train_and_register_task(settings)
    write_report_task(settings)
    return trained


@flow(name="demo")
def demo(
    settings: Settings, start: date, end: date, per_day: int = SAMPLE_PER_DAY, seed: int = 7
) -> dict[str, Any]:
    """Generate sample exports, ingest every date, train, then score and publish every date."""
    generated = generate_task(settings, start, end, per_day, seed)
    days = survey_date_range(start, end)
    ingested = []
    for day in days:
        validated = validate_day_task(settings, day)
        publish_clean_task(settings, validated)
        ingested.append(counts_dict(validated))
    trained = train_and_register_task(settings)
    published = [score_and_publish_task(settings, d) for d in days]
    weekly = publish_weekly_task(settings, days)
    discard_run_staging(settings.staging_dir, current_run_id())
    return {
        "generated": generated,
        "ingested": ingested,
        "trained": trained,
        "published": published,
        "weekly": weekly,
        "report": write_report_task(settings),
    }
