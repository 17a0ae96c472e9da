"""Audited (labelled) responses shaped for training: pure polars, frames in, frames or
numpy arrays out, so that ``models/`` is handed arrays rather than frames."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl


def time_split(frame: pl.DataFrame, test_share: float = 0.25) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Train on earlier survey dates, test on the latest ``test_share`` of dates.

    ``frame`` carries ``survey_date``; ValueError when it holds fewer than two dates."""
    dates = frame.get_column("survey_date").unique().sort()
    if dates.len() < 2:
        on = f"all {frame.height} are of {dates[0]}" if dates.len() else "there are none"
        raise ValueError(
            "training tests each model on the latest survey dates after it learned from the "
            f"earlier ones, so the audits must span at least two survey dates; {on}. Audit "
            "responses of another date (a later delivery of the source, or an earlier one)"
        )
    n_test = max(1, round(dates.len() * test_share))
    cutoff = dates[dates.len() - n_test]
    return (
        frame.filter(pl.col("survey_date") < cutoff),
        frame.filter(pl.col("survey_date") >= cutoff),
    )


def survey_days(frame: pl.DataFrame) -> np.ndarray:
    """The ``survey_date`` of each row of ``frame`` as a numpy ``datetime64[D]`` array (what
    ``models.select.Rows`` orders by). Raises ColumnNotFoundError without the column."""
    return frame.get_column("survey_date").cast(pl.Date).to_numpy().astype("datetime64[D]")


#: Labelled rows whose comments are one text of at least this many characters (case and
#: whitespace aside) are one complaint filed twice, or one form letter: cross-validation
#: keeps them in one fold. A data scientist's trial on the CFPB complaints: 97 of 2,094
#: rows share a narrative in 32 groups (15 with conflicting labels), and out of fold they
#: scored ROC-AUC 0.798 against 0.762 for the rest, the copy in another fold answering
#: for them. Shorter texts ("good service overall.", 7,139 times in a generated 100k) are
#: phrasings many customers write, and stay free. Only the reported cross-validation is
#: grouped (:func:`models.train.out_of_fold`).
DUPLICATE_TEXT_MIN_CHARS = 40


def duplicate_text_groups(frame: pl.DataFrame, text: str | None) -> np.ndarray | None:
    """One group id per row of ``frame``: rows whose ``text`` column holds the same text of
    :data:`DUPLICATE_TEXT_MIN_CHARS` or more (lower-cased, whitespace collapsed) share one,
    every other row has its own. None when no two rows share a text (or there is no text
    column), so cross-validation stays plain stratified."""
    if not text or text not in frame.columns:
        return None
    key = (
        frame.get_column(text)
        .cast(pl.String)
        .str.to_lowercase()
        .str.replace_all(r"\s+", " ")
        .str.strip_chars()
    )
    long = key.str.len_chars().fill_null(0) >= DUPLICATE_TEXT_MIN_CHARS
    shared = long & key.is_duplicated()
    if not shared.any():
        return None
    own = pl.Series(np.arange(frame.height)).cast(pl.String)
    keyed = pl.select(pl.when(shared).then(key).otherwise(own)).to_series()
    return keyed.rank("dense").cast(pl.Int64).to_numpy()


def group_values(frame: pl.DataFrame, column: str) -> np.ndarray:
    """The values of ``column`` of ``frame`` as text, one per row (None where a row has
    none), as a numpy object array: what ``models.evaluate.metrics_by_group`` groups by.
    Raises ColumnNotFoundError when ``frame`` has no ``column``."""
    return frame.get_column(column).cast(pl.String).to_numpy()


def predictions_on_both(
    challenger: pl.DataFrame, champion: pl.DataFrame, probability: str = "p_out_of_fold"
) -> pl.DataFrame:
    """The responses two model versions both predicted, one row each: ``response_id``, the
    challenger's ``root_cause`` (the audits as they are now), and each version's
    ``probability`` column as ``p_challenger`` and ``p_champion``.

    ``challenger`` and ``champion`` hold ``response_id`` and ``probability``
    (``p_out_of_fold`` for out-of-fold predictions, ``p_policy_failure`` for the time
    split's test slice), ``challenger`` ``root_cause`` too; the champion's labels of then
    are not kept. Raises ColumnNotFoundError when a column is missing."""
    return challenger.select(
        "response_id", "root_cause", pl.col(probability).alias("p_challenger")
    ).join(champion.select("response_id", pl.col(probability).alias("p_champion")), "response_id")


def labels_since_corrected(challenger: pl.DataFrame, champion: pl.DataFrame) -> int:
    """How many responses the champion trained on with a root cause other than the one the
    audits give them now: its out-of-fold frame's ``root_cause`` (the labels it learned)
    against the challenger's (``response_id`` and ``root_cause`` in both). 0 when the
    champion's frame keeps no labels (a version saved before they were kept). A QA lead's
    trial: a later workbook overturned 7 verdicts, and the decision keeping the champion
    that had learned all 7 did not say so."""
    if "root_cause" not in champion.columns:
        return 0
    learned = champion.select("response_id", pl.col("root_cause").alias("learned"))
    return (
        challenger.select("response_id", "root_cause")
        .join(learned, "response_id")
        .filter(pl.col("root_cause") != pl.col("learned"))
        .height
    )


@dataclass(frozen=True)
class Rule:
    """A one-field rule over labelled rows: predicts policy_failure when it fires
    (:func:`models.evaluate.best_single_rule` picks one of :func:`candidate_rules`)."""

    name: str
    expr: pl.Expr

    def predict(self, frame: pl.DataFrame) -> np.ndarray:
        """0/1 (int8) per row of ``frame``: 1 where the rule fires; a null fires not."""
        return frame.select(self.expr.fill_null(False)).to_series().to_numpy().astype(np.int8)


def candidate_rules(
    train: pl.DataFrame,
    max_keywords: int = 300,
    text: str = "comment",
    categorical: tuple[str, ...] = ("queue", "policy_code", "channel"),
    numeric: tuple[str, ...] = (
        "transfers",
        "prior_contacts",
        "wait_seconds",
        "handle_seconds",
        "fees_charged",
    ),
    flags: tuple[str, ...] = ("sla_met", "policy_disclosed"),
) -> list[Rule]:
    """Every single-field rule worth trying: flags, thresholds on facts, one categorical value,
    single words of the text. Columns the frame lacks are skipped."""
    rules: list[Rule] = [
        Rule(f"{c} == false", pl.col(c).not_()) for c in flags if c in train.columns
    ]
    if "fee_excess" in train.columns:
        rules.append(Rule("fee_excess > 0", pl.col("fee_excess") > 0))
    if "resolution" in train.columns:
        rules.append(Rule("resolution != resolved", pl.col("resolution") != "resolved"))
    for column in numeric:
        if column not in train.columns:
            continue
        values = train.get_column(column).drop_nulls()
        if values.len() == 0:
            continue
        for q in (0.5, 0.6, 0.7, 0.8, 0.9):
            cut = values.quantile(q)
            if cut is not None:
                rules.append(Rule(f"{column} >= {cut:g}", pl.col(column) >= cut))
    for column in categorical:
        if column not in train.columns:
            continue
        frequent = train.get_column(column).drop_nulls().value_counts().filter(pl.col("count") >= 5)
        for value in frequent.get_column(column).sort().to_list():
            rules.append(Rule(f"{column} == {value}", pl.col(column) == value))
    if text not in train.columns:
        return rules
    # Words of two letters or more in any script (a one-letter "word" such as the "c" of
    # "c/o" was chosen as CFPB's best rule), apostrophes inside only, so the rule's \b
    # boundaries hold on both sides.
    words = (
        train.select(
            pl.col(text).fill_null("").str.to_lowercase().str.extract_all(r"\p{L}+(?:'\p{L}+)*")
        )
        .explode(text)
        .filter(pl.col(text).str.len_chars() >= 2)
        .group_by(text)
        .len()
        .filter(pl.col("len") >= 10)
        .sort(["len", text], descending=[True, False])
        .head(max_keywords)
        .get_column(text)
        .to_list()
    )
    for word in words:
        pattern = rf"\b{word}\b"
        rules.append(
            Rule(
                f"comment contains '{word}'",
                pl.col(text).str.to_lowercase().str.contains(pattern),
            )
        )
    return rules


@dataclass(frozen=True)
class RuleFirings:
    """Where each of :func:`candidate_rules` fires (1) on the training slice and on the
    test slice: ``names[i]`` is rule i's, ``train[i]`` and ``test[i]`` its 0/1 (int8)
    arrays, one value per row of each slice."""

    names: list[str]
    train: list[np.ndarray]
    test: list[np.ndarray]


def rule_firings(
    train: pl.DataFrame,
    test: pl.DataFrame,
    text: str,
    categorical: tuple[str, ...],
    numeric: tuple[str, ...],
    flags: tuple[str, ...],
) -> RuleFirings:
    """Every rule :func:`candidate_rules` finds on ``train`` (with those columns), fired on
    ``train`` and on ``test`` (:meth:`Rule.predict`): what the best-single-rule baseline
    (``models.evaluate.best_single_rule``) chooses from and is scored on."""
    rules = candidate_rules(train, text=text, categorical=categorical, numeric=numeric, flags=flags)
    return RuleFirings(
        [rule.name for rule in rules],
        [rule.predict(train) for rule in rules],
        [rule.predict(test) for rule in rules],
    )


def texts_seen_before(train: pl.DataFrame, test: pl.DataFrame, text: str | None) -> int:
    """How many ``test`` rows carry a text (as :func:`duplicate_text_groups` compares them)
    that a ``train`` row carries too: the time split cannot keep a filed-twice complaint on
    one side (its copies have their own dates), so it is said instead. 0 without ``text``
    (or when ``train`` lacks the column)."""
    if not text or text not in train.columns:
        return 0
    groups = duplicate_text_groups(pl.concat([train.select(text), test.select(text)]), text)
    if groups is None:
        return 0
    return int(np.isin(groups[train.height :], groups[: train.height]).sum())


def root_causes(frame: pl.DataFrame) -> np.ndarray:
    """The ``root_cause`` label of each row of ``frame`` as a numpy object array (None where
    a row has none): what ``models.pipeline.labels_to_target`` and training's checks of the
    labels read. Raises ColumnNotFoundError without the column."""
    return frame.get_column("root_cause").cast(pl.String).to_numpy()


#: The column that names the delivery (file) a labelled row came from.
DELIVERY_COLUMN = "source_file"


def set_apart_facts_only(
    labelled: pl.DataFrame, text: str | None
) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """``labelled`` split into the rows every metric is measured on and the facts-only rows
    (``facts_only`` of :func:`models.train.train_root_cause_model`: trained on, never
    scored), by one rule: a delivery (:data:`DELIVERY_COLUMN`, one export file) none of
    whose labelled rows has text is facts only, as an export without its text column is
    (CFPB's complaints without a narrative). A row without text in a delivery that has text
    is an ordinary one (a survey response left without a comment). None: no facts-only
    row; a model without text (``text`` empty) reads every row the same.

    ``train --source X --input F`` and ``train --source X`` from the landed rows both split
    by it: a user trial's retrain from the landed CFPB complaints measured its metrics mostly
    on 11,474 text-less complaints that ``--input`` had trained on as facts only."""
    if not text or labelled.is_empty() or text not in labelled.columns:
        return labelled, None
    written = pl.col(text).fill_null("").str.strip_chars().str.len_chars() > 0
    by_delivery = DELIVERY_COLUMN in labelled.columns
    delivery_has_text = written.any().over(DELIVERY_COLUMN) if by_delivery else written.any()
    marked = labelled.with_columns(delivery_has_text.alias("_delivery_has_text"))
    facts = marked.filter(~pl.col("_delivery_has_text")).drop("_delivery_has_text")
    scored = marked.filter(pl.col("_delivery_has_text")).drop("_delivery_has_text")
    return scored, facts if facts.height else None
