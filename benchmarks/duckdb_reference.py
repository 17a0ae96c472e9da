"""REFERENCE ONLY: the pipeline as a data engineer who likes DuckDB would write it, in SQL.

Not used by servicelens. It is the stronger peer ``make bench`` compares with: DuckDB's own
CSV reader (bad lines kept in its rejects table), JSON lines read as text and decoded with
``json_valid`` / ``from_json`` (a truncated line is quarantined, not lost), the row rules and
the cleaning as SQL, window functions for superseded deliveries and conflicting ids, the
join to three days of interactions and to the policy reference, ``COPY ... TO`` Parquet, and
the champion model called as that engineer would call it: the model file loaded with
scikit-learn's own vectorisers (no native transform), probabilities and reasons from the
project's ``predict_with_reasons``, in chunks of 100k negatives.

"The same work" as the pipeline: the same kept and quarantined response ids (checked by
``python -m benchmarks.duckdb_reference --compare <dataset>`` after both have run), every
reason a row breaks, and the same columns in ``feedback_scored`` and ``daily_summary``.
Differences that remain, by design of a reference: a quarantined survey is named by its
record number (DuckDB's reader gives no line numbers for good rows; rejected lines do carry
theirs); comments are not redacted (no personal-data step); the review queue, contact
look-back (``repeat_contacts_30d`` counts the three days read) and early warning are not
built; the cross-date duplicate rule reads no other dates; no Great Expectations, no Data Docs.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.clock import StageClock
from transforms.clean import CHANNEL_ALIASES, HTML_TAG
from transforms.schemas import (
    CHANNELS,
    DAILY_SUMMARY_VERSION,
    FEEDBACK_SCORED_VERSION,
    NEGATIVE_CSAT_MAX,
    RAW_SURVEY_COLUMNS,
)

TIMEZONE = "Europe/London"
SCORING_CHUNK = 100_000
CONTROL = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
INTERACTION_TYPE = json.dumps(
    {
        "interaction_id": "VARCHAR",
        "customer_id": "VARCHAR",
        "agent_id": "VARCHAR",
        "queue": "VARCHAR",
        "policy_code": "VARCHAR",
        "started_at": "VARCHAR",
        "wait_seconds": "DOUBLE",
        "handle_seconds": "DOUBLE",
        "transfers": "SMALLINT",
        "prior_contacts": "SMALLINT",
        "sla_met": "BOOLEAN",
        "policy_disclosed": "BOOLEAN",
        "resolution": "VARCHAR",
        "fees_charged": "DOUBLE",
    }
)


def _utf8(path: Path, scratch: Path) -> Path:
    """The file itself when it is UTF-8; else a UTF-8 copy decoded as cp1252 (DuckDB reads
    only UTF-8)."""
    data = path.read_bytes()
    try:
        data.decode("utf-8")
        return path
    except UnicodeDecodeError:
        copy = scratch / path.name
        copy.write_text(data.decode("cp1252"), encoding="utf-8")
        return copy


def _text(column: str) -> str:
    """SQL for the pipeline's normalised text: control characters out, whitespace collapsed,
    empty as NULL."""
    cleaned = (
        f"trim(regexp_replace(regexp_replace({column}, '{CONTROL}', '', 'g'), '\\s+', ' ', 'g'))"
    )
    return f"nullif({cleaned}, '')"


def _score(column: str) -> str:
    stripped = f"trim({column})"
    number = f"TRY_CAST(regexp_extract({stripped}, '^(-?\\d+)(?:\\s*-.*)?$', 1) AS SMALLINT)"
    return (
        f"CASE WHEN {column} IS NULL OR {stripped} = '' THEN NULL "
        f"ELSE least(greatest(coalesce({number}, -1), -1), 127)::TINYINT END"
    )


def _timestamp(column: str) -> str:
    # ISO 8601 with an offset is an instant; without one, local time in the session's
    # time zone (Europe/London), as the pipeline reads it.
    iso = f"regexp_replace(regexp_replace(trim({column}), '[Zz]$', '+00:00'), ' ', 'T')"
    return f"TRY_CAST({iso} AS TIMESTAMPTZ)"


def _comment(column: str) -> str:
    text = (
        f"regexp_replace(regexp_replace(regexp_replace({column}, "
        "'(?is)<(script|style)\\b.*?(?:</(?:script|style)\\s*>|$)', ' ', 'g'), "
        f"'{HTML_TAG}', ' ', 'g'), '<!--.*?-->', ' ', 'g')"
    )
    # Line breaks kept (LF), as the pipeline keeps them; other whitespace collapsed.
    lf = "chr(10)"
    spaced = (
        f"regexp_replace(regexp_replace(regexp_replace({text}, '{CONTROL}', '', 'g'), "
        f"'\\r\\n?', {lf}, 'g'), '[^\\S\\n]+', ' ', 'g')"
    )
    broken = (
        f"regexp_replace(regexp_replace({spaced}, ' ?\\n ?', {lf}, 'g'), '\\n{{3,}}', "
        f"{lf} || {lf}, 'g')"
    )
    stripped = f"trim({broken}, ' ' || {lf})"
    return f"CASE WHEN {stripped} = '' THEN NULL ELSE {stripped} END"


def _quoted(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _reason(condition: str, column: str, raw: str, problem: str) -> str:
    shown = f"CASE WHEN {raw} IS NULL OR {raw} = '' THEN '(empty)' ELSE '''' || {raw} || '''' END"
    return f"CASE WHEN {condition} THEN '{column}: ' || {shown} || ' ' || {_quoted(problem)} END"


def run_day(con: Any, data_dir: Path, day: date, model: Any, clock: StageClock) -> dict[str, int]:
    raw = data_dir / "raw"
    out = data_dir / "duckdb_out"
    days = [day - timedelta(days=back) for back in (2, 1, 0)]
    interaction_files = [
        str(raw / d.isoformat() / "interactions.jsonl")
        for d in days
        if (raw / d.isoformat() / "interactions.jsonl").exists()
    ]
    survey_file = raw / day.isoformat() / "surveys.csv"
    with tempfile.TemporaryDirectory() as scratch, clock.stage("read"):
        csv = _utf8(survey_file, Path(scratch))
        columns = ", ".join(f"'{c}': 'VARCHAR'" for c in RAW_SURVEY_COLUMNS)
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE raw_surveys AS
            SELECT row_number() OVER () + 1 AS record, *
            FROM read_csv(?, header = true, columns = {{{columns}}}, quote = '"',
                          escape = '"', store_rejects = true, rejects_scan = 'survey_scans',
                          rejects_table = 'survey_rejects', parallel = true)
            """,
            [str(csv)],
        )
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE raw_interactions AS
            SELECT filename AS source_file, row_number() OVER (PARTITION BY filename) AS line,
                   text
            FROM read_csv(?, header = false, columns = {'text': 'VARCHAR'}, delim = '\x01',
                          quote = '', escape = '', filename = true, auto_detect = false)
            WHERE trim(text) <> ''
            """,
            [interaction_files],
        )
        con.execute(
            "CREATE OR REPLACE TEMP TABLE policies AS SELECT policy_code, fee_allowed "
            "FROM read_csv(?, header = true, columns = {'policy_code': 'VARCHAR', "
            "'description': 'VARCHAR', 'queue': 'VARCHAR', 'promised_sla': 'VARCHAR', "
            "'disclosure': 'VARCHAR', 'fee_allowed': 'DOUBLE'})",
            [str(raw / "reference" / "policies.csv")],
        )
    aliases = " ".join(f"WHEN {_quoted(k)} THEN {_quoted(v)}" for k, v in CHANNEL_ALIASES.items())
    channel = "regexp_replace(lower(trim(channel)), '\\s+', ' ', 'g')"
    with clock.stage("clean"):
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE typed AS
            SELECT record, response_id AS response_id_raw, interaction_id AS interaction_id_raw,
                   submitted_at AS submitted_at_raw, channel AS channel_raw, csat AS csat_raw,
                   nps AS nps_raw, effort AS effort_raw,
                   {_text("response_id")} AS response_id,
                   {_text("interaction_id")} AS interaction_id,
                   {_timestamp("submitted_at")} AS submitted_at,
                   {_timestamp("delivered_at")} AS delivered_at,
                   CASE {channel} {aliases} ELSE {channel} END AS channel,
                   {_score("csat")} AS csat, {_score("nps")} AS nps,
                   {_score("effort")} AS effort, {_comment("comment")} AS comment,
                   lower({_text("language")}) AS language,
                   hash(response_id, interaction_id, submitted_at, channel, csat, nps, effort,
                        comment, language, delivered_at) AS content
            FROM raw_surveys
            """
        )
        # The latest delivery of each id wins; exact copies collapse to the last line.
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE ranked AS
            SELECT *,
                   coalesce(dense_rank() OVER (PARTITION BY response_id
                                               ORDER BY delivered_at DESC NULLS LAST), 1)
                       AS delivery_rank,
                   record = max(record) OVER (PARTITION BY response_id, delivered_at, content)
                       AS last_copy
            FROM typed
            """
        )
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE interactions AS
            WITH decoded AS (
                SELECT from_json(text, ?) AS j
                FROM raw_interactions WHERE json_valid(text) AND starts_with(trim(text), '{')
            )
            SELECT * EXCLUDE (started_at, queue, policy_code, resolution, interaction_id),
                   interaction_id, TRY_CAST(regexp_replace(trim(started_at), '[Zz]$',
                   '+00:00') AS TIMESTAMPTZ) AS started_at,
                   lower(nullif(trim(queue), '')) AS queue,
                   upper(nullif(trim(policy_code), '')) AS policy_code,
                   lower(nullif(trim(resolution), '')) AS resolution
            FROM (SELECT j.*, row_number() OVER () AS read_order FROM decoded)
            WHERE interaction_id IS NOT NULL
            QUALIFY read_order = max(read_order) OVER (PARTITION BY interaction_id)
            """,
            [INTERACTION_TYPE],
        )
    now = datetime.now(UTC) + timedelta(minutes=5)
    checks = [
        _reason("response_id IS NULL", "response_id", "response_id_raw", "missing"),
        _reason(
            "response_id IS NOT NULL AND count(*) OVER (PARTITION BY response_id) > 1",
            "response_id",
            "response_id_raw",
            "is used by more than one different response, and their delivery times (delivered_at: "
            "the same, or none) do not tell which is the later: keep one of them in the export",
        ),
        _reason(
            "regexp_matches(response_id, '^[=+@\\t\\r]')",
            "response_id",
            "response_id_raw",
            "starts like a spreadsheet formula; an id never does",
        ),
        _reason(
            "regexp_matches(interaction_id, '^[=+@\\t\\r]')",
            "interaction_id",
            "interaction_id_raw",
            "starts like a spreadsheet formula; an id never does",
        ),
        _reason(
            "submitted_at IS NULL",
            "submitted_at",
            "submitted_at_raw",
            "is missing or not a timestamp (expected ISO 8601, e.g. 2026-11-01T14:03:00+01:00)",
        ),
        _reason(
            f"submitted_at < TIMESTAMPTZ '2000-01-01 00:00:00+00' "
            f"OR submitted_at > TIMESTAMPTZ '{now.isoformat()}'",
            "submitted_at",
            "submitted_at_raw",
            "is in the future or before 2000-01-01",
        ),
        _reason(
            f"channel IS NOT NULL AND channel NOT IN ({', '.join(map(_quoted, CHANNELS))})",
            "channel",
            "channel_raw",
            f"is not a known channel ({', '.join(CHANNELS)})",
        ),
        _reason("NOT csat BETWEEN 1 AND 5", "csat", "csat_raw", "is not a score from 1 to 5"),
        _reason("NOT nps BETWEEN 0 AND 10", "nps", "nps_raw", "is not a score from 0 to 10"),
        _reason("NOT effort BETWEEN 1 AND 7", "effort", "effort_raw", "is not a score from 1 to 7"),
        _reason(
            "length(comment) > 10000",
            "comment",
            "left(comment, 40)",
            "is longer than the 10000-character limit",
        ),
        _reason("interaction_id IS NULL", "interaction_id", "interaction_id_raw", "missing"),
        _reason("csat IS NULL", "csat", "csat_raw", "missing"),
        _reason(
            "interaction_id IS NOT NULL AND NOT has_interaction",
            "interaction_id",
            "interaction_id_raw",
            "matches no interaction in the contact-centre exports of this day or the days before",
        ),
    ]
    with clock.stage("validate"):
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE checked AS
            SELECT s.*, i.interaction_id IS NOT NULL AS has_interaction,
                   i.* EXCLUDE (interaction_id, read_order),
                   list_filter([{", ".join(checks)}], lambda r: r IS NOT NULL) AS reasons
            FROM (SELECT * FROM ranked
                  WHERE response_id IS NULL OR (delivery_rank = 1 AND last_copy)) s
            LEFT JOIN interactions i USING (interaction_id)
            """
        )
    with clock.stage("clean"):
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE clean AS
            SELECT c.* EXCLUDE (reasons, content, delivery_rank, last_copy),
                   p.fee_allowed,
                   greatest(coalesce(c.fees_charged, 0) - coalesce(p.fee_allowed, 0), 0)
                       AS fee_excess,
                   c.csat <= {NEGATIVE_CSAT_MAX} AS is_negative,
                   coalesce(h.contacts - 1, 0) AS repeat_contacts_30d
            FROM checked c LEFT JOIN policies p USING (policy_code)
            LEFT JOIN (SELECT customer_id, count(*) AS contacts FROM interactions
                       GROUP BY customer_id) h USING (customer_id)
            WHERE len(c.reasons) = 0
            """
        )
    with clock.stage("score"):
        scored = _score_negatives(con, model)
        con.register("scored", scored)
    with clock.stage("write"):
        partition = f"survey_date={day.isoformat()}"
        for table in ("clean", "quarantine", "feedback_scored", "daily_summary"):
            (out / table / partition).mkdir(parents=True, exist_ok=True)
        con.execute(
            f"COPY (SELECT * EXCLUDE (record) FROM clean) TO "
            f"'{out / 'clean' / partition / 'part-0.parquet'}' (FORMAT parquet, COMPRESSION zstd)"
        )
        con.execute(
            f"""
            COPY (
                SELECT 'surveys' AS feed, '{survey_file}' AS source_file, line AS source_line,
                       NULL::VARCHAR AS record_id,
                       ['malformed line: ' || error_message] AS reasons, csv_line AS raw_record
                FROM survey_rejects
                UNION ALL
                SELECT 'surveys', '{survey_file}', r.record, r.response_id,
                       ['duplicate delivery: superseded by record ' || (
                           SELECT max(k.record) FROM ranked k
                           WHERE k.response_id = r.response_id AND k.delivery_rank = 1)],
                       NULL
                FROM ranked r WHERE r.response_id IS NOT NULL
                                AND (r.delivery_rank > 1 OR NOT r.last_copy)
                UNION ALL
                SELECT 'surveys', '{survey_file}', record, response_id, reasons, NULL
                FROM checked WHERE len(reasons) > 0
                UNION ALL
                SELECT 'interactions', source_file, line, NULL,
                       ['malformed JSON: not a complete object'], text
                FROM raw_interactions
                WHERE source_file = '{raw / day.isoformat() / "interactions.jsonl"}'
                  AND NOT (json_valid(text) AND starts_with(trim(text), '{{'))
            ) TO '{out / "quarantine" / partition / "part-0.parquet"}'
            (FORMAT parquet, COMPRESSION zstd)
            """
        )
        version = con.execute("SELECT ?", [getattr(model, "_bench_version", "bench")]).fetchone()
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE feedback AS
            SELECT c.response_id, c.interaction_id, c.submitted_at, c.channel, c.queue,
                   c.policy_code, c.language, c.csat, c.nps, c.effort, c.wait_seconds,
                   c.handle_seconds, c.transfers, c.prior_contacts, c.comment, c.is_negative,
                   CASE WHEN s.p IS NULL THEN NULL WHEN s.p >= 0.5 THEN 'policy_failure'
                        ELSE 'perceived' END AS root_cause,
                   s.p AS p_policy_failure, s.p > 0.35 AND s.p < 0.65 AS needs_review,
                   CASE WHEN s.p IS NOT NULL THEN ? END AS model_version,
                   {FEEDBACK_SCORED_VERSION} AS schema_version,
                   s.top_reasons, c.repeat_contacts_30d::SMALLINT AS repeat_contacts_30d,
                   'sample' AS source, NULL::VARCHAR AS rating, NULL::VARCHAR AS attributes,
                   c.sla_met, c.policy_disclosed, c.resolution, c.fees_charged, c.fee_excess,
                   NULL::BOOLEAN AS in_training_set,
                   NULL::BOOLEAN AS resolved_first_contact, NULL::BOOLEAN AS abandoned
            FROM clean c LEFT JOIN scored s ON s.record = c.record
            """,
            [version[0] if version else "bench"],
        )
        con.execute(
            f"COPY feedback TO '{out / 'feedback_scored' / partition / 'part-0.parquet'}' "
            "(FORMAT parquet, COMPRESSION zstd)"
        )
        con.execute(
            f"""
            COPY (
                SELECT queue, policy_code, channel, count(*) AS responses,
                       count(*) FILTER (is_negative) AS negatives,
                       CASE WHEN count(*) FILTER (is_negative) > 0 AND count(root_cause) = 0
                            THEN NULL
                            ELSE count(*) FILTER (root_cause = 'policy_failure')
                       END AS policy_failures,
                       CASE WHEN count(*) FILTER (is_negative) > 0 AND count(root_cause) = 0
                            THEN NULL
                            ELSE count(*) FILTER (root_cause = 'perceived')
                       END AS perceived,
                       count(*) FILTER (is_negative) / nullif(count(is_negative), 0)
                           AS negative_share,
                       count(*) FILTER (root_cause = 'policy_failure')
                           / nullif(count(*) FILTER (root_cause IS NOT NULL), 0)
                           AS policy_failure_share,
                       avg(csat) AS mean_csat, {DAILY_SUMMARY_VERSION} AS schema_version,
                       'sample' AS source, count(is_negative) AS rated,
                       sum(p_policy_failure) FILTER (root_cause IS NOT NULL)
                           AS expected_policy_failures,
                       sum(p_policy_failure) FILTER (root_cause IS NOT NULL)
                           / nullif(count(root_cause), 0) AS expected_policy_failure_share,
                       count(csat) AS csat_responses,
                       count(rating) AS ratings, count(*) FILTER (rating = 'good') AS satisfied,
                       count(*) FILTER (rating = 'good') / nullif(count(rating), 0)
                           AS satisfied_share,
                       count(resolved_first_contact) FILTER (NOT coalesce(abandoned, false))
                           AS fcr_answered,
                       count(*) FILTER (resolved_first_contact
                                        AND NOT coalesce(abandoned, false)) AS fcr_resolved,
                       count(*) FILTER (resolved_first_contact
                                        AND NOT coalesce(abandoned, false))
                           / nullif(count(resolved_first_contact)
                                    FILTER (NOT coalesce(abandoned, false)), 0) AS fcr_rate,
                       count(*) FILTER (abandoned) AS abandoned
                FROM feedback GROUP BY ALL
            ) TO '{out / "daily_summary" / partition / "part-0.parquet"}'
            (FORMAT parquet, COMPRESSION zstd)
            """
        )
        counts = con.execute(
            "SELECT (SELECT count(*) FROM raw_surveys) + (SELECT count(*) FROM survey_rejects), "
            "(SELECT count(*) FROM clean)"
        ).fetchone()
    surveys, kept = (int(counts[0]), int(counts[1])) if counts else (0, 0)
    return {"surveys": surveys, "kept": kept, "quarantined": surveys - kept}


def _score_negatives(con: Any, model: Any) -> pd.DataFrame:
    """(record, p, top_reasons) of the negatives, scored by the stock model in chunks."""
    from models.explain import predict_with_reasons
    from models.pipeline import CATEGORICAL, FLAGS, MISSING, NUMERIC, TEXT

    negatives = con.execute(
        f"SELECT record, {TEXT}, {', '.join((*CATEGORICAL, *NUMERIC, *FLAGS))} "
        "FROM clean WHERE is_negative"
    ).df()
    probabilities: list[np.ndarray] = []
    reasons: list[list[str]] = []
    for start in range(0, len(negatives), SCORING_CHUNK):
        chunk = negatives.iloc[start : start + SCORING_CHUNK]
        features = pd.DataFrame(
            {
                TEXT: chunk[TEXT].fillna("").astype(str),
                **{
                    c: chunk[c].astype(object).where(chunk[c].notna(), MISSING) for c in CATEGORICAL
                },
                **{c: chunk[c].astype(float) for c in (*NUMERIC, *FLAGS)},
            }
        )
        p, why = predict_with_reasons(model, features)
        probabilities.append(p)
        reasons.extend(why)
    return pd.DataFrame(
        {
            "record": negatives["record"].to_numpy(),
            "p": np.concatenate(probabilities) if probabilities else np.empty(0),
            "top_reasons": pd.Series(reasons, dtype=object),
        }
    )


def run(data_dir: str, days: list[date], clock: StageClock) -> dict[str, Any]:
    import duckdb

    from models.native_text import with_stock_vectorizers
    from models.registry import champion_version, load_model

    root = Path(data_dir)
    version = champion_version(root / "models")
    assert version is not None, "the benchmark trains a model first"
    model = load_model(root / "models", version)
    with_stock_vectorizers(model)
    con = duckdb.connect()
    con.execute(f"SET TimeZone = '{TIMEZONE}'")
    con.execute("SET threads = 2")
    totals = {"surveys": 0, "kept": 0, "quarantined": 0}
    for day in days:
        counts = run_day(con, root, day, model, clock)
        for key in totals:
            totals[key] += counts[key]
    return totals


def compare(dataset: Path, implementation: str = "duckdb_out") -> dict[str, Any]:
    """Kept and quarantined response ids, and mart columns, of a reference against what the
    pipeline wrote in the same dataset folder."""
    import polars as pl

    ours = {
        "kept": pl.read_parquet(dataset / "clean" / "responses" / "*" / "*.parquet"),
        "quarantined": pl.read_parquet(dataset / "quarantine" / "*" / "*.parquet").filter(
            pl.col("feed") == "surveys"
        ),
    }
    theirs = {
        "kept": pl.read_parquet(dataset / implementation / "clean" / "*" / "*.parquet"),
        "quarantined": pl.read_parquet(
            dataset / implementation / "quarantine" / "*" / "*.parquet"
        ).filter(pl.col("feed") == "surveys"),
    }
    id_of = {"kept": "response_id", "quarantined": "record_id"}
    report: dict[str, Any] = {}
    for part in ("kept", "quarantined"):
        a = set(ours[part].get_column(id_of[part]).drop_nulls().to_list())
        b = set(theirs[part].get_column(id_of[part]).drop_nulls().to_list())
        report[part] = {
            "pipeline_rows": ours[part].height,
            "reference_rows": theirs[part].height,
            "only_pipeline": sorted(a - b)[:10],
            "only_pipeline_count": len(a - b),
            "only_reference": sorted(b - a)[:10],
            "only_reference_count": len(b - a),
        }
    for mart in ("feedback_scored", "daily_summary"):
        a_cols = pl.read_parquet_schema(next((dataset / "marts" / mart).rglob("*.parquet")))
        b_cols = pl.read_parquet_schema(next((dataset / implementation / mart).rglob("*.parquet")))
        report[mart] = {"same_columns": list(a_cols) == list(b_cols)}
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--compare", required=True, help="a dataset both have processed")
    parser.add_argument("--implementation", default="duckdb_out")
    args = parser.parse_args()
    print(json.dumps(compare(Path(args.compare), args.implementation), indent=2))
