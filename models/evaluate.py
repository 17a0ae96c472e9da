"""Honest evaluation: a later time slice, the same metrics for the model and its baselines."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


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


def precision_recall_points(
    y_true: np.ndarray, p: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall and thresholds of the precision-recall curve, policy_failure positive.

    The same points as :func:`sklearn.metrics.precision_recall_curve` (a test compares them),
    computed with numpy so the run report draws the curve without importing scikit-learn:
    one point per distinct score, lowest threshold first, then (recall 0, precision 1);
    recall decreases along the arrays. ``y_true`` holds 0/1, ``p`` P(policy_failure); raises
    ValueError when ``y_true`` has no positive.
    """
    y = np.asarray(y_true).astype(bool)
    if not y.any():
        raise ValueError("a precision-recall curve needs at least one policy_failure label")
    scores = np.asarray(p, dtype=float)
    order = np.argsort(scores, kind="mergesort")[::-1]
    scores, y = scores[order], y[order]
    # The last row of each run of equal scores: a threshold admits all of them at once.
    last = np.r_[np.flatnonzero(np.diff(scores)), y.size - 1]
    true_pos = np.cumsum(y)[last]
    predicted = last + 1
    precision = true_pos / predicted
    recall = true_pos / y.sum()
    # Lowest threshold first, as scikit-learn returns them.
    return np.r_[precision[::-1], 1.0], np.r_[recall[::-1], 0.0], scores[last][::-1]


def classification_metrics(
    y_true: np.ndarray,
    p: np.ndarray,
    threshold: float = 0.5,
    decisions: np.ndarray | None = None,
) -> dict[str, Any]:
    """Accuracy, ROC-AUC, PR-AUC, macro-F1, Brier, ECE and the confusion matrix
    (``[[tn, fp], [fn, tp]]``, policy_failure positive) for P(policy_failure) ``p``.

    The classes are ``p >= threshold`` unless ``decisions`` (0/1, one per row) gives them:
    a rule's firing, whose probability is the training rate of the group it puts a row in.

    Rows of one label have no ROC-AUC, PR-AUC or macro-F1 (NaN): each needs both labels
    (macro-F1 is the mean of the two labels' F1, and scikit-learn averaged the one present,
    so 10 perceived rows read 0.444 as if judged; a data scientist's trial). Accuracy,
    Brier and ECE stay: they are defined, but judge no ranking.
    """
    # Imported here: the report uses this module's numpy-only functions and must start fast.
    from sklearn.metrics import (
        accuracy_score,
        average_precision_score,
        brier_score_loss,
        confusion_matrix,
        f1_score,
        roc_auc_score,
    )

    predicted = (p >= threshold).astype(np.int8) if decisions is None else decisions.astype(np.int8)
    two_classes = len(np.unique(y_true)) == 2
    return {
        "confusion": confusion_matrix(y_true, predicted, labels=[0, 1]).tolist(),
        "n": float(len(y_true)),
        "accuracy": float(accuracy_score(y_true, predicted)),
        "roc_auc": float(roc_auc_score(y_true, p)) if two_classes else float("nan"),
        "pr_auc": float(average_precision_score(y_true, p)) if two_classes else float("nan"),
        "macro_f1": float(f1_score(y_true, predicted, average="macro"))
        if two_classes
        else float("nan"),
        "brier": float(brier_score_loss(y_true, p)),
        "ece": expected_calibration_error(y_true, p),
    }


#: The time split's metrics a baseline is named for beating the model on (higher is better
#: for each): the ranking, and the decisions at each one's own threshold.
HEADLINE_METRICS: tuple[str, ...] = ("roc_auc", "macro_f1", "accuracy")


def metrics_beaten(
    model: dict[str, Any], baseline: dict[str, Any], names: tuple[str, ...] = HEADLINE_METRICS
) -> list[tuple[str, float, float]]:
    """``(metric, baseline's, model's)`` for each of ``names`` on which ``baseline`` (its
    :func:`classification_metrics`) scores higher than ``model``; an undefined (NaN or
    missing) score beats nothing and is beaten by nothing."""
    beaten = []
    for name in names:
        theirs, ours = float(baseline.get(name, np.nan)), float(model.get(name, np.nan))
        if theirs > ours:  # False whenever either is NaN
            beaten.append((name, theirs, ours))
    return beaten


#: The learned baselines a model is measured against: (name in words, key in metrics).
LEARNED_BASELINES: tuple[tuple[str, str], ...] = (
    ("text only baseline", "text_only_baseline"),
    ("facts only baseline", "facts_only_baseline"),
)


def baselines_ahead_text(metrics: dict[str, Any]) -> str | None:
    """A line naming each baseline of ``metrics`` (a version's ``metrics.json``: ``model``
    and the baselines, each :func:`classification_metrics`) that beats the model on the
    time split, with every headline metric it beats it on (:data:`HEADLINE_METRICS`), both
    scores each, or None. The baselines: the best single rule (``best_rule_baseline``,
    when the training slice had one), then the learned ones (:data:`LEARNED_BASELINES`).
    A rule ahead is said with what it means (:data:`RULE_AHEAD_MEANS`). Train, a source's
    training, ``models show`` (and its ``--json``), training's decision and the report all
    say it so (a data scientist's trial: CFPB's facts-only baseline won macro-F1 and
    accuracy too, and only its ROC-AUC was said; a contact centre's trial: the best rule
    beat the model on ROC-AUC 0.714 against 0.691, and nothing said so)."""
    model = metrics.get("model") or {}
    ahead = []
    rule = metrics.get("best_rule_baseline") or {}
    if "rule" in rule and (beaten := metrics_beaten(model, rule)):
        ahead.append(
            f"the best single rule ({rule['rule']}) beats the model on {_beaten_on(beaten)} "
            f"({RULE_AHEAD_MEANS})"
        )
    for name, key in LEARNED_BASELINES:
        if beaten := metrics_beaten(model, metrics.get(key) or {}):
            ahead.append(f"the {name} beats the model on {_beaten_on(beaten)}")
    return f"on the time split, {'; '.join(ahead)}" if ahead else None


#: What a best single rule ahead of the model means for its user, said after the scores.
RULE_AHEAD_MEANS = (
    "that one rule alone separates the root causes at least as well as the model: audit more "
    "responses, or give the model facts the rule does not carry, before trusting it over the rule"
)


def _beaten_on(beaten: list[tuple[str, float, float]]) -> str:
    """ "roc_auc 0.714 against 0.691, macro_f1 0.654 against 0.642": each metric of
    :func:`metrics_beaten`'s, the baseline's score first."""
    return ", ".join(f"{m} {_apart(theirs, ours)}" for m, theirs, ours in beaten)


def _apart(theirs: float, ours: float) -> str:
    """ "0.752 against 0.739": three places, or as many more (up to six) as it takes for the
    two to read differently (a platform engineer's trial read "beats the model on roc_auc
    0.841 against 0.841")."""
    places = next((p for p in range(3, 7) if f"{theirs:.{p}f}" != f"{ours:.{p}f}"), 6)
    return f"{theirs:.{places}f} against {ours:.{places}f}"


#: A model is promoted only if its out-of-fold probabilities rank policy failures above
#: perceived responses at this significance (one-sided; see :func:`skill_against_chance`).
SKILL_SIGNIFICANCE = 0.05


def skill_against_chance(y_true: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, Any]:
    """Whether P(policy_failure) ``p`` separates the labels ``y_true`` (0/1, 1 =
    policy_failure) better than chance, and beats always answering the majority label.

    * Ranking: the one-sided Mann-Whitney U test (``scipy.stats.mannwhitneyu``, asymptotic,
      ties averaged) that policy failures get higher probabilities than perceived
      responses; ``U / (n_failures * n_perceived)`` is the ROC-AUC, so this tests ROC-AUC >
      0.5. A constant model gets p = 0.5.
    * Decisions: macro-F1 at ``threshold`` above the majority label's macro-F1 on the same
      rows.

    Returns ``rows``, ``roc_auc``, ``p_value``, ``macro_f1``, ``majority_macro_f1`` and
    ``skilled`` (both hold, with p below :data:`SKILL_SIGNIFICANCE`). Rows of one label only
    are never skilled (p_value 1.0). Meant for out-of-fold probabilities: every labelled
    row, each scored by a model that did not train on it.
    """
    from scipy.stats import mannwhitneyu
    from sklearn.metrics import f1_score

    y = np.asarray(y_true).astype(np.int8)
    scores = np.asarray(p, dtype=float)
    failures, perceived = scores[y == 1], scores[y == 0]
    if failures.size == 0 or perceived.size == 0:
        auc, p_value = float("nan"), 1.0
    else:
        u, p_value = mannwhitneyu(failures, perceived, alternative="greater", method="asymptotic")
        auc, p_value = float(u) / (failures.size * perceived.size), float(p_value)
    majority = np.full(y.size, int(y.mean() >= 0.5) if y.size else 0)
    macro_f1 = float(f1_score(y, (scores >= threshold).astype(np.int8), average="macro"))
    majority_f1 = float(f1_score(y, majority, average="macro"))
    return {
        "rows": int(y.size),
        "roc_auc": auc,
        "p_value": p_value,
        "macro_f1": macro_f1,
        "majority_macro_f1": majority_f1,
        "skilled": bool(p_value < SKILL_SIGNIFICANCE and macro_f1 > majority_f1),
    }


def scored_on_current_labels(
    y_true: np.ndarray,
    p_challenger: np.ndarray,
    p_champion: np.ndarray,
    thresholds: tuple[float, float],
    min_rows: int,
) -> tuple[float, float, int] | None:
    """The challenger's and the champion's macro F1 on the same responses, both scored
    against the challenger's labels (the audits as they are now).

    One entry per response both predicted on rows they did not train on
    (``transforms.labelled.predictions_on_both`` pairs them): ``y_true`` the challenger's
    labels as 0/1 targets (1 = policy_failure; the champion's labels of then are not used),
    ``p_challenger`` and ``p_champion`` each one's P(policy_failure): out-of-fold ones, or
    the time split's test slice's; ``thresholds``: (challenger's, champion's) decision
    threshold. Each probability was predicted by a model that did not train on its row, so
    both are honest estimates; scored on the same rows against the same labels they
    compare the models, not the label sets (found by a QA lead's trial: each scored on its
    own audits, a challenger trained on 87 corrected labels lost because the champion was
    measured against the labels QA had corrected). Returns ``(challenger_f1, champion_f1,
    rows)``, or None when fewer than ``min_rows`` responses are in both, or they hold one
    label (no macro-F1 to compare: :func:`classification_metrics`)."""
    if len(y_true) < min_rows or one_label(y_true) is not None:
        return None
    ours = classification_metrics(y_true, p_challenger, thresholds[0])
    theirs = classification_metrics(y_true, p_champion, thresholds[1])
    return float(ours["macro_f1"]), float(theirs["macro_f1"]), len(y_true)


#: Resamples behind the promotion decision's interval (:func:`macro_f1_difference_interval`);
#: every bootstrap of this module draws from a generator seeded with :data:`BOOTSTRAP_SEED`,
#: so a version's intervals are the same each time it is scored.
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 7
#: The confidence of every interval: 95%, the two-sided counterpart of
#: :data:`SKILL_SIGNIFICANCE`'s 5%.
INTERVAL_CONFIDENCE = 0.95


def macro_f1_along(y_true: np.ndarray, predicted: np.ndarray, axis: int = -1) -> np.ndarray:
    """Macro-F1 (the mean of policy_failure's and perceived's F1) along ``axis`` of 0/1
    labels ``y_true`` and 0/1 decisions ``predicted`` of the same shape, as
    ``sklearn.metrics.f1_score(average="macro")`` gives for each slice (an F1 with no row
    to judge counts 0, scikit-learn's default); vectorised for
    ``scipy.stats.bootstrap``, which passes a batch of resamples at once."""
    y, d = np.asarray(y_true).astype(bool), np.asarray(predicted).astype(bool)
    return _macro_f1_of_counts((y & d).sum(axis), (~y & ~d).sum(axis), (y != d).sum(axis))


def _macro_f1_of_counts(tp: np.ndarray, tn: np.ndarray, wrong: np.ndarray) -> np.ndarray:
    """Macro-F1 from counts of true positives ``tp`` (policy_failure right), true negatives
    ``tn`` (perceived right) and ``wrong`` decisions, elementwise (each class's F1 is
    2 TP / (2 TP + FP + FN), and FP + FN of either class is every wrong decision); an F1
    with no row to judge counts 0, as ``sklearn.metrics.f1_score`` gives it."""
    with np.errstate(divide="ignore", invalid="ignore"):
        f1_failure = np.where(2 * tp + wrong > 0, 2 * tp / (2 * tp + wrong), 0.0)
        f1_perceived = np.where(2 * tn + wrong > 0, 2 * tn / (2 * tn + wrong), 0.0)
    result: np.ndarray = (f1_failure + f1_perceived) / 2
    return result


def macro_f1_difference_interval(
    y_true: np.ndarray,
    p_challenger: np.ndarray,
    p_champion: np.ndarray,
    thresholds: tuple[float, float],
) -> tuple[float, float]:
    """The :data:`INTERVAL_CONFIDENCE` interval of the challenger's macro-F1 minus the
    champion's on the same rows, by a paired bootstrap over the rows
    (``scipy.stats.bootstrap``, ``paired=True``, percentile method,
    :data:`BOOTSTRAP_RESAMPLES` resamples, seed :data:`BOOTSTRAP_SEED`): each resample
    draws rows with replacement and scores both models on the same draw, so what the two
    share (a hard row, a mislabelled one) cancels and the interval is the noise of their
    difference alone. ``y_true``: 0/1 labels as they are now (1 = policy_failure);
    ``p_*``: each model's P(policy_failure) on those rows, read at ``thresholds``
    (challenger's, champion's). An interval below 0 throughout says the challenger is worse
    beyond the noise of so few rows (models.registry.promotion_decision's ``noise``)."""
    from scipy.stats import bootstrap

    ours = (np.asarray(p_challenger) >= thresholds[0]).astype(np.int8)
    theirs = (np.asarray(p_champion) >= thresholds[1]).astype(np.int8)

    def difference(y: np.ndarray, a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
        return macro_f1_along(y, a, axis) - macro_f1_along(y, b, axis)

    result = bootstrap(
        (np.asarray(y_true).astype(np.int8), ours, theirs),
        difference,
        paired=True,
        vectorized=True,
        n_resamples=BOOTSTRAP_RESAMPLES,
        confidence_level=INTERVAL_CONFIDENCE,
        method="percentile",
        rng=np.random.default_rng(BOOTSTRAP_SEED),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


#: The scores given an interval in ``metrics.json`` (``intervals``), ``models show`` and the
#: report.
INTERVAL_METRICS = ("accuracy", "roc_auc", "macro_f1", "brier", "ece")


#: Resamples behind each reported score's interval (:func:`metric_intervals`): half of
#: :data:`BOOTSTRAP_RESAMPLES`, the usual least for a percentile interval, because every
#: training scores five metrics on the out-of-fold rows and the holdout (2,000 took 8 s of
#: the demo's ~56 s train; a promotion's single difference keeps 2,000).
INTERVAL_RESAMPLES = 1000
#: Resamples scored at once by :func:`metric_intervals`: a batch holds this many rows of
#: draw counts per labelled row (2,000 x 18,218 at once would hold ~300 MB).
BOOTSTRAP_BATCH = 200


def _scores_of_draws(
    y: np.ndarray, p: np.ndarray, threshold: float, bins: int = 10
) -> Callable[..., np.ndarray]:
    """The statistic :func:`metric_intervals` gives ``scipy.stats.bootstrap``: from a batch
    of resampled row indices (shape ``(..., n)``) to :data:`INTERVAL_METRICS` of each
    resample, stacked first, as :func:`classification_metrics` gives for those rows
    (ROC-AUC as ``roc_auc_score``, ties counting a half; NaN for a resample of one label;
    ECE with :func:`expected_calibration_error`'s bins). Each resample is read as how many
    times it drew each row, so every score is a sum over the ``n`` rows, sorted by ``p``
    once: no resample is sorted or ranked again (ranking 2,000 resamples of the demo's
    18,218 rows took 46 s, as long as training)."""
    n = y.size
    order = np.argsort(p, kind="mergesort")
    y_sorted, p_sorted = y[order].astype(float), p[order]
    # The first row of each run of equal probabilities: ties share their rank.
    starts = np.r_[0, np.flatnonzero(np.diff(p_sorted)) + 1]
    right = ((p_sorted >= threshold) == (y_sorted == 1)).astype(float)
    decided = (p_sorted >= threshold).astype(float)
    tp = y_sorted * decided
    tn = (1 - y_sorted) * (1 - decided)
    which = np.clip(np.digitize(p_sorted, np.linspace(0.0, 1.0, bins + 1)[1:-1]), 0, bins - 1)
    # Each row's observed minus predicted, in its bin's column.
    gaps = np.zeros((n, bins))
    gaps[np.arange(n), which] = y_sorted - p_sorted
    rank_of = np.empty(n, dtype=np.int64)
    rank_of[order] = np.arange(n)

    def scores(draws: np.ndarray, axis: int = -1) -> np.ndarray:
        drawn = np.moveaxis(np.asarray(draws), axis, -1)
        shape = drawn.shape[:-1]
        flat = rank_of[drawn.reshape(-1, n)]
        batch = flat.shape[0]
        offsets = (np.arange(batch) * n)[:, None]
        counts = np.bincount((flat + offsets).ravel(), minlength=batch * n)
        w = counts.reshape(batch, n).astype(float)
        positives = w @ y_sorted
        negatives = n - positives
        # Mann-Whitney: each drawn positive counts the drawn negatives below it, and half of
        # those tied with it.
        pos_runs = np.add.reduceat(w * y_sorted, starts, axis=1)
        neg_runs = np.add.reduceat(w * (1 - y_sorted), starts, axis=1)
        below = np.cumsum(neg_runs, axis=1) - neg_runs
        with np.errstate(divide="ignore", invalid="ignore"):
            auc = (pos_runs * (below + neg_runs / 2)).sum(1) / (positives * negatives)
        auc = np.where((positives > 0) & (negatives > 0), auc, np.nan)
        stacked = np.stack(
            [
                w @ right / n,
                auc,
                _macro_f1_of_counts(w @ tp, w @ tn, n - w @ right),
                w @ (p_sorted - y_sorted) ** 2 / n,
                # each bin: its share of rows times |observed rate - mean probability|
                np.abs(w @ gaps).sum(1) / n,
            ]
        )
        return stacked.reshape((len(INTERVAL_METRICS), *shape))

    return scores


def metric_intervals(y_true: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, list[float]]:
    """``{metric: [low, high]}``, the :data:`INTERVAL_CONFIDENCE` interval of each of
    :data:`INTERVAL_METRICS` by a bootstrap over the rows (``scipy.stats.bootstrap`` of the
    row indices, so the labels ``y_true`` (0/1, 1 = policy_failure) and probabilities ``p``
    are resampled as pairs; percentile method, :data:`INTERVAL_RESAMPLES` resamples in
    batches of :data:`BOOTSTRAP_BATCH`, seed :data:`BOOTSTRAP_SEED`); decisions at
    ``threshold``. A bound is NaN where it is not defined (ROC-AUC of resamples of one
    label), and every one for fewer than 2 rows or rows of one label. Found by a QA lead's
    trial: on ~300 audits, adding 2 labels and correcting 7 moved the cross-validated
    ROC-AUC 0.780 -> 0.723 and the holdout ECE 0.045 -> 0.090, printed as if exact."""
    from scipy.stats import bootstrap

    y = np.asarray(y_true).astype(np.int8)
    if y.size < 2 or one_label(y) is not None:
        nan = [float("nan"), float("nan")]
        return {m: list(nan) for m in INTERVAL_METRICS}
    result = bootstrap(
        (np.arange(y.size),),
        _scores_of_draws(y, np.asarray(p, dtype=float), threshold),
        vectorized=True,
        n_resamples=INTERVAL_RESAMPLES,
        batch=BOOTSTRAP_BATCH,
        confidence_level=INTERVAL_CONFIDENCE,
        method="percentile",
        rng=np.random.default_rng(BOOTSTRAP_SEED),
    )
    low, high = result.confidence_interval
    return {m: [float(low[i]), float(high[i])] for i, m in enumerate(INTERVAL_METRICS)}


#: The review band promises its decided rows are right :data:`REVIEW_TARGET_ACCURACY` of the
#: time; a holdout checks that only where the 95% (Wilson) interval of its decided rows'
#: accuracy is at most this wide: 0.10 tells 90% from 80%, and needs about 140 decided
#: rows at 90% (a QA lead's trial: 42 decided rows of a 75-row holdout read 0.857, while
#: 495 negatives with known truth read 0.847 outside the band).
BAND_CHECK_WIDTH = 0.10


def band_check(decided_right: int, decided: int) -> dict[str, Any]:
    """Whether a holdout's ``decided`` rows (outside the review band), ``decided_right`` of
    them right at the threshold, can check the band's promise: ``rows``, ``accuracy``,
    ``interval`` (the Wilson :data:`INTERVAL_CONFIDENCE` interval of that accuracy,
    ``scipy.stats.binomtest``), and ``checkable`` (the interval at most
    :data:`BAND_CHECK_WIDTH` wide). No decided row: NaN accuracy and interval, not
    checkable."""
    if decided == 0:
        nan = float("nan")
        return {"rows": 0, "accuracy": nan, "interval": [nan, nan], "checkable": False}
    from scipy.stats import binomtest

    ci = binomtest(decided_right, decided).proportion_ci(INTERVAL_CONFIDENCE, method="wilson")
    return {
        "rows": decided,
        "accuracy": decided_right / decided,
        "interval": [float(ci.low), float(ci.high)],
        "checkable": bool(ci.high - ci.low <= BAND_CHECK_WIDTH),
    }


def interval_text(interval: Sequence[float] | None) -> str:
    """`` [0.712, 0.901]``: a score's interval after it, or nothing without one (a version
    saved before intervals were kept) or with an undefined bound."""
    if not interval or any(v is None or np.isnan(v) for v in interval):
        return ""
    return f" [{interval[0]:.3f}, {interval[1]:.3f}]"


def band_check_text(check: dict[str, Any] | None) -> str | None:
    """What ``models show`` and the report say of the review band's promise on the holdout
    (:func:`band_check`); None for a version saved before it was kept."""
    if not check:
        return None
    target = f"{REVIEW_TARGET_ACCURACY:.0%}"
    if not check["rows"]:
        return (
            f"review band: no holdout row is outside it, so its promise ({target} right) is "
            "unchecked"
        )
    said = (
        f"review band on the holdout: {check['accuracy']:.3f} right outside it on "
        f"{check['rows']:,} rows{interval_text(check['interval'])}"
    )
    if check["checkable"]:
        return f"{said}: enough rows to check its promise ({target} right)"
    return (
        f"{said}: too few to check its promise ({target} right), the 95% interval is wider "
        f"than {BAND_CHECK_WIDTH}; about {band_rows_needed():,} decided rows would check it"
    )


def band_rows_needed() -> int:
    """Decided rows whose Wilson interval at :data:`REVIEW_TARGET_ACCURACY` is at most
    :data:`BAND_CHECK_WIDTH` wide: the holdout a band's promise can be checked on."""
    from scipy.stats import norm

    z = float(norm.ppf(0.5 + INTERVAL_CONFIDENCE / 2))
    q = REVIEW_TARGET_ACCURACY
    return int(np.ceil(z * z * q * (1 - q) / (BAND_CHECK_WIDTH / 2) ** 2))


def one_label(y_true: np.ndarray) -> str | None:
    """The root cause every row of the 0/1 targets ``y_true`` has (1 = policy_failure), or
    None when they hold both (or none): rows that judge no ranking or macro-F1."""
    present = np.unique(np.asarray(y_true))
    if present.size != 1:
        return None
    return "policy_failure" if int(present[0]) == 1 else "perceived"


def p_value_text(p: float) -> str:
    """``p = 0.0123``, or ``p < 1e-16`` below what a double tells apart from 0."""
    return "p < 1e-16" if p < 1e-16 else f"p = {p:.3g}"


#: The share of the audits sharing their comment with another (grouped in cross-validation)
#: from which a refusal for no skill is put down to the grouping: then most audits were each
#: scored by a model that never saw their comment, and on repeated comments that measures
#: nothing of the model (a QA lead's trial: 552 of 552 audits, 12 distinct comments,
#: ROC-AUC 0.449 out of fold against 1.000 on the time split).
MOSTLY_SHARED_TEXT = 0.5


def no_skill_reason(
    skill: dict[str, Any],
    cross_validation: dict[str, Any] | None = None,
    promote: str | None = None,
) -> str | None:
    """Why a model with :func:`skill_against_chance`'s result ``skill`` must not be
    promoted, in words; None when it shows skill.

    ``cross_validation``: the version's ``metrics["cross_validation"]``
    (``models.train.train_root_cause_model``). Where the folds were grouped by comment
    (``grouped_by_text``) and at least :data:`MOSTLY_SHARED_TEXT` of the audits share their
    comment with another (``shared_text_rows``, carrying ``shared_texts`` distinct ones),
    the reason says that this cross-validation cannot judge a model on repeated comments
    and what would help (audits of responses with other comments; ``promote``, the command
    that promotes the version by hand, when given), instead of asking for more audits of
    both root causes, which would repeat the same comments. Short comments are never
    grouped (``transforms.labelled.DUPLICATE_TEXT_MIN_CHARS``), so a survey of "Rude agent"s is
    judged and refused as any other."""
    if skill["skilled"]:
        return None
    said = (
        f"it shows no skill over chance on its {skill['rows']:,} audits, each scored by a "
        f"model that did not train on it: ROC-AUC {skill['roc_auc']:.3f} (one-sided "
        f"Mann-Whitney {p_value_text(skill['p_value'])}, needs < {SKILL_SIGNIFICANCE}), "
        f"macro-F1 {skill['macro_f1']:.3f} against {skill['majority_macro_f1']:.3f} for "
        "always answering the commoner label"
    )
    cv = cross_validation or {}
    shared = int(cv.get("shared_text_rows") or 0)
    rows = int(skill["rows"])
    if cv.get("grouped_by_text") is not True or not rows or shared < MOSTLY_SHARED_TEXT * rows:
        return f"{said}. More audits of both root causes are needed"
    which = f"all {rows:,}" if shared == rows else f"{shared:,} of its {rows:,}"
    return (
        f"{said}. But {which} audits share their comment with another audit "
        f"({int(cv.get('shared_texts') or 0):,} distinct comments between them), and "
        "cross-validation keeps a comment's copies in one fold (so that one complaint filed "
        "twice does not answer for itself): each of them was scored by a model that never "
        "saw its comment, and such a cross-validation cannot judge a model on repeated "
        "comments. More audits of the same comments would not help; audits of responses "
        "with other comments would"
        + (
            f". If new responses repeat these comments, read the time split's figures "
            f"(later responses, scored by a model trained on the earlier ones), and "
            f"`{promote}` promotes it by hand"
            if promote
            else ""
        )
    )


def balanced_accuracy(y_true: np.ndarray, predicted: np.ndarray) -> float:
    """The mean of the recall of each label (scikit-learn's ``balanced_accuracy_score``;
    ``y_true`` and ``predicted`` 0/1 of one length). A label absent from ``y_true`` counts
    as recall 0, so rows of one label score at most 0.5."""
    y = np.asarray(y_true).astype(bool)
    hit = np.asarray(predicted).astype(bool) == y
    recalls = [
        float(hit[y == label].mean()) if (y == label).any() else 0.0 for label in (True, False)
    ]
    return (recalls[0] + recalls[1]) / 2


def best_single_rule(fired: Sequence[np.ndarray], y_train: np.ndarray) -> tuple[int, bool] | None:
    """The rule (or its negation) with the best balanced accuracy on the training rows
    (:func:`balanced_accuracy`): ``fired`` holds one 0/1 array per candidate rule, 1 where
    it fires on a training row (:func:`transforms.labelled.candidate_rules`, each rule's
    ``predict``), ``y_train`` 0/1 (1 = policy_failure) of the same length. Returns (the
    rule's position in ``fired``, negated). The first of equals wins.

    Balanced, not plain accuracy: on imbalanced labels plain accuracy prefers a rule that
    almost never fires, i.e. the majority label (a data scientist's trial on CFPB's
    complaints got ``comment contains 'c'``, ROC-AUC 0.498). A rule that fires on every
    training row or on none is no rule: None when every candidate is one (or there is no
    candidate), so there is no single-rule baseline (:data:`NO_RULE_TEXT` says why).
    """
    # A rule that fires on every training row or on none (``fee_excess > 0`` of a source
    # with no fee column) is a constant named as if it read a field: a QA lead's trial on a
    # source of comments alone read "best single rule: fee_excess > 0".
    varied = [(at, rule) for at, rule in enumerate(fired) if rule.min() != rule.max()]
    best: tuple[float, int, bool] | None = None
    for at, rule in varied:
        for negated in (False, True):
            score = balanced_accuracy(y_train, 1 - rule if negated else rule)
            if best is None or score > best[0]:
                best = (score, at, negated)
    return None if best is None else (best[1], best[2])


#: Why a training slice has no single-rule baseline (:func:`best_single_rule` gave None),
#: with its row count: kept as the baseline's ``no_rule`` in metrics.json.
NO_RULE_TEXT = (
    "every rule one field gives (a flag, a fact over a cut, a category, a word of the comment "
    "in 10 rows or more) fires on all {rows:,} training rows or on none, so no single rule "
    "tells the root causes apart; the majority baseline is the one to beat"
)


def selection_summary(selection: dict[str, Any] | None, design: str | None = None) -> str:
    """How training chose a model's design, in one line: ``selection`` is ``metrics.json``'s
    (:meth:`models.select.Selection.as_dict`), ``design`` the metadata's for a version saved
    before it was recorded. Candidates compared: the folds and the design chosen, "lowest
    validation log loss" only when that judged it (validation rows of one root cause judge none). No
    candidate: the design and why nothing was compared (a definition's ``[features]
    design``). The terminal (``train``, ``models show``) and the report say this same line:
    the report once said "by validation log loss" of a design the definition had fixed. Here,
    not in :mod:`models.select`, so the report reads it without importing scikit-learn."""
    if not selection:
        return f"design: {design or '?'} (how it was chosen was not recorded for this version)"
    if not selection.get("candidates"):
        return (
            f"design: {selection.get('chosen', design or '?')} ({selection.get('folds', '')}; "
            "no other design was compared)"
        )
    return f"design chosen on the training slice ({selection['folds']}): " + (
        f"{selection['chosen']} (lowest validation log loss)"
        if selection.get("criterion") == "log_loss"
        else str(selection["chosen"])
    )


def rule_baseline_text(baseline: dict[str, Any]) -> str:
    """The best single rule of ``baseline`` (metrics' ``best_rule_baseline``) as the terminal
    and the report name it: the rule, e.g. ``sla_met == false``, or ``none (why)`` when the
    training slice had none (its ``no_rule``)."""
    if "rule" in baseline:
        return str(baseline["rule"])
    return f"none ({baseline.get('no_rule', 'not recorded')})"


#: The thresholds :func:`choose_threshold` tries: lowest, highest, step.
THRESHOLD_GRID = (0.2, 0.8, 0.01)
#: :func:`choose_review_band`'s aim: the accuracy of the rows outside the band...
REVIEW_TARGET_ACCURACY = 0.9
#: ...and the largest share of rows it sends to review. Both are this project's own choice
#: since the band was introduced (commit 71be798), not taken from a study: a QA team audits
#: a sample of negatives, and a third of them is about what it can review beside its usual
#: sample; 90 % is the accuracy the decided rows are meant to be trusted at.
MAX_REVIEW_SHARE = 0.35


def choose_threshold(y_val: np.ndarray, p_val: np.ndarray) -> float:
    """The decision threshold with the best macro-F1 on validation probabilities.

    Ties go to the threshold closest to 0.5, so a calibrated model keeps 0.5 unless the data
    says otherwise. Call it with out-of-fold probabilities of the training slice only.
    """
    low, high, step = THRESHOLD_GRID
    grid = np.round(np.arange(low, high + step / 10, step), 2)
    scores = macro_f1_at_thresholds(y_val, p_val, grid)
    best = scores.max()
    candidates = [t for t, s in zip(grid, scores, strict=True) if s >= best - 1e-9]
    return float(min(candidates, key=lambda t: abs(t - 0.5)))


def macro_f1_at_thresholds(y: np.ndarray, p: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Macro-F1 of the decisions ``p >= t`` against ``y`` (0/1, ``POSITIVE_CLASS`` = 1) for
    each ``t`` of ``thresholds``: one array, the thresholds' order, all at once.

    Equal to scikit-learn's ``f1_score(y, p >= t, average="macro")`` for every ``t``
    (``tests/model/test_model.py`` compares them): F1 of a class is ``2 tp / (2 tp + fp +
    fn)``, averaged over the classes present in ``y`` or in the decisions (a class in
    neither is no label of scikit-learn's). Counting the confusion matrix of every threshold
    in one pass instead of one ``f1_score`` call each (its input validation, 61 times per
    choice, three choices per training): one choice on 400 rows took 0.33 s with
    ``f1_score`` and 0.09 ms this way on a busy 2-core machine (the best of three).
    """
    truth = np.asarray(y).astype(bool)
    decided = np.asarray(p)[None, :] >= np.asarray(thresholds)[:, None]
    tp = (decided & truth).sum(axis=1)
    fp = (decided & ~truth).sum(axis=1)
    fn = (~decided & truth).sum(axis=1)
    tn = truth.size - tp - fp - fn
    scores, present = np.zeros(len(thresholds)), np.zeros(len(thresholds))
    for hits, wrong in ((tp, fp + fn), (tn, fn + fp)):
        denominator = 2 * hits + wrong
        scores += np.divide(
            2 * hits, denominator, out=np.zeros(len(thresholds)), where=denominator > 0
        )
        present += denominator > 0
    return scores / np.maximum(present, 1)


def choose_review_band(
    y_val: np.ndarray,
    p_val: np.ndarray,
    threshold: float,
    target_accuracy: float = REVIEW_TARGET_ACCURACY,
    max_review_share: float = MAX_REVIEW_SHARE,
) -> tuple[float, float]:
    """The narrowest band around ``threshold`` outside which validation accuracy reaches
    ``target_accuracy``, never sending more than ``max_review_share`` of rows to review.

    ``y_val`` (0/1) and ``p_val`` (probabilities of policy_failure) are out-of-fold
    validation rows of the training slice; the band grows 0.01 a side at a time from zero
    width. The defaults, :data:`REVIEW_TARGET_ACCURACY` (0.9) and :data:`MAX_REVIEW_SHARE`
    (0.35), are the project's choice (see there). The cap wins: where no band within it
    reaches the target, the widest band within it is returned, and where the probabilities
    are bunched at the threshold (a calibrated model's steps) even a band of 0.01 a side
    holds more than the cap, so the band has zero width and sends nothing to review. Whether
    the target was reached is :func:`review_band_reach`'s to say."""
    distance = np.abs(p_val - threshold)
    correct = (p_val >= threshold).astype(np.int8) == y_val
    chosen = 0.0
    for width in np.round(np.arange(0.0, 0.5, 0.01), 2):
        decided = distance >= width
        if (~decided).mean() > max_review_share:
            break
        chosen = float(width)
        if decided.any() and correct[decided].mean() >= target_accuracy:
            break
    return (round(max(threshold - chosen, 0.0), 2), round(min(threshold + chosen, 1.0), 2))


def review_band_reach(
    y_val: np.ndarray,
    p_val: np.ndarray,
    threshold: float,
    band: tuple[float, float],
    target_accuracy: float = REVIEW_TARGET_ACCURACY,
    max_review_share: float = MAX_REVIEW_SHARE,
) -> dict[str, Any]:
    """What ``band`` (from :func:`choose_review_band` on the same ``y_val`` and ``p_val``)
    reaches on those rows: ``accuracy_outside`` (of the decisions ``p >= threshold`` on the
    rows with ``p <= low`` or ``p >= high``, NaN when none is), ``review_share`` (the share
    of rows inside it), the ``target_accuracy`` and ``max_review_share`` it was chosen for,
    and ``target_met``. Kept in metrics.json's ``decision.band_validation``: a trial's band
    [0.57, 0.57] was described as right 90 % of the time where the rows outside it (all of
    them) were right 73 % of the time."""
    low, high = band
    decided = (p_val <= low) | (p_val >= high)
    correct = (p_val >= threshold).astype(np.int8) == y_val
    accuracy = float(correct[decided].mean()) if decided.any() else float("nan")
    return {
        "accuracy_outside": accuracy,
        "review_share": float(1 - decided.mean()) if decided.size else float("nan"),
        "target_accuracy": target_accuracy,
        "max_review_share": max_review_share,
        "target_met": bool(accuracy >= target_accuracy),
    }


def review_band_text(decision: dict[str, Any]) -> str:
    """The review band of a version's ``decision`` (metrics.json) in words: where it reached
    its target, ``review band [0.27, 0.81]: the narrowest band around it outside which those
    probabilities are right 90% of the time, sending at most 35% of the rows to review``;
    where it did not (``band_validation.target_met`` false), plainly so, with the accuracy
    reached outside it, that the cap bound it, and what can change it. A version trained
    before ``band_validation`` was kept is described as before."""
    low, high = decision.get("review_band") or (float("nan"), float("nan"))
    reach = decision.get("band_validation") or {}
    target = reach.get("target_accuracy", REVIEW_TARGET_ACCURACY)
    cap = reach.get("max_review_share", MAX_REVIEW_SHARE)
    zero = "zero width: nothing goes to review as uncertain" if low == high else ""
    if reach.get("target_met", True):
        reached = (
            f" ({reach['accuracy_outside']:.1%} outside this one, {reach['review_share']:.1%} "
            f"of the rows inside it{f'; {zero}' if zero else ''})"
            if reach
            else ""
        )
        return (
            f"review band [{low:.2f}, {high:.2f}]: the narrowest band around it outside which "
            f"those probabilities are right {target:.0%} of the time{reached}, sending at "
            f"most {cap:.0%} of the rows to review"
        )
    return (
        f"review band [{low:.2f}, {high:.2f}]: no band sending at most {cap:.0%} of the rows "
        f"to review reaches {target:.0%} accuracy outside it, so the cap bound it: outside "
        f"this band those probabilities are right {reach['accuracy_outside']:.1%} of the "
        f"time, with {reach['review_share']:.1%} of the rows inside it"
        f"{f' ({zero})' if zero else ''}. More QA audits of negatives (labels) are what "
        "can make the model sure enough; "
        f"the {target:.0%} and {cap:.0%} are fixed in models/evaluate.py"
    )


#: A holdout group smaller than this shows its size but not its scores (``models show``, the
#: report): under 30 rows the 95 % interval of an accuracy near 0.5 is wider than +/-0.18
#: (1.96 * sqrt(0.25 / 30)); metrics.json keeps every group's scores.
GROUP_ROWS_TO_SCORE = 30


#: The group of :func:`metrics_by_group` holding the rows with no value in its column.
NO_VALUE_GROUP = "missing"


def groupings_with_values(by_group: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``by_group`` (metrics' ``by_group``: column -> value -> scores, as
    :func:`metrics_by_group` gives them) without a grouping whose one group is
    :data:`NO_VALUE_GROUP`: a column the source carries no value of (a call log has no
    policy code and no comment whose language to detect). Its table of one "missing" group
    restated the holdout (a contact centre's trial read "missing n 156" under
    ``holdout by policy_code`` and ``holdout by language``). Training keeps no such grouping,
    and ``models show`` and the report show none of a version saved before."""
    return {column: groups for column, groups in by_group.items() if set(groups) - {NO_VALUE_GROUP}}


def metrics_by_group(
    values: Sequence[str | None] | np.ndarray,
    y_true: np.ndarray,
    p: np.ndarray,
    threshold: float = 0.5,
) -> dict[str, dict[str, Any]]:
    """:func:`classification_metrics` for every value of a grouping column (e.g. queue,
    policy), keyed by value: ``values`` holds one value per row of ``y_true`` and ``p`` (as
    text; None, a row without one, falls in :data:`NO_VALUE_GROUP`), as
    ``transforms.labelled.group_values`` takes them from a frame.

    A group holding one class has no ROC-AUC, and no macro-F1 either (NaN, as
    :func:`classification_metrics` gives them): a group of three rows all predicted right
    read 1.000 (a data scientist's trial, on the CFPB complaints)."""
    grouped = np.array([NO_VALUE_GROUP if v is None else str(v) for v in values], dtype=object)
    return {
        str(v): classification_metrics(y_true[grouped == v], p[grouped == v], threshold)
        for v in sorted(set(grouped))
    }


def reliability_curve(y_true: np.ndarray, p: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """The reliability diagram's points: per equal-width bin of P(policy_failure) that holds
    rows, its row count, mean predicted probability and observed failure rate (the same bins
    as :func:`expected_calibration_error`)."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    points = []
    for b in range(bins):
        mask = which == b
        if mask.any():
            points.append(
                {
                    "from": float(edges[b]),
                    "to": float(edges[b + 1]),
                    "n": float(mask.sum()),
                    "predicted": float(p[mask].mean()),
                    "observed": float(y_true[mask].mean()),
                }
            )
    return points


def abstention_curve(
    y_true: np.ndarray,
    p: np.ndarray,
    threshold: float,
    widths: tuple[float, ...] = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3),
) -> list[dict[str, float]]:
    """Accuracy on the decided rows against the share sent to review, for review bands
    ``threshold +- width`` (the rows strictly inside go to review, as in scoring)."""
    correct = (p >= threshold).astype(np.int8) == y_true
    points = []
    for width in widths:
        review = (p > threshold - width) & (p < threshold + width)
        decided = ~review
        points.append(
            {
                "band_half_width": width,
                "review_share": float(review.mean()),
                "accuracy_decided": float(correct[decided].mean())
                if decided.any()
                else float("nan"),
            }
        )
    return points


def decision_origin_text(metrics: dict[str, Any]) -> str:
    """Where a version's threshold and review band come from, in words, from its
    ``metrics.json`` (``decision``, ``split``): :func:`choose_threshold` and
    :func:`choose_review_band` on the out-of-fold probabilities of the time split's training
    slice. A QA lead's trial read only "chosen on validation data"."""
    decision, split = metrics.get("decision") or {}, metrics.get("split") or {}
    folds = decision.get("validation_folds")
    rows = split.get("train_rows")
    first, last, _ = THRESHOLD_GRID
    slice_of = (
        f"the training slice ({rows:,} labelled rows dated before {split.get('test_from')}"
        + (f", {folds} folds" if folds else "")
        + ")"
        if rows is not None
        else "the training slice"
    )
    return (
        f"threshold {float(decision.get('threshold', float('nan'))):.2f}: the best macro-F1 "
        f"(thresholds {first:.2f} to {last:.2f}, a tie going to the one nearest 0.50) on the "
        f"out-of-fold probabilities of {slice_of}; {review_band_text(decision)}"
        + _band_against_grouped_folds(metrics)
    )


def _band_against_grouped_folds(metrics: dict[str, Any]) -> str:
    """What :func:`decision_origin_text` adds where the cross-validation kept each comment's
    copies in one fold (``cross_validation.grouped_by_text``) and its accuracy is below the
    band's target: the band's folds did not (models.train.out_of_fold: a template new dates
    bring again is what the model scores), so its accuracy holds for comments the model has
    seen. Found by a French insurer's trial: a zero-width band right 94.4 % of the time on
    the training slice's folds beside a cross-validated accuracy of 0.733 (123 of 150 rows
    sharing their comment) read as a band that overstates the model."""
    cv = metrics.get("cross_validation") or {}
    reach = (metrics.get("decision") or {}).get("band_validation") or {}
    target = reach.get("target_accuracy", REVIEW_TARGET_ACCURACY)
    accuracy = cv.get("accuracy")
    if not cv.get("grouped_by_text") or accuracy is None or accuracy >= target:
        return ""
    return (
        f". Those folds score a comment whose copies the model trained on; the "
        f"cross-validation that keeps each comment's copies in one fold is right "
        f"{accuracy:.1%} of the time, below {target:.0%}: on comments it has not seen, "
        "decisions outside the band are that much less sure"
    )


def class_balance_text(metrics: dict[str, Any]) -> str | None:
    """The share of each root cause among the training slice's labels (``metrics.json``'s
    ``split.positive_share_train``), or None where it is not recorded."""
    split = metrics.get("split") or {}
    share = split.get("positive_share_train")
    if share is None:
        return None
    rows = split.get("train_rows")
    of = f" of the training slice's {rows:,} labels" if rows is not None else ""
    return f"class balance: {share:.1%} policy_failure, {1 - share:.1%} perceived{of}"


def per_class_error_lines(scores: dict[str, Any], where: str) -> list[str]:
    """Per-class errors of a ``classification_metrics`` result (its ``confusion``,
    ``[[tn, fp], [fn, tp]]``, policy_failure positive): the false positives and negatives,
    then each root cause's precision and recall. ``where``: the rows and threshold, in
    words. [] when no confusion matrix is recorded."""
    confusion = scores.get("confusion")
    if not confusion:
        return []
    (tn, fp), (fn, tp) = confusion

    def ratio(a: int, b: int) -> str:
        return f"{a / b:.3f}" if b else "n/a"

    return [
        f"errors {where}: {fp:,} false policy_failure (QA: perceived), {fn:,} missed "
        f"policy_failure (called perceived); right {tn:,} perceived, {tp:,} policy_failure",
        f"  policy_failure  precision {ratio(tp, tp + fp)}  recall {ratio(tp, tp + fn)}",
        f"  perceived       precision {ratio(tn, tn + fn)}  recall {ratio(tn, tn + fp)}",
    ]
