"""Locks that keep two runs of the same date (or two writers of one partition) apart.

The locks are ``flock`` locks on small files under the data directory. The kernel releases
them when the process that holds them dies, even by SIGKILL, so a crashed run never leaves a
stale lock behind and the next run needs no clean-up. The file records who holds the lock,
so the run that has to wait (or give up) can say which process it is waiting for.

Threads of one process take turns too (a backfill may run dates on several threads); the
thread that holds a lock may take it again, as a re-entrant lock.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path

#: How often a waiting run checks whether the lock is free again.
POLL_SECONDS = 0.2

#: Per lock file: a thread lock (threads of one process take turns, the same thread may
#: re-enter), how deep the holding thread is, and the descriptor that holds the flock.
_guards: dict[str, threading.RLock] = {}
_depth: dict[str, int] = {}
_fds: dict[str, int] = {}
_registry = threading.Lock()


class LockBusyError(RuntimeError):
    """Another process holds the lock; the message names it and says what to do."""


def date_lock_path(lock_dir: Path, day: date) -> Path:
    """The lock file that one run of ``day`` holds from ingest to the marts."""
    return lock_dir / f"date-{day.isoformat()}.lock"


def partition_lock_path(lock_dir: Path, table: str, day: date) -> Path:
    """The lock file that the writer of one table's ``day`` partition holds while it swaps."""
    return lock_dir / f"partition-{table}-{day.isoformat()}.lock"


def lock_holder(path: Path) -> str:
    """Who took the lock on ``path`` last, as the lock file records it (for messages)."""
    return _holder(path)


def is_locked(path: Path) -> bool:
    """Whether some process (this one included) holds the lock on ``path`` now.

    Probes without taking the lock for long: a shared ``flock`` that fails proves an exclusive
    holder, one that succeeds is dropped at once. A holder that is waiting for the lock
    polls (:data:`POLL_SECONDS`), so a probe never makes it give up. The kernel drops a
    dead process's locks, so on the machine that holds the file a free lock proves that no
    live process holds it.
    """
    if _depth.get(os.path.abspath(path), 0) > 0:
        return True
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also drops the shared lock, if it was taken
    return False


def _holder(path: Path) -> str:
    try:
        who = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return "another process"
    if not isinstance(who, dict) or who.get("pid") is None:
        # A holder records itself right after taking the lock, and lets go of the lock if
        # it cannot (a full disk): a held lock whose file names nobody is a holder caught
        # between the two, or one of a servicelens that kept such a lock.
        return "a process that has not recorded itself in the lock file (is its disk full?)"
    return f"process {who.get('pid')} on {who.get('host')} (since {who.get('since')})"


@contextmanager
def exclusive_lock(path: Path, wait_seconds: float, what: str) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` for the ``with`` block.

    Other processes and other threads wait up to ``wait_seconds``, then get
    :class:`LockBusyError` naming ``what`` is locked and by whom (``wait_seconds=0`` refuses
    at once). The thread that holds the lock may take it again (re-entrant).
    """
    key = os.path.abspath(path)
    deadline = time.monotonic() + wait_seconds
    with _registry:
        guard = _guards.setdefault(key, threading.RLock())
    acquired = guard.acquire(timeout=wait_seconds) if wait_seconds > 0 else guard.acquire(False)
    if not acquired:
        raise LockBusyError(
            f"{path}: {what} is locked by another thread of this process (pid {os.getpid()}); "
            f"waited {wait_seconds:g}s. Let that run finish, then run again"
        )
    try:
        if _depth.get(key, 0) == 0:
            _fds[key] = _acquire_file(path, deadline, wait_seconds, what)
        _depth[key] = _depth.get(key, 0) + 1
        try:
            yield
        finally:
            _depth[key] -= 1
            if _depth[key] == 0:
                # Closing the descriptor releases the flock; the empty file stays.
                os.close(_fds.pop(key))
    finally:
        guard.release()


def _acquire_file(path: Path, deadline: float, wait_seconds: float, what: str) -> int:
    """Take the flock on ``path`` for this process, polling until ``deadline``."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise OSError(
            error.errno,
            f"cannot create the lock file for {what} ({error.strerror}); check that "
            f"{path.parent} exists and is writable",
            str(path),
        ) from error
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                holder = _holder(path)
                os.close(fd)
                raise LockBusyError(
                    f"{path}: {what} is locked by {holder}; waited {wait_seconds:g}s. Another "
                    "run of the same date is in progress: let it finish, then run again"
                ) from None
            time.sleep(POLL_SECONDS)
    # Who holds it, for the message of whoever has to wait. Written after locking, so it
    # only ever describes the current holder.
    try:
        os.ftruncate(fd, 0)
        os.pwrite(
            fd,
            json.dumps(
                {"pid": os.getpid(), "host": socket.gethostname(), "since": datetime.now(UTC)},
                default=str,
            ).encode(),
            0,
        )
    except OSError as error:
        # Let go of the lock: a descriptor left open here held it for as long as the process
        # lived, and the next writer of the same partition waited for a holder the file did
        # not name ("locked by process None", a platform engineer's trial on a full disk).
        os.close(fd)
        raise OSError(
            error.errno,
            f"cannot record the holder of the lock for {what}: {error.strerror or error}",
            str(path),
        ) from error
    return fd


@contextmanager
def date_lock(lock_dir: Path, day: date, wait_seconds: float) -> Iterator[None]:
    """Hold the lock of one survey date: one run of a date at a time."""
    with exclusive_lock(date_lock_path(lock_dir, day), wait_seconds, f"survey date {day}"):
        yield
