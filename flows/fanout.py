"""Where a backfill's dates run: in this process, or on a Dask cluster through prefect-dask.

Without a cluster address the backfill runs each planned date as its own ``nightly`` flow run
in this process (flows/dates.py). With an address (``--dask-address tcp://HOST:8786``,
``SERVICELENS_DASK_ADDRESS`` or the backfill flow's ``dask_address`` parameter) the same
planned dates are handed to the cluster as ``process-date`` tasks, spread over its workers;
each worker reads and writes the data directory itself, so the data directory must be one
every worker can reach (a shared file system or ``s3://``). Each task takes the date's lock
and records the date's outcome like a ``nightly`` run, so ``--rerun failed|missing`` sees
dates run either way.
"""

from __future__ import annotations

import logging
import os
import uuid
from dataclasses import asdict, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from prefect import task, unmapped
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from flows.dates import DateOutcome, failure_message, run_date
from flows.prefect_client import beating_flow, heartbeat_seconds, prompt_flow_heartbeats
from flows.tasks import worker_name
from servicelens.settings import Settings
from servicelens.storage.fs import as_path, is_url
from servicelens.storage.runs import PlannedDate, read_outcome, record_outcome

DASK_ADDRESS_VARIABLE = "SERVICELENS_DASK_ADDRESS"

log = logging.getLogger("servicelens.backfill")


def dask_address(explicit: str | None = None) -> str | None:
    """The Dask scheduler to use: the explicit one, else ``$SERVICELENS_DASK_ADDRESS``."""
    return explicit or os.environ.get(DASK_ADDRESS_VARIABLE) or None


def check_dask_address(address: str, seconds: float = 5.0) -> None:
    """Raise ValueError naming ``address`` (``--dask-address`` or ``SERVICELENS_DASK_ADDRESS``)
    when it is not ``tcp://HOST:PORT`` or no scheduler accepts a connection there within
    ``seconds``. Found by a platform engineer's trial: a wrong port waited 42 s and ended in
    "unexpected OSError ... a bug in servicelens"; ``8946x`` said "invalid literal for int()".
    Only TCP is checked (another Dask protocol is left to Dask)."""
    import socket

    from distributed.comm.addressing import parse_address, parse_host_port

    where = f"--dask-address {address} (or {DASK_ADDRESS_VARIABLE})"
    try:
        scheme, location = parse_address(address)
        if scheme != "tcp":
            return
        host, port = parse_host_port(location)
    except ValueError as error:
        raise ValueError(
            f"{where} is not a scheduler address like tcp://HOST:8786: {error}"
        ) from None
    try:
        with socket.create_connection((host, port), timeout=seconds):
            pass
    except OSError as error:
        raise ValueError(
            f"{where}: no Dask scheduler answers there ({error.strerror or error}): start one "
            "(`dask scheduler`) or correct the address; nothing was run"
        ) from None


def prefect_api_url() -> str | None:
    """The Prefect API this process is configured to use (``PREFECT_API_URL``, from the
    environment or the Prefect profile), None for a temporary one of its own."""
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    return str(url) if url else None


def _worker_facts(settings: Settings, marker: str | None = None) -> dict[str, str | None]:
    """What a Dask worker would run a date with (run on each worker by
    :func:`check_dask_workers`): its agent key's fingerprint, never the key
    (:meth:`Settings.agent_key_fingerprint`), its Prefect API, its object store's endpoint
    and region (:func:`store_settings`, no credentials) and, given the ``marker`` file the
    client wrote in the data directory, what it reads there (``store``: the marker's text,
    or why it could not read it)."""
    facts = {"key": settings.agent_key_fingerprint(), "api": prefect_api_url()}
    if marker is None:
        return facts
    try:
        seen: str | None = as_path(marker).read_text()
    except FileNotFoundError:
        seen = None
    except Exception as error:  # any failure to read is the worker's answer
        seen = f"cannot read it ({type(error).__name__}: {error})"
    return {**facts, "store": seen, "where": store_settings()}


#: The environment variables that say which object store a process reaches (never the
#: credentials' values: only whether they are set).
_STORE_VARIABLES = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION", "AWS_REGION")


def store_settings() -> str:
    """This process's object-store settings as one line that names no secret: the endpoint
    and region variables set, and which of the credentials' variables are set (not their
    values), e.g. ``AWS_ENDPOINT_URL=http://minio:9000, AWS_DEFAULT_REGION=eu-west-1,
    AWS_ACCESS_KEY_ID set``."""
    said = [f"{name}={os.environ[name]}" for name in _STORE_VARIABLES if os.environ.get(name)]
    said += [
        f"{name} set"
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE")
        if os.environ.get(name)
    ]
    return ", ".join(said) or "no AWS_* variables"


def _refuse_workers_on_another_store(
    address: str, settings: Settings, facts: dict[str, dict[str, str | None]], token: str
) -> None:
    """Raise ValueError naming the workers that did not read ``token`` from the marker file
    in the data directory (:func:`check_dask_workers`), what each sees, and what to set."""
    others = {w: f for w, f in sorted(facts.items()) if f.get("store") != token}
    if not others:
        return
    listed = "; ".join(
        f"{worker}: "
        + (fact["store"] or "sees no such file (another store or folder)")
        + f", with {fact['where']}"
        for worker, fact in others.items()
    )
    remote = is_url(settings.data_dir)
    what = (
        "the same AWS_ENDPOINT_URL, AWS_DEFAULT_REGION and credentials (AWS_ACCESS_KEY_ID and "
        "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE) in every worker's environment as here"
        if remote
        else "the data directory on a file system every worker mounts at the same path "
        "(or use an s3:// data directory)"
    )
    raise ValueError(
        f"--dask-address {address}: {len(others)} of {len(facts)} Dask worker(s) do not see "
        f"the data directory {settings.data_dir} this process sees ({store_settings()}), so "
        f"they would read and write another one, or fail: {listed}. Set {what}, then start "
        "the workers again; nothing was run"
    )


def _key_digest(fingerprint: str) -> str:
    """The comparable part of a fingerprint: the key's digest wherever the key is kept."""
    _, found, digest = fingerprint.rpartition(": sha256 ")
    return digest if found else fingerprint


def check_dask_workers(address: str, settings: Settings, seconds: float = 30.0) -> list[str]:
    """Ask every worker of the Dask scheduler at ``address`` what it would run a date with,
    before any date runs. Raises ValueError, naming the workers and what to set, when one
    cannot read a file this process writes in the data directory (another object store's
    endpoint, region or credentials, or a local folder that is not shared), or when one
    would pseudonymise agents with another key than this process (on several machines each
    worker made a key of its own: one agent got a pseudonym per machine, silently wrong agent
    marts; a platform engineer's trial). Returns warnings, one per Prefect API the workers use
    other than this process's (each worker started a temporary API of its own, so their
    ``backfill-<date>`` flow runs were not on the API this backfill and ``runs show`` read)."""
    from distributed import Client

    mine = _worker_facts(settings)
    # Each worker reads a file written here: a worker with another endpoint, region or
    # credentials would write another store's partitions, or fail each date (a trial).
    token = uuid.uuid4().hex
    marker = as_path(settings.data_dir) / f".servicelens-worker-check-{token}"
    if isinstance(marker, Path):
        marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(token)
    try:
        with Client(address, timeout=seconds) as client:
            facts: dict[str, dict[str, str | None]] = client.run(
                _worker_facts, settings, str(marker)
            )
    finally:
        marker.unlink(missing_ok=True)
    _refuse_workers_on_another_store(address, settings, facts, token)
    other_keys = {
        worker: fact["key"]
        for worker, fact in sorted(facts.items())
        if _key_digest(fact["key"] or "") != _key_digest(mine["key"] or "")
    }
    if other_keys:
        listed = "; ".join(f"{worker}: {key}" for worker, key in other_keys.items())
        raise ValueError(
            f"--dask-address {address}: {len(other_keys)} of {len(facts)} Dask worker(s) would "
            f"pseudonymise agents with another agent key than this process ({mine['key']}): "
            f"{listed}. Set the same SERVICELENS_AGENT_KEY here and in every worker's "
            "environment (or SERVICELENS_AGENT_KEY_FILE at a copy of this key file), then start "
            "the workers again; nothing was run"
        )
    warnings = []
    apis: dict[str | None, list[str]] = {}
    for worker, fact in sorted(facts.items()):
        if fact["api"] != mine["api"] or mine["api"] is None:
            apis.setdefault(fact["api"], []).append(worker)
    for api, workers in apis.items():
        theirs = f"PREFECT_API_URL={api}" if api else "no PREFECT_API_URL (a temporary API each)"
        here = f"PREFECT_API_URL={mine['api']}" if mine["api"] else "a temporary API of its own"
        warnings.append(
            f"Dask worker(s) {', '.join(workers)} use {theirs}, this backfill {here}: their "
            "dates' flow runs are recorded there, not where `servicelens runs show` here looks. "
            "Start a Prefect server and set the same PREFECT_API_URL here and on every worker"
        )
    return warnings


def task_runner_for(address: str | None) -> TaskRunner[Any]:
    """A prefect-dask runner connected to ``address``, or a one-date-at-a-time local runner."""
    if address:
        from prefect_dask import DaskTaskRunner

        return DaskTaskRunner(address=address)
    return ThreadPoolTaskRunner(max_workers=1)


@task(
    name="process-date",
    task_run_name="process-{planned.day}",
    cache_policy=NO_CACHE,
    persist_result=False,
)
def process_date_task(
    settings: Settings,
    planned: PlannedDate,
    trigger: str,
    tags: list[str],
    heartbeat_seconds: int | None = None,
) -> DateOutcome:
    """One planned date as its own ``backfill-<date>`` flow run, on whichever worker this task
    landed: created with the date's idempotency key, so a double trigger runs it once, and
    holding the date's lock and recording its outcome like any nightly run. The run sends
    heartbeats every ``heartbeat_seconds`` (the parent's :func:`heartbeat_seconds`): the
    worker's process is not the parent's, whose heartbeats say nothing about it."""
    from flows.pipeline import nightly  # the flows module imports this one

    with prompt_flow_heartbeats(heartbeat_seconds):
        outcome = run_date(nightly, planned, settings, trigger, tags, limit=None)
    return replace(outcome, result={**outcome.result, "processed_by": worker_name()})


@beating_flow(name="backfill-dates", flow_run_name="backfill-dates-on-task-runner")
def process_dates(
    plan: list[PlannedDate], settings: Settings, trigger: str, tags: list[str]
) -> list[DateOutcome]:
    """Every planned date as a ``process-date`` task on this flow's task runner; one failing
    date does not stop the rest. Outcomes come back in plan order."""
    dispatched = datetime.now(UTC)
    futures = process_date_task.map(
        unmapped(settings), plan, unmapped(trigger), unmapped(tags), unmapped(heartbeat_seconds())
    )
    return [
        _outcome(settings, p.day, future, dispatched)
        for p, future in zip(plan, futures, strict=True)
    ]


def _outcome(
    settings: Settings, day: date, future: PrefectFuture[DateOutcome], dispatched: datetime
) -> DateOutcome:
    future.wait()
    if future.state.is_completed():
        return future.result()
    try:
        future.result()
        error: BaseException | None = None
    except BaseException as raised:
        # What the task came back with, raised again from its state: the worker's, not a
        # stop of this process. A Rust panic, a stop of the worker, a cancelled future:
        # each loses this date alone (a date's own panic comes back as its failed outcome).
        error = raised
    message = (
        failure_message(error, settings.data_dir) if error else future.state.message or "failed"
    )
    return lost_date(settings, day, str(future.task_run_id), message, dispatched)


def lost_date(
    settings: Settings, day: date, task_run_id: str, message: str, dispatched: datetime
) -> DateOutcome:
    """The outcome of a date whose task came back without one (``message``: why).

    The date's flow run records its own outcome. A worker that died mid-date could not: the
    date is recorded failed here, under the task run's id. But the task can also be lost
    after its date finished: a scheduler killed while its workers went on (a platform
    engineer's trial) failed every future, and dates the workers had completed and recorded
    were shown failed and recorded failed over their completed outcome, which made their
    state ``failed`` under good marts. A date whose record says a run completed it since the
    dates were ``dispatched`` is that run's completed outcome (its counts from the record)."""
    try:
        recorded = read_outcome(settings, day) or {}
    except Exception as unread:  # the store may not answer: the backfill tries again at its end
        log.warning("%s: could not read its outcome record: %s", day, unread)
        recorded = {}
    finished = recorded.get("finished_at")
    if (
        recorded.get("outcome") == "completed"
        and finished
        and datetime.fromisoformat(finished) >= dispatched
    ):
        return DateOutcome(
            day.isoformat(),
            "completed",
            str(recorded.get("run_id")),
            {**recorded.get("counts", {}), "result_from": "outcome record"},
            "",
            "",
            f"its task came back without a result ({message}); its run had completed it",
        )
    try:
        record_outcome(settings, day, task_run_id, "failed", error=message)
    except Exception as unrecorded:  # tried again at the backfill's end
        log.warning("%s: could not record its failure: %s", day, unrecorded)
    return DateOutcome.failed(
        settings, day.isoformat(), f"process-{day}", message, run_id=task_run_id
    )


def run_planned_dates_on(
    address: str, plan: list[PlannedDate], settings: Settings, tags: list[str] | None = None
) -> list[DateOutcome]:
    """Run a backfill's planned dates on the Dask scheduler at ``address``, each as its own
    ``nightly`` flow run; dates the plan skips are reported as skipped. Outcomes come back in
    plan order."""
    to_run = [p for p in plan if p.run]
    ran: dict[date, DateOutcome] = {}
    if to_run:
        runner = process_dates.with_options(task_runner=task_runner_for(address))
        trigger = uuid.uuid4().hex
        outcomes = runner(to_run, settings, trigger, ["servicelens", *(tags or [])])
        ran = {p.day: o for p, o in zip(to_run, outcomes, strict=True)}
    return [ran.get(p.day) or DateOutcome.skipped(p) for p in plan]


def run_backfill(
    start: date,
    end: date,
    settings: Settings,
    address: str | None = None,
    rerun: str = "missing",
) -> list[dict[str, Any]]:
    """Run the backfill flow (on the Dask scheduler ``address`` or the environment selects)
    and return its per-date outcomes, failed dates included."""
    from flows.pipeline import backfill, finished_rows
    from flows.prefect_client import prompt_flow_heartbeats

    with prompt_flow_heartbeats():
        state = backfill(
            start,
            end,
            rerun=rerun,  # type: ignore[arg-type]
            settings=settings,
            dask_address=dask_address(address),
            return_state=True,
        )
    rows = finished_rows(state, "backfill")
    return [asdict(r) if isinstance(r, DateOutcome) else r for r in rows]
