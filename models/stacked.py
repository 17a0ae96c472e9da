"""The survey model: a linear text model whose out-of-fold log-odds join the operational facts
in a small gradient-boosted model.

Why not one logistic regression: the generator's truth is close to an OR of hidden facts (one
fact makes a failure likely, a second adds little), and the data shows each fact through
several noisy views (a sentence in the comment, a flag, a fee). A linear model adds those
views up and double counts; boosting on the facts with the text's log-odds as one input
saturates instead. Measured on generated data in the README ("## The model").

The text model is fitted out-of-fold for the booster's input, so the booster learns how much
to trust text log-odds the text model has not memorised; it is then refitted on every row with
text for scoring. Rows without text (an empty comment, or a facts-only export) have no text
log-odds (missing), and the booster learns from their facts all the same. The booster is
constrained to be non-decreasing in the text log-odds: a comment that reads more like a
failure never lowers P(policy_failure).

:class:`TextFactsBlend` is the other stacked design: a text model and a facts model, blended
by a logistic regression with non-negative weights on their out-of-fold log-odds.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder
from threadpoolctl import ThreadpoolController, threadpool_limits

P = ParamSpec("P")
R = TypeVar("R")

#: A text log-odds input is clipped to this magnitude: beyond it nothing changes a decision.
_LOGIT_CLIP = 12.0


@functools.cache
def _threadpools() -> ThreadpoolController:
    """The process's native thread pools, found once: threadpoolctl lists the loaded
    libraries each time it is asked without a controller (3-12 ms a call, and scoring asks
    per chunk). scikit-learn's OpenMP library is loaded by this module's imports."""
    return ThreadpoolController()


def one_thread() -> threadpool_limits:
    """Run native numeric code on one thread: OpenMP (scikit-learn's booster and its
    logistic loss) and BLAS (the OpenBLAS of numpy and of scipy, which L-BFGS calls on every
    step). The pipeline runs its own threads over both cores; native threads beside them wait
    on each other. On a shared machine (2 cores, other jobs running) that made the booster's
    fitting and prediction 10-15x slower (13.5 s against 0.8 s for one fit), and a logistic
    regression on a 3,000 x 20,000 TF-IDF matrix 2.3 s against 0.026 s (OpenMP alone held to
    one: 2.6 s; BLAS alone: 0.097 s); training fits hundreds of them."""
    return _threadpools().limit(limits=1)


def on_one_thread(function: Callable[P, R]) -> Callable[P, R]:
    """Run ``function`` under :func:`one_thread` (the limit is process-wide; nested limits
    restore what they found)."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with one_thread():
            return function(*args, **kwargs)

    return wrapper


def has_text(x: pd.DataFrame, column: str) -> np.ndarray:
    """True for each row whose ``column`` holds text (not null, not empty)."""
    return np.asarray(x[column].fillna("").astype(str).str.len().to_numpy() > 0)


#: Labelled rows with a comment of each root cause a design with an inner text model
#: (``boosted``, ``blend``) needs wherever it is fitted: its text model is validated within
#: them in stratified folds, each holding out at least one of each.
MIN_TEXT_ROWS_PER_CAUSE = 2


class TooFewToFit(ValueError):
    """Too few labelled rows of a root cause to fit: a design with an inner text model fitted
    on rows holding fewer than :data:`MIN_TEXT_ROWS_PER_CAUSE` labelled rows with a comment
    of one (training says where the rows were cut and what to do: ``models/select.py``), or
    labelled rows holding fewer than ``models.train.MIN_AUDITS_PER_ROOT_CAUSE`` audits of one
    (``models.train._enough_of_each``). ``counts`` is (perceived, policy_failure) of those
    rows. A refusal of the data, not a bug: the command line says it in one line, pointing
    at no traceback (a QA lead's trial read "training needs at least 3 audits ..." followed
    by "Prefect's log and the traceback")."""

    def __init__(self, message: str, counts: tuple[int, int] = (0, 0)) -> None:
        super().__init__(message)
        self.counts = counts


def _text_folds(y: np.ndarray, cv: int, seed: int) -> StratifiedKFold:
    counts = np.bincount(y, minlength=2)
    smallest = int(min(counts))
    if smallest < MIN_TEXT_ROWS_PER_CAUSE:
        # Raised in one of the folds a design is compared in, which holds fewer rows than
        # training's tally counts: say so, with the counts (a QA lead's trial read "at least
        # two" under a tally of 16 audits and had nothing left to audit).
        raise TooFewToFit(
            "the model needs at least two labelled rows with a comment of each root cause in "
            f"every fold it is fitted on; one holds {counts[0]} perceived and {counts[1]} "
            "policy_failure with a comment. Audit more negative responses that have comments, "
            "of both kinds",
            (int(counts[0]), int(counts[1])),
        )
    return StratifiedKFold(min(cv, smallest), shuffle=True, random_state=seed)


def encoded_by_distinct_values(encoder: OrdinalEncoder, frame: pd.DataFrame) -> np.ndarray:
    """``encoder.transform(frame)`` as a float array of ``frame``'s shape, each column's
    distinct values transformed once: a fitted ``OrdinalEncoder`` encodes every value on its
    own, column by column, and looks each one up in a Python dict (7 % of scoring a date's
    negatives, for columns of a few dozen distinct values). A frame with a missing value
    goes through ``transform`` whole, as it is.
    """
    if frame.empty or frame.isna().to_numpy().any():
        return np.asarray(encoder.transform(frame), float)
    codes: list[np.ndarray] = []
    firsts: list[np.ndarray] = []
    for name in frame.columns:
        found, distinct = pd.factorize(frame[name])
        first = np.empty(len(distinct), dtype=np.intp)
        # Written from the last row back, so each value keeps the row it first appears on.
        first[found[::-1]] = np.arange(found.size - 1, -1, -1)
        codes.append(found)
        firsts.append(first)
    longest = max(first.size for first in firsts)
    # One row per distinct value of each column (shorter columns repeat their first value):
    # rows of the frame itself, so the encoder reads the same values in the same types.
    sample = pd.DataFrame(
        {
            name: frame[name].iloc[np.resize(first, longest)].to_numpy()
            for name, first in zip(frame.columns, firsts, strict=True)
        },
        columns=frame.columns,
    ).astype(frame.dtypes.to_dict())
    table = np.asarray(encoder.transform(sample), float)
    return np.column_stack([table[found, i] for i, found in enumerate(codes)])


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.clip(np.log(p / (1 - p)), -_LOGIT_CLIP, _LOGIT_CLIP)


class TextThenFacts(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """P(policy_failure) from ``text_model``'s log-odds plus the structured facts, boosted.

    ``text_model`` is a fitted-on-demand scikit-learn Pipeline that reads the text column
    (``features`` then a linear ``classifier``); ``categorical`` and ``numeric`` name the
    fact columns of the input frame (flags count as numeric, missing values stay missing:
    the booster learns what "not recorded" means). ``text`` names the text column: rows
    without text get missing text log-odds.
    """

    def __init__(
        self,
        text_model: Pipeline,
        categorical: tuple[str, ...] = (),
        numeric: tuple[str, ...] = (),
        cv: int = 5,
        seed: int = 7,
        max_iter: int = 200,
        learning_rate: float = 0.05,
        max_leaf_nodes: int = 15,
        min_samples_leaf: int = 40,
        l2_regularization: float = 1.0,
        text: str = "comment",
    ) -> None:
        self.text_model = text_model
        self.text = text
        self.categorical = categorical
        self.numeric = numeric
        self.cv = cv
        self.seed = seed
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization

    # -- fitting -------------------------------------------------------------------------------
    def fit(self, x: pd.DataFrame, y: np.ndarray) -> TextThenFacts:
        """Fit the text model out-of-fold, the booster on facts + those log-odds, then refit
        the text model on every row."""
        y = np.asarray(y)
        written = has_text(x, self.text)
        folds = _text_folds(y[written], self.cv, self.seed)
        p_text = np.full(len(x), np.nan)
        p_text[written] = cross_val_predict(
            clone(self.text_model), x[written], y[written], cv=folds, method="predict_proba"
        )[:, 1]
        self.text_model_: Pipeline = clone(self.text_model).fit(x[written], y[written])
        #: Rows without text get missing text log-odds (models saved before this flag gave
        #: them the text model's log-odds of an empty comment).
        self.missing_without_text_ = True
        self.encoder_ = OrdinalEncoder(
            handle_unknown="use_encoded_value",
            unknown_value=-1,
            encoded_missing_value=-1,
            min_frequency=3,
            max_categories=250,
        )
        if self.categorical:
            self.encoder_.fit(x[list(self.categorical)])
        facts = self._facts(x)
        n_categorical = len(self.categorical)
        booster = HistGradientBoostingClassifier(
            learning_rate=self.learning_rate,
            max_iter=self.max_iter,
            max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=self.min_samples_leaf,
            l2_regularization=self.l2_regularization,
            categorical_features=list(range(n_categorical)) or None,
            # facts: free; the text log-odds (last column): non-decreasing
            monotonic_cst=[0] * facts.shape[1] + [1],
            early_stopping=False,
            random_state=self.seed,
        )
        with one_thread():
            self.booster_ = booster.fit(np.column_stack([facts, _logit(p_text)]), y)
        # A typical value of each fact (most common category, median number): the reasons
        # measure how far a row's own value moved the log-odds from it (see explain.py).
        reference = [
            float(pd.Series(column).mode(dropna=True).iloc[0])
            if i < n_categorical
            else float(np.nanmedian(column))
            for i, column in enumerate(facts.T)
        ]
        self.reference_ = np.asarray(reference, dtype=float)
        self.classes_ = np.array([0, 1])
        return self

    # -- prediction ----------------------------------------------------------------------------
    def _facts(self, x: pd.DataFrame) -> np.ndarray:
        parts: list[np.ndarray] = []
        if self.categorical:
            parts.append(encoded_by_distinct_values(self.encoder_, x[list(self.categorical)]))
        if self.numeric:
            parts.append(x[list(self.numeric)].to_numpy(dtype=float))
        if not parts:
            return np.empty((len(x), 0))
        return np.column_stack(parts)

    def _without_text_missing(self, x: pd.DataFrame, logit: np.ndarray) -> np.ndarray:
        if getattr(self, "missing_without_text_", False):
            return np.where(has_text(x, self.text), logit, np.nan)
        return logit

    def booster_inputs(self, x: pd.DataFrame) -> np.ndarray:
        """The booster's input matrix: encoded facts, then the text model's log-odds
        (missing for rows without text)."""
        p_text = self.text_model_.predict_proba(x)[:, 1]
        return np.column_stack([self._facts(x), self._without_text_missing(x, _logit(p_text))])

    def inputs_from_text_logit(self, x: pd.DataFrame, text_logit: np.ndarray) -> np.ndarray:
        """:meth:`booster_inputs` from text log-odds the caller already has."""
        logit = _logit(1.0 / (1.0 + np.exp(-text_logit)))
        return np.column_stack([self._facts(x), self._without_text_missing(x, logit)])

    def empty_text_logit(self) -> float:
        """The booster's text input for an empty comment: the baseline the text's effect is
        measured from (missing; the text model's intercept for models saved before)."""
        if getattr(self, "missing_without_text_", False):
            return float("nan")
        intercept = float(self.text_model_.named_steps["classifier"].intercept_[0])
        return float(_logit(np.asarray([1.0 / (1.0 + np.exp(-intercept))]))[0])

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        """``[[P(perceived), P(policy_failure)], ...]`` per row."""
        inputs = self.booster_inputs(x)
        with one_thread():
            return np.asarray(self.booster_.predict_proba(inputs))

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        """1 (policy_failure) where P(policy_failure) >= 0.5, else 0."""
        return (self.predict_proba(x)[:, 1] >= 0.5).astype(np.int8)

    @property
    def fact_columns(self) -> tuple[str, ...]:
        """The booster's fact inputs, in column order."""
        return (*self.categorical, *self.numeric)


def _blend_loss(weights: np.ndarray, inputs: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean log loss of ``sigmoid(inputs @ weights[:-1] + weights[-1])`` and its gradient."""
    z = inputs @ weights[:-1] + weights[-1]
    p = expit(z)
    loss = float(np.mean(np.logaddexp(0.0, z) - y * z))
    residual = (p - y) / len(y)
    return loss, np.append(inputs.T @ residual, residual.sum())


def fit_blend(text_logit: np.ndarray, facts_logit: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``[a, b, c]`` minimising the log loss of ``sigmoid(a * text + b * facts + c)`` with
    ``a, b >= 0``: Platt scaling of two models at once (Platt 1999), where a negative weight,
    which would make a comment reading more like a failure lower P(policy_failure), is not
    allowed."""
    inputs = np.column_stack([text_logit, facts_logit])
    found = minimize(
        _blend_loss,
        np.array([0.5, 0.5, 0.0]),
        args=(inputs, np.asarray(y, dtype=float)),
        jac=True,
        method="L-BFGS-B",
        bounds=[(0.0, None), (0.0, None), (None, None)],
    )
    return np.asarray(found.x, dtype=float)


class TextFactsBlend(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """P(policy_failure) = sigmoid(a * text log-odds + b * facts log-odds + c) for a row with
    text, and the facts model's own P for a row without.

    ``text_model`` (a linear Pipeline on the text column) learns from the rows with text;
    ``facts_model`` (a linear Pipeline on the facts) from every labelled row, with text or
    without, so labels whose text is missing still teach the facts. ``a, b, c`` are fitted on
    out-of-fold log-odds of the rows with text (:func:`fit_blend`, ``a, b >= 0``), then both
    models are refitted on all their rows. Every part is linear, so each feature's share of
    the final log-odds is exact (``models/explain.py``).
    """

    def __init__(
        self,
        text_model: Pipeline,
        facts_model: Pipeline,
        text: str = "comment",
        cv: int = 5,
        seed: int = 7,
    ) -> None:
        self.text_model = text_model
        self.facts_model = facts_model
        self.text = text
        self.cv = cv
        self.seed = seed

    def fit(self, x: pd.DataFrame, y: np.ndarray) -> TextFactsBlend:
        """Out-of-fold log-odds of the rows with text, the blend on them, then both models
        on all their rows."""
        y = np.asarray(y)
        written = np.flatnonzero(has_text(x, self.text))
        folds = _text_folds(y[written], self.cv, self.seed)
        text_logit = np.zeros(written.size)
        facts_logit = np.zeros(written.size)
        for fit_at, held_at in folds.split(written, y[written]):
            fold_rows, held = written[fit_at], written[held_at]
            text_model = clone(self.text_model).fit(x.iloc[fold_rows], y[fold_rows])
            text_logit[held_at] = text_model.decision_function(x.iloc[held])
            # The facts model of this fold learns from every row but the held-out ones.
            others = np.ones(len(x), dtype=bool)
            others[held] = False
            facts_model = clone(self.facts_model).fit(x[others], y[others])
            facts_logit[held_at] = facts_model.decision_function(x.iloc[held])
        self.weights_ = fit_blend(text_logit, facts_logit, y[written])
        self.text_model_: Pipeline = clone(self.text_model).fit(x.iloc[written], y[written])
        self.facts_model_: Pipeline = clone(self.facts_model).fit(x, y)
        self.classes_ = np.array([0, 1])
        return self

    def combine(
        self, x: pd.DataFrame, text_logit: np.ndarray, facts_logit: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per row: the final log-odds, and the factors the text's and the facts' log-odds
        enter it with (``a`` and ``b`` with text; 0 and 1 without)."""
        a, b, c = self.weights_
        written = has_text(x, self.text)
        text_factor = np.where(written, a, 0.0)
        facts_factor = np.where(written, b, 1.0)
        logit = text_factor * text_logit + facts_factor * facts_logit + np.where(written, c, 0.0)
        return logit, text_factor, facts_factor

    def decision_function(self, x: pd.DataFrame) -> np.ndarray:
        """The log-odds of policy_failure per row."""
        logit, _, _ = self.combine(
            x, self.text_model_.decision_function(x), self.facts_model_.decision_function(x)
        )
        return logit

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        """``[[P(perceived), P(policy_failure)], ...]`` per row."""
        p = expit(self.decision_function(x))
        return np.column_stack([1.0 - p, p])

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        """1 (policy_failure) where P(policy_failure) >= 0.5, else 0."""
        return (self.predict_proba(x)[:, 1] >= 0.5).astype(np.int8)
