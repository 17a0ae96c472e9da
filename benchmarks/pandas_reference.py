"""REFERENCE ONLY: the pipeline written the way a competent pandas user would, for comparison.

``read_csv``, ``read_json(lines=True)``, string methods, ``merge``, boolean masks,
``to_parquet``. It does the same work per date as the pipeline: read the survey export and
three days of interactions, keep ragged lines as rejects, type and normalise, drop superseded
deliveries, join, apply the same row rules with the same reasons (every rule a row breaks),
add policy facts, score negatives with the same model as stock scikit-learn scores it
(reasons included), and write clean, quarantine and both marts with the pipeline's columns.
The same kept and quarantined response ids: ``python -m benchmarks.duckdb_reference
--compare <dataset> --implementation pandas_out``. What it leaves out, as the DuckDB peer
does: line numbers (records are numbered instead), personal-data redaction, the review
queue, contact look-back and early warning, Great Expectations and Data Docs. It is not used
by the pipeline.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.clock import StageClock
from models.explain import predict_with_reasons
from models.pipeline import CATEGORICAL, FLAGS, MISSING, NUMERIC, TEXT
from transforms.clean import CHANNEL_ALIASES, HTML_TAG
from transforms.schemas import (
    CHANNELS,
    DAILY_SUMMARY_VERSION,
    FEEDBACK_SCORED_VERSION,
    NEGATIVE_CSAT_MAX,
)

TIMEZONE = "Europe/London"
SCORING_CHUNK = 100_000
#: The pipeline's mart columns, in its order (transforms/schemas.py contracts).
FEEDBACK_COLUMNS = [
    "response_id", "interaction_id", "submitted_at", "channel", "queue", "policy_code",
    "language", "csat", "nps", "effort", "wait_seconds", "handle_seconds", "transfers",
    "prior_contacts", "comment", "is_negative", "root_cause", "p_policy_failure",
    "needs_review", "model_version", "schema_version", "top_reasons", "repeat_contacts_30d",
    "source", "rating", "attributes", "sla_met", "policy_disclosed", "resolution",
    "fees_charged", "fee_excess", "in_training_set", "resolved_first_contact", "abandoned",
]  # fmt: skip
SUMMARY_COLUMNS = [
    "queue", "policy_code", "channel", "responses", "negatives", "policy_failures", "perceived",
    "negative_share", "policy_failure_share", "mean_csat", "schema_version", "source", "rated",
    "expected_policy_failures", "expected_policy_failure_share", "csat_responses", "ratings",
    "satisfied", "satisfied_share", "fcr_answered", "fcr_resolved", "fcr_rate", "abandoned",
]  # fmt: skip


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252")


def read_surveys(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(records numbered in file order, ragged records with their reason). pandas' pyarrow
    reader hands each ragged record to a callback (without its line number), so none is
    skipped silently."""
    rejected: list[dict[str, Any]] = []

    def keep_reject(row: Any) -> str:
        rejected.append(
            {
                "record": None,
                "text": row.text,
                "reason": f"malformed line: {row.actual_columns} fields where the header has "
                f"{row.expected_columns}",
            }
        )
        return "skip"

    frame = pd.read_csv(
        io.StringIO(_read_text(path)),
        engine="pyarrow",
        dtype=str,
        keep_default_na=False,
        on_bad_lines=keep_reject,
    )
    frame.columns = [c.strip().lower() for c in frame.columns]
    frame.insert(0, "record", np.arange(2, len(frame) + 2))
    return frame, pd.DataFrame(rejected, columns=["record", "text", "reason"])


def read_interactions(paths: list[Path]) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    """(the interactions of every file, each file's malformed lines with their numbers)."""
    frames, bad = [], []
    for path in paths:
        lines = pd.Series(_read_text(path).split("\n"))
        lines.index = np.arange(1, len(lines) + 1)
        lines = lines[lines.str.strip() != ""]
        complete = lines.str.startswith("{") & lines.str.endswith("}")
        bad.append(pd.DataFrame({"line": lines.index[~complete], "text": lines[~complete]}))
        good = lines[complete]
        try:
            frames.append(pd.read_json(io.StringIO("\n".join(good)), lines=True, dtype=False))
        except ValueError:
            rows = []
            for number, line in good.items():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    bad[-1].loc[len(bad[-1])] = [number, line]
            frames.append(pd.DataFrame(rows))
    return pd.concat(frames, ignore_index=True), bad


def parse_timestamps(text: pd.Series) -> pd.Series:
    text = text.str.strip().str.replace(r"[Zz]$", "+00:00", regex=True).str.replace(" ", "T")
    has_offset = text.str.contains(r"[+-]\d\d:\d\d$", regex=True, na=False)
    out = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns, UTC]")
    out[has_offset] = pd.to_datetime(text[has_offset], utc=True, errors="coerce", format="ISO8601")
    naive = pd.to_datetime(text[~has_offset], errors="coerce", format="ISO8601")
    out[~has_offset] = naive.dt.tz_localize(
        TIMEZONE, ambiguous="NaT", nonexistent="NaT"
    ).dt.tz_convert("UTC")
    return out


def parse_score(text: pd.Series) -> pd.Series:
    stripped = text.str.strip()
    number = pd.to_numeric(stripped.str.extract(r"^(-?\d+)(?:\s*-.*)?$")[0], errors="coerce")
    number = number.fillna(-1).clip(-1, 127)
    return number.where(stripped != "", np.nan)


CONTROL = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"


def normalised_text(text: pd.Series) -> pd.Series:
    cleaned = (
        text.str.replace(CONTROL, "", regex=True).str.replace(r"\s+", " ", regex=True).str.strip()
    )
    return cleaned.where(cleaned != "", None)


def safe_comment(text: pd.Series) -> pd.Series:
    text = (
        text.str.replace(r"(?is)<(script|style)\b.*?(?:</(?:script|style)\s*>|$)", " ", regex=True)
        .str.replace(HTML_TAG, " ", regex=True)
        .str.replace(r"<!--.*?-->", " ", regex=True)
    )
    # Line breaks kept (LF), as the pipeline keeps them; other whitespace collapsed.
    cleaned = (
        text.str.replace(CONTROL, "", regex=True)
        .str.replace(r"\r\n?", "\n", regex=True)
        .str.replace(r"[^\S\n]+", " ", regex=True)
        .str.replace(r" ?\n ?", "\n", regex=True)
        .str.replace(r"\n{3,}", "\n\n", regex=True)
        .str.strip()
    )
    return cleaned.where(cleaned != "", None)


def normalise(surveys: pd.DataFrame) -> pd.DataFrame:
    out = surveys.copy()
    for column in ("response_id", "interaction_id", "submitted_at", "channel", "csat", "nps"):
        out[f"{column}_raw"] = out[column]
    out["effort_raw"] = out["effort"]
    for column in ("response_id", "interaction_id", "language"):
        out[column] = normalised_text(out[column])
    out["comment"] = safe_comment(out["comment"])
    out["language"] = out["language"].str.lower()
    out["channel"] = (
        out["channel"].str.strip().str.lower().str.replace(r"\s+", " ", regex=True)
    ).replace(CHANNEL_ALIASES)
    out["submitted_at"] = parse_timestamps(out["submitted_at"])
    out["delivered_at"] = parse_timestamps(out["delivered_at"])
    for column in ("csat", "nps", "effort"):
        out[column] = parse_score(out[column])
    return out


def reason(failing: pd.Series, raw: pd.Series, column: str, problem: str) -> pd.Series:
    """``<column>: '<raw>' <problem>`` for the failing rows only."""
    shown = ("'" + raw[failing].fillna("") + "'").replace("''", "(empty)")
    return f"{column}: " + shown + f" {problem}"


def row_reasons(joined: pd.DataFrame, now: pd.Timestamp) -> pd.Series:
    """Every rule each row breaks, as a list per failing row (index: the row's)."""
    j = joined
    scores = [("csat", 1, 5), ("nps", 0, 10), ("effort", 1, 7)]
    checks = [
        (j["response_id"].isna(), "response_id", "missing"),
        (
            j["response_id"].notna() & j["response_id"].duplicated(keep=False),
            "response_id",
            "is used by more than one different response, and their delivery times (delivered_at: "
            "the same, or none) do not tell which is the later: keep one of them in the export",
        ),
        (
            j["response_id"].str.match(r"[=+@\t\r]", na=False),
            "response_id",
            "starts like a spreadsheet formula; an id never does",
        ),
        (
            j["interaction_id"].str.match(r"[=+@\t\r]", na=False),
            "interaction_id",
            "starts like a spreadsheet formula; an id never does",
        ),
        (
            j["submitted_at"].isna(),
            "submitted_at",
            "is missing or not a timestamp (expected ISO 8601, e.g. 2026-11-01T14:03:00+01:00)",
        ),
        (
            j["submitted_at"].notna()
            & ~j["submitted_at"].between(pd.Timestamp("2000-01-01", tz="UTC"), now),
            "submitted_at",
            "is in the future or before 2000-01-01",
        ),
        (
            j["channel"].notna() & ~j["channel"].isin(CHANNELS),
            "channel",
            f"is not a known channel ({', '.join(CHANNELS)})",
        ),
        *(
            (j[c].notna() & ~j[c].between(low, high), c, f"is not a score from {low} to {high}")
            for c, low, high in scores
        ),
        (
            j["comment"].str.len() > 10_000,
            "comment",
            "is longer than the 10000-character limit",
        ),
        (j["interaction_id"].isna(), "interaction_id", "missing"),
        (j["csat"].isna(), "csat", "missing"),
        (
            j["interaction_id"].notna() & (j["_merge"] != "both"),
            "interaction_id",
            "matches no interaction in the contact-centre exports of this day or the days before",
        ),
    ]
    found = [
        reason(failing, j[f"{column}_raw"] if f"{column}_raw" in j else j[column], column, why)
        for failing, column, why in checks
        if failing.any()
    ]
    if not found:
        return pd.Series(dtype=object)
    return pd.concat(found).groupby(level=0, sort=False).agg(list)


def run_day(data_dir: Path, day: date, model: Any, clock: StageClock) -> dict[str, int]:
    raw = data_dir / "raw"
    out = data_dir / "pandas_out"
    survey_file = raw / day.isoformat() / "surveys.csv"
    paths = [
        raw / (day - timedelta(days=back)).isoformat() / "interactions.jsonl"
        for back in (2, 1, 0)
        if (raw / (day - timedelta(days=back)).isoformat() / "interactions.jsonl").exists()
    ]
    with clock.stage("read"):
        surveys, rejects = read_surveys(survey_file)
        interactions, bad_lines = read_interactions(paths)
        policies = pd.read_csv(raw / "reference" / "policies.csv", dtype={"fee_allowed": float})
    with clock.stage("clean"):
        typed = normalise(surveys)
        # The latest delivery of each id wins; exact copies collapse to the last record.
        typed["content"] = pd.util.hash_pandas_object(surveys.drop(columns="record"), index=False)
        typed["rank"] = typed.groupby("response_id")["delivered_at"].rank(
            method="dense", ascending=False
        )
        typed["rank"] = typed["rank"].fillna(1)
        last_record = typed.groupby(["response_id", "delivered_at", "content"], dropna=False)[
            "record"
        ].transform("max")
        superseded = typed["response_id"].notna() & (
            (typed["rank"] > 1) | (typed["record"] != last_record)
        )
        latest = typed[~superseded]
        winner = typed[typed["rank"] == 1].groupby("response_id")["record"].max()
        gone = typed[superseded]
        interactions["interaction_id"] = normalised_text(interactions["interaction_id"])
        interactions["queue"] = interactions["queue"].str.strip().str.lower()
        interactions["policy_code"] = interactions["policy_code"].str.strip().str.upper()
        interactions["resolution"] = interactions["resolution"].str.strip().str.lower()
        interactions["started_at"] = parse_timestamps(interactions["started_at"].astype(str))
        facts = interactions.dropna(subset=["interaction_id"]).drop_duplicates(
            "interaction_id", keep="last"
        )
        joined = latest.merge(facts, on="interaction_id", how="left", indicator=True)
    with clock.stage("validate"):
        now = pd.Timestamp(datetime.now(UTC)) + pd.Timedelta(minutes=5)
        reasons = row_reasons(joined, now)
        failed = joined.loc[reasons.index]
        valid = joined.drop(index=reasons.index)
    with clock.stage("clean"):
        valid = valid.merge(policies[["policy_code", "fee_allowed"]], on="policy_code", how="left")
        valid["fee_excess"] = (
            valid["fees_charged"].fillna(0.0) - valid["fee_allowed"].fillna(0.0)
        ).clip(lower=0.0)
        valid["is_negative"] = valid["csat"] <= NEGATIVE_CSAT_MAX
        contacts = interactions.groupby("customer_id").size()
        seen = contacts.reindex(valid["customer_id"]).to_numpy(dtype=float, na_value=1.0)
        valid["repeat_contacts_30d"] = (seen - 1).astype("int16")
    with clock.stage("score"):
        negatives = valid[valid["is_negative"]]
        valid["p_policy_failure"] = np.nan
        valid["top_reasons"] = None
        for start in range(0, len(negatives), SCORING_CHUNK):
            chunk = negatives.iloc[start : start + SCORING_CHUNK]
            features = pd.DataFrame(
                {
                    TEXT: chunk[TEXT].fillna("").astype(str),
                    **{c: chunk[c].fillna(MISSING).astype(str) for c in CATEGORICAL},
                    **{c: chunk[c].astype(float) for c in (*NUMERIC, *FLAGS)},
                }
            )
            p, why = predict_with_reasons(model, features)
            valid.loc[chunk.index, "p_policy_failure"] = p
            valid.loc[chunk.index, "top_reasons"] = pd.Series(why, index=chunk.index)
        p = valid["p_policy_failure"]
        valid["root_cause"] = np.where(
            p.isna(), None, np.where(p >= 0.5, "policy_failure", "perceived")
        )
        valid["needs_review"] = (p.gt(0.35) & p.lt(0.65)).astype("boolean").mask(p.isna())
    with clock.stage("write"):
        feedback = valid.assign(
            # On the rows the model scored only (the contract's version 7).
            model_version=np.where(
                valid["root_cause"].isna(), None, getattr(model, "_bench_version", "bench")
            ),
            schema_version=FEEDBACK_SCORED_VERSION,
            source="sample",
            rating=None,
            attributes=None,
            # The sample's model is no champion with out-of-fold scores, and its exports
            # carry no resolved or abandoned flag (null, as the pipeline writes them).
            in_training_set=None,
            resolved_first_contact=None,
            abandoned=None,
        )[FEEDBACK_COLUMNS]
        p_scored = feedback["p_policy_failure"].where(feedback["root_cause"].notna())
        summary = (
            feedback.assign(p_scored=p_scored)
            .groupby(["queue", "policy_code", "channel"], dropna=False)
            .agg(
                responses=("response_id", "size"),
                negatives=("is_negative", "sum"),
                rated=("is_negative", "count"),
                policy_failures=("root_cause", lambda r: (r == "policy_failure").sum()),
                perceived=("root_cause", lambda r: (r == "perceived").sum()),
                expected_policy_failures=("p_scored", "sum"),
                mean_csat=("csat", "mean"),
                csat_responses=("csat", "count"),
            )
            .reset_index()
        )
        # No two-level rating, resolved flag or abandoned flag in the sample: 0 counted, no
        # share (daily_summary 9-11).
        for counted in ("ratings", "satisfied", "fcr_answered", "fcr_resolved", "abandoned"):
            summary[counted] = np.uint32(0)
        summary["satisfied_share"] = None
        summary["fcr_rate"] = None
        summary["negative_share"] = summary["negatives"] / summary["rated"].where(
            summary["rated"] > 0
        )
        scored = summary["policy_failures"] + summary["perceived"]
        summary["policy_failure_share"] = summary["policy_failures"] / scored.where(scored > 0)
        # Negatives and none scored: no count, not 0 (the contract's version 5).
        unscored = (summary["negatives"] > 0) & (scored == 0)
        for counted in ("policy_failures", "perceived"):
            summary[counted] = summary[counted].astype("UInt32").mask(unscored)
        # No scored negative, no estimate (the contract's version 7).
        summary["expected_policy_failures"] = summary["expected_policy_failures"].mask(scored == 0)
        summary["expected_policy_failure_share"] = summary[
            "expected_policy_failures"
        ] / scored.where(scored > 0)
        summary["schema_version"] = DAILY_SUMMARY_VERSION
        summary["source"] = "sample"
        quarantine = pd.concat(
            [
                pd.DataFrame(
                    {
                        "feed": "surveys",
                        "record": rejects["record"],
                        "record_id": None,
                        "reasons": rejects["reason"].map(lambda r: [r]),
                    }
                ),
                pd.DataFrame(
                    {
                        "feed": "surveys",
                        "record": gone["record"],
                        "record_id": gone["response_id"],
                        "reasons": gone["response_id"]
                        .map(winner)
                        .map(lambda w: [f"duplicate delivery: superseded by record {w}"]),
                    }
                ),
                pd.DataFrame(
                    {
                        "feed": "surveys",
                        "record": failed["record"],
                        "record_id": failed["response_id"],
                        "reasons": reasons,
                    }
                ),
                pd.DataFrame(
                    {
                        "feed": "interactions",
                        "record": bad_lines[-1]["line"]
                        if paths[-1].parent.name == str(day)
                        else [],
                        "record_id": None,
                        "reasons": [["malformed JSON: not a complete object"]]
                        * (len(bad_lines[-1]) if paths[-1].parent.name == str(day) else 0),
                    }
                ),
            ],
            ignore_index=True,
        )
        for table, frame in (
            ("clean", valid.drop(columns=["_merge", "content", "rank"])),
            ("quarantine", quarantine),
            ("feedback_scored", feedback),
            ("daily_summary", summary[SUMMARY_COLUMNS]),
        ):
            target = out / table / f"survey_date={day.isoformat()}"
            target.mkdir(parents=True, exist_ok=True)
            frame.to_parquet(target / "part-0.parquet", compression="zstd", index=False)
    surveys_read = len(surveys) + len(rejects)
    return {"surveys": surveys_read, "kept": len(valid), "quarantined": surveys_read - len(valid)}


def run(data_dir: str, days: list[date], clock: StageClock) -> dict[str, Any]:
    from models.native_text import with_stock_vectorizers
    from models.registry import champion_version, load_model

    root = Path(data_dir)
    version = champion_version(root / "models")
    assert version is not None, "the benchmark trains a model first"
    model = load_model(root / "models", version)
    with_stock_vectorizers(model)  # scored as stock scikit-learn scores it
    totals = {"surveys": 0, "kept": 0, "quarantined": 0}
    for day in days:
        counts = run_day(root, day, model, clock)
        for key in totals:
            totals[key] += counts[key]
    return totals
