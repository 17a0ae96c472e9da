"""The weekly marts per source: a week whose contacts have no survey responses yet, and the
periods of a source partitioned by month."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl

from servicelens.outcomes import agent_week, period_end, period_of, weeks_touched
from servicelens.settings import Settings
from servicelens.storage.partitions import write_partition
from transforms.schemas import CONTACT_SCHEMA

MONDAY = date(2026, 10, 5)


def test_a_week_of_contacts_without_responses_is_built_with_its_source(tmp_path: Path) -> None:
    settings = Settings(data_dir=str(tmp_path / "data"), min_agent_contacts=1)
    contacts = pl.DataFrame(
        {
            "survey_date": [MONDAY, MONDAY],
            "interaction_id": ["i-1", "i-2"],
            "customer_id": ["c-1", "c-2"],
            "agent_id": ["a-7", "a-7"],
            "queue": ["billing", "billing"],
            "policy_code": ["FEE", "FEE"],
            "started_at": [datetime(2026, 10, 5, 9, tzinfo=UTC)] * 2,
            "handle_seconds": [120.0, 1680.0],
            "transfers": [0, 2],
            "resolved_first_contact": [None, None],
            "abandoned": [None, None],
        },
        schema=CONTACT_SCHEMA,
    )
    write_partition(
        contacts, settings.contacts_dir, MONDAY, CONTACT_SCHEMA, {}, settings.staging_dir
    )
    week = agent_week(settings, MONDAY)
    assert week.select("source", "contacts", "responses", "median_handle_seconds").rows() == [
        ("sample", 2, 0, 900.0)
    ]
    assert week.get_column("agent").item().startswith("agent-")


def test_a_monthly_source_has_monthly_periods() -> None:
    monthly = Settings().for_source("cfpb", "cfpb", "month")
    assert period_of(monthly, date(2024, 2, 17)) == date(2024, 2, 1)
    assert period_end(monthly, date(2024, 2, 1)) == date(2024, 2, 29)
    assert period_of(Settings(), date(2024, 2, 17)) == date(2024, 2, 12)
    # A month's rows settle in the month after (returns), and count in the windows of the
    # next two months (a quarter).
    assert weeks_touched(monthly, [date(2024, 2, 3)]) == [
        date(2024, 1, 1),
        date(2024, 2, 1),
        date(2024, 3, 1),
        date(2024, 4, 1),
    ]
