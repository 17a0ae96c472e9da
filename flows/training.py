"""Tasks that generate sample data and train, evaluate, register and promote models."""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from datetime import UTC, date, datetime
from typing import Any

import polars as pl
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from models.evaluate import classification_metrics
from models.pipeline import feature_frame, labels_to_target
from models.registry import champion_version, load_model, save_model, set_champion
from models.train import train_root_cause_model
from servicelens.fs import local_folder_for
from servicelens.settings import Settings
from servicelens.stages import labelled_negatives, oracle_summary, read_truth
from servicelens.storage import code_version
from servicelens.synthetic import generate

#: A challenger replaces the champion unless its holdout accuracy is lower by more than this.
PROMOTION_TOLERANCE = 0.01


@task(name="generate-sample-data", cache_policy=NO_CACHE, persist_result=False)
def generate_task(
    settings: Settings, start: date, end: date, per_day: int, seed: int
) -> dict[str, Any]:
    """Write deterministic synthetic exports for a date range into the raw zone."""
    with local_folder_for(settings.root) as out:
        summary = generate(out, start, end, per_day, seed)
    result = asdict(summary)
    result.pop("files", None)
    return {k: str(v) if isinstance(v, date) else v for k, v in result.items()}


def _data_fingerprint(labelled: pl.DataFrame) -> str:
    labels = labelled.select("response_id", "root_cause").sort("response_id")
    return hashlib.sha256(labels.write_csv().encode()).hexdigest()


def truth_metrics(holdout: pl.DataFrame, truth: pl.DataFrame) -> dict[str, Any]:
    """Compare holdout predictions with the generator's truth, beside the oracle ceiling."""
    joined = holdout.join(truth, "response_id", "inner")
    if joined.height == 0:
        return {}
    y_true = labels_to_target(joined.get_column("true_root_cause"))
    p_model = joined.get_column("p_policy_failure").to_numpy()
    p_oracle = joined.get_column("oracle_p_policy_failure").to_numpy()
    y_audit = labels_to_target(joined.get_column("root_cause"))
    return {
        "rows": joined.height,
        "model_vs_truth": classification_metrics(y_true, p_model),
        "oracle_vs_truth": classification_metrics(y_true, p_oracle),
        "audit_label_accuracy": float((y_audit == y_true).mean()),
    }


@task(name="train-and-register", cache_policy=NO_CACHE, persist_result=False)
def train_and_register_task(settings: Settings) -> dict[str, Any]:
    """Train on every audited response, save the version, and promote it if not worse."""
    logger = get_run_logger()
    labelled = labelled_negatives(settings)
    result = train_root_cause_model(labelled, seed=settings.seed)
    metrics = dict(result.metrics)
    truth = read_truth(settings)
    if truth is not None:
        metrics["against_truth"] = truth_metrics(result.holdout, truth)
        oracle = oracle_summary(settings)
        if oracle:
            metrics["oracle_accuracy_all_negatives"] = oracle.get("oracle_accuracy")

    fingerprint = _data_fingerprint(labelled)
    version = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{fingerprint[:8]}"
    meta = {
        "code_version": code_version(),
        "data_sha256": fingerprint,
        "training_rows": labelled.height,
        "survey_dates": [
            str(labelled.get_column("survey_date").min()),
            str(labelled.get_column("survey_date").max()),
        ],
        "parameters": result.parameters,
    }
    save_model(result.model, settings.models_dir, version, meta, metrics)

    champion = champion_version(settings.models_dir)
    decision = "promoted: no champion yet"
    if champion is not None:
        y_holdout = labels_to_target(result.holdout.get_column("root_cause"))
        p_champion = load_model(settings.models_dir, champion).predict_proba(
            feature_frame(result.holdout)
        )[:, 1]
        champion_accuracy = float(((p_champion >= 0.5) == y_holdout).mean())
        challenger_accuracy = float(metrics["model"]["accuracy"])
        if challenger_accuracy + PROMOTION_TOLERANCE >= champion_accuracy:
            decision = (
                f"promoted: holdout accuracy {challenger_accuracy:.3f} vs champion "
                f"{champion} {champion_accuracy:.3f} (tolerance {PROMOTION_TOLERANCE})"
            )
        else:
            decision = (
                f"kept champion {champion}: challenger {challenger_accuracy:.3f} is worse than "
                f"{champion_accuracy:.3f} beyond tolerance {PROMOTION_TOLERANCE}"
            )
    if decision.startswith("promoted"):
        set_champion(settings.models_dir, version, decision)
    logger.info("model %s: %s", version, decision)
    return {"version": version, "decision": decision, "metrics": metrics}
