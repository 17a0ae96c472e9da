"""An interaction export (the sample's contact facts, ``raw/<date>/interactions.jsonl``) cut
off in its last line is told as truncated, as a source's JSON Lines delivery cut so is
(c5e9657): the line was quarantined as "not a complete object" only, with no word that the
upload died mid-line nor of what to do. The records before it are read; nothing is lost."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from servicelens.ingest.readers import read_jsonl_with_lines
from servicelens.settings import Settings
from transforms.schemas import RAW_INTERACTION_SCHEMA

DAY = date(2026, 3, 9)


def _interaction(i: int) -> dict[str, object]:
    return {
        "interaction_id": f"I{i}",
        "customer_id": f"C{i}",
        "started_at": "2026-03-09T09:00:00Z",
        "queue": "billing",
    }


def _cut(tmp_path: Path, crlf: bool = False) -> Path:
    """Three whole interactions and a fourth the file ends inside (no line end)."""
    end = "\r\n" if crlf else "\n"
    whole = end.join(json.dumps(_interaction(i)) for i in range(1, 5))
    path = tmp_path / "interactions.jsonl"
    path.write_bytes(whole[: whole.rindex('"customer_id"') + 8].encode())
    return path


@pytest.mark.parametrize("crlf", [False, True])
def test_a_cut_last_line_is_told_truncated_and_the_lines_before_it_are_read(
    tmp_path: Path, crlf: bool
) -> None:
    read = read_jsonl_with_lines(_cut(tmp_path, crlf), RAW_INTERACTION_SCHEMA)
    assert read.frame.get_column("interaction_id").to_list() == ["I1", "I2", "I3"]
    assert [(r.line, r.truncated) for r in read.rejects] == [(4, True)]
    reason = read.rejects[0].reason
    assert "looks truncated" in reason and "ends inside this record" in reason, reason
    assert "ask for the complete file" in reason and "run its date again" in reason, reason
    assert read.rejects[0].text.startswith('{"interaction_id": "I4"')


@pytest.mark.parametrize("broken", [1, 2])
def test_a_broken_line_the_file_goes_on_after_is_not_called_truncated(
    tmp_path: Path, broken: int
) -> None:
    """A line broken in the middle of the file, or a last one whose line end follows (the
    generated exports' broken records): the file goes on after it, so it was not cut."""
    lines = [json.dumps(_interaction(i)) for i in range(1, 4)]
    lines[broken] = lines[broken][:30]
    path = tmp_path / "interactions.jsonl"
    path.write_text("\n".join(lines) + "\n")
    read = read_jsonl_with_lines(path, RAW_INTERACTION_SCHEMA)
    assert [(r.line, r.truncated) for r in read.rejects] == [(broken + 1, False)]
    assert "truncated" not in read.rejects[0].reason


def test_a_complete_last_line_without_a_line_end_is_read(tmp_path: Path) -> None:
    path = tmp_path / "interactions.jsonl"
    path.write_text("\n".join(json.dumps(_interaction(i)) for i in range(1, 4)))
    read = read_jsonl_with_lines(path, RAW_INTERACTION_SCHEMA)
    assert read.frame.height == 3 and read.rejects == []


def test_a_dates_cut_interaction_export_is_quarantined_as_truncated_naming_file_and_line(
    tmp_path: Path,
) -> None:
    """The date's run: the cut record is a quarantine row of the interactions feed naming
    the file and the line, its reason saying the file looks truncated and what to do; every
    line read is kept or quarantined."""
    from servicelens.stages import sample_day_rows
    from servicelens.synthetic.generator import generate

    generate(tmp_path, DAY, DAY, per_day=60, seed=3)
    settings = Settings(data_dir=str(tmp_path))
    export = settings.raw_day(DAY) / "interactions.jsonl"
    text = export.read_text()
    lines = text.rstrip("\n").split("\n")
    export.write_text(text[: text.rstrip("\n").rindex("\n") + 1 + len(lines[-1]) // 2])
    rows = sample_day_rows(settings, DAY, data_docs=False)
    facts = rows.quarantine.filter(pl.col("feed") == "interactions")
    cut = facts.filter(pl.col("source_line") == len(lines))
    assert cut.height == 1, facts
    assert cut.item(0, "source_file") == str(export)
    reason = cut.item(0, "reasons")[0]
    assert "looks truncated" in reason and "ask for the complete file" in reason, reason
    assert rows.counts.interactions_quarantined == facts.height
    # Nothing lost: every line of the cut file is counted read (kept or quarantined).
    assert rows.counts.interactions_read == sum(1 for line in lines if line.strip())
