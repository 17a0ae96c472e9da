"""Command log files are pruned to the newest ``log_keep`` when a command starts its log."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from servicelens.cli.logfile import log_file_path, logs_to_file, prune_logs


def _old_logs(logs: Path, count: int) -> list[Path]:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    paths = [log_file_path(logs, "run", start + timedelta(minutes=i)) for i in range(count)]
    logs.mkdir(parents=True)
    for path in paths:
        path.write_text("old\n")
    return paths


def test_prune_keeps_the_newest_by_time_and_leaves_other_files(tmp_path: Path) -> None:
    paths = _old_logs(tmp_path / "logs", 5)
    other = tmp_path / "logs" / "notes.txt"
    other.write_text("not a log\n")
    deleted = prune_logs(tmp_path / "logs", keep=2)
    assert deleted == paths[:3]
    assert sorted((tmp_path / "logs").iterdir()) == sorted([*paths[3:], other])


def test_a_command_writing_its_log_prunes_to_keep_including_itself(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    paths = _old_logs(logs, 4)
    new = log_file_path(logs, "backfill", datetime(2026, 11, 30, tzinfo=UTC))
    with logs_to_file(new, keep=3) as handler:
        assert len(list(logs.iterdir())) == 4  # nothing pruned before a record arrives
        logging.getLogger("servicelens.test").warning("first record")
        handler.flush()
    assert sorted(logs.iterdir()) == [*paths[2:], new]
    assert "first record" in new.read_text()


def test_a_command_that_logs_nothing_prunes_nothing(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    paths = _old_logs(logs, 3)
    with logs_to_file(log_file_path(logs, "query"), keep=1):
        pass
    assert sorted(logs.iterdir()) == paths


def test_a_disk_that_fills_under_the_log_file_is_said_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Found by a platform engineer's trial: a full temp disk made every log record print
    ``--- Logging error ---`` and a traceback, and the command's one-line message was lost
    among them. /dev/full answers every write with ENOSPC."""
    from servicelens.cli.logfile import RunLogHandler

    handler = RunLogHandler(Path("/dev/full"))
    logger = logging.getLogger("servicelens.test.full-disk")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        for n in range(3):
            logger.warning("record %d", n)
    finally:
        logger.removeHandler(handler)
        handler.close()
    err = capsys.readouterr().err
    assert "Logging error" not in err and "Traceback" not in err, err
    assert err.splitlines() == [
        "servicelens: cannot write the log file /dev/full (No space left on device): the "
        "rest of this command's log is not kept. Free space on /dev"
    ]


def test_a_log_kept_only_within_a_missing_folder_is_not_made(tmp_path: Path) -> None:
    """A read-only command's log is not kept in a data directory that does not exist:
    nothing is created, and the handler says nothing was written (no log to point at)."""
    data = tmp_path / "mistyped"
    with logs_to_file(log_file_path(data / "logs", "query"), only_within=data) as handler:
        logging.getLogger("servicelens.test").error("refused")
        handler.flush()
    assert not handler.written
    assert not data.exists()
    data.mkdir()
    with logs_to_file(log_file_path(data / "logs", "query"), only_within=data) as handler:
        logging.getLogger("servicelens.test").error("refused")
        handler.flush()
        assert handler.written
    assert len(list((data / "logs").iterdir())) == 1


_LOG_ONE_RECORD = """
import logging, os, sys
from datetime import UTC, datetime
from pathlib import Path
from servicelens.cli.logfile import log_file_path, logs_to_file
path = log_file_path(Path(sys.argv[1]), "backfill", datetime(2026, 12, 6, 9, 26, 52, tzinfo=UTC))
with logs_to_file(path) as handler:
    logging.getLogger("servicelens.test").warning("record of process %d", os.getpid())
    handler.flush()
print(path)
"""


def test_two_commands_started_in_the_same_second_keep_a_log_each(tmp_path: Path) -> None:
    """Found by a platform engineer's trial: two backfills started 2 s apart (one on Dask, one
    local) wrote into one ``servicelens-<time>-backfill.log``, and each command's failure line
    named that mixed file. Two real processes name their logs at the same UTC second here."""
    import subprocess
    import sys

    logs = tmp_path / "logs"
    started = [
        subprocess.Popen(
            [sys.executable, "-c", _LOG_ONE_RECORD, str(logs)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    said = [process.communicate(timeout=120)[0].strip() for process in started]
    assert [process.returncode for process in started] == [0, 0]
    paths = [Path(line) for line in said]
    assert paths[0] != paths[1]
    assert sorted(logs.iterdir()) == sorted(paths)
    for path, process in zip(paths, started, strict=True):
        assert path.name.startswith("servicelens-20261206T092652Z-")
        assert path.name.endswith("-backfill.log")
        [line] = path.read_text().splitlines()
        assert line.endswith(f"record of process {process.pid}")


_SAY_STEPS = """
import logging, sys, threading
from pathlib import Path
from servicelens.cli.console import said_if_slow, steps_said
from servicelens.cli.logfile import logs_to_file
from servicelens.runtime import STEPS_LOGGER
with logs_to_file(Path(sys.argv[1])) as handler, steps_said():
    logging.getLogger(STEPS_LOGGER).info("rebuilding the weekly marts of the run's weeks")
    with said_if_slow("building the report of sample", seconds=0.01):
        threading.Event().wait(1.0)
    handler.flush()
"""


def test_a_runs_long_steps_are_said_in_its_log_file_off_a_terminal(tmp_path: Path) -> None:
    """A command whose output is not a terminal (cron, a CI job, `> run.out 2>&1`) showed
    its long steps after the dates (the weekly marts' rebuild, the run report, a report
    read slowly from an object store) nowhere: they were printed on a terminal only, and
    their INFO records were dropped by the root logger's WARNING level before the log
    file's handler saw them. They are in the command's log file now."""
    import subprocess

    log = tmp_path / "logs" / "servicelens-run.log"
    said = subprocess.run(
        [sys.executable, "-c", _SAY_STEPS, str(log)], capture_output=True, text=True, check=True
    )
    assert said.stderr == "", said.stderr  # not a terminal: nothing printed
    text = log.read_text()
    assert "rebuilding the weekly marts of the run's weeks" in text, text
    assert "building the report of sample ..." in text, text
