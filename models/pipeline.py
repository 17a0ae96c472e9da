"""The root-cause model: one scikit-learn estimator holding every learned step.

Which columns feed it is a :class:`FeatureSpec`: the generated survey data has its own
(:data:`SURVEY_FEATURES`), and a foreign export brings one from its source mapping. Which of
the designs in :data:`DESIGNS` it is, training chooses per source (``models/select.py``).
Input is a pandas frame with the spec's columns (see :func:`feature_frame`); output is
P(policy_failure). Nothing is fitted outside the estimator, so cross-validation and the time
split cannot leak.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TypeAlias

import numpy as np
import pandas as pd
import polars as pl
from numpy.typing import ArrayLike
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from models.features import NaiveBayesWeights, TextVectors

# The spec lives apart from scikit-learn (models/spec.py); callers may import it from here.
from models.spec import DESIGNS as DESIGNS
from models.spec import SURVEY_FEATURES as SURVEY_FEATURES
from models.spec import TEXT as TEXT
from models.spec import FeatureSpec as FeatureSpec
from models.spec import spec_from_dict as spec_from_dict
from models.spec import spec_to_dict as spec_to_dict
from models.stacked import TextFactsBlend, TextThenFacts
from transforms.schemas import POSITIVE_CLASS

#: What :func:`build_pipeline` returns: one linear Pipeline, text log-odds + boosted facts, or
#: a text model and a facts model blended.
RootCauseModel: TypeAlias = Pipeline | TextThenFacts | TextFactsBlend
#: Value given to a missing categorical, and to a missing value inside a feature cross.
MISSING = "missing"


# Kept for callers that only need the generated data's columns.
CATEGORICAL = SURVEY_FEATURES.categorical
NUMERIC = SURVEY_FEATURES.numeric
FLAGS = SURVEY_FEATURES.flags
FEATURES = SURVEY_FEATURES.columns


def _bucket(values: pd.Series) -> pd.Series:
    """Small counts as themselves, larger magnitudes in half-steps of log2 (fixed, not fitted)."""
    x = pd.to_numeric(values, errors="coerce").astype(float)
    small = x.where(x.abs() < 8).round()
    log = pd.Series(np.floor(np.log2(x.abs().clip(lower=1.0)) * 2.0) * np.sign(x), index=x.index)
    out = small.fillna(100 + log).astype("Int64").astype(str)
    return out.where(x.notna(), MISSING)


def feature_crosses(frame: pd.DataFrame, crosses: list[list[str]]) -> pd.DataFrame:
    """One string column per cross (``"a|b"`` values); numeric members are log-bucketed."""
    out: dict[str, pd.Series] = {}
    for members in crosses:
        parts = []
        for name in members:
            column = frame[name]
            if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
                parts.append(_bucket(column))
            else:
                parts.append(column.astype(str).where(column.notna(), MISSING))
        joined = parts[0]
        for part in parts[1:]:
            joined = joined + "|" + part
        out["x".join(members)] = joined
    return pd.DataFrame(out, index=frame.index)


def feature_frame(responses: pl.DataFrame, spec: FeatureSpec = SURVEY_FEATURES) -> pd.DataFrame:
    """Select the model's inputs from clean responses, in the types the Pipeline expects.

    This is type plumbing only (no statistics), so it is safe outside the Pipeline.
    """
    missing = [name for name in spec.columns if name and name not in responses.columns]
    if missing:
        raise ValueError(
            f"responses lack model feature columns {missing}; they have {responses.columns}"
        )
    selected = [pl.col(c).cast(pl.String).fill_null(MISSING) for c in spec.categorical]
    selected += [pl.col(c).cast(pl.Float64) for c in (*spec.numeric, *spec.flags)]
    if spec.text:
        selected.insert(0, pl.col(spec.text).cast(pl.String).fill_null(""))
    return responses.select(selected).to_pandas(use_pyarrow_extension_array=False)


def inputs_of(features: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """The columns of ``features`` (:func:`feature_frame` of a spec that reads every column
    ``spec`` does) that :func:`feature_frame` gives for ``spec``, in its order: the inputs of
    a baseline that reads a part of the model's (text only, facts only), without reading the
    responses again. Raises KeyError when ``features`` lacks one."""
    return features[[name for name in spec.columns if name]]


#: C of the blend's facts model and of the ``facts`` design (one-hot facts and crosses; many
#: rows, few columns).
FACTS_C = 1.0


#: Defaults of each design where the spec does not override them: (C, character n-grams).
#: Measured (README "## The model"): on the short survey comments character n-grams left
#: accuracy unchanged within noise, made probabilities overconfident (holdout ECE 0.12 vs
#: 0.05 on 8 days) and tripled training time, and the text model of the boosted design did
#: best at C=2; on long CFPB narratives C=0.5 with character n-grams did best in the linear
#: model. Selection picks between the designs per source. The ``facts`` design reads no
#: text (its n-gram setting is unused) and is the blend's facts model alone.
DESIGN_DEFAULTS: dict[str, tuple[float, bool]] = {
    "linear": (0.5, True),
    "nbsvm": (0.5, False),
    "boosted": (2.0, False),
    "blend": (2.0, False),
    "facts": (FACTS_C, False),
}


def design_settings(design: str, spec: FeatureSpec, c: float | None = None) -> tuple[float, bool]:
    """(C, character n-grams) of ``design`` for ``spec``: ``c``, else the spec's overrides,
    else :data:`DESIGN_DEFAULTS`."""
    default_c, default_chars = DESIGN_DEFAULTS[design]
    chosen_c = c if c is not None else spec.c if spec.c is not None else default_c
    chars = spec.char_ngrams if spec.char_ngrams is not None else default_chars
    return float(chosen_c), bool(chars)


def build_pipeline(
    seed: int = 7, c: float | None = None, spec: FeatureSpec = SURVEY_FEATURES
) -> RootCauseModel:
    """The estimator of ``spec``'s design (:meth:`FeatureSpec.chosen`), unfitted; ``seed``
    fixes every random choice and ``c`` overrides the regularisation.

    Every design reads the frame :func:`feature_frame` makes and gives P(policy_failure)
    that never falls when the text reads more like a failure: linear ones add the text's
    log-odds to the facts', the booster is constrained to be non-decreasing in them, and the
    blend weighs them by a non-negative weight. The ``facts`` design is the linear model of
    the facts alone (:meth:`FeatureSpec.without_text`): the text column may be in the frame,
    and nothing of it is read.
    """
    design = spec.chosen()
    chosen_c, chars = design_settings(design, spec, c)
    if design == "facts":
        return build_linear(seed, chosen_c, spec.without_text())
    if design in ("boosted", "blend") and spec.text and (spec.facts or design == "boosted"):
        text_spec = replace(spec.text_only(), char_ngrams=chars)
        text_model = build_linear(seed, chosen_c, text_spec)
        if design == "boosted":
            return TextThenFacts(
                text_model,
                categorical=spec.categorical,
                numeric=(*spec.numeric, *spec.flags),
                seed=seed,
                text=spec.text,
            )
        facts_model = build_linear(seed, FACTS_C if spec.c is None else spec.c, spec.without_text())
        return TextFactsBlend(text_model, facts_model, text=spec.text, seed=seed)
    return build_linear(seed, chosen_c, replace(spec, char_ngrams=chars), nb=design == "nbsvm")


def build_linear(seed: int, c: float | None, spec: FeatureSpec, nb: bool = False) -> Pipeline:
    """The linear model: ``features`` (one ColumnTransformer) then a logistic ``classifier``.

    With ``nb`` the text columns are scaled by their naive-Bayes log-count ratios first.
    """
    one_hot = {"handle_unknown": "infrequent_if_exist", "min_frequency": 3}
    parts: list[tuple[str, object, object]] = []
    if spec.text:
        vectors = TextVectors(char_ngrams=bool(spec.char_ngrams))
        text: object = make_pipeline(vectors, NaiveBayesWeights()) if nb else vectors
        parts.append(("text", text, spec.text))
    if spec.categorical:
        parts.append(("categorical", OneHotEncoder(**one_hot), list(spec.categorical)))
    if spec.numeric:
        numeric = make_pipeline(
            SimpleImputer(strategy="median", add_indicator=True), StandardScaler()
        )
        parts.append(("numeric", numeric, list(spec.numeric)))
    if spec.flags:
        # Centred on the training mean, like the scaled numbers: a flag's coefficient x value
        # is then its effect against a typical row, so a missed deadline (sla_met 0 where most
        # are met) is a reason too, not 0 x coefficient (found by a data scientist's trial on
        # the CFPB complaints). The intercept is not penalised, so P is the same.
        flags = make_pipeline(
            SimpleImputer(strategy="constant", fill_value=0.5, add_indicator=True),
            StandardScaler(with_std=False),
        )
        parts.append(("flags", flags, list(spec.flags)))
    if spec.crosses:
        crosses = make_pipeline(
            FunctionTransformer(
                feature_crosses, kw_args={"crosses": [list(x) for x in spec.crosses]}
            ),
            OneHotEncoder(**one_hot),
        )
        used = sorted({name for members in spec.crosses for name in members})
        parts.append(("crosses", crosses, used))
    columns = ColumnTransformer(parts, sparse_threshold=1.0)  # type: ignore[arg-type]
    classifier = LogisticRegression(C=1.0 if c is None else c, max_iter=5000, random_state=seed)
    return Pipeline([("features", columns), ("classifier", classifier)])


def labels_to_target(root_causes: ArrayLike) -> np.ndarray:
    """One root cause per row (a list, numpy array or a polars column's values) as int8:
    1 for policy_failure, 0 for perceived."""
    return (np.asarray(root_causes, dtype=object) == POSITIVE_CLASS).astype(np.int8)
