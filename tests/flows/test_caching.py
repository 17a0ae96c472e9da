"""The parse cache of interaction files in Prefect's result storage, against a real Prefect API.

Each date reads its own interaction file and the two before it, so a backfill parses every
file once and reuses it for the next dates; a re-run parses nothing again unless a file or
the parser changed.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from servicelens.settings import Settings

START = date(2026, 10, 1)
#: Two dates: the second reads the first's file and the one before it, so reuse across dates
#: shows (four files, six reads). A third date showed the same again at the cost of a date's
#: run in each of the six backfills.
DAYS = [START + timedelta(days=i) for i in range(2)]


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    from servicelens.synthetic.generator import generate

    root = tmp_path_factory.mktemp("caching")
    generate(root, START, DAYS[-1], 100, 3)
    return Settings(data_dir=str(root))


def _backfill(settings: Settings) -> list[dict[str, Any]]:
    from flows.pipeline import backfill

    state = backfill(DAYS[0], DAYS[-1], rerun="all", settings=settings, return_state=True)
    assert state.is_completed(), state
    rows = state.result()
    assert isinstance(rows, list)
    return rows


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How often each interaction file is parsed from now on (by the real parser)."""
    import flows.caching

    counted: Counter[str] = Counter()
    parse = flows.caching.read_jsonl_with_lines

    def counting_parse(path: Any, *args: Any, **kwargs: Any) -> Any:
        counted[str(path)] += 1
        return parse(path, *args, **kwargs)

    monkeypatch.setattr(flows.caching, "read_jsonl_with_lines", counting_parse)
    return counted


def test_each_file_is_parsed_once_and_reparsed_only_when_it_or_the_parser_changes(
    prefect_api: None, settings: Settings, monkeypatch: pytest.MonkeyPatch, parses: Counter[str]
) -> None:
    files = {
        str(settings.raw_day(d - timedelta(days=back)) / "interactions.jsonl")
        for d in DAYS
        for back in range(settings.interaction_lookback_days + 1)
        if (settings.raw_day(d - timedelta(days=back)) / "interactions.jsonl").exists()
    }
    reads = sum(
        (settings.raw_day(d - timedelta(days=b)) / "interactions.jsonl").exists()
        for d in DAYS
        for b in range(settings.interaction_lookback_days + 1)
    )
    assert reads > len(files) >= len(DAYS)

    # First backfill: every file is parsed once; the later dates reuse it.
    first = _backfill(settings)
    assert parses == dict.fromkeys(files, 1)

    # Re-running every date parses nothing, and gives the same rows.
    parses.clear()
    again = _backfill(settings)
    assert parses == {}
    assert [r["result"]["kept"] for r in again] == [r["result"]["kept"] for r in first]
    assert [r["result"]["interactions_read"] for r in again] == [
        r["result"]["interactions_read"] for r in first
    ]

    # A late re-delivery changes one file: only that one is parsed again, by the first
    # date that reads it; the date after it reuses the new parse.
    late = settings.raw_day(DAYS[0]) / "interactions.jsonl"
    lookback = range(settings.interaction_lookback_days + 1)
    assert all(
        late.parent in {settings.raw_day(d - timedelta(days=b)) for b in lookback} for d in DAYS
    )
    late.write_bytes(late.read_bytes() + b"\n")
    _backfill(settings)
    assert parses == {str(late): 1}

    # A change to the parser's code invalidates every entry.
    from prefect.settings import (
        PREFECT_LOCAL_STORAGE_PATH,
        PREFECT_TASKS_REFRESH_CACHE,
        temporary_settings,
    )

    import flows.caching

    monkeypatch.setattr(flows.caching, "parser_fingerprint", lambda: "a-new-parser")
    parses.clear()
    _backfill(settings)
    assert parses == dict.fromkeys(files, 1)

    # Prefect's refresh setting parses every read again, as it does for cached tasks.
    parses.clear()
    with temporary_settings({PREFECT_TASKS_REFRESH_CACHE: True}):
        _backfill(settings)
    assert sum(parses.values()) == reads and set(parses) == files

    # Entries are self-contained: clearing Prefect's result storage costs a parse, not a
    # failure (no entry points at a file that could have been deleted).
    storage = Path(PREFECT_LOCAL_STORAGE_PATH.value())
    entries = list(storage.glob("interactions-*"))
    assert len(entries) >= len(files)
    for entry in entries:
        entry.unlink()
    parses.clear()
    rows = _backfill(settings)
    assert {r["outcome"] for r in rows} == {"completed"}
    assert parses == dict.fromkeys(files, 1)


def test_a_parsed_file_survives_the_round_trip_through_prefects_record(tmp_path: Path) -> None:
    from prefect.serializers import Serializer

    from flows.caching import RawReadSerializer
    from servicelens.ingest.readers import read_jsonl_with_lines

    path = tmp_path / "interactions.jsonl"
    path.write_text(
        '{"interaction_id": "i-1", "started_at": "2026-10-01T09:00:00+01:00", '
        '"handle_seconds": 30, "transfers": 1}\n'
        '{"interaction_id": "i-2", "started_at": \n'
        '{"interaction_id": "i-3", "comment": "caf\\u00e9\\nline"}\n'
    )
    parsed = read_jsonl_with_lines(path)
    assert parsed.rejects and parsed.frame.height == 2
    serializer = RawReadSerializer()
    # Prefect finds the serializer again by its type name when it reads a record back.
    again = Serializer(type=serializer.type).loads(serializer.dumps(parsed))
    assert again.frame.equals(parsed.frame) and again.frame.schema == parsed.frame.schema
    assert (again.rejects, again.path, again.encoding, again.header) == (
        parsed.rejects,
        parsed.path,
        parsed.encoding,
        parsed.header,
    )


def test_the_key_follows_content_path_and_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    import flows.caching
    from flows.caching import interaction_cache_key

    def key(path: str, sha: str) -> str:
        return interaction_cache_key(path, sha)

    assert key("a/interactions.jsonl", "1" * 64) == key("a/interactions.jsonl", "1" * 64)
    assert key("a/interactions.jsonl", "1" * 64) != key("a/interactions.jsonl", "2" * 64)
    assert key("a/interactions.jsonl", "1" * 64) != key("b/interactions.jsonl", "1" * 64)
    before = key("a/interactions.jsonl", "1" * 64)
    monkeypatch.setattr(flows.caching, "parser_fingerprint", lambda: "another-parser")
    assert key("a/interactions.jsonl", "1" * 64) != before


def test_expired_entries_are_pruned_and_nothing_else(tmp_path: Path) -> None:
    import os
    import time

    from prefect.settings import PREFECT_LOCAL_STORAGE_PATH, temporary_settings

    from flows.caching import CACHE_DAYS, prune_cache

    old, fresh, other = (tmp_path / n for n in ("interactions-old", "interactions-new", "x"))
    for entry in (old, fresh, other):
        entry.write_text("{}")
    long_ago = time.time() - (CACHE_DAYS + 1) * 86400
    os.utime(old, (long_ago, long_ago))
    os.utime(other, (long_ago, long_ago))
    with temporary_settings({PREFECT_LOCAL_STORAGE_PATH: tmp_path}):
        assert prune_cache() == 1
    assert not old.exists() and fresh.exists() and other.exists()


def test_the_key_covers_the_redaction_an_entry_has_been_through() -> None:
    """Entries hold interactions redacted (a DPO's trial found a broken line's text there as
    delivered): a change to the redaction must invalidate them as a parser change does."""
    import inspect

    from flows.caching import _ROOT, parser_sources
    from servicelens.stages import redacted_interactions, redacted_reject_texts

    sources = parser_sources()
    assert (_ROOT / "transforms" / "pii.py").read_bytes() in sources
    assert inspect.getsource(redacted_interactions).encode() in sources
    assert inspect.getsource(redacted_reject_texts).encode() in sources
