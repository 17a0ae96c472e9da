"""Data contracts: every raw, clean and mart table's columns and types, in one place.

Readers use the raw contracts to know what a source must carry; writers cast to the clean and
mart schemas before anything reaches disk; tests assert them. Changes to mart schemas are
additive only.
"""

from __future__ import annotations

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
    "top_reasons": pl.List(pl.String()),  # features that pushed hardest towards root_cause
}

#: The responses most worth auditing next: unaudited ones the model is least sure of, and
#: audited ones whose label the model strongly doubts (out-of-fold), most urgent first.
REVIEW_QUEUE_SCHEMA: dict[str, pl.DataType] = {
    "survey_date": pl.Date(),
    "response_id": pl.String(),
    "reason": pl.String(),  # uncertain | label_doubt
    "priority": pl.Float64(),  # higher = audit sooner
    "p_policy_failure": pl.Float64(),  # the model's (out-of-fold for label_doubt) probability
    "audit_label": pl.String(),  # the current QA label (label_doubt only)
    "queue": pl.String(),
    "policy_code": pl.String(),
    "comment": pl.String(),
    "top_reasons": pl.List(pl.String()),
    "model_version": pl.String(),
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
