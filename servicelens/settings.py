"""One typed settings object, built at the entry point and passed down.

Nothing here touches the disk or the environment at import time: :func:`Settings.from_env`
is called by the CLI (or a test) and the result is handed to flows as a parameter.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from datetime import date

from servicelens.fs import DataPath, as_path

DEFAULT_DATA_DIR = "./data"
DEFAULT_TIMEZONE = "Europe/London"


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

    @classmethod
    def from_env(cls, data_dir: str | None = None, **overrides: object) -> Settings:
        """Build settings from CLI values, falling back to ``SERVICELENS_*`` variables."""
        chosen = data_dir or os.environ.get("SERVICELENS_DATA_DIR") or DEFAULT_DATA_DIR
        base = cls(
            data_dir=str(chosen),
            timezone=os.environ.get("SERVICELENS_TIMEZONE", DEFAULT_TIMEZONE),
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
    def staging_dir(self) -> DataPath:
        """Scratch space for frames handed between tasks and partitions being written."""
        return self.root / ".staging"
