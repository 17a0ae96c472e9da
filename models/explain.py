"""Why the model said what it said: each row's largest feature contributions.

The model is linear in its features, so ``coefficient * value`` is exactly how much each
feature moved the log-odds of policy_failure for that row. The reasons are the features that
pushed hardest towards the class that was predicted, in words an analyst can read.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline


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


def predict_with_reasons(
    model: Pipeline, frame: pd.DataFrame, k: int = 3, threshold: float = 0.5
) -> tuple[np.ndarray, list[list[str]]]:
    """P(policy_failure) for each row and up to ``k`` features that pushed it hardest towards
    its predicted class, from one pass through the features.

    Each reason reads like ``"phrase 'outside the window' (+1.24)"``: the sign is the
    direction on the log-odds of policy_failure. The per-row top ``k`` is found with array
    sorts over the sparse contributions, not a Python loop over rows.
    """
    if frame.empty:
        return np.empty(0), []
    x = sparse.csr_matrix(model.named_steps["features"].transform(frame))
    classifier = model.named_steps["classifier"]
    p = classifier.predict_proba(x)[:, 1]
    contributions = sparse.coo_matrix(x.multiply(classifier.coef_.ravel()))
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
    names = np.asarray(feature_names(model), dtype=object)
    texts = [f"{name} ({value:+.2f})" for name, value in zip(names[columns], values, strict=True)]
    reasons: list[list[str]] = [[] for _ in range(len(frame))]
    for row, text in zip(rows.tolist(), texts, strict=True):
        reasons[row].append(text)
    return p, reasons


def top_reasons(
    model: Pipeline, frame: pd.DataFrame, k: int = 3, threshold: float = 0.5
) -> list[list[str]]:
    """For each row, up to ``k`` features that pushed it hardest towards its predicted class."""
    return predict_with_reasons(model, frame, k, threshold)[1]
