"""A completed date's result when Prefect's state has lost it (flows/dates.py)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest


def test_a_completed_date_whose_state_lost_its_result_reads_the_recorded_one(
    tmp_path: Path,
) -> None:
    """Prefect's MissingResult on a completed date's state failed a whole nightly run on a
    loaded machine (a new user's trial) after the date had recorded its outcome."""
    from prefect.exceptions import MissingResult
    from prefect.states import Completed

    from flows.dates import completed_result
    from servicelens.settings import Settings
    from servicelens.storage.runs import record_outcome

    settings = Settings(data_dir=str(tmp_path))
    day = date(2026, 10, 1)
    assert completed_result(Completed(data={"kept": 3}), settings, day, "run-1") == {"kept": 3}
    with pytest.raises(MissingResult):  # nothing recorded: nothing to stand in
        completed_result(Completed(), settings, day, "run-1")
    record_outcome(settings, day, "run-1", "completed", counts={"kept": 3}, inputs={})
    assert completed_result(Completed(), settings, day, "run-1") == {
        "kept": 3,
        "result_from": "outcome record",
    }
    with pytest.raises(MissingResult):  # another run's record is not this run's result
        completed_result(Completed(), settings, day, "run-2")
