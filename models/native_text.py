"""Fitted TF-IDF features computed natively: scikit-learn's vectorisers, tokenised by polars.

:class:`NativeTfidfVectorizer` and :class:`NativeCountVectorizer` are scikit-learn's
``TfidfVectorizer`` and ``CountVectorizer`` with the same parameters, the same ``fit`` and so
the same vocabulary and idf; only ``transform`` differs. scikit-learn tokenises in Python, one
document at a time, on one core; here the documents are lower-cased, accent-stripped,
tokenised and cut into word or character n-grams by polars string expressions, the n-grams
are matched to the fitted vocabulary by a join and counted by a group-by, and the sparse
matrix is built from those counts in one step. The counts then go through the vectoriser's
own ``TfidfTransformer`` (sublinear tf, idf, norm), so the output is the same matrix, value
for value (``tests/model/test_native_text.py`` checks it on random and adversarial text).

Where the two tokenisers could disagree, the row is sent down scikit-learn's own path
instead. Python's ``re`` and polars' Rust regex engine read ``\\w`` and ``\\s`` from
different Unicode tables (combining marks and zero-width joiners are word characters in
Rust, not in Python; the control separators U+001C-U+001F are whitespace in Python, not in
Rust; superscript digits the other way round), and a lower-cased or accent-stripped character
can become one of those. Rather than a list that could go stale with either library, every
distinct character the documents hold is put to both engines (once per process): a row with
a character on which they disagree goes the exact way; so does a capital sigma (its lower
case depends on the letters around it). Which configurations run natively is
:func:`native_supported`; any other (a custom analyzer, tokenizer or preprocessor, an unusual
token pattern, file input) is scikit-learn's ``transform`` unchanged.

Large inputs are cut into pieces of at most :data:`CHUNK_CHARS` characters, which bounds the
memory character n-grams take (a 100-character comment makes about 300 of them), and pieces
are collected two at a time so both cores tokenise.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from itertools import pairwise
from typing import Any

import numpy as np
import polars as pl
from scipy import sparse
from sklearn import get_config
from sklearn.feature_extraction.text import (
    CountVectorizer,
    TfidfVectorizer,
    strip_accents_ascii,
    strip_accents_unicode,
)

#: Token patterns that mean the same in both engines once ``\\w`` does (the default first).
NATIVE_TOKEN_PATTERNS = frozenset(
    {r"(?u)\b\w\w+\b", r"\b\w\w+\b", r"(?u)\b\w+\b", r"\b\w+\b", r"(?u)\w\w+", r"\w\w+"}
)
#: Characters of input in one piece: bounds the memory of character n-grams (about 50 bytes
#: per n-gram while they are matched; 3 n-gram lengths per character).
CHUNK_CHARS = 4_000_000
#: Pieces tokenised at once (polars runs them on its thread pool: both cores here).
PARALLEL_PIECES = 2
#: Below this many documents one piece is quicker than several.
MIN_ROWS_TO_SPLIT = 20_000
#: Lower case that depends on the neighbouring letters (final sigma): always the exact path.
_CONTEXTUAL_LOWER = frozenset({"\u03a3"})
_PY_WORD = re.compile(r"\w")


def native_supported(vectorizer: CountVectorizer) -> bool:
    """Whether ``vectorizer``'s configuration can be transformed natively (else scikit-learn
    transforms it): content input, a built-in analyzer (word, char, char_wb), no custom
    preprocessor or tokenizer, built-in or no accent stripping, and for words a token pattern
    in :data:`NATIVE_TOKEN_PATTERNS`."""
    v = vectorizer
    if v.input != "content" or v.preprocessor is not None or v.tokenizer is not None:
        return False
    if v.strip_accents not in (None, False, "ascii", "unicode"):
        return False
    if v.analyzer in ("char", "char_wb"):
        return True
    return v.analyzer == "word" and v.token_pattern in NATIVE_TOKEN_PATTERNS


def _as_text_series(raw_documents: Any) -> pl.Series | None:
    """The documents as a polars String column, or None when they are not all ``str`` (then
    scikit-learn's path runs, and raises as it would)."""
    if isinstance(raw_documents, str):
        return None
    if isinstance(raw_documents, pl.Series):
        values = raw_documents
    else:
        try:
            to_numpy = getattr(raw_documents, "to_numpy", None)
            items = to_numpy() if callable(to_numpy) else raw_documents
            if not isinstance(items, np.ndarray):
                items = list(items) if isinstance(items, Iterable) else None
            if items is None:
                return None
            values = pl.Series("text", items, dtype=pl.String, strict=True)
        except (TypeError, ValueError, pl.exceptions.PolarsError, UnicodeError):
            return None
    if values.dtype != pl.String or values.null_count():
        return None
    return values.rename("text")


@cache
def _char_verdict(char: str, lowercase: bool, strip_accents: str | None) -> tuple[bool, str]:
    """(whether ``char``'s lower case is free of context, what scikit-learn's preprocessing
    makes of it). Lower-casing and accent stripping work character by character (NFKD
    decomposes each on its own; the marks it reorders are the ones stripping removes), so
    the per-character result is the per-document one."""
    lowered = char.lower() if lowercase else char
    if strip_accents == "unicode":
        stripped = strip_accents_unicode(lowered)
    elif strip_accents == "ascii":
        stripped = strip_accents_ascii(lowered)
    else:
        stripped = lowered
    return char not in _CONTEXTUAL_LOWER or not lowercase, stripped


def _python_classes(text: str) -> tuple[tuple[bool, bool], ...]:
    return tuple((_PY_WORD.fullmatch(c) is not None, c.isspace()) for c in text)


def _polars_classes(texts: list[str]) -> list[tuple[tuple[bool, bool], ...]]:
    """Each character of each text: (a ``\\w`` character, a ``\\s`` character) to polars."""
    chars = pl.Series("c", [c for text in texts for c in text], dtype=pl.String)
    word = chars.str.contains(r"^\w$").to_list()
    space = chars.str.contains(r"^\s$").to_list()
    out, at = [], 0
    for text in texts:
        out.append(tuple(zip(word[at : at + len(text)], space[at : at + len(text)], strict=True)))
        at += len(text)
    return out


@cache
def _ascii_unsafe() -> frozenset[str]:
    """ASCII characters the engines classify differently (U+001C-U+001F: whitespace to
    Python, not to Rust)."""
    chars = [chr(i) for i in range(128)]
    return frozenset(
        c
        for c, theirs in zip(chars, _polars_classes(chars), strict=True)
        if _python_classes(c) != theirs
    )


def _distinct_non_ascii(texts: pl.Series) -> list[str]:
    rows = texts.filter(texts.str.contains(r"[^\x00-\x7F]"))
    if rows.is_empty():
        return []
    found = rows.str.extract_all(r"[^\x00-\x7F]").explode().drop_nulls().unique()
    return sorted(found.to_list())


def _unsafe_chars(
    chars: list[str], lowercase: bool, strip_accents: str | None
) -> tuple[set[str], dict[str, str]]:
    """The characters (of the original text) whose rows take the exact path, and the accent
    mapping polars applies to the lower-cased text of the others."""
    unsafe = set(_ascii_unsafe())
    if not chars:
        return unsafe, {}
    ours = pl.Series("c", chars, dtype=pl.String)
    rust_lower = (ours.str.to_lowercase() if lowercase else ours).to_list()
    verdicts = [_char_verdict(c, lowercase, strip_accents) for c in chars]
    python_lower = [c.lower() if lowercase else c for c in chars]
    finals = [stripped for _, stripped in verdicts]
    theirs = _polars_classes(finals)
    mapping: dict[str, str] = {}
    for char, low, rust, (ok, final), classes in zip(
        chars, python_lower, rust_lower, verdicts, theirs, strict=True
    ):
        if not ok or low != rust or _python_classes(final) != classes:
            unsafe.add(char)
            continue
        if strip_accents and low != final:
            for piece in low:
                if not piece.isascii():
                    mapping[piece] = _char_verdict(piece, False, strip_accents)[1]
    return unsafe, mapping


def _preprocessed(texts: pl.Expr, lowercase: bool, mapping: dict[str, str]) -> pl.Expr:
    if lowercase:
        texts = texts.str.to_lowercase()
    if mapping:
        keys = sorted(mapping)
        texts = texts.str.replace_many(keys, [mapping[k] for k in keys])
    return texts


@dataclass(frozen=True)
class _WordTables:
    """A word vocabulary as numbers: every token its terms contain gets an id from 1, and an
    n-gram of tokens ``t1 .. tn`` the key ``t1 * base^(n-1) + ... + tn``; ``columns[n]``
    maps the keys of the vocabulary's n-grams to their columns."""

    tokens: pl.Series
    ids: pl.Series
    base: int
    columns: dict[int, pl.LazyFrame]


def _word_tables(vectorizer: CountVectorizer) -> _WordTables | None:
    """The vocabulary's tables, or None when its keys would not fit in 64 bits."""
    terms = pl.DataFrame(
        {
            "term": pl.Series(list(vectorizer.vocabulary_.keys()), dtype=pl.String),
            "column": pl.Series(list(vectorizer.vocabulary_.values()), dtype=pl.UInt32),
        }
    ).with_columns(pl.col("term").str.split(" ").alias("token"))
    low, high = vectorizer.ngram_range
    # Only n-grams the analyzer can produce (a fixed vocabulary may hold others).
    parts = (
        terms.with_columns(pl.col("token").list.len().alias("n"))
        .filter(pl.col("n").is_between(low, high))
        .explode("token")
    )
    tokens = parts.get_column("token").unique(maintain_order=True)
    base = tokens.len() + 1
    if base**high >= 2**63:
        return None
    ids = pl.Series("id", np.arange(1, base, dtype=np.uint64))
    position = pl.int_range(pl.len()).over("term")
    keyed = (
        parts.with_columns(
            pl.col("token").replace_strict(tokens, ids, return_dtype=pl.UInt64).alias("id"),
            position.alias("at"),
        )
        .group_by("term", "column", "n")
        .agg((pl.col("id") * pl.lit(base, pl.UInt64).pow(pl.col("n") - 1 - pl.col("at"))).sum())
        .rename({"id": "key"})
    )
    columns = {int(n): group.select("key", "column").lazy() for (n,), group in keyed.group_by("n")}
    return _WordTables(tokens, ids, base, columns)


def _word_columns(
    frame: pl.LazyFrame, text: pl.Expr, vectorizer: CountVectorizer, tables: _WordTables
) -> pl.LazyFrame:
    """(row, column) for every in-vocabulary word n-gram of every row, as scikit-learn's
    ``_word_ngrams``: tokens found by the token pattern, stop words removed, then n-grams
    of consecutive tokens (matched by their keys, not by joining strings)."""
    tokens = frame.select(
        "row", text.str.extract_all(vectorizer.token_pattern).alias("token")
    ).explode("token")
    tokens = tokens.filter(pl.col("token").is_not_null())
    stop_words = vectorizer.get_stop_words()
    if stop_words:
        tokens = tokens.filter(~pl.col("token").is_in(list(stop_words)))
    # A token no vocabulary term contains gets no id: no n-gram with it is in the vocabulary.
    ids = tokens.select(
        "row",
        pl.col("token")
        .replace_strict(tables.tokens, tables.ids, default=None, return_dtype=pl.UInt64)
        .alias("id"),
    )
    low, high = vectorizer.ngram_range
    parts = []
    for n in range(low, high + 1):
        if n not in tables.columns:
            continue
        key = pl.lit(0, pl.UInt64)
        for k in range(n):
            key = key * tables.base + pl.col("id").shift(-k)
        same_row = pl.col("row").shift(-(n - 1)) == pl.col("row")
        keys = ids.select("row", key.alias("key"), same_row.alias("keep")).filter(
            pl.col("keep") & pl.col("key").is_not_null()
        )
        parts.append(keys.join(tables.columns[n], on="key", how="inner").select("row", "column"))
    if not parts:
        return pl.LazyFrame(schema={"row": pl.UInt32, "column": pl.UInt32})
    return pl.concat(parts)


def _char_terms(frame: pl.LazyFrame, text: pl.Expr, vectorizer: CountVectorizer) -> pl.LazyFrame:
    """(row, term) for every character n-gram, as scikit-learn's ``_char_ngrams`` (over the
    text, runs of whitespace made one space) or ``_char_wb_ngrams`` (over each
    whitespace-separated word padded with a space either side; a word shorter than the
    smallest n counts once, whole)."""
    low, high = vectorizer.ngram_range
    if vectorizer.analyzer == "char":
        pieces = frame.select("row", text.str.replace_all(r"\s\s+", " ").alias("piece"))
    else:
        pieces = (
            frame.select("row", text.str.extract_all(r"\S+").alias("piece"))
            .explode("piece")
            .filter(pl.col("piece").is_not_null())
            .select("row", pl.concat_str([pl.lit(" "), "piece", pl.lit(" ")]).alias("piece"))
        )
    pieces = pieces.with_columns(pl.col("piece").str.len_chars().alias("length"))
    parts = []
    for n in range(low, high + 1):
        parts.append(
            pieces.filter(pl.col("length") >= n)
            .select("row", "piece", pl.int_ranges(0, pl.col("length") - n + 1).alias("at"))
            .explode("at")
            .select("row", pl.col("piece").str.slice(pl.col("at"), n).alias("term"))
        )
    if vectorizer.analyzer == "char_wb":
        parts.append(
            pieces.filter(pl.col("length") < low).select("row", pl.col("piece").alias("term"))
        )
    return pl.concat(parts)


_Vocabulary = _WordTables | pl.LazyFrame
_TABLES: weakref.WeakKeyDictionary[CountVectorizer, tuple[int, _Vocabulary | None]] = (
    weakref.WeakKeyDictionary()
)


def _vocabulary(vectorizer: CountVectorizer) -> _Vocabulary | None:
    """The fitted vocabulary as tables to join on (words: :class:`_WordTables`; character
    n-grams: (term, column)), built once per vocabulary; None if words do not fit keys."""
    cached = _TABLES.get(vectorizer)
    if cached is not None and cached[0] == id(vectorizer.vocabulary_):
        return cached[1]
    tables: _Vocabulary | None
    if vectorizer.analyzer == "word":
        tables = _word_tables(vectorizer)
    else:
        vocabulary = vectorizer.vocabulary_
        tables = pl.LazyFrame(
            {
                "term": pl.Series(list(vocabulary.keys()), dtype=pl.String),
                "column": pl.Series(list(vocabulary.values()), dtype=pl.UInt32),
            }
        )
    _TABLES[vectorizer] = (id(vectorizer.vocabulary_), tables)
    return tables


def _count_query(
    texts: pl.Series,
    vectorizer: CountVectorizer,
    vocabulary: _Vocabulary,
    mapping: dict[str, str],
) -> pl.LazyFrame:
    """(row, column, count) of one piece's in-vocabulary n-grams, sorted by row and column."""
    frame = pl.LazyFrame({"text": texts}).with_row_index("row")
    text = _preprocessed(pl.col("text"), bool(vectorizer.lowercase), mapping)
    if isinstance(vocabulary, _WordTables):
        found = _word_columns(frame, text, vectorizer, vocabulary)
    else:
        terms = _char_terms(frame, text, vectorizer)
        found = terms.join(vocabulary, on="term", how="inner")
    # One sort of a 64-bit key instead of a group-by: equal (row, column) pairs end up next
    # to each other, in CSR order, and are counted by their run lengths.
    width = len(vectorizer.vocabulary_)
    key = pl.col("row").cast(pl.UInt64) * width + pl.col("column")
    runs = found.select(key.sort().rle().alias("run")).unnest("run")
    return runs.select(
        (pl.col("value") // width).cast(pl.Int64).alias("row"),
        (pl.col("value") % width).cast(pl.Int32).alias("column"),
        pl.col("len").cast(pl.Float64).alias("count"),
    )


def _pieces(lengths: np.ndarray) -> list[tuple[int, int]]:
    """Row ranges ``[start, stop)`` of at most :data:`CHUNK_CHARS` characters (a longer row
    alone), at least :data:`PARALLEL_PIECES` of them when there are many rows."""
    n = lengths.size
    if n == 0:
        return []
    total = int(lengths.sum())
    budget = CHUNK_CHARS
    if n >= MIN_ROWS_TO_SPLIT:
        budget = min(budget, max(1, -(-total // PARALLEL_PIECES)))
    ends = np.cumsum(lengths)
    bounds = [0]
    while bounds[-1] < n:
        start = bounds[-1]
        limit = (ends[start - 1] if start else 0) + budget
        stop = int(np.searchsorted(ends, limit, side="right"))
        bounds.append(max(stop, start + 1))
    return list(pairwise(bounds))


def exact_rows_and_accents(
    vectorizer: CountVectorizer, texts: pl.Series
) -> tuple[np.ndarray, dict[str, str]]:
    """Which rows of ``texts`` scikit-learn must tokenise itself (a boolean mask: the row
    holds a character the two regex engines or lower-casings treat differently), and the
    accent mapping (character -> replacement) polars applies to the lower-cased text of the
    others."""
    strip = vectorizer.strip_accents or None
    unsafe, mapping = _unsafe_chars(_distinct_non_ascii(texts), bool(vectorizer.lowercase), strip)
    if not unsafe:
        return np.zeros(texts.len(), dtype=bool), mapping
    return texts.str.contains_any(sorted(unsafe)).to_numpy(), mapping


def native_counts(vectorizer: CountVectorizer, raw_documents: Any) -> sparse.csr_array | None:
    """The document-term count matrix of a fitted vectoriser (``CountVectorizer.transform``
    before ``binary``), computed natively; None when the configuration or the input is not
    one :func:`native_supported` handles (the caller then uses scikit-learn's path).

    Rows in input order; columns the fitted vocabulary's; values of ``vectorizer.dtype``;
    CSR with sorted indices, as scikit-learn builds it.
    """
    if not native_supported(vectorizer):
        return None
    texts = _as_text_series(raw_documents)
    if texts is None:
        return None
    vectorizer._check_vocabulary()
    vocabulary = _vocabulary(vectorizer)
    if vocabulary is None:
        return None
    exact_mask, mapping = exact_rows_and_accents(vectorizer, texts)
    native_rows = np.flatnonzero(~exact_mask)
    exact_rows = np.flatnonzero(exact_mask)
    native_texts = texts if exact_rows.size == 0 else texts.gather(native_rows)
    matrix = _native_matrix(vectorizer, native_texts, vocabulary, mapping)
    if exact_rows.size:
        documents = texts.gather(exact_rows).to_list()
        exact = sparse.csr_array(CountVectorizer._count_vocab(vectorizer, documents, True)[1])
        stacked = sparse.csr_array(sparse.vstack([matrix, exact], format="csr"))
        order = np.argsort(np.concatenate([native_rows, exact_rows]), kind="stable")
        matrix = sparse.csr_array(stacked[order])
        matrix.sort_indices()
    return matrix


def _native_matrix(
    vectorizer: CountVectorizer,
    texts: pl.Series,
    vocabulary: _Vocabulary,
    mapping: dict[str, str],
) -> sparse.csr_array:
    n = texts.len()
    lengths = texts.str.len_chars().to_numpy()
    rows: list[np.ndarray] = []
    columns: list[np.ndarray] = []
    counts: list[np.ndarray] = []
    pieces = _pieces(lengths)
    for at in range(0, len(pieces), PARALLEL_PIECES):
        batch = pieces[at : at + PARALLEL_PIECES]
        queries = [
            _count_query(texts.slice(start, stop - start), vectorizer, vocabulary, mapping)
            for start, stop in batch
        ]
        for (start, _), found in zip(
            batch, pl.collect_all(queries, engine="in-memory"), strict=True
        ):
            rows.append(found.get_column("row").to_numpy() + start)
            columns.append(found.get_column("column").to_numpy())
            counts.append(found.get_column("count").to_numpy(writable=True))
    row = _joined(rows, np.int64)
    index_dtype = np.int32 if row.size <= np.iinfo(np.int32).max else np.int64
    indptr = np.zeros(n + 1, dtype=index_dtype)
    np.cumsum(np.bincount(row, minlength=n), out=indptr[1:])
    indices = _joined(columns, np.int32).astype(index_dtype, copy=False)
    data = _joined(counts, np.float64).astype(vectorizer.dtype, copy=False)
    matrix = sparse.csr_array((data, indices, indptr), shape=(n, len(vectorizer.vocabulary_)))
    matrix.has_sorted_indices = True
    return matrix


def _joined(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    if not parts:
        return np.empty(0, dtype=dtype)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _interface(matrix: sparse.csr_array) -> sparse.csr_array | sparse.csr_matrix:
    """The sparse container scikit-learn's configuration asks for (array or matrix)."""
    if get_config().get("sparse_interface", "spmatrix") == "sparray":
        return matrix
    return sparse.csr_matrix(matrix)


#: The state keys that stand in for a saved ``vocabulary_`` (:class:`_CompactVocabulary`):
#: the terms' text one after another, as UTF-8 bytes; where each term ends, in characters;
#: each term's column.
_TEXT, _ENDS, _COLUMNS = "_vocabulary_text", "_vocabulary_ends", "_vocabulary_columns"
#: The first layout of those arrays (fixed-width terms), read for a model saved with it.
_FIXED_WIDTH_TERMS = "_vocabulary_terms"


class _CompactVocabulary:
    """Saves the fitted vocabulary as three arrays (its terms' text as one UTF-8 buffer,
    where each term ends, and their columns) instead of a dict, and makes the dict again on
    load.

    skops writes a dict one node per entry, and a NumPy integer (scikit-learn's vocabulary
    values) as a ``.npy`` file of its own inside the model's zip: a 4,261-term vocabulary was
    4,261 files, and loading them (a NumPy header parsed per file) was most of the
    champion's 0.2-0.3 s load. A model at :class:`~models.features.TextVectors`' limits
    (50,000 words, 60,000 character n-grams) would be 110,000 of them. Three arrays are three
    files whatever the vocabulary's size, loaded without ``allow_pickle``, and the buffer
    grows with the terms' total length (a fixed-width array grew with the longest term: one
    3,000-character token made a 242 MB file). A model saved before this (the dict in its
    state) loads as it was saved.
    """

    def __getstate__(self) -> dict[str, Any]:
        # A copy: the default state is the instance's own ``__dict__``.
        inherited: dict[str, Any] = super().__getstate__()  # type: ignore[misc,assignment]
        state = dict(inherited)
        vocabulary = state.pop("vocabulary_", None)
        if vocabulary is not None:
            terms = list(vocabulary)
            state[_TEXT] = np.frombuffer("".join(terms).encode("utf-8"), dtype=np.uint8)
            state[_ENDS] = np.cumsum(np.fromiter(map(len, terms), np.int64, len(terms)))
            state[_COLUMNS] = np.fromiter(vocabulary.values(), np.int64, len(vocabulary))
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        if _TEXT in state:
            text = state.pop(_TEXT).tobytes().decode("utf-8")
            ends = state.pop(_ENDS).tolist()
            terms = [text[start:end] for start, end in zip([0, *ends[:-1]], ends, strict=True)]
        elif _FIXED_WIDTH_TERMS in state:
            terms = state.pop(_FIXED_WIDTH_TERMS).tolist()
        else:
            terms = None
        if terms is not None:
            columns = state.pop(_COLUMNS).tolist()
            # scikit-learn's own vocabulary holds NumPy integers; Python's index the same.
            state["vocabulary_"] = dict(zip(terms, columns, strict=True))
        super().__setstate__(state)  # type: ignore[misc]


class NativeCountVectorizer(_CompactVocabulary, CountVectorizer):  # type: ignore[misc]
    """``CountVectorizer`` whose ``transform`` is computed natively (see the module's
    docstring); parameters, ``fit`` and vocabulary are scikit-learn's."""

    def transform(self, raw_documents: Any) -> Any:
        """Document-term counts, equal to ``CountVectorizer.transform``."""
        counts = native_counts(self, raw_documents)
        if counts is None:
            return super().transform(raw_documents)
        if self.binary:
            counts.data.fill(1)
        return _interface(counts)


class NativeTfidfVectorizer(_CompactVocabulary, TfidfVectorizer):  # type: ignore[misc]
    """``TfidfVectorizer`` whose ``transform`` is computed natively (see the module's
    docstring); parameters, ``fit``, vocabulary and idf are scikit-learn's."""

    def transform(self, raw_documents: Any) -> Any:
        """TF-IDF features, equal to ``TfidfVectorizer.transform`` (the counts are native;
        sublinear tf, idf and norm are the fitted ``TfidfTransformer``'s own)."""
        counts = native_counts(self, raw_documents)
        if counts is None:
            return super().transform(raw_documents)
        if self.binary:
            counts.data.fill(1)
        return self._tfidf.transform(counts, copy=False)


def native_twin(vectorizer: CountVectorizer) -> CountVectorizer:
    """A fitted vectoriser's native twin: the same parameters and fitted state (vocabulary,
    idf), with the native ``transform``. A ``TfidfVectorizer`` gives a
    :class:`NativeTfidfVectorizer`, a ``CountVectorizer`` a :class:`NativeCountVectorizer`;
    a native one is returned as it is."""
    if isinstance(vectorizer, NativeTfidfVectorizer | NativeCountVectorizer):
        return vectorizer
    kind = (
        NativeTfidfVectorizer if isinstance(vectorizer, TfidfVectorizer) else NativeCountVectorizer
    )
    twin = kind.__new__(kind)
    twin.__dict__.update(vectorizer.__dict__)
    return twin


def stock_twin(vectorizer: CountVectorizer) -> CountVectorizer:
    """The scikit-learn vectoriser a native one is the twin of (same parameters and fitted
    state, scikit-learn's own ``transform``); any other vectoriser is returned as it is."""
    if not isinstance(vectorizer, NativeTfidfVectorizer | NativeCountVectorizer):
        return vectorizer
    kind = TfidfVectorizer if isinstance(vectorizer, TfidfVectorizer) else CountVectorizer
    twin = kind.__new__(kind)
    twin.__dict__.update(vectorizer.__dict__)
    return twin


def with_native_vectorizers(model: Any) -> int:
    """Replace, inside a fitted model, every plain ``TfidfVectorizer`` / ``CountVectorizer``
    by its :func:`native_twin`; return how many were replaced.

    Walks the model's fitted attributes (Pipeline steps, ColumnTransformer and FeatureUnion
    parts, wrapped models such as ``TextThenFacts.text_model_``, lists and dicts of them),
    so a model saved before the native vectorisers existed scores at native speed with the
    same output.
    """
    return _replace_vectorizers(model, (TfidfVectorizer, CountVectorizer), native_twin)


def with_stock_vectorizers(model: Any) -> int:
    """The reverse of :func:`with_native_vectorizers`: every native vectoriser inside a
    fitted model becomes scikit-learn's own (:func:`stock_twin`); returns how many. For
    references that must score as a plain scikit-learn user would (``benchmarks/``)."""
    return _replace_vectorizers(model, (NativeTfidfVectorizer, NativeCountVectorizer), stock_twin)


def prepare_vocabularies(model: Any) -> int:
    """Build now, for every native vectoriser inside ``model`` (walked as
    :func:`with_native_vectorizers` walks it), the vocabulary tables its first ``transform``
    would build (0.015 s for the bench's model); return how many vectorisers there are. For
    a caller that loads a model ahead of scoring, on a thread beside other work."""

    def prepare(vectorizer: CountVectorizer) -> CountVectorizer:
        _vocabulary(vectorizer)
        return vectorizer

    return _replace_vectorizers(model, (NativeTfidfVectorizer, NativeCountVectorizer), prepare)


def _replace_vectorizers(
    model: Any, kinds: tuple[type, ...], twin: Callable[[CountVectorizer], CountVectorizer]
) -> int:
    seen: set[int] = set()

    def swap(value: Any) -> tuple[Any, int]:
        if type(value) in kinds:
            return twin(value), 1
        if id(value) in seen:
            return value, 0
        seen.add(id(value))
        if isinstance(value, list):
            replaced = 0
            for i, item in enumerate(value):
                value[i], n = swap(item)
                replaced += n
            return value, replaced
        if isinstance(value, tuple):
            items = [swap(item) for item in value]
            if not any(n for _, n in items):
                return value, 0
            return type(value)(item for item, _ in items), sum(n for _, n in items)
        if isinstance(value, dict):
            replaced = 0
            for key in list(value):
                value[key], n = swap(value[key])
                replaced += n
            return value, replaced
        if hasattr(value, "get_params") and hasattr(value, "__dict__"):
            replaced = 0
            for key, item in list(vars(value).items()):
                new, n = swap(item)
                if n:
                    setattr(value, key, new)
                    replaced += n
            return value, replaced
        return value, 0

    return swap(model)[1]
