"""Zendesk satisfaction-rating pages as a nightly API pull delivers them (the ``zendesk``
preset), landed by hand into a data directory of the test's own: a page cut off in a
record, an empty last page, a rating updated since, and the two scores that are no rating.

Found by a support-operations manager's trial (trial 99), pulling
``/api/v2/satisfaction_ratings`` nightly: every record read is kept or quarantined, and
each is said as what it is."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from servicelens.ingest.definitions import SourceDefinition, load_definition
from servicelens.settings import Settings
from servicelens.stages import ingest_export

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
            "score: 'offered' no rating was given (the survey was offered, never answered): "
            "set aside by the zendesk definition"
        ],
        "35803": [
            "score: 'unoffered' no rating was given (the survey was never sent for this "
            "ticket): set aside by the zendesk definition"
        ],
    }
