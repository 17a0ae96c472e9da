"""Talking to Prefect cheaply, for what a backfill does once per date.

* Changing a Prefect setting for a block (``prefect.settings.temporary_settings``) copies
  and validates every setting again: tens of milliseconds a date (measured with cProfile).
  An :class:`Overlay` builds its copy once per settings object and re-enters it.
* :func:`busy_retrying_client` is Prefect's client, whose requests the API refused with
  503 are sent again within milliseconds instead of after Prefect's 2 s back-off.
* :func:`prompt_flow_heartbeats`: the flow-run heartbeat events Prefect sends, from a
  thread that stops the moment the run ends. Prefect's own heartbeat thread sleeps in
  one-second steps and the run waits for it: every flow run ended 0-1 s late (exactly 1 s
  late for a run shorter than a second).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, ParamSpec, TypeVar

import httpx
from prefect import Flow, flow, get_client
from prefect.client.orchestration import SyncPrefectClient
from prefect.context import FlowRunContext, SettingsContext, get_settings_context
from prefect.events import emit_event
from prefect.flow_engine import MINIMUM_HEARTBEAT_INTERVAL, FlowRunEngine
from prefect.settings import (
    PREFECT_API_SSL_CERT_FILE,
    PREFECT_API_TLS_INSECURE_SKIP_VERIFY,
    PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
)
from prefect.utilities.hashing import file_hash

#: How often :class:`BusyRetryTransport` sends a refused request again, and its first wait
#: in seconds (doubled each time: 0.05 .. 1.6 s, 3.15 s in all) before it hands the 503 to
#: Prefect's client, which retries with its own back-off.
BUSY_RETRIES = 6
BUSY_FIRST_WAIT_SECONDS = 0.05
#: Connection retries of Prefect's own transport, kept for ours.
CONNECT_RETRIES = 3


class Overlay:
    """Prefect's current settings with ``updates`` applied, as a context to enter; the copy
    is made once per settings object it was asked for (threads share it)."""

    def __init__(self, updates: dict[Any, Any]) -> None:
        self._updates = updates
        self._lock = threading.Lock()
        self._pair: tuple[Any, Any] | None = None

    def context(self) -> SettingsContext:
        current = get_settings_context()
        with self._lock:
            if self._pair is None or self._pair[0] is not current.settings:
                self._pair = (current.settings, current.settings.copy_with_update(self._updates))
            changed = self._pair[1]
        return SettingsContext(profile=current.profile, settings=changed)


#: No flow-run heartbeat from Prefect's engine (flows/dates.py says when a date's run needs
#: none; :func:`prompt_flow_heartbeats` sends them itself).
WITHOUT_FLOW_HEARTBEAT = Overlay({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None})

#: Seconds between the heartbeats :func:`sends_heartbeats` sends for a flow run started
#: inside :func:`prompt_flow_heartbeats`; None: Prefect's engine sends them, or none are sent.
_OWN_HEARTBEAT: ContextVar[int | None] = ContextVar("servicelens_heartbeat", default=None)

#: Prefect's heartbeat event, which its zombie-flow automations watch for.
HEARTBEAT_EVENT = "prefect.flow-run.heartbeat"

P = ParamSpec("P")
R = TypeVar("R")


def heartbeat_seconds() -> int | None:
    """How often flow runs started here should send heartbeats: servicelens's interval inside
    :func:`prompt_flow_heartbeats`, else ``PREFECT_FLOWS_HEARTBEAT_FREQUENCY`` (None: none).
    For handing to another process (a Dask worker), which inherits Prefect's settings but not
    this process's context."""
    own = _OWN_HEARTBEAT.get()
    if own is not None:
        return own
    configured = PREFECT_FLOWS_HEARTBEAT_FREQUENCY.value()
    return None if configured is None else int(configured)


@contextmanager
def prompt_flow_heartbeats(every: int | None = None) -> Iterator[None]:
    """Run the top-level flow runs started inside with their heartbeat events sent by
    :func:`sends_heartbeats` instead of Prefect's engine: the same event, resource and
    related resources, every ``PREFECT_FLOWS_HEARTBEAT_FREQUENCY`` seconds (at least
    Prefect's minimum, 30), from a thread that stops as soon as the flow's function returns.

    Prefect's own thread sleeps in one-second steps and its flow run joins it: a flow run
    ended up to 1 s after its work (1 s for one shorter than a second: 1.07 s against 0.09 s
    for an empty flow, measured), which a 7-date backfill paid once and ``servicelens run``
    on every call. With heartbeats turned off (the setting None) nothing changes. For the
    command line and the bench; a deployment's run (the runner starts it) keeps Prefect's.
    ``every`` (seconds) is the interval :func:`heartbeat_seconds` gave another process: a
    Dask worker inherits the parent's settings, with Prefect's heartbeats off."""
    seconds = heartbeat_seconds() if every is None else every
    if seconds is None:
        yield
        return
    with _engine_without_heartbeat(max(int(seconds), MINIMUM_HEARTBEAT_INTERVAL)):
        yield


@contextmanager
def without_flow_heartbeats() -> Iterator[None]:
    """No heartbeat for the flow runs started inside, from Prefect's engine or from
    :func:`sends_heartbeats` (a date run inside a parent flow run's process: flows/dates.py)."""
    with _engine_without_heartbeat(None):
        yield


@contextmanager
def _engine_without_heartbeat(own: int | None) -> Iterator[None]:
    """Prefect's engine sends no heartbeat inside; :func:`sends_heartbeats` sends one every
    ``own`` seconds (None: none)."""
    token = _OWN_HEARTBEAT.set(own)
    try:
        with WITHOUT_FLOW_HEARTBEAT.context():
            yield
    finally:
        _OWN_HEARTBEAT.reset(token)


def sends_heartbeats(fn: Callable[P, R]) -> Callable[P, R]:
    """For a top-level flow's function (below ``@flow``): inside
    :func:`prompt_flow_heartbeats`, send its run's heartbeats while it runs."""

    @functools.wraps(fn)
    def beating(*args: P.args, **kwargs: P.kwargs) -> R:
        with _heartbeats_of_this_run():
            return fn(*args, **kwargs)

    # Prefect validates a flow's parameters against its function's signature, resolving
    # string annotations in that function's module: this one's is not the flow's, so the
    # signature is given resolved (as it is, where a name cannot be resolved).
    try:
        signature = inspect.signature(fn, eval_str=True)
    except NameError:
        signature = inspect.signature(fn)
    beating.__signature__ = signature  # type: ignore[attr-defined]
    return beating


def beating_flow(**options: Any) -> Callable[[Callable[P, R]], Flow[P, R]]:
    """``@flow(**options)`` for a top-level flow, whose function :func:`sends_heartbeats`.
    Its version stays what Prefect makes it, the hash of the flow's own file (Prefect would
    otherwise hash the file of the wrapper: this one)."""

    def decorate(fn: Callable[P, R]) -> Flow[P, R]:
        source = inspect.getsourcefile(fn)
        version = {"version": file_hash(source)} if source and "version" not in options else {}
        # Options pass through as the caller wrote them for @flow: its overloads cannot tell.
        made: Flow[P, R] = flow(**options, **version)(sends_heartbeats(fn))  # type: ignore[call-overload]
        return made

    return decorate


@contextmanager
def _heartbeats_of_this_run() -> Iterator[None]:
    seconds = _OWN_HEARTBEAT.get()
    context = FlowRunContext.get()
    if seconds is None or context is None or context.flow_run is None or context.flow is None:
        yield
        return
    # The resource and related resources as Prefect's engine builds them for this run.
    engine: FlowRunEngine[Any, Any] = FlowRunEngine(flow=context.flow, flow_run=context.flow_run)
    resource, related = engine._build_heartbeat_event_template()
    stop = threading.Event()

    def beat() -> None:
        while True:
            # As Prefect's loop: a missed beat is not the run's failure.
            with contextlib.suppress(Exception):
                emit_event(event=HEARTBEAT_EVENT, resource=resource, related=related)
            if stop.wait(seconds):
                return

    # The thread sees this context's settings (the API the run talks to), as Prefect's does.
    thread = threading.Thread(
        target=contextvars.copy_context().run, args=(beat,), name="flow-heartbeat", daemon=True
    )
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=2)


class BusyRetryTransport(httpx.HTTPTransport):
    """An HTTP transport that sends a request again after 50 ms, 100 ms, ... while the API
    answers 503 (at most :data:`BUSY_RETRIES` times), then returns the last answer.

    The embedded API answers 503 when its SQLite database refuses a write: a request that
    reads, then writes (taking or giving back a concurrency slot), fails at once when the
    API's event services commit in between, which they do right after every date's task
    runs. Prefect's client then sleeps 2 s before trying again, and sleeps even when it is
    told not to retry; in a 7-date backfill one slot request in three or four met it
    (measured by counting the responses). Use it only for requests that are safe to send
    twice, as Prefect's own retries would.
    """

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        wait = BUSY_FIRST_WAIT_SECONDS
        for _ in range(BUSY_RETRIES):
            response = super().handle_request(request)
            if response.status_code != httpx.codes.SERVICE_UNAVAILABLE:
                return response
            response.read()
            response.close()
            time.sleep(wait)
            wait *= 2
        return super().handle_request(request)


@functools.cache
def _tls_context(skip_verify: bool, cert_file: str | None) -> ssl.SSLContext:
    """The TLS context Prefect's client builds for itself (PREFECT_API_TLS_INSECURE_SKIP_VERIFY,
    PREFECT_API_SSL_CERT_FILE, else httpx's default: certifi's bundle), built once: loading
    the certificates took 70 ms a client (sampled), and Prefect builds one for every new
    client unless it is handed one."""
    if skip_verify:
        return httpx.create_ssl_context(verify=False)
    if cert_file:
        return ssl.create_default_context(cafile=cert_file)
    return httpx.create_ssl_context()


@contextmanager
def busy_retrying_client() -> Iterator[SyncPrefectClient]:
    """Prefect's synchronous client over a :class:`BusyRetryTransport`."""
    tls = _tls_context(
        bool(PREFECT_API_TLS_INSECURE_SKIP_VERIFY.value()), PREFECT_API_SSL_CERT_FILE.value()
    )
    transport = BusyRetryTransport(verify=tls, retries=CONNECT_RETRIES)
    settings = {"transport": transport, "verify": tls}
    with get_client(sync_client=True, httpx_settings=settings) as client:
        yield client
