"""Train the root-cause model and measure it against its baselines on a later time slice."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
from sklearn.pipeline import Pipeline

from models.evaluate import best_single_rule, classification_metrics, time_split
from models.pipeline import build_pipeline, feature_frame, labels_to_target
from transforms.schemas import POSITIVE_CLASS, ROOT_CAUSES


@dataclass
class TrainingResult:
    """The fitted model (on all labelled rows) and what the holdout said about it."""

    model: Pipeline
    metrics: dict[str, Any]
    parameters: dict[str, Any]
    #: The holdout rows (all columns) with the model's probabilities, for comparison with a
    #: challenger or champion and with any answer key.
    holdout: pl.DataFrame = field(repr=False)


def train_root_cause_model(labelled: pl.DataFrame, seed: int = 7) -> TrainingResult:
    """Evaluate on a time split, then refit on every labelled row.

    ``labelled`` holds clean negative responses with a ``root_cause`` audit label and a
    ``survey_date``. Metrics compare the model with the majority class and the best single
    rule, both chosen on the training slice only.
    """
    labels = labelled.get_column("root_cause")
    unknown = labels.filter(~labels.is_in(ROOT_CAUSES)).unique().to_list()
    if unknown:
        raise ValueError(f"audit labels must be one of {ROOT_CAUSES}; found {unknown}")
    train, test = time_split(labelled)
    y_train = labels_to_target(train.get_column("root_cause"))
    y_test = labels_to_target(test.get_column("root_cause"))
    parameters: dict[str, Any] = {"seed": seed, "c": 2.0}

    holdout_model = build_pipeline(seed=seed, c=parameters["c"])
    holdout_model.fit(feature_frame(train), y_train)
    p_test = holdout_model.predict_proba(feature_frame(test))[:, 1]

    majority = float(y_train.mean() >= 0.5)
    rule, negated = best_single_rule(train, y_train)
    rule_test = rule.predict(test)
    if negated:
        rule_test = 1 - rule_test

    metrics: dict[str, Any] = {
        "split": {
            "train_rows": train.height,
            "test_rows": test.height,
            "test_from": str(test.get_column("survey_date").min()),
            "test_to": str(test.get_column("survey_date").max()),
            "positive_share_train": float(y_train.mean()),
        },
        "model": classification_metrics(y_test, p_test),
        "majority_baseline": classification_metrics(y_test, np.full(len(y_test), majority)),
        "best_rule_baseline": {
            "rule": ("not " if negated else "") + rule.name,
            **classification_metrics(y_test, rule_test.astype(float)),
        },
    }
    final = build_pipeline(seed=seed, c=parameters["c"])
    final.fit(feature_frame(labelled), labels_to_target(labels))
    holdout = test.with_columns(pl.Series("p_policy_failure", p_test))
    return TrainingResult(final, metrics, parameters, holdout)


#: Negatives scored per predict_proba call; bounds scoring memory whatever the date's size.
SCORING_CHUNK_ROWS = 50_000


def score_negatives(
    model: Pipeline, responses: pl.DataFrame, review_band: tuple[float, float] = (0.35, 0.65)
) -> pl.DataFrame:
    """Add ``p_policy_failure``, ``root_cause`` and ``needs_review`` for negative responses.

    Non-negative responses get nulls. A probability inside ``review_band`` means the model is
    unsure, so the response is marked for review instead of being acted on.
    """
    negatives = responses.get_column("is_negative").fill_null(False).to_numpy()
    p = np.full(responses.height, np.nan)
    rows = np.flatnonzero(negatives)
    # In chunks: the text features of a few hundred thousand negatives at once would hold a
    # large sparse matrix and its pandas copy in memory for no gain in speed.
    for start in range(0, rows.size, SCORING_CHUNK_ROWS):
        chunk = rows[start : start + SCORING_CHUNK_ROWS]
        p[chunk] = model.predict_proba(feature_frame(responses[chunk]))[:, 1]
    probability = pl.Series("p_policy_failure", p).fill_nan(None)
    return responses.with_columns(probability).with_columns(
        pl.when(pl.col("p_policy_failure").is_null())
        .then(None)
        .when(pl.col("p_policy_failure") >= 0.5)
        .then(pl.lit(POSITIVE_CLASS))
        .otherwise(pl.lit("perceived"))
        .alias("root_cause"),
        pl.col("p_policy_failure").is_between(*review_band, closed="none").alias("needs_review"),
    )
