"""Locks that keep two runs of the same date (or two writers of one partition) apart.

The locks are ``flock`` locks on small files under the data directory. The kernel releases
them when the process that holds them dies, even by SIGKILL, so a crashed run never leaves a
stale lock behind and the next run needs no clean-up. The file records who holds the lock,
so the run that has to wait (or give up) can say which process it is waiting for.

A lock is held per process: taking the same lock again in the same process (a flow's tasks
run in threads of the flow's process) succeeds at once and is counted, as a re-entrant lock.
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

_held: dict[str, tuple[int, int]] = {}  # lock path -> (file descriptor, depth)
_held_guard = threading.Lock()


class LockBusyError(RuntimeError):
    """Another process holds the lock; the message names it and says what to do."""


def date_lock_path(lock_dir: Path, day: date) -> Path:
    """The lock file that one run of ``day`` holds from ingest to the marts."""
    return lock_dir / f"date-{day.isoformat()}.lock"


def partition_lock_path(lock_dir: Path, table: str, day: date) -> Path:
    """The lock file that the writer of one table's ``day`` partition holds while it swaps."""
    return lock_dir / f"partition-{table}-{day.isoformat()}.lock"


def _holder(path: Path) -> str:
    try:
        who = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return "another process"
    return f"process {who.get('pid')} on {who.get('host')} (since {who.get('since')})"


@contextmanager
def exclusive_lock(path: Path, wait_seconds: float, what: str) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` for the ``with`` block.

    Waits up to ``wait_seconds`` for another process to finish, then raises
    :class:`LockBusyError` naming ``what`` is locked and by whom. ``wait_seconds=0`` refuses at
    once.
    """
    key = os.path.abspath(path)
    with _held_guard:
        if key in _held:
            fd, depth = _held[key]
            _held[key] = (fd, depth + 1)
            reentered = True
        else:
            reentered = False
    if reentered:
        try:
            yield
        finally:
            _release(key)
        return

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
    deadline = time.monotonic() + wait_seconds
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
    os.ftruncate(fd, 0)
    os.pwrite(
        fd,
        json.dumps(
            {"pid": os.getpid(), "host": socket.gethostname(), "since": datetime.now(UTC)},
            default=str,
        ).encode(),
        0,
    )
    with _held_guard:
        _held[key] = (fd, 1)
    try:
        yield
    finally:
        _release(key)


def _release(key: str) -> None:
    with _held_guard:
        fd, depth = _held[key]
        if depth > 1:
            _held[key] = (fd, depth - 1)
            return
        del _held[key]
    # Closing the descriptor releases the flock; the file stays, empty files cost nothing.
    os.close(fd)


@contextmanager
def date_lock(lock_dir: Path, day: date, wait_seconds: float) -> Iterator[None]:
    """Hold the lock of one survey date: one run of a date at a time."""
    with exclusive_lock(date_lock_path(lock_dir, day), wait_seconds, f"survey date {day}"):
        yield
