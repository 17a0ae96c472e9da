"""The flow runs ``servicelens serve`` executes, and what is left of them when it stops.

Prefect's runner executes each flow run it serves in a child process (``python -m
prefect.engine``, in a process group of its own, the flow run's id in its environment as
``PREFECT__FLOW_RUN_ID``). Stopping serve with a run in flight (Ctrl-C, SIGTERM) ended that
child within a second without a word to servicelens (measured, Prefect 3.8.8, a real server:
serve exited in 0.7 s, the child was gone 8 s later): the date had no outcome, its flow runs
stayed ``Running`` (an interrupted nightly run ``Pending``, holding the next scheduled nightly
in ``AwaitingConcurrencySlot``, the deployment allowing one run at a time), its date lock's
record and backfill slot stayed held until ``servicelens runs release``, and serve's last
words named none of it.

So while serving, :class:`ServedRuns` notes the flow-run processes every second, and when
serving stops :meth:`ServedRuns.finish` stops any still running (SIGTERM to its group, which
a date's run takes as an interruption and records; SIGKILL after :data:`STOP_SECONDS`), then
releases what they held as ``servicelens runs release`` does (their flow runs marked crashed,
their dates' outcomes recorded, their slots given back) and says which dates they were.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from uuid import UUID

import psutil
from prefect import get_client

from servicelens.settings import Settings

#: How long flow runs still running when serving stops get to record their interruption
#: (a date's run needs about a second) before they are killed.
STOP_SECONDS = 10.0
#: How often the flow-run processes are looked for while serving, in seconds.
POLL_SECONDS = 1.0
#: How long releasing what the stopped runs held may take (the API may be going away).
RELEASE_SECONDS = 15.0
#: The environment variable Prefect's runner gives a flow run's process.
FLOW_RUN_ID_VARIABLE = "PREFECT__FLOW_RUN_ID"

log = logging.getLogger("servicelens.serve")


#: Where a stopped run's dates are: (the data directory, None for serve's own; the layer's
#: source, None for the sample).
Layer = tuple[str | None, str | None]


@dataclass(frozen=True)
class StoppedBackfill:
    """A backfill flow run serve stopped: its name and parameters (ISO dates, the rerun
    policy, the source or None for the sample, the data directory or None for serve's own)."""

    name: str
    start: str
    end: str
    rerun: str
    source: str | None
    data_dir: str | None = None

    @classmethod
    def of(
        cls, name: str, parameters: dict[str, object], own_data_dir: str | None = None
    ) -> StoppedBackfill | None:
        """The backfill a flow run's ``parameters`` describe, or None for another flow.
        ``own_data_dir``: serve's data directory (a ``data_dir`` parameter naming it is
        serve's own)."""
        if "start" not in parameters or "end" not in parameters:
            return None
        source = parameters.get("source")
        return cls(
            name,
            str(parameters["start"]),
            str(parameters["end"]),
            str(parameters.get("rerun") or "missing"),
            str(source) if source else None,
            _other_data_dir(parameters, own_data_dir),
        )

    @property
    def layer(self) -> Layer:
        return (self.data_dir, self.source)


def _other_data_dir(parameters: dict[str, object], own_data_dir: str | None) -> str | None:
    """The data directory a flow run's parameters name (its ``data_dir``, or its settings'),
    as an absolute path or URL, when it is not ``own_data_dir``; else None."""
    from flows.recovery import data_dir_of_parameters, same_data_dir
    from servicelens.storage.fs import is_url

    named = data_dir_of_parameters(parameters)
    if named is None or (own_data_dir is not None and same_data_dir(named, own_data_dir)):
        return None
    return named if is_url(named) else str(Path(named).expanduser().resolve())


@dataclass
class Stopped:
    """What stopping serve did to the flow runs it had started.

    ``runs``: the names of the flow runs serve started that were unfinished as it stopped
    (their processes executing, or just ended with them); ``days``:
    the dates (ISO) their runs left without an outcome of their own (stopped, not completed
    or failed), by :data:`Layer` (data directory, None for serve's own; source, None for the
    sample); ``killed``: flow run ids whose
    process had to be killed; ``released``: one line per thing released (as ``servicelens
    runs release`` prints them); ``error``: why releasing could not finish, if it could not
    (the next run, or ``runs release``, releases it instead)."""

    runs: list[str] = field(default_factory=list)
    days: dict[Layer, list[str]] = field(default_factory=dict)
    #: The backfills among ``runs``: the rest of their range may never have been reached.
    backfills: list[StoppedBackfill] = field(default_factory=list)
    killed: list[str] = field(default_factory=list)
    released: list[str] = field(default_factory=list)
    error: str | None = None


class ServedRuns:
    """Notes the flow-run processes this process's runner starts and the dates they hold (a
    daemon thread looking every :data:`POLL_SECONDS`), and finishes them when serving stops.

    Use as ``with ServedRuns(settings) as served: serve(...)``, then ``served.finish(...)``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.seen: dict[int, str] = {}  # process id -> flow run id
        #: The settings of the data directory each flow run works on (its ``data_dir``
        #: parameter), for those not on serve's own (found by a trial: a backfill run through
        #: the server on another data directory kept its date's slot, lock and flow run when
        #: serve stopped, and serve named none of it).
        self.elsewhere: dict[str, Settings] = {}
        self._asked: set[str] = set()
        #: ``flow/run-name`` of each run whose start was said; the runs whose end was said.
        self.names: dict[str, str] = {}
        self._ended: set[str] = set()
        #: Each run's parameters and ``flow/deployment``, for the command that runs it again.
        self.parameters: dict[str, dict[str, object]] = {}
        self.deployments: dict[str, str] = {}
        #: Set when serve's own shutdown begins (Ctrl-C, SIGTERM): a run whose process ends
        #: unfinished after it was stopped by it, not lost (:meth:`_say_ended`).
        self.stopping = threading.Event()
        #: (layer, ISO date, date flow run id) of the dates they held.
        self.held: set[tuple[Layer, str, str]] = set()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="servicelens-served", daemon=True)

    def __enter__(self) -> ServedRuns:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(POLL_SECONDS * 5)

    def _watch(self) -> None:
        while not self._done.wait(POLL_SECONDS):
            try:
                self.look()
            except Exception as error:  # a folder gone, a record half written: next time
                log.debug("looking for served flow runs: %s", error)

    def look(self, ask: bool = True) -> dict[int, str]:
        """Note the child processes that execute a flow run, the data directory each works
        on (``ask``: from the API, once per run) and the dates their records hold; returns
        the flow-run processes alive now (process id -> flow run id)."""
        alive: dict[int, str] = {}
        try:
            children = psutil.Process().children()
        except psutil.Error:
            return alive
        for child in children:
            run_id = self.seen.get(child.pid)
            if run_id is None:
                try:
                    run_id = child.environ().get(FLOW_RUN_ID_VARIABLE)
                except psutil.Error:  # gone, or not ours to read
                    continue
                if not run_id:
                    continue  # the embedded API server, a Dask worker: not a flow run
                self.seen[child.pid] = run_id
                log.info("executing flow run %s (process %d)", run_id, child.pid)
            if ask and run_id not in self._asked:
                try:
                    self._note_data_dir(run_id)
                except Exception as error:  # the API busy: asked again on the next look
                    log.debug("reading flow run %s's parameters: %s", run_id, error)
            alive[child.pid] = run_id
        if alive:
            self._note_days(set(alive))
        if ask:
            self._say_ended(set(alive.values()))
        return alive

    def _say_ended(self, running: set[str]) -> None:
        """Say the end of each run said started whose process is gone: its final state and
        message (a nightly's names the dates that did not complete). Asked again on the next
        look if the API does not answer."""
        for run_id in sorted(set(self.names) - running - self._ended):
            with get_client(sync_client=True) as client:
                state = client.read_flow_run(UUID(run_id)).state
            self._ended.add(run_id)
            was = state.name if state else "unset"
            if (state is None or not state.is_final()) and self.stopping.is_set():
                # Found by a trial: a backfill serve's SIGTERM stopped was said to have
                # "exited with the run Submitting", as if it had been lost.
                outcome = (
                    f"stopped by serve's shutdown (it was {was}); rerun with: "
                    + self.rerun_command(run_id)
                )
            elif state is None or not state.is_final():
                outcome = (
                    f"its process exited with the run {was} "
                    "(`servicelens runs show` says whether it holds anything)"
                )
            else:
                name = state.name or state.type.value
                outcome = name + (f": {state.message}" if state.message else "")
            say_served(
                f"ended {self.names[run_id]} ({run_id}): {outcome}",
                failed=not (state is not None and state.is_completed()),
            )

    def _note_data_dir(self, run_id: str) -> None:
        """Note the data directory of flow run ``run_id`` (its parameters, from the API)
        when it is not serve's; asked again on the next look if the API does not answer."""
        with get_client(sync_client=True) as client:
            run = client.read_flow_run(UUID(run_id))
            flow = client.read_flow(run.flow_id)
            deployment = client.read_deployment(run.deployment_id) if run.deployment_id else None
        parameters = dict(run.parameters or {})
        self._asked.add(run_id)
        self.names[run_id] = f"{flow.name}/{run.name}"
        self.parameters[run_id] = parameters
        if deployment is not None:
            self.deployments[run_id] = f"{flow.name}/{deployment.name}"
        how = "scheduled" if getattr(run, "auto_scheduled", False) else "triggered"
        say_served(f"started {self.names[run_id]} ({run_id}, {how})")
        other = _other_data_dir(parameters, self.settings.data_dir)
        if other is not None:
            self.elsewhere[run_id] = Settings.from_env(other)

    def rerun_command(self, run_id: str) -> str:
        """The command that runs again what flow run ``run_id`` (one :meth:`look` noted) was
        to do: a backfill's ``servicelens backfill`` of its range and policy, else its
        deployment run through ``servicelens prefect`` (with serve running again), else
        ``servicelens runs show``."""
        name = self.names.get(run_id, run_id).split("/", 1)[-1]
        backfill = StoppedBackfill.of(name, self.parameters.get(run_id, {}), self.settings.data_dir)
        if backfill is not None:
            return _backfill_command(backfill.layer, backfill.start, backfill.end, backfill.rerun)
        if run_id in self.deployments:
            return (
                f"servicelens prefect deployment run '{self.deployments[run_id]}' "
                "(once serve runs again)"
            )
        return "servicelens runs show (it says what the run left)"

    def _data_dirs(self) -> dict[str | None, Settings]:
        """The data directories the served runs work on: serve's own (None), then each
        other one a run names."""
        roots: dict[str | None, Settings] = {None: self.settings}
        for settings in self.elsewhere.values():
            roots.setdefault(settings.data_dir, settings)
        return roots

    def _layers(self) -> dict[Layer, Settings]:
        """Every layer of every data directory the served runs work on."""
        from flows.recovery import data_directory_layers

        return {
            (root, _source_of(layer)): layer
            for root, settings in self._data_dirs().items()
            for layer in data_directory_layers(settings)
        }

    def _note_days(self, pids: set[int]) -> None:
        from servicelens.storage.claims import list_claims

        here = socket.gethostname()
        for key, layer in self._layers().items():
            for claim in list_claims(layer):
                if claim.day and claim.pid in pids and claim.host == here:
                    self.held.add((key, claim.day, claim.flow_run_id))

    def finish(self, api_reachable: Callable[[], bool]) -> Stopped:
        """Stop the flow runs still running, release what every one of them held, and say
        which dates they left unfinished. Never raises: it runs as serve exits.

        ``api_reachable`` says whether the Prefect API can still be asked (on the embedded
        API, Ctrl-C stops its server too; then the records stay for the next run's
        recovery, which finds their processes gone)."""
        stopped = Stopped()
        if not self.seen:
            return stopped
        try:
            # The records of runs Prefect's runner ended before this (SIGTERM), which the
            # last look, up to a second before the record was made, may have missed.
            self._note_days(set(self.seen))
            # Not asking the API, which may be going away: each run was asked as it started.
            stopped.killed = _stop_processes(self.look(ask=False), STOP_SECONDS)
        except Exception as error:  # keep going: releasing is what matters
            log.warning("stopping the flow runs serve started: %s", error)
        try:
            stopped.days = self._unfinished_days()
        except Exception as error:
            log.warning("reading the outcomes of the dates serve's runs held: %s", error)
        if api_reachable():
            outcome: dict[str, tuple[list[str], list[str], list[StoppedBackfill]]] = {}

            failed: list[Exception] = []

            def release() -> None:
                # The embedded API's server can stop between the look and the release (a
                # SIGTERM reaches it too): the records stay for the next run's recovery, and
                # no thread's traceback is what serve's last words are.
                try:
                    outcome["done"] = _release(
                        list(self._data_dirs().values()),
                        sorted(set(self.seen.values())),
                        self.settings,
                        stopped.days,
                    )
                except Exception as error:
                    failed.append(error)

            worker = threading.Thread(target=release, name="servicelens-release", daemon=True)
            worker.start()
            worker.join(RELEASE_SECONDS)
            if "done" in outcome:
                stopped.runs, stopped.released, stopped.backfills = outcome["done"]
            elif failed:
                log.warning("releasing what serve's flow runs held: %s", failed[0])
                stopped.error = f"the Prefect API stopped answering ({failed[0]})"
            else:
                stopped.error = f"the Prefect API did not answer within {RELEASE_SECONDS:g} s"
        else:
            stopped.error = "the Prefect API had stopped"
        return stopped

    def _unfinished_days(self) -> dict[Layer, list[str]]:
        """The held dates whose run recorded no outcome of its own (completed or failed)."""
        from servicelens.storage.runs import decided_by

        layers = self._layers()
        days: dict[Layer, list[str]] = {}
        for key, day, run_id in sorted(self.held, key=lambda h: (_order(h[0]), h[1])):
            layer = layers.get(key, self.settings)
            try:
                finished = decided_by(layer, date.fromisoformat(day), run_id)
            except (OSError, ValueError):
                finished = False
            if not finished and day not in days.get(key, []):
                days.setdefault(key, []).append(day)
        return days


def say_served(line: str, failed: bool = False) -> None:
    """One line of what serve did, on stdout (journald, a terminal) and in serve's log file:
    a trial's serve showed only Prefect's banner, and its log nothing of any scheduled run."""
    print(f"servicelens serve: {line}", flush=True)
    log.log(logging.WARNING if failed else logging.INFO, "%s", line)


def release_dead_runs_at_start(settings: Settings) -> list[str]:
    """As serve starts, before its runner picks up any run: release what dead runs of the
    data directory hold, as the nightly run's recovery and ``servicelens runs release`` do
    (:func:`~flows.recovery.release_dead_runs`: their flow runs marked crashed, their slots
    given back), saying each release in serve's output; returns the lines said. Live runs
    (a process executing them, a live in-flight record, a state younger than a stale period)
    are left alone. Never raises: when the API does not answer, serve serves all the same
    and says what is left to whom.

    Found by a trial: the runs a ``kill -9`` of serve left ``Running`` (and the slots they
    held) stayed so under the restarted serve until its next scheduled nightly run's
    recovery, hours later."""
    from flows.recovery import release_dead_runs

    try:
        released = release_dead_runs(settings)
    except Exception as error:
        say_served(
            f"could not release what dead runs hold ({error}): the next nightly run does, or "
            "`servicelens runs release` now",
            failed=True,
        )
        return []
    for line in released.lines:
        say_served(f"released as serve started: {line}")
    for line in released.to_do:
        say_served(line, failed=True)
    return [*released.lines, *released.to_do]


#: Exceptions a server restart or serve's own stop raises in Prefect's and asyncio's
#: background tasks: said in one line, without their traceback (a trial's serve log held
#: nothing but these).
_SHUTDOWN = (SystemExit, KeyboardInterrupt, asyncio.CancelledError)
_CONNECTION = (ConnectionError, TimeoutError)


def _known_noise(error: BaseException | None) -> BaseException | None:
    """The shutdown or connection error in ``error``'s chain, if any."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, _SHUTDOWN + _CONNECTION) or type(error).__name__ in (
            "ConnectError",
            "ConnectTimeout",
            "ConnectionClosedError",
            "InvalidStatus",
        ):
            return error
        error = error.__cause__ or error.__context__
    return None


class KnownNoise(logging.Filter):
    """While serving: asyncio's "Exception in callback" records of a stop (SystemExit,
    CancelledError) are dropped; any other record whose exception is a shutdown or a lost
    connection keeps its line, with the exception named in it, not its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.exc_info or record.exc_info[1] is None:
            return True
        noise = _known_noise(record.exc_info[1])
        if noise is None:
            return True
        if record.name == "asyncio" and isinstance(noise, _SHUTDOWN):
            return False
        record.msg = f"{record.getMessage()} ({type(noise).__name__}: {noise})"
        record.args = None
        record.exc_info = None
        record.exc_text = None
        return True


@contextmanager
def serve_log() -> Iterator[None]:
    """Serve's own lines (:func:`say_served`) reach its log file, and the known noise of
    Prefect's background tasks (:class:`KnownNoise`) does not as tracebacks."""
    noise = KnownNoise()
    handlers = list(logging.getLogger().handlers)
    level = log.level
    log.setLevel(logging.INFO)  # Prefect's root level is WARNING
    for handler in handlers:
        handler.addFilter(noise)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(noise)
        log.setLevel(level)


def _order(layer: Layer) -> tuple[str, str]:
    return (layer[0] or "", layer[1] or "")


def _source_of(layer: Settings) -> str | None:
    """A data-directory layer's source as :class:`Stopped` keys it: None for the sample."""
    return None if layer.is_sample else layer.source


def _stop_processes(alive: dict[int, str], seconds: float) -> list[str]:
    """SIGTERM each flow-run process (its process group, where it leads one), wait up to
    ``seconds`` for all of them, SIGKILL the rest; returns the flow run ids killed."""
    processes = []
    for pid in alive:
        try:
            process = psutil.Process(pid)
            _signal_group(pid, signal.SIGTERM)
            processes.append(process)
        except (psutil.Error, ProcessLookupError):
            continue
    _, survivors = psutil.wait_procs(processes, timeout=seconds)
    killed = []
    for process in survivors:
        try:
            _signal_group(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            continue
        killed.append(alive[process.pid])
    psutil.wait_procs(survivors, timeout=5.0)
    return killed


def _signal_group(pid: int, signum: int) -> None:
    """Send ``signum`` to ``pid``'s process group when it leads one (Prefect's runner starts
    flow runs so), else to ``pid`` alone."""
    if os.getpgid(pid) == pid:
        os.killpg(pid, signum)
    else:
        os.kill(pid, signum)


def _release(
    data_dirs: list[Settings],
    flow_run_ids: list[str],
    own: Settings,
    left: dict[Layer, list[str]],
) -> tuple[list[str], list[str], list[StoppedBackfill]]:
    """Release what dead runs of each of ``data_dirs`` hold (``servicelens runs release``'s
    :func:`~flows.recovery.release_dead_runs`), then mark crashed those of ``flow_run_ids``
    still unfinished (a run stopped before it made a record: ``Pending``, loading its flow).
    Returns the names of the served flow runs found unfinished, one line per release, and
    the backfills among them, and among the others that did not complete those whose range
    holds a date of ``left`` (the dates the stop left without an outcome, by layer), with
    ``own`` (serve's settings, whose data directory they need not name). A backfill's own
    process can end itself first (a terminal's Ctrl-C reaches its process group too): found
    unfinished or not, the rest of its range was not run (a loaded test run's serve named
    the date and not the backfill)."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.objects import StateType
    from prefect.states import Crashed

    from flows.recovery import UNFINISHED_STATES, crash_message, release_dead_runs, set_final_state

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[UUID(i) for i in flow_run_ids]))
        )
    unfinished = [r for r in runs if r.state is not None and r.state.type in UNFINISHED_STATES]
    # What the stopped runs left to do is said from ``left`` (:func:`stopped_message`).
    released = [line for settings in data_dirs for line in release_dead_runs(settings).lines]
    reason = "serve stopped while the flow run was executing"
    for run in unfinished:
        if set_final_state(run.id, Crashed(message=crash_message(reason, of_a_date=False))):
            released.append(f"{run.name}: {reason}; marked crashed")
    from servicelens.storage.partitions import discard_run_staging

    for run_id in flow_run_ids:  # what the stopped runs left staged, in whichever layer
        for settings in data_dirs:
            discard_run_staging(settings.staging_dir, run_id)
    backfills = []
    for run in runs:
        backfill = StoppedBackfill.of(run.name, dict(run.parameters), own.data_dir)
        if backfill is None:
            continue
        ended = run.state is None or run.state.type != StateType.COMPLETED
        holds = any(backfill.start <= day <= backfill.end for day in left.get(backfill.layer, []))
        if run in unfinished or (ended and holds):
            backfills.append(backfill)
    return [r.name for r in unfinished], released, backfills


def _backfill_command(layer: Layer, start: str, end: str, rerun: str) -> str:
    """``servicelens [--data-dir D] backfill [--source S] --start ... --end ... --rerun ...``:
    the data directory named when it is not serve's own (serve's is added to every command
    it suggests: :mod:`servicelens.reporting.suggested`)."""
    data_dir, source = layer
    where = f" --data-dir {shlex.quote(data_dir)}" if data_dir else ""
    flag = f" --source {source}" if source else ""
    return f"servicelens{where} backfill{flag} --start {start} --end {end} --rerun {rerun}"


def unfinished_lines(
    backfills: list[StoppedBackfill],
    days: dict[Layer, list[str]],
    left_by: str,
    not_started: dict[str, list[str]] | None = None,
) -> list[str]:
    """What to run to finish the work stopped or dead runs left: one line per backfill
    among them, with the rest of its range and its own ``--rerun`` policy, then one per
    layer of ``days`` (ISO dates the runs held and did not finish, by :data:`Layer`) that
    no backfill's command covers, with ``--rerun all``. ``left_by`` names the runs ("the
    runs serve stopped", "the dead runs"); ``not_started``: by backfill name, the dates of
    its range it never started, where that is known (an in-flight record's start and the
    dates' outcomes since: :func:`flows.recovery.left_to_do`), else its line says the dates
    after the first unfinished one "may not have run". Serve's stop (:func:`stopped_message`)
    and the recovery of dead runs (``serve`` as it starts, ``runs release``, a nightly or
    backfill) say it in these words."""
    lines = []
    # A stopped backfill's dates after the one it was running may never have been reached
    # (an operator's trial was told to run one date of ten again): its command runs the rest
    # of its range, from its first unfinished date, with its own rerun policy. Under
    # --rerun all that command runs its unfinished dates too, so they are not named again.
    covered: set[tuple[Layer, str]] = set()
    for backfill in backfills:
        layer = backfill.layer
        held = [d for d in days.get(layer, []) if backfill.start <= d <= backfill.end]
        never = None if not_started is None else not_started.get(backfill.name)
        if never is None:
            begin = held[0] if held else backfill.start
            what = f"the dates from {begin} on may not have run"
        elif not held and not never:
            continue  # every date of it had run when it died
        else:
            begin = min([*held, *never])
            said = [f"{', '.join(held)} left unfinished"] if held else []
            said += [f"{', '.join(never)} never started"] if never else []
            what = "; ".join(said)
        if backfill.rerun == "all":
            covered.update((layer, day) for day in held)
        lines.append(
            f"the backfill {backfill.name} stopped before its end ({backfill.start} to "
            f"{backfill.end}, --rerun {backfill.rerun}): {what}; run them again with: "
            + _backfill_command(layer, begin, backfill.end, backfill.rerun)
        )
    for layer, all_days in sorted(days.items(), key=lambda item: _order(item[0])):
        unfinished = [day for day in all_days if (layer, day) not in covered]
        if not unfinished:
            continue
        data_dir, source = layer
        of = (f" of source {source}" if source else "") + (f" in {data_dir}" if data_dir else "")
        lines.append(
            f"dates{of} left unfinished by {left_by}: {', '.join(unfinished)} (every "
            "partition on disk is the old one or the new one); run them again with: "
            + _backfill_command(layer, unfinished[0], unfinished[-1], "all")
        )
    return lines


def stopped_message(stopped: Stopped) -> str | None:
    """The lines serve prints about the flow runs it stopped, or None when none was still
    executing: how many, the dates they left unfinished with the backfill that runs each
    layer's again, what was released and what could not be."""
    lines = []
    if stopped.runs:
        lines.append(
            f"stopped {len(stopped.runs)} flow run(s) serve had started: {', '.join(stopped.runs)}"
        )
    lines += unfinished_lines(stopped.backfills, stopped.days, "the runs serve stopped")
    if stopped.killed:
        lines.append(f"{len(stopped.killed)} flow run(s) killed after {STOP_SECONDS:g} s")
    lines += [f"released: {line}" for line in stopped.released]
    if stopped.error and (stopped.runs or stopped.days):
        lines.append(
            f"not released ({stopped.error}): the next run or backfill releases what the "
            "stopped runs hold, or `servicelens runs release` now"
        )
    return "\n".join(lines) if lines else None
