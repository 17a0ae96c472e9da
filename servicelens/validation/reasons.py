"""What kind of problem a quarantine reason names, read from the reason's own words.

Every quarantined row carries one or more reasons, in one of these forms:

* ``malformed line: 7 fields where the header has 9`` and ``malformed JSON: ...``: the record
  could not be split into fields (``servicelens/ingest/readers.py``);
* ``duplicate delivery: superseded by line 2873``: an earlier copy of a response, in an
  earlier delivery or on an earlier line of the same file, replaced by the later copy on
  that line (``servicelens/stages.py``; a workbook's ``sheet 'Umfrage' row 2873``, on the
  sheet that delivery was read from), with ``, which failed its checks
  ...`` after it when that copy was quarantined too;
* ``updated: superseded by the later version on line 2 of re.csv (changed: label)``: an
  earlier version of a response changed since, replaced by a later copy whose mapped
  values differ (the reason names the columns: a CFPB company response corrected in a
  re-download), or delivered later with other values where the export states that time
  (``(updated_at 2026-11-26T09:30:00Z; changed: rating)``: a Zendesk rating changed bad ->
  good) (``servicelens/stages.py``); a copy sent again unchanged is a
  ``duplicate delivery``;
* ``exact duplicate: the same answers as line 11, ...``: a row whose derived id (made from
  its answers) another line of the same file has, or ``exact duplicate: the same response
  id and answers as line 11``: a row whose own response id and answers a later line of the
  same file repeats (``servicelens/stages.py``);
* ``<column>: '<raw value>' <problem>`` or ``<column>: (empty) <problem>``: a failed row
  expectation (``servicelens/validation/expectations.py``), e.g.
  ``csat: '9' is not a score from 1 to 5``.

:func:`reason_kind` turns a reason into its ``kind`` (the record-level kind's own name, or
the expectation's problem) and ``column`` (for expectation failures), so the report counts
reasons by what they say and never files one kind under another's name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import polars as pl

from transforms.formatting import formatted_text

#: What every run summary calls a quarantined row that is an earlier copy of a response, not
#: a reject: the quarantine's ``superseded`` rows, ``DayCounts.superseded_duplicates`` and
#: ``processed_dates.rows_superseded``. A later line of the same file supersedes a row as a
#: later delivery does (a form submitted twice), so neither is left out of the words; and
#: no "copies": a form submitted twice is no copy to the one who sent it (trial 82).
SUPERSEDED_WORDS = "superseded by a later line or delivery"


#: What the run summaries and the report call the rows a source definition's ``[[exclude]]``
#: rules set aside (``DayCounts.set_aside``): nothing wrong with them, so not rejects.
SET_ASIDE_WORDS = "set aside by the source definition"


def quarantined_split(
    quarantined: int, superseded: int, set_aside: int = 0, updated: int = 0
) -> str:
    """How many of ``quarantined`` rows are :data:`SUPERSEDED_WORDS` (``superseded``, the
    quarantine's ``superseded`` column), how many :data:`SET_ASIDE_WORDS` (``set_aside``,
    named only when there are some) and how many rejects, in the words every run summary
    and the run report use: a BI analyst's trial read "quarantined 26" of three deliveries
    with 2 rejected responses, and a support manager's Zendesk surveys only offered read as
    rejects. ``updated`` of the superseded are earlier versions of responses changed since
    (reason kind ``updated``), said apart from the unchanged copies when there are some (a
    trial's corrected CFPB re-download read as 78 copies sent again, 2 of them changed)."""
    aside = f"{set_aside} {SET_ASIDE_WORDS}, " if set_aside else ""
    versions = f" ({updated} updated, {superseded - updated} unchanged)" if updated else ""
    return (
        f"{superseded} {SUPERSEDED_WORDS}{versions}, {aside}"
        f"{quarantined - superseded - set_aside} rejected"
    )


#: Reasons about a whole record, not one of its values: the text before the first colon.
RECORD_KINDS: tuple[str, ...] = (
    "malformed line",
    "malformed JSON",
    "duplicate delivery",
    "updated",
    "exact duplicate",
)
#: ``<column>: '<raw value>' <problem>`` or ``<column>: (empty) <problem>``. The raw value
#: may hold anything, quotes and newlines included; problems never hold a quote, so the last
#: quote closes the value.
#: A set-aside row's reason (:data:`SET_ASIDE_FORMAT`) has a colon after its value, and
#: reads the same: its rule's words are its problem.
_COLUMN_REASON = r"(?s)^([a-z][a-z0-9_]*): (?:'.*'|\(empty\)):? ([^']+)$"


def reason_kind(reason: pl.Expr) -> pl.Expr:
    """A struct ``{kind: str, column: str | null}`` for each reason string.

    Record-level reasons (:data:`RECORD_KINDS`) give their own name and no column; an
    expectation failure gives its problem and the column; any other reason gives the text
    before its first colon (the whole reason if it has none), so a new kind of reason shows
    up under its own words.
    """
    prefix = reason.str.split_exact(":", 1).struct.field("field_0")
    column = reason.str.extract(_COLUMN_REASON, 1)
    problem = reason.str.extract(_COLUMN_REASON, 2)
    kind = (
        pl.when(prefix.is_in(list(RECORD_KINDS)))
        .then(prefix)
        .when(problem.is_not_null())
        .then(problem)
        .otherwise(prefix)
    )
    return pl.struct(
        kind.alias("kind"),
        pl.when(prefix.is_in(list(RECORD_KINDS))).then(None).otherwise(column).alias("column"),
    )


#: Record-level reasons: the whole reason's start, and its kind.
_RECORD_CODES: tuple[tuple[str, str], ...] = (
    ("malformed line:", "malformed_line"),
    ("malformed JSON:", "malformed_json"),
    ("malformed record:", "malformed_json"),
    ("repeats the header", "repeated_header"),
    ("duplicate delivery:", "duplicate_delivery"),
    ("updated:", "updated"),
    ("exact duplicate:", "exact_duplicate"),
)
#: Column reasons: a regex on the problem (after the quoted value), and its kind; the first
#: that matches names it. Anchored on the words every wording of a check starts with
#: (servicelens/validation/expectations.py), never on what a source or a row adds after them.
_PROBLEM_CODES: tuple[tuple[str, str], ...] = (
    (r"^(?:is )?missing", "missing"),
    (r"^is used by more than one", "repeated_id"),
    (r"^is already in the clean layer under survey date", "accepted_elsewhere"),
    (
        r"^(?:is a number a spreadsheet wrote in scientific notation|starts like a spreadsheet "
        r"formula)",
        "id_as_spreadsheet_text",
    ),
    (r"^(?:is not a timestamp|is a day the calendar does not have)", "not_a_timestamp"),
    (r"^(?:does not exist in|happened twice in) .*daylight saving", "daylight_saving"),
    (r"^is (?:in the future|after the delivery was landed|before \d)", "time_out_of_range"),
    (r"^is not a known channel", "not_a_channel"),
    (r"^is not a score from", "not_a_score"),
    (r"^is not a rating", "not_a_rating"),
    (r"^is not a (?:number|duration)", "not_a_number"),
    (r"^is not a yes or no", "not_yes_or_no"),
    (r"^is longer than the \d+-character limit", "too_long"),
    (r"double-encoded", "double_encoded"),
    (r"^matches no interaction", "no_interaction"),
)
#: How a row a definition's ``[[exclude]]`` rule set aside is quarantined (its ``excluded``,
#: then first reason): ``<export column>: '<value>': <the rule's reason>``, filled by
#: ``transforms.formatting.formatted_text``, e.g. ``Finished: '0': the respondent did not
#: finish the survey ...``. One format for every preset's and definition's rules; before
#: it, no colon followed the value (a bank analyst's trial read "Finished: '0' the
#: respondent did not finish"), and rows landed so are read alike (:data:`_SET_ASIDE`).
SET_ASIDE_FORMAT = "{}: '{}': {}"
#: A row a definition's [[exclude]] rule set aside: :data:`SET_ASIDE_FORMAT`, or the
#: earlier ``<export column>: '<value>' <its reason>``.
_SET_ASIDE = r"(?s)^([^:]+): '.*':? (.+)$"
#: A row landed before its definition could read its date (servicelens/stages.py).
_WRONG_PARTITION = "submitted_at: now reads as survey date"


def reason_codes(reason: pl.Expr, set_aside: Sequence[str] = ()) -> pl.Expr:
    """A struct ``{kind: str, column: str | null}`` for each reason string: ``kind`` one of
    :data:`transforms.schemas.REASON_KINDS` (``other`` for a reason none names), ``column``
    the canonical column an expectation failure names (the export's column for
    ``set_aside``), null for a record-level reason.

    ``set_aside`` holds the reasons of the source definition's ``[[exclude]]`` rules (their
    words are the definition's own, so they are told by them). Unlike :func:`reason_kind`,
    whose kind is the problem's words (worded per source, some with a date in them), the
    kind here is one of a fixed list, stable across sources and releases.
    """
    return _codes_of(reason, *_reason_parts(reason), set_aside)


def _reason_parts(reason: pl.Expr) -> tuple[pl.Expr, pl.Expr, pl.Expr, pl.Expr]:
    """The parts of a reason :func:`_codes_of` reads: the column and the problem of a column
    reason, and the export's column and the words of a set-aside row's."""
    return (
        reason.str.extract(_COLUMN_REASON, 1),
        reason.str.extract(_COLUMN_REASON, 2),
        reason.str.extract(_SET_ASIDE, 1),
        reason.str.extract(_SET_ASIDE, 2),
    )


def _codes_of(
    reason: pl.Expr,
    column: pl.Expr,
    problem: pl.Expr,
    excluded_column: pl.Expr,
    excluded_words: pl.Expr,
    set_aside: Sequence[str],
) -> pl.Expr:
    """:func:`reason_codes` from the reason and its parts (:func:`_reason_parts`): given as
    columns computed once, the parts are not extracted again for each kind's test (inlined,
    they were: 1.4 s for the 41,284 quarantined rows of a 1M date, about 40 extractions)."""
    told: list[tuple[pl.Expr, str]] = [
        *((reason.str.starts_with(start), code) for start, code in _RECORD_CODES),
        (reason.str.starts_with(_WRONG_PARTITION), "wrong_partition"),
        *([(excluded_words.is_in(list(set_aside)), "set_aside")] if set_aside else []),
        *((problem.str.contains(pattern), code) for pattern, code in _PROBLEM_CODES),
    ]
    kind = pl.coalesce(
        *(pl.when(condition).then(pl.lit(code)) for condition, code in told), pl.lit("other")
    )
    named = (
        pl.when(kind == "set_aside")
        .then(excluded_column)
        .when(kind == "wrong_partition")
        .then(pl.lit("submitted_at"))
        .when(problem.is_not_null())
        .then(column)
    )
    return pl.struct(kind.alias("kind"), named.alias("column"))


def set_aside_words(excluded: pl.Series) -> tuple[str, ...]:
    """The rule words of landed set-aside reasons (``excluded``: text, null where a row was
    not set aside; each ``<export column>: '<value>' <the rule's reason>``), distinct, in
    the order first met: given to :func:`with_reason_kinds` beside the definition's current
    reasons, so a row landed under an earlier wording of a rule is kind ``set_aside`` too.

    Found reviewing the zendesk preset: ratings landed before its ``offered`` rule was
    reworded ("no rating was given (the survey was only offered): ...") and run again
    after were given the kind ``other``, the current words matching none of them."""
    words = excluded.drop_nulls().str.extract(_SET_ASIDE, 2).drop_nulls()
    return tuple(words.unique(maintain_order=True).to_list())


def set_aside_value(excluded: pl.Expr) -> pl.Expr:
    """The export's value a landed set-aside reason (``<export column>: '<value>' <the
    rule's reason>``) quotes, as text; null where the expression is null. The rule's words
    change between releases, the value does not: a rule is told by it."""
    return excluded.str.extract(r"(?s)^[^:]+: '(.*?)':? ", 1)


def with_reason_kinds(quarantine: pl.DataFrame, set_aside: Sequence[str] = ()) -> pl.DataFrame:
    """``quarantine`` (its ``reasons``: a list of strings per row) with ``reason_kinds`` and
    ``reason_columns`` added: lists parallel to ``reasons``, each reason's
    :func:`reason_codes` kind and column (null where it names none). ``set_aside``: the
    source definition's ``[[exclude]]`` reasons."""
    if quarantine.height == 0:
        return quarantine.with_columns(
            pl.lit(None, pl.List(pl.String)).alias("reason_kinds"),
            pl.lit(None, pl.List(pl.String)).alias("reason_columns"),
        )
    # Every reason on a row of its own, its parts extracted once (:func:`_codes_of`), then
    # back into lists in the reasons' order; a row with no reason gets empty lists.
    parts = ("_column", "_problem", "_excluded_column", "_excluded_words")
    reasons = pl.col("reasons")
    flat = (
        quarantine.select(reasons)
        .with_row_index("_row")
        .explode("reasons")
        .filter(reasons.is_not_null())
        .with_columns(
            part.alias(name) for part, name in zip(_reason_parts(reasons), parts, strict=True)
        )
        .select(
            "_row",
            _codes_of(
                reasons,
                pl.col("_column"),
                pl.col("_problem"),
                pl.col("_excluded_column"),
                pl.col("_excluded_words"),
                set_aside,
            ).alias("_code"),
        )
        .unnest("_code")
        .group_by("_row", maintain_order=True)
        .agg(pl.col("kind").alias("reason_kinds"), pl.col("column").alias("reason_columns"))
    )
    coded = (
        quarantine.with_row_index("_row")
        .join(flat, on="_row", how="left", maintain_order="left")
        .drop("_row")
    )
    empty = reasons.is_not_null() & (reasons.list.len() == 0)
    return coded.with_columns(
        pl.when(empty).then(pl.lit([], pl.List(pl.String))).otherwise(pl.col(c)).alias(c)
        for c in ("reason_kinds", "reason_columns")
    )


#: Record kinds whose reason, first on a row written before the quarantine's ``superseded``
#: column, marks an earlier copy a later line or delivery replaced (the contract says so).
SUPERSEDED_KINDS: tuple[str, ...] = ("duplicate delivery", "updated", "exact duplicate")


def is_superseded_copy() -> pl.Expr:
    """Whether a quarantined row is an earlier copy a later line or delivery replaced (nothing
    wrong with it) rather than a reject: the quarantine's ``superseded`` column, and where it
    is null (rows written before it existed) a first reason of :data:`SUPERSEDED_KINDS`, as
    the quarantine contract tells readers to."""
    first = pl.col("reasons").list.first()
    named = pl.any_horizontal(first.str.starts_with(f"{kind}:") for kind in SUPERSEDED_KINDS)
    return pl.coalesce(pl.col("superseded"), named.fill_null(False))


def _count_kinds(quarantine: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Quarantined rows per ``keys`` (columns of ``quarantine``) and kind of reason,
    unsorted; a row counts once under each of its kinds."""
    return (
        quarantine.select(*keys, "reasons")
        .with_row_index("_quarantined_row")
        .explode("reasons")
        .drop_nulls("reasons")
        .with_columns(reason_kind(pl.col("reasons")).alias("_kind"))
        .unnest("_kind")
        .group_by(*keys, "kind", "column")
        .agg(pl.col("_quarantined_row").n_unique().alias("rows"))
        .select(*keys, "kind", "column", "rows")
    )


def reasons_by_kind(quarantine: pl.DataFrame) -> pl.DataFrame:
    """How many quarantined rows carry each kind of reason, by source and feed.

    ``quarantine`` has the quarantine contract's ``source`` (the source definition's name),
    ``feed`` (surveys or interactions) and ``reasons`` (a list of strings) columns. Returns
    ``source, feed, kind, column, rows``, most rows first; a row with several reasons is
    counted under each of its kinds.
    """
    return _count_kinds(quarantine, ["source", "feed"]).sort(
        ["rows", "source", "feed", "kind", "column"],
        descending=[True, False, False, False, False],
    )


#: The order of :func:`reasons_of_rejects_and_superseded`'s parts.
_QUARANTINED_AS = ("rejected", "set aside", "superseded")


class SetAsideRule(Protocol):
    """A source definition's ``[[exclude]]`` rule, as the reasons of its rows are told by
    (``servicelens.ingest.definitions.Exclusion``)."""

    @property
    def column(self) -> str: ...
    @property
    def values(self) -> tuple[str, ...]: ...
    @property
    def unless(self) -> bool: ...
    @property
    def reason(self) -> str: ...


def set_aside_rule_reason(rules: Mapping[str, Sequence[SetAsideRule]]) -> pl.Expr:
    """The current reason of the ``[[exclude]]`` rule that set a quarantined row aside, told
    by the export column and value its first reason quotes (``<export column>: '<value>'
    <the rule's reason>``), whatever words it was written with; null for a row no rule of
    its ``source`` names so. ``rules``: each source's rules. A rule's words change between
    releases (the zendesk preset's ``offered`` one did), its column and values do not: a
    row landed under an earlier wording, in a partition written before quarantine contract
    3 (no ``reason_kinds`` to say it), is set aside all the same."""
    first = pl.col("reasons").list.first()
    column = first.str.extract(r"^([^:]+): '", 1).str.to_lowercase()
    value = set_aside_value(first)
    told = []
    for source, source_rules in rules.items():
        for rule in source_rules:
            named = (pl.col("source") == source) & (column == rule.column.lower())
            if rule.unless:
                # Any other value sets a row aside: a row whose column failed a check
                # quotes one too, so only the rule's own words tell it.
                named = named & first.str.ends_with(f" {rule.reason}")
            else:
                named = named & value.is_in(list(rule.values))
            told.append(pl.when(named).then(pl.lit(rule.reason)))
    return pl.coalesce(*told, pl.lit(None, pl.String)) if told else pl.lit(None, pl.String)


def reasons_of_rejects_and_superseded(
    quarantine: pl.DataFrame, set_aside: Mapping[str, Sequence[SetAsideRule]] | None = None
) -> pl.DataFrame:
    """:func:`reasons_by_kind` with the rejects apart from the rows a definition sets aside
    and from the earlier copies a later delivery replaced (:func:`is_superseded_copy`):
    ``quarantined_as`` ('rejected', 'set aside' or 'superseded'), then ``source, feed,
    kind, column, rows``; in that order, each part most rows first. ``quarantine`` also has
    the contract's ``superseded`` column (null in rows written before it). ``set_aside``:
    each source's ``[[exclude]]`` rules; a row not superseded that a rule set aside (its
    kind ``set_aside``, its first reason a rule's words, or the rule's column and value:
    :func:`set_aside_rule_reason`) is 'set aside', counted under the rule's current reason,
    one line a rule whatever wording its rows were written with. Counted together, a
    re-delivered export's copies read as rows rejected beside the failed checks, and so did
    a Zendesk source's surveys only offered; rows written before quarantine contract 3
    under an earlier wording of a rule read as rejects, and as two lines beside the
    rule's current words."""
    # A set-aside row's reason is "<column>: '<value>' <the rule's reason>" (the export's
    # own column name, any case: not always an expectation's form, so matched by its end).
    # The kind written with the row tells it first: a row landed under an earlier wording
    # of a rule (the zendesk preset's "offered" one) is kind set_aside, its words none of
    # the definition's now. Rows written before kinds were (null) are told by the words,
    # or by the rule's column and value.
    first = pl.col("reasons").list.first()
    kinds = "reason_kinds" in quarantine.columns
    rules = set_aside or {}
    rule_reason = set_aside_rule_reason(rules)
    excluded = pl.any_horizontal(
        False,
        *([pl.col("reason_kinds").list.first() == "set_aside"] if kinds else []),
        rule_reason.is_not_null(),
        *(
            (pl.col("source") == source) & first.str.ends_with(f" {rule.reason}")
            for source, source_rules in rules.items()
            for rule in source_rules
        ),
    )
    split = quarantine.with_columns(
        pl.when(is_superseded_copy())
        .then(pl.lit("superseded"))
        .when(excluded.fill_null(False))
        .then(pl.lit("set aside"))
        .otherwise(pl.lit("rejected"))
        .alias("quarantined_as"),
        rule_reason.alias("_rule_reason"),
    )
    # A set-aside row is counted under its rule's current words: the reason it was written
    # with, its words replaced (the export column it names kept).
    split = split.with_columns(
        pl.when((pl.col("quarantined_as") == "set aside") & pl.col("_rule_reason").is_not_null())
        .then(
            pl.concat_list(
                formatted_text(
                    SET_ASIDE_FORMAT,
                    first.str.extract(r"^([^:]+): '", 1),
                    pl.lit(""),
                    "_rule_reason",
                ),
                pl.col("reasons").list.slice(1),
            )
        )
        .otherwise(pl.col("reasons"))
        .alias("reasons")
    )
    order = pl.col("quarantined_as").replace_strict(
        list(_QUARANTINED_AS), list(range(len(_QUARANTINED_AS)))
    )
    return _count_kinds(split, ["quarantined_as", "source", "feed"]).sort(
        [order, "rows", "source", "feed", "kind", "column"],
        descending=[False, True, False, False, False, False],
    )
