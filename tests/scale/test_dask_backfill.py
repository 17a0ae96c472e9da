"""A backfill fanned out over a real dask.distributed cluster (scheduler + 2 worker processes)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from servicelens.settings import Settings
from servicelens.storage import read_manifest
from servicelens.synthetic import generate

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
        dashboard_address=None,
        memory_limit="1.5GiB",
    ) as running:
        yield running


def test_a_four_date_backfill_runs_on_the_dask_workers(
    prefect_api: None, cluster: object, tmp_path: Path
) -> None:
    from distributed import Client

    from flows.fanout import run_backfill

    settings = Settings(data_dir=str(tmp_path))
    generate(tmp_path, START, END, per_day=200, seed=11)
    address = cluster.scheduler_address  # type: ignore[attr-defined]
    with Client(address) as client:
        worker_pids = set(client.run(os.getpid).values())
    assert len(worker_pids) == 2

    outcomes = run_backfill(START, END, settings, address=address)

    assert [o["outcome"] for o in outcomes] == ["completed"] * 4
    assert [o["day"] for o in outcomes] == [str(START + timedelta(days=i)) for i in range(4)]
    ran_on = {int(o["processed_by"].rsplit(":", 1)[1]) for o in outcomes}
    assert ran_on <= worker_pids and os.getpid() not in ran_on
    for outcome in outcomes:
        assert outcome["surveys_read"] == outcome["kept"] + outcome["quarantined"]
        manifest = read_manifest(
            settings.marts_dir / "feedback_scored", date.fromisoformat(outcome["day"])
        )
        assert manifest is not None and manifest["counts"]["responses"] == outcome["kept"]
    glob = str(settings.marts_dir / "feedback_scored" / "*" / "*.parquet")
    per_day = duckdb.sql(
        f"SELECT survey_date, count(*) FROM read_parquet('{glob}', hive_partitioning=true) "
        "GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert [(str(d), n) for d, n in per_day] == [(o["day"], o["kept"]) for o in outcomes]


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
