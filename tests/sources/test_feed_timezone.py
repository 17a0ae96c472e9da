"""An ``[interactions]`` feed's naive local times are read in the feed's own ``timezone``.

Found by a UK energy supplier's QA lead (trial 125): a contact-centre call log (London
wall-clock times) was the ``[interactions]`` feed of a Typeform source, whose preset sets
``timezone = "UTC"`` for its ``Submit Date (UTC)``. The feed had no timezone of its own, so
every BST call's ``started_at`` was 3,600 s late and the DST-end night's 01:30 calls went in
as 01:30Z, the source's ``ambiguous_times`` not applied; nothing said a word."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from servicelens.cli.main import main
from servicelens.ingest.configured import pick_up_deliveries, register_source
from servicelens.settings import Settings

#: The trial's survey definition, cut to what the join needs; ``{feed}`` holds the feed's
#: own time settings.
DEFINITION = """extends = "typeform"
name = "bw-survey"
country = "GB"

[columns]
submitted_at = {{ column = "Submit Date (UTC)", format = "%Y-%m-%d %H:%M" }}
csat = "How satisfied were you?"
comment = "Tell us more"
interaction_id = "call_id"
channel = {{ value = "phone" }}

[interactions]
lookback_days = 2
{feed}
[interactions.columns]
interaction_id = "Call Id"
started_at = {{ columns = ["Date", "Time"], format = "%d/%m/%Y %H:%M:%S" }}
agent_id = "Agent"
queue = "Topic"
handle_seconds = {{ column = "AvgTalkDuration", unit = "h:mm:ss" }}
"""
LONDON = 'timezone = "Europe/London"\nambiguous_times = "earliest"\n'
#: The call log (field shape 10: day-first dates, local wall-clock times): a BST call, the
#: DST-end night's 01:30 (it happened twice), and a GMT call.
CALLS = (
    "\ufeffCall Id,Agent,Date,Time,Topic,AvgTalkDuration\r\n"
    "ID1,Priya,20/10/2026,10:00:00,Billing,0:05:00\r\n"
    "ID2,Tom,25/10/2026,01:30:00,Billing,0:04:00\r\n"
    "ID3,Aisha,26/10/2026,10:00:00,Billing,0:03:00\r\n"
)
SURVEYS = (
    "#,How satisfied were you?,Tell us more,call_id,Submit Date (UTC)\r\n"
    "a1,2,The bill was wrong,ID1,2026-10-20 10:30\r\n"
    "a2,2,Waited too long,ID2,2026-10-25 03:00\r\n"
    "a3,4,Fine,ID3,2026-10-26 11:00\r\n"
)


def _register(tmp_path: Path, feed: str) -> tuple[list[str], int]:
    """Write the definition with ``feed`` under ``[interactions]`` and ``sources add`` it;
    returns the ``--data-dir`` arguments and the command's exit code."""
    definition = tmp_path / "bw-survey.toml"
    definition.write_text(DEFINITION.format(feed=feed), encoding="utf-8")
    data = ["--data-dir", str(tmp_path / "data")]
    return data, main([*data, "sources", "add", str(definition)])


def test_a_feeds_local_times_are_read_in_its_own_timezone(tmp_path: Path) -> None:
    """Read back by DuckDB from the clean layer: the BST call at 09:00Z, the GMT one at
    10:00Z, and the DST-end night's 01:30 at 00:30Z (the feed's ``ambiguous_times =
    "earliest"``); each survey's own ``Submit Date (UTC)`` stays UTC."""
    data, code = _register(tmp_path, LONDON)
    assert code == 0
    inbox = tmp_path / "data" / "inbox" / "bw-survey"
    (inbox / "interactions" / "calls.csv").write_text(CALLS, encoding="utf-8")
    (inbox / "typeform.csv").write_text(SURVEYS, encoding="utf-8")
    base = Settings(data_dir=data[1], inbox_settle_seconds=0)
    settings = register_source(base, str(tmp_path / "bw-survey.toml"))  # as added
    assert not any(p.error for p in pick_up_deliveries(settings))
    backfill = ["backfill", "--source", "bw-survey", "--start", "2026-10-20", "--end", "2026-10-26"]
    assert main([*data, *backfill]) == 0
    clean = tmp_path / "data" / "sources" / "bw-survey" / "clean" / "responses"
    rows = duckdb.sql(
        "SELECT response_id, submitted_at, started_at, handle_seconds FROM read_parquet("
        f"'{clean}/*/*.parquet', hive_partitioning = true) ORDER BY response_id"
    ).fetchall()

    def at(day: int, hour: int, minute: int = 0) -> datetime:
        return datetime(2026, 10, day, hour, minute, tzinfo=UTC)

    assert [(r[0], r[1].astimezone(UTC), r[2].astimezone(UTC), r[3]) for r in rows] == [
        ("a1", at(20, 10, 30), at(20, 9), 300.0),
        ("a2", at(25, 3), at(25, 0, 30), 240.0),
        ("a3", at(26, 11), at(26, 10), 180.0),
    ]


@pytest.mark.parametrize("feed", ["", 'ambiguous_times = "earliest"\n'])
def test_a_feed_without_a_timezone_under_a_utc_source_is_refused_naming_the_setting(
    tmp_path: Path, feed: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The silent case: the feed's naive times would be taken as UTC, the typeform preset's
    timezone; ``sources add`` refuses it, saying which setting to add and where."""
    _, code = _register(tmp_path, feed)
    said = capsys.readouterr().err
    assert code != 0
    assert "the feed sets no timezone" in said and '"UTC"' in said
    assert 'timezone = "Europe/London" under [interactions]' in said
    assert "Traceback" not in said
    assert not (tmp_path / "data" / "sources" / "bw-survey" / "clean").exists()


def test_a_feed_whose_times_are_utc_says_so(tmp_path: Path) -> None:
    """A feed that really writes UTC sets ``timezone = "UTC"`` under ``[interactions]`` and
    is registered."""
    _, code = _register(tmp_path, 'timezone = "UTC"\n')
    assert code == 0
