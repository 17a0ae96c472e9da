"""The lifetime of Prefect's embedded API server: stopped with the command that started it.

Without ``PREFECT_API_URL`` a command's first Prefect call starts a temporary API server, a
child process (``python -m uvicorn ... prefect.server.api.server:create_app``, about 230 MB).
Prefect stops it at interpreter exit, and :mod:`servicelens.cli.interrupts` stops it on
SIGINT and SIGTERM. A command killed outright (SIGKILL, the out-of-memory killer, a lost
terminal's process group surviving) cannot: its server is re-parented to init and runs on,
idle, until the machine restarts; one per killed command.

So every command first stops the servers that a killed command of the same Prefect home left
behind (:func:`stop_orphaned_servers`). A server is taken as left behind when its parent is
no longer a Python process (its owner was the Python that started it, ``sys.executable``;
once that dies, the kernel hands the server to init or to a subreaper). A server whose
parent is alive (another command running now, ``servicelens serve``, a Dask worker) is
never touched, nor is a server of another Prefect home or one started by ``prefect server
start`` (not marked ephemeral).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import random
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil

#: The module the embedded server's uvicorn runs (prefect/server/api/server.py).
SERVER_APP = "prefect.server.api.server:create_app"
#: Prefect marks the embedded server's environment so (``SubprocessASGIServer``).
EPHEMERAL_MARK = "PREFECT__SERVER_EPHEMERAL"
#: The mark of the embedded server ``servicelens serve`` starts with Prefect's services (its
#: scheduler among them), which Prefect's own mark would turn off (:func:`start_in_background`).
SERVING_MARK = "SERVICELENS_SERVING_API"
#: Seconds a stopped server gets to shut down before it is killed.
STOP_SECONDS = 5.0
#: Prefect's settings that keep the embedded server from registering its block types at
#: start (Prefect's defaults: true and true). Registration writes the catalogue of block
#: types the UI offers, which this server does not serve; nothing here saves or loads a
#: block, and saving one registers its type anyway (Prefect's docs, "Blocks"). Prefect
#: memoises registration by a hash of the block registry and the database URL, and to
#: compute that hash imports every installed collection (prefect-dask, so Dask's
#: ``distributed``) at every start, registration or not. Measured (2026-12-07, 2 cores at
#: load 7-10): see the README, "Two commands". A setting the user sets wins.
SKIP_BLOCK_REGISTRATION = {
    "PREFECT_SERVER_REGISTER_BLOCKS_ON_START": "false",
    "PREFECT_SERVER_MEMOIZE_BLOCK_AUTO_REGISTRATION": "false",
}
#: Prefect's setting that keeps the embedded server from running its task-run recorder
#: (Prefect's default: true), the service that turns every task run's state events
#: (Pending, Running, Completed: three a task run, two or three task runs a date) into
#: task-run and task-run-state rows of its database. Nothing here reads a task run (no
#: command, no flow, no test; the server serves no UI): flow runs, their states, artifacts,
#: concurrency slots and the events themselves, heartbeats included, are recorded as before.
#: The test API of ``tests/conftest.py`` has run without it since 2026-12-07. Measured
#: (2026-12-07, a fresh home, the bench's 7-date backfill, 2 cores at load 9-19): see the
#: README, "Scale" (the Prefect row alone). A setting the user sets wins.
SKIP_TASK_RUN_RECORDER = {"PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_ENABLED": "false"}


@dataclass(frozen=True)
class LeftBehind:
    """An embedded API server whose command is gone: its process id and start time (seconds
    since the epoch, as the process table gives it)."""

    pid: int
    created: float

    @property
    def started(self) -> datetime:
        return datetime.fromtimestamp(self.created)


def stop_own_server(wait_seconds: float) -> None:
    """Stop the embedded API server this process started, if any.

    For a process about to exit without Prefect's exit hooks (``os._exit`` after a signal).
    The server gets ``wait_seconds`` to shut down after SIGTERM, then is killed.
    """
    processes = [getattr(server, "server_process", None) for server in _embedded_servers()]
    for process in [*processes, _spawned.pop()[1] if _spawned else None]:
        if process is None:
            continue
        process.terminate()
        try:
            process.wait(wait_seconds)
        except Exception:
            process.kill()


def _embedded_servers() -> list[Any]:
    """The embedded API servers this process started (Prefect's ``SubprocessASGIServer``
    instances; Prefect keeps them in a class attribute, there is no public list).

    None while Prefect's server module is being imported: the command's thread may be
    importing it as a signal arrives, and a half-made module has no such class yet (found
    by a trial: Ctrl-C three seconds into a command ended in "unexpected AttributeError ...
    partially initialized module", exit 1, instead of "interrupted", exit 130)."""
    servers = getattr(sys.modules.get("prefect.server.api.server"), "SubprocessASGIServer", None)
    return list(getattr(servers, "_instances", {}).values())


def own_server_exit() -> int | None:
    """The exit status of the embedded API server this process started, if it has ended
    (negative: killed by that signal, as ``subprocess`` gives it); None while it runs, or
    when this process started none (``PREFECT_API_URL`` names a server, or Prefect has not
    been called yet). Reaps the server if it has ended, as ``Popen.poll`` does.

    Found while testing a killed server: Prefect's client retries a refused connection with
    growing waits, so a command whose server died spent about six minutes retrying before
    it failed; :func:`servicelens.cli.interrupts.run_stoppable` asks this instead."""
    for server in _embedded_servers():
        process = getattr(server, "server_process", None)
        if process is not None and getattr(server, "running", False):
            code = process.poll()
            # 3: the port was taken while it started; Prefect starts it again on another.
            if code is not None and code != PORT_TAKEN:
                return int(code)
    return None


#: The exit status of an embedded server whose port was taken as it started, which
#: ``SubprocessASGIServer.start`` answers by starting another.
PORT_TAKEN = 3


def orphaned_servers(prefect_home: Path) -> list[LeftBehind]:
    """The embedded API servers of ``prefect_home`` whose starting command has died.

    Reads the process table (psutil). Processes of other users, or that end while being
    read, are skipped. Returns them oldest first.
    """
    home = prefect_home.expanduser().resolve()
    found = []
    for process in psutil.process_iter(["cmdline", "create_time"]):
        cmdline = process.info["cmdline"] or []
        if SERVER_APP not in cmdline:
            continue
        try:
            environment = process.environ()
            if environment.get(EPHEMERAL_MARK) != "1" and environment.get(SERVING_MARK) != "1":
                continue
            server_home = environment.get("PREFECT_HOME")
            if not server_home or Path(server_home).expanduser().resolve() != home:
                continue
            if _parent_is_python(process, cmdline):
                continue
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        found.append(LeftBehind(process.pid, process.info["create_time"]))
    return sorted(found, key=lambda server: server.created)


def serving_api_url(prefect_home: Path) -> str | None:
    """The API URL of the embedded server a running ``servicelens serve`` of
    ``prefect_home`` started (marked :data:`SERVING_MARK`, its command alive), or None.

    That server listens on a port of its own choosing on 127.0.0.1, named nowhere but in
    its command line; Prefect's CLI run beside it without this URL started a temporary
    server of its own (found by a trial: ``prefect deployment run`` said "Deployment ...
    not found!" while serve ran, under another Prefect home)."""
    home = prefect_home.expanduser().resolve()
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if SERVER_APP not in cmdline or "--port" not in cmdline[:-1]:
            continue
        try:
            environment = process.environ()
            server_home = environment.get("PREFECT_HOME")
            if environment.get(SERVING_MARK) != "1" or not server_home:
                continue
            if Path(server_home).expanduser().resolve() != home:
                continue
            if not _parent_is_python(process, cmdline):
                continue  # left behind by a killed serve: stopped by the next command
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        host = cmdline[cmdline.index("--host") + 1] if "--host" in cmdline[:-1] else "127.0.0.1"
        return f"http://{host}:{cmdline[cmdline.index('--port') + 1]}/api"
    return None


def _parent_is_python(process: psutil.Process, cmdline: list[str]) -> bool:
    """Whether the server's parent runs the Python that started it (the server's own
    executable, ``cmdline[0]``): true while its command is alive."""
    parent = process.parent()
    if parent is None:
        return False
    try:
        return _same_file(parent.exe(), process.exe()) or _same_file(parent.exe(), cmdline[0])
    except psutil.AccessDenied:  # another user's process (init, a supervisor): not ours
        return False


def _same_file(one: str, other: str) -> bool:
    try:
        return os.path.samefile(one, other)
    except OSError:
        return False


def stop_orphaned_servers(prefect_home: Path) -> list[LeftBehind]:
    """Stop the servers :func:`orphaned_servers` finds: SIGTERM, then SIGKILL after
    :data:`STOP_SECONDS`. Returns those stopped; never raises (a server that ends by
    itself meanwhile counts as stopped, one that cannot be signalled is left)."""
    import psutil

    stopped = []
    for server in orphaned_servers(prefect_home):
        try:
            process = psutil.Process(server.pid)
            process.terminate()
            try:
                process.wait(STOP_SECONDS)
            except psutil.TimeoutExpired:
                process.kill()
        except psutil.NoSuchProcess:
            pass
        except psutil.AccessDenied:
            continue
        stopped.append(server)
    return stopped


def stopped_message(stopped: list[LeftBehind]) -> str:
    """One line for the terminal about the servers :func:`stop_orphaned_servers` stopped."""
    started = ", ".join(f"process {s.pid} since {s.started:%Y-%m-%d %H:%M}" for s in stopped)
    noun = "server" if len(stopped) == 1 else "servers"
    return (
        f"servicelens: stopped {len(stopped)} temporary Prefect API {noun} left running by "
        f"a killed command ({started})"
    )


def start_in_background(services: bool = False) -> None:
    """Start the embedded API server now, on a thread, so that it boots while the command
    imports its flows and reads its inputs; the first Prefect call waits until it answers.

    ``services``: with Prefect's server services, its scheduler among them, which create the
    deployments' scheduled runs (``servicelens serve``). Prefect's embedded server runs none
    (a trial's `serve` said it was polling for scheduled runs, and its nightly never fired:
    nothing created the runs). Without the services the server starts sooner and runs
    nothing in the background, which every other command wants.

    Prefect starts the server at a command's first API call and waits for it there: about
    5 s of the server's own process on a quiet 2-core machine, after about 3 s of the
    command's imports (flows, Great Expectations, scikit-learn) that could overlap it.
    ``servicelens run`` of a 5,099-survey date (``farm-bench``, five alternating runs): a
    median of 10.9 s against 13.9 s without it, all of the difference in start-up.

    Does nothing when ``PREFECT_API_URL`` names a server, or when this process already has
    an embedded server (started, or being started). Call it only once the command is sure
    to reach Prefect: a server started for a command that then refuses is stopped at exit,
    but its start is logged. Errors of the start are raised by the Prefect call that waits
    for it, as Prefect's own start raises them.
    """
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value():
        return
    # The server's process is started before Prefect's server module is imported here (1.5-
    # 3 s of the command's own start-up, needed only for the class that waits for it), so
    # the two overlap; none exists yet in a process that has not imported that module.
    loaded = sys.modules.get("prefect.server.api.server")
    if loaded is None or None not in loaded.SubprocessASGIServer._instances:
        port = _free_port()
        _spawned.append((port, _uvicorn_process(port, services)))
        atexit.register(_stop_unclaimed)
    server = _early_server_class()()
    if isinstance(server, _early_server_class()) and not server.running:
        server.services = services
        if _spawned:
            server.port = _spawned[-1][0]  # Prefect's start then waits for that process
        server.begin()
    else:  # this process has a server already (Prefect's test harness registers its own)
        _stop_unclaimed()


#: The server process :func:`start_in_background` started before this process had its server
#: object, with its port, until that object takes it (``EarlyServer._run_uvicorn_command``).
_spawned: list[tuple[int, subprocess.Popen[Any]]] = []


def _free_port() -> int:
    """A port free on 127.0.0.1 now, drawn as Prefect's ``SubprocessASGIServer`` draws
    one (8000-8999); should it be taken by the time the server binds it, the server exits
    with :data:`PORT_TAKEN` and Prefect starts another on a new port."""
    for _ in range(10):
        port = random.randrange(8000, 9000)
        with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("Unable to find an available port after multiple attempts")


def _uvicorn_process(port: int, services: bool) -> subprocess.Popen[Any]:
    """Prefect's own command (``SubprocessASGIServer._run_uvicorn_command``, Prefect
    3.8), in a session of its own, so a signal sent to the command's process group
    (``timeout``, ``kill -- -PGID``, a terminal's Ctrl-C) does not stop it before
    the command has released what it holds through it (found by a platform
    engineer's trial: a group SIGTERM left a date and a slot held, the release
    refused); the command stops it itself (:func:`stop_own_server`, and Prefect's
    exit handler). With ``services``, the server runs without Prefect's ephemeral
    mark, which turns them off, and with :data:`SERVING_MARK` instead, which tells
    it from a server that ``prefect server start`` runs."""
    import prefect
    from prefect.settings import get_current_settings

    marks = {SERVING_MARK: "1"} if services else {EPHEMERAL_MARK: "1"}
    environment = {
        **os.environ,
        "PREFECT_UI_ENABLED": "0",
        "PREFECT__SERVER_FINAL": "1",
        **SKIP_BLOCK_REGISTRATION,
        **SKIP_TASK_RUN_RECORDER,
        **marks,
        **get_current_settings().to_environment_variables(exclude_unset=True),
    }
    if services:
        environment.pop(EPHEMERAL_MARK, None)
    return subprocess.Popen(
        args=[
            sys.executable,
            "-m",
            "uvicorn",
            "--app-dir",
            str(prefect.__module_path__.parent),
            "--factory",
            SERVER_APP,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "error",
            "--lifespan",
            "on",
        ],
        env=environment,
        start_new_session=True,
    )


def _stop(process: subprocess.Popen[Any]) -> None:
    """Stop a server process: SIGTERM, SIGKILL after :data:`STOP_SECONDS`."""
    process.terminate()
    try:
        process.wait(STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _stop_unclaimed() -> None:
    """At exit: stop the server process no server object took (the command ended, or
    failed, before its first Prefect call could start the wait for it)."""
    while _spawned:
        _stop(_spawned.pop()[1])


def while_starting(prepare: Callable[[], object]) -> None:
    """Call ``prepare`` now if this process's embedded API server is still starting, else
    not at all: work the command's first Prefect call would otherwise sit out, waiting for
    the server (:func:`start_in_background`), such as importing Great Expectations and
    making its context, 2-3 s that the nightly flow paid after that wait. ``prepare`` must
    be work the command does later anyway (the flow then finds it done), so that calling
    it or not changes nothing but when; its errors are raised here."""
    servers = _embedded_servers()
    if any(getattr(s, "_starter", None) and not s._answered.is_set() for s in servers):
        prepare()


@functools.cache
def _early_server_class() -> type[Any]:
    """Prefect's ``SubprocessASGIServer``, started on a thread of its own.

    Prefect keeps one server per port in ``SubprocessASGIServer._instances`` and every
    Prefect call asks for the one of port None (``SubprocessASGIServer()``); its own test
    harness registers its server there too. An instance of this subclass registered there
    is the one those calls get: their ``start`` waits for the thread's start instead of
    returning while the server does not answer yet (Prefect marks it running before it
    answers, and its client would retry refused connections with growing waits)."""
    from prefect.server.api.server import SubprocessASGIServer

    class EarlyServer(SubprocessASGIServer):
        def __init__(self, port: int | None = None) -> None:
            super().__init__(port)
            if not hasattr(self, "_answered"):
                self._answered = threading.Event()
                self._starter: threading.Thread | None = None
                self._failure: BaseException | None = None

        #: Whether to run Prefect's server services (:func:`start_in_background`).
        services = False

        def _run_uvicorn_command(self) -> subprocess.Popen[Any]:
            """The server's process: the one :func:`start_in_background` started already
            (once, at its port), else a new one (:func:`_uvicorn_process`)."""
            if _spawned:
                port, spawned = _spawned.pop()
                if port == self.port:
                    return spawned
                _stop(spawned)
            assert self.port is not None
            return _uvicorn_process(self.port, self.services)

        def begin(self) -> None:
            if self._starter is not None:
                return
            self._starter = threading.Thread(
                target=self._start_here, name="servicelens-embedded-api", daemon=True
            )
            self._starter.start()

        def _start_here(self) -> None:
            try:
                super().start()
            except BaseException as error:  # raised by the call that waits for it
                self._failure = error
            finally:
                self._answered.set()

        def start(self, timeout: int | None = None) -> None:
            starter = self._starter
            if starter is not None and threading.current_thread() is not starter:
                self._answered.wait()
                failure, self._failure = self._failure, None
                if failure is not None:
                    self._starter = None  # the next call starts it again, as Prefect's does
                    raise failure
                if self.running:
                    return
            super().start(timeout)

    return EarlyServer
