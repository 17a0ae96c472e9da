"""Where a command's logs go: a log file, so the terminal shows the message, not the noise.

Without ``-v`` every log record of the command (Prefect's flow and task lines, their
tracebacks, warnings of the libraries) is written to one file per command,
``<data-dir>/logs/servicelens-<UTC time>-<pid>-<command>.log``; the terminal shows progress, the
result, and, when the command fails, one line saying what is wrong and what to do, followed
by the log file's path. ``-v`` leaves Prefect's console logging as Prefect sets it up.

Prefect configures logging when it is first imported: it leaves the root logger alone when
that already has a handler of the application's (its ``setup_logging``), so the file handler
is installed before any command imports Prefect. A process that imported Prefect earlier (a
test calling :func:`servicelens.cli.main.main`) has Prefect's console handler on the root
logger already; it is silenced for the duration of the command.
"""

from __future__ import annotations

import errno
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from servicelens.runtime import STEPS_LOGGER
from servicelens.storage.fs import prune_to_newest

#: Above CRITICAL: a handler at this level lets nothing through.
_SILENT = logging.CRITICAL + 10
#: Loggers that Prefect's configuration keeps from propagating to the root logger, each with a
#: handler of its own that writes to the terminal.
_NON_PROPAGATING = ("prefect._internal", "prefect.extra", "uvicorn", "fastapi")
_FORMAT = "%(asctime)s.%(msecs)03d | %(levelname)-7s | %(name)s | %(threadName)s - %(message)s"


class RunLogHandler(logging.FileHandler):
    """Appends the command's log records to its log file, created (with its folder) only
    when the first record arrives: a command that logs nothing leaves no file. Creating it
    prunes the folder to the newest ``keep`` log files (:func:`prune_logs`).

    With ``only_within``, the file is created only if that folder (the data directory)
    exists when the first record arrives; otherwise the records are dropped and
    ``written`` stays False: a command that changes nothing must not make the folder of a
    mistyped ``--data-dir`` to keep its log in."""

    def __init__(self, path: Path, keep: int = 200, only_within: Path | None = None) -> None:
        super().__init__(path, mode="a", encoding="utf-8", delay=True)
        self.keep = keep
        self.only_within = only_within
        #: The folder ``only_within`` names does not exist: records are dropped, unsaid.
        self.dropped = False
        #: The file could not be created: records are dropped (said once on stderr).
        self.unwritable = False
        self.setLevel(logging.INFO)
        self.setFormatter(logging.Formatter(_FORMAT, "%Y-%m-%d %H:%M:%S"))

    def _open(self):  # type: ignore[no-untyped-def]  # typeshed: -> TextIOWrapper
        path = Path(self.baseFilename)
        path.parent.mkdir(parents=True, exist_ok=True)
        prune_logs(path.parent, keep=self.keep - 1, spare=path)
        return super()._open()

    def emit(self, record: logging.LogRecord) -> None:
        """Write ``record``; a log file that cannot be created is said once on stderr and
        the command goes on without it (found by an operator's trial: a read-only logs
        folder raised from the first log call, three chained tracebacks and no message)."""
        if self.unwritable or self.dropped:
            return
        if self.stream is None:
            if self.only_within is not None and not self.only_within.is_dir():
                self.dropped = True
                return
            try:
                self.stream = self._open()
            except OSError as error:
                self._give_up(error, "this command's log is not kept")
                return
        super().emit(record)

    def handleError(self, record: logging.LogRecord) -> None:  # logging's name
        """A record that could not be written: a disk that filled up under the log file
        (ENOSPC) stops the file, said once on stderr; the command's own one-line message
        follows as it would. Python's default printed ``--- Logging error ---`` and a
        traceback for every record after (a platform engineer's trial, a full temp disk),
        and the message that said what was wrong was lost among them. Other errors (a
        record that cannot be formatted) are left to logging."""
        error = sys.exc_info()[1]
        if isinstance(error, OSError):
            self._give_up(error, "the rest of this command's log is not kept")
        else:
            super().handleError(record)

    def flush(self) -> None:
        try:
            super().flush()
        except OSError as error:
            self._give_up(error, "the rest of this command's log is not kept")

    def close(self) -> None:
        try:
            super().close()
        except OSError as error:
            self._give_up(error, "the rest of this command's log is not kept")
            self.stream = None  # type: ignore[assignment]  # closed as far as it can be

    def _give_up(self, error: OSError, lost: str) -> None:
        """Stop writing the file, saying once why and what to do."""
        if self.unwritable:
            return
        self.unwritable = True
        folder = Path(self.baseFilename).parent
        fix = (
            f"Free space on {folder}" if error.errno == errno.ENOSPC else f"Make {folder} writable"
        )
        print(
            f"servicelens: cannot write the log file {self.baseFilename} "
            f"({error.strerror or error}): {lost}. {fix}",
            file=sys.stderr,
        )

    @property
    def path(self) -> Path:
        return Path(self.baseFilename)

    @property
    def written(self) -> bool:
        """Whether any record reached the file (it exists only then)."""
        return self.stream is not None


def log_file_path(logs_dir: Path, command: str, now: datetime | None = None) -> Path:
    """``<logs_dir>/servicelens-<UTC time>-<pid>-<command>.log``: the time (to the second)
    first, so the names sort by time; this process's id, so two commands started in the
    same second keep a file each (a platform engineer's trial: two backfills started 2 s
    apart wrote one mixed file, and each command's failure line named it)."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return logs_dir / f"servicelens-{stamp}-{os.getpid()}-{command}.log"


def prune_logs(logs_dir: Path, keep: int, spare: Path | None = None) -> list[Path]:
    """Delete all but the newest ``keep`` command log files in ``logs_dir``.

    Only files named like :func:`log_file_path`'s (``servicelens-<UTC time>-...log``)
    are considered (:func:`~servicelens.storage.fs.prune_to_newest`). ``spare`` (the file
    about to be written) is never deleted. Returns the deleted paths.
    """
    return prune_to_newest(logs_dir, "servicelens-*.log", keep, spare)


def _is_console(handler: logging.Handler) -> bool:
    # Prefect's console handler, and the stream handlers it puts on its non-propagating
    # loggers. A file handler is a StreamHandler too and is left alone, and so are other
    # libraries' handlers (pytest's log capture, for one).
    origin = type(handler).__module__.split(".")[0]
    return (
        isinstance(handler, logging.StreamHandler)
        and not isinstance(handler, logging.FileHandler)
        and origin in ("prefect", "logging")
    )


@contextmanager
def logs_to_file(
    path: Path, keep: int = 200, only_within: Path | None = None
) -> Iterator[RunLogHandler]:
    """Send every log record of the block to ``path`` instead of the terminal (nowhere, if
    ``only_within`` is given and does not exist: :class:`RunLogHandler`), the INFO lines of
    a run's long steps (:data:`~servicelens.runtime.STEPS_LOGGER`) among them.

    Yields the handler: ``handler.written`` tells whether the file holds anything worth
    pointing the user at. Console handlers present when the block starts are silenced until
    it ends, and the file handler is removed again.
    """
    handler = RunLogHandler(path, keep, only_within)
    root = logging.getLogger()
    silenced: list[tuple[logging.Handler, int]] = []
    for logger in (root, *(logging.getLogger(name) for name in _NON_PROPAGATING)):
        for existing in logger.handlers:
            if _is_console(existing):
                silenced.append((existing, existing.level))
                existing.setLevel(_SILENT)
    root.addHandler(handler)
    # A run's long steps (:data:`STEPS_LOGGER`) are INFO records: under the root logger's
    # WARNING they were dropped before reaching the file, and off a terminal, where nothing
    # prints them, they were nowhere.
    steps = logging.getLogger(STEPS_LOGGER)
    steps_level = steps.level
    steps.setLevel(logging.INFO)
    # Python's warnings (a library's deprecation notice) are log records too, in the file.
    logging.captureWarnings(True)
    try:
        yield handler
    finally:
        logging.captureWarnings(False)
        root.removeHandler(handler)
        steps.setLevel(steps_level)
        handler.close()
        for existing, level in silenced:
            existing.setLevel(level)
