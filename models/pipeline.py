"""The root-cause model: one scikit-learn Pipeline holding every learned step.

Input is a pandas frame with the feature columns below (see :func:`feature_frame`); output is
P(policy_failure). Nothing is fitted outside the Pipeline, so cross-validation and the time
split cannot leak.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from transforms.schemas import POSITIVE_CLASS

TEXT = "comment"
CATEGORICAL: tuple[str, ...] = ("channel", "queue", "policy_code", "language", "resolution")
NUMERIC: tuple[str, ...] = (
    "wait_seconds",
    "handle_seconds",
    "transfers",
    "prior_contacts",
    "fees_charged",
    "fee_excess",
    "csat",
    "nps",
    "effort",
)
#: Yes/no facts that are often unrecorded: missing is information, so it gets an indicator.
FLAGS: tuple[str, ...] = ("sla_met", "policy_disclosed")
FEATURES: tuple[str, ...] = (TEXT, *CATEGORICAL, *NUMERIC, *FLAGS)


def feature_frame(responses: pl.DataFrame) -> pd.DataFrame:
    """Select the model's inputs from clean responses, in the types the Pipeline expects.

    This is type plumbing only (no statistics), so it is safe outside the Pipeline.
    """
    missing = [name for name in FEATURES if name not in responses.columns]
    if missing:
        raise ValueError(f"responses lack model feature columns {missing}")
    frame = responses.select(
        pl.col(TEXT).fill_null("").cast(pl.String),
        *(pl.col(c).cast(pl.String).fill_null("missing") for c in CATEGORICAL),
        *(pl.col(c).cast(pl.Float64) for c in NUMERIC),
        *(pl.col(c).cast(pl.Float64) for c in FLAGS),
    )
    return frame.to_pandas(use_pyarrow_extension_array=False)


def build_pipeline(seed: int = 7, c: float = 2.0) -> Pipeline:
    """Text (word and word-pair TF-IDF) + categorical + numeric features into a calibrated
    logistic regression; ``seed`` fixes every random choice."""
    columns = ColumnTransformer(
        [
            (
                "text",
                TfidfVectorizer(
                    ngram_range=(1, 2), min_df=2, max_features=50_000, sublinear_tf=True
                ),
                TEXT,
            ),
            (
                "categorical",
                OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=5),
                list(CATEGORICAL),
            ),
            (
                "numeric",
                make_pipeline(
                    SimpleImputer(strategy="median", add_indicator=True), StandardScaler()
                ),
                list(NUMERIC),
            ),
            (
                "flags",
                SimpleImputer(strategy="constant", fill_value=0.5, add_indicator=True),
                list(FLAGS),
            ),
        ],
        sparse_threshold=1.0,
    )
    classifier = LogisticRegression(C=c, max_iter=5000, random_state=seed)
    return Pipeline([("features", columns), ("classifier", classifier)])


def labels_to_target(root_causes: pl.Series) -> np.ndarray:
    """1 for policy_failure, 0 for perceived."""
    return (root_causes == POSITIVE_CLASS).to_numpy().astype(np.int8)
