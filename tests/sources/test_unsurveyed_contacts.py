"""A configured source's unrated tickets are contacts: every row of its ``[interactions]``
feed that names its customer is one, surveyed or not. Found by a workforce analyst's trial:
the repeat-contact history held the surveyed tickets only, so customer C's unrated ticket 522
two days after the rated 521 was missed, and 521's agent read first-contact resolution 1.0.

Built on the feed of tests/sources/test_interaction_feed.py (its definition, the Requester
column its erase test adds), through landing, validation, publishing and agent_week."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from servicelens.cli.sources import check_definition
from servicelens.ingest.configured import pick_up_deliveries, register_source
from servicelens.outcomes import agent_week, published_agent_ids
from servicelens.settings import Settings
from servicelens.stages import publish_clean, validate_landed_day
from tests.sources.test_interaction_feed import DEFINITION

NOV16 = date(2026, 11, 16)  # a Monday
#: Every day up to the end of the week's return windows has a rated ticket: its history is
#: complete, so each contact of the week is settled.
DAYS = [NOV16 + timedelta(days=n) for n in range(15)]
HEADER = (
    "Ticket ID,Ticket created - Timestamp,Ticket group,Assignee name,"
    "Full resolution time (min),Requester"
)


def _tickets() -> str:
    """C rates 521, comes back unrated with 522 two days later, and rates 523 two days
    after that, all in Billing; one other customer's rated ticket a day in Shipping."""
    rows = [
        "521,2026-11-16 09:00:00,Billing,Priya Nair,5,C7",
        "522,2026-11-18 09:00:00,Billing,Ana Ruiz,5,C7",
        "523,2026-11-20 09:00:00,Billing,Ana Ruiz,5,C7",
        *(f"F{d:%m%d},{d} 08:00:00,Shipping,Jonas Becker,5,K{d:%m%d}" for d in DAYS),
    ]
    return "\n".join([HEADER, *rows]) + "\n"


def _ratings() -> str:
    rows = [
        "R521,521,2026-11-16T10:00:00Z,5",
        "R523,523,2026-11-20T10:00:00Z,5",
        *(f"R{d:%m%d},F{d:%m%d},{d}T12:00:00Z,4" for d in DAYS),
    ]
    return "\n".join(["Response,Ticket,Rated at,Score", *rows]) + "\n"


def _run(tmp_path: Path, definition_text: str) -> Settings:
    """Register the source, land the tickets and ratings, and validate and publish each
    day in order, as the nightly run does."""
    definition = tmp_path / "helpdesk.toml"
    definition.write_text(definition_text, encoding="utf-8")
    base = Settings(data_dir=str(tmp_path / "data"), inbox_settle_seconds=0)
    source = register_source(base, str(definition))
    (source.for_interactions().inbox_dir / "tickets.csv").write_text(_tickets())
    (source.inbox_dir / "ratings.csv").write_text(_ratings())
    assert not any(p.error for p in pick_up_deliveries(source))
    for day in DAYS:
        publish_clean(source, validate_landed_day(source, day, f"run-{day}"), {"run_id": "t"})
    return source


def _fcr_of_521s_agent(source: Settings) -> float | None:
    clean = pl.read_parquet(source.clean_dir / f"survey_date={NOV16}" / "part-0.parquet")
    agent = clean.filter(pl.col("response_id") == "R521").get_column("agent_id")
    [mart] = published_agent_ids(source, agent).to_list()
    week = agent_week(source, NOV16)
    [fcr] = week.filter(pl.col("agent") == mart).get_column("first_contact_resolution")
    return fcr  # type: ignore[no-any-return]


def _contacts(source: Settings) -> pl.DataFrame:
    return pl.read_parquet(source.contacts_dir / "*" / "*.parquet", hive_partitioning=True)


def test_an_unrated_return_is_a_contact_and_the_first_was_not_resolved(
    tmp_path: Path,
) -> None:
    source = _run(tmp_path, DEFINITION + 'customer_id = "Requester"\n')
    contacts = _contacts(source)
    # Every ticket once, the unrated 522 among them, in the partition of the day it started.
    assert contacts.get_column("interaction_id").is_duplicated().sum() == 0
    assert contacts.height == 3 + len(DAYS)
    [unrated] = contacts.filter(pl.col("interaction_id") == "522").to_dicts()
    assert (unrated["survey_date"], unrated["customer_id"], unrated["queue"]) == (
        date(2026, 11, 18),
        "C7",
        "billing",
    )
    # Looking back: 523 is C7's third Billing contact in 30 days (521 rated, 522 not).
    rated = pl.read_parquet(source.clean_dir / "survey_date=2026-11-20" / "part-0.parquet")
    repeats = dict(rated.select("response_id", "repeat_contacts_30d").iter_rows())
    assert repeats["R523"] == 2
    # Looking forward: 521's customer came back (with 522), so it was not resolved first time.
    assert _fcr_of_521s_agent(source) == 0.0


def test_a_feed_without_customer_ids_keeps_its_surveyed_contacts_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="servicelens.stages"):
        source = _run(tmp_path, DEFINITION)
    said = [r.getMessage() for r in caplog.records if "maps no customer_id" in r.getMessage()]
    assert len(said) == 1  # once for the run's fifteen dates
    assert "repeat contacts are undercounted" in said[0]
    assert str(source.definition) in said[0]
    # Today's result: the surveyed tickets only (no customer: no return can be seen).
    contacts = _contacts(source)
    assert "522" not in contacts.get_column("interaction_id").to_list()
    assert contacts.height == 2 + len(DAYS)
    tickets = tmp_path / "tickets.csv"
    tickets.write_text(_tickets())
    preview = check_definition(str(source.definition), str(tickets), source)
    assert "maps no customer_id" in preview["contacts_note"]


def test_erasing_the_customer_erases_the_contacts_built_from_the_feed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from servicelens.cli.main import main

    source = _run(tmp_path, DEFINITION + 'customer_id = "Requester"\n')
    assert _contacts(source).filter(pl.col("customer_id") == "C7").height == 3
    argv = ["--data-dir", str(tmp_path / "data"), "erase", "--customer-id", "C7"]
    assert main([*argv, "--source", "helpdesk", "--yes", "--json"]) == 0
    capsys.readouterr()
    contacts = _contacts(source)
    assert not {"521", "522", "523"} & set(contacts.get_column("interaction_id"))
    assert contacts.height == len(DAYS)
