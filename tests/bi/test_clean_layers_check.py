"""`dictionary --check` on clean-layer partitions written before a column was added.

Found by a BI owner's upgrade (trial 110): before its grouped lines it printed 86 lines, one
per clean/responses and clean/contacts file ("missing ['resolved_first_contact']. Rewrite it
(...) or update the contract") though the README says one line per source, table and
version; two of them suggested `backfill --start 2026-10-23 --end 2026-10-23 --rerun all`
for a look-back day's contacts, which skips that date (no survey export) and rewrites
nothing.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from servicelens.cli.main import main
from servicelens.synthetic.generator import generate
from transforms.schemas import ABANDONED, RESOLVED_FLAG

START = date(2026, 10, 5)
END = START + timedelta(days=2)
LOOK_BACK = [START - timedelta(days=2), START - timedelta(days=1)]


def _drop(files: list[Path], column: str) -> None:
    for file in files:
        pl.read_parquet(file).drop(column, strict=False).write_parquet(file)


def test_clean_layers_are_grouped_and_named_only_commands_that_rewrite_them(
    prefect_api: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    generate(tmp_path, START, END, 120, seed=3)
    data = ["--data-dir", str(tmp_path)]
    assert main([*data, "backfill", "--start", str(START), "--end", str(END)]) == 0
    responses = sorted((tmp_path / "clean" / "responses").glob("survey_date=*/*.parquet"))
    contacts = sorted((tmp_path / "clean" / "contacts").glob("survey_date=*/*.parquet"))
    assert len(responses) == 3 and len(contacts) == 5  # two look-back days' contacts
    # As an earlier release wrote them: without the source's resolved flag.
    _drop(responses + contacts, RESOLVED_FLAG)
    capsys.readouterr()

    # The sample has no resolved flag: a rewrite would write the nulls every read sees now.
    assert main([*data, "dictionary", "--check"]) == 0
    out = capsys.readouterr().out
    assert "missing [" not in out and "backfill" not in out
    lines = out.splitlines()
    assert len(lines) == 3, out
    assert lines[2] == f"nothing to rewrite under {tmp_path}: the lines above need no run"
    assert lines[0].startswith(
        f"sample clean/responses: 3 partition(s) of {tmp_path}/clean/responses/"
        f"survey_date={START}..{END} were written before {RESOLVED_FLAG} was added"
    )
    assert lines[1].startswith(
        f"sample clean/contacts: 5 partition(s) of {tmp_path}/clean/contacts/"
        f"survey_date={LOOK_BACK[0]}..{END} were written before {RESOLVED_FLAG} was added"
    )
    assert all("harmless, nothing to run" in line for line in lines[:2])
    # Nor the abandoned flag: both missing are as harmless.
    _drop(responses, ABANDONED)
    assert main([*data, "dictionary", "--check"]) == 0
    [line] = [x for x in capsys.readouterr().out.splitlines() if "clean/responses" in x]
    assert f"written before {RESOLVED_FLAG}, {ABANDONED} were added" in line
    assert "harmless, nothing to run" in line and "backfill" not in line

    # A column the sample does fill: the survey dates' partitions are rewritten by their
    # backfill; the look-back days' contacts by no run, and none is suggested for them.
    _drop(contacts, "transfers")
    assert main([*data, "dictionary", "--check"]) == 1
    out = capsys.readouterr().out
    assert "missing [" not in out
    [line] = [x for x in out.splitlines() if x.startswith("sample clean/contacts")]
    assert f"were written before transfers, {RESOLVED_FLAG} were added" in line
    assert (
        f"rewrite: `servicelens --data-dir {tmp_path} backfill --start {START} --end {END} "
        "--rerun all`"
    ) in line
    assert f"{LOOK_BACK[0]}..{LOOK_BACK[1]}: look-back days' contacts" in line
    assert "no run rewrites them" in line
    for day in LOOK_BACK:
        assert f"--start {day}" not in out
