"""The embedded API started in the background (servicelens.cli.embedded_api.start_in_background):
Prefect's own calls use that one server and wait until it answers, a failed start is raised
by the call that waits for it, and a configured API starts nothing.

Each case runs in a Python process of its own, on a Prefect home of its own: the test process
has its own API already (tests/conftest.py), and Prefect keeps its embedded server per process.
The first case starts on an empty home (its server creates and migrates the database, the
first start of a new user); the cases after it on a home holding the migrated database
(tests/prefect_homes.py), as every later command of a user: a migration is 5-6 s of CPU
that their claims (what is done while the server starts, a failed start and the next) do
not need.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.prefect_homes import seeded

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def _run(script: str, home: Path, **env: str) -> dict[str, Any]:
    variables = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    variables.update(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_UI_ENABLED="false",
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="300",
    )
    variables.update(env)
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        cwd=ROOT,
        env=variables,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_prefects_calls_wait_for_the_server_started_in_the_background(tmp_path: Path) -> None:
    result = _run(
        """
        import json, threading
        import psutil
        from prefect import flow, get_client
        from prefect.server.api.server import SubprocessASGIServer
        from servicelens.cli.embedded_api import start_in_background

        start_in_background()
        early = SubprocessASGIServer()
        starting = early.server_process is None or not early._answered.is_set()
        start_in_background()  # a second call starts nothing more

        @flow
        def answer() -> int:
            return 42

        # The first call comes before the server answers: it must wait, not be refused.
        value = answer()
        with get_client(sync_client=True) as client:
            healthy = client.api_healthcheck() is None
            runs = len(client.read_flow_runs())
            block_types = len(client.read_block_types())
        print(json.dumps({
            "starting": starting,
            "value": value,
            "healthy": healthy,
            "runs": runs,
            "block_types": block_types,
            "same": SubprocessASGIServer() is early,
            "class": type(early).__name__,
            "starters": sum(t.name == "servicelens-embedded-api" for t in threading.enumerate()),
            "url": early.api_url,
            "servers": sum(
                "prefect.server.api.server:create_app" in " ".join(child.cmdline())
                for child in psutil.Process().children()
            ),
        }))
        """,
        tmp_path / "prefect",
    )
    assert result["starting"], "the call returned only once the server answered"
    assert result["value"] == 42
    assert result["healthy"] and result["runs"] == 1
    # A new home's first start registers none of Prefect's block types (2-4 s of the
    # server's CPU on a new or copied home; embedded_api.SKIP_BLOCK_REGISTRATION).
    assert result["block_types"] == 0
    assert result["same"] and result["class"] == "EarlyServer"
    assert result["starters"] == 0, "the starting thread ends once the server answers"
    assert result["url"].startswith("http://127.0.0.1:")
    assert result["servers"] == 1


def test_work_meanwhile_is_done_while_the_server_starts_and_not_once_it_answers(
    tmp_path: Path,
) -> None:
    result = _run(
        """
        import json, sys
        import psutil
        from servicelens.cli.embedded_api import start_in_background, while_starting

        calls = []
        start_in_background()
        # A server answers only after seconds of its own imports: it is still starting here.
        while_starting(lambda: calls.append("starting"))
        from prefect import flow

        @flow
        def answer() -> int:
            return 42

        value = answer()
        while_starting(lambda: calls.append("answered"))
        print(json.dumps({
            "calls": calls,
            "value": value,
            "servers": sum(
                "prefect.server.api.server:create_app" in " ".join(child.cmdline())
                for child in psutil.Process().children()
            ),
        }))
        """,
        seeded(tmp_path / "prefect"),
    )
    assert result["calls"] == ["starting"]
    assert result["value"] == 42
    assert result["servers"] == 1, "the server started first is the one Prefect's calls use"


def test_nothing_is_done_meanwhile_when_a_configured_api_starts_no_server(tmp_path: Path) -> None:
    result = _run(
        """
        import json
        from servicelens.cli.embedded_api import start_in_background, while_starting

        calls = []
        start_in_background()
        while_starting(lambda: calls.append("starting"))
        print(json.dumps({"calls": calls}))
        """,
        tmp_path / "prefect",
        PREFECT_API_URL="http://127.0.0.1:9/api",
    )
    assert result["calls"] == []


def test_a_start_that_fails_is_raised_by_the_call_that_waits_and_the_next_call_starts_again(
    tmp_path: Path,
) -> None:
    result = _run(
        """
        import json
        from prefect.server.api.server import SubprocessASGIServer
        from servicelens.cli.embedded_api import start_in_background

        start_in_background()
        server = SubprocessASGIServer()
        try:
            server.start()
        except RuntimeError as error:
            failed = str(error)
        else:
            failed = None
        # Prefect leaves a server that did not answer in time running; stopped here.
        server.server_process.terminate()
        server.server_process.wait(60)
        server.start(timeout=300)  # Prefect's own start again
        print(json.dumps({"failed": failed, "running": server.running}))
        server.stop()
        """,
        seeded(tmp_path / "prefect"),
        # Prefect waits this long for its server: 0 s gives up before it can answer.
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="0",
    )
    assert result["failed"] and "Timed out" in result["failed"]
    assert result["running"]


def test_a_configured_api_starts_no_embedded_server(tmp_path: Path) -> None:
    result = _run(
        """
        import json
        from prefect.server.api.server import SubprocessASGIServer
        from servicelens.cli.embedded_api import start_in_background

        start_in_background()
        print(json.dumps({"servers": len(SubprocessASGIServer._instances)}))
        """,
        tmp_path / "prefect",
        PREFECT_API_URL="http://127.0.0.1:9/api",
    )
    assert result["servers"] == 0


def test_the_embedded_server_records_flow_runs_and_events_but_no_task_runs(
    tmp_path: Path,
) -> None:
    # The task-run recorder turned three state events a task run into rows no one reads
    # (embedded_api.SKIP_TASK_RUN_RECORDER); the flow run and the events stay recorded.
    result = _run(
        """
        import json, time
        from prefect import flow, get_client, task
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
        from prefect.events.filters import EventFilter, EventNameFilter
        from servicelens.cli.embedded_api import start_in_background

        start_in_background()

        @task
        def double(value: int) -> int:
            return 2 * value

        @flow
        def answer() -> int:
            return double(21)

        state = answer(return_state=True)
        completed = "prefect.task-run.Completed"
        with get_client(sync_client=True) as client:
            # The events are persisted in batches: wait for the task run's last one, which
            # the recorder, when it runs, turns into rows as it comes.
            deadline = time.monotonic() + 300
            while True:
                found = client.request(
                    "POST",
                    "/events/filter",
                    json={"filter": EventFilter(event=EventNameFilter(name=[completed]))
                          .model_dump(mode="json")},
                ).json()["events"]
                if found or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            flow_runs = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id]))
            )
            print(json.dumps({
                "value": state.result(),
                "flow_run": flow_runs[0].state_type.value if flow_runs else None,
                "task_events": len(found),
                "task_runs": len(client.read_task_runs()),
            }))
        """,
        seeded(tmp_path / "prefect"),
    )
    assert result["value"] == 42
    assert result["flow_run"] == "COMPLETED"
    assert result["task_events"] == 1
    assert result["task_runs"] == 0
