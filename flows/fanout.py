"""Where a backfill's dates run: a local task runner, or a Dask cluster through prefect-dask.

A backfill hands each date to a task runner as one ``process-date`` task. Without a cluster
address the runner is local and takes one date at a time (polars already uses every core,
and one date at a time keeps peak memory that of one date). With an address
(``--dask-address tcp://HOST:8786`` or ``SERVICELENS_DASK_ADDRESS``) the dates are spread over
the cluster's workers; each worker reads and writes the data directory itself, so the data
directory must be one every worker can reach (a shared file system or ``s3://``).
"""

from __future__ import annotations

import os
from datetime import date
from typing import Any

from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from servicelens.settings import Settings

DASK_ADDRESS_VARIABLE = "SERVICELENS_DASK_ADDRESS"


def dask_address(explicit: str | None = None) -> str | None:
    """The Dask scheduler to use: the explicit one, else ``$SERVICELENS_DASK_ADDRESS``."""
    return explicit or os.environ.get(DASK_ADDRESS_VARIABLE) or None


def task_runner_for(address: str | None) -> TaskRunner[Any]:
    """A prefect-dask runner connected to ``address``, or a one-date-at-a-time local runner."""
    if address:
        from prefect_dask import DaskTaskRunner

        return DaskTaskRunner(address=address)
    return ThreadPoolTaskRunner(max_workers=1)


def run_backfill(
    start: date, end: date, settings: Settings, address: str | None = None
) -> list[dict[str, Any]]:
    """Run the backfill flow with the task runner ``address`` (or the environment) selects."""
    from flows.pipeline import backfill

    runner = task_runner_for(dask_address(address))
    return backfill.with_options(task_runner=runner)(start, end, settings)
