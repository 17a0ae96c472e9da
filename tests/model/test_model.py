"""Model tests on generated data: it beats its baselines, and a seed fixes the model."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from models.pipeline import feature_frame
from models.registry import load_model, save_model
from models.train import score_negatives, train_root_cause_model
from servicelens.settings import Settings
from servicelens.stages import labelled_negatives, publish_clean, validate_day
from servicelens.synthetic import generate

START = date(2026, 9, 1)
DAYS = 8


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> pl.DataFrame:
    root = tmp_path_factory.mktemp("model")
    generate(root, START, START + timedelta(days=DAYS - 1), per_day=1500, seed=5)
    settings = Settings(data_dir=str(root))
    for i in range(DAYS):
        publish_clean(settings, validate_day(settings, START + timedelta(days=i), "t"), {})
    return labelled_negatives(settings)


def test_model_beats_majority_and_best_single_rule(labelled: pl.DataFrame) -> None:
    metrics = train_root_cause_model(labelled, seed=3).metrics
    model = metrics["model"]["accuracy"]
    assert model > metrics["majority_baseline"]["accuracy"] + 0.1
    assert model > metrics["best_rule_baseline"]["accuracy"] + 0.05
    assert metrics["model"]["roc_auc"] > 0.8


def test_same_seed_gives_the_same_model(labelled: pl.DataFrame) -> None:
    first = train_root_cause_model(labelled, seed=3)
    second = train_root_cause_model(labelled, seed=3)
    x = feature_frame(labelled.head(200))
    np.testing.assert_array_equal(first.model.predict_proba(x), second.model.predict_proba(x))
    assert first.metrics == second.metrics


def test_saved_model_loads_and_scores_the_same(
    labelled: pl.DataFrame, tmp_path: pytest.TempPathFactory
) -> None:
    result = train_root_cause_model(labelled, seed=3)
    models_dir = tmp_path / "models"  # type: ignore[operator]
    save_model(result.model, models_dir, "v1", {}, result.metrics)
    loaded = load_model(models_dir, "v1")
    scored = score_negatives(loaded, labelled.head(50))
    expected = score_negatives(result.model, labelled.head(50))
    assert scored.get_column("p_policy_failure").to_list() == pytest.approx(
        expected.get_column("p_policy_failure").to_list()
    )
    assert set(scored.get_column("root_cause").unique()) <= {"perceived", "policy_failure"}
