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
from pathlib import Path
from types import FrameType

from prefect import serve
from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron, Schedule
from prefect.settings import PREFECT_API_URL

from flows.pipeline import backfill, nightly_window, train
from flows.served import ServedRuns, Stopped, serve_log
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
            # One nightly run at a time: a slow night must not overlap the next one.
            concurrency_limit=1,
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
            concurrency_limit=1,
            description="Train a challenger on every audit; promote it if it is not worse.",
        ),
    ]
    # Called outside an event loop, to_deployment returns the deployment itself.
    return [d for d in deployments if isinstance(d, RunnerDeployment)]


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
    if threading.current_thread() is not threading.main_thread():
        try:
            with serve_log(), served, _runs_reach_this_api(on_server), _serving_banner(on_serving):
                serve(*deployments, pause_on_shutdown=False)
        finally:
            end = _end_serving(settings, deployments, served, on_server)
        return end
    before = signal.signal(signal.SIGINT, _stop_as_on_sigterm)
    try:
        with serve_log(), served, _runs_reach_this_api(on_server), _serving_banner(on_serving):
            serve(*deployments, pause_on_shutdown=False)
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
def _serving_banner(on_serving: Callable[[list[str]], None] | None) -> Iterator[None]:
    """While serving, ``on_serving`` in place of the banner Prefect's ``serve`` prints once
    the deployments are registered (``prefect.flows._display_serve_start_message``, Prefect
    3.8), whose "$ prefect deployment run [DEPLOYMENT_NAME]" failed from the project folder
    (found by a trial: "Deployment ... not found!": Prefect's own CLI, without the project's
    Prefect home and serve's embedded API, asked a temporary server of its own)."""
    import prefect.flows

    before = getattr(prefect.flows, "_display_serve_start_message", None)
    if on_serving is None or before is None:
        # A Prefect without it (renamed upgrade) prints its own banner; the serve test,
        # which reads ours, fails and says so.
        yield
        return
    callback = on_serving

    def banner(*deployments: RunnerDeployment) -> None:
        callback([f"{d.flow_name}/{d.name}" for d in deployments])

    prefect.flows._display_serve_start_message = banner
    try:
        yield
    finally:
        prefect.flows._display_serve_start_message = before


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
