"""Generated data and one model trained on it, shared by the model tests of a process."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import polars as pl
import pytest

from models.pipeline import SURVEY_FEATURES
from models.train import TrainingResult, train_root_cause_model
from servicelens.settings import Settings
from servicelens.stages import labelled_negatives, publish_clean, validate_day
from servicelens.synthetic.generator import generate

START = date(2026, 9, 1)
DAYS = 8


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("model")
    generate(root, START, START + timedelta(days=DAYS - 1), per_day=1500, seed=5)
    settings = Settings(data_dir=str(root))
    for i in range(DAYS):
        publish_clean(settings, validate_day(settings, START + timedelta(days=i), "t"), {})
    return settings


@pytest.fixture(scope="session")
def labelled(generated: Settings) -> pl.DataFrame:
    return labelled_negatives(generated)


@pytest.fixture(scope="session")
def trained(labelled: pl.DataFrame) -> TrainingResult:
    """The boosted design, fixed (the tests of its reasons and behaviour need it; selection
    has its own tests). Three folds instead of five keep the suite fast; the CLI and the flow
    use five."""
    return train_root_cause_model(
        labelled, seed=3, spec=replace(SURVEY_FEATURES, design="boosted"), cv_folds=3
    )
