"""``servicelens runs show`` right after a backfill was SIGKILLed: one run, one verdict.

Found by a user trial: the killed backfill's in-flight records were listed as ``dead`` (their
locks free), while its own flow run, younger than a stale period, was listed under
"unfinished flow runs with no live record" as ``alive (started 11 s ago)``: judged by its
age, as if it had no record. The real ``servicelens backfill`` is paused with its date in
flight, its whole process group (the embedded API with it) killed, and ``runs show`` run at
once. The stale period is set to hours for ``runs show``, so by the age rule every run it
lists would be alive, however slow the machine: only the records can say they are dead.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.cli import (
    START,
    backfill_of,
    generated_home,
    kill_group,
    records,
    run,
    start_paused,
    wait_until,
)

DAYS, BACKFILL = backfill_of(1)
#: For ``runs show``: a stale period (4 beats) of 4 hours, far longer than this test.
HEARTBEAT_SECONDS = "3600"

pytestmark = pytest.mark.slow


def _shown(output: str) -> dict[str, Any]:
    """The JSON object ``--json runs show`` printed (after any log lines)."""
    start = output.index("{\n")
    shown: dict[str, Any] = json.loads(output[start : output.rindex("}") + 1])
    return shown


def test_runs_show_reports_a_killed_backfills_young_flow_run_dead_not_alive(
    tmp_path: Path,
) -> None:
    home = generated_home(tmp_path, START, len(DAYS), seed=17)
    pause = tmp_path / "pause"
    backfill = start_paused(home, BACKFILL, tmp_path / "backfill.log", "validated", pause)

    held: list[dict[str, Any]] = []

    def date_and_run_held() -> bool:
        held[:] = records(home)
        return pause.exists() and sorted(r["kind"] for r in held) == ["date", "run"]

    wait_until(date_and_run_held, backfill, "its date held, paused after validation")
    kill_group(backfill)
    gone = f"the run in process {backfill.pid} on "

    code, text = run(
        home,
        ["runs", "show"],
        tmp_path / "show.log",
        SERVICELENS_HEARTBEAT_SECONDS=HEARTBEAT_SECONDS,
    )
    assert code == 1, text
    assert "unfinished flow runs with no live record" in text, text
    names = [r["name"] for r in held]
    lines = [line for line in text.splitlines() if any(name in line for name in names)]
    # Each run in both lists (its record, its flow run), and in none of them alive.
    assert len([line for line in lines if "dead" in line]) >= 2 * len(names), text
    assert not [line for line in lines if "alive" in line], text

    code, output = run(
        home,
        ["--json", "runs", "show"],
        tmp_path / "show-json.log",
        SERVICELENS_HEARTBEAT_SECONDS=HEARTBEAT_SECONDS,
    )
    assert code == 1, output
    shown = _shown(output)
    in_flight = {r["flow_run_id"]: r for r in shown["in_flight"]}
    assert set(in_flight) == {r["flow_run_id"] for r in held}
    for record in in_flight.values():
        assert record["status"] == "dead", record
        assert record["why"].startswith(gone) and "its lock is free" in record["why"], record
    # The backfill's own flow run and its date's: unfinished in Prefect, dead by their records.
    stuck = {s["flow_run_id"]: s for s in shown["stuck"]}
    assert set(stuck) == set(in_flight), shown["stuck"]
    for run_id, flow_run in stuck.items():
        assert flow_run["state"] == "Running", flow_run
        assert (flow_run["status"], flow_run["why"]) == (
            "dead",
            in_flight[run_id]["why"],
        ), flow_run
