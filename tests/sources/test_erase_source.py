"""``servicelens erase`` of a configured source's customer, through the real ``sources run``
(real Prefect, real Parquet): the landed, clean, quarantine and mart partitions lose the
customer's rows, including a quarantined row whose raw record alone holds the id; the
manifests reconcile; ``--rerun changed`` has nothing to do; and landing the same delivery
again and running it does not bring the rows back."""

from __future__ import annotations

import json
import os
import shutil
import time
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from servicelens.cli.main import main
from servicelens.ingest.configured import configured_source
from servicelens.settings import Settings
from servicelens.storage.partitions import read_manifest
from servicelens.storage.runs import backfill_plan, date_status
from tests.sources.configured_run import run_configured_source

NAME = "pulse-erase"
DEFINITION = (
    f'name = "{NAME}"\npseudonymise_agents = false\n[columns]\n'
    'response_id = "ID"\nsubmitted_at = { column = "At", format = "%Y-%m-%d %H:%M" }\n'
    'channel = { value = "phone" }\nagent_id = "Agent"\ncustomer_id = "Customer"\n'
    'queue = "Queue"\ncsat = "CSAT"\n'
)
#: C2 has a kept response (N2) and one quarantined for its unreadable time (N7).
EXPORT = """ID,At,Agent,Customer,Queue,CSAT
N1,2026-03-02 09:00,A1,C1,billing,4
N2,2026-03-02 09:10,A1,C2,billing,1
N3,2026-03-02 09:20,A2,C3,billing,2
N7,2026-03-02 nine,A2,C2,billing,5
N4,2026-03-03 09:30,A1,C4,billing,5
"""
SUBJECT_IDS = ("C2", "N2", "N7")


def _parquet_texts(root: Path) -> dict[str, str]:
    return {str(f): pl.read_parquet(f).write_ndjson() for f in sorted(root.glob("**/*.parquet"))}


def _assert_nowhere(root: Path) -> None:
    for name, text in _parquet_texts(root).items():
        for plain in SUBJECT_IDS:
            assert f'"{plain}"' not in text and f"{plain}," not in text, (plain, name)


def _days(source: Settings) -> list[date]:
    """The source's partitions: its responses' days (N7, whose own time cannot be read, is
    filed under its delivery's day: the day most of its rows fall on)."""
    return sorted(
        date.fromisoformat(p.name.split("=")[1])
        for p in source.clean_dir.glob("survey_date=*")  # type: ignore[union-attr]
    )


def _assert_reconciled(source: Settings) -> dict[str, int]:
    erased = {}
    for day in _days(source):
        for table in (
            source.clean_dir,
            source.quarantine_dir,
            source.marts_dir / "feedback_scored",
        ):
            counts = (read_manifest(table, day) or {})["counts"]
            assert counts["surveys_read"] == (
                counts["kept"] + counts["quarantined"] + counts.get("erased", 0)
            ), (table, day, counts)
        erased[str(day)] = read_manifest(source.clean_dir, day)["counts"].get("erased", 0)  # type: ignore[index]
    return erased


@pytest.fixture
def erased_source(
    prefect_api: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[Path, Settings, dict[str, object]]:
    data, _ = run_configured_source(tmp_path, NAME, DEFINITION, EXPORT)
    source = configured_source(Settings(data_dir=str(data)), NAME)
    quarantined = pl.concat(
        pl.read_parquet(f)
        for f in source.quarantine_dir.glob("*/*.parquet")  # type: ignore[union-attr]
    )
    assert quarantined.get_column("raw_record").str.contains('"C2"').any()  # the raw record's id
    capsys.readouterr()
    argv = ["--data-dir", str(data), "erase", "--customer-id", "C2", "--source", NAME]
    assert main([*argv, "--yes", "--json"]) == 0
    return data, source, json.loads(capsys.readouterr().out)


def test_a_sources_customer_is_erased_from_every_layer(
    erased_source: tuple[Path, Settings, dict[str, object]],
) -> None:
    data, source, result = erased_source
    by_table = result["rows_by_table"]
    assert isinstance(by_table, dict)
    assert by_table[f"{NAME}/landed"] == 2 and by_table[f"{NAME}/clean"] == 1
    assert by_table[f"{NAME}/quarantine"] == 1 and by_table[f"{NAME}/feedback_scored"] == 1
    _assert_nowhere(data)
    clean = pl.read_parquet(next(source.clean_dir.glob("*=2026-03-02/*.parquet")))  # type: ignore[union-attr]
    assert sorted(clean.get_column("response_id")) == ["N1", "N3"]
    erased = _assert_reconciled(source)
    # N2, and N7 filed under its delivery's day (the day most of its rows fall on).
    assert erased == {"2026-03-02": 2, "2026-03-03": 0}
    landed = [read_manifest(source.landed_dir, day) or {} for day in _days(source)]
    assert sum(n for m in landed for n in m.get("erased", {}).values()) == 2
    statuses = [date_status(source, day) for day in _days(source)]
    assert [p.day for p in backfill_plan(source, statuses, "changed") if p.run] == []


def test_landing_the_delivery_again_and_rerunning_all_does_not_bring_the_customer_back(
    erased_source: tuple[Path, Settings, dict[str, object]], tmp_path: Path
) -> None:
    data, source, _ = erased_source
    before = _assert_reconciled(source)
    first = date(2026, 3, 2)
    run_before = read_manifest(source.clean_dir, first)["run_id"]  # type: ignore[index]
    landed_before = read_manifest(source.landed_dir, first)["landed_at"]  # type: ignore[index]
    # A changed definition lands the delivery again from the raw zone's copy and runs its
    # partitions; then every partition is run again.
    definition = tmp_path / f"{NAME}.toml"
    definition.write_text(DEFINITION + '[attributes]\nqueue_copy = "Queue"\n')
    again = ["--data-dir", str(data), "sources", "run", str(definition)]
    assert main([*again, str(tmp_path / f"{NAME}.csv"), "--replace"]) == 0
    assert read_manifest(source.landed_dir, first)["landed_at"] != landed_before  # type: ignore[index]
    days = _days(source)
    argv = ["--data-dir", str(data), "backfill", "--source", NAME, "--rerun", "all"]
    assert main([*argv, "--start", str(days[0]), "--end", str(days[-1])]) == 0
    assert read_manifest(source.clean_dir, first)["run_id"] != run_before  # type: ignore[index]
    _assert_nowhere(data)
    assert _assert_reconciled(source) == before


def _undo_the_erasure(data: Path) -> Path:
    """The README's undo of the only erasure: its entries off the list (as the trial's list
    was emptied); returns the raw copy of the delivery its rows came from."""
    listed = data / "erasure" / "erased_ids.json"
    kept = json.loads(listed.read_text())
    assert kept["erased"]
    kept["erased"] = []
    listed.write_text(json.dumps(kept, indent=2))
    return next((data / "raw" / "sources" / NAME).rglob("*.csv"))


def _assert_restored(source: Settings, said: str) -> None:
    """The erased rows back in landed, clean and quarantine, every layer reconciled with
    erased 0, and the run said so."""
    assert "are no longer on the erasure list, and are restored" in said, said
    clean = pl.read_parquet(next(source.clean_dir.glob("*=2026-03-02/*.parquet")))  # type: ignore[union-attr]
    assert sorted(clean.get_column("response_id")) == ["N1", "N2", "N3"]
    landed = [read_manifest(source.landed_dir, day) or {} for day in _days(source)]
    assert [m.get("erased", {}) for m in landed] == [{}, {}]
    assert _assert_reconciled(source) == {"2026-03-02": 0, "2026-03-03": 0}
    quarantined = pl.concat(
        pl.read_parquet(f)
        for f in source.quarantine_dir.glob("*/*.parquet")  # type: ignore[union-attr]
    )
    assert quarantined.get_column("raw_record").str.contains('"N7"').any()


def test_an_erasure_undone_is_restored_by_delivering_the_raw_copy_again(
    erased_source: tuple[Path, Settings, dict[str, object]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The wrong customer erased: the README's undo (the erasure's entries removed from
    the list, the delivery's raw copy dropped in again) lands the rows back, and the runs
    count them kept, erased 0 (a trial's undo said "already landed ... nothing changed",
    and its backfill kept "erased 1" with the list empty)."""
    data, source, _ = erased_source
    raw = _undo_the_erasure(data)
    capsys.readouterr()
    assert main(["--data-dir", str(data), "sources", "run", NAME, str(raw)]) == 0
    _assert_restored(source, capsys.readouterr().out)


def test_an_erasure_undone_is_restored_through_the_inbox(
    erased_source: tuple[Path, Settings, dict[str, object]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The README's other way of the undo: the raw copy dropped back into the source's
    inbox (``cp -p``: an hour old, so it has settled), and the nightly ``servicelens run``
    lands it and runs the dates it restores, as ``sources run NAME RAW`` does."""
    data, source, _ = erased_source
    raw = _undo_the_erasure(data)
    dropped = source.inbox_dir / raw.name  # type: ignore[operator]
    shutil.copy2(raw, dropped)
    an_hour_ago = time.time() - 3600
    os.utime(dropped, (an_hour_ago, an_hour_ago))
    capsys.readouterr()
    assert main(["--data-dir", str(data), "run", "--date", "2026-03-04"]) == 0
    _assert_restored(source, capsys.readouterr().out)
    assert not dropped.exists()  # landed, so taken out of the inbox
