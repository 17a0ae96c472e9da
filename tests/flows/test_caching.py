"""Prefect's cache of parsed interaction files, against a real Prefect API.

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
DAYS = [START + timedelta(days=i) for i in range(3)]


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


def _parses(settings: Settings) -> Counter[tuple[str, str]]:
    """(file, state) of every parse-interactions run on this test's files so far."""
    from prefect import get_client
    from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterName

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            task_run_filter=TaskRunFilter(name=TaskRunFilterName(like_=str(settings.data_dir))),
            limit=200,
        )
    return Counter(
        (r.name.removeprefix("parse-"), r.state.name if r.state else "?")
        for r in runs
        if r.name.startswith("parse-")
    )


def test_each_file_is_parsed_once_and_reparsed_only_when_it_or_the_parser_changes(
    prefect_api: None, settings: Settings, monkeypatch: pytest.MonkeyPatch
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
    after_first = _parses(settings)
    states = Counter(state for (_, state) in after_first.elements())
    assert states == {"Completed": len(files), "Cached": reads - len(files)}
    assert {f for (f, s) in after_first if s == "Completed"} == files

    # Re-running every date parses nothing, and gives the same rows.
    again = _backfill(settings)
    added = _parses(settings) - after_first
    assert Counter(s for (_, s) in added.elements()) == {"Cached": reads}
    assert [r["result"]["kept"] for r in again] == [r["result"]["kept"] for r in first]
    assert [r["result"]["interactions_read"] for r in again] == [
        r["result"]["interactions_read"] for r in first
    ]

    # A late re-delivery changes one file: only that one is parsed again, by the first
    # date that reads it; the dates after it reuse the new parse.
    late = settings.raw_day(DAYS[1]) / "interactions.jsonl"
    late.write_bytes(late.read_bytes() + b"\n")
    before = _parses(settings)
    _backfill(settings)
    added = _parses(settings) - before
    assert {f for (f, s) in added if s == "Completed"} == {str(late)}
    assert Counter(s for (_, s) in added.elements())["Completed"] == 1

    # A change to the parser's code invalidates every entry.
    from prefect.settings import PREFECT_LOCAL_STORAGE_PATH

    import flows.caching

    monkeypatch.setattr(flows.caching, "parser_fingerprint", lambda: "a-new-parser")
    before = _parses(settings)
    _backfill(settings)
    added = _parses(settings) - before
    assert Counter(s for (_, s) in added.elements())["Completed"] == len(files)

    # Entries are self-contained: clearing Prefect's result storage costs a parse, not a
    # failure (no entry points at a file that could have been deleted).
    storage = Path(PREFECT_LOCAL_STORAGE_PATH.value())
    entries = list(storage.glob("interactions-*"))
    assert entries
    for entry in entries:
        entry.unlink()
    before = _parses(settings)
    rows = _backfill(settings)
    assert {r["outcome"] for r in rows} == {"completed"}
    added = _parses(settings) - before
    assert Counter(s for (_, s) in added.elements()) == {
        "Completed": len(files),
        "Cached": reads - len(files),
    }


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
        return interaction_cache_key(None, {"path": path, "sha256": sha})  # type: ignore[arg-type]

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
