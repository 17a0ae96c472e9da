"""Backfill plans and their idempotency keys, from the state on disk."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from servicelens.settings import Settings
from servicelens.storage.runs import date_status, plan_backfill

DAY = date(2026, 10, 1)


def test_keys_repeat_for_one_data_dir_and_differ_between_two(tmp_path: Path) -> None:
    """Two triggers on the same data see the same key; the same date of another data
    directory on the same Prefect server is not taken for a duplicate."""
    one, other = Settings(data_dir=str(tmp_path / "a")), Settings(data_dir=str(tmp_path / "b"))

    def key(settings: Settings) -> str:
        return plan_backfill([date_status(settings, DAY)], "all")[0].idempotency_key

    assert key(one) == key(one)
    assert key(one) != key(other)
    assert DAY.isoformat() in key(one)


def test_two_sources_of_one_data_dir_have_their_own_keys(tmp_path: Path) -> None:
    """A date of one source is never taken for the same date of another source (or of the
    sample) sharing the data directory."""
    sample = Settings(data_dir=str(tmp_path))
    calls = sample.for_source("calls", "calls.toml")
    cfpb = sample.for_source("cfpb", "cfpb", "month")

    def key(settings: Settings) -> str:
        return plan_backfill([date_status(settings, DAY)], "all")[0].idempotency_key

    assert len({key(sample), key(calls), key(cfpb)}) == 3
