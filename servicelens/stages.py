"""The pipeline's stages for one survey date, as plain functions (no Prefect).

Flows wrap these in tasks; tests and the benchmark call them directly. Each stage takes the
settings and a date, reads what the previous stage left on disk and returns paths and counts.
"""

from __future__ import annotations

import contextvars
import functools
import json
import logging
import zoneinfo
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import polars.selectors as cs

from models.registry import load_champion_in_background, read_out_of_fold
from servicelens.checkpoints import checkpoint
from servicelens.erasure import Eraser, erasure_list
from servicelens.ingest.audits import (
    AuditRead,
    audit_accounting,
    audit_files,
    audited_before_submitted,
    misplaced_audit_files,
    misplaced_source_audit_files,
    other_response_ids,
    read_audit_files,
    source_audit_files,
    unused_audits,
)
from servicelens.ingest.configured import (
    NO_EXPORTS_AT_ALL,
    configured_names,
    configured_source,
    date_order_advice,
    date_order_declared_by,
)
from servicelens.ingest.definitions import ROW_COUNTRY, DefinitionError, SourceDefinition
from servicelens.ingest.landing import (
    DELIVERED_NAME,
    LANDING_CHECK_REJECT,
    ids_shaped_as,
    landed_rows,
    period_start_of,
    read_records_in_place,
    refuse_the_other_day_order,
    rejected_id_fields,
    undated_rows_day,
    with_undated_rows_filed,
)
from servicelens.ingest.mapping import (
    MappedExport,
    delimiter_hint,
    header_as_written,
    map_export,
    no_records_text,
    parse_options,
    read_export,
)
from servicelens.ingest.readers import (
    DEFAULT_DIALECT,
    RawRead,
    Reject,
    read_as_unicode,
    read_csv_with_lines,
    read_jsonl_with_lines,
    read_plain_csv,
    sha256_checking_text,
)
from servicelens.runtime import freeze_long_lived
from servicelens.settings import (
    INTERACTIONS_FEED,
    INTERACTIONS_FILE,
    SURVEYS_FILE,
    Settings,
    day_input_files,
)
from servicelens.storage.fs import DataPath, RemotePath, as_path, modified_at, read_parquet
from servicelens.storage.partitions import (
    DATA_FILE,
    PendingChecksums,
    checksums,
    partition_dir,
    read_manifest,
    read_partition,
    scan_table,
    stage_partition,
    write_partition,
)
from servicelens.validation.docs import data_docs_in_background
from servicelens.validation.expectations import (
    CHECKED_FOR_MOJIBAKE,
    MAX_COMMENT_CHARS,
    READS_SWAPPED,
    REPEATED_CONTACT_ID,
    REPEATED_ID,
    ROW_ID,
    RowRules,
    read_either_way,
    swapped_nearer_delivery,
    validate_survey_batch,
    validate_survey_rows,
)
from servicelens.validation.reasons import set_aside_value, set_aside_words, with_reason_kinds
from transforms.clean import (
    INTERACTION_COLUMNS,
    ROW_COUNT_COLUMNS,
    ROW_FLAG_COLUMNS,
    ROW_NUMBER_COLUMNS,
    THOUSANDS_SPACES,
    contacts_from_responses,
    is_negative,
    join_feed_facts,
    join_interactions,
    latest_interactions,
    normalise_surveys,
    normalised_text_of,
    prepare_interactions,
    response_day,
    split_superseded_deliveries,
    typed_interactions,
    unstated_comments,
    with_attributes,
    with_changed_columns,
    with_policy_facts,
)
from transforms.formatting import formatted_text
from transforms.language import (
    detect_language,
    load_detector_in_background,
    with_detected_language,
)
from transforms.marts import (
    LABEL_AUDITED_AT,
    UNCERTAIN,
    daily_summary,
    feedback_scored,
    first_audit_items,
    open_review_items,
    with_spot_checks,
)
from transforms.pii import (
    DEFAULT_REGION,
    add_counts,
    placeholder_counts,
    redact_pii,
    redact_pii_by_value,
)
from transforms.repeat_contacts import (
    LOOKBACK_DAYS,
    contacts_from_interactions,
    contacts_with_unsurveyed,
    with_earlier_contacts,
)
from transforms.schemas import (
    CLEAN_RESPONSE_SCHEMA,
    CONTACT_SCHEMA,
    DAILY_SUMMARY_SCHEMA,
    FEEDBACK_SCORED_SCHEMA,
    NEGATIVE_CSAT_MAX,
    PARTITION_COLUMN,
    QUARANTINE_ROW_SCHEMA,
    QUARANTINE_SCHEMA,
    QUARANTINE_VERSION,
    RAW_INTERACTION_SCHEMA,
    RAW_SURVEY_COLUMNS,
    REQUIRED_SURVEY_COLUMNS,
    REVIEW_QUEUE_SCHEMA,
    SAMPLE_SOURCE,
    conform,
)


class BatchError(RuntimeError):
    """A whole date cannot be processed; the message says what and where. Earlier outputs of
    that date are left untouched."""


class NoRecords(BatchError):
    """A JSON export whose list of records is there and empty (a paged export's last page):
    whole, with nothing wrong, and nothing to read
    (:func:`~servicelens.ingest.mapping.no_records_text`, the message after the file)."""


@dataclass
class DayCounts:
    """Row reconciliation of one date: read = kept + quarantined + erased, always."""

    surveys_read: int = 0
    kept: int = 0
    quarantined: int = 0
    #: Of those, the earlier copies of a response superseded by a later line of the same file
    #: or by a later delivery (the quarantine's ``superseded`` rows, ``processed_dates``'
    #: ``rows_superseded``), not rejects: both kinds, however their reasons name them.
    superseded_duplicates: int = 0
    #: Of those, the rows of a source whose ids are derived from the answers that a later
    #: line of the same file repeats (a form submitted twice): exact duplicates, which the
    #: run's table calls so, as their reasons do (a trial read "copies replaced by a later
    #: line or delivery" of a Google Form's double submission). A copy in an earlier
    #: delivery is a duplicate delivery, ids derived or not (a trial's cumulative Google
    #: Forms exports called 1,844 such copies exact duplicates).
    exact_duplicates: int = 0
    #: Of those, the earlier versions of a response changed since: the later copy was
    #: delivered later (its ``delivered_at``, as the export states it) with other values,
    #: as a Zendesk rating changed bad -> good is; their reasons start ``updated:``, and the
    #: run's table calls them so, not duplicate deliveries (found by a trial: a customer's
    #: changed rating was called a "duplicate delivery").
    updated_copies: int = 0
    #: Responses whose newest delivery failed its checks and superseded older copies: in no
    #: clean partition or mart until a delivery passes (:data:`SUPERSEDED_BY_A_FAILED_COPY`).
    #: A published response goes missing from the marts this way, so the run's table says
    #: so. (Whether the older copies would have passed is not checked: a trial's table said
    #: "superseded a copy that passed" of copies that had failed too.)
    withdrawn: int = 0
    #: Rows quarantined because their time reads only with day and month swapped from the
    #: definition's format, and the kept rows whose time reads both ways (so may be
    #: misdated the same way): the run's table says so (validation.expectations.
    #: read_either_way). Found by a trial, whose misdated rows were kept without a word.
    day_first: int = 0
    maybe_misdated: int = 0
    #: Where the kept rows that may be misdated are a delivery every time of which reads
    #: either way and whose swapped reading is much nearer the day it was landed: the date
    #: as read (``as_read``), swapped (``swapped``) and the landing day (``landed``), for the
    #: run's table (validation.expectations.swapped_nearer_delivery). Found by a trial: a
    #: day of calls written month first (11/05/2026 for 5 Nov) was published as 11 May,
    #: exit 0, without a word.
    swapped_nearer: dict[str, str] = field(default_factory=dict)
    #: Rows filed under their delivery's day (landing.undated_rows_day) because their own
    #: submitted_at gives none (landed ``dated_by_delivery``): all quarantined, and not
    #: known to be responses of that day, so the run's table and processed_dates say how
    #: many (a trial's SurveyMonkey row with an empty End Date made "2026-12-05 read 1 kept
    #: 0 quarantined 1" of a day with no responses). None where the partition was landed
    #: before landing marked them.
    undated: int | None = 0
    malformed_lines: int = 0
    #: Of the quarantined, the rows the definition's ``[[exclude]]`` rules set aside (not
    #: the earlier copies among them): nothing wrong with them, so not rejects (a support
    #: manager's trial read rejected shares of 0.30-0.46 a day of Zendesk surveys only
    #: offered). ``unanswered`` are those of rules marked ``unanswered``: surveys offered
    #: and never answered, the misses of the response rate.
    set_aside: int = 0
    unanswered: int = 0
    failed_expectations: dict[str, int] = field(default_factory=dict)
    interactions_read: int = 0
    interactions_quarantined: int = 0
    #: Of the contacts quarantined, the earlier copies a later line or delivery replaced
    #: (the quarantine's ``superseded`` rows of ``feed = 'interactions'``), and of those the
    #: exact duplicates and the earlier versions changed since, as the surveys' counts
    #: above: a trial's corrected contact re-delivery read "contacts read 1976, quarantined
    #: 581" of 581 superseded copies and no reject.
    interactions_superseded: int = 0
    interactions_exact_duplicates: int = 0
    interactions_updated: int = 0
    #: The contacts of the date left out because their subject was erased on request
    #: (``servicelens erase``), as ``erased`` counts the surveys': interactions_read = kept +
    #: interactions_quarantined + interactions_erased (a card issuer's trial re-ran a date
    #: after an erase and read "contacts read 1014" of a day that had read 1015).
    interactions_erased: int = 0
    #: Kept responses naming an interaction the contact feed gives no facts for, counted
    #: only where the feed has no export landed for the partition's own date (no landed
    #: facts partition; an export delivered empty lands one): published without contact
    #: facts until that export lands and the partition runs again. A trial's 582 responses
    #: of a day whose contacts came two days late were published so without a word.
    awaiting_contact_facts: int = 0
    #: The days of the feed's look-back window before the partition (ISO dates), from the
    #: feed's first landed export on, that have no export landed, where some kept responses
    #: name a contact the feed gives no facts for (:func:`contact_days_not_landed`): their
    #: contacts may have started on those days. Only the partition's own day was told
    #: (``awaiting_contact_facts``); a look-back day's missing export was said nowhere.
    contact_days_not_landed: list[str] = field(default_factory=list)
    negatives: int = 0
    #: Kept rows the source's negative rule could judge (a rating given): the share of
    #: negatives is of these (an unanswered call is neither negative nor not).
    rated: int = 0
    scored: int = 0
    #: Personal data replaced by placeholders before anything was staged, by kind.
    redacted: dict[str, int] = field(default_factory=dict)
    #: Records read and left out because their subject was erased on request (``servicelens
    #: erase``: the erasure list), or erased from the landed partition since it was landed:
    #: read = kept + quarantined + erased.
    erased: int = 0

    def check(self, where: str) -> None:
        if self.surveys_read != self.kept + self.quarantined + self.erased:
            raise BatchError(
                f"{where}: row reconciliation failed: read {self.surveys_read} != kept "
                f"{self.kept} + quarantined {self.quarantined} + erased {self.erased}; "
                "nothing was written"
            )


@dataclass(frozen=True)
class ValidatedDay:
    """What :func:`validate_day` staged for the next task.

    The staged files are the partitions' data files to be (:func:`stage_partition`): in the
    contract's columns, without the partition column, which :meth:`clean` and
    :meth:`quarantine` add back as reading the partition does."""

    day: date
    valid_path: str
    quarantine_path: str
    counts: DayCounts
    inputs: dict[str, str]
    #: The contacts of the day's own interaction export (the contact history's partition).
    contacts_path: str | None = None
    #: The rule the clean rows' ``is_negative`` was decided by (a configured source's
    #: ``SourceDefinition.negative_rule``, ``csat <= 3``), recorded in the clean partition's
    #: manifest; None for the sample, whose rule is fixed.
    negative_rule: str | None = None

    def clean(self) -> pl.DataFrame:
        """The date's clean rows (``CLEAN_RESPONSE_SCHEMA``), as staged."""
        return self._read(self.valid_path, CLEAN_RESPONSE_SCHEMA)

    def quarantine(self) -> pl.DataFrame:
        """The date's quarantined rows (``QUARANTINE_SCHEMA``), as staged."""
        return self._read(self.quarantine_path, QUARANTINE_SCHEMA)

    def _read(self, path: str, schema: dict[str, pl.DataType]) -> pl.DataFrame:
        staged = read_parquet(path).with_columns(pl.lit(self.day).alias(PARTITION_COLUMN))
        return conform(staged, schema)


def _rejects_frame(
    rejects: list[Reject],
    path: str,
    feed: str,
    day: date | None,
    source: str = SAMPLE_SOURCE,
    region: str = DEFAULT_REGION,
    record_ids: list[str | None] | None = None,
) -> tuple[pl.DataFrame, dict[str, int]]:
    """Malformed records (and interactions whose ids a spreadsheet rewrote) as quarantine
    rows, each with its ``record_ids`` (in order; None: none told). Their text cannot be
    split into fields, so all of it is redacted; the raw zone keeps the original at the line
    named."""
    fresh, counts = redacted_reject_texts([r for r in rejects if not r.redacted], region)
    redacted = iter(fresh)
    texts = [r.text if r.redacted else next(redacted) for r in rejects]
    counts = add_counts(counts, _placeholders_in([r.text for r in rejects if r.redacted]))
    frame = pl.DataFrame(
        {
            "survey_date": [day] * len(rejects),
            "feed": [feed] * len(rejects),
            "source_file": [path] * len(rejects),
            "source_line": [r.line for r in rejects],
            "record_id": record_ids or [None] * len(rejects),
            "reasons": [[r.reason, *r.more_reasons] for r in rejects],
            "raw_record": texts,
            "source": [source] * len(rejects),
            "superseded": [False] * len(rejects),
        },
        schema=QUARANTINE_ROW_SCHEMA,
    )
    return frame, counts


def _survey_rejects_frame(read: RawRead, day: date) -> tuple[pl.DataFrame, dict[str, int]]:
    """The sample survey export's malformed lines (``read.rejects``) as quarantine rows of
    ``day`` (:func:`_rejects_frame`), each with the response id it gives for certain
    (:func:`sample_reject_ids`)."""
    return _rejects_frame(
        read.rejects, read.path, "surveys", day, record_ids=sample_reject_ids(read)
    )


def sample_reject_ids(read: RawRead) -> list[str | None]:
    """The response id each malformed line of the generated sample's survey export
    (``read.rejects``, in order) gives where it can be told for certain, as a configured
    source's are (:func:`~servicelens.ingest.landing.rejected_record_ids`): the first field
    of a line with fields too many (a comment's unquoted comma comes after it), or the id
    of a line cut short in place; else None. Found by a trial: an audit of a line with one
    field too many was called "a misspelt id, or not delivered yet", its quarantine row
    holding no id though the line's first field was plainly it."""
    if "response_id" not in read.header or not read.rejects:
        return [None] * len(read.rejects)
    quote = DEFAULT_DIALECT.quote
    fields = rejected_id_fields(read, "response_id", quote, read_records_in_place(read, quote))
    told = pl.DataFrame({"response_id": fields}, schema={"response_id": pl.String})
    normalised = told.select(normalised_text_of(told, "response_id")).to_series()
    return ids_shaped_as(normalised, read.frame.get_column("response_id")).to_list()


def redacted_reject_texts(
    rejects: list[Reject], region: str = DEFAULT_REGION
) -> tuple[list[str], dict[str, int]]:
    """The whole text of each reject redacted (:func:`~transforms.pii.redact_pii`, phone
    numbers read in ``region``), in order, and how many values of each kind were replaced:
    a malformed record cannot be split into fields, so all of it is. What the quarantine's
    ``raw_record`` and the parse cache hold of a malformed line."""
    texts = pl.DataFrame(
        {"raw_record": [r.text for r in rejects]}, schema={"raw_record": pl.String}
    )
    redacted, counts = redact_pii(texts, ["raw_record"], region)
    return redacted.get_column("raw_record").to_list(), counts


def _placeholders_in(texts: list[str]) -> dict[str, int]:
    """How many placeholders of each kind ``texts`` (redacted earlier) hold."""
    return placeholder_counts(pl.DataFrame({"t": texts}, schema={"t": pl.String}), "t")


#: What to change when the sample layout's survey export looks separated by another
#: delimiter than commas (:func:`~servicelens.ingest.mapping.delimiter_hint`).
SAMPLE_DELIMITER_FIX = (
    "the raw/<date>/ layout reads commas: save the export comma-separated, or land it "
    'through a source definition with delimiter = "{shown}" (docs/sources.md)'
)


def read_surveys(
    settings: Settings, day: date, data: bytes | None = None, data_docs: bool = True
) -> RawRead:
    """Read a day's survey export (``data``, its bytes, when the caller has read them), or
    fail the date saying which file and what is wrong; ``data_docs``: write the batch
    check's Data Docs page."""
    path = settings.raw_day(day) / SURVEYS_FILE
    if data is None and not path.exists():
        # A data directory that never received an export is most often a mistyped one (a
        # trial's --data-dir typo read "no survey export for <date>" and nothing more).
        empty = not path.parent.parent.exists()
        raise BatchError(
            f"{path}: no survey export for {day}; nothing to process"
            + (f" ({NO_EXPORTS_AT_ALL.format(data_dir=settings.data_dir)})" if empty else "")
        )
    read = read_csv_with_lines(path, data)
    docs_page = settings.gx_docs_dir / str(day) / "surveys_batch.html" if data_docs else None
    refuse_a_survey_batch(path, read, docs_page)
    missing_optional = [c for c in RAW_SURVEY_COLUMNS if c not in read.frame.columns]
    if "delivered_at" in missing_optional:
        logging.getLogger(__name__).warning(
            "%s has no delivered_at column: a response delivered again with other answers "
            "cannot replace its earlier copy, and both are quarantined",
            path,
        )
    read.frame = read.frame.with_columns(pl.lit(None, pl.String).alias(c) for c in missing_optional)
    return read


def refuse_a_survey_batch(path: DataPath, read: RawRead, docs_page: Path | None = None) -> None:
    """Raise BatchError saying what is wrong when the survey export ``path`` (as ``read``)
    fails the batch suite: a required column missing from its header, or no rows. With
    ``docs_page``, the validation result is written there as a Data Docs page."""
    failures = validate_survey_batch(read.header, read.frame.height, docs_page)
    if not failures:
        return
    # A semicolon- or tab-separated export read as commas fails here by its columns: the
    # delimiter is what to change, said alone (a trial read its whole header quoted as
    # the close match of every column before the hint).
    if hint := delimiter_hint(read, SAMPLE_DELIMITER_FIX) if read.delimiter else "":
        raise BatchError(f"{path}: {read.header_span} (header): {hint[0].lower()}{hint[1:]}")
    if (written := header_as_written(read)) != read.header:
        failures = validate_survey_batch(read.header, read.frame.height, shown=written)
    raise BatchError(f"{path}: " + "; ".join(failures))


#: How much of a survey export :func:`survey_header_refusal` reads at most for its first line.
HEADER_BYTES = 1 << 20


def first_line(path: DataPath, most: int) -> bytes:
    """The first line of a file, its end of line kept, at most ``most`` bytes: of an object
    store's file one ranged GET (fsspec's file handle takes no ``readline`` limit: a `backfill
    --dry-run` of an ``s3://`` directory ended in "TypeError: AbstractBufferedFile.readline()
    takes 1 positional argument but 2 were given", a servicelens bug)."""
    if isinstance(path, RemotePath):
        head: bytes = path.fs.cat_file(path.key, start=0, end=most)
        end = head.find(b"\n")
        return head if end < 0 else head[: end + 1]
    with path.open("rb") as handle:
        return handle.readline(most)


def survey_header_refusal(settings: Settings, day: date) -> str:
    """Why a run of ``day`` would fail at once on its survey export, in the run's words
    (:func:`read_surveys`), or ``""`` (no export, or a header holding every required
    column): for a dry run, which reads the first line only. A first line that does not
    read alone (a header quoted over lines, an archive, UTF-16) or lacks a required column
    is confirmed by reading the export as the run does, so a dry run never predicts a
    failure the run would not have, and says it as the run would. Writes nothing (no Data
    Docs page)."""
    path = settings.raw_day(day) / SURVEYS_FILE
    if not path.exists():
        return ""  # the plan says so already (storage.claims.in_flight_action)
    first = first_line(path, HEADER_BYTES)
    try:
        header = read_csv_with_lines(path, first).header
    except ValueError:
        header = []
    if set(REQUIRED_SURVEY_COLUMNS) <= set(header):
        # The batch suite's column check passes (ExpectTableColumnsToMatchSet, not exact):
        # no need to read the whole file, nor to start Great Expectations.
        return ""
    try:
        refuse_a_survey_batch(path, read_csv_with_lines(path))
    except (BatchError, ValueError) as error:
        return str(error)
    return ""


#: Parses one interaction export given its sha256 (computed once per date, for the manifest),
#: keeping the rows a predicate selects (all without one). Flows pass one that goes through
#: Prefect's cache, keyed on that checksum.
InteractionReader = Callable[[DataPath, str, pl.Expr | None], RawRead]


def with_spreadsheet_ids_rejected(read: RawRead) -> RawRead:
    """``read`` (an interaction export) with its rows whose ids a spreadsheet rewrote (the
    row suite's id check, :func:`~servicelens.validation.expectations.id_as_spreadsheet_wrote_it`,
    on its ``interaction_id``, ``customer_id`` and ``agent_id``) moved from its frame to its
    rejects, each with the row suite's reasons and its fields as JSON: a call log's ids Excel
    wrote as ``4,17E+08`` were joined to one response's interaction, and counted as one
    customer's repeat contacts. Records read stay the same."""
    from servicelens.validation.expectations import (
        SPREADSHEET_CHECKED_IDS,
        id_as_spreadsheet_wrote_it_found,
        id_maybe_as_spreadsheet_wrote_it,
    )

    frame = read.frame
    columns = [c for c in SPREADSHEET_CHECKED_IDS if c in frame.columns]
    if not columns or frame.is_empty():
        return read
    # The rows that may fail first (one regex test an id, as read), then which of those
    # fail (the normalising check and two regex tests an id), then the reasons of those
    # alone: the exact test over every row took 0.45-0.6 s of CPU a 1M date's export, the
    # first test 0.2 s, and an export with such ids is rare. Wording every row's reason
    # took 0.23 s more.
    maybe = frame.select(
        pl.any_horizontal(id_maybe_as_spreadsheet_wrote_it(c) for c in columns).fill_null(False)
    ).to_series()
    if not maybe.any():
        return read
    suspects = frame.filter(maybe)
    failing_suspects = suspects.select(
        pl.any_horizontal(
            id_as_spreadsheet_wrote_it_found(c, normalised_text_of(suspects, c)) for c in columns
        ).fill_null(False)
    ).to_series()
    if not failing_suspects.any():
        return read
    failing = pl.repeat(False, frame.height, eager=True).scatter(
        maybe.arg_true().filter(failing_suspects), True
    )
    rejects = spreadsheet_id_rejects(suspects.filter(failing_suspects), columns)
    return replace(
        read,
        frame=frame.filter(~failing),
        rejects=sorted([*read.rejects, *rejects], key=lambda r: r.line),
    )


def spreadsheet_id_rejects(failed: pl.DataFrame, columns: Sequence[str]) -> list[Reject]:
    """A reject for each row of ``failed`` (interaction rows whose ids in ``columns`` fail the
    row suite's spreadsheet check), in its order: its line, its fields but the source's as
    JSON, and the row suite's reasons
    (:func:`~servicelens.validation.expectations.id_as_spreadsheet_wrote_it`), the first as
    the reason and the others as more reasons."""
    from servicelens.validation.expectations import id_as_spreadsheet_wrote_it

    reasons = failed.select(
        pl.concat_list(
            id_as_spreadsheet_wrote_it(c, normalised_text_of(failed, c)) for c in columns
        )
        .list.drop_nulls()
        .alias("_reasons")
    ).to_series()
    fields = [c for c in failed.columns if c not in ("source_file", "source_line")]
    texts = failed.select("source_line", pl.struct(fields).struct.json_encode().alias("_text"))
    return [
        Reject(line, text, found[0], more_reasons=tuple(found[1:]))
        for (line, text), found in zip(texts.iter_rows(), reasons.to_list(), strict=True)
    ]


def parse_interaction_file(path: DataPath, sha256: str, keep: pl.Expr | None = None) -> RawRead:
    """Parse one interaction export (the reader used when no flow supplies a cached one).

    ``sha256`` is not needed to parse; it is part of the reader's signature for the cached
    reader, which keys on it.
    """
    del sha256
    read = read_jsonl_with_lines(path, RAW_INTERACTION_SCHEMA, keep)
    # Its rejects stay as read: only the date's own export's reach the quarantine, which
    # redacts them (_rejects_frame); redacting every look-back read's too costs 0.5 s each
    # at 1M surveys a date.
    return redacted_interactions(read, rejects=False)


#: Interaction export columns that hold text (ids and times are kept as delivered, as the
#: surveys' are): redacted by their distinct values, a few dozen in a million rows.
INTERACTION_TEXT_COLUMNS = ("queue", "policy_code", "resolution")


def redacted_interactions(
    read: RawRead, region: str = DEFAULT_REGION, rejects: bool = True
) -> RawRead:
    """``read`` (a parsed interaction export) with personal data replaced by placeholders in
    its text fields (:data:`INTERACTION_TEXT_COLUMNS`, by value) and, with ``rejects``, in
    each reject's text (:func:`redacted_reject_texts`, as the quarantine quotes it; marked
    ``redacted`` so the quarantine does not redact it again), right after parsing: a DPO's
    trial found a queue's e-mail in clean/contacts and a broken line's text in the parse
    cache. ``region`` is the ISO 3166 alpha-2 country national phone numbers are read in.
    Rows, lines and reasons stay as they are."""
    columns = [c for c in INTERACTION_TEXT_COLUMNS if c in read.frame.columns]
    frame, _ = redact_pii_by_value(read.frame, columns, region)
    kept = read.rejects
    if rejects:
        fresh = [r for r in kept if not r.redacted]
        texts, _ = redacted_reject_texts(fresh, region)
        redacted = iter(texts)
        kept = [r if r.redacted else replace(r, text=next(redacted), redacted=True) for r in kept]
    return replace(read, frame=frame, rejects=kept)


#: Survey columns read as text and quoted by reasons, redacted by their distinct values:
#: a privacy review typed e-mail addresses and phone numbers into scores and channels, and
#: the quarantine's reasons and Data Docs quoted them. Ids and times are kept as delivered.
SHORT_TEXT_SURVEY_COLUMNS = ("channel", "csat", "nps", "effort", "language")


def _redacted_surveys(frame: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, int]]:
    """A survey export's comments redacted by row and its short text fields by value
    (:data:`SHORT_TEXT_SURVEY_COLUMNS`), with the counts of both."""
    frame, comments = redact_pii(frame, ["comment"])
    short = [c for c in SHORT_TEXT_SURVEY_COLUMNS if c in frame.columns]
    frame, fields = redact_pii_by_value(frame, short)
    return frame, add_counts(comments, fields)


def read_interactions(
    settings: Settings,
    day: date,
    inputs: dict[str, str],
    interaction_ids: pl.Series | None = None,
    read_file: InteractionReader = parse_interaction_file,
    whole: Collection[date] = (),
) -> tuple[pl.DataFrame, list[RawRead], dict[date, pl.DataFrame]]:
    """Interactions that started on ``day`` or in the look-back window before it.

    With ``interaction_ids`` (normalised, as the surveys' join key), only those interactions
    of the look-back days are kept: the join needs no others, and the look-back days hold
    millions more rows than a day's surveys name. The day's own export and those of the
    earlier days in ``whole`` (not indexed yet) are read whole first: every contact in them
    goes into the contact history (:func:`contact_history`), returned by day, before they are
    filtered like the others. Every line is still decoded and checked, so rejects and
    counts are the same either way. ``inputs`` are the date's input checksums (path -> sha256,
    :func:`day_input_files`, existing files only): the files read are the ones hashed, and
    none is hashed twice (a day's interaction file is hundreds of megabytes at scale).
    """
    keep = None
    wanted = None
    needed = None if interaction_ids is None else interaction_ids.drop_nulls().unique()
    if needed is not None:
        # Cheap and sure: an id already in its cleaned form either is one of the surveys'
        # ids or is not needed; an id with whitespace or control characters (rare) is kept
        # whatever it is, for typed_interactions to clean and the join to match or ignore.
        # Ids are compared by their 64-bit hashes: an export is decoded in many pieces, and
        # each piece's filter builds its own set of the surveys' ids (a million strings cost
        # 0.15 s to hash into a set, their hashes 0.03 s). A collision only keeps a row the
        # join then ignores.
        raw = pl.col("interaction_id")
        wanted = needed.hash().implode()
        keep = raw.hash().is_in(wanted) | raw.str.contains(r"[\s\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
    reads: list[RawRead] = []
    parts: list[pl.DataFrame] = []  # each export's rows, typed
    contacts: dict[date, pl.DataFrame] = {}
    for back in range(settings.interaction_lookback_days, -1, -1):
        read_day = day - timedelta(days=back)
        path = settings.raw_day(read_day) / INTERACTIONS_FILE
        if str(path) not in inputs:
            continue
        if read_day not in whole and read_day != day:
            read = with_spreadsheet_ids_rejected(read_file(path, inputs[str(path)], keep))
            reads.append(read)
            parts.append(typed_interactions(read.frame, settings.timezone))
            continue
        # The contacts (a few narrow columns) of the whole file; the rows the join does not
        # need go as soon as they are taken, so whole exports are never held at once. They
        # are typed once: the rows the join needs are taken from the typed export.
        read = with_spreadsheet_ids_rejected(read_file(path, inputs[str(path)], None))
        prepared = prepare_interactions(read.frame, settings.timezone)
        contacts[read_day] = contacts_from_interactions(prepared, read_day)
        if wanted is not None:
            # By the ids' hashes, as ``keep`` filters: comparing the strings themselves took
            # 0.96 s of CPU for a 1.6 million-row export against a 1M date's surveys, their
            # hashes 0.27 s (a collision only keeps a row the join then ignores).
            prepared = prepared.filter(pl.col("interaction_id").hash().is_in(wanted))
        parts.append(prepared)
        # Its raw rows are let go; the read keeps its rejects and counts.
        reads.append(
            replace(read, frame=read.frame.clear(), skipped=read.skipped + read.frame.height)
        )
        # Let go of the whole export now: the name would otherwise hold it until the next
        # export's read returns, and two whole exports at once were the date's memory peak.
        del read, prepared
    if not parts:
        raw_schema: dict[str, pl.DataType] = {
            **RAW_INTERACTION_SCHEMA,
            "source_file": pl.String(),
            "source_line": pl.Int64(),
        }
        parts.append(typed_interactions(pl.DataFrame(schema=raw_schema), settings.timezone))
    return latest_interactions(pl.concat(parts, how="vertical_relaxed")), reads, contacts


def validate_day(
    settings: Settings,
    day: date,
    run_id: str,
    now: datetime | None = None,
    read_interaction_file: InteractionReader = parse_interaction_file,
) -> ValidatedDay:
    """Read, type, de-duplicate, join and validate one date; stage valid rows and quarantine.

    ``read_interaction_file`` parses one interaction export; each is read by several dates
    (the look-back), so the flows pass one backed by Prefect's cache (flows/caching.py).
    The date's Data Docs pages are written on a thread while it goes on, and are all
    written when this returns or raises.
    """
    # What is alive when a process's first date begins lives as long as the process.
    freeze_long_lived("first date")
    with data_docs_in_background():
        if not settings.is_sample:
            return validate_landed_day(settings, day, run_id, now)
        return _validate_sample_day(settings, day, run_id, now, read_interaction_file)


def _validate_sample_day(
    settings: Settings,
    day: date,
    run_id: str,
    now: datetime | None,
    read_interaction_file: InteractionReader,
) -> ValidatedDay:
    rows = sample_day_rows(settings, day, now, read_interaction_file)
    return stage_validated(
        settings, day, run_id, rows.clean, rows.quarantine, rows.counts, rows.inputs, rows.contacts
    )


@dataclass(frozen=True)
class SampleDayRows:
    """A sample date's rows as the nightly run validates them (:func:`sample_day_rows`)."""

    #: Kept rows, joined to their interactions, policy facts and repeat contacts
    #: (``CLEAN_RESPONSE_SCHEMA``).
    clean: pl.DataFrame
    #: Quarantined survey rows and the date's own interaction export's rejects
    #: (``QUARANTINE_ROW_SCHEMA``; ``feed`` tells them apart).
    quarantine: pl.DataFrame
    counts: DayCounts
    #: The date's input files, path -> sha256.
    inputs: dict[str, str]
    #: The contacts of the date's own interaction export (``CONTACT_SCHEMA``).
    contacts: pl.DataFrame


def sample_day_rows(
    settings: Settings,
    day: date,
    now: datetime | None = None,
    read_interaction_file: InteractionReader = parse_interaction_file,
    data_docs: bool = True,
) -> SampleDayRows:
    """The generated sample's date ``day`` read from its raw zone (``raw/<day>/surveys.csv``,
    the ``interactions.jsonl`` of the day and the look-back days, the policy catalogue) and
    validated as the nightly run does: redacted, typed, de-duplicated, joined to its
    interactions (a row matching none is quarantined), row-checked, given its policy facts
    and repeat contacts. Nothing is staged or published but the contact history of look-back
    exports no date has indexed yet (the partitions the nightly would write from the same
    files); ``data_docs``: write the date's Data Docs pages. ``servicelens score`` of a date's
    raw export reads it through this, so its rows and scores are the marts'.

    Raises :class:`BatchError` (no export, a header missing a required column, no policy
    catalogue) or when the counts do not reconcile (read != kept + quarantined)."""
    now = now or datetime.now(UTC)
    # The language detector is needed after the reading; it loads meanwhile (0.035 s from
    # its cache; the first time on a machine, 0.3-0.6 s of LZMA decompression off the GIL).
    load_detector_in_background()
    # The champion that scores the date loads meanwhile too, with the tables its scoring
    # builds (0.06 s and 0.07 s at the bench's model; a scoring step waits for this instead
    # of starting its own).
    load_champion_in_background(settings.models_dir)
    # Each input is checksummed once, and its checksum describes the bytes that are read:
    # the manifest records them, and the cached interaction reader keys on them. The survey
    # export is parsed from memory, so its bytes are hashed while they are parsed (waiting
    # for its hash first was 0.28 s of a 1M date). The interaction exports are read from
    # the file, each after its hash, and they hash while the surveys are read: at 1M that
    # was 0.8 s of hashing before any reading.
    survey_file = settings.raw_day(day) / SURVEYS_FILE
    # The interaction exports' read is also their UTF-8 and CR check (sha256_checking_text):
    # the reader streams a plain UTF-8 file without reading it a second time first.
    pending = PendingChecksums(
        day_input_files(settings, day), read_here=[survey_file], hasher=sha256_checking_text
    )
    try:
        # The bytes are passed, not named: held here, they would outlive the parse (170 MB
        # of a 1M date, to the end of the date).
        surveys = read_surveys(
            settings, day, pending.read(survey_file) if survey_file.exists() else None, data_docs
        )
    except BaseException:
        pending.close()
        raise
    inputs = pending.all()
    # Subjects erased on request stay erased: the raw zone keeps their records, the
    # erasure list leaves them out of every read of it (servicelens.erasure).
    eraser = erasure_list(settings)
    surveys, erased = eraser.without_erased_read(surveys)
    read_interaction_file = eraser.reading(read_interaction_file)
    # Personal data goes before anything is typed, staged or quoted in a reason; the raw
    # zone keeps the original text. The comments are redacted on a thread while the
    # interaction exports are read: both are polars (its regexes, its JSON decoding), which
    # lets go of the GIL, and the read leaves about a third of a core idle. At 1M the 0.55 s
    # of redaction moved beside the read; the date took 0.3 s less (medians of three
    # alternating runs). The read needs only the surveys' interaction ids, which redaction
    # does not touch.
    with ThreadPoolExecutor(1, thread_name_prefix="redact") as pool:
        redacting = pool.submit(_redacted_surveys, surveys.frame)
        # The malformed lines' quarantine rows (their text redacted whole) after it. Then
        # the languages of the redacted comments that state none are classified (Python,
        # 0.09 s of a 100k date), for with_detected_language below to find them classified
        # (its failure is dropped here: with_detected_language meets it again and raises).
        # Their ids are told from the read as it is now: a copy, its frame replaced by the
        # redacted one below; held by the task alone, so the comments as read (a 1M date's
        # largest column) go when it ends, not at the end of the date.
        survey_rejecting = pool.submit(_survey_rejects_frame, replace(surveys), day)
        pool.submit(lambda: detect_language(unstated_comments(redacting.result()[0])))
        # Look-back exports no date has indexed yet (the first dates of a range) are read
        # whole and indexed from that one parse: the same parse gives their contacts and the
        # rows the join needs.
        unindexed = [
            day - timedelta(days=back)
            for back in range(1, settings.interaction_lookback_days + 1)
            if not (
                partition_dir(settings.contacts_dir, day - timedelta(days=back)) / DATA_FILE
            ).exists()
        ]
        interactions, interaction_reads, exported = read_interactions(
            settings,
            day,
            inputs,
            surveys.frame.select(normalised_text_of(surveys.frame, "interaction_id")).to_series(),
            read_interaction_file,
            whole=unindexed,
        )
        surveys.frame, redacted_comments = redacting.result()
        survey_rejects, redacted_survey_rejects = survey_rejecting.result()
    policies = read_plain_csv(settings.policies_file) if settings.policies_file.exists() else None
    if policies is None:
        raise BatchError(f"{settings.policies_file}: the policy catalogue is missing")
    # The earlier days' contacts are published and let go (two look-back days' contacts are
    # 200 MB at 1M surveys); the date keeps only its own. They are written on the thread
    # that counts repeat contacts below (which reads them: its one worker takes them in
    # order) while the surveys are typed: 0.07 s of a 100k date.
    counter = ThreadPoolExecutor(1, thread_name_prefix="repeat-contacts")
    indexing = [
        counter.submit(_index_contacts, settings, exported.pop(earlier), earlier, inputs)
        for earlier in [d for d in exported if d != day]
    ]

    # Each intermediate frame below is a full copy of the day (a million rows at scale):
    # they are dropped as soon as the next one exists, so at most two are held at a time.
    normalised = normalise_surveys(surveys.frame, settings.timezone, day)
    # The export's language where it states one, else the comment's detected language.
    normalised = with_detected_language(normalised)
    latest, superseded = split_superseded_deliveries(normalised)
    del normalised
    contacts = exported.pop(day, None)
    if contacts is None:  # the day has no interaction export of its own
        contacts = pl.DataFrame(schema=CONTACT_SCHEMA)
    joined = with_accepted_elsewhere(
        join_interactions(latest, interactions), settings, day
    ).with_row_index(ROW_ID)
    del latest, interactions

    # The row suite reads none of the repeat-contact counts, and GX runs mostly in Python on
    # one core: the counts (polars, off the GIL) are taken on a thread meanwhile, in the
    # caller's context (a flow's cached reader needs its run context): 1.1 s of a 1M date
    # that ran after the history was read. The day's own interaction export's malformed
    # lines become quarantine rows there after it.
    own_interactions = settings.raw_day(day) / INTERACTIONS_FILE
    own_reads = [r for r in interaction_reads if r.path == str(own_interactions)]
    with counter as pool:
        for indexed in indexing:
            indexed.result()
        counting = pool.submit(
            contextvars.copy_context().run,
            _with_repeat_contacts,
            settings,
            day,
            joined,
            contacts,
            read_interaction_file,
        )
        interaction_rejecting = [
            pool.submit(_rejects_frame, r.rejects, r.path, "interactions", day) for r in own_reads
        ]
        failures = validate_survey_rows(
            joined,
            now,
            settings.gx_docs_dir / str(day) / "surveys_rows.html" if data_docs else None,
        )
        joined = counting.result()
        interaction_rejects = [future.result() for future in interaction_rejecting]
    reasons = failures.group_by(ROW_ID).agg(pl.col("reason").sort().alias("reasons"))

    failed = joined.join(reasons, ROW_ID, "inner")
    valid = joined.join(reasons, ROW_ID, "anti")
    del joined
    clean = conform_filling(
        with_policy_facts(
            valid.with_columns(is_negative(), pl.lit(SAMPLE_SOURCE).alias("source")), policies
        ),
        CLEAN_RESPONSE_SCHEMA,
    )
    del valid

    raw_columns = [c for c in RAW_SURVEY_COLUMNS if c in surveys.frame.columns]
    quarantine = pl.concat(
        [
            survey_rejects,
            _survey_quarantine(failed, surveys.frame, raw_columns, day),
            _survey_quarantine(
                _superseded_reasons(
                    superseded,
                    failed,
                    formatted_text(
                        "duplicate delivery: superseded by line {}", "superseded_by_line"
                    ),
                ),
                surveys.frame,
                raw_columns,
                day,
                superseded=True,
            ),
            *(frame for frame, _ in interaction_rejects),
        ]
    )
    counts = DayCounts(
        surveys_read=surveys.records_read + erased,
        erased=erased,
        kept=clean.height,
        quarantined=int((quarantine.get_column("feed") == "surveys").sum()),
        superseded_duplicates=superseded.height,
        withdrawn=withdrawn_count(superseded, failed, settings, day),
        malformed_lines=len(surveys.rejects),
        failed_expectations=dict(
            failures.with_columns(pl.col("reason").str.extract(r"^([a-z_]+):").alias("column"))
            .group_by("column")
            .len()
            .iter_rows()
        ),
        interactions_read=sum(r.records_read for r in own_reads),
        interactions_quarantined=int((quarantine.get_column("feed") == "interactions").sum()),
        negatives=int(clean.get_column("is_negative").sum()),
        rated=int(clean.get_column("is_negative").is_not_null().sum()),
        redacted=add_counts(
            redacted_comments, redacted_survey_rejects, *(n for _, n in interaction_rejects)
        ),
    )
    counts.check(surveys.path)
    return SampleDayRows(clean, quarantine, counts, inputs, contacts)


#: Added to a superseded copy's reason when the copy that superseded it failed its checks:
#: the response left the clean layer, and the marts, with the delivery that replaced it.
SUPERSEDED_BY_A_FAILED_COPY = (
    ", which failed its checks (its own reasons say why): this response is in no clean "
    "partition or mart until a delivery of it passes them; fix that delivery and land it again"
)
#: After the superseding line, for a copy superseded by a later one the definition sets aside.
SUPERSEDED_BY_A_SET_ASIDE_COPY = (
    ", which the definition of the source sets aside (its own reasons say why): this response is "
    "in no clean partition or mart while the latest delivery of it is set aside"
)


def split_set_aside_later(
    latest: pl.DataFrame, set_aside: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split the kept copies of a source's responses (``latest``: typed, carrying
    ``response_id``, ``delivered_at``, ``source_file`` and ``source_line``) into those no
    later delivery sets aside, and those one does (``set_aside``: the typed rows the
    definition's exclusions set aside, same columns). The latest delivery wins whatever it
    says: found by a trial, a Qualtrics re-export flagging a response as spam (``Status`` 8)
    left its earlier copy in the marts. The second frame carries ``superseded_by_line`` and
    ``superseded_by_file``, the newest copy that set it aside."""
    newest = (
        set_aside.filter(pl.col("response_id").is_not_null())
        .sort("delivered_at", "source_line", nulls_last=False)
        .group_by("response_id")
        .agg(
            pl.col("delivered_at").last().alias("_set_aside_at"),
            pl.col("source_line").last().alias("superseded_by_line"),
            pl.col("source_file").last().alias("superseded_by_file"),
        )
    )
    marked = latest.join(newest, "response_id", "left", maintain_order="left")
    later = pl.col("_set_aside_at").is_not_null() & (
        pl.col("delivered_at").is_null() | (pl.col("_set_aside_at") > pl.col("delivered_at"))
    )
    kept = marked.filter(~later).drop("_set_aside_at", "superseded_by_line", "superseded_by_file")
    return kept, marked.filter(later).drop("_set_aside_at")


#: What :func:`superseded_set_aside_copies` returns, one row per earlier copy.
SET_ASIDE_COPY_COLUMNS: dict[str, pl.DataType] = {
    "source_file": pl.String(),
    "source_line": pl.Int64(),
    "superseded_by_line": pl.Int64(),
    "superseded_by_file": pl.String(),
    "by_set_aside": pl.Boolean(),
}


def superseded_set_aside_copies(
    set_aside: pl.DataFrame, others: pl.DataFrame | None
) -> pl.DataFrame:
    """The rows of ``set_aside`` (typed rows the definition's exclusions set aside) that a
    later copy of the same response replaced, whether that copy is set aside too or among
    ``others`` (the source's other typed rows; None when it has none): the latest delivery
    wins as :func:`transforms.clean.split_superseded_deliveries` decides. Both frames carry
    ``response_id``, ``delivered_at``, ``source_file`` and ``source_line``. Returns
    :data:`SET_ASIDE_COPY_COLUMNS`: ``source_file``, ``source_line``, ``superseded_by_line``,
    ``superseded_by_file`` and ``by_set_aside`` (whether the newer copy is set aside too),
    one row per earlier copy."""
    marked = [set_aside.with_columns(pl.lit(True).alias("by_set_aside"))]
    if others is not None:
        marked.append(others.with_columns(pl.lit(False).alias("by_set_aside")))
    rows = pl.concat(marked, how="diagonal_relaxed")
    _, superseded = split_superseded_deliveries(rows)
    newer = rows.select(
        pl.col("source_file").alias("superseded_by_file"),
        pl.col("source_line").alias("superseded_by_line"),
        "by_set_aside",
    )
    copies = (
        superseded.filter(pl.col("by_set_aside"))
        .select("source_file", "source_line", "superseded_by_line", "superseded_by_file")
        .join(newer, ["superseded_by_file", "superseded_by_line"], "left")
    )
    return copies.select(pl.col(n).cast(t) for n, t in SET_ASIDE_COPY_COLUMNS.items())


def withdrawn_count(
    superseded: pl.DataFrame, failed: pl.DataFrame, settings: Settings, period: date | None
) -> int:
    """How many responses this run takes out of the clean layer and the marts: distinct
    ``response_id`` of ``superseded`` that a failing copy in ``failed`` superseded (both
    frames carry ``response_id``; :func:`_superseded_reasons` marks them with
    :data:`SUPERSEDED_BY_A_FAILED_COPY`) and that the clean partition of ``period``, as
    published before this run, holds. A response none of whose copies passed was in no
    mart to leave: a trial's note said "1 response is in no mart now" of one whose older
    copy had failed too. The clean partition is read only when some response qualifies."""
    ids = failed.get_column("response_id").implode()
    replaced = superseded.filter(pl.col("response_id").is_in(ids)).get_column("response_id")
    published = partition_dir(settings.clean_dir, period) / DATA_FILE if period else None
    if replaced.is_empty() or published is None or not published.exists():
        return 0
    held = read_parquet(published, ["response_id"]).get_column("response_id").implode()
    return int(replaced.unique().is_in(held).sum())


def _split_superseded_elsewhere(
    latest: pl.DataFrame, settings: Settings, period: date | None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split a source partition's rows (``latest``: typed, carrying ``source_file`` and
    ``source_line``) into those no later delivery dates in another partition, and those one
    does: the older copies of corrected responses, which landing recorded in the landed
    partition's manifest (``superseded_elsewhere``, servicelens.ingest.landing). The second
    frame also carries ``by_file``, ``by_line`` and ``by_partition``, naming the newer copy.
    The latest delivery wins across partitions as within one. ``period`` None (rows not
    from one partition) splits nothing off."""
    manifest = read_manifest(settings.landed_dir, period) if period is not None else None
    entries = (manifest or {}).get("superseded_elsewhere", [])
    newer = pl.DataFrame(
        {
            "source_file": [e["file"] for e in entries],
            "source_line": [e["line"] for e in entries],
            "by_file": [e["by_file"] for e in entries],
            "by_line": [e["by_line"] for e in entries],
            "by_partition": [e["by_partition"] for e in entries],
        },
        schema={
            "source_file": pl.String,
            "source_line": pl.Int64,
            "by_file": pl.String,
            "by_line": pl.Int64,
            "by_partition": pl.String,
        },
    )
    keys = ["source_file", "source_line"]
    return latest.join(newer, keys, "anti"), latest.join(newer, keys, "inner")


def split_replaced_rejects(
    rejects: pl.DataFrame, rows: pl.DataFrame, settings: Settings, period: date | None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split a partition's landed rejects (``LANDED_SCHEMA``) into those still in force and
    those a later delivery of the same response replaced: a row of ``rows`` (the
    partition's landed rows neither rejected nor set aside) with the reject's
    ``response_id`` landed after it, or a later copy in another partition that landing
    recorded (``superseded_elsewhere``, :func:`_split_superseded_elsewhere`). The second
    frame carries ``superseded_by_file`` and ``superseded_by_line`` (the latest copy's) and
    ``by_partition`` (null for a copy in this partition).

    Kept rows are superseded so (:func:`transforms.clean.split_superseded_deliveries`);
    found by a trial: a call log copied in part, then whole, kept the cut call and still
    counted its fragment as rejected."""
    told = rejects.filter(pl.col("response_id").is_not_null())
    later = (
        told.select("source_file", "source_line", "response_id", "landed_at")
        .join(
            rows.select(
                "response_id",
                pl.col("landed_at").alias("_later_at"),
                pl.col("source_file").alias("superseded_by_file"),
                pl.col("source_line").alias("superseded_by_line"),
            ),
            "response_id",
            "inner",
        )
        .filter(pl.col("_later_at") > pl.col("landed_at"))
        .sort("_later_at", "superseded_by_file", "superseded_by_line")
        .group_by("source_file", "source_line", maintain_order=True)
        .last()
        .select(
            "source_file",
            "source_line",
            "superseded_by_file",
            "superseded_by_line",
            pl.lit(None, pl.String).alias("by_partition"),
        )
    )
    _, moved = _split_superseded_elsewhere(
        told.select("source_file", "source_line"), settings, period
    )
    keys = ["source_file", "source_line"]
    newer = pl.concat(
        [
            later,
            moved.select(
                *keys,
                pl.col("by_file").alias("superseded_by_file"),
                pl.col("by_line").alias("superseded_by_line"),
                "by_partition",
            ).join(later, keys, "anti"),
        ]
    )
    return rejects.join(newer, keys, "anti"), rejects.join(newer, keys, "inner")


def _superseded_reasons(
    superseded: pl.DataFrame, failed: pl.DataFrame, reason: pl.Expr
) -> pl.DataFrame:
    """``superseded`` (rows :func:`transforms.clean.split_superseded_deliveries` set aside)
    with ``reasons``: ``reason`` (a String expression naming the superseding line), and
    :data:`SUPERSEDED_BY_A_FAILED_COPY` after it where a copy of the response that was kept
    for validation failed it (``failed`` carries ``response_id``): found by a trial, a
    re-delivery with a broken value took a published response out of the marts, and the
    good copy's reason read as if all was well."""
    failing = pl.col("response_id").is_in(failed.get_column("response_id").implode())
    text = pl.when(failing).then(pl.concat_str(reason, pl.lit(SUPERSEDED_BY_A_FAILED_COPY)))
    return superseded.with_columns(pl.concat_list(text.otherwise(reason)).alias("reasons"))


def stage_validated(
    settings: Settings,
    day: date,
    run_id: str,
    clean: pl.DataFrame,
    quarantine: pl.DataFrame,
    counts: DayCounts,
    inputs: dict[str, str],
    contacts: pl.DataFrame | None = None,
    negative_rule: str | None = None,
    set_aside: tuple[str, ...] = (),
) -> ValidatedDay:
    """Stage a validated date's clean and quarantine frames (and the contacts of its own
    interaction export, when it has one) for the publishing task. ``negative_rule``: the
    rule ``clean``'s ``is_negative`` was decided by (:attr:`ValidatedDay.negative_rule`).
    ``quarantine`` (``QUARANTINE_ROW_SCHEMA``) is published with its reasons' kinds
    (``QUARANTINE_SCHEMA``), ``set_aside`` the reasons of the source definition's
    ``[[exclude]]`` rules (:func:`servicelens.validation.reasons.with_reason_kinds`)."""
    staging = settings.staging_dir
    quarantine = published_quarantine(quarantine, set_aside)
    validated = ValidatedDay(
        day=day,
        valid_path=str(
            stage_partition(clean, CLEAN_RESPONSE_SCHEMA, staging, run_id, f"valid-{day}")
        ),
        quarantine_path=str(
            stage_partition(quarantine, QUARANTINE_SCHEMA, staging, run_id, f"quarantine-{day}")
        ),
        counts=counts,
        inputs=inputs,
        contacts_path=(
            str(stage_partition(contacts, CONTACT_SCHEMA, staging, run_id, f"contacts-{day}"))
            if contacts is not None
            else None
        ),
        negative_rule=negative_rule,
    )
    checkpoint("validated")
    return validated


def published_quarantine(quarantine: pl.DataFrame, set_aside: Sequence[str] = ()) -> pl.DataFrame:
    """Quarantined rows (``QUARANTINE_ROW_SCHEMA``, as the stages and :func:`ingest_export`
    build them) as the quarantine zone's contract publishes them (``QUARANTINE_SCHEMA``):
    with ``schema_version`` and each reason's kind and column
    (:func:`servicelens.validation.reasons.with_reason_kinds`; ``set_aside`` the reasons of
    the source definition's ``[[exclude]]`` rules). The nightly's partitions and ``score
    --output``'s quarantine file are both written from it. Raises ValueError naming a
    contract column ``quarantine`` lacks."""
    return conform(
        with_reason_kinds(quarantine, set_aside).with_columns(
            pl.lit(QUARANTINE_VERSION, pl.Int32).alias("schema_version")
        ),
        QUARANTINE_SCHEMA,
    )


def with_accepted_elsewhere(surveys: pl.DataFrame, settings: Settings, day: date) -> pl.DataFrame:
    """Add ``accepted_on``: the other survey date whose clean partition already holds this
    response_id, if any. A response re-delivered in another day's file must not be counted
    twice in BI; the copy that comes second goes to quarantine.

    For a configured source, a partition whose landed rows changed since its clean layer
    was built does not count: a delivery landed again under a fixed definition moves rows
    between partitions, and the partition they left still lists them until it runs again
    (it runs in the same pass: its inputs changed). Counted, the moved rows were
    quarantined in their new partition, then dropped from the old one: in neither."""
    elsewhere = pl.DataFrame(schema={"response_id": pl.String, "accepted_on": pl.Date})
    if any(settings.clean_dir.glob("survey_date=*/part-0.parquet")):
        # Only this date's ids are looked up: a backfill's clean table grows by a day of
        # responses per date, and collecting all of them made each date slower than the last.
        elsewhere = (
            scan_table(settings.clean_dir)
            .filter(pl.col("survey_date") != day)
            .select("response_id", pl.col("survey_date").alias("accepted_on"))
            .join(
                surveys.lazy().select("response_id"), "response_id", "semi", maintain_order="left"
            )
            .unique("response_id", keep="first", maintain_order=True)
            .collect()
        )
    if not settings.is_sample and elsewhere.height:
        from servicelens.storage.runs import clean_inputs_changed

        current = [
            other
            for other in elsewhere.get_column("accepted_on").unique().to_list()
            if not clean_inputs_changed(settings, other)
        ]
        elsewhere = elsewhere.filter(pl.col("accepted_on").is_in(current))
    return surveys.join(elsewhere, "response_id", "left")


def _survey_quarantine(
    rows: pl.DataFrame,
    raw: pl.DataFrame,
    raw_columns: list[str],
    day: date | None,
    source: str = SAMPLE_SOURCE,
    superseded: bool = False,
) -> pl.DataFrame:
    """Quarantine rows (``QUARANTINE_ROW_SCHEMA``) from typed survey ``rows`` (``source_file``,
    ``source_line``, ``response_id``, ``reasons``) with the raw values exactly as exported in
    ``raw`` (looked up by line). ``superseded``: the rows are earlier copies a later delivery
    replaced, not rejects.

    ``day`` None keeps each row's own ``survey_date`` (an export of any date range)."""
    # Only the quarantined lines are encoded: a few percent of the day, not all of it.
    as_exported = raw.join(rows.select("source_line"), "source_line", "semi").select(
        "source_line", pl.struct(raw_columns).struct.json_encode().alias("raw_record")
    )
    dated = pl.lit(day) if day is not None else pl.col("survey_date")
    return conform(
        rows.select(
            "source_file",
            "source_line",
            "reasons",
            pl.col("response_id").alias("record_id"),
            dated.cast(pl.Date).alias("survey_date"),
        )
        .join(as_exported, "source_line", "left")
        .with_columns(
            pl.lit("surveys").alias("feed"),
            pl.lit(source).alias("source"),
            pl.lit(superseded).alias("superseded"),
        ),
        QUARANTINE_ROW_SCHEMA,
    )


def conform_filling(frame: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """:func:`transforms.schemas.conform`, with the contract's columns that ``frame`` does
    not carry added as nulls (a source without contact facts, a csat, or attributes)."""
    absent = [
        pl.lit(None, dtype).alias(name)
        for name, dtype in schema.items()
        if name not in frame.columns
    ]
    return conform(frame.with_columns(absent) if absent else frame, schema)


def publish_clean(
    settings: Settings, validated: ValidatedDay, manifest: dict[str, Any]
) -> dict[str, str]:
    """Swap in the date's clean and quarantine partitions, each with its manifest."""
    counts = validated.counts.__dict__
    full = {**manifest, "inputs": validated.inputs, "counts": counts}
    if validated.negative_rule is not None:
        # Which rule decided the date's negatives: a definition whose rule changed since
        # runs the date again (servicelens.storage.runs.rule_change).
        full["negative_rule"] = validated.negative_rule
    # The staged files are the partitions' data files already (stage_partition).
    clean_dir = write_partition(
        as_path(validated.valid_path),
        settings.clean_dir,
        validated.day,
        CLEAN_RESPONSE_SCHEMA,
        full,
        settings.staging_dir,
    )
    quarantine_dir = write_partition(
        as_path(validated.quarantine_path),
        settings.quarantine_dir,
        validated.day,
        QUARANTINE_SCHEMA,
        full,
        settings.staging_dir,
    )
    published = {"clean": str(clean_dir), "quarantine": str(quarantine_dir)}
    if validated.contacts_path:
        own = str(settings.raw_day(validated.day) / INTERACTIONS_FILE)
        owned = {own}
        if not settings.is_sample:  # a source's contacts: its clean rows, its day's facts
            owned = contact_inputs(settings, validated.day)
        published["contacts"] = str(
            write_partition(
                as_path(validated.contacts_path),
                settings.contacts_dir,
                validated.day,
                CONTACT_SCHEMA,
                {
                    **manifest,
                    "inputs": {k: v for k, v in validated.inputs.items() if k in owned},
                },
                settings.staging_dir,
            )
        )
    return published


def contact_inputs(settings: Settings, period: date) -> set[str]:
    """The files a source's contact-history partition ``period`` is built from (paths as
    :func:`servicelens.storage.runs.input_checksums` names them): its landed survey
    partition and, with a contact-facts feed, the feed's landed partition of the period."""
    files = {str(partition_dir(settings.landed_dir, period) / DATA_FILE)}
    if settings.interaction_feed:
        files.add(str(partition_dir(settings.for_interactions().landed_dir, period) / DATA_FILE))
    return files


def load_clean(settings: Settings, day: date) -> pl.DataFrame:
    """The clean responses of one date, or a BatchError telling the user to ingest first."""
    if not (partition_dir(settings.clean_dir, day) / "part-0.parquet").exists():
        raise BatchError(
            f"{partition_dir(settings.clean_dir, day)}: no clean partition for {day}; "
            f"run `servicelens run --date {day}` first"
        )
    # A partition written before a column was added reads with it as null.
    return conform_filling(read_partition(settings.clean_dir, day), CLEAN_RESPONSE_SCHEMA)


def read_audits(settings: Settings, days: list[date]) -> pl.DataFrame:
    """QA audit labels in force (the training labels): ``response_id``, ``root_cause``,
    ``audited_at`` (UTC; null for a source's own label), ``auditor``. An audit file that
    cannot be read is left out (``audits_read(settings).unreadable`` names it).

    For the sample feed, every date's audit file (whichever date QA filed an audit under;
    see :mod:`servicelens.ingest.audits`), ``days`` unused. For a configured source, the
    label its clean rows on ``days`` carry (``[label]``, e.g. CFPB's company response) and
    every audit file in its audits folder (``Settings.audits_dir``); a response QA audited
    takes the audit's verdict over the export's label (the audit is a person's reading of
    that response; the export's label is a proxy written by another process).
    """
    audits = audits_read(settings).audits.select(*_AUDIT_LABEL_SCHEMA)
    if settings.is_sample:
        return audits
    own = _source_labels(settings, days).join(audits, "response_id", "anti")
    return pl.concat([audits, own])


def with_audit_verdicts(labelled: pl.DataFrame, settings: Settings) -> tuple[pl.DataFrame, int]:
    """``labelled`` (``response_id``, ``submitted_at``, ``root_cause``: an export's own label,
    as ``train --input`` reads it) with the verdict of each audit in force in the configured
    source's audits folder (``settings``) in ``root_cause`` instead, as :func:`read_audits`
    gives it precedence for the landed rows; an audit dated before its response is a
    mistyped date and changes nothing (:func:`labelled_negatives`). Returns the frame and how
    many rows an audit gave another verdict than their label. Found by a data scientist's
    trial: ``train --source cfpb --input ...`` trained on CFPB's labels alone, the three
    complaints QA had overturned back as policy failures, and was promoted over the champion
    that had learnt from them."""
    audits = audits_read(settings).audits.select(
        "response_id", pl.col("root_cause").alias("_audit"), pl.col("audited_at").alias("_at")
    )
    if audits.is_empty() or labelled.is_empty():
        return labelled, 0
    joined = labelled.join(audits, "response_id", "left", maintain_order="left")
    usable = pl.col("_audit").is_not_null() & ~audited_before_submitted("_at").fill_null(False)
    changed = joined.filter(usable & (pl.col("_audit") != pl.col("root_cause"))).height
    verdicts = pl.when(usable).then(pl.col("_audit")).otherwise(pl.col("root_cause"))
    return joined.with_columns(verdicts.alias("root_cause")).drop("_audit", "_at"), changed


#: The columns of :func:`read_audits`.
_AUDIT_LABEL_SCHEMA: dict[str, pl.DataType] = {
    "response_id": pl.String(),
    "root_cause": pl.String(),
    "audited_at": pl.Datetime("us", "UTC"),
    "auditor": pl.String(),
}


def audited_ids(settings: Settings, day: date) -> tuple[pl.Series, pl.Series]:
    """The responses with an audit in force in the audit files of ``day``'s folder and of
    every later date's, for that date's review queue: a response QA has audited is not
    proposed again. An audit row set aside (a verdict mistyped, a conflict, a date ahead)
    leaves its response in the queue until it is fixed: it labels nothing, so the item is
    not done. Later folders too, since QA files audits under the day it works (the review
    worksheet says today's folder), so a date scored again after its audits (a backfill
    with a new champion) put them back in its queue as unaudited; earlier folders are not
    read (a response is audited after its survey; a 1M-survey date's scoring reading every
    date's audits took 1.1 s for five such dates). Training and the report read them all
    (:func:`read_audits`). For a configured source, the responses its export labels on
    ``day`` and every audit in force in its audits folder (read once per process while
    neither they nor the clean layer change). A file that cannot be read is left out with
    a warning naming it (QA's file must not stop the date's scoring; training's tally and
    ``review-queue`` name it too). Returns those ids, and the responses among them a later
    audit reconfirmed (:attr:`AuditRead.reconfirmed`: no label doubt is raised of them)."""
    if not settings.is_sample:
        read = audits_read(settings)
        own = _source_labels(settings, [day]).get_column("response_id")
        ids = pl.concat([own, read.audits.get_column("response_id")]).unique(maintain_order=True)
    else:
        files = [f for f in audit_files(settings.root / "raw") if f.parent.name >= day.isoformat()]
        if not files:
            none = pl.Series("response_id", [], pl.String)
            return none, none
        key = tuple((str(f), modified_at(f)) for f in files)
        read = _audits_of(
            key,
            settings.timezone,
            settings.audit_date_order,
            str(settings.clean_dir),
            _clean_partitions(settings),
            order_advice=date_order_advice(settings),
            declared_by=date_order_declared_by(settings),
            eraser=erasure_list(settings),
        )
        ids = read.audits.get_column("response_id")
    for unread in read.unreadable:
        # Once a process for each state of the file: a backfill scores many dates, and a
        # QA lead's trial read the same line eight times, once a date.
        try:
            stamp: float | None = modified_at(as_path(unread["file"]))
        except OSError:  # gone since it was read
            stamp = None
        said = (unread["file"], unread["reason"], stamp)
        if said in _UNREADABLE_SAID:
            continue
        _UNREADABLE_SAID.add(said)
        logging.getLogger(__name__).warning(
            "%s; its audits are not left out of the review queue until it is fixed",
            unread["reason"],
        )
    return ids, read.reconfirmed


#: The unreadable audit files :func:`audited_ids` has warned of: (file, reason, modified).
_UNREADABLE_SAID: set[tuple[str, str, float | None]] = set()


def _audit_files_of(settings: Settings) -> tuple[list[DataPath], list[str]]:
    """The audit files ``settings``' source reads, and those it does not read (misplaced)."""
    if settings.is_sample:
        raw = settings.root / "raw"
        return audit_files(raw), misplaced_audit_files(raw)
    folder = settings.audits_dir
    misplaced = misplaced_source_audit_files(folder)
    # The sample feed's audits.csv in a data directory without the sample: saved where the
    # README's "QA's audits" says, for a configured source (found by a QA lead's trial:
    # train and run passed over them without a word).
    from servicelens.ingest.configured import has_sample_exports

    if not has_sample_exports(settings):
        misplaced += [str(p) for p in audit_files(settings.root / "raw")]
    return source_audit_files(folder), misplaced


def misplaced_audits(settings: Settings) -> list[str]:
    """The files of ``settings``' source named or placed like audits that are not read
    (``audits.xlsx``, ``audits (1).csv``, a workbook in a source's audits folder)."""
    return _audit_files_of(settings)[1]


def audits_read(settings: Settings) -> AuditRead:
    """Every audit file of ``settings``' source (the sample's date folders, or a configured
    source's audits folder), read once per process while none of them changes, nor any
    clean partition (training reads them for its labels and again for its tally of where
    each went; ``serve`` for every date it runs, while re-runs change the clean layer)."""
    files, _ = _audit_files_of(settings)
    key = tuple((str(f), modified_at(f)) for f in files)
    return _audits_of(
        key,
        settings.timezone,
        settings.audit_date_order,
        str(settings.clean_dir),
        _clean_partitions(settings) if files else (),
        date_order_advice(settings),
        date_order_declared_by(settings),
        # A configured source's audits may name a response by its ticket
        # (other_response_ids); the sample's name their responses, and scanning its clean
        # layer for other ids would cost each read.
        other_ids=not settings.is_sample,
        # Erased subjects' audits are left out of every read (training, tally, queue).
        eraser=erasure_list(settings),
    )


def audit_report(settings: Settings) -> dict[str, Any] | None:
    """Where every audit row of ``settings``' source went (``audits.audit_accounting``):
    used, replaced, set aside with its reason, or naming a response that is quarantined,
    unknown or not negative; ``misplaced_files`` lists audit files that are not read.
    None for a configured source with no audit file at all (its labels, if any, are its
    export's own)."""
    files, misplaced = _audit_files_of(settings)
    if not settings.is_sample and not files and not misplaced:
        return None
    from servicelens.storage.runs import cleaned_under_other_rules, other_rules_text

    read = audits_read(settings)
    # The interaction ids tell an unknown audit id shaped as one (audits.NO_SUCH_INTERACTION).
    clean = (
        scan_table(settings.clean_dir)
        .select(
            "response_id",
            "is_negative",
            "submitted_at",
            PARTITION_COLUMN,
            cs.by_name("interaction_id", require_all=False),
        )
        .collect()
        if settings.clean_dir.exists()
        else pl.DataFrame(
            schema={"response_id": pl.String, "is_negative": pl.Boolean, PARTITION_COLUMN: pl.Date}
        )
    )
    # Dates cleaned under the rule the definition said before: their rows say that rule.
    other_rules = cleaned_under_other_rules(settings)
    cleaned_under = pl.DataFrame(
        [(day, rule) for rule, days in other_rules.items() for day in days],
        schema={PARTITION_COLUMN: pl.Date, "negative_rule": pl.String},
        orient="row",
    )
    clean = clean.join(cleaned_under, PARTITION_COLUMN, "left").drop(PARTITION_COLUMN)
    quarantined = (
        scan_table(settings.quarantine_dir)
        .filter(pl.col("feed") == "surveys")
        .select("record_id")
        .collect()
        .get_column("record_id")
        if settings.quarantine_dir.exists()
        else pl.Series("record_id", [], pl.String)
    )
    elsewhere = _responses_of_other_sources(settings, read, clean)
    # What the tally and each row name as deciding "not negative" (a trial's 82 audits of
    # csat 3 were set aside with no word of the rule or of how to change it).
    rule = (
        f"csat <= {NEGATIVE_CSAT_MAX}"
        if settings.is_sample
        else source_definition(settings).negative_rule
    )
    report = {
        **audit_accounting(read, clean, quarantined, elsewhere, rule),
        "misplaced_files": misplaced,
        "negative_rule": rule,
        "cleaned_under_other_rules": other_rules_text(settings, other_rules),
    }
    if not settings.is_sample and settings.clean_dir.exists():
        # A source's export may carry its own label: say how often QA's audit overrode it.
        labels = (
            scan_table(settings.clean_dir)
            .filter(pl.col("is_negative") & pl.col("label").is_not_null())
            .select("response_id", "label")
            .collect()
        )
        # Of the audits used: one dated before its response is not trained on (a trial's
        # tally counted it as overriding its complaint's label).
        labels = labels.join(clean.select("response_id", "submitted_at"), "response_id", "left")
        report["overrode_the_export_label"] = (
            read.audits.join(labels, "response_id")
            .filter(pl.col("root_cause") != pl.col("label"))
            .filter(~audited_before_submitted("audited_at").fill_null(False))
            .height
        )
    return report


def _responses_of_other_sources(
    settings: Settings, read: AuditRead, clean: pl.DataFrame
) -> pl.DataFrame:
    """The responses that ``read``'s audits name and ``settings``' clean layer (``clean``)
    does not hold, found in another configured source's clean layer: ``response_id``,
    ``source`` and ``audits_dir`` (that source's audits folder), for the tally to say an
    audit file was filed under the wrong source (``audits.filed_under_another_source``).
    A source whose definition cannot be loaded is passed over (its own commands say why)."""
    schema = {"response_id": pl.String, "source": pl.String, "audits_dir": pl.String}
    unknown = (
        pl.concat([read.audits.select("response_id"), read.set_aside.select("response_id")])
        .drop_nulls()
        .unique()
        .join(clean.select("response_id"), "response_id", "anti")
        .get_column("response_id")
    )
    found = [pl.DataFrame(schema=schema)]
    if unknown.is_empty():
        return found[0]
    for name in configured_names(settings):
        if name == settings.source:
            continue
        try:
            other = configured_source(settings, name)
        except (DefinitionError, OSError):
            continue
        if not other.clean_dir.exists():
            continue
        found.append(
            scan_table(other.clean_dir)
            .select("response_id")
            .filter(pl.col("response_id").is_in(unknown.implode()))
            .unique()
            .collect()
            .with_columns(
                pl.lit(name).alias("source"), pl.lit(str(other.audits_dir)).alias("audits_dir")
            )
        )
    return pl.concat(found)


def open_review_queue(
    settings: Settings,
    start: date | None = None,
    end: date | None = None,
    early: pl.DataFrame | None = None,
) -> tuple[pl.DataFrame, int]:
    """The review queue's open items over the dates ``start``..``end`` (every date by
    default), most urgent first (:func:`transforms.marts.open_review_items`), and how many
    items audits filed since their queue was written have closed.

    Audits are read as now (the audits in force in every audit file of the source; a
    configured source's export labels too), not as when each date was scored: a queue is
    written once, when its date is scored. Returns REVIEW_QUEUE_SCHEMA's columns. An audit
    file that cannot be read is left out (``audits_read(settings).unreadable`` names it), and
    so is an audit dated before its response (``early``: those of the dates' responses, as
    :func:`audits_dated_before_their_response` gives them; read here when not given). An
    ``uncertain`` item of a queue written before spot checks existed whose response the
    date's feedback_scored does not flag ``needs_review`` is read as a spot check
    (:func:`transforms.marts.with_spot_checks`).
    """
    table = settings.marts_dir / "review_queue"
    days = review_queue_days(settings, start, end)
    if not days:
        return pl.DataFrame(schema=REVIEW_QUEUE_SCHEMA), 0
    queue = conform(scan_table(table, days).collect(), REVIEW_QUEUE_SCHEMA)
    queue = with_spot_checks(queue, _review_flags(settings, queue))
    # An audit training does not use closes nothing: found by a QA lead's trial, an audit
    # dated before its response closed the item, and the response never got a label.
    items = open_review_items(
        _with_doubted_label_times(settings, queue), audits_closing_items(settings, days, early)
    )
    return items.select(*REVIEW_QUEUE_SCHEMA), queue.height - items.height


def audits_closing_items(
    settings: Settings, days: list[date], early: pl.DataFrame | None = None
) -> pl.DataFrame:
    """The labels that close a review item of the dates ``days`` (:func:`read_audits`'
    columns): the audits in force and export labels, less the audits training does not use
    for their date because they are dated before their response (``early``, as
    :func:`audits_dated_before_their_response` gives them for ``days``; read here when not
    given). A row set aside is not in force, so it closes nothing either. The ranked queue
    (:func:`open_review_queue`) and a new source's first-audit list (:func:`first_audits`)
    both close items by it: a QA lead's trial saw an audit set aside as dated before its
    response close its item in the first-audit list alone."""
    if early is None:
        early = audits_dated_before_their_response(settings, days)
    return read_audits(settings, days).join(early.select("response_id"), "response_id", "anti")


def _review_flags(settings: Settings, queue: pl.DataFrame) -> pl.DataFrame:
    """feedback_scored's ``response_id`` and ``needs_review`` of the ``queue``'s
    ``uncertain`` items, from their dates' partitions (empty where none is published)."""
    asked = queue.filter(pl.col("reason") == UNCERTAIN).select("response_id", PARTITION_COLUMN)
    schema = {"response_id": pl.String, "needs_review": pl.Boolean}
    table = settings.marts_dir / "feedback_scored"
    days = sorted(
        d
        for d in asked.get_column(PARTITION_COLUMN).unique().to_list()
        if (partition_dir(table, d) / DATA_FILE).exists()
    )
    if not days:
        return pl.DataFrame(schema=schema)
    return (
        scan_table(table, days)
        .select("response_id", pl.col("needs_review").cast(pl.Boolean))
        .join(asked.lazy().select("response_id"), "response_id", "semi")
        .collect()
    )


def audits_dated_before_their_response(settings: Settings, days: list[date]) -> pl.DataFrame:
    """The audits in force (:func:`audits_read`) of responses in the clean partitions
    ``days`` that training does not use for their date: dated before the negative response
    was submitted (:func:`~servicelens.ingest.audits.audited_before_submitted`), a mistyped
    date, so the review queue must not close their items either. An audit that training
    sets aside for another reason first (of a response not negative, or without a rating:
    one no queue holds) is not among them: the reasons are training's, in its order
    (:func:`~servicelens.ingest.audits.unused_audits`).

    Returns ``source_file``, ``source_sheet``, ``source_line``, ``response_id`` and
    ``reason`` (the words of training's tally, ``BEFORE_SUBMITTED``), as
    ``AuditRead.set_aside`` holds its rows."""
    audits = audits_read(settings).audits
    columns = {"source_file": pl.String, "source_sheet": pl.String, "source_line": pl.Int64}
    schema = {**columns, "response_id": pl.String, "reason": pl.String}
    clean = scan_table(settings.clean_dir, days) if audits.height and days else pl.LazyFrame()
    if not {"is_negative", "submitted_at"} <= set(clean.collect_schema()):
        return pl.DataFrame(schema=schema)  # no audits, or no clean partition
    audited = (
        clean.select("response_id", "is_negative", "submitted_at")
        .join(audits.lazy().select("response_id"), "response_id", "semi")
        .collect()
    )
    # Quarantined responses are in no clean partition: none of these audits is of one.
    none_quarantined = pl.Series("response_id", [], pl.String)
    return (
        unused_audits(audits.join(audited, "response_id", "semi"), audited, none_quarantined)
        .filter("dated_before_the_response")
        .select(
            *(pl.col(name).cast(dtype) for name, dtype in columns.items()),
            "response_id",
            pl.col("why").alias("reason"),
        )
    )


def review_queue_days(
    settings: Settings, start: date | None = None, end: date | None = None
) -> list[date]:
    """The dates ``start``..``end`` (every date by default) that have a review queue
    partition, empty ones included (a date whose negatives were all audited or confident
    when it was scored), in order."""
    return _partition_days(settings.marts_dir / "review_queue", start, end)


def clean_days(
    settings: Settings, start: date | None = None, end: date | None = None
) -> list[date]:
    """The dates ``start``..``end`` (every date by default) that have a clean partition, in
    order: those :func:`first_audits` lists the negatives of."""
    return _partition_days(settings.clean_dir, start, end)


def _partition_days(table: DataPath, start: date | None, end: date | None) -> list[date]:
    """The dates ``start``..``end`` (either None: unbounded) of ``table``'s partitions."""
    days = [
        date.fromisoformat(p.parent.name.split("=", 1)[1])
        for p in table.glob(f"{PARTITION_COLUMN}=*/{DATA_FILE}")
    ]
    return sorted(d for d in days if (start is None or d >= start) and (end is None or d <= end))


def first_audits(
    settings: Settings,
    start: date | None = None,
    end: date | None = None,
    early: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The negative responses of the clean layer over ``start``..``end`` (every date by
    default) that no audit or export label covers, for a source without a champion model
    to get its first audits (:func:`transforms.marts.first_audit_items`, which gives the
    order and the columns). Empty when the clean layer holds nothing.

    Only the labels that close a ranked queue's items close these
    (:func:`audits_closing_items`): an audit dated before its response (``early``, read
    for the dates of the negatives when not given) leaves its response open, as training
    does not use it."""
    if not any(settings.clean_dir.glob(f"{PARTITION_COLUMN}=*/{DATA_FILE}")):
        return pl.DataFrame(schema=REVIEW_QUEUE_SCHEMA)
    dated = pl.col(PARTITION_COLUMN)
    wanted = [pl.col("is_negative")]
    if start is not None:
        wanted.append(dated >= start)
    if end is not None:
        wanted.append(dated <= end)
    negatives = (
        scan_table(settings.clean_dir)
        .filter(*wanted)
        .select(PARTITION_COLUMN, "response_id", "queue", "policy_code", "comment", "source")
        .collect()
    )
    days = negatives.get_column(PARTITION_COLUMN).unique().to_list()
    labelled = audits_closing_items(settings, days, early).get_column("response_id")
    return first_audit_items(negatives, labelled)


def with_contact_facts(settings: Settings, items: pl.DataFrame) -> pl.DataFrame:
    """``items`` (review items: ``survey_date``, ``response_id`` and the queue's columns)
    with the facts of their responses from the clean layer after them: the facts the
    source's model reads (its definition's ``[features]``: categorical, numeric, flags) and
    the contact facts of :data:`transforms.marts.WORKSHEET_FACT_COLUMNS`, each only when
    one of the items' responses has a value in it (a survey with no call facts gets no
    empty columns). Units are in the names (``wait_seconds``, ``handle_seconds``: seconds).
    An item whose response is in no clean partition keeps nulls. Found by a QA lead's
    trial: a call log's worksheet held the queue alone, no wait, talk time or outcome."""
    from transforms.marts import WORKSHEET_FACT_COLUMNS

    days = sorted(set(items.get_column(PARTITION_COLUMN).to_list()))
    if not items.height or not days:
        return items
    declared: list[str] = []
    if settings.definition is not None and not settings.is_sample:
        from servicelens.ingest.definitions import load_definition

        spec = load_definition(settings.definition).features
        declared = [*spec.categorical, *spec.numeric, *spec.flags]
    clean = scan_table(settings.clean_dir, days)
    have = clean.collect_schema()
    wanted = [
        c
        for c in dict.fromkeys([*declared, *WORKSHEET_FACT_COLUMNS])
        if c in have and c not in items.columns
    ]
    if not wanted:
        return items
    facts = (
        clean.select(PARTITION_COLUMN, "response_id", *wanted)
        .join(
            items.lazy().select(PARTITION_COLUMN, "response_id"),
            [PARTITION_COLUMN, "response_id"],
            "semi",
        )
        .unique([PARTITION_COLUMN, "response_id"], keep="last")
        .collect()
    )
    held = [c for c in wanted if facts.get_column(c).null_count() < facts.height]
    if not held:
        return items
    return items.join(
        facts.select(PARTITION_COLUMN, "response_id", *held),
        [PARTITION_COLUMN, "response_id"],
        "left",
        maintain_order="left",
    )


def _with_doubted_label_times(settings: Settings, queue: pl.DataFrame) -> pl.DataFrame:
    """``queue`` with each ``label_doubt`` item's ``label_audited_at``: when the label the
    item doubts was audited (null for a source's own label), from the out-of-fold file of
    the model that raised the doubt. Without the column (a model saved before it was
    recorded), an item keeps the rule that only a changed verdict closes it."""
    versions = (
        queue.filter(pl.col("reason") == "label_doubt")
        .get_column("model_version")
        .drop_nulls()
        .unique()
        .to_list()
    )
    times = []
    for version in versions:
        oof = read_out_of_fold(settings.models_dir, version)
        if oof is None or LABEL_AUDITED_AT not in oof.columns:
            return queue
        times.append(
            oof.select(
                "response_id",
                pl.col(LABEL_AUDITED_AT).dt.cast_time_unit("us").dt.replace_time_zone("UTC"),
                pl.lit(version).alias("model_version"),
            )
        )
    if not times:
        return queue
    doubted = pl.concat(times).unique(["model_version", "response_id"], keep="last")
    return queue.join(doubted, ["model_version", "response_id"], "left", maintain_order="left")


def _clean_partitions(settings: Settings) -> tuple[tuple[str, float], ...]:
    """Each clean partition's data file of ``settings``' source with when it was written:
    what an audit read from the clean layer depends on (its responses' ``submitted_at``,
    their other ids), so the cache of :func:`_audits_of` is keyed on it."""
    parts: list[DataPath] = list(settings.clean_dir.glob(f"{PARTITION_COLUMN}=*/{DATA_FILE}"))
    return tuple((str(p), modified_at(p)) for p in sorted(parts, key=str))


@functools.lru_cache(maxsize=4)
def _audits_of(
    key: tuple[tuple[Any, ...], ...],
    timezone: str,
    date_order: str,
    clean_dir: str = "",
    clean: tuple[tuple[str, float], ...] = (),
    order_advice: str = "",
    declared_by: str = "SERVICELENS_AUDIT_DATE_ORDER",
    other_ids: bool = False,
    eraser: Eraser | None = None,
) -> AuditRead:
    """The audit files ``key`` names, read (cached while none changes, nor ``clean``: the
    partitions of the clean layer at ``clean_dir`` and when each was written,
    :func:`_clean_partitions`). The read depends on the clean layer: a file's slashed dates
    show their order by the ``submitted_at`` of the responses they audit, and with
    ``other_ids`` an audit may name its response by another id (a ticket's). Found by a
    review: a long-running process (``serve``) kept the read of before a date's re-run
    changed the clean layer, keyed on the audit files alone. ``eraser``: the source's erasure
    list (:func:`~servicelens.erasure.erasure_list`), whose subjects' audit rows are left out
    and counted (``AuditRead.erased``); part of the key, so an erase is seen at once.

    The files are read as they are first. Only with ``other_ids``, and only when an audit
    names an id that is no response's (a ticket number), is the clean layer searched for
    it, and only the rows whose interaction id or attributes hold such an id are decoded:
    this runs for every date's scoring while the clean layer grows (each date published
    changes ``clean``), and decoding every response's attributes each time would grow with
    it."""
    files = [as_path(k[0]) for k in key]
    submitted_of = _submitted_of(clean_dir) if clean_dir else None
    read = read_audit_files(
        files,
        timezone,
        date_order=date_order,
        order_advice=order_advice,
        submitted_of=submitted_of,
        declared_by=declared_by,
        eraser=eraser,
    )
    if not other_ids or not clean:
        return read
    named = pl.concat(
        [
            read.audits.select("response_id"),
            read.set_aside.select("response_id"),
            read.overturned_rows.select("response_id"),
        ]
    ).drop_nulls()
    layer = scan_table(as_path(clean_dir))
    present = layer.collect_schema()
    if named.is_empty() or "response_id" not in present:
        return read
    unknown = (
        named.unique()
        .join(layer.select("response_id").collect(), "response_id", "anti")
        .get_column("response_id")
    )
    if unknown.is_empty():
        return read
    holds = []
    if "interaction_id" in present:
        holds.append(pl.col("interaction_id").cast(pl.String).is_in(unknown.implode()))
    if "attributes" in present:
        holds.append(pl.col("attributes").str.contains_any(unknown.to_list()).fill_null(False))
    if not holds:
        return read
    wanted = [c for c in ("response_id", "interaction_id", "attributes") if c in present]
    candidates = layer.select(wanted).filter(pl.any_horizontal(holds)).collect()
    other = other_response_ids(candidates).filter(pl.col("other_id").is_in(unknown.implode()))
    return read_audit_files(
        files,
        timezone,
        date_order=date_order,
        other_ids=other,
        order_advice=order_advice,
        submitted_of=submitted_of,
        declared_by=declared_by,
        eraser=eraser,
    )


def _submitted_of(clean_dir: str) -> Callable[[pl.Series], pl.DataFrame]:
    """``response_id`` and ``submitted_at`` (UTC) of the responses of the clean layer at
    ``clean_dir`` whose ids it is given, for an audit file's slashed dates to show their
    order (``audits.date_order_shown``): looked up only for a file whose dates do not show
    it otherwise, and only for its ids."""

    def submitted(ids: pl.Series) -> pl.DataFrame:
        folder = as_path(clean_dir)
        none = pl.DataFrame(
            schema={"response_id": pl.String, "submitted_at": pl.Datetime("us", "UTC")}
        )
        if not any(folder.glob(f"{PARTITION_COLUMN}=*/{DATA_FILE}")):
            return none  # nothing cleaned yet
        layer = scan_table(folder)
        if not {"response_id", "submitted_at"} <= set(layer.collect_schema()):
            return none
        return (
            layer.select("response_id", "submitted_at")
            .filter(pl.col("response_id").is_in(ids.implode()))
            .unique("response_id", keep="last")
            .collect()
        )

    return submitted


def read_truth(settings: Settings) -> pl.DataFrame | None:
    """The generator's answer key, if this data directory was generated; for evaluation only."""
    files: list[DataPath] = sorted(settings.truth_dir.glob("????-??-??.csv"), key=str)
    if not files:
        return None
    return pl.concat([read_plain_csv(f) for f in files]).with_columns(
        pl.col("oracle_p_policy_failure").cast(pl.Float64)
    )


def oracle_summary(settings: Settings) -> dict[str, Any] | None:
    path = settings.truth_dir / "summary.json"
    if not path.exists():
        return None
    result: dict[str, Any] = json.loads(path.read_text())
    return result


def publish_marts(
    settings: Settings,
    day: date,
    scored: pl.DataFrame,
    model_version: str | None,
    manifest: dict[str, Any],
) -> dict[str, Any]:
    """Swap in the date's feedback_scored and daily_summary partitions; return their counts."""
    feedback, summary = marts_for_day(scored, model_version)
    counts = mart_counts(feedback)
    # Counts the caller passes (e.g. the clean partition's reconciliation) are kept; the
    # marts' own counts are added to them.
    full = {
        **manifest,
        "model_version": model_version,
        "counts": {**manifest.get("counts", {}), **counts},
    }
    for table, frame, schema in (
        ("feedback_scored", feedback, FEEDBACK_SCORED_SCHEMA),
        ("daily_summary", summary, DAILY_SUMMARY_SCHEMA),
    ):
        write_partition(frame, settings.marts_dir / table, day, schema, full, settings.staging_dir)
    return counts


def mart_counts(feedback: pl.DataFrame) -> dict[str, int]:
    """The counts a date's mart manifests add to its clean counts, from its feedback_scored
    rows (``FEEDBACK_SCORED_SCHEMA``): responses, negatives, scored, policy failures, rows
    needing review and rows in the champion's training set."""
    return {
        "responses": feedback.height,
        "negatives": int(feedback.get_column("is_negative").sum()),
        "scored": int(feedback.get_column("root_cause").is_not_null().sum()),
        "policy_failures": int((feedback.get_column("root_cause") == "policy_failure").sum()),
        "needs_review": int(feedback.get_column("needs_review").sum()),
        # Scored rows whose label the champion learned, published with out-of-fold scores.
        "in_training_set": int(feedback.get_column("in_training_set").sum()),
    }


def marts_for_day(
    scored: pl.DataFrame, model_version: str | None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The feedback_scored and daily_summary frames of one date."""
    return feedback_scored(scored, model_version), conform(
        daily_summary(scored), DAILY_SUMMARY_SCHEMA
    )


def refuse_training_without_clean_data(settings: Settings) -> None:
    """Raise :class:`BatchError` saying how to ingest, when ``settings`` has no clean
    partition yet (nothing to train on; an empty ``clean/responses`` folder ended in polars'
    ComputeError). Cheap, and free of Prefect: ``servicelens train`` asks it before the API
    starts (a trial waited 9 s to be told). The sample's advice offers ``demo`` only in a
    directory where no source is configured."""
    if settings.clean_dir.exists() and any(settings.clean_dir.glob("survey_date=*/*.parquet")):
        return
    # A configured source's data comes through its inbox (found by a trial: the advice was
    # the sample's backfill).
    first = (
        "`servicelens backfill --start YYYY-MM-DD --end YYYY-MM-DD`"
        if settings.is_sample
        else f"drop its exports in {settings.inbox_dir} and run `servicelens run`, or "
        f"`servicelens sources run {settings.source} FILE...`"
    )
    # `demo` writes synthetic sample data: never offered in a directory that holds
    # configured sources, a production one (a new user's trial was offered it by every
    # scheduled retrain there).
    if settings.is_sample and not configured_names(settings):
        first += " (or `servicelens demo` for sample data)"
    raise BatchError(
        f"{settings.clean_dir}: no clean data yet, so nothing to train on; ingest some "
        f"dates first: {first}"
    )


def labelled_negatives(settings: Settings) -> pl.DataFrame:
    """Every clean negative response that QA audited, with its audit label as ``root_cause``
    (a source's own label for a source that carries one) and that label's
    ``label_audited_at`` (UTC; null for a source's own label), and the source attributes
    its model's features name as columns.

    Raises :class:`BatchError` (:func:`refuse_training_without_clean_data`) when the clean
    layer does not exist yet."""
    refuse_training_without_clean_data(settings)
    negatives = scan_table(settings.clean_dir).filter(pl.col("is_negative")).collect()
    labelled = with_training_labels(settings, negatives)
    if settings.is_sample:
        return labelled
    # A monthly partition dates its rows by the month; the time split needs each row's day.
    # A daily one already holds it (a date written alone is its own day: survey_day).
    definition = source_definition(settings)
    if definition.partition == "day":
        return with_model_attributes(labelled, definition.features)
    return with_model_attributes(
        labelled.with_columns(response_day(settings.timezone).alias("survey_date")),
        definition.features,
    )


def with_training_labels(settings: Settings, negatives: pl.DataFrame) -> pl.DataFrame:
    """The rows of ``negatives`` that have a label training uses, each with that label as
    ``root_cause`` and its ``label_audited_at`` (UTC; null for a source's own label), in
    ``negatives``' order: the audits in force (:func:`read_audits`) less those dated before
    their response (a mistyped date: counted in training's tally, not trained on), and for
    a configured source the export's own label where no such audit is in force.

    ``negatives``: negative responses with ``response_id``, ``survey_date`` and
    ``submitted_at`` (UTC), without a ``root_cause`` column (the clean layer's, or the
    scored mart's with its class renamed). Training (:func:`labelled_negatives`) and the
    report's curves and confusion matrix both take their labels here, so they count the same
    rows (a QA lead's trial read "trained on 18,238 audited negatives" above "18,253 audited
    negatives the champion was trained on": the 15 misdated audits)."""
    days = negatives.get_column("survey_date").unique().sort().to_list()
    labels = read_audits(settings, days).select(
        "response_id", "root_cause", pl.col("audited_at").alias(LABEL_AUDITED_AT)
    )
    labelled = negatives.join(labels, "response_id", "inner").filter(
        ~audited_before_submitted(LABEL_AUDITED_AT).fill_null(False)
    )
    if settings.is_sample:
        return labelled
    # Such an audit does not take away the export's own label either: found by a data
    # scientist's trial, a complaint audited "2014-01-01" lost CFPB's label and left training
    # (a misspelt verdict, set aside when read, never did).
    own = _source_labels(settings, days).select(
        "response_id", "root_cause", pl.col("audited_at").alias(LABEL_AUDITED_AT)
    )
    restored = negatives.join(labelled.select("response_id"), "response_id", "anti").join(
        own, "response_id", "inner"
    )
    return pl.concat([labelled, restored.select(labelled.columns)])


def _source_labels(settings: Settings, days: list[date]) -> pl.DataFrame:
    """The label a configured source's own clean rows on ``days`` carry, as audits."""
    schema = _AUDIT_LABEL_SCHEMA
    frames = [
        read_partition(settings.clean_dir, day)
        for day in days
        if (partition_dir(settings.clean_dir, day) / "part-0.parquet").exists()
    ]
    if not frames:
        return pl.DataFrame(schema=schema)
    return (
        pl.concat(frames)
        .filter(pl.col("label").is_not_null())
        .select(
            "response_id",
            pl.col("label").alias("root_cause"),
            pl.lit(None, pl.Datetime("us", "UTC")).alias("audited_at"),
            pl.lit(settings.source).alias("auditor"),
        )
    )


def with_model_attributes(frame: pl.DataFrame, spec: Any) -> pl.DataFrame:
    """``frame`` with the source attributes a model's FeatureSpec names as columns."""
    return with_attributes(frame, [*spec.categorical, *spec.numeric, *spec.flags])


# --- any source, through its definition ---------------------------------------------------


@dataclass
class Ingested:
    """One export through the ingest layer: clean rows, quarantine, and the reconciliation."""

    mapped: MappedExport
    #: CLEAN_RESPONSE_SCHEMA, each row dated by its submitted time in the business timezone.
    clean: pl.DataFrame
    #: QUARANTINE_ROW_SCHEMA: malformed records, rows the definition excludes, superseded copies
    #: and rows failing the row suite, each with every reason.
    quarantine: pl.DataFrame
    counts: DayCounts


def row_rules(
    definition: SourceDefinition, timezone: str, file_read_as_unicode: bool = False
) -> RowRules:
    """The row checks a source needs, from what its definition maps; ``file_read_as_unicode``
    when the rows' one file was read as Unicode (:func:`read_as_unicode`), for the reasons
    of text still double-encoded to say so."""
    fmt = " or ".join(definition.columns["submitted_at"].formats) or None
    channel = definition.columns.get("channel")
    return RowRules(
        require_interaction_id="interaction_id" in definition.columns,
        # A mapped export carries its contact facts in the row: there is no feed to match.
        require_interaction_match=False,
        max_comment_chars=definition.max_comment_chars or MAX_COMMENT_CHARS,
        require_csat=definition.negative == "csat" and definition.columns["csat"].required,
        check_rating="rating" in definition.columns,
        number_facts=tuple(
            name for name in (*ROW_NUMBER_COLUMNS, *ROW_COUNT_COLUMNS) if name in definition.columns
        ),
        flag_facts=tuple(name for name in ROW_FLAG_COLUMNS if name in definition.columns),
        mapped_scores=tuple(
            name
            for name in ("csat", "nps", "effort")
            if name in definition.columns and definition.columns[name].values
        ),
        number_style=_number_style(definition),
        decimal_comma=definition.read.decimal_comma,
        thousands=definition.read.thousands,
        read_table=definition.read_table,
        clock_durations=tuple(
            name
            for name in ROW_NUMBER_COLUMNS
            if name in definition.columns and definition.columns[name].unit == "h:mm:ss"
        ),
        timezone=timezone,
        timestamp_format=fmt,
        timestamp_key=definition.key_of("submitted_at"),
        month_names=definition.read.month_names,
        from_definition=True,
        csat_alternatives=_csat_alternatives(definition),
        channel_from_column=bool(channel and channel.sources),
        double_encoded_columns=tuple(
            name
            for name in CHECKED_FOR_MOJIBAKE
            if name == "comment"
            or (name == "attributes" and definition.attributes)
            or (name in definition.columns and bool(definition.columns[name].sources))
        ),
        repairs_mojibake=definition.read.dialect.repair_mojibake,
        read_encoding=definition.read.dialect.encoding,
        read_as_unicode=file_read_as_unicode,
    )


def _csat_alternatives(definition: SourceDefinition) -> tuple[str, ...]:
    """The export columns ``definition`` reads csat from row by row (its one group's
    alternatives), when it names more than one; else none."""
    rule = definition.columns.get("csat")
    if rule is None or len(rule.sources) != 1 or len(rule.sources[0]) < 2:
        return ()
    return rule.sources[0]


def _number_style(definition: SourceDefinition) -> str:
    """How the definition reads numbers, in words for a reason (no quote characters)."""
    mark = "a decimal comma" if definition.read.decimal_comma else "a decimal point"
    thousands = definition.read.thousands
    if not thousands:
        return f"{mark} and no thousands separator"
    between = (
        "a space (plain, no-break U+00A0, narrow U+202F or thin U+2009)"
        if len(thousands) == 1 and thousands in THOUSANDS_SPACES
        else {"'": "an apostrophe"}.get(thousands, thousands)
    )
    return f"{mark} and {between} between thousands"


def row_place(definition: SourceDefinition) -> str:
    """What a reason calls the place of one of ``definition``'s rows, before its number:
    ``line`` in a file, ``row`` in a workbook (``format = "xlsx"``: the number Excel shows,
    which ``source_line`` holds), ``sheet 'Umfrage' row`` where the definition names its
    sheet."""
    read = definition.read
    if read.format != "xlsx":
        return "line"
    return f"sheet {read.sheet!r} row" if isinstance(read.sheet, str) else "row"


def row_place_of(
    file: pl.Expr,
    definition: SourceDefinition,
    landed: pl.DataFrame,
    settings: Settings,
    period: date | None,
) -> pl.Expr:
    """What a reason calls the place of a row of the delivery ``file`` (a String expression
    naming its raw copy, as ``source_file`` does) before its number: ``sheet 'Umfrage' row``
    for a workbook, on the sheet its rows were read from (``source_sheet`` of ``landed``,
    the partition's landed rows, or ``by_sheet`` of the partition's ``superseded_elsewhere``
    entries for a delivery landed in another one); else :func:`row_place`'s word (rows
    landed before the sheet was kept). Found by a trial: a workbook source whose definition
    left ``sheet`` at 0 was told "superseded by row 3", and its sheet had to be guessed."""
    sheets: dict[str, str] = {}
    if "source_sheet" in landed.columns:
        named = landed.select("source_file", "source_sheet").drop_nulls().unique()
        sheets.update(named.iter_rows())
    manifest = read_manifest(settings.landed_dir, period) if period is not None else None
    for entry in (manifest or {}).get("superseded_elsewhere", []):
        if entry.get("by_sheet"):
            sheets[entry["by_file"]] = entry["by_sheet"]
    return file.replace_strict(
        {name: f"sheet {sheet!r} row" for name, sheet in sheets.items()},
        default=pl.lit(row_place(definition)),
        return_dtype=pl.String,
    )


def _pseudonymised(frame: pl.DataFrame, column: str, key: bytes) -> pl.DataFrame:
    """Agent ids replaced by their keyed pseudonym (``agent-<12 hex>``, HMAC-SHA256 under the
    settings' agent key, as in the agent outcomes): one agent keeps one pseudonym across
    deliveries, and the name or staff number is never stored. A value that is a pseudonym
    already is kept: landing writes them since 2026-12-05 (servicelens.ingest.landing), and
    rows landed before hold the names, which get the same pseudonym here. So is landing's
    stand-in for an id in scientific notation, which the row suite quarantines
    (:func:`transforms.agents.pseudonymise_unless_pseudonymous`)."""
    from transforms.agents import pseudonymise_unless_pseudonymous

    return frame.with_columns(pseudonymise_unless_pseudonymous(frame.get_column(column), key))


def ingest_export(
    definition: SourceDefinition,
    path: str | DataPath,
    settings: Settings,
    now: datetime | None = None,
    require_label: bool = False,
    docs_dir: Path | None = None,
) -> Ingested:
    """Read one export of any source through its definition, the way every file is read:
    decoded (detected encoding, mojibake refused), line-numbered, mapped, redacted (the
    source's country for phone numbers), batch- and row-checked with Great Expectations,
    de-duplicated, and reconciled (records read = kept + quarantined).

    Nothing is written, except Data Docs pages under ``docs_dir`` when given. Raises
    :class:`BatchError` (an empty export; :class:`NoRecords` for a JSON export's empty list
    of records), :class:`DefinitionError` (the definition does not
    fit the file: its line, the columns and what to change) or SourceError (unreadable).
    """
    now = now or datetime.now(UTC)
    read = read_export(definition, path)
    if read.records_read == 0 and read.format == "json":
        raise NoRecords(f"{path}: {no_records_text(definition.read.records)}")
    if read.records_read == 0 and not read.header:
        # A JSON delivery of an empty list has no field names to map (a CSV of a header
        # alone has them, and its batch check says it has no rows).
        raise BatchError(f"{path}: the file has no records (an empty list); nothing to read")
    mapped = map_export(definition, read, settings.timezone, require_label)
    refuse_the_other_day_order(mapped.frame, definition, str(path), mapped.read.sheet)
    _check_batch(definition, mapped, docs_dir)
    rows = landed_rows(mapped, settings, definition, "(not landed)", now)
    # Its undated rows under the day landing would file them under (the day its name holds,
    # else that most of its rows fall on, else today), so a check dates them as a run does.
    today = now.astimezone(zoneinfo.ZoneInfo(settings.timezone)).date()
    rows = with_undated_rows_filed(rows, undated_rows_day(rows, path, today)[0])
    clean, quarantine, counts = validate_landed_rows(
        settings,
        definition,
        rows,
        now,
        docs_dir,
        period=None,
        file_read_as_unicode=read_as_unicode(read.encoding),
    )
    counts.check(read.path)
    return Ingested(mapped, clean, quarantine, counts)


def _check_batch(definition: SourceDefinition, mapped: MappedExport, docs_dir: Path | None) -> None:
    """The batch suite on a mapped export: the columns the definition fills, and rows."""
    required = tuple(
        name for name, rule in definition.columns.items() if rule.sources or rule.derive
    )
    failures = validate_survey_batch(
        mapped.frame.columns,
        mapped.frame.height + len(mapped.read.rejects),
        docs_dir / "batch.html" if docs_dir else None,
        required=required,
        line=max(mapped.read.header_lines, 1),
        rows_called="rows",  # a definition names no kind of record: complaints, tickets, ...
    )
    if failures:
        raise BatchError(f"{mapped.read.path}: " + "; ".join(failures))


def _typed(rows: pl.DataFrame, settings: Settings, definition: SourceDefinition) -> pl.DataFrame:
    """Landed text rows typed by the definition, each group in its export's timezone, with
    the comment's language where the export states none."""
    pieces = []
    for (zone,), group in rows.group_by("timezone", maintain_order=True):
        options = parse_options(
            definition, str(zone or definition.timezone or settings.timezone), settings.timezone
        )
        pieces.append(normalise_surveys(group, settings.timezone, None, options))
    # As for the sample: the export's language where it states one (Qualtrics'
    # UserLanguage), else the comment's detected language.
    return with_detected_language(pl.concat(pieces, how="diagonal_relaxed"))


def _dated_elsewhere(rows: pl.DataFrame, period: date, granularity: str) -> pl.DataFrame:
    """(``ROW_ID``, ``reason``) of the typed rows whose survey date now falls outside the
    partition ``period`` they were landed in (``granularity`` "day" or "month").

    A row is landed in the partition of its time as the definition read it then, or of its
    delivery date when it could not read it; after the definition changed (a date format
    added), the same row reads as another date. Kept, it would be published in a partition
    it does not belong to, and the row delivered again would be refused as already accepted
    elsewhere."""
    dated = pl.col("survey_date")
    start = period_start_of(dated, granularity)
    return rows.filter(dated.is_not_null() & (start != period)).select(
        ROW_ID,
        formatted_text(
            "submitted_at: now reads as survey date {}, so the row belongs to partition {}, "
            "not {} where it was landed (the definition then read its time differently): "
            "drop the delivery into the inbox again to land it under the current definition "
            "(it then leaves this partition)",
            dated,
            start,
            pl.lit(period),
        ).alias("reason"),
    )


def _landed_quarantine(
    rows: pl.DataFrame, period: date | None, source: str, superseded: bool = False
) -> pl.DataFrame:
    """Quarantine rows (``QUARANTINE_ROW_SCHEMA``) from landed rows (``reasons`` and
    ``raw_record`` already on them); ``superseded``: the rows are earlier copies a later
    delivery replaced, not rejects."""
    dated = pl.col("survey_date") if period is None else pl.col("survey_date").fill_null(period)
    return conform(
        rows.select(
            dated.cast(pl.Date).alias("survey_date"),
            pl.lit("surveys").alias("feed"),
            "source_file",
            "source_line",
            pl.col("response_id").alias("record_id"),
            "reasons",
            "raw_record",
            pl.lit(source).alias("source"),
            pl.lit(superseded).alias("superseded"),
        ),
        QUARANTINE_ROW_SCHEMA,
    )


def undated_rows(landed: pl.DataFrame) -> int | None:
    """How many of a partition's landed rows (``LANDED_SCHEMA``) are filed under their
    delivery's day because their own gives none (``dated_by_delivery``); None where every
    row was landed before landing marked them (rows landed before count as dated)."""
    if "dated_by_delivery" not in landed.columns:
        return None
    marked = landed.get_column("dated_by_delivery")
    if landed.height and marked.null_count() == landed.height:
        return None
    return int(marked.sum())


#: Canonical columns no two copies of a response are compared on (:func:`compared_columns`):
#: its id, which they share, and the time of its delivery, which tells them apart.
#: The per-row country (``ROW_COUNTRY``) only chooses how the comment is redacted and is not
#: landed; the comment it redacted is compared.
NOT_COMPARED = ("response_id", "delivered_at", ROW_COUNTRY)


def compared_columns(definition: SourceDefinition) -> tuple[str, ...]:
    """The canonical columns of ``definition``'s rows that two copies of a response are
    compared on to tell an update from a copy sent again
    (:func:`transforms.clean.with_changed_columns`): every column it fills (from the export
    or derived), but the id and the delivery time, and the label when it reads one. Its
    ``attributes`` are compared by name beside them."""
    filled = [
        name
        for name, rule in definition.columns.items()
        if (rule.sources or rule.value is not None or rule.derive) and name not in NOT_COMPARED
    ]
    return (*filled, *(("label",) if definition.label_column else ()))


def validate_landed_rows(
    settings: Settings,
    definition: SourceDefinition,
    landed: pl.DataFrame,
    now: datetime,
    docs_dir: Path | None = None,
    period: date | None = None,
    file_read_as_unicode: bool = False,
    interactions: pl.DataFrame | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame, DayCounts]:
    """Landed rows (``LANDED_SCHEMA``) of one source into clean rows and quarantine rows.

    Rejected records, rows the definition sets aside, superseded copies (the latest
    delivery wins; exact copies of a derived id are duplicates) and rows failing the row
    suite go to quarantine, each with every reason. With ``period``, a response already in
    the clean layer under another partition is quarantined too. ``file_read_as_unicode``:
    the rows come from one file, read as Unicode (:func:`row_rules`). ``interactions``:
    the source's contact facts (:func:`landed_interactions`), joined to the rows before
    they are checked, where the sample's are joined (:func:`join_feed_facts`; a fact both
    give differently is logged as a warning). Returns (clean, quarantine, counts); counts
    reconcile (read = kept + quarantined).
    """
    source = definition.name
    rejects = landed.filter(pl.col("reject").is_not_null())
    checked_at_landing = pl.col("reject").str.contains(LANDING_CHECK_REJECT)
    excluded = landed.filter(pl.col("reject").is_null() & pl.col("excluded").is_not_null())
    rows = landed.filter(pl.col("reject").is_null() & pl.col("excluded").is_null())
    typed = _typed(rows.drop("survey_date"), settings, definition) if rows.height else None
    typed_excluded = (
        _typed(excluded.drop("survey_date"), settings, definition) if excluded.height else None
    )
    # A workbook's rows are named as Excel shows them (a trial's workbook was told "line 3"),
    # on the sheet each delivery's rows were read from; source_line holds the row.
    place = functools.partial(
        row_place_of, definition=definition, landed=landed, settings=settings, period=period
    )
    by_place = place(pl.col("superseded_by_file"))
    # The line is in another delivery: named as it was delivered, and by its raw copy
    # when both deliveries had the same name (a trial read "superseded by line 7 of
    # calls-q1.csv" in calls-q1.csv and could not tell which of the two was meant).
    by_name = pl.col("superseded_by_file").str.extract(DELIVERED_NAME)
    other_file = (
        pl.when(pl.col("superseded_by_file") == pl.col("source_file"))
        .then(pl.lit(""))
        .when(by_name == pl.col("source_file").str.extract(DELIVERED_NAME))
        .then(
            formatted_text(
                " of a later delivery of {} (raw copy {})",
                by_name,
                pl.col("superseded_by_file").str.extract(r"([^/\\]+)$"),
            )
        )
        .otherwise(formatted_text(" of {}", by_name))
    )
    # The line after the kind's name, as "duplicate delivery: ..." has it: the report
    # counts reasons by the words before the colon (a trial's report had a row per "exact
    # duplicate of line 13"). An exact duplicate is a later line of the same file (a form
    # submitted twice); a copy in an earlier delivery is a duplicate delivery, derived id or
    # not (found by a trial: 14 cumulative Google Forms exports' 1,844 earlier copies were all
    # called exact duplicates, so QA could not find the one real double submission). A
    # response id of the export's own on two lines of one file with the same answers is an
    # exact duplicate too: a trial's SurveyMonkey respondent repeated on line 335 read
    # "duplicate delivery: superseded by line 335", of a file delivered once. (With other
    # answers it is "updated", below.)
    derived = bool(definition.columns["response_id"].derive)
    copy_reason = (
        pl.when(pl.col("superseded_by_file") == pl.col("source_file"))
        .then(
            formatted_text(
                "exact duplicate: the same answers as {} {}{}, so the same derived id"
                if derived
                else "exact duplicate: the same response id and answers as {} {}{}",
                by_place,
                "superseded_by_line",
                other_file,
            )
        )
        .otherwise(
            formatted_text(
                "duplicate delivery: superseded by {} {}{}",
                by_place,
                "superseded_by_line",
                other_file,
            )
        )
    )
    set_aside_copies = pl.DataFrame(schema=SET_ASIDE_COPY_COLUMNS)
    if typed_excluded is not None:
        set_aside_copies = superseded_set_aside_copies(typed_excluded, typed)
    # A set-aside row whose response a later line or delivery replaced is an earlier copy,
    # its own reason after the newer copy's line: found by a trial, whose survey preview
    # delivered three times counted as three rejects.
    copies = excluded.join(set_aside_copies, ["source_file", "source_line"], "inner")
    rejects, replaced_rejects = split_replaced_rejects(rejects, rows, settings, period)
    pieces = [
        _landed_quarantine(
            rejects.with_columns(pl.concat_list("reject").alias("reasons")), period, source
        ),
        _landed_quarantine(
            replaced_rejects.with_columns(
                pl.concat_list(
                    pl.when(pl.col("by_partition").is_null())
                    .then(copy_reason)
                    .otherwise(
                        formatted_text(
                            "duplicate delivery: superseded by {} {} of {}, a later "
                            "delivery that dates it {}",
                            by_place,
                            "superseded_by_line",
                            by_name,
                            "by_partition",
                        )
                    ),
                    "reject",
                ).alias("reasons")
            ),
            period,
            source,
            superseded=True,
        ),
        _landed_quarantine(
            excluded.join(set_aside_copies, ["source_file", "source_line"], "anti").with_columns(
                pl.concat_list("excluded").alias("reasons")
            ),
            period,
            source,
        ),
        _landed_quarantine(
            copies.with_columns(
                pl.concat_list(
                    copy_reason
                    + pl.when(pl.col("by_set_aside"))
                    .then(pl.lit(SUPERSEDED_BY_A_SET_ASIDE_COPY))
                    .otherwise(pl.lit("")),
                    "excluded",
                ).alias("reasons")
            ),
            period,
            source,
            superseded=True,
        ),
    ]
    found = pl.DataFrame(schema={ROW_ID: pl.UInt32, "reason": pl.String})
    clean = conform_filling(pl.DataFrame(schema={"source": pl.String}), CLEAN_RESPONSE_SCHEMA)
    superseded_rows = withdrawn = day_first = maybe_misdated = updated_copies = 0
    swapped_nearer: dict[str, str] = {}
    later_set_aside = pl.DataFrame(schema={"response_id": pl.String})
    if typed is not None:
        if definition.pseudonymise_agents and typed.get_column("agent_id").null_count() < len(
            typed
        ):
            typed = _pseudonymised(typed, "agent_id", settings.agent_key())
        latest, superseded = split_superseded_deliveries(typed)
        superseded = with_changed_columns(
            superseded, typed, compared_columns(definition), tuple(definition.attributes)
        )
        latest, moved = _split_superseded_elsewhere(latest, settings, period)
        if typed_excluded is not None:
            latest, later_set_aside = split_set_aside_later(latest, typed_excluded)
        superseded_rows = superseded.height + moved.height + later_set_aside.height
        if period is not None:
            latest = with_accepted_elsewhere(latest, settings, period)
        if interactions is not None:
            latest, disagreements = join_feed_facts(latest, interactions)
            _warn_of_disagreeing_facts(definition, disagreements, period)
        joined = latest.with_row_index(ROW_ID)
        rules = row_rules(
            definition, definition.timezone or settings.timezone, file_read_as_unicode
        )
        found = validate_survey_rows(
            joined, now, docs_dir / "rows.html" if docs_dir else None, rules
        )
        if period is not None:
            found = pl.concat([found, _dated_elsewhere(joined, period, definition.partition)])
        reasons = found.group_by(ROW_ID).agg(pl.col("reason").sort().alias("reasons"))
        failed = joined.join(reasons, ROW_ID, "inner")
        valid = joined.join(reasons, ROW_ID, "anti")
        # A later copy that failed its checks, or that the definition sets aside, takes
        # the response out of the marts.
        set_aside_ids = later_set_aside.select(pl.col("response_id").cast(pl.String))
        withdrawn = withdrawn_count(
            pl.concat([superseded.select(pl.col("response_id").cast(pl.String)), set_aside_ids]),
            pl.concat([failed.select(pl.col("response_id").cast(pl.String)), set_aside_ids]),
            settings,
            period,
        )
        day_first = (
            found.filter(pl.col("reason").str.contains(READS_SWAPPED, literal=True))
            .get_column(ROW_ID)
            .n_unique()
        )
        if day_first:
            maybe_misdated = read_either_way(valid, rules.timestamp_format)
        else:
            maybe_misdated, swapped_nearer = swapped_nearer_delivery(valid, rules.timestamp_format)
        clean = conform_filling(
            valid.with_columns(is_negative(definition.negative, definition.negative_at_most)),
            CLEAN_RESPONSE_SCHEMA,
        ).sort("source_file", "source_line")
        # An earlier version of a response changed since is said to be updated, naming the
        # columns that changed: "duplicate delivery" is for a copy sent again as it was (a
        # trial's Zendesk rating changed bad -> good was called one, and another's corrected
        # CFPB re-download called its 2 changed complaints so with its 76 unchanged ones).
        # Where the export states the time of each version (the definition maps
        # delivered_at), a later version with other values is an update too, said with
        # that time; elsewhere the time is the landing's, and only the mapped values tell.
        rule = definition.columns.get("delivered_at")
        stated = rule is not None and bool(rule.sources)
        delivered_as = rule.sources[0][0] if rule is not None and rule.sources else "delivered_at"
        superseded = superseded.with_columns(
            (pl.col("updated") & pl.lit(stated)) | (pl.col("changed").list.len() > 0)
        )
        updated_reason = formatted_text(
            "updated: superseded by the later version on {} {}{} ({})",
            by_place,
            "superseded_by_line",
            other_file,
            pl.concat_str(
                pl.when(pl.lit(stated)).then(
                    pl.lit(f"{delivered_as} ")
                    + pl.col("superseded_by_delivered_at").dt.to_string("%Y-%m-%dT%H:%M:%SZ")
                ),
                pl.when(pl.col("changed").list.len() > 0).then(
                    pl.lit("changed: ") + pl.col("changed").list.join(", ")
                ),
                separator="; ",
                ignore_nulls=True,
            ),
        )
        updated_copies = int(superseded.get_column("updated").sum())
        pieces += [
            _landed_quarantine(
                _superseded_reasons(
                    superseded,
                    failed,
                    pl.when(pl.col("updated")).then(updated_reason).otherwise(copy_reason),
                ),
                period,
                source,
                superseded=True,
            ),
            _landed_quarantine(
                moved.with_columns(
                    pl.concat_list(
                        formatted_text(
                            "duplicate delivery: superseded by {} {} of {}, a later "
                            "delivery that dates it {}",
                            place(pl.col("by_file")),
                            "by_line",
                            pl.col("by_file").str.extract(DELIVERED_NAME),
                            "by_partition",
                        )
                    ).alias("reasons")
                ),
                period,
                source,
                superseded=True,
            ),
            _landed_quarantine(failed, period, source),
        ]
        if later_set_aside.height:
            pieces.append(
                _landed_quarantine(
                    later_set_aside.with_columns(
                        pl.concat_list(
                            formatted_text(
                                "duplicate delivery: superseded by {} {}{}",
                                by_place,
                                "superseded_by_line",
                                other_file,
                            )
                            + pl.lit(SUPERSEDED_BY_A_SET_ASIDE_COPY)
                        ).alias("reasons")
                    ),
                    period,
                    source,
                    superseded=True,
                )
            )
    quarantine = pl.concat(pieces).sort("source_file", "source_line")
    superseded_rows += copies.height + replaced_rejects.height
    # Told by the rule's values as well as by its words: a row landed under an earlier
    # wording (the zendesk preset's "offered" once shared its reason with "unoffered").
    excluded_column = pl.col("excluded").str.extract(r"^([^:]+): '", 1).str.to_lowercase()
    by_value = [
        (excluded_column == e.column.lower()) & set_aside_value(pl.col("excluded")).is_in(e.values)
        for e in definition.exclude
        if e.unanswered and not e.unless
    ]
    unanswered_reasons = [e.reason for e in definition.exclude if e.unanswered]
    # The rows the definition sets aside, less the earlier copies a later one replaced.
    set_aside_rows = excluded.join(set_aside_copies, ["source_file", "source_line"], "anti")
    counts = DayCounts(
        surveys_read=landed.height,
        kept=clean.height,
        quarantined=quarantine.height,
        superseded_duplicates=superseded_rows,
        # Of the superseded, the later lines of the same file (not earlier deliveries' copies).
        exact_duplicates=_exact_duplicates(quarantine),
        updated_copies=updated_copies,
        withdrawn=withdrawn,
        day_first=day_first,
        maybe_misdated=maybe_misdated,
        swapped_nearer=swapped_nearer,
        undated=undated_rows(landed),
        # A reject landing gave a row for a failed check (a time after the delivery, an id
        # two of its rows use) counts with the checks, not as a line the reader could not
        # split: a trial's summary said "malformed lines, 2" of one ragged line and one
        # date in the future.
        malformed_lines=rejects.filter(~checked_at_landing).height,
        set_aside=set_aside_rows.height,
        # The landed reason is "<column>: '<value>' <the rule's reason>".
        unanswered=set_aside_rows.filter(
            pl.any_horizontal(
                False,
                *by_value,
                *(pl.col("excluded").str.ends_with(f" {r}") for r in unanswered_reasons),
            )
        ).height,
        failed_expectations=dict(
            pl.concat(
                [
                    found.select("reason"),
                    rejects.filter(checked_at_landing).select(pl.col("reject").alias("reason")),
                ]
            )
            .with_columns(pl.col("reason").str.extract(r"^([a-z_]+):").alias("column"))
            .group_by("column")
            .len()
            .iter_rows()
        ),
        negatives=int(clean.get_column("is_negative").sum()),
        rated=int(clean.get_column("is_negative").is_not_null().sum()),
        # Landing redacted the rows (servicelens.ingest.landing): counted by their
        # placeholders, as the sample's comments and rejects are counted when redacted.
        redacted=add_counts(
            placeholder_counts(rows, "comment"),
            placeholder_counts(excluded, "comment"),
            placeholder_counts(rejects, "raw_record"),
            placeholder_counts(replaced_rejects, "raw_record"),
        ),
    )
    return clean, quarantine, counts


def _exact_duplicates(quarantine: pl.DataFrame) -> int:
    """How many of ``quarantine``'s rows (a quarantine frame: ``superseded``, ``reasons``)
    are earlier copies a later line of the same file repeats exactly (superseded, the first
    reason ``exact duplicate: ...``): the surveys' and a contact feed's counts alike."""
    return quarantine.filter(
        pl.col("superseded").fill_null(False)
        & pl.col("reasons").list.first().str.starts_with("exact duplicate:")
    ).height


def validate_landed_day(
    settings: Settings, day: date, run_id: str, now: datetime | None = None
) -> ValidatedDay:
    """:func:`validate_day` for a source with a landed layer: one partition (a date, or a
    month) from landed rows to staged clean and quarantine frames."""
    now = now or datetime.now(UTC)
    definition = source_definition(settings)
    inputs = landed_inputs(settings, day)
    path = partition_dir(settings.landed_dir, day) / "part-0.parquet"
    if not path.exists():
        raise BatchError(f"{path}: nothing landed for {day}; land a delivery first")
    # Rows erased on request: those erased from the partition since it was landed (its
    # manifest counts them), and any the erasure list names that are still in it.
    landed, erased = erasure_list(settings).without_erased(read_partition(settings.landed_dir, day))
    erased += sum((read_manifest(settings.landed_dir, day) or {}).get("erased", {}).values())
    docs = settings.gx_docs_dir / settings.source / str(day)
    facts = None
    if definition.interactions is not None:
        facts = landed_interactions(settings, definition, day, now, docs / INTERACTIONS_FEED)
    clean, quarantine, counts = validate_landed_rows(
        settings,
        definition,
        landed,
        now,
        docs,
        day,
        interactions=None if facts is None else facts.facts,
    )
    counts.surveys_read += erased
    counts.erased = erased
    counts.check(str(path))
    if facts is not None:
        quarantine = pl.concat([quarantine, facts.quarantine]).sort("source_file", "source_line")
        counts.interactions_read = facts.read + facts.erased
        counts.interactions_erased = facts.erased
        counts.interactions_quarantined = facts.quarantine.height
        copies = facts.quarantine.filter(pl.col("superseded").fill_null(False))
        counts.interactions_superseded = copies.height
        counts.interactions_exact_duplicates = _exact_duplicates(copies)
        counts.interactions_updated = copies.filter(
            pl.col("reasons").list.first().str.starts_with("updated:")
        ).height
        unmatched = contacts_without_facts(clean, facts.facts)
        if not feed_export_landed(settings, day):
            counts.awaiting_contact_facts = unmatched
        elif unmatched:
            counts.contact_days_not_landed = contact_days_not_landed(settings, day)
    contacts = contacts_from_responses(clean, day)
    if facts is not None and definition.feed_names_customers:
        # Every ticket of the feed is a contact, surveyed or not (an unrated return two days
        # later made a trial's agent's first-contact resolution 0.875, not 1.0).
        contacts = contacts_with_unsurveyed(
            contacts,
            contacts_from_interactions(facts.own, day),
            facts.facts.get_column("interaction_id"),
        )
        clean = _with_source_repeat_contacts(settings, day, clean, contacts)
    elif (note := definition.unsurveyed_contacts_note) is not None:
        _say_once(note)
    return stage_validated(
        settings,
        day,
        run_id,
        clean,
        quarantine,
        counts,
        inputs,
        contacts,
        definition.negative_rule,
        # The rules' reasons, and those the rows were landed with (an earlier wording).
        tuple(
            dict.fromkeys(
                [*(e.reason for e in definition.exclude), *set_aside_words(landed["excluded"])]
            )
        ),
    )


#: How a contact-facts row's reasons name the columns its feed is landed under: the
#: interaction id stands as the row's id and its start as the time that dates it
#: (``SourceDefinition.interactions_definition``), and reasons say them as the feed's.
_FEED_REASON_COLUMNS = {"response_id": "interaction_id", "submitted_at": "started_at"}


def as_interaction_quarantine(quarantine: pl.DataFrame) -> pl.DataFrame:
    """Quarantine rows (``QUARANTINE_ROW_SCHEMA``) of a source's contact-facts feed as the
    sample's interaction rows are: ``feed = 'interactions'``, and each reason naming
    ``interaction_id`` and ``started_at`` where the landed feed's names (``response_id``,
    ``submitted_at``) stand for them, each reason once; an id two different rows carry is
    told as a contact's (:data:`~servicelens.validation.expectations.REPEATED_CONTACT_ID`),
    not a response's."""
    renamed = pl.element()
    for landed_as, named in _FEED_REASON_COLUMNS.items():
        renamed = renamed.str.replace(f"^{landed_as}:", f"{named}:")
    renamed = renamed.str.replace(REPEATED_ID, REPEATED_CONTACT_ID, literal=True)
    return quarantine.with_columns(
        pl.lit(INTERACTIONS_FEED).alias("feed"),
        pl.col("reasons").list.eval(renamed).list.unique(maintain_order=True),
    )


@dataclass(frozen=True)
class LandedInteractions:
    """A survey partition's contact facts (:func:`landed_interactions`)."""

    #: One typed row per ``interaction_id`` (its latest delivery), with every
    #: :data:`~transforms.clean.INTERACTION_COLUMNS`: the facts the surveys are joined to.
    facts: pl.DataFrame
    #: The feed's quarantined rows dated in the partition itself (``feed = 'interactions'``).
    quarantine: pl.DataFrame
    #: The feed's landed rows dated in the partition itself: read = kept + quarantined.
    read: int
    #: The kept facts dated in the partition itself (``facts``' columns, one row per
    #: ``interaction_id``): the partition's contacts, surveyed or not.
    own: pl.DataFrame
    #: The feed's rows dated in the partition itself left out because their subject was
    #: erased on request: those the erasure list removes now, and those erased from the
    #: landed partition since it was landed (its manifest's ``erased``, by delivery).
    erased: int = 0


def contacts_without_facts(clean: pl.DataFrame, facts: pl.DataFrame) -> int:
    """Of ``clean`` (responses with ``interaction_id``), those naming a contact ``facts`` (the
    contact facts a partition is joined to, :attr:`LandedInteractions.facts`, with
    ``interaction_id``) have no row for: published without contact facts."""
    iid = pl.col("interaction_id")
    return clean.filter(
        iid.is_not_null() & ~iid.is_in(facts.get_column("interaction_id").implode())
    ).height


def feed_export_landed(settings: Settings, period: date) -> bool:
    """Whether a source's contact feed has an export landed for ``period`` (its landed
    partition exists: an export delivered empty lands one too). Where it has none, the
    responses naming contacts it gives no facts for are ``awaiting_contact_facts``."""
    return (partition_dir(settings.for_interactions().landed_dir, period) / DATA_FILE).exists()


def contact_days_not_landed(settings: Settings, period: date) -> list[str]:
    """The days (ISO dates, oldest first) of a source's contact-feed look-back window before
    ``period`` (:meth:`Settings.interaction_periods`, the partition's own day left out: its
    missing export is ``awaiting_contact_facts``) with no export landed, from the feed's
    first landed partition on (before it the feed was not delivering). [] for a source
    without a feed, or one that has landed nothing yet."""
    from servicelens.ingest.landing import landed_periods

    feed = settings.for_interactions()
    landed = landed_periods(feed) if settings.interaction_feed else []
    if not landed:
        return []
    return [
        p.isoformat()
        for p in settings.interaction_periods(period)
        if landed[0] <= p < period and p not in landed
    ]


def landed_interactions(
    settings: Settings,
    definition: SourceDefinition,
    period: date,
    now: datetime,
    docs_dir: Path | None = None,
) -> LandedInteractions:
    """The contact facts a source's survey partition ``period`` is joined to: the landed
    partitions of its ``[interactions]`` feed from the look-back days before it up to its
    own last day (:meth:`Settings.interaction_periods`, as the sample's surveys of a date
    read the interaction exports of the date and the days before), checked by the row
    checks every landed row gets (:func:`validate_landed_rows` under the feed's definition:
    a duration, count or flag that does not read, a start time that does not exist).

    A fact row that fails them is joined to nothing; it is quarantined (with its file,
    line and the value) in the partition it is dated in, as the sample's day quarantines
    its own interaction export's rows and not the look-back days'. The partition's rows of
    subjects erased on request are left out and counted (``erased``: those the erasure list
    names, and those an erase took out of the landed partition, its manifest's ``erased``).
    Raises BatchError when the partition's own facts do not reconcile (read != kept +
    quarantined)."""
    feed = settings.for_interactions()
    facts_definition = definition.interactions_definition()
    landed_parts = [
        read_partition(feed.landed_dir, p)
        for p in settings.interaction_periods(period)
        if (partition_dir(feed.landed_dir, p) / "part-0.parquet").exists()
    ]
    typed = pl.DataFrame(
        schema={
            "interaction_id": pl.String,
            **{c: CLEAN_RESPONSE_SCHEMA[c] for c in INTERACTION_COLUMNS},
        }
    )
    if not landed_parts:
        return LandedInteractions(typed, pl.DataFrame(schema=QUARANTINE_ROW_SCHEMA), 0, typed)
    # Customers erased on request since their facts were landed are not joined to anything.
    every_landed = pl.concat(landed_parts, how="diagonal_relaxed")
    landed, _ = erasure_list(settings).without_erased(every_landed)
    clean, quarantine, counts = validate_landed_rows(feed, facts_definition, landed, now, docs_dir)
    counts.check(str(feed.landed_dir))
    # A row whose start cannot be read as one instant (it happened twice, or never, as the
    # clocks changed) is typed with no date: it is quarantined in the partition it was landed
    # in, by its file and line (a trial's ambiguous ticket failed its whole day).
    quarantine = (
        quarantine.join(
            landed.select(
                "source_file", "source_line", pl.col("survey_date").cast(pl.Date).alias("landed_in")
            ).unique(["source_file", "source_line"], keep="first"),
            ["source_file", "source_line"],
            "left",
        )
        .select(
            pl.coalesce("survey_date", "landed_in").alias("survey_date"),
            pl.exclude("survey_date", "landed_in"),
        )
        .select(QUARANTINE_ROW_SCHEMA.keys())
    )
    own = period_start_of(pl.col("survey_date"), settings.partition) == period
    read = landed.filter(own).height
    # Erased on request: the partition's rows the list removes now, and those an erase took
    # out of the landed partition (counted by delivery in its manifest).
    recorded = (read_manifest(feed.landed_dir, period) or {}).get("erased", {})
    erased = every_landed.filter(own).height - read + sum(recorded.values())
    own_quarantine = as_interaction_quarantine(quarantine.filter(own))
    kept = clean.filter(own).height
    if read != kept + own_quarantine.height:
        raise BatchError(
            f"{feed.landed_dir}: contact facts of {period}: row reconciliation failed: read "
            f"{read} != kept {kept} + quarantined {own_quarantine.height}; nothing was written"
        )
    # Landed with its start as the time that dates it: that time is the contact's start.
    started = clean.with_columns(pl.col("submitted_at").alias("started_at"))
    facts = latest_interactions(started.select(typed.columns))
    # A ticket a later delivery re-dated into another partition is that partition's contact:
    # its old copy stays in this file, superseded in the manifest (as a survey row's does).
    own_rows, _ = _split_superseded_elsewhere(started.filter(own), feed, period)
    own_facts = latest_interactions(own_rows.select(typed.columns))
    return LandedInteractions(facts, own_quarantine, read, own_facts, erased)


#: The notes :func:`_say_once` has logged in this process.
_SAID: set[str] = set()


def _say_once(note: str) -> None:
    """Log ``note`` as a warning, once per process (a backfill of a hundred dates says it
    once, not a hundred times)."""
    if note not in _SAID:
        _SAID.add(note)
        logging.getLogger(__name__).warning("%s", note)


def _with_source_repeat_contacts(
    settings: Settings, period: date, clean: pl.DataFrame, contacts: pl.DataFrame
) -> pl.DataFrame:
    """A source's clean rows (``CLEAN_RESPONSE_SCHEMA``) with ``repeat_contacts_30d``
    (:func:`with_earlier_contacts`) counted over its contacts (``CONTACT_SCHEMA``): the
    partition's own ``contacts`` and the published history of the :data:`LOOKBACK_DAYS`
    (and the feed's look-back) before it. Each row's contact is its interaction (its
    response where it names none), started when the interaction started (else when rated),
    as :func:`transforms.clean.contacts_from_responses` dates it."""
    back = LOOKBACK_DAYS + settings.interaction_lookback_days + 1
    days = [period - timedelta(days=d) for d in range(back, 0, -1)]
    asked = clean.select(
        pl.coalesce("interaction_id", "response_id").alias("interaction_id"),
        "customer_id",
        "queue",
        pl.coalesce("started_at", "submitted_at").alias("started_at"),
    )
    customers = asked.select("customer_id", "queue").drop_nulls().unique()
    earlier = contact_history(settings, days, customers=customers)
    counted = with_earlier_contacts(
        asked, pl.concat([earlier, contacts], how="vertical_relaxed")
    ).get_column("repeat_contacts_30d")
    return clean.with_columns(counted.cast(CLEAN_RESPONSE_SCHEMA["repeat_contacts_30d"]))


def _warn_of_disagreeing_facts(
    definition: SourceDefinition, disagreements: pl.DataFrame, period: date | None
) -> None:
    """Log a warning for each fact a source's survey rows and its contact-facts feed both
    give, differently: the feed's is kept (:func:`join_feed_facts`), and mapping the fact in
    one place only (``[columns]`` or ``[interactions.columns]``) silences it."""
    for column, rows, interaction, own, fed in disagreements.iter_rows():
        logging.getLogger(__name__).warning(
            "source %s%s: %s survey row(s) give another %s than the contact-facts feed "
            "(interaction %s: %r in the survey row, %r in the feed); the feed's is kept. Map "
            "%s in one of [columns] and [interactions.columns] of %s only, to say which",
            definition.name,
            "" if period is None else f" {period}",
            rows,
            column,
            interaction,
            own,
            fed,
            column,
            definition.path,
        )


def source_definition(settings: Settings) -> SourceDefinition:
    """The definition of the source ``settings`` address."""
    from servicelens.ingest.definitions import load_definition

    return load_definition(settings.definition or settings.source)


def landed_inputs(settings: Settings, day: date) -> dict[str, str]:
    """What a source's partition is built from: its landed file and every delivery file in
    it (path -> sha256), so a late delivery shows as changed inputs."""
    from servicelens.storage.runs import input_checksums

    return input_checksums(settings, day)


# --- the contact history: every interaction of every day's export --------------------------


def contact_history(
    settings: Settings,
    days: list[date],
    read_file: InteractionReader = parse_interaction_file,
    customers: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The contacts (``CONTACT_SCHEMA``) of the interaction exports of ``days``.

    Each day's contacts are its published ``clean/contacts`` partition; a day whose export
    exists but was never indexed (a date not processed yet, an export older than the first
    processed date) is indexed now from the raw export and published, so the next date reads
    the partition instead. With ``customers`` (``customer_id``, ``queue``), only the contacts
    of those customers and queues are returned. The subjects erased on request are left
    out (``servicelens.erasure``).
    """
    read_file = erasure_list(settings).reading(read_file)
    if not settings.is_sample:
        # A source's contacts are published with its clean partitions; a day with tickets
        # and no survey partition yet (every ticket unrated) is indexed from its feed.
        _index_feed_contacts(settings, days)
    for day in days:
        if not settings.is_sample:
            break
        if (partition_dir(settings.contacts_dir, day) / DATA_FILE).exists():
            continue
        path = settings.raw_day(day) / INTERACTIONS_FILE
        if not path.exists():
            continue
        inputs = checksums([path], hasher=sha256_checking_text)
        read = with_spreadsheet_ids_rejected(read_file(path, inputs[str(path)], None))
        indexed = contacts_from_interactions(
            prepare_interactions(read.frame, settings.timezone), day
        )
        _index_contacts(settings, indexed, day, inputs)
    empty = pl.DataFrame(schema=CONTACT_SCHEMA)
    if not days or not any(settings.contacts_dir.glob("survey_date=*/*.parquet")):
        return empty
    found = scan_table(settings.contacts_dir, days)
    if customers is not None:
        found = found.join(customers.lazy(), on=["customer_id", "queue"], how="semi")
    # Contracts only grow: partitions written before a column existed read it as null.
    have = found.collect_schema().names()
    found = found.with_columns(
        pl.lit(None, dtype).alias(name)
        for name, dtype in CONTACT_SCHEMA.items()
        if name not in have
    )
    history = pl.concat(
        [empty, found.select(list(CONTACT_SCHEMA)).collect()], how="vertical_relaxed"
    )
    if not settings.is_sample:
        # One contact per ticket: a partition indexed from the feed alone before a later
        # one held its survey row says it once (the latest partition's).
        history = history.unique("interaction_id", keep="last", maintain_order=True)
    return history


def _index_feed_contacts(settings: Settings, days: list[date]) -> None:
    """Publish the contacts (``CONTACT_SCHEMA``) of each of ``days`` that has landed
    contact facts and no survey partition, from the facts alone (every ticket of the day,
    none of them surveyed yet: :func:`contacts_with_unsurveyed`), for a source whose
    ``[interactions]`` feed names customers; nothing for any other source. A day so indexed
    is indexed again when its landed facts are no longer the ones its contacts' manifest
    records (``inputs``, :func:`_feed_day_inputs`): a later delivery added tickets of the
    day, or re-dated one away. Found reading 6f58c8c: a customer's unrated ticket of a
    feed-only day delivered after the day was first indexed was never a contact, and the
    later responses' repeat contacts and their agents' first-contact resolution missed it.
    A day with a landed survey partition is left to that partition's run, which publishes
    its contacts with its surveyed rows (its inputs name the day's facts partition)."""
    if not settings.interaction_feed:
        return
    definition = source_definition(settings)
    if not definition.feed_names_customers:
        return
    from servicelens.storage.runs import same_inputs

    feed = settings.for_interactions()
    now = datetime.now(UTC)
    for day in days:
        facts_file = partition_dir(feed.landed_dir, day) / DATA_FILE
        inputs: dict[str, str] | None = None
        if (partition_dir(settings.contacts_dir, day) / DATA_FILE).exists():
            if (partition_dir(settings.landed_dir, day) / DATA_FILE).exists():
                continue  # surveyed: its own run publishes its contacts
            inputs = _feed_day_inputs(feed, day)
            recorded = (read_manifest(settings.contacts_dir, day) or {}).get("inputs")
            if same_inputs(recorded, inputs):
                continue
        elif not facts_file.exists():
            continue
        facts = landed_interactions(settings, definition, day, now)
        contacts = contacts_with_unsurveyed(
            pl.DataFrame(schema=CONTACT_SCHEMA),
            contacts_from_interactions(facts.own, day),
            facts.facts.get_column("interaction_id"),
        )
        write_partition(
            contacts,
            settings.contacts_dir,
            day,
            CONTACT_SCHEMA,
            {
                "run_id": "contact-index",
                "inputs": _feed_day_inputs(feed, day) if inputs is None else inputs,
                "model_version": None,
            },
            settings.staging_dir,
        )


def _feed_day_inputs(feed: Settings, day: date) -> dict[str, str]:
    """What a feed-only day's contacts are built from, path -> sha256, as
    :func:`servicelens.storage.runs.input_checksums` names a landed partition's inputs: the
    feed's landed partition file of ``day`` and every delivery its manifest names. The
    deliveries count because a ticket re-dated away by a later delivery leaves the file's
    bytes as they were (its old copy stays, superseded in the manifest:
    ``superseded_elsewhere``). ``feed``: the source's settings for its ``[interactions]``
    feed (:meth:`Settings.for_interactions`)."""
    landed = read_manifest(feed.landed_dir, day) or {}
    return {
        **checksums([partition_dir(feed.landed_dir, day) / DATA_FILE]),
        **landed.get("inputs", {}),
    }


def _index_contacts(
    settings: Settings, contacts: pl.DataFrame, day: date, inputs: dict[str, str]
) -> None:
    """Publish the contact-history partition of an export no date has indexed yet."""
    export = str(settings.raw_day(day) / INTERACTIONS_FILE)
    write_partition(
        contacts,
        settings.contacts_dir,
        day,
        CONTACT_SCHEMA,
        {"run_id": "contact-index", "inputs": {export: inputs[export]}, "model_version": None},
        settings.staging_dir,
    )


def _with_repeat_contacts(
    settings: Settings,
    day: date,
    responses: pl.DataFrame,
    own_contacts: pl.DataFrame,
    read_file: InteractionReader,
) -> pl.DataFrame:
    """``responses`` with ``repeat_contacts_30d`` (:func:`with_earlier_contacts`), counted
    over the contacts the date's responses look back over: the day's own export and the
    exports of the :data:`LOOKBACK_DAYS` before its oldest interactions could have started."""
    back = LOOKBACK_DAYS + settings.interaction_lookback_days + 1
    days = [day - timedelta(days=d) for d in range(back, 0, -1)]
    customers = responses.select("customer_id", "queue").drop_nulls().unique()
    earlier = contact_history(settings, days, read_file, customers)
    return with_earlier_contacts(
        responses, pl.concat([earlier, own_contacts], how="vertical_relaxed")
    )
