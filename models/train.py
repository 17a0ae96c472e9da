"""Train the root-cause model and measure it honestly: the design chosen on the training slice
only, a later time slice, stratified cross-validation, the same metrics for the model and its
baselines, a threshold and a review band chosen on validation data only.

Labelled rows without text (another export of the same source whose text was not published)
are trained on and never scored: they teach the facts, and every split cuts them at the same
date as the rows it scores."""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, cross_val_predict
from sklearn.pipeline import FeatureUnion, Pipeline

from models.drift import reference_profile
from models.evaluate import (
    BOOTSTRAP_SEED,
    INTERVAL_CONFIDENCE,
    INTERVAL_RESAMPLES,
    NO_RULE_TEXT,
    abstention_curve,
    band_check,
    best_single_rule,
    choose_review_band,
    choose_threshold,
    classification_metrics,
    groupings_with_values,
    metric_intervals,
    metrics_by_group,
    one_label,
    reliability_curve,
    review_band_reach,
)
from models.explain import predict_with_flat_reasons, shrink_probability
from models.features import TextVectors
from models.pipeline import (
    SURVEY_FEATURES,
    FeatureSpec,
    RootCauseModel,
    build_pipeline,
    design_settings,
    feature_frame,
    inputs_of,
    labels_to_target,
)
from models.select import SELECTION_FOLDS, Rows, choose_design
from models.stacked import TextFactsBlend, TextThenFacts, TooFewToFit, on_one_thread, one_thread
from transforms.formatting import formatted_text
from transforms.labelled import (
    RuleFirings,
    duplicate_text_groups,
    group_values,
    root_causes,
    rule_firings,
    survey_days,
    texts_seen_before,
    time_split,
)
from transforms.language import base_language, base_language_code, comment_languages
from transforms.marts import LABEL_AUDITED_AT, reasons_column
from transforms.schemas import POSITIVE_CLASS, ROOT_CAUSES

#: Columns whose per-value metrics are reported, when the data has values of them
#: (:func:`models.evaluate.groupings_with_values`).
GROUP_COLUMNS: tuple[str, ...] = ("queue", "policy_code", "language")


#: The audits of each root cause a first model needs in the earlier survey dates (the time
#: split's training slice), hence in all the labelled rows too: the design is compared in
#: :data:`models.select.SELECTION_FOLDS` folds of that slice (3), each holding out one of
#: each cause, and cross-validation needs two. The latest dates need some of each as well,
#: or the test slice judges nothing (it is flagged, not refused). The one number every
#: message and the README give (review-queue, train and the README gave five, two and three).
MIN_AUDITS_PER_ROOT_CAUSE = SELECTION_FOLDS


def audits_needed_text() -> str:
    """What a first model needs of the audits, in words, from
    :data:`MIN_AUDITS_PER_ROOT_CAUSE`: for every message that says how many to audit."""
    return (
        f"at least {MIN_AUDITS_PER_ROOT_CAUSE} audits of each root cause (perceived, "
        "policy_failure) in the earlier survey dates, which training learns from, and more of "
        "each in the latest dates, which it tests on"
    )


#: A language with fewer labelled training rows with text than this counts as unseen.
MIN_LANGUAGE_ROWS = 30
#: The share of its log-odds (away from the base rate) a response in an unseen language
#: keeps: the model cannot read it, so it must not look as sure as one it can.
UNSEEN_LANGUAGE_WEIGHT = 0.5


@dataclass
class Decision:
    """How probabilities become actions; chosen on validation data, stored with the model.

    ``languages`` counts the labelled training rows with text per comment language and
    ``base_rate`` is their policy_failure share: a scored response whose language was not
    seen (fewer than :data:`MIN_LANGUAGE_ROWS` rows) has its log-odds pulled halfway to the
    base rate's and is sent to review (:func:`score_negatives`). A model that reads no text
    (:attr:`FeatureSpec.reads_text`) has no languages: its facts read the same in any.
    """

    threshold: float = 0.5
    review_band: tuple[float, float] = (0.35, 0.65)
    languages: dict[str, int] = field(default_factory=dict)
    base_rate: float = 0.5

    def as_dict(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "review_band": list(self.review_band),
            "languages": self.languages,
            "base_rate": self.base_rate,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, fallback: tuple[float, float]) -> Decision:
        if not data:
            return cls(0.5, fallback)
        low, high = data["review_band"]
        return cls(
            float(data["threshold"]),
            (float(low), float(high)),
            folded_languages(data.get("languages") or {}),
            float(data.get("base_rate", 0.5)),
        )

    def unseen_language(self, languages: Sequence[str | None]) -> np.ndarray:
        """True where a row's language (one code or None per row) is known and had too few
        training rows, as a boolean array of ``len(languages)``. Models trained before
        languages were recorded know none, and flag nothing."""
        if not self.languages:
            return np.zeros(len(languages), dtype=bool)
        seen = {k for k, n in self.languages.items() if n >= MIN_LANGUAGE_ROWS}
        unseen = (language is not None and language not in seen for language in languages)
        return np.fromiter(unseen, dtype=bool, count=len(languages))


def folded_languages(counts: dict[str, Any]) -> dict[str, int]:
    """A model's ``decision.languages`` (code -> labelled training rows) with each code as its
    base language (:func:`transforms.language.base_language_code`) and the rows of codes that
    share one added up: a model trained before stated languages were reduced counted
    Qualtrics' ``es-es`` apart from a detected ``es`` (78 and 8 rows), and would send every
    Spanish comment now stated as ``es`` to review as a language seen 8 times."""
    folded: dict[str, int] = {}
    for code, rows in counts.items():
        base = base_language_code(str(code)) or str(code)
        folded[base] = folded.get(base, 0) + int(rows)
    return folded


@dataclass
class TrainingResult:
    """The fitted model (on all labelled rows) and what the evaluation said about it."""

    model: RootCauseModel
    metrics: dict[str, Any]
    parameters: dict[str, Any]
    #: The holdout rows (all columns) with the model's probabilities, for comparison with a
    #: challenger or champion and with any answer key.
    holdout: pl.DataFrame = field(repr=False)
    decision: Decision = field(default_factory=Decision)
    #: Out-of-fold P(policy_failure) of every labelled row: audits the model doubts.
    out_of_fold: pl.DataFrame = field(default_factory=pl.DataFrame, repr=False)
    #: What the training data looked like, for drift checks at scoring time.
    reference: dict[str, Any] = field(default_factory=dict, repr=False)
    #: The spec the model was built from: the source's, with the design training chose.
    spec: FeatureSpec = SURVEY_FEATURES
    #: The labelled rows trained on without text (``response_id``), which cross-validation
    #: never scores, so they have no out-of-fold probability (``facts_only`` of training).
    trained_facts_only: pl.DataFrame = field(default_factory=pl.DataFrame, repr=False)


def fold_count(y: np.ndarray, wanted: int) -> tuple[int, str | None]:
    """The stratified folds cross-validation of the labels ``y`` (0/1, 1 = policy_failure)
    runs, and why it is fewer than ``wanted`` (None when it is not).

    Each stratified fold holds out at least one row of each root cause, so a root cause with
    fewer labelled rows than ``wanted`` lowers the folds to its count (a data scientist's
    trial: 3 policy_failure rows ran 3 folds while every report said 5). Raises ValueError
    when a root cause has fewer than two rows (two folds are the fewest that cross-validate).
    """
    counts = np.bincount(y, minlength=2)
    smallest = int(counts.min())
    if smallest < 2:
        raise ValueError("cross-validation needs at least two labelled rows of each root cause")
    if smallest >= wanted:
        return wanted, None
    # Target 0 is perceived, 1 policy_failure (labels_to_target).
    cause = ("perceived", POSITIVE_CLASS)[int(np.argmin(counts))]
    return smallest, (
        f"lowered from the {wanted} asked for: {cause} has only {smallest} labelled rows, and "
        "each stratified fold holds out at least one of each root cause"
    )


def shared_text_rows(groups: np.ndarray | None) -> int:
    """How many rows share their group (:func:`duplicate_text_groups`) with another."""
    return 0 if groups is None else int((np.bincount(groups)[groups] > 1).sum())


def shared_texts(groups: np.ndarray | None) -> int:
    """How many distinct texts the rows that share one (:func:`shared_text_rows`) carry
    between them: 12 when 552 audits repeat 12 comments."""
    return 0 if groups is None else int((np.bincount(groups) > 1).sum())


def grouped_by_text(y: np.ndarray, folds: int, groups: np.ndarray | None) -> bool:
    """Whether :func:`_folds` keeps each group of ``groups`` (:func:`duplicate_text_groups`)
    in one of ``folds`` folds of the labels ``y``: it does when each root cause spans at
    least ``folds`` groups (else every training fold could lack one, and the folds are
    plain stratified)."""
    return groups is not None and all(
        np.unique(groups[y == label]).size >= folds for label in (0, 1)
    )


def _folds(
    y: np.ndarray, wanted: int, seed: int, groups: np.ndarray | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """:func:`fold_count`'s stratified folds, shuffled with ``seed``, as (train, held-out)
    row positions. With ``groups`` (:func:`duplicate_text_groups`), rows of one group fall
    in one fold (scikit-learn's ``StratifiedGroupKFold``), provided each root cause spans
    at least as many groups as there are folds; else every training fold could lack one."""
    folds = fold_count(y, wanted)[0]
    at = np.zeros(len(y))
    if groups is not None and grouped_by_text(y, folds, groups):
        grouped = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
        return list(grouped.split(at, y, groups))
    return list(StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(at, y))


def _rows(frame: pl.DataFrame, spec: FeatureSpec) -> Rows:
    return Rows(
        feature_frame(frame, spec), labels_to_target(root_causes(frame)), survey_days(frame)
    )


def _joined(x: pd.DataFrame, y: np.ndarray, extra: Rows | None) -> tuple[pd.DataFrame, np.ndarray]:
    """Model inputs and targets with the ``extra`` labelled rows appended."""
    if extra is None or len(extra.y) == 0:
        return x, y
    return pd.concat([x, extra.x], ignore_index=True), np.concatenate([y, extra.y])


def out_of_fold(
    x: pd.DataFrame,
    y: np.ndarray,
    spec: FeatureSpec,
    seed: int,
    folds: int,
    extra: Rows | None = None,
    groups: np.ndarray | None = None,
) -> np.ndarray:
    """P(policy_failure) of each row of ``x`` (model inputs as
    :func:`models.pipeline.feature_frame` makes them, ``y`` their 0/1 targets) from a model
    that never saw that row (stratified folds, :func:`_folds`), nor, given ``groups``
    (:func:`duplicate_text_groups` of the same rows), a copy of its comment; every fold also
    trains on all of ``extra`` (labelled rows that are never scored, e.g. rows without text).
    One probability per row of ``x``, as a float array.

    Grouped for the numbers reported as cross-validated, not for the probabilities the
    threshold and review band are chosen on: grouping the generator's templates moved the
    threshold until the early-warning test's real rise went unflagged, and a template new
    dates bring again is what the model will score."""
    splits = _folds(y, folds, seed, groups)
    if extra is None or len(extra.y) == 0:
        return np.asarray(
            cross_val_predict(
                build_pipeline(seed=seed, spec=spec),
                x,
                y,
                cv=splits,
                method="predict_proba",
            )[:, 1]
        )
    p = np.zeros(len(y))
    for train_at, held_at in splits:
        x_train, y_train = _joined(x.iloc[train_at], y[train_at], extra)
        model = build_pipeline(seed=seed, spec=spec).fit(x_train, y_train)
        p[held_at] = model.predict_proba(x.iloc[held_at])[:, 1]
    return p


def _fit_predict(
    spec: FeatureSpec,
    seed: int,
    x_train: pd.DataFrame,
    y: np.ndarray,
    x_test: pd.DataFrame,
    extra: Rows | None = None,
) -> np.ndarray:
    model = build_pipeline(seed=seed, spec=spec).fit(*_joined(x_train, y, extra))
    return np.asarray(model.predict_proba(x_test)[:, 1])


def _baselines(
    train: Rows,
    test: Rows,
    rules: RuleFirings,
    spec: FeatureSpec,
    seed: int,
    folds: int = 5,
) -> dict[str, Any]:
    """Majority class, best single rule, text only and operational facts only, each fitted
    on the ``train`` rows and scored on the ``test`` rows with
    :func:`classification_metrics`. ``rules``: the candidate rules' firings on both slices
    (:func:`transforms.labelled.rule_firings`).

    The learned baselines (text only, facts only) are read at a threshold of their own,
    chosen as the model's is: :func:`choose_threshold` on their out-of-fold probabilities
    of the training slice (``folds`` stratified folds, :func:`fold_count`), never on the
    test slice; each records it as ``threshold``. At 0.5 against the model's tuned one
    (0.35 on CFPB) their macro-F1 and accuracy looked worse than they are.

    The majority baseline's P(policy_failure) is the training slice's policy_failure rate
    (its class the majority's), the rule's the training rate of the rows it fires on or of
    the rows it does not (its classes whether it fires; no scores, only why, when every
    candidate rule is constant on the training rows): probabilities a baseline would
    give, so their Brier and ECE compare with the model's. With 0/1 probabilities both only
    restated the error rate.
    """
    y_train, y_test = train.y, test.y
    prior = float(y_train.mean())
    baselines: dict[str, Any] = {
        "majority_baseline": classification_metrics(y_test, np.full(len(y_test), prior)),
        "best_rule_baseline": _rule_baseline(rules, y_train, y_test, prior),
    }
    if spec.text and spec.facts:
        # The chosen design's own text representation and C, alone, and the facts alone.
        c, chars = design_settings(spec.chosen(), spec)
        text_spec = replace(spec.text_only(), c=c, char_ngrams=chars)
        facts_spec = replace(spec.without_text(), c=c)
        for key, learned in (
            ("text_only_baseline", text_spec),
            ("facts_only_baseline", facts_spec),
        ):
            x_train, x_test = inputs_of(train.x, learned), inputs_of(test.x, learned)
            p_val = out_of_fold(x_train, y_train, learned, seed, folds)
            threshold = choose_threshold(y_train, p_val)
            baselines[key] = {
                "threshold": threshold,
                **classification_metrics(
                    y_test, _fit_predict(learned, seed, x_train, y_train, x_test), threshold
                ),
            }
    return baselines


def _rule_baseline(
    rules: RuleFirings, y_train: np.ndarray, y_test: np.ndarray, prior: float
) -> dict[str, Any]:
    """The best single rule of the training slice (:func:`best_single_rule` of ``rules``'
    training firings) scored on the test slice; without one (every candidate rule constant
    on the training rows), only ``no_rule``, why (:data:`NO_RULE_TEXT`), and no scores."""
    found = best_single_rule(rules.train, y_train)
    if found is None:
        return {"no_rule": NO_RULE_TEXT.format(rows=len(y_train))}
    at, negated = found
    fired_train, fired = rules.train[at], rules.test[at]
    if negated:
        fired_train, fired = 1 - fired_train, 1 - fired
    # Each group's training rate; a group with no training row (the rule never or always
    # fired there) gets the prior.
    rates = [
        float(y_train[fired_train == group].mean()) if (fired_train == group).any() else prior
        for group in (0, 1)
    ]
    return {
        "rule": ("not " if negated else "") + rules.names[at],
        **classification_metrics(y_test, np.where(fired == 1, rates[1], rates[0]), decisions=fired),
    }


def word_vocabulary(model: RootCauseModel) -> set[str]:
    """Single words the fitted model's word vectoriser knows (for the unseen-words check)."""
    if isinstance(model, TextThenFacts | TextFactsBlend):
        model = model.text_model_
    columns = model.named_steps["features"]
    if "text" not in columns.named_transformers_:
        return set()
    text = columns.named_transformers_["text"]
    if isinstance(text, Pipeline):
        text = text.steps[0][1]
    if isinstance(text, TextVectors):
        words = text.words
    else:  # models saved before TextVectors: a FeatureUnion of vectorisers
        union: FeatureUnion = text
        words = dict(union.transformer_list)["words"]
    assert isinstance(words, TfidfVectorizer)
    return {term for term in words.vocabulary_ if " " not in term}


def _usable(labels: np.ndarray, what: str) -> None:
    """Raise ValueError naming the labels of ``labels`` (one root cause or None per row)
    that are not one of :data:`ROOT_CAUSES`; a missing label (None) is not named."""
    unknown = list(dict.fromkeys(v for v in labels if v is not None and v not in ROOT_CAUSES))
    if unknown:
        raise ValueError(f"{what} labels must be one of {ROOT_CAUSES}; found {unknown}")


def _counts_of(labels: np.ndarray) -> dict[str, int]:
    return {cause: int((labels == cause).sum()) for cause in ROOT_CAUSES}


def _enough_of_each(labels: np.ndarray, holding: str, whole: np.ndarray | None = None) -> None:
    """Raise :class:`~models.stacked.TooFewToFit` (a ValueError: a refusal of the data, said
    in one line by the command line, not as a bug; its ``counts`` are (perceived,
    policy_failure)) unless ``labels`` (one root cause per labelled row) hold at least
    :data:`MIN_AUDITS_PER_ROOT_CAUSE` of each root cause. ``holding`` names the rows with the
    verb that agrees with it ("all the labelled rows hold", "the training slice ... holds"),
    before the counts. ``whole`` (the labels of all the labelled rows
    ``labels`` is a slice of) has its counts named too, so a slice's few are not read as all
    there are."""
    counts = _counts_of(labels)
    if min(counts.values()) >= MIN_AUDITS_PER_ROOT_CAUSE:
        return
    held = " and ".join(f"{n:,} {cause}" for cause, n in counts.items())
    missing = [cause for cause, n in counts.items() if n == 0]
    none = f" (no audit says {missing[0]})" if len(missing) == 1 else ""
    if whole is not None:
        every = " and ".join(f"{n:,} {cause}" for cause, n in _counts_of(whole).items())
        none += f"; the labelled rows in all hold {every}"
    raise TooFewToFit(
        f"training needs {audits_needed_text()}; {holding} {held}{none}. Audit more "
        "negative responses, of both kinds",
        (counts["perceived"], counts["policy_failure"]),
    )


@on_one_thread
def train_root_cause_model(
    labelled: pl.DataFrame,
    seed: int = 7,
    spec: FeatureSpec = SURVEY_FEATURES,
    cv_folds: int = 5,
    facts_only: pl.DataFrame | None = None,
) -> TrainingResult:
    """Choose the design, evaluate it on a time split and by stratified cross-validation,
    then refit it on every labelled row.

    ``labelled`` holds responses with a ``root_cause`` label and a ``survey_date``: the rows
    every metric is measured on. ``facts_only`` (optional, same columns) holds labelled rows
    without text: every model is trained on them too (those dated before the time split's
    cut-off for the split's model), none is scored. The design is chosen on the training slice
    (:func:`models.select.choose_design`, time-ordered folds); the threshold and the review
    band on out-of-fold probabilities of that slice; never on the later test slice.
    Baselines (majority class, best single rule, text only, facts only) are fitted on the
    training slice and scored on the same test slice. ``metrics["selection"]`` holds every
    candidate's validation scores; ``metrics["timing"]`` CPU seconds per step.
    ``metrics["cross_validation"]["folds"]`` is the folds that ran: fewer than ``cv_folds``
    when a root cause has fewer rows (:func:`fold_count`; ``folds_lowered`` says why).
    Native code runs on one thread (:func:`models.stacked.one_thread`): training fits hundreds
    of small logistic regressions, and BLAS threads made each 10-100x slower beside other work.
    """
    if "language" in labelled.columns:  # marts written before languages were reduced
        labelled = labelled.with_columns(base_language(pl.col("language")))
    labels = root_causes(labelled)
    _usable(labels, "labelled")
    _enough_of_each(labels, "all the labelled rows hold")
    extra = facts_only if facts_only is not None and facts_only.height else None
    if extra is not None:
        _usable(root_causes(extra), "facts-only")
    clock = _Clock()
    dated = labelled
    train, test = time_split(dated)
    cutoff = test.get_column("survey_date").min()
    _enough_of_each(
        root_causes(train), f"the training slice (survey dates before {cutoff!s}) holds", labels
    )
    extra_train = None if extra is None else extra.filter(pl.col("survey_date") < cutoff)
    # The model's inputs, targets and dates of each slice: what follows is numpy and pandas.
    train_rows, test_rows = _rows(train, spec), _rows(test, spec)
    extra_train_rows = None if extra_train is None else _rows(extra_train, spec)
    y_train, y_test = train_rows.y, test_rows.y

    selection = choose_design(train_rows, spec, seed, extra_train_rows)
    spec = replace(spec, design=selection.chosen)
    clock.lap("selection")
    parameters: dict[str, Any] = {
        "seed": seed,
        "design": selection.chosen,
        "c": spec.c,
        "cv_folds": cv_folds,
    }

    # Validation: out-of-fold probabilities of the training slice choose how to act.
    p_val = out_of_fold(train_rows.x, y_train, spec, seed, cv_folds, extra_train_rows)
    threshold = choose_threshold(y_train, p_val)
    if spec.reads_text:
        written = labelled.filter(pl.col(spec.text).fill_null("").str.len_chars() > 0)
        counted = comment_languages(written, spec.text).drop_nulls().value_counts(sort=True)
        languages = dict(zip(*counted.to_dict(as_series=False).values(), strict=True))
    else:  # a model of facts alone (no comment, or the facts design) reads no language
        written, languages = labelled, {}
    decision = Decision(
        threshold,
        choose_review_band(y_train, p_val, threshold),
        languages,
        float(labels_to_target(root_causes(written)).mean()),
    )
    clock.lap("threshold_and_band")

    p_test = _fit_predict(spec, seed, train_rows.x, y_train, test_rows.x, extra_train_rows)
    clock.lap("time_split")
    x_all, y_all = feature_frame(dated, spec), labels_to_target(labels)
    extra_rows = None if extra is None else _rows(extra, spec)
    cv_folds_used, cv_folds_lowered = fold_count(y_all, cv_folds)
    shared = duplicate_text_groups(dated, spec.text)
    p_oof = out_of_fold(x_all, y_all, spec, seed, cv_folds, extra_rows, groups=shared)
    clock.lap("cross_validation")

    model_metrics = classification_metrics(y_test, p_test, threshold)
    band = decision.review_band
    decided = (p_test <= band[0]) | (p_test >= band[1])
    metrics: dict[str, Any] = {
        "split": {
            "train_rows": train.height,
            "test_rows": test.height,
            "test_from": str(test.get_column("survey_date").min()),
            "test_to": str(test.get_column("survey_date").max()),
            "positive_share_train": float(y_train.mean()),
            "facts_only_train_rows": 0 if extra_train is None else extra_train.height,
            # The root cause every test row has, when they hold one: the holdout then has
            # no ROC-AUC, PR-AUC or macro-F1, and judges nothing (None: both are there).
            "test_one_class": one_label(y_test),
            # Test rows whose comment a training row repeats (labelled.DUPLICATE_TEXT_MIN_CHARS).
            "test_rows_with_training_text": texts_seen_before(train, test, spec.text),
        },
        "facts_only_rows": 0 if extra is None else extra.height,
        "selection": selection.as_dict(),
        "decision": {
            **decision.as_dict(),
            # The folds of the training slice whose out-of-fold probabilities chose both.
            "validation_folds": fold_count(y_train, cv_folds)[0],
            # What the band reaches on the rows that chose it (the cap may bind it).
            "band_validation": review_band_reach(y_train, p_val, threshold, band),
            "holdout_review_share": float(1 - decided.mean()),
            "holdout_accuracy_when_decided": float(
                ((p_test[decided] >= threshold) == y_test[decided]).mean()
            )
            if decided.any()
            else float("nan"),
            "holdout_accuracy_all": float(((p_test >= threshold) == y_test).mean()),
            "abstention": abstention_curve(y_test, p_test, threshold),
            # Whether the holdout's decided rows are enough to check the band's promise.
            "band_check": band_check(
                int(((p_test[decided] >= threshold) == y_test[decided]).sum()),
                int(decided.sum()),
            ),
        },
        "model": model_metrics,
        # Each headline score's 95% bootstrap interval over the rows it was measured on.
        "intervals": {
            "confidence": INTERVAL_CONFIDENCE,
            "resamples": INTERVAL_RESAMPLES,
            "seed": BOOTSTRAP_SEED,
            "model": metric_intervals(y_test, p_test, threshold),
            "cross_validation": metric_intervals(y_all, p_oof, threshold),
        },
        "reliability": reliability_curve(y_test, p_test),
        "cross_validation": {
            # The folds that ran, which a root cause with few rows lowers (fold_count).
            "folds": cv_folds_used,
            "folds_requested": cv_folds,
            "folds_lowered": cv_folds_lowered,
            # Rows sharing their comment with another, the distinct comments they carry,
            # and whether the folds kept each comment's copies in one fold (out_of_fold):
            # when most rows share one, the grouped folds score every row with a model that
            # never saw its comment (models.evaluate.no_skill_reason says so).
            "shared_text_rows": shared_text_rows(shared),
            "shared_texts": shared_texts(shared),
            "grouped_by_text": grouped_by_text(y_all, cv_folds_used, shared),
            **classification_metrics(y_all, p_oof, threshold),
            "reliability": reliability_curve(y_all, p_oof),
        },
        **_baselines(
            train_rows,
            test_rows,
            rule_firings(train, test, spec.text, spec.categorical, spec.numeric, spec.flags),
            spec,
            seed,
            cv_folds,
        ),
        "by_group": groupings_with_values(
            {
                column: metrics_by_group(group_values(test, column), y_test, p_test, threshold)
                for column in GROUP_COLUMNS
                if column in test.columns
            }
        ),
    }
    clock.lap("baselines")
    final = build_pipeline(seed=seed, spec=spec)
    final.fit(*_joined(x_all, y_all, extra_rows))
    clock.lap("final_fit")
    metrics["timing"] = clock.laps
    reference = reference_profile(
        x_all, spec, word_vocabulary(final), final.predict_proba(x_all)[:, 1], threshold
    )
    holdout = test.with_columns(pl.Series("p_policy_failure", p_test))
    # With the time of each label's audit, where the labels carry it (the review queue tells
    # a re-audit from the audit a doubt was raised on by it).
    label_time = [c for c in (LABEL_AUDITED_AT,) if c in dated.columns]
    oof = dated.select("response_id", "survey_date", "root_cause", *label_time).with_columns(
        pl.Series("p_out_of_fold", p_oof)
    )
    facts_only_ids = (
        pl.DataFrame(schema={"response_id": pl.String})
        if extra is None
        else extra.select(pl.col("response_id").cast(pl.String))
    )
    return TrainingResult(
        final,
        metrics,
        parameters,
        holdout,
        decision,
        oof,
        reference,
        spec,
        trained_facts_only=facts_only_ids,
    )


class _Clock:
    """CPU seconds of each step of training (all threads of this process)."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.process_time()

    def lap(self, name: str) -> None:
        now = time.process_time()
        self.laps[f"{name}_cpu_seconds"] = round(now - self._last, 1)
        self._last = now


#: Negatives scored per predict_proba call; bounds scoring memory whatever the date's size.
SCORING_CHUNK_ROWS = 50_000
#: Chunks scored at once: the machines this runs on have two cores.
SCORING_THREADS = 2


def score_negatives(
    model: RootCauseModel,
    responses: pl.DataFrame,
    review_band: tuple[float, float] = (0.35, 0.65),
    threshold: float = 0.5,
    spec: FeatureSpec = SURVEY_FEATURES,
    reasons: int = 3,
    decision: Decision | None = None,
) -> pl.DataFrame:
    """Add ``p_policy_failure``, ``root_cause``, ``needs_review`` and ``top_reasons`` for
    negative responses (rows without an ``is_negative`` column are all scored).

    Non-negative responses get nulls. A probability inside ``review_band`` means the model is
    unsure, so the response is marked for review instead of being acted on. With the model's
    ``decision``, a response in a language the model was not trained on (see
    :class:`Decision`) has its log-odds pulled halfway to the base rate's (its reasons scaled
    alike), is marked for review, and its first reason says why.
    """
    if "is_negative" in responses.columns:
        negatives = responses.get_column("is_negative").fill_null(False).to_numpy()
    else:
        negatives = np.ones(responses.height, dtype=bool)
    p = np.full(responses.height, np.nan)
    # The reasons become a polars column chunk by chunk: one conversion of a million Python
    # lists at the end held about 2 GB at once (1M surveys), more than the rest of scoring.
    explained: list[pl.Series] = []
    rows = np.flatnonzero(negatives)
    unseen = np.zeros(responses.height, dtype=bool)
    language = pl.Series("language", [None] * responses.height, dtype=pl.String)
    if decision is not None and decision.languages and rows.size:
        language = language.scatter(rows, comment_languages(responses[rows], spec.text))
        unseen = decision.unseen_language(language.to_list()) & negatives
    base = float(np.log(decision.base_rate / (1 - decision.base_rate))) if decision else 0.0
    weight = np.where(unseen, UNSEEN_LANGUAGE_WEIGHT, 1.0)

    # In chunks: the text features of a few hundred thousand negatives at once would hold a
    # large sparse matrix and its pandas copy in memory for no gain in speed.
    def score(chunk: np.ndarray) -> tuple[np.ndarray, pl.Series | None]:
        frame = feature_frame(responses[chunk], spec)
        shrink = (weight[chunk], base) if unseen[chunk].any() else None
        if reasons:
            found = predict_with_flat_reasons(model, frame, reasons, threshold, shrink)
            return found.p, reasons_column(found.texts, found.offsets)
        scored = model.predict_proba(frame)[:, 1]
        return (scored if shrink is None else shrink_probability(scored, *shrink)), None

    # Chunks are scored on SCORING_THREADS threads (numpy, scikit-learn's tree code and
    # polars release the GIL for most of the work): 4.4 s to 3.3-3.7 s for the 372,000
    # negatives of the bench's 1M date (980,000 kept rows), the same numbers bit for bit.
    # OpenMP is held to one thread for the whole pool, not per chunk: threadpoolctl's limit
    # is process-wide, and one chunk restoring it while the other still ran would
    # oversubscribe the cores.
    # A date with fewer negatives than the threads' chunks would fill is split evenly, so
    # both cores score it (a 100k date's 37,000 negatives were one chunk on one thread).
    size = min(SCORING_CHUNK_ROWS, max(1, -(-rows.size // SCORING_THREADS)))
    chunks = [rows[s : s + size] for s in range(0, rows.size, size)]
    with one_thread(), ThreadPoolExecutor(max_workers=SCORING_THREADS) as pool:
        for chunk, (scored, listed) in zip(chunks, pool.map(score, chunks), strict=True):
            p[chunk] = scored
            if listed is not None:
                explained.append(listed)
    probability = pl.Series("p_policy_failure", p).fill_nan(None)
    # Row i of the responses takes reasons[position[i]]; rows not scored get null.
    position = np.full(responses.height, -1, dtype=np.int64)
    if explained:
        position[rows] = np.arange(rows.size)
    reasons_scored = pl.concat(explained) if explained else pl.Series([], dtype=pl.List(pl.String))
    top_reasons = reasons_scored.gather(pl.Series(position).replace(-1, None))
    flagged = pl.Series("_unseen", unseen)
    if unseen.any():
        # A language seen a few times is said so, not "not seen" (a QA lead's trial read
        # "language 'en' not seen in training" of a model trained on 2 English rows).
        assert decision is not None
        seen = pl.Series(
            "seen", [decision.languages.get(code, 0) if code else 0 for code in language]
        )
        note = (
            pl.when(seen > 0)
            .then(
                formatted_text(
                    f"language '{{}}' in only {{}} labelled training row(s), fewer than "
                    f"{MIN_LANGUAGE_ROWS}: pulled toward the base rate",
                    language,
                    seen,
                )
            )
            .otherwise(
                formatted_text(
                    "language '{}' not seen in training: pulled toward the base rate", language
                )
            )
        )
        top_reasons = pl.select(
            pl.when(flagged)
            .then(pl.concat_list(note, top_reasons))
            .otherwise(top_reasons)
            .alias("top_reasons")
        ).to_series()
    return responses.with_columns(probability, top_reasons.alias("top_reasons")).with_columns(
        pl.when(pl.col("p_policy_failure").is_null())
        .then(None)
        .when(pl.col("p_policy_failure") >= threshold)
        .then(pl.lit(POSITIVE_CLASS))
        .otherwise(pl.lit("perceived"))
        .alias("root_cause"),
        (pl.col("p_policy_failure").is_between(*review_band, closed="none") | flagged).alias(
            "needs_review"
        ),
    )


def plain_tfidf_pipeline(seed: int = 7, text: str = "comment") -> Pipeline:
    """The reference point for text classification: default TF-IDF into a default logistic
    regression, nothing tuned."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression

    return Pipeline(
        [
            ("features", ColumnTransformer([("text", TfidfVectorizer(), text)])),
            ("classifier", LogisticRegression(max_iter=5000, random_state=seed)),
        ]
    )


@on_one_thread
def tfidf_baseline_report(
    labelled: pl.DataFrame, seed: int = 7, cv_folds: int = 5, text: str = "comment"
) -> dict[str, Any]:
    """ROC-AUC and PR-AUC of :func:`plain_tfidf_pipeline` with the same folds and the same
    time split that :func:`train_root_cause_model` uses, so the numbers sit side by side;
    ``folds`` is the count that ran (:func:`fold_count`), ``folds_lowered`` why it is not
    ``cv_folds`` (None when it is)."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    x = labelled.select(pl.col(text).fill_null("")).to_pandas()
    y = labels_to_target(labelled.get_column("root_cause"))
    splits = _folds(y, cv_folds, seed, duplicate_text_groups(labelled, text))
    p = cross_val_predict(
        plain_tfidf_pipeline(seed, text), x, y, cv=splits, method="predict_proba"
    )[:, 1]
    train, test = time_split(labelled)
    y_train = labels_to_target(train.get_column("root_cause"))
    y_test = labels_to_target(test.get_column("root_cause"))
    model = plain_tfidf_pipeline(seed, text).fit(
        train.select(pl.col(text).fill_null("")).to_pandas(), y_train
    )
    p_test = model.predict_proba(test.select(pl.col(text).fill_null("")).to_pandas())[:, 1]
    used, lowered = fold_count(y, cv_folds)
    # A test slice of one root cause ranks nothing (it read "pr_auc 0.000" beside the
    # model's nan): both undefined, as classification_metrics has them.
    judged = one_label(y_test) is None
    return {
        "cross_validation": {
            "folds": used,
            "folds_requested": cv_folds,
            "folds_lowered": lowered,
            "roc_auc": float(roc_auc_score(y, p)),
            "pr_auc": float(average_precision_score(y, p)),
        },
        "time_split": {
            "roc_auc": float(roc_auc_score(y_test, p_test)) if judged else float("nan"),
            "pr_auc": float(average_precision_score(y_test, p_test)) if judged else float("nan"),
        },
    }
