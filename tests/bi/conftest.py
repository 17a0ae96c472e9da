"""One demo run (Prefect's real engine, Great Expectations, a trained model) shared by the
tests of a process that read a finished data directory: the report's truth, start-up."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest

from servicelens.settings import Settings
from tests.shared_builds import built_once, run_folder

DEMO_START = date(2026, 9, 7)
DEMO_DAYS = 6
DEMO_END = DEMO_START + timedelta(days=DEMO_DAYS - 1)


def _run_the_demo(folder: Path) -> None:
    from flows.pipeline import demo

    demo(Settings(data_dir=str(folder)), DEMO_START, DEMO_END, per_day=900, seed=5)


@pytest.fixture(scope="session")
def demo_data(prefect_api: None, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The process's own copy of the run's one demo data directory.

    Each pytest-xdist worker that ran a test of test_report_truth, test_score_output_agent
    or test_startup ran this same deterministic demo (about 50 s of CPU on 2 cores), up to
    three times a run; the first to ask builds it now (:func:`tests.shared_builds.built_once`)
    and every process copies it, as it ran its own before: its commands may write (reports,
    logs) beside what the others read. The copy is a moved data directory, which the
    commands read as they read the one they wrote (inputs are matched by folder and name)."""
    built = built_once(run_folder(tmp_path_factory), "bi-demo-data", _run_the_demo)
    own = tmp_path_factory.mktemp("demo-data")
    shutil.copytree(built, own, dirs_exist_ok=True)
    return Settings(data_dir=str(own))
