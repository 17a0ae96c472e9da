"""Data contracts: every raw, clean and mart table's columns and types, in one place.

Readers use the raw contracts to know what a source must carry; writers cast to the clean and
mart schemas before anything reaches disk; tests assert them. Changes to mart schemas are
additive only.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

# --- raw zone: what source systems export (all read as text, parsed later) -------------------

#: Survey-vendor CSV, one file per day. `delivered_at` is the vendor's export time: a response
#: delivered twice carries the same response_id and a later delivered_at.
RAW_SURVEY_COLUMNS: tuple[str, ...] = (
    "response_id",
    "interaction_id",
    "submitted_at",
    "channel",
    "csat",
    "nps",
    "effort",
    "comment",
    "language",
    "delivered_at",
)
#: Columns without which a survey file cannot be processed at all (batch-level failure).
REQUIRED_SURVEY_COLUMNS: tuple[str, ...] = (
    "response_id",
    "interaction_id",
    "submitted_at",
    "channel",
    "csat",
)

#: Contact-centre interactions, JSON lines, one file per day the interaction started.
RAW_INTERACTION_SCHEMA: dict[str, pl.DataType] = {
    "interaction_id": pl.String(),
    "customer_id": pl.String(),
    "agent_id": pl.String(),
    "queue": pl.String(),
    "policy_code": pl.String(),
    "started_at": pl.String(),
    "wait_seconds": pl.Float64(),
    "handle_seconds": pl.Float64(),
    "transfers": pl.Int64(),
    "prior_contacts": pl.Int64(),
    "sla_met": pl.Boolean(),
    "policy_disclosed": pl.Boolean(),
    "resolution": pl.String(),
    "fees_charged": pl.Float64(),
}

#: QA audits (the training labels), CSV, one file per survey day.
RAW_AUDIT_COLUMNS: tuple[str, ...] = ("response_id", "root_cause", "audited_at", "auditor")

#: Policy catalogue (reference data).
RAW_POLICY_COLUMNS: tuple[str, ...] = (
    "policy_code",
    "description",
    "queue",
    "promised_sla",
    "disclosure",
    "fee_allowed",
)

# --- vocabularies ---------------------------------------------------------------------------

CHANNELS: tuple[str, ...] = ("phone", "chat", "email", "store", "web")
ROOT_CAUSES: tuple[str, ...] = ("perceived", "policy_failure")
POSITIVE_CLASS = "policy_failure"
#: How the responses without a policy code (``policy_code`` null: a source that maps none)
#: are named where a person reads a policy, e.g. an early-warning flag.
NO_POLICY = "responses without a policy code"


def policy_name(policy_code: str | None) -> str:
    """A policy as a person reads it: its code, or :data:`NO_POLICY` for null (kept null in
    the data and manifests, so a query still finds the group with ``IS NULL``)."""
    return NO_POLICY if policy_code is None else policy_code


#: The canonical column of a source's own yes/no that a contact resolved the customer's
#: problem, its answer as the definition maps it (a survey's: the customer's "Was your issue
#: resolved on this contact?"; a ticket feed's or call log's: a system's ``Resolved`` Y/N):
#: the report first-contact resolution reads where no customer id lets a return be observed
#: (:func:`transforms.agents.agent_outcomes`). Only a source definition maps it.
RESOLVED_FLAG = "resolved_first_contact"
#: The canonical column of a source's own yes/no that a call was abandoned: the caller hung
#: up before anyone answered (a call log's ``Answered (Y/N)`` = N, mapped negated). An
#: abandoned call was handled by no one, so first-contact resolution leaves it out of its
#: denominator: FCR is measured over handled (answered) contacts, the convention of SQM
#: Group's and ICMI's definitions of first-call resolution (abandoned calls are an access
#: measure, the abandonment rate, not a resolution one). Null where the source maps none or
#: the row leaves it empty: then the contact counts as handled, as every contact did before
#: the column existed. Only a source definition maps it.
ABANDONED = "abandoned"
#: A response is negative (and so gets a root cause) at or below this CSAT.
NEGATIVE_CSAT_MAX = 2

#: The stable kinds of reason the quarantine's ``reason_kinds`` holds (quarantine contract
#: version 3; told from a reason's words by servicelens/validation/reasons.py), each with
#: what it means, in the order the data dictionary lists them. A reason's words may change
#: between releases and hold the value; its kind does not: BI groups by it. A new kind is
#: added here, never renamed.
REASON_KINDS: dict[str, str] = {
    "malformed_line": (
        "a CSV or workbook line that cannot be split into the header's fields (too many or too "
        "few, an unclosed quote, a file cut off)"
    ),
    "malformed_json": "a JSON record that cannot be read (broken JSON, not an object, cut off)",
    "repeated_header": "the header again inside the file (two exports joined into one)",
    "duplicate_delivery": (
        "an earlier copy of a response a later line or delivery replaced (superseded)"
    ),
    "updated": (
        "an earlier version of a response a later delivery updated: other values in a column "
        "the source maps (its reason names them: a CFPB company response corrected in a "
        "re-download), or a later delivered_at with other values (a Zendesk rating changed "
        "since); superseded. A copy sent again unchanged is a duplicate_delivery"
    ),
    "exact_duplicate": "a row with the same answers as another line of the file (superseded)",
    "set_aside": "a row the source definition's [[exclude]] rules set aside (its reason says why)",
    "missing": "a required value is empty",
    "repeated_id": "one id on two different responses of a delivery",
    "accepted_elsewhere": "the response is already kept under another survey date",
    "id_as_spreadsheet_text": (
        "an id a spreadsheet rewrote (scientific notation, or the start of a formula)"
    ),
    "not_a_timestamp": (
        "a time that does not read as one (the format, a spreadsheet date number, a day the "
        "calendar does not have)"
    ),
    "daylight_saving": "a local time the clocks skipped or went through twice",
    "time_out_of_range": ("a time in the future, after its delivery was landed, or before 2000"),
    "wrong_partition": (
        "a row landed before its definition could read its date: it belongs to another partition"
    ),
    "not_a_channel": "a channel that is not one of the known channels",
    "not_a_score": "a csat, nps or effort that is not a whole score of its scale",
    "not_a_rating": "a rating that is not good or bad",
    "not_a_number": "a number (a duration, an amount) that is not one of 0 or more",
    "not_yes_or_no": "a yes/no fact that is neither",
    "too_long": "a comment over the character limit",
    "double_encoded": "text encoded twice (mojibake, such as Ã© for é)",
    "no_interaction": "a survey whose interaction is in no contact-centre export",
    "other": "a reason none of the kinds above names (its text says what it is)",
}

# --- lineage columns every row carries from the raw zone --------------------------------------

LINEAGE_SCHEMA: dict[str, pl.DataType] = {
    "source_file": pl.String(),
    "source_line": pl.Int64(),
}

# --- clean (primary) layer: one row per valid, de-duplicated survey joined to its interaction -

CLEAN_RESPONSE_SCHEMA: dict[str, pl.DataType] = {
    "response_id": pl.String(),
    "interaction_id": pl.String(),
    "survey_date": pl.Date(),
    "submitted_at": pl.Datetime("us", "UTC"),
    "channel": pl.String(),
    "csat": pl.Int8(),
    "nps": pl.Int8(),
    "effort": pl.Int8(),
    "comment": pl.String(),
    "language": pl.String(),
    "is_negative": pl.Boolean(),
    "customer_id": pl.String(),
    "agent_id": pl.String(),
    "queue": pl.String(),
    "policy_code": pl.String(),
    "started_at": pl.Datetime("us", "UTC"),
    "wait_seconds": pl.Float64(),
    "handle_seconds": pl.Float64(),
    "transfers": pl.Int16(),
    "prior_contacts": pl.Int16(),
    "sla_met": pl.Boolean(),
    "policy_disclosed": pl.Boolean(),
    "resolution": pl.String(),
    "fees_charged": pl.Float64(),
    "fee_allowed": pl.Float64(),
    "fee_excess": pl.Float64(),
    "source_file": pl.String(),
    "source_line": pl.Int64(),
    # appended: contacts by the same customer with the same queue in the 30 days before
    # (transforms/repeat_contacts.py), from the interaction history rather than the CRM
    "repeat_contacts_30d": pl.Int16(),
    # Appended for source definitions (contracts only grow).
    "source": pl.String(),
    "rating": pl.String(),
    "attributes": pl.String(),
    "label": pl.String(),
    # The source's own flag that the contact resolved the problem (a call log's Resolved
    # Y/N): first-contact resolution where no customer id lets a return be seen.
    RESOLVED_FLAG: pl.Boolean(),
    # The source's own flag that the call was abandoned (a call log's Answered (Y/N) = N):
    # left out of first-contact resolution, which is over handled contacts.
    ABANDONED: pl.Boolean(),
}

#: The generated sample's source name; every row of a layer names its source definition.
SAMPLE_SOURCE = "sample"

# --- landed layer: a source's deliveries as delivered, mapped to canonical text, per date ----

#: Canonical columns as the landed layer keeps them: text, exactly as mapped (parsed later).
LANDED_TEXT_COLUMNS: tuple[str, ...] = (
    *RAW_SURVEY_COLUMNS,
    *(c for c in RAW_INTERACTION_SCHEMA if c not in RAW_SURVEY_COLUMNS),
    "rating",
    RESOLVED_FLAG,
    ABANDONED,
)
LANDED_SCHEMA: dict[str, pl.DataType] = {
    "survey_date": pl.Date(),
    **{name: pl.String() for name in LANDED_TEXT_COLUMNS},
    "attributes": pl.String(),
    "label": pl.String(),
    #: Why the source definition sets the row aside (null: it does not).
    "excluded": pl.String(),
    #: Why the record could not be read as a row (null: it was); its text is raw_record.
    "reject": pl.String(),
    #: The row as delivered (JSON of the export columns the definition reads, never a
    #: never_store column; the whole line for a reject), personal data redacted.
    "raw_record": pl.String(),
    "source": pl.String(),
    "source_file": pl.String(),
    "source_line": pl.Int64(),
    #: The sheet a workbook's row was read from (its ``source_line`` is the row Excel shows
    #: there): reasons naming the row say "sheet 'Umfrage' row 4". Null for a CSV or JSON
    #: delivery, and in rows landed before the column existed.
    "source_sheet": pl.String(),
    #: The export's timezone for its naive local times (the definition's, or its header's).
    "timezone": pl.String(),
    #: sha256 of the delivery file the row came from.
    "delivery": pl.String(),
    "landed_at": pl.Datetime("us", "UTC"),
    #: Whether the row is filed under the date its delivery was landed because its own
    #: submitted_at gives none (empty, unreadable, after the delivery, a malformed record):
    #: such a partition's count of them says its date is not all responses of that day.
    #: Null in rows landed before the column existed.
    "dated_by_delivery": pl.Boolean(),
}

# --- quarantine: every rejected row, with where it came from and every reason ------------------

#: A quarantined row as the stages build it (the published table adds its reasons' kinds:
#: :data:`QUARANTINE_SCHEMA`).
QUARANTINE_ROW_SCHEMA: dict[str, pl.DataType] = {
    "survey_date": pl.Date(),
    "feed": pl.String(),  # surveys | interactions
    "source_file": pl.String(),
    "source_line": pl.Int64(),
    "record_id": pl.String(),  # response_id or interaction_id as read (may be null)
    "reasons": pl.List(pl.String()),
    # The export columns the definition reads, as JSON (the whole line for a reject).
    "raw_record": pl.String(),
    "source": pl.String(),  # the source definition's name
    # Layout 2: an earlier copy a later delivery replaced, told from a row rejected in its own
    # right (a trial's three deliveries read "quarantined 26" of two rejected responses).
    "superseded": pl.Boolean(),
}
#: The quarantine as published (version 3): each reason's stable kind and the column it
#: names, parallel to ``reasons``, for BI to group by (a trial's ~1,000 reasons were 582
#: distinct strings, the value inside each). Added when a date's quarantine is staged
#: (servicelens.validation.reasons.with_reason_kinds); the rows are built as
#: :data:`QUARANTINE_ROW_SCHEMA`.
QUARANTINE_SCHEMA: dict[str, pl.DataType] = {
    **QUARANTINE_ROW_SCHEMA,
    "schema_version": pl.Int32(),
    "reason_kinds": pl.List(pl.String()),
    "reason_columns": pl.List(pl.String()),
}

# --- marts: what BI reads ---------------------------------------------------------------------

FEEDBACK_SCORED_SCHEMA: dict[str, pl.DataType] = {
    "response_id": pl.String(),
    "interaction_id": pl.String(),
    "survey_date": pl.Date(),
    "submitted_at": pl.Datetime("us", "UTC"),
    "channel": pl.String(),
    "queue": pl.String(),
    "policy_code": pl.String(),
    "language": pl.String(),
    "csat": pl.Int8(),
    "nps": pl.Int8(),
    "effort": pl.Int8(),
    "wait_seconds": pl.Float64(),
    "handle_seconds": pl.Float64(),
    "transfers": pl.Int16(),
    "prior_contacts": pl.Int16(),
    "comment": pl.String(),
    "is_negative": pl.Boolean(),
    "root_cause": pl.String(),  # null for non-negative responses or when no model exists
    "p_policy_failure": pl.Float64(),
    "needs_review": pl.Boolean(),  # the model is unsure: send to QA rather than act on it
    "model_version": pl.String(),
    "schema_version": pl.Int32(),
    "top_reasons": pl.List(pl.String()),  # features that pushed hardest towards root_cause
    "repeat_contacts_30d": pl.Int16(),  # same customer and queue, previous 30 days
    "source": pl.String(),
    "rating": pl.String(),
    "attributes": pl.String(),
    # Version 6: the operation's facts the clean layer holds, for BI to read a root cause by
    # (a trial's mapped fees and resolutions reached no view).
    "sla_met": pl.Boolean(),
    "policy_disclosed": pl.Boolean(),
    "resolution": pl.String(),
    "fees_charged": pl.Float64(),
    "fee_excess": pl.Float64(),
    # Version 8: whether the champion was trained on the row's label, whose scores are then
    # out-of-fold (a data scientist's trial read in-sample scores of CFPB's labels as honest).
    "in_training_set": pl.Boolean(),
    # Version 9: the source's own yes/no that the contact resolved the problem, row by row
    # (a survey's "Was your issue resolved on this call?" reached weekly agent_outcomes only).
    RESOLVED_FLAG: pl.Boolean(),
    # Version 10: the source's own yes/no that the call was abandoned (a call log's Answered
    # (Y/N) = N), which first-contact resolution leaves out (it counted them unresolved).
    ABANDONED: pl.Boolean(),
}

#: ``servicelens score --output``: one row per kept row of the export, in file order. Each
#: column has feedback_scored's name, type and meaning, so BI slices a scored export by
#: source, date and queue as it does the mart, without joining back to the file
#: (``survey_date`` is the partition the nightly run files the row under: a monthly
#: source's month's first day; ``submitted_at`` the row's own time); ``source_line`` is the
#: row's line in the export; ``agent`` is agent_outcomes' (the agent who handled the row's
#: contact, pseudonymised as that mart does, so a scored row joins to its agent's weeks
#: there; null where the export records no agent); ``resolved_first_contact`` is the
#: source's own answer, as feedback_scored carries it (null where the definition maps none
#: or the row left it blank). Not a published table: written where ``--output`` says.
SCORE_OUTPUT_SCHEMA: dict[str, pl.DataType] = {
    name: {**FEEDBACK_SCORED_SCHEMA, **LINEAGE_SCHEMA, "agent": pl.String()}[name]
    for name in (
        "response_id",
        "source",
        "survey_date",
        "submitted_at",
        "source_line",
        "interaction_id",
        "channel",
        "queue",
        "agent",
        "policy_code",
        "language",
        "csat",
        "nps",
        "effort",
        "rating",
        "wait_seconds",
        "handle_seconds",
        "transfers",
        "prior_contacts",
        "sla_met",
        "policy_disclosed",
        "resolution",
        RESOLVED_FLAG,
        ABANDONED,
        "fees_charged",
        "fee_excess",
        "attributes",
        "is_negative",
        "root_cause",
        "p_policy_failure",
        "needs_review",
        "top_reasons",
        "model_version",
        "in_training_set",
    )
}

#: The responses most worth auditing next: unaudited ones closest to the threshold (those
#: the model abstains on, and its closest calls), and audited ones whose label the model
#: strongly doubts (out-of-fold), most urgent first.
REVIEW_QUEUE_SCHEMA: dict[str, pl.DataType] = {
    "survey_date": pl.Date(),
    "response_id": pl.String(),
    "reason": pl.String(),  # uncertain | spot_check | label_doubt (| first_audit, not stored)
    "priority": pl.Float64(),  # higher = audit sooner
    "p_policy_failure": pl.Float64(),  # the model's (out-of-fold for label_doubt) probability
    "audit_label": pl.String(),  # the current QA label (label_doubt only)
    "queue": pl.String(),
    "policy_code": pl.String(),
    "comment": pl.String(),
    "top_reasons": pl.List(pl.String()),
    "model_version": pl.String(),
    "source": pl.String(),
}

DAILY_SUMMARY_SCHEMA: dict[str, pl.DataType] = {
    "survey_date": pl.Date(),
    "queue": pl.String(),
    "policy_code": pl.String(),
    "channel": pl.String(),
    "responses": pl.UInt32(),
    "negatives": pl.UInt32(),
    "policy_failures": pl.UInt32(),
    "perceived": pl.UInt32(),
    "negative_share": pl.Float64(),
    "policy_failure_share": pl.Float64(),
    "mean_csat": pl.Float64(),
    "schema_version": pl.Int32(),
    "source": pl.String(),
    "rated": pl.UInt32(),
    "expected_policy_failures": pl.Float64(),
    "expected_policy_failure_share": pl.Float64(),
    # Version 8: the rows mean_csat is over, its weight across groups and dates.
    "csat_responses": pl.UInt32(),
    # Version 9: a two-level rating's satisfaction score, good / rated, and its counts.
    "ratings": pl.UInt32(),
    "satisfied": pl.UInt32(),
    "satisfied_share": pl.Float64(),
    # Version 10: the source's resolved flag (resolved_first_contact) answered and its rate.
    "fcr_answered": pl.UInt32(),
    "fcr_resolved": pl.UInt32(),
    "fcr_rate": pl.Float64(),
    # Version 11: abandoned calls (the source's abandoned flag), which fcr_answered and
    # fcr_resolved leave out (they counted them answered and unresolved).
    "abandoned": pl.UInt32(),
}

#: Partition column of every mart and of the quarantine.
PARTITION_COLUMN = "survey_date"


def conform(frame: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Select and cast ``frame`` to ``schema``, in the schema's column order.

    Raises ``ValueError`` naming the missing columns rather than writing a partial table.
    """
    missing = [name for name in schema if name not in frame.columns]
    if missing:
        raise ValueError(f"frame is missing contract columns {missing}; it has {frame.columns}")
    return frame.select(pl.col(name).cast(dtype, strict=True) for name, dtype in schema.items())


def with_contract_columns(frame: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """``frame`` with each column of ``schema`` it lacks added as nulls of the contract's type;
    its own columns unchanged. Contracts only grow: partitions all written before a column
    existed read as the contract says such rows read (null), as ``connect_views`` gives
    DuckDB's views (daily_summary 6's ``expected_policy_failures``, fix_list 4's
    ``csat_not_estimated``)."""
    missing = [
        pl.lit(None, dtype).alias(n) for n, dtype in schema.items() if n not in frame.columns
    ]
    return frame.with_columns(missing) if missing else frame


# --- published contracts: what each table BI reads means, column by column ------------------
#
# The column names and types above are the contract; this section adds what a reader needs to
# not misread them. Tests check that every column has a description, that the generated data
# dictionary (docs/data_dictionary.md) matches, and that files on disk match the types. Changes
# are additive: append a column, bump the table's version, and say what changed in `history`.

#: The version of each mart's contract, written into every row's ``schema_version``.
FEEDBACK_SCORED_VERSION = 10
DAILY_SUMMARY_VERSION = 11
QUARANTINE_VERSION = 3


@dataclass(frozen=True)
class TableContract:
    """One published table: where it lives, its grain, its columns and what they mean."""

    name: str
    #: Directory under the data directory, hive-partitioned by :data:`PARTITION_COLUMN`.
    path: str
    description: str
    #: What one row is.
    grain: str
    schema: dict[str, pl.DataType]
    descriptions: dict[str, str]
    #: The contract version; ``None`` for tables whose rows carry no ``schema_version``.
    version: int | None
    #: One line per version: what it added.
    history: tuple[str, ...] = ()
    #: For a DuckDB view of ``sql/views.sql`` (no files of its own, ``path`` empty): what its
    #: rows are read from. None for a table of Parquet partitions.
    view_of: str | None = None


_SOURCE_TEXT = (
    "Name of the source definition the row came from ('sample' for the generated data, "
    "'cfpb', a team's own); several sources share one data directory side by side."
)
_SCHEMA_VERSION_TEXT = (
    "Version of this table's contract that wrote the row (see the version history). Null in "
    "rows written before the column existed."
)

#: What a row's queue is: lower-cased, so that the one queue is one group (and one model
#: category) whichever delivery, export or re-save wrote it in which case; and every mart
#: and model since the first release holds it so, the contact history's keys too.
_QUEUE_TEXT = (
    "Contact-centre queue that handled the interaction, lower-cased as read (the export's "
    "'Technical Support' is 'technical support'), so one queue groups as one whatever case "
    "an export or delivery wrote it in; compare with lower(...) of the export's text."
)

#: What "negative" means in every mart: the source's own rule (``negative`` in its definition,
#: servicelens/ingest/definitions.py NEGATIVE_RULES; transforms/clean.py ``is_negative``).
_NEGATIVE_RULE_TEXT = (
    "the source's negative rule calls negative (csat <= 2 by default; an nps detractor, a bad "
    "rating, or every complaint, as the source declares)"
)

#: Whose answer ``resolved_first_contact`` is: the source's, as its definition maps it. A
#: survey's is the customer's own (the dictionary called a survey's customer answers "the
#: agent's or system's claim").
_RESOLVED_ANSWER_TEXT = (
    "the source's answer, as its definition maps resolved_first_contact: the customer's own, "
    "in a survey ('Was your issue resolved on this contact?'); a system's, in a ticket feed "
    "or call log (its Resolved Y/N)"
)

#: What ``abandoned`` is wherever a table carries it row by row.
_ABANDONED_TEXT = (
    "Whether the call was abandoned: the caller hung up before anyone answered (a call "
    "log's Answered (Y/N) = N, as the source's definition maps abandoned). An abandoned "
    "contact was handled by no one: first-contact resolution (daily_summary's fcr_*, "
    "agent_outcomes') leaves it out, being over handled contacts (SQM Group's and ICMI's "
    "definition of first-call resolution)."
)

#: What ``resolved_first_contact`` is wherever a mart carries it row by row.
_RESOLVED_FLAG_TEXT = (
    "Whether the contact resolved the customer's problem, yes or no: "
    + _RESOLVED_ANSWER_TEXT
    + ". A report, not an observation: agent_outcomes' 'no repeat contact' measure follows "
    "whether the customer came back."
)

FEEDBACK_SCORED_CONTRACT = TableContract(
    name="feedback_scored",
    path="marts/feedback_scored",
    description=(
        "Every valid survey response joined to its contact-centre interaction, with the model's "
        "root cause for the negative ones: those " + _NEGATIVE_RULE_TEXT + "."
    ),
    grain=(
        "one row per valid response (response_id is unique within its source across all "
        "partitions; two sources may use the same id: join on source and response_id)"
    ),
    schema=FEEDBACK_SCORED_SCHEMA,
    descriptions={
        "response_id": "Survey vendor's id of the response.",
        "interaction_id": "Contact-centre interaction the survey is about.",
        "survey_date": (
            "Business-local date the survey was submitted; the partition key "
            "(directory survey_date=YYYY-MM-DD)."
        ),
        "submitted_at": "When the customer submitted the survey, in UTC.",
        "channel": "Where the survey came from: phone, chat, email, store or web.",
        "queue": _QUEUE_TEXT,
        "policy_code": "Policy the interaction was about (see raw/reference/policies.csv).",
        "language": "Language of the survey as the vendor reported it; where it did not, the "
        "comment's language as detected (transforms/language.py), or null if too short to tell.",
        "csat": "Customer satisfaction, 1 (very dissatisfied) to 5 (very satisfied).",
        "nps": "Likelihood to recommend, 0 to 10; null when not asked or not answered.",
        "effort": "Customer effort, 1 (very easy) to 7 (very hard); null when not answered.",
        "wait_seconds": "Seconds the customer waited before a person took the contact.",
        "handle_seconds": (
            "Seconds a person spent on the contact. Long is not bad: a long call that solved "
            "the problem is good service."
        ),
        "transfers": "How many times the contact was transferred; 3 or more is a transfer loop.",
        "prior_contacts": "Earlier contacts by the same customer about the same issue.",
        "comment": (
            "What the customer wrote (personal data redacted), control characters and HTML "
            "markup (script and style blocks, tags of HTML elements) removed; line breaks "
            "kept as LF (at most one blank line in a row), other whitespace collapsed to one "
            "space (before 2026-12-04, line breaks too). Otherwise as written: text starting "
            "=, +, - or @ and angle brackets around other words (<XXXX>) are kept (before "
            "2026-12-05 such text had an apostrophe put before it, and any <word> was removed)."
        ),
        "is_negative": (
            "True when the source's negative rule calls the response negative (csat <= 2 by "
            "default): only negative responses get a root cause. Null where the rule cannot "
            "judge it (no rating given, such as an unanswered call)."
        ),
        "root_cause": (
            "Model's verdict for negative responses: 'policy_failure' (something broke: fix the "
            "operation) or 'perceived' (the policy worked as designed: fix how expectations are "
            "set). Null for non-negative responses or before any model existed."
        ),
        "p_policy_failure": (
            "Calibrated probability that the negative response is a real policy failure; "
            "root_cause is 'policy_failure' at or above the model's decision threshold (chosen "
            "on validation data, in models/<version>/metadata.json). Null where root_cause is "
            "null. Where in_training_set is true, the out-of-fold probability (the model "
            "learned that row's label; see in_training_set), as root_cause and needs_review."
        ),
        "needs_review": (
            "True when the model is unsure (probability inside the review band): send to QA "
            "rather than act on root_cause alone."
        ),
        "model_version": (
            "Version of the model that scored the row (models/<version>/); null where no "
            "model scored it (root_cause is null: not negative, not rated, or no model yet). "
            "Rows of version 6 and before: the version that ran the date, on every row; "
            "which model ran a date is processed_dates.model_version (its manifest)."
        ),
        "schema_version": _SCHEMA_VERSION_TEXT,
        "top_reasons": (
            "For scored negatives, up to three features that pushed the model hardest "
            "towards its root_cause, each with its effect on the log-odds of policy_failure, "
            "e.g. comment 'never came', 'waited' (+1.20): the comment as a whole, named by "
            "its strongest phrases; or sla_met=0 (+0.74). A row between 0.5 and the "
            "threshold that no feature pushed towards its root_cause says so instead: no "
            "single factor points to perceived: P(policy_failure) 0.51 is under the "
            "threshold 0.53. Where in_training_set is true, a first entry gives the "
            "out-of-fold and in-sample probabilities, and the reasons after it are the "
            "in-sample model's."
        ),
        "repeat_contacts_30d": (
            "How many times the same customer contacted the same queue in the 30 days before "
            "this interaction started, counted from the interaction history across dates (not "
            "the CRM's prior_contacts). Known when the response is scored: the model may use it."
        ),
        "source": _SOURCE_TEXT,
        "rating": (
            "Two-level satisfaction as the source gave it ('good' or 'bad', e.g. Zendesk); "
            "never turned into csat. Null for sources with a csat scale."
        ),
        "attributes": (
            "The source's own facts its definition keeps (JSON object of text, e.g. "
            '{"company": ..., "state": ...} for CFPB); read with json_extract_string.'
        ),
        "sla_met": (
            "Whether the interaction met its service level (the contact-centre export's or the "
            "source's own); null when not known."
        ),
        "policy_disclosed": (
            "Whether the agent explained the policy that applied; null when not known. A "
            "negative response with the policy disclosed and no fee_excess is the usual shape "
            "of 'perceived'."
        ),
        "resolution": (
            "How the interaction ended as its system recorded it, lower-cased (the sample's: "
            "'resolved', 'unresolved', 'escalated'); null when not known."
        ),
        "fees_charged": (
            "Fee charged on the interaction, in the account's currency; null when none."
        ),
        "fee_excess": (
            "How far fees_charged exceeds what the policy allows (raw/reference/policies.csv), 0 "
            "when within it; above 0 is a wrong fee, a real policy failure. Null for a source "
            "without a policy table."
        ),
        "in_training_set": (
            "True when the model that scored the row (model_version) was trained on this "
            "response's label (a QA audit, or the source's own label such as CFPB's company "
            "response). Such a row's p_policy_failure is the model's out-of-fold probability "
            "for it (from the cross-validation fold that did not see the label, "
            "models/<version>/out_of_fold.parquet, which the training's cross-validated metrics "
            "are computed on), and its root_cause and needs_review follow from that "
            "probability; its top_reasons lead with a note giving both that probability and "
            "the final model's in-sample one, then the final model's reasons (it learned the "
            "label, so they may argue for the other root cause). False for other scored rows "
            "(honest predictions); null where no model scored the row, or where its model "
            "recorded no out-of-fold file (versions trained before it was kept), and in rows "
            "of version 7 and before, which scored every row in-sample. Rows trained on as facts "
            "only (a delivery with no comment) have no out-of-fold probability and read false. "
            "Filter on NOT in_training_set to measure the model on its labels."
        ),
        RESOLVED_FLAG: _RESOLVED_FLAG_TEXT
        + " Null where the source does not map it, where the row's answer or record was "
        "empty, and in rows of version 8 and before.",
        ABANDONED: _ABANDONED_TEXT
        + " Null where the source does not map it or the row's record was empty (the "
        "contact then counts as handled), and in rows of version 9 and before.",
    },
    version=FEEDBACK_SCORED_VERSION,
    history=(
        "1: first published layout.",
        "2: added schema_version.",
        "3: added top_reasons.",
        "4: added repeat_contacts_30d.",
        "5: added source, rating and attributes (several sources side by side).",
        "6: added sla_met, policy_disclosed, resolution, fees_charged and fee_excess.",
        "7: model_version is null on rows no model scored (it named the date's model on "
        "every row, the ones never scored too).",
        "8: added in_training_set; rows the model trained on carry its out-of-fold "
        "probability and the root cause from it (they carried in-sample scores).",
        "9: added resolved_first_contact (the source's own resolved yes/no, row by row: a "
        "survey's resolved question reached the weekly agent_outcomes only).",
        "10: added abandoned (the source's own yes/no that a call was abandoned before "
        "anyone answered: a call log's Answered (Y/N) = N, which reached attributes only).",
    ),
)

DAILY_SUMMARY_CONTRACT = TableContract(
    name="daily_summary",
    path="marts/daily_summary",
    description=(
        "Counts and shares of responses by date, queue, policy and channel, for dashboards that "
        "do not need single responses."
    ),
    grain="one row per survey_date, queue, policy_code and channel that had responses",
    schema=DAILY_SUMMARY_SCHEMA,
    descriptions={
        "survey_date": "Business-local survey date; the partition key.",
        "queue": "Contact-centre queue, lower-cased as in feedback_scored.",
        "policy_code": "Policy the interactions were about.",
        "channel": "Survey channel.",
        "responses": "Valid responses in the group.",
        "negatives": "Responses " + _NEGATIVE_RULE_TEXT + ".",
        "policy_failures": (
            "Negatives the model called 'policy_failure' (fix the operation); null where the "
            "group has negatives and no model scored any (no model yet): not zero failures. "
            "Rows of version 4 and before: 0 there."
        ),
        "perceived": (
            "Negatives the model called 'perceived' (fix how expectations are set); null as "
            "policy_failures is."
        ),
        "negative_share": (
            "negatives / rated: null when no response was rated. Rows of version 3 and "
            "before: negatives / responses, the unrated counted as not negative. Do not "
            "average shares across groups: sum the counts and divide."
        ),
        "policy_failure_share": (
            "policy_failures / (policy_failures + perceived): the share of the negatives a "
            "model scored that it called policy failures; null when it scored none (no "
            "negatives, or no model yet). Decisions at the model's threshold, tuned to tell "
            "each response's cause, not to count them: for how common failures are, use "
            "expected_policy_failure_share. Do not average shares across groups: sum the "
            "counts and divide."
        ),
        "mean_csat": (
            "Mean csat of the group's responses that have one (csat_responses of them); null "
            "when none has. Across groups and dates: sum(mean_csat * csat_responses) / "
            "sum(csat_responses), which is avg(csat) over feedback_scored. Not weighted by "
            "responses (rows without a csat count) nor by rated (the rows the negative rule "
            "judged, which are the rows with a csat only where that rule is csat), and not a "
            "plain average of the means."
        ),
        "schema_version": _SCHEMA_VERSION_TEXT,
        "source": _SOURCE_TEXT + " Part of the group key.",
        "rated": (
            "Responses the negative rule could judge (a rating given); the rest, such as an "
            "unanswered call, are neither negative nor not. Null in rows of version 3 and "
            "before."
        ),
        "expected_policy_failures": (
            "Sum of p_policy_failure over the negatives a model scored: how many of them are "
            "policy failures, as its calibrated probabilities estimate (policy_failures counts "
            "decisions at its threshold instead, which over- or under-count a group). Null "
            "where the group has no scored negative (none scored, or no negatives): unknown, "
            "not 0. Rows of version 6: 0.0 in groups without negatives. Null in rows of "
            "version 5 and before."
        ),
        "expected_policy_failure_share": (
            "expected_policy_failures / (policy_failures + perceived): the estimated share of "
            "the scored negatives that are policy failures; null when none was scored, and "
            "in rows of version 5 and before. Across groups: sum expected_policy_failures and "
            "policy_failures + perceived, then divide."
        ),
        "csat_responses": (
            "Responses in the group with a csat: the rows mean_csat is over, and its weight "
            "when rolling it up (sum(mean_csat * csat_responses) / sum(csat_responses)). Null "
            "in rows of version 7 and before; there, for a source whose negative rule is csat "
            "(the sample's), rated is the same count."
        ),
        "ratings": (
            "Responses in the group with a two-level rating (good or bad: a Zendesk satisfaction "
            "rating), the denominator of satisfied_share; 0 for a source without one. A survey "
            "only offered is not a rating (it is set aside, in quarantine). Null in rows of "
            "version 8 and before."
        ),
        "satisfied": ("Of ratings, those rated good. Null in rows of version 8 and before."),
        "satisfied_share": (
            "satisfied / ratings, from 0 to 1: Zendesk's satisfaction score (good / (good + "
            "bad)); null where nothing was rated. Across groups and dates: sum satisfied and "
            "ratings, "
            "then divide; never average the shares."
        ),
        "fcr_answered": (
            "Responses in the group whose resolved_first_contact (feedback_scored) is yes or "
            "no, abandoned calls left out (feedback_scored's abandoned: first-contact "
            "resolution is over handled contacts, SQM Group's and ICMI's definition): the "
            "denominator of fcr_rate; 0 for a source that maps none, or where no row "
            "answered. Null in rows of version 9 and before; rows of version 10 count "
            "abandoned calls too (as unresolved, where their flag says no)."
        ),
        "fcr_resolved": (
            "Of fcr_answered, those resolved_first_contact records as resolved. Null in rows "
            "of version 9 and before."
        ),
        "fcr_rate": (
            "fcr_resolved / fcr_answered, from 0 to 1: first-contact resolution as the "
            "source's resolved_first_contact reports it (a survey's customer answer, or a "
            "call log's flag: see feedback_scored); null where none answered, and in rows of "
            "version 9 and before. Across groups and dates: sum fcr_resolved and "
            "fcr_answered, then divide; never average the rates."
        ),
        "abandoned": (
            "Responses in the group whose abandoned (feedback_scored) is yes: calls the "
            "caller hung up on before anyone answered, left out of fcr_answered; 0 for a "
            "source that maps none. Null in rows of version 10 and before."
        ),
    },
    version=DAILY_SUMMARY_VERSION,
    history=(
        "1: first published layout.",
        "2: added schema_version.",
        "3: added source (a group key).",
        "4: added rated; negative_share is negatives / rated (it was negatives / responses, "
        "so unrated responses, such as unanswered calls, lowered it).",
        "5: policy_failures and perceived are null where the group has negatives and no "
        "model scored any of them (they were 0, as if none were failures).",
        "6: added expected_policy_failures and expected_policy_failure_share (the calibrated "
        "probabilities' estimate of how many negatives are policy failures).",
        "7: expected_policy_failures is null in groups without a scored negative (it was 0.0 "
        "in groups without negatives, so a source's sum read 0 where no model scored).",
        "8: added csat_responses (the rows mean_csat is over: its weight across groups).",
        "9: added ratings, satisfied and satisfied_share (a two-level rating's satisfaction "
        "score, good / rated: a Zendesk source's report showed none).",
        "10: added fcr_answered, fcr_resolved and fcr_rate (first-contact resolution from "
        "the source's resolved_first_contact, by day and channel: it reached the weekly "
        "agent_outcomes only).",
        "11: added abandoned; fcr_answered and fcr_resolved leave abandoned calls out, so "
        "fcr_rate is over handled contacts (a call log's 3 abandoned calls of 24 were "
        "counted unresolved: 18/24 = 0.750 where handled contacts give 18/21 = 0.857).",
    ),
)

QUARANTINE_CONTRACT = TableContract(
    name="quarantine",
    path="quarantine",
    description=(
        "Every row that was read and rejected, with where it came from and every reason, so it "
        "can be fixed at the source and re-processed. Rows read = rows kept + rows quarantined."
    ),
    grain="one row per rejected survey record or interaction line",
    schema=QUARANTINE_SCHEMA,
    descriptions={
        "survey_date": "Survey date whose processing rejected the row; the partition key.",
        "feed": "Which feed of the source the row came from: 'surveys' or 'interactions'.",
        "source_file": "Path of the raw file, as read.",
        "source_line": "Physical line of the record in that file (1 is the header of a CSV).",
        "record_id": (
            "response_id or interaction_id as read; null when it could not be read. A "
            "malformed line (fields too many) has its id where the id is the export's first "
            "column and its first field has the shape of the other rows' ids (since "
            "2026-12-05; null before)."
        ),
        "reasons": (
            "Every reason the row was rejected: a value's "
            "\"<column>: '<value as read>' <problem>\", then, where one helps, what to change "
            "(\"csat: 'five' is not a score from 1 to 5\"); a whole row's '<kind>: <what>' "
            '("malformed line: 5 fields where the header has 7", "exact duplicate: ...", '
            '"duplicate delivery: superseded by ...", a source definition\'s set-aside rule '
            "\"<column>: '<value>': <why>\"). reason_kinds names each reason's kind."
        ),
        "raw_record": (
            "The row as delivered, personal data redacted field by field, for re-processing: "
            "a JSON object of the export columns the source definition reads (those mapped "
            "in [columns], kept under [attributes], its [label] and [[exclude]] columns; "
            "every column of the generated sample's export), keyed by the export's names; "
            "for a record that could not be split into fields, its raw line. Columns the "
            "definition does not read are not in it: they stay in raw/, at source_file and "
            "source_line (a run's notes and `sources check` name such columns of a "
            "delivery), and columns in never_store (names, e-mails, IPs, locations) never "
            "leave raw/."
        ),
        "source": _SOURCE_TEXT,
        "superseded": (
            "True for an earlier copy of a response that a later line or delivery replaced "
            "(whether that later copy was kept or itself rejected): nothing wrong with the "
            "row, it is only out of date; its first reason names the newer copy ('duplicate "
            "delivery: ...' for a copy sent again, 'updated: ...' for an earlier version of a "
            "response changed since, or 'exact duplicate: ...' for a later line of the same "
            "file with the same answers). "
            "False for the newest copy: a row rejected in its own right (a malformed line, a "
            "failed check), or one the definition's [[exclude]] rules set aside (its first "
            "reason kind 'set_aside': no reject). Count rejects with WHERE NOT superseded "
            "AND reason_kinds[1] IS DISTINCT FROM 'set_aside': each rejected response once "
            "(processed_dates.rows_rejected). Null in rows "
            "written before the column existed (before 2026-12-05); there, a first reason "
            "starting 'duplicate delivery' or 'exact duplicate' marks such a copy, and the "
            "earlier copies of a response the definition sets aside are not told apart."
        ),
        "schema_version": _SCHEMA_VERSION_TEXT,
        "reason_kinds": (
            "The kind of each reason, parallel to reasons (the n-th kind is the n-th "
            "reason's): one of a fixed list that no release renames, without the value, so "
            "rows group by it where the reasons' words hold the value (`SELECT kind, "
            "reason_column, count(*) FROM (SELECT unnest(reason_kinds) AS kind, "
            "unnest(reason_columns) AS reason_column FROM quarantine WHERE NOT superseded) "
            "GROUP BY ALL`: DuckDB groups by no unnest directly). The kinds: "
            + "; ".join(f"'{kind}': {meaning}" for kind, meaning in REASON_KINDS.items())
            + ". Null in rows of version 2 and before."
        ),
        "reason_columns": (
            "The column each reason names, parallel to reasons and reason_kinds: the "
            "canonical column of a failed check ('csat'), the export's column of a set_aside "
            "row ('Status'), null for a reason about the whole record (malformed_line, "
            "duplicate_delivery, ...). Null in rows of version 2 and before."
        ),
    },
    version=QUARANTINE_VERSION,
    history=(
        "1: first published layout.",
        "2: added superseded (earlier copies a later delivery replaced, apart from rejects).",
        "3: added schema_version, reason_kinds and reason_columns (each reason's stable kind "
        "and the column it names, to group reasons by).",
    ),
)

REVIEW_QUEUE_CONTRACT = TableContract(
    name="review_queue",
    path="marts/review_queue",
    description=(
        "The responses most worth a QA audit next: the unaudited negatives closest to the "
        "decision threshold (50 a date: those the model abstains on, and its closest calls), "
        "and audited ones whose label the model strongly doubts (likely label errors, judged "
        "with out-of-fold probabilities). Sort by priority."
    ),
    grain="one row per response proposed for audit on that survey date",
    schema=REVIEW_QUEUE_SCHEMA,
    descriptions={
        "survey_date": "Business-local survey date; the partition key.",
        "response_id": "Survey vendor's id of the response.",
        "reason": (
            "'uncertain' (unaudited, inside the model's review band or in a language it did not "
            "learn: the model abstains, needs_review in feedback_scored); 'spot_check' "
            "(unaudited, outside the review band: the model decided it, and it is among the "
            "date's closest to the threshold, audited to check the model's closest calls); or "
            "'label_doubt' (audited, and the model's out-of-fold probability strongly disagrees "
            "with the QA label). Rows written before version 2 say 'uncertain' for both "
            "unaudited kinds; `servicelens review-queue` reads them by feedback_scored's "
            "needs_review."
        ),
        "priority": "Higher means audit sooner; comparable across reasons within a date.",
        "p_policy_failure": (
            "The model's probability of a policy failure (out-of-fold for label_doubt rows)."
        ),
        "audit_label": "The current QA label, for label_doubt rows; null otherwise.",
        "queue": _QUEUE_TEXT,
        "policy_code": "Policy the interaction was about.",
        "comment": "What the customer wrote (personal data redacted).",
        "top_reasons": "The features or words that pushed the model hardest.",
        "model_version": "Version of the model that proposed the audit.",
        "source": _SOURCE_TEXT,
    },
    version=None,
    history=(
        "1: first published layout.",
        "2: reason 'spot_check' for unaudited negatives outside the review band, which were "
        "called 'uncertain' though the model had decided them (needs_review false).",
    ),
)


# --- interaction history, repeat contacts and what they feed -------------------------------

#: Columns the new marts group by when their input carries them: a source definition's name
#: (``source``), so two sources never share a row. One edit adds a key for all of them.
MART_GROUP_KEYS: tuple[str, ...] = ("source",)


def group_keys(columns: list[str]) -> list[str]:
    """The :data:`MART_GROUP_KEYS` a frame with these columns carries."""
    return [key for key in MART_GROUP_KEYS if key in columns]


def with_group_keys(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with the :data:`MART_GROUP_KEYS` it does not carry added as null text, so a
    mart built from input without them still meets its contract."""
    absent = [key for key in MART_GROUP_KEYS if key not in frame.columns]
    return frame.with_columns(pl.lit(None, pl.String).alias(key) for key in absent)


#: Clean layer: every interaction of one raw interaction export (all contacts, surveyed or
#: not), the history repeat contacts and first-contact resolution are derived from. Its
#: partition is the day of the export (raw/<day>/interactions.jsonl holds the interactions that
#: started that business day), keyed like every partition by ``survey_date``.
CONTACT_SCHEMA: dict[str, pl.DataType] = {
    "survey_date": pl.Date(),
    "interaction_id": pl.String(),
    "customer_id": pl.String(),
    "agent_id": pl.String(),
    "queue": pl.String(),
    "policy_code": pl.String(),
    "started_at": pl.Datetime("us", "UTC"),
    "handle_seconds": pl.Float64(),
    "transfers": pl.Int16(),
    # Appended: the source's own resolved flag (RESOLVED_FLAG); null for the sample's
    # interaction exports, which carry none, and in partitions written before it existed.
    RESOLVED_FLAG: pl.Boolean(),
    # Appended: the source's own abandoned flag (ABANDONED); null as RESOLVED_FLAG is.
    ABANDONED: pl.Boolean(),
}

FIX_LIST_VERSION = 4
AGENT_OUTCOMES_VERSION = 11

FIX_LIST_SCHEMA: dict[str, pl.DataType] = {
    "survey_date": pl.Date(),
    "period": pl.String(),  # week | window
    "period_start": pl.Date(),
    "period_end": pl.Date(),
    "owner": pl.String(),  # operations | communications
    "root_cause": pl.String(),
    "rank": pl.Int32(),
    "policy_code": pl.String(),
    "queue": pl.String(),
    "responses": pl.UInt32(),
    "negatives": pl.UInt32(),
    "policy_failures": pl.UInt32(),
    "perceived": pl.UInt32(),
    "problem_responses": pl.UInt32(),
    "csat_problem": pl.Float64(),
    "csat_comparable": pl.Float64(),
    "csat_lost_per_response": pl.Float64(),
    "csat_lost_per_response_low": pl.Float64(),
    "csat_lost_per_response_high": pl.Float64(),
    "csat_points_lost": pl.Float64(),
    "csat_points_lost_low": pl.Float64(),
    "csat_points_lost_high": pl.Float64(),
    "nps_points_lost": pl.Float64(),
    "nps_points_lost_low": pl.Float64(),
    "nps_points_lost_high": pl.Float64(),
    "example_comments": pl.List(pl.String()),
    "model_version": pl.String(),
    "schema_version": pl.Int32(),
    "source": pl.String(),
    "csat_not_estimated": pl.String(),
    "nps_not_estimated": pl.String(),
}

AGENT_OUTCOMES_SCHEMA: dict[str, pl.DataType] = {
    "survey_date": pl.Date(),
    "week_start": pl.Date(),
    "week_end": pl.Date(),
    "agent": pl.String(),
    "agent_ids": pl.String(),  # pseudonymous | as recorded
    # judged | not settled yet | too few contacts | no customer id | no agent recorded
    "status": pl.String(),
    "contacts": pl.UInt32(),
    "median_handle_seconds": pl.Float64(),
    "transfers_per_contact": pl.Float64(),
    "settled_contacts": pl.UInt32(),
    "came_back": pl.UInt32(),
    "first_contact_resolution": pl.Float64(),
    "fcr_provisional": pl.Boolean(),
    "return_window_days": pl.Int16(),
    "responses": pl.UInt32(),
    "mean_csat": pl.Float64(),
    "negatives": pl.UInt32(),
    "negatives_policy_failure": pl.UInt32(),
    "negatives_other": pl.UInt32(),
    "model_version": pl.String(),
    "schema_version": pl.Int32(),
    "source": pl.String(),
    # Version 6: the rows mean_csat is over, its weight across agents and weeks.
    "csat_responses": pl.UInt32(),
    # Version 7: the contacts median_handle_seconds and transfers_per_contact are over (an
    # export can leave either empty), their weights across agents and weeks.
    "contacts_with_handle_time": pl.UInt32(),
    "contacts_with_transfers": pl.UInt32(),
    # Version 9 (after version 8's columns below): a two-level rating's satisfaction score.
    # Version 8: which measure first_contact_resolution is, and the source's own resolved
    # flag counted beside it (a call log without customer ids had no resolution at all).
    "fcr_measure": pl.String(),
    "flagged_contacts": pl.UInt32(),
    "flagged_resolved": pl.UInt32(),
    "ratings": pl.UInt32(),
    "satisfied": pl.UInt32(),
    "satisfied_share": pl.Float64(),
    # Version 11: the policy most of the agent-week's perceived negatives are about.
    "top_perceived_policy": pl.String(),
    "top_perceived_policy_share": pl.Float64(),
}

_WEEK_PARTITION_TEXT = (
    "Monday of the week the row describes (a monthly source: the month's first day); the "
    "partition key (directory survey_date=YYYY-MM-DD, like every partition). A week's "
    "partition is rebuilt whenever a date in it, or a later date its results depend on, is "
    "processed."
)
_INTERVAL_TEXT = "95% confidence interval (Welch's t, scipy.stats.ttest_ind)"


def _too_few_text(score: str) -> str:
    """The fix list's minimum, for the description of a ``score`` (csat, nps) estimate: the
    number is MIN_RESPONSES_PER_SIDE in transforms/fix_list.py (which imports this module;
    tests/unit/test_fix_list.py holds the two equal)."""
    article = "an" if score == "nps" else "a"
    return (
        "Null, like its interval, when fewer than 5 of the problem responses or 5 of the "
        f"comparable ones have {article} {score} (transforms/fix_list.py, "
        f"MIN_RESPONSES_PER_SIDE); {score}_not_estimated then says so."
    )


FIX_LIST_CONTRACT = TableContract(
    name="fix_list",
    path="marts/fix_list",
    description=(
        "What to fix first, and who owns it: per policy and queue, the real failures (owner "
        "operations: fix what breaks) and the perceived complaints (owner communications: fix "
        "how expectations are set), ranked by the csat points fixing them would recover, with "
        "an interval and three example comments. Each week's partition holds that week "
        "(period 'week') and the window of days up to its end (period 'window'). Empty while "
        "no model has scored the negatives: there is nothing to recommend yet."
    ),
    grain=(
        "one row per period, owner, policy_code and queue with at least one response of the "
        "owner's kind"
    ),
    schema=FIX_LIST_SCHEMA,
    descriptions={
        "survey_date": _WEEK_PARTITION_TEXT,
        "period": (
            "'week': survey dates of this week; 'window': the days up to this week's last "
            "survey date (28 by default, `SERVICELENS_FIX_LIST_WINDOW_DAYS`). A source "
            "partitioned by month has 'month' (its survey dates) and a 'window' of 3 months."
        ),
        "period_start": "First survey date the row counts (inclusive).",
        "period_end": "Last survey date the row counts (inclusive).",
        "owner": (
            "'operations' for real failures (fix the operation), 'communications' for perceived "
            "complaints (fix how expectations are set)."
        ),
        "root_cause": "The root cause this row is about: 'policy_failure' or 'perceived'.",
        "rank": (
            "1 = the most csat points to recover among this period's rows of the same owner "
            "(ties: more problem responses first)."
        ),
        "policy_code": "Policy the interactions were about.",
        "queue": "Contact-centre queue, lower-cased as in feedback_scored.",
        "responses": "Valid responses of the policy and queue in the period.",
        "negatives": "Of those, the ones " + _NEGATIVE_RULE_TEXT + ".",
        "policy_failures": "Negatives the model called 'policy_failure'.",
        "perceived": "Negatives the model called 'perceived'.",
        "problem_responses": "The responses of this row's root cause (its owner's problem).",
        "csat_problem": "Mean csat of the problem responses.",
        "csat_comparable": (
            "Mean csat of comparable responses without the problem: the same policy and queue "
            "in the same period, every response but those of this root cause."
        ),
        "csat_lost_per_response": (
            "csat_comparable - csat_problem: points each problem cost. " + _too_few_text("csat")
        ),
        "csat_lost_per_response_low": "Lower end of the " + _INTERVAL_TEXT + ".",
        "csat_lost_per_response_high": "Upper end of the " + _INTERVAL_TEXT + ".",
        "csat_points_lost": (
            "problem_responses x csat_lost_per_response: csat points fixing it would recover "
            "if the problem responses had scored like the comparable ones. The ranking key "
            "(rows without it come last). " + _too_few_text("csat")
        ),
        "csat_points_lost_low": "Lower end of the interval (problem_responses x the low end).",
        "csat_points_lost_high": "Upper end of the interval.",
        "nps_points_lost": (
            "Points of the period's NPS (all responses with an nps, -100..100) that fixing it "
            "would recover: the problem responses' promoter-minus-detractor score replaced by "
            "the comparable responses'. " + _too_few_text("nps")
        ),
        "nps_points_lost_low": "Lower end of the " + _INTERVAL_TEXT + ", in NPS points.",
        "nps_points_lost_high": "Upper end of the interval, in NPS points.",
        "example_comments": (
            "Up to three distinct comments of problem responses (personal data redacted), "
            "those the model was surest about first."
        ),
        "model_version": (
            "Model whose root causes the row counts; every model that scored the counted "
            "responses, oldest first, separated by ', ', when the period straddles a promotion "
            "whose earlier dates were not re-scored (`backfill --rerun all` re-scores them)."
        ),
        "schema_version": _SCHEMA_VERSION_TEXT,
        "source": _SOURCE_TEXT,
        "csat_not_estimated": (
            "Why the csat estimates (csat_lost_per_response, csat_points_lost and their "
            "intervals) are null: 'no response has a csat'; 'no responses without the problem to "
            "compare with (0 with a csat; 5 needed)' or 'too few responses without the problem "
            "to compare with (C with a csat; 5 needed)' (the problem responses are enough, the "
            "comparable ones are not: every response of the policy and queue in the period has "
            "the problem); or 'too few responses: P with the problem and C without have a csat "
            "(5 of each are needed)'. Null where they are estimated. Null in rows of version 3 "
            "and before."
        ),
        "nps_not_estimated": (
            "Why nps_points_lost and its interval are null, as csat_not_estimated says it for "
            "the csat ones ('... have an nps'). Null in rows of version 3 and before."
        ),
    },
    version=FIX_LIST_VERSION,
    history=(
        "1: first published layout.",
        "2: `source` column; a source partitioned by month has monthly periods.",
        "3: model_version names every model whose root causes the row counts, not the newest only.",
        "4: no estimate from fewer than 5 problem or 5 comparable responses with the score: "
        "the points are null like their intervals (a window of one problem response showed "
        "1.0 csat points and 50 NPS points); added csat_not_estimated and nps_not_estimated, "
        "saying why an estimate is null.",
    ),
)

AGENT_OUTCOMES_CONTRACT = TableContract(
    name="agent_outcomes",
    path="marts/agent_outcomes",
    description=(
        "A fair view of each agent, week by week: handle time beside first-contact resolution "
        "(did the customer contact the same queue again within the return window? Without "
        "customer ids: did the source's own flag record the contact resolved?), so a long "
        "call that resolved reads as good service and a quick transfer that bounced reads as "
        "the failure it is. Negatives are split by the model's root cause: those a policy failure "
        "caused (the operation broke) and the perceived ones (the policy was followed and "
        "explained, and the customer expected something else), with the policy most of the "
        "perceived ones are about: neither kind is as such the agent's doing, and an agent "
        "who takes a policy's calls takes its complaints. Agent ids are pseudonymous (a keyed "
        "hash) unless the source says otherwise. Sort by first_contact_resolution, never by "
        "handle time alone."
    ),
    grain="one row per week and agent who handled a contact that started in the week",
    schema=AGENT_OUTCOMES_SCHEMA,
    descriptions={
        "survey_date": _WEEK_PARTITION_TEXT,
        "week_start": (
            "Monday of the week (business-local start dates of the contacts); the month's "
            "first day for a source partitioned by month."
        ),
        "week_end": "Sunday of the week (the month's last day for a monthly source).",
        "agent": (
            "The agent: 'agent-' and 12 hex characters of a keyed hash (HMAC-SHA256) of the "
            "source's agent id, stable across weeks; the key lives in the settings, never in "
            "the data directory. A configured source's is the agent_id of its clean layer "
            "(clean/responses, clean/contacts: the same pseudonym, so a row drills down to its "
            "contacts); the sample's clean layer keeps the ids as delivered. Null when the "
            "source records no agents."
        ),
        "agent_ids": (
            "'pseudonymous' (keyed hash), 'as recorded' (the source allows its ids to be "
            "shown) or 'none recorded' (the source has no agents, e.g. a complaints database)."
        ),
        "status": (
            "'judged'; 'not settled yet' (enough contacts, settled or not, but fewer settled "
            "ones than `SERVICELENS_MIN_AGENT_CONTACTS`, 20 by default: their return windows "
            "are still open or not yet covered by the contact history, so later dates settle "
            "them; not judged yet); 'too few contacts' (fewer contacts counted by "
            "first_contact_resolution, settled ones or flagged ones as fcr_measure says, than "
            "that minimum, and no more to settle: do not judge the agent on this "
            "week); 'no customer id' (none of the week's contacts carries a customer id or a "
            "resolved flag, so a customer coming back cannot be recognised: no contact ever "
            "settles and first-contact resolution cannot be measured, however many contacts "
            "there are; map the export's customer id column as customer_id in the source "
            "definition's [columns], or its resolved-on-first-contact column as "
            "resolved_first_contact); 'no agent recorded'."
        ),
        "contacts": "Contacts the agent handled that started in the week (surveyed or not).",
        "median_handle_seconds": (
            "Median seconds on a contact, of the contacts with a handle time "
            "(contacts_with_handle_time of them); null when none has. Long is not bad: read it "
            "with first_contact_resolution. A median cannot be rolled up exactly: across agents "
            "or weeks, sum(median_handle_seconds * contacts_with_handle_time) / "
            "sum(contacts_with_handle_time) is a weighted mean of medians, an approximation (the "
            "median of all their contacts needs handle_seconds from feedback_scored); not "
            "weighted by contacts, which count contacts without a handle time."
        ),
        "transfers_per_contact": (
            "Mean transfers of the contacts with a transfer count (contacts_with_transfers of "
            "them); null when none has. Across agents and weeks: sum(transfers_per_contact * "
            "contacts_with_transfers) / sum(contacts_with_transfers), the mean over those "
            "contacts. Not weighted by contacts (they count contacts without a transfer count), "
            "and not a plain average of the means."
        ),
        "settled_contacts": (
            "Contacts whose return window has passed and is covered by the contact history: "
            "the ones first_contact_resolution counts (a return inside a window still open "
            "waits with the rest, or the share would lean towards returns). Abandoned calls "
            "(clean/contacts' abandoned) are not counted: no one handled them. Rows of "
            "version 10 and before counted them."
        ),
        "came_back": (
            "Settled contacts whose customer contacted the same queue again within the return "
            "window."
        ),
        "first_contact_resolution": (
            "Share (0-1) of the agent's contacts resolved at first contact, by the measure "
            "fcr_measure names. 'no repeat contact' (observed, wherever the contacts carry "
            "customer ids): 1 - came_back / settled_contacts, the settled contacts whose "
            "customer did not come back within the return window. 'resolved flag' (reported, "
            "only where no contact carries a customer id): flagged_resolved / "
            "flagged_contacts, the contacts the source's own flag (resolved_first_contact, "
            "e.g. a call log's Resolved Y/N) records as resolved. Where both exist the "
            "observed measure is shown: the field's definition is a contact that resolved the "
            "problem with no repeat contact within a window, and the flag is "
            + _RESOLVED_ANSWER_TEXT
            + ", not a return seen; the flag's share stays readable beside it "
            "(flagged_resolved / flagged_contacts). Null when no "
            "contact is counted. Across agents and weeks: sum of the resolved over sum of the "
            "counted, per measure (servicelens query handle_time_vs_resolution)."
        ),
        "fcr_provisional": (
            "True while some of the week's contacts are not settled: first_contact_resolution "
            "can still change as later interactions arrive (the partition is re-derived then). "
            "False for the 'resolved flag' measure: a flag is final when recorded."
        ),
        "return_window_days": (
            "Days after a contact within which a contact of the same customer and queue counts "
            "as coming back (`SERVICELENS_RETURN_WINDOW_DAYS`, 7 by default)."
        ),
        "responses": "Survey responses about the agent's contacts of the week.",
        "mean_csat": (
            "Mean csat of those responses that have one (csat_responses of them); null when "
            "none has. Across agents and weeks: sum(mean_csat * csat_responses) / "
            "sum(csat_responses), which is avg(csat) over their responses in feedback_scored. "
            "Not weighted by responses (rows without a csat count), and not a plain average "
            "of the means."
        ),
        "negatives": "Of those responses, the ones " + _NEGATIVE_RULE_TEXT + ".",
        "negatives_policy_failure": (
            "Negatives the model called 'policy_failure': a policy failed the customer (the "
            "operation broke), not the agent's doing. Null before any model scored them."
        ),
        "negatives_other": (
            "The perceived negatives: those the model called 'perceived' (the policy was "
            "followed and explained, and the customer expected something else: fixed by how "
            "expectations are set, not as such the agent's doing; top_perceived_policy names "
            "the policy most are about), and in a week straddling the first model, the "
            "negatives it did not score. negatives - negatives_policy_failure. Named 'other' "
            "since version 1: a column is never renamed, so BI reading it keeps working. Null "
            "before any model scored them."
        ),
        "model_version": (
            "Model whose root causes split the negatives (null before one exists); every model "
            "that scored the week's responses, oldest first, separated by ', ', when the week "
            "straddles a promotion whose earlier dates were not re-scored."
        ),
        "schema_version": _SCHEMA_VERSION_TEXT,
        "source": _SOURCE_TEXT,
        "csat_responses": (
            "Responses about the agent's contacts of the week with a csat: the rows mean_csat "
            "is over, and its weight when rolling it up (sum(mean_csat * csat_responses) / "
            "sum(csat_responses)). Null in rows of version 5 and before (rebuilt with their "
            "week by the next run of the source)."
        ),
        "contacts_with_handle_time": (
            "Contacts of the week with a handle time: the ones median_handle_seconds is over, "
            "and its weight when rolling it up (an approximation: see median_handle_seconds). "
            "Null in rows of version 6 and before (rebuilt with their week by the next run of "
            "the source)."
        ),
        "contacts_with_transfers": (
            "Contacts of the week with a transfer count: the ones transfers_per_contact is "
            "over, and its weight when rolling it up (sum(transfers_per_contact * "
            "contacts_with_transfers) / sum(contacts_with_transfers)). Null in rows of version 6 "
            "and before (rebuilt with their week by the next run of the source)."
        ),
        "fcr_measure": (
            "Which measure first_contact_resolution is: 'no repeat contact' (observed: some "
            "contact of the agent-week carries a customer id, so returns are followed), "
            "'resolved flag' (reported: no customer id, and the source maps its own "
            "resolved_first_contact flag), or null (neither: status 'no customer id', or "
            "an agent only responses name). Null in rows of version 7 and before, whose "
            "measure is 'no repeat contact'."
        ),
        "flagged_contacts": (
            "Contacts of the week whose source's own resolved flag (resolved_first_contact) "
            "says yes or no, abandoned calls left out (the agent is not charged for a call "
            "abandoned before it reached anyone: first-contact resolution is over handled "
            "contacts, SQM Group's and ICMI's definition); 0 for a source that maps none. The "
            "weight of the flag's share when rolling it up. Null in rows of version 7 and "
            "before; rows of version 10 and before count abandoned calls too."
        ),
        "flagged_resolved": (
            "Of flagged_contacts, those the flag records as resolved: flagged_resolved / "
            "flagged_contacts is the source's reported first-contact resolution, the measure "
            "where fcr_measure is 'resolved flag', and beside the observed one otherwise "
            "(a reported share far above it: contacts closed as resolved whose customers "
            "came back). Null in rows of version 7 and before."
        ),
        "ratings": (
            "Responses about the agent's contacts of the week with a two-level rating (good "
            "or bad: a Zendesk satisfaction "
            "rating), the denominator of satisfied_share; 0 for a source without one. A survey "
            "only offered is not a rating (it is set aside, in quarantine). Null in rows of "
            "version 8 and before."
        ),
        "satisfied": ("Of ratings, those rated good. Null in rows of version 8 and before."),
        "satisfied_share": (
            "satisfied / ratings, from 0 to 1: Zendesk's satisfaction score (good / (good + "
            "bad)); null where nothing was rated. Across agents and weeks: sum satisfied and "
            "ratings, "
            "then divide; never average the shares."
        ),
        "top_perceived_policy": (
            "The policy (policy_code) most of the agent-week's perceived negatives (the model's "
            "'perceived') are about; ties: the first by name. Read an agent's perceived "
            "negatives with it: a billing agent who takes the calls about a price rise takes "
            "its complaints (a trial's agent had 74 and 88 a week, every one about the price "
            "rise). Null without a perceived negative with a policy code, and in rows of "
            "version 10 and before."
        ),
        "top_perceived_policy_share": (
            "Share (0-1) of negatives_other (the agent-week's perceived negatives; those "
            "without a policy code count) that top_perceived_policy is about: "
            "top_perceived_policy_share * negatives_other is that policy's count, to sum "
            "across weeks. Null where top_perceived_policy is."
        ),
    },
    version=AGENT_OUTCOMES_VERSION,
    history=(
        "1: first published layout.",
        "2: `source` column; a source partitioned by month has monthly periods.",
        "3: a contact is settled once its return window has passed, whether or not the "
        "customer came back; came_back counts settled contacts only.",
        "4: model_version names every model whose root causes the row counts, not the "
        "commonest only.",
        "5: status 'no customer id' for an agent-week whose contacts carry no customer id "
        "(they read 'too few contacts', as if later dates would settle them).",
        "6: added csat_responses (the rows mean_csat is over: its weight across agents and weeks).",
        "7: added contacts_with_handle_time and contacts_with_transfers (the contacts "
        "median_handle_seconds and transfers_per_contact are over: their weights across agents "
        "and weeks; contacts count those an export left without either).",
        "8: added fcr_measure, flagged_contacts and flagged_resolved: where no contact carries "
        "a customer id, first_contact_resolution is the share the source's own resolved flag "
        "(resolved_first_contact) records as resolved (it was null, status 'no customer id').",
        "9: added ratings, satisfied and satisfied_share (a two-level rating's satisfaction "
        "score, good / rated, per agent: a Zendesk source's report showed none).",
        "10: a configured source's agent is the pseudonym its clean layer holds (rows of "
        "version 9 and before hashed that pseudonym again, so they named no agent of the "
        "clean layer); rebuilt by the next run.",
        "11: status 'not settled yet' for an agent-week with enough contacts but too few "
        "settled (it read 'too few contacts' at 296-499 contacts, 0 settled); added "
        "top_perceived_policy and top_perceived_policy_share (the policy most of the "
        "agent-week's perceived negatives are about); negatives_other is described as the "
        "perceived negatives it holds, not 'the rest'; abandoned calls (the source's "
        "abandoned flag) are left out of settled_contacts, came_back, flagged_contacts and "
        "flagged_resolved, so first_contact_resolution is over handled contacts (an agent was "
        "charged an unresolved call for each call abandoned before it reached anyone); rebuilt "
        "by the next run.",
    ),
)

_FEEDBACK = FEEDBACK_SCORED_CONTRACT.descriptions
_LINE_TEXT = (
    "Physical line of the row in its delivery (1 is a CSV's header; a workbook's row as "
    "Excel shows it; a JSON record's place in its list where records share a line)."
)

CLEAN_RESPONSES_CONTRACT = TableContract(
    name="clean/responses",
    path="clean/responses",
    description=(
        "The clean layer the marts are built from: every valid, de-duplicated survey response "
        "of the date joined to its contact-centre interaction, typed, before any model scored "
        "it. Read it for the facts feedback_scored leaves out (customer_id, agent_id, "
        "started_at, the source's label, each row's file and line); join to feedback_scored "
        "on source and response_id. Unversioned: its columns only grow, and a partition "
        "written before a column existed reads it as null (`union_by_name = true`)."
    ),
    grain=(
        "one row per valid response (response_id unique within its source and date; "
        "feedback_scored has the same rows)"
    ),
    schema=CLEAN_RESPONSE_SCHEMA,
    descriptions={
        **{name: _FEEDBACK[name] for name in CLEAN_RESPONSE_SCHEMA if name in _FEEDBACK},
        "survey_date": _FEEDBACK["survey_date"],
        "customer_id": (
            "The customer's id as the interaction export (or the source) gave it; null when "
            "none. Repeat contacts and first-contact resolution are counted by it."
        ),
        "agent_id": (
            "The agent who handled the interaction: as delivered for the generated sample; a "
            "configured source's as a keyed pseudonym ('agent-' and 12 hex characters) unless "
            "its definition says pseudonymise_agents = false. Null when none recorded."
        ),
        "started_at": "When the interaction started, in UTC.",
        "fee_allowed": (
            "The fee the interaction's policy allows (raw/reference/policies.csv); null for a "
            "source without a policy table. fee_excess = fees_charged - fee_allowed, at least 0."
        ),
        "source_file": (
            "Path of the delivery (raw file) the row was read from: the one whose copy of the "
            "response is in force, which brought it as it is now. A later delivery repeating "
            "it unchanged (a cumulative export: Google Forms, Microsoft Forms, a Zendesk "
            "download) is not named here: it is counted in the landed partition's "
            "_manifest.json (unchanged_copies, by delivery, naming this one)."
        ),
        "source_line": _LINE_TEXT,
        "label": (
            "The root cause the source's own data gives the row ('policy_failure' or "
            "'perceived', e.g. CFPB's company response mapped by its definition's [label]); "
            "null where it gives none. QA audits are not here (audits/)."
        ),
        RESOLVED_FLAG: (
            "Whether the contact resolved the problem, yes or no: "
            + _RESOLVED_ANSWER_TEXT
            + "; null when not mapped or not given."
        ),
        ABANDONED: _ABANDONED_TEXT + " Null when not mapped or not given.",
    },
    version=None,
)

CONTACTS_CONTRACT = TableContract(
    name="clean/contacts",
    path="clean/contacts",
    description=(
        "Every contact of the date, surveyed or not: the history repeat contacts "
        "(repeat_contacts_30d) and the agents' first-contact resolution (agent_outcomes) are "
        "derived from. The sample's partition is the day's interaction export "
        "(raw/<day>/interactions.jsonl: the interactions that started that business day); a "
        "configured source's are its clean responses' interactions or, where its [interactions] "
        "feed maps customer_id, every ticket the feed dates that day, rated or not, and the "
        "rated ones the feed lacks. "
        "Unversioned: its columns "
        "only grow."
    ),
    grain=(
        "one row per interaction of the date's export (a source's: per clean response, or "
        "per ticket of its feed)"
    ),
    schema=CONTACT_SCHEMA,
    descriptions={
        "survey_date": (
            "The day of the interaction export (a source's: of its responses); the partition key."
        ),
        "interaction_id": "The contact-centre interaction's id.",
        "customer_id": (
            "The customer's id; null when the export has none (then no return can be "
            "recognised: agent_outcomes' status 'no customer id')."
        ),
        "agent_id": (
            "The agent who handled it: as delivered for the generated sample, a keyed pseudonym "
            "for a configured source (as in clean/responses)."
        ),
        "queue": _QUEUE_TEXT,
        "policy_code": "Policy the interaction was about.",
        "started_at": "When the interaction started, in UTC.",
        "handle_seconds": "Seconds a person spent on the contact; null when not known.",
        "transfers": "How many times the contact was transferred; null when not known.",
        RESOLVED_FLAG: (
            "Whether the contact resolved the problem, yes or no: "
            + _RESOLVED_ANSWER_TEXT
            + "; null for the sample's interaction exports (they carry none) and in partitions "
            "written before the column existed."
        ),
        ABANDONED: _ABANDONED_TEXT
        + " Null for the sample's interaction exports (they carry none), where the source "
        "does not map it, and in partitions written before the column existed.",
    },
    version=None,
)

#: ``processed_dates`` (sql/views.sql): a view of the feedback_scored partitions' manifests
#: and the per-date run records, not a table with files.
PROCESSED_DATES_SCHEMA: dict[str, pl.DataType] = {
    "survey_date": pl.Date(),
    "source": pl.String(),
    "granularity": pl.String(),
    "rows_read": pl.Int64(),
    "rows_kept": pl.Int64(),
    "rows_quarantined": pl.Int64(),
    "negatives_scored": pl.Int64(),
    "model_version": pl.String(),
    "flow": pl.String(),
    "run_id": pl.String(),
    "written_at": pl.Datetime("us", "UTC"),
    "last_run_outcome": pl.String(),
    "last_run_finished_at": pl.Datetime("us", "UTC"),
    "last_run_error": pl.String(),
    "rows_superseded": pl.Int64(),
    "rows_set_aside": pl.Int64(),
    "rows_rejected": pl.Int64(),
    "rows_undated": pl.Int64(),
    "rows_erased": pl.Int64(),
}

PROCESSED_DATES_CONTRACT = TableContract(
    name="processed_dates",
    path="",
    description=(
        "The reconciliation view: one row per source and date (a monthly source: month) a "
        "run published, with what it read, kept and quarantined, which run and model, and "
        "when; and a row for a date run but never published (every run of it failed), from "
        "its run record alone. A date processed that kept nothing has a row (rows_kept 0) "
        "and none in feedback_scored; a date never delivered or not run yet has none. "
        "rows_read = rows_kept + rows_quarantined + rows_erased on every published row."
    ),
    grain="one row per source and survey date (or month) a run published or tried to",
    schema=PROCESSED_DATES_SCHEMA,
    descriptions={
        "survey_date": "The date (a monthly source: the month's first day).",
        "source": _SOURCE_TEXT,
        "granularity": (
            "'day' or 'month' (the source's partition); null for a date never published."
        ),
        "rows_read": "Survey rows read for the date (kept + quarantined + erased).",
        "rows_kept": "Rows kept: the date's rows in clean/responses and feedback_scored.",
        "rows_quarantined": (
            "Rows quarantined (rows_superseded + rows_set_aside + rows_rejected)."
        ),
        "negatives_scored": "Negatives a model scored (0 before any model existed).",
        "model_version": "The model that scored the date (models/<version>/); null when none.",
        "flow": (
            "What published the partition: nightly (the nightly run, `servicelens run`), "
            "backfill (a backfill, of the sample or of a configured source), as its date's "
            "flow run is named (flows/run_names.py), or erase (an erasure rewrote it)."
        ),
        "run_id": "The run that published it (its manifest's run id).",
        "written_at": "When the partition was published, in UTC.",
        "last_run_outcome": (
            "The outcome of the date's newest run (runs/survey_date=<date>.json): "
            "'completed', 'failed', ...; a failed re-run leaves the published counts above "
            "as they were. Null where no outcome was recorded."
        ),
        "last_run_finished_at": "When that run finished, in UTC; null as last_run_outcome.",
        "last_run_error": "Why that run failed; null unless last_run_outcome is 'failed'.",
        "rows_superseded": (
            "Of rows_quarantined, earlier copies a later line or delivery replaced (the "
            "quarantine's superseded rows): nothing wrong with them."
        ),
        "rows_set_aside": (
            "Of rows_quarantined, rows the source definition's [[exclude]] rules set aside "
            "(a Zendesk survey offered and never answered, or never sent), not counting "
            "earlier copies among them: nothing wrong with them, so not rejects. Null for "
            "partitions run before they were counted (there they are among rows_rejected)."
        ),
        "rows_rejected": (
            "Of rows_quarantined, rows rejected in their own right: neither superseded nor "
            "set aside (a malformed record, a failed check)."
        ),
        "rows_undated": (
            "Of rows_read, rows filed under the date only as their delivery's day (the date "
            "its file name holds, else the day most of its rows fall on, else the day it was "
            "landed), their own submitted_at unreadable (empty, a format the definition does "
            "not read, a summary row, a malformed record): rows_read = rows_undated is a date "
            "none of whose rows gives a date of its own. Null for partitions run or landed "
            "before it was counted."
        ),
        "rows_erased": (
            "Of rows_read, rows of subjects erased on request (servicelens erase, or left out "
            "by a later run for being on the erasure list): in neither rows_kept nor "
            "rows_quarantined. 0 for a date never erased (and for partitions written before "
            "erasures were counted); null for a date never published."
        ),
    },
    version=None,
    view_of=(
        "the `_manifest.json` beside each feedback_scored partition (the sample's and every "
        "source's) and the per-date run records (`runs/survey_date=<date>.json`)"
    ),
)

#: The marts rebuilt whole, week by week (a monthly source: month by month), by every run
#: that runs a date of their source (``servicelens.outcomes.publish_weekly_marts``).
WEEKLY_TABLES = (FIX_LIST_CONTRACT.name, AGENT_OUTCOMES_CONTRACT.name)

#: Every table BI is invited to read, in the order the data dictionary lists them.
PUBLISHED_TABLES: tuple[TableContract, ...] = (
    FEEDBACK_SCORED_CONTRACT,
    DAILY_SUMMARY_CONTRACT,
    QUARANTINE_CONTRACT,
    REVIEW_QUEUE_CONTRACT,
    FIX_LIST_CONTRACT,
    AGENT_OUTCOMES_CONTRACT,
)

#: Every table and view the data dictionary documents, in its order: the published tables,
#: the reconciliation view, then the clean layer BI reads for the facts the marts leave out.
DOCUMENTED_TABLES: tuple[TableContract, ...] = (
    *PUBLISHED_TABLES,
    PROCESSED_DATES_CONTRACT,
    CLEAN_RESPONSES_CONTRACT,
    CONTACTS_CONTRACT,
)
