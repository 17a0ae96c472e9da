"""One demo run (Prefect's real engine, Great Expectations, a trained model) shared by the
tests of a process that read a finished data directory: the report's truth, start-up."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from servicelens.settings import Settings

DEMO_START = date(2026, 9, 7)
DEMO_DAYS = 6
DEMO_END = DEMO_START + timedelta(days=DEMO_DAYS - 1)


@pytest.fixture(scope="session")
def demo_data(prefect_api: None, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    from flows.pipeline import demo

    settings = Settings(data_dir=str(tmp_path_factory.mktemp("demo-data")))
    demo(settings, DEMO_START, DEMO_END, per_day=900, seed=5)
    return settings
