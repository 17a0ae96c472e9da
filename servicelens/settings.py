"""One typed settings object, built at the entry point and passed down.

Nothing here touches the disk or the environment at import time: :func:`Settings.from_env`
is called by the CLI (or a test) and the result is handed to flows as a parameter.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

from servicelens.storage.fs import DataPath, as_path, machine_folder_for

DEFAULT_DATA_DIR = "./data"
DEFAULT_TIMEZONE = "Europe/London"
#: 02:30 business time: after the vendors' midnight exports, and outside the 01:00-02:00
#: hour that a spring-forward change skips.
DEFAULT_NIGHTLY_CRON = "30 2 * * *"
DEFAULT_RETRAIN_CRON = "0 5 * * 0"
#: Surveys a day in generated sample data (``demo``, ``generate``). At 28 days that is about
#: 18,000 QA audits, 13,500 of them before the time split's holdout: the model needs about
#: 10,000 audits to come within 2 points of the oracle (learning curve, README "## The model").
SAMPLE_PER_DAY = 5_000


@dataclass(frozen=True)
class Settings:
    """Where data lives and how the pipeline behaves; passed to every flow."""

    data_dir: str = DEFAULT_DATA_DIR
    timezone: str = DEFAULT_TIMEZONE
    seed: int = 7
    #: How many days of interaction files before a survey date are joined to its surveys.
    interaction_lookback_days: int = 2
    #: Responses with a calibrated probability inside this band are marked needs_review.
    review_band: tuple[float, float] = (0.35, 0.65)
    #: When the nightly deployment runs, and in which timezone it reads the cron.
    nightly_cron: str = DEFAULT_NIGHTLY_CRON
    retrain_cron: str = DEFAULT_RETRAIN_CRON
    #: Surveys arrive late: the nightly run re-checks this many dates before yesterday and
    #: reprocesses those whose input checksums changed.
    late_data_lookback_days: int = 3
    #: Slots of the global concurrency limit that backfill dates share; the nightly run does not
    #: take from it, so a large backfill cannot starve it.
    backfill_slots: int = 2
    #: Apprise URL (e.g. ``json://host/path``, ``mailto://...``) alerted when a nightly run fails.
    notify_url: str | None = None
    #: How long a run waits for another run of the same date to finish before refusing.
    lock_wait_seconds: float = 600.0

    @classmethod
    def from_env(cls, data_dir: str | None = None, **overrides: object) -> Settings:
        """Build settings from CLI values, falling back to ``SERVICELENS_*`` variables."""
        chosen = data_dir or os.environ.get("SERVICELENS_DATA_DIR") or DEFAULT_DATA_DIR
        base = cls(
            data_dir=str(chosen),
            timezone=os.environ.get("SERVICELENS_TIMEZONE", DEFAULT_TIMEZONE),
            nightly_cron=os.environ.get("SERVICELENS_NIGHTLY_CRON", DEFAULT_NIGHTLY_CRON),
            retrain_cron=os.environ.get("SERVICELENS_RETRAIN_CRON", DEFAULT_RETRAIN_CRON),
            late_data_lookback_days=int(os.environ.get("SERVICELENS_LOOKBACK_DAYS", "3")),
            backfill_slots=int(os.environ.get("SERVICELENS_BACKFILL_SLOTS", "2")),
            notify_url=os.environ.get("SERVICELENS_NOTIFY_URL") or None,
        )
        return replace(base, **overrides)  # type: ignore[arg-type]

    # --- the data layout: every path the pipeline reads or writes is named here ---------------

    @property
    def root(self) -> DataPath:
        """A local Path, or a RemotePath for ``s3://bucket/prefix`` and other URLs."""
        return as_path(self.data_dir)

    def raw_day(self, day: date) -> DataPath:
        """Immutable raw zone of one day: surveys.csv, interactions.jsonl, audits.csv."""
        return self.root / "raw" / day.isoformat()

    @property
    def policies_file(self) -> DataPath:
        return self.root / "raw" / "reference" / "policies.csv"

    @property
    def truth_dir(self) -> DataPath:
        """The generator's answer key; read by evaluation only, never by training."""
        return self.root / "truth"

    @property
    def clean_dir(self) -> DataPath:
        """Primary layer: validated, de-duplicated responses joined to their interactions."""
        return self.root / "clean" / "responses"

    @property
    def marts_dir(self) -> DataPath:
        return self.root / "marts"

    @property
    def quarantine_dir(self) -> DataPath:
        return self.root / "quarantine"

    @property
    def models_dir(self) -> DataPath:
        return self.root / "models"

    @property
    def runs_dir(self) -> DataPath:
        """One outcome record per date (completed or failed), beside the marts, not in them."""
        return self.root / "runs"

    @property
    def staging_dir(self) -> DataPath:
        """Scratch space for frames handed between tasks and partitions being written."""
        return self.root / ".staging"

    @property
    def local_root(self) -> Path:
        """Where files that must be local files go (HTML reports, Data Docs pages).

        The data directory itself when it is local. For an object store it is a folder in
        the temporary directory named after the store's URL: the reports are opened in a
        browser and GX renders its pages to local files, so they stay on this machine.
        """
        if isinstance(self.root, Path):
            return self.root
        return machine_folder_for(self.root, "local")

    @property
    def reports_dir(self) -> Path:
        """Run reports: ``latest.html`` is always the newest."""
        return self.local_root / "reports"

    @property
    def gx_docs_dir(self) -> Path:
        """Great Expectations Data Docs: one page per validation, and an index."""
        return self.reports_dir / "gx_docs"
