"""Test-wide set-up: Prefect's home inside the project, and a real (embedded) Prefect API."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
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
# The embedded server needs more than Prefect's default 20 s on a busy 2-core CI machine.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[None]:
    """A real Prefect API on a temporary database, started once per test process."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
