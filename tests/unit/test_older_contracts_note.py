"""The run's and backfill's line on partitions of an older contract version counts the
backfilled source's own (a trial's one-source backfill said 36, every source's; 2 its own)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl

from servicelens.settings import Settings
from servicelens.storage.contract_versions import older_contracts_note
from servicelens.storage.partitions import DATA_FILE, partition_dir


def _older_partition(root: Path, day: date) -> None:
    """A daily_summary partition as a release of contract version 1 wrote it."""
    folder = partition_dir(root / "marts" / "daily_summary", day)
    folder.mkdir(parents=True)
    pl.DataFrame({"schema_version": [1]}, schema={"schema_version": pl.Int32}).write_parquet(
        folder / DATA_FILE
    )


def test_a_sources_backfill_counts_its_own_older_partitions(tmp_path: Path) -> None:
    for day in (date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)):
        _older_partition(tmp_path, day)
    _older_partition(tmp_path / "sources" / "acme", date(2018, 7, 19))
    settings = Settings(data_dir=str(tmp_path))
    every = older_contracts_note(settings)
    assert every is not None and every.startswith("4 partition(s) (daily_summary) hold rows")
    own = older_contracts_note(settings, "acme")
    assert own is not None
    assert own.startswith(
        "1 partition(s) of source 'acme' (daily_summary) hold rows of an older contract version "
        "(4 across every source), written by an earlier servicelens"
    )
    assert older_contracts_note(settings, "other") is None


def test_the_run_report_says_what_run_and_backfill_say_of_them(tmp_path: Path) -> None:
    """Found by an upgrading analyst's trial: after an upgrade only the terminal and
    `dictionary --check` said partitions held an older contract version; a BI reader who
    opens the run report alone was not told the marts carried two versions."""
    from datetime import UTC, datetime

    from servicelens.reporting.report import render_report

    _older_partition(tmp_path, date(2026, 11, 1))
    _older_partition(tmp_path / "sources" / "acme", date(2018, 7, 19))
    settings = Settings(data_dir=str(tmp_path))
    html, result = render_report(settings, None, datetime(2026, 12, 6, 3, 0, tzinfo=UTC))
    said = older_contracts_note(settings)
    assert said is not None and said.startswith("2 partition(s) (daily_summary) hold rows")
    assert result.headline["older_contract"] == said
    assert f'<p class="flag">{said}.</p>' in html
    # (A source's report gives its own count beside every source's, as its backfill does:
    # the same call with the source's name, tested above.)
