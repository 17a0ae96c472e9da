"""Zendesk satisfaction-rating pages as a nightly API pull delivers them (the ``zendesk``
preset), landed by hand into a data directory of the test's own: a page cut off in a
record, an empty last page, a rating updated since, and the two scores that are no rating.

Found by a support-operations manager's trial (trial 99), pulling
``/api/v2/satisfaction_ratings`` nightly: every record read is kept or quarantined, and
each is said as what it is."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from servicelens.ingest.definitions import SourceDefinition, load_definition
from servicelens.settings import Settings
from servicelens.stages import ingest_export
from servicelens.storage.partitions import read_partition

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def _rating(i: int, score: str = "good", updated: str | None = None) -> dict[str, object]:
    """Rating ``i`` of 2026-11-25 as the API writes it (compact, one line a page)."""
    created = f"2026-11-25T{10 + i:02d}:00:00Z"
    return {
        "url": f"https://acme.zendesk.com/api/v2/satisfaction_ratings/{35800 + i}.json",
        "id": 35800 + i,
        "assignee_id": 140 + i % 3,
        "group_id": 44,
        "requester_id": 7100 + i,
        "ticket_id": 560 + i,
        "score": score,
        "comment": None if score in ("offered", "unoffered") else f"Ticket {560 + i}: thanks",
        "reason": "No reason provided",
        "created_at": created,
        "updated_at": updated or created,
    }


def _page(ratings: list[dict[str, object]], next_page: str | None = None) -> str:
    """One page of the API's answer, compact JSON as the API returns it."""
    page = {"satisfaction_ratings": ratings, "next_page": next_page, "previous_page": None}
    return json.dumps({**page, "count": len(ratings)}, ensure_ascii=False)


def _zendesk(tmp_path: Path) -> tuple[SourceDefinition, Settings]:
    """The acme-zendesk source (the preset, nothing changed) and its settings."""
    definition_file = tmp_path / "acme-zendesk.toml"
    definition_file.write_text('extends = "zendesk"\nname = "acme-zendesk"\n', encoding="utf-8")
    definition = load_definition(str(definition_file))
    settings = Settings(data_dir=str(tmp_path / "data"), timezone="America/Los_Angeles")
    return definition, settings.for_source(definition.name, str(definition_file))


def test_offered_and_unoffered_ratings_are_set_aside_each_for_its_own_reason(
    tmp_path: Path,
) -> None:
    """ "unoffered" in Zendesk means the survey was never sent: the trial's quarantine said
    of it "the survey was only offered", as of "offered" (sent, never answered)."""
    definition, settings = _zendesk(tmp_path)
    page = tmp_path / "zd-ratings-2026-11-25-p1.json"
    page.write_text(
        _page([_rating(1), _rating(2, "offered"), _rating(3, "unoffered")]), encoding="utf-8"
    )
    got = ingest_export(definition, page, settings, now=NOW)
    assert got.clean.get_column("response_id").to_list() == ["35801"]
    assert dict(got.quarantine.select("record_id", "reasons").iter_rows()) == {
        "35802": [
            "score: 'offered': no rating was given (the survey was offered, never answered): "
            "set aside by the zendesk definition"
        ],
        "35803": [
            "score: 'unoffered': no rating was given (the survey was never sent for this "
            "ticket): set aside by the zendesk definition"
        ],
    }


#: What an empty page of a paged export is said to be, by `sources check` and by `run`.
EMPTY_PAGE = (
    "the file holds no records (its list 'satisfaction_ratings' is empty, as a paged "
    "export's last page, or a period without any, has it): nothing to land, and nothing to "
    "ask the sender for"
)


def _registered(tmp_path: Path) -> Settings:
    """The acme-zendesk source registered in a data directory of the test's own, its inbox
    taken at once (no settling time)."""
    from servicelens.ingest.configured import register_source

    definition_file = tmp_path / "acme-zendesk.toml"
    definition_file.write_text('extends = "zendesk"\nname = "acme-zendesk"\n', encoding="utf-8")
    base = Settings(
        data_dir=str(tmp_path / "data"), timezone="America/Los_Angeles", inbox_settle_seconds=0
    )
    return register_source(base, str(definition_file))


def test_an_empty_last_page_is_taken_from_the_inbox_as_holding_no_records(
    tmp_path: Path,
) -> None:
    """The trial's empty last page ({"satisfaction_ratings": [], "next_page": null}) was
    skipped with a CSV's words: "no data rows (a header only ...) ask the sender for the
    complete export". A JSON page whose list is there and empty is whole: nothing is wrong."""
    from servicelens.ingest.configured import pick_up_deliveries

    source = _registered(tmp_path)
    page = source.inbox_dir / "zd-ratings-2026-11-27-p3.json"
    page.write_text(_page([]), encoding="utf-8")
    [picked] = pick_up_deliveries(source, NOW)
    assert (picked.landing, picked.error) == (None, "")
    assert picked.note == (
        f"{page}: {EMPTY_PAGE} (it left the inbox; its bytes are kept in the raw zone)"
    )
    assert not page.exists()


def test_sources_check_of_an_empty_last_page_says_so_and_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The trial's `sources check` of the empty last page exited 2, "the file has no records
    (an empty list)", while `run` took it: the same page is said the same way by both."""
    from servicelens.cli.main import main

    source = _registered(tmp_path)
    page = tmp_path / "zd-ratings-2026-11-27-p3.json"
    page.write_text(_page([]), encoding="utf-8")
    data = ["--data-dir", str(tmp_path / "data")]
    assert main([*data, "sources", "check", str(source.definition), str(page)]) == 0
    said = capsys.readouterr().out
    assert "read 0: kept 0, quarantined 0" in said
    assert f"note: {EMPTY_PAGE}" in said
    assert main([*data, "sources", "check", "--json", str(source.definition), str(page)]) == 0
    preview = json.loads(capsys.readouterr().out)
    assert preview["counts"]["read"] == 0
    assert preview["note"] == EMPTY_PAGE


def _cut_page(tmp_path: Path, after: str, extra: int) -> tuple[Path, str]:
    """Six ratings of 2026-11-25 as one compact page, and that page cut off ``extra``
    characters after ``after`` (a download interrupted): the file and the whole text."""
    whole = _page([_rating(i, "bad" if i == 2 else "good") for i in range(1, 7)])
    page = tmp_path / "zd-ratings-2026-11-25-p2.json"
    page.write_text(whole[: whole.index(after) + extra], encoding="utf-8")
    return page, whole


def test_a_page_cut_off_in_a_record_is_told_in_the_run_notes_as_truncated(
    tmp_path: Path,
) -> None:
    """The trial's page cut at 60% was landed with one note, "line 11 could not be read as
    a record (malformed) and gives no submitted_at that reads", and exit 0: what the
    nightly's user reads did not say the download was truncated, nor what to do."""
    from servicelens.ingest.landing import land_delivery

    definition, source = _zendesk(tmp_path)
    page, _ = _cut_page(tmp_path, '"id": 35805', 60)
    landing = land_delivery(source, definition, page, NOW)
    assert (landing.rows, landing.rejects) == (4, 1)
    assert landing.notes() == [
        "looks truncated: the file ends inside the record on line 5 (response 35805), cut off "
        "there (a download interrupted, or a copy still in progress); the 4 records read "
        "whole before it are landed, and the cut one is quarantined under its delivery's "
        "day, 2026-11-25 (the date its file name holds). Download the file again and drop "
        "it in the inbox: "
        "the complete copy supersedes it"
    ]


def test_the_complete_page_delivered_after_supersedes_the_cut_record(tmp_path: Path) -> None:
    """The cut record's id reads (it precedes the cut): the complete page, landed after,
    supersedes the quarantined fragment, as the note says, and no record read is lost."""
    from servicelens.ingest.landing import land_delivery

    definition, source = _zendesk(tmp_path)
    page, whole = _cut_page(tmp_path, '"id": 35805', 60)
    land_delivery(source, definition, page, NOW)
    complete = tmp_path / "pulls-full" / page.name
    complete.parent.mkdir()
    complete.write_text(whole, encoding="utf-8")
    again = land_delivery(source, definition, complete, NOW.replace(hour=13))
    # The cut record is under its delivery's day (the date the page's name holds), where
    # the complete copy lands: superseded there, with nothing to supersede elsewhere.
    assert again.superseded_elsewhere == {} and list(again.periods) == [date(2026, 11, 25)]
    copies = read_partition(source.landed_dir, date(2026, 11, 25)).filter(
        pl.col("response_id") == "35805"
    )
    assert copies.height == 2


def test_a_page_cut_inside_the_id_says_its_fragment_stays_quarantined(tmp_path: Path) -> None:
    """Cut before its id ends, the record names no response: the complete page cannot
    supersede it, and the note does not promise it."""
    from servicelens.ingest.landing import land_delivery

    definition, source = _zendesk(tmp_path)
    page, _ = _cut_page(tmp_path, '"id": 35805', 9)
    landing = land_delivery(source, definition, page, NOW)
    assert landing.notes() == [
        "looks truncated: the file ends inside the record on line 5, cut off there (a "
        "download interrupted, or a copy still in progress); the 4 records read whole before "
        "it are landed, and the cut one is quarantined under its delivery's day, 2026-11-25 "
        "(the date its file name holds). Download the file again and drop it in the inbox: "
        "the complete "
        "copy replaces the records before the cut; the cut one stays quarantined, its id "
        "cut off too"
    ]


def test_a_cut_record_keeps_its_text_with_the_agent_masked(tmp_path: Path) -> None:
    """The trial's cut record was withheld whole, "[WITHHELD: ... the columns that never
    leave raw/ ('assignee_id') could not be left out]", though the preset stores no
    never_store column there: it pseudonymises the agent (agent_id = assignee_id). The
    agent's value is masked in the record's text, which is kept; a record whose agent
    value cannot be told apart is withheld naming the pseudonymised agent column."""
    from datetime import date

    from servicelens.ingest.landing import land_delivery
    from servicelens.storage.partitions import read_partition

    definition, source = _zendesk(tmp_path)
    page, whole = _cut_page(tmp_path, '"id": 35805', 60)
    land_delivery(source, definition, page, NOW)
    [raw_record] = (
        read_partition(source.landed_dir, date(2026, 11, 25))
        .filter(pl.col("reject").is_not_null())
        .get_column("raw_record")
        .to_list()
    )
    start = whole.index('{"url": "https://acme.zendesk.com/api/v2/satisfaction_ratings/35805')
    cut = whole[start : whole.index('"id": 35805') + 60]
    assert '"assignee_id": 142' in cut
    assert raw_record == cut.replace('"assignee_id": 142', '"assignee_id": "[AGENT]"')


def test_a_rating_changed_since_is_said_updated_and_a_resent_one_a_duplicate_delivery(
    tmp_path: Path,
) -> None:
    """A customer changing bad -> good keeps the rating's id and gets a later updated_at
    (the preset's delivered_at): the trial's earlier copy was called a "duplicate
    delivery", a word for a copy sent again. A copy with a later delivered_at and other
    values is said to be updated, a superseded copy, not a reject; one sent again
    unchanged is counted at landing and not stored again (a duplicate delivery wherever such
    a copy does reach the quarantine)."""
    from datetime import date

    from servicelens.cli.console import counts_detail
    from servicelens.ingest.landing import land_delivery
    from servicelens.stages import validate_landed_rows
    from servicelens.storage.partitions import read_partition

    definition, source = _zendesk(tmp_path)
    first = tmp_path / "zd-ratings-2026-11-25-p1.json"
    first.write_text(_page([_rating(1), _rating(2, "bad")]), encoding="utf-8")
    later = tmp_path / "zd-ratings-2026-11-26-p1.json"
    changed = _rating(2, "good", updated="2026-11-26T09:30:00Z")
    later.write_text(_page([_rating(1), changed]), encoding="utf-8")
    land_delivery(source, definition, first, NOW)
    landing = land_delivery(source, definition, later, NOW.replace(hour=13))
    day = date(2026, 11, 25)
    # 35801, sent again unchanged, is counted at landing (a later export's copy the same as
    # the one in force), not stored again: no duplicate delivery to quarantine.
    assert landing.unchanged_copies == {day: 1}
    rows = read_partition(source.landed_dir, day)
    clean, quarantine, counts = validate_landed_rows(source, definition, rows, NOW, period=day)
    assert sorted(clean.select("response_id", "rating").rows()) == [
        ("35801", "good"),
        ("35802", "good"),
    ]
    assert dict(quarantine.select("record_id", "reasons").iter_rows()) == {
        "35802": [
            "updated: superseded by the later version on line 2 of "
            "zd-ratings-2026-11-26-p1.json (updated_at 2026-11-26T09:30:00Z; changed: rating)"
        ],
    }
    assert quarantine.get_column("superseded").to_list() == [True]
    assert counts_detail({**counts.__dict__, "scored": 0}) == (
        "read 3 kept 2 quarantined 1 (1 of them superseded by a later line or delivery: "
        "1 updated) scored 0"
    )


def _cut_json_lines(tmp_path: Path, pages: bool = False) -> tuple[Path, str]:
    """Six ratings of 2026-11-25 as JSON Lines (a rating a line, or with ``pages`` a page
    of three a line), cut off 60 characters after rating 35805's id (a download
    interrupted): the file and the whole text."""
    ratings = [_rating(i, "bad" if i == 2 else "good") for i in range(1, 7)]
    if pages:
        lines = [_page(ratings[:3]), _page(ratings[3:])]
    else:
        lines = [json.dumps(r, ensure_ascii=False) for r in ratings]
    whole = "\n".join(lines) + "\n"
    export = tmp_path / "zd-ratings-2026-11-25.jsonl"
    export.write_text(whole[: whole.index('"id": 35805') + 60], encoding="utf-8")
    return export, whole


@pytest.mark.parametrize(("pages", "line"), [(False, 5), (True, 2)])
def test_json_lines_cut_in_the_last_line_are_told_in_the_run_notes_as_truncated(
    tmp_path: Path, pages: bool, line: int
) -> None:
    """A JSON Lines download cut in its last line was said only to have a line that "could
    not be read as a record (malformed)", as a JSON page cut so was before: the note says
    it looks truncated, names the line and the cut record's own id (on a line holding a
    page, the records before it in the page are landed), and says to download it again."""
    from servicelens.ingest.landing import land_delivery

    definition, source = _zendesk(tmp_path)
    export, _ = _cut_json_lines(tmp_path, pages)
    landing = land_delivery(source, definition, export, NOW)
    assert (landing.rows, landing.rejects) == (4, 1)
    assert landing.notes() == [
        f"looks truncated: the file ends inside the record on line {line} (response 35805), "
        "cut off there (a download interrupted, or a copy still in progress); the 4 records "
        "read whole before it are landed, and the cut one is quarantined under its delivery's "
        "day, 2026-11-25 (the date its file name holds). Download the file again and drop "
        "it in the inbox: "
        "the complete copy supersedes it"
    ]


def test_the_complete_json_lines_delivered_after_supersede_the_cut_line(tmp_path: Path) -> None:
    """The cut line's id reads: the complete download, landed after, supersedes the
    quarantined fragment, as the note says."""
    from servicelens.ingest.landing import land_delivery

    definition, source = _zendesk(tmp_path)
    export, whole = _cut_json_lines(tmp_path)
    land_delivery(source, definition, export, NOW)
    complete = tmp_path / "pulls-full" / export.name
    complete.parent.mkdir()
    complete.write_text(whole, encoding="utf-8")
    again = land_delivery(source, definition, complete, NOW.replace(hour=13))
    # The cut record is under its delivery's day (the date the page's name holds), where
    # the complete copy lands: superseded there, with nothing to supersede elsewhere.
    assert again.superseded_elsewhere == {} and list(again.periods) == [date(2026, 11, 25)]
    copies = read_partition(source.landed_dir, date(2026, 11, 25)).filter(
        pl.col("response_id") == "35805"
    )
    assert copies.height == 2


#: The preset's one rule before 'unoffered' had its own (and 'offered' was reworded).
EARLIER_RULE = """
[[exclude]]
column = "score"
in = ["offered", "unoffered"]
reason = "no rating was given (the survey was only offered): set aside by the zendesk definition"
"""


def test_ratings_landed_under_the_earlier_offered_rule_are_set_aside_when_run_again(
    tmp_path: Path,
) -> None:
    """Ratings landed before the preset's rules were reworded keep the words they were
    landed with: run again under the current preset, their kind was 'other' (BI's group by
    reason_kinds read them as neither set aside nor a known reject), the report's reasons
    table counted them as rejected, and the offered one was no miss of the response rate.
    The 'unoffered' one, under the same earlier words, is still no unanswered survey."""
    from datetime import date

    from servicelens.ingest.landing import land_delivery
    from servicelens.stages import validate_landed_day
    from servicelens.validation.reasons import reasons_of_rejects_and_superseded

    definition, source = _zendesk(tmp_path)
    earlier = tmp_path / "then" / "acme-zendesk.toml"
    earlier.parent.mkdir()
    earlier.write_text(
        f'extends = "zendesk"\nname = "acme-zendesk"\n{EARLIER_RULE}', encoding="utf-8"
    )
    page = tmp_path / "zd-ratings-2026-11-25-p1.json"
    page.write_text(
        _page([_rating(1), _rating(2, "offered"), _rating(3, "unoffered")]), encoding="utf-8"
    )
    land_delivery(source, load_definition(str(earlier)), page, NOW)
    validated = validate_landed_day(source, date(2026, 11, 25), "run-1", NOW)
    assert (validated.counts.set_aside, validated.counts.unanswered) == (2, 1)
    quarantine = pl.read_parquet(validated.quarantine_path)
    assert quarantine.get_column("reason_kinds").to_list() == [["set_aside"], ["set_aside"]]
    now_said = {"acme-zendesk": list(definition.exclude)}
    split = reasons_of_rejects_and_superseded(quarantine, now_said)
    assert split.get_column("quarantined_as").unique().to_list() == ["set aside"]
