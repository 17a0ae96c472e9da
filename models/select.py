"""Each source chooses its model design by itself, on its training slice only.

Every design of :data:`models.pipeline.DESIGNS` that the source's spec allows is fitted and
scored on the same time-ordered folds of the training slice (train on the earlier dates,
validate on the next block of dates, as the model will be used); the design with the lowest
validation log loss wins. Log loss rewards ranking and calibration together: the review band
and the threshold act on the probabilities, not only on their order. The later test slice of
the time split is never seen here. Within a fold every design reuses the same fitted text
vectorisers and matrices (:func:`models.features.shared_text_features`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold

from models.evaluate import classification_metrics, one_label
from models.features import shared_text_features
from models.pipeline import FeatureSpec, build_pipeline
from models.stacked import MIN_TEXT_ROWS_PER_CAUSE, TooFewToFit

#: Folds of the training slice each design is validated on.
SELECTION_FOLDS = 3


@dataclass
class Rows:
    """Model inputs with their targets and dates: ``x`` as :func:`feature_frame` makes it,
    ``y`` 1 for policy_failure, ``dates`` one ``datetime64[D]`` per row."""

    x: pd.DataFrame
    y: np.ndarray
    dates: np.ndarray

    def take(self, at: np.ndarray) -> Rows:
        return Rows(self.x.iloc[at].reset_index(drop=True), self.y[at], self.dates[at])

    def before(self, day: np.datetime64) -> Rows:
        return self.take(np.flatnonzero(self.dates < day))

    def plus(self, other: Rows | None) -> Rows:
        if other is None or len(other.y) == 0:
            return self
        return Rows(
            pd.concat([self.x, other.x], ignore_index=True),
            np.concatenate([self.y, other.y]),
            np.concatenate([self.dates, other.dates]),
        )


@dataclass
class Selection:
    """The chosen design and every candidate's validation scores."""

    chosen: str
    scores: dict[str, dict[str, float]] = field(default_factory=dict)
    folds: str = ""
    #: False when the validation rows held one root cause and judged no design.
    judged: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {
            "chosen": self.chosen,
            "criterion": (
                "none: validation rows of one root cause"
                if not self.judged
                else "log_loss"
                if self.scores
                else "none: the only candidate"
            ),
            "folds": self.folds,
            "candidates": self.scores,
        }


def time_ordered_folds(
    dates: np.ndarray, y: np.ndarray, folds: int, seed: int
) -> tuple[list[tuple[np.ndarray, np.ndarray, np.datetime64 | None]], str]:
    """``folds`` (train rows, validation rows, first validation date) by forward chaining.

    The rows, in date order, are cut into ``folds + 2`` blocks of about equal size at date
    boundaries; fold ``i`` trains on every date before block ``i + 2`` and validates on that
    block, so each design is judged as it will be used: on dates after the ones it learned
    from, with at least 40% of the slice to learn from. With too few distinct dates for that,
    stratified shuffled folds instead (the description says which); ValueError when a root
    cause has fewer than ``folds`` rows for those.
    """
    unique = np.unique(dates)
    if unique.size >= folds + 2:
        ordered = np.sort(dates)
        cuts = [ordered[len(ordered) * k // (folds + 2)] for k in range(2, folds + 2)]
        cuts.append(unique[-1] + np.timedelta64(1, "D"))
        result = []
        for start, end in pairwise(cuts):
            train = np.flatnonzero(dates < start)
            held = np.flatnonzero((dates >= start) & (dates < end))
            if held.size and train.size and len(np.unique(y[train])) == 2:
                result.append((train, held, start))
        if len(result) == folds:
            return result, f"{folds} time-ordered folds (forward chaining)"
    failures = int(np.count_nonzero(y))
    if min(failures, len(y) - failures) < folds:
        # StratifiedKFold's own words ("n_splits=3 cannot be greater than the number of
        # members in each class") reached a user who had 14 labelled complaints.
        raise ValueError(
            f"choosing the model compares designs in {folds} folds, so it needs at least "
            f"{folds} audits of each root cause in the rows it learns from (the earlier survey "
            f"dates; the latest are held out to test); they hold {len(y) - failures} perceived "
            f"and {failures} policy_failure. Audit more negative responses, of both kinds"
        )
    splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    return [
        (train, held, None) for train, held in splitter.split(np.zeros(len(y)), y)
    ], f"{folds} stratified folds (too few dates to order them)"


def _too_few_text(
    counts: tuple[int, int], y: np.ndarray, design: str, fold: int, folds: str, where: str
) -> str:
    """Why ``design`` could not be fitted in fold ``fold`` of ``folds`` (the description
    :func:`time_ordered_folds` gives), whose training rows (``where``) held ``counts``
    (perceived, policy_failure) rows with a comment; ``y`` the training slice's targets.
    A QA lead's trial read "one holds 3 perceived and 1 policy_failure" with no word of
    which rows, how many the folds need, or what to do, and was pointed at a traceback."""
    failures = int(np.count_nonzero(y))
    return (
        f"choosing the model compares designs on {folds} of the training slice (the earlier "
        f"survey dates), which holds {len(y) - failures} perceived and {failures} "
        f"policy_failure labelled rows; fold {fold} learns from {where} alone, and those hold "
        f"{counts[0]} perceived and {counts[1]} policy_failure with a comment, while the "
        f"{design} design needs at least {MIN_TEXT_ROWS_PER_CAUSE} of each wherever it learns "
        "(it validates its text model within them). Audit more negative responses with "
        "comments, of both root causes and of the earliest survey dates most of all, or "
        "fix a design that needs fewer in the "
        'source\'s [features] (design = "linear"). --folds does not change these folds: it '
        "sets cross-validation's folds only"
    )


def _scores(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """Validation log loss beside :func:`classification_metrics`' ROC-AUC, Brier, accuracy."""
    measured = classification_metrics(y, p)
    return {
        "log_loss": float(log_loss(y, np.clip(p, 1e-6, 1 - 1e-6), labels=[0, 1])),
        **{k: float(measured[k]) for k in ("roc_auc", "brier", "accuracy")},
    }


def choose_design(
    rows: Rows,
    spec: FeatureSpec,
    seed: int,
    extra: Rows | None = None,
    folds: int = SELECTION_FOLDS,
) -> Selection:
    """Compare every candidate design of ``spec`` on time-ordered folds of ``rows`` (the
    training slice), each fold's training rows joined by the ``extra`` rows dated before its
    validation block (labelled rows without text: trained on, never scored). Returns the
    design with the lowest pooled validation log loss, and every candidate's log loss,
    ROC-AUC, Brier score, accuracy and CPU seconds.

    A spec with one candidate (a fixed design, or an override that leaves one) is returned
    as chosen without fitting anything. Validation rows that all hold one root cause judge
    no design (log loss then rewards leaning to that cause, ROC-AUC is undefined): the first
    candidate, the simplest of :data:`models.spec.DESIGNS`, is kept, and the description
    says why (a data scientist's trial saw every candidate at ROC-AUC nan and one "chosen").
    """
    candidates = spec.candidates()
    if len(candidates) == 1:
        return Selection(candidates[0], {}, spec.one_candidate_because())
    splits, description = time_ordered_folds(rows.dates, rows.y, folds, seed)
    predicted = {design: np.full(len(rows.y), np.nan) for design in candidates}
    seconds = dict.fromkeys(candidates, 0.0)
    for number, (train_at, held_at, start) in enumerate(splits, 1):
        train = rows.take(train_at)
        if extra is not None:
            train = train.plus(extra if start is None else extra.before(start))
        held = rows.take(held_at)
        with shared_text_features():
            for design in candidates:
                began = time.process_time()
                model = build_pipeline(seed=seed, spec=replace(spec, design=design))
                try:
                    model.fit(train.x, train.y)
                except TooFewToFit as error:
                    where = f"survey dates before {start}" if start is not None else "its rows"
                    raise TooFewToFit(
                        _too_few_text(error.counts, rows.y, design, number, description, where),
                        error.counts,
                    ) from error
                predicted[design][held_at] = model.predict_proba(held.x)[:, 1]
                seconds[design] += time.process_time() - began
    scored = np.flatnonzero(~np.isnan(predicted[candidates[0]]))
    scores = {
        design: {
            **_scores(rows.y[scored], predicted[design][scored]),
            "cpu_seconds": round(seconds[design], 1),
        }
        for design in candidates
    }
    described = f"{description}, {scored.size} validation rows"
    if (cause := one_label(rows.y[scored])) is not None:
        return Selection(
            candidates[0],
            scores,
            f"{described}, all {cause}: they judge no design, so the simplest, "
            f"{candidates[0]}, is kept",
            judged=False,
        )
    chosen = min(candidates, key=lambda d: (scores[d]["log_loss"], candidates.index(d)))
    return Selection(chosen, scores, described)
