"""The flows: each body is the pipeline's table of contents, nothing more."""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict
from datetime import UTC, date, datetime
from typing import Any

from prefect import State, get_run_logger
from prefect.runtime import flow_run
from prefect.states import Completed, Failed

from flows import fanout
from flows.caching import prune_cache
from flows.dates import (
    OUTCOMES,
    DateOutcome,
    failure_message,
    nightly_run_name,
    process_and_record,
    record_unrecorded_failures,
    run_planned_dates,
    with_recoveries,
)
from flows.notify import alert_on_early_warning, alert_on_failure, alert_on_nightly_date
from flows.prefect_client import beating_flow
from flows.recovery import hold_date_releasing, recover_dead_claims
from flows.reporting import publish_retrain_summary, publish_run_summary
from flows.run_names import date_run_name
from flows.slots import BACKFILL_LIMIT, ensure_backfill_limit
from flows.sources import configured_source_outcomes, for_each_source
from flows.tasks import (
    counts_dict,
    current_run_id,
    publish_weekly_task,
    score_and_publish_task,
    validate_and_publish_clean_task,
    write_report_task,
)
from flows.training import (
    failure_names_the_promotion,
    generate_task,
    train_and_register_task,
)
from servicelens.dates import (
    refuse_after_current_period,
    refuse_future,
    refuse_reversed,
    survey_date_range,
    yesterday,
)
from servicelens.ingest.configured import (
    UNREADABLE_DEFINITION,
    backfill_dates,
    backfill_refusal,
    configured_names,
    configured_sources_or_unreadable,
    has_sample_exports,
    only_sources,
    sources_to_backfill,
)
from servicelens.reporting.rerun import published_counts
from servicelens.retrain import (
    UNFINISHED,
    ModelsNotTrained,
    Retrained,
    retrain_each,
    retrain_message,
    retrain_rows,
)
from servicelens.settings import SAMPLE_PER_DAY, Settings, timezone_origin
from servicelens.storage.claims import hold_run, in_flight_action
from servicelens.storage.partitions import discard_run_staging
from servicelens.storage.runs import (
    TODO_CHANGED,
    TODO_FAILED,
    RerunPolicy,
    backfill_plan,
    date_status,
    drift_flags,
    plan_nightly,
    recent_counts,
    refuse_another_timezone,
    summary_row,
)


def _refuse_another_timezone(settings: Settings) -> None:
    """Refuse (TimezoneMismatchError) a run in another business timezone than the data
    directory records, before anything is read or recorded: as the command line does, for
    a deployment's run (``storage.runs.refuse_another_timezone``)."""
    refuse_another_timezone(settings, timezone_origin(settings.timezone))


@beating_flow(name="nightly", flow_run_name=nightly_run_name)
def nightly(
    day: date | None = None, settings: Settings | None = None, report: bool = True
) -> dict[str, Any]:
    """Process one survey date end to end (default: yesterday in the business timezone).

    The date's outcome is recorded (``servicelens.storage.runs``) either way, so ``--rerun failed``
    and the nightly look-back can find it, and a run-summary artifact is attached. The result
    holds the date's counts and its ``drift_flags``.
    ``report=False`` is for callers (backfill, the nightly window) that summarise all their
    dates once they are done: it skips the HTML run report and the date's own summary
    artifact (their summary table has the date's row, with the same columns).
    """
    settings = settings or Settings.from_env()
    _refuse_another_timezone(settings)
    day = day or yesterday(settings.timezone)
    # A date that is not over yet has no exports: refused before anything is read or recorded.
    refuse_future(day, settings.timezone, "day")
    # One run of a date at a time: a second one waits, then refuses with a clear error (and
    # is not recorded as a failure of the date: the run holding it decides its outcome).
    # Holding the date also keeps its in-flight record beating, so a later run can tell
    # whether this one is alive (a backfill's date run already holds it: this re-enters).
    run_id = current_run_id()
    name = flow_run.get_name() or date_run_name(settings, day, flow_run.get_tags())
    with hold_date_releasing(settings, day, run_id, name, settings.lock_wait_seconds):
        try:
            # The tasks directly, not one subflow per stage: two flow runs
            # fewer per date is most of Prefect's cost in a long backfill. The outcome is
            # recorded either way.
            result = process_and_record(settings, day, run_id)
        except Exception as error:
            if report:
                said = failure_message(error, settings.data_dir)
                row = summary_row(day, "failed", {"error": said}, [])
                publish_run_summary(f"date-summary-{day}", f"servicelens {day}: failed", [row])
            raise
    result = {**result, "drift_flags": drift_flags(result, recent_counts(settings, day))}
    if report:
        row = summary_row(day, "completed", result, result["drift_flags"])
        publish_run_summary(f"date-summary-{day}", f"servicelens {day}", [row])
        # Run on its own (not as one date of a backfill or window, whose run does this once).
        publish_weekly_task(settings, [day])
        alert_on_early_warning(settings.notify_url, result.get("early_warning"), settings)
        ran = DateOutcome(day.isoformat(), "completed", name, result)
        write_reports_after([settings], [ran])
    return result


def _outcome_rows(outcomes: list[DateOutcome]) -> list[dict[str, Any]]:
    """The run summary's rows. A date skipped with nothing left to do shows why in its
    outcome (``skipped (inputs unchanged)``), not among the failures (found by a trial: the
    nightly summary listed every unchanged look-back date under "Failures")."""
    rows = []
    for o in outcomes:
        quiet = o.outcome == "skipped" and not o.todo
        outcome = f"skipped ({o.error})" if quiet and o.error else o.outcome
        parts = (o.recovered,) if quiet else (o.error, o.todo, o.recovered)
        result = {**o.result, "error": "; ".join(x for x in parts if x)}
        rows.append(
            summary_row(date.fromisoformat(o.day), outcome, result, o.result.get("drift_flags", []))
        )
    return rows


def outcome_counts(outcomes: list[DateOutcome]) -> str:
    """``6 completed, 2 skipped (1 whose last run failed)``: the outcomes that occur, in a
    fixed order."""
    counts = {o: sum(x.outcome == o for x in outcomes) for o in OUTCOMES}
    parts = [f"{n} {o}" for o, n in counts.items() if n]
    skipped = [x.todo for x in outcomes if x.outcome == "skipped"]
    why = [
        f"{n} {words}"
        for n, words in (
            (skipped.count(TODO_FAILED), "whose last run failed"),
            (skipped.count(TODO_CHANGED), "whose inputs changed since their last run"),
        )
        if n
    ]
    if why:
        parts = [f"{p} ({', '.join(why)})" if p.endswith("skipped") else p for p in parts]
    return ", ".join(parts) or "no dates"


class DatesNotCompleted(RuntimeError):
    """A backfill or nightly window in which a date did not complete: the failed run's
    exception. Its message names the dates; ``rows`` holds every planned date's outcome (the
    fields of :class:`flows.dates.DateOutcome`, as a dict), so a caller reads them from a
    failed run as from a completed one (:func:`outcome_rows`)."""

    def __init__(self, message: str, rows: list[dict[str, Any]]) -> None:
        super().__init__(message, rows)  # both in ``args``: it pickles whole
        self.rows = rows

    def __str__(self) -> str:
        return str(self.args[0])


class RanThenReportFailedError(Exception):
    """Dates ran (their outcomes recorded, as far as the disk let them be), then the run
    report could not be written; raised from the write's ``OSError``. Its message says what
    ran and how it ended. ``servicelens run`` and ``backfill`` exit 1 on it, as on a date that
    failed while running, not 2 (refused before or instead of running dates): a trial's full
    disk failed a date, then the report, and the command exited 2 naming no file."""


def write_reports_after(reported: list[Settings], ran: list[DateOutcome]) -> None:
    """Write the run report of each of ``reported`` (:func:`flows.tasks.write_report_task`)
    once the dates of ``ran`` ran. An ``OSError`` of the writes (a full disk) is raised as
    :class:`RanThenReportFailedError` when a date ran, as itself when none did."""
    try:
        for settings in reported:
            write_report_task(settings)
    except OSError as error:
        if not ran:
            raise
        failed = [f"{o.day}: {o.error}" for o in ran if o.outcome == "failed"]
        said = f"{outcome_counts(ran)}" + (f" ({'; '.join(failed)})" if failed else "")
        raise RanThenReportFailedError(
            f"the run's dates ran: {said}; then its run report could not be written"
        ) from error


def outcome_rows(state: State) -> list[dict[str, Any]] | None:
    """The per-date outcome rows of a finished ``backfill`` or ``nightly-window`` run, whether
    it completed or failed; ``None`` when it failed before running any date."""
    result = state.result(raise_on_failure=False)
    if isinstance(result, DatesNotCompleted):
        return result.rows
    return result if isinstance(result, list) else None


def finished_rows(state: State, what: str) -> list[dict[str, Any]]:
    """:func:`outcome_rows` of a finished run. A run that failed before running any date
    raises its own error (a ValueError saying what to change is shown as one line), else a
    RuntimeError saying ``what`` failed."""
    rows = outcome_rows(state)
    if rows is None:
        state.result()
        raise RuntimeError(f"{what} failed: {state.message}")
    return rows


def _finish(title: str, key: str, outcomes: list[DateOutcome]) -> State:
    """Attach the summary (its title: what was asked, then what happened), and fail the run
    if a date failed here or in the trigger that ran it. A failed run's data is a
    :class:`DatesNotCompleted` carrying the outcomes: Prefect's engine (a served deployment's
    run) turns a failed state's data into the exception it raises, which a list is not."""
    publish_run_summary(key, f"{title}: {outcome_counts(outcomes)}", _outcome_rows(outcomes))
    rows = [asdict(o) for o in outcomes]
    # A date with something left to do: failed here or in the trigger that ran it (the run
    # fails), or skipped by the rerun policy although its last run failed (it says so).
    failed = [
        o.day
        for o in outcomes
        if o.todo and o.outcome != "skipped" and not _inbox_file(o) and not _unreadable(o)
    ]
    # An inbox file that could not be landed is named with its source and why, not as the
    # night's date (found by a trial: serve's last word was "1 of 3 dates did not complete:
    # ['2026-12-04']", and the file and its reason were nowhere in the data directory).
    inbox = [f"{o.result['source']}: {o.error}" for o in outcomes if _inbox_file(o)]
    # A source whose registered definition cannot be read ran no partition: it is named, and
    # why, not as a date.
    unread = [f"{o.result['source']}: {o.error}" for o in outcomes if _unreadable(o)]
    left = [o.day for o in outcomes if o.todo == TODO_FAILED and o.outcome == "skipped"]
    note = f"; skipped because their last run failed (add rerun=failed): {left}" if left else ""
    changed = [o.day for o in outcomes if o.todo == TODO_CHANGED and o.outcome == "skipped"]
    if changed:
        note += f"; skipped though their inputs changed (add rerun=changed): {changed}"
    if failed or inbox or unread:
        dated = sum(not (o.result.get("inbox_file") or _unreadable(o)) for o in outcomes)
        said = [f"{len(failed)} of {dated} dates did not complete: {failed}"] if failed else []
        said += [f"{len(inbox)} inbox file(s) not landed: {'; '.join(inbox)}"] if inbox else []
        said += [f"{len(unread)} source(s) not run: {'; '.join(unread)}"] if unread else []
        message = "; ".join(said) + note
        return Failed(message=message, data=DatesNotCompleted(message, rows))
    return Completed(message=f"{outcome_counts(outcomes)}{note}", data=rows)


def _unreadable(outcome: DateOutcome) -> bool:
    """Whether ``outcome`` is a configured source not run because its registered definition
    cannot be read (``flows.sources.unreadable_outcome``), which names no date."""
    return outcome.outcome == "failed" and bool(outcome.result.get(UNREADABLE_DEFINITION))


def _inbox_file(outcome: DateOutcome) -> bool:
    """Whether ``outcome`` is an inbox file that failed to land (``flows.sources``), which
    names a source and a file, not a date that did not complete."""
    return outcome.outcome == "failed" and bool(outcome.result.get("inbox_file"))


#: How each rerun policy reads in run names and titles: the policy, never an outcome.
POLICY_WORDS: dict[str, str] = {
    "missing": "missing dates",
    "failed": "missing and failed dates",
    "changed": "missing dates and dates whose inputs changed",
    "all": "all dates",
}


def backfill_run_name() -> str:
    """``backfill-2026-10-01-to-2026-10-07-missing-and-failed-dates``: the range and which
    dates the rerun policy picks (the outcome is in the run's state and summary)."""
    parameters = flow_run.get_parameters()
    words = POLICY_WORDS.get(str(parameters.get("rerun", "missing")), "dates")
    return f"backfill-{parameters['start']}-to-{parameters['end']}-{words.replace(' ', '-')}"


def _held_for_this_run(settings: Settings) -> AbstractContextManager[Any]:
    """Keep an in-flight record of this flow run (released by a later run if it dies)."""
    run_id = flow_run.get_id()
    if run_id is None:
        return nullcontext()
    return hold_run(settings, run_id, flow_run.get_name() or run_id)


@beating_flow(name="backfill", flow_run_name=backfill_run_name)
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
    source: str | None = None,
) -> State:
    """Run the dates of a range that ``rerun`` selects, each as its own ``nightly`` flow run.

    ``source`` names a source configured in the data directory: its landed partitions in the
    range run instead of the sample's dates (a monthly source's partitions are months).

    ``missing`` runs dates never published, ``failed`` also the ones whose last run failed,
    ``all`` every date. A failing date does not stop the rest; the run fails at the end if any
    date failed. ``dry_run`` only reports the plan. Dates take slots of the
    ``servicelens-backfill`` concurrency limit, which the nightly run does not use.

    Before planning, what dead runs of this data directory left behind is released
    (flows/recovery.py): their flow runs are marked crashed and their slots given back.

    With a Dask scheduler (``dask_address``, else ``$SERVICELENS_DASK_ADDRESS``) the same
    ``nightly`` flow runs are started by ``process-date`` tasks on the cluster's workers
    (flows/fanout.py), and the workers, not the concurrency limit, bound how many run at once.
    """
    settings = settings or Settings.from_env(data_dir)
    _refuse_another_timezone(settings)
    title = f"backfill {start}..{end} of {POLICY_WORDS[rerun]}"
    # Only configured sources here: each one's landed partitions in the range, one source
    # after another, as the nightly run takes them (a trial re-ran a month source by source).
    every_source = not source and only_sources(settings)
    if source:
        # A source's landed partitions, none of them ahead: --end only bounds them, as the
        # command line has it (a trial's monthly source: `--end 2026-12` passed the dry run
        # and the real run refused 2026-12-31 "in the future" after Prefect had started).
        refuse_reversed(start, end)
        settings, days = backfill_dates(settings, start, end, source)
        # After the source's current period (a month's last day for a monthly source),
        # as the command line refuses it, for a deployment's run.
        refuse_after_current_period(end, settings.timezone, settings.partition)
        title = f"backfill {start}..{end} of {POLICY_WORDS[rerun]}, source {source}"
    else:
        days = survey_date_range(start, end, settings.timezone)
    if not source and (refusal := backfill_refusal(settings)):
        # Without this, a mistyped directory's every date was skipped, exit 0.
        raise ValueError(refusal)
    # What runs: each source and its partitions in the range, or the one settings' dates.
    ranges = sources_to_backfill(settings, start, end) if every_source else [(settings, days)]
    if every_source:
        title = f"backfill {start}..{end} of {POLICY_WORDS[rerun]}, every configured source"
    if dry_run:
        rows = []
        for chosen, chosen_days in ranges:
            statuses = [date_status(chosen, d) for d in chosen_days]
            plan = backfill_plan(chosen, statuses, rerun, newest_first, preview=True)
            rows += [
                {**asdict(p), "day": str(p.day), **in_flight_action(chosen, p)}
                | ({"source": chosen.source} if every_source else {})
                for p in plan
            ]
        publish_run_summary("backfill-plan", f"{title}: plan", rows)
        to_run = sum(r["run"] for r in rows)
        return Completed(message=f"dry run: {to_run} dates to run", data=rows)
    with _held_for_this_run(settings):
        recovered = recover_dead_claims(settings)
        triggered_at = _triggered_at()

        def run_range(
            chosen: Settings, chosen_days: list[date], report: bool = True
        ) -> list[DateOutcome]:
            statuses = [date_status(chosen, day, triggered_at) for day in chosen_days]
            plan = backfill_plan(chosen, statuses, rerun, newest_first)
            handed_out = datetime.now(UTC)
            address = fanout.dask_address(dask_address)
            if address:
                ran = fanout.run_planned_dates_on(address, plan, chosen, tags=["backfill"])
            else:
                ensure_backfill_limit(chosen.backfill_slots)
                ran = run_planned_dates(
                    nightly,
                    plan,
                    chosen,
                    concurrency=concurrency,
                    tags=["backfill"],
                    limit=BACKFILL_LIMIT,
                )
            # A failure the store that caused it did not take is recorded now, if it can be.
            ran = record_unrecorded_failures(chosen, ran, handed_out)
            publish_weekly_task(chosen, _completed(ran))
            if report:
                write_reports_after([chosen], ran)
            return ran

        if every_source:
            # Every configured source, one whose definition cannot be read failed on its own.
            periods = {chosen.source: chosen_days for chosen, chosen_days in ranges}
            outcomes = for_each_source(
                configured_sources_or_unreadable(settings),
                lambda chosen: run_range(chosen, periods.get(chosen.source, []), report=False),
                start,
            )
            # Each source's report once every source ran, as the nightly run writes them:
            # each report's Sources table reads every source's marts, and one written as
            # the first source finished showed the sources after it as they stood before
            # the backfill (a French insurer's trial: its BPO "negatives scored 0" beside
            # the champion that was about to score them, right in its own report later).
            write_reports_after(nightly_report_settings(settings), outcomes)
        else:
            outcomes = run_range(settings, days)
        outcomes = with_recoveries(outcomes, recovered)
        prune_cache()
        return _finish(title, "backfill-summary", outcomes)


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


def nightly_report_settings(settings: Settings) -> list[Settings]:
    """Whose run reports a nightly run writes: the sample's (``[settings]``), or, in a data
    directory holding configured sources and no sample dates, each configured source's (the
    report ``servicelens report --source NAME`` writes), in name order. The sample's report
    there would be an empty page, and it would replace ``reports/latest.html``. A source
    whose registered definition cannot be read has no report written (the run names it
    failed)."""
    if has_sample_exports(settings) or not configured_names(settings):
        return [settings]
    return [s for s in configured_sources_or_unreadable(settings) if isinstance(s, Settings)]


@beating_flow(name="nightly-window", on_failure=[alert_on_failure])
def nightly_window(
    day: date | None = None,
    lookback_days: int | None = None,
    data_dir: str | None = None,
    notify_url: str | None = None,
) -> State:
    """The scheduled nightly run: yesterday, plus the look-back dates whose inputs changed.

    Late surveys re-deliver earlier dates' exports; only dates whose input checksums differ
    from the ones their partitions were built from are processed again.

    Raises :class:`servicelens.dates.SurveyDateError` for a ``day`` after today in the
    business timezone (nothing is run; the failure hook sends no alert), and
    :class:`servicelens.storage.runs.TimezoneMismatchError` when the data directory records
    another business timezone than ``SERVICELENS_TIMEZONE`` (nothing is run; the hook
    alerts, since the night's dates wait).
    """
    settings = Settings.from_env(data_dir)
    _refuse_another_timezone(settings)
    target = day or _scheduled_date(settings.timezone)
    # A run with a date not over yet (a deployment run by hand with `day`) is refused before
    # anything is read, recorded or reported, as `servicelens run` refuses it; no alert.
    refuse_future(target, settings.timezone, "day")
    lookback = settings.late_data_lookback_days if lookback_days is None else lookback_days
    with _held_for_this_run(settings):
        recovered = recover_dead_claims(settings)
        outcomes: list[DateOutcome] = []
        # The sample's raw/<date>/ layout, unless the data directory holds only sources.
        if has_sample_exports(settings) or not configured_names(settings):
            plan = plan_nightly(settings, target, lookback, _triggered_at())
            outcomes = run_planned_dates(nightly, plan, settings, tags=["nightly"])
        outcomes = with_recoveries(outcomes, recovered)
        publish_weekly_task(settings, _completed(outcomes))
        url = notify_url or settings.notify_url
        alert_on_nightly_date(url, settings, outcomes, target)
        sources = configured_source_outcomes(settings, target, nightly, _triggered_at(), url)
        outcomes += sources
        _log_source_outcomes(settings, sources)
        write_reports_after(nightly_report_settings(settings), outcomes)
        prune_cache()
        return _finish(f"nightly {target} (look-back {lookback} days)", "nightly-summary", outcomes)


def _log_source_outcomes(settings: Settings, outcomes: list[DateOutcome]) -> None:
    """Log, in the flow run's log, the table ``servicelens run`` prints of the configured
    sources' partitions (read, kept, quarantined per source and date, and the notes:
    :func:`servicelens.cli.sources.outcomes_text`). Found by a trial: the served nightly's
    log and serve's output said only "Completed: 1 completed, 3 skipped"."""
    from servicelens.cli.sources import outcomes_text

    if not configured_names(settings):
        return  # the sample's layout alone: its dates are in the run's summary artifact
    rows = [{**asdict(o), "source": o.result.get("source")} for o in outcomes]
    get_run_logger().info("%s", outcomes_text(rows, settings))


@beating_flow(name="nightly-sources", flow_run_name="nightly-sources-{day}")
def nightly_sources(day: date, settings: Settings) -> State:
    """The configured sources' part of a nightly run, on its own (``servicelens run``): land
    every inbox, run the partitions whose inputs changed, rebuild their weekly marts, then
    write the run report(s) of :func:`nightly_report_settings`."""
    _refuse_another_timezone(settings)
    outcomes = configured_source_outcomes(settings, day, nightly, _triggered_at())
    write_reports_after(nightly_report_settings(settings), outcomes)
    return _finish(f"sources {day}", "sources-summary", outcomes)


@beating_flow(name="train", on_failure=[alert_on_failure])
def train(
    settings: Settings | None = None,
    data_dir: str | None = None,
    folds: int = 5,
    notify_url: str | None = None,
) -> dict[str, Any] | State:
    """Train a challenger on every audited response; promote it if it is not worse.

    With ``settings`` (``servicelens train``, ``train --source NAME``): that one model;
    returns :func:`flows.training.train_and_register_task`'s dict, and raises its refusal.
    Without (the served retrain deployment, ``data_dir`` a plain value): every model the
    nightly run scores with (:func:`servicelens.retrain.retrain_each`: the sample's, each
    configured source's, a source that needs none skipped), one after another whatever
    became of the one before. Returns a Completed state, or a Failed one when a model's
    training failed with an error or a source's registered definition cannot be read (its
    data a :class:`servicelens.retrain.ModelsNotTrained`; a refusal, such as too few
    audits, completes with its message); its message says what became of each model. A
    failed run alerts ``notify_url`` (else ``SERVICELENS_NOTIFY_URL``) with each failed
    model's reason (``flows.notify``); one given ``settings`` alerts nobody (its user sees
    its outcome). ``folds``: the cross-validation folds of the out-of-fold estimates (2 or
    more).
    """
    if settings is not None:
        return _train_and_report(settings, folds)
    outcomes = retrain_each(
        Settings.from_env(data_dir), lambda model: _train_and_report(model, folds)
    )
    return _finish_retrain(outcomes)


def _train_and_report(settings: Settings, folds: int) -> dict[str, Any]:
    """Train ``settings``' model, then rewrite its run report (which describes the champion:
    written after the promotion, its failure says so)."""
    trained = train_and_register_task(settings, folds)
    with failure_names_the_promotion(settings, trained, "writing the run report"):
        write_report_task(settings)
    return trained


def _finish_retrain(outcomes: list[Retrained]) -> State:
    """Log and attach what a retrain did with each model; fail the run if one's training
    failed with an error (:data:`servicelens.retrain.UNFINISHED`; the others were trained
    all the same)."""
    message = retrain_message(outcomes)
    unfinished = any(o.outcome in UNFINISHED for o in outcomes)
    get_run_logger().log(logging.ERROR if unfinished else logging.INFO, "retrain: %s", message)
    publish_retrain_summary(f"retrain: {message.splitlines()[0]}", outcomes)
    rows = retrain_rows(outcomes)
    if unfinished:
        return Failed(message=message, data=ModelsNotTrained(message, rows))
    return Completed(message=message, data=rows)


@beating_flow(name="demo")
def demo(
    settings: Settings, start: date, end: date, per_day: int = SAMPLE_PER_DAY, seed: int = 7
) -> dict[str, Any]:
    """Generate sample exports, ingest every date, train, then score and publish every date."""
    generated = generate_task(settings, start, end, per_day, seed)
    days = survey_date_range(start, end)
    ingested = []
    for day in days:
        # Read before the run replaces them: the summary says which dates' counts changed.
        previous = published_counts(settings, day)
        validated = validate_and_publish_clean_task(settings, day)
        ingested.append({**counts_dict(validated), "previous_counts": previous})
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
