"""A backfill fanned out over a real dask.distributed cluster (scheduler + 2 worker processes)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from flows.fanout import run_planned_dates_on
from servicelens.settings import Settings
from servicelens.storage.partitions import read_manifest
from servicelens.storage.runs import date_status, outcome_path, plan_backfill
from servicelens.synthetic.generator import generate
from tests.flows.conftest import flow_runs_named

START = date(2026, 10, 1)
END = START + timedelta(days=3)


@pytest.fixture(scope="module")
def cluster() -> Iterator[object]:
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        scheduler_port=0,
        dashboard_address="127.0.0.1:0",  # None still binds 8787, warning when it is taken
        memory_limit="1.5GiB",
    ) as running:
        yield running


def test_a_four_date_backfill_runs_on_the_dask_workers(
    prefect_api: None, cluster: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """main's backfill (plan, rerun policy, outcome records, table, exit code) with its dates
    run on the workers; a failed date is recorded and re-run; a double trigger runs once."""
    from distributed import Client

    from flows.fanout import run_backfill
    from servicelens.cli.main import main

    settings = Settings(data_dir=str(tmp_path))
    generate(tmp_path, START, END, per_day=200, seed=11)
    address = cluster.scheduler_address  # type: ignore[attr-defined]
    with Client(address) as client:
        worker_pids = set(client.run(os.getpid).values())
    assert len(worker_pids) == 2
    days = [START + timedelta(days=i) for i in range(4)]
    broken = days[1]
    surveys = settings.raw_day(broken) / "surveys.csv"
    original = surveys.read_bytes()

    surveys.write_bytes(original.replace(b"csat,", b"satisfaction,", 1))
    argv = ["--data-dir", str(tmp_path), "backfill", "--start", str(START), "--end", str(END)]
    code = main([*argv, "--dask-address", address])
    table = capsys.readouterr().out
    assert code == 1, table
    lines = [line.split() for line in table.splitlines()[2:6]]
    assert [(line[0], line[1]) for line in lines] == [
        (str(d), "failed" if d == broken else "completed") for d in days
    ]
    assert "csat" in table
    # Outcomes are recorded for dates run on Dask, so the rerun policies see them.
    assert [date_status(settings, d).state for d in days] == [
        "failed" if d == broken else "completed" for d in days
    ]
    assert json.loads(outcome_path(settings, broken).read_text())["outcome"] == "failed"

    surveys.write_bytes(original)
    outcomes = run_backfill(START, END, settings, address=address, rerun="failed")

    assert [o["outcome"] for o in outcomes] == [
        "completed" if d == broken else "skipped" for d in days
    ]
    rerun = outcomes[1]["result"]
    assert int(rerun["processed_by"].rsplit(":", 1)[1]) in worker_pids - {os.getpid()}
    assert rerun["surveys_read"] == rerun["kept"] + rerun["quarantined"]
    assert [date_status(settings, d).state for d in days] == ["completed"] * 4
    kept = {}
    for day in days:
        manifest = read_manifest(settings.marts_dir / "feedback_scored", day)
        assert manifest is not None
        kept[str(day)] = manifest["counts"]["responses"]
    assert kept[str(broken)] == rerun["kept"]
    glob = str(settings.marts_dir / "feedback_scored" / "*" / "*.parquet")
    per_day = duckdb.sql(
        f"SELECT survey_date, count(*) FROM read_parquet('{glob}', hive_partitioning=true) "
        "GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert {str(d): n for d, n in per_day} == kept

    # Each date ran as its own backfill-<date> flow run, on Dask as locally; two triggers at
    # the same moment (two threads, each fanning out to the cluster) run each date once.
    assert all(flow_runs_named(f"backfill-{d}", settings.data_dir) for d in days)
    triggered_at = datetime.now(UTC)
    plan = plan_backfill([date_status(settings, d, triggered_at) for d in days], "all")
    with ThreadPoolExecutor(2) as pool:
        both = list(pool.map(lambda _: run_planned_dates_on(address, plan, settings), range(2)))
    for i in range(len(days)):
        assert sorted(outcomes[i].outcome for outcomes in both) == ["completed", "duplicate"]


def test_the_address_comes_from_the_option_or_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from prefect.task_runners import ThreadPoolTaskRunner
    from prefect_dask import DaskTaskRunner

    from flows.fanout import DASK_ADDRESS_VARIABLE, dask_address, task_runner_for

    monkeypatch.delenv(DASK_ADDRESS_VARIABLE, raising=False)
    assert dask_address(None) is None
    assert isinstance(task_runner_for(None), ThreadPoolTaskRunner)
    monkeypatch.setenv(DASK_ADDRESS_VARIABLE, "tcp://10.0.0.5:8786")
    assert dask_address(None) == "tcp://10.0.0.5:8786"
    assert dask_address("tcp://127.0.0.1:8786") == "tcp://127.0.0.1:8786"
    runner = task_runner_for(dask_address(None))
    assert isinstance(runner, DaskTaskRunner)


def test_a_date_left_stuck_by_a_dead_worker_on_another_machine_is_recovered_on_dask(
    prefect_api: None, cluster: object, tmp_path: Path
) -> None:
    """Across machines a free local lock proves nothing: the stuck run's record, written by a
    worker on another host, is found dead by its beat, and the date runs on the cluster."""
    from datetime import UTC, datetime, timedelta

    from tests.flows.stuck import dead_record, stuck_run

    settings = Settings(data_dir=str(tmp_path), heartbeat_seconds=0.5)
    generate(tmp_path, START, START, per_day=150, seed=12)
    [planned] = plan_backfill([date_status(settings, START)], "all")
    stuck = stuck_run(settings, planned)
    last_beat = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    dead_record(settings, stuck, host="a-worker-on-another-machine", beat_at=last_beat)

    address = cluster.scheduler_address  # type: ignore[attr-defined]
    [outcome] = run_planned_dates_on(address, [planned], settings)

    assert outcome.outcome == "completed", outcome
    assert "last beat" in outcome.recovered and str(stuck.id) in outcome.recovered
    assert date_status(settings, START).state == "completed"
    from prefect import get_client

    with get_client(sync_client=True) as client:
        crashed = client.read_flow_run(stuck.id)
    assert crashed.state is not None and crashed.state.type.value == "CRASHED"
    assert "a-worker-on-another-machine last beat" in (crashed.state.message or "")


@pytest.fixture(scope="module")
def cluster_of_another_machine() -> Iterator[object]:
    """Two workers set up as on another machine: an agent key and a Prefect API of their own."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        scheduler_port=0,
        dashboard_address="127.0.0.1:0",  # None still binds 8787, warning when it is taken
        memory_limit="1.5GiB",
        env={"SERVICELENS_AGENT_KEY": "a-key-of-that-machine", "PREFECT_API_URL": OTHER_API},
    ) as running:
        yield running


OTHER_API = "http://127.0.0.1:9/api"


def test_workers_with_another_agent_key_are_refused_before_any_date_runs(
    prefect_api: None,
    cluster_of_another_machine: object,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Found by a platform engineer's trial: workers on other machines each made an agent key
    of their own, so one agent got a pseudonym per machine in the agent marts, silently. The
    backfill compares the key's fingerprint (never the key) and refuses, exit 2, nothing run."""
    from servicelens.cli.main import main

    monkeypatch.setenv("SERVICELENS_AGENT_KEY", "the-key-of-this-machine")
    generate(tmp_path, START, START, per_day=100, seed=13)
    address = cluster_of_another_machine.scheduler_address  # type: ignore[attr-defined]
    argv = ["--data-dir", str(tmp_path), "backfill", "--start", str(START), "--end", str(START)]
    code = main([*argv, "--dask-address", address])
    said = capsys.readouterr().err
    assert code == 2, said
    assert "2 of 2 Dask worker(s) would pseudonymise agents with another agent key" in said
    assert "SERVICELENS_AGENT_KEY" in said and "nothing was run" in said
    assert "the-key-of-this-machine" not in said and "a-key-of-that-machine" not in said
    assert date_status(Settings(data_dir=str(tmp_path)), START).state == "missing"


def test_workers_on_another_prefect_api_are_warned_of(
    prefect_api: None,
    cluster_of_another_machine: object,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """Each worker without this process's PREFECT_API_URL started a temporary API of its own
    (a trial's worker log: "Starting temporary server"), and the backfill said nothing."""
    from flows.fanout import check_dask_workers

    monkeypatch.setenv("SERVICELENS_AGENT_KEY", "a-key-of-that-machine")  # the same key
    address = cluster_of_another_machine.scheduler_address  # type: ignore[attr-defined]
    [warning] = check_dask_workers(address, Settings(data_dir=str(tmp_path)))
    assert f"use PREFECT_API_URL={OTHER_API}" in warning, warning
    assert "set the same PREFECT_API_URL here and on every worker" in warning


def test_workers_reaching_another_object_store_are_refused_before_any_date_runs(
    prefect_api: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Found by a platform engineer's trial: the backfill compared the workers' agent keys
    and Prefect API, not their store: a worker with another AWS_ENDPOINT_URL (region,
    credentials) writes another store's partitions, or fails every date it is given. Each
    worker reads a file the backfill writes in the data directory first; those that cannot
    are named, with what to set (never a credential's value), exit 2, nothing run."""
    from distributed import LocalCluster
    from prefect.settings import get_current_settings

    from servicelens.cli.main import main
    from tests.scale.test_object_store_commands import s3_server

    monkeypatch.setenv("SERVICELENS_AGENT_KEY", "one-key-everywhere")
    generate(tmp_path / "exports", START, START, per_day=100, seed=14)
    with s3_server(monkeypatch) as store:
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-of-this-machine")
        from servicelens.storage.fs import filesystem

        for path in sorted((tmp_path / "exports").rglob("*")):
            if path.is_file():
                relative = path.relative_to(tmp_path / "exports")
                filesystem("s3").put_file(str(path), f"{store.url}/{relative}")
        elsewhere = {
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9",  # nothing answers there
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "secret-of-that-machine",
            "SERVICELENS_AGENT_KEY": "one-key-everywhere",
            "PREFECT_API_URL": str(get_current_settings().api.url),
        }
        with LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            scheduler_port=0,
            dashboard_address=None,
            memory_limit="1.5GiB",
            env=elsewhere,
        ) as other:
            argv = ["--data-dir", store.url, "backfill", "--start", str(START), "--end", str(START)]
            code = main([*argv, "--dask-address", other.scheduler_address])
        said = capsys.readouterr().err
        assert code == 2, said
        assert "1 of 1 Dask worker(s) do not see the data directory" in said, said
        assert f"AWS_ENDPOINT_URL={store.env['AWS_ENDPOINT_URL']}" in said, said
        assert "AWS_ENDPOINT_URL=http://127.0.0.1:9" in said, said
        assert "Set the same AWS_ENDPOINT_URL" in said and "nothing was run" in said, said
        assert "secret-of-this-machine" not in said and "secret-of-that-machine" not in said
        assert filesystem("s3").glob(f"{store.url}/.servicelens-worker-check-*") == []
        assert date_status(Settings(data_dir=store.url), START).state == "missing"
