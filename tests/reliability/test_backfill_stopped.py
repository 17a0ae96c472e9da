"""A backfill stopped part way says what it completed and how to run only what is left.

Found by a user trial: a ``backfill --rerun all`` stopped by a signal said "run the same
command again to finish", which would have run every date it had completed again, and named
only the date in flight. The real ``servicelens backfill`` runs on this test session's
Prefect API (no embedded API to start), is paused inside its second date and stopped with
SIGTERM.
"""

from __future__ import annotations

import argparse
import os
import signal
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from tests.reliability.cli import (
    START,
    WAIT_SECONDS,
    backfill_of,
    finish,
    generated_home,
    records,
    start_paused,
    wait_until,
)

DAYS, BACKFILL = backfill_of(3)


def test_a_stopped_rerun_all_backfill_names_what_it_completed_and_runs_only_the_rest(
    prefect_api: None, tmp_path: Path
) -> None:
    from prefect.settings import get_current_settings

    home = generated_home(tmp_path, START, len(DAYS), seed=17)
    pause, log = tmp_path / "pause", tmp_path / "backfill.log"
    api = str(get_current_settings().api.url)
    backfill = start_paused(home, BACKFILL, log, "validated", pause, PREFECT_API_URL=api)

    def holding(day: str) -> bool:
        return pause.exists() and any(r["day"] == day for r in records(home))

    wait_until(lambda: holding(DAYS[0]), backfill, f"{DAYS[0]} paused")
    pause.unlink()  # the first date goes on and completes
    wait_until(lambda: holding(DAYS[1]), backfill, f"{DAYS[1]} paused")
    os.killpg(backfill.pid, signal.SIGTERM)
    assert finish(backfill, WAIT_SECONDS) == 143

    said = log.read_text()
    assert f"recorded as interrupted: {DAYS[1]}." in said, said
    assert f"completed before the stop: {DAYS[0]} (1 of 3 to run)" in said, said
    left = f"backfill --start {DAYS[1]} --end {DAYS[2]} --rerun all`"
    assert f"to run the 2 left: `servicelens --data-dir {home.data.resolve()} {left}" in said, said
    assert "the same command again" not in said, said


@pytest.mark.parametrize(
    ("newest_first", "concurrency", "completed", "finish_with"),
    [
        # Oldest first, two at a time: the third date finished while the second ran.
        (
            False,
            2,
            [1, 3],
            "--start 2026-11-02 --end 2026-11-05 --rerun all --concurrency 2`"
            " (it runs again 1 completed date(s) of that range)",
        ),
        # Newest first: what is left is the oldest end of the range.
        (True, 1, [5, 4], "--start 2026-11-01 --end 2026-11-03 --rerun all --newest-first`"),
        (False, 1, [1, 2, 3, 4, 5], None),
    ],
)
def test_what_a_stopped_backfill_says_is_left(
    tmp_path: Path,
    newest_first: bool,
    concurrency: int,
    completed: list[int],
    finish_with: str | None,
) -> None:
    """The dates a stopped backfill completed are those recorded completed since it
    started; a date completed before it started (the 5th, by an earlier run) is not."""
    from servicelens.cli.schedule import left_when_stopped
    from servicelens.settings import Settings
    from servicelens.storage.runs import PlannedDate, record_outcome

    settings = Settings(data_dir=str(tmp_path))
    days = [date(2026, 11, i) for i in range(1, 6)]
    record_outcome(settings, days[4], "earlier", "completed", inputs={})
    since = datetime.now(UTC)
    for i in completed:
        record_outcome(settings, days[i - 1], f"run-{i}", "completed", inputs={})
    order = days[::-1] if newest_first else days
    plan = [PlannedDate(day, "completed", True, "rerun=all", f"key-{day}") for day in order]
    args = argparse.Namespace(
        start=days[0],
        end=days[-1],
        rerun="all",
        source=None,
        newest_first=newest_first,
        concurrency=concurrency,
    )
    said = left_when_stopped(args, settings, plan, since)
    named = ", ".join(str(days[i - 1]) for i in sorted(completed))
    assert said.startswith(f"completed before the stop: {named} ({len(completed)} of 5 to run)")
    if finish_with is None:
        assert said.endswith("; nothing is left to run"), said
    else:
        assert said.endswith(
            f"to run the {5 - len(completed)} left: `servicelens backfill " + finish_with
        ), said
