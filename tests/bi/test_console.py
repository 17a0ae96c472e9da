"""The command line's tables and progress counting."""

from __future__ import annotations

import os
import time
from pathlib import Path

from servicelens.cli.console import files_since, table


def test_table_aligns_numbers_right_and_text_left() -> None:
    text = table(
        [
            {"date": "2026-10-01", "outcome": "completed", "read": 1222, "share": 0.0391},
            {"date": "2026-10-02", "outcome": "failed", "read": None, "share": None},
        ]
    )
    header, rule, first, second = text.splitlines()
    assert header.split() == ["date", "outcome", "read", "share"]
    assert first == "2026-10-01  completed  1,222  0.039"
    assert second == "2026-10-02  failed         -      -"
    assert len(rule) == len(first)


def test_files_since_counts_only_what_this_run_wrote(tmp_path: Path) -> None:
    old = tmp_path / "survey_date=2026-10-01" / "_manifest.json"
    old.parent.mkdir()
    old.write_text("{}")
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    started = time.time() - 1
    new = tmp_path / "survey_date=2026-10-02" / "_manifest.json"
    new.parent.mkdir()
    new.write_text("{}")
    assert files_since(tmp_path, "survey_date=*/_manifest.json", started) == 1
    assert files_since(tmp_path / "missing", "*", started) == 0
