"""The survey model is non-linear (text log-odds + boosted facts), so its reasons are measured,
not read off coefficients: check that each fact's reason is exactly what that fact moved."""

from __future__ import annotations

import re

import numpy as np
import polars as pl

from models.explain import predict_with_reasons
from models.pipeline import feature_frame
from models.stacked import TextThenFacts, one_thread
from models.train import TrainingResult


def test_fact_reasons_are_the_log_odds_each_fact_moved(
    trained: TrainingResult, labelled: pl.DataFrame
) -> None:
    model = trained.model
    assert isinstance(model, TextThenFacts)
    frame = feature_frame(labelled.head(300))
    p, reasons = predict_with_reasons(model, frame)
    np.testing.assert_allclose(p, model.predict_proba(frame)[:, 1], atol=1e-12)
    inputs = model.booster_inputs(frame)
    with one_thread():
        raw = model.booster_.decision_function(inputs)
    columns = (*model.categorical, *model.numeric)
    checked = 0
    for row, row_reasons in enumerate(reasons):
        for reason in row_reasons:
            label, value = re.fullmatch(r"(.*) \(([+-][0-9.]+)\)", reason).groups()  # type: ignore[union-attr]
            name = re.split(r"=| not recorded", label)[0]
            if name not in columns:
                continue  # a word: its share of the text's effect
            j = columns.index(name)
            typical = inputs[row : row + 1].copy()
            typical[0, j] = model.reference_[j]
            with one_thread():
                moved = raw[row] - model.booster_.decision_function(typical)[0]
            assert abs(float(value) - moved) <= 0.005 + 1e-9  # printed to two decimals
            checked += 1
    assert checked > 50  # facts do appear among the reasons


def test_a_comment_reading_more_like_a_failure_never_lowers_p(trained: TrainingResult) -> None:
    model = trained.model
    assert isinstance(model, TextThenFacts)
    inputs = np.repeat(model.reference_[None, :], 41, axis=0)
    inputs = np.column_stack([inputs, np.linspace(-10, 10, 41)])
    with one_thread():
        p = model.booster_.predict_proba(inputs)[:, 1]
    assert (np.diff(p) >= 0).all()
    assert p[-1] > p[0]


def test_tree_by_tree_effects_equal_one_booster_pass_per_column(
    trained: TrainingResult, labelled: pl.DataFrame
) -> None:
    """The fast path skips trees that never split on a column and rows already at its
    reference; it must give exactly what setting the column and re-running the booster does."""
    from models.explain import _counterfactual_effects

    model = trained.model
    assert isinstance(model, TextThenFacts)
    inputs = model.booster_inputs(feature_frame(labelled.head(400)))
    n_facts = inputs.shape[1] - 1
    references = np.append(model.reference_[:n_facts], model.empty_text_logit())
    with one_thread():
        raw, effects = _counterfactual_effects(model.booster_, inputs, references)
        expected = model.booster_.decision_function(inputs)
        np.testing.assert_allclose(raw, expected, atol=1e-9)
        for j, reference in enumerate(references):
            typical = inputs.copy()
            typical[:, j] = reference
            moved = expected - model.booster_.decision_function(typical)
            np.testing.assert_allclose(effects[:, j], moved, atol=1e-9)
    assert np.count_nonzero(effects[:, :n_facts]) > 0
