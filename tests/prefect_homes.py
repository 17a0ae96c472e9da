"""Prefect homes whose database is already migrated, for tests that run the real
``servicelens`` or ``prefect`` command on a home of their own.

The first command on an empty Prefect home creates its SQLite database and runs every Alembic
migration and block registration: 5-6 s of CPU a home on the project's 2-core machines (a
trivial flow on an empty home took 15.0-15.6 s, 13.5 s of CPU; on a home holding the migrated
database 9.4-9.7 s, 8.3 s of CPU; 2026-12-06). Tests of crashes, backfills and serving
start a home each, so that cost was paid about twenty times a run for the same empty
database. Here it is paid once a test run: the first test to ask migrates a template home
(the real embedded API, started by Prefect's client with no API URL, as a command does),
and every home asked for gets a copy of its database, still empty of flows and runs. What
the tests exercise (the commands, the API, crashes and recovery) is unchanged; the first
start on an empty home stays covered by ``make demo``, the test API of ``tests/conftest.py``
(a new database a test process) and ``tests/unit/test_embedded_api_start.py``.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

#: The files of a migrated home that a new home is given: the database and Prefect's memo of
#: the block types registered in it (without it the server registers them again).
SEEDED_FILES = ("prefect.db", "memo_store.toml")
#: Where the template is made: set by ``tests/conftest.py`` to a folder every worker of the
#: test run shares (pytest's base temporary folder), so one worker migrates it.
TEMPLATE_ROOT: Path | None = None

_START_THE_API = """
import asyncio
from prefect.client.orchestration import get_client

async def main():
    async with get_client() as client:
        await client.read_flows(limit=1)

asyncio.run(main())
"""


def seeded(home: Path) -> Path:
    """``home`` (a Prefect home folder, made if missing) holding a copy of the migrated
    template database (:func:`template`), unless it has a database already; returns it.

    Raises RuntimeError when the template cannot be made (the command's output in it)."""
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "prefect.db").exists():
        made = template()
        for name in SEEDED_FILES:
            if (made / name).exists():
                shutil.copyfile(made / name, home / name)
    return home


def template() -> Path:
    """The folder holding the template's :data:`SEEDED_FILES`, made by the first caller of
    the test run (others wait on its lock): Prefect's embedded API started on an empty home
    and stopped, its database then copied whole (SQLite's backup: the write-ahead log in)."""
    root = TEMPLATE_ROOT or Path(os.environ.get("TMPDIR", "/tmp")) / f"prefect-{os.getpid()}"
    folder = root / "prefect-home-template"
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / "done").exists():
            _migrate(folder)
            (folder / "done").touch()
    return folder


def own_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a command on Prefect home ``home`` alone: the test's own without
    its ``PREFECT_`` and ``SERVICELENS_`` settings (no API URL: the embedded API), Prefect's
    analytics and UI off, then ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "SERVICELENS_"))}
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_UI_ENABLED="false",
        **extra,
    )
    return env


def _migrate(folder: Path) -> None:
    home = folder / "home"
    home.mkdir(exist_ok=True)
    env = own_env(home, PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="300")
    done = subprocess.run(
        [sys.executable, "-c", _START_THE_API],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if done.returncode != 0:
        raise RuntimeError(f"migrating a template Prefect home failed:\n{done.stderr}")
    source = sqlite3.connect(home / "prefect.db")
    target = sqlite3.connect(folder / "prefect.db")
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()
    if (home / "memo_store.toml").exists():
        shutil.copyfile(home / "memo_store.toml", folder / "memo_store.toml")
