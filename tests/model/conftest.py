"""Generated data and one model trained on it, shared by the model tests of a process."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import polars as pl
import pytest

from models.pipeline import SURVEY_FEATURES, build_pipeline, feature_frame, labels_to_target
from models.stacked import TextThenFacts
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
    """The model as training builds it: the design chosen on the training slice. Three folds
    instead of five keep the suite fast; the CLI and the flow use five."""
    return train_root_cause_model(labelled, seed=3, cv_folds=3)


@pytest.fixture(scope="session")
def boosted(labelled: pl.DataFrame) -> TextThenFacts:
    """The boosted design fitted on every label, for the tests of its reasons."""
    spec = replace(SURVEY_FEATURES, design="boosted")
    model = build_pipeline(seed=3, spec=spec).fit(
        feature_frame(labelled, spec), labels_to_target(labelled.get_column("root_cause"))
    )
    assert isinstance(model, TextThenFacts)
    return model
