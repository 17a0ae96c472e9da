"""Prefect settings changed for one block of code, and API calls retried without Prefect's
two-second back-off: what a backfill does per date, made cheap.

Changing a Prefect setting for a block (``prefect.settings.temporary_settings``) copies and
validates every setting again: tens of milliseconds a date (measured with cProfile), so an
:class:`Overlay` builds its copy once per settings object and re-enters it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
from prefect.context import SettingsContext, get_settings_context
from prefect.settings import PREFECT_CLIENT_MAX_RETRIES, PREFECT_FLOWS_HEARTBEAT_FREQUENCY

T = TypeVar("T")

#: How often :func:`promptly` tries a call again itself, and its first wait in seconds
#: (doubled each time: 0.05 .. 1.6 s, 3.2 s in all) before Prefect's own retries take over.
PROMPT_RETRIES = 6
PROMPT_FIRST_WAIT_SECONDS = 0.05


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
#: The API client's requests not retried by Prefect: :func:`promptly` retries them.
WITHOUT_CLIENT_RETRIES = Overlay({PREFECT_CLIENT_MAX_RETRIES: 0})


def promptly(call: Callable[[], T]) -> T:
    """Make one API request (``call``), trying it again after 50 ms, 100 ms, ... while the API
    answers 503 or the connection drops, then once more with Prefect's own retries.

    The embedded API answers 503 when its SQLite database refuses a write: a request that
    reads, then writes (taking or giving back a concurrency slot), fails at once when the
    API's event services commit in between, which they do right after every date's task
    runs. Prefect's client then waits 2 s (then 4, 8 ...) before trying again; in a 7-date
    backfill one slot request in three or four met it (measured by counting responses).
    Use it for requests that are safe to send twice, as Prefect's retries would.
    """
    wait = PROMPT_FIRST_WAIT_SECONDS
    for _ in range(PROMPT_RETRIES):
        try:
            with WITHOUT_CLIENT_RETRIES.context():
                return call()
        except httpx.HTTPStatusError as error:
            if error.response.status_code != httpx.codes.SERVICE_UNAVAILABLE:
                raise
        except httpx.TransportError:
            pass
        time.sleep(wait)
        wait *= 2
    return call()
