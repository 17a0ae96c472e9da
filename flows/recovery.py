"""Recovering what dead runs left behind: flow runs stuck in Running, and the slots they held.

A date's flow run can outlive its process in Prefect's database: SIGKILL, an OOM kill or a
reboot gives the process no chance to report, and a date run inside a backfill sends no
Prefect heartbeat that could mark it crashed. servicelens keeps its own record of every run
in flight (``servicelens.storage.claims``); a run whose record shows its process gone is
marked ``Crashed`` here, with a message saying how that was known, and its slot is released.

This runs when a backfill or nightly window starts, while a date waits for a slot, when a
re-triggered date meets an earlier flow run that is not alive, and on
``servicelens runs release``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

import httpx
from prefect import get_client
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.exceptions import ObjectNotFound
from prefect.states import Cancelled, Crashed

from flows.run_names import is_date_run_name
from servicelens.settings import Settings
from servicelens.storage.claims import (
    STALE_BEATS,
    Claim,
    Held,
    Liveness,
    abandon_held,
    hold_date,
    list_claims,
    liveness,
    read_claim,
    read_date_claim,
    record_name,
    remove_claim,
    settled_liveness,
)
from servicelens.storage.locks import date_lock_path, exclusive_lock, is_locked, lock_holder
from servicelens.storage.partitions import discard_run_staging, locks_dir
from servicelens.storage.runs import record_outcome

if TYPE_CHECKING:  # flows.served imports this module
    from flows.served import StoppedBackfill

#: The flows whose runs keep in-flight records (flows/pipeline.py).
FLOWS_WITH_RECORDS = ("nightly", "backfill", "nightly-window")
#: The context field of a date's flow run that names the flow run in whose process it runs
#: (a backfill's or nightly window's own, :func:`flows.dates.run_planned_dates`).
PARENT_FIELD = "servicelens_parent"
#: States of a flow run whose process may still be working on it.
UNFINISHED_STATES = (StateType.PENDING, StateType.RUNNING, StateType.PAUSED, StateType.CANCELLING)

log = logging.getLogger("servicelens.backfill")


@dataclass(frozen=True)
class Recovery:
    """What was released for one dead run: its flow run, and what the user should know."""

    day: str | None
    name: str
    flow_run_id: str
    message: str
    #: When the dead run's process started it (ISO, UTC), where known: a backfill's or
    #: nightly window's in-flight record's ``started_at``, or its flow run's start time.
    started_at: str | None = None


def recovered_by() -> str:
    """Who recovers, for the crash message: this process and, in a flow run, its name."""
    from prefect.runtime import flow_run

    name = flow_run.get_name()
    where = f"process {os.getpid()} on {socket.gethostname()}"
    return f"{name} ({where})" if name else where


def set_final_state(flow_run_id: str | UUID, state: Any) -> bool:
    """Put an unfinished flow run into ``state`` (Crashed or Cancelled); a finished one, or
    one the API does not know, is left alone. Returns whether the state was set."""
    with get_client(sync_client=True) as client:
        try:
            current = client.read_flow_run(UUID(str(flow_run_id)))
        except ObjectNotFound:
            return False
        if current.state is None or current.state.type not in UNFINISHED_STATES:
            return False
        retake = _take_back_a_lapsed_slot(client, current)
        client.set_flow_run_state(current.id, state, force=True)
        if retake is not None:
            retake()
    return True


def final_state_words(flow_run_id: str | UUID) -> str:
    """How a flow run :func:`set_final_state` left alone reads, after "already":
    ``marked crashed`` (this run's claim of the date, or another recovery, did it first),
    ``cancelled``, ``finished in Prefect (Completed)`` ..., or ``unknown to Prefect``. A
    data engineer's trial read "was stuck ...; marked crashed, the date runs" then, 0.3 s
    later, "recovered ...: already finished in Prefect" of one run killed mid-flight."""
    with get_client(sync_client=True) as client:
        try:
            current = client.read_flow_run(UUID(str(flow_run_id)))
        except ObjectNotFound:
            return "unknown to Prefect"
    state = current.state
    if state is None:
        return "without a state in Prefect"
    if state.is_crashed():
        return "marked crashed"
    if state.is_cancelled():
        return "cancelled"
    return f"finished in Prefect ({state.name})"


def _take_back_a_lapsed_slot(client: Any, flow_run: FlowRun) -> Callable[[], None] | None:
    """Keep the deployment's concurrency limit counting right when ``flow_run``'s slot
    lease has lapsed: what to call once the run is in its final state, or None.

    A deployment run (the nightly, the retrain: one at a time) holds a slot of its
    deployment's limit under a lease its process renews. When the process died, Prefect's
    repossessor gives the slot back as the lease lapses (300 s); moving the run to a final
    state later gives back one slot more (Prefect 3.8.8's fallback for a lease it cannot
    find, "Lease ... not found during release"): the slot of the live run holding it then,
    and the next queued run starts beside it. A trial's serve ran two nightly runs at once
    after a nightly's recovery marked a run killed minutes before crashed.

    So: the lease renewed (it still counts its slot, which the final state gives back), or,
    lapsed, one slot taken first for the final state to give back; when a live run holds
    the slot (none is free), the one the final state gives back is taken again right after
    (the returned call)."""
    lease_id = (
        flow_run.state.state_details.deployment_concurrency_lease_id if flow_run.state else None
    )
    if lease_id is None or flow_run.deployment_id is None:
        return None
    try:
        client.renew_concurrency_lease(lease_id, lease_duration=60)
        return None  # it still counts its slot
    except httpx.HTTPStatusError as error:
        if error.response.status_code != httpx.codes.GONE:
            raise
    limit = client.read_deployment(flow_run.deployment_id).global_concurrency_limit
    if limit is None:
        return None

    def take() -> bool:
        try:
            client.increment_concurrency_slots([limit.name], 1, "concurrency")
        except httpx.HTTPStatusError as error:
            if error.response.status_code != httpx.codes.LOCKED:
                raise
            return False
        return True

    if take():
        return None
    log.debug("%s: its slot lease lapsed; the slot given back is taken again", flow_run.name)

    def again() -> None:
        if not take():
            log.warning(
                "%s: its deployment's slot could not be taken back: another run of it may "
                "have started",
                flow_run.name,
            )

    return again


def crash_message(reason: str, of_a_date: bool = True) -> str:
    """The message of a flow run marked crashed: how its process was found dead, by whom,
    when, and (for a date's run) what happens next."""
    then = "; the date's next run takes over under a new flow run" if of_a_date else ""
    return (
        f"servicelens: {reason}. Marked crashed by {recovered_by()} at "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC{then}"
    )


def recover_dead_claims(settings: Settings) -> list[Recovery]:
    """Release what every dead run of this data directory holds: mark its flow run crashed,
    give back its slot, record its date's outcome as ``crashed`` and delete its record;
    then say (a warning of each line) what is left to do: :func:`left_to_do`.

    Records of other machines count as dead only once stale (no waiting here). Processes
    of this machine sweep one at a time, so a dead run's slot is given back once."""
    return recover_and_advise(settings)[0]


def recover_and_advise(settings: Settings) -> tuple[list[Recovery], list[str]]:
    """:func:`recover_dead_claims`, returning also the lines of :func:`left_to_do`."""
    with exclusive_lock(locks_dir(settings.staging_dir) / "recovery.lock", 60.0, "recovery"):
        recovered = _recover(settings)
    to_do = left_to_do(settings, recovered)
    for line in to_do:
        log.warning("%s", line)
    return recovered, to_do


def left_to_do(settings: Settings, recovered: list[Recovery]) -> list[str]:
    """What to run to finish the work the dead runs of ``recovered`` (released in the layer
    ``settings``) left: the dates they held, and for a dead backfill whose range its flow
    run's parameters give, the one command that finishes it, naming the dates of its range
    it never started (no outcome recorded since its record's start). Worded as serve's stop
    says it (:func:`flows.served.unfinished_lines`); empty when no dead run held work.

    Found by a trial: after ``kill -9`` of serve and its flow run during a ``--rerun all``
    backfill, the next serve said per run "marked crashed, its slot ... released" and no
    command; the date the backfill never started was named nowhere, and the crashed dates,
    their earlier partitions standing, read ``completed`` to ``--rerun failed`` (they read
    ``failed`` since: :func:`servicelens.storage.runs.last_run_crashed`)."""
    from flows.served import StoppedBackfill, unfinished_lines

    layer = (None, None if settings.is_sample else settings.source)
    days = sorted({r.day for r in recovered if r.day})
    backfills: list[StoppedBackfill] = []
    not_started: dict[str, list[str]] = {}
    for run in recovered:
        if run.day:
            continue
        backfill = StoppedBackfill.of(run.name, _parameters_of(run.flow_run_id), settings.data_dir)
        if backfill is None:
            continue  # a nightly window's: the dates it held are named
        backfills.append(backfill)
        if backfill.layer == layer:
            never = _never_started(settings, backfill, run.started_at, set(days))
            if never is not None:
                not_started[backfill.name] = never
    return unfinished_lines(backfills, {layer: days} if days else {}, "the dead runs", not_started)


def _parameters_of(flow_run_id: str) -> dict[str, Any]:
    """A flow run's parameters, from the API; empty when it does not know the run."""
    with get_client(sync_client=True) as client:
        try:
            return dict(client.read_flow_run(UUID(flow_run_id)).parameters or {})
        except ObjectNotFound:
            return {}


def _never_started(
    settings: Settings, backfill: StoppedBackfill, started_at: str | None, held: set[str]
) -> list[str] | None:
    """The dates of a dead backfill's range (ISO) that it never started: not among ``held``
    (the dates its runs held, recorded crashed) and with no outcome recorded since
    ``started_at``; None when that cannot be told (no start, a range of another layer)."""
    from servicelens.dates import survey_date_range
    from servicelens.ingest.configured import source_periods
    from servicelens.storage.runs import ran_since

    if started_at is None:
        return None
    start, end = date.fromisoformat(backfill.start), date.fromisoformat(backfill.end)
    try:
        days = (
            survey_date_range(start, end)
            if settings.is_sample
            else source_periods(settings, start, end)
        )
    except ValueError:
        return None
    since = datetime.fromisoformat(started_at)
    return [
        d.isoformat()
        for d in days
        if d.isoformat() not in held and not ran_since(settings, d, since)
    ]


def _recover(settings: Settings) -> list[Recovery]:
    recovered = []
    claims = list_claims(settings)
    for claim in claims:
        verdict = liveness(claim)
        if not verdict.alive:
            released = release_dead_run(settings, claim, verdict)
            if claim.kind == "run":
                released = replace(released, started_at=claim.started_at)
            recovered.append(released)
            if claim.kind == "run":
                recorded = {c.flow_run_id for c in claims}
                recovered += _release_unrecorded_children(settings, claim, verdict, recorded)
            remove_claim(settings, claim)
    return recovered


def _release_unrecorded_children(
    settings: Settings, parent: Claim, verdict: Liveness, recorded: set[str]
) -> list[Recovery]:
    """Mark crashed the unfinished date runs that were to run in the process of ``parent``
    (a dead backfill's or nightly window's record; the runs name it in
    :data:`PARENT_FIELD`) and wrote no record of their own (``recorded``: the flow runs
    that did, released by their records), and record their dates' outcomes ``crashed``.

    A process killed between creating a date's flow run and holding the date (the
    ``date-run-created`` checkpoint) leaves that run Pending with nothing on disk naming it.
    Once the parent's record was deleted, nothing tied the young run to a dead process: the
    next trigger met it under the date's key, read it "created 2 s ago, not yet holding the
    date" and reported the date a duplicate without running it (found by a flaky whole-suite
    run of the double-kill test)."""
    reason = f"it was to run in the process of {parent.name}: {verdict.reason}"
    released = []
    for run in _unfinished_flow_runs(["nightly"]):
        if (run.context or {}).get(PARENT_FIELD) != parent.flow_run_id:
            continue
        if str(run.id) in recorded or (_source_of(run) or "sample") != settings.source:
            continue
        if not set_final_state(run.id, Crashed(message=crash_message(reason))):
            continue
        day = (run.parameters or {}).get("day")
        if day:
            when = date.fromisoformat(str(day))
            record_outcome(settings, when, str(run.id), "crashed", error=reason)
        discard_run_staging(settings.staging_dir, str(run.id))
        message = f"{run.name}: {reason}; marked crashed"
        log.warning("recovered %s", message)
        released.append(Recovery(str(day) if day else None, run.name, str(run.id), message))
    return released


def _unfinished_flow_runs(flows: list[str], limit: int = 200) -> list[FlowRun]:
    """The unfinished (:data:`UNFINISHED_STATES`) flow runs of the flows named ``flows`` on
    the API, newest first, at most ``limit``."""
    from prefect.client.schemas.filters import (
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.sorting import FlowRunSort

    with get_client(sync_client=True) as client:
        return client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=flows)),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=list(UNFINISHED_STATES)))
            ),
            sort=FlowRunSort.START_TIME_DESC,
            limit=limit,
        )


def release_dead_run(
    settings: Settings, claim: Claim, verdict: Liveness, discard_staging: bool = True
) -> Recovery:
    """Give back a dead run's slot, mark its flow run crashed (saying why), record its
    date's outcome as ``crashed`` and, with ``discard_staging``, delete the frames it staged
    (:func:`~servicelens.storage.partitions.discard_run_staging`: only a run that finishes
    deletes its own, and a platform engineer's trial found seven killed runs' folders left
    in ``.staging/runs/``, hundreds of megabytes each at a million rows); its record is the
    caller's to delete or replace.

    The slot is the lease the record names, or, for a date killed after its slot was granted
    and before its record named it, the leases that name its flow run as their holder
    (where leases can be read: the embedded API's lease files)."""
    from flows.slots import BACKFILL_LIMIT, leases_held_by, release_lease

    if claim.lease_id:
        leases = [claim.lease_id]
    else:
        leases = leases_held_by(claim.flow_run_id) if claim.kind == "date" else []
    for lease in leases:
        release_lease(lease)
    message = crash_message(verdict.reason, of_a_date=claim.kind == "date")
    crashed = set_final_state(claim.flow_run_id, Crashed(message=message))
    if claim.day:
        day = date.fromisoformat(claim.day)
        record_outcome(settings, day, claim.flow_run_id, "crashed", error=verdict.reason)
    released = ["marked crashed" if crashed else f"already {final_state_words(claim.flow_run_id)}"]
    if discard_staging:
        discard_run_staging(settings.staging_dir, claim.flow_run_id)
    if leases:
        released.append(f"its slot of {claim.limit or BACKFILL_LIMIT} released")
    message = f"{claim.name}: {verdict.reason}; {', '.join(released)}"
    log.warning("recovered %s", message)
    return Recovery(claim.day, claim.name, claim.flow_run_id, message)


@contextmanager
def hold_date_releasing(
    settings: Settings, day: date, flow_run_id: str, name: str, wait_seconds: float
) -> Iterator[Held]:
    """:func:`~servicelens.storage.claims.hold_date`, releasing what a dead earlier run of
    the date left in the record this hold replaces (its slot, its flow run)."""
    with hold_date(settings, day, flow_run_id, name, wait_seconds) as held:
        previous = held.replaced
        if previous is not None:
            held.replaced = None
            # On its own machine it let go of the lock this hold now has: it is gone.
            verdict = (
                Liveness(False, f"the run in {previous.owner} is gone: its lock was free")
                if previous.host == socket.gethostname()
                else liveness(previous)
            )
            if not verdict.alive:
                # The same flow run holding again (a retry) keeps what it staged.
                again = previous.flow_run_id == flow_run_id
                release_dead_run(settings, previous, verdict, discard_staging=not again)
        yield held


def earlier_run_liveness(settings: Settings, day: date, flow_run: FlowRun) -> Liveness:
    """Whether the process of an unfinished flow run of ``day`` that another trigger made
    is alive.

    From the date's in-flight record when it names this run (its lock on its own machine,
    else its beat, watched until it beats again or goes stale). A run with no record never
    got to hold the date, or ran before records were kept: dead when it was to run in the
    process of a parent flow run whose record shows that process gone, else alive while
    someone holds the date's lock or while it is younger than a stale period, dead after.
    """
    claim = read_date_claim(settings, day)
    if claim is not None and claim.flow_run_id == str(flow_run.id):
        return settled_liveness(settings, claim)
    parent = _dead_parent(settings, flow_run)
    if parent is not None:
        return parent
    lock = date_lock_path(locks_dir(settings.staging_dir), day)
    if is_locked(lock):
        return Liveness(True, f"the date's lock is held by {lock_holder(lock)}")
    grace = settings.heartbeat_seconds * STALE_BEATS
    created = flow_run.created or datetime.now(UTC)
    age = (datetime.now(UTC) - created).total_seconds()
    if age < grace:
        return Liveness(True, f"created {age:.0f} s ago, not yet holding the date")
    return Liveness(
        False,
        f"no process holds the date (its lock is free) and the run, created {age:.0f} s ago, "
        "left no in-flight record",
    )


def _dead_parent(settings: Settings, flow_run: FlowRun) -> Liveness | None:
    """Dead, saying why, when ``flow_run`` was to run in the process of a parent flow run
    (:data:`PARENT_FIELD`) whose record, in any layer of the data directory, shows that
    process gone; else None. Found by a user trial: after ``kill -9`` of a backfill, ``runs
    show`` listed the backfill dead and its date's run, created moments before, alive
    ("not yet holding the date"), though both were the killed process's."""
    parent_id = (flow_run.context or {}).get(PARENT_FIELD)
    if not parent_id:
        return None
    for layer in every_layer_of(settings):
        parent = read_claim(layer, record_name("run", "", str(parent_id)))
        if parent is not None:
            verdict = liveness(parent)
            if verdict.alive:
                return None
            return Liveness(
                False, f"it was to run in the process of {parent.name}: {verdict.reason}"
            )
    return None


def stop_held_runs(reason: str, seconds: float) -> list[Held]:
    """When this process is stopped by a signal: record every run it holds as interrupted,
    then, within ``seconds``, release their slots, mark their flow runs cancelled and delete
    their records. What the API does not confirm in time (it may be stopping too) stays
    recorded for the next run, which finds the process gone and releases it.
    """
    abandoned = abandon_held(reason)

    def release() -> None:
        for held in abandoned:
            try:
                for give_back in list(held.on_abandon):
                    give_back(reason)
                set_final_state(held.claim.flow_run_id, Cancelled(message=f"servicelens: {reason}"))
            except Exception as error:
                log.debug("%s: left for the next run to release: %s", held.claim.name, error)
                continue
            held.remove()

    worker = threading.Thread(target=release, name="servicelens-release", daemon=True)
    worker.start()
    worker.join(seconds)
    return abandoned


@dataclass(frozen=True)
class StuckRun:
    """An unfinished servicelens flow run of this data directory that no live in-flight
    record accounts for, and whether its process looks alive."""

    flow_run: FlowRun
    verdict: Liveness


def data_directory_layers(settings: Settings) -> list[Settings]:
    """The layers of the data directory ``settings`` addresses whose runs keep records: the
    sample's (``settings``, its ``runs/``) and every configured source's
    (``sources/<name>/runs/``). A source's ``settings`` is its own layer only.

    A source whose registered definition cannot be read is a layer all the same
    (``configured.records_layer``): its runs' records, in-flight records and backfill slots
    need no definition, and ``runs show``, ``runs release``, serve and the slots must still
    see them (``runs show`` raised on it, and a slot its live run held would look held by
    no one)."""
    from servicelens.ingest.configured import (
        UnreadableSource,
        configured_sources_or_unreadable,
        records_layer,
    )

    if not settings.is_sample:
        return [settings]
    return [
        settings,
        *(
            records_layer(settings, s.source) if isinstance(s, UnreadableSource) else s
            for s in configured_sources_or_unreadable(settings)
        ),
    ]


def every_layer_of(settings: Settings) -> list[Settings]:
    """Every layer of the data directory ``settings`` addresses, whichever source that is:
    the sample's and each configured source's (:func:`data_directory_layers` of the
    sample). For what the directory's sources share, the backfill slots: a source's own
    layer alone took a slot held by another source of the same directory for "a run of
    another data directory or machine" (found by a user trial)."""
    sample = settings if settings.is_sample else replace(settings, source="sample", definition=None)
    return data_directory_layers(sample)


def _source_of(flow_run: FlowRun) -> str | None:
    """The source whose layer ``flow_run`` ran for, as its parameters name it."""
    return ((flow_run.parameters or {}).get("settings") or {}).get("source")


def _data_dir_of(flow_run: FlowRun) -> str | None:
    return data_dir_of_parameters(flow_run.parameters or {})


def data_dir_of_parameters(parameters: dict[str, Any]) -> str | None:
    """The data directory a servicelens flow run's parameters name: its ``data_dir``, or
    its ``settings``' (a date's run); None when they name none (the default)."""
    settings = parameters.get("settings")
    chosen = parameters.get("data_dir") or (settings or {}).get("data_dir")
    return str(chosen) if chosen else None


def same_data_dir(a: str, b: str) -> bool:
    """Whether two data directories are one (local paths resolved; URLs as written)."""
    from pathlib import Path

    from servicelens.storage.fs import is_url

    if is_url(a) or is_url(b):
        return a.rstrip("/") == b.rstrip("/")
    return Path(a).resolve() == Path(b).resolve()


def stuck_flow_runs(settings: Settings) -> list[StuckRun]:
    """Unfinished flow runs of this data directory's flows (``nightly``, ``backfill``,
    ``nightly-window``) that have no live in-flight record in any of its layers
    (:func:`data_directory_layers`). A run whose in-flight record is there, and dead, is
    dead for the record's reason (as ``runs show`` lists the record), however young the run;
    a run with no record at all: a date's run as for a re-triggered date (in the layer the
    run is for), a backfill or nightly-window run as :func:`unrecorded_run_liveness` reads
    it (a process executing it, or a state younger than a stale period). At most 200,
    newest first."""
    layers = {layer.source: layer for layer in data_directory_layers(settings)}
    claims = [c for layer in layers.values() for c in list_claims(layer)]
    # One verdict per flow run, from its records: alive if any of them is, else the first
    # dead one's. A killed backfill's run is younger than a stale period, but its record
    # proves it dead: by age alone it was shown alive next to its record shown dead.
    recorded: dict[str, Liveness] = {}
    for claim in claims:
        verdict = liveness(claim)
        if claim.flow_run_id not in recorded or verdict.alive:
            recorded[claim.flow_run_id] = verdict
    live = {run_id for run_id, verdict in recorded.items() if verdict.alive}
    runs = _unfinished_flow_runs(list(FLOWS_WITH_RECORDS))
    found: list[StuckRun] = []
    grace = settings.heartbeat_seconds * STALE_BEATS
    processes: dict[str, int] | None = None  # looked for once, when a run needs it
    for run in runs:
        where = _data_dir_of(run)
        if str(run.id) in live or where is None or not same_data_dir(where, settings.data_dir):
            continue
        day = (run.parameters or {}).get("day")
        if str(run.id) in recorded:
            verdict = recorded[str(run.id)]  # a record of this run, and it is dead
        elif day and is_date_run_name(run.name):
            # A source's date keeps its record and lock in the source's layer.
            layer = layers.get(_source_of(run) or settings.source, settings)
            verdict = earlier_run_liveness(layer, date.fromisoformat(str(day)), run)
        else:
            if processes is None:
                processes = flow_run_processes()
            verdict = unrecorded_run_liveness(run, processes.get(str(run.id)), grace)
        found.append(StuckRun(run, verdict))
    return found


def flow_run_processes() -> dict[str, int]:
    """Flow run id -> process id of every process on this machine that executes a flow run
    (Prefect's runner gives each one its run's id as ``PREFECT__FLOW_RUN_ID``), among the
    processes whose environment this user may read. Never raises: a process that ends or
    is not ours to read is left out."""
    import psutil

    from flows.served import FLOW_RUN_ID_VARIABLE

    found: dict[str, int] = {}
    for process in psutil.process_iter():
        try:
            run_id = process.environ().get(FLOW_RUN_ID_VARIABLE)
        except (psutil.Error, OSError):
            continue
        if run_id:
            found.setdefault(run_id, process.pid)
    return found


def unrecorded_run_liveness(
    run: FlowRun, pid: int | None, grace: float, now: datetime | None = None
) -> Liveness:
    """Whether a backfill's or nightly window's flow run that has no in-flight record is
    alive, from Prefect's own evidence: ``pid``, the process on this machine that executes
    it (:func:`flow_run_processes`), and how long it has been in its current state (the
    state's timestamp, not the run's age).

    Alive while a process executes it, or while its state is younger than ``grace`` seconds
    (a run serve just picked up: ``Pending``/``Submitting`` while its process starts, which
    on a loaded machine takes a while); dead only when neither holds. A run's age says
    nothing: a nightly run waits in ``AwaitingConcurrencySlot`` for the one before it, and
    was read dead, "created 341 s ago", the moment serve started it (a trial). ``now``:
    the time to judge at (UTC), default the current time."""
    now = now or datetime.now(UTC)
    state = run.state
    name = (state.name if state else None) or "unfinished"
    since = (state.timestamp if state and state.timestamp else None) or run.created or now
    age = (now - since).total_seconds()
    if pid is not None:
        return Liveness(True, f"process {pid} on {socket.gethostname()} executes it ({name})")
    if age < grace:
        return Liveness(True, f"{name} since {age:.0f} s ago: its process is starting")
    return Liveness(
        False,
        f"no live in-flight record and no process on {socket.gethostname()} executes it; "
        f"{name} since {age:.0f} s ago",
    )


@dataclass(frozen=True)
class Released:
    """What :func:`release_dead_runs` did: one line per release, then what to run to
    finish the work the dead runs left (:func:`left_to_do`)."""

    lines: list[str]
    to_do: list[str]


def release_dead_runs(settings: Settings) -> Released:
    """Release everything dead runs of the data directory hold (``servicelens runs
    release``, serve as it starts and as it stops): their records in every layer, their
    flow runs left unfinished, expired slot leases and slots no lease holds; and say what
    is left to run (the dates the dead runs held, a dead backfill's command)."""
    from flows.slots import release_expired_leases, release_orphan_slots, slot_usage

    # Each source keeps its runs' records in its own layer (sources/<name>/runs/).
    released, to_do = [], []
    for layer in data_directory_layers(settings):
        recovered, left = recover_and_advise(layer)
        released += [r.message for r in recovered]
        to_do += left
    stuck = recover_stuck_runs(settings)
    released += [r.message for r in stuck]
    # A stuck date run held no record, so no date; a stuck backfill's range is named.
    to_do += left_to_do(settings, [r for r in stuck if not r.day])
    released += [f"expired slot lease {lease} released" for lease in release_expired_leases()]
    usage = slot_usage(settings)
    if usage is not None and usage.orphans:
        freed = release_orphan_slots(usage)
        if freed:
            released.append(f"{freed} slot(s) of servicelens-backfill held by no lease released")
    return Released(released, to_do)


def recover_stuck_runs(settings: Settings) -> list[Recovery]:
    """Mark crashed the unfinished flow runs of this data directory whose process is gone
    (see :func:`stuck_flow_runs`)."""
    recovered = []
    for stuck in stuck_flow_runs(settings):
        if stuck.verdict.alive:
            continue
        run = stuck.flow_run
        day = (run.parameters or {}).get("day")
        message = crash_message(stuck.verdict.reason, of_a_date=bool(day))
        if set_final_state(run.id, Crashed(message=message)):
            discard_run_staging(settings.staging_dir, str(run.id))
            message = f"{run.name}: {stuck.verdict.reason}; marked crashed"
            began = run.start_time.isoformat() if run.start_time else None
            recovered.append(
                Recovery(str(day) if day else None, run.name, str(run.id), message, began)
            )
    return recovered
