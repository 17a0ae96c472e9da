"""Mart builders: pure functions from scored responses to what BI reads."""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa

from transforms.formatting import formatted_text
from transforms.schemas import (
    ABANDONED,
    DAILY_SUMMARY_VERSION,
    FEEDBACK_SCORED_SCHEMA,
    FEEDBACK_SCORED_VERSION,
    POSITIVE_CLASS,
    RESOLVED_FLAG,
    REVIEW_QUEUE_SCHEMA,
    SAMPLE_SOURCE,
    conform,
)

#: The operation's facts ``feedback_scored`` carries from the clean layer (contract 6).
OPERATION_FACTS: tuple[str, ...] = (
    "sla_met",
    "policy_disclosed",
    "resolution",
    "fees_charged",
    "fee_excess",
)


def without_scores(responses: pl.DataFrame) -> pl.DataFrame:
    """The columns :func:`models.train.score_negatives` adds, all null: for dates scored
    before any model exists, so their marts keep the same contract."""
    return responses.with_columns(
        pl.lit(None, pl.Float64).alias("p_policy_failure"),
        pl.lit(None, pl.String).alias("root_cause"),
        pl.lit(None, pl.Boolean).alias("needs_review"),
        pl.lit(None, pl.List(pl.String)).alias("top_reasons"),
    )


def reasons_column(texts: np.ndarray, offsets: np.ndarray) -> pl.Series:
    """``top_reasons`` as a List(String) column, row ``i`` being
    ``texts[offsets[i]:offsets[i + 1]]`` (``models.explain.FlatReasons``; ``offsets`` has
    one more entry than there are rows). Built straight from the flat reasons and their
    offsets, no Python list per row: polars converts nested lists one inner list at a time,
    several times slower, and building the lists cost more than the conversion."""
    flat = pa.array(texts, pa.large_string())
    column = pl.from_arrow(pa.LargeListArray.from_arrays(pa.array(offsets), flat))
    assert isinstance(column, pl.Series)
    return column.cast(pl.List(pl.String))


#: Between the versions of :func:`model_versions_text`.
MODEL_VERSION_SEPARATOR = ", "


def model_versions_text(versions: pl.Series) -> str | None:
    """Every distinct model version of ``versions`` (feedback_scored's ``model_version``
    of the rows a weekly mart row counts), oldest first (versions are named by when they
    were trained), joined by :data:`MODEL_VERSION_SEPARATOR`; None when no row was scored.

    A period that straddles a promotion, its earlier dates not re-run, counts root causes
    of two models: a QA lead's trial found the fix list and agent outcomes naming only the
    newer, for a 28-day window the older one had scored 25 days of."""
    distinct = versions.drop_nulls().cast(pl.String).unique().sort().to_list()
    return MODEL_VERSION_SEPARATOR.join(distinct) if distinct else None


def feedback_scored(scored: pl.DataFrame, model_version: str | None) -> pl.DataFrame:
    """One row per valid response, with its predicted root cause if negative.

    ``scored`` carries the clean layer's columns (``CLEAN_RESPONSE_SCHEMA``) with the
    model's ``root_cause``, ``p_policy_failure``, ``needs_review`` and ``top_reasons``; a
    source's own columns (``rating``, ``attributes``) and the operation's facts (``sla_met``
    ... ``fee_excess``), the source's resolved flag (``resolved_first_contact``, contract
    9) and abandoned flag (``abandoned``, contract 10) it lacks (a source that maps none, a
    clean partition written before it) are null.
    ``model_version`` (the champion that scored the
    date, None without one) goes on the rows it gave a root cause only: the rest (not
    negative, not rated) are null, since no model scored them (contract 7; a user's trial
    found 85,114 never-scored rows of a demo naming the champion). Raises ``ValueError``
    when another contract column is missing."""
    absent = [
        pl.lit(None, FEEDBACK_SCORED_SCHEMA[name]).alias(name)
        for name in (
            "rating",
            "attributes",
            *OPERATION_FACTS,
            IN_TRAINING_SET,
            RESOLVED_FLAG,
            ABANDONED,
        )
        if name not in scored.columns
    ]
    if absent:
        scored = scored.with_columns(absent)
    return conform(
        with_source(scored).with_columns(
            pl.when(pl.col("root_cause").is_not_null())
            .then(pl.lit(model_version, pl.String))
            .alias("model_version"),
            pl.lit(FEEDBACK_SCORED_VERSION, pl.Int32).alias("schema_version"),
        ),
        FEEDBACK_SCORED_SCHEMA,
    )


#: feedback_scored's column (contract 8): whether the champion that scored the row was
#: trained on its label.
IN_TRAINING_SET = "in_training_set"


def with_out_of_fold_scores(
    scored: pl.DataFrame,
    out_of_fold: pl.DataFrame | None,
    threshold: float,
    review_band: tuple[float, float],
    facts_only: pl.Series | None = None,
) -> pl.DataFrame:
    """``scored`` (a date's responses with the champion's ``p_policy_failure``,
    ``root_cause``, ``needs_review`` and ``top_reasons``) with :data:`IN_TRAINING_SET`, and
    the rows whose label the champion was trained on scored as its training measured them.

    ``out_of_fold`` is the champion's out-of-fold file (``response_id``, ``p_out_of_fold``:
    each label's probability from the fold model that did not see it). A scored row it
    names is ``in_training_set``: its ``p_policy_failure`` becomes that out-of-fold
    probability, its ``root_cause`` and ``needs_review`` follow from it at ``threshold`` and
    ``review_band`` (a flag the band did not raise, such as an unseen language, is kept),
    and its ``top_reasons`` (the final model's, which learned the label) lead with a note
    saying so and giving both probabilities. ``facts_only`` (``response_id``) are the labels
    the champion was trained on without text, for which cross-validation made no
    out-of-fold probability: such a scored row is ``in_training_set`` too, its scores the
    final model's as they are, its ``top_reasons`` leading with a note saying they are
    in-sample. Other scored rows are false and unchanged; rows
    no model scored, and every row when ``out_of_fold`` is None (a model that recorded
    none), are null. The final model scores its own training rows in-sample: a data
    scientist's trial with CFPB measured ROC-AUC 0.966 on those rows of feedback_scored
    against the 0.743 training reported, and the marts' counts and shares built on them."""
    unscored = pl.col("p_policy_failure").is_null()
    if out_of_fold is None:
        return scored.with_columns(pl.lit(None, pl.Boolean).alias(IN_TRAINING_SET))
    held_out = (
        out_of_fold.select("response_id", pl.col("p_out_of_fold").alias("_p_out_of_fold"))
        .drop_nulls()
        .unique("response_id", keep="last")
    )
    if "_p_out_of_fold" in scored.columns:
        scored = scored.drop("_p_out_of_fold")
    joined = scored.join(held_out, "response_id", "left", maintain_order="left")
    trained = ~unscored & pl.col("_p_out_of_fold").is_not_null()
    # Trained on without text: no out-of-fold probability, and no less trained on (a
    # review found them read false, and NOT in_training_set then held in-sample scores).
    without_text = (
        ~unscored
        & ~trained
        & pl.col("response_id").is_in(
            (facts_only if facts_only is not None else pl.Series([], dtype=pl.String)).implode()
        )
    )
    in_sample_note = formatted_text(
        "trained on this label without a comment, so no out-of-fold probability: "
        "P(policy_failure) {} and these reasons are from the model that learned it",
        _two_places(pl.col("p_policy_failure")),
    )
    p_held_out = pl.col("_p_out_of_fold")
    in_band = pl.col("p_policy_failure").is_between(*review_band, closed="none")
    note = formatted_text(
        "trained on this label: P(policy_failure) {} out-of-fold ({} from the model that "
        "learned it, whose reasons follow)",
        _two_places(p_held_out),
        _two_places(pl.col("p_policy_failure")),
    )
    return joined.with_columns(
        pl.when(unscored).then(None).otherwise(trained | without_text).alias(IN_TRAINING_SET),
        pl.when(trained)
        .then(p_held_out)
        .otherwise(pl.col("p_policy_failure"))
        .alias("p_policy_failure"),
        pl.when(trained)
        .then(
            pl.when(p_held_out >= threshold)
            .then(pl.lit(POSITIVE_CLASS))
            .otherwise(pl.lit("perceived"))
        )
        .otherwise(pl.col("root_cause"))
        .alias("root_cause"),
        pl.when(trained)
        .then(
            p_held_out.is_between(*review_band, closed="none")
            | (pl.col("needs_review").fill_null(False) & ~in_band)
        )
        .otherwise(pl.col("needs_review"))
        .alias("needs_review"),
        pl.when(trained & pl.col("top_reasons").is_not_null())
        .then(pl.concat_list(note, pl.col("top_reasons")))
        .when(without_text & pl.col("top_reasons").is_not_null())
        .then(pl.concat_list(in_sample_note, pl.col("top_reasons")))
        .otherwise(pl.col("top_reasons"))
        .alias("top_reasons"),
    ).drop("_p_out_of_fold")


def _two_places(probability: pl.Expr) -> pl.Expr:
    """A probability (0 to 1) as text with two decimals: 0.2 as 0.20."""
    return probability.round(2).cast(pl.String).str.pad_end(4, "0")


#: The rating a two-level ``rating`` counts as satisfied (Zendesk's "good"; the other level,
#: "bad", is the negative).
SATISFIED_RATING = "good"


def satisfaction_counts() -> list[pl.Expr]:
    """Aggregations over rows with a ``rating``: ``ratings`` (rows whose rating is given,
    good or bad) and ``satisfied`` (those rated :data:`SATISFIED_RATING`), both UInt32.
    Zendesk's satisfaction score is satisfied / ratings ("good / (good + bad)"); a survey
    only offered is not among them."""
    return [
        pl.col("rating").is_not_null().sum().cast(pl.UInt32).alias("ratings"),
        (pl.col("rating") == SATISFIED_RATING).sum().cast(pl.UInt32).alias("satisfied"),
    ]


def satisfied_share(satisfied: pl.Expr, ratings: pl.Expr) -> pl.Expr:
    """``satisfied / ratings``, a share from 0 to 1; null where nothing was rated."""
    return pl.when(ratings > 0).then(satisfied / ratings)


def handled() -> pl.Expr:
    """Whether a row's contact was handled: not :data:`ABANDONED` (Boolean; null, a source
    that maps no abandoned flag or a row that leaves it empty, counts as handled, as every
    contact did before the column existed). First-contact resolution is over handled
    contacts only: SQM Group's and ICMI's definition of first-call resolution counts the
    calls an agent answered, and a call abandoned before anyone answered is an access
    failure (the abandonment rate), not an unresolved contact."""
    return ~pl.col(ABANDONED).fill_null(False)


def resolution_counts() -> list[pl.Expr]:
    """Aggregations over rows with a ``resolved_first_contact`` (:data:`RESOLVED_FLAG`,
    Boolean, null where not asked or not answered) and an ``abandoned`` flag
    (:data:`ABANDONED`, Boolean, null where not mapped): ``fcr_answered`` (handled rows,
    :func:`handled`, whose flag is yes or no), ``fcr_resolved`` (those yes) and
    ``abandoned`` (rows whose abandoned flag is yes), all UInt32. ``fcr_resolved /
    fcr_answered`` is first-contact resolution over handled contacts as the source reports
    it (:func:`fcr_rate`): field sample 10's call log (24 calls, 3 abandoned, 18 resolved)
    gives 18/21 = 0.857, where counting its abandoned calls unresolved gave 18/24 = 0.750.
    The counts, not the rate, roll up across groups."""
    flag = pl.col(RESOLVED_FLAG).filter(handled())
    return [
        flag.is_not_null().sum().cast(pl.UInt32).alias("fcr_answered"),
        flag.fill_null(False).sum().cast(pl.UInt32).alias("fcr_resolved"),
        pl.col(ABANDONED).fill_null(False).sum().cast(pl.UInt32).alias("abandoned"),
    ]


def fcr_rate(resolved: pl.Expr, answered: pl.Expr) -> pl.Expr:
    """``resolved / answered``, a rate from 0 to 1; null where nothing was answered (no
    answer is no rate, not 0)."""
    return pl.when(answered > 0).then(resolved / answered)


def wilson_interval(frame: pl.DataFrame, successes: str, trials: str) -> pl.DataFrame:
    """``frame`` with the 95% Wilson score interval of the share ``successes / trials`` (two
    count columns) as ``low`` and ``high`` (0 to 1; null where ``trials`` is 0 or null), by
    ``scipy.stats.binomtest(...).proportion_ci(method="wilson")``. Unlike the normal
    approximation it stays within 0-1 and is not of zero width at 0 or all: a day of 3 good
    of 3 rated reads 0.44-1.00, not 1.00-1.00 (Wilson, "Probable inference", JASA 1927;
    Brown, Cai and DasGupta, Statistical Science 2001). One call a row: for report tables
    (days, agents), not for a mart's millions of rows."""
    from scipy.stats import binomtest

    bounds = [
        binomtest(int(k), int(n)).proportion_ci(method="wilson") if n else None
        for k, n in frame.select(successes, trials).iter_rows()
    ]
    return frame.with_columns(
        pl.Series("low", [b and float(b.low) for b in bounds], pl.Float64),
        pl.Series("high", [b and float(b.high) for b in bounds], pl.Float64),
    )


#: The daily summary's group: sources side by side, then date, queue, policy and channel.
SUMMARY_KEYS: tuple[str, ...] = ("source", "survey_date", "queue", "policy_code", "channel")


def with_source(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with a ``source`` column (the generated sample's name when it has none)."""
    if "source" in frame.columns:
        return frame
    return frame.with_columns(pl.lit(SAMPLE_SOURCE, pl.String).alias("source"))


def daily_summary(scored: pl.DataFrame) -> pl.DataFrame:
    """Counts and shares by source, date, queue, policy and channel.

    ``scored`` carries ``SUMMARY_KEYS``, ``is_negative`` (null where the source's negative
    rule could not judge the row: no rating given), ``root_cause`` (null where no model
    scored the row) and ``csat``. ``negative_share`` is negatives over the rated responses,
    null when none was rated: an analyst's trial read a call-centre queue's share low by
    the unanswered calls it counted as not negative (946 of 5,000 calls). ``policy_failure_share``
    is policy_failures over the scored negatives (policy_failures + perceived), null when
    none was scored. ``policy_failures`` and ``perceived`` are null where the group has
    negatives and no model scored any of them: a BI developer's trial read "0 policy
    failures" for a source with no model yet, which a dashboard cannot tell from none.

    ``expected_policy_failures`` is the sum of ``p_policy_failure`` (which ``scored`` then
    carries) over the scored negatives, and ``expected_policy_failure_share`` that over the
    scored negatives: how many policy failures there are, as the calibrated probabilities
    estimate them. The counted ``policy_failures`` are decisions at the model's threshold,
    which is tuned for macro-F1, not to count: a data scientist's trial found CFPB's
    "credit reporting" at 0.613 counted against 0.450 true and 0.476 expected, and
    "mortgage" at 0.015 against 0.053 and 0.067 ("probabilistic classify and count": Bella
    et al., "Quantification via probability estimators", ICDM 2010). Null where the group
    has no negative a model scored (no negatives too): 0 only when rows were scored and
    none is a likely failure.

    ``mean_csat`` is over the rows with a csat, ``csat_responses`` of them: the weight that
    rolls the mean up across groups and dates (a BI analyst's trial weighted it by ``rated``,
    which is another count where the negative rule reads nps, a rating or nothing).

    ``ratings``, ``satisfied`` and ``satisfied_share`` (:func:`satisfaction_counts`) count
    a two-level ``rating`` (null where ``scored`` has none): Zendesk's satisfaction score,
    good / rated, which a support manager's trial found nowhere in the report.

    ``fcr_answered``, ``fcr_resolved`` and ``fcr_rate`` (:func:`resolution_counts`) count
    the source's ``resolved_first_contact`` (null where ``scored`` has none, so 0 answered
    and a null rate) over handled contacts: an analyst's SurveyMonkey trial found its "Was
    your issue resolved on this call?" answers in the weekly agent_outcomes only.
    ``abandoned`` counts the rows the source's ``abandoned`` flag says were abandoned
    (``scored`` without it: 0), which the fcr counts leave out."""
    keys = list(SUMMARY_KEYS)
    if "rating" not in scored.columns:
        scored = scored.with_columns(pl.lit(None, pl.String).alias("rating"))
    scored = scored.with_columns(
        pl.lit(None, pl.Boolean).alias(name)
        for name in (RESOLVED_FLAG, ABANDONED)
        if name not in scored.columns
    )
    return (
        with_source(scored)
        .group_by(keys)
        .agg(
            pl.len().cast(pl.UInt32).alias("responses"),
            pl.col("is_negative").sum().cast(pl.UInt32).alias("negatives"),
            pl.col("is_negative").is_not_null().sum().cast(pl.UInt32).alias("rated"),
            (pl.col("root_cause") == POSITIVE_CLASS).sum().cast(pl.UInt32).alias("policy_failures"),
            (pl.col("root_cause") == "perceived").sum().cast(pl.UInt32).alias("perceived"),
            pl.col("root_cause").is_not_null().sum().alias("scored"),
            pl.col("p_policy_failure")
            .filter(pl.col("root_cause").is_not_null())
            .sum()
            .alias("expected_policy_failures"),
            pl.col("csat").cast(pl.Float64).mean().alias("mean_csat"),
            pl.col("csat").is_not_null().sum().cast(pl.UInt32).alias("csat_responses"),
            *satisfaction_counts(),
            *resolution_counts(),
        )
        .with_columns(
            satisfied_share(pl.col("satisfied"), pl.col("ratings")).alias("satisfied_share"),
            fcr_rate(pl.col("fcr_resolved"), pl.col("fcr_answered")).alias("fcr_rate"),
            pl.when(pl.col("rated") > 0)
            .then(pl.col("negatives") / pl.col("rated"))
            .otherwise(None)
            .alias("negative_share"),
            *(
                pl.when((pl.col("negatives") > 0) & (pl.col("scored") == 0))
                .then(None)
                .otherwise(pl.col(name))
                .alias(name)
                for name in ("policy_failures", "perceived")
            ),
            # An estimate only of what a model scored: a group without negatives has none
            # (null, not 0.0), which summed with a source's unscored groups read as "0
            # expected failures" for a source no model scored (a platform engineer's trial).
            pl.when(pl.col("scored") > 0)
            .then(pl.col("expected_policy_failures"))
            .otherwise(None)
            .alias("expected_policy_failures"),
            # Over the negatives a model scored: with no model yet (or a negative it did not
            # score) 0 of 0 is no share, not a share of 0 (an operator's trial read "0 %
            # policy failures" for every source before its first model).
            pl.when(pl.col("policy_failures") + pl.col("perceived") > 0)
            .then(pl.col("policy_failures") / (pl.col("policy_failures") + pl.col("perceived")))
            .otherwise(None)
            .alias("policy_failure_share"),
            pl.when(pl.col("scored") > 0)
            .then(pl.col("expected_policy_failures") / pl.col("scored"))
            .otherwise(None)
            .alias("expected_policy_failure_share"),
            pl.lit(DAILY_SUMMARY_VERSION, pl.Int32).alias("schema_version"),
        )
        .sort(keys)
    )


#: The review queue's reason for an unaudited negative the model abstains on: inside the
#: champion's review band (or in a language it did not learn), ``needs_review`` in
#: feedback_scored.
UNCERTAIN = "uncertain"
#: The review queue's reason for an unaudited negative the model decided (outside the
#: review band, ``needs_review`` false) that is among its date's closest to the threshold:
#: audited to check the decisions nearest to flipping, not because the model is unsure. A
#: QA lead's trial read "459 uncertain" of negatives at 0.14-0.25 and 0.82-0.96, none of them
#: flagged ``needs_review``, beside a holdout accuracy of 1.000.
SPOT_CHECK = "spot_check"


def review_queue(
    scored: pl.DataFrame,
    audited_ids: pl.Series,
    out_of_fold: pl.DataFrame | None,
    threshold: float,
    model_version: str | None,
    uncertain_limit: int = 50,
    doubt_at: float = 0.8,
    reconfirmed_ids: pl.Series | None = None,
) -> pl.DataFrame:
    """The responses of one date most worth auditing next.

    * the ``uncertain_limit`` unaudited negatives closest to the decision threshold
      (priority 1 at the threshold, 0 at certainty): :data:`UNCERTAIN` where ``scored``'s
      ``needs_review`` is true (the model abstains: inside the review band, or a language it
      did not learn), :data:`SPOT_CHECK` where it is false (the model decided; the date's
      closest calls, audited to check them). ``scored`` without ``needs_review`` calls them
      all uncertain;
    * ``label_doubt``: audited responses whose out-of-fold probability gives their QA label
      less than ``1 - doubt_at`` (likely label errors), priority = how strongly it disagrees;
      not those in ``reconfirmed_ids``, whose label a later audit repeated (found by a QA
      lead's trial: a doubt QA had answered by re-auditing came back after every retrain).
    """
    scored = with_source(scored)
    columns = ["queue", "policy_code", "comment", "top_reasons", "source"]
    negatives = scored.filter(pl.col("p_policy_failure").is_not_null())
    abstains = (
        pl.col("needs_review").fill_null(True)
        if "needs_review" in negatives.columns
        else pl.lit(True)
    )
    uncertain = (
        negatives.filter(~pl.col("response_id").is_in(audited_ids.implode()))
        .with_columns(
            (
                1 - (pl.col("p_policy_failure") - threshold).abs() / max(threshold, 1 - threshold)
            ).alias("priority"),
            pl.when(abstains).then(pl.lit(UNCERTAIN)).otherwise(pl.lit(SPOT_CHECK)).alias("reason"),
            pl.lit(None, pl.String).alias("audit_label"),
        )
        .sort(["priority", "response_id"], descending=[True, False])
        .head(uncertain_limit)
    )
    frames = [uncertain]
    if out_of_fold is not None and out_of_fold.height:
        doubt = (
            out_of_fold.select(
                "response_id",
                pl.col("root_cause").alias("audit_label"),
                pl.col("p_out_of_fold").alias("p_policy_failure"),
            )
            .with_columns(
                pl.when(pl.col("audit_label") == POSITIVE_CLASS)
                .then(1 - pl.col("p_policy_failure"))
                .otherwise(pl.col("p_policy_failure"))
                .alias("priority"),
                pl.lit("label_doubt").alias("reason"),
            )
            .filter(pl.col("priority") >= doubt_at)
            .join(scored.select("response_id", "survey_date", *columns), "response_id", "inner")
        )
        if reconfirmed_ids is not None:
            doubt = doubt.filter(~pl.col("response_id").is_in(reconfirmed_ids.implode()))
        frames.append(doubt)
    queue = pl.concat(
        [
            f.select(
                "survey_date",
                "response_id",
                "reason",
                "priority",
                "p_policy_failure",
                "audit_label",
                *columns,
            )
            for f in frames
        ],
        how="vertical_relaxed",
    ).with_columns(pl.lit(model_version, pl.String).alias("model_version"))
    return conform(
        queue.sort(["priority", "response_id"], descending=[True, False]), REVIEW_QUEUE_SCHEMA
    )


#: The columns a QA audit worksheet leads with: an audit file's (``servicelens.ingest.
#: audits.AUDIT_COLUMNS``), left blank for QA to fill in.
WORKSHEET_AUDIT_COLUMNS: tuple[str, ...] = ("response_id", "root_cause", "audited_at", "auditor")
#: The contact facts a QA audit worksheet carries after the queue's columns, when the items'
#: responses have them (the clean layer's columns, their units in the name): what QA judges a
#: call by where there is no comment (a call log's wait, talk time, outcome). Found by a QA
#: lead's trial: a call-log source's worksheet held the queue alone.
WORKSHEET_FACT_COLUMNS: tuple[str, ...] = (
    "agent_id",
    "wait_seconds",
    "handle_seconds",
    "transfers",
    "prior_contacts",
    "resolution",
    "resolved_first_contact",
    "abandoned",
    "sla_met",
    "csat",
    "nps",
)


#: When the label a ``label_doubt`` review item doubts was audited (UTC; null for a source's
#: own label): recorded with a model's out-of-fold probabilities, so that the review queue can
#: tell a re-audit from the audit it doubted (:func:`open_review_items`).
LABEL_AUDITED_AT = "label_audited_at"


def with_spot_checks(queue: pl.DataFrame, flags: pl.DataFrame) -> pl.DataFrame:
    """``queue`` (review_queue rows) with each :data:`UNCERTAIN` item whose response
    ``flags`` (feedback_scored's ``response_id`` and ``needs_review`` of the queue's dates)
    does not flag for review called :data:`SPOT_CHECK`: queues written before 2026-12-05
    called every unaudited item uncertain. An item ``flags`` lacks keeps its reason."""
    decided = flags.filter(pl.col("needs_review") == False).get_column("response_id")  # noqa: E712
    return queue.with_columns(
        pl.when((pl.col("reason") == UNCERTAIN) & pl.col("response_id").is_in(decided.implode()))
        .then(pl.lit(SPOT_CHECK))
        .otherwise(pl.col("reason"))
        .alias("reason")
    )


def open_review_items(queue: pl.DataFrame, audits: pl.DataFrame) -> pl.DataFrame:
    """The review queue's items still open, most urgent first.

    ``queue`` holds review_queue rows (``REVIEW_QUEUE_SCHEMA``; other columns are kept),
    and may carry :data:`LABEL_AUDITED_AT`: when the label a ``label_doubt`` item doubts was
    audited (UTC; null for a source's own label such as CFPB's company response).
    ``audits`` are the audits in force (``response_id``, ``root_cause``, ``audited_at``):
    the training labels. An ``uncertain`` or ``spot_check`` item closes once its response
    has one. A ``label_doubt`` item closes once the verdict in force is no longer the one
    doubted (a re-audit changed it) or, with :data:`LABEL_AUDITED_AT`, once the audit in
    force is another audit than the one doubted (a re-audit confirmed it, or QA audited a
    response whose label came with the export): a person has looked at it since the doubt.
    Without that column only a changed verdict closes a doubt (a confirming re-audit cannot
    be told from the audit doubted). An audit row set aside (a mistyped verdict, a conflict,
    a date ahead) closes nothing: it labels nothing, so the item stays on the worksheet
    until it is fixed. A queue is written when its date is scored, so this is how audits
    filed since reach it without scoring again.
    """
    latest = audits.select(
        "response_id",
        pl.col("root_cause").alias("_verdict"),
        (
            pl.col("audited_at")
            if "audited_at" in audits.columns
            else pl.lit(None, pl.Datetime("us", "UTC"))
        ).alias("_verdict_at"),
    ).unique("response_id", keep="last")
    with_audit = queue.join(latest, "response_id", "left")
    uncertain_open = (pl.col("reason") != "label_doubt") & pl.col("_verdict").is_null()
    unchanged = pl.col("_verdict") == pl.col("audit_label")
    if LABEL_AUDITED_AT in queue.columns:
        # The same audit as the one doubted (null-safe: an export's label has no time).
        unchanged &= pl.col("_verdict_at").eq_missing(pl.col(LABEL_AUDITED_AT))
    doubt_open = (pl.col("reason") == "label_doubt") & (pl.col("_verdict").is_null() | unchanged)
    return (
        with_audit.filter(uncertain_open | doubt_open)
        .drop("_verdict", "_verdict_at")
        .sort(
            ["priority", "survey_date", "response_id"],
            descending=[True, True, False],
            nulls_last=True,
        )
    )


#: The review queue's reason for a negative offered for audit before any model exists.
FIRST_AUDIT = "first_audit"


def first_audit_items(negatives: pl.DataFrame, labelled_ids: pl.Series) -> pl.DataFrame:
    """Review items for a source with no model yet: its negative responses that have no
    label (``labelled_ids``, the ids of the audits and export labels in force), with
    ``reason`` :data:`FIRST_AUDIT`, for QA's first audits.

    ``negatives`` carries ``survey_date``, ``response_id``, ``queue``, ``policy_code``,
    ``comment`` and ``source``. With no model there is no probability to rank by, so the
    items are spread over the queues: each queue's responses in a fixed pseudo-random order
    (the id's hash), ``priority`` 1 for each queue's first, 1/2 for its second, and so on, so
    the first audits cover every queue rather than the busiest one. Returns
    ``REVIEW_QUEUE_SCHEMA``'s columns, most urgent first; ``p_policy_failure``,
    ``audit_label`` and ``model_version`` are null, ``top_reasons`` empty.

    Found by a QA lead's trial: a new source's review queue said "nothing open" and its
    training needed audits, but the derived ids of its responses were nowhere QA looks."""
    spread = pl.col("response_id").hash(seed=7).rank("ordinal").over("queue")
    items = negatives.filter(~pl.col("response_id").is_in(labelled_ids.implode())).with_columns(
        pl.lit(FIRST_AUDIT).alias("reason"),
        (1.0 / spread).alias("priority"),
        pl.lit(None, pl.Float64).alias("p_policy_failure"),
        pl.lit(None, pl.String).alias("audit_label"),
        pl.lit([], pl.List(pl.String)).alias("top_reasons"),
        pl.lit(None, pl.String).alias("model_version"),
    )
    return conform(with_source(items), REVIEW_QUEUE_SCHEMA).sort(
        ["priority", "survey_date", "response_id"], descending=[True, True, False]
    )


def audit_worksheet(items: pl.DataFrame) -> pl.DataFrame:
    """Open review items (:func:`open_review_items`) as a worksheet QA fills in and saves as
    an audit file: the audit columns first (blank), then what QA reads to decide.

    Text a spreadsheet would run as a formula (a cell starting ``=``, ``+``, ``-``, ``@``,
    tab or carriage return; OWASP's CSV injection advice) gets a leading apostrophe, in
    every text column but the id (ids that start so are quarantined by validation).
    ``top_reasons`` is joined with ``"; "``. The columns of ``items`` beyond the queue's
    (:data:`~transforms.schemas.REVIEW_QUEUE_SCHEMA`, e.g. the contact facts
    ``servicelens.stages.with_contact_facts`` adds) follow, in their order, as they are.
    """
    blank = [pl.lit(None, pl.String).alias(c) for c in WORKSHEET_AUDIT_COLUMNS[1:]]
    facts = [c for c in items.columns if c not in REVIEW_QUEUE_SCHEMA]
    context = items.select(
        pl.col("survey_date"),
        "reason",
        pl.col("priority").round(3),
        pl.col("p_policy_failure").round(3),
        "audit_label",
        "queue",
        "policy_code",
        "comment",
        pl.col("top_reasons").list.join("; "),
        "model_version",
        *facts,
    )
    guarded = [
        pl.col(c).str.replace(r"^([=+\-@\t\r])", "'$1")
        for c, t in context.schema.items()
        if t == pl.String
    ]
    return pl.concat(
        [items.select("response_id", *blank), context.with_columns(guarded)], how="horizontal"
    )
