"""Run the real ``servicelens`` command in its own process group, on the embedded Prefect API
(each command starts its own, on one SQLite database under the test's PREFECT_HOME, as two
terminals of a new user would), stop it at checkpoints, kill it, and read what it left.

Every wait has a generous deadline: a hang fails the test instead of blocking CI.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb

from tests.prefect_homes import seeded

#: Deadline of one command (an embedded API starts in 10-60 s on a busy 2-core machine).
COMMAND_SECONDS = 900.0
#: Deadline for a command to reach a checkpoint, or to stop after a signal.
WAIT_SECONDS = 600.0
POLL_SECONDS = 0.1
SERVICELENS = str(Path(sys.executable).parent / "servicelens")
#: The first date of the backfills these tests run (the issue's sequence starts there).
START = date(2026, 11, 1)


def backfill_of(days: int) -> tuple[list[str], list[str]]:
    """The first ``days`` dates from :data:`START` (ISO strings), and the arguments of
    ``backfill --rerun all`` over them."""
    dates = [str(START + timedelta(days=i)) for i in range(days)]
    return dates, ["backfill", "--start", dates[0], "--end", dates[-1], "--rerun", "all"]


@dataclass
class Home:
    """A data directory and a Prefect home of its own."""

    data: Path
    prefect: Path

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a command on this home: the test's own, less its servicelens
        settings and API URL, with ``extra``. The Prefect home gets a migrated, empty
        database the first time (:func:`tests.prefect_homes.seeded`)."""
        seeded(self.prefect)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SERVICELENS_")}
        env.pop("PREFECT_API_URL", None)  # the embedded API, as by default
        env.update(
            PREFECT_HOME=str(self.prefect),
            PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="300",
            # A paused run waits for the test, however slow the machine.
            SERVICELENS_PAUSE_SECONDS=str(COMMAND_SECONDS),
        )
        env.update(extra)
        return env


def generated_home(folder: Path, first: date, days: int, seed: int) -> Home:
    """A data directory with ``days`` dates of 300 generated surveys from ``first``, and a
    Prefect home of its own (its database migrated and empty once a command runs)."""
    from servicelens.synthetic.generator import generate

    home = Home(folder / "data", folder / "prefect")
    generate(home.data, first, first + timedelta(days=days - 1), 300, seed)
    return home


def start_paused(
    home: Home, args: list[str], log: Path, point: str, pause_file: Path, **env: str
) -> subprocess.Popen[bytes]:
    """Start a command that stops at the checkpoint ``point`` (servicelens/checkpoints.py)
    and waits there while ``pause_file`` exists; ``env``: more environment variables."""
    return start(
        home,
        args,
        log,
        SERVICELENS_PAUSE_AT=point,
        SERVICELENS_PAUSE_FILE=str(pause_file),
        **env,
    )


def start(home: Home, args: list[str], log: Path, **env: str) -> subprocess.Popen[bytes]:
    """Start ``servicelens --data-dir <data> <args>`` in a new process group."""
    out = log.open("wb")
    return subprocess.Popen(
        [SERVICELENS, "--data-dir", str(home.data), *args],
        env=home.env(**env),
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def finish(process: subprocess.Popen[bytes], seconds: float = COMMAND_SECONDS) -> int:
    """Wait for a command to end; kill its group and fail if it does not in time."""
    try:
        return process.wait(seconds)
    except subprocess.TimeoutExpired as hung:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(60)
        raise AssertionError(
            f"the command did not end within {seconds:g} s: {process.args}"
        ) from hung


def run(home: Home, args: list[str], log: Path, **env: str) -> tuple[int, str]:
    """Run a command to its end; its exit status and output."""
    code = finish(start(home, args, log, **env))
    return code, log.read_text()


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the command and its process group: as a crash leaves it, its embedded API
    (in a session of its own) outlives it, for the next command to stop."""
    os.killpg(process.pid, signal.SIGKILL)
    assert process.wait(60) == -signal.SIGKILL


def wait_until(
    condition: Any, process: subprocess.Popen[bytes], what: str, seconds: float = WAIT_SECONDS
) -> None:
    """Poll ``condition`` until it holds; fail if ``process`` (started in its own process
    group: ``start_new_session``) ends first, or, killing its group, after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"the command ended (exit {process.returncode}) before {what}")
        if time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            raise AssertionError(f"the command never got to {what}")
        time.sleep(POLL_SECONDS)


def records(home: Home) -> list[dict[str, Any]]:
    """The in-flight records the command keeps (servicelens.storage.claims)."""
    found = []
    for path in sorted((home.data / "runs" / "in-flight").glob("*.json")):
        try:
            found.append(json.loads(path.read_text()))
        except (FileNotFoundError, ValueError):  # removed or being replaced right now
            continue
    return found


def json_rows(output: str) -> list[dict[str, Any]]:
    """The JSON array a ``--json`` command printed (after any log lines)."""
    start = output.index("[\n")
    rows: list[dict[str, Any]] = json.loads(output[start : output.rindex("]") + 1])
    return rows


def flow_runs(home: Home) -> list[dict[str, Any]]:
    """Every flow run in the Prefect database: name, state type, state message."""
    with sqlite3.connect(home.prefect / "prefect.db") as db:
        rows = db.execute(
            "SELECT f.name, f.state_type, s.message, f.idempotency_key FROM flow_run f "
            "LEFT JOIN flow_run_state s ON s.id = f.state_id ORDER BY f.created"
        ).fetchall()
    return [{"name": n, "state": t, "message": m or "", "key": k} for n, t, m, k in rows]


def active_slots(home: Home) -> int:
    with sqlite3.connect(home.prefect / "prefect.db") as db:
        (slots,) = db.execute(
            "SELECT active_slots FROM concurrency_limit_v2 WHERE name = 'servicelens-backfill'"
        ).fetchone()
    return int(slots)


def assert_published_and_reconciled(home: Home, days: list[str]) -> None:
    """Every date's marts stand with their manifests, rows reconcile, no id twice."""
    for day in days:
        for table in ("clean/responses", "marts/feedback_scored"):
            part = home.data / table / f"survey_date={day}"
            manifest = json.loads((part / "_manifest.json").read_text())
            [(rows,)] = duckdb.sql(
                f"SELECT count(*) FROM read_parquet('{part}/*.parquet')"
            ).fetchall()
            assert rows == manifest["rows"], (table, day)
            counts = manifest["counts"]
            assert counts["surveys_read"] == counts["kept"] + counts["quarantined"], (table, day)
    for table in ("clean/responses", "marts/feedback_scored"):
        [(total, distinct)] = duckdb.sql(
            "SELECT count(*), count(DISTINCT response_id) FROM "
            f"read_parquet('{home.data / table}/*/*.parquet')"
        ).fetchall()
        assert total == distinct > 0, (table, total, distinct)
