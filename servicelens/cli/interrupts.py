"""Ctrl-C and SIGTERM stop any command within seconds, wherever it waits.

The command runs in a worker thread; the main thread only waits for it and handles the
signals, so a signal is never stuck behind a blocking call, a Prefect client's retries or
a server that is going away. On the first SIGINT or SIGTERM every run this process holds is
recorded as interrupted (its date's outcome record and its in-flight record, see
``servicelens.storage.claims``), the API gets up to :data:`RELEASE_SECONDS` to take back their
slots and mark their flow runs cancelled, the embedded Prefect API is stopped, and the
process exits (130 for SIGINT, 143 for SIGTERM) without waiting for the work: partitions are
swapped in whole, so a write cut short leaves the old partition or the new one. Whatever the
API could not release in time is released by the next run, which finds the process gone.
A second signal exits at once.

The main thread also watches the embedded API this process started: if it ends under the
command (killed, most often by the out-of-memory killer), the command's runs are recorded
as interrupted and it exits 2 at once, saying so (:func:`_api_gone`).

Either way the command says how to finish what it left: "run the same command again", or
what a command registered with :func:`said_when_stopped` (a backfill: the dates it
completed and the backfill of only those left).
"""

from __future__ import annotations

import argparse
import contextvars
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING, Any

from servicelens.cli.embedded_api import own_server_exit, stop_own_server
from servicelens.settings import Settings

if TYPE_CHECKING:
    from servicelens.storage.claims import Held

#: How long a stopped process gives the API to release what it held.
RELEASE_SECONDS = 3.0
#: How long the embedded API gets to shut down before it is killed.
API_STOP_SECONDS = 2.0
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}

Handler = Callable[[argparse.Namespace, Settings], int]

#: What the command says, when it is stopped, about finishing what it left
#: (:func:`said_when_stopped`), the innermost last.
_how_to_finish: list[Callable[[], str | None]] = []
SAME_COMMAND_AGAIN = "run the same command again to finish the rest"
#: The ways to finish of the :func:`said_when_stopped` blocks an error left, innermost first.
_after_error: list[Callable[[], str | None]] = []
#: Set when the command enters a :func:`said_when_stopped` block (:func:`began_running`).
_began_running = threading.Event()


class _Stop(BaseException):
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def stops_itself(handler: Handler) -> Handler:
    """Mark a handler that handles SIGINT and SIGTERM itself (``serve``: Prefect's runner
    stops the flow runs it started), so :func:`run_stoppable` runs it as is."""
    handler.stops_itself = True  # type: ignore[attr-defined]
    return handler


@contextmanager
def said_when_stopped(how_to_finish: Callable[[], str | None]) -> Iterator[None]:
    """While inside, a signal (or the embedded API's end) that stops the command says
    ``how_to_finish()`` instead of "run the same command again to finish the rest". It is
    asked as the process stops, after the runs it held are recorded interrupted; None, or
    an error, leaves the default. A backfill of ``--rerun all`` run again ran every date it
    had completed again (found by a user trial)."""
    _how_to_finish.append(how_to_finish)
    _began_running.set()
    try:
        yield
    except Exception:
        # An error that ends the command (Prefect's API losing its runs) is told after
        # this block has ended: keep the way to finish for it (:func:`finishing_after_error`).
        _after_error.append(how_to_finish)
        raise
    finally:
        _how_to_finish.remove(how_to_finish)


def finishing_after_error() -> str:
    """How to finish what a command that ended in an error left: what the innermost
    :func:`said_when_stopped` block the error left would have said of a stop (a backfill:
    the dates it completed and the backfill of those left), else "run the same command
    again to finish the rest". Found by a user trial: after Prefect's API lost a backfill's
    runs, "run the same command again" of a ``--rerun all`` ran its completed dates again.
    Never raises."""
    return _first_said(list(_after_error))


def began_running() -> bool:
    """Whether the command has entered a :func:`said_when_stopped` block: its runs (a
    backfill's dates, ``run``'s date) had started, so an error that ends it now is not a
    refusal made before any date ran. An object store that stopped answering mid-run exited
    2, the status of such a refusal (a platform engineer's trial)."""
    return _began_running.is_set()


def _finishing() -> str:
    """How to finish what the stopped command left (see :func:`said_when_stopped`). Never
    raises: it is asked while the process stops."""
    return _first_said(list(reversed(_how_to_finish)))


def _first_said(hows: list[Callable[[], str | None]]) -> str:
    """What the first of ``hows`` that says something says (one that raises says nothing),
    else "run the same command again to finish the rest"."""
    for how in hows:
        try:
            said = how()
        except Exception:
            continue
        if said:
            return said
    return SAME_COMMAND_AGAIN


def run_stoppable(handler: Handler, args: argparse.Namespace, settings: Settings) -> int:
    """Run a command's handler so that SIGINT and SIGTERM stop it within seconds.

    Errors the handler raises are raised here, in the calling thread. Outside the main
    thread (where signals cannot be handled), and for a handler that stops itself, the
    handler simply runs.
    """
    _after_error.clear()  # an earlier command's, in this process (tests, a served run)
    _began_running.clear()
    if threading.current_thread() is not threading.main_thread() or getattr(
        handler, "stops_itself", False
    ):
        return handler(args, settings)
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["code"] = handler(args, settings)
        except BaseException as error:  # handed to the main thread as is
            outcome["error"] = error

    # The handler sees the caller's context (Prefect keeps its settings in context vars).
    context = contextvars.copy_context()
    worker = threading.Thread(
        target=context.run, args=(work,), name="servicelens-command", daemon=True
    )

    def on_signal(signum: int, frame: FrameType | None) -> None:
        raise _Stop(signum)

    previous = {s: signal.signal(s, on_signal) for s in EXIT_CODES}
    try:
        worker.start()
        while worker.is_alive():
            worker.join(0.2)
            ended = own_server_exit()
            if ended is not None and worker.is_alive():
                _api_gone(ended)
    except _Stop as stop:
        _stop_now(stop.signum)
    finally:
        for signum, before in previous.items():
            signal.signal(signum, before)
    if "error" in outcome:
        raise outcome["error"]
    code: int = outcome["code"]
    return code


def _api_gone(status: int) -> None:
    """The embedded API this process started has ended under the command (``status`` as
    :func:`own_server_exit` gives it): record the runs it holds as interrupted, say so, and
    exit 2 at once, instead of letting Prefect's client retry a dead server for minutes."""
    from servicelens.storage.claims import abandon_held, completed_anyway, refuse_new_holds

    refuse_new_holds()
    how = f"exit status {status}"
    if -status in signal.valid_signals():
        how = f"killed by {signal.Signals(-status).name}"
    abandoned = abandon_held(f"the embedded Prefect API stopped ({how}; process {os.getpid()})")
    days = sorted(h.claim.day for h in abandoned if h.claim.day and not completed_anyway(h))
    recorded = f" Recorded as interrupted: {', '.join(days)}." if days else ""
    print(
        f"servicelens: error: Prefect's temporary embedded API stopped during the command "
        f"({how}; SIGKILL is most often the out-of-memory killer).{recorded} Dates that "
        f"finished are recorded; {_finishing()}",
        file=sys.stderr,
        flush=True,
    )
    sys.stdout.flush()
    os._exit(2)


def _stop_now(signum: int) -> None:
    """Record, release what can be released in time, stop the embedded API, and exit."""
    code = EXIT_CODES.get(signal.Signals(signum), 128 + signum)

    def at_once(signum: int, frame: FrameType | None) -> None:
        os._exit(code)

    for s in EXIT_CODES:
        signal.signal(s, at_once)
    name = signal.Signals(signum).name
    print(f"\nservicelens: {name}: stopping", file=sys.stderr, flush=True)
    reason = f"interrupted by {name} (process {os.getpid()})"
    from servicelens.storage.claims import abandon_held, refuse_new_holds

    # The command's thread runs on while this one releases: it must not hold a new date.
    refuse_new_holds()

    release: Callable[[str, float], list[Held]] | None = None
    if "flows.recovery" in sys.modules:  # Prefect work started: release through the API
        try:
            from flows.recovery import stop_held_runs
        except ImportError:  # half imported by the command's thread as the signal came
            pass
        else:
            release = stop_held_runs
    stopped = release(reason, RELEASE_SECONDS) if release else abandon_held(reason)
    stop_own_server(API_STOP_SECONDS)
    from servicelens.storage.claims import completed_anyway

    finished = sorted(h.claim.day for h in stopped if h.claim.day and completed_anyway(h))
    days = sorted(h.claim.day for h in stopped if h.claim.day and h.claim.day not in finished)
    if days:
        print(
            f"servicelens: recorded as interrupted: {', '.join(days)}.",
            file=sys.stderr,
        )
    if finished:
        print(
            f"servicelens: completed as it stopped (recorded completed): {', '.join(finished)}.",
            file=sys.stderr,
        )
    print(
        "servicelens: interrupted. Each partition is swapped in whole, so every partition on "
        f"disk is the old one or the new one; {_finishing()} (`servicelens runs show` lists "
        "anything still held)",
        file=sys.stderr,
        flush=True,
    )
    sys.stdout.flush()
    os._exit(code)
