"""A definition's contact-facts feed (``[interactions]``): how it is read and refused, and the
definition its files are landed with. Found by a new user's trial: a Zendesk support manager
had the ticket facts (group, assignee, reopens) in a Zendesk Explore export beside the
satisfaction ratings, and no definition could bring them in."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from servicelens.ingest.definitions import DefinitionError, SourceDefinition, load_definition
from servicelens.settings import Settings, day_input_files

#: A Zendesk satisfaction-ratings definition with the Explore export as its contact facts.
FEED = """extends = "zendesk"
name = "acme-zendesk"

[interactions]
lookback_days = 7

[interactions.columns]
interaction_id = "Ticket ID"
started_at = { column = "Ticket created - Timestamp", format = "%Y-%m-%d %H:%M:%S" }
queue = "Ticket group"
agent_id = "Assignee name"
handle_seconds = { column = "Full resolution time (min)", unit = "minutes" }
"""


def _load(tmp_path: Path, text: str) -> SourceDefinition:
    path = tmp_path / "acme-zendesk.toml"
    path.write_text(text, encoding="utf-8")
    return load_definition(str(path))


def test_the_feed_is_read_with_its_own_read_options_and_columns(tmp_path: Path) -> None:
    definition = _load(tmp_path, FEED)
    feed = definition.interactions
    assert feed is not None
    # Its own [read]: a CSV, while the ratings it joins are JSON.
    assert (definition.read.format, feed.read.format) == ("json", "csv")
    assert feed.columns["handle_seconds"].unit == "minutes"
    assert feed.columns["queue"].sources == (("Ticket group",),)
    assert feed.lookback_days == 7


def test_the_feed_lands_under_a_definition_keyed_by_the_interaction(tmp_path: Path) -> None:
    """The one reader and landing of every export take the feed's files: the interaction id
    is the row's id, and the time it started dates it."""
    facts = _load(tmp_path, FEED).interactions_definition()
    assert facts.columns["response_id"].sources == (("Ticket ID",),)
    assert facts.columns["interaction_id"].sources == (("Ticket ID",),)
    assert facts.columns["submitted_at"].sources == (("Ticket created - Timestamp",),)
    assert facts.columns["submitted_at"].formats == ("%Y-%m-%d %H:%M:%S",)
    # Nothing of the ratings' mapping, label or negatives.
    assert "rating" not in facts.columns and facts.negative == "none"
    assert facts.read.format == "csv" and not facts.exclude


def test_declaring_a_feed_leaves_the_surveys_fingerprint_alone(tmp_path: Path) -> None:
    """Adding [interactions] changes no survey row: its deliveries are not landed again."""
    without = _load(tmp_path, FEED.split("[interactions]")[0])
    assert without.interactions is None
    assert _load(tmp_path, FEED).fingerprint == without.fingerprint


def test_a_definition_without_a_feed_has_no_feed_definition(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match=r"declares no \[interactions\] feed"):
        load_definition("zendesk").interactions_definition()


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (('queue = "Ticket group"', 'csat = "Ticket group"'), r"\['csat'\] are survey columns"),
        (('queue = "Ticket group"', 'qeue = "Ticket group"'), r"did you mean 'queue'"),
        # docs/sources.md said a ticket feed's Resolved Y/N could be mapped; a contact
        # feed's cannot (a card issuer's trial was refused without being told why).
        (
            ('queue = "Ticket group"', 'resolved_first_contact = "Resolved"'),
            r"a contact feed's own yes/no .* is not read: .* map it in \[columns\] where",
        ),
        (('interaction_id = "Ticket ID"\n', ""), r"needs interaction_id .*\"Ticket ID\""),
        (("started_at = {", "# started_at = {"), r"needs started_at"),
        (("lookback_days = 7", "lookback_days = -1"), r"lookback_days = -1; give a whole"),
        (("lookback_days = 7", "lookback = 7"), r"unknown key\(s\) \['lookback'\]"),
        (('unit = "minutes"', 'unit = "mins"'), r"unit 'mins' is not one of"),
    ],
)
def test_a_wrong_feed_is_refused_naming_the_file_and_key(
    tmp_path: Path, change: tuple[str, str], said: str
) -> None:
    with pytest.raises(DefinitionError, match=said) as refused:
        _load(tmp_path, FEED.replace(*change))
    assert "acme-zendesk.toml [interactions]" in str(refused.value)


def test_features_may_read_the_feeds_facts_and_not_its_private_columns(tmp_path: Path) -> None:
    with_features = FEED.replace(
        "[interactions]\n", '[features]\ncategorical = ["queue"]\n\n[interactions]\n'
    )
    assert _load(tmp_path, with_features).features.categorical == ("queue",)
    private = 'never_store = ["Assignee name"]\n' + FEED
    with pytest.raises(DefinitionError, match=r"interactions.columns.agent_id\] reads"):
        _load(tmp_path, private)


def test_a_survey_partition_is_built_from_the_facts_it_joins(tmp_path: Path) -> None:
    """The facts' landed partitions of the look-back days and the partition's own are its
    inputs: facts landed late change them, and the nightly run processes it again."""
    base = Settings(data_dir=str(tmp_path / "data"))
    source = base.for_source(
        "acme-zendesk", "", "day", interaction_feed=True, interaction_lookback_days=2
    )
    files = [str(p) for p in day_input_files(source, date(2026, 11, 16))]
    assert files[0].endswith("landed/responses/survey_date=2026-11-16/part-0.parquet")
    assert [f.split("/")[-2] for f in files[1:]] == [
        "survey_date=2026-11-14",
        "survey_date=2026-11-15",
        "survey_date=2026-11-16",
    ]
    assert all("/landed/interactions/" in f for f in files[1:])
    monthly = base.for_source("m", "", "month", interaction_feed=True, interaction_lookback_days=2)
    assert monthly.interaction_periods(date(2026, 11, 1)) == [date(2026, 10, 1), date(2026, 11, 1)]
    assert base.for_source("plain", "").interaction_periods(date(2026, 11, 16)) == []
    assert source.for_interactions().inbox_dir == source.inbox_dir / "interactions"
