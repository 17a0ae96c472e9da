"""The native TF-IDF transform equals scikit-learn's, value for value, on any text.

Each vectoriser is fitted by scikit-learn on the documents it then transforms (so every token
and n-gram of the adversarial text is in the vocabulary, the hardest case), and the native
twin's output is compared with ``TfidfVectorizer.transform`` / ``CountVectorizer.transform``:
the same sparsity pattern and values within 1e-12.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest
import sklearn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import sparse
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.pipeline import Pipeline

from models import native_text
from models.features import TextVectors
from models.native_text import (
    NativeCountVectorizer,
    NativeTfidfVectorizer,
    exact_rows_and_accents,
    native_counts,
    native_twin,
    with_native_vectorizers,
    with_stock_vectorizers,
)

#: The configurations the models use, and the others the transformer claims to support.
CONFIGURATIONS: list[dict[str, object]] = [
    {"ngram_range": (1, 2), "sublinear_tf": True},  # the survey model's words
    {"analyzer": "char_wb", "ngram_range": (3, 5), "sublinear_tf": True},  # its characters
    {"analyzer": "char", "ngram_range": (1, 3)},
    {"analyzer": "char_wb", "ngram_range": (5, 6), "lowercase": False},
    {"ngram_range": (1, 3), "stop_words": "english", "strip_accents": "unicode"},
    {"analyzer": "char_wb", "ngram_range": (2, 3), "strip_accents": "ascii"},
    {"token_pattern": r"(?u)\b\w+\b", "norm": "l1", "use_idf": False, "binary": True},
    {"ngram_range": (2, 2), "lowercase": False, "smooth_idf": False, "norm": None},
]

ADVERSARIAL = [
    "",
    " ",
    "\t\n  \r\n",
    "The fee was charged twice, outside the 14-day window!",
    "café naïve résumé Ünïcode ß straße ﬁnance Ǆemal",  # precomposed, ligature, titlecase
    "cafe\u0301 nai\u0308ve",  # combining marks: word characters to Rust, not to Python
    "अनुच्छेद हिन्दी",  # Devanagari vowel signs (marks)
    "emoji 😀😀 👩\u200d👩\u200d👧 family",  # zero-width joiner
    "sep\x1cfile\x1dgroup\x1erecord\x1funit",  # whitespace to Python only
    "ΟΔΟΣ ΣΟΦΟΣ Σ",  # final sigma
    "İstanbul KELVIN \u212a \u0130",  # lower case longer than the capital
    "x\u00b2 \u00bd \u2167 \u2460",  # superscript, fraction, roman numeral, circled digit
    "snake_case und\u203ftie \uff3fwide",  # connector punctuation
    "nbsp\u00a0here next\u0085line\u2028sep\u3000ideographic",
    "日本語のテキスト 中文 한국어",
    "مرحبا بالعالم",
    "a" * 5000 + " " + "word " * 2000,  # very long
    "\x00nul\x07bell\x7fdel",
    "ALL CAPS Mixed Case 123 4567 3.14",
]


#: TF-IDF settings a CountVectorizer does not take.
_TFIDF_ONLY = ("norm", "use_idf", "smooth_idf", "sublinear_tf")


def _fitted(kind: type[CountVectorizer], config: dict[str, object], docs: list[str]) -> Any:
    if kind is CountVectorizer:
        config = {k: v for k, v in config.items() if k not in _TFIDF_ONLY}
    vectoriser = kind(**config)
    try:
        return vectoriser.fit(docs)
    except ValueError:  # every document only stop words or too short: nothing to compare
        return None


def assert_same_matrix(expected: sparse.spmatrix, actual: sparse.spmatrix) -> None:
    expected, actual = sparse.csr_matrix(expected), sparse.csr_matrix(actual)
    assert expected.shape == actual.shape
    assert actual.has_sorted_indices == expected.has_sorted_indices
    assert np.array_equal(expected.indptr, actual.indptr)
    assert np.array_equal(expected.indices, actual.indices)
    assert np.allclose(expected.data, actual.data, rtol=0, atol=1e-12)


def assert_native_equals_sklearn(config: dict[str, object], docs: list[str]) -> None:
    for kind in (TfidfVectorizer, CountVectorizer):
        fitted = _fitted(kind, config, docs)
        if fitted is None:
            continue
        expected = fitted.transform(docs)
        twin = native_twin(fitted)
        assert type(twin) is (
            NativeTfidfVectorizer if kind is TfidfVectorizer else NativeCountVectorizer
        )
        for as_given in (docs, pd.Series(docs, dtype=object), pl.Series(docs, dtype=pl.String)):
            actual = twin.transform(as_given)
            assert type(actual) is type(expected)
            assert_same_matrix(expected, actual)


@pytest.mark.parametrize("config", CONFIGURATIONS, ids=str)
def test_adversarial_text_equals_sklearn(config: dict[str, object]) -> None:
    assert_native_equals_sklearn(config, ADVERSARIAL)


@pytest.mark.parametrize("config", CONFIGURATIONS, ids=str)
@given(
    docs=st.lists(
        st.one_of(
            st.text(max_size=80),  # any code point but surrogates
            st.lists(
                st.sampled_from(
                    ["fee", "Fee", "refund", "agent", "café", "Σ", "e\u0301", "😀", "\x1c", "ß"]
                ),
                max_size=12,
            ).map(" ".join),
        ),
        min_size=1,
        max_size=25,
    )
)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_text_equals_sklearn(config: dict[str, object], docs: list[str]) -> None:
    assert_native_equals_sklearn(config, docs)


def test_rows_the_engines_could_read_differently_take_the_exact_path() -> None:
    """Marks, joiners, the control separators, superscripts and capital sigma go to
    scikit-learn; plain, accented (precomposed), CJK and emoji text stays native. Both
    paths in one batch still give scikit-learn's matrix (checked above on ADVERSARIAL)."""
    docs = ADVERSARIAL
    fitted = TfidfVectorizer(ngram_range=(1, 2)).fit(docs)
    exact, _ = exact_rows_and_accents(fitted, pl.Series(docs, dtype=pl.String))
    by_text = dict(zip(docs, exact.tolist(), strict=True))
    for text in (docs[5], docs[6], docs[7], docs[8], docs[9], docs[11], docs[12]):
        assert by_text[text], f"{text!r} should take the exact path"
    for text in (docs[0], docs[3], docs[4], docs[14], docs[15], docs[16], docs[17], docs[18]):
        assert not by_text[text], f"{text!r} should stay native"


def test_only_native_rows_and_only_exact_rows() -> None:
    native_only = [d for d in ADVERSARIAL if d.isascii() and "\x1c" not in d]
    exact_only = ["cafe\u0301 bar\u0301", "ΣΟΦΟΣ Σ", "x\u00b2 y\u00b2", "a\x1cb c\x1fd"]
    for docs in (native_only, exact_only):
        fitted = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4)).fit(docs)
        mask, _ = exact_rows_and_accents(fitted, pl.Series(docs, dtype=pl.String))
        assert mask.all() if docs is exact_only else not mask.any()
        assert_same_matrix(fitted.transform(docs), native_twin(fitted).transform(docs))


def test_many_pieces_are_stitched_in_row_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """Large inputs are cut into pieces of bounded characters (the memory of character
    n-grams) and tokenised two at a time; the rows come back in input order."""
    rng = np.random.default_rng(3)
    words = ["fee", "refund", "agent", "policy", "window", "café", "late", "x\u00b2", "naïve"]
    docs = [" ".join(rng.choice(words, size=rng.integers(0, 30))) for _ in range(3000)]
    monkeypatch.setattr(native_text, "CHUNK_CHARS", 2_000)
    monkeypatch.setattr(native_text, "MIN_ROWS_TO_SPLIT", 100)
    for config in CONFIGURATIONS[:2]:
        fitted = TfidfVectorizer(**config).fit(docs)  # type: ignore[arg-type]
        assert_same_matrix(fitted.transform(docs), native_twin(fitted).transform(docs))
    assert len(native_text._pieces(np.full(3000, 20))) > 10


def test_what_is_not_a_string_is_left_to_sklearn() -> None:
    """Missing values and bytes are scikit-learn's business: same result or same error."""
    fitted = native_twin(TfidfVectorizer().fit(["a fee", "a refund"]))
    assert native_counts(fitted, ["fee", None]) is None
    with pytest.raises(ValueError, match=r"np\.nan is an invalid document"):
        fitted.transform(pd.Series(["fee", np.nan], dtype=object))
    with pytest.raises(ValueError, match="string object received"):
        fitted.transform("a fee")
    by_bytes = native_twin(TfidfVectorizer().fit([b"a fee", b"a refund"]))
    assert_same_matrix(
        TfidfVectorizer().fit([b"a fee", b"a refund"]).transform([b"fee"]),
        by_bytes.transform([b"fee"]),
    )


def test_unsupported_configurations_use_sklearn() -> None:
    docs = ["one fee", "two fees"]
    for config in (
        {"analyzer": lambda d: d.split()},
        {"tokenizer": str.split, "token_pattern": None},
        {"preprocessor": str.upper},
        {"token_pattern": r"(?u)\b[a-z]+\b"},
    ):
        fitted = TfidfVectorizer(**config).fit(docs)  # type: ignore[arg-type]
        assert not native_text.native_supported(fitted)
        assert_same_matrix(fitted.transform(docs), native_twin(fitted).transform(docs))


def test_sparse_interface_follows_sklearn_config() -> None:
    fitted = TfidfVectorizer().fit(["a fee", "a refund"])
    twin = native_twin(fitted)
    with sklearn.config_context(sparse_interface="sparray"):
        assert type(twin.transform(["fee"])) is type(fitted.transform(["fee"]))


def test_empty_input() -> None:
    """No documents: the counts are an empty matrix either way, and TF-IDF refuses it the
    same way (scikit-learn's own transformer does the refusing)."""
    counted = CountVectorizer().fit(["a fee", "a refund"])
    assert_same_matrix(counted.transform([]), native_twin(counted).transform([]))
    fitted = TfidfVectorizer().fit(["a fee", "a refund"])
    for vectoriser in (fitted, native_twin(fitted)):
        with pytest.raises(ValueError, match="0 sample"):
            vectoriser.transform([])


def test_fitting_a_native_vectoriser_is_sklearns_fit() -> None:
    docs = ADVERSARIAL
    plain = TfidfVectorizer(ngram_range=(1, 2), min_df=1).fit(docs)
    native = NativeTfidfVectorizer(ngram_range=(1, 2), min_df=1).fit(docs)
    assert native.vocabulary_ == plain.vocabulary_
    assert np.array_equal(native.idf_, plain.idf_)
    assert_same_matrix(plain.fit_transform(docs), native.fit_transform(docs))
    assert_same_matrix(plain.transform(docs), native.transform(docs))


def test_native_vectoriser_saves_and_loads_as_a_trusted_type(tmp_path: Any) -> None:
    """A Pipeline holding the native vectoriser goes through the model registry's skops
    file and trusted-types check, and transforms the same after loading."""
    from sklearn.linear_model import LogisticRegression

    from models.registry import load_model, save_model

    docs = [d for d in ADVERSARIAL if d.strip()] * 2
    labels = np.arange(len(docs)) % 2
    model = Pipeline(
        [
            ("features", NativeTfidfVectorizer(ngram_range=(1, 2))),
            ("classifier", LogisticRegression()),
        ]
    ).fit(docs, labels)
    save_model(model, tmp_path, "v1", {}, {})
    loaded = load_model(tmp_path, "v1")
    assert isinstance(loaded.named_steps["features"], NativeTfidfVectorizer)
    assert np.array_equal(loaded.predict_proba(docs), model.predict_proba(docs))
    assert_same_matrix(
        TfidfVectorizer(ngram_range=(1, 2)).fit(docs).transform(docs),
        loaded.named_steps["features"].transform(docs),
    )


def test_the_vocabulary_is_saved_as_three_arrays_whatever_its_size(tmp_path: Any) -> None:
    """The saved vocabulary is three members of the model's zip (the terms' text, where
    each ends, their columns), not one per term: the load's time grew with the vocabulary.
    It loads as the same dict."""
    import zipfile

    from sklearn.linear_model import LogisticRegression

    from models.registry import MODEL_FILE, load_model, save_model

    rng = np.random.default_rng(3)
    members = {}
    for version, words in (("small", 40), ("large", 4000)):
        docs = [" ".join(f"w{i}" for i in rng.integers(0, words, 12)) for _ in range(600)]
        model = Pipeline(
            [
                ("features", NativeTfidfVectorizer(ngram_range=(1, 2))),
                ("classifier", LogisticRegression()),
            ]
        ).fit(docs, np.arange(len(docs)) % 2)
        save_model(model, tmp_path, version, {}, {})
        members[version] = len(zipfile.ZipFile(tmp_path / version / MODEL_FILE).namelist())
        loaded = load_model(tmp_path, version)
        fitted = model.named_steps["features"].vocabulary_
        assert loaded.named_steps["features"].vocabulary_ == fitted
        assert len(fitted) > {"small": 500, "large": 5000}[version]
        assert np.array_equal(loaded.predict_proba(docs), model.predict_proba(docs))
    assert members["small"] == members["large"]


def test_a_long_term_costs_its_own_length_and_every_character_comes_back() -> None:
    """One 3,000-character token among short ones: a fixed-width array of the terms made
    every term that long (a 242 MB model file); the buffer holds each term's own text. NUL,
    astral and combining characters survive the round trip (a NumPy string array strips a
    term's trailing NULs)."""
    long_token = "x" * 3000
    odd = "a\x00 b\x00 \U0001f600 e\u0301"
    docs = [f"short words {long_token}", f"more words {long_token}", odd]
    native = NativeTfidfVectorizer(token_pattern=r"(?u)\S+").fit(docs)
    state = native.__getstate__()
    assert "vocabulary_" not in state
    assert sum(a.nbytes for a in state.values() if isinstance(a, np.ndarray)) < 20_000
    loaded = copy.deepcopy(native)
    assert loaded.vocabulary_ == native.vocabulary_
    assert {"a\x00", "b\x00", "\U0001f600", "e\u0301", long_token} <= set(loaded.vocabulary_)
    assert native.vocabulary_  # saving left the fitted vectoriser as it was


def test_a_vocabulary_saved_as_fixed_width_terms_still_loads() -> None:
    """Model format 2 saved the terms as a fixed-width string array; it loads the same."""
    docs = [d for d in ADVERSARIAL if d.strip()]
    plain = TfidfVectorizer(ngram_range=(1, 2)).fit(docs)
    state = plain.__getstate__()
    vocabulary = state.pop("vocabulary_")
    state["_vocabulary_terms"] = np.array(list(vocabulary), dtype=np.str_)
    state["_vocabulary_columns"] = np.array(list(vocabulary.values()), dtype=np.int64)
    native = NativeTfidfVectorizer.__new__(NativeTfidfVectorizer)
    native.__setstate__(state)
    assert native.vocabulary_ == {k.rstrip("\x00"): v for k, v in plain.vocabulary_.items()}


def test_a_vocabulary_saved_as_a_dict_still_loads() -> None:
    """A model saved before the vocabulary was two arrays holds scikit-learn's state, with
    the dict; the native vectoriser takes it as it is."""
    docs = [d for d in ADVERSARIAL if d.strip()]
    plain = TfidfVectorizer(ngram_range=(1, 2)).fit(docs)
    native = NativeTfidfVectorizer.__new__(NativeTfidfVectorizer)
    native.__setstate__(plain.__getstate__())
    assert native.vocabulary_ == plain.vocabulary_
    assert_same_matrix(plain.transform(docs), native.transform(docs))


def _plain_copy(model: Any) -> Any:
    """A deep copy of ``model`` whose native vectorisers are scikit-learn's own again."""
    plain = copy.deepcopy(model)
    assert with_stock_vectorizers(plain) > 0
    return plain


def test_the_model_scores_and_explains_the_same_with_native_text(tmp_path: Any) -> None:
    """The root-cause model (text log-odds + boosted facts, word and character n-grams)
    built with native vectorisers gives the probabilities and reasons a copy with
    scikit-learn's vectorisers gives; a model saved with scikit-learn's vectorisers is
    loaded with native ones (``with_native_vectorizers``) and scores the same."""
    from models.explain import predict_with_reasons
    from models.pipeline import FeatureSpec, build_pipeline

    rng = np.random.default_rng(5)
    words = ["fee", "refund", "agent", "rude", "policy", "window", "naïve", "cafe\u0301", "😀"]
    comments = [" ".join(rng.choice(words, size=rng.integers(0, 12))) for _ in range(120)]
    frame = pd.DataFrame(
        {
            "comment": comments,
            "channel": rng.choice(["phone", "chat", "email"], size=120),
            "wait_seconds": rng.integers(0, 900, size=120).astype(float),
        }
    )
    target = np.asarray([("fee" in c) or ("policy" in c) for c in comments], dtype=np.int8)
    spec = FeatureSpec(
        categorical=("channel",), numeric=("wait_seconds",), char_ngrams=True, boosted_facts=True
    )
    model = build_pipeline(seed=2, spec=spec).fit(frame, target)
    union = model.text_model_.named_steps["features"].named_transformers_["text"]
    assert [type(v) for _, v in union.vectorisers_] == [NativeTfidfVectorizer] * 2
    plain = _plain_copy(model)
    assert [
        type(v)
        for _, v in plain.text_model_.named_steps["features"]
        .named_transformers_["text"]
        .vectorisers_
    ] == [TfidfVectorizer] * 2
    p, reasons = predict_with_reasons(model, frame)
    p_plain, reasons_plain = predict_with_reasons(plain, frame)
    assert np.allclose(p, p_plain, rtol=0, atol=1e-12)
    assert reasons == reasons_plain
    # A model file written before the native transform existed (scikit-learn's vectorisers
    # inside) passes the trusted-types check and loads with native ones.
    from models.registry import load_model, save_model

    save_model(plain, tmp_path, "old", {}, {})
    loaded = load_model(tmp_path, "old")
    text = loaded.text_model_.named_steps["features"].named_transformers_["text"]
    assert [type(v) for _, v in text.vectorisers_] == [NativeTfidfVectorizer] * 2
    assert np.allclose(loaded.predict_proba(frame), plain.predict_proba(frame), rtol=0, atol=1e-12)
    assert with_native_vectorizers(plain) > 0
    upgraded = plain.text_model_.named_steps["features"].named_transformers_["text"]
    assert [type(v) for _, v in upgraded.vectorisers_] == [NativeTfidfVectorizer] * 2
    assert np.allclose(plain.predict_proba(frame), model.predict_proba(frame), rtol=0, atol=1e-12)


@pytest.mark.parametrize("char_ngrams", [False, True])
def test_repeated_texts_get_the_features_each_would_get_alone(char_ngrams: bool) -> None:
    """The text features vectorise each distinct text once and copy its row to the repeats:
    the matrix is the one of transforming each row on its own (empty and missing texts,
    Unicode, emoji and rows down the exact path included)."""
    texts = [ADVERSARIAL[(i * 5) % len(ADVERSARIAL)] for i in range(60)] + [None, None]
    vectors = TextVectors(char_ngrams=char_ngrams).fit(pd.DataFrame({"comment": ADVERSARIAL}))
    frame = pd.DataFrame({"comment": texts})
    alone = sparse.vstack([vectors.transform(frame.iloc[[i]]) for i in range(len(frame))])
    assert_same_matrix(alone, vectors.transform(frame))
    assert pd.Series(texts).duplicated().sum() > 40  # the repeats are there
