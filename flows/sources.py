"""Flows for a source with its own deliveries: land them, then run its partitions through
the same tasks as the nightly run (validate, publish clean, score, publish marts).

``land_and_run`` is what a scheduled drop-folder pick-up or a person with a new export runs:
each delivered file is landed (raw copy, landed partitions), and every partition it touched
is processed, the look-back's rule applied by what changed: a late row changes its
partition's landed file, so that partition runs again. With ``train``, the source's model is
trained on its labels between the clean layer and the marts (its first run, or a retrain).
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from flows.dates import process_and_record
from flows.tasks import (
    counts_dict,
    current_run_id,
    publish_clean_task,
    score_and_publish_task,
    validate_day_task,
    write_report_task,
)
from flows.training import train_and_register_task
from servicelens.ingest.definitions import load_definition
from servicelens.ingest.landing import land_delivery
from servicelens.settings import Settings
from servicelens.storage.locks import date_lock
from servicelens.storage.partitions import discard_run_staging, locks_dir
from servicelens.storage.runs import record_outcome


@task(name="land-delivery", cache_policy=NO_CACHE, persist_result=False)
def land_delivery_task(settings: Settings, file: str) -> dict[str, Any]:
    """Land one delivered file into the source's raw zone and landed partitions."""
    landing = land_delivery(settings, load_definition(settings.definition or settings.source), file)
    result = asdict(landing)
    result["periods"] = {str(k): v for k, v in landing.periods.items()}
    return result


def source_settings(settings: Settings, definition: str) -> Settings:
    """``settings`` addressing one source's layers (its name, definition and partitioning)."""
    loaded = load_definition(definition)
    return settings.for_source(loaded.name, str(loaded.path), loaded.partition)


@flow(name="land-and-run", flow_run_name="land-{definition}")
def land_and_run(
    definition: str, files: list[str], settings: Settings | None = None, train: bool = False
) -> dict[str, Any]:
    """Land ``files`` for the source of ``definition``, then process every partition they
    touched: validate and publish the clean layer, (with ``train``) train the source's model
    on its labels, then score and publish the marts; one run report at the end."""
    base = settings or Settings.from_env()
    source = source_settings(base, definition)
    landings = [land_delivery_task(source, str(Path(f))) for f in files]
    periods = sorted({date.fromisoformat(p) for landing in landings for p in landing["periods"]})
    ingested: list[dict[str, Any]] = []
    published: list[dict[str, Any]] = []
    trained: dict[str, Any] | None = None
    run_id = current_run_id()
    if train:
        for period in periods:
            with date_lock(locks_dir(source.staging_dir), period, source.lock_wait_seconds):
                validated = validate_day_task(source, period)
                publish_clean_task(source, validated)
            ingested.append(counts_dict(validated))
        trained = train_and_register_task(source)
    for period in periods:
        with date_lock(locks_dir(source.staging_dir), period, source.lock_wait_seconds):
            if train:
                result = score_and_publish_task(source, period)
                record_outcome(
                    source,
                    period,
                    run_id,
                    "completed",
                    counts={**ingested[len(published)], **result},
                )
            else:
                result = process_and_record(source, period, run_id)
                ingested.append(
                    {k: result[k] for k in ("day", "surveys_read", "kept", "quarantined")}
                )
        published.append(result)
    discard_run_staging(source.staging_dir, run_id)
    return {
        "source": source.source,
        "granularity": source.partition,
        "landed": landings,
        "ingested": ingested,
        "trained": trained,
        "published": published,
        "report": write_report_task(source),
    }
