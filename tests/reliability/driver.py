"""What a crash test runs in a real child process: the pipeline for one date, no Prefect.

The stages are the ones the Prefect flows call; the date lock is the one the nightly flow
takes. The child is forked from a forkserver that imported all of this once, so a test can
start, pause, kill and re-run many processes without paying for the imports each time.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import date
from pathlib import Path

from servicelens.checkpoints import PAUSE_AT_ENV, PAUSE_FILE_ENV
from servicelens.settings import Settings
from servicelens.stages import load_clean, publish_clean, publish_marts, validate_day
from servicelens.storage.locks import LockBusyError, date_lock
from servicelens.storage.partitions import locks_dir
from transforms.marts import without_scores

#: Exit code of a run that refused because another run of the date holds the lock.
REFUSED = 3


def run_date(
    data_dir: str, day: str, run_id: str, pause_at: str, pause_file: str, lock_wait: float
) -> None:
    """Ingest and publish one date the way the nightly flow does; report to ``<pause_file>.out``."""
    os.environ[PAUSE_AT_ENV] = pause_at
    os.environ[PAUSE_FILE_ENV] = pause_file
    settings = Settings(data_dir=data_dir, lock_wait_seconds=lock_wait)
    survey_date = date.fromisoformat(day)
    report = Path(pause_file + ".out")
    try:
        with date_lock(locks_dir(settings.staging_dir), survey_date, lock_wait):
            validated = validate_day(settings, survey_date, run_id)
            publish_clean(settings, validated, {"run_id": run_id})
            # No champion model in these tests: the marts carry empty root causes. Their
            # manifests carry the clean partition's inputs, as the nightly flow's do.
            scored = without_scores(load_clean(settings, survey_date))
            manifest = {"run_id": run_id, "inputs": validated.inputs}
            publish_marts(settings, survey_date, scored, None, manifest)
    except LockBusyError as error:
        report.write_text(json.dumps({"outcome": "refused", "error": str(error)}))
        sys.exit(REFUSED)
    report.write_text(json.dumps({"outcome": "completed", "run_id": run_id}))
