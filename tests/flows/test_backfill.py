"""Backfills and the nightly look-back against a real Prefect API, into a temporary folder."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from servicelens.settings import Settings
from servicelens.storage.partitions import read_manifest
from servicelens.storage.runs import date_status, outcome_path
from tests.flows.conftest import AlertReceiver, flow_runs_named

START = date(2026, 10, 1)
DAYS = [START + timedelta(days=i) for i in range(5)]
END = DAYS[-1]


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    from servicelens.synthetic.generator import generate

    root = tmp_path_factory.mktemp("backfill")
    generate(root, START, END + timedelta(days=1), 250, 5)
    return Settings(data_dir=str(root))


def _backfill(settings: Settings, **options: Any) -> tuple[bool, list[dict[str, Any]]]:
    from flows.pipeline import backfill, outcome_rows

    state = backfill(START, END, settings=settings, return_state=True, **options)
    rows = outcome_rows(state)
    assert rows is not None, state
    return state.is_completed(), rows


def _artifact(flow_run_id: Any, key: str) -> Any:
    from prefect import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        ArtifactFilterKey,
    )

    with get_client(sync_client=True) as client:
        [found] = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]),
                key=ArtifactFilterKey(any_=[key]),
            )
        )
    return found


def _date_runs(settings: Settings, name: str) -> list[Any]:
    """The flow runs called ``name`` on this module's data directory (other modules share
    the worker's API and run the same dates)."""
    return flow_runs_named(name, settings.data_dir)


@pytest.fixture(scope="module")
def first_backfill(prefect_api: None, settings: Settings) -> list[dict[str, Any]]:
    ok, rows = _backfill(settings)
    assert ok
    return rows


def test_a_backfill_writes_every_date_with_its_manifest(
    settings: Settings, first_backfill: list[dict[str, Any]]
) -> None:
    assert [r["day"] for r in first_backfill] == [str(d) for d in DAYS]
    assert {r["outcome"] for r in first_backfill} == {"completed"}
    for row, day in zip(first_backfill, DAYS, strict=True):
        for table in ("feedback_scored", "daily_summary"):
            manifest = read_manifest(settings.marts_dir / table, day)
            assert manifest is not None
            # The sample's dates say backfill as a configured source's do (flows.run_names):
            # processed_dates.flow tells a backfill from a nightly.
            assert manifest["flow"] == "backfill", manifest
            counts = manifest["counts"]
            assert counts["surveys_read"] == counts["kept"] + counts["quarantined"]
            assert counts["kept"] == row["result"]["kept"] > 0
            assert "scored" in counts and "model_version" in manifest
            assert manifest["code_version"] and manifest["written_at"]
            assert str(settings.raw_day(day) / "surveys.csv") in manifest["inputs"]
            assert all(len(sha) == 64 for sha in manifest["inputs"].values())
        runs = _date_runs(settings, f"backfill-{day}")
        assert [r.state.type.value for r in runs] == ["COMPLETED"]
        assert str(runs[0].id) == read_manifest(settings.clean_dir, day)["run_id"]  # type: ignore[index]
        assert "backfill" in runs[0].tags
        assert date_status(settings, day).state == "completed"


def test_the_backfill_summary_has_every_dates_row_and_its_date_runs_attach_none(
    settings: Settings, first_backfill: list[dict[str, Any]]
) -> None:
    # One summary for the whole backfill: the date runs inside it attach no artifact of
    # their own (two a date were a third of what a backfill asked of the API per date).
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    runs = _date_runs(settings, f"backfill-{START}-to-{END}-missing-dates")
    backfill_run = min(runs, key=lambda r: r.created)
    table = _artifact(backfill_run.id, "backfill-summary-table").data
    rows = json.loads(table) if isinstance(table, str) else table
    assert [r["date"] for r in rows] == [str(d) for d in DAYS]
    for row, outcome in zip(rows, first_backfill, strict=True):
        assert row["outcome"] == "completed" and row["rows_in"] > 0
        assert row["kept"] == outcome["result"]["kept"]
        assert row["drift_flags"] == ("; ".join(outcome["result"]["drift_flags"]) or "none")
        assert row["expectation_failures"]
    markdown = _artifact(backfill_run.id, "backfill-summary").data
    assert all(f"| {d} | completed |" in markdown for d in DAYS)

    date_run = _date_runs(settings, f"backfill-{DAYS[0]}")[0]
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[date_run.id]))
        )
    assert artifacts == []


def test_only_the_backfill_run_sends_heartbeats_not_its_date_runs(
    settings: Settings, first_backfill: list[dict[str, Any]]
) -> None:
    # The date runs live in the backfill run's process, whose heartbeat covers them; theirs
    # made every date wait up to a second for Prefect's heartbeat thread (flows/dates.py).
    import time

    from prefect import get_client
    from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter

    from flows.dates import TRIGGER_FIELD

    date_runs = {
        str(run.id)
        for row in first_backfill
        for run in _date_runs(settings, str(row["flow_run"]))
        if run.context.get(TRIGGER_FIELD)
    }
    assert len(date_runs) == len(DAYS)
    with get_client(sync_client=True) as client:
        backfills = {
            str(run.id)
            for run in flow_runs_named(
                f"backfill-{START}-to-{END}", settings.data_dir, partial=True
            )
        }
        # Events reach the API's store a moment after they are sent: wait for the backfill
        # run's own heartbeat (sent when it started, before any date ran).
        beating: set[str] = set()
        for _ in range(60):
            page = client.read_events(
                EventFilter(
                    event=EventNameFilter(name=["prefect.flow-run.heartbeat"]),
                    resource=EventResourceFilter(
                        id=[f"prefect.flow-run.{run}" for run in backfills | date_runs]
                    ),
                ),
                limit=50,
            )
            beating = {e.resource.id.removeprefix("prefect.flow-run.") for e in page.events}
            if beating & backfills:
                break
            time.sleep(0.5)
    assert beating & backfills, "the backfill run sent no heartbeat"
    assert not beating & date_runs


def test_rerunning_missing_runs_nothing(
    settings: Settings, first_backfill: list[dict[str, Any]]
) -> None:
    ok, rows = _backfill(settings)
    assert ok
    assert {r["outcome"] for r in rows} == {"skipped"}
    assert all(len(_date_runs(settings, f"backfill-{d}")) == 1 for d in DAYS)


def test_a_double_trigger_runs_each_date_once(
    settings: Settings, first_backfill: list[dict[str, Any]]
) -> None:
    from concurrent.futures import ThreadPoolExecutor
    from datetime import UTC, datetime

    from flows.dates import run_planned_dates
    from flows.pipeline import nightly
    from servicelens.storage.runs import plan_backfill

    # Two triggers made at the same moment see the same state on disk, so plan alike, and
    # run at once (two threads): the API gives each date's run to one of them.
    triggered_at = datetime.now(UTC)
    plans = [
        plan_backfill([date_status(settings, d, triggered_at) for d in DAYS], "all")
        for _ in range(2)
    ]
    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(lambda plan: run_planned_dates(nightly, plan, settings), plans)
    for i in range(len(DAYS)):
        assert sorted([first[i].outcome, second[i].outcome]) == ["completed", "duplicate"]
    for day in DAYS:
        # One run from the first backfill, exactly one more from the two (untagged) triggers.
        assert len(_date_runs(settings, f"backfill-{day}")) == 1
        assert len(_date_runs(settings, f"nightly-{day}")) == 1
    # A deliberate re-run made afterwards sees the newer runs and gets new keys.
    again = plan_backfill([date_status(settings, d) for d in DAYS], "all")
    assert all(a.idempotency_key != p.idempotency_key for a, p in zip(again, plans[0], strict=True))


def test_a_broken_date_fails_alone_and_rerun_failed_picks_it_up(
    settings: Settings, first_backfill: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    from servicelens.cli.main import main

    broken = DAYS[2]
    surveys = settings.raw_day(broken) / "surveys.csv"
    original = surveys.read_bytes()
    kept_before = read_manifest(settings.marts_dir / "feedback_scored", broken)
    try:
        surveys.write_bytes(original.replace(b"csat,", b"satisfaction,", 1))
        argv = ["--data-dir", settings.data_dir, "backfill", "--start", str(START)]
        code = main([*argv, "--end", str(END), "--rerun", "all", "--newest-first"])
        table = capsys.readouterr().out
        assert code == 1
        lines = [line.split() for line in table.splitlines()[2:7]]
        assert [(line[0], line[1]) for line in lines] == [
            (str(d), "failed" if d == broken else "completed") for d in reversed(DAYS)
        ]
        assert "csat" in table
        assert "Flow run encountered an exception" not in table  # Prefect's words, not ours
        # The failure is recorded outside the marts; the marts keep the last good partition.
        assert json.loads(outcome_path(settings, broken).read_text())["outcome"] == "failed"
        assert read_manifest(settings.marts_dir / "feedback_scored", broken) == kept_before
        assert date_status(settings, broken).state == "failed"

        code = main([*argv, "--end", str(END), "--rerun", "failed", "--dry-run"])
        plan = capsys.readouterr().out
        # Its header still refused, the dry run says the date fails at once, as the run
        # would (a user trial's dry run said it runs, exit 0).
        assert code == 1
        assert "0 of 5 dates would run (1 would fail at once: an export the run refuses)" in plan
        assert "'csat'" in plan
        # Two backfills' runs and the double trigger's: the dry run created none.
        runs = [_date_runs(settings, f"{by}-{broken}") for by in ("backfill", "nightly")]
        assert [len(r) for r in runs] == [2, 1]
        # The dry run of the default policy exits as that run will (a trial's script took
        # its 0 for "nothing left", and the run exited 3).
        assert main([*argv, "--end", str(END), "--dry-run", "--json"]) == 3
        capsys.readouterr()

        # The default policy skips the failed date, and says so, how to include it, and in
        # its exit status (3: nothing failed now, but the range is not complete).
        code = main([*argv, "--end", str(END), "--json"])
        rows = json.loads(capsys.readouterr().out)
        assert code == 3
        assert [(r["day"], r["outcome"], bool(r["todo"])) for r in rows] == [
            (str(d), "skipped", d == broken) for d in DAYS
        ]
        assert "--rerun failed" in rows[2]["todo"]
    finally:
        surveys.write_bytes(original)
    # Its export fixed, not run again: still a failed date skipped, exit 3 (an operator's
    # trial saw exit 0 once its inputs had changed since the failure).
    assert main([*argv, "--end", str(END), "--json"]) == 3
    assert "--rerun failed" in json.loads(capsys.readouterr().out)[2]["todo"]
    ok, rows = _backfill(settings, rerun="failed")
    assert ok
    assert [r["outcome"] for r in rows] == ["completed" if d == broken else "skipped" for d in DAYS]
    assert date_status(settings, broken).state == "completed"
    # The run's name and its summary's title say which dates the policy picks, and apart
    # from it what happened: "failed" is not an outcome here.
    [run] = _date_runs(settings, f"backfill-{START}-to-{END}-missing-and-failed-dates")
    assert run.state.type.value == "COMPLETED"
    title = _artifact(run.id, "backfill-summary").description
    assert title == f"backfill {START}..{END} of missing and failed dates: 1 completed, 4 skipped"


def test_nightly_reprocesses_only_late_dates_and_alerts_on_failure(
    settings: Settings, first_backfill: list[dict[str, Any]], receiver: AlertReceiver
) -> None:
    from flows.pipeline import DatesNotCompleted, nightly_window

    target = END + timedelta(days=1)
    late = DAYS[-2]
    surveys = settings.raw_day(late) / "surveys.csv"
    # A late survey arrives: the vendor re-delivers the date's export with one more line.
    lines = surveys.read_text().splitlines()
    surveys.write_text("\n".join([*lines, lines[-1]]) + "\n")
    state = nightly_window(
        target,
        lookback_days=3,
        data_dir=settings.data_dir,
        notify_url=receiver.url,
        return_state=True,
    )
    rows = state.result(raise_on_failure=False)
    assert state.is_completed(), state
    assert {r["day"]: r["outcome"] for r in rows} == {
        str(target): "completed",
        str(late): "completed",
        str(DAYS[-1]): "skipped",
        str(DAYS[-3]): "skipped",
    }
    assert receiver.received == []

    (settings.raw_day(target) / "surveys.csv").write_text("")
    state = nightly_window(
        target,
        lookback_days=0,
        data_dir=settings.data_dir,
        notify_url=receiver.url,
        return_state=True,
    )
    assert state.is_failed()
    # What a served deployment's run raises (Prefect's engine asks the state for its result):
    # the failure with every date's outcome, not a TypeError about the state's data.
    with pytest.raises(DatesNotCompleted, match=str(target)) as raised:
        state.result()
    assert [(r["day"], r["outcome"]) for r in raised.value.rows] == [(str(target), "failed")]
    assert len(receiver.received) == 1
    assert "failed" in receiver.received[0]["title"]
    assert str(target) in receiver.received[0]["message"]
    assert receiver.received[0]["type"] == "failure"
    assert settings.data_dir in receiver.received[0]["title"]
    assert "--rerun failed" in receiver.received[0]["message"]


def test_the_nightly_window_refuses_a_day_not_over_yet_without_an_alert(
    prefect_api: None, settings: Settings, receiver: AlertReceiver
) -> None:
    """Found by a new user's trial: a deployment run by hand with a future ``day`` ran its
    look-back over dates still to come, wrote a report and paged through the failure hook."""
    from flows.pipeline import nightly_window
    from servicelens.dates import SurveyDateError, today

    future = today(settings.timezone) + timedelta(days=3)
    reports = sorted(settings.reports_dir.glob("*.html"))
    records = sorted((Path(settings.data_dir) / "runs").rglob("*.json"))
    state = nightly_window(
        future, data_dir=settings.data_dir, notify_url=receiver.url, return_state=True
    )
    assert state.is_failed()
    with pytest.raises(SurveyDateError, match=f"day {future} is in the future") as refused:
        state.result()
    assert "nothing was run and nothing recorded" in str(refused.value)
    assert receiver.received == []
    assert sorted(settings.reports_dir.glob("*.html")) == reports
    assert sorted((Path(settings.data_dir) / "runs").rglob("*.json")) == records


def test_a_corrected_export_shows_in_the_plan_and_rerun_changed_runs_it(
    settings: Settings, first_backfill: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a trial: a published date whose export was corrected was planned as
    "completed ... nothing to do", and no policy but --rerun all would run it; outside the
    nightly look-back nothing ever did. The dry run now says so, and --rerun changed runs
    exactly the dates whose inputs changed since their last run."""
    from servicelens.cli.main import main

    corrected = DAYS[1]
    surveys = settings.raw_day(corrected) / "surveys.csv"
    original = surveys.read_bytes()  # the sample's exports are not all UTF-8
    lines = original.splitlines()
    argv = ["--data-dir", settings.data_dir, "backfill", "--start", str(START), "--end", str(END)]
    # Settle every date first (earlier tests of this module re-deliver some).
    assert main([*argv, "--rerun", "changed"]) in (0, 3)
    capsys.readouterr()
    try:
        surveys.write_bytes(b"\n".join(lines[:-1]) + b"\n")  # the last response withdrawn
        assert main([*argv, "--dry-run", "--json"]) == 0
        plan = {r["date"]: r for r in json.loads(capsys.readouterr().out)}
        assert plan[str(corrected)]["action"] == "skip"
        assert plan[str(corrected)]["what_happens"] == (
            "its inputs changed since its last run: add --rerun changed to run it again"
        )
        assert all(plan[str(d)]["what_happens"] == "nothing to do" for d in DAYS if d != corrected)
        assert main([*argv, "--dry-run"]) == 0
        assert "(1 skipped though their inputs changed since their last run (add --rerun " in (
            capsys.readouterr().out
        )
        # The real run of the default policy says it too (a BI trial's said only "skipped
        # ... completed, rerun=missing"), and exits 0: what --rerun missing asks is done.
        assert main(argv) == 0
        out = capsys.readouterr().out
        assert f"{len(DAYS)} skipped (1 whose inputs changed since their last run)" in out
        assert "to do: its inputs changed since its last run: add --rerun changed" in out
        assert "run again with --rerun changed to include them" in out
        assert main([*argv, "--rerun", "changed", "--json"]) == 0
        rows = json.loads(capsys.readouterr().out)
        assert [(r["day"], r["outcome"]) for r in rows] == [
            (str(d), "completed" if d == corrected else "skipped") for d in DAYS
        ]
        assert read_manifest(settings.clean_dir, corrected)["counts"]["surveys_read"] == (
            len(lines) - 2
        )
    finally:
        surveys.write_bytes(original)
    assert main([*argv, "--rerun", "changed", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["day"] for r in rows if r["outcome"] == "completed"] == [str(corrected)]
