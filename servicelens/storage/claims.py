"""Runs in flight: what each one holds, and whether its process is still alive.

A run that holds a survey date (and the backfill or nightly-window run around it) keeps a
small record under ``<data>/runs/in-flight/``: its Prefect flow run, its process (pid, host),
when it started and last beat, the lock that proves it alive, and the backfill slot lease it
holds. A daemon thread rewrites the record every ``Settings.heartbeat_seconds`` (and renews
the lease when due); the record is removed when the run ends. A record left behind is a run
that did not end: its process was killed, or stopped by a signal (then the record says so).

Whether a record's process is alive:

* on the machine that wrote it, from its lock: a date's run holds the date's ``flock`` lock
  (``locks.py``), a backfill run a lock of its own. The kernel drops a dead process's locks,
  so a free lock proves, at once, that the process is gone;
* from another machine (Dask workers, an object-store data directory), where a free local
  lock proves nothing, from its beat: a record that missed :data:`STALE_BEATS` beats
  belongs to a dead (or frozen) process.

No Prefect here: ``flows/recovery.py`` marks a dead run's flow run crashed and releases its
slot. Sizes: one JSON file of about 500 bytes per run in flight.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Literal

from servicelens.runtime import is_rust_panic
from servicelens.settings import Settings, day_input_files
from servicelens.storage.fs import DataPath, write_text_whole
from servicelens.storage.locks import date_lock, date_lock_path, exclusive_lock, is_locked
from servicelens.storage.partitions import locks_dir
from servicelens.storage.runs import PlannedDate, record_outcome

IN_FLIGHT = "in-flight"
#: Beats a record may miss before a reader on another machine takes its run for dead.
STALE_BEATS = 4

log = logging.getLogger("servicelens.claims")

Kind = Literal["date", "run"]


@dataclass(frozen=True)
class Claim:
    """The record of one run in flight (see the module docstring)."""

    kind: Kind
    #: The Prefect flow run's name and id, e.g. ``nightly-2026-11-01``.
    name: str
    flow_run_id: str
    host: str
    pid: int
    started_at: str
    beat_at: str
    #: How often the record is rewritten while its run lives, in seconds.
    beat_seconds: float
    #: The lock file the run holds on ``host`` (the date's lock, or the run's own).
    lock: str
    day: str | None = None
    #: The backfill slot the run holds: the Prefect lease and its concurrency limit.
    lease_id: str | None = None
    limit: str | None = None
    #: What the run is doing, when it is waiting, or why it stopped.
    note: str = ""

    @property
    def record_name(self) -> str:
        return record_name(self.kind, self.day or "", self.flow_run_id)

    @property
    def owner(self) -> str:
        return f"process {self.pid} on {self.host}"

    def beat_age(self, now: datetime | None = None) -> float:
        """Seconds since the record was last rewritten."""
        return ((now or datetime.now(UTC)) - datetime.fromisoformat(self.beat_at)).total_seconds()

    @property
    def stale_after(self) -> float:
        return self.beat_seconds * STALE_BEATS


def record_name(kind: Kind, day: str, flow_run_id: str) -> str:
    return f"survey_date={day}" if kind == "date" else f"flow_run={flow_run_id}"


def in_flight_dir(settings: Settings) -> DataPath:
    return settings.runs_dir / IN_FLIGHT


def claim_path(settings: Settings, name: str) -> DataPath:
    return in_flight_dir(settings) / f"{name}.json"


def read_claim(settings: Settings, name: str) -> Claim | None:
    """The record ``name`` (e.g. ``survey_date=2026-11-01``), or None if there is none."""
    path = claim_path(settings, name)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        return Claim(**json.loads(text))
    except (TypeError, ValueError):
        log.warning("%s: not a record of a run in flight; ignored", path)
        return None


def read_date_claim(settings: Settings, day: date) -> Claim | None:
    return read_claim(settings, record_name("date", day.isoformat(), ""))


def list_claims(settings: Settings) -> list[Claim]:
    """Every record of a run in flight in this data directory, dates first."""
    folder = in_flight_dir(settings)
    if not folder.exists():
        return []
    found = [read_claim(settings, p.name.removesuffix(".json")) for p in folder.glob("*.json")]
    return sorted((c for c in found if c), key=lambda c: (c.kind, c.day or "", c.started_at))


def live_runs_holding(settings: Settings, except_run: str | None = None) -> list[str]:
    """The names of the live runs (sorted, each once) that hold a date of ``settings``'
    layer or run a backfill of it now: its in-flight records (:func:`list_claims`) whose
    process is alive (:func:`liveness`), but for those of the flow run ``except_run`` (the
    run asking). A report written meanwhile reads that layer's marts half rewritten."""
    return sorted(
        {
            claim.name
            for claim in list_claims(settings)
            if claim.flow_run_id != except_run and liveness(claim).alive
        }
    )


def remove_claim(settings: Settings, claim: Claim) -> None:
    """Delete a record (a run's own lock file too: its name is used once)."""
    claim_path(settings, claim.record_name).unlink(missing_ok=True)
    if claim.kind == "run" and claim.host == socket.gethostname():
        Path(claim.lock).unlink(missing_ok=True)


@dataclass(frozen=True)
class Liveness:
    """Whether a record's process is alive, and how that is known (for messages)."""

    alive: bool
    reason: str


def liveness(claim: Claim, now: datetime | None = None) -> Liveness:
    """Alive or dead, from the record's lock on its own machine, else from its beat."""
    if claim.host == socket.gethostname():
        if is_locked(Path(claim.lock)):
            return Liveness(True, f"{claim.owner} holds its lock")
        # The lock is the run's, not the process's: a Dask worker lives on after its run.
        return Liveness(False, f"the run in {claim.owner} is gone: its lock is free")
    age = claim.beat_age(now)
    if age <= claim.stale_after:
        return Liveness(True, f"{claim.owner} beat {age:.0f} s ago")
    return Liveness(
        False,
        f"{claim.owner} last beat {age:.0f} s ago (a live run beats every "
        f"{claim.beat_seconds:g} s)",
    )


def settled_liveness(settings: Settings, claim: Claim) -> Liveness:
    """Like :func:`liveness`, but for a record of another machine whose last beat is recent,
    watch it (at most one stale period) until it beats again or goes stale: a process
    that died a moment ago (a Dask worker whose date is retried elsewhere) still looks
    alive by its last beat."""
    first = liveness(claim)
    if claim.host == socket.gethostname() or not first.alive:
        return first
    deadline = time.monotonic() + claim.stale_after
    while time.monotonic() < deadline:
        time.sleep(min(1.0, claim.beat_seconds / 2))
        again = read_claim(settings, claim.record_name)
        if again is None or again.flow_run_id != claim.flow_run_id:
            return Liveness(True, f"{claim.owner} finished its run meanwhile")
        if again.beat_at != claim.beat_at:
            return Liveness(True, f"{claim.owner} beats (every {claim.beat_seconds:g} s)")
        verdict = liveness(again)
        if not verdict.alive:
            return verdict
    return liveness(read_claim(settings, claim.record_name) or claim)


# --- holding: the record of a run of this process, with its heartbeat ----------------------


@dataclass
class Held:
    """A record this process keeps while its run lasts (see :func:`hold_date`)."""

    settings: Settings
    claim: Claim
    thread: int
    depth: int = 1
    #: Called on every beat (a slot lease's renewal); errors are logged, never raised.
    on_beat: list[Callable[[], None]] = field(default_factory=list)
    #: Called when the process is stopped by a signal (release a lease), with the reason.
    on_abandon: list[Callable[[str], None]] = field(default_factory=list)
    _write: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _removed: bool = False
    #: The record of another run of the date that this one replaced when it took the date
    #: (on this machine its process is dead: it had let go of the lock): what it held is
    #: the caller's to release (flows/recovery.py).
    replaced: Claim | None = None

    def write(self, **changes: object) -> None:
        """Rewrite the record now, with ``changes`` applied and a fresh beat (not once the
        record is removed: a late beat must not bring it back)."""
        with self._write:
            if self._removed:
                return
            beat = datetime.now(UTC).isoformat()
            self.claim = replace(self.claim, beat_at=beat, **changes)  # type: ignore[arg-type]
            text = json.dumps(asdict(self.claim), indent=1)
            write_text_whole(claim_path(self.settings, self.claim.record_name), text)

    def note(self, text: str) -> None:
        self.write(note=text)

    def remove(self) -> None:
        """Stop beating and delete the record: the run has ended."""
        self._stop.set()
        with self._write:
            self._removed = True
            remove_claim(self.settings, self.claim)

    def hold_lease(
        self,
        lease_id: str,
        limit: str,
        renew: Callable[[], None],
        release: Callable[[str], None],
    ) -> None:
        """Record a slot lease: renewed on every beat, released if the process is stopped."""
        self.on_beat.append(renew)
        self.on_abandon.append(release)
        self.write(lease_id=lease_id, limit=limit, note="running")

    def stop_renewing(self) -> None:
        """Stop renewing the lease (it is being given back); the record still names it."""
        self.on_beat.clear()

    def drop_lease(self) -> None:
        """The lease is given back: no renewal, nothing to release, the record names none."""
        self.on_beat.clear()
        self.on_abandon.clear()
        self.write(lease_id=None, limit=None)

    def _beat(self) -> None:
        failing = False
        while not self._stop.wait(self.claim.beat_seconds):
            try:
                self.write()
            except Exception as error:  # a full disk or a store hiccup: try again next beat
                # Said once while it lasts: a trial's full disk printed it 55 times, burying
                # the date's own failure.
                if not failing:
                    log.warning(
                        "%s: could not rewrite its in-flight record: %s (tried again every "
                        "%g s, said again only once it works)",
                        self.claim.name,
                        error,
                        self.claim.beat_seconds,
                    )
                failing = True
            else:
                if failing:
                    log.warning("%s: its in-flight record is rewritten again", self.claim.name)
                failing = False
            for renew in list(self.on_beat):
                try:
                    renew()
                except Exception as error:
                    log.warning("%s: could not renew its slot lease: %s", self.claim.name, error)


_held: dict[str, Held] = {}
_registry = threading.Lock()
#: Set once a signal is stopping the process (:func:`refuse_new_holds`): no run is held
#: after it.
_stopping = threading.Event()


class ProcessStopping(BaseException):
    """Raised in a command's thread that would start holding a run (a date, a backfill)
    after a signal began stopping the process: the thread runs on while the main thread
    releases what the process held, and a date it held then would stay held by a dead
    process (the race a platform engineer's trial named for a SIGTERM that left one)."""


def refuse_new_holds() -> None:
    """From now on, no run is held by this process (:class:`ProcessStopping`): for a
    process a signal is stopping, before it abandons what it holds (:func:`abandon_held`).
    A hold registered before this is among what :func:`held_here` returns after it."""
    with _registry:
        _stopping.set()


def refuse_if_stopping() -> None:
    """Raise :class:`ProcessStopping` when this process is being stopped by a signal."""
    if _stopping.is_set():
        raise ProcessStopping("the process is stopping: no new run is started")


def held_here() -> list[Held]:
    """The records this process holds now."""
    with _registry:
        return list(_held.values())


@contextmanager
def _holding(settings: Settings, claim: Claim) -> Iterator[Held]:
    refuse_if_stopping()
    held = Held(settings, claim, threading.get_ident())
    previous = read_claim(settings, claim.record_name)
    if previous is not None and previous.flow_run_id != claim.flow_run_id:
        held.replaced = previous
    held.write()
    with _registry:
        # Registered, a hold is released with the others; refused, it leaves no record.
        stopping = _stopping.is_set()
        if not stopping:
            _held[claim.record_name] = held
    if stopping:
        held.remove()
        refuse_if_stopping()
    beat = threading.Thread(
        target=held._beat, name=f"servicelens-heartbeat-{claim.name}", daemon=True
    )
    beat.start()
    try:
        yield held
    except Exception:
        held.remove()
        raise
    except BaseException as stop:
        if is_rust_panic(stop):  # a bug (BaseException all the same): the run failed
            held.remove()
            raise
        # Stopped by a signal (KeyboardInterrupt, SystemExit, Prefect's TerminationSignal):
        # the record stays, saying so, for the next run to release what is left.
        _record_interrupted(held, f"interrupted ({type(stop).__name__})")
        raise
    else:
        held.remove()
    finally:
        held._stop.set()
        with _registry:
            _held.pop(claim.record_name, None)


def _new_claim(
    settings: Settings, kind: Kind, name: str, flow_run_id: str, lock: Path, day: str | None
) -> Claim:
    now = datetime.now(UTC).isoformat()
    return Claim(
        kind=kind,
        name=name,
        flow_run_id=flow_run_id,
        host=socket.gethostname(),
        pid=os.getpid(),
        started_at=now,
        beat_at=now,
        beat_seconds=settings.heartbeat_seconds,
        lock=str(lock),
        day=day,
        note="running",
    )


@contextmanager
def hold_date(
    settings: Settings, day: date, flow_run_id: str, name: str, wait_seconds: float
) -> Iterator[Held]:
    """Hold a survey date for one run: its lock (waiting up to ``wait_seconds``, then
    :class:`~servicelens.storage.locks.LockBusyError`), its in-flight record and heartbeat.

    The thread that holds a date may hold it again (the ``nightly`` flow inside a backfill's
    date run): the inner hold shares the outer one's record. A run that fails removes its
    record (a Rust panic too: a bug, not a stop); one stopped by a signal leaves it, saying
    so, with its outcome recorded as ``interrupted``.
    """
    name_key = record_name("date", day.isoformat(), "")
    with _registry:
        outer = _held.get(name_key)
    if outer is not None and outer.thread == threading.get_ident():
        outer.depth += 1
        try:
            yield outer
        finally:
            outer.depth -= 1
        return
    folder = locks_dir(settings.staging_dir)
    with date_lock(folder, day, wait_seconds):
        lock = date_lock_path(folder, day)
        claim = _new_claim(settings, "date", name, flow_run_id, lock, day.isoformat())
        with _holding(settings, claim) as held:
            yield held


@contextmanager
def hold_run(settings: Settings, flow_run_id: str, name: str) -> Iterator[Held]:
    """Keep an in-flight record of a backfill's or nightly window's own flow run, so a
    later run (or ``servicelens runs release``) can tell it died and mark it crashed."""
    lock = locks_dir(settings.staging_dir) / f"run-{flow_run_id}.lock"
    with exclusive_lock(lock, 0.0, f"flow run {name}"):
        claim = _new_claim(settings, "run", name, flow_run_id, lock, None)
        with _holding(settings, claim) as held:
            yield held


def _record_interrupted(held: Held, reason: str) -> None:
    """Write down that a held run was stopped: its date's outcome and its record's note."""
    held._stop.set()
    if held.claim.kind == "date" and held.claim.day:
        record_outcome(
            held.settings,
            date.fromisoformat(held.claim.day),
            held.claim.flow_run_id,
            "interrupted",
            error=reason,
        )
    held.note(reason)


def completed_anyway(held: Held) -> bool:
    """Whether a date run recorded as interrupted went on to complete: a signal lands
    between the date's last partition swap and its outcome record, and the run's thread
    records ``completed`` while the process stops (found by a trial: 60 ms after its
    interruption, a date named "recorded as interrupted" was recorded completed). Never
    raises: it is asked while the process stops."""
    if held.claim.kind != "date" or not held.claim.day:
        return False
    try:
        from servicelens.storage.runs import read_outcome

        record = read_outcome(held.settings, date.fromisoformat(held.claim.day)) or {}
    except Exception:
        return False
    return any(
        h.get("run_id") == held.claim.flow_run_id and h.get("outcome") == "completed"
        for h in record.get("history", [])
    )


def abandon_held(reason: str) -> list[Held]:
    """When the process is being stopped (a signal): record every run it holds as
    ``interrupted``, stop their heartbeats, and return them, so the caller can release
    their leases (``Held.on_abandon``) and then remove their records. A record whose
    release fails stays for the next run, which sees its process gone. Called after
    :func:`refuse_new_holds`, it returns every run the process will ever have held."""
    abandoned = held_here()
    for held in abandoned:
        try:
            _record_interrupted(held, reason)
        except Exception as error:  # keep going: the others must be recorded too
            log.warning("%s: could not record the interruption: %s", held.claim.name, error)
    return abandoned


def in_flight_action(settings: Settings, planned: PlannedDate) -> dict[str, str]:
    """What a backfill would do with a planned date, given any run of it still in flight:
    ``{"action": run | skip | recover | held | fail, "what_happens": ...}`` (for
    ``--dry-run``). ``fail``: the date would run, but its survey export (for a source, its
    landed partition) is not there, so its run would fail at once."""
    claim = read_date_claim(settings, planned.day)
    if claim is None:
        if planned.run:
            missing = _missing_export(settings, planned.day)
            if missing:
                return {"action": "fail", "what_happens": missing}
            return {"action": "run", "what_happens": "runs as a new nightly flow run"}
        return {"action": "skip", "what_happens": planned.todo or "nothing to do"}
    verdict = liveness(claim)
    if verdict.alive:
        return {
            "action": "held",
            "what_happens": f"{claim.name} is running it now ({verdict.reason}); reported as "
            "duplicate or held, not run twice",
        }
    then = "the date runs again" if planned.run else "the date is not run (rerun policy)"
    if planned.run and (missing := _missing_export(settings, planned.day)):
        then += f", and {missing}"
    return {
        "action": "recover" if planned.run else "skip",
        # A plan, not a report: the dry run changes nothing (a trial read "it is marked
        # crashed, its slot released" and took it as done; the next real run did it).
        "what_happens": f"{claim.name} died ({verdict.reason}): it would be marked crashed, "
        f"its slot released, and {then}",
    }


def _missing_export(settings: Settings, day: date) -> str:
    """Why a run of ``day`` would fail at once for want of its export, or ``""``."""
    export = day_input_files(settings, day)[0]
    if export.exists():
        return ""
    what = "survey export" if settings.is_sample else "landed partition"
    return f"fails at once: no {what} for {day} ({export}); nothing to process"
