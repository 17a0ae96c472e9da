"""Repeat contacts from the interaction history: hand-counted on a few contacts."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
import pytest

from transforms.repeat_contacts import (
    contacts_from_interactions,
    with_earlier_contacts,
    with_returns,
)
from transforms.schemas import CONTACT_SCHEMA


def _contacts() -> pl.DataFrame:
    at = [
        datetime(2026, 10, 1, 10, tzinfo=UTC),  # i0 C1 delivery: first contact
        datetime(2026, 10, 5, 9, tzinfo=UTC),  # i1 C1 delivery: back 3 d 23 h later
        datetime(2026, 10, 20, 12, tzinfo=UTC),  # i2 C1 delivery: 15 days after i1
        datetime(2026, 11, 15, 12, tzinfo=UTC),  # i3 C1 delivery: 26 days after i2
        datetime(2026, 10, 3, 8, tzinfo=UTC),  # i4 C1 billing: another queue
        datetime(2026, 10, 2, 8, tzinfo=UTC),  # i5 C2 delivery
        datetime(2026, 10, 2, 9, tzinfo=UTC),  # i6 no customer recorded
    ]
    return pl.DataFrame(
        {
            "interaction_id": [f"i{n}" for n in range(7)],
            "customer_id": ["C1", "C1", "C1", "C1", "C1", "C2", None],
            "queue": ["delivery"] * 4 + ["billing", "delivery", "delivery"],
            "started_at": at,
        }
    )


def test_look_back_counts_the_same_customer_and_queue_in_the_30_days_before() -> None:
    contacts = _contacts()
    counted = with_earlier_contacts(contacts, contacts).sort("interaction_id")
    # i1 follows i0; i2 follows i0 (19 d) and i1 (15 d); i3 only i2 (26 d; i1 is 41 d back)
    assert counted.get_column("repeat_contacts_30d").to_list() == [0, 1, 2, 1, 0, 0, None]
    assert counted.schema["repeat_contacts_30d"] == pl.Int16


def test_look_back_ignores_an_interaction_exported_twice() -> None:
    contacts = _contacts()
    twice = pl.concat([contacts, contacts.filter(pl.col("interaction_id") == "i0")])
    counted = with_earlier_contacts(contacts, twice).sort("interaction_id")
    assert counted.get_column("repeat_contacts_30d").to_list() == [0, 1, 2, 1, 0, 0, None]


def test_look_forward_settles_once_the_window_has_passed() -> None:
    contacts = _contacts()
    known_until = datetime(2026, 11, 20, tzinfo=UTC)
    followed = with_returns(contacts, contacts, 7, known_until).sort("interaction_id")
    assert followed.get_column("came_back").to_list() == [
        True,
        False,
        False,
        False,
        False,
        False,
        None,
    ]
    # i3's window ends on 22 November, after what the history covers: provisional.
    assert followed.get_column("settled").to_list() == [True, True, True, False, True, True, None]
    assert followed.get_column("days_to_return")[0] == pytest.approx(3 + 23 / 24)
    # A wider window sees i2 come back to i1 (15 days and 3 hours later) too.
    wider = with_returns(contacts, contacts, 16, known_until).sort("interaction_id")
    assert wider.get_column("came_back").to_list()[:3] == [True, True, False]


def test_a_return_inside_an_open_window_waits_with_the_rest() -> None:
    """A return is final for its contact, yet a contact counts towards first-contact
    resolution only once its window is over, came back or not: settling returns at once
    judged a trial's agents on returns alone in a week whose history was never complete
    (first-contact resolution 0.000)."""
    contacts = _contacts()
    followed = with_returns(contacts, contacts, 7, datetime(2026, 10, 6, tzinfo=UTC))
    by_id = {row["interaction_id"]: row for row in followed.iter_rows(named=True)}
    assert by_id["i0"]["came_back"] and not by_id["i0"]["settled"]
    assert not by_id["i5"]["came_back"] and not by_id["i5"]["settled"]
    # No history beyond the week's start: nothing is settled, whatever came back.
    none = with_returns(contacts, contacts, 7, datetime(2026, 10, 1, tzinfo=UTC))
    assert not none.get_column("settled").fill_null(False).any()
    assert none.get_column("came_back").fill_null(False).any()


def test_contacts_of_an_export_take_its_day_as_partition() -> None:
    interactions = _contacts().with_columns(
        pl.lit("A1").alias("agent_id"),
        pl.lit("DELIV-4H-WINDOW").alias("policy_code"),
        pl.lit(300.0).alias("handle_seconds"),
        pl.lit(1, pl.Int16).alias("transfers"),
    )
    interactions = pl.concat(
        [
            interactions,
            interactions.head(1).with_columns(pl.lit(None, pl.String).alias("interaction_id")),
        ]
    )
    contacts = contacts_from_interactions(interactions, date(2026, 10, 1))
    assert contacts.schema == pl.Schema(CONTACT_SCHEMA)
    assert contacts.height == 7
    assert contacts.get_column("survey_date").unique().to_list() == [date(2026, 10, 1)]
