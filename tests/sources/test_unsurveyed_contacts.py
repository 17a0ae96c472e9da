"""A configured source's unrated tickets are contacts: every row of its ``[interactions]``
feed that names its customer is one, surveyed or not. Found by a workforce analyst's trial:
the repeat-contact history held the surveyed tickets only, so customer C's unrated ticket 522
two days after the rated 521 was missed, and 521's agent read first-contact resolution 1.0.

Built on the feed of tests/sources/test_interaction_feed.py (its definition, the Requester
column its erase test adds), through landing, validation, publishing and agent_week."""

from __future__ import annotations

import logging
import shutil
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from servicelens.cli.sources import check_definition
from servicelens.ingest.configured import configured_source, pick_up_deliveries, register_source
from servicelens.outcomes import agent_week, published_agent_ids
from servicelens.settings import Settings
from servicelens.stages import publish_clean, validate_landed_day
from tests.shared_builds import built_once, run_folder
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


def _with_customers(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Settings:
    """:func:`_run` of the definition that maps the customer, as a data directory of the
    test's own (``tmp_path/data``).

    Two tests ran this same deterministic build (fifteen dates landed, validated and
    published: about 18 s of CPU each, 2026-12-07); the first of the run to ask builds it
    (:func:`tests.shared_builds.built_once`) and each test copies it before it writes."""

    def build(folder: Path) -> None:
        _run(folder, DEFINITION + 'customer_id = "Requester"\n')

    built = built_once(run_folder(tmp_path_factory), "unsurveyed-contacts-customers", build)
    shutil.copytree(built / "data", tmp_path / "data")
    base = Settings(data_dir=str(tmp_path / "data"), inbox_settle_seconds=0)
    return configured_source(base, "helpdesk")


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
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    source = _with_customers(tmp_path_factory, tmp_path)
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
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from servicelens.cli.main import main

    source = _with_customers(tmp_path_factory, tmp_path)
    assert _contacts(source).filter(pl.col("customer_id") == "C7").height == 3
    argv = ["--data-dir", str(tmp_path / "data"), "erase", "--customer-id", "C7"]
    assert main([*argv, "--source", "helpdesk", "--yes", "--json"]) == 0
    capsys.readouterr()
    contacts = _contacts(source)
    assert not {"521", "522", "523"} & set(contacts.get_column("interaction_id"))
    assert contacts.height == len(DAYS)


#: The nights of the test below: Monday 16 November 2026 is day 1, and each night's run
#: processes the day before it (``servicelens run --date``).
DAY = {n: NOV16 + timedelta(days=n - 1) for n in range(1, 13)}


def _filler(days: list[int]) -> tuple[list[str], list[str]]:
    """Another customer's rated Shipping ticket on each of ``days`` (customer K<day>): the
    test gives one to every day up to day 10 but day 2 (tickets and no survey: indexed from
    the feed alone), so the history covers the week's return windows."""
    tickets = [f"F{n},{DAY[n]} 08:00:00,Shipping,Jonas Becker,5,K{n}" for n in days]
    ratings = [f"RF{n},F{n},{DAY[n]}T12:00:00Z,4" for n in days]
    return tickets, ratings


def _deliver(source: Settings, name: str, tickets: list[str], ratings: list[str]) -> None:
    """A vendor drops a ticket export and a ratings export (either may be empty)."""
    if tickets:
        path = source.for_interactions().inbox_dir / f"{name}.csv"
        path.write_text("\n".join([HEADER, *tickets]) + "\n", encoding="utf-8")
    if ratings:
        path = source.inbox_dir / f"{name}.csv"
        path.write_text("\n".join(["Response,Ticket,Rated at,Score", *ratings]) + "\n")


def _night(data: str, day: int) -> None:
    """The nightly run of ``day`` (as the served schedule runs it the night after)."""
    from servicelens.cli.main import main

    assert main(["--data-dir", data, "run", "--date", DAY[day].isoformat()]) == 0


def test_more_tickets_of_a_feed_only_day_are_contacts_of_its_later_counts(
    prefect_api: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found reading 6f58c8c: a day with tickets and no survey was indexed from the feed
    once, and tickets of that day delivered later were never contacts. C1 rates T1 on day
    1; day 3's feed carries C1's unrated T2 of day 2; C1 rates T3 on day 4; a later
    re-export adds C1's unrated T4 of day 2, handled by T1's agent. The nightly runs' own
    look-back must count T4 in R3's repeat contacts and in that agent's week, and day 2's
    contacts must let T4 go once a correction re-dates it to day 3."""
    definition = tmp_path / "helpdesk.toml"
    definition.write_text(DEFINITION + 'customer_id = "Requester"\n', encoding="utf-8")
    data = str(tmp_path / "data")
    source = register_source(Settings(data_dir=data), str(definition))
    t1 = f"T1,{DAY[1]} 09:00:00,Billing,Priya Nair,5,C1"
    # Priya's other contact of day 1, one no customer came back from: her week is not 0.0
    # whether T4 counts or not, so the assertion below can tell.
    k = f"K1,{DAY[1]} 10:00:00,Billing,Priya Nair,5,C2"
    t2 = f"T2,{DAY[2]} 09:00:00,Billing,Ana Ruiz,5,C1"
    t3 = f"T3,{DAY[4]} 09:00:00,Billing,Ana Ruiz,5,C1"
    t4 = f"T4,{DAY[2]} 15:00:00,Billing,Priya Nair,5,C1"
    tickets, ratings = _filler([1])
    _deliver(source, "day1", [t1, k, *tickets], ["R1,T1,2026-11-16T10:00:00Z,5", *ratings])
    _night(data, 1)
    tickets, ratings = _filler([3])
    _deliver(source, "day3", [t2, *tickets], ratings)
    _night(data, 3)
    tickets, ratings = _filler([4])
    _deliver(source, "day4", [t3, *tickets], ["R3,T3,2026-11-19T10:00:00Z,5", *ratings])
    _night(data, 4)
    tickets, ratings = _filler(list(range(5, 11)))
    _deliver(source, "day10", tickets, ratings)
    _night(data, 10)

    def repeats_of_r3() -> int:
        clean = pl.read_parquet(source.clean_dir / f"survey_date={DAY[4]}" / "part-0.parquet")
        [count] = clean.filter(pl.col("response_id") == "R3").get_column("repeat_contacts_30d")
        return int(count)

    def priyas_week() -> tuple[int, float]:
        clean = pl.read_parquet(source.clean_dir / f"survey_date={DAY[1]}" / "part-0.parquet")
        agent = clean.filter(pl.col("response_id") == "R1").get_column("agent_id")
        [mart] = published_agent_ids(source, agent).to_list()
        week = pl.read_parquet(
            source.marts_dir / "agent_outcomes" / f"survey_date={NOV16}" / "part-0.parquet"
        ).filter(pl.col("agent") == mart)
        [(settled, fcr)] = week.select("settled_contacts", "first_contact_resolution").rows()
        return settled, fcr

    # Before the re-export: T3 follows T1 and T2; Priya's T1 came back, K1 did not.
    assert repeats_of_r3() == 2
    assert priyas_week() == (2, 0.5)
    # The re-export: day 2's tickets again, with T4, and still no survey of day 2.
    _deliver(source, "day2-again", [t2, t4], [])
    _night(data, 11)
    capsys.readouterr()
    contacts = _contacts(source).filter(pl.col("survey_date") == DAY[2])
    assert sorted(contacts.get_column("interaction_id")) == ["T2", "T4"]
    # T3 follows T1, T2 and T4; Priya's T4 came back too (T3, two days later).
    assert repeats_of_r3() == 3
    assert priyas_week() == (3, 1 / 3)
    # A correction re-dates T4 to day 3: day 2's contacts follow it out, day 3 holds it.
    _deliver(source, "day2-fixed", [t4.replace(f"{DAY[2]} 15:00", f"{DAY[3]} 15:00")], [])
    _night(data, 12)
    capsys.readouterr()
    contacts = _contacts(source).filter(pl.col("interaction_id").is_in(["T2", "T4"]))
    assert sorted(contacts.select("interaction_id", "survey_date").rows()) == [
        ("T2", DAY[2]),
        ("T4", DAY[3]),
    ]
    assert repeats_of_r3() == 3
