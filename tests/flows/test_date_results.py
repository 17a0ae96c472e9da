"""A completed date's result when Prefect's state has lost it (flows/dates.py)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest


def test_a_completed_date_whose_state_lost_its_result_reads_the_recorded_one(
    tmp_path: Path,
) -> None:
    """Prefect's MissingResult on a completed date's state failed a whole nightly run on a
    loaded machine (a new user's trial) after the date had recorded its outcome."""
    from prefect.exceptions import MissingResult
    from prefect.states import Completed

    from flows.dates import completed_result
    from servicelens.settings import Settings
    from servicelens.storage.runs import record_outcome

    settings = Settings(data_dir=str(tmp_path))
    day = date(2026, 10, 1)
    assert completed_result(Completed(data={"kept": 3}), settings, day, "run-1") == {"kept": 3}
    with pytest.raises(MissingResult):  # nothing recorded: nothing to stand in
        completed_result(Completed(), settings, day, "run-1")
    record_outcome(settings, day, "run-1", "completed", counts={"kept": 3}, inputs={})
    assert completed_result(Completed(), settings, day, "run-1") == {
        "kept": 3,
        "result_from": "outcome record",
    }
    with pytest.raises(MissingResult):  # another run's record is not this run's result
        completed_result(Completed(), settings, day, "run-2")


def test_the_run_summary_lists_failures_not_dates_skipped_with_nothing_to_do() -> None:
    """Found by a trial: the nightly summary's "Failures" listed every look-back date left
    alone because its inputs were unchanged, beside the date that did fail."""
    from flows.dates import DateOutcome
    from flows.pipeline import _outcome_rows
    from servicelens.storage.runs import TODO_FAILED, summary_markdown

    outcomes = [
        DateOutcome("2026-11-03", "completed", "run-3", {"kept": 5}),
        DateOutcome("2026-11-02", "skipped", None, {}, "inputs unchanged"),
        DateOutcome("2026-11-01", "skipped", None, {}, "last run failed", TODO_FAILED),
        DateOutcome.failed(None, "2026-10-31", "run-0", "no export for the date"),
    ]
    rows = {r["date"]: r for r in _outcome_rows(outcomes)}
    assert rows["2026-11-02"]["outcome"] == "skipped (inputs unchanged)"
    assert rows["2026-11-02"]["error"] == ""
    assert rows["2026-11-01"]["outcome"] == "skipped"
    assert TODO_FAILED in rows["2026-11-01"]["error"]
    text = summary_markdown("nightly", list(rows.values()))
    failures = text.split("## Failures and notes")[1]
    assert "2026-11-02" not in failures
    assert "2026-11-01" in failures and "2026-10-31" in failures
    assert "no export for the date" in failures


def test_a_failed_date_is_told_the_rerun_that_takes_it_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by a platform engineer's trial: after an S3 outage a date whose failure record
    could not be written either still read ``completed`` from its last good run, and its
    advice `--rerun failed` skipped it. Recorded failed: `--rerun failed`; still completed,
    or a state that cannot be read now: `--rerun all` for the date."""
    import json

    from flows.dates import TODO_RERUN_FAILED, DateOutcome
    from servicelens.settings import Settings
    from servicelens.storage import runs
    from servicelens.storage.runs import MART_TABLES, record_outcome

    settings = Settings(data_dir=str(tmp_path))
    day = date(2026, 10, 1)

    def todo() -> str:
        return DateOutcome.failed(settings, str(day), "run-2", "store went away").todo

    assert todo() == TODO_RERUN_FAILED  # never published: missing, which --rerun failed runs
    for table in MART_TABLES:
        folder = settings.marts_dir / table / f"survey_date={day}"
        folder.mkdir(parents=True)
        written = {"run_id": "run-1", "written_at": "2026-10-02T01:00:00+00:00"}
        (folder / "_manifest.json").write_text(json.dumps(written))
    assert todo() == (
        "fix what the error names, then run it again with --start 2026-10-01 --end 2026-10-01 "
        "--rerun all (its failure could not be recorded: it reads completed, which "
        "--rerun failed skips)"
    )
    record_outcome(settings, day, "run-2", "failed", error="store went away", inputs={})
    assert todo() == TODO_RERUN_FAILED

    def unreachable(*_: object) -> None:
        raise ConnectionError("Could not connect to the endpoint URL")

    monkeypatch.setattr(runs, "date_status", unreachable)
    assert "--rerun all (its state cannot be read now; --rerun failed would skip it" in todo()


def test_a_date_whose_task_was_lost_after_its_run_completed_it_stays_completed(
    tmp_path: Path,
) -> None:
    """Found by a platform engineer's trial: a Dask scheduler killed mid-backfill failed every
    future, and dates its workers went on to complete were shown failed and recorded failed
    over their completed outcome. A date completed since the dates were dispatched keeps its
    outcome; one not completed since (completed before, or never) is recorded failed."""
    from datetime import UTC, datetime

    from flows.fanout import lost_date
    from servicelens.settings import Settings
    from servicelens.storage.runs import read_outcome, record_outcome

    settings = Settings(data_dir=str(tmp_path))
    done, old, never = date(2026, 10, 1), date(2026, 10, 2), date(2026, 10, 3)
    record_outcome(settings, old, "run-0", "completed", counts={"kept": 2}, inputs={})
    dispatched = datetime.now(UTC)
    record_outcome(settings, done, "run-1", "completed", counts={"kept": 7}, inputs={})
    lost = "CommClosedError: in <TCP (closed)>: Stream is closed"

    kept = lost_date(settings, done, "task-1", lost, dispatched)
    assert (kept.outcome, kept.flow_run, kept.result["kept"]) == ("completed", "run-1", 7)
    assert lost in kept.recovered
    assert read_outcome(settings, done)["outcome"] == "completed"  # type: ignore[index]
    for day in (old, never):
        failed = lost_date(settings, day, f"task-{day}", lost, dispatched)
        assert (failed.outcome, failed.error) == ("failed", lost)
        assert read_outcome(settings, day)["outcome"] == "failed"  # type: ignore[index]
