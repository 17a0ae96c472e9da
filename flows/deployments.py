"""The deployments ``servicelens serve`` serves: the nightly run, backfills, weekly retraining.

``build_deployments`` only describes them (a test checks every one resolves and carries the
right schedule); ``serve_deployments`` registers them with the Prefect API and runs them.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfo

from prefect import serve
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron, Schedule
from prefect.settings import PREFECT_API_URL

from flows.pipeline import backfill, nightly_window, train
from flows.served import (
    ServedRuns,
    Stopped,
    release_dead_runs_at_start,
    say_served,
    serve_log,
)
from flows.slots import ensure_backfill_limit
from servicelens.cli.embedded_api import own_server_exit
from servicelens.settings import (
    DEFAULT_NIGHTLY_CRON,
    DEFAULT_RETRAIN_CRON,
    SettingError,
    Settings,
)

NIGHTLY = "servicelens-nightly"
BACKFILL = "servicelens-backfill"
RETRAIN = "servicelens-retrain"
#: The nightly's and the retrain's concurrency: one run at a time, a run due while one runs
#: waiting for it (Prefect's ``ENQUEUE``: ``Scheduled``, named ``AwaitingConcurrencySlot``,
#: asked again every 30 s), not cancelled (``CANCEL_NEW`` would drop a night's run).
ONE_AT_A_TIME = ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.ENQUEUE)
#: The variable each cron comes from, and its default.
DEFAULT_CRONS = {
    "SERVICELENS_NIGHTLY_CRON": DEFAULT_NIGHTLY_CRON,
    "SERVICELENS_RETRAIN_CRON": DEFAULT_RETRAIN_CRON,
}


def default_schedules(settings: Settings) -> dict[str, list[Schedule]]:
    """The nightly and retrain crons, read in the business timezone; backfills have none.

    Cron in a named timezone keeps the wall-clock time across daylight-saving changes; the
    nightly run then processes yesterday relative to its scheduled time in that timezone.

    Raises :class:`SettingError` naming the variable when a cron is not one Prefect reads.
    """
    return {
        NIGHTLY: [_cron("SERVICELENS_NIGHTLY_CRON", settings.nightly_cron, settings.timezone)],
        BACKFILL: [],
        RETRAIN: [_cron("SERVICELENS_RETRAIN_CRON", settings.retrain_cron, settings.timezone)],
    }


def _cron(variable: str, expression: str, timezone: str) -> Schedule:
    """Prefect's cron schedule of ``expression``; a :class:`SettingError` that names
    ``variable`` (where the command line's settings take it from) when Prefect refuses it
    (found by a trial: `serve` said only 'Invalid cron string: "30 2 * *"')."""
    try:
        return Cron(expression, timezone=timezone)
    except ValueError:
        default = DEFAULT_CRONS[variable]
        raise SettingError(
            f"{variable}={expression!r}: not a cron expression Prefect reads; use five fields, "
            f"minute hour day-of-month month day-of-week, each in its range (minute 0-59, hour "
            f"0-23, day-of-week 0-6 from Sunday), or unset it for the default ({default!r})"
        ) from None


def build_deployments(
    settings: Settings, schedules: Mapping[str, Sequence[Schedule]] | None = None
) -> list[RunnerDeployment]:
    """The three deployments, with :func:`default_schedules` unless ``schedules`` replaces
    some (by deployment name; the schedule test serves the nightly one on a short interval).
    """
    chosen = {**default_schedules(settings), **(schedules or {})}
    data_dir = str(Path(settings.data_dir).resolve())
    tags = ["servicelens"]
    deployments = [
        nightly_window.to_deployment(
            name=NIGHTLY,
            schedules=list(chosen[NIGHTLY]),
            parameters={"data_dir": data_dir},
            tags=[*tags, "nightly"],
            # One nightly run at a time: a slow night must not overlap the next one, which
            # waits (README: "The nightly and retrain deployments run one at a time").
            concurrency_limit=ONE_AT_A_TIME,
            description="Yesterday's surveys, plus look-back dates whose inputs changed.",
        ),
        backfill.to_deployment(
            name=BACKFILL,
            schedules=list(chosen[BACKFILL]),
            parameters={"data_dir": data_dir},
            tags=[*tags, "backfill"],
            description=(
                "Run a date range: start, end, rerun (missing|failed|changed|all), newest_first, "
                "concurrency, dry_run."
            ),
        ),
        train.to_deployment(
            name=RETRAIN,
            schedules=list(chosen[RETRAIN]),
            # The same data directory as the nightly runs (not the serving process's default).
            parameters={"data_dir": data_dir},
            tags=[*tags, "train"],
            concurrency_limit=ONE_AT_A_TIME,
            description="Train a challenger on every audit; promote it if it is not worse.",
        ),
    ]
    # Called outside an event loop, to_deployment returns the deployment itself.
    return [d for d in deployments if isinstance(d, RunnerDeployment)]


def cron_in_words(cron: str) -> str:
    """``30 2 * * *`` as ``at 02:30 every day``, ``0 5 * * 0`` as ``at 05:00 on Sunday``:
    cronsim's English reading of the expression (``CronSim.explain``; cronsim is the cron
    library Prefect 3.8 itself schedules with), its first letter lowered to follow a name.
    Raises ``cronsim.CronSimError`` for an expression cronsim cannot read (the deployments'
    crons are read by Prefect first: :func:`default_schedules`)."""
    from cronsim import CronSim

    words = CronSim(cron, datetime(2000, 1, 1)).explain()
    return words[:1].lower() + words[1:]


def serving_plan(
    settings: Settings, deployments: Sequence[RunnerDeployment], start: datetime
) -> list[str]:
    """What each of ``deployments`` (as :func:`build_deployments` made them for
    ``settings``) will do, one line each: its schedule in words with its timezone and
    cron, its next run after ``start`` (Prefect's own cron arithmetic, the scheduler's),
    and what it runs: the nightly's sources, the retrain's models
    (``servicelens.retrain.models_to_retrain``), or, for one without a schedule, that it
    runs when asked. Call it outside an event loop."""
    import asyncio

    from prefect.client.schemas.schedules import CronSchedule as ClientCron
    from prefect.server.schemas.schedules import CronSchedule

    from servicelens.ingest.configured import configured_names, has_sample_exports
    from servicelens.retrain import models_to_retrain

    data_dir = str(Path(settings.data_dir).resolve())
    sources = (
        ["sample"] if has_sample_exports(settings) or not configured_names(settings) else []
    ) + configured_names(settings)
    models = [m.source for m in models_to_retrain(settings)]
    runs = {
        NIGHTLY: f"runs yesterday and the look-back's changed dates of {', '.join(sources)}",
        RETRAIN: f"retrains the model of {', '.join(models) or 'no source'}",
        BACKFILL: "runs the date range it is given, when asked (no schedule)",
    }
    lines = []
    for deployment in deployments:
        said = []
        for scheduled in deployment.schedules or []:
            if not isinstance(scheduled.schedule, ClientCron):
                continue  # the deployments' schedules are crons (default_schedules)
            cron, zone = scheduled.schedule.cron, scheduled.schedule.timezone
            server = CronSchedule(cron=cron, timezone=zone)
            [upcoming] = asyncio.run(server.get_dates(n=1, start=start))
            local = upcoming.astimezone(ZoneInfo(zone or "UTC"))
            said.append(
                f"{cron_in_words(cron)} ({zone}; cron {cron!r}), next {local:%a %Y-%m-%d %H:%M %Z}"
            )
        what = runs.get(deployment.name or "", "")
        lines.append(
            f"  {deployment.flow_name}/{deployment.name}: "
            + "; ".join([*said, what])
            + f" in {data_dir}"
        )
    return lines


@dataclass(frozen=True)
class ServeEnd:
    """How serving ended: whether the deployments were paused on the server (see
    :func:`serve_deployments`), and what became of the flow runs still executing."""

    paused: bool
    stopped: Stopped


def serve_deployments(
    settings: Settings,
    schedules: Mapping[str, Sequence[Schedule]] | None = None,
    on_serving: Callable[[list[str]], None] | None = None,
) -> ServeEnd:
    """Register the deployments and execute their runs until interrupted (Ctrl-C).

    The Prefect server creates the scheduled runs (its scheduler service); this process
    polls for those that are due and runs them. ``schedules`` as in :func:`build_deployments`.
    ``on_serving`` is called with the deployments' names (``flow/deployment``) once they are
    registered, in place of Prefect's banner (:func:`_serving_banner`).

    Before serving, what dead runs of the data directory hold is released
    (:func:`flows.served.release_dead_runs_at_start`: a previous serve's runs a ``kill -9``
    left ``Running``), and each release said.

    Once serving has stopped, the flow runs it started that were still executing are
    stopped, and what they held released, by :class:`flows.served.ServedRuns` (their dates
    recorded, their flow runs crashed, their slots given back): Prefect's runner ended them
    without a word, leaving it all held until ``servicelens runs release``.

    On a server (``PREFECT_API_URL``) the deployments are paused once serving has stopped,
    so their schedules create no runs while nothing serves them (registering them again,
    the next ``serve``, resumes them). Prefect's runner would pause them itself as it stops,
    but on its SIGTERM path it exits while the pause is in flight (a busy machine's test saw
    "Pausing all deployments..." and the deployment still active), and on the embedded API,
    which Ctrl-C reaches too, its pause raced the server's shutdown and retried for 70-80 s
    when the server was gone first (three Ctrl-Cs of four in a trial). So the runner pauses
    nothing, and on a server this does, after it.
    """
    ensure_backfill_limit(settings.backfill_slots)
    deployments = build_deployments(settings, schedules)
    on_server = bool(PREFECT_API_URL.value())
    served = ServedRuns(settings)
    started = datetime.now(UTC)

    def serving() -> None:
        """Serve until stopped, with the log, the runs' watch and the banner around it."""
        with (
            serve_log(),
            served,
            _stop_noted(served),
            _runs_reach_this_api(on_server),
            _serving_banner(on_serving, started),
        ):
            # What a previous serve's runs left when it was killed, before any run starts.
            release_dead_runs_at_start(settings)
            serve(*deployments, pause_on_shutdown=False)

    if threading.current_thread() is not threading.main_thread():
        try:
            serving()
        finally:
            end = _end_serving(settings, deployments, served, on_server)
        return end
    before = signal.signal(signal.SIGINT, _stop_as_on_sigterm)
    try:
        serving()
    except* SystemExit as stopped:
        # The runner's SIGTERM handler ends with sys.exit(0); a signal that lands while the
        # runner starts its loops comes wrapped in anyio's task-group exception groups
        # (found by a test: Ctrl-C then ended serve with a traceback and exit 1).
        if any(exit.code not in (0, None) for exit in _exits(stopped)):
            raise
    finally:
        signal.signal(signal.SIGINT, before)
        end = _end_serving(settings, deployments, served, on_server)
    return end


@contextmanager
def _serving_banner(
    on_serving: Callable[[list[str]], None] | None, started: datetime
) -> Iterator[None]:
    """While serving, ``on_serving`` in place of the banner Prefect's ``serve`` prints once
    the deployments are registered (``prefect.flows._display_serve_start_message``, Prefect
    3.8), whose "$ prefect deployment run [DEPLOYMENT_NAME]" failed from the project folder
    (found by a trial: "Deployment ... not found!": Prefect's own CLI, without the project's
    Prefect home and serve's embedded API, asked a temporary server of its own).

    Before the banner, the scheduled runs the schedules now in force would not start are
    dropped (:func:`drop_stale_scheduled_runs`, the runs missed being those due before
    ``started``): the deployments are registered by then, and the runner has not yet looked
    for runs that are due."""
    import prefect.flows

    before = getattr(prefect.flows, "_display_serve_start_message", None)
    if before is None:
        # A Prefect without it (renamed upgrade) prints its own banner and drops nothing;
        # the serve tests, which read ours, fail and say so.
        yield
        return
    original = before

    def banner(*deployments: RunnerDeployment) -> None:
        try:
            for dropped in drop_stale_scheduled_runs(deployments, since=started):
                say_served(dropped.message())
        except Exception as error:  # the API busy: serve all the same, and say what is left
            say_served(
                f"could not drop the scheduled runs the schedules in force would not start "
                f"({error}): `servicelens prefect flow-run ls --state SCHEDULED` lists them, "
                "`servicelens prefect flow-run delete ID` deletes one",
                failed=True,
            )
        if on_serving is None:
            original(*deployments)
        else:
            on_serving([f"{d.flow_name}/{d.name}" for d in deployments])

    prefect.flows._display_serve_start_message = banner
    try:
        yield
    finally:
        prefect.flows._display_serve_start_message = before


@contextmanager
def _stop_noted(served: ServedRuns) -> Iterator[None]:
    """While serving, Prefect's runner's SIGTERM handler (``Runner.handle_sigterm``, which
    Ctrl-C reaches too: :func:`_stop_as_on_sigterm`) first sets ``served.stopping``, so a
    run whose process ends unfinished after it is said stopped by serve's shutdown."""
    from prefect.runner.runner import Runner

    original = Runner.handle_sigterm

    def handle_sigterm(self: Runner, *args: Any, **kwargs: Any) -> None:
        served.stopping.set()
        original(self, *args, **kwargs)

    Runner.handle_sigterm = handle_sigterm  # type: ignore[method-assign]
    try:
        yield
    finally:
        Runner.handle_sigterm = original  # type: ignore[method-assign]


@contextmanager
def _runs_reach_this_api(on_server: bool) -> Iterator[None]:
    """On the embedded API, name it in ``PREFECT_API_URL`` for the flow-run processes the
    runner starts (they inherit this process's environment) while serving, and restore the
    variable after.

    Without it each served run found no API and started a temporary server of its own, left
    running when serve stopped during the run (a platform engineer's trial found one still
    up 41 s later, its parent gone); it wrote to the same database, so the runs completed.
    The embedded server answers by now (:func:`ensure_backfill_limit` asked it)."""
    if on_server:
        yield
        return
    from prefect.server.api.server import SubprocessASGIServer

    before = os.environ.get("PREFECT_API_URL")
    os.environ["PREFECT_API_URL"] = SubprocessASGIServer().api_url
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = before


#: How many flow runs are read from the API at a time (its default maximum is 200).
PAGE = 200


@dataclass(frozen=True)
class DroppedRuns:
    """The scheduled runs of one deployment :func:`drop_stale_scheduled_runs` deleted.

    ``deployment``: ``flow/deployment``; ``other_schedule``: how many its schedules in force
    would not have created (an earlier serve's cron); ``older_missed``: how many missed runs
    of the schedules in force were older than the one kept; ``catch_up``: the one missed run
    kept, as ``name (due TIME)``, or None."""

    deployment: str
    other_schedule: int
    older_missed: int
    catch_up: str | None

    def message(self) -> str:
        """The line serve says about it."""
        parts = []
        if self.other_schedule:
            parts.append(f"{self.other_schedule} of a schedule no longer in force")
        if self.older_missed:
            parts.append(f"{self.older_missed} missed run(s) older than the one kept")
        said = (
            f"{self.deployment}: dropped {self.other_schedule + self.older_missed} scheduled "
            f"run(s) left from before this serve ({', '.join(parts)})"
            if parts
            else f"{self.deployment}:"
        )
        if self.catch_up:
            said += (
                f"{'; ' if parts else ' '}the latest missed run, {self.catch_up}, runs now as "
                "the one catch-up (the nightly's look-back covers the dates before it)"
            )
        return said


def drop_stale_scheduled_runs(
    deployments: Sequence[RunnerDeployment],
    now: datetime | None = None,
    since: datetime | None = None,
) -> list[DroppedRuns]:
    """Delete the scheduled runs of ``deployments`` (as registered on the Prefect API) that
    their schedules in force would not start now, and return what was deleted, one
    :class:`DroppedRuns` per deployment that had any (or a catch-up).

    Only runs the server's scheduler created (``auto_scheduled``) and that never started
    (``run_count`` 0, state type ``SCHEDULED``: ``Scheduled``, ``Late``,
    ``AwaitingConcurrencySlot``) are considered; runs someone asked for are kept. Of those
    due at ``now`` (UTC, default the current time) or before, the latest one a schedule in
    force produces is kept as the one catch-up and every other is deleted; of those due
    later, those no schedule in force produces are deleted. The catch-up is named only when
    it was due before ``since`` (when serve started; default ``now``): one due while serve
    was starting was not missed.

    Why: registering a deployment again (Prefect 3.8's upsert) deletes only its future
    auto-scheduled runs, and Prefect has no way to skip late ones (PrefectHQ/prefect#15886).
    A trial served the nightly on ``*/2 * * * *``, stopped it, and the next plain ``serve``
    (02:30 cron) ran the 31 overdue runs of the old schedule one after another; a serve down
    for days would likewise run one nightly per night missed.

    A deployment not registered yet is skipped. Raises what the Prefect client raises when
    the API does not answer."""
    from prefect.client.orchestration import get_client

    now = now or datetime.now(UTC)
    since = since or now
    found = []
    with get_client(sync_client=True) as client:
        for deployment in deployments:
            dropped = _drop_stale_runs_of(client, deployment.full_name, now, since)
            if dropped is not None:
                found.append(dropped)
    return found


def _drop_stale_runs_of(
    client: Any, full_name: str, now: datetime, since: datetime
) -> DroppedRuns | None:
    """:func:`drop_stale_scheduled_runs` for the deployment ``full_name`` through the sync
    ``client``; None when nothing was deleted or missed (or it is not registered)."""
    import asyncio

    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterDeploymentId,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort
    from prefect.exceptions import ObjectNotFound

    try:
        registered = client.read_deployment_by_name(full_name)
    except ObjectNotFound:
        return None
    waiting = FlowRunFilter(
        deployment_id=FlowRunFilterDeploymentId(any_=[registered.id]),
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])),
    )
    runs: list[Any] = []
    while True:
        page = client.read_flow_runs(
            flow_run_filter=waiting,
            sort=FlowRunSort.EXPECTED_START_TIME_ASC,
            limit=PAGE,
            offset=len(runs),
        )
        runs += page
        if len(page) < PAGE:
            break
    runs = [r for r in runs if r.auto_scheduled and r.run_count == 0 and r.expected_start_time]
    if not runs:
        return None
    in_force = [s.schedule for s in registered.schedules if s.active]
    produced = asyncio.run(_produced_by(in_force, [r.expected_start_time for r in runs]))
    pairs = list(zip(runs, produced, strict=True))
    other = [run for run, ok in pairs if not ok]
    # Sorted by due time: the last overdue run of the schedules in force is the catch-up.
    missed = [run for run, ok in pairs if ok and run.expected_start_time <= now]
    catch_up = missed[-1] if missed else None
    older = missed[:-1]
    for run in other + older:
        try:
            client.delete_flow_run(run.id)
        except ObjectNotFound:  # started and gone meanwhile, or deleted by the upsert
            continue
    if catch_up is not None and catch_up.expected_start_time >= since:
        catch_up = None  # due as serve started: not a missed run
    if not (other or older or catch_up):
        return None
    kept = None
    if catch_up is not None:
        timezone = getattr(in_force[0], "timezone", None) or "UTC"
        due = catch_up.expected_start_time.astimezone(ZoneInfo(timezone))
        kept = f"{catch_up.name} (due {due:%Y-%m-%d %H:%M} {timezone})"
    return DroppedRuns(full_name, len(other), len(older), kept)


async def _produced_by(schedules: Sequence[Any], times: Sequence[datetime]) -> list[bool]:
    """Whether each of ``times`` is a time one of ``schedules`` (Prefect's client schedule
    objects) gives, as the server's scheduler computes them."""
    from prefect.server.schemas import schedules as server_schedules

    computed = [
        getattr(server_schedules, type(s).__name__).model_validate(s.model_dump())
        for s in schedules
    ]
    found = []
    for when in times:
        hits = False
        for schedule in computed:
            first = await schedule.get_dates(n=1, start=when)
            if first and first[0] == when:
                hits = True
                break
        found.append(hits)
    return found


def _exits(group: BaseExceptionGroup[SystemExit]) -> list[SystemExit]:
    """The SystemExits in ``group``, however deep."""
    found: list[SystemExit] = []
    for error in group.exceptions:
        if isinstance(error, BaseExceptionGroup):
            found += _exits(error)
        else:
            found.append(error)
    return found


def _end_serving(
    settings: Settings,
    deployments: Sequence[RunnerDeployment],
    served: ServedRuns,
    on_server: bool,
) -> ServeEnd:
    """Pause the deployments on a server, then stop and release the flow runs still
    executing (a second signal meanwhile still stops the process at once)."""
    paused = on_server and _pause(deployments)
    # On the embedded API: unless something stopped its server too (it runs in a session of
    # its own, so a terminal's Ctrl-C no longer does; systemd's cgroup kill still would).
    stopped = served.finish(lambda: on_server or own_server_exit() is None)
    return ServeEnd(paused, stopped)


def _pause(deployments: Sequence[RunnerDeployment]) -> bool:
    """Pause ``deployments`` on the configured Prefect server (by their full names); False,
    with a warning naming the error, when the server does not answer or refuses."""
    import httpx
    from prefect.client.orchestration import get_client
    from prefect.exceptions import PrefectException

    try:
        with get_client(sync_client=True) as client:
            for deployment in deployments:
                found = client.read_deployment_by_name(deployment.full_name)
                client.pause_deployment(found.id)
    except (httpx.HTTPError, OSError, PrefectException) as error:
        logging.getLogger(__name__).warning(
            "the deployments could not be paused on %s (%s): their schedules keep creating "
            "runs that nothing serves until `servicelens serve` runs again",
            PREFECT_API_URL.value(),
            error,
        )
        return False
    return True


def _stop_as_on_sigterm(signum: int, frame: FrameType | None) -> None:
    """Ctrl-C stops serving the way SIGTERM does.

    Prefect's runner stops on SIGTERM (its ``handle_sigterm``, installed when it starts:
    it pauses the deployments and exits), but the first SIGINT only cancels asyncio's main
    task, which the runner's loops can outlive once it has run a flow run: on a busy machine
    the schedule test saw a served process still running, and starting the next scheduled
    run, 120 s after one SIGINT. Installing this handler first also keeps ``asyncio.run``
    from installing its own (it does so only over Python's default handler). Prefect's
    shutdown logs asyncio's cancellation tracebacks; under ``servicelens serve`` they go to
    the command's log file.
    """
    on_sigterm = signal.getsignal(signal.SIGTERM)
    if callable(on_sigterm):
        with warnings.catch_warnings():
            # The handler calls the runner's stop() outside the loop, which makes a coroutine
            # it never awaits; it stops the runner by sys.exit all the same.
            warnings.filterwarnings("ignore", "coroutine 'Runner.astop'", RuntimeWarning)
            on_sigterm(signal.SIGTERM, frame)
    raise KeyboardInterrupt
