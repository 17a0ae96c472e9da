"""The served deployments, registered on a real Prefect API: schedules, timezone, parameters."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from servicelens.settings import Settings


@pytest.fixture(scope="module")
def registered(prefect_api: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    from prefect import get_client

    from flows.deployments import build_deployments

    settings = Settings(data_dir=str(tmp_path_factory.mktemp("deploy")), timezone="Europe/London")
    found = {}
    with get_client(sync_client=True) as client:
        for deployment in build_deployments(settings):
            deployment_id = deployment.apply()
            found[deployment.name] = client.read_deployment(deployment_id)
    return found


def test_every_deployment_resolves(registered: dict[str, object]) -> None:
    assert set(registered) == {"servicelens-nightly", "servicelens-backfill", "servicelens-retrain"}
    backfill = registered["servicelens-backfill"]
    schema = backfill.parameter_openapi_schema["properties"]  # type: ignore[attr-defined]
    assert {"start", "end", "rerun", "newest_first", "concurrency", "dry_run"} <= set(schema)
    assert backfill.schedules == []  # type: ignore[attr-defined]
    # Every deployment works on the data directory it was served for, retraining included.
    data_dirs = {d.parameters["data_dir"] for d in registered.values()}  # type: ignore[attr-defined]
    assert len(data_dirs) == 1 and data_dirs.pop().endswith("deploy0")


def test_the_nightly_schedule_keeps_wall_clock_time_across_dst(
    registered: dict[str, object],
) -> None:
    from prefect.server.schemas.schedules import CronSchedule

    nightly = registered["servicelens-nightly"]
    (schedule,) = nightly.schedules  # type: ignore[attr-defined]
    assert schedule.schedule.cron == "30 2 * * *"
    assert schedule.schedule.timezone == "Europe/London"
    assert nightly.global_concurrency_limit.limit == 1  # type: ignore[attr-defined]
    # Prefect's own scheduler arithmetic over the autumn change (25 October 2026 in London).
    server_schedule = CronSchedule(cron=schedule.schedule.cron, timezone="Europe/London")
    runs = asyncio.run(server_schedule.get_dates(n=4, start=datetime(2026, 10, 23, 12, tzinfo=UTC)))
    local = [run.astimezone(ZoneInfo("Europe/London")) for run in runs]
    assert [(t.hour, t.minute) for t in local] == [(2, 30)] * 4
    # Clocks go back at 02:00 BST on 25 October, before that run: BST once, then GMT.
    assert [t.astimezone(UTC).hour for t in local] == [1, 2, 2, 2]


def test_the_nightly_date_is_yesterday_in_the_business_timezone() -> None:
    from flows.pipeline import yesterday

    # 00:30 UTC on 1 July is already 01:30 on 1 July in London: yesterday is 30 June.
    assert yesterday("Europe/London", datetime(2026, 7, 1, 0, 30, tzinfo=UTC)) == date(2026, 6, 30)
    # 23:30 UTC on 1 July is 19:30 in New York: yesterday is still 30 June there.
    assert yesterday("America/New_York", datetime(2026, 7, 1, 23, 30, tzinfo=UTC)) == date(
        2026, 6, 30
    )
    # The autumn change day itself (25 hours long in London).
    assert yesterday("Europe/London", datetime(2026, 10, 26, 1, 30, tzinfo=UTC)) == date(
        2026, 10, 25
    )


@pytest.mark.parametrize("variable", ["SERVICELENS_NIGHTLY_CRON", "SERVICELENS_RETRAIN_CRON"])
def test_a_cron_prefect_refuses_names_its_variable_before_serve_starts_anything(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
) -> None:
    """Found by a review of the start-up checks: `serve` with SERVICELENS_NIGHTLY_CRON='30 2
    * *' said only 'Invalid cron string: "30 2 * *"', after starting the embedded API."""
    import servicelens.cli.schedule as schedule
    from servicelens.cli.main import main

    started: list[bool] = []
    monkeypatch.setattr(schedule, "start_in_background", lambda **_: started.append(True))
    monkeypatch.setenv(variable, "30 2 * *")
    assert main(["--data-dir", str(tmp_path), "serve"]) == 2
    said = capsys.readouterr().err
    assert said.startswith(f"servicelens: error: {variable}='30 2 * *': not a cron expression")
    assert "minute hour day-of-month month day-of-week" in said
    assert started == []
