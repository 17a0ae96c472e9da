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
#: A response is negative (and so gets a root cause) at or below this CSAT.
NEGATIVE_CSAT_MAX = 2

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
}

# --- quarantine: every rejected row, with where it came from and every reason ------------------

QUARANTINE_SCHEMA: dict[str, pl.DataType] = {
    "survey_date": pl.Date(),
    "source": pl.String(),  # surveys | interactions
    "source_file": pl.String(),
    "source_line": pl.Int64(),
    "record_id": pl.String(),  # response_id or interaction_id as read (may be null)
    "reasons": pl.List(pl.String()),
    "raw_record": pl.String(),  # the row's raw values as JSON, for re-processing
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


# --- published contracts: what each table BI reads means, column by column ------------------
#
# The column names and types above are the contract; this section adds what a reader needs to
# not misread them. Tests check that every column has a description, that the generated data
# dictionary (docs/data_dictionary.md) matches, and that files on disk match the types. Changes
# are additive: append a column, bump the table's version, and say what changed in `history`.

#: The version of each mart's contract, written into every row's ``schema_version``.
FEEDBACK_SCORED_VERSION = 2
DAILY_SUMMARY_VERSION = 2


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


_SCHEMA_VERSION_TEXT = (
    "Version of this table's contract that wrote the row (see the version history). Null in "
    "rows written before the column existed."
)

FEEDBACK_SCORED_CONTRACT = TableContract(
    name="feedback_scored",
    path="marts/feedback_scored",
    description=(
        "Every valid survey response joined to its contact-centre interaction, with the model's "
        "root cause for the negative ones (csat <= 2)."
    ),
    grain="one row per valid response (response_id is unique across all partitions)",
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
        "queue": "Contact-centre queue that handled the interaction.",
        "policy_code": "Policy the interaction was about (see raw/reference/policies.csv).",
        "language": "Language of the survey as the vendor reported it.",
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
        "comment": "What the customer wrote, control characters removed.",
        "is_negative": "True when csat <= 2: only negative responses get a root cause.",
        "root_cause": (
            "Model's verdict for negative responses: 'policy_failure' (something broke: fix the "
            "operation) or 'perceived' (the policy worked as designed: fix how expectations are "
            "set). Null for non-negative responses or before any model existed."
        ),
        "p_policy_failure": (
            "Calibrated probability that the negative response is a real policy failure; "
            "root_cause is 'policy_failure' when it is >= 0.5. Null where root_cause is null."
        ),
        "needs_review": (
            "True when the model is unsure (probability inside the review band): send to QA "
            "rather than act on root_cause alone."
        ),
        "model_version": "Version of the model that scored the row (models/<version>/).",
        "schema_version": _SCHEMA_VERSION_TEXT,
    },
    version=FEEDBACK_SCORED_VERSION,
    history=(
        "1: first published layout.",
        "2: added schema_version.",
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
        "queue": "Contact-centre queue.",
        "policy_code": "Policy the interactions were about.",
        "channel": "Survey channel.",
        "responses": "Valid responses in the group.",
        "negatives": "Responses with csat <= 2.",
        "policy_failures": "Negatives the model called 'policy_failure' (fix the operation).",
        "perceived": "Negatives the model called 'perceived' (fix how expectations are set).",
        "negative_share": "negatives / responses.",
        "policy_failure_share": (
            "policy_failures / negatives; null when the group had no negatives. Do not average "
            "shares across groups: sum the counts and divide."
        ),
        "mean_csat": "Mean csat of the group's responses.",
        "schema_version": _SCHEMA_VERSION_TEXT,
    },
    version=DAILY_SUMMARY_VERSION,
    history=(
        "1: first published layout.",
        "2: added schema_version.",
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
        "source": "Which export the row came from: 'surveys' or 'interactions'.",
        "source_file": "Path of the raw file, as read.",
        "source_line": "Physical line of the record in that file (1 is the header of a CSV).",
        "record_id": "response_id or interaction_id as read; null when it could not be read.",
        "reasons": (
            "Every reason the row was rejected, each '<column>: <raw value> <problem>' or a "
            "parse error naming the line."
        ),
        "raw_record": "The row's raw values as JSON (or the raw line), for re-processing.",
    },
    version=None,
)

#: Every table BI is invited to read, in the order the data dictionary lists them.
PUBLISHED_TABLES: tuple[TableContract, ...] = (
    FEEDBACK_SCORED_CONTRACT,
    DAILY_SUMMARY_CONTRACT,
    QUARANTINE_CONTRACT,
)
