"""A date's flow-run name says what triggered it and which source it is of (flows/run_names.py);
recovery tells a date's run from a backfill's own by it."""

from __future__ import annotations

import pytest

from flows.run_names import date_run_name, date_run_trigger, is_date_run_name
from servicelens.settings import Settings


@pytest.mark.parametrize(
    ("source", "tags", "name"),
    [
        (None, [], "nightly-2026-11-02"),
        (None, ["backfill"], "backfill-2026-11-02"),
        ("sm-support", ["nightly", "source:sm-support"], "nightly-sm-support-2026-11-02"),
        ("sm-support", ["backfill"], "backfill-sm-support-2026-11-02"),
    ],
)
def test_a_date_run_is_named_by_its_trigger_and_source(
    source: str | None, tags: list[str], name: str
) -> None:
    settings = Settings(data_dir="data")
    if source:
        settings = settings.for_source(source, f"{source}.toml")
    assert date_run_name(settings, "2026-11-02", tags) == name
    assert date_run_name({"source": source}, "2026-11-02", tags) == name  # parameters' form
    assert date_run_trigger(tags) == name.split("-", 1)[0]
    assert is_date_run_name(name)


def test_a_backfills_own_run_is_not_a_date_run() -> None:
    assert not is_date_run_name("backfill-2026-10-01-to-2026-10-07-missing-and-failed-dates")
    assert not is_date_run_name("backfill-2026-10-01-to-2026-10-07-all-dates")
