"""A command killed outright leaves Prefect's embedded API server running; the next command
of the same Prefect home stops it, and never the server of a command still running.

Real ``servicelens`` processes on the embedded API: one paused at a checkpoint (alive, its
server must stay), one SIGKILLed alone (not its process group, as the out-of-memory killer
or ``kill -9 <pid>`` would), whose server the kernel hands to init.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import psutil
import pytest

from servicelens.cli.embedded_api import SERVER_APP
from tests.reliability.cli import (
    START,
    WAIT_SECONDS,
    Home,
    backfill_of,
    finish,
    generated_home,
    kill_group,
    run,
    start,
    start_paused,
    wait_until,
)

DAYS, BACKFILL = backfill_of(1)

pytestmark = pytest.mark.slow


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return generated_home(tmp_path, START, len(DAYS), seed=21)


def _server_of(command: subprocess.Popen[bytes]) -> psutil.Process | None:
    """The embedded API server the command started, once it is up."""
    for child in psutil.Process(command.pid).children():
        try:
            if SERVER_APP in child.cmdline():
                return child
        except psutil.NoSuchProcess:
            continue
    return None


def _wait_for_server(command: subprocess.Popen[bytes]) -> psutil.Process:
    found: list[psutil.Process] = []

    def started() -> bool:
        server = _server_of(command)
        if server is not None:
            found.append(server)
        return bool(found)

    wait_until(started, command, "its embedded API server started")
    return found[0]


def test_the_next_command_stops_a_killed_commands_server_and_not_a_live_ones(
    home: Home, tmp_path: Path
) -> None:
    # A backfill paused mid-date: alive, with its own server.
    live = start_paused(home, BACKFILL, tmp_path / "live.log", "validated", tmp_path / "pause")
    left_behind: psutil.Process | None = None
    try:
        wait_until((tmp_path / "pause").exists, live, "the date paused")
        live_server = _server_of(live)
        assert live_server is not None

        # A second command, killed alone: its server outlives it, handed to another parent.
        killed = start(home, ["runs", "show"], tmp_path / "killed.log")
        left_behind = _wait_for_server(killed)
        killed.kill()
        assert killed.wait(60) < 0
        deadline = time.monotonic() + WAIT_SECONDS
        while left_behind.ppid() == killed.pid and time.monotonic() < deadline:
            time.sleep(0.1)
        assert left_behind.is_running() and left_behind.ppid() != killed.pid

        # The next command stops the orphan, says so, and leaves the live server alone.
        code, output = run(home, ["runs", "show"], tmp_path / "next.log")
        assert code == 0, output  # the paused backfill is alive: nothing dead holds anything
        assert (
            f"stopped 1 temporary Prefect API server left running by a killed command "
            f"(process {left_behind.pid} since" in output
        ), output
        assert not left_behind.is_running()
        assert live_server.is_running()

        # The live backfill still finishes on its server.
        (tmp_path / "pause").unlink()
        assert finish(live) == 0, (tmp_path / "live.log").read_text()
    finally:
        if live.poll() is None:
            kill_group(live)
        if left_behind is not None and left_behind.is_running():  # the test failed
            left_behind.kill()
