"""Two backfills at once run each date once; a signal stops a backfill within seconds; a dead
run's leftovers are released by ``servicelens runs release`` without touching a live one.

Real ``servicelens`` processes on the embedded Prefect API (one per process, on one SQLite
database, as two terminals would have).
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from tests.reliability.cli import (
    START,
    WAIT_SECONDS,
    Home,
    active_slots,
    assert_published_and_reconciled,
    backfill_of,
    finish,
    flow_runs,
    generated_home,
    json_rows,
    records,
    run,
    start_paused,
    wait_until,
)

DAYS, BACKFILL = backfill_of(3)

pytestmark = pytest.mark.slow


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return generated_home(tmp_path, START, len(DAYS), seed=17)


def _date_record(home: Home, day: str, pid: int) -> dict[str, object] | None:
    found = [r for r in records(home) if r["day"] == day and r["pid"] == pid]
    return found[0] if found else None


def test_a_second_backfill_reports_duplicate_and_a_signal_stops_one_that_holds_a_date(
    home: Home, tmp_path: Path
) -> None:
    # A holds the first date, paused inside its run (one of the two slots).
    pause_a = tmp_path / "pause-a"
    first = start_paused(home, BACKFILL, tmp_path / "a.log", "validated", pause_a)
    wait_until(pause_a.exists, first, "the first date paused")

    # B, started while A is alive, leaves the first date to A and runs the other two.
    code, output = run(home, ["--json", *BACKFILL], tmp_path / "b.log")
    assert code == 0, output  # a date held by a live run is not a failure
    rows = json_rows(output)
    assert [r["outcome"] for r in rows] == ["duplicate", "completed", "completed"]
    assert "holds its lock" in rows[0]["error"] and rows[0]["todo"] == ""

    # C holds the second date, paused inside its run; SIGTERM to its process group stops
    # it within seconds, recording the date as interrupted. Its embedded API runs in a
    # session of its own (a platform engineer's trial: the group signal stopped it first,
    # and the release was refused), so C releases through it, then stops it.
    pause_c = tmp_path / "pause-c"
    third = start_paused(home, BACKFILL, tmp_path / "c.log", "validated", pause_c)
    wait_until(pause_c.exists, third, "the second date paused")
    assert _date_record(home, DAYS[1], third.pid) is not None
    os.killpg(third.pid, signal.SIGTERM)
    assert finish(third, WAIT_SECONDS) == 143
    said = (tmp_path / "c.log").read_text()
    assert f"recorded as interrupted: {DAYS[1]}" in said, said
    outcome = json.loads((home.data / "runs" / f"survey_date={DAYS[1]}.json").read_text())
    assert outcome["outcome"] == "completed"  # B's run: an interruption changes no state
    assert outcome["stopped"]["outcome"] == "interrupted"
    assert "SIGTERM" in outcome["stopped"]["reason"]

    # What C could not release in its seconds (on a busy machine) is released now; A is
    # left alone. C stopped the API it started: none is left for this command to stop.
    left_by_c = _date_record(home, DAYS[1], third.pid)
    code, output = run(home, ["--json", "runs", "release"], tmp_path / "release.log")
    assert code == 0, output
    assert "left running by a killed command" not in output, output
    released = json.loads(output[output.index("{") :])["released"]
    if left_by_c is not None:
        assert any(line.startswith(f"backfill-{DAYS[1]}: ") for line in released), released
    assert not any(line.startswith(f"backfill-{DAYS[0]}: ") for line in released), released
    assert [r["day"] for r in records(home) if r["kind"] == "date"] == [DAYS[0]]  # A's
    assert active_slots(home) == 1  # A's, still held

    # A goes on and finishes: its first date runs; the others B already ran.
    pause_a.unlink()
    assert finish(first) == 0, (tmp_path / "a.log").read_text()
    assert_published_and_reconciled(home, DAYS)
    assert records(home) == []
    assert active_slots(home) == 0

    runs = flow_runs(home)
    assert not [r for r in runs if r["state"] in ("PENDING", "RUNNING")], runs
    for day in DAYS:
        done = [r for r in runs if r["name"] == f"backfill-{day}" and r["state"] == "COMPLETED"]
        assert len(done) == 1, (day, runs)  # each date ran once, whichever backfill ran it
    second = f"backfill-{DAYS[1]}"
    [stopped] = [r for r in runs if r["name"] == second and r["state"] != "COMPLETED"]
    assert stopped["state"] in ("CANCELLED", "CRASHED"), stopped
