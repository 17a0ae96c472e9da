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


def top_reasons(
    model: Pipeline, frame: pd.DataFrame, k: int = 3, threshold: float = 0.5
) -> list[list[str]]:
    """For each row, up to ``k`` features that pushed it hardest towards its predicted class.

    Each reason reads like ``"phrase 'outside the window' (+1.24)"``: the sign is the
    direction on the log-odds of policy_failure.
    """
    if frame.empty:
        return []
    x = sparse.csr_matrix(model.named_steps["features"].transform(frame))
    coef = model.named_steps["classifier"].coef_.ravel()
    contributions = sparse.csr_matrix(x.multiply(coef))
    names = feature_names(model)
    p = model.predict_proba(frame)[:, 1]
    reasons: list[list[str]] = []
    for row in range(contributions.shape[0]):
        start, end = contributions.indptr[row], contributions.indptr[row + 1]
        idx = contributions.indices[start:end]
        values = contributions.data[start:end]
        direction = 1.0 if p[row] >= threshold else -1.0
        toward = values * direction > 0
        idx, values = idx[toward], values[toward]
        order = np.argsort(-np.abs(values))[:k]
        reasons.append([f"{names[idx[i]]} ({values[i]:+.2f})" for i in order])
    return reasons
