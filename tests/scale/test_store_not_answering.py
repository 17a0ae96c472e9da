"""An object store that accepts connections and never answers (moto's server in a process of
its own, frozen with SIGSTOP, as a data engineer's trial froze it with ``kill -STOP``): what a
command says, how soon, and what a Dask backfill records of the date it failed. The store's
requests are bounded to seconds through the documented variables
(``SERVICELENS_STORE_CONNECT_SECONDS`` / ``_READ_SECONDS`` / ``_ATTEMPTS``)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest

from flows.dates import failure_message
from servicelens.settings import Settings
from servicelens.storage.claims import hold_date, read_date_claim
from servicelens.storage.fs import filesystem, store_not_answering
from servicelens.storage.runs import date_status, plan_backfill
from tests.reliability.cli import (
    SERVICELENS,
    START,
    WAIT_SECONDS,
    backfill_of,
    finish,
    generated_home,
    json_rows,
    wait_until,
)
from tests.scale.test_object_store_commands import _forget_filesystems, _upload

#: Each request to the store: 1 s to connect, 2 s for an answer, tried once (a frozen
#: store fails a request in about 2 s instead of the defaults' minute).
BOUNDS = {
    "SERVICELENS_STORE_CONNECT_SECONDS": "1",
    "SERVICELENS_STORE_READ_SECONDS": "2",
    "SERVICELENS_STORE_ATTEMPTS": "1",
}


@dataclass
class FrozenStore:
    """moto's S3 server in its own process, and the environment that points the AWS SDK at
    it; :meth:`frozen` stops the process (SIGSTOP) so it accepts connections and answers
    none."""

    url: str
    env: dict[str, str]
    process: subprocess.Popen[bytes]

    def freeze(self) -> None:
        os.kill(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)

    @contextmanager
    def frozen(self) -> Iterator[None]:
        self.freeze()
        try:
            yield
        finally:
            self.thaw()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@contextmanager
def moto_process(monkeypatch: pytest.MonkeyPatch) -> Iterator[FrozenStore]:
    """moto's server on 127.0.0.1 in a process of its own with one bucket; this process's
    AWS variables and the store's bounds (:data:`BOUNDS`) set to it."""
    port = _free_port()
    moto = str(Path(sys.executable).parent / "moto_server")
    process = subprocess.Popen(
        [moto, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(endpoint, timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.2)
        env = {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            **BOUNDS,
        }
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        _forget_filesystems()
        bucket = f"servicelens-{uuid.uuid4().hex[:12]}"
        filesystem("s3").mkdir(bucket)
        yield FrozenStore(f"s3://{bucket}/servicelens", env, process)
    finally:
        _forget_filesystems()
        with suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGCONT)
        process.terminate()
        process.wait(30)


def test_the_first_request_a_frozen_store_does_not_answer_ends_the_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a data engineer's trial: `backfill --dry-run` on a frozen store took 2 min
    14 s to say it does not answer, twice a request's bound: the settings' look for the
    data directory's timezone waited its request out and carried on as if the directory
    recorded none, and the command's first read waited the same again. That look now
    ends the command with the store's message."""
    from servicelens.cli.main import main

    dry_run = ["backfill", "--start", str(START), "--end", str(START), "--dry-run"]
    with moto_process(monkeypatch) as store, store.frozen():
        with pytest.raises(Exception) as raised:
            Settings.from_env(store.url)
        code = main(["--data-dir", store.url, *dry_run])
    assert store_not_answering(raised.value) is not None, raised.value
    said = capsys.readouterr().err
    assert code == 2, said
    assert f"{store.url}: the object store at {store.env['AWS_ENDPOINT_URL']} does not answer" in (
        said
    )


def test_a_dask_date_failed_by_a_frozen_store_is_told_as_such_and_recorded_at_the_end(
    prefect_api: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by a data engineer's trial: moto frozen under a Dask backfill of completed
    dates; a date's row read botocore's raw "ReadTimeoutError: Read timeout on endpoint URL
    ...", its failure was never recorded (the store did not take it), so it read completed
    and `--rerun failed` / `--rerun missing` skipped it. The row now tells the store that
    does not answer, and the backfill records the failure at its end, once the store
    answers again."""
    from distributed import LocalCluster
    from prefect.settings import get_current_settings

    from flows.pipeline import backfill as run_backfill

    days, backfill = backfill_of(2)
    home = generated_home(tmp_path, START, len(days), seed=31)
    pause, log = tmp_path / "pause", tmp_path / "backfill.log"
    api = str(get_current_settings().api.url)
    monkeypatch.setenv("SERVICELENS_AGENT_KEY", "one-key-everywhere")
    with moto_process(monkeypatch) as store:
        _upload(home, store.url)
        common = {**store.env, "PREFECT_API_URL": api}
        common["SERVICELENS_AGENT_KEY"] = "one-key-everywhere"
        # The dates completed once (here, not on Dask): a failure not recorded reads completed.
        # Run in this process, on the same API and store (this process's environment points
        # at both): it is the input of what is tested, and as a command of its own (importing
        # great_expectations, prefect and sklearn first) the test took 119 s of CPU, 105 s so.
        settings = Settings(data_dir=store.url)
        first = run_backfill(
            START, START + timedelta(days=1), rerun="all", settings=settings, return_state=True
        )
        assert first.is_completed(), first
        assert [date_status(settings, date.fromisoformat(d)).state for d in days] == [
            "completed"
        ] * 2

        worker_env = {
            **common,
            "SERVICELENS_PAUSE_AT": "date-run-created",
            "SERVICELENS_PAUSE_FILE": str(pause),
            "SERVICELENS_PAUSE_SECONDS": str(WAIT_SECONDS),
        }
        with LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            scheduler_port=0,
            dashboard_address=None,
            memory_limit="1.5GiB",
            env=worker_env,
        ) as cluster:
            on_dask = ["--dask-address", cluster.scheduler_address]
            running = subprocess.Popen(
                [SERVICELENS, "--json", "--data-dir", store.url, *backfill, *on_dask],
                env=home.env(**common),
                stdout=log.open("wb"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            # The first date's run, created, waits before it holds the date: the store
            # freezes, and the date goes on into it.
            wait_until(pause.exists, running, "the first date's run created")
            with store.frozen():
                pause.unlink()
                # The second date's run reaching the same point: the first has come back.
                wait_until(pause.exists, running, "the second date's run created")
            pause.unlink()
            code = finish(running, WAIT_SECONDS)
        said = log.read_text()
        rows = {r["day"]: r for r in json_rows(said)}
        assert code == 1, said
        [failed] = [day for day, row in rows.items() if row["outcome"] == "failed"]
        [completed] = [day for day, row in rows.items() if row["outcome"] == "completed"]
        endpoint = store.env["AWS_ENDPOINT_URL"]
        assert rows[failed]["error"].startswith(
            f"{store.url}: the object store at {endpoint} does not answer ("
        ), rows[failed]
        assert "--rerun failed" in rows[failed]["todo"], rows[failed]
        state = date_status(settings, date.fromisoformat(failed))
        assert state.state == "failed", state
        assert date_status(settings, date.fromisoformat(completed)).state == "completed"
        [planned] = plan_backfill([state], "failed")
        assert planned.run, planned


def test_a_date_whose_heartbeat_meets_a_frozen_store_fails_and_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Found by a nightly-window test (moto frozen at the night's ``validated``): the date
    hung > 15 min. Its heartbeat's rewrite of the in-flight record, a PUT, waited for the
    store's "100 Continue" with no bound (aiohttp starts the read timeout only once the
    body is sent), and the date's end waited on the heartbeat's lock to remove the record.
    Here a date is held, the store freezes while its heartbeat beats, and the date's next
    request fails: the date fails with the store's message and its hold ends."""
    day = START
    said: list[str] = []
    ended = threading.Event()

    def a_date_failed_by_the_store(store: FrozenStore, settings: Settings) -> None:
        name = f"nightly-{day}"
        # The hold's end may meet the frozen store too (its record's removal).
        with suppress(Exception), hold_date(settings, day, str(uuid.uuid4()), name, 5.0) as held:
            beats = held.claim.beat_at
            while held.claim.beat_at == beats:  # beating on the store that answers
                time.sleep(0.05)
            store.freeze()
            time.sleep(1.0)  # beats begin on the frozen store (one every 0.2 s)
            try:
                date_status(settings, day)  # the date's next request
            except Exception as error:
                said.append(failure_message(error, settings.data_dir))
                raise
        ended.set()

    with moto_process(monkeypatch) as store:
        settings = Settings(data_dir=store.url, heartbeat_seconds=0.2)
        dating = threading.Thread(
            target=a_date_failed_by_the_store, args=(store, settings), daemon=True
        )
        try:
            dating.start()
            # Generous (a request is bounded to 1 s + 2 s here): before the fix it never
            # ended; a loaded machine may be slow, never this slow.
            ended.wait(120)
        finally:
            store.thaw()
        assert ended.is_set(), "the date's hold did not end on a frozen store in 120 s"
        endpoint = store.env["AWS_ENDPOINT_URL"]
        assert said and said[0].startswith(
            f"{store.url}: the object store at {endpoint} does not answer ("
        ), said
        # The record of a date whose end met the frozen store may stay (crash recovery
        # reads it); once the store answers again, it is a valid record of this date.
        left = read_date_claim(settings, day)
        assert left is None or left.day == day.isoformat(), left
