"""Text features shared by every model design, and the cache that shares them.

:class:`TextVectors` turns one text column into word (and optionally character) TF-IDF
columns plus a "no comment" indicator. It learns its vocabulary from the rows that have text
only, so labelled rows without text (a facts-only export) change nothing in it.

Several designs are compared on the same folds during training (``models/select.py``), and
each design fits text vectorisers on the same rows: inside :func:`shared_text_features`, a
vectoriser fitted on texts already seen in this training run is reused, and so is the matrix
it made of them. Vectorising is label-free, so reusing it across designs leaks nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer

from models.native_text import NativeTfidfVectorizer

#: Name of the indicator column that is 1 for a row without text (see ``explain._readable``).
NO_TEXT = "empty__no comment"

_CACHE: ContextVar[dict[tuple[Any, ...], Any] | None] = ContextVar("text_cache", default=None)


@contextmanager
def shared_text_features() -> Iterator[None]:
    """Within this block, identical text vectorisers fitted on identical texts are fitted
    once, and their matrices of identical texts computed once. Cleared on exit."""
    token = _CACHE.set({})
    try:
        yield
    finally:
        _CACHE.reset(token)


def _texts_key(texts: np.ndarray) -> str:
    """A digest of the texts, in order (identical rows give the identical key)."""
    digest = hashlib.blake2b(digest_size=16)
    for text in texts.tolist():
        digest.update(text.encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
    return f"{len(texts)}:{digest.hexdigest()}"


def _as_texts(x: Any) -> np.ndarray:
    """One column of text (a frame with one column, a Series or an array) as ``str``s."""
    if isinstance(x, pd.DataFrame):
        x = x.iloc[:, 0]
    values = pd.Series(np.asarray(x, dtype=object).ravel()).fillna("").astype(str)
    return np.asarray(values.to_numpy(), dtype=object)


def _lengths(texts: np.ndarray) -> np.ndarray:
    return np.fromiter((len(text) for text in texts), dtype=np.int64, count=len(texts))


class TextVectors(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Word 1-2-gram TF-IDF, optionally character 3-5-gram TF-IDF, and a 0/1 "no comment"
    column, as one sparse matrix (rows in input order).

    Input: one column of text (missing = empty). The vocabularies and document frequencies
    come from the non-empty texts only. Output columns are named ``words__<term>``,
    ``chars__<fragment>`` and :data:`NO_TEXT`.
    """

    def __init__(self, char_ngrams: bool = False, max_words: int = 50_000) -> None:
        self.char_ngrams = char_ngrams
        self.max_words = max_words

    def _vectorisers(self) -> list[tuple[str, TfidfVectorizer]]:
        # scikit-learn's TfidfVectorizer (fit, vocabulary, idf) with a native transform: the
        # same features, several times faster to score (models/native_text.py).
        parts: list[tuple[str, TfidfVectorizer]] = [
            (
                "words",
                NativeTfidfVectorizer(
                    ngram_range=(1, 2), min_df=2, max_features=self.max_words, sublinear_tf=True
                ),
            )
        ]
        if self.char_ngrams:
            parts.append(
                (
                    "chars",
                    NativeTfidfVectorizer(
                        analyzer="char_wb",
                        ngram_range=(3, 5),
                        min_df=3,
                        max_features=60_000,
                        sublinear_tf=True,
                    ),
                )
            )
        return parts

    def fit(self, x: Any, y: Any = None) -> TextVectors:
        texts = _as_texts(x)
        written = texts[_lengths(texts) > 0]
        cache = _CACHE.get()
        key = ("fit", self.char_ngrams, self.max_words, _texts_key(written))
        if cache is not None and key in cache:
            self.vectorisers_ = cache[key]
        else:
            fitted = []
            for name, vectoriser in self._vectorisers():
                if len(written) < 20:  # a source with almost no text: every term counts
                    vectoriser.set_params(min_df=1)
                fitted.append((name, vectoriser.fit(written if len(written) else [""])))
            self.vectorisers_ = fitted
            if cache is not None:
                cache[key] = fitted
        self.n_features_in_ = 1
        return self

    def transform(self, x: Any) -> sparse.csr_matrix:
        texts = _as_texts(x)
        cache = _CACHE.get()
        # Only training shares matrices: scoring (no cache) does not hash its texts.
        key = None if cache is None else ("transform", id(self.vectorisers_), _texts_key(texts))
        if cache is not None and key in cache:
            return cache[key]  # type: ignore[no-any-return]
        # Each distinct text once: a row's features depend on its text alone, and a day's
        # comments repeat (about half of 50,000 negatives are copies of another).
        codes, distinct = pd.factorize(texts)
        if distinct.size < texts.size:
            matrix = self._vectorised(np.asarray(distinct, dtype=object))[codes]
        else:
            matrix = self._vectorised(texts)
        if cache is not None and key is not None:
            cache[key] = matrix
        return matrix

    def _vectorised(self, texts: np.ndarray) -> sparse.csr_matrix:
        empty = _lengths(texts) == 0
        blocks = [vectoriser.transform(texts) for _, vectoriser in self.vectorisers_]
        blocks.append(sparse.csr_matrix(empty.astype(float)[:, None]))
        return sparse.hstack(blocks, format="csr")

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        names = [
            f"{name}__{term}"
            for name, vectoriser in self.vectorisers_
            for term in vectoriser.get_feature_names_out()
        ]
        return np.asarray([*names, NO_TEXT], dtype=object)

    @property
    def words(self) -> TfidfVectorizer:
        """The fitted word vectoriser."""
        return dict(self.vectorisers_)["words"]


class NaiveBayesWeights(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Scale each column by its naive-Bayes log-count ratio (Wang & Manning 2012, "NB-SVM"):
    ``r = log((a + sum of the column over failures) / |...|_1) - log(... over perceived)``.

    A term that appears mostly in one class is stretched, a term common to both shrinks, so
    the logistic regression after it starts from the evidence each term carries. The last
    column (the "no comment" indicator) is passed through unscaled.
    """

    def __init__(self, alpha: float = 1.0) -> None:
        self.alpha = alpha

    def fit(self, x: sparse.spmatrix, y: Any) -> NaiveBayesWeights:
        x = sparse.csr_matrix(x)
        y = np.asarray(y)
        positive = np.asarray(x[y == 1].sum(axis=0)).ravel() + self.alpha
        negative = np.asarray(x[y == 0].sum(axis=0)).ravel() + self.alpha
        ratio = np.log(positive / positive.sum()) - np.log(negative / negative.sum())
        ratio[-1] = 1.0
        self.ratio_ = ratio
        self.n_features_in_ = x.shape[1]
        return self

    def transform(self, x: sparse.spmatrix) -> sparse.csr_matrix:
        return sparse.csr_matrix(sparse.csr_matrix(x).multiply(self.ratio_[None, :]))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray(input_features, dtype=object)
