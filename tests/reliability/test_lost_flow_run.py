"""Prefect's API loses a backfill's flow runs while it runs (deleted in the UI, or its
database removed or replaced): the command ends with a message that says what happened and
what to do, never "unexpected ObjectNotFound: None ... this is a bug".

Found in a full test run on a loaded machine (a paused backfill's lease renewal answered
410 Gone, then its flow run's final state 404); reproduced here by deleting the runs from
the embedded API's database while the date is paused inside its run.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.reliability.cli import (
    START,
    backfill_of,
    finish,
    generated_home,
    start_paused,
    wait_until,
)

DAYS, BACKFILL = backfill_of(1)

pytestmark = pytest.mark.slow


def test_a_backfill_whose_flow_runs_were_deleted_says_so_and_what_to_do(tmp_path: Path) -> None:
    home = generated_home(tmp_path, START, len(DAYS), seed=23)
    log = tmp_path / "backfill.log"
    command = start_paused(home, BACKFILL, log, "validated", tmp_path / "pause")
    wait_until((tmp_path / "pause").exists, command, "the date paused")
    with sqlite3.connect(home.prefect / "prefect.db") as db:
        (deleted,) = db.execute("SELECT count(*) FROM flow_run").fetchone()
        db.execute("PRAGMA foreign_keys = ON")
        db.execute("DELETE FROM flow_run")
    assert deleted >= 2  # the backfill's run and its date's
    (tmp_path / "pause").unlink()
    code = finish(command)
    output = log.read_text()
    assert code == 2, output
    assert "Prefect's API no longer has a flow run or limit this command was using" in output
    # What completed, and the backfill of only what is left: "run the same command again"
    # of a --rerun all ran its completed dates again (a user trial). The date completes as
    # a rule (only its flow run's final state finds the run gone); a lease renewal that
    # found it gone first (seen under load) leaves it to run.
    record = json.loads((home.data / "runs" / f"survey_date={START}.json").read_text())
    if record["outcome"] == "completed":
        assert (
            f"Dates that finished are recorded; completed before the stop: {START} (1 of 1 to "
            "run); nothing is left to run"
        ) in output, output
    else:
        assert (
            "Dates that finished are recorded; completed before the stop: none (0 of 1 to "
            "run); to run the 1 left: `servicelens "
        ) in output, output
        assert f"backfill --start {START} --end {START} --rerun all`" in output, output
    assert "this is a bug" not in output and "Traceback" not in output, output


def test_a_backfill_whose_embedded_api_was_killed_says_so_at_once(tmp_path: Path) -> None:
    """The embedded API server killed under a running backfill (the out-of-memory killer
    picks the largest process): the command ends within seconds with a message, not a
    traceback, and records its date as interrupted.

    It used to end only once Prefect's client had given up retrying the refused connection
    (384 s, with growing waits over the three calls left to make), and then with an error
    that did not say the server had died. The date stays paused here: the command must not
    wait for its work to reach Prefect to notice."""
    import time

    import psutil

    from servicelens.cli.embedded_api import SERVER_APP

    home = generated_home(tmp_path, START, len(DAYS), seed=29)
    log = tmp_path / "backfill.log"
    command = start_paused(home, BACKFILL, log, "validated", tmp_path / "pause")
    wait_until((tmp_path / "pause").exists, command, "the date paused")
    [server] = [
        child
        for child in psutil.Process(command.pid).children()
        if SERVER_APP in " ".join(child.cmdline())
    ]
    killed = time.monotonic()
    server.kill()
    code = finish(command, seconds=60)
    took = time.monotonic() - killed
    output = log.read_text()
    assert code == 2, output
    assert (
        "Prefect's temporary embedded API stopped during the command (killed by SIGKILL; "
        "SIGKILL is most often the out-of-memory killer). Recorded as interrupted: "
        f"{START.isoformat()}. Dates that finished are recorded; completed before the stop: "
        "none (0 of 1 to run); to run the 1 left: `servicelens "
    ) in output, output
    assert f"backfill --start {START} --end {START} --rerun all`" in output, output
    assert "this is a bug" not in output and "Traceback" not in output, output
    assert (tmp_path / "pause").exists()  # it never got past the paused date
    print(f"ended {took:.1f} s after the kill")
