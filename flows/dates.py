"""Run planned survey dates, each as its own ``nightly`` flow run, at most once per trigger.

Each date's flow run is created on the Prefect API with an idempotency key (see
:func:`servicelens.storage.runs.idempotency_key`), then executed in this process. When two triggers
(two backfills, or a backfill and the nightly run) plan the same date from the same state on
disk, the API hands the second one the first one's run, and the second one skips it while
that run's process is alive. One that is not (killed outright: its flow run stuck in Running)
is marked crashed, saying how that was known, and the date runs under a key derived from it
(flows/recovery.py). Executing in-process keeps Prefect's cost per date to a few API calls,
not a process start.
"""

from __future__ import annotations

import errno
import functools
import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any
from uuid import UUID

from prefect import Flow, State, get_client
from prefect.client.schemas.actions import FlowRunCreate
from prefect.client.schemas.objects import FlowRun
from prefect.exceptions import MissingResult
from prefect.flow_engine import run_flow
from prefect.runtime import flow_run as this_flow_run
from prefect.states import Cancelled, Crashed, Pending, to_state_create

from flows.prefect_client import without_flow_heartbeats
from flows.recovery import (
    PARENT_FIELD,
    Recovery,
    crash_message,
    earlier_run_liveness,
    hold_date_releasing,
    recover_dead_claims,
    set_final_state,
    stop_held_runs,
)
from flows.run_names import date_run_name
from flows.slots import backfill_slot
from flows.tasks import (
    counts_dict,
    score_and_publish_task,
    validate_and_publish_clean_task,
)
from servicelens.checkpoints import checkpoint
from servicelens.reporting.rerun import published_counts
from servicelens.runtime import is_rust_panic, panics_as_errors
from servicelens.settings import Settings
from servicelens.storage.claims import refuse_if_stopping
from servicelens.storage.fs import file_written_when
from servicelens.storage.locks import LockBusyError
from servicelens.storage.partitions import discard_run_staging
from servicelens.storage.runs import PlannedDate, decided_by, read_outcome, record_outcome

log = logging.getLogger("servicelens.backfill")

#: Marks the flow runs a trigger created, and the call of :func:`run_date` that created one.
TRIGGER_FIELD = "servicelens_trigger"
OWNER_FIELD = "servicelens_owner"
#: How long a date's run waits for the date's lock before it reports the date held by
#: another run (a run probing the lock holds it for microseconds: a few seconds is plenty).
HOLD_WAIT_SECONDS = 5.0
#: A date re-triggered over and over after crashes follows at most this many crashed runs.
MAX_RECOVERIES = 50
#: How long a process stopped by a signal tries to release what it holds (the API may be
#: stopping too); what is left is released by the next run.
RELEASE_SECONDS = 3.0

#: Outcomes of a date in one backfill or nightly window.
#: completed: ran here; failed: ran here and failed; skipped: not planned (see ``todo``);
#: duplicate: another trigger's flow run of the same state has it (alive, or finished);
#: held: another live run holds the date's lock. (A date stopped by a signal is recorded
#: ``interrupted`` in its outcome record: the process stops before any table is made.)
OUTCOMES = ("completed", "failed", "skipped", "duplicate", "held")


@dataclass(frozen=True)
class DateOutcome:
    """How one planned date ended (one of :data:`OUTCOMES`), and what to do about it.

    ``todo`` is empty when the date needs nothing more (completed, or a live run holds it),
    else what the user should do; ``recovered`` names earlier runs of the date found dead
    and released on the way. ``run_id``: the id of the run that failed the date (a flow
    run's, or the ``process-date`` task run's), under which its failure is recorded
    (:func:`record_unrecorded_failures`); empty for other outcomes.
    """

    day: str
    outcome: str
    flow_run: str | None
    result: dict[str, Any]
    error: str = ""
    todo: str = ""
    recovered: str = ""
    run_id: str = ""

    @classmethod
    def skipped(cls, planned: PlannedDate) -> DateOutcome:
        """A date the plan does not run, with what to do if it is left incomplete."""
        return cls(planned.day.isoformat(), "skipped", None, {}, planned.reason, planned.todo)

    @classmethod
    def failed(
        cls,
        settings: Settings | None,
        day: str,
        flow_run: str | None,
        error: str,
        recovered: str = "",
        run_id: str = "",
    ) -> DateOutcome:
        """A date that ran in this trigger and failed (in the run ``run_id``), with the
        rerun that takes it up from its state on disk (``settings``' data directory; None:
        assumed recorded failed)."""
        todo = failed_todo(settings, day)
        return cls(day, "failed", flow_run, {}, error, todo, recovered, run_id)


#: A failed date's ``todo`` when its failure is recorded (its state reads failed or missing).
TODO_RERUN_FAILED = "fix what the error names, then run the backfill again with --rerun failed"


def failed_todo(settings: Settings | None, day: str) -> str:
    """What to run for a date that failed in this trigger: ``--rerun failed`` takes up a date
    whose state reads ``failed`` (or ``missing``). One whose failure could not be recorded
    (the object store that failed the date did not take its record either) still reads
    ``completed`` from its last good run, and ``--rerun failed`` skips it: a platform
    engineer's trial was told to run exactly that after an S3 outage. Such a date is told
    ``--rerun all`` for its own dates; so is one whose state cannot be read now. A
    configured source's partition is told with ``--source NAME``."""
    if settings is None:
        return TODO_RERUN_FAILED
    from servicelens.storage.runs import date_status

    # A configured source's partition is told the whole command, --source and all: the
    # sample's words ("run the backfill again") left out the --source without which a
    # backfill runs the sample's dates (found by a later read of a source's failed night).
    source = "" if settings.is_sample else f" --source {settings.source}"

    try:
        state: str = date_status(settings, date.fromisoformat(day)).state
        why = f"its failure could not be recorded: it reads {state}, which --rerun failed skips"
    except Exception:  # the store that failed the date may not answer now either
        state = "unknown"
        why = "its state cannot be read now; --rerun failed would skip it if it reads completed"
    if state in ("failed", "missing"):
        if not source:
            return TODO_RERUN_FAILED
        return (
            f"fix what the error names, then run `servicelens backfill{source} --start {day} "
            f"--end {day} --rerun failed`"
        )
    return f"{TODO_UNRECORDED}{source} --start {day} --end {day} --rerun all ({why})"


#: How the ``todo`` of a failed date whose failure is not recorded begins (:func:`failed_todo`).
TODO_UNRECORDED = "fix what the error names, then run it again with"


def failure_unrecorded(outcome: str, todo: str) -> bool:
    """Whether a date's outcome and ``todo`` (a backfill's row) say it failed and its
    failure is not recorded: its state reads as its last run left it (:func:`failed_todo`)."""
    return outcome == "failed" and todo.startswith(TODO_UNRECORDED)


def record_unrecorded_failures(
    settings: Settings, outcomes: list[DateOutcome], since: datetime
) -> list[DateOutcome]:
    """``outcomes`` with the failure of each failed date recorded (``--rerun failed`` and
    ``--rerun missing`` then find it) where its run could not record it: the object store
    that failed the date did not take its record either, so it read ``completed`` from its
    last good run and nothing but the backfill's table told of it (a data engineer's trial:
    moto frozen 90 s under a Dask backfill; ``runs show`` said nothing and the next
    ``--dry-run --rerun missing`` listed the date completed). Called once the backfill's
    dates have run: the store may answer again by then. A date whose record was written
    at ``since`` (when the dates were handed out) or later is left as it is (its run's own
    record: failed, or completed before a later step of it failed); each other
    failed date is recorded failed under the run that failed it (``run_id``, else its flow
    run's name), and its ``todo`` said again from its state. Where that fails too, the
    outcome keeps its ``todo`` (:func:`failed_todo`: the one command that runs the date
    again), and a warning names the date and why. Other outcomes are returned unchanged."""

    def recorded(outcome: DateOutcome) -> DateOutcome:
        if outcome.outcome != "failed":
            return outcome
        day = date.fromisoformat(outcome.day)
        try:
            record = read_outcome(settings, day) or {}
            finished = record.get("finished_at")
            # A record written since the dates were handed out is the run's own, which the
            # store took: failed, or completed before a later step failed (a test's flow runs
            # deleted under it: its completed record was overwritten failed).
            if not (finished and datetime.fromisoformat(finished) >= since):
                run_id = outcome.run_id or outcome.flow_run or f"backfill-{outcome.day}"
                record_outcome(settings, day, run_id, "failed", error=outcome.error)
                log.info("%s: its failure recorded at the backfill's end", outcome.day)
        except Exception as unrecorded:  # the store still does not answer, say
            log.warning("%s: its failure could not be recorded: %s", outcome.day, unrecorded)
            return outcome
        return replace(outcome, todo=failed_todo(settings, outcome.day))

    return [recorded(o) for o in outcomes]


#: What Prefect puts before the exception in a failed flow run's state message
#: (prefect/flow_engine.py and ``exception_to_failed_state`` in prefect/states.py, 3.x).
PREFECT_FAILURE_WORDS = "Flow run encountered an exception: "


def failure_message(error: BaseException, data_dir: str | None = None) -> str:
    """How a failed date's error is recorded and shown: the message of an error that
    names the file and what to change (bad input, a definition that does not fit, a disk
    that refuses, the object store of ``data_dir`` that does not answer), else its type,
    then its message. A trial read "BatchError: data/raw/.../surveys.csv: no survey
    export" in a backfill's table, and another, on a Dask worker, botocore's bare
    "ReadTimeoutError: Read timeout on endpoint URL: ..." where a store that stops
    answering is told as ``s3://bucket/prefix: the object store at http://... does not
    answer ...`` (:func:`servicelens.storage.fs.store_not_answering_message`)."""
    from servicelens.ingest.definitions import DefinitionError
    from servicelens.ingest.readers import SourceError
    from servicelens.stages import BatchError
    from servicelens.storage.fs import store_not_answering_message
    from servicelens.storage.partitions import StorageError

    if full := disk_full_at(error):
        return f"disk full at {full}: free space, then run again"
    if data_dir and (unanswered := store_not_answering_message(error, data_dir)):
        return f"{unanswered}: check that it is up and that AWS_ENDPOINT_URL names it"
    if isinstance(error, BatchError | SourceError | DefinitionError | StorageError):
        return str(error)
    return f"{type(error).__name__}: {error}"


def disk_full_at(error: BaseException) -> str | None:
    """The file a full disk (or quota) refused, if that is what ``error`` (or an error it
    was raised from) is, else None. A trial's table and outcome record told only another
    run's lock; the full disk was in the log file."""
    seen: BaseException | None = error
    chain: set[int] = set()
    while seen is not None and id(seen) not in chain:
        chain.add(id(seen))
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            found = getattr(seen, "path", None) or file_written_when(seen)
            return str(found) if found else "a file of the data directory"
        seen = seen.__cause__ or seen.__context__
    return None


def process_and_record(settings: Settings, day: date, run_id: str) -> dict[str, Any]:
    """One date end to end (validate, publish clean, score and publish the marts), its outcome
    recorded either way (``servicelens.storage.runs``) so ``--rerun failed|missing`` and the nightly
    look-back can find it. A failure is recorded, then raised. The caller holds the date's lock.

    A Rust panic in a stage is raised as :class:`~servicelens.runtime.RustPanicError`: a bug
    of this date, recorded failed like any other, not a stop of the process (which would
    leave the date recorded interrupted and stop the other dates of a backfill).
    """
    # Read before the run replaces them: the run's table says when its counts changed.
    previous = published_counts(settings, day)
    try:
        with panics_as_errors():
            validated = validate_and_publish_clean_task(settings, day)
            ingested = counts_dict(validated)
            published = score_and_publish_task(settings, day)
    except Exception as error:
        # Staged files first: on a full disk they are what keeps the failure from being
        # recorded (a trial's date hit a full disk and had no failed outcome).
        discard_run_staging(settings.staging_dir, run_id)
        try:
            said = failure_message(error, settings.data_dir)
            record_outcome(settings, day, run_id, "failed", error=said)
        except Exception as unrecorded:
            # The date's own error is the story; the table's to-do says the record is missing.
            log.warning("%s: could not record its failure: %s", day, unrecorded)
        raise
    finally:
        discard_run_staging(settings.staging_dir, run_id)
    result = {**ingested, **published}
    # The checksums the date was read under, not hashed again (1.5 GB of sha256 at 1M).
    record_outcome(settings, day, run_id, "completed", counts=result, inputs=validated.inputs)
    return {**result, "previous_counts": previous}


DateFlow = Flow[..., dict[str, Any]]


def recovery_key(key: str, crashed_run: UUID) -> str:
    """The idempotency key of the run that takes over a date from a crashed (or cancelled)
    run: derived from the crashed run, so two triggers recovering it at once still share
    one new flow run."""
    return f"{key}-recovers-{crashed_run}"


def nightly_run_name() -> str:
    """The run name of a ``nightly`` flow run called directly (:func:`date_run_name`)."""
    parameters = this_flow_run.get_parameters()
    tags = this_flow_run.get_tags()
    return date_run_name(parameters.get("settings"), parameters.get("day"), tags)


def register_flow(nightly: DateFlow) -> UUID:
    """The id of ``nightly``'s flow on the API (created if new): a trigger asks once, not
    once per date."""
    with get_client(sync_client=True) as client:
        return client.create_flow(nightly)


@functools.cache
def _named_at_creation(nightly: DateFlow) -> DateFlow:
    """``nightly`` without its run-name template, to run flow runs this module created: they
    are named (:func:`date_run_name`) when created, and the template would rename each one again
    (one more API call per date, to the same name)."""
    runner = nightly.with_options()
    runner.flow_run_name = None
    return runner


def _create_date_run(
    nightly: DateFlow,
    flow_id: UUID,
    planned: PlannedDate,
    settings: Settings,
    key: str,
    context: dict[str, str],
    tags: list[str],
) -> FlowRun:
    parameters = nightly.serialize_parameters(
        {"day": planned.day, "settings": settings, "report": False}
    )
    with get_client(sync_client=True) as client:
        request = FlowRunCreate(
            flow_id=flow_id,
            name=date_run_name(settings, planned.day.isoformat(), tags),
            parameters=parameters,
            context=context,
            tags=tags,
            idempotency_key=key,
            state=to_state_create(Pending()),
        )
        response = client.request(
            "POST", "/flow_runs/", json=request.model_dump(mode="json", exclude_unset=True)
        )
    return FlowRun.model_validate(response.json())


@dataclass(frozen=True)
class _Claimed:
    """The flow run this call of :func:`run_date` created and runs, or why it runs none."""

    flow_run: FlowRun | None
    outcome: DateOutcome | None
    recovered: list[str]


def _claim_date_run(
    nightly: DateFlow,
    flow_id: UUID,
    planned: PlannedDate,
    settings: Settings,
    trigger: str,
    tags: list[str],
    parent: str | None,
) -> _Claimed:
    """Create the date's flow run under its idempotency key, or learn who has it.

    Another trigger's run of the same key that is alive (or finished: completed or failed)
    makes this date a duplicate. One that is not alive is marked crashed, saying why, and
    the date gets a new run under a key derived from it; a crashed or cancelled one is
    followed the same way.
    """
    day = planned.day.isoformat()
    owner = uuid.uuid4().hex
    key = planned.idempotency_key
    recovered: list[str] = []
    for _ in range(MAX_RECOVERIES):
        context = {TRIGGER_FIELD: trigger, OWNER_FIELD: owner}
        if parent:
            context[PARENT_FIELD] = parent
        flow_run = _create_date_run(nightly, flow_id, planned, settings, key, context, tags)
        if flow_run.context.get(OWNER_FIELD) == owner:
            return _Claimed(flow_run, None, recovered)
        state = flow_run.state
        if state is not None and (state.is_crashed() or state.is_cancelled()):
            key = recovery_key(planned.idempotency_key, flow_run.id)
            continue
        decided = decided_by(settings, planned.day, str(flow_run.id))
        if state is not None and state.is_final() and not decided:
            # It ended without deciding the date's state: it failed before the date recorded
            # anything (a partition refused as dated in the future), its only record says it
            # was interrupted or crashed (an object store that stopped answering), or this
            # data directory has no record of it at all (its records were removed, or the
            # run was of another store under the same name; found by a platform engineer's
            # trial: `--rerun all` reported "duplicate", wrote nothing and exited 0). The
            # date's state on disk is still the one this key was made from, so every later
            # trigger would meet that run again and the date would never run. It is
            # followed like a crashed run.
            recovered.append(
                f"{flow_run.name} ({flow_run.id}) ended {state.name} without a completed or "
                "failed outcome in this data directory"
            )
            key = recovery_key(planned.idempotency_key, flow_run.id)
            continue
        if state is not None and state.is_final():
            todo = "" if state.is_completed() else f"re-run it with --rerun failed ({state.name})"
            outcome = DateOutcome(
                day,
                "duplicate",
                flow_run.name,
                {},
                f"already ran as {flow_run.id} ({state.name}), triggered by another run",
                todo,
                "; ".join(recovered),
            )
            return _Claimed(None, outcome, recovered)
        verdict = earlier_run_liveness(settings, planned.day, flow_run)
        if verdict.alive:
            name = state.name if state else "unknown"
            error = f"already triggered as {flow_run.id} ({name}): {verdict.reason}"
            outcome = DateOutcome(
                day, "duplicate", flow_run.name, {}, error, "", "; ".join(recovered)
            )
            return _Claimed(None, outcome, recovered)
        set_final_state(flow_run.id, Crashed(message=crash_message(verdict.reason)))
        discard_run_staging(settings.staging_dir, str(flow_run.id))  # what it left staged
        record_outcome(settings, planned.day, str(flow_run.id), "crashed", error=verdict.reason)
        recovered.append(f"{flow_run.name} ({flow_run.id}) was stuck: {verdict.reason}")
        log.warning("%s: %s; marked crashed, the date runs again", day, recovered[-1])
        key = recovery_key(planned.idempotency_key, flow_run.id)
    raise RuntimeError(
        f"{day}: more than {MAX_RECOVERIES} crashed runs of this date follow one another; "
        "look at them in Prefect (`servicelens runs show`) before running it again"
    )


def run_date(
    nightly: DateFlow,
    planned: PlannedDate,
    settings: Settings,
    trigger: str,
    tags: list[str],
    limit: str | None,
    heartbeat: bool = True,
    flow_id: UUID | None = None,
    parent: str | None = None,
) -> DateOutcome:
    """Create the date's flow run (idempotently) and, if this call owns it, run it here.

    The run holds the date (its lock, its in-flight record and heartbeat:
    ``servicelens.storage.claims``) from before it waits for a backfill slot of ``limit``
    (none if None) until it ends. A date another live run holds is not waited for: it is
    reported ``duplicate`` (same trigger state) or ``held``.

    ``heartbeat=False`` runs it without Prefect's flow-run heartbeat, for a date run inside
    the process of a parent flow run whose own heartbeat already tells the server the process
    is alive (servicelens's own heartbeat tells later runs). Prefect's heartbeat thread sleeps
    in one-second steps and every flow run waits for it to notice the end: about half a
    second per date (measured, README "## Scale").

    ``flow_id`` is ``nightly``'s flow on the API (:func:`register_flow`), if the caller has it.
    ``parent``: the id of the flow run in whose process the date runs, if any; the date's
    flow run names it (:data:`~flows.recovery.PARENT_FIELD`), so that once that process is
    found gone the date's run reads dead too, even before it held the date.
    """
    day = planned.day.isoformat()
    if not planned.run:
        return DateOutcome.skipped(planned)
    refuse_if_stopping()  # no flow run is created once a signal is stopping the process
    flow_id = flow_id or register_flow(nightly)
    claimed = _claim_date_run(nightly, flow_id, planned, settings, trigger, tags, parent)
    if claimed.flow_run is None:
        assert claimed.outcome is not None
        return claimed.outcome
    flow_run = claimed.flow_run
    # A process killed here leaves the date's flow run with no record of its own.
    checkpoint("date-run-created")
    recovered = "; ".join(claimed.recovered)
    quiet: AbstractContextManager[Any] = nullcontext() if heartbeat else without_flow_heartbeats()

    def free_dead_holders() -> int:
        return len(recover_dead_claims(settings))

    try:
        with (
            hold_date_releasing(
                settings, planned.day, str(flow_run.id), flow_run.name, HOLD_WAIT_SECONDS
            ) as held,
            backfill_slot(settings, held, flow_run.id, free_dead_holders, limit),
            quiet,
        ):
            final = run_flow(
                _named_at_creation(nightly),
                flow_run=flow_run,
                # One run report for the whole backfill or window, written by the caller.
                parameters={"day": planned.day, "settings": settings, "report": False},
                return_type="state",
            )
    except LockBusyError as busy:
        set_final_state(flow_run.id, Cancelled(message=f"servicelens: not run: {busy}"))
        return DateOutcome(day, "held", flow_run.name, {}, str(busy), "", recovered)
    except BaseException as error:
        # The slot or the record failed, before the date ran; or a Rust panic outside the
        # date's stages, a bug like those. A stop (a signal) goes on to stop the process.
        if not isinstance(error, Exception) and not is_rust_panic(error):
            raise
        said = failure_message(error, settings.data_dir)
        set_final_state(flow_run.id, Crashed(message=f"servicelens: {said}"))
        return DateOutcome.failed(settings, day, flow_run.name, said, recovered, str(flow_run.id))
    if not isinstance(final, State):
        raise TypeError(f"run_flow returned {type(final).__name__}, expected a State")
    if final.is_completed():
        return DateOutcome(
            day,
            "completed",
            flow_run.name,
            completed_result(final, settings, planned.day, str(flow_run.id)),
            "",
            "",
            recovered,
        )
    # Prefect words a failed flow run's state "Flow run encountered an exception: <Type>:
    # <message>"; the table shows what a date's own failure record says, "<Type>: <message>".
    message = (final.message or final.name or "failed").removeprefix(PREFECT_FAILURE_WORDS)
    # The date's own record says it in failure_message's words: Prefect's state names the
    # last error raised, which on a full disk is whichever write failed last, not the file.
    recorded = _recorded_error(settings, planned.day, str(flow_run.id))
    said = recorded or _state_error(final, settings.data_dir) or message
    return DateOutcome.failed(settings, day, flow_run.name, said, recovered, str(flow_run.id))


def _state_error(final: State, data_dir: str) -> str | None:
    """The failed state ``final``'s exception in :func:`failure_message`'s words, or None
    when the state holds none. For a date whose failure could not be recorded: a full disk
    refused the record too, and the table showed Prefect's "OSError: [Errno 28] No space
    left on device: '<file>'" where every other full disk says "disk full at <file>"."""
    try:
        error = final.result(raise_on_failure=False)
    except Exception:  # its result lost, or not readable: Prefect's message says it
        return None
    return failure_message(error, data_dir) if isinstance(error, BaseException) else None


def _recorded_error(settings: Settings, day: date, run_id: str) -> str | None:
    """The error the date's outcome record holds for the failed run ``run_id``, if any."""
    try:
        record = read_outcome(settings, day) or {}
    except Exception:  # the store that failed the date may not answer now either
        return None
    if record.get("run_id") != run_id or record.get("outcome") != "failed":
        return None
    error = record.get("error")
    return str(error) if error else None


def completed_result(final: State, settings: Settings, day: date, run_id: str) -> dict[str, Any]:
    """A completed date run's result: the flow's return value, or, when Prefect's state has
    lost it (``MissingResult``, seen once on a loaded machine after the date had completed and
    recorded its outcome), the counts the run recorded (``servicelens.storage.runs``). Raises
    MissingResult when neither is there."""
    try:
        result: dict[str, Any] = final.result()
        return result
    except MissingResult:
        recorded = read_outcome(settings, day) or {}
        if recorded.get("run_id") != run_id or recorded.get("outcome") != "completed":
            raise
        return {**recorded.get("counts", {}), "result_from": "outcome record"}


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

    Outcomes come back in plan order. Stopped by a signal (Prefect's TerminationSignal in a
    deployment's run, KeyboardInterrupt), the dates in flight are recorded as interrupted
    and their slots released before the signal goes on.
    """
    if concurrency < 1:
        raise ValueError(f"--concurrency {concurrency}: use 1 or more")
    trigger = uuid.uuid4().hex
    run_tags = ["servicelens", *(tags or [])]
    flow_id = register_flow(nightly) if any(p.run for p in plan) else None
    parent = this_flow_run.get_id()

    def one(p: PlannedDate) -> DateOutcome:
        # In this process, under the caller's flow run and its heartbeat.
        return run_date(
            nightly,
            p,
            settings,
            trigger,
            run_tags,
            limit,
            heartbeat=False,
            flow_id=flow_id,
            parent=parent,
        )

    try:
        if concurrency == 1:
            return [one(p) for p in plan]
        with ThreadPoolExecutor(concurrency, thread_name_prefix="servicelens-date") as pool:
            return list(pool.map(one, plan))
    except Exception:
        raise
    except BaseException as stop:
        # A Rust panic is a bug, not a stop: the runs it passed through released what they
        # held, and the dates of other threads finish as they would after any error.
        if not is_rust_panic(stop):
            stop_held_runs(f"interrupted ({type(stop).__name__})", RELEASE_SECONDS)
        raise


def with_recoveries(outcomes: list[DateOutcome], recovered: list[Recovery]) -> list[DateOutcome]:
    """Add what a run released for dead runs when it started to the dates they held."""
    by_day: dict[str, list[str]] = {}
    for r in recovered:
        if r.day:
            by_day.setdefault(r.day, []).append(r.message)
    return [
        replace(o, recovered="; ".join([*by_day.get(o.day, []), *filter(None, [o.recovered])]))
        if o.day in by_day
        else o
        for o in outcomes
    ]
