"""Crash safety, proven by killing real processes.

Each test runs the pipeline for a date in a child process, stops it at a named point (a
checkpoint in the real code), SIGKILLs it, and then checks what a BI reader would see: every
partition is either the previous complete version or the new complete one. The next run
must complete and leave no duplicates. Two runs of one date at once must take turns or
refuse with a clear message. A full disk or a read-only folder must give a clear error.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import date, timedelta
from multiprocessing.context import ForkServerContext
from multiprocessing.process import BaseProcess
from pathlib import Path

import duckdb
import polars as pl
import pytest

from servicelens.settings import Settings
from servicelens.stages import publish_clean, validate_day
from servicelens.storage.partitions import DATA_FILE, MANIFEST_FILE, StorageError, write_partition
from servicelens.storage.runs import date_status, plan_nightly
from servicelens.synthetic.generator import generate
from tests.reliability.driver import REFUSED
from transforms.schemas import QUARANTINE_ROW_SCHEMA

DAY = date(2026, 10, 3)
TABLES = ("clean/responses", "quarantine", "marts/feedback_scored", "marts/daily_summary")
WAIT_FOR_PAUSE_SECONDS = 120.0


@pytest.fixture(scope="module")
def forkserver() -> ForkServerContext:
    """Children forked from a server that imported the pipeline once (fast, clean starts)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["tests.reliability.driver"])
    return context


@pytest.fixture(scope="module")
def previous_run(
    tmp_path_factory: pytest.TempPathFactory, forkserver: ForkServerContext
) -> Iterator[tuple[Path, float]]:
    """A data directory where DAY was published completely (run ``v1``); then a corrected
    export arrives (the last 25 responses removed), so a new run writes different counts.

    Also how long, in seconds, a run of the corrected export takes on this machine now
    (timed on a copy, so the directory stays at ``v1``)."""
    root = tmp_path_factory.mktemp("previous")
    generate(root, DAY, DAY, per_day=150, seed=4, mess=True)
    child = _start(forkserver, root, "v1", tmp_path_factory.mktemp("v1") / "pause")
    child.join(WAIT_FOR_PAUSE_SECONDS)
    assert child.exitcode == 0
    surveys = root / "raw" / DAY.isoformat() / "surveys.csv"
    lines = surveys.read_bytes().split(b"\n")
    surveys.write_bytes(b"\n".join(lines[:-26]) + b"\n")
    timed = tmp_path_factory.mktemp("timed") / "data"
    shutil.copytree(root, timed, symlinks=True)
    started = time.monotonic()
    child = _start(forkserver, timed, "timed", timed.parent / "run")
    child.join(WAIT_FOR_PAUSE_SECONDS)
    seconds = time.monotonic() - started
    assert child.exitcode == 0
    yield root, seconds


@pytest.fixture
def previous_version(previous_run: tuple[Path, float]) -> Path:
    return previous_run[0]


def _start(
    context: ForkServerContext,
    root: Path,
    run_id: str,
    pause_file: Path,
    pause_at: str = "",
    lock_wait: float = 30.0,
) -> BaseProcess:
    from tests.reliability.driver import run_date

    child = context.Process(
        target=run_date,
        args=(str(root), DAY.isoformat(), run_id, pause_at, str(pause_file), lock_wait),
    )
    child.start()
    return child


def _wait_for_pause(child: BaseProcess, pause_file: Path) -> None:
    deadline = time.monotonic() + WAIT_FOR_PAUSE_SECONDS
    while not pause_file.exists():
        assert child.is_alive(), f"the run ended (exit {child.exitcode}) before pausing"
        assert time.monotonic() < deadline, "the run never reached its checkpoint"
        time.sleep(0.05)


def _kill(child: BaseProcess) -> None:
    assert child.pid is not None
    os.kill(child.pid, signal.SIGKILL)
    child.join(30)
    assert child.exitcode == -signal.SIGKILL


def _partition_state(root: Path, table: str) -> tuple[str, int]:
    """(run id, rows) of a table's DAY partition, after checking it is complete and whole."""
    part = root / table / f"survey_date={DAY}"
    assert sorted(p.name for p in part.iterdir()) == [MANIFEST_FILE, DATA_FILE], part
    manifest = json.loads((part / MANIFEST_FILE).read_text())
    rows = duckdb.sql(f"SELECT count(*) FROM read_parquet('{part / DATA_FILE}')").fetchall()[0]
    assert rows[0] == manifest["rows"], (table, rows, manifest["rows"])
    return str(manifest["run_id"]), int(manifest["rows"])


def _no_duplicates_and_reconciled(root: Path) -> None:
    for table in ("clean/responses", "marts/feedback_scored"):
        glob = root / table / "*" / "*.parquet"
        result = duckdb.sql(
            f"SELECT count(*), count(DISTINCT response_id) FROM read_parquet('{glob}')"
        ).fetchall()[0]
        assert result[0] == result[1], (table, result)
    counts = json.loads((root / "quarantine" / f"survey_date={DAY}" / MANIFEST_FILE).read_text())[
        "counts"
    ]
    assert counts["surveys_read"] == counts["kept"] + counts["quarantined"]


#: Where the run is killed, and which tables must already show the new version there.
KILL_POINTS: dict[str, tuple[str, ...]] = {
    "validated": (),
    "partition-staged:responses": (),
    "partition-swapped:responses": ("clean/responses",),
    "partition-staged:feedback_scored": ("clean/responses", "quarantine"),
    "partition-swapped:feedback_scored": ("clean/responses", "quarantine", "marts/feedback_scored"),
    "partition-swapped:daily_summary": TABLES,
}
#: What the date's state says after each kill: a date the killed run left half published
#: (clean rows of the corrected export under the old marts, or one mart of each run) must
#: not read ``completed``, or no later run repairs it (the killed run's recovery records it
#: crashed, which leaves the state as it was).
STATE_AFTER_KILL = {
    "validated": ("completed", ""),
    "partition-staged:responses": ("completed", ""),
    "partition-swapped:responses": ("missing", "built from other inputs than its clean"),
    "partition-staged:feedback_scored": ("missing", "built from other inputs than its clean"),
    "partition-swapped:feedback_scored": (
        "missing",
        "written by different runs (feedback_scored by run v2; daily_summary by run v1)",
    ),
    "partition-swapped:daily_summary": ("completed", ""),
}


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_a_run_killed_at_any_point_leaves_old_or_new_partitions_and_the_next_run_completes(
    point: str, previous_version: Path, forkserver: ForkServerContext, tmp_path: Path
) -> None:
    root = tmp_path / "data"
    shutil.copytree(previous_version, root, symlinks=True)
    before = {table: _partition_state(root, table) for table in TABLES}

    pause = tmp_path / "pause"
    child = _start(forkserver, root, "v2", pause, pause_at=point)
    _wait_for_pause(child, pause)
    assert pause.read_text() == point
    _kill(child)

    for table in TABLES:
        run_id, rows = _partition_state(root, table)
        if table in KILL_POINTS[point]:
            assert run_id == "v2", table
            if table in ("clean/responses", "marts/feedback_scored"):
                assert rows < before[table][1], table  # the corrected export is shorter
        else:
            assert (run_id, rows) == before[table], table
    settings = Settings(data_dir=str(root))
    status = date_status(settings, DAY)
    state, torn = STATE_AFTER_KILL[point]
    assert status.state == state, status
    assert torn in status.torn and bool(status.torn) == bool(torn), status
    # The next nightly run's look-back runs the date again unless the killed run had published
    # all of it: an old one for its corrected export, a torn one because it is torn (its clean
    # partition holds the corrected export's inputs already: by its inputs it was up to date,
    # and it stayed torn).
    lookback = plan_nightly(settings, DAY + timedelta(days=1), 1)[1]
    assert lookback.run == (KILL_POINTS[point] != TABLES), lookback
    assert (status.detail in lookback.reason) == bool(torn), lookback

    rerun = _start(forkserver, root, "v3", tmp_path / "rerun")
    rerun.join(WAIT_FOR_PAUSE_SECONDS)
    assert rerun.exitcode == 0
    assert {_partition_state(root, table)[0] for table in TABLES} == {"v3"}
    assert date_status(settings, DAY).state == "completed"
    _no_duplicates_and_reconciled(root)
    leftovers = [
        p.name for p in (root / ".staging").iterdir() if p.name.startswith(("new-", "old-"))
    ]
    assert leftovers == []


@pytest.mark.parametrize("fraction", [0.1, 0.4, 0.7, 0.95])
def test_a_run_killed_at_an_arbitrary_moment_leaves_whole_partitions(
    fraction: float,
    previous_run: tuple[Path, float],
    forkserver: ForkServerContext,
    tmp_path: Path,
) -> None:
    """No checkpoint: the kill lands wherever the run happens to be (reading, writing
    Parquet, swapping); every partition must still be one complete version.

    The moment is a fraction of how long the first run took on this machine, so the kill
    lands inside the run however fast or busy the machine is. A run that still ends before
    the signal arrives (the machine sped up) must have published every table whole."""
    previous_version, run_seconds = previous_run
    root = tmp_path / "data"
    shutil.copytree(previous_version, root, symlinks=True)
    child = _start(forkserver, root, "v2", tmp_path / "run")
    time.sleep(fraction * run_seconds)
    assert child.pid is not None
    with contextlib.suppress(ProcessLookupError):  # the run ended first (the forkserver reaps it)
        os.kill(child.pid, signal.SIGKILL)
    child.join(30)
    assert child.exitcode in (-signal.SIGKILL, 0)
    for table in TABLES:
        expected = ("v2",) if child.exitcode == 0 else ("v1", "v2")
        assert _partition_state(root, table)[0] in expected, table
    rerun = _start(forkserver, root, "v3", tmp_path / "rerun")
    rerun.join(WAIT_FOR_PAUSE_SECONDS)
    assert rerun.exitcode == 0
    assert {_partition_state(root, table)[0] for table in TABLES} == {"v3"}
    _no_duplicates_and_reconciled(root)


def test_two_runs_of_one_date_take_turns_or_refuse_clearly(
    previous_version: Path, forkserver: ForkServerContext, tmp_path: Path
) -> None:
    root = tmp_path / "data"
    shutil.copytree(previous_version, root, symlinks=True)
    first_pause = tmp_path / "first"
    first = _start(forkserver, root, "first", first_pause, pause_at="partition-staged:responses")
    _wait_for_pause(first, first_pause)

    # A run that will not wait is refused at once, naming the process that holds the date.
    refused = _start(forkserver, root, "impatient", tmp_path / "impatient", lock_wait=0.0)
    refused.join(WAIT_FOR_PAUSE_SECONDS)
    assert refused.exitcode == REFUSED
    report = json.loads((tmp_path / "impatient.out").read_text())
    assert f"survey date {DAY} is locked by process {first.pid}" in report["error"]
    assert "let it finish, then run again" in report["error"]

    # A run that waits starts only once the first has finished, and then replaces it whole.
    second = _start(forkserver, root, "second", tmp_path / "second", lock_wait=60.0)
    time.sleep(1.0)
    assert second.is_alive() and not (tmp_path / "second.out").exists()
    first_pause.unlink()  # let the first run go on
    first.join(WAIT_FOR_PAUSE_SECONDS)
    second.join(WAIT_FOR_PAUSE_SECONDS)
    assert (first.exitcode, second.exitcode) == (0, 0)
    assert {_partition_state(root, table)[0] for table in TABLES} == {"second"}
    _no_duplicates_and_reconciled(root)


def test_a_killed_run_leaves_no_stale_lock(
    previous_version: Path, forkserver: ForkServerContext, tmp_path: Path
) -> None:
    root = tmp_path / "data"
    shutil.copytree(previous_version, root, symlinks=True)
    pause = tmp_path / "pause"
    child = _start(forkserver, root, "killed", pause, pause_at="validated")
    _wait_for_pause(child, pause)
    _kill(child)
    after = _start(forkserver, root, "after", tmp_path / "after", lock_wait=0.0)
    after.join(WAIT_FOR_PAUSE_SECONDS)
    assert after.exitcode == 0


# --- a disk that is full or read-only ------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 2 MB filesystem (tmpfs), so a write can really run out of space."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _quarantine_frame(rows: int, text: str) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "survey_date": [DAY] * rows,
            "feed": ["surveys"] * rows,
            "source_file": ["surveys.csv"] * rows,
            "source_line": list(range(rows)),
            "record_id": [f"R{i}" for i in range(rows)],
            "reasons": [["csat: '9' is not a score from 1 to 5"]] * rows,
            # Random-looking text, so compression cannot make it small.
            "raw_record": [
                f"{text}{i * 7919 % 104729}" + os.urandom(64).hex() for i in range(rows)
            ],
            "source": ["sample"] * rows,
            "superseded": [False] * rows,
        },
        schema=QUARANTINE_ROW_SCHEMA,
    )


def test_a_full_disk_gives_a_clear_error_and_keeps_the_previous_partition(
    small_disk: Path,
) -> None:
    table, staging = small_disk / "quarantine", small_disk / ".staging"
    write_partition(_quarantine_frame(5, "small"), table, DAY, QUARANTINE_ROW_SCHEMA, {}, staging)
    with pytest.raises(StorageError) as error:
        write_partition(
            _quarantine_frame(40_000, "large"), table, DAY, QUARANTINE_ROW_SCHEMA, {}, staging
        )
    message = str(error.value)
    assert "No space left on device" in message and "free disk space" in message, message
    assert str(table / f"survey_date={DAY}") in message
    assert pl.read_parquet(table / f"survey_date={DAY}" / DATA_FILE).height == 5


def test_a_read_only_folder_gives_a_clear_error_and_keeps_the_previous_partition(
    small_disk: Path, tmp_path: Path
) -> None:
    settings = Settings(data_dir=str(small_disk))
    generate(tmp_path / "gen", DAY, DAY, per_day=20, seed=2, mess=False)
    shutil.copytree(tmp_path / "gen" / "raw", small_disk / "raw")
    validated = validate_day(settings, DAY, "rw")
    publish_clean(settings, validated, {"run_id": "rw"})
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    with pytest.raises(StorageError) as error:
        publish_clean(settings, validated, {"run_id": "ro"})
    message = str(error.value)
    assert "Read-only file system" in message and "writable" in message, message
    assert (
        json.loads((settings.clean_dir / f"survey_date={DAY}" / MANIFEST_FILE).read_text())[
            "run_id"
        ]
        == "rw"
    )
