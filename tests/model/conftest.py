"""Generated data and one model trained on it, shared by the model tests of a test run
(built by the first worker to ask: :mod:`tests.shared_builds`)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from models.pipeline import SURVEY_FEATURES, build_pipeline, feature_frame, labels_to_target
from models.stacked import TextThenFacts
from models.train import TrainingResult, train_root_cause_model
from servicelens.settings import Settings
from servicelens.stages import labelled_negatives, publish_clean, validate_day
from servicelens.synthetic.generator import generate
from tests.shared_builds import built_once, pickled_once, run_folder

START = date(2026, 9, 1)
DAYS = 8


def _generate_and_publish(root: Path) -> None:
    generate(root, START, START + timedelta(days=DAYS - 1), per_day=1500, seed=5)
    settings = Settings(data_dir=str(root))
    for i in range(DAYS):
        publish_clean(settings, validate_day(settings, START + timedelta(days=i), "t"), {})


def _generated(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = run_folder(tmp_path_factory)
    return Settings(data_dir=str(built_once(root, "model-generated", _generate_and_publish)))


def _labelled(tmp_path_factory: pytest.TempPathFactory) -> pl.DataFrame:
    return pickled_once(
        run_folder(tmp_path_factory),
        "model-labelled",
        lambda: labelled_negatives(_generated(tmp_path_factory)),
    )


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Eight published dates of 1,500 generated surveys. One folder for the whole run:
    read it, or copy it before writing."""
    return _generated(tmp_path_factory)


@pytest.fixture(scope="session")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> pl.DataFrame:
    return _labelled(tmp_path_factory)


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> TrainingResult:
    """The model as training builds it: the design chosen on the training slice. Three folds
    instead of five keep the suite fast; the CLI and the flow use five."""
    return pickled_once(
        run_folder(tmp_path_factory),
        "model-trained",
        lambda: train_root_cause_model(_labelled(tmp_path_factory), seed=3, cv_folds=3),
    )


def _boosted(labelled: pl.DataFrame) -> TextThenFacts:
    spec = replace(SURVEY_FEATURES, design="boosted")
    model = build_pipeline(seed=3, spec=spec).fit(
        feature_frame(labelled, spec), labels_to_target(labelled.get_column("root_cause"))
    )
    assert isinstance(model, TextThenFacts)
    return model


@pytest.fixture(scope="session")
def boosted(tmp_path_factory: pytest.TempPathFactory) -> TextThenFacts:
    """The boosted design fitted on every label, for the tests of its reasons."""
    return pickled_once(
        run_folder(tmp_path_factory), "model-boosted", lambda: _boosted(_labelled(tmp_path_factory))
    )
