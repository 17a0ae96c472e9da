"""A configured source's contact-facts feed (``[interactions]``): its files delivered beside the
surveys into ``inbox/<name>/interactions/``, read and landed by the reader and landing of
every export, previewed by ``sources check``, and joined to the surveys on interaction_id
where the sample's interactions are joined. Found by a new user's trial: a Zendesk support
manager's Explore export of tickets (group, assignee, reopens) could not be brought in, and
``sources check`` refused it as "not JSON", the ratings' format."""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from servicelens.cli.sources import check_definition
from servicelens.ingest.configured import pick_up_deliveries, register_source
from servicelens.settings import Settings
from servicelens.stages import validate_landed_day
from servicelens.storage.partitions import read_partition
from servicelens.storage.runs import input_checksums

#: Ratings (a CSV survey export) with a ticket export as their contact facts.
DEFINITION = """name = "helpdesk"
[columns]
response_id = "Response"
interaction_id = "Ticket"
submitted_at = "Rated at"
csat = "Score"

[interactions]
[interactions.columns]
interaction_id = "Ticket ID"
started_at = { column = "Ticket created - Timestamp", format = "%Y-%m-%d %H:%M:%S" }
queue = "Ticket group"
agent_id = "Assignee name"
handle_seconds = { column = "Full resolution time (min)", unit = "minutes" }
"""
RATINGS = (
    "Response,Ticket,Rated at,Score\n"
    "R1,T1,2026-11-16T10:00:00Z,1\n"
    "R2,T2,2026-11-16T11:00:00Z,4\n"
    "R3,T9,2026-11-16T12:00:00Z,2\n"
)
#: A Zendesk Explore export: T3's resolution time is no number (line 4).
TICKETS = (
    "Ticket ID,Ticket created - Timestamp,Ticket group,Assignee name,"
    "Full resolution time (min),Reopens\n"
    "T1,2026-11-15 09:00:00,Shipping,Jonas Becker,5,0\n"
    "T2,2026-11-16 09:00:00,Billing,Priya Nair,60,1\n"
    "T3,2026-11-16 09:30:00,Billing,Priya Nair,soon,0\n"
)

NOV16 = date(2026, 11, 16)


@pytest.fixture
def source(tmp_path: Path) -> Settings:
    """The ``helpdesk`` source configured in ``tmp_path/data``, its inbox taken at once."""
    definition = tmp_path / "helpdesk.toml"
    definition.write_text(DEFINITION, encoding="utf-8")
    base = Settings(data_dir=str(tmp_path / "data"), inbox_settle_seconds=0)
    return register_source(base, str(definition))


def test_the_feeds_files_land_from_their_inbox_folder(source: Settings) -> None:
    facts = source.for_interactions()
    assert facts.inbox_dir.is_dir()  # made by `sources add`, beside the surveys' inbox
    (facts.inbox_dir / "explore-tickets.csv").write_text(TICKETS)
    (source.inbox_dir / "ratings.csv").write_text(RATINGS)
    picked = {Path(p.file).name: p for p in pick_up_deliveries(source)}
    assert not any(p.error for p in picked.values())
    tickets = picked["explore-tickets.csv"].landing
    assert tickets is not None and (tickets.rows, tickets.rejects) == (3, 0)
    # Dated by the contact's start, one partition per day, in their own landed layer.
    assert {str(p): n for p, n in tickets.periods.items()} == {"2026-11-15": 1, "2026-11-16": 2}
    landed = read_partition(facts.landed_dir, min(tickets.periods))
    assert landed.select("interaction_id", "queue").rows() == [("T1", "Shipping")]
    # Agent names never stored: keyed pseudonyms, as the surveys' own agent ids.
    assert landed.get_column("agent_id").item().startswith("agent-")
    assert not any(facts.inbox_dir.iterdir())  # landed, so gone from the inbox
    ratings = picked["ratings.csv"].landing
    assert ratings is not None and ratings.rows == 3
    assert read_partition(source.landed_dir, min(ratings.periods)).height == 3


def test_a_facts_file_beside_the_surveys_is_told_where_it_goes(source: Settings) -> None:
    (source.inbox_dir / "explore-tickets.csv").write_text(TICKETS)
    [refused] = pick_up_deliveries(source)
    assert refused.landing is None
    assert "a file of source helpdesk's contact facts" in refused.error
    assert f"move it to {source.for_interactions().inbox_dir}/" in refused.error
    assert (source.inbox_dir / "explore-tickets.csv").exists()  # it stays until moved


def test_a_facts_file_of_a_source_without_a_feed_stays_saying_so(tmp_path: Path) -> None:
    definition = tmp_path / "plain.toml"
    definition.write_text(DEFINITION.split("[interactions]")[0].replace("helpdesk", "plain"))
    source = register_source(Settings(data_dir=str(tmp_path / "data")), str(definition))
    folder = source.for_interactions().inbox_dir
    folder.mkdir(parents=True)
    (folder / "tickets.csv").write_text(TICKETS)
    [refused] = pick_up_deliveries(source)
    assert "declares no [interactions] feed" in refused.error
    assert (folder / "tickets.csv").exists()


def test_sources_check_previews_a_facts_file(source: Settings, tmp_path: Path) -> None:
    tickets = tmp_path / "explore-tickets.csv"
    tickets.write_text(TICKETS)
    preview = check_definition(str(source.definition), str(tickets), source)
    assert preview["feed"] == "interactions"
    assert preview["counts"]["read"] == 3
    assert preview["counts"]["kept"] + preview["counts"]["quarantined"] == 3
    assert [r["interaction_id"] for r in preview["rows"]] == ["T1", "T2"]
    assert [r["handle_seconds"] for r in preview["rows"]] == [300.0, 3600.0]
    assert preview["rows"][0]["started_at"] == "2026-11-15T09:00:00Z"
    [bad] = preview["quarantined"]
    assert (bad["source_line"], bad["record_id"]) == (4, "T3")
    assert bad["reasons"][0].startswith("handle_seconds: 'soon' is not a number of 0 or more")
    assert preview["export_columns"] == {"handle_seconds": "Full resolution time (min)"}
    # The survey export is previewed as before.
    ratings = tmp_path / "ratings.csv"
    ratings.write_text(RATINGS)
    assert check_definition(str(source.definition), str(ratings), source)["feed"] == "surveys"


def test_the_join_fills_the_facts_of_the_matching_tickets(source: Settings) -> None:
    """Joined where the sample's interactions are: T1 started the day before its rating
    (the look-back), T9 is in no export (its row kept, its facts null), and T3's
    unreadable resolution time is quarantined as the sample's interaction rows are."""
    (source.for_interactions().inbox_dir / "explore-tickets.csv").write_text(TICKETS)
    (source.inbox_dir / "ratings.csv").write_text(RATINGS)
    pick_up_deliveries(source)
    validated = validate_landed_day(source, NOV16, "run-1")
    clean = validated.clean().sort("response_id")
    assert clean.select("response_id", "queue", "handle_seconds").rows() == [
        ("R1", "shipping", 300.0),
        ("R2", "billing", 3600.0),
        ("R3", None, None),
    ]
    agents = clean.get_column("agent_id").to_list()
    assert agents[0].startswith("agent-") and agents[1].startswith("agent-")
    assert agents[0] != agents[1] and agents[2] is None
    assert clean.get_column("started_at").dt.to_string("%F %T").to_list()[:2] == [
        "2026-11-15 09:00:00",
        "2026-11-16 09:00:00",
    ]
    quarantine = validated.quarantine()
    [bad] = quarantine.filter(pl.col("feed") == "interactions").to_dicts()
    assert bad["source_file"].endswith("-explore-tickets.csv") and bad["source_line"] == 4
    assert bad["record_id"] == "T3"
    assert bad["reasons"][0].startswith("handle_seconds: 'soon' is not a number")
    counts = validated.counts
    # Every row read is accounted for: the surveys, and the day's own contact facts.
    assert (counts.surveys_read, counts.kept, counts.quarantined) == (3, 3, 0)
    assert (counts.interactions_read, counts.interactions_quarantined) == (2, 1)


def test_facts_landed_after_their_surveys_process_the_partition_again(
    source: Settings,
) -> None:
    """Tickets solved later are exported later: the facts landed after the ratings change
    the partition's inputs, so the nightly run processes it again, joined this time."""
    (source.inbox_dir / "ratings.csv").write_text(RATINGS)
    pick_up_deliveries(source)
    before = input_checksums(source, NOV16)
    first = validate_landed_day(source, NOV16, "run-1").clean()
    assert first.get_column("queue").null_count() == 3
    (source.for_interactions().inbox_dir / "explore-tickets.csv").write_text(TICKETS)
    pick_up_deliveries(source)
    assert input_checksums(source, NOV16) != before
    again = validate_landed_day(source, NOV16, "run-2").clean().sort("response_id")
    assert again.get_column("queue").to_list() == ["shipping", "billing", None]


def test_a_fact_both_give_differently_is_the_feeds_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    definition = tmp_path / "helpdesk.toml"
    definition.write_text(
        DEFINITION.replace('csat = "Score"\n', 'csat = "Score"\nqueue = "Group"\n')
    )
    source = register_source(
        Settings(data_dir=str(tmp_path / "data"), inbox_settle_seconds=0), str(definition)
    )
    (source.for_interactions().inbox_dir / "explore-tickets.csv").write_text(TICKETS)
    (source.inbox_dir / "ratings.csv").write_text(
        "Response,Ticket,Rated at,Score,Group\n"
        "R1,T1,2026-11-16T10:00:00Z,1,Billing\n"  # the feed says Shipping
        "R2,T2,2026-11-16T11:00:00Z,4,\n"
        "R3,T9,2026-11-16T12:00:00Z,2,Returns\n"  # no ticket in the feed: its own
    )
    pick_up_deliveries(source)
    with caplog.at_level(logging.WARNING, logger="servicelens.stages"):
        clean = validate_landed_day(source, NOV16, "run-1").clean().sort("response_id")
    assert clean.get_column("queue").to_list() == ["shipping", "billing", "returns"]
    [warning] = [r.getMessage() for r in caplog.records if "contact-facts feed" in r.getMessage()]
    assert "1 survey row(s) give another queue than the contact-facts feed" in warning
    assert "interaction T1: 'billing' in the survey row, 'shipping' in the feed" in warning


@pytest.mark.parametrize(
    ("document", "after"),
    [("docs/sources.md", "## Contact facts"), ("README.md", "**Contact facts from another")],
)
def test_the_documented_zendesk_explore_example_reads_an_explore_export(
    tmp_path: Path, document: str, after: str
) -> None:
    """The example definitions of the docs load, and preview an Explore export's tickets."""
    text = (Path(__file__).resolve().parents[2] / document).read_text(encoding="utf-8")
    example = text.split(after, 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]
    definition = tmp_path / "acme-zendesk.toml"
    definition.write_text(example, encoding="utf-8")
    explore = tmp_path / "explore-tickets.csv"
    explore.write_text(
        "Ticket ID,Ticket created - Timestamp,Ticket solved - Timestamp,Ticket group,"
        "Assignee name,Reopens,Agent replies,Full resolution time (min)\n"
        "201,2026-11-14 19:18:46,2026-11-16 04:18:46,Billing,Jonas Becker,1,9,1980\n"
    )
    settings = Settings(data_dir=str(tmp_path / "data"))
    preview = check_definition(str(definition), str(explore), settings)
    assert preview["feed"] == "interactions" and preview["counts"]["kept"] == 1
    [row] = preview["rows"]
    assert (row["interaction_id"], row["handle_seconds"]) == ("201", 1980 * 60.0)


def test_an_erased_customer_leaves_the_feeds_landed_facts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``servicelens erase`` of a customer rewrites the source's landed contact facts too
    (they carry the customer's id: a merge of the feed and the erase command found them left
    on disk and joined again), and the customer's tickets' ratings go with them."""
    from servicelens.cli.main import main

    definition = tmp_path / "helpdesk.toml"
    definition.write_text(DEFINITION + 'customer_id = "Requester"\n', encoding="utf-8")
    base = Settings(data_dir=str(tmp_path / "data"), inbox_settle_seconds=0)
    source = register_source(base, str(definition))
    tickets = [line + ",C" + line[1] for line in TICKETS.splitlines()[1:]]
    (source.for_interactions().inbox_dir / "explore-tickets.csv").write_text(
        "\n".join([TICKETS.splitlines()[0] + ",Requester", *tickets]) + "\n"
    )
    (source.inbox_dir / "ratings.csv").write_text(RATINGS)
    pick_up_deliveries(source)
    capsys.readouterr()
    argv = ["--data-dir", str(tmp_path / "data"), "erase", "--customer-id", "C2"]
    assert main([*argv, "--source", "helpdesk", "--yes", "--json"]) == 0
    facts = pl.concat(
        pl.read_parquet(f)
        for f in source.for_interactions().landed_dir.glob("*/*.parquet")  # type: ignore[union-attr]
    )
    assert "T2" not in facts.get_column("response_id").to_list()
    assert not facts.write_ndjson().count('"C2"')
    validated = validate_landed_day(source, NOV16, "run-1")
    assert sorted(validated.clean().get_column("response_id")) == ["R1", "R3"]


def test_erasing_a_customer_with_a_superseded_contact_copy_keeps_the_feeds_counts_whole(
    prefect_api: None, tmp_path: Path
) -> None:
    """Found by a later read of ``servicelens erase``: the contact feed's counts of a date
    (``interactions_superseded``..., ``awaiting_contact_facts``, contacts read/kept/
    quarantined) kept the erased customer's contacts, so "contacts read 4 kept 3
    quarantined 1" was told of a date whose contacts were 1 kept, 1 quarantined and 2
    erased. Here the customer C2's ticket T2 was corrected by a second delivery (its first
    copy superseded), and a response of the 17th, whose contacts never came, is erased too:
    read = kept + quarantined + erased holds for the contacts as for the surveys, after the
    erase and after the date is run again."""
    from servicelens.cli.console import counts_detail
    from servicelens.cli.main import main
    from servicelens.storage.partitions import read_manifest

    definition = tmp_path / "helpdesk.toml"
    definition.write_text(DEFINITION + 'customer_id = "Requester"\n', encoding="utf-8")
    data = ["--data-dir", str(tmp_path / "data")]
    source = register_source(Settings(data_dir=data[1], inbox_settle_seconds=0), str(definition))
    inbox = source.for_interactions().inbox_dir
    header = TICKETS.splitlines()[0] + ",Requester\n"
    tickets = [f"{line},C{line[1]}" for line in TICKETS.splitlines()[1:]]
    (inbox / "tickets-1.csv").write_text(header + "\n".join(tickets) + "\nT4,2026-11-16 10:00:00,"
                                         "Billing,Priya Nair,10,0,C4\n")  # fmt: skip
    pick_up_deliveries(source)
    # The correction: T2's resolution time again, later; its first copy is superseded.
    (inbox / "tickets-2.csv").write_text(header + tickets[1].replace(",60,", ",75,") + "\n")
    (source.inbox_dir / "ratings.csv").write_text(
        RATINGS.replace("R3,T9", "R3,T4") + "R4,T7,2026-11-17T12:00:00Z,1\n"
    )
    pick_up_deliveries(source)
    backfill = ["backfill", "--source", "helpdesk", "--start", "2026-11-15", "--end", "2026-11-17"]
    assert main([*data, *backfill]) == 0
    nov17 = date(2026, 11, 17)
    before = (read_manifest(source.clean_dir, NOV16) or {})["counts"]
    assert (before["interactions_read"], before["interactions_quarantined"]) == (4, 2)
    assert before["interactions_updated"] == 1
    assert (read_manifest(source.clean_dir, nov17) or {})["counts"]["awaiting_contact_facts"] == 1

    erase = ["erase", "--customer-id", "C2", "--response-id", "R4", "--source", "helpdesk"]
    assert main([*data, *erase, "--yes"]) == 0
    counts = (read_manifest(source.clean_dir, NOV16) or {})["counts"]
    quarantine = pl.read_parquet(
        source.quarantine_dir / "survey_date=2026-11-16" / "part-0.parquet"
    )
    contacts = quarantine.filter(pl.col("feed") == "interactions")
    facts = read_partition(source.for_interactions().landed_dir, NOV16)
    kept = facts.height - contacts.height  # the landed contacts left that are not quarantined
    assert (counts["interactions_erased"], counts["interactions_quarantined"]) == (2, 1)
    assert counts["interactions_read"] == kept + counts["interactions_quarantined"] + 2
    assert counts["interactions_superseded"] == contacts.get_column("superseded").sum() == 0
    assert counts["interactions_updated"] == 0
    assert "contacts read 4 kept 1 quarantined 1 erased 2" in counts_detail(counts, "")
    assert (read_manifest(source.clean_dir, nov17) or {})["counts"]["awaiting_contact_facts"] == 0

    # Run again, the date counts its erased contacts as erased, not as never read: a card
    # issuer's trial re-ran a date after an erase and read "contacts read 1014" of a day
    # that had read 1015, with no word of the erased one.
    assert main([*data, *backfill, "--rerun", "all"]) == 0
    rerun = (read_manifest(source.clean_dir, NOV16) or {})["counts"]
    assert (rerun["interactions_read"], rerun["interactions_erased"]) == (4, 2)
    assert rerun["interactions_quarantined"] == 1
    assert "contacts read 4 kept 1 quarantined 1 erased 2" in counts_detail(rerun, "")


def test_a_look_back_day_without_a_contact_export_is_noted(source: Settings) -> None:
    """Only the partition's own missing contact export was told (``awaiting_contact_facts``):
    here the feed delivered the 14th and the 16th and not the 15th, and a rating of the 16th
    names a ticket opened on the 15th: the run's notes name the 15th."""
    from dataclasses import asdict

    from servicelens.cli.console import partition_notes

    header = TICKETS.splitlines()[0]
    (source.for_interactions().inbox_dir / "tickets-14.csv").write_text(
        f"{header}\nT0,2026-11-14 09:00:00,Shipping,Jonas Becker,5,0\n"
    )
    (source.for_interactions().inbox_dir / "tickets-16.csv").write_text(
        f"{header}\nT2,2026-11-16 09:00:00,Billing,Priya Nair,60,1\n"
    )
    (source.inbox_dir / "ratings.csv").write_text(
        "Response,Ticket,Rated at,Score\n"
        "R1,T1,2026-11-16T10:00:00Z,1\n"
        "R2,T2,2026-11-16T11:00:00Z,4\n"
    )
    pick_up_deliveries(source)
    counts = validate_landed_day(source, NOV16, "run-1").counts
    assert (counts.awaiting_contact_facts, counts.contact_days_not_landed) == (0, ["2026-11-15"])
    assert any(
        note.startswith("the contact feed has no export for 2026-11-15 of this date's contact ")
        for note in partition_notes(asdict(counts))
    )
