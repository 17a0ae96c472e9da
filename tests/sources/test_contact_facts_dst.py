"""A contact-facts feed's start time the clocks made ambiguous (it happened twice) or
impossible (it never happened) is one quarantined row, not a failed day. Found by a
workforce analyst's trial: ticket 551, created 2026-10-25 01:30:00 Europe/London, failed the
whole of 2026-10-25 ("row reconciliation failed: read 5 != kept 4 + quarantined 0") and
kept the day's ratings out of the clean layer, though ``sources check`` quarantined it."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from servicelens.ingest.configured import pick_up_deliveries, register_source
from servicelens.settings import Settings
from servicelens.stages import validate_landed_day

#: The trial's definition: the zendesk preset, with a ticket export as its contact facts.
DEFINITION = """extends = "zendesk"
name = "acme-zendesk"
timezone = "Europe/London"

[interactions]
lookback_days = 7
[interactions.read]
format = "csv"
[interactions.columns]
interaction_id = "Ticket ID"
started_at = { column = "Ticket created - Timestamp", format = "%Y-%m-%d %H:%M:%S" }
handle_seconds = { column = "Full resolution time (min)", unit = "minutes" }
transfers = "Group reassignments"
"""


def _rating(rating_id: int, ticket: int, at: str) -> dict[str, object]:
    """One Zendesk satisfaction rating of ``ticket``, given at ``at`` (UTC)."""
    return {
        "id": rating_id,
        "ticket_id": ticket,
        "assignee_id": 135,
        "group_id": 44,
        "requester_id": f"C-{ticket}",
        "score": "good",
        "comment": f"ticket {ticket} was good",
        "reason": None,
        "created_at": at,
        "updated_at": at,
    }


@pytest.mark.parametrize(
    ("day", "local", "reason"),
    [
        # The clocks went back at 02:00 BST: 01:00-02:00 came twice.
        (date(2026, 10, 25), "2026-10-25 01:30:00", "happened twice in Europe/London"),
        # The clocks went forward at 01:00 GMT: 01:00-02:00 never came.
        (date(2026, 3, 29), "2026-03-29 01:30:00", "Europe/London"),
    ],
)
def test_a_start_the_clocks_changed_is_quarantined_and_the_day_kept(
    tmp_path: Path, day: date, local: str, reason: str
) -> None:
    definition = tmp_path / "acme-zendesk.toml"
    definition.write_text(DEFINITION, encoding="utf-8")
    source = register_source(
        Settings(data_dir=str(tmp_path / "data"), inbox_settle_seconds=0), str(definition)
    )
    (source.for_interactions().inbox_dir / "tickets.csv").write_text(
        "Ticket ID,Ticket created - Timestamp,Full resolution time (min),Group reassignments\n"
        f"550,{day} 00:10:00,5,0\n"
        f"551,{local},10,0\n"
        f"552,{day} 10:00:00,7,1\n"
    )
    ratings = [
        _rating(9000, 550, f"{day}T03:00:00Z"),
        _rating(9001, 551, f"{day}T04:00:00Z"),
        _rating(9002, 552, f"{day}T12:00:00Z"),
    ]
    (source.inbox_dir / "ratings.json").write_text(
        json.dumps({"satisfaction_ratings": ratings, "next_page": None, "count": 3})
    )
    assert not any(p.error for p in pick_up_deliveries(source))

    validated = validate_landed_day(source, day, "run-1")  # raised BatchError before

    # Every rating is kept; 551's is joined to no facts, as a ticket missing from the feed.
    clean = validated.clean().sort("response_id")
    assert clean.select("interaction_id", "handle_seconds").rows() == [
        ("550", 300.0),
        ("551", None),
        ("552", 420.0),
    ]
    [bad] = validated.quarantine().filter(pl.col("feed") == "interactions").to_dicts()
    assert bad["survey_date"] == day
    assert bad["source_file"].endswith("-tickets.csv") and bad["source_line"] == 3
    assert bad["record_id"] == "551"
    [said] = bad["reasons"]
    assert said.startswith(f"started_at: '{local}'") and reason in said
    assert "set ambiguous_times to earliest" in said or "UTC offset" in said
    counts = validated.counts
    assert (counts.interactions_read, counts.interactions_quarantined) == (3, 1)
    assert (counts.surveys_read, counts.kept, counts.quarantined) == (3, 3, 0)
