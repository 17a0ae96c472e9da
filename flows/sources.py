"""Flows for a source with its own deliveries: land them, then run its partitions through
the same tasks as the nightly run (validate, publish clean, score, publish marts).

``run_configured_sources`` is the nightly run's part for the sources configured in the data
directory (``servicelens.ingest.configured``): each source's inbox is landed, then its
partitions whose landed inputs changed run as ``nightly`` flow runs, like the sample's dates.

``land_and_run`` is what a scheduled drop-folder pick-up or a person with a new export runs:
each delivered file is landed (raw copy, landed partitions), and every partition it touched
is processed, the look-back's rule applied by what changed: a late row changes its
partition's landed file, so that partition runs again. With ``train``, the source's model is
trained on its labels between the clean layer and the marts (its first run, or a retrain).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.dates import DateOutcome, process_and_record, run_planned_dates
from flows.notify import alert_on_nightly_date
from flows.prefect_client import beating_flow
from flows.tasks import (
    counts_dict,
    current_run_id,
    publish_weekly_task,
    score_and_publish_task,
    validate_and_publish_clean_task,
    write_report_task,
)
from flows.training import train_and_register_task
from servicelens.dates import yesterday
from servicelens.ingest.configured import (
    NOT_LANDED_TODO,
    UNREADABLE_DEFINITION,
    UnreadableSource,
    configured_sources_or_unreadable,
    pick_up_deliveries,
    plan_source_nightly,
    register_source,
    unclaimed_inboxes,
)
from servicelens.ingest.definitions import load_definition
from servicelens.ingest.landing import Landing, land_delivery
from servicelens.retrain import one_line, why_no_model
from servicelens.settings import Settings
from servicelens.storage.locks import date_lock
from servicelens.storage.partitions import discard_run_staging, locks_dir
from servicelens.storage.runs import record_inbox_failures, record_outcome


@task(name="land-delivery", cache_policy=NO_CACHE, persist_result=False)
def land_delivery_task(settings: Settings, file: str) -> dict[str, Any]:
    """Land one delivered file into the source's raw zone and landed partitions."""
    landing = land_delivery(settings, load_definition(settings.definition or settings.source), file)
    return _landing_dict(landing)


def _landing_dict(landing: Landing) -> dict[str, Any]:
    return {
        **asdict(landing),
        "periods": {str(k): v for k, v in landing.periods.items()},
        "moved_out": {str(k): v for k, v in landing.moved_out.items()},
        "superseded_elsewhere": {str(k): v for k, v in landing.superseded_elsewhere.items()},
        "older_copies_kept": {str(k): v for k, v in landing.older_copies_kept.items()},
        "unchanged_copies": {str(k): v for k, v in landing.unchanged_copies.items()},
        "notes": landing.notes(),
    }


def source_settings(settings: Settings, definition: str, replace: bool = False) -> Settings:
    """``settings`` addressing one source's layers (its name, registered definition and
    partitioning); the source is configured in the data directory (registered) if it was
    not, so the nightly run and backfills take it from now on. ``replace``: as for
    :func:`~servicelens.ingest.configured.register_source`."""
    return register_source(settings, definition, replace)


@task(name="pick-up-deliveries", cache_policy=NO_CACHE, persist_result=False)
def pick_up_task(source: Settings, run_date: date | None = None) -> list[dict[str, Any]]:
    """Land every file waiting in a configured source's inbox (then remove it there);
    ``run_date``, the nightly run's date, is the day a whole header-only file naming no date
    is recorded for with 0 responses."""
    picked = []
    for item in pick_up_deliveries(source, run_date=run_date):
        landing = _landing_dict(item.landing) if item.landing else None
        picked.append(
            {"file": item.file, "landing": landing, "error": item.error, "note": item.note}
        )
        if item.note:
            get_run_logger().info("%s", item.note)
        for note in landing["notes"] if landing else []:
            get_run_logger().warning("%s: %s", item.file, note)
    return picked


def unreadable_outcome(source: UnreadableSource, day: date) -> DateOutcome:
    """The failed outcome of a configured source whose registered definition cannot be
    read, dated ``day`` (the night, or the backfill's first date: no partition of it ran):
    its result names the source (``source``, and :data:`UNREADABLE_DEFINITION` true), its
    error says on one line the file, what is wrong and the command that mends it."""
    return DateOutcome(
        day.isoformat(),
        "failed",
        None,
        {"source": source.source, UNREADABLE_DEFINITION: True},
        one_line(source.reason),
        "register its definition again as its error says; its exports wait in its inbox, "
        "and its partitions run on the next run",
    )


def for_each_source(
    sources: list[Settings | UnreadableSource],
    run_one: Callable[[Settings], list[DateOutcome]],
    day: date,
) -> list[DateOutcome]:
    """Run each of ``sources`` in turn with ``run_one`` (its partitions as ``nightly`` flow
    runs, then its weekly marts), each outcome's result naming its source (``source``): the
    one loop over configured sources of the nightly run (:func:`run_configured_sources`)
    and of a backfill without ``--source`` (``flows.pipeline.backfill``). A source whose
    registered definition cannot be read is not run: it is one failed outcome of ``day``
    (:func:`unreadable_outcome`), and the sources after it run all the same."""
    outcomes: list[DateOutcome] = []
    for source in sources:
        if isinstance(source, UnreadableSource):
            outcomes.append(unreadable_outcome(source, day))
            continue
        outcomes += [
            replace(o, result={**o.result, "source": source.source}) for o in run_one(source)
        ]
    return outcomes


def run_configured_sources(
    settings: Settings,
    target: date,
    nightly: Any,
    as_of: datetime | None = None,
    notify_url: str | None = None,
) -> tuple[list[DateOutcome], list[dict[str, Any]]]:
    """The nightly run's part for every configured source: land its inbox, then run each
    partition :func:`plan_source_nightly` selects as a ``nightly`` flow run, then rebuild
    its weekly marts; a flag on the nightly partition's early warning alerts ``notify_url``
    (else ``SERVICELENS_NOTIFY_URL``) naming the source (:func:`flows.notify.alert_on_nightly_date`:
    once a date and policy). Returns the outcomes (in source order) and the inbox files, each
    landed or left with its error. A source whose registered definition cannot be read is
    a failed outcome of ``target`` (:func:`unreadable_outcome`); its inbox waits."""
    picked: list[dict[str, Any]] = []

    def land_and_run_nightly(source: Settings) -> list[DateOutcome]:
        inbox = str(source.inbox_dir)
        landed = [
            {**p, "source": source.source, "inbox": inbox} for p in pick_up_task(source, target)
        ]
        picked.extend(landed)
        not_landed = {p["file"]: p["error"] for p in landed if p["error"]}
        record_inbox_failures(source, current_run_id(), not_landed)
        plan = plan_source_nightly(source, target, as_of)
        ran = run_planned_dates(nightly, plan, source, tags=["nightly", f"source:{source.source}"])
        done = [date.fromisoformat(o.day) for o in ran if o.outcome == "completed"]
        # With none done too: the weeks a stopped run left behind are rebuilt (outcomes.py).
        publish_weekly_task(source, done)
        alert_on_nightly_date(notify_url or source.notify_url, source, ran, target)
        notes = _landing_notes_by_partition(landed, [o.day for o in ran])
        return [replace(o, result={**o.result, **_notes_of(o.day, notes)}) for o in ran]

    outcomes = for_each_source(
        configured_sources_or_unreadable(settings), land_and_run_nightly, target
    )
    return outcomes, picked


def _notes_of(day: str, notes: dict[str, list[str]]) -> dict[str, list[str]]:
    """``{"landing_notes": [...]}`` for an outcome row of ``day`` that has some, else ``{}``."""
    return {"landing_notes": notes[day]} if day in notes else {}


def _landing_notes_by_partition(
    picked: list[dict[str, Any]], partitions: list[str]
) -> dict[str, list[str]]:
    """Each landed delivery's notes (:meth:`Landing.notes`, ``"<file>: <note>"``) under the
    first of ``partitions`` (ISO dates, the run's outcome rows; the nightly partition is
    always among them, first or not) that the delivery changed, else under the first
    partition: the nightly run's table says what ``sources run`` says of a delivery (a
    day-first export read month-first had no word in the nightly run)."""
    by_partition: dict[str, list[str]] = {}
    for p in picked:
        landing = p.get("landing")
        if not landing or not landing["notes"] or not partitions:
            continue
        touched = [day for day in partitions if day in landing["periods"]]
        where = touched[0] if touched else partitions[0]
        by_partition.setdefault(where, []).extend(
            f"{Path(landing['file']).name}: {note}" for note in landing["notes"]
        )
    return by_partition


def configured_source_outcomes(
    settings: Settings,
    target: date,
    nightly: Any,
    as_of: datetime | None = None,
    notify_url: str | None = None,
) -> list[DateOutcome]:
    """:func:`run_configured_sources`, with an inbox file that could not be landed as a
    failed outcome of ``target`` whose result names the source and the file (``source``,
    ``inbox_file``): the nightly run fails and alerts; the file stays in the inbox until its
    definition fits it. A file that changed nothing and left the inbox (no rows, or the same
    bytes landed before) is a skipped outcome saying so."""
    outcomes, picked = run_configured_sources(settings, target, nightly, as_of, notify_url)
    skipped, failed = [], []
    for p in picked:
        # Whose inbox, and which file: no partition of it ran.
        inbox = {"source": p["source"], "inbox_file": p["file"]}
        if p.get("note"):
            skipped.append(DateOutcome(target.isoformat(), "skipped", None, inbox, p["note"], ""))
        elif p["error"]:
            failed.append(
                DateOutcome(
                    target.isoformat(),
                    "failed",
                    None,
                    inbox,
                    # The reader's errors name the file already (servicelens.ingest.landing).
                    p["error"]
                    if p["error"].startswith(f"{p['file']}: ")
                    else f"{p['file']}: {p['error']}",
                    NOT_LANDED_TODO,
                )
            )
    for folder, message in unclaimed_inboxes(settings).items():
        failed.append(
            DateOutcome(
                target.isoformat(),
                "failed",
                None,
                {"source": Path(folder).name, "inbox_file": folder},
                message,
                "move the files, or configure the source: they land on the next run",
            )
        )
    for row in failed:
        # The line `servicelens run` prints for it (source, "(inbox)", outcome, detail): a
        # scheduled run's log said only that the night's date did not complete.
        get_run_logger().error("%s (inbox) failed: %s", row.result["source"], row.error)
    for row in outcomes:
        if row.result.get(UNREADABLE_DEFINITION):
            get_run_logger().error("%s (definition) failed: %s", row.result["source"], row.error)
    return _with_inbox_deliveries(outcomes + skipped + failed, picked)


def _with_inbox_deliveries(
    rows: list[DateOutcome], picked: list[dict[str, Any]]
) -> list[DateOutcome]:
    """``rows`` with each source's first row's result holding ``deliveries``: the inbox it
    was landed from (``inbox``) and one ``{"already_landed": bool, "unchanged_copies": {period:
    rows}}`` per file landed from it this run (``landed``; the rows a cumulative export
    repeated unchanged, counted in the landed manifests, not stored again), for the line
    ``servicelens run`` prints of it
    (``servicelens.cli.sources.deliveries_read``). Found by a bank analyst's trial: the
    run's table lists partitions only, and how many of the inbox's files were landed was
    to be found in raw/sources/."""
    deliveries: dict[str, dict[str, Any]] = {}
    for p in picked:
        if p["landing"] is not None and not p["error"]:
            said = deliveries.setdefault(p["source"], {"inbox": p["inbox"], "landed": []})
            said["landed"].append(
                {
                    "already_landed": p["landing"]["already_landed"],
                    "unchanged_copies": p["landing"]["unchanged_copies"],
                }
            )
    marked = []
    for row in rows:
        # On the source's first row only: one line a source.
        if (source := row.result.get("source")) in deliveries:
            row = replace(row, result={**row.result, "deliveries": deliveries.pop(source)})
        marked.append(row)
    return marked


@beating_flow(name="land-and-run", flow_run_name="land-{definition}")
def land_and_run(
    definition: str,
    files: list[str],
    settings: Settings | None = None,
    train: bool = False,
    replace: bool = False,
) -> dict[str, Any]:
    """Land ``files`` for the source of ``definition``, then process every partition they
    touched: validate and publish the clean layer, (with ``train``) train the source's model
    on its labels, then score and publish the marts; one run report at the end.

    A source whose audits cannot train a model yet (too few of each root cause, or labels
    that are not root causes) still has its marts published, scored by the champion it
    already has or not at all; the returned ``untrained`` says why no model was trained
    (``None`` when one was, or none was asked for). ``replace``: replace another definition
    of a source of the same name that has exports landed (refused without it).

    A flag on the nightly date's partition (yesterday in the business timezone) alerts
    ``SERVICELENS_NOTIFY_URL`` as ``servicelens run`` does, once a date and policy
    (:func:`flows.notify.alert_on_nightly_date`); other partitions page nobody."""
    base = settings or Settings.from_env()
    source = source_settings(base, definition, replace)
    landings = [land_delivery_task(source, str(Path(f))) for f in files]
    periods = sorted({date.fromisoformat(p) for landing in landings for p in landing["periods"]})
    ingested: list[dict[str, Any]] = []
    published: list[dict[str, Any]] = []
    trained: dict[str, Any] | None = None
    untrained: str | None = None
    run_id = current_run_id()
    if train:
        for period in periods:
            with date_lock(locks_dir(source.staging_dir), period, source.lock_wait_seconds):
                validated = validate_and_publish_clean_task(source, period)
            ingested.append(counts_dict(validated))
        if (needless := why_no_model(source)) is not None:
            # Nothing is negative, so no model is needed: training asked a contact centre's
            # trial to "audit more negative responses" of a source that has none.
            untrained = f"source {source.source}: {needless}"
        else:
            try:
                trained = train_and_register_task(source)
            except ValueError as error:
                # Too few usable audits (a new source has none): its data is no less worth
                # publishing.
                untrained = str(error)
    for period in periods:
        with date_lock(locks_dir(source.staging_dir), period, source.lock_wait_seconds):
            if train:
                result = score_and_publish_task(source, period)
                record_outcome(
                    source,
                    period,
                    run_id,
                    "completed",
                    counts={**ingested[len(published)], **result},
                )
            else:
                result = process_and_record(source, period, run_id)
                ingested.append(dict(result))  # its counts, for the summary's notes too
        published.append(result)
    discard_run_staging(source.staging_dir, run_id)
    weekly = publish_weekly_task(source, periods)  # with none: the weeks left behind
    # A delivery run by hand that publishes the nightly date pages as `run` would have, in
    # the same once-a-date-and-policy record: a team's daily export landed this way paged
    # nobody, and `run` found the night already done and paged nobody either.
    ran = [
        DateOutcome(p.isoformat(), "completed", None, r)
        for p, r in zip(periods, published, strict=True)
    ]
    alert_on_nightly_date(source.notify_url, source, ran, yesterday(source.timezone))
    return {
        "source": source.source,
        "granularity": source.partition,
        "landed": landings,
        "ingested": ingested,
        "trained": trained,
        "untrained": untrained,
        "published": published,
        "weekly": weekly,
        "report": write_report_task(source),
    }
