"""Backfill slots: the global concurrency limit ``servicelens-backfill``, taken with leases.

Each date of a backfill holds one slot while it runs. A slot is a Prefect lease
(``POST /v2/concurrency_limits/increment-with-lease``) that lasts
``Settings.slot_lease_seconds`` (``SERVICELENS_SLOT_LEASE_SECONDS``, default 60 s, Prefect's
minimum) and that the date's heartbeat renews (``servicelens.storage.claims``) every third of
that time. When the holder dies the renewals stop and the slot comes back:

* at once, when the next backfill, the backfill waiting for the slot, or
  ``servicelens runs release`` finds the dead run's record and releases its lease (the one
  the record names, or, killed before the record named it, those whose holder is the run);
* otherwise within the lease time: a Prefect server's repossessor revokes expired leases
  every 15 s; the embedded API runs no such service, so a backfill that waits for a slot
  revokes expired leases itself. The embedded API keeps its leases in files
  (``servicelens.settings.PREFECT_FILE_LEASES``, set by the CLI), so they outlive the process
  that served them.

Slots never decay: a long live date keeps its slot for as long as it beats.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx
from prefect import get_client
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.objects import ConcurrencyLeaseHolder
from prefect.client.schemas.responses import ConcurrencyLimitWithLeaseResponse
from prefect.exceptions import ObjectNotFound
from prefect.settings import get_current_settings
from prefect.utilities.asyncutils import run_coro_as_sync

from flows.prefect_client import busy_retrying_client
from servicelens.checkpoints import checkpoint
from servicelens.settings import PREFECT_FILE_LEASES, SLOT_LEASE_BOUNDS, Settings
from servicelens.storage.claims import Held, Liveness, list_claims, liveness

#: The global concurrency limit backfill dates take a slot from (the nightly run does not).
BACKFILL_LIMIT = "servicelens-backfill"
#: Prefect's bounds on a lease's duration, in seconds (Settings.from_env refuses others).
LEASE_BOUNDS = SLOT_LEASE_BOUNDS
#: How often a date waiting for a slot asks again, and how often it says it is still waiting.
POLL_SECONDS = 1.0
SAY_FIRST_AFTER_SECONDS = 2.0
SAY_AGAIN_EVERY_SECONDS = 30.0

log = logging.getLogger("servicelens.backfill")


def lease_seconds(settings: Settings) -> float:
    """The slot lease time, checked against Prefect's bounds.

    Raises ValueError naming the setting when it is outside 60..86400 s.
    """
    low, high = LEASE_BOUNDS
    if not low <= settings.slot_lease_seconds <= high:
        raise ValueError(
            f"SERVICELENS_SLOT_LEASE_SECONDS={settings.slot_lease_seconds:g}: Prefect keeps a "
            f"slot lease between {low:g} and {high:g} seconds; choose a value in that range"
        )
    return settings.slot_lease_seconds


def ensure_backfill_limit(slots: int) -> None:
    """Create or resize the global concurrency limit that backfill dates share (no decay)."""
    with get_client(sync_client=True) as client:
        client.upsert_global_concurrency_limit_by_name(BACKFILL_LIMIT, slots)


@dataclass(frozen=True)
class SlotHolder:
    """One lease on the limit: whose it is, and whether its process is alive."""

    lease_id: str
    flow_run_id: str
    name: str
    expires: datetime | None
    #: None when no record of this data directory names the lease's run.
    alive: Liveness | None

    def describe(self, now: datetime | None = None) -> str:
        if self.alive is None:
            expiry = ""
            if self.expires:
                left = (self.expires - (now or datetime.now(UTC))).total_seconds()
                expiry = f", lease expires in {max(left, 0):.0f} s unless renewed"
            return f"{self.name} (a run of another data directory or machine{expiry})"
        state = "alive" if self.alive.alive else "dead"
        return f"{self.name} ({state}: {self.alive.reason})"


@dataclass(frozen=True)
class SlotUsage:
    """How many of the limit's slots are taken, and by whom (as far as can be seen)."""

    limit: int
    active: int
    holders: list[SlotHolder]
    #: Whether every lease could be seen (the embedded API's lease files): then slots that
    #: no lease accounts for are orphans, left by an API that died between its two writes.
    leases_visible: bool

    @property
    def orphans(self) -> int:
        return max(self.active - len(self.holders), 0) if self.leases_visible else 0

    @property
    def taken(self) -> str:
        """``2 of 2 taken``: the server's count, or the holders listed where they are more
        (:attr:`lag` then says so). A trial's wait read "0 of 2 taken, held by:
        nightly-team-form-2026-11-02 (alive ...)": the count, read a moment before the
        in-flight records, had not caught up with the slot granted between."""
        return f"{max(self.active, len(self.holders))} of {self.limit} taken"

    @property
    def lag(self) -> str:
        """``; the server's count, 0, lags`` where the holders listed are more than the
        server counts taken, else ""."""
        if len(self.holders) > self.active:
            return f"; the server's count, {self.active}, lags"
        return ""


def _leases_are_local() -> bool:
    """Whether this process can read the API's leases: an embedded API on file leases."""
    current = get_current_settings()
    return (
        current.api.url is None and current.server.concurrency.lease_storage == PREFECT_FILE_LEASES
    )


def _local_leases(limit_id: UUID) -> list[tuple[UUID, Any]]:
    """(lease id, lease) of every lease on ``limit_id`` in the embedded API's lease files."""
    from prefect.server.concurrency.lease_storage.filesystem import ConcurrencyLeaseStorage

    storage = ConcurrencyLeaseStorage()

    async def read() -> list[tuple[UUID, Any]]:
        ids = [
            *await storage.read_active_lease_ids(limit=10_000),
            *await storage.read_expired_lease_ids(limit=10_000),
        ]
        found = []
        for lease_id in dict.fromkeys(ids):
            lease = await storage.read_lease(lease_id)
            if lease is not None and limit_id in lease.resource_ids:
                found.append((lease_id, lease))
        return found

    result: list[tuple[UUID, Any]] = run_coro_as_sync(read()) or []
    return result


def slot_usage(settings: Settings, limit: str = BACKFILL_LIMIT) -> SlotUsage | None:
    """The limit's slots and their holders; None if the limit does not exist yet.

    Holders come from the embedded API's lease files when they can be read, else from the
    in-flight records of this data directory (a remote server does not list its leases).
    Either way the records of every layer of the directory name them, whichever source
    ``settings`` addresses (:func:`~flows.recovery.every_layer_of`): the sources share the
    slots.
    """
    with get_client(sync_client=True) as client:
        try:
            gcl = client.read_global_concurrency_limit_by_name(limit)
        except ObjectNotFound:
            return None
        from flows.recovery import every_layer_of  # recovery imports this module

        layers = every_layer_of(settings)
        claims = {c.flow_run_id: c for layer in layers for c in list_claims(layer)}
        holders: list[SlotHolder] = []
        if _leases_are_local():
            for lease_id, lease in _local_leases(gcl.id):
                holder = lease.metadata.holder if lease.metadata else None
                run_id = str(holder.id) if holder else ""
                claim = claims.get(run_id)
                name = claim.name if claim else _run_name(client, run_id)
                alive = liveness(claim) if claim else None
                holders.append(SlotHolder(str(lease_id), run_id, name, lease.expiration, alive))
        else:
            for claim in claims.values():
                if claim.lease_id and claim.limit == limit:
                    holders.append(
                        SlotHolder(
                            claim.lease_id, claim.flow_run_id, claim.name, None, liveness(claim)
                        )
                    )
            holders = _without_lapsed(holders, gcl.active_slots)
    return SlotUsage(gcl.limit, gcl.active_slots, holders, _leases_are_local())


def _without_lapsed(holders: list[SlotHolder], active: int) -> list[SlotHolder]:
    """On a server (whose leases cannot be listed), the holders named by in-flight records,
    less the dead ones whose leases must have run out: when the live holders alone account
    for every slot the server counts taken, a dead run's lease holds none (found by a trial:
    `runs show` said "0 of 2 taken" and listed a dead run's lease under it). Which dead
    holders still hold slots, when some slots are unaccounted for, cannot be told here."""
    alive = [h for h in holders if h.alive is None or h.alive.alive]
    return alive if len(alive) >= active else holders


def _run_name(client: Any, flow_run_id: str) -> str:
    if not flow_run_id:
        return "an unnamed holder"
    try:
        return str(client.read_flow_run(UUID(flow_run_id)).name)
    except Exception:  # a run of another database, or deleted: the id is all there is
        return f"flow run {flow_run_id}"


def release_lease(lease_id: str, client: SyncPrefectClient | None = None) -> None:
    """Give a lease's slots back (``decrement-with-lease``); a lease already gone is a no-op.

    ``client``: one from :func:`~flows.prefect_client.busy_retrying_client` to use, else
    one is opened for the call."""
    with nullcontext(client) if client else busy_retrying_client() as api:
        api.release_concurrency_slots_with_lease(UUID(lease_id))


def _readable_limit_id(client: SyncPrefectClient, limit: str) -> UUID | None:
    """The limit's id where its leases can be read (the embedded API's lease files), else
    None (on a Prefect server, or before the limit exists)."""
    if not _leases_are_local():
        return None
    try:
        return client.read_global_concurrency_limit_by_name(limit).id
    except ObjectNotFound:
        return None


def leases_held_by(flow_run_id: str, limit: str = BACKFILL_LIMIT) -> list[str]:
    """The ids of the limit's leases whose holder is the flow run ``flow_run_id``.

    Only where the leases can be read (the embedded API's lease files); on a Prefect server
    none are listed, and a lease its record does not name comes back when it expires.
    """
    with get_client(sync_client=True) as client:
        limit_id = _readable_limit_id(client, limit)
    if limit_id is None:
        return []
    return [
        str(lease_id)
        for lease_id, lease in _local_leases(limit_id)
        if lease.metadata and lease.metadata.holder and str(lease.metadata.holder.id) == flow_run_id
    ]


def release_expired_leases(limit: str = BACKFILL_LIMIT) -> list[str]:
    """Release the limit's expired leases, as a Prefect server's repossessor does: the
    embedded API runs no repossessor. Returns the released lease ids (none on a server)."""
    with get_client(sync_client=True) as client:
        limit_id = _readable_limit_id(client, limit)
        if limit_id is None:
            return []
        now = datetime.now(UTC)
        released = []
        for lease_id, lease in _local_leases(limit_id):
            if lease.expiration < now:
                client.release_concurrency_slots_with_lease(lease_id)
                released.append(str(lease_id))
    return released


def release_orphan_slots(usage: SlotUsage, limit: str = BACKFILL_LIMIT) -> int:
    """Give back slots that no lease accounts for (only where every lease can be seen).

    An orphan is left when an API process dies between counting a slot and writing its
    lease, or by servicelens versions before leases were kept in files. The count is taken
    twice, a few seconds apart, and only a count seen both times is released, so a slot
    being taken at that moment is never mistaken for one.
    """
    if usage.orphans == 0:
        return 0
    time.sleep(SAY_FIRST_AFTER_SECONDS)
    with get_client(sync_client=True) as client:
        gcl = client.read_global_concurrency_limit_by_name(limit)
        again = max(gcl.active_slots - len(_local_leases(gcl.id)), 0)
        orphans = min(usage.orphans, again)
        if orphans:
            client.release_concurrency_slots([limit], orphans, occupancy_seconds=1.0)
    return orphans


def _wait_message(day: str, limit: str, usage: SlotUsage | None, waited: float) -> str:
    if usage is None:
        return f"{day}: waiting {waited:.0f} s for a slot of {limit}"
    held = "; ".join(h.describe() for h in usage.holders) or "holders unknown"
    return (
        f"{day}: waiting {waited:.0f} s for a slot of {limit} ({usage.taken}, held by: "
        f"{held}{usage.lag}). A dead run's slot comes back within the lease time "
        f"(SERVICELENS_SLOT_LEASE_SECONDS); `servicelens runs release` frees it now"
    )


def take_slot(
    settings: Settings,
    flow_run_id: UUID,
    day: str,
    free_dead_holders: Callable[[], int],
    limit: str = BACKFILL_LIMIT,
    client: SyncPrefectClient | None = None,
    on_granted: Callable[[UUID], None] | None = None,
) -> UUID:
    """Take one slot of ``limit`` for the date's flow run, waiting as long as it takes.

    While every slot is taken it frees what dead runs hold (``free_dead_holders``: records of
    this data directory; expired leases of the embedded API) and says every
    :data:`SAY_AGAIN_EVERY_SECONDS` who holds the slots (logger ``servicelens.backfill``,
    which the CLI prints). Returns the lease id; raises RuntimeError if the limit does not
    exist (:func:`ensure_backfill_limit` creates it). ``client``: as for
    :func:`release_lease`. ``on_granted``: called with the lease id as soon as the API grants
    it (the date's record names the lease there), with SIGTERM and SIGINT held back from
    the request to its return (:func:`signals_held`), so a stop never lands between a lease
    the API has granted and the record that names it.
    """
    seconds = lease_seconds(settings)
    holder = ConcurrencyLeaseHolder(type="flow_run", id=flow_run_id)
    began = time.monotonic()
    said_at: float | None = None
    while True:
        with (
            nullcontext(client) if client else busy_retrying_client() as api,
            signals_held(),
        ):
            try:
                response = api.increment_concurrency_slots_with_lease(
                    names=[limit],
                    slots=1,
                    mode="concurrency",
                    lease_duration=seconds,
                    holder=holder,
                )
            except httpx.HTTPStatusError as error:
                if error.response.status_code != httpx.codes.LOCKED:
                    raise
            else:
                grant = ConcurrencyLimitWithLeaseResponse.model_validate(response.json())
                if not grant.limits:
                    raise RuntimeError(
                        f"the concurrency limit {limit} does not exist; it is created when a "
                        "backfill starts"
                    )
                # A process killed here holds a lease its record does not name yet: the
                # lease names the flow run as its holder, which is how recovery finds it on
                # the embedded API (leases_held_by); a signal waits for the record.
                checkpoint("slot-granted")
                if on_granted is not None:
                    on_granted(grant.lease_id)
                if said_at is not None:
                    log.warning("%s: got a slot of %s after %.0f s", day, limit, _since(began))
                return grant.lease_id
        if free_dead_holders() + len(release_expired_leases(limit)):
            continue
        waited = _since(began)
        due = SAY_FIRST_AFTER_SECONDS if said_at is None else said_at + SAY_AGAIN_EVERY_SECONDS
        if waited >= due:
            usage = slot_usage(settings, limit)
            freed = release_orphan_slots(usage, limit) if usage is not None else 0
            if freed:
                log.warning(
                    "%s: released %d slot(s) of %s that no lease held (left by an API that "
                    "was killed, or by a servicelens before slot leases were kept in files)",
                    day,
                    freed,
                    limit,
                )
                continue
            log.warning("%s", _wait_message(day, limit, usage, waited))
            said_at = waited
        time.sleep(POLL_SECONDS)


@dataclass
class LeaseKeeper:
    """Renews a date's slot lease from its heartbeat: every call renews it for ``seconds``
    once a third of that has passed since the last renewal (so a renewal that comes late,
    on a busy machine, has two thirds of the lease left).

    When the API answers 410 Gone the lease was revoked: the keeper says so once
    (:func:`lost_lease_message`, logger ``servicelens.backfill``) and stops renewing. Any
    other failure (the API not answering) is said once, tried again on every beat after,
    and said again only when a renewal succeeds."""

    lease_id: UUID
    day: str
    limit: str
    seconds: float
    renewed_at: float = field(default_factory=time.monotonic)
    lost: bool = False
    #: Since when renewals fail (time.monotonic()), if they do.
    failing_since: float | None = None

    def renew(self) -> None:
        if self.lost or _since(self.renewed_at) < self.seconds / 3:
            return
        try:
            with get_client(sync_client=True) as client:
                client.renew_concurrency_lease(self.lease_id, self.seconds)
        except Exception as error:
            gone = isinstance(error, httpx.HTTPStatusError) and (
                error.response.status_code == httpx.codes.GONE
            )
            if not gone:  # the API down or busy: tried again on the next beat
                self._failed(error)
                return
            self.lost = True
            log.warning(
                "%s",
                lost_lease_message(self.day, self.limit, _since(self.renewed_at), self.seconds),
            )
            return
        if self.failing_since is not None:
            # Counted from the last renewal that worked, which bounds the outage: renewals
            # are tried a third of a lease apart, so the first failure is seen late (a 25 s
            # outage read "after 5 s of failed renewals" in a platform engineer's trial).
            log.warning(
                "%s: its slot lease of %s is renewed again, %.0f s after the last renewal that "
                "worked (the lease lasts %.0f s)",
                self.day,
                self.limit,
                _since(self.renewed_at),
                self.seconds,
            )
            self.failing_since = None
        self.renewed_at = time.monotonic()

    def _failed(self, error: Exception) -> None:
        if self.failing_since is None:
            self.failing_since = time.monotonic()
            log.warning(
                "%s: could not renew its slot lease of %s (%s: %s); trying again on every "
                "beat, and the lease lasts %.0f s more",
                self.day,
                self.limit,
                type(error).__name__,
                error,
                max(self.seconds - _since(self.renewed_at), 0),
            )
        else:
            log.debug("%s: slot lease renewal failed again: %s", self.day, error)


def lost_lease_message(day: str, limit: str, since_renewal: float, seconds: float) -> str:
    """What a date says when the API answers 410 Gone to its lease renewal: the slot was
    taken back while the date ran. Its lease ran out (``since_renewal`` seconds after it was
    last renewed, against a lease of ``seconds``) and was revoked, by a backfill waiting for
    a slot or by a Prefect server's repossessor (module docstring)."""
    return (
        f"{day}: its slot of {limit} was taken back while it ran: Prefect no longer has its "
        f"lease, last renewed {since_renewal:.0f} s ago for {seconds:g} s (renewals came too "
        "late on a busy machine). The date goes on without a slot, so one date more than the "
        "limit may run meanwhile; a longer SERVICELENS_SLOT_LEASE_SECONDS gives a busy "
        "machine more time"
    )


@contextmanager
def signals_held() -> Iterator[None]:
    """Hold SIGTERM and SIGINT back until the block ends, then deliver the first one caught
    to the handler they had (Prefect's, which raises ``TerminationSignal``; Python's, which
    raises ``KeyboardInterrupt``). For the few calls that must not be cut in two, a lease
    and the record naming it. Only the main thread handles signals: elsewhere it does
    nothing (the signal reaches the main thread, which stops the run its own way). SIGKILL
    cannot be held: the record is written so that one leaves nothing unreleased.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous: dict[signal.Signals, Any] = {}
    for held in (signal.SIGTERM, signal.SIGINT):
        handler = signal.getsignal(held)
        if handler is not None:  # None: a handler not set from Python, left alone
            previous[held] = handler
            signal.signal(held, lambda number, _frame: caught.append(number))
    try:
        yield
    finally:
        for held, handler in previous.items():
            signal.signal(held, handler)
        if caught:
            signal.raise_signal(caught[0])


def _since(began: float) -> float:
    return time.monotonic() - began


@contextmanager
def backfill_slot(
    settings: Settings,
    held: Held,
    flow_run_id: UUID,
    free_dead_holders: Callable[[], int],
    limit: str | None = BACKFILL_LIMIT,
) -> Iterator[None]:
    """Hold one slot of ``limit`` (none if ``limit`` is None) for the ``with`` block.

    The lease is written into the date's in-flight record (so a later run can release it if
    this process dies), renewed by the record's heartbeat every third of the lease time, and
    released when the block ends, however it ends. The record names the lease until the API
    has taken it back: a stop or a second signal during the release (found by CI: serve
    stopped with a date in flight, its slot stayed taken for the lease time, a minute) leaves
    it named, and whoever finds the process gone releases it.
    """
    if limit is None:
        yield
        return
    held.note(f"waiting for a slot of {limit}")
    # One client takes and gives back the slot: a new client asks the API for a CSRF token
    # before its first write.
    with busy_retrying_client() as client:
        day = held.claim.day or ""

        def record(lease_id: UUID) -> None:
            keeper = LeaseKeeper(lease_id, day, limit, lease_seconds(settings))
            held.hold_lease(
                str(lease_id), limit, keeper.renew, lambda _reason: release_lease(str(lease_id))
            )

        lease_id = take_slot(
            settings, flow_run_id, day, free_dead_holders, limit, client, on_granted=record
        )
        try:
            yield
        finally:
            with signals_held():
                held.stop_renewing()
                release_lease(str(lease_id), client)
                held.drop_lease()
