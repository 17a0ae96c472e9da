"""Schedules fire on a real Prefect server: the server creates the runs, `serve` runs them.

A real ``prefect server start`` on 127.0.0.1 (its own home and database in a temporary
folder, a free port) with a 2-second scheduler loop. Then

* the real deployments are registered with their real crons, and the server must hold the
  nightly and retrain runs those crons give, at 02:30 and 05:00 business time;
* the real deployments are served with the nightly one on an interval due within seconds,
  and the server must create a scheduled run of it that completes and publishes the marts.

With sqlalchemy 2.1 and Prefect 3.8 the scheduler failed every loop and both fail.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest

from servicelens.cli.embedded_api import SKIP_BLOCK_REGISTRATION
from servicelens.settings import Settings
from tests.prefect_homes import own_env, seeded

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
TIMEZONE = "Europe/London"
#: Generous: a busy 2-core machine starts a server in 10-60 s and runs a date in 10-40 s.
SERVER_START_SECONDS = 300.0
RUN_DONE_SECONDS = 600.0
#: Generous too: on a quiet machine serve stops within a few seconds of Ctrl-C.
STOP_SECONDS = 120.0
#: How long a slot lease no record names stays taken on a server: the lease time (60 s,
#: servicelens's default and Prefect's minimum) and a round of the server's repossessor
#: (every 15 s), with margin.
LAPSED_LEASE_SECONDS = 60.0 + 15.0 + 30.0
T = TypeVar("T")


@dataclass(frozen=True)
class Server:
    api_url: str
    home: Path
    log: Path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for(what: str, check: Callable[[], T | None], seconds: float, log: Path) -> T:
    """Poll ``check`` until it returns a value; fail with the log's tail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found is not None:
            return found
        # A short poll: every wait here is on a real condition, and each second of a longer
        # poll was a second the test stood still after it held.
        time.sleep(0.2)
    tail = log.read_text(errors="replace")[-4000:] if log.exists() else "(no log)"
    pytest.fail(f"{what}: not seen within {seconds:.0f} s; {log} ends:\n{tail}")


def _with_its_log(said: str) -> str:
    """``said`` (a command's error output), and the end of the log file it names: a served
    run stopped under load once ended in "unexpected ExceptionGroup" whose log (in the test's
    temporary folder) was gone before anyone could read it."""
    if "with the log " not in said:
        return said
    log = Path(said.split("with the log ", 1)[1].split(";", 1)[0].strip())
    tail = log.read_text(errors="replace")[-6000:] if log.exists() else "(log missing)"
    return f"{said}\n--- {log} (end) ---\n{tail}"


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Ctrl-C first (serve and the server shut down cleanly on it), then kill."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


def _prefect_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a command on Prefect home ``home``, given a migrated, empty
    database (:func:`tests.prefect_homes.seeded`), with ``extra``."""
    return own_env(seeded(home), **{"PREFECT_LOGGING_LEVEL": "INFO", **extra})


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("prefect-server-home")
    port = _free_port()
    log = home / "server.log"
    env = _prefect_env(
        home,
        # Look for deployments to schedule every 2 s instead of every 60 s.
        PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS="2",
        # The seeded database holds the template's block types; Prefect's memo of them
        # names the template's path, so the server would register them all again (what the
        # commands' embedded servers skip too): schedules use no block.
        **SKIP_BLOCK_REGISTRATION,
    )
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=home,
        )
    api_url = f"http://127.0.0.1:{port}/api"

    def healthy() -> bool | None:
        if process.poll() is not None:
            pytest.fail(f"prefect server exited with {process.returncode}: {log.read_text()}")
        try:
            with urllib.request.urlopen(f"{api_url}/health", timeout=5) as response:
                return True if response.status == 200 else None
        except OSError:
            return None

    try:
        _wait_for("the server's /api/health", healthy, SERVER_START_SECONDS, log)
        yield Server(api_url, home, log)
    finally:
        _stop(process)
    # The scheduler's own failures are what hid the runs: none may be in its log.
    assert "Can't evaluate bulk DML statement" not in log.read_text(errors="replace")


def _api(server: Server, path: str, body: dict[str, Any]) -> Any:
    """POST ``body`` to the server's ``path``; a 503 (a busy server: the SQLite database
    locked a moment) is asked again, for up to a minute."""
    deadline = time.monotonic() + 60.0
    while True:
        request = urllib.request.Request(
            f"{server.api_url}{path}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            if error.code != 503 or time.monotonic() > deadline:
                raise
        time.sleep(1.0)


def _backfill_slots_taken(server: Server) -> int:
    """The active slots of the limit servicelens-backfill on the server."""
    limits = _api(server, "/v2/concurrency_limits/filter", {})
    return sum(int(g["active_slots"]) for g in limits if g["name"] == "servicelens-backfill")


def _deployment_id(server: Server, flow: str, name: str) -> str | None:
    """The deployment's id, or None while it is not registered."""
    found = _api(
        server,
        "/deployments/filter",
        {"flows": {"name": {"any_": [flow]}}, "deployments": {"name": {"any_": [name]}}},
    )
    return found[0]["id"] if found else None


def _runs(server: Server, deployment_id: str, state: str | None = None) -> list[dict[str, Any]]:
    flow_runs: dict[str, Any] = {"deployment_id": {"any_": [deployment_id]}}
    if state:
        flow_runs["state"] = {"type": {"any_": [state]}}
    return list(
        _api(
            server, "/flow_runs/filter", {"flow_runs": flow_runs, "sort": "EXPECTED_START_TIME_ASC"}
        )
    )


def _generate(data_dir: Path, days: list[date], per_day: int = 150) -> None:
    """The sample exports of ``days`` in ``data_dir``, as `servicelens generate --start
    --end --per-day` writes them (its parser's defaults; the default business timezone, as
    the command ran without the test's SERVICELENS_ settings). Written in the test's
    process: they are the serve tests' input, not what they test, and a `generate` process
    of its own paid ~5 s of CPU importing great_expectations, prefect and sklearn first."""
    from servicelens.cli.main import build_parser
    from servicelens.settings import DEFAULT_TIMEZONE
    from servicelens.synthetic.generator import generate

    args = build_parser().parse_args(
        ["generate", "--start", str(min(days)), "--end", str(max(days)),
         "--per-day", str(per_day)]
    )  # fmt: skip
    generate(
        data_dir,
        args.start,
        args.end,
        args.per_day,
        args.seed,
        timezone=DEFAULT_TIMEZONE,
        audits_until=datetime.now(UTC),
    )


def _published_manifests(settings: Settings, partition: str) -> tuple[Any, Any]:
    """The manifests of ``partition`` (``survey_date=...``) in the clean layer and in the
    ``feedback_scored`` mart."""
    clean = json.loads((settings.clean_dir / partition / "_manifest.json").read_text())
    scored = json.loads(
        (settings.marts_dir / "feedback_scored" / partition / "_manifest.json").read_text()
    )
    return clean, scored


#: Serves the real deployments, the nightly one on an interval whose first run is due a few
#: seconds after the deployment is registered (the rest as configured).
SERVE_WITH_INTERVAL = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime, timedelta

    from prefect.schedules import Interval

    from flows.deployments import NIGHTLY, serve_deployments
    from servicelens.settings import Settings

    settings = Settings.from_env(sys.argv[1])
    # Set after the imports above (the slow part of starting): what is left before the
    # deployment is registered is a few API calls. Were it registered later, the next
    # interval's run is the one created, and the test waits for that one instead.
    first = datetime.now(UTC) + timedelta(seconds=10)
    every = timedelta(seconds=float(sys.argv[2]))
    serve_deployments(settings, {NIGHTLY: [Interval(every, anchor_date=first)]})
    """
)


def test_the_real_crons_give_scheduled_runs_at_business_time(
    server: Server, tmp_path: Path
) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.deployments import build_deployments

    settings = Settings(data_dir=str(tmp_path / "data"), timezone=TIMEZONE)
    # Registered, not served: the schedules alone must make the server create runs.
    with temporary_settings({PREFECT_API_URL: server.api_url}):
        ids = {d.name: d.apply() for d in build_deployments(settings)}
    nightly = _wait_for(
        "scheduled runs of the nightly cron",
        lambda: _runs(server, str(ids["servicelens-nightly"]), "SCHEDULED") or None,
        RUN_DONE_SECONDS,
        server.log,
    )
    retrain = _wait_for(
        "scheduled runs of the retrain cron",
        lambda: _runs(server, str(ids["servicelens-retrain"]), "SCHEDULED") or None,
        RUN_DONE_SECONDS,
        server.log,
    )
    assert _runs(server, str(ids["servicelens-backfill"])) == []

    def local(run: dict[str, Any]) -> datetime:
        return datetime.fromisoformat(run["expected_start_time"]).astimezone(ZoneInfo(TIMEZONE))

    now = datetime.now(UTC)
    nightly_times = [local(r) for r in nightly]
    assert all(r["auto_scheduled"] for r in nightly + retrain)
    assert all(t > now for t in nightly_times)
    # 02:30 in London, on consecutive days, starting within the next day.
    assert {(t.hour, t.minute) for t in nightly_times} == {(2, 30)}
    days = [t.date() for t in nightly_times]
    assert days == [days[0] + timedelta(days=i) for i in range(len(days))]
    assert nightly_times[0] - now <= timedelta(days=1)
    # Sundays at 05:00 in London, a week apart.
    retrain_times = [local(r) for r in retrain]
    assert {(t.weekday(), t.hour, t.minute) for t in retrain_times} == {(6, 5, 0)}
    assert all(b - a == timedelta(days=7) for a, b in itertools.pairwise(retrain_times))


def test_the_server_creates_the_nightly_run_and_serve_completes_it(
    server: Server, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    now_local = datetime.now(ZoneInfo(TIMEZONE))
    # The run processes yesterday relative to its scheduled time; today too, in case the
    # test crosses midnight in London.
    _generate(data_dir, [now_local.date() - timedelta(days=1), now_local.date()])
    script = tmp_path / "serve_with_interval.py"
    script.write_text(SERVE_WITH_INTERVAL)
    log = tmp_path / "serve.log"
    env = _prefect_env(
        server.home / "client",
        PREFECT_API_URL=server.api_url,
        PYTHONPATH=str(ROOT),
        SERVICELENS_TIMEZONE=TIMEZONE,
        # Yesterday only: the look-back dates hold no exports here.
        SERVICELENS_LOOKBACK_DAYS="0",
        # serve asks for due runs every 2 s instead of every 10 s.
        PREFECT_RUNNER_POLL_FREQUENCY="2",
    )
    interval_seconds = 90.0
    with log.open("wb") as out:
        serving = subprocess.Popen(
            [sys.executable, str(script), str(data_dir), str(interval_seconds)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    try:
        nightly_id = _wait_for(
            "the nightly deployment on the server",
            lambda: _deployment_id(server, "nightly-window", "servicelens-nightly"),
            RUN_DONE_SECONDS,
            log,
        )
        completed = _wait_for(
            "a scheduled nightly run that completed",
            lambda: _runs(server, nightly_id, "COMPLETED") or None,
            RUN_DONE_SECONDS,
            log,
        )
        # serve says each run it executed, as it starts and as it ends, with its outcome
        # (a trial's serve showed only Prefect's banner: journald had nothing of a nightly).
        ended = f"ended nightly-window/{completed[0]['name']} ({completed[0]['id']}): Completed"
        _wait_for(
            "serve's line on the end of the nightly run",
            lambda: True if ended in log.read_text(errors="replace") else None,
            30.0,
            log,
        )
        said = log.read_text(errors="replace")
        assert (
            f"servicelens serve: started nightly-window/{completed[0]['name']} "
            f"({completed[0]['id']}, scheduled)" in said
        ), said
        # One Ctrl-C stops serving (Prefect's runner alone could outlive it by minutes).
        serving.send_signal(signal.SIGINT)
        try:
            serving.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            pytest.fail(f"serve still running {STOP_SECONDS:.0f} s after one SIGINT")
    finally:
        _stop(serving)

    # Stopping paused the deployment on the server (nothing serves its runs now), and
    # registering it again, as the next `serve` does, resumes it.
    [paused] = _api(server, "/deployments/filter", {"deployments": {"id": {"any_": [nightly_id]}}})
    assert paused["paused"] is True
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.deployments import NIGHTLY, build_deployments

    settings = Settings(data_dir=str(data_dir), timezone=TIMEZONE)
    with temporary_settings({PREFECT_API_URL: server.api_url}):
        [again] = [d for d in build_deployments(settings) if d.name == NIGHTLY]
        again.apply()
    [resumed] = _api(server, "/deployments/filter", {"deployments": {"id": {"any_": [nightly_id]}}})
    assert resumed["paused"] is False

    run = completed[0]
    # Created by the server's scheduler from the deployment's schedule, not triggered.
    assert run["auto_scheduled"] is True
    assert run["deployment_id"] == nightly_id
    # It ran the date it was scheduled for, and published it: the marts on disk hold every
    # response the clean layer kept that day.
    scheduled = datetime.fromisoformat(run["expected_start_time"]).astimezone(ZoneInfo(TIMEZONE))
    target = scheduled.date() - timedelta(days=1)
    partition = f"survey_date={target.isoformat()}"
    clean, scored = _published_manifests(settings, partition)
    assert clean["counts"]["kept"] > 0
    assert scored["counts"]["responses"] == clean["counts"]["kept"]
    outcome = json.loads((settings.runs_dir / f"{partition}.json").read_text())
    assert outcome["outcome"] == "completed"
    # The partitions were written by the date's own flow run, which completed on the server.
    (date_run,) = _api(
        server, "/flow_runs/filter", {"flow_runs": {"id": {"any_": [scored["run_id"]]}}}
    )
    assert date_run["name"] == f"nightly-{target.isoformat()}"
    assert date_run["state_type"] == "COMPLETED"
    assert "nightly" in date_run["tags"]


def _start_serve(
    data_dir: Path, env: dict[str, str], cwd: Path, out: Path, err: Path
) -> subprocess.Popen[bytes]:
    """`servicelens serve` in a session of its own (so a signal to its group is a terminal's
    Ctrl-C), its output in ``out`` and ``err``; returns once it says it is serving."""
    with out.open("wb") as stdout, err.open("wb") as stderr:
        serving = subprocess.Popen(
            [str(BIN / "servicelens"), "--data-dir", str(data_dir), "serve"],
            env=env,
            stdout=stdout,
            stderr=stderr,
            cwd=cwd,
            start_new_session=True,
        )
    try:
        _wait_for(
            "serve's start",
            lambda: True if "being served" in out.read_text() else None,
            SERVER_START_SECONDS,
            err,
        )
    except BaseException:
        _stop(serving)
        raise
    return serving


def test_ctrl_c_stops_serve_on_the_embedded_api_at_once(tmp_path: Path) -> None:
    """Found by a trial: Ctrl-C reaches the embedded API server too (the terminal signals the
    whole process group), and Prefect's runner then paused the deployments on it as it
    stopped, racing the server's own shutdown: three Ctrl-Cs of four left the command
    retrying for 70-80 s, silent. On the embedded API nothing is paused (that server stops
    with the command), and the command says it stopped.

    While it serves, the command it prints to run a deployment finds it: a trial's serve
    printed Prefect's "$ prefect deployment run [DEPLOYMENT_NAME]", which from the project
    folder said "Deployment ... not found!" (another Prefect home, a temporary API of its
    own); `servicelens prefect` runs Prefect's CLI with the project's home and serve's API."""
    data_dir = tmp_path / "data"
    out, err = tmp_path / "serve.out", tmp_path / "serve.err"
    env = _prefect_env(tmp_path / "home")
    serving = _start_serve(data_dir, env, tmp_path, out, err)
    try:
        said = out.read_text()
        assert "[DEPLOYMENT_NAME]" not in said, said
        assert (
            f"{BIN / 'servicelens'} prefect deployment run 'backfill/servicelens-backfill' "
            "-p start=YYYY-MM-DD -p end=YYYY-MM-DD"
        ) in said, said
        inspected = subprocess.run(
            [str(BIN / "servicelens"), "prefect", "deployment", "inspect",
             "backfill/servicelens-backfill"],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert inspected.returncode == 0, inspected.stdout + inspected.stderr
        assert "'name': 'servicelens-backfill'" in inspected.stdout, inspected.stdout
        os.killpg(serving.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the group
        serving.wait(timeout=STOP_SECONDS)
    finally:
        _stop(serving)
    assert serving.returncode == 0, _with_its_log(err.read_text())
    assert err.read_text().strip() == "stopped serving (the embedded API stopped with it)"
    [log] = (data_dir / "logs").glob("*-serve.log")
    assert "Pausing all deployments" not in log.read_text()
    assert "never awaited" not in log.read_text()


def test_serve_says_when_each_deployment_runs_in_which_timezone_and_what(tmp_path: Path) -> None:
    """Found by a card issuer's trial: serve named its deployments and two commands, not
    what they would do; the trial ran `prefect deployment inspect` to learn the retrain's
    cron `0 5 * * 0`, America/New_York and the data directory. Serve now says, for each,
    its schedule in words with the timezone, its next run, and what it runs."""
    from servicelens.ingest.configured import register_source

    zone = "America/New_York"
    data_dir = tmp_path / "data"
    definition = tmp_path / "cardco.toml"
    definition.write_text(
        'name = "cardco"\n[columns]\nresponse_id = "ID"\nsubmitted_at = "At"\ncsat = "Score"\n'
    )
    register_source(Settings(data_dir=str(data_dir), timezone=zone), str(definition))
    out, err = tmp_path / "serve.out", tmp_path / "serve.err"
    env = _prefect_env(tmp_path / "home", SERVICELENS_TIMEZONE=zone)
    started = datetime.now(UTC)
    serving = _start_serve(data_dir, env, tmp_path, out, err)
    try:
        said = {
            line.split(": ", 1)[0].strip(): line.split(": ", 1)[1]
            for line in out.read_text().splitlines()
            if line.startswith("  ") and ": " in line and "/servicelens-" in line.split(": ")[0]
        }
    finally:
        os.killpg(serving.pid, signal.SIGINT)
        serving.wait(timeout=STOP_SECONDS)
        _stop(serving)
    where = f"in {data_dir.resolve()}"
    nightly = said["nightly-window/servicelens-nightly"]
    assert nightly.startswith(f"at 02:30 every day ({zone}; cron '30 2 * * *'), next "), nightly
    assert nightly.endswith(f"changed dates of cardco {where}"), nightly
    retrain = said["train/servicelens-retrain"]
    assert retrain.startswith(f"at 05:00 on Sunday ({zone}; cron '0 5 * * 0'), next Sun "), retrain
    assert retrain.endswith(f"retrains the model of cardco {where}"), retrain
    # The next run is the coming Sunday's 05:00 in New York, after serve started.
    shown = retrain.split(", next ", 1)[1].split(";")[0]  # "Sun 2026-12-13 05:00 EST"
    local = datetime.strptime(shown.rsplit(" ", 1)[0], "%a %Y-%m-%d %H:%M")
    upcoming = local.replace(tzinfo=ZoneInfo(zone))
    assert started < upcoming <= started + timedelta(days=7), (started, shown)
    assert "no schedule" in said["backfill/servicelens-backfill"]


#: The date the stop tests' run is in flight on.
IN_FLIGHT_DAY = date(2026, 11, 2)


@pytest.fixture(scope="module")
def in_flight_exports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory holding the exports of :data:`IN_FLIGHT_DAY`, 60,000 surveys: big
    enough that the date is still running when the signal comes (seconds of work).
    Generated once for both stop tests, each of which runs on a copy (the generator's same
    arguments give the same files; ~4.3 s of CPU a generation, 2026-12-07)."""
    folder = tmp_path_factory.mktemp("in-flight-exports")
    _generate(folder, [IN_FLIGHT_DAY], per_day=60000)
    return folder


@pytest.mark.parametrize("stop", ["ctrl-c", "sigterm"])
def test_stopping_serve_with_a_run_in_flight_releases_what_it_held(
    server: Server, in_flight_exports: Path, tmp_path: Path, stop: str
) -> None:
    """Found by a trial: Ctrl-C (or SIGTERM) to `servicelens serve` while a flow run it had
    started was executing left that run `Running` on the server, its date with no outcome,
    its date lock's record and backfill slot held until `servicelens runs release`, and
    serve's last words named none of it. Now serve stops the run, releases what it held and
    names the date with the backfill that runs it again. Under SIGTERM serve serves another
    data directory than the one the run's `data_dir` parameter names (found by a trial:
    serve then released nothing of the run's, and its command named serve's directory)."""
    data_dir = tmp_path / "data"
    day = IN_FLIGHT_DAY
    shutil.copytree(in_flight_exports, data_dir)
    env = _prefect_env(
        tmp_path / "client-home",
        PREFECT_API_URL=server.api_url,
        PREFECT_RUNNER_POLL_FREQUENCY="2",
        SERVICELENS_TIMEZONE=TIMEZONE,
    )
    out, err = tmp_path / "serve.out", tmp_path / "serve.err"
    # Registered by this serve once it says it is serving (the module's other tests
    # register the same deployment for their own data directories), and the run names this
    # test's data directory.
    serving = _start_serve(
        data_dir if stop == "ctrl-c" else tmp_path / "serve-data", env, ROOT, out, err
    )
    in_flight = data_dir / "runs" / "in-flight"
    try:
        backfill_id = _deployment_id(server, "backfill", "servicelens-backfill")
        parameters = {"start": str(day), "end": str(day), "data_dir": str(data_dir.resolve())}
        _api(
            server,
            f"/deployments/{backfill_id}/create_flow_run",
            {"parameters": parameters},
        )
        _wait_for(
            "the date's in-flight record",
            lambda: True if list(in_flight.glob(f"survey_date={day}*.json")) else None,
            RUN_DONE_SECONDS,
            err,
        )
        if stop == "ctrl-c":
            os.killpg(serving.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the group
        else:
            serving.send_signal(signal.SIGTERM)  # as a service manager stops it
        serving.wait(timeout=STOP_SECONDS)
    finally:
        _stop(serving)
    said = err.read_text()
    assert serving.returncode == 0, _with_its_log(said)
    # A run whose process ended in the stop is said stopped by it, never "exited with the
    # run Submitting" as if lost (a trial's SIGTERM; flows.served.ServedRuns.stopping).
    assert "its process exited with the run" not in out.read_text(), out.read_text()
    # The run was in flight: no outcome of its own, the date left unfinished and named.
    outcome = json.loads((data_dir / "runs" / f"survey_date={day}.json").read_text())
    assert outcome["outcome"] in ("interrupted", "crashed"), outcome
    assert f"left unfinished by the runs serve stopped: {day}" in said, said
    # The command names the run's data directory, and the stopped backfill's rest of its
    # range (here its one date) with its own policy.
    named = f"servicelens --data-dir {data_dir.resolve()} backfill"
    assert f"{named} --start {day} --end {day} --rerun all" in said, said
    assert f"{named} --start {day} --end {day} --rerun missing" in said, said
    # Nothing is left held: no record, no unfinished flow run, no slot taken.
    assert list(in_flight.glob("*.json")) == []
    unfinished = _api(
        server,
        "/flow_runs/filter",
        {"flow_runs": {"state": {"type": {"any_": ["RUNNING", "PENDING", "SCHEDULED"]}}}},
    )
    assert [r["name"] for r in unfinished if str(day) in r["name"]] == []
    # The slot is given back at once as a rule. Once in about 35 loaded runs (after the
    # signals were held around the grant and the release) a lease no record named stayed
    # taken, cause not found: the server takes it back when it lapses, the bound the README
    # gives for a dead run's slot.
    _wait_for(
        "the date's backfill slot given back",
        lambda: True if _backfill_slots_taken(server) == 0 else None,
        LAPSED_LEASE_SECONDS,
        err,
    )
    shown = subprocess.run(
        [str(BIN / "servicelens"), "--data-dir", str(data_dir), "runs", "show"],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "0 of 2 taken" in shown.stdout, shown.stdout + said


def test_a_stop_that_lands_as_the_runner_starts_ends_serving_quietly(
    prefect_api: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by a test run: Ctrl-C while Prefect's runner was starting its loops came out of
    anyio's task groups as exception groups around the runner's sys.exit(0), and serve
    ended with a traceback and exit 1 instead of "stopped serving"."""
    import flows.deployments as deployments

    def stopped_while_starting(*_: object, **__: object) -> None:
        raise BaseExceptionGroup(
            "unhandled errors in a TaskGroup",
            [BaseExceptionGroup("unhandled errors in a TaskGroup", [SystemExit(0)])],
        )

    monkeypatch.setattr(deployments, "serve", stopped_while_starting)
    settings = Settings(data_dir=str(tmp_path / "data"), timezone=TIMEZONE)
    end = deployments.serve_deployments(settings)
    assert end.stopped.runs == [] and end.stopped.error is None

    def failed_while_starting(*_: object, **__: object) -> None:
        raise BaseExceptionGroup("unhandled errors in a TaskGroup", [SystemExit(3)])

    monkeypatch.setattr(deployments, "serve", failed_while_starting)
    with pytest.raises(BaseExceptionGroup):
        deployments.serve_deployments(settings)


def test_serve_on_the_embedded_api_fires_the_nightly_schedule(tmp_path: Path) -> None:
    """Found by an operations engineer's trial: `servicelens serve` without PREFECT_API_URL
    said "polling for scheduled runs", and its nightly never fired: Prefect's embedded
    server runs none of its services, so nothing created the scheduled runs. serve now
    starts it with them: its scheduler creates the nightly run from the cron, and serve
    completes it, with no Prefect server started by hand. The run reaches serve's API: a
    platform engineer's trial found each served run starting an API server of its own, left
    running when serve stopped mid-run."""
    import psutil

    data_dir = tmp_path / "data"
    now_local = datetime.now(ZoneInfo(TIMEZONE))
    days = [now_local.date() - timedelta(days=1), now_local.date()]
    _generate(data_dir, days)
    env = _prefect_env(
        tmp_path / "home",
        SERVICELENS_TIMEZONE=TIMEZONE,
        SERVICELENS_LOOKBACK_DAYS="0",
        # Twice a minute (croniter's sixth field is the second: a whole-minute cron waited
        # 30 s on average for its first run, now 15 s), and the scheduler looks every 2 s,
        # serve every 2 s. A run still going when the next starts is stopped with serve,
        # as a run in flight is.
        SERVICELENS_NIGHTLY_CRON="* * * * * */30",
        PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS="2",
        PREFECT_RUNNER_POLL_FREQUENCY="2",
    )
    out, err = tmp_path / "serve.out", tmp_path / "serve.err"
    serving = _start_serve(data_dir, env, tmp_path, out, err)
    settings = Settings(data_dir=str(data_dir), timezone=TIMEZONE)

    run_servers: list[str] = []  # API servers started by a served run's own process

    def completed() -> str | None:
        for process in psutil.Process(serving.pid).children(recursive=True):
            try:
                parent = process.parent()
                if (
                    "uvicorn" in process.cmdline()
                    and parent
                    and "prefect.engine" in " ".join(parent.cmdline())
                ):
                    run_servers.append(" ".join(process.cmdline()))
            except psutil.Error:
                continue  # ended meanwhile
        for day in days:  # yesterday of the run's scheduled time: either, near midnight
            record = settings.runs_dir / f"survey_date={day.isoformat()}.json"
            if record.exists() and json.loads(record.read_text())["outcome"] == "completed":
                return day.isoformat()
        return None

    try:
        done = _wait_for("a nightly run the schedule created", completed, RUN_DONE_SECONDS, err)
        os.killpg(serving.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the group
        serving.wait(timeout=STOP_SECONDS)
    finally:
        _stop(serving)
    partition = f"survey_date={done}"
    clean, scored = _published_manifests(settings, partition)
    assert clean["counts"]["kept"] > 0
    assert scored["counts"]["responses"] == clean["counts"]["kept"]
    assert serving.returncode == 0, _with_its_log(err.read_text())
    assert "Traceback" not in err.read_text()
    assert run_servers == []


def _nightly_on(settings: Settings, cron: str, name: str) -> Any:
    """The real nightly deployment with ``cron``, under its own ``name`` (the test API is
    shared by this process's tests), registered on the API."""
    from prefect.schedules import Cron

    from flows.deployments import NIGHTLY, build_deployments

    [nightly] = [
        d
        for d in build_deployments(settings, {NIGHTLY: [Cron(cron, timezone=TIMEZONE)]})
        if d.name == NIGHTLY
    ]
    nightly.name = name
    nightly.apply()
    return nightly


def _scheduled_by_the_server(name: str, start: datetime, end: datetime) -> list[datetime]:
    """Have the API's scheduler create the runs of deployment ``nightly-window/name`` due
    from ``start`` to ``end`` (as its scheduler service does ahead of time, here for times
    already past too), and return the due times of its scheduled runs."""
    from prefect import get_client

    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(f"nightly-window/{name}")
        client._client.post(
            f"/deployments/{deployment.id}/schedule",
            json={"start_time": start.isoformat(), "end_time": end.isoformat(), "max_runs": 500},
        ).raise_for_status()
    return _due_times(name)


def _due_times(name: str) -> list[datetime]:
    from prefect import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterDeploymentId,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(f"nightly-window/{name}")
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                deployment_id=FlowRunFilterDeploymentId(any_=[deployment.id]),
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])),
            ),
            limit=200,
        )
    return sorted(r.expected_start_time for r in runs if r.expected_start_time)


def test_serve_restarted_on_another_cron_drops_the_old_schedules_overdue_runs(
    prefect_api: None, tmp_path: Path
) -> None:
    """Found by a trial: serve on `*/2 * * * *`, stopped, then a plain serve (02:30 cron) ran
    the 31 overdue runs of the old schedule one after another: registering a deployment
    again (Prefect 3.8) deletes only its future auto-scheduled runs. Serve now drops the
    runs its schedule in force would not start; a run someone asked for is kept."""
    from prefect import get_client

    from flows.deployments import drop_stale_scheduled_runs

    settings = Settings(data_dir=str(tmp_path / "data"), timezone=TIMEZONE)
    name = "nightly-restarted"
    _nightly_on(settings, "*/2 * * * *", name)
    # An hour of the old schedule, yesterday 10:00-11:00 London (no 02:30 in it), overdue.
    london = ZoneInfo(TIMEZONE)
    yesterday = datetime.now(london).date() - timedelta(days=1)
    start = datetime(yesterday.year, yesterday.month, yesterday.day, 10, tzinfo=london)
    assert len(_scheduled_by_the_server(name, start, start + timedelta(minutes=59))) == 30
    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(f"nightly-window/{name}")
        asked = client.create_flow_run_from_deployment(deployment.id)  # someone's own run
    nightly = _nightly_on(settings, "30 2 * * *", name)  # the plain serve registers again
    # Prefect's upsert kept the old schedule's overdue runs: the defect's cause.
    assert len(_due_times(name)) == 31

    [dropped] = drop_stale_scheduled_runs([nightly])

    assert (dropped.other_schedule, dropped.older_missed, dropped.catch_up) == (30, 0, None)
    assert "dropped 30 scheduled run(s)" in dropped.message()
    assert _due_times(name) == [asked.expected_start_time]


def test_a_serve_down_for_days_catches_up_with_one_nightly(
    prefect_api: None, tmp_path: Path
) -> None:
    """A serve down for three nights finds the three missed nightly runs (created ahead of
    time by the scheduler) overdue; it runs the latest one alone (its look-back covers the
    dates before it), not one per night, and keeps the runs still to come."""
    from flows.deployments import drop_stale_scheduled_runs

    settings = Settings(data_dir=str(tmp_path / "data"), timezone=TIMEZONE)
    name = "nightly-down-for-days"
    nightly = _nightly_on(settings, "30 2 * * *", name)
    now = datetime.now(UTC)
    due = _scheduled_by_the_server(name, now - timedelta(days=3), now + timedelta(days=2))
    missed = [d for d in due if d <= now]
    assert len(missed) == 3

    [dropped] = drop_stale_scheduled_runs([nightly], now=now)

    assert (dropped.other_schedule, dropped.older_missed) == (0, 2)
    local = missed[-1].astimezone(ZoneInfo(TIMEZONE))
    assert f"(due {local:%Y-%m-%d} 02:30 {TIMEZONE})" in str(dropped.catch_up)
    assert _due_times(name) == [missed[-1]] + [d for d in due if d > now]


def test_one_nightly_run_at_a_time_even_after_a_dead_runs_lease_lapsed(
    server: Server, tmp_path: Path
) -> None:
    """The nightly deployment runs one at a time, a second run waiting (ENQUEUE), as the
    README says. Found by a trial: after a restart of serve, two nightly runs were Running
    at once. A run killed with serve kept its slot until its lease lapsed and the server's
    repossessor gave the slot back; the next nightly's recovery then marked it crashed, and
    Prefect gave back one slot more ("Lease ... not found during release"): the live run's,
    and the next queued run started beside it. Here the lapse is the server's own release
    of the lease (what the repossessor does once it expires), not a 300 s wait."""
    from prefect import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings
    from prefect.states import Crashed, Pending, Running

    from flows.recovery import set_final_state

    readme = (ROOT / "README.md").read_text()
    assert "collision strategy `ENQUEUE`): a run due while one runs waits" in readme
    settings = Settings(data_dir=str(tmp_path / "data"), timezone=TIMEZONE)
    with temporary_settings({PREFECT_API_URL: server.api_url}):
        nightly = _nightly_on(settings, "30 2 * * *", "nightly-one-at-a-time")
        with get_client(sync_client=True) as client:
            deployment = client.read_deployment_by_name(nightly.full_name)
            assert deployment.concurrency_options is not None
            assert deployment.concurrency_options.collision_strategy.value == "ENQUEUE"
            killed, live, queued = (
                client.create_flow_run_from_deployment(deployment.id) for _ in range(3)
            )
            client.set_flow_run_state(killed.id, Pending())
            client.set_flow_run_state(killed.id, Running())
            # A second run waits while one holds the slot.
            waits = client.set_flow_run_state(live.id, Pending()).state
            assert (waits.type.value, waits.name) == ("SCHEDULED", "AwaitingConcurrencySlot")
            # The killed run's lease lapses: its slot comes back, the next run takes it.
            lease = client.read_flow_run(killed.id).state.state_details
            client.release_concurrency_slots_with_lease(lease.deployment_concurrency_lease_id)
            assert client.set_flow_run_state(live.id, Pending()).state.type.value == "PENDING"

            # The next nightly's recovery marks the killed run crashed.
            assert set_final_state(killed.id, Crashed(message="its process is gone"))

            # The live run still holds the one slot: the queued run waits.
            waits = client.set_flow_run_state(queued.id, Pending()).state
            assert (waits.type.value, waits.name) == ("SCHEDULED", "AwaitingConcurrencySlot")
            limit = client.read_deployment(deployment.id).global_concurrency_limit
            assert limit is not None and (limit.limit, limit.active_slots) == (1, 1)


def _nightly_window_run_on(server: Server, data_dir: Path) -> Any:
    """A nightly-window flow run on ``data_dir``, ``Running`` on the server as serve's runner
    leaves one it started (no in-flight record yet)."""
    from prefect import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings
    from prefect.states import Running

    from flows.pipeline import nightly_window

    with (
        temporary_settings({PREFECT_API_URL: server.api_url}),
        get_client(sync_client=True) as client,
    ):
        return client.create_flow_run(
            nightly_window, parameters={"data_dir": str(data_dir.resolve())}, state=Running()
        )


def _state_of(server: Server, flow_run_id: Any) -> dict[str, Any]:
    [run] = _api(server, "/flow_runs/filter", {"flow_runs": {"id": {"any_": [str(flow_run_id)]}}})
    return dict(run["state"])


def test_serve_marks_crashed_as_it_starts_the_runs_a_killed_serve_left_running(
    server: Server, tmp_path: Path
) -> None:
    """Found by a trial: after a `kill -9` of serve, the nightly run it was executing stayed
    Running under the restarted serve (and held its slot) until the next scheduled nightly's
    recovery. Serve now releases what dead runs hold as it starts, before its runner picks up
    any run, and says so; a run whose process still executes it is left alone."""
    readme = (ROOT / "README.md").read_text()
    assert "(`servicelens serve` as it starts, the next nightly's recovery" in readme
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    killed = _nightly_window_run_on(server, data_dir)
    live = _nightly_window_run_on(server, data_dir)
    # Each run's process as Prefect's runner starts it (its run's id in its environment);
    # the killed serve's went with it.
    processes = {
        run.id: subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(900)"],
            env={**os.environ, "PREFECT__FLOW_RUN_ID": str(run.id)},
        )
        for run in (killed, live)
    }
    processes[killed.id].kill()
    processes[killed.id].wait()
    env = _prefect_env(
        tmp_path / "client-home",
        PREFECT_API_URL=server.api_url,
        SERVICELENS_TIMEZONE=TIMEZONE,
        # A stale period of 0.2 s: both runs' Running states are older than that by now.
        SERVICELENS_HEARTBEAT_SECONDS="0.05",
    )
    out, err = tmp_path / "serve.out", tmp_path / "serve.err"
    try:
        serving = _start_serve(data_dir, env, ROOT, out, err)
        try:
            # By the time serve says it is serving, the killed run is crashed, and said so.
            said = out.read_text()
            crashed = _state_of(server, killed.id)
            assert crashed["type"] == "CRASHED", crashed
            assert "no process on" in crashed["message"], crashed
            line = f"servicelens serve: released as serve started: {killed.name}: "
            assert line in said, said
            assert said.index(line) < said.index("being served"), said
            assert live.name not in said, said
            assert _state_of(server, live.id)["type"] == "RUNNING"
        finally:
            _stop(serving)
        assert serving.returncode == 0, _with_its_log(err.read_text())
        # Still executing through serve's stop: still Running.
        assert _state_of(server, live.id)["type"] == "RUNNING"
    finally:
        processes[live.id].kill()
        processes[live.id].wait()
        _api(
            server,
            f"/flow_runs/{live.id}/set_state",
            {"state": {"type": "CANCELLED"}, "force": True},
        )
