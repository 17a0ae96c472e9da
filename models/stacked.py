"""The survey model: a linear text model whose out-of-fold log-odds join the operational facts
in a small gradient-boosted model.

Why not one logistic regression: the generator's truth is close to an OR of hidden facts (one
fact makes a failure likely, a second adds little), and the data shows each fact through
several noisy views (a sentence in the comment, a flag, a fee). A linear model adds those
views up and double counts; boosting on the facts with the text's log-odds as one input
saturates instead. Measured on generated data in the README ("## The model").

The text model is fitted out-of-fold for the booster's input, so the booster learns how much
to trust text log-odds the text model has not memorised; it is then refitted on every row for
scoring. The booster is constrained to be non-decreasing in the text log-odds: a comment that
reads more like a failure never lowers P(policy_failure).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder
from threadpoolctl import threadpool_limits

#: A text log-odds input is clipped to this magnitude: beyond it nothing changes a decision.
_LOGIT_CLIP = 12.0


def one_thread() -> threadpool_limits:
    """Run the booster on one OpenMP thread: on a few thousand rows more threads gain nothing,
    and on a shared machine (2 cores, other jobs running) OpenMP threads waiting on each other
    made fitting and prediction 10-15x slower (measured: 13.5 s vs 0.8 s for one fit)."""
    return threadpool_limits(limits=1, user_api="openmp")


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.clip(np.log(p / (1 - p)), -_LOGIT_CLIP, _LOGIT_CLIP)


class TextThenFacts(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """P(policy_failure) from ``text_model``'s log-odds plus the structured facts, boosted.

    ``text_model`` is a fitted-on-demand scikit-learn Pipeline that reads the text column
    (``features`` then a linear ``classifier``); ``categorical`` and ``numeric`` name the
    fact columns of the input frame (flags count as numeric, missing values stay missing:
    the booster learns what "not recorded" means).
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
    ) -> None:
        self.text_model = text_model
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
        smallest = int(min(np.bincount(y, minlength=2)))
        if smallest < 2:
            raise ValueError("the model needs at least two labelled rows of each root cause")
        folds = StratifiedKFold(min(self.cv, smallest), shuffle=True, random_state=self.seed)
        p_text = cross_val_predict(clone(self.text_model), x, y, cv=folds, method="predict_proba")
        self.text_model_: Pipeline = clone(self.text_model).fit(x, y)
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
            self.booster_ = booster.fit(np.column_stack([facts, _logit(p_text[:, 1])]), y)
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
            parts.append(np.asarray(self.encoder_.transform(x[list(self.categorical)]), float))
        if self.numeric:
            parts.append(x[list(self.numeric)].to_numpy(dtype=float))
        if not parts:
            return np.empty((len(x), 0))
        return np.column_stack(parts)

    def booster_inputs(self, x: pd.DataFrame) -> np.ndarray:
        """The booster's input matrix: encoded facts, then the text model's log-odds."""
        p_text = self.text_model_.predict_proba(x)[:, 1]
        return np.column_stack([self._facts(x), _logit(p_text)])

    def inputs_from_text_logit(self, x: pd.DataFrame, text_logit: np.ndarray) -> np.ndarray:
        """:meth:`booster_inputs` from text log-odds the caller already has."""
        return np.column_stack([self._facts(x), _logit(1.0 / (1.0 + np.exp(-text_logit)))])

    def empty_text_logit(self) -> float:
        """The text model's log-odds for an empty comment (its intercept), as the booster sees
        it: the baseline the text's effect is measured from."""
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
