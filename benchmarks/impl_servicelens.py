"""The pipeline itself, stage by stage, as one date of a nightly run executes it (no Prefect).

It calls the same functions the Prefect tasks call: ``stages.validate_day``,
``stages.publish_clean`` and the body of ``score_and_publish_task``; the stage clock wraps
the functions those call, to split the time into read / validate / redact (personal data) /
clean / score / write.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from benchmarks.clock import StageClock

STAGES = {
    "servicelens.stages": {
        "read_surveys": "read",
        "read_interactions": "read",
        "read_plain_csv": "read",
        "validate_survey_batch": "validate",
        "validate_survey_rows": "validate",
        "with_accepted_elsewhere": "validate",  # the cross-date duplicate rule reads other dates
        "redact_pii": "redact",  # its own column: it must not become the slowest stage
        "normalise_surveys": "clean",
        "with_detected_language": "clean",  # the comment's language, where none is stated
        "split_superseded_deliveries": "clean",
        "join_interactions": "clean",
        "with_policy_facts": "clean",
        "_survey_quarantine": "clean",
        "stage_partition": "write",
        "write_partition": "write",
        "checksums": "write",  # input checksums of exports indexed outside validate_day
        "marts_for_day": "clean",  # called by publish_marts
        "contact_history": "read",  # the earlier days' contacts the look-back counts over
        "with_earlier_contacts": "clean",
    },
    "flows.tasks": {
        "load_clean": "read",
        "cached_model": "score",  # waits for the champion loading since the date began
        "score_negatives": "score",
        "review_queue": "clean",
        "early_warning": "score",  # the day's failure shares against their history
        "write_partition": "write",  # the review queue; the other marts go via publish_marts
    },
}


def run(data_dir: str, days: list[date], clock: StageClock) -> dict[str, Any]:
    """Process ``days`` one after another; return the row counts."""
    import importlib

    from flows.tasks import score_and_publish_task
    from servicelens import stages
    from servicelens.settings import Settings

    for module_name, functions in STAGES.items():
        module = importlib.import_module(module_name)
        for attribute, stage in functions.items():
            clock.wrap(module, attribute, stage)
    settings = Settings(data_dir=data_dir)
    surveys = kept = quarantined = scored = 0
    manifest = {"run_id": "bench", "flow": "bench"}
    for day in days:
        validated = stages.validate_day(settings, day, "bench")
        stages.publish_clean(settings, validated, manifest)
        # The task's own function, without Prefect's engine around it.
        published = score_and_publish_task.fn(settings, day)
        surveys += validated.counts.surveys_read
        kept += validated.counts.kept
        quarantined += validated.counts.quarantined
        scored += published["scored"]
        clock.mark(str(day))
    return {"surveys": surveys, "kept": kept, "quarantined": quarantined, "scored": scored}
