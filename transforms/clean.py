"""Cleaning as pure functions of frames: no paths, no environment, no Prefect.

Raw text columns become typed columns here. A value that is present but cannot be parsed
becomes :data:`UNPARSEABLE` (scores) or null (timestamps) while the raw text is kept beside it
as ``<column>_raw``, so validation can reject the row and say exactly which value was wrong.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from transforms.schemas import CHANNELS, NEGATIVE_CSAT_MAX, RAW_INTERACTION_SCHEMA

#: Marks a score that was present in the export but is not a number; always out of range.
UNPARSEABLE = -1

#: Spellings seen in vendor exports, mapped to the canonical channel.
CHANNEL_ALIASES: dict[str, str] = {
    "voice": "phone",
    "tel": "phone",
    "telephone": "phone",
    "call": "phone",
    "live chat": "chat",
    "livechat": "chat",
    "webchat": "chat",
    "e-mail": "email",
    "mail": "email",
    "in-store": "store",
    "instore": "store",
    "in store": "store",
    "shop": "store",
    "web form": "web",
    "webform": "web",
    "online": "web",
    "website": "web",
}

#: Columns whose raw text is kept next to the parsed value for error messages.
PARSED_SURVEY_COLUMNS: tuple[str, ...] = (
    "submitted_at",
    "channel",
    "csat",
    "nps",
    "effort",
    "delivered_at",
)


def normalised_channel(column: str = "channel") -> pl.Expr:
    """Lower-case, trim and collapse a channel, then map known aliases to the canonical name."""
    text = pl.col(column).str.strip_chars().str.to_lowercase().str.replace_all(r"\s+", " ")
    return text.replace(CHANNEL_ALIASES).alias(column)


def parsed_score(column: str) -> pl.Expr:
    """Parse a score written as ``4``, `` 4 `` or ``4 - Satisfied``.

    Empty means missing (null); anything else that is not a leading integer is UNPARSEABLE.
    """
    text = pl.col(column).str.strip_chars()
    number = text.str.extract(r"^(-?\d+)(?:\s*-.*)?$").cast(pl.Int16, strict=False)
    return (
        pl.when(text.is_null() | (text == ""))
        .then(None)
        .otherwise(number.fill_null(UNPARSEABLE).clip(-1, 127))
        .cast(pl.Int8)
        .alias(column)
    )


def parsed_timestamp(column: str, timezone: str) -> pl.Expr:
    """Parse ISO timestamps with an offset, a ``Z``, or none (taken as ``timezone``) to UTC."""
    text = pl.col(column).str.strip_chars().str.replace(r"[Zz]$", "+00:00").str.replace(" ", "T")
    with_offset = text.str.to_datetime(
        "%Y-%m-%dT%H:%M:%S%.f%:z", strict=False, time_zone="UTC", time_unit="us"
    )
    naive = (
        text.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="us")
        .dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null")
        .dt.convert_time_zone("UTC")
    )
    return pl.coalesce(with_offset, naive).alias(column)


def normalised_text(column: str) -> pl.Expr:
    """Drop control characters, collapse whitespace, and make empty text null."""
    text = (
        pl.col(column)
        .str.replace_all(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", "")
        .str.replace_all(r"\s+", " ")
        .str.strip_chars()
    )
    return pl.when(text == "").then(None).otherwise(text).alias(column)


def safe_comment(column: str = "comment") -> pl.Expr:
    """A comment as plain text that no BI tool or spreadsheet will run.

    Script and style blocks go entirely, other HTML tags are dropped (their text stays), and
    text that starts like a spreadsheet formula (``=HYPERLINK(...)``, ``+``, ``-``, ``@``) gets
    a leading apostrophe, the usual defence against CSV injection. Then as
    :func:`normalised_text`.
    """
    text = (
        pl.col(column)
        .str.replace_all(r"(?is)<(script|style)\b.*?(?:</(?:script|style)\s*>|$)", " ")
        .str.replace_all(r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?/?>", " ")
        .str.replace_all(r"<!--.*?-->", " ")
    )
    stripped = (
        text.str.replace_all(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", "")
        .str.replace_all(r"\s+", " ")
        .str.strip_chars()
    )
    defused = pl.when(stripped.str.contains(r"^[=+\-@]")).then("'" + stripped).otherwise(stripped)
    return pl.when(stripped == "").then(None).otherwise(defused).alias(column)


def normalise_surveys(raw: pl.DataFrame, timezone: str, survey_date: date) -> pl.DataFrame:
    """Type a raw survey batch: every column parsed, raw text kept as ``<column>_raw``."""
    raw_copies = [pl.col(name).alias(f"{name}_raw") for name in PARSED_SURVEY_COLUMNS]
    return raw.with_columns(raw_copies).with_columns(
        normalised_text("response_id"),
        normalised_text("interaction_id"),
        parsed_timestamp("submitted_at", timezone),
        parsed_timestamp("delivered_at", timezone),
        normalised_channel("channel"),
        parsed_score("csat"),
        parsed_score("nps"),
        parsed_score("effort"),
        safe_comment("comment"),
        normalised_text("language").str.to_lowercase(),
        pl.lit(survey_date).alias("survey_date"),
    )


def split_superseded_deliveries(surveys: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Keep the latest delivery of each response; return (kept, superseded).

    A vendor re-delivers a response with a later ``delivered_at`` when it changes; the latest
    wins. Exact copies (same id and delivery time, same content) collapse to the last line.
    Two *different* responses with the same id and delivery time are a real conflict and are
    both kept here, for validation to reject.
    """
    content = [c for c in surveys.columns if c not in ("source_file", "source_line")]
    ranked = surveys.with_columns(
        pl.col("delivered_at")
        .rank("dense", descending=True)
        .over("response_id")
        .fill_null(1)
        .alias("_delivery_rank"),
        pl.struct(content).hash().alias("_content"),
    ).with_columns(
        (
            pl.col("source_line")
            == pl.col("source_line").max().over("response_id", "delivered_at", "_content")
        ).alias("_last_copy"),
    )
    # Rows without an id cannot be matched to each other; validation rejects them instead.
    superseded = pl.col("response_id").is_not_null() & (
        (pl.col("_delivery_rank") > 1) | ~pl.col("_last_copy")
    )
    helpers = ["_delivery_rank", "_content", "_last_copy"]
    latest_line = (
        ranked.filter(pl.col("_delivery_rank") == 1)
        .group_by("response_id")
        .agg(pl.col("source_line").max().alias("superseded_by_line"))
    )
    gone = ranked.filter(superseded).drop(helpers).join(latest_line, "response_id", "left")
    return ranked.filter(~superseded).drop(helpers), gone


def prepare_interactions(raw: pl.DataFrame, timezone: str) -> pl.DataFrame:
    """Type the interaction export and keep one row per interaction (the last one read)."""
    return (
        raw.with_columns(
            normalised_text("interaction_id"),
            parsed_timestamp("started_at", timezone),
            normalised_text("queue").str.to_lowercase(),
            normalised_text("policy_code").str.to_uppercase(),
            normalised_text("resolution").str.to_lowercase(),
            pl.col("transfers").cast(pl.Int16, strict=False),
            pl.col("prior_contacts").cast(pl.Int16, strict=False),
        )
        .filter(pl.col("interaction_id").is_not_null())
        .unique("interaction_id", keep="last", maintain_order=True)
    )


#: The interaction facts a survey gains by the join: the contract's columns but the key.
INTERACTION_COLUMNS: tuple[str, ...] = tuple(
    name for name in RAW_INTERACTION_SCHEMA if name != "interaction_id"
)


def join_interactions(surveys: pl.DataFrame, interactions: pl.DataFrame) -> pl.DataFrame:
    """Attach each survey's interaction facts; ``has_interaction`` says whether one was found."""
    facts = interactions.select(
        "interaction_id", *INTERACTION_COLUMNS, pl.lit(True).alias("has_interaction")
    )
    return surveys.join(facts, "interaction_id", "left").with_columns(
        pl.col("has_interaction").fill_null(False)
    )


def with_policy_facts(responses: pl.DataFrame, policies: pl.DataFrame) -> pl.DataFrame:
    """Add the fee the policy allows and how far the charged fee exceeds it."""
    allowed = policies.select(
        pl.col("policy_code").str.strip_chars().str.to_uppercase(),
        pl.col("fee_allowed").cast(pl.Float64, strict=False).alias("fee_allowed"),
    ).unique("policy_code", keep="last")
    return responses.join(allowed, "policy_code", "left").with_columns(
        (pl.col("fees_charged").fill_null(0.0) - pl.col("fee_allowed").fill_null(0.0))
        .clip(lower_bound=0.0)
        .alias("fee_excess")
    )


def is_negative() -> pl.Expr:
    """A response gets a root cause when its CSAT is at or below the negative threshold."""
    return (pl.col("csat") <= NEGATIVE_CSAT_MAX).alias("is_negative")


def known_channel() -> pl.Expr:
    """True when the channel is one of the canonical channels."""
    return pl.col("channel").is_in(CHANNELS)
