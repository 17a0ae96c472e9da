"""Talking to Prefect cheaply, for what a backfill does once per date.

* Changing a Prefect setting for a block (``prefect.settings.temporary_settings``) copies
  and validates every setting again: tens of milliseconds a date (measured with cProfile).
  An :class:`Overlay` builds its copy once per settings object and re-enters it.
* :func:`busy_retrying_client` is Prefect's client, whose requests the API refused with
  503 are sent again within milliseconds instead of after Prefect's 2 s back-off.
"""

from __future__ import annotations

import functools
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from prefect import get_client
from prefect.client.orchestration import SyncPrefectClient
from prefect.context import SettingsContext, get_settings_context
from prefect.settings import (
    PREFECT_API_SSL_CERT_FILE,
    PREFECT_API_TLS_INSECURE_SKIP_VERIFY,
    PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
)

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


#: No flow-run heartbeat (flows/dates.py says when a date's run needs none).
WITHOUT_FLOW_HEARTBEAT = Overlay({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None})


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
