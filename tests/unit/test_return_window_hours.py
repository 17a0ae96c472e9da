"""The return window is what README says it is: 24-hour days of elapsed time (UTC) from the
contact's start. Found by a workforce analyst's trial: README said "within 7 days", the code
(``with_returns``) counts 168 hours, and a return 7 calendar days later across the clocks
going back (168 h 40 min) was no return."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from transforms.repeat_contacts import with_returns

README = Path(__file__).resolve().parents[2] / "README.md"


def _contacts(*started: datetime) -> pl.DataFrame:
    """One customer's contacts with one queue, started at ``started`` (UTC)."""
    return pl.DataFrame(
        {
            "interaction_id": [f"i-{n}" for n in range(len(started))],
            "customer_id": ["C-001"] * len(started),
            "queue": ["billing"] * len(started),
            "started_at": list(started),
        },
        schema_overrides={"started_at": pl.Datetime("us", "UTC")},
    )


def test_a_return_seven_calendar_days_later_across_the_clocks_is_none() -> None:
    # Sat 2026-10-24 23:50 BST, then Sat 2026-10-31 23:30 GMT: 168 hours 40 minutes later.
    first, later = (
        datetime(2026, 10, 24, 22, 50, tzinfo=UTC),
        datetime(2026, 10, 31, 23, 30, tzinfo=UTC),
    )
    followed = with_returns(_contacts(first, later), _contacts(first, later), 7).sort(
        "interaction_id"
    )
    assert followed.get_column("came_back").to_list() == [False, False]
    # And README says so, in the code's terms.
    text = " ".join(README.read_text(encoding="utf-8").split())
    assert "at most 168 hours later, elapsed time (UTC), not calendar days" in text
    assert "168 hours 40 minutes apart: no return" in text
