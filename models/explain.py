"""Why the model said what it said: each row's largest feature contributions.

For the linear designs ``coefficient * value`` is exactly how much each feature moved the
log-odds of policy_failure for that row (numbers scaled and flags centred on their training
mean, so against a typical row; a number's or a flag's value and "not recorded" indicator
are one reason, named by the row's value); for the blend of a text and a facts model
(:class:`models.stacked.TextFactsBlend`) the same, times the weight its model enters the blend
with. For text log-odds + boosted facts
(:class:`models.stacked.TextThenFacts`) each fact's effect is the change in the final log-odds
when that fact alone is set to its typical value, and the comment's effect, measured against
an empty comment, is one reason named by its strongest phrases. The reasons are the features
that pushed hardest towards the class that was predicted, in words an analyst can read.
"""

from __future__ import annotations

import functools
import itertools
import re
import weakref
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.special import expit
from scipy.special import logit as log_odds
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS
from sklearn.pipeline import Pipeline

from models.native_text import prepare_vocabularies
from models.pipeline import RootCauseModel
from models.stacked import TextFactsBlend, TextThenFacts, one_thread


def _block_names(name: str, transformer: object, columns: list[str]) -> list[str]:
    if isinstance(transformer, Pipeline):
        # The crosses pipeline: its encoder knows the cross names it was fitted on.
        last = transformer.steps[-1][1]
        if hasattr(last, "feature_names_in_"):
            return [str(n) for n in last.get_feature_names_out()]
    names = transformer.get_feature_names_out(columns)  # type: ignore[attr-defined]
    return [str(n) for n in names]


def _raw_names(model: Pipeline) -> list[tuple[str, str]]:
    """``(block, raw name)`` of every column the classifier sees, in order."""
    columns: ColumnTransformer = model.named_steps["features"]
    found: list[tuple[str, str]] = []
    for name, transformer, selected in columns.transformers_:
        if name == "remainder" or transformer == "drop":
            continue
        selected_list = [selected] if isinstance(selected, str) else list(selected)
        found.extend((name, raw) for raw in _block_names(name, transformer, selected_list))
    return found


def feature_names(model: Pipeline) -> list[str]:
    """Readable names of every column the classifier sees, in order."""
    return [_readable(block, raw) for block, raw in _raw_names(model)]


#: The blocks whose columns are one input each, a number or a flag, with its "not recorded"
#: indicator (``models.pipeline.build_linear``).
_VALUE_BLOCKS = ("numeric", "flags")


def fact_inputs(model: Pipeline) -> list[str | None]:
    """For every column the classifier sees, in order: the input column it measures, for a
    number's or a flag's value and its "not recorded" indicator; None for any other."""
    return [
        raw.removeprefix("missingindicator_") if block in _VALUE_BLOCKS else None
        for block, raw in _raw_names(model)
    ]


def _readable(block: str, raw: str) -> str:
    if block == "text":
        kind, _, term = raw.partition("__")
        if kind == "empty":
            return term
        return f"{'phrase' if kind == 'words' else 'text fragment'} '{term.strip()}'"
    if block in ("categorical", "crosses"):
        if raw.endswith("_infrequent_sklearn"):  # the encoder's bucket of rare values
            return f"{raw.removesuffix('_infrequent_sklearn')}=a rare value"
        column, _, value = raw.rpartition("_")
        return f"{column}={value}"
    if block == "flags" and raw.startswith("missingindicator_"):
        return f"{raw.removeprefix('missingindicator_')} not recorded"
    if block == "numeric" and raw.startswith("missingindicator_"):
        return f"{raw.removeprefix('missingindicator_')} not recorded"
    return raw


#: Labels for reasons given each one's row and column: an object array of strings.
Namer = Callable[[np.ndarray, np.ndarray], np.ndarray]


class _Part(NamedTuple):
    """Contributions to the log-odds as ``(row, column, value)``, row by row and within a row
    by column (what CSR arrays and ``np.nonzero`` give)."""

    rows: np.ndarray
    columns: np.ndarray
    values: np.ndarray


class _Contributions(NamedTuple):
    """P and every non-zero contribution to the log-odds, in parts whose columns follow one
    another (every column of a part below every column of the next)."""

    p: np.ndarray
    parts: list[_Part]
    name: Namer
    #: Columns ``[0, dense)`` (the whole first part) are measured for every row (the boosted
    #: facts): a row's k-th largest among them bounds which of its other contributions can
    #: be in its top k.
    dense: int = 0


class FlatReasons(NamedTuple):
    """P(policy_failure) per row and every row's reasons in one flat array: row ``i``'s are
    ``texts[offsets[i]:offsets[i + 1]]``, strongest first (what a list column is made of)."""

    p: np.ndarray
    offsets: np.ndarray
    texts: np.ndarray


def _linear_terms(model: Pipeline, frame: pd.DataFrame) -> tuple[np.ndarray, sparse.coo_matrix]:
    """Each row's log-odds and each feature's ``coefficient * value`` (what every step
    before the classifier made of the row, e.g. NB-weighted TF-IDF, times its weight)."""
    x = sparse.csr_matrix(model[:-1].transform(frame))
    classifier = model.named_steps["classifier"]
    logit = np.asarray(x @ classifier.coef_.ravel()).ravel() + float(classifier.intercept_[0])
    return logit, sparse.coo_matrix(x.multiply(classifier.coef_.ravel()))


def _with_one_comment(
    p: np.ndarray,
    parts: list[_Part],
    names: np.ndarray,
    inputs: list[str | None],
    frame: pd.DataFrame,
) -> _Contributions:
    """The contributions of a linear model (or blend): every feature's own, but the
    comment's phrases (``phrase '...'``, ``text fragment '...'``) summed into one reason per
    row, the comment's exact share of the log-odds, in a column after every other
    (``names.size``), named by :func:`comment_labels`. Other text features (``no comment``)
    stay reasons of their own. A number's or a flag's columns (``inputs``, from
    :func:`fact_inputs`: its value and its "not recorded" indicator) are summed into one
    reason per input too, in columns after the comment's, named by the row's value in
    ``frame`` as the boosted design names facts (``sla_met=0``, ``effort not recorded``).
    ``parts`` are row-major, their columns following one another.
    """
    is_phrase = np.asarray([str(n).startswith(PHRASE_PREFIXES) for n in names], dtype=bool)
    sources = sorted({s for s in inputs if s is not None})
    group = np.asarray([-1 if s is None else sources.index(s) for s in inputs], dtype=np.intp)
    kept: list[_Part] = []
    words: list[_Part] = []
    facts: list[_Part] = []
    for part in parts:
        phrase = is_phrase[part.columns]
        fact = group[part.columns] >= 0
        other = ~(phrase | fact)
        kept.append(_Part(part.rows[other], part.columns[other], part.values[other]))
        words.append(_Part(part.rows[phrase], part.columns[phrase], part.values[phrase]))
        facts.append(_Part(part.rows[fact], group[part.columns[fact]], part.values[fact]))
    word = _Part(*(np.concatenate(arrays) for arrays in zip(*words, strict=True)))
    if sum(w.rows.size > 0 for w in words) > 1:  # rows of two parts: back to row-major
        order = np.lexsort((word.columns, word.rows))
        word = _Part(word.rows[order], word.columns[order], word.values[order])
    sums = np.bincount(word.rows, weights=word.values, minlength=p.size)
    (comment_rows,) = np.nonzero(sums)
    comment = np.full(comment_rows.size, names.size, dtype=np.intp)
    # Each input's columns summed per row (a CSR matrix sums duplicates, row-major).
    fact = _Part(*(np.concatenate(arrays) for arrays in zip(*facts, strict=True)))
    by_input = sparse.csr_matrix(
        (fact.values, (fact.rows, fact.columns)), shape=(p.size, max(len(sources), 1))
    )
    by_input.sum_duplicates()
    by_input.eliminate_zeros()
    fact_rows = np.repeat(np.arange(p.size), np.diff(by_input.indptr))
    fact_part = _Part(fact_rows, by_input.indices + names.size + 1, by_input.data)

    def name(rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
        labels = np.empty(rows.size, dtype=object)
        plain = columns < names.size
        labels[plain] = names[columns[plain]]
        said = columns == names.size
        labels[said] = comment_labels(word, names, sums[rows[said]], rows[said])
        # Numbers and flags: one input at a time, each distinct value formatted once.
        for c in np.unique(columns[columns > names.size]).tolist():
            at = np.flatnonzero(columns == c)
            source = sources[c - names.size - 1]
            labels[at] = _fact_labels(source, frame[source].to_numpy()[rows[at]])
        return labels

    comment_part = _Part(comment_rows, comment, sums[comment_rows])
    return _Contributions(p, [*kept, comment_part, fact_part], name)


def _linear_contributions(model: Pipeline, frame: pd.DataFrame) -> _Contributions:
    """P, each feature's ``coefficient * value`` (the comment's phrases summed into one,
    :func:`_with_one_comment`) and a namer, for a linear Pipeline."""
    logit, contributions = _linear_terms(model, frame)
    names = np.asarray(feature_names(model), dtype=object)
    part = _Part(contributions.row, contributions.col, contributions.data)
    return _with_one_comment(expit(logit), [part], names, fact_inputs(model), frame)


def _blend_contributions(model: TextFactsBlend, frame: pd.DataFrame) -> _Contributions:
    """P and each feature's exact share of the blend's log-odds: its ``coefficient * value``
    in its own model times the weight that model enters the blend with, for that row (the
    comment's phrases summed into one, :func:`_with_one_comment`)."""
    text_logit, text = _linear_terms(model.text_model_, frame)
    facts_logit, facts = _linear_terms(model.facts_model_, frame)
    logit, text_factor, facts_factor = model.combine(frame, text_logit, facts_logit)
    n_text = text.shape[1]
    parts = [
        _Part(text.row, text.col, text.data * text_factor[text.row]),
        _Part(facts.row, facts.col + n_text, facts.data * facts_factor[facts.row]),
    ]
    names = np.asarray(
        feature_names(model.text_model_) + feature_names(model.facts_model_), dtype=object
    )
    inputs = fact_inputs(model.text_model_) + fact_inputs(model.facts_model_)
    return _with_one_comment(expit(logit), parts, names, inputs, frame)


def _fact_label(column: str, value: object) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return f"{column} not recorded"
    if isinstance(value, float):
        return f"{column}={value:g}"
    return f"{column}={value}"


def _fact_labels(column: str, values: np.ndarray) -> np.ndarray:
    """:func:`_fact_label` of each value, formatted once per distinct value."""
    codes, distinct = pd.factorize(values, use_na_sentinel=False)
    labels = np.asarray([_fact_label(column, v) for v in distinct.tolist()], dtype=object)
    return np.asarray(labels[codes], dtype=object)


def _boosted_contributions(model: TextThenFacts, frame: pd.DataFrame) -> _Contributions:
    """P and each input's effect on the final log-odds, for text log-odds + boosted facts.

    A fact's effect is exact for that row: the booster's log-odds with the row's own value
    minus with the fact's typical training value (most common category, median), the rest of
    the row unchanged. The comment's effect is measured the same way against an empty comment
    (the text model's empty-comment log-odds) and is one reason, named by the phrases that
    pushed its way hardest in the text model (:func:`comment_labels`).

    Found by a QA lead's trial: the text's effect used to be shared among its words, so each
    word looked small beside one fact, and 29 % of confident negatives with a comment had
    none of it among their reasons ("They said between 8 and 12, then came at 3pm", p 0.96:
    "effort not recorded", "transfers=3", "nps not recorded").
    """
    text = model.text_model_
    x, coef, _, _, inputs, references = boosted_inputs(model, frame)
    n_facts = inputs.shape[1] - 1
    with one_thread():
        raw, effects = _counterfactual_effects(model.booster_, inputs, references)
    p = 1.0 / (1.0 + np.exp(-raw))
    fact_rows, fact_columns_at = np.nonzero(effects[:, :n_facts])
    (text_rows,) = np.nonzero(effects[:, -1])
    parts = [
        _Part(fact_rows, fact_columns_at, effects[fact_rows, fact_columns_at]),
        _Part(text_rows, np.full(text_rows.size, n_facts, dtype=np.intp), effects[text_rows, -1]),
    ]
    word_names = np.asarray(feature_names(text), dtype=object)
    fact_columns = (*model.categorical, *model.numeric)
    # Each phrase's ``coefficient * value`` in the text model, row-major: what names the
    # comment (not its effect, which is the booster's).
    phrases = _Part(
        np.repeat(np.arange(x.shape[0]), np.diff(x.indptr)), x.indices, x.data * coef[x.indices]
    )

    def name(rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
        labels = np.empty(rows.size, dtype=object)
        words = columns >= n_facts
        labels[words] = comment_labels(phrases, word_names, effects[rows[words], -1], rows[words])
        # Facts: one column at a time, each distinct value formatted once; only the rows
        # named are converted to Python values (not the whole chunk's column).
        for c in np.unique(columns[~words]).tolist():
            at = np.flatnonzero(columns == c)
            values = frame[fact_columns[c]].iloc[rows[at]].to_numpy()
            labels[at] = _fact_labels(fact_columns[c], values)
        return labels

    return _Contributions(p, parts, name, dense=n_facts)


#: The smallest effect (log-odds) a reason is listed with: anything weaker is printed as
#: ``(+0.00)`` at the reasons' two decimals and says nothing (a trial on the CFPB complaints
#: found 18 rows giving ``sla_met=1 (-0.00)`` as a reason).
REASON_EFFECT_MIN = 0.005
#: How many of a comment's phrases its reason names.
COMMENT_PHRASES = 2
#: A phrase (quoted) that is redaction marks (CFPB's ``XX/XX/XXXX``, ``xxxx``), numbers and
#: punctuation only: it does not name a comment (:func:`comment_labels`).
UNNAMEABLE = re.compile(r"'[\sxX\d/.,:;$%-]*'")
#: One word of a phrase that is a redaction mark, a number or punctuation.
_MARK = re.compile(r"[xX\d/.,:;$%'-]*")


def names_nothing(term: str) -> bool:
    """Whether a quoted phrase (``'by xxxx'``) names nothing a person can read: it is
    :data:`UNNAMEABLE`, or each of its words is a redaction mark, a number or an English stop
    word (scikit-learn's ``ENGLISH_STOP_WORDS``, a kept list, not one of ours). A data
    scientist's trial saw CFPB reasons named 'it and', 'or all' and 'by xxxx'."""
    if UNNAMEABLE.fullmatch(term):
        return True
    words = term.strip("'").split()
    return all(_MARK.fullmatch(w) or w.lower() in ENGLISH_STOP_WORDS for w in words)


#: The names of the features that are a comment's phrases (:func:`_readable`).
PHRASE_PREFIXES = ("phrase '", "text fragment '")


@functools.lru_cache(maxsize=8)
def _comment_terms(names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Each feature's phrase as a comment's label quotes it (``'never came'``) and whether it
    names anything; worked out once per fitted model's names, not once per chunk scored
    (1,943 names took 15-20 ms a 50,000-row chunk)."""
    terms = np.asarray(
        [n.removeprefix("phrase ").removeprefix("text fragment ") for n in names], dtype=object
    )
    # A phrase of redaction marks, numbers and stop words alone names nothing a person can
    # read (a data scientist's trial saw CFPB complaints named 'xxxxxxxx xxxx', '2018' and
    # 'it and'): it counts in the comment's effect, and the next phrase names it.
    nameable = np.asarray([not names_nothing(str(t)) for t in terms.tolist()], dtype=bool)
    terms.flags.writeable = False
    nameable.flags.writeable = False
    return terms, nameable


def comment_labels(
    phrases: _Part, names: np.ndarray, effects: np.ndarray, rows: np.ndarray
) -> np.ndarray:
    """The reason label of each comment of ``rows`` (distinct, ascending), whose effects on
    the log-odds are ``effects``: ``comment 'never came', 'waited'``, the
    :data:`COMMENT_PHRASES` of its ``phrases`` (``coefficient * value`` of each phrase
    feature, row-major) that pushed hardest the comment's way; ties by column. ``names``
    are the features' names (``phrase 'never came'``). Plain ``comment`` where no phrase
    pushed that way."""
    labels = np.full(rows.size, "comment", dtype=object)
    if not rows.size or not phrases.rows.size:
        return labels
    position = np.full(int(max(phrases.rows.max(), rows.max())) + 1, -1, dtype=np.int64)
    position[rows] = np.arange(rows.size)
    owner = position[phrases.rows]
    terms, nameable = _comment_terms(tuple(str(n) for n in names.tolist()))
    toward = (owner >= 0) & (phrases.values * np.sign(effects)[owner] > 0)
    toward &= nameable[phrases.columns]
    owner, columns = owner[toward], phrases.columns[toward]
    strength = np.abs(phrases.values[toward])
    # The strongest phrase of each comment, then the next: entries are grouped by comment
    # (``owner`` ascending), so a segment maximum each time, not a sort of every entry.
    for place in range(COMMENT_PHRASES):
        if not owner.size:
            break
        starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
        strongest = np.maximum.reduceat(strength, starts)
        segment = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, owner.size]))
        at_max = np.flatnonzero(strength == strongest[segment])
        # The first of a tie: the lowest column, as a row's CSR columns are sorted.
        at = at_max[np.r_[True, owner[at_max[1:]] != owner[at_max[:-1]]]]
        joiner = " " if place == 0 else ", "
        labels[owner[at]] = labels[owner[at]] + joiner + terms[columns[at]]
        rest = np.ones(owner.size, dtype=bool)
        rest[at] = False
        owner, columns, strength = owner[rest], columns[rest], strength[rest]
    return labels


def boosted_inputs(
    model: TextThenFacts, frame: pd.DataFrame
) -> tuple[sparse.csr_matrix, np.ndarray, float, np.ndarray, np.ndarray, np.ndarray]:
    """The text model's features ``x``, coefficients and intercept, each row's text
    log-odds, the booster's inputs, and each input's reference value (the facts' typical
    training values, then the empty comment's log-odds)."""
    text = model.text_model_
    x = sparse.csr_matrix(text.named_steps["features"].transform(frame))
    classifier = text.named_steps["classifier"]
    coef = classifier.coef_.ravel()
    intercept = float(classifier.intercept_[0])
    text_logit = np.asarray(x @ coef).ravel() + intercept
    inputs = model.inputs_from_text_logit(frame, text_logit)
    n_facts = inputs.shape[1] - 1
    references = np.append(model.reference_[:n_facts], model.empty_text_logit())
    return x, coef, intercept, text_logit, inputs, references


def _counterfactual_effects(
    booster: HistGradientBoostingClassifier, inputs: np.ndarray, references: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The booster's log-odds for each row, and for each row and input column how much it
    falls when that column alone is set to its reference value.

    Exactly ``decision_function(x) - decision_function(x with column j at its reference)``,
    bit for bit: both sides are summed tree by tree from the baseline in the booster's own
    order. The trees are not walked once per column: each row's branch at every split of a
    tree is worked out once, packed into one integer per row, and a table from that integer
    to the leaf's value gives the row's leaf; setting column j to its reference only
    overwrites the bits of the splits on j, so every counterfactual leaf is one more table
    lookup. The branches are read from each row's cell among each column's thresholds
    (:class:`_CellIndex`: one search per column and one lookup of every tree's bits per
    column, not one comparison per split of every tree: a 50,000-row chunk's coding 0.12 s
    -> 0.05 s of CPU). The tables are built once per fitted booster. (It reads
    scikit-learn's private ``_predictors``, ``_bin_mapper`` and ``_preprocess_X`` and
    mirrors its branching rule: ``tests/model/test_boosted_reasons.py`` checks the result
    against ``decision_function`` so a library change cannot pass unnoticed.)
    """
    x = booster._preprocess_X(inputs, reset=False)
    # The reference row goes through the booster's own preprocessing too, so a categorical
    # reference lands on the same code the booster gives that category.
    reference_x = booster._preprocess_X(references[None, :], reset=False)
    known_categories, feature_map = booster._bin_mapper.make_known_categories_bitsets()
    categorical = np.asarray(booster._bin_mapper.is_categorical_, dtype=bool)
    rows = _SplitInputs(x, categorical)
    reference = _SplitInputs(reference_x, categorical)
    baseline = float(np.ravel(booster._baseline_prediction)[0])
    n_rows, n_columns = x.shape
    raw = np.full(n_rows, baseline)
    # Row j: the log-odds with column j at its reference, summed in the same order as raw.
    counterfactual = np.full((n_columns, n_rows), baseline)
    routings, cells = _tree_routings_and_cells(booster, known_categories, feature_map)
    # Every tabulated tree's code of every row, one tree's row after another.
    codes = cells.codes(rows)
    moved = np.empty(n_rows, dtype=np.uint16)
    leaf = np.empty(n_rows)
    actual = np.empty(n_rows)
    tabulated = 0
    for routing in routings:
        if routing.table is None:  # too many splits for a table: walk it per column
            walked = (x, reference_x[0], known_categories, feature_map)
            _add_walked_tree(routing.tree, *walked, raw, counterfactual)
            continue
        code = codes[tabulated]
        tabulated += 1
        reference_code = routing.reference_code(reference)
        # A code only sets the bits of the tree's splits, so it is always inside the table:
        # "clip" clips nothing, and spares NumPy's bounds check of every uint16 index
        # ("raise", the default, took 0.50 s of a 50,000-row chunk's counterfactuals where
        # "clip" took 0.45 s; the leaves are the same).
        routing.table.take(code, out=actual, mode="clip")
        raw += actual
        for j in range(n_columns):
            bits = routing.bits_of[j]
            if not bits:
                np.add(counterfactual[j], actual, out=counterfactual[j])
                continue
            np.bitwise_and(code, ~bits & 0xFFFF, out=moved)
            np.bitwise_or(moved, reference_code & bits, out=moved)
            routing.table.take(moved, out=leaf, mode="clip")
            np.add(counterfactual[j], leaf, out=counterfactual[j])
    return raw, (raw - counterfactual).T


#: A tree with more splits than this is walked once per column instead of tabulated: its
#: table (one entry per combination of branches, a 16-bit code) would outgrow the work it
#: saves.
_MAX_TABLE_SPLITS = 16
#: The code a categorical value the booster treats as missing (NaN, negative) is read as.
_MISSING_CATEGORY = 256


class _SplitInputs:
    """The booster's preprocessed inputs laid out for testing many splits at once: one
    contiguous row per column, and for categorical columns each row's category as an index
    into a split's branch lookup (:data:`_MISSING_CATEGORY` for NaN or a negative code)."""

    def __init__(self, x: np.ndarray, categorical: np.ndarray) -> None:
        self.values = np.ascontiguousarray(x.T)
        self.categories: dict[int, np.ndarray] = {}
        for f in np.flatnonzero(categorical).tolist():
            values = self.values[f]
            valid = ~np.isnan(values) & (values >= 0)
            # The booster's own encoder gives codes 0..254 (or NaN): the uint8 the Cython
            # predictor casts to is the same number. (A code above 256 makes the lookup
            # raise rather than guess: the booster's own cast of it is undefined.)
            codes = np.where(valid, values, _MISSING_CATEGORY).astype(np.intp)
            self.categories[f] = codes


def _in_bitset(bitset: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Whether each code's bit is set in a 256-bit set stored as eight uint32 words."""
    return ((bitset[codes >> 5] >> (codes & 31)) & 1).astype(bool)


_ROUTINGS: weakref.WeakKeyDictionary[Any, tuple[int, list[_TreeRouting], _CellIndex]] = (
    weakref.WeakKeyDictionary()
)


def prepare_for_scoring(model: RootCauseModel) -> None:
    """Build now what the first :func:`predict_with_flat_reasons` call on ``model`` would
    build before it scores: the booster's tree tables (:func:`_tree_routings`, 0.06 s for
    the bench's 200 trees) and the native vectorisers' vocabulary tables. Both are cached
    per fitted model, so scoring then starts at once; for a caller that loads the champion
    on a thread while the date's files are read (``models.registry``)."""
    prepare_vocabularies(model)
    if isinstance(model, TextThenFacts):
        booster = model.booster_
        _tree_routings(booster, *booster._bin_mapper.make_known_categories_bitsets())


def _tree_routings(
    booster: HistGradientBoostingClassifier, known_categories: np.ndarray, feature_map: np.ndarray
) -> list[_TreeRouting]:
    """Every tree of the booster as a :class:`_TreeRouting`, in its order; built once per
    fitted booster (a refit gives new predictors and new routings)."""
    return _tree_routings_and_cells(booster, known_categories, feature_map)[0]


def _tree_routings_and_cells(
    booster: HistGradientBoostingClassifier, known_categories: np.ndarray, feature_map: np.ndarray
) -> tuple[list[_TreeRouting], _CellIndex]:
    """:func:`_tree_routings` and the :class:`_CellIndex` of its tabulated trees, both
    built once per fitted booster."""
    cached = _ROUTINGS.get(booster)
    if cached is not None and cached[0] == id(booster._predictors):
        return cached[1], cached[2]
    n_columns = int(booster.n_features_in_)
    routings = [
        _TreeRouting(tree, n_columns, known_categories, feature_map)
        for iteration in booster._predictors
        for tree in iteration
    ]
    cells = _CellIndex([r for r in routings if r.table is not None], n_columns)
    _ROUTINGS[booster] = (id(booster._predictors), routings, cells)
    return routings, cells


#: Rows coded at once by :meth:`_CellIndex.codes`: a block's codes of 200 trees (1.6 MB)
#: stay in cache while each column's bits are OR-ed in (a 50,000-row chunk's 0.05 s of CPU
#: at 256 to 4,096 rows, measured on the bench's model).
_CODE_BLOCK_ROWS = 4096


class _CellIndex:
    """The branches of many trees read from each row's cell in each column: every split's
    branch at once for :meth:`_TreeRouting.code`'s bits, with one search per column instead
    of one comparison per split of every tree.

    A number's cell is how many of the column's thresholds (those of every split on it, in
    every tree, sorted once) lie below it, ``searchsorted(thresholds, v, "left")``, so ``v <=
    thresholds[k]`` exactly when its cell is at most ``k``; NaN has a cell of its own after
    every other, whose every bit is clear (a split's missing branch, as :meth:`_TreeRouting.code`
    codes it). A category's cell is its code in :class:`_SplitInputs` (0-255, or
    :data:`_MISSING_CATEGORY`). ``lookup[column][cell]`` holds, for each tree, the bits of
    that tree's splits on the column for a row in that cell, and a row's code in a tree is
    the OR of its cells' entries over the columns (each split's bit belongs to one column).
    """

    def __init__(self, routings: list[_TreeRouting], n_columns: int) -> None:
        self.n_trees = len(routings)
        numbers: list[set[float]] = [set() for _ in range(n_columns)]
        categorical = [False] * n_columns
        for routing in routings:
            for f, test, _ in routing.tests:
                if isinstance(test, np.ndarray):
                    categorical[f] = True
                else:
                    numbers[f].add(test)
        #: Each column's sorted thresholds (empty for a categorical column).
        self.thresholds = [np.asarray(sorted(found), dtype=np.float64) for found in numbers]
        self.categorical = categorical
        cell_counts = [
            _MISSING_CATEGORY + 1 if categorical[f] else self.thresholds[f].size + 2
            for f in range(n_columns)
        ]
        lookup = [
            np.zeros((cell_counts[f], self.n_trees), dtype=np.uint16) for f in range(n_columns)
        ]
        for t, routing in enumerate(routings):
            for i, (f, test, missing_left) in enumerate(routing.tests):
                if isinstance(test, np.ndarray):
                    bit = test.astype(np.uint16)
                else:
                    if categorical[f]:
                        raise ValueError(f"column {f} is split both as a category and a number")
                    k = int(np.searchsorted(self.thresholds[f], test))
                    cell = np.arange(cell_counts[f])
                    bit = ((cell > k) if missing_left else (cell <= k)).astype(np.uint16)
                    bit[-1] = 0  # NaN: the missing branch, a clear bit either way
                lookup[f][:, t] |= bit << np.uint16(i)
        #: The columns some split reads, and their lookups (cells x trees).
        self.columns = [f for f in range(n_columns) if lookup[f].any()]
        self.lookup = lookup

    def cells(self, inputs: _SplitInputs, column: int) -> np.ndarray:
        """Each row's cell in ``column`` (intp)."""
        if self.categorical[column]:
            codes = inputs.categories[column]
            if codes.size and int(codes.max()) > _MISSING_CATEGORY:
                # As the per-split lookup does: the booster's own cast of it is undefined.
                raise IndexError(f"category code {int(codes.max())} of column {column} is over 256")
            return codes
        values = inputs.values[column]
        thresholds = self.thresholds[column]
        cell = np.searchsorted(thresholds, values, side="left")
        cell[np.isnan(values)] = thresholds.size + 1
        return cell

    def codes(self, inputs: _SplitInputs) -> np.ndarray:
        """Each tree's code of each row (trees x rows, uint16): :meth:`_TreeRouting.code`
        of every tree given, in their order."""
        n = inputs.values.shape[1]
        codes = np.zeros((self.n_trees, n), dtype=np.uint16)
        if not self.columns or not self.n_trees:
            return codes
        cells = [self.cells(inputs, f) for f in self.columns]
        block = np.empty((min(n, _CODE_BLOCK_ROWS), self.n_trees), dtype=np.uint16)
        part = np.empty_like(block)
        for start in range(0, n, _CODE_BLOCK_ROWS):
            stop = min(n, start + _CODE_BLOCK_ROWS)
            rows, more = block[: stop - start], part[: stop - start]
            # "clip" clips nothing (every cell is inside its lookup) and is not buffered:
            # take's default "raise" copies through a buffer when given ``out``.
            first, *rest = zip(self.columns, cells, strict=True)
            self.lookup[first[0]].take(first[1][start:stop], axis=0, out=rows, mode="clip")
            for f, cell in rest:
                self.lookup[f].take(cell[start:stop], axis=0, out=more, mode="clip")
                np.bitwise_or(rows, more, out=rows)
            codes[:, start:stop] = rows.T
        return codes


class _TreeRouting:
    """One fitted tree as a lookup: bit ``i`` of a row's code says which way the row goes at
    the tree's ``i``-th split, and ``table[code]`` is the value of the leaf it reaches."""

    def __init__(
        self, tree: Any, n_columns: int, known_categories: np.ndarray, feature_map: np.ndarray
    ) -> None:
        self.tree = tree
        nodes = tree.nodes
        self.nodes = nodes
        self.splits = np.flatnonzero(nodes["is_leaf"] == 0)
        features = nodes["feature_idx"][self.splits]
        self.table: np.ndarray | None = None
        #: :meth:`reference_code` by reference row (its values' bytes).
        self._reference_codes: dict[bytes, int] = {}
        #: The bits of the splits on each column: what setting that column changes.
        self.bits_of = [0] * n_columns
        if self.splits.size > _MAX_TABLE_SPLITS:
            return  # codes would not fit (nor the table in memory): the caller walks it
        for i, f in enumerate(features.tolist()):
            self.bits_of[f] |= 1 << i
        # Each split's test, as what sets its bit: a number above the threshold (the bit
        # means "right") when missing values go left, else at most the threshold (the bit
        # means "left"), so NaN, which compares false, clears the bit either way; a
        # category, its entry in a lookup of the split's branch for every code.
        self.tests: list[tuple[int, float | np.ndarray, bool]] = []
        self.bit_means_left: list[bool] = []
        for node in nodes[self.splits]:
            f = int(node["feature_idx"])
            missing_left = bool(node["missing_go_to_left"])
            if node["is_categorical"]:
                every = np.arange(_MISSING_CATEGORY, dtype=np.intp)
                left = _in_bitset(tree.raw_left_cat_bitsets[node["bitset_idx"]], every)
                known = _in_bitset(known_categories[feature_map[f]], every)
                # Left when in the split's left set; right when another known category;
                # otherwise (unknown, NaN, negative) the missing branch.
                lookup = np.append(left | (~known & missing_left), missing_left)
                self.tests.append((f, lookup, True))
                self.bit_means_left.append(True)
            else:
                self.tests.append((f, float(node["num_threshold"]), missing_left))
                self.bit_means_left.append(not missing_left)
        self.table = self._table()

    def _table(self) -> np.ndarray:
        rank = np.full(self.nodes.size, -1)
        rank[self.splits] = np.arange(self.splits.size)
        every_code = np.arange(1 << self.splits.size, dtype=np.uint32)
        table = np.empty(every_code.size)
        # Depth first from the root, carrying which bits the path fixes and to what.
        stack = [(0, 0, 0)]
        while stack:
            node, fixed, wanted = stack.pop()
            if self.nodes["is_leaf"][node]:
                table[(every_code & fixed) == wanted] = self.nodes["value"][node]
                continue
            i = int(rank[node])
            bit = 1 << i
            left_wanted = bit if self.bit_means_left[i] else 0
            stack.append((int(self.nodes["left"][node]), fixed | bit, wanted | left_wanted))
            stack.append(
                (int(self.nodes["right"][node]), fixed | bit, wanted | (bit ^ left_wanted))
            )
        return table

    def reference_code(self, reference: _SplitInputs) -> int:
        """:meth:`code` of the one row of ``reference`` (the reasons' typical values), worked
        out once per fitted tree and reference row: every chunk a date is scored in asks for
        it again (200 trees x 14 one-row splits a chunk, 3 % of its time)."""
        key = reference.values.tobytes()
        found = self._reference_codes.get(key)
        if found is None:
            found = int(self.code(reference)[0])
            self._reference_codes[key] = found
        return found

    def code(
        self,
        inputs: _SplitInputs,
        out: np.ndarray | None = None,
        branch: np.ndarray | None = None,
    ) -> np.ndarray:
        """Each row's branches at every split of the tree, packed as bits (``out``, uint16).

        The same rule as scikit-learn's ``_predict_one_from_raw_data``: NaN takes the
        split's missing branch; a number goes left when ``<=`` the threshold; a category
        goes left when in the split's left set, right when a known category, and otherwise
        (negative, unknown) takes the missing branch.
        """
        n = inputs.values.shape[1]
        code = np.zeros(n, dtype=np.uint16) if out is None else out
        code.fill(0)
        branch = np.empty(n, dtype=bool) if branch is None else branch
        for i, (f, test, missing_left) in enumerate(self.tests):
            if isinstance(test, np.ndarray):
                test.take(inputs.categories[f], out=branch)
            elif missing_left:
                np.greater(inputs.values[f], test, out=branch)
            else:
                np.less_equal(inputs.values[f], test, out=branch)
            np.bitwise_or(code, np.left_shift(branch, i, dtype=np.uint16), out=code)
        return code


def _add_walked_tree(
    tree: Any,
    x: np.ndarray,
    reference: np.ndarray,
    known_categories: np.ndarray,
    feature_map: np.ndarray,
    raw: np.ndarray,
    counterfactual: np.ndarray,
) -> None:
    """Add one tree to ``raw`` and to each column's counterfactual by walking it with
    scikit-learn's predictor: once as is, once per column it splits on."""
    actual = np.asarray(tree.predict(x, known_categories, feature_map, 1))
    raw += actual
    splits_on = set(tree.nodes["feature_idx"][tree.nodes["is_leaf"] == 0].tolist())
    for j in range(counterfactual.shape[0]):
        if j not in splits_on:
            counterfactual[j] += actual
            continue
        typical = x.copy()
        typical[:, j] = reference[j]
        counterfactual[j] += np.asarray(tree.predict(typical, known_categories, feature_map, 1))


def shrink_probability(p: np.ndarray, weights: np.ndarray, base: float) -> np.ndarray:
    """``p`` with each row's log-odds pulled towards ``base`` (a log-odds):
    ``expit(w * logit(p) + (1 - w) * base)``, ``w`` per row in [0, 1]. A ``p`` of exactly
    0 or 1 is taken as 1e-12 from it, so the log-odds stay finite."""
    clipped = np.clip(p, 1e-12, 1.0 - 1e-12)
    return np.asarray(expit(weights * log_odds(clipped) + (1.0 - weights) * base))


def _strongest_first(
    rows: np.ndarray, columns: np.ndarray, values: np.ndarray, parts: list[_Part]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The contributions (``parts`` concatenated) ordered by row, then strongest first, ties
    by column, so the reasons are reproducible. The sort is stable: when each part is in
    row-major order and the parts' columns follow one another (as :class:`_Contributions`
    says), ties are in column order already and the column key need not be sorted."""
    in_order = all(_row_major(part) for part in parts) and all(
        a.columns.size == 0 or b.columns.size == 0 or a.columns.max() < b.columns.min()
        for a, b in itertools.pairwise(parts)
    )
    strength = -np.abs(values)
    keys = (strength, rows) if in_order else (columns, strength, rows)
    order = np.lexsort(keys)
    return rows[order], columns[order], values[order]


def _row_major(part: _Part) -> bool:
    """Whether the part is sorted by row, then column, with no pair twice."""
    if part.rows.size < 2:
        return True
    # Signed steps: an unsigned index array would wrap a step back into a large step on.
    next_row = np.diff(part.rows.astype(np.int64, copy=False))
    next_column = np.diff(part.columns.astype(np.int64, copy=False))
    return bool(np.all((next_row > 0) | ((next_row == 0) & (next_column > 0))))


def predict_with_flat_reasons(
    model: RootCauseModel,
    frame: pd.DataFrame,
    k: int = 3,
    threshold: float = 0.5,
    shrink: tuple[np.ndarray, float] | None = None,
) -> FlatReasons:
    """P(policy_failure) for each row and up to ``k`` features that pushed it hardest towards
    its predicted class, from one pass through the features, as one flat array of texts.
    An effect under :data:`REASON_EFFECT_MIN` (0.005, printed ``0.00``) is no reason. A row
    left without any (between 0.5 and a threshold away from it, where every feature pushes
    the other way) gets one text saying the threshold decided it (:func:`_threshold_reason`).

    Each reason reads like ``"phrase 'outside the window' (+1.24)"``: the sign is the
    direction on the log-odds of policy_failure. The per-row top ``k`` is found with array
    sorts over the contributions, not a Python loop over rows.

    ``shrink = (weights, base)`` pulls each row's log-odds towards ``base`` (a log-odds):
    ``w * model + (1 - w) * base``. Every contribution is scaled by the row's ``w`` too, so
    the reasons stay the exact parts of the log-odds that is reported.
    """
    if frame.empty:
        return FlatReasons(np.empty(0), np.zeros(1, dtype=np.int64), np.empty(0, dtype=object))
    if isinstance(model, TextThenFacts):
        found = _boosted_contributions(model, frame)
    elif isinstance(model, TextFactsBlend):
        found = _blend_contributions(model, frame)
    else:
        found = _linear_contributions(model, frame)
    p = found.p
    weights: np.ndarray | None = None
    if shrink is not None:
        weights, base = shrink
        p = shrink_probability(p, weights, base)
    direction = np.where(p >= threshold, 1.0, -1.0)
    floor: np.ndarray | None = None
    kept: list[_Part] = []
    for rows, columns, values in found.parts:
        if weights is not None:
            values = values * weights[rows]
        # Keep what pushes towards the row's own predicted class, by enough to print.
        keep = values * direction[rows] >= REASON_EFFECT_MIN
        if floor is not None:
            keep &= np.abs(values) >= floor[rows]
        rows, columns, values = rows[keep], columns[keep], values[keep]
        if floor is None and 0 < k <= found.dense:
            # The first part holds the dense contributions. Anything weaker than a row's
            # k-th strongest of them has k stronger ones and cannot be among its top k:
            # dropping it first leaves the sort a few per row instead of every fact and
            # word (the sort was the largest cost after the trees).
            strength = np.zeros((len(frame), found.dense))
            strength[rows, columns] = np.abs(values)
            floor = -np.partition(-strength, k - 1, axis=1)[:, k - 1]
            strong = np.abs(values) >= floor[rows]
            rows, columns, values = rows[strong], columns[strong], values[strong]
        kept.append(_Part(rows, columns, values))
    rows, columns, values = (np.concatenate(arrays) for arrays in zip(*kept, strict=True))
    rows, columns, values = _strongest_first(rows, columns, values, kept)
    first_of_row = np.searchsorted(rows, rows, side="left")
    keep = np.arange(rows.size) - first_of_row < k
    rows, columns, values = rows[keep], columns[keep], values[keep]
    labels = found.name(rows, columns)
    # "label (+1.24)": each distinct printed effect formatted once, then one string join per
    # reason (formatting every float in Python took 7.5 % of scoring at 1M).
    texts = labels + signed_fixed_point(values, REASON_DECIMALS, " (", ")")
    counts = np.bincount(rows, minlength=len(frame))
    if k > 0 and (alone := np.flatnonzero(counts == 0)).size:
        # The threshold decides these rows, not a feature (a data scientist's trial: 22 of
        # 51,958 negatives, e.g. P 0.51 called perceived at threshold 0.53, had no reason).
        at = np.cumsum(counts)[alone] - counts[alone]
        texts = np.insert(texts, at, [_threshold_reason(p[i], threshold) for i in alone])
        counts[alone] = 1
    offsets = np.zeros(len(frame) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return FlatReasons(p, offsets, texts)


#: Decimals a reason's effect is printed with (``(+1.24)``).
REASON_DECIMALS = 2


def signed_fixed_point(
    values: np.ndarray, decimals: int = REASON_DECIMALS, before: str = "", after: str = ""
) -> np.ndarray:
    """``before + format(v, f"+.{decimals}f") + after`` of each float of ``values`` (any
    shape flattened to 1-D), as an object array of ``str``: the very strings Python prints,
    ``-0.00`` for a small negative, ``+nan`` and ``-inf`` included.

    Python rounds the exact binary value of ``v`` to ``decimals`` places, a tie (0.125,
    exactly representable) to even: ``+0.12``; 2.675 is stored just under 2.675 and prints
    ``+2.67``. Here ``v * 10**decimals`` is rounded to the nearest integer in one NumPy step
    and each distinct result formatted once. That product is within half a unit in the
    last place of the exact one, so its nearest integer is the exact product's unless it lies
    within a unit in the last place of a half; those values, the ones not finite and the ones
    past 2**52 (where halves are not representable) are formatted by Python itself.
    ``decimals`` from 1 to 15 (``10**decimals`` exact; Python's ``.0f`` prints no point).

    Raises ValueError for ``decimals`` outside 1..15.
    """
    if not 1 <= decimals <= 15:
        raise ValueError(f"decimals must be from 1 to 15, not {decimals}")
    flat = np.asarray(values, dtype=np.float64).ravel()
    out = np.empty(flat.size, dtype=object)
    if not flat.size:
        return out
    unit = 10**decimals
    with np.errstate(invalid="ignore", over="ignore"):
        scaled = flat * float(unit)
        near_half = np.abs(scaled - np.floor(scaled) - 0.5) <= np.abs(np.spacing(scaled))
        fast = np.isfinite(scaled) & (np.abs(scaled) < 2.0**52) & ~near_half
    # Key: the rounded magnitude, twice, plus the sign bit (a negative that rounds to 0
    # prints "-0.00").
    magnitude = np.abs(np.rint(scaled[fast])).astype(np.int64)
    keys = magnitude * 2 + np.signbit(flat[fast])
    codes, distinct = pd.factorize(keys)
    texts = np.empty(distinct.size, dtype=object)
    for i, key in enumerate(distinct.tolist()):
        whole, part = divmod(key >> 1, unit)
        texts[i] = f"{before}{'-' if key & 1 else '+'}{whole}.{part:0{decimals}d}{after}"

    out[fast] = texts[codes]
    slow = np.flatnonzero(~fast)
    out[slow] = [f"{before}{format(v, f'+.{decimals}f')}{after}" for v in flat[slow].tolist()]
    return out


def _threshold_reason(p: float, threshold: float) -> str:
    """The reason of a row no feature pushed towards its predicted class by
    :data:`REASON_EFFECT_MIN`: it lies between 0.5 and the threshold, on the side the
    threshold gives it (P 0.51 is perceived at a threshold of 0.53)."""
    cause = "policy_failure" if p >= threshold else "perceived"
    side = "at or over" if p >= threshold else "under"
    return (
        f"no single factor points to {cause}: P(policy_failure) {p:.2f} is {side} the "
        f"threshold {threshold:.2f}"
    )


def predict_with_reasons(
    model: RootCauseModel, frame: pd.DataFrame, k: int = 3, threshold: float = 0.5
) -> tuple[np.ndarray, list[list[str]]]:
    """:func:`predict_with_flat_reasons` with each row's reasons as a Python list."""
    p, offsets, texts = predict_with_flat_reasons(model, frame, k, threshold)
    return p, [part.tolist() for part in np.split(texts, offsets[1:-1])]


def top_reasons(
    model: RootCauseModel, frame: pd.DataFrame, k: int = 3, threshold: float = 0.5
) -> list[list[str]]:
    """For each row, up to ``k`` features that pushed it hardest towards its predicted class."""
    return predict_with_reasons(model, frame, k, threshold)[1]
