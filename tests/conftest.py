"""Test-wide set-up: Prefect's home inside the project, and a real (embedded) Prefect API."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

ROOT = Path(__file__).resolve().parent.parent
# CPU seconds by test file after pytest's --durations table (tests/cpu_report.py).
pytest_plugins = ["tests.cpu_report"]
# Property tests have no per-example deadline: hypothesis' default (200 ms) is a timed test,
# and one example ran past it with the machine busy (test_mojibake_prefilter_finds_every_
# line_ftfy_finds under four workers). Speed is the benchmark's to judge, not a test's.
settings.register_profile("servicelens", deadline=None)
settings.load_profile("servicelens")
# Before anything imports prefect: keep its home, database and results inside the project.
os.environ.setdefault("PREFECT_HOME", str(ROOT / ".prefect"))
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["PREFECT_UI_ENABLED"] = "false"
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
# Cached task results (flows/caching.py) of test runs go to a folder of their own, not the
# project's .prefect/storage that real runs use.
os.environ.setdefault(
    "PREFECT_LOCAL_STORAGE_PATH", tempfile.mkdtemp(prefix="servicelens-test-results-")
)
# The agents' pseudonym key of test runs (the key file of real runs is never touched).
os.environ.setdefault("SERVICELENS_AGENT_KEY", "servicelens-tests-only")
# Files the tests drop into an inbox are complete when dropped: commands take them at once.
# Tests of a file still being written lower or raise it (Settings.inbox_settle_seconds).
os.environ.setdefault("SERVICELENS_INBOX_SETTLE_SECONDS", "0")
# The embedded server needs more than Prefect's default 20 s on a busy 2-core CI machine.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")


@pytest.fixture(scope="session", autouse=True)
def _prefect_home_template_root(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The folder every worker of the run shares, where :mod:`tests.prefect_homes` makes its
    migrated template home: pytest's base temporary folder (under xdist, the parent of each
    worker's own), pruned by pytest as its other folders are."""
    from tests import prefect_homes
    from tests.shared_builds import run_folder

    prefect_homes.TEMPLATE_ROOT = run_folder(tmp_path_factory)


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[None]:
    """A real Prefect API on a temporary database, started once per test process.

    Its start may take minutes on a shared 2-core machine: with the load average at 23-26
    (2026-12-07) every process of two runs gave up after the 120 s this waited before
    ("Timed out while attempting to connect to ephemeral Prefect API server"). A generous
    deadline, as every wait of the suite has: a hang still fails the test.

    The server is spared two things no test reads, and no command run in-process needs:
    the registration of Prefect's block types on its new database (nothing here saves or
    loads a block; Prefect's memo of it also imports prefect-dask, hence Dask, at every
    start), as the commands' embedded servers are (:data:`servicelens.cli.embedded_api.
    SKIP_BLOCK_REGISTRATION`), and the task-run recorder, which turns the client's task
    events into task-run rows (no test or command reads a task run; flow runs, their states,
    artifacts, concurrency slots and the events themselves, heartbeats included, are kept).
    tests/flows/test_backfill.py alone, the server's CPU: 29.6 and 31.9 s before, 25.7 and
    26.0 s after (alternating runs at load 12-27, 2026-12-07; 9 passed each)."""
    from prefect.settings import (
        PREFECT_SERVER_MEMOIZE_BLOCK_AUTO_REGISTRATION,
        PREFECT_SERVER_REGISTER_BLOCKS_ON_START,
        PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_ENABLED,
        temporary_settings,
    )
    from prefect.testing.utilities import prefect_test_harness

    spared = {
        PREFECT_SERVER_REGISTER_BLOCKS_ON_START: False,
        PREFECT_SERVER_MEMOIZE_BLOCK_AUTO_REGISTRATION: False,
        PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_ENABLED: False,
    }
    with temporary_settings(updates=spared), prefect_test_harness(server_startup_timeout=600):
        yield


#: The slowest test files, longest first: summed setup, call and teardown seconds of one
#: whole run (`pytest --durations=0` of fresh clone f180, 2026-12-06: 3 workers on 2 cores
#: beside other work, so every figure is inflated alike; 1,708 s of CPU in all). `make test`
#: hands files to its two workers in this order (pytest-xdist's ``--dist loadfile`` with
#: ``--no-loadscope-reorder``), so the long ones start first and short ones fill the end.
#: xdist's own order (most tests first) left a 26 s one-test file running alone at the end,
#: 56 s after the other worker had finished. Order only: a stale list costs balance, never
#: a result; files not listed follow in collection order.
SLOWEST_FILES = (
    "tests/sources/test_train_and_score.py",  # 275 s
    "tests/flows/test_schedules.py",  # 253 s
    "tests/sources/test_configured.py",  # 228 s
    "tests/reliability/test_kill.py",  # 186 s
    "tests/reliability/test_backfill_crash.py",  # 136 s
    "tests/badinput/test_cli_messages.py",  # 130 s
    "tests/sources/test_cut_off_deliveries.py",  # 108 s
    "tests/sources/test_repeated_comments.py",  # 105 s
    "tests/scale/test_dask_backfill.py",  # 100 s
    "tests/model/test_designs.py",  # 98 s
    "tests/model/test_model.py",  # 89 s
    "tests/flows/test_backfill.py",  # 82 s
    "tests/sources/test_formats.py",  # 79 s
    "tests/reliability/test_backfill_concurrent.py",  # 73 s
    "tests/flows/test_recovery.py",  # 66 s
    "tests/unit/test_embedded_api_start.py",  # 65 s
    "tests/bi/test_startup.py",  # 58 s
    "tests/flows/test_unreadable_source.py",  # 57 s
    "tests/scale/test_object_storage.py",  # 56 s
    "tests/flows/test_retrain.py",  # 53 s
    "tests/sources/test_field_samples.py",  # 52 s
    "tests/bi/test_analyst_outputs.py",  # 49 s
    "tests/model/test_promotion.py",  # 47 s
    "tests/scale/test_object_store_commands.py",  # 47 s
    "tests/reliability/test_runs_show.py",  # 45 s
    "tests/sources/test_training_reports.py",  # 44 s
    "tests/flows/test_caching.py",  # 42 s
    "tests/flows/test_end_to_end.py",  # 39 s
    "tests/flows/test_early_warning.py",  # 38 s
    "tests/flows/test_early_warning_counts.py",  # 37 s
    "tests/bi/test_upgrade.py",  # 37 s
    "tests/badinput/test_corpus.py",  # 37 s
    "tests/reliability/test_lost_flow_run.py",  # 32 s
    "tests/reliability/test_orphaned_api.py",  # 32 s
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put the tests of :data:`SLOWEST_FILES` first, longest file first; every file's tests
    stay together and in their own order (a stable sort by file)."""
    rank = {path: i for i, path in enumerate(SLOWEST_FILES)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))
