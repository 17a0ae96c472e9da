"""Why the model said what it said: each row's largest feature contributions.

For the linear model ``coefficient * value`` is exactly how much each feature moved the
log-odds of policy_failure for that row. For text log-odds + boosted facts
(:class:`models.stacked.TextThenFacts`) each fact's effect is the change in the final log-odds
when that fact alone is set to its typical value, and the text's effect is shared among its
words by their linear weights. The reasons are the features that pushed hardest towards the
class that was predicted, in words an analyst can read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline

from models.pipeline import RootCauseModel
from models.stacked import TextThenFacts, one_thread


def _block_names(name: str, transformer: object, columns: list[str]) -> list[str]:
    if isinstance(transformer, Pipeline):
        # The crosses pipeline: its encoder knows the cross names it was fitted on.
        last = transformer.steps[-1][1]
        if hasattr(last, "feature_names_in_"):
            return [str(n) for n in last.get_feature_names_out()]
    names = transformer.get_feature_names_out(columns)  # type: ignore[attr-defined]
    return [str(n) for n in names]


def feature_names(model: Pipeline) -> list[str]:
    """Readable names of every column the classifier sees, in order."""
    columns: ColumnTransformer = model.named_steps["features"]
    names: list[str] = []
    for name, transformer, selected in columns.transformers_:
        if name == "remainder" or transformer == "drop":
            continue
        selected_list = [selected] if isinstance(selected, str) else list(selected)
        for raw in _block_names(name, transformer, selected_list):
            names.append(_readable(name, raw))
    return names


def _readable(block: str, raw: str) -> str:
    if block == "text":
        kind, _, term = raw.partition("__")
        return f"{'phrase' if kind == 'words' else 'text fragment'} '{term.strip()}'"
    if block in ("categorical", "crosses"):
        column, _, value = raw.rpartition("_")
        return f"{column}={value}"
    if block == "flags" and raw.startswith("missingindicator_"):
        return f"{raw.removeprefix('missingindicator_')} not recorded"
    if block == "numeric" and raw.startswith("missingindicator_"):
        return f"{raw.removeprefix('missingindicator_')} not recorded"
    return raw


def _linear_contributions(
    model: Pipeline, frame: pd.DataFrame
) -> tuple[np.ndarray, sparse.coo_matrix, Callable[[np.ndarray, np.ndarray], list[str]]]:
    """P, each feature's ``coefficient * value`` and a namer, for the linear Pipeline."""
    x = sparse.csr_matrix(model.named_steps["features"].transform(frame))
    classifier = model.named_steps["classifier"]
    p = classifier.predict_proba(x)[:, 1]
    contributions = sparse.coo_matrix(x.multiply(classifier.coef_.ravel()))
    names = np.asarray(feature_names(model), dtype=object)

    def name(rows: np.ndarray, columns: np.ndarray) -> list[str]:
        return [str(n) for n in names[columns]]

    return p, contributions, name


def _fact_label(column: str, value: object) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return f"{column} not recorded"
    if isinstance(value, float):
        return f"{column}={value:g}"
    return f"{column}={value}"


def _boosted_contributions(
    model: TextThenFacts, frame: pd.DataFrame
) -> tuple[np.ndarray, sparse.coo_matrix, Callable[[np.ndarray, np.ndarray], list[str]]]:
    """P and each input's effect on the final log-odds, for text log-odds + boosted facts.

    A fact's effect is exact for that row: the booster's log-odds with the row's own value
    minus with the fact's typical training value (most common category, median), the rest of
    the row unchanged. The text's effect is measured the same way against an empty comment
    (the text model's intercept) and shared among the words in proportion to their
    ``coefficient * value`` in the text model, which add up exactly to the text log-odds.
    """
    text = model.text_model_
    x = sparse.csr_matrix(text.named_steps["features"].transform(frame))
    classifier = text.named_steps["classifier"]
    coef = classifier.coef_.ravel()
    intercept = float(classifier.intercept_[0])
    text_logit = np.asarray(x @ coef).ravel() + intercept
    inputs = model.inputs_from_text_logit(frame, text_logit)
    booster = model.booster_
    n_facts = inputs.shape[1] - 1
    references = np.append(model.reference_[:n_facts], model.empty_text_logit())
    with one_thread():
        raw, effects = _counterfactual_effects(booster, inputs, references)
    p = 1.0 / (1.0 + np.exp(-raw))
    words = x.multiply(coef).tocsr()
    spread = text_logit - intercept
    share = np.divide(effects[:, -1], spread, out=np.zeros_like(spread), where=spread != 0)
    words = sparse.csr_matrix(words.multiply(share[:, None]))
    facts = sparse.csr_matrix(effects[:, :n_facts])
    contributions = sparse.coo_matrix(sparse.hstack([facts, words]))
    word_names = np.asarray(feature_names(text), dtype=object)
    fact_columns = (*model.categorical, *model.numeric)
    values = frame[list(fact_columns)].to_numpy(dtype=object)

    def name(rows: np.ndarray, columns: np.ndarray) -> list[str]:
        return [
            _fact_label(fact_columns[c], values[r, c])
            if c < n_facts
            else str(word_names[c - n_facts])
            for r, c in zip(rows.tolist(), columns.tolist(), strict=True)
        ]

    return p, contributions, name


def _counterfactual_effects(
    booster: HistGradientBoostingClassifier, inputs: np.ndarray, references: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The booster's log-odds for each row, and for each row and input column how much it
    falls when that column alone is set to its reference value.

    Exactly ``decision_function(x) - decision_function(x with column j at its reference)``,
    computed tree by tree so that only what can change is evaluated again: a tree that never
    splits on column j gives the same leaf either way, and a row already at the reference
    value has no effect from it. On the survey model that is about a fifth of the work of
    running the whole booster once per column. (It walks the fitted trees through
    scikit-learn's ``_predictors``: ``tests/model/test_boosted_reasons.py`` checks the result
    against ``decision_function`` so a library change cannot pass unnoticed.)
    """
    x = booster._preprocess_X(inputs, reset=False)
    known_categories, feature_map = booster._bin_mapper.make_known_categories_bitsets()
    trees = [tree for iteration in booster._predictors for tree in iteration]

    def leaves(tree: Any, rows: np.ndarray) -> np.ndarray:
        return np.asarray(tree.predict(rows, known_categories, feature_map, 1))

    per_tree = np.stack([leaves(tree, x) for tree in trees])
    raw = per_tree.sum(axis=0) + float(np.ravel(booster._baseline_prediction)[0])
    splits_on = [
        set(tree.nodes["feature_idx"][tree.nodes["is_leaf"] == 0].tolist()) for tree in trees
    ]
    effects = np.zeros_like(inputs, dtype=float)
    for j, reference in enumerate(references):
        column = inputs[:, j]
        moved = ~((column == reference) | (np.isnan(column) & np.isnan(reference)))
        using = [t for t, features in enumerate(splits_on) if j in features]
        if not using or not moved.any():
            continue
        rows = np.flatnonzero(moved)
        typical = x[rows]
        typical[:, j] = reference
        changed = sum(leaves(trees[t], typical) for t in using)
        effects[rows, j] = per_tree[np.ix_(np.asarray(using), rows)].sum(axis=0) - changed
    return raw, effects


def predict_with_reasons(
    model: RootCauseModel, frame: pd.DataFrame, k: int = 3, threshold: float = 0.5
) -> tuple[np.ndarray, list[list[str]]]:
    """P(policy_failure) for each row and up to ``k`` features that pushed it hardest towards
    its predicted class, from one pass through the features.

    Each reason reads like ``"phrase 'outside the window' (+1.24)"``: the sign is the
    direction on the log-odds of policy_failure. The per-row top ``k`` is found with array
    sorts over the sparse contributions, not a Python loop over rows.
    """
    if frame.empty:
        return np.empty(0), []
    if isinstance(model, TextThenFacts):
        p, contributions, name = _boosted_contributions(model, frame)
    else:
        p, contributions, name = _linear_contributions(model, frame)
    rows, columns, values = contributions.row, contributions.col, contributions.data
    # Keep what pushes towards the row's own predicted class.
    direction = np.where(p >= threshold, 1.0, -1.0)[rows]
    toward = values * direction > 0
    rows, columns, values = rows[toward], columns[toward], values[toward]
    order = np.lexsort((columns, -np.abs(values), rows))  # ties: by feature, reproducibly
    rows, columns, values = rows[order], columns[order], values[order]
    first_of_row = np.searchsorted(rows, rows, side="left")
    keep = np.arange(rows.size) - first_of_row < k
    rows, columns, values = rows[keep], columns[keep], values[keep]
    labels = name(rows, columns)
    texts = [f"{label} ({value:+.2f})" for label, value in zip(labels, values, strict=True)]
    reasons: list[list[str]] = [[] for _ in range(len(frame))]
    for row, text in zip(rows.tolist(), texts, strict=True):
        reasons[row].append(text)
    return p, reasons


def top_reasons(
    model: RootCauseModel, frame: pd.DataFrame, k: int = 3, threshold: float = 0.5
) -> list[list[str]]:
    """For each row, up to ``k`` features that pushed it hardest towards its predicted class."""
    return predict_with_reasons(model, frame, k, threshold)[1]
