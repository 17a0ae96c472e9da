"""REFERENCE ONLY: a straightforward pandas implementation of the same stages, for comparison.

This is what the pipeline would look like written the obvious way in pandas: ``read_csv``,
``read_json(lines=True)``, string methods, ``merge``, boolean masks, ``to_parquet``. It does
the same work per date (read the survey export and three days of interactions, type and
normalise, drop superseded deliveries, join, apply the same row rules, add policy facts, score
negatives with the same model, write clean, quarantine and both marts), with two shortcuts
that favour it: the row rules are plain pandas masks rather than a Great Expectations suite,
and ragged CSV lines are skipped by pandas rather than quarantined with their line number.
It is not used by the pipeline.
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
from models.pipeline import CATEGORICAL, FLAGS, NUMERIC, TEXT
from transforms.clean import CHANNEL_ALIASES
from transforms.schemas import CHANNELS, NEGATIVE_CSAT_MAX

TIMEZONE = "Europe/London"


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252")


def read_surveys(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(
        io.StringIO(_read_text(path)), dtype=str, keep_default_na=False, on_bad_lines="skip"
    )
    frame.columns = [c.strip().lower() for c in frame.columns]
    return frame


def read_interactions(paths: list[Path]) -> pd.DataFrame:
    frames = []
    for path in paths:
        lines = [line for line in _read_text(path).split("\n") if line.strip()]
        good = [line for line in lines if line.startswith("{") and line.endswith("}")]
        try:
            frames.append(pd.read_json(io.StringIO("\n".join(good)), lines=True, dtype=False))
        except ValueError:
            rows = []
            for line in good:
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
            frames.append(pd.DataFrame(rows))
    return pd.concat(frames, ignore_index=True)


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


def normalise(surveys: pd.DataFrame) -> pd.DataFrame:
    out = surveys.copy()
    for column in ("response_id", "interaction_id", "comment", "language"):
        cleaned = out[column].str.replace(r"\s+", " ", regex=True).str.strip()
        out[column] = cleaned.where(cleaned != "", None)
    out["language"] = out["language"].str.lower()
    out["channel"] = (
        out["channel"].str.strip().str.lower().str.replace(r"\s+", " ", regex=True)
    ).replace(CHANNEL_ALIASES)
    out["submitted_at"] = parse_timestamps(out["submitted_at"])
    out["delivered_at"] = parse_timestamps(out["delivered_at"])
    for column in ("csat", "nps", "effort"):
        out[column] = parse_score(out[column])
    return out


def run_day(data_dir: Path, day: date, model: Any, clock: StageClock) -> dict[str, int]:
    raw = data_dir / "raw"
    out = data_dir / "pandas_out"
    with clock.stage("read"):
        surveys = read_surveys(raw / day.isoformat() / "surveys.csv")
        interactions = read_interactions(
            [
                raw / (day - timedelta(days=back)).isoformat() / "interactions.jsonl"
                for back in (2, 1, 0)
                if (raw / (day - timedelta(days=back)).isoformat() / "interactions.jsonl").exists()
            ]
        )
        policies = pd.read_csv(raw / "reference" / "policies.csv", dtype={"fee_allowed": float})
    with clock.stage("clean"):
        typed = normalise(surveys)
        typed = typed.sort_values("delivered_at", kind="stable")
        latest = typed.drop_duplicates("response_id", keep="last")
        interactions["interaction_id"] = interactions["interaction_id"].str.strip()
        interactions["queue"] = interactions["queue"].str.strip().str.lower()
        interactions["policy_code"] = interactions["policy_code"].str.strip().str.upper()
        interactions["started_at"] = parse_timestamps(interactions["started_at"].astype(str))
        facts = interactions.drop_duplicates("interaction_id", keep="last")
        joined = latest.merge(facts, on="interaction_id", how="left", indicator=True)
    with clock.stage("validate"):
        now = pd.Timestamp(datetime.now(UTC))
        ok = (
            joined["response_id"].notna()
            & ~joined["response_id"].duplicated(keep=False)
            & joined["interaction_id"].notna()
            & joined["submitted_at"].between(pd.Timestamp("2000-01-01", tz="UTC"), now)
            & joined["channel"].isin(CHANNELS)
            & joined["csat"].between(1, 5)
            & (joined["nps"].isna() | joined["nps"].between(0, 10))
            & (joined["effort"].isna() | joined["effort"].between(1, 7))
            & (joined["_merge"] == "both")
        )
        valid, failed = joined[ok].copy(), joined[~ok]
    with clock.stage("clean"):
        valid = valid.merge(policies[["policy_code", "fee_allowed"]], on="policy_code", how="left")
        valid["fee_excess"] = (
            valid["fees_charged"].fillna(0.0) - valid["fee_allowed"].fillna(0.0)
        ).clip(lower=0.0)
        valid["is_negative"] = valid["csat"] <= NEGATIVE_CSAT_MAX
    with clock.stage("score"):
        negatives = valid[valid["is_negative"]]
        features = pd.DataFrame(
            {
                TEXT: negatives[TEXT].fillna("").astype(str),
                **{c: negatives[c].fillna("missing").astype(str) for c in CATEGORICAL},
                **{c: negatives[c].astype(float) for c in NUMERIC},
                **{c: negatives[c].astype(float) for c in FLAGS},
            }
        )
        valid["p_policy_failure"] = np.nan
        if len(features):
            valid.loc[negatives.index, "p_policy_failure"] = model.predict_proba(features)[:, 1]
        valid["root_cause"] = np.where(
            valid["p_policy_failure"].isna(),
            None,
            np.where(valid["p_policy_failure"] >= 0.5, "policy_failure", "perceived"),
        )
    with clock.stage("write"):
        for table, frame in (
            ("clean", valid.drop(columns=["_merge"])),
            ("quarantine", failed.drop(columns=["_merge"]).astype(str)),
            ("feedback_scored", valid.drop(columns=["_merge"])),
            (
                "daily_summary",
                valid.groupby(["queue", "policy_code", "channel"], dropna=False)
                .agg(
                    responses=("response_id", "size"),
                    negatives=("is_negative", "sum"),
                    mean_csat=("csat", "mean"),
                )
                .reset_index(),
            ),
        ):
            target = out / table / f"survey_date={day.isoformat()}"
            target.mkdir(parents=True, exist_ok=True)
            frame.to_parquet(target / "part-0.parquet", compression="zstd", index=False)
    return {"surveys": len(surveys), "kept": len(valid), "quarantined": len(failed)}


def run(data_dir: str, days: list[date], clock: StageClock) -> dict[str, Any]:
    from models.registry import champion_version, load_model

    root = Path(data_dir)
    version = champion_version(root / "models")
    assert version is not None, "the benchmark trains a model first"
    model = load_model(root / "models", version)
    totals = {"surveys": 0, "kept": 0, "quarantined": 0}
    for day in days:
        counts = run_day(root, day, model, clock)
        for key in totals:
            totals[key] += counts[key]
    return totals
