"""A contact is settled once the contact history covers its own return window, not the
whole week's: found by a workforce analyst's trial, whose first week (the history began
after its Monday) had 24,158 contacts and 0 settled, where 24,158 had been followed for the
7 days they needed (4,574 came back: first-contact resolution 0.811)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl

from servicelens.outcomes import agent_week
from servicelens.settings import Settings
from servicelens.storage.partitions import write_partition
from transforms.schemas import CONTACT_SCHEMA

MONDAY = date(2026, 11, 2)
#: (customer, day of the contact): c-1 calls on Wednesday and comes back on Friday, c-2 calls
#: on Wednesday only, c-3 on Saturday.
CONTACTS = [("c-1", 4), ("c-1", 6), ("c-2", 4), ("c-3", 7)]


def _publish(settings: Settings, day: date) -> None:
    """The day's export indexed: its contacts of :data:`CONTACTS` (none is an empty day)."""
    rows = [(c, d) for c, d in CONTACTS if d == day.day]
    contacts = pl.DataFrame(
        {
            "survey_date": [day] * len(rows),
            "interaction_id": [f"i-{c}-{d}" for c, d in rows],
            "customer_id": [c for c, _ in rows],
            "agent_id": ["a-7"] * len(rows),
            "queue": ["billing"] * len(rows),
            "policy_code": ["FEE"] * len(rows),
            "started_at": [datetime(2026, 11, d, 10, tzinfo=UTC) for _, d in rows],
            "handle_seconds": [300.0] * len(rows),
            "transfers": [0] * len(rows),
            "resolved_first_contact": [None] * len(rows),
            "abandoned": [None] * len(rows),
        },
        schema=CONTACT_SCHEMA,
    )
    write_partition(contacts, settings.contacts_dir, day, CONTACT_SCHEMA, {}, settings.staging_dir)


def test_contacts_settle_on_their_own_window_from_a_mid_week_start(tmp_path: Path) -> None:
    settings = Settings(data_dir=str(tmp_path / "data"), min_agent_contacts=1)
    # The history starts on Wednesday (no export of Monday or Tuesday) and runs to the
    # Sunday after next, but for Thursday 12th, a day no export was delivered for.
    for offset in range(2, 14):
        day = MONDAY + timedelta(days=offset)
        if day != date(2026, 11, 12):
            _publish(settings, day)
    [week] = agent_week(settings, MONDAY).to_dicts()
    # Wednesday's two contacts needed Wednesday to next Wednesday 10:00: covered, settled
    # (c-1 came back). Friday's and Saturday's windows run past the missing 12th: waiting.
    assert (week["contacts"], week["settled_contacts"], week["came_back"]) == (4, 2, 1)
    assert week["first_contact_resolution"] == 0.5
    assert week["fcr_provisional"] and week["status"] == "judged"
