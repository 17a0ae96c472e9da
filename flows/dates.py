"""Run planned survey dates, each as its own ``nightly`` flow run, at most once per trigger.

Each date's flow run is created on the Prefect API with an idempotency key (see
:func:`servicelens.storage.runs.idempotency_key`), then executed in this process. When two triggers
(two backfills, or a backfill and the nightly run) plan the same date from the same state on
disk, the API hands the second one the first one's run, and the second one skips it. Executing
in-process keeps Prefect's cost per date to a few API calls, not a process start.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

from prefect import Flow, State, get_client
from prefect.client.schemas.actions import FlowRunCreate
from prefect.client.schemas.objects import FlowRun
from prefect.concurrency.sync import concurrency as concurrency_slot
from prefect.flow_engine import run_flow
from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
from prefect.states import Pending, to_state_create

from flows.tasks import (
    counts_dict,
    publish_clean_task,
    score_and_publish_task,
    validate_day_task,
)
from servicelens.settings import Settings
from servicelens.storage.partitions import discard_run_staging
from servicelens.storage.runs import PlannedDate, record_outcome

#: The global concurrency limit backfill dates take a slot from (the nightly run does not).
BACKFILL_LIMIT = "servicelens-backfill"
#: Marks the flow runs a trigger created itself, to tell them from runs another trigger owns.
TRIGGER_FIELD = "servicelens_trigger"


@dataclass(frozen=True)
class DateOutcome:
    """How one planned date ended: completed, failed, skipped (not planned) or duplicate."""

    day: str
    outcome: str
    flow_run: str | None
    result: dict[str, Any]
    error: str = ""


def failure_message(error: BaseException) -> str:
    """How a failed date's error is recorded and shown: its type, then its message."""
    return f"{type(error).__name__}: {error}"


def process_and_record(settings: Settings, day: date, run_id: str) -> dict[str, Any]:
    """One date end to end (validate, publish clean, score and publish the marts), its outcome
    recorded either way (``servicelens.storage.runs``) so ``--rerun failed|missing`` and the nightly
    look-back can find it. A failure is recorded, then raised. The caller holds the date's lock.
    """
    try:
        validated = validate_day_task(settings, day)
        publish_clean_task(settings, validated)
        ingested = counts_dict(validated)
        published = score_and_publish_task(settings, day)
    except Exception as error:
        record_outcome(settings, day, run_id, "failed", error=failure_message(error))
        raise
    finally:
        discard_run_staging(settings.staging_dir, run_id)
    result = {**ingested, **published}
    record_outcome(settings, day, run_id, "completed", counts=result)
    return result


def ensure_backfill_limit(slots: int) -> None:
    """Create or resize the global concurrency limit that backfill dates share."""
    with get_client(sync_client=True) as client:
        client.upsert_global_concurrency_limit_by_name(BACKFILL_LIMIT, slots)


DateFlow = Flow[..., dict[str, Any]]


def _create_date_run(
    nightly: DateFlow, planned: PlannedDate, settings: Settings, trigger: str, tags: list[str]
) -> FlowRun:
    parameters = nightly.serialize_parameters(
        {"day": planned.day, "settings": settings, "report": False}
    )
    with get_client(sync_client=True) as client:
        flow_id = client.create_flow(nightly)
        request = FlowRunCreate(
            flow_id=flow_id,
            name=f"nightly-{planned.day.isoformat()}",
            parameters=parameters,
            context={TRIGGER_FIELD: trigger},
            tags=tags,
            idempotency_key=planned.idempotency_key,
            state=to_state_create(Pending()),
        )
        response = client.request(
            "POST", "/flow_runs/", json=request.model_dump(mode="json", exclude_unset=True)
        )
    return FlowRun.model_validate(response.json())


@contextmanager
def _slot(limit: str | None) -> Iterator[None]:
    if limit is None:
        yield
    else:
        with concurrency_slot(limit, occupy=1, strict=True):
            yield


def run_date(
    nightly: DateFlow,
    planned: PlannedDate,
    settings: Settings,
    trigger: str,
    tags: list[str],
    limit: str | None,
    heartbeat: bool = True,
) -> DateOutcome:
    """Create the date's flow run (idempotently) and, if this trigger owns it, run it here.

    ``heartbeat=False`` runs it without Prefect's flow-run heartbeat, for a date run inside
    the process of a parent flow run whose own heartbeat already tells the server the process
    is alive. Prefect's heartbeat thread sleeps in one-second steps and every flow run waits
    for it to notice the end: about half a second per date (measured, README "## Scale").
    """
    day = planned.day.isoformat()
    if not planned.run:
        return DateOutcome(day, "skipped", None, {}, planned.reason)
    flow_run = _create_date_run(nightly, planned, settings, trigger, tags)
    if flow_run.context.get(TRIGGER_FIELD) != trigger:
        state = flow_run.state.name if flow_run.state else "unknown"
        return DateOutcome(
            day, "duplicate", flow_run.name, {}, f"already triggered as {flow_run.id} ({state})"
        )
    quiet = {} if heartbeat else {PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}
    with _slot(limit), temporary_settings(quiet):
        final = run_flow(
            nightly,
            flow_run=flow_run,
            # One run report for the whole backfill or window, written by the caller at the end.
            parameters={"day": planned.day, "settings": settings, "report": False},
            return_type="state",
        )
    if not isinstance(final, State):
        raise TypeError(f"run_flow returned {type(final).__name__}, expected a State")
    if final.is_completed():
        return DateOutcome(day, "completed", flow_run.name, final.result())
    return DateOutcome(day, "failed", flow_run.name, {}, final.message or final.name or "failed")


def run_planned_dates(
    nightly: DateFlow,
    plan: list[PlannedDate],
    settings: Settings,
    *,
    concurrency: int = 1,
    tags: list[str] | None = None,
    limit: str | None = None,
) -> list[DateOutcome]:
    """Run every planned date as a ``nightly`` flow run (``concurrency`` at a time); a failing
    date never stops the rest.

    Outcomes come back in plan order.
    """
    if concurrency < 1:
        raise ValueError(f"--concurrency {concurrency}: use 1 or more")
    trigger = uuid.uuid4().hex
    run_tags = ["servicelens", *(tags or [])]

    def one(p: PlannedDate) -> DateOutcome:
        # In this process, under the caller's flow run and its heartbeat.
        return run_date(nightly, p, settings, trigger, run_tags, limit, heartbeat=False)

    if concurrency == 1:
        return [one(p) for p in plan]
    with ThreadPoolExecutor(concurrency, thread_name_prefix="servicelens-date") as pool:
        return list(pool.map(one, plan))
