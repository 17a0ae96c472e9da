"""A date's slot lease through an API outage: what the keeper says (flows.slots.LeaseKeeper)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from uuid import uuid4

import httpx
import pytest


def test_a_lease_renewed_after_an_outage_says_how_long_since_the_last_renewal_that_worked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Found by a platform engineer's trial: after a 25 s outage of the Prefect server the
    date said "renewed again, after 5 s of failed renewals": renewals are tried a third of
    a lease apart, so the first failure was seen 20 s into the outage. The time since the
    last renewal that worked bounds the outage and says how close the lease came to ending."""
    from flows import slots

    answers: list[Exception | None] = [httpx.ConnectError("refused"), None]

    class Client:
        def renew_concurrency_lease(self, lease_id: object, seconds: float) -> None:
            answer = answers.pop(0)
            if answer is not None:
                raise answer

    @contextmanager
    def client(**kwargs: object) -> Iterator[Client]:
        yield Client()

    monkeypatch.setattr(slots, "get_client", client)
    keeper = slots.LeaseKeeper(uuid4(), "2026-10-01", "servicelens-dates", 60.0)
    said: list[str] = []

    class Said(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            said.append(record.getMessage())

    logger = logging.getLogger("servicelens.backfill")
    handler = Said(logging.WARNING)
    logger.addHandler(handler)
    try:
        keeper.renewed_at = time.monotonic() - 21  # renewed 21 s ago: one is due
        keeper.renew()  # the API is down
        keeper.failing_since = time.monotonic() - 4  # the next beat, 4 s later, gets through
        keeper.renew()
    finally:
        logger.removeHandler(handler)
    assert said[0].startswith("2026-10-01: could not renew its slot lease of servicelens-dates")
    assert said[1] == (
        "2026-10-01: its slot lease of servicelens-dates is renewed again, 21 s after the last "
        "renewal that worked (the lease lasts 60 s)"
    )
    assert not answers and not keeper.lost and keeper.failing_since is None
