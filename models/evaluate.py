"""Honest evaluation: a later time slice, the same metrics for the model and its baselines."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    f1_score,
    roc_auc_score,
)


def expected_calibration_error(y_true: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Mean |observed rate - predicted probability| over equal-width bins, weighted by size."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.mean() * abs(float(y_true[mask].mean()) - float(p[mask].mean()))
    return total


def classification_metrics(
    y_true: np.ndarray, p: np.ndarray, threshold: float = 0.5
) -> dict[str, float]:
    """Accuracy, ROC-AUC, PR-AUC, macro-F1, Brier and ECE for P(policy_failure)."""
    predicted = (p >= threshold).astype(np.int8)
    two_classes = len(np.unique(y_true)) == 2
    return {
        "n": float(len(y_true)),
        "accuracy": float(accuracy_score(y_true, predicted)),
        "roc_auc": float(roc_auc_score(y_true, p)) if two_classes else float("nan"),
        "pr_auc": float(average_precision_score(y_true, p)) if two_classes else float("nan"),
        "macro_f1": float(f1_score(y_true, predicted, average="macro")),
        "brier": float(brier_score_loss(y_true, p)),
        "ece": expected_calibration_error(y_true, p),
    }


def time_split(frame: pl.DataFrame, test_share: float = 0.25) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Train on earlier survey dates, test on the latest ``test_share`` of dates."""
    dates = frame.get_column("survey_date").unique().sort()
    if dates.len() < 2:
        raise ValueError("a time split needs audited responses on at least two survey dates")
    n_test = max(1, round(dates.len() * test_share))
    cutoff = dates[dates.len() - n_test]
    return (
        frame.filter(pl.col("survey_date") < cutoff),
        frame.filter(pl.col("survey_date") >= cutoff),
    )


@dataclass(frozen=True)
class Rule:
    """A one-feature rule: predicts policy_failure when it fires."""

    name: str
    expr: pl.Expr

    def predict(self, frame: pl.DataFrame) -> np.ndarray:
        return frame.select(self.expr.fill_null(False)).to_series().to_numpy().astype(np.int8)


def candidate_rules(train: pl.DataFrame, max_keywords: int = 300) -> list[Rule]:
    """Every single-field rule worth trying: thresholds on facts and single comment words."""
    rules: list[Rule] = [
        Rule("sla_met == false", pl.col("sla_met").not_()),
        Rule("policy_disclosed == false", pl.col("policy_disclosed").not_()),
        Rule("fee_excess > 0", pl.col("fee_excess") > 0),
        Rule("resolution != resolved", pl.col("resolution") != "resolved"),
    ]
    for column in ("transfers", "prior_contacts", "wait_seconds", "handle_seconds", "fees_charged"):
        values = train.get_column(column).drop_nulls()
        if values.len() == 0:
            continue
        for q in (0.5, 0.6, 0.7, 0.8, 0.9):
            cut = values.quantile(q)
            if cut is not None:
                rules.append(Rule(f"{column} >= {cut:g}", pl.col(column) >= cut))
    for column in ("queue", "policy_code", "channel"):
        for value in train.get_column(column).drop_nulls().unique().sort().to_list():
            rules.append(Rule(f"{column} == {value}", pl.col(column) == value))
    words = (
        train.select(pl.col("comment").fill_null("").str.to_lowercase().str.extract_all(r"[a-z']+"))
        .explode("comment")
        .group_by("comment")
        .len()
        .filter(pl.col("len") >= 10)
        .sort(["len", "comment"], descending=[True, False])
        .head(max_keywords)
        .get_column("comment")
        .to_list()
    )
    for word in words:
        pattern = rf"\b{word}\b"
        rules.append(
            Rule(
                f"comment contains '{word}'",
                pl.col("comment").str.to_lowercase().str.contains(pattern),
            )
        )
    return rules


def best_single_rule(train: pl.DataFrame, y_train: np.ndarray) -> tuple[Rule, bool]:
    """The rule (or its negation) with the best training accuracy; returns (rule, negated)."""
    best: tuple[float, Rule, bool] | None = None
    for rule in candidate_rules(train):
        fired = rule.predict(train)
        accuracy = float((fired == y_train).mean())
        for negated, score in ((False, accuracy), (True, 1.0 - accuracy)):
            if best is None or score > best[0]:
                best = (score, rule, negated)
    assert best is not None
    return best[1], best[2]
