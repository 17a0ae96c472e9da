"""The survey model is non-linear (text log-odds + boosted facts), so its reasons are measured,
not read off coefficients: check that each fact's reason is exactly what that fact moved."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy import sparse
from sklearn.ensemble import HistGradientBoostingClassifier

from models.explain import (
    _CODE_BLOCK_ROWS,
    _MAX_TABLE_SPLITS,
    REASON_EFFECT_MIN,
    _CellIndex,
    _counterfactual_effects,
    _fact_label,
    _SplitInputs,
    _tree_routings_and_cells,
    _TreeRouting,
    boosted_inputs,
    feature_names,
    names_nothing,
    predict_with_flat_reasons,
    predict_with_reasons,
    shrink_probability,
    signed_fixed_point,
)
from models.pipeline import feature_frame
from models.stacked import TextThenFacts, one_thread
from models.train import score_negatives

#: Any threshold will do: the reasons point towards the class it decides.
THRESHOLD = 0.45


def test_fact_reasons_are_the_log_odds_each_fact_moved(
    boosted: TextThenFacts, labelled: pl.DataFrame
) -> None:
    model = boosted
    frame = feature_frame(labelled.head(300))
    p, reasons = predict_with_reasons(model, frame)
    np.testing.assert_allclose(p, model.predict_proba(frame)[:, 1], atol=1e-12)
    inputs = model.booster_inputs(frame)
    with one_thread():
        raw = model.booster_.decision_function(inputs)
    columns = (*model.categorical, *model.numeric)
    checked = comments = 0
    for row, row_reasons in enumerate(reasons):
        for reason in row_reasons:
            label, value = re.fullmatch(r"(.*) \(([+-][0-9.]+)\)", reason).groups()  # type: ignore[union-attr]
            name = re.split(r"=| not recorded", label)[0]
            typical = inputs[row : row + 1].copy()
            if label.startswith("comment"):
                # The comment is one reason: what the text moved against an empty comment
                # (found by a QA lead's trial: shared among its words, it never showed).
                typical[0, -1] = model.empty_text_logit()
                comments += 1
            else:
                j = columns.index(name)
                typical[0, j] = model.reference_[j]
                checked += 1
            with one_thread():
                moved = raw[row] - model.booster_.decision_function(typical)[0]
            assert abs(float(value) - moved) <= 0.005 + 1e-9  # printed to two decimals
    assert checked > 50  # facts do appear among the reasons
    assert comments > 150  # and the comment, of most of the 300 rows


def test_a_comment_reading_more_like_a_failure_never_lowers_p(boosted: TextThenFacts) -> None:
    model = boosted
    inputs = np.repeat(model.reference_[None, :], 41, axis=0)
    inputs = np.column_stack([inputs, np.linspace(-10, 10, 41)])
    with one_thread():
        p = model.booster_.predict_proba(inputs)[:, 1]
    assert (np.diff(p) >= 0).all()
    assert p[-1] > p[0]


def _with_unusual_values(inputs: np.ndarray, n_categorical: int) -> np.ndarray:
    """Rows the booster routes by its missing-value rules: an unknown and a negative
    category, and a missing number, beside the rows as they are."""
    unusual = inputs.copy()
    unusual[0::4, 0] = 99.0  # a category the booster never saw
    unusual[1::4, n_categorical - 1] = -1.0  # the encoder's "unknown"
    unusual[2::4, n_categorical] = np.nan
    unusual[3::4, -2] = np.nan
    return np.vstack([inputs, unusual])


def _effects_by_booster_passes(
    booster: HistGradientBoostingClassifier, inputs: np.ndarray, references: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The definition: the whole booster once as is and once per column set to its reference."""
    raw = booster.decision_function(inputs)
    effects = np.empty_like(inputs)
    for j, reference in enumerate(references):
        typical = inputs.copy()
        typical[:, j] = reference
        effects[:, j] = raw - booster.decision_function(typical)
    return raw, effects


def _assert_effects_are_booster_passes(
    booster: HistGradientBoostingClassifier, inputs: np.ndarray, references: np.ndarray
) -> np.ndarray:
    """The fast counterfactuals equal the booster's own passes bit for bit; returns them."""
    with one_thread():
        raw, effects = _counterfactual_effects(booster, inputs, references)
        expected_raw, expected = _effects_by_booster_passes(booster, inputs, references)
    np.testing.assert_array_equal(raw, expected_raw)
    np.testing.assert_array_equal(effects, expected)
    return effects


def test_tree_tables_equal_one_booster_pass_per_column_bit_for_bit(
    boosted: TextThenFacts, labelled: pl.DataFrame
) -> None:
    """The fast path reads each tree as a table of branch bits and mirrors scikit-learn's
    branching rule; it must give exactly what setting the column and re-running the booster
    gives, including for unknown categories and missing numbers."""
    model = boosted
    inputs = model.booster_inputs(feature_frame(labelled.head(400)))
    inputs = _with_unusual_values(inputs, len(model.categorical))
    n_facts = inputs.shape[1] - 1
    references = np.append(model.reference_[:n_facts], model.empty_text_logit())
    effects = _assert_effects_are_booster_passes(model.booster_, inputs, references)
    assert np.count_nonzero(effects[:, :n_facts]) > 0


def _tabulated(booster: HistGradientBoostingClassifier) -> tuple[list[_TreeRouting], _CellIndex]:
    known_categories, feature_map = booster._bin_mapper.make_known_categories_bitsets()
    routings, cells = _tree_routings_and_cells(booster, known_categories, feature_map)
    return [r for r in routings if r.table is not None], cells


def _adversarial_column(cells: _CellIndex, column: int) -> st.SearchStrategy[float]:
    """Values of one booster input that test its splits hardest: a number's thresholds
    themselves and their neighbours one ulp either side, NaN, infinities, both zeros and any
    float; a category's codes, known or not, negative and missing."""
    if cells.categorical[column]:
        return st.one_of(st.integers(-3, 254).map(float), st.just(float("nan")))
    at = st.sampled_from(cells.thresholds[column].tolist() or [0.0])
    return st.one_of(
        at,
        at.map(lambda t: float(np.nextafter(t, np.inf))),
        at.map(lambda t: float(np.nextafter(t, -np.inf))),
        st.sampled_from([float("nan"), np.inf, -np.inf, 0.0, -0.0]),
        st.floats(allow_nan=True, allow_infinity=True),
    )


@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_branches_read_from_cells_equal_each_splits_own_comparison(
    boosted: TextThenFacts, data: st.DataObject
) -> None:
    """Every tree's code of a row read from the row's cells (one search per column) is the
    code its splits' own comparisons give (:meth:`_TreeRouting.code`, scikit-learn's rule), on
    values at, just above and just below every threshold, NaN, infinities, -0.0, and unknown,
    negative and missing categories."""
    booster = boosted.booster_
    tabulated, cells = _tabulated(booster)
    categorical = np.asarray(booster._bin_mapper.is_categorical_, dtype=bool)
    n_rows = data.draw(st.integers(1, 40))
    x = np.empty((n_rows, int(booster.n_features_in_)))
    for f in range(x.shape[1]):
        column = _adversarial_column(cells, f)
        x[:, f] = data.draw(st.lists(column, min_size=n_rows, max_size=n_rows))
    rows = _SplitInputs(x, categorical)
    expected = np.stack([routing.code(rows) for routing in tabulated])
    np.testing.assert_array_equal(cells.codes(rows), expected)


def test_effects_from_cells_equal_booster_passes_over_several_blocks(
    boosted: TextThenFacts,
) -> None:
    """More rows than one block of codes, of adversarial values (thresholds and their ulp
    neighbours, NaN, infinities, zeros, unknown and negative categories): the counterfactual
    effects are the booster's own passes bit for bit, and the codes each split's own."""
    booster = boosted.booster_
    tabulated, cells = _tabulated(booster)
    categorical = np.asarray(booster._bin_mapper.is_categorical_, dtype=bool)
    rng = np.random.default_rng(11)
    n_rows = 2 * _CODE_BLOCK_ROWS + 123
    x = np.empty((n_rows, int(booster.n_features_in_)))
    for f in range(x.shape[1]):
        if categorical[f]:
            pool = np.append(np.arange(-2.0, 40.0), np.nan)
        else:
            t = cells.thresholds[f]
            pool = np.concatenate(
                [t, np.nextafter(t, np.inf), np.nextafter(t, -np.inf), [np.nan, np.inf, -np.inf]]
            )
            pool = np.concatenate([pool, [0.0, -0.0], rng.normal(0, 1e3, 50)])
        x[:, f] = rng.choice(pool, n_rows)
    rows = _SplitInputs(x, categorical)
    expected = np.stack([routing.code(rows) for routing in tabulated])
    np.testing.assert_array_equal(cells.codes(rows), expected)
    missing_left = {
        bool(m) for r in tabulated for _, test, m in r.tests if not isinstance(test, np.ndarray)
    }
    assert missing_left == {True, False}  # both NaN rules are exercised
    references = np.append(boosted.reference_, boosted.empty_text_logit())
    _assert_effects_are_booster_passes(booster, x, references)


def test_trees_too_large_for_a_table_are_walked_with_the_same_result(
    boosted: TextThenFacts, labelled: pl.DataFrame
) -> None:
    """A booster with more splits per tree than a table holds takes the walking path."""
    model = boosted
    frame = feature_frame(labelled)
    inputs = model.booster_inputs(frame)
    y = (labelled.get_column("root_cause") == "policy_failure").to_numpy().astype(int)
    n_categorical = len(model.categorical)
    with one_thread():
        large = HistGradientBoostingClassifier(
            max_iter=4,
            max_leaf_nodes=40,
            min_samples_leaf=5,
            categorical_features=list(range(n_categorical)),
            random_state=0,
        ).fit(inputs, y)
    splits = [int((t.nodes["is_leaf"] == 0).sum()) for it in large._predictors for t in it]
    assert max(splits) > _MAX_TABLE_SPLITS  # the walking path is exercised
    sample = _with_unusual_values(inputs[:200], n_categorical)
    references = np.append(model.reference_, model.empty_text_logit())
    _assert_effects_are_booster_passes(large, sample, references)


def _reasons_by_definition(
    model: TextThenFacts,
    frame: pd.DataFrame,
    k: int,
    threshold: float,
    shrink: tuple[np.ndarray, float] | None = None,
) -> tuple[np.ndarray, list[list[str]]]:
    """Reasons the plain way: booster passes per column, the comment's effect one reason
    named by its two phrases whose ``coefficient * value`` pushed hardest its way (a sparse
    product, a Python sort per row), and per row a Python sort of every contribution that
    pushes towards the predicted class (with ``shrink``, P pulled toward the base and every
    contribution scaled by the row's weight)."""
    text = model.text_model_
    x, coef, _, _, inputs, references = boosted_inputs(model, frame)
    n_facts = inputs.shape[1] - 1
    with one_thread():
        raw, effects = _effects_by_booster_passes(model.booster_, inputs, references)
    p = 1.0 / (1.0 + np.exp(-raw))
    words = sparse.csr_matrix(x.multiply(coef))
    weights = np.ones(len(frame))
    if shrink is not None:
        weights, base = shrink
        p = shrink_probability(p, weights, base)
    word_names = feature_names(text)
    fact_columns = (*model.categorical, *model.numeric)
    reasons: list[list[str]] = []
    for row in range(len(frame)):
        sign = 1.0 if p[row] >= threshold else -1.0
        w = weights[row]
        candidates = [
            (-abs(value), j, _fact_label(fact_columns[j], frame[fact_columns[j]].iloc[row]), value)
            for j, value in enumerate((effects[row, :n_facts] * w).tolist())
        ]
        comment = float(effects[row, -1] * w)
        if comment != 0:
            start, end = words.indptr[row], words.indptr[row + 1]
            pushed = sorted(
                (-abs(value), int(j))
                for j, value in zip(words.indices[start:end], words.data[start:end], strict=True)
                if value * comment > 0 and not names_nothing(word_names[j].removeprefix("phrase "))
            )
            phrases = [word_names[j].removeprefix("phrase ") for _, j in pushed[:2]]
            label = " ".join(["comment", ", ".join(phrases)]) if phrases else "comment"
            candidates.append((-abs(comment), n_facts, label, comment))
        toward = sorted(c for c in candidates if c[3] * sign >= REASON_EFFECT_MIN)
        reasons.append([f"{label} ({value:+.2f})" for _, _, label, value in toward[:k]])
    return p, reasons


def test_reasons_equal_the_plain_computation(
    boosted: TextThenFacts, labelled: pl.DataFrame
) -> None:
    """Same probabilities and the same reason strings, in the same order, as computing them
    the obvious way; for a few k, rows without text, the unseen-language shrink, and for the
    list column score_negatives builds."""
    model = boosted
    empty = pl.int_range(pl.len()) % 7 == 0
    responses = labelled.head(300).with_columns(
        pl.when(empty).then(pl.lit("")).otherwise(pl.col("comment")).alias("comment")
    )
    frame = feature_frame(responses)
    weights = np.where(np.arange(len(frame)) % 5 == 0, 0.5, 1.0)
    for shrink in (None, (weights, -0.4)):
        for k in (1, 3, 20):
            p, offsets, texts = predict_with_flat_reasons(model, frame, k, THRESHOLD, shrink)
            reasons = [part.tolist() for part in np.split(texts, offsets[1:-1])]
            expected_p, expected = _reasons_by_definition(model, frame, k, THRESHOLD, shrink)
            np.testing.assert_allclose(p, expected_p, rtol=0, atol=1e-12)
            assert reasons == expected
            assert sum(map(len, reasons)) >= len(frame) * min(k, 2)  # rows do get reasons
    scored = score_negatives(model, responses, threshold=THRESHOLD)
    expected_p, expected = _reasons_by_definition(model, frame, 3, THRESHOLD)
    assert scored.get_column("top_reasons").to_list() == expected


def test_a_champion_loaded_in_background_is_ready_to_score(
    boosted: TextThenFacts, labelled: pl.DataFrame, tmp_path: Path
) -> None:
    """The background load also builds the tree tables and vocabulary tables the first
    scoring would build, and the reasons scored with them are the ones built on demand."""
    from models import explain, native_text
    from models.registry import (
        cached_model,
        load_champion_in_background,
        save_model,
        set_champion,
    )

    save_model(boosted, tmp_path, "v1", {}, {})
    set_champion(tmp_path, "v1", "test")
    load_champion_in_background(tmp_path)
    for thread in threading.enumerate():
        if thread.name == "champion-model":
            thread.join(timeout=120)
    loaded = cached_model(tmp_path, "v1")
    assert isinstance(loaded, TextThenFacts)
    assert loaded.booster_ in explain._ROUTINGS
    native: list[object] = []
    kinds = (native_text.NativeTfidfVectorizer, native_text.NativeCountVectorizer)
    native_text._replace_vectorizers(loaded, kinds, lambda v: native.append(v) or v)
    assert native
    assert all(v in native_text._TABLES for v in native)
    frame = feature_frame(labelled.head(300))
    ready = predict_with_reasons(loaded, frame, threshold=THRESHOLD)
    fresh = predict_with_reasons(boosted, frame, threshold=THRESHOLD)
    np.testing.assert_array_equal(ready[0], fresh[0])
    assert ready[1] == fresh[1]


def test_facts_encoded_by_distinct_values_equal_the_encoders_own() -> None:
    """The booster's categorical inputs, each distinct value encoded once, are the fitted
    encoder's ``transform`` of every row: rare values (its infrequent bucket), values it never
    saw, Unicode and emoji, the empty string, columns of different distinct counts, and a
    frame with a missing value (which goes through ``transform`` whole)."""
    from sklearn.preprocessing import OrdinalEncoder

    from models.stacked import encoded_by_distinct_values

    rng = np.random.default_rng(3)
    pool = ["phone", "chat", "e\u0301mail", "\u9001\u4fe1", "\U0001f600", "", "rare", " x "]
    fit = pd.DataFrame(
        {
            "channel": [*rng.choice(pool[:6], 400).tolist(), "rare"],
            "queue": rng.choice(["a", "b"], 401).tolist(),
        },
        dtype="str",
    )
    encoder = OrdinalEncoder(
        handle_unknown="use_encoded_value",
        unknown_value=-1,
        encoded_missing_value=-1,
        min_frequency=3,
        max_categories=250,
    ).fit(fit)
    frame = pd.DataFrame(
        {
            "channel": rng.choice([*pool, "never seen", "\u200dz"], 5_000).tolist(),
            "queue": rng.choice(["b", "a", "c"], 5_000).tolist(),
        },
        dtype="str",
    )
    expected = np.asarray(encoder.transform(frame), float)
    found = encoded_by_distinct_values(encoder, frame)
    assert found.dtype == np.float64
    np.testing.assert_array_equal(found, expected)
    assert set(np.unique(found[:, 0])) >= {-1.0, 0.0}  # unknown and known values both seen
    with_missing = frame.copy()
    with_missing.loc[7, "queue"] = None
    np.testing.assert_array_equal(
        encoded_by_distinct_values(encoder, with_missing),
        np.asarray(encoder.transform(with_missing), float),
    )


#: Floats whose printing is a close call: halves of the last decimal exactly representable
#: (0.125, 0.25 at one decimal, 2.5), their neighbours one unit in the last place away, and
#: decimal ties that are stored a hair off (0.35, 2.675, 1.005), beside any float at all.
_CLOSE_CALLS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.builds(lambda m, e: m / 2.0**e, st.integers(-(10**6), 10**6), st.integers(0, 12)),
    st.builds(
        lambda k, d, step: float(np.nextafter((k + 0.5) / 10.0**d, step)),
        st.integers(-(10**7), 10**7),
        st.integers(1, 4),
        st.sampled_from([-np.inf, 0.0, np.inf]),
    ),
    st.builds(lambda k, d: (k + 0.5) / 10.0**d, st.integers(-(10**7), 10**7), st.integers(1, 4)),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_CLOSE_CALLS, min_size=1, max_size=40), st.integers(1, 4))
@example([0.25, 0.35, 2.675, 0.125, 0.375, -0.001, -0.0, 0.0, 1.005, 2.5], 1)
@example([0.25, 0.35, 2.675, 0.125, 0.375, -0.001, -0.0, 0.0, 1.005, 2.5], 2)
@example([float("nan"), float("inf"), float("-inf"), 1e300, 5e-324, 2.0**52 + 0.5], 2)
def test_effects_print_as_python_prints_them(values: list[float], decimals: int) -> None:
    """The vectorised printing of the reasons' effects gives Python's own string for every
    float, ties rounded to even on the binary value as ``format`` rounds them."""
    found = signed_fixed_point(np.asarray(values), decimals, " (", ")")
    assert found.tolist() == [f" ({format(v, f'+.{decimals}f')})" for v in values]
