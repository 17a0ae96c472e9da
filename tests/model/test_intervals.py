"""Every reported score carries its bootstrap interval, and a small holdout says it cannot
check the review band's promise (a QA lead's trial on ~300 audits)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from flows.training import register_and_promote
from models.evaluate import (
    INTERVAL_METRICS,
    band_check,
    band_check_text,
    classification_metrics,
    metric_intervals,
)
from models.pipeline import SURVEY_FEATURES
from models.train import TrainingResult


def test_each_interval_holds_its_score_and_is_the_same_each_time() -> None:
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 75)
    p = np.clip(0.3 * y + 0.7 * rng.random(75), 0, 1)
    intervals = metric_intervals(y, p, 0.43)
    scores = classification_metrics(y, p, 0.43)
    for metric in INTERVAL_METRICS:
        low, high = intervals[metric]
        assert low <= scores[metric] <= high, metric
        assert high - low > 0.02, metric  # 75 rows: no score is known to three places
    assert metric_intervals(y, p, 0.43) == intervals


def test_a_band_checked_on_42_rows_says_it_is_too_few() -> None:
    """The trial's holdout: 36 of the 42 rows outside the band right (0.857)."""
    small = band_check(36, 42)
    assert not small["checkable"] and small["interval"][0] < 0.9 < small["interval"][1]
    said = band_check_text(small)
    assert said is not None and "too few to check its promise (90% right)" in said
    assert band_check(900, 1000)["checkable"]


def test_models_show_and_the_report_give_the_intervals(
    labelled: pl.DataFrame, trained: TrainingResult, tmp_path: Path
) -> None:
    from servicelens.cli.models import _summary_text, version_summary
    from servicelens.reporting.report import _intervals_note

    intervals = trained.metrics["intervals"]
    for where in ("model", "cross_validation"):
        assert set(intervals[where]) == set(INTERVAL_METRICS)
        for metric in INTERVAL_METRICS:
            low, high = intervals[where][metric]
            assert low <= trained.metrics[where][metric] <= high, (where, metric)
    assert "checkable" in trained.metrics["decision"]["band_check"]
    version = register_and_promote(
        trained, tmp_path, labelled, dict(trained.metrics), SURVEY_FEATURES
    )["version"]
    shown = _summary_text(version_summary(tmp_path, version))
    low, high = intervals["model"]["roc_auc"]
    assert f"roc_auc {trained.metrics['model']['roc_auc']:.3f} [{low:.3f}, {high:.3f}]" in shown
    assert "review band on the holdout: " in shown
    note = _intervals_note(trained.metrics)
    assert f"roc_auc [{low:.3f}, {high:.3f}]" in note


def test_each_resample_is_scored_as_classification_metrics_scores_its_rows() -> None:
    """The bootstrap's statistic reads a resample as draw counts per row (one sort for all
    resamples, not a rank of each: ranking 2,000 resamples of the demo's 18,218 rows took
    46 s, as long as training); each resample's scores are still those of its rows, ties
    in the probabilities included."""
    from models.evaluate import _scores_of_draws

    rng = np.random.default_rng(11)
    y = rng.integers(0, 2, 120).astype(np.int8)
    p = np.round(np.clip(0.3 * y + 0.7 * rng.random(120), 0, 1), 2)  # many ties
    draws = rng.integers(0, 120, (6, 120))
    scored = _scores_of_draws(y, p, 0.43)(draws)
    for i, rows in enumerate(draws):
        expected = classification_metrics(y[rows], p[rows], 0.43)
        for j, metric in enumerate(INTERVAL_METRICS):
            assert np.isclose(scored[j, i], expected[metric]), (i, metric)
